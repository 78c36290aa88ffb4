// prefetch_burst and the hints it leaves in Query: answers with hints must be
// byte for byte the answers without them (every owner of the test zones, and
// names below and beside them, for many types, in mixed case), and hints that
// do not fit (another ZoneSet, a node of another name as after a slot tag
// collision) must be ignored. Also ZoneSet::find with few zones (apex tails)
// against many zones (hash table).
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "zones/answer.hh"
#include "zones/load.hh"
#include "zones/name.hh"
#include "zones/parser.hh"
#include "zones/snapshot.hh"
#include "zones/zone.hh"
#include "zones/zone_text.hh"

using namespace edgedns::zones;

namespace {

std::vector<std::shared_ptr<const Zone>> load(const std::vector<std::string>& files) {
  std::vector<std::shared_ptr<const Zone>> zones;
  for (const auto& f : files) {
    LoadResult lr = load_zone_file(std::string(EDGEDNS_TEST_DATA) + "/" + f);
    EXPECT_TRUE(lr.zone) << f;
    if (lr.zone) zones.push_back(lr.zone);
  }
  return zones;
}

std::vector<uint8_t> query(const uint8_t* name, size_t len, uint16_t type, uint16_t id) {
  std::vector<uint8_t> q(12, 0);
  wr16(&q[0], id);
  wr16(&q[4], 1);
  wr16(&q[10], 1);
  q.insert(q.end(), name, name + len);
  uint8_t t[15] = {0, 0, 0, 1, 0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0};
  wr16(t, type);
  q.insert(q.end(), t, t + sizeof t);
  return q;
}

// Owners, their parents' unknown children, a child below each and mixed case.
std::vector<std::vector<uint8_t>> corpus(const ZoneSet& zs) {
  std::vector<std::string> names;
  for (const auto& z : zs.zones())
    zone_for_each_record(
        *z, [&](const uint8_t* o, size_t ol, uint16_t, uint16_t, uint32_t, const uint8_t*, size_t) {
          std::string n(reinterpret_cast<const char*>(o), ol);
          if (names.empty() || names.back() != n) names.push_back(n);
        });
  std::vector<std::vector<uint8_t>> qs;
  const uint16_t types[] = {rrtype::A,   rrtype::AAAA, rrtype::NS, rrtype::MX,  rrtype::CNAME,
                            rrtype::SOA, rrtype::TXT,  rrtype::DS, rrtype::ANY, rrtype::SRV};
  uint16_t id = 0;
  for (const auto& n : names) {
    std::vector<std::string> variants{n, std::string("\x05nx-zz", 6) + n,
                                      std::string("\x03"
                                                  "abc",
                                                  4) +
                                          n};
    std::string upper = n;
    for (char& c : upper)
      if (c >= 'a' && c <= 'z') c = char(c - 32);
    variants.push_back(upper);
    for (const auto& v : variants) {
      if (v.size() > kMaxName) continue;
      for (uint16_t t : types)
        qs.push_back(query(reinterpret_cast<const uint8_t*>(v.data()), v.size(), t, id++));
    }
  }
  return qs;
}

struct Out {
  AnswerResult r;
  std::vector<uint8_t> bytes;
};

Out answer_of(const ZoneSet& zs, const Query& q) {
  Out o;
  o.bytes.assign(1232, 0);
  o.r = answer(zs, q, o.bytes, Transport::Udp);
  o.bytes.resize(o.r.len);
  return o;
}

void expect_same(const Out& a, const Out& b, size_t i) {
  EXPECT_EQ(a.r.len, b.r.len) << "query " << i;
  EXPECT_EQ(a.r.rcode, b.r.rcode) << "query " << i;
  EXPECT_EQ(a.r.kind, b.r.kind) << "query " << i;
  EXPECT_EQ(a.r.truncated, b.r.truncated) << "query " << i;
  EXPECT_EQ(a.bytes, b.bytes) << "query " << i;
}

const std::vector<std::string> kFiles = {"engine/example.com.zone",     "engine/example.net.zone",
                                         "engine/sub.example.com.zone", "diff/diff.test.zone",
                                         "diff/child.diff.test.zone",   "diff/other.test.zone"};

void hinted_equal_plain(const ZoneSet& set) {
  const ZoneSet* zs = &set;
  auto qs = corpus(*zs);
  ASSERT_GT(qs.size(), 500u);
  constexpr size_t kBurst = 32;
  std::vector<Query> burst(kBurst);
  size_t hinted_nodes = 0;
  for (size_t base = 0; base < qs.size(); base += kBurst) {
    const size_t n = std::min(kBurst, qs.size() - base);
    for (size_t j = 0; j < n; ++j) parse_query(qs[base + j], burst[j]);
    std::vector<Out> plain;
    for (size_t j = 0; j < n; ++j) plain.push_back(answer_of(*zs, burst[j]));
    prefetch_burst(*zs, burst.data(), n);
    for (size_t j = 0; j < n; ++j) {
      if (burst[j].hint_node_done && burst[j].hint_node) ++hinted_nodes;
      expect_same(plain[j], answer_of(*zs, burst[j]), base + j);
    }
  }
  EXPECT_GT(hinted_nodes, 100u);  // the hints were really used
}

TEST(AnswerBurst, HintedAnswersEqualPlainAnswers) {
  hinted_equal_plain(*ZoneSet::build(load(kFiles)));
}

// Past 8 zones the set is a hash table and prefetch_burst walks index slot,
// zone and view for the whole burst first: the answers stay the same.
TEST(AnswerBurst, HintedAnswersEqualPlainAnswersWithManyZones) {
  auto zones = load(kFiles);
  for (int i = 0; i < 12; ++i) {
    std::string t = "; zone f" + std::to_string(i) + ".test.\nf" + std::to_string(i) +
                    ".test. 60 IN SOA ns.f.test. h.f.test. 1 2 3 4 5\nf" + std::to_string(i) +
                    ".test. 60 IN NS ns.f.test.\nwww.f" + std::to_string(i) +
                    ".test. 60 IN A 192.0.2." + std::to_string(i + 1) + "\n";
    ZoneSetLoad l = load_zoneset_text(t, "filler");
    ASSERT_TRUE(l.zones);
    zones.push_back(l.zones->zones()[0]);
  }
  auto zs = ZoneSet::build(zones);
  ASSERT_TRUE(zs->many());
  hinted_equal_plain(*zs);
}

// The sum answer() reports for the UDP sender (RFC 1071, from the pieces it
// wrote) must be the sum of the bytes, and answering in place (the question
// left where the query had it) must write the same bytes as answering into
// another buffer: with and without EDNS, with DO, at odd and even name
// lengths, for hits, negative answers, errors and the general path (no sum).
TEST(AnswerBurst, SumsAndInPlaceAnswersMatchTheBytes) {
  auto zs = ZoneSet::build(load(kFiles));
  std::vector<std::vector<uint8_t>> qs;
  for (auto q : corpus(*zs)) {
    qs.push_back(q);  // EDNS, 1232
    auto plain = q;   // no OPT
    plain.resize(plain.size() - 11);
    wr16(&plain[10], 0);
    qs.push_back(plain);
    q[q.size() - 4] = 0x80;        // DO
    wr16(&q[q.size() - 8], 4097);  // odd payload size
    qs.push_back(q);
    auto badvers = q;
    badvers[q.size() - 5] = 1;  // EDNS version 1: BADVERS
    qs.push_back(badvers);
  }
  size_t with_sum = 0, without = 0, odd_names = 0, with_do = 0, badvers = 0;
  for (size_t i = 0; i < qs.size(); ++i) {
    Query q;
    parse_query(qs[i], q);
    with_do += q.do_bit;
    badvers += q.edns_version == 1;
    Out o = answer_of(*zs, q);
    if (o.r.has_sum) {
      ++with_sum;
      odd_names += q.qname_len & 1;
      ASSERT_EQ(o.r.sum, ones_sum(o.bytes.data(), o.bytes.size())) << "query " << i;
    } else {
      ++without;
    }
    std::vector<uint8_t> buf(1232, 0xcd);
    std::copy(qs[i].begin(), qs[i].end(), buf.begin());
    Query qi;
    parse_query({buf.data(), qs[i].size()}, qi);
    AnswerResult r = answer(*zs, qi, buf, Transport::Udp);
    ASSERT_EQ(r.len, o.r.len) << "query " << i;
    ASSERT_EQ(std::vector<uint8_t>(buf.begin(), buf.begin() + r.len), o.bytes) << "query " << i;
    ASSERT_EQ(r.has_sum, o.r.has_sum);
    ASSERT_EQ(r.sum, o.r.sum);
    // TCP keeps no sum.
    std::vector<uint8_t> tcp(65535);
    EXPECT_FALSE(answer(*zs, q, tcp, Transport::Tcp).has_sum);
  }
  EXPECT_GT(with_do, 1000u);  // the query variants really are what they say
  EXPECT_GT(badvers, 500u);
  EXPECT_GT(with_sum, 1000u);
  EXPECT_GT(odd_names, 200u);
  EXPECT_GT(without, 100u);  // the general path was exercised too
}

TEST(AnswerBurst, HintsOfAnotherSetOrNameAreIgnored) {
  auto zs = ZoneSet::build(load(kFiles));
  auto other = ZoneSet::build(load(kFiles));  // same data, another set
  auto qs = corpus(*zs);
  std::vector<Query> burst(qs.size());
  for (size_t i = 0; i < qs.size(); ++i) parse_query(qs[i], burst[i]);
  std::vector<Out> plain;
  for (const auto& q : burst) plain.push_back(answer_of(*zs, q));
  // Hints made with another ZoneSet.
  prefetch_burst(*other, burst.data(), burst.size());
  for (size_t i = 0; i < burst.size(); ++i) expect_same(plain[i], answer_of(*zs, burst[i]), i);
  // Hints of the right set pointing at the node of another name (what a
  // 32-bit slot tag collision leaves): the name check must catch it.
  prefetch_burst(*zs, burst.data(), burst.size());
  const uint8_t* some_node = nullptr;
  for (const auto& q : burst)
    if (q.hint_node_done && q.hint_node) some_node = q.hint_node;
  ASSERT_NE(some_node, nullptr);
  for (size_t i = 0; i < burst.size(); ++i) {
    Query q = burst[i];
    if (!q.hint_node_done) continue;
    q.hint_node = some_node;
    expect_same(plain[i], answer_of(*zs, q), i);
  }
}

TEST(AnswerBurst, FewAndManyZonesFindTheSameZone) {
  auto few = load(kFiles);
  ASSERT_LE(few.size(), 8u);
  auto many = few;
  // Enough extra zones to leave the apex-tail path for the hash table.
  for (int i = 0; i < 8; ++i) {
    std::string apex = "extra" + std::to_string(i) + ".example.com.";
    ParseResult pr = parse_zone_text(
        "$ORIGIN " + apex + "\n@ 3600 SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n", "extra", {});
    std::vector<Diagnostic> d;
    check_zone(pr.zone, d);
    many.push_back(compile_zone(std::move(pr.zone)));
  }
  auto zs_few = ZoneSet::build(few);
  auto zs_many = ZoneSet::build(many);
  for (const auto& text :
       {"example.com.", "www.example.com.", "a.b.sub.example.com.", "sub.example.com.",
        "example.net.", "x.diff.test.", "child.diff.test.", "z.child.diff.test.", "nowhere.org.",
        ".", "com.", "xexample.com.", "extra3.example.com."}) {
    Name n = Name::from_text(text);
    const Zone* a = zs_few->find(n.data(), n.size());
    const Zone* b = zs_many->find(n.data(), n.size());
    if (std::string(text) == "extra3.example.com.") {
      ASSERT_NE(b, nullptr);
      EXPECT_EQ(zone_apex(*b).to_text(), "extra3.example.com.");
      continue;
    }
    EXPECT_EQ(a == nullptr, b == nullptr) << text;
    if (a && b) {
      EXPECT_EQ(zone_apex(*a).to_text(), zone_apex(*b).to_text()) << text;
    }
  }
  // A label boundary matters: one 11-byte label whose bytes end like "diff.test." is not below it.
  const uint8_t tricky[] = {11, 'x', 4, 'd', 'i', 'f', 'f', 4, 't', 'e', 's', 't', 0};
  ASSERT_NE(zs_few->find(reinterpret_cast<const uint8_t*>("\4diff\4test"), 11), nullptr);
  EXPECT_EQ(zs_few->find(tricky, sizeof tricky), nullptr);
  EXPECT_EQ(zs_many->find(tricky, sizeof tricky), nullptr);
}

}  // namespace

