#include "zones/rrtype.hh"
// Placeholder until the type table lands (parser work); keeps the tree linking.
namespace edgedns::zones {
std::optional<uint16_t> rrtype_from_text(std::string_view) noexcept { return std::nullopt; }
std::string rrtype_to_text(uint16_t t) { return "TYPE" + std::to_string(t); }
std::optional<uint16_t> rrclass_from_text(std::string_view) noexcept { return std::nullopt; }
std::string rrclass_to_text(uint16_t c) { return "CLASS" + std::to_string(c); }
RdataNames rdata_names(uint16_t) noexcept { return {}; }
}
