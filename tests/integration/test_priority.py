"""Priority queues: x-max-priority (1..255) and the priority property
(rabbitmq.com/docs/priority).

What is checked (RabbitMQ 3.10.8 behaves so): higher priority first, FIFO
within a level; a message without priority counts as priority 0; a priority
above the queue's maximum counts as the maximum (so it stays FIFO with the
messages published at the maximum); the order is the same through basic.get
and through a consumer attached after publishing; 255 levels work; a
requeued message goes back to its level. x-max-priority 256 and -1 are
refused with 406 ("PRECONDITION_FAILED - invalid arg 'x-max-priority' for
queue ...: {max_value_exceeded,256}"; 0 is accepted by RabbitMQ 3.10, so it
is not checked). Tern-only: the order survives a restart.

Publishes go through a confirm channel, so every message is in the queue
when basic_publish returns."""
import random

import pika
import pytest

from support.helpers import Collector, channel_error, drain, pump


def declare(ch, q, max_priority, **kw):
    ch.queue_declare(q, arguments={"x-max-priority": max_priority}, **kw)


def confirm_channel(conn):
    c = conn.channel()
    c.confirm_delivery()
    return c


def publish_all(ch, q, items, delivery_mode=None):
    """items: (body, priority or None); None publishes without the property."""
    for body, prio in items:
        props = pika.BasicProperties(priority=prio, delivery_mode=delivery_mode)
        ch.basic_publish("", q, body, props)


def expected_order(items, max_priority):
    """Stable sort: higher effective priority first, FIFO within a level."""
    def level(prio):
        return min(prio or 0, max_priority)
    return [b for b, _ in sorted(items, key=lambda it: -level(it[1]))]


def consume_all(conn, ch, q, n, timeout=5.0):
    col = Collector()
    tag = ch.basic_consume(q, col.cb(), auto_ack=True)
    pump(conn, lambda: len(col) >= n, timeout)
    ch.basic_cancel(tag)
    return col


def test_higher_priority_first_with_basic_get(conn, names):
    q = names.queue()
    ch = confirm_channel(conn)
    declare(ch, q, 10)
    items = [(b"low1", 1), (b"none1", None), (b"high", 9), (b"mid1", 5),
             (b"zero", 0), (b"mid2", 5), (b"low2", 1), (b"none2", None)]
    publish_all(ch, q, items)
    got = drain(ch, q)
    assert got == [b"high", b"mid1", b"mid2", b"low1", b"low2",
                   b"none1", b"zero", b"none2"]


def test_no_priority_is_zero(conn, names):
    # without the property a message is at level 0: FIFO with explicit 0s,
    # behind anything at level 1
    q = names.queue()
    ch = confirm_channel(conn)
    declare(ch, q, 3)
    publish_all(ch, q, [(b"a", None), (b"b", 0), (b"c", None), (b"d", 1), (b"e", 0)])
    assert drain(ch, q) == [b"d", b"a", b"b", b"c", b"e"]


def test_priority_above_max_counts_as_max(conn, names):
    # were 200 and 255 taken literally, b and e would come first
    q = names.queue()
    ch = confirm_channel(conn)
    declare(ch, q, 5)
    items = [(b"a", 5), (b"b", 200), (b"c", 5), (b"d", 4), (b"e", 255), (b"f", 6)]
    publish_all(ch, q, items)
    got = drain(ch, q)
    assert got == [b"a", b"b", b"c", b"e", b"f", b"d"]
    assert got == expected_order(items, 5)


def test_delivered_priority_property_unchanged(conn, names):
    # the clamp is for ordering only: the property is delivered as published
    q = names.queue()
    ch = confirm_channel(conn)
    declare(ch, q, 2)
    publish_all(ch, q, [(b"x", 7)])
    m, p, b = ch.basic_get(q, auto_ack=True)
    assert b == b"x" and p.priority == 7


