#!/usr/bin/env bash
# Failures during a rollout, against real edgedns nodes,
# on one fleet of three nodes (tests/integration/lib/fleet_common.sh):
#   1. a node killed (kill -9) mid-rollout, default policy (on_node_down:
#      rollback): the rollout stops and rolls back, naming the dead node as
#      pending (exit 4); the node, started
#      again with the same --state-dir and no --zone, serves the committed
#      version (its last-known-good) although it served the new one when it died;
#   2. the same with on_node_down: wait, the canary node killed while one of
#      its lcores serves the new version: the rollout waits (its bake clock
#      stops); the node comes back on its last-known-good, gets the new
#      version again, and the rollout completes (exit 0);
#   3. edgectl serve killed (kill -9) mid-rollout: every node keeps answering
#      during the outage; after a restart the journal resumes the rollout,
#      which commits everywhere, and no node holds, serves or has committed a
#      version the control plane does not know;
#   4. the same with on_restart: rollback: the restarted daemon rolls the
#      interrupted rollout back (exit 3) and every node is on the committed
#      version again;
#   5. a network partition of the canary node mid-stage (every packet to and
#      from it dropped), on_node_down: rollback: the rollout rolls back with
#      the node pending (exit 4); once the partition heals, the control plane
#      brings the node back to the committed version and nothing is pending;
#   6. the same partition under on_node_down: wait: the rollout waits while
#      the node is cut off, then commits everywhere once it heals (exit 0);
#   7. a node back with an empty disk (no --zone, no last-known-good) starts
#      empty, answering REFUSED, and edgectl serve brings it to the committed
#      version with a full upload.
# One PASS/FAIL line per case. Robust on a loaded machine: the stage a case
# acts in has a long bake (HOLD; the others 2 s), so the rollout is still there
# when a slow poll sees it, and every wait is for a condition, with a
# generous bound.
# Usage: tests/integration/fleet_failures.sh. Needs root; bounded.
set -euo pipefail
. "$(dirname "$0")/lib/fleet_common.sh"

HOLD=60  # s: the bake of the stage a case acts in: long enough for slow polls on a loaded 2-CPU machine
fleet_up || exit 1
write_policy "$TMP/policy.yaml" </dev/null
write_policy "$TMP/policy-hold1.yaml" 0 50 "2 $HOLD 2 2" </dev/null
write_policy "$TMP/policy-wait.yaml" 0 50 "$HOLD 2 2 2" <<EOF
  on_node_down: wait
EOF
write_policy "$TMP/policy-restart-rollback.yaml" 0 50 "2 2 $HOLD 2" <<EOF
on_restart: rollback
EOF

ctl_status() { edgectl status --socket "$CTL_SOCK" --json; }
result() { grep '"result"' "$1" | tail -1 | jget "$2"; }

