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
import time

import pika
import pytest

from support.broker import Broker, BrokerError
from support.durable import (PERSISTENT, back_in, bodies, busy_writer, drop_flood, get_all,
                             kill9_restart, numbered, open_queue, publish, restart)
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


def route(ch, *publishes):
    """basic.publish of each (exchange, routing key, body[, properties]),
    then a round trip: the broker has routed them all."""
    for p in publishes:
        ch.basic_publish(*p)
    sync_publish(ch)


def taken(ch, queue):
    """The bodies now in queue, taken with auto-ack."""
    return bodies(get_all(ch, queue))


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

    red3 = pika.BasicProperties(headers={"color": "red", "size": 3})
    red4 = pika.BasicProperties(headers={"color": "red", "size": 4})
    route(ch, (x, "k", b"direct"),
          (x, "other", b"to-ae"),                         # via alternate-exchange
          (hx, "", b"red3", red3), (hx, "", b"red4", red4), (fx, "", b"via-fx", red3))
    assert taken(ch, q1) == [b"direct"]                  # two bindings, one copy
    assert taken(ch, qae) == [b"to-ae"]
    assert taken(ch, q2) == [b"red3", b"via-fx"]

    # the two bindings are told apart by their arguments
    ch.queue_unbind(q1, x, "k", arguments={"tag": "one"})
    ch.basic_publish(x, "k", b"still-bound")
    ch.queue_unbind(q1, x, "k", arguments={"tag": "two"})
    route(ch, (x, "k", b"unbound"))
    assert taken(ch, q1) == [b"still-bound"]
    assert taken(ch, qae) == [b"unbound"]

    # and the unbinds were durable too
    conn.close()
    restart(b)
    conn = b.connect()
    ch = conn.channel()
    route(ch, (x, "k", b"after-unbind"))
    assert taken(ch, q1) == []
    assert taken(ch, qae) == [b"after-unbind"]
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
    route(och, *[("", q, b"persistent " + q.encode(), PERSISTENT) for q in (qt, qx, qa, qd)])
    for q in (qt, qx):
        assert message_count(och, q) == 1
    assert_exists(owner, "queue", qa)                    # its consumer holds the message

    restart(b, owner)

    conn = b.connect()
    for q in (qt, qx, qa):
        assert_gone(conn, "queue", q)
    assert_gone(conn, "exchange", xt)
    ch = conn.channel()
    assert taken(ch, qd) == [b"persistent " + qd.encode()]
    # a queue of the same name as the transient one is new and unbound
    ch.queue_declare(qt, durable=True)
    route(ch, (xd, "k", b"x"), (xd, "d", b"d"))
    assert taken(ch, qt) == []
    assert taken(ch, qd) == [b"d"]
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
    publish(ch, qd, numbered(5, b"old "))
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
    route(ch, (x, "k", b"to-x"), (x2, "d", b"to-qd"), (x2, "u", b"to-u"), (x2, "k", b"to-q2"))
    assert taken(ch, q) == []
    assert taken(ch, qd) == []
    assert taken(ch, q2) == [b"to-q2"]
    conn.close()


# ------------------------------------------------------------------ messages

def test_persistent_messages_back_in_order(restartable, names):
    b = restartable
    q = names.queue()
    x = names.exchange()
    conn, ch = open_queue(b, q)
    ch.exchange_declare(x, "topic", durable=True)
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
    route(ch, (x, "a.t", b"no properties"))             # transient by default
    assert message_count(ch, q) == 300 + 1
    conn.close()

    restart(b)

    conn = b.connect()
    got = get_all(conn.channel(), q)
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
    conn, ch = open_queue(b, q)
    publish(ch, q, numbered(10))
    sync_publish(ch)
    # 0..3 delivered; 0 and 2 acked, 1 and 3 still unacked at the restart
    tags = [ch.basic_get(q, auto_ack=False)[0].delivery_tag for _ in range(4)]
    ch.basic_ack(tags[0])
    ch.basic_ack(tags[2])
    sync_publish(ch)

    restart(b, conn)

    got, redelivered = back_in(b, q)
    assert got == [b"1", b"3", b"4", b"5", b"6", b"7", b"8", b"9"]
    assert redelivered == [True, True] + [False] * 6


def test_consumer_unacked_come_back_redelivered(restartable, names):
    b = restartable
    q = names.queue()
    conn, ch = open_queue(b, q)
    publish(ch, q, numbered(20))
    ch.basic_qos(prefetch_count=5)
    got = []
    ch.basic_consume(q, lambda c, m, p, bd: got.append(bd))
    deadline = time.monotonic() + 5
    while len(got) < 5 and time.monotonic() < deadline:
        conn.process_data_events(time_limit=0.05)
    assert got == numbered(5)

    restart(b, conn)

    back, redelivered = back_in(b, q)
    assert back == numbered(20)
    assert redelivered == [True] * 5 + [False] * 15


