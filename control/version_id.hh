// The version id and label of a zone set, computed exactly as the node agent
// does (zones/version.hh), so the control plane can name a version before any
// node has seen it. The only part of control/ that needs the compiled engine's
// version hashing; kept apart so the rest builds and tests on its own.
// Control thread; compiles the zones (allocates, may take a second on 1M records).
#pragma once

#include <string>
#include <vector>

#include "control/zone_input.hh"

namespace edgedns::ctl {

struct VersionInfo {
  std::string id;     // 32 lowercase hex digits
  std::string label;  // "apex=serial,..."
  size_t records = 0;
};

// Precondition: every zone is ok().
VersionInfo compute_version(const std::vector<LoadedZone>& zones);

}  // namespace edgedns::ctl
