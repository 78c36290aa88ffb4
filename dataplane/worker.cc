#include "dataplane/worker.hh"

#include <rte_cycles.h>
#include <rte_malloc.h>
#include <rte_prefetch.h>

#include <ctime>
#include <stdexcept>
#include <string>

#include "dataplane/zone_publisher.hh"

namespace edgedns::dp {

namespace {

inline void send_after(rte_mbuf* m, size_t len, rte_mbuf** out, uint16_t& n_out) noexcept {
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
// answer class (the four classes; Knot keeps it apart as "empty").
inline RrlClass rrl_class(zones::AnswerKind k) noexcept {
  switch (k) {
    case zones::AnswerKind::NxDomain: return RrlClass::NxDomain;
    case zones::AnswerKind::Referral: return RrlClass::Referral;
    case zones::AnswerKind::Error: return RrlClass::Error;
    default: return RrlClass::Answer;
  }
}

}  // namespace

uint16_t process_burst(LcoreState& st, const PortCtx& pc, const zones::ZoneSet* zs,
                       rte_mbuf** pkts, uint16_t nb, rte_mbuf** out) noexcept {
  LcoreCounters& k = st.counters;
  VersionCounters& vc = st.vcounters[st.vslot];
  uint16_t n_out = 0, n_dns = 0, n_exc = 0;
  for (unsigned i = 0; i < kPrefetchAhead && i < nb; ++i)
    rte_prefetch0(rte_pktmbuf_mtod(pkts[i], void*));

  // Pass 1: classify; answer ARP/ND/echo at once; parse every DNS query.
  for (uint16_t i = 0; i < nb; ++i) {
    if (i + kPrefetchAhead < nb) rte_prefetch0(rte_pktmbuf_mtod(pkts[i + kPrefetchAhead], void*));
    rte_mbuf* m = pkts[i];
    if (m->nb_segs != 1) {
      k.late_drop[size_t(LateDrop::MultiSegment)].add();
      vc.malformed.add();
      rte_pktmbuf_free(m);
      continue;
    }
    uint8_t* f = rte_pktmbuf_mtod(m, uint8_t*);
    size_t len = m->data_len;
    Classified c = classify(f, len, pc.addrs);
    // RX flags must not read as TX requests on the way out. A tag the port
    // stripped (AF_PACKET does) goes back on the reply: vlan_tci stays as is.
    m->ol_flags = (m->ol_flags & RTE_MBUF_F_RX_VLAN_STRIPPED) ? RTE_MBUF_F_TX_VLAN : 0;
    switch (c.kind) {
      case Kind::Dns4:
      case Kind::Dns6: {
        zones::Query& q = st.queries[n_dns];
        if (zones::parse_query({f + c.payload_off, c.payload_len}, q) == zones::QueryStatus::Drop) {
          k.late_drop[size_t(LateDrop::DnsUnparsable)].add();
          vc.malformed.add();
          rte_pktmbuf_free(m);
          break;
        }
        st.cls[n_dns] = c;
        st.dns[n_dns++] = m;
        break;
      }
      case Kind::Arp:
        k.arp_replies.add();
        send_after(m, arp_reply(f, len, c, pc.addrs), out, n_out);
        break;
      case Kind::Ns: {
        size_t n = nd_advert(f, frame_cap(m, c, pc.mtu), c, pc.addrs);
        if (n == 0) {
          k.late_drop[size_t(LateDrop::TooSmall)].add();
          rte_pktmbuf_free(m);
          break;
        }
        k.nd_adverts.add();
        send_after(m, n, out, n_out);
        break;
      }
      case Kind::Echo4:
      case Kind::Echo6:
        (c.kind == Kind::Echo4 ? k.echo4_replies : k.echo6_replies).add();
        send_after(m, echo_reply(f, len, c, pc.addrs), out, n_out);
        break;
      case Kind::Drop:
        if (st.to_kernel && wants_kernel(f, len, c, pc.addrs.mac)) {
          st.exc[n_exc++] = m;  // the host's, not ours: the kernel decides
          break;
        }
        k.drop[size_t(c.reason)].add();
        if (c.reason == DropReason::Malformed) vc.malformed.add();
        rte_pktmbuf_free(m);
        break;
    }
  }
  if (n_exc) hand_to_kernel(st, n_exc);
  if (n_dns == 0) return n_out;
  k.queries.add(n_dns);
  vc.queries.add(n_dns);
  if (zs == nullptr) {
    k.late_drop[size_t(LateDrop::NoZones)].add(n_dns);
    rte_pktmbuf_free_bulk(st.dns, n_dns);
    return n_out;
  }

  // Pass 2: look up and prefetch every slot, then every node, the burst needs
  // before answering any of it (hints left in the queries for answer()).
  zones::prefetch_burst(*zs, st.queries, n_dns);

  // Pass 3: answer in place and rewrite the headers around the answer.
  const uint64_t rrl_now = st.rrl.enabled() ? rte_rdtsc() : 0;  // one clock read per burst
  for (uint16_t j = 0; j < n_dns; ++j) {
    rte_mbuf* m = st.dns[j];
    const Classified& c = st.cls[j];
    uint8_t* f = rte_pktmbuf_mtod(m, uint8_t*);
    size_t cap = frame_cap(m, c, pc.mtu) - c.payload_off;
    zones::AnswerResult r =
        zones::answer(*zs, st.queries[j], {f + c.payload_off, cap}, zones::Transport::Udp,
                      st.answer_cfg);
    if (r.len == 0 || r.kind == zones::AnswerKind::Dropped) {
      k.late_drop[size_t(LateDrop::EngineDropped)].add();
      vc.dropped.add();
      rte_pktmbuf_free(m);
      continue;
    }
    if (st.rrl.enabled()) {
      const uint8_t* ip = f + c.l2_len;
      const bool v6 = c.kind == Kind::Dns6;
      RrlAction a = st.rrl.check(v6 ? ip + 8 : ip + 12, v6, rrl_class(r.kind), rrl_now);
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
    k.rcode[r.rcode & 0x0f].add();
    vc.rcode[(r.rcode & 0x0f) < kVersionRcodes - 1 ? (r.rcode & 0x0f) : kVersionRcodes - 1].add();
    if (r.truncated) k.truncated.add();
    size_t n = udp_reply(f, c, r.len, pc.addrs, pc.offload, r.has_sum ? r.sum : kNoSum);
    if (pc.offload.ip4 || pc.offload.udp) {
      m->l2_len = c.l2_len;
      m->l3_len = c.l3_len;
      if (c.kind == Kind::Dns4) {
        m->ol_flags |= RTE_MBUF_F_TX_IPV4 | (pc.offload.ip4 ? RTE_MBUF_F_TX_IP_CKSUM : 0) |
                      (pc.offload.udp ? RTE_MBUF_F_TX_UDP_CKSUM : 0);
      } else if (pc.offload.udp) {
        m->ol_flags |= RTE_MBUF_F_TX_IPV6 | RTE_MBUF_F_TX_UDP_CKSUM;
      }
    }
    send_after(m, n, out, n_out);
  }
  return n_out;
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

void init_tx_buffers(LcoreState& st, int socket) {
  for (unsigned p = 0; p < st.n_ports; ++p) {
    auto* b = static_cast<rte_eth_dev_tx_buffer*>(
        rte_zmalloc_socket("edgedns_txb", RTE_ETH_TX_BUFFER_SIZE(kBurst), RTE_CACHE_LINE_SIZE,
                           socket));
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
      uint64_t sent = 0;
      for (uint16_t i = 0; i < n; ++i) sent += rte_eth_tx_buffer(pc.port, pc.queue, pc.txb, out[i]);
      if (sent) k.tx.add(sent);
    }
    // What the kernel sends through the ports (exception path, slot 0 only).
    for (unsigned p = 0; p < st.n_ports; ++p) {
      PortCtx& pc = st.ports[p];
      if (!pc.from_kernel) continue;
      unsigned nk = rte_ring_sc_dequeue_burst(pc.from_kernel, reinterpret_cast<void**>(out), kBurst,
                                              nullptr);
      if (nk == 0) continue;
      got += nk;
      k.from_kernel.add(nk);
      uint64_t sent = 0;
      for (unsigned i = 0; i < nk; ++i) sent += rte_eth_tx_buffer(pc.port, pc.queue, pc.txb, out[i]);
      if (sent) k.tx.add(sent);
    }
    uint64_t now = rte_rdtsc();
    if (now - last_drain > drain_tsc) {
      for (unsigned p = 0; p < st.n_ports; ++p) {
        uint16_t sent = rte_eth_tx_buffer_flush(st.ports[p].port, st.ports[p].queue, st.ports[p].txb);
        if (sent) k.tx.add(sent);
      }
      last_drain = now;
    }
    rcu_quiescent_state();  // zs is dead from here on
    st.last_qs_tsc.store(now, std::memory_order_relaxed);
    if (got == 0 && st.idle_sleep) {
      for (unsigned p = 0; p < st.n_ports; ++p) {
        uint16_t sent = rte_eth_tx_buffer_flush(st.ports[p].port, st.ports[p].queue, st.ports[p].txb);
        if (sent) k.tx.add(sent);
      }
      k.idle_sleeps.add();
      rcu_thread_offline();  // a sleeping reader must not hold up grace periods
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
  rcu_unregister_thread();
  return 0;
}

}  // namespace edgedns::dp
