// EDNS and header compliance as ISC's EDNS compliance tester checks it
// (ednscomp / genreport; the tests are written down in RFC 8906 §8), each
// case asserted against zones::answer_query, plus the no-amplification rule:
// a UDP response never exceeds what the client advertised (512 without EDNS,
// max(512, OPT size) with it, capped by our own 1232), ANY stays minimal.
// Then NSID (RFC 5001): sent only when asked and configured, naming the
// version of the zone set that answered, within the size limit.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "tests/zones/compile_text.hh"
#include "zones/answer.hh"
#include "zones/load.hh"
#include "zones/name.hh"
#include "zones/rrtype.hh"
#include "zones/snapshot.hh"
#include "zones/version.hh"

using namespace edgedns::zones;

namespace {

// A zone with the record sets the tester asks for (SOA, DNSKEY) and big ones
// that cannot fit 512 or 1232 bytes, for the size checks.
std::string zone_text() {
  std::string z =
      "$ORIGIN comp.test.\n"
      "$TTL 3600\n"
      "@ SOA ns1 hostmaster 2024010101 7200 3600 1209600 300\n"
      "@ NS ns1\n@ NS ns2\n@ NS ns3\n@ NS ns4\n"
      "ns1 A 192.0.2.1\nns1 AAAA 2001:db8::1\n"
      "ns2 A 192.0.2.2\nns2 AAAA 2001:db8::2\n"
      "ns3 A 192.0.2.3\nns3 AAAA 2001:db8::3\n"
      "ns4 A 192.0.2.4\nns4 AAAA 2001:db8::4\n"
      "www A 192.0.2.80\n"
      "alias CNAME big\n"
      "*.wild TXT \"wildcard\"\n";
  // Six 2048-bit-sized DNSKEYs (256-byte keys): ~1.6 KB, as a signed zone's
  // key set with a rollover in progress.
  std::string key;
  for (int i = 0; i < 344; ++i)
    key += "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"[i % 64];
  for (int i = 0; i < 6; ++i)
    z += "@ DNSKEY " + std::to_string(i < 2 ? 257 : 256) + " 3 8 " + char('A' + i) + key.substr(1) +
         "\n";
  for (int i = 0; i < 6; ++i)
    z += "@ MX " + std::to_string(10 * i) + " mx" + std::to_string(i) + "\n";
  for (int i = 0; i < 6; ++i) {
    z += "mx" + std::to_string(i) + " A 192.0.2." + std::to_string(20 + i) + "\n";
    z += "mx" + std::to_string(i) + " AAAA 2001:db8::" + std::to_string(20 + i) + "\n";
  }
  // 40 TXT of ~250 bytes: 10 KB, the classic amplification target.
  for (int i = 0; i < 40; ++i)
    z += "big TXT \"" + std::string(240, char('a' + i % 26)) + std::to_string(i) + "\"\n";
  for (int i = 0; i < 8; ++i) z += "big A 198.51.100." + std::to_string(i + 1) + "\n";
  for (int i = 0; i < 60; ++i) z += "many A 203.0.113." + std::to_string(i + 1) + "\n";
  for (int i = 0; i < 60; ++i) z += "many AAAA 2001:db8:1::" + std::to_string(i + 1) + "\n";
  // A delegation with 13 servers and glue for each: a big referral.
  for (int i = 0; i < 13; ++i) {
    std::string ns = std::string("n").append(std::to_string(i)).append(".deleg");
    z += "deleg NS " + ns + "\n" + ns + " A 192.0.2." + std::to_string(100 + i) + "\n" + ns +
         " AAAA 2001:db8:2::" + std::to_string(100 + i) + "\n";
  }
  return z;
}

constexpr uint16_t kType666 = 666;
constexpr uint16_t kOptUnknown = 100;  // RFC 8906 §8.2.3: "+ednsopt=100"

struct RR {
  uint16_t type = 0;
  std::vector<uint8_t> rdata;
};
struct Msg {
  uint16_t id = 0, flags = 0;
  uint16_t count[4] = {0, 0, 0, 0};
  int rcode = 0;           // header rcode | extended bits from the OPT
  std::vector<RR> sec[4];  // OPT is not in sec[3]
  bool has_opt = false;
  int opt_count = 0;
  uint16_t opt_size = 0;
  uint8_t opt_version = 0;
  uint16_t opt_flags = 0;
  std::vector<uint8_t> opt_rdata;
  size_t len = 0;
};

size_t skip_name(const std::vector<uint8_t>& m, size_t off) {
  for (int guard = 0; guard < 128; ++guard) {
    if (off >= m.size()) throw std::runtime_error("name past end");
    uint8_t l = m[off];
    if ((l & 0xc0) == 0xc0) return off + 2;
    if (l == 0) return off + 1;
    off += 1 + l;
  }
  throw std::runtime_error("name too long");
}

Msg decode(const std::vector<uint8_t>& m) {
  Msg r;
  r.len = m.size();
  if (m.size() < 12) throw std::runtime_error("short");
  r.id = rd16(&m[0]);
  r.flags = rd16(&m[2]);
  r.rcode = r.flags & 0xf;
  for (int i = 0; i < 4; ++i) r.count[i] = rd16(&m[4 + 2 * i]);
  size_t off = 12;
  for (int i = 0; i < r.count[0]; ++i) off = skip_name(m, off) + 4;
  for (int s = 1; s < 4; ++s)
    for (int i = 0; i < r.count[s]; ++i) {
      off = skip_name(m, off);
      if (off + 10 > m.size()) throw std::runtime_error("rr past end");
      RR rr;
      rr.type = rd16(&m[off]);
      uint16_t cls = rd16(&m[off + 2]);
      uint32_t ttl = rd32(&m[off + 4]);
      uint16_t rdlen = rd16(&m[off + 8]);
      off += 10;
      if (off + rdlen > m.size()) throw std::runtime_error("rdata past end");
      rr.rdata.assign(m.begin() + long(off), m.begin() + long(off + rdlen));
      off += rdlen;
      if (rr.type == rrtype::OPT) {
        r.has_opt = true;
        ++r.opt_count;
        r.opt_size = cls;
        r.rcode |= int(ttl >> 24) << 4;
        r.opt_version = uint8_t(ttl >> 16);
        r.opt_flags = uint16_t(ttl);
        r.opt_rdata = rr.rdata;
      } else {
        r.sec[s].push_back(std::move(rr));
      }
    }
  if (off != m.size()) throw std::runtime_error("trailing bytes");
  return r;
}

bool has_type(const std::vector<RR>& s, uint16_t t) {
  for (const auto& r : s)
    if (r.type == t) return true;
  return false;
}

// The option codes present in an OPT RDATA.
std::set<uint16_t> option_codes(const std::vector<uint8_t>& rd) {
  std::set<uint16_t> out;
  for (size_t o = 0; o + 4 <= rd.size(); o += 4 + rd16(&rd[o + 2])) out.insert(rd16(&rd[o]));
  return out;
}

// A query the way dig builds it for the tester. Options are (code, data).
struct QuerySpec {
  std::string name = "comp.test.";
  uint16_t type = rrtype::SOA;
  uint16_t qclass = rrclass::IN;
  uint8_t opcode = 0;
  bool rd = false;  // the tester uses +norec
  bool z = false;   // +zflag
  bool cd = false;
  bool edns = false;
  uint8_t version = 0;
  uint16_t bufsize = 4096;  // dig's default
  bool do_bit = false;
  uint16_t ednsflags = 0;  // the 15 bits below DO (+ednsflags)
  std::vector<std::pair<uint16_t, std::vector<uint8_t>>> options;
};

std::vector<uint8_t> build(const QuerySpec& s) {
  std::vector<uint8_t> q(12, 0);
  wr16(&q[0], 0x1234);
  uint16_t flags = uint16_t(s.opcode & 0xf) << 11;
  if (s.rd) flags |= hflag::RD;
  if (s.z) flags |= hflag::Z;
  if (s.cd) flags |= hflag::CD;
  wr16(&q[2], flags);
  wr16(&q[4], 1);
  Name n = Name::from_text(s.name);
  q.insert(q.end(), n.data(), n.data() + n.size());
  uint8_t t[4];
  wr16(t, s.type);
  wr16(t + 2, s.qclass);
  q.insert(q.end(), t, t + 4);
  if (s.edns) {
    wr16(&q[10], 1);
    std::vector<uint8_t> rd;
    for (const auto& [code, data] : s.options) {
      uint8_t h[4];
      wr16(h, code);
      wr16(h + 2, uint16_t(data.size()));
      rd.insert(rd.end(), h, h + 4);
      rd.insert(rd.end(), data.begin(), data.end());
    }
    uint8_t opt[11] = {0, 0, 41, 0, 0, 0, s.version, 0, 0, 0, 0};
    wr16(opt + 3, s.bufsize);
    wr16(opt + 7, uint16_t((s.do_bit ? 0x8000 : 0) | (s.ednsflags & 0x7fff)));
    wr16(opt + 9, uint16_t(rd.size()));
    q.insert(q.end(), opt, opt + 11);
    q.insert(q.end(), rd.begin(), rd.end());
  }
  return q;
}

class EdnsCompliance : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto dir =
        std::filesystem::temp_directory_path() / ("edns_compliance_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    auto path = (dir / "comp.test.zone").string();
    std::ofstream(path) << zone_text();
    LoadResult lr = load_zone_file(path);
    std::filesystem::remove_all(dir);
    for (const auto& d : lr.diagnostics)
      if (d.is_error()) ADD_FAILURE() << d.to_string();
    ASSERT_TRUE(lr.zone);
    std::vector<std::shared_ptr<const Zone>> zones{lr.zone};
    zs_ = ZoneSet::build(std::move(zones));
  }
  static void TearDownTestSuite() { zs_.reset(); }

