#include "proto/client.hh"

#include <cerrno>
#include <cstring>

#include "proto/framing.hh"

namespace edgedns::proto {

using nlohmann::json;

Client Client::connect_unix(const std::string& path, const std::string& what) {
  std::string err;
  auto s = connect_unix_stream(path, &err);
  if (!s) throw CallError(CallError::Kind::Unreachable, err);
  return Client(std::move(s), what);
}

Client Client::connect_tls(const TlsContext& ctx, const Endpoint& to,
                           const std::string& server_name, const std::string& what,
                           int timeout_ms) {
  std::string err;
  auto s = tls_connect(ctx, to, server_name, timeout_ms, &err);
  if (!s) throw CallError(CallError::Kind::Unreachable, err);
  return Client(std::move(s), what);
}

namespace {
// errno's words, or the stream's own (a TLS alert) when it has them.
std::string io_reason(const Stream& s, int e, const char* fallback) {
  std::string d = s.last_error();
  if (!d.empty()) return d;
  return e ? std::strerror(e) : fallback;
}
}  // namespace

json Client::call(json request, int timeout_ms) {
  using K = CallError::Kind;
  if (!request.contains("v")) request["v"] = kVersion;
  if (!request.contains("id")) request["id"] = ++next_id_;
  const std::string frame_out = dump_message(request);
  bytes_sent_ += 4 + frame_out.size();
  if (!write_frame(*s_, frame_out, timeout_ms)) {
    int e = errno;
    throw CallError(e == ETIMEDOUT ? K::Timeout : K::Io,
                    "cannot send to " + what_ + ": " + io_reason(*s_, e, "write failed"));
  }
  std::string frame;
  errno = 0;
  switch (read_frame(*s_, frame, ReadLimits{kMaxFrame, timeout_ms, timeout_ms})) {
    case IoStatus::Ok: break;
    case IoStatus::Closed: throw CallError(K::Closed, what_ + " closed the connection");
    case IoStatus::TooLarge: throw CallError(K::Protocol, what_ + " sent an oversized reply");
    case IoStatus::Timeout: throw CallError(K::Timeout, "no reply from " + what_ + " in time");
    case IoStatus::Error:
      throw CallError(K::Io, "cannot read from " + what_ + ": " +
                                 io_reason(*s_, errno, "connection cut mid-reply"));
  }
  std::string err;
  auto j = parse_message(frame, &err);
  if (!j) throw CallError(K::Protocol, what_ + ": " + err);
  return *j;
}

int connect_unix(const std::string& path, std::string* err) {
  auto s = connect_unix_stream(path, err);
  if (!s) return -1;
  return s->release();
}

json call(int fd, json request, const std::string& what) {
  Client c(std::make_unique<FdStream>(fd, /*owns=*/false), what);
  return c.call(std::move(request));
}

}  // namespace edgedns::proto
