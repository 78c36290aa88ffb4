#!/usr/bin/python3
"""DNS-over-TCP checks against a running server (used by tests/integration/tcp_exception.sh).

  tcp_checks.py pipeline SERVER N   N queries written at once on one connection
                                    (RFC 7766 §6.2.1.1 pipelining); every answer must
                                    come back, matched by ID, each correct.
  tcp_checks.py per-client SERVER LIMIT
                                    LIMIT connections stay usable; one more is closed
                                    by the server at once without an answer.
  tcp_checks.py idle SERVER         a connection that sends nothing is closed by the
                                    server (EOF), and one that got an answer too.
  tcp_checks.py malformed SERVER    a QR=1 message ends its connection after the
                                    answers to the queries before it.
  tcp_checks.py many SERVER N       N connections one after another, one query each
                                    (each costs the kernel ~4 frames out through the
                                    port); all must be answered. Stops after 5 failures
                                    in a row.

The zone is tests/integration/tcp_exception.sh's: qN.example.test A 198.51.100.N.
Prints one line per finding; exit 0 when all is as expected.
"""

import socket
import struct
import sys
import time

import dns.message
import dns.rdatatype


def connect(server, timeout=5.0):
    fam = socket.AF_INET6 if ":" in server else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect((server, 53))
    return s


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def read_msg(s):
    hdr = recv_exact(s, 2)
    if hdr is None:
        return None
    body = recv_exact(s, struct.unpack("!H", hdr)[0])
    return None if body is None else dns.message.from_wire(body)


def frame(q):
    w = q.to_wire()
    return struct.pack("!H", len(w)) + w


def query(i, qid):
    q = dns.message.make_query("q%d.example.test." % i, dns.rdatatype.A, use_edns=False)
    q.id = qid
    return q


def check_answer(m, i):
    got = [r.to_text() for rr in m.answer for r in rr]
    return got == ["198.51.100.%d" % i]


def pipeline(server, n):
    s = connect(server)
    # Every query in one write: the server sees them back to back.
    s.sendall(b"".join(frame(query(i % 200, 1000 + i)) for i in range(n)))
    ok = 0
    seen = set()
    for _ in range(n):
        m = read_msg(s)
        if m is None:
            print("pipeline: connection closed after %d answers" % len(seen))
            break
        i = m.id - 1000
        if 0 <= i < n and i not in seen and check_answer(m, i % 200):
            ok += 1
        else:
            print("pipeline: unexpected answer id=%d %s" % (m.id, m.answer))
        seen.add(i)
    s.close()
    print("pipeline: %d of %d answered correctly on one connection" % (ok, n))
    return ok == n


def per_client(server, limit):
    conns = [connect(server) for _ in range(limit)]
    extra = connect(server)
    time.sleep(0.2)  # let the server accept (and close) the extra one
    extra.sendall(frame(query(1, 1)))
    try:
        closed = extra.recv(2) == b""
    except (ConnectionResetError, socket.timeout):
        closed = True
    print("per-client: connection %d of %d closed by the server: %s" % (limit + 1, limit, closed))
    good = 0
    for k, c in enumerate(conns):
        c.sendall(frame(query(k + 2, 2000 + k)))
        m = read_msg(c)
        good += m is not None and m.id == 2000 + k and check_answer(m, k + 2)
        c.close()
    extra.close()
    print("per-client: %d of %d connections within the limit answered" % (good, limit))
    return closed and good == limit


def idle(server):
    quiet = connect(server, timeout=30)
    used = connect(server, timeout=30)
    used.sendall(frame(query(7, 77)))
    m = read_msg(used)
    answered = m is not None and check_answer(m, 7)
    res = []
    for c in (quiet, used):
        try:
            res.append(c.recv(2) == b"")  # blocks until the server closes it
        except (ConnectionResetError, socket.timeout):
            res.append(False)
        c.close()
    print("idle: answered before going quiet: %s; quiet connection closed: %s; "
          "used connection closed: %s" % (answered, res[0], res[1]))
    return answered and all(res)


def malformed(server):
    s = connect(server)
    bad = query(3, 333)
    bad.flags |= 0x8000  # QR=1: a response, not a query
    s.sendall(frame(query(2, 222)) + frame(bad) + frame(query(4, 444)))
    m = read_msg(s)
    first = m is not None and m.id == 222 and check_answer(m, 2)
    try:
        closed = s.recv(2) == b""
    except ConnectionResetError:
        closed = True
    s.close()
    print("malformed: answer before it: %s; then closed: %s" % (first, closed))
    return first and closed


def many(server, n):
    ok = fails = 0
    for i in range(n):
        try:
            s = connect(server, timeout=3.0)
            s.sendall(frame(query(i % 200, i % 65536)))
            m = read_msg(s)
            s.close()
        except (OSError, socket.timeout):
            m = None
        if m is not None and m.id == i % 65536 and check_answer(m, i % 200):
            ok += 1
            fails = 0
        else:
            fails += 1
            if fails == 5:
                print("many: 5 failures in a row after %d answered; stopped at %d" % (ok, i + 1))
                break
    print("many: %d of %d connections answered" % (ok, n))
    return ok == n


def main():
    cmd, server = sys.argv[1], sys.argv[2]
    if cmd == "pipeline":
        ok = pipeline(server, int(sys.argv[3]))
    elif cmd == "per-client":
        ok = per_client(server, int(sys.argv[3]))
    elif cmd == "idle":
        ok = idle(server)
    elif cmd == "malformed":
        ok = malformed(server)
    elif cmd == "many":
        ok = many(server, int(sys.argv[3]))
    else:
        print("usage: see the module text")
        return 2
    print("RESULT " + ("OK" if ok else "FAIL"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
