// Records grouped by owner, the order in which the checks (check.cc) and the
// compiler (snapshot.cc) walk a parsed zone. Engine-private (only zones/
// includes it). Control thread, allocates.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "zones/check.hh"
#include "zones/zone_data.hh"

namespace edgedns::zones {

class Zone;

// One record in grouped order, carrying every field the checks and the
// compiler read, so that both walk this array front to back instead of
// jumping through ZoneData::records in hash order (a cache miss per record
// on a 1M-record zone). 32 bytes: two per cache line.
struct GroupEnt {
  uint64_t hash;       // name_hash of the owner
  uint32_t idx;        // index in ZoneData::records (file order)
  uint32_t owner_off;  // into ZoneData::arena
  uint32_t rdata_off;
  uint32_t ttl;
  uint16_t rdata_len;
  uint16_t type;
  uint16_t rclass;
  uint8_t owner_len;
  uint8_t pad;
};
static_assert(sizeof(GroupEnt) == 32);

// Records ordered by (owner hash, owner, type, rdata, file position): equal
// owners are adjacent and RRsets are contiguous. Built in O(n): one counting
// sort on the top hash bits (sequential reads of the records), then small
// sorts inside buckets (about 16 entries each).
struct Grouping {
  std::unique_ptr<GroupEnt[]> ents;  // default-initialised: every entry is written once
  size_t size = 0;
  std::vector<uint32_t> dir;  // bucket b: [dir[b], dir[b+1]), b = hash >> (64 - dir_bits)
  unsigned dir_bits = 0;

  // First entry whose owner is `lower` (hash `h`), or SIZE_MAX.
  size_t find(const ZoneData& z, const uint8_t* lower, size_t len, uint64_t h) const noexcept {
    if (size == 0) return SIZE_MAX;
    const size_t b = size_t(h >> (64 - dir_bits));
    for (size_t i = dir[b]; i < dir[b + 1]; ++i) {
      const GroupEnt& e = ents[i];
      if (e.hash > h) break;
      if (e.hash == h && e.owner_len == len &&
          std::memcmp(z.arena.data() + e.owner_off, lower, len) == 0)
        return i;
    }
    return SIZE_MAX;
  }
};
Grouping group_records(const ZoneData& z);
// check_zone that also hands back its grouping (size 0 when records were
// dropped: the caller regroups).
void check_zone_grouped(ZoneData& z, std::vector<Diagnostic>& out, const CheckOptions& opts,
                        Grouping* grouping_out);
// compile_zone with a grouping already computed (load_zone_file shares the
// one check_zone made). `g` must match `d.records`.
std::shared_ptr<const Zone> compile_grouped(ZoneData&& d, Grouping g);

// True when both entries have the same owner (case-folded wire).
inline bool same_owner(const ZoneData& z, const GroupEnt& a, const GroupEnt& b) noexcept {
  return a.hash == b.hash && a.owner_len == b.owner_len &&
         (a.owner_off == b.owner_off ||
          std::memcmp(z.arena.data() + a.owner_off, z.arena.data() + b.owner_off, a.owner_len) ==
              0);
}

}  // namespace edgedns::zones
