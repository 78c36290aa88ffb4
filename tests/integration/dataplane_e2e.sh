#!/usr/bin/env bash
# End-to-end test of edgedns with real clients, in two private network
# namespaces joined by a veth (or a tap for net_tap). edgedns owns the server
# end with no kernel address: ARP, ND, ICMP echo and DNS are all answered by
# it. Variants: net_af_packet, net_af_xdp, net_tap (1 worker lcore each), and
# net_af_packet on a 2-queue veth with 2 worker lcores (both must answer).
#
# Usage: tests/integration/dataplane_e2e.sh [variant...]
#   variants: af_packet af_xdp tap af_packet_2q (default: all, in that order)
#   EDGEDNS=path/to/edgedns (default: $EDGEDNS_BUILD_DIR/dataplane/edgedns, see scripts/lib.sh)
# Needs root. The test host comes from tests/integration/lib/harness.sh.
# Exits 0 when every check of every variant passed.
set -euo pipefail
. "$(dirname "$0")/lib/harness.sh"
harness_init edt 53
TAP=edt$ID         # tap created by net_tap
STEP_TIMEOUT=10    # seconds any single client command may take

# The zone the checks compare against.
cat >"$TMP/example.zone" <<'EOF'
$ORIGIN example.test.
$TTL 3600
@       IN SOA ns1 hostmaster 2024010101 7200 3600 1209600 300
@       IN NS  ns1
ns1     IN A   198.18.53.53
ns1     IN AAAA 2001:db8:53::53
www     IN A   192.0.2.1
www     IN AAAA 2001:db8::1
mail    IN MX  10 mx1
mx1     IN A   192.0.2.25
txt     IN TXT "hello edgedns"
alias   IN CNAME www
EOF
: >"$TMP/queries.txt"
for n in www mail mx1 txt alias ns1 nope; do
  for t in A AAAA MX TXT; do echo "$n.example.test $t" >>"$TMP/queries.txt"; done
done

in_cli() { bounded "$STEP_TIMEOUT" ip netns exec "$CLI" "$@"; }  # scripts/lib.sh: TERM, then KILL

# serve NAME LCORES VDEV: edgedns in the server namespace with the test zone.
serve() {
  start_edgedns "$1" "$2" "$3" --listen "$SRV4" --listen "$SRV6" --zone "$TMP/example.zone" --idle-sleep
}

check_service() {
  local name=$1 out
  # Name resolution over both families; ARP and ND are answered by edgedns.
  out=$(in_cli dig +tries=2 +time=2 +short @"$SRV4" www.example.test A 2>&1 || true)
  expect_eq "$name: dig A over IPv4" "$out" "192.0.2.1"
  out=$(in_cli dig +tries=2 +time=2 +short @"$SRV6" www.example.test AAAA 2>&1 || true)
  expect_eq "$name: dig AAAA over IPv6" "$out" "2001:db8::1"
  out=$(in_cli kdig +retry=1 +timeout=2 +short @"$SRV4" mail.example.test MX 2>&1 || true)
  expect_eq "$name: kdig MX over IPv4" "$out" "10 mx1.example.test."
  out=$(in_cli kdig +retry=1 +timeout=2 +short @"$SRV6" txt.example.test TXT 2>&1 || true)
  expect_eq "$name: kdig TXT over IPv6" "$out" '"hello edgedns"'
  out=$(in_cli dig +tries=2 +time=2 +short @"$SRV4" alias.example.test A 2>&1 || true)
  expect_eq "$name: dig CNAME chain" "$(tr '\n' ' ' <<<"$out")" "www.example.test. 192.0.2.1 "
  out=$(in_cli dig +tries=2 +time=2 @"$SRV6" nope.example.test A 2>&1 || true)
  if grep -q "status: NXDOMAIN" <<<"$out" && grep -q "flags: qr aa" <<<"$out"; then
    pass "$name: NXDOMAIN with AA over IPv6"
  else
    fail "$name: NXDOMAIN with AA over IPv6"; indent <<<"$out"
  fi
  # Echo.
  if in_cli ping -c 3 -i 0.2 -W 2 "$SRV4" >/dev/null 2>&1; then pass "$name: ping"; else fail "$name: ping"; fi
  if in_cli ping -6 -c 3 -i 0.2 -W 2 "$SRV6" >/dev/null 2>&1; then pass "$name: ping -6"; else fail "$name: ping -6"; fi
  # The neighbour entries the kernel learnt come from edgedns's replies.
  out=$(ip netns exec "$CLI" ip neigh show "$SRV4" | awk '{print $5}')
  [ -n "$out" ] && pass "$name: ARP entry $out" || fail "$name: no ARP entry"
  out=$(ip netns exec "$CLI" ip -6 neigh show "$SRV6" | awk '{print $5}')
  [ -n "$out" ] && pass "$name: ND entry $out" || fail "$name: no ND entry"
}

