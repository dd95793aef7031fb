"""Acknowledgements: ack / nack / reject (single and multiple), recover,
redelivered flag, requeue to the original position, and the delivery-tag
errors. Reply texts noted are RabbitMQ 3.10.8's."""
import pytest

from support.helpers import (
    Collector, channel_error, connection_error, drain, pump, sync,
    wait_message_count)


def fill(ch, q, n):
    for i in range(n):
        ch.basic_publish("", q, b"%d" % i)
    sync(ch)


def get_n(ch, q, n):
    """n basic.gets without auto-ack: list of (delivery_tag, body, redelivered)."""
    out = []
    for _ in range(n):
        m, _, body = ch.basic_get(q, auto_ack=False)
        assert m is not None, "queue ran dry after %d" % len(out)
        out.append((m.delivery_tag, body, m.redelivered))
    return out


def drain_flags(ch, q):
    out = []
    while True:
        m, _, body = ch.basic_get(q, auto_ack=True)
        if m is None:
            return out
        out.append((body, m.redelivered))


def ready(ch, q):
    return ch.queue_declare(q, passive=True).method.message_count


# ------------------------------------------------------------------ ack

def test_ack_removes_message(conn, ch, names):
    q = names.queue()
    ch.queue_declare(q)
    fill(ch, q, 1)
    [(tag, body, red)] = get_n(ch, q, 1)
    assert (body, red) == (b"0", False)
    ch.basic_ack(tag)
    ch.close()
    ch = conn.channel()
    assert drain(ch, q) == []


def test_delivery_tags_increase_per_channel(conn, ch, names):
    q = names.queue()
    ch.queue_declare(q)
    fill(ch, q, 3)
    tags = [t for t, _, _ in get_n(ch, q, 3)]
    assert tags == [1, 2, 3]
    other = conn.channel()            # a new channel starts again at 1
    ch.basic_recover(requeue=True)
    sync(ch)
    [(t, _, _)] = get_n(other, q, 1)
    assert t == 1


def test_ack_multiple(conn, ch, names):
    q = names.queue()
    ch.queue_declare(q)
    fill(ch, q, 5)
    tags = [t for t, _, _ in get_n(ch, q, 5)]
    ch.basic_ack(tags[2], multiple=True)      # acks 1..3
    ch.close()                                # 4 and 5 go back
    ch = conn.channel()
    assert wait_message_count(ch, conn, q, 2)
    assert drain_flags(ch, q) == [(b"3", True), (b"4", True)]


def test_ack_multiple_zero_acks_everything(conn, ch, names):
    # delivery tag 0 with multiple=true: all outstanding (spec, RabbitMQ)
    q = names.queue()
    ch.queue_declare(q)
    fill(ch, q, 4)
    get_n(ch, q, 4)
    ch.basic_ack(0, multiple=True)
    ch.close()
    ch = conn.channel()
    assert drain(ch, q) == []


def test_unknown_delivery_tag(ch, names):
    # RabbitMQ: 406 "PRECONDITION_FAILED - unknown delivery tag 99"
    q = names.queue()
    ch.queue_declare(q)
    ch.basic_ack(99)
    with channel_error(406, "PRECONDITION_FAILED - unknown delivery tag"):
        sync(ch)


def test_ack_tag_zero_single(ch):
    # RabbitMQ: 406 "PRECONDITION_FAILED - unknown delivery tag 0"
    ch.basic_ack(0)
    with channel_error(406, "PRECONDITION_FAILED - unknown delivery tag"):
        sync(ch)


def test_double_ack(ch, names):
    # RabbitMQ: 406 "PRECONDITION_FAILED - unknown delivery tag 1"
    q = names.queue()
    ch.queue_declare(q)
    fill(ch, q, 1)
    [(tag, _, _)] = get_n(ch, q, 1)
    ch.basic_ack(tag)
    ch.basic_ack(tag)
    with channel_error(406, "PRECONDITION_FAILED - unknown delivery tag"):
        sync(ch)


def test_ack_of_no_ack_delivery(ch, names):
    # a delivery made with no-ack has nothing to ack
    # RabbitMQ: 406 "PRECONDITION_FAILED - unknown delivery tag 1"
    q = names.queue()
    ch.queue_declare(q)
    fill(ch, q, 1)
    m, _, _ = ch.basic_get(q, auto_ack=True)
    ch.basic_ack(m.delivery_tag)
    with channel_error(406, "PRECONDITION_FAILED - unknown delivery tag"):
        sync(ch)


def test_ack_on_other_channel_is_unknown(conn, names):
    # delivery tags are channel-scoped
    q = names.queue()
    a = conn.channel()
    a.queue_declare(q)
    fill(a, q, 1)
    [(tag, _, _)] = get_n(a, q, 1)
    b = conn.channel()
    b.basic_ack(tag)
    with channel_error(406, "PRECONDITION_FAILED - unknown delivery tag"):
        sync(b)


def test_unknown_tag_in_nack_and_reject(conn, names):
    for op in ("nack", "reject"):
        ch = conn.channel()
        if op == "nack":
            ch.basic_nack(77)
        else:
            ch.basic_reject(77)
        with channel_error(406, "PRECONDITION_FAILED - unknown delivery tag"):
            sync(ch)


# ------------------------------------------------------------------ nack / reject

