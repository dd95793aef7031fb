"""exchange class and routing, end to end: declare/delete and their errors,
exchange-to-exchange bindings, alternate exchanges, internal exchanges,
topic and headers matching.

Reply texts noted are RabbitMQ 3.10.8's."""
import time

import pika
import pytest

from support.amqpraw import (
    BASIC_PUBLISH, QUEUE_BIND, QUEUE_BIND_OK, RawConnection,
    basic_publish_args, body_frame, headers_header_frame, method_frame,
    queue_bind_args, typed_table)
from support.helpers import channel_error, connection_error, drain, get_body, sync


# ------------------------------------------------------------------ declare

@pytest.mark.parametrize("xtype", ["direct", "fanout", "topic", "headers"])
def test_declare_each_type(ch, names, xtype):
    x = names.exchange()
    ok = ch.exchange_declare(x, xtype)
    assert ok.method.NAME == "Exchange.DeclareOk"
    # redeclare with the same attributes is fine; passive finds it
    ch.exchange_declare(x, xtype)
    ch.exchange_declare(x, passive=True)
    ch.exchange_delete(x)
    with channel_error(404, "NOT_FOUND - "):
        ch.exchange_declare(x, passive=True)


def test_passive_declare_missing(ch, names):
    # RabbitMQ: 404 "NOT_FOUND - no exchange '...' in vhost '/'"
    with channel_error(404, "NOT_FOUND - no exchange"):
        ch.exchange_declare(names.exchange(), passive=True)


def test_channel_usable_after_soft_error(conn, names):
    ch = conn.channel()
    with channel_error(404):
        ch.exchange_declare(names.exchange(), passive=True)
    assert conn.is_open
    ch2 = conn.channel()
    ch2.exchange_declare("amq.direct", passive=True)


def test_redeclare_with_other_type(ch, names):
    # RabbitMQ: 406 "PRECONDITION_FAILED - inequivalent arg 'type' for
    # exchange 'x' in vhost '/': received 'fanout' but current is 'direct'"
    x = names.exchange()
    ch.exchange_declare(x, "direct")
    with channel_error(406, "PRECONDITION_FAILED - inequivalent arg 'type'"):
        ch.exchange_declare(x, "fanout")


def test_redeclare_with_other_durability(conn, names):
    # RabbitMQ: 406 "PRECONDITION_FAILED - inequivalent arg 'durable' ..."
    x = names.exchange()
    ch = conn.channel()
    ch.exchange_declare(x, "direct")
    with channel_error(406, "PRECONDITION_FAILED - inequivalent arg 'durable'"):
        ch.exchange_declare(x, "direct", durable=True)
    ch = conn.channel()
    with channel_error(406, "PRECONDITION_FAILED - inequivalent arg 'auto_delete'"):
        ch.exchange_declare(x, "direct", auto_delete=True)


def test_passive_declare_ignores_type(ch, names):
    # RabbitMQ: passive declare only checks existence
    x = names.exchange()
    ch.exchange_declare(x, "direct")
    ch.exchange_declare(x, "fanout", passive=True)


def test_declare_reserved_amq_prefix(ch):
    # RabbitMQ: 403 "ACCESS_REFUSED - exchange name 'amq.foo' contains
    # reserved prefix 'amq.*'"
    with channel_error(403, "ACCESS_REFUSED - "):
        ch.exchange_declare("amq.foo", "direct")


def test_redeclare_builtin_exchange_equivalently(ch):
    # amq.* exchanges exist and are durable; an equivalent declare is fine
    for name, xtype in (("amq.direct", "direct"), ("amq.fanout", "fanout"),
                        ("amq.topic", "topic"), ("amq.headers", "headers"),
                        ("amq.match", "headers")):
        ch.exchange_declare(name, xtype, durable=True)
        ch.exchange_declare(name, passive=True)


