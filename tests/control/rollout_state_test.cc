// The rollout state rebuilt from journal records: every event kind, records
// of another rollout ignored, the on-disk spelling of event kinds, a journal
// written by Journal and replayed, and on_restart: rollback.
#include "control/rollout_state.hh"

#include <gtest/gtest.h>

#include <unistd.h>
#include <filesystem>
#include <fstream>

#include "control/journal.hh"

using namespace edgedns::ctl;
using nlohmann::json;

namespace {

json start_rec(uint64_t id, const std::string& policy = "") {
  json stages = json::array({stage_to_json({"canary", Scope::Lcore, 2.5, 10, 30, {{"a", {1}}}}),
                             stage_to_json({"all", Scope::All, 4, 0, 60, {{"a", {}}, {"b", {}}}})});
  return {{"ev", "rollout_start"},
          {"rollout", id},
          {"version", "v2"},
          {"label", "ex.=2"},
          {"previous", "v1"},
          {"stages", stages},
          {"policy", policy},
          {"policy_file", "policy.yaml"},
          {"probes", "p"},
          {"probes_file", "probes"},
          {"untouched", {"www.ex."}},
          {"time", 100.0}};
}

FleetState replay(const std::vector<json>& recs) {
  FleetState s;
  for (const auto& r : recs) apply_record(s, r);
  return s;
}

}  // namespace

TEST(RolloutState, EventNamesAreTheJournalsSpelling) {
  const std::pair<Event, const char*> kinds[] = {
      {Event::Baseline, "baseline"},
      {Event::Version, "version"},
      {Event::Rejected, "rejected"},
      {Event::RolloutStart, "rollout_start"},
      {Event::StageBegin, "stage_begin"},
      {Event::Upload, "upload"},
      {Event::Publish, "publish"},
      {Event::Converge, "converge"},
      {Event::StagePassed, "stage_passed"},
      {Event::Pause, "pause"},
      {Event::Resume, "resume"},
      {Event::CommitBegin, "commit_begin"},
      {Event::RollbackBegin, "rollback_begin"},
      {Event::Committed, "committed"},
      {Event::RolledBack, "rolled_back"},
      {Event::Bad, "bad"},
      {Event::ManualRollbackBegin, "manual_rollback_begin"},
      {Event::ManualRollbackDone, "manual_rollback_done"},
      {Event::Verdicts, "verdicts"}};
  for (const auto& [e, name] : kinds) {
    EXPECT_STREQ(event_name(e), name);
    EXPECT_EQ(event_from_name(name), e) << name;
  }
  EXPECT_EQ(event_from_name("Baseline"), Event::Unknown);
  EXPECT_EQ(event_of(json{{"ev", 3}}), Event::Unknown);
  EXPECT_EQ(event_of(json::object()), Event::Unknown);
}

TEST(RolloutState, BaselineVersionBadAndManualRollback) {
  FleetState s = replay({{{"ev", "baseline"}, {"version", "v1"}},
                         {{"ev", "version"}, {"version", "v1"}, {"label", "ex.=1"}},
                         {{"ev", "bad"}, {"version", "v9"}, {"reason", "nxdomain rate"}}});
  EXPECT_EQ(s.committed, "v1");
  EXPECT_EQ(s.committed_log, std::vector<std::string>{"v1"});
  EXPECT_EQ(s.labels.at("v1"), "ex.=1");
  EXPECT_EQ(s.bad.at("v9"), "nxdomain rate");
  EXPECT_TRUE(s.idle());
  apply_record(s, {{"ev", "manual_rollback_begin"}, {"from", "v1"}, {"to", "v0"}});
  ASSERT_TRUE(s.manual_to);
  EXPECT_EQ(*s.manual_to, "v0");
  EXPECT_FALSE(s.idle());
  apply_record(s, {{"ev", "manual_rollback_done"}, {"to", "v0"}, {"pending", json::array()}});
  EXPECT_FALSE(s.manual_to);
  EXPECT_EQ(s.committed, "v0");
  EXPECT_EQ(s.committed_log, (std::vector<std::string>{"v1", "v0"}));
}

