#!/usr/bin/python3
"""Helpers of tests/integration/fleet_chaos.sh (stdlib only).

  fleet_chaos.py proxy --ctl SOCK NAME=LISTEN=UPSTREAM...
      run inside a node's network namespace: a TCP proxy (LISTEN and
      UPSTREAM are HOST:PORT) between `edgectl serve` and the node's agent
      (the mutual TLS passes through it untouched), with a command socket
      SOCK that injects faults in that namespace:
        delay NAME SECONDS WINDOW   every chunk read during the next WINDOW s
                                    is forwarded SECONDS late (order kept;
                                    this kernel has no netem, so the delay
                                    is the proxy's)
        blackhole NAME WINDOW       for WINDOW s an nftables rule in the
                                    namespace drops every packet to and from
                                    LISTEN's port: a partition, after which
                                    TCP retransmits what was lost
        clear                       ends every fault at once
      A client whose node is down is closed at once (as a refused connect).
  fleet_chaos.py fault SOCK WORDS...
      sends one command to the proxy; exit 0 when it answered "ok".
  fleet_chaos.py schedule --seed S --index I --nodes N
      schedule I of seed S: a "policy" line, then "T KIND ARGS..." lines
      sorted by T (seconds from the schedule's start), the derived ends of
      faults (restart, cont) included.
  fleet_chaos.py settle --edgectl PATH --socket SOCK --timeout S
      waits until the control plane is idle (no rollout, no manual
      rollback), resuming a paused rollout as an operator would; exit 1
      (with the last status) when it is not idle in time.
  fleet_chaos.py check --edgectl PATH --socket SOCK --state DIR --grace S [--since T]
                       [--aborted ROLLOUT]... NAME=AGENT_SOCK...
      the invariants after a schedule (see fleet_chaos.sh), re-evaluated
      until they hold or S seconds passed: an eventually consistent
      engine is not blamed for being slow. Prints one JSON object
      {"ok", "violations": [{"check", "detail"}], "evidence"} (with --since,
      the journal's records from unix time T on); exit 0 when every
      invariant holds.
"""
import argparse
import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import time


# ---------------------------------------------------------------- proxy

class Node:
    def __init__(self, name, listen, upstream):
        self.name, self.listen, self.upstream = name, listen, upstream
        self.delay = 0.0
        self.delay_until = 0.0
        self.hole_until = 0.0
        self.conns = set()


class Conn:
    def __init__(self):
        self.writers = []
        self.closed = False

    def close(self):
        if self.closed:
            return
        self.closed = True
        for w in self.writers:
            try:
                w.close()
            except Exception:
                pass


def plog(msg):
    print("%.3f proxy: %s" % (time.time(), msg), file=sys.stderr, flush=True)


def host_port(spec):
    host, _, port = spec.rpartition(":")
    return host, int(port)


NFT_TABLE = "edgedns_chaos"


def nft(script):
    r = subprocess.run(["nft", "-f", "-"], input=script, text=True, capture_output=True)
    if r.returncode != 0:
        raise RuntimeError("nft: " + r.stderr.strip())


def hole_on(node):
    port = host_port(node.listen)[1]
    nft("table inet %s\ndelete table inet %s\n"
        "table inet %s {\n"
        "  chain in { type filter hook input priority -10; tcp dport %d drop; }\n"
        "  chain out { type filter hook output priority -10; tcp sport %d drop; }\n"
        "}\n" % (NFT_TABLE, NFT_TABLE, NFT_TABLE, port, port))


def hole_off():
    nft("table inet %s\ndelete table inet %s\n" % (NFT_TABLE, NFT_TABLE))


async def pump(src, dst, node, conn):
    loop = asyncio.get_running_loop()
    try:
        while not conn.closed:
            data = await src.read(65536)
            if not data:
                break
            now = loop.time()
            if now < node.delay_until and node.delay > 0:
                await asyncio.sleep(node.delay)
            if conn.closed:
                break
            dst.write(data)
            await dst.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        conn.close()


