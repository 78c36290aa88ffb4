#!/usr/bin/env bash
# DNS over TCP and the kernel exception path, end to end in two private
# network namespaces joined by a veth. edgedns owns the server end (net_af_packet
# or net_af_xdp, one lcore, --idle-sleep) and creates its exception tap (dnsx0)
# in the server namespace with the service addresses; the kernel there runs
# edgedns's TCP listeners and an ordinary TCP service (nc).
#
# Checks: dig +tcp / kdig +tcp over IPv4 and IPv6; a large RRset over UDP
# without EDNS gets TC and plain dig then retries over TCP and shows all of
# it; 100 pipelined queries on one connection all answered; per-client limit,
# idle timeout, a malformed message closing its connection; ping through the
# lcore and from the host's kernel through the exception path; nc to a host
# TCP service on the service address both ways; the counters per transport;
# then 1,500 connections (>= 5,000 kernel frames out through the port) after
# which UDP and TCP must still answer.
#
# Usage: tests/integration/tcp_exception.sh [af_packet|af_xdp ...] (default: af_packet af_xdp)
#   EDGEDNS=path/to/edgedns (default: $EDGEDNS_BUILD_DIR/dataplane/edgedns, see scripts/lib.sh)
# Needs root. Traffic stays inside the namespaces it creates; everything is
# removed on exit. Exits 0 when every check passed.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/scripts/lib.sh"  # EDGEDNS_BUILD_DIR, PY
EDGEDNS=${EDGEDNS:-$EDGEDNS_BUILD_DIR/dataplane/edgedns}
[ -x "$EDGEDNS" ] || { echo "FAIL: $EDGEDNS not built"; exit 1; }
[ "$(id -u)" = 0 ] || { echo "FAIL: needs root (network namespaces)"; exit 1; }

ID=$$
SRV=etx-srv-$ID
CLI=etx-cli-$ID
VS=ets$ID
VC=etc$ID
TAP=dnsx0          # edgedns's exception tap (default prefix), inside $SRV
SRV4=10.55.0.53
CLI4=10.55.0.2
SRV6=fd55::53
CLI6=fd55::2
TMP=$(mktemp -d /tmp/etx.XXXXXX)
PID=
NCPID=
FAILS=0
STEP_TIMEOUT=15
CHECKS="$PY $ROOT/tests/integration/lib/tcp_checks.py"

log() { echo "[$(date +%T)] $*"; }
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
pass() { echo "ok: $*"; }


