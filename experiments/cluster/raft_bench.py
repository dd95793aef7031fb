#!/usr/bin/python3
"""raft_bench.py — drives three raft_node processes on 127.0.0.1 (issue 14).

  throughput  replicate N entries per (size, batch, window) row, one fresh
              cluster per row; prints the leader's RESULT line
  election    kill -9 the leader R times (restarting it each time) and time
              how long until another node says it is leader
  catchup     run two nodes, commit M entries, then start the third (empty)
              and time until it has applied all M (snapshot + log)

Every process listens on loopback only and is killed before the script
exits.   handoff     the same load from a libevent loop on another thread
              (--handoff 1) against the load inside raft's own uv loop

  sqlite      every node's FSM writes the messages into its SQLite file
              (--sqlite 1 on the raft loop, 2 on an apply thread) against
              the counting FSM; catch-up with it, from
              the log and through a snapshot of the SQLite file

  pause       SIGSTOP a follower, then the leader, under load; SIGCONT them

Usage: raft_bench.py {throughput|handoff|sqlite|pause|election|catchup|all} [--quick]
"""
import os, re, shutil, signal, subprocess, sys, time

BIN = os.environ.get("RAFT_NODE", "/tmp/tern-cluster-exp/raft_node")
WORK = os.environ.get("RAFT_WORK", "/tmp/tern-cluster-exp/raftdata")
PORT = int(os.environ.get("RAFT_PORT", "9101"))
LINE = re.compile(r"^(\w+) ([^(]*)")  # a "(text)" tail is for people


def kv(rest):
    return dict(p.split("=", 1) for p in rest.split())


ALL = []


class Node:
    def __init__(self, i, args):
        ALL.append(self)
        self.i, self.args = i, args
        self.dir = os.path.join(WORK, str(i))
        os.makedirs(self.dir, exist_ok=True)
        self.log = os.path.join(WORK, "log%d" % i)
        self.p = None
        self.pos = 0

    def start(self):
        f = open(self.log, "a")
        cmd = [BIN, "--id", str(self.i), "--dir", self.dir, "--base-port", str(PORT)] + self.args
        self.p = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT)
        self.started = time.time() * 1000

    def kill(self):
        if self.p and self.p.poll() is None:
            self.p.send_signal(signal.SIGKILL)
            self.p.wait()
        self.p = None

    def lines(self):
        """New (key, dict) events since the last call."""
        with open(self.log) as f:
            f.seek(self.pos)
            data = f.read()
        cut = data.rfind("\n") + 1
        self.pos += len(data[:cut].encode())
        out = []
        for l in data[:cut].splitlines():
            m = LINE.match(l)
            if m:
                try:
                    out.append((m.group(1), kv(m.group(2))))
                except ValueError:
                    out.append((m.group(1), {"raw": m.group(2)}))
        return out


def fresh():
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)


def wait_for(nodes, pred, timeout):
    end = time.time() + timeout
    while time.time() < end:
        for n in nodes:
            for k, d in n.lines():
                r = pred(n, k, d)
                if r is not None:
                    return r
        time.sleep(0.005)
    return None