def test_delete_builtin_exchange(ch):
    # RabbitMQ: 403 "ACCESS_REFUSED - deletion of system exchange
    # 'amq.direct' in vhost '/' not allowed"
    with channel_error(403, "ACCESS_REFUSED - "):
        ch.exchange_delete("amq.direct")


def test_default_exchange_is_off_limits(conn, names):
    # RabbitMQ: 403 "ACCESS_REFUSED - operation not permitted on the default
    # exchange" for delete, declare and bind
    q = names.queue()
    ch = conn.channel()
    ch.queue_declare(q)
    with channel_error(403, "ACCESS_REFUSED - "):
        ch.exchange_delete("")
    ch = conn.channel()
    with channel_error(403, "ACCESS_REFUSED - "):
        ch.queue_bind(q, "", "k")
    ch = conn.channel()
    ch.queue_delete(q)


def test_unknown_exchange_type(ch, names):
    # RabbitMQ: CONNECTION error 503 "COMMAND_INVALID - unknown exchange type
    # 'no-such-type'"
    with connection_error(503, "COMMAND_INVALID - "):
        ch.exchange_declare(names.exchange(), "no-such-type")


def test_delete_missing_exchange_is_ok(ch, names):
    # RabbitMQ 3.x: exchange.delete of a missing exchange succeeds
    ch.exchange_delete(names.exchange())


def test_delete_if_unused(conn, names):
    # RabbitMQ: 406 "PRECONDITION_FAILED - exchange '...' in vhost '/' in use"
    x, q = names.exchange(), names.queue()
    ch = conn.channel()
    ch.exchange_declare(x, "direct")
    ch.queue_declare(q)
    ch.queue_bind(q, x, "k")
    with channel_error(406, "PRECONDITION_FAILED - "):
        ch.exchange_delete(x, if_unused=True)
    ch = conn.channel()
    ch.exchange_declare(x, passive=True)     # still there
    ch.queue_unbind(q, x, "k")
    ch.exchange_delete(x, if_unused=True)
    with channel_error(404):
        ch.exchange_declare(x, passive=True)


def test_delete_exchange_removes_its_bindings(ch, names):
    x, q = names.exchange(), names.queue()
    ch.exchange_declare(x, "fanout")
    ch.queue_declare(q)
    ch.queue_bind(q, x)
    ch.exchange_delete(x)
    ch.exchange_declare(x, "fanout")          # fresh exchange, no bindings
    ch.basic_publish(x, "", b"m")
    sync(ch)
    assert get_body(ch, q) is None


def test_auto_delete_exchange_goes_with_last_binding(ch, names):
    x, q = names.exchange(), names.queue()
    ch.exchange_declare(x, "direct", auto_delete=True)
    ch.queue_declare(q)
    ch.queue_bind(q, x, "k")
    ch.exchange_declare(x, passive=True)
    ch.queue_unbind(q, x, "k")
    with channel_error(404):
        ch.exchange_declare(x, passive=True)


def test_bind_errors(conn, names):
    # RabbitMQ: 404 "NOT_FOUND - no exchange ..." / "NOT_FOUND - no queue ..."
    x, q = names.exchange(), names.queue()
    ch = conn.channel()
    ch.exchange_declare(x, "direct")
    ch.queue_declare(q)
    with channel_error(404, "NOT_FOUND - no exchange"):
        ch.queue_bind(q, names.exchange(), "k")
    ch = conn.channel()
    with channel_error(404, "NOT_FOUND - no queue"):
        ch.queue_bind(names.queue(), x, "k")
    ch = conn.channel()
    with channel_error(404, "NOT_FOUND - no exchange"):
        ch.exchange_bind(x, names.exchange(), "k")
    ch = conn.channel()
    with channel_error(404, "NOT_FOUND - no exchange"):
        ch.exchange_bind(names.exchange(), x, "k")