def test_reject_requeue_sets_redelivered(ch, names):
    q = names.queue()
    ch.queue_declare(q)
    fill(ch, q, 1)
    [(tag, _, red)] = get_n(ch, q, 1)
    assert red is False
    ch.basic_reject(tag, requeue=True)
    m, _, body = ch.basic_get(q, auto_ack=True)
    assert body == b"0" and m.redelivered is True


def test_reject_without_requeue_drops(ch, names):
    q = names.queue()
    ch.queue_declare(q)
    fill(ch, q, 2)
    [(tag, _, _)] = get_n(ch, q, 1)
    ch.basic_reject(tag, requeue=False)
    assert drain_flags(ch, q) == [(b"1", False)]


def test_nack_requeue_sets_redelivered(ch, names):
    q = names.queue()
    ch.queue_declare(q)
    fill(ch, q, 1)
    [(tag, _, _)] = get_n(ch, q, 1)
    ch.basic_nack(tag, requeue=True)
    assert drain_flags(ch, q) == [(b"0", True)]


def test_nack_multiple_requeue(ch, names):
    q = names.queue()
    ch.queue_declare(q)
    fill(ch, q, 5)
    tags = [t for t, _, _ in get_n(ch, q, 3)]
    ch.basic_nack(tags[-1], multiple=True, requeue=True)
    assert drain_flags(ch, q) == [(b"0", True), (b"1", True), (b"2", True),
                                  (b"3", False), (b"4", False)]


def test_nack_multiple_without_requeue_drops(conn, ch, names):
    q = names.queue()
    ch.queue_declare(q)
    fill(ch, q, 4)
    tags = [t for t, _, _ in get_n(ch, q, 4)]
    ch.basic_nack(tags[1], multiple=True, requeue=False)   # drops 0, 1
    ch.close()                                             # 2, 3 requeued
    ch = conn.channel()
    assert wait_message_count(ch, conn, q, 2)
    assert drain_flags(ch, q) == [(b"2", True), (b"3", True)]


def test_requeue_restores_original_order(ch, names):
    # RabbitMQ puts requeued messages back at their original position, even
    # when they are nacked one by one in a scrambled order
    q = names.queue()
    ch.queue_declare(q)
    fill(ch, q, 6)
    tags = [t for t, _, _ in get_n(ch, q, 4)]
    for i in (3, 1, 2, 0):
        ch.basic_nack(tags[i], requeue=True)
    assert drain_flags(ch, q) == [(b"0", True), (b"1", True), (b"2", True),
                                  (b"3", True), (b"4", False), (b"5", False)]


def test_requeue_order_with_consumer(conn, ch, names):
    q = names.queue()
    ch.queue_declare(q)
    fill(ch, q, 5)
    col = Collector()
    ch.basic_qos(prefetch_count=3)
    tag = ch.basic_consume(q, col.cb())
    assert pump(conn, lambda: len(col) == 3)
    ch.basic_cancel(tag)
    ch.basic_nack(col.methods()[-1].delivery_tag, multiple=True, requeue=True)
    sync(ch)
    assert drain_flags(ch, q) == [(b"0", True), (b"1", True), (b"2", True),
                                  (b"3", False), (b"4", False)]


# ------------------------------------------------------------------ channel close / recover

def test_channel_close_requeues_unacked(conn, ch, names):
    q = names.queue()
    ch.queue_declare(q)
    fill(ch, q, 3)
    col = Collector()
    ch.basic_consume(q, col.cb())
    assert pump(conn, lambda: len(col) == 3)
    ch.basic_ack(col.methods()[0].delivery_tag)
    ch.close()
    ch = conn.channel()
    assert wait_message_count(ch, conn, q, 2)
    assert drain_flags(ch, q) == [(b"1", True), (b"2", True)]


def test_connection_close_requeues_unacked(broker, ch, names):
    q = names.queue()
    ch.queue_declare(q)
    fill(ch, q, 2)
    other = broker.connect()
    och = other.channel()
    get_n(och, q, 2)
    other.close()
    assert wait_message_count(ch, ch.connection, q, 2)
    assert drain_flags(ch, q) == [(b"0", True), (b"1", True)]


def test_recover_requeue(conn, ch, names):
    q = names.queue()
    ch.queue_declare(q)
    fill(ch, q, 3)
    col = Collector()
    ch.basic_consume(q, col.cb())
    assert pump(conn, lambda: len(col) == 3)
    assert [m.redelivered for m in col.methods()] == [False] * 3
    ch.basic_recover(requeue=True)
    assert pump(conn, lambda: len(col) == 6)
    again = col.items[3:]
    assert [b for _, _, _, b in again] == [b"0", b"1", b"2"]
    assert all(m.redelivered for _, m, _, _ in again)
    # the old tags are void; the new ones are acked
    ch.basic_ack(again[-1][1].delivery_tag, multiple=True)
    sync(ch)
    assert ready(ch, q) == 0


def test_recover_requeue_with_get(ch, names):
    q = names.queue()
    ch.queue_declare(q)
    fill(ch, q, 2)
    get_n(ch, q, 2)
    ch.basic_recover(requeue=True)
    assert drain_flags(ch, q) == [(b"0", True), (b"1", True)]


@pytest.mark.rabbitmq_only
def test_rabbitmq_recover_without_requeue_not_implemented(ch):
    # RabbitMQ: CONNECTION close 540 "NOT_IMPLEMENTED - requeue=false"
    with connection_error(540, "NOT_IMPLEMENTED - "):
        ch.basic_recover(requeue=False)
