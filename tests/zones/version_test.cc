// Version ids: hex round trip, order independence, content sensitivity,
// set sums and labels.
#include "zones/version.hh"

#include <gtest/gtest.h>

#include "tests/zones/compile_text.hh"
#include "zones/snapshot.hh"

using namespace edgedns::zones;

namespace {
using test::compile_text;
const char* kHead = "$ORIGIN t.\n$TTL 60\n@ SOA a b 7 2 3 4 5\n@ NS a\na A 1.2.3.4\n";
}  // namespace

TEST(Version, HexRoundTrip) {
  VersionId v{0x0123456789abcdefull, 0xfedcba9876543210ull};
  EXPECT_EQ(v.hex(), "0123456789abcdeffedcba9876543210");
  auto back = VersionId::from_hex(v.hex());
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, v);
  EXPECT_EQ(*VersionId::from_hex("0123456789ABCDEFFEDCBA9876543210"), v);
  EXPECT_FALSE(VersionId::from_hex("0123"));
  EXPECT_FALSE(VersionId::from_hex("0123456789abcdeffedcba987654321g"));
  EXPECT_EQ(VersionId{}.hex(), std::string(32, '0'));
}

TEST(Version, ArithmeticCarriesAndUndoes) {
  VersionId a{0, UINT64_MAX}, b{0, 1};
  a += b;
  EXPECT_EQ(a, (VersionId{1, 0}));
  a -= b;
  EXPECT_EQ(a, (VersionId{0, UINT64_MAX}));
  VersionId z;
  z -= b;
  EXPECT_EQ(z, (VersionId{UINT64_MAX, UINT64_MAX}));
}

TEST(Version, RecordHashSeesEveryField) {
  const uint8_t o[] = {1, 'a', 1, 't', 0};
  const uint8_t rd[] = {1, 2, 3, 4};
  VersionId base = record_hash(o, sizeof o, 1, 1, 60, rd, 4);
  EXPECT_EQ(base, record_hash(o, sizeof o, 1, 1, 60, rd, 4));
  EXPECT_NE(base, record_hash(o, sizeof o, 28, 1, 60, rd, 4));
  EXPECT_NE(base, record_hash(o, sizeof o, 1, 3, 60, rd, 4));
  EXPECT_NE(base, record_hash(o, sizeof o, 1, 1, 61, rd, 4));
  EXPECT_NE(base, record_hash(o, sizeof o, 1, 1, 60, rd, 3));
  const uint8_t o2[] = {1, 'b', 1, 't', 0};
  EXPECT_NE(base, record_hash(o2, sizeof o2, 1, 1, 60, rd, 4));
  EXPECT_NE(apex_hash(o, sizeof o), apex_hash(o2, sizeof o2));
  // The streaming path (big RDATA) and the one-shot path agree with the
  // same input split differently: a 2000-byte TXT is stable and distinct.
  std::vector<uint8_t> big(2000, 7);
  VersionId b1 = record_hash(o, sizeof o, 16, 1, 60, big.data(), big.size());
  EXPECT_EQ(b1, record_hash(o, sizeof o, 16, 1, 60, big.data(), big.size()));
  big[1999] = 8;
  EXPECT_NE(b1, record_hash(o, sizeof o, 16, 1, 60, big.data(), big.size()));
}

TEST(Version, OrderAndCaseIndependentContentSensitive) {
  auto z1 = compile_text(std::string(kHead) + "b A 1.1.1.1\nc TXT hello\nB A 1.1.1.2\n");
  auto z2 = compile_text(std::string(kHead) + "C TXT hello\nb A 1.1.1.2\nb A 1.1.1.1\n");
  auto z3 = compile_text(std::string(kHead) + "b A 1.1.1.1\nc TXT hellO\nb A 1.1.1.2\n");
  auto z4 = compile_text(std::string(kHead) + "b 61 A 1.1.1.1\nc TXT hello\nb 61 A 1.1.1.2\n");
  EXPECT_EQ(zone_version(*z1), zone_version(*z2));
  EXPECT_NE(zone_version(*z1), zone_version(*z3));
  EXPECT_NE(zone_version(*z1), zone_version(*z4));
  EXPECT_FALSE(zone_version(*z1).is_zero());
}

TEST(Version, ZoneVersionIsApexPlusRecordSum) {
  auto z = compile_text(std::string(kHead) + "b A 1.1.1.1\n*.w MX 10 a\n");
  VersionId sum = apex_hash(zone_apex(*z).data(), zone_apex(*z).size());
  zone_for_each_record(
      *z, [&](const uint8_t* o, size_t ol, uint16_t t, uint16_t c, uint32_t ttl, const uint8_t* rd,
              size_t rl) { sum += record_hash(o, ol, t, c, ttl, rd, rl); });
  EXPECT_EQ(sum, zone_version(*z));
}

TEST(Version, LargeZoneThreadedCompileMatchesSum) {
  // Above the threaded-build threshold: both halves' sums must be counted.
  std::string text = kHead;
  for (int i = 0; i < 210000; ++i)
    text += "h" + std::to_string(i) + " A 10.0.0." + std::to_string(i % 250) + "\n";
  auto z = compile_text(text);
  VersionId sum = apex_hash(zone_apex(*z).data(), zone_apex(*z).size());
  zone_for_each_record(
      *z, [&](const uint8_t* o, size_t ol, uint16_t t, uint16_t c, uint32_t ttl, const uint8_t* rd,
              size_t rl) { sum += record_hash(o, ol, t, c, ttl, rd, rl); });
  EXPECT_EQ(sum, zone_version(*z));
}

TEST(Version, SetVersionAndLabel) {
  auto a = compile_text("$ORIGIN b.example.\n$TTL 60\n@ SOA a b 42 2 3 4 5\n@ NS a\na A 1.2.3.4\n");
  auto b = compile_text(
      "$ORIGIN a.example.\n$TTL 60\n@ SOA a b 2024010101 2 3 4 5\n@ NS a\na A 1.2.3.4\n");
  auto s1 = ZoneSet::build({a, b});
  auto s2 = ZoneSet::build({b, a});
  EXPECT_EQ(zoneset_version(*s1), zoneset_version(*s2));
  VersionId sum = zone_version(*a);
  sum += zone_version(*b);
  EXPECT_EQ(zoneset_version(*s1), sum);
  EXPECT_EQ(zoneset_label(*s1), "a.example.=2024010101,b.example.=42");
  EXPECT_NE(zoneset_version(*ZoneSet::build({a})), zoneset_version(*s1));
}
