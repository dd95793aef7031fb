"""queue class: declare (server-named, passive, equivalence), exclusive and
auto-delete lifetimes, bind/unbind, purge, delete with if-unused/if-empty,
and the counts in declare-ok.

Reply texts noted are RabbitMQ 3.10.8's."""
import pika
import pytest

from support.helpers import channel_error, drain, get_body, sync, wait_for, wait_message_count

LOCKED = "RESOURCE_LOCKED - "


def test_server_named_queue(ch):
    ok = ch.queue_declare("", exclusive=True).method
    assert ok.queue.startswith("amq.gen-")
    assert len(ok.queue) > len("amq.gen-")
    assert ok.message_count == 0 and ok.consumer_count == 0
    other = ch.queue_declare("", exclusive=True).method.queue
    assert other != ok.queue
    ch.basic_publish("", ok.queue, b"to-generated")
    assert get_body(ch, ok.queue) == b"to-generated"


def test_passive_declare_missing(ch, names):
    # RabbitMQ: 404 "NOT_FOUND - no queue '...' in vhost '/'"
    with channel_error(404, "NOT_FOUND - no queue"):
        ch.queue_declare(names.queue(), passive=True)


def test_passive_declare_existing_reports_counts(ch, names):
    q = names.queue()
    ch.queue_declare(q)
    for i in range(3):
        ch.basic_publish("", q, b"%d" % i)
    # RabbitMQ's counts lag publishes slightly (publishes travel through
    # another Erlang process than queue.declare), so wait for the count first
    assert wait_message_count(ch, ch.connection, q, 3)
    ok = ch.queue_declare(q, passive=True).method
    assert (ok.queue, ok.message_count, ok.consumer_count) == (q, 3, 0)


def test_declare_reserved_amq_prefix(ch):
    # RabbitMQ: 403 "ACCESS_REFUSED - queue name 'amq.foo' contains reserved
    # prefix 'amq.*'"
    with channel_error(403, "ACCESS_REFUSED - "):
        ch.queue_declare("amq.foo-%s" % id(ch))


def test_redeclare_equivalent_is_ok(ch, names):
    q = names.queue()
    ch.queue_declare(q, durable=False, arguments={"x-max-length": 10})
    ok = ch.queue_declare(q, durable=False, arguments={"x-max-length": 10}).method
    assert ok.queue == q


@pytest.mark.parametrize("first,second,arg", [
    ({"arguments": {"x-max-length": 10}}, {"arguments": {"x-max-length": 11}}, "x-max-length"),
    ({"arguments": {"x-max-length": 10}}, {}, "x-max-length"),
    ({}, {"arguments": {"x-message-ttl": 1000}}, "x-message-ttl"),
    ({}, {"durable": True}, "durable"),
    ({}, {"auto_delete": True}, "auto_delete"),
], ids=["other-value", "arg-missing", "arg-added", "durable", "auto_delete"])
def test_redeclare_inequivalent(conn, names, first, second, arg):
    # RabbitMQ: 406 "PRECONDITION_FAILED - inequivalent arg 'x-max-length'
    # for queue '...' in vhost '/': received '11' but current is '10'"
    q = names.queue()
    ch = conn.channel()
    ch.queue_declare(q, **first)
    with channel_error(406, "PRECONDITION_FAILED - inequivalent arg '%s'" % arg):
        ch.queue_declare(q, **second)
    # the queue is unchanged
    conn.channel().queue_declare(q, **first)


def test_invalid_queue_argument(ch):
    # RabbitMQ: 406 "PRECONDITION_FAILED - invalid arg 'x-max-length' for
    # queue ...: \"expected integer, got longstr\""
    with channel_error(406, "PRECONDITION_FAILED - invalid arg 'x-max-length'"):
        ch.queue_declare("", exclusive=True, arguments={"x-max-length": "abc"})


# ------------------------------------------------------------------ exclusive

@pytest.mark.parametrize("op", [
    "declare", "declare-passive", "consume", "get", "purge", "delete", "bind"])
