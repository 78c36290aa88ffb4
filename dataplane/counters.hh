// Per-lcore counters. Each worker lcore owns one LcoreCounters and its
// VersionCounters slots (inside its cache-aligned LcoreState) and is their
// only writer, apart from the reset of a free version slot (below). Readers:
// the housekeeping thread prints LcoreCounters (SIGUSR1, shutdown), and the
// agent's thread reads VersionCounters for `status` and the health gates.
// Writers do a relaxed load + store (no locked instruction on the hot path);
// readers do relaxed loads, so a figure may be a few packets old but is never
// torn.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "dataplane/packet.hh"

namespace edgedns::dp {

class Counter {
 public:
  void add(uint64_t n = 1) noexcept {
    v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  uint64_t get() const noexcept { return v_.load(std::memory_order_relaxed); }
  // Control thread, only while no lcore can write this counter (a version
  // counter slot that is free: see VersionCounters).
  void reset() noexcept { v_.store(0, std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

// Reasons a packet was dropped after classification (DropReason) or later on.
enum class LateDrop : uint8_t {
  DnsUnparsable,  // engine said Drop: short header, QR=1 (counted as malformed)
  EngineDropped,  // engine produced no response
  NoZones,        // nothing published yet for this lcore
  MultiSegment,   // chained mbuf: never produced by our ports at MTU 1500
  TooSmall,       // mbuf has no room for the reply (ND advert longer than the NS)
  TxFull,         // tx_burst did not take it
  ExceptionFull,  // for the kernel, but the lcore's exception ring was full
  ExceptionRate,  // for the kernel, over the lcore's exception-rate budget
  kCount,
};

struct alignas(64) LcoreCounters {
  Counter rx, tx;
  Counter queries;    // UDP/53 packets handed to the engine
  Counter rcode[16];  // answers sent, by header rcode
  Counter truncated;  // answers sent with TC=1
  Counter arp_replies, nd_adverts, echo4_replies, echo6_replies;
  Counter drop[size_t(DropReason::kCount)];
  Counter late_drop[size_t(LateDrop::kCount)];
  Counter idle_sleeps;
  Counter to_kernel;    // frames handed to the exception path (see exception.hh)
  Counter from_kernel;  // kernel frames this lcore sent out (worker slot 0 only)
  Counter rrl_limited;  // responses over the RRL rate (dropped or slipped; dataplane/rrl.hh)
  Counter rrl_slipped;  // of those, sent truncated (TC=1) instead

  uint64_t answers() const noexcept {
    uint64_t s = 0;
    for (const auto& c : rcode) s += c.get();
    return s;
  }
  uint64_t malformed() const noexcept {
    return drop[size_t(DropReason::Malformed)].get() +
           late_drop[size_t(LateDrop::DnsUnparsable)].get() +
           late_drop[size_t(LateDrop::MultiSegment)].get();
  }
  uint64_t non_dns() const noexcept {
    return drop[size_t(DropReason::Ethertype)].get() + drop[size_t(DropReason::Protocol)].get() +
           drop[size_t(DropReason::NonDnsPort)].get() + drop[size_t(DropReason::IcmpOther)].get();
  }
};

// Per-version counters of one lcore: what it did while answering from one
// version (the ServedVersion it loaded at the top of the iteration). Each
// lcore has kVersionSlots of them, indexed by ServedVersion::vslot; slot 0
// counts answers from an unversioned set (benches, tests). A slot is reset by
// the control thread only while it is free, i.e. after the grace period that
// followed the last publication of its previous version, when no lcore can
// write it; the next rcu_xchg_pointer orders the reset before any new write.
// 64 slots: the registry keeps 8 unpinned versions plus the served, committed
// and previous committed ones, far below 64 for the lcore counts of an edge box.
constexpr unsigned kVersionSlots = 64;
constexpr unsigned kVersionRcodes = 8;  // rcodes 0-6 by value, everything above in the last

struct alignas(64) VersionCounters {
  Counter queries;                // DNS queries handed to the engine
  Counter rcode[kVersionRcodes];  // answers sent, by header rcode (7 = "other")
  Counter dropped;                // queries the engine or TX dropped
  Counter malformed;              // unparsable DNS / malformed frames seen in that iteration

  void reset() noexcept {
    queries.reset();
    for (auto& c : rcode) c.reset();
    dropped.reset();
    malformed.reset();
  }
};

// One line, `key=value` pairs (stable keys: tests and scripts grep them).
// Control thread.
std::string format_counters(unsigned lcore, const LcoreCounters& c);

}  // namespace edgedns::dp
