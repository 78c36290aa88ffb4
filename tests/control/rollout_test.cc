// The rollout engine against fake node agents (tests/control/fake_node.*):
// stage resolution, a good push committed everywhere, a canary with a high
// NXDOMAIN rate stopped at stage 1, a node dying mid-rollout, a probe that
// catches a changed address, rejection before anything is sent, a
// controller restarted mid-rollout resuming (or rolling back) from its
// journal, and probes on 8-lcore nodes (RSS emulated, NSID answered) that
// reach the canary lcore at the lcore stage and fall back on older nodes.
#include "control/rollout.hh"

#include <gtest/gtest.h>

#include <unistd.h>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "control/version_id.hh"
#include "fake_node.hh"

using namespace edgedns;
using namespace edgedns::ctl;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

std::string zone(uint32_t serial, const std::string& www = "192.0.2.80", int hosts = 20,
                 int skip = -1) {
  std::string z = "$ORIGIN example.com.\n$TTL 3600\n";
  z += "@ SOA ns1 hostmaster " + std::to_string(serial) +
       " 7200 900 1209600 300\n@ NS ns1\n@ NS ns2\n";
  z += "ns1 A 192.0.2.53\nns2 A 192.0.2.54\nwww A " + www + "\n";
  for (int i = 0; i < hosts; ++i)
    if (i != skip) z += "h" + std::to_string(i) + " A 192.0.2." + std::to_string(100 + i) + "\n";
  return z;
}

std::string version_of(const std::string& text) {
  std::vector<LoadedZone> v;
  v.push_back(load_zone_text(text, "example.com.zone"));
  return compute_version(v).id;
}

class RolloutTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/edgectl-rollout-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
  }
  void TearDown() override {
    ctl_.reset();
    nodes_.clear();
    fs::remove_all(dir_);
  }

  void make_fleet(int n, bool udp = false, std::vector<int> lcores = {0, 1}) {
    std::string yaml = "nodes:\n";
    for (int i = 0; i < n; ++i) {
      std::string name = "edge-" + std::to_string(i + 1), sock = dir_ + "/" + name + ".sock";
      nodes_.push_back(std::make_unique<test::FakeNode>(name, sock, lcores, initial_, udp));
      nodes_.back()->start();
      yaml += "  - {name: " + name + ", control: " + sock + ", probe: '" +
              (udp ? nodes_.back()->udp_address() : std::string()) +
              "', wave: " + std::to_string(i + 1) + "}\n";
    }
    fleet_ = parse_fleet(yaml, "fleet.yaml");
    prev_ = nodes_[0]->initial_version();
  }

  void start_controller(bool adopt = true) {
    std::vector<std::string> files;
    if (adopt)
      for (size_t i = 0; i < initial_.size(); ++i) {
        files.push_back(dir_ + "/base" + (i ? std::to_string(i) : "") + ".zone");
        std::ofstream(files.back()) << initial_[i].text;
      }
    ctl_ = std::make_unique<Controller>(Controller::Options{fleet_, dir_ + "/state", files});
    ctl_->start();
  }

  json push(const std::string& text, json extra = json::object()) {
    json req = {{"cmd", "push"},
                {"zones", json::array({{{"file", "example.com.zone"}, {"text", text}}})},
                {"policy", policy_}};
    for (auto it = extra.begin(); it != extra.end(); ++it) req[it.key()] = it.value();
    return ctl_->handle(req);
  }

  // A new daemon on the same state directory (and, by default, fleet), as
  // after a restart of edgectl serve.
  void restart_controller() { restart_controller(fleet_); }
  void restart_controller(const Fleet& f) {
    ctl_.reset();
    ctl_ = std::make_unique<Controller>(Controller::Options{f, dir_ + "/state", {}});
    ctl_->start();
  }

  // Bounded wait for the engine to finish (no timing is asserted).
  json wait_done(uint64_t id) {
    for (int i = 0; i < 2000; ++i) {
      json r = ctl_->handle({{"cmd", "rollout"}, {"rollout", id}});
      std::string st = r["rollout"].value("state", "");
      if (st == "committed" || st == "rolled_back") return r["rollout"];
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ADD_FAILURE() << "rollout did not finish";
    return json();
  }

  void wait_stage(uint64_t id, size_t stage) {
    for (int i = 0; i < 2000; ++i) {
      json r = ctl_->handle({{"cmd", "rollout"}, {"rollout", id}});
      if (r["rollout"].value("stage", size_t(0)) >= stage &&
          r["rollout"].value("state", "") == "running" && !r["rollout"]["verdicts"].empty())
        return;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ADD_FAILURE() << "stage " << stage << " not reached";
  }

  // Every verdict line the rollout showed.
  std::vector<std::string> verdict_lines(uint64_t id) {
    std::vector<std::string> out;
    json ev = ctl_->handle({{"cmd", "rollout"}, {"rollout", id}});
    for (const auto& e : ev["events"])
      if (e["ev"] == "verdicts")
        for (const auto& v : e["verdicts"]) out.push_back(v.get<std::string>());
    return out;
  }

  std::string dir_;
  // What every node serves and the controller adopts at the start.
  std::vector<test::FakeNode::ZoneText> initial_ = {{"example.com.zone", zone(1)}};
  std::vector<std::unique_ptr<test::FakeNode>> nodes_;
  Fleet fleet_;
  std::string prev_;
  std::unique_ptr<Controller> ctl_;
  std::string policy_ = R"(stages:
  - {name: canary-lcore, scope: lcore, bake_s: 0.3}
  - {name: canary-node, scope: node, bake_s: 0.3}
  - {name: next-wave, scope: wave, bake_s: 0.3}
  - {name: all, scope: all, bake_s: 0.3}
health:
  interval_s: 0.05
  min_queries: 100
  probe_timeout_s: 0.5
)";
};

}  // namespace

