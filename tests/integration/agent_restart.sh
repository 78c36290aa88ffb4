#!/usr/bin/env bash
# Last-known-good across a crash: edgedns with
# --state-dir commits v1 (from --zone) then v2 (upload, publish, commit over
# the agent); kill -9; a start with only --state-dir serves v2. Then the
# newest state file is corrupted: the next start serves v1 and its log says
# which file it skipped and why. A state dir with no good file fails the start.
# Usage: tests/integration/agent_restart.sh. Needs root; bounded.
set -euo pipefail
. "$(dirname "$0")/lib/agent_common.sh"

STATE=$TMP/state
mkdir -p "$STATE"
write_zone 1 "$TMP/v1.zone"
www() { in_cli dig +short +tries=2 +time=2 @$SRV4 www.swap.test A | first_line; }

setup_veth 1
start_edgedns_agent first "-l 1" 1 --zone "$TMP/v1.zone" --state-dir "$STATE" || exit 1
expect_eq "v1 from --zone" "$(www)" "v1.swap.test."
expect_eq "v1 persisted at start" "$(ls "$STATE" | grep -c '^lkg-.*\.edz$')" "1"
V2=$(agent upload "{\"zones\":[{\"file\":\"v2.zone\",\"text\":$(zt 2)}]}" | jget 'r["version"]')
agent publish "{\"version\":\"$V2\"}" >/dev/null
expect_eq "commit v2" "$(agent commit "{\"version\":\"$V2\"}" | jget 'r["ok"]')" "True"
# A version published but never committed must not become the LKG.
V3=$(agent upload "{\"zones\":[{\"file\":\"v3.zone\",\"text\":$(zt 3)}]}" | jget 'r["version"]')
agent publish "{\"version\":\"$V3\"}" >/dev/null
expect_eq "v3 served (not committed)" "$(www)" "v3.swap.test."
stop_edgedns KILL
rm -f "$SOCK"  # so that start_edgedns waits for the new one (edgedns replaces a stale socket itself)

start_edgedns_agent lkg "-l 1" 1 --state-dir "$STATE" || exit 1
expect_eq "after kill -9: the committed v2 is served" "$(www)" "v2.swap.test."
expect_eq "hello: committed is v2" "$(agent hello | jget 'r["committed"]')" "$V2"
grep -q "last-known-good: serving" "$TMP/lkg.log" && pass "log names the LKG served" || fail "no LKG log line"
stop_edgedns KILL

newest=$(ls "$STATE" | grep '^lkg-.*\.edz$' | sort -t- -k2 -n | tail -1)
# Flip a byte in the payload (past the 64-byte header).
printf 'X' | dd of="$STATE/$newest" bs=1 seek=100 conv=notrunc status=none
start_edgedns_agent corrupt "-l 1" 1 --state-dir "$STATE" || exit 1
expect_eq "newest file corrupt: the previous LKG (v1) is served" "$(www)" "v1.swap.test."
if grep -q "skipped .*$newest" "$TMP/corrupt.log"; then
  pass "log says why: $(grep -m1 "skipped" "$TMP/corrupt.log")"
else
  fail "no log line about the skipped $newest"; indent <"$TMP/corrupt.log"
fi
stop_edgedns

# Truncate every file: nothing good left, the start fails with a clear message.
for f in "$STATE"/lkg-*.edz; do truncate -s 30 "$f"; done
rm -f "$SOCK"
if ip netns exec "$SRV" timeout 60 "$EDGEDNS" -l 1 --no-huge -m 512 --no-pci --file-prefix "$HARNESS_TAG$ID-none" \
    --vdev="net_af_packet0,iface=$VS" -- --listen "$SRV4" --state-dir "$STATE" >"$TMP/none.log" 2>&1; then
  fail "start with no good LKG succeeded"
else
  grep -q "no good last-known-good" "$TMP/none.log" && pass "no good LKG: start refused ($(grep -c skipped "$TMP/none.log") files skipped)" ||
    { fail "no clear message"; indent <"$TMP/none.log"; }
fi

harness_summary agent_restart
