// Publication of zone sets to the worker lcores with liburcu QSBR.
//
// RCU contract (see ../shared/STYLE.md):
// - Readers are worker lcores. Each calls rcu_register_thread() once, then in
//   every loop iteration loads its slot with read(slot) into a local and uses
//   that pointer only until its next rcu_quiescent_state() (called after each
//   burst, also when idle). A reader never keeps the pointer across
//   iterations and goes rcu_thread_offline() before any sleep.
// - There is one slot per worker lcore (cache-line sized, so a publish to one
//   lcore does not disturb the others), which lets a later version be given to
//   a subset of lcores (per-lcore canary, issue 4) with the same reader code.
// - The writer (control thread, never a registered online reader) publishes a
//   complete, immutable ZoneSet with rcu_xchg_pointer and keeps the replaced
//   sets' shared_ptrs alive until synchronize_rcu() has returned: no reader
//   can still hold them then. A published ZoneSet is never modified.
#pragma once

#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include <urcu-qsbr.h>

#include "zones/snapshot.hh"

namespace edgedns::dp {

class ZonePublisher {
 public:
  // Control thread.
  explicit ZonePublisher(unsigned n_slots);
  ~ZonePublisher();  // publishes null to every slot and waits a grace period
  ZonePublisher(const ZonePublisher&) = delete;
  ZonePublisher& operator=(const ZonePublisher&) = delete;

  // Lcore, RCU reader (registered, online); no allocation, no lock.
  const zones::ZoneSet* read(unsigned slot) const noexcept {
    return rcu_dereference(slots_[slot].ptr);
  }

  // Control thread, may block for a grace period. `zs` may be null (stop
  // serving). Returns once no reader can see the replaced sets any more.
  void publish_all(std::shared_ptr<const zones::ZoneSet> zs);
  void publish(std::shared_ptr<const zones::ZoneSet> zs, std::span<const unsigned> slots);

  // Control thread: what a slot currently serves.
  std::shared_ptr<const zones::ZoneSet> current(unsigned slot) const;
  unsigned slots() const noexcept { return n_; }

 private:
  struct alignas(64) Slot {
    // Non-const only because liburcu's C++ casts cannot carry const; never
    // written through.
    zones::ZoneSet* ptr = nullptr;
  };
  unsigned n_;
  std::unique_ptr<Slot[]> slots_;
  mutable std::mutex mu_;  // serialises writers; readers never take it
  std::vector<std::shared_ptr<const zones::ZoneSet>> owners_;  // per slot, under mu_
};

}  // namespace edgedns::dp
