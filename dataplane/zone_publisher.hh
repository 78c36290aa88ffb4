// Publication of zone-set versions to the worker lcores with liburcu QSBR.
//
// RCU contract (docs/architecture.md):
// - Readers are worker lcores. Each calls rcu_register_thread() once, then in
//   every loop iteration loads its slot with read(slot) into a local and uses
//   that pointer (and the ZoneSet it names) only until its next
//   rcu::quiescent_state() (called after each burst, also when idle). A
//   reader never keeps the pointer across iterations and goes
//   rcu::thread_offline() before any sleep (dataplane/rcu.hh).
// - There is one slot per worker lcore (cache-line sized, so a publish to one
//   lcore does not disturb the others), which lets a later version be given to
//   a subset of lcores (per-lcore canary) with the same reader code.
// - What is published is a ServedVersion: the immutable ZoneSet plus the
//   version's counter slot (vslot), so that an lcore counts each answer
//   against the version it answered from without any lookup or allocation.
// - The writer (control thread, never a registered online reader) publishes a
//   complete, immutable ServedVersion with rcu_xchg_pointer and keeps the
//   replaced ones' shared_ptrs alive until synchronize_rcu() has returned: no
//   reader can still hold them then, so their last release (which frees the
//   zone set and gives the counter slot back) happens after every lcore has
//   stopped seeing them. A published ServedVersion is never modified.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "dataplane/rcu.hh"

#include "zones/snapshot.hh"

namespace edgedns::dp {

struct ServedVersion {
  std::shared_ptr<const zones::ZoneSet> zs;
  unsigned vslot = 0;  // index into each lcore's per-version counters; 0 = unversioned
  // Runs when the last reference goes, i.e. after the grace period that
  // follows its last unpublication (returns the counter slot). May be empty.
  std::function<void()> on_release;
  ~ServedVersion() {
    if (on_release) on_release();
  }
};

class ZonePublisher {
 public:
  // Control thread.
  explicit ZonePublisher(unsigned n_slots);
  ~ZonePublisher();  // publishes null to every slot and waits a grace period
  ZonePublisher(const ZonePublisher&) = delete;
  ZonePublisher& operator=(const ZonePublisher&) = delete;

  // Lcore, RCU reader (registered, online); no allocation, no lock.
  const ServedVersion* read(unsigned slot) const noexcept { return rcu::load(&slots_[slot].ptr); }

  // Control thread, may block for a grace period. `v` may be null (stop
  // serving). Returns once no reader can see the replaced versions any more
  // and every named slot's next read returns `v`. Throws std::out_of_range
  // (and changes nothing) when a slot does not exist.
  void publish_all(std::shared_ptr<const ServedVersion> v);
  void publish(std::shared_ptr<const ServedVersion> v, std::span<const unsigned> slots);
  // Convenience for callers without per-version counters (vslot 0).
  void publish_all(std::shared_ptr<const zones::ZoneSet> zs);

  // Control thread: what a slot currently serves (null when nothing).
  std::shared_ptr<const ServedVersion> current(unsigned slot) const;
  unsigned slots() const noexcept { return n_; }

 private:
  struct alignas(64) Slot {
    // Non-const only because liburcu's C++ casts cannot carry const; never
    // written through.
    ServedVersion* ptr = nullptr;
  };
  unsigned n_;
  std::unique_ptr<Slot[]> slots_;
  mutable std::mutex mu_;  // serialises writers; readers never take it
  std::vector<std::shared_ptr<const ServedVersion>> owners_;  // per slot, under mu_
};

}  // namespace edgedns::dp
