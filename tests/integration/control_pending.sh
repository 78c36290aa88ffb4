#!/usr/bin/env bash
# What `edgectl` reports after a rollback that could not reach every node,
# with real `edgectl serve` and CLI processes against two test node agents
# (build/tests/fake_node; no DPDK):
#   1. a node killed (kill -9) before a manual rollback: `rollback --wait`
#      exits 4 (not 0) and names the node as pending; `status` marks it;
#   2. the node back on another version: `edgectl serve` repairs it without
#      a restart (status: nothing pending, the node serves and commits the
#      rolled-back-to version);
#   3. a second `edgectl serve` on the same state directory exits non-zero
#      naming the live one's pid, and the journal is left byte for byte.
# Usage: tests/integration/control_pending.sh (root not needed; bounded).
set -euo pipefail
. "$(dirname "$0")/lib/fake_fleet.sh" ecp
CTL_SOCK=$TMP/ctl.sock

fake_zone 1 198.18.0.80 >"$TMP/v1.zone"
fake_zone 2 198.18.0.81 >"$TMP/v2.zone"
fake_zone 9 198.18.0.99 >"$TMP/other.zone"

start_fake_node 1 "$TMP/v1.zone"
start_fake_node 2 "$TMP/v1.zone"
cat >"$TMP/fleet.yaml" <<EOF
nodes:
  - {name: edge-1, control: $TMP/edge-1.sock, probe: "$(fake_probe 1)", wave: 1}
  - {name: edge-2, control: $TMP/edge-2.sock, probe: "$(fake_probe 2)", wave: 2}
EOF
cat >"$TMP/policy.yaml" <<EOF
stages:
  - {name: all, scope: all, bake_s: 0.2}
health: {interval_s: 0.1}
EOF
"$EDGECTL" serve --fleet "$TMP/fleet.yaml" --state-dir "$TMP/state" --socket "$CTL_SOCK" \
  --adopt "$TMP/v1.zone" >"$TMP/serve.log" 2>&1 &
SERVE_PID=$!
wait_for 30 "edgectl serve socket" test -S "$CTL_SOCK" || { sed "s/^/    | /" "$TMP/serve.log"; exit 1; }

set +e
CLI_TIMEOUT=120 "$EDGECTL" push --socket "$CTL_SOCK" --policy "$TMP/policy.yaml" --wait \
  "$TMP/v2.zone" >"$TMP/push.out" 2>&1
rc=$?
set -e
[ "$rc" = 0 ] && pass "push --wait: committed (exit 0)" || { fail "push exit $rc"; sed 's/^/    | /' "$TMP/push.out"; }
status_json() { "$EDGECTL" status --socket "$CTL_SOCK" --json; }
V1=$(status_json | jget 'r["committed"]')
log "committed $V1"

# ---- 1. a node down during a manual rollback
log "case: edge-2 killed, then edgectl rollback --wait"
{ kill -KILL "$N2" && wait "$N2"; } 2>/dev/null || true
N2=
set +e
timeout 120 "$EDGECTL" rollback --socket "$CTL_SOCK" --wait >"$TMP/rb.out" 2>&1
rc=$?
set -e
sed 's/^/    | /' "$TMP/rb.out"
[ "$rc" = 4 ] && pass "rollback --wait exits 4 with a node pending" || fail "rollback --wait exit $rc, want 4"
grep -q "pending: edge-2" "$TMP/rb.out" && pass "the pending node is named" || fail "edge-2 not named as pending"
"$EDGECTL" status --socket "$CTL_SOCK" >"$TMP/status.out" 2>&1 || true
grep -q "edge-2.*PENDING" "$TMP/status.out" && pass "status marks edge-2 pending" ||
  { fail "status does not mark edge-2"; sed 's/^/    | /' "$TMP/status.out"; }
V0=$(status_json | jget 'r["committed"]')
[ "$V0" != "$V1" ] && pass "committed is the rolled-back-to version" || fail "committed did not change"

# ---- 2. back on another version: repaired without a restart of serve
log "case: edge-2 back on a version nobody pushed"
start_fake_node 2 "$TMP/other.zone"
in_sync() {
  status_json | jget 'r["pending"] == [] and all(n.get("in_sync") for n in r["nodes"]) and all(v == r["committed"] for n in r["nodes"] for v in n["served"].values()) and all(n["committed"] == r["committed"] for n in r["nodes"])' | grep -qx True
}
wait_for 60 "edge-2 repaired to the committed version" in_sync && pass "edge-2 repaired: serves and commits $V0"
kill -0 "$SERVE_PID" 2>/dev/null && pass "edgectl serve still running" || fail "edgectl serve died"

# ---- 3. one daemon per state directory
log "case: a second edgectl serve on the same state directory"
sum0=$(md5sum <"$TMP/state/journal.jsonl")
set +e
timeout 30 "$EDGECTL" serve --fleet "$TMP/fleet.yaml" --state-dir "$TMP/state" \
  --socket "$TMP/ctl2.sock" >"$TMP/serve2.out" 2>&1
rc=$?
set -e
sed 's/^/    | /' "$TMP/serve2.out"
[ "$rc" != 0 ] && [ "$rc" != 124 ] && pass "second serve exits $rc" || fail "second serve exit $rc"
grep -q "in use by another edgectl serve (pid $SERVE_PID)" "$TMP/serve2.out" &&
  pass "the error names the live daemon's pid" || fail "no clear error naming pid $SERVE_PID"
[ "$(md5sum <"$TMP/state/journal.jsonl")" = "$sum0" ] && pass "journal untouched" || fail "journal changed"
[ ! -e "$TMP/ctl2.sock" ] && pass "no second socket" || fail "the second daemon bound a socket"
status_json >/dev/null && pass "the first daemon still answers" || fail "the first daemon stopped answering"

fake_fleet_summary control_pending