  // Answers over UDP (or TCP) into a 64 KiB buffer, so that only the query
  // itself limits the size; `raw` gets the wire length.
  static Msg ask(const std::vector<uint8_t>& q, Transport t = Transport::Udp,
                 AnswerResult* res = nullptr, const AnswerConfig& cfg = {},
                 const ZoneSet* zs = nullptr) {
    std::vector<uint8_t> out(65535);
    AnswerResult r = answer_query(zs ? *zs : *zs_, q, out, t, cfg);
    if (res) *res = r;
    out.resize(r.len);
    if (r.len == 0) return Msg{};
    return decode(out);
  }
  static Msg ask(const QuerySpec& s, Transport t = Transport::Udp) { return ask(build(s), t); }

  static std::shared_ptr<const ZoneSet> zs_;
};
std::shared_ptr<const ZoneSet> EdnsCompliance::zs_;

void expect_soa_answer(const Msg& m) {
  EXPECT_EQ(m.rcode, rcode::NOERROR);
  EXPECT_TRUE(m.flags & hflag::AA);
  ASSERT_EQ(m.sec[1].size(), 1u);
  EXPECT_EQ(m.sec[1][0].type, rrtype::SOA);
}

}  // namespace

// §8.1.1 "dig +norec +noedns soa zone": NOERROR, SOA, AA, no OPT.
TEST_F(EdnsCompliance, PlainDns) {
  QuerySpec s;
  Msg m = ask(s);
  expect_soa_answer(m);
  EXPECT_EQ(m.id, 0x1234);
  EXPECT_FALSE(m.has_opt);
  EXPECT_TRUE(m.flags & hflag::QR);
}

