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
  for (auto& c : count) {
    c.clear();
    c.shrink_to_fit();
  }
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
          while (q > lo && less(v, q[-1])) {
            *q = q[-1];
            --q;
          }
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
      E[p[h >> (64 - bits)]++] = GroupEnt{h,           uint32_t(i), r.owner_off, r.rdata_off, r.ttl,
                                          r.rdata_len, r.type,      r.rclass,    r.owner_len, 0};
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
  std::sort(v.begin(), v.end(),
            [arena](const SideName& a, const SideName& b) { return side_less(arena, a, b); });
  v.erase(std::unique(v.begin(), v.end(),
                      [arena](const SideName& a, const SideName& b) {
                        return a.hash == b.hash && a.len == b.len &&
                               std::memcmp(arena + a.off, arena + b.off, a.len) == 0;
                      }),
          v.end());
}

bool side_has(const std::vector<SideName>& v, const uint8_t* arena, const uint8_t* name, size_t len,
              uint64_t h) {
  auto it = std::lower_bound(v.begin(), v.end(), h,
                             [](const SideName& s, uint64_t x) { return s.hash < x; });
  for (; it != v.end() && it->hash == h; ++it)
    if (it->len == len && std::memcmp(arena + it->off, name, len) == 0) return true;
  return false;
}

inline void put16(uint8_t* p, uint16_t x) {
  p[0] = uint8_t(x >> 8);
  p[1] = uint8_t(x);
}
inline void put32(uint8_t* p, uint32_t x) {
  put16(p, uint16_t(x >> 16));
  put16(p + 2, uint16_t(x));
}
void put16(std::vector<uint8_t>& v, uint16_t x) {
  v.push_back(uint8_t(x >> 8));
  v.push_back(uint8_t(x));
}
void put32(std::vector<uint8_t>& v, uint32_t x) {
  put16(v, uint16_t(x >> 16));
  put16(v, uint16_t(x));
}

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

constexpr size_t kFine = size_t(1) << kMaxShardBits;

// What the owner scan finds in one range of the grouping.
struct OwnerScan {
  std::vector<uint32_t> fine_names, fine_records;
  std::vector<size_t> fine_bytes;
  std::vector<SideName> ents, wild_parents, cuts;
  std::vector<KidEdge> kid_edges;
  size_t apex_kids = 0;
  size_t owners = 0;

  // Adds the other half's findings to this one.
  void merge(OwnerScan&& b) {
    for (size_t fb = 0; fb < kFine; ++fb) {
      fine_names[fb] += b.fine_names[fb];
      fine_records[fb] += b.fine_records[fb];
      fine_bytes[fb] += b.fine_bytes[fb];
    }
    ents.insert(ents.end(), b.ents.begin(), b.ents.end());
    wild_parents.insert(wild_parents.end(), b.wild_parents.begin(), b.wild_parents.end());
    cuts.insert(cuts.end(), b.cuts.begin(), b.cuts.end());
    kid_edges.insert(kid_edges.end(), b.kid_edges.begin(), b.kid_edges.end());
    apex_kids += b.apex_kids;
    owners += b.owners;
    b = OwnerScan{};
  }
};

// One shard being filled: its slots and blob, where the next node goes, and
// its children links still to be matched with the nodes.
struct ShardFill {
  std::shared_ptr<Shard> s;
  uint32_t ns = 0;  // slots
  size_t at = 0;    // next node's offset in the blob
  KidEdge* kb = nullptr;
  KidEdge* ke = nullptr;
  std::vector<uint32_t>* kid_start = nullptr;  // per slot: first link in kid_edges
};

// compile_grouped in its phases: scan the owners, settle the names that are
// not owners (ENTs, wildcard parents, cuts) and the children links, choose
// the shard count, build the shards, then the zone's own fields.
class Compiler {
 public:
  Compiler(ZoneData& d, Grouping& g) : d_(d), g_(g) {}

