#!/usr/bin/python3
"""What a node's TLS control port does with one kind of client.

tls_probe.py tls://HOST:PORT MODE [CERT KEY] CA SERVER_NAME
  MODE tls       a TLS client presenting CERT/KEY (expired or foreign ones
                 too: Python's ssl presents what it is given)
       nocert    a TLS client without a certificate
       plain     the plain protocol (a length-prefixed JSON frame), no TLS
       oversize  TLS with CERT/KEY, then a frame announcing 600 MB
Each sends a state-changing request (publish of a version the node does not
hold; the reply would say unknown_version if it were handled). Prints
"refused: WHY" and exits 0 when the connection ends without a reply, or
"answered: REPLY" and exits 1."""
import json
import socket
import ssl
import struct
import sys

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from agent_client import Agent  # noqa: E402

REQ = json.dumps({"v": 1, "id": 1, "cmd": "publish", "version": "0" * 16}).encode()


def request_once(s):
    """Sends REQ on socket s; 1 (printed) when anything came back."""
    s.sendall(struct.pack("!I", len(REQ)) + REQ)
    got = s.recv(4096)
    if not got:
        raise ConnectionError("closed without a reply")
    print("answered: %r" % got[:200])
    return 1


def main():
    addr, mode = sys.argv[1], sys.argv[2]
    host, port = addr[6:].rsplit(":", 1)
    try:
        if mode == "plain":
            return request_once(socket.create_connection((host.strip("[]"), int(port)), timeout=10))
        if mode == "nocert":
            ca, name = sys.argv[3], sys.argv[4]
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.minimum_version = ssl.TLSVersion.TLSv1_3
            ctx.load_verify_locations(ca)
            raw = socket.create_connection((host, int(port)), timeout=10)
            return request_once(ctx.wrap_socket(raw, server_hostname=name))
        cert, key, ca, name = sys.argv[3:7]
        a = Agent(addr, timeout=10, tls=(cert, key, ca), server_name=name)
        if mode == "oversize":
            a.s.sendall(struct.pack("!I", 600 << 20) + b"{" * 1024)
            r = a.read()
            if r.get("ok") is False:
                print("refused: %s: %s" % (r.get("code"), r.get("error")))
                return 0
        else:
            r = a.raw(REQ)
        print("answered: %s" % json.dumps(r)[:300])
        return 1
    except (OSError, ConnectionError, ssl.SSLError) as e:
        print("refused: %s: %s" % (type(e).__name__, e))
        return 0


if __name__ == "__main__":
    sys.exit(main())
