// Engine-private layout of a compiled zone, shared by snapshot.cc (builder),
// answer.cc (reader) and check.cc (record grouping). Not an API: only zones/
// includes it.
//
// Layout (chosen so that a hit costs about two cache misses: slot, node):
//   Zone -> shards[hash >> (64 - shard_bits)] -> open-addressing slot array of
//   {tag, node offset} -> node in the shard's blob:
//     NodeHdr | name (lower-case wire) | pad to 4 | RRsetDir[n] | RR wire bytes
//   Each RR in the wire block is pre-encoded as it goes on the wire when its
//   owner is the question name: C0 0C | type | class | ttl | rdlen | rdata
//   (rdata uncompressed), so a plain hit is one memcpy.
// Shards exist so that a later delta (issue 4) can rebuild the few shards it
// touches and share every other shard with the previous version
// (shared_ptr<const Shard>), instead of copying a 1M-name zone.
// Beside the nodes, only for cuts, CNAMEs and wildcard parents: per shard,
// their referral / CNAME templates (Shard::aux, made with the shard); per
// zone version, a small table of them with the glue, target and "*" nodes
// they read resolved (Zone::special, made by prepare_answers). Ordinary
// nodes carry nothing extra.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "zones/name.hh"
#include "zones/snapshot.hh"
#include "zones/version.hh"
#include "zones/zone_data.hh"

namespace edgedns::zones {

namespace node_flag {
constexpr uint8_t Apex = 1 << 0;
constexpr uint8_t Cut = 1 << 1;        // NS at a non-apex name: a delegation
constexpr uint8_t Dname = 1 << 2;
constexpr uint8_t WildChild = 1 << 3;  // "*.<this name>" exists
constexpr uint8_t Ent = 1 << 4;        // empty non-terminal (no RRsets)
constexpr uint8_t Below = 1 << 5;      // strictly below a cut or DNAME: glue/occluded, not authoritative
constexpr uint8_t Cname = 1 << 6;
constexpr uint8_t Wildcard = 1 << 7;   // first label is "*"
}  // namespace node_flag

struct NodeHdr {
  uint8_t flags;
  uint8_t name_len;
  uint16_t nrrsets;
};

// One RRset of a node. The wire bytes of RRset i follow those of i-1, right
// after the directory. RRSIGs are kept as their own RRset (served as data);
// DO-answer assembly (later issue) will index them by covered type here.
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

// Children of each node, for deltas (issue 4): how many names (owners or
// ENTs) lie directly below it and, for most nodes, their name hashes, so that
// a delta that empties a name, or adds or removes a cut or DNAME, learns what
// lies below without scanning the zone. Kept per shard beside the slots
// (answer.cc never reads them) and copied on write with the shard.
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
  std::vector<uint8_t> kids;         // per slot: children count, or kManyKids
  std::vector<ManyKids> many_kids;   // sorted by slot
  std::vector<uint64_t> kid_hashes;  // name hashes of the children of nodes with kids < kManyKids, in slot order
  // What the answer engine precomputes for this shard's cut, CNAME and
  // wildcard-parent nodes (answer.cc, prepare_shard_answers): a table of
  // AnswerAux sorted by node offset, then their templates. Empty for a shard
  // without such nodes, so ordinary nodes cost nothing. Derived only from the
  // shard's own nodes, so a shard shared by a delta keeps a valid table.
  std::vector<uint8_t> aux;
};

// One special node's precomputed answer parts (see answer.cc). `data` is the
// offset in Shard::aux of its template (tmpl_len bytes), then npatch u16
// offsets of the compression pointers in it, then (8-aligned) ntarget AuxTargets.
struct AnswerAux {
  uint32_t node_off;
  uint32_t data;
  uint64_t star_hash;   // name_hash of "*.<node name>" (WildChild nodes)
  uint16_t tmpl_len;    // 0: no template (the general path answers)
  uint16_t count;       // RRs in the template
  uint16_t targets;     // offset of the AuxTargets from `data`
  uint8_t npatch;
  uint8_t ntarget;
  uint8_t max_steps;    // the template holds for questions of at most this many labels more than the node
  uint8_t pad[7];
};
static_assert(sizeof(AnswerAux) == 32);

