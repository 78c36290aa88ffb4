// Semantic checks: each rejection names the offending line.
#include "zones/check.hh"

#include <gtest/gtest.h>

#include "zones/parser.hh"

using namespace edgedns::zones;

namespace {

struct Out {
  std::vector<Diagnostic> diags;
  ZoneData zone;
  bool has_error_at(uint32_t line, const std::string& word) const {
    for (const auto& d : diags)
      if (d.is_error() && d.line == line && d.message.find(word) != std::string::npos) return true;
    return false;
  }
  size_t errors() const {
    size_t n = 0;
    for (const auto& d : diags) n += d.is_error();
    return n;
  }
  std::string dump() const {
    std::string s;
    for (const auto& d : diags) s += d.to_string() + "\n";
    return s;
  }
};

Out check(const std::string& text) {
  ParseOptions po;
  po.origin = "example.com.";
  ParseResult pr = parse_zone_text(text, "t.zone", po);
  EXPECT_FALSE(pr.has_errors());
  Out o{std::move(pr.diagnostics), std::move(pr.zone)};
  check_zone(o.zone, o.diags);
  return o;
}

const char* kHead =
    "$TTL 300\n"                            // 1
    "@ SOA ns1 h 1 7200 900 1209600 300\n"  // 2
    "@ NS ns1\n"                            // 3
    "ns1 A 192.0.2.1\n";                    // 4

}  // namespace

TEST(Check, ValidZone) {
  Out o = check(std::string(kHead) + "www A 192.0.2.2\n");
  EXPECT_EQ(o.errors(), 0u) << o.dump();
}

TEST(Check, NoSoa) {
  Out o = check("$TTL 300\n@ NS ns1\nns1 A 192.0.2.1\n");
  EXPECT_TRUE(o.has_error_at(2, "no SOA")) << o.dump();
}

TEST(Check, TwoSoas) {
  Out o = check(std::string(kHead) + "@ SOA ns1 h 2 7200 900 1209600 300\n");
  EXPECT_TRUE(o.has_error_at(5, "more than one SOA")) << o.dump();
}

TEST(Check, SoaNotAtApex) {
  Out o = check(std::string(kHead) + "x SOA ns1 h 2 7200 900 1209600 300\n");
  EXPECT_TRUE(o.has_error_at(5, "not at the zone apex")) << o.dump();
}

TEST(Check, NoApexNs) {
  Out o = check("$TTL 300\n@ SOA ns1 h 1 7200 900 1209600 300\nns1 A 192.0.2.1\n");
  EXPECT_TRUE(o.has_error_at(2, "no NS")) << o.dump();
}

TEST(Check, CnameAndOtherData) {
  Out o = check(std::string(kHead) + "www CNAME ns1\nwww A 192.0.2.9\n");
  EXPECT_TRUE(o.has_error_at(6, "CNAME and other data")) << o.dump();
}

TEST(Check, CnameBesideRrsigAndNsecIsFine) {
  Out o = check(std::string(kHead) +
                "www CNAME ns1\n"
                "www NSEC ns1.example.com. CNAME RRSIG NSEC\n");
  EXPECT_EQ(o.errors(), 0u) << o.dump();
}

TEST(Check, TwoCnames) {
  Out o = check(std::string(kHead) + "www CNAME ns1\nwww CNAME ns2\n");
  EXPECT_TRUE(o.has_error_at(6, "more than one CNAME")) << o.dump();
}

TEST(Check, OutOfZone) {
  Out o = check(std::string(kHead) + "www.example.org. A 192.0.2.9\n");
  EXPECT_TRUE(o.has_error_at(5, "outside zone")) << o.dump();
}

TEST(Check, MissingGlue) {
  Out o = check(std::string(kHead) + "sub NS ns.sub\n");
  EXPECT_TRUE(o.has_error_at(5, "missing glue")) << o.dump();
  Out ok =
      check(std::string(kHead) + "sub NS ns.sub\nns.sub A 192.0.2.7\nsub NS ns.example.org.\n");
  EXPECT_EQ(ok.errors(), 0u) << ok.dump();
}

TEST(Check, NameServerCoveredByWildcardNeedsNoGlue) {
  // An authoritative target that only a wildcard answers for is fine (as
  // kzonecheck); the same name below a cut needs explicit glue, and a target
  // that exists without an address is still an error.
  Out ok = check(std::string(kHead) + "sub NS ns.wild\n*.wild A 192.0.2.8\n");
  EXPECT_EQ(ok.errors(), 0u) << ok.dump();
  Out below = check(std::string(kHead) + "sub NS ns.sub\n*.sub A 192.0.2.8\n");
  EXPECT_TRUE(below.has_error_at(5, "missing glue")) << below.dump();
  Out exists =
      check(std::string(kHead) + "sub NS ns.wild\n*.wild A 192.0.2.8\nns.wild TXT \"x\"\n");
  EXPECT_TRUE(exists.has_error_at(5, "missing glue")) << exists.dump();
}

TEST(Check, DnameWithChildren) {
  Out o = check(std::string(kHead) + "dn DNAME example.net.\nx.dn A 192.0.2.9\n");
  EXPECT_TRUE(o.has_error_at(6, "below the DNAME")) << o.dump();
}

TEST(Check, OccludedIsWarning) {
  Out o = check(std::string(kHead) + "sub NS ns.sub\nns.sub A 192.0.2.7\nx.sub TXT \"hidden\"\n");
  EXPECT_EQ(o.errors(), 0u) << o.dump();
  bool warned = false;
  for (const auto& d : o.diags)
    warned |= !d.is_error() && d.line == 7 && d.message.find("occluded") != std::string::npos;
  EXPECT_TRUE(warned) << o.dump();
}

TEST(Check, TtlUnifiedAndDuplicatesDropped) {
  Out o = check(std::string(kHead) +
                "www 300 A 192.0.2.9\nwww 600 A 192.0.2.10\nwww 300 A 192.0.2.9\n");
  EXPECT_EQ(o.errors(), 0u) << o.dump();
  size_t www = 0;
  for (const Record& r : o.zone.records)
    if (o.zone.owner_name(r) == Name::from_text("www.example.com.")) {
      ++www;
      EXPECT_EQ(r.ttl, 300u);
    }
  EXPECT_EQ(www, 2u);
  size_t warnings = 0;
  for (const auto& d : o.diags) warnings += !d.is_error();
  EXPECT_GE(warnings, 2u) << o.dump();
}
