#include "dataplane/exception.hh"

#include <arpa/inet.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <rte_bus_vdev.h>
#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_ether.h>
#include <rte_mbuf.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <stdexcept>

#include "dataplane/port.hh"
#include "dataplane/worker.hh"

namespace edgedns::dp {

bool wants_kernel(const uint8_t* frame, size_t len, const Classified& c,
                  const Mac& port_mac) noexcept {
  if (c.kind != Kind::Drop || len < 14) return false;
  // Broken headers and sources nobody may answer: the kernel would drop
  // them too, after a copy and a syscall.
  if (c.reason == DropReason::Malformed || c.reason == DropReason::BadSource) return false;
  if (frame[0] & 1) {
    // A group frame we sent ourselves (a PMD that shows its own TX, like
    // AF_PACKET): the kernel would see its own ARP request come back.
    return std::memcmp(frame + 6, port_mac.data(), 6) != 0;
  }
  return std::memcmp(frame, port_mac.data(), 6) == 0;
}

uint32_t ExcBucket::take(uint32_t want, uint64_t now) noexcept {
  if (rate == 0) return want;
  uint64_t el = now - last_tsc;
  if (el >= tsc_hz) {
    tokens = kExcBucketBurst;  // a second or more since the last refill: full bucket
    last_tsc = now;
  } else {
    uint64_t add = el * rate / tsc_hz;  // el < tsc_hz keeps this product in range
    if (add) {
      tokens = tokens + add > kExcBucketBurst ? kExcBucketBurst : tokens + add;
      last_tsc += add * tsc_hz / rate;
    }
  }
  uint32_t n = want < tokens ? want : uint32_t(tokens);
  tokens -= n;
  return n;
}

namespace {

std::string mac_text(const Mac& m) {
  char b[18];
  std::snprintf(b, sizeof b, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
  return b;
}

[[noreturn]] void fail(const std::string& what, int err) {
  throw std::runtime_error(what + ": " + std::strerror(err));
}

void link_up(const std::string& ifname) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) fail("exception path: socket", errno);
  ifreq ifr{};
  std::snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", ifname.c_str());
  int rc = ioctl(fd, SIOCGIFFLAGS, &ifr);
  if (rc == 0 && !(ifr.ifr_flags & IFF_UP)) {
    ifr.ifr_flags |= IFF_UP;
    rc = ioctl(fd, SIOCSIFFLAGS, &ifr);
  }
  int err = errno;
  close(fd);
  if (rc != 0) fail("exception path: " + ifname + ": link up", err);
}

// RTM_NEWADDR over rtnetlink: the address as a host route (/32, /128) with no
// duplicate address detection (the address is ours on the wire already; DAD
// would leave it tentative and unbindable for a second).
void add_address(const std::string& ifname, int family, const void* addr) {
  unsigned ifindex = if_nametoindex(ifname.c_str());
  if (ifindex == 0) fail("exception path: " + ifname, errno);
  size_t alen = family == AF_INET ? 4 : 16;
  struct {
    nlmsghdr nh;
    ifaddrmsg ifa;
    char attrs[64];
  } req{};
  req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(ifaddrmsg));
  req.nh.nlmsg_type = RTM_NEWADDR;
  req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_REPLACE | NLM_F_ACK;
  req.nh.nlmsg_seq = 1;
  req.ifa.ifa_family = uint8_t(family);
  req.ifa.ifa_prefixlen = uint8_t(alen * 8);
  req.ifa.ifa_flags = family == AF_INET6 ? IFA_F_NODAD : 0;
  req.ifa.ifa_scope = RT_SCOPE_UNIVERSE;
  req.ifa.ifa_index = ifindex;
  for (unsigned short type : {IFA_LOCAL, IFA_ADDRESS}) {
    auto* rta =
        reinterpret_cast<rtattr*>(reinterpret_cast<char*>(&req) + NLMSG_ALIGN(req.nh.nlmsg_len));
    rta->rta_type = type;
    rta->rta_len = uint16_t(RTA_LENGTH(alen));
    std::memcpy(RTA_DATA(rta), addr, alen);
    req.nh.nlmsg_len = NLMSG_ALIGN(req.nh.nlmsg_len) + RTA_ALIGN(rta->rta_len);
  }
  char text[INET6_ADDRSTRLEN] = {};
  inet_ntop(family, addr, text, sizeof text);
  const std::string what = "exception path: " + ifname + ": add address " + text;
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) fail(what, errno);
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (sendto(fd, &req, req.nh.nlmsg_len, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) <
      0) {
    int err = errno;
    close(fd);
    fail(what, err);
  }
  char buf[512];
  ssize_t n = recv(fd, buf, sizeof buf, 0);
  int err = n < 0 ? errno : 0;
  close(fd);
  if (n < 0) fail(what, err);
  auto* nh = reinterpret_cast<nlmsghdr*>(buf);
  if (NLMSG_OK(nh, size_t(n)) && nh->nlmsg_type == NLMSG_ERROR) {
    auto* e = static_cast<nlmsgerr*>(NLMSG_DATA(nh));
    if (e->error != 0) fail(what, -e->error);
  }
}

}  // namespace

