// The node control agent: serves docs/control-protocol.md (v1) on a unix
// stream socket (--control PATH). It owns no zone data itself: it turns
// requests into VersionRegistry calls (upload, delta, publish, commit,
// rollback, drop) and reports status and health.
//
// Threads: one accept thread and one thread per connection (at most
// kMaxConnections) that read frames; commands from all connections run one at
// a time under the agent's mutex, on those control threads, never on an
// lcore. A client that stalls, sends garbage or disappears mid-frame only
// ends its own connection: the lcores keep serving what they serve, and the
// next connection sees where things stand. No DPDK here (unit-testable).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "dataplane/registry.hh"

namespace edgedns::dp {

// Concurrent connections: edgectl and an operator's status poll need a few;
// each blocked reader is a thread, so a bound keeps a misbehaving client from
// growing the process.
constexpr unsigned kMaxConnections = 16;

struct AgentHooks {
  // Persists a version as the last-known-good before a commit is answered
  // (throws std::exception on failure: the commit is refused with state_io).
  // Empty: no --state-dir, nothing persisted.
  std::function<void(const Version&)> persist;
  // True when every worker lcore passed a quiescent state within the last
  // second (health). Empty: reported alive.
  std::function<bool()> lcores_alive;
  // Runs first in every agent thread (edgedns: keep them off the worker CPUs).
  std::function<void()> thread_init;
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
  // replaced, a live one is not) and starts accepting. Throws
  // std::runtime_error naming the path.
  void start(const std::string& path);
  // Closes the socket, ends every connection, joins the threads.
  void stop();

  // One request (already parsed) -> its reply. Any control thread; commands
  // are serialised. Exposed for unit tests.
  nlohmann::json handle(const nlohmann::json& req);
  // A raw frame -> its reply (framing and JSON errors included).
  nlohmann::json handle_frame(const std::string& frame);

 private:
  struct Conn {
    int fd = -1;
    std::thread t;
    std::atomic<bool> done{false};
  };
  void accept_loop();
  void serve(Conn* c);
  void reap(bool all);
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
  void commit_version(const std::shared_ptr<const Version>& v);

  VersionRegistry& reg_;
  AgentHooks hooks_;
  std::mutex cmd_mu_;  // one command at a time
  std::chrono::steady_clock::time_point started_;
  std::string path_;
  int listen_fd_ = -1;
  int wake_fd_[2] = {-1, -1};  // a pipe that ends the accept loop's poll
  std::thread accept_thread_;
  std::mutex conn_mu_;
  std::vector<std::unique_ptr<Conn>> conns_;
  std::atomic<bool> stopping_{false};
};

}  // namespace edgedns::dp
