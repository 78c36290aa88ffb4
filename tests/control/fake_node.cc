#include "fake_node.hh"

#include <chrono>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cstring>

#include "control/dig_print.hh"
#include "control/version_id.hh"
#include "proto/framing.hh"
#include "zones/answer.hh"
#include "zones/snapshot.hh"

namespace edgedns::test {

using nlohmann::json;

FakeNode::FakeNode(std::string name, std::string socket, std::vector<int> lcores,
                   const std::vector<ZoneText>& initial, bool udp)
    : name_(std::move(name)),
      socket_(std::move(socket)),
      lcores_(std::move(lcores)),
      udp_(udp),
      server_([this](const std::string& frame) { return handle_frame(frame); }) {
  std::vector<ctl::LoadedZone> zs;
  for (const auto& z : initial) {
    zs.push_back(ctl::load_zone_text(z.text, z.file));
    if (!zs.back().ok()) throw std::runtime_error("fake node: initial zone " + z.file + " invalid");
  }
  initial_ = committed_ = add_version(zs);
  for (int l : lcores_) served_[l] = committed_;
  ever_.insert(committed_);
  traffic_ = [](int, const std::string&) {
    ctl::Counters c;
    c.queries = c.noerror = 1000;
    return c;
  };
}

FakeNode::~FakeNode() { stop(); }

std::string FakeNode::add_version(const std::vector<ctl::LoadedZone>& zones) {
  ctl::VersionInfo vi = ctl::compute_version(zones);
  if (!versions_.count(vi.id)) {
    std::vector<std::shared_ptr<const zones::Zone>> compiled;
    for (const auto& z : zones) {
      zones::ZoneData copy = z.data;
      compiled.push_back(zones::compile_zone(std::move(copy)));
    }
    versions_[vi.id] = {vi.label, zones, zones::ZoneSet::build(std::move(compiled)), vi.records};
  }
  return vi.id;
}

void FakeNode::start() {
  server_.start(socket_);
  running_ = true;
  if (udp_) {
    if (udp_fd_ < 0) {
      udp_fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
      sockaddr_in in{};
      in.sin_family = AF_INET;
      in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      in.sin_port = htons(udp_port_);
      if (::bind(udp_fd_, reinterpret_cast<sockaddr*>(&in), sizeof in) != 0)
        throw std::runtime_error("fake node: cannot bind UDP");
      socklen_t sl = sizeof in;
      ::getsockname(udp_fd_, reinterpret_cast<sockaddr*>(&in), &sl);
      udp_port_ = ntohs(in.sin_port);
    }
    udp_thread_ = std::thread([this] { udp_loop(); });
  }
}

void FakeNode::stop() {
  if (!running_.exchange(false)) return;
  server_.stop();
  if (udp_thread_.joinable()) udp_thread_.join();
  if (udp_fd_ >= 0) ::close(udp_fd_);
  udp_fd_ = -1;
}

void FakeNode::restart() {
  stop();
  {
    std::lock_guard lk(mu_);
    // A restarted agent serves its last-known-good; counters start over.
    for (int l : lcores_) served_[l] = committed_;
    counters_.clear();
  }
  start();
}

json FakeNode::handle_frame(const std::string& frame) {
  std::string err;
  auto req = proto::parse_message(frame, &err);
  return req ? handle(*req) : proto::make_error(nullptr, "bad_request", err);
}

void FakeNode::udp_loop() {
  std::vector<uint8_t> buf(65535), out(65535);
  while (running_) {
    pollfd pf{udp_fd_, POLLIN, 0};
    if (::poll(&pf, 1, 50) <= 0) continue;
    sockaddr_storage from{};
    socklen_t fl = sizeof from;
    ssize_t n =
        ::recvfrom(udp_fd_, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &fl);
    if (n <= 0) continue;
    uint16_t port = from.ss_family == AF_INET6
                        ? ntohs(reinterpret_cast<const sockaddr_in6*>(&from)->sin6_port)
                        : ntohs(reinterpret_cast<const sockaddr_in*>(&from)->sin_port);
    uint32_t h = port * 0x9e3779b1u;  // spreads neighbouring ports as an RSS hash does
    h ^= h >> 15;
    std::shared_ptr<const void> zs;
    std::string nsid;
    {
      std::lock_guard lk(mu_);
      int lcore = lcores_[h % lcores_.size()];
      zs = versions_[answer_from_.empty() ? served_[lcore] : answer_from_].zoneset;
      std::set<std::string> distinct;
      for (const auto& [l, v] : served_) distinct.insert(v);
      answers_.push_back({lcore, served_[lcore], distinct.size() > 1});
      if (nsid_) nsid = name_ + " lcore=" + std::to_string(lcore);
    }
    zones::AnswerConfig cfg;
    cfg.nsid = nsid;
    cfg.nsid_version = true;
    auto r = zones::answer_query(*static_cast<const zones::ZoneSet*>(zs.get()),
                                 {buf.data(), size_t(n)}, out, zones::Transport::Udp, cfg);
    if (r.len) ::sendto(udp_fd_, out.data(), r.len, 0, reinterpret_cast<sockaddr*>(&from), fl);
  }
}

json FakeNode::handle(const json& req) {
  int delay = 0;
  {
    std::lock_guard dl(delay_mu_);
    if (auto it = delays_.find(req.value("cmd", "")); it != delays_.end()) delay = it->second;
  }
  if (delay > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay));
  std::lock_guard lk(mu_);
  json id = req.value("id", json());
  std::string cmd = req.value("cmd", "");
  log_.push_back(cmd);
  if (req.value("v", 0) != 1) return proto::make_error(id, "bad_request", "missing v: 1");
  if (failing_.count(cmd))
    return proto::make_error(id, failing_[cmd], "scripted failure of " + cmd);
  json r = proto::make_ok(id);
  auto served_json = [&] {
    json s = json::object();
    for (const auto& [l, v] : served_) s[std::to_string(l)] = v;
    return s;
  };
  if (cmd == "hello") {
    r["node"] = name_;
    r["protocol"] = 1;
    r["lcores"] = lcores_;
    r["committed"] = committed_;
    r["served"] = served_json();
  } else if (cmd == "upload") {
    std::vector<ctl::LoadedZone> zs;
    json diags = json::array();
    for (const auto& z : req.value("zones", json::array())) {
      zs.push_back(
          ctl::load_zone_text(z.value("text", ""), z.value("file", "zone"), z.value("origin", "")));
      for (const auto& d : zs.back().diagnostics)
        if (d.is_error())
          diags.push_back(
              {{"file", d.file}, {"line", d.line}, {"severity", "error"}, {"message", d.message}});
    }
    if (!diags.empty()) {
      json e = proto::make_error(id, "invalid_zone", "zone set does not load");
      e["diagnostics"] = diags;
      return e;
    }
    std::string v = add_version(zs);
    r["version"] = v;
    r["label"] = versions_[v].label;
    r["records"] = versions_[v].records;
    r["warnings"] = json::array();
  } else if (cmd == "publish") {
    std::string v = req.value("version", "");
    if (!versions_.count(v)) return proto::make_error(id, "unknown_version", "no version " + v);
    std::vector<int> ls = req.contains("lcores") ? req["lcores"].get<std::vector<int>>() : lcores_;
    for (int l : ls)
      if (!served_.count(l))
        return proto::make_error(id, "bad_lcore", "no lcore " + std::to_string(l));
    for (int l : ls) served_[l] = v;
    ever_.insert(v);
    r["served"] = served_json();
  } else if (cmd == "commit") {
    std::string v = req.value("version", "");
    for (const auto& [l, s] : served_)
      if (s != v) return proto::make_error(id, "bad_request", "version not served by every lcore");
    if (committed_ != v) prev_committed_ = committed_;
    committed_ = v;
  } else if (cmd == "rollback") {
    std::string to = req.value("to", committed_);
    if (!versions_.count(to)) return proto::make_error(id, "unknown_version", "no version " + to);
    for (auto& [l, s] : served_) s = to;
    ever_.insert(to);
    committed_ = to;
    r["served"] = served_json();
  } else if (cmd == "status") {
    for (const auto& [l, v] : served_) counters_[l][v] += traffic_(l, v);
    r["committed"] = committed_;
    r["memory_bytes"] = 1;
    r["versions"] = json::array();
    for (const auto& [v, ver] : versions_) {
      bool served = false;
      for (const auto& [l, s] : served_) served |= s == v;
      r["versions"].push_back({{"version", v},
                               {"label", ver.label},
                               {"records", ver.records},
                               {"memory", 1},
                               {"state", v == committed_ ? "committed"
                                         : served        ? "served"
                                                         : "held"}});
    }
    r["lcores"] = json::array();
    for (const auto& [l, v] : served_) {
      json c = json::object();
      for (const auto& [ver, cnt] : counters_[l]) c[ver] = cnt.to_json();
      r["lcores"].push_back({{"id", l}, {"version", v}, {"counters", c}});
    }
  } else if (cmd == "health") {
    r["uptime_s"] = 1;
    r["lcores_alive"] = true;
  } else if (cmd == "drop") {
    versions_.erase(req.value("version", ""));
  } else {
    return proto::make_error(id, "bad_request", "unknown cmd " + cmd);
  }
  return r;
}

