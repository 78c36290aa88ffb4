// The node's use of last-known-good files: a persisted version loads back as
// the same zone set, the newest good file wins, a damaged newest file is
// skipped with its reason logged, an empty directory serves nothing, and
// what a start serves given --zone, --force-zone and --state-dir.
#include "dataplane/lkg_store.hh"

#include <gtest/gtest.h>

#include <unistd.h>
#include <filesystem>
#include <fstream>

#include "dataplane/zone_publisher.hh"
#include "tests/temp_dir.hh"
#include "zones/lkg.hh"
#include "zones/zone_text.hh"

using namespace edgedns;
using namespace edgedns::dp;
namespace fs = std::filesystem;

namespace {

struct TempDir : edgedns::test::TempDir {
  TempDir() : edgedns::test::TempDir("lkgstore") {}
};

Version version(int serial) {
  std::string t = "; zone ex.\nex. 60 IN SOA ns.ex. h.ex. " + std::to_string(serial) +
                  " 2 3 4 5\nex. 60 IN NS ns.ex.\nns.ex. 60 IN A 192.0.2.1\n";
  zones::ZoneSetLoad l = zones::load_zoneset_text(t, "t");
  EXPECT_TRUE(l.zones);
  Version v;
  v.id = zones::zoneset_version(*l.zones);
  v.hex = v.id.hex();
  auto sv = std::make_shared<ServedVersion>();
  sv->zs = l.zones;
  v.served = sv;
  return v;
}

std::vector<std::string> logged;
void log(const std::string& s) { logged.push_back(s); }

}  // namespace

TEST(LkgStore, PersistedVersionLoadsBack) {
  TempDir d;
  Version v = version(7);
  persist_lkg(d.path, v);
  EXPECT_TRUE(fs::exists(d.path + "/lkg-1.edz"));
  logged.clear();
  auto zs = load_newest_lkg(d.path, log);
  ASSERT_TRUE(zs);
  EXPECT_EQ(zones::zoneset_version(*zs).hex(), v.hex);
  EXPECT_EQ(zones::zoneset_text(*zs), zones::zoneset_text(v.zone_set()));
  ASSERT_EQ(logged.size(), 1u);
  EXPECT_EQ(logged[0], "last-known-good: serving " + d.path + "/lkg-1.edz (sequence 1, version " +
                           v.hex + ")");
}

TEST(LkgStore, NewestWinsAndADamagedNewestIsSkipped) {
  TempDir d;
  Version a = version(1), b = version(2);
  persist_lkg(d.path, a);
  persist_lkg(d.path, b);
  logged.clear();
  EXPECT_EQ(zones::zoneset_version(*load_newest_lkg(d.path, log)).hex(), b.hex);
  // Flip a payload byte of the newest file.
  std::string p = d.path + "/lkg-2.edz";
  std::fstream f(p, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(zones::kLkgHeaderSize + 3);
  f.put('#');
  f.close();
  logged.clear();
  auto zs = load_newest_lkg(d.path, log);
  ASSERT_TRUE(zs);
  EXPECT_EQ(zones::zoneset_version(*zs).hex(), a.hex);
  ASSERT_EQ(logged.size(), 2u);
  EXPECT_EQ(logged[0].rfind("last-known-good: skipped " + p + ": ", 0), 0u) << logged[0];
  EXPECT_NE(logged[1].find("lkg-1.edz"), std::string::npos);
}

TEST(LkgStore, NothingToServe) {
  TempDir d;
  logged.clear();
  EXPECT_FALSE(load_newest_lkg(d.path, log));
  ASSERT_EQ(logged.size(), 1u);
  EXPECT_EQ(logged[0], "last-known-good: no good file in " + d.path);
  EXPECT_FALSE(load_newest_lkg(d.path + "/missing", log));
}

TEST(LkgStore, AnUnwritableDirectoryIsAnErrorNamingIt) {
  TempDir d;
  std::string file = d.path + "/not-a-dir";
  std::ofstream(file) << "x";
  try {
    persist_lkg(file, version(1));
    FAIL() << "persisted into a regular file";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(file), std::string::npos) << e.what();
  }
}

// What a start serves: --zone is the bootstrap, a good last-known-good wins
// over it, --force-zone wins over that.
TEST(StartPlan, AGoodLastKnownGoodWinsOverTheZoneFiles) {
  StartOptions o{.zone_files = true, .force_zone = false, .state_dir = "/var/lib/e"};
  EXPECT_TRUE(start_reads_lkg(o));
  StartPlan p = plan_start(o, true);
  EXPECT_EQ(p.source, StartSource::kLastKnownGood);
  EXPECT_FALSE(p.persist);  // the newest file stays the newest
  EXPECT_EQ(p.note.rfind("the --zone set was not used: /var/lib/e holds a good last-known-good", 0),
            0u)
      << p.note;
  EXPECT_NE(p.note.find("--force-zone"), std::string::npos) << p.note;
}

