// Typed client of the node agent protocol v1 (docs/control-protocol.md): one
// method per command, each with a timeout. Failures throw NodeError naming
// the node and its socket, with the agent's error code and diagnostics.
// Control thread; blocks on the socket. Not thread-safe (one per thread).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "proto/client.hh"
#include "proto/tls.hh"

namespace edgedns::ctl {

class NodeError : public std::runtime_error {
 public:
  NodeError(const std::string& node, const std::string& socket, const std::string& code,
            const std::string& message, nlohmann::json diagnostics = nlohmann::json::array());
  const std::string node, socket;
  const std::string code;  // the agent's code, or "unreachable", "timeout", "io", "protocol"
  const nlohmann::json diagnostics;
  // The node could not be reached or stopped answering (not a refusal).
  bool is_down() const { return code == "unreachable" || code == "timeout" || code == "io"; }
};

struct Counters {
  uint64_t queries = 0, noerror = 0, nxdomain = 0, servfail = 0, refused = 0, formerr = 0,
           notimp = 0, dropped = 0, malformed = 0;
  Counters& operator+=(const Counters& o);
  // Field-wise a - b, floored at 0 (an agent restart resets counters).
  static Counters delta(const Counters& a, const Counters& b);
  nlohmann::json to_json() const;
  static Counters from_json(const nlohmann::json& j);
};

struct Hello {
  std::string node;
  int protocol = 0;
  std::vector<int> lcores;
  std::string committed;
  std::map<int, std::string> served;
};

struct ZoneUpload {
  std::string origin;  // may be empty
  std::string file;
  std::string text;
};

struct UploadResult {
  std::string version, label;
  uint64_t records = 0;
  std::vector<std::string> warnings;
};

struct LcoreStatus {
  int id = 0;
  std::string version;
  std::map<std::string, Counters> counters;  // per version
};

struct VersionStatus {
  std::string version, label, state;
  uint64_t records = 0, memory = 0;
};

struct NodeStatus {
  std::vector<VersionStatus> versions;
  std::vector<LcoreStatus> lcores;
  std::string committed;
  uint64_t memory_bytes = 0;
  nlohmann::json raw;  // the reply as received, for --json
  bool holds(const std::string& v) const;
};

struct Health {
  bool ok = false;
  double uptime_s = 0;
  bool lcores_alive = false;
};

struct DeltaChange {
  bool add = true;
  std::string rr;  // "owner ttl class type rdata"
};

// Where a node agent listens: a unix socket path, or tls://HOST:PORT with
// the control plane's TLS context and the name the node's certificate must
// carry.
struct NodeAddress {
  std::string control;
  std::string server_name;
  std::shared_ptr<const proto::TlsContext> tls;
};

class NodeClient {
 public:
  // Most commands answer at once; uploads parse and compile whole zones.
  static constexpr std::chrono::milliseconds kDefaultTimeout{10'000};
  static constexpr std::chrono::milliseconds kUploadTimeout{300'000};

  NodeClient(std::string name, NodeAddress addr,
             std::chrono::milliseconds timeout = kDefaultTimeout);
  NodeClient(std::string name, std::string socket,
             std::chrono::milliseconds timeout = kDefaultTimeout)
      : NodeClient(std::move(name), NodeAddress{std::move(socket), {}, nullptr}, timeout) {}
  ~NodeClient();
  NodeClient(const NodeClient&) = delete;
  NodeClient& operator=(const NodeClient&) = delete;

  Hello hello();
  UploadResult upload(const std::vector<ZoneUpload>& zones);
  UploadResult delta(const std::string& base, const std::vector<DeltaChange>& changes);
  std::map<int, std::string> publish(const std::string& version,
                                     const std::optional<std::vector<int>>& lcores = std::nullopt);
  void commit(const std::string& version);
  std::map<int, std::string> rollback(const std::optional<std::string>& to = std::nullopt);
  NodeStatus status();
  Health health();
  void drop(const std::string& version);

  // Any command; returns the ok reply or throws NodeError.
  nlohmann::json request(nlohmann::json req, std::chrono::milliseconds timeout);

  const std::string& name() const { return name_; }
  // Request bytes sent to this node over every connection so far.
  uint64_t bytes_sent() const { return bytes_before_ + (conn_ ? conn_->bytes_sent() : 0); }
  const std::string& socket() const { return addr_.control; }
  void close();

 private:
  std::string name_;
  NodeAddress addr_;
  std::chrono::milliseconds timeout_;
  proto::Client connect() const;  // throws proto::CallError
  std::optional<proto::Client> conn_;
  uint64_t bytes_before_ = 0;  // of connections already closed  // opened on the first request,
                               // dropped after an I/O error
};

std::map<int, std::string> parse_served(const nlohmann::json& j);

}  // namespace edgedns::ctl
