// Compile-time preparation of the answer engine's special answers (see
// answer_prepare.hh): per shard, the referral and CNAME templates; per zone
// version, the table of special nodes and the compressed negative-answer
// SOA. Runs once per compile or delta on the control thread (shards may be
// prepared on the compiler's two threads), off the query path; allocates.
#include "zones/answer_prepare.hh"

#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "zones/answer_common.hh"
#include "zones/name.hh"
#include "zones/zone.hh"

namespace edgedns::zones {

namespace {

// Length of the labels of `n` above `apex`, or -1 when `n` is not at or below it.
int above_apex(const uint8_t* n, size_t len, const uint8_t* apex, size_t al) noexcept {
  if (len < al || !name_equal(n + (len - al), al, apex, al)) return -1;
  size_t i = 0;
  while (i < len - al) i += size_t(n[i]) + 1;
  return i == len - al ? int(i) : -1;
}

// A cut's whole referral for one zone version (SpecialNode::full): its
// template, then the A and AAAA RRsets of each server (once per node) with
// their owners pointing at the server's name, exactly as fast_referral's
// per-server loop writes them. Not made when a server is missing (the
// general path looks for a wildcard) or the result would be too long.
void full_referral(SpecialNode& e, const AnswerAux& a, const uint8_t* base, const AuxTarget* t,
                   const uint8_t* const* nodes, std::vector<uint8_t>& out) {
  std::vector<uint8_t> bytes(base + a.data, base + a.data + a.tmpl_len);
  std::vector<uint16_t> ptrs;
  for (uint8_t i = 0; i < a.npatch; ++i) ptrs.push_back(rd16(base + a.data + a.tmpl_len + 2 * i));
  uint32_t ar = 0;
  std::vector<const uint8_t*> done;
  for (uint8_t i = 0; i < a.ntarget; ++i) {
    const uint8_t* n = nodes[i];
    if (!n || t[i].msg_pos == 0) return;
    if (std::find(done.begin(), done.end(), n) != done.end()) continue;
    done.push_back(n);
    for (uint16_t type : {rrtype::A, rrtype::AAAA}) {
      const RRsetRef r = node_rrset(n, type);
      if (!r) continue;
      const size_t at = bytes.size();
      bytes.resize(at + r.len);
      put_block_at(bytes.data() + at, r, t[i].msg_pos);
      size_t o = 0;
      for (uint16_t k = 0; k < r.count; ++k) {
        ptrs.push_back(uint16_t(at + o));
        o += 12 + size_t(rd16(r.block + o + 10));
      }
      ar += r.count;
    }
  }
  if (bytes.size() > 4096 || ar > UINT16_MAX || ptrs.size() > UINT16_MAX) return;
  e.full_sum = ones_acc(bytes.data(), bytes.size());
  e.full_odd = 0;
  for (uint16_t p : ptrs) e.full_odd = uint16_t(e.full_odd + (p & 1));
  e.full = uint32_t(out.size());
  e.full_len = uint16_t(bytes.size());
  e.full_ar = uint16_t(ar);
  e.full_npatch = uint16_t(ptrs.size());
  out.insert(out.end(), bytes.begin(), bytes.end());
  for (uint16_t p : ptrs) {
    out.push_back(uint8_t(p >> 8));
    out.push_back(uint8_t(p));
  }
}

// Builds Zone::special (see prepare_special).
struct SpecialBuilder {
  const Zone& z;
  std::vector<SpecialNode> table;
  std::vector<const uint8_t*> targets;
  std::vector<uint32_t> target_shards;
  std::vector<uint8_t> answers;
  unsigned bits;

