"""Byte-level channel and content-assembly errors, and the close handshake:
after the server sends connection.close it must ignore everything but
close-ok (spec 4.2.2 / connection.close).

The comment by each test records what RabbitMQ 3.10.8 really sends.
"""
import socket
import struct
import time

import pytest

from support.amqpraw import (
    BASIC_CONSUME, BASIC_CONSUME_OK, BASIC_PUBLISH, bits, table, CHANNEL_CLOSE_OK, CHANNEL_OPEN, CHANNEL_OPEN_OK,
    CONNECTION_CLOSE, CONNECTION_CLOSE_OK, QUEUE_DECLARE, ServerClosed,
    basic_publish_args,
    body_frame, close_args, frame, header_frame, heartbeat_frame,
    method_frame, queue_declare_args, shortstr)
from support.broker import unique


# ------------------------------------------------------------------ channels

def test_method_on_unopened_channel(raw, broker):
    # RabbitMQ: 504 "CHANNEL_ERROR - expected 'channel.open'", class 50 method 10
    raw.handshake(broker.user, broker.password, broker.vhost)
    raw.send_method(3, QUEUE_DECLARE, queue_declare_args(unique()))
    code, text, cls, meth = raw.expect_close(504)
    assert text.startswith("CHANNEL_ERROR")
    assert (cls, meth) == (50, 10)


def test_channel_method_on_channel_zero(raw, broker):
    # queue.declare on channel 0.
    # RabbitMQ: 504 "CHANNEL_ERROR - unexpected method in connection state
    #           running", class 50 method 10   (not 503 COMMAND_INVALID)
    raw.handshake(broker.user, broker.password, broker.vhost)
    raw.send_method(0, QUEUE_DECLARE, queue_declare_args(unique()))
    code, text, cls, meth = raw.expect_close(504)
    assert text.startswith("CHANNEL_ERROR")
    assert (cls, meth) == (50, 10)


def test_channel_open_on_channel_zero(raw, broker):
    # RabbitMQ: 504 "CHANNEL_ERROR - unexpected method in connection state
    #           running", class 20 method 10
    raw.handshake(broker.user, broker.password, broker.vhost)
    raw.send_method(0, CHANNEL_OPEN, shortstr(""))
    code, _, cls, meth = raw.expect_close(504)
    assert (cls, meth) == (20, 10)


def test_second_channel_open(session):
    # channel.open on an already open channel.
    # RabbitMQ: 504 "CHANNEL_ERROR - second 'channel.open' seen", class 20 method 10
    session.send_method(1, CHANNEL_OPEN, shortstr(""))
    code, _, cls, meth = session.expect_close(504)
    assert (cls, meth) == (20, 10)


def test_channel_count_beyond_channel_max(raw, broker):
    # channel_max 3 negotiated: channels 1..3 open, a 4th channel.open fails.
    # RabbitMQ: 530 "NOT_ALLOWED - number of channels opened (3) has reached
    #           the negotiated channel_max (3)", class 0 method 0
    raw.handshake(broker.user, broker.password, broker.vhost, channel_max=3)
    for n in (1, 2, 3):
        raw.open_channel(n)
    raw.send_method(4, CHANNEL_OPEN, shortstr(""))
    code, text, _, _ = raw.expect_close(530)
    assert text.startswith("NOT_ALLOWED")


@pytest.mark.rabbitmq_only
def test_rabbitmq_channel_max_counts_channels_not_numbers(raw, broker):
    # RabbitMQ 3.10 quirk: channel_max limits the NUMBER of open channels, not
    # the channel id: with channel_max 3, channel 65535 opens fine. (The spec
    # says the id must not exceed channel-max; Tern may refuse it.)
    raw.handshake(broker.user, broker.password, broker.vhost, channel_max=3)
    raw.open_channel(65535)


def test_channel_close_then_reopen(session):
    # normal close handshake of a channel, then the id can be reused
    session.send_method(1, (20, 40), close_args(200, "bye"))
    f = session.read_method(CHANNEL_CLOSE_OK, channel=1)
    session.send_method(1, CHANNEL_OPEN, shortstr(""))
    session.read_method(CHANNEL_OPEN_OK, channel=1)


