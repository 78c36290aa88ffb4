#include "control/dig_print.hh"
// Placeholder until the dig-style printer lands; keeps the tree linking.
namespace edgedns::ctl {
std::string format_response_dig(std::span<const uint8_t> m) { return ";; " + std::to_string(m.size()) + " bytes\n"; }
}
