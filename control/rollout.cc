#include "control/rollout.hh"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <set>

#include "control/gates.hh"
#include "control/health.hh"
#include "control/version_id.hh"

namespace edgedns::ctl {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

void log_line(const std::string& s) { std::cerr << "edgectl serve: " << s << std::endl; }

json error(const std::string& code, const std::string& msg) {
  return {{"ok", false}, {"code", code}, {"error", msg}};
}

bool targets_lcore(const ResolvedStage& s, const std::string& node, int lcore) {
  for (const auto& t : s.targets)
    if (t.node == node) return t.lcores.empty() || std::count(t.lcores.begin(), t.lcores.end(), lcore);
  return false;
}

std::string short_id(const std::string& v) { return v.substr(0, 12); }

}  // namespace

std::vector<ResolvedStage> resolve_stages(const Policy& p, const Fleet& f,
                                          const std::map<std::string, std::vector<int>>& lcores,
                                          std::optional<double> bake_override) {
  std::vector<ResolvedStage> out;
  std::map<std::string, std::set<int>> covered;  // node -> lcores serving the new version
  auto full = [&](const std::string& n) {
    auto it = lcores.find(n);
    size_t want = it == lcores.end() ? 0 : it->second.size();
    return covered.count(n) && covered[n].size() >= want;
  };
  auto cover_node = [&](const std::string& n) {
    auto it = lcores.find(n);
    if (it != lcores.end()) covered[n].insert(it->second.begin(), it->second.end());
    else covered[n];
  };
  size_t before = 0;
  auto count = [&] {
    size_t c = 0;
    for (const auto& [n, s] : covered) c += s.size() + 1;
    return c;
  };
  for (const auto& sp : p.stages) {
    const std::string& first = f.nodes.front().name;
    switch (sp.scope) {
      case Scope::Lcore: {
        auto it = lcores.find(first);
        if (it != lcores.end() && !it->second.empty()) covered[first].insert(it->second.front());
        else cover_node(first);
        break;
      }
      case Scope::Node: cover_node(first); break;
      case Scope::Wave: {
        std::vector<int> waves;
        for (const auto& n : f.nodes)
          if (!full(n.name) && std::find(waves.begin(), waves.end(), n.wave) == waves.end()) waves.push_back(n.wave);
        std::sort(waves.begin(), waves.end());
        waves.resize(std::min<size_t>(waves.size(), size_t(sp.waves)));
        for (const auto& n : f.nodes)
          if (std::count(waves.begin(), waves.end(), n.wave)) cover_node(n.name);
        break;
      }
      case Scope::All:
        for (const auto& n : f.nodes) cover_node(n.name);
        break;
    }
    size_t now = count();
    if (now == before) continue;  // adds nothing
    before = now;
    ResolvedStage rs;
    rs.name = sp.name;
    rs.scope = sp.scope;
    rs.bake_s = bake_override ? *bake_override : sp.bake_s;
    rs.min_queries = sp.min_queries;
    rs.timeout_s = sp.timeout_s > 0 ? sp.timeout_s : rs.bake_s + 300;
    for (const auto& n : f.nodes) {
      if (!covered.count(n.name)) continue;
      StageTarget t{n.name, {}};
      if (!full(n.name)) t.lcores.assign(covered[n.name].begin(), covered[n.name].end());
      rs.targets.push_back(std::move(t));
    }
    out.push_back(std::move(rs));
  }
  return out;
}

json stage_to_json(const ResolvedStage& s) {
  json t = json::array();
  for (const auto& x : s.targets) {
    json e = {{"node", x.node}};
    if (!x.lcores.empty()) e["lcores"] = x.lcores;
    t.push_back(e);
  }
  return {{"name", s.name}, {"scope", scope_name(s.scope)}, {"bake_s", s.bake_s}, {"min_queries", s.min_queries},
          {"timeout_s", s.timeout_s}, {"targets", t}};
}

ResolvedStage stage_from_json(const json& j) {
  ResolvedStage s;
  s.name = j.value("name", "");
  std::string sc = j.value("scope", "all");
  s.scope = sc == "lcore" ? Scope::Lcore : sc == "node" ? Scope::Node : sc == "wave" ? Scope::Wave : Scope::All;
  s.bake_s = j.value("bake_s", 0.0);
  s.min_queries = j.value("min_queries", uint64_t(0));
  s.timeout_s = j.value("timeout_s", 0.0);
  for (const auto& t : j.value("targets", json::array()))
    s.targets.push_back({t.value("node", ""), t.value("lcores", std::vector<int>{})});
  return s;
}

// ---------------------------------------------------------------------------

