"""Replies that promise durability without a confirm to stand for them:
queue.declare-ok, exchange.declare-ok and queue.bind-ok for durable
objects, and tx.commit-ok for persistent messages, are sent only once what
they changed is on disk, as RabbitMQ's are. The store commits on a writer
thread (store/writer.c) while the loop goes on, so each test first keeps
that writer busy with a flood of large persistent messages from another
connection, then kills the broker with SIGKILL right after the reply.
(Tern only: the tests kill the broker.)"""
import contextlib
import threading

import pika.exceptions as pe
import pytest

from support.durable import PERSISTENT, bodies, close_quietly, get_all, kill9_restart

pytestmark = [pytest.mark.tern_only, pytest.mark.time_limit(60)]


@contextlib.contextmanager
def busy_writer(b, queue, started=100):
    """A second connection publishing 32 KiB persistent messages to a
    durable queue without confirms until the block ends (or the broker
    dies under it); the block starts once `started` were sent."""
    stop = threading.Event()
    sent = [0]

    def flood():
        fc = b.connect()
        fch = fc.channel()
        fch.queue_declare(queue, durable=True)
        body = b"f" * 32768
        try:
            while not stop.is_set() and sent[0] < 3000:
                fch.basic_publish("", queue, body, PERSISTENT)
                sent[0] += 1
                if sent[0] % 50 == 0:
                    fc.process_data_events(0)
        except (pe.AMQPError, OSError):
            pass  # killed under it
        finally:
            close_quietly(fc)

    t = threading.Thread(target=flood, daemon=True)
    t.start()
    while sent[0] < started and t.is_alive():
        t.join(0.01)
    try:
        yield
    finally:
        stop.set()
        t.join(10)


def drop_flood(b, queue):
    """Leaves an idle store to the next test (the flood's deletion is a long
    batch; the confirm after it says it is committed)."""
    conn = b.connect()
    ch = conn.channel()
    ch.queue_delete(queue)
    ch.confirm_delivery()
    ch.queue_declare("sync", durable=True)
    ch.basic_publish("", "sync", b"sync", PERSISTENT)
    ch.queue_delete("sync")
    conn.close()


def test_topology_replied_is_on_disk(restartable, names):
    b = restartable
    q, x, flood = names.queue(), names.exchange(), names.queue()
    conn = b.connect()
    ch = conn.channel()
    with busy_writer(b, flood):
        ch.exchange_declare(x, "topic", durable=True)
        ch.queue_declare(q, durable=True)
        ch.queue_bind(q, x, "a.#")  # bind-ok: the last reply before the kill
        kill9_restart(b, conn)
    conn = b.connect()
    ch = conn.channel()
    ch.exchange_declare(x, passive=True)
    ch.queue_declare(q, passive=True)
    ch.confirm_delivery()
    ch.basic_publish(x, "a.b", b"routed", PERSISTENT, mandatory=True)  # the binding is back
    assert bodies(get_all(ch, q)) == [b"routed"]
    conn.close()
    drop_flood(b, flood)


def test_tx_commit_ok_is_on_disk(restartable, names):
    b = restartable
    q, flood = names.queue(), names.queue()
    conn = b.connect()
    ch = conn.channel()
    ch.queue_declare(q, durable=True)
    ch.tx_select()
    with busy_writer(b, flood):
        for i in range(20):
            ch.basic_publish("", q, b"t%d" % i, PERSISTENT)
        ch.tx_commit()
        kill9_restart(b, conn)
    conn = b.connect()
    assert bodies(get_all(conn.channel(), q)) == [b"t%d" % i for i in range(20)]
    conn.close()
    drop_flood(b, flood)


@pytest.mark.parametrize("args", [{}, {"x-max-priority": 5}], ids=["fifo", "priority"])
def test_delivered_before_kill_come_back_redelivered(restartable, names, args):
    """A message delivered (basic.get-ok left the broker) before a kill -9
    comes back with redelivered = true, also while the writer is busy and
    the delivery's mark is not yet committed (the watermark runs ahead;
    a priority queue's first delivery is committed before it leaves)."""
    b = restartable
    q, flood = names.queue(), names.queue()
    conn = b.connect()
    ch = conn.channel()
    ch.queue_declare(q, durable=True, arguments=args)
    ch.confirm_delivery()
    for i in range(30):
        ch.basic_publish("", q, b"d%d" % i, PERSISTENT)
    with busy_writer(b, flood):
        for i in range(10):
            m, _, body = ch.basic_get(q, auto_ack=False)
            assert body == b"d%d" % i
        kill9_restart(b, conn)
    conn = b.connect()
    back = get_all(conn.channel(), q)
    assert bodies(back) == [b"d%d" % i for i in range(30)]
    flags = [m.redelivered for m, _, _ in back]
    assert flags[:10] == [True] * 10, flags
    conn.close()
    drop_flood(b, flood)


def test_clean_restart_keeps_exact_redelivered_flags(restartable, names):
    """The watermark written ahead is taken back at a clean stop: after a
    SIGTERM restart only the messages really delivered are redelivered."""
    b = restartable
    q = names.queue()
    conn = b.connect()
    ch = conn.channel()
    ch.queue_declare(q, durable=True)
    ch.confirm_delivery()
    for i in range(20):
        ch.basic_publish("", q, b"e%d" % i, PERSISTENT)
    for _ in range(3):
        assert ch.basic_get(q, auto_ack=False)[0] is not None
    b.restart()
    close_quietly(conn)
    conn = b.connect()
    back = get_all(conn.channel(), q)
    assert [m.redelivered for m, _, _ in back] == [True] * 3 + [False] * 17
    conn.close()
