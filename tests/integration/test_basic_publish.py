"""basic.publish / get / get-empty / return, message properties, and the
publish-time errors (immediate, user_id). Reply texts noted are RabbitMQ
3.10.8's."""
import datetime
import decimal

import amqp
import pika
import pytest

from support.helpers import channel_error, drain, get_body, sync, wait_for


def test_publish_get_and_get_empty(ch, names):
    q = names.queue()
    ch.queue_declare(q)
    ch.basic_publish("", q, b"first")
    ch.basic_publish("", q, b"second")
    m, props, body = ch.basic_get(q, auto_ack=True)
    assert body == b"first"
    assert m.NAME == "Basic.GetOk"
    assert m.exchange == "" and m.routing_key == q
    assert m.redelivered is False
    assert m.message_count == 1          # messages left after this one
    assert get_body(ch, q) == b"second"
    m, props, body = ch.basic_get(q)
    assert m is None and body is None    # basic.get-empty


def test_get_ok_fields_through_exchange(ch, names):
    q = names.queue()
    ch.queue_declare(q)
    ch.queue_bind(q, "amq.topic", "a.*")
    ch.basic_publish("amq.topic", "a.b", b"m")
    m, _, _ = ch.basic_get(q, auto_ack=True)
    assert (m.exchange, m.routing_key) == ("amq.topic", "a.b")


def test_empty_and_binary_bodies(ch, names):
    q = names.queue()
    ch.queue_declare(q)
    bodies = [b"", b"\x00", bytes(range(256)), b"\xce" * 300]
    for b in bodies:
        ch.basic_publish("", q, b)
    sync(ch)
    assert drain(ch, q) == bodies


def test_all_basic_properties_round_trip(ch, names):
    q = names.queue()
    ch.queue_declare(q)
    props = pika.BasicProperties(
        content_type="application/json", content_encoding="utf-8",
        headers={"str": "v", "int": 42, "neg": -7, "big": 2 ** 40, "bool": True,
                 "dec": decimal.Decimal("1.5"), "when": datetime.datetime(2024, 1, 2, 3, 4, 5),
                 "nested": {"a": "b"}, "list": [1, "two"], "void": None,
                 "bytes": b"\x00\x01"},
        delivery_mode=2, priority=5, correlation_id="corr-1", reply_to="reply-q",
        expiration="60000", message_id="msg-1", timestamp=1700000000,
        type="kind", user_id="guest", app_id="tests")
    ch.basic_publish("", q, b"{}", props)
    m, got, body = ch.basic_get(q, auto_ack=True)
    assert body == b"{}"
    for attr in ("content_type", "content_encoding", "delivery_mode", "priority",
                 "correlation_id", "reply_to", "expiration", "message_id",
                 "timestamp", "type", "user_id", "app_id"):
        assert getattr(got, attr) == getattr(props, attr), attr
    h = got.headers
    assert h["str"] in ("v", b"v")
    assert (h["int"], h["neg"], h["big"], h["bool"]) == (42, -7, 2 ** 40, True)
    assert h["dec"] == decimal.Decimal("1.5")
    assert h["when"] == datetime.datetime(2024, 1, 2, 3, 4, 5)
    assert h["void"] is None
    assert h["nested"]["a"] in ("b", b"b")
    assert h["list"][0] == 1 and h["list"][1] in ("two", b"two")
    assert h["bytes"] == b"\x00\x01"


def test_no_properties_at_all(ch, names):
    q = names.queue()
    ch.queue_declare(q)
    ch.basic_publish("", q, b"bare")
    _, p, body = ch.basic_get(q, auto_ack=True)
    assert body == b"bare"
    assert p.headers is None and p.content_type is None and p.delivery_mode is None


def test_user_id_must_match_login(ch, names):
    # RabbitMQ: 406 "PRECONDITION_FAILED - user_id property set to 'bob' but
    # authenticated user was 'guest'"
    q = names.queue()
    ch.queue_declare(q)
    ch.basic_publish("", q, b"x", pika.BasicProperties(user_id="bob"))
    with channel_error(406, "PRECONDITION_FAILED - "):
        sync(ch)


