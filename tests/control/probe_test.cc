// Probes: the probes file (merging, errors naming file:line), expectation
// matching, automatic probes from the previous version, and send_probe
// against a real UDP server on 127.0.0.1 that answers with the answer engine
// (stray replies with another id are ignored, silence times out).
#include "control/probe.hh"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "control/config.hh"
#include "zones/answer.hh"
#include "zones/snapshot.hh"

using namespace edgedns;
using namespace edgedns::ctl;

namespace {

const char* kZone =
    "$ORIGIN ex.test.\n$TTL 300\n@ SOA ns1 h 1 2 3 4 5\n@ NS ns1\nns1 A 192.0.2.53\n"
    "www A 192.0.2.80\nwww A 192.0.2.81\nmail MX 10 mx.ex.test.\n";

std::vector<LoadedZone> loaded() {
  std::vector<LoadedZone> v;
  v.push_back(load_zone_text(kZone, "ex.zone"));
  EXPECT_TRUE(v.back().ok());
  return v;
}

std::string error_of(const std::string& text) {
  try {
    parse_probes(text, "probes.txt");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

// A DNS server on 127.0.0.1 answering from kZone.
class UdpServer {
 public:
  enum class Mode { Answer, StrayFirst, Silent };
  explicit UdpServer(Mode m) : mode_(m) {
    auto lz = loaded();
    std::vector<std::shared_ptr<const zones::Zone>> c;
    c.push_back(zones::compile_zone(std::move(lz[0].data)));
    zs_ = zones::ZoneSet::build(std::move(c));
    fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    socklen_t l = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &l);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~UdpServer() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  int queries() const { return queries_; }

 private:
  void run() {
    std::vector<uint8_t> q(65535), resp(65535);
    while (!stop_) {
      pollfd pf{fd_, POLLIN, 0};
      if (::poll(&pf, 1, 20) <= 0) continue;
      sockaddr_storage from{};
      socklen_t fl = sizeof from;
      ssize_t n = ::recvfrom(fd_, q.data(), q.size(), 0, reinterpret_cast<sockaddr*>(&from), &fl);
      if (n <= 0) continue;
      ++queries_;
      if (mode_ == Mode::Silent) continue;
      zones::AnswerResult ar =
          zones::answer_query(*zs_, {q.data(), size_t(n)}, resp, zones::Transport::Udp);
      if (mode_ == Mode::StrayFirst) {
        std::vector<uint8_t> stray(resp.begin(), resp.begin() + ar.len);
        stray[1] ^= 1;  // another query's id
        ::sendto(fd_, stray.data(), stray.size(), 0, reinterpret_cast<sockaddr*>(&from), fl);
      }
      ::sendto(fd_, resp.data(), ar.len, 0, reinterpret_cast<sockaddr*>(&from), fl);
    }
  }
  Mode mode_;
  std::shared_ptr<const zones::ZoneSet> zs_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> queries_{0};
  std::thread thread_;
};

}  // namespace

TEST(ProbeFile, ParsesAndMergesLinesOfOneNameAndType) {
  auto p = parse_probes(
      "# comment\n\nwww.ex.test. A NOERROR 192.0.2.80  # first\nwww.ex.test A noerror 192.0.2.81\n"
      "nope.ex.test. AAAA NXDOMAIN\n",
      "probes.txt");
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0].describe(), "www.ex.test. A");
  EXPECT_EQ(p[0].origin, "probes.txt:3");
  EXPECT_TRUE(p[0].check_rdata);
  EXPECT_EQ(p[0].rdatas.size(), 2u);
  EXPECT_EQ(p[1].type, 28);
  EXPECT_EQ(p[1].rcode, 3);
  EXPECT_FALSE(p[1].check_rdata);
}

TEST(ProbeFile, ErrorsNameFileAndLine) {
  EXPECT_EQ(error_of("\nwww.ex.test. A\n"), "probes.txt:2: expected NAME TYPE RCODE [RDATA]");
  EXPECT_EQ(error_of("www.ex.test. BOGUS NOERROR\n"), "probes.txt:1: unknown type 'BOGUS'");
  EXPECT_NE(error_of("www.ex.test. A FINE\n").find("probes.txt:1: unknown rcode 'FINE'"),
            std::string::npos);
  EXPECT_NE(error_of("www.ex.test. A NOERROR 300.1.1.1\n").find("probes.txt:1: RDATA '"),
            std::string::npos);
  EXPECT_NE(error_of("a..b A NOERROR\n").find("probes.txt:1: name 'a..b'"), std::string::npos);
  EXPECT_EQ(error_of("www.ex.test. A NOERROR\nwww.ex.test. A NXDOMAIN\n"),
            "probes.txt:2: expects another rcode for www.ex.test. A than probes.txt:1");
}

