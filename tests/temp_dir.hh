// A private directory under /tmp for one test, removed with its contents
// when the test ends.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <stdexcept>
#include <string>
#include <system_error>

namespace edgedns::test {

struct TempDir {
  std::string path;
  explicit TempDir(const std::string& tag = "test") {
    std::string tmpl = "/tmp/edgedns-" + tag + "-XXXXXX";
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp " + tmpl + " failed");
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string str() const { return path; }
};

}  // namespace edgedns::test
