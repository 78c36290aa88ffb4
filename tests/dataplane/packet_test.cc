// L2/L3/L4 handling of the dataplane on plain buffers (no EAL).
#include "dataplane/packet.hh"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "tests/dataplane/frames.hh"

using namespace edgedns::dp;

namespace {

using test::kOurMac;
using test::kPeerMac;
NodeAddrs addrs() { return test::node_addrs(); }

void put16(std::vector<uint8_t>& f, uint16_t v) {
  f.push_back(uint8_t(v >> 8));
  f.push_back(uint8_t(v));
}
void put(std::vector<uint8_t>& f, const void* p, size_t n) {
  auto* b = static_cast<const uint8_t*>(p);
  f.insert(f.end(), b, b + n);
}
uint16_t get16(const std::vector<uint8_t>& f, size_t off) { return uint16_t(f[off] << 8 | f[off + 1]); }

std::vector<uint8_t> frame_eth(const Mac& dst, uint16_t type, bool vlan = false) {
  std::vector<uint8_t> f;
  put(f, dst.data(), 6);
  put(f, kPeerMac.data(), 6);
  if (vlan) {
    put16(f, eth::kVlan);
    put16(f, 42);
  }
  put16(f, type);
  return f;
}

void ip4(std::vector<uint8_t>& f, const char* src, const char* dst, uint8_t proto, size_t l4_len,
         uint16_t frag = 0) {
  size_t at = f.size();
  f.push_back(0x45);
  f.push_back(0);
  put16(f, uint16_t(20 + l4_len));
  put16(f, 0x1234);
  put16(f, frag);
  f.push_back(63);
  f.push_back(proto);
  put16(f, 0);
  uint8_t a[4];
  inet_pton(AF_INET, src, a);
  put(f, a, 4);
  inet_pton(AF_INET, dst, a);
  put(f, a, 4);
  uint16_t cs = ip4_header_csum(f.data() + at, 20);
  f[at + 10] = uint8_t(cs >> 8);
  f[at + 11] = uint8_t(cs);
}

void ip6(std::vector<uint8_t>& f, const char* src, const char* dst, uint8_t nh, size_t plen,
         uint8_t hlim = 64) {
  f.push_back(0x60);
  f.push_back(0);
  put16(f, 0);
  put16(f, uint16_t(plen));
  f.push_back(nh);
  f.push_back(hlim);
  uint8_t a[16];
  inet_pton(AF_INET6, src, a);
  put(f, a, 16);
  inet_pton(AF_INET6, dst, a);
  put(f, a, 16);
}

const uint8_t kDnsQuery[] = {0xab, 0xcd, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0,
                             3, 'w', 'w', 'w', 4, 't', 'e', 's', 't', 0, 0, 1, 0, 1};

void udp(std::vector<uint8_t>& f, uint16_t sport, uint16_t dport, const uint8_t* p, size_t n) {
  put16(f, sport);
  put16(f, dport);
  put16(f, uint16_t(8 + n));
  put16(f, 0);  // checksum not verified on receive
  put(f, p, n);
}

std::vector<uint8_t> dns4_frame(bool vlan = false) {
  auto f = frame_eth(kOurMac, eth::kIpv4, vlan);
  ip4(f, "10.53.0.2", "10.53.0.53", ipproto::kUdp, 8 + sizeof kDnsQuery);
  udp(f, 40000, 53, kDnsQuery, sizeof kDnsQuery);
  return f;
}

std::vector<uint8_t> dns6_frame() {
  auto f = frame_eth(kOurMac, eth::kIpv6);
  ip6(f, "fd53::2", "fd53::53", ipproto::kUdp, 8 + sizeof kDnsQuery);
  udp(f, 40001, 53, kDnsQuery, sizeof kDnsQuery);
  return f;
}

bool mac_is(const uint8_t* p, const Mac& m) { return std::memcmp(p, m.data(), 6) == 0; }

}  // namespace

