// Client side of the node control protocol: one connection, one request at a
// time, each with a timeout. Used by edgectl for node agents and for its own
// daemon. Control thread; blocks. Not thread-safe (one per thread).
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "proto/stream.hh"
#include "proto/tls.hh"

namespace edgedns::proto {

class CallError : public std::runtime_error {
 public:
  enum class Kind { Unreachable, Timeout, Closed, Io, Protocol };
  CallError(Kind k, const std::string& msg) : std::runtime_error(msg), kind(k) {}
  const Kind kind;
};

class Client {
 public:
  // `what` names the peer in error messages ("node edge-1 (/run/x.sock)").
  Client(std::unique_ptr<Stream> s, std::string what) : s_(std::move(s)), what_(std::move(what)) {}
  // Throws CallError(Unreachable) naming the path (not `what`).
  static Client connect_unix(const std::string& path, const std::string& what);
  // "tls://HOST:PORT" with the server's certificate checked for server_name,
  // within timeout_ms. Throws CallError(Unreachable) naming the address and
  // the reason (refused, no route, certificate not trusted, wrong name).
  static Client connect_tls(const TlsContext& ctx, const Endpoint& to,
                            const std::string& server_name, const std::string& what,
                            int timeout_ms);

  // Sends a request (adds "v" and "id" when missing) and waits for the
  // reply, at most timeout_ms per stall (-1: no limit). Throws CallError;
  // after one, the connection is in an unknown state and should be dropped.
  nlohmann::json call(nlohmann::json request, int timeout_ms = -1);
  // Bytes of requests sent so far (frames with their headers).
  uint64_t bytes_sent() const { return bytes_sent_; }

 private:
  std::unique_ptr<Stream> s_;
  std::string what_;
  uint64_t next_id_ = 0;
  uint64_t bytes_sent_ = 0;
};

// Connects to a unix stream socket; -1 with *err on failure (tests, probes).
int connect_unix(const std::string& path, std::string* err);
// One request over a plain fd without timeouts (tests). Throws CallError.
nlohmann::json call(int fd, nlohmann::json request, const std::string& what = "control socket");

}  // namespace edgedns::proto
