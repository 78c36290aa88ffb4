// Response Rate Limiting without EAL: time is injected (1 tick = 1 ms here).
#include "dataplane/rrl.hh"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <array>
#include <vector>

using namespace edgedns::dp;

namespace {

constexpr uint64_t kHz = 1000;  // ticks per second in these tests

std::array<uint8_t, 4> v4(const char* s) {
  std::array<uint8_t, 4> a{};
  EXPECT_EQ(inet_pton(AF_INET, s, a.data()), 1);
  return a;
}
std::array<uint8_t, 16> v6(const char* s) {
  std::array<uint8_t, 16> a{};
  EXPECT_EQ(inet_pton(AF_INET6, s, a.data()), 1);
  return a;
}

Rrl make(uint32_t rate, uint32_t slip) {
  Rrl r;
  r.configure({rate, slip}, kHz);
  return r;
}

// Responses sent (Send or Slip counted apart) for `n` checks at `now`.
struct Tally {
  int sent = 0, dropped = 0, slipped = 0;
};
Tally burst(Rrl& r, const uint8_t* src, bool is_v6, RrlClass c, uint64_t now, int n) {
  Tally t;
  for (int i = 0; i < n; ++i) {
    switch (r.check(src, is_v6, c, now)) {
      case RrlAction::Send: ++t.sent; break;
      case RrlAction::Drop: ++t.dropped; break;
      case RrlAction::Slip: ++t.slipped; break;
    }
  }
  return t;
}

}  // namespace

TEST(Rrl, OffByDefault) {
  Rrl r;
  EXPECT_FALSE(r.enabled());
  auto a = v4("192.0.2.1");
  EXPECT_EQ(burst(r, a.data(), false, RrlClass::Answer, 0, 100000).sent, 100000);
  Rrl z = make(0, 2);
  EXPECT_FALSE(z.enabled());
  EXPECT_EQ(burst(z, a.data(), false, RrlClass::Answer, 0, 1000).sent, 1000);
}

TEST(Rrl, BurstOfOneSecondThenTheRate) {
  Rrl r = make(10, 0);
  auto a = v4("192.0.2.1");
  // A full bucket: one second's worth at once, then nothing.
  Tally t = burst(r, a.data(), false, RrlClass::Answer, 5000, 50);
  EXPECT_EQ(t.sent, 10);
  EXPECT_EQ(t.dropped, 40);
  // 100 ms later: one more (10/s).
  EXPECT_EQ(burst(r, a.data(), false, RrlClass::Answer, 5100, 5).sent, 1);
  EXPECT_EQ(burst(r, a.data(), false, RrlClass::Answer, 5150, 5).sent, 0);
  EXPECT_EQ(burst(r, a.data(), false, RrlClass::Answer, 5200, 5).sent, 1);
}

TEST(Rrl, FloodIsHeldToTheRate) {
  // 1,000 queries/s for 5 s against rate 100: 100 x 5 plus the first burst.
  Rrl r = make(100, 0);
  auto a = v4("198.51.100.7");
  int sent = 0;
  for (uint64_t t = 0; t < 5000; ++t)
    sent += burst(r, a.data(), false, RrlClass::Answer, 10000 + t, 1).sent;
  EXPECT_GE(sent, 500);
  EXPECT_LE(sent, 600);
}

TEST(Rrl, SlowClientIsNeverLimited) {
  Rrl r = make(5, 2);
  auto a = v4("203.0.113.9");
  for (uint64_t t = 0; t < 60000; t += 250)  // 4 per second, below 5
    EXPECT_EQ(r.check(a.data(), false, RrlClass::Answer, t), RrlAction::Send) << t;
}

TEST(Rrl, KeyedByIpv4Slash24) {
  Rrl r = make(3, 0);
  auto a = v4("192.0.2.1"), b = v4("192.0.2.254"), c = v4("192.0.3.1");
  EXPECT_EQ(Rrl::key(a.data(), false, RrlClass::Answer),
            Rrl::key(b.data(), false, RrlClass::Answer));
  EXPECT_NE(Rrl::key(a.data(), false, RrlClass::Answer),
            Rrl::key(c.data(), false, RrlClass::Answer));
  EXPECT_EQ(burst(r, a.data(), false, RrlClass::Answer, 0, 2).sent, 2);
  EXPECT_EQ(burst(r, b.data(), false, RrlClass::Answer, 0, 5).sent, 1);  // the same /24's bucket
  EXPECT_EQ(burst(r, c.data(), false, RrlClass::Answer, 0, 5).sent, 3);  // its own
}

TEST(Rrl, KeyedByIpv6Slash56) {
  Rrl r = make(3, 0);
  auto a = v6("2001:db8:0:100::1"), b = v6("2001:db8:0:1ff:ffff::2"), c = v6("2001:db8:0:200::1");
  EXPECT_EQ(Rrl::key(a.data(), true, RrlClass::Answer), Rrl::key(b.data(), true, RrlClass::Answer));
  EXPECT_NE(Rrl::key(a.data(), true, RrlClass::Answer), Rrl::key(c.data(), true, RrlClass::Answer));
  EXPECT_EQ(burst(r, a.data(), true, RrlClass::Answer, 0, 2).sent, 2);
  EXPECT_EQ(burst(r, b.data(), true, RrlClass::Answer, 0, 5).sent, 1);
  EXPECT_EQ(burst(r, c.data(), true, RrlClass::Answer, 0, 5).sent, 3);
  // The families never share a bucket, even with equal leading bytes.
  auto m = v4("32.1.13.1");  // 0x20 0x01 0x0d: the first bytes of 2001:db8::
  auto n = v6("2001:d00::");
  EXPECT_NE(Rrl::key(m.data(), false, RrlClass::Answer),
            Rrl::key(n.data(), true, RrlClass::Answer));
}

