// Deltas: answers and version after a delta equal those of the same content
// compiled from scratch (added/removed names, ENTs, wildcards, cuts, DNAME,
// SOA); errors name the change and leave nothing applied; untouched shards
// are shared with the base.
#include "zones/delta.hh"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "tests/zones/dir_sums.hh"
#include "zones/answer.hh"
#include "zones/version.hh"
#include "zones/zone.hh"
#include "zones/zone_text.hh"

using namespace edgedns::zones;
using Op = DeltaChange::Op;

namespace {

const char* kBase =
    "ex. 3600 IN SOA ns1.ex. host.ex. 1 7200 3600 1209600 300\n"
    "ex. 3600 IN NS ns1.ex.\n"
    "ex. 3600 IN MX 10 mail.ex.\n"
    "ns1.ex. 3600 IN A 192.0.2.53\n"
    "mail.ex. 3600 IN A 192.0.2.25\n"
    "www.ex. 300 IN A 192.0.2.80\n"
    "www.ex. 300 IN A 192.0.2.81\n"
    "alias.ex. 300 IN CNAME www.ex.\n"
    "b.c.ent.ex. 300 IN TXT \"deep\"\n"
    "x.ent.ex. 300 IN TXT \"x\"\n"
    "*.wild.ex. 300 IN A 192.0.2.99\n"
    "wild.ex. 300 IN TXT \"parent\"\n"
    "sub.ex. 3600 IN NS ns.sub.ex.\n"
    "ns.sub.ex. 3600 IN A 192.0.2.77\n"
    "dn.ex. 300 IN DNAME target.example.\n"
    "leaf.ex. 300 IN A 192.0.2.10\n"
    "kids.ex. 300 IN A 192.0.2.11\n"
    "a.kids.ex. 300 IN A 192.0.2.12\n"
    "b.q.kids.ex. 300 IN A 192.0.2.13\n";

std::shared_ptr<const ZoneSet> compile_lines(const std::multiset<std::string>& lines) {
  std::string text = "; zone ex.\n";
  for (const auto& l : lines) text += l + "\n";
  ZoneSetLoad l = load_zoneset_text(text, "scratch");
  for (const auto& d : l.diagnostics)
    if (d.is_error()) ADD_FAILURE() << d.to_string();
  return l.zones;
}

std::multiset<std::string> split_lines(const std::string& t) {
  std::multiset<std::string> out;
  size_t p = 0;
  while (p < t.size()) {
    size_t e = t.find('\n', p);
    out.insert(t.substr(p, e - p));
    p = e + 1;
  }
  return out;
}

std::vector<uint8_t> query(const std::string& name, uint16_t type, bool edns) {
  std::vector<uint8_t> q = {0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, edns ? uint8_t(1) : uint8_t(0)};
  Name n = Name::from_text(name);
  q.insert(q.end(), n.data(), n.data() + n.size());
  q.push_back(uint8_t(type >> 8));
  q.push_back(uint8_t(type));
  q.push_back(0);
  q.push_back(1);
  if (edns) {
    const uint8_t opt[] = {0, 0, 41, 0x04, 0xd0, 0, 0, 0x80, 0, 0, 0};
    q.insert(q.end(), opt, opt + sizeof opt);
  }
  return q;
}

// Every owner of either set, its ancestors, a child below each and a few
// extra names, asked for many types, with and without EDNS.
void expect_same_answers(const ZoneSet& got, const ZoneSet& want,
                         const std::vector<std::string>& extra = {}) {
  std::set<std::string> names(extra.begin(), extra.end());
  for (const ZoneSet* s : {&got, &want})
    for (const auto& z : s->zones())
      zone_for_each_record(*z, [&](const uint8_t* o, size_t ol, uint16_t, uint16_t, uint32_t,
                                   const uint8_t*, size_t) {
        std::string t = name_to_text(o, ol);
        names.insert(t);
        names.insert("zz." + t);
        names.insert("a.b." + t);
        for (size_t p = t.find('.'); p != std::string::npos && p + 1 < t.size();
             p = t.find('.', p + 1))
          names.insert(t.substr(p + 1));
      });
  const uint16_t types[] = {rrtype::A,   rrtype::AAAA, rrtype::NS,    rrtype::SOA, rrtype::CNAME,
                            rrtype::TXT, rrtype::MX,   rrtype::DNAME, rrtype::DS,  rrtype::ANY};
  for (const auto& n : names)
    for (uint16_t t : types)
      for (bool edns : {false, true}) {
        auto q = query(n, t, edns);
        uint8_t a[4096], b[4096];
        AnswerResult ra = answer_query(got, q, a, Transport::Udp);
        AnswerResult rb = answer_query(want, q, b, Transport::Udp);
        ASSERT_EQ(ra.len, rb.len) << n << " type " << t << " edns " << edns;
        ASSERT_EQ(std::vector<uint8_t>(a, a + ra.len), std::vector<uint8_t>(b, b + rb.len))
            << n << " type " << t << " edns " << edns;
      }
}

// Every node's children (Shard::kids) in `got` equal those of a scratch
// compile: same count; same hashes wherever `got` keeps a list.
void expect_same_kids(const Zone& got, const Zone& want) {
  size_t nodes = 0;
  for (size_t sh = 0; sh < want.shards.size(); ++sh) {
    const Shard& ws = *want.shards[sh];
    for (uint32_t i = 0; i < ws.slots.size(); ++i) {
      if (ws.slots[i].off == kEmptySlot) continue;
      ++nodes;
      const uint8_t* wn = ws.blob.data() + ws.slots[i].off;
      const std::string name = name_to_text(node_name(wn), wn[1]);
      const uint64_t h = name_hash(node_name(wn), wn[1]);
      const Shard& gs = *got.shards[got.shard_index(h)];
      const uint8_t* gn = got.find(node_name(wn), wn[1], h);
      ASSERT_NE(gn, nullptr) << name;
      uint32_t gi = 0;
      while (gs.slots[gi].off == kEmptySlot || gs.blob.data() + gs.slots[gi].off != gn) ++gi;
      const KidsOf w = kids_of(ws, i), g = kids_of(gs, gi);
      EXPECT_EQ(g.count, w.count) << name;
      if (g.list && w.list && g.count == w.count) {
        std::multiset<uint64_t> a(g.list, g.list + g.count), b(w.list, w.list + w.count);
        EXPECT_EQ(a, b) << name;
      }
      if (name_equal(node_name(wn), wn[1], want.apex_lower, want.apex_len)) {
        EXPECT_FALSE(g.list) << name;
      }
    }
  }
  size_t got_nodes = 0;
  for (const auto& s : got.shards) got_nodes += s->names;
  EXPECT_EQ(got_nodes, nodes);
}

// The table of special nodes (Zone::special) a delta updates in place of a
// rebuild equals the one a scratch compile makes: same nodes, same resolved
// "*" children, glue and targets, same precomputed referrals.
void expect_same_special(const Zone& got, const Zone& want) {
  EXPECT_EQ(got.special_count, want.special_count);
  EXPECT_EQ(got.special.empty(), want.special.empty());
  auto name_of = [](const uint8_t* n) {
    return n ? name_to_text(node_name(n), n[1]) : std::string("-");
  };
  size_t seen = 0;
  for (const SpecialNode& w : want.special) {
    if (!w.node) continue;
    ++seen;
    const std::string name = name_of(w.node);
    const SpecialNode* g = nullptr;
    for (const SpecialNode& e : got.special)
      if (e.node && name_of(e.node) == name) g = &e;
    ASSERT_NE(g, nullptr) << name;
    EXPECT_EQ(g->fp, w.fp) << name;
    EXPECT_EQ(name_of(g->star), name_of(w.star)) << name;
    ASSERT_EQ(g->ntargets, w.ntargets) << name;
    for (uint32_t j = 0; j < w.ntargets; ++j)
      EXPECT_EQ(name_of(got.special_targets[g->targets + j]),
                name_of(want.special_targets[w.targets + j]))
          << name;
    ASSERT_EQ(g->full_len, w.full_len) << name;
    EXPECT_EQ(g->full_ar, w.full_ar) << name;
    ASSERT_EQ(g->full_npatch, w.full_npatch) << name;
    const size_t n = w.full_len ? w.full_len + 2 * size_t(w.full_npatch) : 0;
    EXPECT_EQ(std::vector<uint8_t>(got.special_answers.begin() + g->full,
                                   got.special_answers.begin() + g->full + n),
              std::vector<uint8_t>(want.special_answers.begin() + w.full,
                                   want.special_answers.begin() + w.full + n))
        << name;
  }
  size_t got_n = 0;
  for (const SpecialNode& e : got.special) got_n += e.node != nullptr;
  EXPECT_EQ(got_n, seen);
}

struct Fixture {
  std::multiset<std::string> lines = split_lines(kBase);
  std::shared_ptr<const ZoneSet> set = compile_lines(lines);
  std::vector<DeltaChange> changes;

