#include "dataplane/packet.hh"

#include <algorithm>
#include <cstring>

#include "zones/wire.hh"

namespace edgedns::dp {

using zones::rd16;
using zones::wr16;

namespace {

// Offsets inside the headers (RFC 791, RFC 8200, RFC 768, RFC 826, RFC 4861).
constexpr size_t kEthHdr = 14, kVlanTag = 4;
constexpr size_t kIp4Min = 20, kIp6Hdr = 40, kUdpHdr = 8, kArpLen = 28;
constexpr size_t kNsMin = 24;      // type, code, csum, reserved, target
constexpr size_t kNaLen = 24 + 8;  // NA plus one target link-layer address option
constexpr uint8_t kIcmpEchoRequest = 8, kIcmpEchoReply = 0;
constexpr uint8_t kIcmp6EchoRequest = 128, kIcmp6EchoReply = 129;
constexpr uint8_t kIcmp6Ns = 135, kIcmp6Na = 136;
constexpr uint8_t kNdHopLimit = 255;  // RFC 4861 §7.1.1: anything else is off-link, ignore
constexpr uint8_t kNaSolicited = 0x40, kNaOverride = 0x20;
constexpr uint8_t kOptTargetLladdr = 2;

Classified drop(DropReason r) noexcept {
  Classified c;
  c.kind = Kind::Drop;
  c.reason = r;
  return c;
}

bool is_zero16(const uint8_t* a) noexcept {
  for (int i = 0; i < 16; ++i)
    if (a[i]) return false;
  return true;
}

void swap_bytes(uint8_t* a, uint8_t* b, size_t n) noexcept {
  uint8_t tmp[16];
  std::memcpy(tmp, a, n);
  std::memcpy(a, b, n);
  std::memcpy(b, tmp, n);
}

// Reply goes back to whoever sent the frame, from the port's own MAC (the
// UDP fast path's rewrite, packet.hh).
void eth_reply(uint8_t* frame, const NodeAddrs& me) noexcept {
  fast::eth_reply(frame, mac_word(me.mac));
}

Classified classify_ip4(const uint8_t* frame, size_t len, size_t l2, const NodeAddrs& me) noexcept {
  const uint8_t* ip = frame + l2;
  if (len < l2 + kIp4Min || (ip[0] >> 4) != 4) return drop(DropReason::Malformed);
  size_t ihl = size_t(ip[0] & 0x0f) * 4;
  size_t tot = rd16(ip + 2);
  if (ihl < kIp4Min || tot < ihl || l2 + tot > len) return drop(DropReason::Malformed);
  if (!me.has_v4(ip + 16)) return drop(DropReason::NotForUs);
  // A header that fails its checksum may carry a corrupted source: an answer
  // could go to a host that never asked (the kernel drops these too).
  if (ip4_header_csum(ip, ihl) != 0) return drop(DropReason::Malformed);
  if (rd16(ip + 6) & 0x3fff) return drop(DropReason::Fragment);  // MF or a fragment offset
  // A reply to 0.0.0.0, multicast, class E or broadcast would go to many
  // hosts or none: such sources are forged or broken.
  if (ip[12] == 0 || ip[12] >= 224) return drop(DropReason::BadSource);
  Classified c;
  c.l2_len = uint16_t(l2);
  c.l3_len = uint16_t(ihl);
  const uint8_t* l4 = ip + ihl;
  size_t l4_len = tot - ihl;
  switch (ip[9]) {
    case ipproto::kUdp: {
      if (l4_len < kUdpHdr) return drop(DropReason::Malformed);
      size_t ulen = rd16(l4 + 4);
      if (ulen < kUdpHdr || ulen > l4_len) return drop(DropReason::Malformed);
      if (rd16(l4 + 2) != kDnsPort) return drop(DropReason::NonDnsPort);
      if (rd16(l4) == 0) return drop(DropReason::BadSource);  // nowhere to answer to
      c.kind = Kind::Dns4;
      c.payload_off = uint16_t(l2 + ihl + kUdpHdr);
      c.payload_len = uint16_t(ulen - kUdpHdr);
      return c;
    }
    case ipproto::kIcmp:
      if (l4_len < 8) return drop(DropReason::Malformed);
      if (l4[0] != kIcmpEchoRequest || l4[1] != 0) return drop(DropReason::IcmpOther);
      c.kind = Kind::Echo4;
      c.payload_off = uint16_t(l2 + ihl);
      c.payload_len = uint16_t(l4_len);
      return c;
    default: return drop(DropReason::Protocol);
  }
}

Classified classify_ip6(const uint8_t* frame, size_t len, size_t l2, const NodeAddrs& me) noexcept {
  const uint8_t* ip = frame + l2;
  if (len < l2 + kIp6Hdr || (ip[0] >> 4) != 6) return drop(DropReason::Malformed);
  size_t plen = rd16(ip + 4);
  if (l2 + kIp6Hdr + plen > len) return drop(DropReason::Malformed);
  const uint8_t* dst = ip + 24;
  const uint8_t* l4 = ip + kIp6Hdr;
  Classified c;
  c.l2_len = uint16_t(l2);
  c.l3_len = uint16_t(kIp6Hdr);
  uint8_t nh = ip[6];
  // Neighbour solicitations arrive at the solicited-node group, not at our address.
  if (nh == ipproto::kIcmp6 && plen >= 4 && l4[0] == kIcmp6Ns) {
    if (!me.has_v6(dst) && !me.is_our_solicited_node(dst)) return drop(DropReason::NotForUs);
    if (plen < kNsMin || l4[1] != 0 || ip[7] != kNdHopLimit) return drop(DropReason::Malformed);
    if (!me.has_v6(l4 + 8)) return drop(DropReason::NotForUs);
    c.kind = Kind::Ns;
    c.payload_off = uint16_t(l2 + kIp6Hdr);
    c.payload_len = uint16_t(plen);
    return c;
  }
  if (!me.has_v6(dst)) return drop(DropReason::NotForUs);
  if (ip[8] == 0xff || is_zero16(ip + 8)) return drop(DropReason::BadSource);  // multicast or ::
  switch (nh) {
    case ipproto::kUdp: {
      if (plen < kUdpHdr) return drop(DropReason::Malformed);
      size_t ulen = rd16(l4 + 4);
      if (ulen < kUdpHdr || ulen > plen) return drop(DropReason::Malformed);
      if (rd16(l4 + 2) != kDnsPort) return drop(DropReason::NonDnsPort);
      if (rd16(l4) == 0) return drop(DropReason::BadSource);  // nowhere to answer to
      c.kind = Kind::Dns6;
      c.payload_off = uint16_t(l2 + kIp6Hdr + kUdpHdr);
      c.payload_len = uint16_t(ulen - kUdpHdr);
      return c;
    }
    case ipproto::kIcmp6:
      if (plen < 8) return drop(DropReason::Malformed);
      if (l4[0] != kIcmp6EchoRequest || l4[1] != 0) return drop(DropReason::IcmpOther);
      c.kind = Kind::Echo6;
      c.payload_off = uint16_t(l2 + kIp6Hdr);
      c.payload_len = uint16_t(plen);
      return c;
    case ipproto::kFrag6: return drop(DropReason::Fragment);
    default: return drop(DropReason::Protocol);  // includes extension headers: not on the fast path
  }
}

}  // namespace

bool NodeAddrs::has_v4(const uint8_t* a) const noexcept {
  uint32_t v;
  std::memcpy(&v, a, 4);
  for (size_t i = 0; i < n4; ++i)
    if (v4[i] == v) return true;
  return false;
}

bool NodeAddrs::has_v6(const uint8_t* a) const noexcept {
  uint64_t x[2];
  std::memcpy(x, a, 16);
  for (size_t i = 0; i < n6; ++i) {
    uint64_t y[2];
    std::memcpy(y, v6[i].data(), 16);
    if (((x[0] ^ y[0]) | (x[1] ^ y[1])) == 0) return true;
  }
  return false;
}

bool NodeAddrs::is_our_solicited_node(const uint8_t* a) const noexcept {
  static constexpr uint8_t kPrefix[13] = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff};
  if (std::memcmp(a, kPrefix, sizeof kPrefix) != 0) return false;
  for (size_t i = 0; i < n6; ++i)
    if (std::memcmp(v6[i].data() + 13, a + 13, 3) == 0) return true;
  return false;
}