async def serve_node(node):
    async def on_client(reader, writer):
        conn = Conn()
        conn.writers.append(writer)
        try:
            ur, uw = await asyncio.open_connection(*host_port(node.upstream))
        except OSError:
            conn.close()
            return
        conn.writers.append(uw)
        node.conns.add(conn)
        try:
            await asyncio.gather(pump(reader, uw, node, conn), pump(ur, writer, node, conn))
        finally:
            node.conns.discard(conn)
            conn.close()

    host, port = host_port(node.listen)
    return await asyncio.start_server(on_client, host, port, reuse_address=True)


def end_hole(node):
    loop = asyncio.get_running_loop()
    if loop.time() < node.hole_until - 1e-3:
        return  # extended meanwhile; a later call ends it
    node.hole_until = 0.0
    hole_off()
    plog("%s: blackhole over (nftables rule removed)" % node.name)


async def run_proxy(a):
    loop = asyncio.get_running_loop()
    nodes = {}
    for spec in a.nodes:
        name, listen, upstream = spec.split("=", 2)
        nodes[name] = Node(name, listen, upstream)
    servers = [await serve_node(n) for n in nodes.values()]

    async def on_cmd(reader, writer):
        line = (await reader.readline()).decode().split()
        reply = "ok"
        try:
            now = loop.time()
            if line[:1] == ["delay"]:
                n = nodes[line[1]]
                n.delay, n.delay_until = float(line[2]), now + float(line[3])
            elif line[:1] == ["blackhole"]:
                n = nodes[line[1]]
                if not n.hole_until:
                    hole_on(n)
                n.hole_until = max(n.hole_until, now + float(line[2]))
                loop.call_at(n.hole_until, end_hole, n)
            elif line[:1] == ["clear"]:
                for n in nodes.values():
                    n.delay_until = 0.0
                    if n.hole_until:
                        n.hole_until = now
                        end_hole(n)
            else:
                reply = "error: unknown command %r" % " ".join(line)
        except (KeyError, IndexError, ValueError, RuntimeError) as e:
            reply = "error: %r: %s" % (" ".join(line), e)
        plog("%s -> %s" % (" ".join(line), reply))
        writer.write((reply + "\n").encode())
        await writer.drain()
        writer.close()

    try:
        os.unlink(a.ctl)
    except FileNotFoundError:
        pass
    ctl = await asyncio.start_unix_server(on_cmd, path=a.ctl)
    plog("listening: " + ", ".join("%s %s -> %s" % (n.name, n.listen, n.upstream)
                                   for n in nodes.values()))
    async with ctl:
        await asyncio.gather(ctl.serve_forever(), *(s.serve_forever() for s in servers))


def cmd_proxy(a):
    try:
        asyncio.run(run_proxy(a))
    except KeyboardInterrupt:
        pass
    finally:
        try:
            hole_off()  # a partition never outlives the proxy
        except RuntimeError:
            pass


def cmd_fault(a):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(a.sock)
    s.sendall((" ".join(a.words) + "\n").encode())
    reply = s.makefile().readline().strip()
    print(reply)
    return 0 if reply == "ok" else 1


# ---------------------------------------------------------------- schedules

# Weights of the actions drawn during a rollout.
ACTIONS = [
    ("kill_node", 2.0), ("kill_serve", 1.5), ("delay", 1.5), ("blackhole", 1.5),
    ("stop_node", 1.5), ("pause", 1.0), ("resume", 1.0), ("abort", 1.0),
    ("rollback", 1.0), ("push", 1.5),
]
PUSH_KINDS = [("good", 0.5), ("nx", 0.25), ("probe", 0.25)]


def pick(rng, weighted):
    return rng.choices([k for k, _ in weighted], [w for _, w in weighted])[0]