  void add(const std::string& rr) {
    changes.push_back({Op::Add, rr});
    lines.insert(rr);
  }
  void del(const std::string& rr) {
    changes.push_back({Op::Del, rr});
    auto it = lines.find(rr);
    ASSERT_NE(it, lines.end()) << rr;
    lines.erase(it);
  }
  // Applies the pending changes and checks the result against a scratch compile.
  void apply_and_compare(const std::vector<std::string>& extra = {}) {
    DeltaResult r = apply_delta(*set, changes);
    for (const auto& d : r.diagnostics) ADD_FAILURE() << d.to_string();
    ASSERT_TRUE(r.ok());
    ASSERT_TRUE(r.zones);
    EXPECT_EQ(r.full_scans, 0u);  // every family here is small: children lists answer
    auto scratch = compile_lines(lines);
    ASSERT_TRUE(scratch);
    expect_same_kids(*r.zones->zones()[0], *scratch->zones()[0]);
    expect_same_special(*r.zones->zones()[0], *scratch->zones()[0]);
    EXPECT_GT(edgedns::zones::test::expect_dir_sums(*r.zones->zones()[0]), 0u);
    EXPECT_EQ(zoneset_version(*r.zones), zoneset_version(*scratch));
    EXPECT_EQ(zoneset_label(*r.zones), zoneset_label(*scratch));
    EXPECT_EQ(zone_record_count(*r.zones->zones()[0]), zone_record_count(*scratch->zones()[0]));
    EXPECT_EQ(zoneset_text(*r.zones), zoneset_text(*scratch));
    expect_same_answers(*r.zones, *scratch, extra);
    set = r.zones;
    changes.clear();
  }
};

DeltaResult apply1(const ZoneSet& s, Op op, const std::string& rr) {
  std::vector<DeltaChange> c{{op, rr}};
  return apply_delta(s, c);
}

}  // namespace

