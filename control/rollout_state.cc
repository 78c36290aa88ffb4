#include "control/rollout_state.hh"

#include <algorithm>
#include <ctime>
#include <iterator>

namespace edgedns::ctl {

using nlohmann::json;

namespace {

struct EventName {
  Event ev;
  const char* name;
};
// The journal's spelling: changing one breaks replay of existing journals.
constexpr EventName kEvents[] = {
    {Event::Baseline, "baseline"},
    {Event::Version, "version"},
    {Event::Rejected, "rejected"},
    {Event::RolloutStart, "rollout_start"},
    {Event::StageBegin, "stage_begin"},
    {Event::Upload, "upload"},
    {Event::Publish, "publish"},
    {Event::Converge, "converge"},
    {Event::StagePassed, "stage_passed"},
    {Event::Pause, "pause"},
    {Event::Resume, "resume"},
    {Event::CommitBegin, "commit_begin"},
    {Event::RollbackBegin, "rollback_begin"},
    {Event::Committed, "committed"},
    {Event::RolledBack, "rolled_back"},
    {Event::Bad, "bad"},
    {Event::ManualRollbackBegin, "manual_rollback_begin"},
    {Event::ManualRollbackDone, "manual_rollback_done"},
    {Event::Abort, "abort"},
    {Event::Verdicts, "verdicts"},
};

Rollout start_rollout(const json& rec, uint64_t rid) {
  Rollout r;
  r.id = rid;
  r.version = rec.value("version", "");
  r.label = rec.value("label", "");
  r.previous = rec.value("previous", "");
  r.by = rec.value("by", "");
  r.full_upload = rec.value("full_upload", false);
  r.policy_text = rec.value("policy", "");
  r.policy_file = rec.value("policy_file", "");
  r.probes_text = rec.value("probes", "");
  r.probes_file = rec.value("probes_file", "");
  r.untouched = rec.value("untouched", std::vector<std::string>{});
  for (const auto& s : rec.value("stages", json::array())) r.stages.push_back(stage_from_json(s));
  if (!r.stages.empty()) r.bake_left = r.stages.front().bake_s;
  r.started = rec.value("time", 0.0);
  return r;
}

void set_committed(FleetState& s, std::string v) {
  s.committed = std::move(v);
  s.committed_log.push_back(s.committed);
}

void finish_rollout(FleetState& s, const json& rec, Outcome how) {
  Rollout& a = *s.active;
  a.phase = Phase::Done;
  a.outcome = how;
  a.finished = rec.value("time", 0.0);
  if (how == Outcome::Committed) set_committed(s, a.version);
  else a.reason = rec.value("reason", a.reason);
  s.history.push_back(std::move(a));
  s.active.reset();
}

}  // namespace

const char* event_name(Event e) {
  for (const auto& x : kEvents)
    if (x.ev == e) return x.name;
  return "unknown";
}

Event event_from_name(std::string_view name) {
  for (const auto& x : kEvents)
    if (name == x.name) return x.ev;
  return Event::Unknown;
}

Event event_of(const json& rec) {
  auto it = rec.find("ev");
  if (it == rec.end() || !it->is_string()) return Event::Unknown;
  return event_from_name(it->get<std::string>());
}

json stage_to_json(const ResolvedStage& s) {
  json t = json::array();
  for (const auto& x : s.targets) {
    json e = {{"node", x.node}};
    if (!x.lcores.empty()) e["lcores"] = x.lcores;
    t.push_back(e);
  }
  return {{"name", s.name},           {"scope", scope_name(s.scope)},
          {"bake_s", s.bake_s},       {"min_queries", s.min_queries},
          {"timeout_s", s.timeout_s}, {"targets", t}};
}

ResolvedStage stage_from_json(const json& j) {
  ResolvedStage s;
  s.name = j.value("name", "");
  std::string sc = j.value("scope", "all");
  s.scope = sc == "lcore"  ? Scope::Lcore
            : sc == "node" ? Scope::Node
            : sc == "wave" ? Scope::Wave
                           : Scope::All;
  s.bake_s = j.value("bake_s", 0.0);
  s.min_queries = j.value("min_queries", uint64_t(0));
  s.timeout_s = j.value("timeout_s", 0.0);
  for (const auto& t : j.value("targets", json::array()))
    s.targets.push_back({t.value("node", ""), t.value("lcores", std::vector<int>{})});
  return s;
}

const char* phase_name(Phase p) {
  switch (p) {
    case Phase::Stage: return "stage";
    case Phase::Commit: return "commit";
    case Phase::Rollback: return "rollback";
    case Phase::Done: return "done";
  }
  return "stage";
}

Policy Rollout::policy() const {
  return policy_text.empty() ? default_policy() : parse_policy(policy_text, policy_file);
}

std::string state_name(const Rollout& r) {
  switch (r.phase) {
    case Phase::Done:
      return r.outcome == Outcome::Committed    ? "committed"
             : r.outcome == Outcome::RolledBack ? "rolled_back"
                                                : "";
    case Phase::Commit: return "committing";
    case Phase::Rollback: return "rolling_back";
    case Phase::Stage: break;
  }
  return r.paused ? "paused" : "running";
}

std::string rfc3339(double t) {
  if (t <= 0) return "";
  time_t secs = time_t(t);
  tm u{};
  gmtime_r(&secs, &u);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &u);
  return buf;
}

