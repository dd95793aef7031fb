#!/usr/bin/python3
"""kill9.py — crash test of Tern's durability promise: no confirmed message
is lost, whenever the broker dies.

Each round starts build/ternd (or $TERND, or the path given) on a free port
with the same temporary data dir, publishes persistent messages into a
durable queue as fast as publisher confirms allow (pika's asynchronous
SelectConnection, a window of unconfirmed messages, never one round trip per
message), records each message id once its basic.ack arrives (multiple-aware;
nacks are counted apart, a nacked message may be absent), and SIGKILLs the
broker after a random 0.2-2 s. It then checks that the database opens and
passes `PRAGMA integrity_check` (read-only, so ternd's own recovery is what
is tested), restarts the broker on the same data dir and drains the queue:
every id confirmed in the round must be there. Duplicates and messages that
were published but not confirmed are allowed; loss is not. The queue is
drained in every round, so rounds accumulate in one data dir (and one
database file) while the queue stays short. With --consume, a consumer acks
messages while the publisher runs, so acks (deletes) race the kill too; a
confirmed id then counts as kept when it was consumed before the kill or is
in the queue after it.

Prints one line per round and a final "N passed, N failed" line; exits 1 on
any loss (or a broker that does not come back), 0 otherwise.

    tests/durability/kill9.py [--rounds 20] [--seed S] [--consume] [TERND]
"""
import argparse
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time

import pika

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "support"))
from ports import free_port  # noqa: E402 (tests/support/ports.py)

QUEUE = "kill9"
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer")
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class Ternd:
    """One ternd process at a time on a fixed port and data dir."""

    def __init__(self, path, workdir):
        self.path = path
        self.port = free_port()
        self.data_dir = os.path.join(workdir, "data")
        self.log_path = os.path.join(workdir, "ternd.log")
        self.proc = None
        self.log_seen = 0
        os.mkdir(self.data_dir)

    def start(self, timeout=15.0):
        cmd = [self.path, "--bind", "127.0.0.1", "--port", str(self.port),
               "--data-dir", self.data_dir, "--log-level", "info", "--management-port", "0",
               "--prometheus-port", "0"]
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=0:abort_on_error=0")
        with open(self.log_path, "ab") as log:
            log.write(("=== %s\n" % " ".join(cmd)).encode())
            log.flush()
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("ternd exited with status %s at start-up"
                                   % self.proc.returncode)
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("ternd did not accept connections within %.0f s" % timeout)

    def kill9(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)

    def reap(self):
        if self.proc:
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        self.reap()

    def new_log(self):
        """The log written since the last call."""
        with open(self.log_path, "rb") as f:
            f.seek(self.log_seen)
            text = f.read().decode(errors="replace")
        self.log_seen += len(text.encode())
        return text

    def params(self):
        return pika.ConnectionParameters(host="127.0.0.1", port=self.port,
                                         connection_attempts=1, socket_timeout=5,
                                         heartbeat=0, blocked_connection_timeout=30)


class Publisher:
    """Asynchronous confirmed publishing on one SelectConnection; kills the
    broker itself (from the ioloop) after `delay` seconds of publishing."""

    def __init__(self, broker, first_id, delay, window, size, consume):
        self.broker = broker
        self.next_id = first_id
        self.delay = delay
        self.window = window
        self.pad = b"." * max(0, size)
        self.consume = consume
        self.seq = 0
        self.low = 1              # lowest publish seq that may still be pending
        self.pending = {}         # publish seq -> message id
        self.confirmed = []
        self.nacked = []
        self.consumed = set()
        self.published = 0
        self.killed_at = None
        self.error = None
        self.ch = None
        self.conn = None

    def run(self, timeout=30.0):
        self.conn = pika.SelectConnection(self.broker.params(), on_open_callback=self.on_open,
                                          on_open_error_callback=self.on_error,
                                          on_close_callback=self.on_closed)
        self.conn.ioloop.call_later(timeout, self.conn.ioloop.stop)
        self.conn.ioloop.start()

    # -- connection and channels
    def on_error(self, conn, err):
        self.error = "cannot connect: %s" % err
        conn.ioloop.stop()

    def on_closed(self, conn, reason):
        if self.killed_at is None:
            self.error = "connection closed before the kill: %s" % reason
        conn.ioloop.stop()

    def on_open(self, conn):
        conn.channel(on_open_callback=self.on_channel)
        if self.consume:
            conn.channel(on_open_callback=self.on_consumer_channel)

    def on_channel(self, ch):
        self.ch = ch
        ch.queue_declare(QUEUE, durable=True,
                         callback=lambda _: ch.confirm_delivery(self.on_confirm,
                                                                callback=self.on_select_ok))

    def on_select_ok(self, _):
        self.conn.ioloop.call_later(self.delay, self.kill)
        self.publish_more()

    def on_consumer_channel(self, ch):
        def on_message(c, m, p, body):
            self.consumed.add(int(body.split(b" ", 1)[0]))
            if m.delivery_tag % 50 == 0:
                c.basic_ack(m.delivery_tag, multiple=True)

        def go(_):
            ch.basic_qos(prefetch_count=200,
                         callback=lambda _: ch.basic_consume(QUEUE, on_message))
        ch.queue_declare(QUEUE, durable=True, callback=go)

    # -- publishing
    def publish_more(self):
        if self.killed_at is not None or not self.ch or not self.ch.is_open:
            return
        props = pika.BasicProperties(delivery_mode=2)
        n = 0
        while len(self.pending) < self.window and n < 500:
            self.seq += 1
            self.pending[self.seq] = self.next_id
            self.ch.basic_publish("", QUEUE, b"%d %s" % (self.next_id, self.pad), props)
            self.next_id += 1
            self.published += 1
            n += 1
        if len(self.pending) < self.window:
            self.conn.ioloop.call_later(0, self.publish_more)

    def on_confirm(self, frame):
        m = frame.method
        out = self.confirmed if isinstance(m, pika.spec.Basic.Ack) else self.nacked
        if m.multiple:
            for s in range(self.low, m.delivery_tag + 1):
                mid = self.pending.pop(s, None)
                if mid is not None:
                    out.append(mid)
        else:
            mid = self.pending.pop(m.delivery_tag, None)
            if mid is not None:
                out.append(mid)
        while self.low <= self.seq and self.low not in self.pending:
            self.low += 1
        self.publish_more()

    def kill(self):
        self.killed_at = time.monotonic()
        self.broker.kill9()


