// Google Benchmark for the zones library: parse+compile throughput and
// answer-engine ns/query (hit, NXDOMAIN, wildcard, referral, CNAME) on zones
// of 10k and 1M names generated in memory at start (nothing large committed),
// one query at a time (run/...) and in dataplane-style bursts of 32 with
// prefetch_burst (burst/..., plus NODATA and the dataplane's mix).
#include <benchmark/benchmark.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "zones/answer.hh"
#include "zones/check.hh"
#include "zones/parser.hh"
#include "zones/snapshot.hh"

using namespace edgedns::zones;

namespace {

std::string zone_text(size_t names) {
  std::string t =
      "$ORIGIN bench.test.\n$TTL 3600\n@ SOA ns1 h 1 7200 900 1209600 300\n@ NS ns1\n"
      "ns1 A 192.0.2.1\n*.wild A 192.0.2.9\nalias CNAME host1\nsub NS ns.sub\nns.sub A 192.0.2.2\n";
  t.reserve(names * 28);
  for (size_t i = 0; i < names; ++i)
    t += "host" + std::to_string(i) + " A 10." + std::to_string((i >> 16) & 255) + "." +
         std::to_string((i >> 8) & 255) + "." + std::to_string(i & 255) + "\n";
  return t;
}

std::shared_ptr<const ZoneSet> zone_set(size_t names) {
  static std::map<size_t, std::shared_ptr<const ZoneSet>> cache;
  auto& zs = cache[names];
  if (!zs) {
    ParseResult pr = parse_zone_text(zone_text(names), "bench", {});
    std::vector<Diagnostic> d;
    check_zone(pr.zone, d);
    zs = ZoneSet::build({compile_zone(std::move(pr.zone))});
  }
  return zs;
}

std::vector<uint8_t> query(const std::string& name, uint16_t type) {
  std::vector<uint8_t> q(12, 0);
  wr16(&q[4], 1);
  wr16(&q[10], 1);
  Name n = Name::from_text(name);
  q.insert(q.end(), n.data(), n.data() + n.size());
  uint8_t t[15] = {0, 0, 0, 1, 0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0};
  wr16(t, type);
  q.insert(q.end(), t, t + sizeof t);
  return q;
}

// Queries spread over many names so that a 1M zone is not served from cache
// only. "mixed" is dataplane_bench's mix: 60% hits, 10% each NODATA,
// NXDOMAIN and wildcard, 5% each referral and CNAME.
std::vector<std::vector<uint8_t>> queries(size_t names, const std::string& kind) {
  std::vector<std::vector<uint8_t>> qs;
  for (size_t i = 0; i < 4096; ++i) {
    size_t k = (i * 2654435761u) % names;
    std::string s = kind;
    if (s == "mixed") {
      static const char* const mix[20] = {
          "hit",      "hit",      "hit",      "hit",      "hit",      "hit",    "hit",
          "hit",      "hit",      "hit",      "hit",      "hit",      "nodata", "nodata",
          "nxdomain", "nxdomain", "wildcard", "wildcard", "referral", "cname"};
      s = mix[i % 20];
    }
    if (s == "hit") qs.push_back(query("host" + std::to_string(k) + ".bench.test.", rrtype::A));
    else if (s == "nodata")
      qs.push_back(query("host" + std::to_string(k) + ".bench.test.", rrtype::AAAA));
    else if (s == "nxdomain")
      qs.push_back(query("nx" + std::to_string(k) + ".bench.test.", rrtype::A));
    else if (s == "wildcard")
      qs.push_back(query("w" + std::to_string(k) + ".wild.bench.test.", rrtype::A));
    else if (s == "referral")
      qs.push_back(query("x" + std::to_string(k) + ".sub.bench.test.", rrtype::A));
    else qs.push_back(query("alias.bench.test.", rrtype::A));
  }
  return qs;
}

// One query at a time (answer_query): the latency of a lone query, every
// cache miss paid in full.
void run(benchmark::State& st, size_t names, const char* kind) {
  auto zs = zone_set(names);
  std::vector<std::vector<uint8_t>> qs = queries(names, kind);
  std::vector<uint8_t> out(1232);
  size_t i = 0;
  for (auto _ : st) {
    const auto& q = qs[i++ & 4095];
    AnswerResult r = answer_query(*zs, q, out, Transport::Udp);
    benchmark::DoNotOptimize(r);
    benchmark::DoNotOptimize(out.data());
  }
  st.SetItemsProcessed(st.iterations());
}

// Bursts of 32 as the dataplane runs them: parse all, prefetch_burst, answer
// all. Reports ns per query.
void burst(benchmark::State& st, size_t names, const char* kind) {
  constexpr size_t kBurst = 32;
  auto zs = zone_set(names);
  std::vector<std::vector<uint8_t>> qs = queries(names, kind);
  std::unique_ptr<Query[]> q(new Query[kBurst]);
  std::vector<uint8_t> out(1232 * kBurst);
  size_t i = 0;
  for (auto _ : st) {
    for (size_t j = 0; j < kBurst; ++j) parse_query(qs[(i + j) & 4095], q[j]);
    prefetch_burst(*zs, q.get(), kBurst);
    for (size_t j = 0; j < kBurst; ++j) {
      AnswerResult r = answer(*zs, q[j], {out.data() + 1232 * j, 1232}, Transport::Udp);
      benchmark::DoNotOptimize(r);
    }
    benchmark::DoNotOptimize(out.data());
    i += kBurst;
  }
  st.SetItemsProcessed(int64_t(st.iterations() * kBurst));
  st.counters["ns/query"] = benchmark::Counter(
      double(st.iterations()) * kBurst, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

void BM_ParseCompile(benchmark::State& st) {
  std::string text = zone_text(size_t(st.range(0)));
  for (auto _ : st) {
    ParseResult pr = parse_zone_text(text, "bench", {});
    std::vector<Diagnostic> d;
    check_zone(pr.zone, d);
    auto z = compile_zone(std::move(pr.zone));
    benchmark::DoNotOptimize(z);
  }
  st.SetItemsProcessed(st.iterations() * st.range(0));
}

}  // namespace

BENCHMARK(BM_ParseCompile)->Arg(100000)->Unit(benchmark::kMillisecond);
#define ANSWER_BENCH(kind)                          \
  BENCHMARK_CAPTURE(run, kind##_10k, 10000, #kind); \
  BENCHMARK_CAPTURE(run, kind##_1M, 1000000, #kind);
ANSWER_BENCH(hit)
ANSWER_BENCH(nxdomain)
ANSWER_BENCH(wildcard)
ANSWER_BENCH(referral)
ANSWER_BENCH(cname)
#define BURST_BENCH(kind)                             \
  BENCHMARK_CAPTURE(burst, kind##_10k, 10000, #kind); \
  BENCHMARK_CAPTURE(burst, kind##_1M, 1000000, #kind);
BURST_BENCH(hit)
BURST_BENCH(nodata)
BURST_BENCH(nxdomain)
BURST_BENCH(wildcard)
BURST_BENCH(referral)
BURST_BENCH(cname)
BURST_BENCH(mixed)

BENCHMARK_MAIN();
