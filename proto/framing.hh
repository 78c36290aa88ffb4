// Framing and message helpers of the node control protocol v1
// (docs/control-protocol.md): 4-byte big-endian length + one JSON object.
// Spoken by the node agent (dataplane/), edgectl and its daemon (control/);
// no DPDK here. Control threads only; may block on the stream.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "proto/stream.hh"

namespace edgedns::proto {

constexpr int kVersion = 1;
// A 1M-record zone is ~30 MB of text; 512 MiB leaves room for a zone set of
// several such zones while still refusing absurd lengths before reading them.
constexpr uint32_t kMaxFrame = 512u << 20;

enum class IoStatus { Ok, Closed, TooLarge, Timeout, Error };

struct ReadLimits {
  uint32_t max_len = kMaxFrame;
  // Waiting for a frame's first byte (-1: no limit).
  int idle_timeout_ms = -1;
  // Once a frame has begun, the longest the peer may stall between bytes:
  // a half-sent frame does not hold a connection forever.
  int frame_timeout_ms = -1;
};

// Reads one frame into `out`. The buffer grows with the bytes that actually
// arrive, never to the announced length up front, so a peer that announces
// 512 MiB and sends nothing costs nothing. Closed: clean end before the
// first byte. TooLarge: the announced length exceeds max_len (nothing is read
// past the length word; the caller should answer and close). *announced, when
// given, receives the length word.
IoStatus read_frame(Stream& s, std::string& out, const ReadLimits& lim = {},
                    uint32_t* announced = nullptr);
// Writes one frame (short writes, EINTR). False on error or timeout.
bool write_frame(Stream& s, const std::string& payload, int timeout_ms = -1);

// The same over a plain fd (blocking, no timeouts), which stays open.
IoStatus read_frame(int fd, std::string& out, uint32_t max_len = kMaxFrame);
bool write_frame(int fd, const std::string& payload);

// Parses a frame as a JSON object; nullopt (with *err) when it is not one.
std::optional<nlohmann::json> parse_message(const std::string& frame, std::string* err);
// A reply as bytes: invalid UTF-8 in strings is replaced, never thrown on.
std::string dump_message(const nlohmann::json& j);

nlohmann::json make_error(const nlohmann::json& id, const std::string& code,
                          const std::string& message);
nlohmann::json make_ok(const nlohmann::json& id);

}  // namespace edgedns::proto
