// TcpServer on the loopback (no EAL, no tap): RFC 7766 framing, pipelining,
// answers larger than UDP allows, messages split across writes, limits, idle
// timeout, malformed messages, that a publication reaches TCP answers, and
// NSID naming the version TCP answered from.
#include "dataplane/tcp_server.hh"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/zone_publisher.hh"
#include "tests/dataplane/frames.hh"
#include "zones/check.hh"
#include "zones/name.hh"
#include "zones/parser.hh"
#include "zones/snapshot.hh"
#include "zones/version.hh"

using namespace edgedns;
using namespace edgedns::dp;

namespace {

std::shared_ptr<const zones::ZoneSet> zone_set(const char* www) {
  std::string text =
      "$ORIGIN example.test.\n$TTL 300\n@ SOA ns1 h 1 2 3 4 5\n@ NS ns1\n"
      "ns1 A 198.18.53.53\nwww A " +
      std::string(www) + "\n";
  for (int i = 0; i < 40; ++i)
    text += "big TXT \"record " + std::to_string(i) + " " + std::string(90, 'x') + "\"\n";
  zones::ParseResult pr = zones::parse_zone_text(text, "tcp_server_test", {});
  EXPECT_FALSE(pr.has_errors());
  std::vector<zones::Diagnostic> d;
  zones::check_zone(pr.zone, d);
  return zones::ZoneSet::build({zones::compile_zone(std::move(pr.zone))});
}

std::vector<uint8_t> query(const char* name, uint16_t type, uint16_t id, bool qr = false) {
  return test::dns_query(name, type, id, qr);
}

std::vector<uint8_t> framed(const std::vector<uint8_t>& m) {
  std::vector<uint8_t> f = {uint8_t(m.size() >> 8), uint8_t(m.size())};
  f.insert(f.end(), m.begin(), m.end());
  return f;
}

uint16_t free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t l = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &l);
  close(fd);
  return ntohs(a.sin_port);
}

struct Client {
  int fd = -1;
  explicit Client(uint16_t port) {
    fd = socket(AF_INET, SOCK_STREAM, 0);
    timeval tv{10, 0};  // a hung server fails the test instead of hanging it
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  }
  ~Client() { close(fd); }
  void send_all(const std::vector<uint8_t>& b) {
    ASSERT_EQ(send(fd, b.data(), b.size(), MSG_NOSIGNAL), ssize_t(b.size()));
  }
  bool read_exact(uint8_t* p, size_t n) {
    while (n) {
      ssize_t r = recv(fd, p, n, 0);
      if (r <= 0) return false;
      p += r;
      n -= size_t(r);
    }
    return true;
  }
  // One framed message; empty when the server closed the connection.
  std::vector<uint8_t> read_msg() {
    uint8_t h[2];
    if (!read_exact(h, 2)) return {};
    const size_t len =
        size_t(h[0]) << 8 | h[1];  // not inline: GCC reads m(size_t(h[0])...) as a declaration
    std::vector<uint8_t> m(len);
    if (!read_exact(m.data(), m.size())) return {};
    return m;
  }
  bool closed_by_server() {
    uint8_t b;
    return recv(fd, &b, 1, 0) == 0;
  }
};

// -1 for a reply too short to hold the field (e.g. the server closed): a
// failed expectation, not a read past the vector.
int id_of(const std::vector<uint8_t>& m) { return m.size() < 2 ? -1 : zones::rd16(m.data()); }
int ancount(const std::vector<uint8_t>& m) { return m.size() < 8 ? -1 : zones::rd16(m.data() + 6); }
bool has_bytes(const std::vector<uint8_t>& m, std::initializer_list<uint8_t> b) {
  return std::search(m.begin(), m.end(), b.begin(), b.end()) != m.end();
}

struct Fixture {
  ZonePublisher pub{1};
  std::unique_ptr<TcpServer> srv;
  uint16_t port = free_port();
  explicit Fixture(TcpConfig cfg = {}) {
    pub.publish_all(zone_set("192.0.2.1"));
    NodeAddrs a;
    inet_pton(AF_INET, "127.0.0.1", &a.v4[0]);
    a.n4 = 1;
    cfg.port = port;
    srv = std::make_unique<TcpServer>(pub, 0, a, cfg);
    srv->start(nullptr);
  }
  ~Fixture() { srv.reset(); }
};

}  // namespace

TEST(TcpServer, AnswersOneQuery) {
  Fixture fx;
  Client c(fx.port);
  c.send_all(framed(query("www.example.test.", 1, 0x1234)));
  auto m = c.read_msg();
  ASSERT_GE(m.size(), 12u);
  EXPECT_EQ(id_of(m), 0x1234);
  EXPECT_EQ(ancount(m), 1);
  EXPECT_TRUE(has_bytes(m, {192, 0, 2, 1}));
  EXPECT_EQ(fx.srv->sum(&TcpCounters::queries), 1u);
}

