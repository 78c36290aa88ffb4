#include "dataplane/port.hh"

#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mbuf_pool_ops.h>

#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <thread>
#include <vector>

namespace edgedns::dp {

namespace {

std::string port_name(uint16_t port) {
  char name[RTE_ETH_NAME_MAX_LEN] = {};
  if (rte_eth_dev_get_name_by_port(port, name) != 0) return "port " + std::to_string(port);
  return "port " + std::to_string(port) + " (" + name + ")";
}

[[noreturn]] void fail(uint16_t port, const std::string& what, int rc) {
  throw std::runtime_error(port_name(port) + ": " + what + ": " + rte_strerror(-rc));
}

std::string rss_names(uint64_t hf) {
  struct {
    uint64_t bit;
    const char* name;
  } const kNames[] = {{RTE_ETH_RSS_IPV4, "ipv4"},
                      {RTE_ETH_RSS_FRAG_IPV4, "frag-ipv4"},
                      {RTE_ETH_RSS_NONFRAG_IPV4_UDP, "ipv4-udp"},
                      {RTE_ETH_RSS_NONFRAG_IPV4_OTHER, "ipv4-other"},
                      {RTE_ETH_RSS_IPV6, "ipv6"},
                      {RTE_ETH_RSS_FRAG_IPV6, "frag-ipv6"},
                      {RTE_ETH_RSS_NONFRAG_IPV6_UDP, "ipv6-udp"},
                      {RTE_ETH_RSS_NONFRAG_IPV6_OTHER, "ipv6-other"},
                      {RTE_ETH_RSS_IPV6_EX, "ipv6-ex"},
                      {RTE_ETH_RSS_IPV6_UDP_EX, "ipv6-udp-ex"}};
  std::string s;
  for (const auto& n : kNames)
    if (hf & n.bit) s += (s.empty() ? "" : ",") + std::string(n.name);
  return s.empty() ? "none" : s;
}

// The NIC's multicast filter must pass the solicited-node groups of our IPv6
// addresses or neighbour solicitations never arrive. Program them exactly
// when the port can; otherwise take all multicast; promiscuous as last resort.
void open_multicast(uint16_t port, const NodeAddrs& addrs, const rte_ether_addr& mac,
                    bool kernel_too) {
  if (addrs.n6 == 0 && !kernel_too) return;
  std::vector<rte_ether_addr> mc(addrs.n6);
  for (size_t i = 0; i < addrs.n6; ++i) {
    uint8_t* b = mc[i].addr_bytes;
    b[0] = 0x33;
    b[1] = 0x33;
    b[2] = 0xff;
    b[3] = addrs.v6[i][13];
    b[4] = addrs.v6[i][14];
    b[5] = addrs.v6[i][15];
  }
  if (kernel_too) {
    mc.push_back({{0x33, 0x33, 0, 0, 0, 1}});  // all-nodes (RA, the kernel's own ND)
    mc.push_back({{0x33, 0x33, 0xff, mac.addr_bytes[3], mac.addr_bytes[4], mac.addr_bytes[5]}});
  }
  if (rte_eth_dev_set_mc_addr_list(port, mc.data(), uint32_t(mc.size())) == 0) return;
  if (rte_eth_allmulticast_enable(port) == 0 && rte_eth_allmulticast_get(port) == 1) {
    std::printf("edgedns: %s: no multicast filter list; all-multicast enabled for ND\n",
                port_name(port).c_str());
    return;
  }
  if (rte_eth_promiscuous_enable(port) == 0) {
    std::printf("edgedns: %s: no multicast filtering; promiscuous mode enabled for ND\n",
                port_name(port).c_str());
    return;
  }
  std::printf("edgedns: %s: warning: cannot open multicast filter; IPv6 ND may not arrive\n",
              port_name(port).c_str());
}

}  // namespace

unsigned mbuf_count(unsigned n_ports, unsigned n_workers, unsigned extra) {
  constexpr unsigned kSlack = 2048;  // PMD staging: AF_XDP keeps its fill ring topped up
  unsigned n =
      n_ports * n_workers * (kRxDesc + kTxDesc) +
      n_workers * (kBurst /* rx array */ + n_ports * kBurst /* tx buffers */ + kPoolCache) +
      kSlack + extra;
  unsigned p = 1;
  while (p - 1 < n) p <<= 1;
  return p - 1;
}

rte_mempool* create_pool(unsigned n_mbufs, int socket) {
  // net_af_xdp registers populated_size * object size from the pool's first
  // address as its umem. The default layout moves an object that would
  // straddle a page to the next page: with 4 KB pages (--no-huge) that is one
  // 2.4 KB mbuf per page, and 40% of the mbufs lie past the umem. The kernel
  // rejects those as TX descriptors and fill-ring entries and never returns
  // them, and the port's transmit stalled once the exception path's tap had
  // handed out such an mbuf. Packed objects keep the whole pool inside the
  // umem; straddling a page is harmless where IOVA is VA (or there is no
  // physical address at all).
  const bool packed = rte_eal_iova_mode() == RTE_IOVA_VA || !rte_eal_has_hugepages();
  const std::string what =
      "mempool of " + std::to_string(n_mbufs) + " mbufs on socket " + std::to_string(socket) + ": ";
  rte_mempool* mp = rte_mempool_create_empty(
      "edgedns_mbufs", n_mbufs, sizeof(rte_mbuf) + RTE_MBUF_DEFAULT_BUF_SIZE, kPoolCache,
      sizeof(rte_pktmbuf_pool_private), socket, packed ? RTE_MEMPOOL_F_NO_IOVA_CONTIG : 0);
  if (!mp) throw std::runtime_error(what + rte_strerror(rte_errno));
  rte_pktmbuf_pool_private priv{};
  priv.mbuf_data_room_size = RTE_MBUF_DEFAULT_BUF_SIZE;
  int rc = rte_mempool_set_ops_byname(mp, rte_mbuf_best_mempool_ops(), nullptr);
  if (rc == 0) {
    rte_pktmbuf_pool_init(mp, &priv);
    rc = rte_mempool_populate_default(mp);
    rc = rc < 0 ? rc : 0;
  }
  if (rc != 0) {
    rte_mempool_free(mp);
    throw std::runtime_error(what + rte_strerror(-rc));
  }
  rte_mempool_obj_iter(mp, rte_pktmbuf_init, nullptr);
  return mp;
}

PortInfo setup_port(uint16_t port, uint16_t n_queues, rte_mempool* pool, const NodeAddrs& addrs,
                    bool kernel_too) {
  PortInfo info;
  info.id = port;
  info.name = port_name(port);
  rte_eth_dev_info dev{};
  int rc = rte_eth_dev_info_get(port, &dev);
  if (rc != 0) fail(port, "dev_info_get", rc);
  if (n_queues > dev.max_rx_queues || n_queues > dev.max_tx_queues)
    throw std::runtime_error(info.name + ": needs " + std::to_string(n_queues) +
                             " RX/TX queues (one per worker lcore), device has " +
                             std::to_string(dev.max_rx_queues) + "/" +
                             std::to_string(dev.max_tx_queues));

  rte_eth_conf conf{};
  if (n_queues > 1) {
    uint64_t want = RTE_ETH_RSS_IP | RTE_ETH_RSS_UDP;
    uint64_t have = want & dev.flow_type_rss_offloads;
    if (have != want)
      std::printf("edgedns: %s: RSS types not supported and masked: %s (kept: %s)\n",
                  info.name.c_str(), rss_names(want & ~have).c_str(), rss_names(have).c_str());
    if (have) {
      conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
      conf.rx_adv_conf.rss_conf.rss_hf = have;
    } else {
      std::printf("edgedns: %s: no RSS; the device's own queue choice spreads the load\n",
                  info.name.c_str());
    }
  }
  uint64_t tx_want = RTE_ETH_TX_OFFLOAD_IPV4_CKSUM | RTE_ETH_TX_OFFLOAD_UDP_CKSUM;
  conf.txmode.offloads = tx_want & dev.tx_offload_capa;
  // Ports that strip VLAN tags on RX (AF_PACKET) put them back on TX.
  if (dev.tx_offload_capa & RTE_ETH_TX_OFFLOAD_VLAN_INSERT)
    conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_VLAN_INSERT;
  // One pool, refcount always 1: the PMD may return mbufs to the pool directly.
  if (dev.tx_offload_capa & RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE)
    conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE;
  info.offload.ip4 = conf.txmode.offloads & RTE_ETH_TX_OFFLOAD_IPV4_CKSUM;
  info.offload.udp = conf.txmode.offloads & RTE_ETH_TX_OFFLOAD_UDP_CKSUM;

  rc = rte_eth_dev_configure(port, n_queues, n_queues, &conf);
  if (rc != 0) fail(port, "configure with " + std::to_string(n_queues) + " queues", rc);
  uint16_t nrx = kRxDesc, ntx = kTxDesc;
  rc = rte_eth_dev_adjust_nb_rx_tx_desc(port, &nrx, &ntx);
  if (rc != 0) fail(port, "adjust descriptors", rc);
  int socket = rte_eth_dev_socket_id(port);
  if (socket < 0) socket = int(rte_socket_id());
  for (uint16_t q = 0; q < n_queues; ++q) {
    rte_eth_rxconf rxc = dev.default_rxconf;
    rxc.offloads = conf.rxmode.offloads;
    rc = rte_eth_rx_queue_setup(port, q, nrx, unsigned(socket), &rxc, pool);
    if (rc != 0) fail(port, "RX queue " + std::to_string(q) + " setup", rc);
    rte_eth_txconf txc = dev.default_txconf;
    txc.offloads = conf.txmode.offloads;
    rc = rte_eth_tx_queue_setup(port, q, ntx, unsigned(socket), &txc);
    if (rc != 0) fail(port, "TX queue " + std::to_string(q) + " setup", rc);
  }
  rc = rte_eth_dev_start(port);
  if (rc != 0) fail(port, "start", rc);
  rte_ether_addr mac{};
  rc = rte_eth_macaddr_get(port, &mac);
  if (rc != 0) fail(port, "macaddr_get", rc);
  std::copy(mac.addr_bytes, mac.addr_bytes + 6, info.mac.begin());
  uint16_t mtu = 0;
  if (rte_eth_dev_get_mtu(port, &mtu) == 0 && mtu >= 576) info.mtu = mtu;
  open_multicast(port, addrs, mac, kernel_too);
  std::printf(
      "edgedns: %s: %u RX/TX queues of %u/%u descriptors, MAC %02x:%02x:%02x:%02x:%02x:%02x, "
      "MTU %u, checksum offload ip4=%s udp=%s\n",
      info.name.c_str(), n_queues, nrx, ntx, mac.addr_bytes[0], mac.addr_bytes[1],
      mac.addr_bytes[2], mac.addr_bytes[3], mac.addr_bytes[4], mac.addr_bytes[5], info.mtu,
      info.offload.ip4 ? "hw" : "sw", info.offload.udp ? "hw" : "sw");
  return info;
}

void wait_links(const PortInfo* ports, unsigned n, unsigned timeout_ms) {
  using clock = std::chrono::steady_clock;
  auto deadline = clock::now() + std::chrono::milliseconds(timeout_ms);
  std::vector<bool> up(n, false);
  for (;;) {
    unsigned n_up = 0;
    for (unsigned i = 0; i < n; ++i) {
      if (!up[i]) {
        rte_eth_link link{};
        if (rte_eth_link_get_nowait(ports[i].id, &link) == 0 && link.link_status) {
          up[i] = true;
          std::printf("edgedns: %s: link up, %u Mbps\n", ports[i].name.c_str(), link.link_speed);
        }
      }
      n_up += up[i];
    }
    if (n_up == n) return;
    if (clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  for (unsigned i = 0; i < n; ++i)
    if (!up[i])
      std::printf("edgedns: %s: warning: link still down after %u ms; serving anyway\n",
                  ports[i].name.c_str(), timeout_ms);
}

void stop_port(uint16_t port) {
  int rc = rte_eth_dev_stop(port);
  if (rc != 0) std::printf("edgedns: %s: stop: %s\n", port_name(port).c_str(), rte_strerror(-rc));
  rte_eth_dev_close(port);
}

}  // namespace edgedns::dp
