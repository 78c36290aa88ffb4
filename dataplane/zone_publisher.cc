#include "dataplane/zone_publisher.hh"

#include <stdexcept>
#include <string>

namespace edgedns::dp {

ZonePublisher::ZonePublisher(unsigned n_slots)
    : n_(n_slots), slots_(new Slot[n_slots]), owners_(n_slots) {}

ZonePublisher::~ZonePublisher() { publish_all(std::shared_ptr<const ServedVersion>()); }

void ZonePublisher::publish_all(std::shared_ptr<const ServedVersion> v) {
  std::vector<unsigned> all(n_);
  for (unsigned i = 0; i < n_; ++i) all[i] = i;
  publish(std::move(v), all);
}

void ZonePublisher::publish_all(std::shared_ptr<const zones::ZoneSet> zs) {
  std::shared_ptr<ServedVersion> v;
  if (zs) {
    v = std::make_shared<ServedVersion>();
    v->zs = std::move(zs);
  }
  publish_all(std::shared_ptr<const ServedVersion>(std::move(v)));
}

void ZonePublisher::publish(std::shared_ptr<const ServedVersion> v,
                            std::span<const unsigned> slots) {
  std::vector<std::shared_ptr<const ServedVersion>> retired;
  {
    std::lock_guard lock(mu_);
    for (unsigned s : slots) {
      if (s >= n_) throw std::out_of_range("zone publisher: no slot " + std::to_string(s));
    }
    retired.reserve(slots.size());
    for (unsigned s : slots) {
      rcu::exchange(&slots_[s].ptr, const_cast<ServedVersion*>(v.get()));
      retired.push_back(std::move(owners_[s]));
      owners_[s] = v;
    }
    // Wait while still holding the lock: a concurrent publisher must not
    // reclaim out of order with us.
    rcu::synchronize();
  }
  // `retired` goes out of scope here: the last reference to a replaced
  // version frees it, now that no reader can hold its pointer.
}

std::shared_ptr<const ServedVersion> ZonePublisher::current(unsigned slot) const {
  std::lock_guard lock(mu_);
  return owners_.at(slot);
}

}  // namespace edgedns::dp
