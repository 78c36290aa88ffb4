// process_burst, the mbuf adapter, over real mbufs (EAL with --no-huge and no
// devices): mixed bursts, counters, in-place answers with valid checksums,
// NSID naming the lcore and the version it answered from, and that every
// mbuf goes either out or back to the pool.
#include "dataplane/worker.hh"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <rte_eal.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "dataplane/zone_publisher.hh"
#include "tests/dataplane/frames.hh"
#include "zones/check.hh"
#include "zones/name.hh"
#include "zones/parser.hh"
#include "zones/snapshot.hh"
#include "zones/version.hh"

using namespace edgedns;
using namespace edgedns::dp;
using namespace edgedns::dp::test;

namespace {

rte_mempool* g_pool = nullptr;

std::shared_ptr<const zones::ZoneSet> test_zones(int serial = 1) {
  zones::ParseResult pr = zones::parse_zone_text("$ORIGIN example.test.\n$TTL 300\n@ SOA ns1 h " +
                                                     std::to_string(serial) +
                                                     " 2 3 4 5\n@ NS ns1\nns1 A 198.18.53.53\n"
                                                     "www A 192.0.2.1\nwww AAAA 2001:db8::1\n",
                                                 "worker_test", {});
  EXPECT_FALSE(pr.has_errors());
  std::vector<zones::Diagnostic> d;
  zones::check_zone(pr.zone, d);
  return zones::ZoneSet::build({zones::compile_zone(std::move(pr.zone))});
}

std::vector<uint8_t> arp_request() {
  std::vector<uint8_t> f(6, 0xff);
  f.insert(f.end(), kPeerMac.begin(), kPeerMac.end());
  f.insert(f.end(), {0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1});
  f.insert(f.end(), kPeerMac.begin(), kPeerMac.end());
  f.insert(f.end(), {198, 18, 53, 2, 0, 0, 0, 0, 0, 0, 198, 18, 53, 53});
  f.resize(60);
  return f;
}

rte_mbuf* mbuf(const std::vector<uint8_t>& f) {
  rte_mbuf* m = rte_pktmbuf_alloc(g_pool);
  EXPECT_NE(m, nullptr);
  std::memcpy(rte_pktmbuf_append(m, uint16_t(f.size())), f.data(), f.size());
  return m;
}

struct Fixture {
  std::unique_ptr<LcoreState> st{new LcoreState()};
  Fixture() {
    st->n_ports = 1;
    PortCtx& pc = st->ports[0];
    pc.addrs = node_addrs();
  }
};

bool contains(const uint8_t* p, size_t n, const std::vector<uint8_t>& needle) {
  return std::search(p, p + n, needle.begin(), needle.end()) != p + n;
}

// A query with EDNS that asks for NSID (an empty option 3, as dig +nsid sends).
std::vector<uint8_t> nsid_query(const char* name, uint16_t id) {
  auto q = dns_query(name, zones::rrtype::A, id, false, 1232);
  zones::wr16(&q[q.size() - 2], 4);  // the OPT's RDLENGTH
  q.insert(q.end(), {0, 3, 0, 0});
  return q;
}

size_t skip_name(const uint8_t* m, size_t off) {
  while (m[off] != 0 && (m[off] & 0xc0) != 0xc0) off += 1 + m[off];
  return off + (m[off] == 0 ? 1 : 2);
}

// The NSID option of a DNS message; "(no OPT)" or "(no NSID)" without one.
std::string nsid_of(const uint8_t* dns, size_t len) {
  size_t off = 12;
  for (int i = 0; i < zones::rd16(dns + 4); ++i) off = skip_name(dns, off) + 4;
  const int rrs = zones::rd16(dns + 6) + zones::rd16(dns + 8) + zones::rd16(dns + 10);
  for (int i = 0; i < rrs && off < len; ++i) {
    off = skip_name(dns, off);
    const uint16_t type = zones::rd16(dns + off), rdlen = zones::rd16(dns + off + 8);
    off += 10;
    if (type == zones::rrtype::OPT) {
      for (size_t o = off; o + 4 <= off + rdlen; o += 4 + zones::rd16(dns + o + 2))
        if (zones::rd16(dns + o) == 3)
          return std::string(reinterpret_cast<const char*>(dns + o + 4), zones::rd16(dns + o + 2));
      return "(no NSID)";
    }
    off += rdlen;
  }
  return "(no OPT)";
}

}  // namespace

