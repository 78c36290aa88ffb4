#include "dataplane/tcp_server.hh"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>
#include <mutex>
#include <stdexcept>

#include "dataplane/zone_publisher.hh"
#include "zones/answer.hh"

namespace edgedns::dp {

namespace {

constexpr int kListenBacklog = 1024;           // absorbs an accept burst between two epoll wakes
constexpr size_t kInitialIn = 4096;            // ~100 pipelined typical queries without a resize
constexpr size_t kMaxMessage = 65535;          // RFC 1035 §4.2.2: 2-byte length
constexpr size_t kMaxOutBacklog = 256 * 1024;  // stop reading while a slow reader owes this much
constexpr int kEpollWaitMs = 100;              // idle sweep and stop-flag granularity
constexpr int kEvents = 64;                    // events per epoll_wait
constexpr int kAcceptPerWake = 64;  // accepts per listener wake: others' events get a turn

uint64_t now_ms() {
  using namespace std::chrono;
  return uint64_t(duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count());
}

std::string addr_text(int family, const void* a) {
  char b[INET6_ADDRSTRLEN] = {};
  inet_ntop(family, a, b, sizeof b);
  return b;
}

}  // namespace

struct TcpServer::Shared {
  std::mutex mu;
  std::map<std::string, unsigned> per_client;  // 16-byte address key -> open connections
};

struct TcpServer::Thread {
  struct Ep {
    bool listener = false;
    int fd = -1;
  };
  struct Conn : Ep {
    std::string client;  // per-client key
    std::vector<uint8_t> in;
    size_t in_len = 0;
    std::vector<uint8_t> out;
    size_t out_off = 0;
    uint64_t last_ms = 0;
    uint32_t queries = 0;
    bool eof = false;      // peer sent FIN: answer what is buffered, then close
    bool closing = false;  // write what is owed, then close (no more reading)
    uint32_t events = 0;   // current epoll interest
    Conn* prev = nullptr;  // LRU by last activity, oldest first
    Conn* next = nullptr;
  };

  TcpServer& srv;
  int ep = -1;
  std::vector<Ep> listeners;
  Conn* lru_head = nullptr;
  Conn* lru_tail = nullptr;
  std::vector<uint8_t> scratch = std::vector<uint8_t>(kMaxMessage);
  zones::Query q;
  zones::AnswerConfig acfg;
  TcpCounters k;
  std::thread th;

  explicit Thread(TcpServer& s) : srv(s) {
    acfg.nsid = srv.cfg_.nsid;  // cfg_ outlives the threads
    acfg.nsid_version = true;
  }
  ~Thread() {
    while (lru_head) close_conn(lru_head, nullptr);
    for (Ep& l : listeners)
      if (l.fd >= 0) close(l.fd);
    if (ep >= 0) close(ep);
  }

  void lru_unlink(Conn* c) {
    (c->prev ? c->prev->next : lru_head) = c->next;
    (c->next ? c->next->prev : lru_tail) = c->prev;
    c->prev = c->next = nullptr;
  }
  void lru_push(Conn* c) {
    c->prev = lru_tail;
    c->next = nullptr;
    (lru_tail ? lru_tail->next : lru_head) = c;
    lru_tail = c;
  }
  void touch(Conn* c, uint64_t now) {
    c->last_ms = now;
    if (c != lru_tail) {
      lru_unlink(c);
      lru_push(c);
    }
  }

  void close_conn(Conn* c, Counter* why) {
    if (why) why->add();
    k.closed.add();
    lru_unlink(c);
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, nullptr);
    close(c->fd);
    {
      std::lock_guard lock(srv.shared_->mu);
      auto it = srv.shared_->per_client.find(c->client);
      if (it != srv.shared_->per_client.end() && --it->second == 0)
        srv.shared_->per_client.erase(it);
    }
    srv.active_.fetch_sub(1, std::memory_order_relaxed);
    delete c;
  }

