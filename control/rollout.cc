// Controller construction, journal replay and the daemon's commands (push,
// status, rollout, pause/resume/abort, rollback, history). The engine thread
// that acts on nodes is rollout_engine.cc.
#include "control/rollout.hh"

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <set>

#include "control/gates.hh"
#include "control/version_id.hh"

namespace edgedns::ctl {

using nlohmann::json;

namespace {

void log_line(const std::string& s) { std::cerr << "edgectl serve: " << s << std::endl; }

const char* ev(Event e) { return event_name(e); }

json error(const std::string& code, const std::string& msg) {
  return {{"ok", false}, {"code", code}, {"error", msg}};
}

}  // namespace

Controller::Controller(Options o)
    : opt_(std::move(o)),
      lock_(opt_.state_dir),
      store_(opt_.state_dir),
      fleet_(std::make_shared<const Fleet>(opt_.fleet)) {
  journal_ = std::make_unique<Journal>(opt_.state_dir + "/journal.jsonl");
  if (journal_->truncated_bytes())
    log_line("journal: cut a torn last record (" + std::to_string(journal_->truncated_bytes()) +
             " bytes)");
}

Controller::~Controller() { stop(); }

json Controller::journal(json rec) {
  std::lock_guard jl(jmu_);
  json r = journal_->append(std::move(rec));
  std::lock_guard lk(mu_);
  events_.push_back(r);
  return r;
}

json Controller::journal_apply(json rec) {
  auto r = journal_apply_if([](const FleetState&) { return true; }, std::move(rec));
  return *r;
}

std::optional<json> Controller::journal_apply_if(const std::function<bool(const FleetState&)>& ok,
                                                 json rec) {
  std::lock_guard jl(jmu_);
  {
    std::lock_guard lk(mu_);
    if (!ok(st_)) return std::nullopt;
  }
  // mu_ is not held across the disk write (status must not wait for an
  // fdatasync); jmu_ keeps every other record out until this one is folded in.
  json r = journal_->append(std::move(rec));
  std::lock_guard lk(mu_);
  events_.push_back(r);
  apply_record(st_, r);
  reconciled_ = false;
  cv_.notify_all();
  return r;
}

void Controller::replay() {
  std::lock_guard lk(mu_);
  for (const auto& rec : journal_->recovered()) {
    events_.push_back(rec);
    apply_record(st_, rec);
  }
}

void Controller::adopt_baseline() {
  // The committed version of a fleet the control plane has never pushed to.
  if (!opt_.adopt.empty()) {
    std::vector<LoadedZone> zones;
    for (const auto& f : expand_zone_paths(opt_.adopt)) {
      zones.push_back(load_zone(f));
      if (!zones.back().ok()) throw std::runtime_error("--adopt " + f + ": zone does not load");
    }
    VersionInfo vi = compute_version(zones);
    store_.put(vi.id, vi.label, zones);
    journal_apply({{"ev", ev(Event::Version)}, {"version", vi.id}, {"label", vi.label}});
    journal_apply({{"ev", ev(Event::Baseline)}, {"version", vi.id}, {"source", "adopt"}});
    log_line("adopted " + vi.id + " (" + vi.label + ") as the committed version");
    return;
  }
  std::map<std::string, std::string> committed;
  const auto fleet_now = fleet_snapshot();
  for (const auto& n : fleet_now->nodes) {
    try {
      committed[n.name] = NodeClient(n.name, n.address()).hello().committed;
    } catch (const NodeError& e) {
      log_line(e.what());
    }
  }
  learn_baseline(committed);
}

bool Controller::learn_baseline(const std::map<std::string, std::string>& committed) {
  // Only a version every node of the fleet has committed is the fleet's: a
  // node not asked, or one on another version, leaves it unknown.
  std::set<std::string> seen;
  const auto fleet_now = fleet_snapshot();
  for (const auto& n : fleet_now->nodes) {
    auto it = committed.find(n.name);
    seen.insert(it == committed.end() ? std::string() : it->second);
  }
  if (seen.size() != 1 || seen.begin()->empty()) return false;
  std::string v = *seen.begin();
  auto r = journal_apply_if([](const FleetState& s) { return s.committed.empty(); },
                            {{"ev", ev(Event::Baseline)}, {"version", v}, {"source", "nodes"}});
  if (r)
    log_line("the fleet's committed version is " + v +
             (store_.has(v) ? "" : " (content unknown: gates against it are skipped)"));
  return true;
}

void Controller::start() {
  replay();
  bool known;
  {
    std::lock_guard lk(mu_);
    known = !st_.committed.empty();
  }
  if (!known) adopt_baseline();
  {
    std::lock_guard lk(mu_);
    if (st_.active) {
      log_line("resuming rollout " + std::to_string(st_.active->id) + " of " + st_.active->version +
               " in phase " + phase_name(st_.active->phase));
      if (interrupt_on_restart(st_)) log_line("rolling it back: " + st_.active->reason);
    }
  }
  thread_ = std::thread([this] { engine(); });
}

void Controller::stop() {
  stopping_ = true;
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool Controller::idle() {
  std::lock_guard lk(mu_);
  return st_.idle();
}

json Controller::rollout_json(const Rollout& r) const {
  return ctl::rollout_json(r, fleet_snapshot()->nodes.size());
}

json Controller::handle(const json& req) {
  std::string cmd = req.value("cmd", "");
  try {
    if (cmd == "push") return cmd_push(req);
    if (cmd == "status") return cmd_status();
    if (cmd == "rollout") return cmd_rollout(req);
    if (cmd == "pause" || cmd == "resume" || cmd == "abort")
      return cmd_control(cmd, req.value("by", ""));
    if (cmd == "rollback") return cmd_rollback(req);
    if (cmd == "history") return cmd_history();
    if (cmd == "fleet_reload") return cmd_fleet_reload(req);
    return error("bad_request", "unknown command '" + cmd + "'");
  } catch (const ConfigError& e) {
    return error("bad_request", e.what());
  } catch (const std::exception& e) {
    return error("error", e.what());
  }
}

json Controller::cmd_push(const json& req) {
  std::lock_guard pl(push_mu_);
  {
    std::lock_guard lk(mu_);
    if (!st_.idle())
      return error("busy", st_.active ? "rollout " + std::to_string(st_.active->id) + " of " +
                                            st_.active->version + " is in progress"
                                      : "a rollback is in progress");
  }
  std::string policy_text = req.value("policy", ""),
              policy_file = req.value("policy_file", "policy");
  std::string probes_text = req.value("probes", ""),
              probes_file = req.value("probes_file", "probes");
  Policy pol = policy_text.empty() ? default_policy() : parse_policy(policy_text, policy_file);
  if (!probes_text.empty()) parse_probes(probes_text, probes_file);  // errors before anything else
  std::optional<double> bake;
  if (req.contains("bake") && req["bake"].is_number()) bake = req["bake"].get<double>();
  GateFlags flags{req.value("force_serial", false), req.value("allow_apex_change", false)};

  std::vector<LoadedZone> zones;
  json diags = json::array();
  for (const auto& z : req.value("zones", json::array())) {
    zones.push_back(
        load_zone_text(z.value("text", ""), z.value("file", "zone"), z.value("origin", "")));
    for (const auto& d : zones.back().diagnostics)
      diags.push_back({{"file", d.file},
                       {"line", d.line},
                       {"severity", d.is_error() ? "error" : "warning"},
                       {"message", d.message}});
  }
  // push --zone / remove-zone: the named zones change, every other zone of
  // the committed version stays as it is.
  const bool keep_others = req.value("keep_others", false);
  std::vector<std::string> remove;
  if (req.contains("remove") && req["remove"].is_array())
    for (const auto& x : req["remove"])
      if (x.is_string()) remove.push_back(x.get<std::string>());
  if (zones.empty() && remove.empty()) return error("bad_request", "no zones given");
  if (!remove.empty() && !keep_others)
    return error("bad_request", "\"remove\" needs \"keep_others\"");
  // Every node must answer before anything is sent to any of them; what
  // they have committed is the rollback target when none is known yet.
  std::map<std::string, std::vector<int>> lcores;
  std::map<std::string, std::string> node_committed;
  const auto fleet_now = fleet_snapshot();
  for (const auto& n : fleet_now->nodes) {
    NodeClient c(n.name, n.address());
    try {
      Hello h = c.hello();
      lcores[n.name] = h.lcores;
      node_committed[n.name] = h.committed;
    } catch (const NodeError& e) {
      return error("node_down", std::string("nothing sent: ") + e.what());
    }
  }
  std::string committed;
  {
    std::lock_guard lk(mu_);
    committed = st_.committed;
  }
  if (committed.empty()) {
    if (!learn_baseline(node_committed)) {
      std::string seen;
      for (const auto& [n, v] : node_committed)
        seen += (seen.empty() ? "" : ", ") + n + ": " + (v.empty() ? "none" : short_version(v));
      return error("no_baseline",
                   "nothing sent: the fleet has no single committed version (" + seen +
                       "), so a failed rollout would have nothing to roll back to; start "
                       "edgectl serve with --adopt ZONEFILE... or bring every node to one "
                       "version with edgectl rollback --version V");
    }
    std::lock_guard lk(mu_);
    committed = st_.committed;
  }
  std::shared_ptr<const std::vector<LoadedZone>> prev;
  if (store_.has(committed)) prev = store_.load(committed);
  if (keep_others) {
    if (!prev)
      return error("no_baseline",
                   "nothing sent: a per-zone change keeps the other zones of the committed "
                   "version, and the control plane has no copy of " +
                       (committed.empty() ? std::string("one") : committed));
    std::set<std::string> given, removing;
    for (const auto& z : zones) given.insert(z.data.origin.lower().wire());
    for (const auto& r : remove) {
      zones::Name n;
      try {
        n = zones::Name::from_text(r.empty() || r.back() != '.' ? r + "." : r);
      } catch (const std::exception& e) {
        return error("bad_request", "remove-zone: '" + r + "' is not a zone name: " + e.what());
      }
      bool held = false;
      for (const auto& c : *prev) held |= c.data.origin == n;
      if (!held)
        return error("bad_request", "remove-zone: " + n.to_text() +
                                        " is not in the committed version " + committed);
      if (given.count(n.lower().wire()))
        return error("bad_request", "remove-zone: " + n.to_text() + " is also pushed");
      removing.insert(n.lower().wire());
      flags.removing.insert(n.lower().to_text());
    }
    std::vector<LoadedZone> merged;
    merged.reserve(prev->size() + zones.size());
    std::map<std::string, size_t> pushed;
    for (size_t i = 0; i < zones.size(); ++i) pushed[zones[i].data.origin.lower().wire()] = i;
    for (const auto& c : *prev) {
      const std::string key = c.data.origin.lower().wire();
      if (removing.count(key)) continue;
      auto it = pushed.find(key);
      if (it == pushed.end()) {
        merged.push_back(c);
        continue;
      }
      merged.push_back(std::move(zones[it->second]));
      pushed.erase(it);
    }
    std::vector<size_t> fresh;  // zones the committed version does not have yet
    for (const auto& [key, i] : pushed) fresh.push_back(i);
    std::sort(fresh.begin(), fresh.end());  // in the order given
    for (size_t i : fresh) merged.push_back(std::move(zones[i]));
    zones = std::move(merged);
    if (zones.empty())
      return error("bad_request", "remove-zone: that would leave the fleet with no zone");
  }
  std::string work = opt_.state_dir + "/tmp";
  std::filesystem::create_directories(work);
  GateReport rep = run_gates(zones, prev.get(), pol.gates, flags, work);
  auto reject = [&](const std::vector<Rejection>& rj) {
    json list = json::array();
    for (const auto& x : rj) list.push_back({{"rule", x.rule}, {"message", x.message}});
    journal({{"ev", ev(Event::Rejected)}, {"rejections", list}, {"by", req.value("by", "")}});
    json e = error("rejected", rj.front().rule + ": " + rj.front().message);
    e["rejections"] = list;
    e["diagnostics"] = diags;
    return e;
  };
  if (!rep.ok()) return reject(rep.rejections);
  VersionInfo vi = compute_version(zones);
  std::optional<std::string> bad_reason;
  {
    std::lock_guard lk(mu_);
    if (vi.id == st_.committed)
      return error("no_change", vi.id + " (" + vi.label + ") is already committed");
    if (auto b = st_.bad.find(vi.id); b != st_.bad.end()) bad_reason = b->second;
  }
  if (bad_reason) return reject({{"known-bad", vi.id + " was rolled back before: " + *bad_reason}});
  auto stages = resolve_stages(pol, *fleet_snapshot(), lcores, bake);
  std::vector<std::string> untouched;
  for (const auto& d : rep.diffs)
    untouched.insert(untouched.end(), d.untouched_names.begin(), d.untouched_names.end());
  store_.put(vi.id, vi.label, zones);
  journal_apply({{"ev", ev(Event::Version)}, {"version", vi.id}, {"label", vi.label}});
  json stages_json = json::array();
  for (const auto& s : stages) stages_json.push_back(stage_to_json(s));
  uint64_t id;
  {
    std::lock_guard lk(mu_);
    id = st_.next_rollout;
  }
  // The gates judged the push against `committed`; a rollback or another
  // rollout that started meanwhile makes that judgement (and the rollback
  // target) stale, so the rollout starts only if nothing moved.
  auto started = journal_apply_if(
      [&](const FleetState& s) {
        return s.idle() && s.committed == committed && s.next_rollout == id;
      },
      {{"ev", ev(Event::RolloutStart)},
       {"rollout", id},
       {"version", vi.id},
       {"label", vi.label},
       {"previous", committed},
       {"by", req.value("by", "")},
       {"full_upload", req.value("full_upload", false)},
       {"stages", stages_json},
       {"policy", policy_text},
       {"policy_file", policy_file},
       {"probes", probes_text},
       {"probes_file", probes_file},
       {"untouched", untouched}});
  if (!started)
    return error("busy",
                 "nothing sent: the fleet changed while the push was validated (a rollback "
                 "or another rollout started); push again to validate against it");
  json notes = json::array();
  for (const auto& n : rep.notes) notes.push_back(n);
  return {{"ok", true},        {"rollout", id},         {"version", vi.id},
          {"label", vi.label}, {"previous", committed}, {"stages", stages_json},
          {"notes", notes}};
}

std::shared_ptr<const Fleet> Controller::fleet_snapshot() const {
  std::lock_guard lk(fleet_mu_);
  return fleet_;
}

json Controller::cmd_fleet_reload(const json& req) {
  const std::string by = req.value("by", "");
  if (opt_.fleet_file.empty())
    return error("bad_request", "this edgectl serve has no fleet file to read again");
  // No push is being validated against the old fleet meanwhile, and none
  // is in flight: a stage resolved over one fleet never runs on another.
  std::lock_guard pl(push_mu_);
  {
    std::lock_guard lk(mu_);
    if (!st_.idle())
      return error("busy",
                   "fleet file not reloaded: a rollout or rollback is in progress; reload when it "
                   "has ended (the fleet is unchanged)");
  }
  Fleet next;
  try {
    next = load_fleet(opt_.fleet_file);
  } catch (const std::exception& e) {
    return error("bad_fleet", std::string(e.what()) + " (the fleet is unchanged)");
  }
  auto now = fleet_snapshot();
  json added = json::array(), removed = json::array(), changed = json::array();
  for (const auto& n : next.nodes) {
    const FleetNode* o = now->find(n.name);
    if (!o) added.push_back(n.name);
    else if (o->control != n.control || o->server_name != n.server_name || o->probe != n.probe ||
             o->wave != n.wave)
      changed.push_back(n.name);
  }
  for (const auto& n : now->nodes)
    if (!next.find(n.name)) removed.push_back(n.name);
  const size_t count = next.nodes.size();
  {
    std::lock_guard lk(fleet_mu_);
    fleet_ = std::make_shared<const Fleet>(std::move(next));
  }
  ++fleet_gen_;
  auto names = [](const json& a) {
    std::string s;
    for (const auto& x : a) s += (s.empty() ? "" : ", ") + x.get<std::string>();
    return s.empty() ? std::string("none") : s;
  };
  log_line("fleet file " + opt_.fleet_file + " reloaded" + (by.empty() ? "" : " by " + by) + ": " +
           std::to_string(count) + " node(s); added " + names(added) + "; removed " +
           names(removed) + "; changed " + names(changed));
  // The reconciler's next pass (within reconcile_interval_s) brings added
  // nodes to the committed version.
  return {
      {"ok", true}, {"nodes", count}, {"added", added}, {"removed", removed}, {"changed", changed}};
}

json Controller::cmd_status() {
  json out = {{"ok", true}};
  std::string target;
  bool idle;
  {
    std::lock_guard lk(mu_);
    auto label = st_.labels.find(st_.committed);
    target = st_.committed;
    idle = st_.idle();
    out["committed"] = st_.committed;
    out["committed_label"] = label != st_.labels.end() ? label->second : "";
    out["rollout"] = st_.active ? rollout_json(*st_.active) : json();
    out["manual_rollback"] = st_.manual_to ? json(*st_.manual_to) : json();
  }
  // What each node serves, asked now; when nothing is in flight, a node not
  // serving and committing the committed version everywhere is pending (the
  // engine keeps repairing it).
  json nodes = json::array(), pending = json::array();
  const auto fleet_now = fleet_snapshot();
  for (const auto& n : fleet_now->nodes) {
    NodeClient c(n.name, n.address(), std::chrono::milliseconds(2000));
    json e = {{"name", n.name}, {"wave", n.wave}, {"control", n.control}, {"probe", n.probe}};
    std::string why;
    try {
      Hello h = c.hello();
      json s = json::object();
      for (const auto& [l, v] : h.served) {
        s[std::to_string(l)] = v;
        if (v != target && why.empty()) why = "lcore " + std::to_string(l) + " serves " + v;
      }
      e["up"] = true;
      e["committed"] = h.committed;
      e["served"] = s;
      if (h.committed != target && why.empty())
        why = "has committed " + (h.committed.empty() ? std::string("nothing") : h.committed);
    } catch (const NodeError& err) {
      e["up"] = false;
      e["error"] = err.what();
      why = std::string("unreachable: ") + err.what();
    }
    if (why.empty()) {
      std::lock_guard lk(mu_);
      if (auto d = drift_.find(n.name); d != drift_.end() && d->second.rfind(kUnverified, 0) == 0)
        why = d->second;  // on the version, not yet in service
    }
    if (idle && !target.empty()) {
      e["in_sync"] = why.empty();
      if (!why.empty()) {
        e["pending"] = why;
        pending.push_back({{"node", n.name}, {"reason", why}});
      }
    }
    nodes.push_back(e);
  }
  out["nodes"] = nodes;
  out["pending"] = pending;
  return out;
}

json Controller::cmd_rollout(const json& req) {
  std::lock_guard lk(mu_);
  uint64_t id = req.value("rollout", uint64_t(0));
  size_t since = req.value("since", size_t(0));
  json r;
  if (st_.active && (id == 0 || id == st_.active->id)) r = rollout_json(*st_.active);
  else
    for (const auto& h : st_.history)
      if (id == 0 || h.id == id) r = rollout_json(h);
  if (r.is_null())
    return error("unknown_rollout", id ? "no rollout " + std::to_string(id) : "no rollout yet");
  uint64_t rid = r["rollout"];
  json evs = json::array();
  size_t next = since;
  for (size_t i = since; i < events_.size(); ++i) {
    next = i + 1;
    if (events_[i].value("rollout", uint64_t(0)) == rid) evs.push_back(events_[i]);
  }
  return {{"ok", true}, {"rollout", r}, {"events", evs}, {"next", std::max(next, since)}};
}

json Controller::cmd_control(const std::string& cmd, const std::string& by) {
  uint64_t id;
  {
    std::lock_guard lk(mu_);
    if (!st_.active) return error("no_rollout", "no rollout in progress");
    id = st_.active->id;
  }
  if (cmd == "abort") return abort_rollout(id, "aborted by the operator", by);
  Event e = cmd == "pause" ? Event::Pause : Event::Resume;
  std::string refused;
  auto r = journal_apply_if(
      [&](const FleetState& s) {
        if (!s.active || s.active->id != id) refused = "rollout " + std::to_string(id) + " ended";
        else if (s.active->phase != Phase::Stage || s.active->aborted)
          refused = "rollout " + std::to_string(id) + " is " + state_name(*s.active) +
                    (s.active->aborted ? " (aborted)" : "") + ": only abort applies now";
        return refused.empty();
      },
      {{"ev", ev(e)}, {"rollout", id}, {"by", by}});
  if (!r) return error("bad_request", refused);
  return {{"ok", true}, {"rollout", id}, {"state", cmd == "pause" ? "paused" : "running"}};
}

json Controller::abort_rollout(uint64_t id, const std::string& why, const std::string& by) {
  // Journaled, so that a daemon restarted before the engine acts still
  // rolls back instead of resuming; the engine sees it at its next check,
  // in a stage or in the commit phase alike.
  std::string to, state = "aborting";
  auto r = journal_apply_if(
      [&](const FleetState& s) {
        if (!s.active || s.active->id != id) return false;
        to = s.active->previous;
        if (s.active->aborted || s.active->phase == Phase::Rollback) {
          state = "rolling_back";
          return false;
        }
        return true;
      },
      {{"ev", ev(Event::Abort)}, {"rollout", id}, {"reason", why}, {"by", by}});
  if (!r && state != "rolling_back")
    return error("no_rollout", "rollout " + std::to_string(id) + " already ended");
  return {{"ok", true}, {"rollout", id}, {"state", state}, {"to", to}};
}

json Controller::cmd_rollback(const json& req) {
  std::string to = req.value("version", "");
  {
    std::unique_lock lk(mu_);
    if (st_.active) {
      uint64_t id = st_.active->id;
      lk.unlock();
      return abort_rollout(id, "rolled back by the operator", req.value("by", ""));
    }
    if (st_.manual_to) return error("busy", "a rollback to " + *st_.manual_to + " is in progress");
    if (to.empty()) {
      // The version committed before the current one.
      for (auto it = st_.committed_log.rbegin(); it != st_.committed_log.rend(); ++it)
        if (*it != st_.committed) {
          to = *it;
          break;
        }
      if (to.empty()) return error("bad_request", "no earlier committed version to roll back to");
    }
  }
  if (!store_.has(to)) {
    bool held_everywhere = true;
    const auto fleet_now = fleet_snapshot();
    for (const auto& n : fleet_now->nodes) {
      try {
        held_everywhere &= NodeClient(n.name, n.address()).status().holds(to);
      } catch (const NodeError&) {
        held_everywhere = false;
      }
    }
    if (!held_everywhere)
      return error("unknown_version",
                   "version " + to + " is neither stored nor held by every node");
  }
  std::string from;
  {
    std::lock_guard lk(mu_);
    from = st_.committed;
  }
  auto r = journal_apply_if([&](const FleetState& s) { return s.idle() && s.committed == from; },
                            {{"ev", ev(Event::ManualRollbackBegin)},
                             {"from", from},
                             {"to", to},
                             {"by", req.value("by", "")}});
  if (!r) return error("busy", "a rollout or rollback started meanwhile; nothing changed");
  return {{"ok", true}, {"from", from}, {"to", to}, {"state", "rolling_back"}};
}

json Controller::cmd_history() {
  std::lock_guard lk(mu_);
  json h = json::array();
  for (const auto& x : st_.history) h.push_back(rollout_json(x));
  if (st_.active) h.push_back(rollout_json(*st_.active));
  json rejected = json::array();
  for (const auto& e : events_)
    if (event_of(e) == Event::Rejected) rejected.push_back(e);
  return {{"ok", true}, {"rollouts", h}, {"rejected", rejected}, {"committed", st_.committed}};
}

}  // namespace edgedns::ctl
