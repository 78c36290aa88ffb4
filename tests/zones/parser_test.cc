// Master-file parser: one test per syntax feature and per error case, with the
// reported line checked. Golden fixtures live in tests/data/parser/.
#include "zones/parser.hh"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <unistd.h>

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
    s += ' ' + std::to_string(r.ttl) + ' ' + rrclass_to_text(r.rclass) + ' ' +
         rrtype_to_text(r.type) + ' ';
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
void expect_error(std::string_view text, uint32_t line, const std::string& what,
                  const std::string& origin = "example.") {
  ParseResult r = parse(text, origin);
  ASSERT_TRUE(r.has_errors()) << text;
  const Diagnostic* first = nullptr;
  for (const auto& d : r.diagnostics)
    if (d.is_error()) {
      first = &d;
      break;
    }
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
      "example.com. 3600 IN SOA ns1.Example.COM. hostmaster.Example.COM. 2024010101 7200 3600 "
      "604800 300",
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
  expect_error("$TTL 1\n@ SOA a b 1 2 3 4 5\na A 1.2.3.4\nb TXT ( \"x\"\nc A 1.2.3.4\n", 4,
               "unbalanced parenthesis");
}

// ---- origin -------------------------------------------------------------

TEST(ParserOrigin, FromOptionsThenFirstOriginThenSoaOwner) {
  ParseResult a = parse("$TTL 1\n@ SOA ns hm 1 2 3 4 5\n", "opt.example");
  ASSERT_FALSE(a.has_errors()) << diags(a);
  EXPECT_EQ(a.zone.origin.to_text(), "opt.example.");

  ParseResult b = parse(
      "$ORIGIN First.Example.\n$TTL 1\n@ SOA ns hm 1 2 3 4 5\n$ORIGIN second.example.\nx A "
      "1.2.3.4\n");
  ASSERT_FALSE(b.has_errors()) << diags(b);
  EXPECT_EQ(b.zone.origin.to_text(), "first.example.");
  EXPECT_EQ(dump(b.zone)[1], "x.second.example. 1 IN A 1.2.3.4");

  ParseResult c = parse("$TTL 1\nsoa.example. SOA ns hm 1 2 3 4 5\nwww A 1.2.3.4\n");
  ASSERT_FALSE(c.has_errors()) << diags(c);
  EXPECT_EQ(c.zone.origin.to_text(), "soa.example.");
  EXPECT_EQ(dump(c.zone)[0], "soa.example. 1 IN SOA ns.soa.example. hm.soa.example. 1 2 3 4 5");
  EXPECT_EQ(dump(c.zone)[1], "www.soa.example. 1 IN A 1.2.3.4");
}

TEST(ParserOrigin, NoOriginAnywhereIsAnError) {
  ParseResult r = parse("$TTL 1\nwww.example. A 1.2.3.4\n");
  ASSERT_TRUE(r.has_errors());
  EXPECT_NE(diags(r).find("cannot determine the zone origin"), std::string::npos) << diags(r);
  expect_error("$TTL 1\nwww A 1.2.3.4\n", 2, "relative name with no origin", "");
}

// ---- names, owners, TTLs, classes -------------------------------------------

TEST(Parser, RelativeAbsoluteAndAtNames) {
  ParseResult r =
      parse("$TTL 1\n@ NS ns\nrel CNAME @\nabs.example. CNAME other.net.\nsub.rel PTR x.sub\n",
            "example.");
  ASSERT_FALSE(r.has_errors()) << diags(r);
  std::vector<std::string> want = {
      "example. 1 IN NS ns.example.", "rel.example. 1 IN CNAME example.",
      "abs.example. 1 IN CNAME other.net.", "sub.rel.example. 1 IN PTR x.sub.example."};
  EXPECT_EQ(dump(r.zone), want);
}

TEST(Parser, OmittedOwnerInheritsPreviousOwnerAcrossDirectives) {
  ParseResult r = parse("$TTL 1\nwww A 1.2.3.4\n\tAAAA ::1\n$TTL 2\n  TXT \"x\"\n", "example.");
  ASSERT_FALSE(r.has_errors()) << diags(r);
  std::vector<std::string> want = {"www.example. 1 IN A 1.2.3.4", "www.example. 1 IN AAAA ::1",
                                   "www.example. 2 IN TXT \"x\""};
  EXPECT_EQ(dump(r.zone), want);
  expect_error("$TTL 1\n  A 1.2.3.4\n", 2, "no previous owner");
}

