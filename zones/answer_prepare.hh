// What the answer engine precomputes so that a referral, a one-hop CNAME and
// a wildcard answer cost about a hit's price: the layouts its fast paths read
// and the functions that make them. Engine-private (only zones/ and its tests
// include it). The layouts are read on the query path (answer.cc); the
// prepare_* functions run once per compile or delta, on the control thread,
// and allocate (answer_prepare.cc).
//
// Only cuts, CNAMEs and wildcard parents carry anything, in two layers:
//  - per shard, made with the shard (Shard::aux, prepare_shard_answers): the
//    referral's NS RRset and the CNAME record exactly as the general path
//    writes them for a question equal to the node's name, and the name
//    hashes of the glue, the CNAME target and the "*" child. It depends on
//    the node alone, so a shard a delta shares keeps valid templates;
//  - per zone version (Zone::special, prepare_answers, up to
//    Zone::kMaxSpecial nodes): a table of the special nodes found by a cheap
//    fingerprint of the name (no XXH3 for the question's parent), with the
//    glue, target and "*" nodes of this version resolved (so never stale)
//    and each referral written out whole.
// Ordinary nodes carry nothing extra.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace edgedns::zones {

class Zone;
struct Shard;

// One special node's precomputed answer parts. `data` is the offset in
// Shard::aux of its template (tmpl_len bytes), then npatch u16 offsets of the
// compression pointers in it, then (8-aligned) ntarget AuxTargets.
struct AnswerAux {
  uint32_t node_off;
  uint32_t data;
  uint64_t star_hash;  // name_hash of "*.<node name>" (WildChild nodes)
  uint16_t tmpl_len;   // 0: no template (the general path answers)
  uint16_t count;      // RRs in the template
  uint16_t targets;    // offset of the AuxTargets from `data`
  uint8_t npatch;
  uint8_t ntarget;
  uint8_t
      max_steps;  // the template holds for questions of at most this many labels more than the node
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

// A cut, CNAME or wildcard-parent node of one zone version with the nodes
// its answer reads, resolved when that version is built (so never stale).
struct SpecialNode {
  uint64_t fp = 0;                 // special_fp of the node's name
  const uint8_t* node = nullptr;   // null: empty table slot
  const AnswerAux* aux = nullptr;  // its entry in its shard's table
  const uint8_t* aux_base = nullptr;
  const uint8_t* star = nullptr;  // the "*.<name>" node, or null
  uint32_t targets = 0;  // first of `ntargets` nodes in Zone::special_targets (null: absent)
  uint32_t ntargets = 0;
  uint32_t shard = 0;                // of the node
  uint32_t star_shard = UINT32_MAX;  // of the "*" child's name, when the node has one
  // A cut whose servers all exist: the whole referral (NS RRset, then glue)
  // as written for a question equal to the cut's name, at `full` in
  // Zone::special_answers, followed by the u16 offsets of its full_npatch
  // compression pointers. full_len 0: none.
  uint32_t full = 0;
  uint16_t full_len = 0;
  uint16_t full_ar = 0;
  uint16_t full_npatch = 0;
  uint16_t full_odd = 0;  // of those pointers, how many sit at odd offsets
  uint64_t full_sum = 0;  // ones_acc of the referral's bytes as stored
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

// Derives what the answer engine precomputes from a zone's data: the
// compressed negative-answer SOA and the table of special nodes. Called by
// every builder of a Zone (compile, delta) once its shards, apex and neg_soa
// are final, before publication; a delta passes the version it was applied
// to (`previous`, alive during the call), whose table is reused wherever the
// shards involved are shared. Control thread, allocates.
void prepare_answers(Zone& z, const Zone* previous = nullptr);
// Fills Shard::aux from the shard's nodes (flags and blob final). Called by
// every builder of a shard (compile, delta) before publication; any thread
// (the compiler builds shards on two), allocates.
void prepare_shard_answers(Shard& s, const uint8_t* apex, size_t apex_len);

}  // namespace edgedns::zones
