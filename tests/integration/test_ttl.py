"""Message TTL (x-message-ttl, the expiration property) and queue expiry
(x-expires); rabbitmq.com/docs/ttl.

Checked against RabbitMQ 3.10.8:
- x-message-ttl drops a message that stayed longer than the TTL; the
  expiration property (a string of milliseconds) does the same per message;
  when both are set the lower one wins;
- an invalid expiration closes the channel with 406, RabbitMQ's texts being
  "PRECONDITION_FAILED - invalid expiration 'abc': no_integer",
  "... '-1': {value_negative,-1}", "... '1.5': {leftover_string,\".5\"}",
  "... '': no_integer" (only the code and the PRECONDITION_FAILED prefix
  are asserted);
- TTL 0 (queue or message) delivers to a consumer that can take the
  message at once, and drops it when there is none;
- x-expires deletes a queue nobody used (no consumer, no basic.get, no
  redeclare) for that long; a queue with a consumer stays; basic.get and a
  redeclare restart the clock. A passive queue.declare also restarts it in
  RabbitMQ (rabbit_amqqueue_process resets the timer on stat), so the
  existence checks here use a mandatory publish on a confirm channel, which
  does not count as use: the publish is returned (pika raises
  UnroutableError) once the queue is gone.

Tern-only: a message whose expiration passes while it is behind a
long-lived message is removed at its time (RabbitMQ only expires at the
head of the queue), and a message whose TTL passed while the broker was
down is dropped (or dead-lettered) at start-up."""
import time

import pika
import pika.exceptions as pe
import pytest

from support.helpers import Collector, channel_error, drain, pump, queue_counts, settle, wait_for


def confirm_channel(conn):
    c = conn.channel()
    c.confirm_delivery()
    return c


def publish(ch, q, body, expiration=None, **props):
    ch.basic_publish("", q, body, pika.BasicProperties(expiration=expiration, **props))


def wait_count(conn, ch, q, n, timeout=2.0):
    """Polls the queue's message count until it is n; returns the time it
    took (None on timeout)."""
    t0 = time.monotonic()
    ok = wait_for(lambda: queue_counts(ch, q)[0] == n, conn, timeout, step=0.01)
    return time.monotonic() - t0 if ok else None


def queue_exists(pub, q):
    """Mandatory publish through the default exchange on a confirm channel:
    False when it comes back unroutable (the queue is gone). Unlike a passive
    declare this does not count as using the queue."""
    try:
        pub.basic_publish("", q, b"probe", mandatory=True)
        return True
    except pe.UnroutableError:
        return False


# ------------------------------------------------------------------ message TTL

def test_queue_message_ttl(conn, names):
    q = names.queue()
    ch = confirm_channel(conn)
    ch.queue_declare(q, arguments={"x-message-ttl": 300})
    t0 = time.monotonic()
    for i in range(3):
        publish(ch, q, b"m%d" % i)
    m, _, body = ch.basic_get(q, auto_ack=True)     # well within the TTL
    assert body == b"m0"
    assert wait_count(conn, ch, q, 0) is not None
    assert time.monotonic() - t0 >= 0.28
    assert ch.basic_get(q, auto_ack=True)[0] is None


def test_message_ttl_not_expired_before_time(conn, names):
    q = names.queue()
    ch = confirm_channel(conn)
    ch.queue_declare(q, arguments={"x-message-ttl": 1000})
    publish(ch, q, b"a")
    settle(conn, 0.2)
    assert queue_counts(ch, q)[0] == 1
    assert drain(ch, q) == [b"a"]


def test_per_message_expiration(conn, names):
    q = names.queue()
    ch = confirm_channel(conn)
    ch.queue_declare(q)
    t0 = time.monotonic()
    publish(ch, q, b"short", expiration="200")
    publish(ch, q, b"long", expiration="60000")
    publish(ch, q, b"none")
    assert wait_count(conn, ch, q, 2) is not None
    assert time.monotonic() - t0 >= 0.18
    m, p, body = ch.basic_get(q, auto_ack=True)
    # a delivered message keeps its expiration property
    assert body == b"long" and p.expiration == "60000"
    m, p, body = ch.basic_get(q, auto_ack=True)
    assert body == b"none" and p.expiration is None


@pytest.mark.parametrize("value", ["abc", "-1", "1.5", ""])
def test_invalid_expiration_is_406(conn, names, value):
    q = names.queue()
    conn.channel().queue_declare(q)
    ch = conn.channel()
    with channel_error(406, "PRECONDITION_FAILED"):
        publish(ch, q, b"x", expiration=value)
        ch.exchange_declare("amq.direct", passive=True)    # surfaces the close
    # nothing was enqueued
    assert queue_counts(conn.channel(), q)[0] == 0


