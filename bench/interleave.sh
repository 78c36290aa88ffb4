#!/usr/bin/env bash
# Interleaved runs of two builds of a Google Benchmark program, for "unchanged
# within noise" on a noisy machine: A, B, A, B, ... each pinned to one CPU,
# then per benchmark the min and median of the ns/query counter over the
# rounds, side by side.
#   bench/interleave.sh OLD_BIN NEW_BIN [ROUNDS] [-- BENCHMARK ARGS...]
# Default args: --benchmark_filter='Pipeline|Baseline' --benchmark_min_time=0.5.
# CPU: $BENCH_CPU (default 1).
set -euo pipefail
a=$1 b=$2
shift 2
rounds=5
if [ $# -gt 0 ] && [ "$1" != -- ]; then rounds=$1; shift; fi
[ "${1:-}" = -- ] && shift
args=("$@")
((${#args[@]})) || args=(--benchmark_filter='Pipeline|Baseline' --benchmark_min_time=0.5)
cpu=${BENCH_CPU:-1}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for ((i = 0; i < rounds; i++)); do
  for side in a b; do
    bin=$a
    [ "$side" = b ] && bin=$b
    taskset -c "$cpu" "$bin" "${args[@]}" --benchmark_format=json >"$out/$side.$i.json" 2>/dev/null
  done
done
python3 - "$out" "$rounds" "$a" "$b" <<'PY'
import json, statistics, sys
d, n, a, b = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
res = {}
for side in "ab":
    for i in range(n):
        for bm in json.load(open(f"{d}/{side}.{i}.json"))["benchmarks"]:
            v = bm.get("ns/query")
            if v is not None:
                v *= 1e9  # the counter is kept in seconds per query
                res.setdefault(bm["name"], {}).setdefault(side, []).append(v)
print(f"{n} interleaved rounds; ns/query, min / median")
print(f"  A = {a}\n  B = {b}")
print(f"{'benchmark':32} {'A min':>8} {'A med':>8} {'B min':>8} {'B med':>8}  B/A (median)")
for name, s in res.items():
    am, bm = min(s["a"]), min(s["b"])
    ad, bd = statistics.median(s["a"]), statistics.median(s["b"])
    print(f"{name:32} {am:8.1f} {ad:8.1f} {bm:8.1f} {bd:8.1f}  {bd / ad:.3f}")
PY
