"""Durability across restarts (Tern-only: every test restarts the broker).

What Tern promises: durable exchanges, queues and bindings (with their
arguments) come back after a restart, deleted ones stay deleted, and
non-durable, exclusive and auto-delete ones never come back. Persistent
messages in durable queues come back in order, with redelivered=True for
those that had been delivered; transient ones do not. Fan-out stores a body
once. A publisher confirm means the message is on disk, also across
kill -9. `durability = normal` in a config file works the same way."""
import collections
import os
import resource
import signal
import sqlite3
import subprocess
import time

import pika
import pytest

from support.broker import Broker, BrokerError, port_open
from support.durable import (PERSISTENT, bodies, busy_writer, drop_flood,
                             get_all, kill9_restart, restart)
from support.helpers import channel_error

pytestmark = [pytest.mark.tern_only, pytest.mark.time_limit(60)]

TRANSIENT = pika.BasicProperties(delivery_mode=1)


# ------------------------------------------------------------------ helpers

def consume_all(conn, queue, timeout=20.0):
    """Every body now in queue, in order, consumed with auto-ack (faster
    than one basic.get per message for big queues)."""
    ch = conn.channel()
    n = ch.queue_declare(queue, passive=True).method.message_count
    got = []
    if n:
        tag = ch.basic_consume(queue, lambda c, m, p, body: got.append(body), auto_ack=True)
        deadline = time.monotonic() + timeout
        while len(got) < n and time.monotonic() < deadline:
            conn.process_data_events(time_limit=0.05)
        ch.basic_cancel(tag)
    ch.close()
    return got


def message_count(ch, queue):
    return ch.queue_declare(queue, passive=True).method.message_count


def assert_gone(conn, kind, name):
    ch = conn.channel()
    with channel_error(404, "NOT_FOUND - "):
        if kind == "queue":
            ch.queue_declare(name, passive=True)
        else:
            ch.exchange_declare(name, passive=True)


def assert_exists(conn, kind, name):
    ch = conn.channel()
    if kind == "queue":
        ch.queue_declare(name, passive=True)
    else:
        ch.exchange_declare(name, passive=True)
    ch.close()


def sync_publish(ch):
    """A round trip after publishes without confirms: the broker has read
    them (one connection's frames are handled in order)."""
    ch.queue_declare("", exclusive=True, auto_delete=True)


# ------------------------------------------------------------------ topology