# start_push OUT FILE [options]: push --wait in the background (PUSH_PID),
# with the bakes of the policy given.
start_push() {
  local out=$1
  shift
  CLI_TIMEOUT=400 edgectl push --socket "$CTL_SOCK" --wait --json "$@" >"$out" 2>"$out.err" &
  PUSH_PID=$!
  BG_PIDS+=("$PUSH_PID")
}
# Node N serves VERSION on every lcore (agent status).
node_all_on() {
  node_status "$1" | jget 'all(l["version"] == "'"$2"'" for l in r["lcores"])' | has_line -x True
}
node_lcore_on() {  # N LCORE VERSION
  node_status "$1" | jget '[l["version"] for l in r["lcores"] if l["id"] == '"$2"'] == ["'"$3"'"]' | has_line -x True
}
rollout_stage_is() {  # INDEX
  ctl_status | jget '(r["rollout"] or {}).get("stage", -1)' | has_line -x "$1"
}
# The rollout says it waits for node NAME.
rollout_waits_for() {
  ctl_status | jget 'any("waiting for '"$1"'" in v for v in (r["rollout"] or {}).get("verdicts", []))' | has_line -x True
}
bake_left() { ctl_status | jget '(r["rollout"] or {}).get("bake_left_s", -1)'; }
# push_to_stage OUT ZONE POLICY STAGE WHAT NODE: ZONE pushed in the
# background; waits until the rollout is in stage index STAGE (WHAT) and
# edge-NODE serves the new version (NEW) on every lcore.
push_to_stage() {
  local out=$1 z=$2 pol=$3 stage=$4 what=$5 node=$6
  start_push "$out" --policy "$pol" "$z"
  wait_until 180 "$what" rollout_stage_is "$stage" || true
  NEW=$(ctl_status | jget '(r["rollout"] or {}).get("version", "")')
  wait_until 120 "edge-$node serving the new version on every lcore" node_all_on "$node" "$NEW" || true
}
# held_at STAGE OUT: a failed check unless the rollout (push output OUT) was
# still in stage index STAGE when the case acted (else the machine was slower
# than HOLD and the case tests nothing).
held_at() {
  if grep -q "\"ev\":\"stage_passed\".*\"stage\":$1," "$2"; then
    fail "stage $(($1 + 1)) had passed before the case acted (slower than HOLD=$HOLD s)"
  fi
}
# kill_serve: edgectl serve killed (-9) mid-rollout; its push client ends with it.
kill_serve() {
  log "kill -9 edgectl serve (pid $SERVE_PID)"
  stop_serve KILL
  wait "$PUSH_PID" || true
}
# restart_and_watch OUT: edgectl serve started again, then `rollout watch`
# until the rollout ends; RC is its exit code.
restart_and_watch() {
  start_serve || true
  RC=0
  CLI_TIMEOUT=400 edgectl rollout watch --socket "$CTL_SOCK" --json >"$1" 2>&1 || RC=$?
}

# A good push first, so that v2 is the committed version everywhere.
zone 2 >"$TMP/v2.zone"
CLI_TIMEOUT=400 edgectl push --socket "$CTL_SOCK" --policy "$TMP/policy.yaml" --bake 1 --wait \
  "$TMP/v2.zone" >"$TMP/push2.out" 2>&1 || { fail "the first push (v2) did not commit"; cat "$TMP/push2.out"; }
V2=$(ctl_status | jget 'r["committed"]')

# ---------------------------------------------------------------- case 1
case_begin "node killed mid-rollout: rolled back; restarted, it serves its LKG"
zone 3 --www 192.0.2.83 >"$TMP/v3.zone"
push_to_stage "$TMP/push3.out" "$TMP/v3.zone" "$TMP/policy-hold1.yaml" 1 "stage 2 (edge-1 whole)" 1
expect_eq "edge-1 answers v3 before the kill" "$(node_serials 1 16)" "3"
log "kill -9 edge-1 (pid ${NODE_PID[1]})"
stop_node 1 KILL
held_at 1 "$TMP/push3.out"
set +e
wait "$PUSH_PID"
rc=$?
set -e
# Rolled back, but edge-1 could not be reached: not "everywhere" (exit 4),
# and the result names it as pending.
expect_eq "push exits 4 (rolled back, a node pending)" "$rc" "4"
reason=$(result "$TMP/push3.out" 'r["rollout"]["reason"]' 2>/dev/null || echo "?")
grep -q 'edge-1' <<<"$reason" && pass "reason names the node: $reason" || fail "reason: $reason"
pending=$(result "$TMP/push3.out" '[p["node"] for p in r["pending"]]' 2>/dev/null || echo "?")
expect_eq "the result names edge-1 as pending" "$pending" "['edge-1']"
for n in 2 3; do expect_eq "edge-$n on v2" "$(node_serials "$n" 8)" "2"; done
start_node 1 || true   # same --state-dir, no --zone
expect_eq "restarted edge-1 answers v2 (its LKG) from every flow" "$(node_serials 1)" "2"
expect_eq "restarted edge-1: committed and served v2" "$(node_served 1)" "$V2 $V2 $V2"
grep -q "last-known-good: serving" "$TMP/n1/edgedns.${NODE_STARTS[1]}.log" &&
  pass "edge-1 log: $(grep "last-known-good: serving" "$TMP/n1/edgedns.${NODE_STARTS[1]}.log")" ||
  fail "edge-1 did not start from its LKG"
