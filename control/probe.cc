#include "control/probe.hh"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <random>
#include <sstream>

#include "control/config.hh"
#include "control/dig_print.hh"
#include "zones/answer.hh"
#include "zones/rdata.hh"
#include "zones/rrtype.hh"
#include "zones/snapshot.hh"
#include "zones/wire.hh"

namespace edgedns::ctl {

using namespace edgedns::zones;

namespace {

const char* kRcodes[] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED"};

// With EDNS (so that fewer answers are truncated) and an empty NSID option
// (RFC 5001), which edgedns answers with the lcore and version.
std::vector<uint8_t> build_query(const Name& qname, uint16_t type, uint16_t id) {
  std::vector<uint8_t> q;
  // Reserved once: also keeps GCC 12's -Warray-bounds false positive away.
  q.reserve(kHeaderSize + qname.size() + 4 + 15);
  q.resize(kHeaderSize);
  wr16(q.data(), id);
  wr16(q.data() + 4, 1);
  wr16(q.data() + 10, 1);  // EDNS, so large RRsets are not truncated
  q.insert(q.end(), qname.data(), qname.data() + qname.size());
  uint8_t tail[4];
  wr16(tail, type);
  wr16(tail + 2, rrclass::IN);
  q.insert(q.end(), tail, tail + 4);
  uint8_t opt[15] = {0, 0, 41, 0, 0, 0, 0, 0, 0, 0, 4, 0, 3, 0, 0};
  wr16(opt + 3, 1232);
  q.insert(q.end(), opt, opt + sizeof opt);
  return q;
}

void collect(const ParsedResponse& pr, uint16_t type, ProbeResult& r) {
  r.answered = true;
  r.rcode = pr.rcode;
  for (const auto& rr : pr.answer)
    if (rr.type == type)
      r.rdatas.emplace(reinterpret_cast<const char*>(rr.rdata.data()), rr.rdata.size());
}

std::string set_text(uint16_t type, const std::set<std::string>& s) {
  if (s.empty()) return "(no data)";
  std::string out;
  for (const auto& rd : s)
    out += (out.empty() ? "" : " | ") +
           rdata_to_text(type, reinterpret_cast<const uint8_t*>(rd.data()), rd.size());
  return out;
}

}  // namespace

std::string rcode_name(uint8_t rc) {
  return rc < std::size(kRcodes) ? kRcodes[rc] : "RCODE" + std::to_string(rc);
}

std::string Probe::describe() const { return name + " " + rrtype_to_text(type); }

std::vector<Probe> parse_probes(const std::string& text, const std::string& file) {
  std::vector<Probe> out;
  std::istringstream in(text);
  std::string line;
  size_t lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    std::string where = file + ":" + std::to_string(lineno);
    size_t hash = line.find('#');
    std::string body = line.substr(0, hash);
    std::istringstream ls(body);
    std::string name, type, rcode;
    if (!(ls >> name)) continue;
    if (!(ls >> type >> rcode)) throw ConfigError(where + ": expected NAME TYPE RCODE [RDATA]");
    std::string rdata;
    std::getline(ls, rdata);
    Probe p;
    try {
      p.name = Name::from_text(name).to_text();
    } catch (const std::exception& e) {
      throw ConfigError(where + ": name '" + name + "': " + e.what());
    }
    auto t = rrtype_from_text(type);
    if (!t) throw ConfigError(where + ": unknown type '" + type + "'");
    p.type = *t;
    bool found = false;
    for (uint8_t i = 0; i < std::size(kRcodes); ++i)
      if (strcasecmp(rcode.c_str(), kRcodes[i]) == 0) p.rcode = i, found = true;
    if (!found)
      throw ConfigError(where + ": unknown rcode '" + rcode +
                        "' (NOERROR, NXDOMAIN, SERVFAIL, REFUSED, ...)");
    p.origin = where;
    if (rdata.find_first_not_of(" \t\r") != std::string::npos) {
      // The zone parser reads the RDATA, so the probes file uses zone-file syntax.
      std::string z = p.name + " 300 IN " + rrtype_to_text(p.type) + " " + rdata + "\n";
      ParseResult pr = parse_zone_text(z, where, {.origin = "."});
      if (pr.has_errors() || pr.zone.records.size() != 1) {
        std::string why = pr.diagnostics.empty() ? "unreadable" : pr.diagnostics.front().message;
        throw ConfigError(where + ": RDATA '" + rdata + "': " + why);
      }
      const Record& r = pr.zone.records[0];
      p.check_rdata = true;
      p.rdatas.emplace(reinterpret_cast<const char*>(pr.zone.rdata(r)), r.rdata_len);
    }
    bool merged = false;
    for (auto& q : out)
      if (q.name == p.name && q.type == p.type) {
        if (q.rcode != p.rcode)
          throw ConfigError(where + ": expects another rcode for " + p.describe() + " than " +
                            q.origin);
        q.check_rdata |= p.check_rdata;
        q.rdatas.insert(p.rdatas.begin(), p.rdatas.end());
        merged = true;
      }
    if (!merged) out.push_back(std::move(p));
  }
  return out;
}

