// Fuzz target: the zone-file parser (zones::parse_zone_text) and what runs
// after it on an upload: check_zone, compile_zone, zone_text, and the answer
// engine over the zone the fuzzer wrote.
//
// Input: zone-file text. No origin is given (the first $ORIGIN or the SOA
// owner sets it), $INCLUDE is refused as on an upload (no file is read), and
// the record cap is small so that $GENERATE cannot spend the time budget.
//
// Invariants: parsing never crashes, whatever the text; a zone that parsed
// and checked without error compiles; its zone_text parses and checks
// without error and compiles to the same version id and the same text (the
// round trip that last-known-good files and uploads rely on), also as a
// one-zone set through zoneset_text / load_zoneset_text; queries for its own
// names get responses that pass the strict decoder.
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_common.hh"
#include "zones/answer.hh"
#include "zones/check.hh"
#include "zones/parser.hh"
#include "zones/snapshot.hh"
#include "zones/version.hh"
#include "zones/zone_text.hh"

using namespace edgedns::zones;

namespace {

// Parses, checks and compiles; null when anything is an error.
std::shared_ptr<const Zone> load(std::string_view text, const ParseOptions& po,
                                 std::vector<Diagnostic>* diags) {
  ParseResult pr = parse_zone_text(text, "fuzz", po);
  if (diags) *diags = pr.diagnostics;
  if (pr.has_errors()) return nullptr;
  std::vector<Diagnostic> d;
  check_zone(pr.zone, d);
  if (diags) diags->insert(diags->end(), d.begin(), d.end());
  for (const auto& x : d)
    if (x.is_error()) return nullptr;
  return compile_zone(std::move(pr.zone));
}

std::string first_error(const std::vector<Diagnostic>& ds) {
  for (const auto& d : ds)
    if (d.is_error()) return d.to_string();
  return "(none)";
}

// A query for (name, type) with EDNS, answered over UDP and TCP.
void ask(const ZoneSet& zs, const uint8_t* name, size_t len, uint16_t type) {
  std::vector<uint8_t> pkt = {0x12, 0x34, 0x00, 0x00, 0, 1, 0, 0, 0, 0, 0, 1};
  pkt.insert(pkt.end(), name, name + len);
  const uint8_t tail[] = {
      uint8_t(type >> 8), uint8_t(type), 0, 1, 0, 0, 41, 0x04, 0xd0, 0, 0, 0x80, 0, 0, 0};
  pkt.insert(pkt.end(), tail, tail + sizeof tail);
  Query q;
  parse_query(pkt, q);
  FUZZ_CHECK(q.status == QueryStatus::Ok, "harness query for an owner name does not parse");
  std::vector<uint8_t> out;
  for (Transport t : {Transport::Udp, Transport::Tcp}) {
    for (size_t size : {size_t(512), size_t(65535)}) {
      out.assign(size, 0);
      AnswerConfig cfg;
      AnswerResult r = answer(zs, q, out, t, cfg);
      fuzz::check_answer(q, out, size, t, cfg, r);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // The text in its own heap block, so that a read past its end is caught.
  std::string text(reinterpret_cast<const char*>(data), size);
  ParseOptions po;
  po.max_include_depth = 0;
  po.max_records = 5000;
  std::vector<Diagnostic> diags;
  auto z = load(text, po, &diags);
  for (const auto& d : diags) (void)d.to_string();
  if (!z) return 0;

  // Round trip: text -> zone -> zone_text -> zone, same version, same text.
  const std::string t1 = zone_text(*z);
  ParseOptions po2;
  po2.max_include_depth = 0;
  po2.origin = zone_apex(*z).to_text();
  std::vector<Diagnostic> d2;
  auto z2 = load(t1, po2, &d2);
  FUZZ_CHECK(z2, "zone_text of a loaded zone does not load: %s\n--- text:\n%s",
             first_error(d2).c_str(), t1.c_str());
  FUZZ_CHECK(zone_version(*z) == zone_version(*z2),
             "round trip changed the version id (%s -> %s)\n--- text:\n%s",
             zone_version(*z).hex().c_str(), zone_version(*z2).hex().c_str(), t1.c_str());
  FUZZ_CHECK(zone_record_count(*z) == zone_record_count(*z2),
             "round trip changed the record count");
  const std::string t2 = zone_text(*z2);
  FUZZ_CHECK(t1 == t2, "zone_text is not stable over a round trip\n--- first:\n%s--- second:\n%s",
             t1.c_str(), t2.c_str());

  auto zs = ZoneSet::build({z});
  ZoneSetLoad l = load_zoneset_text(zoneset_text(*zs), "fuzz-set");
  FUZZ_CHECK(l.zones, "zoneset_text does not load: %s", first_error(l.diagnostics).c_str());
  FUZZ_CHECK(zoneset_version(*l.zones) == zoneset_version(*zs),
             "zone set round trip changed the version id");

  // Ask for a few of its own names (and a name below each) with their types and ANY.
  int asked = 0;
  zone_for_each_record(*z, [&](const uint8_t* owner, size_t len, uint16_t type, uint16_t, uint32_t,
                               const uint8_t*, size_t) {
    if (asked >= 6) return;
    ++asked;
    ask(*zs, owner, len, type);
    ask(*zs, owner, len, rrtype::ANY);
    if (len + 2 <= kMaxName) {
      uint8_t below[kMaxName];
      below[0] = 1;
      below[1] = 'Q';
      std::memcpy(below + 2, owner, len);
      ask(*zs, below, len + 2, rrtype::A);
    }
  });
  return 0;
}
