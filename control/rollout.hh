// The rollout engine behind `edgectl serve`: validates a push, stores the
// version, and walks it through the policy's stages (one lcore of the first
// node, that node, the next wave(s), all), baking each stage while health
// gates run (liveness, served-version convergence, canary-vs-control rates,
// probe queries). A failed gate rolls every node back to the previous
// version; passing every stage commits everywhere. Each step is journaled
// before it is acted on; after a restart the journal is replayed and an
// interrupted rollout resumes (or rolls back, per policy) from its stage.
// Threads: handle() from any connection thread; one engine thread acts on nodes.
#pragma once

#include <atomic>
#include <condition_variable>
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
#include "control/store.hh"

namespace edgedns::ctl {

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

// Pure: turns the policy's stages into concrete targets for this fleet
// (`lcores` per node name, from hello). Stages that would add nothing are
// dropped (e.g. "one lcore" on a single-lcore node equals "that node").
std::vector<ResolvedStage> resolve_stages(const Policy& p, const Fleet& f,
                                          const std::map<std::string, std::vector<int>>& lcores,
                                          std::optional<double> bake_override);

nlohmann::json stage_to_json(const ResolvedStage& s);
ResolvedStage stage_from_json(const nlohmann::json& j);

class Controller {
 public:
  struct Options {
    Fleet fleet;
    std::string state_dir;
    std::vector<std::string> adopt;  // zone files the fleet serves now (first start)
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
  struct Rollout {
    uint64_t id = 0;
    std::string version, label, previous;
    std::string policy_text, policy_file, probes_text, probes_file;
    std::vector<ResolvedStage> stages;
    std::vector<std::string> untouched;
    size_t stage = 0;
    std::string phase = "stage";  // stage | commit | rollback | done
    std::string outcome;          // committed | rolled_back
    std::string reason;
    bool paused = false;
    double started = 0, finished = 0;
    // progress, not journaled
    double bake_left = 0;
    size_t nodes_done = 0, lcores_done = 0;
    std::vector<std::string> verdicts;
  };

  nlohmann::json journal(nlohmann::json rec);  // appends, feeds the event list
  void replay();
  void apply(const nlohmann::json& rec);
  void adopt_baseline();
  void engine();
  void run_rollout();
  bool run_stage(size_t i, std::string& reason);
  bool commit_all(std::string& reason);
  void rollback_all(const std::string& to, std::vector<std::string>& pending);
  void finish_rollback(const std::string& reason);
  void converge();
  NodeClient& client(const std::string& node);
  void ensure_held(NodeClient& c, const std::string& version);
  bool sleep_interval(double seconds);  // false when stopping
  nlohmann::json rollout_json(const Rollout& r) const;
  void set_verdicts(std::vector<std::string> v);

  nlohmann::json cmd_push(const nlohmann::json& req);
  nlohmann::json cmd_status();
  nlohmann::json cmd_rollout(const nlohmann::json& req);
  nlohmann::json cmd_control(const std::string& cmd);
  nlohmann::json cmd_rollback(const nlohmann::json& req);
  nlohmann::json cmd_history();

  Options opt_;
  VersionStore store_;
  std::unique_ptr<Journal> journal_;
  std::mutex jmu_;     // journal writes
  std::mutex push_mu_; // one push validated at a time
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::string committed_;                 // the fleet's committed version ("" = unknown)
  std::vector<std::string> committed_log_;
  std::map<std::string, std::string> labels_, bad_;
  std::optional<Rollout> active_;
  std::vector<nlohmann::json> history_;   // finished rollouts
  std::vector<nlohmann::json> events_;    // journal records and verdicts, for watch
  std::optional<std::string> manual_to_; // pending manual rollback target
  uint64_t next_rollout_ = 1;
  std::atomic<bool> abort_{false};
  std::atomic<bool> stopping_{false};
  std::thread thread_;
  std::map<std::string, std::unique_ptr<NodeClient>> clients_;  // engine thread only
  Counters reference_;  // control rates of the last stage that had control lcores (engine thread)
};

}  // namespace edgedns::ctl