Classified classify(const uint8_t* frame, size_t len, const NodeAddrs& me) noexcept {
  if (len < kEthHdr) return drop(DropReason::Malformed);
  bool group = frame[0] & 1;  // broadcast or multicast: ARP and ND arrive this way
  if (!group && std::memcmp(frame, me.mac.data(), 6) != 0) return drop(DropReason::NotForUs);
  size_t l2 = kEthHdr;
  uint16_t et = rd16(frame + 12);
  if (et == eth::kVlan) {
    if (len < kEthHdr + kVlanTag) return drop(DropReason::Malformed);
    et = rd16(frame + 16);
    l2 += kVlanTag;
  }
  switch (et) {
    case eth::kIpv4: return classify_ip4(frame, len, l2, me);
    case eth::kIpv6: return classify_ip6(frame, len, l2, me);
    case eth::kArp: {
      if (len < l2 + kArpLen) return drop(DropReason::Malformed);
      const uint8_t* a = frame + l2;
      // Ethernet/IPv4 ARP only (htype 1, ptype 0x0800, hlen 6, plen 4).
      if (rd16(a) != 1 || rd16(a + 2) != eth::kIpv4 || a[4] != 6 || a[5] != 4)
        return drop(DropReason::Malformed);
      if (rd16(a + 6) != 1 || !me.has_v4(a + 24)) return drop(DropReason::NotForUs);
      Classified c;
      c.kind = Kind::Arp;
      c.l2_len = uint16_t(l2);
      c.payload_off = uint16_t(l2);
      c.payload_len = uint16_t(kArpLen);
      return c;
    }
    default: return drop(DropReason::Ethertype);
  }
}