expect_eq "control plane still on v2" "$(ctl_status | jget 'r["committed"]')" "$V2"
wait_until 60 "status: nothing pending once edge-1 is back" eval 'ctl_status | jget "r[\"pending\"] == []" | has_line -x True' || true
[ "$rc" = 4 ] || cat "$TMP/push3.out" "$TMP/push3.out.err" | tail -30 | indent
case_end

# ---------------------------------------------------------------- case 2
case_begin "canary node killed mid-rollout, on_node_down: wait: the rollout waits, then commits"
zone 3 --www 192.0.2.84 >"$TMP/v3w.zone"
start_push "$TMP/push3w.out" --policy "$TMP/policy-wait.yaml" "$TMP/v3w.zone"
wait_until 180 "stage 1 (one lcore of edge-1)" rollout_stage_is 0 || true
V3W=$(ctl_status | jget '(r["rollout"] or {}).get("version", "")')
wait_until 120 "edge-1 lcore 1 serving the new version" node_lcore_on 1 1 "$V3W" || true
log "kill -9 edge-1 (pid ${NODE_PID[1]}) while its lcore 1 is the canary"
stop_node 1 KILL
held_at 0 "$TMP/push3w.out"
wait_until 120 "the rollout to say it waits for edge-1" rollout_waits_for edge-1 || true
left=$(bake_left)
sleep 3  # time passes while edge-1 is down; the bake clock must not
if kill -0 "$PUSH_PID" 2>/dev/null; then pass "the rollout waits while edge-1 is down"; else fail "the rollout ended while edge-1 was down"; fi
expect_eq "it stays in stage 1" "$(ctl_status | jget '(r["rollout"] or {}).get("stage", -1)')" "0"
if [ "$(bake_left)" = "$left" ] && awk -v l="$left" 'BEGIN { exit !(l > 0) }'; then
  pass "the bake clock stops while edge-1 is down ($left s left, 3 s later too)"
else
  fail "the bake clock moved while edge-1 was down: $left s left, 3 s later $(bake_left) s"
fi
expect_eq "edge-2 still on v2" "$(node_serials 2 8)" "2"
expect_eq "edge-3 still on v2" "$(node_serials 3 8)" "2"
start_node 1 || true  # back on its LKG (v2); the rollout publishes the canary lcore again
set +e
wait "$PUSH_PID"
rc=$?
set -e
expect_eq "push exits 0 once edge-1 is back" "$rc" "0"
grep -q "last-known-good: serving" "$TMP/n1/edgedns.${NODE_STARTS[1]}.log" &&
  pass "edge-1 came back on its LKG" || fail "edge-1 did not start from its LKG"
republished=$(grep '"ev":"publish"' "$TMP/push3w.out" | grep '"node":"edge-1"' | grep -c '"lcores":\[1\]' || true)
expect_eq "the canary lcore was published again after the restart" "$((republished >= 2))" "1"
for n in "${NODES[@]}"; do expect_eq "edge-$n answers serial 3" "$(node_serials "$n")" "3"; done
expect_eq "control plane committed it" "$(ctl_status | jget 'r["committed"]')" "$V3W"
[ "$rc" = 0 ] || cat "$TMP/push3w.out" "$TMP/push3w.out.err" | tail -30 | indent
case_end

# ---------------------------------------------------------------- case 3
case_begin "edgectl serve killed mid-rollout: nodes answer; restart resumes the rollout"
zone 4 >"$TMP/v4.zone"
push_to_stage "$TMP/push4.out" "$TMP/v4.zone" "$TMP/policy-hold1.yaml" 1 "stage 2 (edge-1 whole)" 1
V4=$NEW
kill_serve
held_at 1 "$TMP/push4.out"
# During the outage: every node answers, with the version it had.
sleep 1
expect_eq "outage: edge-1 answers (v4)" "$(node_serials 1 16)" "4"
expect_eq "outage: edge-2 answers (v3)" "$(node_serials 2 8)" "3"
expect_eq "outage: edge-3 answers (v3)" "$(node_serials 3 8)" "3"
restart_and_watch "$TMP/watch4.out"
rc=$RC
expect_eq "after restart: rollout watch exits 0 (resumed and committed)" "$rc" "0"
grep -q "resuming rollout" "$TMP/serve.$SERVE_STARTS.log" &&
  pass "serve log: $(grep -m1 "resuming rollout" "$TMP/serve.$SERVE_STARTS.log")" || fail "no resume in the serve log"
