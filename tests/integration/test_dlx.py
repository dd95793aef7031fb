"""Dead-lettering (x-dead-letter-exchange, x-dead-letter-routing-key;
rabbitmq.com/docs/dlx) and the delivery limit (x-delivery-limit).

What RabbitMQ 3.10.8 writes into a dead-lettered copy (seen with pika):
  headers = {<the message's own headers>,
    'x-death': [{'count': 1, 'reason': 'rejected', 'queue': 'q',
                 'time': datetime(...),   # AMQP timestamp, whole seconds
                 'exchange': '',          # where the message was published
                 'routing-keys': ['q'],   # its routing key + CC, no BCC
                 'original-expiration': '60000'}],  # only if it had one
    'x-first-death-exchange': '', 'x-first-death-queue': 'q',
    'x-first-death-reason': 'rejected'}
- x-death has one entry per (queue, reason), newest first; dying again for
  the same pair increments that entry's count (and moves it to the front);
- original-expiration is written for any reason (rejected too) whenever the
  message had an expiration, and the copy has no expiration property; every
  other property is kept;
- RabbitMQ 3.10 writes NO x-last-death-* headers (3.13 added them); Tern
  writes them as 3.13 does: that is checked Tern-only;
- the copy is published to the DLX with the dead-letter routing key, or its
  own routing key and CC when there is none; the basic.deliver carries
  exchange = the DLX;
- a message that expires round a cycle of queues with no rejection in it is
  dropped when it would re-enter a queue it already died in (the other
  targets of the DLX still get it); a rejected message may go round for
  ever, its count growing;
- a DLX that does not exist drops the message silently.

Delivery limit: RabbitMQ 3.10 has x-delivery-limit on quorum queues only
(a classic queue refuses the argument with 406 "invalid arg
'x-delivery-limit' ... of queue type rabbit_classic_queue"); Tern has it on
its classic queues. The delivery-limit tests therefore declare a durable
quorum queue against RabbitMQ and a classic one against Tern, and assert the
same numbers: with x-delivery-limit N a message is delivered N+1 times, and
the nack (requeue) of the last delivery dead-letters it (reason
delivery_limit, no original-expiration) or drops it without a DLX. A
redelivery carries x-delivery-count = the number of earlier deliveries
returned to the queue (1, 2, ...). On the first delivery RabbitMQ's quorum
queue writes x-delivery-count 0 through basic.get and no header through
basic.consume: either is accepted."""
import datetime
import time

import pika
import pytest

from support.helpers import Collector, drain, pump, queue_counts, settle, wait_for


def confirm_channel(conn):
    c = conn.channel()
    c.confirm_delivery()
    return c


def dlx_with_queue(ch, names, kind="fanout", key="", durable=False):
    """A DLX and one queue bound to it; returns (dlx, dead-letter queue)."""
    dlx, dq = names.exchange(), names.queue()
    ch.exchange_declare(dlx, kind, durable=durable)
    ch.queue_declare(dq, durable=durable)
    ch.queue_bind(dq, dlx, routing_key=key)
    return dlx, dq


def wait_get(conn, ch, q, timeout=2.0):
    """basic.get (auto-ack) until a message arrives; (None, None, None) on
    timeout."""
    out = []

    def poll():
        r = ch.basic_get(q, auto_ack=True)
        if r[0] is not None:
            out.append(r)
        return bool(out)

    wait_for(poll, conn, timeout, step=0.01)
    return out[0] if out else (None, None, None)


def get_one(ch, q):
    m, p, b = ch.basic_get(q, auto_ack=False)
    assert m is not None, "queue %s is empty" % q
    return m, p, b


def check_time(t):
    assert isinstance(t, datetime.datetime)
    now = datetime.datetime.utcnow()
    assert abs((now - t).total_seconds()) < 60, (t, now)


# ------------------------------------------------------------------ reasons

