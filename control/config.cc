#include "control/config.hh"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <yaml-cpp/yaml.h>

#include "zones/rrtype.hh"

namespace edgedns::ctl {

namespace {

const char* kRateNames[] = {"servfail", "refused", "nxdomain", "formerr", "dropped", "malformed"};

struct Ctx {
  std::string file;
  [[noreturn]] void fail(const YAML::Node& n, const std::string& field,
                         const std::string& msg) const {
    std::string where = file;
    if (n.IsDefined() && n.Mark().line >= 0) where += ":" + std::to_string(n.Mark().line + 1);
    throw ConfigError(where + ": " + field + ": " + msg);
  }
  template <class T>
  T get(const YAML::Node& n, const std::string& field, const char* what) const {
    try {
      return n.as<T>();
    } catch (const YAML::Exception&) {
      fail(n, field,
           std::string("expected ") + what + ", got '" +
               (n.IsScalar() ? n.Scalar() : "a structure") + "'");
    }
  }
  double number(const YAML::Node& n, const std::string& field, double lo, double hi) const {
    double v = get<double>(n, field, "a number");
    if (v < lo || v > hi) fail(n, field, "must be between " + trim(lo) + " and " + trim(hi));
    return v;
  }
  uint64_t count(const YAML::Node& n, const std::string& field) const {
    return get<uint64_t>(n, field, "a non-negative integer");
  }
  static std::string trim(double d) {
    std::ostringstream o;
    o << d;
    return o.str();
  }
  void known_keys(const YAML::Node& n, const std::string& field,
                  std::initializer_list<const char*> keys) const {
    if (!n.IsMap()) fail(n, field, "expected a mapping");
    for (const auto& kv : n) {
      std::string k = kv.first.as<std::string>();
      if (std::none_of(keys.begin(), keys.end(), [&](const char* x) { return k == x; }))
        fail(kv.first, field.empty() ? k : field + "." + k, "unknown field");
    }
  }
};

YAML::Node parse_yaml(const std::string& text, const std::string& file) {
  try {
    return YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    throw ConfigError(file + ":" + std::to_string(e.mark.line + 1) + ": YAML syntax: " + e.msg);
  }
}

}  // namespace

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(path + ": cannot read");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

const FleetNode* Fleet::find(const std::string& name) const {
  for (const auto& n : nodes)
    if (n.name == name) return &n;
  return nullptr;
}

namespace {

// tls: {cert, key, ca}, each relative to the fleet file's directory.
proto::TlsFiles parse_fleet_tls(const Ctx& c, const YAML::Node& t) {
  c.known_keys(t, "tls", {"cert", "key", "ca"});
  const std::string dir = std::filesystem::path(c.file).parent_path().string();
  proto::TlsFiles f;
  for (auto [key, out] : {std::pair{"cert", &f.cert}, {"key", &f.key}, {"ca", &f.ca}}) {
    if (!t[key]) c.fail(t, std::string("tls.") + key, "missing");
    *out = c.get<std::string>(t[key], std::string("tls.") + key, "a file name");
    if (out->empty()) c.fail(t[key], std::string("tls.") + key, "empty");
    if ((*out)[0] != '/' && !dir.empty()) *out = dir + "/" + *out;
  }
  return f;
}

}  // namespace

Fleet parse_fleet(const std::string& yaml, const std::string& file) {
  Ctx c{file};
  YAML::Node root = parse_yaml(yaml, file);
  if (!root.IsMap()) throw ConfigError(file + ": expected a mapping with 'nodes'");
  c.known_keys(root, "", {"nodes", "tls", "access"});
  YAML::Node nodes = root["nodes"];
  if (!nodes) throw ConfigError(file + ": nodes: missing");
  if (!nodes.IsSequence() || nodes.size() == 0) c.fail(nodes, "nodes", "expected a non-empty list");
  Fleet f;
  if (root["tls"]) {
    f.tls_files = parse_fleet_tls(c, root["tls"]);
    try {
      f.tls = std::make_shared<proto::TlsContext>(proto::TlsContext::Role::Client, *f.tls_files);
    } catch (const std::runtime_error& e) {
      c.fail(root["tls"], "tls", e.what());
    }
  }
  if (const YAML::Node a = root["access"]) {
    c.known_keys(a, "access", {"operators", "readers"});
    for (auto [key, out] : {std::pair{"operators", &f.operators}, {"readers", &f.readers}}) {
      if (!a[key]) continue;
      if (!a[key].IsSequence())
        c.fail(a[key], std::string("access.") + key, "expected a list of names");
      for (const auto& n : a[key]) {
        auto name = c.get<std::string>(n, std::string("access.") + key, "a certificate name");
        if (name.empty()) c.fail(n, std::string("access.") + key, "empty name");
        out->push_back(name);
      }
    }
    for (const auto& o : f.operators)
      for (const auto& r : f.readers)
        if (o == r) c.fail(a, "access", "'" + o + "' is both an operator and a reader");
  }
  std::set<std::string> names, sockets;
  for (size_t i = 0; i < nodes.size(); ++i) {
    const YAML::Node n = nodes[i];
    std::string field = "nodes[" + std::to_string(i) + "]";
    c.known_keys(n, field, {"name", "control", "server_name", "probe", "wave"});
    FleetNode fn;
    for (const char* k : {"name", "control", "probe"})
      if (!n[k]) c.fail(n, field + "." + k, "missing");
    fn.name = c.get<std::string>(n["name"], field + ".name", "a string");
    fn.control =
        c.get<std::string>(n["control"], field + ".control", "a socket path or tls://HOST:PORT");
    fn.probe = c.get<std::string>(n["probe"], field + ".probe", "an address");
    if (fn.name.empty()) c.fail(n["name"], field + ".name", "empty");
    if (fn.control.empty()) c.fail(n["control"], field + ".control", "empty");
    fn.server_name = fn.name;
    if (n["server_name"])
      fn.server_name = c.get<std::string>(n["server_name"], field + ".server_name", "a name");
    if (fn.control.rfind("tls://", 0) == 0) {
      proto::Endpoint ep;
      std::string err;
      if (!proto::parse_endpoint(fn.control.substr(6), &ep, &err))
        c.fail(n["control"], field + ".control", err);
      if (!f.tls)
        c.fail(n["control"], field + ".control",
               fn.control + " needs the fleet's 'tls:' section (cert, key, ca)");
      fn.tls = f.tls;
    } else if (fn.control.find("://") != std::string::npos) {
      c.fail(n["control"], field + ".control",
             "'" + fn.control + "': only tls://HOST:PORT or a unix socket path");
    } else if (n["server_name"]) {
      c.fail(n["server_name"], field + ".server_name", "only for a tls:// control address");
    }
    if (n["wave"]) fn.wave = int(c.number(n["wave"], field + ".wave", 0, 1e6));
    if (!names.insert(fn.name).second)
      c.fail(n["name"], field + ".name", "'" + fn.name + "' appears twice");
    if (!sockets.insert(fn.control).second)
      c.fail(n["control"], field + ".control",
             "'" + fn.control + "' is already used by another node");
    f.nodes.push_back(fn);
  }
  std::stable_sort(f.nodes.begin(), f.nodes.end(),
                   [](const FleetNode& a, const FleetNode& b) { return a.wave < b.wave; });
  return f;
}

Fleet load_fleet(const std::string& path) { return parse_fleet(read_file(path), path); }

const char* scope_name(Scope s) {
  switch (s) {
    case Scope::Lcore: return "lcore";
    case Scope::Node: return "node";
    case Scope::Wave: return "wave";
    case Scope::All: return "all";
  }
  return "?";
}

Policy default_policy() {
  Policy p;
  // One core of the first node sees real traffic beside its control cores,
  // then that node, then the next wave, then everyone.
  p.stages = {{"canary-lcore", Scope::Lcore, 1, 60, 0, 0},
              {"canary-node", Scope::Node, 1, 60, 0, 0},
              {"next-wave", Scope::Wave, 1, 120, 0, 0},
              {"all", Scope::All, 1, 60, 0, 0}};
  for (const char* r : kRateNames) p.health.rates[r] = RateLimit{};
  return p;
}

Policy parse_policy(const std::string& yaml, const std::string& file) {
  Ctx c{file};
  Policy p = default_policy();
  YAML::Node root = parse_yaml(yaml, file);
  if (root.IsNull()) return p;
  c.known_keys(root, "", {"stages", "health", "gates", "on_restart"});
  if (YAML::Node st = root["stages"]) {
    if (!st.IsSequence() || st.size() == 0) c.fail(st, "stages", "expected a non-empty list");
    p.stages.clear();
    for (size_t i = 0; i < st.size(); ++i) {
      const YAML::Node s = st[i];
      std::string field = "stages[" + std::to_string(i) + "]";
      c.known_keys(s, field, {"name", "scope", "waves", "bake_s", "min_queries", "timeout_s"});
      StagePolicy sp;
      sp.name = s["name"] ? c.get<std::string>(s["name"], field + ".name", "a string")
                          : "stage-" + std::to_string(i + 1);
      if (!s["scope"]) c.fail(s, field + ".scope", "missing (lcore, node, wave or all)");
      std::string scope = c.get<std::string>(s["scope"], field + ".scope", "a string");
      if (scope == "lcore") sp.scope = Scope::Lcore;
      else if (scope == "node") sp.scope = Scope::Node;
      else if (scope == "wave") sp.scope = Scope::Wave;
      else if (scope == "all") sp.scope = Scope::All;
      else
        c.fail(s["scope"], field + ".scope",
               "'" + scope + "' is not one of lcore, node, wave, all");
      if (s["waves"]) sp.waves = int(c.number(s["waves"], field + ".waves", 1, 1e6));
      if (s["bake_s"]) sp.bake_s = c.number(s["bake_s"], field + ".bake_s", 0, 1e7);
      if (s["min_queries"]) sp.min_queries = c.count(s["min_queries"], field + ".min_queries");
      if (s["timeout_s"]) sp.timeout_s = c.number(s["timeout_s"], field + ".timeout_s", 0, 1e7);
      p.stages.push_back(sp);
    }
    if (p.stages.back().scope != Scope::All)
      c.fail(st, "stages", "the last stage must have scope 'all'");
  }
  if (YAML::Node h = root["health"]) {
    c.known_keys(h, "health",
                 {"interval_s", "min_queries", "rates", "on_node_down", "auto_probes",
                  "probe_timeout_s", "probe_repeats"});
    if (h["interval_s"])
      p.health.interval_s = c.number(h["interval_s"], "health.interval_s", 0.05, 3600);
    if (h["min_queries"]) p.health.min_queries = c.count(h["min_queries"], "health.min_queries");
    if (h["auto_probes"]) p.health.auto_probes = c.count(h["auto_probes"], "health.auto_probes");
    if (h["probe_timeout_s"])
      p.health.probe_timeout_s = c.number(h["probe_timeout_s"], "health.probe_timeout_s", 0.01, 60);
    if (h["probe_repeats"])
      p.health.probe_repeats = int(c.number(h["probe_repeats"], "health.probe_repeats", 1, 100));
    if (h["on_node_down"]) {
      std::string v = c.get<std::string>(h["on_node_down"], "health.on_node_down", "a string");
      if (v == "rollback") p.health.rollback_on_node_down = true;
      else if (v == "wait") p.health.rollback_on_node_down = false;
      else c.fail(h["on_node_down"], "health.on_node_down", "'" + v + "' is not rollback or wait");
    }
    if (YAML::Node r = h["rates"]) {
      c.known_keys(r, "health.rates",
                   {"servfail", "refused", "nxdomain", "formerr", "dropped", "malformed"});
      for (const auto& kv : r) {
        std::string k = kv.first.as<std::string>(), field = "health.rates." + k;
        c.known_keys(kv.second, field, {"abs", "rel"});
        if (kv.second["abs"])
          p.health.rates[k].abs = c.number(kv.second["abs"], field + ".abs", 0, 1);
        if (kv.second["rel"])
          p.health.rates[k].rel = c.number(kv.second["rel"], field + ".rel", 0, 1e6);
      }
    }
  }
  if (YAML::Node g = root["gates"]) {
    c.known_keys(g, "gates",
                 {"max_names_removed_fraction", "max_names_removed", "max_rrsets_changed_fraction",
                  "max_rrsets_changed", "per_type", "max_records", "max_bytes", "validator",
                  "validator_timeout_s"});
    auto frac = [&](const char* k, std::optional<double>& out) {
      if (!g[k]) return;
      if (g[k].IsNull()) out.reset();
      else out = c.number(g[k], std::string("gates.") + k, 0, 1);
    };
    auto cnt = [&](const char* k, std::optional<size_t>& out) {
      if (!g[k]) return;
      if (g[k].IsNull()) out.reset();
      else out = c.count(g[k], std::string("gates.") + k);
    };
    frac("max_names_removed_fraction", p.gates.max_names_removed_fraction);
    cnt("max_names_removed", p.gates.max_names_removed);
    frac("max_rrsets_changed_fraction", p.gates.max_rrsets_changed_fraction);
    cnt("max_rrsets_changed", p.gates.max_rrsets_changed);
    if (g["max_records"]) p.gates.max_records = c.count(g["max_records"], "gates.max_records");
    if (g["max_bytes"]) p.gates.max_bytes = c.count(g["max_bytes"], "gates.max_bytes");
    if (g["validator"])
      p.gates.validator = c.get<std::string>(g["validator"], "gates.validator", "a command");
    if (g["validator_timeout_s"])
      p.gates.validator_timeout_s =
          c.number(g["validator_timeout_s"], "gates.validator_timeout_s", 0.1, 3600);
    if (YAML::Node pt = g["per_type"]) {
      if (!pt.IsMap()) c.fail(pt, "gates.per_type", "expected a mapping of RR type to limits");
      for (const auto& kv : pt) {
        std::string t = kv.first.as<std::string>(), field = "gates.per_type." + t;
        auto type = zones::rrtype_from_text(t);
        if (!type) c.fail(kv.first, field, "unknown RR type");
        c.known_keys(kv.second, field, {"max_changed_fraction", "max_changed"});
        TypeLimit tl;
        if (kv.second["max_changed_fraction"])
          tl.max_changed_fraction =
              c.number(kv.second["max_changed_fraction"], field + ".max_changed_fraction", 0, 1);
        if (kv.second["max_changed"])
          tl.max_changed = c.count(kv.second["max_changed"], field + ".max_changed");
        p.gates.per_type[*type] = tl;
      }
    }
  }
  if (YAML::Node r = root["on_restart"]) {
    std::string v = c.get<std::string>(r, "on_restart", "a string");
    if (v == "resume") p.resume_on_restart = true;
    else if (v == "rollback") p.resume_on_restart = false;
    else c.fail(r, "on_restart", "'" + v + "' is not resume or rollback");
  }
  return p;
}

Policy load_policy(const std::string& path) { return parse_policy(read_file(path), path); }

}  // namespace edgedns::ctl
