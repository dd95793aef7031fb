"""The delivery acknowledgement timeout (RabbitMQ's consumer_timeout): a
delivery left unacknowledged too long ends its consumer.

Tern checks once a second. A consumer of a client that advertises
consumer_cancel_notify (pika does) is cancelled alone, with basic.cancel,
and its unacked messages are requeued as redeliveries while the channel and
its other consumers carry on (what RabbitMQ 4.3 does for quorum queues);
late acks of the reclaimed tags are ignored. Without that capability, and
for a basic.get delivery, the channel is closed with 406 PRECONDITION_FAILED
and RabbitMQ's text, class 0 method 0. x-consumer-timeout on the queue and
consumer-timeout in a policy (the lower of the two) take precedence over
consumer_timeout in tern.conf; 0 in tern.conf or in the argument means no
limit.

Checked against RabbitMQ 3.10.8: a second node of our own with
consumer_timeout = 1000 in rabbitmq.conf and {rabbit, [{channel_tick_interval,
1000}]} in advanced.config (RabbitMQ checks on the channel tick, every 60 s by
default, so a 1 s timeout is noticed between 1 and 61 s late; with a 1 s tick
the 406 came 2 s after the delivery). Run with BROKER_URL set and
CT_BROKER_URL=amqp://guest:guest@127.0.0.1:PORT/ naming that node. Observed
there: the 406 channel.close text and (0,0), the message requeued and
redelivered, the other channels of the connection unaffected, basic.get
deliveries timing out the same way, acked and no-ack deliveries never timing
out. RabbitMQ 3.10 closes the channel even when the client has
consumer_cancel_notify (test_rabbitmq_310_closes_the_channel_anyway, run only
there); it has no x-consumer-timeout and no consumer-timeout policy key
(3.12 added them), and its consumer_timeout must be positive, so those tests
are Tern's alone.
"""
import os
import struct
import time

import pika
import pytest

from support import defs as D
from support.amqpraw import (
    BASIC_CONSUME, BASIC_GET, CHANNEL_CLOSE, CONNECTION_CLOSE, CONNECTION_OPEN,
    CONNECTION_OPEN_OK, CONNECTION_START, CONNECTION_START_OK, CONNECTION_TUNE,
    CONNECTION_TUNE_OK, PROTOCOL_HEADER, QUEUE_DECLARE, QUEUE_DECLARE_OK, RawConnection,
    bits, longstr, queue_declare_args, shortstr, table)
from support.broker import Broker, unique
from support.helpers import pump, settle

TIMEOUT_MS = 1000
# The timeout fires between TIMEOUT_MS and TIMEOUT_MS + one check interval;
# allow much more on a slow (or sanitized) machine.
LATEST = 15.0
TEXT = ("PRECONDITION_FAILED - delivery acknowledgement on channel %d timed out. "
        "Timeout value used: %d ms. This timeout value can be configured, see consumers "
        "doc guide to learn more")
NO_CANCEL_CAPS = {"publisher_confirms": True, "basic.nack": True}


@pytest.fixture(scope="module")
def ct(broker):
    """A broker whose consumer_timeout is TIMEOUT_MS: a ternd of its own,
    or the RabbitMQ node CT_BROKER_URL names when BROKER_URL is set."""
    if broker.external:
        url = os.environ.get("CT_BROKER_URL")
        if not url:
            pytest.skip("needs CT_BROKER_URL: a RabbitMQ node with consumer_timeout = %d"
                        % TIMEOUT_MS)
        yield Broker(url)
        return
    b = Broker(None)
    b.start(config_lines=["consumer_timeout = %d" % TIMEOUT_MS])
    yield b
    b.stop()
    b.check_log()
    b.cleanup()


