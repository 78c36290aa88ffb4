#!/usr/bin/python3
"""Minimal client of the node control protocol v1 (docs/control-protocol.md)
for the agent integration tests, plus the versioned test zone they share.

Every version N of the test zone carries its marker in several places, so that
one response can be checked to come from exactly one version:
  www.<apex> CNAME vN.<apex>.      (answer, first RR)
  vN.<apex>  A     198.<18+(N>>16&1)>.<N>>8&255>.<N&255>   (answer, second RR)
  vN.<apex>  TXT   "v=N"           (in the same RRset family on a TXT query)
  SOA serial N                     (authority of NXDOMAIN answers)
"""
import json
import socket
import ssl
import struct
import sys

APEX = "swap.test."


class Agent:
    """PATH (a unix socket) or tls://HOST:PORT with tls=(cert, key, ca) and
    the name the server's certificate must carry. Python's ssl (OpenSSL)
    presents whatever certificate it is given, expired ones included: the
    tests use that to check what the node refuses."""

    def __init__(self, path, timeout=60, tls=None, server_name=None):
        if path.startswith("tls://"):
            host, port = path[6:].rsplit(":", 1)
            host = host.strip("[]")
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.minimum_version = ssl.TLSVersion.TLSv1_3
            cert, key, ca = tls
            ctx.load_cert_chain(cert, key)
            ctx.load_verify_locations(ca)
            raw = socket.create_connection((host, int(port)), timeout=timeout)
            self.s = ctx.wrap_socket(raw, server_hostname=server_name or host)
        else:
            self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.s.settimeout(timeout)
            self.s.connect(path)
        self.s.settimeout(timeout)
        self.next_id = 1

    def raw(self, payload: bytes):
        self.s.sendall(struct.pack("!I", len(payload)) + payload)
        return self.read()

    def read(self):
        hdr = self._exact(4)
        (n,) = struct.unpack("!I", hdr)
        return json.loads(self._exact(n))

    def _exact(self, n):
        b = b""
        while len(b) < n:
            chunk = self.s.recv(n - len(b))
            if not chunk:
                raise ConnectionError("agent closed the connection")
            b += chunk
        return b

    def call(self, cmd, **args):
        req = {"v": 1, "cmd": cmd, "id": self.next_id}
        req.update(args)
        self.next_id += 1
        return self.raw(json.dumps(req).encode())

    def ok(self, cmd, **args):
        r = self.call(cmd, **args)
        if not r.get("ok"):
            raise RuntimeError("%s failed: %s" % (cmd, json.dumps(r)[:2000]))
        return r

    def close(self):
        self.s.close()


def a_of(n):
    # 198.18.0.0/15 (RFC 2544): test addresses, one per version up to 131,071.
    return "198.%d.%d.%d" % (18 + ((n >> 16) & 1), (n >> 8) & 255, n & 255)


def n_of(address):
    """The version whose a_of() is ADDRESS."""
    o = [int(x) for x in address.split(".")]
    return (o[1] - 18) << 16 | o[2] << 8 | o[3]


def zone_text(n, apex=APEX, extra=""):
    return (
        "$ORIGIN %s\n$TTL 300\n"
        "@ IN SOA ns1 hostmaster %d 7200 3600 1209600 300\n"
        "@ IN NS ns1\n"
        "ns1 IN A 198.18.54.53\n"
        "www IN CNAME v%d\n"
        "v%d IN A %s\n"
        "v%d IN TXT \"v=%d\"\n"
        "static IN A 192.0.2.1\n%s" % (apex, n, n, n, a_of(n), n, n, extra)
    )


def delta_changes(old, new, apex=APEX):
    """The delta taking version `old` of the test zone to version `new`."""
    return [
        {"op": "del", "rr": "%s 300 IN SOA ns1.%s hostmaster.%s %d 7200 3600 1209600 300" % (apex, apex, apex, old)},
        {"op": "add", "rr": "%s 300 IN SOA ns1.%s hostmaster.%s %d 7200 3600 1209600 300" % (apex, apex, apex, new)},
        {"op": "del", "rr": "www.%s 300 IN CNAME v%d.%s" % (apex, old, apex)},
        {"op": "add", "rr": "www.%s 300 IN CNAME v%d.%s" % (apex, new, apex)},
        {"op": "del", "rr": "v%d.%s 300 IN A %s" % (old, apex, a_of(old))},
        {"op": "add", "rr": "v%d.%s 300 IN A %s" % (new, apex, a_of(new))},
        {"op": "del", "rr": "v%d.%s 300 IN TXT \"v=%d\"" % (old, apex, old)},
        {"op": "add", "rr": "v%d.%s 300 IN TXT \"v=%d\"" % (new, apex, new)},
    ]


def markers(msg):
    """Version numbers seen in one response (dnspython message), as a set."""
    import dns.rdatatype
    seen = set()
    for rrset in msg.answer + msg.authority:
        for rd in rrset:
            if rd.rdtype == dns.rdatatype.CNAME:
                seen.add(int(rd.target.labels[0][1:]))
            elif rd.rdtype == dns.rdatatype.A and str(rrset.name).startswith("v"):
                seen.add(n_of(rd.address))
            elif rd.rdtype == dns.rdatatype.SOA:
                seen.add(rd.serial)
        if rrset.rdtype in (dns.rdatatype.A, dns.rdatatype.TXT) and str(rrset.name).startswith("v"):
            seen.add(int(str(rrset.name).split(".")[0][1:]))
    return seen


if __name__ == "__main__":
    # agent_client.py SOCK CMD [JSON-ARGS]: one call, reply printed.
    a = Agent(sys.argv[1])
    args = json.loads(sys.argv[3]) if len(sys.argv) > 3 else {}
    print(json.dumps(a.call(sys.argv[2], **args), indent=1))
