// Last-known-good state files (docs/control-protocol.md "Last-known-good
// state"): `lkg-<seq>.edz` in the state directory, a 64-byte header and the
// zone set's text (zone_text.hh). Written atomically (tmp file, fsync,
// rename, fsync of the directory); read back newest first, skipping any file
// whose header, checksum, parse or version does not hold, with the reason.
//
// Header, big-endian: magic "EDGEDNSL" | u32 format | u32 0 | u64 seq |
// u64 version hi | u64 version lo | u64 payload length | u64 XXH3-64 of the
// payload | u64 XXH3-64 of the 56 bytes before it.
//
// Format 1 holds the whole set. Format 2 holds a delta from the version of
// the file just before it ("base <hex>" then one "+rr" or "-rr" per line, as
// the node's delta command took them): a commit of a small change to a big
// set writes a few hundred bytes, not the set (as Knot's journal). Reading
// loads the newest good full file and replays the deltas after it, checking
// every version on the way; a delta that does not hold ends the chain there.
// Control thread (the node agent); blocks on disk I/O.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "zones/delta.hh"
#include "zones/snapshot.hh"
#include "zones/version.hh"

namespace edgedns::zones {

constexpr uint32_t kLkgFormat = 1;       // the whole set
constexpr uint32_t kLkgDeltaFormat = 2;  // a delta from the file before it
constexpr size_t kLkgHeaderSize = 64;

// Writes lkg-<seq>.edz atomically, then deletes every older file but the
// newest older one whose header and checksum are good (two good files stay),
// and leftover .tmp files. Returns "" on success, else a message naming the file.
std::string write_lkg(const std::string& dir, uint64_t seq, const VersionId& version,
                      std::string_view text);

// A way to write a commit as a delta: the changes taking `base` to the
// version committed (the node agent knows how it made each version).
struct LkgDelta {
  VersionId base;
  std::vector<DeltaChange> changes;
};

// Writes lkg-<seq>.edz as a delta taking `base` (the newest file's version)
// to `version`; older files are all kept (the chain needs them).
std::string write_lkg_delta(const std::string& dir, uint64_t seq, const VersionId& base,
                            const VersionId& version, std::span<const DeltaChange> changes);

// What the newest file's header says, and how long the chain of deltas on
// top of the newest full file is (headers and sizes only: no payload read).
struct LkgHead {
  bool found = false;  // false also when the newest file's header is bad
  uint64_t seq = 0;
  VersionId version;
  size_t deltas = 0;         // delta files above the newest full one
  uint64_t full_bytes = 0;   // that full file's size
  uint64_t delta_bytes = 0;  // the deltas' sizes
};
LkgHead lkg_head(const std::string& dir);

// 1 + the highest sequence among the directory's lkg files (1 when none).
uint64_t next_lkg_seq(const std::string& dir);

struct LkgRead {
  bool found = false;
  uint64_t seq = 0;
  VersionId version;
  std::string path;
  std::shared_ptr<const ZoneSet> zones;  // the parsed, checked, compiled payload
  // Files passed over, newest first: "DIR/lkg-7.edz: payload checksum mismatch".
  std::vector<std::string> skipped;
};
// Newest good file; `found` false when there is none (or the directory is
// missing/empty), `skipped` says why each candidate was refused.
LkgRead read_newest_lkg(const std::string& dir);

}  // namespace edgedns::zones
