// The agent's version logic without EAL: registry (versions, per-lcore
// publication, commit, eviction, counter slots, reclamation after the grace
// period) and the control agent (every command over its handler and over a
// real unix socket, bad frames, clients that vanish mid-frame or before
// their request is applied). Run under
// -Db_sanitize=address as the leak check of the swap path (docs/operations.md).
#include "dataplane/registry.hh"
#include "dataplane/agent.hh"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "dataplane/lkg_store.hh"
#include "proto/client.hh"
#include "proto/framing.hh"
#include "tests/temp_dir.hh"
#include "zones/lkg.hh"

using namespace edgedns;
using namespace edgedns::dp;
using nlohmann::json;

namespace {

std::string zone(int n) {
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "$ORIGIN t.test.\n$TTL 300\n@ IN SOA ns1 h %d 1 1 1 1\n@ IN NS ns1\n"
                "ns1 IN A 198.18.0.1\nwww IN CNAME v%d\nv%d IN A 198.19.%d.%d\n",
                n, n, n, (n >> 8) & 255, n & 255);
  return buf;
}

std::shared_ptr<const zones::ZoneSet> build(int n) {
  std::string t = zone(n);
  ZoneText zt{"", "t.zone", t};
  BuildResult r = build_zone_set(std::span<const ZoneText>(&zt, 1));
  EXPECT_TRUE(r.ok());
  return r.set;
}

// Two fake lcores: publisher slots, per-version counters, and reader threads
// that count against the version they read (as worker_main does).
struct Node {
  static constexpr unsigned kLcores = 2;
  ZonePublisher pub{kLcores};
  std::unique_ptr<VersionCounters[]> counters[kLcores] = {
      std::unique_ptr<VersionCounters[]>(new VersionCounters[kVersionSlots]),
      std::unique_ptr<VersionCounters[]>(new VersionCounters[kVersionSlots])};
  VersionRegistry reg{pub, {3, 5}, {counters[0].get(), counters[1].get()}};
  std::atomic<bool> stop{false};
  std::atomic<long> reads{0}, null_reads{0};
  std::vector<std::thread> readers;

  void start_readers() {
    for (unsigned s = 0; s < kLcores; ++s)
      readers.emplace_back([this, s] {
        rcu_register_thread();
        while (!stop.load()) {
          const ServedVersion* sv = pub.read(s);
          if (sv) {
            // Touch the set: under ASan a reclaimed one is a use-after-free.
            volatile size_t n = sv->zs->zones().size();
            (void)n;
            counters[s][sv->vslot].queries.add();
          } else {
            null_reads.fetch_add(1);
          }
          reads.fetch_add(1);
          rcu::quiescent_state();
          std::this_thread::yield();
        }
        rcu::unregister_thread();
      });
  }
  ~Node() {
    stop = true;
    for (auto& t : readers) t.join();
  }
};

}  // namespace

TEST(Registry, SameContentSameVersion) {
  Node n;
  auto a = n.reg.add(build(1));
  auto b = n.reg.add(build(1));
  EXPECT_EQ(a, b);
  EXPECT_EQ(a->hex.size(), 32u);
  EXPECT_EQ(a->label, "t.test.=1");
  EXPECT_EQ(a->records, 5u);
  EXPECT_NE(n.reg.add(build(2))->hex, a->hex);
  EXPECT_EQ(n.reg.versions().size(), 2u);
}