@pytest.mark.parametrize("how", ["reject", "nack"])
def test_rejected_dead_letter_headers(conn, names, how):
    ch = confirm_channel(conn)
    dlx, dq = dlx_with_queue(ch, names)
    q = names.queue()
    ch.queue_declare(q, arguments={"x-dead-letter-exchange": dlx})
    props = pika.BasicProperties(headers={"app": "v", "n": 7}, expiration="60000",
                                 content_type="text/plain", correlation_id="cid",
                                 message_id="mid", priority=3, delivery_mode=2,
                                 type="t", app_id="app", reply_to="rt", timestamp=1234)
    ch.basic_publish("", q, b"body", props)
    m, _, _ = get_one(ch, q)
    if how == "reject":
        ch.basic_reject(m.delivery_tag, requeue=False)
    else:
        ch.basic_nack(m.delivery_tag, requeue=False)
    m, p, body = wait_get(conn, ch, dq)
    assert body == b"body"
    assert m.exchange == dlx and m.routing_key == q and not m.redelivered
    # every property kept, but expiration
    assert p.expiration is None
    assert (p.content_type, p.correlation_id, p.message_id, p.priority, p.delivery_mode,
            p.type, p.app_id, p.reply_to, p.timestamp) == \
        ("text/plain", "cid", "mid", 3, 2, "t", "app", "rt", 1234)
    h = p.headers
    assert h["app"] == "v" and h["n"] == 7
    assert len(h["x-death"]) == 1
    d = h["x-death"][0]
    assert set(d) == {"count", "reason", "queue", "time", "exchange", "routing-keys",
                      "original-expiration"}
    assert d["count"] == 1 and d["reason"] == "rejected" and d["queue"] == q
    assert d["exchange"] == "" and d["routing-keys"] == [q]
    assert d["original-expiration"] == "60000"
    check_time(d["time"])
    assert h["x-first-death-reason"] == "rejected"
    assert h["x-first-death-queue"] == q
    assert h["x-first-death-exchange"] == ""
    assert queue_counts(ch, q)[0] == 0


def test_nack_multiple_dead_letters_all_in_order(conn, names):
    ch = confirm_channel(conn)
    dlx, dq = dlx_with_queue(ch, names)
    q = names.queue()
    ch.queue_declare(q, arguments={"x-dead-letter-exchange": dlx})
    for i in range(4):
        ch.basic_publish("", q, b"m%d" % i)
    tags = [get_one(ch, q)[0].delivery_tag for _ in range(4)]
    ch.basic_nack(tags[2], multiple=True, requeue=False)     # m0..m2
    ch.basic_ack(tags[3])
    assert wait_for(lambda: queue_counts(ch, dq)[0] == 3, conn, 2.0)
    assert drain(ch, dq) == [b"m0", b"m1", b"m2"]


def test_requeue_true_is_not_dead_lettered(conn, names):
    ch = confirm_channel(conn)
    dlx, dq = dlx_with_queue(ch, names)
    q = names.queue()
    ch.queue_declare(q, arguments={"x-dead-letter-exchange": dlx})
    ch.basic_publish("", q, b"x")
    m, _, _ = get_one(ch, q)
    ch.basic_reject(m.delivery_tag, requeue=True)
    m, p, body = ch.basic_get(q, auto_ack=True)
    assert body == b"x" and m.redelivered and not (p.headers or {}).get("x-death")
    settle(conn, 0.1)
    assert queue_counts(ch, dq)[0] == 0


@pytest.mark.parametrize("how", ["get", "consume"])
def test_ack_is_not_dead_lettered(conn, names, how):
    ch = confirm_channel(conn)
    dlx, dq = dlx_with_queue(ch, names)
    q = names.queue()
    ch.queue_declare(q, arguments={"x-dead-letter-exchange": dlx})
    for i in range(3):
        ch.basic_publish("", q, b"m%d" % i)
    if how == "get":
        tags = [get_one(ch, q)[0].delivery_tag for _ in range(3)]
        ch.basic_ack(tags[0])
        ch.basic_ack(tags[2], multiple=True)
    else:
        cons = conn.channel()
        col = Collector()
        tag = cons.basic_consume(q, col.cb(), auto_ack=False)
        assert pump(conn, lambda: len(col) >= 3, 2.0)
        for m in col.methods():
            cons.basic_ack(m.delivery_tag)
        cons.basic_cancel(tag)
    ch.basic_publish("", q, b"auto")
    assert ch.basic_get(q, auto_ack=True)[2] == b"auto"
    settle(conn, 0.2)
    assert queue_counts(ch, q)[0] == 0
    assert queue_counts(ch, dq)[0] == 0


