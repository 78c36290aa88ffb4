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
# The test host (names, addresses in 198.18.0.0/15 and 2001:db8::/32,
# cleanup) comes from tests/integration/lib/harness.sh.
# scripts/demo.sh can run it as one of its DEMO_STEPS.
set -euo pipefail
. "$(dirname "$0")/../tests/integration/lib/harness.sh"

PMD=af_xdp
if [ "${1:-}" = --pmd ]; then PMD=$2; shift 2; fi
case $PMD in af_xdp | af_packet) ;; *) die "--pmd af_xdp or af_packet" ;; esac
demo_zones "$@"  # ZONES (scripts/lib.sh)
harness_init edd 59
testhost_up

VDEV=$(vdev "$PMD")
zargs=()
for z in "${ZONES[@]}"; do zargs+=(--zone "$z"); done
section "edgedns over $PMD in namespace $SRV"
note "\$ edgedns -l 1 --no-huge -m 1024 --no-pci --vdev=$VDEV -- --listen $SRV4 --listen $SRV6 ${zargs[*]#"$EDGEDNS_ROOT"/} --idle-sleep"
start_edgedns demo "-l 1" "$VDEV" --listen "$SRV4" --listen "$SRV6" "${zargs[@]}" --idle-sleep ||
  die "edgedns did not start"
grep "^edgedns:" "$LOG"

ask() {  # server name type
  note ""
  note "\$ dig @$1 $2 $3"
  bounded 10 ip netns exec "$CLI" dig +tries=2 +time=2 +norec +nocmd +nostats @"$1" "$2" "$3" ||
    note "(dig exited $?)"
}

section "dig from namespace $CLI (ARP and ND answered by edgedns)"
for z in "${ZONES[@]}"; do
  o=$(zone_origin "$z")
  ask "$SRV4" "$o" SOA
  ask "$SRV6" "www.$o" A
  ask "$SRV4" "$o" MX
  ask "$SRV6" "no-such-name.$o" A
done

section "ping"
ip netns exec "$CLI" ping -c 2 -i 0.2 -W 2 "$SRV4" | sed -n '1,3p'
ip netns exec "$CLI" ping -6 -c 2 -i 0.2 -W 2 "$SRV6" | sed -n '1,3p'

section "counters (SIGUSR1)"
counters
