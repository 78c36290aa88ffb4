// The one server of the node control protocol, used by the node agent
// (edgedns --control), by `edgectl serve` and by the test fake node.
//
// A unix stream socket (mode 0600 from the start; a stale socket left by a
// killed process is replaced, a live one or anything that is not a socket is
// refused), an accept thread and one thread per connection, at most
// max_connections of them (the next client is told "busy" and closed). A
// connection that ends is reaped at once: its thread joined and its fd
// closed, so a long-running server holds only what its live clients use.
// Reads are incremental: memory follows the bytes received, not the length a
// peer announces, and a frame that stalls longer than frame_timeout_ms drops
// its connection (nothing was handled). Only root and the server's own uid
// may connect (SO_PEERCRED). A client that misbehaves ends only its own
// connection.
//
// Requests of one connection are handled in order on its thread; the handler
// must be safe to call from several connection threads at once. A handler
// may ask the Peer it is given whether the client is still there (a client
// that timed out and closed will never read the reply).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "proto/framing.hh"
#include "proto/stream.hh"

namespace edgedns::proto {

struct ServerOptions {
  // Concurrent connections: edgectl and an operator's status poll need a
  // few; each blocked reader is a thread, so a bound keeps a misbehaving
  // client from growing the process.
  unsigned max_connections = 16;
  uint32_t max_frame = kMaxFrame;
  // Waiting for the next request has no limit: `rollout watch` and the
  // daemon's node connections stay open between commands.
  int idle_timeout_ms = -1;
  // A frame whose header or body stalls this long is abandoned.
  int frame_timeout_ms = 30'000;
  // A reply the client does not read within this long drops the connection.
  int write_timeout_ms = 30'000;
  // Runs first in every server thread (edgedns: keep them off the worker CPUs).
  std::function<void()> thread_init;
};

// The connection a request came on, as its handler sees it (valid during
// the call, on the connection's thread).
class Peer {
 public:
  explicit Peer(Stream& s) : s_(s) {}
  // True when the client closed the connection (or it broke): a reply would
  // reach no one. A client that only ended its sending side is not gone.
  // Never blocks.
  bool gone() const { return s_.peer_gone(); }

 private:
  Stream& s_;
};

class Server {
 public:
  // One request frame -> its reply (framing errors included: the frame may
  // be anything). Exceptions are turned into a bad_request reply.
  using Handler = std::function<nlohmann::json(const std::string& frame)>;
  // The same, told which connection the frame came on.
  using PeerHandler = std::function<nlohmann::json(const std::string& frame, const Peer& peer)>;

  Server(Handler h, ServerOptions o = {});
  Server(PeerHandler h, ServerOptions o = {});
  ~Server();  // stop()
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and listens on PATH; throws std::runtime_error naming the path
  // (not a socket, in use, too long, permissions). Nothing is accepted yet.
  void bind(const std::string& path);
  // Starts the accept thread (after bind).
  void start();
  void start(const std::string& path) {
    bind(path);
    start();
  }
  // Closes the socket and removes it, ends every connection, joins the
  // threads. start() may follow (a restart).
  void stop();

  // Live connections (tests).
  size_t connections();
  const std::string& path() const { return path_; }

 private:
  struct Conn;
  void accept_loop();
  void serve(Conn* c);
  void reap(bool all);
  void wake();

  PeerHandler handler_;
  ServerOptions opt_;
  std::string path_;
  int listen_fd_ = -1;
  int wake_fd_[2] = {-1, -1};  // ends the accept loop's poll: stop, or a connection ended
  std::thread accept_thread_;
  std::mutex conn_mu_;
  std::vector<std::unique_ptr<Conn>> conns_;
  std::atomic<bool> stopping_{false};
};

}  // namespace edgedns::proto
