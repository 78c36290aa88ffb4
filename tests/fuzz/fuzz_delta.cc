// Fuzz target: the delta applier (zones::apply_delta) on a base zone set of
// four zones (tests/fuzz/zones/delta.zone, and example.com, its child
// sub.example.com and example.net from tests/data/engine).
//
// Input: a list of at most 24 changes. Each starts with a byte:
//   bit 0     add (0) or delete (1)
//   bits 1-2  3: the RR is raw text up to the next '\n' of the input;
//             otherwise three more bytes pick owner, TTL and type+RDATA from
//             a vocabulary of names and records that make every kind of
//             change likely (apex, wildcard, ENT, cut, glue, CNAME, DNAME,
//             another zone, no zone at all).
//
// Invariants: on Ok, the record count moved by exactly added - removed; the
// result's zoneset_text loads from scratch (parse + check + compile) without
// error, to the same version id and the same text; answers for every
// vocabulary name and a few types are byte-identical between the delta's
// result and the scratch compile. On a refusal there is no zone set and an
// error diagnostic. The base set is never changed (its version is rechecked).
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "fuzz_common.hh"
#include "zones/answer.hh"
#include "zones/delta.hh"
#include "zones/name.hh"
#include "zones/version.hh"
#include "zones/zone_text.hh"

using namespace edgedns::zones;

