// The rollout engine behind `edgectl serve`: validates a push, stores the
// version, and walks it through the policy's stages (one lcore of the first
// node, that node, the next wave(s), all), baking each stage while health
// gates run (liveness, served-version convergence, canary-vs-control rates,
// probe queries). A failed gate rolls every node back to the previous
// version; passing every stage commits everywhere. Each step is journaled
// before it is acted on; after a restart the journal is replayed and an
// interrupted rollout resumes (or rolls back, per policy) from its stage.
// The state itself is rollout_state.hh, the stage decisions stage.hh (both
// pure); rollout.cc holds the command handlers, rollout_engine.cc the engine.
// Threads: handle() from any connection thread; one engine thread acts on nodes.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "control/config.hh"
#include "control/journal.hh"
#include "control/node_client.hh"
#include "control/probe.hh"
#include "control/rollout_state.hh"
#include "control/stage.hh"
#include "control/store.hh"

namespace edgedns::ctl {

class Controller {
 public:
  struct Options {
    Fleet fleet;
    std::string state_dir;
    std::vector<std::string> adopt;  // zone files the fleet serves now (first start)
    // How often an idle engine compares every node with the committed
    // version and repairs drift (a node back from the dead on a bad LKG,
    // one a rollback could not reach).
    double reconcile_interval_s = 1.0;
    // The fleet file `fleet` came from: what fleet_reload reads again
    // (empty: no reload).
    std::string fleet_file;
  };
  explicit Controller(Options o);
  ~Controller();

  // Replays the journal, reconciles nodes, starts the engine thread.
  void start();
  void stop();

  // One daemon request (see docs/control-plane.md); returns the reply.
  nlohmann::json handle(const nlohmann::json& req);

  // For tests: true once no rollout or manual rollback is pending.
  bool idle();

 private:
  // Command handlers and start-up (rollout.cc).
  nlohmann::json journal(nlohmann::json rec);        // appends, feeds the event list
  nlohmann::json journal_apply(nlohmann::json rec);  // journal(), then folded into st_
  // journal_apply() only when `ok(st_)` holds, checked and appended with no
  // other record in between (jmu_ then mu_ held): a decision taken on an
  // earlier view of the state is not journaled after the state moved on.
  std::optional<nlohmann::json> journal_apply_if(const std::function<bool(const FleetState&)>& ok,
                                                 nlohmann::json rec);
  void replay();
  void adopt_baseline();
  // Journals the version every fleet node has committed (`committed`, per
  // node) as the baseline when none is known; false when they disagree.
  bool learn_baseline(const std::map<std::string, std::string>& committed);
  nlohmann::json rollout_json(const Rollout& r) const;

  nlohmann::json cmd_push(const nlohmann::json& req);
  nlohmann::json cmd_status();
  nlohmann::json cmd_rollout(const nlohmann::json& req);
  nlohmann::json cmd_control(const std::string& cmd, const std::string& by);
  nlohmann::json cmd_rollback(const nlohmann::json& req);
  nlohmann::json abort_rollout(uint64_t id, const std::string& why, const std::string& by);
  nlohmann::json cmd_history();
  nlohmann::json cmd_fleet_reload(const nlohmann::json& req);
  // The fleet now: a reload swaps it, so each operation keeps the snapshot
  // it started with (nodes added or removed mid-operation do not move under it).
  std::shared_ptr<const Fleet> fleet_snapshot() const;

