// The journal: records survive reopening, a torn last line (kill -9 mid
// write) is cut off and the journal goes on, damage before the end is refused,
// and a failed append (full disk, failed sync) leaves the file as it was.
#include "control/journal.hh"

#include <gtest/gtest.h>

#include <sched.h>
#include <sys/mount.h>
#include <unistd.h>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include "tests/temp_dir.hh"

using namespace edgedns::ctl;
namespace fs = std::filesystem;

namespace {
struct TempDir : edgedns::test::TempDir {
  TempDir() : edgedns::test::TempDir("journal") {}
};

// A tmpfs of a few pages, so that a journal really runs out of space. In a
// private mount namespace when possible, so that not even a crash of this
// test leaves it mounted; unmounted when the test ends in any case.
struct TinyFs {
  TempDir dir;
  bool mounted = false;
  std::string error;
  explicit TinyFs(size_t bytes) {
    if (::unshare(CLONE_NEWNS) == 0) ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr);
    std::string opt = "size=" + std::to_string(bytes) + ",mode=0700";
    mounted = ::mount("tmpfs", dir.path.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, opt.c_str()) == 0;
    if (!mounted) error = std::strerror(errno);
  }
  ~TinyFs() {
    if (mounted) ::umount2(dir.path.c_str(), MNT_DETACH);
  }
};

// Fails the next `fail_syncs` syncs of the journal with EIO.
int fail_syncs = 0;
int flaky_sync(int fd) {
  if (fail_syncs > 0) {
    --fail_syncs;
    errno = EIO;
    return -1;
  }
  return ::fdatasync(fd);
}

