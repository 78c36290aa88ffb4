// Semantic zone checks (see check.hh). One grouping pass (records ordered by
// owner hash, owner, type, rdata: O(n) radix sort) serves every per-name and
// per-RRset rule; ancestor rules (DNAME children, occlusion) walk the labels
// of each owner only when the zone has cuts or DNAMEs.
#include "zones/check.hh"

#include <algorithm>
#include <string>

#include "zones/snapshot_impl.hh"

namespace edgedns::zones {

namespace {

constexpr size_t kMaxReportsPerRule = 1000;  // a broken 1M-record zone must not print 1M lines

struct Checker {
  ZoneData& z;
  std::vector<Diagnostic>& out;
  size_t reports[16] = {};

  void report(int rule, Diagnostic::Severity sev, const Record* r, std::string msg) {
    if (++reports[rule] > kMaxReportsPerRule) return;
    Diagnostic d;
    d.severity = sev;
    if (r) {
      d.file = r->file < z.files.size() ? z.files[r->file] : std::string();
      d.line = r->line;
    } else if (!z.files.empty()) {
      d.file = z.files[0];
    }
    d.message = std::move(msg);
    out.push_back(std::move(d));
  }
  void error(int rule, const Record* r, std::string m) { report(rule, Diagnostic::Severity::Error, r, std::move(m)); }
  void warn(int rule, const Record* r, std::string m) { report(rule, Diagnostic::Severity::Warning, r, std::move(m)); }
  std::string owner_text(const Record& r) const { return name_to_text(z.owner(r), r.owner_len); }
};

// A name of interest for ancestor rules (cut or DNAME owner).
struct Marked {
  uint64_t hash;
  const Record* rec;
  bool dname;
};

}  // namespace

void check_zone_grouped(ZoneData& z, std::vector<Diagnostic>& out, const CheckOptions& opts,
                        std::vector<uint32_t>* order_out) {
  Checker c{z, out};
  const Name apex_name = z.origin.lower();
  const uint8_t* apex = apex_name.data();
  const size_t apex_len = apex_name.size();
  const std::string apex_text = apex_name.to_text();
  auto& recs = z.records;

  // 1. Per-record rules in file order.
  size_t soa = 0;
  bool apex_ns = false;
  const Record* first_soa = nullptr;
  uint32_t last_off = UINT32_MAX;
  bool last_in = true;
  for (const Record& r : recs) {
    if (r.owner_off != last_off) {
      last_off = r.owner_off;
      const uint8_t* o = z.owner(r);
      if (name_wire_length(o, r.owner_len) != r.owner_len)
        c.error(0, &r, "owner name breaks the label (63) or name (255) length limit");
      last_in = name_is_below_or_equal(o, r.owner_len, apex, apex_len);
    }
    if (!last_in) c.error(1, &r, "record " + c.owner_text(r) + " is outside zone " + apex_text);
    const bool at_apex = name_equal(z.owner(r), r.owner_len, apex, apex_len);
    if (r.type == rrtype::SOA) {
      if (!at_apex) {
        c.error(2, &r, "SOA record at " + c.owner_text(r) + " is not at the zone apex " + apex_text);
      } else if (++soa == 1) {
        first_soa = &r;
      } else {
        c.error(2, &r, "more than one SOA record at the zone apex " + apex_text);
      }
    }
    if (r.type == rrtype::NS && at_apex) apex_ns = true;
  }
  if (soa == 0)
    c.error(3, recs.empty() ? nullptr : &recs[0], "zone " + apex_text + " has no SOA record at its apex");
  else if (!apex_ns)
    c.error(4, first_soa, "zone " + apex_text + " has no NS records at its apex");

  // 2. Per-name and per-RRset rules over the grouping.
  std::vector<uint32_t> order = group_records(z);
  std::vector<uint8_t> drop;
  std::vector<Marked> marked;
  std::vector<const Record*> ns_records;
  struct Head { uint32_t key; uint32_t at; };
  std::vector<Head> heads;
  const size_t n = order.size();
  for (size_t i = 0; i < n;) {
    const Record& first = recs[order[i]];
    size_t j = i + 1;
    while (j < n && same_owner(z, first, recs[order[j]])) ++j;
    const uint64_t h = name_hash(z.owner(first), first.owner_len);
    heads.push_back(Head{uint32_t(h >> 32), uint32_t(i)});
    const bool at_apex = name_equal(z.owner(first), first.owner_len, apex, apex_len);
    const Record* cname = nullptr;
    const Record* other = nullptr;
    for (size_t k = i; k < j;) {
      const Record& r0 = recs[order[k]];
      size_t m = k;
      // Records of one RRset: the first in file order is the smallest index.
      uint32_t first_idx = order[k];
      while (m < j && recs[order[m]].type == r0.type) { first_idx = std::min(first_idx, order[m]); ++m; }
      const uint32_t ttl = recs[first_idx].ttl;
      bool ttl_warned = false;
      for (size_t x = k; x < m; ++x) {
        Record& r = recs[order[x]];
        if (x > k) {
          const Record& p = recs[order[x - 1]];
          if (p.rdata_len == r.rdata_len &&
              std::memcmp(z.rdata(p), z.rdata(r), r.rdata_len) == 0) {
            if (opts.drop_duplicates) {
              if (drop.empty()) drop.assign(recs.size(), 0);
              drop[order[x]] = 1;
            }
            c.warn(5, &r, "duplicate record " + c.owner_text(r) + " " + std::to_string(r.type) +
                              (opts.drop_duplicates ? " dropped" : ""));
            continue;
          }
        }
        if (r.ttl != ttl) {
          if (!ttl_warned)
            c.warn(6, &r, "TTL " + std::to_string(r.ttl) + " differs from " + std::to_string(ttl) +
                              " in the RRset of " + c.owner_text(r) +
                              (opts.unify_ttls ? "; using " + std::to_string(ttl) : ""));
          ttl_warned = true;
          if (opts.unify_ttls) r.ttl = ttl;
        }
      }
      if (r0.type == rrtype::CNAME) {
        cname = &recs[first_idx];
        size_t live = 0;
        for (size_t x = k; x < m; ++x) live += drop.empty() || !drop[order[x]];
        if (live > 1) {
          const Record* second = nullptr;
          for (size_t x = k; x < m; ++x)
            if (order[x] != first_idx && (drop.empty() || !drop[order[x]])) { second = &recs[order[x]]; break; }
          c.error(7, second, "more than one CNAME record at " + c.owner_text(r0));
        }
      } else if (r0.type != rrtype::RRSIG && r0.type != rrtype::NSEC) {
        if (!other || recs[first_idx].line < other->line) other = &recs[first_idx];
      }
      if (r0.type == rrtype::NS && !at_apex) marked.push_back(Marked{h, &recs[first_idx], false});
      if (r0.type == rrtype::DNAME) marked.push_back(Marked{h, &recs[first_idx], true});
      if (r0.type == rrtype::NS)
        for (size_t x = k; x < m; ++x) ns_records.push_back(&recs[order[x]]);
      k = m;
    }
    if (cname && other) {
      const Record* later = cname->line > other->line ? cname : other;
      c.error(8, later, "CNAME and other data at " + c.owner_text(first));
    }
    i = j;
  }

  // 3. Ancestor rules: names below a DNAME (error), data below a cut (warning).
  if (!marked.empty()) {
    std::sort(marked.begin(), marked.end(), [](const Marked& a, const Marked& b) { return a.hash < b.hash; });
    auto find_marked = [&](const uint8_t* nm, size_t len, bool want_dname) -> const Record* {
      uint64_t h = name_hash(nm, len);
      auto it = std::lower_bound(marked.begin(), marked.end(), h,
                                 [](const Marked& m, uint64_t v) { return m.hash < v; });
      for (; it != marked.end() && it->hash == h; ++it)
        if (it->dname == want_dname && it->rec->owner_len == len &&
            std::memcmp(z.owner(*it->rec), nm, len) == 0)
          return it->rec;
      return nullptr;
    };
    for (const Head& hd : heads) {
      const Record& r = recs[order[hd.at]];
      const uint8_t* o = z.owner(r);
      size_t len = r.owner_len;
      if (!name_is_below_or_equal(o, len, apex, apex_len)) continue;
      size_t off = 0;
      const Record* cut = nullptr;
      const Record* dname = nullptr;
      while (o[off] != 0 && len - off > apex_len) {
        off += size_t(o[off]) + 1;
        if (const Record* d = find_marked(o + off, len - off, true)) dname = d;
        if (len - off > apex_len)
          if (const Record* cr = find_marked(o + off, len - off, false)) cut = cr;
      }
      if (dname) {
        c.error(9, &r, "name " + c.owner_text(r) + " is below the DNAME at " + c.owner_text(*dname) +
                           " (line " + std::to_string(dname->line) + ")");
      } else if (cut) {
        size_t k = hd.at;
        while (k < n && same_owner(z, r, recs[order[k]])) {
          const Record& x = recs[order[k++]];
          if (x.type != rrtype::A && x.type != rrtype::AAAA)
            c.warn(10, &x, "record " + c.owner_text(x) + " is occluded by the delegation at " +
                               c.owner_text(*cut));
        }
      }
    }
  }

  // 4. Glue: every in-zone name server needs an address (as named-checkzone).
  auto has_address = [&](const uint8_t* nm, size_t len) {
    uint8_t low[kMaxName];
    std::memcpy(low, nm, len);
    name_to_lower(low, len);
    uint32_t key = uint32_t(name_hash(low, len) >> 32);
    auto it = std::lower_bound(heads.begin(), heads.end(), key,
                               [](const Head& h, uint32_t v) { return h.key < v; });
    for (; it != heads.end() && it->key == key; ++it) {
      size_t k = it->at;
      const Record& r = recs[order[k]];
      if (r.owner_len != len || std::memcmp(z.owner(r), low, len) != 0) continue;
      for (; k < n && same_owner(z, r, recs[order[k]]); ++k) {
        uint16_t t = recs[order[k]].type;
        if (t == rrtype::A || t == rrtype::AAAA) return true;
      }
      return false;
    }
    return false;
  };
  for (const Record* r : ns_records) {
    const uint8_t* t = z.rdata(*r);
    size_t tl = name_wire_length(t, r->rdata_len);
    if (tl == 0) continue;
    uint8_t low[kMaxName];
    std::memcpy(low, t, tl);
    name_to_lower(low, tl);
    if (!name_is_below_or_equal(low, tl, apex, apex_len)) continue;
    if (!has_address(low, tl))
      c.error(11, r, "NS " + name_to_text(t, tl) + " of " + c.owner_text(*r) +
                         " is in the zone but has no A/AAAA record (missing glue)");
  }

  // 5. Repairs: drop duplicates, keeping file order.
  if (!drop.empty()) {
    size_t w = 0;
    for (size_t i = 0; i < recs.size(); ++i)
      if (!drop[i]) recs[w++] = recs[i];
    recs.resize(w);
    order.clear();
  }
  if (order_out) *order_out = std::move(order);
}

void check_zone(ZoneData& zone, std::vector<Diagnostic>& out, const CheckOptions& opts) {
  check_zone_grouped(zone, out, opts, nullptr);
}

}  // namespace edgedns::zones
