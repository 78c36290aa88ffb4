#include "dataplane/lkg_store.hh"

#include <stdexcept>

#include "zones/lkg.hh"
#include "zones/zone_text.hh"

namespace edgedns::dp {

void persist_lkg(const std::string& dir, const Version& v) {
  std::string text = zones::zoneset_text(v.zone_set());
  std::string err = zones::write_lkg(dir, zones::next_lkg_seq(dir), v.id, text);
  if (!err.empty()) throw std::runtime_error(err);
}

std::shared_ptr<const zones::ZoneSet> load_newest_lkg(
    const std::string& dir, const std::function<void(const std::string&)>& log) {
  zones::LkgRead r = zones::read_newest_lkg(dir);
  for (const auto& s : r.skipped) log("last-known-good: skipped " + s);
  if (!r.found) {
    log("last-known-good: no good file in " + dir);
    return nullptr;
  }
  log("last-known-good: serving " + r.path + " (sequence " + std::to_string(r.seq) + ", version " +
      r.version.hex() + ")");
  return r.zones;
}

}  // namespace edgedns::dp
