#!/usr/bin/python3
"""Writes the seed corpora of the fuzz targets into tests/fuzz/corpus/<target>/.

The seeds are committed; rerun this only to change them (it replaces every
seed it writes and leaves other files alone). Each seed is a small input that
reaches one behaviour, so the fuzzer starts from the interesting paths
instead of rediscovering DNS framing, zone-file syntax or the protocol's JSON.
Formats: see the comment at the top of each fuzz_<target>.cc.
"""
import json
import os
import struct

ROOT = os.path.dirname(os.path.abspath(__file__))


def write(target, name, data):
    d = os.path.join(ROOT, "corpus", target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---------------------------------------------------------------- query
def wire(name):
    out = b""
    for label in name.rstrip(".").split(".") if name != "." else []:
        out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def opt(size=1232, ext=0, version=0, flags=0x8000, options=b""):
    return b"\0" + struct.pack(">HHBBHH", 41, size, ext, version, flags, len(options)) + options


def query(name, qtype, qid=0x1234, flags=0x0100, edns=None, qd=1, an=0, ns=0, extra=b"",
          qclass=1, raw_qname=None):
    ar = 1 if edns is not None else 0
    hdr = struct.pack(">HHHHHH", qid, flags, qd, an, ns, ar)
    q = (raw_qname if raw_qname is not None else wire(name)) + struct.pack(">HH", qtype, qclass)
    return hdr + q + (edns if edns is not None else b"") + extra


def qseed(name, pkt, cfg=0):
    write("query", name, bytes([cfg]) + pkt)


A, NS, CNAME, SOA, PTR, MX, TXT, AAAA, SRV, DNAME, DS, ANY = 1, 2, 5, 6, 12, 15, 16, 28, 33, 39, 43, 255
names = [
    ("example.com.", [SOA, NS, MX, A, ANY, AAAA]),
    ("www.example.com.", [A, AAAA, TXT]),
    ("alias.example.com.", [A]),
    ("chain1.example.com.", [A]),
    ("loop1.example.com.", [A]),
    ("foo.wild.example.com.", [A, MX]),
    ("x.wc.example.com.", [A]),
    ("b.c.ent.example.com.", [A]),
    ("host.sub.example.com.", [A, DS]),
    ("sub.example.com.", [DS, NS, A]),
    ("x.dn.example.com.", [A]),
    ("big.example.com.", [TXT]),
    ("nothere.example.com.", [A]),
    ("www.diff.test.", [A, ANY]),
    ("_sip._udp.diff.test.", [SRV]),
    ("c1.diff.test.", [A]),
    ("www.child.diff.test.", [A]),
    ("svc.alltypes.example.", [64, 65]),
    ("alltypes.example.", [ANY]),
    ("bigv4.rich.fuzz.", [A]),
    ("bigtxt.rich.fuzz.", [TXT, ANY]),
    ("x.deleg.rich.fuzz.", [A]),
    ("mx.rich.fuzz.", [MX]),
    ("srv.rich.fuzz.", [SRV]),
    ("q.w.rich.fuzz.", [A, MX]),
    ("a.y.w.rich.fuzz.", [A]),
    ("a.dn.rich.fuzz.", [A]),
    ("cloop.rich.fuzz.", [A]),
    ("naptr.rich.fuzz.", [35]),
    ("www.example.org.", [A]),
]
i = 0
for n, types in names:
    for t in types:
        # cfg byte cycles our payload and the small buffer
        qseed("q%03d" % i, query(n, t, qid=i, edns=opt(size=[1232, 512, 4096, 1400][i % 4])),
              cfg=(i * 37) & 0xff)
        i += 1
qseed("plain", query("www.example.com.", A))
qseed("plain_big", query("bigv4.rich.fuzz.", A))
qseed("tcp_like_4096", query("bigtxt.rich.fuzz.", TXT, edns=opt(size=65535)), cfg=2)
qseed("case", query("WwW.ExAmPlE.CoM.", A, edns=opt()))
qseed("long_name", query("a" * 63 + "." + "a" * 63 + "." + "a" * 63 + ".x12345678901234567890123456789012345678901234567890.rich.fuzz.", A, edns=opt()))
qseed("edns_v1", query("www.example.com.", A, edns=opt(version=1)))
qseed("edns_opts", query("www.example.com.", A, edns=opt(options=struct.pack(">HH", 10, 8) + b"cookie!!" + struct.pack(">HH", 65001, 0))))
qseed("edns_badopt", query("www.example.com.", A, edns=opt(options=struct.pack(">HH", 10, 9) + b"short")))
two = query("www.example.com.", A, edns=opt() + opt())
qseed("two_opts", two[:10] + b"\0\2" + two[12:])
qseed("opt_in_answer", query("www.example.com.", A, an=1, extra=opt()))
qseed("opcode1", query("www.example.com.", A, flags=0x0900, edns=opt()))
qseed("opcode15", query("www.example.com.", A, flags=0x7900))
qseed("qr_set", query("www.example.com.", A, flags=0x8100))
qseed("qd0", query("www.example.com.", A, qd=0, edns=opt()))
qseed("qd2", query("www.example.com.", A, qd=2) + wire("example.com.") + b"\0\1\0\1")
qseed("class_ch", query("version.bind.", TXT, qclass=3))
qseed("class_any", query("www.example.com.", A, qclass=255))
qseed("axfr", query("example.com.", 252))
qseed("ptr_in_question", query("", A, raw_qname=b"\xc0\x0c"))
qseed("label64", query("", A, raw_qname=b"\x40" + b"a" * 64 + b"\0"))
qseed("trailing", query("www.example.com.", A) + b"garbage")
qseed("truncated", query("www.example.com.", A)[:20])
qseed("header_only", struct.pack(">HHHHHH", 1, 0, 0, 0, 0, 0))
qseed("z_bit", query("www.example.com.", A, flags=0x0140, edns=opt()))
qseed("ar_record", query("www.example.com.", A, edns=b"\xc0\x0c\0\1\0\1\0\0\0\x3c\0\4\xc0\0\2\1" + opt())[:10] + b"\0\2" + query("www.example.com.", A, edns=b"\xc0\x0c\0\1\0\1\0\0\0\x3c\0\4\xc0\0\2\1" + opt())[12:])
qseed("small_buf", query("mx.rich.fuzz.", MX, edns=opt(size=4096)), cfg=(10 << 2))

# ---------------------------------------------------------------- zone_parser
zp = {
    "basic": """$ORIGIN example.
$TTL 1h
@ IN SOA ns1 hostmaster ( 1 ; serial
        2h 15m 2w 5m )
  IN NS ns1
ns1 IN A 192.0.2.1
www 300 IN AAAA 2001:db8::1
txt TXT "a \\"quoted\\" string" unquoted \\065\\066
mx MX 10 @
""",
    "generate": """$ORIGIN g.example.
@ SOA ns h 1 1 1 1 1
@ NS ns
ns A 198.18.0.1
$GENERATE 1-20/3 h$ A 198.18.1.$
$GENERATE 0-3 ${0,3,x}.rev PTR host${+10,4,d}.g.example.
""",
    "rfc3597": """$ORIGIN u.example.
@ CLASS1 SOA ns h 1 1 1 1 1
@ TYPE2 \\# 4 026e7300
ns TYPE1 \\# 4 0a000001
x TYPE65280 \\# 0
y A \\# 4 C0000202
""",
    "types": """$ORIGIN t.example.
$TTL 60
@ SOA ns h 2024010101 7200 900 1209600 300
@ NS ns
ns A 192.0.2.53
srv SRV 0 5 5060 sip
sip A 192.0.2.60
naptr NAPTR 100 10 "S" "SIP+D2U" "" _sip._udp
caa CAA 128 tbs "x"
ds DS 12345 8 2 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF
sshfp SSHFP 1 1 0123456789abcdef0123456789abcdef01234567
tlsa TLSA 3 1 1 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
svc SVCB 1 . alpn=h2,h3 port=443 ipv4hint=192.0.2.1 ech=AEX+DQBBpQAgACB/ mandatory=alpn
https HTTPS 0 svc
loc LOC 52 22 23.000 N 4 53 32.000 E -2.00m 0.00m 10000m 10m
hinfo HINFO "PC" "Linux"
dnskey DNSKEY 257 3 13 AwEAAQ==
nsec NSEC ns.t.example. A RRSIG NSEC TYPE1234
rrsig RRSIG A 13 3 60 20240601000000 20240501000000 1 t.example. AAAA
nsec3 NSEC3 1 1 12 aabbccdd 2t7b4g4vsa5smi47k61mv5bv1a22bojr A RRSIG
n3p NSEC3PARAM 1 0 10 -
zmd ZONEMD 1 1 1 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
spf SPF "v=spf1 -all"
""",
    "wild_dname": """$ORIGIN w.example.
@ SOA ns h 1 1 1 1 1
@ NS ns
ns A 192.0.2.1
*.w A 192.0.2.2
*.w MX 10 ns
dn DNAME example.net.
c CNAME x.dn
deleg NS ns.deleg
ns.deleg A 192.0.2.3
ent.a.b A 192.0.2.4
\\.esc\\@ TXT "escapes" "\\255\\000"
""",
    "errors": """$ORIGIN e.example.
@ SOA ns h 1 1 1 1 1
@ CNAME x
@ NS ns
x A 300.1.1.1
y A 1.2.3
$INCLUDE /etc/passwd
$GENERATE 1-100000000 h$ A 198.18.0.1
(unbalanced
""",
    "origin_soa": """apex.example. 300 IN SOA ns.apex.example. h.apex.example. 1 2 3 4 5
apex.example. 300 IN NS ns.apex.example.
ns.apex.example. 300 IN A 192.0.2.9
""",
}
for k, v in zp.items():
    write("zone_parser", k, v)
for rel in ["../data/parser/basic.zone", "../data/engine/example.com.zone",
            "../data/diff/diff.test.zone", "zones/rich.zone", "zones/delta.zone"]:
    with open(os.path.join(ROOT, rel), "rb") as f:
        write("zone_parser", "file_" + os.path.basename(rel), f.read())

# ---------------------------------------------------------------- delta
# Vocabulary indices of fuzz_delta.cc (kNames, kTtls, kRdata).
N = {"apex": 0, "www": 1, "ns1": 2, "a.b": 3, "b": 4, "*.w": 5, "x.w": 6, "y.w": 7, "deleg": 8,
     "ns.deleg": 9, "z.ns.deleg": 10, "cn": 11, "dn": 12, "x.dn": 13, "new": 14, "srv": 15,
     "ex.com": 16, "www.ex.com": 17, "sub.ex.com": 18, "ns.sub": 19, "x.sub": 20, "ex.net": 21,
     "www.ex.net": 22, "invalid": 23, "WWW": 24, "rel": 25, "*.apex": 26, "w": 27}
R = {"A1": 0, "A2": 1, "A10": 2, "AAAA": 3, "NSns1": 4, "NSdeleg": 5, "NSex": 6, "CNwww": 7,
     "CNno": 8, "CNcn": 9, "DNw": 10, "DNnet": 11, "MXwww": 12, "MXdeleg": 13, "TXTa": 14,
     "TXTbc": 15, "TXTx": 16, "SOA1": 17, "SOA2": 18, "DS": 19, "SRV": 20, "PTR": 21, "CAA": 22,
     "UNK": 23}


def ch(op, name, ttl, rd):
    return bytes([1 if op == "del" else 0, N[name], ttl, R[rd]])


def raw(op, text):
    return bytes([6 | (1 if op == "del" else 0)]) + text.encode() + b"\n"


deltas = {
    "add_new": ch("add", "new", 0, "A1"),
    "del_www_a": ch("del", "www", 0, "A2"),
    "replace_a": ch("del", "www", 0, "A2") + ch("add", "www", 1, "A10"),
    "cname_conflict": ch("add", "www", 0, "CNwww"),
    "cname_new": ch("add", "new", 0, "CNwww") + ch("add", "x.w", 0, "CNno"),
    "del_cname_add_a": ch("del", "cn", 0, "CNwww") + ch("add", "cn", 0, "A1"),
    "dname_children": ch("add", "x.dn", 0, "A1"),
    "dname_new": ch("add", "new", 0, "DNw"),
    "del_dname": ch("del", "dn", 0, "DNnet") + ch("add", "x.dn", 0, "TXTa"),
    "wild": ch("add", "*.w", 2, "A2") + ch("del", "*.w", 0, "A1") + ch("add", "y.w", 0, "TXTx"),
    "ent_remove": raw("del", "a.b.d.fuzz. 300 IN A 192.0.2.3"),
    "ent_add": ch("add", "b", 0, "TXTbc"),
    "deleg_glue": ch("add", "z.ns.deleg", 0, "A1") + ch("del", "ns.deleg", 0, "A1"),
    "deleg_remove": ch("del", "deleg", 0, "NSdeleg"),
    "deleg_ds": ch("add", "deleg", 0, "DS"),
    "new_deleg": ch("add", "new", 0, "NSdeleg"),
    "soa_serial": ch("del", "apex", 0, "SOA1") + ch("add", "apex", 0, "SOA2"),
    "soa_del": ch("del", "apex", 0, "SOA1"),
    "apex_ns_del": ch("del", "apex", 0, "NSns1"),
    "other_zone": ch("add", "www.ex.com", 3, "A10") + ch("add", "x.sub", 0, "A1"),
    "sub_cut": ch("add", "ns.sub", 0, "AAAA") + ch("add", "sub.ex.com", 0, "TXTa"),
    "out_of_zone": ch("add", "invalid", 0, "A1"),
    "relative_multi": ch("add", "rel", 0, "A1"),
    "case": ch("add", "WWW", 0, "A10") + ch("del", "WWW", 0, "A2"),
    "dup_add": ch("add", "new", 0, "A1") + ch("add", "new", 1, "A1"),
    "add_del_same": ch("add", "new", 0, "A1") + ch("del", "new", 0, "A1"),
    "ttl_mix": ch("add", "www", 1, "A10") + ch("add", "www", 4, "A1"),
    "apex_wild": ch("add", "*.apex", 0, "MXwww") + ch("add", "w", 0, "TXTx"),
    "many": b"".join(ch("add", k, 0, "TXTa") for k in ["new", "b", "y.w", "w", "x.w"]),
    "raw_add": raw("add", "raw.d.fuzz. 300 IN A 192.0.2.77"),
    "raw_del": raw("del", "www.d.fuzz. 300 IN AAAA 2001:db8::2"),
    "raw_bad": raw("add", "bad.d.fuzz. 300 IN A 1.2.3") + raw("add", "( x"),
    "raw_types": raw("add", "t.d.fuzz. 60 IN SVCB 1 . alpn=h2") + raw("add", "t.d.fuzz. 60 IN LOC 52 22 23 N 4 53 32 E 0m"),
    "raw_generic": raw("add", "g.d.fuzz. 60 CLASS1 TYPE1 \\# 4 0a000001"),
    "raw_soa_other": raw("add", "example.net. 300 IN SOA ns1.example.com. h.example.com. 6 7200 900 1209600 600") + raw("del", "example.net. 300 IN SOA ns1.example.com. h.example.com. 5 7200 900 1209600 600"),
}
for k, v in deltas.items():
    write("delta", k, v)

# ---------------------------------------------------------------- control
def frame(obj):
    b = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
    return struct.pack(">I", len(b)) + b


ZONE = ("$ORIGIN up.test.\n$TTL 300\n@ SOA ns h 1 3600 900 86400 60\n@ NS ns\nns A 192.0.2.1\n"
        "www A 192.0.2.2\n")
ctl = {
    "hello": [frame({"v": 1, "id": 1, "cmd": "hello"})],
    "status_health": [frame({"v": 1, "id": "a", "cmd": "status"}), frame({"v": 1, "id": 2, "cmd": "health"})],
    "upload_publish_commit": [
        frame({"v": 1, "id": 1, "cmd": "upload", "zones": [{"file": "up.zone", "text": ZONE}]}),
        frame({"v": 1, "id": 2, "cmd": "publish", "version": "@LAST@"}),
        frame({"v": 1, "id": 3, "cmd": "commit", "version": "@LAST@"}),
        frame({"v": 1, "id": 4, "cmd": "status"}),
    ],
    "canary": [
        frame({"v": 1, "id": 1, "cmd": "publish", "version": "@BASE@"}),
        frame({"v": 1, "id": 2, "cmd": "commit", "version": "@BASE@"}),
        frame({"v": 1, "id": 3, "cmd": "upload", "zones": [{"file": "up.zone", "origin": "up.test.", "text": ZONE}]}),
        frame({"v": 1, "id": 4, "cmd": "publish", "version": "@LAST@", "lcores": [5]}),
        frame({"v": 1, "id": 5, "cmd": "rollback"}),
        frame({"v": 1, "id": 6, "cmd": "drop", "version": "@LAST@"}),
    ],
    "delta": [
        frame({"v": 1, "id": 1, "cmd": "delta", "base": "@BASE@", "changes": [
            {"op": "add", "rr": "new.d.fuzz. 300 IN A 192.0.2.9"},
            {"op": "del", "rr": "www.d.fuzz. 300 IN TXT \"a\""}]}),
        frame({"v": 1, "id": 2, "cmd": "publish", "version": "@LAST@", "lcores": [3, 5]}),
        frame({"v": 1, "id": 3, "cmd": "rollback", "to": "@BASE@"}),
    ],
    "delta_bad": [
        frame({"v": 1, "id": 1, "cmd": "delta", "base": "@BASE@", "changes": [
            {"op": "add", "rr": "www.d.fuzz. 300 IN CNAME cn.d.fuzz."}]}),
        frame({"v": 1, "id": 2, "cmd": "delta", "base": "00" * 16, "changes": []}),
        frame({"v": 1, "id": 3, "cmd": "delta", "base": "@BASE@", "changes": [{"op": "mod", "rr": 1}]}),
    ],
    "upload_bad": [
        frame({"v": 1, "id": 1, "cmd": "upload", "zones": [{"file": "x", "text": "$INCLUDE /etc/passwd\n"}]}),
        frame({"v": 1, "id": 2, "cmd": "upload", "zones": []}),
        frame({"v": 1, "id": 3, "cmd": "upload", "zones": [{"file": "a", "text": ZONE}, {"file": "b", "text": ZONE}]}),
    ],
    "bad_frames": [
        frame(b"not json"), frame(b"[1,2,3]"), frame({"v": 2, "cmd": "hello"}),
        frame({"v": 1, "cmd": "nope"}), frame({"v": 1}), frame(b""),
        frame({"v": 1, "cmd": "publish", "version": "@BASE@", "lcores": [-1, 7]}),
        frame({"v": 1, "cmd": "commit", "version": "zz"}),
    ],
    "too_large": [struct.pack(">I", 0x7fffffff) + b"{}"],
    "short_body": [struct.pack(">I", 100) + b'{"v":1'],
}
for k, v in ctl.items():
    write("control", k, b"".join(v))
