#!/usr/bin/python3
"""Differential test: our answer engine against knotd, query by query.

knotd (Debian's Knot DNS) serves the zones in tests/data/diff/ on a free
loopback port from a private config in a temp dir; our engine answers the same
queries through tests/tools/answer_batch (load_zone_file + ZoneSet::build +
answer_query, no network). Several thousand generated queries cover every
answer rule: hits of every type, CNAME chains and loops, DNAME, wildcards
(also below empty non-terminals, wildcard CNAMEs), ENTs, referrals with glue
and DS at the cut, a child zone loaded beside its parent, NXDOMAIN, NODATA,
ANY, names in no zone, EDNS variants, 0x20 case variants, truncation, opcodes
other than QUERY, other classes and malformed queries.

Compared per query: rcode (with the EDNS extended bits), opcode, the QR AA TC
RD flags (RA ignored), EDNS presence, version, payload size, DO and options,
(Extended DNS Errors aside), the question (letter case included: it must be
echoed), and every section as
a set of records (owner and RDATA names case-insensitive, record order and
repeats ignored, TTLs compared). When either side sets TC, only TC, rcode, header and question
are compared, plus, for each side, that every RRset it kept is whole (equal
to that server's RRset over TCP).

A deliberate, documented difference may be allowed by tag: a line
`diff_knot: allow TAG` in docs/differences.md (tags are printed with each
mismatch). Exit 0 when nothing differs (allowed differences aside).

Over the wire: --ours-server IP[:PORT] sends our side to a running server
(edgedns) instead of answer_batch, the same query bytes as to knotd, a few in
flight, each matched to its query by ID. Everything compared stays the same.
The one thing a UDP-only server cannot give is the full answer behind a TC=1
response; that reference comes from answer_batch --tcp, i.e. the same engine
and zones (so --build is still needed). --ours-netns NAME re-runs this script
inside network namespace NAME (knotd then serves that namespace's loopback,
which must be up). --transport tcp sends both sides over TCP instead (one
connection per query): no truncation then.
tests/integration/dataplane_diff_knot.sh runs it against edgedns in a netns pair.

Usage: diff_knot.py [--build DIR] [--knot-only] [--seed N] [--show N]
                    [--ours-server IP[:PORT]] [--ours-netns NAME] [--transport udp|tcp]
"""

import argparse
import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import dns.edns
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.zone

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data" / "diff"
ZONES = [  # (apex, file): the child is loaded beside its parent on purpose
    ("diff.test.", "diff.test.zone"),
    ("child.diff.test.", "child.diff.test.zone"),
    ("other.test.", "other.test.zone"),
]
KNOT_PAYLOAD = 1232  # the same advertised size as our engine's default
FLAG_MASK = dns.flags.QR | dns.flags.AA | dns.flags.TC | dns.flags.RD

QTYPES = ["A", "NS", "CNAME", "SOA", "PTR", "HINFO", "MX", "TXT", "AAAA", "LOC", "SRV",
          "NAPTR", "DNAME", "DS", "SSHFP", "RRSIG", "NSEC", "DNSKEY", "NSEC3PARAM", "TLSA",
          "CDS", "CDNSKEY", "SVCB", "HTTPS", "SPF", "CAA", "ANY", "TYPE65280", "TYPE65281"]
VARIANT_QTYPES = ["A", "AAAA", "TXT", "MX", "NS", "ANY"]


class Case:
    """One query: its wire bytes and a tag naming why it exists."""

    def __init__(self, tag, wire, desc, qid):
        self.tag, self.wire, self.desc, self.qid = tag, wire, desc, qid


def free_port():
    """A port free for both UDP and TCP on 127.0.0.1 (knotd listens on both)."""
    for _ in range(50):
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind(("127.0.0.1", 0))
        port = u.getsockname()[1]
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            t.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            t.close()
            u.close()
    raise RuntimeError("no free loopback port")


# ---------------------------------------------------------------- knotd side

