// Master-file parser: one test per syntax feature and per error case, with the
// reported line checked. Golden fixtures live in tests/data/parser/.
#include "zones/parser.hh"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "zones/rdata.hh"
#include "zones/rrtype.hh"

namespace edgedns::zones {
namespace {

const std::string kData = std::string(EDGEDNS_TEST_DATA) + "/parser/";

// "owner ttl CLASS TYPE rdata" per record, as edgectl dump-zone prints them.
std::vector<std::string> dump(const ZoneData& z) {
  std::vector<std::string> out;
  for (const Record& r : z.records) {
    std::string s = name_to_text(z.owner(r), r.owner_len);
    s += ' ' + std::to_string(r.ttl) + ' ' + rrclass_to_text(r.rclass) + ' ' + rrtype_to_text(r.type) + ' ';
    s += rdata_to_text(r.type, z.rdata(r), r.rdata_len);
    out.push_back(s);
  }
  return out;
}

std::string diags(const ParseResult& r) {
  std::string s;
  for (const auto& d : r.diagnostics) s += d.to_string() + "\n";
  return s;
}

ParseResult parse(std::string_view text, const std::string& origin = "") {
  ParseOptions o;
  o.origin = origin;
  return parse_zone_text(text, "t.zone", o);
}

// Expects exactly one error, on `line`, whose message contains `what`.
void expect_error(std::string_view text, uint32_t line, const std::string& what, const std::string& origin = "example.") {
  ParseResult r = parse(text, origin);
  ASSERT_TRUE(r.has_errors()) << text;
  const Diagnostic* first = nullptr;
  for (const auto& d : r.diagnostics)
    if (d.is_error()) { first = &d; break; }
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(first->line, line) << diags(r);
  EXPECT_EQ(first->file, "t.zone");
  EXPECT_NE(first->message.find(what), std::string::npos) << "message: " << first->message;
}

TEST(Parser, BasicFixture) {
  ParseResult r = parse_zone_file(kData + "basic.zone");
  ASSERT_FALSE(r.has_errors()) << diags(r);
  EXPECT_EQ(r.zone.origin.to_text(), "example.com.");
  std::vector<std::string> want = {
      "example.com. 3600 IN SOA ns1.Example.COM. hostmaster.Example.COM. 2024010101 7200 3600 604800 300",
      "example.com. 3600 IN NS ns1.Example.COM.",
      "example.com. 3600 IN NS ns2.example.net.",
      "ns1.example.com. 3600 IN A 192.0.2.1",
      "ns1.example.com. 3600 IN AAAA 2001:db8::1",
      "www.example.com. 300 IN CNAME Example.COM.",
      "mail.example.com. 600 IN MX 10 mail.example.com.",
      "mail.example.com. 3600 IN A 192.0.2.25",
      "txt.example.com. 3600 IN TXT \"hello world\" \"a\\\"b\" \"ABC\"",
      "_sip._tcp.example.com. 3600 IN SRV 10 20 5060 sip.Example.COM.",
      "sip.example.com. 3600 IN A 192.0.2.30",
      "caa.example.com. 3600 IN CAA 0 issue \"letsencrypt.org\"",
      "dn.example.com. 3600 IN DNAME other.example.",
      "p.example.com. 3600 IN PTR host.Example.COM.",
  };
  EXPECT_EQ(dump(r.zone), want);
  // Line numbers of records point at the line the entry starts on.
  EXPECT_EQ(r.zone.records[0].line, 4u);
  EXPECT_EQ(r.zone.records[3].line, 8u);
  EXPECT_EQ(r.zone.files.size(), 1u);
}

TEST(Parser, OwnersAreLowerCasedWire) {
  ParseResult r = parse("$TTL 1\nWWW.Example. A 1.2.3.4\n", "example.");
  ASSERT_FALSE(r.has_errors()) << diags(r);
  const Record& rec = r.zone.records[0];
  std::string wire(reinterpret_cast<const char*>(r.zone.owner(rec)), rec.owner_len);
  EXPECT_EQ(wire, std::string("\3www\7example\0", 13));
}

TEST(ParserErrors, BadAddressNamesLineAndField) {
  expect_error("$TTL 1\n@ SOA a b 1 2 3 4 5\na A 1.2.3\n", 3, "A: bad IPv4 address '1.2.3'");
}

TEST(ParserErrors, UnbalancedOpenParenNamesOpeningLine) {
  expect_error("$TTL 1\n@ SOA a b 1 2 3 4 5\na A 1.2.3.4\nb TXT ( \"x\"\nc A 1.2.3.4\n", 4, "unbalanced parenthesis");
}

}  // namespace
}  // namespace edgedns::zones
