#!/usr/bin/env bash
# Malformed input over the wire against a running edgedns: broken
# DNS headers, questions, compression pointers, labels, names, OPT records,
# opcodes, classes and sizes, and broken Ethernet/IPv4/IPv6/UDP headers and
# fragments, each as a raw frame from a client namespace
# (tests/integration/lib/hostile_malformed.py). Each must get the behaviour
# documented in docs/operations.md ("Malformed input"): FORMERR, NOTIMP,
# REFUSED, BADVERS or no reply; the drop counters must show the dropped
# frames; and the node must answer good queries correctly afterwards.
#
# Usage: tests/integration/hostile_malformed.sh [af_xdp] [af_packet]   (default: both)
#   EDGEDNS=path/to/edgedns (default: $EDGEDNS_BUILD_DIR/dataplane/edgedns)
# Needs root. The test host comes from tests/integration/lib/harness.sh.
set -euo pipefail
. "$(dirname "$0")/lib/harness.sh"
harness_init hm 51

in_cli() { bounded 20 ip netns exec "$CLI" "$@"; }  # scripts/lib.sh: TERM, then KILL

cat >"$TMP/example.zone" <<'EOF'
$ORIGIN example.test.
$TTL 3600
@       IN SOA ns1 hostmaster 2024010101 7200 3600 1209600 300
@       IN NS  ns1
ns1     IN A   198.18.51.53
www     IN A   192.0.2.1
www     IN AAAA 2001:db8::1
mail    IN MX  10 www
EOF

# lcore_line: the newest per-lcore counters (one worker lcore here).
lcore_line() { lcore_counters | tail -1; }

good_queries() {
  local tag=$1 out
  out=$(in_cli dig +tries=2 +time=2 +short @"$SRV4" www.example.test A 2>&1 || true)
  [ "$out" = 192.0.2.1 ] && pass "$tag: dig A over IPv4" || fail "$tag: dig A over IPv4: '$out'"
  out=$(in_cli dig +tries=2 +time=2 +short @"$SRV6" www.example.test AAAA 2>&1 || true)
  [ "$out" = 2001:db8::1 ] && pass "$tag: dig AAAA over IPv6" || fail "$tag: dig AAAA over IPv6: '$out'"
  out=$(in_cli kdig +retry=1 +timeout=2 +short @"$SRV4" mail.example.test MX 2>&1 || true)
  [ "$out" = "10 www.example.test." ] && pass "$tag: kdig MX" || fail "$tag: kdig MX: '$out'"
}

# variant PMD: the whole check against edgedns on one PMD.
variant() {
  local name=$1 out before after mac round
  testhost_up || return 1
  xdp_off
  start_edgedns "$name" "-l 1" "$(vdev "$name")" --listen "$SRV4" --listen "$SRV6" \
    --zone "$TMP/example.zone" --idle-sleep || return 0
  good_queries "$name before"
  mac=$(ip netns exec "$CLI" ip neigh show "$SRV4" | awk '{print $5}')
  [ -n "$mac" ] || { fail "$name: no ARP entry for $SRV4"; return 0; }
  before=$(lcore_line)
  # Twice: a node that survived the first round must behave the same in the second.
  for round in 1 2; do
    out=$(HOSTILE_PMD=$name in_cli "$PY" "$ROOT/tests/integration/lib/hostile_malformed.py" "$VC" \
          "$mac" "$SRV4" "$CLI4" "$SRV6" "$CLI6" 2>&1) || true
    if grep -q "^cases=[0-9]* failed=0$" <<<"$out"; then
      pass "$name round $round: $(grep '^cases=' <<<"$out") (every case as documented)"
    else
      fail "$name round $round: malformed input not handled as documented"
    fi
    grep -v "^ok " <<<"$out" | indent || true
    kill -0 "$PID" 2>/dev/null || { fail "$name: edgedns exited"; tail -30 "$LOG" | indent; return 0; }
  done
  grep "^ok " <<<"$out" | sed 's/^/    /' || true

  after=$(lcore_line)
  echo "    $after"
  local exp_mal exp_frag exp_bad d_mal d_frag d_bad d_kern d_formerr d_notimp
  exp_mal=$(sed -n 's/^expect malformed=\([0-9]*\).*/\1/p' <<<"$out")
  exp_frag=$(sed -n 's/^expect .* fragment=\([0-9]*\).*/\1/p' <<<"$out")
  exp_bad=$(sed -n 's/^expect .* bad_source=\([0-9]*\).*/\1/p' <<<"$out")
  d_mal=$(($(counter "$after" malformed) - $(counter "$before" malformed)))
  d_frag=$(($(counter "$after" drop_fragment) - $(counter "$before" drop_fragment)))
  d_bad=$(($(counter "$after" drop_bad_source) - $(counter "$before" drop_bad_source)))
  # With the kernel exception path (the default where the build has it),
  # fragments addressed to the port's MAC go to the kernel instead.
  d_kern=$(($(counter "$after" to_kernel) - $(counter "$before" to_kernel)))
  [ "$d_mal" -ge $((2 * exp_mal)) ] && pass "$name: malformed counter +$d_mal (>= 2 x $exp_mal)" ||
    fail "$name: malformed counter +$d_mal, want >= $((2 * exp_mal))"
  [ $((d_frag + d_kern)) -ge $((2 * exp_frag)) ] &&
    pass "$name: fragments: drop_fragment +$d_frag, to_kernel +$d_kern (>= 2 x $exp_frag)" ||
    fail "$name: fragments: drop_fragment +$d_frag, to_kernel +$d_kern, want >= $((2 * exp_frag))"
  [ "$d_bad" -ge $((2 * exp_bad)) ] && pass "$name: drop_bad_source +$d_bad (>= 2 x $exp_bad)" ||
    fail "$name: drop_bad_source +$d_bad, want >= $((2 * exp_bad))"
  d_formerr=$(($(counter "$after" formerr) - $(counter "$before" formerr)))
  d_notimp=$(($(counter "$after" notimp) - $(counter "$before" notimp)))
  [ "$d_formerr" -ge 40 ] && [ "$d_notimp" -ge 34 ] &&
    pass "$name: rcode counters: formerr +$d_formerr, notimp +$d_notimp" ||
    fail "$name: rcode counters: formerr +$d_formerr (want >= 40), notimp +$d_notimp (want >= 34)"

  good_queries "$name after"
  # A little load after the abuse: nothing lost.
  printf 'www.example.test A\nmail.example.test MX\nnope.example.test A\n' >"$TMP/q.txt"
  local completed lost
  out=$(ip netns exec "$CLI" timeout 30 dnsperf -s "$SRV4" -d "$TMP/q.txt" -Q 1000 -l 3 -t 2 2>&1 || true)
  lost=$(dnsperf_stat "$out" lost)
  completed=$(dnsperf_stat "$out" completed)
  [ "${lost:-x}" = 0 ] && [ "${completed:-0}" -ge 2500 ] &&
    pass "$name: dnsperf after: $completed completed, 0 lost" ||
    fail "$name: dnsperf after: completed=${completed:-?} lost=${lost:-?}"
}

variants=("$@")
[ ${#variants[@]} -gt 0 ] || variants=(af_xdp af_packet)
check_pmds "${variants[@]}"
run_variants variant "${variants[@]}"
harness_summary hostile_malformed "${variants[*]}"