namespace {

// The zones that can answer for `names`: every zone at or above one of them
// (the longest such apex answers, as on a node). Of a 100,000-zone set, a
// probe compiles the one or two zones it is about, not all of them.
std::vector<const LoadedZone*> zones_for(const std::vector<LoadedZone>& zones,
                                         const std::vector<Name>& names) {
  std::vector<const LoadedZone*> out;
  for (const auto& z : zones) {
    const Name apex = z.data.origin.lower();
    for (const auto& n : names) {
      const Name ln = n.lower();
      if (lower_name_below_or_equal(ln.data(), ln.size(), apex.data(), apex.size())) {
        out.push_back(&z);
        break;
      }
    }
  }
  return out;
}

std::shared_ptr<const ZoneSet> compile_set(const std::vector<const LoadedZone*>& zones) {
  std::vector<std::shared_ptr<const Zone>> compiled;
  for (const auto* z : zones) {
    ZoneData copy = z->data;
    compiled.push_back(compile_zone(std::move(copy)));
  }
  return ZoneSet::build(std::move(compiled));
}

// The full answer (TCP: never truncated) `zs` gives, as an expectation.
std::optional<ProbeAnswer> answer_offline(const ZoneSet& zs, const Name& qn, uint16_t type) {
  auto q = build_query(qn, type, 1);
  std::vector<uint8_t> resp(65535);
  AnswerResult ar = answer_query(zs, q, resp, Transport::Tcp);
  ParsedResponse pr;
  if (!ar.len || !parse_response({resp.data(), ar.len}, pr)) return std::nullopt;
  ProbeResult got;
  collect(pr, type, got);
  return ProbeAnswer{got.rcode, true, std::move(got.rdatas)};
}

}  // namespace

std::vector<Probe> auto_probes(const std::vector<LoadedZone>& previous,
                               const std::vector<std::string>& names, size_t n) {
  std::vector<Probe> out;
  if (previous.empty() || names.empty() || n == 0) return out;
  // Spread the picks over the list rather than taking the first n.
  size_t step = std::max<size_t>(1, names.size() / n);
  std::vector<Name> picked;
  for (size_t i = 0; i < names.size() && picked.size() < n; i += step)
    picked.push_back(Name::from_text(names[i]));
  const auto relevant = zones_for(previous, picked);
  auto zs = compile_set(relevant);
  for (const Name& qn : picked) {
    // Ask for the first type the owner has in the previous version.
    uint16_t type = rrtype::A;
    for (const auto* z : relevant)
      for (const Record& r : z->data.records)
        if (name_equal(z->data.owner(r), r.owner_len, qn.data(), qn.size())) {
          type = r.type;
          goto found;
        }
  found:
    auto expect = answer_offline(*zs, qn, type);
    if (!expect) continue;
    Probe p;
    p.name = qn.to_text();
    p.type = type;
    p.rcode = expect->rcode;
    p.check_rdata = true;
    p.rdatas = expect->rdatas;
    p.origin = "auto";
    p.previous = std::move(expect);  // untouched: the same on either version
    out.push_back(std::move(p));
  }
  return out;
}

void expect_previous(std::vector<Probe>& probes, const std::vector<LoadedZone>& previous) {
  if (previous.empty()) return;
  bool needed = false;
  for (const auto& p : probes) needed |= !p.previous;
  if (!needed) return;
  std::vector<Name> names;
  for (const auto& p : probes)
    if (!p.previous) names.push_back(Name::from_text(p.name));
  auto zs = compile_set(zones_for(previous, names));
  for (auto& p : probes)
    if (!p.previous) p.previous = answer_offline(*zs, Name::from_text(p.name), p.type);
}