TEST(Delta, BaseMatchesItself) {
  Fixture f;
  f.apply_and_compare();
}

TEST(Delta, AddNamesCreatesEntsAndChangesRecords) {
  Fixture f;
  f.add("x.y.z.new.ex. 60 IN A 192.0.2.1");
  f.add("c2.ent.ex. 60 IN TXT \"new child of an ENT\"");
  f.del("www.ex. 300 IN A 192.0.2.80");
  f.add("www.ex. 300 IN A 192.0.2.82");
  f.add("relative 60 IN AAAA 2001:db8::1");
  f.add("ex. 3600 IN TXT \"apex\"");
  f.apply_and_compare({"y.z.new.ex.", "z.new.ex.", "new.ex."});
}

TEST(Delta, RemovingNamesRemovesEnts) {
  Fixture f;
  f.del("b.c.ent.ex. 300 IN TXT \"deep\"");   // c.ent.ex. (ENT) goes, ent.ex. stays (x.ent.ex.)
  f.del("b.q.kids.ex. 300 IN A 192.0.2.13");  // q.kids.ex. (ENT) goes
  f.del("leaf.ex. 300 IN A 192.0.2.10");
  f.apply_and_compare({"c.ent.ex.", "b.c.ent.ex.", "q.kids.ex.", "leaf.ex."});
  f.del("x.ent.ex. 300 IN TXT \"x\"");    // now ent.ex. goes too
  f.del("kids.ex. 300 IN A 192.0.2.11");  // kids.ex. stays as an ENT (a.kids.ex.)
  f.apply_and_compare({"ent.ex.", "kids.ex."});
  f.del("a.kids.ex. 300 IN A 192.0.2.12");
  f.apply_and_compare({"kids.ex."});
}

TEST(Delta, Wildcards) {
  Fixture f;
  f.add("*.w2.ex. 60 IN TXT \"w2\"");  // new wildcard under a new ENT
  f.add("*.ex. 60 IN MX 5 mail.ex.");  // wildcard at the apex
  f.del("*.wild.ex. 300 IN A 192.0.2.99");
  f.apply_and_compare({"q.w2.ex.", "a.b.w2.ex.", "nothing.ex.", "q.wild.ex."});
  f.add("*.wild.ex. 300 IN A 192.0.2.98");
  f.del("*.ex. 60 IN MX 5 mail.ex.");
  f.apply_and_compare({"q.wild.ex.", "nothing.ex."});
}

// A "*" that exists only as an empty non-terminal (a name below it owns the
// records) is still a wildcard: names it covers get NODATA, as Knot answers.
// The delta and the scratch compile must agree (a fuzz_delta finding: the
// compiler used to miss the wildcard child when "*" was not an owner).
TEST(Delta, WildcardThatIsAnEmptyNonTerminal) {
  Fixture f;
  f.add("x.*.ex. 60 IN A 192.0.2.77");
  f.add("y.*.ent.ex. 60 IN TXT \"under an ENT wildcard\"");
  f.apply_and_compare({"nothing.ex.", "a.b.nothing.ex.", "*.ex.", "x.*.ex.", "z.x.*.ex.",
                       "q.ent.ex.", "*.ent.ex."});
  f.del("x.*.ex. 60 IN A 192.0.2.77");
  f.apply_and_compare({"nothing.ex.", "*.ex.", "x.*.ex."});
}

