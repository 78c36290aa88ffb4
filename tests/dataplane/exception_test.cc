// The exception path's pure parts: which frames the lcore hands to the kernel
// (wants_kernel over classify's verdicts) and the per-lcore rate budget.
#include "dataplane/exception.hh"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "tests/dataplane/frames.hh"

using namespace edgedns::dp;

namespace {

const Mac kOurs = test::kOurMac;
const Mac kPeer = test::kPeerMac;
const Mac kOther = {0x02, 0, 0, 0, 0, 0x99};
const Mac kBcast = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

NodeAddrs addrs() { return test::node_addrs(); }

uint16_t csum(const uint8_t* p, size_t n) {
  uint32_t s = 0;
  for (size_t i = 0; i + 1 < n; i += 2) s += uint32_t(p[i]) << 8 | p[i + 1];
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return uint16_t(~s);
}

// Ethernet + IPv4 (valid header checksum) + `l4` with protocol `proto`.
std::vector<uint8_t> ip4(const Mac& dst, const Mac& src, const char* to, uint8_t proto,
                         std::vector<uint8_t> l4, uint16_t frag = 0,
                         const char* from = "198.18.53.2") {
  std::vector<uint8_t> f(dst.begin(), dst.end());
  f.insert(f.end(), src.begin(), src.end());
  f.push_back(0x08);
  f.push_back(0x00);
  size_t tot = 20 + l4.size();
  uint8_t ip[20] = {
      0x45, 0, uint8_t(tot >> 8), uint8_t(tot), 0, 1, uint8_t(frag >> 8), uint8_t(frag), 64, proto};
  inet_pton(AF_INET, from, ip + 12);
  inet_pton(AF_INET, to, ip + 16);
  uint16_t c = csum(ip, 20);
  ip[10] = uint8_t(c >> 8);
  ip[11] = uint8_t(c);
  f.insert(f.end(), ip, ip + 20);
  f.insert(f.end(), l4.begin(), l4.end());
  return f;
}

std::vector<uint8_t> udp(uint16_t dport) {
  return {0x9c, 0x40, uint8_t(dport >> 8), uint8_t(dport), 0, 12, 0, 0, 0, 0, 0, 0};
}
std::vector<uint8_t> tcp_syn(uint16_t dport) {
  std::vector<uint8_t> t(20, 0);
  t[0] = 0x9c;
  t[1] = 0x40;
  t[2] = uint8_t(dport >> 8);
  t[3] = uint8_t(dport);
  t[12] = 0x50;
  t[13] = 0x02;  // SYN
  return t;
}

std::vector<uint8_t> arp(const Mac& dst, const Mac& src, uint16_t op, const char* target) {
  std::vector<uint8_t> f(dst.begin(), dst.end());
  f.insert(f.end(), src.begin(), src.end());
  f.insert(f.end(), {0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, uint8_t(op)});
  f.insert(f.end(), src.begin(), src.end());
  f.insert(f.end(), {198, 18, 53, 2});
  f.insert(f.end(), 6, 0);
  uint8_t t[4];
  inet_pton(AF_INET, target, t);
  f.insert(f.end(), t, t + 4);
  return f;
}

bool kernel(const std::vector<uint8_t>& f, const NodeAddrs& a) {
  Classified c = classify(f.data(), f.size(), a);
  return wants_kernel(f.data(), f.size(), c, a.mac);
}

}  // namespace

TEST(WantsKernel, TheHostsTrafficGoesToTheKernel) {
  NodeAddrs a = addrs();
  EXPECT_TRUE(kernel(ip4(kOurs, kPeer, "198.18.53.53", 6, tcp_syn(53)), a));       // DNS over TCP
  EXPECT_TRUE(kernel(ip4(kOurs, kPeer, "198.18.53.53", 6, tcp_syn(22)), a));       // SSH
  EXPECT_TRUE(kernel(ip4(kOurs, kPeer, "198.18.53.53", 17, udp(123)), a));         // NTP
  EXPECT_TRUE(kernel(ip4(kOurs, kPeer, "192.0.2.7", 6, tcp_syn(179)), a));         // a host address
  EXPECT_TRUE(kernel(ip4(kOurs, kPeer, "198.18.53.53", 17, udp(53), 0x2000), a));  // fragment
  EXPECT_TRUE(
      kernel(ip4(kOurs, kPeer, "198.18.53.53", 1, {3, 4, 0, 0, 0, 0, 5, 0xdc}), a));  // frag needed
  EXPECT_TRUE(kernel(arp(kOurs, kPeer, 2, "198.18.53.53"), a));  // ARP reply to the kernel
  EXPECT_TRUE(kernel(arp(kBcast, kPeer, 1, "198.18.53.1"), a));  // ARP for a host address
}

TEST(WantsKernel, TheLcoresOwnAndOthersTrafficDoesNot) {
  NodeAddrs a = addrs();
  // Answered by the lcore: never a Drop, so never the kernel's.
  EXPECT_FALSE(kernel(ip4(kOurs, kPeer, "198.18.53.53", 17, udp(53)), a));
  EXPECT_FALSE(kernel(arp(kBcast, kPeer, 1, "198.18.53.53"), a));
  EXPECT_FALSE(kernel(ip4(kOurs, kPeer, "198.18.53.53", 1, {8, 0, 0, 0, 0, 0, 0, 0}), a));  // echo
  // For another MAC (promiscuous port, AF_PACKET sees everything).
  EXPECT_FALSE(kernel(ip4(kOther, kPeer, "198.18.53.53", 6, tcp_syn(53)), a));
  // Our own group frames shown back to us by the PMD.
  EXPECT_FALSE(kernel(arp(kBcast, kOurs, 1, "198.18.53.2"), a));
  // Broken or unanswerable.
  auto bad = ip4(kOurs, kPeer, "198.18.53.53", 6, tcp_syn(53));
  bad[14 + 2] = 0xff;  // total length beyond the frame
  EXPECT_FALSE(kernel(bad, a));
  EXPECT_FALSE(kernel(ip4(kOurs, kPeer, "198.18.53.53", 6, tcp_syn(53), 0, "224.0.0.1"), a));
  std::vector<uint8_t> runt(kOurs.begin(), kOurs.end());
  EXPECT_FALSE(kernel(runt, a));
}

TEST(ExcBucket, UnlimitedTakesAll) {
  ExcBucket b;
  EXPECT_EQ(b.take(32, 0), 32u);
  EXPECT_EQ(b.take(1000, 0), 1000u);
}

TEST(ExcBucket, RateBoundsWhatPasses) {
  ExcBucket b;
  b.rate = 1000;         // frames per second
  b.tsc_hz = 1'000'000;  // a 1 MHz "TSC": 1000 ticks per frame
  b.last_tsc = 0;
  uint64_t t = 0;
  EXPECT_EQ(b.take(1000, t), uint32_t(kExcBucketBurst));  // the initial burst only
  EXPECT_EQ(b.take(1, t), 0u);
  t += 10'000;  // 10 ms: 10 frames
  EXPECT_EQ(b.take(100, t), 10u);
  // Over one simulated second in 1 ms steps, about rate frames pass.
  uint64_t passed = 0;
  for (int i = 0; i < 1000; ++i) {
    t += 1000;
    passed += b.take(32, t);
  }
  EXPECT_GE(passed, 990u);
  EXPECT_LE(passed, 1000u);
  // After a long pause the bucket is full again, not more.
  t += 5'000'000;
  EXPECT_EQ(b.take(1000, t), uint32_t(kExcBucketBurst));
}
