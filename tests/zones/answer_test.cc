// Answer engine: each rule of RFC 1034 §4.3.2 and friends, checked on parsed
// responses (sections, flags, rcode, TTLs, truncation, compression, 0x20).
// The expected behaviour was taken from knotd 3.2 on the same zones.
#include "zones/answer.hh"

#include <gtest/gtest.h>

#include "zones/load.hh"
#include "zones/rrtype.hh"
#include "zones/snapshot.hh"

using namespace edgedns::zones;

namespace {

struct RR {
  std::string owner;
  uint16_t type;
  uint32_t ttl;
  std::vector<uint8_t> rdata;
};
struct Msg {
  uint16_t id = 0, flags = 0;
  int rcode = 0;
  std::vector<RR> sec[4];
  bool has_opt = false;
  uint16_t opt_size = 0;
  uint32_t opt_ttl = 0;
  std::string qname;  // as written (case kept)
  size_t len = 0;
};

// Strict decoder: every pointer must point backwards into the message.
std::string read_name(const std::vector<uint8_t>& m, size_t& off) {
  std::string s;
  size_t o = off;
  bool jumped = false;
  for (int guard = 0; guard < 100; ++guard) {
    if (o >= m.size()) throw std::runtime_error("name past end");
    uint8_t l = m[o];
    if ((l & 0xc0) == 0xc0) {
      size_t t = size_t(l & 0x3f) << 8 | m.at(o + 1);
      if (t >= o) throw std::runtime_error("forward pointer");
      if (!jumped) off = o + 2;
      jumped = true;
      o = t;
      continue;
    }
    if (l == 0) {
      if (!jumped) off = o + 1;
      return s.empty() ? "." : s;
    }
    if (o + 1 + l > m.size()) throw std::runtime_error("label past end");
    s.append(reinterpret_cast<const char*>(&m[o + 1]), l);
    s += '.';
    o += 1 + l;
  }
  throw std::runtime_error("pointer loop");
}

Msg decode(const std::vector<uint8_t>& m) {
  Msg r;
  r.len = m.size();
  if (m.size() < 12) throw std::runtime_error("short");
  r.id = rd16(&m[0]);
  r.flags = rd16(&m[2]);
  r.rcode = r.flags & 0xf;
  uint16_t c[4] = {rd16(&m[4]), rd16(&m[6]), rd16(&m[8]), rd16(&m[10])};
  size_t off = 12;
  for (int i = 0; i < c[0]; ++i) {
    r.qname = read_name(m, off);
    off += 4;
  }
  for (int s = 1; s < 4; ++s)
    for (int i = 0; i < c[s]; ++i) {
      RR rr;
      rr.owner = read_name(m, off);
      if (off + 10 > m.size()) throw std::runtime_error("rr past end");
      rr.type = rd16(&m[off]);
      uint16_t cls = rd16(&m[off + 2]);
      rr.ttl = rd32(&m[off + 4]);
      uint16_t rdlen = rd16(&m[off + 8]);
      off += 10;
      if (off + rdlen > m.size()) throw std::runtime_error("rdata past end");
      if (rr.type == rrtype::OPT) {
        r.has_opt = true;
        r.opt_size = cls;
        r.opt_ttl = rr.ttl;
        r.rcode |= (rr.ttl >> 24) << 4;
      } else if (rr.type == rrtype::CNAME || rr.type == rrtype::NS || rr.type == rrtype::DNAME) {
        size_t o = off;
        std::string t = read_name(m, o);
        rr.rdata.assign(t.begin(), t.end());
        r.sec[s].push_back(rr);
      } else {
        rr.rdata.assign(m.begin() + off, m.begin() + off + rdlen);
        r.sec[s].push_back(rr);
      }
      off += rdlen;
    }
  if (off != m.size()) throw std::runtime_error("trailing bytes");
  return r;
}

std::vector<uint8_t> make_query(const std::string& name, uint16_t type, bool edns = false,
                                uint16_t bufsize = 1232, bool dnssec = false, uint16_t qclass = 1,
                                uint8_t version = 0) {
  std::vector<uint8_t> q(12, 0);
  wr16(&q[0], 0xbeef);
  wr16(&q[2], hflag::RD);
  wr16(&q[4], 1);
  Name n = Name::from_text(name);
  q.insert(q.end(), n.data(), n.data() + n.size());
  uint8_t t[4];
  wr16(t, type);
  wr16(t + 2, qclass);
  q.insert(q.end(), t, t + 4);
  if (edns) {
    wr16(&q[10], 1);
    uint8_t opt[11] = {0, 0, 41, 0, 0, 0, version, 0, 0, 0, 0};
    wr16(opt + 3, bufsize);
    if (dnssec) opt[7] = 0x80;
    q.insert(q.end(), opt, opt + 11);
  }
  return q;
}

class AnswerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::vector<std::shared_ptr<const Zone>> zones;
    for (const char* f : {"example.com.zone", "sub.example.com.zone", "example.net.zone"}) {
      LoadResult lr = load_zone_file(std::string(EDGEDNS_TEST_DATA) + "/engine/" + f);
      for (const auto& d : lr.diagnostics) ADD_FAILURE() << d.to_string();
      ASSERT_TRUE(lr.zone) << f;
      zones.push_back(lr.zone);
    }
    zs_ = ZoneSet::build(std::move(zones));
  }
  static void TearDownTestSuite() { zs_.reset(); }

  Msg ask(const std::vector<uint8_t>& q, Transport t = Transport::Udp, size_t outsize = 65535,
          AnswerResult* res = nullptr) {
    std::vector<uint8_t> out(outsize + 16, 0xab);
    AnswerResult r = answer_query(*zs_, q, std::span<uint8_t>(out.data(), outsize), t);
    for (size_t i = outsize; i < out.size(); ++i)
      EXPECT_EQ(out[i], 0xab) << "wrote past the buffer";
    if (res) *res = r;
    out.resize(r.len);
    if (r.len == 0) return Msg{};
    return decode(out);
  }
  Msg ask(const std::string& name, uint16_t type, bool edns = false) {
    return ask(make_query(name, type, edns));
  }

  static std::shared_ptr<const ZoneSet> zs_;
};
std::shared_ptr<const ZoneSet> AnswerTest::zs_;

}  // namespace

