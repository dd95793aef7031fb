"""Consumer features: single active consumer (x-single-active-consumer),
consumer priorities (x-priority on basic.consume) and exclusive consumers
(rabbitmq.com/docs/consumers, /docs/consumer-priority).

Checked against RabbitMQ 3.10.8:
- with x-single-active-consumer only the first registered consumer gets
  messages; when it is cancelled (or its channel closes) the next one in
  registration order takes over, with the messages still in the queue;
- the highest-priority consumer gets every message while it has credit;
  when its prefetch is used up, lower-priority consumers get messages, and
  the higher one gets them again once it acknowledges; equal priorities
  share round-robin; no x-priority = 0, negative priorities are allowed;
- connection.start advertises the capability consumer_priorities;
- a second consumer on a queue with an exclusive consumer, and an exclusive
  consumer on a queue that already has one, are refused with 403
  "ACCESS_REFUSED - queue '...' in vhost '/' in exclusive use"; a string
  x-priority gives 406 "PRECONDITION_FAILED - invalid arg 'x-priority' ...".
"""
import pika
import pytest

from support.helpers import Collector, channel_error, pump, queue_counts, settle, sync


def confirm_channel(conn):
    c = conn.channel()
    c.confirm_delivery()
    return c


def publish_n(ch, q, prefix, n):
    for i in range(n):
        ch.basic_publish("", q, b"%s%d" % (prefix, i))


# ------------------------------------------------------------------ single active consumer

def test_single_active_consumer_fail_over(conn, names):
    pub = confirm_channel(conn)
    q = names.queue()
    pub.queue_declare(q, arguments={"x-single-active-consumer": True})
    col = Collector()
    chans = {n: conn.channel() for n in "ABC"}
    tags = {n: c.basic_consume(q, col.cb(n), auto_ack=True) for n, c in chans.items()}
    assert queue_counts(pub, q)[1] == 3
    publish_n(pub, q, b"a", 4)
    assert pump(conn, lambda: len(col) >= 4, 2.0)
    settle(conn, 0.1)
    assert col.bodies("A") == [b"a0", b"a1", b"a2", b"a3"] and len(col) == 4
    chans["A"].basic_cancel(tags["A"])
    publish_n(pub, q, b"b", 3)
    assert pump(conn, lambda: len(col) >= 7, 2.0)
    settle(conn, 0.1)
    assert col.bodies("B") == [b"b0", b"b1", b"b2"] and col.bodies("C") == []
    chans["B"].basic_cancel(tags["B"])
    publish_n(pub, q, b"c", 2)
    assert pump(conn, lambda: len(col) >= 9, 2.0)
    assert col.bodies("C") == [b"c0", b"c1"] and len(col) == 9


def test_single_active_consumer_takes_over_waiting_messages(conn, names):
    # messages published while the active consumer is blocked by its
    # prefetch wait in the queue and go to the next consumer after the
    # active one's channel closes (its unacked one is requeued)
    pub = confirm_channel(conn)
    q = names.queue()
    pub.queue_declare(q, arguments={"x-single-active-consumer": True})
    col = Collector()
    a = conn.channel()
    a.basic_qos(prefetch_count=1)
    a.basic_consume(q, col.cb("A"), auto_ack=False)
    b = conn.channel()
    b.basic_consume(q, col.cb("B"), auto_ack=True)
    publish_n(pub, q, b"m", 3)
    assert pump(conn, lambda: len(col) >= 1, 2.0)
    settle(conn, 0.2)
    assert col.bodies("A") == [b"m0"] and col.bodies("B") == []   # B stays idle
    assert queue_counts(pub, q)[0] == 2
    a.close()
    assert pump(conn, lambda: len(col.bodies("B")) >= 3, 2.0)
    assert col.bodies("B") == [b"m0", b"m1", b"m2"]


def test_without_single_active_consumer_round_robin(conn, names):
    pub = confirm_channel(conn)
    q = names.queue()
    pub.queue_declare(q)
    col = Collector()
    for n in "AB":
        conn.channel().basic_consume(q, col.cb(n), auto_ack=True)
    publish_n(pub, q, b"m", 4)
    assert pump(conn, lambda: len(col) >= 4, 2.0)
    assert len(col.bodies("A")) == 2 and len(col.bodies("B")) == 2


# ------------------------------------------------------------------ consumer priorities

def test_consumer_priorities_capability_advertised(broker):
    # RabbitMQ 3.10.8 lists consumer_priorities = true among the capabilities
    # in connection.start (Bunny's server_capabilities shows it)
    caps = broker.server_properties["capabilities"]
    assert caps.get("consumer_priorities") is True, caps


def test_highest_priority_consumer_gets_all(conn, names):
    pub = confirm_channel(conn)
    q = names.queue()
    pub.queue_declare(q)
    col = Collector()
    conn.channel().basic_consume(q, col.cb("low"), auto_ack=True, arguments={"x-priority": 1})
    conn.channel().basic_consume(q, col.cb("high"), auto_ack=True, arguments={"x-priority": 10})
    conn.channel().basic_consume(q, col.cb("none"), auto_ack=True)
    conn.channel().basic_consume(q, col.cb("neg"), auto_ack=True, arguments={"x-priority": -5})
    publish_n(pub, q, b"m", 6)
    assert pump(conn, lambda: len(col) >= 6, 2.0)
    settle(conn, 0.1)
    assert col.bodies("high") == [b"m%d" % i for i in range(6)] and len(col) == 6


