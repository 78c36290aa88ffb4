#include "control/daemon.hh"

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <mutex>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <thread>
#include <unistd.h>

#include "control/config.hh"
#include "control/probe.hh"
#include "control/proto.hh"
#include "control/rollout.hh"
#include "control/zone_input.hh"

namespace edgedns::ctl {

using nlohmann::json;

namespace {

std::atomic<bool> g_stop{false};
void on_signal(int) { g_stop = true; }

int listen_unix(const std::string& path) {
  // A live daemon on this path must not be replaced; a stale socket file may.
  std::string err;
  int probe = proto::connect_unix(path, &err);
  if (probe >= 0) {
    ::close(probe);
    throw std::runtime_error(path + ": another edgectl serve is listening there");
  }
  ::unlink(path.c_str());
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un sa{};
  if (path.size() >= sizeof sa.sun_path) throw std::runtime_error(path + ": socket path too long");
  sa.sun_family = AF_UNIX;
  std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
  mode_t old = ::umask(077);  // 0600 from the start, not after a window
  int rc = ::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  ::umask(old);
  if (rc != 0 || ::listen(fd, 16) != 0)
    throw std::runtime_error(path + ": cannot listen: " + std::strerror(errno));
  ::chmod(path.c_str(), 0600);
  return fd;
}

bool peer_allowed(int fd) {
  ucred cr{};
  socklen_t l = sizeof cr;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &l) != 0) return false;
  return cr.uid == 0 || cr.uid == ::getuid();
}

}  // namespace

int serve_main(const std::string& fleet_path, const std::string& state_dir, const std::string& socket,
               const std::vector<std::string>& adopt) {
  Fleet fleet = load_fleet(fleet_path);
  Controller ctl({fleet, state_dir, adopt});
  ctl.start();
  int lfd = listen_unix(socket);
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  std::signal(SIGPIPE, SIG_IGN);
  std::cerr << "edgectl serve: " << fleet.nodes.size() << " node(s), state in " << state_dir << ", listening on "
            << socket << std::endl;
  std::mutex mu;
  std::vector<std::thread> threads;
  std::vector<int> fds;
  while (!g_stop) {
    pollfd pf{lfd, POLLIN, 0};
    if (::poll(&pf, 1, 200) <= 0) continue;
    int fd = ::accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    if (!peer_allowed(fd)) {
      ::close(fd);
      continue;
    }
    std::lock_guard lk(mu);
    fds.push_back(fd);
    threads.emplace_back([fd, &ctl] {
      std::string frame;
      for (;;) {
        proto::IoStatus st = proto::read_frame(fd, frame);
        if (st == proto::IoStatus::TooLarge) {
          proto::write_frame(fd, proto::make_error(nullptr, "bad_request", "frame too large").dump());
          break;
        }
        if (st != proto::IoStatus::Ok) break;
        std::string err;
        auto req = proto::parse_message(frame, &err);
        json reply;
        if (!req) reply = proto::make_error(nullptr, "bad_request", err);
        else if (req->value("v", 0) != proto::kVersion)
          reply = proto::make_error(req->value("id", json()), "bad_request", "missing \"v\": 1");
        else {
          reply = ctl.handle(*req);
          reply["v"] = proto::kVersion;
          reply["id"] = req->value("id", json());
        }
        if (!proto::write_frame(fd, reply.dump())) break;
      }
    });
  }
  std::cerr << "edgectl serve: stopping" << std::endl;
  ::close(lfd);
  ::unlink(socket.c_str());
  {
    std::lock_guard lk(mu);
    for (int fd : fds) ::shutdown(fd, SHUT_RDWR);
  }
  for (auto& t : threads) t.join();
  for (int fd : fds) ::close(fd);
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
  explicit Daemon(const std::string& socket) : socket_(socket) {
    std::string err;
    fd_ = proto::connect_unix(socket, &err);
    if (fd_ < 0) throw DaemonError("edgectl serve at " + socket + ": " + err);
  }
  ~Daemon() { ::close(fd_); }
  json call(json req) {
    req["v"] = proto::kVersion;
    req["id"] = ++id_;
    return proto::call(fd_, std::move(req), "edgectl serve at " + socket_);
  }

 private:
  std::string socket_;
  int fd_ = -1;
  uint64_t id_ = 0;
};

