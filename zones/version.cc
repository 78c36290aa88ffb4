// Version ids (see version.hh). The canonical byte string of a record is the
// RFC 4034 §6.2 canonical RR form without name compression: lower-cased owner
// wire | type | class | TTL | RDLENGTH | RDATA (all big-endian). RDLENGTH
// makes the string self-delimiting, so no two different records hash the
// same input.
#include "zones/version.hh"

#include <algorithm>
#include <cstring>
#include <vector>

// Inlined: the per-record hash runs a million times per large-zone compile.
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "zones/snapshot.hh"
#include "zones/zone.hh"

namespace edgedns::zones {

namespace {

// Records up to this size are hashed from one stack buffer in a single call
// (the fast path of XXH3); bigger ones (large TXT, DNSKEY sets) stream.
constexpr size_t kStackRecord = 1024;

VersionId from_xxh(XXH128_hash_t h) noexcept { return VersionId{h.high64, h.low64}; }

}  // namespace

std::string VersionId::hex() const {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s(32, '0');
  for (int i = 0; i < 16; ++i) {
    s[size_t(15 - i)] = kDigits[(hi >> (4 * i)) & 15];
    s[size_t(31 - i)] = kDigits[(lo >> (4 * i)) & 15];
  }
  return s;
}

std::optional<VersionId> VersionId::from_hex(std::string_view s) {
  if (s.size() != 32) return std::nullopt;
  VersionId v;
  for (size_t i = 0; i < 32; ++i) {
    const char c = s[i];
    uint64_t d;
    if (c >= '0' && c <= '9') d = uint64_t(c - '0');
    else if (c >= 'a' && c <= 'f') d = uint64_t(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') d = uint64_t(c - 'A' + 10);
    else return std::nullopt;
    uint64_t& w = i < 16 ? v.hi : v.lo;
    w = w << 4 | d;
  }
  return v;
}

VersionId record_hash(const uint8_t* owner_lower, size_t owner_len, uint16_t type, uint16_t rclass,
                      uint32_t ttl, const uint8_t* rdata, size_t rdata_len) noexcept {
  uint8_t fixed[10];
  wr16(fixed, type);
  wr16(fixed + 2, rclass);
  wr32(fixed + 4, ttl);
  wr16(fixed + 8, uint16_t(rdata_len));
  const size_t total = owner_len + sizeof fixed + rdata_len;
  if (total <= kStackRecord) {
    uint8_t buf[kStackRecord];
    std::memcpy(buf, owner_lower, owner_len);
    std::memcpy(buf + owner_len, fixed, sizeof fixed);
    if (rdata_len) std::memcpy(buf + owner_len + sizeof fixed, rdata, rdata_len);
    return from_xxh(XXH3_128bits(buf, total));
  }
  XXH3_state_t st;  // a few hundred bytes on the stack; no allocation
  XXH3_128bits_reset(&st);
  XXH3_128bits_update(&st, owner_lower, owner_len);
  XXH3_128bits_update(&st, fixed, sizeof fixed);
  XXH3_128bits_update(&st, rdata, rdata_len);
  return from_xxh(XXH3_128bits_digest(&st));
}

VersionId apex_hash(const uint8_t* apex_lower, size_t len) noexcept {
  // A record's canonical form starts with a label length (<= 63) or the root
  // byte, never 0xff: the prefix keeps apex inputs apart from record inputs.
  uint8_t buf[8 + kMaxName];
  std::memcpy(buf,
              "\xff"
              "apex\0\0\0",
              8);
  std::memcpy(buf + 8, apex_lower, std::min(len, kMaxName));
  return from_xxh(XXH3_128bits(buf, 8 + std::min(len, kMaxName)));
}

VersionId zone_version(const Zone& z) noexcept { return z.version; }

VersionId zoneset_version(const ZoneSet& zs) noexcept {
  VersionId v;
  for (const auto& z : zs.zones()) v += z->version;
  return v;
}

std::string zoneset_label(const ZoneSet& zs) {
  std::vector<const Zone*> zones;
  for (const auto& z : zs.zones()) zones.push_back(z.get());
  std::sort(zones.begin(), zones.end(), [](const Zone* a, const Zone* b) {
    return name_canonical_compare(a->apex_lower, a->apex_len, b->apex_lower, b->apex_len) < 0;
  });
  // A label is read by people and kept in every journal record: a hosting
  // set of 100,000 zones is named by its first zones and its size.
  constexpr size_t kNamed = 8;
  std::string out;
  for (size_t i = 0; i < zones.size() && i < kNamed; ++i) {
    if (!out.empty()) out += ',';
    out += zones[i]->apex.to_text();
    out += '=';
    out += std::to_string(zones[i]->serial);
  }
  if (zones.size() > kNamed) out += ",... (" + std::to_string(zones.size()) + " zones)";
  return out;
}

}  // namespace edgedns::zones