def test_purged_messages_stay_purged(restartable, names):
    """queue.purge with nothing unacked: the store drops the queue's
    entries in one write, committed before purge-ok. After kill -9 the
    queue is there and empty but for what came after the purge."""
    b = restartable
    q = names.queue()
    conn, ch = open_queue(b, q, confirm=True)
    publish(ch, q, numbered(500))
    assert ch.queue_purge(q).method.message_count == 500
    publish(ch, q, [b"after"])

    kill9_restart(b, conn)

    assert back_in(b, q) == ([b"after"], [False])


def test_purge_keeps_unacked_messages(restartable, names):
    """Unacked messages are not purged (AMQP 0-9-1, as RabbitMQ): the store
    drops the ready ones one by one, committed before purge-ok (the kill
    comes right after it), and the unacked one comes back after kill -9,
    redelivered."""
    b = restartable
    q, flood = names.queue(), names.queue()
    conn, ch = open_queue(b, q, confirm=True)
    publish(ch, q, numbered(50))
    m, _, body = ch.basic_get(q, auto_ack=False)
    assert body == b"0"
    with busy_writer(b, flood):  # a commit takes a while
        assert ch.queue_purge(q).method.message_count == 49
        kill9_restart(b, conn)

    assert back_in(b, q) == ([b"0"], [True])
    drop_flood(b, flood)


def test_requeued_message_kept(restartable, names):
    b = restartable
    q = names.queue()
    conn, ch = open_queue(b, q)
    publish(ch, q, numbered(3))
    m, _, _ = ch.basic_get(q, auto_ack=False)
    ch.basic_nack(m.delivery_tag, requeue=True)
    m, _, _ = ch.basic_get(q, auto_ack=False)
    ch.basic_reject(m.delivery_tag, requeue=True)
    m, _, b0 = ch.basic_get(q, auto_ack=False)          # "0" a third time
    assert b0 == b"0" and m.redelivered
    ch.basic_reject(m.delivery_tag, requeue=False)      # dropped for good
    conn.close()

    restart(b)

    back, redelivered = back_in(b, q)
    assert back == [b"1", b"2"]
    assert redelivered == [False, False]


def test_requeue_on_close_then_restart(restartable, names):
    b = restartable
    q = names.queue()
    conn, ch = open_queue(b, q)
    publish(ch, q, numbered(4))
    for _ in range(2):
        ch.basic_get(q, auto_ack=False)
    conn.close()                                        # 0 and 1 go back

    restart(b)

    back, redelivered = back_in(b, q)
    assert back == [b"0", b"1", b"2", b"3"]
    assert redelivered == [True, True, False, False]


def test_new_messages_after_restart_not_redelivered(restartable, names):
    """A queue emptied by acks, restarted, then given new messages: after a
    second restart those were never delivered."""
    b = restartable
    q = names.queue()
    conn, ch = open_queue(b, q)
    publish(ch, q, numbered(5, b"old "))
    sync_publish(ch)
    assert len(get_all(ch, q, auto_ack=True)) == 5
    conn.close()
    restart(b)

    conn = b.connect()
    publish(conn.channel(), q, numbered(3, b"new "))
    conn.close()
    restart(b)

    back, redelivered = back_in(b, q)
    assert back == [b"new 0", b"new 1", b"new 2"]
    assert redelivered == [False] * 3


def test_priority_queue_redelivered_flags(restartable, names):
    """Delivery out of seq order (a priority queue serves the newest, most
    urgent message first) must not mark older, undelivered ones."""
    b = restartable
    q = names.queue()
    conn, ch = open_queue(b, q, arguments={"x-max-priority": 10})
    publish(ch, q, numbered(5, b"low"), pika.BasicProperties(delivery_mode=2, priority=0))
    route(ch, ("", q, b"high", pika.BasicProperties(delivery_mode=2, priority=9)))
    m, _, body = ch.basic_get(q, auto_ack=False)
    assert body == b"high"                               # left unacked
    m2, _, body = ch.basic_get(q, auto_ack=False)
    assert body == b"low0"
    ch.basic_ack(m2.delivery_tag)
    sync_publish(ch)

    restart(b, conn)

    back, redelivered = back_in(b, q)
    assert back == [b"high", b"low1", b"low2", b"low3", b"low4"]
    assert redelivered == [True] + [False] * 4


def test_transient_messages_gone_from_durable_queue(restartable, names):
    b = restartable
    q = names.queue()
    conn, ch = open_queue(b, q)
    route(ch, ("", q, b"t1", TRANSIENT), ("", q, b"p1", PERSISTENT), ("", q, b"t2"))
    assert message_count(ch, q) == 3
    conn.close()
    restart(b)
    assert back_in(b, q)[0] == [b"p1"]


