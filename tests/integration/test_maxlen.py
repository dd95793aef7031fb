"""Queue length limits: x-max-length, x-max-length-bytes and x-overflow
(rabbitmq.com/docs/maxlength).

Checked against RabbitMQ 3.10.8:
- drop-head (the default): the oldest messages are dropped, or dead-lettered
  with reason "maxlen" when the queue has a DLX (x-death as for the other
  reasons, no original-expiration unless the message had an expiration);
- x-max-length-bytes counts message bodies only;
- reject-publish: the newest publish is refused, with basic.nack under
  publisher confirms (pika raises NackError), and not enqueued, not
  dead-lettered even with a DLX;
- reject-publish-dlx: the same nack, and the refused message is
  dead-lettered (reason "maxlen");
- a limit leaves room again once messages are consumed."""
import pika
import pika.exceptions as pe
import pytest

from support.helpers import channel_error, drain, queue_counts, settle, wait_for


def confirm_channel(conn):
    c = conn.channel()
    c.confirm_delivery()
    return c


def dlx_with_queue(ch, names):
    dlx, dq = names.exchange(), names.queue()
    ch.exchange_declare(dlx, "fanout")
    ch.queue_declare(dq)
    ch.queue_bind(dq, dlx)
    return dlx, dq


def publish_nacked(ch, q, body, props=None):
    """True when the broker nacks the publish (confirm channel)."""
    try:
        ch.basic_publish("", q, body, props)
        return False
    except pe.NackError:
        return True


def test_max_length_drops_head(conn, names):
    ch = confirm_channel(conn)
    q = names.queue()
    ch.queue_declare(q, arguments={"x-max-length": 3})
    for i in range(6):
        ch.basic_publish("", q, b"m%d" % i)
    assert queue_counts(ch, q)[0] == 3
    assert drain(ch, q) == [b"m3", b"m4", b"m5"]


def test_explicit_drop_head(conn, names):
    ch = confirm_channel(conn)
    q = names.queue()
    ch.queue_declare(q, arguments={"x-max-length": 1, "x-overflow": "drop-head"})
    for i in range(3):
        assert not publish_nacked(ch, q, b"m%d" % i)
    assert drain(ch, q) == [b"m2"]


def test_max_length_zero_keeps_nothing(conn, names):
    ch = confirm_channel(conn)
    q = names.queue()
    ch.queue_declare(q, arguments={"x-max-length": 0})
    ch.basic_publish("", q, b"x")
    assert queue_counts(ch, q)[0] == 0


def test_drop_head_dead_letters_with_reason_maxlen(conn, names):
    ch = confirm_channel(conn)
    dlx, dq = dlx_with_queue(ch, names)
    q = names.queue()
    ch.queue_declare(q, arguments={"x-max-length": 2, "x-dead-letter-exchange": dlx})
    ch.basic_publish("", q, b"m0", pika.BasicProperties(expiration="60000"))
    for i in range(1, 4):
        ch.basic_publish("", q, b"m%d" % i)
    assert drain(ch, q) == [b"m2", b"m3"]
    assert wait_for(lambda: queue_counts(ch, dq)[0] == 2, conn, 2.0)
    got = [ch.basic_get(dq, auto_ack=True) for _ in range(2)]
    assert [b for _, _, b in got] == [b"m0", b"m1"]
    for i, (m, p, _) in enumerate(got):
        assert m.exchange == dlx and m.routing_key == q
        d = p.headers["x-death"]
        assert len(d) == 1
        assert (d[0]["reason"], d[0]["queue"], d[0]["count"]) == ("maxlen", q, 1)
        assert d[0]["exchange"] == "" and d[0]["routing-keys"] == [q]
        assert p.headers["x-first-death-reason"] == "maxlen"
        assert p.headers["x-first-death-queue"] == q
        assert p.expiration is None
        if i == 0:
            assert d[0]["original-expiration"] == "60000"
        else:
            assert "original-expiration" not in d[0]


def test_max_length_bytes_counts_bodies(conn, names):
    ch = confirm_channel(conn)
    q = names.queue()
    ch.queue_declare(q, arguments={"x-max-length-bytes": 10})
    # headers and properties do not count: three 4-byte bodies > 10
    for b in (b"aaaa", b"bbbb", b"cccc"):
        ch.basic_publish("", q, b, pika.BasicProperties(headers={"pad": "x" * 200}))
    assert drain(ch, q) == [b"bbbb", b"cccc"]
    ch.basic_publish("", q, b"0123456789")       # exactly the limit fits
    assert drain(ch, q) == [b"0123456789"]
    ch.basic_publish("", q, b"")                 # empty bodies weigh nothing
    ch.basic_publish("", q, b"")
    ch.basic_publish("", q, b"0123456789")
    assert drain(ch, q) == [b"", b"", b"0123456789"]


