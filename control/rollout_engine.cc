// The engine thread of Controller: walks the active rollout through its
// stages, commits or rolls back, and brings stray nodes back to the
// committed version. Every step is journaled before it is acted on; what a
// gate interval decides comes from stage.hh's pure judge_interval(). Engine
// thread only (clients_ and reference_ are its own); st_ is read under mu_.
#include <algorithm>
#include <chrono>
#include <iostream>
#include <set>

#include "control/delta_plan.hh"
#include "control/rollout.hh"

namespace edgedns::ctl {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

void log_line(const std::string& s) { std::cerr << "edgectl serve: " << s << std::endl; }

const char* ev(Event e) { return event_name(e); }

// True unless the node has committed `v` and every lcore serves it.
bool off_version(const NodeStatus& st, const std::string& v) {
  bool off = st.committed != v;
  for (const auto& l : st.lcores) off |= l.version != v;
  return off;
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

}  // namespace

NodeClient& Controller::client(const std::string& node) {
  // After a fleet reload a node's address may have changed: connect anew.
  if (const uint64_t g = fleet_gen_.load(); g != clients_fleet_gen_) {
    clients_.clear();
    clients_fleet_gen_ = g;
  }
  auto& c = clients_[node];
  if (!c) {
    const auto fleet_now = fleet_snapshot();
    const FleetNode* fn = fleet_now->find(node);
    // A rollout journaled with a node the fleet file no longer lists: a
    // refusal (the stage fails), not a crash.
    if (!fn) {
      clients_.erase(node);
      throw NodeError(node, "?", "unknown_node", "is not in the fleet file any more");
    }
    c = std::make_unique<NodeClient>(fn->name, fn->address());
  }
  return *c;
}

bool Controller::sleep_interval(double seconds) {
  std::unique_lock lk(mu_);
  // An abort cuts a wait short, except while the rollback it asked for runs.
  cv_.wait_for(lk, std::chrono::duration<double>(seconds), [&] {
    return stopping_.load() ||
           (st_.active && st_.active->aborted && st_.active->phase != Phase::Rollback);
  });
  return !stopping_;
}

bool Controller::aborted() {
  std::lock_guard lk(mu_);
  return st_.active && st_.active->aborted;
}

void Controller::set_verdicts(std::vector<std::string> v) {
  std::lock_guard lk(mu_);
  if (!st_.active || st_.active->verdicts == v) return;
  st_.active->verdicts = v;
  events_.push_back({{"ev", ev(Event::Verdicts)},
                     {"rollout", st_.active->id},
                     {"verdicts", v},
                     {"time", now_s()}});
}

void Controller::engine() {
  while (!stopping_) {
    bool rollout = false;
    std::optional<std::string> manual;
    {
      std::unique_lock lk(mu_);
      // Idle and already reconciled: the next pass after an interval, or
      // at once when a push or rollback arrives.
      if (st_.idle() && reconciled_)
        cv_.wait_for(lk, std::chrono::duration<double>(opt_.reconcile_interval_s),
                     [&] { return stopping_ || !st_.idle(); });
      if (stopping_) break;
      rollout = st_.active.has_value();
      if (!rollout) manual = st_.manual_to;
    }
    try {
      if (rollout) {
        run_rollout();
      } else if (manual) {
        std::vector<std::string> pending;
        rollback_all(*manual, pending);
        if (stopping_) break;
        journal_apply(
            {{"ev", ev(Event::ManualRollbackDone)}, {"to", *manual}, {"pending", pending}});
        if (pending.empty()) log_line("rolled back to " + *manual + " on every node");
        else log_line("rolled back to " + *manual + "; pending: " + join(pending));
      } else {
        reconcile();
      }
    } catch (const std::exception& e) {
      engine_failure(e.what());
    }
  }
}

void Controller::engine_failure(const std::string& what) {
  log_line("engine: " + what);
  std::optional<uint64_t> id;
  {
    std::lock_guard lk(mu_);
    if (st_.active && st_.active->phase != Phase::Rollback) id = st_.active->id;
  }
  if (id) {
    // A step that cannot be carried out is a failed rollout, never a
    // crash: the rollback is journaled like any other and acted on next.
    try {
      journal_apply_if(
          [&](const FleetState& s) {
            return s.active && s.active->id == *id && s.active->phase != Phase::Rollback;
          },
          {{"ev", ev(Event::RollbackBegin)},
           {"rollout", *id},
           {"reason", "engine error: " + what}});
      return;
    } catch (const std::exception& e) {
      // The journal itself refuses (disk full, poisoned): nothing can be
      // decided until it works again; the nodes keep what they serve.
      log_line(std::string("engine: cannot journal the rollback: ") + e.what());
    }
  }
  sleep_interval(1.0);  // a rollback or a reconcile pass failed: retried after a pause
}

void Controller::note_sync(const std::string& node, bool ok, const std::string& why) {
  std::lock_guard lk(mu_);
  std::string& cur = drift_[node];
  std::string next = ok ? std::string() : why;
  if (cur != next) {
    if (next.empty()) log_line("node " + node + " is on the committed version");
    else log_line("node " + node + " is not on the committed version: " + next);
  }
  cur = next;
}

void Controller::reconcile() {
  std::string target;
  {
    std::lock_guard lk(mu_);
    target = st_.committed;
  }
  if (target.empty()) {
    std::map<std::string, std::string> committed;
    const auto fleet_now = fleet_snapshot();
    for (const auto& n : fleet_now->nodes) {
      try {
        committed[n.name] = client(n.name).hello().committed;
      } catch (const NodeError&) {
      }
    }
    learn_baseline(committed);
    std::lock_guard lk(mu_);
    target = st_.committed;
  }
  auto now = Clock::now();
  const auto fleet_now = fleet_snapshot();
  for (const auto& n : fleet_now->nodes) {
    if (stopping_) return;
    {
      std::lock_guard lk(mu_);
      if (!st_.idle()) return;  // a push or rollback arrived: it decides what nodes serve
    }
    if (target.empty()) {
      note_sync(n.name, false, "the fleet has no single committed version yet");
      continue;
    }
    auto& bo = backoff_[n.name];
    if (now < bo.next) continue;
    try {
      NodeClient& c = client(n.name);
      NodeStatus s = c.status();
      bool unverified;
      {
        std::lock_guard lk(mu_);
        unverified = drift_[n.name].rfind(kUnverified, 0) == 0;
      }
      if (!off_version(s, target) && !unverified) {
        note_sync(n.name, true, "");
        bo = {};
        continue;
      }
      if (off_version(s, target)) {
        note_sync(n.name, false, "off the committed version: repairing");
        journal({{"ev", ev(Event::Converge)}, {"node", n.name}, {"version", target}});
        ensure_held(c, target);
        c.publish(target);
        c.commit(target);
      }
      // A node brought over (an empty machine joining, one back on an old
      // disk) is in service once its answers are those of the version, not
      // when its agent says it serves it.
      std::string bad = verify_answers(n, target);
      if (!bad.empty()) {
        note_sync(n.name, false, kUnverified + bad);
        continue;
      }
      note_sync(n.name, true, "");
      bo = {};
    } catch (const std::exception& e) {
      note_sync(n.name, false, e.what());
      // A node that cannot be reached is tried again at the next interval
      // (a connect costs nothing and journals nothing): it is repaired as
      // soon as it is back. One that keeps refusing is retried less and
      // less often (at most every 30 s), so the journal does not fill with
      // its attempts.
      const auto* ne = dynamic_cast<const NodeError*>(&e);
      if (ne && ne->is_down()) {
        bo = {};
        continue;
      }
      bo.delay_s = std::min(30.0, bo.delay_s > 0 ? bo.delay_s * 2 : opt_.reconcile_interval_s);
      bo.next = now + std::chrono::duration_cast<Clock::duration>(
                          std::chrono::duration<double>(bo.delay_s));
    }
  }
  std::lock_guard lk(mu_);
  if (st_.idle()) reconciled_ = true;
}

std::shared_ptr<const std::optional<std::vector<DeltaChange>>> Controller::plan(
    const std::string& base, const std::string& target) {
  const std::pair<std::string, std::string> key(base, target);
  {
    std::lock_guard lk(plans_mu_);
    if (auto it = plans_.find(key); it != plans_.end()) return it->second;
  }
  // Worked out once per rollout, not once per node and stage (~1 s for a
  // 1M-record zone).
  auto p = std::make_shared<const std::optional<std::vector<DeltaChange>>>(
      plan_delta(*store_.uploads(base), *store_.uploads(target)));
  std::lock_guard lk(plans_mu_);
  if (plans_.size() >= 16) plans_.clear();
  plans_.emplace(key, p);
  return p;
}

void Controller::ensure_held(NodeClient& c, const std::string& version, bool allow_delta) {
  NodeStatus st = c.status();
  if (st.holds(version)) return;
  if (!store_.has(version))
    throw NodeError(c.name(), c.socket(), "unknown_version",
                    "does not hold " + version + " and the control plane has no copy of it");
  auto check = [&](const UploadResult& u, const char* how) {
    if (u.version != version)
      throw NodeError(c.name(), c.socket(), "protocol",
                      std::string("computed version ") + u.version + " for the zones of " +
                          version + " (" + how + "; version hash mismatch)");
  };
  const uint64_t before = c.bytes_sent();
  const auto target = store_.uploads(version);
  // A node holding its committed version (or any the store has) gets only
  // the records that differ; the full zone set when no delta fits.
  std::vector<std::string> bases;
  if (allow_delta && !st.committed.empty()) bases.push_back(st.committed);
  for (const auto& v : st.versions)
    if (allow_delta && v.version != st.committed) bases.push_back(v.version);
  for (const auto& base : bases) {
    if (!store_.has(base)) continue;
    auto changes = plan(base, version);
    if (!*changes) break;  // the closest base does not fit: the others would not either
    try {
      check(c.delta(base, **changes), "delta");
      log_line("node " + c.name() + ": delta from " + short_version(base) + " to " +
               short_version(version) + ": " + std::to_string((*changes)->size()) + " change(s), " +
               std::to_string(c.bytes_sent() - before) + " bytes sent");
      return;
    } catch (const NodeError& e) {
      if (e.is_down()) throw;
      // The node refused it (it dropped the base meanwhile, say): the full
      // zone set still gets there.
      log_line("node " + c.name() + ": delta from " + short_version(base) + " refused (" +
               e.what() + "); sending the full zone set");
      break;
    }
  }
  check(c.upload(*target), "upload");
  log_line("node " + c.name() + ": full upload of " + short_version(version) + ": " +
           std::to_string(c.bytes_sent() - before) + " bytes sent");
}

void Controller::run_rollout() {
  Phase phase;
  size_t stage, nstages;
  uint64_t id;
  {
    std::lock_guard lk(mu_);
    phase = st_.active->phase;
    stage = st_.active->stage;
    nstages = st_.active->stages.size();
    id = st_.active->id;
    // The reference a stage without control lcores needs survives restarts.
    reference_ = Counters::from_json(st_.active->reference);
  }
  std::string reason;
  if (phase == Phase::Stage) {
    bool ok = true;
    for (size_t i = stage; i < nstages && ok; ++i) {
      ok = run_stage(i, reason);
      if (stopping_) return;  // a restart resumes from the journal
      if (ok) {
        json rec = {{"ev", ev(Event::StagePassed)}, {"rollout", id}, {"stage", i}};
        if (reference_.queries > 0) rec["reference"] = reference_.to_json();
        journal_apply(rec);
      }
    }
    if (ok && aborted()) {
      ok = false;
      reason = "aborted by the operator";
    }
    if (ok) {
      journal_apply({{"ev", ev(Event::CommitBegin)}, {"rollout", id}});
      phase = Phase::Commit;
    } else {
      journal_apply({{"ev", ev(Event::RollbackBegin)}, {"rollout", id}, {"reason", reason}});
      phase = Phase::Rollback;
    }
  }
  if (phase == Phase::Commit) {
    if (commit_all(reason)) {
      std::string v;
      {
        std::lock_guard lk(mu_);
        v = st_.active->version;
      }
      // An abort accepted while the last commits were in flight wins: the
      // check and the record are one step under the journal lock, so either
      // the abort finds the rollout ended or the rollout does not end
      // committed.
      auto done = journal_apply_if(
          [&](const FleetState& s) { return s.active && s.active->id == id && !s.active->aborted; },
          {{"ev", ev(Event::Committed)}, {"rollout", id}, {"version", v}});
      if (done) {
        log_line("rollout " + std::to_string(id) + ": " + v + " committed on every node");
        return;
      }
      reason = "aborted by the operator during the commit phase";
    }
    if (stopping_) return;
    journal_apply({{"ev", ev(Event::RollbackBegin)}, {"rollout", id}, {"reason", reason}});
    phase = Phase::Rollback;
  }
  if (phase == Phase::Rollback) finish_rollback();
}

void Controller::finish_rollback() {
  std::string prev, v, reason;
  uint64_t id;
  {
    std::lock_guard lk(mu_);
    prev = st_.active->previous;
    v = st_.active->version;
    id = st_.active->id;
    reason = st_.active->reason;
  }
  std::vector<std::string> pending;
  rollback_all(prev, pending);
  if (stopping_) return;
  journal_apply({{"ev", ev(Event::Bad)}, {"version", v}, {"reason", reason}});
  try {
    store_.set_meta(v, "bad", reason);
  } catch (const std::exception& e) {
    log_line(e.what());
  }
  journal_apply({{"ev", ev(Event::RolledBack)},
                 {"rollout", id},
                 {"version", v},
                 {"to", prev},
                 {"reason", reason},
                 {"pending", pending}});
  log_line("rollout " + std::to_string(id) + ": rolled back to " +
           (prev.empty() ? std::string("(no version known)") : prev) + ": " + reason +
           (pending.empty() ? "" : "; pending: " + join(pending)));
}

void Controller::rollback_all(const std::string& to, std::vector<std::string>& pending) {
  const auto fleet_now = fleet_snapshot();
  for (const auto& n : fleet_now->nodes) {
    try {
      if (to.empty())
        throw NodeError(n.name, n.control, "unknown_version",
                        "no earlier version is known to roll it back to");
      NodeClient& c = client(n.name);
      if (!off_version(c.status(), to)) continue;
      ensure_held(c, to);
      c.publish(to);
      c.commit(to);  // its last-known-good is `to` again, not the version rolled away from
    } catch (const std::exception& e) {
      // The reconciler keeps trying once the rollback is recorded; status
      // and the rollback's result name the node until then.
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
    v = st_.active->version;
    pol = st_.active->policy();
  }
  std::set<std::string> left;
  const auto fleet_now = fleet_snapshot();
  for (const auto& n : fleet_now->nodes) left.insert(n.name);
  while (!left.empty()) {
    for (auto it = left.begin(); it != left.end();) {
      // Checked before every node: an abort stops the commit where it is
      // and the rollback brings the committed nodes back.
      if (aborted()) {
        reason = "aborted by the operator during the commit phase";
        return false;
      }
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

// ---------------------------------------------------------------------------
// One stage: publish to its targets, gather its probes, then bake.

bool Controller::run_stage(size_t i, std::string& reason) {
  Rollout r;
  {
    std::lock_guard lk(mu_);
    r = *st_.active;
  }
  const ResolvedStage& st = r.stages[i];
  Policy pol = r.policy();
  journal_apply(
      {{"ev", ev(Event::StageBegin)}, {"rollout", r.id}, {"stage", i}, {"name", st.name}});
  if (!publish_stage(r, st, pol, reason)) return false;
  std::vector<Probe> probes;
  if (!stage_probes(r, pol, probes, reason)) return false;
  return bake_stage(r, st, pol, probes, reason);
}

bool Controller::publish_stage(const Rollout& r, const ResolvedStage& st, const Policy& pol,
                               std::string& reason) {
  // Upload and publish, each step journaled first. Publishing is idempotent,
  // so a resumed stage simply repeats it. Under on_node_down: wait, a target
  // that is down is left to the bake: its gates keep judging the targets
  // that serve the new version, it is published again when it is back
  // (observe_nodes), and the stage's timeout bounds the wait.
  for (const auto& t : st.targets) {
    if (aborted()) {
      reason = "aborted by the operator";
      return false;
    }
    try {
      NodeClient& c = client(t.node);
      if (!c.status().holds(r.version)) {
        journal({{"ev", ev(Event::Upload)}, {"rollout", r.id}, {"node", t.node}});
        ensure_held(c, r.version, !r.full_upload);
      }
      json rec = {
          {"ev", ev(Event::Publish)}, {"rollout", r.id}, {"node", t.node}, {"version", r.version}};
      if (!t.lcores.empty()) rec["lcores"] = t.lcores;
      journal(rec);
      c.publish(r.version,
                t.lcores.empty() ? std::nullopt : std::optional<std::vector<int>>(t.lcores));
    } catch (const NodeError& e) {
      if (!e.is_down() || pol.health.rollback_on_node_down) {
        reason = "stage " + st.name + ": " + e.what();
        return false;
      }
      set_verdicts({"waiting for node " + t.node + ": " + e.what()});
    }
  }
  return true;
}

bool Controller::stage_probes(const Rollout& r, const Policy& pol, std::vector<Probe>& probes,
                              std::string& reason) {
  // The operator's probes, plus untouched names that must answer as before:
  // the same for every stage of a rollout, so worked out once (the previous
  // version is compiled for them: ~1 s for a 1M-record set).
  {
    std::lock_guard lk(probes_mu_);
    if (probes_memo_ && probes_memo_->first == r.id) {
      probes = probes_memo_->second;
      return true;
    }
  }
  try {
    if (!r.probes_text.empty()) probes = parse_probes(r.probes_text, r.probes_file);
    if ((pol.health.auto_probes || !probes.empty()) && store_.has(r.previous)) {
      auto prev = store_.load(r.previous);
      // Control lcores still serve the previous version: what they must answer.
      expect_previous(probes, *prev);
      auto ap = auto_probes(*prev, r.untouched, pol.health.auto_probes);
      probes.insert(probes.end(), ap.begin(), ap.end());
    }
  } catch (const std::exception& e) {
    reason = std::string("probes: ") + e.what();
    return false;
  }
  std::lock_guard lk(probes_mu_);
  probes_memo_.emplace(r.id, probes);
  return true;
}

Controller::CounterBase Controller::counter_base() {
  // Rates are judged on what happened during this stage, from these counters on.
  CounterBase base;
  const auto fleet_now = fleet_snapshot();
  for (const auto& n : fleet_now->nodes) {
    try {
      for (const auto& l : client(n.name).status().lcores) base[n.name][l.id] = l.counters;
    } catch (const NodeError&) {
    }
  }
  return base;
}

bool Controller::bake_stage(const Rollout& r, const ResolvedStage& st, const Policy& pol,
                            const std::vector<Probe>& probes, std::string& reason) {
  CounterBase base = counter_base();
  // A stage without control lcores (the last) is judged against the control
  // side of earlier stages; when they saw too little (or a restart came
  // first and nothing was journaled), against what the previous version has
  // served on this fleet so far. Never against nothing: see judge_interval.
  if (reference_.queries < std::max<uint64_t>(1, pol.health.min_queries)) {
    Counters prev;
    for (const auto& [node, lcores] : base)
      for (const auto& [l, versions] : lcores)
        if (auto it = versions.find(r.previous); it != versions.end()) prev += it->second;
    if (prev.queries > reference_.queries) reference_ = prev;
  }
  double baked = 0;
  auto last = Clock::now();
  auto started = Clock::now();
  for (;;) {
    if (!sleep_interval(std::min(pol.health.interval_s, std::max(0.05, st.bake_s - baked))))
      return false;
    if (aborted()) {
      reason = "aborted by the operator";
      return false;
    }
    auto now = Clock::now();
    double step = std::chrono::duration<double>(now - last).count();
    last = now;
    bool paused;
    {
      std::lock_guard lk(mu_);
      paused = st_.active->paused;
    }
    StageEvidence evidence = observe_nodes(r, st, pol, base);
    evidence.paused = paused;
    if (evidence.node_failure.empty()) {
      Counters ref = control_reference(evidence.control, reference_, pol.health.min_queries);
      evidence.rates = compare_rates(evidence.canary, ref, pol.health);
      // A stage that already failed sends no more traffic.
      if (evidence.rates.failures.empty()) probe_targets(r, st, pol, probes, evidence);
    }
    evidence.have_probes = !probes.empty();
    evidence.rates_min_queries = pol.health.min_queries;
    IntervalVerdict v = judge_interval(st, r.version, evidence, baked, step,
                                       std::chrono::duration<double>(now - started).count());
    if (!v.lines.empty()) {
      baked = v.baked;
      {
        std::lock_guard lk(mu_);
        st_.active->bake_left = std::max(0.0, st.bake_s - baked);
        st_.active->nodes_done = evidence.nodes_done;
        st_.active->lcores_done = evidence.lcores_done;
      }
      set_verdicts(v.lines);
    }
    if (v.verdict == StageVerdict::Pass) return true;
    if (v.verdict == StageVerdict::Fail) {
      reason = v.reason;
      return false;
    }
  }
}

StageEvidence Controller::observe_nodes(const Rollout& r, const ResolvedStage& st,
                                        const Policy& pol, const CounterBase& base) {
  StageEvidence ev;
  const auto fleet_now = fleet_snapshot();
  for (const auto& n : fleet_now->nodes) {
    try {
      NodeClient& c = client(n.name);
      if (!c.health().lcores_alive) {
        ev.node_failure = "node " + n.name + ": not every lcore is alive";
        return ev;
      }
      NodeStatus s = c.status();
      bool all_new = !s.lcores.empty();
      for (const auto& l : s.lcores) {
        LcoreJudgement j = check_lcore(st, n.name, l.id, l.version, r.version, r.previous,
                                       pol.health.rollback_on_node_down);
        if (j.check == LcoreCheck::Republish) {
          journal({{"ev", event_name(Event::Publish)},
                   {"rollout", r.id},
                   {"node", n.name},
                   {"version", r.version},
                   {"lcores", std::vector<int>{l.id}}});
          ensure_held(c, r.version, !r.full_upload);
          c.publish(r.version, std::vector<int>{l.id});
          ev.republished = true;
          continue;
        }
        if (j.check == LcoreCheck::Wrong) {
          ev.node_failure = "node " + n.name + " lcore " + std::to_string(l.id) + " serves " +
                            short_version(l.version) + ", expected " + short_version(j.expected);
          return ev;
        }
        all_new &= l.version == r.version;
        ev.lcores_done += l.version == r.version;
        auto cur = l.counters.find(l.version);
        if (cur == l.counters.end()) continue;
        Counters b;
        if (auto bn = base.find(n.name); bn != base.end())
          if (auto bl = bn->second.find(l.id); bl != bn->second.end())
            if (auto bv = bl->second.find(l.version); bv != bl->second.end()) b = bv->second;
        Counters d = Counters::delta(cur->second, b);
        if (l.version == r.version) ev.canary += d;
        else ev.control += d;
      }
      ev.nodes_done += all_new;
    } catch (const NodeError& e) {
      if (!e.is_down() || pol.health.rollback_on_node_down) {
        ev.node_failure = e.what();
        return ev;
      }
      ev.down.emplace_back(n.name, e.what());
    }
  }
  return ev;
}

void Controller::probe_targets(const Rollout& r, const ResolvedStage& st, const Policy& pol,
                               const std::vector<Probe>& probes, StageEvidence& ev) {
  for (const auto& t : st.targets) {
    const auto fleet_now = fleet_snapshot();
    const FleetNode* fn = fleet_now->find(t.node);
    bool down = std::any_of(ev.down.begin(), ev.down.end(),
                            [&](const auto& d) { return d.first == t.node; });
    // A node we wait for cannot answer; probing it would turn waiting into a rollback.
    if (!fn || fn->probe.empty() || probes.empty() || down) continue;
    ProbeScope scope{t.node, r.version, r.previous, t.lcores, pol.health.probe_repeats};
    std::string failure = probe_node(*fn, scope, pol, probes, ev);
    if (failure.empty()) continue;
    // A node that died after observe_nodes saw it up is waited for like any
    // node that is down (on_node_down: wait), not judged by its silence.
    if (!pol.health.rollback_on_node_down && node_went_down(t.node, ev)) continue;
    ev.probe_failure = failure;
    return;
  }
}

std::string Controller::probe_node(const FleetNode& fn, const ProbeScope& scope, const Policy& pol,
                                   const std::vector<Probe>& probes, StageEvidence& ev) {
  ProbeTally tally;
  for (const auto& p : probes) {
    ProbeRun run =
        run_probe(p, scope, [&] { return send_probe(fn.probe, p, pol.health.probe_timeout_s); });
    ev.probes_ok += run.ok;
    tally.add(run);
    if (!run.failure.empty()) return run.failure;
  }
  ev.probe_notes.push_back(tally.note(scope));
  return "";
}

std::string Controller::verify_answers(const FleetNode& fn, const std::string& version) {
  if (fn.probe.empty() || !store_.has(version)) return "";  // nothing to ask: as before probes
  auto zones = store_.load(version);
  // The apex of a few zones, spread over the set (a hosting set of 100,000
  // is sampled, not walked), each answered as the version answers offline.
  constexpr size_t kZones = 4;
  std::vector<std::string> apexes;
  const size_t step = std::max<size_t>(1, zones->size() / kZones);
  for (size_t i = 0; i < zones->size() && apexes.size() < kZones; i += step)
    apexes.push_back((*zones)[i].apex());
  std::vector<Probe> probes = auto_probes(*zones, apexes, apexes.size());
  if (probes.empty()) return "";
  Policy pol = default_policy();
  ProbeScope scope{fn.name, version, version, {}, 1};
  StageEvidence ev;
  std::string failure = probe_node(fn, scope, pol, probes, ev);
  if (failure.empty())
    log_line("node " + fn.name + ": " + std::to_string(ev.probes_ok) + " probe answer(s) of " +
             short_version(version) + " as expected");
  return failure;
}

bool Controller::node_went_down(const std::string& node, StageEvidence& ev) {
  try {
    client(node).health();
    return false;
  } catch (const NodeError& e) {
    if (!e.is_down()) return false;
    ev.down.emplace_back(node, e.what());
    return true;
  }
}

}  // namespace edgedns::ctl
