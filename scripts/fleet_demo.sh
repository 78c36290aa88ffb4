#!/usr/bin/env bash
# Demo of a small EdgeDNS fleet on a test host: three edgedns nodes, each in
# its own network namespace on a veth into one client namespace (node edge-1
# with two worker lcores on a 2-queue veth, so the first canary stage is one
# lcore of it), edgectl serve in the client namespace, and a push of the
# zones through the full staged rollout (one lcore of edge-1, edge-1, wave 2,
# all) with a short bake, its progress shown live. The nodes start on
# "yesterday's" version of the zones (the same records, each SOA serial one
# lower), which edgectl serve adopts as the committed version, so every
# validation gate runs against it. dig answers from every node before and
# after; everything is removed on exit.
#
#   scripts/fleet_demo.sh [ZONE_FILE...]     (default: zones/examples/*.zone)
#
# Environment: EDGEDNS_BUILD (build dir, see scripts/lib.sh), EDGEDNS_DEMO_BAKE
# (seconds per stage, default 2). Needs root. scripts/demo.sh runs it as one
# of its DEMO_STEPS.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

BAKE=${EDGEDNS_DEMO_BAKE:-2}
[ -x "$EDGEDNS" ] || die "$EDGEDNS not built (ninja -C $EDGEDNS_BUILD dataplane/edgedns)"
[ -x "$EDGECTL" ] || die "$EDGECTL not built (ninja -C $EDGEDNS_BUILD control/edgectl)"
[ "$(id -u)" = 0 ] || die "needs root (network namespaces)"
demo_zones "$@"  # ZONES (scripts/lib.sh)

ID=$$
CLI=edf-cli-$ID
NODES=(1 2 3)
TMP=$(mktemp -d /tmp/edgedns-fleet-demo.XXXXXX)
SOCK=$TMP/edgectl.sock
declare -A PID=()
SERVE_PID=

ns() { echo "edf-s$1-$ID"; }
# Node N's veth: 198.18.(80+N).0/24 (RFC 2544, the range for test networks).
addr() { echo "198.18.$((80 + $1)).53"; }
cli_addr() { echo "198.18.$((80 + $1)).2"; }
mgmt() { echo "198.19.$((80 + $1)).1"; }      # node N's control address (management veth)
mgmt_cli() { echo "198.19.$((80 + $1)).2"; }

