#!/usr/bin/python3
"""The zone of the fleet tests (fleet.test.), one version per call, and the
ways to break it that the acceptance cases need.

  fleet_zone.py SERIAL [--www ADDR] [--drop-frac F] [--bad KIND] > zone
  fleet_zone.py --names [--drop-frac F]   names the background load asks for

The zone holds HOSTS names h0..h<HOSTS-1> (A 10.77.x.y), www A ADDR, a TXT
carrying the serial (so an answer names the version that gave it), an NS and
its glue. --drop-frac F removes floor(HOSTS*F) hosts spread evenly, the same names
each time. --bad: syntax (a record that does not parse), nosoa (no SOA),
cname (a CNAME beside an A), apexns (the apex NS set changed).
"""
import argparse
import sys

APEX = "fleet.test."
HOSTS = 400


def dropped(frac):
    """Indexes of the hosts a --drop-frac F version leaves out."""
    # Host i goes when floor((i+1)*F) steps up: exactly floor(HOSTS*F) hosts,
    # evenly spread.
    return {i for i in range(HOSTS) if int((i + 1) * frac) > int(i * frac)}


def host_addr(i):
    return "198.19.%d.%d" % (i >> 8, i & 255)


def zone(serial, www="192.0.2.80", drop_frac=0.0, bad=""):
    gone = dropped(drop_frac)
    out = ["$ORIGIN %s" % APEX, "$TTL 300"]
    if bad != "nosoa":
        out.append("@ IN SOA ns1 hostmaster %d 7200 900 1209600 300" % serial)
    out.append("@ IN NS ns1")
    if bad == "apexns":
        out.append("@ IN NS ns2")
        out.append("ns2 IN A 198.18.70.54")
    out.append("ns1 IN A 198.18.70.53")
    out.append("www IN A %s" % www)
    out.append('ver IN TXT "serial=%d"' % serial)
    if bad == "cname":
        out.append("www IN CNAME h1")
    if bad == "syntax":
        out.append("broken IN A 198.18.300.1")
    for i in range(HOSTS):
        if i not in gone:
            out.append("h%d IN A %s" % (i, host_addr(i)))
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("serial", type=int, nargs="?")
    ap.add_argument("--www", default="192.0.2.80")
    ap.add_argument("--drop-frac", type=float, default=0.0)
    ap.add_argument("--bad", default="", choices=["", "syntax", "nosoa", "cname", "apexns"])
    ap.add_argument("--names", action="store_true", help="print the host names, one a line")
    a = ap.parse_args()
    if a.names:
        gone = dropped(a.drop_frac)
        for i in range(HOSTS):
            if i not in gone:
                print("h%d.%s A" % (i, APEX))
        return
    if a.serial is None:
        ap.error("SERIAL is required")
    sys.stdout.write(zone(a.serial, a.www, a.drop_frac, a.bad))


if __name__ == "__main__":
    main()