TEST(Delta, DelegationsAppearAndDisappear) {
  Fixture f;
  // kids.ex. becomes a cut above existing names: they become glue/occluded.
  f.add("kids.ex. 300 IN NS ns.kids.ex.");
  f.add("ns.kids.ex. 300 IN A 192.0.2.14");
  // A new delegation with glue, and one with an out-of-zone server.
  f.add("new.ex. 300 IN NS ns.new.ex.");
  f.add("ns.new.ex. 300 IN A 192.0.2.15");
  f.add("ext.ex. 300 IN NS ns.example.net.");
  // The old delegation goes away; its glue becomes authoritative data.
  f.del("sub.ex. 3600 IN NS ns.sub.ex.");
  f.apply_and_compare({"x.kids.ex.", "a.kids.ex.", "deep.sub.ex.", "x.new.ex.", "x.ext.ex."});
  f.del("kids.ex. 300 IN NS ns.kids.ex.");
  f.apply_and_compare({"a.kids.ex.", "b.q.kids.ex."});
}

TEST(Delta, DnameAndCname) {
  Fixture f;
  f.add("leaf.ex. 300 IN DNAME elsewhere.example.");
  f.del("dn.ex. 300 IN DNAME target.example.");
  f.add("dn.ex. 300 IN CNAME www.ex.");
  f.add("c2.ex. 60 IN CNAME alias.ex.");
  f.apply_and_compare({"x.leaf.ex.", "x.dn.ex.", "c2.ex."});
}

TEST(Delta, SoaChangeMovesSerialAndNegativeAnswers) {
  Fixture f;
  f.del("ex. 3600 IN SOA ns1.ex. host.ex. 1 7200 3600 1209600 300");
  f.add("ex. 3600 IN SOA ns1.ex. host.ex. 2 7200 3600 1209600 60");
  f.apply_and_compare({"nx.ex."});
  EXPECT_EQ(zoneset_label(*f.set), "ex.=2");
  EXPECT_EQ(zone_serial(*f.set->zones()[0]), 2u);
}

TEST(Delta, TtlDifferenceIsUnifiedWithAWarning) {
  Fixture f;
  std::vector<DeltaChange> c{{Op::Add, "www.ex. 60 IN A 192.0.2.90"}};
  DeltaResult r = apply_delta(*f.set, c);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r.diagnostics.size(), 1u);
  EXPECT_FALSE(r.diagnostics[0].is_error());
  EXPECT_NE(r.diagnostics[0].message.find("using 300"), std::string::npos)
      << r.diagnostics[0].message;
  f.lines.insert("www.ex. 300 IN A 192.0.2.90");
  auto scratch = compile_lines(f.lines);
  EXPECT_EQ(zoneset_version(*r.zones), zoneset_version(*scratch));
}

TEST(Delta, VersionMovesInBothDirections) {
  Fixture f;
  const VersionId v0 = zoneset_version(*f.set);
  DeltaResult r = apply1(*f.set, Op::Add, "n.ex. 60 IN A 192.0.2.1");
  ASSERT_TRUE(r.ok());
  EXPECT_NE(zoneset_version(*r.zones), v0);
  DeltaResult back = apply1(*r.zones, Op::Del, "n.ex. 60 IN A 192.0.2.1");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(zoneset_version(*back.zones), v0);
}

