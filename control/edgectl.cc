// edgectl: the EdgeDNS control-plane CLI. Offline zone tools for operators
// and tests (check-zone, dump-zone, query), commands for one node agent
// (node load|status|rollback), the rollout daemon (serve) and its clients
// (push, status, rollout, rollback, history). Errors are caught at the
// command boundary and turned into a message and a non-zero exit.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "control/daemon.hh"
#include "control/dig_print.hh"
#include "control/node_client.hh"
#include "control/node_cmds.hh"
#include "zones/answer.hh"
#include "zones/check.hh"
#include "zones/load.hh"
#include "zones/parser.hh"
#include "zones/rdata.hh"
#include "zones/rrtype.hh"
#include "zones/snapshot.hh"

using namespace edgedns;
using namespace edgedns::zones;

namespace {

void print_diagnostics(const std::vector<Diagnostic>& diags) {
  for (const auto& d : diags) std::cerr << d.to_string() << "\n";
}

// `--origin NAME` applies to every file; otherwise each file names its own.
ParseOptions parse_options(const std::string& origin) {
  ParseOptions o;
  o.origin = origin;
  return o;
}

int cmd_check_zone(const std::string& origin, const std::vector<std::string>& files) {
  int rc = 0;
  for (const auto& f : files) {
    ParseResult pr = parse_zone_file(f, parse_options(origin));
    std::vector<Diagnostic> diags = std::move(pr.diagnostics);
    bool errors = false;
    for (const auto& d : diags) errors |= d.is_error();
    // Semantic checks only make sense on a zone that parsed completely.
    if (!errors) check_zone(pr.zone, diags);
    print_diagnostics(diags);
    size_t nerr = 0, nwarn = 0;
    for (const auto& d : diags) (d.is_error() ? nerr : nwarn)++;
    if (nerr) {
      std::cout << f << ": invalid (" << nerr << " error(s), " << nwarn << " warning(s))\n";
      rc = 1;
    } else {
      std::cout << f << ": zone " << pr.zone.origin.to_text() << " valid, "
                << pr.zone.records.size() << " records (" << nwarn << " warning(s))\n";
    }
  }
  return rc;
}

int cmd_dump_zone(const std::string& origin, bool generic, const std::string& file) {
  ParseResult pr = parse_zone_file(file, parse_options(origin));
  std::vector<Diagnostic> diags = std::move(pr.diagnostics);
  bool errors = false;
  for (const auto& d : diags) errors |= d.is_error();
  if (!errors) {
    check_zone(pr.zone, diags);
    for (const auto& d : diags) errors |= d.is_error();
  }
  if (errors) {
    print_diagnostics(diags);
    return 1;
  }
  std::string line;
  for (const Record& r : pr.zone.records) {
    line.clear();
    name_to_text(pr.zone.owner(r), r.owner_len, line);
    line += ' ';
    line += std::to_string(r.ttl);
    line += ' ';
    line += rrclass_to_text(r.rclass);
    line += ' ';
    line += rrtype_to_text(r.type);
    line += ' ';
    line += generic ? rdata_to_generic(pr.zone.rdata(r), r.rdata_len)
                    : rdata_to_text(r.type, pr.zone.rdata(r), r.rdata_len);
    line += '\n';
    std::fwrite(line.data(), 1, line.size(), stdout);
  }
  return 0;
}

// Builds a query the way dig does (RD clear for an authoritative server, EDNS
// with 1232 unless disabled), answers it with the engine and prints it.
int cmd_query(const std::string& origin, const std::vector<std::string>& zone_files,
              const std::string& qname_text, const std::string& qtype_text, bool no_edns,
              bool dnssec, int bufsize, bool tcp) {
  std::vector<std::shared_ptr<const Zone>> zones;
  for (const auto& f : zone_files) {
    LoadResult lr = load_zone_file(f, parse_options(origin));
    if (!lr.zone) {
      print_diagnostics(lr.diagnostics);
      std::cerr << f << ": not loaded\n";
      return 1;
    }
    zones.push_back(lr.zone);
  }
  auto zs = ZoneSet::build(std::move(zones));
  auto qtype = rrtype_from_text(qtype_text);
  if (!qtype) {
    std::cerr << "unknown query type '" << qtype_text << "'\n";
    return 1;
  }
  Name qname = Name::from_text(qname_text, Name());
  std::vector<uint8_t> q(kHeaderSize);
  wr16(q.data(), 0x2a2a);
  wr16(q.data() + 4, 1);
  q.insert(q.end(), qname.data(), qname.data() + qname.size());
  uint8_t tail[4];
  wr16(tail, *qtype);
  wr16(tail + 2, rrclass::IN);
  q.insert(q.end(), tail, tail + 4);
  if (!no_edns) {
    wr16(q.data() + 10, 1);
    uint8_t opt[11] = {0, 0, 41, 0, 0, 0, 0, 0, 0, 0, 0};
    wr16(opt + 3, uint16_t(bufsize));
    if (dnssec) opt[7] = 0x80;
    q.insert(q.end(), opt, opt + sizeof opt);
  }
  std::vector<uint8_t> out(65535);
  AnswerResult r = answer_query(*zs, q, out, tcp ? Transport::Tcp : Transport::Udp);
  if (r.len == 0) {
    std::cout << ";; no response (query dropped)\n";
    return 1;
  }
  std::cout << ctl::format_response_dig(std::span<const uint8_t>(out.data(), r.len));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"edgectl: EdgeDNS control plane"};
  app.require_subcommand(1);