def test_topology_and_binding_args_survive_restart(restartable, names):
    b = restartable
    x, hx, fx, ae = names.exchange(), names.exchange(), names.exchange(), names.exchange()
    q1, q2, qae = names.queue(), names.queue(), names.queue()
    conn = b.connect()
    ch = conn.channel()
    ch.exchange_declare(ae, "fanout", durable=True)
    ch.exchange_declare(x, "direct", durable=True, arguments={"alternate-exchange": ae})
    ch.exchange_declare(hx, "headers", durable=True)
    ch.exchange_declare(fx, "fanout", durable=True)
    ch.queue_declare(q1, durable=True, arguments={"x-max-length": 1000})
    ch.queue_declare(q2, durable=True)
    ch.queue_declare(qae, durable=True)
    ch.queue_bind(qae, ae)
    ch.queue_bind(q1, x, "k", arguments={"tag": "one"})
    ch.queue_bind(q1, x, "k", arguments={"tag": "two"})   # distinct by args
    ch.queue_bind(q2, hx, "", arguments={"x-match": "all", "color": "red", "size": 3})
    ch.exchange_bind(hx, fx)                             # exchange to exchange
    conn.close()

    restart(b)

    conn = b.connect()
    ch = conn.channel()
    for n in (x, hx, fx, ae):
        ch.exchange_declare(n, passive=True)
    for n in (q1, q2, qae):
        ch.queue_declare(n, passive=True)
    # same declarations again are equivalent: types, flags and args came back
    ch.exchange_declare(x, "direct", durable=True, arguments={"alternate-exchange": ae})
    ch.queue_declare(q1, durable=True, arguments={"x-max-length": 1000})
    with channel_error(406, "PRECONDITION_FAILED - "):
        conn.channel().queue_declare(q1, durable=True, arguments={"x-max-length": 7})
    with channel_error(406, "PRECONDITION_FAILED - "):
        conn.channel().exchange_declare(hx, "topic", durable=True)

    ch.basic_publish(x, "k", b"direct")
    ch.basic_publish(x, "other", b"to-ae")                       # via alternate-exchange
    ch.basic_publish(hx, "", b"red3", pika.BasicProperties(headers={"color": "red", "size": 3}))
    ch.basic_publish(hx, "", b"red4", pika.BasicProperties(headers={"color": "red", "size": 4}))
    ch.basic_publish(fx, "", b"via-fx", pika.BasicProperties(headers={"color": "red", "size": 3}))
    sync_publish(ch)
    assert bodies(get_all(ch, q1)) == [b"direct"]        # two bindings, one copy
    assert bodies(get_all(ch, qae)) == [b"to-ae"]
    assert bodies(get_all(ch, q2)) == [b"red3", b"via-fx"]

    # the two bindings are told apart by their arguments
    ch.queue_unbind(q1, x, "k", arguments={"tag": "one"})
    ch.basic_publish(x, "k", b"still-bound")
    ch.queue_unbind(q1, x, "k", arguments={"tag": "two"})
    ch.basic_publish(x, "k", b"unbound")
    sync_publish(ch)
    assert bodies(get_all(ch, q1)) == [b"still-bound"]
    assert bodies(get_all(ch, qae)) == [b"unbound"]

    # and the unbinds were durable too
    conn.close()
    restart(b)
    conn = b.connect()
    ch = conn.channel()
    ch.basic_publish(x, "k", b"after-unbind")
    sync_publish(ch)
    assert bodies(get_all(ch, q1)) == []
    assert bodies(get_all(ch, qae)) == [b"after-unbind"]
    conn.close()


def test_transient_topology_gone(restartable, names):
    b = restartable
    qt, qx, qa, qd = names.queue(), names.queue(), names.queue(), names.queue()
    xt, xd = names.exchange(), names.exchange()
    owner = b.connect()
    och = owner.channel()
    och.queue_declare(qt, durable=False)
    och.queue_declare(qx, durable=True, exclusive=True)
    och.queue_declare(qa, durable=True, auto_delete=True)
    och.basic_consume(qa, lambda *a: None)               # keeps it alive until the stop
    och.queue_declare(qd, durable=True)
    och.exchange_declare(xt, "direct", durable=False)
    och.exchange_declare(xd, "direct", durable=True)
    och.queue_bind(qd, xt, "k")                          # transient source
    och.queue_bind(qt, xd, "k")                          # transient destination
    och.queue_bind(qd, xd, "d")
    for q in (qt, qx, qa, qd):
        och.basic_publish("", q, b"persistent " + q.encode(), PERSISTENT)
    sync_publish(och)
    for q in (qt, qx):
        assert message_count(och, q) == 1
    assert_exists(owner, "queue", qa)                    # its consumer holds the message

    restart(b, owner)

    conn = b.connect()
    for q in (qt, qx, qa):
        assert_gone(conn, "queue", q)
    assert_gone(conn, "exchange", xt)
    ch = conn.channel()
    assert bodies(get_all(ch, qd)) == [b"persistent " + qd.encode()]
    # a queue of the same name as the transient one is new and unbound
    ch.queue_declare(qt, durable=True)
    ch.basic_publish(xd, "k", b"x")
    ch.basic_publish(xd, "d", b"d")
    sync_publish(ch)
    assert bodies(get_all(ch, qt)) == []
    assert bodies(get_all(ch, qd)) == [b"d"]
    conn.close()


