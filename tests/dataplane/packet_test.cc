// L2/L3/L4 handling of the dataplane on plain buffers (no EAL).
#include "dataplane/packet.hh"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <string>
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
uint16_t get16(const std::vector<uint8_t>& f, size_t off) {
  return uint16_t(f[off] << 8 | f[off + 1]);
}

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

const uint8_t kDnsQuery[] = {0xab, 0xcd, 0x01, 0x00, 0,   1,   0,   0,   0, 0, 0, 0, 3,
                             'w',  'w',  'w',  4,    't', 'e', 's', 't', 0, 0, 1, 0, 1};

void udp(std::vector<uint8_t>& f, uint16_t sport, uint16_t dport, const uint8_t* p, size_t n) {
  put16(f, sport);
  put16(f, dport);
  put16(f, uint16_t(8 + n));
  put16(f, 0);  // checksum not verified on receive
  put(f, p, n);
}

std::vector<uint8_t> dns4_frame(bool vlan = false) {
  auto f = frame_eth(kOurMac, eth::kIpv4, vlan);
  ip4(f, "198.18.53.2", "198.18.53.53", ipproto::kUdp, 8 + sizeof kDnsQuery);
  udp(f, 40000, 53, kDnsQuery, sizeof kDnsQuery);
  return f;
}

