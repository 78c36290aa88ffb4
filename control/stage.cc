#include "control/stage.hh"

#include <algorithm>
#include <set>

namespace edgedns::ctl {

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
          if (!full(n.name) && std::find(waves.begin(), waves.end(), n.wave) == waves.end())
            waves.push_back(n.wave);
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

bool targets_lcore(const ResolvedStage& s, const std::string& node, int lcore) {
  for (const auto& t : s.targets)
    if (t.node == node)
      return t.lcores.empty() || std::count(t.lcores.begin(), t.lcores.end(), lcore);
  return false;
}

LcoreJudgement check_lcore(const ResolvedStage& s, const std::string& node, int lcore,
                           const std::string& serving, const std::string& version,
                           const std::string& previous, bool rollback_on_node_down) {
  bool want_new = targets_lcore(s, node, lcore);
  LcoreJudgement j{LcoreCheck::Ok, want_new ? version : previous};
  if (serving == j.expected) return j;
  if (want_new && !rollback_on_node_down && serving == previous) j.check = LcoreCheck::Republish;
  // Outside the targets with no previous version known (content never seen
  // by this control plane) there is nothing to hold an lcore to.
  else if (!(j.expected.empty() && !want_new)) j.check = LcoreCheck::Wrong;
  return j;
}

Counters control_reference(const Counters& control, Counters& remembered, uint64_t min_queries) {
  uint64_t enough = std::max<uint64_t>(1, min_queries);
  if (control.queries >= enough) {
    remembered = control;
    return control;
  }
  // Too few control queries to compare with (the last stage has none; a
  // load that reaches only some nodes leaves others idle): the last sample
  // that had enough stands in, rather than a comparison never made.
  if (remembered.queries >= enough) return remembered;
  return control;
}

IntervalVerdict judge_interval(const ResolvedStage& s, const std::string& version,
                               const StageEvidence& ev, double baked, double step, double elapsed) {
  IntervalVerdict v;
  v.baked = baked;
  auto fail = [&](const std::string& why) {
    v.verdict = StageVerdict::Fail;
    v.reason = "stage " + s.name + ": " + why;
    return v;
  };
  if (!ev.node_failure.empty()) return fail(ev.node_failure);
  if (!ev.rates.failures.empty()) return fail(ev.rates.failures.front());
  if (!ev.probe_failure.empty()) return fail(ev.probe_failure);

  bool waiting = !ev.down.empty() || ev.republished;
  for (const auto& [node, err] : ev.down)
    v.lines.push_back("liveness: waiting for " + node + " (" + err + ")");
  if (!waiting) v.lines.push_back("liveness: every node up, lcores alive");
  v.lines.push_back("convergence: " + std::to_string(ev.lcores_done) + " lcores serve " +
                    short_version(version));
  v.lines.push_back("rates: " + std::string(ev.rates.evaluated ? "ok, " : "") + ev.rates.summary);
  if (ev.have_probes) {
    std::string notes;
    for (const auto& n : ev.probe_notes) notes += "; " + n;
    v.lines.push_back("probes: " + std::to_string(ev.probes_ok) + " answers as expected" + notes);
  }
  if (ev.paused) v.lines.push_back("paused");

  if (!ev.paused && !waiting) v.baked += step;
  // A stage that asks for traffic (min_queries) asks for it to be judged:
  // it passes only once compared. Without, an idle fleet (or one that only
  // sees the probes) progresses on bake time, with every fallback for the
  // reference tried first (control_reference, the journaled one, the
  // previous version's counters).
  bool must_compare = ev.rates_min_queries > 0 && s.min_queries > 0;
  bool compared = ev.rates.evaluated || !must_compare;
  if (v.baked >= s.bake_s && ev.canary.queries >= s.min_queries && compared && !ev.paused &&
      !waiting) {
    v.verdict = StageVerdict::Pass;
    return v;
  }
  if (elapsed > s.timeout_s && !ev.paused) {
    std::string t = std::to_string(int(s.timeout_s)) + " s";
    if (!ev.down.empty())
      return fail("node " + ev.down.front().first + " still down after " + t + " (" +
                  ev.down.front().second + ")");
    if (ev.canary.queries < s.min_queries)
      return fail(std::to_string(ev.canary.queries) + " canary queries observed in " + t +
                  ", the stage needs " + std::to_string(s.min_queries));
    if (!compared)
      return fail("rates could not be compared in " + t + " (" + ev.rates.summary + ")");
    return fail("did not settle in " + t);
  }
  return v;
}

std::string short_version(const std::string& version) { return version.substr(0, 12); }

}  // namespace edgedns::ctl
