// edgedns: EAL start-up, ports, launch of the per-lcore loops, housekeeping
// (signals, counters), teardown in the reverse order. Thin on purpose: the
// loop is worker.cc, the packet logic packet.cc, the DNS logic zones/.
#include <pthread.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <vector>

#include <sched.h>

#include "dataplane/agent.hh"
#include "dataplane/config.hh"
#include "dataplane/counters.hh"
#include "dataplane/exception.hh"
#include "dataplane/lkg_store.hh"
#include "dataplane/port.hh"
#include "dataplane/registry.hh"
#include "dataplane/tcp_server.hh"
#include "dataplane/worker.hh"
#include "dataplane/zone_publisher.hh"
#include "zones/load.hh"
#include "zones/snapshot.hh"

using namespace edgedns;
using namespace edgedns::dp;

namespace {

constexpr unsigned kLinkWaitMs = 9000;     // l3fwd's 9 s: slow NICs renegotiate for seconds
constexpr long kHousekeepingTickMs = 100;  // signal wait granularity; nothing else is timed

std::atomic<bool> g_stop{false};
// Read by print_counters (housekeeping); set before the lcores start, reset after they stop.
const ExceptionPath* g_exc = nullptr;
const TcpServer* g_tcp = nullptr;

std::shared_ptr<const zones::ZoneSet> load_zones(const Config& cfg) {
  std::vector<std::shared_ptr<const zones::Zone>> zs;
  for (const auto& z : cfg.zones) {
    zones::ParseOptions po;
    po.origin = z.origin;
    zones::LoadResult r = zones::load_zone_file(z.path, po);
    for (const auto& d : r.diagnostics) std::fprintf(stderr, "%s\n", d.to_string().c_str());
    if (!r.zone) throw std::runtime_error("zone file " + z.path + " has errors; not serving it");
    std::printf("edgedns: loaded %s: %s serial %u, %zu records\n", z.path.c_str(),
                zones::zone_apex(*r.zone).to_text().c_str(), zones::zone_serial(*r.zone),
                zones::zone_record_count(*r.zone));
    zs.push_back(std::move(r.zone));
  }
  return zones::ZoneSet::build(std::move(zs));
}

void print_counters(const std::vector<LcoreState*>& states) {
  uint64_t rx = 0, tx = 0, answers = 0, queries = 0, truncated = 0;
  for (const LcoreState* s : states) {
    std::printf("%s\n", format_counters(s->lcore_id, s->counters).c_str());
    rx += s->counters.rx.get();
    tx += s->counters.tx.get();
    answers += s->counters.answers();
    queries += s->counters.queries.get();
    truncated += s->counters.truncated.get();
  }
  // Per transport: UDP is the lcores' (above), TCP the TCP server's.
  std::printf("counters udp queries=%llu answers=%llu truncated=%llu\n",
              (unsigned long long)queries, (unsigned long long)answers,
              (unsigned long long)truncated);
  if (g_tcp) std::printf("%s\n", g_tcp->format_counters().c_str());
  if (g_exc) std::printf("%s\n", g_exc->format_counters().c_str());
  std::printf("counters total rx=%llu tx=%llu answers=%llu\n", (unsigned long long)rx,
              (unsigned long long)tx, (unsigned long long)answers);
  std::fflush(stdout);
}

// Waits for signals (blocked in every thread, so only this one sees them).
void housekeeping(const std::vector<LcoreState*>& states) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGUSR1);
  timespec tick{0, kHousekeepingTickMs * 1'000'000};
  while (!g_stop.load()) {
    int sig = sigtimedwait(&set, nullptr, &tick);
    if (sig == SIGUSR1) {
      print_counters(states);
    } else if (sig == SIGINT || sig == SIGTERM) {
      std::printf("edgedns: %s, stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
      g_stop.store(true);
    }
  }
}

// Splits argv at the first "--": EAL options before, ours after.
struct SplitArgs {
  std::vector<char*> eal;
  std::vector<const char*> app;
  bool saw_separator = false;
};

SplitArgs split_args(int argc, char** argv) {
  SplitArgs s;
  s.eal.push_back(argv[0]);
  s.app.push_back(argv[0]);
  for (int i = 1; i < argc; ++i) {
    if (!s.saw_separator && std::strcmp(argv[i], "--") == 0) {
      s.saw_separator = true;
      continue;
    }
    if (s.saw_separator) s.app.push_back(argv[i]);
    else s.eal.push_back(argv[i]);
  }
  return s;
}

// What the command line asks for; `exit` set when it is answered already
// (help) or refused (the code to exit with).
struct Invocation {
  SplitArgs args;
  ParsedArgs pa;
  NodeAddrs addrs;
  std::optional<int> exit;
};

