#!/usr/bin/env bash
# Demo of edgedns on a test host: a client namespace and a server namespace
# joined by a veth; edgedns owns the server end through DPDK's AF_XDP PMD
# (--pmd af_packet for AF_PACKET), serves the bundled example zones, and
# answers ARP, ND, ping and dig from the client itself (the server end has no
# kernel address). Prints each command and its answer, then edgedns's
# counters, and removes everything on exit.
#
#   dataplane/demo_netns.sh [--pmd af_xdp|af_packet] [ZONE_FILE...]
#
# Environment: EDGEDNS_BUILD (build dir, see scripts/lib.sh). Needs root.
# scripts/demo.sh can run it as one of its DEMO_STEPS.
set -euo pipefail
. "$(dirname "$0")/../scripts/lib.sh"

PMD=af_xdp
if [ "${1:-}" = --pmd ]; then PMD=$2; shift 2; fi
EDGEDNS=${EDGEDNS:-$EDGEDNS_BUILD_DIR/dataplane/edgedns}
[ -x "$EDGEDNS" ] || die "$EDGEDNS not built (ninja -C $EDGEDNS_BUILD dataplane/edgedns)"
[ "$(id -u)" = 0 ] || die "needs root (network namespaces)"
demo_zones "$@"  # ZONES (scripts/lib.sh)

ID=$$
SRV=edd-srv-$ID CLI=edd-cli-$ID VS=eds$ID VC=edc$ID
SRV4=10.55.0.53 CLI4=10.55.0.2 SRV6=fd55::53 CLI6=fd55::2
LOG=$(mktemp /tmp/edgedns-demo.XXXXXX.log)
PID=

cleanup() {
  stop_process "$PID"  # scripts/lib.sh
  ip netns del "$SRV" 2>/dev/null || true
  ip netns del "$CLI" 2>/dev/null || true
  rm -rf /var/run/dpdk/edd"$ID" "$LOG"
}
trap cleanup EXIT

testhost_pair "$SRV" "$CLI" "$VS" "$VC"  # scripts/lib.sh
ip netns exec "$CLI" ip addr add "$CLI4/24" dev "$VC"
ip netns exec "$CLI" ip -6 addr add "$CLI6/64" dev "$VC" nodad

case $PMD in
  af_xdp) VDEV="net_af_xdp0,iface=$VS,start_queue=0,queue_count=1" ;;
  af_packet) VDEV="net_af_packet0,iface=$VS" ;;
  *) die "--pmd af_xdp or af_packet" ;;
esac
zargs=()
for z in "${ZONES[@]}"; do zargs+=(--zone "$z"); done
section "edgedns over $PMD in namespace $SRV"
note "\$ edgedns -l 1 --no-huge -m 1024 --no-pci --vdev=$VDEV -- --listen $SRV4 --listen $SRV6 ${zargs[*]#"$EDGEDNS_ROOT"/} --idle-sleep"
ip netns exec "$SRV" "$EDGEDNS" -l 1 --no-huge -m 1024 --no-pci --file-prefix "edd$ID" \
  --vdev="$VDEV" -- --listen "$SRV4" --listen "$SRV6" "${zargs[@]}" --idle-sleep >"$LOG" 2>&1 &
PID=$!
edgedns_up "$LOG" "$PID" || { cat "$LOG"; die "edgedns did not start"; }
grep "^edgedns:" "$LOG"

# The zone's origin: its first $ORIGIN, else the file name (example.com.zone).
origin() {
  local o
  o=$(awk 'toupper($1) == "$ORIGIN" {print $2; exit}' "$1")
  [ -n "$o" ] || o=$(basename "$1" .zone)
  [[ $o == *. ]] || o="$o."
  printf '%s\n' "$o"
}

ask() {  # server name type
  note ""
  note "\$ dig @$1 $2 $3"
  ip netns exec "$CLI" timeout 10 dig +tries=2 +time=2 +norec +nocmd +nostats @"$1" "$2" "$3" ||
    note "(dig exited $?)"
}

section "dig from namespace $CLI (ARP and ND answered by edgedns)"
for z in "${ZONES[@]}"; do
  o=$(origin "$z")
  ask "$SRV4" "$o" SOA
  ask "$SRV6" "www.$o" A
  ask "$SRV4" "$o" MX
  ask "$SRV6" "no-such-name.$o" A
done

section "ping"
ip netns exec "$CLI" ping -c 2 -i 0.2 -W 2 "$SRV4" | sed -n '1,3p'
ip netns exec "$CLI" ping -6 -c 2 -i 0.2 -W 2 "$SRV6" | sed -n '1,3p'

section "counters (SIGUSR1)"
kill -USR1 "$PID"
for _ in $(seq 30); do grep -q "^counters total" "$LOG" && break; sleep 0.1; done
grep "^counters" "$LOG"
