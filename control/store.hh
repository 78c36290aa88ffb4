// Content-addressed version store in --state-dir: versions/<id>/ holds
// meta.json (label, records, zone count), zones.idx (per zone: content key,
// the version whose zones.pack holds its canonical text, offset, length,
// apex, file) and zones.pack (the texts of zones no earlier version had). Written to a temporary
// directory, fsync'd, renamed into place: a version directory either exists whole or not at all.
// Control thread; callers serialise writers.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "control/node_client.hh"
#include "control/zone_input.hh"

namespace edgedns::ctl {

// One `edgectl serve` per state directory: an exclusive flock on DIR/lock,
// held for the process's life (the kernel drops it when the process dies,
// so a kill -9 leaves nothing to clean). Taken before the journal or the
// store is touched: a second daemon must not replay, truncate or clean up
// what a live one is writing. Throws std::runtime_error naming the
// directory and the holder's pid.
class StateDirLock {
 public:
  explicit StateDirLock(const std::string& state_dir);
  ~StateDirLock();
  StateDirLock(const StateDirLock&) = delete;
  StateDirLock& operator=(const StateDirLock&) = delete;

 private:
  int fd_ = -1;
};

class VersionStore {
 public:
  explicit VersionStore(std::string state_dir);  // creates versions/ when missing

  bool has(const std::string& id) const;
  // Stores the zones (idempotent: an existing id is left as it is).
  void put(const std::string& id, const std::string& label, const std::vector<LoadedZone>& zones);
  nlohmann::json meta(const std::string& id) const;
  // The zones as nodes receive them.
  std::shared_ptr<const std::vector<ZoneUpload>> uploads(const std::string& id) const;
  // Parsed and checked again (for gates and offline answers).
  std::shared_ptr<const std::vector<LoadedZone>> load(const std::string& id) const;
  // Rewrites meta.json with `key` set (atomically).
  void set_meta(const std::string& id, const std::string& key, const nlohmann::json& value);

  std::string dir(const std::string& id) const { return root_ + "/versions/" + id; }

 private:
  // A version's content never changes (its id is its hash), so the last few
  // read or written stay in memory: every stage of a rollout and every node
  // asks for the committed and the new version again, and a 1M-record zone
  // costs ~0.5 s to read and parse each time. Thread-safe.
  template <class T>
  struct Cache {
    static constexpr size_t kKeep = 3;
    std::deque<std::pair<std::string, std::shared_ptr<const T>>> entries;  // newest first
    std::shared_ptr<const T> find(const std::string& id);
    void add(const std::string& id, std::shared_ptr<const T> v);
  };
  std::string root_;
  mutable std::mutex cache_mu_;
  struct Loc {
    std::string pack;  // version id whose zones.pack holds the text
    uint64_t offset = 0, length = 0;
  };
  mutable std::map<std::string, Loc> located_;  // zone content key -> where its text is
  mutable Cache<std::vector<ZoneUpload>> uploads_;
  mutable Cache<std::vector<LoadedZone>> loaded_;
};

// Writes `data` to `path` atomically (tmp + fsync + rename + fsync dir).
void write_file_atomic(const std::string& path, const std::string& data);

}  // namespace edgedns::ctl