Invocation parse_command_line(int argc, char** argv) {
  Invocation in;
  in.args = split_args(argc, argv);
  // `edgedns --help` without "--" means ours, not the EAL's.
  if (!in.args.saw_separator)
    for (size_t i = 1; i < in.args.eal.size(); ++i)
      if (!std::strcmp(in.args.eal[i], "--help") || !std::strcmp(in.args.eal[i], "-h")) {
        std::printf("%s", help_text().c_str());
        in.exit = 0;
        return in;
      }
  try {
    in.pa = parse_args(int(in.args.app.size()), in.args.app.data());
    if (in.pa.help) {
      std::printf("%s", in.pa.help_text.c_str());
      in.exit = 0;
      return in;
    }
    in.addrs = addrs_from_listen(in.pa.cfg.listen);
  } catch (const ConfigError& e) {
    std::fprintf(stderr, "edgedns: %s\n", e.what());
    in.exit = 2;
    return in;
  }
  if (in.addrs.n4 + in.addrs.n6 == 0) {
    std::fprintf(stderr, "edgedns: no --listen address given\n");
    in.exit = 2;
  } else if (in.pa.cfg.zones.empty() && in.pa.cfg.state_dir.empty()) {
    std::fprintf(stderr, "edgedns: no --zone and no --state-dir given: nothing to serve\n");
    in.exit = 2;
  }
  return in;
}

// The state directory is created (0700, like the socket: owner only) when
// missing, so that a first start with --zone and --state-dir just works.
bool prepare_state_dir(const Config& cfg) {
  if (cfg.state_dir.empty()) return true;
  std::error_code ec;
  if (std::filesystem::create_directories(cfg.state_dir, ec))
    std::filesystem::permissions(cfg.state_dir, std::filesystem::perms::owner_all, ec);
  if (ec) {
    std::fprintf(stderr, "edgedns: --state-dir %s: %s\n", cfg.state_dir.c_str(),
                 ec.message().c_str());
    return false;
  }
  return true;
}

// What a start serves (plan_start, dataplane/lkg_store.hh) and whether it is
// written as the newest last-known-good. Throws naming the file or option.
struct StartZones {
  std::shared_ptr<const zones::ZoneSet> zone_set;
  bool from_lkg = false;
  bool empty = false;  // no zone: served, never committed (nothing to fall back to)
  bool persist = false;
};

StartZones start_zones(const Config& cfg) {
  auto log = [](const std::string& line) { std::printf("edgedns: %s\n", line.c_str()); };
  const StartOptions o{!cfg.zones.empty(), cfg.force_zone, cfg.state_dir,
                       !cfg.control.empty() || !cfg.control_listen.empty()};
  std::shared_ptr<const zones::ZoneSet> lkg;
  bool lkg_files = false;
  if (start_reads_lkg(o)) lkg = load_newest_lkg(cfg.state_dir, log, &lkg_files);
  const StartPlan plan = plan_start(o, lkg != nullptr, lkg_files);
  if (plan.source == StartSource::kNothing) throw std::runtime_error(plan.note);
  if (!plan.note.empty()) log(plan.note);
  StartZones s;
  s.from_lkg = plan.source == StartSource::kLastKnownGood;
  s.empty = plan.source == StartSource::kEmpty;
  s.persist = plan.persist;
  if (s.empty) s.zone_set = zones::ZoneSet::build({});
  else s.zone_set = s.from_lkg ? std::move(lkg) : load_zones(cfg);
  return s;
}

// Blocked before the EAL starts its threads so that all inherit the mask and
// only housekeeping's sigtimedwait receives them.
void block_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

// Everything the node runs, in start-up order; torn down in the reverse.
struct Node {
  std::vector<unsigned> worker_lcores;
  bool main_works = false;  // a single lcore: the main thread is the worker
  std::vector<PortInfo> ports;
  std::vector<LcoreState*> states;
  std::unique_ptr<ZonePublisher> publisher;
  std::unique_ptr<VersionRegistry> registry;
  std::unique_ptr<ControlAgent> agent;
  std::unique_ptr<ExceptionPath> exc;
  std::unique_ptr<TcpServer> tcp;
  rte_mempool* pool = nullptr;
  std::string node_id;  // NSID identifier; empty: no NSID
};

