"""Direct reply-to (RabbitMQ's amq.rabbitmq.reply-to pseudo-queue): RPC
replies that go straight back to the requesting channel, with no queue.

Every expectation here was checked against RabbitMQ 3.10.8 on this machine
(BROKER_URL=amqp://guest:guest@127.0.0.1:5672/), which does:
  * consume amq.rabbitmq.reply-to with acks: channel.close 406
    "PRECONDITION_FAILED - reply consumer cannot acknowledge" (60,20); a
    second reply consumer on the channel: 406 "... reply consumer already
    set"; an empty tag gets "amq.ctag-" + 22 base64url characters;
  * a publish with reply_to = amq.rabbitmq.reply-to from a channel without a
    reply consumer: 406 "PRECONDITION_FAILED - fast reply consumer does not
    exist" (60,40); from a consuming channel the request carries reply_to =
    amq.rabbitmq.reply-to.<opaque>, other properties untouched;
  * a reply published to the default exchange under that name arrives as
    basic.deliver with the reply consumer's tag, exchange "", that routing
    key, redelivered false and the channel's next delivery tag, which is
    not used up (the next real delivery gets it too);
  * a mandatory reply is always returned (312 NO_ROUTE), delivered or not;
    a reply to a requester that cancelled or went away is dropped;
  * queue.declare (passive or not) of amq.rabbitmq.reply-to, or of a live
    reply name: declare-ok with 0 messages and 1 consumer, no permission
    needed; of a dead or made-up name, or any other amq.rabbitmq.reply-to*
    name: 404 "NOT_FOUND - no queue 'NAME' in vhost '/'";
  * basic.get on the pseudo-queue: 404; a reply consumer with the tag of
    one of the channel's consumers: 530 "NOT_ALLOWED - attempt to reuse
    consumer tag 'T'" on the connection;
  * the replier needs write permission on amq.default, the requester no
    read permission.
One deliberate difference (tern_only): a reply published inside a
transaction is delivered at tx.commit (and never after tx.rollback);
RabbitMQ 3.10.8 delivers it at once, before the commit.
"""
import re
import struct
import uuid

import pika
import pytest

from support import defs as D
from support.amqpraw import (
    BASIC_CONSUME, BASIC_CONSUME_OK, BASIC_PUBLISH, CHANNEL_CLOSE, basic_publish_args, bits,
    body_frame, header_frame, method_frame, shortstr, table)
from support.helpers import Collector, channel_error, pump, settle, sync

PSEUDO = "amq.rabbitmq.reply-to"
REPLY_TO_FLAG = 0x0200   # basic properties: reply-to present


class Rpc:
    """A requester (reply consumer on its own connection) and a server
    connection holding a request queue."""

    def __init__(self, broker, names):
        self.client = broker.connect()
        self.cch = self.client.channel()
        self.got = Collector()
        self.tag = self.cch.basic_consume(PSEUDO, self.got.cb(), auto_ack=True)
        self.server = broker.connect()
        self.sch = self.server.channel()
        self.q = names.queue()
        self.sch.queue_declare(self.q)
        self.returned = []
        self.sch.add_on_return_callback(
            lambda c, m, p, b: self.returned.append((m.reply_code, m.reply_text, m.routing_key, b)))

    def request(self, body=b"req", **props):
        """Publish a request; return (properties, body) as the server gets it."""
        self.cch.basic_publish("", self.q, body,
                               pika.BasicProperties(reply_to=PSEUDO, **props))
        holder = []

        def take():
            m, p, b = self.sch.basic_get(self.q, auto_ack=True)
            if m is not None:
                holder.append((p, b))
            return holder
        assert pump([self.client, self.server], take), "the request never reached the queue"
        return holder[0]

    def reply(self, name, body, mandatory=False, **props):
        self.sch.basic_publish("", name, body, pika.BasicProperties(**props) if props else None,
                               mandatory=mandatory)

    def wait_replies(self, n):
        return pump([self.client, self.server], lambda: len(self.got) >= n)

    def close(self):
        for c in (self.client, self.server):
            if c.is_open:
                c.close()


