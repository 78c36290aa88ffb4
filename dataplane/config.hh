// edgedns start-up configuration: the application options after the EAL's
// `--`, optionally from a YAML file (same keys; the command line wins).
// Control thread at start-up only; allocates; throws ConfigError with a
// message naming the option, file or address at fault.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "dataplane/packet.hh"

namespace edgedns::dp {

struct ConfigError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct ZoneArg {
  std::string origin;  // empty: from $ORIGIN or the SOA owner
  std::string path;
};

struct Config {
  std::vector<std::string> listen;  // service addresses, IPv4 and IPv6 text
  std::vector<ZoneArg> zones;
  std::string control;  // the agent's unix socket (dataplane/agent.hh); empty: none
  // The agent over TCP with mutual TLS (proto/tls.hh): ADDR:PORT, our
  // certificate, key and the CA clients must be signed by; allowed client
  // names (empty: any the CA signed). Empty control_listen: none.
  std::string control_listen, tls_cert, tls_key, tls_ca;
  std::vector<std::string> control_allow;
  std::string state_dir;    // last-known-good versions (dataplane/lkg_store.hh)
  bool force_zone = false;  // serve the --zone set even over a good last-known-good
  bool idle_sleep = false;
  unsigned idle_sleep_max_us = 1000;  // backoff ceiling: 1 ms keeps a burst's wait below a timeout
  std::string config_file;
  // Kernel exception path (dataplane/exception.hh) and DNS over TCP
  // (dataplane/tcp_server.hh); defaults there.
  bool exception_path = true;
  std::string exception_iface = "dnsx";  // tap name prefix, + port index
  uint64_t exception_rate = 0;           // per-lcore frames/s to the kernel, 0 = unlimited
  bool tcp = true;
  unsigned tcp_workers = 2;
  unsigned tcp_max_connections = 1024;
  unsigned tcp_max_per_client = 64;
  unsigned tcp_idle_timeout_ms = 10000;
  unsigned tcp_max_queries = 0;
  // Response rate limiting (dataplane/rrl.hh): responses/s per prefix and
  // class on each lcore, 0 = off; every rrl_slip-th limited one is sent truncated.
  uint32_t rrl_rate = 0;
  uint32_t rrl_slip = 2;
  // Node identifier for NSID (RFC 5001) answers; unset: the hostname, "":
  // no NSID. Each answer names it, the lcore and the version it came from.
  std::optional<std::string> nsid;
};

// --control-listen comes with all three TLS files; the files and
// --control-allow only with it. Throws ConfigError.
void check_control_tls(const Config& c);

constexpr size_t kMaxNodeId = 64;
// Why `id` cannot be the NSID node identifier ("" when it can): 1 to
// kMaxNodeId printable ASCII characters without spaces (probes split the
// NSID text at spaces), or empty for none.
std::string node_id_problem(const std::string& id);

struct ParsedArgs {
  Config cfg;
  bool help = false;
  std::string help_text;
};

// argv[0] is the program name, the rest are application options (after `--`).
ParsedArgs parse_args(int argc, const char* const* argv);

// The YAML keys: listen (string or list), zone (string or list; NAME=FILE
// allowed), control, state-dir, force-zone (bool), idle-sleep (bool), idle-sleep-max-us,
// exception-path (bool), exception-iface, exception-rate, tcp (bool),
// tcp-workers, tcp-max-connections, tcp-max-per-client, tcp-idle-timeout-ms,
// tcp-max-queries, rrl-rate, rrl-slip, nsid.
Config load_yaml_config(const std::string& path);

// "NAME=FILE" or "FILE".
ZoneArg parse_zone_arg(const std::string& s);

// Parses the --listen addresses into the classifier's address table (MAC left
// zero; the port fills it in).
NodeAddrs addrs_from_listen(const std::vector<std::string>& listen);

std::string help_text();

}  // namespace edgedns::dp
