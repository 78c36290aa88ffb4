// Fleet and policy files: good files, the built-in default, and errors that
// name the file, the line and the field.
#include "control/config.hh"

#include <gtest/gtest.h>

using namespace edgedns::ctl;

namespace {
std::string error_of(auto&& fn) {
  try {
    fn();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no error)";
}
}  // namespace

TEST(Fleet, ParsesAndOrdersByWave) {
  Fleet f = parse_fleet(R"(nodes:
  - name: edge-2
    control: /run/e2.sock
    probe: 198.18.2.2
    wave: 2
  - name: edge-1
    control: /run/e1.sock
    probe: 127.0.0.1:5353
    wave: 1
  - name: edge-3
    control: /run/e3.sock
    probe: "[::1]:53"
)",
                        "fleet.yaml");
  ASSERT_EQ(f.nodes.size(), 3u);
  EXPECT_EQ(f.nodes[0].name, "edge-1");
  EXPECT_EQ(f.nodes[1].name, "edge-3");  // wave 1 by default, file order kept within a wave
  EXPECT_EQ(f.nodes[2].name, "edge-2");
  EXPECT_EQ(f.nodes[2].wave, 2);
  EXPECT_EQ(f.find("edge-3")->probe, "[::1]:53");
}

TEST(Fleet, ErrorsNameFileLineAndField) {
  EXPECT_EQ(error_of([] { parse_fleet("nodes:\n  - name: a\n    probe: 1.2.3.4\n", "f.yaml"); }),
            "f.yaml:2: nodes[0].control: missing");
  EXPECT_EQ(
      error_of([] {
        parse_fleet(
            "nodes:\n  - {name: a, control: /a, probe: x}\n  - {name: a, control: /b, probe: y}\n",
            "f.yaml");
      }),
      "f.yaml:3: nodes[1].name: 'a' appears twice");
  EXPECT_EQ(error_of([] {
              parse_fleet("nodes:\n  - {name: a, control: /a, probe: x, wave: many}\n", "f.yaml");
            }),
            "f.yaml:2: nodes[0].wave: expected a number, got 'many'");
  EXPECT_EQ(error_of([] {
              parse_fleet("nodes:\n  - {name: a, control: /a, probe: x, colour: red}\n", "f.yaml");
            }),
            "f.yaml:2: nodes[0].colour: unknown field");
  EXPECT_EQ(error_of([] { parse_fleet("hosts: []\n", "f.yaml"); }),
            "f.yaml:1: hosts: unknown field");
  EXPECT_NE(error_of([] { parse_fleet("nodes: [\n", "f.yaml"); }).find("f.yaml:"),
            std::string::npos);
  EXPECT_EQ(error_of([] { load_fleet("/nonexistent/fleet.yaml"); }),
            "/nonexistent/fleet.yaml: cannot read");
}

TEST(Policy, DefaultHasFourStages) {
  Policy p = default_policy();
  ASSERT_EQ(p.stages.size(), 4u);
  EXPECT_EQ(p.stages[0].scope, Scope::Lcore);
  EXPECT_EQ(p.stages[1].scope, Scope::Node);
  EXPECT_EQ(p.stages[2].scope, Scope::Wave);
  EXPECT_EQ(p.stages[3].scope, Scope::All);
  EXPECT_DOUBLE_EQ(*p.gates.max_names_removed_fraction, 0.10);
  EXPECT_EQ(p.health.rates.count("nxdomain"), 1u);
  EXPECT_TRUE(p.resume_on_restart);
}

TEST(Policy, OverridesKeepDefaultsElsewhere) {
  Policy p = parse_policy(R"(stages:
  - {name: one, scope: lcore, bake_s: 2, min_queries: 50}
  - {scope: all, bake_s: 1}
health:
  interval_s: 0.5
  on_node_down: wait
  rates:
    nxdomain: {abs: 0.02}
gates:
  max_names_removed_fraction: 0.25
  per_type:
    MX: {max_changed: 1}
  validator: /usr/local/bin/check
on_restart: rollback
)",
                          "p.yaml");
  ASSERT_EQ(p.stages.size(), 2u);
  EXPECT_EQ(p.stages[0].min_queries, 50u);
  EXPECT_EQ(p.stages[1].name, "stage-2");
  EXPECT_DOUBLE_EQ(p.health.interval_s, 0.5);
  EXPECT_FALSE(p.health.rollback_on_node_down);
  EXPECT_DOUBLE_EQ(p.health.rates["nxdomain"].abs, 0.02);
  EXPECT_DOUBLE_EQ(p.health.rates["nxdomain"].rel, 0.5);
  EXPECT_DOUBLE_EQ(*p.gates.max_names_removed_fraction, 0.25);
  EXPECT_EQ(*p.gates.per_type.at(15).max_changed, 1u);
  EXPECT_EQ(p.gates.validator, "/usr/local/bin/check");
  EXPECT_FALSE(p.resume_on_restart);
}