  void set_events(Conn* c, uint32_t ev) {
    if (ev == c->events) return;
    epoll_event e{};
    e.events = ev;
    e.data.ptr = static_cast<Ep*>(c);
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e);
    c->events = ev;
  }

  void accept_from(Ep& l, uint64_t now) {
    for (int i = 0; i < kAcceptPerWake; ++i) {
      sockaddr_storage ss{};
      socklen_t sl = sizeof ss;
      int fd = accept4(l.fd, reinterpret_cast<sockaddr*>(&ss), &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) return;  // EAGAIN, or an aborted handshake: next wake
      std::string key(16, '\0');
      if (ss.ss_family == AF_INET)
        std::memcpy(key.data(), &reinterpret_cast<sockaddr_in*>(&ss)->sin_addr, 4);
      else std::memcpy(key.data(), &reinterpret_cast<sockaddr_in6*>(&ss)->sin6_addr, 16);
      if (srv.active_.load(std::memory_order_relaxed) >= srv.cfg_.max_connections) {
        Conn* old = lru_head;
        if (old && now - old->last_ms >= srv.cfg_.evict_quiet_ms &&
            old->out_off == old->out.size()) {
          close_conn(old, &k.evicted);
        } else {
          k.refused_limit.add();
          close(fd);
          continue;
        }
      }
      {
        std::lock_guard lock(srv.shared_->mu);
        unsigned& n = srv.shared_->per_client[key];
        if (n >= srv.cfg_.max_per_client) {
          if (n == 0) srv.shared_->per_client.erase(key);
          k.refused_client.add();
          close(fd);
          continue;
        }
        ++n;
      }
      srv.active_.fetch_add(1, std::memory_order_relaxed);
      int one = 1;
      // Pipelined answers go out as written; Nagle would hold the last one
      // for the client's delayed ACK.
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      auto* c = new Conn;
      c->fd = fd;
      c->client = std::move(key);
      c->in.resize(kInitialIn);
      c->last_ms = now;
      c->events = EPOLLIN | EPOLLRDHUP;
      lru_push(c);
      epoll_event e{};
      e.events = c->events;
      e.data.ptr = static_cast<Ep*>(c);
      epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
      k.accepted.add();
    }
  }

  // Answers every complete message in c->in (in order) while the output
  // backlog allows. RCU online only inside.
  void answer_buffered(Conn* c) {
    size_t off = 0;
    bool online = false;
    const zones::ZoneSet* zs = nullptr;
    while (!c->closing && c->in_len - off >= 2 && c->out.size() - c->out_off < kMaxOutBacklog) {
      size_t len = size_t(c->in[off]) << 8 | c->in[off + 1];
      if (c->in_len - off - 2 < len) break;
      if (!online) {
        rcu_thread_online();
        online = true;
        const ServedVersion* sv = srv.pub_.read(srv.slot_);
        zs = sv ? sv->zs.get() : nullptr;
      }
      const uint8_t* msg = c->in.data() + off + 2;
      off += 2 + len;
      k.queries.add();
      ++c->queries;
      if (zs == nullptr) {
        k.no_zones.add();
        c->closing = true;
        break;
      }
      zones::AnswerResult r{};
      if (zones::parse_query({msg, len}, q) != zones::QueryStatus::Drop)
        r = zones::answer(*zs, q, {scratch.data(), scratch.size()}, zones::Transport::Tcp, acfg);
      if (r.len == 0 || r.kind == zones::AnswerKind::Dropped) {
        k.malformed.add();
        c->closing = true;
        break;
      }
      k.rcode[r.rcode & 0x0f].add();
      uint8_t hdr[2] = {uint8_t(r.len >> 8), uint8_t(r.len)};
      c->out.insert(c->out.end(), hdr, hdr + 2);
      c->out.insert(c->out.end(), scratch.data(), scratch.data() + r.len);
      if (srv.cfg_.max_queries && c->queries >= srv.cfg_.max_queries) {
        k.max_queries.add();
        c->closing = true;
      }
    }
    if (online) rcu::thread_offline();  // zs is dead from here on
    if (off) {
      std::memmove(c->in.data(), c->in.data() + off, c->in_len - off);
      c->in_len -= off;
    }
  }

  // Returns false when the connection was closed.
  bool flush(Conn* c) {
    while (c->out_off < c->out.size()) {
      ssize_t n = send(c->fd, c->out.data() + c->out_off, c->out.size() - c->out_off, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        if (errno == EINTR) continue;
        close_conn(c, nullptr);
        return false;
      }
      k.bytes_out.add(uint64_t(n));
      c->out_off += size_t(n);
    }
    if (c->out_off == c->out.size()) {
      c->out.clear();
      c->out_off = 0;
    } else if (c->out_off > kMaxOutBacklog) {
      c->out.erase(c->out.begin(), c->out.begin() + long(c->out_off));
      c->out_off = 0;
    }
    return true;
  }

  // After any event: decides what to wait for next, or closes.
  void settle(Conn* c) {
    bool owes = c->out_off < c->out.size();
    if ((c->closing || c->eof) && !owes) {
      // eof with a partial message left: nothing more can complete it.
      close_conn(c, nullptr);
      return;
    }
    bool backlog = c->out.size() - c->out_off >= kMaxOutBacklog;
    grow_for_head(c);
    bool room = c->in_len < c->in.size();
    uint32_t ev = 0;
    // Level-triggered: a half-closed peer would wake us forever once seen.
    if (!c->closing && !c->eof && !backlog && room) ev |= EPOLLIN | EPOLLRDHUP;
    if (owes) ev |= EPOLLOUT;
    set_events(c, ev);
  }

  // Room for the whole message at the head of the buffer (up to 64 KiB + 2).
  static void grow_for_head(Conn* c) {
    if (c->in_len < 2) return;
    size_t need = 2 + (size_t(c->in[0]) << 8 | c->in[1]);
    if (need > c->in.size()) c->in.resize(need);
  }

  void on_readable(Conn* c, uint64_t now) {
    for (;;) {
      grow_for_head(c);
      if (c->in_len == c->in.size()) break;  // full of complete messages: answer first
      ssize_t n = recv(c->fd, c->in.data() + c->in_len, c->in.size() - c->in_len, 0);
      if (n > 0) {
        k.bytes_in.add(uint64_t(n));
        c->in_len += size_t(n);
        continue;
      }
      if (n == 0) {
        c->eof = true;
        break;
      }
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        close_conn(c, nullptr);
        return;
      }
      break;
    }
    touch(c, now);
    answer_buffered(c);
    if (!flush(c)) return;
    settle(c);
  }

  void on_writable(Conn* c, uint64_t now) {
    touch(c, now);
    if (!flush(c)) return;
    answer_buffered(c);  // what the backlog held back
    if (!flush(c)) return;
    settle(c);
  }

  void run() {
    rcu_register_thread();
    rcu::thread_offline();  // online only while answering
    epoll_event evs[kEvents];
    while (!srv.stop_.load(std::memory_order_relaxed)) {
      int n = epoll_wait(ep, evs, kEvents, kEpollWaitMs);
      uint64_t now = now_ms();
      for (int i = 0; i < n; ++i) {
        auto* e = static_cast<Ep*>(evs[i].data.ptr);
        if (e->listener) {
          accept_from(*e, now);
          continue;
        }
        auto* c = static_cast<Conn*>(e);
        uint32_t ev = evs[i].events;
        if (ev & (EPOLLERR | EPOLLHUP)) {
          close_conn(c, nullptr);
          continue;
        }
        if (ev & EPOLLOUT) {
          on_writable(c, now);
          // c may be gone; an IN event of the same wake waits for the next.
          continue;
        }
        if (ev & (EPOLLIN | EPOLLRDHUP)) on_readable(c, now);
      }
      while (lru_head && now - lru_head->last_ms >= srv.cfg_.idle_timeout_ms)
        close_conn(lru_head, &k.timed_out);
    }
    while (lru_head) close_conn(lru_head, nullptr);
    rcu_thread_online();
    rcu::unregister_thread();
  }
};