def throughput(quick):
    rows = [  # size, batch, window, pack, count
        (16, 1, 1, 0, 3000), (16, 1, 16, 0, 20000), (16, 64, 1, 0, 100000),
        (16, 256, 4, 0, 300000), (16, 64, 1, 1, 300000), (16, 256, 4, 1, 1000000),
        (16, 1024, 2, 1, 2000000), (16, 256, 4, 1, 300000, 0),
        (1024, 1, 1, 0, 3000), (1024, 64, 1, 0, 50000), (1024, 256, 4, 0, 100000),
        (1024, 64, 1, 1, 100000), (1024, 256, 4, 1, 200000),
    ]
    if quick:
        rows = [r[:4] + (r[4] // 5,) + r[5:] for r in rows]
    results = []
    for row in rows:
        size, batch, window, pack, count = row[:5]
        nodelay = row[5] if len(row) > 5 else 1
        fresh()
        args = ["--count", str(count), "--size", str(size), "--batch", str(batch),
                "--window", str(window), "--pack", str(pack), "--nodelay", str(nodelay)]
        nodes = [Node(i, args) for i in (1, 2, 3)]
        for n in nodes:
            n.start()
        r = wait_for(nodes, lambda n, k, d: d if k in ("RESULT", "APPLYFAIL") else None, 180)
        for n in nodes:
            n.kill()
        print("throughput", r, flush=True)
        results.append(r)
    return results


def run_row(size, batch, window, pack, count, extra=()):
    fresh()
    args = ["--count", str(count), "--size", str(size), "--batch", str(batch),
            "--window", str(window), "--pack", str(pack)] + list(extra)
    nodes = [Node(i, args) for i in (1, 2, 3)]
    for n in nodes:
        n.start()
    r = wait_for(nodes, lambda n, k, d: d if k in ("RESULT", "APPLYFAIL") else None, 180)
    for n in nodes:
        n.kill()
    return r


def handoff(quick):
    """The load on a libevent loop in another thread than raft's uv loop
    (--handoff 1) against the load inside the uv loop (--handoff 0), in
    alternating runs so that the busy machine's drift hits both."""
    rows = [(16, 1, 16, 0, 20000), (16, 256, 4, 1, 500000), (1024, 64, 1, 1, 50000)]
    for row in rows:
        if quick:
            row = row[:4] + (row[4] // 5,)
        got = {0: [], 1: []}
        for rep in range(1 if quick else 2):
            for h in (0, 1):
                r = run_row(*row, extra=("--handoff", str(h)))
                print("handoff", h, r, flush=True)
                if r and "entries_per_s" in r:
                    got[h].append((float(r["entries_per_s"]), float(r["lat_p50_ms"])))
        if got[0] and got[1]:
            t0 = sum(x for x, _ in got[0]) / len(got[0])
            t1 = sum(x for x, _ in got[1]) / len(got[1])
            l0 = sum(y for _, y in got[0]) / len(got[0])
            l1 = sum(y for _, y in got[1]) / len(got[1])
            print("handoff size=%d batch=%d window=%d pack=%d: in-uv %.0f/s p50 %.2f ms, "
                  "libevent+thread %.0f/s p50 %.2f ms, ratio %.2f"
                  % (row[0], row[1], row[2], row[3], t0, l0, t1, l1, t1 / t0), flush=True)


def election(quick, election_ms):
    fresh()
    args = ["--count", "0", "--election-ms", str(election_ms),
            "--heartbeat-ms", str(max(10, election_ms // 10))]
    nodes = {i: Node(i, args) for i in (1, 2, 3)}
    for n in nodes.values():
        n.start()
    leader = wait_for(nodes.values(),
                      lambda n, k, d: int(d["id"]) if k == "STATE" and d["state"] == "leader"
                      else None, 30)
    times = []
    for r in range(4 if quick else 20):
        time.sleep(1.0)  # let the cluster settle and heartbeats flow
        t_kill = time.time() * 1000
        nodes[leader].kill()
        others = [n for i, n in nodes.items() if i != leader]
        res = wait_for(others, lambda n, k, d: (int(d["id"]), float(d["t"]))
                       if k == "STATE" and d["state"] == "leader" and float(d["t"]) > t_kill
                       else None, 30)
        if res is None:
            print("election round", r, "no new leader in 30 s", flush=True)
            break
        new, t = res
        times.append(t - t_kill)
        print("election round %d: killed %d, %d leader after %.0f ms"
              % (r, leader, new, t - t_kill), flush=True)
        nodes[leader].start()
        leader = new
    for n in nodes.values():
        n.kill()
    times.sort()
    if times:
        print("election election_ms=%d rounds=%d min=%.0f median=%.0f max=%.0f ms"
              % (election_ms, len(times), times[0], times[len(times) // 2], times[-1]),
              flush=True)
    return times


def catchup(quick, m, size, batch=256, window=4, pack=0, extra=()):
    fresh()
    common = ["--size", str(size), "--pack", str(pack)] + list(extra)
    args = ["--count", str(m), "--batch", str(batch), "--window", str(window)] + common
    nodes = {i: Node(i, args) for i in (1, 2)}
    nodes[3] = Node(3, ["--count", "0"] + common)
    nodes[1].start()
    nodes[2].start()
    r = wait_for([nodes[1], nodes[2]], lambda n, k, d: d if k in ("RESULT", "APPLYFAIL") else None,
                 600)
    print("catchup: two nodes committed", r, flush=True)
    du = subprocess.run(["du", "-sh", nodes[1].dir, nodes[2].dir] +
                        [n.dir + ".db" for n in (nodes[1],) if os.path.exists(n.dir + ".db")],
                        capture_output=True, text=True).stdout.split()
    print("catchup: data dirs (raft log; SQLite file if any)", du[0::2], flush=True)
    nodes[3].start()
    t0 = time.time() * 1000
    seen = {}

    def done(n, k, d):
        if k == "RESTORED":
            seen["restored"] = float(d["t"]) - t0
            seen["bytes"] = d.get("bytes")
        if k == "APPLIED" and n.i == 3 and int(d["entries"]) >= m:
            return float(d["t"]) - t0
        return None

    t = wait_for([nodes[3]], done, 600)
    for n in nodes.values():
        n.kill()
    print("catchup entries=%d size=%d pack=%d %s: third node applied all after %s ms "
          "(snapshot of %s bytes restored at %s ms)"
          % (m, size, pack, " ".join(extra), "%.0f" % t if t else "n/a", seen.get("bytes", "-"),
             "%.0f" % seen["restored"] if "restored" in seen else "none"), flush=True)
    return t


def sqlite_fsm(quick):
    """The FSM writing every message into each node's SQLite (--sqlite 1)
    against the counting FSM, alternating; then catch-up of a node that
    missed 1M messages, from the log alone and through a snapshot."""
    rows = [(16, 256, 4, 1, 300000), (16, 1024, 2, 1, 1000000), (1024, 64, 1, 1, 50000)]
    for row in rows:
        if quick:
            row = row[:4] + (row[4] // 5,)
        got = {0: [], 1: [], 2: []}
        for rep in range(1 if quick else 2):
            for sq in (0, 1, 2):
                r = run_row(*row, extra=("--sqlite", str(sq)))
                print("sqlite", sq, r, flush=True)
                if r and "entries_per_s" in r:
                    got[sq].append((float(r["entries_per_s"]), float(r["lat_p50_ms"])))
        if all(got.values()):
            avg = {k: (sum(x for x, _ in v) / len(v), sum(y for _, y in v) / len(v))
                   for k, v in got.items()}
            print("sqlite size=%d batch=%d window=%d pack=%d: counting FSM %.0f/s p50 %.2f ms; "
                  "SQLite on the raft loop %.0f/s p50 %.2f ms (%.2fx); SQLite on an apply "
                  "thread %.0f/s p50 %.2f ms (%.2fx)"
                  % (row[0], row[1], row[2], row[3], avg[0][0], avg[0][1], avg[1][0], avg[1][1],
                     avg[1][0] / avg[0][0], avg[2][0], avg[2][1], avg[2][0] / avg[0][0]),
                  flush=True)
    m = 200000 if quick else 1000000
    for sq in ("1", "2"):
        catchup(quick, m, 16, batch=1024, window=2, pack=1, extra=("--sqlite", sq))
        catchup(quick, m, 16, batch=1024, window=2, pack=1,
                extra=("--sqlite", sq, "--threshold", "128"))


def pause(quick):
    """SIGSTOP under load. The leader replicates without end (batches of 64
    packed, 4 in flight). (1) Stop a follower for 5 s, resume it, and time
    until its applied count reaches the leader's. (2) Stop the leader, time
    until a new one is elected, resume the old one after 3 s, and see what
    it does: its in-flight batches must fail, and it must step down."""
    fresh()
    args = ["--count", "100000000", "--size", "16", "--batch", "64", "--window", "4",
            "--pack", "1"]
    nodes = {i: Node(i, args) for i in (1, 2, 3)}
    for n in nodes.values():
        n.start()
    lead = wait_for(nodes.values(), lambda n, k, d: int(d["id"]) if k == "STATE" and
                    d["state"] == "leader" else None, 30)
    time.sleep(2)
    applied = {}

    def track(n, k, d):
        if k == "APPLIED":
            applied[int(d["id"])] = int(d["entries"])
        return None

    # (1) a follower
    f = [i for i in nodes if i != lead][0]
    nodes[f].p.send_signal(signal.SIGSTOP)
    time.sleep(5)
    wait_for(nodes.values(), track, 0.3)
    behind = applied.get(lead, 0) - applied.get(f, 0)
    t0 = time.time()
    nodes[f].p.send_signal(signal.SIGCONT)
    caught = None
    while time.time() - t0 < 30 and caught is None:
        wait_for(nodes.values(), track, 0.05)
        if applied.get(f, 0) >= applied.get(lead, 0) - 64 * 4 * 8:  # within a few batches
            caught = time.time() - t0
    print("pause follower %d for 5 s: %d messages behind at SIGCONT, caught up (within "
          "~2k) after %s ms; leader kept committing (%d applied)"
          % (f, behind, "%.0f" % (caught * 1000) if caught is not None else "n/a",
             applied.get(lead, 0)), flush=True)
    # (2) the leader
    t_stop = time.time() * 1000
    nodes[lead].p.send_signal(signal.SIGSTOP)
    others = [n for i, n in nodes.items() if i != lead]
    res = wait_for(others, lambda n, k, d: (int(d["id"]), float(d["t"])) if k == "STATE" and
                   d["state"] == "leader" and float(d["t"]) > t_stop else None, 30)
    print("pause leader %d: node %s leader after %s ms"
          % (lead, res[0] if res else "-", "%.0f" % (res[1] - t_stop) if res else "n/a"),
          flush=True)
    time.sleep(3)
    t_cont = time.time() * 1000
    nodes[lead].pos = os.path.getsize(nodes[lead].log)
    nodes[lead].p.send_signal(signal.SIGCONT)
    seen = []
    end = time.time() + 10
    while time.time() < end:
        for k, d in nodes[lead].lines():
            if k in ("STATE", "APPLYFAIL", "RESULT"):
                seen.append((k, d))
        if any(k == "STATE" and d.get("state") != "leader" for k, d in seen):
            break
        time.sleep(0.01)
    for k, d in seen:
        t = float(d["t"]) - t_cont if "t" in d else None
        print("pause leader %d after SIGCONT: %s %s%s" % (lead, k, " ".join(
            "%s=%s" % kv for kv in d.items() if kv[0] != "t"),
            " at +%.0f ms" % t if t is not None else ""), flush=True)
    for n in nodes.values():
        if n.p:
            n.p.send_signal(signal.SIGCONT)
        n.kill()


def main():
    what = sys.argv[1] if len(sys.argv) > 1 else "all"
    quick = "--quick" in sys.argv
    try:
        if what in ("throughput", "all"):
            throughput(quick)
        if what in ("handoff", "all"):
            handoff(quick)
        if what in ("sqlite", "all"):
            sqlite_fsm(quick)
        if what in ("pause", "all"):
            pause(quick)
        if what in ("election", "all"):
            election(quick, 1000)
            election(quick, 300)
        if what in ("catchup", "all"):
            catchup(quick, 100000 if quick else 1000000, 16)
            catchup(quick, 20000 if quick else 100000, 1024)
    finally:
        for n in ALL:  # each process this script started, by its own handle
            n.kill()


if __name__ == "__main__":
    # SIGTERM (timeout(1), a CI limit) must still run main's finally, which
    # kills the nodes this script started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    main()
