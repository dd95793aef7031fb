"""Size limits: large messages split over many frames (both directions), and
the broker's maximum message size.

Max message size: RabbitMQ 3.10's default is 128 MiB (too big to test
cheaply); Tern's default is 16 MiB and, by Tern's choice, an oversized
publish gets channel.close 406 PRECONDITION_FAILED with "message size" in the
text (RabbitMQ's text: "PRECONDITION_FAILED - message size N is larger than
configured max size M"). Those tests are Tern-only."""
import hashlib

import pika
import pytest

from support.helpers import Collector, channel_error, get_body, pump, sync

MiB = 1024 * 1024
TERN_MAX_MESSAGE_SIZE = 16 * MiB


def big_body(n):
    # non-repeating at frame granularity so a misplaced frame is detected
    chunks = []
    i = 0
    size = 0
    while size < n:
        c = hashlib.sha256(b"%d" % i).digest() * 64       # 2 KiB
        chunks.append(c)
        size += len(c)
        i += 1
    return b"".join(chunks)[:n]


def test_two_mib_message_get(ch, names):
    q = names.queue()
    ch.queue_declare(q)
    body = big_body(2 * MiB)
    ch.basic_publish("", q, body)
    got = get_body(ch, q)
    assert got is not None and len(got) == len(body)
    assert hashlib.sha256(got).digest() == hashlib.sha256(body).digest()


def test_two_mib_message_small_frames_consume(broker, names):
    # frame_max 4096: 2 MiB travels as ~515 body frames each way
    c = broker.connect(frame_max=4096)
    try:
        ch = c.channel()
        q = names.queue()
        ch.queue_declare(q)
        bodies = [big_body(2 * MiB), b"small", big_body(100000)]
        for b in bodies:
            ch.basic_publish("", q, b)
        col = Collector()
        ch.basic_consume(q, col.cb(), auto_ack=True)
        assert pump(c, lambda: len(col) == 3, timeout=20)
        assert [hashlib.sha256(b).digest() for b in col.bodies()] == \
            [hashlib.sha256(b).digest() for b in bodies]
    finally:
        c.close()


def test_large_headers_table(ch, names):
    # a 60 KiB headers table still fits in one content header frame
    q = names.queue()
    ch.queue_declare(q)
    headers = {"h%04d" % i: "v" * 50 for i in range(1000)}
    ch.basic_publish("", q, b"x", pika.BasicProperties(headers=headers))
    _, p, body = ch.basic_get(q, auto_ack=True)
    assert body == b"x"
    assert len(p.headers) == 1000
    assert p.headers["h0999"] in ("v" * 50, b"v" * 50)


def test_longest_names(ch):
    # 255-octet queue, exchange and routing key names
    name = "n" * 255
    ch.exchange_declare(name, "direct", auto_delete=True)
    ch.queue_declare(name, exclusive=True)
    ch.queue_bind(name, name, "k" * 255)
    ch.basic_publish(name, "k" * 255, b"long")
    assert get_body(ch, name) == b"long"
    ch.queue_delete(name)


@pytest.mark.tern_only
@pytest.mark.time_limit(60)
def test_message_larger_than_max_size_refused(conn, names):
    # Tern: channel.close 406 PRECONDITION_FAILED, text mentions "message size";
    # the connection survives
    q = names.queue()
    ch = conn.channel()
    ch.queue_declare(q)
    with channel_error(406, "PRECONDITION_FAILED - ") as err:
        # the close may already surface while pika is still writing the body
        ch.basic_publish("", q, b"\0" * (TERN_MAX_MESSAGE_SIZE + 1))
        sync(ch)
    assert "message size" in err.text, err.text
    assert conn.is_open
    ch2 = conn.channel()
    assert ch2.queue_declare(q, passive=True).method.message_count == 0


@pytest.mark.tern_only
@pytest.mark.time_limit(60)
def test_message_of_exactly_max_size_accepted(conn, names):
    # the limit is inclusive (as RabbitMQ: refused only when size > max)
    q = names.queue()
    ch = conn.channel()
    ch.queue_declare(q)
    ch.basic_publish("", q, b"\1" * TERN_MAX_MESSAGE_SIZE)
    got = get_body(ch, q)
    assert got is not None and len(got) == TERN_MAX_MESSAGE_SIZE
    ch.queue_delete(q)


@pytest.mark.tern_only
def test_oversized_body_size_refused_before_body_arrives(broker):
    # only the header announcing 1 GiB is sent, no body: Tern refuses at once
    # (it must check body_size before buffering). RabbitMQ 3.10.8 does not:
    # it says nothing until the whole body has arrived.
    from support.amqpraw import (BASIC_PUBLISH, RawConnection, basic_publish_args,
                                 header_frame, method_frame)
    c = RawConnection(broker.host, broker.port)
    try:
        c.handshake(broker.user, broker.password, broker.vhost)
        c.open_channel(1)
        c.send(method_frame(1, BASIC_PUBLISH, basic_publish_args("", "whatever")) +
               header_frame(1, 1 << 30))
        code, text, cls, meth = c.expect_channel_close(1)
        assert code == 406 and "message size" in text, (code, text)
    finally:
        c.close()