def schedule(seed, index, nodes):
    rng = random.Random("%s:%d" % (seed, index))
    bakes = [round(rng.uniform(0.2, 0.5), 2) for _ in range(4)]
    pol = {"bakes": bakes, "on_node_down": rng.choice(["rollback", "wait"]),
           "on_restart": rng.choice(["resume", "rollback"])}
    events = [(0.0, "push", [pick(rng, PUSH_KINDS)])]
    busy = {n: [] for n in range(1, nodes + 1)}  # node -> [(from, to)] killed or stopped
    serve_down = []

    def free(spans, t0, t1):
        return all(t1 < a or t0 > b for a, b in spans)

    window = rng.uniform(0.5, 3.0)  # a good rollout of these bakes takes 1.5-3 s
    for _ in range(rng.randint(2, 5)):
        t = round(rng.uniform(0.05, window), 2)
        kind = pick(rng, ACTIONS)
        if kind in ("kill_node", "stop_node"):
            d = round(rng.uniform(0.1, 2.0) if kind == "kill_node" else rng.uniform(0.2, 1.5), 2)
            cands = [n for n in busy if free(busy[n], t, t + d)]
            if not cands:
                continue
            n = rng.choice(cands)
            busy[n].append((t, t + d))
            events.append((t, kind, [str(n)]))
            events.append((round(t + d, 2), "restart_node" if kind == "kill_node" else "cont_node",
                           [str(n)]))
        elif kind == "kill_serve":
            d = round(rng.uniform(0.1, 1.5), 2)
            if not free(serve_down, t, t + d):
                continue
            serve_down.append((t, t + d))
            events.append((t, kind, []))
            events.append((round(t + d, 2), "restart_serve", []))
        elif kind in ("delay", "blackhole"):
            # The proxy ends the fault by itself; the "fault_over" event only
            # keeps the schedule going until then.
            n = str(rng.randint(1, nodes))
            w = round(rng.uniform(0.5, 3.0) if kind == "delay" else rng.uniform(0.3, 2.5), 2)
            args = [n, "%.2f" % rng.uniform(0.05, 1.5)] if kind == "delay" else [n]
            events.append((t, kind, args + ["%.2f" % w]))
            events.append((round(t + w, 2), "fault_over", [n, kind]))
        elif kind == "push":
            events.append((t, kind, [pick(rng, PUSH_KINDS)]))
        else:
            events.append((t, kind, []))
    events.sort(key=lambda e: e[0])
    return pol, events


def cmd_schedule(a):
    pol, events = schedule(a.seed, a.index, a.nodes)
    print("policy %s %s %s" % (" ".join("%.2f" % b for b in pol["bakes"]), pol["on_node_down"],
                               pol["on_restart"]))
    for t, kind, args in events:
        print(" ".join(["%.2f" % t, kind] + args))


# ---------------------------------------------------------------- settle and check

def run_json(argv, timeout=30):
    """edgectl ... --json: the parsed reply, or {"error": text} when it failed."""
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": "%s: no answer within %d s" % (" ".join(argv[1:3]), timeout)}
    for line in reversed(p.stdout.splitlines()):
        try:
            return json.loads(line)
        except ValueError:
            pass
    return {"error": "%s: exit %d: %s" % (" ".join(argv[1:3]), p.returncode,
                                          (p.stderr or p.stdout).strip()[-300:])}


def cmd_settle(a):
    deadline = time.monotonic() + a.timeout
    st, resumed = {}, 0
    while time.monotonic() < deadline:
        st = run_json([a.edgectl, "status", "--socket", a.socket, "--json"])
        if st.get("ok"):
            ro = st.get("rollout")
            if ro is None and st.get("manual_rollback") is None:
                print("idle%s" % (" (resumed a paused rollout %d time(s))" % resumed if resumed else ""))
                return 0
            if ro and ro.get("state") == "paused":
                run_json([a.edgectl, "rollout", "resume", "--socket", a.socket, "--json"])
                resumed += 1
        time.sleep(0.3)
    short = {k: st.get(k) for k in ("committed", "rollout", "manual_rollback", "error")}
    if isinstance(short.get("rollout"), dict):
        short["rollout"] = {k: short["rollout"].get(k) for k in
                            ("rollout", "version", "state", "stage", "reason", "verdicts")}
    print("not idle within %d s: %s" % (a.timeout, json.dumps(short, sort_keys=True)))
    return 1