TEST(ProcessBurst, MixedBurst) {
  auto zs = test_zones();
  Fixture fx;
  unsigned before = rte_mempool_avail_count(g_pool);
  std::vector<std::vector<uint8_t>> frames = {
      udp_frame(false, dns_query("www.example.test.", zones::rrtype::A, 1)),
      udp_frame(true, dns_query("WWW.example.test.", zones::rrtype::AAAA, 2)),
      arp_request(),
      udp_frame(false, dns_query("www.example.test.", zones::rrtype::A, 3), 0x2000),  // fragment
      udp_frame(false, dns_query("www.example.test.", zones::rrtype::A, 4, true)),    // QR=1
      udp_frame(false, dns_query("nope.example.test.", zones::rrtype::A, 5)),
  };
  rte_mbuf* in[kBurst];
  rte_mbuf* out[kBurst];
  for (size_t i = 0; i < frames.size(); ++i) in[i] = mbuf(frames[i]);
  uint16_t n = process_burst(*fx.st, fx.st->ports[0], zs.get(), in, uint16_t(frames.size()), out);
  ASSERT_EQ(n, 4);  // two answers, the ARP reply, the NXDOMAIN
  const LcoreCounters& k = fx.st->counters;
  EXPECT_EQ(k.queries.get(), 3u);
  EXPECT_EQ(k.rcode[0].get(), 2u);
  EXPECT_EQ(k.rcode[3].get(), 1u);
  EXPECT_EQ(k.arp_replies.get(), 1u);
  EXPECT_EQ(k.drop[size_t(DropReason::Fragment)].get(), 1u);
  EXPECT_EQ(k.late_drop[size_t(LateDrop::DnsUnparsable)].get(), 1u);

  int answers = 0;
  for (uint16_t i = 0; i < n; ++i) {
    rte_mbuf* m = out[i];
    uint8_t* f = rte_pktmbuf_mtod(m, uint8_t*);
    ASSERT_EQ(m->pkt_len, m->data_len);
    EXPECT_EQ(std::memcmp(f, kPeerMac.data(), 6), 0);
    EXPECT_EQ(std::memcmp(f + 6, kOurMac.data(), 6), 0);
    uint16_t et = zones::rd16(f + 12);
    if (et == eth::kIpv4) {
      uint8_t* ip = f + 14;
      EXPECT_EQ(ip4_header_csum(ip, 20), 0);
      size_t ulen = zones::rd16(ip + 20 + 4);
      EXPECT_EQ(m->data_len, 14 + 20 + ulen);
      EXPECT_EQ(l4_csum4(ip, ipproto::kUdp, ip + 20, ulen), 0);
      uint8_t* dns = ip + 28;
      EXPECT_TRUE(dns[2] & 0x80);  // QR
      if (zones::rd16(dns) == 1) {
        EXPECT_TRUE(contains(dns, ulen - 8, {192, 0, 2, 1}));
        ++answers;
      } else {
        EXPECT_EQ(zones::rd16(dns), 5);
        EXPECT_EQ(dns[3] & 0x0f, 3);  // NXDOMAIN
      }
    } else if (et == eth::kIpv6) {
      uint8_t* ip = f + 14;
      size_t plen = zones::rd16(ip + 4);
      EXPECT_EQ(m->data_len, 14 + 40 + plen);
      EXPECT_EQ(l4_csum6(ip, ipproto::kUdp, ip + 40, plen), 0);
      uint8_t* dns = ip + 48;
      EXPECT_EQ(zones::rd16(dns), 2);
      EXPECT_TRUE(contains(dns, plen - 8, {'W', 'W', 'W'}));  // 0x20 case echoed
      EXPECT_TRUE(contains(dns, plen - 8, {0x20, 0x01, 0x0d, 0xb8}));
      ++answers;
    } else {
      EXPECT_EQ(et, eth::kArp);
      EXPECT_EQ(zones::rd16(f + 14 + 6), 2);
    }
  }
  EXPECT_EQ(answers, 2);
  rte_pktmbuf_free_bulk(out, n);
  EXPECT_EQ(rte_mempool_avail_count(g_pool), before);  // nothing leaked, nothing freed twice
}