TEST(Parser, TtlUnitsAreCaseInsensitive) {
  ParseResult r =
      parse("$TTL 1h30M\na A 1.2.3.4\nb 1W2d3H4m5S A 1.2.3.4\nc 2m30 A 1.2.3.4\n", "example.");
  ASSERT_FALSE(r.has_errors()) << diags(r);
  EXPECT_EQ(r.zone.records[0].ttl, 5400u);
  EXPECT_EQ(r.zone.records[1].ttl, 604800u + 2 * 86400 + 3 * 3600 + 4 * 60 + 5);
  EXPECT_EQ(r.zone.records[2].ttl, 150u);
  expect_error("$TTL 1x\n", 1, "$TTL: bad TTL '1x'");
  expect_error("$TTL 1\na 1hh A 1.2.3.4\n", 2, "bad TTL '1hh'");
}

TEST(Parser, OmittedTtlFollowsBind) {
  // No $TTL: the previous record's TTL (RFC 1035 §5.1).
  ParseResult a = parse("@ 600 SOA ns hm 1 2 3 4 5\nwww A 1.2.3.4\nftp 30 A 1.2.3.4\nx A 1.2.3.4\n",
                        "example.");
  ASSERT_FALSE(a.has_errors()) << diags(a);
  EXPECT_EQ(a.zone.records[1].ttl, 600u);
  EXPECT_EQ(a.zone.records[3].ttl, 30u);
  // No $TTL and no TTL on the SOA: the SOA MINIMUM, which becomes the default.
  ParseResult b = parse("@ SOA ns hm 1 2 3 4 77\nwww A 1.2.3.4\n", "example.");
  ASSERT_FALSE(b.has_errors()) << diags(b);
  EXPECT_EQ(b.zone.records[0].ttl, 77u);
  EXPECT_EQ(b.zone.records[1].ttl, 77u);
  ASSERT_FALSE(b.diagnostics.empty());
  EXPECT_FALSE(b.diagnostics[0].is_error());
  EXPECT_NE(b.diagnostics[0].message.find("SOA MINIMUM"), std::string::npos);
  // $TTL wins over the previous record's TTL.
  ParseResult c = parse("$TTL 5\na 10 A 1.2.3.4\nb A 1.2.3.4\n", "example.");
  EXPECT_EQ(c.zone.records[1].ttl, 5u);
  // Nothing at all: ParseOptions::default_ttl, with a warning.
  ParseResult d = parse("a A 1.2.3.4\n", "example.");
  ASSERT_FALSE(d.has_errors()) << diags(d);
  EXPECT_EQ(d.zone.records[0].ttl, 3600u);
  ASSERT_EQ(d.diagnostics.size(), 1u);
  EXPECT_FALSE(d.diagnostics[0].is_error());
}

TEST(Parser, ClassFormsAndOrder) {
  ParseResult r =
      parse("$TTL 1\na IN 5 A 1.2.3.4\nb 6 IN A 1.2.3.4\nc CLASS1 A 1.2.3.4\nd in TYPE1 1.2.3.4\n",
            "example.");
  ASSERT_FALSE(r.has_errors()) << diags(r);
  ASSERT_EQ(r.zone.records.size(), 4u);
  EXPECT_EQ(r.zone.records[0].ttl, 5u);
  EXPECT_EQ(r.zone.records[1].ttl, 6u);
  for (const auto& rec : r.zone.records) {
    EXPECT_EQ(rec.rclass, 1);
    EXPECT_EQ(rec.type, 1);
  }
  expect_error("$TTL 1\na CH A 1.2.3.4\n", 2, "class CH not supported");
  expect_error("$TTL 1\nok A 1.2.3.4\na CLASS3 TXT x\n", 3, "class CH not supported");
  expect_error("$TTL 1\na HS A 1.2.3.4\n", 2, "class HS not supported");
}

TEST(Parser, ParenthesesCommentsAndLineNumbers) {
  ParseResult r = parse(
      "$TTL 1\n@ SOA ns hm (\n  1 ; serial ( in a comment )\n  2\n  3 4\n  5 )\nnext A 1.2.3.4\n",
      "example.");
  ASSERT_FALSE(r.has_errors()) << diags(r);
  ASSERT_EQ(r.zone.records.size(), 2u);
  EXPECT_EQ(dump(r.zone)[0], "example. 1 IN SOA ns.example. hm.example. 1 2 3 4 5");
  EXPECT_EQ(r.zone.records[0].line, 2u);
  EXPECT_EQ(r.zone.records[1].line, 7u);
}

