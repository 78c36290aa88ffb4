#!/usr/bin/env bash
# One zone among a hundred thousand: three real edgedns nodes in their own
# namespaces (reached by edgectl serve over mutual TLS), each joining empty
# and brought by serve to ZONES zones of about 10 records; then ROUNDS
# pushes of one changed zone (edgectl push --zone, bake 0), each timed from
# the push to committed on every node, with the bytes serve sent each node
# (its log) beside the size of that zone's text, and one --full-upload push
# of the same kind for comparison.
# Usage: bench/zone_scale.sh [ROUNDS (5)]. Environment: ZONES (100000).
# Needs root; bounded.
set -euo pipefail
. "$(dirname "$0")/../tests/integration/lib/fleet_common.sh"
ROUNDS=${1:-5}
ZONES=${ZONES:-100000}

# make_zones DIR: z0.test .. z(ZONES-1).test, 10 records each, serial 1.
"$PY" - "$TMP/zones" "$ZONES" <<'PY'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
os.makedirs(d, exist_ok=True)
for j in range(n):
    with open("%s/z%06d.zone" % (d, j), "w") as f:
        f.write("$ORIGIN z%d.test.\n$TTL 3600\n@ SOA ns1 hostmaster 1 7200 3600 1209600 300\n"
                "@ NS ns1\n@ NS ns2\nns1 A 198.18.1.1\nns2 A 198.18.1.2\n@ MX 10 mail\n"
                "mail A 198.18.2.%d\nwww A 198.18.3.%d\nwww AAAA 2001:db8::%x\n"
                "api CNAME www\n" % (j, j % 250 + 1, j % 250 + 1, j % 65535 + 1))
PY
log "$ZONES zones of 10 records in $TMP/zones"

fleet_setup_net
for n in "${NODES[@]}"; do start_node "$n" || exit 1; done  # empty: joining
write_fleet
t0=$(date +%s.%N)
start_serve --adopt "$TMP/zones" || exit 1
cat >"$TMP/policy.yaml" <<YAML
stages:
  - {name: canary-lcore, scope: lcore, bake_s: 0}
  - {name: canary-node,  scope: node,  bake_s: 0}
  - {name: next-wave,    scope: wave,  bake_s: 0, waves: 1}
  - {name: all,          scope: all,   bake_s: 0}
health: {interval_s: 0.2, min_queries: 0, probe_timeout_s: 1}
YAML
# The reconciler brings every empty node to the adopted version.
in_sync=0
for _ in $(seq 600); do
  in_sync=$(CLI_TIMEOUT=60 edgectl status --socket "$CTL_SOCK" --json 2>/dev/null |
    "$PY" -c 'import json,sys; r=json.load(sys.stdin); print(sum(1 for n in r["nodes"] if n.get("in_sync")))' 2>/dev/null || echo 0)
  [ "$in_sync" = "${#NODES[@]}" ] && break
  sleep 1
done
[ "$in_sync" = "${#NODES[@]}" ] || { fail "nodes not brought to the adopted version"; tail -20 "$(serve_log)"; exit 1; }
log "every node holds the $ZONES zones ($(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.0f", b - a }') s from serve start)"

RESULTS=()
serial=1
# one_push MODE J: zone zJ gets serial+1 and a new www address.
one_push() {
  local mode=$1 j=$2 flag=() t0 t1 lines b bytes=() f
  serial=$((serial + 1))
  f="$TMP/push-z$j.zone"
  sed -e "s/hostmaster 1 /hostmaster $serial /" -e "s/^www A .*/www A 198.18.9.$((serial % 250))/" \
    "$TMP/zones/$(printf 'z%06d' "$j").zone" >"$f"
  [ "$mode" = full ] && flag=(--full-upload)
  lines=$(cat "$TMP"/serve.*.log | wc -l)
  t0=$(date +%s.%N)
  CLI_TIMEOUT=600 edgectl push --socket "$CTL_SOCK" --policy "$TMP/policy.yaml" --wait --zone \
    "${flag[@]}" "$f" >"$TMP/push$serial.out" 2>&1 || { fail "push $serial ($mode)"; tail -20 "$TMP/push$serial.out"; exit 1; }
  t1=$(date +%s.%N)
  for n in "${NODES[@]}"; do
    b=$(cat "$TMP"/serve.*.log | tail -n "+$((lines + 1))" | grep "node edge-$n: \(delta\|full upload\)" |
      sed -n 's/.*, \([0-9]*\) bytes sent$/\1/p; s/.*: \([0-9]*\) bytes sent$/\1/p' | head -1)
    bytes+=("${b:-?}")
  done
  RESULTS+=("$mode z$j $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }') ${bytes[*]} $(wc -c <"$f")")
  log "push $serial ($mode): ${RESULTS[-1]}"
}
for r in $(seq "$ROUNDS"); do one_push delta $(((r * 7919) % ZONES)); done
one_push full $(((ROUNDS + 1) * 7919 % ZONES))

printf '\n%-6s %-8s %9s %13s %13s %13s %11s\n' mode zone seconds bytes/edge-1 bytes/edge-2 bytes/edge-3 zone-bytes
for l in "${RESULTS[@]}"; do
  # shellcheck disable=SC2086
  printf '%-6s %-8s %9s %13s %13s %13s %11s\n' $l
done
printf '%s\n' "${RESULTS[@]}" | awk '
  $1 == "delta" { n++; t = t " " $3; if ($3 > max) max = $3; for (i = 4; i <= 6; i++) b += $i }
  $1 == "full" { ft = $3; fb = ($4 + $5 + $6) / 3 }
  END { printf "\none-zone push to committed on 3 nodes: max %.3f s over %d pushes (target < 1 s); mean %d bytes per node (full upload: %.2f s, %d bytes per node)\n", max, n, b / (3 * n), ft, fb }'
fleet_summary zone_scale