# ------------------------------------------------------------------ content assembly

def test_body_without_header(session):
    # RabbitMQ: 505 "UNEXPECTED_FRAME - expected method frame, got non method
    #           frame instead", class 0 method 0
    session.send(body_frame(1, b"hello"))
    code, text, _, _ = session.expect_close(505)
    assert text.startswith("UNEXPECTED_FRAME")


def test_header_without_publish(session):
    # RabbitMQ: 505 "UNEXPECTED_FRAME - expected method frame, got non method
    #           frame instead"
    session.send(header_frame(1, 5))
    session.expect_close(505)


def test_method_instead_of_content_header(session):
    # basic.publish followed by another method instead of the header.
    # RabbitMQ: 505 "UNEXPECTED_FRAME - expected content header for class 60,
    #           got non content header frame instead", class 60 method 40
    session.send_method(1, BASIC_PUBLISH, basic_publish_args("", unique()))
    session.send_method(1, QUEUE_DECLARE, queue_declare_args(unique()))
    code, _, cls, meth = session.expect_close(505)
    assert (cls, meth) == (60, 40)


def test_method_in_the_middle_of_a_body(session):
    # publish, header announcing 10 octets, then a method before the body.
    # RabbitMQ: 505 "UNEXPECTED_FRAME - expected content body, got non content
    #           body frame instead", class 60 method 40
    session.send_method(1, BASIC_PUBLISH, basic_publish_args("", unique()))
    session.send(header_frame(1, 10))
    session.send_method(1, QUEUE_DECLARE, queue_declare_args(unique()))
    session.expect_close(505)


def test_content_header_of_the_wrong_class(session):
    # RabbitMQ: 505 "UNEXPECTED_FRAME - expected content header for class 60,
    #           got one for class 50 instead"
    session.send_method(1, BASIC_PUBLISH, basic_publish_args("", unique()))
    session.send(header_frame(1, 3, class_id=50) + body_frame(1, b"abc"))
    session.expect_close(505)


def test_heartbeat_on_nonzero_channel(session):
    # RabbitMQ: 505 "UNEXPECTED_FRAME - type 8, all octets = <<>>" (not 501)
    session.send(heartbeat_frame(1))
    code, text, _, _ = session.expect_close(505)
    assert text.startswith("UNEXPECTED_FRAME")


def test_body_longer_than_declared_size(session):
    # header says 3 octets, the body frame carries 6, then a method follows.
    # RabbitMQ: accepts the long body frame silently and only fails at the
    #           next method: 505 "UNEXPECTED_FRAME - expected content body,
    #           got non content body frame instead".
    # A stricter broker may fail at the body frame itself (501 FRAME_ERROR or
    # 505); in every case the connection is closed and nothing is delivered.
    q = unique()
    session.declare_queue(q)
    session.send_method(1, BASIC_PUBLISH, basic_publish_args("", q))
    session.send(header_frame(1, 3) + body_frame(1, b"abcdef"))
    session.send_method(1, QUEUE_DECLARE, queue_declare_args(unique()))
    info = session.expect_connection_close()
    assert info[0] in (501, 505), info
    assert session.wait_closed(timeout=5)


def test_content_interleaved_across_channels(raw, broker):
    # content frames of different channels may interleave (spec 4.2.6): a
    # publish on channel 2 completes while channel 1's body is half sent.
    # RabbitMQ: both messages delivered intact.
    raw.handshake(broker.user, broker.password, broker.vhost)
    raw.open_channel(1)
    raw.open_channel(2)
    q = unique()
    raw.declare_queue(q)
    raw.send(method_frame(1, BASIC_PUBLISH, basic_publish_args("", q)) +
             header_frame(1, 6) + body_frame(1, b"one"))
    raw.send(method_frame(2, BASIC_PUBLISH, basic_publish_args("", q)) +
             header_frame(2, 3) + body_frame(2, b"two"))
    raw.send(body_frame(1, b"ONE"))
    # the order between the two channels is not defined (RabbitMQ runs a
    # process per channel); each message must be whole
    assert sorted([raw.get(q), raw.get(q)]) == [b"oneONE", b"two"]
    assert raw.get(q) is None


