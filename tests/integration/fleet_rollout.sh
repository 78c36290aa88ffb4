#!/usr/bin/env bash
# edgectl against real edgedns nodes, on one fleet of
# three nodes (tests/integration/lib/fleet_common.sh): edgectl serve in the
# client namespace, nodes on version 1 of fleet.test. (adopted).
#   1. good push: every stage passes; every node and every lcore serves it
#      (dig-style queries from 32 source ports per node, and the agents' status);
#   2. six invalid zones exit 2 and no node receives anything (the set of
#      versions each agent holds is unchanged);
#   3. harmful (a): a changed address that a probe expects;
#   4. harmful (b): 5% of the names a background load asks for removed (below
#      the blast-radius limit; only the live NXDOMAIN rate shows it);
#      both stopped at stage 1 or 2 and rolled back: exit 3, all nodes polled
#      during the rollout (at most one ever answered with the new version),
#      all back on the previous version.
# Every zone carries its serial in ver.fleet.test. TXT, so one answer names
# the version that gave it. One PASS/FAIL line per case.
# Usage: tests/integration/fleet_rollout.sh. Needs root; bounded.
set -euo pipefail
. "$(dirname "$0")/lib/fleet_common.sh"

fleet_up || exit 1
write_policy "$TMP/policy.yaml" </dev/null

# push FILE... with the test policy and a 2 s bake, JSON lines on stdout;
# the exit code is edgectl's.
push() { CLI_TIMEOUT=400 edgectl push --socket "$CTL_SOCK" --bake 2 --wait --json "$@"; }
# The result line's rollout object, as EXPR over it (r).
result() { grep '"result"' "$1" | tail -1 | jget "$2"; }

# every_node_on SERIAL VERSION LABEL: dig from 32 ports per node and the
# agents' status agree that every lcore of every node serves VERSION.
every_node_on() {
  local serial=$1 v=$2 what=$3 n want
  for n in "${NODES[@]}"; do
    expect_eq "$what: node $n answers serial $serial from every flow" "$(node_serials "$n")" "$serial"
    want="$v $v"
    [ "$n" = 1 ] && want="$v $v $v"
    expect_eq "$what: node $n committed and every lcore serves ${v:0:12}" "$(node_served "$n")" "$want"
  done
}

# ---------------------------------------------------------------- case 1
case_begin "good push: every stage passes, every node and lcore serves it"
zone 2 >"$TMP/v2.zone"
set +e
push --policy "$TMP/policy.yaml" "$TMP/v2.zone" >"$TMP/push2.out" 2>"$TMP/push2.err"
rc=$?
set -e
expect_eq "push exits 0" "$rc" "0"
V1=$(edgectl status --socket "$CTL_SOCK" --json | jget 'r["nodes"][0]["committed"]')
V2=$(result "$TMP/push2.out" 'r["rollout"]["version"]' 2>/dev/null || echo "")
nst=$(result "$TMP/push2.out" 'len(r["rollout"]["stages"])' 2>/dev/null || echo 0)
passed=$(grep -c '"ev":"stage_passed"' "$TMP/push2.out" || true)
expect_eq "four stages (one lcore of node 1, node 1, wave 2, all)" "$nst" "4"
expect_eq "every stage passed" "$passed" "$nst"
grep -q '"lcores":\[1\]' "$TMP/push2.out" && pass "stage 1 published to lcore 1 of edge-1 only" ||
  fail "no lcore-scoped publish in the events"
every_node_on 2 "$V2" "v2"
for n in "${NODES[@]}"; do
  expect_eq "dig @edge-$n ver.fleet.test TXT" \
    "$(in_cli dig +short +tries=2 +time=2 @"$(node_addr "$n")" ver.fleet.test TXT)" '"serial=2"'
  expect_eq "kdig @edge-$n www.fleet.test A" \
    "$(in_cli kdig +short +retry=1 +time=2 @"$(node_addr "$n")" www.fleet.test A)" "192.0.2.80"