TEST(Parser, QuotedStringsKeepSpecialCharacters) {
  ParseResult r = parse("$TTL 1\nt TXT \"a ; b ( c ) d\" \"e\\\"f\" \"multi\nline\"\nn A 1.2.3.4\n",
                        "example.");
  ASSERT_FALSE(r.has_errors()) << diags(r);
  EXPECT_EQ(dump(r.zone)[0], "t.example. 1 IN TXT \"a ; b ( c ) d\" \"e\\\"f\" \"multi\\010line\"");
  EXPECT_EQ(r.zone.records[1].line, 4u);
}

TEST(Parser, EscapesInOwnerNames) {
  ParseResult r = parse("$TTL 1\n\\065b\\.c A 1.2.3.4\nsp\\ ace A 1.2.3.4\n", "example.");
  ASSERT_FALSE(r.has_errors()) << diags(r);
  EXPECT_EQ(dump(r.zone)[0], "ab\\.c.example. 1 IN A 1.2.3.4");  // stored lower-cased
  EXPECT_EQ(dump(r.zone)[1], "sp\\032ace.example. 1 IN A 1.2.3.4");
}

TEST(Parser, CrLfLineEndings) {
  ParseResult r = parse("$TTL 1\r\na A 1.2.3.4\r\n  TXT \"x\"\r\n", "example.");
  ASSERT_FALSE(r.has_errors()) << diags(r);
  EXPECT_EQ(dump(r.zone)[1], "a.example. 1 IN TXT \"x\"");
}

// ---- errors, each naming its line -----------------------------------------------

TEST(ParserErrors, BadEscapes) {
  expect_error("$TTL 1\nok A 1.2.3.4\na\\300 A 1.2.3.4\n", 3, "\\DDD escape above 255");
  expect_error("$TTL 1\na\\12x A 1.2.3.4\n", 2, "bad \\DDD escape");
  expect_error("$TTL 1\na TXT \"\\99\"\n", 2, "TXT string: bad \\DDD escape");
}

TEST(ParserErrors, LabelAndNameLength) {
  expect_error("$TTL 1\n" + std::string(64, 'a') + " A 1.2.3.4\n", 2,
               "label longer than 63 octets");
  std::string longname;
  for (int i = 0; i < 5; ++i) longname += std::string(60, 'b') + ".";
  expect_error("$TTL 1\n\n" + longname + " A 1.2.3.4\n", 3, "name longer than 255 octets");
  expect_error("$TTL 1\na CNAME " + longname + "\n", 2,
               "CNAME target: name longer than 255 octets");
}

TEST(ParserErrors, Rfc3597Length) {
  expect_error("$TTL 1\na TYPE65280 \\# 3 0102\n", 2, "RFC 3597 length 3 does not match 2 octets");
  expect_error("$TTL 1\n\na A \\# 5 0102030405\n", 3, "not a valid A RDATA");
}

TEST(ParserErrors, Parentheses) {
  expect_error("$TTL 1\na A 1.2.3.4 )\n", 2, "')' without '('");
  // The '(' on line 3 never closes; records after it are still checked.
  ParseResult r = parse("$TTL 1\nok A 1.2.3.4\nbad TXT ( \"x\"\nc A 1.2.3\n", "example.");
  ASSERT_GE(r.diagnostics.size(), 2u) << diags(r);
  EXPECT_EQ(r.diagnostics[0].line, 3u);
  EXPECT_NE(r.diagnostics[0].message.find("'(' opened here is never closed"), std::string::npos);
  EXPECT_EQ(r.diagnostics[1].line, 4u);
  EXPECT_NE(r.diagnostics[1].message.find("bad IPv4 address"), std::string::npos);
}

TEST(ParserErrors, UnterminatedQuoteUnknownTypeAndDirective) {
  expect_error("$TTL 1\na TXT \"open\n", 2, "unterminated quoted string");
  expect_error("$TTL 1\na FOO 1\n", 2, "unknown type 'FOO'");
  expect_error("$TTL 1\na AXFR 1\n", 2, "meta-type AXFR");
  expect_error("$TTL 1\n$FOO bar\n", 2, "unknown directive '$FOO'");
  expect_error("$TTL 1\na\n", 2, "missing type");
}