TEST(RolloutState, RolloutThroughItsStagesToCommitted) {
  FleetState s = replay({{{"ev", "baseline"}, {"version", "v1"}}, start_rec(7)});
  ASSERT_TRUE(s.active);
  const Rollout& r = *s.active;
  EXPECT_EQ(r.id, 7u);
  EXPECT_EQ(r.version, "v2");
  EXPECT_EQ(r.previous, "v1");
  EXPECT_EQ(r.policy_file, "policy.yaml");
  EXPECT_EQ(r.probes_text, "p");
  EXPECT_EQ(r.untouched, std::vector<std::string>{"www.ex."});
  ASSERT_EQ(r.stages.size(), 2u);
  EXPECT_EQ(r.stages[0].scope, Scope::Lcore);
  EXPECT_EQ(r.stages[0].targets[0].lcores, std::vector<int>{1});
  EXPECT_EQ(r.stages[1].targets.size(), 2u);
  EXPECT_DOUBLE_EQ(r.bake_left, 2.5);
  EXPECT_DOUBLE_EQ(r.started, 100.0);
  EXPECT_EQ(s.next_rollout, 8u);
  EXPECT_EQ(state_name(r), "running");

  apply_record(s, {{"ev", "stage_begin"}, {"rollout", 7}, {"stage", 0}, {"name", "canary"}});
  apply_record(s, {{"ev", "upload"}, {"rollout", 7}, {"node", "a"}});
  apply_record(s, {{"ev", "publish"}, {"rollout", 7}, {"node", "a"}, {"version", "v2"}});
  apply_record(s, {{"ev", "pause"}, {"rollout", 7}});
  EXPECT_TRUE(s.active->paused);
  EXPECT_EQ(state_name(*s.active), "paused");
  apply_record(s, {{"ev", "resume"}, {"rollout", 7}});
  EXPECT_FALSE(s.active->paused);
  apply_record(s, {{"ev", "stage_passed"}, {"rollout", 7}, {"stage", 0}});
  EXPECT_EQ(s.active->stage, 1u);
  apply_record(s, {{"ev", "stage_begin"}, {"rollout", 7}, {"stage", 1}, {"name", "all"}});
  EXPECT_DOUBLE_EQ(s.active->bake_left, 4.0);
  EXPECT_EQ(s.active->phase, Phase::Stage);
  apply_record(s, {{"ev", "commit_begin"}, {"rollout", 7}});
  EXPECT_EQ(s.active->phase, Phase::Commit);
  EXPECT_EQ(state_name(*s.active), "committing");
  apply_record(s, {{"ev", "committed"}, {"rollout", 7}, {"version", "v2"}, {"time", 130.0}});
  EXPECT_TRUE(s.idle());
  EXPECT_EQ(s.committed, "v2");
  EXPECT_EQ(s.committed_log, (std::vector<std::string>{"v1", "v2"}));
  ASSERT_EQ(s.history.size(), 1u);
  EXPECT_EQ(s.history[0].outcome, Outcome::Committed);
  EXPECT_DOUBLE_EQ(s.history[0].finished, 130.0);
  json j = rollout_json(s.history[0], 3);
  EXPECT_EQ(j["state"], "committed");
  EXPECT_EQ(j["nodes_total"], 3);
  EXPECT_EQ(j["stage_name"], "all");
}

TEST(RolloutState, RollbackKeepsTheReasonAndTheCommittedVersion) {
  FleetState s =
      replay({{{"ev", "baseline"}, {"version", "v1"}},
              start_rec(1),
              {{"ev", "rollback_begin"}, {"rollout", 1}, {"reason", "stage canary: probe"}}});
  EXPECT_EQ(s.active->phase, Phase::Rollback);
  EXPECT_EQ(state_name(*s.active), "rolling_back");
  EXPECT_EQ(s.active->reason, "stage canary: probe");
  // rolled_back without a reason keeps the one rollback_begin gave.
  apply_record(s, {{"ev", "rolled_back"}, {"rollout", 1}, {"version", "v2"}, {"to", "v1"}});
  EXPECT_EQ(s.committed, "v1");
  ASSERT_EQ(s.history.size(), 1u);
  EXPECT_EQ(s.history[0].reason, "stage canary: probe");
  EXPECT_EQ(state_name(s.history[0]), "rolled_back");
  FleetState t =
      replay({start_rec(2), {{"ev", "rolled_back"}, {"rollout", 2}, {"reason", "aborted"}}});
  EXPECT_EQ(t.history[0].reason, "aborted");
}

TEST(RolloutState, RecordsOfAnotherRolloutAndNonStateKindsChangeNothing) {
  FleetState s = replay({{{"ev", "baseline"}, {"version", "v1"}}, start_rec(5)});
  for (const char* ev :
       {"stage_passed", "pause", "commit_begin", "rollback_begin", "committed", "rolled_back"})
    apply_record(s, {{"ev", ev}, {"rollout", 4}, {"stage", 3}, {"reason", "x"}});
  for (const char* ev :
       {"rejected", "upload", "publish", "converge", "verdicts", "from_a_newer_build"})
    apply_record(s, {{"ev", ev}, {"rollout", 5}, {"version", "v3"}, {"stage", 3}});
  ASSERT_TRUE(s.active);
  EXPECT_EQ(s.active->stage, 0u);
  EXPECT_EQ(s.active->phase, Phase::Stage);
  EXPECT_FALSE(s.active->paused);
  EXPECT_TRUE(s.active->reason.empty());
  EXPECT_EQ(s.committed, "v1");
  EXPECT_TRUE(s.history.empty());
  EXPECT_TRUE(s.labels.empty());
}