  std::string origin;
  std::vector<std::string> files;
  auto* check =
      app.add_subcommand("check-zone", "parse and check zone files (exit 0 valid, 1 invalid)");
  check->add_option("--origin", origin, "zone origin (default: $ORIGIN or the SOA owner)");
  check->add_option("files", files, "zone files")->required();

  bool generic = false;
  std::string dump_file;
  auto* dump =
      app.add_subcommand("dump-zone", "print one record per line: owner TTL CLASS TYPE RDATA");
  dump->add_option("--origin", origin, "zone origin");
  dump->add_flag("--generic", generic, "RDATA in RFC 3597 form");
  dump->add_option("file", dump_file, "zone file")->required();

  std::vector<std::string> qzones;
  std::string qname, qtype = "A";
  bool no_edns = false, dnssec = false, tcp = false;
  int bufsize = 1232;
  auto* query =
      app.add_subcommand("query", "answer one query from zone files with the engine, dig-style");
  // One value per --zone, so that NAME and TYPE may follow the last one.
  query->add_option("--zone", qzones, "zone file (repeatable)")
      ->required()
      ->allow_extra_args(false);
  query->add_option("--origin", origin, "origin for every --zone");
  query->add_flag("--no-edns", no_edns, "send the query without OPT");
  query->add_flag("--dnssec", dnssec, "set the DO bit");
  query->add_flag("--tcp", tcp, "answer as over TCP (no truncation)");
  query->add_option("--bufsize", bufsize, "EDNS UDP payload size")->check(CLI::Range(0, 65535));
  query->add_option("name", qname, "query name")->required();
  query->add_option("type", qtype, "query type (default A)");

