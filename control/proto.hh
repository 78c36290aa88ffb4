// Framing and message helpers of the node control protocol v1
// (docs/control-protocol.md): 4-byte big-endian length + one JSON object.
// Shared by the node agent (dataplane/, server side) and edgectl (client
// side); no DPDK here. Control threads only; may block on the socket.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace edgedns::proto {

constexpr int kVersion = 1;
// A 1M-record zone is ~30 MB of text; 512 MiB leaves room for a zone set of
// several such zones while still refusing absurd lengths before allocating.
constexpr uint32_t kMaxFrame = 512u << 20;

enum class IoStatus { Ok, Closed, TooLarge, Error };

// Reads one frame into `out`. Closed: clean EOF before the first byte.
// TooLarge: the announced length exceeds max_len (nothing is read past the
// length word; the caller should answer and close).
IoStatus read_frame(int fd, std::string& out, uint32_t max_len = kMaxFrame);
// Writes one frame (handles short writes and EINTR). False on error.
bool write_frame(int fd, const std::string& payload);

// Parses a frame as a JSON object; nullopt (with *err) when it is not one.
std::optional<nlohmann::json> parse_message(const std::string& frame, std::string* err);

nlohmann::json make_error(const nlohmann::json& id, const std::string& code,
                          const std::string& message);
nlohmann::json make_ok(const nlohmann::json& id);

// Client side: connects to a unix stream socket; -1 with *err on failure.
int connect_unix(const std::string& path, std::string* err);
// Sends a request (adds "v" and "id" when missing) and waits for the reply.
// Throws std::runtime_error naming the socket on I/O failure.
nlohmann::json call(int fd, nlohmann::json request, const std::string& what = "control socket");

}  // namespace edgedns::proto
