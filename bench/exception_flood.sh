#!/usr/bin/env bash
# UDP answer throughput of edgedns's fast path with the kernel exception path
# flooded, beside the same run unflooded: kxdpgun (client namespace, CPU 0)
# -> veth -> edgedns over AF_PACKET or AF_XDP (worker lcore on CPU 1, busy polling; the
# exception and TCP threads on CPU 0) while hping3 sends a TCP SYN flood to
# port 53 of the service address from the same client namespace (bounded by
# the run's duration). Every SYN is handed to the kernel through the
# exception path, which answers SYN-ACKs (syncookies) back through it.
#
# Prints answered qps unflooded and flooded, their ratio (the issue's target:
# within 10%), and the lcore's and exception thread's counters of the flooded
# run (how much was handed over, dropped at the ring or by the rate budget).
# A benchmark, not a test: it asserts nothing about speed. Needs root and
# hping3 (scripts/setup.sh installs it); traffic stays inside the two
# namespaces it creates; everything is removed on exit.
#
# Usage: bench/exception_flood.sh
#   EDGEDNS=path/to/edgedns  DURATION=seconds (5)  NAMES=zone size (10000)
#   QPS=offered UDP load (3000000: saturates the lcore)  FLOOD=hping3 rate option
#   (--flood: as fast as it can; e.g. "-i u10" for ~100k SYN/s)
#   EXTRA="edgedns options" (e.g. "--exception-rate 50000")
#   PMD=af_packet|af_xdp (af_packet; see the known AF_XDP problem in docs/operations.md)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/scripts/lib.sh"  # EDGEDNS_BUILD_DIR
EDGEDNS=${EDGEDNS:-$EDGEDNS_BUILD_DIR/dataplane/edgedns}
DURATION=${DURATION:-5}
NAMES=${NAMES:-10000}
QPS=${QPS:-3000000}
FLOOD=${FLOOD:---flood}
EXTRA=${EXTRA:-}
PMD=${PMD:-af_packet}
case $PMD in
  af_packet) VDEV_OPTS="net_af_packet0,iface=" VDEV_TAIL="" ;;
  af_xdp) VDEV_OPTS="net_af_xdp0,iface=" VDEV_TAIL=",start_queue=0,queue_count=1" ;;
  *) echo "PMD must be af_packet or af_xdp"; exit 2 ;;
esac
[ "$(id -u)" = 0 ] || { echo "needs root"; exit 1; }
[ -x "$EDGEDNS" ] || { echo "$EDGEDNS not built"; exit 1; }
command -v hping3 >/dev/null || { echo "hping3 missing (scripts/setup.sh installs it)"; exit 1; }

ID=$$
SRV=exf-srv-$ID
CLI=exf-cli-$ID
VS=efs$ID
VC=efc$ID
SRV4=10.57.0.53
CLI4=10.57.0.2
TMP=$(mktemp -d /tmp/exf.XXXXXX)
PID=
FPID=

stop_pid() {
  local p=$1
  if [ -n "$p" ] && kill -0 "$p" 2>/dev/null; then
    kill -TERM "$p" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$p" 2>/dev/null || true
  fi
  wait "$p" 2>/dev/null || true
}
cleanup() {
  stop_pid "$FPID"
  stop_pid "$PID"
  rm -rf /var/run/dpdk/exf"$ID"-*
  ip netns del "$SRV" 2>/dev/null || true
  ip netns del "$CLI" 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The zone and the query mix of bench/dataplane_e2e.sh: 70% hits, 10% NODATA, 20% NXDOMAIN.
{
  printf '$ORIGIN bench.test.\n$TTL 3600\n@ SOA ns1 h 1 7200 900 1209600 300\n@ NS ns1\nns1 A 192.0.2.1\n'
  awk -v n="$NAMES" 'BEGIN { for (i = 0; i < n; i++)
    printf "host%d A 10.%d.%d.%d\n", i, int(i / 65536) % 256, int(i / 256) % 256, i % 256 }'
} >"$TMP/bench.zone"
awk -v n="$NAMES" 'BEGIN { srand(7); for (i = 0; i < 20000; i++) { k = int(rand() * n); r = i % 10;
  if (r < 7) printf "host%d.bench.test. A\n", k;
  else if (r < 8) printf "host%d.bench.test. AAAA\n", k;
  else printf "nx%d.bench.test. A\n", k } }' >"$TMP/queries.txt"

