// Last-known-good state files (docs/control-protocol.md "Last-known-good
// state"): `lkg-<seq>.edz` in the state directory, a 64-byte header and the
// zone set's text (zone_text.hh). Written atomically (tmp file, fsync,
// rename, fsync of the directory); read back newest first, skipping any file
// whose header, checksum, parse or version does not hold, with the reason.
//
// Header, big-endian: magic "EDGEDNSL" | u32 format (1) | u32 0 | u64 seq |
// u64 version hi | u64 version lo | u64 payload length | u64 XXH3-64 of the
// payload | u64 XXH3-64 of the 56 bytes before it.
// Control thread (the node agent); blocks on disk I/O.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "zones/snapshot.hh"
#include "zones/version.hh"

namespace edgedns::zones {

constexpr uint32_t kLkgFormat = 1;
constexpr size_t kLkgHeaderSize = 64;

// Writes lkg-<seq>.edz atomically, then deletes every older file but the
// newest older one whose header and checksum are good (two good files stay),
// and leftover .tmp files. Returns "" on success, else a message naming the file.
std::string write_lkg(const std::string& dir, uint64_t seq, const VersionId& version,
                      std::string_view text);

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
