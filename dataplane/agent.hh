// The node control agent: serves docs/control-protocol.md (v1) on a unix
// stream socket (--control PATH) and/or a TCP port with mutual TLS
// (--control-listen ADDR:PORT, for a control plane on another host). It owns no zone data itself:
// it turns requests into VersionRegistry calls (upload, delta, publish, commit, rollback, drop) and
// reports status and health.
//
// Threads: the socket, its bounds and timeouts are proto::Server's (an accept
// thread and one thread per connection, off the lcores); commands from all
// connections run one at a time under the agent's mutex. A client that
// stalls, sends garbage or disappears mid-frame only ends its own
// connection: the lcores keep serving what they serve, and the next
// connection sees where things stand. A request whose client has closed its
// connection by the time the mutex is taken is dropped, not applied (a
// controller that timed out has moved on). No DPDK here (unit-testable).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "dataplane/registry.hh"
#include "proto/server.hh"
#include "zones/lkg.hh"

namespace edgedns::dp {

struct AgentHooks {
  // Persists a version as the last-known-good before a commit is answered
  // (throws std::exception on failure: the commit is refused with state_io).
  // Empty: no --state-dir, nothing persisted.
  // `deltas`: ways to write it as a change from an earlier version (the
  // persister uses one when it starts from what the disk holds).
  std::function<void(const Version&, std::span<const zones::LkgDelta> deltas)> persist;
  // True when every worker lcore passed a quiescent state within the last
  // second (health). Empty: reported alive.
  std::function<bool()> lcores_alive;
  // Runs first in every agent thread (edgedns: keep them off the worker CPUs).
  std::function<void()> thread_init;
  // One line about something the agent did on its own (a dropped request).
  // Empty: stderr.
  std::function<void(const std::string&)> log;
};

// A refused command with diagnostics (invalid_zone, or a bad delta).
struct CommandError : std::runtime_error {
  std::string code;  // bad_request or invalid_zone
  std::vector<zones::Diagnostic> diagnostics;
  CommandError(std::string c, const std::string& msg, std::vector<zones::Diagnostic> d = {})
      : std::runtime_error(msg), code(std::move(c)), diagnostics(std::move(d)) {}
};

class ControlAgent {
 public:
  ControlAgent(VersionRegistry& reg, AgentHooks hooks);
  ~ControlAgent();  // stop()
  ControlAgent(const ControlAgent&) = delete;
  ControlAgent& operator=(const ControlAgent&) = delete;

  // Binds PATH (mode 0600; a stale socket left by a killed process is
  // replaced, a live one or a non-socket is not) and starts accepting.
  // Throws std::runtime_error naming the path.
  void start(const std::string& path);
  // Listens on ADDR:PORT for TLS clients (proto::Server::bind_tls): the same
  // commands, serialised with the unix socket's. Returns "tls://ADDR:PORT".
  // Throws std::runtime_error naming the address.
  std::string start_tls(const std::string& listen, std::shared_ptr<const proto::TlsContext> tls,
                        std::vector<std::string> allow);
  // Closes the socket, ends every connection, joins the threads.
  void stop();
  // Live control connections (tests).
  size_t connections() {
    return server_.connections() + (tls_server_ ? tls_server_->connections() : 0);
  }

  // One request (already parsed) -> its reply. Any control thread; commands
  // are serialised. `peer`: the connection it came on (null: none, e.g. a
  // unit test), so that it is dropped when the client has gone. Exposed for
  // unit tests.
  nlohmann::json handle(const nlohmann::json& req, const proto::Peer* peer = nullptr);
  // A raw frame -> its reply (framing and JSON errors included).
  nlohmann::json handle_frame(const std::string& frame, const proto::Peer* peer = nullptr);

 private:
  nlohmann::json dispatch(const std::string& cmd, const nlohmann::json& req);
  nlohmann::json cmd_hello();
  nlohmann::json cmd_upload(const nlohmann::json& req);
  nlohmann::json cmd_delta(const nlohmann::json& req);
  nlohmann::json cmd_publish(const nlohmann::json& req);
  nlohmann::json cmd_commit(const nlohmann::json& req);
  nlohmann::json cmd_rollback(const nlohmann::json& req);
  nlohmann::json cmd_status();
  nlohmann::json cmd_health();
  nlohmann::json cmd_drop(const nlohmann::json& req);
  nlohmann::json served_map() const;
  bool empty() const;
  void commit_version(const std::shared_ptr<const Version>& v);
  void log(const std::string& line) const;
  proto::Server::PeerHandler handler();
  proto::ServerOptions server_options() const;

  VersionRegistry& reg_;
  AgentHooks hooks_;
  std::mutex cmd_mu_;  // one command at a time
  // The highest "epoch" of a state-changing request applied (under cmd_mu_;
  // per process: a restart has ended every connection a stale one could use).
  std::optional<int64_t> epoch_;
  // How cmd_delta made each version it made (under cmd_mu_): a commit of one
  // is written to disk as that delta (or, rolling back, its inverse), not as
  // the whole set. Entries go with their versions.
  std::map<std::string, zones::LkgDelta> made_by_delta_;
  std::chrono::steady_clock::time_point started_;
  // Last: their threads call handle_frame.
  proto::Server server_;
  std::unique_ptr<proto::Server> tls_server_;
};

}  // namespace edgedns::dp
