#!/usr/bin/env bash
# The zones issue's differential corpus over the wire: edgedns (DPDK port on
# the server end of a veth, in its own network namespace) against knotd, both
# asked with the same query bytes by tests/integration/diff_knot.py from the
# client namespace. knotd serves the client namespace's loopback; edgedns
# answers ARP/ND and DNS itself (no kernel address on its end). Everything
# diff_knot.py compares is compared; each run must end with 0 mismatches (the
# tags allowed in docs/differences.md aside). A fresh netns pair and edgedns
# per variant.
#
# Usage: tests/integration/dataplane_diff_knot.sh [--transport udp|tcp] [PMD:FAMILY...]
#   PMD:FAMILY: af_packet:4 af_packet:6 af_xdp:4 af_xdp:6
#               (default: af_packet:4 af_xdp:6, both PMDs and both families)
#   Environment: EDGEDNS_DIFF_VARIANTS, EDGEDNS_DIFF_TRANSPORT (the same; the
#   command line wins), EDGEDNS (binary, default
#   $EDGEDNS_BUILD_DIR/dataplane/edgedns). answer_batch comes from the same
#   build dir: it is the whole-RRset reference for truncated UDP answers.
#   --transport tcp: edgedns's TCP server (on the kernel side of its exception
#   tap, dnsx0) answers; the script gives that tap the route to the client.
# Needs root. Traffic stays inside the namespaces it creates; everything is
# removed on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/scripts/lib.sh"  # EDGEDNS_BUILD_DIR, PY, bounded
EDGEDNS=${EDGEDNS:-$EDGEDNS_BUILD_DIR/dataplane/edgedns}
TRANSPORT=${EDGEDNS_DIFF_TRANSPORT:-udp}
read -r -a VARIANTS <<<"${EDGEDNS_DIFF_VARIANTS:-af_packet:4 af_xdp:6}"
usage() { echo "usage: $0 [--transport udp|tcp] [af_packet|af_xdp:4|6 ...]"; exit 2; }
args=()
while (($#)); do
  case $1 in
    --transport) TRANSPORT=${2:-}; shift 2 || usage ;;
    -*) usage ;;
    *) args+=("$1"); shift ;;
  esac
