#!/usr/bin/python3
"""recovery_bench.py - times ternd's start-up over a data dir that holds
stored messages (issue 13, target 6).

  fill   starts ternd on an empty DIR, publishes N persistent 16-byte
         messages with ternperf (confirms, spread over --queues queues
         named rq / rq-0 .. rq-<Q-1>), stops it with SIGTERM.
  time   starts ternd on DIR and reports, from the moment it is started:
         when the AMQP port accepts a connection, when the first
         basic.get returns a message, the broker's CPU time and RSS then
         (and its peak so far), and the
         phases its log names ("recovery: ..." lines). The message taken
         is not acked: closing the connection requeues it, so the
         fixture stays as it was (the first entry becomes redelivered).

Usage: recovery_bench.py fill DIR -n N [--queues Q]
       recovery_bench.py time DIR [--runs R] [--config FILE]
A measurement tool, not a test: it asserts nothing. Ports are free ones
on 127.0.0.1; the management and Prometheus listeners are off.
"""
import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import time

import pika

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TERND = os.environ.get("TERND", os.path.join(REPO, "build/ternd"))
TERNPERF = os.path.join(REPO, "build/ternperf")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def start(data_dir, port, log, config=None):
    cmd = [TERND, "--bind", "127.0.0.1", "--port", str(port), "--data-dir", data_dir,
           "--management-port", "0", "--prometheus-port", "0"]
    if config:
        cmd += ["--config", config]
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL)


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    proc.wait(120)


def rss_mb(pid, field="VmRSS"):
    """VmRSS (or VmHWM: the peak) of pid in MB."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    return -1.0


def cpu_ms(pid):
    """User + system CPU time of pid so far, in ms (less noisy than the
    wall clock on a shared machine)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000.0 / os.sysconf("SC_CLK_TCK")


def queue_names(data_dir):
    """The queues fill wrote messages to (DIR/queues)."""
    with open(os.path.join(data_dir, "queues")) as f:
        return f.read().split()


def fill(args):
    os.makedirs(args.dir, exist_ok=True)
    if os.listdir(args.dir):
        sys.exit("%s is not empty" % args.dir)
    port = free_port()
    with open(args.dir + ".log", "ab") as log:
        proc = start(args.dir, port, log)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        uri = "amqp://guest:guest@127.0.0.1:%d/" % port
        q = args.queues
        cmd = [TERNPERF, "--uri", uri, "-x", str(q), "-y", "0", "-s", "16", "-f",
               "-c", "1000", "--auto-delete", "false", "-C", str(args.n // q), "-u", "rq"]
        if q > 1:
            cmd += ["--queues", str(q)]
        subprocess.run(cmd, check=False)
        stop(proc)
    names = ["rq"] if q == 1 else ["rq-%d" % i for i in range(q)]
    with open(os.path.join(args.dir, "queues"), "w") as f:
        f.write("\n".join(names) + "\n")


PHASE = re.compile(r"^\d{4}-\d\d-\d\d (\d\d):(\d\d):(\d\d)\.(\d{3}) \[\w+\] (.*)$")


def time_once(args, names):
    port = free_port()
    log_path = "%s.time.log" % args.dir
    with open(log_path, "wb") as log:
        t0 = time.monotonic()
        wall0 = time.time()
        proc = start(args.dir, port, log, args.config)
        t_port = None
        while t_port is None:
            if proc.poll() is not None:
                sys.exit("ternd exited: see %s" % log_path)
            try:
                socket.create_connection(("127.0.0.1", port), 0.05).close()
                t_port = time.monotonic() - t0
            except OSError:
                time.sleep(0.002)
        conn = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", port))
        ch = conn.channel()
        m = None
        while m is None:
            m, _, _ = ch.basic_get(names[0], auto_ack=False)
        t_get = time.monotonic() - t0
        rss = rss_mb(proc.pid), rss_mb(proc.pid, "VmHWM"), cpu_ms(proc.pid)
        conn.close()
        stop(proc)
    phases = []
    with open(log_path) as f:
        for line in f:
            mo = PHASE.match(line.rstrip("\n"))
            if mo and ("recover" in mo.group(5) or "listening" in mo.group(5)):
                h, mi, s, ms = (int(x) for x in mo.groups()[:4])
                wall = h * 3600 + mi * 60 + s + ms / 1000.0
                since = wall - (wall0 % 86400)
                phases.append("    +%5.0f ms  %s" % (since * 1000, mo.group(5)))
    return t_port, t_get, rss, phases


def time_cmd(args):
    names = queue_names(args.dir)
    for i in range(args.runs):
        t_port, t_get, rss, phases = time_once(args, names)
        print("run %d: port accepts %.0f ms, first basic.get %.0f ms (CPU %.0f ms),"
              " RSS %.0f MB (peak %.0f MB)"
              % (i + 1, t_port * 1000, t_get * 1000, rss[2], rss[0], rss[1]))
        if args.verbose:
            print("\n".join(phases))
        sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="what", required=True)
    f = sub.add_parser("fill")
    f.add_argument("dir")
    f.add_argument("-n", type=int, required=True)
    f.add_argument("--queues", type=int, default=1)
    t = sub.add_parser("time")
    t.add_argument("dir")
    t.add_argument("--runs", type=int, default=3)
    t.add_argument("--config")
    t.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    fill(args) if args.what == "fill" else time_cmd(args)


if __name__ == "__main__":
    main()
