// Semantic zone checks (see check.hh). One grouping pass (records ordered by
// owner hash, owner, type, rdata: O(n) radix sort) serves every per-name and
// per-RRset rule; ancestor rules (DNAME children, occlusion) walk the labels
// of each owner only when the zone has cuts or DNAMEs.
#include "zones/check.hh"

#include <algorithm>
#include <string>

#include "zones/grouping.hh"

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
  void error(int rule, const Record* r, std::string m) {
    report(rule, Diagnostic::Severity::Error, r, std::move(m));
  }
  void warn(int rule, const Record* r, std::string m) {
    report(rule, Diagnostic::Severity::Warning, r, std::move(m));
  }
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
                        Grouping* grouping_out) {
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
  bool at_apex = false;
  for (const Record& r : recs) {
    // Per owner, not per record: consecutive records of one owner share its bytes.
    if (r.owner_off != last_off) {
      last_off = r.owner_off;
      const uint8_t* o = z.owner(r);
      if (name_wire_length(o, r.owner_len) != r.owner_len)
        c.error(0, &r, "owner name breaks the label (63) or name (255) length limit");
      last_in = lower_name_below_or_equal(o, r.owner_len, apex, apex_len);
      at_apex = r.owner_len == apex_len && std::memcmp(o, apex, apex_len) == 0;
    }
    if (!last_in) c.error(1, &r, "record " + c.owner_text(r) + " is outside zone " + apex_text);
    if (r.type == rrtype::SOA) {
      if (!at_apex) {
        c.error(2, &r,
                "SOA record at " + c.owner_text(r) + " is not at the zone apex " + apex_text);
      } else if (++soa == 1) {
        first_soa = &r;
      } else {
        c.error(2, &r, "more than one SOA record at the zone apex " + apex_text);
      }
    }
    if (r.type == rrtype::NS && at_apex) apex_ns = true;
  }
  if (soa == 0)
    c.error(3, recs.empty() ? nullptr : &recs[0],
            "zone " + apex_text + " has no SOA record at its apex");
  else if (!apex_ns) c.error(4, first_soa, "zone " + apex_text + " has no NS records at its apex");

  // 2. Per-name and per-RRset rules over the grouping. Everything but the
  // rare multi-record comparisons and the diagnostics reads only `g`.
  Grouping g = group_records(z);
  GroupEnt* E = g.ents.get();
  const uint8_t* arena = z.arena.data();
  const uint64_t apex_hash = name_hash(apex, apex_len);
  std::vector<uint8_t> drop;
  std::vector<Marked> marked;
  std::vector<uint32_t> ns_records;  // record indices
  const size_t n = g.size;
  for (size_t i = 0; i < n;) {
    const GroupEnt& first = E[i];
    size_t j = i + 1;
    while (j < n && same_owner(z, first, E[j])) ++j;
    const uint64_t h = first.hash;
    const bool at_apex =
        h == apex_hash && name_equal(arena + first.owner_off, first.owner_len, apex, apex_len);
    uint32_t cname = UINT32_MAX;  // record index of the CNAME (first in file order)
    for (size_t k = i; k < j;) {
      const uint16_t type = E[k].type;
      size_t m = k;
      // Records of one RRset: the first in file order is the smallest index.
      size_t first_at = k;
      while (m < j && E[m].type == type) {
        if (E[m].idx < E[first_at].idx) first_at = m;
        ++m;
      }
      const uint32_t first_idx = E[first_at].idx;
      const uint32_t ttl = E[first_at].ttl;
      bool ttl_warned = false;
      for (size_t x = k; x < m; ++x) {
        GroupEnt& e = E[x];
        if (x > k) {
          const GroupEnt& p = E[x - 1];
          if (p.rdata_len == e.rdata_len &&
              std::memcmp(arena + p.rdata_off, arena + e.rdata_off, e.rdata_len) == 0) {
            if (opts.drop_duplicates) {
              if (drop.empty()) drop.assign(recs.size(), 0);
              drop[e.idx] = 1;
            }
            const Record& r = recs[e.idx];
            c.warn(5, &r,
                   "duplicate record " + c.owner_text(r) + " " + std::to_string(r.type) +
                       (opts.drop_duplicates ? " dropped" : ""));
            continue;
          }
        }
        if (e.ttl != ttl) {
          Record& r = recs[e.idx];
          if (!ttl_warned)
            c.warn(6, &r,
                   "TTL " + std::to_string(r.ttl) + " differs from " + std::to_string(ttl) +
                       " in the RRset of " + c.owner_text(r) +
                       (opts.unify_ttls ? "; using " + std::to_string(ttl) : ""));
          ttl_warned = true;
          if (opts.unify_ttls) r.ttl = e.ttl = ttl;
        }
      }
      if (type == rrtype::CNAME) {
        cname = first_idx;
        size_t live = 0;
        for (size_t x = k; x < m; ++x) live += drop.empty() || !drop[E[x].idx];
        if (live > 1) {
          const Record* second = nullptr;
          for (size_t x = k; x < m; ++x)
            if (E[x].idx != first_idx && (drop.empty() || !drop[E[x].idx])) {
              second = &recs[E[x].idx];
              break;
            }
          c.error(7, second, "more than one CNAME record at " + c.owner_text(recs[first_idx]));
        }
      }
      if (type == rrtype::NS && !at_apex) marked.push_back(Marked{h, &recs[first_idx], false});
      if (type == rrtype::DNAME) marked.push_back(Marked{h, &recs[first_idx], true});
      if (type == rrtype::NS)
        for (size_t x = k; x < m; ++x) ns_records.push_back(E[x].idx);
      k = m;
    }
    if (cname != UINT32_MAX) {
      // The earliest (by line) first record of the other RRsets, as the one
      // a reader meets first; RRSIG and NSEC may sit beside a CNAME.
      const Record* other = nullptr;
      for (size_t k = i; k < j;) {
        const uint16_t type = E[k].type;
        uint32_t first_idx = E[k].idx;
        size_t m = k;
        while (m < j && E[m].type == type) {
          first_idx = std::min(first_idx, E[m].idx);
          ++m;
        }
        if (type != rrtype::CNAME && type != rrtype::RRSIG && type != rrtype::NSEC)
          if (!other || recs[first_idx].line < other->line) other = &recs[first_idx];
        k = m;
      }
      if (other) {
        const Record* cn = &recs[cname];
        const Record* later = cn->line > other->line ? cn : other;
        c.error(8, later, "CNAME and other data at " + c.owner_text(*cn));
      }
    }
    i = j;
  }

  // 3. Ancestor rules: names below a DNAME (error), data below a cut (warning).
  // Delegation cuts and DNAMEs by owner hash (also used by the glue check).
  std::sort(marked.begin(), marked.end(),
            [](const Marked& a, const Marked& b) { return a.hash < b.hash; });
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
  if (!marked.empty()) {
    for (size_t i = 0; i < n;) {
      size_t j = i + 1;
      while (j < n && same_owner(z, E[i], E[j])) ++j;
      const Record& r = recs[E[i].idx];
      const uint8_t* o = z.owner(r);
      size_t len = r.owner_len;
      if (!lower_name_below_or_equal(o, len, apex, apex_len)) {
        i = j;
        continue;
      }
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
        c.error(9, &r,
                "name " + c.owner_text(r) + " is below the DNAME at " + c.owner_text(*dname) +
                    " (line " + std::to_string(dname->line) + ")");
      } else if (cut) {
        for (size_t k = i; k < j; ++k) {
          const Record& x = recs[E[k].idx];
          if (x.type != rrtype::A && x.type != rrtype::AAAA)
            c.warn(10, &x,
                   "record " + c.owner_text(x) + " is occluded by the delegation at " +
                       c.owner_text(*cut));
        }
      }
      i = j;
    }
  }

  // 4. Glue: every in-zone name server needs an address (as named-checkzone).
  auto has_address = [&](const uint8_t* low, size_t len) {
    size_t k = g.find(z, low, len, name_hash(low, len));
    if (k == SIZE_MAX) return false;
    for (size_t x = k; x < n && same_owner(z, E[k], E[x]); ++x)
      if (E[x].type == rrtype::A || E[x].type == rrtype::AAAA) return true;
    return false;
  };
  for (uint32_t ri : ns_records) {
    const Record* r = &recs[ri];
    const uint8_t* t = z.rdata(*r);
    size_t tl = name_wire_length(t, r->rdata_len);
    if (tl == 0) continue;
    uint8_t low[kMaxName];
    std::memcpy(low, t, tl);
    name_to_lower(low, tl);
    if (!name_is_below_or_equal(low, tl, apex, apex_len)) continue;
    if (has_address(low, tl)) continue;
    // An authoritative (not below a cut) target that does not exist may be
    // covered by a wildcard with an address, which answers for it (RFC 4592);
    // kzonecheck accepts that. Glue below a cut must be explicit.
    bool covered = false;
    if (g.find(z, low, tl, name_hash(low, tl)) == SIZE_MAX) {
      bool below_cut = false;
      for (size_t off = size_t(low[0]) + 1; tl - off >= apex_len && low[off] != 0;
           off += size_t(low[off]) + 1) {
        if (tl - off > apex_len && find_marked(low + off, tl - off, false)) {
          below_cut = true;
          break;
        }
        if (tl - off == apex_len) break;
      }
      for (size_t off = size_t(low[0]) + 1; !below_cut && !covered && tl - off >= apex_len;
           off += size_t(low[off]) + 1) {
        uint8_t wc[kMaxName];
        size_t pl = tl - off;
        if (pl + 2 > kMaxName) break;
        wc[0] = 1;
        wc[1] = '*';
        std::memcpy(wc + 2, low + off, pl);
        covered = has_address(wc, pl + 2);
        // The closest existing ancestor ends the search: a wildcard higher
        // up does not cover names below an existing node.
        if (g.find(z, low + off, pl, name_hash(low + off, pl)) != SIZE_MAX || pl == apex_len) break;
      }
    }
    if (!covered)
      c.error(11, r,
              "NS " + name_to_text(t, tl) + " of " + c.owner_text(*r) +
                  " is in the zone but has no A/AAAA record (missing glue)");
  }

  // 5. Repairs: drop duplicates, keeping file order.
  if (!drop.empty()) {
    size_t w = 0;
    for (size_t i = 0; i < recs.size(); ++i)
      if (!drop[i]) recs[w++] = recs[i];
    recs.resize(w);
    g = Grouping{};
  }
  if (grouping_out) *grouping_out = std::move(g);
}

void check_zone(ZoneData& zone, std::vector<Diagnostic>& out, const CheckOptions& opts) {
  check_zone_grouped(zone, out, opts, nullptr);
}

}  // namespace edgedns::zones