// §8.1.1 over TCP ("tcp"): the same answer.
TEST_F(EdnsCompliance, PlainDnsOverTcp) {
  QuerySpec s;
  expect_soa_answer(ask(s, Transport::Tcp));
  s.edns = true;
  Msg m = ask(s, Transport::Tcp);  // "ednstcp"
  expect_soa_answer(m);
  EXPECT_TRUE(m.has_opt);
}

// §8.2.1 "+edns=0": NOERROR, SOA, OPT version 0.
TEST_F(EdnsCompliance, Edns0) {
  QuerySpec s;
  s.edns = true;
  Msg m = ask(s);
  expect_soa_answer(m);
  ASSERT_TRUE(m.has_opt);
  EXPECT_EQ(m.opt_count, 1);
  EXPECT_EQ(m.opt_version, 0);
  EXPECT_EQ(m.opt_size, 1232);  // our own advertised size
  EXPECT_EQ(m.opt_flags, 0);
}

// §8.2.2 "+edns=1 +noednsneg": BADVERS, OPT version 0, no SOA in the answer.
TEST_F(EdnsCompliance, Edns1IsBadvers) {
  QuerySpec s;
  s.edns = true;
  s.version = 1;
  Msg m = ask(s);
  EXPECT_EQ(m.rcode, rcode::BADVERS);
  ASSERT_TRUE(m.has_opt);
  EXPECT_EQ(m.opt_version, 0);
  EXPECT_TRUE(m.sec[1].empty());
  EXPECT_FALSE(has_type(m.sec[2], rrtype::SOA));
  // §8.2.5 "+edns=1 +ednsopt=100": still BADVERS, the option not echoed.
  s.options = {{kOptUnknown, {}}};
  Msg o = ask(s);
  EXPECT_EQ(o.rcode, rcode::BADVERS);
  EXPECT_EQ(o.opt_version, 0);
  EXPECT_TRUE(option_codes(o.opt_rdata).empty());
  // "+edns=1 +dnssec" (edns1do): BADVERS with DO echoed.
  s.options.clear();
  s.do_bit = true;
  Msg d = ask(s);
  EXPECT_EQ(d.rcode, rcode::BADVERS);
  EXPECT_EQ(d.opt_flags, 0x8000);
}

