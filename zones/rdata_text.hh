// Small presentation-format helpers shared by the RDATA codecs and the master
// file parser (private to zones/). Any thread; no allocation.
#pragma once

#include <cstdint>
#include <string_view>

namespace edgedns::zones::detail {

// BIND TTL syntax: "3600", or number+unit groups "1w2d3h4m5s" (units
// case-insensitive; a trailing bare number counts as seconds, as in BIND).
// False on anything else or on overflow past 32 bits.
inline bool parse_ttl(std::string_view s, uint32_t& out) noexcept {
  if (s.empty()) return false;
  uint64_t total = 0, cur = 0;
  bool have_digits = false;
  for (char c : s) {
    if (c >= '0' && c <= '9') {
      cur = cur * 10 + uint64_t(c - '0');
      if (cur > 0xffffffffull) return false;
      have_digits = true;
      continue;
    }
    uint64_t mult;
    switch (c | 0x20) {
      case 'w': mult = 604800; break;
      case 'd': mult = 86400; break;
      case 'h': mult = 3600; break;
      case 'm': mult = 60; break;
      case 's': mult = 1; break;
      default: return false;
    }
    if (!have_digits) return false;
    total += cur * mult;
    if (total > 0xffffffffull) return false;
    cur = 0;
    have_digits = false;
  }
  total += cur;
  if (total > 0xffffffffull) return false;
  out = uint32_t(total);
  return true;
}

// Plain unsigned decimal no larger than `max`.
inline bool parse_uint(std::string_view s, uint64_t max, uint64_t& out) noexcept {
  if (s.empty() || s.size() > 20) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    uint64_t nv = v * 10 + uint64_t(c - '0');
    if (nv < v) return false;
    v = nv;
  }
  if (v > max) return false;
  out = v;
  return true;
}

}  // namespace edgedns::zones::detail