TEST_F(AnswerTest, ExactHit) {
  Msg m = ask("www.example.com.", rrtype::A);
  EXPECT_EQ(m.id, 0xbeef);
  EXPECT_TRUE(m.flags & hflag::QR);
  EXPECT_TRUE(m.flags & hflag::AA);
  EXPECT_TRUE(m.flags & hflag::RD);
  EXPECT_EQ(m.rcode, 0);
  ASSERT_EQ(m.sec[1].size(), 1u);
  EXPECT_EQ(m.sec[1][0].owner, "www.example.com.");
  EXPECT_EQ(m.sec[1][0].ttl, 3600u);
  EXPECT_EQ(m.sec[1][0].rdata, (std::vector<uint8_t>{192, 0, 2, 80}));
  EXPECT_TRUE(m.sec[2].empty());  // Knot: no NS in authority for positive answers
  EXPECT_FALSE(m.has_opt);
}

TEST_F(AnswerTest, CaseEchoed) {
  Msg m = ask("WwW.ExAmPlE.cOm.", rrtype::A);
  EXPECT_EQ(m.qname, "WwW.ExAmPlE.cOm.");
  ASSERT_EQ(m.sec[1].size(), 1u);
  EXPECT_EQ(m.sec[1][0].owner, "WwW.ExAmPlE.cOm.");
}

TEST_F(AnswerTest, CnameChain) {
  Msg m = ask("chain1.example.com.", rrtype::A);
  ASSERT_EQ(m.sec[1].size(), 4u);
  EXPECT_EQ(m.sec[1][0].type, rrtype::CNAME);
  EXPECT_EQ(m.sec[1][2].owner, "alias.example.com.");
  EXPECT_EQ(m.sec[1][3].owner, "www.example.com.");
  EXPECT_EQ(m.sec[1][3].type, rrtype::A);
}

TEST_F(AnswerTest, CnameLoopStops) {
  Msg m = ask("loop1.example.com.", rrtype::A);
  EXPECT_EQ(m.rcode, 0);
  ASSERT_EQ(m.sec[1].size(), 2u);
}

TEST_F(AnswerTest, CnameOutOfZoneNotFollowed) {
  Msg m = ask("ext.example.com.", rrtype::A);
  ASSERT_EQ(m.sec[1].size(), 1u);
  EXPECT_EQ(m.rcode, 0);
}

TEST_F(AnswerTest, DanglingCnameIsNxdomain) {
  Msg m = ask("dangling.example.com.", rrtype::A);
  EXPECT_EQ(m.rcode, rcode::NXDOMAIN);
  ASSERT_EQ(m.sec[1].size(), 1u);
  ASSERT_EQ(m.sec[2].size(), 1u);
  EXPECT_EQ(m.sec[2][0].type, rrtype::SOA);
}

