#!/usr/bin/env bash
# End-to-end throughput: kxdpgun (client namespace, CPU 0) -> veth -> server
# (CPU 1), the same 10k-name zone and mixed query list for every server:
#   testpmd  dpdk-testpmd --forward-mode=5tswap over AF_XDP (the I/O limit of the path)
#   edgedns  over AF_XDP, busy polling
#   knot-xdp knotd in XDP mode
#   knot-udp knotd on kernel UDP
#   nsd      nsd on kernel UDP
# Prints answered qps per server, the ratio to the reflector and the share of
# what kxdpgun offered that each answered (on a 2-CPU machine the generator
# can be the limit, and its offered rate varies from run to run). A benchmark,
# not a test: it asserts nothing about speed. Needs root; the test host comes
# from tests/integration/lib/harness.sh.
#
# Usage: bench/dataplane_e2e.sh [server...]   (default: all five, in the order above)
#   EDGEDNS=path/to/edgedns  DURATION=seconds (5)  NAMES=zone size (10000)  QPS=offered (3000000)
#   ROUNDS=N (3): every server once per round, round after round; each run is
#   printed and the table shows the medians and the best runs (one 5 s run on
#   this shared VM swings by a quarter either way, the reflector's too).
set -euo pipefail

. "$(dirname "$0")/../tests/integration/lib/harness.sh"
DURATION=${DURATION:-5}
ROUNDS=${ROUNDS:-3}
NAMES=${NAMES:-10000}
QPS=${QPS:-3000000}  # offered load; well above what one core answers, so each server saturates
harness_init edb 58 --ipv4-only
declare -A RESULT

# The server under test is $PID whatever it is (stopped at exit too).
stop_server() {
  stop_edgedns
  xdp_off
}

# Zone and queries: NAMES hosts; queries 70% hits (A), 10% NODATA, 20% NXDOMAIN.
bench_zone_and_queries "$NAMES" "$TMP"  # scripts/lib.sh

# kxdpgun's XDP program drives the client end; GRO there only slows it.
TESTHOST_CLIENT_GRO=off testhost_up
SRV_MAC=$(ip netns exec "$SRV" cat "/sys/class/net/$VS/address")

# Kernel servers need the address on the veth; DPDK ones must not have it.
kernel_addr() {
  if [ "$1" = on ]; then
    ip netns exec "$SRV" ip addr add "$SRV4/24" dev "$VS" 2>/dev/null || true
  else
    ip netns exec "$SRV" ip addr flush dev "$VS"
  fi
}

wait_answer() {  # until the server answers one query (or 20 s)
  for _ in $(seq 100); do
    ip netns exec "$CLI" ip neigh replace "$SRV4" lladdr "$SRV_MAC" dev "$VC"
    if ip netns exec "$CLI" dig +tries=1 +time=1 +short @"$SRV4" host1.bench.test A 2>/dev/null |
       has_line '^198\.1[89]\.'; then
      return 0
    fi
    sleep 0.2
  done
  return 1
}

