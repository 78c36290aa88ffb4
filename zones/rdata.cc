#include "zones/rdata.hh"

#include <arpa/inet.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <initializer_list>

#include "zones/name.hh"
#include "zones/rdata_text.hh"
#include "zones/rrtype.hh"
#include "zones/wire.hh"

namespace edgedns::zones {
namespace {

using detail::parse_uint;

// ---------------------------------------------------------------------------
// text -> wire
// ---------------------------------------------------------------------------

// Cursor over the fields of one record. Every failure is reported as
// "<TYPE> <field>: <reason>" so that an operator can find the bad field.
class Fields {
 public:
  Fields(uint16_t type, std::span<const RdataToken> f, const uint8_t* origin, size_t olen,
         std::vector<uint8_t>& out)
      : type_(type), f_(f), origin_(origin), olen_(olen), out_(out) {}

  bool more() const noexcept { return i_ < f_.size(); }
  size_t remaining() const noexcept { return f_.size() - i_; }
  const RdataToken* peek() const noexcept { return more() ? &f_[i_] : nullptr; }

  const RdataToken* next(std::string_view field) {
    if (!more()) {
      fail(field, "missing");
      return nullptr;
    }
    return &f_[i_++];
  }

  bool fail(std::string_view field, std::string_view why) {
    if (!err_.empty()) return false;
    err_ = rrtype_to_text(type_);
    if (!field.empty()) {
      err_ += ' ';
      err_ += field;
    }
    err_ += ": ";
    err_ += why;
    return false;
  }
  bool fail_value(std::string_view field, std::string_view what, std::string_view text) {
    std::string m(what);
    m += " '";
    m += text;
    m += '\'';
    return fail(field, m);
  }