std::string short_id(const std::string& v) { return v.substr(0, 12); }

std::string event_text(const json& e) {
  std::string ev = e.value("ev", "");
  if (ev == "rollout_start") {
    std::string s = "rollout " + std::to_string(e.value("rollout", 0)) + ": " + e.value("version", "") + " (" +
                    e.value("label", "") + ") replacing " + (e.value("previous", "").empty() ? "(unknown)" : short_id(e.value("previous", ""))) +
                    ", " + std::to_string(e["stages"].size()) + " stage(s)";
    return s;
  }
  if (ev == "stage_begin") return "stage " + std::to_string(e.value("stage", 0) + 1) + " " + e.value("name", "") + ": begins";
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
    if (!e.value("pending", json::array()).empty()) s += " (unreachable, will come back on their LKG: " + e["pending"].dump() + ")";
    return s;
  }
  return ev;
}

int exit_for(const std::string& state) {
  if (state == "committed") return 0;
  if (state == "rolled_back") return 3;
  return 1;
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
      if (as_json) std::cout << json{{"result", state}, {"rollout", ro}}.dump() << std::endl;
      else
        std::cout << (state == "committed" ? "result: committed everywhere"
                                           : "result: rolled back (" + ro.value("reason", "") + ")")
                  << std::endl;
      return exit_for(state);
    }
    if (!as_json && state != "committing" && state != "rolling_back") {
      size_t stage = ro.value("stage", size_t(0)), n = ro["stages"].size();
      char buf[256];
      std::snprintf(buf, sizeof buf, "  [stage %zu/%zu %s%s] nodes %zu/%zu on new version, %zu lcores, bake %.0f s left",
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
    for (const auto& f : files) {
      LoadedZone z = load_zone(f, o.origin);
      for (const auto& d : z.diagnostics) {
        if (!o.json) std::cerr << d.to_string() << "\n";
        diags.push_back({{"file", d.file}, {"line", d.line}, {"severity", d.is_error() ? "error" : "warning"},
                         {"message", d.message}});
      }
      if (!z.ok()) {
        bad = true;
        continue;
      }
      zones.push_back({{"file", f}, {"origin", z.apex()}, {"text", canonical_text(z.data)}});
    }
    if (bad) {
      if (o.json) std::cout << json{{"result", "rejected"}, {"rule", "parse/check"}, {"diagnostics", diags}}.dump() << "\n";
      else std::cerr << "rejected: the zones do not load; nothing was sent\n";
      return 2;
    }
    json req = {{"cmd", "push"}, {"zones", zones}, {"force_serial", o.force_serial},
                {"allow_apex_change", o.allow_apex_change}};
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
    Daemon d(o.socket);
    json r = d.call(req);
    if (!r.value("ok", false)) {
      std::string code = r.value("code", "");
      if (o.json) std::cout << r.dump() << "\n";
      if (code == "rejected") {
        if (!o.json)
          for (const auto& x : r["rejections"])
            std::cerr << "rejected: " << x.value("rule", "") << ": " << x.value("message", "") << "\n";
        if (!o.json) std::cerr << "nothing was sent to any node\n";
        return 2;
      }
      if (!o.json) std::cerr << "edgectl: push failed (" << code << "): " << r.value("error", "") << "\n";
      return 1;
    }
    if (o.json && !o.wait) std::cout << r.dump() << "\n";
    if (!o.json) {
      for (const auto& n : r["notes"]) std::cout << "note: " << n.get<std::string>() << "\n";
      std::cout << "rollout " << r.value("rollout", 0) << " started: " << r.value("version", "") << " ("
                << r.value("label", "") << ")\n";
      for (const auto& s : r["stages"]) {
        std::string t;
        for (const auto& x : s["targets"])
          t += (t.empty() ? "" : ", ") + x.value("node", "") + (x.contains("lcores") ? " lcores " + x["lcores"].dump() : "");
        std::cout << "  stage " << s.value("name", "") << ": " << t << "; bake " << s.value("bake_s", 0.0) << " s\n";
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

int cli_status(const std::string& socket, bool as_json) {
  Daemon d(socket);
  json r = d.call({{"cmd", "status"}});
  if (as_json) {
    r.erase("v");
    r.erase("id");
    std::cout << r.dump() << "\n";
    return r.value("ok", false) ? 0 : 1;
  }
  if (!r.value("ok", false)) throw DaemonError(r.value("error", "status failed"));
  std::string c = r.value("committed", "");
  std::cout << "committed: " << (c.empty() ? "(unknown)" : c + " (" + r.value("committed_label", "") + ")") << "\n";
  if (r["rollout"].is_object()) {
    const json& ro = r["rollout"];
    std::cout << "rollout " << ro.value("rollout", 0) << ": " << ro.value("version", "") << " " << ro.value("state", "")
              << ", stage " << ro.value("stage", 0) + 1 << "/" << ro["stages"].size() << " "
              << ro.value("stage_name", "") << ", bake " << int(ro.value("bake_left_s", 0.0)) << " s left\n";
    for (const auto& v : ro["verdicts"]) std::cout << "  " << v.get<std::string>() << "\n";
  } else {
    std::cout << "no rollout in progress\n";
  }
  for (const auto& n : r["nodes"]) {
    std::cout << "node " << n.value("name", "") << " (wave " << n.value("wave", 0) << "): ";
    if (!n.value("up", false)) {
      std::cout << "DOWN: " << n.value("error", "") << "\n";
      continue;
    }
    std::cout << "committed " << short_id(n.value("committed", "")) << ", serves";
    for (auto it = n["served"].begin(); it != n["served"].end(); ++it)
      std::cout << " lcore " << it.key() << "=" << short_id(it.value().get<std::string>());
    std::cout << "\n";
  }
  return 0;
}

int cli_rollout(const std::string& socket, const std::string& action, bool as_json) {
  Daemon d(socket);
  if (action == "watch") {
    json r = d.call({{"cmd", "rollout"}});
    if (!r.value("ok", false)) throw DaemonError(r.value("error", "no rollout"));
    return follow(d, r["rollout"].value("rollout", uint64_t(0)), as_json);
  }
  json r = d.call({{"cmd", action}});
  if (as_json) std::cout << r.dump() << "\n";
  else if (r.value("ok", false))
    std::cout << "rollout " << r.value("rollout", 0) << ": " << r.value("state", "") << "\n";
  else
    std::cerr << "edgectl: " << r.value("error", "") << "\n";
  return r.value("ok", false) ? 0 : 1;
}

int cli_rollback(const std::string& socket, const std::string& version, bool wait, bool as_json) {
  Daemon d(socket);
  json req = {{"cmd", "rollback"}};
  if (!version.empty()) req["version"] = version;
  json r = d.call(req);
  if (!r.value("ok", false)) {
    if (as_json) std::cout << r.dump() << "\n";
    else std::cerr << "edgectl: rollback: " << r.value("error", "") << "\n";
    return 1;
  }
  if (r.contains("rollout")) {
    if (!as_json) std::cout << "aborting rollout " << r.value("rollout", 0) << ": rolling back to " << r.value("to", "") << "\n";
    if (wait) return follow(d, r.value("rollout", uint64_t(0)), as_json) == 3 ? 0 : 1;
  } else {
    if (!as_json) std::cout << "rolling back from " << r.value("from", "") << " to " << r.value("to", "") << "\n";
    while (wait) {
      json s = d.call({{"cmd", "status"}});
      if (s["manual_rollback"].is_null() && s["rollout"].is_null()) break;
      ::usleep(300'000);
    }
  }
  if (as_json) std::cout << r.dump() << "\n";
  return 0;
}

int cli_history(const std::string& socket, bool as_json) {
  Daemon d(socket);
  json r = d.call({{"cmd", "history"}});
  if (as_json) {
    r.erase("v");
    r.erase("id");
    std::cout << r.dump() << "\n";
    return 0;
  }
  for (const auto& h : r["rollouts"]) {
    std::cout << "rollout " << h.value("rollout", 0) << "  " << h.value("version", "") << "  " << h.value("label", "")
              << "  " << h.value("state", "");
    if (!h.value("reason", "").empty()) std::cout << ": " << h.value("reason", "");
    std::cout << "\n";
  }
  for (const auto& e : r["rejected"])
    for (const auto& x : e["rejections"])
      std::cout << "rejected push (journal #" << e.value("seq", 0) << "): " << x.value("rule", "") << ": "
                << x.value("message", "") << "\n";
  std::cout << "committed: " << r.value("committed", "") << "\n";
  return 0;
}

}  // namespace edgedns::ctl
