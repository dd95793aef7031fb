#!/usr/bin/python3
"""cluster_bench.py — issue 14 part 3's figures on this machine.

    tools/cluster_bench.py s3 [--rounds 2] [--secs 10]
        S3 (durable queue, persistent 16 B, confirms window 100, one
        producer and one consumer; tools/bench.sh's S3) in alternating runs:
        a 3-node Tern cluster (on its leader), a single Tern node, and
        RabbitMQ's running node with a quorum queue (x-queue-type=quorum).
    tools/cluster_bench.py failover [--rounds 20]
        kill -9 the leader of an idle cluster, time until another node
        serves (its /api/nodes says leader and an AMQP login succeeds,
        polled every 50 ms), restart the killed node; CLUSTER_ELECTION_TIMEOUT
        sets the timeout (default here 1000 ms, the option's default).
    tools/cluster_bench.py catchup [--messages 1000000]
        kill a follower, publish N persistent 16 B messages (no consumer) to
        the leader, restart the follower, time until it has applied all of
        them (lag 0 on the leader's /api/nodes and its own).

Every cluster runs on loopback ports of this machine (all three nodes on
the same cores and disk), so the figures are pessimistic for a real
cluster. One JSON line per measurement, then a summary.
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests", "cluster"))
os.environ.setdefault("CLUSTER_ELECTION_TIMEOUT", "1000")
os.environ.setdefault("CLUSTER_HEARTBEAT", "100")
from support.cluster import TERND, Cluster, free_ports, wait_for  # noqa: E402

TERNPERF = os.path.join(os.path.dirname(TERND), "ternperf")
S3 = ["-x", "1", "-y", "1", "-s", "16", "-f", "-c", "100", "--auto-delete", "false"]
S3K = ["-x", "1", "-y", "0", "-s", "16", "-f", "-c", "100", "--auto-delete", "false"]


def ternperf(uri, args, queue, secs=None, extra=()):
    cmd = [TERNPERF, "--uri", uri, "--json", "-u", queue] + list(args) + list(extra)
    if secs:
        cmd += ["-z", str(secs)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=(secs or 0) + 600)
    last = [l for l in out.stdout.splitlines() if l.startswith("{")]
    if out.returncode != 0 or not last:
        raise RuntimeError("ternperf failed: %s %s" % (out.stdout[-500:], out.stderr[-500:]))
    return json.loads(last[-1])


def load():
    return os.getloadavg()[0]


def single_node(workdir):
    amqp, = free_ports(1)
    p = subprocess.Popen([TERND, "--bind", "127.0.0.1", "--port", str(amqp), "--data-dir",
                          os.path.join(workdir, "single"), "--management-port", "0",
                          "--prometheus-port", "0"], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    import socket

    def up():
        with socket.create_connection(("127.0.0.1", amqp), timeout=0.5):
            return True
    wait_for(up, "the single node")
    return p, "amqp://guest:guest@127.0.0.1:%d/" % amqp


def run_s3(a):
    """S3 and S3k (no consumer: every message written, and replicated)."""
    work = tempfile.mkdtemp(prefix="cluster-bench-")
    c = Cluster(work)
    c.start()
    single, single_uri = single_node(work)
    targets = ("cluster", "single", "rabbitmq-quorum")
    rates = {(sc, t): [] for sc in ("S3", "S3k") for t in targets}
    try:
        leader = c.wait_leader()
        uris = {"cluster": "amqp://guest:guest@%s/" % leader.amqp_address, "single": single_uri,
                "rabbitmq-quorum": "amqp://guest:guest@127.0.0.1:5672/"}
        for r in range(a.rounds):
            for sc, args in (("S3", S3), ("S3k", S3K)):
                for t in targets:
                    extra = ("--queue-type", "quorum") if t == "rabbitmq-quorum" else ()
                    res = ternperf(uris[t], args, "cluster-bench-" + sc.lower(), a.secs,
                                   extra + ("--cleanup", "--drain", "5"))
                    rate = res.get("confirmed_per_s", 0)
                    p50 = res.get("confirm_latency_us", {}).get("p50")
                    rates[(sc, t)].append(rate)
                    print(json.dumps({"test": sc, "round": r, "target": t, "confirmed_per_s": rate,
                                      "confirm_p50_us": p50, "load": round(load(), 2)}),
                          flush=True)
    finally:
        single.send_signal(signal.SIGTERM)
        single.wait(timeout=20)
        c.stop()
    for (sc, t), v in rates.items():
        print("%-4s %-16s %s" % (sc, t, " ".join("%.0f" % x for x in v)))
    for sc in ("S3", "S3k"):
        for r in range(a.rounds):
            cl, si, rq = (rates[(sc, t)][r] for t in targets)
            print("%s round %d: cluster/single %.2f, cluster/rabbitmq-quorum %.1f" % (
                sc, r, cl / si, cl / rq))


def run_failover(a):
    c = Cluster(tempfile.mkdtemp(prefix="cluster-bench-"))
    c.start()
    times = []
    try:
        leader = c.wait_leader()
        for r in range(a.rounds):
            t0 = time.monotonic()
            c.kill9(leader)
            new = c.wait_leader(among=[n for n in c.nodes if n is not leader])
            took = time.monotonic() - t0
            times.append(took)
            print(json.dumps({"test": "failover", "round": r, "killed": leader.id, "new": new.id,
                              "secs": round(took, 3), "load": round(load(), 2)}), flush=True)
            c.restart(leader)
            wait_for(lambda: leader.me()["state"] == "follower", "the killed node back")
            leader = new
    finally:
        c.stop()
    times.sort()
    print("failover over %d rounds (election timeout %s ms): median %.2f s, min %.2f, max %.2f"
          % (len(times), os.environ["CLUSTER_ELECTION_TIMEOUT"], times[len(times) // 2], times[0],
             times[-1]))


def run_catchup(a):
    c = Cluster(tempfile.mkdtemp(prefix="cluster-bench-"))
    c.start()
    try:
        leader = c.wait_leader()
        f = [n for n in c.nodes if n is not leader][0]
        c.kill9(f)
        t0 = time.monotonic()
        per = a.messages // 4
        res = ternperf("amqp://guest:guest@%s/" % leader.amqp_address,
                       ["-x", "4", "-y", "0", "-s", "16", "-f", "-c", "100", "--auto-delete",
                        "false", "-C", str(per)], "cluster-bench-catchup")
        pub = time.monotonic() - t0
        behind = [n for n in leader.api("nodes") if n["id"] == f.id][0]["lag"]
        t1 = time.monotonic()
        f.start()
        c.wait_caught_up(f, leader, timeout=1800)
        took = time.monotonic() - t1
        q = leader.api("queues/%2F/cluster-bench-catchup")
        print(json.dumps({"test": "catchup", "messages": per * 4, "queue_messages": q["messages"],
                          "publish_secs": round(pub, 1), "publish_rate": res.get("confirmed_per_s"),
                          "entries_behind": behind, "catchup_secs": round(took, 2),
                          "load": round(load(), 2)}), flush=True)
    finally:
        c.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("what", choices=["s3", "failover", "catchup"])
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--secs", type=int, default=10)
    ap.add_argument("--messages", type=int, default=1000000)
    a = ap.parse_args()
    if a.rounds is None:
        a.rounds = 20 if a.what == "failover" else 2
    {"s3": run_s3, "failover": run_failover, "catchup": run_catchup}[a.what](a)


if __name__ == "__main__":
    main()