// §8.2.3 "+ednsopt=100": NOERROR, SOA, OPT version 0, option 100 not echoed.
TEST_F(EdnsCompliance, UnknownOptionNotEchoed) {
  QuerySpec s;
  s.edns = true;
  s.options = {{kOptUnknown, {}}};
  Msg m = ask(s);
  expect_soa_answer(m);
  ASSERT_TRUE(m.has_opt);
  EXPECT_EQ(m.opt_version, 0);
  EXPECT_EQ(option_codes(m.opt_rdata).count(kOptUnknown), 0u);
  s.options = {{kOptUnknown, {1, 2, 3, 4, 5}}, {65001, {'x'}}};
  Msg w = ask(s);
  expect_soa_answer(w);
  EXPECT_TRUE(option_codes(w.opt_rdata).empty());
}

// §8.2.4 "+ednsflags=0x80": NOERROR, SOA, the undefined flag not echoed (MBZ).
TEST_F(EdnsCompliance, UnknownFlagNotEchoed) {
  QuerySpec s;
  s.edns = true;
  for (uint16_t f : {uint16_t(0x80), uint16_t(0x4000), uint16_t(0x7fff)}) {
    s.ednsflags = f;
    Msg m = ask(s);
    expect_soa_answer(m);
    ASSERT_TRUE(m.has_opt);
    EXPECT_EQ(m.opt_flags, 0) << std::hex << f;
  }
}