for n in "${NODES[@]}"; do expect_eq "edge-$n answers serial 4" "$(node_serials "$n")" "4"; done
expect_eq "control plane committed v4" "$(ctl_status | jget 'r["committed"]')" "$V4"
# Every version a node holds, serves or has committed is in the control
# plane's store.
unknown=""
for n in "${NODES[@]}"; do
  for v in $(node_status "$n" | jget '" ".join(sorted({v["version"] for v in r["versions"]} | {r["committed"]} | {l["version"] for l in r["lcores"]}))'); do
    [ -d "$CTL_STATE/versions/$v" ] || unknown="$unknown edge-$n:$v"
  done
done
expect_eq "no node holds a version the control plane does not know" "${unknown:-none}" "none"
[ "$rc" = 0 ] || tail -30 "$TMP/watch4.out" | indent
case_end

# ---------------------------------------------------------------- case 4
case_begin "edgectl serve killed mid-rollout, on_restart: rollback: restart rolls it back"
zone 5 >"$TMP/v5.zone"
push_to_stage "$TMP/push5.out" "$TMP/v5.zone" "$TMP/policy-restart-rollback.yaml" 2 "stage 3 (wave 2: edge-2)" 2
kill_serve
held_at 2 "$TMP/push5.out"
expect_eq "outage: edge-1 answers (v5)" "$(node_serials 1 16)" "5"
expect_eq "outage: edge-2 answers (v5)" "$(node_serials 2 8)" "5"
expect_eq "outage: edge-3 answers (v4)" "$(node_serials 3 8)" "4"
restart_and_watch "$TMP/watch5.out"
rc=$RC
expect_eq "after restart: rollout watch exits 3 (rolled back)" "$rc" "3"
reason=$(result "$TMP/watch5.out" 'r["rollout"]["reason"]' 2>/dev/null || echo "?")
grep -q 'restarted' <<<"$reason" && pass "reason: $reason" || fail "reason: $reason"
for n in "${NODES[@]}"; do
  expect_eq "edge-$n answers serial 4" "$(node_serials "$n")" "4"
  if [ "$n" = 1 ]; then want="$V4 $V4 $V4"; else want="$V4 $V4"; fi
  expect_eq "edge-$n committed and serves v4" "$(node_served "$n")" "$want"
done
expect_eq "control plane still on v4" "$(ctl_status | jget 'r["committed"]')" "$V4"
[ "$rc" = 3 ] || tail -30 "$TMP/watch5.out" | indent
case_end

# partition N: every packet to and from node N dropped. Its management
# network in its own namespace; its DNS port at the client's end of its wire
# (DPDK's AF_PACKET port bypasses the node's netfilter).
partition() {
  log "partition edge-$1"
  ip netns exec "$(node_ns "$1")" nft -f - <<EOF
table inet partition {
  chain in { type filter hook input priority 0; policy drop; }
  chain out { type filter hook output priority 0; policy drop; }
}
EOF
  ip netns exec "$CLI" nft -f - <<EOF
table netdev partition$1 {
  chain out { type filter hook egress device "$(cli_if "$1")" priority 0; policy drop; }
}
EOF
}
heal() {
  log "heal edge-$1"
  ip netns exec "$(node_ns "$1")" nft delete table inet partition
  ip netns exec "$CLI" nft delete table netdev partition"$1"
}
fleet_consistent_on() {  # VERSION: every node committed it and serves it on every lcore
  local n want
  for n in "${NODES[@]}"; do
    if [ "$n" = 1 ]; then want="$1 $1 $1"; else want="$1 $1"; fi
    [ "$(node_served "$n")" = "$want" ] || return 1
  done
}

