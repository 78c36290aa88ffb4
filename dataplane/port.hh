// DPDK port and mempool set-up for edgedns: one RX and one TX queue per
// worker lcore on every port, RSS over IP addresses and UDP ports where the
// device supports it, checksum offload where offered. Main thread at start-up
// and teardown only; throws std::runtime_error naming the port and queue.
#pragma once

#include <cstdint>
#include <string>

#include <rte_mempool.h>

#include "dataplane/packet.hh"

namespace edgedns::dp {

// Descriptor rings and pool sizing (reasons next to each value).
constexpr uint16_t kRxDesc = 1024;  // l3fwd's default: rides out ~30 bursts of loop jitter
constexpr uint16_t kTxDesc = 1024;  // same depth as RX: every answer is one TX for one RX
constexpr unsigned kBurst = 32;     // l3fwd's MAX_PKT_BURST: amortises the PMD call, fits L1
constexpr unsigned kPoolCache =
    256;  // per-lcore cache, > 2 bursts so RX refill rarely hits the ring

// Mbufs needed: every RX and TX descriptor of every queue may hold one, each
// worker holds a burst in its RX array and up to a burst in each TX buffer,
// and each lcore cache may park kPoolCache; plus slack for the PMDs' own
// staging (AF_XDP fill ring refills). Rounded up to 2^n - 1, the size the
// mempool ring uses best.
// `extra`: mbufs other users of the pool may hold (the exception path).
unsigned mbuf_count(unsigned n_ports, unsigned n_workers, unsigned extra = 0);

rte_mempool* create_pool(unsigned n_mbufs, int socket);

struct PortInfo {
  uint16_t id = 0;
  std::string name;
  Mac mac{};
  uint16_t mtu = 1500;
  CsumOffload offload;
};

// Configures and starts `port` with `n_queues` RX and TX queues. With
// `kernel_too` (exception path on) the multicast filter also passes what the
// kernel's side needs: the all-nodes group and the solicited-node group of its
// link-local address (EUI-64 from the port's MAC, which the tap shares).
PortInfo setup_port(uint16_t port, uint16_t n_queues, rte_mempool* pool, const NodeAddrs& addrs,
                    bool kernel_too = false);

// Waits up to `timeout_ms` for every started port's link; logs each state.
void wait_links(const PortInfo* ports, unsigned n, unsigned timeout_ms);

void stop_port(uint16_t port);

}  // namespace edgedns::dp