void FakeNode::set_traffic(std::function<ctl::Counters(int, const std::string&)> fn) {
  std::lock_guard lk(mu_);
  traffic_ = std::move(fn);
}
void FakeNode::fail_command(const std::string& cmd, const std::string& code) {
  std::lock_guard lk(mu_);
  failing_[cmd] = code;
}
void FakeNode::delay_command(const std::string& cmd, int ms) {
  std::lock_guard dl(delay_mu_);
  if (ms > 0) delays_[cmd] = ms;
  else delays_.erase(cmd);
}
void FakeNode::answer_from(const std::string& version) {
  std::lock_guard lk(mu_);
  answer_from_ = version;
}

void FakeNode::answer_nsid(bool on) {
  std::lock_guard lk(mu_);
  nsid_ = on;
}
std::vector<FakeNode::UdpAnswer> FakeNode::udp_answers() {
  std::lock_guard lk(mu_);
  return answers_;
}
std::string FakeNode::committed() {
  std::lock_guard lk(mu_);
  return committed_;
}
std::map<int, std::string> FakeNode::served() {
  std::lock_guard lk(mu_);
  return served_;
}
std::set<std::string> FakeNode::ever_served() {
  std::lock_guard lk(mu_);
  return ever_;
}
std::vector<std::string> FakeNode::commands() {
  std::lock_guard lk(mu_);
  return log_;
}
bool FakeNode::holds(const std::string& v) {
  std::lock_guard lk(mu_);
  return versions_.count(v) > 0;
}

}  // namespace edgedns::test
