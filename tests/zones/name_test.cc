#include "zones/name.hh"

#include <gtest/gtest.h>

#include <cstring>

using namespace edgedns::zones;

TEST(Name, RelativeAndAbsolute) {
  Name origin = Name::from_text("example.com.");
  EXPECT_EQ(Name::from_text("www", origin).to_text(), "www.example.com.");
  EXPECT_EQ(Name::from_text("www.example.org.", origin).to_text(), "www.example.org.");
  EXPECT_EQ(Name::from_text("@", origin).to_text(), "example.com.");
  EXPECT_EQ(Name::from_text(".").to_text(), ".");
}

TEST(Name, Escapes) {
  Name n = Name::from_text("a\\.b.c\\065\\032.");
  ASSERT_EQ(n.size(), 1 + 3 + 1 + 3 + 1);
  EXPECT_EQ(n.data()[0], 3);
  EXPECT_EQ(n.data()[2], '.');
  EXPECT_EQ(n.to_text(), "a\\.b.cA\\032.");
  EXPECT_THROW(Name::from_text("a\\25x."), std::invalid_argument);
  EXPECT_THROW(Name::from_text("a\\256."), std::invalid_argument);
}

TEST(Name, Limits) {
  std::string l63(63, 'a'), l64(64, 'a');
  EXPECT_NO_THROW(Name::from_text(l63 + "."));
  EXPECT_THROW(Name::from_text(l64 + "."), std::invalid_argument);
  std::string n253;  // 4 labels of 63 = 4*64 + 1 = 257 > 255
  for (int i = 0; i < 4; ++i) n253 += l63 + ".";
  EXPECT_THROW(Name::from_text(n253), std::invalid_argument);
  EXPECT_THROW(Name::from_text("a..b."), std::invalid_argument);
}

TEST(Name, CaseAndOrder) {
  Name a = Name::from_text("WWW.Example.COM.");
  EXPECT_EQ(a, Name::from_text("www.example.com."));
  EXPECT_EQ(a.lower().to_text(), "www.example.com.");
  // RFC 4034 §6.1 example order.
  const char* order[] = {"example.",         "a.example.",      "yljkjljk.a.example.",
                         "Z.a.example.",     "zABC.a.EXAMPLE.", "z.example.",
                         "\\001.z.example.", "*.z.example.",    "\\200.z.example."};
  for (size_t i = 0; i + 1 < std::size(order); ++i)
    EXPECT_LT(Name::from_text(order[i]), Name::from_text(order[i + 1])) << order[i];
  EXPECT_TRUE(Name::from_text("a.b.example.").is_below_or_equal(Name::from_text("EXAMPLE.")));
  EXPECT_FALSE(Name::from_text("a.bexample.").is_below_or_equal(Name::from_text("example.")));
  EXPECT_EQ(Name::from_text("a.b.c.").label_count(), 3);
  EXPECT_EQ(Name::from_text("a.b.c.").parent().to_text(), "b.c.");
}

TEST(Name, WireLength) {
  const uint8_t ok[] = {3, 'w', 'w', 'w', 0};
  EXPECT_EQ(name_wire_length(ok, sizeof ok), 5u);
  EXPECT_EQ(name_wire_length(ok, 4), 0u);
  const uint8_t ptr[] = {0xc0, 12};
  EXPECT_EQ(name_wire_length(ptr, sizeof ptr), 0u);
}

// The word-at-a-time fold must equal lower_ascii on every byte value in every
// lane, with neighbours that could carry into it (0x7f, 0xff, letters).
TEST(Name, LowerAscii8MatchesBytewise) {
  const uint8_t fill[] = {0x00, 0x40, 0x41, 0x5a, 0x5b, 0x7f, 0x80, 0xc1, 0xff};
  for (uint8_t f : fill)
    for (int lane = 0; lane < 8; ++lane)
      for (int b = 0; b < 256; ++b) {
        uint8_t in[8], want[8], got[8];
        for (int i = 0; i < 8; ++i) in[i] = i == lane ? uint8_t(b) : f;
        for (int i = 0; i < 8; ++i) want[i] = lower_ascii(in[i]);
        uint64_t w;
        std::memcpy(&w, in, 8);
        w = lower_ascii8(w);
        std::memcpy(got, &w, 8);
        ASSERT_EQ(std::memcmp(got, want, 8), 0)
            << "byte " << b << " lane " << lane << " fill " << int(f);
      }
}

// lower_and_sum: every length up to a full name, writing exactly [0, n)
// and returning the bytes' one's complement sum.
TEST(Name, LowerAndSumEveryLength) {
  uint8_t src[kMaxName + 8];
  for (size_t i = 0; i < sizeof src; ++i)
    src[i] = uint8_t("AbZz@[`{\x7f\xc1"[i % 10] + (i / 10) % 3);
  for (size_t n = 0; n <= kMaxName; ++n) {
    uint8_t lower[kMaxName + 16];
    std::memset(lower, 0xee, sizeof lower);
    ASSERT_EQ(ones_fold(lower_and_sum(lower, src, n)), ones_sum(src, n)) << n;
    for (size_t i = 0; i < n; ++i) ASSERT_EQ(lower[i], lower_ascii(src[i])) << n;
    for (size_t i = n; i < sizeof lower; ++i) ASSERT_EQ(lower[i], 0xee) << "wrote past n=" << n;
  }
}
