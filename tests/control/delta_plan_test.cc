// plan_delta: the records that differ between two stored versions, zone by
// zone, and when a full upload is sent instead.
#include "control/delta_plan.hh"

#include <gtest/gtest.h>

using namespace edgedns::ctl;

namespace {

ZoneUpload zone(const std::string& apex, const std::string& body) {
  return {apex, apex + "zone", "$ORIGIN " + apex + "\n" + body};
}

std::string soa(const std::string& apex, int serial) {
  return apex + " 300 IN SOA ns1." + apex + " h." + apex + " " + std::to_string(serial) +
         " 7200 3600 1209600 300\n";
}

std::string hosts(const std::string& apex, int from, int to) {
  std::string s;
  for (int i = from; i < to; ++i)
    s += "h" + std::to_string(i) + "." + apex + " 300 IN A 198.18.0." + std::to_string(i % 250) +
         "\n";
  return s;
}

std::vector<std::string> texts(const std::vector<DeltaChange>& c) {
  std::vector<std::string> out;
  for (const auto& x : c) out.push_back(std::string(x.add ? "+" : "-") + x.rr);
  return out;
}

}  // namespace

TEST(PlanDelta, ChangedRecordsOnlyDeletionsFirst) {
  auto a = zone("a.test.", soa("a.test.", 1) + hosts("a.test.", 0, 20));
  auto b = zone("b.test.", soa("b.test.", 1) + hosts("b.test.", 0, 20));
  auto a2 = zone("a.test.",
                 soa("a.test.", 2) + hosts("a.test.", 0, 19) + "h19.a.test. 60 IN A 198.18.0.19\n");
  auto d = plan_delta({a, b}, {a2, b});
  ASSERT_TRUE(d);
  EXPECT_EQ(texts(*d), (std::vector<std::string>{
                           "-a.test. 300 IN SOA ns1.a.test. h.a.test. 1 7200 3600 1209600 300",
                           "-h19.a.test. 300 IN A 198.18.0.19",
                           "+a.test. 300 IN SOA ns1.a.test. h.a.test. 2 7200 3600 1209600 300",
                           "+h19.a.test. 60 IN A 198.18.0.19",
                       }));
  // Nothing changed: an empty delta (the node's version is already it).
  ASSERT_TRUE(plan_delta({a, b}, {a, b}));
  EXPECT_TRUE(plan_delta({a, b}, {a, b})->empty());
}

TEST(PlanDelta, FullUploadWhenADeltaCannotSayIt) {
  auto a = zone("a.test.", soa("a.test.", 1) + hosts("a.test.", 0, 20));
  auto b = zone("b.test.", soa("b.test.", 1) + hosts("b.test.", 0, 20));
  EXPECT_FALSE(plan_delta({a}, {a, b}));  // a zone added
  EXPECT_FALSE(plan_delta({a, b}, {a}));  // removed
  auto c = zone("c.test.", soa("c.test.", 1) + hosts("c.test.", 0, 20));
  EXPECT_FALSE(plan_delta({a, b}, {a, c}));  // replaced by another
  // Most records changed: the upload is as small.
  auto a_new = zone("a.test.", soa("a.test.", 2) + hosts("a.test.", 100, 120));
  EXPECT_FALSE(plan_delta({a, b}, {a_new, b}));
}