// ---- precomputed answers (Shard::aux, Zone::special) ----
//
// Referrals, one-hop CNAMEs and wildcard answers are written from templates
// made with each shard and from a per-version table of the zone's special
// nodes; they must be byte for byte what the general path writes. The
// general path is forced with a copy of the zone without the templates, and
// the per-shard path alone with a copy without the table.

namespace {

const char* kTricky =
    "; zone t.test.\n"
    "$ORIGIN t.test.\n"
    "$TTL 300\n"
    "@ SOA ns1 hostmaster 1 2 3 4 60\n"
    "@ NS ns1\n"
    "ns1 A 192.0.2.1\n"
    "ns1 AAAA 2001:db8::1\n"
    "sub NS ns.sub\n"
    "sub NS ns1\n"
    "sub NS ns.other.test.\n"
    "sub NS x.sub\n"
    "sub NS ns.wild\n"
    "ns.sub A 192.0.2.2\n"
    "ns.sub AAAA 2001:db8::2\n"
    "x.sub A 192.0.2.7\n"
    "deep.a.b NS ns.deep.a.b\n"
    "deep.a.b NS NS.Deep.A.B.\n"
    "ns.deep.a.b A 192.0.2.3\n"
    "c2 NS ns.c2\n"
    "c2 NS ns2.c2\n"
    "ns2.c2 AAAA 2001:db8::44\n"
    "ns.c2 A 192.0.2.4\n"
    "c3 NS lame.wild\n"
    "c4 NS t.test.\n"
    "@ A 192.0.2.100\n"
    "c5 NS c5\n"
    "c5 A 192.0.2.11\n"
    "alias CNAME host1\n"
    "alias2 CNAME alias\n"
    "alias3 CNAME out.example.\n"
    "alias4 CNAME nothere\n"
    "alias5 CNAME sub\n"
    "alias6 CNAME x.sub\n"
    "alias7 CNAME foo.wild\n"
    "alias8 CNAME mx\n"
    "alias9 CNAME T.TEST.\n"
    "alias10 CNAME big\n"
    "alias11 CNAME ent.a\n"
    "Alias12 CNAME HOST1.t.test.\n"
    "host1 A 10.0.0.1\n"
    "host1 TXT \"hi\"\n"
    "x.ent.a A 10.0.0.2\n"
    "mx MX 10 host1\n"
    "*.wild A 192.0.2.9\n"
    "*.wild TXT \"w\"\n"
    "*.wc CNAME host1\n"
    "*.wmx MX 10 host1\n"
    "*.wbig TXT "
    "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
    "aaaaaaaaaaaaaaaaaa\"\n"
    "*.wbig TXT "
    "\"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
    "bbbbbbbbbbbbbbbbbb\"\n"
    "*.wbig TXT "
    "\"cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
    "cccccccccccccccccccc\"\n"
    "*.wbig TXT "
    "\"dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"
    "dddddddddddddddddd\"\n"
    "*.wbig TXT "
    "\"eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"
    "eeeeeeeeeeeeeeeeee\"\n"
    "big TXT "
    "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
    "aaaaaaaaaaaaaaaaaa\"\n"
    "big TXT "
    "\"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
    "bbbbbbbbbbbbbbbbbb\"\n"
    "big TXT "
    "\"cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
    "cccccccccccccccccccc\"\n"
    "big TXT "
    "\"dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"
    "dddddddddddddddddd\"\n"
    "big TXT "
    "\"eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"
    "eeeeeeeeeeeeeeeeee\"\n"
    "dn DNAME other.test.\n"
    "manyns NS n01.manyns\n"
    "manyns NS n02.manyns\n"
    "manyns NS n03.manyns\n"
    "manyns NS n04.manyns\n"
    "manyns NS n05.manyns\n"
    "manyns NS n06.manyns\n"
    "manyns NS n07.manyns\n"
    "manyns NS n08.manyns\n"
    "manyns NS n09.manyns\n"
    "manyns NS n10.manyns\n"
    "manyns NS n11.manyns\n"
    "manyns NS n12.manyns\n"
    "n01.manyns A 192.0.2.1\n"
    "n01.manyns AAAA 2001:db8::01\n"
    "n02.manyns A 192.0.2.2\n"
    "n02.manyns AAAA 2001:db8::02\n"
    "n03.manyns A 192.0.2.3\n"
    "n03.manyns AAAA 2001:db8::03\n"
    "n04.manyns A 192.0.2.4\n"
    "n04.manyns AAAA 2001:db8::04\n"
    "n05.manyns A 192.0.2.5\n"
    "n05.manyns AAAA 2001:db8::05\n"
    "n06.manyns A 192.0.2.6\n"
    "n06.manyns AAAA 2001:db8::06\n"
    "n07.manyns A 192.0.2.7\n"
    "n07.manyns AAAA 2001:db8::07\n"
    "n08.manyns A 192.0.2.8\n"
    "n08.manyns AAAA 2001:db8::08\n"
    "n09.manyns A 192.0.2.9\n"
    "n09.manyns AAAA 2001:db8::09\n"
    "n10.manyns A 192.0.2.10\n"
    "n10.manyns AAAA 2001:db8::10\n"
    "n11.manyns A 192.0.2.11\n"
    "n11.manyns AAAA 2001:db8::11\n"
    "n12.manyns A 192.0.2.12\n"
    "n12.manyns AAAA 2001:db8::12\n"
    "; zone w.test.\n"
    "$ORIGIN w.test.\n"
    "$TTL 300\n"
    "@ SOA ns1.other.test. h.other.test. 1 2 3 4 60\n"
    "@ NS ns1.other.test.\n"
    "* A 192.0.2.99\n"
    "*.deep CNAME w.test.\n"
    "cut NS ns.cut\n"
    "ns.cut A 192.0.2.1\n"
    "*.cut A 192.0.2.5\n"
    "e.f.g A 192.0.2.6\n";

enum class Strip { Table, Everything };

// A copy of `z` whose shards (same offsets) lack their templates and/or
// whose table of special nodes is empty.
std::shared_ptr<const Zone> stripped(const Zone& z, Strip what) {
  auto c = std::make_shared<Zone>(z);
  c->special.clear();
  c->special_targets.clear();
  c->special_bits = 0;
  if (what == Strip::Everything) {
    for (size_t i = 0; i < c->shards.size(); ++i) {
      auto s = std::make_shared<Shard>(*c->shards[i]);
      s->aux.clear();
      c->views[i] = ShardView{s->slots.data(), s->blob.data(), uint32_t(s->slots.size())};
      c->shards[i] = std::move(s);
    }
    c->apex_node = c->find(c->apex_lower, c->apex_len, c->apex_hash);
  }
  return c;
}

}  // namespace

