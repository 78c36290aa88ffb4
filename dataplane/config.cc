#include "dataplane/config.hh"

#include <arpa/inet.h>

#include <yaml-cpp/yaml.h>
#include <CLI/CLI.hpp>
#include <cstring>

namespace edgedns::dp {

namespace {

constexpr const char* kDescription =
    "edgedns: authoritative DNS responder on DPDK ports (one RX+TX queue per worker lcore).\n"
    "Usage: edgedns [EAL options] -- [options]\n"
    "  e.g. edgedns -l 1 --vdev=net_af_xdp0,iface=eth1 -- --listen 192.0.2.53 --zone example.zone";

constexpr const char* kFooter =
    "Notes:\n"
    "  --control opens the node agent's unix socket (uploads, deltas, canary publication,\n"
    "  commits; edgectl node/serve use it); --control-listen opens it over TCP with mutual\n"
    "  TLS (TLS 1.3; clients need a certificate of --tls-ca, and one of the --control-allow\n"
    "  names when given) for an edgectl serve on another host. --state-dir keeps committed "
    "versions as\n"
    "  last-known-good files. At start-up the newest good one is served; the --zone set\n"
    "  only when there is none (the bootstrap; it is then written as the first), or with\n"
    "  --force-zone (it replaces what the control plane committed: for one start, e.g.\n"
    "  after editing the zone files on purpose; do not leave it in a unit file).\n"
    "  With one lcore (-l N) the worker loop runs on it and housekeeping in an ordinary\n"
    "  thread; with more, the main lcore does housekeeping.\n"
    "  Signals: SIGUSR1 prints per-lcore counters to stdout; SIGINT/SIGTERM stop cleanly.";

struct CliValues {
  std::vector<std::string> listen, zones;
  std::string control, state_dir, config_file;
  std::string control_listen, tls_cert, tls_key, tls_ca;
  std::vector<std::string> control_allow;
  bool idle_sleep = false, force_zone = false;
  unsigned idle_max = 0;
  bool no_exception = false, no_tcp = false;
  std::string exception_iface;
  uint64_t exception_rate = 0;
  unsigned tcp_workers = 0, tcp_max_conns = 0, tcp_max_per_client = 0, tcp_idle_ms = 0,
           tcp_max_queries = 0;
  uint32_t rrl_rate = 0, rrl_slip = 0;
  std::string nsid;
};

void build_app(CLI::App& app, CliValues& v) {
  app.description(kDescription);
  app.footer(kFooter);
  app.add_option("--listen", v.listen,
                 "service address to answer for (IPv4 or IPv6); repeatable")
      ->allow_extra_args(false);  // one value per --listen, as in every other DNS server CLI
  app.add_option("--zone", v.zones, "zone file, or NAME=FILE to give the origin; repeatable")
      ->allow_extra_args(false);
  app.add_option("--control", v.control, "unix socket of the node agent (see notes)");
  app.add_option("--control-listen", v.control_listen,
                 "ADDR:PORT ([IPv6]:PORT) of the node agent over TCP with mutual TLS (see notes)");
  app.add_option("--tls-cert", v.tls_cert, "this node's certificate (PEM) for --control-listen");
  app.add_option("--tls-key", v.tls_key, "its private key (PEM)");
  app.add_option("--tls-ca", v.tls_ca, "CA (PEM) that must have signed every client's certificate");
  app.add_option("--control-allow", v.control_allow,
                 "client certificate name (SAN DNS or CN) allowed on --control-listen; repeatable "
                 "(default: any the CA signed)")
      ->allow_extra_args(false);
  app.add_option("--state-dir", v.state_dir, "directory of last-known-good versions (see notes)");
  app.add_flag("--force-zone", v.force_zone,
               "serve the --zone files even when --state-dir holds a good last-known-good, and "
               "write them as the newest (see notes)");
  app.add_flag(
      "--idle-sleep", v.idle_sleep,
      "sleep with growing pauses (1us doubling up to --idle-sleep-max-us) while RX is empty");
  app.add_option("--idle-sleep-max-us", v.idle_max, "ceiling of the idle backoff (default 1000)")
      ->check(CLI::Range(1u, 1000000u));
  app.add_flag("--no-exception-path", v.no_exception,
               "do not hand non-DNS traffic to the kernel (no tap; such frames are dropped)");
  app.add_option("--exception-iface", v.exception_iface,
                 "name prefix of the exception taps, + port index (default dnsx: dnsx0, ...)")
      ->check([](const std::string& s) {
        return s.empty() || s.size() > 12 ? std::string("1 to 12 characters") : std::string();
      });
  app.add_option("--exception-rate", v.exception_rate,
                 "frames per second one lcore may hand to the kernel (default 0: no limit)");
  app.add_flag("--no-tcp", v.no_tcp, "do not serve DNS over TCP");
  app.add_option("--tcp-workers", v.tcp_workers, "TCP server threads (default 2)")
      ->check(CLI::Range(1u, 64u));
  app.add_option("--tcp-max-connections", v.tcp_max_conns,
                 "open TCP connections at most, all clients (default 1024)")
      ->check(CLI::Range(1u, 1000000u));
  app.add_option("--tcp-max-per-client", v.tcp_max_per_client,
                 "open TCP connections per client address at most (default 64)")
      ->check(CLI::Range(1u, 1000000u));
  app.add_option("--tcp-idle-timeout-ms", v.tcp_idle_ms,
                 "close a TCP connection quiet this long (default 10000)")
      ->check(CLI::Range(1u, 3600000u));
  app.add_option("--tcp-max-queries", v.tcp_max_queries,
                 "close a TCP connection after this many queries (default 0: no limit)");
  app.add_option("--rrl-rate", v.rrl_rate,
                 "response rate limiting: UDP responses per second per client prefix (/24, /56) "
                 "and response class, on each worker lcore (default 0: off)");
  app.add_option("--rrl-slip", v.rrl_slip,
                 "every Nth rate-limited response is sent truncated (TC=1) so that real clients "
                 "retry over TCP; 0: drop them all (default 2)")
      ->check(CLI::Range(0u, 100u));
  app.add_option("--nsid", v.nsid,
                 "node identifier in NSID answers (RFC 5001): queries asking for it get "
                 "'<ID> lcore=<LCORE> v=<VERSION>'; default: the hostname, '' for none")
      ->check([](const std::string& s) { return node_id_problem(s); });
  app.add_option("--config", v.config_file, "YAML file with the same keys; the command line wins")
      ->check(CLI::ExistingFile);
}

std::vector<std::string> yaml_strings(const YAML::Node& n, const char* key) {
  std::vector<std::string> out;
  if (!n) return out;
  if (n.IsScalar()) {
    out.push_back(n.as<std::string>());
  } else if (n.IsSequence()) {
    for (const auto& e : n) out.push_back(e.as<std::string>());
  } else {
    throw ConfigError(std::string("key '") + key + "' must be a string or a list of strings");
  }
  return out;
}

}  // namespace

void check_control_tls(const Config& c) {
  const bool any_file = !c.tls_cert.empty() || !c.tls_key.empty() || !c.tls_ca.empty();
  if (c.control_listen.empty()) {
    if (any_file || !c.control_allow.empty())
      throw ConfigError("--tls-cert/--tls-key/--tls-ca/--control-allow need --control-listen");
    return;
  }
  if (c.tls_cert.empty() || c.tls_key.empty() || c.tls_ca.empty())
    throw ConfigError("--control-listen " + c.control_listen +
                      " needs --tls-cert, --tls-key and --tls-ca (the control port is TLS only)");
}

std::string node_id_problem(const std::string& id) {
  if (id.size() > kMaxNodeId) return "at most " + std::to_string(kMaxNodeId) + " characters";
  for (unsigned char ch : id)
    if (ch <= 0x20 || ch >= 0x7f) return "printable ASCII without spaces only";
  return "";
}

std::string help_text() {
  CLI::App app{"", "edgedns [EAL options] --"};
  CliValues v;
  build_app(app, v);
  return app.help();
}

ZoneArg parse_zone_arg(const std::string& s) {
  ZoneArg z;
  auto eq = s.find('=');
  if (eq == std::string::npos) {
    z.path = s;
  } else {
    z.origin = s.substr(0, eq);
    z.path = s.substr(eq + 1);
  }
  if (z.path.empty()) throw ConfigError("--zone '" + s + "': no file name");
  return z;
}

Config load_yaml_config(const std::string& path) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::Exception& e) {
    throw ConfigError(path + ": " + e.what());
  }
  if (!root.IsMap()) throw ConfigError(path + ": top level must be a mapping");
  static const char* const kKeys[] = {"listen",
                                      "zone",
                                      "zones",
                                      "control",
                                      "control-listen",
                                      "tls-cert",
                                      "tls-key",
                                      "tls-ca",
                                      "control-allow",
                                      "state-dir",
                                      "force-zone",
                                      "idle-sleep",
                                      "idle-sleep-max-us",
                                      "exception-path",
                                      "exception-iface",
                                      "exception-rate",
                                      "tcp",
                                      "tcp-workers",
                                      "tcp-max-connections",
                                      "tcp-max-per-client",
                                      "tcp-idle-timeout-ms",
                                      "tcp-max-queries",
                                      "rrl-rate",
                                      "rrl-slip",
                                      "nsid"};
  Config c;
  try {
    for (const auto& kvp : root) {
      auto key = kvp.first.as<std::string>();
      bool known = false;
      for (const char* k : kKeys) known |= key == k;
      if (!known) throw ConfigError("unknown key '" + key + "'");
    }
    c.listen = yaml_strings(root["listen"], "listen");
    for (const auto& key : {"zone", "zones"})
      for (const auto& z : yaml_strings(root[key], key)) c.zones.push_back(parse_zone_arg(z));
    if (root["control"]) c.control = root["control"].as<std::string>();
    if (root["control-listen"]) c.control_listen = root["control-listen"].as<std::string>();
    if (root["tls-cert"]) c.tls_cert = root["tls-cert"].as<std::string>();
    if (root["tls-key"]) c.tls_key = root["tls-key"].as<std::string>();
    if (root["tls-ca"]) c.tls_ca = root["tls-ca"].as<std::string>();
    c.control_allow = yaml_strings(root["control-allow"], "control-allow");
    if (root["state-dir"]) c.state_dir = root["state-dir"].as<std::string>();
    if (root["force-zone"]) c.force_zone = root["force-zone"].as<bool>();
    if (root["idle-sleep"]) c.idle_sleep = root["idle-sleep"].as<bool>();
    if (root["idle-sleep-max-us"]) c.idle_sleep_max_us = root["idle-sleep-max-us"].as<unsigned>();
    if (root["exception-path"]) c.exception_path = root["exception-path"].as<bool>();
    if (root["exception-iface"]) c.exception_iface = root["exception-iface"].as<std::string>();
    if (root["exception-rate"]) c.exception_rate = root["exception-rate"].as<uint64_t>();
    if (root["tcp"]) c.tcp = root["tcp"].as<bool>();
    if (root["tcp-workers"]) c.tcp_workers = root["tcp-workers"].as<unsigned>();
    if (root["tcp-max-connections"])
      c.tcp_max_connections = root["tcp-max-connections"].as<unsigned>();
    if (root["tcp-max-per-client"])
      c.tcp_max_per_client = root["tcp-max-per-client"].as<unsigned>();
    if (root["tcp-idle-timeout-ms"])
      c.tcp_idle_timeout_ms = root["tcp-idle-timeout-ms"].as<unsigned>();
    if (root["tcp-max-queries"]) c.tcp_max_queries = root["tcp-max-queries"].as<unsigned>();
    if (root["rrl-rate"]) c.rrl_rate = root["rrl-rate"].as<uint32_t>();
    if (root["rrl-slip"]) c.rrl_slip = root["rrl-slip"].as<uint32_t>();
    if (root["nsid"]) {
      c.nsid = root["nsid"].IsNull() ? std::string() : root["nsid"].as<std::string>();
      if (std::string why = node_id_problem(*c.nsid); !why.empty())
        throw ConfigError("nsid '" + *c.nsid + "': " + why);
    }
    if (c.rrl_slip > 100) throw ConfigError("rrl-slip: 0 to 100");
    if (c.exception_iface.empty() || c.exception_iface.size() > 12)
      throw ConfigError("exception-iface: 1 to 12 characters");
    if (c.tcp_workers == 0 || c.tcp_max_connections == 0 || c.tcp_max_per_client == 0 ||
        c.tcp_idle_timeout_ms == 0)
      throw ConfigError(
          "tcp-workers, tcp-max-connections, tcp-max-per-client and "
          "tcp-idle-timeout-ms must be at least 1");
  } catch (const YAML::Exception& e) {
    throw ConfigError(path + ": " + e.what());
  } catch (const ConfigError& e) {
    throw ConfigError(path + ": " + e.what());
  }
  c.config_file = path;
  return c;
}