TEST(ParserErrors, KeepsGoingAndCapsAtOneHundred) {
  ParseResult r = parse("$TTL 1\na A 1\nb A 2\nc MX x y\nd A 1.2.3.4\n", "example.");
  ASSERT_EQ(r.diagnostics.size(), 3u) << diags(r);
  EXPECT_EQ(r.diagnostics[0].line, 2u);
  EXPECT_EQ(r.diagnostics[1].line, 3u);
  EXPECT_EQ(r.diagnostics[2].line, 4u);
  EXPECT_EQ(r.zone.records.size(), 1u);  // only the good one

  std::string many = "$TTL 1\n";
  for (int i = 0; i < 500; ++i) many += "x A bad\n";
  ParseResult m = parse(many, "example.");
  EXPECT_EQ(m.diagnostics.size(), 101u);
  EXPECT_EQ(m.diagnostics.back().message, "too many errors, giving up");
}

TEST(ParserErrors, DiagnosticFormat) {
  ParseResult r = parse("$TTL 1\na A 1.2.3\n", "example.");
  ASSERT_EQ(r.diagnostics.size(), 1u);
  EXPECT_EQ(r.diagnostics[0].to_string(), "t.zone:2: error: A: bad IPv4 address '1.2.3'");
}

TEST(ParserErrors, MissingFile) {
  ParseResult r = parse_zone_file(kData + "does-not-exist.zone");
  ASSERT_TRUE(r.has_errors());
  EXPECT_NE(r.diagnostics[0].message.find("cannot open"), std::string::npos);
}

// ---- $INCLUDE -----------------------------------------------------------------

TEST(ParserInclude, RelativeToIncludingFileWithItsOwnOrigin) {
  ParseResult r = parse_zone_file(kData + "include/nested.master");
  ASSERT_FALSE(r.has_errors()) << diags(r);
  std::vector<std::string> want = {
      "inc.example. 300 IN SOA ns.inc.example. hostmaster.inc.example. 1 7200 3600 1209600 300",
      "inc.example. 300 IN NS ns.inc.example.",
      "ns.inc.example. 300 IN A 192.0.2.1",
      "child.inc.example. 300 IN A 192.0.2.10",
      "www.child.inc.example. 300 IN A 192.0.2.11",
      "deep.child.inc.example. 60 IN TXT \"grand\"",
      "after.inc.example. 300 IN A 192.0.2.2",
      "after.inc.example. 300 IN TXT \"owner and origin restored after the include\"",
  };
  EXPECT_EQ(dump(r.zone), want);
  ASSERT_EQ(r.zone.files.size(), 3u);
  EXPECT_EQ(r.zone.files[1], kData + "include/sub/child.inc");
  EXPECT_EQ(r.zone.files[2], kData + "include/sub/grand.inc");
  EXPECT_EQ(r.zone.records[5].file, 2);
  EXPECT_EQ(r.zone.records[5].line, 1u);
  EXPECT_EQ(r.zone.records[4].file, 1);
  EXPECT_EQ(r.zone.records[4].line, 2u);
}

TEST(ParserInclude, DepthLimit) {
  ParseOptions o;
  o.max_include_depth = 1;
  ParseResult r = parse_zone_file(kData + "include/nested.master", o);
  ASSERT_TRUE(r.has_errors());
  EXPECT_EQ(r.diagnostics[0].file, kData + "include/sub/child.inc");
  EXPECT_EQ(r.diagnostics[0].line, 4u);
  EXPECT_NE(r.diagnostics[0].message.find("nested deeper than 1"), std::string::npos);
}

TEST(ParserInclude, LoopIsAnError) {
  ParseResult r = parse_zone_file(kData + "loop/main.master");
  ASSERT_TRUE(r.has_errors());
  const Diagnostic& d = r.diagnostics[0];
  EXPECT_EQ(d.file, kData + "loop/b.inc");
  EXPECT_EQ(d.line, 2u);
  EXPECT_NE(d.message.find("$INCLUDE loop"), std::string::npos) << d.message;
}

TEST(ParserInclude, MissingFileNamesTheIncludeLine) {
  expect_error("$TTL 1\na A 1.2.3.4\n$INCLUDE /nonexistent/x.inc\n", 3,
               "cannot open '/nonexistent/x.inc'");
}

// ---- $GENERATE ------------------------------------------------------------------

