// RR type/class mnemonics (RFC 1035, RFC 3597 §5) and the per-type name facts.
#include "zones/rrtype.hh"

#include <gtest/gtest.h>

#include "zones/wire.hh"

namespace edgedns::zones {
namespace {

TEST(RrType, MnemonicsBothWays) {
  struct {
    const char* text;
    uint16_t code;
  } cases[] = {
      {"A", 1},       {"NS", 2},      {"CNAME", 5},    {"SOA", 6},         {"NULL", 10},
      {"PTR", 12},    {"HINFO", 13},  {"MX", 15},      {"TXT", 16},        {"RP", 17},
      {"AFSDB", 18},  {"AAAA", 28},   {"LOC", 29},     {"SRV", 33},        {"NAPTR", 35},
      {"DNAME", 39},  {"OPT", 41},    {"DS", 43},      {"SSHFP", 44},      {"RRSIG", 46},
      {"NSEC", 47},   {"DNSKEY", 48}, {"DHCID", 49},   {"NSEC3", 50},      {"NSEC3PARAM", 51},
      {"TLSA", 52},   {"CDS", 59},    {"CDNSKEY", 60}, {"OPENPGPKEY", 61}, {"CSYNC", 62},
      {"ZONEMD", 63}, {"SVCB", 64},   {"HTTPS", 65},   {"SPF", 99},        {"IXFR", 251},
      {"AXFR", 252},  {"ANY", 255},   {"URI", 256},    {"CAA", 257},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(rrtype_from_text(c.text), c.code) << c.text;
    EXPECT_EQ(rrtype_to_text(c.code), c.text);
  }
}

TEST(RrType, CaseInsensitive) {
  EXPECT_EQ(rrtype_from_text("aaaa"), 28);
  EXPECT_EQ(rrtype_from_text("Nsec3Param"), 51);
  EXPECT_EQ(rrtype_from_text("a"), 1);
  EXPECT_EQ(rrclass_from_text("in"), 1);
  EXPECT_EQ(rrclass_from_text("ch"), 3);
}

TEST(RrType, Rfc3597Forms) {
  EXPECT_EQ(rrtype_from_text("TYPE65280"), 65280);
  EXPECT_EQ(rrtype_from_text("type1"), 1);  // a known type by number is the same type
  EXPECT_EQ(rrtype_from_text("TYPE0"), 0);
  EXPECT_EQ(rrtype_from_text("TYPE65535"), 65535);
  EXPECT_EQ(rrtype_to_text(65280), "TYPE65280");
  EXPECT_EQ(rrtype_to_text(0), "TYPE0");
  EXPECT_EQ(rrclass_from_text("CLASS1"), 1);
  EXPECT_EQ(rrclass_from_text("class65535"), 65535);
  EXPECT_EQ(rrclass_to_text(1), "IN");
  EXPECT_EQ(rrclass_to_text(3), "CH");
  EXPECT_EQ(rrclass_to_text(42), "CLASS42");
}

TEST(RrType, RejectsMalformed) {
  for (const char* bad : {"", "TYPE", "TYPE65536", "TYPE-1", "TYPE1x", "TYPE123456", "FOO", "A1"})
    EXPECT_FALSE(rrtype_from_text(bad).has_value()) << bad;
  for (const char* bad : {"", "CLASS", "CLASS65536", "INX", "X"})
    EXPECT_FALSE(rrclass_from_text(bad).has_value()) << bad;
}

TEST(RrType, RdataNames) {
  auto ns = rdata_names(rrtype::NS);
  EXPECT_EQ(ns.count, 1);
  EXPECT_EQ(ns.first_offset, 0);
  EXPECT_TRUE(ns.compressible);
  EXPECT_TRUE(ns.additional);

  for (uint16_t t : {rrtype::CNAME, rrtype::PTR}) {
    auto n = rdata_names(t);
    EXPECT_EQ(n.count, 1);
    EXPECT_EQ(n.first_offset, 0);
    EXPECT_TRUE(n.compressible);
    EXPECT_FALSE(n.additional);
  }
  auto dname = rdata_names(rrtype::DNAME);  // RFC 6672 §2.5 / RFC 3597 §4: never compressed
  EXPECT_EQ(dname.count, 1);
  EXPECT_FALSE(dname.compressible);

  auto mx = rdata_names(rrtype::MX);
  EXPECT_EQ(mx.count, 1);
  EXPECT_EQ(mx.first_offset, 2);
  EXPECT_TRUE(mx.compressible);
  EXPECT_TRUE(mx.additional);

  auto srv = rdata_names(rrtype::SRV);  // RFC 2782: target not compressed
  EXPECT_EQ(srv.count, 1);
  EXPECT_EQ(srv.first_offset, 6);
  EXPECT_FALSE(srv.compressible);
  EXPECT_TRUE(srv.additional);

  auto soa = rdata_names(rrtype::SOA);
  EXPECT_EQ(soa.count, 2);
  EXPECT_EQ(soa.first_offset, 0);
  EXPECT_TRUE(soa.compressible);
  EXPECT_FALSE(soa.additional);

  for (uint16_t t : {rrtype::A, rrtype::TXT, rrtype::RRSIG, rrtype::NSEC, uint16_t(65280)})
    EXPECT_EQ(rdata_names(t).count, 0) << t;
}

}  // namespace
}  // namespace edgedns::zones