def test_max_length_and_bytes_together(conn, names):
    ch = confirm_channel(conn)
    q = names.queue()
    ch.queue_declare(q, arguments={"x-max-length": 3, "x-max-length-bytes": 8})
    for b in (b"a", b"b", b"c", b"d"):             # the count limit bites
        ch.basic_publish("", q, b)
    assert drain(ch, q) == [b"b", b"c", b"d"]
    for b in (b"1234", b"5678", b"9"):             # the byte limit bites
        ch.basic_publish("", q, b)
    assert drain(ch, q) == [b"5678", b"9"]


def test_reject_publish_nacks_and_keeps_queue(conn, names):
    ch = confirm_channel(conn)
    dlx, dq = dlx_with_queue(ch, names)
    q = names.queue()
    ch.queue_declare(q, arguments={"x-max-length": 2, "x-overflow": "reject-publish",
                                   "x-dead-letter-exchange": dlx})
    assert not publish_nacked(ch, q, b"a")
    assert not publish_nacked(ch, q, b"b")
    assert publish_nacked(ch, q, b"c")
    assert publish_nacked(ch, q, b"d")
    assert queue_counts(ch, q)[0] == 2
    # room again once a message is gone
    assert ch.basic_get(q, auto_ack=True)[2] == b"a"
    assert not publish_nacked(ch, q, b"e")
    assert drain(ch, q) == [b"b", b"e"]
    settle(conn, 0.1)
    assert queue_counts(ch, dq)[0] == 0           # nothing dead-lettered


def test_reject_publish_bytes(conn, names):
    ch = confirm_channel(conn)
    q = names.queue()
    ch.queue_declare(q, arguments={"x-max-length-bytes": 6, "x-overflow": "reject-publish"})
    assert not publish_nacked(ch, q, b"abc")
    assert not publish_nacked(ch, q, b"def")
    assert publish_nacked(ch, q, b"g")
    assert drain(ch, q) == [b"abc", b"def"]


def test_reject_publish_without_confirms_drops_silently(conn, names):
    ch = conn.channel()
    q = names.queue()
    ch.queue_declare(q, arguments={"x-max-length": 1, "x-overflow": "reject-publish"})
    ch.basic_publish("", q, b"a")
    ch.basic_publish("", q, b"b")
    assert wait_for(lambda: queue_counts(ch, q)[0] == 1, conn, 2.0)
    settle(conn, 0.05)
    assert drain(ch, q) == [b"a"]


def test_reject_publish_dlx_nacks_and_dead_letters(conn, names):
    ch = confirm_channel(conn)
    dlx, dq = dlx_with_queue(ch, names)
    q = names.queue()
    ch.queue_declare(q, arguments={"x-max-length": 1, "x-overflow": "reject-publish-dlx",
                                   "x-dead-letter-exchange": dlx})
    assert not publish_nacked(ch, q, b"kept")
    assert publish_nacked(ch, q, b"refused", pika.BasicProperties(headers={"k": "v"}))
    assert drain(ch, q) == [b"kept"]
    assert wait_for(lambda: queue_counts(ch, dq)[0] == 1, conn, 2.0)
    m, p, body = ch.basic_get(dq, auto_ack=True)
    assert body == b"refused" and m.exchange == dlx and m.routing_key == q
    d = p.headers["x-death"]
    assert (d[0]["reason"], d[0]["queue"], d[0]["count"]) == ("maxlen", q, 1)
    assert p.headers["x-first-death-reason"] == "maxlen"
    assert p.headers["k"] == "v"


def test_reject_publish_only_the_full_queue(conn, names):
    # a fanout to a full reject-publish queue and a free queue: nacked (the
    # message could not be delivered everywhere), yet enqueued in the free one
    ch = confirm_channel(conn)
    x = names.exchange()
    ch.exchange_declare(x, "fanout")
    full, free = names.queue(), names.queue()
    ch.queue_declare(full, arguments={"x-max-length": 1, "x-overflow": "reject-publish"})
    ch.queue_declare(free)
    ch.queue_bind(full, x)
    ch.queue_bind(free, x)
    ch.basic_publish(x, "", b"1")
    with pytest.raises(pe.NackError):
        ch.basic_publish(x, "", b"2")
    assert drain(ch, full) == [b"1"]
    assert drain(ch, free) == [b"1", b"2"]


@pytest.mark.parametrize("arg,value", [("x-max-length", -1), ("x-max-length-bytes", -1),
                                       ("x-overflow", "drop-tail")])
def test_invalid_length_arguments(ch, arg, value):
    with channel_error(406, "PRECONDITION_FAILED - invalid arg '%s'" % arg):
        ch.queue_declare("", exclusive=True, arguments={arg: value})