std::vector<uint8_t> dns6_frame() {
  auto f = frame_eth(kOurMac, eth::kIpv6);
  ip6(f, "2001:db8:53::2", "2001:db8:53::53", ipproto::kUdp, 8 + sizeof kDnsQuery);
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
  for (auto& b : buf) {
    x = x * 1103515245u + 12345u;
    b = uint8_t(x >> 16);
  }
  std::fill(buf.begin() + 1000, buf.end(), 0xff);  // long runs of ones: many carries
  for (size_t start : {0u, 1u, 3u, 990u}) {
    for (size_t len = 0; len <= 600; ++len) {
      const uint8_t* p = buf.data() + start;
      uint32_t ref = 0x1234;  // a carried-in partial sum, as the pseudo-header gives
      for (size_t i = 0; i < len; i += 2) {
        ref += uint32_t(p[i]) << 8 | (i + 1 < len ? p[i + 1] : 0);
        ref = (ref & 0xffff) + (ref >> 16);
      }
      ASSERT_EQ(csum_fold(csum_add(0x1234, p, len)), csum_fold(ref))
          << "start " << start << " len " << len;
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
  ip4(f, "198.18.53.2", "198.18.53.99", ipproto::kUdp, 8 + sizeof kDnsQuery);
  udp(f, 1, 53, kDnsQuery, sizeof kDnsQuery);
  EXPECT_EQ(classify(f.data(), f.size(), me).reason, DropReason::NotForUs);
  // Fragments: MF set, and a non-zero offset.
  for (uint16_t frag : {uint16_t(0x2000), uint16_t(0x0010)}) {
    f = frame_eth(kOurMac, eth::kIpv4);
    ip4(f, "198.18.53.2", "198.18.53.53", ipproto::kUdp, 8 + sizeof kDnsQuery, frag);
    udp(f, 1, 53, kDnsQuery, sizeof kDnsQuery);
    EXPECT_EQ(classify(f.data(), f.size(), me).reason, DropReason::Fragment);
  }
  f = frame_eth(kOurMac, eth::kIpv6);
  ip6(f, "2001:db8:53::2", "2001:db8:53::53", ipproto::kFrag6, 16);
  f.resize(f.size() + 16);
  EXPECT_EQ(classify(f.data(), f.size(), me).reason, DropReason::Fragment);
  // Not port 53; TCP; unknown ethertype.
  f = frame_eth(kOurMac, eth::kIpv4);
  ip4(f, "198.18.53.2", "198.18.53.53", ipproto::kUdp, 8 + sizeof kDnsQuery);
  udp(f, 1, 54, kDnsQuery, sizeof kDnsQuery);
  EXPECT_EQ(classify(f.data(), f.size(), me).reason, DropReason::NonDnsPort);
  f = frame_eth(kOurMac, eth::kIpv4);
  ip4(f, "198.18.53.2", "198.18.53.53", 6, 20);
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
    ip4(f, src, "198.18.53.53", ipproto::kUdp, 8 + sizeof kDnsQuery);
    udp(f, 40000, 53, kDnsQuery, sizeof kDnsQuery);
    EXPECT_EQ(classify(f.data(), f.size(), me).reason, DropReason::BadSource) << src;
  }
  for (const char* src : {"::", "ff02::1"}) {
    auto f = frame_eth(kOurMac, eth::kIpv6);
    ip6(f, src, "2001:db8:53::53", ipproto::kUdp, 8 + sizeof kDnsQuery);
    udp(f, 40000, 53, kDnsQuery, sizeof kDnsQuery);
    EXPECT_EQ(classify(f.data(), f.size(), me).reason, DropReason::BadSource) << src;
  }
  auto f = frame_eth(kOurMac, eth::kIpv4);
  ip4(f, "198.18.53.2", "198.18.53.53", ipproto::kUdp, 8 + sizeof kDnsQuery);
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
  inet_pton(AF_INET, "198.18.53.2", a);
  put(f, a, 4);
  f.insert(f.end(), 6, 0);
  inet_pton(AF_INET, "198.18.53.53", a);
  put(f, a, 4);
  f.resize(60);  // minimum frame with padding
  Classified c = classify(f.data(), f.size(), me);
  ASSERT_EQ(c.kind, Kind::Arp);
  ASSERT_EQ(arp_reply(f.data(), f.size(), c, me), 60u);
  EXPECT_TRUE(mac_is(&f[0], kPeerMac));
  EXPECT_TRUE(mac_is(&f[6], kOurMac));
  EXPECT_EQ(get16(f, 14 + 6), 2);            // reply
  EXPECT_TRUE(mac_is(&f[14 + 8], kOurMac));  // sender MAC
  EXPECT_EQ(f[14 + 14], 198);                // sender IP 198.18.53.53
  EXPECT_EQ(f[14 + 17], 53);
  EXPECT_TRUE(mac_is(&f[14 + 18], kPeerMac));  // target MAC
  EXPECT_EQ(f[14 + 27], 2);                    // target IP 198.18.53.2

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
  ip6(f, "2001:db8:53::2", "ff02::1:ff00:53", ipproto::kIcmp6, 32, 255);
  size_t icmp = f.size();
  f.push_back(135);
  f.push_back(0);
  put16(f, 0);
  f.insert(f.end(), 4, 0);
  uint8_t t[16];
  inet_pton(AF_INET6, "2001:db8:53::53", t);
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
  EXPECT_EQ(buf[14 + 7], 255);                     // hop limit
  EXPECT_EQ(std::memcmp(&buf[14 + 8], t, 16), 0);  // from the target address
  uint8_t peer[16];
  inet_pton(AF_INET6, "2001:db8:53::2", peer);
  EXPECT_EQ(std::memcmp(&buf[14 + 24], peer, 16), 0);
  EXPECT_EQ(buf[54], 136);       // NA
  EXPECT_EQ(buf[54 + 4], 0x60);  // solicited + override
  EXPECT_EQ(buf[54 + 24], 2);    // target link-layer address option
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
  ip4(f, "198.18.53.2", "198.18.53.53", ipproto::kIcmp, 16);
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
  EXPECT_EQ(f[14 + 12], 198);
  EXPECT_EQ(f[14 + 15], 53);  // source is now ours
  EXPECT_EQ(f[14 + 19], 2);
  EXPECT_EQ(std::memcmp(&f[icmp + 4], &req[4], 12), 0);  // id, seq, data echoed

  auto g = frame_eth(kOurMac, eth::kIpv6);
  ip6(g, "2001:db8:53::2", "2001:db8:53::53", ipproto::kIcmp6, 16);
  size_t i6 = g.size();
  const uint8_t req6[16] = {128, 0, 0, 0, 0, 7, 0, 9, 1, 2, 3, 4, 5, 6, 7, 8};
  put(g, req6, 16);
  c = classify(g.data(), g.size(), me);
  ASSERT_EQ(c.kind, Kind::Echo6);
  ASSERT_EQ(echo_reply(g.data(), g.size(), c, me), g.size());
  EXPECT_EQ(g[i6], 129);
  EXPECT_EQ(l4_csum6(&g[14], ipproto::kIcmp6, &g[i6], 16), 0);
  EXPECT_EQ(g[14 + 23], 0x53);  // source 2001:db8:53::53
  EXPECT_EQ(g[14 + 39], 0x02);  // dest 2001:db8:53::2
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
    for (size_t n = 0; n < 300; ++n)
      EXPECT_EQ(csum_fold(csum_add(0, &buf[off], n)), ref(&buf[off], n)) << n;
    EXPECT_EQ(csum_fold(csum_add(0, &buf[off], 1500)), ref(&buf[off], 1500));
  }
  std::vector<uint8_t> ones(1500, 0xff);
  EXPECT_EQ(csum_fold(csum_add(0, ones.data(), ones.size())), ref(ones.data(), ones.size()));
  // Chaining an even-length prefix with the rest equals one pass.
  EXPECT_EQ(csum_fold(csum_add(csum_add(0, buf.data(), 40), buf.data() + 40, 101)),
            csum_fold(csum_add(0, buf.data(), 141)));
}

