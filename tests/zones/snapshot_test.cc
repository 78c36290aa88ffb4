// Compiled snapshot: lookups, flags, record iteration, zone set longest match.
#include "zones/snapshot.hh"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cstring>

#include "tests/zones/compile_text.hh"
#include "tests/zones/dir_sums.hh"
#include "zones/answer.hh"
#include "zones/grouping.hh"
#include "zones/load.hh"
#include "zones/zone.hh"

using namespace edgedns::zones;

namespace {
std::shared_ptr<const Zone> load(const std::string& file) {
  LoadResult lr = load_zone_file(std::string(EDGEDNS_TEST_DATA) + "/engine/" + file);
  for (const auto& d : lr.diagnostics) ADD_FAILURE() << d.to_string();
  return lr.zone;
}
const uint8_t* find(const Zone& z, const char* text) {
  Name n = Name::from_text(text).lower();
  return z.find(n.data(), n.size(), name_hash(n.data(), n.size()));
}
}  // namespace

TEST(Snapshot, NodesAndFlags) {
  auto z = load("example.com.zone");
  ASSERT_TRUE(z);
  EXPECT_EQ(zone_apex(*z).to_text(), "example.com.");
  EXPECT_EQ(zone_serial(*z), 1u);
  EXPECT_TRUE(find(*z, "WWW.example.com."));
  EXPECT_FALSE(find(*z, "nope.example.com."));
  const uint8_t* ent = find(*z, "c.ent.example.com.");
  ASSERT_TRUE(ent);
  EXPECT_TRUE(ent[0] & node_flag::Ent);
  EXPECT_TRUE(find(*z, "b.c.ent.example.com.")[0] & node_flag::Ent);
  EXPECT_TRUE(find(*z, "wild.example.com.")[0] & node_flag::WildChild);
  EXPECT_TRUE(find(*z, "sub.example.com.")[0] & node_flag::Cut);
  EXPECT_TRUE(find(*z, "ns.sub.example.com.")[0] & node_flag::Below);
  EXPECT_TRUE(find(*z, "dn.example.com.")[0] & node_flag::Dname);
  EXPECT_TRUE(find(*z, "example.com.")[0] & node_flag::Apex);
}

// "*" made only by a name below it: an empty non-terminal wildcard (RFC 4592
// §2.2.1). Its parent has a wildcard child, so the names it covers exist
// without data; the compiler used to leave both flags off (NXDOMAIN, where
// Knot and a delta answer NODATA).
TEST(Snapshot, EmptyNonTerminalWildcard) {
  auto z = edgedns::zones::test::compile_text(
      "$ORIGIN w.test.\n$TTL 300\n@ SOA ns1 h 1 3600 900 86400 60\n@ NS ns1\nns1 A 192.0.2.1\n"
      "x.* A 192.0.2.77\n");
  ASSERT_TRUE(z);
  const uint8_t* star = find(*z, "*.w.test.");
  ASSERT_TRUE(star);
  EXPECT_EQ(star[0] & (node_flag::Ent | node_flag::Wildcard), node_flag::Ent | node_flag::Wildcard);
  EXPECT_TRUE(find(*z, "w.test.")[0] & node_flag::WildChild);
  EXPECT_FALSE(find(*z, "x.*.w.test.")[0] & node_flag::WildChild);
  auto zs = ZoneSet::build({z});
  Name q = Name::from_text("new.w.test.");
  std::vector<uint8_t> p = {0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0};
  p.insert(p.end(), q.data(), q.data() + q.size());
  p.insert(p.end(), {0, 1, 0, 1});
  std::vector<uint8_t> out(512);
  AnswerResult r = answer_query(*zs, p, out, Transport::Udp);
  EXPECT_EQ(r.rcode, rcode::NOERROR);
  EXPECT_EQ(r.kind, AnswerKind::NoData);
}