TEST(StartPlan, ZoneFilesWhenThereIsNoGoodLastKnownGood) {
  StartOptions o{.zone_files = true, .force_zone = false, .state_dir = "/var/lib/e"};
  StartPlan p = plan_start(o, false);
  EXPECT_EQ(p.source, StartSource::kZoneFiles);
  EXPECT_TRUE(p.persist);
  EXPECT_NE(p.note.find("no good last-known-good in /var/lib/e"), std::string::npos) << p.note;
}

TEST(StartPlan, ForceZoneServesAndPersistsTheZoneFilesWithoutReading) {
  StartOptions o{.zone_files = true, .force_zone = true, .state_dir = "/var/lib/e"};
  EXPECT_FALSE(start_reads_lkg(o));
  for (bool good : {false, true}) {
    StartPlan p = plan_start(o, good);
    EXPECT_EQ(p.source, StartSource::kZoneFiles);
    EXPECT_TRUE(p.persist);
    EXPECT_EQ(p.note.rfind("--force-zone: serving the --zone set", 0), 0u) << p.note;
  }
}

TEST(StartPlan, WithoutStateDirTheZoneFilesAndNothingWritten) {
  for (bool force : {false, true}) {
    StartOptions o{.zone_files = true, .force_zone = force, .state_dir = ""};
    EXPECT_FALSE(start_reads_lkg(o));
    StartPlan p = plan_start(o, false);
    EXPECT_EQ(p.source, StartSource::kZoneFiles);
    EXPECT_FALSE(p.persist);
    EXPECT_EQ(p.note, "");
  }
}

TEST(StartPlan, StateDirOnly) {
  StartOptions o{.zone_files = false, .force_zone = false, .state_dir = "/var/lib/e"};
  EXPECT_TRUE(start_reads_lkg(o));
  StartPlan p = plan_start(o, true);
  EXPECT_EQ(p.source, StartSource::kLastKnownGood);
  EXPECT_FALSE(p.persist);
  EXPECT_EQ(p.note, "");
  p = plan_start(o, false);
  EXPECT_EQ(p.source, StartSource::kNothing);
  EXPECT_EQ(p.note, "no --zone given and no good last-known-good file in /var/lib/e");
}

TEST(StartPlan, NothingToServe) {
  EXPECT_EQ(plan_start({.zone_files = false, .force_zone = false, .state_dir = ""}, false).source,
            StartSource::kNothing);
  StartPlan p = plan_start({.zone_files = false, .force_zone = true, .state_dir = "/d"}, true);
  EXPECT_EQ(p.source, StartSource::kNothing);
  EXPECT_NE(p.note.find("--force-zone without --zone"), std::string::npos) << p.note;
}

// The decision over a real state directory, as main.cc makes it: after a
// commit, a restart with the same --zone flag keeps the committed version.
TEST(StartPlan, RestartAfterACommitKeepsTheCommittedVersion) {
  TempDir d;
  Version bootstrap = version(1), committed = version(2);
  persist_lkg(d.path, bootstrap);  // the first start's --zone set
  persist_lkg(d.path, committed);  // the control plane's commit
  StartOptions o{.zone_files = true, .force_zone = false, .state_dir = d.path};
  ASSERT_TRUE(start_reads_lkg(o));
  logged.clear();
  auto zs = load_newest_lkg(d.path, log);
  ASSERT_TRUE(zs);
  StartPlan p = plan_start(o, zs != nullptr);
  EXPECT_EQ(p.source, StartSource::kLastKnownGood);
  EXPECT_EQ(zones::zoneset_version(*zs).hex(), committed.hex);
  EXPECT_FALSE(fs::exists(d.path + "/lkg-3.edz"));
}

// A fresh machine joins a fleet: no zone files, no last-known-good, but a
// control plane can reach it. It starts empty; unmanaged, or with damaged
// files, it still refuses.
TEST(StartPlan, ManagedNodeWithNothingStartsEmpty) {
  StartOptions o{
      .zone_files = false, .force_zone = false, .state_dir = "/var/lib/e", .managed = true};
  StartPlan p = plan_start(o, false, false);
  EXPECT_EQ(p.source, StartSource::kEmpty);
  EXPECT_FALSE(p.persist);
  EXPECT_NE(p.note.find("starting empty, answering REFUSED"), std::string::npos) << p.note;
  o.state_dir = "";
  EXPECT_EQ(plan_start(o, false, false).source, StartSource::kEmpty);
  // Files there, every one damaged: an operator should look.
  o.state_dir = "/var/lib/e";
  p = plan_start(o, false, true);
  EXPECT_EQ(p.source, StartSource::kNothing);
  EXPECT_NE(p.note.find("every file there is damaged"), std::string::npos) << p.note;
  // Not managed: nothing could ever fill it.
  o.managed = false;
  EXPECT_EQ(plan_start(o, false, false).source, StartSource::kNothing);
  // A good last-known-good is served as before.
  o.managed = true;
  EXPECT_EQ(plan_start(o, true, true).source, StartSource::kLastKnownGood);
}
