#include "zones/name.hh"

#include <stdexcept>

namespace edgedns::zones {

size_t name_from_text(std::string_view t, const uint8_t* origin, size_t origin_len,
                      uint8_t out[kMaxName], const char** err) noexcept {
  auto fail = [&](const char* m) -> size_t {
    if (err) *err = m;
    return 0;
  };
  if (t.empty()) return fail("empty name");
  if (t == "@") {
    if (!origin || origin_len == 0) return fail("'@' used with no origin");
    std::memcpy(out, origin, origin_len);
    return origin_len;
  }
  if (t == ".") {
    out[0] = 0;
    return 1;
  }
  size_t o = 0;  // write position
  size_t label_start = 0;
  bool absolute = false;
  out[o++] = 0;  // placeholder for the first label length
  size_t i = 0;
  while (i < t.size()) {
    uint8_t c = uint8_t(t[i]);
    if (c == '.') {
      size_t ll = o - label_start - 1;
      if (ll == 0) return fail("empty label");
      if (ll > kMaxLabel) return fail("label longer than 63 octets");
      out[label_start] = uint8_t(ll);
      ++i;
      if (i == t.size()) {
        absolute = true;
        break;
      }
      label_start = o;
      if (o >= kMaxName) return fail("name longer than 255 octets");
      out[o++] = 0;
      continue;
    }
    if (c == '\\') {
      if (i + 1 >= t.size()) return fail("dangling backslash");
      uint8_t d = uint8_t(t[i + 1]);
      if (d >= '0' && d <= '9') {
        if (i + 3 >= t.size()) return fail("bad \\DDD escape");
        int v = 0;
        for (int k = 1; k <= 3; ++k) {
          uint8_t x = uint8_t(t[i + k]);
          if (x < '0' || x > '9') return fail("bad \\DDD escape");
          v = v * 10 + (x - '0');
        }
        if (v > 255) return fail("\\DDD escape above 255");
        c = uint8_t(v);
        i += 4;
      } else {
        c = d;
        i += 2;
      }
    } else {
      ++i;
    }
    if (o >= kMaxName) return fail("name longer than 255 octets");
    out[o++] = c;
  }
  if (!absolute) {
    size_t ll = o - label_start - 1;
    if (ll == 0) return fail("empty label");
    if (ll > kMaxLabel) return fail("label longer than 63 octets");
    out[label_start] = uint8_t(ll);
    if (!origin || origin_len == 0) return fail("relative name with no origin");
    if (o + origin_len > kMaxName) return fail("name longer than 255 octets");
    std::memcpy(out + o, origin, origin_len);
    o += origin_len;
  } else {
    if (o >= kMaxName) return fail("name longer than 255 octets");
    out[o++] = 0;
  }
  return o;
}

size_t name_wire_length(const uint8_t* p, size_t avail) noexcept {
  size_t i = 0;
  while (i < avail) {
    uint8_t l = p[i];
    if (l == 0) return i + 1 <= kMaxName ? i + 1 : 0;
    if (l > kMaxLabel) return 0;
    i += size_t(l) + 1;
    if (i >= kMaxName) return 0;
  }
  return 0;
}

void name_to_lower(uint8_t* p, size_t len) noexcept {
  size_t i = 0;
  while (i < len && p[i] != 0) {
    size_t l = p[i];
    for (size_t k = i + 1; k <= i + l && k < len; ++k) p[k] = lower_ascii(p[k]);
    i += l + 1;
  }
}

bool name_equal(const uint8_t* a, size_t alen, const uint8_t* b, size_t blen) noexcept {
  if (alen != blen) return false;
  // Label length octets are < 64, never letters, so byte-wise folding is exact.
  for (size_t i = 0; i < alen; ++i)
    if (lower_ascii(a[i]) != lower_ascii(b[i])) return false;
  return true;
}

bool name_is_below_or_equal(const uint8_t* n, size_t nlen, const uint8_t* p, size_t plen) noexcept {
  if (plen > nlen) return false;
  // Walk labels of n until the remaining suffix has the parent's length.
  size_t i = 0;
  while (nlen - i > plen) {
    if (n[i] == 0) return false;
    i += size_t(n[i]) + 1;
  }
  return nlen - i == plen && name_equal(n + i, plen, p, plen);
}

int name_label_count(const uint8_t* p, size_t len) noexcept {
  int c = 0;
  size_t i = 0;
  while (i < len && p[i] != 0) {
    ++c;
    i += size_t(p[i]) + 1;
  }
  return c;
}

int name_canonical_compare(const uint8_t* a, size_t alen, const uint8_t* b, size_t blen) noexcept {
  // Collect label offsets, then compare from the rightmost label.
  uint8_t ao[128], bo[128];
  int an = 0, bn = 0;
  for (size_t i = 0; i < alen && a[i] != 0 && an < 128; i += size_t(a[i]) + 1)
    ao[an++] = uint8_t(i);
  for (size_t i = 0; i < blen && b[i] != 0 && bn < 128; i += size_t(b[i]) + 1)
    bo[bn++] = uint8_t(i);
  while (an > 0 && bn > 0) {
    const uint8_t* la = a + ao[--an];
    const uint8_t* lb = b + bo[--bn];
    size_t l = la[0] < lb[0] ? la[0] : lb[0];
    for (size_t k = 1; k <= l; ++k) {
      uint8_t x = lower_ascii(la[k]), y = lower_ascii(lb[k]);
      if (x != y) return x < y ? -1 : 1;
    }
    if (la[0] != lb[0]) return la[0] < lb[0] ? -1 : 1;
  }
  if (an == bn) return 0;
  return an < bn ? -1 : 1;
}

void name_to_text(const uint8_t* p, size_t len, std::string& out) {
  if (len == 0 || p[0] == 0) {
    out += '.';
    return;
  }
  size_t i = 0;
  while (i < len && p[i] != 0) {
    size_t l = p[i];
    for (size_t k = i + 1; k <= i + l && k < len; ++k) {
      uint8_t c = p[k];
      if (c == '.' || c == '\\' || c == '"' || c == ';' || c == '(' || c == ')' || c == '@' ||
          c == '$') {
        out += '\\';
        out += char(c);
      } else if (c <= 0x20 || c >= 0x7f) {
        char buf[5];
        buf[0] = '\\';
        buf[1] = char('0' + c / 100);
        buf[2] = char('0' + c / 10 % 10);
        buf[3] = char('0' + c % 10);
        buf[4] = 0;
        out += buf;
      } else {
        out += char(c);
      }
    }
    out += '.';
    i += l + 1;
  }
}

std::string name_to_text(const uint8_t* p, size_t len) {
  std::string s;
  name_to_text(p, len, s);
  return s;
}

Name Name::from_text(std::string_view text, const Name& origin) {
  uint8_t buf[kMaxName];
  const char* err = nullptr;
  size_t n = name_from_text(text, origin.data(), origin.size(), buf, &err);
  if (n == 0)
    throw std::invalid_argument(std::string(err ? err : "bad name") + ": '" + std::string(text) +
                                "'");
  return from_wire(buf, n);
}

Name Name::parent() const {
  if (is_root()) return *this;
  size_t l = size_t(uint8_t(wire_[0])) + 1;
  return from_wire(data() + l, size() - l);
}

}  // namespace edgedns::zones
