// Compiler from checked ZoneData to the immutable sharded snapshot described
// in snapshot_impl.hh, plus ZoneSet (longest-match zone index). Control thread.
#include "zones/snapshot.hh"

#include <algorithm>
#include <bit>
#include <stdexcept>

#include "zones/snapshot_impl.hh"

namespace edgedns::zones {

std::vector<uint32_t> group_records(const ZoneData& z) {
  const size_t n = z.records.size();
  struct K { uint32_t key; uint32_t idx; };
  std::vector<K> a(n), b(n);
  uint32_t last_off = UINT32_MAX, last_key = 0;
  uint8_t last_len = 0;
  for (size_t i = 0; i < n; ++i) {
    const Record& r = z.records[i];
    if (r.owner_off != last_off || r.owner_len != last_len) {
      last_off = r.owner_off;
      last_len = r.owner_len;
      last_key = uint32_t(name_hash(z.owner(r), r.owner_len) >> 32);
    }
    a[i] = {last_key, uint32_t(i)};
  }
  // Two stable 16-bit LSD passes: O(n), sequential, no comparisons.
  std::vector<uint32_t> cnt(65536);
  for (int pass = 0; pass < 2; ++pass) {
    const unsigned shift = pass * 16;
    std::fill(cnt.begin(), cnt.end(), 0);
    for (const K& k : a) ++cnt[(k.key >> shift) & 0xffff];
    uint32_t sum = 0;
    for (auto& c : cnt) { uint32_t t = c; c = sum; sum += t; }
    for (const K& k : a) b[cnt[(k.key >> shift) & 0xffff]++] = k;
    a.swap(b);
  }
  b.clear();
  b.shrink_to_fit();
  std::vector<uint32_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = a[i].idx;
  // Inside a run of equal keys: by owner bytes, type, rdata, file position.
  auto less = [&z](uint32_t x, uint32_t y) {
    const Record& p = z.records[x];
    const Record& q = z.records[y];
    if (p.owner_len != q.owner_len) return p.owner_len < q.owner_len;
    if (p.owner_off != q.owner_off) {
      int c = std::memcmp(z.owner(p), z.owner(q), p.owner_len);
      if (c) return c < 0;
    }
    if (p.type != q.type) return p.type < q.type;
    size_t m = std::min(p.rdata_len, q.rdata_len);
    int c = m ? std::memcmp(z.rdata(p), z.rdata(q), m) : 0;
    if (c) return c < 0;
    if (p.rdata_len != q.rdata_len) return p.rdata_len < q.rdata_len;
    return x < y;
  };
  size_t i = 0;
  while (i < n) {
    size_t j = i + 1;
    while (j < n && a[j].key == a[i].key) ++j;
    if (j - i > 1) std::sort(order.begin() + i, order.begin() + j, less);
    i = j;
  }
  return order;
}

namespace {

// One distinct name of the zone (owner or empty non-terminal) while compiling.
struct NameEnt {
  uint64_t hash;
  uint32_t name_off;  // into the arena (ENT names are suffixes of owner names)
  uint32_t begin;     // range in `order`; begin == end for an ENT
  uint32_t end;
  uint8_t len;
  uint8_t flags;
};

// Global open-addressing table used only while compiling (flags, ENTs).
class TempIndex {
 public:
  TempIndex(size_t n, const std::vector<NameEnt>& ents, const uint8_t* arena)
      : ents_(ents), arena_(arena) {
    size_t cap = std::bit_ceil(std::max<size_t>(16, n * 2));
    slots_.assign(cap, UINT32_MAX);
    mask_ = cap - 1;
  }
  int64_t find(const uint8_t* name, size_t len, uint64_t h) const {
    for (size_t i = h & mask_;; i = (i + 1) & mask_) {
      uint32_t e = slots_[i];
      if (e == UINT32_MAX) return -1;
      const NameEnt& x = ents_[e];
      if (x.hash == h && x.len == len && std::memcmp(arena_ + x.name_off, name, len) == 0) return e;
    }
  }
  void insert(uint32_t e) {
    if (++used_ * 10 > slots_.size() * 7) grow();
    put(e);
  }

