// The control protocol over TCP with mutual TLS: a client with a certificate
// of the CA gets in and is named to the handler; every other client is
// refused in the handshake, with a log line naming its address and the
// reason, and nothing it sends reaches the handler: a certificate of another
// CA, an expired one, one whose names are not allowed, no certificate,
// plaintext on the TLS port, a client that never handshakes, an oversized
// frame. The client refuses a server whose certificate does not carry the
// expected name or comes from another CA. Certificates are made by
// scripts/pki.sh (the openssl command line), as an operator makes them.
#include "proto/tls.hh"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "proto/client.hh"
#include "proto/framing.hh"
#include "proto/server.hh"
#include "tests/temp_dir.hh"

using namespace edgedns;
using nlohmann::json;

namespace {

// One PKI for the whole suite: openssl key generation is the slow part.
struct Pki {
  test::TempDir d{"tls"};
  std::string ca, other;  // directories
  Pki() {
    ca = d.path + "/ca";
    other = d.path + "/other";
    const std::string pki = std::string(EDGEDNS_SOURCE_ROOT) + "/scripts/pki.sh";
    for (const std::string& args :
         {"ca " + ca, "cert " + ca + " node-1", "cert " + ca + " edgectl",
          "cert " + ca + " edgectl-ro", "cert " + ca + " old -1", "ca " + other + " rogue-ca",
          "cert " + other + " edgectl", "cert " + other + " node-1"}) {
      std::string cmd = pki + " " + args;
      if (std::system(cmd.c_str()) != 0) throw std::runtime_error("failed: " + cmd);
    }
  }
  proto::TlsFiles files(const std::string& dir, const std::string& name) const {
    return {dir + "/" + name + ".crt", dir + "/" + name + ".key", ca + "/ca.crt"};
  }
};
Pki* g_pki;

class TlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { g_pki = new Pki; }
  static void TearDownTestSuite() {
    delete g_pki;
    g_pki = nullptr;
  }

  // A server on 127.0.0.1 (some free port) that answers {"who": name} and
  // records every request it handled and every log line.
  void start(std::vector<std::string> allow = {}, proto::ServerOptions opt = {}) {
    opt.log = [this](const std::string& l) {
      std::lock_guard lock(mu_);
      logs_.push_back(l);
    };
    srv_ = std::make_unique<proto::Server>(
        [this](const std::string& f, const proto::Peer& p) {
          std::lock_guard lock(mu_);
          handled_.push_back(f);
          json r = proto::make_ok(nullptr);
          r["who"] = p.identity().name;
          r["address"] = p.identity().address;
          return r;
        },
        opt);
    auto ctx = std::make_shared<proto::TlsContext>(proto::TlsContext::Role::Server,
                                                   g_pki->files(g_pki->ca, "node-1"));
    srv_->bind_tls("127.0.0.1:0", ctx, std::move(allow));
    srv_->start();
    std::string err;
    ASSERT_TRUE(proto::parse_endpoint(srv_->path().substr(6), &ep_, &err)) << err;
  }

  proto::Client connect(const proto::TlsFiles& f, const std::string& server_name = "node-1") {
    proto::TlsContext ctx(proto::TlsContext::Role::Client, f);
    return proto::Client::connect_tls(ctx, ep_, server_name, "node-1", 5000);
  }