unsigned ExceptionPath::extra_mbufs(unsigned n_ports, unsigned n_workers) {
  // Per port: the tap's RX refill and a full from-kernel ring plus a burst in
  // the exception thread's hands; per worker: a full to-kernel ring.
  return n_ports * (kTapDesc + kExcRingSize + kBurst) + n_workers * kExcRingSize;
}

ExceptionPath::ExceptionPath(const std::vector<PortInfo>& ports, unsigned n_workers,
                             rte_mempool* pool, const NodeAddrs& addrs, const ExceptionConfig& cfg)
    : pool_(pool) {
  try {
    for (unsigned w = 0; w < n_workers; ++w) {
      std::string rn = "edgedns_exc_w" + std::to_string(w);
      // Single producer (the lcore), single consumer (the exception thread).
      rte_ring* r = rte_ring_create(rn.c_str(), kExcRingSize, int(rte_socket_id()),
                                    RING_F_SP_ENQ | RING_F_SC_DEQ);
      if (!r)
        throw std::runtime_error("exception path: ring " + rn + ": " + rte_strerror(rte_errno));
      to_kernel_.push_back(r);
    }
    for (unsigned i = 0; i < ports.size(); ++i) {
      const PortInfo& p = ports[i];
      Tap t;
      t.port = p.id;
      t.name = cfg.iface_prefix + std::to_string(i);
      if (t.name.size() >= IFNAMSIZ)
        throw std::runtime_error("exception path: interface name " + t.name + " too long");
      t.vdev = "net_tap_edgedns_x" + std::to_string(i);
      std::string args = "iface=" + t.name + ",mac=" + mac_text(p.mac);
      int rc = rte_vdev_init(t.vdev.c_str(), args.c_str());
      if (rc != 0)
        throw std::runtime_error("exception path for " + p.name + ": creating tap " + t.name +
                                 " (" + args + "): " + rte_strerror(-rc));
      taps_.push_back(t);  // from here on the destructor removes it
      Tap& tp = taps_.back();
      if (rte_eth_dev_get_port_by_name(tp.vdev.c_str(), &tp.tap) != 0)
        throw std::runtime_error("exception path: tap " + tp.name + " has no port id");
      rte_eth_conf conf{};
      rc = rte_eth_dev_configure(tp.tap, 1, 1, &conf);
      if (rc != 0)
        throw std::runtime_error("exception path: tap " + tp.name +
                                 ": configure: " + rte_strerror(-rc));
      rte_eth_dev_set_mtu(tp.tap, p.mtu);  // best effort: the kernel default (1500) otherwise
      uint16_t nrx = kTapDesc, ntx = kTapDesc;
      rte_eth_dev_adjust_nb_rx_tx_desc(tp.tap, &nrx, &ntx);
      rc = rte_eth_rx_queue_setup(tp.tap, 0, nrx, rte_socket_id(), nullptr, pool);
      if (rc == 0) rc = rte_eth_tx_queue_setup(tp.tap, 0, ntx, rte_socket_id(), nullptr);
      if (rc != 0)
        throw std::runtime_error("exception path: tap " + tp.name +
                                 ": queues: " + rte_strerror(-rc));
      rc = rte_eth_dev_start(tp.tap);
      if (rc != 0)
        throw std::runtime_error("exception path: tap " + tp.name +
                                 ": start: " + rte_strerror(-rc));
      std::string rn = "edgedns_exc_p" + std::to_string(i);
      // Single producer (the exception thread), single consumer (worker slot 0).
      tp.from_kernel = rte_ring_create(rn.c_str(), kExcRingSize, int(rte_socket_id()),
                                       RING_F_SP_ENQ | RING_F_SC_DEQ);
      if (!tp.from_kernel)
        throw std::runtime_error("exception path: ring " + rn + ": " + rte_strerror(rte_errno));
      link_up(tp.name);
      for (size_t a = 0; a < addrs.n4; ++a) add_address(tp.name, AF_INET, &addrs.v4[a]);
      for (size_t a = 0; a < addrs.n6; ++a) add_address(tp.name, AF_INET6, addrs.v6[a].data());
      std::printf(
          "edgedns: %s: exception path to kernel interface %s (MAC %s, MTU %u, %zu address(es))\n",
          p.name.c_str(), tp.name.c_str(), mac_text(p.mac).c_str(), p.mtu, addrs.n4 + addrs.n6);
    }
  } catch (...) {
    cleanup();
    throw;
  }
}

