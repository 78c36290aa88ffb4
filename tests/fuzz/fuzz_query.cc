// Fuzz target: query parsing + answering (zones::parse_query, prefetch_burst,
// answer) against a rich zone set (tests/data/engine, tests/data/diff,
// alltypes and tests/fuzz/zones/rich.zone).
//
// Input: one configuration byte, then the query packet as it would arrive.
//   bits 0-1  our EDNS payload: 1232, 512, 4096, 65535
//   bits 2-7  a small out buffer of 8 * value bytes (0..504)
//
// Invariants, over UDP and TCP: the response fits the out buffer and the
// client's advertised size, decodes strictly (fuzz_common.hh) and echoes ID,
// opcode, RD and question; the same bytes come out of a buffer of exactly the
// response's size, of the query's own buffer (answer in place), after
// prefetch_burst (hints), and from answer_query. Every smaller buffer (the
// exact size - 1, the fuzzer's small size) still gives a valid response and
// is never overrun (ASan: every buffer is its own heap block).
#include <cstring>
#include <vector>

#include "fuzz_common.hh"
#include "zones/answer.hh"

using namespace edgedns::zones;

namespace {

const ZoneSet& zone_set() {
  static auto zs = fuzz::rich_zone_set();
  return *zs;
}
// A second, smaller set: hints left by prefetch_burst for one set must be
// ignored when answering from another (answer() compares hint_set).
const ZoneSet& other_set() {
  static auto zs =
      fuzz::load_zone_set({std::string(EDGEDNS_TEST_DATA) + "/engine/example.com.zone"});
  return *zs;
}

// Buffers of the exact size under test are fresh heap blocks (ASan sees a
// write one byte past them); the 64 KiB ones are reused, not refilled, since
// clearing them on every call cost more than the answers themselves.
AnswerResult run(const ZoneSet& zs, const Query& q, size_t size, Transport t,
                 const AnswerConfig& cfg, std::vector<uint8_t>& out) {
  if (out.size() != size) out.assign(size, 0xa5);
  AnswerResult r = answer(zs, q, std::span<uint8_t>(out.data(), size), t, cfg);
  fuzz::check_answer(q, out, size, t, cfg, r);
  return r;
}

bool same(const AnswerResult& a, const AnswerResult& b) {
  return a.len == b.len && a.rcode == b.rcode && a.kind == b.kind && a.truncated == b.truncated;
}

void check_same(const char* what, const AnswerResult& ra, const std::vector<uint8_t>& a,
                const AnswerResult& rb, const std::vector<uint8_t>& b) {
  FUZZ_CHECK(same(ra, rb), "%s: result differs (len %u/%u rcode %u/%u kind %u/%u tc %d/%d)", what,
             ra.len, rb.len, ra.rcode, rb.rcode, unsigned(ra.kind), unsigned(rb.kind), ra.truncated,
             rb.truncated);
  FUZZ_CHECK(std::memcmp(a.data(), b.data(), ra.len) == 0, "%s: bytes differ", what);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  static const uint16_t payloads[4] = {1232, 512, 4096, 65535};
  AnswerConfig cfg;
  cfg.edns_payload = payloads[data[0] & 3];
  const size_t small = size_t(data[0] >> 2) * 8;
  // The packet in its own heap block, so that a read past its end is caught.
  std::vector<uint8_t> pkt(data + 1, data + size);
  const ZoneSet& zs = zone_set();

  Query q;
  parse_query(pkt, q);

  static std::vector<uint8_t> big, big2, inplace;
  std::vector<uint8_t> other;
  for (Transport t : {Transport::Udp, Transport::Tcp}) {
    const AnswerResult rb = run(zs, q, 65536, t, cfg, big);
    if (rb.len >= kHeaderSize) {
      // Exactly the room needed: the same response.
      check_same("exact-size buffer", rb, big, run(zs, q, rb.len, t, cfg, other), other);
      // One byte less: something valid and smaller.
      AnswerResult r1 = run(zs, q, rb.len - 1, t, cfg, other);
      FUZZ_CHECK(r1.len < rb.len, "a smaller buffer gave a longer response");
    }
    run(zs, q, small, t, cfg, other);
    run(zs, q, kHeaderSize, t, cfg, other);

    // answer_query on the raw packet.
    big2.resize(65536);
    AnswerResult ra = answer_query(zs, pkt, big2, t, cfg);
    check_same("answer_query", rb, big, ra, big2);

    // In place, as the dataplane does: the response written over the query's
    // own buffer (parse_query copies out what answer() needs).
    inplace.resize(65536);
    if (!pkt.empty()) std::memcpy(inplace.data(), pkt.data(), pkt.size());
    AnswerResult ri =
        answer_query(zs, std::span<const uint8_t>(inplace.data(), pkt.size()), inplace, t, cfg);
    check_same("answer in place", rb, big, ri, inplace);

    // The burst path: prefetch_burst leaves hints that answer() uses.
    Query burst[3] = {q, q, q};
    prefetch_burst(zs, burst, 3);
    for (const Query& h : burst) {
      AnswerResult rh = run(zs, h, 65536, t, cfg, big2);
      check_same("after prefetch_burst", rb, big, rh, big2);
    }
    // Hints for one set, answered from another: the hints must be ignored.
    AnswerResult x1 = run(other_set(), q, 65536, t, cfg, big);
    AnswerResult x2 = run(other_set(), burst[0], 65536, t, cfg, big2);
    check_same("hints of another set", x1, big, x2, big2);
  }
  return 0;
}
