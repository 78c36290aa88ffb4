#!/usr/bin/env bash
# The node agent over TCP with mutual TLS (--control-listen), reached from
# another namespace over a management veth, as a control plane on another
# host reaches it. Certificates come from scripts/pki.sh (openssl CLI).
#   - `edgectl node --control tls://...` with a certificate the node allows
#     loads a new version: every lcore serves it;
#   - refused, each with a log line naming the client's address and the
#     reason, and the node's committed and served versions unchanged after
#     each: a certificate of another CA, an expired one, a name not in
#     --control-allow, no certificate, plaintext on the TLS port, an
#     oversized frame;
#   - edgectl refuses a node whose certificate does not carry the expected
#     name, and a node with no --tls-* files is a start-up error.
# Usage: tests/integration/control_tls.sh. Needs root; bounded.
set -euo pipefail
. "$(dirname "$0")/lib/agent_common.sh"
harness_need "$EDGECTL"
PROBE="$ROOT/tests/integration/lib/tls_probe.py"

PKI=$TMP/pki
"$ROOT/scripts/pki.sh" ca "$PKI"
for n in edge-1 edgectl edgectl-ro; do "$ROOT/scripts/pki.sh" cert "$PKI" "$n"; done
"$ROOT/scripts/pki.sh" cert "$PKI" expired -1
"$ROOT/scripts/pki.sh" ca "$TMP/rogue" rogue-ca
"$ROOT/scripts/pki.sh" cert "$TMP/rogue" edgectl

setup_veth 1
# The management network: a kernel address in the node's namespace (the
# DNS port belongs to DPDK), the control plane's end in the client's.
MS=${HARNESS_TAG}m$ID MC=${HARNESS_TAG}n$ID
ip link add "$MS" type veth peer name "$MC"
ip link set "$MS" netns "$SRV"
ip link set "$MC" netns "$CLI"
ip netns exec "$SRV" ip addr add 198.19.54.1/24 dev "$MS"
ip netns exec "$SRV" ip link set "$MS" up
ip netns exec "$CLI" ip addr add 198.19.54.2/24 dev "$MC"
ip netns exec "$CLI" ip link set "$MC" up
CTL=tls://198.19.54.1:8853

write_zone 1 "$TMP/v1.zone"
write_zone 2 "$TMP/v2.zone"
TLS_NODE=(--tls-cert "$PKI/edge-1.crt" --tls-key "$PKI/edge-1.key" --tls-ca "$PKI/ca.crt")
start_edgedns tls "-l 1" "$(vdev af_packet 1)" --listen "$SRV4" --idle-sleep --zone "$TMP/v1.zone" \
  --state-dir "$TMP/state" --control-listen 198.19.54.1:8853 "${TLS_NODE[@]}" --control-allow edgectl || exit 1
wait_until 30 "the TLS listener" grep -q "control over mutual TLS on $CTL" "$LOG" && pass "node listens: $(grep -m1 'mutual TLS' "$LOG")" ||
  fail "no TLS listener line in the log"

node() {  # node CERT-NAME [edgectl node options...] SUBCOMMAND...
  local c=$1
  shift
  in_cli "$EDGECTL" node --control "$CTL" --tls-cert "$PKI/$c.crt" --tls-key "$PKI/$c.key" \
    --tls-ca "$PKI/ca.crt" --server-name edge-1 "$@"
}
www() { in_cli dig +short +tries=2 +time=2 @"$SRV4" www.swap.test A | first_line; }
# "committed served..." as the node reports them (over TLS, as edgectl).
served() {
  node edgectl status --json | jget 'r["committed"] + " " + " ".join(l["version"] for l in r["lcores"])'
}

if out=$(node edgectl load "$TMP/v2.zone" 2>&1); then
  pass "edgectl node load over mTLS: $(tail -1 <<<"$out")"
else
  fail "edgectl node load over mTLS failed: $out"
fi
expect_eq "v2 served after the TLS load" "$(www)" "v2.swap.test."
BEFORE=$(served)
expect_eq "committed and served agree" "$(awk '{print ($1 == $2)}' <<<"$BEFORE")" "1"

