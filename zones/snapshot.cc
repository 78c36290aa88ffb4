// Compiler from checked ZoneData to the immutable sharded snapshot
// (node_layout.hh, shard.hh, zone.hh), plus ZoneSet (longest-match zone
// index). Control thread, allocates.
#include "zones/snapshot.hh"

#include <algorithm>
#include <bit>
#include <stdexcept>
#include <thread>
#include <unordered_set>

#include "zones/grouping.hh"
#include "zones/pages.hh"
#include "zones/zone.hh"

namespace edgedns::zones {

namespace {
// Below this many records a second thread costs more than it saves.
constexpr size_t kThreadedGroup = 200'000;

// Runs fn(0) on a new thread and fn(1) on this one (both when `two`), else fn(0) alone.
template <class F>
void on_two_threads(bool two, F&& fn) {
  if (!two) {
    fn(0);
    return;
  }
  std::thread t([&] { fn(0); });
  fn(1);
  t.join();
}
}  // namespace

Grouping group_records(const ZoneData& z) {
  Grouping g;
  const size_t n = z.records.size();
  g.size = n;
  // About 16 records per bucket, at most 64Ki buckets (a 256 KiB directory).
  unsigned bits = 1;
  while (bits < 16 && (n >> (bits + 4)) > 0) ++bits;
  g.dir_bits = bits;
  const size_t nb = size_t(1) << bits;
  g.dir.assign(nb + 1, 0);
  if (n == 0) return g;
  const Record* recs = z.records.data();
  const uint8_t* arena = z.arena.data();
  // A large zone is grouped by two threads: each counts and scatters one
  // half of the records (the first half's entries go first in every bucket,
  // so buckets hold file order exactly as with one thread), then each sorts
  // half of the buckets.
  const bool two = n >= kThreadedGroup;
  const size_t parts = two ? 2 : 1;
  const size_t cut[3] = {0, two ? n / 2 : n, n};
  // The owner hash is computed once per run of equal owners (the parser
  // shares the owner bytes of consecutive records), twice in all: cheaper
  // than an 8-byte-per-record array of hashes kept between the passes.
  auto each = [&](size_t from, size_t to, auto&& fn) {
    uint32_t last_off = UINT32_MAX;
    uint8_t last_len = 0;
    uint64_t h = 0;
    for (size_t i = from; i < to; ++i) {
      const Record& r = recs[i];
      if (r.owner_off != last_off || r.owner_len != last_len) {
        last_off = r.owner_off;
        last_len = r.owner_len;
        h = name_hash(arena + r.owner_off, r.owner_len);
      }
      fn(i, r, h);
    }
  };
  std::vector<uint32_t> count[2];
  on_two_threads(two, [&](size_t t) {
    count[t].assign(nb, 0);
    uint32_t* c = count[t].data();
    each(cut[t], cut[t + 1], [&](size_t, const Record&, uint64_t h) { ++c[h >> (64 - bits)]; });
  });
  uint32_t* dir = g.dir.data();
  std::vector<uint32_t> pos[2];
  for (size_t t = 0; t < parts; ++t) pos[t].resize(nb);
  for (size_t b = 0; b < nb; ++b) {
    uint32_t at = dir[b];
    for (size_t t = 0; t < parts; ++t) {
      pos[t][b] = at;
      at += count[t][b];
    }
    dir[b + 1] = at;
  }
  for (auto& c : count) { c.clear(); c.shrink_to_fit(); }
  g.ents.reset(new GroupEnt[n]);
  GroupEnt* E = g.ents.get();
  advise_huge_pages(E, n * sizeof(GroupEnt));  // filled at random positions by the scatter below
  auto less = [arena](const GroupEnt& p, const GroupEnt& q) {
    if (p.hash != q.hash) return p.hash < q.hash;
    if (p.owner_len != q.owner_len) return p.owner_len < q.owner_len;
    if (p.owner_off != q.owner_off) {
      int c = std::memcmp(arena + p.owner_off, arena + q.owner_off, p.owner_len);
      if (c) return c < 0;
    }
    if (p.type != q.type) return p.type < q.type;
    size_t m = std::min(p.rdata_len, q.rdata_len);
    int c = m ? std::memcmp(arena + p.rdata_off, arena + q.rdata_off, m) : 0;
    if (c) return c < 0;
    if (p.rdata_len != q.rdata_len) return p.rdata_len < q.rdata_len;
    return p.idx < q.idx;
  };
  auto sort_buckets = [&](size_t from, size_t to) {
    for (size_t b = from; b < to; ++b) {
      GroupEnt* lo = E + dir[b];
      GroupEnt* hi = E + dir[b + 1];
      if (hi - lo < 2) continue;
      if (hi - lo <= 24) {
        // Insertion sort: buckets are tiny and already in file order.
        for (GroupEnt* p = lo + 1; p < hi; ++p) {
          GroupEnt v = *p;
          GroupEnt* q = p;
          while (q > lo && less(v, q[-1])) { *q = q[-1]; --q; }
          *q = v;
        }
      } else {
        std::sort(lo, hi, less);
      }
    }
  };
  on_two_threads(two, [&](size_t t) {
    uint32_t* p = pos[t].data();
    each(cut[t], cut[t + 1], [&](size_t i, const Record& r, uint64_t h) {
      E[p[h >> (64 - bits)]++] = GroupEnt{h, uint32_t(i), r.owner_off, r.rdata_off, r.ttl,
                                          r.rdata_len, r.type, r.rclass, r.owner_len, 0};
    });
  });
  on_two_threads(two, [&](size_t t) { sort_buckets(t * nb / parts, (t + 1) * nb / parts); });
  return g;
}

namespace {

// A missing ancestor of some owner (empty non-terminal), or a name that some
// rule looks up by name (wildcard parents, cuts).
struct SideName {
  uint64_t hash;
  uint32_t off;  // into the arena (these are suffixes of owner names)
  uint8_t len;
};

bool side_less(const uint8_t* arena, const SideName& a, const SideName& b) {
  if (a.hash != b.hash) return a.hash < b.hash;
  if (a.len != b.len) return a.len < b.len;
  return std::memcmp(arena + a.off, arena + b.off, a.len) < 0;
}

void sort_unique(std::vector<SideName>& v, const uint8_t* arena) {
  std::sort(v.begin(), v.end(), [arena](const SideName& a, const SideName& b) { return side_less(arena, a, b); });
  v.erase(std::unique(v.begin(), v.end(),
                      [arena](const SideName& a, const SideName& b) {
                        return a.hash == b.hash && a.len == b.len &&
                               std::memcmp(arena + a.off, arena + b.off, a.len) == 0;
                      }),
          v.end());
}

bool side_has(const std::vector<SideName>& v, const uint8_t* arena, const uint8_t* name, size_t len, uint64_t h) {
  auto it = std::lower_bound(v.begin(), v.end(), h, [](const SideName& s, uint64_t x) { return s.hash < x; });
  for (; it != v.end() && it->hash == h; ++it)
    if (it->len == len && std::memcmp(arena + it->off, name, len) == 0) return true;
  return false;
}

inline void put16(uint8_t* p, uint16_t x) { p[0] = uint8_t(x >> 8); p[1] = uint8_t(x); }
inline void put32(uint8_t* p, uint32_t x) { put16(p, uint16_t(x >> 16)); put16(p + 2, uint16_t(x)); }
void put16(std::vector<uint8_t>& v, uint16_t x) { v.push_back(uint8_t(x >> 8)); v.push_back(uint8_t(x)); }
void put32(std::vector<uint8_t>& v, uint32_t x) { put16(v, uint16_t(x >> 16)); put16(v, uint16_t(x)); }

// A parent-child link for Shard::kids (children of the apex are only counted).
struct KidEdge {
  uint64_t parent, child;  // name hashes
};

// How far ahead the owner/RDATA bytes of grouped records are prefetched: the
// arena is in file order, the walk in hash order, so each is a DRAM miss.
constexpr size_t kPrefetch = 16;
// Per-bucket counters are kept at the finest shard granularity (4096 shards,
// 12 bits) and folded once the number of names, hence the shard bits, is known.
constexpr unsigned kMaxShardBits = 12;
// Below this many records a second thread costs more than it saves.
constexpr size_t kThreadedBuild = 200'000;

}  // namespace

std::shared_ptr<const Zone> compile_grouped(ZoneData&& d, Grouping g) {
  auto zone = std::make_shared<Zone>();
  zone->apex = d.origin.lower();
  zone->apex_len = uint8_t(zone->apex.size());
  std::memcpy(zone->apex_lower, zone->apex.data(), zone->apex.size());
  zone->apex_labels = uint8_t(zone->apex.label_count());
  zone->records = d.records.size();
  const uint8_t* apex = zone->apex_lower;
  const size_t apex_len = zone->apex_len;
  const uint64_t apex_hash = name_hash(apex, apex_len);
  // The grouping carries every record field needed from here on.
  { std::vector<Record> drop; drop.swap(d.records); }
  const uint8_t* arena = d.arena.data();
  const GroupEnt* E = g.ents.get();
  const size_t n = g.size;

  // 1. One pass over the owners (hash order): counts and bytes per finest
  //    shard, empty non-terminals, wildcard parents, cuts and DNAMEs.
  //    A large zone runs it on two threads, each over half of the
  //    grouping (split between two owners), and adds up their findings.
  constexpr size_t kFine = size_t(1) << kMaxShardBits;
  struct Pass1 {
    std::vector<uint32_t> fine_names, fine_records;
    std::vector<size_t> fine_bytes;
    std::vector<SideName> ents, wild_parents, cuts;
    std::vector<KidEdge> kid_edges;
    size_t apex_kids = 0;
    size_t owners = 0;
  };
  auto pass1 = [&](size_t from, size_t to, Pass1& acc) {
    acc.fine_names.assign(kFine, 0);
    acc.fine_records.assign(kFine, 0);
    acc.fine_bytes.assign(kFine, 0);
    const uint8_t* cached_parent = nullptr;  // last parent known to exist (or be an ENT)
    size_t cached_len = 0;
    uint64_t cached_hash = 0;
    for (size_t i = from; i < to;) {
      if (i + kPrefetch < to) __builtin_prefetch(arena + E[i + kPrefetch].owner_off);
      const GroupEnt& f = E[i];
      const uint8_t* o = arena + f.owner_off;
      size_t j = i + 1;
      size_t bytes = align4(sizeof(NodeHdr) + f.owner_len);
      bool cut = false;
      const bool is_apex = f.hash == apex_hash && name_equal(o, f.owner_len, apex, apex_len);
      for (size_t k = i; k < to && (k == i || same_owner(d, f, E[k])); ++k) {
        if (k == i || E[k].type != E[k - 1].type) bytes += sizeof(RRsetDir);
        bytes += 12 + E[k].rdata_len;
        if ((E[k].type == rrtype::NS && !is_apex) || E[k].type == rrtype::DNAME) cut = true;
        j = k + 1;
      }
      ++acc.owners;
      const size_t fb = size_t(f.hash >> (64 - kMaxShardBits));
      ++acc.fine_names[fb];
      acc.fine_records[fb] += uint32_t(j - i);
      acc.fine_bytes[fb] += align4(bytes);
      if (cut) acc.cuts.push_back(SideName{f.hash, f.owner_off, f.owner_len});
      if (!is_apex && lower_name_below_or_equal(o, f.owner_len, apex, apex_len)) {
        uint32_t off = f.owner_off + 1 + o[0];
        size_t len = f.owner_len - 1 - o[0];
        if (wire_is_wildcard(o, f.owner_len))
          acc.wild_parents.push_back(SideName{name_hash(arena + off, len), off, uint8_t(len)});
        if (!(len == cached_len && std::memcmp(cached_parent, arena + off, len) == 0)) {
          cached_parent = arena + off;
          cached_len = len;
          cached_hash = len == apex_len ? apex_hash : name_hash(arena + off, len);
          // Every missing ancestor down to the first existing one (the apex
          // exists). Both halves may find the same one: sort_unique below.
          for (bool first = true; len >= apex_len; first = false) {
            uint64_t h = first ? cached_hash : name_hash(arena + off, len);
            if (g.find(d, arena + off, len, h) != SIZE_MAX) break;
            acc.ents.push_back(SideName{h, off, uint8_t(len)});
            // A "*" that only has names below it is still a wildcard (RFC
            // 4592 §2.2.1): its parent has a wildcard child, which matches
            // with no data (Knot answers NODATA; a delta did so already).
            if (wire_is_wildcard(arena + off, len))
              acc.wild_parents.push_back(SideName{name_hash(arena + off + 2, len - 2), off + 2, uint8_t(len - 2)});
            if (len == apex_len) break;
            const uint8_t ll = arena[off];
            off += 1u + ll;
            len -= 1u + ll;
          }
        }
        if (cached_len == apex_len) ++acc.apex_kids;
        else acc.kid_edges.push_back(KidEdge{cached_hash, f.hash});
      }
      i = j;
    }
  };
  Pass1 acc[2];
  if (n >= kThreadedBuild) {
    size_t mid = n / 2;
    while (mid < n && same_owner(d, E[mid - 1], E[mid])) ++mid;
    std::thread t([&] { pass1(mid, n, acc[1]); });
    pass1(0, mid, acc[0]);
    t.join();
    Pass1& a = acc[0];
    Pass1& b = acc[1];
    for (size_t fb = 0; fb < kFine; ++fb) {
      a.fine_names[fb] += b.fine_names[fb];
      a.fine_records[fb] += b.fine_records[fb];
      a.fine_bytes[fb] += b.fine_bytes[fb];
    }
    a.ents.insert(a.ents.end(), b.ents.begin(), b.ents.end());
    a.wild_parents.insert(a.wild_parents.end(), b.wild_parents.begin(), b.wild_parents.end());
    a.cuts.insert(a.cuts.end(), b.cuts.begin(), b.cuts.end());
    a.kid_edges.insert(a.kid_edges.end(), b.kid_edges.begin(), b.kid_edges.end());
    a.apex_kids += b.apex_kids;
    a.owners += b.owners;
    b = Pass1{};
  } else {
    pass1(0, n, acc[0]);
  }
  std::vector<uint32_t> fine_names = std::move(acc[0].fine_names);
  std::vector<size_t> fine_bytes = std::move(acc[0].fine_bytes);
  std::vector<uint32_t> fine_records = std::move(acc[0].fine_records), fine_ents(kFine, 0);
  std::vector<SideName> ents = std::move(acc[0].ents), wild_parents = std::move(acc[0].wild_parents),
                        cuts = std::move(acc[0].cuts);
  std::vector<KidEdge> kid_edges = std::move(acc[0].kid_edges);
  size_t apex_kids = acc[0].apex_kids;
  const size_t owners = acc[0].owners;
  sort_unique(ents, arena);
  for (const SideName& e : ents) {
    const uint32_t off = e.off + 1u + arena[e.off];
    const size_t len = e.len - 1u - arena[e.off];
    if (len == apex_len) ++apex_kids;
    else kid_edges.push_back(KidEdge{name_hash(arena + off, len), e.hash});
  }
  // Links bucketed by the parent's finest shard (each shard sorts its own).
  std::vector<uint32_t> kdir(kFine + 1, 0);
  {
    for (const KidEdge& k : kid_edges) ++kdir[(k.parent >> (64 - kMaxShardBits)) + 1];
    for (size_t b = 0; b < kFine; ++b) kdir[b + 1] += kdir[b];
    std::vector<uint32_t> pos(kdir.begin(), kdir.end() - 1);
    std::vector<KidEdge> sorted(kid_edges.size());
    for (const KidEdge& k : kid_edges) sorted[pos[k.parent >> (64 - kMaxShardBits)]++] = k;
    kid_edges.swap(sorted);
  }
  sort_unique(wild_parents, arena);
  sort_unique(cuts, arena);
  for (const SideName& e : ents) {
    const size_t fb = size_t(e.hash >> (64 - kMaxShardBits));
    ++fine_names[fb];
    ++fine_ents[fb];
    fine_bytes[fb] += align4(sizeof(NodeHdr) + e.len);
  }

  // 2. Shards: about 256-512 names each, at most 4096 (issue 4 rebuilds only touched shards).
  const size_t names = owners + ents.size();
  unsigned bits = 0;
  while (bits < kMaxShardBits && (names >> bits) > 512) ++bits;
  zone->shard_bits = bits;
  const size_t nshards = size_t(1) << bits;

  // Flags that depend on other names: WildChild, Below.
  auto outer_flags = [&](const uint8_t* nm, size_t len, uint64_t h) {
    uint8_t fl = 0;
    if (!wild_parents.empty() && side_has(wild_parents, arena, nm, len, h)) fl |= node_flag::WildChild;
    if (!cuts.empty()) {
      size_t off = 0;
      for (;;) {
        uint8_t ll = nm[off];
        if (ll == 0) break;
        off += 1u + ll;
        if (len - off <= apex_len) break;
        if (side_has(cuts, arena, nm + off, len - off, name_hash(nm + off, len - off))) {
          fl |= node_flag::Below;
          break;
        }
      }
    }
    return fl;
  };

  // 3. Nodes, shard by shard, in hash order (owners and ENTs merged); the
  //    grouping is released as it is consumed, so peak RSS is about the
  //    arena plus the finished snapshot. Shards are independent: a large
  //    zone builds its two halves on two threads.
  const size_t fold = size_t(1) << (kMaxShardBits - bits);
  std::vector<std::shared_ptr<const Shard>> done_shards(nshards);
  GroupEnt apex_soa_copy{};
  bool have_apex_soa = false;
  VersionId half_version[2];  // each thread sums the record hashes of its shards
  auto build_range = [&](size_t sh_from, size_t sh_to, size_t k, size_t ent_i, VersionId& version) {
    size_t released = 0;
    const size_t first_k = k;
    std::vector<uint32_t> kid_start;  // per slot: first link in kid_edges
    for (size_t sh = sh_from; sh < sh_to; ++sh) {
      auto s = std::make_shared<Shard>();
      size_t count = 0, bytes = 0;
      for (size_t fb = sh * fold; fb < (sh + 1) * fold; ++fb) { count += fine_names[fb]; bytes += fine_bytes[fb]; }
      s->names = count;
      // Load factor 0.6: short unsuccessful probes (NXDOMAIN, closest-encloser walks).
      const uint32_t ns = count ? uint32_t(count * 5 / 3 + 2) : 0;
      s->slots.assign(ns, Slot{0, kEmptySlot});
      s->blob.resize(bytes);
      uint8_t* blob = s->blob.data();
      size_t at = 0;
      auto in_shard = [&](uint64_t h) { return (bits ? size_t(h >> (64 - bits)) : 0) == sh; };
      // Children: this shard's links in (parent, child) order, merged with
      // the nodes (inserted in hash order); lists laid out in slot order after.
      KidEdge* kb = kid_edges.data() + kdir[sh * fold];
      KidEdge* ke = kid_edges.data() + kdir[(sh + 1) * fold];
      std::sort(kb, ke, [](const KidEdge& a, const KidEdge& b) {
        return a.parent != b.parent ? a.parent < b.parent : a.child < b.child;
      });
      s->kids.assign(ns, 0);
      kid_start.assign(ns, 0);
      auto insert_slot = [&](uint64_t h) {
        uint32_t i = slot_home(h, bits, ns);
        while (s->slots[i].off != kEmptySlot) if (++i == ns) i = 0;
        s->slots[i] = Slot{uint32_t(h), uint32_t(at)};
        while (kb < ke && kb->parent < h) ++kb;  // only on a 64-bit hash collision
        const KidEdge* first = kb;
        while (kb < ke && kb->parent == h) ++kb;
        const size_t c = size_t(kb - first);
        if (c >= kManyKids) {
          s->kids[i] = kManyKids;
          s->many_kids.push_back(ManyKids{i, uint32_t(c)});
        } else {
          s->kids[i] = uint8_t(c);
          kid_start[i] = uint32_t(first - kid_edges.data());
        }
        return i;
      };
      for (;;) {
        const bool own = k < n && in_shard(E[k].hash);
        const bool ent = ent_i < ents.size() && in_shard(ents[ent_i].hash);
        if (!own && !ent) break;
        if (ent && (!own || ents[ent_i].hash < E[k].hash)) {
          const SideName& e = ents[ent_i++];
          const uint8_t* nm = arena + e.off;
          uint8_t fl = node_flag::Ent | outer_flags(nm, e.len, e.hash);
          if (wire_is_wildcard(nm, e.len)) fl |= node_flag::Wildcard;
          NodeHdr hdr{fl, e.len, 0};
          insert_slot(e.hash);
          std::memcpy(blob + at, &hdr, sizeof hdr);
          std::memcpy(blob + at + sizeof hdr, nm, e.len);
          at += align4(sizeof hdr + e.len);
          continue;
        }
        const GroupEnt& f = E[k];
        const uint8_t* nm = arena + f.owner_off;
        size_t j = k + 1;
        while (j < n && same_owner(d, f, E[j])) ++j;
        uint8_t fl = outer_flags(nm, f.owner_len, f.hash);
        const bool is_apex = f.hash == apex_hash && name_equal(nm, f.owner_len, apex, apex_len);
        if (is_apex) fl |= node_flag::Apex;
        if (wire_is_wildcard(nm, f.owner_len)) fl |= node_flag::Wildcard;
        uint16_t nrrsets = 0;
        for (size_t x = k; x < j; ++x) {
          const uint16_t t = E[x].type;
          if (x == k || t != E[x - 1].type) ++nrrsets;
          if (t == rrtype::NS && !is_apex) fl |= node_flag::Cut;
          if (t == rrtype::DNAME) fl |= node_flag::Dname;
          if (t == rrtype::CNAME) fl |= node_flag::Cname;
        }
        const uint32_t slot = insert_slot(f.hash);
        if (is_apex) {
          s->kids[slot] = kManyKids;
          s->many_kids.push_back(ManyKids{slot, uint32_t(apex_kids)});
        }
        NodeHdr hdr{fl, f.owner_len, nrrsets};
        std::memcpy(blob + at, &hdr, sizeof hdr);
        std::memcpy(blob + at + sizeof hdr, nm, f.owner_len);
        RRsetDir* dir = reinterpret_cast<RRsetDir*>(blob + at + align4(sizeof hdr + f.owner_len));
        uint8_t* w = reinterpret_cast<uint8_t*>(dir + nrrsets);
        for (size_t x = k; x < j; ++x) {
          if (x + kPrefetch < n) __builtin_prefetch(arena + E[x + kPrefetch].owner_off);
          const GroupEnt& r = E[x];
          if (x == k || r.type != E[x - 1].type) *dir++ = RRsetDir{r.type, 0, 0, 0, 0};
          dir[-1].count++;
          dir[-1].len += 12u + r.rdata_len;
          if (is_apex && r.type == rrtype::SOA && !have_apex_soa) { apex_soa_copy = r; have_apex_soa = true; }
          w[0] = 0xc0;
          w[1] = kHeaderSize;
          put16(w + 2, r.type);
          put16(w + 4, r.rclass);
          put32(w + 6, r.ttl);
          put16(w + 10, r.rdata_len);
          std::memcpy(w + 12, arena + r.rdata_off, r.rdata_len);
          version += record_hash(nm, f.owner_len, r.type, r.rclass, r.ttl, w + 12, r.rdata_len);
          w += 12 + r.rdata_len;
        }
        set_dir_sums(dir - nrrsets, nrrsets, reinterpret_cast<uint8_t*>(dir));
        at = align4(size_t(w - blob));
        k = j;
      }
      std::sort(s->many_kids.begin(), s->many_kids.end(),
                [](const ManyKids& a, const ManyKids& b) { return a.slot < b.slot; });
      size_t nkids = 0;
      for (uint32_t i = 0; i < ns; ++i)
        if (s->kids[i] != kManyKids) nkids += s->kids[i];
      s->kid_hashes.reserve(nkids);
      for (uint32_t i = 0; i < ns; ++i)
        if (s->kids[i] != kManyKids)
          for (uint32_t c = 0; c < s->kids[i]; ++c) s->kid_hashes.push_back(kid_edges[kid_start[i] + c].child);
      release_consumed(E + first_k, (k - first_k) * sizeof(GroupEnt), released);
      prepare_shard_answers(*s, apex, apex_len);
      done_shards[sh] = std::move(s);
    }
  };
  if (n >= kThreadedBuild && nshards >= 2) {
    // Where the second half starts in the grouping and in the ENT list.
    const size_t half = nshards / 2;
    const size_t fb_half = half * fold;
    size_t k_half = 0, ent_half = 0;
    for (size_t fb = 0; fb < fb_half; ++fb) { k_half += fine_records[fb]; ent_half += fine_ents[fb]; }
    std::thread t([&] { build_range(half, nshards, k_half, ent_half, half_version[1]); });
    build_range(0, half, 0, 0, half_version[0]);
    t.join();
  } else {
    build_range(0, nshards, 0, 0, half_version[0]);
  }
  zone->version = zones::apex_hash(apex, apex_len);
  zone->version += half_version[0];
  zone->version += half_version[1];
  const GroupEnt* apex_soa = have_apex_soa ? &apex_soa_copy : nullptr;
  size_t mem = sizeof(Zone);
  for (const auto& s : done_shards) {
    mem += shard_memory(*s);
    zone->views.push_back(ShardView{s->slots.data(), s->blob.data(), uint32_t(s->slots.size())});
  }
  zone->shards = std::move(done_shards);
  if (apex_soa) {
    const uint8_t* rd = arena + apex_soa->rdata_off;
    size_t l1 = name_wire_length(rd, apex_soa->rdata_len);
    size_t l2 = l1 ? name_wire_length(rd + l1, apex_soa->rdata_len - l1) : 0;
    if (l1 && l2 && l1 + l2 + 20 <= apex_soa->rdata_len) {
      zone->serial = rd32(rd + l1 + l2);
      uint32_t minimum = rd32(rd + l1 + l2 + 16);
      std::vector<uint8_t>& w = zone->neg_soa;
      w.push_back(0xc0);
      w.push_back(kHeaderSize);
      put16(w, rrtype::SOA);
      put16(w, apex_soa->rclass);
      put32(w, std::min(apex_soa->ttl, minimum));
      put16(w, apex_soa->rdata_len);
      w.insert(w.end(), rd, rd + apex_soa->rdata_len);
    }
  }
  zone->memory = mem + zone->neg_soa.size();
  g = Grouping{};
  { std::vector<uint8_t> drop; drop.swap(d.arena); }
  zone->apex_node = zone->find(zone->apex_lower, zone->apex_len, apex_hash);
  prepare_answers(*zone);
  return zone;
}

std::shared_ptr<const Zone> compile_zone(ZoneData&& data) {
  Grouping g = group_records(data);
  return compile_grouped(std::move(data), std::move(g));
}

const Name& zone_apex(const Zone& z) noexcept { return z.apex; }
uint32_t zone_serial(const Zone& z) noexcept { return z.serial; }
size_t zone_record_count(const Zone& z) noexcept { return z.records; }
size_t zone_memory_bytes(const Zone& z) noexcept { return z.memory; }

void zone_for_each_record(const Zone& z,
                          const std::function<void(const uint8_t*, size_t, uint16_t, uint16_t,
                                                   uint32_t, const uint8_t*, size_t)>& fn) {
  std::vector<const uint8_t*> nodes;
  for (const auto& v : z.views)
    for (uint32_t i = 0; i < v.nslots; ++i)
      if (v.slots[i].off != kEmptySlot) nodes.push_back(v.blob + v.slots[i].off);
  std::sort(nodes.begin(), nodes.end(), [](const uint8_t* a, const uint8_t* b) {
    return name_canonical_compare(node_name(a), a[1], node_name(b), b[1]) < 0;
  });
  for (const uint8_t* nd : nodes) {
    auto* h = reinterpret_cast<const NodeHdr*>(nd);
    const RRsetDir* dir = node_dir(nd);
    const uint8_t* w = node_wire(nd);
    for (uint16_t i = 0; i < h->nrrsets; ++i) {
      const uint8_t* p = w;
      for (uint16_t k = 0; k < dir[i].count; ++k) {
        uint16_t rdlen = rd16(p + 10);
        fn(node_name(nd), h->name_len, rd16(p + 2), rd16(p + 4), rd32(p + 6), p + 12, rdlen);
        p += 12 + rdlen;
      }
      w += dir[i].len;
    }
  }
}

size_t zoneset_memory_unique(std::span<const ZoneSet* const> sets) {
  std::unordered_set<const void*> seen;
  size_t total = 0;
  for (const ZoneSet* zs : sets) {
    if (!zs) continue;
    for (const auto& z : zs->zones()) {
      if (!seen.insert(z.get()).second) continue;
      // The zone's own part (its memory minus its shards), then each shard not seen yet.
      size_t own = z->memory;
      for (const auto& sh : z->shards) {
        const size_t m = shard_memory(*sh);
        own -= std::min(own, m);
        if (seen.insert(sh.get()).second) total += m;
      }
      total += own;
    }
  }
  return total;
}

// ---- ZoneSet ----

struct ZoneSet::Index {
  // Open addressing over apex hashes; a handful of zones per node is usual,
  // thousands must still be cheap.
  std::vector<std::pair<uint64_t, const Zone*>> slots;
  size_t mask = 0;
  uint64_t label_counts = 0;  // bit i: some apex has i labels (i < 64)
  int max_labels = 0;
};

ZoneSet::~ZoneSet() = default;

std::shared_ptr<const ZoneSet> ZoneSet::build(std::vector<std::shared_ptr<const Zone>> zones) {
  std::shared_ptr<ZoneSet> zs(new ZoneSet());
  zs->index_ = std::make_unique<Index>();
  Index& ix = *zs->index_;
  size_t cap = std::bit_ceil(std::max<size_t>(8, zones.size() * 2));
  ix.slots.assign(cap, {0, nullptr});
  ix.mask = cap - 1;
  for (const auto& z : zones) {
    if (!z) throw std::invalid_argument("null zone in zone set");
    uint64_t h = name_hash(z->apex_lower, z->apex_len);
    size_t i = h & ix.mask;
    while (ix.slots[i].second) {
      const Zone* o = ix.slots[i].second;
      if (name_equal(o->apex_lower, o->apex_len, z->apex_lower, z->apex_len))
        throw std::invalid_argument("zone " + z->apex.to_text() + " given twice");
      i = (i + 1) & ix.mask;
    }
    ix.slots[i] = {h, z.get()};
    int lc = z->apex_labels;
    if (lc < 64) ix.label_counts |= uint64_t(1) << lc;
    ix.max_labels = std::max(ix.max_labels, lc);
  }
  if (zones.size() <= kFew) {
    for (const auto& z : zones) zs->few_[zs->nfew_++] = Few{z->apex_lower, z->apex_len, z.get()};
    std::sort(zs->few_, zs->few_ + zs->nfew_, [](const Few& a, const Few& b) { return a.len > b.len; });
  }
  zs->zones_ = std::move(zones);
  return zs;
}

const Zone* ZoneSet::find_many(const uint8_t* lower, size_t len) const noexcept {
  const Index& ix = *index_;
  // Label start offsets of the name, so that suffixes are tried longest first.
  uint8_t starts[128];
  int nl = 0;
  for (size_t i = 0; i < len && lower[i] != 0 && nl < 127; i += size_t(lower[i]) + 1) starts[nl++] = uint8_t(i);
  starts[nl] = uint8_t(len - 1);  // the root label
  for (int k = 0; k <= nl; ++k) {
    int labels = nl - k;
    if (labels > ix.max_labels) continue;
    if (labels < 64 && !(ix.label_counts >> labels & 1)) continue;
    const uint8_t* s = lower + starts[k];
    size_t sl = len - starts[k];
    uint64_t h = name_hash(s, sl);
    for (size_t i = h & ix.mask; ix.slots[i].second; i = (i + 1) & ix.mask) {
      const Zone* z = ix.slots[i].second;
      if (ix.slots[i].first == h && z->apex_len == sl && bytes_equal(z->apex_lower, s, sl))
        return z;
    }
  }
  return nullptr;
}

}  // namespace edgedns::zones