def test_deleted_topology_stays_deleted(restartable, names):
    b = restartable
    x, x2 = names.exchange(), names.exchange()
    q, q2, qd = names.queue(), names.queue(), names.queue()
    conn = b.connect()
    ch = conn.channel()
    ch.exchange_declare(x, "direct", durable=True)
    ch.exchange_declare(x2, "direct", durable=True)
    for n in (q, q2, qd):
        ch.queue_declare(n, durable=True)
    ch.queue_bind(q, x, "k")
    ch.queue_bind(q2, x2, "k")
    ch.queue_bind(q2, x2, "u", arguments={"a": 1})
    ch.queue_bind(qd, x2, "d")
    for i in range(5):
        ch.basic_publish("", qd, b"old %d" % i, PERSISTENT)
    conn.close()
    restart(b)                      # all of it stored and recovered once

    conn = b.connect()
    ch = conn.channel()
    ch.exchange_delete(x)
    ch.queue_delete(qd)
    ch.queue_unbind(q2, x2, "u", arguments={"a": 1})
    conn.close()
    restart(b)

    conn = b.connect()
    assert_gone(conn, "exchange", x)
    assert_gone(conn, "queue", qd)
    ch = conn.channel()
    # recreated under the same names they are new: no old binding, no old message
    ch.exchange_declare(x, "direct", durable=True)
    ch.queue_declare(qd, durable=True)
    ch.basic_publish(x, "k", b"to-x")
    ch.basic_publish(x2, "d", b"to-qd")
    ch.basic_publish(x2, "u", b"to-u")
    ch.basic_publish(x2, "k", b"to-q2")
    sync_publish(ch)
    assert bodies(get_all(ch, q)) == []
    assert bodies(get_all(ch, qd)) == []
    assert bodies(get_all(ch, q2)) == [b"to-q2"]
    conn.close()


# ------------------------------------------------------------------ messages

def test_persistent_messages_back_in_order(restartable, names):
    b = restartable
    q = names.queue()
    x = names.exchange()
    conn = b.connect()
    ch = conn.channel()
    ch.exchange_declare(x, "topic", durable=True)
    ch.queue_declare(q, durable=True)
    ch.queue_bind(q, x, "a.#")
    sent = []
    for i in range(300):
        if i % 3 == 2:
            ch.basic_publish(x, "a.t", b"transient %d" % i, TRANSIENT)
            continue
        props = pika.BasicProperties(delivery_mode=2, content_type="text/plain",
                                     message_id="m%d" % i, priority=i % 10,
                                     headers={"i": i, "s": "x" * (i % 7)})
        body = (b"persistent %d " % i) * (1 + i % 50)
        ch.basic_publish(x, "a.p.%d" % i, body, props)
        sent.append((i, body))
    ch.basic_publish(x, "a.t", b"no properties")          # transient by default
    sync_publish(ch)
    assert message_count(ch, q) == 300 + 1
    conn.close()

    restart(b)

    conn = b.connect()
    ch = conn.channel()
    got = get_all(ch, q)
    assert [bd for _, _, bd in got] == [bd for _, bd in sent]
    for (m, p, bd), (i, _) in zip(got, sent):
        assert m.redelivered is False
        assert m.exchange == x and m.routing_key == "a.p.%d" % i
        assert p.delivery_mode == 2 and p.content_type == "text/plain"
        assert p.message_id == "m%d" % i and p.priority == i % 10
        assert p.headers == {"i": i, "s": "x" * (i % 7)}
    conn.close()


def test_redelivered_flags_after_restart(restartable, names):
    b = restartable
    q = names.queue()
    conn = b.connect()
    ch = conn.channel()
    ch.queue_declare(q, durable=True)
    for i in range(10):
        ch.basic_publish("", q, b"%d" % i, PERSISTENT)
    sync_publish(ch)
    # 0..3 delivered; 0 and 2 acked, 1 and 3 still unacked at the restart
    tags = [ch.basic_get(q, auto_ack=False)[0].delivery_tag for _ in range(4)]
    ch.basic_ack(tags[0])
    ch.basic_ack(tags[2])
    sync_publish(ch)

    restart(b, conn)

    conn = b.connect()
    ch = conn.channel()
    got = get_all(ch, q)
    assert bodies(got) == [b"1", b"3", b"4", b"5", b"6", b"7", b"8", b"9"]
    assert [m.redelivered for m, _, _ in got] == [True, True] + [False] * 6
    conn.close()


