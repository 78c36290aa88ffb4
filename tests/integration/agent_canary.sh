#!/usr/bin/env bash
# Per-lcore canary: edgedns with two worker lcores on a
# 2-queue veth (net_af_packet qpairs=2: a PACKET_FANOUT group spreads flows by
# hash). Version 2 is published to one lcore only; queries from many source
# ports must get version 1 or 2 according to the lcore their flow hashes to
# (never both on one flow, never a mix in one answer), and the agent's status
# counters must split the same way per version per lcore; `kdig +nsid` from
# many source ports must show each lcore naming itself and the version it
# serves (RFC 5001 NSID). Then promotion to all lcores and a rollback.
# Usage: tests/integration/agent_canary.sh. Needs root; bounded.
set -euo pipefail
. "$(dirname "$0")/lib/agent_common.sh"

PORTS=64
PER=3

setup_veth 2
write_zone 1 "$TMP/v1.zone"
# Main lcore 0 for housekeeping; workers 1 and 2 (2 shares CPU 0: fine with --idle-sleep).
start_edgedns_agent canary "--lcores=0@0,1@1,2@0" 2 --zone "$TMP/v1.zone" --nsid canary-node || exit 1

lcores=$(agent hello | jget '" ".join(str(x) for x in r["lcores"])')
expect_eq "two worker lcores" "$lcores" "1 2"
V1=$(agent hello | jget 'r["committed"]')
V2=$(agent upload "{\"zones\":[{\"file\":\"v2.zone\",\"text\":$(zt 2)}]}" | jget 'r["version"]')
served=$(agent publish "{\"version\":\"$V2\",\"lcores\":[2]}" | jget 'r["served"]["1"] + " " + r["served"]["2"]')
expect_eq "publish v2 to lcore 2 only" "$served" "$V1 $V2"

probe() { in_cli "$PY" "$ROOT/tests/integration/lib/agent_canary_probe.py" "$SRV4" "$PORTS" "$PER"; }
out=$(probe)
log "canary probe: $out"
n1=$(jget 'r["by_version"].get("1", 0)' <<<"$out")
n2=$(jget 'r["by_version"].get("2", 0)' <<<"$out")
if [ "$n1" -gt 0 ] && [ "$n2" -gt 0 ] && [ $((n1 + n2)) = $((PORTS * PER)) ]; then
  pass "both versions answered: v1 $n1, v2 $n2 of $((PORTS * PER))"
else
  fail "answers by version: v1 $n1, v2 $n2 of $((PORTS * PER))"
fi
expect_eq "no flow saw both versions, no mixed answer, no timeout" \
  "$(jget 'r["ports_split"] + r["mixed"] + r["timeouts"]' <<<"$out")" "0"

st=$(agent status)
c() { jget "$1" <<<"$st"; }
# lcore 2 answered only from v2 since the publish (so exactly the probe's v2
# answers), lcore 1 never from v2; lcore 1's v1 count includes the probe's v1.
expect_eq "lcore 2 v2 queries = probe's v2 answers" \
  "$(c "[l for l in r['lcores'] if l['id']==2][0]['counters']['$V2']['noerror']")" "$n2"
expect_eq "lcore 1 has no v2 counters" \
  "$(c "'$V2' in [l for l in r['lcores'] if l['id']==1][0]['counters']")" "False"
if [ "$(c "[l for l in r['lcores'] if l['id']==1][0]['counters']['$V1']['noerror']")" -ge "$n1" ]; then
  pass "lcore 1 v1 counters include the probe's v1 answers"
else
  fail "lcore 1 v1 counters: $(c "[l for l in r['lcores'] if l['id']==1][0]['counters']")"
fi
expect_eq "status: lcore versions" "$(c "' '.join(l['version'] for l in r['lcores'])")" "$V1 $V2"

# kdig +nsid from 32 source ports: every answer carries the NSID, lcore 1
# names v1 and lcore 2 names v2 (the first 12 hex digits), nothing else.
nsid_of_port() {
  in_cli kdig +nsid +retry=0 +time=2 -b "$CLI4#$1" @"$SRV4" www.swap.test. A |
    sed -n 's/^;; NSID: .*"\(.*\)"$/\1/p'
}
first=$(nsid_of_port 21000)
log "kdig +nsid: NSID \"$first\""
seen=$(for p in $(seq 21000 21031); do echo "$(nsid_of_port "$p")"; done | sort -u | tr '\n' ';')
expect_eq "kdig +nsid names the lcore and the version it serves" "$seen" \
  "canary-node lcore=1 v=${V1:0:12};canary-node lcore=2 v=${V2:0:12};"

# Promote, then roll back.
agent publish "{\"version\":\"$V2\"}" >/dev/null
out=$(probe)
expect_eq "after promotion every flow gets v2" "$(jget 'r["by_version"].get("2", 0)' <<<"$out")" "$((PORTS * PER))"
agent commit "{\"version\":\"$V2\"}" | jget 'r["ok"]' >/dev/null
rb=$(agent rollback | jget 'r["version"]')
expect_eq "rollback goes to the previous committed version" "$rb" "$V1"
out=$(probe)
expect_eq "after rollback every flow gets v1" "$(jget 'r["by_version"].get("1", 0)' <<<"$out")" "$((PORTS * PER))"

[ "$FAILS" = 0 ] || edgedns_log_tail "$LOG" 20
harness_summary agent_canary