TEST(ResolveStages, DefaultPolicyOnThreeNodesInTwoWaves) {
  Fleet f = parse_fleet(
      "nodes:\n  - {name: a, control: /a, probe: x, wave: 1}\n  - {name: b, control: /b, probe: y, "
      "wave: 2}\n"
      "  - {name: c, control: /c, probe: z, wave: 2}\n",
      "f");
  auto st = resolve_stages(default_policy(), f, {{"a", {1, 2}}, {"b", {1, 2}}, {"c", {1, 2}}}, 5.0);
  ASSERT_EQ(st.size(), 3u);  // "next wave" is wave 2 = everything, so "all" adds nothing
  ASSERT_EQ(st[0].targets.size(), 1u);
  EXPECT_EQ(st[0].targets[0].node, "a");
  EXPECT_EQ(st[0].targets[0].lcores, std::vector<int>{1});
  EXPECT_TRUE(st[1].targets[0].lcores.empty());
  EXPECT_EQ(st[2].targets.size(), 3u);
  EXPECT_DOUBLE_EQ(st[2].bake_s, 5.0);
  // A single-lcore first node: "one lcore" already is "the whole node".
  auto one =
      resolve_stages(default_policy(), f, {{"a", {1}}, {"b", {1}}, {"c", {1}}}, std::nullopt);
  ASSERT_EQ(one.size(), 2u);
  EXPECT_EQ(one[0].name, "canary-lcore");
  EXPECT_TRUE(one[0].targets[0].lcores.empty());
  EXPECT_EQ(one[1].targets.size(), 3u);
}

TEST_F(RolloutTest, GoodPushIsCommittedEverywhere) {
  make_fleet(3);
  start_controller();
  std::string next = zone(2, "192.0.2.81");
  json r = push(next);
  ASSERT_TRUE(r.value("ok", false)) << r.dump();
  EXPECT_EQ(r["version"], version_of(next));
  EXPECT_EQ(r["previous"], prev_);
  json done = wait_done(r["rollout"]);
  EXPECT_EQ(done["state"], "committed") << done.dump();
  for (auto& n : nodes_) {
    EXPECT_EQ(n->committed(), version_of(next));
    for (const auto& [l, v] : n->served()) EXPECT_EQ(v, version_of(next)) << "lcore " << l;
  }
  json st = ctl_->handle({{"cmd", "status"}});
  EXPECT_EQ(st["committed"], version_of(next));
  // The next push is judged against what was just committed.
  EXPECT_EQ(push(next)["code"], "no_change");
  json again = push(zone(2, "192.0.2.99"));  // changed, same serial: the serial gate
  EXPECT_EQ(again["code"], "rejected");
  EXPECT_EQ(again["rejections"][0]["rule"], "serial");
  json older = push(zone(1, "192.0.2.82"));
  EXPECT_EQ(older["code"], "rejected") << older.dump();
  EXPECT_EQ(older["rejections"][0]["rule"], "serial");
}

TEST_F(RolloutTest, RejectedPushSendsNothing) {
  make_fleet(2);
  start_controller();
  json r = push(zone(2, "192.0.2.80", 12));  // 8 of 24 names removed
  ASSERT_EQ(r["code"], "rejected") << r.dump();
  EXPECT_EQ(r["rejections"][0]["rule"], "blast-radius");
  EXPECT_NE(r["error"].get<std::string>().find("of names removed (8 of 24) exceeds 10.0%"),
            std::string::npos)
      << r.dump();
  for (auto& n : nodes_)
    for (const auto& c : n->commands()) EXPECT_TRUE(c == "hello" || c == "status") << c;
  json bad = push("$ORIGIN example.com.\n@ 60 NS ns1\n");
  EXPECT_EQ(bad["code"], "rejected");
}

TEST_F(RolloutTest, CanaryWithHighNxdomainRateIsRolledBackAtStageOne) {
  make_fleet(3);
  std::string next = zone(2, "192.0.2.80", 20, 7);  // h7 removed: 1 of 24 names, below the limit
  std::string v = version_of(next);
  for (auto& n : nodes_)
    n->set_traffic([v](int, const std::string& ver) {
      Counters c;
      c.queries = 1000;
      c.nxdomain = ver == v ? 60 : 1;  // the live load keeps asking for h7
      c.noerror = c.queries - c.nxdomain;
      return c;
    });
  start_controller();
  json r = push(next);
  ASSERT_TRUE(r.value("ok", false)) << r.dump();
  json done = wait_done(r["rollout"]);
  EXPECT_EQ(done["state"], "rolled_back");
  EXPECT_EQ(done["stage"], 0) << done.dump();
  EXPECT_NE(done["reason"].get<std::string>().find("nxdomain rate"), std::string::npos)
      << done.dump();
  EXPECT_TRUE(nodes_[0]->ever_served().count(v));
  for (size_t i = 1; i < nodes_.size(); ++i) EXPECT_FALSE(nodes_[i]->ever_served().count(v)) << i;
  for (auto& n : nodes_) {
    EXPECT_EQ(n->committed(), prev_);
    for (const auto& [l, s] : n->served()) EXPECT_EQ(s, prev_);
  }
  // A rolled-back version is not accepted again.
  json again = push(next);
  EXPECT_EQ(again["code"], "rejected");
  EXPECT_EQ(again["rejections"][0]["rule"], "known-bad");
  json h = ctl_->handle({{"cmd", "history"}});
  ASSERT_EQ(h["rollouts"].size(), 1u);
  EXPECT_EQ(h["rollouts"][0]["state"], "rolled_back");
}

TEST_F(RolloutTest, NodeDeathMidRolloutRollsBack) {
  make_fleet(3);
  policy_ += "stages:\n";  // placeholder replaced below
  policy_ = R"(stages:
  - {name: canary-lcore, scope: lcore, bake_s: 30}
  - {name: all, scope: all, bake_s: 0.2}
health:
  interval_s: 0.05
)";
  start_controller();
  std::string next = zone(2, "192.0.2.81");
  json r = push(next);
  ASSERT_TRUE(r.value("ok", false)) << r.dump();
  wait_stage(r["rollout"], 0);
  nodes_[2]->stop();
  json done = wait_done(r["rollout"]);
  EXPECT_EQ(done["state"], "rolled_back");
  EXPECT_NE(done["reason"].get<std::string>().find("edge-3"), std::string::npos) << done.dump();
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(nodes_[i]->committed(), prev_);
    for (const auto& [l, s] : nodes_[i]->served()) EXPECT_EQ(s, prev_);
  }
  // The dead node comes back on its last-known-good: the previous version.
  nodes_[2]->restart();
  for (const auto& [l, s] : nodes_[2]->served()) EXPECT_EQ(s, prev_);
}

TEST_F(RolloutTest, ProbeCatchesAChangedAddressAtStageOne) {
  make_fleet(2, /*udp=*/true);
  std::ofstream(dir_ + "/probes")
      << "www.example.com. A NOERROR 192.0.2.80\nnope.example.com. A NXDOMAIN\n";
  start_controller();
  std::string next = zone(2, "192.0.2.66");
  json r = push(
      next, {{"probes", "www.example.com. A NOERROR 192.0.2.80\nnope.example.com. A NXDOMAIN\n"},
             {"probes_file", "probes"}});
  ASSERT_TRUE(r.value("ok", false)) << r.dump();
  json done = wait_done(r["rollout"]);
  EXPECT_EQ(done["state"], "rolled_back");
  EXPECT_EQ(done["stage"], 0);
  EXPECT_NE(done["reason"].get<std::string>().find("probes:1"), std::string::npos) << done.dump();
  EXPECT_NE(done["reason"].get<std::string>().find("192.0.2.66"), std::string::npos) << done.dump();
  EXPECT_FALSE(nodes_[1]->ever_served().count(version_of(next)));
  for (auto& n : nodes_) EXPECT_EQ(n->committed(), prev_);
}