std::string append_error(Journal& j, nlohmann::json rec) {
  try {
    j.append(std::move(rec));
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST(Journal, WriteReopenRecover) {
  TempDir d;
  std::string p = d.path + "/journal.jsonl";
  {
    Journal j(p);
    EXPECT_TRUE(j.recovered().empty());
    j.append({{"ev", "a"}, {"n", 1}});
    j.append({{"ev", "b"}, {"n", 2}});
  }
  Journal j(p);
  ASSERT_EQ(j.recovered().size(), 2u);
  EXPECT_EQ(j.recovered()[1]["ev"], "b");
  EXPECT_EQ(j.recovered()[1]["seq"], 2);
  EXPECT_EQ(j.truncated_bytes(), 0u);
  auto r = j.append({{"ev", "c"}});
  EXPECT_EQ(r["seq"], 3);  // sequence continues after recovery
}

TEST(Journal, TornLastLineIsTruncatedAndAppendsContinue) {
  TempDir d;
  std::string p = d.path + "/journal.jsonl";
  {
    Journal j(p);
    j.append({{"ev", "a"}});
    j.append({{"ev", "b"}, {"payload", std::string(100, 'x')}});
  }
  // Cut the last record in the middle, as a crash mid-write would.
  auto size = fs::file_size(p);
  fs::resize_file(p, size - 40);
  {
    Journal j(p);
    ASSERT_EQ(j.recovered().size(), 1u);
    EXPECT_EQ(j.recovered()[0]["ev"], "a");
    EXPECT_GT(j.truncated_bytes(), 0u);
    j.append({{"ev", "c"}});
  }
  Journal j(p);
  ASSERT_EQ(j.recovered().size(), 2u);
  EXPECT_EQ(j.recovered()[1]["ev"], "c");
  EXPECT_EQ(j.truncated_bytes(), 0u);
}

TEST(Journal, CompleteButUnterminatedLastLineIsAlsoTorn) {
  TempDir d;
  std::string p = d.path + "/journal.jsonl";
  std::ofstream(p) << "{\"ev\":\"a\",\"seq\":1}\n{\"ev\":\"b\",\"seq\":2}";
  Journal j(p);
  // Without its newline the write may not have finished: not trusted.
  EXPECT_EQ(j.recovered().size(), 1u);
}

TEST(Journal, DamageBeforeTheEndIsRefused) {
  TempDir d;
  std::string p = d.path + "/journal.jsonl";
  std::ofstream(p) << "{\"ev\":\"a\",\"seq\":1}\ngarbage\n{\"ev\":\"b\",\"seq\":3}\n";
  try {
    Journal j(p);
    FAIL() << "damaged journal accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(p + ":2: damaged record"), std::string::npos) << e.what();
  }
}

TEST(Journal, DiskFullMidRecordLeavesNoFragment) {
  TinyFs fs(64 * 1024);
  if (!fs.mounted) GTEST_SKIP() << "cannot mount a tmpfs (" << fs.error << "); needs root";
  std::string p = fs.dir.path + "/journal.jsonl";
  // Space to give back once the journal has hit the limit.
  std::ofstream(fs.dir.path + "/filler") << std::string(16 * 1024, 'f');
  const std::string payload(3001, 'x');  // not a divisor of the page size: records straddle pages
  size_t good = 0;
  uintmax_t good_size = 0;
  std::string err;
  {
    Journal j(p);
    for (int i = 0; i < 100 && err.empty(); ++i) {
      err = append_error(j, {{"ev", "rec"}, {"n", i}, {"payload", payload}});
      if (err.empty()) {
        ++good;
        good_size = fs::file_size(p);
      }
    }
    ASSERT_FALSE(err.empty()) << "64 KiB never filled up";
    ASSERT_GT(good, 0u);
    EXPECT_NE(err.find("journal " + p + ": write"), std::string::npos) << err;
    EXPECT_EQ(fs::file_size(p), good_size) << "the failed record left a fragment";
    fs::remove(fs.dir.path + "/filler");
    EXPECT_EQ(append_error(j, {{"ev", "after"}}), "");
  }
  Journal r(p);
  ASSERT_EQ(r.recovered().size(), good + 1);
  EXPECT_EQ(r.truncated_bytes(), 0u);
  for (size_t i = 0; i < good; ++i) EXPECT_EQ(r.recovered()[i]["n"], i);
  EXPECT_EQ(r.recovered()[good]["ev"], "after");
  EXPECT_EQ(r.recovered()[good]["seq"], good + 1);  // the failed record used no number
}

TEST(Journal, RecordWhoseSyncFailedIsNotReplayed) {
  TempDir d;
  std::string p = d.path + "/journal.jsonl";
  {
    Journal j(p);
    j.set_sync_for_testing(flaky_sync);
    j.append({{"ev", "a"}});
    auto size = fs::file_size(p);
    fail_syncs = 1;
    std::string err = append_error(j, {{"ev", "b"}});
    EXPECT_NE(err.find("journal " + p + ": fdatasync: " + std::strerror(EIO)), std::string::npos)
        << err;
    EXPECT_EQ(fs::file_size(p), size);
    EXPECT_EQ(append_error(j, {{"ev", "c"}}), "");
  }
  Journal r(p);
  ASSERT_EQ(r.recovered().size(), 2u);
  EXPECT_EQ(r.recovered()[0]["ev"], "a");
  EXPECT_EQ(r.recovered()[1]["ev"], "c");
  EXPECT_EQ(r.recovered()[1]["seq"], 2);
}

TEST(Journal, AppendThatCannotBeUndonePoisonsTheJournal) {
  TempDir d;
  std::string p = d.path + "/journal.jsonl";
  Journal j(p);
  j.set_sync_for_testing(flaky_sync);
  j.append({{"ev", "a"}});
  fail_syncs = 2;  // the record's fdatasync, then the fsync after cutting it off
  std::string first = append_error(j, {{"ev", "b"}});
  EXPECT_NE(first.find("journal " + p + ": fdatasync"), std::string::npos) << first;
  EXPECT_NE(first.find("could not be undone"), std::string::npos) << first;
  fail_syncs = 0;
  auto size = fs::file_size(p);
  for (int i = 0; i < 2; ++i) {
    std::string later = append_error(j, {{"ev", "c"}});
    EXPECT_NE(later.find("journal " + p + ": unusable"), std::string::npos) << later;
  }
  EXPECT_EQ(fs::file_size(p), size) << "a poisoned journal was written to";
}