def test_consumer_unacked_come_back_redelivered(restartable, names):
    b = restartable
    q = names.queue()
    conn = b.connect()
    ch = conn.channel()
    ch.queue_declare(q, durable=True)
    for i in range(20):
        ch.basic_publish("", q, b"%d" % i, PERSISTENT)
    ch.basic_qos(prefetch_count=5)
    got = []
    ch.basic_consume(q, lambda c, m, p, bd: got.append(bd))
    deadline = time.monotonic() + 5
    while len(got) < 5 and time.monotonic() < deadline:
        conn.process_data_events(time_limit=0.05)
    assert got == [b"%d" % i for i in range(5)]

    restart(b, conn)

    conn = b.connect()
    ch = conn.channel()
    back = get_all(ch, q)
    assert bodies(back) == [b"%d" % i for i in range(20)]
    assert [m.redelivered for m, _, _ in back] == [True] * 5 + [False] * 15
    conn.close()


def test_requeued_message_kept(restartable, names):
    b = restartable
    q = names.queue()
    conn = b.connect()
    ch = conn.channel()
    ch.queue_declare(q, durable=True)
    for i in range(3):
        ch.basic_publish("", q, b"%d" % i, PERSISTENT)
    m, _, _ = ch.basic_get(q, auto_ack=False)
    ch.basic_nack(m.delivery_tag, requeue=True)
    m, _, _ = ch.basic_get(q, auto_ack=False)
    ch.basic_reject(m.delivery_tag, requeue=True)
    m, _, b0 = ch.basic_get(q, auto_ack=False)          # "0" a third time
    assert b0 == b"0" and m.redelivered
    ch.basic_reject(m.delivery_tag, requeue=False)      # dropped for good
    conn.close()

    restart(b)

    conn = b.connect()
    ch = conn.channel()
    back = get_all(ch, q)
    assert bodies(back) == [b"1", b"2"]
    assert [m.redelivered for m, _, _ in back] == [False, False]
    conn.close()


def test_requeue_on_close_then_restart(restartable, names):
    b = restartable
    q = names.queue()
    conn = b.connect()
    ch = conn.channel()
    ch.queue_declare(q, durable=True)
    for i in range(4):
        ch.basic_publish("", q, b"%d" % i, PERSISTENT)
    for _ in range(2):
        ch.basic_get(q, auto_ack=False)
    conn.close()                                        # 0 and 1 go back

    restart(b)

    conn = b.connect()
    ch = conn.channel()
    back = get_all(ch, q)
    assert bodies(back) == [b"0", b"1", b"2", b"3"]
    assert [m.redelivered for m, _, _ in back] == [True, True, False, False]
    conn.close()


def test_new_messages_after_restart_not_redelivered(restartable, names):
    """A queue emptied by acks, restarted, then given new messages: after a
    second restart those were never delivered."""
    b = restartable
    q = names.queue()
    conn = b.connect()
    ch = conn.channel()
    ch.queue_declare(q, durable=True)
    for i in range(5):
        ch.basic_publish("", q, b"old %d" % i, PERSISTENT)
    sync_publish(ch)
    assert len(get_all(ch, q, auto_ack=True)) == 5
    conn.close()
    restart(b)

    conn = b.connect()
    ch = conn.channel()
    for i in range(3):
        ch.basic_publish("", q, b"new %d" % i, PERSISTENT)
    conn.close()
    restart(b)

    conn = b.connect()
    ch = conn.channel()
    back = get_all(ch, q)
    assert bodies(back) == [b"new 0", b"new 1", b"new 2"]
    assert [m.redelivered for m, _, _ in back] == [False] * 3
    conn.close()


