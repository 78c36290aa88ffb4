#include "control/node_cmds.hh"

#include <cstdio>
#include <iostream>

#include "control/node_client.hh"
#include "control/version_id.hh"
#include "control/zone_input.hh"

namespace edgedns::ctl {

using nlohmann::json;

namespace {

json diag_json(const zones::Diagnostic& d) {
  return {{"file", d.file},
          {"line", d.line},
          {"severity", d.is_error() ? "error" : "warning"},
          {"message", d.message}};
}

std::string served_text(const std::map<int, std::string>& served) {
  std::string s;
  for (const auto& [l, v] : served)
    s += (s.empty() ? "" : ", ") + ("lcore " + std::to_string(l) + "=" + v.substr(0, 12));
  return s;
}

}  // namespace

NodeAddress node_address(const std::string& control, const proto::TlsFiles& tls,
                         const std::string& server_name) {
  NodeAddress a{control, server_name, nullptr};
  const bool any = !tls.cert.empty() || !tls.key.empty() || !tls.ca.empty();
  if (control.rfind("tls://", 0) != 0) {
    if (any || !server_name.empty())
      throw std::runtime_error(
          "--tls-cert/--tls-key/--tls-ca/--server-name are for a tls:// address, not " + control);
    return a;
  }
  if (tls.cert.empty() || tls.key.empty() || tls.ca.empty())
    throw std::runtime_error(control + " needs --tls-cert, --tls-key and --tls-ca");
  a.tls = std::make_shared<proto::TlsContext>(proto::TlsContext::Role::Client, tls);
  return a;
}

int node_load(const NodeAddress& addr, const std::vector<std::string>& files,
              const std::string& origin, bool as_json) {
  std::vector<LoadedZone> zones;
  json diags = json::array();
  bool bad = false;
  for (const auto& f : files) {
    zones.push_back(load_zone(f, origin));
    for (const auto& d : zones.back().diagnostics) {
      diags.push_back(diag_json(d));
      if (!as_json) std::cerr << d.to_string() << "\n";
    }
    bad |= !zones.back().ok();
  }
  if (bad) {
    if (as_json)
      std::cout << json{{"ok", false}, {"error", "invalid zone"}, {"diagnostics", diags}}.dump()
                << "\n";
    else std::cerr << "edgectl: zones rejected, nothing sent to the node\n";
    return 2;
  }
  VersionInfo local = compute_version(zones);
  std::vector<ZoneUpload> up;
  for (const auto& z : zones) up.push_back({z.apex(), z.file, canonical_text(z.data)});

  NodeClient node("", addr);
  Hello h = node.hello();
  UploadResult u = node.upload(up);
  if (u.version != local.id)
    throw NodeError(h.node, addr.control, "protocol",
                    "uploaded version is " + u.version + " but edgectl computed " + local.id +
                        " for the same zones (version hash mismatch)");
  auto served = node.publish(u.version);
  node.commit(u.version);
  NodeStatus st = node.status();
  size_t serving = 0;
  for (const auto& l : st.lcores) serving += l.version == u.version;
  bool all = serving == st.lcores.size() && !st.lcores.empty() && st.committed == u.version;
  if (as_json) {
    std::cout << json{{"ok", all},
                      {"node", h.node},
                      {"version", u.version},
                      {"label", u.label},
                      {"records", u.records},
                      {"lcores", st.lcores.size()},
                      {"serving", serving},
                      {"committed", st.committed},
                      {"warnings", u.warnings}}
                     .dump()
              << "\n";
  } else {
    for (const auto& w : u.warnings) std::cerr << "warning: " << w << "\n";
    std::cout << "node " << h.node << ": version " << u.version << " (" << u.label << ", "
              << u.records << " records) served by " << serving << "/" << st.lcores.size()
              << " lcores" << (st.committed == u.version ? ", committed" : ", NOT committed")
              << "\n";
  }
  (void)served;
  return all ? 0 : 1;
}

int node_status(const NodeAddress& addr, bool as_json) {
  NodeClient node("", addr);
  Hello h = node.hello();
  NodeStatus st = node.status();
  Health hl = node.health();
  if (as_json) {
    json j = st.raw;
    j.erase("v");
    j.erase("id");
    j["node"] = h.node;
    j["health"] = {{"uptime_s", hl.uptime_s}, {"lcores_alive", hl.lcores_alive}};
    std::cout << j.dump() << "\n";
    return 0;
  }
  std::cout << "node " << h.node << " (protocol " << h.protocol << "), up " << int(hl.uptime_s)
            << " s, lcores " << (hl.lcores_alive ? "alive" : "NOT ALL ALIVE") << ", memory "
            << st.memory_bytes << " bytes\n";
  std::cout << "committed " << (st.committed.empty() ? "(none)" : st.committed) << "\n";
  std::cout << "versions:\n";
  for (const auto& v : st.versions)
    std::printf("  %s  %-9s %8llu records %10llu bytes  %s\n", v.version.c_str(), v.state.c_str(),
                (unsigned long long)v.records, (unsigned long long)v.memory, v.label.c_str());
  std::cout << "lcores:\n";
  for (const auto& l : st.lcores) {
    std::printf("  lcore %d serves %s\n", l.id, l.version.c_str());
    for (const auto& [ver, c] : l.counters)
      std::printf(
          "    %s: queries %llu noerror %llu nxdomain %llu servfail %llu refused %llu formerr %llu "
          "notimp %llu dropped %llu malformed %llu\n",
          ver.substr(0, 12).c_str(), (unsigned long long)c.queries, (unsigned long long)c.noerror,
          (unsigned long long)c.nxdomain, (unsigned long long)c.servfail,
          (unsigned long long)c.refused, (unsigned long long)c.formerr,
          (unsigned long long)c.notimp, (unsigned long long)c.dropped,
          (unsigned long long)c.malformed);
  }
  return hl.lcores_alive ? 0 : 1;
}

int node_rollback(const NodeAddress& addr, const std::string& to, bool as_json) {
  NodeClient node("", addr);
  node.hello();
  auto served = node.rollback(to.empty() ? std::nullopt : std::optional<std::string>(to));
  NodeStatus st = node.status();
  if (as_json) {
    json s = json::object();
    for (const auto& [l, v] : served) s[std::to_string(l)] = v;
    std::cout << json{{"ok", true}, {"served", s}, {"committed", st.committed}}.dump() << "\n";
  } else {
    std::cout << "rolled back: " << served_text(served) << "; committed " << st.committed << "\n";
  }
  return 0;
}

}  // namespace edgedns::ctl