def raw_session(b, cancel_notify):
    """A raw connection with channel 1 open, advertising only the
    capabilities asked for."""
    r = RawConnection(b.host, b.port, timeout=LATEST + 5)
    r.send(PROTOCOL_HEADER)
    r.read_method(CONNECTION_START, channel=0)
    caps = {"consumer_cancel_notify": True} if cancel_notify else {}
    r.send_method(0, CONNECTION_START_OK,
                  table({"product": "tern-ct-tests", "capabilities": caps}) +
                  shortstr("PLAIN") + longstr(b"\0" + b.user.encode() + b"\0" +
                                              b.password.encode()) + shortstr("en_US"))
    tune = r.read_method(CONNECTION_TUNE, channel=0)
    smax, fmax, _ = struct.unpack_from(">HIH", tune.payload, 4)
    r.send_method(0, CONNECTION_TUNE_OK, struct.pack(">HIH", smax, fmax, 0))
    r.send_method(0, CONNECTION_OPEN, shortstr(b.vhost) + shortstr("") + bits(False))
    r.read_method(CONNECTION_OPEN_OK, channel=0)
    r.open_channel(1)
    return r


def raw_consume(r, queue, tag, channel=1):
    r.send_method(channel, BASIC_CONSUME, struct.pack(">H", 0) + shortstr(queue) +
                  shortstr(tag) + bits(False, False, False, False) + table({}))


def wait_channel_close(r, channel):
    """Frames until channel.close on `channel`: (seconds waited, close info,
    frames skipped)."""
    t0 = time.monotonic()
    seen = []
    while True:
        f = r.read_method(timeout=LATEST)
        assert f.method != CONNECTION_CLOSE, "connection closed: %r" % (f.close_info(),)
        if f.method == CHANNEL_CLOSE and f.channel == channel:
            return time.monotonic() - t0, f.close_info(), seen
        seen.append(f)


def fill(b, queue, bodies, arguments=None):
    c = b.connect()
    ch = c.channel()
    ch.queue_declare(queue, arguments=arguments)
    for body in bodies:
        ch.basic_publish("", queue, body)
    c.close()


def take_all(b, queue):
    """(body, redelivered) of everything left in queue, deleting it."""
    c = b.connect()
    ch = c.channel()
    out = []
    while True:
        m, _, body = ch.basic_get(queue, auto_ack=True)
        if m is None:
            break
        out.append((body, m.redelivered))
    ch.queue_delete(queue)
    c.close()
    return out


def test_without_cancel_notify_the_channel_is_closed(ct):
    q = unique("ct-close")
    fill(ct, q, [b"m1", b"m2"])
    r = raw_session(ct, cancel_notify=False)
    try:
        r.open_channel(2)
        raw_consume(r, q, "holder")
        waited, (code, text, cls, meth), _ = wait_channel_close(r, 1)
        assert (code, text, cls, meth) == (406, TEXT % (1, TIMEOUT_MS), 0, 0)
        assert waited >= TIMEOUT_MS / 1000 * 0.9, "timed out after only %.2f s" % waited
        # the connection's other channel is unaffected
        r.send_method(2, QUEUE_DECLARE, queue_declare_args(q, passive=True))
        r.read_method(QUEUE_DECLARE_OK, channel=2)
    finally:
        r.close()
    assert sorted(take_all(ct, q)) == [(b"m1", True), (b"m2", True)]


def test_basic_get_delivery_held_too_long(ct):
    q = unique("ct-get")
    fill(ct, q, [b"g1"])
    r = raw_session(ct, cancel_notify=True)   # no consumer to cancel: the channel closes
    try:
        r.send_method(1, BASIC_GET, struct.pack(">H", 0) + shortstr(q) + bits(False))
        waited, (code, text, cls, meth), _ = wait_channel_close(r, 1)
        assert (code, text, cls, meth) == (406, TEXT % (1, TIMEOUT_MS), 0, 0)
    finally:
        r.close()
    assert take_all(ct, q) == [(b"g1", True)]