  SpecialBuilder(const Zone& zone, size_t n) : z(zone) {
    bits = 1;
    while ((size_t(1) << bits) < 2 * n) ++bits;
    table.resize(size_t(1) << bits);
  }
  void insert(const SpecialNode& e) {
    size_t at = size_t(e.fp >> (64 - bits));
    while (table[at].node) at = (at + 1) & (table.size() - 1);
    table[at] = e;
  }
  // A node of shard `shard` with its entry `a` there: everything it reads looked up now.
  void add(const Shard& sh, uint32_t shard, const AnswerAux& a) {
    const uint8_t* base = sh.aux.data();
    SpecialNode e;
    e.node = sh.blob.data() + a.node_off;
    e.fp = special_fp(node_name(e.node), e.node[1]);
    e.aux = &a;
    e.aux_base = base;
    e.shard = shard;
    if (e.node[0] & node_flag::WildChild) {
      e.star = find_star(z, node_name(e.node), e.node[1], a.star_hash);
      e.star_shard = z.shard_index(a.star_hash);
    }
    e.targets = uint32_t(targets.size());
    if (a.tmpl_len) {
      const auto* t = reinterpret_cast<const AuxTarget*>(base + a.data + a.targets);
      e.ntargets = a.ntarget;
      for (uint8_t j = 0; j < a.ntarget; ++j) {
        targets.push_back(z.find(base + t[j].name_at, t[j].len, t[j].hash));
        target_shards.push_back(z.shard_index(t[j].hash));
      }
      if ((e.node[0] & node_flag::Cut) && !(e.node[0] & node_flag::Apex))
        full_referral(e, a, base, t, targets.data() + e.targets, answers);
    }
    insert(e);
  }
  void add_shard(const Shard& sh, uint32_t shard) {
    const size_t k = aux_count(sh);
    if (k == 0) return;
    const auto* ents = reinterpret_cast<const AnswerAux*>(sh.aux.data() + 8);
    for (size_t i = 0; i < k; ++i) add(sh, shard, ents[i]);
  }
  // An entry of the previous version whose node and every node it reads
  // sit in shards this version shares: the same answers, copied.
  void copy(const Zone& prev, const SpecialNode& old) {
    SpecialNode e = old;
    e.targets = uint32_t(targets.size());
    targets.insert(targets.end(), prev.special_targets.begin() + old.targets,
                   prev.special_targets.begin() + old.targets + old.ntargets);
    target_shards.insert(target_shards.end(), prev.special_target_shards.begin() + old.targets,
                         prev.special_target_shards.begin() + old.targets + old.ntargets);
    if (old.full_len) {
      e.full = uint32_t(answers.size());
      const uint8_t* from = prev.special_answers.data() + old.full;
      answers.insert(answers.end(), from, from + old.full_len + 2 * size_t(old.full_npatch));
    }
    insert(e);
  }
};

// Zone::special from the shards' tables, with the nodes each answer reads
// looked up in this version. From scratch it costs a visit of every shard
// and a few probes per special node; after a delta (`prev`: the version it
// was applied to) only the entries whose node, glue, target or "*" child sit
// in a rebuilt shard are made again, the others are copied.
void prepare_special(Zone& z, const Zone* prev) {
  z.memory -= std::min(z.memory, z.special_bytes);
  z.special.clear();
  z.special_targets.clear();
  z.special_target_shards.clear();
  z.special_answers.clear();
  z.special_bits = 0;
  z.special_bytes = 0;
  z.special_count = 0;
  const size_t nsh = z.shards.size();
  const bool incremental = prev && prev->shards.size() == nsh && prev->shard_bits == z.shard_bits &&
                           prev->special_count <= Zone::kMaxSpecial;
  std::vector<uint8_t> rebuilt;
  size_t n = 0;
  if (incremental) {
    rebuilt.assign(nsh, 0);
    n = prev->special_count;
    for (size_t i = 0; i < nsh; ++i) {
      if (z.shards[i] == prev->shards[i]) continue;
      rebuilt[i] = 1;
      n = n - aux_count(*prev->shards[i]) + aux_count(*z.shards[i]);
    }
  } else {
    for (const auto& sh : z.shards) n += aux_count(*sh);
  }
  z.special_count = n;
  if (n == 0 || n > Zone::kMaxSpecial) return;
  SpecialBuilder b(z, n);
  if (incremental) {
    for (const SpecialNode& e : prev->special) {
      if (!e.node || rebuilt[e.shard]) continue;  // its shard's entries are added below
      bool stale = e.star_shard != UINT32_MAX && rebuilt[e.star_shard];
      for (uint32_t j = 0; j < e.ntargets && !stale; ++j)
        stale = rebuilt[prev->special_target_shards[e.targets + j]];
      if (stale) b.add(*z.shards[e.shard], e.shard, *e.aux);
      else b.copy(*prev, e);
    }
    for (size_t i = 0; i < nsh; ++i)
      if (rebuilt[i]) b.add_shard(*z.shards[i], uint32_t(i));
  } else {
    for (size_t i = 0; i < nsh; ++i) b.add_shard(*z.shards[i], uint32_t(i));
  }
  z.special = std::move(b.table);
  z.special_targets = std::move(b.targets);
  z.special_target_shards = std::move(b.target_shards);
  z.special_answers = std::move(b.answers);
  z.special_bits = b.bits;
  z.special_bytes = z.special.capacity() * sizeof(SpecialNode) +
                    z.special_targets.capacity() * sizeof(const uint8_t*) +
                    z.special_target_shards.capacity() * sizeof(uint32_t) +
                    z.special_answers.capacity();
  z.memory += z.special_bytes;
}

}  // namespace

void prepare_answers(Zone& z, const Zone* previous) {
  z.apex_hash = name_hash(z.apex_lower, z.apex_len);
  prepare_special(z, previous);
  z.neg_soa_c.clear();
  z.neg_soa_ptr[0] = z.neg_soa_ptr[1] = 0;
  // A root apex has no labels to point at: the general writer handles it.
  if (z.neg_soa.size() < 12 || z.apex_len <= 1) return;
  const uint8_t* blk = z.neg_soa.data();
  const size_t rdlen = rd16(blk + 10);
  if (z.neg_soa.size() != 12 + rdlen) return;
  const uint8_t* rd = blk + 12;
  const size_t l1 = name_wire_length(rd, rdlen);
  const size_t l2 = l1 ? name_wire_length(rd + l1, rdlen - l1) : 0;
  if (l2 == 0 || l1 + l2 + 20 != rdlen) return;
  const int p1 = above_apex(rd, l1, z.apex_lower, z.apex_len);
  const int p2 = p1 < 0 ? -1 : above_apex(rd + l1, l2, z.apex_lower, z.apex_len);
  if (p2 < 0) return;
  const size_t nrd = size_t(p1) + 2 + size_t(p2) + 2 + 20;
  std::vector<uint8_t>& t = z.neg_soa_c;
  t.assign(blk, blk + 10);  // owner pointer (patched), type, class, TTL
  t.push_back(uint8_t(nrd >> 8));
  t.push_back(uint8_t(nrd));
  t.insert(t.end(), rd, rd + p1);
  z.neg_soa_ptr[0] = uint16_t(t.size());
  t.insert(t.end(), {0, 0});
  t.insert(t.end(), rd + l1, rd + l1 + p2);
  z.neg_soa_ptr[1] = uint16_t(t.size());
  t.insert(t.end(), {0, 0});
  t.insert(t.end(), rd + l1 + l2, rd + rdlen);  // serial .. minimum
}

namespace {

// A message whose question is `name`, with the compression table answer()
// starts from, for writing a template the way the general path would.
struct Sim {
  uint8_t buf[8192];
  Writer w;
  size_t start;
  Sim(const uint8_t* name, size_t len) noexcept {
    std::memset(buf, 0, kHeaderSize);
    std::memcpy(buf + kHeaderSize, name, len);
    std::memset(buf + kHeaderSize + len, 0, 4);
    w.buf = buf;
    w.limit = sizeof buf;
    w.pos = start = kHeaderSize + len + 4;
    w.remember_question(name, len);
  }
};

// Offsets (from the template's start) of the compression pointers in the
// owners and in the one RDATA name of each NS/CNAME record of a template.
bool template_pointers(const uint8_t* t, size_t len, uint16_t count, std::vector<uint16_t>& out) {
  auto walk = [&](size_t o, size_t end) -> size_t {
    while (o < end) {
      const uint8_t l = t[o];
      if (l == 0) return o + 1;
      if ((l & 0xc0) == 0xc0) {
        out.push_back(uint16_t(o));
        return o + 2;
      }
      o += size_t(l) + 1;
    }
    return SIZE_MAX;
  };
  size_t o = 0;
  for (uint16_t i = 0; i < count; ++i) {
    o = walk(o, len);
    if (o == SIZE_MAX || o + 10 > len) return false;
    const size_t rdlen = rd16(t + o + 8);
    o += 10;
    if (o + rdlen > len || walk(o, o + rdlen) == SIZE_MAX) return false;
    o += rdlen;
  }
  return o == len;
}

}  // namespace

void prepare_shard_answers(Shard& s, const uint8_t* apex, size_t apex_len) {
  std::vector<uint32_t> offs;
  for (const Slot& sl : s.slots) {
    if (sl.off == kEmptySlot) continue;
    if (s.blob[sl.off] & (node_flag::Cut | node_flag::Cname | node_flag::WildChild))
      offs.push_back(sl.off);
  }
  s.aux.clear();
  if (offs.empty()) {
    s.aux.shrink_to_fit();
    return;
  }
  std::sort(offs.begin(), offs.end());
  std::vector<AnswerAux> ents;
  std::vector<uint8_t> data;  // offsets relative to the data region, fixed up below
  for (uint32_t off : offs) {
    const uint8_t* nd = s.blob.data() + off;
    const uint8_t f = nd[0];
    const uint8_t* nm = node_name(nd);
    const size_t nl = nd[1];
    AnswerAux a{};
    a.node_off = off;
    if ((f & node_flag::WildChild) && nl + 2 <= kMaxName) {
      uint8_t wc[kMaxName];
      wc[0] = 1;
      wc[1] = '*';
      std::memcpy(wc + 2, nm, nl);
      a.star_hash = name_hash(wc, nl + 2);
    }
    const bool cut = (f & node_flag::Cut) && !(f & node_flag::Apex);
    const RRsetRef rs = node_rrset(nd, cut ? rrtype::NS : rrtype::CNAME);
    if (f & node_flag::Below || !rs || (!cut && rs.count != 1)) {
      ents.push_back(a);
      continue;
    }
    // The record(s) as Resolver::referral / run() write them first.
    auto sim = std::make_unique<Sim>(nm, nl);
    Writer& w = sim->w;
    const int nent0 = w.nent;
    bool ok = put_rrset(w, cut ? 1 : 0, rs.block, rs.len, rs.count, rs.type, nm, nl,
                        cut ? w.find(nm, nl) : int(kHeaderSize));
    std::vector<AuxTarget> targets;
    std::vector<std::vector<uint8_t>> names;
    const uint8_t* p = rs.block;
    for (uint16_t i = 0; ok && i < rs.count; ++i) {
      const size_t rdlen = rd16(p + 10);
      const size_t tl = name_wire_length(p + 12, rdlen);
      if (tl) {
        std::vector<uint8_t> low(p + 12, p + 12 + tl);
        name_to_lower(low.data(), tl);
        if (name_is_below_or_equal(low.data(), tl, apex, apex_len)) {
          AuxTarget t{};
          t.hash = name_hash(low.data(), tl);
          t.len = uint8_t(tl);
          const int at = w.find(p + 12, tl);
          t.msg_pos = at > 0 ? uint16_t(at) : 0;
          targets.push_back(t);
          names.push_back(std::move(low));
        }
      }
      p += 12 + rdlen;
    }
    const size_t tlen = w.pos - sim->start;
    const int extra = w.nent - nent0;
    std::vector<uint16_t> ptrs;
    // Usable only when nothing overflowed the table or the message and the
    // glue owners are all pointers (the general path writes them so then).
    ok = ok && targets.size() <= 32 && w.nent < kMaxComprEntries && tlen > 0 &&
         tlen <= UINT16_MAX && template_pointers(sim->buf + sim->start, tlen, rs.count, ptrs) &&
         ptrs.size() <= 255;
    if (ok) {
      a.data = uint32_t(data.size());
      a.tmpl_len = uint16_t(tlen);
      a.count = rs.count;
      a.npatch = uint8_t(ptrs.size());
      a.ntarget = uint8_t(targets.size());
      // The question has `steps` labels more than the node: the table must not overflow.
      a.max_steps = uint8_t(kMaxComprEntries - nent0 - extra);
      data.insert(data.end(), sim->buf + sim->start, sim->buf + w.pos);
      for (uint16_t x : ptrs) {
        data.push_back(uint8_t(x >> 8));
        data.push_back(uint8_t(x));
      }
      while ((data.size() - a.data) % 8) data.push_back(0);
      a.targets = uint16_t(data.size() - a.data);
      const size_t tstart = data.size();
      data.resize(tstart + targets.size() * sizeof(AuxTarget));
      for (size_t i = 0; i < targets.size(); ++i) {
        targets[i].name_at = uint32_t(data.size());  // relative for now
        data.insert(data.end(), names[i].begin(), names[i].end());
      }
      while (data.size() % 8) data.push_back(0);
      // name_at becomes absolute once the table's size is known (below).
      if (!targets.empty())  // (memcpy from a null pointer is undefined even for 0 bytes)
        std::memcpy(data.data() + tstart, targets.data(), targets.size() * sizeof(AuxTarget));
    }
    ents.push_back(a);
  }
  const size_t head = 8 + ents.size() * sizeof(AnswerAux);
  for (AnswerAux& a : ents) {
    if (a.tmpl_len == 0) continue;
    auto* t = reinterpret_cast<AuxTarget*>(data.data() + a.data + a.targets);
    for (uint8_t i = 0; i < a.ntarget; ++i) t[i].name_at += uint32_t(head);
    a.data += uint32_t(head);
  }
  std::vector<uint8_t> out(head + data.size());
  const uint32_t n = uint32_t(ents.size());
  std::memcpy(out.data(), &n, 4);
  if (!ents.empty()) std::memcpy(out.data() + 8, ents.data(), ents.size() * sizeof(AnswerAux));
  if (!data.empty()) std::memcpy(out.data() + head, data.data(), data.size());
  s.aux = std::move(out);
}

}  // namespace edgedns::zones
