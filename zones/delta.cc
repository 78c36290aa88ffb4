// Delta application (see delta.hh). Per touched zone:
//  1. every change is parsed and applied, in order, to an overlay of the
//     touched names (decoded from the old nodes on first touch);
//  2. the zone rules of check.cc are checked on the touched names and their
//     ancestors (CNAME, SOA, apex NS, DNAME, glue, occlusion);
//  3. existence is settled bottom-up with the per-node child counts kept in
//     the shards (shard.hh, Shard::kids): new names bring their
//     missing ancestors as empty non-terminals; emptied names and their ENT
//     ancestors disappear once no child is left. A new cut or DNAME above
//     existing names finds them through the children lists, so no step scans
//     the zone (except below a node with 255+ children, which keeps a count only);
//  4. flags that depend on other names are recomputed (WildChild of a
//     wildcard's parent, Below of everything under a changed cut/DNAME);
//  5. the shards holding changed nodes are rebuilt (same layout and load
//     factor as the compiler, so answering costs the same), all others shared.
#include "zones/delta.hh"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include "zones/parser.hh"
#include "zones/rdata.hh"
#include "zones/version.hh"
#include "zones/zone.hh"

namespace edgedns::zones {

namespace {

struct Rec {
  uint16_t type;
  uint16_t rclass;
  uint32_t ttl;
  std::string rdata;
};

// The compiler's order inside a node: type, then RDATA bytes (shorter first on a tie).
bool rec_less(const Rec& a, const Rec& b) {
  if (a.type != b.type) return a.type < b.type;
  size_t m = std::min(a.rdata.size(), b.rdata.size());
  int c = m ? std::memcmp(a.rdata.data(), b.rdata.data(), m) : 0;
  if (c) return c < 0;
  return a.rdata.size() < b.rdata.size();
}

const uint8_t* u8(const std::string& s) { return reinterpret_cast<const uint8_t*>(s.data()); }

// Byte size of a node in a shard blob (4-byte aligned).
size_t node_size(const uint8_t* node) {
  auto* h = reinterpret_cast<const NodeHdr*>(node);
  const RRsetDir* dir = node_dir(node);
  size_t sz = align4(sizeof(NodeHdr) + h->name_len) + h->nrrsets * sizeof(RRsetDir);
  for (uint16_t i = 0; i < h->nrrsets; ++i) sz += dir[i].len;
  return align4(sz);
}

bool node_has_type(const uint8_t* node, uint16_t type) {
  auto* h = reinterpret_cast<const NodeHdr*>(node);
  const RRsetDir* dir = node_dir(node);
  for (uint16_t i = 0; i < h->nrrsets; ++i)
    if (dir[i].type == type) return true;
  return false;
}

// Length of the parent of a wire name (drops the first label).
size_t parent_off(const uint8_t* nm) { return size_t(nm[0]) + 1; }

struct NodeEdit {
  std::string name;  // lower-case wire
  uint64_t hash = 0;
  const uint8_t* old = nullptr;
  bool old_real = false;  // the old node had RRsets
  bool loaded = false;    // recs holds the new content
  bool data_changed = false;
  std::vector<Rec> recs;
  size_t last_change = 0;  // 1-based index of the last change that touched it
  bool exists = false;     // in the new zone (settled in step 3)
  uint8_t flags = 0;       // new flags (step 4)
  // Children (Shard::kids) in the new zone: old count plus kid_delta; the
  // hashes of children that appear or disappear.
  long kid_delta = 0;
  std::vector<uint64_t> kids_added, kids_removed;
  bool queued = false;  // in step 3's bottom-up queue
  bool real() const { return loaded ? !recs.empty() : old_real; }
};

// Slot index of an old node in its shard.
uint32_t slot_of(const Zone& z, uint64_t hash, const uint8_t* node) {
  const ShardView& v = z.view_of(hash);
  const uint32_t off = uint32_t(node - v.blob);
  uint32_t i = slot_home(hash, z.shard_bits, v.nslots);
  while (v.slots[i].off != off)
    if (++i == v.nslots) i = 0;
  return i;
}

KidsOf old_kids(const Zone& z, uint64_t hash, const uint8_t* node) {
  if (!node) return {};
  const Shard& s = *z.shards[z.shard_index(hash)];
  return kids_of(s, slot_of(z, hash, node));
}

// Node by name hash alone (children lists hold hashes), or null.
const uint8_t* find_by_hash(const Zone& z, uint64_t hash) {
  const ShardView& v = z.view_of(hash);
  if (v.nslots == 0) return nullptr;
  uint32_t i = slot_home(hash, z.shard_bits, v.nslots);
  for (;;) {
    const Slot& sl = v.slots[i];
    if (sl.off == kEmptySlot) return nullptr;
    if (sl.tag == uint32_t(hash)) {
      const uint8_t* n = v.blob + sl.off;
      if (name_hash(node_name(n), n[1]) == hash) return n;
    }
    if (++i == v.nslots) i = 0;
  }
}

struct ParsedChange {
  size_t index;  // 1-based
  DeltaChange::Op op;
  const Zone* zone;
  std::string owner;  // lower wire
  Rec rec;
};

// One node of a rebuilt shard: its bytes and its children (32 bytes: the
// sort in lay_out_shard moves a shard's worth of them).
struct Put {
  uint64_t hash;
  const uint8_t* p;
  const uint64_t* list;  // `kids` hashes, or &kMany: a count only (kManyKids)
  uint32_t n;
  uint32_t kids;
};
const uint64_t kMany = 0;

std::shared_ptr<Shard> lay_out_shard(std::vector<Put>& all, unsigned bits);

class ZoneEditor {
 public:
  ZoneEditor(const Zone& z, DeltaResult& res, std::span<const DeltaChange> changes)
      : z_(z), res_(res), changes_(changes) {}

