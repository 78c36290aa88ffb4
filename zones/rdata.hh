// RDATA presentation <-> wire conversion for every type EdgeDNS knows natively
// (SOA NS A AAAA CNAME DNAME MX TXT SPF SRV PTR NAPTR CAA SSHFP TLSA SVCB HTTPS
// DS DNSKEY RRSIG NSEC NSEC3 NSEC3PARAM CDS CDNSKEY ZONEMD LOC HINFO) and the
// RFC 3597 generic form (`\# len hex`) for any type. Control thread only;
// allocates.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace edgedns::zones {

// One whitespace-separated field of a record as the zone-file tokenizer saw
// it. `text` has quotes removed but escapes (\X, \DDD) still in place so that
// each type decides how to read them; `quoted` says it was in "...".
struct RdataToken {
  std::string_view text;
  bool quoted = false;
};

// Encodes the RDATA fields of a record of `type` into `out` (appended).
// Relative names are completed with `origin` (wire form). Returns an empty
// string on success, else a human-readable reason naming the field
// (e.g. "MX preference: '70000' is above 65535").
std::string rdata_from_text(uint16_t type, std::span<const RdataToken> fields,
                            const uint8_t* origin, size_t origin_len, std::vector<uint8_t>& out);

// Presentation form of wire RDATA (as dig and `named-compilezone` print it).
// Falls back to the generic form for unknown types or RDATA that does not
// decode.
std::string rdata_to_text(uint16_t type, const uint8_t* rdata, size_t len);
// RFC 3597 §5 generic form: "\# N HEX" ("\# 0" for empty RDATA).
std::string rdata_to_generic(const uint8_t* rdata, size_t len);

}  // namespace edgedns::zones
