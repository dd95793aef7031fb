"""Crossing closes as pika makes them: a client that closes a channel right
after an asynchronous channel error (a publish to a missing exchange has no
reply, so the 404 channel.close and the client's own channel.close cross on
the wire; pika then also answers the server's close with close-ok). The
channel ends quietly and the connection stays usable. The byte-level cases
are in tests/raw/test_raw_crossing_close.py.

Checked against RabbitMQ 3.10.8 on this machine: the same pika calls end in
ChannelClosedByBroker 404 from close() and leave the connection open.
"""
import pika
import pika.exceptions as pe

from support.helpers import get_body


def close_after_async_error(conn):
    ch = conn.channel()
    ch.basic_publish("no-such-exchange-crossing", "k", b"x")
    try:
        ch.close()
    except pe.ChannelClosedByBroker as e:
        # pika reports the server's close that crossed its own
        assert e.reply_code == 404, e
    assert ch.is_closed
    return ch.channel_number


def test_close_right_after_async_error_keeps_connection(conn, names):
    for _ in range(5):
        close_after_async_error(conn)
        assert conn.is_open
    ch = conn.channel()
    q = names.queue()
    ch.queue_declare(q)
    ch.basic_publish("", q, b"still here")
    assert get_body(ch, q) == b"still here"


def test_channel_number_is_reused_after_crossing(conn):
    n1 = close_after_async_error(conn)
    ch = conn.channel()
    # pika hands out the lowest free number: the channel that just crossed
    assert ch.channel_number == n1
    ch.queue_declare("", exclusive=True)
    assert ch.is_open and conn.is_open


def test_crossing_close_with_confirms_and_other_channels(conn, names):
    other = conn.channel()
    q = names.queue()
    other.queue_declare(q)
    ch = conn.channel()
    ch.confirm_delivery()
    try:
        ch.basic_publish("no-such-exchange-crossing", "k", b"x")
    except pe.ChannelClosedByBroker as e:
        assert e.reply_code == 404
    if ch.is_open:
        try:
            ch.close()
        except pe.ChannelClosedByBroker:
            pass
    other.basic_publish("", q, b"other channel")
    assert get_body(other, q) == b"other channel"
    assert conn.is_open


def test_connection_close_right_after_async_error(broker):
    c = broker.connect()
    ch = c.channel()
    ch.basic_publish("no-such-exchange-crossing", "k", b"x")
    c.close()   # crosses the server's channel.close; must end cleanly
    assert c.is_closed
    # the broker is fine afterwards
    c2 = broker.connect()
    c2.channel().queue_declare("", exclusive=True)
    c2.close()