namespace {

const char* const kNames[] = {
    "d.fuzz.",
    "www.d.fuzz.",
    "ns1.d.fuzz.",
    "a.b.d.fuzz.",
    "b.d.fuzz.",
    "*.w.d.fuzz.",
    "x.w.d.fuzz.",
    "y.w.d.fuzz.",
    "deleg.d.fuzz.",
    "ns.deleg.d.fuzz.",
    "z.ns.deleg.d.fuzz.",
    "cn.d.fuzz.",
    "dn.d.fuzz.",
    "x.dn.d.fuzz.",
    "new.d.fuzz.",
    "srv.d.fuzz.",
    "example.com.",
    "www.example.com.",
    "sub.example.com.",
    "ns.sub.example.com.",
    "x.sub.example.com.",
    "example.net.",
    "www.example.net.",
    "other.invalid.",
    "WWW.D.Fuzz.",
    "www",
    "*.d.fuzz.",
    "w.d.fuzz.",
};
constexpr size_t kNameCount = sizeof kNames / sizeof kNames[0];

const char* const kTtls[] = {"300", "60", "0", "2147483647", "3600", "1h"};

const char* const kRdata[] = {
    "A 192.0.2.1",
    "A 192.0.2.2",
    "A 10.0.0.1",
    "AAAA 2001:db8::2",
    "NS ns1.d.fuzz.",
    "NS ns.deleg.d.fuzz.",
    "NS ns1.example.com.",
    "CNAME www.d.fuzz.",
    "CNAME nothere.d.fuzz.",
    "CNAME cn.d.fuzz.",
    "DNAME w.d.fuzz.",
    "DNAME example.net.",
    "MX 10 www.d.fuzz.",
    "MX 20 ns.deleg.d.fuzz.",
    "TXT \"a\"",
    "TXT \"b\" \"c\"",
    "TXT \"x\"",
    "SOA ns1.d.fuzz. h.d.fuzz. 1 3600 900 86400 60",
    "SOA ns1.d.fuzz. h.d.fuzz. 2 3600 900 86400 60",
    "DS 1 8 2 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF",
    "SRV 0 0 53 www.d.fuzz.",
    "PTR www.d.fuzz.",
    "CAA 0 issue \"ca.example\"",
    "TYPE65280 \\# 2 0102",
};
constexpr size_t kRdataCount = sizeof kRdata / sizeof kRdata[0];

const ZoneSet& base() {
  static auto zs = fuzz::load_zone_set({
      std::string(EDGEDNS_FUZZ_DIR) + "/zones/delta.zone",
      std::string(EDGEDNS_TEST_DATA) + "/engine/example.com.zone",
      std::string(EDGEDNS_TEST_DATA) + "/engine/sub.example.com.zone",
      std::string(EDGEDNS_TEST_DATA) + "/engine/example.net.zone",
  });
  return *zs;
}

size_t records(const ZoneSet& zs) {
  size_t n = 0;
  for (const auto& z : zs.zones()) n += zone_record_count(*z);
  return n;
}

std::vector<uint8_t> query(const char* name, uint16_t type) {
  uint8_t wire[kMaxName];
  static const uint8_t root[1] = {0};
  size_t n = name_from_text(name, root, 1, wire, nullptr);
  if (!n) return {};
  std::vector<uint8_t> p = {0xbe, 0xef, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1};
  p.insert(p.end(), wire, wire + n);
  const uint8_t tail[] = {uint8_t(type >> 8),
                          uint8_t(type),
                          0,
                          1,  // question
                          0,
                          0,
                          41,
                          0x10,
                          0x00,
                          0,
                          0,
                          0x80,
                          0,
                          0,
                          0};  // OPT 4096, DO
  p.insert(p.end(), tail, tail + sizeof tail);
  return p;
}

// Same responses from the delta's result and the scratch compile. UDP with
// EDNS 4096 only: TCP and the 512-byte limit take the same paths in answer()
// and would only slow the fuzzer down (the query target covers them).
void compare_answers(const ZoneSet& a, const ZoneSet& b) {
  static const uint16_t types[] = {rrtype::A, rrtype::ANY, rrtype::MX, rrtype::NS, rrtype::DS};
  static std::vector<uint8_t> oa(65535), ob(65535);
  for (const char* n : kNames) {
    for (uint16_t t : types) {
      std::vector<uint8_t> p = query(n, t);
      if (p.empty()) continue;
      AnswerResult ra = answer_query(a, p, oa, Transport::Udp);
      AnswerResult rb = answer_query(b, p, ob, Transport::Udp);
      FUZZ_CHECK(ra.len == rb.len && std::memcmp(oa.data(), ob.data(), ra.len) == 0,
                 "answers for %s type %u differ between the delta result and a scratch "
                 "compile (%u vs %u bytes)",
                 n, t, ra.len, rb.len);
      Query q;
      parse_query(p, q);
      fuzz::check_answer(q, oa, oa.size(), Transport::Udp, {}, ra);
    }
  }
}

std::string first_error(const std::vector<Diagnostic>& ds) {
  for (const auto& d : ds)
    if (d.is_error()) return d.to_string();
  return "(none)";
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const ZoneSet& zs = base();
  static const VersionId base_version = zoneset_version(zs);
  fuzz::Reader in(data, size);
  std::vector<DeltaChange> changes;
  std::string listing;
  while (!in.empty() && changes.size() < 24) {
    uint8_t op = in.u8();
    DeltaChange c;
    c.op = op & 1 ? DeltaChange::Op::Del : DeltaChange::Op::Add;
    if (((op >> 1) & 3) == 3) {
      c.rr = std::string(in.until('\n'));
    } else {
      const char* name = kNames[in.u8() % kNameCount];
      const char* ttl = kTtls[in.u8() % 6];
      const char* rd = kRdata[in.u8() % kRdataCount];
      c.rr = std::string(name) + " " + ttl + " IN " + rd;
    }
    listing += (c.op == DeltaChange::Op::Add ? "add " : "del ") + c.rr + "\n";
    changes.push_back(std::move(c));
  }

  DeltaResult r = apply_delta(zs, changes);
  static const bool verbose = std::getenv("FUZZ_VERBOSE") != nullptr;
  if (verbose) {
    std::fprintf(stderr, "--- delta (%s):\n%s", r.ok() ? "ok" : "refused", listing.c_str());
    for (const auto& d : r.diagnostics) std::fprintf(stderr, "  %s\n", d.to_string().c_str());
  }
  FUZZ_CHECK(zoneset_version(zs) == base_version, "apply_delta changed its base set");
  for (const auto& d : r.diagnostics) (void)d.to_string();
  if (!r.ok()) {
    FUZZ_CHECK(!r.zones, "a refused delta returned a zone set");
    bool err = false;
    for (const auto& d : r.diagnostics) err |= d.is_error();
    FUZZ_CHECK(err, "a refused delta without an error diagnostic");
    return 0;
  }
  FUZZ_CHECK(r.zones, "an accepted delta without a zone set");
  const ZoneSet& res = *r.zones;
  FUZZ_CHECK(records(res) == records(zs) + r.added - r.removed,
             "record count %zu != %zu + %zu - %zu\n--- delta:\n%s", records(res), records(zs),
             r.added, r.removed, listing.c_str());

  const std::string text = zoneset_text(res);
  ZoneSetLoad l = load_zoneset_text(text, "scratch");
  FUZZ_CHECK(l.zones, "the delta's result does not load from scratch: %s\n--- delta:\n%s",
             first_error(l.diagnostics).c_str(), listing.c_str());
  FUZZ_CHECK(zoneset_version(*l.zones) == zoneset_version(res),
             "version id of the delta's result (%s) != scratch compile (%s)\n--- delta:\n%s",
             zoneset_version(res).hex().c_str(), zoneset_version(*l.zones).hex().c_str(),
             listing.c_str());
  FUZZ_CHECK(zoneset_text(*l.zones) == text, "scratch compile has another text\n--- delta:\n%s",
             listing.c_str());
  compare_answers(res, *l.zones);
  return 0;
}