@pytest.mark.slow
def test_acked_and_no_ack_deliveries_never_time_out(ct):
    q, q2 = unique("ct-acked"), unique("ct-noack")
    fill(ct, q, [])
    fill(ct, q2, [b"n%d" % i for i in range(5)])
    c = ct.connect(client_properties={"capabilities": NO_CANCEL_CAPS})
    try:
        ch = c.channel()
        acked = []
        ch.basic_consume(q, lambda c_, m, p, b: (ch.basic_ack(m.delivery_tag),
                                                 acked.append(b)))
        noack = []
        ch.basic_consume(q2, lambda c_, m, p, b: noack.append(b), auto_ack=True)
        pub = ct.connect()
        pch = pub.channel()
        deadline = time.monotonic() + 2.5 * TIMEOUT_MS / 1000
        i = 0
        while time.monotonic() < deadline:
            pch.basic_publish("", q, b"a%d" % i)
            i += 1
            settle([c, pub], 0.2)
        settle([c, pub], 1.2 * TIMEOUT_MS / 1000)
        assert ch.is_open and c.is_open
        assert len(acked) == i and len(noack) == 5
        pub.close()
        ch.queue_delete(q)
        ch.queue_delete(q2)
    finally:
        if c.is_open:
            c.close()


@pytest.mark.tern_only
def test_with_cancel_notify_only_the_consumer_is_cancelled(ct):
    q, other_q = unique("ct-cancel"), unique("ct-other")
    fill(ct, q, [b"m1", b"m2"])
    fill(ct, other_q, [])
    c = ct.connect()   # pika advertises consumer_cancel_notify
    try:
        ch = c.channel()
        held, cancelled, others = [], [], []
        ch.add_on_cancel_callback(lambda m: cancelled.append((time.monotonic(),
                                                              m.method.consumer_tag)))
        t0 = time.monotonic()
        tag = ch.basic_consume(q, lambda c_, m, p, b: held.append(m.delivery_tag))
        ch.basic_consume(other_q, lambda c_, m, p, b: (others.append(b),
                                                       ch.basic_ack(m.delivery_tag)))
        assert pump(c, lambda: cancelled, timeout=LATEST), "no basic.cancel came"
        assert cancelled[0][1] == tag
        assert cancelled[0][0] - t0 >= TIMEOUT_MS / 1000 * 0.9
        assert sorted(held) == [1, 2]
        # late acks of the reclaimed deliveries are ignored, not 406
        ch.basic_ack(held[0])
        ch.basic_ack(held[1])
        # the channel and its other consumer carry on
        pch = c.channel()
        pch.basic_publish("", other_q, b"after")
        assert pump(c, lambda: others == [b"after"])
        assert ch.is_open and c.is_open
        # the held messages went back, redelivered, for another consumer
        assert sorted(take_all(ct, q)) == [(b"m1", True), (b"m2", True)]
        ch.queue_delete(other_q)
    finally:
        if c.is_open:
            c.close()


@pytest.mark.rabbitmq_only
def test_rabbitmq_310_closes_the_channel_anyway(ct):
    # RabbitMQ 3.10.8 ignores consumer_cancel_notify here: 406 on the channel.
    q = unique("ct-rmq")
    fill(ct, q, [b"m1"])
    r = raw_session(ct, cancel_notify=True)
    try:
        raw_consume(r, q, "holder")
        _, (code, text, cls, meth), _ = wait_channel_close(r, 1)
        assert (code, text) == (406, TEXT % (1, TIMEOUT_MS))
    finally:
        r.close()
    take_all(ct, q)


# ------------------------------------------------------------------ Tern only:
# per-queue timeouts, policies and 0 (RabbitMQ 3.12+ / Tern)

def hold_until_cancelled(connect, queue, arguments=None, timeout=LATEST):
    """Declare `queue`, put one message in it and consume it without acking
    on a connection connect() opens; the seconds until basic.cancel came,
    or None."""
    c = connect()
    try:
        ch = c.channel()
        ch.queue_declare(queue, arguments=arguments)
        ch.basic_publish("", queue, b"held")
        cancelled = []
        ch.add_on_cancel_callback(lambda m: cancelled.append(time.monotonic()))
        t0 = time.monotonic()
        ch.basic_consume(queue, lambda *a: None)
        pump(c, lambda: cancelled, timeout=timeout)
        ch.queue_delete(queue)
        return cancelled[0] - t0 if cancelled else None
    finally:
        if c.is_open:
            c.close()