  std::string node_socket, node_to;
  std::vector<std::string> node_files;
  bool as_json = false;
  auto* node = app.add_subcommand("node", "commands for one node agent (no daemon)");
  proto::TlsFiles node_tls;
  std::string node_server_name;
  node->add_option("--control", node_socket,
                   "the node agent's control socket, or tls://HOST:PORT (its --control-listen)")
      ->required();
  node->add_option("--tls-cert", node_tls.cert, "tls://: our client certificate (PEM)");
  node->add_option("--tls-key", node_tls.key, "tls://: its private key (PEM)");
  node->add_option("--tls-ca", node_tls.ca, "tls://: the CA that signed the node's certificate");
  node->add_option("--server-name", node_server_name,
                   "tls://: the name the node's certificate must carry (default: HOST)");
  node->require_subcommand(1);
  auto* node_load = node->add_subcommand(
      "load",
      "validate, upload, publish to all lcores, commit (0: every lcore serves it, 2: rejected)");
  node_load->add_option("--origin", origin, "origin for every zone file");
  node_load->add_flag("--json", as_json, "machine-readable output");
  node_load->add_option("files", node_files, "zone files")->required();
  auto* node_status =
      node->add_subcommand("status", "versions, lcores, per-version counters, health");
  node_status->add_flag("--json", as_json, "machine-readable output");
  auto* node_rollback =
      node->add_subcommand("rollback", "back to the committed version (or the one before)");
  node_rollback->add_option("--to", node_to, "version to roll back to");
  node_rollback->add_flag("--json", as_json, "machine-readable output");

  std::string fleet, state_dir, daemon_socket = ctl::kDefaultDaemonSocket;
  std::vector<std::string> adopt;
  auto* serve =
      app.add_subcommand("serve", "the control-plane daemon (rollouts, journal, versions)");
  serve->add_option("--fleet", fleet, "fleet file (YAML)")->required();
  serve->add_option("--state-dir", state_dir, "versions and journal")->required();
  serve->add_option("--socket", daemon_socket, "the daemon's unix socket");
  std::string serve_listen;
  serve->add_option("--listen", serve_listen,
                    "ADDR:PORT: also accept operators over mutual TLS (the fleet file's tls: "
                    "certificate and access: names)");
  serve->add_option("--adopt", adopt, "zone files the fleet serves now (first start; repeatable)")
      ->allow_extra_args(false);

  // --socket PATH or --server tls://HOST:PORT with the CLI's certificate:
  // the same options on every command that talks to the daemon.
  std::string daemon_server, daemon_server_name;
  proto::TlsFiles daemon_tls;
  auto server_opts = [&](CLI::App* sub) {
    sub->add_option("--socket", daemon_socket, "the daemon's unix socket");
    sub->add_option("--server", daemon_server,
                    "tls://HOST:PORT of the daemon (edgectl serve --listen) instead of --socket");
    sub->add_option("--tls-cert", daemon_tls.cert, "--server: our client certificate (PEM)");
    sub->add_option("--tls-key", daemon_tls.key, "--server: its private key (PEM)");
    sub->add_option("--tls-ca", daemon_tls.ca, "--server: the CA that signed the daemon's");
    sub->add_option("--server-name", daemon_server_name,
                    "--server: the name the daemon's certificate must carry (default: HOST)");
  };

  ctl::PushOptions push_opt;
  double bake = -1;
  std::vector<std::string> push_files;
  auto* push = app.add_subcommand(
      "push", "validate and roll out zones (0 committed, 2 rejected, 3 rolled back, 1 error)");
  auto* remove_zone = app.add_subcommand(
      "remove-zone",
      "take zones out of the fleet through the same gates and stages (exit codes as push)");
  for (auto* sub : {push, remove_zone}) {
    server_opts(sub);
    sub->add_option("--policy", push_opt.policy, "rollout policy (YAML)");
    sub->add_option("--probes", push_opt.probes, "probes file: NAME TYPE RCODE [RDATA] per line");
    sub->add_option("--bake", bake, "bake seconds for every stage");
    sub->add_flag("--wait", push_opt.wait, "follow the rollout until it ends");
    sub->add_flag("--json", push_opt.json, "machine-readable output (one JSON object per line)");
    sub->add_flag("--full-upload", push_opt.full_upload,
                  "send every node the whole zone set even where a delta would do");
  }
  push->add_option("--origin", push_opt.origin, "origin for every zone file");
  push->add_flag("--force-serial", push_opt.force_serial, "allow a serial that does not increase");
  push->add_flag("--allow-apex-change", push_opt.allow_apex_change,
                 "allow apex NS/SOA/DNSKEY/DS changes");
  push->add_flag("--zone", push_opt.zone_only,
                 "change only the zones of these files; keep every other committed zone");
  push->add_option("files", push_files, "zone files, or directories of zone files")->required();
  remove_zone->add_option("names", push_opt.remove, "zone names (apexes)")->required();