@pytest.fixture
def rpc(broker, names):
    r = Rpc(broker, names)
    yield r
    r.close()


def test_capability_advertised(conn):
    assert conn._impl.server_properties["capabilities"].get("direct_reply_to") is True


def test_round_trip(rpc):
    props, body = rpc.request(b"ping", correlation_id="c-1", headers={"h": 1})
    assert body == b"ping"
    name = props.reply_to
    assert name.startswith(PSEUDO + ".") and len(name) > len(PSEUDO) + 16, name
    assert props.correlation_id == "c-1" and props.headers == {"h": 1}
    rpc.reply(name, b"pong", correlation_id="c-1")
    assert rpc.wait_replies(1)
    _, m, p, b = rpc.got.items[0]
    assert b == b"pong" and p.correlation_id == "c-1"
    assert m.consumer_tag == rpc.tag
    assert m.exchange == "" and m.routing_key == name
    assert m.redelivered is False


def test_names_differ_per_channel_and_per_consume(rpc, broker):
    first, _ = rpc.request()
    other = broker.connect()
    try:
        och = other.channel()
        och.basic_consume(PSEUDO, lambda *a: None, auto_ack=True)
        och.basic_publish("", rpc.q, b"x", pika.BasicProperties(reply_to=PSEUDO))
        m = None
        for _ in range(100):
            m, p, _ = rpc.sch.basic_get(rpc.q, auto_ack=True)
            if m:
                break
            other.process_data_events(0.02)
        assert m is not None
        assert p.reply_to != first.reply_to
    finally:
        other.close()
    # cancelling and consuming again gives a new name; the old one is dead
    rpc.cch.basic_cancel(rpc.tag)
    rpc.tag = rpc.cch.basic_consume(PSEUDO, rpc.got.cb(), auto_ack=True)
    second, _ = rpc.request()
    assert second.reply_to != first.reply_to
    rpc.reply(first.reply_to, b"to the old name")
    rpc.reply(second.reply_to, b"to the new name")
    assert rpc.wait_replies(1)
    settle([rpc.client, rpc.server])
    assert rpc.got.bodies() == [b"to the new name"]


def test_consume_with_acks_refused(ch):
    with channel_error(406, "PRECONDITION_FAILED - reply consumer cannot acknowledge"):
        ch.basic_consume(PSEUDO, lambda *a: None, auto_ack=False)


def test_second_reply_consumer_refused(ch):
    ch.basic_consume(PSEUDO, lambda *a: None, auto_ack=True)
    with channel_error(406, "PRECONDITION_FAILED - reply consumer already set"):
        ch.basic_consume(PSEUDO, lambda *a: None, auto_ack=True)


def test_publish_without_reply_consumer_refused(ch, names):
    q = names.queue()
    ch.queue_declare(q)
    with channel_error(406, "PRECONDITION_FAILED - fast reply consumer does not exist"):
        ch.basic_publish("", q, b"x", pika.BasicProperties(reply_to=PSEUDO))
        sync(ch)


def test_other_reply_to_values_untouched(ch, names):
    q = names.queue()
    ch.queue_declare(q)
    ch.basic_publish("", q, b"x", pika.BasicProperties(reply_to=PSEUDO + "-not"))
    m, p, _ = ch.basic_get(q, auto_ack=True)
    assert p.reply_to == PSEUDO + "-not"


def test_errors_on_the_wire(broker):
    # class and method of each refusal, and the generated tag's form
    with broker.raw() as raw:
        raw.handshake(broker.user, broker.password, broker.vhost)
        raw.open_channel(1)
        consume = lambda no_ack: (struct.pack(">H", 0) + shortstr(PSEUDO) + shortstr("") +
                                  bits(False, no_ack, False, False) + table({}))
        raw.send_method(1, BASIC_CONSUME, consume(False))
        code, text, cls, meth = raw.expect_channel_close(1)
        assert (code, cls, meth) == (406, 60, 20), (code, text, cls, meth)
        raw.open_channel(2)
        raw.send(method_frame(2, BASIC_PUBLISH, basic_publish_args("", "nowhere")) +
                 header_frame(2, 1, flags=REPLY_TO_FLAG, props=shortstr(PSEUDO)) +
                 body_frame(2, b"x"))
        code, text, cls, meth = raw.expect_channel_close(2)
        assert (code, cls, meth) == (406, 60, 40), (code, text, cls, meth)
        assert text == "PRECONDITION_FAILED - fast reply consumer does not exist"
        raw.open_channel(3)
        raw.send_method(3, BASIC_CONSUME, consume(True))
        f = raw.read_method(BASIC_CONSUME_OK, channel=3)
        tag = f.payload[5:5 + f.payload[4]].decode()
        assert re.fullmatch(r"amq\.ctag-[A-Za-z0-9_-]{22}", tag), tag