// §8.2.6 "+dnssec" (do): NOERROR, SOA, DO echoed; with CD too (docd).
TEST_F(EdnsCompliance, DoEchoed) {
  QuerySpec s;
  s.edns = true;
  s.do_bit = true;
  Msg m = ask(s);
  expect_soa_answer(m);
  ASSERT_TRUE(m.has_opt);
  EXPECT_EQ(m.opt_flags, 0x8000);
  s.cd = true;
  Msg c = ask(s);
  expect_soa_answer(c);
  EXPECT_EQ(c.opt_flags, 0x8000);
  // RFC 4035 §3.1.6: an authoritative server SHOULD clear CD.
  EXPECT_FALSE(c.flags & hflag::CD);
  // DO with another undefined flag: only DO comes back.
  s.ednsflags = 0x80;
  EXPECT_EQ(ask(s).opt_flags, 0x8000);
}

// §8.2.7 "+bufsize=512 +dnssec dnskey": the reply fits 512 bytes (TC when it
// does not hold the whole RRset), OPT present.
TEST_F(EdnsCompliance, Buffer512) {
  QuerySpec s;
  s.edns = true;
  s.bufsize = 512;
  s.do_bit = true;
  s.type = rrtype::DNSKEY;
  AnswerResult r;
  Msg m = ask(build(s), Transport::Udp, &r);
  EXPECT_LE(r.len, 512);
  EXPECT_EQ(m.rcode, rcode::NOERROR);
  EXPECT_TRUE(m.flags & hflag::TC);  // six 256-byte keys never fit
  EXPECT_TRUE(m.has_opt);
  // The same over TCP: the whole set.
  Msg t = ask(s, Transport::Tcp);
  EXPECT_FALSE(t.flags & hflag::TC);
  EXPECT_EQ(t.sec[1].size(), 6u);
  // And a SOA fits 512 whole.
  s.type = rrtype::SOA;
  Msg soa = ask(build(s), Transport::Udp, &r);
  EXPECT_LE(r.len, 512);
  expect_soa_answer(soa);
}

// §8.2.9-8.2.10: a list of known options (NSID, ECS, EXPIRE, COOKIE, and
// keepalive/padding): a normal answer; none is implemented, none echoed.
TEST_F(EdnsCompliance, KnownOptionList) {
  QuerySpec s;
  s.edns = true;
  s.options = {{3, {}},                         // NSID
               {8, {0, 1, 0, 0}},               // ECS 0.0.0.0/0
               {9, {}},                         // EXPIRE
               {10, {1, 2, 3, 4, 5, 6, 7, 8}},  // COOKIE, client part
               {11, {}},                        // TCP keepalive
               {12, {0, 0, 0, 0}}};             // padding
  Msg m = ask(s);
  expect_soa_answer(m);
  ASSERT_TRUE(m.has_opt);
  EXPECT_EQ(m.opt_version, 0);
  EXPECT_TRUE(option_codes(m.opt_rdata).empty());
  // Each on its own, too.
  for (const auto& o : std::vector<std::pair<uint16_t, std::vector<uint8_t>>>(s.options)) {
    QuerySpec one = s;
    one.options = {o};
    Msg x = ask(one);
    expect_soa_answer(x);
    EXPECT_EQ(option_codes(x.opt_rdata).count(o.first), 0u) << o.first;
  }
}

// §8.1.2 "+opcode=15": NOTIMP, no SOA in any section, AA clear; with EDNS too.
TEST_F(EdnsCompliance, Opcode15) {
  QuerySpec s;
  s.opcode = 15;
  Msg m = ask(s);
  EXPECT_EQ(m.rcode, rcode::NOTIMP);
  EXPECT_FALSE(m.flags & hflag::AA);
  EXPECT_EQ((m.flags >> 11) & 0xf, 15);  // the opcode is copied
  EXPECT_EQ(m.count[1], 0);
  EXPECT_EQ(m.count[2], 0);
  EXPECT_EQ(m.count[3], 0);
  EXPECT_FALSE(m.has_opt);
  s.edns = true;
  Msg e = ask(s);
  EXPECT_EQ(e.rcode, rcode::NOTIMP);
  EXPECT_FALSE(e.flags & hflag::AA);
  EXPECT_EQ(e.count[1], 0);
  EXPECT_EQ(e.count[2], 0);
  EXPECT_TRUE(e.sec[3].empty());  // nothing but the OPT
  EXPECT_TRUE(e.has_opt);
}

