#!/usr/bin/python3
"""Differential test: `edgectl dump-zone --generic` against dnspython.

For every zone file under tests/data/ (recursively) that edgectl loads, the
records edgectl prints are compared with dnspython's own parse of the same
file, as multisets of (owner lowercase, ttl, type, rdata wire bytes).
Files that edgectl rejects are skipped (they are the error fixtures); a file
edgectl loads but dnspython rejects is a mismatch.

Build dir: $EDGEDNS_BUILD (default "build"). Uses Debian's python3-dnspython,
hence /usr/bin/python3.
"""
import collections
import io
import os
import subprocess
import sys

import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.zone

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.path.join(ROOT, "tests", "data")
BUILD = os.environ.get("EDGEDNS_BUILD", "build")
EDGECTL = os.path.join(BUILD if os.path.isabs(BUILD) else os.path.join(ROOT, BUILD), "control", "edgectl")

ZONE_SUFFIXES = (".zone", ".db")


def zone_files():
    for dirpath, _, names in os.walk(DATA):
        for n in sorted(names):
            if n.endswith(ZONE_SUFFIXES):
                yield os.path.join(dirpath, n)


def type_code(text):
    return dns.rdatatype.from_text(text)  # also understands TYPEnnn


def ours(path):
    """Records from edgectl, or None when edgectl rejects the file."""
    p = subprocess.run([EDGECTL, "dump-zone", "--generic", path], capture_output=True, text=True)
    if p.returncode != 0:
        return None, p.stderr.strip()
    recs = collections.Counter()
    origin = None
    for line in p.stdout.splitlines():
        # owner TTL CLASS TYPE \# N [HEX]
        parts = line.split()
        if len(parts) < 6 or parts[4] != "\\#":
            raise SystemExit(f"{path}: unexpected dump-zone line: {line!r}")
        owner, ttl, cls, rtype, _, n = parts[:6]
        hexdata = "".join(parts[6:])
        data = bytes.fromhex(hexdata)
        if len(data) != int(n):
            raise SystemExit(f"{path}: length {n} does not match data in {line!r}")
        t = type_code(rtype)
        if t == dns.rdatatype.SOA and origin is None:
            origin = owner
        recs[(owner.lower(), int(ttl), t, data)] += 1
    return recs, origin


def theirs(path, origin):
    # dnspython opens $INCLUDE files relative to the current directory; BIND
    # (and we) resolve them relative to the including file.
    cwd = os.getcwd()
    os.chdir(os.path.dirname(path))
    try:
        z = dns.zone.from_file(os.path.basename(path), origin=origin, relativize=False,
                               check_origin=False)
    finally:
        os.chdir(cwd)
    recs = collections.Counter()
    for name, node in z.nodes.items():
        owner = name.to_text().lower()
        for rds in node.rdatasets:
            for rd in rds:
                buf = io.BytesIO()
                rd.to_wire(buf, None, None, False)  # uncompressed, case kept
                recs[(owner, rds.ttl, rds.rdtype, buf.getvalue())] += 1
    return recs


def show(rec):
    owner, ttl, t, data = rec
    return f"{owner} {ttl} {dns.rdatatype.to_text(t)} \\# {len(data)} {data.hex()}"


def main():
    if not os.access(EDGECTL, os.X_OK):
        print(f"missing {EDGECTL} (set EDGEDNS_BUILD)", file=sys.stderr)
        return 2
    files = list(zone_files())
    compared = skipped = failed = 0
    total_records = 0
    for path in files:
        rel = os.path.relpath(path, ROOT)
        mine, origin = ours(path)
        if mine is None:
            skipped += 1
            first = origin.splitlines()[0] if origin else "rejected"
            print(f"skip {rel}: edgectl rejects it ({first})")
            continue
        compared += 1
        try:
            other = theirs(path, origin)
        except Exception as e:  # dnspython rejected a file we accept
            failed += 1
            print(f"MISMATCH {rel}: dnspython rejects it: {e}")
            continue
        total_records += sum(mine.values())
        if mine == other:
            continue
        failed += 1
        only_ours = mine - other
        only_theirs = other - mine
        for r in sorted(only_ours, key=show):
            print(f"MISMATCH {rel}: only edgectl: {show(r)}")
        for r in sorted(only_theirs, key=show):
            print(f"MISMATCH {rel}: only dnspython: {show(r)}")
    print(f"dump_vs_dnspython: {compared} zone files compared ({total_records} records), "
          f"{skipped} rejected by edgectl and skipped, {failed} with mismatches")
    return 1 if failed or compared == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
