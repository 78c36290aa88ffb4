// The kernel exception path: frames the lcores do not answer themselves
// (TCP, UDP to other ports, ICMP other than echo, fragments, ARP replies,
// other ethertypes, IP to the host's other addresses) go to the kernel
// through one tap interface per DPDK port, and what the kernel sends on that
// tap goes out through the port (DPDK's exception-path design with net_tap).
//
//   port RX -> lcore: answers ARP/ND/echo/UDP 53 itself; the rest, if
//     wants_kernel(), into its own to-kernel ring (single producer: the lcore)
//   exception thread: to-kernel rings -> tap TX (a write() per frame)
//                     tap RX -> the port's from-kernel ring (single producer)
//   worker slot 0: from-kernel ring -> its TX queue of the port
//
// The lcore never waits: a full ring (kernel or exception thread too slow)
// drops the frame and counts it (drop_exception_full); a per-lcore token
// bucket (exception-rate) caps what one lcore hands over per second. The tap
// has the port's MAC and MTU and carries the service addresses (/32, /128,
// no DAD), so the kernel's TCP/SSH/BGP replies leave with the port's MAC.
// ARP requests and neighbour solicitations for the service addresses are
// still answered by the lcore (the kernel never sees them); ARP replies and
// neighbour advertisements addressed to the port go to the kernel, so its
// neighbour table fills from its own resolutions. See docs/operations.md.
//
// Threads: wants_kernel is pure (any thread, noexcept). ExceptionPath is
// created, started, stopped and destroyed by the main thread; its own thread
// is an ordinary pthread (not an lcore, not an RCU reader) that sleeps with
// a growing backoff while there is nothing to move.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <rte_mempool.h>
#include <rte_ring.h>

#include "dataplane/counters.hh"
#include "dataplane/packet.hh"

namespace edgedns::dp {

struct PortInfo;

// Ring depths and pacing (reasons next to each value).
constexpr unsigned kExcRingSize = 1024;       // ~30 bursts: rides out a scheduling hiccup of the
                                              // exception thread without drops at SSH/BGP rates
constexpr uint16_t kTapDesc = 512;            // tap RX refill: the kernel writes one frame per read
constexpr unsigned kExcIdleMaxUs = 200;       // idle backoff ceiling: adds <= 0.2 ms to a TCP RTT
constexpr uint64_t kExcBucketBurst = 4 * 32;  // token bucket depth: 4 bursts pass at once

// True when a frame the lcore classified as Drop belongs to the host's kernel:
// addressed to the port's MAC or to a group (broadcast, multicast), not sent
// by the port itself (a PMD may loop our own group frames back), and not
// malformed or from a source nobody may answer.
bool wants_kernel(const uint8_t* frame, size_t len, const Classified& c,
                  const Mac& port_mac) noexcept;

// Tokens for the lcore's hand-over rate limit (packets per second; 0 = no
// limit). Lcore only; no syscall (TSC based).
struct ExcBucket {
  uint64_t rate = 0;  // packets per second, 0 = unlimited
  uint64_t tokens = kExcBucketBurst;
  uint64_t last_tsc = 0;
  uint64_t tsc_hz = 1;
  // How many of `want` frames may go now (refills from the TSC first).
  uint32_t take(uint32_t want, uint64_t now_tsc) noexcept;
};

// Exception thread counters (the thread writes, housekeeping reads).
struct alignas(64) ExceptionCounters {
  Counter to_tap;          // frames written to a tap
  Counter to_tap_failed;   // the tap did not take them (kernel queue full, iface down)
  Counter from_tap;        // frames the kernel sent, queued for a port
  Counter from_ring_full;  // kernel frames dropped: the port's from-kernel ring was full
  Counter vlan_failed;     // a stripped VLAN tag could not be put back (no headroom)
};

struct ExceptionConfig {
  std::string iface_prefix = "dnsx";  // tap names: prefix + port index (dnsx0, dnsx1, ...)
  uint64_t rate = 0;                  // per-lcore frames/s to the kernel, 0 = unlimited
};

class ExceptionPath {
 public:
  // Main thread after the ports are started: creates one net_tap per port
  // (MAC and MTU of the port, the service addresses added, link up) and the
  // rings. Throws std::runtime_error naming the port or tap.
  ExceptionPath(const std::vector<PortInfo>& ports, unsigned n_workers, rte_mempool* pool,
                const NodeAddrs& addrs, const ExceptionConfig& cfg);
  ~ExceptionPath();  // stops the thread, frees what is queued, closes the taps
  ExceptionPath(const ExceptionPath&) = delete;
  ExceptionPath& operator=(const ExceptionPath&) = delete;

  // Extra mbufs the pool needs for the exception path (rings and tap queues).
  static unsigned extra_mbufs(unsigned n_ports, unsigned n_workers);

  rte_ring* to_kernel(unsigned worker) const { return to_kernel_[worker]; }
  rte_ring* from_kernel(unsigned port_index) const { return taps_[port_index].from_kernel; }
  const std::string& tap_name(unsigned port_index) const { return taps_[port_index].name; }
  const ExceptionCounters& counters() const noexcept { return counters_; }

  // Starts the thread; `thread_init` runs first on it (CPU affinity).
  void start(std::function<void()> thread_init);
  void stop();

  // One line, `counters exception key=value ...`. Control thread.
  std::string format_counters() const;

 private:
  struct Tap {
    uint16_t port = 0;  // the DPDK port it serves
    uint16_t tap = 0;   // the net_tap's port id
    std::string name;   // kernel interface
    std::string vdev;   // vdev name for rte_vdev_uninit
    rte_ring* from_kernel = nullptr;
  };
  void run() noexcept;
  void cleanup() noexcept;
  int tap_of(uint16_t port) const noexcept;

  rte_mempool* pool_ = nullptr;
  std::vector<Tap> taps_;
  std::vector<rte_ring*> to_kernel_;
  ExceptionCounters counters_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace edgedns::dp
