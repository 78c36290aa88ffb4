// edgedns's use of the last-known-good files (zones/lkg.hh, format in
// docs/control-protocol.md): persist a committed version, and at start-up
// without --zone load the newest good file. Control thread; blocks on disk.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "dataplane/registry.hh"

namespace edgedns::dp {

// Writes v as the newest LKG of `dir` (atomically: tmp, fsync, rename, fsync
// of the directory). Throws std::runtime_error naming the file on failure.
void persist_lkg(const std::string& dir, const Version& v);

// The newest file whose checksum and parse are good, compiled; null when
// none. `log` gets one line per skipped file saying which and why.
std::shared_ptr<const zones::ZoneSet> load_newest_lkg(
    const std::string& dir, const std::function<void(const std::string&)>& log);

}  // namespace edgedns::dp