# check_vlan NAME: 802.1Q-tagged queries (VLAN 42) must get tagged answers.
# (The kernel hands AF_PACKET the tag out of band; DPDK's AF_PACKET PMD puts
# it back into the frame unless VLAN strip is on, and edgedns re-inserts a
# stripped tag on TX.) This kernel has no VLAN devices, so the client side is a raw
# AF_PACKET socket that writes tagged frames and reads the tag of the answers
# (in the frame, or in PACKET_AUXDATA when the kernel took it out).
check_vlan() {
  local name=$1 mac out
  mac=$(ip netns exec "$CLI" ip neigh show "$SRV4" | awk '{print $5}')
  out=$(in_cli "$PY" - "$VC" "$mac" "$SRV4" "$CLI4" "$SRV6" "$CLI6" <<'EOF' 2>&1 || true
import socket, struct, sys, time
import dns.message, dns.rdatatype

ifname, srv_mac = sys.argv[1], bytes.fromhex(sys.argv[2].replace(":", ""))
srv4, cli4, srv6, cli6 = sys.argv[3:7]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.bind((ifname, 0))
s.setsockopt(263, 8, 1)  # SOL_PACKET, PACKET_AUXDATA
my_mac = s.getsockname()[4]

def csum(b):
    if len(b) % 2: b += b"\0"
    t = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while t >> 16: t = (t & 0xFFFF) + (t >> 16)
    return ~t & 0xFFFF

def frame(v6, qid, qtype):
    q = dns.message.make_query("www.example.test.", qtype, use_edns=False)
    q.id = qid
    payload = q.to_wire()
    udp = struct.pack("!HHHH", 33333, 53, 8 + len(payload), 0) + payload
    if v6:
        src = socket.inet_pton(socket.AF_INET6, cli6)
        dst = socket.inet_pton(socket.AF_INET6, srv6)
        c = csum(src + dst + struct.pack("!IxxxB", len(udp), 17) + udp)
        udp = udp[:6] + struct.pack("!H", c) + udp[8:]
        l3 = struct.pack("!IHBB", 6 << 28, len(udp), 17, 64) + src + dst
        et = 0x86DD
    else:
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0,
                         socket.inet_aton(cli4), socket.inet_aton(srv4))
        l3 = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
        et = 0x0800
    return srv_mac + my_mac + struct.pack("!HHH", 0x8100, 42, et) + l3 + udp

want = {0x4201: ("IPv4", dns.rdatatype.A, "192.0.2.1"), 0x4202: ("IPv6", dns.rdatatype.AAAA, "2001:db8::1")}
for qid, (fam, qt, _) in want.items():
    s.send(frame(fam == "IPv6", qid, qt))
got = {}
deadline = time.time() + 5
s.settimeout(0.5)
while len(got) < len(want) and time.time() < deadline:
    try:
        data, anc, _, _ = s.recvmsg(2048, 64)
    except socket.timeout:
        continue
    if data[6:12] != srv_mac:
        continue
    tag, off = None, 12
    if struct.unpack("!H", data[12:14])[0] == 0x8100:
        tag, off = struct.unpack("!H", data[14:16])[0] & 0xFFF, 16
    for lvl, typ, val in anc:
        if lvl == 263 and typ == 8:
            st, _, _, _, _, tci, _ = struct.unpack("=IIIHHHH", val[:20])
            if st & 0x10: tag = tci & 0xFFF  # TP_STATUS_VLAN_VALID
    et = struct.unpack("!H", data[off:off + 2])[0]
    l3 = data[off + 2:]
    if et == 0x0800:
        if csum(l3[:20]) != 0: print("bad IPv4 header checksum"); continue
        l4 = l3[20:]
        ph = l3[12:20] + struct.pack("!xBH", 17, len(l4))
    elif et == 0x86DD:
        l4 = l3[40:40 + struct.unpack("!H", l3[4:6])[0]]
        ph = l3[8:40] + struct.pack("!IxxxB", len(l4), 17)
    else:
        continue
    if struct.unpack("!HH", l4[:4]) != (53, 33333): continue
    if csum(ph + l4) != 0: print("bad UDP checksum"); continue
    m = dns.message.from_wire(l4[8:])
    if m.id in want:
        got[m.id] = (tag, [r.to_text() for rr in m.answer for r in rr])
ok = True
for qid, (fam, _, addr) in want.items():
    tag, ans = got.get(qid, (None, []))
    print("%s: tag=%s answer=%s" % (fam, tag, ans))
    ok &= tag == 42 and ans == [addr]
print("VLAN OK" if ok else "VLAN FAIL")
EOF
)
  if grep -q "VLAN OK" <<<"$out"; then
    pass "$name: VLAN 42 tagged queries get tagged answers (IPv4, IPv6)"
  else
    fail "$name: VLAN"; indent <<<"$out"
  fi
}