  // The engine thread (rollout_engine.cc).
  using CounterBase = std::map<std::string, std::map<int, std::map<std::string, Counters>>>;
  void engine();
  void run_rollout();
  bool run_stage(size_t i, std::string& reason);
  bool publish_stage(const Rollout& r, const ResolvedStage& st, const Policy& pol,
                     std::string& reason);
  bool stage_probes(const Rollout& r, const Policy& pol, std::vector<Probe>& probes,
                    std::string& reason);
  CounterBase counter_base();
  bool bake_stage(const Rollout& r, const ResolvedStage& st, const Policy& pol,
                  const std::vector<Probe>& probes, std::string& reason);
  StageEvidence observe_nodes(const Rollout& r, const ResolvedStage& st, const Policy& pol,
                              const CounterBase& base);
  void probe_targets(const Rollout& r, const ResolvedStage& st, const Policy& pol,
                     const std::vector<Probe>& probes, StageEvidence& ev);
  // Every probe to one node until the scope is covered (run_probe): the
  // first failure, or "".
  std::string probe_node(const FleetNode& fn, const ProbeScope& scope, const Policy& pol,
                         const std::vector<Probe>& probes, StageEvidence& ev);
  // on_node_down: wait: true (and `node` added to ev.down) when a node whose
  // probe failed no longer answers its agent.
  bool node_went_down(const std::string& node, StageEvidence& ev);
  bool commit_all(std::string& reason);
  // Brings every node to `to` (served on every lcore and committed); the
  // nodes that could not be, with why, go to `pending`.
  void rollback_all(const std::string& to, std::vector<std::string>& pending);
  void finish_rollback();
  // Idle-time repair: every node that does not serve and commit the
  // committed version is brought back to it; learns the fleet's version
  // from its nodes when none is known yet.
  void reconcile();
  // An exception escaped a rollout step: the rollout is rolled back (or,
  // when already rolling back, retried) rather than the daemon dying.
  void engine_failure(const std::string& what);
  bool aborted();  // the active rollout was aborted (journaled)
  NodeClient& client(const std::string& node);
  // Uploads `version` unless the node holds it: as a delta from a version it
  // holds when allow_delta and one fits, else the full zone set.
  void ensure_held(NodeClient& c, const std::string& version, bool allow_delta = true);
  std::shared_ptr<const std::optional<std::vector<DeltaChange>>> plan(const std::string& base,
                                                                      const std::string& target);
  bool sleep_interval(double seconds);  // false when stopping
  void set_verdicts(std::vector<std::string> v);
  void note_sync(const std::string& node, bool ok, const std::string& why);

  Options opt_;
  StateDirLock lock_;  // before store_ and journal_: nothing is touched unlocked
  VersionStore store_;
  std::unique_ptr<Journal> journal_;
  std::mutex jmu_;      // journal writes
  std::mutex push_mu_;  // one push validated at a time
  mutable std::mutex mu_;
  std::mutex probes_mu_;
  std::optional<std::pair<uint64_t, std::vector<Probe>>> probes_memo_;  // rollout id -> probes
  // plan_delta results by (base, target); versions never change.
  std::mutex plans_mu_;
  std::map<std::pair<std::string, std::string>,
           std::shared_ptr<const std::optional<std::vector<DeltaChange>>>>
      plans_;
  std::condition_variable cv_;
  FleetState st_;                       // guarded by mu_
  std::vector<nlohmann::json> events_;  // journal records and verdicts, for watch
  std::atomic<bool> stopping_{false};
  // Last reconcile pass, per node: "" when on the committed version, else
  // why not (guarded by mu_). What status reports as pending.
  std::map<std::string, std::string> drift_;
  // drift_ of a node that serves the committed version but has not answered
  // probes as that version does (repaired, or joining empty).
  static constexpr const char* kUnverified = "serves the committed version, but probes fail: ";
  // "" when fn answers as `version` does offline (or has no probe address).
  std::string verify_answers(const FleetNode& fn, const std::string& version);
  bool reconciled_ = false;  // a pass has completed since the last change (mu_)
  struct Backoff {
    std::chrono::steady_clock::time_point next{};
    double delay_s = 0;
  };
  std::map<std::string, Backoff> backoff_;  // reconcile retries per node (engine thread)
  std::thread thread_;
  std::map<std::string, std::unique_ptr<NodeClient>> clients_;  // engine thread only
  uint64_t clients_fleet_gen_ = 0;                              // engine thread only
  mutable std::mutex fleet_mu_;
  std::shared_ptr<const Fleet> fleet_;  // under fleet_mu_
  std::atomic<uint64_t> fleet_gen_{0};  // bumped by each reload
  Counters reference_;  // control rates of the last stage that had control lcores (engine thread)
};

}  // namespace edgedns::ctl