// ---------------------------------------------------------------------------
// The fast path (classify_dns_fast, udp_reply4/udp_reply6) against the
// general code: same classification on every frame the fast path takes,
// byte-identical replies.

namespace {

// The reply rewrite as it was before the fast path (commit 1733415's
// dataplane/packet.cc udp_reply, with the RFC 1624 incremental IPv4 header
// checksum): the reference the new code must match byte for byte.
size_t ref_udp_reply(uint8_t* frame, const Classified& c, size_t dns_len, const NodeAddrs& me,
                     CsumOffload off, uint32_t dns_sum) {
  using edgedns::zones::rd16;
  using edgedns::zones::wr16;
  auto swap = [](uint8_t* a, uint8_t* b, size_t n) {
    uint8_t t[16];
    std::memcpy(t, a, n);
    std::memcpy(a, b, n);
    std::memcpy(b, t, n);
  };
  uint8_t* ip = frame + c.l2_len;
  uint8_t* udp = ip + c.l3_len;
  const uint16_t sport = rd16(udp), dport = rd16(udp + 2);
  const size_t ulen = 8 + dns_len;
  const uint64_t payload = dns_sum != kNoSum ? dns_sum : edgedns::zones::ones_acc(udp + 8, dns_len);
  std::memcpy(frame, frame + 6, 6);
  std::memcpy(frame + 6, me.mac.data(), 6);
  wr16(udp, dport);
  wr16(udp + 2, sport);
  wr16(udp + 4, uint16_t(ulen));
  uint64_t addr_sum;
  if (c.kind == Kind::Dns4) {
    addr_sum = edgedns::zones::ones_acc(ip + 12, 8);
    const uint32_t tot = rd16(ip + 2), frag = rd16(ip + 6), ttl_proto = rd16(ip + 8);
    const uint32_t new_tot = uint32_t(c.l3_len + ulen),
                   new_ttl_proto = uint32_t(kReplyTtl) << 8 | ip[9];
    uint32_t hc = 0xffffu - rd16(ip + 10);
    hc += (0xffffu - tot) + new_tot + (0xffffu - frag) + (0xffffu - ttl_proto) + new_ttl_proto;
    swap(ip + 12, ip + 16, 4);
    wr16(ip + 2, uint16_t(new_tot));
    wr16(ip + 6, 0);
    ip[8] = kReplyTtl;
    wr16(ip + 10, off.ip4 ? 0 : uint16_t(~edgedns::zones::ones_fold(hc)));
  } else {
    addr_sum = edgedns::zones::ones_acc(ip + 8, 32);
    swap(ip + 8, ip + 24, 16);
    wr16(ip + 4, uint16_t(ulen));
    ip[7] = kReplyTtl;
  }
  const uint64_t pseudo = addr_sum + ipproto::kUdp + ulen;
  if (off.udp) {
    wr16(udp + 6, uint16_t(edgedns::zones::ones_fold(pseudo)));
  } else {
    const uint16_t cs =
        uint16_t(~edgedns::zones::ones_fold(pseudo + sport + dport + ulen + payload));
    wr16(udp + 6, cs ? cs : 0xffff);
  }
  return size_t(c.l2_len) + c.l3_len + ulen;
}

// A frame copied to the very end of a readable page, the next page
// inaccessible: a read past the frame's end faults instead of passing.
class Guarded {
 public:
  Guarded() {
    page_ = size_t(sysconf(_SC_PAGESIZE));
    void* p = mmap(nullptr, 2 * page_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) std::abort();
    base_ = static_cast<uint8_t*>(p);
    mprotect(base_ + page_, page_, PROT_NONE);
  }
  ~Guarded() { munmap(base_, 2 * page_); }
  const uint8_t* put(const uint8_t* f, size_t n) {
    uint8_t* at = base_ + page_ - n;
    if (n) std::memcpy(at, f, n);
    return at;
  }