TEST(AnswerBurst, PrecomputedAnswersEqualTheGeneralPath) {
  std::vector<std::shared_ptr<const Zone>> zones = load(kFiles);
  ZoneSetLoad tricky = load_zoneset_text(kTricky, "tricky");
  for (const auto& d : tricky.diagnostics) EXPECT_FALSE(d.is_error()) << d.to_string();
  ASSERT_TRUE(tricky.zones);
  for (const auto& z : tricky.zones->zones()) zones.push_back(z);
  std::vector<std::shared_ptr<const Zone>> table_off, general;
  size_t special = 0;
  for (const auto& z : zones) {
    special += z->special_targets.size();
    table_off.push_back(stripped(*z, Strip::Table));
    general.push_back(stripped(*z, Strip::Everything));
  }
  EXPECT_GT(special, 30u);  // the tables were really built
  auto fast = ZoneSet::build(zones), shard_only = ZoneSet::build(table_off),
       slow = ZoneSet::build(general);
  // The corpus's names plus deeper ones and one with many labels (the
  // referral template's compression table bound).
  auto qs = corpus(*fast);
  std::string many;
  for (int i = 0; i < 60; ++i) many += "a.";
  for (const char* n :
       {"x.sub.t.test.", "y.x.sub.t.test.", "a.ns.sub.t.test.", "q.deep.a.b.t.test.",
        "q.manyns.t.test.", "x.c2.t.test.", "x.c4.t.test.", "x.c5.t.test.", "q.wild.t.test.",
        "q.wbig.t.test.", "q.wmx.t.test.", "q.wc.t.test.", "a.b.w.test.", "q.cut.w.test.",
        "x.deep.w.test.", "nx.e.f.g.w.test.", "nothing.t.test."})
    for (const std::string& name : {std::string(n), many + n}) {
      Name nm = Name::from_text(name);
      for (uint16_t t :
           {rrtype::A, rrtype::AAAA, rrtype::NS, rrtype::TXT, rrtype::MX, rrtype::DS, rrtype::ANY})
        qs.push_back(query(nm.data(), nm.size(), t, uint16_t(qs.size())));
    }
  ASSERT_GT(qs.size(), 1000u);
  size_t kinds[6] = {};
  size_t sums = 0;
  for (size_t i = 0; i < qs.size(); ++i) {
    Query q;
    parse_query(qs[i], q);
    // A small client buffer too, so that templates that do not fit fall back.
    for (size_t room : {size_t(1232), size_t(512), size_t(130)})
      for (Transport tr : {Transport::Udp, Transport::Tcp}) {
        Out a, b, c;
        a.bytes.assign(room, 0);
        b.bytes.assign(room, 0);
        c.bytes.assign(room, 0);
        a.r = answer(*fast, q, a.bytes, tr);
        b.r = answer(*shard_only, q, b.bytes, tr);
        c.r = answer(*slow, q, c.bytes, tr);
        a.bytes.resize(a.r.len);
        b.bytes.resize(b.r.len);
        c.bytes.resize(c.r.len);
        expect_same(a, c, i);
        expect_same(b, c, i);
        ++kinds[size_t(a.r.kind)];
        // The fast paths keep the UDP sender's sum.
        for (const Out* o : {&a, &b})
          if (o->r.has_sum) {
            sums += o->r.kind == AnswerKind::Referral;
            ASSERT_EQ(o->r.sum, ones_sum(o->bytes.data(), o->bytes.size())) << "query " << i;
          }
      }
  }
  EXPECT_GT(kinds[size_t(AnswerKind::Referral)], 100u);
  EXPECT_GT(sums, 100u);  // referrals among them
}
