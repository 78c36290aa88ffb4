// Mutual TLS for the control protocol over TCP (OpenSSL; TLS 1.3 only).
// Both sides present a certificate signed by the one CA they are given;
// the server refuses a client without one. The client checks that the
// server's certificate carries the name it expects (SAN DNS or subject CN);
// the server may restrict clients to a list of names.
//
// A TlsContext is built once (it reads the files) and shared by every
// connection; a TlsStream is one connection over a non-blocking socket,
// with the timeouts of proto::Stream. Control threads; may block.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "proto/stream.hh"

struct ssl_ctx_st;
struct ssl_st;

namespace edgedns::proto {

struct TlsFiles {
  std::string cert, key, ca;  // PEM: our certificate (chain), its private key, the CA to trust
};

class TlsContext {
 public:
  enum class Role { Server, Client };
  // Reads and checks the files: throws std::runtime_error naming the file and
  // the reason (missing, not PEM, key does not match the certificate, our
  // certificate expired: every peer would refuse it; tests that need to
  // present one anyway pass refuse_expired = false).
  TlsContext(Role role, const TlsFiles& files, bool refuse_expired = true);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;
  Role role() const { return role_; }
  ssl_ctx_st* native() const { return ctx_; }

 private:
  Role role_;
  ssl_ctx_st* ctx_ = nullptr;
};

class TlsStream final : public Stream {
 public:
  // Takes ssl (handshake done on fd, a connected non-blocking TCP socket);
  // closes fd on destruction when it owns it.
  TlsStream(int fd, ssl_st* ssl, std::string peer_address, std::vector<std::string> peer_names,
            bool owns_fd);
  ~TlsStream() override;
  TlsStream(const TlsStream&) = delete;
  TlsStream& operator=(const TlsStream&) = delete;
  ssize_t read_some(void* buf, size_t n, int timeout_ms) override;
  bool write_all(const void* buf, size_t n, int timeout_ms) override;
  void shutdown() override;
  bool peer_gone() override;
  std::string last_error() const override;
  // "198.51.100.7:40112" / "[2001:db8::7]:40112".
  const std::string& peer_address() const { return peer_address_; }
  // The names of the peer's certificate: its SAN DNS entries, then its subject CN.
  const std::vector<std::string>& peer_names() const { return peer_names_; }

 private:
  int fd_;
  bool owns_fd_;
  ssl_st* ssl_;
  // OpenSSL's state is not safe for two threads at once; held around each
  // call into it, never while waiting for the socket.
  mutable std::mutex mu_;
  bool broken_ = false;  // a fatal error: no close_notify at the end
  // Records a fatal SSL_read/SSL_write error (under mu_): last_error_,
  // broken_, errno EPROTO. errno_if_none: the words for a bare EOF.
  void fail_io(int ssl_error, int errno_if_none);
  std::string last_error_;
  std::string peer_address_;
  std::vector<std::string> peer_names_;
};

struct Endpoint {
  std::string host;  // an IP address or a host name
  uint16_t port = 0;
  std::string str() const;  // "host:port", IPv6 in brackets
};
// "HOST:PORT" or "[IPv6]:PORT"; false with *err saying what is wrong. Port 0
// (any free port) only when port_zero.
bool parse_endpoint(const std::string& s, Endpoint* out, std::string* err, bool port_zero = false);

// Server side of one accepted connection: the handshake (at most timeout_ms
// in all), then the client's names checked against `allow` (empty: any
// certificate of the CA). nullptr with *reason ("certificate has expired",
// "plaintext, not a TLS handshake", "name edgectl-ro not allowed", ...) when
// refused. The fd stays the caller's (it closes it).
std::unique_ptr<TlsStream> tls_accept(const TlsContext& ctx, int fd,
                                      const std::string& peer_address,
                                      const std::vector<std::string>& allow, int timeout_ms,
                                      std::string* reason);

// Client side: connects to `to` and handshakes within timeout_ms, checking
// that the server's certificate names `server_name`. nullptr with *err
// naming the address and the reason.
std::unique_ptr<TlsStream> tls_connect(const TlsContext& ctx, const Endpoint& to,
                                       const std::string& server_name, int timeout_ms,
                                       std::string* err);

// The first of a certificate's `names` that `list` holds (ASCII
// case-insensitive, as DNS names compare), or null.
const std::string* find_allowed(const std::vector<std::string>& names,
                                const std::vector<std::string>& list);

// The peer address of a connected socket, as TlsStream::peer_address shows it.
std::string socket_peer_address(int fd);

}  // namespace edgedns::proto