TEST(TcpServer, PipelinedQueriesAreAllAnsweredInOrder) {
  Fixture fx;
  Client c(fx.port);
  std::vector<uint8_t> all;
  for (uint16_t i = 0; i < 200; ++i) {
    auto f =
        framed(query(i % 2 ? "www.example.test." : "nope.example.test.", 1, uint16_t(100 + i)));
    all.insert(all.end(), f.begin(), f.end());
  }
  c.send_all(all);
  for (uint16_t i = 0; i < 200; ++i) {
    auto m = c.read_msg();
    ASSERT_GE(m.size(), 12u) << "answer " << i;
    EXPECT_EQ(id_of(m), 100 + i);
    EXPECT_EQ(m[3] & 0x0f, i % 2 ? 0 : 3);  // NOERROR / NXDOMAIN
  }
  EXPECT_EQ(fx.srv->sum_rcode(3), 100u);
}

TEST(TcpServer, LargeAnswerWholeWithoutTc) {
  Fixture fx;
  Client c(fx.port);
  c.send_all(framed(query("big.example.test.", 16, 7)));
  auto m = c.read_msg();
  ASSERT_GT(m.size(), 4000u);
  EXPECT_EQ(m[2] & 0x02, 0);  // TC clear
  EXPECT_EQ(ancount(m), 40);
}

TEST(TcpServer, MessageSplitAcrossWrites) {
  Fixture fx;
  Client c(fx.port);
  auto f = framed(query("www.example.test.", 1, 9));
  auto g = framed(query("www.example.test.", 1, 10));
  f.insert(f.end(), g.begin(), g.end());
  for (uint8_t b : f) {  // one byte per segment (TCP_NODELAY on the client)
    int one = 1;
    setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c.send_all({b});
  }
  EXPECT_EQ(id_of(c.read_msg()), 9);
  EXPECT_EQ(id_of(c.read_msg()), 10);
}

TEST(TcpServer, PublicationReachesTcp) {
  Fixture fx;
  Client c(fx.port);
  c.send_all(framed(query("www.example.test.", 1, 1)));
  EXPECT_TRUE(has_bytes(c.read_msg(), {192, 0, 2, 1}));
  fx.pub.publish_all(zone_set("198.51.100.7"));  // returns after the grace period
  c.send_all(framed(query("www.example.test.", 1, 2)));
  EXPECT_TRUE(has_bytes(c.read_msg(), {198, 51, 100, 7}));
}

TEST(TcpServer, MalformedClosesAfterEarlierAnswers) {
  Fixture fx;
  Client c(fx.port);
  auto a = framed(query("www.example.test.", 1, 1));
  auto b = framed(query("www.example.test.", 1, 2, /*qr=*/true));
  auto d = framed(query("www.example.test.", 1, 3));
  a.insert(a.end(), b.begin(), b.end());
  a.insert(a.end(), d.begin(), d.end());
  c.send_all(a);
  EXPECT_EQ(id_of(c.read_msg()), 1);
  EXPECT_TRUE(c.closed_by_server());
  EXPECT_EQ(fx.srv->sum(&TcpCounters::malformed), 1u);
}

TEST(TcpServer, PerClientLimit) {
  TcpConfig cfg;
  cfg.max_per_client = 3;
  // One thread accepts in queue order, so the fourth connection is the one
  // refused; with two, either thread may take the count first and the
  // refused one is any of the four.
  cfg.threads = 1;
  Fixture fx(cfg);
  std::vector<std::unique_ptr<Client>> cs;
  for (int i = 0; i < 3; ++i) cs.push_back(std::make_unique<Client>(fx.port));
  Client extra(fx.port);
  EXPECT_TRUE(extra.closed_by_server());
  for (auto& c : cs) {
    c->send_all(framed(query("www.example.test.", 1, 5)));
    EXPECT_EQ(id_of(c->read_msg()), 5);
  }
  EXPECT_EQ(fx.srv->sum(&TcpCounters::refused_client), 1u);
}

TEST(TcpServer, GlobalLimitClosesNewWhenNothingIsQuiet) {
  TcpConfig cfg;
  cfg.max_connections = 2;
  cfg.threads = 1;
  cfg.evict_quiet_ms = 3'600'000;  // nothing counts as quiet: the third is refused
  Fixture fx(cfg);
  Client a(fx.port), b(fx.port);
  a.send_all(framed(query("www.example.test.", 1, 1)));
  EXPECT_EQ(id_of(a.read_msg()), 1);
  Client c(fx.port);
  EXPECT_TRUE(c.closed_by_server());
  EXPECT_EQ(fx.srv->sum(&TcpCounters::refused_limit), 1u);
  b.send_all(framed(query("www.example.test.", 1, 2)));
  EXPECT_EQ(id_of(b.read_msg()), 2);
}