@pytest.mark.parametrize("queue_ttl,expiration", [(200, "60000"), (60000, "200")],
                         ids=["queue-lower", "message-lower"])
def test_lower_ttl_wins(conn, names, queue_ttl, expiration):
    q = names.queue()
    ch = confirm_channel(conn)
    ch.queue_declare(q, arguments={"x-message-ttl": queue_ttl})
    t0 = time.monotonic()
    publish(ch, q, b"x", expiration=expiration)
    assert wait_count(conn, ch, q, 0) is not None
    assert 0.18 <= time.monotonic() - t0 < 2.0


@pytest.mark.parametrize("where", ["queue", "message"])
def test_ttl_zero_without_consumer_drops(conn, names, where):
    q = names.queue()
    ch = confirm_channel(conn)
    ch.queue_declare(q, arguments={"x-message-ttl": 0} if where == "queue" else None)
    for i in range(3):
        publish(ch, q, b"m%d" % i, expiration="0" if where == "message" else None)
    assert wait_count(conn, ch, q, 0) is not None
    assert ch.basic_get(q, auto_ack=True)[0] is None


@pytest.mark.parametrize("where", ["queue", "message"])
def test_ttl_zero_with_waiting_consumer_delivers(conn, names, where):
    q = names.queue()
    ch = confirm_channel(conn)
    ch.queue_declare(q, arguments={"x-message-ttl": 0} if where == "queue" else None)
    cons = conn.channel()
    col = Collector()
    cons.basic_consume(q, col.cb(), auto_ack=True)
    for i in range(3):
        publish(ch, q, b"m%d" % i, expiration="0" if where == "message" else None)
    assert pump(conn, lambda: len(col) >= 3, 10.0)  # generous: a dropped one never comes
    assert col.bodies() == [b"m0", b"m1", b"m2"]


def test_expired_message_not_delivered_to_late_consumer(conn, names):
    q = names.queue()
    ch = confirm_channel(conn)
    ch.queue_declare(q, arguments={"x-message-ttl": 150})
    publish(ch, q, b"old")
    assert wait_count(conn, ch, q, 0) is not None
    publish(ch, q, b"new")
    col = Collector()
    cons = conn.channel()
    cons.basic_consume(q, col.cb(), auto_ack=True)
    assert pump(conn, lambda: len(col) >= 1, 2.0)
    settle(conn, 0.1)
    assert col.bodies() == [b"new"]


@pytest.mark.tern_only
def test_expired_behind_long_lived_head_removed(conn, names):
    # RabbitMQ keeps "short" (counted) until "head" leaves the queue
    q = names.queue()
    ch = confirm_channel(conn)
    ch.queue_declare(q)
    t0 = time.monotonic()
    publish(ch, q, b"head")
    publish(ch, q, b"short", expiration="150")
    publish(ch, q, b"tail", expiration="60000")
    assert wait_count(conn, ch, q, 2) is not None
    assert time.monotonic() - t0 >= 0.13
    assert drain(ch, q) == [b"head", b"tail"]


# ------------------------------------------------------------------ x-expires

def test_unused_queue_expires(conn, names):
    q = names.queue()
    pub = confirm_channel(conn)
    t0 = time.monotonic()
    pub.queue_declare(q, arguments={"x-expires": 250})
    assert queue_exists(pub, q)
    gone = wait_for(lambda: not queue_exists(pub, q), conn, 2.5, step=0.02)
    elapsed = time.monotonic() - t0
    assert gone, "queue with x-expires=250 still there after 2.5 s"
    assert elapsed >= 0.23
    with channel_error(404, "NOT_FOUND"):
        conn.channel().queue_declare(q, passive=True)


def test_queue_with_consumer_does_not_expire(conn, names):
    q = names.queue()
    pub = confirm_channel(conn)
    pub.queue_declare(q, arguments={"x-expires": 150})
    cons = conn.channel()
    col = Collector()
    tag = cons.basic_consume(q, col.cb(), auto_ack=True)
    settle(conn, 0.5)
    assert queue_exists(pub, q)
    assert pump(conn, lambda: len(col) >= 1, 2.0)    # the probe reached the consumer
    cons.basic_cancel(tag)
    # unused from now on
    t0 = time.monotonic()
    assert wait_for(lambda: not queue_exists(pub, q), conn, 2.5, step=0.02)
    assert time.monotonic() - t0 >= 0.1


