// Zone files as the control plane reads them: errors name the file and line,
// parse and check failures are told apart, warnings are kept, canonical text
// loads back to the same records, and the SOA serial is read.
#include "control/zone_input.hh"

#include <gtest/gtest.h>

#include <unistd.h>
#include <filesystem>
#include <fstream>

using namespace edgedns::ctl;

namespace {

const char* kGood =
    "$ORIGIN ex.test.\n$TTL 300\n@ SOA ns1 h 2024010101 2 3 4 5\n@ NS ns1\nns1 A 192.0.2.53\n"
    "www A 192.0.2.80\nalias CNAME www\n";

bool has_error_at(const LoadedZone& z, const std::string& file, size_t line) {
  for (const auto& d : z.diagnostics)
    if (d.is_error() && d.file == file && d.line == line) return true;
  return false;
}

}  // namespace

TEST(ZoneInput, GoodZoneLoads) {
  LoadedZone z = load_zone_text(kGood, "ex.zone");
  EXPECT_TRUE(z.ok());
  EXPECT_EQ(z.file, "ex.zone");
  EXPECT_EQ(z.apex(), "ex.test.");
  EXPECT_EQ(z.data.records.size(), 5u);
  EXPECT_EQ(soa_serial(z.data), 2024010101u);
}

TEST(ZoneInput, ParseErrorNamesFileAndLine) {
  LoadedZone z =
      load_zone_text("$ORIGIN ex.test.\n@ 300 SOA ns1 h 1 2 3 4 5\n@ 300 NS ns1\nwww 300 A 1.2.3\n",
                     "broken.zone");
  EXPECT_FALSE(z.ok());
  EXPECT_TRUE(z.parse_failed);
  EXPECT_FALSE(z.check_failed);  // checks do not run on a zone that did not parse
  EXPECT_TRUE(has_error_at(z, "broken.zone", 4));
}

TEST(ZoneInput, CheckErrorIsToldApartFromAParseError) {
  // CNAME beside other data at one owner.
  LoadedZone z = load_zone_text(
      "$ORIGIN ex.test.\n$TTL 60\n@ SOA ns1 h 1 2 3 4 5\n@ NS ns1\nns1 A 192.0.2.1\nx CNAME ns1\nx "
      "A 192.0.2.2\n",
      "cname.zone");
  EXPECT_FALSE(z.ok());
  EXPECT_FALSE(z.parse_failed);
  EXPECT_TRUE(z.check_failed);
  bool named = false;
  for (const auto& d : z.diagnostics) named |= d.is_error() && d.file == "cname.zone" && d.line > 0;
  EXPECT_TRUE(named);
}

TEST(ZoneInput, MissingFileIsNamed) {
  LoadedZone z = load_zone("/nonexistent/dir/ex.zone");
  EXPECT_FALSE(z.ok());
  ASSERT_FALSE(z.diagnostics.empty());
  EXPECT_NE(z.diagnostics[0].file.find("/nonexistent/dir/ex.zone"), std::string::npos);
}

TEST(ZoneInput, FileAndIncludeErrorsNameTheIncludedFile) {
  char tmpl[] = "/tmp/edgectl-zi-XXXXXX";
  std::string dir = ::mkdtemp(tmpl);
  std::ofstream(dir + "/main.zone")
      << "$ORIGIN ex.test.\n$TTL 60\n@ SOA ns1 h 1 2 3 4 5\n@ NS ns1\n$INCLUDE " << dir
      << "/inc.zone\n";
  std::ofstream(dir + "/inc.zone") << "ns1 A 192.0.2.1\nbad A nope\n";
  LoadedZone z = load_zone(dir + "/main.zone");
  std::filesystem::remove_all(dir);
  EXPECT_TRUE(z.parse_failed);
  EXPECT_TRUE(has_error_at(z, dir + "/inc.zone", 2));
}

TEST(ZoneInput, CanonicalTextLoadsBackToTheSameRecords) {
  LoadedZone z = load_zone_text(kGood, "ex.zone");
  std::string text = canonical_text(z.data);
  EXPECT_EQ(text.rfind("$ORIGIN ex.test.\n", 0), 0u);
  EXPECT_NE(text.find("\nwww.ex.test. 300 IN A 192.0.2.80\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\nalias.ex.test. 300 IN CNAME www.ex.test.\n"), std::string::npos) << text;
  LoadedZone back = load_zone_text(text, "canonical");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(canonical_text(back.data), text);
  EXPECT_EQ(record_text(back.data, back.data.records[0]).find("ex.test. 300 IN SOA "), 0u);
}

TEST(ZoneInput, SerialOfAZoneWithoutApexSoa) {
  LoadedZone z = load_zone_text("$ORIGIN ex.test.\nwww 60 A 192.0.2.1\n", "nosoa.zone");
  EXPECT_FALSE(soa_serial(z.data));
}