def test_priority_queue_redelivered_flags(restartable, names):
    """Delivery out of seq order (a priority queue serves the newest, most
    urgent message first) must not mark older, undelivered ones."""
    b = restartable
    q = names.queue()
    conn = b.connect()
    ch = conn.channel()
    ch.queue_declare(q, durable=True, arguments={"x-max-priority": 10})
    for i in range(5):
        ch.basic_publish("", q, b"low%d" % i, pika.BasicProperties(delivery_mode=2, priority=0))
    ch.basic_publish("", q, b"high", pika.BasicProperties(delivery_mode=2, priority=9))
    sync_publish(ch)
    m, _, body = ch.basic_get(q, auto_ack=False)
    assert body == b"high"                               # left unacked
    m2, _, body = ch.basic_get(q, auto_ack=False)
    assert body == b"low0"
    ch.basic_ack(m2.delivery_tag)
    sync_publish(ch)

    restart(b, conn)

    conn = b.connect()
    back = get_all(conn.channel(), q)
    assert bodies(back) == [b"high", b"low1", b"low2", b"low3", b"low4"]
    assert [m.redelivered for m, _, _ in back] == [True] + [False] * 4
    conn.close()


def test_transient_messages_gone_from_durable_queue(restartable, names):
    b = restartable
    q = names.queue()
    conn = b.connect()
    ch = conn.channel()
    ch.queue_declare(q, durable=True)
    ch.basic_publish("", q, b"t1", TRANSIENT)
    ch.basic_publish("", q, b"p1", PERSISTENT)
    ch.basic_publish("", q, b"t2")
    sync_publish(ch)
    assert message_count(ch, q) == 3
    conn.close()
    restart(b)
    conn = b.connect()
    assert bodies(get_all(conn.channel(), q)) == [b"p1"]
    conn.close()


def test_acked_and_purged_stay_gone(restartable, names):
    b = restartable
    q, qp = names.queue(), names.queue()
    conn = b.connect()
    ch = conn.channel()
    ch.queue_declare(q, durable=True)
    ch.queue_declare(qp, durable=True)
    for i in range(6):
        ch.basic_publish("", q, b"%d" % i, PERSISTENT)
        ch.basic_publish("", qp, b"%d" % i, PERSISTENT)
    tags = [ch.basic_get(q, auto_ack=False)[0].delivery_tag for _ in range(3)]
    ch.basic_ack(tags[1], multiple=True)                  # 0 and 1
    ch.basic_get(q, auto_ack=True)                       # 3, no-ack
    ch.queue_purge(qp)
    conn.close()                                          # 2 goes back
    restart(b)
    conn = b.connect()
    ch = conn.channel()
    back = get_all(ch, q)
    assert bodies(back) == [b"2", b"4", b"5"]
    assert [m.redelivered for m, _, _ in back] == [True, False, False]
    assert get_all(ch, qp) == []
    conn.close()


def test_fanout_to_three_queues_stored_once(restartable, names):
    b = restartable
    x = names.exchange()
    qs = [names.queue() for _ in range(3)]
    marker = os.urandom(16).hex().encode()
    body = b"fan-out " + marker + b" " + b"z" * 10000
    conn = b.connect()
    ch = conn.channel()
    ch.exchange_declare(x, "fanout", durable=True)
    for q in qs:
        ch.queue_declare(q, durable=True)
        ch.queue_bind(q, x)
    ch.confirm_delivery()
    ch.basic_publish(x, "", body, PERSISTENT)
    conn.close()

    b.stop()
    try:
        db = sqlite3.connect(os.path.join(b.data_dir, "tern.db"))
        try:
            n = db.execute("SELECT count(*) FROM messages WHERE instr(body, ?) > 0",
                           (marker,)).fetchone()[0]
        finally:
            db.close()
    finally:
        b.check_log()
        b.start()
    assert n == 1, "the fanned-out body is stored %d times" % n

    conn = b.connect()
    ch = conn.channel()
    for q in qs:
        assert bodies(get_all(ch, q)) == [body]
    conn.close()


