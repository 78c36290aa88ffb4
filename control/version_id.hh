// The version id and label of a zone set, computed exactly as the node agent
// does (zones/version.hh), so the control plane can name a version before any
// node has seen it. The only part of control/ that needs the compiled engine's
// version hashing; kept apart so the rest builds and tests on its own.
//
// Per zone, what this costs (a compile, the canonical text) is remembered by
// content: a set of 100,000 zones that differs from the last one in one zone
// compiles one zone. Thread-safe; allocates.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "control/zone_input.hh"
#include "zones/version.hh"

namespace edgedns::ctl {

struct VersionInfo {
  std::string id;     // 32 lowercase hex digits
  std::string label;  // "apex=serial,..."
  size_t records = 0;
};

// One zone's content, worked out once. `key`: 32 hex digits of a hash over
// the apex and the parsed records (equal keys, equal content).
struct ZoneFacts {
  std::string key;
  zones::VersionId version;  // as the node computes it for this zone
  uint32_t serial = 0;
  size_t records = 0;
  std::shared_ptr<const std::string> text;  // canonical_text(z.data)
};

// Precondition: z.ok(). Remembered for the zones of the last two sets
// compute_version was asked about (and what was looked up since), so memory
// stays bounded by what the fleet holds now and held just before.
std::shared_ptr<const ZoneFacts> zone_facts(const LoadedZone& z);

// Precondition: every zone is ok().
VersionInfo compute_version(const std::vector<LoadedZone>& zones);

}  // namespace edgedns::ctl
