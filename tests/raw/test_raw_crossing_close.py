"""Crossing closes, byte by byte: the server has sent channel.close (or
connection.close) and the client sends its own close at the same moment.
The spec (§1.5.2.5, §1.4.2.5) lets either side start a close; when both do,
each answers the other's close with close-ok and the close is over.

Checked against RabbitMQ 3.10.8 on this machine (BROKER_URL=amqp://guest:guest@
127.0.0.1:5672/), frame for frame, except where a test says otherwise:
  * channel: RabbitMQ answers the crossing channel.close with close-ok and
    ignores the client's later close-ok; the channel can then be opened again;
  * a channel.close after the close handshake has finished (close-ok sent, then
    close) is 504 CHANNEL_ERROR "expected 'channel.open'" on both brokers;
  * connection: the crossing connection.close gets close-ok, and the socket is
    closed once the client's close-ok arrives.
One deliberate difference (tern_only): a client that answers our channel.close
with its own close and no close-ok may open the channel again at once on Tern;
RabbitMQ keeps the channel number "closing" until a close-ok comes and closes
the connection with 504 "second 'channel.open' seen".
"""
import pytest

from support.amqpraw import (
    BASIC_PUBLISH, CHANNEL_CLOSE, CHANNEL_CLOSE_OK, CHANNEL_OPEN, CHANNEL_OPEN_OK,
    CONNECTION_CLOSE, CONNECTION_CLOSE_OK, QUEUE_DECLARE, QUEUE_DECLARE_OK,
    basic_publish_args, body_frame, close_args, header_frame, method_frame,
    queue_declare_args, shortstr)
from support.broker import unique


def publish_to_missing_exchange(channel=1):
    """basic.publish to an exchange that does not exist: 404 on the channel."""
    return (method_frame(channel, BASIC_PUBLISH, basic_publish_args("no-such-x-" + unique(), "k")) +
            header_frame(channel, 1) + body_frame(channel, b"x"))


def read_channel_frames(raw, channel, n):
    """The next n method frames (heartbeats skipped), all on `channel`."""
    out = []
    for _ in range(n):
        f = raw.read_method()
        assert f.method != CONNECTION_CLOSE, "connection closed: %r" % (f.close_info(),)
        assert f.channel == channel, f
        out.append(f)
    return out


def assert_channel_usable(raw, channel=1):
    """The channel is open again and the connection still works."""
    raw.send_method(channel, QUEUE_DECLARE, queue_declare_args(unique(), exclusive=True))
    f = raw.read_method()
    assert f.method == QUEUE_DECLARE_OK, "expected declare-ok, got %r%s" % (
        f, " %r" % (f.close_info(),) if f.method in (CHANNEL_CLOSE, CONNECTION_CLOSE) else "")


def test_crossing_channel_close_then_late_close_ok(session):
    # Our 404 close and the client's close cross; the client then answers our
    # close with close-ok, as pika and most clients do. RabbitMQ: channel.close
    # 404 (60,40), close-ok; the late close-ok is ignored; reopen works.
    session.send(publish_to_missing_exchange() +
                 method_frame(1, CHANNEL_CLOSE, close_args(200, "bye")))
    close, ok = read_channel_frames(session, 1, 2)
    assert close.method == CHANNEL_CLOSE
    code, text, cls, meth = close.close_info()
    assert code == 404 and text.startswith("NOT_FOUND - no exchange")
    assert (cls, meth) == (60, 40)
    assert ok.method == CHANNEL_CLOSE_OK
    session.send_method(1, CHANNEL_CLOSE_OK)   # the late close-ok
    session.send_method(1, CHANNEL_OPEN, shortstr(""))
    session.read_method(CHANNEL_OPEN_OK, channel=1)
    assert_channel_usable(session)