TEST_F(AnswerTest, NxdomainSoaTtlIsMinimum) {
  Msg m = ask("nope.example.com.", rrtype::A);
  EXPECT_EQ(m.rcode, rcode::NXDOMAIN);
  EXPECT_TRUE(m.flags & hflag::AA);
  ASSERT_EQ(m.sec[2].size(), 1u);
  EXPECT_EQ(m.sec[2][0].owner, "example.com.");
  EXPECT_EQ(m.sec[2][0].ttl, 300u);  // min(3600, 300)
}

TEST_F(AnswerTest, NodataAndEnt) {
  Msg m = ask("www.example.com.", rrtype::MX);
  EXPECT_EQ(m.rcode, 0);
  EXPECT_TRUE(m.sec[1].empty());
  ASSERT_EQ(m.sec[2].size(), 1u);
  Msg e = ask("c.ent.example.com.", rrtype::A);
  EXPECT_EQ(e.rcode, 0);
  EXPECT_EQ(e.sec[2].size(), 1u);
}

TEST_F(AnswerTest, Wildcard) {
  Msg m = ask("x.y.wild.example.com.", rrtype::A);
  EXPECT_EQ(m.rcode, 0);
  ASSERT_EQ(m.sec[1].size(), 1u);
  EXPECT_EQ(m.sec[1][0].owner, "x.y.wild.example.com.");
  Msg nod = ask("x.wild.example.com.", rrtype::AAAA);
  EXPECT_EQ(nod.rcode, 0);
  EXPECT_TRUE(nod.sec[1].empty());
  Msg wc = ask("q.wc.example.com.", rrtype::A);
  ASSERT_EQ(wc.sec[1].size(), 2u);
  EXPECT_EQ(wc.sec[1][0].owner, "q.wc.example.com.");
  EXPECT_EQ(wc.sec[1][1].owner, "www.example.com.");
  // Closest encloser rule: an ENT below the wildcard's parent blocks it.
  Msg ce = ask("zz.c.ent.example.com.", rrtype::A);
  EXPECT_EQ(ce.rcode, rcode::NXDOMAIN);
}

TEST_F(AnswerTest, Dname) {
  Msg m = ask("foo.dn.example.com.", rrtype::A);
  ASSERT_EQ(m.sec[1].size(), 2u);
  EXPECT_EQ(m.sec[1][0].type, rrtype::DNAME);
  EXPECT_EQ(m.sec[1][1].type, rrtype::CNAME);
  EXPECT_EQ(std::string(m.sec[1][1].rdata.begin(), m.sec[1][1].rdata.end()), "foo.example.net.");
  Msg own = ask("dn.example.com.", rrtype::A);
  EXPECT_TRUE(own.sec[1].empty());
  EXPECT_EQ(own.sec[2].size(), 1u);
}

TEST_F(AnswerTest, ReferralWithGlue) {
  // sub.example.com is loaded as its own zone: it answers for itself...
  Msg child = ask("www.sub.example.com.", rrtype::A);
  EXPECT_TRUE(child.flags & hflag::AA);
  ASSERT_EQ(child.sec[1].size(), 1u);
  // ...but DS is answered from the parent.
  Msg ds = ask("sub.example.com.", rrtype::DS);
  EXPECT_TRUE(ds.flags & hflag::AA);
  ASSERT_EQ(ds.sec[1].size(), 1u);
  EXPECT_EQ(ds.sec[1][0].type, rrtype::DS);
}

TEST_F(AnswerTest, AdditionalForMx) {
  Msg m = ask("example.com.", rrtype::MX);
  ASSERT_EQ(m.sec[1].size(), 1u);
  ASSERT_EQ(m.sec[3].size(), 1u);
  EXPECT_EQ(m.sec[3][0].owner, "mail.example.com.");
  Msg ns = ask("example.com.", rrtype::NS);
  EXPECT_EQ(ns.sec[3].size(), 2u);  // ns1 A + AAAA; ns2.example.net is another zone
}

TEST_F(AnswerTest, AnyReturnsOneRrset) {
  Msg m = ask("example.com.", rrtype::ANY);
  ASSERT_EQ(m.sec[1].size(), 1u);
  EXPECT_EQ(m.sec[1][0].type, rrtype::A);  // lowest type, as knotd picks
}

