// Zone text rendering: parse(zone_text(z)) has the same version id, for every
// record type and for the differential-test zones; zone-set texts split again.
#include "zones/zone_text.hh"

#include <gtest/gtest.h>

#include "zones/load.hh"
#include "zones/version.hh"

using namespace edgedns::zones;

namespace {
std::shared_ptr<const Zone> load(const std::string& rel) {
  LoadResult lr = load_zone_file(std::string(EDGEDNS_TEST_DATA) + "/" + rel);
  for (const auto& d : lr.diagnostics)
    if (d.is_error()) ADD_FAILURE() << d.to_string();
  return lr.zone;
}
std::shared_ptr<const ZoneSet> reload(const std::string& text) {
  ZoneSetLoad l = load_zoneset_text(text, "rendered");
  for (const auto& d : l.diagnostics)
    if (d.is_error()) ADD_FAILURE() << d.to_string();
  return l.zones;
}
}  // namespace

class ZoneTextRoundTrip : public ::testing::TestWithParam<const char*> {};

TEST_P(ZoneTextRoundTrip, SameVersion) {
  auto z = load(GetParam());
  ASSERT_TRUE(z);
  auto set = ZoneSet::build({z});
  std::string text = zoneset_text(*set);
  EXPECT_EQ(text.find("$ORIGIN"), std::string::npos);
  auto back = reload(text);
  ASSERT_TRUE(back);
  EXPECT_EQ(zoneset_version(*back), zoneset_version(*set)) << text;
  EXPECT_EQ(zone_record_count(*back->zones()[0]), zone_record_count(*z));
  // Rendering is deterministic: the reloaded zone renders to the same text.
  EXPECT_EQ(zoneset_text(*back), text);
}

INSTANTIATE_TEST_SUITE_P(Files, ZoneTextRoundTrip,
                         ::testing::Values("parser/alltypes.zone", "diff/diff.test.zone",
                                           "diff/child.diff.test.zone", "diff/other.test.zone"));

TEST(ZoneText, OneRecordPerLineAbsoluteOwners) {
  ParseResult pr = parse_zone_text(
      "$ORIGIN t.\n$TTL 60\n@ SOA a b 1 2 3 4 5\n@ NS a\nA A 1.2.3.4\n"
      "txt 30 TXT \"a b\" c\n",
      "t");
  ASSERT_FALSE(pr.has_errors());
  auto z = compile_zone(std::move(pr.zone));
  EXPECT_EQ(zone_text(*z),
            "t.\t60\tIN\tNS\ta.t.\n"
            "t.\t60\tIN\tSOA\ta.t. b.t. 1 2 3 4 5\n"
            "a.t.\t60\tIN\tA\t1.2.3.4\n"
            "txt.t.\t30\tIN\tTXT\t\"a b\" \"c\"\n");
}

TEST(ZoneText, WholeSetRoundTrip) {
  auto set = ZoneSet::build({load("diff/diff.test.zone"), load("diff/child.diff.test.zone"),
                             load("diff/other.test.zone")});
  std::string text = zoneset_text(*set);
  auto back = reload(text);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->zones().size(), 3u);
  EXPECT_EQ(zoneset_version(*back), zoneset_version(*set));
  EXPECT_EQ(zoneset_label(*back), zoneset_label(*set));
}

TEST(ZoneText, ErrorsNameTheLineInTheWholeText) {
  ZoneSetLoad l = load_zoneset_text(
      "; zone a.\na. 60 IN SOA a. b. 1 2 3 4 5\na. 60 IN NS a.\n"
      "a. 60 IN A 1.2.3.4\n; zone b.\nb. 60 IN SOA b. b. 1 2 3 4 5\n"
      "b. 60 IN NS b.\nb. 60 IN A 300.1.1.1\n",
      "state");
  EXPECT_FALSE(l.zones);
  bool found = false;
  for (const auto& d : l.diagnostics)
    if (d.is_error() && d.line == 8 && d.file == "state") found = true;
  EXPECT_TRUE(found);
  EXPECT_FALSE(load_zoneset_text("a. 60 IN A 1.2.3.4\n", "x").zones);
  EXPECT_FALSE(load_zoneset_text("", "x").zones);
}
