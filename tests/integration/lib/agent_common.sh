# Shared by tests/integration/agent_*.sh and bench/agent_*.sh (sourced): two
# private network namespaces joined by a veth, edgedns on the server end
# (net_af_packet, no kernel address) with --control, clients in the other.
# Sets ID, SRV, CLI, VS, VC, TMP, PID; the caller's `trap agent_cleanup EXIT`.
# Traffic stays inside the namespaces; everything is removed on exit.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
. "$ROOT/scripts/lib.sh"
EDGEDNS=${EDGEDNS:-$EDGEDNS_BUILD_DIR/dataplane/edgedns}
AGENT_PY="$ROOT/tests/integration/lib/agent_client.py"
[ -x "$EDGEDNS" ] || { echo "FAIL: $EDGEDNS not built"; exit 1; }
[ "$(id -u)" = 0 ] || { echo "FAIL: needs root (network namespaces)"; exit 1; }

ID=$$
SRV=eda-srv-$ID
CLI=eda-cli-$ID
VS=eas$ID
VC=eac$ID
SRV4=10.54.0.53
CLI4=10.54.0.2
TMP=$(mktemp -d /tmp/eda.XXXXXX)
SOCK=$TMP/control.sock
PID=
FAILS=0

log() { echo "[$(date +%T)] $*"; }
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
pass() { echo "ok: $*"; }
expect_eq() { if [ "$2" = "$3" ]; then pass "$1"; else fail "$1: got '$2', want '$3'"; fi; }

stop_edgedns() { stop_process "$PID" "${1:-TERM}"; PID=; }  # [SIGNAL] (scripts/lib.sh)

agent_cleanup() {
  stop_edgedns
  ip netns del "$SRV" 2>/dev/null || true
  ip netns del "$CLI" 2>/dev/null || true
  ip link del "$VS" 2>/dev/null || true
  rm -rf /var/run/dpdk/eda"$ID"-*
  rm -rf "$TMP"
}

# setup_veth QUEUES
setup_veth() {
  local q=$1
  testhost_pair "$SRV" "$CLI" "$VS" "$VC" "$q"  # scripts/lib.sh
  ip netns exec "$CLI" ip addr add "$CLI4/24" dev "$VC"
}

# start_edgedns NAME LCORES QUEUES EXTRA-ARGS...: edgedns with --control $SOCK.
# Returns 1 (after printing the log) when it does not come up.
start_edgedns() {
  local name=$1 lcores=$2 q=$3
  shift 3
  local vdev="net_af_packet0,iface=$VS"
  [ "$q" -gt 1 ] && vdev="$vdev,qpairs=$q"
  ip netns exec "$SRV" "$EDGEDNS" $lcores --no-huge -m 1024 --no-pci \
    --file-prefix "eda$ID-$name" --vdev="$vdev" -- \
    --listen "$SRV4" --control "$SOCK" --idle-sleep "$@" >"$TMP/$name.log" 2>&1 &
  PID=$!
  edgedns_up "$TMP/$name.log" "$PID" "$SOCK" && return 0  # scripts/lib.sh
  fail "$name: edgedns did not start"
  sed 's/^/    | /' "$TMP/$name.log"
  return 1
}

# agent CMD [JSON-ARGS]: one control call, the reply on stdout (JSON).
agent() { timeout 120 "$PY" "$AGENT_PY" "$SOCK" "$@"; }
# jget JSON-EXPR: reads a reply on stdin, prints the expression (python syntax on r).
jget() { "$PY" -c "import json,sys; r=json.load(sys.stdin); print($1)"; }

in_cli() { ip netns exec "$CLI" timeout 20 "$@"; }