TEST(ParserGenerate, PlainDollarRangeAndStep) {
  ParseResult r = parse("$TTL 1\n$GENERATE 1-3 Host$ A 10.0.0.$\n$GENERATE 10-20/5 $.rev PTR h$.\n",
                        "example.");
  ASSERT_FALSE(r.has_errors()) << diags(r);
  std::vector<std::string> want = {
      "host1.example. 1 IN A 10.0.0.1", "host2.example. 1 IN A 10.0.0.2",
      "host3.example. 1 IN A 10.0.0.3", "10.rev.example. 1 IN PTR h10.",
      "15.rev.example. 1 IN PTR h15.",  "20.rev.example. 1 IN PTR h20.",
  };
  EXPECT_EQ(dump(r.zone), want);
  EXPECT_EQ(r.zone.records[4].line, 3u);
}

TEST(ParserGenerate, Modifiers) {
  ParseResult r = parse(
      "$TTL 1\n"
      "$GENERATE 8-8 d${0,3,d} TXT x${-1}y ${2,4} ${0,0,o} ${0,4,x} ${250,1,X}\n"
      "$GENERATE 4660-4660 ${0,0,n}.${0,0,N} A 1.2.3.4\n"
      "$GENERATE 1-1 w${0,7,n} A 1.2.3.4\n",
      "example.");
  ASSERT_FALSE(r.has_errors()) << diags(r);
  std::vector<std::string> want = {
      "d008.example. 1 IN TXT \"x7y\" \"0010\" \"10\" \"0008\" \"102\"",
      "4.3.2.1.4.3.2.1.example. 1 IN A 1.2.3.4",  // N is upper-case hex; owners are stored
                                                  // lower-cased
      "w1.0.0.0.example. 1 IN A 1.2.3.4",  // nibble width counts characters, dots included (BIND)
  };
  EXPECT_EQ(dump(r.zone), want);
  ParseResult upper = parse("$TTL 1\n$GENERATE 171-171 x TXT ${0,0,N}\n", "example.");
  ASSERT_FALSE(upper.has_errors()) << diags(upper);
  EXPECT_EQ(dump(upper.zone)[0], "x.example. 1 IN TXT \"B.A\"");
}

TEST(ParserGenerate, EscapedDollarTtlClassAndQuotedRhs) {
  ParseResult r = parse(
      "$TTL 1\n$GENERATE 1-2 h$ 60 IN TXT \"cost \\$$ each\" x$\n$GENERATE 1-1 m IN 30 MX \"10 "
      "mx$\"\n",
      "example.");
  ASSERT_FALSE(r.has_errors()) << diags(r);
  std::vector<std::string> want = {
      "h1.example. 60 IN TXT \"cost $1 each\" \"x1\"",
      "h2.example. 60 IN TXT \"cost $2 each\" \"x2\"",
      "m.example. 30 IN MX 10 mx1.example.",
  };
  EXPECT_EQ(dump(r.zone), want);
}

TEST(ParserGenerate, Errors) {
  expect_error("$TTL 1\n$GENERATE 5-1 h$ A 1.2.3.$\n", 2, "bad range '5-1'");
  expect_error("$TTL 1\n$GENERATE 1-2/0 h$ A 1.2.3.$\n", 2, "bad range");
  expect_error("$TTL 1\n$GENERATE 1-2 h$ A\n", 2, "$GENERATE needs");
  expect_error("$TTL 1\n$GENERATE 0-1 h${-1} A 1.2.3.4\n", 2, "is negative");
  expect_error("$TTL 1\n$GENERATE 0-1 h${0,2,q} A 1.2.3.4\n", 2, "bad base");
  expect_error("$TTL 1\n$GENERATE 0-1 h$ A 1.2.3.$$\n", 2, "A: bad IPv4 address");
  expect_error("$TTL 1\n$GENERATE 0-1 h$ CH A 1.2.3.4\n", 2, "class CH not supported");
}

TEST(ParserGenerate, RecordCap) {
  ParseOptions o;
  o.origin = "example.";
  o.max_records = 10;
  ParseResult r = parse_zone_text("$TTL 1\n$GENERATE 1-1000000 h$ A 1.2.3.4\n", "t.zone", o);
  ASSERT_TRUE(r.has_errors());
  EXPECT_EQ(r.zone.records.size(), 10u);
  EXPECT_NE(r.diagnostics[0].message.find("more than 10 records"), std::string::npos);
}

// ---- chunked reading ------------------------------------------------------------

