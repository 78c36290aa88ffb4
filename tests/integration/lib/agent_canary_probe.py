#!/usr/bin/python3
"""Sends QUERIES_PER_PORT queries for www.<apex> A from each of PORTS source
ports (a new socket per port, so flows spread over the RSS/fanout queues) and
prints JSON: {"by_version": {N: responses}, "ports_split": ports whose answers
came from more than one version, "mixed": responses mixing versions,
"timeouts": n}.

usage: agent_canary_probe.py SERVER PORTS QUERIES_PER_PORT
"""
import json
import os
import socket
import sys

import dns.message
import dns.query

sys.path.insert(0, os.path.dirname(__file__))
import agent_client as ac

server, ports, per = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
by_version, split, mixed, timeouts = {}, 0, 0, 0
for p in range(ports):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", 20000 + p))
    seen = set()
    for _ in range(per):
        q = dns.message.make_query("www." + ac.APEX, "A")
        try:
            r = dns.query.udp(q, server, timeout=2, sock=s)
        except dns.exception.Timeout:
            timeouts += 1
            continue
        m = ac.markers(r)
        if len(m) != 1:
            mixed += 1
            continue
        v = m.pop()
        seen.add(v)
        by_version[v] = by_version.get(v, 0) + 1
    split += len(seen) > 1
    s.close()
print(json.dumps({"by_version": by_version, "ports_split": split, "mixed": mixed, "timeouts": timeouts}))