// --nsid, else the hostname (a hostname that cannot be one turns NSID off, said so).
std::string nsid_node_id(const Config& cfg) {
  if (cfg.nsid) return *cfg.nsid;
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) host[0] = 0;
  std::string id = host;
  if (std::string why = node_id_problem(id); !why.empty() || id.empty()) {
    std::printf("edgedns: hostname '%s' cannot be the NSID node id (%s): no NSID; give --nsid\n",
                id.c_str(), why.empty() ? "empty" : why.c_str());
    return "";
  }
  return id;
}

void choose_worker_lcores(Node& n) {
  n.main_works = rte_lcore_count() == 1;
  if (n.main_works) {
    n.worker_lcores.push_back(rte_get_main_lcore());
  } else {
    unsigned l;
    RTE_LCORE_FOREACH_WORKER(l) n.worker_lcores.push_back(l);
  }
}

void setup_ports(Node& n, const Config& cfg, const NodeAddrs& addrs) {
  const uint16_t n_ports = rte_eth_dev_count_avail();
  const unsigned n_workers = unsigned(n.worker_lcores.size());
  if (n_ports == 0)
    throw std::runtime_error("no DPDK ports: give --vdev=... or bind a NIC to vfio-pci");
  if (n_ports > kMaxPorts)
    throw std::runtime_error(std::to_string(n_ports) + " ports, at most " +
                             std::to_string(kMaxPorts) + " supported");
  unsigned n_mbufs = mbuf_count(
      n_ports, n_workers, cfg.exception_path ? ExceptionPath::extra_mbufs(n_ports, n_workers) : 0);
  n.pool = create_pool(n_mbufs, int(rte_socket_id()));
  std::printf("edgedns: %u worker lcore(s), %u port(s), %u mbufs\n", n_workers, n_ports, n_mbufs);
  if (cfg.rrl_rate)
    std::printf(
        "edgedns: response rate limiting: %u responses/s per prefix and class per lcore, "
        "slip %u\n",
        cfg.rrl_rate, cfg.rrl_slip);
  uint16_t pid;
  RTE_ETH_FOREACH_DEV(pid)
  n.ports.push_back(setup_port(pid, uint16_t(n_workers), n.pool, addrs, cfg.exception_path));
  wait_links(n.ports.data(), unsigned(n.ports.size()), kLinkWaitMs);
  // After the ports are listed: the taps are ports too, but not served ones.
  if (cfg.exception_path) {
    ExceptionConfig ec;
    ec.iface_prefix = cfg.exception_iface;
    ec.rate = cfg.exception_rate;
    n.exc = std::make_unique<ExceptionPath>(n.ports, n_workers, n.pool, addrs, ec);
  }
}

// One preallocated, cache-aligned state per worker lcore, on its socket.
void setup_lcores(Node& n, const Config& cfg, const NodeAddrs& addrs) {
  const unsigned n_workers = unsigned(n.worker_lcores.size());
  n.publisher = std::make_unique<ZonePublisher>(n_workers);
  for (unsigned w = 0; w < n_workers; ++w) {
    unsigned lc = n.worker_lcores[w];
    int socket = int(rte_lcore_to_socket_id(lc));
    void* mem =
        rte_zmalloc_socket("edgedns_lcore", sizeof(LcoreState), RTE_CACHE_LINE_SIZE, socket);
    if (!mem) throw std::runtime_error("lcore " + std::to_string(lc) + ": state alloc");
    auto* st = new (mem) LcoreState();
    st->lcore_id = lc;
    st->slot = w;
    st->publisher = n.publisher.get();
    st->stop = &g_stop;
    st->idle_sleep = cfg.idle_sleep;
    st->idle_sleep_max_us = cfg.idle_sleep_max_us;
    st->n_ports = unsigned(n.ports.size());
    for (unsigned p = 0; p < n.ports.size(); ++p) {
      PortCtx& pc = st->ports[p];
      pc.port = n.ports[p].id;
      pc.queue = uint16_t(w);
      pc.mtu = n.ports[p].mtu;
      pc.offload = n.ports[p].offload;
      pc.addrs = addrs;
      pc.addrs.mac = n.ports[p].mac;
      if (n.exc && w == 0) pc.from_kernel = n.exc->from_kernel(p);
    }
    if (n.exc) {
      st->to_kernel = n.exc->to_kernel(w);
      st->exc_bucket.rate = cfg.exception_rate;
      st->exc_bucket.tsc_hz = rte_get_tsc_hz();
      st->exc_bucket.last_tsc = rte_rdtsc();
    }
    st->rrl.configure({cfg.rrl_rate, cfg.rrl_slip}, rte_get_tsc_hz());
    set_nsid(*st, n.node_id);
    n.states.push_back(st);
    init_tx_buffers(*st, socket);
  }
}

