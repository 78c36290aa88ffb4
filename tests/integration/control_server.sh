#!/usr/bin/env bash
# The node protocol's one server (proto/) in the real processes:
#   1. a regular file at `edgectl serve --socket` is refused (non-zero exit,
#      an error naming the path) and left intact;
#   2. 10,000 `edgectl status` in a row against one `edgectl serve` (each a
#      connection to the daemon, and from it one to the node, here the test
#      fake node): the daemon's and the node's open fds (/proc/PID/fd) and
#      threads (/proc/PID/task) are the same before and after;
#   3. clients that announce a 512 MiB frame and send 10 bytes, to the daemon
#      and to a real edgedns node agent (--control): neither RSS rises by
#      more than a few MB, and each connection is dropped after the frame
#      timeout (30 s) while the servers keep answering.
# edgedns runs in a network namespace of its own on a null port (net_null):
# nothing is sent anywhere. Usage: tests/integration/control_server.sh (root).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/scripts/lib.sh"
EDGECTL=$EDGEDNS_BUILD_DIR/control/edgectl
EDGEDNS=$EDGEDNS_BUILD_DIR/dataplane/edgedns
FAKE=$EDGEDNS_BUILD_DIR/tests/fake_node
CS=$ROOT/tests/integration/lib/control_server.py
for b in "$EDGECTL" "$EDGEDNS" "$FAKE"; do [ -x "$b" ] || { echo "FAIL: $b not built"; exit 1; }; done
[ "$(id -u)" = 0 ] || { echo "FAIL: needs root (network namespace)"; exit 1; }

STATUS_CALLS=${STATUS_CALLS:-10000}
# Slack for what the kernel or libc may open lazily; a leak is one fd and one
# thread per call, thousands here.
FD_SLACK=2
TASK_SLACK=1
RSS_SLACK_KIB=$((8 * 1024))

TMP=$(mktemp -d /tmp/ecs.XXXXXX)
NS=ecs-$$
NODE_SOCK=$TMP/node.sock
CTL_SOCK=$TMP/ctl.sock
AGENT_SOCK=$TMP/agent.sock
FAKE_PID= SERVE_PID= DP_PID=
FAILS=0