ip netns add "$SRV"
ip netns add "$CLI"
ip link add "$VS" type veth peer name "$VC"
ip link set "$VS" netns "$SRV"
ip link set "$VC" netns "$CLI"
for ns_if in "$SRV:$VS" "$CLI:$VC"; do
  ns=${ns_if%%:*} ifc=${ns_if#*:}
  ip netns exec "$ns" ethtool -K "$ifc" tx off rx off >/dev/null
  ip netns exec "$ns" ip link set lo up
  ip netns exec "$ns" ip link set "$ifc" up
done
ip netns exec "$CLI" ethtool -K "$VC" gro on >/dev/null 2>&1 || true
kernel_ignores_port "$SRV" "$VS"  # the port is edgedns's alone (scripts/lib.sh)
ip netns exec "$SRV" ip link set "$VS" xdp off 2>/dev/null || true
ip netns exec "$CLI" ip addr add "$CLI4/24" dev "$VC"
SRV_MAC=$(ip netns exec "$SRV" cat "/sys/class/net/$VS/address")

# Main lcore 0 (housekeeping, sleeps) and worker lcore 1; helper threads go to CPU 0.
# shellcheck disable=SC2086
ip netns exec "$SRV" "$EDGEDNS" -l 0,1 --main-lcore 0 --no-huge -m 1024 --no-pci \
  --file-prefix "exf$ID" --vdev="$VDEV_OPTS$VS$VDEV_TAIL" -- \
  --listen "$SRV4" --zone "$TMP/bench.zone" $EXTRA >"$TMP/edgedns.log" 2>&1 &
PID=$!
for _ in $(seq 150); do grep -q "serving on" "$TMP/edgedns.log" && break; sleep 0.2; done
grep -q "serving on" "$TMP/edgedns.log" || { cat "$TMP/edgedns.log"; echo "edgedns did not start"; exit 1; }
ip netns exec "$SRV" ip route add 10.57.0.0/24 dev dnsx0
# The kernel answers a SYN flood with syncookies instead of filling its queue.
ip netns exec "$SRV" sysctl -qw net.ipv4.tcp_syncookies=1
for _ in $(seq 50); do
  ip netns exec "$CLI" dig +tries=1 +time=1 +short @"$SRV4" host1.bench.test A 2>/dev/null | grep -q '^10\.' && break
  sleep 0.2
done

counters() {  # newest counter block
  local before
  before=$(grep -c "^counters total" "$TMP/edgedns.log" || true)
  kill -USR1 "$PID"
  for _ in $(seq 50); do
    [ "$(grep -c "^counters total" "$TMP/edgedns.log" || true)" -gt "$before" ] && break
    sleep 0.1
  done
  tac "$TMP/edgedns.log" | awk '/^counters total/ {n++} n == 1 && /^counters/ {print} /^counters lcore=/ && n == 1 {exit}' | tac
}
counter() { sed -n "s/.* $2=\([0-9]*\).*/\1/p" <<<"$1" | head -1; }

declare -A RATE
gun() {  # name
  local name=$1 out rate
  out=$(ip netns exec "$CLI" timeout $((DURATION + 20)) kxdpgun -t "$DURATION" -Q "$QPS" -F 0 \
        -I "$VC" -l "$CLI4" -R "$SRV_MAC" -i "$TMP/queries.txt" "$SRV4" 2>&1 || true)
  echo "$out" >"$TMP/gun-$name.txt"
  rate=$(sed -n 's/^total replies: *[0-9]* *(\([0-9]*\) pps).*/\1/p' <<<"$out" | head -1)
  RATE[$name]=${rate:-0}
  echo "  $name: $(grep -E '^total (queries|replies)' <<<"$out" | tr '\n' ' ')"
}

echo "exception_flood bench: edgedns over $PMD, $NAMES names, kxdpgun -Q $QPS for ${DURATION}s on CPU 0, edgedns lcore on CPU 1;"
echo "flood: hping3 -S -p 53 $FLOOD on CPU 0 during the second run${EXTRA:+; edgedns $EXTRA}"
gun unflooded
before=$(counters)
# shellcheck disable=SC2086
ip netns exec "$CLI" timeout $((DURATION + 3)) taskset -c 0 hping3 -q -S -p 53 $FLOOD "$SRV4" \
  >"$TMP/hping3.log" 2>&1 &
FPID=$!
sleep 1  # the flood is running before the measured run starts
gun flooded
stop_pid "$FPID"
FPID=
after=$(counters)

lc_b=$(grep "^counters lcore=" <<<"$before" | head -1)
lc_a=$(grep "^counters lcore=" <<<"$after" | head -1)
ex_b=$(grep "^counters exception" <<<"$before")
ex_a=$(grep "^counters exception" <<<"$after")
delta() { echo $(( $(counter "$2" "$3") - $(counter "$1" "$3") )); }
echo
echo "during the flooded run (lcore):    handed to the kernel $(delta "$lc_b" "$lc_a" to_kernel)," \
  "ring full $(delta "$lc_b" "$lc_a" drop_exception_full), over the rate budget" \
  "$(delta "$lc_b" "$lc_a" drop_exception_rate), kernel frames sent $(delta "$lc_b" "$lc_a" from_kernel)"
echo "during the flooded run (lcore):    rx $(delta "$lc_b" "$lc_a" rx), UDP queries" \
  "$(delta "$lc_b" "$lc_a" queries), answers $(delta "$lc_b" "$lc_a" answers), tx" \
  "$(delta "$lc_b" "$lc_a" tx), TX full $(delta "$lc_b" "$lc_a" drop_tx_full)"
echo "during the flooded run (exception): to tap $(delta "$ex_b" "$ex_a" to_tap)," \
  "tap refused $(delta "$ex_b" "$ex_a" to_tap_failed), from tap $(delta "$ex_b" "$ex_a" from_tap)"
grep -h "packets transmitted\|flood" "$TMP/hping3.log" 2>/dev/null | head -2 | sed 's/^/hping3: /' || true
printf '\n%-10s %12s\n' run "answered/s"
printf '%-10s %12s\n' unflooded "${RATE[unflooded]}" flooded "${RATE[flooded]}"
if [ "${RATE[unflooded]}" -gt 0 ]; then
  awk -v a="${RATE[flooded]}" -v b="${RATE[unflooded]}" 'BEGIN { printf "ratio flooded/unflooded: %.3f (target >= 0.90)\n", a / b }'
fi
