#include "control/daemon.hh"

#include <pwd.h>
#include <unistd.h>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <iostream>

#include "control/config.hh"
#include "control/probe.hh"
#include "control/rollout.hh"
#include "control/zone_input.hh"
#include "proto/client.hh"
#include "proto/framing.hh"
#include "proto/server.hh"

namespace edgedns::ctl {

using nlohmann::json;

namespace {

std::atomic<bool> g_stop{false};
void on_signal(int) { g_stop = true; }
volatile std::sig_atomic_t g_reload = false;
void on_hup(int) { g_reload = true; }

// Who a client is, as the journal records it: its certificate name, or the
// user behind the unix socket.
std::string who(const proto::Peer& p) {
  const auto& id = p.identity();
  if (id.uid < 0) return id.name;
  passwd pw{}, *res = nullptr;
  char buf[1024];
  if (::getpwuid_r(uid_t(id.uid), &pw, buf, sizeof buf, &res) == 0 && res)
    return std::string(res->pw_name) + " (uid " + std::to_string(id.uid) + ")";
  return id.name;
}

Role role_of(const Fleet& f, const proto::Peer& p) {
  const auto& id = p.identity();
  if (id.uid >= 0) return Role::Operator;  // root or our own uid (proto::Server checked)
  return proto::find_allowed(id.names, f.operators) ? Role::Operator : Role::Reader;
}

// One request of a client of the daemon -> its reply.
json handle_frame(Controller& ctl, const Fleet& fleet, const std::string& frame,
                  const proto::Peer& peer) {
  std::string err;
  auto req = proto::parse_message(frame, &err);
  if (!req) return proto::make_error(nullptr, "bad_request", err);
  json id = req->value("id", json());
  if (req->value("v", 0) != proto::kVersion)
    return proto::make_error(id, "bad_request", "missing \"v\": 1");
  const std::string cmd = req->value("cmd", "");
  const std::string by = who(peer);
  if (needs_operator(cmd) && role_of(fleet, peer) != Role::Operator) {
    std::cerr << "edgectl serve: refused '" << cmd << "' from " << by << " ("
              << peer.identity().address << "): read-only" << std::endl;
    return proto::make_error(id, "forbidden",
                             by + " may only read (status, history, rollout watch); '" + cmd +
                                 "' needs an operator certificate (the fleet's access.operators)");
  }
  (*req)["by"] = by;  // what the client may have put there is not evidence
  json reply = ctl.handle(*req);
  reply["v"] = proto::kVersion;
  reply["id"] = id;
  return reply;
}

}  // namespace

bool needs_operator(const std::string& cmd) {
  // Everything but what only reads. "rollout" is watch/status of one rollout.
  return !(cmd == "status" || cmd == "history" || cmd == "rollout");
}

int serve_main(const std::string& fleet_path, const std::string& state_dir,
               const std::string& socket, const std::vector<std::string>& adopt,
               const std::string& listen) {
  Fleet fleet = load_fleet(fleet_path);
  std::shared_ptr<proto::TlsContext> server_tls;
  if (!listen.empty()) {
    if (!fleet.tls_files)
      throw ConfigError(fleet_path + ": --listen " + listen +
                        " needs the fleet's tls: certificate (cert, key, ca)");
    if (fleet.operators.empty() && fleet.readers.empty())
      throw ConfigError(fleet_path + ": --listen " + listen +
                        " needs access: operators and/or readers (certificate names)");
    server_tls =
        std::make_shared<proto::TlsContext>(proto::TlsContext::Role::Server, *fleet.tls_files);
  }
  Controller::Options copt{fleet, state_dir, adopt};
  copt.fleet_file = fleet_path;
  Controller ctl(std::move(copt));
  auto handler = [&ctl, &fleet](const std::string& frame, const proto::Peer& peer) {
    return handle_frame(ctl, fleet, frame, peer);
  };
  proto::ServerOptions so;
  so.log = [](const std::string& l) { std::cerr << "edgectl serve: " << l << std::endl; };
  proto::Server server(handler, so);
  std::unique_ptr<proto::Server> tls_server;
  // The listeners first: an address that is taken (or not a socket) fails
  // before any node is contacted or any thread started.
  server.bind(socket);
  if (server_tls) {
    std::vector<std::string> allow = fleet.operators;
    allow.insert(allow.end(), fleet.readers.begin(), fleet.readers.end());
    tls_server = std::make_unique<proto::Server>(handler, so);
    tls_server->bind_tls(listen, server_tls, allow);
  }
  ctl.start();
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  std::signal(SIGPIPE, SIG_IGN);
  std::signal(SIGHUP, on_hup);  // as `edgectl fleet reload`
  server.start();
  if (tls_server) tls_server->start();
  std::cerr << "edgectl serve: " << fleet.nodes.size() << " node(s), state in " << state_dir
            << ", listening on " << socket
            << (tls_server ? " and " + tls_server->path() + " (mutual TLS)" : std::string())
            << std::endl;
  while (!g_stop) {
    ::usleep(200'000);
    if (g_reload) {
      g_reload = false;
      json r = ctl.handle({{"cmd", "fleet_reload"}, {"by", "SIGHUP"}});
      if (!r.value("ok", false))
        std::cerr << "edgectl serve: SIGHUP: fleet reload refused (" << r.value("code", "")
                  << "): " << r.value("error", "") << std::endl;
    }
  }
  std::cerr << "edgectl serve: stopping" << std::endl;
  if (tls_server) tls_server->stop();
  server.stop();
  ctl.stop();
  return 0;
}

// ---------------------------------------------------------------------------
// Clients

namespace {

struct DaemonError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class Daemon {
 public:
  explicit Daemon(const DaemonAddress& a) : c_(connect(a)) {}
  json call(json req) { return c_.call(std::move(req)); }

 private:
  static proto::Client connect(const DaemonAddress& a) {
    const std::string what = "edgectl serve at " + a.control;
    try {
      if (a.control.rfind("tls://", 0) != 0) return proto::Client::connect_unix(a.control, what);
      proto::Endpoint ep;
      std::string err;
      if (!proto::parse_endpoint(a.control.substr(6), &ep, &err))
        throw DaemonError(what + ": " + err);
      if (!a.tls) throw DaemonError(what + ": needs --tls-cert, --tls-key and --tls-ca");
      return proto::Client::connect_tls(*a.tls, ep, a.server_name.empty() ? ep.host : a.server_name,
                                        what, 10'000);
    } catch (const proto::CallError& e) {
      throw DaemonError(what + ": " + e.what());
    }
  }
  proto::Client c_;
};

std::string short_id(const std::string& v) { return v.substr(0, 12); }

std::string event_text(const json& e) {
  std::string ev = e.value("ev", "");
  if (ev == "rollout_start") {
    std::string s =
        "rollout " + std::to_string(e.value("rollout", 0)) + ": " + e.value("version", "") + " (" +
        e.value("label", "") + ") replacing " +
        (e.value("previous", "").empty() ? "(unknown)" : short_id(e.value("previous", ""))) + ", " +
        std::to_string(e["stages"].size()) + " stage(s)";
    if (!e.value("by", "").empty()) s += ", pushed by " + e.value("by", "");
    return s;
  }
  if (ev == "stage_begin")
    return "stage " + std::to_string(e.value("stage", 0) + 1) + " " + e.value("name", "") +
           ": begins";
  if (ev == "upload") return "  upload to " + e.value("node", "");
  if (ev == "publish") {
    std::string l = e.contains("lcores") ? "lcores " + e["lcores"].dump() : "all lcores";
    return "  publish to " + e.value("node", "") + " (" + l + ")";
  }
  if (ev == "verdicts") {
    std::string s = "  gates:";
    for (const auto& v : e["verdicts"]) s += "\n    " + v.get<std::string>();
    return s;
  }
  if (ev == "stage_passed") return "stage " + std::to_string(e.value("stage", 0) + 1) + ": passed";
  if (ev == "pause") return "paused by the operator";
  if (ev == "resume") return "resumed by the operator";
  if (ev == "commit_begin") return "all stages passed: committing on every node";
  if (ev == "committed") return "committed " + e.value("version", "") + " on every node";
  if (ev == "rollback_begin") return "ROLLING BACK: " + e.value("reason", "");
  if (ev == "rolled_back") {
    std::string s = "rolled back to " + e.value("to", "") + ": " + e.value("reason", "");
    if (!e.value("pending", json::array()).empty())
      s += " (unreachable, will come back on their LKG: " + e["pending"].dump() + ")";
    return s;
  }
  return ev;
}

int exit_for(const std::string& state) {
  if (state == "committed") return 0;
  if (state == "rolled_back") return 3;
  return 1;
}

// Nodes that are not (yet) on the committed version, as status sees them
// now: a rollback's result names them instead of claiming "everywhere".
json pending_nodes(Daemon& d) {
  json s = d.call({{"cmd", "status"}});
  return s.value("pending", json::array());
}

// --json output of a daemon reply: the reply without its envelope.
void print_reply(json r) {
  r.erase("v");
  r.erase("id");
  std::cout << r.dump() << "\n";
}

std::string pending_text(const json& pending) {
  std::string t;
  for (const auto& p : pending)
    t += "\n  pending: " + p.value("node", "") + ": " + p.value("reason", "");
  return t;
}

// Follows one rollout until it ends; prints events as they come.
int follow(Daemon& d, uint64_t id, bool as_json) {
  size_t since = 0;
  std::string last_progress;
  for (;;) {
    json r = d.call({{"cmd", "rollout"}, {"rollout", id}, {"since", since}});
    if (!r.value("ok", false)) throw DaemonError(r.value("error", "rollout query failed"));
    since = r.value("next", since);
    for (const auto& e : r["events"]) {
      if (as_json) std::cout << e.dump() << std::endl;
      else std::cout << event_text(e) << std::endl;
    }
    const json& ro = r["rollout"];
    std::string state = ro.value("state", "");
    if (state == "committed" || state == "rolled_back") {
      json pending = state == "rolled_back" ? pending_nodes(d) : json::array();
      if (as_json)
        std::cout << json{{"result", state}, {"rollout", ro}, {"pending", pending}}.dump()
                  << std::endl;
      else if (state == "committed") std::cout << "result: committed everywhere" << std::endl;
      else if (pending.empty())
        std::cout << "result: rolled back everywhere (" << ro.value("reason", "") << ")"
                  << std::endl;
      else
        std::cout << "result: rolled back (" << ro.value("reason", "") << "), " << pending.size()
                  << " node(s) pending; edgectl serve keeps repairing them" << pending_text(pending)
                  << std::endl;
      return state == "rolled_back" && !pending.empty() ? 4 : exit_for(state);
    }
    if (!as_json && state != "committing" && state != "rolling_back") {
      size_t stage = ro.value("stage", size_t(0)), n = ro["stages"].size();
      char buf[256];
      std::snprintf(
          buf, sizeof buf,
          "  [stage %zu/%zu %s%s] nodes %zu/%zu on new version, %zu lcores, bake %.0f s left",
          stage + 1, n, ro.value("stage_name", "").c_str(), state == "paused" ? ", PAUSED" : "",
          ro.value("nodes_done", size_t(0)), ro.value("nodes_total", size_t(0)),
          ro.value("lcores_done", size_t(0)), ro.value("bake_left_s", 0.0));
      if (buf != last_progress) std::cout << buf << std::endl;
      last_progress = buf;
    }
    ::usleep(300'000);
  }
}

}  // namespace

int cli_push(const PushOptions& o, const std::vector<std::string>& files) {
  try {
    // Validate locally first: a zone with errors never leaves this process.
    json zones = json::array(), diags = json::array();
    bool bad = false;
    for (const auto& f : expand_zone_paths(files)) {
      LoadedZone z = load_zone(f, o.origin);
      for (const auto& d : z.diagnostics) {
        if (!o.json) std::cerr << d.to_string() << "\n";
        diags.push_back({{"file", d.file},
                         {"line", d.line},
                         {"severity", d.is_error() ? "error" : "warning"},
                         {"message", d.message}});
      }
      if (!z.ok()) {
        bad = true;
        continue;
      }
      zones.push_back({{"file", f}, {"origin", z.apex()}, {"text", canonical_text(z.data)}});
    }
    if (bad) {
      if (o.json)
        std::cout
            << json{{"result", "rejected"}, {"rule", "parse/check"}, {"diagnostics", diags}}.dump()
            << "\n";
      else std::cerr << "rejected: the zones do not load; nothing was sent\n";
      return 2;
    }
    json req = {{"cmd", "push"},
                {"zones", zones},
                {"force_serial", o.force_serial},
                {"full_upload", o.full_upload},
                {"allow_apex_change", o.allow_apex_change},
                {"keep_others", o.zone_only || !o.remove.empty()},
                {"remove", o.remove}};
    if (!o.policy.empty()) {
      std::string text = read_file(o.policy);
      parse_policy(text, o.policy);
      req["policy"] = text;
      req["policy_file"] = o.policy;
    }
    if (!o.probes.empty()) {
      std::string text = read_file(o.probes);
      parse_probes(text, o.probes);
      req["probes"] = text;
      req["probes_file"] = o.probes;
    }
    if (o.bake) req["bake"] = *o.bake;
    Daemon d(o.server);
    json r = d.call(req);
    if (!r.value("ok", false)) {
      std::string code = r.value("code", "");
      if (o.json) std::cout << r.dump() << "\n";
      if (code == "rejected") {
        if (!o.json)
          for (const auto& x : r["rejections"])
            std::cerr << "rejected: " << x.value("rule", "") << ": " << x.value("message", "")
                      << "\n";
        if (!o.json) std::cerr << "nothing was sent to any node\n";
        return 2;
      }
      if (!o.json)
        std::cerr << "edgectl: push failed (" << code << "): " << r.value("error", "") << "\n";
      return 1;
    }
    if (o.json && !o.wait) std::cout << r.dump() << "\n";
    if (!o.json) {
      for (const auto& n : r["notes"]) std::cout << "note: " << n.get<std::string>() << "\n";
      std::cout << "rollout " << r.value("rollout", 0) << " started: " << r.value("version", "")
                << " (" << r.value("label", "") << ")\n";
      for (const auto& s : r["stages"]) {
        std::string t;
        for (const auto& x : s["targets"])
          t += (t.empty() ? "" : ", ") + x.value("node", "") +
               (x.contains("lcores") ? " lcores " + x["lcores"].dump() : "");
        std::cout << "  stage " << s.value("name", "") << ": " << t << "; bake "
                  << s.value("bake_s", 0.0) << " s\n";
      }
    }
    if (!o.wait) return 0;
    return follow(d, r.value("rollout", uint64_t(0)), o.json);
  } catch (const ConfigError& e) {
    std::cerr << "edgectl: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "edgectl: " << e.what() << "\n";
    return 1;
  }
}

int cli_status(const DaemonAddress& server, bool as_json) {
  Daemon d(server);
  json r = d.call({{"cmd", "status"}});
  if (as_json) {
    print_reply(r);
    return r.value("ok", false) ? 0 : 1;
  }
  if (!r.value("ok", false)) throw DaemonError(r.value("error", "status failed"));
  std::string c = r.value("committed", "");
  std::cout << "committed: "
            << (c.empty() ? "(unknown)" : c + " (" + r.value("committed_label", "") + ")") << "\n";
  if (r["rollout"].is_object()) {
    const json& ro = r["rollout"];
    std::cout << "rollout " << ro.value("rollout", 0) << ": " << ro.value("version", "") << " "
              << ro.value("state", "") << ", stage " << ro.value("stage", 0) + 1 << "/"
              << ro["stages"].size() << " " << ro.value("stage_name", "") << ", bake "
              << int(ro.value("bake_left_s", 0.0)) << " s left\n";
    for (const auto& v : ro["verdicts"]) std::cout << "  " << v.get<std::string>() << "\n";
  } else {
    std::cout << "no rollout in progress\n";
  }
  for (const auto& n : r["nodes"]) {
    std::cout << "node " << n.value("name", "") << " (wave " << n.value("wave", 0) << "): ";
    if (!n.value("up", false)) {
      std::cout << "DOWN: " << n.value("error", "") << (n.contains("pending") ? " [PENDING]" : "")
                << "\n";
      continue;
    }
    std::cout << "committed " << short_id(n.value("committed", "")) << ", serves";
    for (auto it = n["served"].begin(); it != n["served"].end(); ++it)
      std::cout << " lcore " << it.key() << "=" << short_id(it.value().get<std::string>());
    if (n.contains("pending")) std::cout << " [PENDING: " << n.value("pending", "") << "]";
    std::cout << "\n";
  }
  if (!r.value("pending", json::array()).empty())
    std::cout << r["pending"].size() << " node(s) not on the committed version yet\n";
  return 0;
}

int cli_rollout(const DaemonAddress& server, const std::string& action, bool as_json) {
  Daemon d(server);
  if (action == "watch") {
    json r = d.call({{"cmd", "rollout"}});
    if (!r.value("ok", false)) throw DaemonError(r.value("error", "no rollout"));
    return follow(d, r["rollout"].value("rollout", uint64_t(0)), as_json);
  }
  json r = d.call({{"cmd", action}});
  if (as_json) std::cout << r.dump() << "\n";
  else if (r.value("ok", false))
    std::cout << "rollout " << r.value("rollout", 0) << ": " << r.value("state", "") << "\n";
  else std::cerr << "edgectl: " << r.value("error", "") << "\n";
  return r.value("ok", false) ? 0 : 1;
}

int cli_rollback(const DaemonAddress& server, const std::string& version, bool wait, bool as_json) {
  Daemon d(server);
  json req = {{"cmd", "rollback"}};
  if (!version.empty()) req["version"] = version;
  json r = d.call(req);
  if (!r.value("ok", false)) {
    if (as_json) std::cout << r.dump() << "\n";
    else std::cerr << "edgectl: rollback: " << r.value("error", "") << "\n";
    return 1;
  }
  if (r.contains("rollout")) {
    if (!as_json)
      std::cout << "aborting rollout " << r.value("rollout", 0) << ": rolling back to "
                << r.value("to", "") << "\n";
    if (wait) {
      int rc = follow(d, r.value("rollout", uint64_t(0)), as_json);
      return rc == 3 ? 0 : rc;  // rolled back is what was asked; 4 still means pending nodes
    }
  } else {
    if (!as_json)
      std::cout << "rolling back from " << r.value("from", "") << " to " << r.value("to", "")
                << "\n";
    if (wait) {
      for (;;) {
        json s = d.call({{"cmd", "status"}});
        if (s["manual_rollback"].is_null() && s["rollout"].is_null()) break;
        ::usleep(300'000);
      }
      json pending = pending_nodes(d);
      r["pending"] = pending;
      if (as_json) std::cout << r.dump() << "\n";
      else if (pending.empty()) std::cout << "rolled back everywhere\n";
      else
        std::cout << "rolled back, " << pending.size()
                  << " node(s) pending; edgectl serve keeps repairing them" << pending_text(pending)
                  << "\n";
      return pending.empty() ? 0 : 4;
    }
  }
  if (as_json) std::cout << r.dump() << "\n";
  return 0;
}

int cli_history(const DaemonAddress& server, bool as_json) {
  Daemon d(server);
  json r = d.call({{"cmd", "history"}});
  if (as_json) {
    print_reply(r);
    return 0;
  }
  for (const auto& h : r["rollouts"]) {
    std::cout << "rollout " << h.value("rollout", 0) << "  " << h.value("version", "") << "  "
              << h.value("label", "") << "  " << h.value("state", "");
    if (!h.value("reason", "").empty()) std::cout << ": " << h.value("reason", "");
    std::cout << "\n  pushed " << h.value("started_at", "?")
              << (h.value("by", "").empty() ? "" : " by " + h.value("by", "")) << "\n";
  }
  for (const auto& e : r["rejected"])
    for (const auto& x : e["rejections"])
      std::cout << "rejected push (journal #" << e.value("seq", 0) << "): " << x.value("rule", "")
                << ": " << x.value("message", "") << "\n";
  std::cout << "committed: " << r.value("committed", "") << "\n";
  return 0;
}

int cli_fleet_reload(const DaemonAddress& server, bool as_json) {
  Daemon d(server);
  json r = d.call({{"cmd", "fleet_reload"}});
  if (as_json) {
    print_reply(r);
    return r.value("ok", false) ? 0 : 1;
  }
  if (!r.value("ok", false)) {
    std::cerr << "edgectl: fleet reload refused (" << r.value("code", "")
              << "): " << r.value("error", "") << "\n";
    return 1;
  }
  auto list = [](const json& a) {
    std::string s;
    for (const auto& x : a) s += (s.empty() ? "" : ", ") + x.get<std::string>();
    return s.empty() ? std::string("none") : s;
  };
  std::cout << "fleet reloaded: " << r.value("nodes", 0) << " node(s); added " << list(r["added"])
            << "; removed " << list(r["removed"]) << "; changed " << list(r["changed"]) << "\n";
  return 0;
}

}  // namespace edgedns::ctl
