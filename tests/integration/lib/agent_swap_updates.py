#!/usr/bin/python3
"""Drives the swap-under-load test: N full uploads + publishes, then N deltas +
publishes, of the versioned test zone (agent_client.zone_text). Every publish
must come back with every lcore serving the new version. Prints one line
`updates full=.. deltas=.. first=.. last=.. rss_base=.. rss_end=.. mem_base=.. mem_end=..`.

usage: agent_swap_updates.py SOCK START FULL DELTAS
"""
import sys
import time

sys.path.insert(0, __import__("os").path.dirname(__file__))
import agent_client as ac

sock, start, n_full, n_delta = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
a = ac.Agent(sock)
lcores = a.ok("hello")["lcores"]


def publish(v):
    r = a.ok("publish", version=v)
    if any(r["served"][str(l)] != v for l in lcores):
        raise SystemExit("publish returned before every lcore served %s: %s" % (v, r["served"]))


n = start
# Warm-up: the first versions fill the registry (8 held) so that the baseline
# is the steady state, not an empty process.
for _ in range(10):
    n += 1
    publish(a.ok("upload", zones=[{"file": "swap.zone", "text": ac.zone_text(n)}])["version"])
st = a.ok("status")
rss_base, mem_base = st["rss_bytes"], st["memory_bytes"]
t0 = time.time()
for _ in range(n_full):
    n += 1
    r = a.ok("upload", zones=[{"file": "swap.zone", "text": ac.zone_text(n)}])
    if r["label"] != "%s=%d" % (ac.APEX, n):
        raise SystemExit("label %s for version %d" % (r["label"], n))
    publish(r["version"])
cur = r["version"]
for _ in range(n_delta):
    r = a.ok("delta", base=cur, changes=ac.delta_changes(n, n + 1))
    n += 1
    publish(r["version"])
    cur = r["version"]
a.ok("commit", version=cur)
dt = time.time() - t0
st = a.ok("status")
print("updates full=%d deltas=%d first=%d last=%d seconds=%.1f versions_held=%d rss_base=%d rss_end=%d "
      "mem_base=%d mem_end=%d" % (n_full, n_delta, start + 11, n, dt, len(st["versions"]), rss_base,
                                  st["rss_bytes"], mem_base, st["memory_bytes"]), flush=True)
