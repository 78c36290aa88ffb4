// RDATA presentation <-> wire, one test per type: text -> known wire bytes ->
// text (the form dig/BIND print), plus the RFC 3597 generic form and the
// error messages that name the field.
#include "zones/rdata.hh"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "zones/name.hh"
#include "zones/rrtype.hh"
#include "zones/wire.hh"

namespace edgedns::zones {
namespace {

// Splits like the zone-file tokenizer: blanks separate, "..." is one quoted
// field (escapes kept for the codec), key="v" stays one field.
std::vector<RdataToken> fields(std::string_view s) {
  std::vector<RdataToken> out;
  size_t i = 0;
  while (i < s.size()) {
    if (s[i] == ' ') {
      ++i;
      continue;
    }
    if (s[i] == '"') {
      size_t j = i + 1;
      while (j < s.size() && s[j] != '"') j += s[j] == '\\' ? 2 : 1;
      out.push_back({s.substr(i + 1, j - i - 1), true});
      i = j + 1;
      continue;
    }
    size_t j = i;
    while (j < s.size() && s[j] != ' ') {
      if (s[j] == '\\') {
        j += 2;
        continue;
      }
      if (s[j] == '"') {
        ++j;
        while (j < s.size() && s[j] != '"') ++j;
      }
      ++j;
    }
    out.push_back({s.substr(i, j - i), false});
    i = j;
  }
  return out;
}

const Name kOrigin = Name::from_text("example.com.");

struct Encoded {
  std::string err;
  std::vector<uint8_t> wire;
};

Encoded encode(uint16_t type, std::string_view text) {
  Encoded e;
  auto f = fields(text);
  e.err = rdata_from_text(type, f, kOrigin.data(), kOrigin.size(), e.wire);
  return e;
}

std::string hex(const std::vector<uint8_t>& v) {
  static const char d[] = "0123456789abcdef";
  std::string s;
  for (uint8_t b : v) {
    s += d[b >> 4];
    s += d[b & 15];
  }
  return s;
}

// text -> wire equals `wire_hex`, wire -> text equals `printed` (defaults to
// the input), and the printed form encodes to the same wire again.
void round_trip(uint16_t type, std::string_view text, std::string_view wire_hex,
                std::string_view printed = {}) {
  Encoded e = encode(type, text);
  ASSERT_EQ(e.err, "") << text;
  EXPECT_EQ(hex(e.wire), wire_hex) << text;
  std::string back = rdata_to_text(type, e.wire.data(), e.wire.size());
  EXPECT_EQ(back, printed.empty() ? text : printed);
  Encoded again = encode(type, back);
  ASSERT_EQ(again.err, "") << back;
  EXPECT_EQ(again.wire, e.wire) << back;
}

void expect_err(uint16_t type, std::string_view text, std::string_view want) {
  Encoded e = encode(type, text);
  EXPECT_EQ(e.err, want) << text;
  EXPECT_TRUE(e.wire.empty()) << "nothing appended on error";
}

TEST(Rdata, A) { round_trip(rrtype::A, "192.0.2.1", "c0000201"); }
TEST(Rdata, AAAA) {
  round_trip(rrtype::AAAA, "2001:db8::1", "20010db8000000000000000000000001");
  round_trip(rrtype::AAAA, "::ffff:192.0.2.1", "00000000000000000000ffffc0000201");
}
TEST(Rdata, NameTypesCompleteRelativeNamesAndKeepCase) {
  round_trip(rrtype::NS, "ns1", "036e7331076578616d706c6503636f6d00", "ns1.example.com.");
  round_trip(rrtype::CNAME, "WWW.Example.net.", "03575757074578616d706c65036e657400");
  round_trip(rrtype::PTR, "@", "076578616d706c6503636f6d00", "example.com.");
  round_trip(rrtype::DNAME, "a\\.b.", "03612e6200");
}
TEST(Rdata, SOAWithTtlUnits) {
  round_trip(rrtype::SOA, "ns1 host\\.master 2024010101 2h 1H30m 2w 300",
             "036e7331076578616d706c6503636f6d00"
             "0b686f73742e6d6173746572076578616d706c6503636f6d00"
             "78a3f175"
             "00001c20"
             "00001518"
             "00127500"
             "0000012c",
             "ns1.example.com. host\\.master.example.com. 2024010101 7200 5400 1209600 300");
}
TEST(Rdata, MX) {
  round_trip(rrtype::MX, "10 mail.example.com.", "000a046d61696c076578616d706c6503636f6d00");
}
TEST(Rdata, TXTAndSPF) {
  round_trip(rrtype::TXT, "\"hello world\" \"x\"", "0b68656c6c6f20776f726c640178");
  round_trip(rrtype::TXT, "unquoted", "08756e71756f746564", "\"unquoted\"");
  round_trip(rrtype::TXT, "\"a\\\"b\\\\c\" \"\\240\\001\" \"\"", "056122625c6302f00100");
  round_trip(rrtype::TXT, "\"\\065\\066C\"", "03414243", "\"ABC\"");
  round_trip(rrtype::SPF, "\"v=spf1 -all\"", "0b763d73706631202d616c6c");
  expect_err(rrtype::TXT, "\"" + std::string(256, 'x') + "\"",
             "TXT string: character-string longer than 255 octets");
  expect_err(rrtype::TXT, "\"\\300\"", "TXT string: \\DDD escape above 255");
  expect_err(rrtype::TXT, "\"\\12\"", "TXT string: bad \\DDD escape");
  expect_err(rrtype::TXT, "", "TXT: needs at least one string");
}
TEST(Rdata, HINFO) { round_trip(rrtype::HINFO, "\"PC\" \"Linux 6\"", "025043074c696e75782036"); }
TEST(Rdata, SRV) {
  round_trip(rrtype::SRV, "0 5 5060 sip.example.com.",
             "0000000513c4"
             "03736970076578616d706c6503636f6d00");
  round_trip(rrtype::SRV, "1 2 3 .", "00010002000300");
}
TEST(Rdata, NAPTR) {
  round_trip(rrtype::NAPTR, "100 10 \"S\" \"SIP+D2U\" \"\" _sip._udp.example.com.",
             "0064000a0153075349502b44325500045f736970045f756470076578616d706c6503636f6d00");
}
TEST(Rdata, CAA) {
  round_trip(rrtype::CAA, "0 issue \"letsencrypt.org\"",
             "0005697373756"
             "56c657473656e63727970742e6f7267");
  round_trip(rrtype::CAA, "128 tbs \";\"", "80037462733b");
  expect_err(rrtype::CAA, "0 is-sue \"x\"", "CAA tag: bad tag 'is-sue'");
}
TEST(Rdata, SSHFPAndTLSAPrintUpperHex) {
  round_trip(rrtype::SSHFP, "1 1 0123abcd", "01010123abcd", "1 1 0123ABCD");
  round_trip(rrtype::TLSA, "3 1 1 0123 ABCD", "0301010123abcd", "3 1 1 0123ABCD");
  expect_err(rrtype::TLSA, "3 1 1 012", "TLSA data: odd number of hex digits");
  expect_err(rrtype::SSHFP, "1 1 zz", "SSHFP fingerprint: bad hex 'zz'");
}
TEST(Rdata, DSAndCDSAcceptAlgorithmMnemonics) {
  round_trip(rrtype::DS, "60485 RSASHA256 2 49FD46E6 C4B45C55",
             "ec4508024"
             "9fd46e6c4b45c55",
             "60485 8 2 49FD46E6C4B45C55");
  round_trip(rrtype::CDS, "0 0 0 00", "0000000000");
}
TEST(Rdata, DNSKEYBase64SplitOverFields) {
  round_trip(rrtype::DNSKEY, "257 3 13 AQID BA==", "0101030d01020304", "257 3 13 AQIDBA==");
  round_trip(rrtype::CDNSKEY, "0 3 0 AA==", "0000030000");
  expect_err(rrtype::DNSKEY, "257 3 13 AQI",
             "DNSKEY public key: bad base64 (length not a multiple of 4) 'AQI'");
}
TEST(Rdata, RRSIGDatesAndIntegers) {
  round_trip(rrtype::RRSIG, "A 13 2 3600 20240101000000 20231201000000 12345 example.com. AQID",
             "0001"
             "0d"
             "02"
             "00000e10"
             "65920080"
             "65692200"
             "3039"
             "076578616d706c6503636f6d00"
             "010203",
             "A 13 2 3600 20240101000000 20231201000000 12345 example.com. AQID");
  // Integer times print as dates.
  Encoded e = encode(rrtype::RRSIG, "TYPE65280 8 1 60 1704067200 0 1 . AQID");
  ASSERT_EQ(e.err, "");
  EXPECT_EQ(rdata_to_text(rrtype::RRSIG, e.wire.data(), e.wire.size()),
            "TYPE65280 8 1 60 20240101000000 19700101000000 1 . AQID");
  expect_err(rrtype::RRSIG, "A 13 2 3600 20241301000000 0 1 . AQID",
             "RRSIG expiration: bad date '20241301000000'");
}
TEST(Rdata, NSECTypeBitmap) {
  // A(1) NS(2) SOA(6) -> window 0, one octet 0x62; TYPE1234 -> window 4.
  round_trip(rrtype::NSEC, "next.example.com. A NS SOA TYPE1234",
             "046e657874076578616d706c6503636f6d00"
             "000162"
             "041b" +
                 std::string(52, '0') + "20");
  round_trip(rrtype::NSEC, "next.example.com. RRSIG NSEC",
             "046e657874076578616d706c6503636f6d00"
             "0006000000000003");
  expect_err(rrtype::NSEC, "x. A BOGUS", "NSEC type bitmap: unknown type 'BOGUS'");
}
TEST(Rdata, NSEC3AndParam) {
  round_trip(rrtype::NSEC3, "1 1 12 AABBCCDD 2T7B4G4VSA5SMI47K61MV5BV1A22BOJR A RRSIG",
             "0101000c04aabbccdd14"
             "174eb2409fe28bcb4887a1836f957f0a8425e27b"
             "0006400000000002");
  round_trip(rrtype::NSEC3, "1 0 0 - 2T7B4G4VSA5SMI47K61MV5BV1A22BOJR",
             "010000000014174eb2409fe28bcb4887a1836f957f0a8425e27b");
  round_trip(rrtype::NSEC3PARAM, "1 0 10 -", "0100000a00");
  round_trip(rrtype::NSEC3PARAM, "1 0 10 aabb", "0100000a02aabb", "1 0 10 AABB");
}
TEST(Rdata, ZONEMD) { round_trip(rrtype::ZONEMD, "2024010101 1 1 ABCDEF", "78a3f1750101abcdef"); }
TEST(Rdata, LOC) {
  // RFC 1876 example; defaults hp 10000m, vp 10m.
  round_trip(rrtype::LOC, "42 21 54 N 71 06 18 W -24m 30m",
             "00331613"
             "89172dd0"
             "70be15f0"
             "00988d20",
             "42 21 54.000 N 71 6 18.000 W -24.00m 30m 10000m 10m");
  round_trip(rrtype::LOC, "52 22 23.000 N 4 53 32.000 E -2.00m 0.00m 10000m 10m",
             "00001613"
             "8b3cf018"
             "810cbce0"
             "009895b8");
}
TEST(Rdata, SVCBKeysSortedOnWire) {
  // port (3) before alpn (1) in the text; RFC 9460 wants ascending keys.
  Encoded a = encode(rrtype::SVCB, "1 . port=443 alpn=h2,h3");
  Encoded b = encode(rrtype::SVCB, "1 . alpn=\"h2,h3\" port=443");
  ASSERT_EQ(a.err, "");
  ASSERT_EQ(b.err, "");
  EXPECT_EQ(a.wire, b.wire);
  EXPECT_EQ(hex(a.wire),
            "000100"
            "00010006026832026833"
            "0003000201bb");
  round_trip(rrtype::HTTPS,
             "1 svc.example.com. mandatory=alpn,port alpn=\"h2\" no-default-alpn port=8443 "
             "ipv4hint=192.0.2.1,192.0.2.2 "
             "ech=AQID ipv6hint=2001:db8::1 key65000=\"x y\"",
             "0001"
             "03737663076578616d706c6503636f6d00"
             "0000000400010003"
             "000100030268"
             "32"
             "00020000"
             "000300022"
             "0fb"
             "000400"
             "08c0000201c0000202"
             "00050003010203"
             "000600102001"
             "0db8000000000000000000000001"
             "fde8000378207"
             "9");
  round_trip(rrtype::SVCB, "0 svc.example.com.",
             "0000"
             "03737663076578616d706c6503636f6d00");
  expect_err(rrtype::SVCB, "1 . port=1 port=2", "SVCB parameter: duplicate key 'port'");
  expect_err(rrtype::SVCB, "1 . bogus=1", "SVCB parameter: unknown key 'bogus'");
  expect_err(rrtype::SVCB, "1 . ipv4hint=1.2.3", "SVCB ipv4hint: bad address '1.2.3'");
}

TEST(Rdata, GenericFormForAnyType) {
  round_trip(uint16_t(65280), "\\# 3 0a0b0c", "0a0b0c");
  round_trip(uint16_t(65281), "\\# 0", "");
  // Known type in generic form: taken as is, printed natively.
  round_trip(rrtype::A, "\\# 4 C0000201", "c0000201", "192.0.2.1");
  round_trip(rrtype::MX, "\\# 5 000a016d 00", "000a016d00", "10 m.");
  EXPECT_EQ(rdata_to_generic(nullptr, 0), "\\# 0");
  const uint8_t b[] = {0xAB, 0x01};
  EXPECT_EQ(rdata_to_generic(b, 2), "\\# 2 ab01");
  EXPECT_EQ(rdata_to_text(65280, b, 2), "\\# 2 ab01");
}

TEST(Rdata, GenericFormErrors) {
  expect_err(rrtype::A, "\\# 3 0a0b0c", "A: RFC 3597 data is not a valid A RDATA");
  expect_err(rrtype::AAAA, "\\# 4 0a0b0c0d", "AAAA: RFC 3597 data is not a valid AAAA RDATA");
  expect_err(uint16_t(65280), "\\# 4 0a0b0c",
             "TYPE65280: RFC 3597 length 4 does not match 3 octets of hex data");
  expect_err(uint16_t(65280), "\\# 1",
             "TYPE65280: RFC 3597 length 1 does not match 0 octets of hex data");
  expect_err(uint16_t(65280), "\\# x 00", "TYPE65280 RFC 3597 length: not a number 'x'");
  expect_err(rrtype::NS, "\\# 2 0161", "NS: RFC 3597 data is not a valid NS RDATA");
}

TEST(Rdata, ErrorsNameTheField) {
  expect_err(rrtype::A, "1.2.3", "A: bad IPv4 address '1.2.3'");
  expect_err(rrtype::A, "1.2.3.4 5", "A: trailing data '5'");
  expect_err(rrtype::AAAA, "2001:db8:::1", "AAAA: bad IPv6 address '2001:db8:::1'");
  expect_err(rrtype::MX, "70000 mx.", "MX preference: '70000' is above 65535");
  expect_err(rrtype::MX, "x mx.", "MX preference: not a number 'x'");
  expect_err(rrtype::MX, "10", "MX exchange: missing");
  expect_err(rrtype::SRV, "1 2 3", "SRV target: missing");
  expect_err(rrtype::SOA, "a. b. 1 2 3 4 x", "SOA minimum: bad number or TTL 'x'");
  expect_err(rrtype::NS, std::string(64, 'a') + ".",
             "NS target: label longer than 63 octets in '" + std::string(64, 'a') + ".'");
  expect_err(uint16_t(65280), "00",
             "TYPE65280: no presentation format known for this type; use the RFC 3597 \\# form");
}

TEST(Rdata, UndecodableWireFallsBackToGeneric) {
  const uint8_t bad_a[] = {1, 2, 3};
  EXPECT_EQ(rdata_to_text(rrtype::A, bad_a, 3), "\\# 3 010203");
  const uint8_t bad_ns[] = {5, 'a', 0};
  EXPECT_EQ(rdata_to_text(rrtype::NS, bad_ns, 3), "\\# 3 056100");
}

}  // namespace
}  // namespace edgedns::zones
