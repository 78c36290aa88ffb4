#include "dataplane/worker.hh"

#include <rte_cycles.h>
#include <rte_malloc.h>
#include <rte_prefetch.h>

#include <cstring>
#include <ctime>
#include <stdexcept>
#include <string>

#include "dataplane/zone_publisher.hh"

namespace edgedns::dp {

namespace {

inline void send_after(rte_mbuf* m, size_t len, rte_mbuf** out, unsigned& n_out) noexcept {
  m->data_len = uint16_t(len);
  m->pkt_len = uint32_t(len);
  out[n_out++] = m;
}

void on_tx_unsent(rte_mbuf** pkts, uint16_t unsent, void* userdata) {
  auto* c = static_cast<LcoreCounters*>(userdata);
  c->late_drop[size_t(LateDrop::TxFull)].add(unsent);
  rte_pktmbuf_free_bulk(pkts, unsent);
}

// Room from the frame start to the end of the mbuf, capped at what the port
// may send (L2 header + MTU).
inline size_t frame_cap(const rte_mbuf* m, const Classified& c, uint16_t mtu) noexcept {
  size_t room = size_t(m->buf_len) - m->data_off;
  size_t wire = size_t(c.l2_len) + mtu;
  return room < wire ? room : wire;
}

// Hands st.exc[0, n) to the exception thread: within the lcore's rate
// budget and what the ring takes; the rest is dropped and counted. Never waits.
void hand_to_kernel(LcoreState& st, uint16_t n) noexcept {
  LcoreCounters& k = st.counters;
  uint32_t allowed = st.exc_bucket.take(n, st.exc_bucket.rate ? rte_rdtsc() : 0);
  unsigned q = allowed ? rte_ring_sp_enqueue_burst(st.to_kernel, reinterpret_cast<void**>(st.exc),
                                                   allowed, nullptr)
                       : 0;
  k.to_kernel.add(q);
  if (allowed < n) k.late_drop[size_t(LateDrop::ExceptionRate)].add(n - allowed);
  if (q < allowed) k.late_drop[size_t(LateDrop::ExceptionFull)].add(allowed - q);
  if (q < n) rte_pktmbuf_free_bulk(st.exc + q, n - q);
}

// The RRL bucket family of a response (dataplane/rrl.hh): NODATA shares the
// answer class (four classes; Knot keeps it apart as "empty").
inline RrlClass rrl_class(zones::AnswerKind k) noexcept {
  switch (k) {
    case zones::AnswerKind::NxDomain: return RrlClass::NxDomain;
    case zones::AnswerKind::Referral: return RrlClass::Referral;
    case zones::AnswerKind::Error: return RrlClass::Error;
    default: return RrlClass::Answer;
  }
}

// Everything but a parsed DNS query: ARP/ND/echo answered at once (the
// reply goes to *out), the rest handed to the kernel (to *exc) or dropped
// and counted. Out of line: the loop in process_burst stays small for the
// frames that matter, and its counts stay in registers.
enum class Went : uint8_t { Gone, Out, Exc };
[[gnu::noinline]] Went not_a_query(LcoreState& st, const PortCtx& pc, rte_mbuf* m, uint8_t* f,
                                   size_t len, const Classified& c, rte_mbuf** out,
                                   rte_mbuf** exc) noexcept {
  LcoreCounters& k = st.counters;
  size_t n;  // the reply's length
  switch (c.kind) {
    case Kind::Arp:
      k.arp_replies.add();
      n = arp_reply(f, len, c, pc.addrs);
      break;
    case Kind::Ns:
      n = nd_advert(f, frame_cap(m, c, pc.mtu), c, pc.addrs);
      if (n == 0) {
        k.late_drop[size_t(LateDrop::TooSmall)].add();
        rte_pktmbuf_free(m);
        return Went::Gone;
      }
      k.nd_adverts.add();
      break;
    case Kind::Echo4:
    case Kind::Echo6:
      (c.kind == Kind::Echo4 ? k.echo4_replies : k.echo6_replies).add();
      n = echo_reply(f, len, c, pc.addrs);
      break;
    default:  // Kind::Drop (the DNS kinds never come here)
      if (st.to_kernel && wants_kernel(f, len, c, pc.addrs.mac)) {
        *exc = m;  // the host's, not ours: the kernel decides
        return Went::Exc;
      }
      k.drop[size_t(c.reason)].add();
      if (c.reason == DropReason::Malformed) st.vcounters[st.vslot].malformed.add();
      rte_pktmbuf_free(m);
      return Went::Gone;
  }
  unsigned one = 0;
  send_after(m, n, out, one);
  return Went::Out;
}

}  // namespace

uint16_t process_burst(LcoreState& st, const PortCtx& pc, const zones::ZoneSet* zs, rte_mbuf** pkts,
                       uint16_t nb, rte_mbuf** out) noexcept {
  LcoreCounters& k = st.counters;
  VersionCounters& vc = st.vcounters[st.vslot];
  unsigned n_out = 0, n_dns = 0, n_exc = 0;   // at most nb <= kBurst each
  const FastAddrs fa = fast_addrs(pc.addrs);  // per burst: the fast path's keys in registers
  for (unsigned i = 0; i < kPrefetchAhead && i < nb; ++i)
    rte_prefetch0(rte_pktmbuf_mtod(pkts[i], void*));

  // Pass 1: classify; answer ARP/ND/echo at once; parse every DNS query.
  auto rx_one = [&](rte_mbuf * m) __attribute__((always_inline)) {
    if (m->nb_segs != 1) {
      k.late_drop[size_t(LateDrop::MultiSegment)].add();
      vc.malformed.add();
      rte_pktmbuf_free(m);
      return;
    }
    uint8_t* f = rte_pktmbuf_mtod(m, uint8_t*);
    size_t len = m->data_len;
    // RX flags must not read as TX requests on the way out. A tag the port
    // stripped (AF_PACKET does) goes back on the reply: vlan_tci stays as is.
    m->ol_flags = (m->ol_flags & RTE_MBUF_F_RX_VLAN_STRIPPED) ? RTE_MBUF_F_TX_VLAN : 0;
    // Classified in place in the burst scratch: kept only if it is a query.
    Classified& c = st.cls[n_dns];
    if (!classify_dns_fast(f, len, fa, c)) {
      c = classify(f, len, pc.addrs);
      if (c.kind != Kind::Dns4 && c.kind != Kind::Dns6) {
        const Went w = not_a_query(st, pc, m, f, len, c, out + n_out, st.exc + n_exc);
        n_out += w == Went::Out;
        n_exc += w == Went::Exc;
        return;
      }
    }
    if (zones::parse_query({f + c.payload_off, c.payload_len}, st.queries[n_dns]) ==
        zones::QueryStatus::Drop) {
      k.late_drop[size_t(LateDrop::DnsUnparsable)].add();
      vc.malformed.add();
      rte_pktmbuf_free(m);
      return;
    }
    st.dns[n_dns++] = m;
  };
  uint16_t i = 0;
  for (; i + kPrefetchAhead < nb; ++i) {  // l3fwd's split: no prefetch test per packet
    rte_prefetch0(rte_pktmbuf_mtod(pkts[i + kPrefetchAhead], void*));
    rx_one(pkts[i]);
  }
  for (; i < nb; ++i) rx_one(pkts[i]);
  if (n_exc) hand_to_kernel(st, uint16_t(n_exc));
  if (n_dns == 0) return uint16_t(n_out);
  k.queries.add(n_dns);
  vc.queries.add(n_dns);
  if (zs == nullptr) {
    k.late_drop[size_t(LateDrop::NoZones)].add(n_dns);
    rte_pktmbuf_free_bulk(st.dns, n_dns);
    return uint16_t(n_out);
  }

  // Pass 2: look up and prefetch every slot, then every node, the burst needs
  // before answering any of it (hints left in the queries for answer()).
  zones::prefetch_burst(*zs, st.queries, n_dns);

  // Pass 3: answer in place and rewrite the headers around the answer.
  // Per-burst invariants first; answers are counted by rcode in locals and
  // added to the shared counters once at the end.
  const bool rrl_on = st.rrl.enabled();
  const uint64_t rrl_now = rrl_on ? rte_rdtsc() : 0;  // one clock read per burst
  const CsumOffload off = pc.offload;
  const bool tx_offload = off.ip4 || off.udp;
  const uint64_t ol4 = RTE_MBUF_F_TX_IPV4 | (off.ip4 ? RTE_MBUF_F_TX_IP_CKSUM : 0) |
                       (off.udp ? RTE_MBUF_F_TX_UDP_CKSUM : 0);
  const uint64_t ol6 = off.udp ? RTE_MBUF_F_TX_IPV6 | RTE_MBUF_F_TX_UDP_CKSUM : 0;
  const uint64_t mac = mac_word(pc.addrs.mac);
  const uint16_t mtu = pc.mtu;
  static_assert(kBurst < 256, "by_rcode counts a burst in bytes");
  alignas(8) uint8_t by_rcode[16] = {};
  unsigned n_tc = 0, n_dropped = 0;
  for (unsigned j = 0; j < n_dns; ++j) {
    rte_mbuf* m = st.dns[j];
    const Classified& c = st.cls[j];
    uint8_t* f = rte_pktmbuf_mtod(m, uint8_t*);
    size_t cap = frame_cap(m, c, mtu) - c.payload_off;
    zones::AnswerResult r = zones::answer(*zs, st.queries[j], {f + c.payload_off, cap},
                                          zones::Transport::Udp, st.answer_cfg);
    if (r.len == 0 || r.kind == zones::AnswerKind::Dropped) {
      k.late_drop[size_t(LateDrop::EngineDropped)].add();
      ++n_dropped;
      rte_pktmbuf_free(m);
      continue;
    }
    const bool v4 = c.kind == Kind::Dns4;
    if (rrl_on) {
      const uint8_t* ip = f + c.l2_len;
      RrlAction a = st.rrl.check(v4 ? ip + 12 : ip + 8, !v4, rrl_class(r.kind), rrl_now);
      if (a != RrlAction::Send) {
        k.rrl_limited.add();
        if (a == RrlAction::Drop) {
          rte_pktmbuf_free(m);
          continue;
        }
        k.rrl_slipped.add();
        r.len = uint16_t(rrl_slip_reply(f + c.payload_off, r.len, st.queries[j].qname_len));
        r.truncated = true;
        r.has_sum = false;  // the slip rewrote the answer
      }
    }
    ++by_rcode[r.rcode & 0x0f];
    n_tc += r.truncated;
    const uint64_t sum = r.has_sum ? r.sum : zones::ones_acc(f + c.payload_off, r.len);
    size_t n = v4 ? udp_reply4(f, c.l2_len, c.l3_len, r.len, mac, off, sum)
                  : udp_reply6(f, c.l2_len, r.len, mac, off, sum);
    if (tx_offload) {
      m->l2_len = c.l2_len;
      m->l3_len = c.l3_len;
      m->ol_flags |= v4 ? ol4 : ol6;
    }
    send_after(m, n, out, n_out);
  }
  if (n_dropped) vc.dropped.add(n_dropped);
  if (n_tc) k.truncated.add(n_tc);
  for (unsigned half = 0; half < 2; ++half) {
    uint64_t w;  // eight counts; the top bit of each byte of `nz` says it is not 0
    std::memcpy(&w, by_rcode + 8 * half, 8);
    constexpr uint64_t kLow7 = 0x7f7f'7f7f'7f7f'7f7full;
    for (uint64_t nz = (((w & kLow7) + kLow7) | w) & ~kLow7; nz; nz &= nz - 1) {
      const unsigned rc = 8 * half + unsigned(__builtin_ctzll(nz)) / 8;
      k.rcode[rc].add(by_rcode[rc]);
      vc.rcode[rc < kVersionRcodes - 1 ? rc : kVersionRcodes - 1].add(by_rcode[rc]);
    }
  }
  return uint16_t(n_out);
}

uint16_t reflect_burst(LcoreState& st, const PortCtx& pc, rte_mbuf** pkts, uint16_t nb,
                       rte_mbuf** out) noexcept {
  uint16_t n_out = 0;
  for (uint16_t i = 0; i < nb; ++i) {
    rte_mbuf* m = pkts[i];
    uint8_t* f = rte_pktmbuf_mtod(m, uint8_t*);
    Classified c = classify(f, m->data_len, pc.addrs);
    if (c.kind == Kind::Dns4 || c.kind == Kind::Dns6) {
      swap_l2_l4(f, c);
      out[n_out++] = m;
    } else {
      st.counters.drop[size_t(c.reason)].add();
      rte_pktmbuf_free(m);
    }
  }
  return n_out;
}

void set_nsid(LcoreState& st, std::string_view node_id) {
  st.answer_cfg.nsid = {};
  st.answer_cfg.nsid_version = false;
  if (node_id.empty()) return;
  std::string s = std::string(node_id) + " lcore=" + std::to_string(st.lcore_id);
  if (s.size() > sizeof st.nsid)
    throw std::invalid_argument("NSID '" + s + "': longer than " + std::to_string(sizeof st.nsid) +
                                " bytes");
  std::memcpy(st.nsid, s.data(), s.size());
  st.answer_cfg.nsid = std::string_view(st.nsid, s.size());
  st.answer_cfg.nsid_version = true;
}

void init_tx_buffers(LcoreState& st, int socket) {
  for (unsigned p = 0; p < st.n_ports; ++p) {
    auto* b = static_cast<rte_eth_dev_tx_buffer*>(rte_zmalloc_socket(
        "edgedns_txb", RTE_ETH_TX_BUFFER_SIZE(kBurst), RTE_CACHE_LINE_SIZE, socket));
    if (!b) throw std::runtime_error("lcore " + std::to_string(st.lcore_id) + ": TX buffer alloc");
    rte_eth_tx_buffer_init(b, kBurst);
    rte_eth_tx_buffer_set_err_callback(b, on_tx_unsent, &st.counters);
    st.ports[p].txb = b;
  }
}

void free_tx_buffers(LcoreState& st) {
  for (unsigned p = 0; p < st.n_ports; ++p) {
    rte_free(st.ports[p].txb);
    st.ports[p].txb = nullptr;
  }
}

int worker_main(void* arg) {
  LcoreState& st = *static_cast<LcoreState*>(arg);
  LcoreCounters& k = st.counters;
  const uint64_t drain_tsc = (rte_get_tsc_hz() + 999'999) / 1'000'000 * kDrainUs;
  uint64_t last_drain = rte_rdtsc();
  unsigned backoff_us = 1;
  rte_mbuf* pkts[kBurst];
  rte_mbuf* out[kBurst];

  rcu_register_thread();
  while (!st.stop->load(std::memory_order_relaxed)) {
    // Once per iteration; sv and zs are dead after the quiescent state below.
    const ServedVersion* sv = st.publisher->read(st.slot);
    const zones::ZoneSet* zs = sv ? sv->zs.get() : nullptr;
    st.vslot = sv ? sv->vslot : 0;
    uint32_t got = 0;
    for (unsigned p = 0; p < st.n_ports; ++p) {
      PortCtx& pc = st.ports[p];
      uint16_t nb = rte_eth_rx_burst(pc.port, pc.queue, pkts, kBurst);
      if (nb == 0) continue;
      got += nb;
      k.rx.add(nb);
      uint16_t n = process_burst(st, pc, zs, pkts, nb, out);
      // The answers to a burst go out as one burst, at once (as testpmd's
      // forwarding does), not through the l3fwd-style buffer the kernel's
      // frames use below. With the buffer (sent every 32 answers or
      // kDrainUs), bench/dataplane_e2e.sh's generator offered edgedns less
      // than the reflector (median ~400k vs ~540k q/s), sending per burst
      // ~550k. Likely cause: on AF_XDP each send is also the kernel's busy
      // poll of RX on this CPU (SO_PREFER_BUSY_POLL); fewer sends left more
      // of that work to softirqs on the generator's CPU. Answers the PMD
      // does not take are dropped and counted, as the buffer's callback does.
      if (n) {
        const uint16_t sent = rte_eth_tx_burst(pc.port, pc.queue, out, n);
        if (sent) k.tx.add(sent);
        if (sent < n) on_tx_unsent(out + sent, uint16_t(n - sent), &k);
      }
    }
    // What the kernel sends through the ports (exception path, slot 0 only).
    for (unsigned p = 0; p < st.n_ports; ++p) {
      PortCtx& pc = st.ports[p];
      if (!pc.from_kernel) continue;
      unsigned nk =
          rte_ring_sc_dequeue_burst(pc.from_kernel, reinterpret_cast<void**>(out), kBurst, nullptr);
      if (nk == 0) continue;
      got += nk;
      k.from_kernel.add(nk);
      uint64_t sent = 0;
      for (unsigned i = 0; i < nk; ++i)
        sent += rte_eth_tx_buffer(pc.port, pc.queue, pc.txb, out[i]);
      if (sent) k.tx.add(sent);
    }
    uint64_t now = rte_rdtsc();
    if (now - last_drain > drain_tsc) {
      for (unsigned p = 0; p < st.n_ports; ++p) {
        uint16_t sent =
            rte_eth_tx_buffer_flush(st.ports[p].port, st.ports[p].queue, st.ports[p].txb);
        if (sent) k.tx.add(sent);
      }
      last_drain = now;
    }
    rcu::quiescent_state();  // zs is dead from here on
    st.last_qs_tsc.store(now, std::memory_order_relaxed);
    if (got == 0 && st.idle_sleep) {
      for (unsigned p = 0; p < st.n_ports; ++p) {
        uint16_t sent =
            rte_eth_tx_buffer_flush(st.ports[p].port, st.ports[p].queue, st.ports[p].txb);
        if (sent) k.tx.add(sent);
      }
      k.idle_sleeps.add();
      rcu::thread_offline();  // a sleeping reader must not hold up grace periods
      timespec ts{0, long(backoff_us) * 1000};
      nanosleep(&ts, nullptr);
      rcu_thread_online();
      backoff_us = backoff_us * 2 > st.idle_sleep_max_us ? st.idle_sleep_max_us : backoff_us * 2;
    } else if (got) {
      backoff_us = 1;
    }
  }
  for (unsigned p = 0; p < st.n_ports; ++p) {
    uint16_t sent = rte_eth_tx_buffer_flush(st.ports[p].port, st.ports[p].queue, st.ports[p].txb);
    if (sent) k.tx.add(sent);
  }
  rcu::unregister_thread();
  return 0;
}

}  // namespace edgedns::dp