TEST_F(RolloutTest, AutomaticProbesPassForUntouchedNames) {
  make_fleet(2, /*udp=*/true);
  start_controller();
  std::string next = zone(2, "192.0.2.80", 21);  // adds h20 only
  json r = push(next);
  ASSERT_TRUE(r.value("ok", false)) << r.dump();
  json done = wait_done(r["rollout"]);
  EXPECT_EQ(done["state"], "committed") << done.dump();
  json ev = ctl_->handle({{"cmd", "rollout"}, {"rollout", r["rollout"]}});
  bool saw_probes = false;
  for (const auto& e : ev["events"])
    if (e["ev"] == "verdicts")
      for (const auto& v : e["verdicts"])
        saw_probes |= v.get<std::string>().rfind("probes: ", 0) == 0;
  EXPECT_TRUE(saw_probes);
}

TEST_F(RolloutTest, RestartMidRolloutResumesFromTheJournal) {
  make_fleet(2);
  policy_ = R"(stages:
  - {name: canary-lcore, scope: lcore, bake_s: 0.5}
  - {name: all, scope: all, bake_s: 0.2}
health:
  interval_s: 0.05
)";
  start_controller();
  std::string next = zone(2, "192.0.2.81");
  std::string v = version_of(next);
  json r = push(next);
  ASSERT_TRUE(r.value("ok", false));
  wait_stage(r["rollout"], 0);
  ctl_.reset();  // the daemon goes away mid-stage
  EXPECT_TRUE(nodes_[0]->ever_served().count(v));
  // Nodes keep serving what they serve; a new controller picks the rollout up.
  restart_controller();
  json done = wait_done(r["rollout"]);
  EXPECT_EQ(done["state"], "committed") << done.dump();
  for (auto& n : nodes_) EXPECT_EQ(n->committed(), v);
}

TEST_F(RolloutTest, RestartWithOnRestartRollbackRollsBack) {
  make_fleet(2);
  policy_ = R"(stages:
  - {name: canary-lcore, scope: lcore, bake_s: 30}
  - {name: all, scope: all, bake_s: 0.2}
health:
  interval_s: 0.05
on_restart: rollback
)";
  start_controller();
  json r = push(zone(2, "192.0.2.81"));
  ASSERT_TRUE(r.value("ok", false));
  wait_stage(r["rollout"], 0);
  ctl_.reset();
  restart_controller();
  json done = wait_done(r["rollout"]);
  EXPECT_EQ(done["state"], "rolled_back");
  EXPECT_NE(done["reason"].get<std::string>().find("restarted"), std::string::npos);
  for (auto& n : nodes_) {
    EXPECT_EQ(n->committed(), prev_);
    for (const auto& [l, s] : n->served()) EXPECT_EQ(s, prev_);
  }
}

TEST_F(RolloutTest, AbortRollsBack) {
  make_fleet(2);
  policy_ =
      "stages:\n  - {scope: lcore, bake_s: 30}\n  - {scope: all, bake_s: 0.1}\nhealth: "
      "{interval_s: 0.05}\n";
  start_controller();
  json r = push(zone(2, "192.0.2.81"));
  ASSERT_TRUE(r.value("ok", false));
  wait_stage(r["rollout"], 0);
  EXPECT_TRUE(ctl_->handle({{"cmd", "pause"}}).value("ok", false));
  EXPECT_EQ(push(zone(3))["code"], "busy");
  EXPECT_TRUE(ctl_->handle({{"cmd", "abort"}}).value("ok", false));
  json done = wait_done(r["rollout"]);
  EXPECT_EQ(done["state"], "rolled_back");
  EXPECT_NE(done["reason"].get<std::string>().find("aborted"), std::string::npos);
  for (auto& n : nodes_) EXPECT_EQ(n->committed(), prev_);
}

// ---------------------------------------------------------------------------
// Rollout safety: "rolled back" and "committed" must be what the fleet holds.

