// dig-style rendering of a response (see dig_print.hh). Decodes compressed
// names itself; RDATA is decompressed into a scratch buffer for the types
// whose names may be compressed, then printed with rdata_to_text.
#include "control/dig_print.hh"

#include <cstdio>
#include <vector>

#include "zones/name.hh"
#include "zones/rdata.hh"
#include "zones/rrtype.hh"
#include "zones/wire.hh"

namespace edgedns::ctl {

using namespace edgedns::zones;

namespace {

// Reads a possibly compressed name at `off`; appends its uncompressed wire
// form to `out`. Returns the offset after the name in place, or 0.
size_t read_name(std::span<const uint8_t> m, size_t off, std::vector<uint8_t>& out) {
  size_t after = 0;
  int jumps = 0;
  size_t total = 0;
  while (off < m.size()) {
    uint8_t l = m[off];
    if ((l & 0xc0) == 0xc0) {
      if (off + 1 >= m.size() || ++jumps > 64) return 0;
      if (!after) after = off + 2;
      off = size_t(l & 0x3f) << 8 | m[off + 1];
      continue;
    }
    if (l > kMaxLabel || off + 1 + l > m.size()) return 0;
    total += l + 1u;
    if (total > kMaxName) return 0;
    out.insert(out.end(), m.begin() + off, m.begin() + off + 1 + l);
    off += 1u + l;
    if (l == 0) return after ? after : off;
  }
  return 0;
}

const char* rcode_text(unsigned rc) {
  static const char* t[] = {"NOERROR",  "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED",
                            "YXDOMAIN", "YXRRSET", "NXRRSET",  "NOTAUTH",  "NOTZONE"};
  if (rc < std::size(t)) return t[rc];
  if (rc == 16) return "BADVERS";
  return nullptr;
}

const char* opcode_text(unsigned op) {
  static const char* t[] = {"QUERY", "IQUERY", "STATUS", "RESERVED3", "NOTIFY", "UPDATE"};
  return op < std::size(t) ? t[op] : nullptr;
}

// RDATA with names decompressed, for the types that may compress them.
std::vector<uint8_t> rdata_plain(std::span<const uint8_t> m, size_t off, uint16_t rdlen,
                                 uint16_t type, bool& ok) {
  std::vector<uint8_t> out;
  ok = true;
  size_t end = off + rdlen;
  auto names = [&](size_t fixed, int count) {
    out.insert(out.end(), m.begin() + off, m.begin() + off + fixed);
    size_t o = off + fixed;
    for (int i = 0; i < count; ++i) {
      o = read_name(m, o, out);
      if (o == 0 || o > end) {
        ok = false;
        return;
      }
    }
    out.insert(out.end(), m.begin() + o, m.begin() + end);
  };
  switch (type) {
    case rrtype::NS:
    case rrtype::CNAME:
    case rrtype::PTR:
    case rrtype::DNAME: names(0, 1); break;
    case rrtype::MX:
      if (rdlen >= 2) names(2, 1);
      else ok = false;
      break;
    case rrtype::SRV:
      if (rdlen >= 6) names(6, 1);
      else ok = false;
      break;
    case rrtype::SOA: names(0, 2); break;
    default: out.assign(m.begin() + off, m.begin() + end);
  }
  return out;
}

}  // namespace

std::string format_response_dig(std::span<const uint8_t> m) {
  std::string s;
  char buf[256];
  if (m.size() < kHeaderSize)
    return ";; malformed: " + std::to_string(m.size()) + " bytes, no header\n";
  const uint8_t* p = m.data();
  uint16_t id = rd16(p), flags = rd16(p + 2);
  uint16_t cnt[4] = {rd16(p + 4), rd16(p + 6), rd16(p + 8), rd16(p + 10)};
  unsigned rc = flags & 0xf;
  unsigned op = (flags >> 11) & 0xf;

  // Find the OPT first: the header status shows the extended rcode.
  size_t off = kHeaderSize;
  std::string body, opt_text, err;
  const char* secnames[4] = {"QUESTION", "ANSWER", "AUTHORITY", "ADDITIONAL"};
  bool have_opt = false;
  for (int sec = 0; sec < 4 && err.empty(); ++sec) {
    std::string sect;
    for (unsigned i = 0; i < cnt[sec]; ++i) {
      std::vector<uint8_t> owner;
      size_t o = read_name(m, off, owner);
      if (o == 0) {
        err = "bad owner name in " + std::string(secnames[sec]);
        break;
      }
      if (sec == 0) {
        if (o + 4 > m.size()) {
          err = "question runs past the message";
          break;
        }
        std::string nm = name_to_text(owner.data(), owner.size());
        std::snprintf(buf, sizeof buf, ";%s\t\t%s\t%s\n", nm.c_str(),
                      rrclass_to_text(rd16(p + o + 2)).c_str(),
                      rrtype_to_text(rd16(p + o)).c_str());
        sect += buf;
        off = o + 4;
        continue;
      }
      if (o + 10 > m.size()) {
        err = "record header runs past the message";
        break;
      }
      uint16_t type = rd16(p + o), cls = rd16(p + o + 2);
      uint32_t ttl = rd32(p + o + 4);
      uint16_t rdlen = rd16(p + o + 8);
      if (o + 10 + rdlen > m.size()) {
        err = "RDATA runs past the message";
        break;
      }
      if (type == rrtype::OPT) {
        have_opt = true;
        rc |= (ttl >> 24) << 4;
        opt_text = ";; OPT PSEUDOSECTION:\n; EDNS: version: " + std::to_string((ttl >> 16) & 0xff) +
                   ", flags:" + ((ttl & 0x8000) ? " do" : "") + "; udp: " + std::to_string(cls) +
                   "\n";
        off = o + 10 + rdlen;
        cnt[3]--;  // dig does not count the OPT in ADDITIONAL
        --i;
        continue;
      }
      bool ok = true;
      std::vector<uint8_t> rd = rdata_plain(m, o + 10, rdlen, type, ok);
      if (!ok) {
        err = "bad name in RDATA";
        break;
      }
      std::string line = name_to_text(owner.data(), owner.size());
      line += '\t';
      line += std::to_string(ttl);
      line += '\t';
      line += rrclass_to_text(cls);
      line += '\t';
      line += rrtype_to_text(type);
      line += '\t';
      line += rdata_to_text(type, rd.data(), rd.size());
      sect += line + "\n";
      off = o + 10 + rdlen;
    }
    if (cnt[sec] || sec == 0) body += "\n;; " + std::string(secnames[sec]) + " SECTION:\n" + sect;
  }
  const char* rct = rcode_text(rc);
  const char* opt = opcode_text(op);
  s += ";; ->>HEADER<<- opcode: " + (opt ? std::string(opt) : std::to_string(op)) +
       ", status: " + (rct ? std::string(rct) : std::to_string(rc)) +
       ", id: " + std::to_string(id) + "\n";
  s += ";; flags:";
  if (flags & hflag::QR) s += " qr";
  if (flags & hflag::AA) s += " aa";
  if (flags & hflag::TC) s += " tc";
  if (flags & hflag::RD) s += " rd";
  if (flags & hflag::RA) s += " ra";
  if (flags & hflag::AD) s += " ad";
  if (flags & hflag::CD) s += " cd";
  std::snprintf(buf, sizeof buf, "; QUERY: %u, ANSWER: %u, AUTHORITY: %u, ADDITIONAL: %u\n", cnt[0],
                cnt[1], cnt[2], unsigned(cnt[3]) + (have_opt ? 1 : 0));
  s += buf;
  if (have_opt) s += "\n" + opt_text;
  s += body;
  if (!err.empty()) s += ";; malformed: " + err + "\n";
  s += "\n;; MSG SIZE  rcvd: " + std::to_string(m.size()) + "\n";
  return s;
}

}  // namespace edgedns::ctl

