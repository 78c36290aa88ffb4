// The journal: records survive reopening, a torn last line (kill -9 mid
// write) is cut off and the journal goes on, damage before the end is refused.
#include "control/journal.hh"

#include <gtest/gtest.h>

#include <unistd.h>
#include <filesystem>
#include <fstream>
#include "tests/temp_dir.hh"

using namespace edgedns::ctl;
namespace fs = std::filesystem;

namespace {
struct TempDir : edgedns::test::TempDir {
  TempDir() : edgedns::test::TempDir("journal") {}
};
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