  bool uint_field(std::string_view field, uint64_t max, uint64_t& v) {
    const RdataToken* t = next(field);
    if (!t) return false;
    if (parse_uint(t->text, max, v)) return true;
    if (!t->text.empty() &&
        std::all_of(t->text.begin(), t->text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      std::string m(1, '\'');
      m += t->text;
      m += "' is above ";
      m += std::to_string(max);
      return fail(field, m);
    }
    return fail_value(field, "not a number", t->text);
  }
  bool u8(std::string_view field) {
    uint64_t v;
    if (!uint_field(field, 255, v)) return false;
    out_.push_back(uint8_t(v));
    return true;
  }
  bool u16(std::string_view field) {
    uint64_t v;
    if (!uint_field(field, 65535, v)) return false;
    put16(uint16_t(v));
    return true;
  }
  bool u32(std::string_view field) {
    uint64_t v;
    if (!uint_field(field, 0xffffffffull, v)) return false;
    put32(uint32_t(v));
    return true;
  }
  // SOA timers and RRSIG original TTL accept TTL units, as in BIND.
  bool ttl32(std::string_view field) {
    const RdataToken* t = next(field);
    if (!t) return false;
    uint32_t v;
    if (!detail::parse_ttl(t->text, v)) return fail_value(field, "bad number or TTL", t->text);
    put32(v);
    return true;
  }
  bool name(std::string_view field) {
    const RdataToken* t = next(field);
    if (!t) return false;
    uint8_t buf[kMaxName];
    const char* e = nullptr;
    size_t n = name_from_text(t->text, origin_, olen_, buf, &e);
    if (n == 0)
      return fail(field, std::string(e ? e : "bad name") + " in '" + std::string(t->text) + "'");
    out_.insert(out_.end(), buf, buf + n);
    return true;
  }
  // One <character-string> (RFC 1035 §5.1): quoted or not, escapes decoded.
  bool charstring(std::string_view field) {
    const RdataToken* t = next(field);
    if (!t) return false;
    return charstring_of(field, t->text);
  }
  bool charstring_of(std::string_view field, std::string_view text) {
    size_t len_at = out_.size();
    out_.push_back(0);
    if (!unescape(field, text, out_)) return false;
    size_t n = out_.size() - len_at - 1;
    if (n > 255) return fail(field, "character-string longer than 255 octets");
    out_[len_at] = uint8_t(n);
    return true;
  }
  // Decodes \X and \DDD into `dst`.
  bool unescape(std::string_view field, std::string_view s, std::vector<uint8_t>& dst) {
    for (size_t i = 0; i < s.size(); ++i) {
      uint8_t c = uint8_t(s[i]);
      if (c != '\\') {
        dst.push_back(c);
        continue;
      }
      if (i + 1 >= s.size()) return fail(field, "dangling backslash");
      uint8_t d = uint8_t(s[i + 1]);
      if (d >= '0' && d <= '9') {
        if (i + 3 >= s.size()) return fail(field, "bad \\DDD escape");
        unsigned v = 0;
        for (int k = 1; k <= 3; ++k) {
          uint8_t x = uint8_t(s[i + k]);
          if (x < '0' || x > '9') return fail(field, "bad \\DDD escape");
          v = v * 10 + (x - '0');
        }
        if (v > 255) return fail(field, "\\DDD escape above 255");
        dst.push_back(uint8_t(v));
        i += 3;
      } else {
        dst.push_back(d);
        i += 1;
      }
    }
    return true;
  }
  // All remaining fields concatenated (hex and base64 may be split by blanks).
  bool rest_concat(std::string_view field, std::string& s, bool allow_empty) {
    s.clear();
    while (more()) s += f_[i_++].text;
    if (s.empty() && !allow_empty) return fail(field, "missing");
    return true;
  }
  bool hex_rest(std::string_view field, bool allow_empty = false) {
    std::string s;
    if (!rest_concat(field, s, allow_empty)) return false;
    return hex_decode(field, s);
  }
  bool hex_decode(std::string_view field, std::string_view s) {
    if (s.size() % 2) return fail(field, "odd number of hex digits");
    for (size_t i = 0; i < s.size(); i += 2) {
      int h = hexval(s[i]), l = hexval(s[i + 1]);
      if (h < 0 || l < 0) return fail_value(field, "bad hex", s);
      out_.push_back(uint8_t(h << 4 | l));
    }
    return true;
  }
  bool base64_rest(std::string_view field) {
    std::string s;
    if (!rest_concat(field, s, false)) return false;
    return base64_decode(field, s);
  }
  bool base64_decode(std::string_view field, std::string_view s);
  bool algorithm(std::string_view field);
  bool type_bitmap();
  bool time_field(std::string_view field);

  bool finish() {
    if (!err_.empty()) return false;
    if (more()) return fail("", "trailing data '" + std::string(f_[i_].text) + "'");
    return true;
  }

  void put16(uint16_t v) {
    out_.push_back(uint8_t(v >> 8));
    out_.push_back(uint8_t(v));
  }
  void put32(uint32_t v) {
    put16(uint16_t(v >> 16));
    put16(uint16_t(v));
  }
  static int hexval(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }

  uint16_t type_;
  std::span<const RdataToken> f_;
  size_t i_ = 0;
  const uint8_t* origin_;
  size_t olen_;
  std::vector<uint8_t>& out_;
  std::string err_;
};

int b64val(char c) noexcept {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

bool Fields::base64_decode(std::string_view field, std::string_view s) {
  if (s.size() % 4) return fail_value(field, "bad base64 (length not a multiple of 4)", s);
  for (size_t i = 0; i < s.size(); i += 4) {
    int v[4];
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      char c = s[i + k];
      if (c == '=') {
        if (i + 4 != s.size() || k < 2) return fail_value(field, "bad base64 padding", s);
        v[k] = 0;
        ++pad;
      } else {
        if (pad) return fail_value(field, "bad base64 padding", s);
        v[k] = b64val(c);
        if (v[k] < 0) return fail_value(field, "bad base64", s);
      }
    }
    uint32_t x = uint32_t(v[0]) << 18 | uint32_t(v[1]) << 12 | uint32_t(v[2]) << 6 | uint32_t(v[3]);
    out_.push_back(uint8_t(x >> 16));
    if (pad < 2) out_.push_back(uint8_t(x >> 8));
    if (pad < 1) out_.push_back(uint8_t(x));
  }
  return true;
}

struct AlgName {
  uint8_t code;
  std::string_view text;
};
// RFC 4034 App. A.1 / IANA DNSSEC algorithm mnemonics, accepted as BIND does.
constexpr AlgName kAlgs[] = {
    {1, "RSAMD5"},
    {2, "DH"},
    {3, "DSA"},
    {5, "RSASHA1"},
    {6, "DSA-NSEC3-SHA1"},
    {7, "RSASHA1-NSEC3-SHA1"},
    {8, "RSASHA256"},
    {10, "RSASHA512"},
    {12, "ECC-GOST"},
    {13, "ECDSAP256SHA256"},
    {14, "ECDSAP384SHA384"},
    {15, "ED25519"},
    {16, "ED448"},
    {252, "INDIRECT"},
    {253, "PRIVATEDNS"},
    {254, "PRIVATEOID"},
};

bool iequal(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (lower_ascii(uint8_t(a[i])) != lower_ascii(uint8_t(b[i]))) return false;
  return true;
}

bool Fields::algorithm(std::string_view field) {
  const RdataToken* t = peek();
  if (t && !t->text.empty() && !(t->text[0] >= '0' && t->text[0] <= '9')) {
    for (const auto& a : kAlgs)
      if (iequal(a.text, t->text)) {
        ++i_;
        out_.push_back(a.code);
        return true;
      }
    ++i_;
    return fail_value(field, "unknown algorithm", t->text);
  }
  return u8(field);
}

// RFC 4034 §4.1.2 type bitmap from the remaining mnemonics.
bool Fields::type_bitmap() {
  uint8_t bits[256][32];
  bool used[256] = {};
  while (more()) {
    const RdataToken* t = next("type bitmap");
    auto ty = rrtype_from_text(t->text);
    if (!ty) return fail_value("type bitmap", "unknown type", t->text);
    unsigned w = *ty >> 8, b = *ty & 0xff;
    if (!used[w]) {
      std::memset(bits[w], 0, 32);
      used[w] = true;
    }
    bits[w][b >> 3] |= uint8_t(0x80 >> (b & 7));
  }
  for (unsigned w = 0; w < 256; ++w) {
    if (!used[w]) continue;
    int len = 32;
    while (len > 0 && bits[w][len - 1] == 0) --len;
    out_.push_back(uint8_t(w));
    out_.push_back(uint8_t(len));
    out_.insert(out_.end(), bits[w], bits[w] + len);
  }
  return true;
}

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
// civil-days algorithm, re-derived here).
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) noexcept {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  unsigned yoe = unsigned(y - era * 400);
  unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + int64_t(doe) - 719468;
}

// RRSIG times (RFC 4034 §3.2): YYYYMMDDHHmmSS (UTC) or a plain integer.
bool Fields::time_field(std::string_view field) {
  const RdataToken* t = next(field);
  if (!t) return false;
  std::string_view s = t->text;
  uint64_t v;
  if (s.size() == 14 && parse_uint(s, UINT64_MAX, v)) {
    auto num = [&](size_t at, size_t n) {
      unsigned x = 0;
      for (size_t k = 0; k < n; ++k) x = x * 10 + unsigned(s[at + k] - '0');
      return x;
    };
    unsigned Y = num(0, 4), M = num(4, 2), D = num(6, 2), h = num(8, 2), mi = num(10, 2),
             se = num(12, 2);
    if (M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || mi > 59 || se > 60)
      return fail_value(field, "bad date", s);
    int64_t secs = days_from_civil(Y, M, D) * 86400 + h * 3600 + mi * 60 + se;
    put32(uint32_t(uint64_t(secs)));  // serial arithmetic: wraps mod 2^32
    return true;
  }
  if (parse_uint(s, 0xffffffffull, v)) {
    put32(uint32_t(v));
    return true;
  }
  return fail_value(field, "bad time", s);
}

bool parse_ipv4(std::string_view s, uint8_t out[4]) noexcept {
  char buf[INET_ADDRSTRLEN];
  if (s.size() >= sizeof buf) return false;
  s.copy(buf, s.size());  // not memcpy: an empty view may have a null data()
  buf[s.size()] = 0;
  return inet_pton(AF_INET, buf, out) == 1;
}
bool parse_ipv6(std::string_view s, uint8_t out[16]) noexcept {
  char buf[INET6_ADDRSTRLEN + 8];
  if (s.size() >= sizeof buf) return false;
  s.copy(buf, s.size());
  buf[s.size()] = 0;
  return inet_pton(AF_INET6, buf, out) == 1;
}

// "0123456789ABCDEFGHIJKLMNOPQRSTUV" (RFC 4648 §7), no padding (RFC 5155 §3.3).
int b32hval(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'v') return c - 'a' + 10;
  if (c >= 'A' && c <= 'V') return c - 'A' + 10;
  return -1;
}

// ---- LOC (RFC 1876 appendix A) ----
bool loc_size(std::string_view s, uint8_t& out) {
  if (!s.empty() && (s.back() == 'm' || s.back() == 'M')) s.remove_suffix(1);
  // meters with up to two decimals -> centimeters
  uint64_t whole = 0, frac = 0;
  size_t dot = s.find('.');
  std::string_view w = s.substr(0, dot);
  if (w.empty() || !parse_uint(w, 90000000, whole)) return false;
  if (dot != std::string_view::npos) {
    std::string_view f = s.substr(dot + 1);
    if (f.empty() || f.size() > 2 || !parse_uint(f, 99, frac)) return false;
    if (f.size() == 1) frac *= 10;
  }
  uint64_t cm = whole * 100 + frac;
  unsigned exp = 0;
  while (cm >= 10 && cm % 10 == 0 && exp < 9) {
    cm /= 10;
    ++exp;
  }
  // mantissa must be a single digit; round like BIND (values are normally exact)
  while (cm >= 10 && exp < 9) {
    cm /= 10;
    ++exp;
  }
  if (cm >= 10) return false;
  out = uint8_t(cm << 4 | exp);
  return true;
}

bool parse_loc(Fields& f) {
  auto tok = [&](std::string_view field) -> const RdataToken* { return f.next(field); };
  uint32_t coord[2];
  const char* hemis[2] = {"NS", "EW"};
  const char* names[2] = {"latitude", "longitude"};
  for (int c = 0; c < 2; ++c) {
    uint64_t deg = 0, min = 0, secms = 0;
    const RdataToken* t = tok(names[c]);
    if (!t) return false;
    if (!parse_uint(t->text, c == 0 ? 90 : 180, deg))
      return f.fail_value(names[c], "bad degrees", t->text);
    auto is_hemi = [&](const RdataToken* x) {
      return x && x->text.size() == 1 &&
             (lower_ascii(uint8_t(x->text[0])) == lower_ascii(uint8_t(hemis[c][0])) ||
              lower_ascii(uint8_t(x->text[0])) == lower_ascii(uint8_t(hemis[c][1])));
    };
    if (!is_hemi(f.peek())) {
      t = tok(names[c]);
      if (!t) return false;  // "LOC 5" ends after the degrees
      if (!parse_uint(t->text, 59, min)) return f.fail_value(names[c], "bad minutes", t->text);
      if (!is_hemi(f.peek())) {
        t = tok(names[c]);
        if (!t) return false;
        std::string_view s = t->text;
        size_t dot = s.find('.');
        uint64_t whole = 0, frac = 0;
        if (!parse_uint(s.substr(0, dot), 59, whole))
          return f.fail_value(names[c], "bad seconds", s);
        if (dot != std::string_view::npos) {
          std::string_view fr = s.substr(dot + 1);
          if (fr.empty() || fr.size() > 3 || !parse_uint(fr, 999, frac))
            return f.fail_value(names[c], "bad seconds", s);
          for (size_t k = fr.size(); k < 3; ++k) frac *= 10;
        }
        secms = whole * 1000 + frac;
      }
    }
    t = tok(names[c]);
    if (!t) return false;
    if (!is_hemi(t)) return f.fail_value(names[c], "expected hemisphere, got", t->text);
    uint64_t v = (deg * 3600 + min * 60) * 1000 + secms;
    if (v > (c == 0 ? 90ull : 180ull) * 3600000) return f.fail(names[c], "out of range");
    bool neg = lower_ascii(uint8_t(t->text[0])) == 's' || lower_ascii(uint8_t(t->text[0])) == 'w';
    coord[c] = neg ? uint32_t((1u << 31) - v) : uint32_t((1u << 31) + v);
  }
  const RdataToken* t = tok("altitude");
  if (!t) return false;
  std::string_view s = t->text;
  if (!s.empty() && (s.back() == 'm' || s.back() == 'M')) s.remove_suffix(1);
  bool neg = !s.empty() && s[0] == '-';
  if (neg) s.remove_prefix(1);
  size_t dot = s.find('.');
  uint64_t whole = 0, frac = 0;
  if (!parse_uint(s.substr(0, dot), 42849672, whole))
    return f.fail_value("altitude", "bad value", t->text);
  if (dot != std::string_view::npos) {
    std::string_view fr = s.substr(dot + 1);
    if (fr.empty() || fr.size() > 2 || !parse_uint(fr, 99, frac))
      return f.fail_value("altitude", "bad value", t->text);
    if (fr.size() == 1) frac *= 10;
  }
  int64_t alt_cm = int64_t(whole * 100 + frac) * (neg ? -1 : 1) + 10000000;
  if (alt_cm < 0 || alt_cm > 0xffffffffll) return f.fail_value("altitude", "out of range", t->text);
  uint8_t sz[3] = {0x12, 0x16, 0x13};  // 1m, 10000m, 10m (RFC 1876 defaults)
  const char* szn[3] = {"size", "horizontal precision", "vertical precision"};
  for (int k = 0; k < 3 && f.more(); ++k) {
    t = f.next(szn[k]);
    if (!loc_size(t->text, sz[k])) return f.fail_value(szn[k], "bad value", t->text);
  }
  f.out_.push_back(0);  // version
  f.out_.insert(f.out_.end(), sz, sz + 3);
  f.put32(coord[0]);
  f.put32(coord[1]);
  f.put32(uint32_t(alt_cm));
  return true;
}

// ---- SVCB / HTTPS (RFC 9460) ----
constexpr std::string_view kSvcKeys[] = {"mandatory", "alpn",     "no-default-alpn",
                                         "port",      "ipv4hint", "ech",
                                         "ipv6hint",  "dohpath",  "ohttp"};

bool svc_key_from_text(std::string_view s, uint16_t& key) {
  for (size_t k = 0; k < std::size(kSvcKeys); ++k)
    if (iequal(s, kSvcKeys[k])) {
      key = uint16_t(k);
      return true;
    }
  if (s.size() > 3 && iequal(s.substr(0, 3), "key")) {
    uint64_t v;
    if (parse_uint(s.substr(3), 65535, v)) {
      key = uint16_t(v);
      return true;
    }
  }
  return false;
}

std::string svc_key_to_text(uint16_t k) {
  if (k < std::size(kSvcKeys)) return std::string(kSvcKeys[k]);
  return "key" + std::to_string(k);
}

// Splits an SvcParam value at unescaped commas.
template <class F>
bool split_commas(std::string_view v, F&& each) {
  size_t start = 0;
  for (size_t i = 0; i <= v.size(); ++i) {
    if (i < v.size() && v[i] == '\\') {
      ++i;
      continue;
    }
    if (i == v.size() || v[i] == ',') {
      if (!each(v.substr(start, i - start))) return false;
      start = i + 1;
    }
  }
  return true;
}

bool parse_svcb(Fields& f) {
  if (!f.u16("priority") || !f.name("target")) return false;
  struct Param {
    uint16_t key;
    std::vector<uint8_t> value;
  };
  std::vector<Param> params;
  while (f.more()) {
    const RdataToken* t = f.next("parameter");
    std::string_view s = t->text;
    size_t eq = s.find('=');
    std::string_view ks = s.substr(0, eq);
    std::string_view vs;
    bool has_value = eq != std::string_view::npos;
    if (has_value) {
      vs = s.substr(eq + 1);
      if (vs.empty() && f.peek() && f.peek()->quoted)
        vs = f.next("parameter")->text;  // key= "value"
      if (vs.size() >= 2 && vs.front() == '"' && vs.back() == '"') vs = vs.substr(1, vs.size() - 2);
    }
    uint16_t key;
    if (!svc_key_from_text(ks, key)) return f.fail_value("parameter", "unknown key", ks);
    for (const auto& p : params)
      if (p.key == key) return f.fail_value("parameter", "duplicate key", ks);
    Param p{key, {}};
    std::string field = svc_key_to_text(key);
    auto& v = p.value;
    switch (key) {
      case 0: {  // mandatory
        std::vector<uint16_t> keys;
        bool ok = split_commas(vs, [&](std::string_view k) {
          uint16_t kk;
          if (!svc_key_from_text(k, kk)) return f.fail_value(field, "unknown key", k);
          keys.push_back(kk);
          return true;
        });
        if (!ok) return false;
        if (keys.empty()) return f.fail(field, "needs a value");
        std::sort(keys.begin(), keys.end());
        for (uint16_t k : keys) {
          v.push_back(uint8_t(k >> 8));
          v.push_back(uint8_t(k));
        }
        break;
      }
      case 1: {  // alpn
        if (vs.empty()) return f.fail(field, "needs a value");
        bool ok = split_commas(vs, [&](std::string_view id) {
          size_t at = v.size();
          v.push_back(0);
          if (!f.unescape(field, id, v)) return false;
          size_t n = v.size() - at - 1;
          if (n == 0 || n > 255) return f.fail_value(field, "bad protocol id", id);
          v[at] = uint8_t(n);
          return true;
        });
        if (!ok) return false;
        break;
      }
      case 2:
      case 8:  // no-default-alpn, ohttp: no value
        if (has_value && !vs.empty()) return f.fail(field, "takes no value");
        break;
      case 3: {
        uint64_t port;
        if (!parse_uint(vs, 65535, port)) return f.fail_value(field, "bad port", vs);
        v.push_back(uint8_t(port >> 8));
        v.push_back(uint8_t(port));
        break;
      }
      case 4:
      case 6: {
        bool ok = split_commas(vs, [&](std::string_view a) {
          uint8_t buf[16];
          if (key == 4 ? !parse_ipv4(a, buf) : !parse_ipv6(a, buf))
            return f.fail_value(field, "bad address", a);
          v.insert(v.end(), buf, buf + (key == 4 ? 4 : 16));
          return true;
        });
        if (!ok) return false;
        if (v.empty()) return f.fail(field, "needs a value");
        break;
      }
      case 5: {  // ech: base64 ECHConfigList
        size_t before = f.out_.size();
        if (!f.base64_decode(field, vs)) return false;
        v.assign(f.out_.begin() + long(before), f.out_.end());
        f.out_.resize(before);
        break;
      }
      default:  // dohpath and keyNNNNN: opaque bytes
        if (!f.unescape(field, vs, v)) return false;
        break;
    }
    if (v.size() > 65535) return f.fail(field, "value too long");
    params.push_back(std::move(p));
  }
  // RFC 9460 §2.2: SvcParamKeys in strictly increasing order on the wire.
  std::sort(params.begin(), params.end(),
            [](const Param& a, const Param& b) { return a.key < b.key; });
  for (const auto& p : params) {
    f.put16(p.key);
    f.put16(uint16_t(p.value.size()));
    f.out_.insert(f.out_.end(), p.value.begin(), p.value.end());
  }
  return true;
}

bool encode_native(uint16_t type, Fields& f) {
  using namespace rrtype;
  switch (type) {
    case A: {
      const RdataToken* t = f.next("");
      if (!t) return false;
      uint8_t a[4];
      if (!parse_ipv4(t->text, a)) return f.fail_value("", "bad IPv4 address", t->text);
      f.out_.insert(f.out_.end(), a, a + 4);
      return true;
    }
    case AAAA: {
      const RdataToken* t = f.next("");
      if (!t) return false;
      uint8_t a[16];
      if (!parse_ipv6(t->text, a)) return f.fail_value("", "bad IPv6 address", t->text);
      f.out_.insert(f.out_.end(), a, a + 16);
      return true;
    }
    case NS:
    case CNAME:
    case DNAME:
    case PTR: return f.name("target");
    case SOA:
      return f.name("mname") && f.name("rname") && f.u32("serial") && f.ttl32("refresh") &&
             f.ttl32("retry") && f.ttl32("expire") && f.ttl32("minimum");
    case MX: return f.u16("preference") && f.name("exchange");
    case TXT:
    case SPF:
      if (!f.more()) return f.fail("", "needs at least one string");
      while (f.more())
        if (!f.charstring("string")) return false;
      return true;
    case HINFO: return f.charstring("cpu") && f.charstring("os");
    case SRV: return f.u16("priority") && f.u16("weight") && f.u16("port") && f.name("target");
    case NAPTR:
      return f.u16("order") && f.u16("preference") && f.charstring("flags") &&
             f.charstring("services") && f.charstring("regexp") && f.name("replacement");
    case CAA: {
      if (!f.u8("flags")) return false;
      const RdataToken* t = f.next("tag");
      if (!t) return false;
      if (t->text.empty() || t->text.size() > 255 ||
          !std::all_of(t->text.begin(), t->text.end(), [](char c) {
            return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
          }))
        return f.fail_value("tag", "bad tag", t->text);
      f.out_.push_back(uint8_t(t->text.size()));
      f.out_.insert(f.out_.end(), t->text.begin(), t->text.end());
      t = f.next("value");
      if (!t) return false;
      return f.unescape("value", t->text, f.out_);
    }
    case SSHFP: return f.u8("algorithm") && f.u8("fingerprint type") && f.hex_rest("fingerprint");
    case TLSA:
      return f.u8("usage") && f.u8("selector") && f.u8("matching type") && f.hex_rest("data");
    case DS:
    case CDS:
      return f.u16("key tag") && f.algorithm("algorithm") && f.u8("digest type") &&
             f.hex_rest("digest");
    case DNSKEY:
    case CDNSKEY:
      return f.u16("flags") && f.u8("protocol") && f.algorithm("algorithm") &&
             f.base64_rest("public key");
    case RRSIG: {
      const RdataToken* t = f.next("type covered");
      if (!t) return false;
      auto ty = rrtype_from_text(t->text);
      if (!ty) return f.fail_value("type covered", "unknown type", t->text);
      f.put16(*ty);
      return f.algorithm("algorithm") && f.u8("labels") && f.ttl32("original TTL") &&
             f.time_field("expiration") && f.time_field("inception") && f.u16("key tag") &&
             f.name("signer") && f.base64_rest("signature");
    }
    case NSEC: return f.name("next name") && f.type_bitmap();
    case NSEC3:
    case NSEC3PARAM: {
      if (!f.u8("hash algorithm") || !f.u8("flags") || !f.u16("iterations")) return false;
      const RdataToken* t = f.next("salt");
      if (!t) return false;
      if (t->text == "-") {
        f.out_.push_back(0);
      } else {
        if (t->text.size() > 510) return f.fail("salt", "longer than 255 octets");
        f.out_.push_back(uint8_t(t->text.size() / 2));
        if (!f.hex_decode("salt", t->text)) return false;
      }
      if (type == NSEC3PARAM) return true;
      t = f.next("next hashed owner");
      if (!t) return false;
      std::string_view s = t->text;
      size_t at = f.out_.size();
      f.out_.push_back(0);
      uint64_t acc = 0;
      int bits = 0;
      for (char c : s) {
        int v = b32hval(c);
        if (v < 0) return f.fail_value("next hashed owner", "bad base32hex", s);
        acc = acc << 5 | unsigned(v);
        bits += 5;
        if (bits >= 8) {
          bits -= 8;
          f.out_.push_back(uint8_t(acc >> bits));
        }
      }
      if (bits >= 5 || (acc & ((1u << bits) - 1)) != 0)
        return f.fail_value("next hashed owner", "bad base32hex length", s);
      size_t n = f.out_.size() - at - 1;
      if (n == 0 || n > 255) return f.fail_value("next hashed owner", "bad length", s);
      f.out_[at] = uint8_t(n);
      return f.type_bitmap();
    }
    case ZONEMD:
      return f.u32("serial") && f.u8("scheme") && f.u8("hash algorithm") && f.hex_rest("digest");
    case LOC: return parse_loc(f);
    case SVCB:
    case HTTPS: return parse_svcb(f);
    default:
      return f.fail("", "no presentation format known for this type; use the RFC 3597 \\# form");
  }
}

bool is_native(uint16_t type) noexcept {
  using namespace rrtype;
  switch (type) {
    case A:
    case AAAA:
    case NS:
    case CNAME:
    case DNAME:
    case PTR:
    case SOA:
    case MX:
    case TXT:
    case SPF:
    case HINFO:
    case SRV:
    case NAPTR:
    case CAA:
    case SSHFP:
    case TLSA:
    case DS:
    case CDS:
    case DNSKEY:
    case CDNSKEY:
    case RRSIG:
    case NSEC:
    case NSEC3:
    case NSEC3PARAM:
    case ZONEMD:
    case LOC:
    case SVCB:
    case HTTPS: return true;
    default: return false;
  }
}

// ---------------------------------------------------------------------------
// wire -> text
// ---------------------------------------------------------------------------

class Reader {
 public:
  Reader(const uint8_t* p, size_t n) : p_(p), n_(n) {}
  bool ok() const noexcept { return ok_; }
  bool done() const noexcept { return i_ == n_; }
  size_t left() const noexcept { return n_ - i_; }
  const uint8_t* here() const noexcept { return p_ + i_; }
  bool need(size_t k) {
    if (n_ - i_ < k) ok_ = false;
    return ok_;
  }
  unsigned u8() {
    if (!need(1)) return 0;
    return p_[i_++];
  }
  unsigned u16() {
    if (!need(2)) return 0;
    unsigned v = rd16(p_ + i_);
    i_ += 2;
    return v;
  }
  uint32_t u32() {
    if (!need(4)) return 0;
    uint32_t v = rd32(p_ + i_);
    i_ += 4;
    return v;
  }
  void skip(size_t k) {
    if (need(k)) i_ += k;
  }
  void name(std::string& out) {
    if (!ok_) return;
    size_t l = name_wire_length(p_ + i_, n_ - i_);
    if (l == 0) {
      ok_ = false;
      return;
    }
    name_to_text(p_ + i_, l, out);
    i_ += l;
  }
  void charstring(std::string& out) {
    unsigned l = u8();
    if (!need(l)) return;
    quoted(p_ + i_, l, out);
    i_ += l;
  }
  static void quoted(const uint8_t* s, size_t l, std::string& out) {
    out += '"';
    escaped(s, l, out);
    out += '"';
  }
  // As BIND prints character-strings: '"' and '\' backslashed, other
  // non-printables as \DDD.
  static void escaped(const uint8_t* s, size_t l, std::string& out) {
    for (size_t k = 0; k < l; ++k) {
      uint8_t c = s[k];
      if (c == '"' || c == '\\') {
        out += '\\';
        out += char(c);
      } else if (c < 0x20 || c >= 0x7f) {
        char b[5];
        std::snprintf(b, sizeof b, "\\%03u", c);
        out += b;
      } else out += char(c);
    }
  }

