// The pure stage decisions: what an lcore should serve, the control
// reference, and the verdict of a gate interval on each gate's outcome.
#include "control/stage.hh"

#include <gtest/gtest.h>

using namespace edgedns::ctl;

namespace {

ResolvedStage canary_stage() { return {"canary", Scope::Lcore, 10, 500, 60, {{"a", {1}}}}; }

StageEvidence healthy() {
  StageEvidence ev;
  ev.lcores_done = 1;
  ev.canary.queries = 1000;
  ev.rates.evaluated = true;
  ev.rates.summary = "canary 1000 q, control 1000 q";
  return ev;
}

const std::string kNew = "0123456789abcdef0123456789abcdef";

}  // namespace

TEST(Stage, TargetsLcore) {
  ResolvedStage s{"x", Scope::Node, 1, 0, 1, {{"a", {1, 3}}, {"b", {}}}};
  EXPECT_TRUE(targets_lcore(s, "a", 3));
  EXPECT_FALSE(targets_lcore(s, "a", 2));
  EXPECT_TRUE(targets_lcore(s, "b", 7));
  EXPECT_FALSE(targets_lcore(s, "c", 1));
}

TEST(Stage, CheckLcore) {
  ResolvedStage s = canary_stage();
  EXPECT_EQ(check_lcore(s, "a", 1, "new", "new", "old", true).check, LcoreCheck::Ok);
  EXPECT_EQ(check_lcore(s, "a", 2, "old", "new", "old", true).check, LcoreCheck::Ok);
  // A target back on its last-known-good: rolled back, or published again when waiting.
  LcoreJudgement back = check_lcore(s, "a", 1, "old", "new", "old", true);
  EXPECT_EQ(back.check, LcoreCheck::Wrong);
  EXPECT_EQ(back.expected, "new");
  EXPECT_EQ(check_lcore(s, "a", 1, "old", "new", "old", false).check, LcoreCheck::Republish);
  // The new version where it was not published, or a third version anywhere.
  LcoreJudgement leak = check_lcore(s, "b", 0, "new", "new", "old", false);
  EXPECT_EQ(leak.check, LcoreCheck::Wrong);
  EXPECT_EQ(leak.expected, "old");
  EXPECT_EQ(check_lcore(s, "a", 1, "other", "new", "old", false).check, LcoreCheck::Wrong);
  // No previous version known: lcores outside the targets are not held to one.
  EXPECT_EQ(check_lcore(s, "b", 0, "whatever", "new", "", true).check, LcoreCheck::Ok);
}

TEST(Stage, ControlReference) {
  Counters remembered;
  Counters big;
  big.queries = 500;
  big.nxdomain = 5;
  Counters ref = control_reference(big, remembered, 100);
  EXPECT_EQ(ref.queries, 500u);
  EXPECT_EQ(remembered.nxdomain, 5u);  // kept for a stage without control lcores
  Counters few;
  few.queries = 20;
  // Too few to compare with: the remembered sample stands in.
  EXPECT_EQ(control_reference(few, remembered, 100).queries, 500u);
  EXPECT_EQ(remembered.queries, 500u);
  EXPECT_EQ(control_reference(Counters{}, remembered, 100).queries, 500u);
  // Nothing remembered: the few are all there is (and are not compared).
  Counters none;
  EXPECT_EQ(control_reference(few, none, 100).queries, 20u);
}

TEST(StageVerdict, PassesOnceBakedWithEnoughQueries) {
  ResolvedStage s = canary_stage();
  IntervalVerdict v = judge_interval(s, kNew, healthy(), 4, 5, 9);
  EXPECT_EQ(v.verdict, StageVerdict::Continue);
  EXPECT_DOUBLE_EQ(v.baked, 9);
  ASSERT_EQ(v.lines.size(), 3u);
  EXPECT_EQ(v.lines[0], "liveness: every node up, lcores alive");
  EXPECT_EQ(v.lines[1], "convergence: 1 lcores serve 0123456789ab");
  EXPECT_EQ(v.lines[2], "rates: ok, canary 1000 q, control 1000 q");
  v = judge_interval(s, kNew, healthy(), 9, 1, 10);
  EXPECT_EQ(v.verdict, StageVerdict::Pass);
  EXPECT_DOUBLE_EQ(v.baked, 10);
}

TEST(StageVerdict, TooFewQueriesKeepsBakingThenTimesOut) {
  ResolvedStage s = canary_stage();
  StageEvidence ev = healthy();
  ev.canary.queries = 499;
  EXPECT_EQ(judge_interval(s, kNew, ev, 20, 1, 30).verdict, StageVerdict::Continue);
  IntervalVerdict v = judge_interval(s, kNew, ev, 60, 1, 61);
  EXPECT_EQ(v.verdict, StageVerdict::Fail);
  EXPECT_EQ(v.reason, "stage canary: 499 canary queries observed in 60 s, the stage needs 500");
  EXPECT_FALSE(v.lines.empty());  // progress still shows what was seen
}

