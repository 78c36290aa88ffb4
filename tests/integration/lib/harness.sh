# The harness of the scripts that bring up DPDK test hosts (sourced by
# tests/integration/*.sh, lib/agent_common.sh, lib/fleet_common.sh and the
# end-to-end benches): check lines and a failure count, a test host (two
# private network namespaces joined by a veth, edgedns on the server end)
# with its addresses, edgedns start/stop, its counters, cleanup on exit.
#
#   . tests/integration/lib/harness.sh
#   harness_init TAG NET        # names, addresses, $TMP, the exit traps
#   testhost_up [QUEUES]        # the namespaces, the veth, the client's addresses
#   start_edgedns NAME LCORES "$(vdev af_packet)" --listen "$SRV4" ...
#   ... checks: pass / fail / expect_eq ...
#   harness_summary SCRIPT-NAME # exit 0 when no check failed, else 1
#
# Addresses come from the ranges reserved for such networks: 198.18.0.0/15
# (RFC 2544) and 2001:db8::/32 (RFC 3849). Traffic stays inside the
# namespaces the script creates; everything is removed on exit.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
. "$ROOT/scripts/lib.sh"  # EDGEDNS, EDGECTL, PY, testhost_pair, edgedns_spawn, edgedns_up, ...

FAILS=0
log() { echo "[$(date +%T)] $*"; }
pass() { echo "ok: $*"; }
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
expect_eq() { if [ "$2" = "$3" ]; then pass "$1"; else fail "$1: got '$2', want '$3'"; fi; }  # WHAT GOT WANT
# jget EXPR: reads JSON on stdin, prints the python expression EXPR of it (r).
jget() { "$PY" -c "import json,sys; r=json.load(sys.stdin); print($1)"; }
indent() { sed 's/^/    | /'; }

# harness_need PROGRAM...: each is executable, and we are root; else FAIL and exit 1.
harness_need() {
  local p
  for p in "$@"; do [ -x "$p" ] || { echo "FAIL: $p not built"; exit 1; }; done
  [ "$(id -u)" = 0 ] || { echo "FAIL: needs root (network namespaces)"; exit 1; }
}

# harness_init TAG NET [--ipv4-only]: one test host's names, from TAG (a few
# letters) and the pid: namespaces $SRV and $CLI, veth ends $VS (edgedns's
# port) and $VC; addresses in 198.18.NET.0/24 and 2001:db8:NET::/64 (NET a
# number, one per script): $SRV4/$SRV6 the service (.53), $CLI4/$CLI6 the
# client (.2), $NET4/$NET6 the prefixes (--ipv4-only: no client IPv6
# address). $TMP, a fresh directory; the traps that clean everything up.
harness_init() {
  HARNESS_TAG=$1
  HARNESS_V6=1
  [ "${3:-}" = --ipv4-only ] && HARNESS_V6=0
  harness_need "$EDGEDNS"
  ID=$$
  SRV=$1-srv-$ID
  CLI=$1-cli-$ID
  VS=${1}s$ID
  VC=${1}c$ID
  NET4=198.18.$2.0/24
  SRV4=198.18.$2.53
  CLI4=198.18.$2.2
  NET6=2001:db8:$2::/64
  SRV6=2001:db8:$2::53
  CLI6=2001:db8:$2::2
  TMP=$(mktemp -d "/tmp/$1.XXXXXX")
  PID=
  LOG=
  HARNESS_BG=()
  trap harness_cleanup EXIT
  trap 'exit 130' INT TERM
}

# harness_bg PID: a background job of the script, stopped at exit.
harness_bg() { HARNESS_BG+=("$1"); }

# At exit: the script's own on_cleanup (when it defines one), background
# jobs, edgedns, the namespaces, the EAL runtime directories of our file
# prefixes, $TMP (kept with KEEP_TMP=1).
harness_cleanup() {
  local p
  if declare -F on_cleanup >/dev/null; then on_cleanup || true; fi
  for p in "${HARNESS_BG[@]}"; do { stop_process "$p"; } 2>/dev/null; done
  stop_edgedns
  teardown_net
  rm -rf /var/run/dpdk/"$HARNESS_TAG$ID"-*
  if [ "${KEEP_TMP:-0}" = 1 ]; then echo "kept $TMP"; else rm -rf "$TMP"; fi
}

teardown_net() {
  ip netns del "$SRV" 2>/dev/null || true
  ip netns del "$CLI" 2>/dev/null || true
  ip link del "$VS" 2>/dev/null || true
}

# testhost_up [QUEUES]: $SRV and $CLI joined by a veth of QUEUES queue
# pairs (scripts/lib.sh testhost_pair), the client's addresses on $VC.
testhost_up() {
  testhost_pair "$SRV" "$CLI" "$VS" "$VC" "${1:-1}" || return 1
  client_addrs "$VC"
}

# client_addrs IF: $CLI4 (and $CLI6) on IF in the client namespace.
client_addrs() {
  ip netns exec "$CLI" ip link set lo up
  ip netns exec "$CLI" ip link set "$1" up
  ip netns exec "$CLI" ip addr add "$CLI4/24" dev "$1"
  [ "$HARNESS_V6" = 0 ] || ip netns exec "$CLI" ip -6 addr add "$CLI6/64" dev "$1" nodad
}