namespace {

Counters traffic(uint64_t queries, uint64_t nxdomain) {
  Counters c;
  c.queries = queries;
  c.nxdomain = nxdomain;
  c.noerror = queries - nxdomain;
  return c;
}

// Every lcore of every node serves `v` and the node has committed it.
::testing::AssertionResult fleet_on(const std::vector<std::unique_ptr<test::FakeNode>>& nodes,
                                    const std::string& v) {
  for (const auto& n : nodes) {
    if (n->committed() != v)
      return ::testing::AssertionFailure() << "a node has committed " << n->committed();
    for (const auto& [l, s] : n->served())
      if (s != v) return ::testing::AssertionFailure() << "lcore " << l << " serves " << s;
  }
  return ::testing::AssertionSuccess();
}

template <class F>
bool eventually(F f, int tries = 1500) {
  for (int i = 0; i < tries; ++i) {
    if (f()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

}  // namespace

// Case: serve started before its nodes, so no committed version was learned
// at start-up; a bad canary must still be rolled back to what nodes served.
TEST_F(RolloutTest, RollbackWorksWhenServeStartedBeforeItsNodes) {
  make_fleet(3);
  std::string next = zone(2, "192.0.2.80", 20, 7);
  std::string v = version_of(next);
  for (auto& n : nodes_)
    n->set_traffic([v](int, const std::string& ver) { return traffic(1000, ver == v ? 60 : 1); });
  for (auto& n : nodes_) n->stop();
  start_controller(/*adopt=*/false);
  for (auto& n : nodes_) n->restart();
  json r = push(next);
  ASSERT_TRUE(r.value("ok", false)) << r.dump();
  EXPECT_EQ(r["previous"], prev_) << "the rollback target is what every node has committed";
  json done = wait_done(r["rollout"]);
  EXPECT_EQ(done["state"], "rolled_back") << done.dump();
  EXPECT_TRUE(nodes_[0]->ever_served().count(v));
  EXPECT_TRUE(fleet_on(nodes_, prev_));
}

// Nodes that disagree leave no rollback target: the push is refused, not
// rolled out with nothing to go back to.
TEST_F(RolloutTest, PushIsRefusedWhenTheFleetHasNoSingleCommittedVersion) {
  make_fleet(2);
  {
    NodeClient c("edge-2", dir_ + "/edge-2.sock");
    std::vector<ZoneUpload> z{{"example.com.", "example.com.zone", zone(5, "192.0.2.99")}};
    std::string other = c.upload(z).version;
    c.publish(other);
    c.commit(other);
  }
  start_controller(/*adopt=*/false);
  json r = push(zone(6));
  EXPECT_EQ(r["code"], "no_baseline") << r.dump();
  EXPECT_NE(r["error"].get<std::string>().find("edge-2"), std::string::npos) << r.dump();
  for (const auto& c : nodes_[0]->commands()) EXPECT_NE(c, "publish");
}

// Case: a node that could not be rolled back (down) is repaired when it is
// back, at any time, not only when serve starts again; its last-known-good
// is the rolled-back-to version afterwards.
TEST_F(RolloutTest, ReconcilerRepairsANodeThatMissedTheRollback) {
  make_fleet(3);
  policy_ = "stages:\n  - {scope: all, bake_s: 0.1}\nhealth: {interval_s: 0.05}\n";
  start_controller();
  std::string next = zone(2, "192.0.2.81");
  std::string v2 = version_of(next);
  json r = push(next);
  ASSERT_TRUE(r.value("ok", false)) << r.dump();
  ASSERT_EQ(wait_done(r["rollout"])["state"], "committed");
  nodes_[2]->stop();
  json rb = ctl_->handle({{"cmd", "rollback"}});
  ASSERT_TRUE(rb.value("ok", false)) << rb.dump();
  EXPECT_EQ(rb["to"], prev_);
  ASSERT_TRUE(eventually([&] { return ctl_->idle(); }));
  json st = ctl_->handle({{"cmd", "status"}});
  ASSERT_EQ(st["pending"].size(), 1u) << st.dump();
  EXPECT_EQ(st["pending"][0]["node"], "edge-3");
  // Back on its last-known-good: the version the operator rolled away from.
  nodes_[2]->restart();
  EXPECT_EQ(nodes_[2]->committed(), v2);
  EXPECT_TRUE(eventually([&] { return bool(fleet_on(nodes_, prev_)); }))
      << fleet_on(nodes_, prev_).message();
  EXPECT_TRUE(eventually([&] {
    json s = ctl_->handle({{"cmd", "status"}});
    return s["pending"].is_array() && s["pending"].empty();
  }));
}

// Case: a push validated while a manual rollback starts must not start a
// rollout whose "previous" is the version the operator rolled away from.
TEST_F(RolloutTest, PushValidatedDuringAManualRollbackIsRefused) {
  make_fleet(2);
  policy_ = "stages:\n  - {scope: all, bake_s: 0.1}\nhealth: {interval_s: 0.05}\n";
  start_controller();
  std::string v2 = version_of(zone(2, "192.0.2.81"));
  json r = push(zone(2, "192.0.2.81"));
  ASSERT_TRUE(r.value("ok", false)) << r.dump();
  ASSERT_EQ(wait_done(r["rollout"])["state"], "committed");
  // A validator that waits for the test: the push is mid-validation while
  // the operator rolls back to the first version.
  std::string gate = dir_ + "/gate", entered = dir_ + "/entered";
  std::ofstream(dir_ + "/validator.sh")
      << "#!/bin/sh\ntouch " << entered << "\nwhile [ ! -e " << gate << " ]; do sleep 0.02; done\n";
  fs::permissions(dir_ + "/validator.sh", fs::perms::owner_all);
  std::string pol =
      "stages:\n  - {scope: all, bake_s: 0.1}\nhealth: {interval_s: 0.05}\n"
      "gates: {validator: " +
      dir_ + "/validator.sh}\n";
  json pushed;
  std::thread t([&] {
    pushed = ctl_->handle(
        {{"cmd", "push"},
         {"zones", json::array({{{"file", "example.com.zone"}, {"text", zone(3, "192.0.2.82")}}})},
         {"policy", pol}});
  });
  ASSERT_TRUE(eventually([&] { return fs::exists(entered); }));
  json rb = ctl_->handle({{"cmd", "rollback"}});
  ASSERT_TRUE(rb.value("ok", false)) << rb.dump();
  ASSERT_TRUE(eventually([&] { return ctl_->idle(); }));
  std::ofstream(gate) << "";
  t.join();
  if (pushed.value("ok", false)) {
    // Accepted only if judged against what the fleet now holds.
    EXPECT_EQ(pushed["previous"], prev_) << pushed.dump();
  } else {
    EXPECT_EQ(pushed["code"], "busy") << pushed.dump();
  }
  EXPECT_NE(pushed.value("previous", ""), v2) << pushed.dump();
}

// Case: an abort during the commit phase stops the commit and rolls back.
TEST_F(RolloutTest, AbortDuringTheCommitPhaseRollsBack) {
  make_fleet(3);
  policy_ = "stages:\n  - {scope: all, bake_s: 0.1}\nhealth: {interval_s: 0.05}\n";
  start_controller();
  for (auto& n : nodes_) n->delay_command("commit", 400);
  json r = push(zone(2, "192.0.2.81"));
  ASSERT_TRUE(r.value("ok", false)) << r.dump();
  ASSERT_TRUE(eventually([&] {
    return ctl_->handle({{"cmd", "rollout"}, {"rollout", r["rollout"]}})["rollout"]["state"] ==
           "committing";
  }));
  json a = ctl_->handle({{"cmd", "abort"}});
  EXPECT_TRUE(a.value("ok", false)) << a.dump();
  for (auto& n : nodes_) n->delay_command("commit", 0);
  json done = wait_done(r["rollout"]);
  EXPECT_EQ(done["state"], "rolled_back") << done.dump();
  EXPECT_TRUE(fleet_on(nodes_, prev_));
}

// An abort accepted while the last node's commit is in flight: that commit
// lands, but the rollout must not end committed (found by fleet_chaos.sh,
// seed 20261207 schedule 670): the rollback brings every node back.
TEST_F(RolloutTest, AbortWhileTheLastCommitIsInFlightRollsBack) {
  make_fleet(3);
  policy_ = "stages:\n  - {scope: all, bake_s: 0.1}\nhealth: {interval_s: 0.05}\n";
  start_controller();
  std::string v2 = version_of(zone(2, "192.0.2.81"));
  nodes_[2]->delay_command("commit", 1500);
  json r = push(zone(2, "192.0.2.81"));
  ASSERT_TRUE(r.value("ok", false)) << r.dump();
  // edge-1 and edge-2 committed; edge-3 published, its commit under way.
  ASSERT_TRUE(eventually([&] {
    if (nodes_[0]->committed() != v2 || nodes_[1]->committed() != v2) return false;
    for (const auto& [l, v] : nodes_[2]->served())
      if (v != v2) return false;
    return true;
  }));
  ASSERT_NE(nodes_[2]->committed(), v2);
  json a = ctl_->handle({{"cmd", "abort"}});
  ASSERT_TRUE(a.value("ok", false)) << a.dump();
  EXPECT_EQ(a["state"], "aborting");
  json done = wait_done(r["rollout"]);
  nodes_[2]->delay_command("commit", 0);
  EXPECT_EQ(done["state"], "rolled_back") << done.dump();
  EXPECT_TRUE(eventually([&] { return bool(fleet_on(nodes_, prev_)); }))
      << fleet_on(nodes_, prev_).message();
}

// A node that was down for a while is repaired soon after it is back, not
// after a backoff that grew while it was down (found by fleet_chaos.sh, seed
// 20261207 schedule 592: the node came back on the version rolled away
// from and was still serving it 10 s later). Backoff is for refusals.
TEST_F(RolloutTest, NodeBackFromALongOutageIsRepairedAtTheNextInterval) {
  make_fleet(3);
  policy_ = "stages:\n  - {scope: all, bake_s: 0.1}\nhealth: {interval_s: 0.05}\n";
  std::ofstream(dir_ + "/base.zone") << zone(1);
  ctl_ = std::make_unique<Controller>(
      Controller::Options{fleet_, dir_ + "/state", {dir_ + "/base.zone"}, 0.1});
  ctl_->start();
  json r = push(zone(2, "192.0.2.81"));
  ASSERT_TRUE(r.value("ok", false)) << r.dump();
  ASSERT_EQ(wait_done(r["rollout"])["state"], "committed");
  nodes_[2]->stop();
  ASSERT_TRUE(ctl_->handle({{"cmd", "rollback"}}).value("ok", false));
  ASSERT_TRUE(eventually([&] { return ctl_->idle(); }));
  // Down long enough for a doubling backoff from 0.1 s to reach seconds.
  std::this_thread::sleep_for(std::chrono::seconds(4));
  nodes_[2]->restart();  // on the version rolled away from
  auto back = std::chrono::steady_clock::now();
  ASSERT_TRUE(eventually([&] { return bool(fleet_on(nodes_, prev_)); }))
      << fleet_on(nodes_, prev_).message();
  // A backoff would have waited until about 6.3 s after the outage began.
  EXPECT_LT(std::chrono::steady_clock::now() - back, std::chrono::milliseconds(1500));
}

// Case: an abort is journaled: a daemon that stops before acting on it rolls
// back after its restart instead of resuming.
TEST_F(RolloutTest, AbortSurvivesARestart) {
  make_fleet(2);
  policy_ = "stages:\n  - {scope: all, bake_s: 0.1}\nhealth: {interval_s: 0.05}\n";
  start_controller();
  for (auto& n : nodes_) n->delay_command("commit", 600);
  json r = push(zone(2, "192.0.2.81"));
  ASSERT_TRUE(r.value("ok", false)) << r.dump();
  ASSERT_TRUE(eventually([&] {
    return ctl_->handle({{"cmd", "rollout"}, {"rollout", r["rollout"]}})["rollout"]["state"] ==
           "committing";
  }));
  EXPECT_TRUE(ctl_->handle({{"cmd", "abort"}}).value("ok", false));
  ctl_.reset();  // gone before the engine acted on the abort
  for (auto& n : nodes_) n->delay_command("commit", 0);
  restart_controller();
  json done = wait_done(r["rollout"]);
  EXPECT_EQ(done["state"], "rolled_back") << done.dump();
  EXPECT_TRUE(eventually([&] { return bool(fleet_on(nodes_, prev_)); }))
      << fleet_on(nodes_, prev_).message();
}

// Case: a rollout naming a node the fleet file no longer has, after a
// restart, fails and rolls back; the daemon does not die.
TEST_F(RolloutTest, NodeMissingFromTheFleetFileAfterARestartRollsBack) {
  make_fleet(3);
  policy_ =
      "stages:\n  - {scope: node, bake_s: 30}\n  - {scope: all, bake_s: 0.1}\n"
      "health: {interval_s: 0.05}\n";
  start_controller();
  json r = push(zone(2, "192.0.2.81"));
  ASSERT_TRUE(r.value("ok", false)) << r.dump();
  wait_stage(r["rollout"], 0);
  ctl_.reset();
  Fleet two = fleet_;
  two.nodes.erase(two.nodes.begin());  // the canary node left the fleet file
  restart_controller(two);
  json done = wait_done(r["rollout"]);
  EXPECT_EQ(done["state"], "rolled_back") << done.dump();
  EXPECT_NE(done["reason"].get<std::string>().find("edge-1"), std::string::npos) << done.dump();
  EXPECT_TRUE(ctl_->handle({{"cmd", "status"}}).value("ok", false));
}

// Case: a stored version that can no longer be read fails the rollout
// (rolled back), it does not terminate the daemon.
TEST_F(RolloutTest, UnreadableStoredVersionRollsBack) {
  make_fleet(3);
  policy_ =
      "stages:\n  - {scope: node, bake_s: 2}\n  - {scope: all, bake_s: 0.1}\n"
      "health: {interval_s: 0.05}\n";
  start_controller();
  std::string v = version_of(zone(2, "192.0.2.81"));
  json r = push(zone(2, "192.0.2.81"));
  ASSERT_TRUE(r.value("ok", false)) << r.dump();
  wait_stage(r["rollout"], 0);
  ctl_.reset();
  for (const auto& e : fs::directory_iterator(dir_ + "/state/versions/" + v))
    if (e.path().filename() != "meta.json") fs::remove(e.path());
  restart_controller();
  json done = wait_done(r["rollout"]);
  EXPECT_EQ(done["state"], "rolled_back") << done.dump();
  EXPECT_TRUE(eventually([&] { return bool(fleet_on(nodes_, prev_)); }))
      << fleet_on(nodes_, prev_).message();
}

// Case: under on_node_down: wait, a target that is down does not stop the
// gates from judging the targets that already serve the new version.
TEST_F(RolloutTest, WaitingForADownNodeKeepsTheGatesRunning) {
  make_fleet(3);
  policy_ = R"(stages:
  - {name: canary-node, scope: node, bake_s: 0.3}
  - {name: all, scope: all, bake_s: 30}
health:
  interval_s: 0.05
  min_queries: 100
  on_node_down: wait
)";
  std::string next = zone(2, "192.0.2.80", 20, 7);
  std::string v = version_of(next);
  std::atomic<bool> bad{false};
  for (auto& n : nodes_)
    n->set_traffic(
        [v, &bad](int, const std::string& ver) { return traffic(1000, ver == v && bad ? 60 : 1); });
  // The last stage's upload to edge-3 hangs; edge-3 dies while it does.
  nodes_[2]->delay_command("upload", 2000);
  start_controller();
  json r = push(next);
  ASSERT_TRUE(r.value("ok", false)) << r.dump();
  ASSERT_TRUE(eventually([&] {
    const json ro = ctl_->handle({{"cmd", "rollout"}, {"rollout", r["rollout"]}});
    for (const auto& e : ro["events"])
      if (e["ev"] == "upload" && e["node"] == "edge-3") return true;
    return false;
  }));
  nodes_[2]->stop();
  bad = true;  // edge-1 and edge-2 serve the new version, and it is bad
  json done = wait_done(r["rollout"]);
  EXPECT_EQ(done["state"], "rolled_back") << done.dump();
  EXPECT_NE(done["reason"].get<std::string>().find("nxdomain rate"), std::string::npos)
      << done.dump();
  for (int i = 0; i < 2; ++i) EXPECT_EQ(nodes_[i]->committed(), prev_);
}

// ... and a node that never comes back fails the stage at its timeout.
TEST_F(RolloutTest, WaitingForADownNodeEndsAtTheStageTimeout) {
  make_fleet(2);
  policy_ = R"(stages:
  - {name: all, scope: all, bake_s: 0.2, timeout_s: 1}
health:
  interval_s: 0.05
  on_node_down: wait
)";
  nodes_[1]->delay_command("upload", 300);
  start_controller();
  json r = push(zone(2, "192.0.2.81"));
  ASSERT_TRUE(r.value("ok", false)) << r.dump();
  nodes_[1]->stop();
  json done = wait_done(r["rollout"]);
  EXPECT_EQ(done["state"], "rolled_back") << done.dump();
  EXPECT_NE(done["reason"].get<std::string>().find("edge-2"), std::string::npos) << done.dump();
  EXPECT_EQ(nodes_[0]->committed(), prev_);
}

// Case: the last stage (no control lcores) is judged against the control
// rates of earlier stages, also after a restart in that stage.
TEST_F(RolloutTest, LastStageRateGateHoldsAfterARestart) {
  make_fleet(2);
  policy_ = R"(stages:
  - {name: canary-lcore, scope: lcore, bake_s: 0.3}
  - {name: all, scope: all, bake_s: 30}
health:
  interval_s: 0.05
  min_queries: 100
)";
  std::string next = zone(2, "192.0.2.80", 20, 7);
  std::string v = version_of(next);
  std::atomic<bool> bad{false};
  for (auto& n : nodes_)
    n->set_traffic(
        [v, &bad](int, const std::string& ver) { return traffic(1000, ver == v && bad ? 60 : 1); });
  start_controller();
  json r = push(next);
  ASSERT_TRUE(r.value("ok", false)) << r.dump();
  wait_stage(r["rollout"], 1);
  ctl_.reset();
  bad = true;  // the new version goes bad once it serves everywhere
  restart_controller();
  json done = wait_done(r["rollout"]);
  EXPECT_EQ(done["state"], "rolled_back") << done.dump();
  EXPECT_NE(done["reason"].get<std::string>().find("nxdomain rate"), std::string::npos)
      << done.dump();
}