class Knot:
    def __init__(self, tmp, port):
        self.tmp, self.port, self.proc = Path(tmp), port, None
        self.log = self.tmp / "knotd.log"

    def write_config(self):
        for d in ("run", "db"):
            (self.tmp / d).mkdir(exist_ok=True)
        lines = [
            "server:",
            f"    listen: 127.0.0.1@{self.port}",
            f"    rundir: {self.tmp / 'run'}",
            "    user: root:root",
            "    udp-workers: 1",
            "    tcp-workers: 1",
            "    background-workers: 1",
            f"    udp-max-payload: {KNOT_PAYLOAD}",
            # CHAOS identity/version answers are a server feature, not zone data;
            # off, so that class CH queries test the engine's class handling.
            '    identity: ""',
            '    version: ""',
            "database:",
            f"    storage: {self.tmp / 'db'}",
            "log:",
            "  - target: stderr",
            "    any: info",
            "template:",
            "  - id: default",
            f"    storage: {DATA}",
            "    zonefile-sync: -1",
            "    zonefile-load: whole",
            "    journal-content: none",
            "    semantic-checks: off",
            "zone:",
        ]
        for apex, f in ZONES:
            lines += [f"  - domain: {apex}", f"    file: {DATA / f}"]
        conf = self.tmp / "knot.conf"
        conf.write_text("\n".join(lines) + "\n")
        return conf

    def start(self):
        conf = self.write_config()
        self.logf = open(self.log, "w")
        self.proc = subprocess.Popen(["knotd", "-c", str(conf)], stdin=subprocess.DEVNULL,
                                     stdout=self.logf, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        pending = [apex for apex, _ in ZONES]
        while pending:
            if self.proc.poll() is not None:
                raise RuntimeError("knotd exited with %d:\n%s" % (self.proc.returncode, self.log_tail()))
            if time.monotonic() > deadline:
                raise RuntimeError("knotd did not serve %s within 30 s:\n%s" % (pending, self.log_tail()))
            apex = pending[0]
            q = dns.message.make_query(apex, "SOA", use_edns=False)
            r = udp_exchange(self.port, q.to_wire(), q.id, timeout=0.3)
            if r is not None:
                m = dns.message.from_wire(r)
                if m.rcode() == dns.rcode.NOERROR and m.flags & dns.flags.AA and m.answer:
                    pending.pop(0)
                    continue
            time.sleep(0.1)

    def log_tail(self, n=30):
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


_udp_sock = None


def udp_exchange(port, wire, qid, timeout=1.0):
    """Sends one query over UDP and returns the response with its ID, or None."""
    global _udp_sock
    if _udp_sock is None:
        _udp_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        _udp_sock.bind(("127.0.0.1", 0))
    s = _udp_sock
    s.sendto(wire, ("127.0.0.1", port))
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        s.settimeout(left)
        try:
            data, _ = s.recvfrom(65535)
        except socket.timeout:
            return None
        if len(data) >= 2 and struct.unpack("!H", data[:2])[0] == qid:
            return data  # anything else is a late answer to an earlier query


def tcp_exchange(port, wire, timeout=3.0, host="127.0.0.1"):
    """One query on its own TCP connection; None when the server closes or
    resets it without a (whole) answer."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.sendall(struct.pack("!H", len(wire)) + wire)
            hdr = recv_exact(s, 2)
            if hdr is None:
                return None
            return recv_exact(s, struct.unpack("!H", hdr)[0])
    except (ConnectionError, socket.timeout):
        return None


def parse_server(text):
    """'IP', 'IP:PORT', '[IPv6]:PORT' or a bare IPv6 address -> (family, host, port)."""
    m = re.fullmatch(r"\[([^\]]+)\](?::(\d+))?", text)
    if m:
        host, port = m.group(1), m.group(2)
    elif text.count(":") == 1:
        host, port = text.split(":")
    else:
        host, port = text, None
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    socket.inet_pton(fam, host)  # OSError on anything but a literal address
    return fam, host, int(port or 53)


def udp_exchange_many(server, cases, timeout, tries, window):
    """Sends every case's query to `server` over UDP with at most `window`
    unanswered at once and returns the responses in order (None when none came
    in `tries` sends of `timeout` s each). Responses are matched by ID (the
    corpus's IDs are unique) on a socket connected to the server, so that only
    its answers count; a repeat answer after a resend is ignored."""
    fam, host, port = server
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.connect((host, port))
    out = [None] * len(cases)
    pending = {}  # qid -> [index, deadline, sends left]
    nxt = 0
    try:
        while nxt < len(cases) or pending:
            now = time.monotonic()
            while nxt < len(cases) and len(pending) < window:
                c = cases[nxt]
                s.send(c.wire)
                pending[c.qid] = [nxt, now + timeout, tries - 1]
                nxt += 1
            for qid, p in list(pending.items()):
                if p[1] > now:
                    continue
                if p[2] > 0:
                    s.send(cases[p[0]].wire)
                    p[1], p[2] = now + timeout, p[2] - 1
                else:
                    del pending[qid]
            if not pending:
                continue
            s.settimeout(max(0.001, min(p[1] for p in pending.values()) - now))
            try:
                data = s.recv(65535)
            except socket.timeout:
                continue
            except ConnectionRefusedError:  # an ICMP unreachable: nothing to read
                continue
            if len(data) >= 2:
                p = pending.pop(struct.unpack("!H", data[:2])[0], None)
                if p is not None:
                    out[p[0]] = data
    finally:
        s.close()
    return out


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        try:
            chunk = s.recv(n - len(buf))
        except socket.timeout:
            return None
        if not chunk:
            return None
        buf += chunk
    return buf


# ----------------------------------------------------------------- our side

def answer_batch(exe, wires, tcp=False):
    """Our engine's responses (None when dropped), in order."""
    cmd = [str(exe)]
    for _, f in ZONES:
        cmd += ["--zone", str(DATA / f)]
    if tcp:
        cmd.append("--tcp")
    inp = "".join(w.hex() + "\n" for w in wires)
    p = subprocess.run(cmd, input=inp, capture_output=True, text=True, timeout=300)
    if p.returncode != 0:
        raise RuntimeError("answer_batch exited %d:\n%s" % (p.returncode, p.stderr[-3000:]))
    lines = p.stdout.split("\n")
    if len(lines) < len(wires):
        raise RuntimeError("answer_batch gave %d answers for %d queries" % (len(lines), len(wires)))
    return [bytes.fromhex(l) if l.strip() else None for l in lines[:len(wires)]]


# ------------------------------------------------------------- query corpus

def zone_names():
    names = set()
    for apex, f in ZONES:
        z = dns.zone.from_file(str(DATA / f), origin=apex, relativize=False,
                               check_origin=True)
        for n in z.nodes.keys():
            names.add(n.to_text())
    return sorted(names)


SYNTH_NAMES = [
    # wildcards: plain, several labels deep, beside explicit names, below ENTs
    "foo.wild.diff.test.", "a.b.wild.diff.test.", "z.sub.wild.diff.test.",
    "y.wild.diff.test.", "q.y.wild.diff.test.", "bar.wc.diff.test.", "a.wcloop.diff.test.",
    "a.wcnx.diff.test.", "q.e.entw.diff.test.", "e.entw.diff.test.", "entw.diff.test.",
    "zz.entw2.diff.test.", "x.entw2.diff.test.", "zz.x.entw2.diff.test.",
    "*.wild.diff.test.", "x.wl1.diff.test.", "x.wl2.diff.test.",
    # empty non-terminals and names below them
    "ent.diff.test.", "c.ent.diff.test.", "b.c.ent.diff.test.", "nx.b.c.ent.diff.test.",
    "_udp.diff.test.", "_tcp.diff.test.", "_tcp.www.diff.test.",
    # referrals: below cuts, at cuts, glue names
    "host.deleg.diff.test.", "a.b.deleg.diff.test.", "x.deleg2.diff.test.",
    "x.deleg3.diff.test.", "ns.deleg3.diff.test.",
    # child zone loaded beside the parent, and a grandchild referral
    "nx.child.diff.test.", "x.grandchild.child.diff.test.", "a.any.child.diff.test.",
    # DNAME: synthesis, chains, loops, an overlong result (YXDOMAIN)
    "x.dn.diff.test.", "y.dn.diff.test.", "z.dn.diff.test.", "nx.dn.diff.test.",
    "a.x.dn.diff.test.", "x.dnext.diff.test.", "www.dnext.diff.test.", "nx.dnext.diff.test.",
    "www.dnchild.diff.test.", "x.dnl1.diff.test.", "x.dntxt.diff.test.",
    "q.dnlong.diff.test.", ("a" * 60) + ".dnlong.diff.test.", "q.mixd.diff.test.",
    # NXDOMAIN below existing names
    "nothere.diff.test.", "nx.www.diff.test.", "a.b.nothere.diff.test.",
    "nothere.other.test.", "nx.mail.diff.test.",
    # names in no zone (REFUSED) and the root
    "nowhere.invalid.", "test.", ".", "com.", "xdiff.test.", "other2.test.",
    "www.example.invalid.",
]


# Names whose every query is tagged with the rule they test instead of the
# variant, so that a deliberate difference can be allowed for just that rule.
RULE_TAGS = {
    ("a" * 60) + ".dnlong.diff.test.": "dname-overlong",  # RFC 6672 §2.2 YXDOMAIN
}


def randcase(rng, text):
    return "".join(c.upper() if c.isalpha() and rng.random() < 0.5 else c for c in text)


def make(rng, qid, name, qtype, rdclass="IN", edns=0, payload=1232, do=False,
         options=None, rd=None, case=False):
    if case:
        name = randcase(rng, name)
    q = dns.message.make_query(name, qtype, rdclass, use_edns=False)
    q.id = qid
    q.flags = 0
    if rd is None:
        rd = rng.random() < 0.5
    if rd:
        q.flags |= dns.flags.RD
    if edns is not None:
        q.use_edns(edns, dns.flags.DO if do else 0, payload, options=options or [])
    return q


def build_corpus(seed):
    rng = random.Random(seed)
    cases = []

    def add(tag, q_or_wire, desc=None):
        qid = len(cases) + 1
        if isinstance(q_or_wire, dns.message.Message):
            if len(q_or_wire.question):
                tag = RULE_TAGS.get(q_or_wire.question[0].name.to_text().lower(), tag)
            q_or_wire.id = qid
            wire = q_or_wire.to_wire()
            if desc is None:
                desc = describe_query(q_or_wire)
        else:
            wire = struct.pack("!H", qid) + q_or_wire[2:]
        cases.append(Case(tag, wire, desc, qid))

    names = zone_names() + SYNTH_NAMES
    # Every name with every type, EDNS 1232 (the common case), some in 0x20 case.
    for n in names:
        for t in QTYPES:
            case = rng.random() < 0.2
            add("case" if case else "plain", make(rng, 0, n, t, case=case))
    # EDNS and size variants on the types that make big or chained answers.
    variants = [
        ("edns:none", dict(edns=None)),
        ("edns:512", dict(payload=512)),
        ("edns:100", dict(payload=100)),      # below 512: treated as 512
        ("edns:4096", dict(payload=4096)),
        ("edns:do", dict(do=True)),
        ("edns:v1", dict(edns=1)),            # BADVERS
        ("edns:opt", dict(options=[dns.edns.GenericOption(65001, b"\x01\x02"),
                                   dns.edns.GenericOption(10, b"\x00" * 8)])),
    ]
    for n in names:
        for t in VARIANT_QTYPES:
            tag, kw = rng.choice(variants)
            add(tag, make(rng, 0, n, t, case=rng.random() < 0.3, **kw))
    # Truncation: big RRsets and big additional sections at every size limit.
    for n in ["biga.diff.test.", "bigtxt.diff.test.", "midtxt.diff.test.", "bigmx.diff.test.",
              "diff.test.", "www.diff.test.", "_sip._udp.diff.test."]:
        for t in ["A", "TXT", "MX", "ANY", "NS", "DNSKEY"]:
            for tag, kw in [("tc:none", dict(edns=None)), ("tc:512", dict(payload=512)),
                            ("tc:1232", dict(payload=1232)), ("tc:4096", dict(payload=4096)),
                            ("tc:case", dict(edns=None, case=True)),
                            ("tc:do512", dict(payload=512, do=True))]:
                add(tag, make(rng, 0, n, t, **kw))
    # Opcodes other than QUERY.
    for op, tag in [(dns.opcode.NOTIFY, "opcode:notify"), (dns.opcode.UPDATE, "opcode:update"),
                    (dns.opcode.IQUERY, "opcode:other"), (dns.opcode.STATUS, "opcode:other"),
                    (3, "opcode:other"), (6, "opcode:other"), (15, "opcode:other")]:
        # UPDATE's first section is the zone section: always an SOA question.
        qs = [("diff.test.", "SOA"), ("child.diff.test.", "SOA"), ("nowhere.invalid.", "SOA")]
        if op != dns.opcode.UPDATE:
            qs += [("www.diff.test.", "A")]
        for n, t in qs:
            for edns in (None, 0):
                q = make(rng, 0, n, t, edns=edns, rd=False)
                if op == dns.opcode.NOTIFY:
                    q.flags |= dns.flags.AA
                # dnspython knows only assigned opcodes: patch the header bits.
                w = bytearray(q.to_wire())
                w[2] = (w[2] & 0x87) | (int(op) << 3)
                add(tag, bytes(w), describe_query(q).replace("opcode=QUERY", "opcode=%d" % int(op)))
    # Other classes.
    for cls in ["CH", "HS", "ANY", "NONE"]:
        for n, t in [("version.bind.", "TXT"), ("id.server.", "TXT"), ("hostname.bind.", "TXT"),
                     ("www.diff.test.", "A"), ("diff.test.", "SOA")]:
            for edns in (None, 0):
                add("class:" + cls.lower(), make(rng, 0, n, t, rdclass=cls, edns=edns))
    # Zone transfers over UDP.
    for n in ["diff.test.", "child.diff.test.", "www.diff.test.", "nowhere.invalid."]:
        for t in ["AXFR", "IXFR"]:
            for edns in (None, 0):
                add("xfr-udp", make(rng, 0, n, t, edns=edns))
    # Malformed queries.
    base = make(rng, 0, "www.diff.test.", "A", edns=None, rd=True).to_wire()
    opt = make(rng, 0, "www.diff.test.", "A", rd=True).to_wire()
    add("malformed:qdcount0", base[:4] + b"\x00\x00" + base[6:12], "QDCOUNT=0, no question")
    add("malformed:qdcount0", opt[:4] + b"\x00\x00" + opt[6:12] + opt[len(base):],
        "QDCOUNT=0 with OPT (question bytes removed)")
    # Not here: QDCOUNT=2 and a question cut short, which knotd silently drops
    # where we answer FORMERR; the engine's unit tests pin those down.
    add("malformed:qr", base[:2] + bytes([base[2] | 0x80]) + base[3:], "QR=1 (a response)")
    add("malformed:short", base[:7], "7-byte header")
    add("malformed:2opt", opt[:10] + b"\x00\x02" + opt[12:] + opt[len(base):],
        "two OPT records")
    add("malformed:trailing", base + b"\x00\x01\x02", "3 bytes after the question")
    ancount = bytearray(base)
    ancount[7] = 1
    add("malformed:ancount", bytes(ancount), "ANCOUNT=1 but no answer record")
    return cases


def describe_query(q):
    qq = q.question[0] if len(q.question) else None
    parts = [qq.name.to_text() if qq is not None else "(no question)"]
    if qq is not None:
        parts.append(dns.rdataclass.to_text(qq.rdclass))
        parts.append(dns.rdatatype.to_text(qq.rdtype))
    parts.append("opcode=" + dns.opcode.to_text(q.opcode()))
    if q.flags & dns.flags.RD:
        parts.append("+rd")
    if q.edns < 0:
        parts.append("noedns")
    else:
        parts.append("edns=%d bufsize=%d" % (q.edns, q.payload))
        if q.ednsflags & dns.flags.DO:
            parts.append("+do")
        if q.options:
            parts.append("opts=" + ",".join(str(int(o.otype)) for o in q.options))
    return " ".join(parts)


# --------------------------------------------------------------- comparison

def parse(wire):
    """Decodes a message; unassigned opcodes (which dnspython rejects) are read
    as QUERY here and compared from the raw header by header_view."""
    if len(wire) > 2 and ((wire[2] >> 3) & 0xF) not in (0, 1, 2, 4, 5):
        wire = wire[:2] + bytes([wire[2] & 0x87]) + wire[3:]
    try:
        return dns.message.from_wire(wire, one_rr_per_rrset=True), None
    except Exception as e:  # noqa: BLE001 - any decode failure is a finding
        return None, "%s: %s" % (type(e).__name__, e)


def records(section):
    """Sorted [(key, text)]: key compares owner and RDATA names case-insensitively
    (RFC 4034 canonical form), text is only for printing."""
    out = []
    for rrset in section:
        for rd in rrset:
            key = (rrset.name.to_text().lower(), dns.rdatatype.to_text(rrset.rdtype),
                   dns.rdataclass.to_text(rrset.rdclass), rrset.ttl, rd.to_digestable().hex())
            out.append((key, rd.to_text()))
    # A set, as RRsets are: Knot repeats the RRsets of a CNAME/DNAME loop.
    return sorted(dict(out).items())


def rrsets(section):
    """{(owner, type, class): {(ttl, rdata)}} for whole-RRset checks. Sets: a
    CNAME/DNAME loop repeats one RRset, and a cut may keep fewer repeats."""
    groups = {}
    for rrset in section:
        key = (rrset.name.to_text().lower(), rrset.rdtype, rrset.rdclass)
        for rd in rrset:
            groups.setdefault(key, set()).add((rrset.ttl, rd.to_digestable().hex()))
    return groups


def header_view(m, wire):
    return {
        "rcode": dns.rcode.to_text(m.rcode()),
        "opcode": (wire[2] >> 3) & 0xF,
        "flags": dns.flags.to_text(m.flags & FLAG_MASK) or "(none)",
        "edns": m.edns,
        "payload": m.payload if m.edns >= 0 else None,
        "do": bool(m.ednsflags & dns.flags.DO) if m.edns >= 0 else None,
        # Extended DNS Errors (RFC 8914, option 15) are informational and
        # optional; Knot adds them to REFUSED. Every other option counts.
        "options": sorted(int(o.otype) for o in m.options if int(o.otype) != 15)
        if m.edns >= 0 else None,
        "question": [(r.name.to_text(), dns.rdataclass.to_text(r.rdclass),
                      dns.rdatatype.to_text(r.rdtype)) for r in m.question],
    }


SECTIONS = ["answer", "authority", "additional"]


def whole_rrsets(m, full, who):
    """Each RRset kept in truncated `m` must equal the same RRset in `full`."""
    if full is None:
        return ["%s: no full (TCP) answer to check truncation against" % who]
    diffs = []
    for sec in SECTIONS:
        have, want = rrsets(getattr(m, sec)), rrsets(getattr(full, sec))
        for key, rrs in have.items():
            if want.get(key) != rrs:
                diffs.append("%s: truncated %s keeps a partial RRset %s %s: %d of %d records"
                             % (who, sec, key[0], dns.rdatatype.to_text(key[1]), len(rrs),
                                len(want.get(key, ()))))
    return diffs


def compare(case, ours, knot, ours_full, knot_full):
    """List of differences (empty when equal)."""
    if ours is None and knot is None:
        return []
    if ours is None:
        return ["ours dropped the query, Knot answered"]
    if knot is None:
        return ["Knot dropped the query, ours answered"]
    mo, eo = parse(ours)
    mk, ek = parse(knot)
    if eo:
        return ["ours does not decode: " + eo]
    if ek:
        return ["Knot's does not decode: " + ek]
    diffs = []
    if mo.id != case.qid:
        diffs.append("ours: id %d, query id %d" % (mo.id, case.qid))
    ho, hk = header_view(mo, ours), header_view(mk, knot)
    for k in ho:
        if ho[k] != hk[k]:
            diffs.append("%s: ours=%s knot=%s" % (k, ho[k], hk[k]))
    truncated = (mo.flags | mk.flags) & dns.flags.TC
    if truncated:
        fo = parse(ours_full)[0] if ours_full else None
        fk = parse(knot_full)[0] if knot_full else None
        diffs += whole_rrsets(mo, fo, "ours")
        diffs += whole_rrsets(mk, fk, "knot")
        return diffs
    for sec in SECTIONS:
        ro, rk = records(getattr(mo, sec)), records(getattr(mk, sec))
        ko, kk = [k for k, _ in ro], [k for k, _ in rk]
        if ko != kk:
            only_o = [r for r in ro if r[0] not in kk]
            only_k = [r for r in rk if r[0] not in ko]
            diffs.append("%s section differs: only ours %s; only knot %s"
                         % (sec, fmt_records(only_o), fmt_records(only_k)))
    return diffs


def fmt_records(rs):
    if not rs:
        return "[]"
    return "[" + "; ".join("%s %d %s %s" % (n, ttl, t, text[:60])
                           for (n, t, _c, ttl, _rd), text in rs) + "]"


def show(wire):
    if wire is None:
        return "    (no response)"
    m, err = parse(wire)
    if err:
        return "    (undecodable: %s) %s" % (err, wire.hex())
    return "\n".join("    " + l for l in m.to_text().splitlines())


def read_allowlist():
    path = REPO / "docs" / "differences.md"
    if not path.exists():
        return set()
    return set(re.findall(r"diff_knot:\s*allow\s+([\w:.\-]+)", path.read_text()))


# --------------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=os.environ.get("EDGEDNS_BUILD", str(REPO / "build")),
                    help="meson build dir holding tests/tools/answer_batch (default: build/)")
    ap.add_argument("--knot-only", action="store_true",
                    help="only check that knotd answers the corpus (no engine needed)")
    ap.add_argument("--self-check", action="store_true",
                    help="compare knotd with itself (tests this script's comparison)")
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--show", type=int, default=40,
                    help="print full messages for the first N mismatches")
    ap.add_argument("--ours-server", metavar="IP[:PORT]",
                    help="send our side over the wire to this DNS server (edgedns) "
                    "instead of answer_batch (port 53 unless given; [v6]:port)")
    ap.add_argument("--ours-netns", metavar="NAME",
                    help="run the whole comparison inside network namespace NAME "
                    "(knotd on its loopback, which must be up)")
    ap.add_argument("--transport", choices=["udp", "tcp"], default="udp",
                    help="send the corpus to both sides over UDP (default) or TCP")
    ap.add_argument("--ours-timeout", type=float, default=0.5,
                    help="--ours-server over UDP: seconds to wait per send (default 0.5)")
    ap.add_argument("--ours-tries", type=int, default=2,
                    help="--ours-server over UDP: sends per query before it counts as dropped")
    ap.add_argument("--in-flight", type=int, default=8,
                    help="--ours-server over UDP: queries outstanding at once (default 8)")
    args = ap.parse_args()

    if args.ours_netns and os.environ.get("EDGEDNS_DIFF_NETNS") != args.ours_netns:
        # The namespace is entered by re-running this script under `ip netns
        # exec`; the variable says we are already inside.
        env = dict(os.environ, EDGEDNS_DIFF_NETNS=args.ours_netns)
        cmd = ["ip", "netns", "exec", args.ours_netns, sys.executable or "/usr/bin/python3",
               str(Path(__file__).resolve())] + sys.argv[1:]
        sys.stdout.flush()
        os.execvpe("ip", cmd, env)
    ours_server = None
    if args.ours_server:
        try:
            ours_server = parse_server(args.ours_server)
        except (OSError, ValueError):
            print("diff_knot: --ours-server %s: not IP, IP:PORT or [IPv6]:PORT" % args.ours_server)
            return 1

    if not shutil.which("knotd"):
        print("diff_knot: knotd not installed (scripts/setup.sh installs it)")
        return 1
    exe = Path(args.build) / "tests" / "tools" / "answer_batch"
    # Over the wire, answer_batch is still the whole-RRset reference for our
    # truncated UDP answers (see the module text); over TCP nothing truncates.
    needs_exe = not (args.knot_only or args.self_check) and not (
        ours_server and args.transport == "tcp")
    if needs_exe and not exe.exists():
        print("diff_knot: %s missing (build first)" % exe)
        return 1

    # The zones must be valid for Knot too, or the comparison means nothing.
    if shutil.which("kzonecheck"):
        for apex, f in ZONES:
            p = subprocess.run(["kzonecheck", "-o", apex, str(DATA / f)],
                               capture_output=True, text=True)
            if p.returncode != 0:
                print("diff_knot: kzonecheck rejects %s:\n%s" % (f, p.stdout + p.stderr))
                return 1
    else:
        print("diff_knot: kzonecheck missing (package knot-dnssecutils; scripts/setup.sh)")
        return 1

    cases = build_corpus(args.seed)
    if args.transport == "tcp":
        # The allowed xfr-udp difference is about UDP (RFC 5936 §4.2); over TCP a
        # transfer request is another case, with no allowance of its own.
        for c in cases:
            if c.tag == "xfr-udp":
                c.tag = "xfr-tcp"
    tags = {}
    for c in cases:
        tags[c.tag] = tags.get(c.tag, 0) + 1

    tmp = tempfile.mkdtemp(prefix="edgedns-diffknot-")
    knot = Knot(tmp, free_port())
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    try:
        knot.start()
        print("diff_knot: knotd %s serving %d zones on 127.0.0.1@%d; %d queries"
              % (knot_version(), len(ZONES), knot.port, len(cases)))
        if ours_server:
            print("diff_knot: ours: the server at %s port %d over %s%s"
                  % (ours_server[1], ours_server[2], args.transport.upper(),
                     " (%d in flight, %.1f s x %d tries)" % (args.in_flight, args.ours_timeout,
                                                             args.ours_tries)
                     if args.transport == "udp" else ""))
        elif args.transport == "tcp":
            print("diff_knot: both sides over TCP")
        # Queries Knot is expected to drop cost a timeout each; keep it short.
        if args.transport == "tcp":
            knot_ans = [tcp_exchange(knot.port, c.wire) for c in cases]
        else:
            knot_ans = [udp_exchange(knot.port, c.wire, c.qid,
                                     timeout=0.3 if c.tag in ("malformed:qr", "malformed:short") else 2.0)
                        for c in cases]
            # Knot's answers are deterministic: one that went missing on a
            # loaded machine (a dropped datagram, a starved knotd) is asked
            # again, twice at most; the queries Knot drops by design stay dropped.
            for _ in range(2):
                for i, c in enumerate(cases):
                    if knot_ans[i] is None and c.tag not in ("malformed:qr", "malformed:short"):
                        knot_ans[i] = udp_exchange(knot.port, c.wire, c.qid, timeout=2.0)
        knot_rcodes = {}
        for c, a in zip(cases, knot_ans):
            k = "dropped" if a is None else dns.rcode.to_text(parse(a)[0].rcode()) if parse(a)[0] else "undecodable"
            knot_rcodes[k] = knot_rcodes.get(k, 0) + 1
        print("diff_knot: Knot's rcodes: " + ", ".join("%s %d" % kv for kv in sorted(knot_rcodes.items())))
        tc_idx = [i for i, a in enumerate(knot_ans)
                  if a and len(a) > 3 and a[2] & 0x02]  # TC bit
        if args.knot_only:
            unanswered = [c for c, a in zip(cases, knot_ans)
                          if a is None and c.tag not in ("malformed:qr", "malformed:short")]
            for c in unanswered:
                print("diff_knot: Knot did not answer [%s] %s" % (c.tag, c.desc))
            print("diff_knot: knot-only: %d queries, %d truncated, %d unanswered"
                  % (len(cases), len(tc_idx), len(unanswered)))
            return 1 if unanswered else 0

        t0 = time.monotonic()
        if args.self_check and args.transport == "tcp":
            ours = [tcp_exchange(knot.port, c.wire) for c in cases]
        elif args.self_check:
            ours = [udp_exchange(knot.port, c.wire, c.qid, timeout=0.3 if c.tag in (
                "malformed:qr", "malformed:short") else 2.0) for c in cases]
        elif ours_server and args.transport == "tcp":
            ours = [tcp_exchange(ours_server[2], c.wire, host=ours_server[1]) for c in cases]
        elif ours_server:
            ours = udp_exchange_many(ours_server, cases, args.ours_timeout, args.ours_tries,
                                     args.in_flight)
        else:
            ours = answer_batch(exe, [c.wire for c in cases], tcp=args.transport == "tcp")
        if ours_server:
            print("diff_knot: ours answered %d of %d in %.1f s"
                  % (sum(a is not None for a in ours), len(cases), time.monotonic() - t0))
        tc_idx = sorted(set(tc_idx) | {i for i, a in enumerate(ours)
                                       if a and len(a) > 3 and a[2] & 0x02})
        ours_full, knot_full = [None] * len(cases), [None] * len(cases)
        if tc_idx:
            if args.self_check:
                full = [tcp_exchange(knot.port, cases[i].wire) for i in tc_idx]
            elif ours_server and args.transport == "tcp":
                full = [tcp_exchange(ours_server[2], cases[i].wire, host=ours_server[1])
                        for i in tc_idx]
            else:
                full = answer_batch(exe, [cases[i].wire for i in tc_idx], tcp=True)
            for i, a in zip(tc_idx, full):
                ours_full[i] = a
                knot_full[i] = tcp_exchange(knot.port, cases[i].wire)
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
        print("diff_knot: %s" % e)
        print("diff_knot: %d queries, %d mismatches" % (len(cases), len(cases)))
        return 1
    finally:
        knot.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    allow = read_allowlist()
    mismatches, allowed, shown = 0, 0, 0
    by_tag = {}
    for i, c in enumerate(cases):
        diffs = compare(c, ours[i], knot_ans[i], ours_full[i], knot_full[i])
        if not diffs:
            continue
        if c.tag in allow:
            allowed += 1
            continue
        mismatches += 1
        by_tag[c.tag] = by_tag.get(c.tag, 0) + 1
        print("MISMATCH [%s] %s" % (c.tag, c.desc))
        for d in diffs:
            print("  - " + d)
        if shown < args.show:
            shown += 1
            print("  query:  " + c.wire.hex())
            print("  ours:\n" + show(ours[i]))
            print("  knot:\n" + show(knot_ans[i]))
    print("diff_knot: queries by tag: " + ", ".join("%s %d" % kv for kv in sorted(tags.items())))
    if by_tag:
        print("diff_knot: mismatches by tag: " + ", ".join("%s %d" % kv for kv in sorted(by_tag.items())))
    if allowed:
        print("diff_knot: %d differences allowed by docs/differences.md (tags %s)"
              % (allowed, ", ".join(sorted(allow))))
    print("diff_knot: %d queries, %d mismatches" % (len(cases), mismatches))
    return 1 if mismatches else 0


def knot_version():
    try:
        out = subprocess.run(["knotd", "--version"], capture_output=True, text=True).stdout
        return out.split()[-1]
    except (OSError, IndexError):
        return "?"


if __name__ == "__main__":
    sys.exit(main())
