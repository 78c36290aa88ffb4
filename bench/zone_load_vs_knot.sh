#!/usr/bin/env bash
# Zone load: EdgeDNS parse + check + compile versus knotd start-to-first-answer,
# on the same generated zone of A records, in one run, printed side by side.
#
#   bench/zone_load_vs_knot.sh [RECORDS]     (default 1000000, about 25 MB)
#   ROUNDS=N (default 3): N rounds, each EdgeDNS then knotd; every round is
#   printed and the medians make the figures (one round on this shared 2-CPU
#   VM swings by a third either way).
#
# EdgeDNS side: tests/tools/zone_load (load_zone_file + ZoneSet::build, the
# production path), wall time of the whole process from exec to exit, and its
# peak RSS (getrusage ru_maxrss). A large file is parsed, grouped and compiled
# on two threads, so a busy machine slows EdgeDNS more than its CPU time
# shows: the load average is printed with the figures, and a second run
# prints the time of each stage. Knot side: knotd started on a free loopback
# port with a private config, polled with kdig every 20 ms until it answers the
# SOA authoritatively; wall time from exec to that answer, and peak RSS from
# /proc/PID/status VmHWM at that moment. Targets:
# time <= 0.25x Knot's, peak RSS <= 0.33x Knot's.
#
# A benchmark, not a test: it always exits 0 once both sides were measured
# (1 when a side failed), and nothing asserts on time. Bounded: each side gets
# at most $EDGEDNS_BENCH_TIMEOUT seconds (default 300).
set -euo pipefail
. "$(dirname "$0")/../scripts/lib.sh"
cd "$EDGEDNS_ROOT"

records=${1:-1000000}
rounds=${ROUNDS:-3}
limit=${EDGEDNS_BENCH_TIMEOUT:-300}
zone_load="$EDGEDNS_BUILD_DIR/tests/tools/zone_load"
[ -x "$zone_load" ] || die "$zone_load missing: build first (ninja -C $EDGEDNS_BUILD)"
command -v knotd >/dev/null && command -v kdig >/dev/null || die "knotd/kdig missing (scripts/setup.sh)"