TEST(Registry, CanaryPublishCommitRollbackDrop) {
  Node n;
  auto u = n.reg.add(build(1));
  n.reg.publish_all(u);
  n.reg.commit(u);
  n.start_readers();  // from here on no lcore may ever see nothing
  auto v = n.reg.add(build(2));
  const unsigned canary[] = {5};
  n.reg.publish(v, canary);
  auto served = n.reg.served();
  ASSERT_EQ(served.size(), 2u);
  EXPECT_EQ(served[0].first, 3u);
  EXPECT_EQ(served[0].second, u);
  EXPECT_EQ(served[1].first, 5u);
  EXPECT_EQ(served[1].second, v);
  EXPECT_FALSE(n.reg.served_everywhere(*v));
  const unsigned bad[] = {4};
  try {
    n.reg.publish(v, bad);
    FAIL() << "lcore 4 accepted";
  } catch (const RegistryError& e) {
    EXPECT_EQ(e.code, "bad_lcore");
  }
  EXPECT_EQ(n.reg.served()[0].second, u);  // refused publish changed nothing
  // Counters split per version per lcore.
  while (n.reg.counts(*u, 0).queries == 0 || n.reg.counts(*v, 1).queries == 0)
    std::this_thread::yield();  // each reader has answered at least once since
  EXPECT_GT(n.reg.counts(*u, 0).queries, 0u);
  EXPECT_EQ(n.reg.counts(*v, 0).queries, 0u);
  EXPECT_GT(n.reg.counts(*v, 1).queries, 0u);
  EXPECT_THROW(n.reg.drop(v->hex), RegistryError);  // served
  EXPECT_THROW(n.reg.drop(u->hex), RegistryError);  // committed
  n.reg.publish_all(v);
  n.reg.commit(v);
  EXPECT_EQ(n.reg.committed(), v);
  EXPECT_EQ(n.reg.previous_committed(), u);
  n.reg.drop(u->hex);
  EXPECT_EQ(n.reg.previous_committed(), nullptr);
  EXPECT_EQ(n.reg.find(u->hex), nullptr);
  EXPECT_EQ(n.null_reads.load(), 0);
}

TEST(Registry, EvictsOldestUnpinnedAndReusesCounterSlots) {
  Node n;
  n.start_readers();
  auto c = n.reg.add(build(1));
  n.reg.publish_all(c);
  n.reg.commit(c);
  size_t free0 = n.reg.free_counter_slots();
  std::weak_ptr<const Version> oldest;
  for (int i = 2; i < 2 + 3 * int(kVersionSlots); ++i) {
    auto v = n.reg.add(build(i));
    if (i == 2) oldest = v;
    n.reg.publish_all(v);  // the previously served one becomes unpinned
    EXPECT_LE(n.reg.versions().size(), kMaxHeldVersions + 1);
  }
  EXPECT_NE(n.reg.find(c->hex), nullptr);  // committed: never evicted
  EXPECT_TRUE(oldest.expired());
  // Slots of evicted versions came back (held versions keep theirs).
  EXPECT_EQ(n.reg.free_counter_slots() + n.reg.versions().size(), free0 + 1);
}

TEST(Registry, ReplacedVersionFreedOnlyAfterGracePeriod) {
  Node n;
  n.start_readers();
  std::weak_ptr<const zones::ZoneSet> first;
  for (int i = 1; i <= 200; ++i) {
    auto zs = build(i);
    if (i == 1) first = zs;
    auto v = n.reg.add(std::move(zs));
    long r = n.reads.load();
    while (n.reads.load() < r + 2) std::this_thread::yield();
    n.reg.publish_all(v);
  }
  EXPECT_TRUE(first.expired());
  EXPECT_LE(n.reg.versions().size(), kMaxHeldVersions);
}

TEST(Registry, BuildReportsFileAndLine) {
  std::string bad =
      "$ORIGIN x.test.\n@ 300 IN SOA a b 1 2 3 4 5\n@ 300 IN NS a\na 300 IN A 1.2.3\n";
  ZoneText zt{"", "bad.zone", bad};
  BuildResult r = build_zone_set(std::span<const ZoneText>(&zt, 1));
  EXPECT_FALSE(r.ok());
  bool found = false;
  for (const auto& d : r.diagnostics) found |= d.is_error() && d.file == "bad.zone" && d.line == 4;
  EXPECT_TRUE(found);
  std::string inc = "$ORIGIN x.test.\n$INCLUDE /etc/passwd\n";
  ZoneText zi{"", "inc.zone", inc};
  EXPECT_FALSE(build_zone_set(std::span<const ZoneText>(&zi, 1)).ok());  // no local files
}

namespace {

json req(const std::string& cmd, json args = json::object()) {
  args["v"] = 1;
  args["cmd"] = cmd;
  args["id"] = cmd;
  return args;
}

json upload_req(int n) {
  return req("upload", {{"zones", {{{"file", "t.zone"}, {"text", zone(n)}}}}});
}

}  // namespace