def test_consumer_reject_and_channel_close_requeue(conn, names):
    # unacked messages of a closed channel are requeued, not dead-lettered
    ch = confirm_channel(conn)
    dlx, dq = dlx_with_queue(ch, names)
    q = names.queue()
    ch.queue_declare(q, arguments={"x-dead-letter-exchange": dlx})
    ch.basic_publish("", q, b"a")
    ch.basic_publish("", q, b"b")
    cons = conn.channel()
    col = Collector()
    cons.basic_consume(q, col.cb(), auto_ack=False)
    assert pump(conn, lambda: len(col) >= 2, 2.0)
    cons.basic_reject(col.methods()[0].delivery_tag, requeue=False)
    cons.close()
    m, p, body = wait_get(conn, ch, dq)
    assert body == b"a" and p.headers["x-death"][0]["reason"] == "rejected"
    assert wait_for(lambda: queue_counts(ch, q)[0] == 1, conn, 2.0)
    assert drain(ch, q) == [b"b"]


@pytest.mark.parametrize("how", ["queue-ttl", "expiration"])
def test_expired_dead_letter(conn, names, how):
    ch = confirm_channel(conn)
    dlx, dq = dlx_with_queue(ch, names)
    q = names.queue()
    args = {"x-dead-letter-exchange": dlx}
    if how == "queue-ttl":
        args["x-message-ttl"] = 150
    ch.queue_declare(q, arguments=args)
    t0 = time.monotonic()
    ch.basic_publish("", q, b"x", pika.BasicProperties(
        expiration="150" if how == "expiration" else None, headers={"k": "v"}))
    m, p, body = wait_get(conn, ch, dq)
    assert body == b"x" and time.monotonic() - t0 >= 0.13
    assert m.exchange == dlx and m.routing_key == q
    assert p.expiration is None
    d = p.headers["x-death"][0]
    assert d["reason"] == "expired" and d["queue"] == q and d["count"] == 1
    assert d["exchange"] == "" and d["routing-keys"] == [q]
    check_time(d["time"])
    if how == "expiration":
        assert d["original-expiration"] == "150"
    else:
        assert "original-expiration" not in d
    assert p.headers["x-first-death-reason"] == "expired"
    assert p.headers["k"] == "v"


def test_ttl_zero_without_consumer_dead_letters(conn, names):
    ch = confirm_channel(conn)
    dlx, dq = dlx_with_queue(ch, names)
    q = names.queue()
    ch.queue_declare(q, arguments={"x-dead-letter-exchange": dlx, "x-message-ttl": 0})
    ch.basic_publish("", q, b"now-or-never")
    m, p, body = wait_get(conn, ch, dq)
    assert body == b"now-or-never"
    assert p.headers["x-death"][0]["reason"] == "expired"


def test_dead_letter_routing_key(conn, names):
    ch = confirm_channel(conn)
    dlx, dq = dlx_with_queue(ch, names, kind="direct", key="dead")
    other = names.queue()
    ch.queue_declare(other)
    q = names.queue()
    ch.queue_bind(other, dlx, routing_key=q)     # the original key: not used
    ch.queue_declare(q, arguments={"x-dead-letter-exchange": dlx,
                                   "x-dead-letter-routing-key": "dead"})
    ch.basic_publish("", q, b"x")
    m, _, _ = get_one(ch, q)
    ch.basic_reject(m.delivery_tag, requeue=False)
    m, p, body = wait_get(conn, ch, dq)
    assert body == b"x" and m.exchange == dlx and m.routing_key == "dead"
    # x-death keeps the routing keys the message had
    assert p.headers["x-death"][0]["routing-keys"] == [q]
    settle(conn, 0.05)
    assert queue_counts(ch, other)[0] == 0