def test_consumer_attached_after_publishing(conn, names):
    q = names.queue()
    ch = confirm_channel(conn)
    declare(ch, q, 10)
    rnd = random.Random(5)
    items = []
    for i in range(40):
        prio = rnd.choice([None, 0, 1, 2, 5, 5, 9, 10, 11])
        items.append((b"m%02d" % i, prio))
    publish_all(ch, q, items)
    col = consume_all(conn, conn.channel(), q, len(items))
    assert col.bodies() == expected_order(items, 10)


def test_consumer_with_prefetch_one_and_acks(conn, names):
    # a consumer acking one message at a time sees every later publish
    # placed by priority too
    q = names.queue()
    pub = confirm_channel(conn)
    declare(pub, q, 5)
    items = [(b"p%d-%d" % (p, i), p) for i in range(3) for p in (1, 3, 0, 5, 2)]
    publish_all(pub, q, items)
    ch = conn.channel()
    ch.basic_qos(prefetch_count=1)
    got = []

    def on_msg(c, m, p, b):
        got.append(b)
        c.basic_ack(m.delivery_tag)

    tag = ch.basic_consume(q, on_msg)
    pump(conn, lambda: len(got) >= len(items), 5)
    ch.basic_cancel(tag)
    assert got == expected_order(items, 5)


def test_255_levels(conn, names):
    q = names.queue()
    ch = confirm_channel(conn)
    declare(ch, q, 255)
    rnd = random.Random(255)
    prios = list(range(256)) + [0, 128, 255, 254, 1, 128]
    rnd.shuffle(prios)
    items = [(b"%d:%d" % (i, p), p) for i, p in enumerate(prios)] + [(b"none", None)]
    publish_all(ch, q, items)
    col = consume_all(conn, conn.channel(), q, len(items))
    got = col.bodies()
    assert len(got) == len(items)
    assert got == expected_order(items, 255)
    assert got[0].endswith(b":255") and got[-1] == b"none"


def test_requeued_message_keeps_its_level(conn, names):
    q = names.queue()
    ch = confirm_channel(conn)
    declare(ch, q, 9)
    publish_all(ch, q, [(b"low", 1), (b"high", 8), (b"mid", 4)])
    m, _, body = ch.basic_get(q, auto_ack=False)
    assert body == b"high"
    ch.basic_nack(m.delivery_tag, requeue=True)
    m, _, body = ch.basic_get(q, auto_ack=True)
    assert body == b"high" and m.redelivered
    assert drain(ch, q) == [b"mid", b"low"]


def test_priority_ignored_without_max_priority(conn, names):
    # a queue declared without x-max-priority is FIFO whatever the property
    q = names.queue()
    ch = confirm_channel(conn)
    ch.queue_declare(q)
    publish_all(ch, q, [(b"a", 1), (b"b", 9), (b"c", None), (b"d", 5)])
    assert drain(ch, q) == [b"a", b"b", b"c", b"d"]


@pytest.mark.parametrize("value", [256, -1])
def test_invalid_max_priority(ch, names, value):
    with channel_error(406, "PRECONDITION_FAILED - invalid arg 'x-max-priority'"):
        declare(ch, names.queue(), value)


# ------------------------------------------------------------------ restart

@pytest.mark.tern_only
@pytest.mark.time_limit(30)
def test_priority_order_survives_restart(restartable, names):
    b = restartable
    q = names.queue()
    c = b.connect()
    ch = confirm_channel(c)
    declare(ch, q, 10, durable=True)
    items = [(b"a", 2), (b"b", None), (b"c", 10), (b"d", 2), (b"e", 7), (b"f", 30), (b"g", 0)]
    publish_all(ch, q, items, delivery_mode=2)
    c.close()
    b.restart()
    c = b.connect()
    try:
        ch = c.channel()
        assert ch.queue_declare(q, passive=True).method.message_count == len(items)
        assert drain(ch, q) == expected_order(items, 10) == \
            [b"c", b"f", b"e", b"a", b"d", b"b", b"g"]
        # still a priority queue after the restart
        publish_all(ch, q, [(b"x", 1), (b"y", 9)])
        ch.exchange_declare("amq.direct", passive=True)
        assert drain(ch, q) == [b"y", b"x"]
    finally:
        c.close()
