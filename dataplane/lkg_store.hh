// edgedns's use of the last-known-good files (zones/lkg.hh, format in
// docs/control-protocol.md): persist a committed version, and choose and
// load what a start serves. Control thread; blocks on disk.
#pragma once

#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "dataplane/registry.hh"
#include "zones/lkg.hh"

namespace edgedns::dp {

using zones::LkgDelta;

// At most this many deltas sit on a full file (and they stay under half its
// size): reading replays them, and a long chain would slow a start.
constexpr size_t kMaxLkgDeltas = 32;

// Writes v as the newest LKG of `dir` (atomically: tmp, fsync, rename, fsync
// of the directory): as a delta when one of `deltas` starts from the newest
// file's version and the chain has room, else the whole set. Throws
// std::runtime_error naming the file on failure.
void persist_lkg(const std::string& dir, const Version& v, std::span<const LkgDelta> deltas = {});

// The newest file whose checksum and parse are good, compiled; null when
// none. `log` gets one line per skipped file saying which and why.
// *files (when given) is set to whether dir held any last-known-good file.
std::shared_ptr<const zones::ZoneSet> load_newest_lkg(
    const std::string& dir, const std::function<void(const std::string&)>& log,
    bool* files = nullptr);

// What a start serves. The --zone files are the bootstrap of a node the
// control plane manages: once --state-dir holds a good last-known-good (a
// commit, or an earlier start's zone files), a restart serves that, so a
// crash or a reboot never undoes a rollout. --force-zone is the operator's
// way back to the zone files.
struct StartOptions {
  bool zone_files = false;  // --zone given
  bool force_zone = false;  // --force-zone (only with --zone)
  std::string state_dir;    // --state-dir; empty: none
  bool managed = false;     // a control plane can reach it (--control or --control-listen)
};

enum class StartSource {
  kZoneFiles,      // load the --zone files
  kLastKnownGood,  // serve the newest good file of state_dir
  kEmpty,          // serve no zone (REFUSED) until the control plane sends a version
  kNothing,        // refuse to start: `note` says why
};

struct StartPlan {
  StartSource source = StartSource::kNothing;
  bool persist = false;  // write what is served as the newest last-known-good
  std::string note;      // the log line saying what is served and why ("" when obvious)
};

// Whether the start has to look for a last-known-good at all (a forced
// start does not read, so a large or damaged state directory cannot delay it).
bool start_reads_lkg(const StartOptions& o);

// The decision, given whether state_dir holds a good last-known-good and
// whether it holds any last-known-good file at all. A managed node with no
// zone files and no last-known-good file starts empty (a fresh machine
// joining the fleet); one whose files are all bad refuses to start, since
// something damaged them and an operator should look. Pure.
StartPlan plan_start(const StartOptions& o, bool good_lkg, bool any_lkg_file = false);

}  // namespace edgedns::dp