def test_unbind_of_what_is_not_bound_succeeds(conn, names):
    """RabbitMQ 3.10.8 looks for the binding before its ends: queue.unbind and
    exchange.unbind answer unbind-ok when there is no such binding, even when
    the queue or either exchange does not exist (aio-pika's RPC.close unbinds
    an auto-delete queue that its basic.cancel has just deleted). The default
    exchange is still refused, 403 as for bind."""
    x, q = names.exchange(), names.queue()
    gone_x, gone_q = names.exchange(), names.queue()
    ch = conn.channel()
    ch.exchange_declare(x, "direct")
    ch.queue_declare(q)
    ch.queue_unbind(gone_q, x, "k")                 # no queue
    ch.queue_unbind(q, gone_x, "k")                 # no exchange
    ch.queue_unbind(gone_q, gone_x, "k")            # neither
    ch.queue_unbind(gone_q, "amq.direct", "k")
    ch.exchange_unbind(gone_x, x, "k")              # no destination
    ch.exchange_unbind(x, gone_x, "k")              # no source
    ch.exchange_unbind(gone_x, names.exchange(), "k")
    ch.queue_declare(q, passive=True)               # the channel is still open
    for name in (gone_q, gone_x):                   # and nothing was created
        c = conn.channel()
        with channel_error(404, "NOT_FOUND - "):
            if name == gone_q:
                c.queue_declare(name, passive=True)
            else:
                c.exchange_declare(name, passive=True)
    with channel_error(403, "ACCESS_REFUSED - operation not permitted on the default exchange"):
        ch.queue_unbind(gone_q, "", "k")


def test_publish_to_missing_exchange(ch, names):
    # RabbitMQ: 404 "NOT_FOUND - no exchange '...' in vhost '/'" (channel
    # closed asynchronously, seen at the next synchronous call)
    ch.basic_publish(names.exchange(), "k", b"m")
    with channel_error(404, "NOT_FOUND - no exchange"):
        sync(ch)


# ------------------------------------------------------------------ routing basics

def test_direct_routing(ch, names):
    x, q1, q2 = names.exchange(), names.queue(), names.queue()
    ch.exchange_declare(x, "direct")
    for q in (q1, q2):
        ch.queue_declare(q)
    ch.queue_bind(q1, x, "a")
    ch.queue_bind(q2, x, "b")
    ch.queue_bind(q2, x, "a")
    ch.basic_publish(x, "a", b"to-a")
    ch.basic_publish(x, "b", b"to-b")
    ch.basic_publish(x, "c", b"to-c")
    sync(ch)
    assert drain(ch, q1) == [b"to-a"]
    assert drain(ch, q2) == [b"to-a", b"to-b"]


def test_same_queue_bound_twice_gets_one_copy(ch, names):
    # two bindings matching the same message deliver it once per queue
    x, q = names.exchange(), names.queue()
    ch.exchange_declare(x, "topic")
    ch.queue_declare(q)
    ch.queue_bind(q, x, "a.*")
    ch.queue_bind(q, x, "#")
    ch.basic_publish(x, "a.b", b"once")
    sync(ch)
    assert drain(ch, q) == [b"once"]


def test_fanout_ignores_routing_key(ch, names):
    x = names.exchange()
    qs = [names.queue() for _ in range(3)]
    ch.exchange_declare(x, "fanout")
    for q in qs:
        ch.queue_declare(q)
        ch.queue_bind(q, x, "ignored-" + q)
    ch.basic_publish(x, "whatever", b"all")
    sync(ch)
    for q in qs:
        assert drain(ch, q) == [b"all"]


def test_default_exchange_routes_by_queue_name(ch, names):
    q = names.queue()
    ch.queue_declare(q)
    ch.basic_publish("", q, b"direct-to-queue")
    ch.basic_publish("", "no-such-queue-" + q, b"dropped")
    sync(ch)
    assert drain(ch, q) == [b"direct-to-queue"]