def test_reply_consumer_tag_reuse(broker, names):
    q = names.queue()
    with broker.raw() as raw:
        raw.handshake(broker.user, broker.password, broker.vhost)
        raw.open_channel(1)
        raw.declare_queue(q, exclusive=False)
        for queue in (q, PSEUDO):
            raw.send_method(1, BASIC_CONSUME, struct.pack(">H", 0) + shortstr(queue) +
                            shortstr("same") + bits(False, True, False, False) + table({}))
        # (RabbitMQ's consume-ok for the first may come after the close)
        code, text, cls, meth = raw.expect_close(530)
        assert text == "NOT_ALLOWED - attempt to reuse consumer tag 'same'"
        assert (cls, meth) == (60, 20)


@pytest.mark.tern_only
def test_reply_in_a_transaction_waits_for_commit(rpc):
    props, _ = rpc.request()
    rpc.sch.tx_select()
    rpc.reply(props.reply_to, b"rolled back")
    rpc.sch.tx_rollback()
    rpc.reply(props.reply_to, b"committed")
    settle([rpc.client, rpc.server])
    assert len(rpc.got) == 0
    rpc.sch.tx_commit()
    assert rpc.wait_replies(1)
    settle([rpc.client, rpc.server])
    assert rpc.got.bodies() == [b"committed"]


def test_mandatory_reply_is_returned_even_when_delivered(rpc):
    props, _ = rpc.request()
    rpc.reply(props.reply_to, b"r1", mandatory=True)
    assert rpc.wait_replies(1)
    assert pump([rpc.client, rpc.server], lambda: rpc.returned)
    assert rpc.returned == [(312, "NO_ROUTE", props.reply_to, b"r1")]
    assert rpc.got.bodies() == [b"r1"]


def test_reply_with_confirms_is_acked(rpc):
    props, _ = rpc.request()
    rpc.sch.confirm_delivery()
    rpc.reply(props.reply_to, b"confirmed")   # raises if nacked
    assert rpc.wait_replies(1)


def test_reply_to_gone_requester_is_dropped(rpc):
    props, _ = rpc.request()
    rpc.client.close()
    rpc.reply(props.reply_to, b"nobody home")
    rpc.reply(props.reply_to, b"nobody home, mandatory", mandatory=True)
    assert pump(rpc.server, lambda: rpc.returned)
    assert rpc.returned == [(312, "NO_ROUTE", props.reply_to, b"nobody home, mandatory")]
    sync(rpc.sch)   # the replier's channel is fine
    with channel_error(404, "NOT_FOUND - no queue '%s' in vhost '/'" % props.reply_to):
        rpc.sch.queue_declare(props.reply_to, passive=True)


def test_reply_after_cancel_is_dropped(rpc):
    props, _ = rpc.request()
    rpc.cch.basic_cancel(rpc.tag)
    rpc.reply(props.reply_to, b"too late")
    settle([rpc.client, rpc.server])
    assert len(rpc.got) == 0
    assert rpc.cch.is_open


def test_made_up_name_reaches_nobody(rpc):
    props, _ = rpc.request()
    forged = props.reply_to[:-4] + ("AAAA" if not props.reply_to.endswith("AAAA") else "BBBB")
    rpc.reply(forged, b"forged")
    rpc.reply(PSEUDO + ".garbage", b"garbage")
    settle([rpc.client, rpc.server])
    assert len(rpc.got) == 0
    with channel_error(404, "NOT_FOUND - no queue '%s' in vhost '/'" % forged):
        rpc.sch.queue_declare(forged, passive=True)


