#include "zones/rrtype.hh"

#include <array>
#include <charconv>

#include "zones/name.hh"
#include "zones/wire.hh"

namespace edgedns::zones {
namespace {

struct Mnemonic {
  uint16_t code;
  std::string_view text;
};

// IANA "Resource Record (RR) TYPEs": the types we encode natively plus the
// ones operators commonly meet, so that they print by name rather than as
// TYPEnnn (their RDATA is still handled generically when not native).
constexpr Mnemonic kTypes[] = {
    {1, "A"},           {2, "NS"},          {3, "MD"},      {4, "MF"},      {5, "CNAME"},
    {6, "SOA"},         {7, "MB"},          {8, "MG"},      {9, "MR"},      {10, "NULL"},
    {11, "WKS"},        {12, "PTR"},        {13, "HINFO"},  {14, "MINFO"},  {15, "MX"},
    {16, "TXT"},        {17, "RP"},         {18, "AFSDB"},  {19, "X25"},    {20, "ISDN"},
    {21, "RT"},         {22, "NSAP"},       {24, "SIG"},    {25, "KEY"},    {26, "PX"},
    {27, "GPOS"},       {28, "AAAA"},       {29, "LOC"},    {30, "NXT"},    {33, "SRV"},
    {35, "NAPTR"},      {36, "KX"},         {37, "CERT"},   {38, "A6"},     {39, "DNAME"},
    {41, "OPT"},        {42, "APL"},        {43, "DS"},     {44, "SSHFP"},  {45, "IPSECKEY"},
    {46, "RRSIG"},      {47, "NSEC"},       {48, "DNSKEY"}, {49, "DHCID"},  {50, "NSEC3"},
    {51, "NSEC3PARAM"}, {52, "TLSA"},       {53, "SMIMEA"}, {55, "HIP"},    {59, "CDS"},
    {60, "CDNSKEY"},    {61, "OPENPGPKEY"}, {62, "CSYNC"},  {63, "ZONEMD"}, {64, "SVCB"},
    {65, "HTTPS"},      {99, "SPF"},        {104, "NID"},   {105, "L32"},   {106, "L64"},
    {107, "LP"},        {108, "EUI48"},     {109, "EUI64"}, {249, "TKEY"},  {250, "TSIG"},
    {251, "IXFR"},      {252, "AXFR"},      {255, "ANY"},   {256, "URI"},   {257, "CAA"},
    {32768, "TA"},      {32769, "DLV"},
};

constexpr Mnemonic kClasses[] = {
    {1, "IN"}, {3, "CH"}, {4, "HS"}, {254, "NONE"}, {255, "ANY"},
};

bool iequal(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (lower_ascii(uint8_t(a[i])) != lower_ascii(uint8_t(b[i]))) return false;
  return true;
}

// "TYPE65280" / "CLASS3" (RFC 3597 §5): decimal, no sign, fits 16 bits.
std::optional<uint16_t> numeric_form(std::string_view s, std::string_view prefix) noexcept {
  if (s.size() <= prefix.size() || !iequal(s.substr(0, prefix.size()), prefix)) return std::nullopt;
  std::string_view digits = s.substr(prefix.size());
  if (digits.size() > 5) return std::nullopt;
  unsigned v = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + unsigned(c - '0');
  }
  if (v > 65535) return std::nullopt;
  return uint16_t(v);
}

template <size_t N>
std::optional<uint16_t> lookup(const Mnemonic (&table)[N], std::string_view s) noexcept {
  for (const auto& m : table)
    if (iequal(m.text, s)) return m.code;
  return std::nullopt;
}

template <size_t N>
std::string_view lookup(const Mnemonic (&table)[N], uint16_t code) noexcept {
  for (const auto& m : table)
    if (m.code == code) return m.text;
  return {};
}

}  // namespace

std::optional<uint16_t> rrtype_from_text(std::string_view s) noexcept {
  // The parser calls this for every record: try the two commonest first.
  if (s.size() == 1 && (s[0] == 'A' || s[0] == 'a')) return rrtype::A;
  if (auto v = lookup(kTypes, s)) return v;
  return numeric_form(s, "TYPE");
}

std::string rrtype_to_text(uint16_t type) {
  std::string_view m = lookup(kTypes, type);
  if (!m.empty()) return std::string(m);
  return "TYPE" + std::to_string(type);
}

std::optional<uint16_t> rrclass_from_text(std::string_view s) noexcept {
  if (s.size() == 2 && iequal(s, "IN")) return rrclass::IN;
  if (auto v = lookup(kClasses, s)) return v;
  return numeric_form(s, "CLASS");
}

std::string rrclass_to_text(uint16_t cls) {
  std::string_view m = lookup(kClasses, cls);
  if (!m.empty()) return std::string(m);
  return "CLASS" + std::to_string(cls);
}

RdataNames rdata_names(uint16_t type) noexcept {
  switch (type) {
    // RFC 1035 types: their names may be compressed (RFC 3597 §4).
    case rrtype::NS: return {1, 0, true, true};
    case rrtype::CNAME:
    case rrtype::PTR: return {1, 0, true, false};
    case rrtype::MX: return {1, 2, true, true};
    case rrtype::SOA: return {2, 0, true, false};
    // Newer types: never compressed on output (RFC 3597 §4, RFC 2782, RFC 6672).
    case rrtype::SRV: return {1, 6, false, true};
    case rrtype::DNAME: return {1, 0, false, false};
    default: return {};
  }
}

}  // namespace edgedns::zones
