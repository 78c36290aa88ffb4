// `edgectl serve` (the daemon: its own unix socket served by proto::Server,
// the node protocol's framing) and the CLI commands that talk to it: push, status, rollout
// watch|pause|resume|abort, rollback, history. Exit codes of push --wait and
// rollout watch: 0 committed everywhere, 2 rejected by validation (nothing
// sent), 3 rolled back, 1 any other error.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "control/node_client.hh"

namespace edgedns::ctl {

constexpr const char* kDefaultDaemonSocket = "/run/edgedns/edgectl.sock";

// `listen` (ADDR:PORT, may be empty): a TLS port beside the unix socket, for
// operators on other hosts; the fleet file's tls: certificate and its
// access: lists say who gets in and with which role.
int serve_main(const std::string& fleet, const std::string& state_dir, const std::string& socket,
               const std::vector<std::string>& adopt, const std::string& listen = "");

// Roles of the daemon's clients. The unix socket admits root and the
// daemon's own uid only (proto::Server), both operators; over TLS, the
// certificate name decides (Fleet::operators / readers).
enum class Role { Reader, Operator };
// Whether `cmd` (a daemon request) changes the fleet, i.e. needs an operator.
bool needs_operator(const std::string& cmd);

// Where the CLI reaches the daemon: its unix socket, or tls://HOST:PORT (a
// NodeAddress with the CLI's own certificate).
using DaemonAddress = NodeAddress;

struct PushOptions {
  DaemonAddress server{kDefaultDaemonSocket, {}, nullptr};
  std::string policy, probes, origin;
  std::optional<double> bake;
  bool wait = false, force_serial = false, allow_apex_change = false, json = false;
  bool full_upload = false;  // send every node the whole zone set, not a delta
  // push --zone: the files change only their zones; the committed version's
  // other zones stay. remove: zones taken out by name (edgectl remove-zone).
  bool zone_only = false;
  std::vector<std::string> remove;
};
int cli_push(const PushOptions& o, const std::vector<std::string>& files);
int cli_status(const DaemonAddress& server, bool json);
int cli_rollout(const DaemonAddress& server, const std::string& action, bool json);
int cli_rollback(const DaemonAddress& server, const std::string& version, bool wait, bool json);
int cli_history(const DaemonAddress& server, bool json);
// edgectl fleet reload: serve reads its fleet file again (as SIGHUP does).
int cli_fleet_reload(const DaemonAddress& server, bool json);

}  // namespace edgedns::ctl
