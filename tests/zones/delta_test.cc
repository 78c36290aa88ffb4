// Deltas: answers and version after a delta equal those of the same content
// compiled from scratch (added/removed names, ENTs, wildcards, cuts, DNAME,
// SOA); errors name the change and leave nothing applied; untouched shards
// are shared with the base.
#include "zones/delta.hh"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "zones/answer.hh"
#include "zones/snapshot_impl.hh"
#include "zones/version.hh"
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
void expect_same_answers(const ZoneSet& got, const ZoneSet& want, const std::vector<std::string>& extra = {}) {
  std::set<std::string> names(extra.begin(), extra.end());
  for (const ZoneSet* s : {&got, &want})
    for (const auto& z : s->zones())
      zone_for_each_record(*z, [&](const uint8_t* o, size_t ol, uint16_t, uint16_t, uint32_t, const uint8_t*, size_t) {
        std::string t = name_to_text(o, ol);
        names.insert(t);
        names.insert("zz." + t);
        names.insert("a.b." + t);
        for (size_t p = t.find('.'); p != std::string::npos && p + 1 < t.size(); p = t.find('.', p + 1))
          names.insert(t.substr(p + 1));
      });
  const uint16_t types[] = {rrtype::A, rrtype::AAAA, rrtype::NS, rrtype::SOA, rrtype::CNAME, rrtype::TXT,
                            rrtype::MX, rrtype::DNAME, rrtype::DS, rrtype::ANY};
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

struct Fixture {
  std::multiset<std::string> lines = split_lines(kBase);
  std::shared_ptr<const ZoneSet> set = compile_lines(lines);
  std::vector<DeltaChange> changes;

  void add(const std::string& rr) { changes.push_back({Op::Add, rr}); lines.insert(rr); }
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
    auto scratch = compile_lines(lines);
    ASSERT_TRUE(scratch);
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
  f.del("b.c.ent.ex. 300 IN TXT \"deep\"");  // c.ent.ex. (ENT) goes, ent.ex. stays (x.ent.ex.)
  f.del("b.q.kids.ex. 300 IN A 192.0.2.13");  // q.kids.ex. (ENT) goes
  f.del("leaf.ex. 300 IN A 192.0.2.10");
  f.apply_and_compare({"c.ent.ex.", "b.c.ent.ex.", "q.kids.ex.", "leaf.ex."});
  f.del("x.ent.ex. 300 IN TXT \"x\"");  // now ent.ex. goes too
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
  EXPECT_NE(r.diagnostics[0].message.find("using 300"), std::string::npos) << r.diagnostics[0].message;
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
  struct Case { Op op; const char* rr; DeltaStatus st; const char* what; };
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
      {Op::Add, "www.ex. 300 IN SOA a.ex. b.ex. 1 2 3 4 5", DeltaStatus::InvalidZone, "not at the zone apex"},
      {Op::Add, "ex. 300 IN SOA a.ex. b.ex. 1 2 3 4 5", DeltaStatus::InvalidZone, "more than one SOA"},
      {Op::Del, "ex. 3600 IN SOA ns1.ex. host.ex. 1 7200 3600 1209600 300", DeltaStatus::InvalidZone, "no SOA"},
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
          (std::string(c.what) == "change 2" || d.message.find(c.rr) != std::string::npos)) found = true;
    EXPECT_TRUE(found) << c.rr << ": " << (r.diagnostics.empty() ? "" : r.diagnostics[0].to_string());
  }
  EXPECT_EQ(zoneset_version(*f.set), v0);
}

TEST(Delta, ZoneSetsShareUntouchedZonesAndRelativeOwnersNeedOneZone) {
  Fixture f;
  ZoneSetLoad other = load_zoneset_text(
      "; zone o.\no. 60 IN SOA o. o. 1 2 3 4 5\no. 60 IN NS ns.o.\nns.o. 60 IN A 192.0.2.1\n"
      "; zone child.ex.\nchild.ex. 60 IN SOA o. o. 7 2 3 4 5\nchild.ex. 60 IN NS ns.o.\n", "o");
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
  for (int i = 0; i < 30000; ++i) lines.insert("h" + std::to_string(i) + ".ex. 60 IN A 10.0." + std::to_string(i / 250) + "." + std::to_string(i % 250));
  auto base = compile_lines(lines);
  ASSERT_TRUE(base);
  std::vector<DeltaChange> cs;
  for (int i = 0; i < 10; ++i) {
    std::string rr = "n" + std::to_string(i) + ".ex. 60 IN A 192.0.2." + std::to_string(i);
    cs.push_back({Op::Add, rr});
    lines.insert(rr);
    std::string old = "h" + std::to_string(i * 7) + ".ex. 60 IN A 10.0." + std::to_string(i * 7 / 250) + "." + std::to_string(i * 7 % 250);
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