TEST(ParserFile, EntriesStraddlingReadChunksParseWhole) {
  // Larger than the 4 MiB read size, with multi-line entries everywhere, so
  // that several entries and a quoted string cross a chunk boundary.
  std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("edgedns-parser-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::string path = (dir / "big.zone").string();
  {
    std::ofstream f(path, std::ios::binary);
    f << "$ORIGIN big.example.\n$TTL 60\n@ SOA ns hm 1 2 3 4 5\n";
    for (int i = 0; i < 60000; ++i)
      f << "h" << i << " TXT ( \"" << std::string(40, 'a' + i % 26)
        << "\"\n  \"second ; part\" ) ; c\n"
        << "  A 10.0." << (i >> 8 & 255) << '.' << (i & 255) << "\n";
  }
  ParseResult r = parse_zone_file(path);
  std::filesystem::remove_all(dir);
  ASSERT_FALSE(r.has_errors()) << diags(r);
  ASSERT_EQ(r.zone.records.size(), 1u + 2 * 60000);
  for (size_t i = 0; i < 60000; i += 997) {
    const Record& t = r.zone.records[1 + 2 * i];
    EXPECT_EQ(t.line, 4u + 3 * i);
    EXPECT_EQ(rdata_to_text(t.type, r.zone.rdata(t), t.rdata_len),
              "\"" + std::string(40, char('a' + i % 26)) + "\" \"second ; part\"");
    std::string owner = "h";  // appended, not "h" + ...: GCC 12 -Wrestrict false positive
    owner += std::to_string(i);
    owner += ".big.example.";
    EXPECT_EQ(r.zone.owner_name(t).to_text(), owner);
  }
}

// ---- two-thread parse (ParseOptions::parallel_min_bytes) ----------------------------

// Appends, for test zone text: GCC 12 warns falsely (-Wrestrict) on "x" + std::string.
std::string cat_one(std::string s, const char* x) { return s += x; }
std::string cat_one(std::string s, int x) { return s += std::to_string(x); }
std::string cat() { return {}; }
template <class T, class... R>
std::string cat(const T& first, const R&... rest) {
  return cat_one(std::string(), first) + cat(rest...);
}

// Every field of every record, lines and file indices included, then the diagnostics.
std::string full_dump(const ParseResult& r) {
  std::string s;
  const std::vector<std::string> text = dump(r.zone);
  for (size_t i = 0; i < r.zone.records.size(); ++i) {
    const Record& x = r.zone.records[i];
    s += std::to_string(x.file) + ':' + std::to_string(x.line) + ' ' + text[i] + '\n';
  }
  s += "origin " + r.zone.origin.to_text() + "\n";
  return s + diags(r);
}

struct Both {
  ParseResult one, two;
};
Both parse_both(std::string_view text, const std::string& origin = "") {
  ParseOptions o;
  o.origin = origin;
  o.parallel_min_bytes = SIZE_MAX;
  Both b{parse_zone_text(text, "t.zone", o), {}};
  o.parallel_min_bytes = 1;
  b.two = parse_zone_text(text, "t.zone", o);
  return b;
}

// A zone with everything that makes a split unsafe or state-dependent:
// multi-line parentheses (one whose continuation starts in column 0),
// quoted strings with parentheses and semicolons, owners inherited by
// blank-led lines, $ORIGIN and $TTL changes, $GENERATE, records without a
// TTL, and (with `errors`) bad records spread over the file.
std::string tricky_zone(bool errors) {
  std::string z =
      "$ORIGIN split.example.\n$TTL 300\n@ SOA ns hm (\n  1 2 3\n  4 5 )\n  NS ns\nns A "
      "192.0.2.1\n";
  for (int i = 0; i < 40; ++i) {
    const std::string n = std::to_string(i);
    z += "a" + n + " A 10.0.0." + n + "\n";
    z += "  AAAA 2001:db8::" + n + "\n";
    z += "t" + n + " TXT ( \"x ( y\" ; c\n\"z ; ) w\"\n  \"v\" )\n";
    z += "m" + n + " MX ( 10\nmail" + n + " )\n";
    // Changes that are undone a little later: a split after the undo can
    // use the head's guess, one in between cannot.
    if (i % 10 == 3) z += "$ORIGIN sub" + n + ".split.example.\n";
    if (i % 10 == 5) z += "$ORIGIN split.example.\n";
    if (i % 10 == 6) z += "$TTL " + std::to_string(100 + i) + "\n";
    if (i % 10 == 7) z += "$TTL 300\n";
    if (i % 10 == 9) z += "$GENERATE 1-3 g" + n + "-$ A 10.1." + n + ".$\n";
    if (i % 13 == 5) z += "n" + n + " 77 A 10.2.0." + n + "\n" + "  A 10.2.1." + n + "\n";
    if (errors && i % 9 == 4) z += "bad" + n + " A 300.1.1.1\n";
    if (errors && i == 37) z += "u" + n + " TXT ( \"never closed\"\n";
  }
  return z;
}

// Moves the middle of the text over every byte of `body` (by trailing
// comment padding) and checks that two threads give what one gives.
void sweep(const std::string& body, const std::string& origin, int& merged, int& fell_back) {
  for (size_t pad = 0; pad <= body.size(); pad += 5) {
    std::string text = body + ";" + std::string(pad, 'p') + "\n";
    Both b = parse_both(text, origin);
    ASSERT_EQ(b.one.threads, 1u);
    ASSERT_EQ(full_dump(b.one), full_dump(b.two)) << "padding " << pad;
    (b.two.threads == 2 ? merged : fell_back)++;
  }
}

TEST(ParserSplit, SameResultWhereverTheSplitFalls) {
  int merged = 0, fell_back = 0;
  sweep(tricky_zone(false), "", merged, fell_back);
  // Both outcomes occur: splits between entries with the right guess, and
  // splits inside parentheses or after a mid-file $ORIGIN/$TTL change.
  EXPECT_GT(merged, 10);
  EXPECT_GT(fell_back, 10);
}

TEST(ParserSplit, ErrorsInEitherHalfKeepTheirLines) {
  int merged = 0, fell_back = 0;
  sweep(tricky_zone(true), "", merged, fell_back);
  EXPECT_GT(merged, 10);
  EXPECT_GT(fell_back, 0);
}

TEST(ParserSplit, SecondHalfErrorLineAndOrigin) {
  // Split lands between the two halves' records; the error in the second
  // half is reported with its line in the whole file.
  std::string z = "$ORIGIN e.example.\n$TTL 60\n@ SOA ns hm 1 2 3 4 5\n@ NS ns\n";
  for (int i = 0; i < 400; ++i) z += cat("h", i, " A 10.0.0.1\n");
  z += "$ORIGIN other.e.example.\n$TTL 90\n";  // after the middle: the second half applies it
  for (int i = 0; i < 200; ++i) z += cat("k", i, " A 10.0.0.2\n");
  z += "oops A 1.2.3\n";
  const uint32_t oops_line = 4 + 400 + 2 + 200 + 1;
  Both b = parse_both(z);
  EXPECT_EQ(b.two.threads, 2u);
  EXPECT_EQ(full_dump(b.one), full_dump(b.two));
  ASSERT_EQ(b.two.diagnostics.size(), 1u) << diags(b.two);
  EXPECT_EQ(b.two.diagnostics[0].line, oops_line);
  const Record& last = b.two.zone.records.back();
  EXPECT_EQ(b.two.zone.owner_name(last).to_text(), "k199.other.e.example.");
  EXPECT_EQ(last.ttl, 90u);
  EXPECT_EQ(last.line, oops_line - 1);
}

TEST(ParserSplit, OriginChangedBeforeTheSplitIsNotGuessed) {
  // The second half starts with the head's origin as its guess; the real
  // origin at the split differs, so the first thread parses on alone.
  std::string z = "$ORIGIN e.example.\n$TTL 60\n@ SOA ns hm 1 2 3 4 5\n@ NS ns\n";
  for (int i = 0; i < 100; ++i) z += cat("h", i, " A 10.0.0.1\n");
  z += "$ORIGIN x.e.example.\n$TTL 99\n";
  for (int i = 0; i < 300; ++i) z += cat("k", i, " A 10.0.0.2\n");
  Both b = parse_both(z);
  EXPECT_EQ(b.two.threads, 1u);
  EXPECT_EQ(full_dump(b.one), full_dump(b.two));
  EXPECT_EQ(b.two.zone.owner_name(b.two.zone.records.back()).to_text(), "k299.x.e.example.");
  EXPECT_EQ(b.two.zone.records.back().ttl, 99u);
}

TEST(ParserSplit, TooManyErrorsAcrossTheHalves) {
  // 60 bad records in each half: one thread stops at the 101st error.
  std::string z = "$ORIGIN e.example.\n$TTL 60\n@ SOA ns hm 1 2 3 4 5\n@ NS ns\n";
  for (int i = 0; i < 120; ++i) z += cat("b", i, " A 10.0.0\n");
  Both b = parse_both(z);
  EXPECT_EQ(full_dump(b.one), full_dump(b.two));
  EXPECT_EQ(b.two.diagnostics.back().message, "too many errors, giving up");
}

TEST(ParserSplit, MaxRecordsAcrossTheHalves) {
  std::string z = "$ORIGIN e.example.\n$TTL 60\n@ SOA ns hm 1 2 3 4 5\n@ NS ns\n";
  for (int i = 0; i < 300; ++i) z += cat("h", i, " A 10.0.0.1\n");
  for (size_t cap : {100u, 200u, 302u, 303u}) {
    ParseOptions o;
    o.max_records = cap;
    o.parallel_min_bytes = SIZE_MAX;
    ParseResult one = parse_zone_text(z, "t.zone", o);
    o.parallel_min_bytes = 1;
    ParseResult two = parse_zone_text(z, "t.zone", o);
    EXPECT_EQ(full_dump(one), full_dump(two)) << cap;
  }
}

TEST(ParserSplit, NoTtlAnywhereInheritsAcrossTheSplit) {
  // No $TTL: records without a TTL take the previous record's, across the split.
  std::string z =
      "e.example. 500 SOA ns.e.example. hm.e.example. 1 2 3 4 5\n e.example. NS ns.e.example.\n";
  for (int i = 0; i < 200; ++i)
    z += i % 50 == 0 ? cat("h", i, ".e.example. 7", i, " A 10.0.0.1\n")
                     : cat("h", i, ".e.example. A 10.0.0.1\n");
  Both b = parse_both(z);
  EXPECT_EQ(full_dump(b.one), full_dump(b.two));
}

class ParserSplitFile : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("edgedns-split-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& text) {
    std::string p = (dir_ / name).string();
    std::ofstream(p, std::ios::binary) << text;
    return p;
  }
  std::filesystem::path dir_;
};

