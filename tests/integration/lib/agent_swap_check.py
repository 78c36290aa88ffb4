#!/usr/bin/python3
"""Consistency checker for the swap-under-load test: sends UDP queries whose
responses carry the zone version in several records (agent_client.markers)
until STOPFILE exists, and counts responses that mix versions or go
unanswered. Prints `check responses=.. mixed=.. timeouts=.. versions=..`.

usage: agent_swap_check.py SERVER STOPFILE MAX_SECONDS
"""
import os
import sys
import time

import dns.message
import dns.query
import dns.rcode

sys.path.insert(0, os.path.dirname(__file__))
import agent_client as ac

server, stopfile, max_s = sys.argv[1], sys.argv[2], float(sys.argv[3])
names = [("www." + ac.APEX, "A"), ("nope." + ac.APEX, "A"), ("www." + ac.APEX, "TXT")]
responses = mixed = timeouts = 0
versions = set()
deadline = time.time() + max_s
i = 0
while not os.path.exists(stopfile) and time.time() < deadline:
    qname, qtype = names[i % len(names)]
    i += 1
    q = dns.message.make_query(qname, qtype)
    try:
        r = dns.query.udp(q, server, timeout=2)
    except dns.exception.Timeout:
        timeouts += 1
        continue
    responses += 1
    m = ac.markers(r)
    if len(m) != 1:
        mixed += 1
        print("mixed or unmarked response (%s): %s" % (sorted(m), r.to_text().replace("\n", " | ")))
    versions |= m
print("check responses=%d mixed=%d timeouts=%d versions=%d" % (responses, mixed, timeouts, len(versions)),
      flush=True)
