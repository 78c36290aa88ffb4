// zone_load: parse + check + compile zone files the production way
// (load_zone_file, then ZoneSet::build) and report how long it took and the
// process's peak RSS. Used by bench/zone_load_vs_knot.sh; it is a measuring
// driver, not a test (no assertion on time anywhere).
//
//   zone_load FILE...
// prints one line: "zone_load: zones=Z elapsed_ms=T peak_rss_kb=K"
// Exit 0 when every zone loaded, 1 otherwise (diagnostics on stderr).
#include <sys/resource.h>

#include <chrono>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "zones/snapshot.hh"

using namespace edgedns::zones;

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: zone_load FILE...\n";
    return 2;
  }
  auto t0 = std::chrono::steady_clock::now();
  std::shared_ptr<const ZoneSet> zs;
  try {
    std::vector<std::shared_ptr<const Zone>> zones;
    for (int i = 1; i < argc; ++i) {
      LoadResult lr = load_zone_file(argv[i]);
      if (!lr.zone) {
        for (const auto& d : lr.diagnostics) std::cerr << d.to_string() << "\n";
        std::cerr << "zone_load: " << argv[i] << ": not loaded\n";
        return 1;
      }
      zones.push_back(std::move(lr.zone));
    }
    zs = ZoneSet::build(std::move(zones));
  } catch (const std::exception& e) {
    std::cerr << "zone_load: " << e.what() << "\n";
    return 1;
  }
  auto t1 = std::chrono::steady_clock::now();
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);  // ru_maxrss is in KiB on Linux
  std::cout << "zone_load: zones=" << zs->zones().size()
            << " elapsed_ms="
            << std::chrono::duration_cast<std::chrono::milliseconds>(t1 - t0).count()
            << " peak_rss_kb=" << ru.ru_maxrss << "\n";
  return 0;
}