TcpServer::TcpServer(const ZonePublisher& pub, unsigned slot, const NodeAddrs& addrs, TcpConfig cfg)
    : pub_(pub), slot_(slot), addrs_(addrs), cfg_(cfg), shared_(std::make_unique<Shared>()) {
  if (cfg_.threads == 0) cfg_.threads = 1;
}

TcpServer::~TcpServer() { stop(); }

void TcpServer::start(std::function<void()> thread_init) {
  stop_.store(false);
  // max_connections sockets plus the process's own: the soft default of 1024
  // descriptors would run out first.
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  auto listen_on = [this](Thread& t, int family, const void* a) {
    std::string what = "TCP " + addr_text(family, a) + " port " + std::to_string(cfg_.port);
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) throw std::runtime_error(what + ": socket: " + std::strerror(errno));
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    // The address may still be coming up on the exception tap.
    if (family == AF_INET) {
      setsockopt(fd, IPPROTO_IP, IP_FREEBIND, &one, sizeof one);
    } else {
      setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
      setsockopt(fd, IPPROTO_IPV6, IPV6_FREEBIND, &one, sizeof one);
    }
    sockaddr_storage ss{};
    socklen_t sl;
    if (family == AF_INET) {
      auto* s4 = reinterpret_cast<sockaddr_in*>(&ss);
      s4->sin_family = AF_INET;
      s4->sin_port = htons(cfg_.port);
      std::memcpy(&s4->sin_addr, a, 4);
      sl = sizeof *s4;
    } else {
      auto* s6 = reinterpret_cast<sockaddr_in6*>(&ss);
      s6->sin6_family = AF_INET6;
      s6->sin6_port = htons(cfg_.port);
      std::memcpy(&s6->sin6_addr, a, 16);
      sl = sizeof *s6;
    }
    t.listeners.push_back({true, fd});  // closed by ~Thread from here on
    if (bind(fd, reinterpret_cast<sockaddr*>(&ss), sl) != 0)
      throw std::runtime_error(what + ": bind: " + std::strerror(errno));
    if (listen(fd, kListenBacklog) != 0)
      throw std::runtime_error(what + ": listen: " + std::strerror(errno));
  };
  try {
    for (unsigned i = 0; i < cfg_.threads; ++i) {
      auto t = std::make_unique<Thread>(*this);
      t->ep = epoll_create1(EPOLL_CLOEXEC);
      if (t->ep < 0) throw std::runtime_error(std::string("TCP: epoll: ") + std::strerror(errno));
      t->listeners.reserve(addrs_.n4 + addrs_.n6);  // epoll keeps pointers to them
      for (size_t a = 0; a < addrs_.n4; ++a) listen_on(*t, AF_INET, &addrs_.v4[a]);
      for (size_t a = 0; a < addrs_.n6; ++a) listen_on(*t, AF_INET6, addrs_.v6[a].data());
      for (Thread::Ep& l : t->listeners) {
        epoll_event e{};
        e.events = EPOLLIN;
        e.data.ptr = &l;
        epoll_ctl(t->ep, EPOLL_CTL_ADD, l.fd, &e);
      }
      threads_.push_back(std::move(t));
    }
  } catch (...) {
    threads_.clear();
    throw;
  }
  for (auto& t : threads_) {
    Thread* tp = t.get();
    tp->th = std::thread([tp, init = thread_init] {
      if (init) init();
      pthread_setname_np(pthread_self(), "edgedns-tcp");
      tp->run();
    });
  }
}

