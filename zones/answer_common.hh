// What the answer engine's query path (answer.cc) and its compile-time
// preparation (answer_prepare.cc) both use to write records: the response
// writer with its compression table, the RRset writer, and the readers of
// nodes and shard tables. Sharing them is what makes a precomputed template
// byte for byte what the general path writes. Engine-private (only zones/
// includes it). Everything here is noexcept and allocation-free: it writes
// into the caller's buffer and reads the snapshot.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "zones/name.hh"
#include "zones/node_layout.hh"
#include "zones/rrtype.hh"
#include "zones/wire.hh"
#include "zones/zone.hh"

namespace edgedns::zones {

constexpr int kMaxComprEntries = 64;  // names remembered for compression
constexpr uint16_t kMaxPtr = 0x3fff;  // compression pointers reach 14 bits

// Copy of a short run of unknown length (a name, a small RRset). GCC turns
// such a memcpy into `rep movsq`, which takes ~30 cycles to start on this
// CPU and showed up in profiles of every query; two overlapping fixed-size
// moves do the same in a few. Longer runs go to memcpy. No overlap allowed.
inline void copy_short(uint8_t* d, const uint8_t* s, size_t n) noexcept {
  // (A loop of 16-byte moves would be recognised as a memcpy and expanded
  // back into `rep movsq`.)
  if (n > 64) {
    std::memcpy(d, s, n);
  } else if (n > 32) {
    std::memcpy(d, s, 32);
    std::memcpy(d + n - 32, s + n - 32, 32);
  } else if (n >= 16) {
    std::memcpy(d, s, 16);
    std::memcpy(d + n - 16, s + n - 16, 16);
  } else if (n >= 8) {
    std::memcpy(d, s, 8);
    std::memcpy(d + n - 8, s + n - 8, 8);
  } else if (n >= 4) {
    std::memcpy(d, s, 4);
    std::memcpy(d + n - 4, s + n - 4, 4);
  } else if (n) {
    d[0] = s[0];
    d[n / 2] = s[n / 2];
    d[n - 1] = s[n - 1];
  }
}

// Response writer with a small name-compression table. All writes are bounds
// checked against `limit`; a failed RRset write rolls back to its start.
struct Writer {
  uint8_t* buf;
  size_t limit;  // max bytes for records (room for OPT already subtracted)
  size_t pos = 0;
  uint16_t count[3] = {0, 0, 0};
  struct Entry {
    uint16_t off;
    uint8_t labels;
  };
  Entry ent[kMaxComprEntries];
  int nent = 0;