def test_acked_and_purged_stay_gone(restartable, names):
    b = restartable
    q, qp = names.queue(), names.queue()
    conn, ch = open_queue(b, q)
    ch.queue_declare(qp, durable=True)
    for body in numbered(6):
        ch.basic_publish("", q, body, PERSISTENT)
        ch.basic_publish("", qp, body, PERSISTENT)
    tags = [ch.basic_get(q, auto_ack=False)[0].delivery_tag for _ in range(3)]
    ch.basic_ack(tags[1], multiple=True)                  # 0 and 1
    ch.basic_get(q, auto_ack=True)                       # 3, no-ack
    ch.queue_purge(qp)
    conn.close()                                          # 2 goes back
    restart(b)
    back, redelivered = back_in(b, q)
    assert back == [b"2", b"4", b"5"]
    assert redelivered == [True, False, False]
    assert back_in(b, qp) == ([], [])


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

    for q in qs:
        assert back_in(b, q)[0] == [body]


# ------------------------------------------------------------------ confirms

def test_confirmed_messages_survive_restart(restartable, names):
    b = restartable
    q = names.queue()
    conn, ch = open_queue(b, q, confirm=True)
    publish(ch, q, numbered(200, b"c"), mandatory=True)  # each waits for its basic.ack
    conn.close()
    restart(b)
    assert back_in(b, q)[0] == numbered(200, b"c")


def test_confirmed_messages_survive_kill9(restartable, names):
    b = restartable
    q = names.queue()
    conn, ch = open_queue(b, q, confirm=True)
    publish(ch, q, numbered(100, b"k"))
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
    back, redelivered = back_in(b, q)
    assert back == numbered(100, b"k")
    # The two delivered come back redelivered. After a crash the others may
    # too: the store's delivery mark runs ahead of the deliveries, so none
    # is lost while its commit is pending (persist.c); a clean restart is
    # exact (test_redelivered_flags_after_restart).
    assert redelivered[:2] == [True] * 2


def test_confirmed_survive_kill9_while_writer_busy(restartable, names):
    """The store commits on its writer thread while the loop goes on: a
    second connection floods a durable queue with 32 KiB persistent
    messages (the writer is busy committing them), and every small
    message confirmed meanwhile on another queue is there after kill -9
    right after its confirm. (Tern only: the writer thread is ours.)"""
    b = restartable
    q, flood = names.queue(), names.queue()
    conn, ch = open_queue(b, q, confirm=True)
    with busy_writer(b, flood, started=200) as flooding:
        publish(ch, q, numbered(50, b"c"))               # each returns on its basic.ack
        assert flooding()
        kill9_restart(b, conn)
    conn = b.connect()
    c2 = conn.channel()
    assert taken(c2, q) == numbered(50, b"c")
    # the flood was being written meanwhile: some of it made it to disk
    assert message_count(c2, flood) > 0
    conn.close()
    drop_flood(b, flood)


def test_unconfirmed_publish_and_ack_committed_promptly(restartable, names):
    """Without confirms and with nothing else going on, a persistent publish
    and an ack still reach the disk at the end of their loop turn."""
    b = restartable
    q = names.queue()
    conn, ch = open_queue(b, q)
    publish(ch, q, [b"gone", b"kept"])
    sync_publish(ch)
    m, _, body = ch.basic_get(q, auto_ack=False)
    assert body == b"gone"
    ch.basic_ack(m.delivery_tag)               # no reply, no consumer to kick
    ch.basic_publish("", q, b"later", PERSISTENT)
    time.sleep(0.5)                            # idle: no further frames
    kill9_restart(b, conn)
    # (after a crash, their redelivered flags may be set: see above)
    assert back_in(b, q)[0] == [b"kept", b"later"]


# ------------------------------------------------------------------ config

@pytest.fixture
def own_broker(broker):
    """make(*config_lines): a broker of our own (own ports, data dir and
    log), not started, that starts with these lines as its --config file."""
    made = []

    def make(*config_lines):
        if broker.external:
            pytest.skip("needs a broker the suite started (BROKER_URL is set)")
        nb = Broker()
        nb.config_lines = list(config_lines)
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


def test_durability_normal_config(own_broker):
    b = own_broker("# test config", "durability = normal")
    b.start()
    conn, ch = open_queue(b, "dq", confirm=True)
    publish(ch, "dq", numbered(50, b"n"))
    kill9_restart(b, conn)              # a broker crash, not a machine crash
    assert back_in(b, "dq")[0] == numbered(50, b"n")
    b.restart()
    assert back_in(b, "dq") == ([], [])


def test_durability_full_config(own_broker):
    b = own_broker("durability = full")
    b.start()
    conn, ch = open_queue(b, "fq", confirm=True)
    publish(ch, "fq", [b"f"])
    kill9_restart(b, conn)
    assert back_in(b, "fq")[0] == [b"f"]


def test_durability_bad_value_refused(own_broker):
    b = own_broker("durability = sometimes")
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
    b = own_broker("durability = full")
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
