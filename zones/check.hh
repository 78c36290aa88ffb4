// Semantic zone checks, at least those of kzonecheck / named-checkzone: one SOA
// at the apex, apex NS, CNAME and other data, several CNAMEs, DNAME with names
// below it, out-of-zone data, missing glue, occluded data under a delegation,
// TTLs differing in an RRset (warning, unified), duplicate records (warning,
// dropped), label/name limits. Errors and warnings are told apart.
// Control thread only; allocates.
#pragma once

#include <vector>

#include "zones/zone_data.hh"

namespace edgedns::zones {

struct CheckOptions {
  bool unify_ttls =
      true;  // make each RRset's TTL the first record's (as BIND/Knot do), with a warning
  bool drop_duplicates = true;  // identical records collapse to one, with a warning
};

// Checks `zone` (its origin must be set) and repairs what is only a warning
// (TTL unification, duplicate removal) in place. Appends to `out`.
void check_zone(ZoneData& zone, std::vector<Diagnostic>& out, const CheckOptions& opts = {});

}  // namespace edgedns::zones
