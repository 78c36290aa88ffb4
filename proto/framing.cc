#include "proto/framing.hh"

#include <cerrno>

namespace edgedns::proto {

namespace {

// Bytes asked of the stream per read: the buffer never runs more than this
// ahead of what the peer actually sent.
constexpr size_t kReadChunk = 64 * 1024;

enum class Got { Ok, Eof, Timeout, Error };

// Appends exactly n bytes to out, growing it as they arrive. The first wait
// may use a different timeout (the idle wait for a frame's first byte).
Got read_exact(Stream& s, std::string& out, size_t n, int first_timeout_ms, int timeout_ms) {
  size_t got = 0;
  while (got < n) {
    size_t want = n - got < kReadChunk ? n - got : kReadChunk;
    size_t at = out.size();
    out.resize(at + want);
    ssize_t r = s.read_some(out.data() + at, want, got == 0 ? first_timeout_ms : timeout_ms);
    out.resize(at + (r > 0 ? size_t(r) : 0));
    if (r == 0) return Got::Eof;
    if (r < 0) return errno == ETIMEDOUT ? Got::Timeout : Got::Error;
    got += size_t(r);
  }
  return Got::Ok;
}

}  // namespace

IoStatus read_frame(Stream& s, std::string& out, const ReadLimits& lim, uint32_t* announced) {
  out.clear();
  std::string hdr;
  switch (read_exact(s, hdr, 4, lim.idle_timeout_ms, lim.frame_timeout_ms)) {
    case Got::Ok: break;
    case Got::Eof: return hdr.empty() ? IoStatus::Closed : IoStatus::Error;
    case Got::Timeout: return IoStatus::Timeout;
    case Got::Error: return IoStatus::Error;
  }
  const auto* h = reinterpret_cast<const uint8_t*>(hdr.data());
  uint32_t len = uint32_t(h[0]) << 24 | uint32_t(h[1]) << 16 | uint32_t(h[2]) << 8 | h[3];
  if (announced) *announced = len;
  if (len > lim.max_len) return IoStatus::TooLarge;
  switch (read_exact(s, out, len, lim.frame_timeout_ms, lim.frame_timeout_ms)) {
    case Got::Ok: return IoStatus::Ok;
    case Got::Timeout: return IoStatus::Timeout;
    case Got::Eof:
    case Got::Error: return IoStatus::Error;
  }
  return IoStatus::Error;
}

bool write_frame(Stream& s, const std::string& payload, int timeout_ms) {
  if (payload.size() > kMaxFrame) return false;
  uint32_t len = uint32_t(payload.size());
  uint8_t hdr[4] = {uint8_t(len >> 24), uint8_t(len >> 16), uint8_t(len >> 8), uint8_t(len)};
  return s.write_all(hdr, 4, timeout_ms) && s.write_all(payload.data(), payload.size(), timeout_ms);
}

IoStatus read_frame(int fd, std::string& out, uint32_t max_len) {
  FdStream s(fd, /*owns=*/false);
  return read_frame(s, out, ReadLimits{max_len, -1, -1});
}

bool write_frame(int fd, const std::string& payload) {
  FdStream s(fd, /*owns=*/false);
  return write_frame(s, payload);
}

std::optional<nlohmann::json> parse_message(const std::string& frame, std::string* err) {
  nlohmann::json j = nlohmann::json::parse(frame, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    if (err) *err = "message is not valid JSON";
    return std::nullopt;
  }
  if (!j.is_object()) {
    if (err) *err = "message is not a JSON object";
    return std::nullopt;
  }
  return j;
}

std::string dump_message(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

nlohmann::json make_error(const nlohmann::json& id, const std::string& code,
                          const std::string& message) {
  return {{"v", kVersion}, {"id", id}, {"ok", false}, {"code", code}, {"error", message}};
}

nlohmann::json make_ok(const nlohmann::json& id) {
  return {{"v", kVersion}, {"id", id}, {"ok", true}};
}

}  // namespace edgedns::proto