done
((${#args[@]})) && VARIANTS=("${args[@]}")
case $TRANSPORT in udp | tcp) ;; *) usage ;; esac
for v in "${VARIANTS[@]}"; do
  [[ $v =~ ^(af_packet|af_xdp):(4|6)$ ]] || usage
done
[ -x "$EDGEDNS" ] || { echo "FAIL: $EDGEDNS not built"; exit 1; }
[ -x "$EDGEDNS_BUILD_DIR/tests/tools/answer_batch" ] ||
  { echo "FAIL: $EDGEDNS_BUILD_DIR/tests/tools/answer_batch not built"; exit 1; }
[ "$(id -u)" = 0 ] || { echo "FAIL: needs root (network namespaces)"; exit 1; }

ID=$$
SRV=edk-srv-$ID
CLI=edk-cli-$ID
VS=eks$ID           # server end of the veth (edgedns's port)
VC=ekc$ID           # client end
SRV4=10.54.0.53
CLI4=10.54.0.2
SRV6=fd54::53
CLI6=fd54::2
TMP=$(mktemp -d /tmp/edk.XXXXXX)
PID=
FAILED=()

log() { echo "[$(date +%T)] $*"; }

stop_edgedns() { stop_process "$PID"; PID=; }  # scripts/lib.sh

teardown_net() {
  ip netns del "$SRV" 2>/dev/null || true
  ip netns del "$CLI" 2>/dev/null || true
  ip link del "$VS" 2>/dev/null || true
}

cleanup() {
  stop_edgedns
  teardown_net
  # The EAL keeps a runtime directory per --file-prefix (no --in-memory with --no-huge).
  rm -rf /var/run/dpdk/edk"$ID"-*
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

setup_net() {
  testhost_pair "$SRV" "$CLI" "$VS" "$VC"  # scripts/lib.sh; knotd listens on the client's loopback
  # The port is edgedns's alone: with AF_PACKET the kernel would also take
  # every frame and, now that the exception tap holds the service addresses,
  # answer UDP/53 with port-unreachable (docs/operations.md).
  kernel_ignores_port "$SRV" "$VS"
  ip netns exec "$SRV" ip link set "$VS" xdp off 2>/dev/null || true
  ip netns exec "$CLI" ip addr add "$CLI4/24" dev "$VC"
  ip netns exec "$CLI" ip -6 addr add "$CLI6/64" dev "$VC" nodad
}

# start_edgedns NAME VDEV: edgedns on the server end, the diff zones, both addresses.
start_edgedns() {
  local name=$1 vdev=$2 z zargs=()
  for z in diff.test child.diff.test other.test; do
    zargs+=(--zone "$z.=$ROOT/tests/data/diff/$z.zone")
  done
  ip netns exec "$SRV" "$EDGEDNS" -l 1 --no-huge -m 1024 --no-pci --file-prefix "edk$ID-$name" \
    --vdev="$vdev" -- --listen "$SRV4" --listen "$SRV6" "${zargs[@]}" --idle-sleep \
    >"$TMP/$name.log" 2>&1 &
  PID=$!
  if edgedns_up "$TMP/$name.log" "$PID"; then  # scripts/lib.sh
    # The exception tap carries only the service addresses: the kernel
    # side (TCP) needs the route to the client (docs/operations.md).
    if ip netns exec "$SRV" ip link show dnsx0 >/dev/null 2>&1; then
      ip netns exec "$SRV" ip route add "${CLI4%.*}.0/24" dev dnsx0
      ip netns exec "$SRV" ip -6 route add "${CLI6%::*}::/64" dev dnsx0
    fi
    return 0
  fi
  echo "FAIL: $name: edgedns did not start"
  sed 's/^/    | /' "$TMP/$name.log"
  return 1
}

# run_variant PMD FAMILY: 0 when the corpus matches knotd over the wire.
run_variant() {
  local pmd=$1 family=$2 name="$1-ipv$2" vdev server rc=0
  case $pmd in
    af_packet) vdev="net_af_packet0,iface=$VS" ;;
    af_xdp) vdev="net_af_xdp0,iface=$VS,start_queue=0,queue_count=1" ;;
  esac
  if [ "$family" = 4 ]; then server=$SRV4; else server="[$SRV6]:53"; fi
  setup_net
  log "=== $name: edgedns over $pmd in $SRV; diff_knot.py in $CLI asks it at $server over ${TRANSPORT^^}"
  start_edgedns "$name" "$vdev" || return 1
  grep "^edgedns:" "$TMP/$name.log" | sed 's/^/    /' || true
  # 0.5 s per send, 2 sends: the corpus's two queries that both sides drop
  # cost 1 s; 8 in flight keep the rate modest for one --idle-sleep lcore.
  bounded 240 "$PY" "$ROOT/tests/integration/diff_knot.py" --build "$EDGEDNS_BUILD_DIR" \
    --ours-netns "$CLI" --ours-server "$server" --transport "$TRANSPORT" \
    --ours-timeout 0.5 --ours-tries 2 --in-flight 8 </dev/null || rc=$?
  # edgedns's own view of the run.
  edgedns_counters "$TMP/$name.log" "$PID" | tail -2 | sed 's/^/    /' || true
  if ! kill -0 "$PID" 2>/dev/null; then
    echo "FAIL: $name: edgedns exited during the run"
    tail -30 "$TMP/$name.log" | sed 's/^/    | /'
    rc=1
  fi
  return "$rc"
}

for v in "${VARIANTS[@]}"; do
  rc=0
  run_variant "${v%%:*}" "${v##*:}" || rc=$?
  stop_edgedns
  teardown_net
  if [ "$rc" = 0 ]; then log "ok: $v"; else log "FAIL: $v (exit $rc)"; FAILED+=("$v"); fi
done
if ((${#FAILED[@]} == 0)); then
  log "dataplane_diff_knot: the corpus matches knotd over the wire (${TRANSPORT^^}: ${VARIANTS[*]})"
  exit 0
fi
log "dataplane_diff_knot: FAILED over ${TRANSPORT^^}: ${FAILED[*]}"
exit 1
