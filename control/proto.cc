#include "control/proto.hh"

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace edgedns::proto {

namespace {

bool read_all(int fd, void* buf, size_t n, bool* eof_at_start) {
  auto* p = static_cast<uint8_t*>(buf);
  size_t got = 0;
  while (got < n) {
    ssize_t r = ::read(fd, p + got, n - got);
    if (r == 0) {
      if (eof_at_start) *eof_at_start = (got == 0);
      return false;
    }
    if (r < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    got += size_t(r);
  }
  return true;
}

}  // namespace

IoStatus read_frame(int fd, std::string& out, uint32_t max_len) {
  uint8_t hdr[4];
  bool eof = false;
  if (!read_all(fd, hdr, 4, &eof)) return eof ? IoStatus::Closed : IoStatus::Error;
  uint32_t len = uint32_t(hdr[0]) << 24 | uint32_t(hdr[1]) << 16 | uint32_t(hdr[2]) << 8 | hdr[3];
  if (len > max_len) return IoStatus::TooLarge;
  out.resize(len);
  if (len && !read_all(fd, out.data(), len, nullptr)) return IoStatus::Error;
  return IoStatus::Ok;
}

bool write_frame(int fd, const std::string& payload) {
  if (payload.size() > kMaxFrame) return false;
  uint32_t len = uint32_t(payload.size());
  uint8_t hdr[4] = {uint8_t(len >> 24), uint8_t(len >> 16), uint8_t(len >> 8), uint8_t(len)};
  auto write_all = [fd](const void* b, size_t n) {
    const auto* p = static_cast<const uint8_t*>(b);
    while (n) {
      ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
      if (w < 0 && errno == ENOTSOCK) w = ::write(fd, p, n);
      if (w < 0) {
        if (errno == EINTR) continue;
        return false;
      }
      p += w;
      n -= size_t(w);
    }
    return true;
  };
  return write_all(hdr, 4) && write_all(payload.data(), payload.size());
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

nlohmann::json make_error(const nlohmann::json& id, const std::string& code,
                          const std::string& message) {
  return {{"v", kVersion}, {"id", id}, {"ok", false}, {"code", code}, {"error", message}};
}

nlohmann::json make_ok(const nlohmann::json& id) {
  return {{"v", kVersion}, {"id", id}, {"ok", true}};
}

int connect_unix(const std::string& path, std::string* err) {
  sockaddr_un sa{};
  if (path.size() >= sizeof sa.sun_path) {
    if (err) *err = "socket path too long: " + path;
    return -1;
  }
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    if (err) *err = std::string("socket: ") + std::strerror(errno);
    return -1;
  }
  sa.sun_family = AF_UNIX;
  std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0) {
    if (err) *err = "cannot connect to " + path + ": " + std::strerror(errno);
    ::close(fd);
    return -1;
  }
  return fd;
}

nlohmann::json call(int fd, nlohmann::json request, const std::string& what) {
  static uint64_t next_id = 1;
  if (!request.contains("v")) request["v"] = kVersion;
  if (!request.contains("id")) request["id"] = next_id++;
  if (!write_frame(fd, request.dump()))
    throw std::runtime_error("cannot send to " + what + ": " + std::strerror(errno));
  std::string frame;
  switch (read_frame(fd, frame)) {
    case IoStatus::Ok: break;
    case IoStatus::Closed: throw std::runtime_error(what + " closed the connection");
    case IoStatus::TooLarge: throw std::runtime_error(what + " sent an oversized reply");
    case IoStatus::Error: throw std::runtime_error("cannot read from " + what + ": " + std::strerror(errno));
  }
  std::string err;
  auto j = parse_message(frame, &err);
  if (!j) throw std::runtime_error(what + ": " + err);
  return *j;
}

}  // namespace edgedns::proto