log() { echo "[$(date +%T)] $*"; }
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
pass() { echo "ok: $*"; }
cleanup() {
  stop_process "$SERVE_PID"
  stop_process "$FAKE_PID"
  stop_process "$DP_PID"
  ip netns del "$NS" 2>/dev/null || true
  rm -rf /var/run/dpdk/ecs$$ "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

count() { find "/proc/$1/$2" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
rss_kib() { "$PY" "$CS" rss "$1"; }
wait_socket() {  # SOCK PID LOG
  for _ in $(seq 150); do
    [ -S "$1" ] && return 0
    kill -0 "$2" 2>/dev/null || break
    sleep 0.2
  done
  fail "no socket at $1"
  sed 's/^/    | /' "$3"
  return 1
}

cat >"$TMP/cs.zone" <<'Z'
$ORIGIN cs.test.
$TTL 300
@    SOA ns1 hostmaster 1 3600 600 86400 300
@    NS  ns1
ns1  A   198.18.0.53
www  A   198.18.0.80
Z

"$FAKE" edge-1 "$NODE_SOCK" "$TMP/cs.zone" >"$TMP/fake.log" 2>&1 &
FAKE_PID=$!
wait_socket "$NODE_SOCK" "$FAKE_PID" "$TMP/fake.log" || exit 1
cat >"$TMP/fleet.yaml" <<EOF
nodes:
  - name: edge-1
    control: $NODE_SOCK
    probe: 127.0.0.1
EOF

# ---- 1. a regular file at --socket
log "case: a regular file at --socket"
printf 'not a socket\n' >"$TMP/file"
set +e
timeout 30 "$EDGECTL" serve --fleet "$TMP/fleet.yaml" --state-dir "$TMP/state-file" \
  --socket "$TMP/file" >"$TMP/file.out" 2>&1
rc=$?
set -e
sed 's/^/    | /' "$TMP/file.out"
[ "$rc" != 0 ] && [ "$rc" != 124 ] && pass "edgectl serve exits $rc" || fail "edgectl serve exit code $rc"
grep -q "$TMP/file exists and is not a socket" "$TMP/file.out" && pass "the error names the path" ||
  fail "no clear error naming $TMP/file"
[ -f "$TMP/file" ] && [ "$(cat "$TMP/file")" = "not a socket" ] && pass "the file is intact" ||
  fail "the file at --socket was changed or removed"

# ---- 2. many status calls: fds and threads stay flat
"$EDGECTL" serve --fleet "$TMP/fleet.yaml" --state-dir "$TMP/state" --socket "$CTL_SOCK" \
  >"$TMP/serve.log" 2>&1 &
SERVE_PID=$!
wait_socket "$CTL_SOCK" "$SERVE_PID" "$TMP/serve.log" || exit 1
log "case: $STATUS_CALLS edgectl status in a row"
status_once() { "$EDGECTL" status --socket "$CTL_SOCK" >"$TMP/status.out" 2>&1; }
for _ in 1 2 3; do status_once || true; done  # first-use allocations before the baseline
sleep 0.5
fd0=$(count "$SERVE_PID" fd) task0=$(count "$SERVE_PID" task)
nfd0=$(count "$FAKE_PID" fd) ntask0=$(count "$FAKE_PID" task)
echo "    before: edgectl serve $fd0 fds $task0 threads; node $nfd0 fds $ntask0 threads"
bad=0
start=$SECONDS
for _ in $(seq "$STATUS_CALLS"); do
  if ! status_once || ! grep -q "^node edge-1 (wave [0-9]*): committed" "$TMP/status.out"; then
    bad=$((bad + 1))
    [ "$bad" -le 3 ] && sed 's/^/    | /' "$TMP/status.out"
  fi
done
sleep 0.5  # the last connections' threads end after their replies
fd1=$(count "$SERVE_PID" fd) task1=$(count "$SERVE_PID" task)
nfd1=$(count "$FAKE_PID" fd) ntask1=$(count "$FAKE_PID" task)
echo "    after $((SECONDS - start)) s: edgectl serve $fd1 fds $task1 threads; node $nfd1 fds $ntask1 threads"
[ "$bad" = 0 ] && pass "$STATUS_CALLS status calls answered, the node up in each" ||
  fail "$bad of $STATUS_CALLS status calls failed"
[ "$fd1" -le $((fd0 + FD_SLACK)) ] && pass "edgectl serve fds flat ($fd0 -> $fd1)" ||
  fail "edgectl serve fds $fd0 -> $fd1"
[ "$task1" -le $((task0 + TASK_SLACK)) ] && pass "edgectl serve threads flat ($task0 -> $task1)" ||
  fail "edgectl serve threads $task0 -> $task1"
[ "$nfd1" -le $((nfd0 + FD_SLACK)) ] && pass "node fds flat ($nfd0 -> $nfd1)" || fail "node fds $nfd0 -> $nfd1"
[ "$ntask1" -le $((ntask0 + TASK_SLACK)) ] && pass "node threads flat ($ntask0 -> $ntask1)" ||
  fail "node threads $ntask0 -> $ntask1"

# ---- 3. 512 MiB announced, 10 bytes sent: the daemon and a real node
ip netns add "$NS"
ip netns exec "$NS" "$EDGEDNS" -l 0 --no-huge -m 256 --no-pci --file-prefix "ecs$$" \
  --vdev=net_null0 -- --listen 198.18.0.53 --zone "cs.test.=$TMP/cs.zone" \
  --control "$AGENT_SOCK" --idle-sleep >"$TMP/edgedns.log" 2>&1 &
DP_PID=$!
edgedns_up "$TMP/edgedns.log" "$DP_PID" "$AGENT_SOCK" || {
  fail "edgedns did not start"
  sed 's/^/    | /' "$TMP/edgedns.log"
  exit 1
}
log "case: 512 MiB announced and 10 bytes sent, 4 connections to each server"
status_once || true
"$PY" "$CS" calls "$AGENT_SOCK" 3 >/dev/null
srss0=$(rss_kib "$SERVE_PID") nrss0=$(rss_kib "$DP_PID")
"$PY" "$CS" bigframe 60 "$CTL_SOCK" "$CTL_SOCK" "$CTL_SOCK" "$CTL_SOCK" \
  "$AGENT_SOCK" "$AGENT_SOCK" "$AGENT_SOCK" "$AGENT_SOCK" >"$TMP/big.out" 2>&1 &
big=$!
for _ in $(seq 50); do grep -q '^sent' "$TMP/big.out" && break; sleep 0.1; done
sleep 3
srss1=$(rss_kib "$SERVE_PID") nrss1=$(rss_kib "$DP_PID")
echo "    RSS: edgectl serve $srss0 -> $srss1 KiB, edgedns $nrss0 -> $nrss1 KiB"
[ "$srss1" -le $((srss0 + RSS_SLACK_KIB)) ] && pass "edgectl serve RSS within 8 MiB" ||
  fail "edgectl serve RSS $srss0 -> $srss1 KiB"
[ "$nrss1" -le $((nrss0 + RSS_SLACK_KIB)) ] && pass "edgedns RSS within 8 MiB" ||
  fail "edgedns RSS $nrss0 -> $nrss1 KiB"
# Both keep serving others while the frames are pending.
status_once && pass "edgectl status answered meanwhile" || fail "edgectl status failed meanwhile"
"$PY" "$CS" calls "$AGENT_SOCK" 1 >/dev/null && pass "the node agent answered meanwhile" ||
  fail "the node agent did not answer meanwhile"
wait "$big" || true
sed 's/^/    | /' "$TMP/big.out"
dropped=$(awk '/dropped after/ { s = $(NF - 1); if (s >= 25 && s <= 45) n++ } END { print n + 0 }' "$TMP/big.out")
[ "$dropped" = 8 ] && pass "all 8 connections dropped after the 30 s frame timeout" ||
  fail "$dropped of 8 connections dropped between 25 and 45 s"
kill -0 "$SERVE_PID" && kill -0 "$DP_PID" && pass "both servers still running" || fail "a server died"

if [ "$FAILS" = 0 ]; then log "control_server.sh: all checks passed"; exit 0; fi
log "control_server.sh: $FAILS check(s) failed"
exit 1