@pytest.mark.parametrize("dl_key", [None, "dead"], ids=["own-key", "dl-key"])
def test_cc_routing_keys(conn, names, dl_key):
    # published to X with key "a" and CC ["b"]; q is bound with a and b (one
    # copy). routing-keys = ["a", "b"]; without a dead-letter routing key the
    # copy is routed by "a" and CC "b" again; with one, CC is dropped
    ch = confirm_channel(conn)
    x, dlx = names.exchange(), names.exchange()
    ch.exchange_declare(x, "direct")
    ch.exchange_declare(dlx, "direct")
    q = names.queue()
    args = {"x-dead-letter-exchange": dlx}
    if dl_key:
        args["x-dead-letter-routing-key"] = dl_key
    ch.queue_declare(q, arguments=args)
    ch.queue_bind(q, x, "a")
    ch.queue_bind(q, x, "b")
    qa, qb, qd = names.queue(), names.queue(), names.queue()
    for dq, key in ((qa, "a"), (qb, "b"), (qd, "dead")):
        ch.queue_declare(dq)
        ch.queue_bind(dq, dlx, key)
    ch.basic_publish(x, "a", b"m", pika.BasicProperties(headers={"CC": ["b"]}))
    assert queue_counts(ch, q)[0] == 1
    m, p, _ = get_one(ch, q)
    assert p.headers == {"CC": ["b"]}
    ch.basic_reject(m.delivery_tag, requeue=False)
    want = [qd] if dl_key else [qa, qb]
    assert wait_for(lambda: all(queue_counts(ch, w)[0] == 1 for w in want), conn, 2.0)
    settle(conn, 0.05)
    for dq in (qa, qb, qd):
        assert queue_counts(ch, dq)[0] == (1 if dq in want else 0)
    m, p, _ = ch.basic_get(want[0], auto_ack=True)
    d = p.headers["x-death"][0]
    assert d["routing-keys"] == ["a", "b"] and d["exchange"] == x
    if dl_key:
        assert m.routing_key == "dead" and "CC" not in p.headers
    else:
        assert m.routing_key == "a" and p.headers["CC"] == ["b"]


def test_bcc_not_delivered_nor_in_routing_keys(conn, names):
    # BCC routes the message but is removed from it: not in the delivered
    # message, not in the dead-lettered copy, not in x-death's routing-keys.
    # (RabbitMQ 3.10 still routes the dead-lettered copy by the BCC key too;
    # that is not checked.)
    ch = confirm_channel(conn)
    dlx, dq = dlx_with_queue(ch, names)
    x = names.exchange()
    ch.exchange_declare(x, "direct")
    q = names.queue()
    ch.queue_declare(q, arguments={"x-dead-letter-exchange": dlx})
    ch.queue_bind(q, x, "c")
    ch.basic_publish(x, "a", b"m", pika.BasicProperties(headers={"BCC": ["c"], "k": 1}))
    m, p, _ = get_one(ch, q)
    assert p.headers == {"k": 1}
    ch.basic_reject(m.delivery_tag, requeue=False)
    m, p, body = wait_get(conn, ch, dq)
    assert body == b"m" and "BCC" not in p.headers
    assert p.headers["x-death"][0]["routing-keys"] == ["a"]


def test_missing_dlx_drops_silently(conn, names):
    ch = confirm_channel(conn)
    q = names.queue()
    ch.queue_declare(q, arguments={"x-dead-letter-exchange": names.exchange()})
    ch.basic_publish("", q, b"x")
    m, _, _ = get_one(ch, q)
    ch.basic_reject(m.delivery_tag, requeue=False)
    ch.exchange_declare("amq.direct", passive=True)       # channel still fine
    assert queue_counts(ch, q)[0] == 0


# ------------------------------------------------------------------ several deaths