TEST(Rrl, ClassesHaveTheirOwnBuckets) {
  Rrl r = make(2, 0);
  auto a = v4("192.0.2.1");
  EXPECT_EQ(burst(r, a.data(), false, RrlClass::NxDomain, 0, 10).sent, 2);
  EXPECT_EQ(burst(r, a.data(), false, RrlClass::Answer, 0, 10).sent, 2);
  EXPECT_EQ(burst(r, a.data(), false, RrlClass::Error, 0, 10).sent, 2);
  EXPECT_EQ(burst(r, a.data(), false, RrlClass::Referral, 0, 10).sent, 2);
}

TEST(Rrl, SlipEveryNthLimitedResponse) {
  auto a = v4("192.0.2.1");
  for (uint32_t slip : {0u, 1u, 2u, 3u}) {
    Rrl r = make(1, slip);
    ASSERT_EQ(r.check(a.data(), false, RrlClass::Answer, 0), RrlAction::Send);
    std::vector<RrlAction> got;
    for (int i = 0; i < 6; ++i) got.push_back(r.check(a.data(), false, RrlClass::Answer, 0));
    for (int i = 0; i < 6; ++i) {
      RrlAction want = slip != 0 && (i + 1) % slip == 0 ? RrlAction::Slip : RrlAction::Drop;
      EXPECT_EQ(got[size_t(i)], want) << "slip " << slip << " limited response " << i + 1;
    }
  }
}

TEST(Rrl, CreditComesBackAfterAQuietSecond) {
  Rrl r = make(4, 2);
  auto a = v4("192.0.2.1");
  EXPECT_EQ(burst(r, a.data(), false, RrlClass::Answer, 0, 100).sent, 4);
  EXPECT_EQ(burst(r, a.data(), false, RrlClass::Answer, 2000, 100).sent,
            4);  // full again, not more
}

TEST(Rrl, TableThrashIsHarmless) {
  // 300k distinct /24s through a 64k-entry table: no crash, each new bucket
  // starts full, and a prefix that keeps asking stays limited.
  Rrl r = make(2, 0);
  auto hot = v4("198.51.100.1");
  int hot_sent = 0;
  for (uint32_t i = 0; i < 300000; ++i) {
    uint8_t p[4] = {uint8_t(10 + (i >> 16)), uint8_t(i >> 8), uint8_t(i), 1};
    EXPECT_EQ(r.check(p, false, RrlClass::NxDomain, 1000), RrlAction::Send);
    if (i % 100 == 0)
      hot_sent += r.check(hot.data(), false, RrlClass::Answer, 1000) == RrlAction::Send;
  }
  EXPECT_LE(hot_sent, 2 + 1);  // its two, or three if thrash evicted it once at most
}

TEST(Rrl, TimeGoingBackwardsDoesNotRefill) {
  Rrl r = make(2, 0);
  auto a = v4("192.0.2.1");
  EXPECT_EQ(burst(r, a.data(), false, RrlClass::Answer, 10000, 5).sent, 2);
  EXPECT_EQ(burst(r, a.data(), false, RrlClass::Answer, 9000, 5).sent, 0);
}

TEST(RrlSlipReply, KeepsHeaderAndQuestionOnly) {
  // A response: header (QR AA, NOERROR, 1/2/1/1), question www.example. A,
  // then records (their bytes do not matter to the rewrite).
  std::vector<uint8_t> m = {0xbe, 0xef, 0x85, 0x00, 0, 1, 0, 2, 0, 1, 0, 1};
  const uint8_t qname[] = {3, 'w', 'w', 'w', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0};
  m.insert(m.end(), qname, qname + sizeof qname);
  m.insert(m.end(), {0, 1, 0, 1});
  m.insert(m.end(), 60, 0xaa);
  size_t n = rrl_slip_reply(m.data(), m.size(), sizeof qname);
  EXPECT_EQ(n, 12 + sizeof qname + 4);
  EXPECT_EQ(m[0], 0xbe);
  EXPECT_EQ(m[1], 0xef);
  EXPECT_EQ(m[2], 0x87);  // QR AA RD kept, TC added
  EXPECT_EQ(m[3], 0x00);
  EXPECT_EQ(m[5], 1);  // QDCOUNT
  for (int i = 6; i < 12; ++i) EXPECT_EQ(m[size_t(i)], 0) << i;
  // An error answer without a question: the header alone.
  std::vector<uint8_t> e = {0x12, 0x34, 0x80, 0x01, 0, 0, 0, 0, 0, 0, 0, 1};
  e.insert(e.end(), 11, 0);  // an OPT
  EXPECT_EQ(rrl_slip_reply(e.data(), e.size(), 0), 12u);
  EXPECT_EQ(e[2], 0x82);
  EXPECT_EQ(e[3], 0x01);  // FORMERR kept
  EXPECT_EQ(e[11], 0);
  // A length that cannot hold the claimed question: header only, QDCOUNT 0.
  std::vector<uint8_t> s = {0, 1, 0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0, 3, 'a'};
  EXPECT_EQ(rrl_slip_reply(s.data(), s.size(), 13), 12u);
  EXPECT_EQ(s[5], 0);
}
