// The rate gate: nothing is judged below min_queries on either side, a
// canary fails once its rate exceeds the control's by more than
// max(abs, rel * control rate), for each counted rcode and drop kind.
#include "control/health.hh"

#include <gtest/gtest.h>

using namespace edgedns::ctl;

namespace {

HealthPolicy policy(double abs = 0.01, double rel = 0.5) {
  HealthPolicy h;
  h.min_queries = 100;
  for (const char* r : {"servfail", "refused", "nxdomain", "formerr", "dropped", "malformed"})
    h.rates[r] = {abs, rel};
  return h;
}

Counters with(uint64_t queries, uint64_t Counters::*field = nullptr, uint64_t n = 0) {
  Counters c;
  c.queries = queries;
  if (field) c.*field = n;
  return c;
}

}  // namespace

TEST(Health, TooFewQueriesAreNotJudged) {
  RateVerdict v = compare_rates(with(99, &Counters::servfail, 99), with(1000), policy());
  EXPECT_FALSE(v.evaluated);
  EXPECT_TRUE(v.failures.empty());
  EXPECT_EQ(v.summary, "canary 99 q, control 1000 q (rates not compared below 100 q each)");
  EXPECT_FALSE(compare_rates(with(1000, &Counters::servfail, 999), with(99), policy()).evaluated);
  HealthPolicy zero = policy();
  zero.min_queries = 0;  // still nothing to compare against an empty side
  EXPECT_FALSE(compare_rates(with(1000, &Counters::servfail, 999), with(0), zero).evaluated);
}

TEST(Health, WithinTheAbsoluteLimitPasses) {
  // 1.9% against 1.0%: +0.9%, under the +1% allowance.
  RateVerdict v = compare_rates(with(1000, &Counters::nxdomain, 19),
                                with(1000, &Counters::nxdomain, 10), policy());
  EXPECT_TRUE(v.evaluated);
  EXPECT_TRUE(v.failures.empty());
  EXPECT_EQ(v.summary, "canary 1000 q, control 1000 q");
}

TEST(Health, AboveTheAbsoluteLimitFailsWithTheRates) {
  RateVerdict v = compare_rates(with(1000, &Counters::nxdomain, 60),
                                with(1000, &Counters::nxdomain, 1), policy());
  ASSERT_EQ(v.failures.size(), 1u);
  EXPECT_EQ(
      v.failures[0],
      "nxdomain rate 6.00% on canary vs 0.10% on control (limit +1.00%, 1000 vs 1000 queries)");
}

TEST(Health, TheRelativeLimitWinsOnAHighControlRate) {
  // Control 20%: allowance max(1%, 50% of 20%) = 10%. 29% passes, 31% fails.
  Counters control = with(1000, &Counters::servfail, 200);
  EXPECT_TRUE(
      compare_rates(with(1000, &Counters::servfail, 290), control, policy()).failures.empty());
  RateVerdict v = compare_rates(with(1000, &Counters::servfail, 310), control, policy());
  ASSERT_EQ(v.failures.size(), 1u);
  EXPECT_NE(v.failures[0].find("limit +10.00%"), std::string::npos) << v.failures[0];
}

TEST(Health, EveryCountedKindIsJudged) {
  for (auto f : {&Counters::servfail, &Counters::refused, &Counters::nxdomain, &Counters::formerr,
                 &Counters::dropped, &Counters::malformed}) {
    RateVerdict v = compare_rates(with(1000, f, 100), with(1000), policy());
    ASSERT_EQ(v.failures.size(), 1u);
  }
  // A kind the policy does not list is not judged.
  HealthPolicy only = policy();
  only.rates.erase("dropped");
  EXPECT_TRUE(
      compare_rates(with(1000, &Counters::dropped, 900), with(1000), only).failures.empty());
  // Several at once are all reported.
  Counters bad = with(1000, &Counters::refused, 100);
  bad.malformed = 100;
  EXPECT_EQ(compare_rates(bad, with(1000), policy()).failures.size(), 2u);
}
