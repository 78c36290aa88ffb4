// Probe queries for the health gates: the operator's probes file (one
// `NAME TYPE RCODE [RDATA]` per line; lines with the same NAME and TYPE make
// one expected RDATA set) and automatic probes for names a change did not
// touch (expected: the previous version's answer, computed offline with the
// answer engine). Sent over UDP to a node's probe address with EDNS and the
// NSID option; a truncated answer is asked again over TCP, as a resolver
// would, so expectations are full answers. The node's NSID names the lcore
// and version that answered (dataplane: "<node> lcore=<id> v=<12 hex>"),
// which run_probe uses to reach every canary lcore of a stage and to hold
// each answer to the version its lcore should serve. Control thread; blocks
// up to the timeout per query.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "control/zone_input.hh"

namespace edgedns::ctl {

// An expected answer: the rcode and, when check_rdata, the exact set of
// answer RDATA of the query type (wire, names uncompressed).
struct ProbeAnswer {
  uint8_t rcode = 0;
  bool check_rdata = false;
  std::set<std::string> rdatas;
};

struct Probe {
  std::string name;  // presentation, absolute
  uint16_t type = 1;
  // What the version being rolled out must answer (for an automatic probe:
  // what the previous version answers, the name being untouched).
  uint8_t rcode = 0;
  bool check_rdata = false;      // false: only the rcode is checked
  std::set<std::string> rdatas;  // expected answer RDATA (wire, names uncompressed)
  std::string origin;            // "file:line" or "auto"
  // What lcores still on the previous version (a stage's control lcores)
  // must answer: set by auto_probes and expect_previous; unset, such answers
  // are checked for their version only.
  std::optional<ProbeAnswer> previous;
  std::string describe() const;  // "www.example.com. A"
};

// Throws ConfigError naming file:line.
std::vector<Probe> parse_probes(const std::string& text, const std::string& file);

// Probes for up to `n` of `names` (taken from untouched owners), each expecting
// exactly what `previous` answers now.
std::vector<Probe> auto_probes(const std::vector<LoadedZone>& previous,
                               const std::vector<std::string>& names, size_t n);

// Sets each probe's `previous` expectation to what `previous` answers (full
// answers, as over TCP). Probes that already have one keep it.
void expect_previous(std::vector<Probe>& probes, const std::vector<LoadedZone>& previous);

// What an edgedns NSID says: "<node> lcore=<id> v=<12 hex>", or for TCP
// answers "<node> tcp lcore=<id> v=<12 hex>" (the lcore whose version TCP
// serves). Other tokens are ignored.
struct Nsid {
  std::string node;
  int lcore = -1;
  std::string version;  // the first 12 hex digits of the version id
  bool tcp = false;
};
// nullopt when the text is not in that form (another server's NSID).
std::optional<Nsid> parse_nsid(std::string_view text);

struct ProbeResult {
  bool answered = false;
  uint8_t rcode = 0;
  std::set<std::string> rdatas;          // answer RRs of the query type
  std::string error;                     // when not answered
  bool truncated = false;                // the UDP answer had TC: the above is the TCP retry's
  std::optional<std::string> nsid_text;  // the UDP answer's NSID payload
  std::optional<Nsid> nsid;              // ... when it is edgedns's
  std::optional<Nsid> tcp_nsid;          // the TCP retry's
};

// "IP", "IP:PORT" or "[IPv6]:PORT"; port 53 by default. One query from a new
// socket (a new source port); on TC=1 the same question over TCP, each within
// the timeout.
ProbeResult send_probe(const std::string& address, const Probe& p, double timeout_s);
// Empty when the result meets the expectation, else what differs.
std::string check_probe(const Probe& p, const ProbeResult& r);
std::string check_probe(const Probe& p, const ProbeAnswer& want, const ProbeResult& r);

// What a stage expects of one node it targets when probing it.
struct ProbeScope {
  std::string node;               // fleet name, for messages
  std::string version, previous;  // full ids: what canary and control lcores serve
  std::vector<int> canary;        // lcores on `version`; empty: every lcore of the node
  int repeats = 4;                // answers needed: from each canary lcore, or in all
  int min_attempts = 64;
};

// Queries one probe may send to a node: min_attempts, or more when more
// lcores are known (seen answering, or canaries), so that reaching each
// canary lcore `repeats` times through RSS fails by bad luck with odds
// of about 1e-9 (4 * repeats + 16 answers expected from each lcore).
int probe_attempt_bound(const ProbeScope& s, size_t lcores_known);

struct ProbeRun {
  std::string failure;          // empty: every answer met its expectation and the scope was covered
  size_t ok = 0;                // answers that met their expectation
  int attempts = 0;             // queries sent
  bool identified = true;       // every answer carried an edgedns NSID
  std::map<int, int> by_lcore;  // answers per lcore (identified ones)
};

// Sends `p` through `send` (each call one query from a new source port)
// until the scope is covered, failing at the first answer that does not
// meet its expectation:
// - with NSID, each answer (and its TCP retry) must come from the version
//   its lcore should serve (`version` on canaries, else `previous`), and is
//   checked against that version's expectation; a stage with canary lcores
//   is covered once each has answered `repeats` times (a failure naming the
//   lcore when probe_attempt_bound() queries do not get there), any other
//   once `repeats` answers came;
// - answers without an edgedns NSID (an older node) are checked as before
//   NSID: against the new version's expectation, `repeats` of them.
// Pure but for `send`.
ProbeRun run_probe(const Probe& p, const ProbeScope& s, const std::function<ProbeResult()>& send);

// The runs of one interval's probes to one node, for the verdict line.
struct ProbeTally {
  bool identified = true;
  std::map<int, int> by_lcore;
  void add(const ProbeRun& r);
  // "edge-1: canary lcore 1 answered 8, other lcores 30", "edge-2: 2 lcores
  // answered", or that its answers carry no NSID (lcores not identified).
  std::string note(const ProbeScope& s) const;
};

std::string rcode_name(uint8_t rc);

}  // namespace edgedns::ctl