  // Waits (5 s at most) for a log line containing `what`; the line.
  std::string log_with(const std::string& what) {
    for (int i = 0; i < 500; ++i) {
      {
        std::lock_guard lock(mu_);
        for (const auto& l : logs_)
          if (l.find(what) != std::string::npos) return l;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    std::lock_guard lock(mu_);
    std::string all;
    for (const auto& l : logs_) all += "\n  " + l;
    ADD_FAILURE() << "no log line with '" << what << "'; logs:" << all;
    return "";
  }
  size_t handled() {
    std::lock_guard lock(mu_);
    return handled_.size();
  }
  // A refused client: its request fails, the handler never saw it.
  void expect_refused(const proto::TlsFiles& f, const std::string& reason) {
    EXPECT_THROW(
        {
          auto c = connect(f);
          c.call({{"cmd", "publish"}, {"version", "bad"}}, 5000);
        },
        proto::CallError);
    std::string l = log_with(reason);
    EXPECT_NE(l.find("refused 127.0.0.1:"), std::string::npos) << l;
    EXPECT_EQ(handled(), 0u);
  }
  int plain_connect() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(ep_.port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
    return fd;
  }

  std::mutex mu_;
  std::vector<std::string> logs_, handled_;
  std::unique_ptr<proto::Server> srv_;
  proto::Endpoint ep_;
};

TEST_F(TlsTest, ClientOfTheCaGetsInAndIsNamed) {
  start({"edgectl"});
  auto c = connect(g_pki->files(g_pki->ca, "edgectl"));
  json r = c.call({{"cmd", "hello"}}, 5000);
  EXPECT_TRUE(r.value("ok", false)) << r.dump();
  EXPECT_EQ(r.value("who", ""), "edgectl");
  EXPECT_EQ(r.value("address", "").rfind("127.0.0.1:", 0), 0u);
  // The same connection carries further requests.
  EXPECT_TRUE(c.call({{"cmd", "status"}}, 5000).value("ok", false));
  EXPECT_EQ(handled(), 2u);
}

TEST_F(TlsTest, CertificateOfAnotherCaIsRefused) {
  start();
  expect_refused(
      {g_pki->other + "/edgectl.crt", g_pki->other + "/edgectl.key", g_pki->ca + "/ca.crt"},
      "not signed by the configured CA");
}

TEST_F(TlsTest, ExpiredCertificateIsRefused) {
  start();
  // Our own context refuses to start with an expired certificate...
  EXPECT_THROW(connect(g_pki->files(g_pki->ca, "old")), std::runtime_error);
  // ...so present it by hand through a context that skips that check: a
  // raw OpenSSL client is what an attacker would use anyway.
  EXPECT_THROW(
      {
        proto::TlsFiles f = g_pki->files(g_pki->ca, "old");
        proto::TlsContext ctx(proto::TlsContext::Role::Client, f, /*check_own_expiry=*/false);
        auto c = proto::Client::connect_tls(ctx, ep_, "node-1", "node-1", 5000);
        c.call({{"cmd", "publish"}}, 5000);
      },
      proto::CallError);
  std::string l = log_with("certificate has expired");
  EXPECT_NE(l.find("(old)"), std::string::npos) << l;
  EXPECT_EQ(handled(), 0u);
}

TEST_F(TlsTest, NameNotAllowedIsRefused) {
  start({"edgectl", "edgectl-2"});
  expect_refused(g_pki->files(g_pki->ca, "edgectl-ro"), "none of them allowed");
  // and an allowed name still gets in
  auto c = connect(g_pki->files(g_pki->ca, "edgectl"));
  EXPECT_EQ(c.call({{"cmd", "hello"}}, 5000).value("who", ""), "edgectl");
}

TEST_F(TlsTest, PlaintextOnTheTlsPortIsRefused) {
  start();
  int fd = plain_connect();
  EXPECT_TRUE(proto::write_frame(fd, R"({"v":1,"id":1,"cmd":"publish","version":"x"})"));
  std::string f;
  EXPECT_NE(proto::read_frame(fd, f), proto::IoStatus::Ok);  // closed, no reply
  ::close(fd);
  log_with("plaintext, not a TLS handshake");
  EXPECT_EQ(handled(), 0u);
}

TEST_F(TlsTest, ClientThatNeverHandshakesIsDropped) {
  proto::ServerOptions o;
  o.handshake_timeout_ms = 300;
  start({}, o);
  int fd = plain_connect();
  log_with("no TLS handshake in time");
  ::close(fd);
  // A client that starts a handshake and stalls in it is dropped as well.
  fd = plain_connect();
  const unsigned char partial[] = {22, 3, 1, 0, 200, 1, 0};  // a ClientHello cut short
  EXPECT_EQ(::send(fd, partial, sizeof partial, 0), ssize_t(sizeof partial));
  log_with("not finished in time");
  ::close(fd);
  EXPECT_EQ(handled(), 0u);
  // Neither held a slot: the server is still open for business.
  for (int i = 0; i < 100 && srv_->connections() != 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(srv_->connections(), 0u);
}

TEST_F(TlsTest, OversizedFrameIsRefused) {
  proto::ServerOptions o;
  o.max_frame = 4096;
  start({}, o);
  auto c = connect(g_pki->files(g_pki->ca, "edgectl"));
  json big = {{"cmd", "upload"}, {"pad", std::string(8192, 'x')}};
  try {
    json r = c.call(big, 5000);
    EXPECT_FALSE(r.value("ok", true)) << r.dump();
  } catch (const proto::CallError&) {
    // the server may close before the reply is read
  }
  log_with("exceeds the limit of 4096");
  EXPECT_EQ(handled(), 0u);
}

TEST_F(TlsTest, ClientChecksTheServersName) {
  start();
  try {
    connect(g_pki->files(g_pki->ca, "edgectl"), "node-2");
    FAIL() << "connected to a server whose certificate names node-1 as node-2";
  } catch (const proto::CallError& e) {
    EXPECT_NE(std::string(e.what()).find("expected 'node-2'"), std::string::npos) << e.what();
  }
}

TEST_F(TlsTest, ClientRefusesAServerOfAnotherCa) {
  srv_ =
      std::make_unique<proto::Server>([](const std::string&) { return proto::make_ok(nullptr); });
  auto ctx = std::make_shared<proto::TlsContext>(
      proto::TlsContext::Role::Server,
      proto::TlsFiles{g_pki->other + "/node-1.crt", g_pki->other + "/node-1.key",
                      g_pki->ca + "/ca.crt"});
  srv_->bind_tls("127.0.0.1:0", ctx);
  srv_->start();
  ASSERT_TRUE(proto::parse_endpoint(srv_->path().substr(6), &ep_, nullptr));
  try {
    connect(g_pki->files(g_pki->ca, "edgectl"));
    FAIL() << "trusted a server certificate of another CA";
  } catch (const proto::CallError& e) {
    EXPECT_NE(std::string(e.what()).find("not signed by the configured CA"), std::string::npos)
        << e.what();
  }
}

TEST_F(TlsTest, HandlerSeesAClientThatLeft) {
  std::atomic<int> state{0};  // 1: handler entered, 2: client left, 3: handler saw gone
  srv_ = std::make_unique<proto::Server>([&](const std::string&, const proto::Peer& p) {
    state = 1;
    while (state.load() != 2) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    for (int i = 0; i < 200 && !p.gone(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    if (p.gone()) state = 3;
    return proto::make_ok(nullptr);
  });
  auto ctx = std::make_shared<proto::TlsContext>(proto::TlsContext::Role::Server,
                                                 g_pki->files(g_pki->ca, "node-1"));
  srv_->bind_tls("127.0.0.1:0", ctx);
  srv_->start();
  ASSERT_TRUE(proto::parse_endpoint(srv_->path().substr(6), &ep_, nullptr));
  {
    auto c = connect(g_pki->files(g_pki->ca, "edgectl"));
    EXPECT_THROW(c.call({{"cmd", "publish"}}, 200), proto::CallError);  // times out, gives up
    while (state.load() != 1) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }  // the client closes
  state = 2;
  for (int i = 0; i < 400 && state.load() != 3; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(state.load(), 3);
}

TEST(TlsContext, BadFilesAreNamed) {
  test::TempDir d{"tls-files"};
  const std::string pki = std::string(EDGEDNS_SOURCE_ROOT) + "/scripts/pki.sh";
  ASSERT_EQ(std::system((pki + " ca " + d.path + " && " + pki + " cert " + d.path + " a && " + pki +
                         " cert " + d.path + " b")
                            .c_str()),
            0);
  auto err = [&](proto::TlsFiles f) {
    try {
      proto::TlsContext c(proto::TlsContext::Role::Server, f);
    } catch (const std::runtime_error& e) {
      return std::string(e.what());
    }
    return std::string("(accepted)");
  };
  const std::string p = d.path + "/";
  EXPECT_NE(err({p + "missing.crt", p + "a.key", p + "ca.crt"}).find(p + "missing.crt"),
            std::string::npos);
  EXPECT_NE(err({p + "a.crt", p + "b.key", p + "ca.crt"}).find("does not belong"),
            std::string::npos);
  EXPECT_NE(err({p + "a.key", p + "a.key", p + "ca.crt"}).find("TLS certificate " + p + "a.key"),
            std::string::npos);
  EXPECT_NE(err({p + "a.crt", p + "a.key", p + "a.key"}).find("TLS CA " + p + "a.key"),
            std::string::npos);
  EXPECT_EQ(err({p + "a.crt", p + "a.key", p + "ca.crt"}), "(accepted)");
}

TEST(Endpoint, Parses) {
  proto::Endpoint e;
  std::string err;
  ASSERT_TRUE(proto::parse_endpoint("198.18.0.1:853", &e, &err));
  EXPECT_EQ(e.host, "198.18.0.1");
  EXPECT_EQ(e.port, 853);
  ASSERT_TRUE(proto::parse_endpoint("[2001:db8::1]:8853", &e, &err));
  EXPECT_EQ(e.host, "2001:db8::1");
  EXPECT_EQ(e.str(), "[2001:db8::1]:8853");
  for (const char* bad :
       {"198.18.0.1", "2001:db8::1:853", "[2001:db8::1]", ":853", "h:0", "h:x", "h:65536"})
    EXPECT_FALSE(proto::parse_endpoint(bad, &e, &err)) << bad;
}

}  // namespace
