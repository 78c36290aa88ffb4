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
# Needs root. The test host comes from tests/integration/lib/harness.sh.
# Exits 0 when every check passed.
set -euo pipefail
. "$(dirname "$0")/lib/harness.sh"
harness_init etx 55
TAP=dnsx0          # edgedns's exception tap (default prefix), inside $SRV
NCPID=
STEP_TIMEOUT=15
CHECKS="$PY $ROOT/tests/integration/lib/tcp_checks.py"
on_cleanup() { stop_process "$NCPID"; }

# The zone: a few names, qN -> 198.51.100.N for the pipelining check, and a
# TXT RRset of ~4.5 KB (over 512 bytes and over the 1232 EDNS size).
{
  cat <<'EOF'
$ORIGIN example.test.
$TTL 3600
@       IN SOA ns1 hostmaster 2024010101 7200 3600 1209600 300
@       IN NS  ns1
ns1     IN A   198.18.55.53
www     IN A   192.0.2.1
www     IN AAAA 2001:db8::1
EOF
  for i in $(seq 0 199); do echo "q$i IN A 198.51.100.$((i % 256))"; done
  for i in $(seq 1 40); do
    printf 'big IN TXT "record %02d %s"\n' "$i" "$(printf 'x%.0s' $(seq 90))"
  done
} >"$TMP/example.zone"

in_cli() { bounded "$STEP_TIMEOUT" ip netns exec "$CLI" "$@"; }  # scripts/lib.sh: TERM, then KILL
in_srv() { bounded "$STEP_TIMEOUT" ip netns exec "$SRV" "$@"; }

# tcp_check NAME WHAT PASSED CHECK ARGS...: one check of lib/tcp_checks.py
# from the client; it passes on "RESULT OK" (the line says PASSED, else
# the check's first line), else WHAT failed and its output is shown.
tcp_check() {
  local name=$1 what=$2 passed=$3 out
  shift 3
  out=$(in_cli $CHECKS "$@" 2>&1 || true)
  if grep -q "RESULT OK" <<<"$out"; then
    pass "$name: ${passed:-$(sed -n 1p <<<"$out")}"
  else
    fail "$name: $what"
    indent <<<"$out"
  fi
}

setup_net() {
  testhost_up || return 1
  kernel_ignores_port "$SRV" "$VS"  # the port is edgedns's alone (scripts/lib.sh)
  xdp_off
}

# serve NAME VDEV: edgedns in the server namespace; then the routes the
# kernel side needs to reach the clients (the operator's part: edgedns puts
# only the service addresses on the tap).
serve() {
  local name=$1 vdev=$2
  start_edgedns "$name" "-l 1" "$vdev" --listen "$SRV4" --listen "$SRV6" --zone "$TMP/example.zone" \
    --idle-sleep --tcp-max-per-client 4 --tcp-idle-timeout-ms 1000 || return 1
  ip netns exec "$SRV" ip route add "$NET4" dev "$TAP"
  ip netns exec "$SRV" ip -6 route add "$NET6" dev "$TAP"
  grep "^edgedns:" "$LOG" | sed 's/^/    /'
  ip netns exec "$SRV" ip -br addr show "$TAP" | sed 's/^/    kernel side: /'
}

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
  else fail "$name: UDP without EDNS: no TC"; sed -n 1,20p <<<"$out" | indent; fi
  out=$(in_cli dig +noedns +tries=1 +time=3 @"$SRV4" big.example.test TXT 2>&1 || true)
  n=$(grep -c 'IN[[:space:]]*TXT[[:space:]]*"record' <<<"$out" || true)
  if grep -q "Truncated, retrying in TCP mode" <<<"$out" && [ "$n" = 40 ]; then
    pass "$name: dig retried over TCP after TC and shows all 40 records"
  else
    fail "$name: dig TC -> TCP retry: $n records"; sed -n 1,20p <<<"$out" | indent
  fi

  # Pipelining, limits, idle timeout, a malformed message.
  out=$(in_cli $CHECKS pipeline "$SRV4" 100 2>&1 || true)
  tcp_check "$name" "pipelining" "" pipeline "$SRV4" 100
  tcp_check "$name" "pipelining over IPv6" "IPv6: 100 pipelined queries answered on one connection" pipeline "$SRV6" 100
  tcp_check "$name" "per-client limit" "per-client limit 4: 5th closed, 4 answered" per-client "$SRV4" 4
  tcp_check "$name" "idle timeout" "idle connections closed by the server" idle "$SRV4"
  tcp_check "$name" "malformed" "a QR=1 message closes its connection after the answer before it" malformed "$SRV6"

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
  for _ in $(seq 100); do ip netns exec "$SRV" ss -ltn | has_line ":8053" && break; sleep 0.1; done
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
  lines=$(counters)
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
  c=$(grep -m1 "^counters lcore=" <<<"$lines" || true)
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
  # One worker lcore: its line is the first.
  before=$(lcore_counters | first_line)
  STEP_TIMEOUT=300 tcp_check "$name" "many connections" "" many "$SRV4" 1500
  after=$(lcore_counters | first_line)
  b=$(counter "$before" from_kernel); a=$(counter "$after" from_kernel)
  if [ -n "$before" ] && [ -n "$after" ] && [ $((a - b)) -ge 5000 ]; then
    pass "$name: $((a - b)) kernel frames sent through the port (>= 5000)"
  else
    fail "$name: kernel frames through the port: ${b:-?} -> ${a:-?}, want >= 5000 more"
  fi
  out=$(in_cli dig +tries=1 +time=2 +short @"$SRV4" www.example.test A 2>&1 || true)
  expect_eq "$name: UDP still answered after the kernel-path volume" "$out" "192.0.2.1"
  out=$(in_cli dig +tcp +tries=1 +time=2 +short @"$SRV4" www.example.test A 2>&1 || true)
  expect_eq "$name: TCP still answered after the kernel-path volume" "$out" "192.0.2.1"
  grep "^counters exception" <<<"$(counters)" | sed 's/^/    /' || true
}

variant() {
  local v=$1
  setup_net || return 1
  serve "$v" "$(vdev "$v")" || return 1
  checks "$v"
  volume "$v"
  stop_process "$NCPID"; NCPID=
  stop_edgedns
  grep -q "edgedns: SIGTERM, stopping" "$LOG" || fail "$v: no clean stop"
}
variants=("$@")
[ ${#variants[@]} -gt 0 ] || variants=(af_packet af_xdp)
check_pmds "${variants[@]}"
run_variants variant "${variants[@]}"
harness_summary tcp_exception "${variants[*]}"