TEST(ProcessBurst, NothingPublishedDropsQueriesButAnswersArp) {
  Fixture fx;
  unsigned before = rte_mempool_avail_count(g_pool);
  rte_mbuf* in[2] = {mbuf(udp_frame(false, dns_query("www.example.test.", zones::rrtype::A, 1))),
                     mbuf(arp_request())};
  rte_mbuf* out[kBurst];
  uint16_t n = process_burst(*fx.st, fx.st->ports[0], nullptr, in, 2, out);
  EXPECT_EQ(n, 1);
  EXPECT_EQ(fx.st->counters.late_drop[size_t(LateDrop::NoZones)].get(), 1u);
  rte_pktmbuf_free_bulk(out, n);
  EXPECT_EQ(rte_mempool_avail_count(g_pool), before);
}

TEST(ProcessBurst, FullBurstOfQueries) {
  auto zs = test_zones();
  Fixture fx;
  rte_mbuf* in[kBurst];
  rte_mbuf* out[kBurst];
  for (unsigned i = 0; i < kBurst; ++i)
    in[i] = mbuf(udp_frame(i & 1, dns_query("www.example.test.", zones::rrtype::A, uint16_t(i))));
  uint16_t n = process_burst(*fx.st, fx.st->ports[0], zs.get(), in, kBurst, out);
  EXPECT_EQ(n, kBurst);
  EXPECT_EQ(fx.st->counters.answers(), kBurst);
  rte_pktmbuf_free_bulk(out, n);
}