tmp=$(mktemp -d /tmp/edgedns-zonebench.XXXXXX)
knot_pid=""
cleanup() {
  if [ -n "$knot_pid" ] && kill -0 "$knot_pid" 2>/dev/null; then
    kill "$knot_pid" 2>/dev/null || true
    wait "$knot_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

now_ms() { echo $(($(date +%s%N) / 1000000)); }

zone="$tmp/bench.test.zone"
generate_zone() {
  bench_a_zone "$records" >"$zone"  # scripts/lib.sh
  # Written back before timing: otherwise the kernel's writeback of 25 MB
  # of dirty pages competes with whichever side runs first (EdgeDNS).
  sync
}

free_port() {
  "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

ours_ms="" ours_kb="" ours_inner_ms=""
measure_ours() {
  local t0 t1 out
  t0=$(now_ms)
  if ! out=$(bounded "$limit" "$zone_load" "$zone"); then
    note "EdgeDNS: zone_load failed (see above); measuring knotd anyway"
    return 1
  fi
  t1=$(now_ms)
  ours_ms=$((t1 - t0))
  ours_inner_ms=$(sed -n 's/.*elapsed_ms=\([0-9]*\).*/\1/p' <<<"$out")
  ours_kb=$(sed -n 's/.*peak_rss_kb=\([0-9]*\).*/\1/p' <<<"$out")
}

# True once knotd answers the SOA with NOERROR and AA (before the zone is
# loaded it answers SERVFAIL).
knot_answers() {
  local out
  # kdig waits out its whole 1 s timeout on a query sent before knotd has
  # bound the port, which would add a second to Knot's time: wait for the bind.
  [ -n "$(ss -Hlun "sport = :$1" 2>/dev/null)" ] || return 1
  out=$(kdig @127.0.0.1 -p "$1" bench.test SOA +norec +time=1 +retry=0 2>/dev/null) || return 1
  grep -q 'status: NOERROR' <<<"$out" && grep -q '^;; Flags: qr aa' <<<"$out"
}

knot_ms="" knot_kb=""
measure_knot() {
  local port t0 deadline
  port=$(free_port)
  mkdir -p "$tmp/run" "$tmp/db"
  cat >"$tmp/knot.conf" <<EOF
server:
    listen: 127.0.0.1@$port
    rundir: $tmp/run
    user: root:root
database:
    storage: $tmp/db
log:
  - target: stderr
    any: warning
template:
  - id: default
    storage: $tmp
    zonefile-sync: -1
    journal-content: none
zone:
  - domain: bench.test
    file: $zone
EOF
  t0=$(now_ms)
  knotd -c "$tmp/knot.conf" </dev/null >"$tmp/knotd.log" 2>&1 &
  knot_pid=$!
  deadline=$((SECONDS + limit))
  until knot_answers "$port"; do
    kill -0 "$knot_pid" 2>/dev/null || die "knotd exited: $(tail -n 5 "$tmp/knotd.log")"
    ((SECONDS < deadline)) || die "knotd did not answer within $limit s"
    sleep 0.02
  done
  knot_ms=$(($(now_ms) - t0))
  knot_kb=$(awk '/^VmHWM:/ {print $2}' "/proc/$knot_pid/status")
  kill "$knot_pid"
  wait "$knot_pid" 2>/dev/null || true
  knot_pid=""
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "n/a" }'; }
verdict() { awk -v r="$1" -v t="$2" 'BEGIN { print (r != "n/a" && r <= t) ? "met" : "NOT met" }'; }

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
section "zone load: $records A records"
generate_zone
note "zone file: $(du -m "$zone" | cut -f1) MB, $(wc -l <"$zone") lines"
note "EdgeDNS: $zone_load (load_zone_file + ZoneSet::build); knotd $(knotd --version | awk '{print $NF}'): start to first authoritative SOA answer"
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : int((v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
ours_ok=1
all_ours_ms="" all_ours_kb="" all_inner="" all_knot_ms="" all_knot_kb=""
for r in $(seq "$rounds"); do
  measure_ours || { ours_ok=0; break; }
  measure_knot
  note "round $r: EdgeDNS ${ours_ms} ms ${ours_kb} kB, knotd ${knot_ms} ms ${knot_kb} kB, ratio $(ratio "$ours_ms" "$knot_ms")"
  all_ours_ms+="$ours_ms"$'\n' all_ours_kb+="$ours_kb"$'\n' all_inner+="$ours_inner_ms"$'\n'
  all_knot_ms+="$knot_ms"$'\n' all_knot_kb+="$knot_kb"$'\n'
done

if ((!ours_ok)); then
  measure_knot
  printf '\n%-10s %14s %16s\n' "" "wall ms" "peak RSS MB"
  printf '%-10s %14s %16s\n' "EdgeDNS" "failed" "failed"
  printf '%-10s %14s %16s\n' "knotd" "$knot_ms" "$((knot_kb / 1024))"
  exit 1
fi
ours_ms=$(printf '%s' "$all_ours_ms" | median)
ours_kb=$(printf '%s' "$all_ours_kb" | median)
ours_inner_ms=$(printf '%s' "$all_inner" | median)
knot_ms=$(printf '%s' "$all_knot_ms" | median)
knot_kb=$(printf '%s' "$all_knot_kb" | median)
rt=$(ratio "$ours_ms" "$knot_ms")
rm_=$(ratio "$ours_kb" "$knot_kb")
printf '\n%-10s %14s %16s   (medians of %d rounds)\n' "" "wall ms" "peak RSS MB" "$rounds"
printf '%-10s %14s %16s\n' "EdgeDNS" "$ours_ms" "$((ours_kb / 1024))"
printf '%-10s %14s %16s\n' "knotd" "$knot_ms" "$((knot_kb / 1024))"
printf '%-10s %14s %16s\n' "ratio" "$rt" "$rm_"
note ""
note "EdgeDNS load+compile inside the process (median): ${ours_inner_ms} ms (the rest is exec and exit)"
# Where EdgeDNS's time goes, from a second run stage by stage (not part of the figures above).
stages=$(bounded "$limit" "$zone_load" --stages "$zone" 2>&1 >/dev/null | sed -n 's/^zone_load: stages [^ ]* //p' | sed 's/ version=.*//')
[ -n "$stages" ] && note "EdgeDNS stages (separate run): $stages"
note "load average before the runs: $load_before (the machine has $(nproc) CPUs; other work skews both sides)"
note "time target  <= 0.25x knotd: $(verdict "$rt" 0.25)"
note "RSS target   <= 0.33x knotd: $(verdict "$rm_" 0.33)"
