// The compiled, immutable zone snapshot and the zone set the answer engine
// reads. Built off the hot path (control thread, allocates); once built a Zone
// or ZoneSet is never modified, so any number of readers (dataplane lcores
// inside an RCU read-side section, TCP threads, tests) may use it at once
// without locks. Lookups hash the lower-cased wire name with XXH3
// (name_hash) and never allocate.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "zones/zone_data.hh"

namespace edgedns::zones {

class Zone;  // engine-private layout (zones/zone.hh)
class ZoneSet;

// Compiles checked zone data. Precondition: check_zone reported no error.
// Loading from a file (parse + check + compile) is zones/load.hh.
std::shared_ptr<const Zone> compile_zone(ZoneData&& data);

// Read-only facts about a compiled zone (any thread).
const Name& zone_apex(const Zone& z) noexcept;
uint32_t zone_serial(const Zone& z) noexcept;
size_t zone_record_count(const Zone& z) noexcept;
size_t zone_memory_bytes(const Zone& z) noexcept;
// Visits every record (owner wire, type, class, ttl, rdata) in canonical order.
void zone_for_each_record(
    const Zone& z,
    const std::function<void(const uint8_t* owner, size_t owner_len, uint16_t type, uint16_t rclass,
                             uint32_t ttl, const uint8_t* rdata, size_t rdata_len)>& fn);

class ZoneSet {
 public:
  // Builds the set; fails (throws std::invalid_argument) on two zones with the
  // same apex. Control thread.
  static std::shared_ptr<const ZoneSet> build(std::vector<std::shared_ptr<const Zone>> zones);
  ~ZoneSet();
  // Longest matching zone for a lower-cased wire name, or null. Any thread, no allocation.
  const Zone* find(const uint8_t* lower, size_t len) const noexcept {
    if (nfew_ == 0) return find_many(lower, len);
    // A few zones (an edge node usually serves one or two): compare the
    // name's tail with each apex, longest first, inline on the query path;
    // a memcmp or two beats an XXH3 per candidate suffix.
    for (size_t k = 0; k < nfew_; ++k) {
      const Few& f = few_[k];
      if (f.len > len || !bytes_equal(lower + (len - f.len), f.apex, f.len)) continue;
      const size_t at = len - f.len;
      size_t i = 0;  // the tail must start at a label
      while (i < at) i += size_t(lower[i]) + 1;
      if (i == at) return f.zone;
    }
    return nullptr;
  }
  const std::vector<std::shared_ptr<const Zone>>& zones() const noexcept { return zones_; }
  // Many zones (a hosting set of 100,000): the index slots find() will read
  // for this name, prefetched, so that a burst's lookups overlap their cache
  // misses instead of taking them one after another. No-op for a few zones.
  bool many() const noexcept { return nfew_ == 0 && index_; }
  void prefetch_find(const uint8_t* lower, size_t len) const noexcept;

 private:
  ZoneSet() = default;
  // Many zones: hashes the name's suffixes that have an apex's label count.
  const Zone* find_many(const uint8_t* lower, size_t len) const noexcept;
  std::vector<std::shared_ptr<const Zone>> zones_;
  struct Index;
  std::unique_ptr<Index> index_;
  struct Few {
    const uint8_t* apex;  // the zone's lower-case apex (kept alive by zones_)
    size_t len;
    const Zone* zone;
  };
  static constexpr size_t kFew = 8;
  Few few_[kFew] = {};
  size_t nfew_ = 0;  // 0: more than kFew zones (or none), find_many answers
};

// Memory held by several zone sets together (e.g. every version a node
// keeps), counting once each zone and each shard that deltas share between
// versions (zone_memory_bytes of each zone would count shared shards once per
// version). Control thread.
size_t zoneset_memory_unique(std::span<const ZoneSet* const> sets);

}  // namespace edgedns::zones
