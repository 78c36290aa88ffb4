#!/usr/bin/env bash
# Response Rate Limiting against a running edgedns: a dnsperf flood
# from one /24 (a few thousand qps for a few seconds) must be held to the
# configured rate (full answers received ~ rate x seconds, the rest dropped
# or slipped as TC=1 replies with no records), while a client in another
# /24, asking a few times per second at the same time, gets every answer in
# full. Then a flood without --rrl-rate is answered completely (off by default).
#
# Usage: tests/integration/hostile_rrl.sh
#   EDGEDNS=path/to/edgedns; RRL_RATE (default 200), FLOOD_QPS (3000), FLOOD_S (5)
# Needs root. The test host comes from tests/integration/lib/harness.sh.
# Prints the measured figures (flood: answered/s, slipped/s; second prefix:
# answered). On a loaded machine it waits for conditions (the flood under
# way, every reply in), never for a fixed time only.
set -euo pipefail
. "$(dirname "$0")/lib/harness.sh"
harness_init hr 52 --ipv4-only

RATE=${RRL_RATE:-200}
QPS=${FLOOD_QPS:-3000}
SECS=${FLOOD_S:-5}
FLOOD4=$CLI4          # the flooding /24
SAME4=198.18.52.3     # another client in the flooding /24
OTHER4=198.18.62.2    # another /24 on the client side
GRACE=5               # seconds the probes wait for replies after their last query

cat >"$TMP/example.zone" <<'EOF'
$ORIGIN example.test.
$TTL 3600
@       IN SOA ns1 hostmaster 2024010101 7200 3600 1209600 300
@       IN NS  ns1
ns1     IN A   198.18.52.53
www     IN A   192.0.2.1
EOF
printf 'www.example.test A\n' >"$TMP/q.txt"

testhost_up  # $FLOOD4
ip netns exec "$CLI" ip addr add "$SAME4/24" dev "$VC"
ip netns exec "$CLI" ip addr add "$OTHER4/24" dev "$VC"

# serve NAME [OPTIONS]: edgedns with the zone on one worker lcore; exits on failure.
serve() {
  local name=$1
  shift
  start_edgedns "$name" "-l 1" "$(vdev af_packet)" --listen "$SRV4" --zone "$TMP/example.zone" "$@" ||
    harness_summary hostile_rrl
}

lcore_line() { lcore_counters | tail -1; }  # one worker lcore
field() { sed -n "s/.*\b$2=\([0-9]*\).*/\1/p" <<<"$1"; }
# limited_above N: rrl_limited is past N (the flooding /24's bucket is empty).
limited_above() { (($(counter "$(lcore_line)" rrl_limited) > $1)); }

# flood LIMITED-BEFORE: dnsperf from FLOOD4 at QPS for SECS, and once it is
# under way (rrl_limited moves: 30 s at most) probes at the same time from
# OTHER4 (4/s) and from SAME4 in the flooding /24 (20/s), each for SECS.
flood() {
  local probes=$((SECS * 4))
  ip netns exec "$CLI" timeout $((SECS + 60)) dnsperf -s "$SRV4" -a "$FLOOD4" -d "$TMP/q.txt" \
    -Q "$QPS" -l "$SECS" -c 8 -t "$GRACE" -q 20000 >"$TMP/dnsperf.out" 2>&1 &
  local dp=$!
  wait_until 30 "the flood under way (rrl_limited > $1)" limited_above "$1" || true
  ip netns exec "$CLI" timeout $((SECS + GRACE + 60)) "$PY" "$ROOT/tests/integration/lib/hostile_rrl.py" \
    "$OTHER4" "$SRV4" www.example.test 192.0.2.1 "$probes" 0.25 "$GRACE" >"$TMP/other.out" 2>&1 &
  local po=$!
  ip netns exec "$CLI" timeout $((SECS + GRACE + 60)) "$PY" "$ROOT/tests/integration/lib/hostile_rrl.py" \
    "$SAME4" "$SRV4" www.example.test 192.0.2.1 "$((SECS * 20))" 0.05 "$GRACE" >"$TMP/same.out" 2>&1 &
  local ps=$!
  wait "$dp" || true
  wait "$po" || true
  wait "$ps" || true
}

# ---- RRL on
serve rrl --rrl-rate "$RATE" --rrl-slip 2
grep "rate limiting" "$LOG" | sed 's/^/    /'
# Warm ARP with one query from each address, then let the buckets refill.
ip netns exec "$CLI" dig +tries=3 +time=1 +short -b "$FLOOD4" @"$SRV4" www.example.test A >/dev/null || true
ip netns exec "$CLI" dig +tries=3 +time=1 +short -b "$OTHER4" @"$SRV4" www.example.test A >/dev/null || true
sleep 1.5
before=$(lcore_line)
flood "$(counter "$before" rrl_limited)"
after=$(lcore_line)
dp_out=$(cat "$TMP/dnsperf.out")
grep -E "Queries (sent|completed|lost)|Response codes" <<<"$dp_out" | indent || true
sent=$(dnsperf_stat "$dp_out" sent)
completed=$(dnsperf_stat "$dp_out" completed)
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
out=$(ip netns exec "$CLI" timeout 30 dig +tries=5 +time=2 +short -b "$SAME4" @"$SRV4" www.example.test A 2>&1 || true)
[ "$out" = 192.0.2.1 ] && pass "dig from the flooding /24 after the flood: answered" ||
  fail "dig from the flooding /24 after the flood: '$out'"
stop_edgedns

# ---- RRL off (the default): the same flood is answered in full.
serve norrl
ip netns exec "$CLI" dig +tries=3 +time=1 +short -b "$FLOOD4" @"$SRV4" www.example.test A >/dev/null || true
before=$(lcore_line)
out=$(ip netns exec "$CLI" timeout 60 dnsperf -s "$SRV4" -a "$FLOOD4" -d "$TMP/q.txt" -Q "$QPS" -l 3 -c 8 -t 5 2>&1 || true)
after=$(lcore_line)
lost=$(dnsperf_stat "$out" lost)
completed=$(dnsperf_stat "$out" completed)
[ "${lost:-x}" = 0 ] && [ "${completed:-0}" -ge $((QPS * 3 * 8 / 10)) ] &&
  [ "$(counter "$after" rrl_limited)" = 0 ] &&
  pass "RRL off by default: $completed of the flood's queries answered, 0 lost, rrl_limited=0" ||
  fail "RRL off: completed=${completed:-?} lost=${lost:-?} rrl_limited=$(counter "$after" rrl_limited)"

[ "$FAILS" = 0 ] || edgedns_log_tail "$LOG" 20
harness_summary hostile_rrl