size_t arp_reply(uint8_t* frame, size_t len, const Classified& c, const NodeAddrs& me) noexcept {
  if (c.kind != Kind::Arp) return 0;
  uint8_t* a = frame + c.l2_len;
  uint8_t ours[4];
  std::memcpy(ours, a + 24, 4);          // the requested address, ours (checked by classify)
  wr16(a + 6, 2);                        // reply
  std::memcpy(a + 18, a + 8, 10);        // target := requester (MAC + IPv4)
  std::memcpy(a + 8, me.mac.data(), 6);  // sender := our MAC and the requested address
  std::memcpy(a + 14, ours, 4);
  eth_reply(frame, me);
  return len;
}

size_t nd_advert(uint8_t* frame, size_t cap, const Classified& c, const NodeAddrs& me) noexcept {
  if (c.kind != Kind::Ns || cap < size_t(c.l2_len) + kIp6Hdr + kNaLen) return 0;
  uint8_t* ip = frame + c.l2_len;
  uint8_t* icmp = ip + kIp6Hdr;
  uint8_t target[16], src[16];
  std::memcpy(target, icmp + 8, 16);
  std::memcpy(src, ip + 8, 16);
  bool dad = is_zero16(src);  // RFC 4861 §7.2.4: DAD probe, answer to all-nodes, S=0
  static constexpr uint8_t kAllNodes[16] = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};

  if (dad) {
    static constexpr uint8_t kAllNodesMac[6] = {0x33, 0x33, 0, 0, 0, 1};
    std::memcpy(frame, kAllNodesMac, 6);
    std::memcpy(frame + 6, me.mac.data(), 6);
  } else {
    eth_reply(frame, me);
  }
  ip[0] = 0x60;
  ip[1] = 0;
  ip[2] = 0;
  ip[3] = 0;
  wr16(ip + 4, uint16_t(kNaLen));
  ip[6] = ipproto::kIcmp6;
  ip[7] = kNdHopLimit;
  std::memcpy(ip + 8, target, 16);
  std::memcpy(ip + 24, dad ? kAllNodes : src, 16);
  icmp[0] = kIcmp6Na;
  icmp[1] = 0;
  wr16(icmp + 2, 0);
  icmp[4] = uint8_t(kNaOverride | (dad ? 0 : kNaSolicited));
  icmp[5] = icmp[6] = icmp[7] = 0;
  std::memcpy(icmp + 8, target, 16);
  icmp[24] = kOptTargetLladdr;
  icmp[25] = 1;  // option length in units of 8 bytes
  std::memcpy(icmp + 26, me.mac.data(), 6);
  wr16(icmp + 2, l4_csum6(ip, ipproto::kIcmp6, icmp, kNaLen));
  return size_t(c.l2_len) + kIp6Hdr + kNaLen;
}