TEST_F(AnswerTest, RefusedCases) {
  EXPECT_EQ(ask("www.example.org.", rrtype::A).rcode, rcode::REFUSED);
  EXPECT_EQ(ask(make_query("www.example.com.", rrtype::A, false, 0, false, rrclass::CH)).rcode,
            rcode::REFUSED);
  EXPECT_EQ(ask("example.com.", rrtype::AXFR).rcode, rcode::REFUSED);
  EXPECT_EQ(ask("example.com.", rrtype::IXFR).rcode, rcode::REFUSED);
  EXPECT_FALSE(ask("www.example.org.", rrtype::A).flags & hflag::AA);
}

TEST_F(AnswerTest, Edns) {
  Msg m = ask(make_query("www.example.com.", rrtype::A, true, 4096, true));
  ASSERT_TRUE(m.has_opt);
  EXPECT_EQ(m.opt_size, 1232);
  EXPECT_EQ(m.opt_ttl, 0x8000u);  // DO echoed, version 0
  Msg v = ask(make_query("www.example.com.", rrtype::A, true, 1232, false, 1, 1));
  EXPECT_EQ(v.rcode, rcode::BADVERS);
  EXPECT_TRUE(v.sec[1].empty());
  EXPECT_FALSE(v.flags & hflag::AA);
  // Unknown option and flags: ignored, not echoed.
  auto q = make_query("www.example.com.", rrtype::A, true);
  q[q.size() - 4] |= 0x40;  // an undefined EDNS flag
  const uint8_t option[] = {0xfd, 0xe9, 0, 2, 'h', 'i'};
  wr16(&q[q.size() - 2], sizeof option);
  q.insert(q.end(), option, option + sizeof option);
  Msg u = ask(q);
  ASSERT_TRUE(u.has_opt);
  EXPECT_EQ(u.opt_ttl, 0u);
  EXPECT_EQ(u.sec[1].size(), 1u);
}

TEST_F(AnswerTest, MalformedQueries) {
  AnswerResult r;
  auto q = make_query("www.example.com.", rrtype::A);
  // Too short for a header: dropped.
  ask(std::vector<uint8_t>(q.begin(), q.begin() + 11), Transport::Udp, 512, &r);
  EXPECT_EQ(r.len, 0);
  // QR=1: dropped.
  auto qr = q;
  qr[2] |= 0x80;
  ask(qr, Transport::Udp, 512, &r);
  EXPECT_EQ(r.len, 0);
  // QDCOUNT 2 or 0: FORMERR.
  auto q2 = q;
  q2[5] = 2;
  EXPECT_EQ(ask(q2).rcode, rcode::FORMERR);
  std::vector<uint8_t> q0(q.begin(), q.begin() + 12);
  q0[5] = 0;
  EXPECT_EQ(ask(q0).rcode, rcode::FORMERR);
  // Truncated question, trailing junk, two OPTs, OPT in authority: FORMERR.
  EXPECT_EQ(ask(std::vector<uint8_t>(q.begin(), q.end() - 2)).rcode, rcode::FORMERR);
  auto junk = q;
  junk.push_back(0);
  EXPECT_EQ(ask(junk).rcode, rcode::FORMERR);
  auto e = make_query("www.example.com.", rrtype::A, true);
  auto two = e;
  two[11] = 2;
  two.insert(two.end(), e.end() - 11, e.end());
  EXPECT_EQ(ask(two).rcode, rcode::FORMERR);
  auto auth = e;
  auth[11] = 0;
  auth[9] = 1;
  EXPECT_EQ(ask(auth).rcode, rcode::FORMERR);
  // A question name of 255 bytes (RFC 1035 §2.3.4's limit) parses; 256 is FORMERR.
  for (size_t last : {61u, 62u}) {
    std::vector<uint8_t> big(q.begin(), q.begin() + 12);
    for (size_t l : {size_t(63), size_t(63), size_t(63), last}) {
      big.push_back(uint8_t(l));
      big.insert(big.end(), l, 'a');
    }
    big.insert(big.end(), {0, 0, 1, 0, 1});  // root, A, IN
    Query pq;
    const QueryStatus st = parse_query(big, pq);
    if (last == 61) {
      EXPECT_EQ(st, QueryStatus::Ok);
      EXPECT_EQ(pq.qname_len, 255);
    } else {
      EXPECT_EQ(st, QueryStatus::FormErr);
      EXPECT_EQ(ask(big).rcode, rcode::FORMERR);
    }
  }
  // opcode != QUERY: NOTIMP.
  auto up = q;
  up[2] |= 5 << 3;
  Msg m = ask(up);
  EXPECT_EQ(m.rcode, rcode::NOTIMP);
  EXPECT_EQ((m.flags >> 11) & 0xf, 5);
}

