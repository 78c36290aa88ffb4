// Validation gates over in-memory zones: every rejection the push
// gates make, plus the RFC 1982 serial arithmetic, per-type limits, size
// caps and the external validator.
#include "control/gates.hh"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

using namespace edgedns::ctl;

namespace {

// 10 names: apex, ns1, ns2, mail, www, web, h1..h4.
std::string base_zone(uint32_t serial = 2024010101, const std::string& extra = "",
                      const std::string& skip = "") {
  std::string z = "$ORIGIN example.com.\n$TTL 3600\n";
  z += "@ SOA ns1 hostmaster " + std::to_string(serial) + " 7200 900 1209600 300\n";
  z += "@ NS ns1\n@ NS ns2\n@ MX 10 mail\n@ A 192.0.2.1\n";
  for (std::string n : {"ns1", "ns2", "mail", "www", "web", "h1", "h2", "h3", "h4"})
    if (skip.find(" " + n + " ") == std::string::npos)
      z += n + " A 192.0.2." + std::to_string(n.size() + 10) + "\n";
  return z + extra;
}

std::vector<LoadedZone> zones(const std::string& text) {
  std::vector<LoadedZone> v;
  v.push_back(load_zone_text(text, "example.com.zone"));
  return v;
}

GateReport gates(const std::string& next, const std::string& committed, GateFlags f = {},
                 GateLimits l = {}) {
  auto n = zones(next);
  auto c = zones(committed);
  return run_gates(n, &c, l, f, std::filesystem::temp_directory_path().string());
}

bool has_rule(const GateReport& r, const std::string& rule) {
  for (const auto& x : r.rejections)
    if (x.rule == rule) return true;
  return false;
}

std::string all(const GateReport& r) {
  std::string s;
  for (const auto& x : r.rejections) s += x.rule + ": " + x.message + "\n";
  return s;
}

}  // namespace

TEST(Gates, GoodChangePasses) {
  auto r = gates(base_zone(2024010102, "new A 192.0.2.77\n"), base_zone());
  EXPECT_TRUE(r.ok()) << all(r);
  ASSERT_EQ(r.diffs.size(), 1u);
  EXPECT_EQ(r.diffs[0].names_added, 1u);
  EXPECT_EQ(r.diffs[0].rrsets_added, 1u);
  EXPECT_EQ(r.diffs[0].rrsets_modified, 1u);  // the SOA (serial)
  ASSERT_EQ(r.diffs[0].added.size(), 2u);
  EXPECT_EQ(r.diffs[0].added[1], "+new.example.com. 3600 IN A 192.0.2.77");
  ASSERT_EQ(r.diffs[0].removed.size(), 1u);
  EXPECT_EQ(r.diffs[0].removed[0].substr(0, 25), "-example.com. 3600 IN SOA");
}

TEST(Gates, SyntaxErrorIsRejectedAsParse) {
  auto r = gates(base_zone(2024010102, "broken A 999.1.1.1\n"), base_zone());
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(has_rule(r, "parse")) << all(r);
  EXPECT_NE(r.rejections[0].message.find("example.com.zone"), std::string::npos);
}

TEST(Gates, MissingSoaIsRejected) {
  auto r = gates("$ORIGIN example.com.\n$TTL 60\n@ NS ns1\nns1 A 192.0.2.53\n", base_zone());
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(has_rule(r, "check") || has_rule(r, "parse")) << all(r);
}

TEST(Gates, CnameBesideOtherDataIsRejected) {
  auto r = gates(base_zone(2024010102, "www CNAME web\n"), base_zone());
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(has_rule(r, "check")) << all(r);
  EXPECT_NE(r.rejections[0].message.find("CNAME"), std::string::npos) << all(r);
}

