// dig-style rendering of a DNS response, for `edgectl query` and test output.
// Control thread; allocates.
#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace edgedns::ctl {

// Renders header, flags, OPT pseudosection and every section as dig does
// (";; ->>HEADER<<- opcode: QUERY, status: NOERROR, id: ..."). Malformed
// input is rendered as far as it decodes, then ";; malformed: reason".
std::string format_response_dig(std::span<const uint8_t> msg);

}  // namespace edgedns::ctl