def check_db(data_dir):
    """Opens the killed broker's database read-only: integrity_check must say ok."""
    uri = "file:%s?mode=ro" % os.path.join(data_dir, "tern.db")
    db = sqlite3.connect(uri, uri=True, timeout=5)
    try:
        res = db.execute("PRAGMA integrity_check").fetchall()
        version = db.execute("PRAGMA user_version").fetchone()[0]
    finally:
        db.close()
    if res != [("ok",)]:
        return "integrity_check: %r" % (res,)
    if version < 1:              # the schema moves on; 0 would be an unmigrated file
        return "user_version %d" % version
    return None


def drain(broker, timeout=30.0):
    """Every id in the queue, consumed with auto-ack. Returns (ids, count
    the queue reported)."""
    conn = pika.BlockingConnection(broker.params())
    try:
        ch = conn.channel()
        n = ch.queue_declare(QUEUE, durable=True).method.message_count
        got = []
        if n:
            ch.basic_consume(QUEUE, lambda c, m, p, b: got.append(int(b.split(b" ", 1)[0])),
                             auto_ack=True)
            deadline = time.monotonic() + timeout
            while len(got) < n and time.monotonic() < deadline:
                conn.process_data_events(time_limit=0.1)
        # nothing more may be left behind
        if ch.queue_declare(QUEUE, passive=True).method.message_count != 0:
            raise RuntimeError("queue not empty after the drain")
        return got, n
    finally:
        try:
            conn.close()
        except Exception:
            pass


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("ternd", nargs="?", default=os.environ.get("TERND") or "build/ternd")
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--window", type=int, default=2000, help="unconfirmed messages at most")
    ap.add_argument("--size", type=int, default=100, help="padding bytes per message")
    ap.add_argument("--consume", action="store_true", help="ack-consume while publishing")
    ap.add_argument("--keep", action="store_true", help="keep the data dir and log")
    a = ap.parse_args()
    path = a.ternd if os.path.isabs(a.ternd) or os.path.exists(a.ternd) else \
        os.path.join(REPO, a.ternd)
    if not os.access(path, os.X_OK):
        print("kill9: %s is not an executable ternd (build it: make)" % path, file=sys.stderr)
        return 2
    seed = a.seed if a.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    work = tempfile.mkdtemp(prefix="tern-kill9-")
    broker = Ternd(path, work)
    print("kill9: %s, %d rounds, seed %d, data dir %s" % (path, a.rounds, seed, broker.data_dir))
    sys.stdout.flush()
    passed = failed = 0
    total_confirmed = total_lost = 0
    next_id = 1
    try:
        broker.start()
        for r in range(1, a.rounds + 1):
            delay = rng.uniform(0.2, 2.0)
            pub = Publisher(broker, next_id, delay, a.window, a.size, a.consume)
            problem = None
            try:
                pub.run()
                next_id = pub.next_id
                if pub.killed_at is None:
                    broker.kill9()
                    problem = pub.error or "publisher stopped before the kill"
                broker.reap()
                problem = problem or check_db(broker.data_dir)
                broker.start()
                got, reported = drain(broker)
            except Exception as e:   # a broker that does not come back, a bad drain
                problem = problem or "%s: %s" % (type(e).__name__, e)
                got, reported = [], 0
            present = set(got) | pub.consumed
            lost = sorted(set(pub.confirmed) - present)
            dups = len(got) - len(set(got))
            log = broker.new_log()
            bad = [l for l in log.splitlines() if any(m in l for m in SANITIZER_MARKERS)]
            if bad:
                problem = problem or "sanitizer report: %s" % bad[0]
            if not pub.confirmed and not problem:
                problem = "nothing was confirmed before the kill"
            ok = not lost and not problem
            passed += ok
            failed += not ok
            total_confirmed += len(pub.confirmed)
            total_lost += len(lost)
            print("round %d: kill after %.2f s; published %d, confirmed %d, nacked %d, "
                  "consumed %d, recovered %d (duplicates %d), lost %d%s%s"
                  % (r, delay, pub.published, len(pub.confirmed), len(pub.nacked),
                     len(pub.consumed), len(got), dups, len(lost),
                     " e.g. %s" % lost[:5] if lost else "",
                     " — FAIL: %s" % problem if problem else (" — FAIL" if lost else " — ok")))
            sys.stdout.flush()
            if problem and broker.proc is None:
                try:
                    broker.start()
                except Exception as e:
                    print("kill9: broker does not start again: %s" % e)
                    failed += a.rounds - r
                    break
    finally:
        broker.stop()
        if failed:
            tail = open(broker.log_path, errors="replace").read().splitlines()[-30:]
            print("--- ternd log tail (%s):\n%s" % (broker.log_path, "\n".join(tail)))
        if a.keep or failed:
            print("kill9: kept %s" % work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    print("kill9: %d confirmed messages checked, %d lost" % (total_confirmed, total_lost))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