TEST(Gates, SerialMustIncrease) {
  auto same = gates(base_zone(2024010101, "new A 192.0.2.77\n"), base_zone());
  ASSERT_FALSE(same.ok());
  EXPECT_TRUE(has_rule(same, "serial"));
  EXPECT_NE(same.rejections[0].message.find("2024010101"), std::string::npos) << all(same);
  auto lower = gates(base_zone(2024010100), base_zone());
  EXPECT_TRUE(has_rule(lower, "serial"));
  auto forced = gates(base_zone(2024010100), base_zone(), GateFlags{.force_serial = true});
  EXPECT_TRUE(forced.ok()) << all(forced);
}

// A zone pushed again unchanged beside one that changed keeps its serial,
// as it should: only changed zones are held to the serial gate.
TEST(Gates, AnUnchangedZoneBesideAChangedOneKeepsItsSerial) {
  const std::string other =
      "$ORIGIN other.test.\n@ 60 SOA ns1 h 5 1 1 1 1\n@ 60 NS ns1\nns1 60 A 192.0.2.9\n";
  std::vector<LoadedZone> next = zones(base_zone(2024010102, "new A 192.0.2.77\n"));
  std::vector<LoadedZone> committed = zones(base_zone());
  next.push_back(load_zone_text(other, "other.zone"));
  committed.push_back(load_zone_text(other, "other.zone"));
  auto r = run_gates(next, &committed, {}, {}, std::filesystem::temp_directory_path().string());
  EXPECT_TRUE(r.ok()) << all(r);
  ASSERT_EQ(r.diffs.size(), 2u);
  EXPECT_EQ(r.diffs[1].rrsets_changed(), 0u);
  EXPECT_EQ(r.diffs[1].serial_after, 5u);
  // Changed without a serial bump, it is held to it.
  next[1] = load_zone_text(other + "www.other.test. 60 A 192.0.2.10\n", "other.zone");
  r = run_gates(next, &committed, {}, {}, std::filesystem::temp_directory_path().string());
  EXPECT_TRUE(has_rule(r, "serial")) << all(r);
}

TEST(Gates, SerialArithmeticIsRfc1982) {
  EXPECT_TRUE(serial_gt(2, 1));
  EXPECT_FALSE(serial_gt(1, 1));
  EXPECT_FALSE(serial_gt(1, 2));
  EXPECT_TRUE(serial_gt(5, 0xfffffff0u));  // wrapped around
  EXPECT_FALSE(serial_gt(0xfffffff0u, 5));
  EXPECT_FALSE(serial_gt(0x80000000u, 0));  // exactly half way: undefined, not greater
  auto wrap = gates(base_zone(3), base_zone(0xfffffffeu));
  EXPECT_TRUE(wrap.ok()) << all(wrap);
}

TEST(Gates, FortyPercentOfNamesRemovedIsRejectedWithNumbers) {
  auto r = gates(base_zone(2024010102, "", " h1 h2 h3 h4 "), base_zone());
  ASSERT_FALSE(r.ok());
  ASSERT_TRUE(has_rule(r, "blast-radius")) << all(r);
  EXPECT_EQ(r.rejections[0].message,
            "example.com.: 40.0% of names removed (4 of 10) exceeds 10.0%");
}

TEST(Gates, TenPercentOfNamesRemovedPasses) {
  auto r = gates(base_zone(2024010102, "", " h4 "), base_zone());
  EXPECT_TRUE(r.ok()) << all(r);
  EXPECT_EQ(r.diffs[0].names_removed, 1u);
  EXPECT_EQ(r.diffs[0].removed.size(), 2u);  // h4 and the old SOA
}

TEST(Gates, CountLimitAndRrsetLimits) {
  GateLimits l;
  l.max_names_removed = 0;
  auto r = gates(base_zone(2024010102, "", " h4 "), base_zone(), {}, l);
  EXPECT_TRUE(has_rule(r, "blast-radius"));
  EXPECT_NE(all(r).find("1 names removed exceeds the limit of 0"), std::string::npos) << all(r);

  GateLimits rr;
  rr.max_rrsets_changed_fraction = 0.1;  // 3 of 13 RRsets changed below
  auto r2 = gates(base_zone(2024010102, "h5 A 192.0.2.5\nh6 A 192.0.2.6\n"), base_zone(), {}, rr);
  EXPECT_NE(all(r2).find("RRsets changed (3 of 13) exceeds 10.0%"), std::string::npos) << all(r2);
}

