#!/usr/bin/python3
"""Probe client for tests/integration/hostile_rrl.sh: sends COUNT queries for
NAME A from SRC to SERVER, one every INTERVAL seconds (whatever comes back),
each on a fresh source port, and reads the replies until GRACE seconds
(default 1) after the last query, or until every query has its reply.
Prints one line:

  probes=N answered=A full=F truncated=T lost=L bad=B

full: NOERROR with the expected answer and TC=0; truncated: TC=1 with no
answer, authority or additional records (an RRL slip); bad: anything else
(wrong ID, a TC reply with records, a wrong answer).

Usage: hostile_rrl.py SRC SERVER NAME EXPECTED_A COUNT INTERVAL [GRACE]
"""
import select
import socket
import struct
import sys
import time

src, server, qname, want, count, interval = sys.argv[1:7]
count, interval = int(count), float(interval)
grace = float(sys.argv[7]) if len(sys.argv) > 7 else 1.0


def make_query(qid):
    q = struct.pack("!HHHHHH", qid, 0, 1, 0, 0, 0)
    for label in qname.strip(".").split("."):
        q += bytes([len(label)]) + label.encode()
    return q + b"\0" + struct.pack("!HH", 1, 1)


stats = {"probes": 0, "answered": 0, "full": 0, "truncated": 0, "lost": 0, "bad": 0}
want_rdata = socket.inet_aton(want)
# Sent on a fixed schedule whatever comes back (a lost reply must not stretch
# the run past the flood); replies are read as they come and until GRACE s
# after the last query (a loaded machine may answer late; an answer is an answer).
socks = {}
next_t = time.time()
deadline = None


def take(sock):
    qid, q = socks.pop(sock)
    m = sock.recv(4096)
    sock.close()
    if struct.unpack("!H", m[:2])[0] != qid:
        stats["bad"] += 1
        return
    stats["answered"] += 1
    flags, qd, an, ns, ar = struct.unpack("!HHHHH", m[2:12])
    if flags & 0x0200:
        stats["truncated" if an == ns == ar == 0 and qd == 1 and len(m) == len(q) else "bad"] += 1
    elif flags & 0xF == 0 and an == 1 and m.endswith(want_rdata):
        stats["full"] += 1
    else:
        stats["bad"] += 1


n = 0
while n < count or (socks and time.time() < deadline):
    now = time.time()
    if n < count and now >= next_t:
        qid = 0x2000 + n
        q = make_query(qid)
        sk = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sk.bind((src, 0))
        sk.sendto(q, (server, 53))
        socks[sk] = (qid, q)
        stats["probes"] += 1
        n += 1
        next_t += interval
        if n == count:
            deadline = time.time() + grace
        continue
    wait = (next_t - now) if n < count else (deadline - now)
    r, _, _ = select.select(list(socks), [], [], max(0.0, min(wait, 0.05)))
    for sk in r:
        take(sk)
stats["lost"] = len(socks)
print(" ".join("%s=%d" % kv for kv in stats.items()))
