#include "proto/server.hh"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include "proto/client.hh"

namespace edgedns::proto {

using nlohmann::json;

struct Server::Conn {
  int fd = -1;  // the connection's socket: shut down by reap() from any thread
  Peer::Identity id;
  std::unique_ptr<Stream> s;  // set by the connection's thread (after the TLS handshake)
  std::thread t;
  std::atomic<bool> done{false};
  ~Conn() {
    s.reset();
    if (fd >= 0) ::close(fd);
  }
};

Server::Server(Handler h, ServerOptions o)
    : handler_([h = std::move(h)](const std::string& frame, const Peer&) { return h(frame); }),
      opt_(std::move(o)) {}

Server::Server(PeerHandler h, ServerOptions o) : handler_(std::move(h)), opt_(std::move(o)) {}

Server::~Server() { stop(); }

void Server::bind(const std::string& path) {
  sockaddr_un sa{};
  if (path.empty() || path.size() >= sizeof sa.sun_path)
    throw std::runtime_error("control socket path '" + path + "' is empty or too long");
  if (listen_fd_ >= 0)
    throw std::runtime_error("control socket " + path + ": server already bound");
  struct stat st;
  if (::lstat(path.c_str(), &st) == 0) {
    // Only a socket may be replaced: a mistyped --socket must not delete a file.
    if (!S_ISSOCK(st.st_mode))
      throw std::runtime_error("control socket " + path +
                               " exists and is not a socket; refusing to replace it");
    std::string err;
    int probe = connect_unix(path, &err);
    if (probe >= 0) {
      ::close(probe);
      throw std::runtime_error("control socket " + path + " is in use by another process");
    }
    ::unlink(path.c_str());  // stale: its process is gone (kill -9)
  }
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error(std::string("control socket: ") + std::strerror(errno));
  sa.sun_family = AF_UNIX;
  std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
  // Created 0600 from the start (no window with wider permissions). umask is
  // process-wide: this is brief, and callers bind before their own threads
  // create files.
  mode_t old = ::umask(0177);
  int rc = ::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  int bind_errno = errno;
  ::umask(old);
  if (rc < 0 || ::chmod(path.c_str(), 0600) < 0 || ::listen(fd, int(opt_.max_connections)) < 0) {
    int e = rc < 0 ? bind_errno : errno;
    ::close(fd);
    if (rc == 0) ::unlink(path.c_str());
    throw std::runtime_error("control socket " + path + ": " + std::strerror(e));
  }
  if (::pipe2(wake_fd_, O_CLOEXEC | O_NONBLOCK) < 0) {
    int e = errno;
    ::close(fd);
    ::unlink(path.c_str());
    throw std::runtime_error(std::string("control socket pipe: ") + std::strerror(e));
  }
  listen_fd_ = fd;
  path_ = path;
}

void Server::bind_tls(const std::string& listen, std::shared_ptr<const TlsContext> tls,
                      std::vector<std::string> allow) {
  const std::string what = "control listener " + listen;
  if (listen_fd_ >= 0) throw std::runtime_error(what + ": server already bound");
  if (!tls || tls->role() != TlsContext::Role::Server)
    throw std::runtime_error(what + ": no TLS server context");
  Endpoint ep;
  std::string err;
  if (!parse_endpoint(listen, &ep, &err, /*port_zero=*/true))
    throw std::runtime_error(what + ": " + err);
  sockaddr_storage ss{};
  socklen_t len;
  auto* a4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* a6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (::inet_pton(AF_INET, ep.host.c_str(), &a4->sin_addr) == 1) {
    a4->sin_family = AF_INET;
    a4->sin_port = htons(ep.port);
    len = sizeof *a4;
  } else if (::inet_pton(AF_INET6, ep.host.c_str(), &a6->sin6_addr) == 1) {
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons(ep.port);
    len = sizeof *a6;
  } else {
    throw std::runtime_error(what + ": '" + ep.host + "' is not an IPv4 or IPv6 address");
  }
  int fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error(what + ": socket: " + std::strerror(errno));
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);  // restart while old conns linger
  if (ss.ss_family == AF_INET6) ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) < 0 ||
      ::listen(fd, int(opt_.max_connections)) < 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) < 0) {
    int e = errno;
    ::close(fd);
    throw std::runtime_error(what + ": " + std::strerror(e));
  }
  ep.port = ntohs(ss.ss_family == AF_INET ? a4->sin_port : a6->sin6_port);
  if (::pipe2(wake_fd_, O_CLOEXEC | O_NONBLOCK) < 0) {
    int e = errno;
    ::close(fd);
    throw std::runtime_error(what + ": pipe: " + std::strerror(e));
  }
  listen_fd_ = fd;
  tls_ = std::move(tls);
  allow_ = std::move(allow);
  path_ = "tls://" + ep.str();
}

void Server::log(const std::string& line) const {
  if (opt_.log) opt_.log(line);
  else std::fprintf(stderr, "%s\n", line.c_str());
}

void Server::start() {
  if (listen_fd_ < 0) throw std::runtime_error("control socket: start() before bind()");
  stopping_ = false;
  accept_thread_ = std::thread([this] { accept_loop(); });
}

void Server::wake() {
  char b = 1;
  (void)!::write(wake_fd_[1], &b, 1);  // a full pipe already wakes the loop
}

void Server::stop() {
  if (listen_fd_ < 0) return;
  stopping_ = true;
  wake();
  if (accept_thread_.joinable()) accept_thread_.join();
  reap(true);
  ::close(listen_fd_);
  ::close(wake_fd_[0]);
  ::close(wake_fd_[1]);
  listen_fd_ = wake_fd_[0] = wake_fd_[1] = -1;
  if (!tls_) ::unlink(path_.c_str());
}