 private:
  const uint8_t* p_;
  size_t n_;
  size_t i_ = 0;
  bool ok_ = true;
};

void hex_upper(const uint8_t* p, size_t n, std::string& out) {
  static const char d[] = "0123456789ABCDEF";
  for (size_t i = 0; i < n; ++i) {
    out += d[p[i] >> 4];
    out += d[p[i] & 15];
  }
}
void base64(const uint8_t* p, size_t n, std::string& out) {
  static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    uint32_t x = uint32_t(p[i]) << 16 | uint32_t(p[i + 1]) << 8 | p[i + 2];
    out += a[x >> 18];
    out += a[(x >> 12) & 63];
    out += a[(x >> 6) & 63];
    out += a[x & 63];
  }
  if (n - i == 1) {
    uint32_t x = uint32_t(p[i]) << 16;
    out += a[x >> 18];
    out += a[(x >> 12) & 63];
    out += "==";
  } else if (n - i == 2) {
    uint32_t x = uint32_t(p[i]) << 16 | uint32_t(p[i + 1]) << 8;
    out += a[x >> 18];
    out += a[(x >> 12) & 63];
    out += a[(x >> 6) & 63];
    out += '=';
  }
}
void num(unsigned long long v, std::string& out) { out += std::to_string(v); }

// The shape shared by SSHFP, TLSA, DS/CDS, DNSKEY/CDNSKEY and ZONEMD: fixed
// unsigned fields of the given widths in octets (1, 2 or 4), each followed
// by a blank, then the rest of the RDATA as one non-empty hex or base64 field.
enum class Tail { Hex, Base64 };
bool fields_then_tail(Reader& r, std::initializer_list<int> widths, Tail tail, std::string& out) {
  for (int w : widths) {
    num(w == 1 ? r.u8() : w == 2 ? r.u16() : r.u32(), out);
    out += ' ';
  }
  if (!r.ok() || r.done()) return false;
  if (tail == Tail::Hex) hex_upper(r.here(), r.left(), out);
  else base64(r.here(), r.left(), out);
  r.skip(r.left());
  return true;
}

