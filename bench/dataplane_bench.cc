// Google Benchmark of the dataplane's per-burst pipeline over real mbufs:
// classify + parse + prefetch + answer + header rewrite (process_burst) on a
// burst of 32 mixed queries (IPv4/IPv6; hits, NODATA, NXDOMAIN, wildcard,
// referral, CNAME), against zones of 10k and 1M names generated at start;
// and 1M names held as one zone versus as 100,000 zones (BM_Zones).
// Beside it, in the same binary, the baseline that only swaps addresses and
// returns the packet (reflect_burst): the floor every responder pays. Both
// include the same mbuf alloc + copy-in + free per packet, which stand in for
// the PMD's RX refill and TX completion.
// EAL runs with --no-huge and no devices: only a mempool is needed.
#include <arpa/inet.h>
#include <benchmark/benchmark.h>
#include <rte_eal.h>
#include <rte_mbuf.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/packet.hh"
#include "dataplane/port.hh"
#include "dataplane/worker.hh"
#include "tests/dataplane/frames.hh"
#include "zones/answer.hh"
#include "zones/check.hh"
#include "zones/name.hh"
#include "zones/parser.hh"
#include "zones/snapshot.hh"

using namespace edgedns;
using namespace edgedns::dp;

namespace {

constexpr size_t kFrames = 4096;  // distinct query frames cycled through (beyond L1/L2 reuse)
rte_mempool* g_pool = nullptr;

std::string zone_text(size_t names) {
  std::string t =
      "$ORIGIN bench.test.\n$TTL 3600\n@ SOA ns1 h 1 7200 900 1209600 300\n@ NS ns1\n"
      "ns1 A 192.0.2.1\n*.wild A 192.0.2.9\nalias CNAME host1\nsub NS ns.sub\nns.sub A 192.0.2.2\n";
  t.reserve(names * 30);
  for (size_t i = 0; i < names; ++i)
    t += "host" + std::to_string(i) + " A 10." + std::to_string((i >> 16) & 255) + "." +
         std::to_string((i >> 8) & 255) + "." + std::to_string(i & 255) + "\n";
  return t;
}

std::shared_ptr<const zones::ZoneSet> zone_set(size_t names) {
  static std::map<size_t, std::shared_ptr<const zones::ZoneSet>> cache;
  auto& zs = cache[names];
  if (!zs) {
    zones::ParseResult pr = zones::parse_zone_text(zone_text(names), "bench", {});
    std::vector<zones::Diagnostic> d;
    zones::check_zone(pr.zone, d);
    zs = zones::ZoneSet::build({zones::compile_zone(std::move(pr.zone))});
  }
  return zs;
}

// An Ethernet/IPv4-or-IPv6/UDP frame carrying a query with EDNS (as real resolvers send).
std::vector<uint8_t> query_frame(const std::string& name, uint16_t type, bool v6, uint16_t id) {
  return test::udp_frame(v6, test::dns_query(name.c_str(), type, id, false, 1232), 0,
                         uint16_t(1024 + id));
}

// The mix: 60% hits (A), 10% NODATA (AAAA of an A-only name), 10% NXDOMAIN,
// 10% wildcard, 5% referral, 5% CNAME; every other query over IPv6.
std::vector<std::vector<uint8_t>> mixed_frames(size_t names) {
  std::vector<std::vector<uint8_t>> fs;
  for (size_t i = 0; i < kFrames; ++i) {
    size_t k = (i * 2654435761u) % names;
    std::string h = "host" + std::to_string(k) + ".bench.test.";
    bool v6 = i & 1;
    uint16_t id = uint16_t(i);
    switch (i % 20) {
      case 12:
      case 13: fs.push_back(query_frame(h, zones::rrtype::AAAA, v6, id)); break;
      case 14:
      case 15:
        fs.push_back(
            query_frame("nx" + std::to_string(k) + ".bench.test.", zones::rrtype::A, v6, id));
        break;
      case 16:
      case 17:
        fs.push_back(
            query_frame("w" + std::to_string(k) + ".wild.bench.test.", zones::rrtype::A, v6, id));
        break;
      case 18:
        fs.push_back(
            query_frame("x" + std::to_string(k) + ".sub.bench.test.", zones::rrtype::A, v6, id));
        break;
      case 19: fs.push_back(query_frame("alias.bench.test.", zones::rrtype::A, v6, id)); break;
      default: fs.push_back(query_frame(h, zones::rrtype::A, v6, id)); break;
    }
  }
  return fs;
}

struct Harness {
  std::unique_ptr<LcoreState> st{new LcoreState()};
  PortCtx pc;
  std::vector<std::vector<uint8_t>> frames;
  size_t next = 0;
  rte_mbuf* pkts[kBurst];
  rte_mbuf* out[kBurst];