// §8.1.3 "type666": NOERROR, empty answer, AA.
TEST_F(EdnsCompliance, UnknownType) {
  QuerySpec s;
  s.type = kType666;
  Msg m = ask(s);
  EXPECT_EQ(m.rcode, rcode::NOERROR);
  EXPECT_TRUE(m.flags & hflag::AA);
  EXPECT_TRUE(m.sec[1].empty());
  EXPECT_TRUE(has_type(m.sec[2], rrtype::SOA));  // NODATA carries the SOA
  s.edns = true;
  Msg e = ask(s);
  EXPECT_EQ(e.rcode, rcode::NOERROR);
  EXPECT_TRUE(e.flags & hflag::AA);
  EXPECT_TRUE(e.sec[1].empty());
}

// §8.1.4 "+zflag": NOERROR, SOA, Z clear in the reply; with EDNS too.
TEST_F(EdnsCompliance, ZFlagCleared) {
  QuerySpec s;
  s.z = true;
  Msg m = ask(s);
  expect_soa_answer(m);
  EXPECT_FALSE(m.flags & hflag::Z);
  s.edns = true;
  Msg e = ask(s);
  expect_soa_answer(e);
  EXPECT_FALSE(e.flags & hflag::Z);
  // Z on an error answer is cleared too.
  s.opcode = 15;
  EXPECT_FALSE(ask(s).flags & hflag::Z);
}

// §8.1.1 "+norec": RD not set in the reply; set when it was asked (RFC 1035 §4.1.1 copies it).
TEST_F(EdnsCompliance, RdCopied) {
  QuerySpec s;
  Msg m = ask(s);
  EXPECT_FALSE(m.flags & hflag::RD);
  EXPECT_FALSE(m.flags & hflag::RA);  // no recursion here
  s.rd = true;
  Msg r = ask(s);
  EXPECT_TRUE(r.flags & hflag::RD);
  EXPECT_FALSE(r.flags & hflag::RA);
  s.edns = true;
  s.rd = false;
  EXPECT_FALSE(ask(s).flags & hflag::RD);
}

// No amplification: for every query of the sample and every advertised size,
// the UDP reply fits the client's limit (512 without EDNS, max(512, OPT size)
// with it, and never above our 1232). Each reply still parses, keeps the
// question, and sets TC whenever it left answer records out.
TEST_F(EdnsCompliance, NeverLargerThanAdvertised) {
  const std::vector<std::string> names = {
      "comp.test.",         "big.comp.test.",    "many.comp.test.", "alias.comp.test.",
      "x.deleg.comp.test.", "a.wild.comp.test.", "nope.comp.test.", "www.comp.test."};
  const std::vector<uint16_t> types = {rrtype::A,      rrtype::AAAA, rrtype::TXT,
                                       rrtype::MX,     rrtype::NS,   rrtype::SOA,
                                       rrtype::DNSKEY, rrtype::ANY,  kType666};
  // 0 = no EDNS; the rest are OPT sizes.
  const std::vector<int> sizes = {0,    1,    100,  511,  512,  513,  600,
                                  1000, 1231, 1232, 1233, 1400, 4096, 65535};
  size_t checked = 0, truncated = 0;
  for (const auto& n : names)
    for (uint16_t t : types)
      for (int sz : sizes)
        for (bool dnssec : {false, true}) {
          if (sz == 0 && dnssec) continue;
          QuerySpec s;
          s.name = n;
          s.type = t;
          s.rd = true;
          s.edns = sz != 0;
          s.bufsize = uint16_t(sz);
          s.do_bit = dnssec;
          AnswerResult r;
          Msg m;
          try {
            m = ask(build(s), Transport::Udp, &r);
          } catch (const std::exception& e) {
            ADD_FAILURE() << n << " type " << t << " size " << sz << ": " << e.what();
            continue;
          }
          size_t limit = sz == 0 ? 512 : std::max(512, std::min(sz, 1232));
          ASSERT_GT(r.len, 0) << n << " type " << t << " size " << sz;
          EXPECT_LE(r.len, limit) << n << " type " << t << " size " << sz;
          EXPECT_EQ(m.count[0], 1) << n << " type " << t << " size " << sz;
          EXPECT_EQ(m.has_opt, s.edns) << n << " type " << t << " size " << sz;
          // Compare with TCP: whatever UDP left out of the answer is signalled by TC.
          Msg full = ask(s, Transport::Tcp);
          if (m.sec[1].size() < full.sec[1].size()) {
            EXPECT_TRUE(m.flags & hflag::TC) << n << " type " << t << " size " << sz;
          }
          if (m.flags & hflag::TC) ++truncated;
          ++checked;
        }
  EXPECT_GT(truncated, 0u);  // the sample does exercise the limit
  EXPECT_GT(checked, 1000u);
}

