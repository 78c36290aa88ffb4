#include "control/version_id.hh"

#include "zones/snapshot.hh"
#include "zones/version.hh"

namespace edgedns::ctl {

VersionInfo compute_version(const std::vector<LoadedZone>& zones) {
  std::vector<std::shared_ptr<const zones::Zone>> compiled;
  VersionInfo v;
  for (const auto& z : zones) {
    zones::ZoneData copy = z.data;
    v.records += copy.records.size();
    compiled.push_back(zones::compile_zone(std::move(copy)));
  }
  auto zs = zones::ZoneSet::build(std::move(compiled));
  v.id = zones::zoneset_version(*zs).hex();
  v.label = zones::zoneset_label(*zs);
  return v;
}

}  // namespace edgedns::ctl