def test_unbind_stops_routing(ch, names):
    x, q = names.exchange(), names.queue()
    ch.exchange_declare(x, "direct")
    ch.queue_declare(q)
    ch.queue_bind(q, x, "k")
    ch.basic_publish(x, "k", b"1")
    ch.queue_unbind(q, x, "k")
    ch.basic_publish(x, "k", b"2")
    sync(ch)
    assert drain(ch, q) == [b"1"]
    ch.queue_unbind(q, x, "never-bound")      # RabbitMQ: unbind-ok anyway


# ------------------------------------------------------------------ exchange-to-exchange

def test_exchange_to_exchange_bind_and_unbind(ch, names):
    src, dst, q = names.exchange(), names.exchange(), names.queue()
    ch.exchange_declare(src, "topic")
    ch.exchange_declare(dst, "fanout")
    ch.queue_declare(q)
    ch.queue_bind(q, dst)
    ch.exchange_bind(destination=dst, source=src, routing_key="a.*")
    ch.basic_publish(src, "a.b", b"via-e2e")
    ch.basic_publish(src, "b.b", b"filtered")
    sync(ch)
    assert drain(ch, q) == [b"via-e2e"]
    ch.exchange_unbind(destination=dst, source=src, routing_key="a.*")
    ch.basic_publish(src, "a.b", b"after-unbind")
    sync(ch)
    assert drain(ch, q) == []


def test_exchange_to_exchange_chain_and_dedup(ch, names):
    # src -> mid1 -> q and src -> mid2 -> q: q still gets one copy
    src, m1, m2, q = names.exchange(), names.exchange(), names.exchange(), names.queue()
    for x in (src, m1, m2):
        ch.exchange_declare(x, "fanout")
    ch.queue_declare(q)
    ch.exchange_bind(m1, src)
    ch.exchange_bind(m2, src)
    ch.queue_bind(q, m1)
    ch.queue_bind(q, m2)
    ch.basic_publish(src, "", b"one-copy")
    sync(ch)
    assert drain(ch, q) == [b"one-copy"]


def test_exchange_binding_cycle_terminates(ch, names):
    # a <-> b cycle with a queue on b: the message arrives once, no loop
    a, b, q = names.exchange(), names.exchange(), names.queue()
    ch.exchange_declare(a, "fanout")
    ch.exchange_declare(b, "fanout")
    ch.queue_declare(q)
    ch.exchange_bind(b, a)
    ch.exchange_bind(a, b)
    ch.queue_bind(q, b)
    ch.basic_publish(a, "", b"cycle")
    sync(ch)
    assert drain(ch, q) == [b"cycle"]


# ------------------------------------------------------------------ alternate exchange

def test_alternate_exchange(ch, names):
    x, ae, q_main, q_ae = names.exchange(), names.exchange(), names.queue(), names.queue()
    ch.exchange_declare(ae, "fanout")
    ch.exchange_declare(x, "direct", arguments={"alternate-exchange": ae})
    ch.queue_declare(q_main)
    ch.queue_declare(q_ae)
    ch.queue_bind(q_main, x, "known")
    ch.queue_bind(q_ae, ae)
    ch.basic_publish(x, "known", b"routed")
    ch.basic_publish(x, "unknown", b"to-ae")
    sync(ch)
    assert drain(ch, q_main) == [b"routed"]
    assert drain(ch, q_ae) == [b"to-ae"]


def test_alternate_exchange_makes_mandatory_routable(conn, names):
    # a message the AE routes is not returned even when mandatory
    x, ae, q = names.exchange(), names.exchange(), names.queue()
    ch = conn.channel()
    returned = []
    ch.add_on_return_callback(lambda c, m, p, b: returned.append(b))
    ch.exchange_declare(ae, "fanout")
    ch.exchange_declare(x, "direct", arguments={"alternate-exchange": ae})
    ch.queue_declare(q)
    ch.queue_bind(q, ae)
    ch.basic_publish(x, "nowhere", b"m", mandatory=True)
    sync(ch)
    conn.process_data_events(time_limit=0.1)
    assert returned == []
    assert drain(ch, q) == [b"m"]


