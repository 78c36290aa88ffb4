#include "dataplane/lkg_store.hh"

#include <stdexcept>

#include "zones/lkg.hh"
#include "zones/zone_text.hh"

namespace edgedns::dp {

void persist_lkg(const std::string& dir, const Version& v, std::span<const LkgDelta> deltas) {
  const zones::LkgHead head = zones::lkg_head(dir);
  if (head.found && head.deltas < kMaxLkgDeltas)
    for (const LkgDelta& d : deltas) {
      if (d.base != head.version) continue;
      size_t bytes = 0;
      for (const auto& c : d.changes) bytes += c.rr.size() + 2;
      if (head.delta_bytes + bytes > head.full_bytes / 2) break;
      std::string err = zones::write_lkg_delta(dir, head.seq + 1, d.base, v.id, d.changes);
      if (!err.empty()) throw std::runtime_error(err);
      return;
    }
  std::string text = zones::zoneset_text(v.zone_set());
  std::string err = zones::write_lkg(dir, zones::next_lkg_seq(dir), v.id, text);
  if (!err.empty()) throw std::runtime_error(err);
}

std::shared_ptr<const zones::ZoneSet> load_newest_lkg(
    const std::string& dir, const std::function<void(const std::string&)>& log, bool* files) {
  zones::LkgRead r = zones::read_newest_lkg(dir);
  if (files) *files = r.found || !r.skipped.empty();
  for (const auto& s : r.skipped) log("last-known-good: skipped " + s);
  if (!r.found) {
    log("last-known-good: no good file in " + dir);
    return nullptr;
  }
  log("last-known-good: serving " + r.path + " (sequence " + std::to_string(r.seq) + ", version " +
      r.version.hex() + ")");
  return r.zones;
}

bool start_reads_lkg(const StartOptions& o) {
  return !o.state_dir.empty() && !(o.force_zone && o.zone_files);
}

StartPlan plan_start(const StartOptions& o, bool good_lkg, bool any_lkg_file) {
  StartPlan p;
  const std::string& dir = o.state_dir;
  if (o.force_zone && !o.zone_files) {
    p.note = "--force-zone without --zone: there are no zone files to serve";
    return p;
  }
  if (o.zone_files && (dir.empty() || o.force_zone)) {
    p.source = StartSource::kZoneFiles;
    p.persist = !dir.empty();
    if (p.persist)
      p.note =
          "--force-zone: serving the --zone set and writing it as the newest last-known-good "
          "of " +
          dir + " (it replaces what the control plane last committed here)";
    return p;
  }
  const char* kEmptyNote =
      ": starting empty, answering REFUSED until the control plane sends a version";
  if (dir.empty()) {
    if (o.managed) {
      p.source = StartSource::kEmpty;
      p.note = std::string("no --zone and no --state-dir") + kEmptyNote;
      return p;
    }
    p.note = "no --zone and no --state-dir given: nothing to serve";
    return p;
  }
  if (good_lkg) {
    p.source = StartSource::kLastKnownGood;
    if (o.zone_files)
      p.note = "the --zone set was not used: " + dir +
               " holds a good last-known-good (the newest commit, or the zone files of an earlier "
               "start), which a restart serves so that it never undoes a rollout; --force-zone "
               "serves the zone files instead";
    return p;
  }
  if (o.zone_files) {
    p.source = StartSource::kZoneFiles;
    p.persist = true;
    p.note = "no good last-known-good in " + dir +
             ": serving the --zone set and writing it as the last-known-good";
    return p;
  }
  if (o.managed && !any_lkg_file) {
    p.source = StartSource::kEmpty;
    p.note = "no --zone and no last-known-good in " + dir + kEmptyNote;
    return p;
  }
  p.note = "no --zone given and no good last-known-good file in " + dir;
  if (any_lkg_file)
    p.note += " (every file there is damaged: see the lines above; fix or remove them)";
  return p;
}

}  // namespace edgedns::dp
