"""Raw clients of the node control protocol's framing (4-byte big-endian
length + JSON) for tests/integration/control_server.sh.

  control_server.py calls SOCK N          N status requests, each on a new connection
  control_server.py bigframe SECS SOCK... on each socket announce a 512 MiB frame,
                                          send 10 bytes, then wait (at most SECS) for
                                          the server to drop the connection; prints
                                          "SOCK dropped after S s" or "SOCK kept"
  control_server.py rss PID               VmRSS of PID in KiB
"""
import json
import select
import socket
import struct
import sys
import time


def call(path, req):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(20)
    s.connect(path)
    body = json.dumps(req).encode()
    s.sendall(struct.pack(">I", len(body)) + body)
    hdr = b""
    while len(hdr) < 4:
        b = s.recv(4 - len(hdr))
        if not b:
            raise RuntimeError("%s closed before replying" % path)
        hdr += b
    (n,) = struct.unpack(">I", hdr)
    data = b""
    while len(data) < n:
        b = s.recv(n - len(data))
        if not b:
            raise RuntimeError("%s cut its reply" % path)
        data += b
    s.close()
    return json.loads(data)


def calls(path, n):
    bad = 0
    for i in range(n):
        r = call(path, {"v": 1, "id": i, "cmd": "status"})
        if not r.get("ok"):
            bad += 1
            if bad < 5:
                print("refused: %s" % json.dumps(r)[:200])
    print("%d calls, %d refused" % (n, bad))
    return 1 if bad else 0


def bigframe(secs, paths):
    conns = {}
    for p in paths:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(p)
        s.sendall(struct.pack(">I", 512 << 20) + b'{"v":1,"cm')
        conns[s] = p
    t0 = time.monotonic()
    # The caller samples the servers' RSS now, while the frames are pending.
    print("sent", flush=True)
    left = dict(conns)
    while left and time.monotonic() - t0 < secs:
        ready, _, _ = select.select(list(left), [], [], 0.5)
        for s in ready:
            try:
                data = s.recv(65536)
            except OSError:
                data = b""
            if not data:
                print("%s dropped after %.1f s" % (left.pop(s), time.monotonic() - t0), flush=True)
                s.close()
    for s, p in left.items():
        print("%s kept" % p, flush=True)
    return 0


def rss(pid):
    with open("/proc/%s/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                print(line.split()[1])
                return 0
    return 1


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "calls":
        sys.exit(calls(sys.argv[2], int(sys.argv[3])))
    if cmd == "bigframe":
        sys.exit(bigframe(float(sys.argv[2]), sys.argv[3:]))
    if cmd == "rss":
        sys.exit(rss(sys.argv[2]))
    sys.exit("unknown command " + cmd)