  // Steps 1-2; false when an error was reported.
  bool apply(const std::vector<const ParsedChange*>& cs);
  // Steps 3-5; the new zone, or null when an error was reported.
  std::shared_ptr<const Zone> build();

 private:
  const Zone& z_;
  DeltaResult& res_;
  std::span<const DeltaChange> changes_;
  std::unordered_map<std::string, NodeEdit> edits_;
  VersionId version_ = z_.version;
  long records_delta_ = 0;
  bool failed_ = false;

  std::string apex() const {
    return std::string(reinterpret_cast<const char*>(z_.apex_lower), z_.apex_len);
  }
  bool is_apex(const std::string& n) const {
    return name_equal(u8(n), n.size(), z_.apex_lower, z_.apex_len);
  }

  void diag(Diagnostic::Severity sev, size_t index, const std::string& msg) {
    Diagnostic d;
    d.severity = sev;
    d.file = "delta";
    d.line = uint32_t(index);
    const DeltaChange* c = index ? &changes_[index - 1] : nullptr;
    d.message = c ? "change " + std::to_string(index) + " (" +
                        (c->op == DeltaChange::Op::Add ? "add" : "del") + " '" + c->rr +
                        "'): " + msg
                  : msg;
    res_.diagnostics.push_back(std::move(d));
  }
  void error(size_t index, const std::string& msg, DeltaStatus st = DeltaStatus::InvalidZone) {
    diag(Diagnostic::Severity::Error, index, msg);
    if (res_.status == DeltaStatus::Ok || st == DeltaStatus::BadRequest) res_.status = st;
    failed_ = true;
  }
  void warn(size_t index, const std::string& msg) {
    diag(Diagnostic::Severity::Warning, index, msg);
  }

  const uint8_t* old_find(const uint8_t* n, size_t len) const {
    return z_.find(n, len, name_hash(n, len));
  }