TEST(ProbeCheck, MatchesRcodeAndRdataSet) {
  auto p = parse_probes("www.ex.test. A NOERROR 192.0.2.80\nwww.ex.test. A NOERROR 192.0.2.81\n",
                        "f")[0];
  ProbeResult r;
  r.answered = true;
  r.rdatas = p.rdatas;
  EXPECT_EQ(check_probe(p, r), "");
  r.rdatas.erase(r.rdatas.begin());
  EXPECT_EQ(check_probe(p, r),
            "www.ex.test. A: answer 192.0.2.81, expected 192.0.2.80 | 192.0.2.81");
  r.rcode = 2;
  EXPECT_EQ(check_probe(p, r), "www.ex.test. A: rcode SERVFAIL, expected NOERROR");
  ProbeResult none;
  none.error = "no answer from x within 5 ms";
  EXPECT_EQ(check_probe(p, none), "www.ex.test. A: no answer from x within 5 ms");
  // An rcode-only probe ignores whatever data comes back.
  auto rc = parse_probes("www.ex.test. A NOERROR\n", "f")[0];
  ProbeResult any;
  any.answered = true;
  any.rdatas = {"\x01\x02\x03\x04"};
  EXPECT_EQ(check_probe(rc, any), "");
  EXPECT_EQ(rcode_name(3), "NXDOMAIN");
  EXPECT_EQ(rcode_name(9), "RCODE9");
}

TEST(ProbeAuto, ExpectsWhatThePreviousVersionAnswers) {
  auto ap = auto_probes(loaded(), {"www.ex.test.", "mail.ex.test."}, 5);
  ASSERT_EQ(ap.size(), 2u);
  EXPECT_EQ(ap[0].describe(), "www.ex.test. A");
  EXPECT_EQ(ap[0].rdatas.size(), 2u);
  EXPECT_EQ(ap[0].origin, "auto");
  EXPECT_EQ(ap[1].describe(), "mail.ex.test. MX");
  EXPECT_EQ(ap[1].rdatas.size(), 1u);
  EXPECT_EQ(auto_probes(loaded(), {"www.ex.test.", "mail.ex.test."}, 1).size(), 1u);
  EXPECT_TRUE(auto_probes({}, {"www.ex.test."}, 5).empty());
}

TEST(ProbeSend, AnswersFromARealServerMeetOrMissTheExpectation) {
  UdpServer srv(UdpServer::Mode::Answer);
  auto p = parse_probes(
      "www.ex.test. A NOERROR 192.0.2.80\nwww.ex.test. A NOERROR 192.0.2.81\n"
      "nope.ex.test. A NXDOMAIN\nwww.ex.test. AAAA NOERROR\nmail.ex.test. MX NOERROR 20 "
      "mx.ex.test.\n",
      "f");
  ASSERT_EQ(p.size(), 4u);
  ProbeResult r = send_probe(srv.address(), p[0], 2);
  ASSERT_TRUE(r.answered) << r.error;
  EXPECT_EQ(r.rdatas.size(), 2u);
  EXPECT_EQ(check_probe(p[0], r), "");
  EXPECT_EQ(check_probe(p[1], send_probe(srv.address(), p[1], 2)), "");  // NXDOMAIN
  EXPECT_EQ(check_probe(p[2], send_probe(srv.address(), p[2], 2)), "");  // NODATA: NOERROR, no AAAA
  EXPECT_EQ(check_probe(p[3], send_probe(srv.address(), p[3], 2)),
            "mail.ex.test. MX: answer 10 mx.ex.test., expected 20 mx.ex.test.");
}

TEST(ProbeSend, AReplyWithAnotherIdIsIgnored) {
  UdpServer srv(UdpServer::Mode::StrayFirst);
  auto p = parse_probes("www.ex.test. A NOERROR 192.0.2.80\nwww.ex.test. A NOERROR 192.0.2.81\n",
                        "f")[0];
  EXPECT_EQ(check_probe(p, send_probe(srv.address(), p, 2)), "");
}

TEST(ProbeSend, SilenceAndBadAddressesAreErrors) {
  UdpServer srv(UdpServer::Mode::Silent);
  auto p = parse_probes("www.ex.test. A NOERROR\n", "f")[0];
  ProbeResult r = send_probe(srv.address(), p, 0.2);
  EXPECT_FALSE(r.answered);
  EXPECT_EQ(r.error, "no answer from " + srv.address() + " within 200 ms");
  EXPECT_EQ(srv.queries(), 1);
  ProbeResult bad = send_probe("not-an-ip", p, 0.2);
  EXPECT_FALSE(bad.answered);
  EXPECT_EQ(bad.error, "bad probe address 'not-an-ip'");
}