@pytest.mark.parametrize("use", ["basic.get", "redeclare"])
def test_use_restarts_the_expiry_clock(conn, names, use):
    q = names.queue()
    pub = confirm_channel(conn)
    args = {"x-expires": 500}
    t0 = time.monotonic()
    pub.queue_declare(q, arguments=args)
    settle(conn, 0.2)
    if use == "basic.get":
        assert conn.channel().basic_get(q)[0] is None
    else:
        conn.channel().queue_declare(q, arguments=args)
    t_use = time.monotonic()
    # past the first deadline (t0 + 0.5), before the new one (t_use + 0.5)
    settle(conn, max(0.0, t0 + 0.6 - time.monotonic()))
    assert time.monotonic() < t_use + 0.5, "too slow to check (loaded machine?)"
    assert queue_exists(pub, q)
    assert wait_for(lambda: not queue_exists(pub, q), conn, 2.5, step=0.02)
    assert time.monotonic() - t_use >= 0.45


def test_publish_does_not_keep_queue_alive(conn, names):
    q = names.queue()
    pub = confirm_channel(conn)
    pub.queue_declare(q, arguments={"x-expires": 200})
    t0 = time.monotonic()
    n = 0
    while time.monotonic() - t0 < 2.0 and queue_exists(pub, q):
        n += 1
        settle(conn, 0.02)
    assert time.monotonic() - t0 < 2.0 and n > 3


@pytest.mark.parametrize("value", [0, -5, "abc"])
def test_invalid_expires(ch, value):
    # RabbitMQ: "invalid arg 'x-expires' for queue ...: {value_zero,0}"
    with channel_error(406, "PRECONDITION_FAILED - invalid arg 'x-expires'"):
        ch.queue_declare("", exclusive=True, arguments={"x-expires": value})


# ------------------------------------------------------------------ restart

@pytest.mark.tern_only
@pytest.mark.time_limit(30)
@pytest.mark.parametrize("how", ["queue-ttl", "expiration"])
def test_ttl_passed_while_down_dropped_at_startup(restartable, names, how):
    b = restartable
    q, dq, dlx = names.queue(), names.queue(), names.exchange()
    c = b.connect()
    ch = confirm_channel(c)
    ch.exchange_declare(dlx, "fanout", durable=True)
    ch.queue_declare(dq, durable=True)
    ch.queue_bind(dq, dlx)
    args = {"x-dead-letter-exchange": dlx}
    if how == "queue-ttl":
        args["x-message-ttl"] = 300
    ch.queue_declare(q, durable=True, arguments=args)
    t0 = time.monotonic()
    publish(ch, q, b"dies", expiration="300" if how == "expiration" else None, delivery_mode=2)
    # a second queue without dead-lettering: the expired message just goes
    q2 = names.queue()
    ch.queue_declare(q2, durable=True, arguments={"x-message-ttl": 300})
    publish(ch, q2, b"dies-too", delivery_mode=2)
    c.close()
    b.stop()
    b.check_log()
    time.sleep(max(0.0, t0 + 0.45 - time.monotonic()))
    b.start()
    c = b.connect()
    try:
        ch = c.channel()
        # gone at once (not after some timer tick following the start)
        assert queue_counts(ch, q)[0] == 0
        assert queue_counts(ch, q2)[0] == 0
        assert wait_count(c, ch, dq, 1) is not None
        m, p, body = ch.basic_get(dq, auto_ack=True)
        assert body == b"dies"
        death = p.headers["x-death"][0]
        assert death["reason"] == "expired" and death["queue"] == q
    finally:
        c.close()


@pytest.mark.tern_only
@pytest.mark.time_limit(30)
def test_ttl_still_running_after_restart(restartable, names):
    # a message with TTL left is kept across the restart, then expires on time
    b = restartable
    q = names.queue()
    c = b.connect()
    ch = confirm_channel(c)
    ch.queue_declare(q, durable=True)
    t0 = time.monotonic()
    publish(ch, q, b"later", expiration="1500", delivery_mode=2)
    publish(ch, q, b"keep", delivery_mode=2)
    c.close()
    b.restart()
    c = b.connect()
    try:
        ch = c.channel()
        if time.monotonic() - t0 < 1.2:
            assert queue_counts(ch, q)[0] == 2
        assert wait_count(c, ch, q, 1, timeout=4.0) is not None
        assert time.monotonic() - t0 >= 1.45
        assert drain(ch, q) == [b"keep"]
    finally:
        c.close()
