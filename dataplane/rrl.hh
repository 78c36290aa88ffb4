// Response Rate Limiting (as Knot's mod-rrl and BIND's rate-limit): a flood
// of UDP queries with a forged source must not turn the node into an
// amplifier aimed at the victim. Responses are counted in token buckets keyed
// by the client's prefix (/24 IPv4, /56 IPv6) and the response class; a
// bucket that runs dry drops its responses, except every `slip`-th one,
// which goes out truncated (TC=1, no records) so that a real client behind
// the prefix retries over TCP, which is never limited.
//
// One Rrl per worker lcore, no sharing, no lock: a prefix's traffic spread
// over N lcores (RSS) may get up to N x rate. The table has a fixed size,
// allocated at start-up; a new key evicts the staler of the two entries its
// hash may use, so a flood of distinct prefixes costs memory nothing and
// only makes the table forget (a forgotten bucket starts full).
//
// Threads: configure() on the control thread at start-up (allocates);
// check() and slip_reply() on the owning lcore: noexcept, no allocation,
// no syscall; time comes from the caller (rte_rdtsc on the lcore, anything
// monotonic in tests).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

namespace edgedns::dp {

enum class RrlClass : uint8_t {
  Answer,    // positive answers and NODATA
  NxDomain,  // NXDOMAIN: random-subdomain floods
  Error,     // FORMERR, NOTIMP, REFUSED, BADVERS...
  Referral,  // delegations
};

enum class RrlAction : uint8_t { Send, Drop, Slip };

struct RrlConfig {
  uint32_t rate = 0;  // responses per second per bucket; 0 = RRL off (the default)
  uint32_t slip =
      2;  // every slip-th limited response goes out truncated; 0 = never (BIND's default 2)
};

class Rrl {
 public:
  // 64k entries x 24 bytes = 1.5 MiB per lcore: room for the prefixes of a
  // busy node's legitimate clients with the flood's on top.
  static constexpr size_t kEntries = 1 << 16;
  // Burst a bucket absorbs, in seconds of its rate: one second, as BIND's
  // and Knot's per-second windows.
  static constexpr uint64_t kBurstSeconds = 1;

  Rrl() = default;
  // Control thread, before the lcore runs. rate 0 frees the table (off).
  void configure(const RrlConfig& cfg, uint64_t ticks_per_second);
  bool enabled() const noexcept { return table_ != nullptr; }
  const RrlConfig& config() const noexcept { return cfg_; }

  // `src` is the client address in network byte order: 4 bytes when !v6,
  // 16 when v6. `now` is in the ticks given to configure(). Lcore only.
  RrlAction check(const uint8_t* src, bool v6, RrlClass cls, uint64_t now) noexcept;

  // The bucket key for an address and class (exposed for tests): the prefix
  // bits, the class, the family and a "used" bit; never 0.
  static uint64_t key(const uint8_t* src, bool v6, RrlClass cls) noexcept;

 private:
  struct Entry {
    uint64_t key = 0;      // 0: empty
    uint64_t tat = 0;      // GCRA theoretical arrival time, in ticks
    uint32_t limited = 0;  // limited responses of this bucket so far (the slip count)
    uint32_t pad = 0;
  };
  RrlConfig cfg_;
  uint64_t interval_ = 0;   // ticks per response at the configured rate
  uint64_t tolerance_ = 0;  // how far tat may run ahead of now: the burst
  std::unique_ptr<Entry[]> table_;
};

// Rewrites a response of `len` bytes (at `dns`) into its slipped form: the
// header with TC set, no answer, authority or additional records, and the
// question when the response had one (`qname_len` is the question's name
// length, as zones::Query has it). Returns the new length (<= len).
size_t rrl_slip_reply(uint8_t* dns, size_t len, size_t qname_len) noexcept;

}  // namespace edgedns::dp
