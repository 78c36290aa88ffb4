#!/usr/bin/env bash
# Operators on other hosts: `edgectl serve --listen` (mutual TLS on
# loopback) with real CLI processes, two fake node agents behind it, and
# certificates from scripts/pki.sh:
#   - a reader certificate (access.readers) gets status and history, and is
#     refused push, rollback, pause and abort ("forbidden", the serve log
#     names it): no rollout starts, the committed version stays;
#   - an operator certificate pushes over TLS; history and the journal say
#     who pushed (its certificate name) and when (RFC 3339), and a push over
#     the local socket is recorded with the user behind it;
#   - a certificate of the CA in neither list, and one of another CA, are
#     refused in the handshake, naming the client.
# Usage: tests/integration/control_roles.sh (root not needed; bounded).
set -euo pipefail
. "$(dirname "$0")/lib/fake_fleet.sh" ecr
CTL_SOCK=$TMP/ctl.sock
PKI=$TMP/pki
"$ROOT/scripts/pki.sh" ca "$PKI"
for c in edgectl alice grafana mallory; do "$ROOT/scripts/pki.sh" cert "$PKI" "$c"; done
"$ROOT/scripts/pki.sh" ca "$TMP/rogue" rogue-ca
"$ROOT/scripts/pki.sh" cert "$TMP/rogue" alice

fake_zone 1 198.18.0.80 >"$TMP/v1.zone"
fake_zone 2 198.18.0.81 >"$TMP/v2.zone"
fake_zone 3 198.18.0.82 >"$TMP/v3.zone"
start_fake_node 1 "$TMP/v1.zone"
start_fake_node 2 "$TMP/v1.zone"
cat >"$TMP/fleet.yaml" <<EOF
tls: {cert: pki/edgectl.crt, key: pki/edgectl.key, ca: pki/ca.crt}
access:
  operators: [alice]
  readers: [grafana]
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
  --listen 127.0.0.1:0 --adopt "$TMP/v1.zone" >"$TMP/serve.log" 2>&1 &
SERVE_PID=$!
wait_for 30 "edgectl serve's TLS listener" grep -q "mutual TLS" "$TMP/serve.log" ||
  { sed "s/^/    | /" "$TMP/serve.log"; exit 1; }
SERVER=$(grep -o "tls://127.0.0.1:[0-9]*" "$TMP/serve.log" | head -1)
pass "serve listens: $SERVER"

as() {  # as CERT-DIR NAME edgectl-subcommand args...: the CLI over TLS with that certificate
  local dir=$1 name=$2 sub=$3
  shift 3
  # shellcheck disable=SC2086  # sub may be two words (fleet reload)
  timeout 120 "$EDGECTL" $sub --server "$SERVER" --tls-cert "$dir/$name.crt" --tls-key "$dir/$name.key" \
    --tls-ca "$PKI/ca.crt" --server-name edgectl "$@"
}
local_status() { "$EDGECTL" status --socket "$CTL_SOCK" --json; }
expect_committed() { [ "$(local_status | jget 'r["committed"]')" = "$1" ]; }
journal_has() { grep -c "\"ev\":\"$1\"" "$TMP/state/journal.jsonl" || true; }
V1=$(local_status | jget 'r["committed"]')

# ---- a reader
out=$(as "$PKI" grafana status --json) && pass "reader: status over TLS" || fail "reader status: $out"
[ "$(jget 'r["committed"]' <<<"$out")" = "$V1" ] && pass "reader sees the committed version" || fail "reader status: $out"
as "$PKI" grafana history >/dev/null && pass "reader: history over TLS" || fail "reader history failed"
for cmd in "push --policy $TMP/policy.yaml --wait $TMP/v2.zone" "rollback" "rollout pause" "rollout abort"; do
  # shellcheck disable=SC2086  # cmd is a word list
  if out=$(as "$PKI" grafana $cmd 2>&1); then
    fail "reader: '$cmd' succeeded: $out"
  elif grep -q "may only read" <<<"$out"; then
    pass "reader: '$cmd' refused: $(grep -m1 'may only read' <<<"$out" | cut -c1-150)"
  else
    fail "reader: '$cmd' failed without a role refusal: $out"
  fi
done
grep -q "refused 'push' from grafana (127.0.0.1:" "$TMP/serve.log" && pass "serve log names the refused reader" ||
  fail "no log line for the refused push"
[ "$(journal_has rollout_start)" = 0 ] && pass "no rollout started" || fail "a reader started a rollout"
expect_committed "$V1" && pass "committed version unchanged" || fail "committed changed"

# ---- an operator over TLS
t0=$(date -u +%s)
if out=$(as "$PKI" alice push --policy "$TMP/policy.yaml" --wait "$TMP/v2.zone" 2>&1); then
  pass "operator: push over TLS committed"
else
  fail "operator push failed: $out"
fi
V2=$(local_status | jget 'r["committed"]')
[ "$V2" != "$V1" ] && pass "committed is the pushed version" || fail "committed did not change"
h=$(as "$PKI" grafana history --json)
by=$(jget 'r["rollouts"][-1]["by"]' <<<"$h")
at=$(jget 'r["rollouts"][-1]["started_at"]' <<<"$h")
[ "$by" = alice ] && pass "history: pushed by $by" || fail "history: by '$by', want alice"
if [[ $at =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$ ]] &&
  (($(date -u -d "$at" +%s) - t0 >= -1 && $(date -u -d "$at" +%s) - t0 <= 120)); then
  pass "history: pushed at $at (RFC 3339, now)"