def test_lower_priority_consumer_gets_messages_when_higher_blocked(conn, names):
    pub = confirm_channel(conn)
    q = names.queue()
    pub.queue_declare(q)
    col = Collector()
    hi = conn.channel()
    hi.basic_qos(prefetch_count=2)
    hi.basic_consume(q, col.cb("high"), auto_ack=False, arguments={"x-priority": 10})
    lo = conn.channel()
    lo.basic_consume(q, col.cb("low"), auto_ack=True, arguments={"x-priority": 0})
    publish_n(pub, q, b"a", 5)
    assert pump(conn, lambda: len(col) >= 5, 2.0)
    assert col.bodies("high") == [b"a0", b"a1"]
    assert col.bodies("low") == [b"a2", b"a3", b"a4"]
    # the high-priority consumer has credit again after acking
    for m in col.methods("high"):
        hi.basic_ack(m.delivery_tag)
    sync(hi)
    publish_n(pub, q, b"b", 2)
    assert pump(conn, lambda: len(col) >= 7, 2.0)
    assert col.bodies("high")[2:] == [b"b0", b"b1"]
    assert len(col.bodies("low")) == 3


def test_waiting_messages_go_to_priority_consumer_with_credit(conn, names):
    # messages already in the queue when consumers attach: the first
    # consumer (low) takes them all unless it is blocked
    pub = confirm_channel(conn)
    q = names.queue()
    pub.queue_declare(q)
    col = Collector()
    lo = conn.channel()
    lo.basic_qos(prefetch_count=1)
    lo.basic_consume(q, col.cb("low"), auto_ack=False, arguments={"x-priority": 1})
    publish_n(pub, q, b"m", 4)          # m0 -> low (now blocked), 3 wait
    assert pump(conn, lambda: len(col) >= 1, 2.0)
    conn.channel().basic_consume(q, col.cb("high"), auto_ack=True,
                                 arguments={"x-priority": 5})
    assert pump(conn, lambda: len(col) >= 4, 2.0)
    assert col.bodies("low") == [b"m0"] and col.bodies("high") == [b"m1", b"m2", b"m3"]


def test_equal_priority_round_robin(conn, names):
    pub = confirm_channel(conn)
    q = names.queue()
    pub.queue_declare(q)
    col = Collector()
    for n in ("x", "y"):
        conn.channel().basic_consume(q, col.cb(n), auto_ack=True, arguments={"x-priority": 3})
    conn.channel().basic_consume(q, col.cb("z"), auto_ack=True, arguments={"x-priority": 2})
    publish_n(pub, q, b"m", 6)
    assert pump(conn, lambda: len(col) >= 6, 2.0)
    assert len(col.bodies("x")) == 3 and len(col.bodies("y")) == 3 and col.bodies("z") == []


def test_invalid_consumer_priority(conn, names):
    q = names.queue()
    conn.channel().queue_declare(q)
    ch = conn.channel()
    with channel_error(406, "PRECONDITION_FAILED - invalid arg 'x-priority'"):
        ch.basic_consume(q, lambda *a: None, arguments={"x-priority": "high"})


# ------------------------------------------------------------------ exclusive consumers

def test_exclusive_consumer_refuses_second(conn, names):
    pub = confirm_channel(conn)
    q = names.queue()
    pub.queue_declare(q)
    col = Collector()
    a = conn.channel()
    tag = a.basic_consume(q, col.cb("A"), auto_ack=True, exclusive=True)
    with channel_error(403, "ACCESS_REFUSED - "):
        conn.channel().basic_consume(q, col.cb("B"), auto_ack=True)
    with channel_error(403, "ACCESS_REFUSED - "):
        conn.channel().basic_consume(q, col.cb("C"), auto_ack=True, exclusive=True)
    publish_n(pub, q, b"m", 2)
    assert pump(conn, lambda: len(col) >= 2, 2.0)
    assert col.bodies("A") == [b"m0", b"m1"]
    # once it is cancelled anyone may consume
    a.basic_cancel(tag)
    conn.channel().basic_consume(q, col.cb("D"), auto_ack=True)
    publish_n(pub, q, b"n", 1)
    assert pump(conn, lambda: len(col) >= 3, 2.0)
    assert col.bodies("D") == [b"n0"]


def test_exclusive_consumer_refused_when_queue_has_consumers(broker, conn, names):
    q = names.queue()
    conn.channel().queue_declare(q)
    conn.channel().basic_consume(q, lambda *a: None, auto_ack=True)
    other = broker.connect()
    try:
        with channel_error(403, "ACCESS_REFUSED - "):
            other.channel().basic_consume(q, lambda *a: None, exclusive=True)
    finally:
        other.close()
