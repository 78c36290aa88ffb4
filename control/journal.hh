// The control plane's durable memory: an append-only file of JSON lines in
// --state-dir, each record written and fdatasync'd before the step it
// describes is acted on. Recovery keeps every complete line; a torn last line
// (kill -9 or power loss mid-write) is cut off. A bad line anywhere else is
// not a crash artefact but damage, and is refused. Control thread; one writer.
#pragma once

#include <unistd.h>

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace edgedns::ctl {

class Journal {
 public:
  // Opens (creating) `path` and recovers it. Throws std::runtime_error naming
  // the file and line on damage or I/O failure.
  explicit Journal(std::string path);
  ~Journal();
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  // The records found at open, in order.
  const std::vector<nlohmann::json>& recovered() const { return recovered_; }
  // Bytes of a torn last line removed at open (0 when the file was clean).
  size_t truncated_bytes() const { return truncated_; }

  // Adds "seq" and "time" (unix seconds), writes one line, fdatasyncs.
  // Throws on failure: the caller must not act on an unjournaled step. A
  // failed append leaves the file as it was; when even that cannot be done,
  // every later append throws too, naming the file.
  nlohmann::json append(nlohmann::json rec);

  const std::string& path() const { return path_; }

  // Replaces fdatasync/fsync of the journal file. For tests only: a failing
  // sync cannot be provoked on demand on a real file system.
  using SyncFn = int (*)(int fd);
  void set_sync_for_testing(SyncFn f) { sync_ = f; }

 private:
  std::string path_;
  int fd_ = -1;
  uint64_t seq_ = 0;
  size_t truncated_ = 0;
  size_t end_ = 0;  // bytes of complete records
  bool poisoned_ = false;
  std::string poison_;
  std::vector<nlohmann::json> recovered_;
  SyncFn sync_ = ::fdatasync;
};

}  // namespace edgedns::ctl