def journal_since(path, since):
    """The journal records from unix time `since` on, one short line each,
    with their time relative to it: what the control plane did meanwhile."""
    out = []
    try:
        with open(path) as f:
            for line in f:
                try:
                    r = json.loads(line)
                except ValueError:
                    continue
                t = r.get("time", 0) - since
                if t < -0.5:
                    continue
                parts = ["%+.3f %s" % (t, r.get("ev"))]
                for k in ("rollout", "stage", "node", "version", "from", "to", "lcores", "pending", "reason"):
                    if k in r and r[k] not in ("", [], None):
                        v = r[k]
                        if isinstance(v, str) and len(v) == 32:
                            v = v[:12]
                        elif isinstance(v, str):
                            v = v[:120]
                        parts.append("%s=%s" % (k, v if isinstance(v, str) else json.dumps(v)))
                out.append(" ".join(parts))
    except OSError:
        pass
    return out


def journal_versions(path):
    out, bad = set(), set()
    try:
        with open(path) as f:
            for line in f:
                try:
                    r = json.loads(line)
                except ValueError:
                    continue
                if r.get("ev") in ("version", "baseline") and r.get("version"):
                    out.add(r["version"])
                if r.get("ev") == "bad" and r.get("version"):
                    bad.add(r["version"])
    except OSError:
        pass
    return out, bad


def evaluate(a, agents):
    vio, ev = [], {}
    st = run_json([a.edgectl, "status", "--socket", a.socket, "--json"])
    hist = run_json([a.edgectl, "history", "--socket", a.socket, "--json"])
    if not st.get("ok") or not hist.get("ok"):
        vio.append({"check": "control-plane-answers",
                    "detail": "status: %s; history: %s" % (st.get("error", "ok"), hist.get("error", "ok"))})
        return vio, ev, True
    committed = st.get("committed", "")
    ev["committed"] = committed
    journaled, bad_journal = journal_versions(os.path.join(a.state, "journal.jsonl"))
    vdir = os.path.join(a.state, "versions")
    stored = set(os.listdir(vdir)) if os.path.isdir(vdir) else set()
    bad = {}  # version -> why it counts as bad
    for r in hist.get("rollouts", []):
        if r.get("state") == "rolled_back":
            bad[r["version"]] = "rollout %s rolled back: %s" % (r.get("rollout"), r.get("reason", ""))
    for v in bad_journal:
        bad.setdefault(v, "journal: bad")
    for v in stored:
        try:
            with open(os.path.join(vdir, v, "meta.json")) as f:
                if json.load(f).get("bad"):
                    bad.setdefault(v, "versions/%s/meta.json: bad" % v)
        except (OSError, ValueError):
            pass
    ev["bad"] = sorted(bad)
    ev["history"] = ["%s %s %s%s" % (r.get("rollout"), r.get("version", "")[:12], r.get("state"),
                                     (": " + r["reason"]) if r.get("reason") else "")
                     for r in hist.get("rollouts", [])[-6:]]
    settled = True  # false when a violation may still go away by itself
    ev["nodes"] = {}
    for name, sock in agents:
        ns = run_json([a.edgectl, "node", "--control", sock, "status", "--json"], timeout=15)
        if not ns.get("ok"):
            vio.append({"check": "node-answers", "detail": "%s: %s" % (name, ns.get("error"))})
            settled = False
            continue
        lc = {l["id"]: l["version"] for l in ns.get("lcores", [])}
        held = [v["version"] for v in ns.get("versions", [])]
        ncom = ns.get("committed", "")
        ev["nodes"][name] = {"committed": ncom, "lcores": lc, "held": held,
                             "previous_committed": ns.get("previous_committed", "")}
        for l, v in sorted(lc.items()):
            if v in bad:
                vio.append({"check": "bad-version-served",
                            "detail": "%s lcore %s serves %s (%s)" % (name, l, v, bad[v])})
                settled = False
        if ncom in bad:
            vio.append({"check": "bad-version-committed",
                        "detail": "%s has committed %s (%s)" % (name, ncom, bad[ncom])})
            settled = False
        if committed and (ncom != committed or any(v != committed for v in lc.values())):
            vio.append({"check": "committed-everywhere",
                        "detail": "control plane committed %s; %s committed %s, serves %s"
                        % (committed, name, ncom or "(none)",
                           ", ".join("lcore %s=%s" % kv for kv in sorted(lc.items())))})
            settled = False
        for v in sorted(set(held) | set(lc.values()) | {ncom} - {""}):
            missing = [w for w, ok in (("versions/", v in stored), ("journal", v in journaled)) if not ok]
            if missing:
                vio.append({"check": "version-known",
                            "detail": "%s holds %s, missing from the control plane's %s"
                            % (name, v, " and ".join(missing))})
    # An abort the control plane accepted ("state": "aborting") must end its
    # rollout rolled back: the operator was told it would not go on.
    for rid in a.aborted:
        for r in hist.get("rollouts", []):
            if r.get("rollout") == rid and r.get("state") == "committed":
                vio.append({"check": "abort-honoured",
                            "detail": "the operator's abort of rollout %d (%s) was accepted, yet it "
                            "ended committed" % (rid, r.get("version", "")[:12])})
    if not committed:
        vio.append({"check": "committed-everywhere", "detail": "the control plane has no committed version"})
    return vio, ev, settled


