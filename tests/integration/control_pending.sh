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
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/scripts/lib.sh"
FAKE=$EDGEDNS_BUILD_DIR/tests/fake_node
for b in "$EDGECTL" "$FAKE"; do [ -x "$b" ] || { echo "FAIL: $b not built"; exit 1; }; done

TMP=$(mktemp -d /tmp/ecp.XXXXXX)
CTL_SOCK=$TMP/ctl.sock
SERVE_PID= N1= N2=
FAILS=0
log() { echo "[$(date +%T)] $*"; }
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
pass() { echo "ok: $*"; }
jget() { "$PY" -c "import json,sys; r=json.load(sys.stdin); print($1)"; }
cleanup() {
  stop_process "$SERVE_PID"
  stop_process "$N1"
  stop_process "$N2"
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_for() {  # SECS WHAT CMD...
  local end=$((SECONDS + $1)) what=$2
  shift 2
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < end)) || { fail "timed out waiting for: $what"; return 1; }
    sleep 0.2
  done
}

zone() {  # SERIAL WWW
  cat <<Z
\$ORIGIN cp.test.
\$TTL 300
@    SOA ns1 hostmaster $1 3600 600 86400 300
@    NS  ns1
ns1  A   198.18.0.53
www  A   $2
Z
}
zone 1 198.18.0.80 >"$TMP/v1.zone"
zone 2 198.18.0.81 >"$TMP/v2.zone"
zone 9 198.18.0.99 >"$TMP/other.zone"

start_node() {  # N ZONEFILE -> pid in N$1 (its UDP probe address on the first line of its log)
  rm -f "$TMP/edge-$1.sock"
  "$FAKE" "edge-$1" "$TMP/edge-$1.sock" "$2" >"$TMP/edge-$1.log" 2>&1 &
  eval "N$1=$!"
  wait_for 30 "edge-$1 socket" test -S "$TMP/edge-$1.sock"
}
start_node 1 "$TMP/v1.zone"
start_node 2 "$TMP/v1.zone"
cat >"$TMP/fleet.yaml" <<EOF
nodes:
  - {name: edge-1, control: $TMP/edge-1.sock, probe: "$(head -1 "$TMP/edge-1.log")", wave: 1}
  - {name: edge-2, control: $TMP/edge-2.sock, probe: "$(head -1 "$TMP/edge-2.log")", wave: 2}
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
start_node 2 "$TMP/other.zone"
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

if [ "$FAILS" = 0 ]; then
  log "control_pending: all checks passed"
  exit 0
fi
log "control_pending: $FAILS check(s) failed"
sed 's/^/    serve | /' "$TMP/serve.log" | tail -30
exit 1
