#include "zones/zone_data.hh"

#include <sys/mman.h>

#include <cstring>

namespace edgedns::zones {

std::string Diagnostic::to_string() const {
  // Appends only: GCC 12 warns falsely (-Wrestrict) on "x" + std::string.
  std::string s = file.empty() ? std::string("<zone>") : file;
  if (line) {
    s += ':';
    s += std::to_string(line);
  }
  s += is_error() ? ": error: " : ": warning: ";
  s += message;
  return s;
}

void advise_huge_pages(const void* p, size_t bytes) noexcept {
#ifdef MADV_HUGEPAGE
  constexpr uintptr_t kHuge = uintptr_t(2) << 20;  // x86-64 and arm64 (4 KiB base pages) PMD size
  const uintptr_t b = reinterpret_cast<uintptr_t>(p);
  const uintptr_t from = (b + kHuge - 1) & ~(kHuge - 1);
  const uintptr_t to = (b + bytes) & ~(kHuge - 1);
  if (to > from) ::madvise(reinterpret_cast<void*>(from), to - from, MADV_HUGEPAGE);
#else
  (void)p;
  (void)bytes;
#endif
}

void ZoneData::reserve(size_t nrecords, size_t arena_bytes) {
  records.reserve(nrecords);
  arena.reserve(arena_bytes);
  advise_huge_pages(records.data(), records.capacity() * sizeof(Record));
  advise_huge_pages(arena.data(), arena.capacity());
}

Record& ZoneData::add(const uint8_t* own, size_t own_len, uint16_t type, uint16_t rclass,
                      uint32_t ttl, const uint8_t* rd, size_t rd_len, uint8_t file, uint32_t line) {
  Record r;
  if (!records.empty()) {
    const Record& prev = records.back();
    if (prev.owner_len == own_len &&
        std::memcmp(arena.data() + prev.owner_off, own, own_len) == 0)
      r.owner_off = prev.owner_off;
    else
      r.owner_off = UINT32_MAX;
  } else {
    r.owner_off = UINT32_MAX;
  }
  if (r.owner_off == UINT32_MAX) {
    r.owner_off = uint32_t(arena.size());
    arena.insert(arena.end(), own, own + own_len);
  }
  r.owner_len = uint8_t(own_len);
  r.rdata_off = uint32_t(arena.size());
  arena.insert(arena.end(), rd, rd + rd_len);
  r.rdata_len = uint16_t(rd_len);
  r.type = type;
  r.rclass = rclass;
  r.ttl = ttl;
  r.file = file;
  r.line = line;
  records.push_back(r);
  return records.back();
}

}  // namespace edgedns::zones