def test_count_increments_for_same_queue_and_reason(conn, names):
    # q dead-letters to a fanout bound back to q: reject, reject, reject
    ch = confirm_channel(conn)
    dlx = names.exchange()
    ch.exchange_declare(dlx, "fanout")
    q = names.queue()
    ch.queue_declare(q, arguments={"x-dead-letter-exchange": dlx})
    ch.queue_bind(q, dlx)
    ch.basic_publish("", q, b"again", pika.BasicProperties(expiration="60000"))
    counts = []
    for i in range(3):
        m = None
        assert wait_for(lambda: queue_counts(ch, q)[0] == 1, conn, 2.0)
        m, p, body = get_one(ch, q)
        assert body == b"again"
        if i == 0:
            assert p.expiration == "60000" and not (p.headers or {}).get("x-death")
            assert m.exchange == ""
        else:
            assert p.expiration is None and m.exchange == dlx and m.routing_key == q
            deaths = p.headers["x-death"]
            assert len(deaths) == 1
            counts.append(deaths[0]["count"])
            assert deaths[0]["reason"] == "rejected" and deaths[0]["queue"] == q
            # the first death's fields are kept
            assert deaths[0]["exchange"] == "" and deaths[0]["routing-keys"] == [q]
            assert deaths[0]["original-expiration"] == "60000"
            assert p.headers["x-first-death-queue"] == q
            assert p.headers["x-first-death-exchange"] == ""
        ch.basic_reject(m.delivery_tag, requeue=False)
    assert wait_for(lambda: queue_counts(ch, q)[0] == 1, conn, 2.0)
    m, p, _ = ch.basic_get(q, auto_ack=True)
    counts.append(p.headers["x-death"][0]["count"])
    assert counts == [1, 2, 3]


def test_two_deaths_newest_first(conn, names):
    # expires in q1 -> x2 -> q2, rejected in q2 -> x3 -> dq
    ch = confirm_channel(conn)
    x2, x3 = names.exchange(), names.exchange()
    ch.exchange_declare(x2, "fanout")
    ch.exchange_declare(x3, "fanout")
    q1, q2, dq = names.queue(), names.queue(), names.queue()
    ch.queue_declare(q1, arguments={"x-message-ttl": 100, "x-dead-letter-exchange": x2})
    ch.queue_declare(q2, arguments={"x-dead-letter-exchange": x3})
    ch.queue_declare(dq)
    ch.queue_bind(q2, x2)
    ch.queue_bind(dq, x3)
    ch.basic_publish("", q1, b"x")
    assert wait_for(lambda: queue_counts(ch, q2)[0] == 1, conn, 2.0)
    m, p, _ = get_one(ch, q2)
    assert [d["reason"] for d in p.headers["x-death"]] == ["expired"]
    ch.basic_reject(m.delivery_tag, requeue=False)
    m, p, body = wait_get(conn, ch, dq)
    assert body == b"x" and m.exchange == x3 and m.routing_key == q1
    deaths = p.headers["x-death"]
    assert [(d["queue"], d["reason"], d["count"]) for d in deaths] == \
        [(q2, "rejected", 1), (q1, "expired", 1)]
    assert deaths[0]["exchange"] == x2 and deaths[0]["routing-keys"] == [q1]
    assert deaths[1]["exchange"] == "" and deaths[1]["routing-keys"] == [q1]
    assert (p.headers["x-first-death-reason"], p.headers["x-first-death-queue"],
            p.headers["x-first-death-exchange"]) == ("expired", q1, "")


def test_expiry_cycle_is_dropped(conn, names):
    # q1 -(expires)-> x2 -> q2 (+ monitor m2); q2 -(expires)-> x1 -> q1 (+ m1).
    # Back at q1 the copy would close a cycle with no rejection: q1 does not
    # get it, m1 does.
    ch = confirm_channel(conn)
    x1, x2 = names.exchange(), names.exchange()
    q1, q2, m1, m2 = names.queue(), names.queue(), names.queue(), names.queue()
    for x in (x1, x2):
        ch.exchange_declare(x, "fanout")
    ch.queue_declare(q1, arguments={"x-message-ttl": 100, "x-dead-letter-exchange": x2})
    ch.queue_declare(q2, arguments={"x-message-ttl": 100, "x-dead-letter-exchange": x1})
    ch.queue_declare(m1)
    ch.queue_declare(m2)
    for q, x in ((q1, x1), (m1, x1), (q2, x2), (m2, x2)):
        ch.queue_bind(q, x)
    ch.basic_publish("", q1, b"c")
    m, p, body = wait_get(conn, ch, m1)
    assert body == b"c"
    assert [(d["queue"], d["reason"]) for d in p.headers["x-death"]] == \
        [(q2, "expired"), (q1, "expired")]
    settle(conn, 0.3)      # would have expired in q1 again by now
    assert queue_counts(ch, q1)[0] == 0 and queue_counts(ch, q2)[0] == 0
    assert queue_counts(ch, m1)[0] == 0 and queue_counts(ch, m2)[0] == 1
    m, p, _ = ch.basic_get(m2, auto_ack=True)
    assert [(d["queue"], d["reason"]) for d in p.headers["x-death"]] == [(q1, "expired")]


