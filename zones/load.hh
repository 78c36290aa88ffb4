// Loading a zone file: parse + check + compile in one call, for the tools,
// the daemons and the tests that start from a file. Control thread, may
// block (reads the file), allocates.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "zones/check.hh"
#include "zones/parser.hh"
#include "zones/snapshot.hh"

namespace edgedns::zones {

// `zone` is null when any error was found; every diagnostic (errors and
// warnings) is returned either way.
struct LoadResult {
  std::shared_ptr<const Zone> zone;
  std::vector<Diagnostic> diagnostics;
};
LoadResult load_zone_file(const std::string& path, const ParseOptions& opts = {},
                          const CheckOptions& check = {});

}  // namespace edgedns::zones