// ... and a stage that asks for traffic does not pass on bake time when no
// control side saw enough to compare with.
TEST_F(RolloutTest, StageWithTrafficDoesNotPassWithoutAComparison) {
  make_fleet(2);
  policy_ = R"(stages:
  - {name: all, scope: all, bake_s: 0.2, timeout_s: 2, min_queries: 100}
health:
  interval_s: 0.05
  min_queries: 100
)";
  std::string next = zone(2, "192.0.2.80", 20, 7);
  std::string v = version_of(next);
  // Only the new version sees traffic: there is nothing to compare it with.
  for (auto& n : nodes_)
    n->set_traffic(
        [v](int, const std::string& ver) { return ver == v ? traffic(1000, 60) : Counters{}; });
  start_controller();
  json r = push(next);
  ASSERT_TRUE(r.value("ok", false)) << r.dump();
  json done = wait_done(r["rollout"]);
  EXPECT_EQ(done["state"], "rolled_back") << done.dump();
  EXPECT_NE(done["reason"].get<std::string>().find("rates could not be compared"),
            std::string::npos)
      << done.dump();
}

// Case: one daemon per state directory.
TEST_F(RolloutTest, SecondDaemonOnTheSameStateDirIsRefused) {
  make_fleet(2);
  policy_ =
      "stages:\n  - {scope: lcore, bake_s: 30}\n  - {scope: all, bake_s: 0.1}\n"
      "health: {interval_s: 0.05}\n";
  start_controller();
  json r = push(zone(2, "192.0.2.81"));
  ASSERT_TRUE(r.value("ok", false)) << r.dump();
  wait_stage(r["rollout"], 0);
  auto read = [](const std::string& p) {
    std::ifstream f(p);
    return std::string(std::istreambuf_iterator<char>(f), {});
  };
  // An in-flight store write and a torn journal tail the live daemon is
  // about to complete: a second daemon must touch neither.
  fs::create_directories(dir_ + "/state/versions/inflight.tmp");
  std::string journal = read(dir_ + "/state/journal.jsonl");
  try {
    Controller second(Controller::Options{fleet_, dir_ + "/state", {}});
    ADD_FAILURE() << "a second controller opened the same state directory";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("in use by another edgectl serve"), std::string::npos)
        << e.what();
  }
  EXPECT_TRUE(fs::exists(dir_ + "/state/versions/inflight.tmp"));
  EXPECT_EQ(read(dir_ + "/state/journal.jsonl").substr(0, journal.size()), journal);
  EXPECT_TRUE(ctl_->handle({{"cmd", "abort"}}).value("ok", false));
  EXPECT_EQ(wait_done(r["rollout"])["state"], "rolled_back");
}

