#include "dataplane/registry.hh"

#include <algorithm>
#include <mutex>
#include <unordered_set>

#include "zones/check.hh"
#include "zones/parser.hh"
#include "zones/snapshot.hh"

namespace edgedns::dp {

// Counter slots 1..kVersionSlots-1 (0 is "unversioned"). Released from
// ServedVersion's destructor, which may run on whichever control thread drops
// the last reference (the agent, or main at teardown): hence the mutex.
struct VersionRegistry::SlotPool {
  std::mutex mu;
  std::vector<unsigned> free;
  std::vector<VersionCounters*> counters;

  explicit SlotPool(std::vector<VersionCounters*> c) : counters(std::move(c)) {
    for (unsigned s = kVersionSlots - 1; s >= 1; --s) free.push_back(s);
  }
  std::optional<unsigned> acquire() {
    std::lock_guard lock(mu);
    if (free.empty()) return std::nullopt;
    unsigned s = free.back();
    free.pop_back();
    // Free means no lcore can write it (see VersionCounters): start at zero.
    for (VersionCounters* c : counters)
      if (c) c[s].reset();
    return s;
  }
  void release(unsigned s) {
    std::lock_guard lock(mu);
    free.push_back(s);
  }
};

VersionRegistry::VersionRegistry(ZonePublisher& pub, std::vector<unsigned> lcore_ids,
                                 std::vector<VersionCounters*> counters)
    : pub_(pub),
      lcore_ids_(std::move(lcore_ids)),
      pool_(std::make_shared<SlotPool>(std::move(counters))) {
  if (lcore_ids_.size() != pub_.slots())
    throw std::invalid_argument("registry: one lcore id per publisher slot");
}

VersionRegistry::~VersionRegistry() = default;

std::shared_ptr<const Version> VersionRegistry::add(std::shared_ptr<const zones::ZoneSet> zs) {
  zones::VersionId id = zones::zoneset_version(*zs);
  std::string hex = id.hex();
  if (auto v = find(hex)) return v;
  std::optional<unsigned> slot = pool_->acquire();
  if (!slot) {
    evict();
    slot = pool_->acquire();
  }
  if (!slot) throw RegistryError("busy", "no free version counter slot (too many versions pinned)");
  auto sv = std::make_shared<ServedVersion>();
  sv->zs = std::move(zs);
  sv->vslot = *slot;
  std::weak_ptr<SlotPool> wp = pool_;
  sv->on_release = [wp, s = *slot] {
    if (auto p = wp.lock()) p->release(s);
  };
  auto v = std::make_shared<Version>();
  v->id = id;
  v->hex = std::move(hex);
  v->label = zones::zoneset_label(*sv->zs);
  for (const auto& z : sv->zs->zones()) {
    v->records += zones::zone_record_count(*z);
    v->memory += zones::zone_memory_bytes(*z);
  }
  v->seq = ++seq_;
  v->served = std::move(sv);
  versions_.push_back(v);
  evict();
  return v;
}

std::shared_ptr<const Version> VersionRegistry::find(std::string_view hex) const {
  std::string h(hex);
  std::transform(h.begin(), h.end(), h.begin(),
                 [](unsigned char c) { return char(std::tolower(c)); });
  for (const auto& v : versions_)
    if (v->hex == h) return v;
  return nullptr;
}

std::shared_ptr<const Version> VersionRegistry::get(std::string_view hex) const {
  auto v = find(hex);
  if (!v) throw RegistryError("unknown_version", "unknown version " + std::string(hex));
  return v;
}

void VersionRegistry::publish(const std::shared_ptr<const Version>& v,
                              std::span<const unsigned> lcores) {
  std::vector<unsigned> slots;
  if (lcores.empty()) {
    for (unsigned i = 0; i < lcore_ids_.size(); ++i) slots.push_back(i);
  } else {
    for (unsigned lc : lcores) {
      auto it = std::find(lcore_ids_.begin(), lcore_ids_.end(), lc);
      if (it == lcore_ids_.end())
        throw RegistryError("bad_lcore", "lcore " + std::to_string(lc) + " is not a worker lcore");
      unsigned s = unsigned(it - lcore_ids_.begin());
      if (std::find(slots.begin(), slots.end(), s) == slots.end()) slots.push_back(s);
    }
  }
  pub_.publish(v->served, slots);
}

bool VersionRegistry::is_served(const Version& v) const {
  for (unsigned i = 0; i < pub_.slots(); ++i)
    if (pub_.current(i) == v.served) return true;
  return false;
}

bool VersionRegistry::served_everywhere(const Version& v) const {
  for (unsigned i = 0; i < pub_.slots(); ++i)
    if (pub_.current(i) != v.served) return false;
  return true;
}

void VersionRegistry::commit(const std::shared_ptr<const Version>& v) {
  if (committed_ == v) return;
  if (committed_) previous_ = committed_;
  committed_ = v;
}

bool VersionRegistry::pinned(const Version& v) const {
  return (committed_ && committed_.get() == &v) || (previous_ && previous_.get() == &v) ||
         is_served(v);
}

void VersionRegistry::evict() {
  while (versions_.size() > kMaxHeldVersions) {
    // Oldest unpinned first; never the one just added (the newest).
    auto it = std::find_if(versions_.begin(), versions_.end() - 1,
                           [&](const auto& v) { return !pinned(*v); });
    if (it == versions_.end() - 1) return;
    versions_.erase(it);
  }
}

void VersionRegistry::drop(std::string_view hex) {
  auto v = get(hex);
  if (is_served(*v)) throw RegistryError("bad_request", "version " + v->hex + " is served");
  if (committed_ == v) throw RegistryError("bad_request", "version " + v->hex + " is committed");
  if (previous_ == v) previous_.reset();
  versions_.erase(std::find(versions_.begin(), versions_.end(), v));
}

std::shared_ptr<const Version> VersionRegistry::version_of(const ServedVersion* sv) const {
  if (!sv) return nullptr;
  for (const auto& v : versions_)
    if (v->served.get() == sv) return v;
  return nullptr;
}

std::vector<std::pair<unsigned, std::shared_ptr<const Version>>> VersionRegistry::served() const {
  std::vector<std::pair<unsigned, std::shared_ptr<const Version>>> out;
  for (unsigned i = 0; i < pub_.slots(); ++i)
    out.emplace_back(lcore_ids_[i], version_of(pub_.current(i).get()));
  return out;
}

std::vector<std::shared_ptr<const Version>> VersionRegistry::versions() const { return versions_; }

VersionCounts VersionRegistry::counts(const Version& v, size_t slot_index) const {
  VersionCounts c;
  if (slot_index >= pool_->counters.size() || !pool_->counters[slot_index]) return c;
  const VersionCounters& k = pool_->counters[slot_index][v.served->vslot];
  c.queries = k.queries.get();
  for (unsigned i = 0; i < kVersionRcodes; ++i) c.rcode[i] = k.rcode[i].get();
  c.dropped = k.dropped.get();
  c.malformed = k.malformed.get();
  return c;
}

size_t VersionRegistry::memory_bytes() const {
  // Delta versions share unchanged shards with their base: each counted once.
  std::vector<const zones::ZoneSet*> sets;
  sets.reserve(versions_.size());
  for (const auto& v : versions_) sets.push_back(&v->zone_set());
  return zones::zoneset_memory_unique(sets);
}

size_t VersionRegistry::free_counter_slots() const {
  std::lock_guard lock(pool_->mu);
  return pool_->free.size();
}

BuildResult build_zone_set(std::span<const ZoneText> texts) {
  BuildResult r;
  std::vector<std::shared_ptr<const zones::Zone>> built;
  bool bad = false;
  for (const ZoneText& t : texts) {
    zones::ParseOptions po;
    po.origin = t.origin;
    // Uploaded text names no files on this node: $INCLUDE is refused (the
    // client expands it), so an upload cannot read local files.
    po.max_include_depth = 0;
    zones::ParseResult pr = zones::parse_zone_text(t.text, t.file, po);
    size_t first = r.diagnostics.size();
    for (auto& d : pr.diagnostics) r.diagnostics.push_back(std::move(d));
    if (pr.has_errors()) {
      bad = true;
      continue;
    }
    zones::check_zone(pr.zone, r.diagnostics);
    bool err = false;
    for (size_t i = first; i < r.diagnostics.size(); ++i) err |= r.diagnostics[i].is_error();
    if (err) {
      bad = true;
      continue;
    }
    built.push_back(zones::compile_zone(std::move(pr.zone)));
  }
  if (bad) return r;
  try {
    r.set = zones::ZoneSet::build(std::move(built));
  } catch (const std::exception& e) {
    zones::Diagnostic d;
    d.file = texts.empty() ? std::string() : texts.front().file;
    d.message = e.what();
    r.diagnostics.push_back(std::move(d));
  }
  return r;
}

}  // namespace edgedns::dp
