#include "fuzz_common.hh"

#include <cstring>

#include "zones/load.hh"

namespace fuzz {

using namespace edgedns::zones;

std::shared_ptr<const ZoneSet> load_zone_set(const std::vector<std::string>& paths) {
  std::vector<std::shared_ptr<const Zone>> zones;
  for (const std::string& p : paths) {
    LoadResult r = load_zone_file(p);
    if (!r.zone) {
      for (const auto& d : r.diagnostics) std::fprintf(stderr, "%s\n", d.to_string().c_str());
      fail("fixture %s does not load", p.c_str());
    }
    zones.push_back(std::move(r.zone));
  }
  return ZoneSet::build(std::move(zones));
}

std::shared_ptr<const ZoneSet> rich_zone_set() {
  const std::string data = EDGEDNS_TEST_DATA;
  const std::string fz = EDGEDNS_FUZZ_DIR;
  return load_zone_set({
      data + "/engine/example.com.zone",
      data + "/engine/sub.example.com.zone",
      data + "/engine/example.net.zone",
      data + "/diff/diff.test.zone",
      data + "/diff/child.diff.test.zone",
      data + "/diff/other.test.zone",
      data + "/parser/alltypes.zone",
      fz + "/zones/rich.zone",
  });
}

namespace {

// Reads a possibly compressed name at `off` into `wire`; returns the offset
// after it in the message (0 when malformed). Pointers must point backwards
// (before the pointer itself) and past the header; `allow_ptr` false forbids
// them altogether (RDATA of types that are not RFC 1035 well-known).
size_t read_name(std::span<const uint8_t> m, size_t off, bool allow_ptr, std::string& wire,
                 std::string& why) {
  wire.clear();
  size_t end = 0;  // offset after the name in the original position
  size_t pos = off;
  for (int hops = 0;; ++hops) {
    if (pos >= m.size()) return why = "name runs past the end", 0;
    const uint8_t l = m[pos];
    if ((l & 0xc0) == 0xc0) {
      if (!allow_ptr) return why = "compression pointer where RFC 3597 forbids it", 0;
      if (pos + 2 > m.size()) return why = "pointer runs past the end", 0;
      const size_t target = size_t(l & 0x3f) << 8 | m[pos + 1];
      if (target >= pos) return why = "compression pointer does not point backwards", 0;
      if (target < kHeaderSize) return why = "compression pointer into the header", 0;
      if (!end) end = pos + 2;
      pos = target;
      continue;
    }
    if (l & 0xc0) return why = "label type 0x40/0x80", 0;
    if (pos + 1 + l > m.size()) return why = "label runs past the end", 0;
    wire.append(reinterpret_cast<const char*>(&m[pos]), size_t(l) + 1);
    if (wire.size() > kMaxName) return why = "name longer than 255", 0;
    pos += size_t(l) + 1;
    if (l == 0) break;
  }
  return end ? end : pos;
}

// RDATA checks for types whose layout the engine writes itself.
std::string check_rdata(std::span<const uint8_t> m, const DecodedRR& rr) {
  const size_t o = rr.rdata_off, n = rr.rdata_len, e = o + n;
  std::string w, why;
  auto one_name = [&](size_t at, bool ptr) -> size_t {
    size_t r = read_name(m.first(e), at, ptr, w, why);
    return r;
  };
  switch (rr.type) {
    case rrtype::A: return n == 4 ? "" : "A with RDLENGTH != 4";
    case rrtype::AAAA: return n == 16 ? "" : "AAAA with RDLENGTH != 16";
    case rrtype::NS:
    case rrtype::CNAME:
    case rrtype::PTR:
      return one_name(o, true) == e ? "" : "NS/CNAME/PTR RDATA is not one name: " + why;
    case rrtype::DNAME:
      return one_name(o, false) == e ? "" : "DNAME RDATA is not one uncompressed name: " + why;
    case rrtype::MX:
      if (n < 3) return "short MX";
      return one_name(o + 2, true) == e ? "" : "MX exchange: " + why;
    case rrtype::SRV:
      if (n < 7) return "short SRV";
      return one_name(o + 6, false) == e ? "" : "SRV target: " + why;
    case rrtype::SOA: {
      size_t p = one_name(o, true);
      if (!p) return "SOA MNAME: " + why;
      p = one_name(p, true);
      if (!p) return "SOA RNAME: " + why;
      return p + 20 == e ? "" : "SOA RDATA length";
    }
    case rrtype::TXT: {
      if (n == 0) return "empty TXT RDATA";
      size_t p = o;
      while (p < e) p += size_t(m[p]) + 1;
      return p == e ? "" : "TXT strings do not tile the RDATA";
    }
    default: return "";
  }
}

}  // namespace

std::string decode_response(std::span<const uint8_t> m, Decoded& d) {
  if (m.size() < kHeaderSize) return "shorter than a header";
  d.id = rd16(&m[0]);
  d.flags = rd16(&m[2]);
  for (int i = 0; i < 4; ++i) d.counts[i] = rd16(&m[4 + 2 * i]);
  if (d.counts[0] > 1) return "QDCOUNT > 1";
  size_t off = kHeaderSize;
  std::string why, w;
  bool seen_opt = false;
  if (d.counts[0] == 1) {
    off = read_name(m, off, true, d.qname, why);
    if (!off) return "question name: " + why;
    if (off + 4 > m.size()) return "question runs past the end";
    d.qtype = rd16(&m[off]);
    d.qclass = rd16(&m[off + 2]);
    off += 4;
  }
  for (int s = 0; s < 3; ++s) {
    for (unsigned i = 0; i < d.counts[s + 1]; ++i) {
      DecodedRR rr;
      off = read_name(m, off, true, rr.owner, why);
      if (!off) return "record owner (section " + std::to_string(s + 1) + "): " + why;
      if (off + 10 > m.size()) return "record header runs past the end";
      rr.type = rd16(&m[off]);
      rr.rclass = rd16(&m[off + 2]);
      rr.ttl = rd32(&m[off + 4]);
      rr.rdata_len = rd16(&m[off + 8]);
      rr.rdata_off = off + 10;
      off += 10 + rr.rdata_len;
      if (off > m.size()) return "RDATA runs past the end";
      if (rr.type == rrtype::OPT) {
        if (s != 2) return "OPT outside the additional section";
        if (seen_opt) return "two OPT records";
        seen_opt = true;
        if (rr.owner.size() != 1) return "OPT owner is not the root";
      } else {
        if (rr.ttl & 0x80000000u) return "TTL with the top bit set";
        std::string bad = check_rdata(m, rr);
        if (!bad.empty()) return bad;
      }
      d.sec[s].push_back(std::move(rr));
    }
  }
  // d.opt points into a vector that no longer grows.
  for (const auto& rr : d.sec[2])
    if (rr.type == rrtype::OPT) d.opt = &rr;
  if (off != m.size()) return "bytes after the last record";
  return "";
}

void check_answer(const Query& q, std::span<const uint8_t> out, size_t buf_size, Transport t,
                  const AnswerConfig& cfg, const AnswerResult& res) {
  FUZZ_CHECK(res.len <= buf_size, "response length %u > out buffer %zu", res.len, buf_size);
  if (q.status == QueryStatus::Drop || buf_size < kHeaderSize) {
    FUZZ_CHECK(res.len == 0 && res.kind == AnswerKind::Dropped,
               "dropped query (or no room for a header) produced %u bytes", res.len);
    return;
  }
  FUZZ_CHECK(res.len >= kHeaderSize, "answer of %u bytes for an answerable query", res.len);
  if (t == Transport::Udp) {
    size_t lim = 512;
    if (q.has_edns) {
      lim = q.udp_size < cfg.edns_payload ? q.udp_size : cfg.edns_payload;
      if (lim < 512) lim = 512;
    }
    FUZZ_CHECK(res.len <= lim, "UDP response of %u bytes > client limit %zu", res.len, lim);
  }
  Decoded d;
  std::string why = decode_response(out.first(res.len), d);
  FUZZ_CHECK(why.empty(), "response does not decode: %s", why.c_str());
  FUZZ_CHECK(d.id == q.id, "ID %04x not copied (%04x)", q.id, d.id);
  FUZZ_CHECK(d.flags & hflag::QR, "QR clear in a response");
  FUZZ_CHECK((d.flags & 0x7800) == (q.flags & 0x7800), "opcode not echoed");
  FUZZ_CHECK((d.flags & hflag::RD) == (q.flags & hflag::RD), "RD not echoed");
  FUZZ_CHECK(!(d.flags & hflag::Z), "Z set in a response");
  FUZZ_CHECK(!(d.flags & hflag::RA), "RA set by an authoritative-only server");
  FUZZ_CHECK((d.flags & 0xf) == res.rcode, "header rcode %u != result rcode %u", d.flags & 0xf,
             res.rcode);
  const bool tc = d.flags & hflag::TC;
  FUZZ_CHECK(tc == res.truncated, "TC bit and result.truncated disagree");
  if (t == Transport::Tcp && buf_size >= 65535)
    FUZZ_CHECK(!tc, "TC set on TCP with a 64 KiB buffer");
  if (d.counts[0] == 1) {
    FUZZ_CHECK(q.qname_len && d.qname.size() == q.qname_len &&
                   std::memcmp(d.qname.data(), q.qname, q.qname_len) == 0,
               "question name not echoed as sent");
    FUZZ_CHECK(d.qtype == q.qtype && d.qclass == q.qclass, "question type/class not echoed");
  }
  if (d.opt) {
    FUZZ_CHECK(q.has_edns, "OPT in a response to a query without EDNS");
    FUZZ_CHECK(rd16(&out[d.opt->rdata_off - 8]) == cfg.edns_payload,
               "OPT payload size is not ours");
  }
  if (res.kind == AnswerKind::NxDomain)
    FUZZ_CHECK(res.rcode == rcode::NXDOMAIN, "NxDomain kind, rcode %u", res.rcode);
  if (res.rcode == rcode::NXDOMAIN)
    FUZZ_CHECK(res.kind == AnswerKind::NxDomain, "NXDOMAIN with another kind");
  if (res.kind == AnswerKind::Answer && !tc)
    FUZZ_CHECK(d.counts[1] > 0, "Answer kind with an empty answer section");
  if (res.rcode == rcode::FORMERR || res.rcode == rcode::NOTIMP || res.rcode == rcode::REFUSED)
    FUZZ_CHECK(d.counts[1] == 0 && d.counts[2] == 0 && d.sec[2].size() == (d.opt ? 1u : 0u),
               "records in an error response");
  // Every answer-section record answers the question's name chain: its owner
  // is the qname or a CNAME/DNAME target met on the way; checked loosely as
  // "class IN" here (the differential test pins the content).
  for (int s = 0; s < 3; ++s)
    for (const auto& rr : d.sec[s])
      if (rr.type != rrtype::OPT)
        FUZZ_CHECK(rr.rclass == rrclass::IN, "record of class %u", rr.rclass);
}

}  // namespace fuzz
