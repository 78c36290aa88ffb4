#!/usr/bin/env bash
# Instructions per query of the dataplane's burst pipeline, counted by
# callgrind (deterministic, unlike wall time on a shared VM): inclusive
# instructions of process_burst divided by the number of parse_query calls,
# in bench/dataplane_bench's BM_Pipeline over the 10k-name mix.
#
#   bench/callgrind_per_query.sh [BENCH_BINARY...]   (default build/bench/dataplane_bench)
#
# With several binaries (e.g. an old and a new build) it prints one line each.
set -euo pipefail
. "$(dirname "$0")/../scripts/lib.sh"
command -v valgrind >/dev/null || die "valgrind is not installed (apt-get install valgrind)"
bins=("$@")
((${#bins[@]})) || bins=("$EDGEDNS_BUILD_DIR/bench/dataplane_bench")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for b in "${bins[@]}"; do
  [ -x "$b" ] || die "$b: not an executable"
  out="$tmp/cg.out"
  # The bench re-executes itself to set GLIBC_TUNABLES, which valgrind does
  # not follow: set it here (the same value) so it runs as measured.
  GLIBC_TUNABLES=glibc.malloc.arena_max=1:glibc.malloc.hugetlb=1 \
    valgrind --tool=callgrind --callgrind-out-file="$out" "$b" \
    --benchmark_filter='BM_Pipeline/10000$' --benchmark_min_time=0.5 >"$tmp/run.log" 2>&1 ||
    { tail -n 20 "$tmp/run.log" >&2; die "$b: callgrind run failed"; }
  callgrind_annotate --inclusive=yes --tree=caller "$out" >"$tmp/ann.txt" 2>/dev/null
  "$PY" - "$tmp/ann.txt" "$b" <<'PY'
import re, sys
lines = open(sys.argv[1]).read().splitlines()
def num(s): return int(s.replace(",", ""))
# In callgrind_annotate's caller tree, "  COST (PCT)  *  FUNCTION" is a function's
# inclusive cost and the "<" lines above it are its callers with call counts.
burst = calls = 0
for i, l in enumerate(lines):
    m = re.match(r"\s*([\d,]+) \([^)]*\)\s+\*\s+(.*)", l)
    if not m: continue
    if "process_burst(" in m.group(2): burst = num(m.group(1))
    if "parse_query(" in m.group(2):
        k = i - 1
        while k >= 0 and re.match(r"\s*[\d,]+ \([^)]*\)\s+<", lines[k]):
            c = re.search(r"\(([\d,]+)x\)", lines[k])
            if c and "process_burst(" in lines[k]: calls += num(c.group(1))
            k -= 1
if not burst or not calls:
    sys.exit(f"callgrind_per_query: no process_burst cost ({burst}) or parse_query calls from it ({calls})")
print(f"{sys.argv[2]}: {burst / calls:,.1f} instructions per query ({calls:,} queries)")
PY
done