def test_expiry_self_loop_is_dropped(conn, names):
    ch = confirm_channel(conn)
    x = names.exchange()
    ch.exchange_declare(x, "fanout")
    q, mon = names.queue(), names.queue()
    ch.queue_declare(q, arguments={"x-message-ttl": 100, "x-dead-letter-exchange": x})
    ch.queue_declare(mon)
    ch.queue_bind(q, x)
    ch.queue_bind(mon, x)
    ch.basic_publish("", q, b"s")
    m, p, body = wait_get(conn, ch, mon)
    assert body == b"s" and p.headers["x-death"][0]["queue"] == q
    settle(conn, 0.2)
    assert queue_counts(ch, q)[0] == 0


@pytest.mark.tern_only
def test_last_death_headers(conn, names):
    # Tern writes x-last-death-* as RabbitMQ 3.13+ does (3.10 does not):
    # reason, queue and exchange of the newest death
    ch = confirm_channel(conn)
    x2, x3 = names.exchange(), names.exchange()
    ch.exchange_declare(x2, "fanout")
    ch.exchange_declare(x3, "fanout")
    q1, q2, dq = names.queue(), names.queue(), names.queue()
    ch.queue_declare(q1, arguments={"x-dead-letter-exchange": x2})
    ch.queue_declare(q2, arguments={"x-dead-letter-exchange": x3})
    ch.queue_declare(dq)
    ch.queue_bind(q2, x2)
    ch.queue_bind(dq, x3)
    ch.basic_publish("", q1, b"x")
    m, _, _ = get_one(ch, q1)
    ch.basic_reject(m.delivery_tag, requeue=False)
    assert wait_for(lambda: queue_counts(ch, q2)[0] == 1, conn, 2.0)
    m, p, _ = get_one(ch, q2)
    h = p.headers
    assert (h["x-last-death-reason"], h["x-last-death-queue"], h["x-last-death-exchange"]) \
        == ("rejected", q1, "")
    ch.basic_reject(m.delivery_tag, requeue=False)
    m, p, _ = wait_get(conn, ch, dq)
    h = p.headers
    assert (h["x-last-death-reason"], h["x-last-death-queue"], h["x-last-death-exchange"]) \
        == ("rejected", q2, x2)
    assert (h["x-first-death-reason"], h["x-first-death-queue"], h["x-first-death-exchange"]) \
        == ("rejected", q1, "")


# ------------------------------------------------------------------ delivery limit

def limited_queue(broker, ch, q, limit, dlx=None):
    """A queue with x-delivery-limit: classic on Tern, quorum (durable) on
    RabbitMQ, where 3.10 has the limit only on quorum queues."""
    args = {"x-delivery-limit": limit}
    if dlx:
        args["x-dead-letter-exchange"] = dlx
    if broker.is_rabbitmq:
        args["x-queue-type"] = "quorum"
        ch.queue_declare(q, durable=True, arguments=args)
    else:
        ch.queue_declare(q, arguments=args)


def delivery_count(p):
    return (p.headers or {}).get("x-delivery-count", 0)


