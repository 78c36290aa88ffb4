#include "zones/load.hh"

#include "zones/grouping.hh"

namespace edgedns::zones {

LoadResult load_zone_file(const std::string& path, const ParseOptions& opts,
                          const CheckOptions& check) {
  LoadResult lr;
  ParseResult pr = parse_zone_file(path, opts);
  lr.diagnostics = std::move(pr.diagnostics);
  for (const auto& d : lr.diagnostics)
    if (d.is_error()) return lr;
  // The checks group the records once; the compiler reuses that grouping.
  Grouping g;
  check_zone_grouped(pr.zone, lr.diagnostics, check, &g);
  for (const auto& d : lr.diagnostics)
    if (d.is_error()) return lr;
  if (g.size != pr.zone.records.size()) g = group_records(pr.zone);
  lr.zone = compile_grouped(std::move(pr.zone), std::move(g));
  return lr;
}

}  // namespace edgedns::zones
