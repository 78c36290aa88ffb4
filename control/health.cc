#include "control/health.hh"

#include <algorithm>
#include <cstdio>

namespace edgedns::ctl {

namespace {
std::string pct(double f) {
  char b[32];
  std::snprintf(b, sizeof b, "%.2f%%", f * 100.0);
  return b;
}
uint64_t field(const Counters& c, const std::string& name) {
  if (name == "servfail") return c.servfail;
  if (name == "refused") return c.refused;
  if (name == "nxdomain") return c.nxdomain;
  if (name == "formerr") return c.formerr;
  if (name == "dropped") return c.dropped;
  if (name == "malformed") return c.malformed;
  return 0;
}
}  // namespace

RateVerdict compare_rates(const Counters& canary, const Counters& control, const HealthPolicy& h) {
  RateVerdict v;
  v.summary = "canary " + std::to_string(canary.queries) + " q, control " +
              std::to_string(control.queries) + " q";
  if (canary.queries < h.min_queries || control.queries < h.min_queries || canary.queries == 0 ||
      control.queries == 0) {
    v.summary += " (rates not compared below " + std::to_string(h.min_queries) + " q each)";
    return v;
  }
  v.evaluated = true;
  for (const auto& [name, lim] : h.rates) {
    double cr = double(field(canary, name)) / double(canary.queries);
    double kr = double(field(control, name)) / double(control.queries);
    double allowed = std::max(lim.abs, lim.rel * kr);
    if (cr > kr + allowed)
      v.failures.push_back(name + " rate " + pct(cr) + " on canary vs " + pct(kr) +
                           " on control (limit +" + pct(allowed) + ", " +
                           std::to_string(canary.queries) + " vs " +
                           std::to_string(control.queries) + " queries)");
  }
  return v;
}

}  // namespace edgedns::ctl
