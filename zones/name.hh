// Domain names (RFC 1035 §3.1) in uncompressed wire format: text conversion
// with RFC 1035 §5.1 escapes, case folding, canonical order (RFC 4034 §6.1) and
// the XXH3 key used by every lookup table. The raw-buffer functions are the
// hot-path forms (any thread, no allocation); Name is the owning convenience
// type for control paths and tests (allocates).
#pragma once

#ifndef XXH_INLINE_ALL
#define XXH_INLINE_ALL
#endif
#include <xxhash.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "zones/wire.hh"

namespace edgedns::zones {

// ---- raw wire-name helpers: any thread, no allocation, noexcept ----

// Parses presentation text into wire form. `origin` (wire, may be null with
// origin_len 0) is appended to relative names; "@" means the origin. Returns
// the wire length, or 0 with *err set (err may be null).
size_t name_from_text(std::string_view text, const uint8_t* origin, size_t origin_len,
                      uint8_t out[kMaxName], const char** err) noexcept;

// Length of a well-formed uncompressed wire name starting at p, or 0 when it is
// malformed or runs past `avail` bytes.
size_t name_wire_length(const uint8_t* p, size_t avail) noexcept;

void name_to_lower(uint8_t* p, size_t len) noexcept;
inline uint8_t lower_ascii(uint8_t c) noexcept { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }

// lower_ascii on the 8 bytes of a word at once (SWAR): per byte, the high
// bit of (b & 0x7f) + 0x25 is set above 'Z' and that of (b & 0x7f) + 0x3f
// from 'A' up (no carry leaves a byte: both stay below 0x100); bytes with
// their own high bit set are not ASCII and stay as they are.
inline uint64_t lower_ascii8(uint64_t w) noexcept {
  constexpr uint64_t k7f = 0x7f7f7f7f7f7f7f7full, k80 = 0x8080808080808080ull;
  const uint64_t h = w & k7f;
  const uint64_t upper = ((h + 0x2525252525252525ull) ^ (h + 0x3f3f3f3f3f3f3f3full)) & ~w & k80;
  return w | (upper >> 2);
}

// Writes the folded copy of a wire name of n bytes to `lower`: length
// octets are below 64, never letters, so folding every byte equals
// name_to_lower. Words of 8 bytes, the last one overlapping; reads and
// writes only [0, n). Returns ones_acc(s, n) (zones/wire.hh), summed from
// the same words: the answer's UDP checksum needs the question's sum, and
// here it costs three instructions a word instead of a second pass.
inline uint64_t lower_and_sum(uint8_t* lower, const uint8_t* s, size_t n) noexcept {
  auto ld8 = [](const uint8_t* p) {
    uint64_t v;
    __builtin_memcpy(&v, p, 8);
    return v;
  };
  auto st8 = [](uint8_t* p, uint64_t v) { __builtin_memcpy(p, &v, 8); };
  uint64_t acc = 0;
  if (n >= 8) {
    size_t i = 0;
    for (; i + 8 < n; i += 8) {
      const uint64_t w = ld8(s + i);
      st8(lower + i, lower_ascii8(w));
      acc += ones_halves(w);
    }
    const uint64_t w = ld8(s + n - 8);
    st8(lower + n - 8, lower_ascii8(w));
    // Only bytes [i, n) are new: the top n - i (1 to 8) of the last word.
    acc += ones_halves(w >> (8 * (8 - (n - i))));
    return acc << 8;
  }
  uint64_t w = 0;
  for (size_t i = 0; i < n; ++i) {
    lower[i] = lower_ascii(s[i]);
    w |= uint64_t(s[i]) << (8 * i);
  }
  return ones_halves(w) << 8;
}

// A wire name whose first label is "*" (RFC 4592 §2.1.1: a wildcard
// domain name, whether it owns records or is an empty non-terminal).
inline bool wire_is_wildcard(const uint8_t* n, size_t len) noexcept {
  return len >= 2 && n[0] == 1 && n[1] == '*';
}

// Byte equality of two short buffers (names: at most 255 bytes), inline:
// the libc memcmp call, its length dispatch and its early-exit byte
// search cost more than a name compare itself on the answer path. Reads only
// [0, n) of each; overlapping 8-byte words cover the tail.
inline bool bytes_equal(const uint8_t* a, const uint8_t* b, size_t n) noexcept {
  auto ld8 = [](const uint8_t* p) {
    uint64_t v;
    __builtin_memcpy(&v, p, 8);
    return v;
  };
  auto ld4 = [](const uint8_t* p) {
    uint32_t v;
    __builtin_memcpy(&v, p, 4);
    return v;
  };
  if (n >= 8) {
    uint64_t d = 0;
    size_t i = 0;
    for (; i + 8 < n; i += 8) d |= ld8(a + i) ^ ld8(b + i);
    return (d | (ld8(a + n - 8) ^ ld8(b + n - 8))) == 0;
  }
  if (n >= 4) return ((ld4(a) ^ ld4(b)) | (ld4(a + n - 4) ^ ld4(b + n - 4))) == 0;
  bool eq = true;
  for (size_t i = 0; i < n; ++i) eq &= a[i] == b[i];
  return eq;
}

// Case-insensitive equality of two wire names.
bool name_equal(const uint8_t* a, size_t alen, const uint8_t* b, size_t blen) noexcept;
// True when `name` equals or is below `parent` (case-insensitive).
bool name_is_below_or_equal(const uint8_t* name, size_t nlen, const uint8_t* parent,
                            size_t plen) noexcept;
// RFC 4034 §6.1 canonical order: <0, 0, >0.
int name_canonical_compare(const uint8_t* a, size_t alen, const uint8_t* b, size_t blen) noexcept;
// Number of labels, not counting the root.
int name_label_count(const uint8_t* p, size_t len) noexcept;
// XXH3-64 over an already lower-cased wire name: the key of every name table.
// Inline (xxhash's XXH_INLINE_ALL, same algorithm and values as libxxhash):
// every query hashes its name once or more, and an out-of-line call with
// XXH3's length dispatch cost about a fifth of a hit's answer time.
inline uint64_t name_hash(const uint8_t* lower, size_t len) noexcept {
  return XXH3_64bits(lower, len);
}

// Appends the presentation form (absolute, trailing dot, RFC 1035 escapes) to out.
void name_to_text(const uint8_t* p, size_t len, std::string& out);
std::string name_to_text(const uint8_t* p, size_t len);

// ---- owning type: control thread / tests ----
class Name {
 public:
  Name() : wire_(1, '\0') {}  // the root
  // Throws std::invalid_argument naming the reason on malformed text.
  static Name from_text(std::string_view text, const Name& origin = Name());
  static Name from_wire(const uint8_t* p, size_t len) {
    Name n;
    n.wire_.assign(reinterpret_cast<const char*>(p), len);
    return n;
  }
  const uint8_t* data() const noexcept { return reinterpret_cast<const uint8_t*>(wire_.data()); }
  size_t size() const noexcept { return wire_.size(); }
  const std::string& wire() const noexcept { return wire_; }
  std::string to_text() const { return name_to_text(data(), size()); }
  Name lower() const {
    Name n = *this;
    name_to_lower(reinterpret_cast<uint8_t*>(n.wire_.data()), n.wire_.size());
    return n;
  }
  bool is_root() const noexcept { return wire_.size() == 1; }
  bool is_wildcard() const noexcept { return wire_is_wildcard(data(), size()); }
  int label_count() const noexcept { return name_label_count(data(), size()); }
  Name parent() const;  // drops the first label; the root's parent is the root
  bool is_below_or_equal(const Name& p) const noexcept {
    return name_is_below_or_equal(data(), size(), p.data(), p.size());
  }
  bool operator==(const Name& o) const noexcept {
    return name_equal(data(), size(), o.data(), o.size());
  }
  bool operator<(const Name& o) const noexcept {
    return name_canonical_compare(data(), size(), o.data(), o.size()) < 0;
  }

 private:
  std::string wire_;
};

}  // namespace edgedns::zones