def test_missing_alternate_exchange_drops(ch, names):
    # AE named but absent: the message is dropped, nothing breaks
    x, q = names.exchange(), names.queue()
    ch.exchange_declare(x, "direct", arguments={"alternate-exchange": names.exchange()})
    ch.queue_declare(q)
    ch.queue_bind(q, x, "k")
    ch.basic_publish(x, "other", b"dropped")
    ch.basic_publish(x, "k", b"kept")
    sync(ch)
    assert drain(ch, q) == [b"kept"]


# ------------------------------------------------------------------ internal exchange

def test_internal_exchange_refuses_publish(conn, names):
    # RabbitMQ: 403 "ACCESS_REFUSED - cannot publish to internal exchange
    # '...' in vhost '/'"
    x = names.exchange()
    ch = conn.channel()
    ch.exchange_declare(x, "fanout", internal=True)
    ch.basic_publish(x, "", b"m")
    with channel_error(403, "ACCESS_REFUSED - "):
        sync(ch)


def test_internal_exchange_reachable_via_e2e_binding(ch, names):
    src, internal, q = names.exchange(), names.exchange(), names.queue()
    ch.exchange_declare(src, "fanout")
    ch.exchange_declare(internal, "fanout", internal=True)
    ch.queue_declare(q)
    ch.queue_bind(q, internal)
    ch.exchange_bind(internal, src)
    ch.basic_publish(src, "", b"through")
    sync(ch)
    assert drain(ch, q) == [b"through"]


# ------------------------------------------------------------------ topic

# RabbitMQ 3.10.8 results, including the empty-word corner cases: "" is zero
# words, "a." is two words ("a", ""), "*" needs exactly one word, "#" any
# number including zero.
TOPIC_KEYS = ["", "a", "a.", ".a", ".", "a.b", "a..b", "a.x.b", "a.x.y.b",
              "b.a", "a.a", "ab", ".."]
TOPIC_CASES = {
    "*": ["a", "ab"],
    "#": TOPIC_KEYS,
    "a.*": ["a.", "a.b", "a.a"],
    "*.a": [".a", "b.a", "a.a"],
    "#.a": ["a", ".a", "b.a", "a.a"],
    "a.#": ["a", "a.", "a.b", "a..b", "a.x.b", "a.x.y.b", "a.a"],
    "a.#.b": ["a.b", "a..b", "a.x.b", "a.x.y.b"],
    "#.#": TOPIC_KEYS,
    "*.*": ["a.", ".a", ".", "a.b", "b.a", "a.a"],
    "a..b": ["a..b"],
    "a.*.b": ["a..b", "a.x.b"],
    "": [""],
    "a": ["a"],
    "*.#": [k for k in TOPIC_KEYS if k != ""],
    "#.*": [k for k in TOPIC_KEYS if k != ""],
}


def test_topic_matching_matrix(ch, names):
    x = names.exchange()
    ch.exchange_declare(x, "topic")
    queues = {}
    for pattern in TOPIC_CASES:
        q = names.queue()
        ch.queue_declare(q)
        ch.queue_bind(q, x, pattern)
        queues[pattern] = q
    for key in TOPIC_KEYS:
        ch.basic_publish(x, key, ("<%s>" % key).encode())
    sync(ch)
    wrong = {}
    for pattern, q in queues.items():
        got = [b.decode()[1:-1] for b in drain(ch, q)]
        if got != TOPIC_CASES[pattern]:
            wrong[pattern] = (got, TOPIC_CASES[pattern])
    assert not wrong, "pattern: (got, expected) %r" % wrong