# ------------------------------------------------------------------ confirms

def test_confirmed_messages_survive_restart(restartable, names):
    b = restartable
    q = names.queue()
    conn = b.connect()
    ch = conn.channel()
    ch.queue_declare(q, durable=True)
    ch.confirm_delivery()
    for i in range(200):                 # each publish waits for its basic.ack
        ch.basic_publish("", q, b"c%d" % i, PERSISTENT, mandatory=True)
    conn.close()
    restart(b)
    conn = b.connect()
    assert bodies(get_all(conn.channel(), q)) == [b"c%d" % i for i in range(200)]
    conn.close()


def test_confirmed_messages_survive_kill9(restartable, names):
    b = restartable
    q = names.queue()
    conn = b.connect()
    ch = conn.channel()
    ch.queue_declare(q, durable=True)
    ch.confirm_delivery()
    for i in range(100):
        ch.basic_publish("", q, b"k%d" % i, PERSISTENT)
    # the first two delivered (unacked) before the kill come back redelivered
    for _ in range(2):
        assert ch.basic_get(q, auto_ack=False)[0] is not None
    # The delivery watermark is written in the store's next batch, which
    # is committed in the background: a confirmed publish after it (to
    # another queue) says it is on disk, since batches commit in order.
    # (Before the writer thread every loop turn committed before replying.)
    ch.queue_declare(q + "-sync", durable=True)
    ch.basic_publish("", q + "-sync", b"sync", PERSISTENT)
    kill9_restart(b, conn)
    conn = b.connect()
    back = get_all(conn.channel(), q)
    assert bodies(back) == [b"k%d" % i for i in range(100)]
    # The two delivered come back redelivered. After a crash the others may
    # too: the store's delivery mark runs ahead of the deliveries, so none
    # is lost while its commit is pending (persist.c); a clean restart is
    # exact (test_redelivered_flags_after_restart).
    assert [m.redelivered for m, _, _ in back][:2] == [True] * 2
    conn.close()


def test_confirmed_survive_kill9_while_writer_busy(restartable, names):
    """The store commits on its writer thread while the loop goes on: a
    second connection floods a durable queue with 32 KiB persistent
    messages (the writer is busy committing them), and every small
    message confirmed meanwhile on another queue is there after kill -9
    right after its confirm. (Tern only: the writer thread is ours.)"""
    b = restartable
    q, flood = names.queue(), names.queue()
    conn = b.connect()
    ch = conn.channel()
    ch.queue_declare(q, durable=True)
    ch.confirm_delivery()
    with busy_writer(b, flood, started=200) as flooding:
        for i in range(50):
            ch.basic_publish("", q, b"c%d" % i, PERSISTENT)  # returns on its basic.ack
        assert flooding()
        kill9_restart(b, conn)
    conn = b.connect()
    c2 = conn.channel()
    assert bodies(get_all(c2, q)) == [b"c%d" % i for i in range(50)]
    # the flood was being written meanwhile: some of it made it to disk
    assert c2.queue_declare(flood, passive=True).method.message_count > 0
    conn.close()
    drop_flood(b, flood)


# ------------------------------------------------------------------ config

class ConfiguredBroker(Broker):
    """A broker of our own, started with --config (the shared fixture has
    no config option): own port, data dir and log."""

    def __init__(self, config_text):
        super().__init__(None, None)
        self.config_path = os.path.join(self._tmp, "tern.conf")
        with open(self.config_path, "w") as f:
            f.write(config_text)
        self.preexec_fn = None

    def start(self):
        cmd = [self.ternd, "--bind", self.host, "--port", str(self.port),
               "--data-dir", self.data_dir, "--config", self.config_path,
               "--log-level", "info", "--management-port", "0",
               "--prometheus-port", "0"]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, cwd=self._tmp,
                                         preexec_fn=self.preexec_fn)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BrokerError("ternd exited with status %s; log:\n%s"
                                  % (self.proc.returncode, self.log_tail()))
            if port_open(self.host, self.port):
                return
            time.sleep(0.05)
        self._kill()
        raise BrokerError("ternd did not start; log:\n%s" % self.log_tail())


