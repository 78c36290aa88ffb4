#!/usr/bin/env bash
# The node control socket under hostile clients: the socket is
# owner-only (mode 0600, owned by the service user, the state directory
# 0700); a non-root uid is refused both by the file mode and, with the mode
# opened up on purpose, by the agent's SO_PEERCRED check; oversized,
# truncated and malformed frames are rejected and change nothing (status
# identical before and after, DNS answers unchanged); no command reads or
# writes outside the state directory ($INCLUDE refused, path-like version and
# file names inert).
#
# Usage: tests/integration/hostile_control.sh    (root; uses setpriv for uid 65534)
set -euo pipefail

. "$(dirname "$0")/lib/agent_common.sh"

HC="$ROOT/tests/integration/lib/hostile_control.py"
STATE=$TMP/state
command -v setpriv >/dev/null || { echo "FAIL: setpriv (util-linux) missing"; exit 1; }

dig_www() { in_cli dig +tries=2 +time=2 +short @"$SRV4" static.swap.test A 2>&1 || true; }

setup_veth 1
write_zone 1 "$TMP/zone"
start_edgedns_agent hc "-l 1" 1 --zone "swap.test.=$TMP/zone" --state-dir "$STATE" || exit 1

# ---- ownership and modes
mode=$(stat -c '%a %u %F' "$SOCK")
expect_eq "control socket mode, owner, type" "$mode" "600 $(id -u) socket"
expect_eq "state directory mode" "$(stat -c '%a' "$STATE")" "700"
expect_eq "dig before" "$(dig_www)" "192.0.2.1"

before=$("$PY" "$HC" "$SOCK" snapshot)
echo "    status before: $before"

# ---- a non-root uid: refused by the mode (the socket's directory is
# traversable for this check), then by SO_PEERCRED with the mode opened up.
chmod 0711 "$TMP"
out=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$PY" "$HC" "$SOCK" refused 2>&1) && rc=0 || rc=$?
sed 's/^/    /' <<<"$out"
[ "$rc" = 0 ] && grep -q "permission denied" <<<"$out" && pass "uid 65534 refused by the socket mode" ||
  fail "uid 65534 with mode 0600: $out"
chmod 0666 "$SOCK"
out=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$PY" "$HC" "$SOCK" refused 2>&1) && rc=0 || rc=$?
sed 's/^/    /' <<<"$out"
[ "$rc" = 0 ] && grep -q "peer-credential" <<<"$out" && pass "uid 65534 refused by SO_PEERCRED (socket opened to 0666)" ||
  fail "uid 65534 with mode 0666: $out"
chmod 0600 "$SOCK"
chmod 0700 "$TMP"

# ---- garbage, oversized and truncated frames
out=$(timeout 300 "$PY" "$HC" "$SOCK" garbage 2>&1) && rc=0 || rc=$?
sed 's/^/    /' <<<"$out"
[ "$rc" = 0 ] && pass "garbage: every frame rejected, agent alive ($(grep -c '^ok ' <<<"$out") checks)" ||
  fail "garbage: $rc failure(s)"
kill -0 "$PID" 2>/dev/null && pass "edgedns still running" || fail "edgedns died"

# ---- escapes from the state directory
out=$(timeout 120 "$PY" "$HC" "$SOCK" escape "$STATE" 2>&1) && rc=0 || rc=$?
sed 's/^/    /' <<<"$out"
[ "$rc" = 0 ] && pass "escape: \$INCLUDE and path-like names refused" || fail "escape: $rc failure(s)"
probe=$(sed -n 's/^probe //p' <<<"$out")
[ -n "$probe" ] && [ ! -e "$probe" ] && pass "no file created at $probe" || fail "file at '$probe'"
# Nothing but last-known-good files in the state directory.
other=$(find "$STATE" -mindepth 1 ! -name 'lkg-*.edz' -print)
[ -z "$other" ] && pass "state directory holds only lkg-*.edz ($(ls "$STATE" | tr '\n' ' '))" ||
  fail "state directory has other files: $other"

# ---- nothing changed
after=$("$PY" "$HC" "$SOCK" snapshot)
expect_eq "status unchanged after the hostile clients" "$after" "$before"
expect_eq "dig after" "$(dig_www)" "192.0.2.1"
health=$(agent health | jget 'r["ok"] and r["healthy"]')
expect_eq "health after" "$health" "True"
# And the socket still works for its owner: a real update goes through.
v=$("$PY" - "$SOCK" "$ROOT" <<'EOF'
import sys
sys.path.insert(0, sys.argv[2] + "/tests/integration/lib")
from agent_client import Agent, zone_text
a = Agent(sys.argv[1])
v = a.ok("upload", zones=[{"file": "z", "text": zone_text(2).replace("192.0.2.1", "192.0.2.2")}])["version"]
a.ok("publish", version=v)
a.ok("commit", version=v)
print(v)
EOF
)
expect_eq "owner's update served after the abuse" "$(dig_www)" "192.0.2.2"

[ "$FAILS" = 0 ] || tail -20 "$LOG" | indent
harness_summary hostile_control
