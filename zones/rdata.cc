#include "zones/rdata.hh"
#include <stdexcept>
// Placeholder until the RDATA codecs land; keeps the tree linking.
namespace edgedns::zones {
std::string rdata_from_text(uint16_t, std::span<const RdataToken>, const uint8_t*, size_t, std::vector<uint8_t>&) { return "not implemented"; }
std::string rdata_to_text(uint16_t, const uint8_t* p, size_t n) { return rdata_to_generic(p, n); }
std::string rdata_to_generic(const uint8_t*, size_t) { throw std::logic_error("not implemented"); }
}