json rollout_json(const Rollout& r, size_t nodes_total) {
  json stages = json::array();
  for (const auto& s : r.stages) stages.push_back(stage_to_json(s));
  return {{"rollout", r.id},
          {"version", r.version},
          {"label", r.label},
          {"previous", r.previous},
          {"state", state_name(r)},
          {"stage", r.stage},
          {"stage_name", r.stage < r.stages.size() ? r.stages[r.stage].name : ""},
          {"stages", stages},
          {"nodes_total", nodes_total},
          {"nodes_done", r.nodes_done},
          {"lcores_done", r.lcores_done},
          {"bake_left_s", r.bake_left},
          {"verdicts", r.verdicts},
          {"reason", r.reason},
          {"aborted", r.aborted},
          {"by", r.by},
          {"started", r.started},
          {"started_at", rfc3339(r.started)},
          {"finished", r.finished},
          {"finished_at", rfc3339(r.finished)}};
}

void apply_record(FleetState& s, const json& rec) {
  Event ev = event_of(rec);
  uint64_t rid = rec.value("rollout", uint64_t(0));
  // Rollout steps count only for the rollout they name.
  bool mine = s.active && s.active->id == rid;
  switch (ev) {
    case Event::Baseline: set_committed(s, rec.value("version", "")); break;
    case Event::Version: s.labels[rec.value("version", "")] = rec.value("label", ""); break;
    case Event::RolloutStart:
      s.active = start_rollout(rec, rid);
      s.next_rollout = std::max(s.next_rollout, rid + 1);
      break;
    case Event::StageBegin:
      if (!mine) break;
      s.active->stage = rec.value("stage", size_t(0));
      s.active->phase = Phase::Stage;
      // Progress shows the whole bake until the first gate interval counts it down.
      s.active->bake_left =
          s.active->stage < s.active->stages.size() ? s.active->stages[s.active->stage].bake_s : 0;
      break;
    case Event::StagePassed:
      if (!mine) break;
      s.active->stage = rec.value("stage", size_t(0)) + 1;
      if (auto ref = rec.find("reference"); ref != rec.end() && ref->is_object())
        s.active->reference = *ref;
      break;
    case Event::Abort:
      if (!mine) break;
      s.active->aborted = true;
      s.active->paused = false;
      if (s.active->reason.empty()) s.active->reason = rec.value("reason", "");
      break;
    case Event::Pause:
      if (mine) s.active->paused = true;
      break;
    case Event::Resume:
      if (mine) s.active->paused = false;
      break;
    case Event::CommitBegin:
      if (mine) s.active->phase = Phase::Commit;
      break;
    case Event::RollbackBegin:
      if (!mine) break;
      s.active->phase = Phase::Rollback;
      s.active->reason = rec.value("reason", "");
      break;
    case Event::Committed:
      if (mine) finish_rollout(s, rec, Outcome::Committed);
      break;
    case Event::RolledBack:
      if (mine) finish_rollout(s, rec, Outcome::RolledBack);
      break;
    case Event::Bad: s.bad[rec.value("version", "")] = rec.value("reason", ""); break;
    case Event::ManualRollbackBegin: s.manual_to = rec.value("to", ""); break;
    case Event::ManualRollbackDone:
      s.manual_to.reset();
      set_committed(s, rec.value("to", ""));
      break;
    case Event::Rejected:
    case Event::Upload:
    case Event::Publish:
    case Event::Converge:
    case Event::Verdicts:
    case Event::Unknown: break;
  }
}

bool interrupt_on_restart(FleetState& s) {
  if (!s.active) return false;
  Rollout& a = *s.active;
  if (a.phase == Phase::Rollback || a.phase == Phase::Done) return false;
  std::string why;
  if (a.aborted) {
    why = a.reason.empty() ? "aborted by the operator" : a.reason;
  } else if (a.phase == Phase::Stage) {
    try {
      if (a.policy().resume_on_restart) return false;
      why = "control plane restarted mid-rollout (on_restart: rollback)";
    } catch (const std::exception& e) {
      why = std::string("control plane restarted mid-rollout and its policy no longer loads: ") +
            e.what();
    }
  } else {
    return false;  // a commit phase that was not aborted finishes committing
  }
  a.phase = Phase::Rollback;
  a.reason = why;
  return true;
}

}  // namespace edgedns::ctl