  void remember(size_t off, int labels) noexcept {
    if (off <= kMaxPtr && nent < kMaxComprEntries && labels > 0)
      ent[nent++] = Entry{uint16_t(off), uint8_t(labels)};
  }
  // The question's name (at kHeaderSize) and each of its suffixes as pointer
  // targets: the table every answer starts from.
  void remember_question(const uint8_t* name, size_t len) noexcept {
    int k = name_label_count(name, len);
    for (size_t i = 0; i < len && name[i] != 0; i += size_t(name[i]) + 1)
      remember(kHeaderSize + i, k--);
  }
  // Case-insensitive equality of an uncompressed name and a (possibly
  // compressed) name already in the message.
  bool equal_at(const uint8_t* n, size_t off) const noexcept {
    for (int guard = 0; guard < 128; ++guard) {
      uint8_t l = buf[off];
      if ((l & 0xc0) == 0xc0) {
        off = size_t(l & 0x3f) << 8 | buf[off + 1];
        continue;
      }
      if (l != *n) return false;
      if (l == 0) return true;
      for (size_t k = 1; k <= l; ++k)
        if (lower_ascii(buf[off + k]) != lower_ascii(n[k])) return false;
      off += size_t(l) + 1;
      n += size_t(l) + 1;
    }
    return false;
  }
  // Writes `name` (uncompressed wire, any case), compressed against the
  // message when `compress`; its new labels become pointer targets when `target`.
  bool put_name(const uint8_t* name, size_t len, bool compress, bool target = true) noexcept {
    uint8_t starts[128];
    int k = 0;
    for (size_t i = 0; i < len && name[i] != 0 && k < 127; i += size_t(name[i]) + 1)
      starts[k++] = uint8_t(i);
    int cut = k;  // labels written before the pointer
    uint16_t ptr = 0;
    if (compress) {
      for (int i = 0; i < k && cut == k; ++i)
        for (int e = 0; e < nent; ++e)
          if (ent[e].labels == k - i && equal_at(name + starts[i], ent[e].off)) {
            cut = i;
            ptr = ent[e].off;
            break;
          }
    }
    size_t body = cut == k ? len : starts[cut];
    size_t need = body + (cut == k ? 0 : 2);
    if (pos + need > limit) return false;
    copy_short(buf + pos, name, body);
    if (target)
      for (int i = 0; i < cut; ++i) remember(pos + starts[i], k - i);
    pos += body;
    if (cut != k) {
      wr16(buf + pos, uint16_t(0xc000 | ptr));
      pos += 2;
    }
    return true;
  }
  // Offset of a name already in the message, or -1.
  int find(const uint8_t* name, size_t len) const noexcept {
    int k = name_label_count(name, len);
    for (int e = 0; e < nent; ++e)
      if (ent[e].labels == k && equal_at(name, ent[e].off)) return ent[e].off;
    return -1;
  }
};

// Where the domain names sit in RDATA (RFC 3597 §4: only RFC 1035 types
// compress). `target`: later names may point into them. Not into a DNAME's
// target (RFC 6672 §2.5 keeps it uncompressed), so that the synthesized CNAME,
// the record DNAME-unaware resolvers use, stands on its own (Knot does the same).
struct NameInfo {
  uint8_t off;
  uint8_t count;
  bool compress;
  bool target;
};
constexpr NameInfo rdata_name_info(uint16_t t) noexcept {
  switch (t) {
    case rrtype::NS:
    case rrtype::CNAME:
    case rrtype::PTR: return {0, 1, true, true};
    case rrtype::MX: return {2, 1, true, true};
    case rrtype::SOA: return {0, 2, true, true};
    case rrtype::SRV: return {6, 1, false, true};
    case rrtype::SVCB:
    case rrtype::HTTPS: return {2, 1, false, true};
    case rrtype::DNAME: return {0, 1, false, false};
    default: return {0, 0, false, false};
  }
}

// Writes an RRset from its pre-encoded block. The owner is `owner_ptr` when it
// is a valid pointer target, else the name itself (compressed). Whole RRset or
// nothing.
bool put_rrset(Writer& w, int sec, const uint8_t* block, uint32_t blen, uint16_t count,
               uint16_t type, const uint8_t* owner, size_t owner_len, int owner_ptr) noexcept;

struct RRsetRef {
  const uint8_t* block = nullptr;
  uint32_t len = 0;
  uint16_t count = 0;
  uint16_t type = 0;
  explicit operator bool() const noexcept { return block != nullptr; }
};

// The directory entry of a node's RRset of `type` (null: none) and, in `w`,
// where its wire bytes start.
inline const RRsetDir* find_dir(const uint8_t* node, uint16_t type, const uint8_t*& w) noexcept {
  auto* h = reinterpret_cast<const NodeHdr*>(node);
  const RRsetDir* dir = node_dir(node);
  w = node_wire(node);
  for (uint16_t i = 0; i < h->nrrsets; ++i) {
    if (dir[i].type == type) return dir + i;
    if (dir[i].type > type) break;  // sorted by type
    w += dir[i].len;
  }
  return nullptr;
}

inline RRsetRef node_rrset(const uint8_t* node, uint16_t type) noexcept {
  const uint8_t* w;
  const RRsetDir* d = find_dir(node, type, w);
  return d ? RRsetRef{w, d->len, d->count, type} : RRsetRef{};
}

// Entries in a shard's table (Shard::aux: a 32-bit count, then the entries from byte 8).
inline size_t aux_count(const Shard& sh) noexcept {
  if (sh.aux.empty()) return 0;
  uint32_t k;
  std::memcpy(&k, sh.aux.data(), 4);
  return k;
}

// The node "*.<name>" (hash `h`), as Zone::find finds it, without building the name.
inline const uint8_t* find_star(const Zone& z, const uint8_t* name, size_t len,
                                uint64_t h) noexcept {
  const ShardView& s = z.view_of(h);
  if (s.nslots == 0) return nullptr;
  const uint32_t tag = uint32_t(h);
  for (uint32_t i = slot_home(h, z.shard_bits, s.nslots);;) {
    const Slot& sl = s.slots[i];
    if (sl.off == kEmptySlot) return nullptr;
    if (sl.tag == tag) {
      const uint8_t* n = s.blob + sl.off;
      const uint8_t* nm = node_name(n);
      if (n[1] == len + 2 && nm[0] == 1 && nm[1] == '*' && bytes_equal(nm + 2, name, len)) return n;
    }
    if (++i == s.nslots) i = 0;
  }
}

// An RRset whose owner is a pointer to `ptr` (put_rrset with owner_ptr, no
// names in RDATA): the pre-encoded block with each owner field replaced.
inline void put_block_at(uint8_t* d, const RRsetRef& r, uint16_t ptr) noexcept {
  copy_short(d, r.block, r.len);
  size_t o = 0;
  for (uint16_t k = 0; k < r.count; ++k) {
    wr16(d + o, uint16_t(0xc000 | ptr));
    o += 12 + size_t(rd16(r.block + o + 10));
  }
}

}  // namespace edgedns::zones
