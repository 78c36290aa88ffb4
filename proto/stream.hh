// The byte stream a protocol connection runs over. The framing, the server
// and the client only see this interface, so that a TLS stream (wrapping the
// same socket) can take the place of the plain one without touching them.
// One reader and one writer thread at a time; shutdown() from any thread.
#pragma once

#include <sys/types.h>
#include <cstddef>
#include <memory>
#include <string>

namespace edgedns::proto {

class Stream {
 public:
  virtual ~Stream() = default;
  // Up to n bytes, waiting at most timeout_ms for the first of them (-1: no
  // limit). >0 bytes read, 0 orderly end of stream, -1 error or timeout
  // (errno ETIMEDOUT for a timeout).
  virtual ssize_t read_some(void* buf, size_t n, int timeout_ms) = 0;
  // All n bytes, each wait at most timeout_ms (-1: no limit). False on
  // error or timeout (errno set).
  virtual bool write_all(const void* buf, size_t n, int timeout_ms) = 0;
  // Ends both directions: a reader blocked on another thread returns.
  virtual void shutdown() = 0;
  // True when the peer can no longer receive anything (it closed the
  // connection, or the connection broke); a peer that only ended its sending
  // side is still there. Never blocks. Any thread.
  virtual bool peer_gone() = 0;
  // What the last failed read or write ran into, when errno cannot say it
  // (a TLS alert from the peer); empty otherwise.
  virtual std::string last_error() const { return {}; }
};

// A connected stream socket (or any fd: a pipe in a test). Closes the fd on
// destruction when it owns it.
class FdStream final : public Stream {
 public:
  explicit FdStream(int fd, bool owns = true) : fd_(fd), owns_(owns) {}
  ~FdStream() override;
  FdStream(const FdStream&) = delete;
  FdStream& operator=(const FdStream&) = delete;
  ssize_t read_some(void* buf, size_t n, int timeout_ms) override;
  bool write_all(const void* buf, size_t n, int timeout_ms) override;
  void shutdown() override;
  bool peer_gone() override;
  int fd() const { return fd_; }
  // Gives up the fd (the caller closes it).
  int release() {
    int f = fd_;
    fd_ = -1;
    return f;
  }

 private:
  int fd_;
  bool owns_;
};

// Waits for `events` on fd, at most timeout_ms (-1: no limit); false with
// errno ETIMEDOUT (or poll's) when it should give up. An error or hang-up
// counts as ready: the read or write that follows reports it.
bool wait_fd(int fd, short events, int timeout_ms);

// Connects to a unix stream socket; nullptr with *err (naming the path) on failure.
std::unique_ptr<FdStream> connect_unix_stream(const std::string& path, std::string* err);

}  // namespace edgedns::proto
