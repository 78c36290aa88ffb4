#!/usr/bin/env bash
# Response Rate Limiting against a running edgedns (issue 6): a dnsperf flood
# from one /24 (a few thousand qps for a few seconds) must be held to the
# configured rate (full answers received ~ rate x seconds, the rest dropped
# or slipped as TC=1 replies with no records), while a client in another
# /24, asking a few times per second at the same time, gets every answer in
# full. Then a flood without --rrl-rate is answered completely (off by default).
#
# Usage: tests/integration/hostile_rrl.sh
#   EDGEDNS=path/to/edgedns; RRL_RATE (default 200), FLOOD_QPS (3000), FLOOD_S (5)
# Needs root. Traffic stays inside the namespaces it creates. Prints the
# measured figures (flood: answered/s, slipped/s; second prefix: answered).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/scripts/lib.sh"
EDGEDNS=${EDGEDNS:-$EDGEDNS_BUILD_DIR/dataplane/edgedns}
[ -x "$EDGEDNS" ] || { echo "FAIL: $EDGEDNS not built"; exit 1; }
[ "$(id -u)" = 0 ] || { echo "FAIL: needs root (network namespaces)"; exit 1; }

RATE=${RRL_RATE:-200}
QPS=${FLOOD_QPS:-3000}
SECS=${FLOOD_S:-5}
ID=$$
SRV=hr-srv-$ID
CLI=hr-cli-$ID
VS=hrs$ID
VC=hrc$ID
SRV4=10.53.2.53
FLOOD4=10.53.2.2    # the flooding /24
OTHER4=10.53.3.2    # another /24 on the client side
TMP=$(mktemp -d /tmp/hostile_rrl.XXXXXX)
LOG=
PID=
FAILS=0

pass() { echo "ok: $*"; }
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }

