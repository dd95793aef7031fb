#!/usr/bin/python3
"""soak.py — a chaos soak of one ternd: for --duration seconds, confirmed
and transactional publishers (persistent and transient), consumers that
ack, nack, reject and disconnect at random, queue and exchange churn, TTL,
priorities, length limits and dead-lettering, clients cut off mid-frame and
child publishers killed with SIGKILL, while the broker itself is killed
with -9 (every fourth time stopped with SIGTERM, so LeakSanitizer runs) and
restarted every --kill-every seconds.

At the end, with every client stopped, a browse of every fixed queue on the
live broker (each confirmed message not legitimately removed must be
there, transient ones of the last run included), then a last kill -9,
restart and drain (each confirmed persistent message must be there, and
every one browsed comes back with redelivered = true). Throughout: every
delivery is checked against what was published (ledger.py), the broker's
RSS is sampled, its log scanned for sanitizer reports, and its database
checked with PRAGMA integrity_check after every kill.

    tools/soak/soak.py [--duration 60] [--kill-every 20] [--seed S] [TERND]

Exits 0 when nothing was lost and no problem was seen, 1 otherwise (2: the
broker could not be run at all). See docs/soak.md."""
import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import pika  # noqa: E402
import pika.exceptions as px  # noqa: E402

import ledger as L  # noqa: E402
import message  # noqa: E402
import topology as T  # noqa: E402
from chaos import KilledChild, RawCutter, child_publish  # noqa: E402
from churn import Churn  # noqa: E402
from consumers import Consumer  # noqa: E402
from publishers import AsyncPublisher, TxPublisher  # noqa: E402
from ternd import Ternd  # noqa: E402
from monitor import Monitor  # noqa: E402
from worker import Context  # noqa: E402

REPO = os.path.dirname(os.path.dirname(HERE))
MIB = 1024.0


def say(fmt, *args):
    print(("[%7.1f] " % (time.monotonic() - T0_WALL)) + (fmt % args if args else fmt))
    sys.stdout.flush()


T0_WALL = time.monotonic()