// RFC 8482 §4.2: ANY is answered with one RRset (the smallest-typed one), so
// an ANY is no bigger than some ordinary query for the same name.
TEST_F(EdnsCompliance, AnyIsMinimal) {
  for (const std::string n : {"comp.test.", "big.comp.test.", "many.comp.test."}) {
    QuerySpec s;
    s.name = n;
    s.type = rrtype::ANY;
    s.edns = true;
    s.bufsize = 65535;
    Msg m = ask(s, Transport::Tcp);
    ASSERT_FALSE(m.sec[1].empty()) << n;
    std::set<uint16_t> types;
    for (const auto& r : m.sec[1]) types.insert(r.type);
    EXPECT_EQ(types.size(), 1u) << n;
    // Its size equals the same query for that type.
    QuerySpec one = s;
    one.type = *types.begin();
    AnswerResult ra, ro;
    ask(build(s), Transport::Tcp, &ra);
    ask(build(one), Transport::Tcp, &ro);
    EXPECT_EQ(ra.len, ro.len) << n;
  }
}

namespace {

constexpr uint16_t kOptNsid = 3;

// The NSID option's payload, or "(none)".
std::string nsid_of(const Msg& m) {
  const auto& rd = m.opt_rdata;
  for (size_t o = 0; o + 4 <= rd.size(); o += 4 + rd16(&rd[o + 2]))
    if (rd16(&rd[o]) == kOptNsid)
      return std::string(reinterpret_cast<const char*>(&rd[o + 4]), rd16(&rd[o + 2]));
  return "(none)";
}

AnswerConfig nsid_cfg(std::string_view id, bool version = true) {
  AnswerConfig c;
  c.nsid = id;
  c.nsid_version = version;
  return c;
}

}  // namespace

