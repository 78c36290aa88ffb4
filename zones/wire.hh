// DNS wire-format constants and big-endian helpers shared by the parser, the
// compiled snapshot, the answer engine and the dataplane. Header-only, no state.
// Any thread; no allocation.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace edgedns::zones {

inline uint16_t rd16(const uint8_t* p) noexcept { return uint16_t(p[0] << 8 | p[1]); }
inline uint32_t rd32(const uint8_t* p) noexcept {
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3];
}
// One store each (GCC keeps byte-by-byte writes as separate stores).
inline void wr16(uint8_t* p, uint16_t v) noexcept {
  static_assert(std::endian::native == std::endian::little);
  const uint16_t be = __builtin_bswap16(v);
  std::memcpy(p, &be, 2);
}
inline void wr32(uint8_t* p, uint32_t v) noexcept {
  const uint32_t be = __builtin_bswap32(v);
  std::memcpy(p, &be, 4);
}

// RFC 1071 one's complement sums. A sum is kept unfolded in a uint64_t
// ("accumulator") whose value mod 0xffff is what counts: 2^16 = 1 mod 0xffff,
// so carries need no propagation and one fold at the end gives the 16-bit
// sum. Big-endian 16-bit numbers (ids, lengths, ports) add as they are. A
// piece of bytes at an odd offset of the whole counts byte-swapped, which
// mod 0xffff is a multiplication by 256: ones_odd.
inline uint32_t ones_fold(uint64_t s) noexcept {
  s = (s & 0xffffffff) + (s >> 32);
  s = (s & 0xffff) + (s >> 16);
  s = (s & 0xffff) + (s >> 16);
  s = (s & 0xffff) + (s >> 16);
  return uint32_t(s);
}
inline uint64_t ones_odd(uint64_t acc) noexcept { return acc << 8; }  // acc < 2^56
// An accumulator of bytes that start at offset `off` of the whole.
inline uint64_t ones_at(uint64_t acc, size_t off) noexcept {
  return (off & 1) ? ones_odd(acc) : acc;
}
// A native 64-bit word's two 32-bit halves added: four 16-bit fields of the
// word summed as they lie in memory (2^16 = 1 mod 0xffff).
inline uint64_t ones_halves(uint64_t w) noexcept { return (w & 0xffffffff) + (w >> 32); }
// Accumulator of n bytes read as big-endian 16-bit words (a trailing odd
// byte is the high half of a zero-padded word). Reads only [p, p + n); n <
// 2^20 keeps every result below 2^48. Native 64-bit words are summed as
// 32-bit halves in memory order (RFC 1071 §2: the sum does not depend on
// byte order), which is the big-endian sum byte-swapped, i.e. times 256 at
// the end; the last partial word is loaded ending at p + n and shifted, so
// the tail costs one load, not a byte loop.
inline uint64_t ones_acc(const uint8_t* p, size_t n) noexcept {
  static_assert(std::endian::native == std::endian::little);
  uint64_t s = 0;
  if (n >= 8) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
      uint64_t w;
      std::memcpy(&w, p + i, 8);
      s += ones_halves(w);
      // Names and RRsets are a few words long: keep GCC from vectorizing
      // this loop (its SSE set-up and tail cost more than the words).
      __asm__("" : "+r"(s));
    }
    if (const size_t r = n - i) {  // bytes [i, n): the top r bytes of the word ending at n
      uint64_t w;
      std::memcpy(&w, p + n - 8, 8);
      w >>= 8 * (8 - r);
      s += ones_halves(w);
    }
  } else {
    uint64_t w = 0;  // bytes in memory order in the low lanes
    for (size_t i = 0; i < n; ++i) w |= uint64_t(p[i]) << (8 * i);
    s = ones_halves(w);
  }
  return s << 8;
}
// The folded 16-bit sum (not complemented) of n bytes.
inline uint32_t ones_sum(const uint8_t* p, size_t n) noexcept { return ones_fold(ones_acc(p, n)); }

// Limits from RFC 1035 §2.3.4.
constexpr size_t kMaxLabel = 63;
constexpr size_t kMaxName = 255;  // wire length including the root label
constexpr size_t kHeaderSize = 12;

namespace rrtype {
constexpr uint16_t A = 1, NS = 2, CNAME = 5, SOA = 6, PTR = 12, HINFO = 13, MX = 15, TXT = 16,
                   AAAA = 28, LOC = 29, SRV = 33, NAPTR = 35, DNAME = 39, OPT = 41, DS = 43,
                   SSHFP = 44, RRSIG = 46, NSEC = 47, DNSKEY = 48, NSEC3 = 50, NSEC3PARAM = 51,
                   TLSA = 52, CDS = 59, CDNSKEY = 60, ZONEMD = 63, SVCB = 64, HTTPS = 65, SPF = 99,
                   IXFR = 251, AXFR = 252, ANY = 255, CAA = 257;
}  // namespace rrtype

namespace rrclass {
constexpr uint16_t IN = 1, CH = 3, HS = 4, NONE = 254, ANY = 255;
}

namespace rcode {
constexpr uint8_t NOERROR = 0, FORMERR = 1, SERVFAIL = 2, NXDOMAIN = 3, NOTIMP = 4, REFUSED = 5;
constexpr uint16_t BADVERS = 16;  // extended: upper 8 bits go into OPT TTL
}  // namespace rcode

namespace opcode {
constexpr uint8_t QUERY = 0;
}

// Header flag bits in the 16-bit flags word (RFC 1035 §4.1.1, RFC 4035 §3.2).
namespace hflag {
constexpr uint16_t QR = 0x8000, AA = 0x0400, TC = 0x0200, RD = 0x0100, RA = 0x0080, Z = 0x0040,
                   AD = 0x0020, CD = 0x0010;
}

}  // namespace edgedns::zones
