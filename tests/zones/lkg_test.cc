// Last-known-good files: round trip, retention of two good files, a truncated
// or corrupted newest file falls back to the previous one, tmp leftovers are
// ignored, an empty or missing directory yields none.
#include "zones/lkg.hh"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "tests/temp_dir.hh"
#include "zones/zone_text.hh"

using namespace edgedns::zones;
namespace fs = std::filesystem;

namespace {

struct TempDir : edgedns::test::TempDir {
  TempDir() : edgedns::test::TempDir("lkg") {}
};

std::shared_ptr<const ZoneSet> set_with_serial(int serial) {
  std::string t = "; zone ex.\nex. 60 IN SOA ns.ex. h.ex. " + std::to_string(serial) +
                  " 2 3 4 5\nex. 60 IN NS ns.ex.\nns.ex. 60 IN A 192.0.2.1\n";
  ZoneSetLoad l = load_zoneset_text(t, "t");
  EXPECT_TRUE(l.zones);
  return l.zones;
}

void write(const TempDir& d, uint64_t seq, int serial) {
  auto s = set_with_serial(serial);
  ASSERT_EQ(write_lkg(d.str(), seq, zoneset_version(*s), zoneset_text(*s)), "");
}

std::vector<std::string> names(const TempDir& d) {
  std::vector<std::string> v;
  for (const auto& e : fs::directory_iterator(d.path)) v.push_back(e.path().filename().string());
  std::sort(v.begin(), v.end());
  return v;
}

}  // namespace