// RFC 5001 §2.2: the identifier goes only into answers to queries that ask
// for it, with the version of the set that answered.
TEST_F(EdnsCompliance, NsidOnlyWhenAskedAndNamesTheAnsweringVersion) {
  const std::string v12 = zoneset_version(*zs_).hex().substr(0, 12);
  const AnswerConfig cfg = nsid_cfg("edge-1 lcore=3");
  QuerySpec s;
  s.edns = true;
  s.options = {{kOptNsid, {}}};
  Msg m = ask(build(s), Transport::Udp, nullptr, cfg);
  expect_soa_answer(m);
  EXPECT_EQ(nsid_of(m), "edge-1 lcore=3 v=" + v12);
  EXPECT_EQ(option_codes(m.opt_rdata), std::set<uint16_t>{kOptNsid});
  // Among other options, and over TCP.
  s.options = {{kOptUnknown, {1, 2}}, {kOptNsid, {}}};
  EXPECT_EQ(nsid_of(ask(build(s), Transport::Tcp, nullptr, cfg)), "edge-1 lcore=3 v=" + v12);
  // §2.3: a payload in the query is ignored.
  s.options = {{kOptNsid, {'x', 'y'}}};
  EXPECT_EQ(nsid_of(ask(build(s), Transport::Udp, nullptr, cfg)), "edge-1 lcore=3 v=" + v12);
  // Not asked: no option, the OPT is as without NSID configured.
  s.options.clear();
  Msg plain = ask(build(s), Transport::Udp, nullptr, cfg);
  EXPECT_TRUE(plain.opt_rdata.empty());
  s.options = {{kOptUnknown, {}}};
  EXPECT_TRUE(ask(build(s), Transport::Udp, nullptr, cfg).opt_rdata.empty());
  // Asked but not configured, or without EDNS at all (no OPT to carry it).
  s.options = {{kOptNsid, {}}};
  EXPECT_TRUE(ask(build(s)).opt_rdata.empty());
  s.edns = false;
  EXPECT_FALSE(ask(build(s), Transport::Udp, nullptr, cfg).has_opt);
  // Without the version part, exactly the identifier.
  s.edns = true;
  EXPECT_EQ(nsid_of(ask(build(s), Transport::Udp, nullptr, nsid_cfg("ns.example", false))),
            "ns.example");
}

// The version part comes from the set the answer is computed from.
TEST_F(EdnsCompliance, NsidVersionFollowsTheZoneSet) {
  auto other = ZoneSet::build({test::compile_text(
      "$ORIGIN comp.test.\n@ 60 SOA ns1 h 2 2 3 4 5\n@ 60 NS ns1\nns1 60 A 192.0.2.1\n")});
  QuerySpec s;
  s.edns = true;
  s.options = {{kOptNsid, {}}};
  const AnswerConfig cfg = nsid_cfg("n lcore=1");
  EXPECT_EQ(nsid_of(ask(build(s), Transport::Udp, nullptr, cfg, other.get())),
            "n lcore=1 v=" + zoneset_version(*other).hex().substr(0, 12));
  EXPECT_NE(zoneset_version(*other).hex().substr(0, 12), zoneset_version(*zs_).hex().substr(0, 12));
}

// The option fits the client's limit: the answer truncates instead, and a
// query that passes the general parse (another record in additional) asks too.
TEST_F(EdnsCompliance, NsidFitsTheSizeLimitAndTheGeneralParse) {
  const std::string longest(kMaxNsid, 'n');
  const AnswerConfig cfg = nsid_cfg(longest);
  for (uint16_t size : {uint16_t(512), uint16_t(1232)}) {
    QuerySpec s;
    s.name = "big.comp.test.";
    s.type = rrtype::TXT;
    s.edns = true;
    s.bufsize = size;
    s.options = {{kOptNsid, {}}};
    AnswerResult r;
    Msg m = ask(build(s), Transport::Udp, &r, cfg);
    EXPECT_LE(m.len, size);
    EXPECT_TRUE(m.flags & hflag::TC) << size;
    EXPECT_EQ(nsid_of(m).size(), kMaxNsid + 15) << size;
  }
  // Too long an identifier is never sent.
  const std::string huge(kMaxNsid + 1, 'x');
  QuerySpec s;
  s.edns = true;
  s.options = {{kOptNsid, {}}};
  EXPECT_EQ(nsid_of(ask(build(s), Transport::Udp, nullptr, nsid_cfg(huge))), "(none)");
  // An A record before the OPT in additional: the general walk.
  std::vector<uint8_t> q = build(s);
  const uint8_t a_rr[15] = {0, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1};
  size_t opt_at = q.size() - 11 - 4;  // the OPT with its one empty option
  q.insert(q.begin() + long(opt_at), a_rr, a_rr + sizeof a_rr);
  wr16(&q[10], 2);
  Msg g = ask(q, Transport::Udp, nullptr, cfg);
  expect_soa_answer(g);
  EXPECT_EQ(nsid_of(g).substr(0, 4), "nnnn");
}