@pytest.fixture
def own_broker(broker):
    made = []

    def make(config_text):
        if broker.external:
            pytest.skip("needs a broker the suite started (BROKER_URL is set)")
        nb = ConfiguredBroker(config_text)
        made.append(nb)
        return nb
    yield make
    for nb in made:
        try:
            rc = nb.stop()
            nb.check_log()
            assert rc in (0, -signal.SIGTERM, None), "exit status %s" % rc
        finally:
            nb.cleanup()


def test_unconfirmed_publish_and_ack_committed_promptly(restartable, names):
    """Without confirms and with nothing else going on, a persistent publish
    and an ack still reach the disk at the end of their loop turn."""
    b = restartable
    q = names.queue()
    conn = b.connect()
    ch = conn.channel()
    ch.queue_declare(q, durable=True)
    ch.basic_publish("", q, b"gone", PERSISTENT)
    ch.basic_publish("", q, b"kept", PERSISTENT)
    sync_publish(ch)
    m, _, body = ch.basic_get(q, auto_ack=False)
    assert body == b"gone"
    ch.basic_ack(m.delivery_tag)               # no reply, no consumer to kick
    ch.basic_publish("", q, b"later", PERSISTENT)
    time.sleep(0.5)                            # idle: no further frames
    kill9_restart(b, conn)
    conn = b.connect()
    back = get_all(conn.channel(), q)
    assert bodies(back) == [b"kept", b"later"]
    # (after a crash, their redelivered flags may be set: see above)
    conn.close()


def test_durability_normal_config(own_broker):
    b = own_broker("# test config\ndurability = normal\n")
    b.start()
    conn = b.connect()
    ch = conn.channel()
    ch.queue_declare("dq", durable=True)
    ch.confirm_delivery()
    for i in range(50):
        ch.basic_publish("", "dq", b"n%d" % i, PERSISTENT)
    kill9_restart(b, conn)              # a broker crash, not a machine crash
    conn = b.connect()
    assert bodies(get_all(conn.channel(), "dq")) == [b"n%d" % i for i in range(50)]
    conn.close()
    b.restart()
    conn = b.connect()
    assert get_all(conn.channel(), "dq") == []
    conn.close()


def test_durability_full_config(own_broker):
    b = own_broker("durability = full\n")
    b.start()
    conn = b.connect()
    ch = conn.channel()
    ch.queue_declare("fq", durable=True)
    ch.confirm_delivery()
    ch.basic_publish("", "fq", b"f", PERSISTENT)
    kill9_restart(b, conn)
    conn = b.connect()
    assert bodies(get_all(conn.channel(), "fq")) == [b"f"]
    conn.close()


def test_durability_bad_value_refused(own_broker):
    b = own_broker("durability = sometimes\n")
    with pytest.raises(BrokerError) as e:
        b.start()
    assert b.proc.returncode not in (0, None)
    assert "durability" in str(e.value)
    b.proc = None


# ------------------------------------------------------------------ store failure