stop_edgedns() { stop_process "$PID"; PID=; }  # scripts/lib.sh
cleanup() {
  stop_edgedns
  ip netns del "$SRV" 2>/dev/null || true
  ip netns del "$CLI" 2>/dev/null || true
  rm -rf /var/run/dpdk/hr"$ID"-* "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cat >"$TMP/example.zone" <<'EOF'
$ORIGIN example.test.
$TTL 3600
@       IN SOA ns1 hostmaster 2024010101 7200 3600 1209600 300
@       IN NS  ns1
ns1     IN A   10.53.2.53
www     IN A   192.0.2.1
EOF
printf 'www.example.test A\n' >"$TMP/q.txt"

testhost_pair "$SRV" "$CLI" "$VS" "$VC"  # scripts/lib.sh
ip netns exec "$CLI" ip addr add "$FLOOD4/24" dev "$VC"
ip netns exec "$CLI" ip addr add "$OTHER4/24" dev "$VC"

start_edgedns() {
  local name=$1
  shift
  LOG=$TMP/$name.log
  ip netns exec "$SRV" "$EDGEDNS" -l 1 --no-huge -m 1024 --no-pci --file-prefix "hr$ID-$name" \
    --vdev="net_af_packet0,iface=$VS" -- \
    --listen "$SRV4" --zone "$TMP/example.zone" "$@" >"$LOG" 2>&1 &
  PID=$!
  edgedns_up "$LOG" "$PID" && return 0  # scripts/lib.sh
  sed 's/^/    | /' "$LOG"
  echo "FAIL: $name: edgedns did not start"
  exit 1
}

counters() { edgedns_counters "$LOG" "$PID" | grep "^counters lcore=" | tail -1; }  # scripts/lib.sh
counter() { local v; v=$(sed -n "s/.* $2=\([0-9]*\).*/\1/p" <<<"$1"); echo "${v:-0}"; }
field() { sed -n "s/.*\b$2=\([0-9]*\).*/\1/p" <<<"$1"; }

# flood NAME: dnsperf from FLOOD4 at QPS for SECS, and at the same time probes
# from OTHER4 (4/s) and from another address of the flooding /24 (4/s).
flood() {
  local probes=$((SECS * 4))
  ip netns exec "$CLI" timeout $((SECS + 30)) dnsperf -s "$SRV4" -a "$FLOOD4" -d "$TMP/q.txt" \
    -Q "$QPS" -l "$SECS" -c 8 -t 1 -q 20000 >"$TMP/dnsperf.out" 2>&1 &
  local dp=$!
  sleep 0.3  # dnsperf is under way
  ip netns exec "$CLI" timeout 60 "$PY" "$ROOT/tests/integration/lib/hostile_rrl.py" "$OTHER4" \
    "$SRV4" www.example.test 192.0.2.1 "$probes" 0.25 >"$TMP/other.out" 2>&1 &
  local po=$!
  ip netns exec "$CLI" ip addr add 10.53.2.3/24 dev "$VC" 2>/dev/null || true
  ip netns exec "$CLI" timeout 60 "$PY" "$ROOT/tests/integration/lib/hostile_rrl.py" 10.53.2.3 \
    "$SRV4" www.example.test 192.0.2.1 "$((SECS * 20))" 0.05 >"$TMP/same.out" 2>&1 &
  local ps=$!
  wait "$dp" || true
  wait "$po" || true
  wait "$ps" || true
}

# ---- RRL on
start_edgedns rrl --rrl-rate "$RATE" --rrl-slip 2
grep "rate limiting" "$LOG" | sed 's/^/    /'
# Warm ARP with one query from each address, then let the buckets refill.
ip netns exec "$CLI" dig +tries=3 +time=1 +short -b "$FLOOD4" @"$SRV4" www.example.test A >/dev/null || true
ip netns exec "$CLI" dig +tries=3 +time=1 +short -b "$OTHER4" @"$SRV4" www.example.test A >/dev/null || true
sleep 1.5
before=$(counters)
flood
after=$(counters)
sed 's/^/    | /' "$TMP/dnsperf.out" | grep -E "Queries (sent|completed|lost)|Response codes"
sent=$(sed -n 's/.*Queries sent: *\([0-9]*\).*/\1/p' "$TMP/dnsperf.out")
completed=$(sed -n 's/.*Queries completed: *\([0-9]*\).*/\1/p' "$TMP/dnsperf.out")
limited=$(($(counter "$after" rrl_limited) - $(counter "$before" rrl_limited)))
slipped=$(($(counter "$after" rrl_slipped) - $(counter "$before" rrl_slipped)))
other=$(cat "$TMP/other.out")
same=$(cat "$TMP/same.out")
echo "    flood: sent=${sent:-?} completed=${completed:-?} rrl_limited=+$limited rrl_slipped=+$slipped"
echo "    other /24: $other"
echo "    same /24 probe: $same"

# Full answers the flooding /24 got: what dnsperf completed minus the slips
# (the probes from the same /24 are in the counters too: subtract theirs).
same_full=$(field "$same" full)
same_tc=$(field "$same" truncated)
flood_slipped=$((slipped - ${same_tc:-0}))
flood_full=$((${completed:-0} - flood_slipped))
bucket_full=$((flood_full + ${same_full:-0}))
# The bucket allows RATE x SECS plus one second of burst; a flood this short
# ends within a second of the counters (allow 0.8 to 1.25 of the span).
lo=$((RATE * SECS * 8 / 10))
hi=$((RATE * (SECS + 1) * 125 / 100))
echo "    RRL figures: rate $RATE/s; flooding /24 got $bucket_full full answers in ${SECS} s" \
     "($((bucket_full / SECS))/s) out of ${sent:-?} queries ($((${sent:-0} / SECS))/s), $slipped slipped" \
     "($((slipped / SECS))/s); other /24: $(field "$other" full)/$(field "$other" probes) full answers"
[ "${sent:-0}" -ge $((QPS * SECS * 8 / 10)) ] && pass "flood sent ${sent} queries (~$QPS/s)" ||
  fail "flood sent only ${sent:-0} queries"
[ "$bucket_full" -ge "$lo" ] && [ "$bucket_full" -le "$hi" ] &&
  pass "flooding /24 held to the rate: $bucket_full full answers, want $lo..$hi" ||
  fail "flooding /24 got $bucket_full full answers, want $lo..$hi"
[ "$limited" -ge $((${sent:-0} - hi - 100)) ] && pass "rrl_limited +$limited" ||
  fail "rrl_limited +$limited, want >= $((${sent:-0} - hi - 100))"
# slip 2: every second limited response goes out truncated (per bucket, +-1).
[ $((slipped * 2)) -ge $((limited - 4)) ] && [ $((slipped * 2)) -le $((limited + 4)) ] &&
  pass "slip 2: $slipped of $limited limited responses sent truncated" ||
  fail "slip 2: $slipped of $limited limited responses sent truncated, want half"
[ "$(field "$other" full)" = "$(field "$other" probes)" ] && [ "$(field "$other" bad)" = 0 ] &&
  pass "other /24 unaffected: $(field "$other" full) of $(field "$other" probes) answered in full" ||
  fail "other /24 affected: $other"
[ "$(field "$same" bad)" = 0 ] && [ "${same_tc:-0}" -ge 1 ] &&
  pass "same /24 probe: slipped replies are TC=1 with no records ($same)" ||
  fail "same /24 probe: $same"
# A real client behind the flooding /24 still gets its answer: TC -> TCP.
out=$(ip netns exec "$CLI" timeout 20 dig +tries=5 +time=1 +short -b 10.53.2.3 @"$SRV4" www.example.test A 2>&1 || true)
[ "$out" = 192.0.2.1 ] && pass "dig from the flooding /24 after the flood: answered" ||
  fail "dig from the flooding /24 after the flood: '$out'"
stop_edgedns

# ---- RRL off (the default): the same flood is answered in full.
start_edgedns norrl
ip netns exec "$CLI" dig +tries=3 +time=1 +short -b "$FLOOD4" @"$SRV4" www.example.test A >/dev/null || true
before=$(counters)
out=$(ip netns exec "$CLI" timeout 40 dnsperf -s "$SRV4" -a "$FLOOD4" -d "$TMP/q.txt" -Q "$QPS" -l 3 -c 8 -t 2 2>&1 || true)
after=$(counters)
lost=$(sed -n 's/.*Queries lost: *\([0-9]*\).*/\1/p' <<<"$out")
completed=$(sed -n 's/.*Queries completed: *\([0-9]*\).*/\1/p' <<<"$out")
[ "${lost:-x}" = 0 ] && [ "${completed:-0}" -ge $((QPS * 3 * 8 / 10)) ] &&
  [ "$(counter "$after" rrl_limited)" = 0 ] &&
  pass "RRL off by default: $completed of the flood's queries answered, 0 lost, rrl_limited=0" ||
  fail "RRL off: completed=${completed:-?} lost=${lost:-?} rrl_limited=$(counter "$after" rrl_limited)"

if [ "$FAILS" = 0 ]; then
  echo "hostile_rrl: all checks passed"
  exit 0
fi
echo "hostile_rrl: $FAILS check(s) failed"
grep -v "^counters" "$LOG" | tail -20 | sed 's/^/    | /'
exit 1
