#!/usr/bin/python3
"""dqlite_bench.py — three dqlite_node processes on 127.0.0.1:9201-9203
(issue 14): form the cluster through dqlite_client (node 1 bootstraps, 2 and
3 join as voters), time replicated SQLite writes, then kill -9 the leader a
few times and time until a survivor names a new leader.
Usage: dqlite_bench.py [--quick]"""
import os, shutil, signal, subprocess, sys, time

OUT = os.environ.get("EXP_OUT", "/tmp/tern-cluster-exp")
WORK = os.path.join(OUT, "dqlitedata")
ADDR = {i: "127.0.0.1:%d" % (9200 + i) for i in (1, 2, 3)}
procs = {}


def start(i):
    d = os.path.join(WORK, str(i))
    os.makedirs(d, exist_ok=True)
    log = open(os.path.join(WORK, "log%d" % i), "a")
    procs[i] = subprocess.Popen([os.path.join(OUT, "dqlite_node"), str(i), d, ADDR[i]],
                                stdout=log, stderr=subprocess.STDOUT)


def client(addr, *args, timeout=60):
    r = subprocess.run([os.path.join(OUT, "dqlite_client"), addr] + list(args),
                       capture_output=True, text=True, timeout=timeout)
    return r.returncode, (r.stdout + r.stderr).strip()


def leader_of(i):
    rc, out = client(ADDR[i], "leader", timeout=5)
    if rc == 0 and out.startswith("LEADER"):
        kv = dict(p.split("=", 1) for p in out.split()[1:])
        return kv["addr"] or None
    return None


def wait_leader(among, not_addr=None, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        for i in among:
            try:
                a = leader_of(i)
            except subprocess.TimeoutExpired:
                a = None
            if a and a != not_addr:
                return a
        time.sleep(0.01)
    return None


def main():
    # DQLITE_LATENCY_MS (passed on to dqlite_node): the one-way latency
    # dqlite derives its timeouts from; unset, dqlite's default.
    quick = "--quick" in sys.argv
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    try:
        for i in (1, 2, 3):
            start(i)
        time.sleep(0.5)
        leader = wait_leader([1])
        print("bootstrap leader", leader, flush=True)
        for i in (2, 3):
            print(client(leader, "join", str(i), ADDR[i])[1], flush=True)
        rows = [(16, 1, 2000), (16, 64, 500), (16, 256, 300), (1024, 1, 2000),
                (1024, 64, 300), (1024, 256, 100)]
        for size, per, txns in rows:
            if quick:
                txns //= 5
            rc, out = client(leader, "bench", str(size), str(per), str(txns), timeout=300)
            print("bench", out, flush=True)
        times = []
        for r in range(3 if quick else 10):
            time.sleep(1.5)
            leader = wait_leader(list(ADDR))  # who leads now, asked just before the kill
            li = [i for i in ADDR if ADDR[i] == leader][0]
            t0 = time.time()
            procs[li].send_signal(signal.SIGKILL)
            procs[li].wait()
            new = wait_leader([i for i in ADDR if i != li], not_addr=leader)
            dt = (time.time() - t0) * 1000
            print("failover round %d: killed %d, new leader %s after %.0f ms"
                  % (r, li, new, dt), flush=True)
            if not new:
                break
            times.append(dt)
            start(li)
            leader = new
        if times:
            times.sort()
            print("failover rounds=%d min=%.0f median=%.0f max=%.0f ms"
                  % (len(times), times[0], times[len(times) // 2], times[-1]), flush=True)
    finally:
        for p in procs.values():  # only the processes this script started
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
                p.wait()


if __name__ == "__main__":
    # SIGTERM (timeout(1), a CI limit) must still run main's finally, which
    # kills the nodes this script started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    main()
