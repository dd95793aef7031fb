"""Publisher confirms (confirm.select, basic.ack / basic.nack from the
server): pika's BlockingChannel confirm mode, plus exact ack accounting
(delivery tags, multiple=true) read off the wire with a raw session.
Reply texts noted are RabbitMQ 3.10.8's."""
import struct
import time

import pika
import pika.exceptions as pe
import pytest

from support.amqpraw import (
    BASIC_PUBLISH, QUEUE_DECLARE, QUEUE_DECLARE_OK, RawConnection,
    basic_publish_args, bits, body_frame, header_frame, method_frame,
    queue_declare_args, table)
from support.helpers import channel_error, drain, get_body, sync

CONFIRM_SELECT = (85, 10)
CONFIRM_SELECT_OK = (85, 11)
BASIC_ACK = (60, 80)
BASIC_NACK = (60, 120)
BASIC_RETURN = (60, 50)


# ------------------------------------------------------------------ pika

def test_confirm_delivery_publishes_are_acked(ch, names):
    q = names.queue()
    ch.queue_declare(q)
    ch.confirm_delivery()
    for i in range(20):
        # in confirm mode pika's basic_publish waits for the ack and raises
        # NackError / UnroutableError otherwise
        ch.basic_publish("", q, b"%d" % i)
    assert ch.queue_declare(q, passive=True).method.message_count == 20


def test_confirm_delivery_unroutable_mandatory(ch, names):
    ch.confirm_delivery()
    with pytest.raises(pe.UnroutableError) as ei:
        ch.basic_publish("amq.direct", names.queue(), b"nowhere", mandatory=True)
    [ret] = ei.value.messages
    assert ret.method.reply_code == 312
    assert ret.body == b"nowhere"


def test_confirm_unroutable_without_mandatory_is_acked(ch, names):
    ch.confirm_delivery()
    ch.basic_publish("amq.direct", names.queue(), b"dropped")   # no exception


def test_confirm_persistent_to_durable_queue(ch, names):
    q = names.queue()
    ch.queue_declare(q, durable=True)
    ch.confirm_delivery()
    ch.basic_publish("", q, b"p", pika.BasicProperties(delivery_mode=2))
    assert get_body(ch, q) == b"p"
    ch.queue_delete(q)


def test_confirm_then_tx_refused(ch):
    # RabbitMQ: 406 "PRECONDITION_FAILED - cannot switch from confirm to tx mode"
    ch.confirm_delivery()
    with channel_error(406, "PRECONDITION_FAILED - "):
        ch.tx_select()


def test_tx_then_confirm_refused(ch):
    # RabbitMQ: 406 "PRECONDITION_FAILED - cannot switch from tx to confirm mode"
    ch.tx_select()
    with channel_error(406, "PRECONDITION_FAILED - "):
        ch.confirm_delivery()


# ------------------------------------------------------------------ raw accounting

def _session(broker):
    c = RawConnection(broker.host, broker.port)
    c.handshake(broker.user, broker.password, broker.vhost)
    c.open_channel(1)
    return c


def _confirm_select(c, nowait=False):
    c.send_method(1, CONFIRM_SELECT, bits(nowait))
    if not nowait:
        c.read_method(CONFIRM_SELECT_OK, channel=1)


def _publish(c, exchange, key, body, mandatory=False):
    c.send(method_frame(1, BASIC_PUBLISH, basic_publish_args(exchange, key, mandatory)) +
           header_frame(1, len(body)) + body_frame(1, body))


def _ack_fields(f):
    tag, flags = struct.unpack_from(">QB", f.payload, 4)
    return tag, bool(flags & 1)


def _collect_confirms(c, n, timeout=5.0):
    """Reads server frames until tags 1..n are all confirmed. Returns
    (acked set, nacked set, list of frames in arrival order)."""
    acked, nacked, frames = set(), set(), []
    deadline = time.monotonic() + timeout
    while len(acked) + len(nacked) < n:
        f = c.read_method(timeout=max(0.1, deadline - time.monotonic()))
        frames.append(f)
        if f.method in (BASIC_ACK, BASIC_NACK):
            tag, multiple = _ack_fields(f)
            settled = acked | nacked
            tags = ({t for t in range(1, tag + 1) if t not in settled}
                    if multiple else {tag})
            assert tags, "confirm for nothing new: tag %d multiple=%s" % (tag, multiple)
            assert not (tags & settled), "tag confirmed twice: %r" % (tags & settled)
            (acked if f.method == BASIC_ACK else nacked).update(tags)
        elif f.method == BASIC_RETURN:
            pass
        else:
            raise AssertionError("unexpected frame %r" % f)
    return acked, nacked, frames