TEST(Policy, ErrorsNameFileLineAndField) {
  EXPECT_EQ(error_of([] { parse_policy("stages:\n  - {scope: planet}\n", "p.yaml"); }),
            "p.yaml:2: stages[0].scope: 'planet' is not one of lcore, node, wave, all");
  EXPECT_EQ(error_of([] { parse_policy("stages:\n  - {scope: lcore}\n", "p.yaml"); }),
            "p.yaml:2: stages: the last stage must have scope 'all'");
  EXPECT_EQ(error_of([] { parse_policy("gates:\n  max_names_removed_fraction: 1.5\n", "p.yaml"); }),
            "p.yaml:2: gates.max_names_removed_fraction: must be between 0 and 1");
  EXPECT_EQ(error_of([] {
              parse_policy("gates:\n  per_type:\n    BOGUS: {max_changed: 1}\n", "p.yaml");
            }),
            "p.yaml:3: gates.per_type.BOGUS: unknown RR type");
  EXPECT_EQ(
      error_of([] { parse_policy("health:\n  rates:\n    nxdomain: {absolute: 1}\n", "p.yaml"); }),
      "p.yaml:3: health.rates.nxdomain.absolute: unknown field");
  EXPECT_EQ(error_of([] { parse_policy("health:\n  on_node_down: panic\n", "p.yaml"); }),
            "p.yaml:2: health.on_node_down: 'panic' is not rollback or wait");
}

// Nodes on other hosts: tls://HOST:PORT with the fleet's certificate, key
// and CA (relative to the fleet file), and the name each node must present.
TEST(Fleet, TlsNodesNeedTheFleetsCertificates) {
  EXPECT_EQ(error_of([] {
              parse_fleet("nodes:\n  - {name: a, control: 'tls://198.18.0.1:8853', probe: x}\n",
                          "f.yaml");
            }),
            "f.yaml:2: nodes[0].control: tls://198.18.0.1:8853 needs the fleet's 'tls:' section "
            "(cert, key, ca)");
  EXPECT_EQ(
      error_of([] {
        parse_fleet("nodes:\n  - {name: a, control: 'http://198.18.0.1:80', probe: x}\n", "f.yaml");
      }),
      "f.yaml:2: nodes[0].control: 'http://198.18.0.1:80': only tls://HOST:PORT or a unix socket "
      "path");
  EXPECT_EQ(error_of([] {
              parse_fleet("nodes:\n  - {name: a, control: /a, probe: x, server_name: b}\n",
                          "f.yaml");
            }),
            "f.yaml:2: nodes[0].server_name: only for a tls:// control address");
  EXPECT_EQ(error_of([] {
              parse_fleet(
                  "tls: {cert: c.crt, key: c.key}\nnodes:\n  - {name: a, control: /a, probe: x}\n",
                  "/etc/edgedns/f.yaml");
            }),
            "/etc/edgedns/f.yaml:1: tls.ca: missing");
  // Relative paths are the fleet file's neighbours; an unreadable one is named.
  EXPECT_EQ(error_of([] {
              parse_fleet(
                  "tls: {cert: c.crt, key: c.key, ca: ca.crt}\n"
                  "nodes:\n  - {name: a, control: 'tls://198.18.0.1:8853', probe: x}\n",
                  "/nonexistent/f.yaml");
            }),
            "/nonexistent/f.yaml:1: tls: TLS file /nonexistent/c.crt: No such file or directory");
  EXPECT_EQ(error_of([] {
              parse_fleet("nodes:\n  - {name: a, control: 'tls://198.18.0.1', probe: x}\n",
                          "f.yaml");
            }),
            "f.yaml:2: nodes[0].control: '198.18.0.1': expected HOST:PORT");
}

TEST(Fleet, AccessListsNameOperatorsAndReaders) {
  Fleet f = parse_fleet(
      "access: {operators: [alice, ci], readers: [grafana]}\n"
      "nodes:\n  - {name: a, control: /a, probe: x}\n",
      "f.yaml");
  EXPECT_EQ(f.operators, (std::vector<std::string>{"alice", "ci"}));
  EXPECT_EQ(f.readers, (std::vector<std::string>{"grafana"}));
  EXPECT_EQ(error_of([] {
              parse_fleet(
                  "access: {operators: [alice], readers: [alice]}\nnodes:\n"
                  "  - {name: a, control: /a, probe: x}\n",
                  "f.yaml");
            }),
            "f.yaml:1: access: 'alice' is both an operator and a reader");
  EXPECT_EQ(error_of([] {
              parse_fleet(
                  "access: {admins: [alice]}\nnodes:\n  - {name: a, control: /a, probe: x}\n",
                  "f.yaml");
            }),
            "f.yaml:1: access.admins: unknown field");
  EXPECT_EQ(error_of([] {
              parse_fleet(
                  "access: {operators: alice}\nnodes:\n  - {name: a, control: /a, probe: x}\n",
                  "f.yaml");
            }),
            "f.yaml:1: access.operators: expected a list of names");
}
