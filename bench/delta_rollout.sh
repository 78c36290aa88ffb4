#!/usr/bin/env bash
# Delta rollouts against full uploads, side by side in one run: three real
# edgedns nodes in their own namespaces (reached by edgectl serve over
# mutual TLS, tests/integration/lib/fleet_common.sh) hold a zone of RECORDS
# A records; each round pushes a version with CHANGES records changed (and
# the serial), once as the default (a delta from the committed version) and
# once with --full-upload, in alternating order, bake 0. Per push: the
# wall time of `edgectl push --wait` (push to committed, validation
# included) and the bytes sent to each node (edgectl serve's log).
# Usage: bench/delta_rollout.sh [ROUNDS (3)]. Environment: RECORDS
# (1000000), CHANGES (100). Needs root; bounded.
set -euo pipefail
. "$(dirname "$0")/../tests/integration/lib/fleet_common.sh"
ROUNDS=${1:-3}
RECORDS=${RECORDS:-1000000}
CHANGES=${CHANGES:-100}

# bench_zone SERIAL OFFSET: h0..h(RECORDS-1) A, the first CHANGES of them
# pointing at OFFSET-dependent addresses (so every version differs from the
# last in exactly CHANGES records and the SOA).
bench_zone() {
  "$PY" - "$1" "$2" "$RECORDS" "$CHANGES" <<'PY'
import sys
serial, off, n, k = (int(x) for x in sys.argv[1:5])
w = sys.stdout.write
w("$ORIGIN bench.test.\n$TTL 3600\n@ IN SOA ns1 hostmaster %d 7200 3600 1209600 300\n" % serial)
w("@ IN NS ns1\nns1 IN A 192.0.2.53\n")
lines = []
for i in range(n):
    v = i + off if i < k else i
    lines.append("h%d IN A 198.%d.%d.%d\n" % (i, 18 + (v >> 16 & 1), v >> 8 & 255, v & 255))
w("".join(lines))
PY
}

fleet_setup_net
log "zone of $RECORDS records, $CHANGES changed per version"
bench_zone 1 0 >"$TMP/v1.zone"
for n in "${NODES[@]}"; do EDGEDNS_MEM=512 start_node "$n" --zone "$TMP/v1.zone" || exit 1; done
write_fleet
start_serve --adopt "$TMP/v1.zone" || exit 1
cat >"$TMP/policy.yaml" <<EOF
stages:
  - {name: canary-lcore, scope: lcore, bake_s: 0}
  - {name: canary-node,  scope: node,  bake_s: 0}
  - {name: next-wave,    scope: wave,  bake_s: 0, waves: 1}
  - {name: all,          scope: all,   bake_s: 0}
health: {interval_s: 0.2, min_queries: 0, probe_timeout_s: 1}
EOF

serial=1
RESULTS=()
# one_push MODE: the next version pushed; a result line "MODE SECONDS BYTES1 BYTES2 BYTES3".
one_push() {
  local mode=$1 flag=() t0 t1 lines n b bytes=()
  serial=$((serial + 1))
  bench_zone "$serial" "$((serial * 1000))" >"$TMP/v$serial.zone"
  [ "$mode" = full ] && flag=(--full-upload)
  lines=$(cat "$TMP"/serve.*.log | wc -l)
  t0=$(date +%s.%N)
  CLI_TIMEOUT=900 edgectl push --socket "$CTL_SOCK" --policy "$TMP/policy.yaml" --wait "${flag[@]}" \
    "$TMP/v$serial.zone" >"$TMP/push$serial.out" 2>&1 || { fail "push $serial ($mode)"; tail -20 "$TMP/push$serial.out"; exit 1; }
  t1=$(date +%s.%N)
  for n in "${NODES[@]}"; do
    b=$(cat "$TMP"/serve.*.log | tail -n "+$((lines + 1))" | grep "node edge-$n: \(delta\|full upload\)" |
      sed -n 's/.*, \([0-9]*\) bytes sent$/\1/p; s/.*: \([0-9]*\) bytes sent$/\1/p' | head -1)
    bytes+=("${b:-?}")
  done
  RESULTS+=("$mode $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }') ${bytes[*]}")
  log "push $serial ($mode): ${RESULTS[-1]}"
}
for r in $(seq "$ROUNDS"); do
  if ((r % 2)); then one_push delta; one_push full; else one_push full; one_push delta; fi
done

printf '\n%-7s %10s %14s %14s %14s\n' mode seconds bytes/edge-1 bytes/edge-2 bytes/edge-3
for l in "${RESULTS[@]}"; do
  # shellcheck disable=SC2086
  printf '%-7s %10s %14s %14s %14s\n' $l
done
printf '%s\n' "${RESULTS[@]}" | awk '
  { t[$1] = t[$1] " " $2; for (i = 3; i <= 5; i++) { b[$1] += $i; nb[$1]++ } }
  function median(s,   a, n, i, j, x) { n = split(s, a, " "); for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { x = a[i]; a[i] = a[j]; a[j] = x }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
  END {
    md = median(t["delta"]); mf = median(t["full"])
    bd = b["delta"] / nb["delta"]; bf = b["full"] / nb["full"]
    printf "\nmedian push-to-committed: delta %.2f s, full upload %.2f s: %.1fx faster (target >= 10x)\n", md, mf, mf / md
    printf "mean bytes per node: delta %d, full upload %d: %.3f%% (target <= 1%%)\n", bd, bf, 100 * bd / bf
  }'