  std::shared_ptr<const Zone> run() {
    start_zone();
    // The grouping carries every record field needed from here on.
    {
      std::vector<Record> drop;
      drop.swap(d_.records);
    }
    arena_ = d_.arena.data();
    E_ = g_.ents.get();
    n_ = g_.size;
    scan();
    link_names();
    choose_shards();
    build_shards();
    finish();
    return zone_;
  }

 private:
  ZoneData& d_;
  Grouping& g_;
  std::shared_ptr<Zone> zone_ = std::make_shared<Zone>();
  const uint8_t* apex_ = nullptr;
  size_t apex_len_ = 0;
  uint64_t apex_hash_ = 0;
  const uint8_t* arena_ = nullptr;
  const GroupEnt* E_ = nullptr;
  size_t n_ = 0;
  // Found by the owner scan and link_names, per finest shard or in all.
  std::vector<uint32_t> fine_names_, fine_records_, fine_ents_;
  std::vector<size_t> fine_bytes_;
  std::vector<SideName> ents_, wild_parents_, cuts_;
  std::vector<KidEdge> kid_edges_;  // bucketed by the parent's finest shard
  std::vector<uint32_t> kdir_;      // bucket b: [kdir_[b], kdir_[b+1]) of kid_edges_
  size_t apex_kids_ = 0;
  size_t owners_ = 0;
  // The shards.
  unsigned bits_ = 0;
  size_t nshards_ = 0;
  size_t fold_ = 0;  // finest shards per shard
  std::vector<std::shared_ptr<const Shard>> done_shards_;
  GroupEnt apex_soa_copy_{};  // written by the one thread that builds the apex's shard
  bool have_apex_soa_ = false;
  VersionId half_version_[2];  // each thread sums the record hashes of its shards

  void start_zone() {
    Zone& z = *zone_;
    z.apex = d_.origin.lower();
    z.apex_len = uint8_t(z.apex.size());
    std::memcpy(z.apex_lower, z.apex.data(), z.apex.size());
    z.apex_labels = uint8_t(z.apex.label_count());
    z.records = d_.records.size();
    apex_ = z.apex_lower;
    apex_len_ = z.apex_len;
    apex_hash_ = name_hash(apex_, apex_len_);
  }