TEST_F(AnswerTest, RecordOwnerPointerMustPointBackwards) {
  // An additional A record whose owner is a compression pointer: to the
  // question (legal), to itself, forward, past the end (FORMERR, as Knot).
  auto q = make_query("www.example.com.", rrtype::A);
  q[11] = 1;
  const size_t at = q.size();  // offset of the record's owner
  const uint8_t rr[] = {0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 1, 2, 3, 4};
  auto with_ptr = [&](uint16_t target) {
    auto m = q;
    m.push_back(uint8_t(0xc0 | target >> 8));
    m.push_back(uint8_t(target));
    m.insert(m.end(), rr, rr + sizeof rr);
    return m;
  };
  EXPECT_EQ(ask(with_ptr(12)).rcode, rcode::NOERROR);
  EXPECT_EQ(ask(with_ptr(uint16_t(at))).rcode, rcode::FORMERR);
  EXPECT_EQ(ask(with_ptr(uint16_t(at + 4))).rcode, rcode::FORMERR);
  EXPECT_EQ(ask(with_ptr(0x3ff)).rcode, rcode::FORMERR);
  EXPECT_EQ(ask(with_ptr(2)).rcode, rcode::FORMERR);  // into the header
}

TEST_F(AnswerTest, Truncation) {
  AnswerResult r;
  Msg m = ask(make_query("big.example.com.", rrtype::TXT), Transport::Udp, 65535, &r);
  EXPECT_TRUE(m.flags & hflag::TC);
  EXPECT_TRUE(m.flags & hflag::AA);
  EXPECT_TRUE(m.sec[1].empty());  // whole RRsets only
  EXPECT_LE(r.len, 512);
  Msg e = ask(make_query("big.example.com.", rrtype::TXT, true, 1232));
  EXPECT_FALSE(e.flags & hflag::TC);
  EXPECT_EQ(e.sec[1].size(), 6u);
  Msg t = ask(make_query("big.example.com.", rrtype::TXT), Transport::Tcp);
  EXPECT_FALSE(t.flags & hflag::TC);
  EXPECT_EQ(t.sec[1].size(), 6u);
}

TEST_F(AnswerTest, SmallBuffersNeverOverflow) {
  const std::vector<std::vector<uint8_t>> qs = {make_query("chain1.example.com.", rrtype::A, true),
                                                make_query("x.sub.example.com.", rrtype::A),
                                                make_query("big.example.com.", rrtype::TXT, true),
                                                make_query("nope.example.com.", rrtype::A, true),
                                                make_query("foo.dn.example.com.", rrtype::A),
                                                make_query("example.com.", rrtype::NS, true)};
  for (const auto& q : qs)
    for (size_t sz = 0; sz < 700; sz += 7) {
      AnswerResult r;
      Msg m = ask(q, Transport::Tcp, sz, &r);  // ask() checks the guard bytes and decodes strictly
      EXPECT_LE(r.len, sz);
    }
}

TEST_F(AnswerTest, CompressionPointsBackwards) {
  // decode() rejects forward pointers and checks every name; make sure names are compressed.
  auto q = make_query("example.com.", rrtype::NS);
  std::vector<uint8_t> out(512);
  AnswerResult r = answer_query(*zs_, q, out, Transport::Udp);
  ASSERT_GT(r.len, 0);
  out.resize(r.len);
  Msg m = decode(out);
  EXPECT_EQ(m.sec[1].size(), 2u);
  // Question 13+4, then NS owner as a 2-byte pointer.
  EXPECT_EQ(out[12 + 13 + 4], 0xc0);
  EXPECT_EQ(out[12 + 13 + 5], 12);
  EXPECT_EQ(r.len, 120);  // 29 question + 18 + 29 NS + 16 + 28 glue: every owner compressed
}

TEST_F(AnswerTest, InPlace) {
  auto q = make_query("www.example.com.", rrtype::A, true);
  std::vector<uint8_t> buf(q);
  buf.resize(1232);
  AnswerResult r =
      answer_query(*zs_, std::span<const uint8_t>(buf.data(), q.size()), buf, Transport::Udp);
  buf.resize(r.len);
  Msg m = decode(buf);
  EXPECT_EQ(m.sec[1].size(), 1u);
  EXPECT_EQ(m.id, 0xbeef);
}