// Every RRset's stored sum is that of its bytes (the hit path's UDP checksum uses it).
TEST(Snapshot, DirectorySumsMatchTheBytes) {
  auto z = load("example.com.zone");
  ASSERT_TRUE(z);
  EXPECT_GT(edgedns::zones::test::expect_dir_sums(*z), 10u);
}

TEST(Snapshot, ForEachRecordIsCanonicalAndComplete) {
  ParseOptions po;
  ParseResult pr = parse_zone_text(
      "$ORIGIN t.\n$TTL 60\n@ SOA a b 1 2 3 4 5\n@ NS a\na A 1.2.3.4\nZ.b A 1.2.3.5\nb TXT x\n",
      "t", po);
  ASSERT_FALSE(pr.has_errors());
  size_t n = pr.zone.records.size();
  auto z = compile_zone(std::move(pr.zone));
  std::vector<std::string> owners;
  zone_for_each_record(*z, [&](const uint8_t* o, size_t l, uint16_t, uint16_t, uint32_t ttl,
                               const uint8_t*, size_t) {
    owners.push_back(name_to_text(o, l));
    EXPECT_EQ(ttl, 60u);
  });
  ASSERT_EQ(owners.size(), n);
  EXPECT_EQ(owners.front(), "t.");
  EXPECT_EQ(owners.back(), "z.b.t.");
  EXPECT_EQ(zone_record_count(*z), n);
  EXPECT_GT(zone_memory_bytes(*z), 0u);
}

TEST(Snapshot, ManyNamesUseShards) {
  std::string text = "$ORIGIN m.\n$TTL 60\n@ SOA a b 1 2 3 4 5\n@ NS a\na A 1.2.3.4\n";
  for (int i = 0; i < 20000; ++i) text += "h" + std::to_string(i) + " A 10.0.0.1\n";
  ParseResult pr = parse_zone_text(text, "m", {});
  ASSERT_FALSE(pr.has_errors());
  auto z = compile_zone(std::move(pr.zone));
  // 20002 names, at most 512 per shard on average: 2^6 shards (2^5 would
  // hold 625 each), every name in the shard its hash's top bits name.
  const size_t names = 20002;
  unsigned want_bits = 0;
  while ((names >> want_bits) > 512) ++want_bits;
  ASSERT_EQ(want_bits, 6u);
  EXPECT_EQ(z->shard_bits, want_bits);
  ASSERT_EQ(z->shards.size(), size_t(1) << want_bits);
  size_t in_shards = 0;
  for (size_t i = 0; i < z->shards.size(); ++i) {
    const Shard& s = *z->shards[i];
    in_shards += s.names;
    for (const Slot& sl : s.slots) {
      if (sl.off == kEmptySlot) continue;
      const uint8_t* nd = s.blob.data() + sl.off;
      EXPECT_EQ(z->shard_index(name_hash(node_name(nd), nd[1])), i);
    }
  }
  EXPECT_EQ(in_shards, names);
  for (int i = 0; i < 20000; i += 997)
    EXPECT_TRUE(find(*z, ("h" + std::to_string(i) + ".m.").c_str())) << i;
  EXPECT_FALSE(find(*z, "h20000.m."));
}

TEST(ZoneSet, LongestMatchAndDuplicates) {
  auto parent = load("example.com.zone");
  auto child = load("sub.example.com.zone");
  auto net = load("example.net.zone");
  auto zs = ZoneSet::build({parent, child, net});
  auto f = [&](const char* t) {
    Name n = Name::from_text(t).lower();
    const Zone* z = zs->find(n.data(), n.size());
    return z ? zone_apex(*z).to_text() : std::string("-");
  };
  EXPECT_EQ(f("www.sub.example.com."), "sub.example.com.");
  EXPECT_EQ(f("sub.example.com."), "sub.example.com.");
  EXPECT_EQ(f("www.example.com."), "example.com.");
  EXPECT_EQ(f("a.b.example.net."), "example.net.");
  EXPECT_EQ(f("example.org."), "-");
  EXPECT_EQ(f("."), "-");
  EXPECT_THROW(ZoneSet::build({parent, parent}), std::invalid_argument);
}