def test_topic_typical_keys(ch, names):
    x = names.exchange()
    ch.exchange_declare(x, "topic")
    q_star, q_hash = names.queue(), names.queue()
    ch.queue_declare(q_star)
    ch.queue_declare(q_hash)
    ch.queue_bind(q_star, x, "stock.*.nyse")
    ch.queue_bind(q_hash, x, "stock.#")
    for key in ("stock.ibm.nyse", "stock.ibm.nasdaq", "stock.ibm.nyse.extra",
                "stock", "bond.ibm.nyse"):
        ch.basic_publish(x, key, key.encode())
    sync(ch)
    assert drain(ch, q_star) == [b"stock.ibm.nyse"]
    assert drain(ch, q_hash) == [b"stock.ibm.nyse", b"stock.ibm.nasdaq",
                                 b"stock.ibm.nyse.extra", b"stock"]


def test_topic_unbind_one_of_overlapping_patterns(ch, names):
    x, q = names.exchange(), names.queue()
    ch.exchange_declare(x, "topic")
    ch.queue_declare(q)
    ch.queue_bind(q, x, "a.*")
    ch.queue_bind(q, x, "a.b")
    ch.queue_unbind(q, x, "a.*")
    for key in ("a.b", "a.c"):
        ch.basic_publish(x, key, key.encode())
    sync(ch)
    assert drain(ch, q) == [b"a.b"]


# ------------------------------------------------------------------ headers

def _headers_setup(ch, names, bindings):
    x = names.exchange()
    ch.exchange_declare(x, "headers")
    qs = []
    for args in bindings:
        q = names.queue()
        ch.queue_declare(q)
        ch.queue_bind(q, x, "", arguments=args)
        qs.append(q)
    return x, qs


def test_headers_all_and_any(ch, names):
    x, (q_all, q_any) = _headers_setup(ch, names, [
        {"x-match": "all", "format": "pdf", "type": "report"},
        {"x-match": "any", "format": "pdf", "type": "report"},
    ])
    msgs = [({"format": "pdf", "type": "report"}, b"both"),
            ({"format": "pdf"}, b"format-only"),
            ({"type": "report", "extra": "x"}, b"type-only"),
            ({"format": "zip", "type": "log"}, b"neither"),
            ({}, b"empty"),
            (None, b"no-headers")]
    for headers, body in msgs:
        ch.basic_publish(x, "ignored", body, pika.BasicProperties(headers=headers))
    sync(ch)
    assert drain(ch, q_all) == [b"both"]
    assert drain(ch, q_any) == [b"both", b"format-only", b"type-only"]


def test_headers_default_x_match_is_all(ch, names):
    x, (q,) = _headers_setup(ch, names, [{"a": "1", "b": "2"}])
    ch.basic_publish(x, "", b"a-only", pika.BasicProperties(headers={"a": "1"}))
    ch.basic_publish(x, "", b"both", pika.BasicProperties(headers={"a": "1", "b": "2"}))
    sync(ch)
    assert drain(ch, q) == [b"both"]


def test_headers_empty_binding(ch, names):
    # RabbitMQ: all with no conditions matches everything, any matches nothing
    x, (q_all, q_any) = _headers_setup(ch, names, [{"x-match": "all"}, {"x-match": "any"}])
    ch.basic_publish(x, "", b"m", pika.BasicProperties(headers={"z": "q"}))
    sync(ch)
    assert drain(ch, q_all) == [b"m"]
    assert drain(ch, q_any) == []


def test_headers_invalid_x_match(ch, names):
    # RabbitMQ: 406 "PRECONDITION_FAILED - Invalid x-match field value
    # <<"foo">>; expected all, any, all-with-x, or any-with-x"
    x, q = names.exchange(), names.queue()
    ch.exchange_declare(x, "headers")
    ch.queue_declare(q)
    with channel_error(406, "PRECONDITION_FAILED - "):
        ch.queue_bind(q, x, "", arguments={"x-match": "foo"})