TEST_F(AnswerTest, Referral) {
  Msg m = ask("a.b.child.example.com.", rrtype::A);
  EXPECT_FALSE(m.flags & hflag::AA);
  EXPECT_EQ(m.rcode, 0);
  EXPECT_TRUE(m.sec[1].empty());
  ASSERT_EQ(m.sec[2].size(), 2u);
  EXPECT_EQ(m.sec[2][0].type, rrtype::NS);
  EXPECT_EQ(m.sec[2][0].owner, "child.example.com.");
  ASSERT_EQ(m.sec[3].size(), 3u);  // ns.child A (glue), ns1 A + AAAA (in zone)
  Msg at = ask("child.example.com.", rrtype::NS);
  EXPECT_FALSE(at.flags & hflag::AA);
  EXPECT_EQ(at.sec[2].size(), 2u);
  Msg ds = ask("child.example.com.", rrtype::DS);  // no DS: NODATA from the parent
  EXPECT_TRUE(ds.flags & hflag::AA);
  EXPECT_EQ(ds.sec[2].size(), 1u);
  EXPECT_EQ(ds.sec[2][0].type, rrtype::SOA);
  Msg cn = ask("cn2child.example.com.", rrtype::A);  // CNAME into a delegation keeps AA
  EXPECT_TRUE(cn.flags & hflag::AA);
  EXPECT_EQ(cn.sec[1].size(), 1u);
  EXPECT_EQ(cn.sec[2].size(), 2u);
}

// ---- Chain, additional and error-answer rules pinned down against knotd 3.2 ----

TEST_F(AnswerTest, CnameNotFollowedForRrsigNsec) {
  // Knot answers RRSIG, NSEC (and CNAME, ANY) at the CNAME owner itself.
  for (uint16_t t : {rrtype::RRSIG, rrtype::NSEC}) {
    Msg m = ask("alias.example.com.", t);
    EXPECT_EQ(m.rcode, 0);
    EXPECT_TRUE(m.sec[1].empty()) << t;
    ASSERT_EQ(m.sec[2].size(), 1u);
    EXPECT_EQ(m.sec[2][0].type, rrtype::SOA);
  }
  Msg c = ask("alias.example.com.", rrtype::CNAME);
  ASSERT_EQ(c.sec[1].size(), 1u);
  EXPECT_EQ(c.sec[1][0].type, rrtype::CNAME);
}

TEST_F(AnswerTest, ChainEndsAfterFiveHops) {
  // h1 -> ... -> h6 -> www: the answer holds h1..h5 and ends there, no SOA.
  Msg m = ask("h1.example.com.", rrtype::A);
  EXPECT_EQ(m.rcode, 0);
  EXPECT_TRUE(m.flags & hflag::AA);
  ASSERT_EQ(m.sec[1].size(), 5u);
  for (const RR& rr : m.sec[1]) EXPECT_EQ(rr.type, rrtype::CNAME);
  EXPECT_EQ(m.sec[1][4].owner, "h5.example.com.");
  EXPECT_TRUE(m.sec[2].empty());
  // From h2 there are exactly five hops (h2..h6): www's A is reached.
  Msg m2 = ask("h2.example.com.", rrtype::A);
  ASSERT_EQ(m2.sec[1].size(), 6u);
  EXPECT_EQ(m2.sec[1][4].owner, "h6.example.com.");
  EXPECT_EQ(m2.sec[1][5].type, rrtype::A);
}

TEST_F(AnswerTest, WildcardCnameLoop) {
  // a.wl -> (*.wl) loop.wl -> (*.wl again): both synthesized CNAMEs, then stop.
  Msg m = ask("a.wl.example.com.", rrtype::A);
  EXPECT_EQ(m.rcode, 0);
  ASSERT_EQ(m.sec[1].size(), 2u);
  EXPECT_EQ(m.sec[1][0].owner, "a.wl.example.com.");
  EXPECT_EQ(m.sec[1][1].owner, "loop.wl.example.com.");
  EXPECT_EQ(std::string(m.sec[1][1].rdata.begin(), m.sec[1][1].rdata.end()),
            "loop.wl.example.com.");
  EXPECT_TRUE(m.sec[2].empty());
  // Asked by its own name, the wildcard's CNAME keeps its "*" owner.
  Msg w = ask("*.wl.example.com.", rrtype::A);
  ASSERT_EQ(w.sec[1].size(), 2u);
  EXPECT_EQ(w.sec[1][0].owner, "*.wl.example.com.");
}