TEST(Delta, ErrorsNameTheChangeAndApplyNothing) {
  Fixture f;
  struct Case {
    Op op;
    const char* rr;
    DeltaStatus st;
    const char* what;
  };
  const Case cases[] = {
      {Op::Del, "nope.ex. 60 IN A 192.0.2.1", DeltaStatus::BadRequest, "no such record"},
      {Op::Add, "www.ex. 300 IN A 192.0.2.80", DeltaStatus::BadRequest, "already"},
      {Op::Add, "www.ex. 300 IN A", DeltaStatus::BadRequest, "change 2"},
      {Op::Add, "www.other. 300 IN A 192.0.2.1", DeltaStatus::BadRequest, "outside"},
      {Op::Add, "www.ex. 300 IN CNAME alias.ex.", DeltaStatus::InvalidZone, "CNAME and other data"},
      {Op::Add, "alias.ex. 300 IN CNAME mail.ex.", DeltaStatus::InvalidZone, "more than one CNAME"},
      {Op::Add, "x.dn.ex. 300 IN A 192.0.2.1", DeltaStatus::InvalidZone, "below the DNAME"},
      {Op::Add, "kids.ex. 300 IN DNAME k.example.", DeltaStatus::InvalidZone, "has names below"},
      {Op::Add, "ent.ex. 300 IN DNAME k.example.", DeltaStatus::InvalidZone, "has names below"},
      {Op::Add, "leaf.ex. 300 IN NS ns.leaf.ex.", DeltaStatus::InvalidZone, "missing glue"},
      {Op::Del, "ns.sub.ex. 3600 IN A 192.0.2.77", DeltaStatus::InvalidZone, "missing glue"},
      {Op::Del, "ns1.ex. 3600 IN A 192.0.2.53", DeltaStatus::InvalidZone, "missing glue"},
      {Op::Del, "ex. 3600 IN NS ns1.ex.", DeltaStatus::InvalidZone, "no NS"},
      {Op::Add, "www.ex. 300 IN SOA a.ex. b.ex. 1 2 3 4 5", DeltaStatus::InvalidZone,
       "not at the zone apex"},
      {Op::Add, "ex. 300 IN SOA a.ex. b.ex. 1 2 3 4 5", DeltaStatus::InvalidZone,
       "more than one SOA"},
      {Op::Del, "ex. 3600 IN SOA ns1.ex. host.ex. 1 7200 3600 1209600 300",
       DeltaStatus::InvalidZone, "no SOA"},
  };
  const VersionId v0 = zoneset_version(*f.set);
  for (const Case& c : cases) {
    // A valid change first: it must not be applied either.
    std::vector<DeltaChange> cs{{Op::Add, "ok.ex. 60 IN A 192.0.2.1"}, {c.op, c.rr}};
    DeltaResult r = apply_delta(*f.set, cs);
    EXPECT_EQ(r.status, c.st) << c.rr;
    EXPECT_FALSE(r.zones) << c.rr;
    bool found = false;
    for (const auto& d : r.diagnostics)
      if (d.is_error() && d.message.find(c.what) != std::string::npos &&
          (std::string(c.what) == "change 2" || d.message.find(c.rr) != std::string::npos))
        found = true;
    EXPECT_TRUE(found) << c.rr << ": "
                       << (r.diagnostics.empty() ? "" : r.diagnostics[0].to_string());
  }
  EXPECT_EQ(zoneset_version(*f.set), v0);
}

TEST(Delta, ZoneSetsShareUntouchedZonesAndRelativeOwnersNeedOneZone) {
  Fixture f;
  ZoneSetLoad other = load_zoneset_text(
      "; zone o.\no. 60 IN SOA o. o. 1 2 3 4 5\no. 60 IN NS ns.o.\nns.o. 60 IN A 192.0.2.1\n"
      "; zone child.ex.\nchild.ex. 60 IN SOA o. o. 7 2 3 4 5\nchild.ex. 60 IN NS ns.o.\n",
      "o");
  ASSERT_TRUE(other.zones);
  auto set = ZoneSet::build({f.set->zones()[0], other.zones->zones()[0], other.zones->zones()[1]});
  std::vector<DeltaChange> cs{{Op::Add, "www.child.ex. 60 IN A 192.0.2.2"}};
  DeltaResult r = apply_delta(*set, cs);
  ASSERT_TRUE(r.ok());
  // Longest match: the record went to child.ex., ex. and o. are shared as they were.
  EXPECT_EQ(r.zones->zones()[0], set->zones()[0]);
  EXPECT_EQ(r.zones->zones()[1], set->zones()[1]);
  EXPECT_NE(r.zones->zones()[2], set->zones()[2]);
  EXPECT_EQ(zone_record_count(*r.zones->zones()[2]), 3u);
  DeltaResult rel = apply1(*set, Op::Add, "www 60 IN A 192.0.2.2");
  EXPECT_EQ(rel.status, DeltaStatus::BadRequest);
  EXPECT_NE(rel.diagnostics.at(0).message.find("ambiguous"), std::string::npos);
}