TEST(StageVerdict, EachFailingGateFailsTheStageWithItsReason) {
  ResolvedStage s = canary_stage();
  StageEvidence node = healthy();
  node.node_failure = "node a: not every lcore is alive";
  IntervalVerdict v = judge_interval(s, kNew, node, 9, 5, 14);
  EXPECT_EQ(v.verdict, StageVerdict::Fail);
  EXPECT_EQ(v.reason, "stage canary: node a: not every lcore is alive");
  EXPECT_TRUE(v.lines.empty());

  StageEvidence rates = healthy();
  rates.rates.failures = {"nxdomain rate 6.00% on canary vs 0.10% on control"};
  v = judge_interval(s, kNew, rates, 9, 5, 14);
  EXPECT_EQ(v.verdict, StageVerdict::Fail);
  EXPECT_EQ(v.reason, "stage canary: nxdomain rate 6.00% on canary vs 0.10% on control");

  StageEvidence probe = healthy();
  probe.have_probes = true;
  probe.probe_failure = "probe probes:1 to a: www.ex. A: rcode NXDOMAIN, expected NOERROR";
  v = judge_interval(s, kNew, probe, 9, 5, 14);
  EXPECT_EQ(v.verdict, StageVerdict::Fail);
  EXPECT_EQ(v.reason, "stage canary: " + probe.probe_failure);

  // The first gate in order decides.
  StageEvidence both = rates;
  both.node_failure = "node b lcore 0 serves x, expected y";
  EXPECT_EQ(judge_interval(s, kNew, both, 0, 1, 1).reason,
            "stage canary: node b lcore 0 serves x, expected y");
}

TEST(StageVerdict, WaitingAndPausedStopTheBakeClock) {
  ResolvedStage s = canary_stage();
  StageEvidence down = healthy();
  down.down = {{"b", "unreachable"}};
  IntervalVerdict v = judge_interval(s, kNew, down, 9, 5, 14);
  EXPECT_EQ(v.verdict, StageVerdict::Continue);
  EXPECT_DOUBLE_EQ(v.baked, 9);
  EXPECT_EQ(v.lines[0], "liveness: waiting for b (unreachable)");
  EXPECT_EQ(v.lines[1].rfind("convergence: ", 0), 0u);

  StageEvidence again = healthy();
  again.republished = true;
  v = judge_interval(s, kNew, again, 10, 5, 15);
  EXPECT_EQ(v.verdict, StageVerdict::Continue);  // baked enough, but not settled
  EXPECT_DOUBLE_EQ(v.baked, 10);

  StageEvidence paused = healthy();
  paused.paused = true;
  paused.have_probes = true;
  paused.probes_ok = 8;
  v = judge_interval(s, kNew, paused, 10, 5,
                     500);  // long past the timeout: paused time is not held against it
  EXPECT_EQ(v.verdict, StageVerdict::Continue);
  EXPECT_DOUBLE_EQ(v.baked, 10);
  ASSERT_EQ(v.lines.size(), 5u);
  EXPECT_EQ(v.lines[3], "probes: 8 answers as expected");
  EXPECT_EQ(v.lines[4], "paused");
}

TEST(StageVerdict, ProbeNotesFollowTheProbeCount) {
  StageEvidence ev = healthy();
  ev.have_probes = true;
  ev.probes_ok = 30;
  ev.probe_notes = {"a: canary lcore 1 answered 8, other lcores 22",
                    "b: its answers carry no edgedns NSID (an older node?)"};
  IntervalVerdict v = judge_interval(canary_stage(), kNew, ev, 0, 1, 1);
  EXPECT_EQ(v.lines[3],
            "probes: 30 answers as expected; a: canary lcore 1 answered 8, other lcores 22; b: its "
            "answers carry no edgedns NSID (an older node?)");
}

TEST(StageVerdict, RatesNotYetComparedAreShownAsSuch) {
  StageEvidence ev = healthy();
  ev.rates.evaluated = false;
  ev.rates.summary = "canary 10 q, control 5 q (rates not compared below 100 q each)";
  IntervalVerdict v = judge_interval(canary_stage(), kNew, ev, 0, 1, 1);
  EXPECT_EQ(v.lines[2], "rates: canary 10 q, control 5 q (rates not compared below 100 q each)");
}

TEST(StageVerdict, AStageThatAsksForTrafficDoesNotPassUncompared) {
  ResolvedStage s{"all", Scope::All, 1, 100, 60, {{"a", {}}}};
  StageEvidence ev = healthy();  // 1000 canary queries
  ev.rates.evaluated = false;    // no control side to compare with
  ev.rates_min_queries = 100;
  IntervalVerdict v = judge_interval(s, kNew, ev, 5, 1, 6);
  EXPECT_EQ(v.verdict, StageVerdict::Continue);
  v = judge_interval(s, kNew, ev, 5, 1, 61);
  EXPECT_EQ(v.verdict, StageVerdict::Fail);
  EXPECT_NE(v.reason.find("rates could not be compared"), std::string::npos) << v.reason;
  ev.rates.evaluated = true;
  EXPECT_EQ(judge_interval(s, kNew, ev, 5, 1, 6).verdict, StageVerdict::Pass);
  // A stage that asks for no traffic (the default) progresses on bake time:
  // an idle lab fleet, or one that sees only the probes.
  ev.rates.evaluated = false;
  s.min_queries = 0;
  EXPECT_EQ(judge_interval(s, kNew, ev, 5, 1, 6).verdict, StageVerdict::Pass);
  // Rates disabled by the policy (health.min_queries 0): bake and queries decide.
  s.min_queries = 100;
  ev.rates_min_queries = 0;
  EXPECT_EQ(judge_interval(s, kNew, ev, 5, 1, 6).verdict, StageVerdict::Pass);
}

TEST(StageVerdict, ANodeWaitedForFailsTheStageAtItsTimeout) {
  StageEvidence ev = healthy();
  ev.down.emplace_back("edge-3", "unreachable");
  ResolvedStage s = canary_stage();
  EXPECT_EQ(judge_interval(s, kNew, ev, 0, 1, 30).verdict, StageVerdict::Continue);
  IntervalVerdict v = judge_interval(s, kNew, ev, 0, 1, 61);
  EXPECT_EQ(v.verdict, StageVerdict::Fail);
  EXPECT_NE(v.reason.find("edge-3 still down"), std::string::npos) << v.reason;
}