// Untagged frames take classify_dns_fast, tagged ones classify(): the same
// query must get the same reply either way (bar the tag), with the TX offload
// request and counters as before, for every offload setting.
TEST(ProcessBurst, FastAndGeneralPathAnswerAlike) {
  auto zs = test_zones();
  auto tagged = [](std::vector<uint8_t> f) {
    const uint8_t tag[4] = {0x81, 0x00, 0x00, 0x2a};
    f.insert(f.begin() + 12, tag, tag + 4);
    return f;
  };
  const auto q4 = udp_frame(false, dns_query("www.example.test.", zones::rrtype::A, 7));
  const auto q6 = udp_frame(true, dns_query("www.example.test.", zones::rrtype::AAAA, 8));
  const auto nx = udp_frame(false, dns_query("nope.example.test.", zones::rrtype::A, 9));
  const std::vector<std::vector<uint8_t>> frames = {q4, tagged(q4), q6, tagged(q6), nx};
  for (int o = 0; o < 4; ++o) {
    Fixture fx;
    const CsumOffload off{bool(o & 1), bool(o & 2)};
    fx.st->ports[0].offload = off;
    unsigned before = rte_mempool_avail_count(g_pool);
    rte_mbuf* in[kBurst];
    rte_mbuf* out[kBurst];
    for (size_t i = 0; i < frames.size(); ++i) in[i] = mbuf(frames[i]);
    in[4]->ol_flags = RTE_MBUF_F_RX_VLAN_STRIPPED;  // the port took a tag off: it goes back on
    uint16_t n = process_burst(*fx.st, fx.st->ports[0], zs.get(), in, uint16_t(frames.size()), out);
    ASSERT_EQ(n, frames.size()) << o;
    for (int pair : {0, 2}) {
      const rte_mbuf* a = out[pair];
      const rte_mbuf* b = out[pair + 1];
      ASSERT_EQ(a->data_len + 4, b->data_len) << o;
      const uint8_t* fa = rte_pktmbuf_mtod(a, const uint8_t*);
      const uint8_t* fb = rte_pktmbuf_mtod(b, const uint8_t*);
      EXPECT_EQ(std::memcmp(fa, fb, 12), 0) << o;
      EXPECT_EQ(std::memcmp(fa + 12, fb + 16, a->data_len - 12), 0) << o << " pair " << pair;
    }
    for (uint16_t i = 0; i < n; ++i) {
      const rte_mbuf* m = out[i];
      const bool v6 = i == 2 || i == 3;
      uint64_t want = i == 4 ? RTE_MBUF_F_TX_VLAN : 0;
      if (!v6 && (off.ip4 || off.udp))
        want |= RTE_MBUF_F_TX_IPV4 | (off.ip4 ? RTE_MBUF_F_TX_IP_CKSUM : 0) |
                (off.udp ? RTE_MBUF_F_TX_UDP_CKSUM : 0);
      if (v6 && off.udp) want |= RTE_MBUF_F_TX_IPV6 | RTE_MBUF_F_TX_UDP_CKSUM;
      EXPECT_EQ(m->ol_flags, want) << o << " frame " << i;
      if (off.ip4 || off.udp) {
        EXPECT_EQ(m->l2_len, (i == 1 || i == 3) ? 18u : 14u) << o << " frame " << i;
        EXPECT_EQ(m->l3_len, v6 ? 40u : 20u) << o << " frame " << i;
      }
      EXPECT_EQ(m->pkt_len, m->data_len);
    }
    const LcoreCounters& k = fx.st->counters;
    EXPECT_EQ(k.queries.get(), 5u);
    EXPECT_EQ(k.rcode[0].get(), 4u);
    EXPECT_EQ(k.rcode[3].get(), 1u);
    EXPECT_EQ(k.answers(), 5u);
    EXPECT_EQ(fx.st->vcounters[0].rcode[0].get(), 4u);
    EXPECT_EQ(fx.st->vcounters[0].rcode[3].get(), 1u);
    rte_pktmbuf_free_bulk(out, n);
    EXPECT_EQ(rte_mempool_avail_count(g_pool), before);
  }
}

