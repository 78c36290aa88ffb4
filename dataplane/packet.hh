// L2/L3/L4 packet logic of the dataplane over plain byte buffers: classify an
// Ethernet frame (optionally 802.1Q tagged), answer ARP, IPv6 neighbour
// solicitation and ICMP/ICMPv6 echo in place, and turn a UDP/53 query frame
// into the response frame around a DNS payload the answer engine wrote.
// Nothing here knows rte_mbuf: dataplane/worker.cc is the thin adapter, and
// unit tests and benches call these functions on ordinary arrays.
// Every function: lcore (or any thread), noexcept, no allocation, never reads
// or writes outside [frame, frame + cap).
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include "zones/wire.hh"

namespace edgedns::dp {

using Mac = std::array<uint8_t, 6>;
using Ip6 = std::array<uint8_t, 16>;

// The addresses this node answers for on one port. Small fixed arrays: the
// classifier scans them linearly, which beats hashing for a handful.
struct NodeAddrs {
  static constexpr size_t kMax = 16;  // service addresses per family; an edge node has a few
  Mac mac{};
  std::array<uint32_t, kMax> v4{};  // network byte order, as in the packet
  size_t n4 = 0;
  std::array<Ip6, kMax> v6{};
  size_t n6 = 0;

  bool has_v4(const uint8_t* a) const noexcept;
  bool has_v6(const uint8_t* a) const noexcept;
  // a = ff02::1:ffXX:XXXX for one of our v6 addresses (RFC 4291 §2.7.1).
  bool is_our_solicited_node(const uint8_t* a) const noexcept;
};

enum class Kind : uint8_t {
  Dns4,
  Dns6,  // UDP to port 53 on one of ours: payload_off/payload_len set
  Arp,   // ARP request for one of our IPv4 addresses
  Ns,    // neighbour solicitation for one of our IPv6 addresses
  Echo4,
  Echo6,  // echo request to one of ours
  Drop,   // see Classified::reason
};

enum class DropReason : uint8_t {
  NotForUs,    // other MAC / other IP / ARP or ND for someone else
  Malformed,   // truncated or inconsistent headers
  Fragment,    // IPv4 MF/offset or IPv6 fragment header (no reassembly here)
  Ethertype,   // neither IPv4, IPv6 nor ARP (after at most one VLAN tag)
  Protocol,    // IP protocol other than UDP/ICMP, IPv6 extension headers
  NonDnsPort,  // UDP to us, not port 53
  IcmpOther,   // ICMP we do not answer (unreachable, RA, ...)
  BadSource,   // source we must not answer: 0.0.0.0, multicast, broadcast, ::, port 0
  kCount,
};

struct Classified {
  Kind kind = Kind::Drop;
  DropReason reason = DropReason::Malformed;
  uint16_t l2_len = 0;       // 14 or 18
  uint16_t l3_len = 0;       // IPv4 header incl. options, or 40
  uint16_t payload_off = 0;  // DNS message (Dns*) or ICMP header (Echo*, Ns)
  uint16_t payload_len = 0;
};

// Reads headers only; never writes.
Classified classify(const uint8_t* frame, size_t len, const NodeAddrs& me) noexcept;

// The reply builders rewrite the frame in place and return the new frame
// length, or 0 when the frame must be dropped (it then may be partly written).
// `cap` is the writable size starting at `frame` (an mbuf's data + tailroom).
size_t arp_reply(uint8_t* frame, size_t len, const Classified& c, const NodeAddrs& me) noexcept;
size_t nd_advert(uint8_t* frame, size_t cap, const Classified& c, const NodeAddrs& me) noexcept;
size_t echo_reply(uint8_t* frame, size_t len, const Classified& c, const NodeAddrs& me) noexcept;

// Checksum work for the UDP reply: either all in software, or left to the NIC
// (the pseudo-header sum is then stored in the UDP checksum field, as DPDK's
// TX offload contract asks; see rte_ipv4_phdr_cksum).
struct CsumOffload {
  bool ip4 = false;
  bool udp = false;
};

// Turns a classified Dns4/Dns6 query frame into the response frame once the
// engine has written `dns_len` bytes at frame + c.payload_off: swaps MACs,
// addresses and ports, sets lengths, TTL/hop limit and checksums. `dns_sum`
// is the one's complement sum of those bytes when the engine kept it
// (zones::AnswerResult::sum), else kNoSum and they are summed here. The
// IPv4 header checksum is computed afresh over the new header.
// Returns the new frame length.
constexpr uint32_t kNoSum = UINT32_MAX;
size_t udp_reply(uint8_t* frame, const Classified& c, size_t dns_len, const NodeAddrs& me,
                 CsumOffload off, uint32_t dns_sum = kNoSum) noexcept;

// The same rewrite for one family, with the header lengths given (l3 is
// always 40 for IPv6), our MAC as mac_word() packs it and the DNS bytes'
// sum always given (`payload`: the engine's, or zones::ones_acc of them):
// what the lcore calls per query, so it carries no kind test. Defined below.
inline size_t udp_reply4(uint8_t* frame, size_t l2, size_t l3, size_t dns_len, uint64_t mac,
                         CsumOffload off, uint64_t payload) noexcept;
inline size_t udp_reply6(uint8_t* frame, size_t l2, size_t dns_len, uint64_t mac, CsumOffload off,
                         uint64_t payload) noexcept;

// Swaps MACs, IP addresses and UDP ports, nothing else: the floor every
// responder pays (bench baseline), and a reflector for tests.
void swap_l2_l4(uint8_t* frame, const Classified& c) noexcept;

// RFC 1071 helpers, exposed for tests.
uint32_t csum_add(uint32_t sum, const uint8_t* p, size_t len) noexcept;
uint16_t csum_fold(uint32_t sum) noexcept;
uint16_t ip4_header_csum(const uint8_t* ip, size_t ihl_bytes) noexcept;
// L4 checksum over the IPv4/IPv6 pseudo header plus `l4` (checksum field must be 0).
uint16_t l4_csum4(const uint8_t* ip, uint8_t proto, const uint8_t* l4, size_t l4_len) noexcept;
uint16_t l4_csum6(const uint8_t* ip, uint8_t proto, const uint8_t* l4, size_t l4_len) noexcept;

// Ethertypes and protocol numbers used on the wire.
namespace eth {
constexpr uint16_t kIpv4 = 0x0800, kArp = 0x0806, kVlan = 0x8100, kIpv6 = 0x86dd;
}
namespace ipproto {
constexpr uint8_t kIcmp = 1, kUdp = 17, kIcmp6 = 58, kFrag6 = 44;
}
constexpr uint16_t kDnsPort = 53;
constexpr uint8_t kReplyTtl = 64;  // Linux's default; RFC 1700 suggests 64 for new hosts

// ---------------------------------------------------------------------------
// The fast path: nearly every frame an lcore sees is an untagged query to our
// MAC and first address, IPv4 without options or IPv6 with UDP right after
// the fixed header. classify_dns_fast() recognises exactly those with a few
// wide loads and returns false for everything else, which classify() then
// handles (so for those frames the result is classify()'s, drop reasons and
// all: tests/dataplane/packet_test.cc checks the two agree on a corpus).
//
// The header arithmetic works on words as this little-endian CPU loads them:
// a 16-bit field then reads byte-swapped, and byte-swapping is a
// multiplication by 256 modulo 0xffff, so one's complement sums taken that
// way fold and complement to the byte-swapped checksum, which is stored
// as it is (RFC 1071 §2, "byte order independence"). For a sum that is not 0
// the fold is 1 + (s - 1) mod 0xffff, which the compiler turns into a
// multiplication instead of four add-and-shift steps.

namespace fast {
static_assert(std::endian::native == std::endian::little);
inline uint64_t ld64(const uint8_t* p) noexcept {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}
inline uint32_t ld32(const uint8_t* p) noexcept {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
inline void st64(uint8_t* p, uint64_t v) noexcept { std::memcpy(p, &v, 8); }
inline void st32(uint8_t* p, uint32_t v) noexcept { std::memcpy(p, &v, 4); }
inline uint32_t bswap16(uint32_t v) noexcept { return __builtin_bswap16(uint16_t(v)); }
// The folded one's complement sum of s > 0, in [1, 0xffff].
inline uint32_t fold_nz(uint64_t s) noexcept { return uint32_t(1 + (s - 1) % 0xffff); }
using zones::ones_halves;
// The UDP header's first word (as loaded): destination port 53 and a source
// port other than 0, i.e. the word in [0x35000001, 0x3500ffff], one compare.
inline bool to_port53_from_nonzero(uint64_t udp_word) noexcept {
  constexpr uint32_t kLo = uint32_t(__builtin_bswap16(kDnsPort)) << 16 | 1;
  return uint32_t(udp_word) - kLo < 0xffff;
}
}  // namespace fast

// Our MAC in the low 48 bits of a word, memory order (what a 64-bit load of
// a frame's destination MAC gives after masking).
inline uint64_t mac_word(const Mac& m) noexcept {
  uint32_t lo;
  uint16_t hi;
  std::memcpy(&lo, m.data(), 4);
  std::memcpy(&hi, m.data() + 4, 2);
  return uint64_t(hi) << 32 | lo;
}

// What the fast path compares a frame against, taken from NodeAddrs once per
// burst. A family without addresses gets a key no frame can match, so the
// per-frame test needs no count.
struct FastAddrs {
  uint64_t mac = 0;            // mac_word(our MAC)
  uint32_t key4 = UINT32_MAX;  // ethertype 0x0800 + version/IHL 0x45 as loaded, or never
  uint32_t key6 = UINT32_MAX;  // ethertype 0x86dd + version 6 as loaded (masked), or never
  uint32_t v4 = 0;             // first IPv4 service address, network order
  uint64_t v6[2] = {0, 0};     // first IPv6 service address, as two loads
};

inline FastAddrs fast_addrs(const NodeAddrs& me) noexcept {
  FastAddrs a;
  a.mac = mac_word(me.mac);
  if (me.n4) {
    a.key4 = 0x00450008;  // bytes 12..14: 08 00 45
    a.v4 = me.v4[0];
  }
  if (me.n6) {
    a.key6 = 0x0060dd86;  // bytes 12..14: 86 dd 6x
    std::memcpy(a.v6, me.v6[0].data(), 16);
  }
  return a;
}

namespace fast {
// c := {kind, Malformed (classify()'s default, unused for the DNS kinds), 14,
// l3, 14 + l3 + 8, payload_len}, with the first eight bytes as one constant
// store instead of five field stores.
inline void set_fast(Classified& c, Kind kind, uint16_t l3, uint16_t payload_len) noexcept {
  static_assert(offsetof(Classified, reason) == 1 && offsetof(Classified, l2_len) == 2 &&
                offsetof(Classified, l3_len) == 4 && offsetof(Classified, payload_off) == 6 &&
                offsetof(Classified, payload_len) == 8 && sizeof(Classified) == 10);
  const uint64_t w = uint64_t(kind) | uint64_t(DropReason::Malformed) << 8 | uint64_t(14) << 16 |
                     uint64_t(l3) << 32 | uint64_t(14 + l3 + 8) << 48;
  std::memcpy(static_cast<void*>(&c), &w, 8);  // trivially copyable, no padding
  c.payload_len = payload_len;
}
}  // namespace fast

// True (and `c` set as classify() would set it) when the frame is a UDP/53
// query of the common shape described above; false says nothing about the
// frame: ask classify(). Reads only [frame, frame + len).
inline bool classify_dns_fast(const uint8_t* frame, size_t len, const FastAddrs& a,
                              Classified& c) noexcept {
  using namespace fast;
  constexpr size_t kEth = 14, kV4Min = kEth + 20 + 8, kV6Min = kEth + 40 + 8;
  if (len < kV4Min) return false;
  // Our MAC (a group address never equals it, so no separate group test).
  if (((ld64(frame) ^ a.mac) << 16) != 0) return false;
  const uint32_t et = ld32(frame + 12);
  const uint8_t* ip = frame + kEth;
  if ((et & 0x00ffffff) == a.key4) {
    // One test at a time, in an order that lets each loaded word die early.
    const uint64_t h0 = ld64(ip);      // version/IHL, TOS, total length, id, flags/fragment
    const uint64_t h1 = ld64(ip + 8);  // TTL, protocol, checksum, source
    const uint32_t dst = ld32(ip + 16);
    // The header's sum over all 20 bytes is 0xffff when its checksum is
    // right; never 0 (0x45), so that is "divisible by 0xffff".
    if ((ones_halves(h0) + ones_halves(h1) + dst) % 0xffff != 0) return false;
    if (dst != a.v4 || (h1 & 0xff00) != uint32_t(ipproto::kUdp) << 8) return false;
    if ((h0 >> 48) & 0xff3f) return false;             // MF or a fragment offset
    if (uint8_t((h1 >> 32) - 1) >= 223) return false;  // source not 1.x.x.x-223.x.x.x
    const uint32_t tot = bswap16(uint32_t(h0 >> 16));
    if (kEth + tot > len) return false;
    const uint64_t u = ld64(ip + 20);  // UDP ports, length, checksum
    if (!to_port53_from_nonzero(u)) return false;
    const uint32_t ulen = bswap16(uint32_t(u >> 32));
    if (ulen < 8 || ulen + 20 > tot) return false;
    set_fast(c, Kind::Dns4, 20, uint16_t(ulen - 8));
    return true;
  }
  if ((et & 0x00f0ffff) == a.key6 && len >= kV6Min) {
    const uint32_t w = ld32(ip + 4);  // payload length, next header, hop limit
    const uint64_t s0 = ld64(ip + 8), s1 = ld64(ip + 16);
    const uint64_t u = ld64(ip + 40);
    const uint32_t plen = bswap16(w);
    const uint32_t ulen = bswap16(uint32_t(u >> 32));
    if (ld64(ip + 24) == a.v6[0] && ld64(ip + 32) == a.v6[1] &&
        ((w >> 16) & 0xff) == ipproto::kUdp && kV6Min - 8 + plen <= len && (s0 | s1) != 0 &&
        (s0 & 0xff) != 0xff &&  // not :: and not multicast
        to_port53_from_nonzero(u) && ulen >= 8 && ulen <= plen) {
      set_fast(c, Kind::Dns6, 40, uint16_t(ulen - 8));
      return true;
    }
  }
  return false;
}

namespace fast {
// IPv4 options (unchanged by the reply), a native sum. Out of line: rare,
// and its loop would take registers from the common path.
[[gnu::cold, gnu::noinline]] inline uint64_t options_sum(const uint8_t* ip, size_t l3) noexcept {
  return zones::ones_acc(ip + 20, l3 - 20) << 8;
}
// Reply goes back to whoever sent the frame, from the port's own MAC.
inline void eth_reply(uint8_t* frame, uint64_t mac) noexcept {
  const uint64_t e = ld64(frame + 6);  // the sender's MAC and two bytes after it
  st64(frame, (e & 0xffff'ffff'ffff) | mac << 48);
  st32(frame + 8, uint32_t(mac >> 16));
}
// The UDP header of the reply: ports swapped, length, checksum from the
// pseudo header's sum `pseudo` (addresses, protocol, length; native words).
inline void udp_header(uint8_t* udp, uint32_t ports, uint32_t ulen_n, uint64_t pseudo,
                       uint64_t payload, CsumOffload off) noexcept {
  uint32_t cs;
  if (off.udp) {
    // DPDK's TX offload contract (rte_ipv4_phdr_cksum / rte_ipv6_phdr_cksum):
    // the field holds the pseudo-header sum, folded, not complemented; the
    // NIC adds the segment and complements.
    cs = fold_nz(pseudo);
  } else {
    // payload is a big-endian sum: times 256 makes it a native one.
    const uint64_t x = pseudo + ports + ulen_n + (payload << 8);
    // The complement of the sum, where a computed 0 is sent as all ones
    // (RFC 768 / RFC 8200 §8.1: 0 means none, not allowed over IPv6): the
    // representative of -x in [1, 0xffff], from any multiple of 0xffff
    // above x (payload < 2^48, so x < 2^57).
    constexpr uint64_t kMul = uint64_t(0xffff) << 44;
    cs = uint32_t(1 + (kMul - 1 - x) % 0xffff);
  }
  st64(udp, uint64_t(ports >> 16 | ports << 16) | uint64_t(ulen_n) << 32 | uint64_t(cs) << 48);
}
}  // namespace fast

// Everything the checksums need is read before any of it is rewritten: the
// sums come from values in registers, never from bytes just stored (reading
// those back stalls on store forwarding).
inline size_t udp_reply4(uint8_t* frame, size_t l2, size_t l3, size_t dns_len, uint64_t mac,
                         CsumOffload off, uint64_t payload) noexcept {
  using namespace fast;
  uint8_t* ip = frame + l2;
  uint8_t* udp = ip + l3;
  const uint64_t h0 = ld64(ip), h1 = ld64(ip + 8);
  const uint32_t dst = ld32(ip + 16), ports = ld32(udp);
  const uint32_t ulen = uint32_t(8 + dns_len);
  const uint32_t ulen_n = bswap16(ulen), tot_n = bswap16(uint32_t(l3) + ulen);
  // Total length; fragment field 0: no fragmentation of our own answers,
  // they fit the path by EDNS size. Then TTL, protocol, checksum, addresses swapped.
  const uint64_t new_h0 = (h0 & 0x0000'ffff'0000'ffff) | uint64_t(tot_n) << 16;
  const uint32_t new_ttl_proto_n = uint32_t(h1 & 0xff00) | kReplyTtl;
  const uint64_t addrs = (h1 >> 32) + dst;  // source + destination: the swap keeps the sum
  // The header checksum over the new header, summed from the words just
  // built rather than updated from the query's (RFC 1624): fewer terms, and
  // the same 16 bits, since both sums are non-zero with the same residue.
  uint64_t hsum = ones_halves(new_h0) + new_ttl_proto_n + addrs;
  if (l3 > 20) hsum += options_sum(ip, l3);
  const uint32_t ipcs = off.ip4 ? 0 : ~fold_nz(hsum) & 0xffff;
  eth_reply(frame, mac);
  st64(ip, new_h0);
  st64(ip + 8, new_ttl_proto_n | uint64_t(ipcs) << 16 | uint64_t(dst) << 32);
  st32(ip + 16, uint32_t(h1 >> 32));
  const uint64_t pseudo = addrs + (uint32_t(ipproto::kUdp) << 8) + ulen_n;
  udp_header(udp, ports, ulen_n, pseudo, payload, off);
  return l2 + l3 + ulen;
}

inline size_t udp_reply6(uint8_t* frame, size_t l2, size_t dns_len, uint64_t mac, CsumOffload off,
                         uint64_t payload) noexcept {
  using namespace fast;
  uint8_t* ip = frame + l2;
  uint8_t* udp = ip + 40;
  const uint32_t w = ld32(ip + 4);  // payload length, next header (UDP), hop limit
  const uint64_t s0 = ld64(ip + 8), s1 = ld64(ip + 16), d0 = ld64(ip + 24), d1 = ld64(ip + 32);
  const uint32_t ports = ld32(udp);
  const uint32_t ulen = uint32_t(8 + dns_len);
  const uint32_t ulen_n = bswap16(ulen);
  eth_reply(frame, mac);
  st32(ip + 4, ulen_n | (w & 0x00ff0000) | uint32_t(kReplyTtl) << 24);
  st64(ip + 8, d0);
  st64(ip + 16, d1);
  st64(ip + 24, s0);
  st64(ip + 32, s1);
  const uint64_t pseudo = ones_halves(s0) + ones_halves(s1) + ones_halves(d0) + ones_halves(d1) +
                          (uint32_t(ipproto::kUdp) << 8) + ulen_n;
  udp_header(udp, ports, ulen_n, pseudo, payload, off);
  return l2 + 40 + ulen;
}

}  // namespace edgedns::dp
