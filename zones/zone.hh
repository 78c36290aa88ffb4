// The Zone class: one compiled zone version (apex facts, its shards, the
// negative-answer SOA and the special-answer table). Engine-private (only
// zones/ and its tests include it; everyone else sees the opaque Zone of
// snapshot.hh). Built by the compiler (snapshot.cc) or a delta (delta.cc),
// then immutable: any thread reads it without locks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "zones/answer_prepare.hh"
#include "zones/name.hh"
#include "zones/node_layout.hh"
#include "zones/shard.hh"
#include "zones/version.hh"

namespace edgedns::zones {

class Zone {
 public:
  Name apex;
  uint32_t serial = 0;
  size_t records = 0;
  size_t memory = 0;
  unsigned shard_bits = 0;
  std::vector<std::shared_ptr<const Shard>> shards;
  std::vector<ShardView> views;
  const uint8_t* apex_node = nullptr;
  // The apex SOA pre-encoded for negative answers: TTL = min(SOA TTL, MINIMUM)
  // (RFC 2308 §3), owner field C0 0C to be patched.
  std::vector<uint8_t> neg_soa;
  // neg_soa as a negative answer writes it when both SOA names are in the
  // zone (the usual case): MNAME and RNAME as their labels above the apex and
  // a pointer to the apex. The owner (at 0) and those two pointers (at
  // neg_soa_ptr[]) are patched per answer with the apex's offset in the
  // question. Empty otherwise. Made by prepare_answers().
  std::vector<uint8_t> neg_soa_c;
  uint16_t neg_soa_ptr[2] = {0, 0};
  uint8_t apex_lower[kMaxName];
  uint8_t apex_len = 0;
  uint8_t apex_labels = 0;
  // Content id (version.hh): apex_hash + the sum of record_hash over every
  // record; computed by the compiler, updated in O(change) by a delta.
  VersionId version;
  // Below: what the answer engine's special paths read; kept after the
  // fields every answer reads so that those stay where they were.
  uint64_t apex_hash = 0;  // name_hash(apex_lower), set by prepare_answers()
  // The zone's special nodes (SpecialNode), open addressing on fp over
  // 2^special_bits slots; empty when there are none or more than
  // kMaxSpecial (the answer engine then hashes and probes). Made by
  // prepare_answers(); special_bytes of it are counted in `memory`.
  // Bounds the table (2^k slots of 80 bytes, at most 2048 here: ~160 KiB,
  // in L2 while answering) and what a delta pays to renew it (every
  // version has its own table); a zone with more special nodes reads their
  // shards' tables instead.
  static constexpr size_t kMaxSpecial = 1024;
  std::vector<SpecialNode> special;
  std::vector<const uint8_t*> special_targets;
  std::vector<uint32_t> special_target_shards;  // the shard of each of special_targets' names
  size_t special_count = 0;  // special nodes in the shards (also when the table is empty)
  std::vector<uint8_t> special_answers;
  unsigned special_bits = 0;
  size_t special_bytes = 0;

  // The shard of a name hash (its top shard_bits bits), and that shard's view.
  uint32_t shard_index(uint64_t hash) const noexcept {
    return shard_bits ? uint32_t(hash >> (64 - shard_bits)) : 0;
  }
  const ShardView& view_of(uint64_t hash) const noexcept { return views[shard_index(hash)]; }

  // Node for a lower-cased wire name, or null. Any thread, no allocation.
  const uint8_t* find(const uint8_t* lower, size_t len, uint64_t hash) const noexcept {
    const ShardView& s = view_of(hash);
    if (s.nslots == 0) return nullptr;
    uint32_t i = slot_home(hash, shard_bits, s.nslots);
    const uint32_t tag = uint32_t(hash);
    for (;;) {
      const Slot& sl = s.slots[i];
      if (sl.off == kEmptySlot) return nullptr;
      if (sl.tag == tag) {
        const uint8_t* n = s.blob + sl.off;
        if (n[1] == len && bytes_equal(n + sizeof(NodeHdr), lower, len)) return n;
      }
      if (++i == s.nslots) i = 0;
    }
  }
  const Slot* home_slot(uint64_t hash) const noexcept {
    const ShardView& s = view_of(hash);
    return s.nslots ? s.slots + slot_home(hash, shard_bits, s.nslots) : nullptr;
  }
};

}  // namespace edgedns::zones
