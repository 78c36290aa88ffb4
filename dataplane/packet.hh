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
#include <cstddef>
#include <cstdint>
#include <span>

namespace edgedns::dp {

using Mac = std::array<uint8_t, 6>;
using Ip6 = std::array<uint8_t, 16>;

// The addresses this node answers for on one port. Small fixed arrays: the
// classifier scans them linearly, which beats hashing for a handful.
struct NodeAddrs {
  static constexpr size_t kMax = 16;  // service addresses per family; an edge node has a few
  Mac mac{};
  std::array<uint32_t, kMax> v4{};    // network byte order, as in the packet
  size_t n4 = 0;
  std::array<Ip6, kMax> v6{};
  size_t n6 = 0;

  bool has_v4(const uint8_t* a) const noexcept;
  bool has_v6(const uint8_t* a) const noexcept;
  // a = ff02::1:ffXX:XXXX for one of our v6 addresses (RFC 4291 §2.7.1).
  bool is_our_solicited_node(const uint8_t* a) const noexcept;
};

enum class Kind : uint8_t {
  Dns4, Dns6,        // UDP to port 53 on one of ours: payload_off/payload_len set
  Arp,               // ARP request for one of our IPv4 addresses
  Ns,                // neighbour solicitation for one of our IPv6 addresses
  Echo4, Echo6,      // echo request to one of ours
  Drop,              // see Classified::reason
};

enum class DropReason : uint8_t {
  NotForUs,      // other MAC / other IP / ARP or ND for someone else
  Malformed,     // truncated or inconsistent headers
  Fragment,      // IPv4 MF/offset or IPv6 fragment header (no reassembly here)
  Ethertype,     // neither IPv4, IPv6 nor ARP (after at most one VLAN tag)
  Protocol,      // IP protocol other than UDP/ICMP, IPv6 extension headers
  NonDnsPort,    // UDP to us, not port 53
  IcmpOther,     // ICMP we do not answer (unreachable, RA, ...)
  BadSource,     // source we must not answer: 0.0.0.0, multicast, broadcast, ::, port 0
  kCount,
};

struct Classified {
  Kind kind = Kind::Drop;
  DropReason reason = DropReason::Malformed;
  uint16_t l2_len = 0;        // 14 or 18
  uint16_t l3_len = 0;        // IPv4 header incl. options, or 40
  uint16_t payload_off = 0;   // DNS message (Dns*) or ICMP header (Echo*, Ns)
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
// IPv4 header checksum is updated from the query's, which classify() checked.
// Returns the new frame length.
constexpr uint32_t kNoSum = UINT32_MAX;
size_t udp_reply(uint8_t* frame, const Classified& c, size_t dns_len, const NodeAddrs& me,
                 CsumOffload off, uint32_t dns_sum = kNoSum) noexcept;

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

}  // namespace edgedns::dp
