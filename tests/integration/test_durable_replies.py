"""Replies that promise durability without a confirm to stand for them:
queue.declare-ok, exchange.declare-ok and queue.bind-ok for durable
objects, and tx.commit-ok for persistent messages, are sent only once what
they changed is on disk, as RabbitMQ's are. The store commits on a writer
thread (store/writer.c) while the loop goes on, so each test first keeps
that writer busy with a flood of large persistent messages from another
connection, then kills the broker with SIGKILL right after the reply.
(Tern only: the tests kill the broker.)"""
import pytest

from support.durable import PERSISTENT, bodies, busy_writer, drop_flood, get_all, kill9_restart

pytestmark = [pytest.mark.tern_only, pytest.mark.time_limit(60)]


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