Controller::Controller(Options o) : opt_(std::move(o)), store_(opt_.state_dir) {
  journal_ = std::make_unique<Journal>(opt_.state_dir + "/journal.jsonl");
  if (journal_->truncated_bytes())
    log_line("journal: cut a torn last record (" + std::to_string(journal_->truncated_bytes()) + " bytes)");
}

Controller::~Controller() { stop(); }

json Controller::journal(json rec) {
  std::lock_guard jl(jmu_);
  json r = journal_->append(std::move(rec));
  std::lock_guard lk(mu_);
  events_.push_back(r);
  return r;
}

void Controller::apply(const json& rec) {
  // Caller holds mu_. Rebuilds state from one journal record.
  std::string ev = rec.value("ev", "");
  uint64_t rid = rec.value("rollout", uint64_t(0));
  auto mine = [&] { return active_ && active_->id == rid; };
  if (ev == "baseline") {
    committed_ = rec.value("version", "");
    committed_log_.push_back(committed_);
  } else if (ev == "version") {
    labels_[rec.value("version", "")] = rec.value("label", "");
  } else if (ev == "rollout_start") {
    Rollout r;
    r.id = rid;
    r.version = rec.value("version", "");
    r.label = rec.value("label", "");
    r.previous = rec.value("previous", "");
    r.policy_text = rec.value("policy", "");
    r.policy_file = rec.value("policy_file", "");
    r.probes_text = rec.value("probes", "");
    r.probes_file = rec.value("probes_file", "");
    r.untouched = rec.value("untouched", std::vector<std::string>{});
    for (const auto& s : rec.value("stages", json::array())) r.stages.push_back(stage_from_json(s));
    if (!r.stages.empty()) r.bake_left = r.stages.front().bake_s;
    r.started = rec.value("time", 0.0);
    active_ = std::move(r);
    next_rollout_ = std::max(next_rollout_, rid + 1);
  } else if (ev == "stage_begin" && mine()) {
    active_->stage = rec.value("stage", size_t(0));
    active_->phase = "stage";
    // Progress shows the whole bake until the first gate interval counts it down.
    active_->bake_left = active_->stage < active_->stages.size() ? active_->stages[active_->stage].bake_s : 0;
  } else if (ev == "stage_passed" && mine()) {
    active_->stage = rec.value("stage", size_t(0)) + 1;
  } else if (ev == "pause" && mine()) {
    active_->paused = true;
  } else if (ev == "resume" && mine()) {
    active_->paused = false;
  } else if (ev == "commit_begin" && mine()) {
    active_->phase = "commit";
  } else if (ev == "rollback_begin" && mine()) {
    active_->phase = "rollback";
    active_->reason = rec.value("reason", "");
  } else if ((ev == "committed" || ev == "rolled_back") && mine()) {
    active_->phase = "done";
    active_->outcome = ev;
    active_->finished = rec.value("time", 0.0);
    if (ev == "committed") {
      committed_ = active_->version;
      committed_log_.push_back(committed_);
    } else {
      active_->reason = rec.value("reason", active_->reason);
    }
    history_.push_back(rollout_json(*active_));
    active_.reset();
  } else if (ev == "bad") {
    bad_[rec.value("version", "")] = rec.value("reason", "");
  } else if (ev == "manual_rollback_begin") {
    manual_to_ = rec.value("to", "");
  } else if (ev == "manual_rollback_done") {
    manual_to_.reset();
    committed_ = rec.value("to", "");
    committed_log_.push_back(committed_);
  }
}

void Controller::replay() {
  std::lock_guard lk(mu_);
  for (const auto& rec : journal_->recovered()) {
    events_.push_back(rec);
    apply(rec);
  }
}

void Controller::adopt_baseline() {
  // The committed version of a fleet the control plane has never pushed to.
  if (!opt_.adopt.empty()) {
    std::vector<LoadedZone> zones;
    for (const auto& f : opt_.adopt) {
      zones.push_back(load_zone(f));
      if (!zones.back().ok()) throw std::runtime_error("--adopt " + f + ": zone does not load");
    }
    VersionInfo vi = compute_version(zones);
    store_.put(vi.id, vi.label, zones);
    journal({{"ev", "version"}, {"version", vi.id}, {"label", vi.label}});
    journal({{"ev", "baseline"}, {"version", vi.id}, {"source", "adopt"}});
    std::lock_guard lk(mu_);
    apply({{"ev", "version"}, {"version", vi.id}, {"label", vi.label}});
    apply({{"ev", "baseline"}, {"version", vi.id}});
    log_line("adopted " + vi.id + " (" + vi.label + ") as the committed version");
    return;
  }
  std::set<std::string> seen;
  for (const auto& n : opt_.fleet.nodes) {
    try {
      seen.insert(client(n.name).hello().committed);
    } catch (const NodeError& e) {
      log_line(e.what());
    }
  }
  seen.erase("");
  if (seen.size() == 1) {
    std::string v = *seen.begin();
    journal({{"ev", "baseline"}, {"version", v}, {"source", "nodes"}});
    std::lock_guard lk(mu_);
    apply({{"ev", "baseline"}, {"version", v}});
    log_line("the fleet's committed version is " + v + " (content unknown: gates against it are skipped)");
  }
}

