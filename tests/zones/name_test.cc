#include "zones/name.hh"

#include <gtest/gtest.h>

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
  const char* order[] = {"example.", "a.example.", "yljkjljk.a.example.", "Z.a.example.",
                         "zABC.a.EXAMPLE.", "z.example.", "\\001.z.example.", "*.z.example.",
                         "\\200.z.example."};
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