TEST(Load, ErrorsMeanNoZone) {
  std::string path = ::testing::TempDir() + "/bad.zone";
  FILE* f = std::fopen(path.c_str(), "w");
  std::fputs("$ORIGIN bad.\n$TTL 60\n@ NS a\na A 1.2.3.4\n", f);
  std::fclose(f);
  LoadResult lr = load_zone_file(path);
  EXPECT_FALSE(lr.zone);
  ASSERT_FALSE(lr.diagnostics.empty());
}

// A zone large enough to be grouped by two threads (>= 200k records), with
// the records of some owners and RRsets spread over both halves of the file,
// duplicates and differing TTLs among them: the grouping is the order
// (hash, owner, type, rdata, file position) with every record exactly once,
// and the checks find each duplicate and TTL difference on its own line.
TEST(Grouping, TwoThreadsKeepTheOrderAndEveryRecord) {
  std::string text =
      "$ORIGIN big.example.\n$TTL 60\n@ SOA ns hm 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n";
  const int kHosts = 110000;
  uint32_t line = 5;
  std::vector<uint32_t> dup_lines;
  for (int half = 0; half < 2; ++half)
    for (int i = 0; i < kHosts; ++i) {
      // The second half adds a second address (TTL 70) to each host's RRset.
      std::string rr = "h";  // appended: GCC 12 warns falsely (-Wrestrict) on "x" + std::string
      rr += std::to_string(i);
      rr += half ? " 70 A 10.1." : " A 10.0.";
      rr += std::to_string(i >> 8 & 255);
      rr += '.';
      rr += std::to_string(i & 255);
      rr += '\n';
      text += rr;
      ++line;
      if (i % 20000 == 7) {
        text += rr;  // a duplicate of the line above
        dup_lines.push_back(++line);
      }
    }
  ParseResult pr = parse_zone_text(text, "big.zone");
  ASSERT_FALSE(pr.has_errors());
  const size_t n = pr.zone.records.size();
  ASSERT_GE(n, 200000u);
  Grouping g = group_records(pr.zone);
  ASSERT_EQ(g.size, n);
  // About 16 records per bucket (at most 2^16 buckets): the directory's size
  // follows from n alone, and it partitions [0, n).
  const unsigned want_bits = unsigned(std::clamp(int(std::bit_width(n)) - 4, 1, 16));
  ASSERT_EQ(g.dir_bits, want_bits);
  ASSERT_EQ(g.dir.size(), (size_t(1) << want_bits) + 1);
  ASSERT_EQ(g.dir.front(), 0u);
  ASSERT_EQ(g.dir.back(), n);
  ASSERT_TRUE(std::is_sorted(g.dir.begin(), g.dir.end()));
  std::vector<uint8_t> seen(n, 0);
  const uint8_t* arena = pr.zone.arena.data();
  for (size_t k = 0; k < n; ++k) {
    const GroupEnt& e = g.ents[k];
    ASSERT_LT(e.idx, n);
    ASSERT_FALSE(seen[e.idx]) << k;
    seen[e.idx] = 1;
    const Record& r = pr.zone.records[e.idx];
    ASSERT_EQ(e.hash, name_hash(arena + r.owner_off, r.owner_len));
    ASSERT_EQ(e.type, r.type);
    ASSERT_GE(k, g.dir[e.hash >> (64 - g.dir_bits)]);
    ASSERT_LT(k, g.dir[(e.hash >> (64 - g.dir_bits)) + 1]);
    if (k == 0) continue;
    const GroupEnt& p = g.ents[k - 1];
    ASSERT_LE(p.hash, e.hash) << k;
    if (p.hash == e.hash && same_owner(pr.zone, p, e) && p.type == e.type &&
        p.rdata_len == e.rdata_len &&
        std::memcmp(arena + p.rdata_off, arena + e.rdata_off, e.rdata_len) == 0) {
      ASSERT_LT(p.idx, e.idx) << "equal records keep file order";
    }
  }
  std::vector<Diagnostic> diags;
  check_zone(pr.zone, diags);
  size_t dups = 0, ttls = 0;
  for (const auto& d : diags) {
    ASSERT_FALSE(d.is_error()) << d.to_string();
    if (d.message.find("duplicate record") != std::string::npos) {
      ++dups;
      // The duplicate is the second line of its pair, in either half.
      EXPECT_NE(std::find(dup_lines.begin(), dup_lines.end(), d.line), dup_lines.end())
          << d.to_string();
    }
    if (d.message.find("TTL 70 differs from 60") != std::string::npos) ++ttls;
  }
  EXPECT_EQ(dups, dup_lines.size());
  EXPECT_EQ(dups, 12u);
  EXPECT_EQ(ttls, 1000u);  // one per RRset, capped at 1000 reports per rule
  EXPECT_EQ(pr.zone.records.size(), n - 12);
}