void Controller::start() {
  replay();
  bool known;
  {
    std::lock_guard lk(mu_);
    known = !committed_.empty();
  }
  if (!known) adopt_baseline();
  {
    std::lock_guard lk(mu_);
    if (active_) {
      log_line("resuming rollout " + std::to_string(active_->id) + " of " + active_->version + " in phase " +
               active_->phase);
      if (active_->phase == "stage") {
        Policy p = active_->policy_text.empty() ? default_policy() : parse_policy(active_->policy_text, active_->policy_file);
        if (!p.resume_on_restart) {
          active_->phase = "rollback";
          active_->reason = "control plane restarted mid-rollout (on_restart: rollback)";
        }
      }
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
  return !active_ && !manual_to_;
}

NodeClient& Controller::client(const std::string& node) {
  auto& c = clients_[node];
  if (!c) {
    const FleetNode* fn = opt_.fleet.find(node);
    if (!fn) throw std::runtime_error("node " + node + " is not in the fleet file");
    c = std::make_unique<NodeClient>(fn->name, fn->control);
  }
  return *c;
}

bool Controller::sleep_interval(double seconds) {
  std::unique_lock lk(mu_);
  cv_.wait_for(lk, std::chrono::duration<double>(seconds), [&] { return stopping_.load() || abort_.load(); });
  return !stopping_;
}

void Controller::set_verdicts(std::vector<std::string> v) {
  std::lock_guard lk(mu_);
  if (!active_ || active_->verdicts == v) return;
  active_->verdicts = v;
  events_.push_back({{"ev", "verdicts"}, {"rollout", active_->id}, {"verdicts", v}, {"time", now_s()}});
}

void Controller::engine() {
  // Bring nodes to the committed version before anything new happens, unless
  // a rollout is in flight (its own steps decide what nodes serve).
  bool rollout_pending;
  {
    std::lock_guard lk(mu_);
    rollout_pending = active_.has_value() || manual_to_.has_value();
  }
  if (!rollout_pending) converge();
  while (!stopping_) {
    {
      std::unique_lock lk(mu_);
      cv_.wait(lk, [&] { return stopping_ || active_ || manual_to_; });
      if (stopping_) break;
    }
    bool manual;
    {
      std::lock_guard lk(mu_);
      manual = manual_to_.has_value() && !active_;
    }
    if (manual) {
      std::string to;
      {
        std::lock_guard lk(mu_);
        to = *manual_to_;
      }
      std::vector<std::string> pending;
      rollback_all(to, pending);
      if (stopping_) break;
      json done = journal({{"ev", "manual_rollback_done"}, {"to", to}, {"pending", pending}});
      std::lock_guard lk(mu_);
      apply(done);
      continue;
    }
    run_rollout();
  }
}

void Controller::converge() {
  std::string target;
  {
    std::lock_guard lk(mu_);
    target = committed_;
  }
  if (target.empty()) return;
  for (const auto& n : opt_.fleet.nodes) {
    try {
      NodeClient& c = client(n.name);
      NodeStatus st = c.status();
      bool off = st.committed != target;
      for (const auto& l : st.lcores) off |= l.version != target;
      if (!off) continue;
      log_line("node " + n.name + " is not on the committed version " + short_id(target) + ": bringing it back");
      journal({{"ev", "converge"}, {"node", n.name}, {"version", target}});
      ensure_held(c, target);
      c.publish(target);
      c.commit(target);
    } catch (const std::exception& e) {
      log_line(std::string("converge: ") + e.what());
    }
  }
}

void Controller::ensure_held(NodeClient& c, const std::string& version) {
  if (c.status().holds(version)) return;
  if (!store_.has(version))
    throw NodeError(c.name(), c.socket(), "unknown_version",
                    "does not hold " + version + " and the control plane has no copy of it");
  UploadResult u = c.upload(store_.uploads(version));
  if (u.version != version)
    throw NodeError(c.name(), c.socket(), "protocol",
                    "computed version " + u.version + " for the zones of " + version + " (version hash mismatch)");
}

void Controller::run_rollout() {
  std::string phase;
  size_t stage;
  {
    std::lock_guard lk(mu_);
    phase = active_->phase;
    stage = active_->stage;
  }
  std::string reason;
  if (phase == "stage") {
    reference_ = {};
    bool ok = true;
    size_t nstages;
    {
      std::lock_guard lk(mu_);
      nstages = active_->stages.size();
    }
    for (size_t i = stage; i < nstages && ok; ++i) {
      ok = run_stage(i, reason);
      if (stopping_) return;  // a restart resumes from the journal
      if (ok) {
        json r = journal({{"ev", "stage_passed"}, {"rollout", active_->id}, {"stage", i}});
        std::lock_guard lk(mu_);
        apply(r);
      }
    }
    if (ok) {
      json r = journal({{"ev", "commit_begin"}, {"rollout", active_->id}});
      std::lock_guard lk(mu_);
      apply(r);
      phase = "commit";
    } else {
      json r = journal({{"ev", "rollback_begin"}, {"rollout", active_->id}, {"reason", reason}});
      std::lock_guard lk(mu_);
      apply(r);
      phase = "rollback";
    }
  }
  if (phase == "commit") {
    if (!commit_all(reason)) {
      if (stopping_) return;
      json r = journal({{"ev", "rollback_begin"}, {"rollout", active_->id}, {"reason", reason}});
      std::lock_guard lk(mu_);
      apply(r);
      phase = "rollback";
    } else {
      uint64_t id;
      std::string v;
      {
        std::lock_guard lk(mu_);
        id = active_->id;
        v = active_->version;
      }
      json r = journal({{"ev", "committed"}, {"rollout", id}, {"version", v}});
      log_line("rollout " + std::to_string(id) + ": " + v + " committed on every node");
      std::lock_guard lk(mu_);
      apply(r);
      return;
    }
  }
  if (phase == "rollback") {
    std::string why;
    {
      std::lock_guard lk(mu_);
      why = active_->reason;
    }
    finish_rollback(why);
  }
}

void Controller::finish_rollback(const std::string& reason) {
  std::string prev, v;
  uint64_t id;
  {
    std::lock_guard lk(mu_);
    prev = active_->previous;
    v = active_->version;
    id = active_->id;
  }
  std::vector<std::string> pending;
  rollback_all(prev, pending);
  if (stopping_) return;
  journal({{"ev", "bad"}, {"version", v}, {"reason", reason}});
  try {
    store_.set_meta(v, "bad", reason);
  } catch (const std::exception& e) {
    log_line(e.what());
  }
  json r = journal({{"ev", "rolled_back"}, {"rollout", id}, {"version", v}, {"to", prev}, {"reason", reason},
                    {"pending", pending}});
  log_line("rollout " + std::to_string(id) + ": rolled back to " + prev + ": " + reason);
  std::lock_guard lk(mu_);
  apply({{"ev", "bad"}, {"version", v}, {"reason", reason}});
  apply(r);
}

void Controller::rollback_all(const std::string& to, std::vector<std::string>& pending) {
  if (to.empty()) return;
  for (const auto& n : opt_.fleet.nodes) {
    try {
      NodeClient& c = client(n.name);
      NodeStatus st = c.status();
      bool off = st.committed != to;
      for (const auto& l : st.lcores) off |= l.version != to;
      if (!off) continue;
      ensure_held(c, to);
      c.publish(to);
      c.commit(to);
    } catch (const NodeError& e) {
      // A node that is down comes back on its last-known-good, which a
      // rollout never changed before its commit phase; converge() at the next
      // start fixes anything else.
      log_line(std::string("rollback: ") + e.what());
      pending.push_back(n.name);
    }
  }
}

bool Controller::commit_all(std::string& reason) {
  std::string v;
  Policy pol;
  {
    std::lock_guard lk(mu_);
    v = active_->version;
    pol = active_->policy_text.empty() ? default_policy() : parse_policy(active_->policy_text, active_->policy_file);
  }
  std::set<std::string> left;
  for (const auto& n : opt_.fleet.nodes) left.insert(n.name);
  while (!left.empty()) {
    if (abort_) {
      reason = "aborted by the operator during the commit phase";
      abort_ = false;
      return false;
    }
    for (auto it = left.begin(); it != left.end();) {
      try {
        NodeClient& c = client(*it);
        ensure_held(c, v);
        c.publish(v);
        c.commit(v);
        it = left.erase(it);
      } catch (const NodeError& e) {
        if (!e.is_down()) {
          reason = std::string("commit failed: ") + e.what();
          return false;
        }
        ++it;
      }
    }
    if (!left.empty()) {
      std::string w;
      for (const auto& n : left) w += (w.empty() ? "" : ", ") + n;
      set_verdicts({"commit: waiting for " + w + " to come back"});
      if (!sleep_interval(pol.health.interval_s)) return false;
    }
  }
  return true;
}

bool Controller::run_stage(size_t i, std::string& reason) {
  Rollout r;
  {
    std::lock_guard lk(mu_);
    r = *active_;
  }
  const ResolvedStage& st = r.stages[i];
  Policy pol = r.policy_text.empty() ? default_policy() : parse_policy(r.policy_text, r.policy_file);
  {
    json rec = journal({{"ev", "stage_begin"}, {"rollout", r.id}, {"stage", i}, {"name", st.name}});
    std::lock_guard lk(mu_);
    apply(rec);
  }
  auto fail_or_wait = [&](const NodeError& e) {
    if (e.is_down() && !pol.health.rollback_on_node_down) return false;
    reason = "stage " + st.name + ": " + e.what();
    return true;
  };
  // Upload and publish, each step journaled first. Publishing is idempotent,
  // so a resumed stage simply repeats it.
  std::set<std::string> done;
  while (done.size() < st.targets.size()) {
    for (const auto& t : st.targets) {
      if (done.count(t.node)) continue;
      try {
        NodeClient& c = client(t.node);
        if (!c.status().holds(r.version)) {
          journal({{"ev", "upload"}, {"rollout", r.id}, {"node", t.node}});
          ensure_held(c, r.version);
        }
        json rec = {{"ev", "publish"}, {"rollout", r.id}, {"node", t.node}, {"version", r.version}};
        if (!t.lcores.empty()) rec["lcores"] = t.lcores;
        journal(rec);
        c.publish(r.version, t.lcores.empty() ? std::nullopt : std::optional<std::vector<int>>(t.lcores));
        done.insert(t.node);
      } catch (const NodeError& e) {
        if (fail_or_wait(e)) return false;
        set_verdicts({"waiting for node " + t.node + ": " + e.what()});
      }
    }
    if (abort_) {
      abort_ = false;
      reason = "aborted by the operator";
      return false;
    }
    if (done.size() < st.targets.size() && !sleep_interval(pol.health.interval_s)) return false;
  }

  // Probes: the operator's, plus untouched names that must answer as before.
  std::vector<Probe> probes;
  try {
    if (!r.probes_text.empty()) probes = parse_probes(r.probes_text, r.probes_file);
    if (pol.health.auto_probes && store_.has(r.previous)) {
      auto prev = store_.load(r.previous);
      auto ap = auto_probes(prev, r.untouched, pol.health.auto_probes);
      probes.insert(probes.end(), ap.begin(), ap.end());
    }
  } catch (const std::exception& e) {
    reason = std::string("probes: ") + e.what();
    return false;
  }

  // Baseline counters: rates are judged on what happened during this stage.
  std::map<std::string, std::map<int, std::map<std::string, Counters>>> base;
  for (const auto& n : opt_.fleet.nodes) {
    try {
      for (const auto& l : client(n.name).status().lcores) base[n.name][l.id] = l.counters;
    } catch (const NodeError&) {
    }
  }
  double baked = 0;
  auto last = Clock::now();
  auto started = Clock::now();
  for (;;) {
    if (!sleep_interval(std::min(pol.health.interval_s, std::max(0.05, st.bake_s - baked)))) return false;
    if (abort_) {
      abort_ = false;
      reason = "aborted by the operator";
      return false;
    }
    auto now = Clock::now();
    double step = std::chrono::duration<double>(now - last).count();
    last = now;
    bool paused;
    {
      std::lock_guard lk(mu_);
      paused = active_->paused;
    }
    std::vector<std::string> verdicts;
    bool waiting = false;
    std::set<std::string> down;  // on_node_down: wait: nodes neither judged nor probed now
    Counters canary, control;
    size_t nodes_done = 0, lcores_done = 0;
    for (const auto& n : opt_.fleet.nodes) {
      try {
        NodeClient& c = client(n.name);
        Health h = c.health();
        if (!h.lcores_alive) {
          reason = "stage " + st.name + ": node " + n.name + ": not every lcore is alive";
          return false;
        }
        NodeStatus s = c.status();
        bool all_new = !s.lcores.empty();
        for (const auto& l : s.lcores) {
          bool want_new = targets_lcore(st, n.name, l.id);
          const std::string& want = want_new ? r.version : r.previous;
          if (l.version != want && want_new && !pol.health.rollback_on_node_down && l.version == r.previous) {
            // on_node_down: wait. The node restarted on its last-known-good: publish again.
            journal({{"ev", "publish"}, {"rollout", r.id}, {"node", n.name}, {"version", r.version},
                     {"lcores", std::vector<int>{l.id}}});
            ensure_held(c, r.version);
            c.publish(r.version, std::vector<int>{l.id});
            waiting = true;
            continue;
          }
          if (l.version != want && !(want.empty() && !want_new)) {
            reason = "stage " + st.name + ": node " + n.name + " lcore " + std::to_string(l.id) + " serves " +
                     short_id(l.version) + ", expected " + short_id(want);
            return false;
          }
          all_new &= l.version == r.version;
          lcores_done += l.version == r.version;
          auto cur = l.counters.find(l.version);
          if (cur == l.counters.end()) continue;
          Counters b;
          auto bn = base.find(n.name);
          if (bn != base.end() && bn->second.count(l.id) && bn->second[l.id].count(l.version))
            b = bn->second[l.id][l.version];
          Counters d = Counters::delta(cur->second, b);
          if (l.version == r.version) canary += d;
          else control += d;
        }
        nodes_done += all_new;
      } catch (const NodeError& e) {
        if (fail_or_wait(e)) return false;
        waiting = true;
        down.insert(n.name);
        verdicts.push_back("liveness: waiting for " + n.name + " (" + e.what() + ")");
      }
    }
    if (!waiting) verdicts.push_back("liveness: every node up, lcores alive");
    verdicts.push_back("convergence: " + std::to_string(lcores_done) + " lcores serve " + short_id(r.version));
    Counters ref = control;
    if (control.queries >= pol.health.min_queries && control.queries > 0) reference_ = control;
    else if (control.queries == 0) ref = reference_;
    RateVerdict rv = compare_rates(canary, ref, pol.health);
    if (!rv.failures.empty()) {
      reason = "stage " + st.name + ": " + rv.failures.front();
      return false;
    }
    verdicts.push_back("rates: " + std::string(rv.evaluated ? "ok, " : "") + rv.summary);
    size_t probe_ok = 0;
    for (const auto& t : st.targets) {
      const FleetNode* fn = opt_.fleet.find(t.node);
      // A node we wait for cannot answer; probing it would turn waiting into a rollback.
      if (!fn || fn->probe.empty() || probes.empty() || down.count(t.node)) continue;
      for (const auto& p : probes)
        for (int k = 0; k < pol.health.probe_repeats; ++k) {
          std::string bad = check_probe(p, send_probe(fn->probe, p, pol.health.probe_timeout_s));
          if (!bad.empty()) {
            reason = "stage " + st.name + ": probe " + (p.origin == "auto" ? "(unchanged name) " : p.origin + " ") +
                     "to " + t.node + ": " + bad;
            return false;
          }
          ++probe_ok;
        }
    }
    if (!probes.empty()) verdicts.push_back("probes: " + std::to_string(probe_ok) + " answers as expected");
    if (!paused && !waiting) baked += step;
    {
      std::lock_guard lk(mu_);
      active_->bake_left = std::max(0.0, st.bake_s - baked);
      active_->nodes_done = nodes_done;
      active_->lcores_done = lcores_done;
    }
    if (paused) verdicts.push_back("paused");
    set_verdicts(verdicts);
    if (baked >= st.bake_s && canary.queries >= st.min_queries && !paused && !waiting) return true;
    if (std::chrono::duration<double>(now - started).count() > st.timeout_s && !paused) {
      reason = "stage " + st.name + ": " + std::to_string(canary.queries) + " canary queries observed in " +
               std::to_string(int(st.timeout_s)) + " s, the stage needs " + std::to_string(st.min_queries);
      return false;
    }
  }
}

// ---------------------------------------------------------------------------

json Controller::rollout_json(const Rollout& r) const {
  json stages = json::array();
  for (const auto& s : r.stages) stages.push_back(stage_to_json(s));
  std::string state = r.phase == "done" ? r.outcome
                      : r.phase == "commit" ? "committing"
                      : r.phase == "rollback" ? "rolling_back"
                      : r.paused ? "paused" : "running";
  size_t lcores_total = 0;
  (void)lcores_total;
  return {{"rollout", r.id}, {"version", r.version}, {"label", r.label}, {"previous", r.previous},
          {"state", state}, {"stage", r.stage}, {"stage_name", r.stage < r.stages.size() ? r.stages[r.stage].name : ""},
          {"stages", stages}, {"nodes_total", opt_.fleet.nodes.size()}, {"nodes_done", r.nodes_done},
          {"lcores_done", r.lcores_done}, {"bake_left_s", r.bake_left}, {"verdicts", r.verdicts},
          {"reason", r.reason}, {"started", r.started}, {"finished", r.finished}};
}

json Controller::handle(const json& req) {
  std::string cmd = req.value("cmd", "");
  try {
    if (cmd == "push") return cmd_push(req);
    if (cmd == "status") return cmd_status();
    if (cmd == "rollout") return cmd_rollout(req);
    if (cmd == "pause" || cmd == "resume" || cmd == "abort") return cmd_control(cmd);
    if (cmd == "rollback") return cmd_rollback(req);
    if (cmd == "history") return cmd_history();
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
    if (active_ || manual_to_)
      return error("busy", active_ ? "rollout " + std::to_string(active_->id) + " of " + active_->version +
                                         " is in progress"
                                   : "a rollback is in progress");
  }
  std::string policy_text = req.value("policy", ""), policy_file = req.value("policy_file", "policy");
  std::string probes_text = req.value("probes", ""), probes_file = req.value("probes_file", "probes");
  Policy pol = policy_text.empty() ? default_policy() : parse_policy(policy_text, policy_file);
  if (!probes_text.empty()) parse_probes(probes_text, probes_file);  // errors before anything else
  std::optional<double> bake;
  if (req.contains("bake") && req["bake"].is_number()) bake = req["bake"].get<double>();
  GateFlags flags{req.value("force_serial", false), req.value("allow_apex_change", false)};

  std::vector<LoadedZone> zones;
  json diags = json::array();
  for (const auto& z : req.value("zones", json::array())) {
    zones.push_back(load_zone_text(z.value("text", ""), z.value("file", "zone"), z.value("origin", "")));
    for (const auto& d : zones.back().diagnostics)
      diags.push_back({{"file", d.file}, {"line", d.line}, {"severity", d.is_error() ? "error" : "warning"},
                       {"message", d.message}});
  }
  if (zones.empty()) return error("bad_request", "no zones given");
  std::string committed;
  {
    std::lock_guard lk(mu_);
    committed = committed_;
  }
  std::optional<std::vector<LoadedZone>> prev;
  if (store_.has(committed)) prev = store_.load(committed);
  std::string work = opt_.state_dir + "/tmp";
  std::filesystem::create_directories(work);
  GateReport rep = run_gates(zones, prev ? &*prev : nullptr, pol.gates, flags, work);
  auto reject = [&](const std::vector<Rejection>& rj) {
    json list = json::array();
    for (const auto& x : rj) list.push_back({{"rule", x.rule}, {"message", x.message}});
    journal({{"ev", "rejected"}, {"rejections", list}});
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
    if (vi.id == committed_) return error("no_change", vi.id + " (" + vi.label + ") is already committed");
    if (bad_.count(vi.id)) bad_reason = bad_[vi.id];
  }
  if (bad_reason) return reject({{"known-bad", vi.id + " was rolled back before: " + *bad_reason}});
  // Every node must answer before anything is sent to any of them.
  std::map<std::string, std::vector<int>> lcores;
  for (const auto& n : opt_.fleet.nodes) {
    NodeClient c(n.name, n.control);
    try {
      lcores[n.name] = c.hello().lcores;
    } catch (const NodeError& e) {
      return error("node_down", std::string("nothing sent: ") + e.what());
    }
  }
  auto stages = resolve_stages(pol, opt_.fleet, lcores, bake);
  std::vector<std::string> untouched;
  for (const auto& d : rep.diffs) untouched.insert(untouched.end(), d.untouched_names.begin(), d.untouched_names.end());
  store_.put(vi.id, vi.label, zones);
  journal({{"ev", "version"}, {"version", vi.id}, {"label", vi.label}});
  json stages_json = json::array();
  for (const auto& s : stages) stages_json.push_back(stage_to_json(s));
  uint64_t id;
  {
    std::lock_guard lk(mu_);
    id = next_rollout_;
  }
  json start = journal({{"ev", "rollout_start"}, {"rollout", id}, {"version", vi.id}, {"label", vi.label},
                        {"previous", committed}, {"stages", stages_json}, {"policy", policy_text},
                        {"policy_file", policy_file}, {"probes", probes_text}, {"probes_file", probes_file},
                        {"untouched", untouched}});
  {
    std::lock_guard lk(mu_);
    apply({{"ev", "version"}, {"version", vi.id}, {"label", vi.label}});
    apply(start);
  }
  abort_ = false;
  cv_.notify_all();
  json notes = json::array();
  for (const auto& n : rep.notes) notes.push_back(n);
  return {{"ok", true}, {"rollout", id}, {"version", vi.id}, {"label", vi.label}, {"previous", committed},
          {"stages", stages_json}, {"notes", notes}};
}

json Controller::cmd_status() {
  json out = {{"ok", true}};
  {
    std::lock_guard lk(mu_);
    out["committed"] = committed_;
    out["committed_label"] = labels_.count(committed_) ? labels_[committed_] : "";
    out["rollout"] = active_ ? rollout_json(*active_) : json();
    out["manual_rollback"] = manual_to_ ? json(*manual_to_) : json();
  }
  json nodes = json::array();
  for (const auto& n : opt_.fleet.nodes) {
    NodeClient c(n.name, n.control, std::chrono::milliseconds(2000));
    json e = {{"name", n.name}, {"wave", n.wave}, {"control", n.control}, {"probe", n.probe}};
    try {
      Hello h = c.hello();
      json s = json::object();
      for (const auto& [l, v] : h.served) s[std::to_string(l)] = v;
      e["up"] = true;
      e["committed"] = h.committed;
      e["served"] = s;
    } catch (const NodeError& err) {
      e["up"] = false;
      e["error"] = err.what();
    }
    nodes.push_back(e);
  }
  out["nodes"] = nodes;
  return out;
}

json Controller::cmd_rollout(const json& req) {
  std::lock_guard lk(mu_);
  uint64_t id = req.value("rollout", uint64_t(0));
  size_t since = req.value("since", size_t(0));
  json r;
  if (active_ && (id == 0 || id == active_->id)) r = rollout_json(*active_);
  else
    for (const auto& h : history_)
      if (id == 0 || h.value("rollout", uint64_t(0)) == id) r = h;
  if (r.is_null()) return error("unknown_rollout", id ? "no rollout " + std::to_string(id) : "no rollout yet");
  uint64_t rid = r["rollout"];
  json evs = json::array();
  size_t next = since;
  for (size_t i = since; i < events_.size(); ++i) {
    next = i + 1;
    if (events_[i].value("rollout", uint64_t(0)) == rid) evs.push_back(events_[i]);
  }
  return {{"ok", true}, {"rollout", r}, {"events", evs}, {"next", std::max(next, since)}};
}

json Controller::cmd_control(const std::string& cmd) {
  uint64_t id;
  {
    std::lock_guard lk(mu_);
    if (!active_) return error("no_rollout", "no rollout in progress");
    id = active_->id;
    if (active_->phase != "stage" && cmd != "abort")
      return error("bad_request", "rollout " + std::to_string(id) + " is " + active_->phase + "ing");
  }
  if (cmd == "abort") {
    abort_ = true;
    cv_.notify_all();
    return {{"ok", true}, {"rollout", id}, {"state", "aborting"}};
  }
  json r = journal({{"ev", cmd}, {"rollout", id}});
  std::lock_guard lk(mu_);
  apply(r);
  return {{"ok", true}, {"rollout", id}, {"state", cmd == "pause" ? "paused" : "running"}};
}

json Controller::cmd_rollback(const json& req) {
  std::string to = req.value("version", "");
  {
    std::lock_guard lk(mu_);
    if (active_) {
      abort_ = true;
      cv_.notify_all();
      return {{"ok", true}, {"rollout", active_->id}, {"state", "aborting"},
              {"to", active_->previous}};
    }
    if (manual_to_) return error("busy", "a rollback to " + *manual_to_ + " is in progress");
    if (to.empty()) {
      // The version committed before the current one.
      for (auto it = committed_log_.rbegin(); it != committed_log_.rend(); ++it)
        if (*it != committed_) {
          to = *it;
          break;
        }
      if (to.empty()) return error("bad_request", "no earlier committed version to roll back to");
    }
  }
  if (!store_.has(to)) {
    bool held_everywhere = true;
    for (const auto& n : opt_.fleet.nodes) {
      try {
        held_everywhere &= NodeClient(n.name, n.control).status().holds(to);
      } catch (const NodeError&) {
        held_everywhere = false;
      }
    }
    if (!held_everywhere) return error("unknown_version", "version " + to + " is neither stored nor held by every node");
  }
  std::string from;
  {
    std::lock_guard lk(mu_);
    from = committed_;
  }
  json r = journal({{"ev", "manual_rollback_begin"}, {"from", from}, {"to", to}});
  {
    std::lock_guard lk(mu_);
    apply(r);
  }
  cv_.notify_all();
  return {{"ok", true}, {"from", from}, {"to", to}, {"state", "rolling_back"}};
}

json Controller::cmd_history() {
  std::lock_guard lk(mu_);
  json h = json::array();
  for (const auto& x : history_) h.push_back(x);
  if (active_) h.push_back(rollout_json(*active_));
  json rejected = json::array();
  for (const auto& e : events_)
    if (e.value("ev", "") == "rejected") rejected.push_back(e);
  return {{"ok", true}, {"rollouts", h}, {"rejected", rejected}, {"committed", committed_}};
}

}  // namespace edgedns::ctl
