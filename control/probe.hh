// Probe queries for the health gates: the operator's probes file (one
// `NAME TYPE RCODE [RDATA]` per line; lines with the same NAME and TYPE make
// one expected RDATA set) and automatic probes for names a change did not
// touch (expected: the previous version's answer, computed offline with the
// answer engine). Sent over UDP to a node's probe address. Control thread;
// blocks up to the timeout per query.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "control/zone_input.hh"

namespace edgedns::ctl {

struct Probe {
  std::string name;  // presentation, absolute
  uint16_t type = 1;
  uint8_t rcode = 0;
  bool check_rdata = false;      // false: only the rcode is checked
  std::set<std::string> rdatas;  // expected answer RDATA (wire, names uncompressed)
  std::string origin;            // "file:line" or "auto"
  std::string describe() const;  // "www.example.com. A"
};

// Throws ConfigError naming file:line.
std::vector<Probe> parse_probes(const std::string& text, const std::string& file);

// Probes for up to `n` of `names` (taken from untouched owners), each expecting
// exactly what `previous` answers now.
std::vector<Probe> auto_probes(const std::vector<LoadedZone>& previous,
                               const std::vector<std::string>& names, size_t n);

struct ProbeResult {
  bool answered = false;
  uint8_t rcode = 0;
  std::set<std::string> rdatas;  // answer RRs of the query type
  std::string error;             // when not answered
};

// "IP", "IP:PORT" or "[IPv6]:PORT"; port 53 by default.
ProbeResult send_probe(const std::string& address, const Probe& p, double timeout_s);
// Empty when the result meets the expectation, else what differs.
std::string check_probe(const Probe& p, const ProbeResult& r);

std::string rcode_name(uint8_t rc);

}  // namespace edgedns::ctl