TEST_F(ParserSplitFile, IncludeInEitherHalf) {
  write("inc.zone", "i1 A 10.9.9.1\n  A 10.9.9.2\nbad A 1\n");
  for (int where : {30, 170}) {  // before the middle, after it
    std::string z = "$ORIGIN f.example.\n$TTL 60\n@ SOA ns hm 1 2 3 4 5\n@ NS ns\n";
    for (int i = 0; i < 200; ++i) {
      z += cat("h", i, " A 10.0.0.1\n");
      if (i == where) z += "$INCLUDE inc.zone sub.f.example.\n";
    }
    z += "last A 1.2.3.4.5\n";
    std::string path = write("main.zone", z);
    ParseOptions o;
    o.parallel_min_bytes = SIZE_MAX;
    ParseResult one = parse_zone_file(path, o);
    o.parallel_min_bytes = 1;
    ParseResult two = parse_zone_file(path, o);
    EXPECT_EQ(full_dump(one), full_dump(two)) << where;
    EXPECT_EQ(two.threads, where < 100 ? 2u : 1u)
        << where;  // an include in the second half: one thread
    ASSERT_EQ(two.zone.files.size(), 2u);
    EXPECT_EQ(std::count_if(two.diagnostics.begin(), two.diagnostics.end(),
                            [](const Diagnostic& d) { return d.is_error(); }),
              2);
  }
}