TEST(Delta, LargeZoneRebuildsOnlyTouchedShards) {
  std::multiset<std::string> lines = split_lines(kBase);
  for (int i = 0; i < 30000; ++i)
    lines.insert("h" + std::to_string(i) + ".ex. 60 IN A 10.0." + std::to_string(i / 250) + "." +
                 std::to_string(i % 250));
  auto base = compile_lines(lines);
  ASSERT_TRUE(base);
  std::vector<DeltaChange> cs;
  for (int i = 0; i < 10; ++i) {
    std::string rr = "n" + std::to_string(i) + ".ex. 60 IN A 192.0.2." + std::to_string(i);
    cs.push_back({Op::Add, rr});
    lines.insert(rr);
    std::string old = "h" + std::to_string(i * 7) + ".ex. 60 IN A 10.0." +
                      std::to_string(i * 7 / 250) + "." + std::to_string(i * 7 % 250);
    cs.push_back({Op::Del, old});
    lines.erase(lines.find(old));
    std::string nw = "h" + std::to_string(i * 7) + ".ex. 60 IN A 10.9.9." + std::to_string(i);
    cs.push_back({Op::Add, nw});
    lines.insert(nw);
  }
  DeltaResult r = apply_delta(*base, cs);
  ASSERT_TRUE(r.ok());
  const Zone& a = *base->zones()[0];
  const Zone& b = *r.zones->zones()[0];
  ASSERT_EQ(a.shards.size(), b.shards.size());
  ASSERT_GT(a.shards.size(), 32u);
  size_t fresh = 0;
  for (size_t i = 0; i < a.shards.size(); ++i) fresh += a.shards[i] != b.shards[i];
  EXPECT_EQ(fresh, r.shards_rebuilt);
  EXPECT_LE(fresh, 21u);  // 20 touched names and the apex at most
  auto scratch = compile_lines(lines);
  EXPECT_EQ(zoneset_version(*r.zones), zoneset_version(*scratch));
  expect_same_answers(*r.zones, *scratch, {"n1.ex.", "h7.ex.", "h8.ex."});
}

TEST(Delta, LastNameBelowAnEntTakesTheEntWithIt) {
  Fixture f;
  f.add("a.b.two.ex. 60 IN A 192.0.2.1");  // b.two.ex. and two.ex. appear as ENTs
  f.add("c.b.two.ex. 60 IN A 192.0.2.2");
  f.apply_and_compare({"b.two.ex.", "two.ex."});
  // One of two children goes: the ENTs stay (NODATA, not NXDOMAIN).
  f.del("a.b.two.ex. 60 IN A 192.0.2.1");
  f.apply_and_compare({"a.b.two.ex.", "b.two.ex.", "two.ex."});
  const uint8_t* ent = nullptr;
  {
    Name n = Name::from_text("b.two.ex.");
    ent = f.set->zones()[0]->find(n.data(), n.size(), name_hash(n.data(), n.size()));
  }
  ASSERT_NE(ent, nullptr);
  EXPECT_TRUE(ent[0] & node_flag::Ent);
  // The last one goes: both ENTs go (NXDOMAIN).
  f.del("c.b.two.ex. 60 IN A 192.0.2.2");
  f.apply_and_compare({"c.b.two.ex.", "b.two.ex.", "two.ex."});
  Name n = Name::from_text("two.ex.");
  EXPECT_EQ(f.set->zones()[0]->find(n.data(), n.size(), name_hash(n.data(), n.size())), nullptr);
  // A name emptied while the delta adds a child under it: it stays as an ENT.
  f.del("leaf.ex. 300 IN A 192.0.2.10");
  f.add("x.leaf.ex. 60 IN A 192.0.2.3");
  f.apply_and_compare({"leaf.ex.", "x.leaf.ex."});
}

TEST(Delta, NewCutOccludesExistingNamesWithoutAScan) {
  Fixture f;
  f.add("d.e.deep.ex. 60 IN TXT \"d\"");
  f.add("f.deep.ex. 60 IN MX 1 mail.ex.");
  f.add("ns.deep.ex. 60 IN A 192.0.2.4");
  f.apply_and_compare();
  // deep.ex. (an ENT) becomes a cut: everything below is glue or occluded.
  f.add("deep.ex. 60 IN NS ns.deep.ex.");
  f.apply_and_compare({"d.e.deep.ex.", "e.deep.ex.", "f.deep.ex.", "ns.deep.ex.", "x.deep.ex."});
  // A DNAME over existing names is refused; once they are gone it is taken.
  DeltaResult r = apply1(*f.set, Op::Add, "x.ent.ex. 60 IN DNAME t.example.");
  EXPECT_TRUE(r.ok());  // x.ent.ex. has nothing below
  std::vector<DeltaChange> cs{{Op::Add, "kids.ex. 60 IN DNAME t.example."},
                              {Op::Del, "a.kids.ex. 300 IN A 192.0.2.12"}};
  r = apply_delta(*f.set, cs);
  EXPECT_EQ(r.status, DeltaStatus::InvalidZone);  // b.q.kids.ex. is still there
  EXPECT_EQ(r.full_scans, 0u);
  f.del("a.kids.ex. 300 IN A 192.0.2.12");
  f.del("b.q.kids.ex. 300 IN A 192.0.2.13");
  f.add("kids.ex. 300 IN DNAME t.example.");
  f.apply_and_compare({"kids.ex.", "x.kids.ex.", "q.kids.ex."});
  // The cut goes: its names are authoritative again.
  f.del("deep.ex. 60 IN NS ns.deep.ex.");
  f.apply_and_compare({"d.e.deep.ex.", "f.deep.ex.", "ns.deep.ex."});
}