TEST(Checksum, Rfc1071Example) {
  // RFC 1071 §3 example bytes: 00 01 f2 03 f4 f5 f6 f7 sum to 0xddf2 (before complement).
  const uint8_t b[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
  EXPECT_EQ(csum_fold(csum_add(0, b, sizeof b)), uint16_t(~0xddf2));
  // Odd length pads with a zero byte.
  const uint8_t odd[] = {0x01};
  EXPECT_EQ(csum_fold(csum_add(0, odd, 1)), uint16_t(~0x0100));
}

TEST(Checksum, EqualsTheSixteenBitDefinitionAtEveryLengthAndAlignment) {
  // RFC 1071's definition, one big-endian 16-bit word at a time with the
  // carry folded back each step, against the word-at-a-time csum_add.
  std::vector<uint8_t> buf(1600);
  uint32_t x = 12345;
  for (auto& b : buf) { x = x * 1103515245u + 12345u; b = uint8_t(x >> 16); }
  std::fill(buf.begin() + 1000, buf.end(), 0xff);  // long runs of ones: many carries
  for (size_t start : {0u, 1u, 3u, 990u}) {
    for (size_t len = 0; len <= 600; ++len) {
      const uint8_t* p = buf.data() + start;
      uint32_t ref = 0x1234;  // a carried-in partial sum, as the pseudo-header gives
      for (size_t i = 0; i < len; i += 2) {
        ref += uint32_t(p[i]) << 8 | (i + 1 < len ? p[i + 1] : 0);
        ref = (ref & 0xffff) + (ref >> 16);
      }
      ASSERT_EQ(csum_fold(csum_add(0x1234, p, len)), csum_fold(ref)) << "start " << start << " len " << len;
    }
  }
}

TEST(Classify, DnsOverIpv4AndIpv6) {
  auto me = addrs();
  auto f4 = dns4_frame();
  Classified c = classify(f4.data(), f4.size(), me);
  EXPECT_EQ(c.kind, Kind::Dns4);
  EXPECT_EQ(c.l2_len, 14);
  EXPECT_EQ(c.l3_len, 20);
  EXPECT_EQ(c.payload_off, 42);
  EXPECT_EQ(c.payload_len, sizeof kDnsQuery);
  auto f6 = dns6_frame();
  c = classify(f6.data(), f6.size(), me);
  EXPECT_EQ(c.kind, Kind::Dns6);
  EXPECT_EQ(c.payload_off, 62);
}

TEST(Classify, VlanTagged) {
  auto me = addrs();
  auto f = dns4_frame(true);
  Classified c = classify(f.data(), f.size(), me);
  EXPECT_EQ(c.kind, Kind::Dns4);
  EXPECT_EQ(c.l2_len, 18);
  EXPECT_EQ(c.payload_off, 46);
}

TEST(Classify, DropsWithReasons) {
  auto me = addrs();
  // Other unicast MAC.
  auto f = dns4_frame();
  f[5] = 0x99;
  EXPECT_EQ(classify(f.data(), f.size(), me).reason, DropReason::NotForUs);
  // Other IPv4 destination.
  f = frame_eth(kOurMac, eth::kIpv4);
  ip4(f, "10.53.0.2", "10.53.0.99", ipproto::kUdp, 8 + sizeof kDnsQuery);
  udp(f, 1, 53, kDnsQuery, sizeof kDnsQuery);
  EXPECT_EQ(classify(f.data(), f.size(), me).reason, DropReason::NotForUs);
  // Fragments: MF set, and a non-zero offset.
  for (uint16_t frag : {uint16_t(0x2000), uint16_t(0x0010)}) {
    f = frame_eth(kOurMac, eth::kIpv4);
    ip4(f, "10.53.0.2", "10.53.0.53", ipproto::kUdp, 8 + sizeof kDnsQuery, frag);
    udp(f, 1, 53, kDnsQuery, sizeof kDnsQuery);
    EXPECT_EQ(classify(f.data(), f.size(), me).reason, DropReason::Fragment);
  }
  f = frame_eth(kOurMac, eth::kIpv6);
  ip6(f, "fd53::2", "fd53::53", ipproto::kFrag6, 16);
  f.resize(f.size() + 16);
  EXPECT_EQ(classify(f.data(), f.size(), me).reason, DropReason::Fragment);
  // Not port 53; TCP; unknown ethertype.
  f = frame_eth(kOurMac, eth::kIpv4);
  ip4(f, "10.53.0.2", "10.53.0.53", ipproto::kUdp, 8 + sizeof kDnsQuery);
  udp(f, 1, 54, kDnsQuery, sizeof kDnsQuery);
  EXPECT_EQ(classify(f.data(), f.size(), me).reason, DropReason::NonDnsPort);
  f = frame_eth(kOurMac, eth::kIpv4);
  ip4(f, "10.53.0.2", "10.53.0.53", 6, 20);
  f.resize(f.size() + 20);
  EXPECT_EQ(classify(f.data(), f.size(), me).reason, DropReason::Protocol);
  f = frame_eth(kOurMac, 0x88cc);
  f.resize(60);
  EXPECT_EQ(classify(f.data(), f.size(), me).reason, DropReason::Ethertype);
}

TEST(Classify, SourcesWeMustNotAnswer) {
  auto me = addrs();
  for (const char* src : {"0.0.0.0", "224.0.0.1", "239.1.2.3", "255.255.255.255"}) {
    auto f = frame_eth(kOurMac, eth::kIpv4);
    ip4(f, src, "10.53.0.53", ipproto::kUdp, 8 + sizeof kDnsQuery);
    udp(f, 40000, 53, kDnsQuery, sizeof kDnsQuery);
    EXPECT_EQ(classify(f.data(), f.size(), me).reason, DropReason::BadSource) << src;
  }
  for (const char* src : {"::", "ff02::1"}) {
    auto f = frame_eth(kOurMac, eth::kIpv6);
    ip6(f, src, "fd53::53", ipproto::kUdp, 8 + sizeof kDnsQuery);
    udp(f, 40000, 53, kDnsQuery, sizeof kDnsQuery);
    EXPECT_EQ(classify(f.data(), f.size(), me).reason, DropReason::BadSource) << src;
  }
  auto f = frame_eth(kOurMac, eth::kIpv4);
  ip4(f, "10.53.0.2", "10.53.0.53", ipproto::kUdp, 8 + sizeof kDnsQuery);
  udp(f, 0, 53, kDnsQuery, sizeof kDnsQuery);
  EXPECT_EQ(classify(f.data(), f.size(), me).reason, DropReason::BadSource);
}

TEST(Classify, TruncatedAndInconsistentAreMalformed) {
  auto me = addrs();
  auto good = dns4_frame();
  // Every truncation of a valid frame is malformed, never a crash or a read past the end.
  for (size_t n = 0; n < good.size(); ++n) {
    std::vector<uint8_t> f(good.begin(), good.begin() + long(n));
    Classified c = classify(f.data(), f.size(), me);
    EXPECT_EQ(c.kind, Kind::Drop) << n;
    EXPECT_EQ(c.reason, DropReason::Malformed) << n;
  }
  // UDP length larger than the IP payload.
  auto f = good;
  f[14 + 20 + 4] = 0x10;
  EXPECT_EQ(classify(f.data(), f.size(), me).reason, DropReason::Malformed);
  // IHL below 5.
  f = good;
  f[14] = 0x44;
  EXPECT_EQ(classify(f.data(), f.size(), me).reason, DropReason::Malformed);
  auto g6 = dns6_frame();
  for (size_t n = 14; n < g6.size(); ++n) {
    std::vector<uint8_t> t(g6.begin(), g6.begin() + long(n));
    EXPECT_EQ(classify(t.data(), t.size(), me).reason, DropReason::Malformed) << n;
  }
}

TEST(Arp, RequestForOursGetsReply) {
  auto me = addrs();
  const Mac bcast = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  auto f = frame_eth(bcast, eth::kArp);
  put16(f, 1);
  put16(f, eth::kIpv4);
  f.push_back(6);
  f.push_back(4);
  put16(f, 1);
  put(f, kPeerMac.data(), 6);
  uint8_t a[4];
  inet_pton(AF_INET, "10.53.0.2", a);
  put(f, a, 4);
  f.insert(f.end(), 6, 0);
  inet_pton(AF_INET, "10.53.0.53", a);
  put(f, a, 4);
  f.resize(60);  // minimum frame with padding
  Classified c = classify(f.data(), f.size(), me);
  ASSERT_EQ(c.kind, Kind::Arp);
  ASSERT_EQ(arp_reply(f.data(), f.size(), c, me), 60u);
  EXPECT_TRUE(mac_is(&f[0], kPeerMac));
  EXPECT_TRUE(mac_is(&f[6], kOurMac));
  EXPECT_EQ(get16(f, 14 + 6), 2);             // reply
  EXPECT_TRUE(mac_is(&f[14 + 8], kOurMac));   // sender MAC
  EXPECT_EQ(f[14 + 14], 10);                  // sender IP 10.53.0.53
  EXPECT_EQ(f[14 + 17], 53);
  EXPECT_TRUE(mac_is(&f[14 + 18], kPeerMac)); // target MAC
  EXPECT_EQ(f[14 + 27], 2);                   // target IP 10.53.0.2

  // A request for someone else is not ours to answer.
  auto g = f;
  g[14 + 6] = 0;
  g[14 + 7] = 1;
  g[14 + 27] = 77;
  EXPECT_EQ(classify(g.data(), g.size(), me).reason, DropReason::NotForUs);
}

TEST(Nd, SolicitationToSolicitedNodeGroupGetsAdvert) {
  auto me = addrs();
  const Mac group = {0x33, 0x33, 0xff, 0x00, 0x00, 0x53};
  auto f = frame_eth(group, eth::kIpv6);
  ip6(f, "fd53::2", "ff02::1:ff00:53", ipproto::kIcmp6, 32, 255);
  size_t icmp = f.size();
  f.push_back(135);
  f.push_back(0);
  put16(f, 0);
  f.insert(f.end(), 4, 0);
  uint8_t t[16];
  inet_pton(AF_INET6, "fd53::53", t);
  put(f, t, 16);
  f.push_back(1);  // source link-layer address option
  f.push_back(1);
  put(f, kPeerMac.data(), 6);
  uint16_t cs = l4_csum6(f.data() + 14, ipproto::kIcmp6, f.data() + icmp, 32);
  f[icmp + 2] = uint8_t(cs >> 8);
  f[icmp + 3] = uint8_t(cs);

  Classified c = classify(f.data(), f.size(), me);
  ASSERT_EQ(c.kind, Kind::Ns);
  std::vector<uint8_t> buf(f);
  buf.resize(256);
  size_t n = nd_advert(buf.data(), buf.size(), c, me);
  ASSERT_EQ(n, 14u + 40 + 32);
  buf.resize(n);
  EXPECT_TRUE(mac_is(&buf[0], kPeerMac));
  EXPECT_TRUE(mac_is(&buf[6], kOurMac));
  EXPECT_EQ(buf[14 + 7], 255);                      // hop limit
  EXPECT_EQ(std::memcmp(&buf[14 + 8], t, 16), 0);  // from the target address
  uint8_t peer[16];
  inet_pton(AF_INET6, "fd53::2", peer);
  EXPECT_EQ(std::memcmp(&buf[14 + 24], peer, 16), 0);
  EXPECT_EQ(buf[54], 136);                          // NA
  EXPECT_EQ(buf[54 + 4], 0x60);                     // solicited + override
  EXPECT_EQ(buf[54 + 24], 2);                       // target link-layer address option
  EXPECT_TRUE(mac_is(&buf[54 + 26], kOurMac));
  // A correct checksum sums to zero over pseudo header + message.
  EXPECT_EQ(l4_csum6(buf.data() + 14, ipproto::kIcmp6, buf.data() + 54, 32), 0);
  // No room: dropped, not overrun.
  EXPECT_EQ(nd_advert(f.data(), 14 + 40 + 31, c, me), 0u);

  // Hop limit other than 255 is off-link: malformed; another target: not ours.
  auto g = f;
  g[14 + 7] = 64;
  EXPECT_EQ(classify(g.data(), g.size(), me).reason, DropReason::Malformed);
  g = f;
  g[icmp + 8 + 15] = 0x54;
  EXPECT_EQ(classify(g.data(), g.size(), me).reason, DropReason::NotForUs);
}

TEST(Echo, Ipv4AndIpv6) {
  auto me = addrs();
  auto f = frame_eth(kOurMac, eth::kIpv4);
  ip4(f, "10.53.0.2", "10.53.0.53", ipproto::kIcmp, 16);
  size_t icmp = f.size();
  const uint8_t req[16] = {8, 0, 0, 0, 0x12, 0x34, 0, 1, 'p', 'i', 'n', 'g', 'd', 'a', 't', 'a'};
  put(f, req, 16);
  uint16_t cs = csum_fold(csum_add(0, &f[icmp], 16));
  f[icmp + 2] = uint8_t(cs >> 8);
  f[icmp + 3] = uint8_t(cs);
  Classified c = classify(f.data(), f.size(), me);
  ASSERT_EQ(c.kind, Kind::Echo4);
  ASSERT_EQ(echo_reply(f.data(), f.size(), c, me), f.size());
  EXPECT_EQ(f[icmp], 0);
  EXPECT_EQ(csum_fold(csum_add(0, &f[icmp], 16)), 0);
  EXPECT_EQ(ip4_header_csum(&f[14], 20), 0);
  EXPECT_EQ(f[14 + 12], 10);
  EXPECT_EQ(f[14 + 15], 53);  // source is now ours
  EXPECT_EQ(f[14 + 19], 2);
  EXPECT_EQ(std::memcmp(&f[icmp + 4], &req[4], 12), 0);  // id, seq, data echoed

  auto g = frame_eth(kOurMac, eth::kIpv6);
  ip6(g, "fd53::2", "fd53::53", ipproto::kIcmp6, 16);
  size_t i6 = g.size();
  const uint8_t req6[16] = {128, 0, 0, 0, 0, 7, 0, 9, 1, 2, 3, 4, 5, 6, 7, 8};
  put(g, req6, 16);
  c = classify(g.data(), g.size(), me);
  ASSERT_EQ(c.kind, Kind::Echo6);
  ASSERT_EQ(echo_reply(g.data(), g.size(), c, me), g.size());
  EXPECT_EQ(g[i6], 129);
  EXPECT_EQ(l4_csum6(&g[14], ipproto::kIcmp6, &g[i6], 16), 0);
  EXPECT_EQ(g[14 + 23], 0x53);  // source fd53::53
  EXPECT_EQ(g[14 + 39], 0x02);  // dest fd53::2
}

TEST(UdpReply, Ipv4SoftwareChecksums) {
  auto me = addrs();
  auto f = dns4_frame(true);
  Classified c = classify(f.data(), f.size(), me);
  ASSERT_EQ(c.kind, Kind::Dns4);
  // Pretend the engine wrote a 40-byte answer over the query.
  f.resize(c.payload_off + 40);
  for (size_t i = 0; i < 40; ++i) f[c.payload_off + i] = uint8_t(i * 7);
  size_t n = udp_reply(f.data(), c, 40, me, {});
  EXPECT_EQ(n, 18u + 20 + 8 + 40);
  EXPECT_TRUE(mac_is(&f[0], kPeerMac));
  EXPECT_TRUE(mac_is(&f[6], kOurMac));
  EXPECT_EQ(get16(f, 12), eth::kVlan);  // tag kept
  const size_t ip = 18, udp = 38;
  EXPECT_EQ(get16(f, ip + 2), 20 + 8 + 40);
  EXPECT_EQ(f[ip + 8], kReplyTtl);
  EXPECT_EQ(ip4_header_csum(&f[ip], 20), 0);
  EXPECT_EQ(f[ip + 15], 53);
  EXPECT_EQ(f[ip + 19], 2);
  EXPECT_EQ(get16(f, udp), 53);
  EXPECT_EQ(get16(f, udp + 2), 40000);
  EXPECT_EQ(get16(f, udp + 4), 8 + 40);
  EXPECT_EQ(l4_csum4(&f[ip], ipproto::kUdp, &f[udp], 48), 0);
}

TEST(UdpReply, Ipv6SoftwareAndOffload) {
  auto me = addrs();
  auto f = dns6_frame();
  Classified c = classify(f.data(), f.size(), me);
  ASSERT_EQ(c.kind, Kind::Dns6);
  auto g = f;
  size_t n = udp_reply(f.data(), c, sizeof kDnsQuery, me, {});
  EXPECT_EQ(n, f.size());
  EXPECT_EQ(get16(f, 14 + 4), 8 + sizeof kDnsQuery);
  EXPECT_EQ(l4_csum6(&f[14], ipproto::kUdp, &f[54], 8 + sizeof kDnsQuery), 0);
  EXPECT_EQ(get16(f, 54 + 2), 40001);
  // Offload: the field holds the pseudo-header sum, folded and not
  // complemented (DPDK's contract, rte_ipv6_phdr_cksum), which a NIC
  // completes: the complement of the sum over the segment with that field
  // in it. It must come out as the software checksum.
  udp_reply(g.data(), c, sizeof kDnsQuery, me, {false, true});
  uint32_t ph = csum_add(0, &g[14 + 8], 32) + ipproto::kUdp + uint32_t(8 + sizeof kDnsQuery);
  EXPECT_EQ(get16(g, 54 + 6), uint16_t(~csum_fold(ph)));
  EXPECT_EQ(csum_fold(csum_add(0, &g[54], 8 + sizeof kDnsQuery)), get16(f, 54 + 6));
  EXPECT_EQ(std::memcmp(f.data(), g.data(), 54 + 6), 0);  // all else identical
}

TEST(UdpReply, Ipv4OffloadLeavesHeaderChecksumZero) {
  auto me = addrs();
  auto f = dns4_frame();
  Classified c = classify(f.data(), f.size(), me);
  auto sw = f;
  udp_reply(sw.data(), c, sizeof kDnsQuery, me, {});
  udp_reply(f.data(), c, sizeof kDnsQuery, me, {true, true});
  EXPECT_EQ(get16(f, 14 + 10), 0);
  uint32_t ph = csum_add(0, &f[14 + 12], 8) + ipproto::kUdp + uint32_t(8 + sizeof kDnsQuery);
  EXPECT_EQ(get16(f, 34 + 6), uint16_t(~csum_fold(ph)));
  // What the NIC then writes equals the software checksums.
  EXPECT_EQ(csum_fold(csum_add(0, &f[34], 8 + sizeof kDnsQuery)), get16(sw, 34 + 6));
  EXPECT_EQ(ip4_header_csum(&sw[14], 20), 0);
}

// The engine's sum of the DNS bytes (AnswerResult::sum) gives the same
// frame as summing them here; the IPv4 header checksum, updated from the
// query's, is right whatever the query's TTL, flags and length were.
TEST(UdpReply, GivenPayloadSumAndIncrementalHeaderChecksum) {
  auto me = addrs();
  for (bool v6 : {false, true}) {
    for (size_t len : {12u, 13u, 40u, 41u, 300u}) {
      auto f = v6 ? dns6_frame() : dns4_frame();
      if (!v6) {  // a query with DF set and an unusual TTL, checksum fixed up
        f[14 + 6] = 0x40;
        f[14 + 8] = 3;
        f[14 + 10] = f[14 + 11] = 0;
        const uint16_t cs = ip4_header_csum(&f[14], 20);
        f[14 + 10] = uint8_t(cs >> 8);
        f[14 + 11] = uint8_t(cs);
      }
      Classified c = classify(f.data(), f.size(), me);
      ASSERT_EQ(c.kind, v6 ? Kind::Dns6 : Kind::Dns4);
      f.resize(c.payload_off + len);
      for (size_t i = 0; i < len; ++i) f[c.payload_off + i] = uint8_t(i * 13 + 1);
      auto g = f;
      udp_reply(f.data(), c, len, me, {});
      udp_reply(g.data(), c, len, me, {}, edgedns::zones::ones_sum(&g[c.payload_off], len));
      EXPECT_EQ(f, g) << len;
      const size_t ip = 14, udp = 14 + c.l3_len;
      if (v6) {
        EXPECT_EQ(l4_csum6(&f[ip], ipproto::kUdp, &f[udp], 8 + len), 0) << len;
      } else {
        EXPECT_EQ(ip4_header_csum(&f[ip], 20), 0) << len;
        EXPECT_EQ(get16(f, ip + 6), 0);
        EXPECT_EQ(l4_csum4(&f[ip], ipproto::kUdp, &f[udp], 8 + len), 0) << len;
      }
    }
  }
}

TEST(SwapL2L4, IsAnInvolution) {
  auto me = addrs();
  auto f = dns4_frame();
  auto orig = f;
  Classified c = classify(f.data(), f.size(), me);
  swap_l2_l4(f.data(), c);
  EXPECT_NE(f, orig);
  swap_l2_l4(f.data(), c);
  EXPECT_EQ(f, orig);
}

TEST(Checksum, WordWiseSumMatchesBytePairs) {
  // Reference: RFC 1071 straight from the definition, 16-bit big-endian words.
  auto ref = [](const uint8_t* p, size_t n) {
    uint64_t s = 0;
    for (size_t i = 0; i + 1 < n; i += 2) s += uint32_t(p[i]) << 8 | p[i + 1];
    if (n & 1) s += uint32_t(p[n - 1]) << 8;
    while (s >> 16) s = (s & 0xffff) + (s >> 16);
    return uint16_t(~s);
  };
  std::vector<uint8_t> buf(1600);
  uint32_t x = 12345;
  for (auto& b : buf) b = uint8_t((x = x * 1103515245 + 12345) >> 16);
  for (size_t off : {0, 1, 3}) {
    for (size_t n = 0; n < 300; ++n) EXPECT_EQ(csum_fold(csum_add(0, &buf[off], n)), ref(&buf[off], n)) << n;
    EXPECT_EQ(csum_fold(csum_add(0, &buf[off], 1500)), ref(&buf[off], 1500));
  }
  std::vector<uint8_t> ones(1500, 0xff);
  EXPECT_EQ(csum_fold(csum_add(0, ones.data(), ones.size())), ref(ones.data(), ones.size()));
  // Chaining an even-length prefix with the rest equals one pass.
  EXPECT_EQ(csum_fold(csum_add(csum_add(0, buf.data(), 40), buf.data() + 40, 101)),
            csum_fold(csum_add(0, buf.data(), 141)));
}