def test_crossing_close_ok_in_the_same_write(session):
    # Everything in one segment: the error, the client's close and its
    # close-ok for our close. Nothing escalates to the connection.
    session.send(publish_to_missing_exchange() +
                 method_frame(1, CHANNEL_CLOSE, close_args(200, "bye")) +
                 method_frame(1, CHANNEL_CLOSE_OK) +
                 method_frame(1, CHANNEL_OPEN, shortstr("")))
    close, ok, opened = read_channel_frames(session, 1, 3)
    assert (close.method, ok.method, opened.method) == (CHANNEL_CLOSE, CHANNEL_CLOSE_OK,
                                                        CHANNEL_OPEN_OK)
    assert_channel_usable(session)


def test_crossing_close_on_one_channel_leaves_the_others(raw, broker):
    raw.handshake(broker.user, broker.password, broker.vhost)
    raw.open_channel(1)
    raw.open_channel(2)
    raw.send(publish_to_missing_exchange(2) +
             method_frame(2, CHANNEL_CLOSE, close_args(200, "bye")))
    close, ok = read_channel_frames(raw, 2, 2)
    assert (close.method, ok.method) == (CHANNEL_CLOSE, CHANNEL_CLOSE_OK)
    raw.send_method(2, CHANNEL_CLOSE_OK)
    assert_channel_usable(raw, 1)


@pytest.mark.tern_only
def test_crossing_close_without_close_ok_then_reopen(session):
    # The client takes our close-ok to its close as the end and opens the
    # channel again without sending close-ok for our close. Tern: the
    # crossing close ended the channel, so the open succeeds.
    # RabbitMQ 3.10.8 (a difference): 504 "CHANNEL_ERROR - second
    # 'channel.open' seen" on the connection.
    session.send(publish_to_missing_exchange() +
                 method_frame(1, CHANNEL_CLOSE, close_args(200, "bye")))
    close, ok = read_channel_frames(session, 1, 2)
    assert (close.method, ok.method) == (CHANNEL_CLOSE, CHANNEL_CLOSE_OK)
    session.send_method(1, CHANNEL_OPEN, shortstr(""))
    session.read_method(CHANNEL_OPEN_OK, channel=1)
    assert_channel_usable(session)
    # the channel is a fresh one: a close-ok now is no longer expected, and
    # a real close works as usual
    session.send_method(1, CHANNEL_CLOSE, close_args(200, "bye"))
    session.read_method(CHANNEL_CLOSE_OK, channel=1)


def test_close_after_a_finished_close_is_an_error(session):
    # close-ok ends the channel; a channel.close after that names a channel
    # that is not open. RabbitMQ: 504 CHANNEL_ERROR - expected 'channel.open',
    # class 20 method 40, on the connection.
    session.send(publish_to_missing_exchange())
    code, _, _, _ = session.expect_channel_close(1)   # sends close-ok
    assert code == 404
    session.send_method(1, CHANNEL_CLOSE, close_args(200, "bye"))
    code, text, cls, meth = session.expect_close(504)
    assert text.startswith("CHANNEL_ERROR - expected 'channel.open'")
    assert (cls, meth) == (20, 40)


def test_crossing_connection_close(session):
    # A hard error (a method on a channel never opened) makes the server send
    # connection.close; the client's own connection.close crosses it.
    # RabbitMQ: connection.close 504, then close-ok to the client's close,
    # and the socket closes once the client sends close-ok.
    session.send_method(5, QUEUE_DECLARE, queue_declare_args(unique()))
    f = session.read_method(CONNECTION_CLOSE, channel=0)
    assert f.close_info()[0] == 504
    session.send_method(0, CONNECTION_CLOSE, close_args(200, "bye"))
    session.read_method(CONNECTION_CLOSE_OK, channel=0)
    session.send_method(0, CONNECTION_CLOSE_OK)
    assert session.wait_closed(timeout=5), "server kept the socket after both close-oks"


def test_crossing_connection_close_after_channel_close(session):
    # The client closes the whole connection while our channel.close is on
    # its way: connection.close is answered with close-ok, not with an error.
    session.send(publish_to_missing_exchange() +
                 method_frame(0, CONNECTION_CLOSE, close_args(200, "bye")))
    f = session.read_method(channel=1)
    assert f.method == CHANNEL_CLOSE and f.close_info()[0] == 404
    session.read_method(CONNECTION_CLOSE_OK, channel=0)