TEST(Lkg, RoundTrip) {
  TempDir d;
  auto s = set_with_serial(5);
  ASSERT_EQ(write_lkg(d.str(), 1, zoneset_version(*s), zoneset_text(*s)), "");
  EXPECT_EQ(names(d), std::vector<std::string>{"lkg-1.edz"});
  EXPECT_EQ(fs::status(fs::path(d.path) / "lkg-1.edz").permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
  LkgRead r = read_newest_lkg(d.str());
  ASSERT_TRUE(r.found);
  EXPECT_EQ(r.seq, 1u);
  EXPECT_EQ(r.version, zoneset_version(*s));
  EXPECT_EQ(zoneset_version(*r.zones), zoneset_version(*s));
  EXPECT_EQ(zoneset_label(*r.zones), "ex.=5");
  EXPECT_TRUE(r.skipped.empty());
  EXPECT_EQ(next_lkg_seq(d.str()), 2u);
}

TEST(Lkg, KeepsTheTwoNewestGoodFiles) {
  TempDir d;
  for (int i = 1; i <= 4; ++i) write(d, uint64_t(i), i);
  EXPECT_EQ(names(d), (std::vector<std::string>{"lkg-3.edz", "lkg-4.edz"}));
  LkgRead r = read_newest_lkg(d.str());
  ASSERT_TRUE(r.found);
  EXPECT_EQ(r.seq, 4u);
  EXPECT_EQ(zoneset_label(*r.zones), "ex.=4");
}

TEST(Lkg, TruncatedNewestFallsBackToPrevious) {
  TempDir d;
  write(d, 1, 1);
  write(d, 2, 2);
  fs::resize_file(fs::path(d.path) / "lkg-2.edz",
                  fs::file_size(fs::path(d.path) / "lkg-2.edz") - 10);
  LkgRead r = read_newest_lkg(d.str());
  ASSERT_TRUE(r.found);
  EXPECT_EQ(r.seq, 1u);
  EXPECT_EQ(zoneset_label(*r.zones), "ex.=1");
  ASSERT_EQ(r.skipped.size(), 1u);
  EXPECT_NE(r.skipped[0].find("lkg-2.edz"), std::string::npos);
  EXPECT_NE(r.skipped[0].find("truncated"), std::string::npos) << r.skipped[0];
  // A header cut short as well.
  fs::resize_file(fs::path(d.path) / "lkg-2.edz", 20);
  r = read_newest_lkg(d.str());
  EXPECT_EQ(r.seq, 1u);
  EXPECT_NE(r.skipped.at(0).find("truncated header"), std::string::npos) << r.skipped[0];
}

TEST(Lkg, FlippedByteFallsBackToPrevious) {
  TempDir d;
  write(d, 1, 1);
  write(d, 2, 2);
  for (size_t at : {size_t(20), size_t(kLkgHeaderSize + 5)}) {  // header, then payload
    const fs::path p = fs::path(d.path) / "lkg-2.edz";
    std::string data;
    {
      std::ifstream in(p, std::ios::binary);
      data.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    std::string bad = data;
    bad[at] ^= 0x01;
    { std::ofstream(p, std::ios::binary | std::ios::trunc) << bad; }
    LkgRead r = read_newest_lkg(d.str());
    ASSERT_TRUE(r.found);
    EXPECT_EQ(r.seq, 1u);
    ASSERT_EQ(r.skipped.size(), 1u);
    EXPECT_NE(r.skipped[0].find("checksum mismatch"), std::string::npos) << r.skipped[0];
    { std::ofstream(p, std::ios::binary | std::ios::trunc) << data; }
    EXPECT_EQ(read_newest_lkg(d.str()).seq, 2u);
  }
}

TEST(Lkg, GoodChecksumButBadPayloadOrVersionIsSkipped) {
  auto s = set_with_serial(2);
  {
    TempDir d;
    write(d, 1, 1);
    ASSERT_EQ(write_lkg(d.str(), 2, zoneset_version(*s), "; zone ex.\nex. 60 IN A 1.2.3.4\n"), "");
    LkgRead r = read_newest_lkg(d.str());
    ASSERT_TRUE(r.found);
    EXPECT_EQ(r.seq, 1u);
    ASSERT_EQ(r.skipped.size(), 1u);
    EXPECT_NE(r.skipped[0].find("does not load"), std::string::npos) << r.skipped[0];
  }
  {
    TempDir d;
    write(d, 1, 1);
    ASSERT_EQ(write_lkg(d.str(), 2, VersionId{1, 2}, zoneset_text(*s)), "");
    LkgRead r = read_newest_lkg(d.str());
    ASSERT_TRUE(r.found);
    EXPECT_EQ(r.seq, 1u);
    ASSERT_EQ(r.skipped.size(), 1u);
    EXPECT_NE(r.skipped[0].find("header says"), std::string::npos) << r.skipped[0];
  }
}

TEST(Lkg, TmpLeftoversIgnoredAndCleaned) {
  TempDir d;
  write(d, 1, 1);
  { std::ofstream(fs::path(d.path) / "lkg-9.edz.tmp") << "partial"; }
  { std::ofstream(fs::path(d.path) / "notes.txt") << "hello"; }
  LkgRead r = read_newest_lkg(d.str());
  ASSERT_TRUE(r.found);
  EXPECT_EQ(r.seq, 1u);
  EXPECT_TRUE(r.skipped.empty());
  EXPECT_EQ(next_lkg_seq(d.str()), 2u);
  write(d, 2, 2);
  EXPECT_EQ(names(d), (std::vector<std::string>{"lkg-1.edz", "lkg-2.edz", "notes.txt"}));
}

TEST(Lkg, EmptyOrMissingDirectoryHasNone) {
  TempDir d;
  LkgRead r = read_newest_lkg(d.str());
  EXPECT_FALSE(r.found);
  EXPECT_TRUE(r.skipped.empty());
  EXPECT_FALSE(read_newest_lkg(d.str() + "/missing").found);
  EXPECT_EQ(next_lkg_seq(d.str()), 1u);
  auto s = set_with_serial(1);
  std::string err = write_lkg(d.str() + "/missing", 1, zoneset_version(*s), zoneset_text(*s));
  EXPECT_NE(err.find("missing/lkg-1.edz.tmp"), std::string::npos) << err;
}

namespace {

// A delta taking serial a to serial b (the SOA) and adding one A record.
std::vector<DeltaChange> serial_delta(int a, int b, const std::string& extra = "") {
  std::vector<DeltaChange> ch = {
      {DeltaChange::Op::Del, "ex. 60 IN SOA ns.ex. h.ex. " + std::to_string(a) + " 2 3 4 5"},
      {DeltaChange::Op::Add, "ex. 60 IN SOA ns.ex. h.ex. " + std::to_string(b) + " 2 3 4 5"}};
  if (!extra.empty()) ch.push_back({DeltaChange::Op::Add, extra});
  return ch;
}

VersionId applied(const ZoneSet& base, const std::vector<DeltaChange>& ch) {
  DeltaResult r = apply_delta(base, ch);
  EXPECT_TRUE(r.ok());
  return r.ok() ? zoneset_version(*r.zones) : VersionId{};
}

}  // namespace

TEST(Lkg, DeltaChainReplaysToTheNewestVersion) {
  TempDir d;
  auto s1 = set_with_serial(1);
  write(d, 1, 1);
  auto d2 = serial_delta(1, 2, "a.ex. 60 IN A 192.0.2.2");
  DeltaResult r2 = apply_delta(*s1, d2);
  ASSERT_TRUE(r2.ok());
  const VersionId v2 = zoneset_version(*r2.zones);
  ASSERT_EQ(write_lkg_delta(d.str(), 2, zoneset_version(*s1), v2, d2), "");
  auto d3 = serial_delta(2, 3, "b.ex. 60 IN A 192.0.2.3");
  const VersionId v3 = applied(*r2.zones, d3);
  ASSERT_EQ(write_lkg_delta(d.str(), 3, v2, v3, d3), "");
  // A delta is a few lines, not the set.
  EXPECT_LT(fs::file_size(fs::path(d.path) / "lkg-3.edz"), kLkgHeaderSize + 200);
  LkgHead h = lkg_head(d.str());
  ASSERT_TRUE(h.found);
  EXPECT_EQ(h.seq, 3u);
  EXPECT_EQ(h.version, v3);
  EXPECT_EQ(h.deltas, 2u);
  EXPECT_GT(h.full_bytes, 0u);
  LkgRead r = read_newest_lkg(d.str());
  ASSERT_TRUE(r.found);
  EXPECT_EQ(r.seq, 3u);
  EXPECT_EQ(r.version, v3);
  EXPECT_EQ(zoneset_version(*r.zones), v3);
  EXPECT_EQ(zoneset_label(*r.zones), "ex.=3");
  EXPECT_TRUE(r.skipped.empty());
  EXPECT_EQ(next_lkg_seq(d.str()), 4u);
  // A full file on top keeps the state before it (the full file and its
  // deltas); the next full file lets them go.
  write(d, 4, 4);
  EXPECT_EQ(names(d),
            (std::vector<std::string>{"lkg-1.edz", "lkg-2.edz", "lkg-3.edz", "lkg-4.edz"}));
  write(d, 5, 5);
  EXPECT_EQ(names(d), (std::vector<std::string>{"lkg-4.edz", "lkg-5.edz"}));
  EXPECT_EQ(lkg_head(d.str()).deltas, 0u);
}

TEST(Lkg, ADamagedOrMismatchedDeltaEndsTheChain) {
  auto s1 = set_with_serial(1);
  const VersionId v1 = zoneset_version(*s1);
  auto d2 = serial_delta(1, 2);
  DeltaResult r2 = apply_delta(*s1, d2);
  ASSERT_TRUE(r2.ok());
  const VersionId v2 = zoneset_version(*r2.zones);
  auto d3 = serial_delta(2, 3);
  const VersionId v3 = applied(*r2.zones, d3);
  {  // a flipped payload byte in the middle delta: the first version serves
    TempDir d;
    write(d, 1, 1);
    ASSERT_EQ(write_lkg_delta(d.str(), 2, v1, v2, d2), "");
    ASSERT_EQ(write_lkg_delta(d.str(), 3, v2, v3, d3), "");
    const fs::path p = fs::path(d.path) / "lkg-2.edz";
    std::string data;
    {
      std::ifstream in(p, std::ios::binary);
      data.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    data[kLkgHeaderSize + 10] ^= 0x01;
    { std::ofstream(p, std::ios::binary | std::ios::trunc) << data; }
    LkgRead r = read_newest_lkg(d.str());
    ASSERT_TRUE(r.found);
    EXPECT_EQ(r.seq, 1u);
    EXPECT_EQ(r.version, v1);
    ASSERT_EQ(r.skipped.size(), 2u);
    EXPECT_NE(r.skipped[0].find("lkg-3.edz: the chain below it is broken"), std::string::npos)
        << r.skipped[0];
    EXPECT_NE(r.skipped[1].find("lkg-2.edz: payload checksum mismatch"), std::string::npos)
        << r.skipped[1];
  }
  {  // a delta from another base, and one whose result is not its version
    TempDir d;
    write(d, 1, 1);
    ASSERT_EQ(write_lkg_delta(d.str(), 2, v2, v3, d3), "");
    LkgRead r = read_newest_lkg(d.str());
    EXPECT_EQ(r.seq, 1u);
    ASSERT_EQ(r.skipped.size(), 1u);
    EXPECT_NE(r.skipped[0].find("delta from " + v2.hex()), std::string::npos) << r.skipped[0];
  }
  {
    TempDir d;
    write(d, 1, 1);
    ASSERT_EQ(write_lkg_delta(d.str(), 2, v1, v3, d2), "");  // d2 gives v2, not v3
    LkgRead r = read_newest_lkg(d.str());
    EXPECT_EQ(r.seq, 1u);
    ASSERT_EQ(r.skipped.size(), 1u);
    EXPECT_NE(r.skipped[0].find("header says " + v3.hex()), std::string::npos) << r.skipped[0];
  }
  {  // deltas with no full file under them: nothing to serve, each named
    TempDir d;
    ASSERT_EQ(write_lkg_delta(d.str(), 2, v1, v2, d2), "");
    LkgRead r = read_newest_lkg(d.str());
    EXPECT_FALSE(r.found);
    ASSERT_EQ(r.skipped.size(), 1u);
    EXPECT_NE(r.skipped[0].find("no good full file below it"), std::string::npos) << r.skipped[0];
    EXPECT_FALSE(lkg_head(d.str()).found);
  }
}

// A full file written over deltas that have no good full file under them
// (the first full file damaged) keeps none of them: they can never load.
TEST(Lkg, DeltasWithoutAFullFileUnderThemGoWhenAFullFileIsWritten) {
  TempDir d;
  auto s1 = set_with_serial(1);
  const VersionId v1 = zoneset_version(*s1);
  auto d2 = serial_delta(1, 2);
  const VersionId v2 = applied(*s1, d2);
  ASSERT_EQ(write_lkg_delta(d.str(), 2, v1, v2, d2), "");
  ASSERT_EQ(write_lkg_delta(d.str(), 3, v2, v2, {}), "");
  write(d, 4, 4);
  EXPECT_EQ(names(d), std::vector<std::string>{"lkg-4.edz"});
  EXPECT_EQ(read_newest_lkg(d.str()).seq, 4u);
}