std::optional<Nsid> parse_nsid(std::string_view text) {
  Nsid n;
  size_t at = 0;
  bool first = true;
  while (at < text.size()) {
    size_t sp = text.find(' ', at);
    std::string_view tok = text.substr(at, sp == std::string_view::npos ? sp : sp - at);
    at = sp == std::string_view::npos ? text.size() : sp + 1;
    if (tok.empty()) continue;
    if (first) {
      n.node = std::string(tok);
      first = false;
    } else if (tok == "tcp") {
      n.tcp = true;
    } else if (tok.substr(0, 6) == "lcore=" && tok.size() > 6 && tok.size() <= 12) {
      int v = 0;
      for (char c : tok.substr(6)) {
        if (c < '0' || c > '9') return std::nullopt;
        v = v * 10 + (c - '0');
      }
      n.lcore = v;
    } else if (tok.substr(0, 2) == "v=") {
      if (tok.size() != 14) return std::nullopt;
      for (char c : tok.substr(2))
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return std::nullopt;
      n.version = std::string(tok.substr(2));
    }
  }
  if (n.node.empty() || n.lcore < 0 || n.version.empty()) return std::nullopt;
  return n;
}

namespace {

bool probe_address(const std::string& address, sockaddr_storage& ss, socklen_t& sl) {
  std::string host = address;
  uint16_t port = 53;
  if (!host.empty() && host[0] == '[') {
    size_t close = host.find(']');
    if (close != std::string::npos && close + 1 < host.size() && host[close + 1] == ':')
      port = uint16_t(std::atoi(host.c_str() + close + 2));
    host = host.substr(1, close == std::string::npos ? std::string::npos : close - 1);
  } else if (std::count(host.begin(), host.end(), ':') == 1) {
    port = uint16_t(std::atoi(host.c_str() + host.find(':') + 1));
    host = host.substr(0, host.find(':'));
  }
  ss = {};
  auto* s4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* s6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET, host.c_str(), &s4->sin_addr) == 1) {
    s4->sin_family = AF_INET;
    s4->sin_port = htons(port);
    sl = sizeof *s4;
    return true;
  }
  if (inet_pton(AF_INET6, host.c_str(), &s6->sin6_addr) == 1) {
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(port);
    sl = sizeof *s6;
    return true;
  }
  return false;
}

using Deadline = std::chrono::steady_clock::time_point;

int ms_left(Deadline d) {
  auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(d - std::chrono::steady_clock::now());
  return left.count() > 0 ? int(left.count()) : 0;
}

// One UDP exchange from a new socket: the answer to `id`, or an error.
bool udp_exchange(const sockaddr_storage& ss, socklen_t sl, const std::vector<uint8_t>& q,
                  uint16_t id, Deadline deadline, ParsedResponse& pr, std::string& err) {
  int fd = ::socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    err = std::string("socket: ") + std::strerror(errno);
    return false;
  }
  if (::sendto(fd, q.data(), q.size(), 0, reinterpret_cast<const sockaddr*>(&ss), sl) < 0) {
    err = std::string("send: ") + std::strerror(errno);
    ::close(fd);
    return false;
  }
  std::vector<uint8_t> buf(65535);
  bool ok = false;
  for (int left; !ok && (left = ms_left(deadline)) > 0;) {
    pollfd pf{fd, POLLIN, 0};
    if (::poll(&pf, 1, left) <= 0) continue;
    ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
    if (n <= 0) continue;
    // Anything that is not the answer to this query id is ignored.
    ok = parse_response({buf.data(), size_t(n)}, pr) && pr.id == id && (pr.flags & 0x8000);
  }
  ::close(fd);
  if (!ok) err = "timeout";
  return ok;
}

// One TCP exchange (RFC 7766 framing) on a new connection.
bool tcp_exchange(const sockaddr_storage& ss, socklen_t sl, const std::vector<uint8_t>& q,
                  uint16_t id, Deadline deadline, ParsedResponse& pr, std::string& err) {
  int fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    err = std::string("socket: ") + std::strerror(errno);
    return false;
  }
  auto fail = [&](std::string why) {
    err = std::move(why);
    ::close(fd);
    return false;
  };
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&ss), sl) != 0 && errno != EINPROGRESS)
    return fail(std::string("connect: ") + std::strerror(errno));
  pollfd pf{fd, POLLOUT, 0};
  if (::poll(&pf, 1, ms_left(deadline)) <= 0) return fail("connect: timeout");
  int soerr = 0;
  socklen_t el = sizeof soerr;
  ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &el);
  if (soerr) return fail(std::string("connect: ") + std::strerror(soerr));
  std::vector<uint8_t> out = {uint8_t(q.size() >> 8), uint8_t(q.size())};
  out.insert(out.end(), q.begin(), q.end());
  for (size_t done = 0; done < out.size();) {
    ssize_t n = ::send(fd, out.data() + done, out.size() - done, MSG_NOSIGNAL);
    if (n > 0) {
      done += size_t(n);
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
      return fail(std::string("send: ") + std::strerror(errno));
    pollfd w{fd, POLLOUT, 0};
    if (::poll(&w, 1, ms_left(deadline)) <= 0) return fail("send: timeout");
  }
  std::vector<uint8_t> in;
  uint8_t buf[4096];
  for (;;) {
    if (in.size() >= 2 && in.size() >= 2 + (size_t(in[0]) << 8 | in[1])) break;
    pollfd r{fd, POLLIN, 0};
    if (::poll(&r, 1, ms_left(deadline)) <= 0) return fail("timeout");
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n == 0) return fail("connection closed before the answer");
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
      return fail(std::string("recv: ") + std::strerror(errno));
    if (n > 0) in.insert(in.end(), buf, buf + n);
  }
  ::close(fd);
  const size_t len = size_t(in[0]) << 8 | in[1];
  if (!parse_response({in.data() + 2, len}, pr) || pr.id != id || !(pr.flags & 0x8000)) {
    err = "not an answer to the query";
    return false;
  }
  return true;
}

}  // namespace