TEST_F(AnswerTest, DnameCnameQueryEndsWithSynthesizedCname) {
  // x.dn2 -> x.target2 is itself a CNAME; a CNAME query stops at the synthesized one.
  Msg m = ask("x.dn2.example.com.", rrtype::CNAME);
  EXPECT_EQ(m.rcode, 0);
  ASSERT_EQ(m.sec[1].size(), 2u);
  EXPECT_EQ(m.sec[1][0].type, rrtype::DNAME);
  EXPECT_EQ(m.sec[1][1].type, rrtype::CNAME);
  EXPECT_TRUE(m.sec[2].empty());
  // Even when the target does not exist: NOERROR, no SOA.
  Msg nx = ask("nx.dn2.example.com.", rrtype::CNAME);
  EXPECT_EQ(nx.rcode, 0);
  EXPECT_EQ(nx.sec[1].size(), 2u);
  EXPECT_TRUE(nx.sec[2].empty());
  // Other types follow on.
  Msg a = ask("x.dn2.example.com.", rrtype::A);
  ASSERT_EQ(a.sec[1].size(), 4u);
  EXPECT_EQ(a.sec[1][3].type, rrtype::A);
}

TEST_F(AnswerTest, DnameLoopRunsToTheHopLimit) {
  // Each DNAME RRset once; a synthesized CNAME per hop (5 hops).
  Msg m = ask("x.dl1.example.com.", rrtype::A);
  EXPECT_EQ(m.rcode, 0);
  int dnames = 0, cnames = 0;
  for (const RR& rr : m.sec[1]) (rr.type == rrtype::DNAME ? dnames : cnames)++;
  EXPECT_EQ(dnames, 2);
  EXPECT_EQ(cnames, 5);
  EXPECT_TRUE(m.sec[2].empty());
}

TEST_F(AnswerTest, DnameTargetIsNoCompressionTarget) {
  // The synthesized CNAME's target must not point into the DNAME's RDATA
  // (RFC 6672 §2.5 keeps that name uncompressed; Knot never points into it).
  auto q = make_query("x.dn2.example.com.", rrtype::CNAME);
  std::vector<uint8_t> out(512);
  AnswerResult r = answer_query(*zs_, q, out, Transport::Udp);
  out.resize(r.len);
  // Walk to the answer section: header, question.
  size_t off = q.size();
  auto skip = [&](size_t o) {
    while (out.at(o) != 0 && (out[o] & 0xc0) != 0xc0) o += out[o] + 1u;
    return out[o] == 0 ? o + 1 : o + 2;
  };
  off = skip(off);  // DNAME owner
  ASSERT_EQ(rd16(&out[off]), rrtype::DNAME);
  const size_t dn_rdata = off + 10, dn_end = dn_rdata + rd16(&out[off + 8]);
  off = skip(dn_end);  // CNAME owner
  ASSERT_EQ(rd16(&out[off]), rrtype::CNAME);
  for (size_t o = off + 10; o < out.size();) {
    if ((out[o] & 0xc0) == 0xc0) {
      size_t t = size_t(out[o] & 0x3f) << 8 | out[o + 1];
      EXPECT_FALSE(t >= dn_rdata && t < dn_end) << "pointer into DNAME RDATA at " << o;
      break;
    }
    if (out[o] == 0) break;
    o += out[o] + 1u;
  }
}

TEST_F(AnswerTest, AdditionalForSvcbAndHttps) {
  // RFC 9460 §4.1 / Knot: the target's A, AAAA and its own SVCB/HTTPS.
  Msg s = ask("svc.example.com.", rrtype::SVCB);
  ASSERT_EQ(s.sec[1].size(), 1u);
  ASSERT_EQ(s.sec[3].size(), 2u);
  EXPECT_EQ(s.sec[3][0].owner, "www.example.com.");
  EXPECT_EQ(s.sec[3][0].type, rrtype::A);
  EXPECT_EQ(s.sec[3][1].type, rrtype::AAAA);
  Msg h = ask("svc2.example.com.", rrtype::HTTPS);
  ASSERT_EQ(h.sec[3].size(), 2u);
  EXPECT_EQ(h.sec[3][0].owner, "svc3.example.com.");
  EXPECT_EQ(h.sec[3][0].type, rrtype::A);
  EXPECT_EQ(h.sec[3][1].type, rrtype::HTTPS);
}

