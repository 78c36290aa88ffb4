// The answer engine's query path (see answer.hh). Behaviour follows Knot DNS
// 3.2 where the RFCs leave room; deliberate differences are listed in
// docs/differences.md. Everything here runs per query and is noexcept and
// allocation-free: the response is built in the caller's buffer from the
// pre-encoded RRsets of the snapshot and the special-answer tables that
// answer_prepare.cc made when the zone was compiled or changed.
#include "zones/answer.hh"

#include <bit>
#include <cstddef>
#include <cstring>

#include "zones/answer_common.hh"
#include "zones/answer_prepare.hh"
#include "zones/name.hh"
#include "zones/snapshot.hh"
#include "zones/version.hh"
#include "zones/zone.hh"

namespace edgedns::zones {

namespace {

constexpr size_t kOptSize = 11;      // root owner, type, class, ttl, rdlen 0
constexpr uint16_t kOptNsid = 3;     // RFC 5001 option code
constexpr size_t kNsidVersion = 15;  // " v=" and 12 hex digits
// CNAME/DNAME records followed per answer: knotd 3.2's CNAME_CHAIN_MAX, so
// that long chains end where Knot's do (real zones use one or two hops); it
// also bounds every loop.
constexpr int kMaxChain = 5;

// Skips one (possibly compressed) name in a received message; returns the
// offset after it or 0 when malformed. The pointer is not followed, but it
// must point backwards, past the header (RFC 1035 §4.1.4 compresses against
// an earlier occurrence): one to itself, forward or past the end is FORMERR,
// as Knot answers.
size_t skip_name(const uint8_t* p, size_t len, size_t off) noexcept {
  for (int guard = 0; guard < 128 && off < len; ++guard) {
    uint8_t l = p[off];
    if (l == 0) return off + 1;
    if ((l & 0xc0) == 0xc0) {
      if (off + 2 > len) return 0;
      size_t target = size_t(l & 0x3f) << 8 | p[off + 1];
      return target >= kHeaderSize && target < off ? off + 2 : 0;
    }
    if (l > kMaxLabel) return 0;
    off += size_t(l) + 1;
  }
  return 0;
}

// A record after the question does not parse: whatever OPT was seen is not
// trusted (the answer goes without one).
QueryStatus bad_record(Query& q, QueryStatus st) noexcept {
  q.has_edns = false;
  q.nsid = false;
  q.do_bit = false;
  q.edns_version = 0;
  q.udp_size = 512;
  return st;
}

}  // namespace

QueryStatus parse_query(std::span<const uint8_t> pkt, Query& q) noexcept {
  q.qname_len = 0;
  q.has_edns = false;  // q.nsid is set wherever this becomes true
  q.do_bit = false;
  q.edns_version = 0;
  q.udp_size = 512;
  q.qtype = q.qclass = 0;
  q.hint_set = nullptr;
  q.hint_node_done = false;
  q.packet = pkt.data();
  if (pkt.size() < kHeaderSize) return q.status = QueryStatus::Drop;
  const uint8_t* p = pkt.data();
  const size_t len = pkt.size();
  q.id = rd16(p);
  q.flags = rd16(p + 2);
  q.qdcount = rd16(p + 4);
  if (q.flags & hflag::QR) return q.status = QueryStatus::Drop;
  size_t off = kHeaderSize;
  bool bad = false;
  if (q.qdcount >= 1) {
    // name_wire_length's walk over the length octets, then one copy and one
    // flat fold: length octets are below 64, never letters, so folding every
    // byte equals name_to_lower and needs no label structure.
    const uint8_t* s = p + off;
    // The root label must lie inside the packet and within kMaxName bytes.
    const size_t lim = len - off < kMaxName ? len - off : kMaxName;
    size_t nl = 0;
    for (size_t i = 0; i < lim;) {
      const uint8_t l = s[i];
      if (l == 0) {
        nl = i + 1;
        break;
      }
      if (l > kMaxLabel) break;
      i += size_t(l) + 1;
    }
    if (nl == 0 || off + nl + 4 > len) {
      bad = true;
    } else {
      const uint64_t name_sum = lower_and_sum(q.qname_lower, s, nl);
      q.qname = s;
      q.qname_len = uint8_t(nl);
      q.qtype = rd16(p + off + nl);
      q.qclass = rd16(p + off + nl + 2);
      q.hash = name_hash(q.qname_lower, nl);
      const uint64_t tc =
          uint64_t(q.qtype) + q.qclass;  // at an odd offset after an odd-length name
      q.qsum = name_sum + ones_at(tc, nl);
      off += nl + 4;
    }
  }
  const uint8_t opc = (q.flags >> 11) & 0xf;
  // Two questions or an unreadable one: the records after it cannot be found.
  if (q.qdcount > 1 || bad)
    return q.status = opc != opcode::QUERY ? QueryStatus::NotImp : QueryStatus::FormErr;
  // The other sections: only an OPT in additional is meaningful to us, but
  // every record must parse and nothing may follow the last one. They are
  // read for NOTIMP and for an empty question too, so that those answers
  // carry an OPT when the query did (RFC 6891 §7; Knot does the same).
  const QueryStatus ok = opc != opcode::QUERY ? QueryStatus::NotImp
                         : q.qdcount == 0     ? QueryStatus::FormErr
                                              : QueryStatus::Ok;
  const QueryStatus malformed = opc != opcode::QUERY ? QueryStatus::NotImp : QueryStatus::FormErr;
  // What nearly every query carries after the question: nothing, or one
  // OPT record with a root owner. Read directly; anything else takes the
  // general walk below, which accepts the same messages.
  if (rd16(p + 6) == 0 && rd16(p + 8) == 0) {
    const uint16_t ar = rd16(p + 10);
    if (ar == 0 && off == len) return q.status = ok;
    if (ar == 1 && off + 11 <= len && p[off] == 0 && rd16(p + off + 1) == rrtype::OPT &&
        off + 11 + size_t(rd16(p + off + 9)) == len) {
      size_t o = off + 11;
      bool nsid = false;
      while (o + 4 <= len) {  // options must tile the RDATA exactly
        nsid |= rd16(p + o) == kOptNsid;
        o += 4 + rd16(p + o + 2);
      }
      if (o == len) {
        q.has_edns = true;
        q.nsid = nsid;
        const uint16_t sz = rd16(p + off + 3);
        q.udp_size = sz < 512 ? 512 : sz;
        q.edns_version = p[off + 6];
        q.do_bit = (p[off + 7] & 0x80) != 0;
        return q.status = ok;
      }
    }
  }
  const uint16_t counts[3] = {rd16(p + 6), rd16(p + 8), rd16(p + 10)};
  int opts = 0;
  q.nsid = false;
  for (int sec = 0; sec < 3; ++sec) {
    for (uint32_t i = 0; i < counts[sec]; ++i) {
      size_t owner = off;
      off = skip_name(p, len, off);
      if (off == 0 || off + 10 > len) return q.status = bad_record(q, malformed);
      uint16_t type = rd16(p + off);
      uint16_t rdlen = rd16(p + off + 8);
      if (off + 10 + rdlen > len) return q.status = bad_record(q, malformed);
      if (type == rrtype::OPT) {
        if (sec != 2 || ++opts > 1 || p[owner] != 0) return q.status = bad_record(q, malformed);
        q.has_edns = true;
        uint16_t sz = rd16(p + off + 2);
        q.udp_size = sz < 512 ? 512 : sz;
        q.edns_version = p[off + 5];
        q.do_bit = (p[off + 6] & 0x80) != 0;
        // Options must tile the RDATA exactly; only NSID's presence matters.
        size_t o = off + 10, end = off + 10 + rdlen;
        while (o < end) {
          if (o + 4 > end) return q.status = bad_record(q, malformed);
          q.nsid |= rd16(p + o) == kOptNsid;
          o += 4 + rd16(p + o + 2);
        }
        if (o != end) return q.status = bad_record(q, malformed);
      }
      off += 10 + rdlen;
    }
  }
  if (off != len) return q.status = bad_record(q, malformed);
  return q.status = ok;
}

void prefetch(const ZoneSet& zs, const Query& q) noexcept {
  if (q.status != QueryStatus::Ok || q.qname_len == 0) return;
  const Zone* z = zs.find(q.qname_lower, q.qname_len);
  if (!z) return;
  if (const Slot* s = z->home_slot(q.hash)) __builtin_prefetch(s);
}

namespace {

bool wants_zone(const Query& q) noexcept {
  // DS is answered from the parent's zone: answer() looks it up itself.
  return q.status == QueryStatus::Ok && q.qname_len != 0 && q.qtype != rrtype::DS;
}

// A set of many zones: every query's zone is likely cold (100,000 zones do
// not stay in cache), and the chain index slot -> Zone -> view -> home slot
// is four dependent misses. Each link is prefetched for the whole burst
// before the next is read, so the burst waits about once per link.
void prefetch_zones(const ZoneSet& zs, Query* qs, size_t n) noexcept {
  for (size_t i = 0; i < n; ++i)
    if (wants_zone(qs[i])) zs.prefetch_find(qs[i].qname_lower, qs[i].qname_len);
  for (size_t i = 0; i < n; ++i) {
    Query& q = qs[i];
    q.hint_zone = nullptr;
    if (!wants_zone(q)) continue;
    const Zone* z = zs.find(q.qname_lower, q.qname_len);
    q.hint_zone = z;
    if (z) {
      // The lines answer() reads besides the view: the apex facts and the
      // special-answer table's header.
      __builtin_prefetch(&z->shard_bits);
      __builtin_prefetch(&z->views);
      __builtin_prefetch(&z->apex_len);
      __builtin_prefetch(&z->special_bits);
    }
  }
  for (size_t i = 0; i < n; ++i)
    if (const Zone* z = qs[i].hint_zone) {
      __builtin_prefetch(&z->view_of(qs[i].hash));
      __builtin_prefetch(z->apex_node);  // negative answers and the authority section
      __builtin_prefetch(z->neg_soa_c.data());
    }
}

}  // namespace

void prefetch_burst(const ZoneSet& zs, Query* qs, size_t n) noexcept {
  const bool many = zs.many();
  if (many) prefetch_zones(zs, qs, n);
  // Stage 1: the zone (its index is small and hot; for many zones, found
  // above), then the shard's view (a 1M-name zone has 4096 of them: 96 KiB,
  // in L2 after the first bursts) and the prefetch of the name's home slot.
  for (size_t i = 0; i < n; ++i) {
    Query& q = qs[i];
    q.hint_set = nullptr;
    q.hint_node_done = false;
    // DS is answered from the parent's zone: answer() looks it up itself.
    if (q.status != QueryStatus::Ok || q.qname_len == 0 || q.qtype == rrtype::DS) continue;
    const Zone* z =
        many ? static_cast<const Zone*>(q.hint_zone) : zs.find(q.qname_lower, q.qname_len);
    if (!z) continue;
    q.hint_set = &zs;
    q.hint_zone = z;
    // The shard's view and the home slot, kept for stage 2.
    const ShardView& v = z->view_of(q.hash);
    q.hint_view = &v;
    if (v.nslots) {
      q.hint_slot = slot_home(q.hash, z->shard_bits, v.nslots);
      __builtin_prefetch(v.slots + q.hint_slot);
    }
  }
  // Stage 2: the slots have arrived while the rest of the burst was handled:
  // the first slot with the name's tag gives the node (its name is compared
  // by answer(), once the node is in cache); an empty slot first means the
  // name is absent. The node's first two lines hold the header, the RRset
  // directory and, for a typical name, its RRsets.
  for (size_t i = 0; i < n; ++i) {
    Query& q = qs[i];
    if (q.hint_set != &zs) continue;
    const ShardView& v = *static_cast<const ShardView*>(q.hint_view);
    const uint8_t* node = nullptr;
    if (v.nslots) {
      const uint32_t tag = uint32_t(q.hash);
      for (uint32_t k = q.hint_slot;;) {
        const Slot& sl = v.slots[k];
        if (sl.off == kEmptySlot) break;
        if (sl.tag == tag) {
          node = v.blob + sl.off;
          break;
        }
        if (++k == v.nslots) k = 0;
      }
    }
    q.hint_node = node;
    q.hint_node_done = true;
    if (node) {
      __builtin_prefetch(node);
      __builtin_prefetch(node + 64);
    }
  }
}

namespace {

// rdata_name_info(t).count != 0, as one bit test (the hit path asks it per answer).
constexpr bool rdata_has_names(uint16_t t) noexcept {
  constexpr uint64_t kMask = 1ull << rrtype::NS | 1ull << rrtype::CNAME | 1ull << rrtype::SOA |
                             1ull << rrtype::PTR | 1ull << rrtype::MX | 1ull << rrtype::SRV |
                             1ull << rrtype::DNAME;
  return t < 64 ? (kMask >> t) & 1 : (t == rrtype::SVCB || t == rrtype::HTTPS);
}

// Every type up to 511 (all that rdata_name_info names are below 66) and a
// few far ones; all 65536 would exceed clang's constexpr step limit.
consteval bool rdata_has_names_agrees() {
  for (uint32_t t = 0; t < 512; ++t)
    if (rdata_has_names(uint16_t(t)) != (rdata_name_info(uint16_t(t)).count != 0)) return false;
  for (uint16_t t : {uint16_t(4096), uint16_t(32768), uint16_t(65280), uint16_t(65535)})
    if (rdata_has_names(t) != (rdata_name_info(t).count != 0)) return false;
  return true;
}
static_assert(rdata_has_names_agrees());

}  // namespace

// Writes an RRset from its pre-encoded block. The owner is `owner_ptr` when it
// is a valid pointer target, else the name itself (compressed). Whole RRset or
// nothing.
bool put_rrset(Writer& w, int sec, const uint8_t* block, uint32_t blen, uint16_t count,
               uint16_t type, const uint8_t* owner, size_t owner_len, int owner_ptr) noexcept {
  const size_t start = w.pos;
  const int nent0 = w.nent;
  const NameInfo ni = rdata_name_info(type);
  if (owner_ptr == kHeaderSize && ni.count == 0) {  // the hot path: one memcpy
    if (w.pos + blen > w.limit) return false;
    copy_short(w.buf + w.pos, block, blen);
    w.pos += blen;
    w.count[sec] += count;
    return true;
  }
  const uint8_t* p = block;
  for (uint16_t i = 0; i < count; ++i) {
    uint16_t rdlen = rd16(p + 10);
    bool ok;
    if (owner_ptr >= 0 && owner_ptr <= kMaxPtr) {
      ok = w.pos + 2 <= w.limit;
      if (ok) {
        wr16(w.buf + w.pos, uint16_t(0xc000 | owner_ptr));
        w.pos += 2;
      }
    } else {
      size_t at = w.pos;
      ok = w.put_name(owner, owner_len, true);
      if (ok && at <= kMaxPtr) owner_ptr = int(at);
    }
    // Only the header is checked here: names in RDATA may shrink when compressed.
    if (!ok || w.pos + 10 > w.limit) goto fail;
    std::memcpy(w.buf + w.pos, p + 2, 10);
    {
      size_t hdr = w.pos;
      w.pos += 10;
      const uint8_t* rd = p + 12;
      if (ni.count && ni.off <= rdlen) {
        if (w.pos + ni.off > w.limit) goto fail;
        copy_short(w.buf + w.pos, rd, ni.off);
        w.pos += ni.off;
        size_t o = ni.off;
        for (int n = 0; n < ni.count; ++n) {
          size_t nl = name_wire_length(rd + o, rdlen - o);
          if (nl == 0) break;
          if (!w.put_name(rd + o, nl, ni.compress, ni.target)) goto fail;
          o += nl;
        }
        if (w.pos + (rdlen - o) > w.limit) goto fail;
        copy_short(w.buf + w.pos, rd + o, rdlen - o);
        w.pos += rdlen - o;
        wr16(w.buf + hdr + 8, uint16_t(w.pos - hdr - 10));
      } else {
        if (w.pos + rdlen > w.limit) goto fail;
        copy_short(w.buf + w.pos, rd, rdlen);
        w.pos += rdlen;
      }
    }
    p += 12 + rdlen;
  }
  w.count[sec] += count;
  return true;
fail:
  w.pos = start;
  w.nent = nent0;
  return false;
}

namespace {

// The answer-section copy of a node's RRset of one type for the hit path:
// its block and the block's stored sum (RRsetDir::sum).
struct HitRef {
  const uint8_t* block = nullptr;
  uint32_t len = 0;
  uint16_t count = 0;
  uint16_t sum = 0;
};
inline HitRef node_hit(const uint8_t* node, uint16_t type) noexcept {
  const uint8_t* w;
  const RRsetDir* d = find_dir(node, type, w);
  return d ? HitRef{w, d->len, d->count, d->sum} : HitRef{};
}

RRsetRef node_first_rrset(const uint8_t* node) noexcept {
  auto* h = reinterpret_cast<const NodeHdr*>(node);
  if (h->nrrsets == 0) return {};
  const RRsetDir* dir = node_dir(node);
  return RRsetRef{node_wire(node), dir[0].len, dir[0].count, dir[0].type};
}

uint8_t node_flags(const uint8_t* node) noexcept { return node[0]; }

// The name at the start of the RDATA of the first RR of a block.
const uint8_t* rr_rdata(const uint8_t* rr) noexcept { return rr + 12; }

// The negative answer's SOA from the zone's compressed template (Zone::neg_soa_c):
// the question's name is in the zone, so its tail at 12 + qname_len - apex_len
// is the apex, the target of the owner and of both SOA names. Written at
// buf + pos; bytes written, or 0 when there is no template or it does not
// fit below `limit` (pos may already be past it).
inline size_t put_neg_soa(uint8_t* buf, size_t pos, size_t limit, const Zone& z,
                          size_t qname_len) noexcept {
  const size_t n = z.neg_soa_c.size();
  if (n == 0 || pos >= limit || n > limit - pos || qname_len < z.apex_len) return 0;
  uint8_t* at = buf + pos;
  copy_short(at, z.neg_soa_c.data(), n);
  const uint16_t ptr = uint16_t(0xc000 | (kHeaderSize + qname_len - z.apex_len));
  wr16(at, ptr);
  wr16(at + z.neg_soa_ptr[0], ptr);
  wr16(at + z.neg_soa_ptr[1], ptr);
  return n;
}

// ones_sum of what put_neg_soa wrote (from the template, not the message):
// the template's sum with its owner bytes and both pointer slots replaced by
// the patched pointer; a slot at an odd offset of the template straddles two
// words, so its value counts byte-swapped.
inline uint64_t neg_soa_sum(const Zone& z, size_t qname_len) noexcept {
  const uint8_t* t = z.neg_soa_c.data();
  const uint64_t ptr = 0xc000 | uint32_t(kHeaderSize + qname_len - z.apex_len);
  uint64_t s = ones_acc(t, z.neg_soa_c.size()) + (0xffff - rd16(t)) + ptr;  // owner at 0
  for (uint16_t at : z.neg_soa_ptr) s += ones_at(ptr, at);                  // slots hold 00 00
  return s;
}

struct Resolver {
  Resolver(const Zone* zone, const Query& query, Writer& writer) noexcept
      : z(zone), q(query), w(writer) {}
  const Zone* z;
  const Query& q;
  Writer& w;
  uint8_t rcode = rcode::NOERROR;
  bool aa = true;
  bool tc = false;
  AnswerKind kind = AnswerKind::Answer;
  static constexpr int kMaxAddl =
      32;  // targets de-duplicated; more are rare and only cost a repeat
  const uint8_t* addl_nodes[kMaxAddl];
  int naddl = 0;

