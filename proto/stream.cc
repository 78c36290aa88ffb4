#include "proto/stream.hh"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <cerrno>
#include <cstring>

namespace edgedns::proto {

bool wait_fd(int fd, short events, int timeout_ms) {
  pollfd p{fd, events, 0};
  for (;;) {
    int r = ::poll(&p, 1, timeout_ms);
    if (r > 0) return true;
    if (r == 0) {
      errno = ETIMEDOUT;
      return false;
    }
    if (errno != EINTR) return false;
  }
}

FdStream::~FdStream() {
  if (owns_ && fd_ >= 0) ::close(fd_);
}

ssize_t FdStream::read_some(void* buf, size_t n, int timeout_ms) {
  for (;;) {
    if (!wait_fd(fd_, POLLIN, timeout_ms)) return -1;
    ssize_t r = ::read(fd_, buf, n);
    if (r >= 0) return r;
    if (errno == EINTR || errno == EAGAIN) continue;
    return -1;
  }
}

bool FdStream::write_all(const void* buf, size_t n, int timeout_ms) {
  const auto* p = static_cast<const char*>(buf);
  while (n) {
    if (!wait_fd(fd_, POLLOUT, timeout_ms)) return false;
    // MSG_NOSIGNAL: a peer gone away is an error here, not a SIGPIPE.
    ssize_t w = ::send(fd_, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w < 0 && errno == ENOTSOCK) w = ::write(fd_, p, n);
    if (w < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return false;
    }
    p += w;
    n -= size_t(w);
  }
  return true;
}

void FdStream::shutdown() { ::shutdown(fd_, SHUT_RDWR); }

bool FdStream::peer_gone() {
  // POLLHUP on a unix stream socket means both directions are shut: the
  // peer closed (or shut down its reading side too). A half-close by the
  // peer only raises POLLRDHUP, and such a client still reads its reply.
  pollfd p{fd_, 0, 0};  // no events asked: POLLHUP/POLLERR/POLLNVAL are always reported
  int r;
  do {
    r = ::poll(&p, 1, 0);
  } while (r < 0 && errno == EINTR);
  return r > 0 && (p.revents & (POLLHUP | POLLERR | POLLNVAL));
}

std::unique_ptr<FdStream> connect_unix_stream(const std::string& path, std::string* err) {
  sockaddr_un sa{};
  if (path.empty() || path.size() >= sizeof sa.sun_path) {
    if (err) *err = "socket path '" + path + "' is empty or too long";
    return nullptr;
  }
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    if (err) *err = std::string("socket: ") + std::strerror(errno);
    return nullptr;
  }
  sa.sun_family = AF_UNIX;
  std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0) {
    if (err) *err = "cannot connect to " + path + ": " + std::strerror(errno);
    ::close(fd);
    return nullptr;
  }
  return std::make_unique<FdStream>(fd);
}

}  // namespace edgedns::proto