def test_delivery_limit_dead_letters(broker, conn, names):
    ch = confirm_channel(conn)
    dlx, dq = dlx_with_queue(ch, names)
    q = names.queue()
    limited_queue(broker, ch, q, 2, dlx)
    ch.basic_publish("", q, b"poison", pika.BasicProperties(headers={"h": 1}))
    seen = []
    for _ in range(3):
        assert wait_for(lambda: queue_counts(ch, q)[0] == 1, conn, 2.0)
        m, p, _ = get_one(ch, q)
        seen.append((m.redelivered, delivery_count(p)))
        assert p.headers["h"] == 1
        ch.basic_nack(m.delivery_tag, requeue=True)
    assert seen == [(False, 0), (True, 1), (True, 2)]
    m, p, body = wait_get(conn, ch, dq)
    assert body == b"poison"
    d = p.headers["x-death"]
    assert len(d) == 1
    assert (d[0]["reason"], d[0]["queue"], d[0]["count"]) == ("delivery_limit", q, 1)
    assert d[0]["exchange"] == "" and d[0]["routing-keys"] == [q]
    assert "original-expiration" not in d[0]
    assert p.headers["x-first-death-reason"] == "delivery_limit"
    assert p.headers["h"] == 1
    assert queue_counts(ch, q)[0] == 0


def test_delivery_limit_without_dlx_drops(broker, conn, names):
    ch = confirm_channel(conn)
    q = names.queue()
    limited_queue(broker, ch, q, 1)
    ch.basic_publish("", q, b"poison")
    ch.basic_publish("", q, b"fine")
    cons = conn.channel()
    cons.basic_qos(prefetch_count=1)
    got = []

    def on_msg(c, m, p, b):
        got.append((b, m.redelivered, delivery_count(p)))
        if b == b"poison":
            c.basic_nack(m.delivery_tag, requeue=True)
        else:
            c.basic_ack(m.delivery_tag)

    cons.basic_consume(q, on_msg)
    assert pump(conn, lambda: len(got) >= 3, 2.0)
    settle(conn, 0.2)
    assert [g for g in got if g[0] == b"poison"] == [(b"poison", False, 0), (b"poison", True, 1)]
    assert (b"fine", False, 0) in got and len(got) == 3
    assert queue_counts(ch, q)[0] == 0


def test_delivery_count_consumer_reject(broker, conn, names):
    # basic.reject requeue=True counts the same as nack
    ch = confirm_channel(conn)
    q = names.queue()
    limited_queue(broker, ch, q, 5)
    ch.basic_publish("", q, b"x")
    cons = conn.channel()
    got = []

    def on_msg(c, m, p, b):
        got.append((m.redelivered, delivery_count(p)))
        c.basic_reject(m.delivery_tag, requeue=len(got) < 4)

    cons.basic_consume(q, on_msg)
    assert pump(conn, lambda: len(got) >= 4, 2.0)
    assert got == [(False, 0), (True, 1), (True, 2), (True, 3)]


@pytest.mark.tern_only
@pytest.mark.time_limit(30)
def test_delivery_count_survives_restart(restartable, names):
    b = restartable
    q = names.queue()
    c = b.connect()
    ch = confirm_channel(c)
    dlx, dq = dlx_with_queue(ch, names, durable=True)
    ch.queue_declare(q, durable=True, arguments={"x-delivery-limit": 2,
                                                 "x-dead-letter-exchange": dlx})
    ch.basic_publish("", q, b"poison", pika.BasicProperties(delivery_mode=2))
    for expect in (0, 1):
        m, p, _ = get_one(ch, q)
        assert delivery_count(p) == expect
        ch.basic_nack(m.delivery_tag, requeue=True)
    ch.exchange_declare("amq.direct", passive=True)      # the nacks are processed
    c.close()
    b.restart()
    c = b.connect()
    try:
        ch = c.channel()
        m, p, _ = get_one(ch, q)
        assert m.redelivered and delivery_count(p) == 2
        ch.basic_nack(m.delivery_tag, requeue=True)      # the third failure: limit 2
        m, p, body = wait_get(c, ch, dq)
        assert body == b"poison"
        assert p.headers["x-death"][0]["reason"] == "delivery_limit"
        assert queue_counts(ch, q)[0] == 0
    finally:
        c.close()