# xdp_off: no XDP program left on the port (AF_XDP attaches its own).
xdp_off() { ip netns exec "$SRV" ip link set "$VS" xdp off 2>/dev/null || true; }

# vdev PMD [QUEUES]: the --vdev of the port $VS: af_packet (QUEUES socket
# pairs in a fanout group) or af_xdp (queue 0).
vdev() {
  case $1 in
    af_packet)
      if (("${2:-1}" > 1)); then echo "net_af_packet0,iface=$VS,qpairs=$2"; else echo "net_af_packet0,iface=$VS"; fi ;;
    af_xdp) echo "net_af_xdp0,iface=$VS,start_queue=0,queue_count=1" ;;
    *) echo "vdev: unknown PMD $1" >&2; return 1 ;;
  esac
}

# check_pmds PMD...: each is af_packet or af_xdp, else a usage error (exit 2).
check_pmds() {
  local v
  for v in "$@"; do
    case $v in af_packet | af_xdp) ;; *) echo "unknown variant $v (af_packet, af_xdp)"; exit 2 ;; esac
  done
}

# start_edgedns NAME LCORES VDEV [EDGEDNS-OPTIONS...]: edgedns in $SRV
# (scripts/lib.sh edgedns_spawn), its log $TMP/NAME.log in $LOG, its pid in
# $PID; waits until it serves and, given --control SOCK, SOCK is there.
# Returns 1 (a failed check, the log printed) when it does not come up.
start_edgedns() {
  local name=$1 lcores=$2 vdev=$3 a prev= sock=
  shift 3
  for a in "$@"; do
    [ "$prev" = --control ] && sock=$a
    prev=$a
  done
  LOG=$TMP/$name.log
  edgedns_spawn "$SRV" "$LOG" "$HARNESS_TAG$ID-$name" "$lcores" "$vdev" "$@"
  PID=$!
  edgedns_up "$LOG" "$PID" "$sock" && return 0
  fail "$name: edgedns did not start"
  indent <"$LOG"
  return 1
}

stop_edgedns() { stop_process "$PID" "${1:-TERM}"; PID=; }  # [SIGNAL]

# counters: the newest counter block of the running edgedns (SIGUSR1);
# lcore_counters: its per-lcore lines; counter LINES KEY: the first KEY=N
# in LINES, 0 when there is none.
counters() { edgedns_counters "$LOG" "$PID"; }
lcore_counters() { counters | grep "^counters lcore=" || true; }
counter() {
  # The digits as text: mawk would print a large number as 1.8e+11.
  awk -v k="$2=" '!f { for (i = 1; i <= NF; i++) if (index($i, k) == 1) { v = substr($i, length(k) + 1); f = 1; break } }
    END { sub(/[^0-9].*/, "", v); print v == "" ? 0 : v }' <<<"$1"
}

# wait_until SECONDS WHAT COMMAND...: polls COMMAND (every 0.2 s) until it
# succeeds: 0; after SECONDS of wall time a failed check "timed out waiting
# for: WHAT" and 1. For conditions, instead of fixed sleeps: give a loaded
# machine generous bounds, they cost nothing when it is not.
wait_until() {
  local secs=$1 what=$2 end
  shift 2
  end=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= end)); then
      fail "timed out waiting for: $what"
      return 1
    fi
    sleep 0.2
  done
}

# edgedns_log_tail [LOG [LINES]]: its last LINES (30) lines, counters left out, indented.
edgedns_log_tail() {
  { grep -v "^counters" "${1:-$LOG}" 2>/dev/null || true; } | tail -n "${2:-30}" | indent
}

# dnsperf_stat OUTPUT FIELD: "sent", "completed" or "lost" from dnsperf's report.
dnsperf_stat() { sed -n "s/.*Queries $2: *\([0-9]*\).*/\1/p" <<<"$1"; }

# run_variants FUNCTION VARIANT...: FUNCTION VARIANT for each, with a fresh
# test host each time (FUNCTION sets it up); a failing FUNCTION without a
# failed check counts as one; after failures the tail of edgedns's log;
# then edgedns stopped and the host torn down.
run_variants() {
  local fn=$1 v before rc
  shift
  for v in "$@"; do
    log "=== $v"
    before=$FAILS
    LOG=
    rc=0
    "$fn" "$v" || rc=$?
    ((rc == 0)) || [ "$FAILS" != "$before" ] || fail "$v: exit $rc"
    stop_edgedns
    if [ "$FAILS" != "$before" ] && [ -n "$LOG" ]; then
      echo "    --- edgedns log ($v) ---"
      edgedns_log_tail "$LOG"
    fi
    teardown_net
  done
}

# harness_summary NAME [WHAT]: the last line (tests/run_all.sh prints it)
# and the exit: 0 when no check failed, else 1.
harness_summary() {
  if [ "$FAILS" = 0 ]; then
    log "$1: all checks passed${2:+ ($2)}"
    exit 0
  fi
  log "$1: $FAILS check(s) failed"
  exit 1
}