TEST(Agent, CommandsThroughTheHandler) {
  Node n;
  n.start_readers();
  std::vector<std::string> persisted;
  AgentHooks hooks;
  hooks.persist = [&](const Version& v, std::span<const zones::LkgDelta>) {
    persisted.push_back(v.hex);
  };
  ControlAgent agent(n.reg, hooks);

  json r = agent.handle(upload_req(1));
  ASSERT_TRUE(r["ok"]) << r;
  std::string v1 = r["version"];
  EXPECT_EQ(r["label"], "t.test.=1");
  EXPECT_EQ(r["id"], "upload");
  EXPECT_EQ(r["v"], 1);
  r = agent.handle(req("commit", {{"version", v1}}));
  EXPECT_FALSE(r["ok"]) << r;  // not served yet
  r = agent.handle(req("publish", {{"version", v1}}));
  ASSERT_TRUE(r["ok"]) << r;
  EXPECT_EQ(r["served"]["3"], v1);
  EXPECT_EQ(r["served"]["5"], v1);
  r = agent.handle(req("commit", {{"version", v1}}));
  ASSERT_TRUE(r["ok"]) << r;
  EXPECT_EQ(persisted, std::vector<std::string>{v1});

  // A bad upload: invalid_zone with file:line, nothing kept or served.
  r = agent.handle(req(
      "upload", {{"zones",
                  {{{"file", "b.zone"},
                    {"text", "$ORIGIN b.test.\n@ 1 IN SOA a b 1 2 3 4 5\nx 1 IN A nope\n"}}}}}));
  EXPECT_FALSE(r["ok"]);
  EXPECT_EQ(r["code"], "invalid_zone");
  ASSERT_TRUE(r["diagnostics"].is_array());
  EXPECT_EQ(r["diagnostics"][0]["file"], "b.zone");
  EXPECT_EQ(n.reg.versions().size(), 1u);

  // Canary on lcore 5, then status shows it.
  std::string v2 = agent.handle(upload_req(2))["version"];
  r = agent.handle(req("publish", {{"version", v2}, {"lcores", {5}}}));
  ASSERT_TRUE(r["ok"]) << r;
  EXPECT_EQ(r["served"]["3"], v1);
  EXPECT_EQ(r["served"]["5"], v2);
  r = agent.handle(req("publish", {{"version", v2}, {"lcores", {9}}}));
  EXPECT_EQ(r["code"], "bad_lcore");
  r = agent.handle(req("status"));
  ASSERT_TRUE(r["ok"]);
  EXPECT_EQ(r["committed"], v1);
  EXPECT_EQ(r["lcores"][1]["version"], v2);
  EXPECT_EQ(r["versions"].size(), 2u);
  // Rollback (default: the committed version) undoes the canary.
  r = agent.handle(req("rollback"));
  ASSERT_TRUE(r["ok"]) << r;
  EXPECT_EQ(r["served"]["5"], v1);
  // Hello, health, drop, unknown versions, bad requests.
  r = agent.handle(req("hello"));
  EXPECT_EQ(r["protocol"], 1);
  EXPECT_EQ(r["lcores"], json({3, 5}));
  EXPECT_TRUE(agent.handle(req("health"))["ok"]);
  EXPECT_EQ(agent.handle(req("drop", {{"version", v1}}))["code"], "bad_request");  // committed
  EXPECT_TRUE(agent.handle(req("drop", {{"version", v2}}))["ok"]);
  EXPECT_EQ(agent.handle(req("publish", {{"version", v2}}))["code"], "unknown_version");
  EXPECT_EQ(agent.handle(req("frobnicate"))["code"], "bad_request");
  EXPECT_EQ(agent.handle(json{{"cmd", "hello"}})["code"], "bad_request");  // no "v"
  EXPECT_EQ(agent.handle(req("upload", {{"zones", 7}}))["code"], "bad_request");
  EXPECT_EQ(agent.handle(req("publish", {{"version", 7}}))["code"], "bad_request");
  EXPECT_EQ(agent.handle_frame("[1,2]")["code"], "bad_request");
  EXPECT_EQ(agent.handle_frame("{nope")["code"], "bad_request");
  // A delta on an unknown base is refused.
  EXPECT_EQ(agent.handle(
                req("delta", {{"base", std::string(32, '0')}, {"changes", json::array()}}))["code"],
            "base_mismatch");

  // A failing persist refuses the commit and changes nothing.
  AgentHooks failing;
  failing.persist = [](const Version&, std::span<const zones::LkgDelta>) {
    throw std::runtime_error("disk full");
  };
  ControlAgent agent2(n.reg, failing);
  std::string v3 = agent2.handle(upload_req(3))["version"];
  ASSERT_TRUE(agent2.handle(req("publish", {{"version", v3}}))["ok"]);
  r = agent2.handle(req("commit", {{"version", v3}}));
  EXPECT_EQ(r["code"], "state_io");
  EXPECT_EQ(n.reg.committed()->hex, v1);
}