TEST_F(ParserSplitFile, LargeFileSplitsByDefault) {
  // Above the default threshold (4 MiB) a file is split without being asked to.
  std::string z = "$ORIGIN g.example.\n$TTL 60\n@ SOA ns hm 1 2 3 4 5\n@ NS ns\n";
  z.reserve(5 << 20);
  int i = 0;
  while (z.size() < (size_t(5) << 20)) z += "host" + std::to_string(i++) + " A 10.0.0.1\n";
  std::string path = write("big.zone", z);
  ParseResult two = parse_zone_file(path);
  ParseOptions o;
  o.parallel_min_bytes = SIZE_MAX;
  ParseResult one = parse_zone_file(path, o);
  EXPECT_EQ(two.threads, 2u);
  ASSERT_FALSE(two.has_errors()) << diags(two);
  ASSERT_EQ(two.zone.records.size(), size_t(i) + 2);
  ASSERT_EQ(one.zone.records.size(), two.zone.records.size());
  for (size_t k = 0; k < one.zone.records.size(); ++k) {
    const Record& a = one.zone.records[k];
    const Record& b = two.zone.records[k];
    ASSERT_EQ(a.line, b.line);
    ASSERT_EQ(a.ttl, b.ttl);
    ASSERT_TRUE(one.zone.owner_name(a) == two.zone.owner_name(b)) << k;
    ASSERT_EQ(0, std::memcmp(one.zone.rdata(a), two.zone.rdata(b), a.rdata_len));
  }
}

}  // namespace
}  // namespace edgedns::zones