// The compiler's first pass runs on two threads for zones of 200k records or
// more. Names with every kind of relation (ENT ancestors, wildcards, cuts and
// glue, DNAMEs) compiled beside 210k filler records get the same nodes,
// flags, RRset counts and children as when compiled alone (one thread).
TEST(Compile, TwoThreadsFindTheSameStructure) {
  std::string head =
      "$ORIGIN big.example.\n$TTL 60\n@ SOA ns hm 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n";
  std::string special;
  std::vector<std::string> names;
  for (int i = 0; i < 300; ++i) {
    const std::string n = std::to_string(i);
    special += "a.b.c.ent" + n + " A 10.0.0.1\n*.wild" + n + " A 10.0.0.2\nwild" + n +
               " TXT \"w\"\n" + "sub" + n + " NS ns.sub" + n + "\nns.sub" + n +
               " A 10.0.0.3\nx.sub" + n + " TXT \"occluded\"\n" + "dn" + n +
               " DNAME target.example.\n";
    for (const char* p :
         {"a.b.c.ent", "b.c.ent", "c.ent", "ent", "*.wild", "wild", "sub", "ns.sub", "x.sub", "dn"})
      names.push_back(std::string(p) + n + ".big.example.");
  }
  std::string filler;
  for (int i = 0; i < 210000; ++i) filler += "h" + std::to_string(i) + ".fill A 10.1.0.1\n";
  auto compile = [](const std::string& text) { return test::compile_text(text, "t.zone"); };
  auto small = compile(head + special);
  auto big = compile(head + special + filler);
  ASSERT_TRUE(small && big);
  ASSERT_GE(zone_record_count(*big), 200000u);
  for (const std::string& text : names) {
    Name nm = Name::from_text(text).lower();
    const uint64_t h = name_hash(nm.data(), nm.size());
    const uint8_t* a = small->find(nm.data(), nm.size(), h);
    const uint8_t* b = big->find(nm.data(), nm.size(), h);
    ASSERT_TRUE(a && b) << text;
    EXPECT_EQ(a[0], b[0]) << text;  // flags
    EXPECT_EQ(reinterpret_cast<const NodeHdr*>(a)->nrrsets,
              reinterpret_cast<const NodeHdr*>(b)->nrrsets)
        << text;
    auto kids = [&](const Zone& z) {
      const Shard& s = *z.shards[z.shard_index(h)];
      for (uint32_t i = 0; i < s.slots.size(); ++i)
        if (s.slots[i].off != kEmptySlot &&
            s.blob.data() + s.slots[i].off == (&z == small.get() ? a : b))
          return kids_of(s, i).count;
      return uint32_t(UINT32_MAX);
    };
    EXPECT_EQ(kids(*small), kids(*big)) << text;
  }
  // The filler's parent is an ENT with every filler name as a child.
  Name fill = Name::from_text("fill.big.example.").lower();
  const uint8_t* f = big->find(fill.data(), fill.size(), name_hash(fill.data(), fill.size()));
  ASSERT_TRUE(f);
  EXPECT_TRUE(f[0] & node_flag::Ent);
}