TEST(RolloutState, AJournalOnDiskReplaysToTheSameState) {
  char tmpl[] = "/tmp/edgectl-state-XXXXXX";
  std::string dir = ::mkdtemp(tmpl);
  std::string p = dir + "/journal.jsonl";
  // Lines as an earlier edgectl wrote them (the format must stay readable).
  std::ofstream(p)
      << R"({"ev":"version","version":"v1","label":"ex.=1","seq":1,"time":1.0}
{"ev":"baseline","version":"v1","source":"adopt","seq":2,"time":1.5}
)" << start_rec(1).dump()
      << "\n"
      << R"({"ev":"stage_begin","rollout":1,"stage":0,"name":"canary","seq":4,"time":101.0}
{"ev":"stage_passed","rollout":1,"stage":0,"seq":5,"time":103.0}
{"ev":"stage_begin","rollout":1,"stage":1,"name":"all","seq":6,"time":103.1}
)";
  FleetState s;
  {
    Journal j(p);
    for (const auto& r : j.recovered()) apply_record(s, r);
  }
  std::filesystem::remove_all(dir);
  EXPECT_EQ(s.committed, "v1");
  EXPECT_EQ(s.labels.at("v1"), "ex.=1");
  ASSERT_TRUE(s.active);
  EXPECT_EQ(s.active->stage, 1u);
  EXPECT_EQ(s.active->phase, Phase::Stage);
}

TEST(RolloutState, OnRestartRollbackTurnsAStageIntoARollback) {
  FleetState keep = replay({start_rec(1)});
  EXPECT_FALSE(interrupt_on_restart(keep));
  EXPECT_EQ(keep.active->phase, Phase::Stage);
  FleetState back = replay({start_rec(1, "on_restart: rollback\n")});
  EXPECT_TRUE(interrupt_on_restart(back));
  EXPECT_EQ(back.active->phase, Phase::Rollback);
  EXPECT_NE(back.active->reason.find("restarted"), std::string::npos);
  // A commit in flight is finished, whatever the policy says.
  FleetState commit =
      replay({start_rec(1, "on_restart: rollback\n"), {{"ev", "commit_begin"}, {"rollout", 1}}});
  EXPECT_FALSE(interrupt_on_restart(commit));
  EXPECT_EQ(commit.active->phase, Phase::Commit);
  FleetState none;
  EXPECT_FALSE(interrupt_on_restart(none));
}

TEST(RolloutState, AJournaledAbortIsRolledBackAfterARestart) {
  // Mid-stage, whatever on_restart says.
  FleetState stage = replay({start_rec(1), {{"ev", "abort"}, {"rollout", 1}, {"reason", "op"}}});
  ASSERT_TRUE(stage.active);
  EXPECT_TRUE(stage.active->aborted);
  EXPECT_TRUE(interrupt_on_restart(stage));
  EXPECT_EQ(stage.active->phase, Phase::Rollback);
  EXPECT_EQ(stage.active->reason, "op");
  // In the commit phase too: an aborted commit is not finished.
  FleetState commit = replay({start_rec(1),
                              {{"ev", "commit_begin"}, {"rollout", 1}},
                              {{"ev", "abort"}, {"rollout", 1}, {"reason", "op"}}});
  EXPECT_TRUE(interrupt_on_restart(commit));
  EXPECT_EQ(commit.active->phase, Phase::Rollback);
  // An abort naming another rollout changes nothing.
  FleetState other = replay({start_rec(1), {{"ev", "abort"}, {"rollout", 2}}});
  EXPECT_FALSE(other.active->aborted);
}

TEST(RolloutState, APolicyThatNoLongerParsesRollsBackInsteadOfThrowing) {
  FleetState s = replay({start_rec(1, "stages: [oops\n")});
  bool rolled = false;
  EXPECT_NO_THROW(rolled = interrupt_on_restart(s));
  EXPECT_TRUE(rolled);
  EXPECT_EQ(s.active->phase, Phase::Rollback);
  EXPECT_NE(s.active->reason.find("policy"), std::string::npos) << s.active->reason;
}

TEST(RolloutState, StagePassedKeepsTheControlReference) {
  json ref = {{"queries", 5000}, {"nxdomain", 5}};
  FleetState s = replay(
      {start_rec(1), {{"ev", "stage_passed"}, {"rollout", 1}, {"stage", 0}, {"reference", ref}}});
  EXPECT_EQ(s.active->stage, 1u);
  EXPECT_EQ(s.active->reference, ref);
}