TEST_F(AnswerTest, AdditionalForWildcardCoveredTarget) {
  Msg m = ask("wmx.example.com.", rrtype::MX);
  ASSERT_EQ(m.sec[3].size(), 1u);
  EXPECT_EQ(m.sec[3][0].owner, "foo.wild.example.com.");
  EXPECT_EQ(m.sec[3][0].rdata, (std::vector<uint8_t>{192, 0, 2, 99}));
}

TEST_F(AnswerTest, AdditionalGoesOnAfterARecordSetThatDoesNotFit) {
  // m1 A (16 bytes), m1 AAAA (28), m2 A (16). With 20 bytes left after m1 A,
  // m1 AAAA is left out but m2 A still goes in, without TC (as in Knot).
  auto q = make_query("mx2.example.com.", rrtype::MX);
  Msg full = ask(q, Transport::Udp, 512);
  ASSERT_EQ(full.sec[3].size(), 3u);
  AnswerResult r;
  Msg m = ask(q, Transport::Udp, full.len - 24, &r);
  EXPECT_FALSE(m.flags & hflag::TC);
  ASSERT_EQ(m.sec[3].size(), 2u);
  EXPECT_EQ(m.sec[3][0].owner, "m1.example.com.");
  EXPECT_EQ(m.sec[3][0].type, rrtype::A);
  EXPECT_EQ(m.sec[3][1].owner, "m2.example.com.");
}

TEST_F(AnswerTest, NegativeSoaFitsWhenCompressedAndIsDroppedWithoutTc) {
  auto q = make_query("nope.example.com.", rrtype::A);
  Msg full = ask(q, Transport::Udp, 512);
  ASSERT_EQ(full.sec[2].size(), 1u);
  // Exactly the compressed size: the SOA still fits.
  Msg exact = ask(q, Transport::Udp, full.len);
  EXPECT_EQ(exact.sec[2].size(), 1u);
  // One byte less: no SOA, no TC, still NXDOMAIN (Knot does the same).
  Msg shy = ask(q, Transport::Udp, full.len - 1);
  EXPECT_EQ(shy.rcode, rcode::NXDOMAIN);
  EXPECT_TRUE(shy.sec[2].empty());
  EXPECT_FALSE(shy.flags & hflag::TC);
}

TEST_F(AnswerTest, ClassAnyAnsweredFromIn) {
  Msg m = ask(make_query("www.example.com.", rrtype::A, false, 0, false, rrclass::ANY));
  EXPECT_EQ(m.rcode, 0);
  EXPECT_TRUE(m.flags & hflag::AA);
  ASSERT_EQ(m.sec[1].size(), 1u);
  EXPECT_EQ(m.sec[1][0].type, rrtype::A);
}

TEST_F(AnswerTest, ErrorAnswersCarryOpt) {
  // NOTIMP and FORMERR (no question) keep the client's EDNS (RFC 6891 §7), DO echoed.
  auto up = make_query("www.example.com.", rrtype::A, true, 4096, true);
  up[2] |= 2 << 3;  // opcode STATUS
  Msg n = ask(up);
  EXPECT_EQ(n.rcode, rcode::NOTIMP);
  ASSERT_TRUE(n.has_opt);
  EXPECT_EQ(n.opt_size, 1232);
  EXPECT_EQ(n.opt_ttl, 0x8000u);
  // QDCOUNT=0 followed by an OPT only.
  auto e = make_query("www.example.com.", rrtype::A, true);
  std::vector<uint8_t> q0(e.begin(), e.begin() + 12);
  q0[5] = 0;
  q0.insert(q0.end(), e.end() - 11, e.end());
  Msg f = ask(q0);
  EXPECT_EQ(f.rcode, rcode::FORMERR);
  EXPECT_TRUE(f.has_opt);
  // A version we do not speak wins over both.
  auto v = up;
  v[v.size() - 5] = 1;  // OPT TTL: ext-rcode, VERSION, flags
  EXPECT_EQ(ask(v).rcode, rcode::BADVERS);
  // Without OPT in the query, none in the answer; nor when the records after
  // the question do not parse.
  auto plain = make_query("www.example.com.", rrtype::A);
  plain[2] |= 2 << 3;
  EXPECT_FALSE(ask(plain).has_opt);
  auto two = e;
  two[11] = 2;
  two.insert(two.end(), e.end() - 11, e.end());
  Msg t = ask(two);
  EXPECT_EQ(t.rcode, rcode::FORMERR);
  EXPECT_FALSE(t.has_opt);
}