 private:
  size_t page_ = 0;
  uint8_t* base_ = nullptr;
};

uint32_t rnd(uint64_t& x) {  // splitmix-style, deterministic
  x += 0x9e3779b97f4a7c15ull;
  uint64_t z = x;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return uint32_t((z ^ (z >> 31)) >> 16);
}

void fix_ip4_csum(std::vector<uint8_t>& f, size_t l2) {
  const size_t ihl = size_t(f[l2] & 0x0f) * 4;
  if (ihl < 20 || f.size() < l2 + ihl) return;
  f[l2 + 10] = f[l2 + 11] = 0;
  const uint16_t cs = ip4_header_csum(&f[l2], ihl);
  f[l2 + 10] = uint8_t(cs >> 8);
  f[l2 + 11] = uint8_t(cs);
}

// Classifies f both ways; when the fast path takes it, every field must be
// what classify() says. Returns whether the fast path took it.
bool agree(const uint8_t* f, size_t len, const NodeAddrs& me, const std::string& what) {
  const FastAddrs fa = fast_addrs(me);
  Classified fast;
  fast.kind = Kind::Arp;  // anything classify() would not give for these frames
  fast.reason = DropReason::Ethertype;
  fast.l2_len = fast.l3_len = fast.payload_off = fast.payload_len = 0xeeee;
  const bool took = classify_dns_fast(f, len, fa, fast);
  const Classified slow = classify(f, len, me);
  if (took) {
    EXPECT_TRUE(slow.kind == Kind::Dns4 || slow.kind == Kind::Dns6) << what;
    EXPECT_EQ(int(fast.kind), int(slow.kind))
        << what << " (classify reason " << int(slow.reason) << ")";
    EXPECT_EQ(int(fast.reason), int(slow.reason)) << what;
    EXPECT_EQ(fast.l2_len, slow.l2_len) << what;
    EXPECT_EQ(fast.l3_len, slow.l3_len) << what;
    EXPECT_EQ(fast.payload_off, slow.payload_off) << what;
    EXPECT_EQ(fast.payload_len, slow.payload_len) << what;
  }
  return took;
}

std::vector<uint8_t> dns6_vlan_frame() {
  auto f = frame_eth(kOurMac, eth::kIpv6, true);
  ip6(f, "2001:db8:53::2", "2001:db8:53::53", ipproto::kUdp, 8 + sizeof kDnsQuery);
  udp(f, 40001, 53, kDnsQuery, sizeof kDnsQuery);
  return f;
}

// IPv4 with one option word (four NOPs), checksum right.
std::vector<uint8_t> dns4_options_frame() {
  auto f = dns4_frame();
  const uint8_t nops[4] = {1, 1, 1, 1};
  f.insert(f.begin() + 34, nops, nops + 4);
  f[14] = 0x46;
  const uint16_t tot = uint16_t(get16(f, 16) + 4);
  f[16] = uint8_t(tot >> 8);
  f[17] = uint8_t(tot);
  fix_ip4_csum(f, 14);
  return f;
}

void set_addr4(std::vector<uint8_t>& f, size_t at, const char* a) { inet_pton(AF_INET, a, &f[at]); }
void set_addr6(std::vector<uint8_t>& f, size_t at, const char* a) {
  inet_pton(AF_INET6, a, &f[at]);
}
void set16(std::vector<uint8_t>& f, size_t at, uint16_t v) {
  f[at] = uint8_t(v >> 8);
  f[at + 1] = uint8_t(v);
}

}  // namespace

