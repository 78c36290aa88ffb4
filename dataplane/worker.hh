// The per-lcore responder loop (DPDK l3fwd shape) and the burst pipeline it
// runs; the only code besides port.cc that touches rte_mbuf. Packet logic
// lives in packet.hh, DNS in zones/answer.hh.
//
// Threads: worker_main runs on a worker lcore and is an RCU reader (see
// zone_publisher.hh for the contract). process_burst: lcore, RCU reader
// (registered, online, zs valid until the caller's next quiescent state),
// noexcept, no allocation, no lock, no syscall. LcoreState is written by its
// lcore only, except that the registry resets a per-version counter slot
// while no lcore can write it (counters.hh); the housekeeping and agent
// threads read its counters.
#pragma once

#include <atomic>
#include <cstdint>
#include <string_view>

#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include "dataplane/counters.hh"
#include "dataplane/exception.hh"
#include "dataplane/packet.hh"
#include "dataplane/port.hh"
#include "dataplane/rrl.hh"
#include "zones/answer.hh"

namespace edgedns::zones {
class ZoneSet;
}

namespace edgedns::dp {

class ZonePublisher;

constexpr unsigned kMaxPorts = 8;       // ports per node; an edge box has 1-4
constexpr unsigned kPrefetchAhead = 3;  // l3fwd's PREFETCH_OFFSET: headers in L1 before classify
constexpr unsigned kDrainUs = 100;      // TX buffer flush period: bounds the added latency

struct PortCtx {
  uint16_t port = 0;
  uint16_t queue = 0;
  uint16_t mtu = 1500;
  CsumOffload offload;
  NodeAddrs addrs;                       // service addresses + this port's MAC
  rte_eth_dev_tx_buffer* txb = nullptr;  // kBurst deep, lcore-local
  // Kernel frames to send on this port (exception path; set on worker slot 0
  // only, null otherwise): this lcore is the ring's only consumer.
  rte_ring* from_kernel = nullptr;
};

struct alignas(RTE_CACHE_LINE_SIZE) LcoreState {
  unsigned lcore_id = 0;
  unsigned slot = 0;  // this lcore's slot in the ZonePublisher
  const ZonePublisher* publisher = nullptr;
  const std::atomic<bool>* stop = nullptr;
  bool idle_sleep = false;
  unsigned idle_sleep_max_us = 1000;
  unsigned n_ports = 0;
  PortCtx ports[kMaxPorts];
  zones::AnswerConfig answer_cfg;
  LcoreCounters counters;
  // Set by worker_main at the top of each iteration from the ServedVersion it
  // loaded: the per-version counters process_burst writes (0 = unversioned).
  unsigned vslot = 0;
  // TSC of this lcore's last quiescent state; health reads it (relaxed).
  std::atomic<uint64_t> last_qs_tsc{0};
  VersionCounters vcounters[kVersionSlots];
  // Exception path (null: off): this lcore is the ring's only producer.
  rte_ring* to_kernel = nullptr;
  ExcBucket exc_bucket;
  // Response rate limiting of this lcore's UDP answers (off unless configured).
  Rrl rrl;
  // Burst scratch, preallocated here instead of on the stack (a Query is ~530 bytes).
  alignas(RTE_CACHE_LINE_SIZE) zones::Query queries[kBurst];
  Classified cls[kBurst];
  rte_mbuf* dns[kBurst];
  rte_mbuf* exc[kBurst];
  char nsid[zones::kMaxNsid];  // answer_cfg.nsid's bytes (set_nsid)
};

// The NSID (RFC 5001) this lcore answers with: "<node_id> lcore=<lcore_id>",
// to which each answer adds " v=" and the first 12 hex digits of the version
// of the zone set it was answered from (the one process_burst was given).
// Empty node_id: no NSID. Throws std::invalid_argument when it does not
// fit. Main thread, before the lcore runs.
void set_nsid(LcoreState& st, std::string_view node_id);

// Handles one RX burst: answers what is ours in place and stores the replies
// in `out` (returns how many; they go back out on pc's port and queue); frees
// and counts everything else. `zs` may be null (nothing published).
uint16_t process_burst(LcoreState& st, const PortCtx& pc, const zones::ZoneSet* zs, rte_mbuf** pkts,
                       uint16_t nb, rte_mbuf** out) noexcept;

// Baseline for the bench: swaps addresses of UDP/53 frames and returns them,
// no DNS work (the floor every responder pays).
uint16_t reflect_burst(LcoreState& st, const PortCtx& pc, rte_mbuf** pkts, uint16_t nb,
                       rte_mbuf** out) noexcept;

// Allocates the lcore's TX buffers and installs the drop-counting callback.
// Main thread at start-up.
void init_tx_buffers(LcoreState& st, int socket);
void free_tx_buffers(LcoreState& st);

// rte_eal_remote_launch entry; arg is a LcoreState*. Returns when *stop.
int worker_main(void* arg);

}  // namespace edgedns::dp