refused() {  # refused WHAT LOG-REASON tls_probe.py-ARGS...
  local what=$1 reason=$2 out
  shift 2
  if out=$(in_cli "$PY" "$PROBE" "$CTL" "$@" 2>&1); then
    pass "$what: $out"
  else
    fail "$what: the node answered: $out"
  fi
  if wait_until 10 "a log line with '$reason'" grep -q "refused 198.19.54.2:[0-9]* on $CTL: .*$reason\|198.19.54.2:[0-9]*) on $CTL: .*$reason" "$LOG"; then
    pass "$what: node log: $(grep "$reason" "$LOG" | tail -1 | cut -c1-160)"
  else
    fail "$what: no log line with '$reason'"; tail -5 "$LOG" | indent
  fi
  expect_eq "$what: committed and served versions unchanged" "$(served)" "$BEFORE"
}
refused "certificate of another CA" "not signed by the configured CA" \
  tls "$TMP/rogue/edgectl.crt" "$TMP/rogue/edgectl.key" "$PKI/ca.crt" edge-1
refused "expired certificate" "certificate has expired" \
  tls "$PKI/expired.crt" "$PKI/expired.key" "$PKI/ca.crt" edge-1
refused "name not in --control-allow" "none of them allowed" \
  tls "$PKI/edgectl-ro.crt" "$PKI/edgectl-ro.key" "$PKI/ca.crt" edge-1
refused "no client certificate" "no client certificate" nocert "$PKI/ca.crt" edge-1
refused "plaintext on the TLS port" "plaintext, not a TLS handshake" plain
refused "oversized frame" "exceeds the limit" \
  oversize "$PKI/edgectl.crt" "$PKI/edgectl.key" "$PKI/ca.crt" edge-1
expect_eq "v2 still served" "$(www)" "v2.swap.test."

# The control plane's side: a node whose certificate does not carry the name
# it is expected to have is not talked to.
if out=$(in_cli "$EDGECTL" node --control "$CTL" --tls-cert "$PKI/edgectl.crt" --tls-key "$PKI/edgectl.key" \
  --tls-ca "$PKI/ca.crt" --server-name edge-2 status 2>&1); then
  fail "edgectl talked to edge-1 as edge-2"
else
  grep -q "expected 'edge-2'" <<<"$out" && pass "wrong node name refused: $out" || fail "unclear refusal: $out"
fi
stop_edgedns

# --control-listen without its certificate files is a start-up error naming them.
if out=$(ip netns exec "$SRV" timeout 60 "$EDGEDNS" -l 1 --no-huge -m 512 --no-pci --file-prefix "$HARNESS_TAG$ID-x" \
  --vdev="net_af_packet0,iface=$VS" -- --listen "$SRV4" --zone "$TMP/v1.zone" --control-listen 198.19.54.1:8853 2>&1); then
  fail "edgedns started with --control-listen and no certificate"
else
  grep -q "needs --tls-cert, --tls-key and --tls-ca" <<<"$out" && pass "no TLS files: $(grep -m1 needs <<<"$out")" ||
    fail "unclear error: $out"
fi
# A key that does not belong to the certificate: named at start.
if out=$(ip netns exec "$SRV" timeout 60 "$EDGEDNS" -l 1 --no-huge -m 512 --no-pci --file-prefix "$HARNESS_TAG$ID-y" \
  --vdev="net_af_packet0,iface=$VS" -- --listen "$SRV4" --zone "$TMP/v1.zone" --control-listen 198.19.54.1:8853 \
  --tls-cert "$PKI/edge-1.crt" --tls-key "$PKI/edgectl.key" --tls-ca "$PKI/ca.crt" 2>&1); then
  fail "edgedns started with a key of another certificate"
else
  grep -q "does not belong to certificate $PKI/edge-1.crt" <<<"$out" && pass "wrong key: $(grep -m1 'does not belong' <<<"$out")" ||
    fail "unclear error: $out"
fi

harness_summary control_tls