size_t Server::connections() {
  std::lock_guard lock(conn_mu_);
  return conns_.size();
}

void Server::reap(bool all) {
  std::vector<std::unique_ptr<Conn>> gone;
  {
    std::lock_guard lock(conn_mu_);
    for (auto it = conns_.begin(); it != conns_.end();) {
      if (all || (*it)->done.load()) {
        if (all) ::shutdown((*it)->fd, SHUT_RDWR);  // unblocks its reader (or handshake)
        gone.push_back(std::move(*it));
        it = conns_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& c : gone)
    if (c->t.joinable()) c->t.join();
  // ~Conn closes the fds.
}

void Server::accept_loop() {
  if (opt_.thread_init) opt_.thread_init();
  while (!stopping_) {
    pollfd p[2] = {{listen_fd_, POLLIN, 0}, {wake_fd_[0], POLLIN, 0}};
    int r = ::poll(p, 2, -1);
    if (p[1].revents & POLLIN) {
      char buf[64];
      while (::read(wake_fd_[0], buf, sizeof buf) > 0) {
      }
    }
    reap(false);
    if (r <= 0 || stopping_ || !(p[0].revents & POLLIN)) continue;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd >= 0) admit(fd);
  }
}

// A new connection: its identity (unix: only root and our uid get in), then
// a thread, unless max_connections are live.
void Server::admit(int fd) {
  auto c = std::make_unique<Conn>();
  c->fd = fd;
  if (tls_) {
    c->id.address = socket_peer_address(fd);
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  } else {
    ucred cred{};
    socklen_t len = sizeof cred;
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 ||
        (cred.uid != 0 && cred.uid != ::geteuid())) {
      log("control: refused a client of uid " + std::to_string(cred.uid) + " on " + path_ +
          ": only root and uid " + std::to_string(::geteuid()) + " may connect");
      return;  // closed without even an error frame
    }
    c->id.uid = long(cred.uid);
    c->id.name = c->id.address = "uid=" + std::to_string(cred.uid);
  }
  std::lock_guard lock(conn_mu_);
  if (conns_.size() >= opt_.max_connections) {
    log("control: refused " + c->id.address + " on " + path_ + ": " +
        std::to_string(opt_.max_connections) + " connections already open");
    // Plain "busy" on the unix socket; a TLS client gets no frame before
    // its handshake, only the close.
    if (!tls_) {
      FdStream s(fd, /*owns=*/false);
      write_frame(s, dump_message(make_error(nullptr, "busy", "too many control connections")),
                  opt_.write_timeout_ms > 1000 ? 1000 : opt_.write_timeout_ms);
    }
    return;
  }
  Conn* raw = c.get();
  c->t = std::thread([this, raw] { serve(raw); });
  conns_.push_back(std::move(c));
}

void Server::serve(Conn* c) {
  if (opt_.thread_init) opt_.thread_init();
  if (tls_) {
    std::string why;
    auto s = tls_accept(*tls_, c->fd, c->id.address, allow_, opt_.handshake_timeout_ms, &why);
    if (!s) {
      log("control: refused " + c->id.address + " on " + path_ + ": " + why);
      c->done = true;
      wake();
      return;
    }
    c->id.names = s->peer_names();
    // The name that let it in; else its first name; else its address.
    const std::string* name = find_allowed(c->id.names, allow_);
    c->id.name = name ? *name : c->id.names.empty() ? c->id.address : c->id.names.front();
    c->s = std::move(s);
  } else {
    c->s = std::make_unique<FdStream>(c->fd, /*owns=*/false);
  }
  const ReadLimits lim{opt_.max_frame, opt_.idle_timeout_ms, opt_.frame_timeout_ms};
  const Peer peer(*c->s, c->id);
  const std::string who =
      c->id.name == c->id.address ? c->id.address : c->id.name + " (" + c->id.address + ")";
  std::string frame;
  while (!stopping_) {
    uint32_t announced = 0;
    IoStatus st = read_frame(*c->s, frame, lim, &announced);
    if (st == IoStatus::TooLarge) {
      log("control: " + who + " on " + path_ + ": frame of " + std::to_string(announced) +
          " bytes exceeds the limit of " + std::to_string(opt_.max_frame) + "; closed");
      // The rest of the stream cannot be resynchronised: answer and close.
      write_frame(*c->s,
                  dump_message(make_error(
                      nullptr, "bad_request",
                      "frame of " + std::to_string(announced) + " bytes exceeds the limit")),
                  opt_.write_timeout_ms);
      break;
    }
    if (st == IoStatus::Timeout || st == IoStatus::Error) {
      // Closed, stalled or cut mid-frame: nothing of it was handled.
      if (!stopping_) {
        std::string detail = c->s->last_error();
        log("control: " + who + " on " + path_ + ": " +
            (st == IoStatus::Timeout ? "stalled mid-frame" : "connection broke") +
            (detail.empty() ? "" : " (" + detail + ")") + "; closed");
      }
      break;
    }
    if (st != IoStatus::Ok) break;  // an orderly end
    json reply;
    try {
      reply = handler_(frame, peer);
    } catch (const std::exception& e) {
      reply = make_error(nullptr, "bad_request", e.what());
    }
    frame.clear();
    frame.shrink_to_fit();  // an idle connection keeps no upload-sized buffer
    if (!write_frame(*c->s, dump_message(reply), opt_.write_timeout_ms)) break;
  }
  c->done = true;
  wake();  // the accept loop reaps this connection now, not at its next accept
}

}  // namespace edgedns::proto
