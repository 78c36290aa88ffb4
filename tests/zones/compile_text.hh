// Zone text -> compiled Zone for the zones tests, failing the current test
// on any parse or check error.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "zones/check.hh"
#include "zones/parser.hh"
#include "zones/snapshot.hh"

namespace edgedns::zones::test {

inline std::shared_ptr<const Zone> compile_text(const std::string& text,
                                                const std::string& file = "t") {
  ParseResult pr = parse_zone_text(text, file);
  EXPECT_FALSE(pr.has_errors());
  std::vector<Diagnostic> diags;
  check_zone(pr.zone, diags);
  for (const auto& d : diags) EXPECT_FALSE(d.is_error()) << d.to_string();
  return compile_zone(std::move(pr.zone));
}

}  // namespace edgedns::zones::test