  // Every name looked up here is in the zone, so one of the apex's length is
  // the apex: its node is known without a hash (NXDOMAIN one label below
  // the apex, glue and targets at the apex).
  const uint8_t* lookup(const uint8_t* lower, size_t len) const noexcept {
    if (len == z->apex_len && z->apex_node && std::memcmp(lower, z->apex_lower, len) == 0)
      return z->apex_node;
    return z->find(lower, len, name_hash(lower, len));
  }
  bool in_zone(const uint8_t* lower, size_t len) const noexcept {
    return name_is_below_or_equal(lower, len, z->apex_lower, z->apex_len);
  }

  // The wildcard node that covers a name absent from the zone (RFC 4592 §3.3:
  // the closest encloser's "*" child), or null.
  const uint8_t* wildcard_for(const uint8_t* lower, size_t len) const noexcept {
    size_t off = 0;
    while (lower[off] != 0) {
      off += size_t(lower[off]) + 1;
      if (len - off < z->apex_len) return nullptr;
      const uint8_t* ce = lookup(lower + off, len - off);
      if (!ce) continue;
      if ((node_flags(ce) & (node_flag::WildChild | node_flag::Below | node_flag::Cut)) !=
          node_flag::WildChild)
        return nullptr;
      uint8_t wc[kMaxName];
      wc[0] = 1;
      wc[1] = '*';
      copy_short(wc + 2, lower + off, len - off);
      return lookup(wc, len - off + 2);
    }
    return nullptr;
  }