TEST(Gates, PerTypeLimit) {
  GateLimits l;
  l.per_type[15] = TypeLimit{std::nullopt, size_t(0)};  // MX: no change at all
  auto mx = gates(base_zone(2024010102, "") + "", base_zone(), {}, l);
  EXPECT_TRUE(mx.ok()) << all(mx);
  std::string changed = base_zone(2024010102);
  changed.replace(changed.find("@ MX 10 mail"), 12, "@ MX 20 mail");
  auto r = gates(changed, base_zone(), {}, l);
  EXPECT_NE(all(r).find("1 MX RRsets changed exceeds the limit of 0"), std::string::npos) << all(r);
}

TEST(Gates, ApexNsChangeNeedsFlag) {
  std::string changed = base_zone(2024010102, "ns3 A 192.0.2.55\n");
  changed.replace(changed.find("@ NS ns2"), 8, "@ NS ns3");
  auto r = gates(changed, base_zone());
  ASSERT_TRUE(has_rule(r, "apex")) << all(r);
  EXPECT_NE(all(r).find("apex NS changed"), std::string::npos) << all(r);
  auto ok = gates(changed, base_zone(), GateFlags{.allow_apex_change = true});
  EXPECT_TRUE(ok.ok()) << all(ok);
}

// A signed apex: the committed version publishes a DNSKEY and a DS there, so
// dropping either is an apex change although nothing there was modified.
std::string signed_zone(uint32_t serial, bool dnskey = true, bool ds = true) {
  std::string z = base_zone(serial);
  if (dnskey)
    z += "@ DNSKEY 257 3 13 "
         "mdsswUyr3DPW132mOi8V9xESWE8jTo0dxCjjnopKl+GqJxpVXckHAeF+KkxLbxILfDLUT0rAK9iUzy1L53eKGQ=="
         "\n";
  if (ds) z += "@ DS 12345 13 2 2BB183AF5F22588179A53B0A98631FAD1A292118B1A1C9E6E4A8C1B9A3C3F6E0\n";
  return z;
}

TEST(Gates, ApexDnskeyRemovalIsAnApexChange) {
  auto r = gates(signed_zone(2024010102, false, true), signed_zone(2024010101));
  ASSERT_TRUE(has_rule(r, "apex")) << all(r);
  EXPECT_NE(all(r).find("DNSKEY removed"), std::string::npos) << all(r);
  EXPECT_EQ(all(r).find("DS removed"), std::string::npos) << all(r);
  auto ok = gates(signed_zone(2024010102, false, true), signed_zone(2024010101),
                  GateFlags{.allow_apex_change = true});
  EXPECT_TRUE(ok.ok()) << all(ok);
}

TEST(Gates, ApexDsRemovalIsAnApexChange) {
  auto r = gates(signed_zone(2024010102, true, false), signed_zone(2024010101));
  ASSERT_TRUE(has_rule(r, "apex")) << all(r);
  EXPECT_NE(all(r).find("DS removed"), std::string::npos) << all(r);
}

TEST(Gates, ApexRemovalsAndChangesAreNamedTogether) {
  // DNSKEY and DS gone, NS replaced: one rejection naming all three.
  std::string next = signed_zone(2024010102, false, false) + "ns3 A 192.0.2.55\n";
  next.replace(next.find("@ NS ns2"), 8, "@ NS ns3");
  auto r = gates(next, signed_zone(2024010101));
  ASSERT_TRUE(has_rule(r, "apex")) << all(r);
  EXPECT_NE(all(r).find("DNSKEY removed"), std::string::npos) << all(r);
  EXPECT_NE(all(r).find("DS removed"), std::string::npos) << all(r);
  EXPECT_NE(all(r).find("NS changed"), std::string::npos) << all(r);
}