  explicit Harness(std::vector<std::vector<uint8_t>> fs) : frames(std::move(fs)) {
    pc.addrs = test::node_addrs();
    st->n_ports = 1;
    st->ports[0] = pc;
    set_nsid(*st, "bench-node");  // as edgedns runs (the hostname by default); no query asks
  }
  // RX stand-in: fresh mbufs holding the next 32 query frames.
  bool rx() {
    if (rte_pktmbuf_alloc_bulk(g_pool, pkts, kBurst) != 0) return false;
    for (unsigned i = 0; i < kBurst; ++i) {
      const auto& f = frames[next++ & (kFrames - 1)];
      std::memcpy(rte_pktmbuf_mtod(pkts[i], uint8_t*), f.data(), f.size());
      pkts[i]->data_len = uint16_t(f.size());
      pkts[i]->pkt_len = uint32_t(f.size());
    }
    return true;
  }
};

void report(benchmark::State& s, const Harness& h) {
  s.SetItemsProcessed(int64_t(s.iterations()) * kBurst);
  s.counters["ns/query"] = benchmark::Counter(
      double(s.iterations()) * kBurst, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  s.counters["Mqps"] =
      benchmark::Counter(double(s.iterations()) * kBurst / 1e6, benchmark::Counter::kIsRate);
  uint64_t ans = h.st->counters.answers();
  uint64_t q = h.st->counters.queries.get();
  if (q) s.counters["answered"] = double(ans) / double(q);
}

// The timed loop of the pipeline benchmarks.
void run_pipeline(benchmark::State& s, const zones::ZoneSet& zs, Harness& h) {
  for (auto _ : s) {
    if (!h.rx()) {
      s.SkipWithError("mempool empty");
      break;
    }
    uint16_t n = process_burst(*h.st, h.st->ports[0], &zs, h.pkts, kBurst, h.out);
    benchmark::DoNotOptimize(h.out[0]);
    rte_pktmbuf_free_bulk(h.out, n);  // TX stand-in
  }
  report(s, h);
}

void BM_Pipeline(benchmark::State& s) {
  auto zs = zone_set(size_t(s.range(0)));
  Harness h(mixed_frames(size_t(s.range(0))));
  run_pipeline(s, *zs, h);
}

void BM_Baseline_SwapOnly(benchmark::State& s) {
  Harness h(mixed_frames(size_t(s.range(0))));
  for (auto _ : s) {
    if (!h.rx()) {
      s.SkipWithError("mempool empty");
      break;
    }
    uint16_t n = reflect_burst(*h.st, h.st->ports[0], h.pkts, kBurst, h.out);
    benchmark::DoNotOptimize(h.out[0]);
    rte_pktmbuf_free_bulk(h.out, n);
  }
  report(s, h);
}

// The same pipeline over one set of 1,000,000 names held as Z zones of
// 1,000,000/Z names each (Z = 1: one zone; Z = 100,000: a hosting fleet of
// 10-name zones): the zone lookup is the only difference. Mix: 70% hits,
// 15% NODATA, 15% NXDOMAIN, spread over every zone.
constexpr size_t kTotalNames = 1'000'000;

std::shared_ptr<const zones::ZoneSet> zones_set(size_t z) {
  static std::map<size_t, std::shared_ptr<const zones::ZoneSet>> cache;
  auto& zs = cache[z];
  if (zs) return zs;
  const size_t per = kTotalNames / z;
  std::vector<std::shared_ptr<const zones::Zone>> compiled;
  for (size_t j = 0; j < z; ++j) {
    std::string t = "$ORIGIN z" + std::to_string(j) +
                    ".test.\n$TTL 3600\n@ SOA ns1 h 1 7200 900 1209600 300\n@ NS ns1\n"
                    "ns1 A 192.0.2.1\n";
    t.reserve(per * 30);
    for (size_t i = 0; i < per; ++i)
      t += "host" + std::to_string(i) + " A 10." + std::to_string((i >> 16) & 255) + "." +
           std::to_string((i >> 8) & 255) + "." + std::to_string(i & 255) + "\n";
    zones::ParseResult pr = zones::parse_zone_text(t, "bench", {});
    std::vector<zones::Diagnostic> d;
    zones::check_zone(pr.zone, d);
    compiled.push_back(zones::compile_zone(std::move(pr.zone)));
  }
  zs = zones::ZoneSet::build(std::move(compiled));
  return zs;
}

std::vector<std::vector<uint8_t>> zones_frames(size_t z) {
  const size_t per = kTotalNames / z;
  std::vector<std::vector<uint8_t>> fs;
  for (size_t i = 0; i < kFrames; ++i) {
    size_t k = (i * 2654435761u) % kTotalNames;
    std::string zone = ".z" + std::to_string(k / per) + ".test.";
    std::string h = "host" + std::to_string(k % per) + zone;
    bool v6 = i & 1;
    uint16_t id = uint16_t(i);
    switch (i % 20) {
      case 14:
      case 15:
      case 16: fs.push_back(query_frame(h, zones::rrtype::AAAA, v6, id)); break;
      case 17:
      case 18:
      case 19:
        fs.push_back(query_frame("nx" + std::to_string(k) + zone, zones::rrtype::A, v6, id));
        break;
      default: fs.push_back(query_frame(h, zones::rrtype::A, v6, id)); break;
    }
  }
  return fs;
}

void BM_Zones(benchmark::State& s) {
  const size_t z = size_t(s.range(0));
  auto zs = zones_set(z);
  Harness h(zones_frames(z));
  run_pipeline(s, *zs, h);
}

BENCHMARK(BM_Baseline_SwapOnly)->Arg(10'000);
BENCHMARK(BM_Pipeline)->Arg(10'000)->Arg(1'000'000);
// Interleaved (1, 100k, 1, 100k) so that drift on a noisy machine shows.
BENCHMARK(BM_Zones)->Arg(1)->Arg(100'000)->Arg(1)->Arg(100'000);

}  // namespace

int main(int argc, char** argv) {
  // The zone memory as edgedns runs it (dataplane/edgedns.service): glibc's
  // malloc asks for transparent huge pages. The tunable is read at start-up
  // only, hence the one re-exec with it set.
  // One malloc arena: the 1M zone is compiled partly by a second thread,
  // whose own arena would get no huge pages (dataplane/edgedns.service).
  static constexpr char kTunables[] = "glibc.malloc.hugetlb=1:glibc.malloc.arena_max=1";
  if (!std::getenv("EDGEDNS_BENCH_4K_PAGES") && !std::getenv("GLIBC_TUNABLES")) {
    setenv("GLIBC_TUNABLES", kTunables, 1);
    execv("/proc/self/exe", argv);
    std::perror("dataplane_bench: re-exec with GLIBC_TUNABLES");  // run on as we are
  }
  std::fprintf(
      stderr, "dataplane_bench: zone memory in %s\n",
      std::getenv("GLIBC_TUNABLES") ? "transparent huge pages (GLIBC_TUNABLES set)" : "4 KB pages");
  std::string prefix = "--file-prefix=dpbench" + std::to_string(getpid());
  const char* eal[] = {
      "dataplane_bench", "--no-huge",     "-m", "256", "--no-pci", "-l", "0", "--log-level=error",
      prefix.c_str(),    "--no-telemetry"};
  if (rte_eal_init(int(std::size(eal)), const_cast<char**>(eal)) < 0) {
    std::fprintf(stderr, "dataplane_bench: EAL init failed\n");
    return 1;
  }
  g_pool = rte_pktmbuf_pool_create("bench", 4095, kPoolCache, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
                                   int(rte_socket_id()));
  if (!g_pool) {
    std::fprintf(stderr, "dataplane_bench: mempool\n");
    return 1;
  }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  rte_mempool_free(g_pool);
  // --no-huge cannot go with --in-memory, so the EAL leaves its runtime
  // directory (/var/run/dpdk/<prefix>); it is ours alone, remove it.
  std::string runtime_dir = rte_eal_get_runtime_dir();
  rte_eal_cleanup();
  std::error_code ec;
  std::filesystem::remove_all(runtime_dir, ec);
  return 0;
}
