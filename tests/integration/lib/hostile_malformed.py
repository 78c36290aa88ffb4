#!/usr/bin/python3
"""Sends malformed DNS, UDP, IP and Ethernet input to a running edgedns and
checks each reply against the documented behaviour (docs/operations.md,
"Malformed input"). Runs in the client namespace of
tests/integration/hostile_malformed.sh.

Every case is one raw Ethernet frame written with AF_PACKET (so that broken
L2/L3 headers reach the wire as built); replies come back through ordinary
UDP sockets bound to the case's own source port, so the client kernel checks
their IP and UDP checksums. A case expects either "drop" (no reply within the
window) or an rcode (the reply must carry the query's ID, QR=1, that rcode,
and fit 512 bytes unless the query had EDNS).

Usage: [HOSTILE_PMD=af_packet] hostile_malformed.py IFACE SERVER_MAC SRV4 CLI4 SRV6 CLI6
Prints one line per case ("ok ..." / "FAIL ...") and, last, a line
"expect malformed=N fragment=F bad_source=B" with how many frames each drop
counter must have grown by at least. Exit 0 when every case passed.
"""
import os
import re
import select
import socket
import struct
import sys
import time

IFACE, SRV_MAC, SRV4, CLI4, SRV6, CLI6 = sys.argv[1:7]
# The server's PMD (af_xdp or af_packet): the kernel under AF_PACKET changes two cases.
AF_PACKET = os.environ.get("HOSTILE_PMD", "af_xdp") == "af_packet"
SRV_MAC = bytes.fromhex(SRV_MAC.replace(":", ""))

RCODES = {"NOERROR": 0, "FORMERR": 1, "SERVFAIL": 2, "NXDOMAIN": 3, "NOTIMP": 4, "REFUSED": 5,
          "BADVERS": 16}


def csum(b):
    if len(b) % 2:
        b += b"\0"
    t = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while t >> 16:
        t = (t & 0xFFFF) + (t >> 16)
    return ~t & 0xFFFF


def name(text):
    out = b""
    for label in text.strip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def header(qid, flags=0, qd=1, an=0, ns=0, ar=0):
    return struct.pack("!HHHHHH", qid, flags, qd, an, ns, ar)


def question(qname="www.example.test", qtype=1, qclass=1):
    return name(qname) + struct.pack("!HH", qtype, qclass)


def opt(size=1232, version=0, flags=0, rdata=b"", owner=b"\0"):
    return owner + struct.pack("!HHBBHH", 41, size, 0, version, flags, len(rdata)) + rdata


def query(qid, flags=0, **kw):
    return header(qid, flags) + question(**kw)


# ---- frames


class Sender:
    def __init__(self):
        self.raw = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
        self.raw.bind((IFACE, 0))
        self.mac = self.raw.getsockname()[4]

    def eth(self, ethertype, payload):
        return SRV_MAC + self.mac + struct.pack("!H", ethertype) + payload

    @staticmethod
    def ip4(payload, proto=17, src=None, ihl=5, tot=None, frag=0, bad_csum=False, version=4,
            options=b""):
        src = socket.inet_aton(src or CLI4)
        tot = 20 + len(options) + len(payload) if tot is None else tot
        h = struct.pack("!BBHHHBBH4s4s", version << 4 | ihl, 0, tot, 0x1234, frag, 64, proto, 0,
                        src, socket.inet_aton(SRV4)) + options
        c = csum(h)
        if bad_csum:
            c ^= 0x5A5A
        return h[:10] + struct.pack("!H", c) + h[12:] + payload

    @staticmethod
    def udp4(sport, dns, src=None, ulen=None):
        src = socket.inet_aton(src or CLI4)
        ulen = 8 + len(dns) if ulen is None else ulen
        u = struct.pack("!HHHH", sport, 53, ulen, 0) + dns
        ph = src + socket.inet_aton(SRV4) + struct.pack("!BBH", 0, 17, len(u))
        return u[:6] + struct.pack("!H", csum(ph + u) or 0xFFFF) + u[8:]

    @staticmethod
    def ip6(payload, nh=17, plen=None):
        plen = len(payload) if plen is None else plen
        return (struct.pack("!IHBB", 6 << 28, plen, nh, 64) + socket.inet_pton(socket.AF_INET6, CLI6) +
                socket.inet_pton(socket.AF_INET6, SRV6) + payload)

    @staticmethod
    def udp6(sport, dns):
        u = struct.pack("!HHHH", sport, 53, 8 + len(dns), 0) + dns
        ph = (socket.inet_pton(socket.AF_INET6, CLI6) + socket.inet_pton(socket.AF_INET6, SRV6) +
              struct.pack("!IxxxB", len(u), 17))
        return u[:6] + struct.pack("!H", csum(ph + u) or 0xFFFF) + u[8:]

    def dns4(self, sport, dns):
        return self.eth(0x0800, self.ip4(self.udp4(sport, dns)))

    def dns6(self, sport, dns):
        return self.eth(0x86DD, self.ip6(self.udp6(sport, dns)))