cleanup() {
  stop_process "$SERVE_PID"
  local n
  for n in "${NODES[@]}"; do stop_process "${PID[$n]:-}"; done
  ip netns del "$CLI" 2>/dev/null || true
  for n in "${NODES[@]}"; do ip netns del "$(ns "$n")" 2>/dev/null || true; done
  rm -rf /var/run/dpdk/edf"$ID"-* "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# show CMD...: prints the command (paths shortened), then runs it in the
# client namespace.
show() {
  note ""
  note "\$ $(sed "s|$TMP/|\$TMP/|g; s|$EDGEDNS_ROOT/||g" <<<"$*")"
  bounded 300 ip netns exec "$CLI" "$@"
}

# soa_serials: every node's SOA serial of every zone.
soa_serials() {
  local n z o
  for n in "${NODES[@]}"; do
    for z in "${ZONES[@]}"; do
      o=$(zone_origin "$z")
      printf 'edge-%s %-18s SOA serial %s\n' "$n" "$o" \
        "$(bounded 10 ip netns exec "$CLI" dig +short +tries=2 +time=2 @"$(addr "$n")" "$o" SOA | awk '{print $3}')"
    done
  done
}

section "network: client namespace $CLI, three node namespaces"
ip netns add "$CLI"
ip netns exec "$CLI" ip link set lo up
for n in "${NODES[@]}"; do
  q=1
  [ "$n" = 1 ] && q=2
  ip netns add "$(ns "$n")"
  testhost_veth "$(ns "$n")" "efs$n$ID" "$CLI" "efc$n$ID" "$q"  # scripts/lib.sh
  ip netns exec "$CLI" ip addr add "$(cli_addr "$n")/24" dev "efc$n$ID"
  # The management network: a kernel address in the node's namespace (DPDK
  # owns the DNS port), where the node's control port listens.
  ip link add "efm$n$ID" type veth peer name "efn$n$ID"
  ip link set "efm$n$ID" netns "$(ns "$n")"
  ip link set "efn$n$ID" netns "$CLI"
  ip netns exec "$(ns "$n")" ip addr add "$(mgmt "$n")/24" dev "efm$n$ID"
  ip netns exec "$(ns "$n")" ip link set "efm$n$ID" up
  ip netns exec "$CLI" ip addr add "$(mgmt_cli "$n")/24" dev "efn$n$ID"
  ip netns exec "$CLI" ip link set "efn$n$ID" up
  note "edge-$n: DNS $(addr "$n") on veth efs$n$ID ($q queue(s)), client side $(cli_addr "$n"); control $(mgmt "$n"):8853 on efm$n$ID"
done

section "a private CA and certificates (scripts/pki.sh: the openssl command line)"
PKI=$TMP/pki
"$EDGEDNS_ROOT/scripts/pki.sh" ca "$PKI" edgedns-demo-ca
for c in edgectl "${NODES[@]/#/edge-}"; do "$EDGEDNS_ROOT/scripts/pki.sh" cert "$PKI" "$c"; done
note "\$ scripts/pki.sh ca \$TMP/pki; scripts/pki.sh cert \$TMP/pki edgectl; scripts/pki.sh cert \$TMP/pki edge-N ..."
for c in edgectl "${NODES[@]/#/edge-}"; do
  note "  $c.crt: $(openssl x509 -in "$PKI/$c.crt" -noout -subject -enddate | tr '\n' ' ')"
done

# Yesterday's version: the same records in canonical form, serial - 1.
mkdir -p "$TMP/yesterday"
old=()
for z in "${ZONES[@]}"; do
  o=$(zone_origin "$z")
  "$EDGECTL" dump-zone "$z" | awk '$4 == "SOA" { $7 = $7 - 1 } { print }' >"$TMP/yesterday/${o}zone"
  old+=("$TMP/yesterday/${o}zone")
done

section "three edgedns nodes (net_af_packet, --idle-sleep) on yesterday's zones"
for n in "${NODES[@]}"; do
  mkdir -p "$TMP/n$n"
  lcores="-l $((n % 2))"
  vdev="net_af_packet0,iface=efs$n$ID"
  if [ "$n" = 1 ]; then lcores="--lcores=0@0,1@1,2@0"; vdev="$vdev,qpairs=2"; fi
  zargs=()
  for z in "${old[@]}"; do zargs+=(--zone "$z"); done
  note "\$ edgedns $lcores --no-huge -m 512 --vdev=$vdev -- --listen $(addr "$n") --control-listen $(mgmt "$n"):8853 --tls-cert \$TMP/pki/edge-$n.crt --tls-key \$TMP/pki/edge-$n.key --tls-ca \$TMP/pki/ca.crt --control-allow edgectl --state-dir \$TMP/n$n/state --idle-sleep --zone ..."
  EDGEDNS_MEM=512 edgedns_spawn "$(ns "$n")" "$TMP/n$n/edgedns.log" "edf$ID-n$n" "$lcores" "$vdev" \
    --listen "$(addr "$n")" --control-listen "$(mgmt "$n"):8853" --tls-cert "$PKI/edge-$n.crt" \
    --tls-key "$PKI/edge-$n.key" --tls-ca "$PKI/ca.crt" --control-allow edgectl \
    --state-dir "$TMP/n$n/state" --idle-sleep "${zargs[@]}"  # scripts/lib.sh
  PID[$n]=$!
done
for n in "${NODES[@]}"; do
  edgedns_up "$TMP/n$n/edgedns.log" "${PID[$n]}" ||
    { cat "$TMP/n$n/edgedns.log"; die "edge-$n did not start"; }
  for _ in $(seq 50); do grep -q "mutual TLS on" "$TMP/n$n/edgedns.log" && break; sleep 0.1; done
  note "edge-$n: $(grep -E '^edgedns: version' "$TMP/n$n/edgedns.log")"
  note "edge-$n: $(grep -E '^edgedns: control over mutual TLS' "$TMP/n$n/edgedns.log" | sed "s|$TMP/|\$TMP/|g")"
done

section "edgectl serve (in $CLI: it reaches every node over mutual TLS, its probes over DNS)"
{
  echo "tls: {cert: pki/edgectl.crt, key: pki/edgectl.key, ca: pki/ca.crt}"
  echo "nodes:"
  for n in "${NODES[@]}"; do
    printf '  - {name: edge-%s, control: "tls://%s:8853", probe: %s, wave: %s}\n' "$n" "$(mgmt "$n")" "$(addr "$n")" "$n"
  done
} >"$TMP/fleet.yaml"
cat >"$TMP/policy.yaml" <<EOF
# The default four stages (bake overridden by push --bake); gates every second.
health: {interval_s: 1, probe_timeout_s: 1}
EOF
sed "s|$TMP/|\$TMP/|g" "$TMP/fleet.yaml"
adopt=()
for z in "${old[@]}"; do adopt+=(--adopt "$z"); done
note "\$ edgectl serve --fleet \$TMP/fleet.yaml --state-dir \$TMP/ctl --socket \$TMP/edgectl.sock --adopt \$TMP/yesterday/*.zone &"
ip netns exec "$CLI" "$EDGECTL" serve --fleet "$TMP/fleet.yaml" --state-dir "$TMP/ctl" --socket "$SOCK" \
  "${adopt[@]}" >"$TMP/serve.log" 2>&1 &
SERVE_PID=$!
for _ in $(seq 100); do [ -S "$SOCK" ] && break; sleep 0.2; done
[ -S "$SOCK" ] || { cat "$TMP/serve.log"; die "edgectl serve did not start"; }
show "$EDGECTL" status --socket "$SOCK"

section "before the push: SOA serials"
soa_serials

section "push the zones through the staged rollout (bake $BAKE s per stage)"
show "$EDGECTL" push --socket "$SOCK" --policy "$TMP/policy.yaml" --bake "$BAKE" --wait "${ZONES[@]}" ||
  die "the push did not commit (exit $?)"
show "$EDGECTL" status --socket "$SOCK"

section "dig from $CLI: every node serves the pushed zones"
ask() {  # server name type
  show dig +tries=2 +time=2 +norec +nocmd +nostats +noquestion @"$1" "$2" "$3" | grep -v '^$' || true
}
soa_serials
z=${ZONES[0]}
o=$(zone_origin "$z")
ask "$(addr 1)" "$o" SOA
ask "$(addr 2)" "www.$o" A
ask "$(addr 3)" "$o" MX
ask "$(addr 3)" "no-such-name.$o" A

section "edgectl history"
show "$EDGECTL" history --socket "$SOCK"