TEST(Gates, ApexDnskeyAddedIsNamedAsAdded) {
  auto r = gates(signed_zone(2024010102, true, false), signed_zone(2024010101, false, false));
  ASSERT_TRUE(has_rule(r, "apex")) << all(r);
  EXPECT_NE(all(r).find("DNSKEY added"), std::string::npos) << all(r);
}

TEST(Gates, RemovingAnUnguardedApexTypePasses) {
  std::string next = signed_zone(2024010102);
  next.erase(next.find("@ MX 10 mail\n"), 13);
  auto r = gates(next, signed_zone(2024010101));
  EXPECT_TRUE(r.ok()) << all(r);
}

TEST(Gates, ApexSoaFieldsOtherThanSerial) {
  std::string changed = base_zone(2024010102);
  changed.replace(changed.find(" 7200 "), 6, " 7300 ");
  auto r = gates(changed, base_zone());
  EXPECT_NE(all(r).find("SOA (other than serial)"), std::string::npos) << all(r);
  // The serial alone is not an apex change.
  EXPECT_TRUE(gates(base_zone(2024010102), base_zone()).ok());
}

TEST(Gates, SizeCaps) {
  GateLimits l;
  l.max_records = 5;
  auto r = gates(base_zone(2024010102), base_zone(), {}, l);
  ASSERT_TRUE(has_rule(r, "size"));
  EXPECT_NE(all(r).find("14 records exceed the cap of 5"), std::string::npos) << all(r);
  GateLimits b;
  b.max_bytes = 100;
  EXPECT_TRUE(has_rule(gates(base_zone(2024010102), base_zone(), {}, b), "size"));
}

TEST(Gates, FirstPushSkipsComparisonsWithANote) {
  auto n = zones(base_zone());
  auto r = run_gates(n, nullptr, {}, {}, "/tmp");
  EXPECT_TRUE(r.ok());
  ASSERT_EQ(r.notes.size(), 1u);
}

TEST(Gates, RemovingAZoneCountsAsRemovingAllItsNames) {
  auto c = zones(base_zone());
  c.push_back(load_zone_text(
      "$ORIGIN example.net.\n$TTL 60\n@ SOA ns1 h 1 2 3 4 5\n@ NS ns1\nns1 A 192.0.2.9\n",
      "example.net.zone"));
  auto n = zones(base_zone(2024010102));
  auto r = run_gates(n, &c, {}, {}, "/tmp");
  EXPECT_NE(all(r).find("example.net.: 100.0% of names removed (2 of 2)"), std::string::npos)
      << all(r);
}

TEST(Gates, ExternalValidatorSeesZoneAndDiff) {
  GateLimits l;
  // Rejects any change that deletes an address: the diff file has '-... A' lines.
  l.validator =
      "sh -c 'grep -q \"^\\$ORIGIN example.com.\" \"$0\" && ! grep -q \"^-.* IN A \" \"$1\" || { "
      "echo deletes addresses; exit 3; }'";
  auto ok = gates(base_zone(2024010102, "new A 192.0.2.77\n"), base_zone(), {}, l);
  EXPECT_TRUE(ok.ok()) << all(ok);
  auto bad = gates(base_zone(2024010102, "", " h4 "), base_zone(), {}, l);
  ASSERT_TRUE(has_rule(bad, "validator")) << all(bad);
  EXPECT_NE(all(bad).find("exited with 3: deletes addresses"), std::string::npos) << all(bad);
}

TEST(Gates, ExternalValidatorTimeout) {
  GateLimits l;
  l.validator = "sleep 30;";
  l.validator_timeout_s = 0.2;
  auto r = gates(base_zone(2024010102), base_zone(), {}, l);
  ASSERT_TRUE(has_rule(r, "validator")) << all(r);
  EXPECT_NE(all(r).find("did not finish"), std::string::npos) << all(r);
}