ExceptionPath::~ExceptionPath() { cleanup(); }

void ExceptionPath::cleanup() noexcept {
  stop();
  auto drain = [](rte_ring* r) {
    void* m;
    while (rte_ring_dequeue(r, &m) == 0) rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
    rte_ring_free(r);
  };
  for (rte_ring* r : to_kernel_) drain(r);
  to_kernel_.clear();
  for (Tap& t : taps_) {
    if (t.from_kernel) drain(t.from_kernel);
    rte_eth_dev_stop(t.tap);
    rte_eth_dev_close(t.tap);
    rte_vdev_uninit(t.vdev.c_str());
  }
  taps_.clear();
}

void ExceptionPath::start(std::function<void()> thread_init) {
  stop_.store(false);
  thread_ = std::thread([this, init = std::move(thread_init)] {
    if (init) init();
    pthread_setname_np(pthread_self(), "edgedns-exc");
    run();
  });
}

void ExceptionPath::stop() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
}

int ExceptionPath::tap_of(uint16_t port) const noexcept {
  for (size_t i = 0; i < taps_.size(); ++i)
    if (taps_[i].port == port) return int(i);
  return -1;
}

void ExceptionPath::run() noexcept {
  ExceptionCounters& k = counters_;
  rte_mbuf* in[kBurst];
  rte_mbuf* grp[kMaxPorts][kBurst];
  uint16_t cnt[kMaxPorts];
  unsigned backoff_us = 1;
  while (!stop_.load(std::memory_order_relaxed)) {
    unsigned work = 0;
    // Lcores -> kernel.
    for (rte_ring* r : to_kernel_) {
      unsigned n = rte_ring_sc_dequeue_burst(r, reinterpret_cast<void**>(in), kBurst, nullptr);
      if (n == 0) continue;
      work += n;
      for (size_t t = 0; t < taps_.size(); ++t) cnt[t] = 0;
      for (unsigned i = 0; i < n; ++i) {
        rte_mbuf* m = in[i];
        int t = tap_of(m->port);
        if (t < 0) {
          k.to_tap_failed.add();
          rte_pktmbuf_free(m);
          continue;
        }
        // The port took the tag off (AF_PACKET): the kernel gets it back.
        if ((m->ol_flags & RTE_MBUF_F_TX_VLAN) && rte_vlan_insert(&m) != 0) {
          k.vlan_failed.add();
          rte_pktmbuf_free(m);
          continue;
        }
        m->ol_flags = 0;
        grp[t][cnt[t]++] = m;
      }
      for (size_t t = 0; t < taps_.size(); ++t) {
        if (cnt[t] == 0) continue;
        uint16_t sent = rte_eth_tx_burst(taps_[t].tap, 0, grp[t], cnt[t]);
        k.to_tap.add(sent);
        if (sent < cnt[t]) {
          k.to_tap_failed.add(cnt[t] - sent);
          rte_pktmbuf_free_bulk(grp[t] + sent, cnt[t] - sent);
        }
      }
    }
    // Kernel -> ports (sent by worker slot 0).
    for (Tap& t : taps_) {
      uint16_t n = rte_eth_rx_burst(t.tap, 0, in, kBurst);
      if (n == 0) continue;
      work += n;
      for (uint16_t i = 0; i < n; ++i)
        in[i]->ol_flags = 0;  // RX flags must not read as TX requests
      unsigned q =
          rte_ring_sp_enqueue_burst(t.from_kernel, reinterpret_cast<void**>(in), n, nullptr);
      k.from_tap.add(q);
      if (q < n) {
        k.from_ring_full.add(n - q);
        rte_pktmbuf_free_bulk(in + q, n - q);
      }
    }
    if (work == 0) {
      timespec ts{0, long(backoff_us) * 1000};
      nanosleep(&ts, nullptr);
      backoff_us = backoff_us * 2 > kExcIdleMaxUs ? kExcIdleMaxUs : backoff_us * 2;
    } else {
      backoff_us = 1;
    }
  }
}

std::string ExceptionPath::format_counters() const {
  const ExceptionCounters& k = counters_;
  char b[256];
  std::snprintf(b, sizeof b,
                "counters exception to_tap=%llu to_tap_failed=%llu from_tap=%llu "
                "from_ring_full=%llu vlan_failed=%llu",
                (unsigned long long)k.to_tap.get(), (unsigned long long)k.to_tap_failed.get(),
                (unsigned long long)k.from_tap.get(), (unsigned long long)k.from_ring_full.get(),
                (unsigned long long)k.vlan_failed.get());
  std::string out = b;
  // Free mbufs of the shared pool: a figure that only falls over time is a leak.
  out += " pool_free=" + std::to_string(rte_mempool_avail_count(pool_));
  return out;
}

}  // namespace edgedns::dp