def cmd_check(a):
    agents = [tuple(s.split("=", 1)) for s in a.agents]
    deadline = time.monotonic() + a.grace
    waited = 0
    while True:
        vio, ev, settled = evaluate(a, agents)
        if not vio or settled or time.monotonic() >= deadline:
            break
        waited += 1
        time.sleep(0.5)
    ev["rechecks"] = waited
    if a.since:
        ev["journal"] = journal_since(os.path.join(a.state, "journal.jsonl"), a.since)
    print(json.dumps({"ok": not vio, "violations": vio, "evidence": ev}, sort_keys=True))
    return 0 if not vio else 1


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("proxy")
    p.add_argument("--ctl", required=True)
    p.add_argument("nodes", nargs="+")
    f = sub.add_parser("fault")
    f.add_argument("sock")
    f.add_argument("words", nargs="+")
    s = sub.add_parser("schedule")
    s.add_argument("--seed", required=True)
    s.add_argument("--index", type=int, required=True)
    s.add_argument("--nodes", type=int, default=3)
    t = sub.add_parser("settle")
    t.add_argument("--edgectl", required=True)
    t.add_argument("--socket", required=True)
    t.add_argument("--timeout", type=float, default=60)
    c = sub.add_parser("check")
    c.add_argument("--edgectl", required=True)
    c.add_argument("--socket", required=True)
    c.add_argument("--state", required=True)
    c.add_argument("--grace", type=float, default=10)
    c.add_argument("--since", type=float, default=0, help="unix time: journal excerpt from then on")
    c.add_argument("--aborted", type=int, action="append", default=[],
                   help="a rollout whose abort the control plane accepted (repeatable)")
    c.add_argument("agents", nargs="+")
    a = ap.parse_args()
    return {"proxy": cmd_proxy, "fault": cmd_fault, "schedule": cmd_schedule,
            "settle": cmd_settle, "check": cmd_check}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
