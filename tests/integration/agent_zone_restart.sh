#!/usr/bin/env bash
# A node started with both --zone and --state-dir (the documented set-up):
# the zone files are the bootstrap only. After the agent committed v2, a
# restart with the same flags (after kill -9, and after a clean stop) serves
# v2 and writes no new last-known-good file, even once the zone file was
# changed on disk; its log says the --zone set was not used and why.
# --force-zone serves the zone files and makes them the newest
# last-known-good. With no good file left, --zone is used and written again.
# Usage: tests/integration/agent_zone_restart.sh. Needs root; bounded.
set -euo pipefail
. "$(dirname "$0")/lib/agent_common.sh"

STATE=$TMP/state
mkdir -p "$STATE"
ZONE=$TMP/site.zone
write_zone 1 "$ZONE"
www() { in_cli dig +short +tries=2 +time=2 @$SRV4 www.swap.test A | first_line; }
lkg_files() { ls "$STATE" | grep -c '^lkg-.*\.edz$' || true; }
newest_lkg() { ls "$STATE" | grep '^lkg-.*\.edz$' | sort -t- -k2 -n | tail -1; }
# The version id in the newest file's header (bytes 24..39, big-endian hi, lo).
newest_lkg_version() {
  "$PY" -c "import sys; print(open(sys.argv[1], 'rb').read(64)[24:40].hex())" "$STATE/$(newest_lkg)"
}
start_node() {  # NAME EXTRA-ARGS...: the same flags every time, as a unit file would
  local name=$1
  shift
  rm -f "$SOCK"  # so that start_edgedns waits for the new socket
  start_edgedns_agent "$name" "-l 1" 1 --zone "$ZONE" --state-dir "$STATE" "$@"
}

setup_veth 1
start_node first || exit 1
expect_eq "first start: v1 from --zone" "$(www)" "v1.swap.test."
expect_eq "first start: the --zone set is the last-known-good" "$(lkg_files)" "1"
V1=$(agent hello | jget 'r["committed"]')
expect_eq "newest last-known-good is v1" "$(newest_lkg_version)" "$V1"
V2=$(agent upload "{\"zones\":[{\"file\":\"v2.zone\",\"text\":$(zt 2)}]}" | jget 'r["version"]')
agent publish "{\"version\":\"$V2\"}" >/dev/null
expect_eq "commit v2" "$(agent commit "{\"version\":\"$V2\"}" | jget 'r["ok"]')" "True"
expect_eq "newest last-known-good is v2" "$(newest_lkg_version)" "$V2"
NEWEST=$(newest_lkg)
stop_edgedns KILL

start_node after-kill || exit 1
expect_eq "after kill -9, same flags: the committed v2 is served" "$(www)" "v2.swap.test."
expect_eq "after kill -9: committed is v2" "$(agent hello | jget 'r["committed"]')" "$V2"
expect_eq "after kill -9: no new last-known-good file" "$(newest_lkg)" "$NEWEST"
expect_eq "after kill -9: newest last-known-good is still v2" "$(newest_lkg_version)" "$V2"
if grep -q "the --zone set was not used" "$LOG"; then
  pass "log: $(grep -m1 "the --zone set was not used" "$LOG")"
else
  fail "no log line saying the --zone set was not used"; edgedns_log_tail
fi
stop_edgedns TERM

# The operator edits the zone file: still v2 (the control plane owns the node).
write_zone 3 "$ZONE"
start_node after-edit || exit 1
expect_eq "after a clean stop and a zone file edit: v2 is served" "$(www)" "v2.swap.test."
expect_eq "after the edit: newest last-known-good is still v2" "$(newest_lkg_version)" "$V2"
stop_edgedns TERM

start_node forced --force-zone || exit 1
expect_eq "--force-zone: the zone file (v3) is served" "$(www)" "v3.swap.test."
V3=$(agent hello | jget 'r["committed"]')
expect_eq "--force-zone: newest last-known-good is the zone file's version" "$(newest_lkg_version)" "$V3"
stop_edgedns KILL

start_node after-force || exit 1
expect_eq "after --force-zone, same flags again: v3 (the newest last-known-good)" "$(www)" "v3.swap.test."
stop_edgedns TERM

# Nothing good left: the zone file is the bootstrap again, and is written.
for f in "$STATE"/lkg-*.edz; do truncate -s 30 "$f"; done
write_zone 4 "$ZONE"
start_node no-good-lkg || exit 1
expect_eq "no good last-known-good: the zone file (v4) is served" "$(www)" "v4.swap.test."
V4=$(agent hello | jget 'r["committed"]')
expect_eq "no good last-known-good: the zone file is written as the newest" "$(newest_lkg_version)" "$V4"
stop_edgedns TERM

harness_summary agent_zone_restart
