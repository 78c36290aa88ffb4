// dig-style rendering of a DNS response, for `edgectl query` and test output.
// Control thread; allocates.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace edgedns::ctl {

// A response decoded far enough to check answers: rcode and the answer
// section with names and RDATA names decompressed (wire form).
struct ParsedRR {
  std::vector<uint8_t> owner;
  uint16_t type = 0, rclass = 0;
  uint32_t ttl = 0;
  std::vector<uint8_t> rdata;
};
struct ParsedResponse {
  uint16_t id = 0, flags = 0;
  uint8_t rcode = 0;
  std::vector<ParsedRR> answer;
  // The NSID option's payload (RFC 5001), when the OPT record has one; a
  // message that does not decode past the answer section has none.
  std::optional<std::string> nsid;
};
// False when the message does not decode.
bool parse_response(std::span<const uint8_t> msg, ParsedResponse& out);

// Renders header, flags, OPT pseudosection and every section as dig does
// (";; ->>HEADER<<- opcode: QUERY, status: NOERROR, id: ..."). Malformed
// input is rendered as far as it decodes, then ";; malformed: reason".
std::string format_response_dig(std::span<const uint8_t> msg);

}  // namespace edgedns::ctl
