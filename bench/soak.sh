#!/usr/bin/env bash
# Soak (opt-in, not part of tests/run_all.sh): edgedns under steady
# dnsperf load for SOAK_SECONDS (default 1800 = 30 min) while zone updates
# arrive continuously through the control socket (a delta + publish a few
# times per second, a commit every 5th, a full upload every 20th). Reports
# RSS at the start (after a warm-up) and at the end, samples in between, and
# requires zero errors: no query lost, no rcode other than NOERROR/NXDOMAIN,
# no refused update, edgedns alive and healthy at the end.
#
# Usage: bench/soak.sh            (root; two network namespaces, ~1 CPU busy)
#   SOAK_SECONDS=180 bench/soak.sh    a 3-minute run
#   SOAK_QPS (default 2000), SOAK_UPDATE_INTERVAL (s between updates, 0.2)
#   EDGEDNS_BUILD / EDGEDNS as for the tests.
# Exit 0 when the run had zero errors.
set -euo pipefail

. "$(dirname "$0")/../tests/integration/lib/agent_common.sh"

SECS=${SOAK_SECONDS:-1800}
QPS=${SOAK_QPS:-2000}
EVERY=${SOAK_UPDATE_INTERVAL:-0.2}
WARMUP=10
[ "$SECS" -ge 30 ] || { echo "SOAK_SECONDS must be at least 30"; exit 2; }

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$PID/status"; }

setup_veth 1
write_zone 1 "$TMP/zone"
start_edgedns_agent soak "-l 1" 1 --zone "swap.test.=$TMP/zone" --state-dir "$TMP/state" || exit 1
{
  for i in $(seq 50); do
    echo "static.swap.test A"
    echo "www.swap.test A"
    echo "v$i.swap.test TXT"
    echo "nope$i.swap.test A"
  done
} >"$TMP/queries.txt"

log "soak: ${SECS} s at ${QPS} qps, an update every ${EVERY} s (edgedns pid $PID)"
in_cli dig +tries=3 +time=1 +short @"$SRV4" static.swap.test A >/dev/null || true
ip netns exec "$CLI" timeout $((SECS + WARMUP + 60)) dnsperf -s "$SRV4" -d "$TMP/queries.txt" \
  -Q "$QPS" -l $((SECS + WARMUP)) -c 8 -t 5 -S 60 >"$TMP/dnsperf.out" 2>&1 &
DP=$!
sleep "$WARMUP"
RSS0=$(rss_kb)
log "soak: RSS at start (after ${WARMUP} s of load) ${RSS0} kB"

# The update stream, for SECS seconds (the load runs WARMUP s longer on both ends).
timeout $((SECS + 120)) "$PY" - "$SOCK" "$SECS" "$EVERY" "$ROOT" >"$TMP/updates.out" 2>&1 <<'EOF' &
import sys, time
sys.path.insert(0, sys.argv[4] + "/tests/integration/lib")
import agent_client as ac
sock, secs, every = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
a = ac.Agent(sock)
lcores = a.ok("hello")["lcores"]
cur = a.ok("status")["committed"]
n, errors, deltas, uploads, commits = 1, 0, 0, 0, 0
end = time.time() + secs
while time.time() < end:
    try:
        if (deltas + uploads) % 20 == 19:
            r = a.ok("upload", zones=[{"file": "swap.zone", "text": ac.zone_text(n + 1)}])
            uploads += 1
        else:
            r = a.ok("delta", base=cur, changes=ac.delta_changes(n, n + 1))
            deltas += 1
        n += 1
        v = r["version"]
        p = a.ok("publish", version=v)
        if any(p["served"][str(l)] != v for l in lcores):
            raise RuntimeError("publish returned before every lcore served %s" % v)
        cur = v
        if (deltas + uploads) % 5 == 0:
            a.ok("commit", version=v)
            commits += 1
    except Exception as e:  # counted, reported, and the stream goes on from the served version
        errors += 1
        print("update error: %s" % e, flush=True)
        try:
            cur = a.ok("status")["lcores"][0]["version"]
        except Exception:
            a = ac.Agent(sock)
    time.sleep(every)
st = a.ok("status")
print("updates deltas=%d uploads=%d commits=%d errors=%d last_serial=%d versions_held=%d memory_bytes=%d"
      % (deltas, uploads, commits, errors, n, len(st["versions"]), st["memory_bytes"]), flush=True)
EOF
UP=$!

# RSS samples while it runs.
t=0
while kill -0 "$UP" 2>/dev/null; do
  sleep 5
  t=$((t + 5))
  if [ $((t % 60)) = 0 ]; then
    kill -0 "$PID" 2>/dev/null || break
    log "soak: t=${t}s RSS $(rss_kb) kB, update errors so far: $(grep -c "^update error" "$TMP/updates.out" || true)"
  fi
done
wait "$UP" && up_rc=0 || up_rc=$?
RSS1=$(rss_kb 2>/dev/null || echo 0)
wait "$DP" || true
alive=yes
kill -0 "$PID" 2>/dev/null || alive=no
health=$(agent health | jget 'r["ok"] and r["healthy"]' 2>/dev/null || echo False)

section "results"
sed 's/^/    /' "$TMP/updates.out"
grep -E "Queries (sent|completed|lost)|Response codes|Queries per second" "$TMP/dnsperf.out" | sed 's/^/    /'
sent=$(sed -n 's/.*Queries sent: *\([0-9]*\).*/\1/p' "$TMP/dnsperf.out")
lost=$(sed -n 's/.*Queries lost: *\([0-9]*\).*/\1/p' "$TMP/dnsperf.out")
codes=$(grep "Response codes" "$TMP/dnsperf.out" || true)
other_codes=$(sed 's/Response codes://; s/([^)]*)//g; s/,/\n/g' <<<"$codes" | awk '$1 != "NOERROR" && $1 != "NXDOMAIN" && NF {print}')
upd=$(grep "^updates " "$TMP/updates.out" || true)
uerr=$(sed -n 's/.* errors=\([0-9]*\).*/\1/p' <<<"$upd")
echo "    RSS start ${RSS0} kB, end ${RSS1} kB (delta $((RSS1 - RSS0)) kB) over ${SECS} s"

errs=0
[ "${sent:-0}" -ge $((QPS * SECS * 9 / 10)) ] && pass "load: ${sent} queries sent" || { fail "load: only ${sent:-0} queries sent"; errs=$((errs + 1)); }
[ "${lost:-x}" = 0 ] && pass "no query lost" || { fail "queries lost: ${lost:-?}"; errs=$((errs + 1)); }
[ -z "$other_codes" ] && pass "only NOERROR/NXDOMAIN answers" || { fail "other rcodes: $other_codes"; errs=$((errs + 1)); }
[ "$up_rc" = 0 ] && [ "${uerr:-x}" = 0 ] && pass "updates: $upd" || { fail "updates: rc=$up_rc ${upd:-no summary}"; errs=$((errs + 1)); }
[ "$alive" = yes ] && [ "$health" = True ] && pass "edgedns alive and healthy" || { fail "edgedns alive=$alive healthy=$health"; errs=$((errs + 1)); }
if [ "$errs" = 0 ]; then
  log "soak: zero errors; RSS ${RSS0} -> ${RSS1} kB"
  exit 0
fi
log "soak: $errs error(s)"
tail -20 "$LOG" | indent
exit 1
