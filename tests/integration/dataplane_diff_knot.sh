#!/usr/bin/env bash
# The differential corpus (diff_knot.py) over the wire: edgedns (DPDK port on
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
# Needs root. The test host comes from tests/integration/lib/harness.sh.
set -euo pipefail
. "$(dirname "$0")/lib/harness.sh"  # EDGEDNS_BUILD_DIR, PY, bounded (scripts/lib.sh)
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
harness_need "$EDGEDNS_BUILD_DIR/tests/tools/answer_batch"
harness_init edk 56

setup_net() {
  testhost_up || return 1  # knotd listens on the client's loopback
  # The port is edgedns's alone: with AF_PACKET the kernel would also take
  # every frame and, now that the exception tap holds the service addresses,
  # answer UDP/53 with port-unreachable (docs/operations.md).
  kernel_ignores_port "$SRV" "$VS"
  xdp_off
}

# serve NAME VDEV: edgedns on the server end, the diff zones, both addresses.
serve() {
  local name=$1 vdev=$2 z zargs=()
  for z in diff.test child.diff.test other.test; do
    zargs+=(--zone "$z.=$ROOT/tests/data/diff/$z.zone")
  done
  start_edgedns "$name" "-l 1" "$vdev" --listen "$SRV4" --listen "$SRV6" "${zargs[@]}" --idle-sleep || return 1
  # The exception tap carries only the service addresses: the kernel side
  # (TCP) needs the route to the client (docs/operations.md).
  if ip netns exec "$SRV" ip link show dnsx0 >/dev/null 2>&1; then
    ip netns exec "$SRV" ip route add "$NET4" dev dnsx0
    ip netns exec "$SRV" ip -6 route add "$NET6" dev dnsx0
  fi
}

# run_variant PMD:FAMILY: 0 when the corpus matches knotd over the wire.
run_variant() {
  local pmd=${1%%:*} family=${1##*:} name server rc=0
  name="$pmd-ipv$family"
  if [ "$family" = 4 ]; then server=$SRV4; else server="[$SRV6]:53"; fi
  setup_net || return 1
  log "$name: edgedns over $pmd in $SRV; diff_knot.py in $CLI asks it at $server over ${TRANSPORT^^}"
  serve "$name" "$(vdev "$pmd")" || return 1
  grep "^edgedns:" "$LOG" | sed 's/^/    /' || true
  # 0.5 s per send, 2 sends: the corpus's two queries that both sides drop
  # cost 1 s; 8 in flight keep the rate modest for one --idle-sleep lcore.
  bounded 240 "$PY" "$ROOT/tests/integration/diff_knot.py" --build "$EDGEDNS_BUILD_DIR" \
    --ours-netns "$CLI" --ours-server "$server" --transport "$TRANSPORT" \
    --ours-timeout 0.5 --ours-tries 2 --in-flight 8 </dev/null || rc=$?
  # edgedns's own view of the run.
  counters | tail -2 | sed 's/^/    /' || true
  if ! kill -0 "$PID" 2>/dev/null; then
    fail "$name: edgedns exited during the run"
    tail -30 "$LOG" | indent
    return 1
  fi
  if [ "$rc" = 0 ]; then pass "$1: the corpus matches knotd"; else fail "$1: diff_knot.py exit $rc"; fi
}

run_variants run_variant "${VARIANTS[@]}"
harness_summary dataplane_diff_knot "the corpus against knotd over ${TRANSPORT^^}: ${VARIANTS[*]}"