TEST(Agent, SocketSurvivesBadClients) {
  Node n;
  n.start_readers();
  ControlAgent agent(n.reg, {});
  char dir[] = "/tmp/edgedns-agent-test.XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  std::string path = std::string(dir) + "/c.sock";
  agent.start(path);
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_THROW(ControlAgent(n.reg, {}).start(path), std::runtime_error);  // live socket kept

  std::string err;
  // Garbage, a frame cut in the middle, a client gone without a word.
  for (int i = 0; i < 3; ++i) {
    int fd = proto::connect_unix(path, &err);
    ASSERT_GE(fd, 0) << err;
    if (i == 0) {
      ASSERT_TRUE(proto::write_frame(fd, "this is not json"));
      std::string f;
      ASSERT_EQ(proto::read_frame(fd, f), proto::IoStatus::Ok);
      EXPECT_EQ(json::parse(f)["code"], "bad_request");
    } else if (i == 1) {
      const char half[] = "\0\0\1\0{\"v\":1,\"cmd\":\"upl";
      ASSERT_EQ(::write(fd, half, sizeof half - 1), ssize_t(sizeof half - 1));
    }
    ::close(fd);
  }
  // An oversized length is answered and the connection closed.
  {
    int fd = proto::connect_unix(path, &err);
    ASSERT_GE(fd, 0);
    const unsigned char big[] = {0xff, 0xff, 0xff, 0xff};
    ASSERT_EQ(::write(fd, big, 4), 4);
    std::string f;
    ASSERT_EQ(proto::read_frame(fd, f), proto::IoStatus::Ok);
    EXPECT_EQ(json::parse(f)["code"], "bad_request");
    EXPECT_EQ(proto::read_frame(fd, f), proto::IoStatus::Closed);
    ::close(fd);
  }
  // A later client works and sees where things stand.
  int fd = proto::connect_unix(path, &err);
  ASSERT_GE(fd, 0);
  json r = proto::call(fd, upload_req(7));
  ASSERT_TRUE(r["ok"]) << r;
  r = proto::call(fd, req("publish", {{"version", r["version"]}}));
  ASSERT_TRUE(r["ok"]) << r;
  r = proto::call(fd, req("hello"));
  EXPECT_EQ(r["served"]["3"], r["served"]["5"]);
  EXPECT_EQ(n.reg.versions().size(), 1u);  // nothing from the bad clients
  ::close(fd);
  agent.stop();
  EXPECT_NE(stat(path.c_str(), &st), 0);  // removed on stop
  rmdir(dir);
}

