// Shared by the fuzz targets: the invariant check macro, a byte reader that
// turns fuzz input into choices, the rich zone set the query target answers
// from, and a strict DNS response decoder (an independent reading of RFC 1035
// §4.1, RFC 3597 §4 and RFC 6891 §6.1.1, not the engine's own parser).
// Test code only: allocates, aborts on a broken invariant.
#pragma once

#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "zones/answer.hh"
#include "zones/snapshot.hh"
#include "zones/wire.hh"

namespace fuzz {

// An invariant broke: print why and abort, which libFuzzer records as a crash
// (and a replay test as a failure) with the input that caused it.
[[noreturn]] inline void fail(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  std::fputs("fuzz invariant violated: ", stderr);
  std::vfprintf(stderr, fmt, ap);
  std::fputc('\n', stderr);
  va_end(ap);
  std::abort();
}
#define FUZZ_CHECK(cond, ...)               \
  do {                                      \
    if (!(cond)) ::fuzz::fail(__VA_ARGS__); \
  } while (0)

// Consumes fuzz input from the front; past the end it yields zeros.
class Reader {
 public:
  Reader(const uint8_t* p, size_t n) : p_(p), n_(n) {}
  uint8_t u8() { return n_ ? (--n_, *p_++) : 0; }
  uint16_t u16() { return uint16_t(u8() << 8 | u8()); }
  bool empty() const { return n_ == 0; }
  size_t left() const { return n_; }
  // Up to `max` bytes, or the rest when max is 0.
  std::string_view bytes(size_t max) {
    size_t k = max == 0 || max > n_ ? n_ : max;
    std::string_view s(reinterpret_cast<const char*>(p_), k);
    p_ += k;
    n_ -= k;
    return s;
  }
  // Bytes up to (not including) the next `sep`, which is consumed.
  std::string_view until(uint8_t sep) {
    size_t k = 0;
    while (k < n_ && p_[k] != sep) ++k;
    std::string_view s(reinterpret_cast<const char*>(p_), k);
    p_ += k;
    n_ -= k;
    if (n_) {
      ++p_;
      --n_;
    }
    return s;
  }

 private:
  const uint8_t* p_;
  size_t n_;
};

// Loads zone files (paths relative to the tests/data or tests/fuzz trees) into
// one set; aborts when a fixture does not load (the harness, not the input, is wrong).
std::shared_ptr<const edgedns::zones::ZoneSet> load_zone_set(const std::vector<std::string>& paths);
// The query target's zone set: tests/data/engine, tests/data/diff,
// tests/data/parser/alltypes.zone and tests/fuzz/zones/rich.zone.
std::shared_ptr<const edgedns::zones::ZoneSet> rich_zone_set();

// One decoded resource record (names uncompressed, lower case kept as sent).
struct DecodedRR {
  std::string owner;  // wire form
  uint16_t type = 0, rclass = 0;
  uint32_t ttl = 0;
  size_t rdata_off = 0, rdata_len = 0;
};
struct Decoded {
  uint16_t id = 0, flags = 0;
  uint16_t counts[4] = {};
  std::string qname;  // wire form as sent (empty when qdcount is 0)
  uint16_t qtype = 0, qclass = 0;
  std::vector<DecodedRR> sec[3];  // answer, authority, additional
  const DecodedRR* opt = nullptr;
};

// Decodes a whole response strictly: header counts match the records present,
// nothing follows the last record, compression pointers only point backwards
// into the message past the header, labels <= 63, names <= 255, RDATA of the
// known types well formed (names compressed only where RFC 3597 §4 allows),
// at most one OPT, in the additional section, owned by the root. Returns ""
// or what is wrong.
std::string decode_response(std::span<const uint8_t> msg, Decoded& out);

// Every invariant of one answer() call: `out` (the bytes written, res.len of
// them) decodes strictly, echoes the query's ID, opcode, RD and question,
// fits the buffer and the client's advertised size, agrees with the result
// fields. `buf_size` is the out span's size given to answer().
void check_answer(const edgedns::zones::Query& q, std::span<const uint8_t> out, size_t buf_size,
                  edgedns::zones::Transport t, const edgedns::zones::AnswerConfig& cfg,
                  const edgedns::zones::AnswerResult& res);

}  // namespace fuzz