TEST(FastPath, TakesTheCommonQueriesAsClassifyDoes) {
  auto me = addrs();
  EXPECT_TRUE(agree(dns4_frame().data(), dns4_frame().size(), me, "v4"));
  EXPECT_TRUE(agree(dns6_frame().data(), dns6_frame().size(), me, "v6"));
  // Accepted variations: DF and the reserved flag, any TTL and TOS, source
  // at the edges of what may be answered, Ethernet padding after the datagram,
  // a UDP length shorter than the IP payload, an empty DNS payload.
  struct V4 {
    const char* what;
    void (*edit)(std::vector<uint8_t>&);
  };
  const V4 ok4[] = {
      {"DF", [](auto& f) { f[20] = 0x40; }},
      {"reserved flag", [](auto& f) { f[20] = 0x80; }},
      {"TTL 0", [](auto& f) { f[22] = 0; }},
      {"TTL 255 TOS 0xff",
       [](auto& f) {
         f[22] = 255;
         f[15] = 0xff;
       }},
      {"source 1.0.0.0", [](auto& f) { set_addr4(f, 26, "1.0.0.0"); }},
      {"source 223.255.255.255", [](auto& f) { set_addr4(f, 26, "223.255.255.255"); }},
      {"source 127.0.0.1", [](auto& f) { set_addr4(f, 26, "127.0.0.1"); }},
      {"sport 1", [](auto& f) { set16(f, 34, 1); }},
      {"sport 65535", [](auto& f) { set16(f, 34, 65535); }},
      {"padding", [](auto& f) { f.resize(f.size() + 7, 0); }},
      {"short UDP length", [](auto& f) { set16(f, 38, uint16_t(get16(f, 38) - 3)); }},
      {"UDP length 8", [](auto& f) { set16(f, 38, 8); }},
  };
  for (const V4& v : ok4) {
    auto f = dns4_frame();
    v.edit(f);
    fix_ip4_csum(f, 14);
    EXPECT_TRUE(agree(f.data(), f.size(), me, v.what)) << v.what;
  }
  const V4 ok6[] = {
      {"traffic class, flow label",
       [](auto& f) {
         f[14] = 0x6f;
         f[15] = 0xff;
         f[16] = 0xff;
         f[17] = 0xff;
       }},
      {"hop limit 0", [](auto& f) { f[21] = 0; }},
      {"source ::1", [](auto& f) { set_addr6(f, 22, "::1"); }},
      {"source fe80::1", [](auto& f) { set_addr6(f, 22, "fe80::1"); }},
      {"source fe00::", [](auto& f) { set_addr6(f, 22, "fe00::"); }},
      {"padding", [](auto& f) { f.resize(f.size() + 5, 0); }},
      {"short UDP length", [](auto& f) { set16(f, 58, uint16_t(get16(f, 58) - 1)); }},
  };
  for (const V4& v : ok6) {
    auto f = dns6_frame();
    v.edit(f);
    EXPECT_TRUE(agree(f.data(), f.size(), me, v.what)) << v.what;
  }
}