def test_unroutable_is_dropped_without_mandatory(conn, ch, names):
    returned = []
    ch.add_on_return_callback(lambda *a: returned.append(a))
    ch.basic_publish("amq.direct", names.queue(), b"lost")
    sync(ch)
    conn.process_data_events(time_limit=0.1)
    assert returned == []


def test_mandatory_unroutable_returned(conn, ch, names):
    # basic.return 312 "NO_ROUTE", with the original exchange, key, props, body
    returned = []
    ch.add_on_return_callback(lambda c, m, p, b: returned.append((m, p, b)))
    key = names.queue()
    ch.basic_publish("amq.direct", key, b"back", pika.BasicProperties(message_id="r1"),
                     mandatory=True)
    sync(ch)
    assert wait_for(lambda: returned, conn, timeout=5)
    m, p, b = returned[0]
    assert m.reply_code == 312
    assert m.reply_text == "NO_ROUTE"
    assert (m.exchange, m.routing_key) == ("amq.direct", key)
    assert p.message_id == "r1" and b == b"back"
    assert len(returned) == 1


def test_mandatory_routable_not_returned(conn, ch, names):
    returned = []
    ch.add_on_return_callback(lambda *a: returned.append(a))
    q = names.queue()
    ch.queue_declare(q)
    ch.basic_publish("", q, b"ok", mandatory=True)
    sync(ch)
    conn.process_data_events(time_limit=0.1)
    assert returned == []
    assert get_body(ch, q) == b"ok"


def test_mandatory_to_default_exchange_missing_queue(conn, ch, names):
    returned = []
    ch.add_on_return_callback(lambda c, m, p, b: returned.append(m.reply_code))
    ch.basic_publish("", names.queue(), b"x", mandatory=True)
    sync(ch)
    assert wait_for(lambda: returned, conn, timeout=5)
    assert returned == [312]


def test_immediate_not_implemented(broker):
    # pika cannot set immediate; py-amqp can. RabbitMQ closes the CONNECTION:
    # 540 "NOT_IMPLEMENTED - immediate=true" (class 60, method 40)
    c = amqp.Connection("%s:%d" % (broker.host, broker.port), userid=broker.user,
                        password=broker.password, virtual_host=broker.vhost,
                        connect_timeout=5)
    c.connect()
    try:
        chan = c.channel()
        q = chan.queue_declare("", exclusive=True).queue
        chan.basic_publish(amqp.Message(b"x"), exchange="", routing_key=q, immediate=True)
        with pytest.raises(amqp.exceptions.AMQPNotImplementedError) as ei:
            chan.queue_declare("", exclusive=True)
            c.drain_events(timeout=2)
        assert ei.value.reply_code == 540
        assert "NOT_IMPLEMENTED" in str(ei.value)
        assert ei.value.method_sig == (60, 40)
    finally:
        try:
            c.collect()
        except Exception:
            pass


def test_get_on_missing_queue(ch, names):
    # RabbitMQ: 404 "NOT_FOUND - no queue '...' in vhost '/'"
    with channel_error(404, "NOT_FOUND - no queue"):
        ch.basic_get(names.queue())


def test_publish_order_preserved(ch, names):
    q = names.queue()
    ch.queue_declare(q)
    bodies = [b"%04d" % i for i in range(200)]
    for b in bodies:
        ch.basic_publish("", q, b)
    sync(ch)
    assert drain(ch, q) == bodies


def test_publisher_and_getter_on_different_connections(broker, ch, names):
    q = names.queue()
    ch.queue_declare(q)
    other = broker.connect()
    try:
        och = other.channel()
        for i in range(10):
            och.basic_publish("", q, b"%d" % i)
        sync(och)
    finally:
        other.close()
    assert wait_for(lambda: ch.queue_declare(q, passive=True).method.message_count == 10,
                    ch.connection, timeout=5)
    assert drain(ch, q) == [b"%d" % i for i in range(10)]


def test_persistent_message_in_durable_queue(ch, names):
    q = names.queue()
    ch.queue_declare(q, durable=True)
    ch.basic_publish("", q, b"keep", pika.BasicProperties(delivery_mode=2))
    m, p, body = ch.basic_get(q, auto_ack=True)
    assert body == b"keep" and p.delivery_mode == 2
    ch.queue_delete(q)
