#include "control/node_client.hh"

#include <algorithm>

#include "proto/framing.hh"

namespace edgedns::ctl {

using nlohmann::json;

NodeError::NodeError(const std::string& node, const std::string& socket, const std::string& code,
                     const std::string& message, json diagnostics)
    : std::runtime_error(
          (node.empty() ? "node agent at " + socket : "node " + node + " (" + socket + ")") + ": " +
          message),
      node(node),
      socket(socket),
      code(code),
      diagnostics(std::move(diagnostics)) {}

namespace {

#define EDGEDNS_COUNTER_FIELDS(X) \
  X(queries)                      \
  X(noerror) X(nxdomain) X(servfail) X(refused) X(formerr) X(notimp) X(dropped) X(malformed)

uint64_t u64(const json& j, const char* k) {
  auto it = j.find(k);
  return it != j.end() && it->is_number() ? it->get<uint64_t>() : 0;
}

std::string str(const json& j, const char* k) {
  auto it = j.find(k);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

Counters& Counters::operator+=(const Counters& o) {
#define X(f) f += o.f;
  EDGEDNS_COUNTER_FIELDS(X)
#undef X
  return *this;
}

Counters Counters::delta(const Counters& a, const Counters& b) {
  Counters d;
#define X(f) d.f = a.f >= b.f ? a.f - b.f : a.f;
  EDGEDNS_COUNTER_FIELDS(X)
#undef X
  return d;
}

json Counters::to_json() const {
  json j;
#define X(f) j[#f] = f;
  EDGEDNS_COUNTER_FIELDS(X)
#undef X
  return j;
}

Counters Counters::from_json(const json& j) {
  Counters c;
  if (!j.is_object()) return c;
#define X(f) c.f = u64(j, #f);
  EDGEDNS_COUNTER_FIELDS(X)
#undef X
  return c;
}

bool NodeStatus::holds(const std::string& v) const {
  return std::any_of(versions.begin(), versions.end(),
                     [&](const VersionStatus& s) { return s.version == v; });
}

std::map<int, std::string> parse_served(const json& j) {
  std::map<int, std::string> out;
  if (!j.is_object()) return out;
  for (auto it = j.begin(); it != j.end(); ++it)
    if (it.value().is_string()) out[std::atoi(it.key().c_str())] = it.value().get<std::string>();
  return out;
}

NodeClient::NodeClient(std::string name, NodeAddress addr, std::chrono::milliseconds timeout)
    : name_(std::move(name)), addr_(std::move(addr)), timeout_(timeout) {}

proto::Client NodeClient::connect() const {
  const std::string& c = addr_.control;
  if (c.rfind("tls://", 0) != 0) return proto::Client::connect_unix(c, "the socket");
  proto::Endpoint ep;
  std::string err;
  if (!proto::parse_endpoint(c.substr(6), &ep, &err))
    throw proto::CallError(proto::CallError::Kind::Unreachable, err);
  if (!addr_.tls)
    throw proto::CallError(proto::CallError::Kind::Unreachable,
                           c + ": no TLS certificate configured for the control plane");
  // The connect and handshake get the command timeout too: a partitioned
  // node is "down" after it, as a dead one is.
  // The name the certificate must carry: as configured, else the node's
  // name in the fleet, else the address's host (as a browser would).
  const std::string& expect = !addr_.server_name.empty() ? addr_.server_name
                              : !name_.empty()           ? name_
                                                         : ep.host;
  return proto::Client::connect_tls(*addr_.tls, ep, expect, "the node", int(timeout_.count()));
}

NodeClient::~NodeClient() { close(); }

void NodeClient::close() {
  if (conn_) bytes_before_ += conn_->bytes_sent();
  conn_.reset();
}

json NodeClient::request(json req, std::chrono::milliseconds timeout) {
  using K = proto::CallError::Kind;
  const std::string cmd = req.value("cmd", "?");
  json reply;
  for (int attempt = 0;; ++attempt) {
    bool reused = conn_.has_value();
    try {
      if (!conn_) conn_.emplace(connect());
      reply = conn_->call(req, int(timeout.count()));
      break;
    } catch (const proto::CallError& e) {
      // The connection is in an unknown state (a late reply may still come): drop it.
      close();
      // A cached connection the agent closed meanwhile (it restarted, or
      // reaped it) fails at once with EPIPE or EOF: that says nothing about
      // the node, so one fresh connection is tried before calling it down.
      // Every command is idempotent, so a request that did arrive is safe
      // to repeat.
      if (reused && attempt == 0 && (e.kind == K::Closed || e.kind == K::Io)) continue;
      if (e.kind == K::Unreachable) throw NodeError(name_, addr_.control, "unreachable", e.what());
      if (e.kind == K::Timeout)
        throw NodeError(name_, addr_.control, "timeout",
                        "no reply to '" + cmd + "' within " +
                            std::to_string(timeout.count() / 1000.0).substr(0, 4) + " s");
      throw NodeError(name_, addr_.control, "io", "'" + cmd + "': " + e.what());
    }
  }
  if (!reply.value("ok", false)) {
    std::string code = reply.value("code", std::string("error"));
    std::string msg = reply.value("error", std::string("request failed"));
    json diags = reply.contains("diagnostics") ? reply["diagnostics"] : json::array();
    throw NodeError(name_, addr_.control, code, "'" + cmd + "' refused (" + code + "): " + msg,
                    diags);
  }
  return reply;
}

Hello NodeClient::hello() {
  json r = request({{"cmd", "hello"}}, timeout_);
  Hello h;
  h.node = str(r, "node");
  h.protocol = r.value("protocol", 0);
  if (h.protocol != proto::kVersion)
    throw NodeError(name_, addr_.control, "protocol",
                    "speaks protocol " + std::to_string(h.protocol) + ", edgectl speaks " +
                        std::to_string(proto::kVersion));
  if (r.contains("lcores") && r["lcores"].is_array())
    for (const auto& l : r["lcores"])
      if (l.is_number_integer()) h.lcores.push_back(l.get<int>());
  h.committed = str(r, "committed");
  h.served = parse_served(r.value("served", json::object()));
  return h;
}

namespace {
UploadResult upload_result(const json& r) {
  UploadResult u;
  u.version = str(r, "version");
  u.label = str(r, "label");
  u.records = u64(r, "records");
  if (r.contains("warnings") && r["warnings"].is_array())
    for (const auto& w : r["warnings"])
      u.warnings.push_back(w.is_string() ? w.get<std::string>() : w.dump());
  return u;
}
}  // namespace

UploadResult NodeClient::upload(const std::vector<ZoneUpload>& zones) {
  json z = json::array();
  for (const auto& u : zones) {
    json e = {{"file", u.file}, {"text", u.text}};
    if (!u.origin.empty()) e["origin"] = u.origin;
    z.push_back(std::move(e));
  }
  return upload_result(
      request({{"cmd", "upload"}, {"zones", std::move(z)}}, std::max(timeout_, kUploadTimeout)));
}

UploadResult NodeClient::delta(const std::string& base, const std::vector<DeltaChange>& changes) {
  json c = json::array();
  for (const auto& ch : changes) c.push_back({{"op", ch.add ? "add" : "del"}, {"rr", ch.rr}});
  return upload_result(request({{"cmd", "delta"}, {"base", base}, {"changes", std::move(c)}},
                               std::max(timeout_, kUploadTimeout)));
}

std::map<int, std::string> NodeClient::publish(const std::string& version,
                                               const std::optional<std::vector<int>>& lcores) {
  json req = {{"cmd", "publish"}, {"version", version}};
  if (lcores) req["lcores"] = *lcores;
  return parse_served(request(std::move(req), timeout_).value("served", json::object()));
}

void NodeClient::commit(const std::string& version) {
  request({{"cmd", "commit"}, {"version", version}}, timeout_);
}

std::map<int, std::string> NodeClient::rollback(const std::optional<std::string>& to) {
  json req = {{"cmd", "rollback"}};
  if (to) req["to"] = *to;
  return parse_served(request(std::move(req), timeout_).value("served", json::object()));
}

NodeStatus NodeClient::status() {
  json r = request({{"cmd", "status"}}, timeout_);
  NodeStatus s;
  s.committed = str(r, "committed");
  s.memory_bytes = u64(r, "memory_bytes");
  if (r.contains("versions") && r["versions"].is_array())
    for (const auto& v : r["versions"]) {
      if (!v.is_object()) continue;
      s.versions.push_back({str(v, "version"), str(v, "label"), str(v, "state"), u64(v, "records"),
                            u64(v, "memory")});
    }
  if (r.contains("lcores") && r["lcores"].is_array())
    for (const auto& l : r["lcores"]) {
      if (!l.is_object()) continue;
      LcoreStatus ls;
      ls.id = l.value("id", 0);
      ls.version = str(l, "version");
      if (l.contains("counters") && l["counters"].is_object())
        for (auto it = l["counters"].begin(); it != l["counters"].end(); ++it)
          ls.counters[it.key()] = Counters::from_json(it.value());
      s.lcores.push_back(std::move(ls));
    }
  s.raw = std::move(r);
  return s;
}

Health NodeClient::health() {
  json r = request({{"cmd", "health"}}, timeout_);
  Health h;
  h.ok = r.value("ok", false);
  h.uptime_s =
      r.contains("uptime_s") && r["uptime_s"].is_number() ? r["uptime_s"].get<double>() : 0;
  h.lcores_alive = r.value("lcores_alive", false);
  return h;
}

void NodeClient::drop(const std::string& version) {
  request({{"cmd", "drop"}, {"version", version}}, timeout_);
}

}  // namespace edgedns::ctl