  // A and AAAA (and, for SVCB/HTTPS, the target's own SVCB/HTTPS: RFC 9460
  // §4.1) for one target name, in that order. A record set that does not fit
  // ends this target, not the others: a later, smaller one may still fit (as
  // in Knot). `mandatory` glue sets TC when it does not fit (Knot: in-bailiwick
  // referral glue, RFC 1034 §4.3.2 step 3b).
  void add_target(const uint8_t* target, size_t tlen, uint16_t type, bool mandatory) noexcept {
    uint8_t low[kMaxName];
    copy_short(low, target, tlen);
    name_to_lower(low, tlen);
    if (!in_zone(low, tlen)) return;
    const uint8_t* n = lookup(low, tlen);
    if (!n) n = wildcard_for(low, tlen);  // a target only a wildcard covers (as Knot)
    if (!n) return;
    for (int i = 0; i < naddl; ++i)
      if (addl_nodes[i] == n) return;
    if (naddl < kMaxAddl) addl_nodes[naddl++] = n;
    int ptr = w.find(target, tlen);
    const uint16_t types[3] = {rrtype::A, rrtype::AAAA, type};
    const int ntypes = type == rrtype::SVCB || type == rrtype::HTTPS ? 3 : 2;
    for (int k = 0; k < ntypes; ++k) {
      RRsetRef r = node_rrset(n, types[k]);
      if (!r) continue;
      if (!put_rrset(w, 2, r.block, r.len, r.count, types[k], target, tlen, ptr)) {
        if (mandatory) tc = true;
        return;
      }
      if (ptr < 0) ptr = w.find(target, tlen);
    }
  }

  void additional_for(const RRsetRef& r, const uint8_t* cut, size_t cut_len) noexcept {
    if (r.type != rrtype::NS && r.type != rrtype::MX && r.type != rrtype::SRV &&
        r.type != rrtype::SVCB && r.type != rrtype::HTTPS)
      return;
    const NameInfo ni = rdata_name_info(r.type);
    const uint8_t* p = r.block;
    for (uint16_t i = 0; i < r.count; ++i) {
      uint16_t rdlen = rd16(p + 10);
      if (ni.off < rdlen) {
        const uint8_t* nm = rr_rdata(p) + ni.off;
        size_t nl = name_wire_length(nm, rdlen - ni.off);
        if (nl) add_target(nm, nl, r.type, cut && name_is_below_or_equal(nm, nl, cut, cut_len));
      }
      p += 12 + rdlen;
    }
  }

