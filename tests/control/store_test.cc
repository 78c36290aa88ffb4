// The version store: put/has/meta/uploads/load round trip, idempotent puts,
// leftovers of an interrupted put removed, atomic meta rewrites, and damaged
// or missing stored files giving an error that names them.
#include "control/store.hh"

#include <gtest/gtest.h>

#include <unistd.h>
#include <filesystem>
#include <fstream>
#include <functional>

#include "control/config.hh"
#include "tests/temp_dir.hh"

using namespace edgedns::ctl;
namespace fs = std::filesystem;

namespace {

struct TempDir : edgedns::test::TempDir {
  TempDir() : edgedns::test::TempDir("store") {}
};

std::vector<LoadedZone> zones(int serial = 1) {
  std::vector<LoadedZone> v;
  v.push_back(load_zone_text("$ORIGIN ex.test.\n$TTL 300\n@ SOA ns1 h " + std::to_string(serial) +
                                 " 2 3 4 5\n@ NS ns1\nns1 A 192.0.2.53\nwww A 192.0.2.80\n",
                             "ex.zone"));
  v.push_back(
      load_zone_text("@ 60 IN SOA ns.two.test. h.two.test. 7 1 1 1 1\n@ 60 IN NS ns.two.test.\n"
                     "ns 60 IN A 192.0.2.9\n",
                     "two.zone", "two.test."));
  for (const auto& z : v) EXPECT_TRUE(z.ok());
  return v;
}

std::string thrown(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(Store, RoundTrip) {
  TempDir d;
  VersionStore s(d.path);
  EXPECT_FALSE(s.has("v1"));
  EXPECT_FALSE(s.has(""));
  s.put("v1", "ex.test.=1,two.test.=7", zones());
  EXPECT_TRUE(s.has("v1"));
  auto m = s.meta("v1");
  EXPECT_EQ(m["label"], "ex.test.=1,two.test.=7");
  EXPECT_EQ(m["records"], 7);
  EXPECT_EQ(m["zone_count"], 2);
  auto up = *s.uploads("v1");
  ASSERT_EQ(up.size(), 2u);
  EXPECT_EQ(up[0].file, "ex.zone");
  EXPECT_EQ(up[0].origin, "ex.test.");
  EXPECT_EQ(up[0].text, canonical_text(zones()[0].data));
  auto back = *s.load("v1");
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(canonical_text(back[1].data), canonical_text(zones()[1].data));
  // A second store over the same directory sees it.
  EXPECT_TRUE(VersionStore(d.path).has("v1"));
  EXPECT_EQ((*VersionStore(d.path).uploads("v1"))[1].text, canonical_text(zones()[1].data));
}

// A version that shares zones with an earlier one stores only the zones that
// differ; its texts still come back whole, from both versions' packs.
TEST(Store, UnchangedZonesAreNotWrittenAgain) {
  TempDir d;
  VersionStore s(d.path);
  s.put("v1", "l", zones(1));
  s.put("v2", "l", zones(2));  // ex.test. changed, two.test. did not
  const auto v1_pack = fs::file_size(s.dir("v1") + "/zones.pack");
  const auto v2_pack = fs::file_size(s.dir("v2") + "/zones.pack");
  EXPECT_EQ(v2_pack, canonical_text(zones(2)[0].data).size());
  EXPECT_GT(v1_pack, v2_pack);
  VersionStore fresh(d.path);  // nothing in memory: from disk
  auto up = *fresh.uploads("v2");
  ASSERT_EQ(up.size(), 2u);
  EXPECT_EQ(up[0].text, canonical_text(zones(2)[0].data));
  EXPECT_EQ(up[1].text, canonical_text(zones(2)[1].data));
  EXPECT_EQ(up[1].origin, "two.test.");
  EXPECT_EQ(up[1].file, "two.zone");
}

TEST(Store, PutIsIdempotentAndMetaRewritesAreKept) {
  TempDir d;
  VersionStore s(d.path);
  s.put("v1", "first", zones(1));
  s.put("v1", "second", zones(2));  // an existing id is left as it is
  EXPECT_EQ(s.meta("v1")["label"], "first");
  s.set_meta("v1", "bad", "nxdomain rate");
  EXPECT_EQ(s.meta("v1")["bad"], "nxdomain rate");
  EXPECT_EQ(s.meta("v1")["label"], "first");
  EXPECT_FALSE(fs::exists(s.dir("v1") + "/meta.json.tmp"));
}

TEST(Store, LeftoversOfAnInterruptedPutAreNotVersions) {
  TempDir d;
  fs::create_directories(d.path + "/versions/v9.tmp");
  std::ofstream(d.path + "/versions/v9.tmp/meta.json") << "{}";
  VersionStore s(d.path);
  EXPECT_FALSE(fs::exists(d.path + "/versions/v9.tmp"));
  EXPECT_FALSE(s.has("v9"));
}

TEST(Store, DamagedStoredFilesAreNamed) {
  TempDir d;
  VersionStore s(d.path);
  s.put("v1", "l", zones());
  std::ofstream(s.dir("v1") + "/meta.json") << "{\"label\": ";
  EXPECT_EQ(thrown([&] { s.meta("v1"); }), s.dir("v1") + "/meta.json: not valid JSON");

  s.put("v2", "l", zones(2));
  const auto size = fs::file_size(s.dir("v2") + "/zones.pack");
  std::ofstream(s.dir("v2") + "/zones.pack") << std::string(size, 'x');
  // What is damaged on disk shows at the next start (this one holds it in memory).
  EXPECT_EQ(thrown([&] { VersionStore(d.path).load("v2"); }),
            "stored version v2: ex.zone no longer loads");

  s.put("v3", "l", zones(3));
  fs::remove(s.dir("v3") + "/zones.idx");
  EXPECT_EQ(thrown([&] { VersionStore(d.path).uploads("v3"); }),
            s.dir("v3") + "/zones.idx: cannot read");
  s.put("v4", "l", zones(4));
  std::ofstream(s.dir("v4") + "/zones.idx", std::ios::app) << "k\tv4\t0\t99999\tzz.\tzz.zone\n";
  EXPECT_EQ(
      thrown([&] { VersionStore(d.path).uploads("v4"); }),
      s.dir("v4") + "/zones.idx:3: zone zz. lies past the end of " + s.dir("v4") + "/zones.pack");
}

TEST(Store, WriteFileAtomic) {
  TempDir d;
  std::string p = d.path + "/f.json";
  write_file_atomic(p, "one");
  write_file_atomic(p, "two");
  EXPECT_EQ(read_file(p), "two");
  EXPECT_FALSE(fs::exists(p + ".tmp"));
  EXPECT_NE(thrown([&] {
              write_file_atomic(d.path + "/missing/f", "x");
            }).find(d.path + "/missing/f.tmp: create"),
            std::string::npos);
}
