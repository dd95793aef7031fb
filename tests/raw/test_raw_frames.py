"""Byte-level framing errors (spec 4.2.3, 2.3.5): each expects an exact
connection.close reply code, then the server closing the socket after our
close-ok (not waited for when the error leaves the byte stream out of step:
RabbitMQ then cannot read our close-ok and closes the socket 3 s later).

The comment by each test records what RabbitMQ 3.10.8 really sends (checked
with BROKER_URL=amqp://guest:guest@127.0.0.1:5672/).
"""
import struct

import pytest

from support.amqpraw import (
    BASIC_PUBLISH, QUEUE_DECLARE, basic_publish_args, bits, body_frame, frame,
    header_frame, method_frame, queue_declare_args, shortstr)
from support.broker import unique
from support.helpers import proc_status_kb


def malformed_code(broker):
    # RabbitMQ reports undecodable method arguments as 501 FRAME_ERROR
    # ("FRAME_ERROR - cannot decode <<...>>"); Tern sends 502 SYNTAX_ERROR by
    # design (protocol/method.h). Both are hard errors that close the
    # connection; each broker is held to its own code.
    return 501 if broker.is_rabbitmq else 502


# ------------------------------------------------------------------ frame end

def test_bad_frame_end(session):
    # RabbitMQ: 501 "FRAME_ERROR - type 1, all octets = <<...>>:
    #           {invalid_frame_end_marker,0}", class 0 method 0
    session.send(method_frame(1, QUEUE_DECLARE, queue_declare_args(unique()), end=b"\x00"))
    code, text, _, _ = session.expect_close(501, wait_closed=False)
    assert text.startswith("FRAME_ERROR")


def test_bad_frame_end_on_heartbeat(raw, broker):
    # RabbitMQ: 501 FRAME_ERROR (invalid_frame_end_marker)
    raw.handshake(broker.user, broker.password, broker.vhost)
    raw.send(frame(8, 0, b"", end=b"\xcd"))
    raw.expect_close(501, wait_closed=False)


def test_unknown_frame_type(session):
    # RabbitMQ: 501 "FRAME_ERROR - type 9, all octets = <<"abc">>: unknown_frame"
    session.send(frame(9, 1, b"abc"))
    session.expect_close(501)


# ------------------------------------------------------------------ frame size

def test_frame_larger_than_negotiated_frame_max(raw, broker):
    # frame_max 4096 negotiated; a method frame with a 5219-octet payload.
    # RabbitMQ: 501 "FRAME_ERROR - type 1, all octets = <<>>:
    #           {frame_too_large,5219,4088}", class 0 method 0
    raw.handshake(broker.user, broker.password, broker.vhost, frame_max=4096)
    raw.open_channel(1)
    raw.send(method_frame(1, QUEUE_DECLARE,
                          queue_declare_args(unique(), arguments={"a": "y" * 5000})))
    code, text, _, _ = raw.expect_close(501, wait_closed=False)
    assert text.startswith("FRAME_ERROR")


def test_oversized_frame_rejected_from_header_alone(raw, broker):
    # Only the 7-octet frame header announcing 2 GiB is sent: the server must
    # reject it at once, not wait for (or allocate) the payload.
    # RabbitMQ: 501 "FRAME_ERROR - type 3, all octets = <<>>:
    #           {frame_too_large,2147483647,4088}" immediately
    raw.handshake(broker.user, broker.password, broker.vhost, frame_max=4096)
    raw.open_channel(1)
    raw.send(struct.pack(">BHI", 3, 1, 0x7FFFFFFF))
    raw.expect_close(501, wait_closed=False)


def test_oversized_frame_default_frame_max(session):
    # negotiated frame_max is whatever the server proposed (RabbitMQ: 131072);
    # a body frame one octet larger than that is refused.
    # RabbitMQ: 501 FRAME_ERROR {frame_too_large,...}
    fmax = session.negotiated[1]
    assert fmax >= 4096
    q = unique()
    session.declare_queue(q)
    session.send(method_frame(1, BASIC_PUBLISH, basic_publish_args("", q)) +
                 header_frame(1, fmax + 1) + body_frame(1, b"x" * (fmax + 1)))
    session.expect_close(501, wait_closed=False)


def test_frame_exactly_frame_max_accepted(raw, broker):
    # frame_max counts the whole frame: 7-octet header + payload + frame-end.
    # A body frame of frame_max - 8 payload octets is legal and delivered.
    # (RabbitMQ is lenient by 8 octets: it accepts payloads up to frame_max
    # itself and refuses frame_max + 1 -- see test above.)
    raw.handshake(broker.user, broker.password, broker.vhost, frame_max=4096)
    raw.open_channel(1)
    q = unique()
    raw.declare_queue(q)
    body = b"b" * (4096 - 8)
    raw.publish(q, body)
    assert raw.get(q) == body


def test_method_frame_too_short_for_class_and_method(session, broker):
    # a method frame whose payload (2 octets) cannot hold class-id + method-id
    # RabbitMQ: 501 "FRAME_ERROR - type 1, all octets = <<0,50>>: unknown_frame"
    # Tern: 501 or 502 (a truncated method) are both acceptable there.
    session.send(frame(1, 1, b"\x00\x32"))
    info = session.expect_connection_close()
    if broker.is_rabbitmq:
        assert info[0] == 501, info
    else:
        assert info[0] in (501, 502), info
    assert session.wait_closed(timeout=5)


# ------------------------------------------------------------------ method arguments

