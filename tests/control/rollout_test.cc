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
      nodes_.push_back(std::make_unique<test::FakeNode>(
          name, sock, lcores, std::vector<test::FakeNode::ZoneText>{{"example.com.zone", zone(1)}},
          udp));
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
    if (adopt) {
      std::ofstream(dir_ + "/base.zone") << zone(1);
      files.push_back(dir_ + "/base.zone");
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
  json again = push(next);  // same serial: the serial gate says so first
  EXPECT_EQ(again["code"], "rejected");
  EXPECT_EQ(push(next, {{"force_serial", true}})["code"], "no_change");
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
  ctl_ = std::make_unique<Controller>(Controller::Options{fleet_, dir_ + "/state", {}});
  ctl_->start();
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
  ctl_ = std::make_unique<Controller>(Controller::Options{fleet_, dir_ + "/state", {}});
  ctl_->start();
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
