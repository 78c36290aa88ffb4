// Domain names (RFC 1035 §3.1) in uncompressed wire format: text conversion
// with RFC 1035 §5.1 escapes, case folding, canonical order (RFC 4034 §6.1) and
// the XXH3 key used by every lookup table. The raw-buffer functions are the
// hot-path forms (any thread, no allocation); Name is the owning convenience
// type for control paths and tests (allocates).
#pragma once

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

// Byte equality of two short buffers (names: at most 255 bytes), inline:
// the libc memcmp call, its length dispatch and its early-exit byte
// search cost more than a name compare itself on the answer path. Reads only
// [0, n) of each; overlapping 8-byte words cover the tail.
inline bool bytes_equal(const uint8_t* a, const uint8_t* b, size_t n) noexcept {
  auto ld8 = [](const uint8_t* p) { uint64_t v; __builtin_memcpy(&v, p, 8); return v; };
  auto ld4 = [](const uint8_t* p) { uint32_t v; __builtin_memcpy(&v, p, 4); return v; };
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
uint64_t name_hash(const uint8_t* lower, size_t len) noexcept;

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
    Name n; n.wire_.assign(reinterpret_cast<const char*>(p), len); return n;
  }
  const uint8_t* data() const noexcept { return reinterpret_cast<const uint8_t*>(wire_.data()); }
  size_t size() const noexcept { return wire_.size(); }
  const std::string& wire() const noexcept { return wire_; }
  std::string to_text() const { return name_to_text(data(), size()); }
  Name lower() const { Name n = *this; name_to_lower(reinterpret_cast<uint8_t*>(n.wire_.data()), n.wire_.size()); return n; }
  bool is_root() const noexcept { return wire_.size() == 1; }
  bool is_wildcard() const noexcept { return wire_.size() >= 2 && wire_[0] == 1 && wire_[1] == '*'; }
  int label_count() const noexcept { return name_label_count(data(), size()); }
  Name parent() const;  // drops the first label; the root's parent is the root
  bool is_below_or_equal(const Name& p) const noexcept { return name_is_below_or_equal(data(), size(), p.data(), p.size()); }
  bool operator==(const Name& o) const noexcept { return name_equal(data(), size(), o.data(), o.size()); }
  bool operator<(const Name& o) const noexcept { return name_canonical_compare(data(), size(), o.data(), o.size()) < 0; }

 private:
  std::string wire_;
};

}  // namespace edgedns::zones
