#!/usr/bin/env bash
# Update latency of a 100-record delta on a 1M-record zone: edgedns's node
# agent (delta + publish on 2 worker lcores; publish returns after the grace
# period, when every lcore answers from the new version; then dig-style
# queries from 8 source ports confirm the data) beside knotd's
# `knotc zone-begin / zone-set / zone-unset / zone-commit` of the same change
# on the same zone, timed commit-to-visible (polling with queries) and
# begin-to-visible, in the same run. p50 and p99 over DELTAS deltas.
#
# Usage: bench/agent_delta_vs_knot.sh [RECORDS [DELTAS]]   (default 1000000 100)
# Needs root (netns). edgedns (af_packet, 2-queue veth) and knotd (the client
# namespace's loopback) both run in private namespaces; bounded in time.
set -euo pipefail
. "$(dirname "$0")/../tests/integration/lib/agent_common.sh"
RECORDS=${1:-1000000}
DELTAS=${2:-100}
command -v knotd >/dev/null && command -v knotc >/dev/null || die "knotd/knotc missing (scripts/setup.sh)"

ZONE=$TMP/bench.test.zone
bench_a_zone "$RECORDS" >"$ZONE"  # scripts/lib.sh
section "update latency: 100-record delta on a $RECORDS-record zone, $DELTAS deltas"

setup_veth 2
start_edgedns_agent bench "--lcores=0@0,1@1,2@0" 2 --zone "$ZONE" || exit 1

mkdir -p "$TMP/knot/run" "$TMP/knot/db"
cat >"$TMP/knot/knot.conf" <<EOF2
server:
    listen: 127.0.0.1@5353
    rundir: $TMP/knot/run
    user: root:root
database:
    storage: $TMP/knot/db
log:
  - target: stderr
    any: warning
template:
  - id: default
    storage: $TMP/knot
    zonefile-sync: -1
    journal-content: none
zone:
  - domain: bench.test
    file: $ZONE
EOF2
ip netns exec "$CLI" knotd -c "$TMP/knot/knot.conf" </dev/null >"$TMP/knotd.log" 2>&1 &
KPID=$!
harness_bg "$KPID"
for _ in $(seq 600); do
  out=$(ip netns exec "$CLI" kdig @127.0.0.1 -p 5353 +time=1 +retry=0 bench.test SOA 2>/dev/null || true)
  grep -q 'status: NOERROR' <<<"$out" && break
  kill -0 "$KPID" 2>/dev/null || die "knotd exited: $(tail -5 "$TMP/knotd.log")"
  sleep 0.1
done

cat >"$TMP/driver.py" <<'EOF2'
import os, socket, subprocess, sys, time
import dns.message, dns.query
sys.path.insert(0, os.environ["ROOT"] + "/tests/integration/lib")
import agent_client as ac

sock, srv, knot_sock, deltas = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
apex = "bench.test."
def old_a(j): return "198.%d.%d.%d" % (18 + ((j >> 16) & 1), (j >> 8) & 255, j & 255)  # bench_addr in scripts/lib.sh
def new_a(i): return "203.0.113.%d" % (i & 255)  # never an old address
def names(i): return [i * 50 + k for k in range(50)]

def ask(server, port, name, sport_sock=None):
    q = dns.message.make_query(name, "A")
    r = dns.query.udp(q, server, port=port, timeout=2, sock=sport_sock)
    return [rd.address for rrset in r.answer for rd in rrset]

ports = []
for p in range(8):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("0.0.0.0", 30000 + p)); ports.append(s)

a = ac.Agent(sock, timeout=120)
cur = a.ok("hello")["committed"]
ours, ours_delta = [], []
for i in range(1, deltas + 1):
    ch = []
    for j in names(i):
        ch.append({"op": "del", "rr": "h%d.%s 3600 IN A %s" % (j, apex, old_a(j))})
        ch.append({"op": "add", "rr": "h%d.%s 3600 IN A %s" % (j, apex, new_a(i))})
    t0 = time.perf_counter()
    r = a.ok("delta", base=cur, changes=ch)
    t1 = time.perf_counter()
    a.ok("publish", version=r["version"])
    t2 = time.perf_counter()
    cur = r["version"]
    ours.append((t2 - t0) * 1e3); ours_delta.append((t1 - t0) * 1e3)
    for s in ports:  # visible on every lcore (flows spread over both queues)
        got = ask(srv, 53, "h%d.%s" % (names(i)[0], apex), s)
        if got != [new_a(i)]:
            raise SystemExit("edgedns: delta %d not visible after publish: %s" % (i, got))
a.ok("commit", version=cur)

knotc = subprocess.Popen(["stdbuf", "-oL", "knotc", "-s", knot_sock], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         text=True, bufsize=1)
def kc(cmd):
    knotc.stdin.write(cmd + "\n"); knotc.stdin.flush()
    line = knotc.stdout.readline().strip()
    if line != "OK": raise SystemExit("knotc %s: %s" % (cmd, line))
knot_commit, knot_total = [], []
for i in range(1, deltas + 1):
    t0 = time.perf_counter()
    kc("zone-begin bench.test")
    for j in names(i):
        kc("zone-unset bench.test h%d A %s" % (j, old_a(j)))
        kc("zone-set bench.test h%d 3600 A %s" % (j, new_a(i)))
    t1 = time.perf_counter()
    kc("zone-commit bench.test")
    probe = "h%d.%s" % (names(i)[0], apex)
    polls = 0
    while ask("127.0.0.1", 5353, probe) != [new_a(i)]:
        polls += 1
        if polls > 100000: raise SystemExit("knotd: change %d never visible" % i)
    t2 = time.perf_counter()
    knot_commit.append((t2 - t1) * 1e3); knot_total.append((t2 - t0) * 1e3)
knotc.stdin.close(); knotc.wait()

def pct(v, p):
    v = sorted(v); return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]
print("%-44s %10s %10s" % ("", "p50 ms", "p99 ms"))
for name, v in [("edgedns delta+publish (visible, all lcores)", ours),
                ("  of which delta (apply, new version)", ours_delta),
                ("knotd zone-commit -> visible", knot_commit),
                ("knotd zone-begin..commit -> visible", knot_total)]:
    print("%-44s %10.2f %10.2f" % (name, pct(v, 50), pct(v, 99)))
print("ratio p50 knotd commit-to-visible / edgedns: %.0fx" % (pct(knot_commit, 50) / pct(ours, 50)))
EOF2
ROOT=$ROOT ip netns exec "$CLI" timeout 1200 "$PY" "$TMP/driver.py" "$SOCK" "$SRV4" \
  "$TMP/knot/run/knot.sock" "$DELTAS"
st=$(agent status)
note "edgedns after the deltas: $(jget '"held versions %d, zone memory %d MB, RSS %d MB" % (len(r["versions"]), r["memory_bytes"] >> 20, r["rss_bytes"] >> 20)' <<<"$st")"