# ------------------------------------------------------------------ close discipline

def test_after_close_only_close_ok_counts(session):
    # After sending connection.close the server discards every frame but
    # close-ok: no channel.open-ok, no queue.declare-ok, no second close.
    # Then, on close-ok, it closes the socket.
    # RabbitMQ: exactly that (505 for the body frame, silence, socket closed).
    session.send(body_frame(1, b"x"))
    code, _, _, _ = session.expect_connection_close(send_close_ok=False)
    assert code == 505
    session.send(method_frame(2, CHANNEL_OPEN, shortstr("")) +
                 method_frame(1, QUEUE_DECLARE, queue_declare_args(unique())) +
                 heartbeat_frame() + body_frame(1, b"more") + frame(9, 1, b"junk"))
    session.sock.settimeout(0.5)
    try:
        data = session.sock.recv(4096)
    except socket.timeout:
        data = None
    assert data is None, "server answered %r after sending connection.close" % data
    session.send_method(0, CONNECTION_CLOSE_OK)
    assert session.wait_closed(timeout=5), "no socket close after close-ok"


def test_client_initiated_close(session):
    # connection.close from the client is answered with close-ok; closing the
    # socket is then up to the client (RabbitMQ keeps it open and waits for
    # the client to close it, so that is not asserted). Nothing else may
    # follow the close-ok.
    session.send_method(0, CONNECTION_CLOSE, close_args(200, "bye"))
    session.read_method(CONNECTION_CLOSE_OK, channel=0)
    session.send_method(1, QUEUE_DECLARE, queue_declare_args(unique()))
    try:
        f = session.read_frame(timeout=0.5)
        raise AssertionError("frame after connection.close-ok: %r" % f)
    except (socket.timeout, ServerClosed):
        pass


def test_server_close_on_error_in_one_channel_keeps_others_out(raw, broker):
    # a hard error on channel 1 takes the whole connection: channel 2's
    # pending reply is never sent after the close
    raw.handshake(broker.user, broker.password, broker.vhost)
    raw.open_channel(1)
    raw.open_channel(2)
    raw.send(heartbeat_frame(1) + method_frame(2, QUEUE_DECLARE,
                                                queue_declare_args(unique(), exclusive=True)))
    info = raw.expect_connection_close()
    assert info[0] == 505
    assert all(f.channel != 2 for f in raw.skipped), raw.skipped
    assert raw.wait_closed(timeout=5)


def test_no_deliveries_after_connection_close(raw, broker):
    # a consumer on the failing connection must not receive anything once the
    # server has sent connection.close, and a message published meanwhile
    # must stay in the queue (not be handed to the dying consumer)
    # RabbitMQ: nothing delivered; the message is still there afterwards
    import pika
    raw.handshake(broker.user, broker.password, broker.vhost)
    raw.open_channel(1)
    q = unique()
    raw.declare_queue(q, exclusive=False)
    raw.send_method(1, BASIC_CONSUME, struct.pack(">H", 0) + shortstr(q) +
                    shortstr("c1") + bits(False, True, False, False) + table({}))
    raw.read_method(BASIC_CONSUME_OK, channel=1)
    raw.send(heartbeat_frame(1))                      # hard error: 505
    code, _, _, _ = raw.expect_connection_close(send_close_ok=False)
    assert code == 505
    other = broker.connect()
    try:
        och = other.channel()
        och.basic_publish("", q, b"after-close")
        och.queue_declare(q, passive=True)
        raw.sock.settimeout(0.5)
        try:
            data = raw.sock.recv(4096)
        except socket.timeout:
            data = None
        assert not data, "server sent %r after connection.close" % data
        raw.send_method(0, CONNECTION_CLOSE_OK)
        assert raw.wait_closed(timeout=5)
        deadline = time.monotonic() + 5
        while True:
            m, _, body = och.basic_get(q, auto_ack=True)
            if m is not None or time.monotonic() > deadline:
                break
            other.process_data_events(time_limit=0.05)
        assert body == b"after-close"
        och.queue_delete(q)
    finally:
        other.close()
