// The rollout's stages as pure decisions: which nodes and lcores a stage
// covers for this fleet, what each lcore should serve, and the verdict of one
// gate interval from the evidence the engine gathered (liveness, convergence,
// rates, probes, bake time). The engine (rollout_engine.cc) does the I/O and
// acts on the verdict; nothing here talks to a node, so every outcome can be
// tested without one. Any thread; no I/O.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "control/config.hh"
#include "control/health.hh"
#include "control/node_client.hh"
#include "control/rollout_state.hh"

namespace edgedns::ctl {

// Turns the policy's stages into concrete targets for this fleet (`lcores`
// per node name, from hello). Stages that would add nothing are dropped
// (e.g. "one lcore" on a single-lcore node equals "that node").
std::vector<ResolvedStage> resolve_stages(const Policy& p, const Fleet& f,
                                          const std::map<std::string, std::vector<int>>& lcores,
                                          std::optional<double> bake_override);

// True when the stage puts the new version on that lcore.
bool targets_lcore(const ResolvedStage& s, const std::string& node, int lcore);

// What one lcore serves against what the stage wants of it.
enum class LcoreCheck {
  Ok,
  Republish,  // a target lcore came back on its last-known-good; on_node_down: wait publishes again
  Wrong,      // serves neither what it should nor a version waiting explains
};
struct LcoreJudgement {
  LcoreCheck check = LcoreCheck::Ok;
  std::string expected;  // the version it should serve
};
LcoreJudgement check_lcore(const ResolvedStage& s, const std::string& node, int lcore,
                           const std::string& serving, const std::string& version,
                           const std::string& previous, bool rollback_on_node_down);

// The control counters canaries are judged against. When this stage's
// control lcores saw fewer than min_queries (or there are none: the last
// stage), the last control sample that saw enough, kept in `remembered`.
Counters control_reference(const Counters& control, Counters& remembered, uint64_t min_queries);

// One gate interval, as the engine saw it.
struct StageEvidence {
  // The first hard failure met while reading nodes (lcores not alive, an
  // lcore on the wrong version, a node down when the policy rolls back).
  std::string node_failure;
  std::vector<std::pair<std::string, std::string>>
      down;                  // waited for (on_node_down: wait): node, error
  bool republished = false;  // an lcore was published again: not settled yet
  size_t nodes_done = 0;     // nodes whose every lcore serves the new version
  size_t lcores_done = 0;    // lcores serving the new version
  Counters canary, control;  // what the stage's canary and control lcores served
  RateVerdict rates;         // canary against control_reference()
  // health.min_queries (0: rates never compared). A stage with its own
  // min_queries passes only once the rates were compared: a missing control
  // side is no excuse.
  uint64_t rates_min_queries = 0;
  bool have_probes = false;
  size_t probes_ok = 0;
  std::string probe_failure;             // the first probe that did not answer as expected
  std::vector<std::string> probe_notes;  // per probed node: which lcores answered (ProbeTally)
  bool paused = false;
};

enum class StageVerdict { Continue, Pass, Fail };

struct IntervalVerdict {
  StageVerdict verdict = StageVerdict::Continue;
  std::string reason;              // Fail: what failed, for the journal and the operator
  std::vector<std::string> lines;  // progress for watchers; empty when a gate failed
  double baked = 0;                // bake seconds counted so far, this interval included
};

// The gates in order (liveness and convergence, rates, probes), then the
// bake clock: it runs only while nothing is paused or waited for, the stage
// passes once it has baked, seen min_queries and (when it asks for
// queries) compared rates, and fails when it has not within timeout_s (not
// counted while paused). `baked` is the time counted before this interval, `step` the interval's
// length, `elapsed` the time since the bake began.
IntervalVerdict judge_interval(const ResolvedStage& s, const std::string& version,
                               const StageEvidence& ev, double baked, double step, double elapsed);

// The first 12 hex digits, as progress and logs show a version.
std::string short_version(const std::string& version);

}  // namespace edgedns::ctl