TEST(Delta, ManyChildrenKeepACountAndFallBackToOneScan) {
  Fixture f;
  // 300 children of big.ex.: more than a list keeps (kManyKids).
  for (int i = 0; i < 300; ++i) f.add("c" + std::to_string(i) + ".big.ex. 60 IN A 192.0.2.5");
  f.apply_and_compare({"big.ex."});
  // Deleting most of them: the count follows, the ENT stays while one is left.
  for (int i = 0; i < 299; ++i) f.del("c" + std::to_string(i) + ".big.ex. 60 IN A 192.0.2.5");
  f.apply_and_compare({"big.ex.", "c0.big.ex."});
  for (int i = 0; i < 60; ++i) f.add("d" + std::to_string(i) + ".big.ex. 60 IN A 192.0.2.6");
  f.apply_and_compare({"big.ex."});
  // A cut over a family kept as a count: correct, through one scan.
  std::vector<DeltaChange> cs{{Op::Add, "big.ex. 60 IN NS ns.example.net."}};
  DeltaResult r = apply_delta(*f.set, cs);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.full_scans, 1u);
  f.lines.insert("big.ex. 60 IN NS ns.example.net.");
  auto scratch = compile_lines(f.lines);
  EXPECT_EQ(zoneset_text(*r.zones), zoneset_text(*scratch));
  expect_same_answers(*r.zones, *scratch, {"big.ex.", "d1.big.ex.", "c299.big.ex."});
  // The last children go: the count is exact again and the ENT disappears.
  f.set = r.zones;
  f.del("big.ex. 60 IN NS ns.example.net.");
  f.del("c299.big.ex. 60 IN A 192.0.2.5");
  for (int i = 0; i < 60; ++i) f.del("d" + std::to_string(i) + ".big.ex. 60 IN A 192.0.2.6");
  f.apply_and_compare({"big.ex."});
}

TEST(Delta, SharedShardsAreCountedOnce) {
  Fixture f;
  std::multiset<std::string> lines = split_lines(kBase);
  for (int i = 0; i < 20000; ++i) lines.insert("h" + std::to_string(i) + ".ex. 60 IN A 10.0.0.1");
  auto base = compile_lines(lines);
  ASSERT_TRUE(base);
  DeltaResult r = apply1(*base, Op::Add, "n.ex. 60 IN A 192.0.2.1");
  ASSERT_TRUE(r.ok());
  const size_t mb = zone_memory_bytes(*base->zones()[0]),
               mr = zone_memory_bytes(*r.zones->zones()[0]);
  const ZoneSet* one[] = {base.get()};
  const ZoneSet* twice[] = {base.get(), base.get()};
  const ZoneSet* both[] = {base.get(), r.zones.get()};
  EXPECT_EQ(zoneset_memory_unique(one), mb);
  EXPECT_EQ(zoneset_memory_unique(twice), mb);
  const size_t u = zoneset_memory_unique(both);
  // The base, the new shards, and the new zone's own part (shard pointers and views).
  EXPECT_GE(u, mb + r.new_shard_bytes);
  EXPECT_LE(u, mb + r.new_shard_bytes + 64 * 1024);
  EXPECT_LT(u, mb + mr);
}

// The answer engine's templates for cuts and CNAMEs (Shard::aux) live in the
// special node's shard and hold only what that node determines; glue and
// CNAME targets are looked up per answer. A delta that changes only the glue
// or the target rebuilds their shards, not the special node's: answers must
// still follow the new data (and match a scratch compile).
namespace {

size_t shard_of(const Zone& z, const std::string& name) {
  Name n = Name::from_text(name);
  return z.shard_index(name_hash(n.data(), n.size()));
}

// Whether the answer to (name, type) contains the 4 bytes of `addr`.
bool answer_has(const ZoneSet& s, const std::string& name, uint16_t type,
                const std::vector<uint8_t>& addr, AnswerKind* kind = nullptr) {
  auto q = query(name, type, true);
  uint8_t out[4096];
  AnswerResult r = answer_query(s, q, out, Transport::Udp);
  if (kind) *kind = r.kind;
  return std::search(out, out + r.len, addr.begin(), addr.end()) != out + r.len;
}

}  // namespace

