// Probes: the probes file (merging, errors naming file:line), expectation
// matching, automatic probes from the previous version, and send_probe
// against a real UDP server on 127.0.0.1 that answers with the answer engine
// (stray replies with another id are ignored, silence times out; a large
// RRset truncated over UDP is asked again over TCP). NSID parsing, and
// run_probe's coverage of canary lcores against a sender that emulates RSS
// over 8 lcores.
#include "control/probe.hh"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <map>
#include <random>
#include <thread>

#include "control/config.hh"
#include "zones/answer.hh"
#include "zones/snapshot.hh"

using namespace edgedns;
using namespace edgedns::ctl;

namespace {

// With a TXT RRset of ~4 KB: more than a 1232-byte UDP answer holds.
std::string zone_text() {
  std::string z =
      "$ORIGIN ex.test.\n$TTL 300\n@ SOA ns1 h 1 2 3 4 5\n@ NS ns1\nns1 A 192.0.2.53\n"
      "www A 192.0.2.80\nwww A 192.0.2.81\nmail MX 10 mx.ex.test.\n";
  for (int i = 0; i < 40; ++i)
    z += "big TXT \"record " + std::to_string(i) + " " + std::string(90, 'x') + "\"\n";
  return z;
}

std::vector<LoadedZone> loaded() {
  std::vector<LoadedZone> v;
  v.push_back(load_zone_text(zone_text(), "ex.zone"));
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

// A DNS server on 127.0.0.1 answering from zone_text() over UDP (the
// engine truncates what exceeds the query's EDNS size) and, with `tcp`,
// over TCP on the same port, as edgedns does.
class UdpServer {
 public:
  enum class Mode { Answer, StrayFirst, Silent };
  explicit UdpServer(Mode m, bool tcp = false) : mode_(m) {
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
    if (tcp) {
      tfd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      EXPECT_EQ(::bind(tfd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
      EXPECT_EQ(::listen(tfd_, 8), 0);
      tcp_thread_ = std::thread([this] { run_tcp(); });
    }
    thread_ = std::thread([this] { run(); });
  }
  ~UdpServer() {
    stop_ = true;
    thread_.join();
    if (tcp_thread_.joinable()) tcp_thread_.join();
    ::close(fd_);
    if (tfd_ >= 0) ::close(tfd_);
  }
  int tcp_queries() const { return tcp_queries_; }
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
  // One framed query per connection is all send_probe sends.
  void run_tcp() {
    std::vector<uint8_t> resp(65535);
    while (!stop_) {
      pollfd pf{tfd_, POLLIN, 0};
      if (::poll(&pf, 1, 20) <= 0) continue;
      int c = ::accept(tfd_, nullptr, nullptr);
      if (c < 0) continue;
      timeval tv{5, 0};
      setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      std::vector<uint8_t> in;
      uint8_t buf[4096];
      while (in.size() < 2 || in.size() < 2 + (size_t(in[0]) << 8 | in[1])) {
        ssize_t n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) break;
        in.insert(in.end(), buf, buf + n);
      }
      if (in.size() >= 2) {
        ++tcp_queries_;
        zones::AnswerResult ar =
            zones::answer_query(*zs_, {in.data() + 2, in.size() - 2},
                                {resp.data() + 2, resp.size() - 2}, zones::Transport::Tcp);
        resp[0] = uint8_t(ar.len >> 8);
        resp[1] = uint8_t(ar.len);
        ::send(c, resp.data(), ar.len + 2u, MSG_NOSIGNAL);
      }
      ::close(c);
    }
  }
  Mode mode_;
  std::shared_ptr<const zones::ZoneSet> zs_;
  int fd_ = -1, tfd_ = -1;
  std::atomic<int> tcp_queries_{0};
  std::thread tcp_thread_;
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

// An automatic probe's expectation is the full answer (over TCP); a UDP
// answer truncated at 1232 bytes is asked again over TCP, as a resolver does.
TEST(ProbeSend, ALargeRRsetIsAskedAgainOverTcp) {
  auto ap = auto_probes(loaded(), {"big.ex.test."}, 1);
  ASSERT_EQ(ap.size(), 1u);
  ASSERT_EQ(ap[0].rdatas.size(), 40u);
  UdpServer srv(UdpServer::Mode::Answer, /*tcp=*/true);
  ProbeResult r = send_probe(srv.address(), ap[0], 2);
  EXPECT_EQ(check_probe(ap[0], r), "");
  EXPECT_EQ(srv.tcp_queries(), 1);
  // A node that truncates and does not answer TCP fails the probe, as it
  // fails a resolver, and the error says why.
  UdpServer udp_only(UdpServer::Mode::Answer);
  ProbeResult u = send_probe(udp_only.address(), ap[0], 0.5);
  EXPECT_FALSE(u.answered);
  EXPECT_NE(check_probe(ap[0], u).find("big.ex.test. TXT: answer truncated (TC) and no TCP answer"),
            std::string::npos)
      << check_probe(ap[0], u);
  // A small answer stays on UDP.
  auto small = parse_probes(
      "www.ex.test. A NOERROR 192.0.2.80\nwww.ex.test. A NOERROR 192.0.2.81\n", "f")[0];
  EXPECT_EQ(check_probe(small, send_probe(srv.address(), small, 2)), "");
  EXPECT_EQ(srv.tcp_queries(), 1);
}

TEST(ProbeNsid, ParsesWhatEdgednsSends) {
  auto n = parse_nsid("edge-1 lcore=12 v=0123456789ab");
  ASSERT_TRUE(n);
  EXPECT_EQ(n->node, "edge-1");
  EXPECT_EQ(n->lcore, 12);
  EXPECT_EQ(n->version, "0123456789ab");
  EXPECT_FALSE(n->tcp);
  auto t = parse_nsid("edge-1 tcp lcore=1 v=ffffffffffff");
  ASSERT_TRUE(t);
  EXPECT_TRUE(t->tcp);
  EXPECT_EQ(t->lcore, 1);
  EXPECT_TRUE(parse_nsid("edge-1 lcore=1 v=0123456789ab extra=x"));  // more may come later
  for (const char* bad : {"", "ns1.example.net", "edge-1 lcore=1", "edge-1 v=0123456789ab",
                          "edge-1 lcore=x v=0123456789ab", "edge-1 lcore=1 v=0123",
                          "edge-1 lcore=1 v=0123456789AB", "lcore=1 v=0123456789ab"})
    EXPECT_FALSE(parse_nsid(bad)) << bad;
}

TEST(ProbeAuto, ExpectPreviousAnswersFromThePreviousVersion) {
  auto p =
      parse_probes("www.ex.test. A NOERROR 192.0.2.99\nnew.ex.test. A NOERROR 192.0.2.7\n", "f");
  expect_previous(p, loaded());
  ASSERT_TRUE(p[0].previous);
  EXPECT_EQ(p[0].previous->rcode, 0);
  EXPECT_EQ(p[0].previous->rdatas.size(), 2u);  // .80 and .81, not the probe's .99
  ASSERT_TRUE(p[1].previous);
  EXPECT_EQ(p[1].previous->rcode, 3);  // the name is new: NXDOMAIN before
  std::vector<Probe> none;
  expect_previous(none, loaded());
  auto keep = parse_probes("www.ex.test. A NOERROR\n", "f");
  keep[0].previous = ProbeAnswer{2, false, {}};
  expect_previous(keep, loaded());
  EXPECT_EQ(keep[0].previous->rcode, 2);
}

namespace {

const std::string kNew = "aaaaaaaaaaaa00000000000000000000";
const std::string kPrev = "bbbbbbbbbbbb00000000000000000000";

// A node behind RSS: each query lands on one of `lcores` at random; the
// canaries serve kNew, the rest kPrev; `answer` says what an lcore answers.
struct RssNode {
  std::vector<int> lcores;
  std::set<int> canary;
  std::function<ProbeResult(int lcore, const std::string& version)> answer;
  std::mt19937 rng{7};
  std::map<int, int> hits;
  int sent = 0;
  bool nsid = true;
  ProbeResult operator()() {
    ++sent;
    int l = lcores[std::uniform_int_distribution<size_t>(0, lcores.size() - 1)(rng)];
    ++hits[l];
    std::string v = canary.count(l) ? kNew : kPrev;
    ProbeResult r = answer(l, v);
    if (nsid) r.nsid = Nsid{"n1", l, v.substr(0, 12), false};
    return r;
  }
};

ProbeResult answer_with(const std::set<std::string>& rdatas, uint8_t rcode = 0) {
  ProbeResult r;
  r.answered = true;
  r.rcode = rcode;
  r.rdatas = rdatas;
  return r;
}

Probe www_probe() {
  auto p = parse_probes("www.ex.test. A NOERROR 192.0.2.66\n", "probes")[0];
  auto prev = parse_probes("www.ex.test. A NOERROR 192.0.2.80\n", "probes")[0];
  p.previous = ProbeAnswer{0, true, prev.rdatas};
  return p;
}

ProbeScope canary_scope() { return ProbeScope{"edge-1", kNew, kPrev, {10}, 4}; }

}  // namespace

// 8 lcores, canary 10: probing goes on until lcore 10 answered 4 times, each
// answer held to its own version's expectation.
TEST(ProbeRun, ReachesEachCanaryLcoreRepeatsTimes) {
  Probe p = www_probe();
  RssNode node{{10, 11, 12, 13, 14, 15, 16, 17}, {10}, nullptr};
  node.answer = [&](int, const std::string& v) {
    return answer_with(v == kNew ? p.rdatas : p.previous->rdatas);
  };
  ProbeRun run = run_probe(p, canary_scope(), std::ref(node));
  EXPECT_EQ(run.failure, "");
  EXPECT_TRUE(run.identified);
  EXPECT_EQ(run.by_lcore[10], 4);
  EXPECT_EQ(node.hits[10], 4);  // stops as soon as it is covered
  EXPECT_EQ(int(run.ok), node.sent);
  EXPECT_GT(node.sent, 8);  // the other lcores answered too, and were checked
  ProbeTally t;
  t.add(run);
  EXPECT_EQ(t.note(canary_scope()),
            "edge-1: canary lcore 10 answered 4, other lcores " + std::to_string(node.sent - 4));
  // A whole-node stage: 4 answers, every lcore on the new version.
  RssNode all{{10, 11, 12, 13}, {10, 11, 12, 13}, node.answer};
  ProbeScope s = canary_scope();
  s.canary.clear();
  ProbeRun r2 = run_probe(p, s, std::ref(all));
  EXPECT_EQ(r2.failure, "");
  EXPECT_EQ(all.sent, 4);
}

TEST(ProbeRun, ABadCanaryLcoreIsNamed) {
  Probe p = www_probe();
  RssNode node{{10, 11, 12, 13, 14, 15, 16, 17}, {10}, nullptr};
  node.answer = [&](int, const std::string&) { return answer_with(p.previous->rdatas); };
  ProbeRun run = run_probe(p, canary_scope(), std::ref(node));
  EXPECT_EQ(run.failure,
            "probe probes:1 to edge-1 lcore 10 on the new version aaaaaaaaaaaa: www.ex.test. A: "
            "answer 192.0.2.80, expected 192.0.2.66");
  EXPECT_EQ(node.hits[10], 1);
}

TEST(ProbeRun, AnAnswerFromAnUnexpectedVersionFails) {
  Probe p = www_probe();
  RssNode node{{10, 11}, {10, 11}, nullptr};  // lcore 11 serves the new version too
  node.answer = [&](int, const std::string&) { return answer_with(p.rdatas); };
  ProbeRun run = run_probe(p, canary_scope(), std::ref(node));
  EXPECT_EQ(run.failure,
            "probe probes:1 to edge-1: www.ex.test. A: the answer from lcore 11 (node id n1) came "
            "from version aaaaaaaaaaaa, expected bbbbbbbbbbbb (not a canary lcore: the previous "
            "version)");
  ProbeScope s = canary_scope();
  s.canary.clear();
  RssNode old{{10}, {}, node.answer};  // a whole-node stage, the lcore still on the old one
  EXPECT_NE(run_probe(p, s, std::ref(old))
                .failure.find("expected aaaaaaaaaaaa (every lcore serves the new version"),
            std::string::npos);
}

// RSS that never reaches the canary (e.g. it hashes addresses only): a
// bounded number of queries, then a failure naming the lcore.
TEST(ProbeRun, ACanaryLcoreRssNeverReachesFailsAfterTheBound) {
  Probe p = www_probe();
  RssNode node{{11}, {}, nullptr};
  node.answer = [&](int, const std::string&) { return answer_with(p.previous->rdatas); };
  ProbeRun run = run_probe(p, canary_scope(), std::ref(node));
  EXPECT_EQ(node.sent, 64);
  EXPECT_EQ(run.failure,
            "probe probes:1 to edge-1: www.ex.test. A: canary lcore 10 answered 0 of the 4 times "
            "needed in 64 queries (answers by lcore: 11: 64); RSS does not spread this prober's "
            "source ports to it");
  // The bound grows with the lcores known, so that 16 lcores are not failed by bad luck.
  EXPECT_EQ(probe_attempt_bound(canary_scope(), 1), 64);
  EXPECT_EQ(probe_attempt_bound(canary_scope(), 2), 64);
  EXPECT_EQ(probe_attempt_bound(canary_scope(), 16), 16 * 32);
  EXPECT_EQ(probe_attempt_bound(canary_scope(), 1000), 4096);
  RssNode many{{}, {10}, node.answer};
  for (int l = 10; l < 26; ++l) many.lcores.push_back(l);
  many.answer = [&](int, const std::string& v) {
    return answer_with(v == kNew ? p.rdatas : p.previous->rdatas);
  };
  for (int i = 0; i < 20; ++i) {
    many.rng.seed(unsigned(i));
    EXPECT_EQ(run_probe(p, canary_scope(), std::ref(many)).failure, "") << i;
  }
}

// Control lcores of an operator probe without a previous expectation are
// held to their version only; answers without NSID are checked as before.
TEST(ProbeRun, NoPreviousExpectationAndNoNsid) {
  Probe p = www_probe();
  p.previous.reset();
  RssNode node{{10, 11, 12}, {10}, nullptr};
  node.answer = [&](int, const std::string& v) {
    return answer_with(v == kNew ? p.rdatas : std::set<std::string>{"junk"});
  };
  EXPECT_EQ(run_probe(p, canary_scope(), std::ref(node)).failure, "");
  RssNode old{{10, 11, 12}, {10}, nullptr};
  old.nsid = false;
  old.answer = [&](int, const std::string&) { return answer_with(p.rdatas); };
  ProbeRun run = run_probe(p, canary_scope(), std::ref(old));
  EXPECT_EQ(run.failure, "");
  EXPECT_FALSE(run.identified);
  EXPECT_EQ(old.sent, 4);  // probe_repeats, as before NSID
  ProbeTally t;
  t.add(run);
  EXPECT_NE(t.note(canary_scope()).find("edge-1: its answers carry no edgedns NSID"),
            std::string::npos);
  RssNode silent{{10}, {10}, nullptr};
  silent.answer = [](int, const std::string&) {
    ProbeResult r;
    r.error = "no answer from x within 5 ms";
    return r;
  };
  EXPECT_EQ(run_probe(p, canary_scope(), std::ref(silent)).failure,
            "probe probes:1 to edge-1: www.ex.test. A: no answer from x within 5 ms");
}

// A truncated UDP answer's content is the TCP retry's, judged by the version
// the TCP answer names (TCP reads the first worker lcore's slot).
TEST(ProbeRun, ATruncatedAnswerIsJudgedByItsTcpRetry) {
  Probe p = www_probe();
  auto send = [&] {
    ProbeResult r = answer_with(p.previous->rdatas);
    r.truncated = true;
    r.nsid = Nsid{"n1", 10, kNew.substr(0, 12), false};
    r.tcp_nsid = Nsid{"n1", 11, kPrev.substr(0, 12), true};
    return r;
  };
  ProbeRun run = run_probe(p, canary_scope(), send);
  EXPECT_EQ(run.failure, "");
  EXPECT_EQ(run.by_lcore[10], 4);
  auto bad = [&] {
    ProbeResult r = send();
    r.tcp_nsid->version = kNew.substr(0, 12);
    return r;
  };
  EXPECT_NE(run_probe(p, canary_scope(), bad).failure.find("the TCP answer from lcore 11"),
            std::string::npos);
}