// A name whose records follow a template (referral glue, CNAME target).
struct AuxTarget {
  uint64_t hash;     // name_hash of the lower-case name
  uint32_t name_at;  // lower-case wire name in Shard::aux
  uint16_t msg_pos;  // its offset in the message when the question is the node's own name; 0: none
  uint8_t len;
  uint8_t pad;
};
static_assert(sizeof(AuxTarget) == 16);

inline size_t shard_memory(const Shard& s) noexcept {
  return sizeof(Shard) + s.slots.capacity() * sizeof(Slot) + s.blob.capacity() + s.kids.capacity() +
         s.many_kids.capacity() * sizeof(ManyKids) + s.kid_hashes.capacity() * sizeof(uint64_t) + s.aux.capacity();
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
      if (s.many_kids[mid].slot < slot) lo = mid + 1; else hi = mid;
    }
    return {lo < s.many_kids.size() && s.many_kids[lo].slot == slot ? s.many_kids[lo].count : 0, nullptr};
  }
  size_t at = 0;
  for (uint32_t i = 0; i < slot; ++i)
    if (s.kids[i] != kManyKids) at += s.kids[i];
  return {s.kids[slot], s.kid_hashes.data() + at};
}

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

// A cut, CNAME or wildcard-parent node of one zone version with the nodes
// its answer reads, resolved when that version is built (so never stale).
struct SpecialNode {
  uint64_t fp = 0;                  // special_fp of the node's name
  const uint8_t* node = nullptr;    // null: empty table slot
  const AnswerAux* aux = nullptr;   // its entry in its shard's table
  const uint8_t* aux_base = nullptr;
  const uint8_t* star = nullptr;    // the "*.<name>" node, or null
  uint32_t targets = 0;             // first of `ntargets` nodes in Zone::special_targets (null: absent)
  uint32_t ntargets = 0;
  uint32_t shard = 0;               // of the node
  uint32_t star_shard = UINT32_MAX; // of the "*" child's name, when the node has one
  // A cut whose servers all exist: the whole referral (NS RRset, then glue)
  // as written for a question equal to the cut's name, at `full` in
  // Zone::special_answers, followed by the u16 offsets of its full_npatch
  // compression pointers. full_len 0: none.
  uint32_t full = 0;
  uint16_t full_len = 0;
  uint16_t full_ar = 0;
  uint16_t full_npatch = 0;
  uint16_t full_odd = 0;   // of those pointers, how many sit at odd offsets
  uint64_t full_sum = 0;   // ones_acc of the referral's bytes as stored
};
static_assert(sizeof(SpecialNode) == 80);

// Cheap fingerprint of a lower-case wire name for Zone::special: the
// answer engine computes it for a question's parent instead of an XXH3.
inline uint64_t special_fp(const uint8_t* n, size_t len) noexcept {
  uint64_t a = 0, b = 0;
  if (len >= 8) {
    std::memcpy(&a, n, 8);
    std::memcpy(&b, n + len - 8, 8);
  } else if (len >= 4) {
    uint32_t x, y;
    std::memcpy(&x, n, 4);
    std::memcpy(&y, n + len - 4, 4);
    a = x;
    b = y;
  } else if (len) {
    a = uint64_t(n[0]) | uint64_t(n[len / 2]) << 8 | uint64_t(n[len - 1]) << 16;
  }
  return (a * 0x9e3779b97f4a7c15ull) ^ ((b + len) * 0xc2b2ae3d27d4eb4full);
}

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
  // in L2 while answering) and what a delta pays to renew it (~40 us); a
  // zone with more special nodes reads their shards' tables instead.
  static constexpr size_t kMaxSpecial = 1024;
  std::vector<SpecialNode> special;
  std::vector<const uint8_t*> special_targets;
  std::vector<uint32_t> special_target_shards;  // the shard of each of special_targets' names
  size_t special_count = 0;                     // special nodes in the shards (also when the table is empty)
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

