#!/usr/bin/python3
"""DNS clients of the fleet tests (run inside the client namespace).

  fleet_dns.py versions SERVER [--ports N]
      asks ver.fleet.test. TXT from N fresh source ports (flows spread over a
      node's lcores) and prints {"serials": {SERIAL: count}, "timeouts": n}.
  fleet_dns.py poll --stop FILE --out FILE SERVER...
      until FILE exists: asks every SERVER for ver.fleet.test. TXT, each time
      from a fresh source port, and finally writes {SERVER: {SERIAL: count,
      "timeout": n}} to --out: which versions each node ever answered with.
  fleet_dns.py load --names FILE --qps N --seconds S [--stop FILE] SERVER...
      a bounded background load: names drawn at random from FILE ("NAME
      TYPE" lines), spread over the servers and 16 source ports per server;
      prints {"sent", "answered", "rcodes": {RCODE: n}} at the end.
  fleet_dns.py ask SERVER NAME TYPE
      one query; prints "RCODE RDATA..." (RDATA of the answer, sorted).
"""
import argparse
import json
import os
import random
import select
import socket
import struct
import sys
import time

import dns.message
import dns.rcode
import dns.rdatatype

VER = "ver.fleet.test."


def query_bytes(name, rtype, qid):
    q = dns.message.make_query(name, rtype)
    q.id = qid
    q.flags = 0  # RD clear: an authoritative server
    return q.to_wire()


def ask(server, name, rtype, timeout=1.0):
    """One query from a fresh source port; a dns.message or None."""
    qid = random.randrange(65536)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.settimeout(timeout)
        s.sendto(query_bytes(name, rtype, qid), (server, 53))
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            s.settimeout(left)
            try:
                data, _ = s.recvfrom(4096)
            except socket.timeout:
                return None
            m = dns.message.from_wire(data)
            if m.id == qid:
                return m
    finally:
        s.close()


def serial_of(m):
    """The serial the TXT answer of ver.fleet.test. carries ("serial=N")."""
    if m is None:
        return "timeout"
    if m.rcode() != dns.rcode.NOERROR:
        return dns.rcode.to_text(m.rcode())
    for rrset in m.answer:
        for rd in rrset:
            if rd.rdtype == dns.rdatatype.TXT:
                txt = b"".join(rd.strings).decode()
                if txt.startswith("serial="):
                    return txt[len("serial="):]
    return "noanswer"


def cmd_versions(a):
    seen = {}
    for _ in range(a.ports):
        # 3 s: a loaded machine may answer late; a late answer still names its version.
        s = serial_of(ask(a.server, VER, "TXT", timeout=3.0))
        seen[s] = seen.get(s, 0) + 1
    timeouts = seen.pop("timeout", 0)
    print(json.dumps({"serials": seen, "timeouts": timeouts}, sort_keys=True))


def cmd_poll(a):
    seen = {s: {} for s in a.servers}
    rounds = 0
    while not os.path.exists(a.stop) and rounds < a.max_rounds:
        for srv in a.servers:
            s = serial_of(ask(srv, VER, "TXT", timeout=0.5))
            seen[srv][s] = seen[srv].get(s, 0) + 1
        rounds += 1
        time.sleep(a.pause)
    with open(a.out + ".tmp", "w") as f:
        json.dump({"rounds": rounds, "seen": seen}, f, sort_keys=True)
    os.rename(a.out + ".tmp", a.out)


def cmd_load(a):
    names = []
    with open(a.names) as f:
        for line in f:
            parts = line.split()
            if parts:
                names.append((parts[0], parts[1] if len(parts) > 1 else "A"))
    socks = []
    for srv in a.servers:
        for _ in range(16):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.setblocking(False)
            socks.append((s, srv))
    wires = [query_bytes(n, t, 0) for n, t in names]
    sent = answered = 0
    rcodes = {}
    start = time.monotonic()
    end = start + a.seconds
    k = 0
    while time.monotonic() < end:
        if a.stop and os.path.exists(a.stop):
            break
        # Send what the rate allows by now, then read what came back.
        due = int((time.monotonic() - start) * a.qps)
        while sent < due:
            s, srv = socks[k % len(socks)]
            # A random name each time: every flow (and so every lcore) asks
            # for every name, whatever the list's length.
            w = bytearray(random.choice(wires))
            struct.pack_into("!H", w, 0, k & 0xFFFF)
            try:
                s.sendto(bytes(w), (srv, 53))
            except BlockingIOError:
                pass
            sent += 1
            k += 1
        r, _, _ = select.select([s for s, _ in socks], [], [], 0.01)
        for s in r:
            while True:
                try:
                    data = s.recv(4096)
                except BlockingIOError:
                    break
                if len(data) >= 4:
                    rc = dns.rcode.to_text(data[3] & 15)
                    rcodes[rc] = rcodes.get(rc, 0) + 1
                    answered += 1
    print(json.dumps({"sent": sent, "answered": answered, "rcodes": rcodes}, sort_keys=True))


def cmd_ask(a):
    m = ask(a.server, a.name, a.type, timeout=2.0)
    if m is None:
        print("TIMEOUT")
        return
    rd = sorted(rd.to_text() for rrset in m.answer for rd in rrset)
    print(" ".join([dns.rcode.to_text(m.rcode())] + rd))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    v = sub.add_parser("versions")
    v.add_argument("server")
    v.add_argument("--ports", type=int, default=32)
    p = sub.add_parser("poll")
    p.add_argument("--stop", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--pause", type=float, default=0.05)
    p.add_argument("--max-rounds", type=int, default=20000)  # a bound if --stop never appears
    p.add_argument("servers", nargs="+")
    ld = sub.add_parser("load")
    ld.add_argument("--names", required=True)
    ld.add_argument("--qps", type=float, default=300)
    ld.add_argument("--seconds", type=float, default=120)
    ld.add_argument("--stop", default="")
    ld.add_argument("servers", nargs="+")
    q = sub.add_parser("ask")
    q.add_argument("server")
    q.add_argument("name")
    q.add_argument("type")
    a = ap.parse_args()
    {"versions": cmd_versions, "poll": cmd_poll, "load": cmd_load, "ask": cmd_ask}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
