// One shard of a compiled zone: its slots and node blob (node_layout.hh),
// the children of each node for deltas, and the answer engine's per-shard
// table. Engine-private (only zones/ and its tests include it). A shard is
// immutable once published; a delta rebuilds the few shards it touches and
// shares every other one with the previous version (shared_ptr<const Shard>),
// instead of copying a 1M-name zone.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "zones/node_layout.hh"

namespace edgedns::zones {

// Children of each node, for deltas: how many names (owners or ENTs) lie
// directly below it and, for most nodes, their name hashes, so that a delta
// that empties a name, or adds or removes a cut or DNAME, learns what lies
// below without scanning the zone. Kept per shard beside the slots (the
// answer engine never reads them) and copied on write with the shard.
// A node with kManyKids in `kids` has its exact count in `many_kids` and no
// list: the apex (its list would be the whole zone, recopied by every delta)
// and nodes with 255 or more children; every other node's list is exact.
constexpr uint8_t kManyKids = 255;
struct ManyKids {
  uint32_t slot;
  uint32_t count;
};

struct Shard {
  std::vector<Slot> slots;
  std::vector<uint8_t> blob;  // 4-byte aligned nodes
  size_t names = 0;
  std::vector<uint8_t> kids;        // per slot: children count, or kManyKids
  std::vector<ManyKids> many_kids;  // sorted by slot
  std::vector<uint64_t>
      kid_hashes;  // name hashes of the children of nodes with kids < kManyKids, in slot order
  // What the answer engine precomputes for this shard's cut, CNAME and
  // wildcard-parent nodes (answer_prepare.hh, prepare_shard_answers): a
  // table of AnswerAux sorted by node offset, then their templates. Empty
  // for a shard without such nodes, so ordinary nodes cost nothing. Derived
  // only from the shard's own nodes, so a shard shared by a delta keeps a
  // valid table.
  std::vector<uint8_t> aux;
};

inline size_t shard_memory(const Shard& s) noexcept {
  return sizeof(Shard) + s.slots.capacity() * sizeof(Slot) + s.blob.capacity() + s.kids.capacity() +
         s.many_kids.capacity() * sizeof(ManyKids) + s.kid_hashes.capacity() * sizeof(uint64_t) +
         s.aux.capacity();
}

// Children of the node in `slot`: count, and their hashes (null when the
// node is in many_kids). Control thread; O(slots of the shard).
struct KidsOf {
  uint32_t count = 0;
  const uint64_t* list = nullptr;
};
inline KidsOf kids_of(const Shard& s, uint32_t slot) noexcept {
  if (s.kids.empty()) return {};
  if (s.kids[slot] == kManyKids) {
    size_t lo = 0, hi = s.many_kids.size();
    while (lo < hi) {
      size_t mid = (lo + hi) / 2;
      if (s.many_kids[mid].slot < slot) lo = mid + 1;
      else hi = mid;
    }
    return {lo < s.many_kids.size() && s.many_kids[lo].slot == slot ? s.many_kids[lo].count : 0,
            nullptr};
  }
  size_t at = 0;
  for (uint32_t i = 0; i < slot; ++i)
    if (s.kids[i] != kManyKids) at += s.kids[i];
  return {s.kids[slot], s.kid_hashes.data() + at};
}

}  // namespace edgedns::zones
