// Version identity of zone content (docs/control-protocol.md "Versions"): a
// 128-bit multiset hash, the sum modulo 2^128 of XXH3-128 over each record's
// canonical form and each zone's apex. Order-independent, so node and control
// plane agree whatever the file order, and a delta updates it in O(change).
// Any thread; the hashing functions do not allocate.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace edgedns::zones {

class Zone;
class ZoneSet;

struct VersionId {
  uint64_t hi = 0, lo = 0;
  std::string hex() const;  // 32 lowercase hex digits
  static std::optional<VersionId> from_hex(std::string_view s);
  VersionId& operator+=(const VersionId& o) noexcept {
    uint64_t l = lo + o.lo;
    hi += o.hi + (l < lo ? 1 : 0);
    lo = l;
    return *this;
  }
  VersionId& operator-=(const VersionId& o) noexcept {
    uint64_t l = lo - o.lo;
    hi -= o.hi + (lo < o.lo ? 1 : 0);
    lo = l;
    return *this;
  }
  bool operator==(const VersionId&) const = default;
  bool is_zero() const noexcept { return hi == 0 && lo == 0; }
};

// Hash of one record in canonical form: lower-cased owner wire name, type,
// class, TTL, RDATA wire bytes as stored.
VersionId record_hash(const uint8_t* owner_lower, size_t owner_len, uint16_t type, uint16_t rclass,
                      uint32_t ttl, const uint8_t* rdata, size_t rdata_len) noexcept;
// Hash contributed by a zone's apex (so that two empty-looking sets differ).
VersionId apex_hash(const uint8_t* apex_lower, size_t len) noexcept;

// Content hash of a compiled zone (computed once at compile or delta time).
VersionId zone_version(const Zone& z) noexcept;
// Sum of the zones' versions: the id of a zone set.
VersionId zoneset_version(const ZoneSet& zs) noexcept;
// "apex=serial" pairs joined by "," in apex order, e.g. "example.com.=2024010101";
// past 8 zones, the first 8 and ",... (N zones)".
std::string zoneset_label(const ZoneSet& zs);

}  // namespace edgedns::zones