def test_exclusive_queue_locked_for_other_connections(broker, ch, names, op):
    # RabbitMQ: 405 "RESOURCE_LOCKED - cannot obtain exclusive access to
    # locked queue '...' in vhost '/'. It could be originally declared on
    # another connection or the exclusive property value does not match that
    # of the original declaration."  -- for every one of these operations
    q = names.queue()
    ch.queue_declare(q, exclusive=True)
    other = broker.connect()
    try:
        och = other.channel()
        with channel_error(405, LOCKED):
            if op == "declare":
                och.queue_declare(q, exclusive=True)
            elif op == "declare-passive":
                och.queue_declare(q, passive=True)
            elif op == "consume":
                och.basic_consume(q, lambda *a: None)
            elif op == "get":
                och.basic_get(q)
            elif op == "purge":
                och.queue_purge(q)
            elif op == "delete":
                och.queue_delete(q)
            elif op == "bind":
                och.queue_bind(q, "amq.fanout")
    finally:
        other.close()
    ch.queue_declare(q, passive=True)        # still there, still ours


def test_unbind_of_other_connections_exclusive_queue(broker, ch, names):
    # RabbitMQ 3.10.8: unbinding an existing binding of another connection's
    # exclusive queue is 405 RESOURCE_LOCKED (binding kept); a binding that
    # does not exist is unbind-ok, as the lookup comes before the lock check
    q, x = names.queue(), names.exchange()
    ch.exchange_declare(x, "direct")
    ch.queue_declare(q, exclusive=True)
    ch.queue_bind(q, x, "k")
    other = broker.connect()
    try:
        och = other.channel()
        och.queue_unbind(q, x, "never-bound")
        with channel_error(405, LOCKED):
            och.queue_unbind(q, x, "k")
    finally:
        other.close()
    ch.basic_publish(x, "k", b"still-bound")
    sync(ch)
    assert get_body(ch, q) == b"still-bound"


def test_publish_to_other_connections_exclusive_queue_routes(broker, ch, names):
    # exclusivity limits consumers/declarers, not publishers
    q = names.queue()
    ch.queue_declare(q, exclusive=True)
    other = broker.connect()
    try:
        och = other.channel()
        och.basic_publish("", q, b"from-other")
        sync(och)
    finally:
        other.close()
    assert wait_message_count(ch, ch.connection, q, 1)
    assert get_body(ch, q) == b"from-other"


def test_exclusive_flag_must_match_on_own_connection(conn, names):
    # RabbitMQ: 405 RESOURCE_LOCKED both ways (exclusive redeclared as
    # non-exclusive, and non-exclusive redeclared as exclusive)
    q1, q2 = names.queue(), names.queue()
    ch = conn.channel()
    ch.queue_declare(q1, exclusive=True)
    with channel_error(405, LOCKED):
        ch.queue_declare(q1)
    ch = conn.channel()
    ch.queue_declare(q2)
    with channel_error(405, LOCKED):
        ch.queue_declare(q2, exclusive=True)


def test_exclusive_queue_usable_from_other_channel_same_connection(conn, names):
    q = names.queue()
    a, b = conn.channel(), conn.channel()
    a.queue_declare(q, exclusive=True)
    b.queue_declare(q, exclusive=True)
    b.basic_publish("", q, b"x")
    assert get_body(b, q) == b"x"


def test_exclusive_queue_deleted_with_its_connection(broker, ch, names):
    q = names.queue()
    owner = broker.connect()
    owner.channel().queue_declare(q, exclusive=True)
    ch.queue_declare(q + "-probe")                   # unrelated, just a live channel
    ch.queue_delete(q + "-probe")
    owner.close()

    def gone():
        c = ch.connection.channel()
        try:
            c.queue_declare(q, passive=True)
            c.close()
            return False
        except pika.exceptions.ChannelClosedByBroker as e:
            assert e.reply_code == 404, (e.reply_code, e.reply_text)
            return True
    assert wait_for(gone, ch.connection, timeout=5)


