#include "dataplane/rrl.hh"

namespace edgedns::dp {

namespace {

constexpr uint64_t kUsed = 1ull << 63;
constexpr uint64_t kV6 = 1ull << 62;
constexpr unsigned kClassShift = 56;  // above the 56 prefix bits of an IPv6 /56
constexpr uint16_t kTc = 0x0200;
constexpr size_t kHeader = 12;

inline uint16_t rd16(const uint8_t* p) noexcept { return uint16_t(p[0] << 8 | p[1]); }
inline void wr16(uint8_t* p, uint16_t v) noexcept {
  p[0] = uint8_t(v >> 8);
  p[1] = uint8_t(v);
}

// Fibonacci hashing: the key's prefix bits are well spread by one multiply.
inline size_t slot_of(uint64_t key) noexcept {
  return size_t((key * 0x9E3779B97F4A7C15ull) >> 48) & (Rrl::kEntries - 1);
}
static_assert(Rrl::kEntries == 1 << 16, "slot_of takes the top 16 bits");

}  // namespace

void Rrl::configure(const RrlConfig& cfg, uint64_t ticks_per_second) {
  cfg_ = cfg;
  if (cfg.rate == 0 || ticks_per_second == 0) {
    table_.reset();
    return;
  }
  interval_ = ticks_per_second / cfg.rate;
  if (interval_ == 0) interval_ = 1;
  // A full bucket holds rate x kBurstSeconds responses: GCRA's tolerance is
  // that many intervals minus the one being sent.
  tolerance_ = interval_ * (uint64_t(cfg.rate) * kBurstSeconds - 1);
  table_ = std::make_unique<Entry[]>(kEntries);  // value-initialised: all empty
}

uint64_t Rrl::key(const uint8_t* src, bool v6, RrlClass cls) noexcept {
  uint64_t k = kUsed | uint64_t(cls) << kClassShift;
  if (v6) {
    uint64_t p = 0;
    for (int i = 0; i < 7; ++i) p = p << 8 | src[i];  // the /56
    k |= kV6 | p;
  } else {
    k |= uint64_t(src[0]) << 16 | uint64_t(src[1]) << 8 | src[2];  // the /24
  }
  return k;
}

RrlAction Rrl::check(const uint8_t* src, bool v6, RrlClass cls, uint64_t now) noexcept {
  if (!table_) return RrlAction::Send;
  const uint64_t k = key(src, v6, cls);
  // Two-way: the key may live in its slot or the neighbour; a new key takes
  // whichever of the two is empty or was due longest ago.
  const size_t i0 = slot_of(k), i1 = i0 ^ 1;
  Entry* e = nullptr;
  if (table_[i0].key == k) {
    e = &table_[i0];
  } else if (table_[i1].key == k) {
    e = &table_[i1];
  } else {
    e = table_[i0].tat <= table_[i1].tat ? &table_[i0] : &table_[i1];
    e->key = k;
    e->tat = now;  // a full bucket
    e->limited = 0;
  }
  // GCRA: sending now is allowed while tat is at most `tolerance` ahead.
  const uint64_t tat = e->tat > now ? e->tat : now;
  if (tat - now <= tolerance_) {
    e->tat = tat + interval_;
    return RrlAction::Send;
  }
  const uint32_t n = ++e->limited;
  if (cfg_.slip != 0 && n % cfg_.slip == 0) return RrlAction::Slip;
  return RrlAction::Drop;
}

size_t rrl_slip_reply(uint8_t* dns, size_t len, size_t qname_len) noexcept {
  if (len < kHeader) return len;
  size_t keep = kHeader;
  if (rd16(dns + 4) == 1 && kHeader + qname_len + 4 <= len) {
    keep += qname_len + 4;
  } else {
    wr16(dns + 4, 0);
  }
  wr16(dns + 2, uint16_t(rd16(dns + 2) | kTc));
  wr16(dns + 6, 0);
  wr16(dns + 8, 0);
  wr16(dns + 10, 0);
  return keep;
}

}  // namespace edgedns::dp
