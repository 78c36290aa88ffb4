// `edgectl serve` (the daemon: its own unix socket served by proto::Server,
// the node protocol's framing) and the CLI commands that talk to it: push, status, rollout
// watch|pause|resume|abort, rollback, history. Exit codes of push --wait and
// rollout watch: 0 committed everywhere, 2 rejected by validation (nothing
// sent), 3 rolled back, 1 any other error.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace edgedns::ctl {

constexpr const char* kDefaultDaemonSocket = "/run/edgedns/edgectl.sock";

int serve_main(const std::string& fleet, const std::string& state_dir, const std::string& socket,
               const std::vector<std::string>& adopt);

struct PushOptions {
  std::string socket = kDefaultDaemonSocket;
  std::string policy, probes, origin;
  std::optional<double> bake;
  bool wait = false, force_serial = false, allow_apex_change = false, json = false;
};
int cli_push(const PushOptions& o, const std::vector<std::string>& files);
int cli_status(const std::string& socket, bool json);
int cli_rollout(const std::string& socket, const std::string& action, bool json);
int cli_rollback(const std::string& socket, const std::string& version, bool wait, bool json);
int cli_history(const std::string& socket, bool json);

}  // namespace edgedns::ctl