def test_exclusive_queue_deleted_when_connection_drops(broker, ch, names):
    # the owner's TCP connection just disappears (no connection.close)
    from support.amqpraw import RawConnection
    q = names.queue()
    raw = RawConnection(broker.host, broker.port)
    raw.handshake(broker.user, broker.password, broker.vhost)
    raw.open_channel(1)
    raw.declare_queue(q, exclusive=True)
    raw.close()

    def gone():
        c = ch.connection.channel()
        try:
            c.queue_declare(q, passive=True)
            c.close()
            return False
        except pika.exceptions.ChannelClosedByBroker as e:
            return e.reply_code == 404
    assert wait_for(gone, ch.connection, timeout=5)


# ------------------------------------------------------------------ auto-delete

def test_auto_delete_queue_lives_until_first_consumer_goes(conn, names):
    q = names.queue()
    ch = conn.channel()
    ch.queue_declare(q, auto_delete=True)
    # no consumer yet: the queue stays
    ch.queue_declare(q, passive=True)
    t1 = ch.basic_consume(q, lambda *a: None)
    t2 = ch.basic_consume(q, lambda *a: None)
    assert ch.queue_declare(q, passive=True).method.consumer_count == 2
    ch.basic_cancel(t1)
    ch.queue_declare(q, passive=True)        # one consumer left: still there
    ch.basic_cancel(t2)
    with channel_error(404, "NOT_FOUND - "):
        ch.queue_declare(q, passive=True)


def test_auto_delete_queue_goes_when_consumer_channel_closes(conn, names):
    q = names.queue()
    ch = conn.channel()
    ch.queue_declare(q, auto_delete=True)
    cons = conn.channel()
    cons.basic_consume(q, lambda *a: None)
    cons.close()

    def gone():
        c = conn.channel()
        try:
            c.queue_declare(q, passive=True)
            c.close()
            return False
        except pika.exceptions.ChannelClosedByBroker as e:
            return e.reply_code == 404
    assert wait_for(gone, conn, timeout=5)


# ------------------------------------------------------------------ bind / unbind

def test_bind_unbind(ch, names):
    q = names.queue()
    ch.queue_declare(q)
    ch.queue_bind(q, "amq.direct", "k1")
    ch.queue_bind(q, "amq.direct", "k1")           # idempotent
    ch.queue_bind(q, "amq.direct", "k2")
    for k in ("k1", "k2", "k3"):
        ch.basic_publish("amq.direct", k, k.encode())
    sync(ch)
    assert drain(ch, q) == [b"k1", b"k2"]
    ch.queue_unbind(q, "amq.direct", "k1")
    for k in ("k1", "k2"):
        ch.basic_publish("amq.direct", k, k.encode())
    sync(ch)
    assert drain(ch, q) == [b"k2"]
    ch.queue_unbind(q, "amq.direct", "k2")


def test_queue_delete_removes_bindings(ch, names):
    q = names.queue()
    ch.queue_declare(q)
    ch.queue_bind(q, "amq.direct", q)
    ch.queue_delete(q)
    ch.queue_declare(q)
    ch.basic_publish("amq.direct", q, b"not-routed")
    ch.basic_publish("", q, b"default")
    sync(ch)
    assert drain(ch, q) == [b"default"]


# ------------------------------------------------------------------ purge / delete

def test_purge_returns_count(ch, names):
    q = names.queue()
    ch.queue_declare(q)
    for i in range(5):
        ch.basic_publish("", q, b"m")
    assert wait_message_count(ch, ch.connection, q, 5)
    ok = ch.queue_purge(q).method
    assert ok.message_count == 5
    assert ch.queue_declare(q, passive=True).method.message_count == 0
    assert ch.queue_purge(q).method.message_count == 0