# ---------------------------------------------------------------- case 5
case_begin "partition of the canary node mid-stage, on_node_down: rollback: rolled back; healed, it converges"
zone 6 --www 192.0.2.86 >"$TMP/v6.zone"
push_to_stage "$TMP/push6.out" "$TMP/v6.zone" "$TMP/policy-hold1.yaml" 1 "stage 2 (edge-1 whole)" 1
partition 1
held_at 1 "$TMP/push6.out"
set +e
wait "$PUSH_PID"
rc=$?
set -e
expect_eq "push exits 4 (rolled back, edge-1 pending)" "$rc" "4"
pending=$(result "$TMP/push6.out" '[p["node"] for p in r["pending"]]' 2>/dev/null || echo "?")
expect_eq "the result names edge-1 as pending" "$pending" "['edge-1']"
for n in 2 3; do expect_eq "edge-$n on v4 during the partition" "$(node_serials "$n" 8)" "4"; done
heal 1
wait_until 120 "nothing pending once the partition heals" eval 'ctl_status | jget "r[\"pending\"] == []" | has_line -x True' || true
wait_until 60 "every node committed and serving v4" fleet_consistent_on "$V4" || true
expect_eq "healed edge-1 answers v4 from every flow" "$(node_serials 1)" "4"
expect_eq "control plane still on v4" "$(ctl_status | jget 'r["committed"]')" "$V4"
[ "$rc" = 4 ] || cat "$TMP/push6.out" "$TMP/push6.out.err" | tail -30 | indent
case_end

# ---------------------------------------------------------------- case 6
case_begin "partition of the canary node mid-stage, on_node_down: wait: waits, then commits once healed"
zone 7 >"$TMP/v7.zone"
start_push "$TMP/push7.out" --policy "$TMP/policy-wait.yaml" "$TMP/v7.zone"
wait_until 180 "stage 1 (one lcore of edge-1)" rollout_stage_is 0 || true
V7=$(ctl_status | jget '(r["rollout"] or {}).get("version", "")')
wait_until 120 "edge-1 lcore 1 serving the new version" node_lcore_on 1 1 "$V7" || true
partition 1
held_at 0 "$TMP/push7.out"
wait_until 120 "the rollout to say it waits for edge-1" rollout_waits_for edge-1 || true
sleep 2
if kill -0 "$PUSH_PID" 2>/dev/null; then pass "the rollout waits while edge-1 is cut off"; else fail "the rollout ended during the partition"; fi
expect_eq "it stays in stage 1" "$(ctl_status | jget '(r["rollout"] or {}).get("stage", -1)')" "0"
for n in 2 3; do expect_eq "edge-$n still on v4" "$(node_serials "$n" 8)" "4"; done
heal 1
set +e
wait "$PUSH_PID"
rc=$?
set -e
expect_eq "push exits 0 once the partition heals" "$rc" "0"
wait_until 60 "every node committed and serving v7" fleet_consistent_on "$V7" || true
for n in "${NODES[@]}"; do expect_eq "edge-$n answers serial 7" "$(node_serials "$n")" "7"; done
expect_eq "control plane committed v7" "$(ctl_status | jget 'r["committed"]')" "$V7"
[ "$rc" = 0 ] || cat "$TMP/push7.out" "$TMP/push7.out.err" | tail -30 | indent
case_end

# ---------------------------------------------------------------- case 7
case_begin "a node back with an empty disk starts empty (REFUSED) and is brought to the committed version"
COMMITTED=$(ctl_status | jget 'r["committed"]')
stop_node 3
rm -rf "$(node_state 3)"
start_node 3 || true  # no --zone, no last-known-good: a fresh machine
grep -q "starting empty, answering REFUSED" "$(node_log 3)" &&
  pass "edge-3 log: $(grep -m1 'starting empty' "$(node_log 3)" | sed "s|$TMP/|\$TMP/|")" ||
  fail "edge-3 did not start empty"
wait_until 60 "every node committed and serving the committed version" fleet_consistent_on "$COMMITTED" || true
expect_eq "edge-3 answers serial 7 from every flow" "$(node_serials 3)" "7"
grep -q "node edge-3: full upload of ${COMMITTED:0:12}" "$TMP"/serve.*.log &&
  pass "serve sent edge-3 the full zone set (it held nothing)" || fail "no full upload to edge-3 in the serve log"
wait_until 60 "nothing pending" eval 'ctl_status | jget "r[\"pending\"] == []" | has_line -x True' || true
case_end

fleet_summary fleet_failures.sh