  auto* status =
      app.add_subcommand("status", "the fleet's committed version, the rollout, every node");
  server_opts(status);
  status->add_flag("--json", as_json, "machine-readable output");

  std::string action;
  auto* rollout = app.add_subcommand("rollout", "watch|pause|resume|abort the rollout in progress");
  rollout->add_option("action", action, "watch, pause, resume or abort")
      ->required()
      ->check(CLI::IsMember({"watch", "pause", "resume", "abort"}));
  server_opts(rollout);
  rollout->add_flag("--json", as_json, "machine-readable output");

  std::string rb_version;
  bool rb_wait = false;
  auto* rollback = app.add_subcommand(
      "rollback", "abort the rollout, or go back to VERSION (default: the previous committed)");
  rollback->add_option("version", rb_version, "version id");
  server_opts(rollback);
  rollback->add_flag("--wait", rb_wait, "wait until every node is back");
  rollback->add_flag("--json", as_json, "machine-readable output");

  auto* history = app.add_subcommand("history", "past rollouts and rejected pushes");
  server_opts(history);
  history->add_flag("--json", as_json, "machine-readable output");

  auto* fleet_cmd = app.add_subcommand("fleet", "the fleet file edgectl serve runs with");
  auto* fleet_reload =
      fleet_cmd->add_subcommand("reload", "read the fleet file again: add and remove nodes")
          ->require_subcommand(0);
  fleet_cmd->require_subcommand(1);
  server_opts(fleet_reload);
  fleet_reload->add_flag("--json", as_json, "machine-readable output");

  CLI11_PARSE(app, argc, argv);
  try {
    if (*check) return cmd_check_zone(origin, files);
    if (*dump) return cmd_dump_zone(origin, generic, dump_file);
    if (*query) return cmd_query(origin, qzones, qname, qtype, no_edns, dnssec, bufsize, tcp);
    if (*node) {
      auto addr = ctl::node_address(node_socket, node_tls, node_server_name);
      if (*node_load) return ctl::node_load(addr, node_files, origin, as_json);
      if (*node_status) return ctl::node_status(addr, as_json);
      if (*node_rollback) return ctl::node_rollback(addr, node_to, as_json);
    }
    if (*serve) return ctl::serve_main(fleet, state_dir, daemon_socket, adopt, serve_listen);
    if (*push || *remove_zone || *status || *rollout || *rollback || *history || *fleet_reload) {
      if (!daemon_server.empty() && daemon_server.rfind("tls://", 0) != 0)
        throw std::runtime_error("--server " + daemon_server + ": expected tls://HOST:PORT");
      auto server = ctl::node_address(daemon_server.empty() ? daemon_socket : daemon_server,
                                      daemon_tls, daemon_server_name);
      if (*push || *remove_zone) {
        if (bake >= 0) push_opt.bake = bake;
        push_opt.server = server;
        return ctl::cli_push(push_opt, push_files);
      }
      if (*status) return ctl::cli_status(server, as_json);
      if (*rollout) return ctl::cli_rollout(server, action, as_json);
      if (*rollback) return ctl::cli_rollback(server, rb_version, rb_wait, as_json);
      if (*history) return ctl::cli_history(server, as_json);
      if (*fleet_reload) return ctl::cli_fleet_reload(server, as_json);
    }
  } catch (const std::exception& e) {
    std::cerr << "edgectl: " << e.what() << "\n";
    return 1;
  }
  return 1;
}
