// The one server of the node control protocol, used by the node agent
// (edgedns --control / --control-listen), by `edgectl serve` and by the test
// fake node.
//
// Two kinds of listener. A unix stream socket (mode 0600 from the start; a
// stale socket left by a killed process is replaced, a live one or anything
// that is not a socket is refused): only root and the server's own uid may
// connect (SO_PEERCRED). A TCP port with mutual TLS (proto/tls.hh): only a
// client whose certificate the CA signed, and that carries an allowed name
// when a list is given; the handshake runs on the connection's thread, within
// handshake_timeout_ms, so a slow client delays no one else.
//
// An accept thread and one thread per connection, at most max_connections
// of them (the next client is told "busy" and closed). A connection that
// ends is reaped at once: its thread joined and its fd closed, so a
// long-running server holds only what its live clients use. Reads are
// incremental: memory follows the bytes received, not the length a peer
// announces, and a frame that stalls longer than frame_timeout_ms drops its
// connection (nothing was handled). A client that misbehaves ends only its
// own connection, with a log line naming it and the reason.
//
// Requests of one connection are handled in order on its thread; the handler
// must be safe to call from several connection threads at once. A handler
// may ask the Peer it is given whether the client is still there (a client
// that timed out and closed will never read the reply), and who it is.
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
#include "proto/tls.hh"

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
  // A TLS client must finish its handshake this soon after connecting.
  int handshake_timeout_ms = 10'000;
  // Runs first in every server thread (edgedns: keep them off the worker CPUs).
  std::function<void()> thread_init;
  // One line per refused or misbehaving client (its address or uid and the
  // reason). Empty: stderr.
  std::function<void(const std::string&)> log;
};

// The connection a request came on, as its handler sees it (valid during
// the call, on the connection's thread).
class Peer {
 public:
  struct Identity {
    // The first name of its TLS certificate, or "uid=N" on the unix socket.
    std::string name;
    // "ADDR:PORT" over TLS, "uid=N" on the unix socket.
    std::string address;
    std::vector<std::string> names;  // every name of its certificate (SAN DNS, then CN)
    long uid = -1;                   // on the unix socket; -1 over TLS
  };
  Peer(Stream& s, Identity id) : s_(s), id_(std::move(id)) {}
  // True when the client closed the connection (or it broke): a reply would
  // reach no one. A client that only ended its sending side is not gone.
  // Never blocks.
  bool gone() const { return s_.peer_gone(); }
  const Identity& identity() const { return id_; }

 private:
  Stream& s_;
  Identity id_;
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
  // Listens on ADDR:PORT ("[IPv6]:PORT"; port 0 picks one, see path()) for
  // TLS clients, each checked against `tls` and `allow` (names, any of which
  // the client's certificate must carry; empty: any the CA signed). Throws
  // std::runtime_error naming the address.
  void bind_tls(const std::string& listen, std::shared_ptr<const TlsContext> tls,
                std::vector<std::string> allow = {});
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
  // The socket path, or "tls://ADDR:PORT" (the port actually bound).
  const std::string& path() const { return path_; }

 private:
  struct Conn;
  void accept_loop();
  void serve(Conn* c);
  void reap(bool all);
  void wake();
  void log(const std::string& line) const;
  void admit(int fd);

  PeerHandler handler_;
  ServerOptions opt_;
  std::string path_;
  std::shared_ptr<const TlsContext> tls_;  // null: a unix socket
  std::vector<std::string> allow_;
  int listen_fd_ = -1;
  int wake_fd_[2] = {-1, -1};  // ends the accept loop's poll: stop, or a connection ended
  std::thread accept_thread_;
  std::mutex conn_mu_;
  std::vector<std::unique_ptr<Conn>> conns_;
  std::atomic<bool> stopping_{false};
};

}  // namespace edgedns::proto
