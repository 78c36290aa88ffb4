# Shared by tests/integration/control_*.sh that run real `edgectl serve` and
# CLI processes against test node agents (build/tests/fake_node; no DPDK, no
# root): check lines, a wait helper, a small zone, fake nodes, cleanup.
#   . tests/integration/lib/fake_fleet.sh TAG
# sets ROOT, TMP (/tmp/TAG.XXXXXX), FAKE; start_fake_node N ZONEFILE starts
# edge-N on $TMP/edge-N.sock (pid in N<N>, its UDP probe address in
# fake_probe N); stop at exit: $SERVE_PID, every fake node, $TMP.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
. "$ROOT/scripts/lib.sh"
FAKE=$EDGEDNS_BUILD_DIR/tests/fake_node
for b in "$EDGECTL" "$FAKE"; do [ -x "$b" ] || { echo "FAIL: $b not built"; exit 1; }; done

TMP=$(mktemp -d "/tmp/$1.XXXXXX")
SERVE_PID=
FAKE_PIDS=()
FAILS=0
log() { echo "[$(date +%T)] $*"; }
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
pass() { echo "ok: $*"; }
jget() { "$PY" -c "import json,sys; r=json.load(sys.stdin); print($1)"; }
fake_fleet_cleanup() {
  local p
  stop_process "$SERVE_PID"
  for p in "${FAKE_PIDS[@]}"; do stop_process "$p"; done
  rm -rf "$TMP"
}
trap fake_fleet_cleanup EXIT
trap 'exit 130' INT TERM

wait_for() {  # SECS WHAT CMD...
  local end=$((SECONDS + $1)) what=$2
  shift 2
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < end)) || { fail "timed out waiting for: $what"; return 1; }
    sleep 0.2
  done
}

fake_zone() {  # SERIAL WWW
  cat <<Z
\$ORIGIN cp.test.
\$TTL 300
@    SOA ns1 hostmaster $1 3600 600 86400 300
@    NS  ns1
ns1  A   198.18.0.53
www  A   $2
Z
}

start_fake_node() {  # N ZONEFILE
  rm -f "$TMP/edge-$1.sock"
  "$FAKE" "edge-$1" "$TMP/edge-$1.sock" "$2" >"$TMP/edge-$1.log" 2>&1 &
  eval "N$1=$!"
  FAKE_PIDS+=("$!")
  wait_for 30 "edge-$1 socket" test -S "$TMP/edge-$1.sock"
}
fake_probe() { head -1 "$TMP/edge-$1.log"; }

# fake_fleet_summary NAME: the result line; the serve log's tail on failure.
fake_fleet_summary() {
  if [ "$FAILS" = 0 ]; then
    log "$1: all checks passed"
    exit 0
  fi
  log "$1: $FAILS check(s) failed"
  sed 's/^/    serve | /' "$TMP/serve.log" | tail -30
  exit 1
}