gun() {  # name: runs kxdpgun and records answered qps
  local name=$1 out
  out=$(ip netns exec "$CLI" timeout $((DURATION + 20)) kxdpgun -t "$DURATION" -Q "$QPS" -F 0 \
        -I "$VC" -l "$CLI4" -R "$SRV_MAC" -i "$TMP/queries.txt" "$SRV4" 2>&1 || true)
  echo "$out" >"$TMP/gun-$name.txt"
  # "total replies: N (R pps) (P%)"
  local rate offered
  rate=$(kxdpgun_pps "$out" replies)
  offered=$(kxdpgun_pps "$out" queries)
  RESULT[$name]=${rate:-0}
  # Share of what kxdpgun managed to offer: on a small machine the generator,
  # not the server, may be the limit, and its rate differs from run to run.
  SHARE[$name]=$(awk -v a="${rate:-0}" -v b="${offered:-0}" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
  echo "  $name: $(grep -E '^total (queries|replies)' <<<"$out" | tr '\n' ' ')"
}

run_testpmd() {
  kernel_addr off
  # 5tswap swaps L2-L4 and returns the frame: every query "answered" at I/O cost only.
  # Non-interactive testpmd runs until a byte arrives on stdin: give it a FIFO
  # that we hold open and never write.
  rm -f "$TMP/testpmd.in"
  mkfifo "$TMP/testpmd.in"
  exec 3<>"$TMP/testpmd.in"
  ip netns exec "$SRV" dpdk-testpmd -l 0,1 --main-lcore 0 --no-huge \
    -m 1024 --no-pci --file-prefix "$HARNESS_TAG$ID-tp" \
    --vdev="net_af_xdp0,iface=$VS,start_queue=0,queue_count=1" -- \
    --forward-mode=5tswap --auto-start --total-num-mbufs=8192 <&3 >"$TMP/testpmd.log" 2>&1 &
  PID=$!
  sleep 4  # testpmd has no readiness line that dig could probe (it reflects queries)
  gun testpmd
  stop_server
  exec 3>&-
}

run_edgedns() {
  kernel_addr off
  # Busy polling (no --idle-sleep): the figure is the lcore's.
  edgedns_spawn "$SRV" "$TMP/edgedns.log" "$HARNESS_TAG$ID-ed" "-l 1" "$(vdev af_xdp)" \
    --listen "$SRV4" --zone "$TMP/bench.zone"  # scripts/lib.sh
  PID=$!
  wait_answer || { echo "  edgedns did not answer"; tail "$TMP/edgedns.log"; stop_server; return; }
  gun edgedns
  stop_server
}

knot_conf() {  # mode: xdp | udp
  mkdir -p "$TMP/knot"
  {
    echo "server:"
    echo "  rundir: $TMP/knot"
    echo "  user: root:root"
    echo "  udp-workers: 1"
    echo "  tcp-workers: 1"
    echo "  background-workers: 1"
    [ "$1" = udp ] && echo "  listen: $SRV4@53"
    if [ "$1" = xdp ]; then
      echo "xdp:"
      echo "  listen: $VS@53"
      echo "  udp: on"
    fi
    echo "database:"
    echo "  storage: $TMP/knot/db"
    echo "template:"
    echo "  - id: default"
    echo "    storage: $TMP"
    echo "zone:"
    echo "  - domain: bench.test"
    echo "    file: bench.zone"
    echo "log:"
    echo "  - target: stderr"
    echo "    any: warning"
  } >"$TMP/knot.conf"
}

run_knot() {  # xdp | udp
  local mode=$1
  kernel_addr on
  knot_conf "$mode"
  ip netns exec "$SRV" taskset -c 1 knotd -c "$TMP/knot.conf" >"$TMP/knot-$mode.log" 2>&1 &
  PID=$!
  wait_answer || { echo "  knot-$mode did not answer"; tail "$TMP/knot-$mode.log"; stop_server; return; }
  gun "knot-$mode"
  stop_server
}

run_nsd() {
  kernel_addr on
  cat >"$TMP/nsd.conf" <<EOF
server:
  ip-address: $SRV4
  port: 53
  server-count: 1
  username: ""
  chroot: ""
  database: ""
  zonelistfile: "$TMP/nsd.zonelist"
  xfrdfile: "$TMP/nsd.xfrd"
  pidfile: "$TMP/nsd.pid"
  zonesdir: "$TMP"
  verbosity: 0
remote-control:
  control-enable: no
zone:
  name: bench.test
  zonefile: bench.zone
EOF
  ip netns exec "$SRV" taskset -c 1 nsd -d -c "$TMP/nsd.conf" >"$TMP/nsd.log" 2>&1 &
  PID=$!
  wait_answer || { echo "  nsd did not answer"; tail "$TMP/nsd.log"; stop_server; return; }
  gun nsd
  stop_server
}

servers=("$@")
[ ${#servers[@]} -gt 0 ] || servers=(testpmd edgedns knot-xdp knot-udp nsd)
echo "dataplane_e2e bench: $NAMES names, kxdpgun -Q $QPS for ${DURATION}s on CPU 0, server on CPU 1, $ROUNDS round(s)"
declare -A RUNS=() SHARES=() SHARE=()
for round in $(seq "$ROUNDS"); do
  echo "round $round"
  for s in "${servers[@]}"; do
    RESULT[$s]=0
    case $s in
      testpmd) run_testpmd ;;
      edgedns) run_edgedns ;;
      knot-xdp) run_knot xdp ;;
      knot-udp) run_knot udp ;;
      nsd) run_nsd ;;
      *) echo "unknown server $s"; exit 2 ;;
    esac
    RUNS[$s]+="${RESULT[$s]:-0} "
    SHARES[$s]+="${SHARE[$s]:-0} "
  done
done
median() {  # numbers on stdin, one per line
  sed '/^$/d' | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
declare -A BEST=()
for s in "${servers[@]}"; do
  RESULT[$s]=$(tr ' ' '\n' <<<"${RUNS[$s]}" | median | awk '{ printf "%d", $1 }')
  BEST[$s]=$(tr ' ' '\n' <<<"${RUNS[$s]}" | sed '/^$/d' | sort -g | tail -1)
  SHARE[$s]=$(tr ' ' '\n' <<<"${SHARES[$s]}" | median)
done

# Medians, and each server's best run: the generator and the VM's neighbours
# only ever take throughput away, so the best of several runs is the least
# disturbed estimate of what the path carries.
ref=${RESULT[testpmd]:-0}
bref=${BEST[testpmd]:-0}
ratio_of() { if [ "$2" -gt 0 ]; then awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; else echo -; fi; }
printf '\n%-10s %12s %10s %11s %10s %10s   %s\n' server "answered/s" "vs 5tswap" "of offered" "best/s" "vs 5tswap" "(medians and best of $ROUNDS rounds; every run)"
for s in "${servers[@]}"; do
  r=${RESULT[$s]:-0}
  b=${BEST[$s]:-0}
  printf '%-10s %12s %10s %11s %10s %10s   %s\n' "$s" "$r" "$(ratio_of "$r" "$ref")" "${SHARE[$s]:-0}" \
    "$b" "$(ratio_of "$b" "$bref")" "${RUNS[$s]}"
done
