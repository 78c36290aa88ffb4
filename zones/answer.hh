// The answer engine: a pure function from query bytes and a ZoneSet to
// response bytes in a caller's buffer (RFC 1034 §4.3.2, RFC 2308, RFC 4592,
// RFC 6672, RFC 6891, RFC 8482). Split in three steps so that a dataplane can
// parse and hash a whole burst, prefetch, then answer:
//   parse_query -> prefetch -> answer.
// Every function here: any thread (lcore, TCP worker, test), noexcept, no
// allocation, no lock, never reads or writes outside the given spans. The
// caller keeps the ZoneSet alive (RCU read-side section on the dataplane).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "zones/wire.hh"

namespace edgedns::zones {

class Zone;
class ZoneSet;

enum class Transport : uint8_t { Udp, Tcp };

struct AnswerConfig {
  uint16_t edns_payload = 1232;  // our advertised UDP size (DNS flag day 2020 value)
  // RFC 5001 name server identifier, answered only to queries whose OPT
  // carries the NSID option; empty (or longer than kMaxNsid): never sent.
  // With nsid_version, " v=" and the first 12 hex digits of the answering
  // ZoneSet's version id (zoneset_version) follow it: the answer names the
  // snapshot it came from, not what some other variable says is served.
  std::string_view nsid;
  bool nsid_version = false;
};
constexpr size_t kMaxNsid = 200;  // the identifier's bytes, " v=..." not included

enum class QueryStatus : uint8_t {
  Ok,       // a well-formed QUERY: answer it
  Drop,     // unreadable header or QR=1: send nothing
  FormErr,  // answer FORMERR
  NotImp,   // opcode != QUERY: answer NOTIMP
};

// Everything answer() needs from the query, read out of the packet so that
// the response may be written over the query buffer (answer in place); only
// the question's name stays in the packet (`qname`).
struct Query {
  uint16_t id = 0;
  uint16_t flags = 0;  // as received
  uint16_t qtype = 0;
  uint16_t qclass = 0;
  uint16_t qdcount = 0;
  uint8_t qname_len = 0;  // wire length; 0 when there is no readable question
  bool has_edns = false;
  bool do_bit = false;
  uint8_t edns_version = 0;
  uint16_t udp_size = 512;  // client's limit: 512 without EDNS, max(512, OPT size) with
  QueryStatus status = QueryStatus::Drop;
  // The OPT carries an NSID option (RFC 5001 §2.3: its payload is ignored);
  // meaningful only with has_edns.
  bool nsid = false;
  uint64_t hash = 0;  // name_hash(qname_lower)
  // ones_acc (zones/wire.hh) of the question section as received (name,
  // type, class), which every UDP answer repeats at offset 12: answer()
  // adds it to the response's sum instead of summing the name again.
  uint64_t qsum = 0;
  // The packet parse_query read: answer() into that same buffer (in place)
  // leaves the question where it is instead of writing it again.
  const uint8_t* packet = nullptr;
  // Left by prefetch_burst for answer(), which uses them only with the same
  // ZoneSet (`hint_set`): the zone of the name and, when hint_node_done, the
  // node whose slot tag matched (null: the name is not in the zone); answer()
  // still compares the name. parse_query clears them.
  const ZoneSet* hint_set = nullptr;
  const Zone* hint_zone = nullptr;
  const uint8_t* hint_node = nullptr;
  const void* hint_view = nullptr;  // prefetch_burst's own: the shard's view and the home slot
  uint32_t hint_slot = 0;
  bool hint_node_done = false;
  // The question's name as received (0x20 case preserved, echoed back): in
  // the packet itself, which must stay as it is until answer() returns
  // (answering in place leaves the question where it is).
  const uint8_t* qname = nullptr;
  uint8_t qname_lower[kMaxName];  // folded, for lookups
};

QueryStatus parse_query(std::span<const uint8_t> packet, Query& q) noexcept;

// Touches the hash buckets the answer will need (a hint; may do nothing).
void prefetch(const ZoneSet& zs, const Query& q) noexcept;

// The burst form, the way rte_hash's bulk lookup hides DRAM latency: finds
// every query's zone and prefetches its home slot, then reads the slots and
// prefetches the nodes (with their RRsets), leaving both in the queries'
// hints for answer(). Use it on a whole burst between parse_query and
// answer, with the same ZoneSet kept alive until the last answer.
void prefetch_burst(const ZoneSet& zs, Query* qs, size_t n) noexcept;

// What kind of response was produced: for counters and for the response
// rate limiter, which keys its buckets by class (NXDOMAIN floods apart).
enum class AnswerKind : uint8_t { Answer, NoData, NxDomain, Referral, Error, Dropped };

struct AnswerResult {
  uint16_t len = 0;   // bytes written to out; 0 when dropped
  uint8_t rcode = 0;  // low 4 bits of the header rcode (BADVERS shows as 0 with kind Error)
  AnswerKind kind = AnswerKind::Dropped;
  bool truncated = false;
  // When has_sum: the RFC 1071 one's complement sum of the response bytes
  // out[0, len) as big-endian 16-bit words, folded, not complemented (see
  // zones/wire.hh ones_sum), computed from the pieces as they were written
  // so that a UDP sender need not read the response back. Set for the
  // answers written without the general resolver (hits, the common
  // NODATA/NXDOMAIN, errors, and the precomputed referral, CNAME and
  // wildcard answers); otherwise (and over TCP) has_sum is false.
  bool has_sum = false;
  uint16_t sum = 0;
  // Eight bytes in all: answer() builds the result in one register (a
  // 6-byte struct went through the stack, a stall per query).
};

// Writes the response for a parsed query. `out` may alias the query buffer.
// UDP responses respect q.udp_size (capped by cfg.edns_payload when EDNS is
// used); TCP responses may use up to 65535 bytes and never set TC.
AnswerResult answer(const ZoneSet& zs, const Query& q, std::span<uint8_t> out, Transport t,
                    const AnswerConfig& cfg = {}) noexcept;

// parse_query + answer, for callers without bursts.
AnswerResult answer_query(const ZoneSet& zs, std::span<const uint8_t> packet,
                          std::span<uint8_t> out, Transport t,
                          const AnswerConfig& cfg = {}) noexcept;

}  // namespace edgedns::zones
