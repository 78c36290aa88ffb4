#include "dataplane/lkg_store.hh"

#include <stdexcept>

namespace edgedns::dp {

// Waiting for zones/lkg.hh (work in progress elsewhere).
void persist_lkg(const std::string& dir, const Version&) {
  throw std::runtime_error("last-known-good in " + dir + ": not available in this build yet");
}

std::shared_ptr<const zones::ZoneSet> load_newest_lkg(
    const std::string& dir, const std::function<void(const std::string&)>& log) {
  log("last-known-good in " + dir + ": not available in this build yet");
  return nullptr;
}

}  // namespace edgedns::dp
