// Where the time of a push goes in the control plane, step by step, for a
// zone of N records with K changed (the shape of bench/delta_rollout.sh):
// what edgectl and edgectl serve do before the first byte reaches a node.
// Usage: push_path_bench [N (1000000)] [K (100)]. A timing main.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "control/delta_plan.hh"
#include "control/gates.hh"
#include "control/version_id.hh"
#include "control/zone_input.hh"

using namespace edgedns::ctl;

namespace {

std::string bench_zone(size_t n, size_t k, unsigned serial, unsigned off) {
  std::string s = "$ORIGIN bench.test.\n$TTL 3600\n@ IN SOA ns1 hostmaster " +
                  std::to_string(serial) +
                  " 7200 3600 1209600 300\n@ IN NS ns1\nns1 IN A 192.0.2.53\n";
  char buf[96];
  for (size_t i = 0; i < n; ++i) {
    size_t v = i < k ? i + off : i;
    std::snprintf(buf, sizeof buf, "h%zu IN A 198.%zu.%zu.%zu\n", i, 18 + (v >> 16 & 1),
                  v >> 8 & 255, v & 255);
    s += buf;
  }
  return s;
}

double since(std::chrono::steady_clock::time_point& t) {
  auto now = std::chrono::steady_clock::now();
  double s = std::chrono::duration<double>(now - t).count();
  t = now;
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  size_t n = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 1000000;
  size_t k = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 100;
  std::string a = bench_zone(n, k, 1, 0), b = bench_zone(n, k, 2, 1000);
  auto t = std::chrono::steady_clock::now();
  LoadedZone za = load_zone_text(a, "a.zone");
  std::printf("load_zone_text      %8.3f s\n", since(t));
  LoadedZone zb = load_zone_text(b, "b.zone");
  std::printf("load_zone_text      %8.3f s\n", since(t));
  std::string ca = canonical_text(za.data), cb = canonical_text(zb.data);
  std::printf("canonical_text x2   %8.3f s\n", since(t));
  LoadedZone zc = load_zone_text(cb, "c.zone", "bench.test.");
  std::printf("load canonical      %8.3f s\n", since(t));
  auto checks = gate_checks({zb});
  std::printf("gate_checks         %8.3f s (%zu)\n", since(t), checks.size());
  ZoneDiff d = diff_zone(&za.data, &zb.data);
  std::printf("diff_zone           %8.3f s (%zu changed)\n", since(t), d.rrsets_changed());
  VersionInfo vi = compute_version({zb});
  std::printf("compute_version     %8.3f s\n", since(t));
  auto plan = plan_delta({{"bench.test.", "a", ca}}, {{"bench.test.", "b", cb}});
  std::printf("plan_delta          %8.3f s (%zu changes)\n", since(t), plan ? plan->size() : 0);
  std::printf("%s\n", vi.id.c_str());
}
