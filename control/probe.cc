#include "control/probe.hh"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
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

std::vector<uint8_t> build_query(const Name& qname, uint16_t type, uint16_t id) {
  std::vector<uint8_t> q;
  // Reserved once: also keeps GCC 12's -Warray-bounds false positive away.
  q.reserve(kHeaderSize + qname.size() + 4 + 11);
  q.resize(kHeaderSize);
  wr16(q.data(), id);
  wr16(q.data() + 4, 1);
  wr16(q.data() + 10, 1);  // EDNS, so large RRsets are not truncated
  q.insert(q.end(), qname.data(), qname.data() + qname.size());
  uint8_t tail[4];
  wr16(tail, type);
  wr16(tail + 2, rrclass::IN);
  q.insert(q.end(), tail, tail + 4);
  uint8_t opt[11] = {0, 0, 41, 0, 0, 0, 0, 0, 0, 0, 0};
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

std::vector<Probe> auto_probes(const std::vector<LoadedZone>& previous,
                               const std::vector<std::string>& names, size_t n) {
  std::vector<Probe> out;
  if (previous.empty() || names.empty() || n == 0) return out;
  std::vector<std::shared_ptr<const Zone>> compiled;
  for (const auto& z : previous) {
    ZoneData copy = z.data;
    compiled.push_back(compile_zone(std::move(copy)));
  }
  auto zs = ZoneSet::build(std::move(compiled));
  // Spread the picks over the list rather than taking the first n.
  size_t step = std::max<size_t>(1, names.size() / n);
  for (size_t i = 0; i < names.size() && out.size() < n; i += step) {
    Name qn = Name::from_text(names[i]);
    // Ask for the first type the owner has in the previous version.
    uint16_t type = rrtype::A;
    for (const auto& z : previous)
      for (const Record& r : z.data.records)
        if (name_equal(z.data.owner(r), r.owner_len, qn.data(), qn.size())) {
          type = r.type;
          goto found;
        }
  found:
    auto q = build_query(qn, type, 1);
    std::vector<uint8_t> resp(65535);
    AnswerResult ar = answer_query(*zs, q, resp, Transport::Tcp);
    ParsedResponse pr;
    if (!ar.len || !parse_response({resp.data(), ar.len}, pr)) continue;
    ProbeResult expect;
    collect(pr, type, expect);
    Probe p;
    p.name = qn.to_text();
    p.type = type;
    p.rcode = expect.rcode;
    p.check_rdata = true;
    p.rdatas = std::move(expect.rdatas);
    p.origin = "auto";
    out.push_back(std::move(p));
  }
  return out;
}

ProbeResult send_probe(const std::string& address, const Probe& p, double timeout_s) {
  ProbeResult r;
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
  sockaddr_storage ss{};
  socklen_t sl = 0;
  auto* s4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* s6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET, host.c_str(), &s4->sin_addr) == 1) {
    s4->sin_family = AF_INET;
    s4->sin_port = htons(port);
    sl = sizeof *s4;
  } else if (inet_pton(AF_INET6, host.c_str(), &s6->sin6_addr) == 1) {
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(port);
    sl = sizeof *s6;
  } else {
    r.error = "bad probe address '" + address + "'";
    return r;
  }
  int fd = ::socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    r.error = std::string("socket: ") + std::strerror(errno);
    return r;
  }
  static thread_local std::mt19937 rng(std::random_device{}());
  uint16_t id = uint16_t(rng());
  auto q = build_query(Name::from_text(p.name), p.type, id);
  if (::sendto(fd, q.data(), q.size(), 0, reinterpret_cast<sockaddr*>(&ss), sl) < 0) {
    r.error = "send to " + address + ": " + std::strerror(errno);
    ::close(fd);
    return r;
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  std::vector<uint8_t> buf(65535);
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      r.error =
          "no answer from " + address + " within " + std::to_string(int(timeout_s * 1000)) + " ms";
      break;
    }
    pollfd pf{fd, POLLIN, 0};
    if (::poll(&pf, 1, int(left.count())) <= 0) continue;
    ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
    if (n <= 0) continue;
    ParsedResponse pr;
    // Anything that is not the answer to this query id is ignored.
    if (!parse_response({buf.data(), size_t(n)}, pr) || pr.id != id || !(pr.flags & 0x8000))
      continue;
    collect(pr, p.type, r);
    break;
  }
  ::close(fd);
  return r;
}

std::string check_probe(const Probe& p, const ProbeResult& r) {
  if (!r.answered) return p.describe() + ": " + r.error;
  if (r.rcode != p.rcode)
    return p.describe() + ": rcode " + rcode_name(r.rcode) + ", expected " + rcode_name(p.rcode);
  if (p.check_rdata && r.rdatas != p.rdatas)
    return p.describe() + ": answer " + set_text(p.type, r.rdatas) + ", expected " +
           set_text(p.type, p.rdatas);
  return "";
}

}  // namespace edgedns::ctl