// Two lcores of one node, the second a canary on another version: asked for
// NSID, each names itself and the version of the zone set it answered from
// (what its publisher slot holds); not asked, no option; checksums stay valid.
TEST(ProcessBurst, NsidNamesTheLcoreAndTheVersionItAnsweredFrom) {
  ZonePublisher pub(2);
  pub.publish_all(test_zones(1));
  auto canary = test_zones(2);
  const unsigned canary_slot[] = {1};
  pub.publish(std::shared_ptr<const ServedVersion>(new ServedVersion{canary, 0, {}}), canary_slot);
  const std::string v1 = zones::zoneset_version(*pub.current(0)->zs).hex().substr(0, 12);
  const std::string v2 = zones::zoneset_version(*canary).hex().substr(0, 12);
  ASSERT_NE(v1, v2);
  const unsigned lcore_of_slot[] = {3, 7};
  for (unsigned slot = 0; slot < 2; ++slot) {
    Fixture fx;
    fx.st->lcore_id = lcore_of_slot[slot];
    fx.st->slot = slot;
    set_nsid(*fx.st, "edge-9");
    const std::string want =
        "edge-9 lcore=" + std::to_string(lcore_of_slot[slot]) + " v=" + (slot ? v2 : v1);
    unsigned before = rte_mempool_avail_count(g_pool);
    rte_mbuf* in[4] = {
        mbuf(udp_frame(false, nsid_query("www.example.test.", 1))),
        mbuf(udp_frame(true, nsid_query("nope.example.test.", 2))),
        mbuf(udp_frame(false, dns_query("www.example.test.", zones::rrtype::A, 3, false, 1232))),
        mbuf(udp_frame(false, dns_query("www.example.test.", zones::rrtype::A, 4)))};
    rte_mbuf* out[kBurst];
    uint16_t n = process_burst(*fx.st, fx.st->ports[0], pub.current(slot)->zs.get(), in, 4, out);
    ASSERT_EQ(n, 4);
    for (uint16_t i = 0; i < n; ++i) {
      uint8_t* f = rte_pktmbuf_mtod(out[i], uint8_t*);
      const bool v6 = zones::rd16(f + 12) == eth::kIpv6;
      uint8_t* ip = f + 14;
      const size_t ulen = v6 ? zones::rd16(ip + 4) : zones::rd16(ip + 24);
      uint8_t* dns = ip + (v6 ? 40 : 20) + 8;
      if (v6) EXPECT_EQ(l4_csum6(ip, ipproto::kUdp, ip + 40, ulen), 0) << i;
      else EXPECT_EQ(l4_csum4(ip, ipproto::kUdp, ip + 20, ulen), 0) << i;
      const std::string got = nsid_of(dns, ulen - 8);
      switch (zones::rd16(dns)) {
        case 1:
        case 2: EXPECT_EQ(got, want) << "query " << zones::rd16(dns); break;
        case 3: EXPECT_EQ(got, "(no NSID)"); break;
        default: EXPECT_EQ(got, "(no OPT)"); break;
      }
    }
    rte_pktmbuf_free_bulk(out, n);
    EXPECT_EQ(rte_mempool_avail_count(g_pool), before);
  }
  // No node id: no NSID even when asked.
  Fixture off;
  set_nsid(*off.st, "");
  rte_mbuf* in[1] = {mbuf(udp_frame(false, nsid_query("www.example.test.", 5)))};
  rte_mbuf* out[1];
  ASSERT_EQ(process_burst(*off.st, off.st->ports[0], canary.get(), in, 1, out), 1);
  uint8_t* f = rte_pktmbuf_mtod(out[0], uint8_t*);
  EXPECT_EQ(nsid_of(f + 42, out[0]->data_len - 42), "(no NSID)");
  rte_pktmbuf_free(out[0]);
  EXPECT_THROW(set_nsid(*off.st, std::string(zones::kMaxNsid, 'x')), std::invalid_argument);
}

TEST(ReflectBurst, SwapsOnly) {
  Fixture fx;
  auto f = udp_frame(false, dns_query("www.example.test.", zones::rrtype::A, 9));
  rte_mbuf* in[1] = {mbuf(f)};
  rte_mbuf* out[1];
  ASSERT_EQ(reflect_burst(*fx.st, fx.st->ports[0], in, 1, out), 1);
  uint8_t* g = rte_pktmbuf_mtod(out[0], uint8_t*);
  EXPECT_EQ(std::memcmp(g, f.data() + 6, 6), 0);
  EXPECT_EQ(std::memcmp(g + 42, f.data() + 42, f.size() - 42), 0);  // payload untouched
  rte_pktmbuf_free(out[0]);
}