else
  fail "history: started_at '$at'"
fi
grep '"ev":"rollout_start"' "$TMP/state/journal.jsonl" | grep -q '"by":"alice"' && pass "the journal records alice" ||
  fail "the journal does not record who pushed"
as "$PKI" grafana history | grep -q "pushed $at by alice" && pass "history text names alice" ||
  fail "history text: $(as "$PKI" grafana history)"

# ---- the local socket: the user behind it
"$EDGECTL" push --socket "$CTL_SOCK" --policy "$TMP/policy.yaml" --wait "$TMP/v3.zone" >/dev/null 2>&1 ||
  fail "local push failed"
by=$("$EDGECTL" history --socket "$CTL_SOCK" --json | jget 'r["rollouts"][-1]["by"]')
want="$(id -un) (uid $(id -u))"
[ "$by" = "$want" ] && pass "local push recorded as '$by'" || fail "local push recorded as '$by', want '$want'"
out=$(as "$PKI" alice rollback --wait 2>&1) && pass "operator: rollback over TLS" || fail "operator rollback: $out"
grep '"ev":"manual_rollback_begin"' "$TMP/state/journal.jsonl" | grep -q '"by":"alice"' &&
  pass "the journal records who rolled back" || fail "no 'by' on the manual rollback"

# ---- certificates that get nowhere
if out=$(as "$PKI" mallory status 2>&1); then fail "mallory (in no access list) got status"; else pass "mallory refused: $(tail -1 <<<"$out" | cut -c1-150)"; fi
wait_for 10 "the serve log naming mallory" grep -q "refused 127.0.0.1:[0-9]* on $SERVER: client certificate names mallory, none of them allowed" "$TMP/serve.log" &&
  pass "serve log: $(grep -m1 'names mallory' "$TMP/serve.log" | cut -c1-160)"
if out=$(as "$TMP/rogue" alice push --policy "$TMP/policy.yaml" "$TMP/v2.zone" 2>&1); then
  fail "an 'alice' of another CA could push"
else
  pass "alice of another CA refused"
fi
wait_for 10 "the serve log naming the foreign CA" grep -q "not signed by the configured CA" "$TMP/serve.log" &&
  pass "serve log: $(grep -m1 'not signed' "$TMP/serve.log" | cut -c1-160)"
[ "$(journal_has rollout_start)" = 2 ] && pass "only the two operator pushes started rollouts" ||
  fail "$(journal_has rollout_start) rollouts started, want 2"

# Fleet reload: a reader may not; SIGHUP and an operator's `edgectl fleet
# reload` add and remove nodes without a restart.
start_fake_node 3 "$TMP/v1.zone"
cat >>"$TMP/fleet.yaml" <<EOF
  - {name: edge-3, control: $TMP/edge-3.sock, probe: "$(fake_probe 3)", wave: 3}
EOF
if out=$(as "$PKI" grafana "fleet reload" 2>&1); then fail "reader: fleet reload succeeded: $out"; else
  grep -q "may only read" <<<"$out" && pass "reader: fleet reload refused" || fail "reader fleet reload: $out"
fi
[ "$(local_status | jget 'len(r["nodes"])')" = 2 ] && pass "still 2 nodes" || fail "the refused reload changed the fleet"
kill -HUP "$SERVE_PID"
wait_for 10 "serve to reload on SIGHUP" grep -q "reloaded by SIGHUP: 3 node(s); added edge-3" "$TMP/serve.log" &&
  pass "SIGHUP: $(grep -m1 'reloaded by SIGHUP' "$TMP/serve.log" | sed "s|$TMP/|\$TMP/|")" ||
  fail "no reload on SIGHUP: $(tail -3 "$TMP/serve.log")"
V_NOW=$(local_status | jget 'r["committed"]')
edge3_committed() { local_status | jget '([n["committed"] for n in r["nodes"] if n["name"] == "edge-3"] + [""])[0]'; }
edge3_on_committed() { [ "$(edge3_committed)" = "$V_NOW" ]; }
wait_for 20 "edge-3 on the committed version" edge3_on_committed &&
  pass "edge-3 joined and was brought to the committed version" || fail "edge-3: $(local_status)"
sed -i '/name: edge-2,/d' "$TMP/fleet.yaml"
out=$(as "$PKI" alice "fleet reload" 2>&1) && grep -q "removed edge-2" <<<"$out" && pass "operator: $out" ||
  fail "operator fleet reload: $out"
[ "$(local_status | jget '" ".join(n["name"] for n in r["nodes"])')" = "edge-1 edge-3" ] &&
  pass "status lists edge-1 and edge-3" || fail "status after reload: $(local_status)"
echo "nodes: [" >>"$TMP/fleet.yaml"
if out=$("$EDGECTL" fleet reload --socket "$CTL_SOCK" 2>&1); then fail "a broken fleet file was accepted"; else
  grep -q "fleet.yaml" <<<"$out" && pass "broken fleet file refused: $(cut -c1-160 <<<"$out" | sed "s|$TMP/|\$TMP/|")" ||
    fail "broken fleet file: $out"
fi
[ "$(local_status | jget 'len(r["nodes"])')" = 2 ] && pass "the fleet is unchanged" || fail "a broken file changed the fleet"

fake_fleet_summary control_roles