void TcpServer::stop() {
  stop_.store(true);
  for (auto& t : threads_)
    if (t->th.joinable()) t->th.join();
}

uint64_t TcpServer::sum(Counter TcpCounters::*c) const {
  uint64_t s = 0;
  for (const auto& t : threads_) s += (t->k.*c).get();
  return s;
}

uint64_t TcpServer::sum_rcode(unsigned rcode) const {
  uint64_t s = 0;
  for (const auto& t : threads_) s += t->k.rcode[rcode & 15].get();
  return s;
}

std::string TcpServer::format_counters() const {
  std::string s = "counters tcp threads=" + std::to_string(threads_.size()) +
                  " active=" + std::to_string(active());
  auto kv = [&s](const char* key, uint64_t v) {
    s += std::string(" ") + key + "=" + std::to_string(v);
  };
  uint64_t answers = 0;
  for (unsigned r = 0; r < 16; ++r) answers += sum_rcode(r);
  kv("queries", sum(&TcpCounters::queries));
  kv("answers", answers);
  kv("noerror", sum_rcode(0));
  kv("formerr", sum_rcode(1));
  kv("servfail", sum_rcode(2));
  kv("nxdomain", sum_rcode(3));
  kv("notimp", sum_rcode(4));
  kv("refused", sum_rcode(5));
  kv("accepted", sum(&TcpCounters::accepted));
  kv("closed", sum(&TcpCounters::closed));
  kv("timed_out", sum(&TcpCounters::timed_out));
  kv("evicted", sum(&TcpCounters::evicted));
  kv("refused_limit", sum(&TcpCounters::refused_limit));
  kv("refused_client", sum(&TcpCounters::refused_client));
  kv("max_queries_closed", sum(&TcpCounters::max_queries));
  kv("malformed", sum(&TcpCounters::malformed));
  kv("no_zones", sum(&TcpCounters::no_zones));
  kv("bytes_in", sum(&TcpCounters::bytes_in));
  kv("bytes_out", sum(&TcpCounters::bytes_out));
  return s;
}

}  // namespace edgedns::dp