  // NXDOMAIN/NODATA. An SOA that does not fit is left out without TC, as
  // Knot does: the answer section is complete, the SOA only allows negative
  // caching (RFC 2308 §5). It is the last record of the answer.
  void negative(uint8_t rc, AnswerKind k) noexcept {
    rcode = rc;
    kind = k;
    if (z->neg_soa.empty()) return;
    if (size_t n = put_neg_soa(w.buf, w.pos, w.limit, *z, q.qname_len)) {
      w.pos += n;
      w.count[1]++;
      return;
    }
    const int apex_ptr = z->apex_len > 1 && q.qname_len >= z->apex_len
                             ? int(kHeaderSize + q.qname_len - z->apex_len)
                             : w.find(z->apex_lower, z->apex_len);
    put_rrset(w, 1, z->neg_soa.data(), uint32_t(z->neg_soa.size()), 1, rrtype::SOA, z->apex_lower,
              z->apex_len, apex_ptr);
  }

  void referral(const uint8_t* cut) noexcept {
    if (w.count[0] == 0) aa = false;
    kind = AnswerKind::Referral;
    RRsetRef ns = node_rrset(cut, rrtype::NS);
    const uint8_t* nm = node_name(cut);
    size_t nl = cut[1];
    if (!put_rrset(w, 1, ns.block, ns.len, ns.count, rrtype::NS, nm, nl, w.find(nm, nl))) {
      tc = true;
      return;
    }
    additional_for(ns, nm, nl);
  }

  // The topmost cut or DNAME strictly above a name (which is known to be
  // occluded), or null.
  const uint8_t* topmost_cut(const uint8_t* lower, size_t len) const noexcept {
    const uint8_t* best = nullptr;
    size_t off = 0;
    while (lower[off] != 0 && len - off > z->apex_len) {
      off += size_t(lower[off]) + 1;
      if (len - off <= z->apex_len) break;
      const uint8_t* n = lookup(lower + off, len - off);
      if (n && (node_flags(n) & (node_flag::Cut | node_flag::Dname))) best = n;
    }
    return best;
  }

  static bool seen(const uint8_t* const* list, int n, const uint8_t* node) noexcept {
    for (int i = 0; i < n; ++i)
      if (list[i] == node) return true;
    return false;
  }