namespace edgedns::ctl {

bool parse_response(std::span<const uint8_t> m, ParsedResponse& out) {
  if (m.size() < kHeaderSize) return false;
  out = {};
  out.id = rd16(m.data());
  out.flags = rd16(m.data() + 2);
  out.rcode = uint8_t(out.flags & 0xf);
  uint16_t qd = rd16(m.data() + 4), an = rd16(m.data() + 6);
  size_t off = kHeaderSize;
  for (uint16_t i = 0; i < qd; ++i) {
    std::vector<uint8_t> skip;
    off = read_name(m, off, skip);
    if (!off || off + 4 > m.size()) return false;
    off += 4;
  }
  for (uint16_t i = 0; i < an; ++i) {
    ParsedRR rr;
    off = read_name(m, off, rr.owner);
    if (!off || off + 10 > m.size()) return false;
    rr.type = rd16(m.data() + off);
    rr.rclass = rd16(m.data() + off + 2);
    rr.ttl = uint32_t(rd16(m.data() + off + 4)) << 16 | rd16(m.data() + off + 6);
    uint16_t rdlen = rd16(m.data() + off + 8);
    off += 10;
    if (off + rdlen > m.size()) return false;
    bool ok = true;
    rr.rdata = rdata_plain(m, off, rdlen, rr.type, ok);
    if (!ok) return false;
    off += rdlen;
    out.answer.push_back(std::move(rr));
  }
  // Authority and additional only for the OPT's NSID: the answer is read.
  const unsigned rest = unsigned(rd16(m.data() + 8)) + rd16(m.data() + 10);
  for (unsigned i = 0; i < rest; ++i) {
    std::vector<uint8_t> owner;
    off = read_name(m, off, owner);
    if (!off || off + 10 > m.size()) break;
    const uint16_t type = rd16(m.data() + off), rdlen = rd16(m.data() + off + 8);
    off += 10;
    if (off + rdlen > m.size()) break;
    if (type == rrtype::OPT)
      for (size_t o = off; o + 4 <= off + rdlen;) {
        const uint16_t code = rd16(m.data() + o), len = rd16(m.data() + o + 2);
        if (o + 4 + len > off + rdlen) break;
        if (code == 3) out.nsid.emplace(reinterpret_cast<const char*>(m.data() + o + 4), len);
        o += 4 + len;
      }
    off += rdlen;
  }
  return true;
}

}  // namespace edgedns::ctl