# Integer header values are compared by value whatever their width: RabbitMQ
# matches a binding value of one integer type against a message value of any
# other (b B s u I i l: all 49 pairs checked on 3.10.8). Values are sent with
# raw frames so the exact type letter is under the test's control.
INT_TYPES = ["b", "B", "s", "u", "I", "i", "l"]


def _raw_bind(c, q, x, items):
    c.send_method(1, QUEUE_BIND, queue_bind_args(q, x, "", arguments=typed_table(items)))
    c.read_method(QUEUE_BIND_OK, channel=1)


def _raw_publish_headers(c, x, items, body):
    c.send(method_frame(1, BASIC_PUBLISH, basic_publish_args(x, "")) +
           headers_header_frame(1, len(body), typed_table(items)) + body_frame(1, body))


def test_headers_integer_widths(broker, ch, names):
    x = names.exchange()
    ch.exchange_declare(x, "headers")
    with RawConnection(broker.host, broker.port) as c:
        c.handshake(broker.user, broker.password, broker.vhost)
        c.open_channel(1)
        queues = {}
        for bt in INT_TYPES:
            q = names.queue()
            ch.queue_declare(q)
            _raw_bind(c, q, x, [("x-match", "S", "all"), ("n", bt, 5)])
            queues[bt] = q
        for pt in INT_TYPES:
            _raw_publish_headers(c, x, [("n", pt, 5)], pt.encode())
        _raw_publish_headers(c, x, [("n", "l", 6)], b"six")           # other value
        _raw_publish_headers(c, x, [("n", "S", "5")], b"string")      # other type class
        # a synchronous round trip on the raw connection orders the publishes
        _raw_bind(c, queues["b"], x, [("x-match", "S", "all"), ("sync", "S", "1")])
    sync(ch)
    for bt, q in queues.items():
        got = sorted(b.decode() for b in drain(ch, q))
        assert got == sorted(INT_TYPES), "binding type %s got %r" % (bt, got)


def test_headers_negative_and_void(broker, ch, names):
    x = names.exchange()
    ch.exchange_declare(x, "headers")
    q_neg, q_void = names.queue(), names.queue()
    ch.queue_declare(q_neg)
    ch.queue_declare(q_void)
    with RawConnection(broker.host, broker.port) as c:
        c.handshake(broker.user, broker.password, broker.vhost)
        c.open_channel(1)
        _raw_bind(c, q_neg, x, [("x-match", "S", "all"), ("n", "b", -1)])
        # a void value in the binding means "header present, any value"
        _raw_bind(c, q_void, x, [("x-match", "S", "all"), ("k", "V", None)])
        _raw_publish_headers(c, x, [("n", "l", -1)], b"minus-one")
        _raw_publish_headers(c, x, [("n", "B", 255)], b"255")      # not -1
        _raw_publish_headers(c, x, [("k", "S", "anything")], b"k-present")
        _raw_publish_headers(c, x, [("j", "S", "anything")], b"k-absent")
        _raw_bind(c, q_neg, x, [("x-match", "S", "all"), ("sync", "S", "1")])
    sync(ch)
    assert drain(ch, q_neg) == [b"minus-one"]
    assert drain(ch, q_void) == [b"k-present"]


def test_headers_x_keys_ignored_unless_with_x(ch, names):
    # RabbitMQ: "x-" binding arguments are not match conditions for all/any;
    # all-with-x / any-with-x (3.10+) include them
    x, (q_any, q_anyx) = _headers_setup(ch, names, [
        {"x-match": "any", "x-foo": "bar"},
        {"x-match": "any-with-x", "x-foo": "bar"},
    ])
    ch.basic_publish(x, "", b"m", pika.BasicProperties(headers={"x-foo": "bar"}))
    sync(ch)
    assert drain(ch, q_any) == []
    assert drain(ch, q_anyx) == [b"m"]