  // 1. One pass over the owners (hash order): counts and bytes per finest
  //    shard, empty non-terminals, wildcard parents, cuts and DNAMEs.
  void scan_owners(size_t from, size_t to, OwnerScan& acc) const {
    const uint8_t* arena = arena_;
    const GroupEnt* E = E_;
    const uint8_t* apex = apex_;
    const size_t apex_len = apex_len_;
    const uint64_t apex_hash = apex_hash_;
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
      for (size_t k = i; k < to && (k == i || same_owner(d_, f, E[k])); ++k) {
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
            if (g_.find(d_, arena + off, len, h) != SIZE_MAX) break;
            acc.ents.push_back(SideName{h, off, uint8_t(len)});
            // A "*" that only has names below it is still a wildcard (RFC
            // 4592 §2.2.1): its parent has a wildcard child, which matches
            // with no data (Knot answers NODATA; a delta did so already).
            if (wire_is_wildcard(arena + off, len))
              acc.wild_parents.push_back(
                  SideName{name_hash(arena + off + 2, len - 2), off + 2, uint8_t(len - 2)});
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
  }

  // The owner scan, on two threads for a large zone (each over half of the
  // grouping, split between two owners), its findings added up.
  void scan() {
    OwnerScan acc[2];
    if (n_ >= kThreadedBuild) {
      size_t mid = n_ / 2;
      while (mid < n_ && same_owner(d_, E_[mid - 1], E_[mid])) ++mid;
      std::thread t([&] { scan_owners(mid, n_, acc[1]); });
      scan_owners(0, mid, acc[0]);
      t.join();
      acc[0].merge(std::move(acc[1]));
    } else {
      scan_owners(0, n_, acc[0]);
    }
    OwnerScan& a = acc[0];
    fine_names_ = std::move(a.fine_names);
    fine_bytes_ = std::move(a.fine_bytes);
    fine_records_ = std::move(a.fine_records);
    fine_ents_.assign(kFine, 0);
    ents_ = std::move(a.ents);
    wild_parents_ = std::move(a.wild_parents);
    cuts_ = std::move(a.cuts);
    kid_edges_ = std::move(a.kid_edges);
    apex_kids_ = a.apex_kids;
    owners_ = a.owners;
  }

  // The names found beside the owners, made unique; the ENTs' own children
  // links and their share of the finest shards; every link bucketed by its
  // parent's finest shard (each shard sorts its own).
  void link_names() {
    const uint8_t* arena = arena_;
    sort_unique(ents_, arena);
    for (const SideName& e : ents_) {
      const uint32_t off = e.off + 1u + arena[e.off];
      const size_t len = e.len - 1u - arena[e.off];
      if (len == apex_len_) ++apex_kids_;
      else kid_edges_.push_back(KidEdge{name_hash(arena + off, len), e.hash});
    }
    kdir_.assign(kFine + 1, 0);
    for (const KidEdge& k : kid_edges_) ++kdir_[(k.parent >> (64 - kMaxShardBits)) + 1];
    for (size_t b = 0; b < kFine; ++b) kdir_[b + 1] += kdir_[b];
    {
      std::vector<uint32_t> pos(kdir_.begin(), kdir_.end() - 1);
      std::vector<KidEdge> sorted(kid_edges_.size());
      for (const KidEdge& k : kid_edges_) sorted[pos[k.parent >> (64 - kMaxShardBits)]++] = k;
      kid_edges_.swap(sorted);
    }
    sort_unique(wild_parents_, arena);
    sort_unique(cuts_, arena);
    for (const SideName& e : ents_) {
      const size_t fb = size_t(e.hash >> (64 - kMaxShardBits));
      ++fine_names_[fb];
      ++fine_ents_[fb];
      fine_bytes_[fb] += align4(sizeof(NodeHdr) + e.len);
    }
  }

  // 2. Shards: about 256-512 names each, at most 4096, so that a delta
  //    rebuilds a small part of a big zone.
  void choose_shards() {
    const size_t names = owners_ + ents_.size();
    unsigned bits = 0;
    while (bits < kMaxShardBits && (names >> bits) > 512) ++bits;
    bits_ = bits;
    zone_->shard_bits = bits;
    nshards_ = size_t(1) << bits;
    fold_ = size_t(1) << (kMaxShardBits - bits);
    done_shards_.resize(nshards_);
  }

  // Flags that depend on other names: WildChild, Below.
  uint8_t outer_flags(const uint8_t* nm, size_t len, uint64_t h) const {
    uint8_t fl = 0;
    if (!wild_parents_.empty() && side_has(wild_parents_, arena_, nm, len, h))
      fl |= node_flag::WildChild;
    if (!cuts_.empty()) {
      size_t off = 0;
      for (;;) {
        uint8_t ll = nm[off];
        if (ll == 0) break;
        off += 1u + ll;
        if (len - off <= apex_len_) break;
        if (side_has(cuts_, arena_, nm + off, len - off, name_hash(nm + off, len - off))) {
          fl |= node_flag::Below;
          break;
        }
      }
    }
    return fl;
  }

  // 3. Nodes, shard by shard, in hash order (owners and ENTs merged); the
  //    grouping is released as it is consumed, so peak RSS is about the
  //    arena plus the finished snapshot. Shards are independent: a large
  //    zone builds its two halves on two threads.
  void build_shards() {
    if (n_ >= kThreadedBuild && nshards_ >= 2) {
      // Where the second half starts in the grouping and in the ENT list.
      const size_t half = nshards_ / 2;
      const size_t fb_half = half * fold_;
      size_t k_half = 0, ent_half = 0;
      for (size_t fb = 0; fb < fb_half; ++fb) {
        k_half += fine_records_[fb];
        ent_half += fine_ents_[fb];
      }
      std::thread t([&] { build_range(half, nshards_, k_half, ent_half, half_version_[1]); });
      build_range(0, half, 0, 0, half_version_[0]);
      t.join();
    } else {
      build_range(0, nshards_, 0, 0, half_version_[0]);
    }
  }

  // Shards [sh_from, sh_to), whose nodes start at grouping entry `k` and ENT `ent_i`.
  void build_range(size_t sh_from, size_t sh_to, size_t k, size_t ent_i, VersionId& version) {
    size_t released = 0;
    const size_t first_k = k;
    std::vector<uint32_t> kid_start;
    for (size_t sh = sh_from; sh < sh_to; ++sh) {
      auto s = build_shard(sh, k, ent_i, version, kid_start);
      release_consumed(E_ + first_k, (k - first_k) * sizeof(GroupEnt), released);
      prepare_shard_answers(*s, apex_, apex_len_);
      done_shards_[sh] = std::move(s);
    }
  }

  // One shard: its owners (from grouping entry `k`) and ENTs (from `ent_i`)
  // in hash order, both advanced past it.
  std::shared_ptr<Shard> build_shard(size_t sh, size_t& k, size_t& ent_i, VersionId& version,
                                     std::vector<uint32_t>& kid_start) {
    ShardFill f;
    f.s = std::make_shared<Shard>();
    Shard& s = *f.s;
    size_t count = 0, bytes = 0;
    for (size_t fb = sh * fold_; fb < (sh + 1) * fold_; ++fb) {
      count += fine_names_[fb];
      bytes += fine_bytes_[fb];
    }
    s.names = count;
    // Load factor 0.6: short unsuccessful probes (NXDOMAIN, closest-encloser walks).
    f.ns = count ? uint32_t(count * 5 / 3 + 2) : 0;
    s.slots.assign(f.ns, Slot{0, kEmptySlot});
    s.blob.resize(bytes);
    // Children: this shard's links in (parent, child) order, merged with
    // the nodes (inserted in hash order); lists laid out in slot order after.
    f.kb = kid_edges_.data() + kdir_[sh * fold_];
    f.ke = kid_edges_.data() + kdir_[(sh + 1) * fold_];
    std::sort(f.kb, f.ke, [](const KidEdge& a, const KidEdge& b) {
      return a.parent != b.parent ? a.parent < b.parent : a.child < b.child;
    });
    s.kids.assign(f.ns, 0);
    kid_start.assign(f.ns, 0);
    f.kid_start = &kid_start;
    const unsigned bits = bits_;
    auto in_shard = [&](uint64_t h) { return (bits ? size_t(h >> (64 - bits)) : 0) == sh; };
    for (;;) {
      const bool own = k < n_ && in_shard(E_[k].hash);
      const bool ent = ent_i < ents_.size() && in_shard(ents_[ent_i].hash);
      if (!own && !ent) break;
      if (ent && (!own || ents_[ent_i].hash < E_[k].hash)) put_ent(f, ents_[ent_i++]);
      else k = put_owner(f, k, version);
    }
    lay_out_kids(s, kid_start);
    return std::move(f.s);
  }

  // Takes the slot of a name about to be written at f.at, with its children.
  uint32_t insert_slot(ShardFill& f, uint64_t h) const {
    Shard& s = *f.s;
    const uint32_t ns = f.ns;
    uint32_t i = slot_home(h, bits_, ns);
    while (s.slots[i].off != kEmptySlot)
      if (++i == ns) i = 0;
    s.slots[i] = Slot{uint32_t(h), uint32_t(f.at)};
    while (f.kb < f.ke && f.kb->parent < h) ++f.kb;  // only on a 64-bit hash collision
    const KidEdge* first = f.kb;
    while (f.kb < f.ke && f.kb->parent == h) ++f.kb;
    const size_t c = size_t(f.kb - first);
    if (c >= kManyKids) {
      s.kids[i] = kManyKids;
      s.many_kids.push_back(ManyKids{i, uint32_t(c)});
    } else {
      s.kids[i] = uint8_t(c);
      (*f.kid_start)[i] = uint32_t(first - kid_edges_.data());
    }
    return i;
  }

  // An empty non-terminal: a header and its name.
  void put_ent(ShardFill& f, const SideName& e) const {
    uint8_t* blob = f.s->blob.data();
    const uint8_t* nm = arena_ + e.off;
    uint8_t fl = node_flag::Ent | outer_flags(nm, e.len, e.hash);
    if (wire_is_wildcard(nm, e.len)) fl |= node_flag::Wildcard;
    NodeHdr hdr{fl, e.len, 0};
    insert_slot(f, e.hash);
    std::memcpy(blob + f.at, &hdr, sizeof hdr);
    std::memcpy(blob + f.at + sizeof hdr, nm, e.len);
    f.at += align4(sizeof hdr + e.len);
  }

  // The owner of grouping entries [k, j): its node with every RRset
  // pre-encoded; returns j. Adds the records' hashes to `version`.
  size_t put_owner(ShardFill& f, size_t k, VersionId& version) {
    Shard& s = *f.s;
    uint8_t* blob = s.blob.data();
    const GroupEnt* E = E_;
    const uint8_t* arena = arena_;
    const size_t n = n_;
    const GroupEnt& g = E[k];
    const uint8_t* nm = arena + g.owner_off;
    size_t j = k + 1;
    while (j < n && same_owner(d_, g, E[j])) ++j;
    uint8_t fl = outer_flags(nm, g.owner_len, g.hash);
    const bool is_apex = g.hash == apex_hash_ && name_equal(nm, g.owner_len, apex_, apex_len_);
    if (is_apex) fl |= node_flag::Apex;
    if (wire_is_wildcard(nm, g.owner_len)) fl |= node_flag::Wildcard;
    uint16_t nrrsets = 0;
    for (size_t x = k; x < j; ++x) {
      const uint16_t t = E[x].type;
      if (x == k || t != E[x - 1].type) ++nrrsets;
      if (t == rrtype::NS && !is_apex) fl |= node_flag::Cut;
      if (t == rrtype::DNAME) fl |= node_flag::Dname;
      if (t == rrtype::CNAME) fl |= node_flag::Cname;
    }
    const uint32_t slot = insert_slot(f, g.hash);
    if (is_apex) {
      s.kids[slot] = kManyKids;
      s.many_kids.push_back(ManyKids{slot, uint32_t(apex_kids_)});
    }
    NodeHdr hdr{fl, g.owner_len, nrrsets};
    std::memcpy(blob + f.at, &hdr, sizeof hdr);
    std::memcpy(blob + f.at + sizeof hdr, nm, g.owner_len);
    RRsetDir* dir = reinterpret_cast<RRsetDir*>(blob + f.at + align4(sizeof hdr + g.owner_len));
    uint8_t* w = reinterpret_cast<uint8_t*>(dir + nrrsets);
    for (size_t x = k; x < j; ++x) {
      if (x + kPrefetch < n) __builtin_prefetch(arena + E[x + kPrefetch].owner_off);
      const GroupEnt& r = E[x];
      if (x == k || r.type != E[x - 1].type) *dir++ = RRsetDir{r.type, 0, 0, 0, 0};
      dir[-1].count++;
      dir[-1].len += 12u + r.rdata_len;
      if (is_apex && r.type == rrtype::SOA && !have_apex_soa_) {
        apex_soa_copy_ = r;
        have_apex_soa_ = true;
      }
      w[0] = 0xc0;
      w[1] = kHeaderSize;
      put16(w + 2, r.type);
      put16(w + 4, r.rclass);
      put32(w + 6, r.ttl);
      put16(w + 10, r.rdata_len);
      std::memcpy(w + 12, arena + r.rdata_off, r.rdata_len);
      version += record_hash(nm, g.owner_len, r.type, r.rclass, r.ttl, w + 12, r.rdata_len);
      w += 12 + r.rdata_len;
    }
    set_dir_sums(dir - nrrsets, nrrsets, reinterpret_cast<uint8_t*>(dir));
    f.at = align4(size_t(w - blob));
    return j;
  }

  // The shard's children lists, in slot order, once every node is in.
  void lay_out_kids(Shard& s, const std::vector<uint32_t>& kid_start) const {
    const size_t ns = s.slots.size();
    std::sort(s.many_kids.begin(), s.many_kids.end(),
              [](const ManyKids& a, const ManyKids& b) { return a.slot < b.slot; });
    size_t nkids = 0;
    for (uint32_t i = 0; i < ns; ++i)
      if (s.kids[i] != kManyKids) nkids += s.kids[i];
    s.kid_hashes.reserve(nkids);
    for (uint32_t i = 0; i < ns; ++i)
      if (s.kids[i] != kManyKids)
        for (uint32_t c = 0; c < s.kids[i]; ++c)
          s.kid_hashes.push_back(kid_edges_[kid_start[i] + c].child);
  }

  // The negative-answer SOA (RFC 2308 §3: TTL = min(SOA TTL, MINIMUM)) and the serial.
  void set_neg_soa(const GroupEnt& soa) {
    const uint8_t* rd = arena_ + soa.rdata_off;
    size_t l1 = name_wire_length(rd, soa.rdata_len);
    size_t l2 = l1 ? name_wire_length(rd + l1, soa.rdata_len - l1) : 0;
    if (!(l1 && l2 && l1 + l2 + 20 <= soa.rdata_len)) return;
    zone_->serial = rd32(rd + l1 + l2);
    uint32_t minimum = rd32(rd + l1 + l2 + 16);
    std::vector<uint8_t>& w = zone_->neg_soa;
    w.push_back(0xc0);
    w.push_back(kHeaderSize);
    put16(w, rrtype::SOA);
    put16(w, soa.rclass);
    put32(w, std::min(soa.ttl, minimum));
    put16(w, soa.rdata_len);
    w.insert(w.end(), rd, rd + soa.rdata_len);
  }

  // The zone's own fields once its shards are built; the parsed data is
  // dropped before the answer tables are made.
  void finish() {
    Zone& z = *zone_;
    z.version = zones::apex_hash(apex_, apex_len_);
    z.version += half_version_[0];
    z.version += half_version_[1];
    size_t mem = sizeof(Zone);
    for (const auto& s : done_shards_) {
      mem += shard_memory(*s);
      z.views.push_back(ShardView{s->slots.data(), s->blob.data(), uint32_t(s->slots.size())});
    }
    z.shards = std::move(done_shards_);
    if (have_apex_soa_) set_neg_soa(apex_soa_copy_);
    z.memory = mem + z.neg_soa.size();
    g_ = Grouping{};
    {
      std::vector<uint8_t> drop;
      drop.swap(d_.arena);
    }
    z.apex_node = z.find(z.apex_lower, z.apex_len, apex_hash_);
    prepare_answers(z);
  }
};

}  // namespace