// The start-up version: published to every lcore before they run, so it is
// served everywhere and counts as committed (the last-known-good).
void publish_start_version(Node& n, const Config& cfg, StartZones start) {
  std::vector<VersionCounters*> vcounters;
  for (LcoreState* st : n.states) vcounters.push_back(st->vcounters);
  n.registry = std::make_unique<VersionRegistry>(*n.publisher, n.worker_lcores, vcounters);
  auto v0 = n.registry->add(std::move(start.zone_set));  // the registry holds it now
  n.registry->publish_all(v0);
  if (start.empty) {
    std::printf("edgedns: empty: no zone served (REFUSED) and none committed\n");
    return;
  }
  if (start.persist) persist_lkg(cfg.state_dir, *v0);
  n.registry->commit(v0);
  std::printf("edgedns: version %s (%s) served and committed%s\n", v0->hex.c_str(),
              v0->label.c_str(), start.from_lkg ? " (from the last-known-good)" : "");
}

// Helper threads (agent, exception path, TCP) run off the worker CPUs when
// other CPUs exist (a busy-polling lcore and a zone compile or a tap write
// must not share one). start_cpus: the process's CPUs before the EAL pinned
// the main thread.
std::function<void()> helper_thread_init(const cpu_set_t& start_cpus, const Node& n) {
  cpu_set_t helper_cpus = start_cpus;
  for (unsigned lc : n.worker_lcores) {
    rte_cpuset_t wc = rte_lcore_cpuset(lc);
    for (int c = 0; c < CPU_SETSIZE; ++c)
      if (CPU_ISSET(c, &wc)) CPU_CLR(c, &helper_cpus);
  }
  if (CPU_COUNT(&helper_cpus) == 0) helper_cpus = start_cpus;
  return
      [helper_cpus] { pthread_setaffinity_np(pthread_self(), sizeof helper_cpus, &helper_cpus); };
}

void start_helpers(Node& n, const Config& cfg, const NodeAddrs& addrs,
                   const std::function<void()>& helper_init) {
  if (n.exc) {
    n.exc->start(helper_init);
    g_exc = n.exc.get();
  }
  if (!cfg.tcp) return;
  TcpConfig tc;
  tc.threads = cfg.tcp_workers;
  tc.max_connections = cfg.tcp_max_connections;
  tc.max_per_client = cfg.tcp_max_per_client;
  tc.idle_timeout_ms = cfg.tcp_idle_timeout_ms;
  tc.max_queries = cfg.tcp_max_queries;
  // Slot 0: TCP answers from the first worker lcore's version (tcp_server.hh),
  // so its NSID names that lcore, marked as TCP.
  if (!n.node_id.empty())
    tc.nsid = n.node_id + " tcp lcore=" + std::to_string(n.worker_lcores.at(0));
  n.tcp = std::make_unique<TcpServer>(*n.publisher, 0, addrs, tc);
  n.tcp->start(helper_init);
  g_tcp = n.tcp.get();
  std::printf("edgedns: DNS over TCP on port 53 of the service addresses (%u threads)%s\n",
              tc.threads, n.exc ? "" : "; no exception path: TCP must reach this host another way");
}

void start_agent(Node& n, const Config& cfg, const std::function<void()>& helper_init) {
  if (cfg.control.empty() && cfg.control_listen.empty()) return;
  AgentHooks hooks;
  if (!cfg.state_dir.empty())
    hooks.persist = [dir = cfg.state_dir](const Version& v, std::span<const zones::LkgDelta> d) {
      persist_lkg(dir, v, d);
    };
  hooks.lcores_alive = [&states = n.states] {
    const uint64_t now = rte_rdtsc(), hz = rte_get_tsc_hz();
    for (const LcoreState* st : states) {
      uint64_t t = st->last_qs_tsc.load(std::memory_order_relaxed);
      // t may be a little later than now (stored by the lcore after this
      // thread read its TSC): that lcore is alive, not 2^64 ticks late.
      if (t == 0 || (now > t && now - t > hz)) return false;
    }
    return true;
  };
  hooks.thread_init = helper_init;
  hooks.log = [](const std::string& line) { std::printf("edgedns: %s\n", line.c_str()); };
  n.agent = std::make_unique<ControlAgent>(*n.registry, std::move(hooks));
  if (!cfg.control.empty()) {
    n.agent->start(cfg.control);
    std::printf("edgedns: control socket %s\n", cfg.control.c_str());
  }
  if (!cfg.control_listen.empty()) {
    auto tls = std::make_shared<proto::TlsContext>(
        proto::TlsContext::Role::Server, proto::TlsFiles{cfg.tls_cert, cfg.tls_key, cfg.tls_ca});
    std::string where = n.agent->start_tls(cfg.control_listen, std::move(tls), cfg.control_allow);
    std::string allowed;
    for (const auto& a : cfg.control_allow) allowed += (allowed.empty() ? "" : ", ") + a;
    std::printf("edgedns: control over mutual TLS on %s (clients of CA %s%s)\n", where.c_str(),
                cfg.tls_ca.c_str(), allowed.empty() ? "" : (", named " + allowed).c_str());
  }
}