// The lcore loop over a ring port whose TX ring takes only 8 frames: a burst
// of 20 queries gets 20 answers, 8 are sent (and counted as tx), 12 are
// dropped as TxFull and their mbufs go back to the pool.
TEST(WorkerMain, SendsEachBurstsAnswersAndCountsWhatTxRefuses) {
  const int socket = int(rte_socket_id());
  rte_ring* rx = rte_ring_create("wm_rx", 64, socket, RING_F_SP_ENQ | RING_F_SC_DEQ);
  rte_ring* tx =
      rte_ring_create("wm_tx", 8, socket, RING_F_SP_ENQ | RING_F_SC_DEQ | RING_F_EXACT_SZ);
  ASSERT_TRUE(rx && tx);
  const int port = rte_eth_from_rings("net_ring_wm", &rx, 1, &tx, 1, unsigned(socket));
  ASSERT_GE(port, 0);
  rte_eth_conf conf{};
  ASSERT_EQ(rte_eth_dev_configure(uint16_t(port), 1, 1, &conf), 0);
  ASSERT_EQ(rte_eth_rx_queue_setup(uint16_t(port), 0, 64, unsigned(socket), nullptr, g_pool), 0);
  ASSERT_EQ(rte_eth_tx_queue_setup(uint16_t(port), 0, 8, unsigned(socket), nullptr), 0);
  ASSERT_EQ(rte_eth_dev_start(uint16_t(port)), 0);

  const unsigned pool_before = rte_mempool_avail_count(g_pool);
  constexpr unsigned kQueries = 20;
  for (unsigned i = 0; i < kQueries; ++i) {
    rte_mbuf* m =
        mbuf(udp_frame(i & 1, dns_query("www.example.test.", zones::rrtype::A, uint16_t(i))));
    ASSERT_EQ(rte_ring_enqueue(rx, m), 0);
  }
  {
    ZonePublisher pub(1);
    pub.publish_all(test_zones());
    std::atomic<bool> stop{false};
    Fixture fx;
    LcoreState& st = *fx.st;
    st.publisher = &pub;
    st.stop = &stop;
    st.ports[0].port = uint16_t(port);
    st.ports[0].queue = 0;
    init_tx_buffers(st, socket);
    std::thread t([&st] { worker_main(&st); });
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (st.counters.answers() < kQueries && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    stop = true;
    t.join();
    free_tx_buffers(st);
    EXPECT_EQ(st.counters.answers(), kQueries);
    EXPECT_EQ(st.counters.tx.get(), 8u);
    EXPECT_EQ(st.counters.late_drop[size_t(LateDrop::TxFull)].get(), kQueries - 8);
  }
  ASSERT_EQ(rte_ring_count(tx), 8u);
  rte_mbuf* sent[8];
  ASSERT_EQ(rte_ring_dequeue_bulk(tx, reinterpret_cast<void**>(sent), 8, nullptr), 8u);
  for (rte_mbuf* m : sent) {
    const uint8_t* f = rte_pktmbuf_mtod(m, const uint8_t*);
    const size_t dns =
        (f[12] == 0x86 ? 14 + 40 : 14 + 20) + 8;  // untagged IPv6 or option-less IPv4
    EXPECT_TRUE(f[dns + 2] & 0x80) << "an answer (QR set)";
  }
  rte_pktmbuf_free_bulk(sent, 8);
  EXPECT_EQ(rte_mempool_avail_count(g_pool), pool_before) << "every mbuf back in the pool";
  rte_eth_dev_stop(uint16_t(port));
  rte_eth_dev_close(uint16_t(port));
  rte_ring_free(rx);
  rte_ring_free(tx);
}

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  std::string prefix = "--file-prefix=dpwtest" + std::to_string(getpid());
  const char* eal[] = {
      "worker_test", "--no-huge",         "-m",           "128",           "--no-pci", "-l",
      "0",           "--log-level=error", prefix.c_str(), "--no-telemetry"};
  if (rte_eal_init(int(std::size(eal)), const_cast<char**>(eal)) < 0) {
    std::fprintf(stderr,
                 "worker_test: EAL init failed (needs root for --no-huge memory locking)\n");
    return 1;
  }
  g_pool =
      rte_pktmbuf_pool_create("wtest", 1023, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, int(rte_socket_id()));
  if (!g_pool) return 1;
  int rc = RUN_ALL_TESTS();
  rte_mempool_free(g_pool);
  std::string runtime_dir = rte_eal_get_runtime_dir();
  rte_eal_cleanup();
  std::error_code ec;
  std::filesystem::remove_all(runtime_dir, ec);
  return rc;
}