ParsedArgs parse_args(int argc, const char* const* argv) {
  CLI::App app{"", "edgedns [EAL options] --"};
  CliValues v;
  build_app(app, v);
  ParsedArgs out;
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    out.help = true;
    out.help_text = app.help();
    return out;
  } catch (const CLI::ParseError& e) {
    throw ConfigError(e.what());
  }
  Config c;
  if (!v.config_file.empty()) c = load_yaml_config(v.config_file);
  // The command line wins: a list given on it replaces the file's list.
  if (!v.listen.empty()) c.listen = v.listen;
  if (!v.zones.empty()) {
    c.zones.clear();
    for (const auto& z : v.zones) c.zones.push_back(parse_zone_arg(z));
  }
  if (app.count("--control")) c.control = v.control;
  if (app.count("--control-listen")) c.control_listen = v.control_listen;
  if (app.count("--tls-cert")) c.tls_cert = v.tls_cert;
  if (app.count("--tls-key")) c.tls_key = v.tls_key;
  if (app.count("--tls-ca")) c.tls_ca = v.tls_ca;
  if (!v.control_allow.empty()) c.control_allow = v.control_allow;
  if (app.count("--state-dir")) c.state_dir = v.state_dir;
  if (app.count("--force-zone")) c.force_zone = v.force_zone;
  if (app.count("--idle-sleep")) c.idle_sleep = v.idle_sleep;
  if (app.count("--idle-sleep-max-us")) c.idle_sleep_max_us = v.idle_max;
  if (v.no_exception) c.exception_path = false;
  if (app.count("--exception-iface")) c.exception_iface = v.exception_iface;
  if (app.count("--exception-rate")) c.exception_rate = v.exception_rate;
  if (v.no_tcp) c.tcp = false;
  if (app.count("--tcp-workers")) c.tcp_workers = v.tcp_workers;
  if (app.count("--tcp-max-connections")) c.tcp_max_connections = v.tcp_max_conns;
  if (app.count("--tcp-max-per-client")) c.tcp_max_per_client = v.tcp_max_per_client;
  if (app.count("--tcp-idle-timeout-ms")) c.tcp_idle_timeout_ms = v.tcp_idle_ms;
  if (app.count("--tcp-max-queries")) c.tcp_max_queries = v.tcp_max_queries;
  if (app.count("--rrl-rate")) c.rrl_rate = v.rrl_rate;
  if (app.count("--rrl-slip")) c.rrl_slip = v.rrl_slip;
  if (c.force_zone && c.zones.empty())
    throw ConfigError("--force-zone needs zone files (--zone, or zone: in --config): none given");
  if (app.count("--nsid")) c.nsid = v.nsid;
  check_control_tls(c);
  out.cfg = std::move(c);
  return out;
}

NodeAddrs addrs_from_listen(const std::vector<std::string>& listen) {
  NodeAddrs a;
  for (const auto& s : listen) {
    uint8_t buf[16];
    if (inet_pton(AF_INET, s.c_str(), buf) == 1) {
      if (a.has_v4(buf)) continue;
      if (a.n4 == NodeAddrs::kMax) throw ConfigError("--listen: more than 16 IPv4 addresses");
      std::memcpy(&a.v4[a.n4++], buf, 4);
    } else if (inet_pton(AF_INET6, s.c_str(), buf) == 1) {
      if (a.has_v6(buf)) continue;
      if (a.n6 == NodeAddrs::kMax) throw ConfigError("--listen: more than 16 IPv6 addresses");
      std::memcpy(a.v6[a.n6++].data(), buf, 16);
    } else {
      throw ConfigError("--listen '" + s + "': not an IPv4 or IPv6 address");
    }
  }
  return a;
}

}  // namespace edgedns::dp
