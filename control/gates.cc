#include "control/gates.hh"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string_view>
#include <thread>
#include <type_traits>

#include "zones/rrtype.hh"
#include "zones/wire.hh"

namespace edgedns::ctl {

using namespace edgedns::zones;

namespace {

std::string pct(double f) {
  char b[32];
  std::snprintf(b, sizeof b, "%.1f%%", f * 100.0);
  return b;
}

// One record as the diff sees it: sorted by owner, type and RDATA, so two
// zones are compared in one merge walk (a hash map of per-owner maps cost
// ~10 s on a 1M-record zone, mostly allocation).
struct Key {
  std::string_view owner;  // lower-cased wire
  uint16_t type = 0;
  std::string_view rdata;  // wire
  const Record* rec = nullptr;
};

std::vector<Key> sorted_keys(const ZoneData& z) {
  std::vector<Key> v;
  v.reserve(z.records.size());
  for (const Record& r : z.records)
    v.push_back({{reinterpret_cast<const char*>(z.owner(r)), r.owner_len},
                 r.type,
                 {reinterpret_cast<const char*>(z.rdata(r)), r.rdata_len},
                 &r});
  std::sort(v.begin(), v.end(), [](const Key& a, const Key& b) {
    if (int c = a.owner.compare(b.owner)) return c < 0;
    if (a.type != b.type) return a.type < b.type;
    if (int c = a.rdata.compare(b.rdata)) return c < 0;
    return a.rec < b.rec;
  });
  return v;
}

// One RRset: a run of equal (owner, type) keys. Its TTL is its first
// record's in zone order, as the parser left it.
struct RRset {
  const Key* b = nullptr;
  const Key* e = nullptr;
  uint32_t ttl = 0;
  std::vector<const Record*> recs() const {
    std::vector<const Record*> out;
    for (const Key* k = b; k != e; ++k) out.push_back(k->rec);
    std::sort(out.begin(), out.end());
    return out;
  }
};

struct Owner {
  std::string_view name;
  std::vector<std::pair<uint16_t, RRset>> types;  // ascending type
};

// Splits keys[i..] into the next owner's RRsets; i moves past them.
Owner next_owner(const std::vector<Key>& keys, size_t& i) {
  Owner o;
  o.name = keys[i].owner;
  while (i < keys.size() && keys[i].owner == o.name) {
    RRset s;
    s.b = &keys[i];
    uint16_t t = keys[i].type;
    const Record* first = keys[i].rec;
    while (i < keys.size() && keys[i].owner == o.name && keys[i].type == t) {
      first = std::min(first, keys[i].rec);
      ++i;
    }
    s.e = keys.data() + i;
    s.ttl = first->ttl;
    o.types.emplace_back(t, s);
  }
  return o;
}

// SOA RDATA with the serial zeroed, so that only other fields compare.
std::string soa_without_serial(const std::string& rd) {
  auto* p = reinterpret_cast<const uint8_t*>(rd.data());
  size_t n1 = name_wire_length(p, rd.size());
  size_t n2 = n1 ? name_wire_length(p + n1, rd.size() - n1) : 0;
  std::string out = rd;
  if (n1 && n2 && n1 + n2 + 4 <= rd.size()) std::memset(out.data() + n1 + n2, 0, 4);
  return out;
}

bool same_set(const RRset& a, const RRset& b) {
  if (a.ttl != b.ttl || a.e - a.b != b.e - b.b) return false;
  for (const Key *x = a.b, *y = b.b; x != a.e; ++x, ++y)
    if (x->rdata != y->rdata) return false;
  return true;
}

bool holds_rdata(const RRset& s, std::string_view rd) {
  return std::binary_search(s.b, s.e, rd, [](const auto& x, const auto& y) {
    auto view = [](const auto& v) -> std::string_view {
      if constexpr (std::is_same_v<std::decay_t<decltype(v)>, Key>) return v.rdata;
      else return v;
    };
    return view(x) < view(y);
  });
}

void add_records(std::vector<std::string>& out, const ZoneData& z, const RRset& s, char sign) {
  for (const Record* r : s.recs()) out.push_back(sign + record_text(z, *r));
}

// Apex types whose loss breaks resolution or validation as surely as a wrong
// value: delegation (NS) and the DNSSEC chain of trust (DNSKEY, DS).
bool apex_guarded(uint16_t t) noexcept {
  return t == rrtype::NS || t == rrtype::DNSKEY || t == rrtype::DS;
}

bool same_records(const ZoneData& a, const ZoneData& b) {
  if (a.records.size() != b.records.size() || a.arena != b.arena) return false;
  for (size_t i = 0; i < a.records.size(); ++i) {
    const Record &x = a.records[i], &y = b.records[i];
    if (x.owner_off != y.owner_off || x.rdata_off != y.rdata_off || x.ttl != y.ttl ||
        x.rdata_len != y.rdata_len || x.type != y.type || x.rclass != y.rclass ||
        x.owner_len != y.owner_len)
      return false;
  }
  return true;
}

}  // namespace

bool serial_gt(uint32_t s2, uint32_t s1) noexcept {
  constexpr uint32_t half = 1u << 31;
  return (s1 < s2 && s2 - s1 < half) || (s1 > s2 && s1 - s2 > half);
}

ZoneDiff diff_zone(const ZoneData* before, const ZoneData* after) {
  ZoneDiff d;
  d.apex = (after ? after->origin : before->origin).to_text();
  d.zone_added = !before;
  d.zone_removed = !after;
  const std::vector<Key> kb = before ? sorted_keys(*before) : std::vector<Key>{};
  const std::vector<Key> ka = after ? sorted_keys(*after) : std::vector<Key>{};
  if (before) d.serial_before = soa_serial(*before);
  if (after) d.serial_after = soa_serial(*after);
  const std::string apex_key = (after ? after->origin : before->origin).lower().wire();
  auto apex_note = [&](std::string_view owner, uint16_t t, const char* what, bool soa_too) {
    if (owner == apex_key && (apex_guarded(t) || (soa_too && t == rrtype::SOA)))
      d.apex_changes.push_back(rrtype_to_text(t) + what);
  };
  auto removed_owner = [&](const Owner& o) {
    ++d.names_removed;
    for (const auto& [t, s] : o.types) {
      ++d.rrsets_removed;
      ++d.changed_by_type[t];
      add_records(d.removed, *before, s, '-');
      apex_note(o.name, t, " removed", true);
    }
  };
  // Records of new names follow the changes to existing ones in the diff.
  std::vector<std::string> added_names;
  auto added_owner = [&](const Owner& o) {
    ++d.names_added;
    for (const auto& [t, s] : o.types) {
      ++d.rrsets_added;
      ++d.changed_by_type[t];
      add_records(added_names, *after, s, '+');
    }
  };
  size_t i = 0, j = 0;
  while (i < kb.size() || j < ka.size()) {
    int c = i == kb.size() ? 1 : j == ka.size() ? -1 : kb[i].owner.compare(ka[j].owner);
    if (c < 0) {
      Owner o = next_owner(kb, i);
      ++d.names_before;
      for (const auto& [t, s] : o.types) ++d.rrsets_before, ++d.before_by_type[t];
      removed_owner(o);
      continue;
    }
    if (c > 0) {
      ++d.names_after;
      added_owner(next_owner(ka, j));
      continue;
    }
    Owner ob = next_owner(kb, i), oa = next_owner(ka, j);
    ++d.names_before;
    ++d.names_after;
    bool untouched = true;
    size_t x = 0, y = 0;
    while (x < ob.types.size() || y < oa.types.size()) {
      uint16_t tb = x < ob.types.size() ? ob.types[x].first : 0xffff;
      uint16_t ta = y < oa.types.size() ? oa.types[y].first : 0xffff;
      bool in_b = x < ob.types.size() && (y == oa.types.size() || tb <= ta);
      bool in_a = y < oa.types.size() && (x == ob.types.size() || ta <= tb);
      if (in_b && !in_a) {  // RRset removed
        const RRset& s = ob.types[x++].second;
        ++d.rrsets_before, ++d.before_by_type[tb];
        untouched = false;
        ++d.changed_by_type[tb];
        ++d.rrsets_removed;
        add_records(d.removed, *before, s, '-');
        apex_note(ob.name, tb, " removed", true);
        continue;
      }
      if (in_a && !in_b) {  // RRset added
        const RRset& n = oa.types[y++].second;
        untouched = false;
        ++d.rrsets_added;
        ++d.changed_by_type[ta];
        add_records(d.added, *after, n, '+');
        apex_note(oa.name, ta, " added", false);
        continue;
      }
      const RRset &s = ob.types[x++].second, &n = oa.types[y++].second;
      const uint16_t t = tb;
      ++d.rrsets_before, ++d.before_by_type[t];
      if (same_set(s, n)) continue;
      untouched = false;
      ++d.changed_by_type[t];
      ++d.rrsets_modified;
      if (s.ttl != n.ttl) {
        add_records(d.removed, *before, s, '-');
        add_records(d.added, *after, n, '+');
      } else {
        for (const Record* r : s.recs())
          if (!holds_rdata(n, {reinterpret_cast<const char*>(before->rdata(*r)), r->rdata_len}))
            d.removed.push_back('-' + record_text(*before, *r));
        for (const Record* r : n.recs())
          if (!holds_rdata(s, {reinterpret_cast<const char*>(after->rdata(*r)), r->rdata_len}))
            d.added.push_back('+' + record_text(*after, *r));
      }
      if (ob.name == apex_key) {
        if (t == rrtype::SOA) {
          auto rd = [](const RRset& r) { return std::string(r.b->rdata); };
          if (s.ttl != n.ttl || s.e - s.b != n.e - n.b ||
              (s.b != s.e && soa_without_serial(rd(s)) != soa_without_serial(rd(n))))
            d.apex_changes.push_back("SOA (other than serial) changed");
        } else if (apex_guarded(t)) {
          d.apex_changes.push_back(rrtype_to_text(t) + " changed");
        }
      }
    }
    if (untouched && d.untouched_names.size() < 64)
      d.untouched_names.push_back(
          name_to_text(reinterpret_cast<const uint8_t*>(ob.name.data()), ob.name.size()));
  }
  d.added.insert(d.added.end(), std::make_move_iterator(added_names.begin()),
                 std::make_move_iterator(added_names.end()));
  // The apex RRsets of an added zone are new, not changed; of a removed zone
  // the blast-radius gate already says everything.
  if (d.zone_added || d.zone_removed) d.apex_changes.clear();
  std::sort(d.apex_changes.begin(), d.apex_changes.end());
  d.apex_changes.erase(std::unique(d.apex_changes.begin(), d.apex_changes.end()),
                       d.apex_changes.end());
  return d;
}

std::string diff_text(const ZoneDiff& d) {
  std::string out;
  for (const auto& l : d.removed) out += l + "\n";
  for (const auto& l : d.added) out += l + "\n";
  return out;
}

std::vector<Rejection> gate_checks(const std::vector<LoadedZone>& zones) {
  std::vector<Rejection> out;
  for (const auto& z : zones) {
    if (z.ok()) continue;
    std::string rule = z.parse_failed ? "parse" : "check";
    size_t n = 0;
    std::string first;
    for (const auto& d : z.diagnostics)
      if (d.is_error() && n++ == 0) first = d.to_string();
    out.push_back({rule, z.file + ": " + std::to_string(n) + " error(s); first: " + first});
  }
  return out;
}

std::vector<Rejection> gate_serial(const ZoneDiff& d, const GateFlags& f) {
  if (f.force_serial || d.zone_added || d.zone_removed || !d.serial_before || !d.serial_after)
    return {};
  if (serial_gt(*d.serial_after, *d.serial_before)) return {};
  return {{"serial", d.apex + ": SOA serial " + std::to_string(*d.serial_after) +
                         " does not increase over the committed " +
                         std::to_string(*d.serial_before) +
                         " (RFC 1982; --force-serial to override)"}};
}

std::vector<Rejection> gate_blast_radius(const ZoneDiff& d, const GateLimits& l) {
  std::vector<Rejection> out;
  auto check = [&](const std::string& what, size_t n, size_t total, std::optional<double> max_frac,
                   std::optional<size_t> max_count) {
    double frac = total ? double(n) / double(total) : 0.0;
    if (max_frac && n > 0 && frac > *max_frac + 1e-12)
      out.push_back({"blast-radius", d.apex + ": " + pct(frac) + " of " + what + " (" +
                                         std::to_string(n) + " of " + std::to_string(total) +
                                         ") exceeds " + pct(*max_frac)});
    if (max_count && n > *max_count)
      out.push_back({"blast-radius", d.apex + ": " + std::to_string(n) + " " + what +
                                         " exceeds the limit of " + std::to_string(*max_count)});
  };
  check("names removed", d.names_removed, d.names_before, l.max_names_removed_fraction,
        l.max_names_removed);
  check("RRsets changed", d.rrsets_changed(), d.rrsets_before, l.max_rrsets_changed_fraction,
        l.max_rrsets_changed);
  for (const auto& [t, lim] : l.per_type) {
    auto c = d.changed_by_type.find(t);
    auto b = d.before_by_type.find(t);
    check(rrtype_to_text(t) + " RRsets changed", c == d.changed_by_type.end() ? 0 : c->second,
          b == d.before_by_type.end() ? 0 : b->second, lim.max_changed_fraction, lim.max_changed);
  }
  return out;
}

std::vector<Rejection> gate_apex(const ZoneDiff& d, const GateFlags& f) {
  if (f.allow_apex_change || d.apex_changes.empty()) return {};
  std::string what;
  for (const auto& c : d.apex_changes) what += (what.empty() ? "" : ", ") + c;
  return {{"apex", d.apex + ": apex " + what + " (--allow-apex-change to allow)"}};
}

std::vector<Rejection> gate_size(const std::vector<LoadedZone>& zones, const GateLimits& l) {
  size_t records = 0, bytes = 0;
  for (const auto& z : zones) {
    records += z.data.records.size();
    // Canonical text is what nodes receive; estimate it without building it.
    bytes += z.data.arena.size() * 2 + z.data.records.size() * 16;
  }
  std::vector<Rejection> out;
  if (records > l.max_records)
    out.push_back({"size", std::to_string(records) + " records exceed the cap of " +
                               std::to_string(l.max_records)});
  if (bytes > l.max_bytes)
    out.push_back({"size", "about " + std::to_string(bytes) +
                               " bytes of zone text exceed the cap of " +
                               std::to_string(l.max_bytes)});
  return out;
}

std::optional<Rejection> run_validator(const std::string& command, double timeout_s,
                                       const std::string& zone_path, const std::string& diff_path) {
  char out_tmpl[] = "/tmp/edgectl-validator-XXXXXX";
  int out_fd = ::mkstemp(out_tmpl);
  if (out_fd < 0)
    return Rejection{"validator",
                     std::string("cannot create output file: ") + std::strerror(errno)};
  ::unlink(out_tmpl);
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(out_fd);
    return Rejection{"validator", std::string("fork: ") + std::strerror(errno)};
  }
  if (pid == 0) {
    ::setpgid(0, 0);  // its own group, so a timeout kills its children too
    ::dup2(out_fd, 1);
    ::dup2(out_fd, 2);
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, 0);
    std::string script = command + " \"$1\" \"$2\"";
    ::execl("/bin/sh", "sh", "-c", script.c_str(), "edgectl-validator", zone_path.c_str(),
            diff_path.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::setpgid(pid, pid);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  int status = 0;
  bool timed_out = false;
  for (;;) {
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) break;
    if (std::chrono::steady_clock::now() >= deadline) {
      ::kill(-pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      timed_out = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::string output;
  char buf[4096];
  ::lseek(out_fd, 0, SEEK_SET);
  ssize_t n;
  while ((n = ::read(out_fd, buf, sizeof buf)) > 0) output.append(buf, size_t(n));
  ::close(out_fd);
  while (!output.empty() && (output.back() == '\n' || output.back() == ' ')) output.pop_back();
  std::string last =
      output.substr(output.rfind('\n') == std::string::npos ? 0 : output.rfind('\n') + 1);
  std::string tail = last.empty() ? "" : ": " + last;
  if (timed_out)
    return Rejection{"validator", "'" + command + "' did not finish within " +
                                      std::to_string(int(timeout_s)) + " s"};
  if (WIFSIGNALED(status))
    return Rejection{"validator", "'" + command + "' killed by signal " +
                                      std::to_string(WTERMSIG(status)) + tail};
  if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
    return Rejection{"validator",
                     "'" + command + "' exited with " + std::to_string(WEXITSTATUS(status)) + tail};
  return std::nullopt;
}

GateReport run_gates(const std::vector<LoadedZone>& next, const std::vector<LoadedZone>* committed,
                     const GateLimits& limits, const GateFlags& flags,
                     const std::string& work_dir) {
  GateReport rep;
  rep.rejections = gate_checks(next);
  if (!rep.ok()) return rep;  // nothing else is meaningful on a zone that did not load
  // By apex (lower-cased wire): a fleet of 100,000 zones is matched in
  // O(n log n), not pairwise.
  std::map<std::string, const LoadedZone*> next_by_apex, committed_by_apex;
  for (const auto& z : next) {
    auto [it, fresh] = next_by_apex.emplace(z.data.origin.lower().wire(), &z);
    if (!fresh)
      rep.rejections.push_back(
          {"check", z.apex() + " is given twice (" + it->second->file + ", " + z.file + ")"});
  }
  if (committed)
    for (const auto& c : *committed) committed_by_apex.emplace(c.data.origin.lower().wire(), &c);
  auto size = gate_size(next, limits);
  rep.rejections.insert(rep.rejections.end(), size.begin(), size.end());
  if (!committed)
    rep.notes.push_back("no committed version known: serial, blast radius and apex not evaluated");
  for (const auto& z : next) {
    const LoadedZone* before = nullptr;
    if (auto it = committed_by_apex.find(z.data.origin.lower().wire());
        it != committed_by_apex.end())
      before = it->second;
    // Byte for byte the same records (a per-zone push keeps the others as
    // they are; the parser is deterministic): nothing changed, no walk.
    if (before && same_records(before->data, z.data)) {
      ZoneDiff d;
      d.apex = z.apex();
      d.serial_before = d.serial_after = soa_serial(z.data);
      rep.diffs.push_back(std::move(d));
      continue;
    }
    ZoneDiff d = committed ? diff_zone(before ? &before->data : nullptr, &z.data)
                           : diff_zone(nullptr, &z.data);
    if (committed) {
      auto s = gate_serial(d, flags);
      auto b = gate_blast_radius(d, limits);
      auto a = gate_apex(d, flags);
      rep.rejections.insert(rep.rejections.end(), s.begin(), s.end());
      rep.rejections.insert(rep.rejections.end(), b.begin(), b.end());
      rep.rejections.insert(rep.rejections.end(), a.begin(), a.end());
    }
    rep.diffs.push_back(std::move(d));
  }
  if (committed)
    for (const auto& c : *committed) {
      if (next_by_apex.count(c.data.origin.lower().wire())) continue;
      ZoneDiff d = diff_zone(&c.data, nullptr);
      // A removal the operator asked for by name (edgectl remove-zone) is
      // not a runaway change; a zone missing from a full push still is.
      if (!flags.removing.count(c.data.origin.lower().to_text())) {
        auto b = gate_blast_radius(d, limits);
        rep.rejections.insert(rep.rejections.end(), b.begin(), b.end());
      }
      rep.diffs.push_back(std::move(d));
    }
  if (rep.ok() && !limits.validator.empty()) {
    for (size_t i = 0; i < next.size() && rep.ok(); ++i) {
      std::string base = work_dir + "/" + std::to_string(i) + "-" + next[i].apex();
      std::string zpath = base + "zone", dpath = base + "diff";
      std::ofstream(zpath, std::ios::binary) << canonical_text(next[i].data);
      std::ofstream(dpath, std::ios::binary) << diff_text(rep.diffs[i]);
      if (auto r = run_validator(limits.validator, limits.validator_timeout_s, zpath, dpath)) {
        r->message = next[i].apex() + ": " + r->message;
        rep.rejections.push_back(*r);
      }
      ::unlink(zpath.c_str());
      ::unlink(dpath.c_str());
    }
  }
  return rep;
}

}  // namespace edgedns::ctl
