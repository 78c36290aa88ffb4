// delta_bench: time to build the new snapshot from a 100-record delta on a
// 1,000,000-record zone (apply_delta: parse, check, copy-on-write of the
// touched shards, new ZoneSet), p50/p99 over a chain of deltas, with the
// extra memory per delta and the answering cost before and after.
//
//   delta_bench [RECORDS=1000000] [DELTAS=200]
//
// Each delta: 50 new names (A) + 50 changed A records (del old + add new),
// applied to the previous result as a node does. Two more series delete names
// (50 deletions + 50 new names, then 100 deletions per delta). A measuring
// driver: prints numbers, asserts nothing on time.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "zones/answer.hh"
#include "zones/check.hh"
#include "zones/delta.hh"
#include "zones/parser.hh"
#include "zones/snapshot.hh"
#include "zones/version.hh"

using namespace edgedns::zones;
using Clock = std::chrono::steady_clock;

namespace {

std::string a_rdata(long i) {
  return "10." + std::to_string(i / 65536 % 256) + "." + std::to_string(i / 256 % 256) + "." +
         std::to_string(i % 256);
}

double pct(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, size_t(p * double(v.size() - 1) + 0.5))];
}

// Mean ns per answer_query over `names` (all existing A names).
double answer_ns(const ZoneSet& zs, const std::vector<std::vector<uint8_t>>& qs) {
  uint8_t out[1232];
  size_t sink = 0;
  auto t0 = Clock::now();
  for (int round = 0; round < 5; ++round)
    for (const auto& q : qs) sink += answer_query(zs, q, out, Transport::Udp).len;
  auto t1 = Clock::now();
  if (sink == 42) std::puts("");
  return std::chrono::duration<double, std::nano>(t1 - t0).count() / double(5 * qs.size());
}

}  // namespace