def test_confirm_ack_count_with_multiple(broker, names):
    # 500 publishes in one write; the acks (RabbitMQ uses multiple=true for
    # runs) must cover tags 1..500 exactly once, and nothing beyond
    q = names.queue()
    c = _session(broker)
    try:
        c.send_method(1, QUEUE_DECLARE, queue_declare_args(q))
        c.read_method(QUEUE_DECLARE_OK, channel=1)
        _confirm_select(c)
        n = 500
        c.send(b"".join(
            method_frame(1, BASIC_PUBLISH, basic_publish_args("", q)) +
            header_frame(1, 3) + body_frame(1, b"%03d" % (i % 1000)) for i in range(n)))
        acked, nacked, frames = _collect_confirms(c, n)
        assert acked == set(range(1, n + 1))
        assert not nacked
        assert len(frames) <= n
        # no stray confirm afterwards
        c.send_method(1, QUEUE_DECLARE, queue_declare_args(q, passive=True))
        f = c.read_method(channel=1)
        assert f.method == QUEUE_DECLARE_OK, f
        (count,) = struct.unpack_from(">I", f.payload, 4 + 1 + len(q))
        assert count == n
    finally:
        c.close()


def test_confirm_select_nowait(broker, names):
    q = names.queue()
    c = _session(broker)
    try:
        c.send_method(1, QUEUE_DECLARE, queue_declare_args(q))
        c.read_method(QUEUE_DECLARE_OK, channel=1)
        _confirm_select(c, nowait=True)
        for i in range(3):
            _publish(c, "", q, b"x")
        acked, nacked, _ = _collect_confirms(c, 3)
        assert acked == {1, 2, 3}
    finally:
        c.close()


def test_confirm_tags_continue_across_unroutable(broker, names):
    # unroutable (not mandatory) publishes are acked too and take a tag
    q = names.queue()
    c = _session(broker)
    try:
        c.send_method(1, QUEUE_DECLARE, queue_declare_args(q))
        c.read_method(QUEUE_DECLARE_OK, channel=1)
        _confirm_select(c)
        _publish(c, "", q, b"1")
        _publish(c, "amq.direct", "nowhere-" + q, b"2")
        _publish(c, "", q, b"3")
        acked, nacked, _ = _collect_confirms(c, 3)
        assert acked == {1, 2, 3}
    finally:
        c.close()


def test_mandatory_unroutable_return_then_ack(broker, names):
    # in confirm mode an unroutable mandatory message is returned (312
    # NO_ROUTE) and THEN acked (RabbitMQ confirms docs; seen on 3.10.8)
    c = _session(broker)
    try:
        _confirm_select(c)
        _publish(c, "amq.direct", "nowhere-" + names.queue(), b"back", mandatory=True)
        ret = c.read_method(channel=1)
        assert ret.method == BASIC_RETURN, ret
        (code,) = struct.unpack_from(">H", ret.payload, 4)
        assert code == 312
        hdr = c.read_frame()
        assert hdr.type == 2
        body = c.read_frame()
        assert body.type == 3 and body.payload == b"back"
        ack = c.read_method(channel=1)
        assert ack.method == BASIC_ACK, ack
        assert _ack_fields(ack) == (1, False)
    finally:
        c.close()


def test_nack_when_queue_rejects_publish(broker, ch, names):
    # x-overflow reject-publish on a full queue: the publish is nacked
    # (RabbitMQ: basic.nack for tag 2, the queue keeps the first message)
    q = names.queue()
    ch.queue_declare(q, arguments={"x-max-length": 1, "x-overflow": "reject-publish"})
    c = _session(broker)
    try:
        _confirm_select(c)
        _publish(c, "", q, b"first")
        _publish(c, "", q, b"second")
        acked, nacked, _ = _collect_confirms(c, 2)
        assert acked == {1} and nacked == {2}
    finally:
        c.close()
    assert drain(ch, q) == [b"first"]


def test_confirms_with_select_connection(broker, names):
    # pika's asynchronous SelectConnection: 1000 publishes in a burst, the
    # ack callback sees (tag, multiple) pairs that together cover 1..1000
    # exactly once
    n = 1000
    q = names.queue()
    confirms = []
    settled = set()
    errors = []
    state = {}

    def on_open(conn):
        conn.channel(on_open_callback=on_channel)

    def on_channel(ch):
        state["ch"] = ch
        ch.queue_declare(q, callback=lambda _f: ch.confirm_delivery(
            ack_nack_callback=on_confirm, callback=lambda _f: publish_all()))

    def publish_all():
        for i in range(n):
            state["ch"].basic_publish("", q, b"%d" % i)

    def on_confirm(frame):
        m = frame.method
        confirms.append((m.NAME, m.delivery_tag, m.multiple))
        tags = (set(range(1, m.delivery_tag + 1)) - settled) if m.multiple else {m.delivery_tag}
        if tags & settled or not tags:
            errors.append("bad confirm %r" % ((m.NAME, m.delivery_tag, m.multiple),))
        settled.update(tags)
        if len(settled) >= n:
            state["conn"].close()

    conn = pika.SelectConnection(
        broker.params(), on_open_callback=on_open,
        on_open_error_callback=lambda c, e: (errors.append(repr(e)), c.ioloop.stop()),
        on_close_callback=lambda c, r: c.ioloop.stop())
    state["conn"] = conn
    timer = conn.ioloop.call_later(15, lambda: (errors.append("timeout"), conn.ioloop.stop()))
    conn.ioloop.start()
    conn.ioloop.remove_timeout(timer)
    assert not errors, errors
    assert settled == set(range(1, n + 1))
    assert all(name == "Basic.Ack" for name, _, _ in confirms)
    assert len(confirms) <= n