ProbeResult send_probe(const std::string& address, const Probe& p, double timeout_s) {
  ProbeResult r;
  sockaddr_storage ss;
  socklen_t sl = 0;
  if (!probe_address(address, ss, sl)) {
    r.error = "bad probe address '" + address + "'";
    return r;
  }
  static thread_local std::mt19937 rng(std::random_device{}());
  const auto timeout = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(timeout_s));
  const std::string within = " within " + std::to_string(int(timeout_s * 1000)) + " ms";
  const Name qn = Name::from_text(p.name);
  uint16_t id = uint16_t(rng());
  ParsedResponse pr;
  std::string err;
  if (!udp_exchange(ss, sl, build_query(qn, p.type, id), id,
                    std::chrono::steady_clock::now() + timeout, pr, err)) {
    r.error = err == "timeout"              ? "no answer from " + address + within
              : err.rfind("send: ", 0) == 0 ? "send to " + address + ": " + err.substr(6)
                                            : err;
    return r;
  }
  r.nsid_text = pr.nsid;
  if (pr.nsid) r.nsid = parse_nsid(*pr.nsid);
  if (pr.flags & hflag::TC) {
    // Truncated: what a resolver does next, the same question over TCP.
    r.truncated = true;
    id = uint16_t(rng());
    ParsedResponse tr;
    if (!tcp_exchange(ss, sl, build_query(qn, p.type, id), id,
                      std::chrono::steady_clock::now() + timeout, tr, err)) {
      r.error = "answer truncated (TC) and no TCP answer from " + address +
                (err == "timeout" ? within : ": " + err);
      return r;
    }
    if (tr.nsid) r.tcp_nsid = parse_nsid(*tr.nsid);
    collect(tr, p.type, r);
    return r;
  }
  collect(pr, p.type, r);
  return r;
}

std::string check_probe(const Probe& p, const ProbeAnswer& want, const ProbeResult& r) {
  if (!r.answered) return p.describe() + ": " + r.error;
  if (r.rcode != want.rcode)
    return p.describe() + ": rcode " + rcode_name(r.rcode) + ", expected " + rcode_name(want.rcode);
  if (want.check_rdata && r.rdatas != want.rdatas)
    return p.describe() + ": answer " + set_text(p.type, r.rdatas) + ", expected " +
           set_text(p.type, want.rdatas);
  return "";
}

std::string check_probe(const Probe& p, const ProbeResult& r) {
  return check_probe(p, ProbeAnswer{p.rcode, p.check_rdata, p.rdatas}, r);
}

void ProbeTally::add(const ProbeRun& r) {
  identified &= r.identified;
  for (const auto& [l, n] : r.by_lcore) by_lcore[l] += n;
}

std::string ProbeTally::note(const ProbeScope& s) const {
  if (!identified)
    return s.node +
           ": its answers carry no edgedns NSID (an older node?): lcores not identified, each "
           "probe sent " +
           std::to_string(s.repeats) + " times as before NSID";
  if (s.canary.empty()) return s.node + ": " + std::to_string(by_lcore.size()) + " lcores answered";
  std::string out = s.node + ":";
  int others = 0;
  for (const auto& [l, n] : by_lcore)
    if (std::find(s.canary.begin(), s.canary.end(), l) == s.canary.end()) others += n;
  for (int l : s.canary) {
    auto it = by_lcore.find(l);
    out += " canary lcore " + std::to_string(l) + " answered " +
           std::to_string(it == by_lcore.end() ? 0 : it->second) + ",";
  }
  return out + " other lcores " + std::to_string(others);
}

