"""worker.py — what every soak client thread shares: the run's context, a
random stream of its own (seeded, so a run's choices repeat with --seed),
sessions retried until the soak ends, and the sorting of errors into the
expected (the broker was killed under it) and the reportable."""
import random
import socket
import threading
import time
import traceback
from collections import Counter

import pika
import pika.exceptions as px

# Reply codes that only ever mean a bug somewhere when a fixed client sees
# them (churn clients provoke 404/405/406 on purpose).
EXPECTED_ANYWHERE = {320}        # CONNECTION_FORCED: the broker shutting down
# Broker bugs known and tracked elsewhere, by a text of their error:
# counted and reported, not failed on, so that the soak in CI stays a test
# of what it is for. Take an entry out when its fix is in.
KNOWN = {}


class Context:
    """What all workers see."""

    def __init__(self, broker, ledger, seed):
        self.broker = broker
        self.ledger = ledger
        self.seed = seed
        self.stop = threading.Event()
        self.throttle = threading.Event()   # set: publishers wait
        self.errors = Counter()             # (worker kind, what) -> n
        self.lock = threading.Lock()
        self.tracebacks = set()

    def params(self, **kw):
        base = dict(host="127.0.0.1", port=self.broker.port, connection_attempts=1,
                    socket_timeout=5, stack_timeout=20, blocked_connection_timeout=120,
                    heartbeat=30)
        base.update(kw)
        return pika.ConnectionParameters(**base)

    def error(self, kind, what):
        with self.lock:
            self.errors[(kind, what)] += 1


def abort_socket(impl):
    """Drops a pika connection's TCP connection without any AMQP close (as
    a client that crashes would). impl: a SelectConnection (or a
    BlockingConnection's _impl)."""
    try:
        impl._transport._sock.shutdown(socket.SHUT_RDWR)
        return True
    except Exception:
        return False


class Worker(threading.Thread):
    kind = "worker"
    expected_exceptions = ()     # more exception types a restart explains

    def __init__(self, ctx, index):
        super().__init__(name="%s-%d" % (self.kind, index), daemon=True)
        self.ctx = ctx
        self.ledger = ctx.ledger
        self.rng = random.Random("%d/%s/%d" % (ctx.seed, self.kind, index))
        self.sessions = 0

    def run(self):
        while not self.ctx.stop.is_set():
            self.sessions += 1
            try:
                self.session()
            except Exception as e:
                self.classify(e)
            if not self.ctx.stop.is_set():
                time.sleep(self.rng.uniform(0.05, 0.5))

    def session(self):
        raise NotImplementedError

    def close(self, conn):
        """Closes a BlockingConnection at the end of a session. An error the
        broker gives on the way out (a channel it had just closed, say) is
        sorted like any other, not lost with the connection."""
        try:
            conn.close()
        except px.ConnectionWrongStateError:
            pass                     # already closed: its error, if any, was raised
        except Exception as e:
            self.classify(e)

    def sleep(self, seconds):
        """Sleeps, or less when the soak is ending. False when it is."""
        return not self.ctx.stop.wait(seconds)

    def classify(self, e):
        """Counts an exception that ended a session; records a problem for
        those no broker restart explains."""
        code = getattr(e, "reply_code", None)
        if code is not None:
            what = "%s %s" % (code, getattr(e, "reply_text", ""))
            self.ctx.error(self.kind, what[:120])
            if code in EXPECTED_ANYWHERE or not self.ctx.broker.alive():
                return
            known = [v for k, v in KNOWN.items() if k in what]
            if known:
                self.ledger.count("known broker bug: " + known[0])
                return
            if code == 541 or code >= 500 or not self.expected_code(code):
                self.ledger.problem("broker error", "%s: %s" % (self.name, what))
            return
        if isinstance(e, (px.AMQPConnectionError, px.AMQPChannelError, OSError, EOFError,
                          px.ChannelWrongStateError, px.ConnectionWrongStateError) +
                      self.expected_exceptions):
            self.ctx.error(self.kind, type(e).__name__)
            return
        # anything else is a bug in the soak itself: say where, once
        tb = traceback.format_exc()
        self.ctx.error(self.kind, "exception " + type(e).__name__)
        key = tb.strip().splitlines()[-1]
        with self.ctx.lock:
            new = key not in self.ctx.tracebacks
            self.ctx.tracebacks.add(key)
        if new:
            self.ledger.problem("soak exception", "%s: %s" % (self.name, tb))

    def expected_code(self, code):
        """Reply codes this worker provokes on purpose."""
        return False
