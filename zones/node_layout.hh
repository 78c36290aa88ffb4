// How a compiled zone's names are laid out in memory: the nodes in a shard's
// blob and the open-addressing slots that find them. Engine-private (only
// zones/ and its tests include it); read by the answer engine on every query,
// written by the compiler and by deltas.
//
// Chosen so that a hit costs about two cache misses (slot, node):
//   Zone -> shards[hash >> (64 - shard_bits)] -> slot array of
//   {tag, node offset} -> node in the shard's blob:
//     NodeHdr | name (lower-case wire) | pad to 4 | RRsetDir[n] | RR wire bytes
//   Each RR in the wire block is pre-encoded as it goes on the wire when its
//   owner is the question name: C0 0C | type | class | ttl | rdlen | rdata
//   (rdata uncompressed), so a plain hit is one memcpy.
#pragma once

#include <cstddef>
#include <cstdint>

#include "zones/wire.hh"

namespace edgedns::zones {

namespace node_flag {
constexpr uint8_t Apex = 1 << 0;
constexpr uint8_t Cut = 1 << 1;  // NS at a non-apex name: a delegation
constexpr uint8_t Dname = 1 << 2;
constexpr uint8_t WildChild = 1 << 3;  // "*.<this name>" exists
constexpr uint8_t Ent = 1 << 4;        // empty non-terminal (no RRsets)
constexpr uint8_t Below =
    1 << 5;  // strictly below a cut or DNAME: glue/occluded, not authoritative
constexpr uint8_t Cname = 1 << 6;
constexpr uint8_t Wildcard = 1 << 7;  // first label is "*"
}  // namespace node_flag

struct NodeHdr {
  uint8_t flags;
  uint8_t name_len;
  uint16_t nrrsets;
};

// One RRset of a node. The wire bytes of RRset i follow those of i-1, right
// after the directory. RRSIGs are kept as their own RRset and served as
// data, like any other type.
struct RRsetDir {
  uint16_t type;
  uint16_t count;
  uint32_t len;  // wire bytes of the whole RRset
  // ones_sum (zones/wire.hh) of those bytes: a UDP answer that is this
  // block after the question adds it to its checksum instead of summing
  // the block per query. Set by set_dir_sums once the bytes are written.
  uint16_t sum;
  uint16_t pad;
};

// Fills the `sum` of the n directory entries of a node whose wire bytes start at `w`.
inline void set_dir_sums(RRsetDir* dir, size_t n, const uint8_t* w) noexcept {
  for (size_t i = 0; i < n; ++i) {
    dir[i].sum = uint16_t(ones_sum(w, dir[i].len));
    dir[i].pad = 0;
    w += dir[i].len;
  }
}

struct Slot {
  uint32_t tag;  // low 32 bits of the name hash
  uint32_t off;  // node offset in the shard blob; kEmpty when unused
};
constexpr uint32_t kEmptySlot = UINT32_MAX;

// A lookup-ready view of one shard (plain pointers: one indirection less on the hot path).
struct ShardView {
  const Slot* slots;
  const uint8_t* blob;
  uint32_t nslots;
};

inline size_t align4(size_t x) noexcept { return (x + 3) & ~size_t(3); }

inline const RRsetDir* node_dir(const uint8_t* node) noexcept {
  auto* h = reinterpret_cast<const NodeHdr*>(node);
  return reinterpret_cast<const RRsetDir*>(node + align4(sizeof(NodeHdr) + h->name_len));
}
inline const uint8_t* node_name(const uint8_t* node) noexcept { return node + sizeof(NodeHdr); }
inline const uint8_t* node_wire(const uint8_t* node) noexcept {
  auto* h = reinterpret_cast<const NodeHdr*>(node);
  return reinterpret_cast<const uint8_t*>(node_dir(node) + h->nrrsets);
}

// Home slot for a hash: multiply-shift over the bits below the shard bits,
// monotonic in the hash so that names inserted in hash order fill slots in order.
inline uint32_t slot_home(uint64_t hash, unsigned shard_bits, uint32_t nslots) noexcept {
  uint64_t rest = shard_bits ? hash << shard_bits : hash;
  return uint32_t((uint64_t(uint32_t(rest >> 32)) * nslots) >> 32);
}

}  // namespace edgedns::zones