# run_dnsperf NAME SERVER CLIENTS: fixed moderate rate, must lose nothing.
run_dnsperf() {
  local name=$1 server=$2 clients=$3 out lost
  out=$(ip netns exec "$CLI" timeout 30 dnsperf -s "$server" -d "$TMP/queries.txt" -Q 2000 -l 5 \
        -c "$clients" -t 2 2>&1 || true)
  lost=$(dnsperf_stat "$out" lost)
  completed=$(dnsperf_stat "$out" completed)
  if [ "$lost" = 0 ] && [ "${completed:-0}" -gt 5000 ]; then
    pass "$name: dnsperf -Q 2000 -l 5 to $server: $completed completed, 0 lost"
  else
    fail "$name: dnsperf to $server: completed=${completed:-?} lost=${lost:-?}"
    indent <<<"$out" | tail -20
  fi
}

# variant_af_packet, variant_af_xdp: one worker lcore on a 1-queue veth.
variant_af_packet() { one_queue af_packet; }
variant_af_xdp() { one_queue af_xdp; }
one_queue() {
  local pmd=$1
  testhost_up 1 || return 1
  xdp_off
  serve "$pmd" "-l 1" "$(vdev "$pmd")" || return 0
  check_service "$pmd"
  run_dnsperf "$pmd" "$SRV4" 4
  run_dnsperf "$pmd" "$SRV6" 4
  lcore_counters | sed 's/^/    /'
  check_vlan "$pmd"
}

variant_tap() {
  # The PMD creates the tap in the server namespace; its kernel side is the
  # client's interface, so it moves to the client namespace once edgedns runs.
  ip netns add "$SRV"
  ip netns add "$CLI"
  serve tap "-l 1" "net_tap0,iface=$TAP" || return 0
  ip netns exec "$SRV" ip link set "$TAP" netns "$CLI"
  ip netns exec "$CLI" ethtool -K "$TAP" tx off rx off >/dev/null 2>&1 || true
  client_addrs "$TAP"
  check_service tap
  run_dnsperf tap "$SRV4" 4
  run_dnsperf tap "$SRV6" 4
  lcore_counters | sed 's/^/    /'
}

variant_af_packet_2q() {
  # Two queues per port, one per worker lcore. The AF_XDP PMD of DPDK 22.11
  # opens at most ethtool's "combined" channel count, which veth reports as
  # 0, so the multi-queue check uses AF_PACKET: qpairs=2 opens one socket per
  # queue in a PACKET_FANOUT group that spreads flows by their hash.
  testhost_up 2 || return 1
  # Main lcore 0 does housekeeping; workers 1 and 2 (2 shares CPU 0, fine with --idle-sleep).
  serve af_packet_2q "--lcores=0@0,1@1,2@0" "$(vdev af_packet 2)" || return 0
  check_service af_packet_2q
  # Many client sockets, so that flows hash to both queues.
  run_dnsperf af_packet_2q "$SRV4" 16
  local lines n=0 busy=0 a
  lines=$(lcore_counters)
  sed 's/^/    /' <<<"$lines"
  while read -r line; do
    [ -n "$line" ] || continue
    n=$((n + 1))
    a=$(counter "$line" answers)
    [ "${a:-0}" -gt 0 ] && busy=$((busy + 1))
  done <<<"$lines"
  if [ "$n" = 2 ] && [ "$busy" = 2 ]; then
    pass "af_packet_2q: both worker lcores answered"
  else
    fail "af_packet_2q: $busy of $n worker lcores answered (want 2 of 2)"
  fi
}

variant() { "variant_$1"; }
variants=("$@")
[ ${#variants[@]} -gt 0 ] || variants=(af_packet af_xdp tap af_packet_2q)
run_variants variant "${variants[@]}"
harness_summary dataplane_e2e "${variants[*]}"
