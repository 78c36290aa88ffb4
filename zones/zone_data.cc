#include "zones/zone_data.hh"

#include <algorithm>
#include <cstring>

#include "zones/pages.hh"

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
    if (prev.owner_len == own_len && std::memcmp(arena.data() + prev.owner_off, own, own_len) == 0)
      r.owner_off = prev.owner_off;
    else r.owner_off = UINT32_MAX;
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

void ZoneData::append(ZoneData&& more, uint32_t line_delta) {
  constexpr size_t kStep = size_t(4) << 20;  // bytes copied between two releases
  const size_t base = arena.size();
  const uint8_t* src = more.arena.data();
  const size_t alen = more.arena.size();
  if (arena.capacity() < base + alen) arena.reserve(base + alen);
  for (size_t i = 0; i < alen; i += kStep) {
    const size_t n = std::min(kStep, alen - i);
    arena.insert(arena.end(), src + i, src + i + n);
    drop_pages(src + i, n);
  }
  // The first owner of `more` may continue the last owner here: share its
  // bytes, as one parse would have.
  uint32_t shared_from = UINT32_MAX, shared_to = 0;
  if (!records.empty() && !more.records.empty()) {
    const Record& last = records.back();
    const Record& first = more.records.front();
    if (last.owner_len == first.owner_len &&
        std::memcmp(arena.data() + last.owner_off, arena.data() + base + first.owner_off,
                    first.owner_len) == 0) {
      shared_from = first.owner_off;
      shared_to = last.owner_off;
    }
  }
  const Record* rs = more.records.data();
  const size_t nr = more.records.size();
  if (records.capacity() < records.size() + nr) records.reserve(records.size() + nr);
  const size_t step = kStep / sizeof(Record);
  for (size_t i = 0; i < nr; i += step) {
    const size_t n = std::min(step, nr - i);
    for (size_t k = i; k < i + n; ++k) {
      Record r = rs[k];
      r.owner_off = r.owner_off == shared_from ? shared_to : uint32_t(r.owner_off + base);
      r.rdata_off = uint32_t(r.rdata_off + base);
      r.line += line_delta;
      records.push_back(r);
    }
    drop_pages(rs + i, n * sizeof(Record));
  }
  {
    std::vector<uint8_t> drop;
    drop.swap(more.arena);
  }
  {
    std::vector<Record> drop;
    drop.swap(more.records);
  }
}

}  // namespace edgedns::zones