def test_purge_keeps_unacked(ch, names):
    # purge removes ready messages only; an unacked one comes back on reject
    q = names.queue()
    ch.queue_declare(q)
    ch.basic_publish("", q, b"held")
    ch.basic_publish("", q, b"ready")
    m, _, body = ch.basic_get(q, auto_ack=False)
    assert body == b"held"
    assert wait_message_count(ch, ch.connection, q, 1)
    assert ch.queue_purge(q).method.message_count == 1
    ch.basic_reject(m.delivery_tag, requeue=True)
    assert get_body(ch, q) == b"held"


def test_purge_missing_queue(ch, names):
    # RabbitMQ: 404 "NOT_FOUND - no queue ..."
    with channel_error(404, "NOT_FOUND - "):
        ch.queue_purge(names.queue())


def test_delete_returns_count_and_missing_is_ok(ch, names):
    q = names.queue()
    ch.queue_declare(q)
    ch.basic_publish("", q, b"1")
    ch.basic_publish("", q, b"2")
    assert wait_message_count(ch, ch.connection, q, 2)
    assert ch.queue_delete(q).method.message_count == 2
    # RabbitMQ 3.x: deleting a missing queue succeeds with count 0
    assert ch.queue_delete(q).method.message_count == 0


def test_delete_if_unused(conn, names):
    # RabbitMQ: 406 "PRECONDITION_FAILED - queue '...' in vhost '/' in use"
    q = names.queue()
    ch = conn.channel()
    ch.queue_declare(q)
    tag = ch.basic_consume(q, lambda *a: None)
    with channel_error(406, "PRECONDITION_FAILED - "):
        ch.queue_delete(q, if_unused=True)
    ch = conn.channel()
    ch.queue_declare(q, passive=True)
    conn.channel().queue_delete(q, if_unused=False)   # force works


def test_delete_if_unused_after_cancel(ch, names):
    q = names.queue()
    ch.queue_declare(q)
    tag = ch.basic_consume(q, lambda *a: None)
    ch.basic_cancel(tag)
    ch.queue_delete(q, if_unused=True)
    with channel_error(404):
        ch.queue_declare(q, passive=True)


def test_delete_if_empty(conn, names):
    # RabbitMQ: 406 "PRECONDITION_FAILED - queue '...' in vhost '/' not empty"
    q = names.queue()
    ch = conn.channel()
    ch.queue_declare(q)
    ch.basic_publish("", q, b"m")
    with channel_error(406, "PRECONDITION_FAILED - "):
        ch.queue_delete(q, if_empty=True)
    ch = conn.channel()
    assert get_body(ch, q) == b"m"
    ch.queue_delete(q, if_empty=True)
    with channel_error(404):
        ch.queue_declare(q, passive=True)


# ------------------------------------------------------------------ counts

def test_declare_ok_counts(broker, conn, names):
    q = names.queue()
    ch = conn.channel()
    ok = ch.queue_declare(q).method
    assert (ok.message_count, ok.consumer_count) == (0, 0)
    for _ in range(4):
        ch.basic_publish("", q, b"m")
    # (RabbitMQ's count lags the publishes a little; see above)
    assert wait_message_count(ch, conn, q, 4)
    ok = ch.queue_declare(q).method
    assert (ok.message_count, ok.consumer_count) == (4, 0)
    # two consumers with prefetch 1 each: 2 messages go out, 2 stay ready;
    # declare-ok's message_count counts ready messages only
    cons = broker.connect()
    try:
        cch = cons.channel()
        cch.basic_qos(prefetch_count=1)
        got = []
        cch.basic_consume(q, lambda c, m, p, b: got.append(m.delivery_tag))
        cch.basic_consume(q, lambda c, m, p, b: got.append(m.delivery_tag))
        assert wait_for(lambda: len(got) == 2, cons, timeout=5)
        ok = ch.queue_declare(q).method
        assert (ok.message_count, ok.consumer_count) == (2, 2)
    finally:
        cons.close()
    # the unacked two come back when the consumer connection goes
    assert wait_for(lambda: ch.queue_declare(q, passive=True).method.message_count == 4,
                    conn, timeout=5)
    assert ch.queue_declare(q, passive=True).method.consumer_count == 0
