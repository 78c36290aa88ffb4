#include "control/version_id.hh"

#include <algorithm>
#include <mutex>
#include <unordered_map>

#include <xxhash.h>

#include "zones/name.hh"
#include "zones/snapshot.hh"

namespace edgedns::ctl {

namespace {

std::string content_key(const zones::ZoneData& d) {
  XXH3_state_t* st = XXH3_createState();
  XXH3_128bits_reset(st);
  const zones::Name apex = d.origin.lower();
  XXH3_128bits_update(st, apex.data(), apex.size());
  // Records hold offsets into the arena, so both together are the content
  // (line numbers too: the same records elsewhere in a file only miss).
  XXH3_128bits_update(st, d.arena.data(), d.arena.size());
  XXH3_128bits_update(st, d.records.data(), d.records.size() * sizeof(zones::Record));
  XXH128_hash_t h = XXH3_128bits_digest(st);
  XXH3_freeState(st);
  char buf[33];
  std::snprintf(buf, sizeof buf, "%016llx%016llx", static_cast<unsigned long long>(h.high64),
                static_cast<unsigned long long>(h.low64));
  return buf;
}

// Two generations: what the current call uses and what the one before used.
struct FactsCache {
  std::mutex mu;
  std::unordered_map<std::string, std::shared_ptr<const ZoneFacts>> now, before;
};
FactsCache& cache() {
  static FactsCache c;
  return c;
}

}  // namespace

std::shared_ptr<const ZoneFacts> zone_facts(const LoadedZone& z) {
  std::string key = content_key(z.data);
  FactsCache& c = cache();
  {
    std::lock_guard lk(c.mu);
    if (auto it = c.now.find(key); it != c.now.end()) return it->second;
    if (auto it = c.before.find(key); it != c.before.end()) {
      auto f = it->second;
      c.now.emplace(key, f);
      return f;
    }
  }
  auto f = std::make_shared<ZoneFacts>();
  f->key = key;
  f->records = z.data.records.size();
  zones::ZoneData copy = z.data;
  auto compiled = zones::compile_zone(std::move(copy));
  f->version = zones::zone_version(*compiled);
  f->serial = zones::zone_serial(*compiled);
  f->text = std::make_shared<const std::string>(canonical_text(z.data));
  std::lock_guard lk(c.mu);
  c.now.emplace(key, f);
  return f;
}

namespace {

// Each set asked about starts a generation: what it shares with the set
// before comes from `before`, and the cache never holds more than the two
// (a 1M-record zone's facts are ~30 MB of text; they must not pile up).
void turn_generation() {
  FactsCache& c = cache();
  std::lock_guard lk(c.mu);
  c.before = std::move(c.now);
  c.now.clear();
}

}  // namespace

VersionInfo compute_version(const std::vector<LoadedZone>& zones) {
  turn_generation();
  VersionInfo v;
  zones::VersionId id;
  struct Named {
    const zones::Name* apex;
    uint32_t serial;
  };
  std::vector<Named> named;
  std::vector<zones::Name> lower;
  lower.reserve(zones.size());
  for (const auto& z : zones) {
    auto f = zone_facts(z);
    id += f->version;
    v.records += f->records;
    lower.push_back(z.data.origin.lower());
    named.push_back({&z.data.origin, f->serial});
  }
  v.id = id.hex();
  // As zoneset_label: apex order, the first 8 and the count past that.
  std::vector<size_t> order(zones.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return zones::name_canonical_compare(lower[a].data(), lower[a].size(), lower[b].data(),
                                         lower[b].size()) < 0;
  });
  constexpr size_t kNamed = 8;
  for (size_t i = 0; i < order.size() && i < kNamed; ++i) {
    if (!v.label.empty()) v.label += ',';
    v.label += named[order[i]].apex->to_text() + "=" + std::to_string(named[order[i]].serial);
  }
  if (order.size() > kNamed) v.label += ",... (" + std::to_string(order.size()) + " zones)";
  return v;
}

}  // namespace edgedns::ctl
