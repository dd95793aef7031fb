"""connection class as pika sees it: handshake, server properties,
authentication and vhost errors, tuning (heartbeat, channel_max, frame_max).

RabbitMQ 3.10.8 reference values are noted by each test."""
import pika
import pika.exceptions as pe
import pytest

from support.helpers import connection_error, get_body, wait_message_count

REQUIRED_CAPABILITIES = (
    "publisher_confirms", "exchange_exchange_bindings", "basic.nack",
    "consumer_cancel_notify", "connection.blocked",
    "authentication_failure_close", "per_consumer_qos", "direct_reply_to")


def test_handshake_and_first_channel(conn):
    assert conn.is_open
    ch = conn.channel()
    assert ch.is_open
    assert ch.channel_number == 1
    ch.close()
    assert conn.is_open


def test_server_properties(conn):
    props = conn._impl.server_properties
    product = props.get("product")
    assert product, props
    assert isinstance(product, (str, bytes))
    assert "version" in props
    caps = props["capabilities"]
    for cap in REQUIRED_CAPABILITIES:
        assert caps.get(cap) is True, "capability %s is %r" % (cap, caps.get(cap))


def test_bad_password_refused(broker):
    # pika raises ProbableAuthenticationError wrapping the broker's
    # connection.close: RabbitMQ "(403) 'ACCESS_REFUSED - Login was refused
    # using authentication mechanism PLAIN. ...'"
    with pytest.raises(pe.ProbableAuthenticationError) as ei:
        broker.connect(credentials=pika.PlainCredentials(broker.user, "not-the-password"))
    msg = str(ei.value)
    assert "403" in msg and "ACCESS_REFUSED" in msg, msg


def test_unknown_user_refused(broker):
    with pytest.raises(pe.ProbableAuthenticationError) as ei:
        broker.connect(credentials=pika.PlainCredentials("no-such-user-xyz", "guest"))
    assert "403" in str(ei.value)


def test_unknown_vhost_refused(broker):
    # RabbitMQ: "(530) 'NOT_ALLOWED - vhost /no-such-vhost not found'"
    with pytest.raises(pe.ProbableAccessDeniedError) as ei:
        broker.connect(virtual_host="/no-such-vhost")
    msg = str(ei.value)
    assert "530" in msg and "NOT_ALLOWED" in msg, msg


def test_heartbeat_negotiation(broker):
    # the server proposes a heartbeat (RabbitMQ: 60 s); the client may lower it
    proposals = []

    def choose(connection, server_value):
        proposals.append(server_value)
        return 7

    c = broker.connect(heartbeat=choose)
    try:
        assert proposals and proposals[0] > 0
        assert c._impl.params.heartbeat == 7
        ch = c.channel()
        ch.queue_declare("", exclusive=True)   # connection works after tuning
    finally:
        c.close()


def test_heartbeat_disabled(broker):
    c = broker.connect(heartbeat=0)
    try:
        assert c._impl.params.heartbeat == 0
        c.channel().queue_declare("", exclusive=True)
    finally:
        c.close()


def test_channel_max_negotiation(broker):
    # the client lowers channel_max to 3: pika can open 3 channels; asking the
    # server for a 4th is a connection error.
    # RabbitMQ: 530 "NOT_ALLOWED - number of channels opened (3) has reached
    #           the negotiated channel_max (3)"
    c = broker.connect(channel_max=3)
    try:
        assert c._impl.params.channel_max == 3
        chans = [c.channel() for _ in range(3)]
        assert [x.channel_number for x in chans] == [1, 2, 3]
        with pytest.raises(pe.NoFreeChannels):
            c.channel()                       # pika itself refuses
        with connection_error(530, "NOT_ALLOWED - "):
            c.channel(channel_number=4)       # the server refuses
    finally:
        if c.is_open:
            c.close()


def test_channel_max_proposed_by_server(broker):
    c = broker.connect()
    try:
        # RabbitMQ proposes 2047
        assert 0 < c._impl.params.channel_max <= 65535
    finally:
        c.close()


def test_frame_max_negotiation_splits_bodies(broker, names):
    # frame_max 4096: a 100 000-octet body goes out in ~25 body frames and
    # comes back intact (also split by the server)
    c = broker.connect(frame_max=4096)
    try:
        assert c._impl.params.frame_max == 4096
        ch = c.channel()
        q = names.queue()
        ch.queue_declare(q)
        body = bytes(range(256)) * 390 + b"end"
        ch.basic_publish("", q, body)
        assert get_body(ch, q) == body
        ch.queue_delete(q)
    finally:
        c.close()


def test_frame_max_proposed_by_server(broker):
    c = broker.connect()
    try:
        # RabbitMQ proposes 131072
        assert c._impl.params.frame_max >= 4096
    finally:
        c.close()


def test_many_channels_on_one_connection(conn, names):
    q = names.queue()
    chans = [conn.channel() for _ in range(20)]
    chans[0].queue_declare(q)
    for i, ch in enumerate(chans):
        ch.basic_publish("", q, b"%d" % i)
    # publishes on different channels are not ordered with each other
    assert wait_message_count(chans[0], conn, q, 20)
    for ch in chans[5:]:
        ch.close()
    assert all(ch.is_open for ch in chans[:5])
    chans[0].queue_delete(q)


def test_clean_close_and_reconnect(broker):
    for _ in range(3):
        c = broker.connect()
        c.channel()
        c.close()
        assert c.is_closed
