// Zone files as the control plane handles them: parsed and checked locally
// (so a bad zone never leaves edgectl), then re-serialised as canonical text
// (one absolute record per line, no $INCLUDE) which is what nodes receive and
// what the version store keeps. Control thread; allocates.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "zones/parser.hh"
#include "zones/zone_data.hh"

namespace edgedns::ctl {

struct LoadedZone {
  std::string file;                            // as given (path or store name)
  zones::ZoneData data;                        // checked; warnings already repaired
  std::vector<zones::Diagnostic> diagnostics;  // parse and check, errors and warnings
  bool parse_failed = false;                   // errors came from the parser
  bool check_failed = false;                   // errors came from the semantic checks
  bool ok() const noexcept { return !parse_failed && !check_failed; }
  std::string apex() const { return data.origin.to_text(); }
};

LoadedZone load_zone(const std::string& path, const std::string& origin = "");
LoadedZone load_zone_text(std::string_view text, const std::string& name,
                          const std::string& origin = "");

// "$ORIGIN apex" then "owner ttl class type rdata" per record (absolute names).
std::string canonical_text(const zones::ZoneData& z);
// One record in the same form, without the newline.
std::string record_text(const zones::ZoneData& z, const zones::Record& r);

std::optional<uint32_t> soa_serial(const zones::ZoneData& z);

// Zone file arguments with each directory replaced by the regular files in
// it, sorted, hidden ones left out (a hosting fleet keeps 100,000 zones in
// one directory, more than a command line holds). Throws
// std::runtime_error naming a path that does not exist or a directory that
// holds no file.
std::vector<std::string> expand_zone_paths(const std::vector<std::string>& paths);

}  // namespace edgedns::ctl