TEST(FastPath, LeavesEverythingElseToClassify) {
  auto me = addrs();
  struct Edit {
    const char* what;
    void (*edit)(std::vector<uint8_t>&);
  };
  // Each of these is either not a query for us or not of the common shape:
  // the fast path must say no (classify() decides, and is checked elsewhere).
  const Edit no4[] = {
      {"other MAC", [](auto& f) { std::memcpy(&f[0], kPeerMac.data(), 6); }},
      {"our MAC, last bit", [](auto& f) { f[5] ^= 1; }},
      {"our MAC, first byte", [](auto& f) { f[0] ^= 0x80; }},
      {"broadcast", [](auto& f) { std::memset(&f[0], 0xff, 6); }},
      {"multicast",
       [](auto& f) {
         const uint8_t m[6] = {0x01, 0, 0x5e, 0, 0, 1};
         std::memcpy(&f[0], m, 6);
       }},
      {"ethertype ARP", [](auto& f) { set16(f, 12, eth::kArp); }},
      {"ethertype 0x0801", [](auto& f) { set16(f, 12, 0x0801); }},
      {"version 6 in IPv4", [](auto& f) { f[14] = 0x65; }},
      {"IHL 4", [](auto& f) { f[14] = 0x44; }},
      {"bad header checksum", [](auto& f) { f[24] ^= 0x01; }},
      {"MF", [](auto& f) { f[20] = 0x20; }},
      {"fragment offset 1", [](auto& f) { f[21] = 1; }},
      {"fragment offset 0x1f00", [](auto& f) { f[20] = 0x1f; }},
      {"TCP", [](auto& f) { f[23] = 6; }},
      {"ICMP", [](auto& f) { f[23] = ipproto::kIcmp; }},
      {"source 0.0.0.0", [](auto& f) { set_addr4(f, 26, "0.0.0.0"); }},
      {"source 0.1.2.3", [](auto& f) { set_addr4(f, 26, "0.1.2.3"); }},
      {"source 224.0.0.1", [](auto& f) { set_addr4(f, 26, "224.0.0.1"); }},
      {"source 240.0.0.1", [](auto& f) { set_addr4(f, 26, "240.0.0.1"); }},
      {"source broadcast", [](auto& f) { set_addr4(f, 26, "255.255.255.255"); }},
      {"other destination", [](auto& f) { set_addr4(f, 30, "198.18.53.54"); }},
      {"destination byte swapped", [](auto& f) { set_addr4(f, 30, "53.53.18.198"); }},
      {"dport 54", [](auto& f) { set16(f, 36, 54); }},
      {"dport 0x3500", [](auto& f) { set16(f, 36, 0x3500); }},
      {"dport 0", [](auto& f) { set16(f, 36, 0); }},
      {"sport 0", [](auto& f) { set16(f, 34, 0); }},
      {"UDP length 7", [](auto& f) { set16(f, 38, 7); }},
      {"UDP length 0", [](auto& f) { set16(f, 38, 0); }},
      {"UDP length past IP", [](auto& f) { set16(f, 38, uint16_t(get16(f, 16) - 19)); }},
      {"total length past frame", [](auto& f) { set16(f, 16, uint16_t(f.size() - 13)); }},
      {"total length 27", [](auto& f) { set16(f, 16, 27); }},
      {"total length 20", [](auto& f) { set16(f, 16, 20); }},
      {"total length 0", [](auto& f) { set16(f, 16, 0); }},
  };
  for (const Edit& e : no4) {
    auto f = dns4_frame();
    e.edit(f);
    if (std::string(e.what) != "bad header checksum") fix_ip4_csum(f, 14);
    EXPECT_FALSE(agree(f.data(), f.size(), me, e.what)) << e.what;
  }
  const Edit no6[] = {
      {"other MAC", [](auto& f) { std::memcpy(&f[0], kPeerMac.data(), 6); }},
      {"multicast MAC",
       [](auto& f) {
         const uint8_t m[6] = {0x33, 0x33, 0, 0, 0, 1};
         std::memcpy(&f[0], m, 6);
       }},
      {"version 4 in IPv6", [](auto& f) { f[14] = 0x40; }},
      {"hop-by-hop header", [](auto& f) { f[20] = 0; }},
      {"fragment header", [](auto& f) { f[20] = ipproto::kFrag6; }},
      {"ICMPv6", [](auto& f) { f[20] = ipproto::kIcmp6; }},
      {"payload past frame", [](auto& f) { set16(f, 18, uint16_t(f.size() - 53)); }},
      {"payload 7", [](auto& f) { set16(f, 18, 7); }},
      {"payload 0", [](auto& f) { set16(f, 18, 0); }},
      {"source ::", [](auto& f) { set_addr6(f, 22, "::"); }},
      {"source ff02::1", [](auto& f) { set_addr6(f, 22, "ff02::1"); }},
      {"other destination", [](auto& f) { set_addr6(f, 38, "2001:db8:53::54"); }},
      {"destination high half", [](auto& f) { set_addr6(f, 38, "2001:db8:54::53"); }},
      {"solicited-node destination", [](auto& f) { set_addr6(f, 38, "ff02::1:ff00:53"); }},
      {"dport 54", [](auto& f) { set16(f, 56, 54); }},
      {"sport 0", [](auto& f) { set16(f, 54, 0); }},
      {"UDP length 7", [](auto& f) { set16(f, 58, 7); }},
      {"UDP length past payload", [](auto& f) { set16(f, 58, uint16_t(get16(f, 18) + 1)); }},
  };
  for (const Edit& e : no6) {
    auto f = dns6_frame();
    e.edit(f);
    EXPECT_FALSE(agree(f.data(), f.size(), me, e.what)) << e.what;
  }
  // Not the common shape, though queries for us: classify() takes them.
  for (const auto& f : {dns4_frame(true), dns6_vlan_frame(), dns4_options_frame()}) {
    EXPECT_FALSE(agree(f.data(), f.size(), me, "vlan/options"));
    const Kind k = classify(f.data(), f.size(), me).kind;
    EXPECT_TRUE(k == Kind::Dns4 || k == Kind::Dns6);
  }
  // Our second address, and families without addresses (the first,
  // unused, slot is all zeros; so is the destination).
  NodeAddrs two = me;
  inet_pton(AF_INET, "198.18.53.54", &two.v4[1]);
  two.n4 = 2;
  inet_pton(AF_INET6, "2001:db8:53::54", two.v6[1].data());
  two.n6 = 2;
  {
    auto f = dns4_frame();
    set_addr4(f, 30, "198.18.53.54");
    fix_ip4_csum(f, 14);
    EXPECT_FALSE(agree(f.data(), f.size(), two, "second v4"));
    EXPECT_EQ(classify(f.data(), f.size(), two).kind, Kind::Dns4);
    auto g = dns6_frame();
    set_addr6(g, 38, "2001:db8:53::54");
    EXPECT_FALSE(agree(g.data(), g.size(), two, "second v6"));
    EXPECT_EQ(classify(g.data(), g.size(), two).kind, Kind::Dns6);
  }
  NodeAddrs none = me;
  none.v4[0] = 0;
  none.n4 = 0;
  none.v6[0] = Ip6{};
  none.n6 = 0;
  {
    auto f = dns4_frame();
    set_addr4(f, 30, "0.0.0.0");
    fix_ip4_csum(f, 14);
    EXPECT_FALSE(agree(f.data(), f.size(), none, "no v4 addresses"));
    auto g = dns6_frame();
    set_addr6(g, 38, "::");
    EXPECT_FALSE(agree(g.data(), g.size(), none, "no v6 addresses"));
  }
}

