// The node's version registry: every uploaded zone-set version (immutable,
// identified by its content id and label), which worker lcore serves which
// (through the ZonePublisher's per-lcore slots), the committed version (the
// last-known-good) and the one committed before it.
//
// Reclamation: the registry and the publisher share each version's
// ServedVersion. A version the registry forgets (drop, eviction) may still be
// in a publisher slot only if it is served, which the registry refuses; a
// version replaced on an lcore is released by the publisher after its grace
// period. Whichever reference goes last frees the zone set and returns the
// version's counter slot, so neither happens while an lcore can see it.
//
// Threads: control thread (the agent, or main at start-up) only; not
// thread-safe, the agent serialises its commands. publish/publish_all block
// for a grace period.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/counters.hh"
#include "dataplane/zone_publisher.hh"
#include "zones/version.hh"

namespace edgedns::dp {

// Versions kept besides the pinned ones (served, committed, previous
// committed), per docs/control-protocol.md: enough to roll back a few steps
// and to stage a canary, bounded so that uploads cannot grow memory forever.
constexpr size_t kMaxHeldVersions = 8;

struct RegistryError : std::runtime_error {
  std::string code;  // protocol error code: unknown_version, bad_lcore, bad_request, busy
  RegistryError(std::string c, const std::string& msg)
      : std::runtime_error(msg), code(std::move(c)) {}
};

struct Version {
  zones::VersionId id;
  std::string hex;    // id as 32 hex digits
  std::string label;  // apex=serial,...
  size_t records = 0;
  size_t memory = 0;  // sum of its zones' memory (zones shared with other versions included)
  uint64_t seq = 0;   // registration order (eviction is oldest first)
  std::shared_ptr<const ServedVersion> served;
  const zones::ZoneSet& zone_set() const noexcept { return *served->zs; }
};

// Sum of the per-lcore per-version counters (a copy; relaxed reads).
struct VersionCounts {
  uint64_t queries = 0, rcode[kVersionRcodes] = {}, dropped = 0, malformed = 0;
};

class VersionRegistry {
 public:
  // `lcore_ids[i]` is the DPDK lcore of publisher slot i; `counters[i]` its
  // kVersionSlots per-version counters (may be null in tests: not counted).
  VersionRegistry(ZonePublisher& pub, std::vector<unsigned> lcore_ids,
                  std::vector<VersionCounters*> counters);
  ~VersionRegistry();
  VersionRegistry(const VersionRegistry&) = delete;
  VersionRegistry& operator=(const VersionRegistry&) = delete;

  // Registers a compiled set (the same content twice gives the existing
  // version). May evict the oldest unpinned versions beyond kMaxHeldVersions.
  // Throws RegistryError("busy") when no counter slot is free.
  std::shared_ptr<const Version> add(std::shared_ptr<const zones::ZoneSet> zs);
  std::shared_ptr<const Version> find(std::string_view hex) const;  // null when unknown
  // Throws RegistryError("unknown_version").
  std::shared_ptr<const Version> get(std::string_view hex) const;

  // Publishes to the lcores named by DPDK lcore id (empty: all). Throws
  // RegistryError("bad_lcore") before changing anything. Returns after a
  // grace period.
  void publish(const std::shared_ptr<const Version>& v, std::span<const unsigned> lcores);
  void publish_all(const std::shared_ptr<const Version>& v) { publish(v, {}); }

  bool served_everywhere(const Version& v) const;
  bool is_served(const Version& v) const;
  // Marks v committed (the caller has persisted it); the old committed
  // version becomes the previous one.
  void commit(const std::shared_ptr<const Version>& v);
  std::shared_ptr<const Version> committed() const { return committed_; }
  std::shared_ptr<const Version> previous_committed() const { return previous_; }

  // Forgets a version that is neither served nor committed.
  void drop(std::string_view hex);

  // What each lcore serves: (lcore id, version or null), in slot order.
  std::vector<std::pair<unsigned, std::shared_ptr<const Version>>> served() const;
  std::vector<std::shared_ptr<const Version>> versions() const;  // oldest first
  const std::vector<unsigned>& lcore_ids() const noexcept { return lcore_ids_; }
  // Per-lcore counters of a version (zeros when it has never been served there).
  VersionCounts counts(const Version& v, size_t slot_index) const;
  // Memory of every distinct zone held (zones shared by versions count once).
  size_t memory_bytes() const;
  size_t free_counter_slots() const;

 private:
  struct SlotPool;
  std::shared_ptr<const Version> version_of(const ServedVersion* sv) const;
  void evict();
  bool pinned(const Version& v) const;

  ZonePublisher& pub_;
  std::vector<unsigned> lcore_ids_;
  std::shared_ptr<SlotPool> pool_;
  std::vector<std::shared_ptr<const Version>> versions_;  // oldest first
  std::shared_ptr<const Version> committed_, previous_;
  uint64_t seq_ = 0;
};

// Builds a ZoneSet from zone texts (the `upload` command and the LKG):
// parse + check + compile each, then the set. On any error `set` is null and
// `diagnostics` say which file and line.
struct ZoneText {
  std::string origin;  // may be empty
  std::string file;    // name used in diagnostics
  std::string_view text;
};
struct BuildResult {
  std::shared_ptr<const zones::ZoneSet> set;
  std::vector<zones::Diagnostic> diagnostics;
  bool ok() const noexcept { return set != nullptr; }
};
BuildResult build_zone_set(std::span<const ZoneText> zones);

}  // namespace edgedns::dp