int probe_attempt_bound(const ProbeScope& s, size_t lcores_known) {
  constexpr int kMaxAttempts = 4096;
  const size_t per_lcore = 4 * size_t(std::max(1, s.repeats)) + 16;
  const size_t want = std::min<size_t>(kMaxAttempts, lcores_known * per_lcore);
  return std::max(s.min_attempts, int(want));
}

ProbeRun run_probe(const Probe& p, const ProbeScope& s, const std::function<ProbeResult()>& send) {
  ProbeRun run;
  const std::string head = "probe " +
                           (p.origin == "auto" ? std::string("(unchanged name)") : p.origin) +
                           " to " + s.node;
  auto canary = [&](int lcore) {
    return s.canary.empty() || std::find(s.canary.begin(), s.canary.end(), lcore) != s.canary.end();
  };
  auto is = [](const std::string& v12, const std::string& full) {
    return v12.size() == 12 && full.compare(0, 12, v12) == 0;
  };
  // The version an identified answer must come from; "" when it does not.
  auto wrong_version = [&](const Nsid& n, const char* what) -> std::string {
    const bool on_new = canary(n.lcore);
    if (is(n.version, on_new ? s.version : s.previous)) return "";
    return head + ": " + p.describe() + ": " + what + " from lcore " + std::to_string(n.lcore) +
           " (node id " + n.node + ") came from version " + n.version + ", expected " +
           (on_new ? s.version : s.previous).substr(0, 12) +
           (on_new ? (s.canary.empty() ? " (every lcore serves the new version in this stage)"
                                       : " (a canary lcore: the new version)")
                   : " (not a canary lcore: the previous version)");
  };
  std::set<int> known(s.canary.begin(), s.canary.end());
  auto covered = [&] {
    if (!run.identified) return run.attempts >= s.repeats;
    if (s.canary.empty()) return int(run.ok) >= s.repeats;
    for (int l : s.canary)
      if (auto it = run.by_lcore.find(l); it == run.by_lcore.end() || it->second < s.repeats)
        return false;
    return true;
  };
  while (!covered()) {
    if (run.attempts >= probe_attempt_bound(s, known.size())) {
      std::string by;
      for (const auto& [l, n] : run.by_lcore)
        by += (by.empty() ? "" : ", ") + std::to_string(l) + ": " + std::to_string(n);
      std::string short_of;
      for (int l : s.canary) {
        auto it = run.by_lcore.find(l);
        int got = it == run.by_lcore.end() ? 0 : it->second;
        if (got < s.repeats) {
          short_of = "canary lcore " + std::to_string(l) + " answered " + std::to_string(got) +
                     " of the " + std::to_string(s.repeats) + " times needed";
          break;
        }
      }
      run.failure = head + ": " + p.describe() + ": " + short_of + " in " +
                    std::to_string(run.attempts) +
                    " queries (answers by lcore: " + (by.empty() ? "none" : by) +
                    "); RSS does not spread this prober's source ports to it";
      return run;
    }
    ProbeResult r = send();
    ++run.attempts;
    if (!r.answered) {
      run.failure = head + ": " + check_probe(p, r);
      return run;
    }
    if (!r.nsid) {
      // An older node, or another server: today's check, `repeats` times.
      run.identified = false;
      std::string bad = check_probe(p, r);
      if (!bad.empty()) {
        run.failure = head + ": " + bad;
        return run;
      }
      ++run.ok;
      continue;
    }
    const Nsid& u = *r.nsid;
    known.insert(u.lcore);
    if (std::string bad = wrong_version(u, "the answer"); !bad.empty()) {
      run.failure = bad;
      return run;
    }
    // The content comes from the TCP retry when the UDP answer was truncated.
    const Nsid& from = r.truncated && r.tcp_nsid ? *r.tcp_nsid : u;
    if (&from != &u)
      if (std::string bad = wrong_version(from, "the TCP answer"); !bad.empty()) {
        run.failure = bad;
        return run;
      }
    const bool on_new = is(from.version, s.version);
    std::string bad = on_new       ? check_probe(p, r)
                      : p.previous ? check_probe(p, *p.previous, r)
                                   : std::string();
    if (!bad.empty()) {
      run.failure = head + " lcore " + std::to_string(from.lcore) + (from.tcp ? " (TCP)" : "") +
                    " on " + (on_new ? "the new" : "the previous") + " version " + from.version +
                    ": " + bad;
      return run;
    }
    ++run.ok;
    ++run.by_lcore[u.lcore];
  }
  return run;
}

}  // namespace edgedns::ctl