void type_bitmap_text(Reader& r, std::string& out) {
  int last = -1;
  while (r.ok() && !r.done()) {
    unsigned w = r.u8(), len = r.u8();
    if (!r.ok() || len == 0 || len > 32 || int(w) <= last) {
      r.need(SIZE_MAX);
      return;
    }
    last = int(w);
    r.need(len);
    if (!r.ok()) return;
    const uint8_t* b = r.here();
    for (unsigned i = 0; i < len * 8; ++i)
      if (b[i >> 3] & (0x80 >> (i & 7))) {
        out += ' ';
        out += rrtype_to_text(uint16_t(w << 8 | i));
      }
    r.skip(len);
  }
}

void time_text(uint32_t t, std::string& out) {
  int64_t days = t / 86400, rem = t % 86400;
  // civil-from-days (inverse of days_from_civil)
  int64_t z = days + 719468;
  int64_t era = z / 146097;
  unsigned doe = unsigned(z - era * 146097);
  unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t y = int64_t(yoe) + era * 400;
  unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  unsigned mp = (5 * doy + 2) / 153;
  unsigned d = doy - (153 * mp + 2) / 5 + 1;
  unsigned m = mp < 10 ? mp + 3 : mp - 9;
  y += m <= 2;
  char b[32];
  std::snprintf(b, sizeof b, "%04lld%02u%02u%02u%02u%02u", (long long)y, m, d, unsigned(rem / 3600),
                unsigned(rem / 60 % 60), unsigned(rem % 60));
  out += b;
}

