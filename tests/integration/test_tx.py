"""tx class: publishes are routed only at tx.commit, tx.rollback discards
them; acks / rejects inside a transaction only take effect at commit.
Reply texts noted are RabbitMQ 3.10.8's."""
import time

from support.helpers import channel_error, drain, settle, sync, wait_message_count


def count(ch, q):
    return ch.queue_declare(q, passive=True).method.message_count


def test_publish_routed_only_at_commit(conn, names):
    q = names.queue()
    observer = conn.channel()
    observer.queue_declare(q)
    tx = conn.channel()
    tx.tx_select()
    tx.basic_publish("", q, b"a")
    tx.basic_publish("", q, b"b")
    sync(tx)
    settle(conn, 0.2)
    assert count(observer, q) == 0
    assert observer.basic_get(q)[0] is None
    tx.tx_commit()
    assert wait_message_count(observer, conn, q, 2)
    assert drain(observer, q) == [b"a", b"b"]


def test_rollback_discards_publishes(conn, names):
    q = names.queue()
    observer = conn.channel()
    observer.queue_declare(q)
    tx = conn.channel()
    tx.tx_select()
    tx.basic_publish("", q, b"discarded")
    tx.tx_rollback()
    tx.basic_publish("", q, b"kept")
    tx.tx_commit()
    assert wait_message_count(observer, conn, q, 1)
    assert drain(observer, q) == [b"kept"]


def test_channel_close_discards_uncommitted(conn, names):
    q = names.queue()
    observer = conn.channel()
    observer.queue_declare(q)
    tx = conn.channel()
    tx.tx_select()
    tx.basic_publish("", q, b"never")
    tx.close()
    settle(conn, 0.2)
    assert count(observer, q) == 0


def test_ack_takes_effect_at_commit(conn, names):
    q = names.queue()
    ch = conn.channel()
    ch.queue_declare(q)
    ch.basic_publish("", q, b"m")
    sync(ch)
    ch.tx_select()
    m, _, body = ch.basic_get(q, auto_ack=False)
    assert body == b"m"
    ch.basic_ack(m.delivery_tag)
    ch.tx_commit()
    ch.close()                       # nothing unacked left to requeue
    observer = conn.channel()
    settle(conn, 0.2)
    assert count(observer, q) == 0


def test_ack_rolled_back_stays_unacked(conn, names):
    q = names.queue()
    ch = conn.channel()
    ch.queue_declare(q)
    ch.basic_publish("", q, b"m")
    sync(ch)
    ch.tx_select()
    m, _, _ = ch.basic_get(q, auto_ack=False)
    ch.basic_ack(m.delivery_tag)
    ch.tx_rollback()
    observer = conn.channel()
    assert count(observer, q) == 0   # not requeued by the rollback either
    ch.close()                       # still unacked: back to the queue
    assert wait_message_count(observer, conn, q, 1)
    m2, _, body = observer.basic_get(q, auto_ack=True)
    assert body == b"m" and m2.redelivered is True


def test_ack_after_rollback_in_next_transaction(conn, names):
    q = names.queue()
    ch = conn.channel()
    ch.queue_declare(q)
    ch.basic_publish("", q, b"m")
    sync(ch)
    ch.tx_select()
    m, _, _ = ch.basic_get(q, auto_ack=False)
    ch.basic_ack(m.delivery_tag)
    ch.tx_rollback()
    ch.basic_ack(m.delivery_tag)     # the tag is still valid
    ch.tx_commit()
    ch.close()
    observer = conn.channel()
    settle(conn, 0.2)
    assert count(observer, q) == 0


def test_reject_requeue_at_commit(conn, names):
    q = names.queue()
    ch = conn.channel()
    ch.queue_declare(q)
    ch.basic_publish("", q, b"m")
    sync(ch)
    ch.tx_select()
    m, _, _ = ch.basic_get(q, auto_ack=False)
    ch.basic_reject(m.delivery_tag, requeue=True)
    sync(ch)
    assert ch.basic_get(q)[0] is None        # not back before the commit
    ch.tx_commit()
    m2, _, body = ch.basic_get(q, auto_ack=True)
    assert body == b"m" and m2.redelivered is True


def test_mandatory_return_at_commit(conn, names):
    # the return for an unroutable mandatory publish comes with the commit
    ch = conn.channel()
    returned = []
    ch.add_on_return_callback(lambda c, m, p, b: returned.append(m.reply_code))
    ch.tx_select()
    ch.basic_publish("amq.direct", names.queue(), b"x", mandatory=True)
    sync(ch)
    settle(conn, 0.2)
    assert returned == []
    ch.tx_commit()
    settle(conn, 0.2)
    assert returned == [312]


def test_commit_and_rollback_without_select(conn):
    # RabbitMQ: 406 "PRECONDITION_FAILED - channel is not transactional"
    ch = conn.channel()
    with channel_error(406, "PRECONDITION_FAILED - channel is not transactional"):
        ch.tx_commit()
    ch = conn.channel()
    with channel_error(406, "PRECONDITION_FAILED - channel is not transactional"):
        ch.tx_rollback()


def test_repeated_select_commit_rollback(conn, names):
    q = names.queue()
    ch = conn.channel()
    ch.queue_declare(q)
    ch.tx_select()
    ch.tx_select()                   # idempotent
    ch.tx_commit()                   # empty commit
    ch.tx_rollback()                 # empty rollback
    for i in range(3):
        ch.basic_publish("", q, b"%d" % i)
        ch.tx_commit()
    assert wait_message_count(ch, conn, q, 3)
    assert drain(ch, q) == [b"0", b"1", b"2"]