  // Follows the query name through the zone (RFC 1034 §4.3.2 steps 3-4).
  // CNAME and DNAME hops are followed the way Knot 3.2 does, so that chains,
  // loops and wildcard loops end in the same place:
  //  - at most kMaxChain hops, then the answer ends as it is (no SOA);
  //  - a CNAME or DNAME RRset already in the answer is not repeated; a CNAME
  //    met again ends the answer, a DNAME met again still yields its
  //    synthesized CNAME (so a DNAME loop runs to the hop limit);
  //  - a wildcard CNAME is written once per visit (owner = the name asked),
  //    and the answer ends after its second visit;
  //  - CNAME, RRSIG, NSEC and ANY queries are answered at a CNAME owner
  //    itself, and a CNAME query below a DNAME ends with the synthesized CNAME.
  void run(const uint8_t* first_node) noexcept {
    uint8_t cur[kMaxName];
    size_t cur_len = q.qname_len;
    copy_short(cur, q.qname_lower, cur_len);
    uint64_t cur_hash = q.hash;
    int cur_ptr = kHeaderSize;
    const uint8_t* in_answer[kMaxChain];  // CNAME/DNAME nodes whose RRset was written
    int nin_answer = 0;
    const uint8_t* wild_seen[kMaxChain];  // wildcard CNAME nodes followed
    int nwild_seen = 0;
    const bool at_cname_owner = q.qtype == rrtype::CNAME || q.qtype == rrtype::RRSIG ||
                                q.qtype == rrtype::NSEC || q.qtype == rrtype::ANY;

    for (int hops = 0;; ++hops) {
      const uint8_t* node = hops == 0 ? first_node : z->find(cur, cur_len, cur_hash);
      const uint8_t* owner_node = node;  // node whose data answers (may be the wildcard)
      const uint8_t* special = nullptr;  // cut or DNAME that takes over
      if (node && (node_flags(node) & node_flag::Below)) {
        special = topmost_cut(cur, cur_len);
      } else if (!node) {
        // Closest encloser: every ancestor of an existing name exists (ENTs are nodes).
        size_t off = 0;
        const uint8_t* ce = nullptr;
        while (cur[off] != 0) {
          off += size_t(cur[off]) + 1;
          if (cur_len - off < z->apex_len) break;
          ce = lookup(cur + off, cur_len - off);
          if (ce) break;
        }
        if (!ce) {
          negative(rcode::NXDOMAIN, AnswerKind::NxDomain);
          return;
        }
        uint8_t f = node_flags(ce);
        if (f & node_flag::Below) {
          special = topmost_cut(cur + off, cur_len - off);
          if (!special) special = ce;
        } else if ((f & (node_flag::Cut | node_flag::Dname)) && !(f & node_flag::Apex)) {
          special = ce;
        } else if (f & node_flag::Dname) {
          special = ce;  // DNAME at the apex
        } else if (f & node_flag::WildChild) {
          uint8_t wc[kMaxName];
          size_t cel = cur_len - off;
          wc[0] = 1;
          wc[1] = '*';
          copy_short(wc + 2, cur + off, cel);
          owner_node = lookup(wc, cel + 2);
          if (!owner_node) {
            negative(rcode::NXDOMAIN, AnswerKind::NxDomain);
            return;
          }
        } else {
          negative(rcode::NXDOMAIN, AnswerKind::NxDomain);
          return;
        }
      } else if ((node_flags(node) & node_flag::Cut) && q.qtype != rrtype::DS) {
        special = node;
      }
      if (special) {
        if (node_flags(special) & node_flag::Cut) {
          referral(special);
          return;
        }
        // DNAME (RFC 6672): the DNAME RRset, then a synthesized CNAME.
        if (hops == kMaxChain) return;
        RRsetRef dn = node_rrset(special, rrtype::DNAME);
        const uint8_t* sn = node_name(special);
        size_t sl = special[1];
        if (!seen(in_answer, nin_answer, special)) {
          if (!put_rrset(w, 0, dn.block, dn.len, dn.count, rrtype::DNAME, sn, sl, w.find(sn, sl))) {
            tc = true;
            return;
          }
          in_answer[nin_answer++] = special;
        }
        const uint8_t* rd = rr_rdata(dn.block);
        size_t tl = name_wire_length(rd, rd16(dn.block + 10));
        size_t prefix = cur_len - sl;
        if (tl == 0) return;
        if (prefix + tl > kMaxName) {
          rcode = 6;
          return;
        }  // YXDOMAIN (RFC 6672 §2.2)
        uint8_t target[kMaxName];
        copy_short(target, cur, prefix);
        copy_short(target + prefix, rd, tl);
        size_t tlen = prefix + tl;
        // Synthesized CNAME: owner = current name, TTL = the DNAME's.
        size_t start = w.pos;
        int nent0 = w.nent;
        bool ok;
        if (cur_ptr >= 0 && cur_ptr <= kMaxPtr) {
          ok = w.pos + 2 <= w.limit;
          if (ok) {
            wr16(w.buf + w.pos, uint16_t(0xc000 | cur_ptr));
            w.pos += 2;
          }
        } else {
          ok = w.put_name(cur, cur_len, true);
        }
        if (ok && w.pos + 10 <= w.limit) {
          size_t hdr = w.pos;
          wr16(w.buf + hdr, rrtype::CNAME);
          wr16(w.buf + hdr + 2, rrclass::IN);
          std::memcpy(w.buf + hdr + 4, dn.block + 6, 4);
          w.pos += 10;
          size_t tpos = w.pos;
          ok = w.put_name(target, tlen, true);
          if (ok) {
            wr16(w.buf + hdr + 8, uint16_t(w.pos - hdr - 10));
            w.count[0]++;
            cur_ptr = tpos <= kMaxPtr ? int(tpos) : -1;
          }
        } else {
          ok = false;
        }
        if (!ok) {
          w.pos = start;
          w.nent = nent0;
          tc = true;
          return;
        }
        if (q.qtype == rrtype::CNAME) return;  // the synthesized CNAME is the answer
        name_to_lower(target, tlen);
        if (!in_zone(target, tlen)) return;
        copy_short(cur, target, tlen);
        cur_len = tlen;
        cur_hash = name_hash(cur, cur_len);
        continue;
      }

      // An existing (or wildcard-synthesized) node answers.
      const uint8_t f = node_flags(owner_node);
      if (at_cname_owner || !(f & node_flag::Cname)) {
        RRsetRef r =
            q.qtype == rrtype::ANY ? node_first_rrset(owner_node) : node_rrset(owner_node, q.qtype);
        if (!r) {
          negative(rcode::NOERROR, AnswerKind::NoData);
          return;
        }
        if (!put_rrset(w, 0, r.block, r.len, r.count, r.type, cur, cur_len, cur_ptr)) {
          tc = true;
          return;
        }
        additional_for(r, nullptr, 0);
        return;
      }
      if (hops == kMaxChain) return;
      // A wildcard CNAME is written with the name asked as owner: a new record
      // each time. Only a CNAME met as itself can already be in the answer.
      const bool synthesized = owner_node != node;
      if (!synthesized) {
        if (seen(in_answer, nin_answer, owner_node)) return;  // loop closed
        in_answer[nin_answer++] = owner_node;
      }
      RRsetRef cn = node_rrset(owner_node, rrtype::CNAME);
      if (!put_rrset(w, 0, cn.block, cn.len, cn.count, rrtype::CNAME, cur, cur_len, cur_ptr)) {
        tc = true;
        return;
      }
      if (f & node_flag::Wildcard) {
        if (seen(wild_seen, nwild_seen, owner_node)) return;  // wildcard loop closed
        wild_seen[nwild_seen++] = owner_node;
      }
      const uint8_t* rd = rr_rdata(cn.block);
      size_t tl = name_wire_length(rd, rd16(cn.block + 10));
      if (tl == 0) return;
      uint8_t target[kMaxName];
      copy_short(target, rd, tl);
      cur_ptr = w.find(target, tl);
      name_to_lower(target, tl);
      if (!in_zone(target, tl)) return;
      copy_short(cur, target, tl);
      cur_len = tl;
      cur_hash = name_hash(cur, cur_len);
    }
  }
};

// The result assembled in a register. Built field by field, GCC stores the
// fields one by one on the stack and reloads them as one word to return it:
// a failed store-to-load forward, a stall on every query.
inline AnswerResult make_result(uint16_t len, uint8_t rc, AnswerKind kind, bool tc,
                                bool has_sum = false, uint32_t sum = 0) noexcept {
  static_assert(sizeof(AnswerResult) == 8 && offsetof(AnswerResult, len) == 0 &&
                offsetof(AnswerResult, rcode) == 2 && offsetof(AnswerResult, kind) == 3 &&
                offsetof(AnswerResult, truncated) == 4 && offsetof(AnswerResult, has_sum) == 5 &&
                offsetof(AnswerResult, sum) == 6);
  static_assert(std::endian::native == std::endian::little);
  return std::bit_cast<AnswerResult>(uint64_t(len) | uint64_t(rc) << 16 | uint64_t(kind) << 24 |
                                     uint64_t(tc) << 32 | uint64_t(has_sum) << 40 |
                                     uint64_t(sum & 0xffff) << 48);
}

size_t put_opt(uint8_t* p, const Query& q, const AnswerConfig& cfg, uint8_t ext_rcode) noexcept {
  p[0] = 0;
  wr16(p + 1, rrtype::OPT);
  wr16(p + 3, cfg.edns_payload);
  p[5] = ext_rcode;
  p[6] = 0;                    // version 0
  p[7] = q.do_bit ? 0x80 : 0;  // only DO is defined; everything else cleared
  p[8] = 0;
  wr16(p + 9, 0);
  return kOptSize;
}

// ones_acc of the bytes put_opt writes, from the same values, for an OPT at
// an even offset: words 0x0000, 0x29|size>>8, size<<8|ext, DO bit, 0, 0.
inline uint64_t opt_sum(const Query& q, const AnswerConfig& cfg, uint8_t ext_rcode) noexcept {
  return (uint32_t(rrtype::OPT) << 8 | cfg.edns_payload >> 8) +
         (uint32_t(cfg.edns_payload & 0xff) << 8 | ext_rcode) + (q.do_bit ? 0x80u : 0u);
}

// Bytes the NSID option adds to an OPT record (0: none configured).
inline size_t nsid_len(const AnswerConfig& cfg) noexcept {
  if (cfg.nsid.empty() || cfg.nsid.size() > kMaxNsid) return 0;
  return 4 + cfg.nsid.size() + (cfg.nsid_version ? kNsidVersion : 0);
}

// Appends the NSID option to the OPT record put_opt wrote at `opt`; `n` is
// nsid_len(). Only queries asking for it come here.
void put_nsid(const ZoneSet& zs, const AnswerConfig& cfg, uint8_t* opt, size_t n) noexcept {
  wr16(opt + 9, uint16_t(n));
  uint8_t* o = opt + kOptSize;
  wr16(o, kOptNsid);
  wr16(o + 2, uint16_t(n - 4));
  std::memcpy(o + 4, cfg.nsid.data(), cfg.nsid.size());
  if (!cfg.nsid_version) return;
  uint8_t* v = o + 4 + cfg.nsid.size();
  std::memcpy(v, " v=", 3);
  // The leading 12 of the 32 hex digits VersionId::hex() prints: the top 48 bits of hi.
  const uint64_t hi = zoneset_version(zs).hi;
  static constexpr char kDigits[] = "0123456789abcdef";
  for (int i = 0; i < 12; ++i) v[3 + i] = uint8_t(kDigits[(hi >> (60 - 4 * i)) & 15]);
}

// ---- precomputed answers for cuts, CNAMEs and wildcard parents ----
//
// Read from the tables of answer_prepare.hh (per shard, and per zone version
// with the nodes each answer reads resolved). special_fast() falls back to
// the general path (returns false) whenever its output could differ from it.

// The special node's entry in its shard's table, and the table's bytes.
struct AuxRef {
  const AnswerAux* e = nullptr;
  const uint8_t* base = nullptr;
};

AuxRef find_aux(const Zone& z, const uint8_t* node, uint64_t hash) noexcept {
  const Shard& s = *z.shards[z.shard_index(hash)];
  const size_t n = aux_count(s);
  if (n == 0) return {};
  const uint8_t* a = s.aux.data();
  const auto* e = reinterpret_cast<const AnswerAux*>(a + 8);
  const uint32_t off = uint32_t(node - s.blob.data());
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (e[mid].node_off < off) lo = mid + 1;
    else hi = mid;
  }
  if (lo == n || e[lo].node_off != off) return {};
  return {e + lo, a};
}

struct FastOut {
  size_t pos;
  uint16_t an, ns, ar;
  uint8_t rcode;
  AnswerKind kind;
  bool aa;
  uint64_t sum = 0;  // ones_acc of the bytes written from the first record on, from their sources
};

// One's complement sum of a records section built piece by piece, taken from
// the pieces' sources (reading the message back would load bytes just stored
// by wider moves: failed forwards). Offsets are from the section's start;
// the sum stays folded so that many pieces cannot overflow it.
struct SectionSum {
  uint64_t acc = 0;
  void add(uint64_t a, size_t off) noexcept { acc = ones_fold(acc + ones_at(a, off)); }
  void bytes(const uint8_t* src, size_t n, size_t off) noexcept { add(ones_acc(src, n), off); }
  // A 16-bit word at `off` that grew by `d` (a moved compression pointer).
  void grow(uint64_t d, size_t off) noexcept { add(d, off); }
};

// put_block_at's bytes at section offset `off`: the block, each owner C0 0C now C0|ptr.
inline void sum_block_at(SectionSum& s, const RRsetRef& r, uint16_t ptr, size_t off) noexcept {
  s.bytes(r.block, r.len, off);
  size_t o = 0;
  for (uint16_t k = 0; k < r.count; ++k) {
    s.grow(uint64_t(ptr) - kHeaderSize, off + o);
    o += 12 + size_t(rd16(r.block + o + 10));
  }
}

// A stored template: `len` bytes at `d`, then `npatch` big-endian offsets of
// the compression pointers in it. Written at `at` with every pointer moved
// by `shift` (the question is `shift` bytes longer than the name the
// template was made for).
inline void put_shifted(uint8_t* at, const uint8_t* d, size_t len, size_t npatch,
                        size_t shift) noexcept {
  copy_short(at, d, len);
  if (shift == 0) return;
  for (size_t i = 0; i < npatch; ++i) {
    // Read from the template, not from `at`: a load from bytes just stored by
    // wider moves cannot be forwarded and stalls (~15% of a referral).
    const uint16_t p = rd16(d + len + 2 * i);
    wr16(at + p, uint16_t(rd16(d + p) + shift));
  }
}

// The template of an AuxRef (made for the node's name), written at `at`.
inline void put_template(uint8_t* at, const AuxRef& ax, size_t shift) noexcept {
  const AnswerAux& a = *ax.e;
  put_shifted(at, ax.base + a.data, a.tmpl_len, a.npatch, shift);
}

// put_template's bytes at section offset 0.
inline void sum_template(SectionSum& s, const AuxRef& ax, size_t shift) noexcept {
  const AnswerAux& a = *ax.e;
  const uint8_t* d = ax.base + a.data;
  s.bytes(d, a.tmpl_len, 0);
  if (shift == 0) return;
  for (uint8_t i = 0; i < a.npatch; ++i) s.grow(shift, rd16(d + a.tmpl_len + 2 * i));
}

// A special node's precomputed parts: from the zone's table (Zone::special,
// with the nodes they read already resolved) or else from its shard's table.
struct Special {
  AuxRef ax;
  const uint8_t* star = nullptr;            // valid when `resolved`
  const uint8_t* const* targets = nullptr;  // valid when `resolved`
  const SpecialNode* entry = nullptr;       // the table's entry, when `resolved`
  bool resolved = false;
};

const SpecialNode* find_special(const Zone& z, const uint8_t* name, size_t len) noexcept {
  if (z.special.empty()) return nullptr;
  const uint64_t f = special_fp(name, len);
  const size_t mask = z.special.size() - 1;
  for (size_t i = size_t(f >> (64 - z.special_bits));; i = (i + 1) & mask) {
    const SpecialNode& e = z.special[i];
    if (!e.node) return nullptr;
    if (e.fp == f && e.node[1] == len && bytes_equal(node_name(e.node), name, len)) return &e;
  }
}

inline Special from_table(const Zone& z, const SpecialNode& e) noexcept {
  return Special{AuxRef{e.aux, e.aux_base}, e.star, z.special_targets.data() + e.targets, &e, true};
}

// `node` (hash `hash`) is a special node: its parts.
Special special_of(const Zone& z, const uint8_t* node, uint64_t hash) noexcept {
  if (!z.special.empty()) {
    if (const SpecialNode* e = find_special(z, node_name(node), node[1]); e && e->node == node)
      return from_table(z, *e);
    return {};  // the table holds every special node of the zone
  }
  return Special{find_aux(z, node, hash)};
}

// `steps`: labels of the question below the cut.
bool fast_referral(const Zone& z, const Query& q, const uint8_t* cut, const Special& sp, int steps,
                   uint8_t* b, size_t pos, size_t room, FastOut& o) noexcept {
  const AuxRef& ax = sp.ax;
  if (!ax.e || ax.e->tmpl_len == 0) return false;
  const AnswerAux& a = *ax.e;
  const size_t shift = q.qname_len - cut[1];
  if (steps > a.max_steps) return false;
  if (pos + a.tmpl_len > room || pos + a.tmpl_len > kMaxPtr) return false;
  // The template was written for a question equal to the cut's name; the
  // question's extra labels could only change it if a server name below
  // the cut shared the question's label right below the cut. That cannot
  // be: such a server name must exist (both paths below require it), so that label's node exists
  // and the closest encloser would be it (or the question itself), not the cut.
  if (sp.entry && sp.entry->full_len) {  // the whole referral of this version: one copy
    const SpecialNode& e = *sp.entry;
    if (pos + e.full_len > room) return false;
    put_shifted(b + pos, z.special_answers.data() + e.full, e.full_len, e.full_npatch, shift);
    o = FastOut{pos + e.full_len,     0,    a.count, e.full_ar, rcode::NOERROR,
                AnswerKind::Referral, false};
    // Its sum was taken when it was made; each moved pointer adds `shift`.
    const uint64_t odd = e.full_odd, even = e.full_npatch - e.full_odd;
    o.sum = ones_fold(e.full_sum + shift * even + ones_odd(shift * odd));
    return true;
  }
  const auto* t = reinterpret_cast<const AuxTarget*>(ax.base + a.data + a.targets);
  put_template(b + pos, ax, shift);
  SectionSum sum;
  sum_template(sum, ax, shift);
  size_t p = pos + a.tmpl_len;
  uint16_t ar = 0;
  const uint8_t* done[32];
  int ndone = 0;
  for (uint8_t i = 0; i < a.ntarget; ++i) {
    const uint8_t* n =
        sp.resolved ? sp.targets[i] : z.find(ax.base + t[i].name_at, t[i].len, t[i].hash);
    if (!n || t[i].msg_pos == 0) return false;  // a wildcard may cover it: the general path knows
    bool dup = false;
    for (int k = 0; k < ndone; ++k) dup |= done[k] == n;
    if (dup) continue;
    done[ndone++] = n;
    const uint16_t ptr = uint16_t(t[i].msg_pos + shift);
    for (uint16_t type : {rrtype::A, rrtype::AAAA}) {
      const RRsetRef r = node_rrset(n, type);
      if (!r) continue;
      if (p + r.len > room) return false;
      put_block_at(b + p, r, ptr);
      sum_block_at(sum, r, ptr, p - pos);
      p += r.len;
      ar = uint16_t(ar + r.count);
    }
  }
  o = FastOut{p, 0, a.count, ar, rcode::NOERROR, AnswerKind::Referral, false};
  o.sum = sum.acc;
  return true;
}

// NODATA or NXDOMAIN with the zone's SOA template after `pos`: only when the
// template fits, as the general path's negative() writes it then.
// `sum`: of what precedes it in the section, which starts at `start`.
bool fast_negative(const Zone& z, const Query& q, uint8_t* b, size_t start, size_t pos, size_t room,
                   uint16_t an, uint8_t rc, AnswerKind kind, SectionSum sum, FastOut& o) noexcept {
  if (z.neg_soa_c.empty()) return false;
  const size_t n = put_neg_soa(b, pos, room, z, q.qname_len);
  if (n == 0) return false;
  o = FastOut{pos + n, an, 1, 0, rc, kind, true};
  sum.add(ones_fold(neg_soa_sum(z, q.qname_len)), pos - start);
  o.sum = sum.acc;
  return true;
}

bool fast_cname(const Zone& z, const Query& q, const Special& sp, uint8_t* b, size_t pos,
                size_t room, FastOut& o) noexcept {
  const AuxRef& ax = sp.ax;
  if (!ax.e || ax.e->tmpl_len == 0) return false;
  const AnswerAux& a = *ax.e;
  if (pos + a.tmpl_len > room) return false;
  put_template(b + pos, ax, 0);  // the question is the node's name: no shift
  SectionSum sum;
  sum_template(sum, ax, 0);
  const size_t p = pos + a.tmpl_len;
  if (a.ntarget == 0) {  // the target is not in the zone: the answer ends
    o = FastOut{p, 1, 0, 0, rcode::NOERROR, AnswerKind::Answer, true};
    o.sum = sum.acc;
    return true;
  }
  const auto* t = reinterpret_cast<const AuxTarget*>(ax.base + a.data + a.targets);
  const uint8_t* n = sp.resolved ? sp.targets[0] : z.find(ax.base + t->name_at, t->len, t->hash);
  if (!n || (node_flags(n) & (node_flag::Below | node_flag::Cut | node_flag::Cname))) return false;
  const RRsetRef r = node_rrset(n, q.qtype);
  if (!r)
    return fast_negative(z, q, b, pos, p, room, 1, rcode::NOERROR, AnswerKind::NoData, sum, o);
  if (rdata_has_names(r.type) || t->msg_pos == 0 || p + r.len > room) return false;
  put_block_at(b + p, r, t->msg_pos);
  sum_block_at(sum, r, t->msg_pos, a.tmpl_len);
  o = FastOut{p + r.len, uint16_t(1 + r.count), 0, 0, rcode::NOERROR, AnswerKind::Answer, true};
  o.sum = sum.acc;
  return true;
}

// Referrals, one-hop CNAMEs, wildcard answers and NXDOMAIN below the apex's
// children, written as Resolver::run would write them; false: run() answers.
// `node`: the question's node, or null.
bool special_fast(const Zone& z, const Query& q, const uint8_t* node, uint8_t* b, size_t pos,
                  size_t room, FastOut& o) noexcept {
  if (node) {
    const uint8_t f = node_flags(node);
    if (f & node_flag::Below) return false;
    if (f & node_flag::Cut)
      return q.qtype != rrtype::DS &&
             fast_referral(z, q, node, special_of(z, node, q.hash), 0, b, pos, room, o);
    if (!(f & node_flag::Cname) || q.qtype == rrtype::CNAME || q.qtype == rrtype::RRSIG ||
        q.qtype == rrtype::NSEC || q.qtype == rrtype::ANY)
      return false;
    return fast_cname(z, q, special_of(z, node, q.hash), b, pos, room, o);
  }
  // Closest encloser, as run() finds it. Its first candidate, the parent, is
  // looked for in the zone's table of special nodes first: a hit there is
  // the closest encloser without an XXH3 and a probe.
  const uint8_t* ql = q.qname_lower;
  const size_t len = q.qname_len;
  size_t off = 0;
  int steps = 0;
  const uint8_t* ce = nullptr;
  uint64_t ch = 0;
  Special sp;
  if (ql[0] != 0) {
    const size_t up = size_t(ql[0]) + 1;
    if (const SpecialNode* e = find_special(z, ql + up, len - up)) {
      ce = e->node;
      sp = from_table(z, *e);
      steps = 1;
    }
  }
  while (!ce && ql[off] != 0) {
    off += size_t(ql[off]) + 1;
    ++steps;
    const size_t cl = len - off;
    if (cl < z.apex_len) break;
    if (cl == z.apex_len && z.apex_node && std::memcmp(ql + off, z.apex_lower, cl) == 0) {
      ce = z.apex_node;
      ch = z.apex_hash;
      break;
    }
    ch = name_hash(ql + off, cl);
    ce = z.find(ql + off, cl, ch);
  }
  if (!ce) return false;
  const uint8_t f = node_flags(ce);
  if (f & node_flag::Below) return false;
  const bool cut = (f & node_flag::Cut) && !(f & node_flag::Apex);
  if (!cut && (f & node_flag::Dname)) return false;
  if (!cut && !(f & node_flag::WildChild))
    return fast_negative(z, q, b, pos, pos, room, 0, rcode::NXDOMAIN, AnswerKind::NxDomain, {}, o);
  if (!sp.resolved) sp = special_of(z, ce, ch);
  if (cut) return fast_referral(z, q, ce, sp, steps, b, pos, room, o);
  // RFC 4592: the answer comes from "*.<closest encloser>", owner = the question.
  if (!sp.ax.e || q.qtype == rrtype::ANY) return false;
  const uint8_t* w = sp.resolved ? sp.star : find_star(z, node_name(ce), ce[1], sp.ax.e->star_hash);
  if (!w || (node_flags(w) & node_flag::Cname)) return false;
  const HitRef r = node_hit(w, q.qtype);
  if (!r.block)
    return fast_negative(z, q, b, pos, pos, room, 0, rcode::NOERROR, AnswerKind::NoData, {}, o);
  if (rdata_has_names(q.qtype) || pos + r.len > room) return false;
  copy_short(b + pos, r.block, r.len);  // owners are C0 0C: the question
  o = FastOut{pos + r.len, r.count, 0, 0, rcode::NOERROR, AnswerKind::Answer, true};
  o.sum = r.sum;
  return true;
}

}  // namespace