@pytest.mark.parametrize("args", [
    # queue.declare: reserved short, then a shortstr claiming 16 octets of which 2 follow
    struct.pack(">H", 0) + b"\x10ab",
    # field table whose length runs past the end of the frame
    struct.pack(">H", 0) + shortstr("q") + bits() + struct.pack(">I", 100) + b"abc",
    # trailing garbage after a complete, valid argument list
    queue_declare_args("", exclusive=True) + b"zz",
    # no arguments at all
    b"",
], ids=["truncated-shortstr", "table-overrun", "trailing-bytes", "empty"])
def test_malformed_method_arguments(session, broker, args):
    # RabbitMQ: 501 "FRAME_ERROR - cannot decode <<...>>", class 50 method 10
    #           (for all four cases)
    # Tern:     502 SYNTAX_ERROR by design
    session.send_method(1, QUEUE_DECLARE, args)
    code, text, cls, meth = session.expect_close(malformed_code(broker))
    if broker.is_rabbitmq:
        assert text.startswith("FRAME_ERROR - cannot decode"), text
        assert (cls, meth) == (50, 10)


@pytest.mark.tern_only
@pytest.mark.parametrize("cm", [(50, 99), (77, 10), (60, 41), (10, 99)],
                         ids=["queue.99", "class-77", "basic.41", "connection.99"])
def test_unknown_method_not_implemented(session, cm):
    # Tern: 540 NOT_IMPLEMENTED for an unknown class or method
    # (protocol/method.h). RabbitMQ does NOT send a close here, see below.
    session.send_method(0 if cm[0] == 10 else 1, cm, b"")
    session.expect_close(540)


@pytest.mark.rabbitmq_only
@pytest.mark.parametrize("cm", [(50, 99), (77, 10)], ids=["queue.99", "class-77"])
def test_unknown_method_rabbitmq_drops_connection(session, cm):
    # RabbitMQ 3.10.8 sends no connection.close for an unknown class/method:
    # the connection process crashes and the socket is reset at once.
    session.send_method(1, cm, b"")
    assert session.wait_closed(timeout=5)


# ------------------------------------------------------------------ robustness of the reader

def test_frames_sent_one_byte_at_a_time(session):
    # (every broker) a publish split into 1-octet writes is reassembled
    q = unique()
    session.declare_queue(q)
    data = (method_frame(1, BASIC_PUBLISH, basic_publish_args("", q)) +
            header_frame(1, 5) + body_frame(1, b"hello"))
    for i in range(len(data)):
        session.send(data[i:i + 1])
    assert session.get(q) == b"hello"


def test_many_frames_in_one_write(session):
    # (every broker) 50 publishes (150 frames) in one write, parsed in order
    q = unique()
    session.declare_queue(q)
    data = b"".join(
        method_frame(1, BASIC_PUBLISH, basic_publish_args("", q)) +
        header_frame(1, 2) + body_frame(1, b"%02d" % i) for i in range(50))
    session.send(data)
    assert [session.get(q) for _ in range(50)] == [b"%02d" % i for i in range(50)]
    assert session.get(q) is None


def test_empty_body_frames_are_accepted(session):
    # RabbitMQ: a zero-length body frame inside content is accepted
    q = unique()
    session.declare_queue(q)
    session.send(method_frame(1, BASIC_PUBLISH, basic_publish_args("", q)) +
                 header_frame(1, 3) + body_frame(1, b"") + body_frame(1, b"abc"))
    assert session.get(q) == b"abc"


def test_zero_size_content_needs_no_body_frame(session):
    # body-size 0: the message is complete after the header; a body frame
    # after it is then unexpected.
    # RabbitMQ: get returns b"", then 505 "UNEXPECTED_FRAME - expected method
    #           frame, got non method frame instead"
    q = unique()
    session.declare_queue(q)
    session.send(method_frame(1, BASIC_PUBLISH, basic_publish_args("", q)) +
                 header_frame(1, 0))
    assert session.get(q) == b""
    session.send(body_frame(1, b""))
    session.expect_close(505)


def test_close_sent_only_once_and_reply_is_on_channel_zero(session):
    # after a hard error the only frame the server sends is connection.close
    # on channel 0 (nothing else in between)
    session.send(frame(9, 1, b"abc"))
    info = session.expect_connection_close()
    assert info[0] == 501
    assert session.skipped == []
    assert session.wait_closed(timeout=5)


# ------------------------------------------------------------------ memory held by a claim

def test_claimed_body_size_reserves_nothing_until_it_arrives(session, broker):
    # A content header claiming 16 MiB on each of 150 channels must not make
    # the broker reserve 2.4 GiB before a body octet comes (a connection has
    # 2047 channels; in strict overcommit that reservation fails outright).
    # RabbitMQ collects body frames as they come; Tern reserves 128 KiB per
    # claim and grows the block with the frames. Tern-only: it reads the
    # broker's /proc status.
    if broker.proc is None:
        pytest.skip("needs the broker's pid")
    q = unique()
    session.declare_queue(q)
    channels = range(2, 152)
    for ch in channels:
        session.open_channel(ch)
    before = proc_status_kb(broker.proc.pid, "VmSize")
    claim = 16 * 1024 * 1024
    body = bytes(range(256)) * (claim // 256)  # the one that will arrive
    session.send(b"".join(method_frame(ch, BASIC_PUBLISH, basic_publish_args("", q)) +
                          header_frame(ch, claim) for ch in channels))
    # A round trip on channel 1 shows the broker has read all the headers.
    session.declare_queue(q)
    grown_mb = (proc_status_kb(broker.proc.pid, "VmSize") - before) / 1024
    assert grown_mb < 16 * len(channels) / 4, "claims reserved %.0f MiB" % grown_mb
    # A body that does arrive, in 129 frames, grows its block (seven
    # doublings) and is intact.
    step = 131072 - 8
    session.send(b"".join(body_frame(2, body[i:i + step]) for i in range(0, len(body), step)))
    assert session.get(q) == body
