// The fleet file (which nodes, their control sockets, probe addresses and
// waves) and the rollout policy (stages, health thresholds, gate limits),
// both YAML. Errors throw ConfigError naming the file, the line and the
// field ("fleet.yaml:7: nodes[1].control: missing"). Control thread.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "control/gates.hh"
#include "control/node_client.hh"
#include "proto/tls.hh"

namespace edgedns::ctl {

class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct FleetNode {
  std::string name;
  std::string control;      // the node agent's unix socket, or tls://HOST:PORT
  std::string server_name;  // tls://: the name the node's certificate must carry (default: name)
  std::string probe;        // "IP" or "IP:PORT" / "[IPv6]:PORT" (port 53 by default)
  int wave = 1;
  std::shared_ptr<const proto::TlsContext> tls;  // tls://: the fleet's client context
  NodeAddress address() const { return {control, server_name, tls}; }
};

struct Fleet {
  std::vector<FleetNode> nodes;  // in rollout order: by wave, then file order
  // tls: the control plane's certificate, key and CA (paths relative to the
  // fleet file's directory); the context is built once, shared by every node.
  std::optional<proto::TlsFiles> tls_files;
  std::shared_ptr<const proto::TlsContext> tls;
  // access: who may use `edgectl serve --listen` (certificate names):
  // operators change the fleet (push, rollback, pause, resume, abort),
  // readers only look (status, history, rollout watch).
  std::vector<std::string> operators, readers;
  const FleetNode* find(const std::string& name) const;
};

Fleet parse_fleet(const std::string& yaml, const std::string& file);
Fleet load_fleet(const std::string& path);

enum class Scope { Lcore, Node, Wave, All };
const char* scope_name(Scope s);

struct StagePolicy {
  std::string name;
  Scope scope = Scope::All;
  int waves = 1;  // Scope::Wave: how many further waves this stage adds
  double bake_s = 60;
  uint64_t min_queries = 0;  // canary queries that must be observed before the stage passes
  double timeout_s = 0;      // 0: bake + 300 s; a stage that cannot see min_queries by then fails
};

struct RateLimit {
  double abs = 0.01;  // canary may exceed control by this much absolute rate...
  double rel = 0.5;   // ...or by this fraction of the control rate, whichever is larger
};

struct HealthPolicy {
  double interval_s = 5;
  // Rates from fewer queries than this on either side are noise, not evidence.
  uint64_t min_queries = 100;
  std::map<std::string, RateLimit> rates;  // servfail refused nxdomain formerr dropped malformed
  bool rollback_on_node_down = true;       // false: wait (bake clock stops) until it is back
  size_t auto_probes = 5;                  // untouched names probed, answers must not change
  double probe_timeout_s = 1;
  int probe_repeats = 4;  // each from a new source port, to reach several lcores via RSS
};

struct Policy {
  std::vector<StagePolicy> stages;
  HealthPolicy health;
  GateLimits gates;
  bool resume_on_restart = true;  // false: a restarted daemon rolls an interrupted rollout back
};

Policy default_policy();
Policy parse_policy(const std::string& yaml, const std::string& file);
Policy load_policy(const std::string& path);

// Reads a whole file; throws ConfigError naming it.
std::string read_file(const std::string& path);

}  // namespace edgedns::ctl