class Case:
    def __init__(self, name, expect, counter=None):
        self.name, self.expect, self.counter = name, expect, counter
        self.frames = []
        self.qid = None
        self.sock = None
        self.port = None
        self.reply = None


def main():
    s = Sender()
    cases = []

    only = os.environ.get("HOSTILE_ONLY")  # a regex: run only the matching cases (debugging)

    def case(name, expect, build, v6=False, counter=None):
        if only and not re.search(only, name):
            return
        c = Case(name, expect, counter)
        fam = socket.AF_INET6 if v6 else socket.AF_INET
        c.sock = socket.socket(fam, socket.SOCK_DGRAM)
        c.sock.bind((CLI6 if v6 else CLI4, 0))
        c.port = c.sock.getsockname()[1]
        c.qid = 0x1000 + len(cases)
        frames = build(c.port, c.qid)
        c.frames = frames if isinstance(frames, list) else [frames]
        cases.append(c)

    d4 = s.dns4
    d6 = s.dns6

    # -- DNS header and question
    case("empty payload", "drop", lambda p, i: d4(p, b""), counter="malformed")
    case("header truncated to 5 bytes", "drop", lambda p, i: d4(p, header(i)[:5]), counter="malformed")
    case("header truncated to 11 bytes", "drop", lambda p, i: d4(p, header(i)[:11]), counter="malformed")
    case("QDCOUNT 0", "FORMERR", lambda p, i: d4(p, header(i, qd=0)))
    case("QDCOUNT 2", "FORMERR",
         lambda p, i: d4(p, header(i, qd=2) + question() + question("mail.example.test", 15)))
    case("QDCOUNT 65535, one question", "FORMERR",
         lambda p, i: d4(p, header(i, qd=65535) + question()))
    case("QDCOUNT 65535, no question", "FORMERR", lambda p, i: d4(p, header(i, qd=65535)))
    case("question cut mid-name", "FORMERR", lambda p, i: d4(p, header(i) + question()[:7]))
    case("question without type/class", "FORMERR", lambda p, i: d4(p, header(i) + name("www.example.test")))
    # Compression pointers in the question: to itself, forward, past the end.
    case("question pointer loop", "FORMERR",
         lambda p, i: d4(p, header(i) + b"\xc0\x0c" + struct.pack("!HH", 1, 1)))
    case("question pointer forward", "FORMERR",
         lambda p, i: d4(p, header(i) + b"\x03www\xc0\x14" + struct.pack("!HH", 1, 1) +
                         name("example.test")))
    case("question pointer past the end", "FORMERR",
         lambda p, i: d4(p, header(i) + b"\x03www\xc3\xff" + struct.pack("!HH", 1, 1)))
    case("question pointer two-step loop", "FORMERR",
         lambda p, i: d4(p, header(i) + b"\x01a\xc0\x0c" + struct.pack("!HH", 1, 1)))
    # Pointers in a record after the question (an additional record's owner):
    # never followed, but one that does not point backwards (to itself,
    # forward, past the end) makes the message malformed: FORMERR, as Knot.
    rr_a = struct.pack("!HHIH", 1, 1, 60, 4) + b"\x01\x02\x03\x04"
    case("additional owner pointer loop", "FORMERR",
         lambda p, i: d4(p, header(i, ar=1) + question() + b"\xc0\x22" + rr_a))
    case("additional owner pointer forward", "FORMERR",
         lambda p, i: d4(p, header(i, ar=1) + question() + b"\xc0\x30" + rr_a))
    case("additional owner pointer past the end", "FORMERR",
         lambda p, i: d4(p, header(i, ar=1) + question() + b"\xc3\xff" + rr_a))
    case("additional owner pointer to the question (legal)", "NOERROR",
         lambda p, i: d4(p, header(i, ar=1) + question() + b"\xc0\x0c" + rr_a))
    case("label of 64 octets", "FORMERR",
         lambda p, i: d4(p, header(i) + b"\x40" + b"a" * 64 + name("example.test") + struct.pack("!HH", 1, 1)))
    case("label type 0x80 (reserved)", "FORMERR",
         lambda p, i: d4(p, header(i) + b"\x80" + b"a" * 20 + b"\0" + struct.pack("!HH", 1, 1)))
    long_name = ".".join(["a" * 63] * 4) + ".example.test"  # 4*64 + 14 = 270 octets
    case("name of 270 octets", "FORMERR", lambda p, i: d4(p, header(i) + question(long_name)))
    exact = ".".join(["b" * 63] * 3 + ["c" * 61])  # 3*64 + 62 + 1 = 255 octets: legal
    case("name of exactly 255 octets (legal, not ours)", "REFUSED",
         lambda p, i: d4(p, header(i) + question(exact)))
    # -- OPT
    case("two OPT records", "FORMERR",
         lambda p, i: d4(p, header(i, ar=2) + question() + opt() + opt()))
    case("OPT in the answer section", "FORMERR",
         lambda p, i: d4(p, header(i, an=1) + question() + opt()))
    case("OPT in the authority section", "FORMERR",
         lambda p, i: d4(p, header(i, ns=1) + question() + opt()))
    case("OPT with a non-root owner", "FORMERR",
         lambda p, i: d4(p, header(i, ar=1) + question() + opt(owner=name("x"))))
    case("OPT option longer than the RDATA", "FORMERR",
         lambda p, i: d4(p, header(i, ar=1) + question() + opt(rdata=struct.pack("!HH", 100, 40) + b"x" * 4)))
    case("OPT option header cut (3 bytes)", "FORMERR",
         lambda p, i: d4(p, header(i, ar=1) + question() + opt(rdata=b"\x00\x64\x00")))
    case("OPT RDLENGTH past the end", "FORMERR",
         lambda p, i: d4(p, header(i, ar=1) + question() +
                         b"\0" + struct.pack("!HHBBHH", 41, 1232, 0, 0, 0, 200) + b"xx"))
    case("OPT version 1", "BADVERS", lambda p, i: d4(p, header(i, ar=1) + question() + opt(version=1)))
    case("ARCOUNT 1 with nothing there", "FORMERR", lambda p, i: d4(p, header(i, ar=1) + question()))
    # -- header bits
    case("QR=1 (a response)", "drop", lambda p, i: d4(p, query(i, 0x8000)), counter="malformed")
    case("QR=1 with opcode NOTIFY", "drop", lambda p, i: d4(p, query(i, 0x8000 | 4 << 11)),
         counter="malformed")
    for op in range(1, 16):
        case("opcode %d" % op, "NOTIMP", lambda p, i, op=op: d4(p, query(i, op << 11)))
    case("opcode 15 with EDNS", "NOTIMP",
         lambda p, i: d4(p, header(i, 15 << 11, ar=1) + question() + opt()))
    # -- classes
    case("class CH (version.bind TXT)", "REFUSED",
         lambda p, i: d4(p, header(i) + question("version.bind", 16, 3)))
    case("class HS", "REFUSED", lambda p, i: d4(p, query(i, qclass=4)))
    case("class NONE", "REFUSED", lambda p, i: d4(p, query(i, qclass=254)))
    case("class ANY", "NOERROR", lambda p, i: d4(p, query(i, qclass=255)))
    # -- sizes
    case("trailing garbage", "FORMERR", lambda p, i: d4(p, query(i) + b"\xde\xad\xbe\xef"))
    case("oversized: 1400 bytes of garbage after the question", "FORMERR",
         lambda p, i: d4(p, query(i) + bytes(range(256)) * 5 + b"x" * 120))
    case("full-MTU query padded with EDNS padding (legal)", "NOERROR",
         lambda p, i: d4(p, header(i, ar=1) + question() +
                         opt(rdata=struct.pack("!HH", 12, 1400) + b"\0" * 1400)))
    # -- IPv6 versions of a few
    case("IPv6: header truncated", "drop", lambda p, i: d6(p, header(i)[:7]), v6=True, counter="malformed")
    case("IPv6: QDCOUNT 2", "FORMERR",
         lambda p, i: d6(p, header(i, qd=2) + question() + question()), v6=True)
    case("IPv6: opcode 15", "NOTIMP", lambda p, i: d6(p, query(i, 15 << 11)), v6=True)
    case("IPv6: question pointer loop", "FORMERR",
         lambda p, i: d6(p, header(i) + b"\xc0\x0c" + struct.pack("!HH", 1, 1)), v6=True)

    # -- L2 / L3 / L4
    good4 = lambda p, i: s.udp4(p, query(i))
    # (AF_PACKET refuses frames below the 14-byte Ethernet header.)
    case("runt frame (Ethernet header only, ethertype IPv4)", "drop",
         lambda p, i: s.eth(0x0800, b""), counter="malformed")
    case("runt frame (ethertype IPv4, 10 bytes of IP)", "drop",
         lambda p, i: s.eth(0x0800, s.ip4(good4(p, i))[:10]), counter="malformed")
    # (The kernel drops this one before an AF_PACKET socket sees it.)
    case("VLAN tag cut", "drop", lambda p, i: SRV_MAC + s.mac + b"\x81\x00\x00",
         counter=None if AF_PACKET else "malformed")
    case("IPv4 header length 4 words", "drop",
         lambda p, i: s.eth(0x0800, s.ip4(good4(p, i), ihl=4)), counter="malformed")
    case("IPv4 header length 15 words, 20 bytes there", "drop",
         lambda p, i: s.eth(0x0800, s.ip4(good4(p, i), ihl=15, tot=48)), counter="malformed")
    case("IPv4 total length past the frame", "drop",
         lambda p, i: s.eth(0x0800, s.ip4(good4(p, i), tot=1400)), counter="malformed")
    case("IPv4 total length below the header", "drop",
         lambda p, i: s.eth(0x0800, s.ip4(good4(p, i), tot=12)), counter="malformed")
    case("IPv4 bad header checksum", "drop",
         lambda p, i: s.eth(0x0800, s.ip4(good4(p, i), bad_csum=True)), counter="malformed")
    case("IPv4 version 6 under ethertype IPv4", "drop",
         lambda p, i: s.eth(0x0800, s.ip4(good4(p, i), version=6)), counter="malformed")
    case("IPv4 options (legal, answered)", "NOERROR",
         lambda p, i: s.eth(0x0800, s.ip4(good4(p, i), ihl=6, options=b"\x01\x01\x01\x00")))
    case("UDP length past the IP payload", "drop",
         lambda p, i: s.eth(0x0800, s.ip4(s.udp4(p, query(i), ulen=600))), counter="malformed")
    case("UDP length below 8", "drop",
         lambda p, i: s.eth(0x0800, s.ip4(s.udp4(p, query(i), ulen=4))), counter="malformed")

    def frag(p, i, first):
        u = good4(p, i)
        if first:
            return s.eth(0x0800, s.ip4(u[:16], frag=0x2000))  # MF, offset 0
        return s.eth(0x0800, s.ip4(u[16:], frag=2))  # offset 16, last
    # The lcore never reassembles. But DPDK's AF_PACKET PMD has the kernel
    # reassemble IPv4 before handing frames over (PACKET_FANOUT_FLAG_DEFRAG),
    # so there the query arrives whole and is answered.
    case("IPv4 fragments (first + last of a query)", "NOERROR" if AF_PACKET else "drop",
         lambda p, i: [frag(p, i, True), frag(p, i, False)], counter="fragment")

    def frag6(p, i):
        u = s.udp6(p, query(i))
        fh = struct.pack("!BBHI", 17, 0, 0, 0x5151)  # offset 0, M=0: an atomic fragment
        return s.eth(0x86DD, s.ip6(fh + u, nh=44))
    case("IPv6 fragment header", "drop", frag6, v6=True, counter="fragment")
    case("IPv6 payload length past the frame", "drop",
         lambda p, i: s.eth(0x86DD, s.ip6(s.udp6(p, query(i)), plen=1200)), v6=True, counter="malformed")
    case("UDP source port 0", "drop",
         lambda p, i: s.eth(0x0800, s.ip4(s.udp4(0, query(i)))), counter="bad_source")
    case("IPv4 source 0.0.0.0", "drop",
         lambda p, i: s.eth(0x0800, s.ip4(s.udp4(p, query(i), src="0.0.0.0"), src="0.0.0.0")),
         counter="bad_source")
    case("IPv4 source 255.255.255.255", "drop",
         lambda p, i: s.eth(0x0800, s.ip4(s.udp4(p, query(i), src="255.255.255.255"),
                                          src="255.255.255.255")), counter="bad_source")

    # Send everything (paced a little: AF_PACKET on veth takes bursts, but a
    # PMD queue is 1024 deep), then collect the replies.
    for n, c in enumerate(cases):
        for f in c.frames:
            s.raw.send(f)
        if n % 16 == 15:
            time.sleep(0.01)
    deadline = time.time() + 2.0
    socks = {c.sock: c for c in cases}
    while time.time() < deadline:
        r, _, _ = select.select(list(socks), [], [], 0.1)
        for sk in r:
            c = socks[sk]
            data = sk.recv(65535)
            if c.reply is None:
                c.reply = data

    fails = 0
    expect = {"malformed": 0, "fragment": 0, "bad_source": 0}
    for c in cases:
        problem = None
        if c.expect == "drop":
            if c.reply is not None:
                problem = "expected no reply, got %d bytes" % len(c.reply)
            if c.counter:
                expect[c.counter] += len(c.frames)
        elif c.reply is None:
            problem = "no reply (expected %s)" % c.expect
        else:
            m = c.reply
            if len(m) < 12:
                problem = "reply of %d bytes" % len(m)
            else:
                qid, flags = struct.unpack("!HH", m[:4])
                rc = flags & 0xF
                ar = struct.unpack("!H", m[10:12])[0]
                # Extended rcode: the OPT is the last additional record here.
                if ar and len(m) >= 11 and m[-11] == 0 and m[-10:-8] == b"\x00\x29":
                    rc |= m[-6] << 4
                if qid != c.qid:
                    problem = "reply ID %#x, query ID %#x" % (qid, c.qid)
                elif not flags & 0x8000:
                    problem = "QR not set"
                elif rc != RCODES[c.expect]:
                    problem = "rcode %d, expected %s" % (rc, c.expect)
                elif len(m) > 1232:
                    problem = "reply of %d bytes" % len(m)
        if problem:
            fails += 1
            print("FAIL %s: %s" % (c.name, problem))
        else:
            print("ok %s: %s" % (c.name, c.expect if c.expect == "drop" else c.expect + " reply"))
    print("expect malformed=%d fragment=%d bad_source=%d" %
          (expect["malformed"], expect["fragment"], expect["bad_source"]))
    print("cases=%d failed=%d" % (len(cases), fails))
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