  NodeEdit& edit(const uint8_t* n, size_t len) {
    std::string key(reinterpret_cast<const char*>(n), len);
    auto [it, fresh] = edits_.try_emplace(key);
    NodeEdit& e = it->second;
    if (fresh) {
      e.name = std::move(key);
      e.hash = name_hash(n, len);
      e.old = z_.find(n, len, e.hash);
      e.old_real = e.old && !(e.old[0] & node_flag::Ent);
      e.exists = e.old != nullptr;
    }
    return e;
  }
  static void load(NodeEdit& e) {
    if (e.loaded) return;
    e.loaded = true;
    if (!e.old) return;
    auto* h = reinterpret_cast<const NodeHdr*>(e.old);
    const RRsetDir* dir = node_dir(e.old);
    const uint8_t* w = node_wire(e.old);
    for (uint16_t i = 0; i < h->nrrsets; ++i) {
      const uint8_t* p = w;
      for (uint16_t k = 0; k < dir[i].count; ++k) {
        uint16_t rl = rd16(p + 10);
        e.recs.push_back(Rec{rd16(p + 2), rd16(p + 4), rd32(p + 6),
                             std::string(reinterpret_cast<const char*>(p + 12), rl)});
        p += 12 + rl;
      }
      w += dir[i].len;
    }
  }
  const NodeEdit* find_edit(const uint8_t* n, size_t len) const {
    auto it = edits_.find(std::string(reinterpret_cast<const char*>(n), len));
    return it == edits_.end() ? nullptr : &it->second;
  }
  // Whether the name has an RRset of `type` in the new zone.
  bool has_type(const uint8_t* n, size_t len, uint16_t type) const {
    if (const NodeEdit* e = find_edit(n, len); e && e->loaded) {
      for (const Rec& r : e->recs)
        if (r.type == type) return true;
      return false;
    }
    const uint8_t* o = old_find(n, len);
    return o && node_has_type(o, type);
  }
  bool exists_new(const uint8_t* n, size_t len) const {
    if (const NodeEdit* e = find_edit(n, len)) return e->exists;
    return old_find(n, len) != nullptr;
  }
  bool is_cut_new(const uint8_t* n, size_t len) const {
    return (!name_equal(n, len, z_.apex_lower, z_.apex_len) && has_type(n, len, rrtype::NS)) ||
           has_type(n, len, rrtype::DNAME);
  }
  // Closest proper ancestor (strictly below the apex) that is a cut or DNAME owner, or SIZE_MAX.
  size_t cut_above(const uint8_t* n, size_t len, bool dname_only) const {
    for (size_t off = 0; n[off] != 0;) {
      off += size_t(n[off]) + 1;
      if (len - off <= z_.apex_len) break;
      bool hit =
          dname_only ? has_type(n + off, len - off, rrtype::DNAME) : is_cut_new(n + off, len - off);
      if (hit) return off;
    }
    return SIZE_MAX;
  }
  bool has_address(const uint8_t* n, size_t len) const {
    return has_type(n, len, rrtype::A) || has_type(n, len, rrtype::AAAA);
  }
  bool glue_ok(const uint8_t* t, size_t tl) const;
  void check_ns_glue(const std::vector<Rec>& recs, const std::string& owner,
                     const std::string& only_target, size_t change);
  // The name's records in the new zone (a copy).
  std::vector<Rec> recs_of(const std::string& n) const {
    if (const NodeEdit* e = find_edit(u8(n), n.size()); e && e->loaded) return e->recs;
    NodeEdit tmp;
    tmp.old = old_find(u8(n), n.size());
    load(tmp);
    return tmp.recs;
  }
  // Whether the name owns records in the new zone.
  bool has_data(const uint8_t* n, size_t len) const {
    if (const NodeEdit* e = find_edit(n, len)) return e->real();
    const uint8_t* o = old_find(n, len);
    return o && !(o[0] & node_flag::Ent);
  }
  std::vector<uint8_t> encode(const NodeEdit& e) const;
  // The phases of build().
  void settle_existence();
  void check_new_dnames();
  void widen_edit_set();
  void compute_flags();
  void check_glue();
  std::shared_ptr<const Zone> rebuild();
  void keep_old_nodes(const Shard& old, const std::vector<NodeEdit*>& list,
                      std::vector<Put>& all) const;
  void add_edited_nodes(const std::vector<NodeEdit*>& list, std::vector<Put>& all,
                        std::vector<std::vector<uint8_t>>& fresh,
                        std::vector<std::vector<uint64_t>>& fresh_kids) const;
  void update_apex_soa(Zone& zone) const;
  void old_descendants(const uint8_t* n, size_t len, std::vector<std::string>& out);
  void scan_below(const uint8_t* n, size_t len, std::vector<std::string>& out);
};

// Appends the names of every old node strictly below `n`, walking the
// children lists; falls back to one scan of the old zone when a node on the
// way keeps no list (255 or more children).
void ZoneEditor::old_descendants(const uint8_t* n, size_t len, std::vector<std::string>& out) {
  const size_t first = out.size();
  std::vector<const uint8_t*> todo{old_find(n, len)};
  while (!todo.empty()) {
    const uint8_t* nd = todo.back();
    todo.pop_back();
    const KidsOf k = old_kids(z_, name_hash(node_name(nd), nd[1]), nd);
    if (k.count && !k.list) {
      out.resize(first);
      scan_below(n, len, out);
      return;
    }
    for (uint32_t i = 0; i < k.count; ++i) {
      const uint8_t* c = find_by_hash(z_, k.list[i]);
      if (!c) {  // a list out of step with the zone: cannot happen, but a scan is always right
        out.resize(first);
        scan_below(n, len, out);
        return;
      }
      out.emplace_back(reinterpret_cast<const char*>(node_name(c)), c[1]);
      todo.push_back(c);
    }
  }
}

void ZoneEditor::scan_below(const uint8_t* n, size_t len, std::vector<std::string>& out) {
  ++res_.full_scans;
  for (const ShardView& v : z_.views)
    for (uint32_t i = 0; i < v.nslots; ++i) {
      if (v.slots[i].off == kEmptySlot) continue;
      const uint8_t* nd = v.blob + v.slots[i].off;
      if (nd[1] > len && name_is_below_or_equal(node_name(nd), nd[1], n, len))
        out.emplace_back(reinterpret_cast<const char*>(node_name(nd)), nd[1]);
    }
}

bool ZoneEditor::glue_ok(const uint8_t* t, size_t tl) const {
  if (!name_is_below_or_equal(t, tl, z_.apex_lower, z_.apex_len)) return true;
  if (has_address(t, tl)) return true;
  if (has_data(t, tl)) return false;
  // As check.cc: an authoritative missing target may be covered by a wildcard
  // with an address; glue below a cut must be explicit.
  for (size_t off = parent_off(t); tl - off > z_.apex_len; off += parent_off(t + off))
    if (has_type(t + off, tl - off, rrtype::NS)) return false;
  for (size_t off = parent_off(t); tl - off >= z_.apex_len; off += parent_off(t + off)) {
    const size_t pl = tl - off;
    if (pl + 2 > kMaxName) break;
    uint8_t wc[kMaxName];
    wc[0] = 1;
    wc[1] = '*';
    std::memcpy(wc + 2, t + off, pl);
    if (has_address(wc, pl + 2)) return true;
    if (has_data(t + off, pl) || pl == z_.apex_len) break;
  }
  return false;
}

void ZoneEditor::check_ns_glue(const std::vector<Rec>& recs, const std::string& owner,
                               const std::string& only_target, size_t change) {
  for (const Rec& r : recs) {
    if (r.type != rrtype::NS) continue;
    size_t tl = name_wire_length(u8(r.rdata), r.rdata.size());
    if (!tl) continue;
    uint8_t low[kMaxName];
    std::memcpy(low, r.rdata.data(), tl);
    name_to_lower(low, tl);
    if (!only_target.empty() && !name_equal(low, tl, u8(only_target), only_target.size())) continue;
    if (!glue_ok(low, tl))
      error(change, "NS " + name_to_text(low, tl) + " of " + name_to_text(u8(owner), owner.size()) +
                        " is in the zone but has no A/AAAA record (missing glue)");
  }
}

bool ZoneEditor::apply(const std::vector<const ParsedChange*>& cs) {
  // 1. Changes in order.
  for (const ParsedChange* c : cs) {
    NodeEdit& e = edit(u8(c->owner), c->owner.size());
    load(e);
    e.last_change = c->index;
    auto same = [&](const Rec& r) {
      return r.type == c->rec.type && r.rclass == c->rec.rclass && r.rdata == c->rec.rdata;
    };
    auto it = std::find_if(e.recs.begin(), e.recs.end(), same);
    if (c->op == DeltaChange::Op::Del) {
      if (it == e.recs.end()) {
        error(c->index, "no such record in zone " + z_.apex.to_text(), DeltaStatus::BadRequest);
        continue;
      }
      version_ -= record_hash(u8(e.name), e.name.size(), it->type, it->rclass, it->ttl,
                              u8(it->rdata), it->rdata.size());
      e.recs.erase(it);
      --records_delta_;
      ++res_.removed;
    } else {
      if (it != e.recs.end()) {
        error(c->index, "record already in zone " + z_.apex.to_text(), DeltaStatus::BadRequest);
        continue;
      }
      Rec r = c->rec;
      for (const Rec& o : e.recs)
        if (o.type == r.type && o.ttl != r.ttl) {
          warn(c->index, "TTL " + std::to_string(r.ttl) + " differs from " + std::to_string(o.ttl) +
                             " in the RRset of " + name_to_text(u8(e.name), e.name.size()) +
                             "; using " + std::to_string(o.ttl));
          r.ttl = o.ttl;
          break;
        }
      version_ += record_hash(u8(e.name), e.name.size(), r.type, r.rclass, r.ttl, u8(r.rdata),
                              r.rdata.size());
      e.recs.push_back(std::move(r));
      ++records_delta_;
      ++res_.added;
    }
    e.data_changed = true;
  }
  if (failed_) return false;

  // 2. Zone rules on the touched names.
  for (auto& [key, e] : edits_) {
    if (!e.data_changed) continue;
    std::sort(e.recs.begin(), e.recs.end(), rec_less);
    const uint8_t* n = u8(e.name);
    const size_t len = e.name.size();
    const std::string text = name_to_text(n, len);
    const bool apex_node = is_apex(e.name);
    size_t soa = 0, cname = 0, other = 0, ns = 0;
    bool dname = false, old_dname = e.old && (e.old[0] & node_flag::Dname);
    for (const Rec& r : e.recs) {
      if (r.type == rrtype::SOA) ++soa;
      else if (r.type == rrtype::CNAME) ++cname;
      else if (r.type != rrtype::RRSIG && r.type != rrtype::NSEC) ++other;
      if (r.type == rrtype::NS) ++ns;
      if (r.type == rrtype::DNAME) dname = true;
    }
    if (soa && !apex_node)
      error(e.last_change,
            "SOA record at " + text + " is not at the zone apex " + z_.apex.to_text());
    if (apex_node && soa == 0)
      error(e.last_change,
            "zone " + text + " would have no SOA record (change the SOA with a del and an add)");
    if (apex_node && soa > 1)
      error(e.last_change, "more than one SOA record at the zone apex " + text);
    if (apex_node && ns == 0)
      error(e.last_change, "zone " + text + " would have no NS records at its apex");
    if (cname > 1) error(e.last_change, "more than one CNAME record at " + text);
    if (cname && other) error(e.last_change, "CNAME and other data at " + text);
    if (!e.recs.empty()) {
      size_t d = cut_above(n, len, true);
      if (d != SIZE_MAX)
        error(e.last_change,
              "name " + text + " is below the DNAME at " + name_to_text(n + d, len - d));
      else if (size_t cut = cut_above(n, len, false); cut != SIZE_MAX) {
        for (const Rec& r : e.recs)
          if (r.type != rrtype::A && r.type != rrtype::AAAA) {
            warn(e.last_change, "record " + text + " is occluded by the delegation at " +
                                    name_to_text(n + cut, len - cut));
            break;
          }
      }
    }
    // Whether names lie below a new DNAME is settled with the child counts in build().
    (void)dname;
    (void)old_dname;
  }
  return !failed_;
}

std::vector<uint8_t> ZoneEditor::encode(const NodeEdit& e) const {
  const size_t len = e.name.size();
  size_t sz = align4(sizeof(NodeHdr) + len);
  uint16_t nrrsets = 0;
  for (size_t i = 0; i < e.recs.size(); ++i) {
    if (i == 0 || e.recs[i].type != e.recs[i - 1].type) {
      ++nrrsets;
      sz += sizeof(RRsetDir);
    }
    sz += 12 + e.recs[i].rdata.size();
  }
  std::vector<uint8_t> out(align4(sz), 0);
  NodeHdr hdr{e.flags, uint8_t(len), nrrsets};
  std::memcpy(out.data(), &hdr, sizeof hdr);
  std::memcpy(out.data() + sizeof hdr, e.name.data(), len);
  RRsetDir* dir = reinterpret_cast<RRsetDir*>(out.data() + align4(sizeof hdr + len));
  uint8_t* w = reinterpret_cast<uint8_t*>(dir + nrrsets);
  for (size_t i = 0; i < e.recs.size(); ++i) {
    const Rec& r = e.recs[i];
    if (i == 0 || r.type != e.recs[i - 1].type) *dir++ = RRsetDir{r.type, 0, 0, 0, 0};
    dir[-1].count++;
    dir[-1].len += 12u + uint32_t(r.rdata.size());
    w[0] = 0xc0;
    w[1] = kHeaderSize;
    wr16(w + 2, r.type);
    wr16(w + 4, r.rclass);
    wr32(w + 6, r.ttl);
    wr16(w + 10, uint16_t(r.rdata.size()));
    std::memcpy(w + 12, r.rdata.data(), r.rdata.size());
    w += 12 + r.rdata.size();
  }
  set_dir_sums(dir - nrrsets, nrrsets, reinterpret_cast<uint8_t*>(dir));
  return out;
}

std::shared_ptr<const Zone> ZoneEditor::build() {
  settle_existence();
  check_new_dnames();
  if (failed_) return nullptr;
  widen_edit_set();
  compute_flags();
  check_glue();
  if (failed_) return nullptr;
  return rebuild();
}

// 3. Existence, bottom-up over the touched names (longest first, so every
// child is settled before its parent): a name exists when it owns data, is
// the apex, or has children left (old count + the delta's changes). A name
// that appears or disappears changes its parent's children, which joins
// the queue; the walk stops at the first ancestor whose existence holds.
void ZoneEditor::settle_existence() {
  auto longer = [](const NodeEdit* a, const NodeEdit* b) {
    return a->name.size() < b->name.size();
  };
  std::vector<NodeEdit*> queue;
  for (auto& [key, e] : edits_)
    if (e.data_changed) {
      e.queued = true;
      queue.push_back(&e);
    }
  std::make_heap(queue.begin(), queue.end(), longer);
  while (!queue.empty()) {
    std::pop_heap(queue.begin(), queue.end(), longer);
    NodeEdit& e = *queue.back();
    queue.pop_back();
    const bool apex_node = is_apex(e.name);
    e.exists = apex_node || e.real() || long(old_kids(z_, e.hash, e.old).count) + e.kid_delta > 0;
    if (apex_node || e.exists == (e.old != nullptr)) continue;
    const uint8_t* n = u8(e.name);
    const size_t off = parent_off(n);
    NodeEdit& p = edit(n + off, e.name.size() - off);  // references into edits_ survive a rehash
    const uint64_t child = e.hash;
    if (e.exists) {
      ++p.kid_delta;
      p.kids_added.push_back(child);
    } else {
      --p.kid_delta;
      p.kids_removed.push_back(child);
    }
    if (!p.queued) {
      p.queued = true;
      queue.push_back(&p);
      std::push_heap(queue.begin(), queue.end(), longer);
    }
  }
}

// A new DNAME needs an empty subtree (names the delta adds below it were
// reported in step 2, at the names themselves).
void ZoneEditor::check_new_dnames() {
  for (auto& [key, e] : edits_) {
    if (!e.data_changed || !e.old || (e.old[0] & node_flag::Dname)) continue;
    if (!has_type(u8(key), key.size(), rrtype::DNAME)) continue;
    if (long(old_kids(z_, e.hash, e.old).count) + e.kid_delta > 0)
      error(e.last_change, "DNAME at " + name_to_text(u8(key), key.size()) + " has names below it");
  }
}

// 4. Flags depending on other names: the parents of added/removed
// wildcards and everything below a changed cut join the edit set.
void ZoneEditor::widen_edit_set() {
  // Names that gain or lose a cut or DNAME: their old descendants get their
  // Below flag recomputed (new descendants, and old ones that go, are in the
  // edit set already; with no child left, every old descendant went).
  std::vector<std::string> cut_changed;
  for (auto& [key, e] : edits_) {
    if (!e.data_changed || !e.old) continue;
    const bool old_cut = e.old[0] & (node_flag::Cut | node_flag::Dname);
    const bool new_cut = !e.recs.empty() && is_cut_new(u8(key), key.size());
    if (old_cut == new_cut) continue;
    const KidsOf k = old_kids(z_, e.hash, e.old);
    if (k.count > 0 && long(k.count) + e.kid_delta > 0) cut_changed.push_back(key);
  }
  std::vector<std::string> extra;
  for (const std::string& c : cut_changed) old_descendants(u8(c), c.size(), extra);
  for (auto& [key, e] : edits_) {
    const bool wc = wire_is_wildcard(u8(key), key.size());
    if (wc && e.exists != (e.old != nullptr)) extra.push_back(key.substr(2));
  }
  for (const std::string& x : extra) edit(u8(x), x.size());
}

// Wildcards and cuts among the new names also change the flags of names the
// edit set already holds, so flags are computed once it is complete.
void ZoneEditor::compute_flags() {
  const uint8_t* apex_w = z_.apex_lower;
  const size_t apex_len = z_.apex_len;
  for (auto& [key, e] : edits_) {
    if (!e.exists) continue;
    const uint8_t* n = u8(key);
    const size_t len = key.size();
    uint8_t fl = 0;
    const bool apex_node = is_apex(key);
    const bool real = e.real();
    if (apex_node) fl |= node_flag::Apex;
    if (!real) fl |= node_flag::Ent;
    if (wire_is_wildcard(n, len)) fl |= node_flag::Wildcard;
    if (e.loaded) {
      for (const Rec& r : e.recs) {
        if (r.type == rrtype::NS && !apex_node) fl |= node_flag::Cut;
        if (r.type == rrtype::DNAME) fl |= node_flag::Dname;
        if (r.type == rrtype::CNAME) fl |= node_flag::Cname;
      }
    } else if (e.old) {
      fl |= e.old[0] & (node_flag::Cut | node_flag::Dname | node_flag::Cname);
    }
    if (len + 2 <= kMaxName && name_is_below_or_equal(n, len, apex_w, apex_len)) {
      uint8_t wc[kMaxName];
      wc[0] = 1;
      wc[1] = '*';
      std::memcpy(wc + 2, n, len);
      if (exists_new(wc, len + 2)) fl |= node_flag::WildChild;
    }
    if (cut_above(n, len, false) != SIZE_MAX) fl |= node_flag::Below;
    e.flags = fl;
  }
}

// Glue for NS RRsets that changed, and for names that lost their addresses
// (the NS RRsets of the apex and of the cuts above them).
void ZoneEditor::check_glue() {
  const size_t apex_len = z_.apex_len;
  struct GlueCheck {
    std::string owner, target;
    size_t change;
  };
  std::vector<GlueCheck> glue;
  for (auto& [key, e] : edits_) {
    if (!e.data_changed) continue;
    if (has_type(u8(key), key.size(), rrtype::NS)) glue.push_back({key, {}, e.last_change});
    const bool had_addr =
        e.old && (node_has_type(e.old, rrtype::A) || node_has_type(e.old, rrtype::AAAA));
    if (had_addr && !has_address(u8(key), key.size())) {
      const uint8_t* n = u8(key);
      for (size_t off = parent_off(n); key.size() - off >= apex_len; off += parent_off(n + off)) {
        const size_t al = key.size() - off;
        if (al == apex_len || has_type(n + off, al, rrtype::NS))
          glue.push_back({key.substr(off), key, e.last_change});
        if (al == apex_len) break;
      }
    }
  }
  for (const GlueCheck& g : glue) check_ns_glue(recs_of(g.owner), g.owner, g.target, g.change);
}

// 5. The new zone: a copy of the old one's fields and shard pointers, the
// shards holding changed nodes rebuilt, then the apex SOA and the answer
// tables.
std::shared_ptr<const Zone> ZoneEditor::rebuild() {
  // Unchanged nodes drop out of the edit set (a node whose children changed
  // stays: its shard's children arrays change).
  const unsigned bits = z_.shard_bits;
  std::unordered_map<size_t, std::vector<NodeEdit*>> by_shard;
  for (auto& [key, e] : edits_) {
    if (!e.data_changed && e.exists == (e.old != nullptr) && (!e.old || e.old[0] == e.flags) &&
        e.kids_added.empty() && e.kids_removed.empty())
      continue;
    by_shard[bits ? size_t(e.hash >> (64 - bits)) : 0].push_back(&e);
  }
  auto zone = std::make_shared<Zone>();
  zone->apex = z_.apex;
  zone->serial = z_.serial;
  zone->records = size_t(long(z_.records) + records_delta_);
  zone->shard_bits = z_.shard_bits;
  zone->shards = z_.shards;
  zone->views = z_.views;
  zone->neg_soa = z_.neg_soa;
  std::memcpy(zone->apex_lower, z_.apex_lower, sizeof z_.apex_lower);
  zone->apex_len = z_.apex_len;
  zone->apex_labels = z_.apex_labels;
  zone->version = version_;
  size_t mem = z_.memory;
  for (auto& [sh, list] : by_shard) {
    const Shard& old = *z_.shards[sh];
    std::vector<Put> all;
    all.reserve(old.names + list.size());
    keep_old_nodes(old, list, all);
    // The edited nodes' bytes and children lists, pointed at by `all`.
    std::vector<std::vector<uint8_t>> fresh;
    std::vector<std::vector<uint64_t>> fresh_kids;
    add_edited_nodes(list, all, fresh, fresh_kids);
    std::shared_ptr<Shard> s = lay_out_shard(all, bits);
    prepare_shard_answers(*s, z_.apex_lower, z_.apex_len);
    const size_t old_mem = shard_memory(old);
    const size_t new_mem = shard_memory(*s);
    mem = mem - old_mem + new_mem;
    res_.new_shard_bytes += new_mem;
    ++res_.shards_rebuilt;
    zone->views[sh] = ShardView{s->slots.data(), s->blob.data(), uint32_t(s->slots.size())};
    zone->shards[sh] = std::move(s);
  }
  zone->apex_node =
      zone->find(zone->apex_lower, zone->apex_len, name_hash(zone->apex_lower, zone->apex_len));
  update_apex_soa(*zone);
  zone->memory = mem - z_.neg_soa.size() + zone->neg_soa.size() -
                 z_.special_bytes;  // prepare_answers adds its own
  prepare_answers(*zone, &z_);
  return zone;
}

// Old nodes of a rebuilt shard kept as they are, with their children (lists
// in slot order); the nodes in `list` are left to add_edited_nodes.
void ZoneEditor::keep_old_nodes(const Shard& old, const std::vector<NodeEdit*>& list,
                                std::vector<Put>& all) const {
  size_t kat = 0, mi = 0;
  for (uint32_t j = 0; j < old.slots.size(); ++j) {
    const uint8_t kc = old.kids.empty() ? 0 : old.kids[j];
    Put k{0, nullptr, nullptr, 0, kc};
    if (kc == kManyKids) {
      k.list = &kMany;
      while (mi < old.many_kids.size() && old.many_kids[mi].slot < j) ++mi;
      k.kids =
          mi < old.many_kids.size() && old.many_kids[mi].slot == j ? old.many_kids[mi].count : 0;
    } else {
      k.list = old.kid_hashes.data() + kat;
      kat += kc;
    }
    if (old.slots[j].off == kEmptySlot) continue;
    const uint8_t* nd = old.blob.data() + old.slots[j].off;
    bool replaced = false;
    for (const NodeEdit* e : list)
      if (e->old == nd) {
        replaced = true;
        break;
      }
    if (replaced) continue;
    k.hash = name_hash(node_name(nd), nd[1]);
    k.p = nd;
    k.n = uint32_t(node_size(nd));
    all.push_back(k);
  }
}

// Edited nodes that exist: new bytes (encoded, or the old ones with new
// flags), children = old ones -/+ the delta's. `fresh` and `fresh_kids` own
// what the Puts point at.
void ZoneEditor::add_edited_nodes(const std::vector<NodeEdit*>& list, std::vector<Put>& all,
                                  std::vector<std::vector<uint8_t>>& fresh,
                                  std::vector<std::vector<uint64_t>>& fresh_kids) const {
  fresh.reserve(list.size());
  fresh_kids.reserve(list.size());
  for (NodeEdit* e : list) {
    if (!e->exists) continue;
    if (e->data_changed || !e->old) {
      if (!e->loaded) load(*e);
      fresh.push_back(encode(*e));
    } else {
      std::vector<uint8_t> b(e->old, e->old + node_size(e->old));
      b[0] = e->flags;
      fresh.push_back(std::move(b));
    }
    const KidsOf ok = old_kids(z_, e->hash, e->old);
    const long cnt = long(ok.count) + e->kid_delta;
    Put k{e->hash, fresh.back().data(), nullptr, uint32_t(fresh.back().size()),
          uint32_t(std::max(0L, cnt))};
    if (is_apex(e->name) || (cnt > 0 && ok.count > 0 && !ok.list) || cnt >= kManyKids) {
      k.list = &kMany;
    } else {
      std::vector<uint64_t>& v = fresh_kids.emplace_back();
      if (ok.list) v.assign(ok.list, ok.list + ok.count);
      for (uint64_t h : e->kids_removed)
        if (auto it = std::find(v.begin(), v.end(), h); it != v.end()) v.erase(it);
      v.insert(v.end(), e->kids_added.begin(), e->kids_added.end());
      k.kids = uint32_t(v.size());
      k.list = v.data();
    }
    all.push_back(k);
  }
}

// A shard from its nodes, laid out as the compiler lays one out (same load
// factor, inserted in hash order: same probe sequences, so answering costs
// the same).
std::shared_ptr<Shard> lay_out_shard(std::vector<Put>& all, unsigned bits) {
  auto s = std::make_shared<Shard>();
  const size_t count = all.size();
  size_t bytes = 0;
  for (const Put& k : all) bytes += k.n;
  s->names = count;
  const uint32_t ns = count ? uint32_t(count * 5 / 3 + 2) : 0;  // the compiler's load factor (0.6)
  s->slots.assign(ns, Slot{0, kEmptySlot});
  s->blob.resize(bytes);
  s->kids.assign(ns, 0);
  std::unique_ptr<uint32_t[]> put_of(
      new uint32_t[ns]);  // slot -> index in `all` (read only where kids > 0)
  size_t at = 0, nkids = 0;
  std::sort(all.begin(), all.end(), [](const Put& a, const Put& b) { return a.hash < b.hash; });
  for (uint32_t x = 0; x < all.size(); ++x) {
    const Put& k = all[x];
    uint32_t i = slot_home(k.hash, bits, ns);
    while (s->slots[i].off != kEmptySlot)
      if (++i == ns) i = 0;
    s->slots[i] = Slot{uint32_t(k.hash), uint32_t(at)};
    std::memcpy(s->blob.data() + at, k.p, k.n);
    at += k.n;
    if (k.list == &kMany) {
      s->kids[i] = kManyKids;
      s->many_kids.push_back(ManyKids{i, k.kids});
    } else {
      s->kids[i] = uint8_t(k.kids);
      put_of[i] = x;
      nkids += k.kids;
    }
  }
  std::sort(s->many_kids.begin(), s->many_kids.end(),
            [](const ManyKids& a, const ManyKids& b) { return a.slot < b.slot; });
  s->kid_hashes.reserve(nkids);
  for (uint32_t i = 0; i < ns; ++i)
    if (s->kids[i] != kManyKids && s->kids[i])
      s->kid_hashes.insert(s->kid_hashes.end(), all[put_of[i]].list,
                           all[put_of[i]].list + s->kids[i]);
  return s;
}

// The apex SOA (serial, negative-answer SOA) when the apex changed.
void ZoneEditor::update_apex_soa(Zone& zone) const {
  auto it = edits_.find(apex());
  if (it == edits_.end() || !it->second.data_changed) return;
  for (const Rec& r : it->second.recs) {
    if (r.type != rrtype::SOA) continue;
    const uint8_t* rd = u8(r.rdata);
    size_t l1 = name_wire_length(rd, r.rdata.size());
    size_t l2 = l1 ? name_wire_length(rd + l1, r.rdata.size() - l1) : 0;
    zone.neg_soa.clear();
    if (l1 && l2 && l1 + l2 + 20 <= r.rdata.size()) {
      zone.serial = rd32(rd + l1 + l2);
      const uint32_t minimum = rd32(rd + l1 + l2 + 16);
      std::vector<uint8_t>& w = zone.neg_soa;
      w.resize(12);
      w[0] = 0xc0;
      w[1] = kHeaderSize;
      wr16(w.data() + 2, rrtype::SOA);
      wr16(w.data() + 4, r.rclass);
      wr32(w.data() + 6, std::min(r.ttl, minimum));
      wr16(w.data() + 10, uint16_t(r.rdata.size()));
      w.insert(w.end(), r.rdata.begin(), r.rdata.end());
    }
    break;
  }
}

// Parses one change into its zone, owner and record. Empty string on success.
std::string parse_change(const ZoneSet& base, const DeltaChange& c, ParsedChange& out) {
  std::string_view rr = c.rr;
  while (!rr.empty() && (rr.back() == ' ' || rr.back() == '\t' || rr.back() == '\r'))
    rr.remove_suffix(1);
  if (rr.empty()) return "empty RR";
  if (rr.find('\n') != std::string_view::npos) return "the RR must be on one line";
  if (rr[0] == ' ' || rr[0] == '\t') return "the RR must start with its owner name";
  const size_t sp = rr.find_first_of(" \t");
  const std::string_view owner = rr.substr(0, sp);
  // Absolute when it ends in an unescaped dot.
  size_t backslashes = 0;
  for (size_t i = owner.size() - 1; i > 0 && owner[i - 1] == '\\'; --i) ++backslashes;
  const bool absolute = owner.back() == '.' && backslashes % 2 == 0;
  const Zone* zone = nullptr;
  if (absolute) {
    uint8_t w[kMaxName];
    const uint8_t root = 0;
    const char* err = nullptr;
    size_t n = name_from_text(owner, &root, 1, w, &err);
    if (!n) return std::string("bad owner name: ") + (err ? err : "?");
    name_to_lower(w, n);
    zone = base.find(w, n);
    if (!zone) return "owner " + std::string(owner) + " is outside every zone of the set";
  } else {
    if (base.zones().size() != 1)
      return "relative owner " + std::string(owner) + " is ambiguous in a set of " +
             std::to_string(base.zones().size()) + " zones; give it absolute";
    zone = base.zones()[0].get();
  }
  ParseOptions po;
  po.origin = zone->apex.to_text();
  ParseResult pr = parse_zone_text(std::string(rr) + "\n", "delta", po);
  for (const auto& d : pr.diagnostics)
    if (d.is_error()) return d.message;
  if (pr.zone.records.size() != 1) return "expected exactly one record";
  const Record& r = pr.zone.records[0];
  out.zone = zone;
  out.owner.assign(reinterpret_cast<const char*>(pr.zone.owner(r)), r.owner_len);
  if (!name_is_below_or_equal(pr.zone.owner(r), r.owner_len, zone->apex_lower, zone->apex_len))
    return "record " + name_to_text(pr.zone.owner(r), r.owner_len) + " is outside zone " +
           zone->apex.to_text();
  out.rec = Rec{r.type, r.rclass, r.ttl,
                std::string(reinterpret_cast<const char*>(pr.zone.rdata(r)), r.rdata_len)};
  return {};
}

}  // namespace

DeltaResult apply_delta(const ZoneSet& base, std::span<const DeltaChange> changes) {
  DeltaResult res;
  std::vector<ParsedChange> parsed(changes.size());
  for (size_t i = 0; i < changes.size(); ++i) {
    parsed[i].index = i + 1;
    parsed[i].op = changes[i].op;
    std::string err = parse_change(base, changes[i], parsed[i]);
    if (!err.empty()) {
      Diagnostic d;
      d.file = "delta";
      d.line = uint32_t(i + 1);
      d.message = "change " + std::to_string(i + 1) + " (" +
                  (changes[i].op == DeltaChange::Op::Add ? "add" : "del") + " '" + changes[i].rr +
                  "'): " + err;
      res.diagnostics.push_back(std::move(d));
      res.status = DeltaStatus::BadRequest;
    }
  }
  if (res.status != DeltaStatus::Ok) return res;
  // Changes grouped by zone, order kept.
  std::vector<std::pair<const Zone*, std::vector<const ParsedChange*>>> groups;
  for (const ParsedChange& p : parsed) {
    auto it = std::find_if(groups.begin(), groups.end(),
                           [&](const auto& g) { return g.first == p.zone; });
    if (it == groups.end()) {
      groups.push_back({p.zone, {}});
      it = groups.end() - 1;
    }
    it->second.push_back(&p);
  }
  std::vector<std::shared_ptr<const Zone>> zones = base.zones();
  for (auto& [zone, cs] : groups) {
    ZoneEditor ed(*zone, res, changes);
    if (!ed.apply(cs)) continue;
    auto nz = ed.build();
    if (!nz) continue;
    for (auto& z : zones)
      if (z.get() == zone) z = nz;
  }
  if (res.status != DeltaStatus::Ok) {
    res.zones = nullptr;
    return res;
  }
  res.zones = ZoneSet::build(std::move(zones));
  return res;
}

}  // namespace edgedns::zones