namespace {

const std::vector<int> kEightLcores = {10, 11, 12, 13, 14, 15, 16, 17};  // canary: 10

// One interval per stage: each stage's probes run once, so what they cover
// is what one interval's probing reaches.
const char* kOneIntervalStages = R"(stages:
  - {name: canary-lcore, scope: lcore, bake_s: 0.01}
  - {name: all, scope: all, bake_s: 0.01}
health:
  interval_s: 0.05
  probe_timeout_s: 0.5
)";

}  // namespace

// The canary lcore answers a changed address; RSS spreads the probes over 8
// lcores. The lcore stage must keep probing until the canary lcore answers,
// and the failure names the node, that lcore and its version.
TEST_F(RolloutTest, BadCanaryLcoreIsCaughtAtTheLcoreStage) {
  make_fleet(2, /*udp=*/true, kEightLcores);
  policy_ = std::string(kOneIntervalStages) + "  auto_probes: 0\n";
  start_controller();
  std::string next = zone(2, "192.0.2.66");
  std::string v = version_of(next);
  json r = push(next,
                {{"probes", "www.example.com. A NOERROR 192.0.2.80\n"}, {"probes_file", "probes"}});
  ASSERT_TRUE(r.value("ok", false)) << r.dump();
  json done = wait_done(r["rollout"]);
  EXPECT_EQ(done["state"], "rolled_back");
  EXPECT_EQ(done["stage"], 0) << done.dump();
  const std::string reason = done.value("reason", "");
  EXPECT_NE(reason.find("to edge-1 lcore 10 on the new version " + v.substr(0, 12)),
            std::string::npos)
      << reason;
  EXPECT_NE(reason.find("192.0.2.66"), std::string::npos) << reason;
  EXPECT_FALSE(nodes_[1]->ever_served().count(v));
  for (auto& n : nodes_) EXPECT_EQ(n->committed(), prev_);
}