void loc_size_text(uint8_t v, std::string& out) {
  unsigned long long cm = (v >> 4);
  for (unsigned e = 0; e < (v & 15u); ++e) cm *= 10;
  char b[40];
  // As BIND prints it: below 1 m with centimeters, else whole meters.
  if (cm < 100) std::snprintf(b, sizeof b, "0.%02llum", cm);
  else std::snprintf(b, sizeof b, "%llum", cm / 100);
  out += b;
}

bool loc_text(Reader& r, std::string& out) {
  if (r.u8() != 0) return false;  // only version 0 has a text form
  uint8_t sz = uint8_t(r.u8()), hp = uint8_t(r.u8()), vp = uint8_t(r.u8());
  uint32_t lat = r.u32(), lon = r.u32(), alt = r.u32();
  if (!r.ok()) return false;
  for (uint8_t x : {sz, hp, vp})
    if ((x >> 4) > 9 || (x & 15) > 9) return false;
  char b[64];
  for (int c = 0; c < 2; ++c) {
    uint32_t v = c == 0 ? lat : lon;
    bool pos = v >= (1u << 31);
    uint32_t a = pos ? v - (1u << 31) : (1u << 31) - v;
    std::snprintf(b, sizeof b, "%u %u %u.%03u %c ", a / 3600000, a / 60000 % 60, a / 1000 % 60,
                  a % 1000, c == 0 ? (pos ? 'N' : 'S') : (pos ? 'E' : 'W'));
    out += b;
  }
  int64_t alt_cm = int64_t(alt) - 10000000;
  uint64_t aa = uint64_t(alt_cm < 0 ? -alt_cm : alt_cm);
  std::snprintf(b, sizeof b, "%s%llu.%02llum ", alt_cm < 0 ? "-" : "",
                (unsigned long long)(aa / 100), (unsigned long long)(aa % 100));
  out += b;
  loc_size_text(sz, out);
  out += ' ';
  loc_size_text(hp, out);
  out += ' ';
  loc_size_text(vp, out);
  return true;
}