class Soak:
    def __init__(self, a, path, work):
        self.a = a
        self.rng = random.Random(a.seed)
        config = ["memory_budget = %s" % a.memory_budget, "durability = %s" % a.durability]
        self.broker = Ternd(path, work, config)
        self.ledger = L.Ledger()
        self.ledger.on_problem = lambda kind, text: say("PROBLEM [%s] %s", kind, text)
        self.ctx = Context(self.broker, self.ledger, a.seed)
        self.restarts = []            # (run ended, how, seconds to start again)
        self.monitor = Monitor(self.ctx, a.max_depth, a.wal_limit)

    # ------------------------------------------------------------ broker runs
    def start_broker(self):
        self.broker.start()

    def restart(self, how):
        t = time.monotonic()
        run = self.broker.run
        rc = self.broker.stop() if how == "SIGTERM" else self.broker.kill9()
        if how == "SIGTERM" and rc != 0:
            self.ledger.problem("exit status", "ternd exited with status %s at SIGTERM "
                                "(run %d; 23 is LeakSanitizer)" % (rc, run))
        self.scan_log()
        bad = self.broker.integrity()
        if bad:
            self.ledger.problem("database", "after %s of run %d: %s" % (how, run, bad))
        if self.rng.random() < 0.15:
            # killed again in the middle of recovery, before it listens
            if self.broker.start(kill_after=self.rng.uniform(0.05, 1.5)):
                self.restarts.append((self.broker.run, "kill -9 in recovery", 0.0))
                say("run %d killed while recovering", self.broker.run)
                bad = self.broker.integrity()
                if bad:
                    self.ledger.problem("database", "after a kill in recovery: %s" % bad)
            else:
                self.broker.kill9()
        self.broker.start()
        took = time.monotonic() - t
        self.restarts.append((run, how, took))
        db, wal = self.broker.db_bytes()
        say("run %d ended by %s; run %d accepting after %.1f s (database %.1f MiB, "
            "WAL %.1f MiB)", run, how, self.broker.run, took, db / MIB / MIB, wal / MIB / MIB)

    def scan_log(self):
        for line in self.broker.new_sanitizer_lines():
            self.ledger.problem("sanitizer", line.strip())

    def check_alive(self):
        rc = self.broker.reap_if_dead()
        if rc is None:
            return
        self.scan_log()
        self.ledger.problem("broker died", "run %d exited on its own with status %s; log "
                            "tail:\n%s" % (self.broker.run, rc, self.broker.log_tail(40)))
        self.broker.start()
        self.restarts.append((self.broker.run - 1, "died", 0.0))

    def progress(self):
        c = self.ledger.counts
        rss = self.broker.rss[-1][2] / MIB if self.broker.rss else 0
        db, wal = self.broker.db_bytes()
        say("run %d: published %d, confirmed %d, delivered %d, queued %d, RSS %.0f MiB, "
            "database %.0f+%.0f MiB, problems %d", self.broker.run, c["published"],
            c["confirmed"], c["delivered"], self.monitor.depth, rss, db / MIB / MIB,
            wal / MIB / MIB, sum(self.ledger.problems.values()))

    # ------------------------------------------------------------ the run
    def workers(self):
        ctx = self.ctx
        w = [AsyncPublisher(ctx, 0), AsyncPublisher(ctx, 1), TxPublisher(ctx, 0),
             Consumer(ctx, 0, "main"), Consumer(ctx, 1, "main"), Consumer(ctx, 2, "main"),
             Consumer(ctx, 0, "dlx"), Consumer(ctx, 0, "dead"), Churn(ctx, 0),
             RawCutter(ctx, 0), KilledChild(ctx, 0, os.path.abspath(__file__))]
        if self.a.only:
            kinds = self.a.only.split(",")
            w = [x for x in w if any(x.kind.startswith(k) for k in kinds)]
        return w

    def run(self):
        a = self.a
        self.start_broker()
        conn = pika.BlockingConnection(self.ctx.params())
        T.declare_all(conn.channel())
        conn.close()
        workers = self.workers()
        for w in workers + [self.monitor]:
            w.start()
        say("soak: %s, %d s, kill every %d s, seed %d, port %d, %d clients",
            self.broker.path, a.duration, a.kill_every, a.seed, self.broker.port, len(workers))
        end = time.monotonic() + a.duration
        next_kill = time.monotonic() + self.jitter()
        next_sample = next_progress = 0
        n_restart = 0
        while time.monotonic() < end:
            now = time.monotonic()
            if now >= next_sample:
                self.broker.sample()
                next_sample = now + 1
            if now >= next_progress:
                self.progress()
                next_progress = now + a.progress
            self.check_alive()
            self.scan_log()
            if now >= next_kill and end - now > 5:
                n_restart += 1
                self.restart("SIGTERM" if n_restart % 4 == 0 else "kill -9")
                if self.rng.random() < 0.15:   # again, while clients storm back in
                    time.sleep(self.rng.uniform(0.2, 3))
                    self.restart("kill -9")
                next_kill = time.monotonic() + self.jitter()
            time.sleep(0.2)
        say("stopping the clients")
        self.ctx.stop.set()
        self.ctx.throttle.clear()
        deadline = time.monotonic() + 60
        for w in workers + [self.monitor]:
            w.join(max(0.1, deadline - time.monotonic()))
        stuck = [w.name for w in workers + [self.monitor] if w.is_alive()]
        if stuck:
            self.ledger.problem("stuck client", "still running 60 s after the end: %s"
                                % ", ".join(stuck))
        self.check_alive()
        self.final()

    def jitter(self):
        k = self.a.kill_every
        return self.rng.uniform(0.75 * k, 1.25 * k)

    # ------------------------------------------------------------ the end
    def final(self):
        run = self.broker.run
        self.check_sockets()
        n = self.collect("browse", T.FIXED, run)
        checked, missing = self.ledger.missing(L.BROWSED, final_epoch=run)
        self.browse_checked, self.browse_missing = checked, missing
        say("browse of run %d: %d messages; %d confirmed expected there, %d missing",
            run, n, checked, len(missing))
        for mid in missing[:10]:
            self.ledger.problem("lost (live)", "confirmed, not in the queues before the "
                                "last kill: " + self.ledger.describe(mid))
        self.restart("kill -9")
        self.check_t0_gone()
        n = self.collect("drain", sorted(T.DURABLE), self.broker.run)
        checked, lost = self.ledger.missing(L.DRAINED)
        self.drain_checked, self.lost = checked, lost
        say("drain after the last restart: %d messages; %d confirmed persistent expected, "
            "%d lost", n, checked, len(lost))
        for mid in lost[:10]:
            self.ledger.problem("lost", "confirmed persistent, not drained after the last "
                                "restart: " + self.ledger.describe(mid))
        if lost:
            self.ledger.problems["lost"] += len(lost) - min(10, len(lost))
        rc = self.broker.stop()
        if rc != 0:
            self.ledger.problem("exit status", "ternd exited with status %s at the final "
                                "SIGTERM (23 is LeakSanitizer)" % rc)
        self.scan_log()

    def check_sockets(self):
        """With every client gone, the broker must let go of every
        connection (those cut mid-frame or dropped without a close too):
        only its listener is left, within the handshake timeout."""
        deadline = time.monotonic() + 20
        n = self.broker.sockets()
        while n is not None and n > 1 and time.monotonic() < deadline:
            time.sleep(0.5)
            n = self.broker.sockets()
        self.sockets_left = n
        if n is not None and n > 1:
            self.ledger.problem("connections", "%d sockets still open 20 s after every "
                                "client was gone (1: the listener)" % n)

    def check_t0_gone(self):
        conn = pika.BlockingConnection(self.ctx.params())
        try:
            ch = conn.channel()
            for q in sorted(T.DURABLE):
                ch.queue_declare(T.NAMES[q], passive=True)
            try:
                ch.queue_declare(T.NAMES[T.T0], passive=True)
                self.ledger.problem("resurrected", "the non-durable queue soak.t0 is there "
                                    "after a restart")
            except px.ChannelClosedByBroker as e:
                if e.reply_code != 404:
                    raise
        finally:
            conn.close()

    def collect(self, phase, queues, epoch):
        """Consumes every message of queues: "browse" holds them unacked
        (all requeued at the close), "drain" acks them. Ends when nothing
        came for 3 s and (drain) the queues report empty."""
        got = [0]
        conn = pika.BlockingConnection(self.ctx.params())
        try:
            ch = conn.channel()
            ch.basic_qos(prefetch_count=0 if phase == "browse" else 1000)

            def on_message(q):
                def cb(c, m, props, body):
                    got[0] += 1
                    self.ledger.delivery(q, m.redelivered, props, body, epoch, phase=phase)
                    if phase == "drain":
                        c.basic_ack(m.delivery_tag)
                return cb
            for q in queues:
                T.declare_target(ch, q)
                ch.basic_consume(T.NAMES[q], on_message(q))
            side = conn.channel()
            deadline = time.monotonic() + 600
            last, quiet_since = -1, time.monotonic()
            while time.monotonic() < deadline:
                conn.process_data_events(0.5)
                if got[0] != last:
                    last, quiet_since = got[0], time.monotonic()
                    continue
                if time.monotonic() - quiet_since < 3:
                    continue
                if phase == "browse":
                    break
                left = sum(side.queue_declare(T.NAMES[q], passive=True).method.message_count
                           for q in queues)
                if left == 0:
                    break
            else:
                self.ledger.problem("drain", "%s did not finish in 600 s" % phase)
        finally:
            conn.close()
        return got[0]

    # ------------------------------------------------------------ report
    def rss_report(self):
        """Per run: the peak (VmHWM) and how long it ran. Growth: the last
        full-length run against the first."""
        b = self.broker
        runs = {}
        for run, t, kib in b.rss:
            d = runs.setdefault(run, [0, 0])
            d[0] = max(d[0], t)
        for run in runs:
            runs[run][1] = b.hwm.get(run, 0)
        full = [r for r in sorted(runs) if runs[r][0] >= 0.7 * self.a.kill_every]
        verdict = None
        if len(full) >= 2:
            first, last = runs[full[0]][1], runs[full[-1]][1]
            if last > first * self.a.rss_factor and last - first > 64 * 1024:
                verdict = "run %d peaked at %.0f MiB, run %d at %.0f MiB" % (
                    full[-1], last / MIB, full[0], first / MIB)
                self.ledger.problem("RSS growth", verdict)
        return runs, full

    def report(self):
        c = self.ledger.counts
        runs, full = self.rss_report()
        kinds = {}
        for _, how, _ in self.restarts:
            kinds[how] = kinds.get(how, 0) + 1
        out = {
            "ternd": self.broker.path, "duration_s": self.a.duration,
            "kill_every_s": self.a.kill_every, "seed": self.a.seed,
            "memory_budget": self.a.memory_budget, "durability": self.a.durability,
            "broker_runs": self.broker.run, "restarts": len(self.restarts),
            "restarts_by_kind": kinds,
            "restart_seconds_max": round(max((r[2] for r in self.restarts), default=0), 2),
            "counts": dict(sorted(c.items())),
            "browse_checked": self.browse_checked, "browse_missing": len(self.browse_missing),
            "drain_checked": self.drain_checked, "lost": len(self.lost),
            "peak_rss_mib": round(self.broker.peak_kib() / MIB, 1),
            "rss_by_run_mib": {r: round(v[1] / MIB, 1) for r, v in sorted(runs.items())},
            "peak_queued": self.monitor.peak_depth,
            "peak_sockets": self.broker.peak_sockets, "sockets_left": self.sockets_left,
            "database_mib": round(self.broker.db_bytes()[0] / MIB / MIB, 1),
            "peak_wal_mib": round(self.monitor.peak_wal / MIB / MIB, 1),
            "problems": dict(self.ledger.problems),
            "client_errors": {"%s: %s" % k: v for k, v in
                              sorted(self.ctx.errors.items(), key=lambda kv: -kv[1])[:25]},
        }
        print("\n=== soak report")
        for k in ("ternd", "duration_s", "kill_every_s", "seed", "broker_runs", "restarts",
                  "restarts_by_kind", "restart_seconds_max"):
            print("  %-22s %s" % (k, out[k]))
        for k, v in out["counts"].items():
            print("  %-30s %d" % (k, v))
        print("  browse: %d confirmed checked, %d missing; drain: %d confirmed persistent "
              "checked, %d lost" % (out["browse_checked"], out["browse_missing"],
                                    out["drain_checked"], out["lost"]))
        print("  peak RSS %.1f MiB; by run (MiB): %s" % (
            out["peak_rss_mib"], " ".join("%s:%s" % kv for kv in out["rss_by_run_mib"].items())))
        print("  peak queued %d, database at the end %.1f MiB, peak WAL %.1f MiB"
              % (out["peak_queued"], out["database_mib"], out["peak_wal_mib"]))
        print("  broker sockets: peak %d, after the clients had gone %s"
              % (out["peak_sockets"], out["sockets_left"]))
        print("  client errors (expected around restarts and in churn):")
        for k, v in out["client_errors"].items():
            print("    %6d  %s" % (v, k))
        if self.ledger.problems:
            print("  PROBLEMS: %s" % dict(self.ledger.problems))
            for kind, text in self.ledger.examples:
                print("    [%s] %s" % (kind, text))
        print("soak: %s" % ("FAIL" if self.ledger.problems else "ok"))
        return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("ternd", nargs="?", default=os.environ.get("TERND") or "build/ternd")
    ap.add_argument("--duration", type=float, default=60, help="seconds of chaos")
    ap.add_argument("--kill-every", type=float, default=20,
                    help="seconds between broker kills (+-25%%)")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--max-depth", type=int, default=5000,
                    help="publishers wait while the fixed queues hold more")
    ap.add_argument("--memory-budget", default="32m", help="ternd's memory_budget")
    ap.add_argument("--durability", default="full", choices=("full", "normal"))
    ap.add_argument("--rss-factor", type=float, default=2.0,
                    help="fail when the last run's peak RSS exceeds the first's by this factor")
    ap.add_argument("--wal-limit", type=int, default=256,
                    help="fail when tern.db-wal grows past this many MiB")
    ap.add_argument("--progress", type=float, default=30, help="seconds between status lines")
    ap.add_argument("--json", help="write the figures to this file")
    ap.add_argument("--only", help="run only these clients (comma-separated kinds: publisher, "
                    "tx-publisher, consumer, churn, raw-cutter, killed-child)")
    ap.add_argument("--keep", action="store_true", help="keep the data dir and log")
    # the child publisher (chaos.KilledChild)
    ap.add_argument("--child-publish", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--first", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--count", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--target", type=int, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child_publish:
        message.set_seed(a.seed)
        child_publish(a.port, a.first, a.count, a.target)
        return 0
    path = a.ternd if os.path.isabs(a.ternd) or os.path.exists(a.ternd) else \
        os.path.join(REPO, a.ternd)
    path = os.path.abspath(path)
    if not os.access(path, os.X_OK):
        print("soak: %s is not an executable ternd (build it: make)" % path, file=sys.stderr)
        return 2
    if a.seed is None:
        a.seed = random.randrange(1 << 30)
    message.set_seed(a.seed)
    work = tempfile.mkdtemp(prefix="tern-soak-")
    soak = Soak(a, path, work)
    soak.browse_checked = soak.drain_checked = 0
    soak.sockets_left = None
    soak.browse_missing = soak.lost = []
    try:
        soak.run()
    except Exception as e:
        soak.ledger.problem("soak", "%s: %s" % (type(e).__name__, e))
        import traceback
        traceback.print_exc()
    finally:
        soak.ctx.stop.set()
        if soak.broker.alive():
            soak.broker.stop()
            soak.scan_log()
    out = soak.report()
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=2)
    failed = bool(soak.ledger.problems)
    if failed:
        print("--- ternd log tail (%s):\n%s" % (soak.broker.log_path, soak.broker.log_tail(30)))
    if a.keep or failed:
        print("soak: kept %s" % work)
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