namespace {

// How an answer ends: what answer() needs after the body to write the OPT
// record and the header and to complete the sum. Every path of answer_body
// fills it and returns, so that this tail exists once, inlined, with its
// values in registers (as a lambda called from a dozen returns it was an
// out-of-line function reading each value through the closure: ~200
// instructions per query).
struct Fin {
  size_t pos;      // end of what is written so far
  uint16_t flags;  // QR, opcode, RD; the body adds AA and TC
  uint16_t an = 0, ns = 0, ar = 0;
  uint8_t rc = 0;
  uint8_t ext = 0;  // upper rcode bits, into the OPT
  AnswerKind kind = AnswerKind::Error;
  bool sum_ok;           // rec_sum holds the records' sum
  uint64_t rec_sum = 0;  // ones_acc of the records written from rec_at (zones/wire.hh)

  void end(uint8_t r, AnswerKind k, uint8_t e = 0) noexcept {
    rc = r;
    kind = k;
    ext = e;
  }
  // An answer written by one of the fast paths (FastOut).
  void end_fast(const FastOut& fo) noexcept {
    rec_sum = fo.sum;
    pos = fo.pos;
    an = fo.an;
    ns = fo.ns;
    ar = fo.ar;
    if (fo.aa) flags |= hflag::AA;
    end(fo.rcode, fo.kind);
  }
};

// The general resolver (RFC 1034 §4.3.2) for whatever no fast path wrote.
// Out of line: its writer and compression table (1.4 KB of stack) and its
// registers stay out of answer()'s frame, which the fast paths share.
[[gnu::noinline]] void resolve(const Zone* z, const Query& q, const uint8_t* node, uint8_t* b,
                               size_t pos, size_t room, Fin& f) noexcept {
  Writer w;  // default-initialized: the compression table is not zeroed per query
  w.buf = b;
  w.limit = room;
  w.pos = pos;
  w.remember_question(q.qname, q.qname_len);
  Resolver r(z, q, w);
  r.run(node);
  f.pos = w.pos;
  f.an = w.count[0];
  f.ns = w.count[1];
  f.ar = w.count[2];
  f.sum_ok = false;  // the general resolver keeps no sum
  if (r.aa) f.flags |= hflag::AA;
  if (r.tc) f.flags |= hflag::TC;
  f.end(r.rcode, r.tc && r.kind == AnswerKind::Answer ? AnswerKind::Answer : r.kind);
}

// Everything between the question and the OPT record. `qd`: the question
// is in the message; `room`: the client's (or TCP's) size limit less the
// OPT record to come.
[[gnu::always_inline]] inline void answer_body(const ZoneSet& zs, const Query& q, uint8_t* b,
                                               size_t room, uint16_t qd, Fin& f) noexcept {
  // BADVERS first: a client must learn the version before anything else (RFC 6891 §6.1.3).
  if (q.has_edns && q.edns_version != 0)
    return f.end(0, AnswerKind::Error, uint8_t(rcode::BADVERS >> 4));
  if (q.status == QueryStatus::FormErr) return f.end(rcode::FORMERR, AnswerKind::Error);
  if (q.status == QueryStatus::NotImp) return f.end(rcode::NOTIMP, AnswerKind::Error);
  if (qd == 0) {  // the question alone does not fit the client's buffer
    f.flags |= hflag::TC;
    return f.end(rcode::NOERROR, AnswerKind::Error);
  }
  // QCLASS * matches our IN data (RFC 1035 §3.2.5; Knot answers it too).
  if ((q.qclass != rrclass::IN && q.qclass != rrclass::ANY) || q.qtype == rrtype::AXFR ||
      q.qtype == rrtype::IXFR)
    return f.end(rcode::REFUSED, AnswerKind::Error);
  // DS lives in the parent: look for the zone of the parent name first (as Knot does).
  const Zone* z = nullptr;
  const bool hinted = q.hint_set == &zs;  // prefetch_burst found the zone (never for DS)
  if (hinted) {
    z = q.hint_zone;
  } else {
    if (q.qtype == rrtype::DS && q.qname_len > 1) {
      size_t l = size_t(q.qname_lower[0]) + 1;
      z = zs.find(q.qname_lower + l, q.qname_len - l);
    }
    if (!z) z = zs.find(q.qname_lower, q.qname_len);
  }
  if (!z) return f.end(rcode::REFUSED, AnswerKind::Error);

  const uint8_t* node = nullptr;
  if (hinted && q.hint_node_done) {
    node = q.hint_node;  // null: no slot carried the name's tag
    if (node &&
        (node[1] != q.qname_len || !bytes_equal(node_name(node), q.qname_lower, q.qname_len)))
      node = z->find(q.qname_lower, q.qname_len, q.hash);  // a tag collision
  } else {
    node = z->find(q.qname_lower, q.qname_len, q.hash);
  }
  // The common case, an authoritative name holding the asked type with no
  // names in its RDATA (A, AAAA, TXT...): one memcpy of the pre-encoded RRset
  // (owner C0 0C), no compression table, no additional section. It writes
  // what the general path below would.
  // Likewise the two common negative answers, written as the general path's
  // negative() would: NODATA at such a name, and NXDOMAIN for a name one
  // label below an apex that has no wildcard child and no DNAME. The SOA
  // comes from the zone's compressed template; no SOA when it does not fit.
  const size_t pos = f.pos;
  FastOut fo;
  if (node && q.qtype != rrtype::ANY &&
      !(node_flags(node) & (node_flag::Below | node_flag::Cut | node_flag::Cname))) {
    const HitRef r = node_hit(node, q.qtype);
    if (r.block && !rdata_has_names(q.qtype) && pos + r.len <= room) {
      copy_short(b + pos, r.block, r.len);
      f.rec_sum = r.sum;  // the block's, computed with the zone
      f.pos = pos + r.len;
      f.an = r.count;
      f.flags |= hflag::AA;
      return f.end(rcode::NOERROR, AnswerKind::Answer);
    }
    if (!r.block &&
        fast_negative(*z, q, b, pos, pos, room, 0, rcode::NOERROR, AnswerKind::NoData, {}, fo))
      return f.end_fast(fo);
  } else if (!node && z->apex_node && !z->neg_soa_c.empty() &&
             !(node_flags(z->apex_node) & (node_flag::WildChild | node_flag::Dname))) {
    const size_t up = size_t(q.qname_lower[0]) + 1;
    if (q.qname_len - up == z->apex_len &&
        bytes_equal(q.qname_lower + up, z->apex_lower, z->apex_len) &&
        fast_negative(*z, q, b, pos, pos, room, 0, rcode::NXDOMAIN, AnswerKind::NxDomain, {}, fo))
      return f.end_fast(fo);
  }
  if (special_fast(*z, q, node, b, pos, room, fo)) return f.end_fast(fo);
  resolve(z, q, node, b, pos, room, f);
}

}  // namespace