bool svcb_text(Reader& r, std::string& out) {
  num(r.u16(), out);
  out += ' ';
  r.name(out);
  int last = -1;
  while (r.ok() && !r.done()) {
    unsigned key = r.u16(), len = r.u16();
    if (!r.ok() || int(key) <= last || !r.need(len)) return false;
    last = int(key);
    const uint8_t* v = r.here();
    r.skip(len);
    out += ' ';
    out += svc_key_to_text(uint16_t(key));
    switch (key) {
      case 0:
        if (len == 0 || len % 2) return false;
        out += '=';
        for (unsigned i = 0; i < len; i += 2) {
          if (i) out += ',';
          out += svc_key_to_text(rd16(v + i));
        }
        break;
      case 1: {
        out += "=\"";
        for (unsigned i = 0; i < len;) {
          unsigned l = v[i++];
          if (l == 0 || i + l > len) return false;
          if (i > 1) out += ',';
          // commas inside an id need the double escape of RFC 9460 App. A.1
          for (unsigned k = 0; k < l; ++k) {
            uint8_t c = v[i + k];
            if (c == ',') out += "\\\\,";
            else Reader::escaped(&c, 1, out);
          }
          i += l;
        }
        out += '"';
        break;
      }
      case 2:
      case 8:
        if (len) return false;
        break;
      case 3:
        if (len != 2) return false;
        out += '=';
        num(rd16(v), out);
        break;
      case 4:
      case 6: {
        unsigned al = key == 4 ? 4 : 16;
        if (len == 0 || len % al) return false;
        out += '=';
        for (unsigned i = 0; i < len; i += al) {
          char b[INET6_ADDRSTRLEN];
          inet_ntop(key == 4 ? AF_INET : AF_INET6, v + i, b, sizeof b);
          if (i) out += ',';
          out += b;
        }
        break;
      }
      case 5:
        out += '=';
        base64(v, len, out);
        break;
      default:
        out += "=\"";
        Reader::escaped(v, len, out);
        out += '"';
        break;
    }
  }
  return r.ok();
}

