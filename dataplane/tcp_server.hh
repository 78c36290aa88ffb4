// DNS over TCP (RFC 7766, RFC 1035 §4.2.2) served by edgedns on the kernel
// side of the exception path: ordinary kernel TCP sockets listening on the
// service addresses (the exception taps carry them), in a small pool of
// threads with an epoll loop each (SO_REUSEPORT spreads connections).
//
// Zone data: each thread is a liburcu QSBR reader of the same ZonePublisher
// as the lcores and reads the slot of the first worker lcore (slot 0): TCP
// answers from exactly the version that lcore serves, switches with it, and a
// canary published to a subset of lcores reaches TCP only when that subset
// includes the first worker lcore. A thread is online only while it answers a
// batch of queries (the publisher pointer is loaded once per batch and dead
// after it) and offline while it waits in epoll_wait, so it never holds up a
// grace period.
//
// Framing and limits: 2-byte length prefix; several queries per connection,
// pipelined, answered in order; answers up to 65,535 bytes, never TC. An idle
// connection (no bytes in either direction) is closed after idle_timeout_ms.
// Global limit max_connections: at the limit a new connection first evicts
// this thread's least recently active connection if that one has been quiet
// for >= evict_quiet_ms (1 s) and owes no answer, else the new one is closed at once (counted,
// the client retries elsewhere rather than hanging). Per client address at most
// max_per_client connections; per connection at most max_queries queries
// (0 = no limit), after which it is closed once its answers are written. A
// query the engine cannot read closes its connection (after the answers
// before it), as Knot and NSD do.
//
// Threads: start/stop and format_counters from the main/housekeeping thread;
// everything else runs on the server's own threads.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "dataplane/counters.hh"
#include "dataplane/packet.hh"

namespace edgedns::dp {

class ZonePublisher;

struct TcpConfig {
  unsigned threads = 2;              // a few suffice: TCP is the fallback, UDP is the fast path
  unsigned max_connections = 1024;   // all threads together; ~4 KB each while idle
  unsigned max_per_client = 64;      // per source address: one client cannot take them all
  unsigned idle_timeout_ms = 10000;  // Knot's tcp-idle-timeout default; RFC 7766 §6.2.3
  unsigned max_queries = 0;          // per connection, 0 = unlimited
  unsigned evict_quiet_ms = 1000;    // at the limit, a connection quiet this long may be evicted
  uint16_t port = 53;
  // NSID of TCP answers, followed by the served version (zones/answer.hh);
  // empty: none. main.cc names the lcore whose slot TCP reads.
  std::string nsid;
};

struct alignas(64) TcpCounters {
  Counter accepted, closed;
  Counter refused_limit;   // new connection closed at once: global limit, nothing to evict
  Counter refused_client;  // new connection closed at once: per-client limit
  Counter evicted;         // quiet connection closed to make room for a new one
  Counter timed_out;       // idle timeout
  Counter max_queries;     // closed after max_queries
  Counter queries;         // messages handed to the engine
  Counter rcode[16];       // answers written, by rcode
  Counter malformed;       // unreadable message: connection closed
  Counter no_zones;        // nothing published yet: connection closed
  Counter bytes_in, bytes_out;
};

class TcpServer {
 public:
  // `slot` is the publisher slot whose version TCP serves (see above).
  TcpServer(const ZonePublisher& pub, unsigned slot, const NodeAddrs& addrs, TcpConfig cfg);
  ~TcpServer();
  TcpServer(const TcpServer&) = delete;
  TcpServer& operator=(const TcpServer&) = delete;

  // Binds and listens on every service address (one socket per address per
  // thread, SO_REUSEPORT, IP_FREEBIND), then starts the threads; `thread_init`
  // runs first on each (CPU affinity). Throws std::runtime_error naming the
  // address on a bind/listen failure (nothing is left running then).
  void start(std::function<void()> thread_init);
  void stop();

  unsigned active() const noexcept { return active_.load(std::memory_order_relaxed); }
  // One line, `counters tcp key=value ...` (sums over the threads).
  std::string format_counters() const;
  // Sum of the threads' counters, for tests.
  uint64_t sum(Counter TcpCounters::*c) const;
  uint64_t sum_rcode(unsigned rcode) const;

  struct Shared;  // per-client counts, under a mutex (accept path only)

 private:
  struct Thread;
  const ZonePublisher& pub_;
  unsigned slot_;
  NodeAddrs addrs_;
  TcpConfig cfg_;
  std::atomic<unsigned> active_{0};
  std::atomic<bool> stop_{false};
  std::unique_ptr<Shared> shared_;
  std::vector<std::unique_ptr<Thread>> threads_;
};

}  // namespace edgedns::dp