TEST(TcpServer, GlobalLimitEvictsAQuietConnection) {
  TcpConfig cfg;
  cfg.max_connections = 2;
  cfg.threads = 1;
  cfg.evict_quiet_ms = 0;  // every connection that owes nothing counts as quiet
  Fixture fx(cfg);
  Client a(fx.port);
  a.send_all(framed(query("www.example.test.", 1, 1)));
  EXPECT_EQ(id_of(a.read_msg()), 1);
  Client b(fx.port);
  b.send_all(framed(query("www.example.test.", 1, 2)));
  EXPECT_EQ(id_of(b.read_msg()), 2);
  Client c(fx.port);  // evicts a, the least recently active
  c.send_all(framed(query("www.example.test.", 1, 3)));
  EXPECT_EQ(id_of(c.read_msg()), 3);
  EXPECT_TRUE(a.closed_by_server());
  EXPECT_EQ(fx.srv->sum(&TcpCounters::evicted), 1u);
}

TEST(TcpServer, IdleConnectionIsClosed) {
  TcpConfig cfg;
  cfg.idle_timeout_ms = 200;
  Fixture fx(cfg);
  Client c(fx.port);
  c.send_all(framed(query("www.example.test.", 1, 1)));
  EXPECT_EQ(id_of(c.read_msg()), 1);
  EXPECT_TRUE(c.closed_by_server());  // blocks until the server closes (10 s receive timeout)
  EXPECT_EQ(fx.srv->sum(&TcpCounters::timed_out), 1u);
}

TEST(TcpServer, NothingPublishedClosesTheConnection) {
  ZonePublisher pub{1};
  NodeAddrs a;
  inet_pton(AF_INET, "127.0.0.1", &a.v4[0]);
  a.n4 = 1;
  TcpConfig cfg;
  cfg.port = free_port();
  TcpServer srv(pub, 0, a, cfg);
  srv.start(nullptr);
  Client c(cfg.port);
  c.send_all(framed(query("www.example.test.", 1, 1)));
  EXPECT_TRUE(c.read_msg().empty());
  EXPECT_EQ(srv.sum(&TcpCounters::no_zones), 1u);
}

TEST(TcpServer, BindFailureNamesTheAddress) {
  ZonePublisher pub{1};
  NodeAddrs a;
  inet_pton(AF_INET, "127.0.0.1", &a.v4[0]);
  a.n4 = 1;
  int fd = socket(AF_INET, SOCK_STREAM, 0);  // a listener without SO_REUSEPORT holds the port
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  listen(fd, 1);
  socklen_t l = sizeof sa;
  getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &l);
  TcpConfig cfg;
  cfg.port = ntohs(sa.sin_port);
  TcpServer srv(pub, 0, a, cfg);
  try {
    srv.start(nullptr);
    ADD_FAILURE() << "start succeeded on a taken port";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("127.0.0.1 port " + std::to_string(cfg.port)),
              std::string::npos)
        << e.what();
  }
  close(fd);
}

// NSID over TCP: the configured text and the version of the slot TCP reads,
// which follows a publication; nothing when not asked.
TEST(TcpServer, NsidNamesTheVersionAnswered) {
  TcpConfig cfg;
  cfg.nsid = "edge-1 tcp lcore=3";
  Fixture fx(cfg);
  auto ask = [&](uint16_t id, bool nsid) {
    auto q = test::dns_query("www.example.test.", 1, id, false, 1232);
    if (nsid) {
      zones::wr16(&q[q.size() - 2], 4);
      q.insert(q.end(), {0, 3, 0, 0});
    }
    Client c(fx.port);
    c.send_all(framed(q));
    auto m = c.read_msg();
    return std::string(m.begin(), m.end());
  };
  auto v = [&] { return zones::zoneset_version(*fx.pub.current(0)->zs).hex().substr(0, 12); };
  EXPECT_NE(ask(1, true).find("edge-1 tcp lcore=3 v=" + v()), std::string::npos);
  EXPECT_EQ(ask(2, false).find("edge-1"), std::string::npos);
  const std::string before = v();
  fx.pub.publish_all(zone_set("198.51.100.7"));
  ASSERT_NE(v(), before);
  EXPECT_NE(ask(3, true).find("edge-1 tcp lcore=3 v=" + v()), std::string::npos);
}