bool decode_native(uint16_t type, const uint8_t* p, size_t n, std::string& out) {
  using namespace rrtype;
  Reader r(p, n);
  char b[INET6_ADDRSTRLEN];
  switch (type) {
    case A:
      if (n != 4) return false;
      inet_ntop(AF_INET, p, b, sizeof b);
      out += b;
      return true;
    case AAAA:
      if (n != 16) return false;
      inet_ntop(AF_INET6, p, b, sizeof b);
      out += b;
      return true;
    case NS:
    case CNAME:
    case DNAME:
    case PTR: r.name(out); break;
    case SOA:
      r.name(out);
      out += ' ';
      r.name(out);
      for (int k = 0; k < 5; ++k) {
        out += ' ';
        num(r.u32(), out);
      }
      break;
    case MX:
      num(r.u16(), out);
      out += ' ';
      r.name(out);
      break;
    case TXT:
    case SPF:
      if (n == 0) return false;
      while (r.ok() && !r.done()) {
        r.charstring(out);
        if (!r.done()) out += ' ';
      }
      break;
    case HINFO:
      r.charstring(out);
      out += ' ';
      r.charstring(out);
      break;
    case SRV:
      for (int k = 0; k < 3; ++k) {
        num(r.u16(), out);
        out += ' ';
      }
      r.name(out);
      break;
    case NAPTR:
      num(r.u16(), out);
      out += ' ';
      num(r.u16(), out);
      out += ' ';
      for (int k = 0; k < 3; ++k) {
        r.charstring(out);
        out += ' ';
      }
      r.name(out);
      break;
    case CAA: {
      num(r.u8(), out);
      out += ' ';
      unsigned l = r.u8();
      if (!r.need(l) || l == 0) return false;
      out.append(reinterpret_cast<const char*>(r.here()), l);
      r.skip(l);
      out += ' ';
      Reader::quoted(r.here(), r.left(), out);
      r.skip(r.left());
      break;
    }
    case SSHFP:  // algorithm, fingerprint type, fingerprint
      if (!fields_then_tail(r, {1, 1}, Tail::Hex, out)) return false;
      break;
    case TLSA:  // usage, selector, matching type, data
      if (!fields_then_tail(r, {1, 1, 1}, Tail::Hex, out)) return false;
      break;
    case DS:
    case CDS:  // key tag, algorithm, digest type, digest
      if (!fields_then_tail(r, {2, 1, 1}, Tail::Hex, out)) return false;
      break;
    case DNSKEY:
    case CDNSKEY:  // flags, protocol, algorithm, public key
      if (!fields_then_tail(r, {2, 1, 1}, Tail::Base64, out)) return false;
      break;
    case RRSIG:
      out += rrtype_to_text(uint16_t(r.u16()));
      out += ' ';
      num(r.u8(), out);
      out += ' ';
      num(r.u8(), out);
      out += ' ';
      num(r.u32(), out);
      out += ' ';
      time_text(r.u32(), out);
      out += ' ';
      time_text(r.u32(), out);
      out += ' ';
      num(r.u16(), out);
      out += ' ';
      r.name(out);
      out += ' ';
      if (!r.ok() || r.done()) return false;
      base64(r.here(), r.left(), out);
      r.skip(r.left());
      break;
    case NSEC:
      r.name(out);
      type_bitmap_text(r, out);
      break;
    case NSEC3:
    case NSEC3PARAM: {
      num(r.u8(), out);
      out += ' ';
      num(r.u8(), out);
      out += ' ';
      num(r.u16(), out);
      out += ' ';
      unsigned sl = r.u8();
      if (!r.need(sl)) return false;
      if (sl == 0) out += '-';
      else hex_upper(r.here(), sl, out);
      r.skip(sl);
      if (type == NSEC3PARAM) break;
      unsigned hl = r.u8();
      if (!r.need(hl) || hl == 0) return false;
      out += ' ';
      static const char a[] = "0123456789ABCDEFGHIJKLMNOPQRSTUV";
      const uint8_t* h = r.here();
      uint32_t acc = 0;
      int bits = 0;
      for (unsigned i = 0; i < hl; ++i) {
        acc = (acc << 8 | h[i]) & 0xffff;
        bits += 8;
        while (bits >= 5) {
          bits -= 5;
          out += a[(acc >> bits) & 31];
        }
      }
      if (bits) out += a[(acc << (5 - bits)) & 31];
      r.skip(hl);
      type_bitmap_text(r, out);
      break;
    }
    case ZONEMD:  // serial, scheme, hash algorithm, digest
      if (!fields_then_tail(r, {4, 1, 1}, Tail::Hex, out)) return false;
      break;
    case LOC:
      if (!loc_text(r, out)) return false;
      break;
    case SVCB:
    case HTTPS:
      if (!svcb_text(r, out)) return false;
      break;
    default: return false;
  }
  return r.ok() && r.done();
}

}  // namespace