done
expect_eq "control plane: v2 committed" "$(edgectl status --socket "$CTL_SOCK" --json | jget 'r["committed"]')" "$V2"
# Every node held v1: each got only the records that differ.
for n in "${NODES[@]}"; do
  line=$(grep -h "node edge-$n: delta from .* to ${V2:0:12}" "$TMP"/serve.*.log | head -1)
  [ -n "$line" ] && pass "edge-$n got a delta: ${line#edgectl serve: }" ||
    fail "edge-$n: no delta in the serve log ($(grep -h "node edge-$n: full upload" "$TMP"/serve.*.log | head -1))"
done
if [ "$rc" != 0 ]; then cat "$TMP/push2.out" "$TMP/push2.err" | tail -40 | indent; fi
case_end
[ -n "$V2" ] || { fleet_summary fleet_rollout.sh; exit 1; }

# ---------------------------------------------------------------- case 2
case_begin "invalid zones exit 2 and reach no node"
declare -A held_before
for n in "${NODES[@]}"; do held_before[$n]=$(node_versions "$n"); done
invalid() {  # KIND FILE EXPECTED-RULE-REGEX
  local kind=$1 f=$2 rule=$3 rc
  set +e
  CLI_TIMEOUT=60 edgectl push --socket "$CTL_SOCK" --policy "$TMP/policy.yaml" --bake 2 --wait "$f" \
    >"$TMP/inv-$kind.out" 2>&1
  rc=$?
  set -e
  expect_eq "$kind: exit 2" "$rc" "2"
  if grep -qE "$rule" "$TMP/inv-$kind.out"; then
    pass "$kind: $(grep -m1 -E "$rule" "$TMP/inv-$kind.out")"
  else
    fail "$kind: no message matching /$rule/"; indent <"$TMP/inv-$kind.out"
  fi
}
zone 3 --bad syntax >"$TMP/bad-syntax.zone"
invalid syntax "$TMP/bad-syntax.zone" 'bad-syntax.zone:[0-9]+:.*error'
zone 3 --bad nosoa >"$TMP/bad-nosoa.zone"
invalid "missing SOA" "$TMP/bad-nosoa.zone" 'SOA'
zone 3 --bad cname >"$TMP/bad-cname.zone"
invalid "CNAME beside other data" "$TMP/bad-cname.zone" 'CNAME'
zone 2 --www 192.0.2.81 >"$TMP/bad-serial.zone"
invalid "serial not increased" "$TMP/bad-serial.zone" 'rejected: serial'
zone 3 --drop-frac 0.4 >"$TMP/bad-blast.zone"
invalid "40% of names removed" "$TMP/bad-blast.zone" 'rejected: blast-radius'
zone 3 --bad apexns >"$TMP/bad-apex.zone"
invalid "apex NS changed" "$TMP/bad-apex.zone" 'rejected: apex'
for n in "${NODES[@]}"; do
  expect_eq "node $n holds the same versions as before" "$(node_versions "$n")" "${held_before[$n]}"
  expect_eq "node $n still on v2" "$(node_serials "$n" 8)" "2"
done
expect_eq "no rollout was started" \
  "$(edgectl history --socket "$CTL_SOCK" --json | jget 'len(r["rollouts"])')" "1"
case_end