TEST(Delta, TemplatesFollowGlueAndTargetsInOtherShards) {
  Fixture f;
  for (int i = 0; i < 4000; ++i)
    f.lines.insert("h" + std::to_string(i) + ".ex. 60 IN A 10.1." + std::to_string(i / 250) + "." +
                   std::to_string(i % 250));
  f.set = compile_lines(f.lines);
  const Zone& z0 = *f.set->zones()[0];
  ASSERT_GT(z0.shards.size(), 4u);
  // A glue name and a CNAME target in another shard than their cut / CNAME.
  int g = 0, t = 0;
  while (shard_of(z0, "g" + std::to_string(g) + ".deleg.ex.") == shard_of(z0, "deleg.ex.")) ++g;
  while (shard_of(z0, "t" + std::to_string(t) + ".ex.") == shard_of(z0, "c.ex.")) ++t;
  const std::string glue = "g" + std::to_string(g) + ".deleg.ex.",
                    target = "t" + std::to_string(t) + ".ex.";
  f.add("deleg.ex. 300 IN NS " + glue);
  f.add(glue + " 300 IN A 192.0.2.31");
  f.add("c.ex. 300 IN CNAME " + target);
  f.add(target + " 300 IN A 192.0.2.41");
  f.apply_and_compare({"x.deleg.ex.", "c.ex."});
  const std::vector<uint8_t> a31 = {192, 0, 2, 31}, a32 = {192, 0, 2, 32}, a41 = {192, 0, 2, 41},
                             a42 = {192, 0, 2, 42}, a43 = {192, 0, 2, 43};
  AnswerKind k;
  EXPECT_TRUE(answer_has(*f.set, "x.deleg.ex.", rrtype::A, a31, &k));
  EXPECT_EQ(k, AnswerKind::Referral);
  EXPECT_TRUE(answer_has(*f.set, "c.ex.", rrtype::A, a41));

  // New glue address, new target address: the cut's and the CNAME's shards are shared.
  auto before = f.set;
  f.del(glue + " 300 IN A 192.0.2.31");
  f.add(glue + " 300 IN A 192.0.2.32");
  f.del(target + " 300 IN A 192.0.2.41");
  f.add(target + " 300 IN A 192.0.2.42");
  f.apply_and_compare({"x.deleg.ex.", "c.ex."});
  const Zone& z1 = *f.set->zones()[0];
  EXPECT_EQ(z1.shards[shard_of(z1, "deleg.ex.")],
            before->zones()[0]->shards[shard_of(z1, "deleg.ex.")]);
  EXPECT_EQ(z1.shards[shard_of(z1, "c.ex.")], before->zones()[0]->shards[shard_of(z1, "c.ex.")]);
  EXPECT_TRUE(answer_has(*f.set, "x.deleg.ex.", rrtype::A, a32));
  EXPECT_FALSE(answer_has(*f.set, "x.deleg.ex.", rrtype::A, a31));
  EXPECT_TRUE(answer_has(*f.set, "c.ex.", rrtype::A, a42));
  EXPECT_FALSE(answer_has(*f.set, "c.ex.", rrtype::A, a41));

  // Glue gains an AAAA; the target loses its A (NODATA after the CNAME),
  // then disappears (NXDOMAIN after it), then comes back as another CNAME.
  f.add(glue + " 300 IN AAAA 2001:db8::31");
  f.del(target + " 300 IN A 192.0.2.42");
  f.add(target + " 300 IN TXT \"no address\"");
  f.apply_and_compare({"x.deleg.ex.", "c.ex."});
  EXPECT_FALSE(answer_has(*f.set, "c.ex.", rrtype::A, a42, &k));
  EXPECT_EQ(k, AnswerKind::NoData);
  f.del(target + " 300 IN TXT \"no address\"");
  f.apply_and_compare({"x.deleg.ex.", "c.ex.", target});
  f.add(target + " 300 IN CNAME www.ex.");
  f.apply_and_compare({"c.ex.", target});

  // The CNAME's own target and the cut's NS RRset change: their templates are rebuilt.
  f.del("c.ex. 300 IN CNAME " + target);
  f.add("c.ex. 300 IN CNAME h7.ex.");
  f.add("h7.ex. 60 IN A 192.0.2.43");
  f.add("deleg.ex. 300 IN NS ns1.ex.");
  f.add("deleg.ex. 300 IN NS ns.elsewhere.example.");
  f.apply_and_compare({"x.deleg.ex.", "y.x.deleg.ex.", "c.ex."});
  EXPECT_TRUE(answer_has(*f.set, "c.ex.", rrtype::A, a43));
  EXPECT_TRUE(answer_has(*f.set, "x.deleg.ex.", rrtype::A, {192, 0, 2, 53}));  // ns1.ex.'s address
  f.del("deleg.ex. 300 IN NS " + glue);
  f.del(glue + " 300 IN A 192.0.2.32");
  f.del(glue + " 300 IN AAAA 2001:db8::31");
  f.apply_and_compare({"x.deleg.ex.", "c.ex.", glue});
  EXPECT_FALSE(answer_has(*f.set, "x.deleg.ex.", rrtype::A, a32, &k));
  EXPECT_EQ(k, AnswerKind::Referral);
}
