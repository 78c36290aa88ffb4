// RR type and class mnemonics (RFC 1035, RFC 3597 TYPEnnn/CLASSnnn) and the
// facts about each type that the compiler and answer engine need: which RDATA
// fields are domain names, whether they may be compressed (RFC 3597 §4), and
// which names trigger additional-section processing. Any thread; lookups do
// not allocate.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace edgedns::zones {

// "A" -> 1, "TYPE65280" -> 65280; case-insensitive. nullopt when unknown.
std::optional<uint16_t> rrtype_from_text(std::string_view s) noexcept;
// 1 -> "A", 65280 -> "TYPE65280".
std::string rrtype_to_text(uint16_t type);
// "IN" -> 1, "CLASS3" -> 3; case-insensitive.
std::optional<uint16_t> rrclass_from_text(std::string_view s) noexcept;
std::string rrclass_to_text(uint16_t cls);

// Where the domain names sit in a type's RDATA, for compression on output and
// for additional-section processing. Offsets are fixed for every type that
// has names we act on (all names of these types sit at fixed offsets or right
// after another name).
struct RdataNames {
  uint8_t count = 0;          // 0, 1 or 2 names
  uint8_t first_offset = 0;   // byte offset of the first name in RDATA
  bool compressible = false;  // RFC 1035 well-known types only (RFC 3597 §4)
  bool additional = false;    // the (single) name gets A/AAAA in additional
};
RdataNames rdata_names(uint16_t type) noexcept;

}  // namespace edgedns::zones
