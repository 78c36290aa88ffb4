// Validation gates run before a version leaves the control plane: parse and
// semantic checks, SOA serial increase (RFC 1982), blast radius against the
// committed version, apex changes, size caps, and an optional external
// validator (as NSD's `verifier` and Knot's `external-validation`). Pure
// functions over parsed zones except run_validator (forks a command).
// A rejection names the rule and the numbers. Control thread; allocates.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "control/zone_input.hh"

namespace edgedns::ctl {

struct TypeLimit {
  std::optional<double> max_changed_fraction;
  std::optional<size_t> max_changed;
};

struct GateLimits {
  // The founding outage was a push that replaced most of a zone; losing more
  // than a tenth of the names in one step is almost never intended.
  std::optional<double> max_names_removed_fraction = 0.10;
  std::optional<size_t> max_names_removed;
  std::optional<double> max_rrsets_changed_fraction;
  std::optional<size_t> max_rrsets_changed;
  std::map<uint16_t, TypeLimit> per_type;
  // Well above the 1M-record zones the dataplane is sized for, but a runaway
  // $GENERATE or a concatenated file is caught before it reaches any node.
  size_t max_records = 20'000'000;
  size_t max_bytes = size_t(1) << 30;  // canonical text bytes of the whole set
  std::string validator;               // shell command; "" = none
  double validator_timeout_s = 30;
};

struct GateFlags {
  bool force_serial = false;
  bool allow_apex_change = false;
  std::set<std::string> removing;  // lower-cased apexes taken out by name: no blast-radius gate
};

struct Rejection {
  std::string rule;     // "parse", "check", "serial", "blast-radius", "apex", "size", "validator"
  std::string message;  // names the zone and the numbers
};

// What changed in one zone between the committed version and the new one.
struct ZoneDiff {
  std::string apex;
  bool zone_added = false, zone_removed = false;
  size_t names_before = 0, names_after = 0, names_removed = 0, names_added = 0;
  size_t rrsets_before = 0, rrsets_added = 0, rrsets_removed = 0, rrsets_modified = 0;
  std::map<uint16_t, size_t> changed_by_type, before_by_type;
  std::vector<std::string> apex_changes;  // e.g. "NS changed", "DNSKEY removed", "DS added"
  std::optional<uint32_t> serial_before, serial_after;
  std::vector<std::string> removed, added;   // record texts, for the diff file
  std::vector<std::string> untouched_names;  // owners whose RRsets are all unchanged (text)
  size_t rrsets_changed() const { return rrsets_added + rrsets_removed + rrsets_modified; }
};

// `before` or `after` may be null (zone added / removed).
ZoneDiff diff_zone(const zones::ZoneData* before, const zones::ZoneData* after);
// "+owner ttl class type rdata" / "-..." lines.
std::string diff_text(const ZoneDiff& d);

// RFC 1982 §3.2: true when s2 is greater than s1.
bool serial_gt(uint32_t s2, uint32_t s1) noexcept;

std::vector<Rejection> gate_checks(const std::vector<LoadedZone>& zones);
std::vector<Rejection> gate_serial(const ZoneDiff& d, const GateFlags& f);
std::vector<Rejection> gate_blast_radius(const ZoneDiff& d, const GateLimits& l);
std::vector<Rejection> gate_apex(const ZoneDiff& d, const GateFlags& f);
std::vector<Rejection> gate_size(const std::vector<LoadedZone>& zones, const GateLimits& l);
// Runs `command "$ZONE" "$DIFF"` under /bin/sh; non-zero exit, a signal or
// the timeout is a rejection quoting the command's last output line.
std::optional<Rejection> run_validator(const std::string& command, double timeout_s,
                                       const std::string& zone_path, const std::string& diff_path);

struct GateReport {
  std::vector<Rejection> rejections;
  std::vector<std::string> notes;  // e.g. "no committed version known: blast radius not evaluated"
  std::vector<ZoneDiff> diffs;
  bool ok() const noexcept { return rejections.empty(); }
};

// Every gate. `committed` is null when the control plane does not know the
// committed content (first push): serial, blast radius and apex are skipped
// with a note. `work_dir` receives the files handed to the validator.
GateReport run_gates(const std::vector<LoadedZone>& next, const std::vector<LoadedZone>* committed,
                     const GateLimits& limits, const GateFlags& flags, const std::string& work_dir);

}  // namespace edgedns::ctl