// Derives what the answer engine precomputes from a zone's data (answer.cc):
// the compressed negative-answer SOA and the table of special nodes. Called
// by every builder of a Zone (compile, delta) once its shards, apex and
// neg_soa are final, before publication; a delta passes the version it was
// applied to (`previous`, alive during the call), whose table is reused
// wherever the shards involved are shared.
void prepare_answers(Zone& z, const Zone* previous = nullptr);
// Fills Shard::aux from the shard's nodes (flags and blob final). Called by
// every builder of a shard (compile, delta) before publication; any thread.
void prepare_shard_answers(Shard& s, const uint8_t* apex, size_t apex_len);

// ---- record grouping shared by check.cc and snapshot.cc (control thread) ----

// One record in grouped order, carrying every field the checks and the
// compiler read, so that both walk this array front to back instead of
// jumping through ZoneData::records in hash order (a cache miss per record
// on a 1M-record zone). 32 bytes: two per cache line.
struct GroupEnt {
  uint64_t hash;       // name_hash of the owner
  uint32_t idx;        // index in ZoneData::records (file order)
  uint32_t owner_off;  // into ZoneData::arena
  uint32_t rdata_off;
  uint32_t ttl;
  uint16_t rdata_len;
  uint16_t type;
  uint16_t rclass;
  uint8_t owner_len;
  uint8_t pad;
};
static_assert(sizeof(GroupEnt) == 32);

// Records ordered by (owner hash, owner, type, rdata, file position): equal
// owners are adjacent and RRsets are contiguous. Built in O(n): one counting
// sort on the top hash bits (sequential reads of the records), then small
// sorts inside buckets (about 16 entries each).
struct Grouping {
  std::unique_ptr<GroupEnt[]> ents;  // default-initialised: every entry is written once
  size_t size = 0;
  std::vector<uint32_t> dir;         // bucket b: [dir[b], dir[b+1]), b = hash >> (64 - dir_bits)
  unsigned dir_bits = 0;

  // First entry whose owner is `lower` (hash `h`), or SIZE_MAX.
  size_t find(const ZoneData& z, const uint8_t* lower, size_t len, uint64_t h) const noexcept {
    if (size == 0) return SIZE_MAX;
    const size_t b = size_t(h >> (64 - dir_bits));
    for (size_t i = dir[b]; i < dir[b + 1]; ++i) {
      const GroupEnt& e = ents[i];
      if (e.hash > h) break;
      if (e.hash == h && e.owner_len == len && std::memcmp(z.arena.data() + e.owner_off, lower, len) == 0)
        return i;
    }
    return SIZE_MAX;
  }
};
Grouping group_records(const ZoneData& z);
// check_zone that also hands back its grouping (size 0 when records were
// dropped: the caller regroups).
void check_zone_grouped(ZoneData& z, std::vector<Diagnostic>& out, const CheckOptions& opts,
                        Grouping* grouping_out);
// compile_zone with a grouping already computed (load_zone_file shares the
// one check_zone made). `g` must match `d.records`.
std::shared_ptr<const Zone> compile_grouped(ZoneData&& d, Grouping g);

// True when both entries have the same owner (case-folded wire).
inline bool same_owner(const ZoneData& z, const GroupEnt& a, const GroupEnt& b) noexcept {
  return a.hash == b.hash && a.owner_len == b.owner_len &&
         (a.owner_off == b.owner_off ||
          std::memcmp(z.arena.data() + a.owner_off, z.arena.data() + b.owner_off, a.owner_len) == 0);
}

// Hands the pages of a buffer that will not be read again back to the kernel
// (MADV_DONTNEED), so that a big temporary shrinks while its replacement
// grows and peak RSS stays near the larger of the two, not their sum.
// [base, base + upto) is consumed; `done` remembers how far it was released.
void release_consumed(const void* base, size_t upto, size_t& done) noexcept;

}  // namespace edgedns::zones