std::string rdata_from_text(uint16_t type, std::span<const RdataToken> fields,
                            const uint8_t* origin, size_t origin_len, std::vector<uint8_t>& out) {
  size_t start = out.size();
  Fields f(type, fields, origin, origin_len, out);
  // RFC 3597 §5: "\# <length> <hex>" is valid for every type.
  if (!fields.empty() && !fields[0].quoted && fields[0].text == "\\#") {
    f.i_ = 1;
    uint64_t len;
    if (!f.uint_field("RFC 3597 length", 65535, len)) {
      out.resize(start);
      return f.err_;
    }
    if (!f.hex_rest("RFC 3597 data", true)) {
      out.resize(start);
      return f.err_;
    }
    size_t got = out.size() - start;
    if (got != len) {
      out.resize(start);
      return rrtype_to_text(type) + ": RFC 3597 length " + std::to_string(len) +
             " does not match " + std::to_string(got) + " octets of hex data";
    }
    if (is_native(type)) {
      std::string scratch;
      if (!decode_native(type, out.data() + start, got, scratch)) {
        out.resize(start);
        return rrtype_to_text(type) + ": RFC 3597 data is not a valid " + rrtype_to_text(type) +
               " RDATA";
      }
    }
    return {};
  }
  if (!encode_native(type, f) || !f.finish()) {
    out.resize(start);
    return f.err_;
  }
  if (out.size() - start > 65535) {
    out.resize(start);
    return rrtype_to_text(type) + ": RDATA longer than 65535 octets";
  }
  return {};
}

std::string rdata_to_text(uint16_t type, const uint8_t* rdata, size_t len) {
  std::string out;
  if (is_native(type) && decode_native(type, rdata, len, out)) return out;
  return rdata_to_generic(rdata, len);
}

std::string rdata_to_generic(const uint8_t* rdata, size_t len) {
  static const char d[] = "0123456789abcdef";
  std::string out = "\\# " + std::to_string(len);
  if (len) out += ' ';
  for (size_t i = 0; i < len; ++i) {
    out += d[rdata[i] >> 4];
    out += d[rdata[i] & 15];
  }
  return out;
}

}  // namespace edgedns::zones