// `edgectl serve` sends publish P, times out and closes its connection, then
// sends rollback R on a new one. P must not land afterwards: a request whose
// client has gone is dropped. A commit blocked in the persist hook holds the
// command mutex while P is queued (and its client closes) and R is sent.
// R, a rollback without "to", tells whether P was applied whatever the order
// the two waiting threads take the mutex in: with v1 committed (v0 before
// it) and served everywhere, R goes back to v0; had P (publish v2) landed
// first, v1 would no longer be served everywhere and R would restore v1; had
// P landed after R, v2 would be served. Only v0 everywhere means P was dropped.
TEST(Agent, RequestOfAClientThatLeftIsNotApplied) {
  Node n;
  n.start_readers();
  std::mutex mu;
  std::condition_variable cv;
  bool hold = false, held = false, release = false;
  std::vector<std::string> logged;
  AgentHooks hooks;
  hooks.log = [&](const std::string& line) {
    std::lock_guard lock(mu);
    logged.push_back(line);
  };
  hooks.persist = [&](const Version&, std::span<const zones::LkgDelta>) {
    std::unique_lock lock(mu);
    if (!hold) return;
    held = true;
    cv.notify_all();
    cv.wait(lock, [&] { return release; });
  };
  ControlAgent agent(n.reg, hooks);
  char dir[] = "/tmp/edgedns-agent-test.XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string path = std::string(dir) + "/c.sock";
  agent.start(path);

  std::string v0 = agent.handle(upload_req(0))["version"],
              v1 = agent.handle(upload_req(1))["version"],
              v2 = agent.handle(upload_req(2))["version"];
  ASSERT_TRUE(agent.handle(req("publish", {{"version", v0}}))["ok"]);
  ASSERT_TRUE(agent.handle(req("commit", {{"version", v0}}))["ok"]);
  ASSERT_TRUE(agent.handle(req("publish", {{"version", v1}}))["ok"]);
  {
    std::lock_guard lock(mu);
    hold = true;
  }
  std::string err;
  int a = proto::connect_unix(path, &err);
  ASSERT_GE(a, 0) << err;
  json commit_reply;
  std::thread ta([&] { commit_reply = proto::call(a, req("commit", {{"version", v1}})); });
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(30), [&] { return held; }))
        << "the commit never reached the persist hook";
  }
  // P: sent whole, then its client gives up.
  int b = proto::connect_unix(path, &err);
  ASSERT_GE(b, 0) << err;
  ASSERT_TRUE(proto::write_frame(b, proto::dump_message(req("publish", {{"version", v2}}))));
  ::close(b);
  // R, on a connection opened after P's closed.
  int c = proto::connect_unix(path, &err);
  ASSERT_GE(c, 0) << err;
  json rollback_reply;
  std::thread tc([&] { rollback_reply = proto::call(c, req("rollback")); });
  {
    std::lock_guard lock(mu);
    hold = false;
    release = true;
  }
  cv.notify_all();
  ta.join();
  tc.join();
  ::close(a);
  ::close(c);
  EXPECT_TRUE(commit_reply["ok"]) << commit_reply;
  // Every connection has ended: P has been handled (applied or dropped) by now.
  for (int i = 0; i < 3000 && agent.connections() != 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_EQ(agent.connections(), 0u);
  ASSERT_TRUE(rollback_reply["ok"]) << rollback_reply;
  EXPECT_EQ(rollback_reply["version"], v0)
      << "v1 is " << v1 << ": the publish whose client left landed before the rollback";
  json hello = agent.handle(req("hello"));
  EXPECT_EQ(hello["served"]["3"], v0)
      << "v2 is " << v2 << ": the publish whose client left landed after the rollback";
  EXPECT_EQ(hello["served"]["5"], v0);
  EXPECT_EQ(hello["committed"], v0);
  std::vector<std::string> lines;
  {
    std::lock_guard lock(mu);
    lines = logged;
  }
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0],
            "control: dropped \"publish\" (id \"publish\"): its client closed the connection "
            "before it was applied");
  agent.stop();
  rmdir(dir);
}