# harmful CASE ZONE POLICY [push options]: push with every node polled in the
# background; checks exit 3, the stage it stopped at, who saw serial 3, and
# that everything is back on v2.
harmful() {
  local what=$1 f=$2 pol=$3 rc seen_new
  shift 3
  rm -f "$TMP/poll.stop" "$TMP/poll.json"
  fdns poll --stop "$TMP/poll.stop" --out "$TMP/poll.json" \
    "$(node_addr 1)" "$(node_addr 2)" "$(node_addr 3)" &
  local poller=$!
  BG_PIDS+=("$poller")
  sleep 0.5
  set +e
  push --policy "$pol" "$@" "$f" >"$TMP/push-$what.out" 2>"$TMP/push-$what.err"
  rc=$?
  set -e
  sleep 1  # the poller sees the rolled-back state too
  touch "$TMP/poll.stop"
  wait "$poller" || true
  expect_eq "$what: exit 3 (rolled back)" "$rc" "3"
  local stage reason
  stage=$(result "$TMP/push-$what.out" 'r["rollout"]["stage"]' 2>/dev/null || echo "?")
  reason=$(result "$TMP/push-$what.out" 'r["rollout"]["reason"]' 2>/dev/null || echo "?")
  if [ "$stage" = 0 ] || [ "$stage" = 1 ]; then
    pass "$what: stopped at stage $((stage + 1)): $reason"
  else
    fail "$what: stopped at stage index '$stage': $reason"
  fi
  seen_new=$(jget '" ".join(sorted(s for s, c in r["seen"].items() if "3" in c))' <"$TMP/poll.json")
  local nseen
  nseen=$(wc -w <<<"$seen_new")
  if [ "$nseen" -le 1 ]; then
    pass "$what: at most one node ever answered with serial 3 (${seen_new:-none}; $(jget 'r["rounds"]' <"$TMP/poll.json") polling rounds)"
  else
    fail "$what: nodes that answered with serial 3: $seen_new"
  fi
  # Nodes answer throughout (a lost UDP datagram on a busy host is not a failure).
  local polls timeouts
  polls=$(jget 'sum(sum(c.values()) for c in r["seen"].values())' <"$TMP/poll.json")
  timeouts=$(jget 'sum(c.get("timeout", 0) for c in r["seen"].values())' <"$TMP/poll.json")
  if [ "$polls" -gt 0 ] && [ $((timeouts * 100)) -le "$polls" ]; then
    pass "$what: nodes answered $((polls - timeouts)) of $polls polls"
  else
    fail "$what: $timeouts of $polls polls unanswered"
  fi
  every_node_on 2 "$V2" "$what: after rollback"
  expect_eq "$what: control plane still on v2" \
    "$(edgectl status --socket "$CTL_SOCK" --json | jget 'r["committed"]')" "$V2"
  if [ "$rc" != 3 ]; then cat "$TMP/push-$what.out" "$TMP/push-$what.err" | tail -40 | indent; fi
}

# ---------------------------------------------------------------- case 3
case_begin "harmful (a): a probed address changed -> rolled back at stage 1 or 2"
zone 3 --www 192.0.2.66 >"$TMP/harm-a.zone"
echo "www.fleet.test. A NOERROR 192.0.2.80" >"$TMP/probes"
harmful a "$TMP/harm-a.zone" "$TMP/policy.yaml" --probes "$TMP/probes"
grep -q 'probe' <<<"$(result "$TMP/push-a.out" 'r["rollout"]["reason"]' 2>/dev/null)" &&
  pass "a: the probe gate stopped it" || fail "a: stopped by something other than the probe"
case_end

# ---------------------------------------------------------------- case 4
case_begin "harmful (b): 5% of the loaded names removed -> NXDOMAIN rate -> rolled back"
zone 3 --drop-frac 0.05 >"$TMP/harm-b.zone"
zone --names >"$TMP/names"
# Stages 1 and 2 must see 150 canary queries each; rates are compared from
# 100 queries per side on (about 5 NXDOMAIN expected on the canary by then).
write_policy "$TMP/policy-load.yaml" 150 100 </dev/null
rm -f "$TMP/load.stop"
fdns load --names "$TMP/names" --qps 300 --seconds 150 --stop "$TMP/load.stop" \
  "$(node_addr 1)" "$(node_addr 2)" "$(node_addr 3)" >"$TMP/load.json" &
loader=$!
BG_PIDS+=("$loader")
sleep 2
harmful b "$TMP/harm-b.zone" "$TMP/policy-load.yaml"
touch "$TMP/load.stop"
wait "$loader" || true
grep -qi 'nxdomain' <<<"$(result "$TMP/push-b.out" 'r["rollout"]["reason"]' 2>/dev/null)" &&
  pass "b: the NXDOMAIN rate gate stopped it" || fail "b: stopped by something other than the NXDOMAIN rate"
log "background load: $(cat "$TMP/load.json")"
case_end

fleet_summary fleet_rollout.sh