TEST(FastPath, TruncatedFramesNeverReadPastTheEnd) {
  auto me = addrs();
  Guarded g;
  for (const auto& f :
       {dns4_frame(), dns6_frame(), dns4_frame(true), dns6_vlan_frame(), dns4_options_frame()}) {
    for (size_t n = 0; n <= f.size(); ++n) {
      const uint8_t* p = g.put(f.data(), n);
      const bool took = agree(p, n, me, "truncated to " + std::to_string(n));
      if (n < f.size()) {
        EXPECT_FALSE(took) << n;  // the IP length says more
      }
    }
  }
}

TEST(FastPath, AgreesWithClassifyOnMutatedFrames) {
  // Random byte edits in the headers of frames the fast path takes, the IPv4
  // header checksum fixed up half the time (else nearly every edit fails
  // it), and random cuts: whatever the fast path takes, classify() must
  // classify the same way.
  auto me = addrs();
  Guarded g;
  uint64_t seed = 53;
  size_t took = 0, total = 0;
  const std::vector<uint8_t> bases[] = {dns4_frame(), dns6_frame(), dns4_frame(true),
                                        dns4_options_frame()};
  for (const auto& base : bases) {
    for (int it = 0; it < 40000; ++it) {
      auto f = base;
      const int edits = 1 + int(rnd(seed) % 3);
      for (int e = 0; e < edits; ++e) {
        const size_t at = rnd(seed) % std::min<size_t>(f.size(), 66);
        if (rnd(seed) & 1) f[at] ^= uint8_t(1u << (rnd(seed) % 8));
        else f[at] = uint8_t(rnd(seed));
      }
      if (rnd(seed) & 1) fix_ip4_csum(f, 14);
      size_t n = f.size();
      if (rnd(seed) % 8 == 0) n = rnd(seed) % (f.size() + 1);
      const uint8_t* p = g.put(f.data(), n);
      took += agree(p, n, me, "mutation " + std::to_string(it));
      ++total;
      if (::testing::Test::HasFailure()) return;  // one report, not thousands
    }
  }
  // The corpus reaches the fast path's accepting side, not only its exits.
  EXPECT_GT(took, total / 20);
}

