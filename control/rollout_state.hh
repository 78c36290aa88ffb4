// What the control plane knows about the fleet and its rollouts, rebuilt from
// journal records and nothing else: the same records replayed give the same
// state, so a restarted daemon continues where the last one stopped. The
// journal keeps event kinds as strings (its on-disk format); they are mapped
// to enums here, at the edge, and nowhere else. Pure: no I/O, no clock, no
// locking (the caller serialises access). Any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "control/config.hh"

namespace edgedns::ctl {

// Every "ev" the journal holds, plus Verdicts (progress shown to watchers,
// never journaled). Names are the on-disk spelling, see event_name().
enum class Event {
  Baseline,  // the fleet's committed version became known (adopt or nodes)
  Version,   // a version was stored, with its label
  Rejected,  // a push failed its gates (no state change)
  RolloutStart,
  StageBegin,
  Upload,   // steps acted on nodes: recorded for watchers and
  Publish,  // post-mortems, replay needs nothing from them
  Converge,
  StagePassed,
  Pause,
  Resume,
  CommitBegin,
  RollbackBegin,
  Committed,
  RolledBack,
  Bad,  // a version rolled back once is refused afterwards
  ManualRollbackBegin,
  ManualRollbackDone,
  Abort,  // the operator asked to stop: the rollout rolls back, also after a restart
  Verdicts,
  Unknown,  // a kind this build does not know: ignored on replay
};

const char* event_name(Event e);
Event event_from_name(std::string_view name);
// The record's kind; Unknown when "ev" is missing or not a string.
Event event_of(const nlohmann::json& rec);

// What must serve the new version during a stage (cumulative: earlier
// stages' targets are included).
struct StageTarget {
  std::string node;
  std::vector<int> lcores;  // empty: every lcore
};
struct ResolvedStage {
  std::string name;
  Scope scope = Scope::All;
  double bake_s = 0;
  uint64_t min_queries = 0;
  double timeout_s = 0;
  std::vector<StageTarget> targets;
};

nlohmann::json stage_to_json(const ResolvedStage& s);
ResolvedStage stage_from_json(const nlohmann::json& j);

enum class Phase { Stage, Commit, Rollback, Done };
const char* phase_name(Phase p);  // "stage", "commit", "rollback", "done"

enum class Outcome { None, Committed, RolledBack };

struct Rollout {
  uint64_t id = 0;
  std::string version, label, previous;
  std::string by;            // who pushed it: certificate name or user (edgectl serve's client)
  bool full_upload = false;  // push --full-upload: no deltas to the nodes
  std::string policy_text, policy_file, probes_text, probes_file;
  std::vector<ResolvedStage> stages;
  std::vector<std::string> untouched;
  size_t stage = 0;
  Phase phase = Phase::Stage;
  Outcome outcome = Outcome::None;
  std::string reason;
  bool paused = false;
  bool aborted = false;  // journaled: a restart does not resume an aborted rollout
  // The control-side counters the last stage without control lcores is
  // judged against, journaled when a stage passes so a restart keeps them.
  nlohmann::json reference;
  double started = 0, finished = 0;
  // progress, not journaled
  double bake_left = 0;
  size_t nodes_done = 0, lcores_done = 0;
  std::vector<std::string> verdicts;

  // The policy the rollout was pushed with (the default when none was given).
  Policy policy() const;
};

// "running", "paused", "committing", "rolling_back", "committed", "rolled_back".
std::string state_name(const Rollout& r);
// RFC 3339 in UTC ("2026-12-07T23:40:01Z") of a journal time (seconds
// since the epoch); "" for 0.
std::string rfc3339(double t);
// The rollout as status, rollout and history replies show it.
nlohmann::json rollout_json(const Rollout& r, size_t nodes_total);

struct FleetState {
  std::string committed;  // the fleet's committed version ("" = unknown)
  std::vector<std::string> committed_log;
  std::map<std::string, std::string> labels, bad;
  std::optional<Rollout> active;
  std::vector<Rollout> history;          // finished rollouts, oldest first
  std::optional<std::string> manual_to;  // pending manual rollback target
  uint64_t next_rollout = 1;

  // True once no rollout or manual rollback is pending.
  bool idle() const { return !active && !manual_to; }
};

// Folds one journal record into the state. Records that name another
// rollout than the active one, and kinds that change nothing, are ignored.
void apply_record(FleetState& s, const nlohmann::json& rec);

// A daemon restarted mid-stage either resumes the stage or, when the
// rollout's policy says on_restart: rollback (or its policy no longer
// parses, or it was aborted), turns it into a rollback. An aborted rollout
// in its commit phase is rolled back too. Returns true when it did so.
bool interrupt_on_restart(FleetState& s);

}  // namespace edgedns::ctl