@pytest.mark.tern_only
def test_x_consumer_timeout_argument(broker):
    # the session broker has the default 30 minutes
    waited = hold_until_cancelled(broker.connect, unique("ct-arg"), {"x-consumer-timeout": TIMEOUT_MS})
    assert waited is not None and waited >= TIMEOUT_MS / 1000 * 0.9


@pytest.mark.tern_only
@pytest.mark.slow
def test_x_consumer_timeout_zero_and_larger_override_the_broker(ct):
    # ct's broker-wide 1 s does not apply to a queue with its own value
    assert hold_until_cancelled(ct.connect, unique("ct-zero"), {"x-consumer-timeout": 0},
                                timeout=3 * TIMEOUT_MS / 1000) is None
    assert hold_until_cancelled(ct.connect, unique("ct-long"), {"x-consumer-timeout": 600000},
                                timeout=3 * TIMEOUT_MS / 1000) is None


@pytest.mark.tern_only
def test_x_consumer_timeout_is_validated(conn):
    ch = conn.channel()
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as ei:
        ch.queue_declare(unique("ct-bad"), arguments={"x-consumer-timeout": -5})
    assert ei.value.reply_code == 406
    assert "x-consumer-timeout" in ei.value.reply_text


@pytest.mark.tern_only
def test_consumer_timeout_policy_and_live_change(broker):
    d = D.DefsBroker(broker)
    try:
        v, u = d.name("ctp"), d.name("ctu")
        base = dict(vhosts=[D.vhost(v)], users=[D.user(u, "pw")],
                    permissions=[D.permission(u, v)])
        d.load(D.document(policies=[D.policy(v, "ct", "^ct-pol", {"consumer-timeout": 1000},
                                             apply_to="queues")], **base))
        connect = lambda: d.connect(u, "pw", v)
        # the policy's 1 s, and the lower of it and a queue's argument
        waited = hold_until_cancelled(connect, "ct-pol-a")
        assert waited is not None and waited >= 0.9
        assert hold_until_cancelled(connect, "ct-pol-b",
                                    {"x-consumer-timeout": 600000}) is not None
        # a policy added while a delivery is out applies to it
        c = connect()
        ch = c.channel()
        ch.queue_declare("later")
        ch.basic_publish("", "later", b"x")
        cancelled = []
        ch.add_on_cancel_callback(lambda m: cancelled.append(1))
        ch.basic_consume("later", lambda *a: None)
        settle(c, 1.5)
        assert not cancelled
        d.apply(D.document(policies=[
            D.policy(v, "ct", "^ct-pol", {"consumer-timeout": 1000}, apply_to="queues"),
            D.policy(v, "ct2", "^later$", {"consumer-timeout": 1000}, apply_to="queues")],
            **base))
        assert pump(c, lambda: cancelled, timeout=LATEST)
        c.close()
    finally:
        d.cleanup()


@pytest.mark.tern_only
@pytest.mark.slow
def test_zero_turns_it_off():
    b = Broker(None)
    b.start(config_lines=["consumer_timeout = 0"])
    try:
        assert hold_until_cancelled(b.connect, unique("ct-off"), timeout=2.5) is None
    finally:
        b.stop()
        b.check_log()
        b.cleanup()


@pytest.mark.tern_only
def test_bad_consumer_timeout_in_the_config_file():
    b = Broker(None)
    try:
        conf = os.path.join(b._tmp, "bad.conf")
        with open(conf, "w") as f:
            f.write("consumer_timeout = -1\n")
        import subprocess
        p = subprocess.run([b.ternd, "--config", conf, "--data-dir", b.data_dir,
                            "--port", str(b.port), "--management-port", "0",
                            "--prometheus-port", "0", "--bind", "127.0.0.1"],
                           capture_output=True, text=True, timeout=10)
        assert p.returncode != 0
        assert "bad.conf:1: consumer_timeout:" in p.stderr, p.stderr
    finally:
        b.cleanup()
