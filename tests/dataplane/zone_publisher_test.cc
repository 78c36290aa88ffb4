// QSBR publication: readers never see a reclaimed zone set; the writer
// reclaims the replaced set once publish returns; per-slot publication.
#include "dataplane/zone_publisher.hh"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

using namespace edgedns;
using namespace edgedns::dp;

namespace {

constexpr int kVersions = 200;  // enough swaps for readers to overlap many grace periods

struct Versions {
  std::vector<std::shared_ptr<const zones::ZoneSet>> sets;  // real objects, kept alive here
  std::unique_ptr<std::atomic<bool>[]> reclaimed { new std::atomic<bool>[ kVersions ] };

  Versions() {
    for (int i = 0; i < kVersions; ++i) {
      sets.push_back(zones::ZoneSet::build({}));
      reclaimed[i] = false;
    }
  }
  // A handle whose last release marks version i reclaimed (aliasing shared_ptr).
  std::shared_ptr<const zones::ZoneSet> handle(int i) {
    auto* flag = &reclaimed[i];
    std::shared_ptr<void> owner(nullptr, [flag](void*) { flag->store(true); });
    return std::shared_ptr<const zones::ZoneSet>(owner, sets[size_t(i)].get());
  }
  int index_of(const zones::ZoneSet* p) const {
    for (int i = 0; i < kVersions; ++i)
      if (sets[size_t(i)].get() == p) return i;
    return -1;
  }
};

}  // namespace

TEST(ZonePublisher, ReadersNeverSeeReclaimedSets) {
  Versions v;
  ZonePublisher pub(2);
  pub.publish_all(v.handle(0));
  std::atomic<bool> stop{false};
  std::atomic<long> bad{0}, reads{0};
  auto reader = [&](unsigned slot) {
    rcu_register_thread();
    while (!stop.load()) {
      const ServedVersion* sv = pub.read(slot);
      int i = v.index_of(sv ? sv->zs.get() : nullptr);
      if (i < 0 || v.reclaimed[i].load()) bad.fetch_add(1);
      reads.fetch_add(1);
      rcu::quiescent_state();
      std::this_thread::yield();  // two cores shared by everyone: let the writer run
    }
    rcu::unregister_thread();
  };
  std::thread r0(reader, 0u), r1(reader, 1u);
  for (int i = 1; i < kVersions; ++i) {
    // Let the readers run between swaps so that they overlap many versions.
    long seen = reads.load();
    while (reads.load() < seen + 2) std::this_thread::yield();
    pub.publish_all(v.handle(i));
    // publish returned after a grace period: the previous version is gone.
    EXPECT_TRUE(v.reclaimed[i - 1].load()) << i;
    EXPECT_FALSE(v.reclaimed[i].load()) << i;
  }
  stop.store(true);
  r0.join();
  r1.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_GT(reads.load(), 0);
}

TEST(ZonePublisher, PerSlotPublication) {
  Versions v;
  ZonePublisher pub(3);
  pub.publish_all(v.handle(0));
  const unsigned canary[] = {1};
  auto canary_v = std::make_shared<ServedVersion>();
  canary_v->zs = v.handle(1);
  pub.publish(std::move(canary_v), canary);
  EXPECT_EQ(pub.current(0)->zs.get(), v.sets[0].get());
  EXPECT_EQ(pub.current(1)->zs.get(), v.sets[1].get());
  EXPECT_EQ(pub.current(2)->zs.get(), v.sets[0].get());
  EXPECT_FALSE(v.reclaimed[0].load());  // still served by slots 0 and 2
  // An unregistered thread may not read under QSBR, so check through a reader.
  std::thread t([&] {
    rcu_register_thread();
    EXPECT_EQ(pub.read(1)->zs.get(), v.sets[1].get());
    EXPECT_EQ(pub.read(2)->zs.get(), v.sets[0].get());
    rcu::unregister_thread();
  });
  t.join();
  pub.publish_all(v.handle(2));
  EXPECT_TRUE(v.reclaimed[0].load());
  EXPECT_TRUE(v.reclaimed[1].load());
  const unsigned bad_slot[] = {7};
  auto wrapped = std::make_shared<ServedVersion>();
  wrapped->zs = v.handle(3);
  EXPECT_THROW(pub.publish(wrapped, bad_slot), std::out_of_range);
  EXPECT_EQ(pub.current(0)->zs.get(), v.sets[2].get());  // refused publish changed nothing
}

TEST(ZonePublisher, DestructorReclaims) {
  Versions v;
  {
    ZonePublisher pub(1);
    pub.publish_all(v.handle(0));
    EXPECT_FALSE(v.reclaimed[0].load());
  }
  EXPECT_TRUE(v.reclaimed[0].load());
}

TEST(ZonePublisher, ReleaseHookRunsAfterTheGracePeriod) {
  Versions v;
  ZonePublisher pub(2);
  std::atomic<int> released{0};
  auto a = std::make_shared<ServedVersion>();
  a->zs = v.handle(0);
  a->vslot = 5;
  a->on_release = [&] { released.fetch_add(1); };
  pub.publish_all(std::shared_ptr<const ServedVersion>(std::move(a)));
  EXPECT_EQ(pub.current(1)->vslot, 5u);
  EXPECT_EQ(released.load(), 0);
  pub.publish_all(v.handle(1));
  EXPECT_EQ(released.load(), 1);  // both slots moved on and a grace period passed
  EXPECT_TRUE(v.reclaimed[0].load());
}
