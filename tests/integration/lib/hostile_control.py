#!/usr/bin/python3
"""Hostile clients of the node control socket, for
tests/integration/hostile_control.sh. Each subcommand prints "ok ..." or
"FAIL ..." lines; the exit status is the number of failures (capped).

  hostile_control.py SOCK garbage      oversized, truncated, malformed frames:
                                       each rejected (bad_request or a closed
                                       connection), the agent still answers
  hostile_control.py SOCK escape DIR   $INCLUDE and ../ names: refused or inert
  hostile_control.py SOCK refused      connect as an unprivileged user: the
                                       agent must not answer (run via setpriv)
  hostile_control.py SOCK snapshot     the state that must not change, as JSON
"""
import json
import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from agent_client import Agent, zone_text  # noqa: E402

SOCK = sys.argv[1]
FAILS = 0


def ok(msg):
    print("ok " + msg)


def fail(msg):
    global FAILS
    FAILS += 1
    print("FAIL " + msg)


def connect():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(SOCK)
    return s


def read_reply(s):
    """The next reply frame, or None when the agent closed the connection."""
    hdr = b""
    try:
        while len(hdr) < 4:
            c = s.recv(4 - len(hdr))
            if not c:
                return None
            hdr += c
        (n,) = struct.unpack("!I", hdr)
        body = b""
        while len(body) < n:
            c = s.recv(n - len(body))
            if not c:
                return None
            body += c
        return json.loads(body)
    except (ConnectionResetError, BrokenPipeError):
        return None


def frame(payload):
    return struct.pack("!I", len(payload)) + payload


def expect_error(name, payload, code="bad_request", raw=None):
    """Sends one frame (or raw bytes) on a fresh connection; wants an error
    reply with `code` (None: any code)."""
    s = connect()
    try:
        s.sendall(raw if raw is not None else frame(payload))
        r = read_reply(s)
    except (BrokenPipeError, ConnectionResetError):
        r = None
    s.close()
    if r is not None and r.get("ok") is False and (code is None or r.get("code") == code):
        ok("%s: refused, %s: %s" % (name, r.get("code"), str(r.get("error"))[:80]))
    else:
        fail("%s: %s" % (name, json.dumps(r)[:300] if r is not None else "no reply"))


def alive(name):
    try:
        a = Agent(SOCK, timeout=20)
        r = a.call("health")
        a.close()
        if r.get("ok"):
            ok("%s: agent still answers" % name)
            return
        fail("%s: health %s" % (name, r))
    except Exception as e:  # noqa: BLE001
        fail("%s: agent does not answer: %s" % (name, e))


def snapshot():
    a = Agent(SOCK)
    st = a.ok("status")
    a.close()
    keep = {
        "committed": st["committed"],
        "previous_committed": st["previous_committed"],
        "versions": sorted((v["version"], v["state"]) for v in st["versions"]),
        "served": sorted((l["id"], l["version"]) for l in st["lcores"]),
    }
    print(json.dumps(keep, sort_keys=True))


def garbage():
    # Framing: a length above the 512 MiB limit; a huge announced length with
    # a few bytes and a hang-up; a header cut short; a zero-length frame.
    expect_error("length 0x7fffffff", None, raw=struct.pack("!I", 0x7FFFFFFF) + b"{}")
    expect_error("length 0xffffffff", None, raw=struct.pack("!I", 0xFFFFFFFF))
    for name, raw in [("400 MB announced, 10 bytes sent, hang-up", struct.pack("!I", 400 << 20) + b"x" * 10),
                      ("header cut (2 bytes), hang-up", b"\x00\x00"),
                      ("half a request, hang-up", frame(b'{"v":1,"cmd":"drop","version":"x"}')[:20])]:
        s = connect()
        s.sendall(raw)
        s.close()
        ok("%s: sent" % name)
    alive("after hang-ups")
    expect_error("zero-length frame", b"")
    # Content: not JSON, binary, JSON of the wrong shape, wrong protocol version.
    expect_error("not JSON", b"hello agent")
    expect_error("binary garbage", bytes(range(256)) * 16)
    expect_error("invalid UTF-8 in a string", b'{"v":1,"cmd":"st\xff\xfeatus"}')
    expect_error("JSON array", b'[1,2,3]')
    expect_error("JSON string", b'"status"')
    expect_error("JSON null", b"null")
    expect_error("no version", b'{"cmd":"status"}')
    expect_error("version 2", b'{"v":2,"cmd":"status"}')
    expect_error("version as a string", b'{"v":"1","cmd":"status"}')
    expect_error("cmd not a string", b'{"v":1,"cmd":7}')
    expect_error("unknown command", b'{"v":1,"cmd":"shell","args":"id"}')
    expect_error("upload: zones not an array", b'{"v":1,"cmd":"upload","zones":"x"}')
    expect_error("upload: empty zones", b'{"v":1,"cmd":"upload","zones":[]}')
    expect_error("upload: text not a string", b'{"v":1,"cmd":"upload","zones":[{"file":"a","text":5}]}')
    expect_error("upload: zone with errors", json.dumps(
        {"v": 1, "cmd": "upload", "zones": [{"file": "bad.zone", "text": "this is not a zone\n"}]}).encode(),
        code="invalid_zone")
    expect_error("delta: unknown base", b'{"v":1,"cmd":"delta","base":"00","changes":[]}', code="base_mismatch")
    expect_error("delta: changes not an array",
                 b'{"v":1,"cmd":"delta","base":"00","changes":{"op":"add"}}')
    expect_error("publish: lcores not ids", b'{"v":1,"cmd":"publish","version":"00","lcores":["a"]}', code=None)
    expect_error("publish: unknown version", b'{"v":1,"cmd":"publish","version":"ffffffffffffffffffffffffffffffff"}',
                 code="unknown_version")
    expect_error("commit: version a number", b'{"v":1,"cmd":"commit","version":12}', code=None)
    expect_error("drop: empty version", b'{"v":1,"cmd":"drop","version":""}', code=None)
    # Deep nesting: a parser or destructor that recurses would overflow the stack.
    depth = 1_000_000
    expect_error("JSON nested %d deep" % depth, b"[" * depth + b"]" * depth)
    expect_error("object nested %d deep" % depth, b'{"a":' * depth + b"1" + b"}" * depth)
    # A big but legal frame of junk fields (32 MiB) on a known command.
    big = b'{"v":1,"cmd":"status","pad":"' + b"x" * (32 << 20) + b'"}'
    s = connect()
    s.settimeout(60)
    s.sendall(frame(big))
    r = read_reply(s)
    s.close()
    if r is not None and r.get("ok"):
        ok("32 MiB frame with an unknown field: answered like a plain status")
    else:
        fail("32 MiB frame: %s" % (json.dumps(r)[:200] if r else "no reply"))
    # Many connections at once: at most 16; the 17th is told busy or closed.
    conns, refused_at_connect = [], 0
    for _ in range(20):
        try:
            conns.append(connect())
        except OSError:  # the listen backlog is full: EAGAIN on a unix socket
            refused_at_connect += 1
    time.sleep(0.5)
    served = 0
    for s in conns:
        try:
            s.sendall(frame(b'{"v":1,"cmd":"health"}'))
            r = read_reply(s)
            if r is not None and r.get("ok"):
                served += 1
        except OSError:
            pass
    for s in conns:
        s.close()
    if 1 <= served <= 16:
        ok("20 connections at once: %d served, the rest refused (%d at connect)" % (served, refused_at_connect))
    else:
        fail("20 connections at once: %d served" % served)
    time.sleep(1.5)  # the accept loop reaps closed connections every second
    alive("after the garbage")