class FlakyDiskPublisher:
    """Confirmed publishing at full speed (pika SelectConnection) while the
    broker's disk fails: its file size limit is lowered so that every
    commit fails (phase B), then lifted again (phase C)."""

    def __init__(self, broker, queue):
        self.broker = broker
        self.queue = queue
        self.phase = "A"
        self.seq = 0
        self.pending = {}                 # publish seq -> (id, phase)
        self.acked, self.nacked = [], []
        self.events = []                  # ("blocked" | "unblocked", phase)
        self.error = None

    def set_fsize(self, limit):
        resource.prlimit(self.broker.proc.pid, resource.RLIMIT_FSIZE,
                         (limit, resource.RLIM_INFINITY))

    def run(self):
        params = self.broker.params(blocked_connection_timeout=None, heartbeat=0)
        self.conn = pika.SelectConnection(params, on_open_callback=self.on_open,
                                          on_open_error_callback=self.on_error,
                                          on_close_callback=lambda c, r: c.ioloop.stop())
        self.conn.ioloop.call_later(30, self.conn.ioloop.stop)
        self.conn.ioloop.start()

    def on_error(self, conn, err):
        self.error = err
        conn.ioloop.stop()

    def on_open(self, conn):
        conn.add_on_connection_blocked_callback(
            lambda *a: self.events.append(("blocked", self.phase)))
        conn.add_on_connection_unblocked_callback(self.on_unblocked)
        conn.channel(on_open_callback=self.on_channel)

    def on_channel(self, ch):
        self.ch = ch
        ch.queue_declare(self.queue, durable=True, callback=lambda _: ch.confirm_delivery(
            self.on_confirm, callback=lambda _: self.start()))

    def start(self):
        later = self.conn.ioloop.call_later
        later(0.7, self.fail_disk)
        later(5.2, self.heal_disk)         # four or five failing probes
        later(12, self.conn.close)        # unless unblocked before
        self.publish()

    def fail_disk(self):
        self.phase = "B"
        self.set_fsize(4096)               # no WAL frame fits under 4 KiB

    def heal_disk(self):
        self.set_fsize(resource.RLIM_INFINITY)
        self.phase = "C"

    def on_unblocked(self, *a):
        self.events.append(("unblocked", self.phase))
        self.conn.ioloop.call_later(0.5, self.conn.close)

    def publish(self):
        if not self.ch.is_open or self.conn.is_closing:
            return
        for _ in range(20):
            if len(self.pending) >= 300:
                break
            self.seq += 1
            self.pending[self.seq] = (self.seq, self.phase)
            self.ch.basic_publish("", self.queue, b"%d" % self.seq, PERSISTENT)
        self.conn.ioloop.call_later(0, self.publish)

    def on_confirm(self, frame):
        m = frame.method
        out = self.acked if isinstance(m, pika.spec.Basic.Ack) else self.nacked
        tags = [t for t in self.pending if t <= m.delivery_tag] if m.multiple \
            else [m.delivery_tag]
        for t in tags:
            if t in self.pending:
                out.append(self.pending.pop(t))


def test_store_failure_nacks_blocks_and_acks_hold(own_broker):
    """Commits fail while the disk refuses writes: the publishes of the
    failed commits are nacked, and the failure is a disk alarm: the
    publisher gets connection.blocked and is not read (what it sends
    meanwhile waits, to be acked later) until a probe lifts it once the
    disk is back. Every basic.ack, before, during and after, means the
    message is kept."""
    b = own_broker("durability = full\n")
    # a write past the file size limit fails with EFBIG instead of SIGXFSZ
    b.preexec_fn = lambda: signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    b.start()
    pub = FlakyDiskPublisher(b, "flaky")
    pub.run()
    assert pub.error is None
    acked = collections.Counter(ph for _, ph in pub.acked)
    nacked = collections.Counter(ph for _, ph in pub.nacked)
    assert acked["A"] > 0, (acked, nacked)
    assert sum(nacked.values()) > 0, (acked, nacked)
    assert acked["C"] > 0, (acked, nacked)
    assert [e for e, _ in pub.events] == ["blocked", "unblocked"], pub.events
    assert pub.events[0][1] == "B" and pub.events[1][1] == "C", pub.events

    b.restart()
    conn = b.connect()
    got = {int(body) for body in consume_all(conn, "flaky")}
    conn.close()
    lost = [(i, ph) for i, ph in pub.acked if i not in got]
    assert lost == [], "%d acked messages lost, e.g. %s (acked %s, nacked %s)" % (
        len(lost), lost[:10], acked, nacked)
