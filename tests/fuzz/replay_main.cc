// Replays a fuzz target's committed inputs as a GoogleTest binary, so that the
// seed corpus (corpus/<target>/) and every reproducer of a past finding
// (regressions/<target>/) run in every build, with any compiler, under
// `meson test`. A broken invariant aborts (the file being replayed is printed
// first); the test fails if a directory is missing or empty.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

namespace fs = std::filesystem;

// Files of a directory, sorted (replays are in a stable order).
std::vector<fs::path> inputs(const fs::path& dir) {
  std::vector<fs::path> v;
  if (!fs::is_directory(dir)) return v;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file() && e.path().filename().string()[0] != '.') v.push_back(e.path());
  std::sort(v.begin(), v.end());
  return v;
}

size_t replay(const fs::path& dir) {
  size_t n = 0;
  for (const fs::path& p : inputs(dir)) {
    std::ifstream f(p, std::ios::binary);
    std::vector<char> b((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    std::fprintf(stderr, "replay %s (%zu bytes)\n", p.c_str(), b.size());
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(b.data()), b.size());
    ++n;
  }
  return n;
}

const fs::path kRoot = EDGEDNS_FUZZ_DIR;

TEST(FuzzReplay, SeedCorpus) {
  EXPECT_GT(replay(kRoot / "corpus" / EDGEDNS_FUZZ_TARGET), 0u) << "no seed inputs";
}

TEST(FuzzReplay, Regressions) {
  // A target without findings has no directory: nothing to replay, and that is fine.
  size_t n = replay(kRoot / "regressions" / EDGEDNS_FUZZ_TARGET);
  RecordProperty("replayed", int(n));
}

}  // namespace
