// Compiled zones back to zone-file text: one record per line, absolute lower-
// cased owners, explicit TTL and class, RDATA via rdata_to_text, no $ORIGIN or
// $TTL, canonical order. parse(zone_text(z)) compiles to the same version id;
// used for last-known-good files (lkg.hh) and uploads.
//
// A zone set's text is its zones' texts, each introduced by a line
// "; zone <apex>" (a comment to any other reader), so that one file holds a
// whole set and load_zoneset_text splits it again. Control thread; allocates.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "zones/check.hh"
#include "zones/snapshot.hh"

namespace edgedns::zones {

// Appends the zone's records to `out`.
void zone_text(const Zone& z, std::string& out);
std::string zone_text(const Zone& z);
// "; zone <apex>\n" + zone_text, for each zone in canonical apex order.
std::string zoneset_text(const ZoneSet& zs);

// Parse + check + compile a zoneset_text (or any text made of "; zone APEX"
// sections). `zones` is null when any error was found (diagnostics name
// `name` and the line inside the whole text); warnings are returned either way.
struct ZoneSetLoad {
  std::shared_ptr<const ZoneSet> zones;
  std::vector<Diagnostic> diagnostics;
  size_t records = 0;
};
ZoneSetLoad load_zoneset_text(std::string_view text, const std::string& name,
                              const CheckOptions& check = {});

}  // namespace edgedns::zones