 private:
  void put(uint32_t e) {
    size_t i = ents_[e].hash & mask_;
    while (slots_[i] != UINT32_MAX) i = (i + 1) & mask_;
    slots_[i] = e;
  }
  void grow() {
    std::vector<uint32_t> old;
    old.swap(slots_);
    slots_.assign(old.size() * 2, UINT32_MAX);
    mask_ = slots_.size() - 1;
    for (uint32_t e : old) if (e != UINT32_MAX) put(e);
  }
  const std::vector<NameEnt>& ents_;
  const uint8_t* arena_;
  std::vector<uint32_t> slots_;
  size_t mask_ = 0, used_ = 0;
};

void put16(std::vector<uint8_t>& v, uint16_t x) { v.push_back(uint8_t(x >> 8)); v.push_back(uint8_t(x)); }
void put32(std::vector<uint8_t>& v, uint32_t x) { put16(v, uint16_t(x >> 16)); put16(v, uint16_t(x)); }

}  // namespace

std::shared_ptr<const Zone> compile_grouped(ZoneData&& d, std::vector<uint32_t> order) {
  auto zone = std::make_shared<Zone>();
  zone->apex = d.origin.lower();
  zone->apex_len = uint8_t(zone->apex.size());
  std::memcpy(zone->apex_lower, zone->apex.data(), zone->apex.size());
  zone->apex_labels = uint8_t(zone->apex.label_count());
  zone->records = d.records.size();
  const uint8_t* apex = zone->apex_lower;
  const size_t apex_len = zone->apex_len;
  const uint8_t* arena = d.arena.data();

  // 1. Distinct owners, in grouped order.
  std::vector<NameEnt> ents;
  const size_t n = order.size();
  for (size_t i = 0; i < n;) {
    const Record& r = d.records[order[i]];
    size_t j = i + 1;
    while (j < n && same_owner(d, r, d.records[order[j]])) ++j;
    NameEnt e{};
    e.name_off = r.owner_off;
    e.len = r.owner_len;
    e.hash = name_hash(arena + r.owner_off, r.owner_len);
    e.begin = uint32_t(i);
    e.end = uint32_t(j);
    const bool is_apex = name_equal(arena + r.owner_off, r.owner_len, apex, apex_len);
    if (is_apex) e.flags |= node_flag::Apex;
    if (r.owner_len >= 2 && arena[r.owner_off] == 1 && arena[r.owner_off + 1] == '*')
      e.flags |= node_flag::Wildcard;
    for (size_t k = i; k < j; ++k) {
      uint16_t t = d.records[order[k]].type;
      if (t == rrtype::NS && !is_apex) e.flags |= node_flag::Cut;
      if (t == rrtype::DNAME) e.flags |= node_flag::Dname;
      if (t == rrtype::CNAME) e.flags |= node_flag::Cname;
    }
    ents.push_back(e);
    i = j;
  }
  const size_t owners = ents.size();
  ents.reserve(owners + owners / 8 + 16);
  TempIndex idx(owners + 1, ents, arena);
  for (uint32_t e = 0; e < owners; ++e) idx.insert(e);

  // 2. Empty non-terminals: every missing ancestor between an owner and the apex.
  bool any_cut = false;
  for (size_t e = 0; e < ents.size(); ++e) {
    NameEnt cur = ents[e];
    any_cut |= (cur.flags & (node_flag::Cut | node_flag::Dname)) != 0;
    if (cur.flags & node_flag::Apex) continue;
    if (!name_is_below_or_equal(arena + cur.name_off, cur.len, apex, apex_len)) continue;
    uint32_t off = cur.name_off + 1 + arena[cur.name_off];
    uint8_t len = uint8_t(cur.len - 1 - arena[cur.name_off]);
    uint64_t h = name_hash(arena + off, len);
    int64_t p = idx.find(arena + off, len, h);
    if (cur.flags & node_flag::Wildcard) {
      if (p < 0) {
        NameEnt ent{h, off, 0, 0, len, node_flag::Ent};
        ents.push_back(ent);
        idx.insert(uint32_t(ents.size() - 1));
        p = int64_t(ents.size() - 1);
      }
      ents[size_t(p)].flags |= node_flag::WildChild;
    } else if (p < 0 && len >= apex_len) {
      NameEnt ent{h, off, 0, 0, len, node_flag::Ent};
      ents.push_back(ent);  // its own ancestors are visited when the loop reaches it
      idx.insert(uint32_t(ents.size() - 1));
    }
  }
  // 3. Names strictly below a cut or DNAME are occluded (glue at best).
  if (any_cut) {
    for (auto& e : ents) {
      uint32_t off = e.name_off;
      size_t len = e.len;
      for (;;) {
        uint8_t ll = arena[off];
        if (ll == 0) break;
        off += 1u + ll;
        len -= 1u + ll;
        if (len <= apex_len) break;
        int64_t p = idx.find(arena + off, len, name_hash(arena + off, len));
        if (p >= 0 && (ents[size_t(p)].flags & (node_flag::Cut | node_flag::Dname))) {
          e.flags |= node_flag::Below;
          break;
        }
      }
    }
  }
  { TempIndex drop = std::move(idx); }

  // 4. Shards: about 256 names each, at most 4096 (issue 4 rebuilds only touched shards).
  const size_t names = ents.size();
  unsigned bits = 0;
  while (bits < 12 && (names >> bits) > 512) ++bits;
  zone->shard_bits = bits;
  const size_t nshards = size_t(1) << bits;
  std::vector<uint32_t> per(nshards + 1, 0);
  for (const auto& e : ents) ++per[bits ? e.hash >> (64 - bits) : 0];
  std::vector<std::shared_ptr<Shard>> shards(nshards);
  for (size_t s = 0; s < nshards; ++s) {
    shards[s] = std::make_shared<Shard>();
    // Load factor 0.6: short unsuccessful probes (NXDOMAIN, closest-encloser walks).
    uint32_t ns = per[s] ? uint32_t(per[s] * 5 / 3 + 2) : 0;
    shards[s]->slots.assign(ns, Slot{0, kEmptySlot});
    shards[s]->names = per[s];
  }
  // Insert in hash order so probes stay short and the blob follows slot order.
  std::vector<uint32_t> by_hash(names);
  for (uint32_t i = 0; i < names; ++i) by_hash[i] = i;
  std::sort(by_hash.begin(), by_hash.end(),
            [&](uint32_t x, uint32_t y) { return ents[x].hash < ents[y].hash; });
  for (uint32_t e : by_hash) {
    const NameEnt& x = ents[e];
    Shard& s = *shards[bits ? x.hash >> (64 - bits) : 0];
    uint32_t i = slot_home(x.hash, bits, uint32_t(s.slots.size()));
    while (s.slots[i].off != kEmptySlot) if (++i == s.slots.size()) i = 0;
    s.slots[i] = Slot{uint32_t(x.hash), e};
  }
  by_hash.clear();
  by_hash.shrink_to_fit();

  // 5. Node blobs, in slot order.
  const Record* apex_soa = nullptr;
  std::vector<RRsetDir> dir;
  for (size_t sh = 0; sh < nshards; ++sh) {
    Shard& s = *shards[sh];
    std::vector<uint8_t>& blob = s.blob;
    for (Slot& sl : s.slots) {
      if (sl.off == kEmptySlot) continue;
      const NameEnt& x = ents[sl.off];
      sl.off = uint32_t(blob.size());
      dir.clear();
      for (uint32_t k = x.begin; k < x.end;) {
        uint16_t t = d.records[order[k]].type;
        uint32_t m = k;
        RRsetDir rd{t, 0, 0};
        while (m < x.end && d.records[order[m]].type == t) {
          rd.len += 12 + d.records[order[m]].rdata_len;
          ++rd.count;
          ++m;
        }
        dir.push_back(rd);
        k = m;
      }
      NodeHdr h{x.flags, x.len, uint16_t(dir.size())};
      size_t at = blob.size();
      blob.resize(at + align4(sizeof h + x.len) + dir.size() * sizeof(RRsetDir));
      std::memcpy(blob.data() + at, &h, sizeof h);
      std::memcpy(blob.data() + at + sizeof h, arena + x.name_off, x.len);
      std::memcpy(blob.data() + at + align4(sizeof h + x.len), dir.data(), dir.size() * sizeof(RRsetDir));
      for (uint32_t k = x.begin; k < x.end; ++k) {
        const Record& r = d.records[order[k]];
        if (r.type == rrtype::SOA && (x.flags & node_flag::Apex) && !apex_soa) apex_soa = &r;
        blob.push_back(0xc0);
        blob.push_back(kHeaderSize);
        put16(blob, r.type);
        put16(blob, r.rclass);
        put32(blob, r.ttl);
        put16(blob, r.rdata_len);
        blob.insert(blob.end(), arena + r.rdata_off, arena + r.rdata_off + r.rdata_len);
      }
      blob.resize(align4(blob.size()));
    }
    blob.shrink_to_fit();
  }
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
  size_t mem = sizeof(Zone) + zone->neg_soa.size();
  zone->shards.reserve(nshards);
  zone->views.reserve(nshards);
  for (auto& s : shards) {
    mem += s->slots.size() * sizeof(Slot) + s->blob.capacity() + sizeof(Shard);
    zone->views.push_back(ShardView{s->slots.data(), s->blob.data(), uint32_t(s->slots.size())});
    zone->shards.push_back(std::move(s));
  }
  zone->memory = mem;
  zone->apex_node = zone->find(zone->apex_lower, zone->apex_len,
                               name_hash(zone->apex_lower, zone->apex_len));
  return zone;
}

std::shared_ptr<const Zone> compile_zone(ZoneData&& data) {
  std::vector<uint32_t> order = group_records(data);
  return compile_grouped(std::move(data), std::move(order));
}

LoadResult load_zone_file(const std::string& path, const ParseOptions& opts,
                          const CheckOptions& check) {
  LoadResult lr;
  ParseResult pr = parse_zone_file(path, opts);
  lr.diagnostics = std::move(pr.diagnostics);
  for (const auto& d : lr.diagnostics) if (d.is_error()) return lr;
  std::vector<uint32_t> order;
  check_zone_grouped(pr.zone, lr.diagnostics, check, &order);
  for (const auto& d : lr.diagnostics) if (d.is_error()) return lr;
  if (order.size() != pr.zone.records.size()) order = group_records(pr.zone);
  lr.zone = compile_grouped(std::move(pr.zone), std::move(order));
  return lr;
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
  zs->zones_ = std::move(zones);
  return zs;
}

const Zone* ZoneSet::find(const uint8_t* lower, size_t len) const noexcept {
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
      if (ix.slots[i].first == h && z->apex_len == sl && std::memcmp(z->apex_lower, s, sl) == 0)
        return z;
    }
  }
  return nullptr;
}

}  // namespace edgedns::zones