// Runs the lcores until SIGINT/SIGTERM; the exit code.
int serve(Node& n, const NodeAddrs& addrs) {
  int exit_code = 0;
  std::printf("edgedns: serving on %zu address(es); SIGUSR1 prints counters\n",
              addrs.n4 + addrs.n6);
  if (n.main_works) {
    // An EAL control thread: its affinity is the CPUs outside the lcore
    // set (or the main lcore's when there are none), so a busy worker and
    // the signal handling do not fight over one CPU when others exist.
    pthread_t hk;
    auto hk_main = [](void* arg) -> void* {
      housekeeping(*static_cast<const std::vector<LcoreState*>*>(arg));
      return nullptr;
    };
    if (rte_ctrl_thread_create(&hk, "edgedns-hk", nullptr, hk_main, &n.states) != 0) {
      std::fprintf(stderr, "edgedns: cannot start the housekeeping thread\n");
      g_stop.store(true);
      exit_code = 1;
    } else {
      worker_main(n.states[0]);
      pthread_join(hk, nullptr);
    }
  } else {
    for (LcoreState* st : n.states) rte_eal_remote_launch(worker_main, st, st->lcore_id);
    housekeeping(n.states);
    rte_eal_mp_wait_lcore();
  }
  print_counters(n.states);
  return exit_code;
}

// Teardown in reverse: lcores are stopped; agent, ports, publisher, state, pool.
void teardown(Node& n) {
  if (n.agent) n.agent->stop();
  n.agent.reset();
  g_tcp = nullptr;
  n.tcp.reset();  // before the publisher: its threads are RCU readers
  g_exc = nullptr;
  n.exc.reset();  // stops its thread, frees what the rings hold, removes the taps
  for (const PortInfo& p : n.ports) stop_port(p.id);
  n.registry.reset();
  n.publisher.reset();
  for (LcoreState* st : n.states) {
    free_tx_buffers(*st);
    st->~LcoreState();
    rte_free(st);
  }
  n.states.clear();
  if (n.pool) rte_mempool_free(n.pool);
  n.pool = nullptr;
}

int run(int argc, char** argv) {
  setvbuf(stdout, nullptr, _IOLBF, 0);  // counters reach a log file line by line
  Invocation in = parse_command_line(argc, argv);
  if (in.exit) return *in.exit;
  const Config& cfg = in.pa.cfg;
  if (!prepare_state_dir(cfg)) return 1;

  // Zones first: a bad zone fails before any device is touched.
  StartZones start;
  try {
    start = start_zones(cfg);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "edgedns: %s\n", e.what());
    return 1;
  }
  // The CPUs this process may use before the EAL pins the main thread: the
  // agent's threads run on those not given to worker lcores.
  cpu_set_t start_cpus;
  CPU_ZERO(&start_cpus);
  sched_getaffinity(0, sizeof start_cpus, &start_cpus);
  block_signals();

  if (rte_eal_init(int(in.args.eal.size()), in.args.eal.data()) < 0) {
    std::fprintf(stderr, "edgedns: EAL init failed: %s\n", rte_strerror(rte_errno));
    return 1;
  }
  Node n;
  int exit_code = 0;
  try {
    choose_worker_lcores(n);
    n.node_id = nsid_node_id(cfg);
    if (!n.node_id.empty())
      std::printf("edgedns: NSID '%s lcore=<LCORE> v=<VERSION>' to queries asking for it\n",
                  n.node_id.c_str());
    setup_ports(n, cfg, in.addrs);
    setup_lcores(n, cfg, in.addrs);
    publish_start_version(n, cfg, std::move(start));
    auto helper_init = helper_thread_init(start_cpus, n);
    start_helpers(n, cfg, in.addrs, helper_init);
    start_agent(n, cfg, helper_init);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "edgedns: %s\n", e.what());
    g_stop.store(true);
    exit_code = 1;
  }
  if (exit_code == 0) exit_code = serve(n, in.addrs);
  teardown(n);
  rte_eal_cleanup();
  return exit_code;
}

}  // namespace

int main(int argc, char** argv) { return run(argc, argv); }