def test_declare_answers(rpc, broker):
    props, _ = rpc.request()
    for passive in (True, False):
        ok = rpc.sch.queue_declare(PSEUDO, passive=passive).method
        assert (ok.queue, ok.message_count, ok.consumer_count) == (PSEUDO, 0, 1)
    ok = rpc.sch.queue_declare(props.reply_to, passive=True).method
    assert (ok.queue, ok.message_count, ok.consumer_count) == (props.reply_to, 0, 1)
    for name in (PSEUDO + "x", PSEUDO + ".garbage"):
        ch = rpc.server.channel()
        with channel_error(404, "NOT_FOUND - no queue '%s' in vhost '/'" % name):
            ch.queue_declare(name, passive=True)
    ch = rpc.server.channel()
    with channel_error(404, "NOT_FOUND - no queue '%s' in vhost '/'" % PSEUDO):
        ch.basic_get(PSEUDO)


def test_reply_delivery_tag_is_the_next_one_unused(rpc, names):
    # a normal consumer with acks on the requester's channel too
    q2 = names.queue()
    rpc.cch.queue_declare(q2)
    tags = []
    rpc.cch.basic_consume(q2, lambda c, m, p, b: tags.append(("normal", m.delivery_tag)))
    props, _ = rpc.request()
    rpc.reply(props.reply_to, b"r1")
    assert rpc.wait_replies(1)
    rpc.cch.basic_publish("", q2, b"n1")
    assert pump([rpc.client, rpc.server], lambda: len(tags) >= 1)
    rpc.reply(props.reply_to, b"r2")
    assert rpc.wait_replies(2)
    rpc.cch.basic_publish("", q2, b"n2")
    assert pump([rpc.client, rpc.server], lambda: len(tags) >= 2)
    reply_tags = [m.delivery_tag for m in rpc.got.methods()]
    assert reply_tags == [1, 2], reply_tags
    assert tags == [("normal", 1), ("normal", 2)], tags


def test_permissions(broker):
    # the requester may consume the pseudo-queue with no read permission at
    # all; the replier needs write on amq.default
    d = D.DefsBroker(broker)
    try:
        v = d.name("drt")
        req, rep, mute = d.name("req"), d.name("rep"), d.name("mute")
        d.load(D.document(
            vhosts=[D.vhost(v)],
            users=[D.user(req, "req-pw"), D.user(rep, "rep-pw"), D.user(mute, "mute-pw")],
            permissions=[D.permission(req, v, "", r"^amq\.default$", ""),
                         D.permission(rep, v, ".*", r"^amq\.default$", ".*"),
                         D.permission(mute, v, "", "", "")],
            queues=[D.queue(v, "requests", durable=False)]))
        client = d.connect(req, "req-pw", v)
        server = d.connect(rep, "rep-pw", v)
        mute_c = d.connect(mute, "mute-pw", v)
        try:
            cch = client.channel()
            got = []
            cch.basic_consume(PSEUDO, lambda c, m, p, b: got.append(b), auto_ack=True)
            cch.basic_publish("", "requests", b"req", pika.BasicProperties(reply_to=PSEUDO))
            sch = server.channel()
            m = None
            for _ in range(100):
                m, p, _ = sch.basic_get("requests", auto_ack=True)
                if m:
                    break
                client.process_data_events(0.02)
            assert m is not None
            # a user without write on amq.default cannot reply
            mch = mute_c.channel()
            with D.channel_closed(403, "ACCESS_REFUSED - access to exchange 'amq.default' in "
                                       "vhost '%s' refused for user '%s'" % (v, mute)):
                mch.basic_publish("", p.reply_to, b"no")
                sync(mch)
            sch.basic_publish("", p.reply_to, b"reply")
            assert pump([client, server], lambda: got)
            assert got == [b"reply"]
        finally:
            for c in (client, server, mute_c):
                if c.is_open:
                    c.close()
    finally:
        d.cleanup()