// Fencing: a state-changing request with an "epoch" lower than the highest
// one applied is refused with "stale" and changes nothing; equal and higher
// epochs and requests without one are applied; a refused or failed request
// does not raise the epoch; read-only commands are never fenced.
TEST(Agent, EpochFencesStaleRequests) {
  Node n;
  ControlAgent agent(n.reg, {});
  std::string v1 = agent.handle(upload_req(1))["version"],
              v2 = agent.handle(upload_req(2))["version"];
  EXPECT_EQ(agent.handle(req("hello"))["epoch"], nullptr);
  json r = agent.handle(req("publish", {{"version", v1}, {"epoch", 5}}));
  ASSERT_TRUE(r["ok"]) << r;
  EXPECT_EQ(agent.handle(req("hello"))["epoch"], 5);
  r = agent.handle(req("publish", {{"version", v2}, {"epoch", 4}}));
  EXPECT_EQ(r["code"], "stale") << r;
  EXPECT_EQ(r["error"], "epoch 4 is older than epoch 5, already applied; not applied");
  EXPECT_EQ(agent.handle(req("hello"))["served"]["3"], v1);
  EXPECT_EQ(agent.handle(req("commit", {{"version", v1}, {"epoch", 3}}))["code"], "stale");
  EXPECT_EQ(n.reg.committed(), nullptr);
  EXPECT_EQ(agent.handle(req("upload", {{"zones", {{{"file", "t.zone"}, {"text", zone(3)}}}},
                                        {"epoch", 1}}))["code"],
            "stale");
  EXPECT_EQ(n.reg.versions().size(), 2u);
  // A failure with a higher epoch does not move the fence.
  EXPECT_EQ(agent.handle(req("publish", {{"version", std::string(32, '0')}, {"epoch", 9}}))["code"],
            "unknown_version");
  EXPECT_TRUE(agent.handle(req("commit", {{"version", v1}, {"epoch", 5}}))["ok"]);
  EXPECT_TRUE(agent.handle(req("publish", {{"version", v2}}))["ok"]);  // unfenced
  EXPECT_TRUE(agent.handle(req("status", {{"epoch", 1}}))["ok"]);      // read-only
  EXPECT_EQ(agent.handle(req("status"))["epoch"], 5);
  r = agent.handle(req("rollback", {{"epoch", 7}}));
  ASSERT_TRUE(r["ok"]) << r;
  EXPECT_EQ(r["version"], v1);
  EXPECT_EQ(agent.handle(req("drop", {{"version", v2}, {"epoch", 6}}))["code"], "stale");
  EXPECT_EQ(agent.handle(req("drop", {{"version", v2}, {"epoch", "7"}}))["code"], "bad_request");
  EXPECT_EQ(agent.handle(req("drop", {{"version", v2}, {"epoch", -1}}))["code"], "bad_request");
  EXPECT_TRUE(agent.handle(req("drop", {{"version", v2}, {"epoch", 7}}))["ok"]);
}

// The swap path of agent_swap.sh (uploads, deltas, publishes) with readers
// running: under -Db_sanitize=address this is the leak/use-after-free check.
TEST(Agent, UploadDeltaPublishLoop) {
  Node n;
  ControlAgent agent(n.reg, {});
  json r = agent.handle(upload_req(1));
  ASSERT_TRUE(agent.handle(req("publish", {{"version", r["version"]}}))["ok"]);
  n.start_readers();
  std::string cur = r["version"];
  int v = 1;
  for (int i = 0; i < 150; ++i, ++v) {
    if (i % 2 == 0) {
      r = agent.handle(upload_req(v + 1));
    } else {
      char a[64], b[64];
      std::snprintf(a, sizeof a, "v%d.t.test. 300 IN A 198.19.%d.%d", v, (v >> 8) & 255, v & 255);
      std::snprintf(b, sizeof b, "v%d.t.test. 300 IN A 198.19.%d.%d", v + 1, ((v + 1) >> 8) & 255,
                    (v + 1) & 255);
      json ch = json::array();
      ch.push_back(
          {{"op", "del"}, {"rr", "www.t.test. 300 IN CNAME v" + std::to_string(v) + ".t.test."}});
      ch.push_back({{"op", "add"},
                    {"rr", "www.t.test. 300 IN CNAME v" + std::to_string(v + 1) + ".t.test."}});
      ch.push_back({{"op", "del"}, {"rr", a}});
      ch.push_back({{"op", "add"}, {"rr", b}});
      ch.push_back(
          {{"op", "del"},
           {"rr", "t.test. 300 IN SOA ns1.t.test. h.t.test. " + std::to_string(v) + " 1 1 1 1"}});
      ch.push_back({{"op", "add"},
                    {"rr", "t.test. 300 IN SOA ns1.t.test. h.t.test. " + std::to_string(v + 1) +
                               " 1 1 1 1"}});
      r = agent.handle(req("delta", {{"base", cur}, {"changes", ch}}));
    }
    ASSERT_TRUE(r["ok"]) << r;
    EXPECT_EQ(r["label"], "t.test.=" + std::to_string(v + 1));
    cur = r["version"];
    ASSERT_TRUE(agent.handle(req("publish", {{"version", cur}}))["ok"]);
  }
  // A delta deleting what does not exist is refused and changes nothing.
  json bad = agent.handle(
      req("delta",
          {{"base", cur}, {"changes", {{{"op", "del"}, {"rr", "zz.t.test. 300 IN A 1.2.3.4"}}}}}));
  EXPECT_EQ(bad["code"], "bad_request");
  EXPECT_LE(n.reg.versions().size(), kMaxHeldVersions);
  EXPECT_EQ(n.null_reads.load(), 0);
}

