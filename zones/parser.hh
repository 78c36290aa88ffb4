// RFC 1035 §5 master-file parser: $ORIGIN, $TTL, $INCLUDE, $GENERATE (BIND
// syntax), parentheses, comments, quoted strings, escapes, TTL units, RFC 3597
// TYPEnnn/CLASSnnn/\#. Output is a ZoneData plus diagnostics naming file:line.
// A zone with any error must not be loaded (callers check has_errors()).
// Control thread only; allocates; reads files.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "zones/zone_data.hh"

namespace edgedns::zones {

struct ParseOptions {
  std::string origin;               // text; empty: taken from the first $ORIGIN or the SOA owner
  uint32_t default_ttl = 3600;      // used when neither $TTL nor a previous TTL applies (warning)
  int max_include_depth = 16;       // $INCLUDE loops are errors, not stack overflows
  size_t max_records = 50'000'000;  // size cap so that a runaway $GENERATE cannot eat the node
  // A main file (or text) at least this large is parsed by two threads, split
  // near its middle; SIZE_MAX: always one. The result, diagnostics included,
  // is the same either way (tests lower it to run the two-thread path).
  size_t parallel_min_bytes = size_t(4) << 20;
};

struct ParseResult {
  ZoneData zone;
  std::vector<Diagnostic> diagnostics;
  // 2 when the main file was parsed by two threads and the second thread's
  // work was used (see ParseOptions::parallel_min_bytes); informative only.
  unsigned threads = 1;
  bool has_errors() const noexcept {
    for (const auto& d : diagnostics)
      if (d.is_error()) return true;
    return false;
  }
};

ParseResult parse_zone_file(const std::string& path, const ParseOptions& opts = {});
// `name` is used as the file name in diagnostics; $INCLUDE is relative to the
// current directory.
ParseResult parse_zone_text(std::string_view text, const std::string& name,
                            const ParseOptions& opts = {});

}  // namespace edgedns::zones