TEST(FastPath, RepliesAreByteIdenticalToTheGeneralRewrite) {
  // Random queries (header fields, addresses, ports, lengths, payload bytes),
  // every offload setting, with and without the engine's sum: the general
  // udp_reply and the per-family functions the lcore calls must write what
  // the reference (the rewrite before the fast path) writes.
  auto me = addrs();
  uint64_t seed = 1;
  const uint64_t mac = mac_word(me.mac);
  const std::vector<uint8_t> bases[] = {dns4_frame(), dns6_frame(), dns4_frame(true),
                                        dns6_vlan_frame(), dns4_options_frame()};
  for (const auto& base : bases) {
    for (int it = 0; it < 3000; ++it) {
      auto f = base;
      Classified c = classify(f.data(), f.size(), me);
      ASSERT_TRUE(c.kind == Kind::Dns4 || c.kind == Kind::Dns6);
      uint8_t* ip = &f[c.l2_len];
      std::memcpy(&f[6], kPeerMac.data(), 6);
      f[6] ^= uint8_t(rnd(seed) & 0xfe);
      f[11] = uint8_t(rnd(seed));
      if (c.kind == Kind::Dns4) {
        ip[1] = uint8_t(rnd(seed));  // TOS
        ip[4] = uint8_t(rnd(seed));  // id
        ip[5] = uint8_t(rnd(seed));
        ip[6] = uint8_t(rnd(seed) & 0xc0);  // DF / reserved
        ip[8] = uint8_t(rnd(seed));         // TTL
        for (int i = 12; i < 16; ++i) ip[i] = uint8_t(rnd(seed));
        ip[12] = uint8_t(1 + rnd(seed) % 223);
        fix_ip4_csum(f, c.l2_len);
      } else {
        for (int i = 1; i < 4; ++i) ip[i] = uint8_t(rnd(seed));
        ip[7] = uint8_t(rnd(seed));
        for (int i = 8; i < 24; ++i) ip[i] = uint8_t(rnd(seed));
        ip[8] &= 0xfe;
      }
      const uint16_t sport = uint16_t(1 + rnd(seed) % 65535);
      set16(f, c.l2_len + c.l3_len, sport);
      ASSERT_EQ(int(classify(f.data(), f.size(), me).kind), int(c.kind));
      // The engine's answer over the query, any length up to 1232 (odd too).
      const size_t dns_len = it < 40 ? size_t(it) : rnd(seed) % 1233;
      f.resize(c.payload_off + dns_len + 16);
      for (size_t i = 0; i < dns_len; ++i) f[c.payload_off + i] = uint8_t(rnd(seed));
      const uint32_t sum = edgedns::zones::ones_sum(&f[c.payload_off], dns_len);
      for (int o = 0; o < 4; ++o) {
        const CsumOffload off{bool(o & 1), bool(o & 2)};
        for (bool with_sum : {false, true}) {
          auto want = f, got = f, lcore = f;
          const size_t n_want =
              ref_udp_reply(want.data(), c, dns_len, me, off, with_sum ? sum : kNoSum);
          const size_t n_got = udp_reply(got.data(), c, dns_len, me, off, with_sum ? sum : kNoSum);
          const uint64_t payload =
              with_sum ? sum : edgedns::zones::ones_acc(&f[c.payload_off], dns_len);
          const size_t n_lcore =
              c.kind == Kind::Dns4
                  ? udp_reply4(lcore.data(), c.l2_len, c.l3_len, dns_len, mac, off, payload)
                  : udp_reply6(lcore.data(), c.l2_len, dns_len, mac, off, payload);
          ASSERT_EQ(n_got, n_want);
          ASSERT_EQ(n_lcore, n_want);
          ASSERT_EQ(got, want) << "base " << &base - bases << " it " << it << " off " << o;
          ASSERT_EQ(lcore, want) << "base " << &base - bases << " it " << it << " off " << o;
        }
      }
    }
  }
}

TEST(FastPath, ChecksumEdgeValuesMatchTheReference) {
  // The values where representations differ: a UDP checksum that computes
  // to 0 (sent as 0xffff) and an IPv4 header checksum of 0. Found by search
  // over the last two payload bytes and the IP id, for both families.
  auto me = addrs();
  for (bool v6 : {false, true}) {
    auto f = v6 ? dns6_frame() : dns4_frame();
    const Classified c = classify(f.data(), f.size(), me);
    const size_t dns_len = sizeof kDnsQuery;
    const size_t csum_at = c.l2_len + c.l3_len + 6;
    bool found = false;
    for (uint32_t v = 0; v < 0x10000 && !found; ++v) {
      auto want = f;
      set16(want, c.payload_off + dns_len - 2, uint16_t(v));
      auto got = want;
      ref_udp_reply(want.data(), c, dns_len, me, {}, kNoSum);
      if (get16(want, csum_at) != 0xffff) continue;
      found = true;
      udp_reply(got.data(), c, dns_len, me, {}, kNoSum);
      EXPECT_EQ(got, want) << v6;
    }
    EXPECT_TRUE(found) << v6;
    if (v6) continue;
    found = false;
    for (uint32_t id = 0; id < 0x10000 && !found; ++id) {
      auto q = f;
      set16(q, 18, uint16_t(id));
      fix_ip4_csum(q, 14);
      auto want = q, got = q;
      ref_udp_reply(want.data(), c, dns_len, me, {}, kNoSum);
      if (get16(want, 24) != 0) continue;
      found = true;
      udp_reply(got.data(), c, dns_len, me, {}, kNoSum);
      EXPECT_EQ(got, want);
    }
    EXPECT_TRUE(found);
  }
}
