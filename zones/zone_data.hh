// The parsed, not yet compiled, content of one zone: every record in one
// compact arena (about 28 bytes per record plus its owner and RDATA bytes), so
// that a 1M-record zone parses without a heap allocation per record.
// Produced by the parser (control thread), consumed by the checker and the
// compiler. Not thread-safe; never touched by the hot path.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "zones/name.hh"

namespace edgedns::zones {

struct Diagnostic {
  enum class Severity : uint8_t { Error, Warning };
  Severity severity = Severity::Error;
  std::string file;   // as given to the parser (or the $INCLUDEd path)
  uint32_t line = 0;  // 1-based; 0 when the finding is about the zone as a whole
  std::string message;
  bool is_error() const noexcept { return severity == Severity::Error; }
  // "file:line: error: message" (or "warning:"), the format every tool prints.
  std::string to_string() const;
};

struct Record {
  uint32_t owner_off = 0;  // into ZoneData::arena; owner is lower-cased wire form
  uint32_t rdata_off = 0;  // into ZoneData::arena; uncompressed wire RDATA
  uint32_t ttl = 0;
  uint32_t line = 0;
  uint16_t rdata_len = 0;
  uint16_t type = 0;
  uint16_t rclass = 1;
  uint8_t owner_len = 0;
  uint8_t file = 0;  // index into ZoneData::files
};

class ZoneData {
 public:
  Name origin;                     // the zone apex
  std::vector<uint8_t> arena;      // owner names and RDATA, back to back
  std::vector<Record> records;     // in file order
  std::vector<std::string> files;  // files[0] is the main file

  const uint8_t* owner(const Record& r) const noexcept { return arena.data() + r.owner_off; }
  const uint8_t* rdata(const Record& r) const noexcept { return arena.data() + r.rdata_off; }
  Name owner_name(const Record& r) const { return Name::from_wire(owner(r), r.owner_len); }

  // Reserves room for about `nrecords` records and `arena_bytes` of names and
  // RDATA (the parser sizes it from the file). Large reservations are backed
  // by transparent huge pages where the kernel allows it: the compiler reads
  // the arena in hash order, and 4 KiB pages would cost a TLB miss per record.
  void reserve(size_t nrecords, size_t arena_bytes);

  // Appends a record; when owner equals the previous record's owner the bytes
  // are shared. `owner` must already be lower-cased.
  Record& add(const uint8_t* owner, size_t owner_len, uint16_t type, uint16_t rclass, uint32_t ttl,
              const uint8_t* rdata, size_t rdata_len, uint8_t file, uint32_t line);

  // Appends the records of `more` (parsed from the rest of the same file,
  // with line numbers `line_delta` too small), in order, and empties it. Its
  // buffers are handed back to the kernel as they are copied, so that peak
  // RSS grows by a few MiB, not by the size of `more`.
  void append(ZoneData&& more, uint32_t line_delta);
};

// name_is_below_or_equal for two lower-cased wire names (a ZoneData owner,
// a lower-cased apex): the tail is compared byte for byte, not folded per
// byte (the checker and the compiler ask once per owner of a 1M-name zone).
inline bool lower_name_below_or_equal(const uint8_t* n, size_t nlen, const uint8_t* p,
                                      size_t plen) noexcept {
  if (plen > nlen) return false;
  size_t i = 0;
  while (nlen - i > plen) {
    if (n[i] == 0) return false;
    i += size_t(n[i]) + 1;
  }
  return nlen - i == plen && std::memcmp(n + i, p, plen) == 0;
}

}  // namespace edgedns::zones