def escape(state_dir):
    a = Agent(SOCK)
    secret = "/etc/hostname"
    # $INCLUDE of a file that exists: refused, and its content not echoed.
    with open(secret) as f:
        content = f.read().strip()
    r = a.call("upload", zones=[{"file": "inc.zone", "text": zone_text(7001) + "$INCLUDE %s\n" % secret}])
    if r.get("ok") is False and content not in json.dumps(r):
        ok("upload with $INCLUDE %s refused (%s: %s)" % (secret, r.get("code"), str(r.get("error"))[:80]))
    else:
        fail("upload with $INCLUDE: %s" % json.dumps(r)[:300])
    rel = "../" * 12 + "etc/hostname"
    r = a.call("upload", zones=[{"file": "inc2.zone", "text": zone_text(7002) + "$INCLUDE %s\n" % rel}])
    if r.get("ok") is False and content not in json.dumps(r):
        ok("upload with $INCLUDE %s refused" % rel)
    else:
        fail("upload with relative $INCLUDE: %s" % json.dumps(r)[:300])
    # Version names that look like paths: unknown versions, nothing touched.
    for cmd in ("publish", "commit", "drop"):
        for v in ("../../../../tmp/x", "/etc/passwd", "..", "lkg-1.edz", "%2e%2e/x"):
            r = a.call(cmd, version=v)
            if r.get("ok") is False:
                ok("%s version %r refused" % (cmd, v))
            else:
                fail("%s version %r: %s" % (cmd, v, json.dumps(r)[:200]))
    r = a.call("rollback", to="../../etc")
    ok("rollback to '../../etc' refused") if r.get("ok") is False else fail("rollback to ../: %s" % r)
    # The upload's "file" is a label for diagnostics: a path-looking one is
    # never opened or created (checked by the caller on the file system).
    probe = "/tmp/hostile-control-escape-%d.zone" % os.getpid()
    for name in ("../../../../.." + probe, probe):
        r = a.call("upload", zones=[{"file": name, "text": "garbage line\n"}])
        if r.get("ok") is False and not os.path.exists(probe):
            ok("upload named %r: refused as invalid_zone, no file created" % name)
        else:
            fail("upload named %r: %s, exists=%s" % (name, json.dumps(r)[:200], os.path.exists(probe)))
    a.close()
    print("probe " + probe)


def refused():
    try:
        s = connect()
    except PermissionError:
        ok("connect as uid %d: permission denied by the socket's mode" % os.getuid())
        return
    except OSError as e:
        ok("connect as uid %d: %s" % (os.getuid(), e))
        return
    try:
        s.sendall(frame(b'{"v":1,"cmd":"status","id":1}'))
        r = read_reply(s)
    except OSError:
        r = None
    if r is None:
        ok("uid %d connected but got no reply: closed by the peer-credential check" % os.getuid())
    else:
        fail("uid %d got a reply: %s" % (os.getuid(), json.dumps(r)[:200]))


if __name__ == "__main__":
    what = sys.argv[2]
    if what == "garbage":
        garbage()
    elif what == "escape":
        escape(sys.argv[3])
    elif what == "refused":
        refused()
    elif what == "snapshot":
        snapshot()
    sys.exit(min(FAILS, 100))