// A good version at the lcore stage: each probe reaches the canary lcore
// probe_repeats times (4) before the stage passes, and the verdict says so.
TEST_F(RolloutTest, CanaryLcoreAnswersEachProbeRepeatsTimesAtTheLcoreStage) {
  make_fleet(2, /*udp=*/true, kEightLcores);
  policy_ = std::string(kOneIntervalStages) + "  auto_probes: 3\n";
  start_controller();
  std::string next = zone(2, "192.0.2.80", 21);  // adds h20 only
  std::string v = version_of(next);
  json r = push(next,
                {{"probes", "www.example.com. A NOERROR 192.0.2.80\n"}, {"probes_file", "probes"}});
  ASSERT_TRUE(r.value("ok", false)) << r.dump();
  json done = wait_done(r["rollout"]);
  ASSERT_EQ(done["state"], "committed") << done.dump();
  int canary = 0, control = 0;
  for (const auto& a : nodes_[0]->udp_answers())
    if (a.mixed) (a.lcore == 10 ? canary : control) += 1;
  EXPECT_GE(canary, 4 * 4) << "4 probes x probe_repeats; control lcores answered " << control;
  bool said = false;
  for (const auto& l : verdict_lines(r["rollout"]))
    said |= l.find("edge-1: canary lcore 10 answered ") != std::string::npos;
  EXPECT_TRUE(said);
}

// Nodes whose answers carry no NSID (from before it): probes are sent
// probe_repeats times as before and the verdict line says lcores were not
// identified.
TEST_F(RolloutTest, NodesWithoutNsidAreProbedAsBeforeAndTheVerdictSaysSo) {
  make_fleet(2, /*udp=*/true, kEightLcores);
  for (auto& n : nodes_) n->answer_nsid(false);
  policy_ = kOneIntervalStages;
  start_controller();
  json r = push(zone(2, "192.0.2.80", 21));
  ASSERT_TRUE(r.value("ok", false)) << r.dump();
  json done = wait_done(r["rollout"]);
  EXPECT_EQ(done["state"], "committed") << done.dump();
  bool said = false;
  for (const auto& l : verdict_lines(r["rollout"]))
    said |= l.find("edge-1: its answers carry no edgedns NSID") != std::string::npos;
  EXPECT_TRUE(said);
}

namespace {

std::string other_zone(uint32_t serial, const std::string& www = "198.51.100.80") {
  return "$ORIGIN other.test.\n$TTL 3600\n@ SOA ns1 hostmaster " + std::to_string(serial) +
         " 7200 900 1209600 300\n@ NS ns1\nns1 A 198.51.100.53\nwww A " + www + "\n";
}

std::string version_of(const std::vector<std::string>& texts) {
  std::vector<LoadedZone> v;
  for (const auto& t : texts) v.push_back(load_zone_text(t, "z.zone"));
  return compute_version(v).id;
}

}  // namespace

// push --zone changes the named zone and keeps every other one; remove-zone
// takes one out through the same stages; both name what they cannot do.
TEST_F(RolloutTest, PerZonePushKeepsTheOtherZonesAndRemoveZoneTakesOneOut) {
  initial_ = {{"example.com.zone", zone(1)}, {"other.test.zone", other_zone(1)}};
  make_fleet(2);
  policy_ = R"(stages:
  - {name: canary-node, scope: node, bake_s: 0}
  - {name: all, scope: all, bake_s: 0}
health: {interval_s: 0.05, min_queries: 0, probe_timeout_s: 0.5}
)";
  start_controller();
  const std::string next_other = other_zone(2, "198.51.100.81");
  json r =
      ctl_->handle({{"cmd", "push"},
                    {"zones", json::array({{{"file", "other.test.zone"}, {"text", next_other}}})},
                    {"keep_others", true},
                    {"policy", policy_}});
  ASSERT_TRUE(r.value("ok", false)) << r.dump();
  const std::string both = version_of({zone(1), next_other});
  EXPECT_EQ(r["version"], both);  // example.com. is still in the set, unchanged
  EXPECT_EQ(wait_done(r["rollout"])["state"], "committed");
  for (auto& n : nodes_) EXPECT_EQ(n->committed(), both);

  // Without --zone the same file is the whole set: example.com. would go,
  // and the blast-radius gate stops that.
  json whole = push(other_zone(3));
  EXPECT_EQ(whole["code"], "rejected") << whole.dump();

  // Unknown or doubly named zones change nothing.
  json unknown = ctl_->handle({{"cmd", "push"},
                               {"zones", json::array()},
                               {"keep_others", true},
                               {"remove", {"nowhere.test"}},
                               {"policy", policy_}});
  EXPECT_EQ(unknown["code"], "bad_request");
  EXPECT_NE(unknown.value("error", "").find("nowhere.test. is not in the committed version"),
            std::string::npos)
      << unknown.dump();

  json rm = ctl_->handle({{"cmd", "push"},
                          {"zones", json::array()},
                          {"keep_others", true},
                          {"remove", {"EXAMPLE.com"}},  // names match in any case
                          {"policy", policy_}});
  ASSERT_TRUE(rm.value("ok", false)) << rm.dump();
  const std::string only_other = version_of({next_other});
  EXPECT_EQ(rm["version"], only_other);
  EXPECT_EQ(wait_done(rm["rollout"])["state"], "committed");
  for (auto& n : nodes_) EXPECT_EQ(n->committed(), only_other);

  json last = ctl_->handle({{"cmd", "push"},
                            {"zones", json::array()},
                            {"keep_others", true},
                            {"remove", {"other.test."}},
                            {"policy", policy_}});
  EXPECT_EQ(last["code"], "bad_request");
  EXPECT_NE(last.value("error", "").find("no zone"), std::string::npos) << last.dump();
  for (auto& n : nodes_) EXPECT_EQ(n->committed(), only_other);
}

