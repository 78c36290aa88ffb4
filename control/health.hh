// Health gates over node counters, as pure functions: per-version rcode and
// drop/malformed rates of canary lcores against control lcores. A canary is
// "clearly worse" when its rate exceeds the control's by more than
// max(abs, rel * control rate), and only once both sides saw enough queries.
// Any thread; no I/O.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "control/config.hh"
#include "control/node_client.hh"

namespace edgedns::ctl {

struct RateVerdict {
  bool evaluated = false;  // false: too few queries on one side
  std::vector<std::string>
      failures;         // "nxdomain rate 5.0% on canary vs 0.1% on control (limit +1.0%)"
  std::string summary;  // for progress output
};

RateVerdict compare_rates(const Counters& canary, const Counters& control, const HealthPolicy& h);

}  // namespace edgedns::ctl