size_t echo_reply(uint8_t* frame, size_t len, const Classified& c, const NodeAddrs& me) noexcept {
  uint8_t* ip = frame + c.l2_len;
  uint8_t* icmp = frame + c.payload_off;
  if (c.kind == Kind::Echo4) {
    swap_bytes(ip + 12, ip + 16, 4);
    ip[8] = kReplyTtl;
    wr16(ip + 10, 0);
    wr16(ip + 10, ip4_header_csum(ip, c.l3_len));
    icmp[0] = kIcmpEchoReply;
    wr16(icmp + 2, 0);
    wr16(icmp + 2, csum_fold(csum_add(0, icmp, c.payload_len)));
  } else if (c.kind == Kind::Echo6) {
    swap_bytes(ip + 8, ip + 24, 16);
    ip[7] = kReplyTtl;
    icmp[0] = kIcmp6EchoReply;
    wr16(icmp + 2, 0);
    wr16(icmp + 2, l4_csum6(ip, ipproto::kIcmp6, icmp, c.payload_len));
  } else {
    return 0;
  }
  eth_reply(frame, me);
  return len;
}

void swap_l2_l4(uint8_t* frame, const Classified& c) noexcept {
  swap_bytes(frame, frame + 6, 6);
  uint8_t* ip = frame + c.l2_len;
  if (c.kind == Kind::Dns4) swap_bytes(ip + 12, ip + 16, 4);
  else swap_bytes(ip + 8, ip + 24, 16);
  uint8_t* udp = ip + c.l3_len;
  swap_bytes(udp, udp + 2, 2);
}

size_t udp_reply(uint8_t* frame, const Classified& c, size_t dns_len, const NodeAddrs& me,
                 CsumOffload off, uint32_t dns_sum) noexcept {
  const uint64_t mac = mac_word(me.mac);
  const uint64_t payload =
      dns_sum != kNoSum ? dns_sum : zones::ones_acc(frame + c.payload_off, dns_len);
  return c.kind == Kind::Dns4 ? udp_reply4(frame, c.l2_len, c.l3_len, dns_len, mac, off, payload)
                              : udp_reply6(frame, c.l2_len, dns_len, mac, off, payload);
}

uint32_t csum_add(uint32_t sum, const uint8_t* p, size_t len) noexcept {
  return sum + zones::ones_sum(p, len);
}

uint16_t csum_fold(uint32_t sum) noexcept {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return uint16_t(~sum & 0xffff);
}

uint16_t ip4_header_csum(const uint8_t* ip, size_t ihl_bytes) noexcept {
  // No options, nearly every packet: a constant length, which the inlined sum unrolls.
  return uint16_t(
      ~(ihl_bytes == kIp4Min ? zones::ones_sum(ip, kIp4Min) : zones::ones_sum(ip, ihl_bytes)));
}

uint16_t l4_csum4(const uint8_t* ip, uint8_t proto, const uint8_t* l4, size_t l4_len) noexcept {
  uint32_t s = csum_add(0, ip + 12, 8);
  s += proto;
  s += uint32_t(l4_len);
  return csum_fold(csum_add(s, l4, l4_len));
}

uint16_t l4_csum6(const uint8_t* ip, uint8_t proto, const uint8_t* l4, size_t l4_len) noexcept {
  uint32_t s = csum_add(0, ip + 8, 32);
  s += proto;
  s += uint32_t(l4_len);
  return csum_fold(csum_add(s, l4, l4_len));
}

}  // namespace edgedns::dp