// edgectl fleet reload (and SIGHUP): nodes added to the fleet file join
// (the reconciler brings them to the committed version), removed ones are
// no longer asked; a broken file or a rollout in flight changes nothing.
TEST_F(RolloutTest, FleetReloadAddsAndRemovesNodes) {
  make_fleet(2);
  // A third node that serves something else: it must be brought over.
  nodes_.push_back(std::make_unique<test::FakeNode>(
      "edge-3", dir_ + "/edge-3.sock", std::vector<int>{0, 1},
      std::vector<test::FakeNode::ZoneText>{{"example.com.zone", zone(7, "192.0.2.99")}}));
  nodes_.back()->start();
  auto yaml = [&](int n) {
    std::string y = "nodes:\n";
    for (int i = 1; i <= n; ++i)
      y += "  - {name: edge-" + std::to_string(i) + ", control: " + dir_ + "/edge-" +
           std::to_string(i) + ".sock, probe: '', wave: " + std::to_string(i) + "}\n";
    return y;
  };
  const std::string file = dir_ + "/fleet.yaml";
  std::ofstream(file) << yaml(2);
  std::ofstream(dir_ + "/base.zone") << zone(1);
  Controller::Options o{parse_fleet(yaml(2), file), dir_ + "/state", {dir_ + "/base.zone"}};
  o.fleet_file = file;
  o.reconcile_interval_s = 0.1;
  ctl_ = std::make_unique<Controller>(o);
  ctl_->start();
  EXPECT_EQ(ctl_->handle({{"cmd", "status"}})["nodes"].size(), 2u);

  std::ofstream(file) << yaml(3);
  json r = ctl_->handle({{"cmd", "fleet_reload"}, {"by", "tester"}});
  ASSERT_TRUE(r.value("ok", false)) << r.dump();
  EXPECT_EQ(r["added"], json::array({"edge-3"}));
  EXPECT_EQ(r["nodes"], 3);
  EXPECT_TRUE(eventually([&] { return nodes_[2]->committed() == prev_; }))
      << "edge-3 was not brought to the committed version";
  EXPECT_EQ(ctl_->handle({{"cmd", "status"}})["nodes"].size(), 3u);

  // A broken file: refused with the file named, the fleet unchanged.
  std::ofstream(file) << "nodes:\n  - {name: edge-1\n";
  r = ctl_->handle({{"cmd", "fleet_reload"}});
  EXPECT_EQ(r["code"], "bad_fleet") << r.dump();
  EXPECT_NE(r.value("error", "").find("fleet.yaml"), std::string::npos) << r.dump();
  EXPECT_EQ(ctl_->handle({{"cmd", "status"}})["nodes"].size(), 3u);

  // Not while a rollout runs.
  policy_ =
      "stages:\n  - {scope: node, bake_s: 5}\n  - {scope: all, bake_s: 0}\nhealth: {interval_s: "
      "0.05, min_queries: 0}\n";
  json p = push(zone(2, "192.0.2.81"));
  ASSERT_TRUE(p.value("ok", false)) << p.dump();
  std::ofstream(file) << yaml(1);
  r = ctl_->handle({{"cmd", "fleet_reload"}});
  EXPECT_EQ(r["code"], "busy") << r.dump();
  ctl_->handle({{"cmd", "abort"}});
  wait_done(p["rollout"]);

  r = ctl_->handle({{"cmd", "fleet_reload"}});
  ASSERT_TRUE(r.value("ok", false)) << r.dump();
  EXPECT_EQ(r["removed"], json::array({"edge-2", "edge-3"}));
  json st = ctl_->handle({{"cmd", "status"}});
  ASSERT_EQ(st["nodes"].size(), 1u);
  EXPECT_EQ(st["nodes"][0]["name"], "edge-1");
}

// A node the reconciler brings back to the committed version is in service
// only once its answers are that version's: one whose agent says so while
// its answers are another version's stays pending, named, until they match.
TEST_F(RolloutTest, ARepairedNodeCountsOnlyOnceItsAnswersMatch) {
  make_fleet(2, /*udp=*/true);
  policy_ =
      "stages:\n  - {scope: all, bake_s: 0}\nhealth: {interval_s: 0.05, min_queries: 0, "
      "probe_timeout_s: 0.5}\n";
  std::ofstream(dir_ + "/base.zone") << zone(1);
  Controller::Options o{fleet_, dir_ + "/state", {dir_ + "/base.zone"}};
  o.reconcile_interval_s = 0.1;
  ctl_ = std::make_unique<Controller>(o);
  ctl_->start();
  const std::string next = version_of(zone(2, "192.0.2.81"));
  json r = push(zone(2, "192.0.2.81"));
  ASSERT_TRUE(r.value("ok", false)) << r.dump();
  ASSERT_EQ(wait_done(r["rollout"])["state"], "committed");

  nodes_[1]->answer_from(prev_);  // edge-2 will answer from the old version
  NodeClient("edge-2", NodeAddress{dir_ + "/edge-2.sock", "", nullptr}).rollback(prev_);
  auto pending_reason = [&] {
    json st = ctl_->handle({{"cmd", "status"}});
    for (const auto& p : st["pending"])
      if (p["node"] == "edge-2") return p.value("reason", "");
    return std::string();
  };
  EXPECT_TRUE(eventually([&] {
    return pending_reason().find("serves the committed version, but probes fail") !=
           std::string::npos;
  })) << pending_reason();
  EXPECT_EQ(nodes_[1]->committed(), next);  // repaired as far as its agent goes

  nodes_[1]->answer_from("");
  EXPECT_TRUE(eventually([&] { return pending_reason().empty(); })) << pending_reason();
  json st = ctl_->handle({{"cmd", "status"}});
  EXPECT_TRUE(st["nodes"][1].value("in_sync", false)) << st.dump();
}