int main(int argc, char** argv) {
  const long records = argc > 1 ? std::atol(argv[1]) : 1000000;
  const int deltas = argc > 2 ? std::atoi(argv[2]) : 200;
  std::string text =
      "$ORIGIN bench.test.\n$TTL 3600\n@ IN SOA ns1 hostmaster 1 7200 3600 1209600 300\n@ IN NS "
      "ns1\nns1 IN A 192.0.2.53\n";
  text.reserve(size_t(records) * 28);
  for (long i = 0; i < records; ++i) text += "h" + std::to_string(i) + " IN A " + a_rdata(i) + "\n";
  auto t0 = Clock::now();
  ParseResult pr = parse_zone_text(text, "bench");
  std::vector<Diagnostic> diags;
  check_zone(pr.zone, diags);
  auto zone = compile_zone(std::move(pr.zone));
  auto base = ZoneSet::build({zone});
  auto t1 = Clock::now();
  std::string().swap(text);
  std::printf("zone: %ld records, %.1f MB, load %.0f ms\n", records + 3,
              double(zone_memory_bytes(*zone)) / 1e6,
              std::chrono::duration<double, std::milli>(t1 - t0).count());

  std::mt19937_64 rng(42);
  std::vector<std::vector<uint8_t>> qs;
  auto make_query = [](const std::string& name) {
    std::vector<uint8_t> q = {0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0};
    Name n = Name::from_text(name);
    q.insert(q.end(), n.data(), n.data() + n.size());
    q.insert(q.end(), {0, 1, 0, 1});
    return q;
  };
  for (int i = 0; i < 200000; ++i)
    qs.push_back(make_query("h" + std::to_string(rng() % records) + ".bench.test."));
  const double ns_before = answer_ns(*base, qs);

  // Series 1: 50 new names + 50 changed A records per delta.
  std::vector<long> current(static_cast<size_t>(records));  // current last octet source of h<i>
  for (long i = 0; i < records; ++i) current[size_t(i)] = i;
  std::vector<double> ms, kb;
  auto set = base;
  long next_new = 0;
  for (int d = 0; d < deltas; ++d) {
    std::vector<DeltaChange> cs;
    for (int k = 0; k < 50; ++k, ++next_new)
      cs.push_back({DeltaChange::Op::Add, "new" + std::to_string(next_new) +
                                              ".bench.test. 3600 IN A 192.0.2." +
                                              std::to_string(k)});
    for (int k = 0; k < 50; ++k) {
      long i = long(rng() % uint64_t(records));
      cs.push_back({DeltaChange::Op::Del, "h" + std::to_string(i) + ".bench.test. 3600 IN A " +
                                              a_rdata(current[size_t(i)])});
      current[size_t(i)] += 1 + long(rng() % 1000);
      cs.push_back({DeltaChange::Op::Add, "h" + std::to_string(i) + ".bench.test. 3600 IN A " +
                                              a_rdata(current[size_t(i)])});
    }
    auto a = Clock::now();
    DeltaResult r = apply_delta(*set, cs);
    auto b = Clock::now();
    if (!r.ok()) {
      for (const auto& x : r.diagnostics) std::fprintf(stderr, "%s\n", x.to_string().c_str());
      return 1;
    }
    ms.push_back(std::chrono::duration<double, std::milli>(b - a).count());
    kb.push_back(double(r.new_shard_bytes) / 1024.0);
    set = r.zones;
  }
  std::printf(
      "delta 50 add + 50 change (150 RR lines), %d deltas: p50 %.2f ms  p99 %.2f ms  max %.2f ms; "
      "new shards per delta p50 %.0f KiB p99 %.0f KiB (zone %.1f MB)\n",
      deltas, pct(ms, 0.5), pct(ms, 0.99), pct(ms, 1.0), pct(kb, 0.5), pct(kb, 0.99),
      double(zone_memory_bytes(*set->zones()[0])) / 1e6);
  const double ns_after = answer_ns(*set, qs);
  std::printf("answer_query on existing names: %.0f ns before, %.0f ns after %d deltas (%+.1f%%)\n",
              ns_before, ns_after, deltas, 100.0 * (ns_after - ns_before) / ns_before);

  // Series 2 and 3: deltas that delete names (each settles whether the
  // parent keeps children: the apex here, through its child count).
  std::vector<bool> deleted(static_cast<size_t>(records), false);
  auto pick_existing = [&]() {
    for (;;) {
      long i = long(rng() % uint64_t(records));
      if (!deleted[size_t(i)]) {
        deleted[size_t(i)] = true;
        return i;
      }
    }
  };
  auto series = [&](const char* what, int dels, int adds) -> bool {
    std::vector<double> t;
    size_t scans = 0;
    for (int d = 0; d < deltas; ++d) {
      std::vector<DeltaChange> cs;
      for (int k = 0; k < dels; ++k) {
        long i = pick_existing();
        cs.push_back({DeltaChange::Op::Del, "h" + std::to_string(i) + ".bench.test. 3600 IN A " +
                                                a_rdata(current[size_t(i)])});
      }
      for (int k = 0; k < adds; ++k, ++next_new)
        cs.push_back({DeltaChange::Op::Add, "new" + std::to_string(next_new) +
                                                ".bench.test. 3600 IN A 192.0.2." +
                                                std::to_string(k)});
      auto a = Clock::now();
      DeltaResult r = apply_delta(*set, cs);
      auto b = Clock::now();
      if (!r.ok()) {
        for (const auto& x : r.diagnostics) std::fprintf(stderr, "%s\n", x.to_string().c_str());
        return false;
      }
      t.push_back(std::chrono::duration<double, std::milli>(b - a).count());
      scans += r.full_scans;
      set = r.zones;
    }
    std::printf("delta %s, %d deltas: p50 %.2f ms  p99 %.2f ms  max %.2f ms (zone scans: %zu)\n",
                what, deltas, pct(t, 0.5), pct(t, 0.99), pct(t, 1.0), scans);
    return true;
  };
  if (!series("50 name deletions + 50 new names", 50, 50)) return 1;
  if (!series("100 name deletions", 100, 0)) return 1;
  return 0;
}