teardown() {
  stop_process "$NCPID"; NCPID=
  stop_process "$PID"; PID=
  ip netns del "$SRV" 2>/dev/null || true
  ip netns del "$CLI" 2>/dev/null || true
  ip link del "$VS" 2>/dev/null || true
  rm -rf /var/run/dpdk/etx"$ID"-*
}
cleanup() { teardown; rm -rf "$TMP"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# The zone: a few names, qN -> 198.51.100.N for the pipelining check, and a
# TXT RRset of ~4.5 KB (over 512 bytes and over the 1232 EDNS size).
{
  cat <<'EOF'
$ORIGIN example.test.
$TTL 3600
@       IN SOA ns1 hostmaster 2024010101 7200 3600 1209600 300
@       IN NS  ns1
ns1     IN A   10.55.0.53
www     IN A   192.0.2.1
www     IN AAAA 2001:db8::1
EOF
  for i in $(seq 0 199); do echo "q$i IN A 198.51.100.$((i % 256))"; done
  for i in $(seq 1 40); do
    printf 'big IN TXT "record %02d %s"\n' "$i" "$(printf 'x%.0s' $(seq 90))"
  done
} >"$TMP/example.zone"

in_cli() { ip netns exec "$CLI" timeout "$STEP_TIMEOUT" "$@"; }
in_srv() { ip netns exec "$SRV" timeout "$STEP_TIMEOUT" "$@"; }

setup_net() {
  testhost_pair "$SRV" "$CLI" "$VS" "$VC"  # scripts/lib.sh
  kernel_ignores_port "$SRV" "$VS"  # the port is edgedns's alone (scripts/lib.sh)
  ip netns exec "$SRV" ip link set "$VS" xdp off 2>/dev/null || true
  ip netns exec "$CLI" ip addr add "$CLI4/24" dev "$VC"
  ip netns exec "$CLI" ip -6 addr add "$CLI6/64" dev "$VC" nodad
}

# start_edgedns NAME VDEV: edgedns in the server namespace; then the routes
# the kernel side needs to reach the clients (the operator's part: edgedns
# puts only the service addresses on the tap).
start_edgedns() {
  local name=$1 vdev=$2
  ip netns exec "$SRV" "$EDGEDNS" -l 1 --no-huge -m 1024 --no-pci --file-prefix "etx$ID-$name" \
    --vdev="$vdev" -- --listen "$SRV4" --listen "$SRV6" --zone "$TMP/example.zone" --idle-sleep \
    --tcp-max-per-client 4 --tcp-idle-timeout-ms 1000 >"$TMP/$name.log" 2>&1 &
  PID=$!
  if ! edgedns_up "$TMP/$name.log" "$PID"; then  # scripts/lib.sh
    fail "$name: edgedns did not start"; sed 's/^/    | /' "$TMP/$name.log"; return 1
  fi
  ip netns exec "$SRV" ip route add 10.55.0.0/24 dev "$TAP"
  ip netns exec "$SRV" ip -6 route add fd55::/64 dev "$TAP"
  grep "^edgedns:" "$TMP/$name.log" | sed 's/^/    /'
  ip netns exec "$SRV" ip -br addr show "$TAP" | sed 's/^/    kernel side: /'
}

counters() { edgedns_counters "$TMP/$1.log" "$PID"; }  # the newest block (scripts/lib.sh)
counter() { sed -n "s/.* $2=\([0-9]*\).*/\1/p" <<<"$1" | head -1; }

expect_eq() { if [ "$2" = "$3" ]; then pass "$1"; else fail "$1: got '$2', want '$3'"; fi; }

checks() {
  local name=$1 out n
  # Full answers over TCP, both families, both clients.
  out=$(in_cli dig +tcp +tries=1 +time=3 +short @"$SRV4" www.example.test A 2>&1 || true)
  expect_eq "$name: dig +tcp A over IPv4" "$out" "192.0.2.1"
  out=$(in_cli dig +tcp +tries=1 +time=3 +short @"$SRV6" www.example.test AAAA 2>&1 || true)
  expect_eq "$name: dig +tcp AAAA over IPv6" "$out" "2001:db8::1"
  out=$(in_cli kdig +tcp +retry=0 +timeout=3 +short @"$SRV4" big.example.test TXT 2>&1 || true)
  n=$(grep -c '^"record' <<<"$out" || true)
  expect_eq "$name: kdig +tcp big TXT over IPv4: records" "$n" 40
  out=$(in_cli kdig +tcp +retry=0 +timeout=3 +short @"$SRV6" big.example.test TXT 2>&1 || true)
  n=$(grep -c '^"record' <<<"$out" || true)
  expect_eq "$name: kdig +tcp big TXT over IPv6: records" "$n" 40

  # UDP without EDNS: TC (answered by the lcore); dig then retries over TCP.
  out=$(in_cli dig +noedns +ignore +tries=1 +time=3 @"$SRV4" big.example.test TXT 2>&1 || true)
  if grep -q "flags: qr aa tc" <<<"$out"; then pass "$name: UDP without EDNS: TC set"
  else fail "$name: UDP without EDNS: no TC"; sed 's/^/    | /' <<<"$out" | head -20; fi
  out=$(in_cli dig +noedns +tries=1 +time=3 @"$SRV4" big.example.test TXT 2>&1 || true)
  n=$(grep -c 'IN[[:space:]]*TXT[[:space:]]*"record' <<<"$out" || true)
  if grep -q "Truncated, retrying in TCP mode" <<<"$out" && [ "$n" = 40 ]; then
    pass "$name: dig retried over TCP after TC and shows all 40 records"
  else
    fail "$name: dig TC -> TCP retry: $n records"; sed 's/^/    | /' <<<"$out" | head -20
  fi

  # Pipelining, limits, idle timeout, a malformed message.
  out=$(in_cli $CHECKS pipeline "$SRV4" 100 2>&1 || true)
  grep -q "RESULT OK" <<<"$out" && pass "$name: $(head -1 <<<"$out")" ||
    { fail "$name: pipelining"; sed 's/^/    | /' <<<"$out"; }
  out=$(in_cli $CHECKS pipeline "$SRV6" 100 2>&1 || true)
  grep -q "RESULT OK" <<<"$out" && pass "$name: IPv6 $(head -1 <<<"$out")" ||
    { fail "$name: pipelining over IPv6"; sed 's/^/    | /' <<<"$out"; }
  out=$(in_cli $CHECKS per-client "$SRV4" 4 2>&1 || true)
  grep -q "RESULT OK" <<<"$out" && pass "$name: per-client limit 4: 5th closed, 4 answered" ||
    { fail "$name: per-client limit"; sed 's/^/    | /' <<<"$out"; }
  out=$(in_cli $CHECKS idle "$SRV4" 2>&1 || true)
  grep -q "RESULT OK" <<<"$out" && pass "$name: idle connections closed by the server" ||
    { fail "$name: idle timeout"; sed 's/^/    | /' <<<"$out"; }
  out=$(in_cli $CHECKS malformed "$SRV6" 2>&1 || true)
  grep -q "RESULT OK" <<<"$out" && pass "$name: a QR=1 message closes its connection after the answer before it" ||
    { fail "$name: malformed"; sed 's/^/    | /' <<<"$out"; }

  # Echo by the lcore, and the host kernel's own ping through the exception
  # path (its ARP/ND for the client and the echo replies come back that way).
  in_cli ping -c 2 -i 0.2 -W 2 "$SRV4" >/dev/null 2>&1 && pass "$name: ping $SRV4" || fail "$name: ping $SRV4"
  in_cli ping -6 -c 2 -i 0.2 -W 2 "$SRV6" >/dev/null 2>&1 && pass "$name: ping -6 $SRV6" || fail "$name: ping -6"
  in_srv ping -c 2 -i 0.2 -W 2 -I "$SRV4" "$CLI4" >/dev/null 2>&1 &&
    pass "$name: the host kernel pings the client through the exception path" ||
    fail "$name: kernel ping through the exception path"
  in_srv ping -6 -c 2 -i 0.2 -W 2 -I "$SRV6" "$CLI6" >/dev/null 2>&1 &&
    pass "$name: the host kernel pings the client over IPv6" ||
    fail "$name: kernel ping -6 through the exception path"

  # An ordinary TCP service of the host, on the service address.
  echo "hello from the host" >"$TMP/nc-out"
  ip netns exec "$SRV" timeout 20 nc -l -N "$SRV4" 8053 <"$TMP/nc-out" >"$TMP/nc-in" 2>/dev/null &
  NCPID=$!
  for _ in $(seq 50); do ip netns exec "$SRV" ss -ltn | grep -q ":8053" && break; sleep 0.1; done
  out=$(echo "hello from the client" | in_cli nc -N -w 5 "$SRV4" 8053 2>&1 || true)
  wait "$NCPID" 2>/dev/null || true
  NCPID=
  if [ "$out" = "hello from the host" ] && [ "$(cat "$TMP/nc-in")" = "hello from the client" ]; then
    pass "$name: nc to a host TCP service on $SRV4:8053, both directions"
  else
    fail "$name: nc: client got '$out', host got '$(cat "$TMP/nc-in")'"
  fi

  # Counters per transport and of the exception path.
  local c lines
  lines=$(counters "$name")
  sed 's/^/    /' <<<"$lines"
  c=$(grep "^counters tcp" <<<"$lines" || true)
  [ "$(counter "$c" queries)" -ge 200 ] 2>/dev/null && [ "$(counter "$c" refused_client)" -ge 1 ] &&
    [ "$(counter "$c" timed_out)" -ge 1 ] && [ "$(counter "$c" malformed)" -ge 1 ] &&
    pass "$name: tcp counters (queries >= 200, refused_client, timed_out, malformed)" ||
    fail "$name: tcp counters: $c"
  c=$(grep "^counters udp" <<<"$lines" || true)
  [ "$(counter "$c" truncated)" -ge 2 ] 2>/dev/null && pass "$name: udp counters (truncated >= 2)" ||
    fail "$name: udp counters: $c"
  c=$(grep "^counters exception" <<<"$lines" || true)
  [ "$(counter "$c" to_tap)" -gt 0 ] 2>/dev/null && [ "$(counter "$c" from_tap)" -gt 0 ] &&
    pass "$name: exception path counters (to_tap, from_tap > 0)" || fail "$name: exception counters: $c"
  c=$(grep "^counters lcore=" <<<"$lines" | head -1 || true)
  [ "$(counter "$c" to_kernel)" -gt 0 ] 2>/dev/null && [ "$(counter "$c" from_kernel)" -gt 0 ] &&
    pass "$name: lcore to_kernel/from_kernel > 0" || fail "$name: lcore counters: $c"
}

# Volume through the kernel path: 1,500 TCP connections of one query each make
# the kernel send >= 5,000 frames out through the port (SYN-ACK, ACKs, answer,
# FIN). On net_af_xdp this used to stall the port's transmit after ~1,500
# kernel frames (mbufs past the AF_XDP umem; see create_pool in
# dataplane/port.cc); afterwards UDP and TCP must still answer at once.
volume() {
  local name=$1 before after b a out
  before=$(counters "$name" | grep "^counters lcore=" | head -1)
  out=$(ip netns exec "$CLI" timeout 300 $CHECKS many "$SRV4" 1500 2>&1 || true)
  grep -q "RESULT OK" <<<"$out" && pass "$name: $(head -1 <<<"$out")" ||
    { fail "$name: many connections"; sed 's/^/    | /' <<<"$out"; }
  after=$(counters "$name" | grep "^counters lcore=" | head -1)
  b=$(counter "$before" from_kernel); a=$(counter "$after" from_kernel)
  if [ -n "$a" ] && [ -n "$b" ] && [ $((a - b)) -ge 5000 ]; then
    pass "$name: $((a - b)) kernel frames sent through the port (>= 5000)"
  else
    fail "$name: kernel frames through the port: ${b:-?} -> ${a:-?}, want >= 5000 more"
  fi
  out=$(in_cli dig +tries=1 +time=2 +short @"$SRV4" www.example.test A 2>&1 || true)
  expect_eq "$name: UDP still answered after the kernel-path volume" "$out" "192.0.2.1"
  out=$(in_cli dig +tcp +tries=1 +time=2 +short @"$SRV4" www.example.test A 2>&1 || true)
  expect_eq "$name: TCP still answered after the kernel-path volume" "$out" "192.0.2.1"
  grep "^counters exception" <<<"$(counters "$name")" | sed 's/^/    /'
}

variants=("$@")
[ ${#variants[@]} -gt 0 ] || variants=(af_packet af_xdp)
for v in "${variants[@]}"; do
  log "=== $v"
  before=$FAILS
  setup_net
  case $v in
    af_packet) vdev="net_af_packet0,iface=$VS" ;;
    af_xdp) vdev="net_af_xdp0,iface=$VS,start_queue=0,queue_count=1" ;;
    *) echo "unknown variant $v"; exit 2 ;;
  esac
  if start_edgedns "$v" "$vdev"; then checks "$v"; volume "$v"; fi
  stop_process "$PID"; PID=
  if ! grep -q "edgedns: SIGTERM, stopping" "$TMP/$v.log" 2>/dev/null; then fail "$v: no clean stop"; fi
  if [ "$FAILS" != "$before" ]; then
    echo "    --- edgedns log ($v) ---"
    grep -v "^counters" "$TMP/$v.log" | tail -30 | sed 's/^/    | /' || true
  fi
  teardown
done
if [ "$FAILS" = 0 ]; then log "tcp_exception: all checks passed (${variants[*]})"; exit 0; fi
log "tcp_exception: $FAILS check(s) failed"
exit 1
