#include "dataplane/agent.hh"

#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "proto/framing.hh"
#include "zones/delta.hh"

namespace edgedns::dp {

using nlohmann::json;

namespace {

struct BadRequest : std::runtime_error {
  using std::runtime_error::runtime_error;
};

const json& field(const json& req, const char* name) {
  auto it = req.find(name);
  if (it == req.end()) throw BadRequest(std::string("missing field \"") + name + "\"");
  return *it;
}

std::string string_field(const json& req, const char* name) {
  const json& f = field(req, name);
  if (!f.is_string()) throw BadRequest(std::string("field \"") + name + "\" must be a string");
  return f.get<std::string>();
}

json diag_json(const zones::Diagnostic& d) {
  return {{"file", d.file},
          {"line", d.line},
          {"severity", d.is_error() ? "error" : "warning"},
          {"message", d.message}};
}

// The commands an "epoch" fences: all but hello, status and health.
bool changes_state(const std::string& cmd) {
  return cmd == "upload" || cmd == "delta" || cmd == "publish" || cmd == "commit" ||
         cmd == "rollback" || cmd == "drop";
}

json epoch_or_null(const std::optional<int64_t>& e) { return e ? json(*e) : json(nullptr); }

json version_or_null(const std::shared_ptr<const Version>& v) {
  return v ? json(v->hex) : json(nullptr);
}

size_t rss_bytes() {
  std::ifstream f("/proc/self/statm");
  size_t pages = 0, resident = 0;
  f >> pages >> resident;
  return resident * size_t(sysconf(_SC_PAGESIZE));
}

}  // namespace

ControlAgent::ControlAgent(VersionRegistry& reg, AgentHooks hooks)
    : reg_(reg),
      hooks_(std::move(hooks)),
      started_(std::chrono::steady_clock::now()),
      server_(handler(), server_options()) {}

ControlAgent::~ControlAgent() { stop(); }

proto::Server::PeerHandler ControlAgent::handler() {
  return [this](const std::string& frame, const proto::Peer& peer) {
    return handle_frame(frame, &peer);
  };
}

proto::ServerOptions ControlAgent::server_options() const {
  return proto::ServerOptions{.thread_init = hooks_.thread_init,
                              .log = [this](const std::string& l) { log(l); }};
}

void ControlAgent::start(const std::string& path) { server_.start(path); }

std::string ControlAgent::start_tls(const std::string& listen,
                                    std::shared_ptr<const proto::TlsContext> tls,
                                    std::vector<std::string> allow) {
  auto s = std::make_unique<proto::Server>(handler(), server_options());
  s->bind_tls(listen, std::move(tls), std::move(allow));
  s->start();
  tls_server_ = std::move(s);
  return tls_server_->path();
}

void ControlAgent::stop() {
  if (tls_server_) tls_server_->stop();
  server_.stop();
}

void ControlAgent::log(const std::string& line) const {
  if (hooks_.log) hooks_.log(line);
  else std::fprintf(stderr, "%s\n", line.c_str());
}

json ControlAgent::handle_frame(const std::string& frame, const proto::Peer* peer) {
  std::string err;
  auto msg = proto::parse_message(frame, &err);
  if (!msg) return proto::make_error(nullptr, "bad_request", err);
  return handle(*msg, peer);
}

json ControlAgent::handle(const json& req, const proto::Peer* peer) {
  json id = req.contains("id") ? req["id"] : json(nullptr);
  auto v = req.find("v");
  if (v == req.end() || !v->is_number_integer() || v->get<int64_t>() != proto::kVersion)
    return proto::make_error(id, "bad_request", "protocol version must be \"v\": 1");
  auto c = req.find("cmd");
  if (c == req.end() || !c->is_string())
    return proto::make_error(id, "bad_request", "missing \"cmd\"");
  const std::string& cmd = c->get_ref<const std::string&>();
  std::lock_guard lock(cmd_mu_);
  // Checked under cmd_mu_, just before acting: so a request is applied
  // either before every command its client sends after closing this
  // connection, or not at all. If the close came before this check, the
  // check sees it (a unix socket's peer is shut in close(2) itself, unless
  // another process holds a copy of the fd). If it came after, anything the
  // client sent later on a new connection waits for cmd_mu_, which is held
  // until this command has been applied.
  if (peer && peer->gone()) {
    std::string id_text = id.dump();
    if (id_text.size() > 64) id_text = id_text.substr(0, 64) + "...";  // ids are the client's
    log("control: dropped \"" + cmd.substr(0, 64) + "\" (id " + id_text +
        "): its client closed the connection before it was applied");
    return proto::make_error(id, "gone", "the client closed the connection; not applied");
  }
  // Fencing: a controller that took over raises the epoch, and whatever an
  // older one still has in flight is refused instead of undoing its work.
  std::optional<int64_t> epoch;
  if (changes_state(cmd)) {
    auto e = req.find("epoch");
    if (e != req.end() && !e->is_null()) {
      if (!e->is_number_integer() || e->get<int64_t>() < 0)
        return proto::make_error(id, "bad_request", "field \"epoch\" must be an integer >= 0");
      epoch = e->get<int64_t>();
      if (epoch_ && *epoch < *epoch_)
        return proto::make_error(id, "stale",
                                 "epoch " + std::to_string(*epoch) + " is older than epoch " +
                                     std::to_string(*epoch_) + ", already applied; not applied");
    }
  }
  try {
    json r = dispatch(cmd, req);
    if (epoch && (!epoch_ || *epoch > *epoch_)) epoch_ = epoch;
    json ok = proto::make_ok(id);
    ok.update(r);
    return ok;
  } catch (const RegistryError& e) {
    return proto::make_error(id, e.code, e.what());
  } catch (const CommandError& e) {
    json r = proto::make_error(id, e.code, e.what());
    if (!e.diagnostics.empty()) {
      r["diagnostics"] = json::array();
      for (const auto& d : e.diagnostics) r["diagnostics"].push_back(diag_json(d));
    }
    return r;
  } catch (const BadRequest& e) {
    return proto::make_error(id, "bad_request", e.what());
  } catch (const json::exception& e) {
    return proto::make_error(id, "bad_request", e.what());
  } catch (const std::bad_alloc&) {
    return proto::make_error(id, "busy", "out of memory");
  } catch (const std::exception& e) {
    return proto::make_error(id, "bad_request", e.what());
  }
}

json ControlAgent::dispatch(const std::string& cmd, const json& req) {
  if (cmd == "hello") return cmd_hello();
  if (cmd == "upload") return cmd_upload(req);
  if (cmd == "delta") return cmd_delta(req);
  if (cmd == "publish") return cmd_publish(req);
  if (cmd == "commit") return cmd_commit(req);
  if (cmd == "rollback") return cmd_rollback(req);
  if (cmd == "status") return cmd_status();
  if (cmd == "health") return cmd_health();
  if (cmd == "drop") return cmd_drop(req);
  throw BadRequest("unknown command \"" + cmd + "\"");
}

bool ControlAgent::empty() const {
  // Nothing committed and no lcore serves a zone: a node that started with
  // nothing (it answers REFUSED) and has not been given a version yet.
  if (reg_.committed()) return false;
  for (const auto& [lc, v] : reg_.served())
    if (v && !v->zone_set().zones().empty()) return false;
  return true;
}

json ControlAgent::served_map() const {
  json m = json::object();
  for (const auto& [lc, v] : reg_.served()) m[std::to_string(lc)] = version_or_null(v);
  return m;
}

json ControlAgent::cmd_hello() {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  return {{"node", host},
          {"protocol", proto::kVersion},
          {"lcores", reg_.lcore_ids()},
          {"committed", version_or_null(reg_.committed())},
          {"served", served_map()},
          {"empty", empty()},
          {"epoch", epoch_or_null(epoch_)}};
}

json ControlAgent::cmd_upload(const json& req) {
  const json& zs = field(req, "zones");
  if (!zs.is_array() || zs.empty()) throw BadRequest("\"zones\" must be a non-empty array");
  std::vector<ZoneText> texts;
  for (const json& z : zs) {
    if (!z.is_object()) throw BadRequest("each zone must be an object");
    ZoneText t;
    t.file = string_field(z, "file");
    const json& text = field(z, "text");
    if (!text.is_string()) throw BadRequest("field \"text\" must be a string");
    t.text = text.get_ref<const std::string&>();
    if (z.contains("origin") && !z["origin"].is_null()) t.origin = string_field(z, "origin");
    texts.push_back(std::move(t));
  }
  BuildResult b = build_zone_set(texts);
  if (!b.ok())
    throw CommandError("invalid_zone", "zone set has errors; nothing kept", b.diagnostics);
  auto v = reg_.add(std::move(b.set));
  json warnings = json::array();
  for (const auto& d : b.diagnostics) warnings.push_back(diag_json(d));
  return {
      {"version", v->hex}, {"label", v->label}, {"records", v->records}, {"warnings", warnings}};
}

json ControlAgent::cmd_delta(const json& req) {
  std::string base_hex = string_field(req, "base");
  const json& changes = field(req, "changes");
  if (!changes.is_array()) throw BadRequest("\"changes\" must be an array");
  auto base = reg_.find(base_hex);
  if (!base)
    throw RegistryError("base_mismatch", "base version " + base_hex + " is not held by this node");
  std::vector<zones::DeltaChange> ch;
  ch.reserve(changes.size());
  for (const json& c : changes) {
    if (!c.is_object()) throw BadRequest("each change must be an object");
    std::string op = string_field(c, "op");
    zones::DeltaChange d;
    if (op == "add") d.op = zones::DeltaChange::Op::Add;
    else if (op == "del") d.op = zones::DeltaChange::Op::Del;
    else throw BadRequest("change op must be \"add\" or \"del\", not \"" + op + "\"");
    d.rr = string_field(c, "rr");
    ch.push_back(std::move(d));
  }
  zones::DeltaResult r = zones::apply_delta(base->zone_set(), ch);
  if (!r.ok()) {
    std::string first;
    for (const auto& d : r.diagnostics)
      if (d.is_error()) {
        first = d.to_string();
        break;
      }
    throw CommandError(r.status == zones::DeltaStatus::InvalidZone ? "invalid_zone" : "bad_request",
                       "delta refused; nothing kept" + (first.empty() ? "" : ": " + first),
                       r.diagnostics);
  }
  auto v = reg_.add(std::move(r.zones));
  if (v != base) {
    // Versions the registry no longer holds will not be committed.
    std::erase_if(made_by_delta_, [&](const auto& e) { return !reg_.find(e.first); });
    made_by_delta_[v->hex] = {base->id, std::move(ch)};
  }
  json warnings = json::array();
  for (const auto& d : r.diagnostics) warnings.push_back(diag_json(d));
  return {{"version", v->hex}, {"label", v->label},    {"records", v->records}, {"base", base->hex},
          {"added", r.added},  {"removed", r.removed}, {"warnings", warnings}};
}

json ControlAgent::cmd_publish(const json& req) {
  auto v = reg_.get(string_field(req, "version"));
  std::vector<unsigned> lcores;
  if (req.contains("lcores") && !req["lcores"].is_null()) {
    const json& l = req["lcores"];
    if (!l.is_array() || l.empty())
      throw BadRequest("\"lcores\" must be a non-empty array of lcore ids");
    for (const json& x : l) {
      if (!x.is_number_integer() || x.get<int64_t>() < 0 || x.get<int64_t>() > 65535)
        throw BadRequest("lcore ids are unsigned integers");
      lcores.push_back(x.get<unsigned>());
    }
  }
  reg_.publish(v, lcores);  // after the grace period: every named lcore answers from v
  return {{"version", v->hex}, {"served", served_map()}};
}

void ControlAgent::commit_version(const std::shared_ptr<const Version>& v) {
  if (!reg_.served_everywhere(*v))
    throw BadRequest("version " + v->hex + " is not served by every lcore; publish it first");
  if (reg_.committed() == v) return;
  if (hooks_.persist) {
    // The disk usually holds the committed version: v is a delta from it,
    // or (a rollback) the committed version is a delta from v, inverted.
    std::vector<zones::LkgDelta> deltas;
    if (auto it = made_by_delta_.find(v->hex); it != made_by_delta_.end())
      deltas.push_back(it->second);
    if (auto c = reg_.committed())
      if (auto it = made_by_delta_.find(c->hex);
          it != made_by_delta_.end() && it->second.base == v->id) {
        zones::LkgDelta inv{c->id, {}};
        // A deletion matches any TTL, so its text may not say the TTL the
        // record had: the inverse is kept only if it really leads to v.
        for (const auto& ch : it->second.changes)
          if (ch.op == zones::DeltaChange::Op::Add)
            inv.changes.push_back({zones::DeltaChange::Op::Del, ch.rr});
        for (const auto& ch : it->second.changes)
          if (ch.op == zones::DeltaChange::Op::Del)
            inv.changes.push_back({zones::DeltaChange::Op::Add, ch.rr});
        zones::DeltaResult r = zones::apply_delta(c->zone_set(), inv.changes);
        if (r.ok() && zones::zoneset_version(*r.zones) == v->id) deltas.push_back(std::move(inv));
      }
    try {
      hooks_.persist(*v, deltas);
    } catch (const std::exception& e) {
      throw RegistryError("state_io", std::string("last-known-good not written: ") + e.what());
    }
  }
  reg_.commit(v);
}

json ControlAgent::cmd_commit(const json& req) {
  auto v = reg_.get(string_field(req, "version"));
  commit_version(v);
  return {{"committed", v->hex}, {"label", v->label}};
}

json ControlAgent::cmd_rollback(const json& req) {
  std::shared_ptr<const Version> to;
  if (req.contains("to") && !req["to"].is_null()) {
    to = reg_.get(string_field(req, "to"));
  } else {
    to = reg_.committed();
    if (to && reg_.served_everywhere(*to)) to = reg_.previous_committed();
    if (!to) throw RegistryError("unknown_version", "no committed version to roll back to");
  }
  reg_.publish_all(to);
  commit_version(to);
  return {
      {"version", to->hex}, {"label", to->label}, {"committed", to->hex}, {"served", served_map()}};
}

json ControlAgent::cmd_status() {
  auto committed = reg_.committed();
  auto previous = reg_.previous_committed();
  json versions = json::array();
  for (const auto& v : reg_.versions()) {
    bool served = reg_.is_served(*v);
    const char* state = v == committed ? "committed" : served ? "served" : "held";
    versions.push_back({{"version", v->hex},
                        {"label", v->label},
                        {"records", v->records},
                        {"memory", v->memory},
                        {"state", state},
                        {"served", served},
                        {"committed", v == committed},
                        {"previous_committed", v == previous}});
  }
  json lcores = json::array();
  auto served = reg_.served();
  auto all = reg_.versions();
  for (size_t i = 0; i < served.size(); ++i) {
    json counters = json::object();
    for (const auto& v : all) {
      VersionCounts c = reg_.counts(*v, i);
      if (c.queries == 0 && c.malformed == 0 && served[i].second != v) continue;
      counters[v->hex] = {
          {"queries", c.queries},   {"noerror", c.rcode[0]},  {"formerr", c.rcode[1]},
          {"servfail", c.rcode[2]}, {"nxdomain", c.rcode[3]}, {"notimp", c.rcode[4]},
          {"refused", c.rcode[5]},  {"dropped", c.dropped},   {"malformed", c.malformed}};
    }
    lcores.push_back({{"id", served[i].first},
                      {"version", version_or_null(served[i].second)},
                      {"counters", counters}});
  }
  return {{"versions", versions},
          {"lcores", lcores},
          {"committed", version_or_null(committed)},
          {"previous_committed", version_or_null(previous)},
          {"memory_bytes", reg_.memory_bytes()},
          {"rss_bytes", rss_bytes()},
          {"empty", empty()},
          {"epoch", epoch_or_null(epoch_)}};
}

json ControlAgent::cmd_health() {
  bool alive = hooks_.lcores_alive ? hooks_.lcores_alive() : true;
  double up = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  return {{"healthy", alive}, {"uptime_s", up}, {"lcores_alive", alive}, {"empty", empty()}};
}

json ControlAgent::cmd_drop(const json& req) {
  std::string hex = string_field(req, "version");
  reg_.drop(hex);
  return {{"dropped", hex}};
}

}  // namespace edgedns::dp
