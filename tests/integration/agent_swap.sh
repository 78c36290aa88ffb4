#!/usr/bin/env bash
# Swap under load: a fixed-rate dnsperf stream and a
# dnspython consistency checker query edgedns (af_packet, 1 worker lcore, in a
# netns pair) while the agent applies FULL full-version uploads+publishes and
# DELTAS deltas+publishes of a zone whose every answer carries its version
# marker. Checks: 0 queries lost (dnsperf), no response mixing versions (or
# unmarked), every publish returned with every lcore on the new version, RSS
# and held zone memory back near the steady-state baseline at the end.
# The leak check of the same path is the registry_test binary under ASan
# (meson setup -Db_sanitize=address; see docs/operations.md).
#
# Usage: tests/integration/agent_swap.sh [FULL [DELTAS]]   (default 1000 1000)
# Needs root. Bounded: every step has a timeout.
set -euo pipefail
. "$(dirname "$0")/lib/agent_common.sh"

FULL=${1:-1000}
DELTAS=${2:-1000}
RATE=2000          # qps: moderate, well under what one lcore answers
MAX_LOAD_S=120     # dnsperf -l: longer than the updates take; stopped by them

setup_veth 1
write_zone 1 "$TMP/v1.zone"
start_edgedns_agent swap "-l 1" 1 --zone "$TMP/v1.zone" || exit 1
expect_eq "initial version answers" "$(in_cli dig +short @$SRV4 www.swap.test A | tr '\n' ' ')" \
  "v1.swap.test. 198.18.0.1 "

printf 'www.swap.test A\nstatic.swap.test A\nnope.swap.test A\nwww.swap.test TXT\n' >"$TMP/queries.txt"
# dnsperf runs until it has sent for MAX_LOAD_S or is interrupted (SIGINT makes
# it stop sending, wait for outstanding answers and print its statistics).
ip netns exec "$CLI" timeout -s INT $((MAX_LOAD_S + 10)) dnsperf -s "$SRV4" -d "$TMP/queries.txt" \
  -Q "$RATE" -l "$MAX_LOAD_S" -c 4 -t 2 >"$TMP/dnsperf.out" 2>&1 &
DNSPERF=$!
ip netns exec "$CLI" timeout $((MAX_LOAD_S + 20)) "$PY" "$ROOT/tests/integration/lib/agent_swap_check.py" \
  "$SRV4" "$TMP/stop" "$MAX_LOAD_S" >"$TMP/check.out" 2>&1 &
CHECK=$!
sleep 1
log "applying $FULL full versions and $DELTAS deltas under $RATE qps"
if timeout $MAX_LOAD_S "$PY" "$ROOT/tests/integration/lib/agent_swap_updates.py" "$SOCK" 1 "$FULL" "$DELTAS" \
    >"$TMP/updates.out" 2>&1; then
  pass "updates applied: $(cat "$TMP/updates.out")"
else
  fail "updates: $(tail -5 "$TMP/updates.out")"
fi
sleep 1
touch "$TMP/stop"
kill -INT "$DNSPERF" 2>/dev/null || true
wait "$DNSPERF" || true
wait "$CHECK" || true

lost=$(dnsperf_stat "$(cat "$TMP/dnsperf.out")" lost)
completed=$(dnsperf_stat "$(cat "$TMP/dnsperf.out")" completed)
if [ "${lost:-x}" = 0 ] && [ "${completed:-0}" -gt 1000 ]; then
  pass "dnsperf during the swaps: $completed completed, 0 lost"
else
  fail "dnsperf: completed=${completed:-?} lost=${lost:-?}"
  tail -25 "$TMP/dnsperf.out" | indent
fi

line=$(grep '^check ' "$TMP/check.out" || true)
get() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" <<<"$2"; }
if [ -n "$line" ] && [ "$(get mixed "$line")" = 0 ] && [ "$(get timeouts "$line")" = 0 ] &&
   [ "$(get versions "$line")" -gt 10 ]; then
  pass "consistency: $line"
else
  fail "consistency: ${line:-no result}"
  sed -n 1,20p "$TMP/check.out" | indent
fi

u=$(grep '^updates ' "$TMP/updates.out" || true)
if [ -n "$u" ]; then
  rss_base=$(get rss_base "$u"); rss_end=$(get rss_end "$u")
  mem_base=$(get mem_base "$u"); mem_end=$(get mem_end "$u")
  # Back near the baseline: RSS within 16 MiB (allocator caches), held zone
  # memory within the 8-version bound it started at (+ one version in flight).
  if [ "$rss_end" -le $((rss_base + 16 * 1024 * 1024)) ]; then
    pass "RSS $rss_base -> $rss_end bytes"
  else
    fail "RSS grew: $rss_base -> $rss_end bytes"
  fi
  if [ "$mem_end" -le $((mem_base + mem_base / 8 + 4096)) ]; then
    pass "held zone memory $mem_base -> $mem_end bytes"
  else
    fail "held zone memory grew: $mem_base -> $mem_end bytes"
  fi
fi
last=$(get last "$u")
expect_eq "final version answers" "$(in_cli dig +short @$SRV4 www.swap.test A | first_line)" "v${last:-?}.swap.test."
ok_health=$(agent health | jget 'r["ok"] and r["lcores_alive"]')
expect_eq "health after the swaps" "$ok_health" "True"

[ "$FAILS" = 0 ] || edgedns_log_tail "$LOG" 20
harness_summary agent_swap