namespace {

json delta_req(const std::string& base, int v) {
  json ch = json::array();
  ch.push_back(
      {{"op", "del"},
       {"rr", "t.test. 300 IN SOA ns1.t.test. h.t.test. " + std::to_string(v) + " 1 1 1 1"}});
  ch.push_back(
      {{"op", "add"},
       {"rr", "t.test. 300 IN SOA ns1.t.test. h.t.test. " + std::to_string(v + 1) + " 1 1 1 1"}});
  ch.push_back({{"op", "add"}, {"rr", "n" + std::to_string(v) + ".t.test. 300 IN A 198.18.1.1"}});
  return req("delta", {{"base", base}, {"changes", ch}});
}

}  // namespace

// A commit of a version the agent made from a delta writes that delta to the
// state directory, and a rollback to its base writes the inverse: a small
// change to a big set costs a few hundred bytes of disk per commit.
TEST(Agent, CommitsOfDeltasAreWrittenAsDeltas) {
  edgedns::test::TempDir d("agentlkg");
  Node n;
  AgentHooks hooks;
  hooks.persist = [dir = d.str()](const Version& v, std::span<const zones::LkgDelta> ds) {
    persist_lkg(dir, v, ds);
  };
  ControlAgent agent(n.reg, hooks);
  // Big enough that a delta is well under half of it (smaller sets are
  // cheaper to write whole).
  std::string text = zone(1);
  for (int i = 0; i < 200; ++i) text += "h" + std::to_string(i) + " IN A 198.18.2.1\n";
  json r = agent.handle(req("upload", {{"zones", {{{"file", "t.zone"}, {"text", text}}}}}));
  ASSERT_TRUE(r["ok"]) << r;
  const std::string v1 = r["version"];
  ASSERT_TRUE(agent.handle(req("publish", {{"version", v1}}))["ok"]);
  ASSERT_TRUE(agent.handle(req("commit", {{"version", v1}}))["ok"]);
  EXPECT_EQ(zones::lkg_head(d.str()).deltas, 0u);

  r = agent.handle(delta_req(v1, 1));
  ASSERT_TRUE(r["ok"]) << r;
  const std::string v2 = r["version"];
  ASSERT_TRUE(agent.handle(req("publish", {{"version", v2}}))["ok"]);
  ASSERT_TRUE(agent.handle(req("commit", {{"version", v2}}))["ok"]);
  zones::LkgHead h = zones::lkg_head(d.str());
  EXPECT_EQ(h.version.hex(), v2);
  EXPECT_EQ(h.deltas, 1u);
  EXPECT_EQ(zones::read_newest_lkg(d.str()).version.hex(), v2);

  r = agent.handle(req("rollback"));
  ASSERT_TRUE(r["ok"]) << r;
  EXPECT_EQ(r["committed"], v1);
  h = zones::lkg_head(d.str());
  EXPECT_EQ(h.version.hex(), v1);
  EXPECT_EQ(h.deltas, 2u);  // the inverse, not the whole set
  zones::LkgRead back = zones::read_newest_lkg(d.str());
  EXPECT_EQ(back.version.hex(), v1);
  EXPECT_TRUE(back.skipped.empty());

  // An upload of other content is no delta from what the disk holds: whole.
  r = agent.handle(upload_req(5));
  const std::string v5 = r["version"];
  ASSERT_TRUE(agent.handle(req("publish", {{"version", v5}}))["ok"]);
  ASSERT_TRUE(agent.handle(req("commit", {{"version", v5}}))["ok"]);
  h = zones::lkg_head(d.str());
  EXPECT_EQ(h.version.hex(), v5);
  EXPECT_EQ(h.deltas, 0u);
}