namespace {

// answer() in two copies: without NSID (every ordinary query, exactly the
// code it always was) and with it (out of line, for the few that ask).
template <bool kNsid>
[[gnu::always_inline]] inline AnswerResult answer_as(const ZoneSet& zs, const Query& q,
                                                     std::span<uint8_t> out, Transport t,
                                                     const AnswerConfig& cfg) noexcept {
  size_t limit = out.size();
  if (t == Transport::Udp) {
    size_t udp = 512;
    if (q.has_edns) {
      udp = q.udp_size < cfg.edns_payload ? q.udp_size : cfg.edns_payload;
      if (udp < 512) udp = 512;
    }
    if (udp < limit) limit = udp;
  } else if (limit > 65535) {
    limit = 65535;
  }
  uint8_t* b = out.data();
  Fin f;
  f.flags = uint16_t(hflag::QR | (q.flags & (0x7800 | hflag::RD)));
  f.pos = kHeaderSize;
  uint16_t qd = 0;
  if (q.qname_len && kHeaderSize + q.qname_len + 4 <= limit) {
    // Answering in place (out is the query's own buffer): the question is
    // already there, byte for byte.
    if (b != q.packet) {
      copy_short(b + kHeaderSize, q.qname, q.qname_len);
      wr16(b + kHeaderSize + q.qname_len, q.qtype);
      wr16(b + kHeaderSize + q.qname_len + 2, q.qclass);
    }
    f.pos += q.qname_len + 4;
    qd = 1;
  }
  // The one's complement sum of the records section (written from `rec_at`)
  // for the UDP sender's checksum.
  f.sum_ok = t == Transport::Udp;
  const size_t rec_at = f.pos;
  // The OPT record's room is kept free (with the NSID option when asked,
  // as Knot reserves it): the body truncates rather than drop the option.
  const size_t nsid = kNsid ? nsid_len(cfg) : 0;
  const size_t opt_len = q.has_edns ? kOptSize + nsid : 0;
  answer_body(zs, q, b, limit - opt_len, qd, f);

  uint64_t opt_words = 0;
  const size_t opt_at = f.pos;
  if (q.has_edns && f.pos + opt_len <= limit) {
    put_opt(b + f.pos, q, cfg, f.ext);
    f.ar++;
    opt_words = opt_sum(q, cfg, f.ext);
    if (kNsid && nsid) {
      put_nsid(zs, cfg, b + f.pos, nsid);
      f.sum_ok = false;  // the sender sums the bytes: rare enough
    }
    f.pos += opt_len;
  }
  const uint16_t fl = uint16_t(f.flags | f.rc);
  wr16(b, q.id);
  wr16(b + 2, fl);
  wr16(b + 4, qd);
  wr16(b + 6, f.an);
  wr16(b + 8, f.ns);
  wr16(b + 10, f.ar);
  uint32_t sum = 0;
  if (f.sum_ok) {
    uint64_t acc = uint64_t(q.id) + fl + qd + f.an + f.ns + f.ar;
    if (qd) acc += q.qsum;
    acc += ones_at(f.rec_sum, rec_at);
    acc += ones_at(opt_words, opt_at);
    sum = ones_fold(acc);
  }
  return make_result(uint16_t(f.pos), f.rc, f.kind, (f.flags & hflag::TC) != 0, f.sum_ok, sum);
}

[[gnu::noinline, gnu::cold]] AnswerResult answer_nsid(const ZoneSet& zs, const Query& q,
                                                      std::span<uint8_t> out, Transport t,
                                                      const AnswerConfig& cfg) noexcept {
  return answer_as<true>(zs, q, out, t, cfg);
}

}  // namespace

AnswerResult answer(const ZoneSet& zs, const Query& q, std::span<uint8_t> out, Transport t,
                    const AnswerConfig& cfg) noexcept {
  if (q.status == QueryStatus::Drop || out.size() < kHeaderSize)
    return make_result(0, 0, AnswerKind::Dropped, false);
  if (q.has_edns && q.nsid) [[unlikely]]
    return answer_nsid(zs, q, out, t, cfg);
  return answer_as<false>(zs, q, out, t, cfg);
}

AnswerResult answer_query(const ZoneSet& zs, std::span<const uint8_t> packet,
                          std::span<uint8_t> out, Transport t, const AnswerConfig& cfg) noexcept {
  Query q;
  parse_query(packet, q);
  return answer(zs, q, out, t, cfg);
}

}  // namespace edgedns::zones
