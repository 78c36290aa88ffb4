# Shell helpers shared by scripts/demo.sh, tests/run_all.sh and bench/*.sh.
# Source it (`. "$(dirname "$0")/../scripts/lib.sh"`); it defines functions
# and variables only and changes nothing by itself.

# Repository root, whatever the caller's working directory.
EDGEDNS_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Build directory: build/ unless EDGEDNS_BUILD names another (relative to the root).
EDGEDNS_BUILD="${EDGEDNS_BUILD:-build}"
case "$EDGEDNS_BUILD" in
  /*) EDGEDNS_BUILD_DIR="$EDGEDNS_BUILD" ;;
  *) EDGEDNS_BUILD_DIR="$EDGEDNS_ROOT/$EDGEDNS_BUILD" ;;
esac
export EDGEDNS_BUILD
# The binaries the scripts run (EDGEDNS=/EDGECTL= name others).
EDGEDNS=${EDGEDNS:-$EDGEDNS_BUILD_DIR/dataplane/edgedns}
EDGECTL=${EDGECTL:-$EDGEDNS_BUILD_DIR/control/edgectl}

# The Debian python with dnspython; a pyenv python may shadow it on PATH.
PY=/usr/bin/python3

section() { printf '\n== %s\n' "$*"; }
note() { printf '%s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Consumers that read all of stdin. Under `set -o pipefail` one that stops
# early (head, grep -q, grep -m) makes a producer that writes again die of
# SIGPIPE, and the pipeline then fails with 141 although it found its line.
first_line() { sed -n 1p; }
has_line() { grep -c "$@" >/dev/null; }  # has_line [GREP-OPTIONS] PATTERN

# zone_origin FILE: the zone's origin: its first $ORIGIN, else the file name
# (example.com.zone), with the final dot.
zone_origin() {
  local o
  o=$(awk 'toupper($1) == "$ORIGIN" && !o { o = $2 } END { print o }' "$1")
  [ -n "$o" ] || o=$(basename "$1" .zone)
  [[ $o == *. ]] || o="$o."
  printf '%s\n' "$o"
}

# Packages and the build: scripts/setup.sh installs what is missing (as root)
# and builds into $EDGEDNS_BUILD. EDGEDNS_SKIP_SETUP=1 only builds.
setup_and_build() {
  if [ "${EDGEDNS_SKIP_SETUP:-0}" = 1 ]; then
    [ -f "$EDGEDNS_BUILD_DIR/build.ninja" ] || meson setup "$EDGEDNS_BUILD_DIR" --buildtype=release
    ninja -C "$EDGEDNS_BUILD_DIR"
  else
    "$EDGEDNS_ROOT/scripts/setup.sh"
  fi
}

# demo_zones [FILE...]: sets ZONES to the zone files given, else to the
# bundled zones/examples/*.zone; dies when there are none.
demo_zones() {
  ZONES=("$@")
  if ((${#ZONES[@]} == 0)); then
    shopt -s nullglob
    ZONES=("$EDGEDNS_ROOT"/zones/examples/*.zone)
    shopt -u nullglob
  fi
  ((${#ZONES[@]})) || die "no zone files"
}

# Runs "$@" with a bound on wall time (seconds in $1), children included.
bounded() {
  local secs=$1
  shift
  timeout --kill-after=10 "$secs" "$@"
}

# stop_process PID [SIGNAL]: SIGNAL (TERM) to PID, up to 10 s for it to exit,
# then KILL; reaps it when it is the caller's child. Nothing when PID is
# empty or already gone.
stop_process() {
  local p=$1 sig=${2:-TERM}
  [ -n "$p" ] || return 0
  if kill -0 "$p" 2>/dev/null; then
    kill -"$sig" "$p" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$p" 2>/dev/null || true
  fi
  wait "$p" 2>/dev/null || true
}

# kernel_ignores_port NETNS IFACE: the interface is a DPDK port of edgedns
# (net_af_packet or net_af_xdp on a veth). AF_PACKET hands every frame to the
# kernel's stack as well as to the PMD; once edgedns's exception tap holds the
# service addresses, that stack would answer the same queries itself (ICMP
# port-unreachable, TCP resets, ARP). This kernel has no tc classifier
# actions, so the stack is told to ignore the interface: no IPv6 on it,
# strict reverse-path filtering (the route back to any client is the tap's
# or none, never this interface, so every IPv4 packet arriving here is
# dropped after the packet socket took its copy), and no ARP answers.
kernel_ignores_port() {
  local ns=$1 ifc=$2
  ip netns exec "$ns" sysctl -qw "net.ipv6.conf.$ifc.disable_ipv6=1" \
    "net.ipv4.conf.$ifc.rp_filter=1" "net.ipv4.conf.$ifc.arp_ignore=8"
}

# testhost_veth SRV_NS SRV_IF CLI_NS CLI_IF [QUEUES]: the test host's wire. A
# veth (QUEUES rx/tx queues each way, default 1) from SRV_IF in SRV_NS (the
# port edgedns drives) to CLI_IF in CLI_NS (where the clients run); both
# namespaces must exist (testhost_pair makes both). On both ends checksum
# offloads are off (on a veth the kernel would leave UDP checksums to
# "hardware" and DPDK's replies would reach clients with bad ones); GRO is on
# at the client end (AF_XDP transmit into a veth needs the peer's NAPI;
# TESTHOST_CLIENT_GRO=off leaves it off, for a client with its own XDP
# program such as kxdpgun, where GRO only slows the load generator);
# IPv6 is off on the server end (the kernel's stack must not answer ND for
# the port; see also kernel_ignores_port); both ends and both loopbacks are
# up. Addresses are the caller's.
testhost_veth() {
  local sns=$1 sif=$2 cns=$3 cif=$4 q=${5:-1}
  ip link add "$sif" numtxqueues "$q" numrxqueues "$q" type veth peer name "$cif" \
    numtxqueues "$q" numrxqueues "$q" || return 1
  ip link set "$sif" netns "$sns" || return 1
  ip link set "$cif" netns "$cns" || return 1
  ip netns exec "$sns" ethtool -K "$sif" tx off rx off >/dev/null
  ip netns exec "$cns" ethtool -K "$cif" tx off rx off >/dev/null
  [ "${TESTHOST_CLIENT_GRO:-on}" = off ] ||
    ip netns exec "$cns" ethtool -K "$cif" gro on >/dev/null 2>&1 || true
  ip netns exec "$sns" sysctl -qw "net.ipv6.conf.$sif.disable_ipv6=1"
  ip netns exec "$sns" ip link set lo up
  ip netns exec "$sns" ip link set "$sif" up
  ip netns exec "$cns" ip link set lo up
  ip netns exec "$cns" ip link set "$cif" up
}

# testhost_pair SRV_NS CLI_NS SRV_IF CLI_IF [QUEUES]: two fresh network
# namespaces joined by testhost_veth. The caller removes them
# (`ip netns del`) on exit.
testhost_pair() {
  ip netns add "$1" || return 1
  ip netns add "$2" || return 1
  testhost_veth "$1" "$3" "$2" "$4" "${5:-1}"
}

# edgedns_spawn NETNS LOG PREFIX LCORES VDEV [EDGEDNS-OPTIONS...]: edgedns in
# the background in NETNS, its output in LOG, its pid in $!: EAL options
# LCORES (several words), --no-huge with $EDGEDNS_MEM MB (default 1024),
# --no-pci, --file-prefix PREFIX (the EAL's runtime directory,
# /var/run/dpdk/PREFIX, stays after exit: the caller removes it) and the one
# port VDEV. $EDGEDNS_WRAP (e.g. setsid) is put in front of the command.
edgedns_spawn() {
  local ns=$1 log=$2 prefix=$3 lcores=$4 vdev=$5
  shift 5
  # shellcheck disable=SC2086  # LCORES and EDGEDNS_WRAP are word lists
  ${EDGEDNS_WRAP:-} ip netns exec "$ns" "$EDGEDNS" $lcores --no-huge -m "${EDGEDNS_MEM:-1024}" \
    --no-pci --file-prefix "$prefix" --vdev="$vdev" -- "$@" >"$log" 2>&1 &
}

# edgedns_up LOG PID [SOCK]: waits until edgedns PID says "serving on" in LOG
# (and SOCK, when given, is its control socket): 0 then; 1 when PID exited
# or after 60 s.
edgedns_up() {
  local log=$1 pid=$2 sock=${3:-}
  for _ in $(seq 300); do
    if grep -qs "serving on" "$log" && { [ -z "$sock" ] || [ -S "$sock" ]; }; then return 0; fi
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.2
  done
  return 1
}

# edgedns_counters LOG PID: asks edgedns PID for its counters (SIGUSR1),
# waits (30 s at most: a loaded machine) for the new block in LOG and prints it: the per-lcore
# lines, then the others, "counters total" last.
edgedns_counters() {
  local log=$1 pid=$2 before
  before=$(grep -c "^counters total" "$log" || true)
  kill -USR1 "$pid" 2>/dev/null || return 1
  for _ in $(seq 300); do
    [ "$(grep -c "^counters total" "$log" || true)" -gt "$before" ] && break
    sleep 0.1
  done
  # The block: from after the previous "counters total" to the last one.
  awk '/^counters/ { b[++n] = $0 } /^counters total/ { last = n }
       END { if (!last) exit
             for (i = last; i >= 1 && (i == last || b[i] !~ /^counters total/); i--) first = i
             for (i = first; i <= last; i++) print b[i] }' "$log"
}

# awk: bench_addr(i), the address of host i in the generated zones:
# 198.18.0.0/15 (RFC 2544), repeating after 131,072 hosts (their names differ).
BENCH_ADDR_AWK='function bench_addr(i) { return sprintf("198.%d.%d.%d", 18 + int(i / 65536) % 2, int(i / 256) % 256, i % 256) }'

# bench_a_zone RECORDS: to stdout, bench.test. with h0..h<RECORDS-1> IN A
# (about 25 bytes a line, 1M lines ~ 25 MB).
bench_a_zone() {
  awk -v n="$1" "$BENCH_ADDR_AWK"'
  BEGIN {
    print "$ORIGIN bench.test."
    print "$TTL 3600"
    print "@ IN SOA ns1 hostmaster 1 7200 3600 1209600 300"
    print "@ IN NS ns1"
    print "ns1 IN A 192.0.2.53"
    for (i = 0; i < n; i++)
      printf "h%d IN A %s\n", i, bench_addr(i)
  }'
}

# kxdpgun_pps OUTPUT queries|replies: the rate in kxdpgun's
# "total queries: N (R pps)" or "total replies: ..." line.
kxdpgun_pps() { sed -n "s/^total $2: *[0-9]* *(\([0-9]*\) pps).*/\1/p" <<<"$1" | first_line; }

# bench_zone_and_queries NAMES DIR: the benches' zone (bench.test. with
# host0..host<NAMES-1> A records) in DIR/bench.zone and 20,000 queries in
# DIR/queries.txt (dnsperf/kxdpgun format): 70% hits (A), 10% NODATA
# (AAAA), 20% NXDOMAIN, names drawn with a fixed seed.
bench_zone_and_queries() {
  local names=$1 dir=$2
  {
    printf '$ORIGIN bench.test.\n$TTL 3600\n@ SOA ns1 h 1 7200 900 1209600 300\n@ NS ns1\nns1 A 192.0.2.1\n'
    awk -v n="$names" "$BENCH_ADDR_AWK"' BEGIN { for (i = 0; i < n; i++)
      printf "host%d A %s\n", i, bench_addr(i) }'
  } >"$dir/bench.zone"
  awk -v n="$names" 'BEGIN { srand(7); for (i = 0; i < 20000; i++) { k = int(rand() * n); r = i % 10;
    if (r < 7) printf "host%d.bench.test. A\n", k;
    else if (r < 8) printf "host%d.bench.test. AAAA\n", k;
    else printf "nx%d.bench.test. A\n", k } }' >"$dir/queries.txt"
}
