#include "dataplane/agent.hh"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "control/proto.hh"
#include "zones/delta.hh"

namespace edgedns::dp {

using nlohmann::json;

namespace {

// Body reads grow the buffer as bytes arrive (never to the announced length
// up front), so a peer announcing 512 MiB and sending nothing costs nothing.
constexpr size_t kReadChunk = 1 << 20;
// A frame whose body stalls this long is abandoned (the connection closes;
// nothing was applied). Waiting for the next request has no limit.
constexpr int kBodyTimeoutMs = 30'000;

struct BadRequest : std::runtime_error {
  using std::runtime_error::runtime_error;
};

const json& field(const json& req, const char* name) {
  auto it = req.find(name);
  if (it == req.end()) throw BadRequest(std::string("missing field \"") + name + "\"");
  return *it;
}

std::string string_field(const json& req, const char* name) {
  const json& f = field(req, name);
  if (!f.is_string()) throw BadRequest(std::string("field \"") + name + "\" must be a string");
  return f.get<std::string>();
}

json diag_json(const zones::Diagnostic& d) {
  return {{"file", d.file}, {"line", d.line},
          {"severity", d.is_error() ? "error" : "warning"}, {"message", d.message}};
}

json version_or_null(const std::shared_ptr<const Version>& v) {
  return v ? json(v->hex) : json(nullptr);
}

size_t rss_bytes() {
  std::ifstream f("/proc/self/statm");
  size_t pages = 0, resident = 0;
  f >> pages >> resident;
  return resident * size_t(sysconf(_SC_PAGESIZE));
}

// Waits until fd is readable (or the timeout/stop); false when it should give up.
bool wait_readable(int fd, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  for (;;) {
    int r = ::poll(&p, 1, timeout_ms);
    if (r > 0) return true;
    if (r == 0) return false;
    if (errno != EINTR) return false;
  }
}

// Reads exactly n bytes, appending to out. False on EOF, error or stall.
bool read_exact(int fd, std::string& out, size_t n, int timeout_ms, bool* eof_at_start) {
  size_t got = 0;
  char buf[kReadChunk < 65536 ? kReadChunk : 65536];
  while (got < n) {
    if (!wait_readable(fd, timeout_ms)) return false;
    size_t want = n - got < sizeof buf ? n - got : sizeof buf;
    ssize_t r = ::recv(fd, buf, want, 0);
    if (r == 0) {
      if (eof_at_start) *eof_at_start = got == 0;
      return false;
    }
    if (r < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    out.append(buf, size_t(r));
    got += size_t(r);
  }
  return true;
}

}  // namespace

ControlAgent::ControlAgent(VersionRegistry& reg, AgentHooks hooks)
    : reg_(reg), hooks_(std::move(hooks)), started_(std::chrono::steady_clock::now()) {}

ControlAgent::~ControlAgent() { stop(); }

void ControlAgent::start(const std::string& path) {
  sockaddr_un sa{};
  if (path.empty() || path.size() >= sizeof sa.sun_path)
    throw std::runtime_error("control socket path '" + path + "' is empty or too long");
  struct stat stt;
  if (::lstat(path.c_str(), &stt) == 0) {
    if (!S_ISSOCK(stt.st_mode))
      throw std::runtime_error("control socket " + path + " exists and is not a socket");
    std::string err;
    int probe = proto::connect_unix(path, &err);
    if (probe >= 0) {
      ::close(probe);
      throw std::runtime_error("control socket " + path + " is in use by another process");
    }
    ::unlink(path.c_str());  // stale: its process is gone (kill -9)
  }
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error(std::string("control socket: ") + std::strerror(errno));
  sa.sun_family = AF_UNIX;
  std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
  // Created 0600 from the start (no window with wider permissions). Start-up
  // is single-threaded here, so the process-wide umask change is harmless.
  mode_t old = ::umask(0177);
  int rc = ::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  int bind_errno = errno;
  ::umask(old);
  if (rc < 0 || ::chmod(path.c_str(), 0600) < 0 || ::listen(fd, int(kMaxConnections)) < 0) {
    int e = rc < 0 ? bind_errno : errno;
    ::close(fd);
    throw std::runtime_error("control socket " + path + ": " + std::strerror(e));
  }
  if (::pipe2(wake_fd_, O_CLOEXEC) < 0) {
    ::close(fd);
    throw std::runtime_error(std::string("control socket pipe: ") + std::strerror(errno));
  }
  listen_fd_ = fd;
  path_ = path;
  stopping_ = false;
  accept_thread_ = std::thread([this] { accept_loop(); });
}

void ControlAgent::stop() {
  if (listen_fd_ < 0) return;
  stopping_ = true;
  char b = 1;
  (void)!::write(wake_fd_[1], &b, 1);
  if (accept_thread_.joinable()) accept_thread_.join();
  reap(true);
  ::close(listen_fd_);
  ::close(wake_fd_[0]);
  ::close(wake_fd_[1]);
  listen_fd_ = wake_fd_[0] = wake_fd_[1] = -1;
  ::unlink(path_.c_str());
}

void ControlAgent::reap(bool all) {
  std::vector<std::unique_ptr<Conn>> gone;
  {
    std::lock_guard lock(conn_mu_);
    for (auto it = conns_.begin(); it != conns_.end();) {
      if (all || (*it)->done.load()) {
        if (all) ::shutdown((*it)->fd, SHUT_RDWR);  // unblocks its reader
        gone.push_back(std::move(*it));
        it = conns_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& c : gone) {
    if (c->t.joinable()) c->t.join();
    ::close(c->fd);
  }
}

void ControlAgent::accept_loop() {
  if (hooks_.thread_init) hooks_.thread_init();
  while (!stopping_) {
    pollfd p[2] = {{listen_fd_, POLLIN, 0}, {wake_fd_[0], POLLIN, 0}};
    int r = ::poll(p, 2, 1000);
    reap(false);
    if (r <= 0 || stopping_) continue;
    if (!(p[0].revents & POLLIN)) continue;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    ucred cred{};
    socklen_t len = sizeof cred;
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 ||
        (cred.uid != 0 && cred.uid != ::geteuid())) {
      ::close(fd);  // neither root nor our user: not even an error frame
      continue;
    }
    std::lock_guard lock(conn_mu_);
    if (conns_.size() >= kMaxConnections) {
      proto::write_frame(fd, proto::make_error(nullptr, "busy", "too many control connections").dump());
      ::close(fd);
      continue;
    }
    auto c = std::make_unique<Conn>();
    c->fd = fd;
    Conn* raw = c.get();
    c->t = std::thread([this, raw] { serve(raw); });
    conns_.push_back(std::move(c));
  }
}

void ControlAgent::serve(Conn* c) {
  if (hooks_.thread_init) hooks_.thread_init();
  std::string frame;
  while (!stopping_) {
    frame.clear();
    bool eof = false;
    if (!read_exact(c->fd, frame, 4, -1, &eof)) break;
    const auto* h = reinterpret_cast<const uint8_t*>(frame.data());
    uint32_t len = uint32_t(h[0]) << 24 | uint32_t(h[1]) << 16 | uint32_t(h[2]) << 8 | h[3];
    if (len > proto::kMaxFrame) {
      // The rest of the stream cannot be resynchronised: answer and close.
      proto::write_frame(c->fd, proto::make_error(nullptr, "bad_request",
                                                  "frame of " + std::to_string(len) +
                                                      " bytes exceeds the limit").dump());
      break;
    }
    frame.clear();
    if (!read_exact(c->fd, frame, len, kBodyTimeoutMs, nullptr)) break;  // mid-frame: no effect
    json reply = handle_frame(frame);
    std::string out = reply.dump(-1, ' ', false, json::error_handler_t::replace);
    if (!proto::write_frame(c->fd, out)) break;
  }
  c->done = true;
}

json ControlAgent::handle_frame(const std::string& frame) {
  std::string err;
  auto msg = proto::parse_message(frame, &err);
  if (!msg) return proto::make_error(nullptr, "bad_request", err);
  return handle(*msg);
}

json ControlAgent::handle(const json& req) {
  json id = req.contains("id") ? req["id"] : json(nullptr);
  auto v = req.find("v");
  if (v == req.end() || !v->is_number_integer() || v->get<int64_t>() != proto::kVersion)
    return proto::make_error(id, "bad_request", "protocol version must be \"v\": 1");
  auto c = req.find("cmd");
  if (c == req.end() || !c->is_string())
    return proto::make_error(id, "bad_request", "missing \"cmd\"");
  std::lock_guard lock(cmd_mu_);
  try {
    json r = dispatch(c->get<std::string>(), req);
    json ok = proto::make_ok(id);
    ok.update(r);
    return ok;
  } catch (const RegistryError& e) {
    return proto::make_error(id, e.code, e.what());
  } catch (const CommandError& e) {
    json r = proto::make_error(id, e.code, e.what());
    if (!e.diagnostics.empty()) {
      r["diagnostics"] = json::array();
      for (const auto& d : e.diagnostics) r["diagnostics"].push_back(diag_json(d));
    }
    return r;
  } catch (const BadRequest& e) {
    return proto::make_error(id, "bad_request", e.what());
  } catch (const json::exception& e) {
    return proto::make_error(id, "bad_request", e.what());
  } catch (const std::bad_alloc&) {
    return proto::make_error(id, "busy", "out of memory");
  } catch (const std::exception& e) {
    return proto::make_error(id, "bad_request", e.what());
  }
}

json ControlAgent::dispatch(const std::string& cmd, const json& req) {
  if (cmd == "hello") return cmd_hello();
  if (cmd == "upload") return cmd_upload(req);
  if (cmd == "delta") return cmd_delta(req);
  if (cmd == "publish") return cmd_publish(req);
  if (cmd == "commit") return cmd_commit(req);
  if (cmd == "rollback") return cmd_rollback(req);
  if (cmd == "status") return cmd_status();
  if (cmd == "health") return cmd_health();
  if (cmd == "drop") return cmd_drop(req);
  throw BadRequest("unknown command \"" + cmd + "\"");
}

json ControlAgent::served_map() const {
  json m = json::object();
  for (const auto& [lc, v] : reg_.served()) m[std::to_string(lc)] = version_or_null(v);
  return m;
}

json ControlAgent::cmd_hello() {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  return {{"node", host}, {"protocol", proto::kVersion}, {"lcores", reg_.lcore_ids()},
          {"committed", version_or_null(reg_.committed())}, {"served", served_map()}};
}

json ControlAgent::cmd_upload(const json& req) {
  const json& zs = field(req, "zones");
  if (!zs.is_array() || zs.empty()) throw BadRequest("\"zones\" must be a non-empty array");
  std::vector<ZoneText> texts;
  for (const json& z : zs) {
    if (!z.is_object()) throw BadRequest("each zone must be an object");
    ZoneText t;
    t.file = string_field(z, "file");
    const json& text = field(z, "text");
    if (!text.is_string()) throw BadRequest("field \"text\" must be a string");
    t.text = text.get_ref<const std::string&>();
    if (z.contains("origin") && !z["origin"].is_null()) t.origin = string_field(z, "origin");
    texts.push_back(std::move(t));
  }
  BuildResult b = build_zone_set(texts);
  if (!b.ok()) throw CommandError("invalid_zone", "zone set has errors; nothing kept", b.diagnostics);
  auto v = reg_.add(std::move(b.set));
  json warnings = json::array();
  for (const auto& d : b.diagnostics) warnings.push_back(diag_json(d));
  return {{"version", v->hex}, {"label", v->label}, {"records", v->records}, {"warnings", warnings}};
}

json ControlAgent::cmd_delta(const json& req) {
  std::string base_hex = string_field(req, "base");
  const json& changes = field(req, "changes");
  if (!changes.is_array()) throw BadRequest("\"changes\" must be an array");
  auto base = reg_.find(base_hex);
  if (!base)
    throw RegistryError("base_mismatch", "base version " + base_hex + " is not held by this node");
  std::vector<zones::DeltaChange> ch;
  ch.reserve(changes.size());
  for (const json& c : changes) {
    if (!c.is_object()) throw BadRequest("each change must be an object");
    std::string op = string_field(c, "op");
    zones::DeltaChange d;
    if (op == "add") d.op = zones::DeltaChange::Op::Add;
    else if (op == "del") d.op = zones::DeltaChange::Op::Del;
    else throw BadRequest("change op must be \"add\" or \"del\", not \"" + op + "\"");
    d.rr = string_field(c, "rr");
    ch.push_back(std::move(d));
  }
  zones::DeltaResult r = zones::apply_delta(base->zone_set(), ch);
  if (!r.ok()) {
    std::string first;
    for (const auto& d : r.diagnostics)
      if (d.is_error()) { first = d.to_string(); break; }
    throw CommandError(r.status == zones::DeltaStatus::InvalidZone ? "invalid_zone" : "bad_request",
                       "delta refused; nothing kept" + (first.empty() ? "" : ": " + first),
                       r.diagnostics);
  }
  auto v = reg_.add(std::move(r.zones));
  json warnings = json::array();
  for (const auto& d : r.diagnostics) warnings.push_back(diag_json(d));
  return {{"version", v->hex}, {"label", v->label}, {"records", v->records}, {"base", base->hex},
          {"added", r.added}, {"removed", r.removed}, {"warnings", warnings}};
}

json ControlAgent::cmd_publish(const json& req) {
  auto v = reg_.get(string_field(req, "version"));
  std::vector<unsigned> lcores;
  if (req.contains("lcores") && !req["lcores"].is_null()) {
    const json& l = req["lcores"];
    if (!l.is_array() || l.empty()) throw BadRequest("\"lcores\" must be a non-empty array of lcore ids");
    for (const json& x : l) {
      if (!x.is_number_integer() || x.get<int64_t>() < 0 || x.get<int64_t>() > 65535)
        throw BadRequest("lcore ids are unsigned integers");
      lcores.push_back(x.get<unsigned>());
    }
  }
  reg_.publish(v, lcores);  // after the grace period: every named lcore answers from v
  return {{"version", v->hex}, {"served", served_map()}};
}

void ControlAgent::commit_version(const std::shared_ptr<const Version>& v) {
  if (!reg_.served_everywhere(*v))
    throw BadRequest("version " + v->hex + " is not served by every lcore; publish it first");
  if (reg_.committed() == v) return;
  if (hooks_.persist) {
    try {
      hooks_.persist(*v);
    } catch (const std::exception& e) {
      throw RegistryError("state_io", std::string("last-known-good not written: ") + e.what());
    }
  }
  reg_.commit(v);
}

json ControlAgent::cmd_commit(const json& req) {
  auto v = reg_.get(string_field(req, "version"));
  commit_version(v);
  return {{"committed", v->hex}, {"label", v->label}};
}

json ControlAgent::cmd_rollback(const json& req) {
  std::shared_ptr<const Version> to;
  if (req.contains("to") && !req["to"].is_null()) {
    to = reg_.get(string_field(req, "to"));
  } else {
    to = reg_.committed();
    if (to && reg_.served_everywhere(*to)) to = reg_.previous_committed();
    if (!to) throw RegistryError("unknown_version", "no committed version to roll back to");
  }
  reg_.publish_all(to);
  commit_version(to);
  return {{"version", to->hex}, {"label", to->label}, {"committed", to->hex}, {"served", served_map()}};
}

json ControlAgent::cmd_status() {
  auto committed = reg_.committed();
  auto previous = reg_.previous_committed();
  json versions = json::array();
  for (const auto& v : reg_.versions()) {
    bool served = reg_.is_served(*v);
    const char* state = v == committed ? "committed" : served ? "served" : "held";
    versions.push_back({{"version", v->hex}, {"label", v->label}, {"records", v->records},
                        {"memory", v->memory}, {"state", state}, {"served", served},
                        {"committed", v == committed}, {"previous_committed", v == previous}});
  }
  json lcores = json::array();
  auto served = reg_.served();
  auto all = reg_.versions();
  for (size_t i = 0; i < served.size(); ++i) {
    json counters = json::object();
    for (const auto& v : all) {
      VersionCounts c = reg_.counts(*v, i);
      if (c.queries == 0 && c.malformed == 0 && served[i].second != v) continue;
      counters[v->hex] = {{"queries", c.queries}, {"noerror", c.rcode[0]}, {"formerr", c.rcode[1]},
                          {"servfail", c.rcode[2]}, {"nxdomain", c.rcode[3]}, {"notimp", c.rcode[4]},
                          {"refused", c.rcode[5]}, {"dropped", c.dropped}, {"malformed", c.malformed}};
    }
    lcores.push_back({{"id", served[i].first}, {"version", version_or_null(served[i].second)},
                      {"counters", counters}});
  }
  return {{"versions", versions}, {"lcores", lcores}, {"committed", version_or_null(committed)},
          {"previous_committed", version_or_null(previous)}, {"memory_bytes", reg_.memory_bytes()},
          {"rss_bytes", rss_bytes()}};
}

json ControlAgent::cmd_health() {
  bool alive = hooks_.lcores_alive ? hooks_.lcores_alive() : true;
  double up = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  return {{"healthy", alive}, {"uptime_s", up}, {"lcores_alive", alive}};
}

json ControlAgent::cmd_drop(const json& req) {
  std::string hex = string_field(req, "version");
  reg_.drop(hex);
  return {{"dropped", hex}};
}

}  // namespace edgedns::dp