std::shared_ptr<const Zone> compile_grouped(ZoneData&& d, Grouping g) {
  return Compiler(d, g).run();
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
    std::sort(zs->few_, zs->few_ + zs->nfew_,
              [](const Few& a, const Few& b) { return a.len > b.len; });
  }
  zs->zones_ = std::move(zones);
  return zs;
}

void ZoneSet::prefetch_find(const uint8_t* lower, size_t len) const noexcept {
  if (!many()) return;
  const Index& ix = *index_;
  uint8_t starts[128];
  int nl = 0;
  for (size_t i = 0; i < len && lower[i] != 0 && nl < 127; i += size_t(lower[i]) + 1)
    starts[nl++] = uint8_t(i);
  starts[nl] = uint8_t(len - 1);
  for (int k = 0; k <= nl; ++k) {
    int labels = nl - k;
    if (labels > ix.max_labels) continue;
    if (labels < 64 && !(ix.label_counts >> labels & 1)) continue;
    const uint8_t* s = lower + starts[k];
    __builtin_prefetch(&ix.slots[name_hash(s, len - starts[k]) & ix.mask]);
  }
}

const Zone* ZoneSet::find_many(const uint8_t* lower, size_t len) const noexcept {
  const Index& ix = *index_;
  // Label start offsets of the name, so that suffixes are tried longest first.
  uint8_t starts[128];
  int nl = 0;
  for (size_t i = 0; i < len && lower[i] != 0 && nl < 127; i += size_t(lower[i]) + 1)
    starts[nl++] = uint8_t(i);
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
