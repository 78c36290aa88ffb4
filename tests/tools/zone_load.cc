// zone_load: parse + check + compile zone files the production way
// (load_zone_file, then ZoneSet::build) and report how long it took and the
// process's peak RSS. Used by bench/zone_load_vs_knot.sh; it is a measuring
// driver, not a test (no assertion on time anywhere).
//
//   zone_load [--stages] [--one-thread] [--repeat N] FILE...
// prints one line: "zone_load: zones=Z elapsed_ms=T peak_rss_kb=K"
// With --stages the stages of load_zone_file run one by one and each is timed
// (parse, check (grouping included), group (a second grouping, timed alone
// and dropped), compile), printed with the zone's version id as
// "zone_load: stages FILE parse_ms=..." on stderr before the summary line. --one-thread: parse with
// one thread (ParseOptions::parallel_min_bytes = SIZE_MAX), for comparison. --repeat N: load each
// file N times (the last one counts; with --stages every run prints). Exit 0 when every zone
// loaded, 1 otherwise (diagnostics on stderr).
#include <sys/resource.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "zones/grouping.hh"
#include "zones/load.hh"
#include "zones/snapshot.hh"
#include "zones/zone.hh"

using namespace edgedns::zones;

namespace {

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

// load_zone_file, stage by stage (same calls in the same order).
LoadResult load_in_stages(const std::string& path, const ParseOptions& po) {
  LoadResult lr;
  auto t = Clock::now();
  ParseResult pr = parse_zone_file(path, po);
  const double parse_ms = ms_since(t);
  lr.diagnostics = std::move(pr.diagnostics);
  for (const auto& d : lr.diagnostics)
    if (d.is_error()) return lr;
  t = Clock::now();
  Grouping g;
  check_zone_grouped(pr.zone, lr.diagnostics, {}, &g);
  const double check_ms = ms_since(t);
  for (const auto& d : lr.diagnostics)
    if (d.is_error()) return lr;
  t = Clock::now();
  { Grouping again = group_records(pr.zone); }
  const double group_ms = ms_since(t);
  if (g.size != pr.zone.records.size()) g = group_records(pr.zone);
  t = Clock::now();
  lr.zone = compile_grouped(std::move(pr.zone), std::move(g));
  const double compile_ms = ms_since(t);
  std::fprintf(stderr,
               "zone_load: stages %s parse_ms=%.1f (threads %u) check_ms=%.1f (group alone %.1f) "
               "compile_ms=%.1f "
               "version=%s\n",
               path.c_str(), parse_ms, pr.threads, check_ms, group_ms, compile_ms,
               lr.zone->version.hex().c_str());
  return lr;
}

}  // namespace

int main(int argc, char** argv) {
  int first = 1;
  bool stages = false;
  int repeat = 1;
  ParseOptions po;
  for (; first < argc && argv[first][0] == '-'; ++first) {
    if (std::strcmp(argv[first], "--stages") == 0) stages = true;
    else if (std::strcmp(argv[first], "--one-thread") == 0) po.parallel_min_bytes = SIZE_MAX;
    else if (std::strcmp(argv[first], "--repeat") == 0 && first + 1 < argc)
      repeat = std::atoi(argv[++first]);
    else break;
  }
  if (argc <= first) {
    std::cerr << "usage: zone_load [--stages] [--one-thread] [--repeat N] FILE...\n";
    return 2;
  }
  auto t0 = Clock::now();
  std::shared_ptr<const ZoneSet> zs;
  try {
    std::vector<std::shared_ptr<const Zone>> zones;
    for (int i = first; i < argc; ++i) {
      for (int k = 1; k < repeat; ++k)
        (void)(stages ? load_in_stages(argv[i], po) : load_zone_file(argv[i], po));
      LoadResult lr = stages ? load_in_stages(argv[i], po) : load_zone_file(argv[i], po);
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
  auto t1 = Clock::now();
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);  // ru_maxrss is in KiB on Linux
  std::cout << "zone_load: zones=" << zs->zones().size() << " elapsed_ms="
            << std::chrono::duration_cast<std::chrono::milliseconds>(t1 - t0).count()
            << " peak_rss_kb=" << ru.ru_maxrss << "\n";
  return 0;
}
