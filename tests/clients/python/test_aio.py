#!/usr/bin/python3
"""Drives Tern (or any AMQP 0-9-1 broker) with the unmodified aio-pika
client (Debian's python3-aio-pika, on aiormq), as an asyncio application
would:

    /usr/bin/python3 test_aio.py amqp://guest:guest@127.0.0.1:5672/%2F [NAME-PREFIX]

The queue and exchange it declares are NAME-PREFIX-q and NAME-PREFIX-x
(default prefix tern-aio-pika-RANDOM), the RPC queues NAME-PREFIX-rpc and
NAME-PREFIX-add; it deletes them at the end. Prints one "step NAME: ok ..."
line per step and exits 0, or prints "FAIL NAME: why" and exits 1 at the
first mismatch (2 when the whole run takes longer than its 60 s watchdog).

The same steps as ../go/main.go, without close-notify (aio-pika's close
callbacks get no marker telling a graceful close from a lost one), plus:
  rpc-pattern  aio_pika.patterns.RPC, the library's own RPC helper. In
               aio-pika 8.2 it does NOT use direct reply-to: it declares a
               server-named reply queue bound to a headers exchange, and the
               call queue dead-letters there, so it needs no extension.
  rpc          request and reply over direct reply-to (amq.rabbitmq.reply-to),
               by hand as RabbitMQ's docs describe. Last, on a connection of
               its own, so that a broker without direct reply-to fails that
               step alone.
tests/integration/test_other_clients.py runs it and checks the lines."""
import asyncio
import os
import sys
import threading

import aio_pika
import aiormq
from aio_pika.patterns import RPC

WAIT = 5.0  # seconds, for any one thing the broker should send
QUIET = 0.3
PREFETCH = 2
N_MSGS = 5
BIG_SIZE = 1 << 20
REPLY_TO = "amq.rabbitmq.reply-to"

step = "start"


class Failure(Exception):
    pass


def ok(text):
    print("step %s: ok %s" % (step, text), flush=True)


def check(cond, text):
    if not cond:
        raise Failure(text)


async def within(aw, what, timeout=WAIT):
    try:
        return await asyncio.wait_for(aw, timeout)
    except asyncio.TimeoutError:
        raise Failure("%s: nothing within %s s" % (what, timeout)) from None


class Inbox:
    """Deliveries of one consumer, in order, awaited one at a time."""

    def __init__(self):
        self.q = asyncio.Queue()

    async def push(self, msg):
        self.q.put_nowait(msg)

    async def next(self, what="delivery"):
        return await within(self.q.get(), what)

    async def none(self, why):
        await asyncio.sleep(QUIET)
        if not self.q.empty():
            raise Failure("unexpected delivery %s (%s)" % (self.q.get_nowait().message_id, why))


async def connect(url, name):
    return await within(aio_pika.connect(url, client_properties={"connection_name": name},
                                         timeout=WAIT), "connect to %s" % url)


async def main(url, base):
    global step
    qname, xname, key = base + "-q", base + "-x", "to-q"

    step = "connect"
    conn = await connect(url + "?heartbeat=10", "tern aio-pika check")
    sp = conn.transport.connection.server_properties
    ok("server %s %s, aio-pika %s" % (sp["product"], sp["version"], aio_pika.__version__))

    step = "channel"
    # publisher_confirms: each publish awaits its basic.ack; on_return_raises:
    # a mandatory publish that comes back raises PublishError with the
    # basic.return (the ReturnedMessage given to return callbacks has no code)
    ch = await within(conn.channel(publisher_confirms=True, on_return_raises=True),
                      "channel.open + confirm.select")
    ok("channel %d open, publisher confirms on" % ch.number)

    step = "declare"
    q = await within(ch.declare_queue(qname, durable=False), "queue.declare")
    res = q.declaration_result
    check(res.queue == qname and res.message_count == 0 and res.consumer_count == 0,
          "queue.declare-ok %r, want %s with 0 messages and 0 consumers" % (res, qname))
    x = await within(ch.declare_exchange(xname, aio_pika.ExchangeType.DIRECT, durable=False),
                     "exchange.declare")
    await within(q.bind(x, key), "queue.bind")
    ok("queue %s, direct exchange %s, bound with key %s" % (qname, xname, key))

    step = "confirm-publish"
    acks = await within(asyncio.gather(*[
        x.publish(aio_pika.Message(("message %d" % i).encode(), message_id="m%d" % i,
                                   content_type="text/plain"), key)
        for i in range(1, N_MSGS + 1)]), "publisher confirms")
    check(all(isinstance(a, aiormq.spec.Basic.Ack) for a in acks),
          "publish results %r, want basic.ack each" % (acks,))
    p = await within(ch.declare_queue(qname, passive=True), "passive queue.declare")
    n = p.declaration_result.message_count
    check(n == N_MSGS, "queue holds %d messages after %d confirmed publishes" % (n, N_MSGS))
    ok("%d publishes acked (basic.ack each), queue holds %d" % (N_MSGS, n))

    step = "qos"
    await within(ch.set_qos(prefetch_count=PREFETCH), "basic.qos")
    ok("prefetch count %d" % PREFETCH)

    step = "consume"
    inbox = Inbox()
    tag = await within(q.consume(inbox.push, no_ack=False, consumer_tag="aio-consumer"),
                       "basic.consume")
    check(tag == "aio-consumer", "consume-ok tag %r" % tag)
    first = [await inbox.next(), await inbox.next()]
    for i, m in enumerate(first, 1):
        check(m.message_id == "m%d" % i and not m.redelivered and m.body == b"message %d" % i
              and m.consumer_tag == "aio-consumer" and m.exchange == xname
              and m.routing_key == key,
              "delivery %d: id %s redelivered %s body %r consumer %s exchange %s key %s, "
              "want m%d" % (i, m.message_id, m.redelivered, m.body, m.consumer_tag,
                            m.exchange, m.routing_key, i))
    await inbox.none("prefetch %d with %d unacked" % (PREFETCH, PREFETCH))
    ok("got m1 m2 (manual ack), no third delivery while %d are unacked" % PREFETCH)

    step = "nack-requeue"
    await first[0].nack(requeue=True)
    await first[1].ack()
    seen = {}
    while len(seen) < N_MSGS - 1:  # m1 again, m3, m4, m5
        m = await inbox.next()
        check(m.message_id not in seen and m.message_id != "m2",
              "delivery %s came twice" % m.message_id)
        seen[m.message_id] = m
        await m.ack()
    again = seen.get("m1")
    check(again is not None and again.redelivered and again.body == b"message 1",
          "nacked m1 not redelivered with redelivered=true (%r)" % again)
    for mid in ("m3", "m4", "m5"):
        check(mid in seen and not seen[mid].redelivered, "%s missing or marked redelivered" % mid)
    await inbox.none("all acked")
    ok("m1 nacked with requeue came back with redelivered=true; m3..m5 acked")

    step = "mandatory-return"
    err = None
    try:
        await within(x.publish(aio_pika.Message(b"unroutable", message_id="r1"), "no-such-key",
                               mandatory=True), "basic.return")
    except aio_pika.exceptions.PublishError as e:
        err = e
    check(err is not None, "a mandatory publish to an unroutable key was not returned")
    r, body = err.frame, err.message.body
    check(r.reply_code == 312 and r.reply_text == "NO_ROUTE" and r.exchange == xname
          and r.routing_key == "no-such-key" and body == b"unroutable"
          and err.message.header.properties.message_id == "r1",
          "basic.return %r body %r, want 312 NO_ROUTE" % (r, body))
    # the ack that follows the return is consumed by aiormq; the channel
    # must still confirm the next publish
    ok("PublishError with basic.return 312 NO_ROUTE")

    step = "large-message"
    big = os.urandom(BIG_SIZE)
    a = await within(x.publish(aio_pika.Message(big, message_id="big"), key), "confirm of 1 MiB")
    check(isinstance(a, aiormq.spec.Basic.Ack), "1 MiB publish result %r" % (a,))
    m = await inbox.next("1 MiB delivery")
    check(m.message_id == "big" and m.body == big,
          "1 MiB message came back as %s with %d bytes" % (m.message_id, len(m.body)))
    await m.ack()
    ok("%d bytes round trip intact" % len(m.body))

    step = "passive-404"
    ch2 = await within(conn.channel(), "second channel.open")
    err = None
    try:
        await within(ch2.declare_queue(base + "-missing", passive=True),
                     "passive declare of a missing queue")
    except aio_pika.exceptions.ChannelNotFoundEntity as e:
        err = e
    check(err is not None, "passive declare of a missing queue succeeded")
    text = err.args[0] if err.args else ""
    check(text.startswith("NOT_FOUND"), "404 reply text %r" % text)
    check(ch2.is_closed, "channel still open after a 404")
    await within(ch.declare_queue(qname, passive=True), "first channel after the other's 404")
    ok("ChannelNotFoundEntity (404 %s), that channel closed, the other still works" % text)

    step = "rpc-pattern"
    await rpc_pattern(conn, base + "-add")

    step = "cleanup"
    await within(q.cancel("aio-consumer"), "basic.cancel")
    d = await within(q.delete(if_unused=False, if_empty=False), "queue.delete")
    check(d.message_count == 0, "queue.delete-ok says %d messages left" % d.message_count)
    await within(x.delete(), "exchange.delete")
    await within(ch.close(), "channel.close")
    check(ch.is_closed, "channel not closed")
    ok("consumer cancelled, queue (0 messages) and exchange deleted, channel closed")

    step = "close"
    await within(conn.close(), "connection.close")
    check(conn.is_closed, "connection not closed after close")
    ok("connection.close answered by close-ok")

    step = "rpc"
    await rpc(url, base + "-rpc")
    print("all steps passed", flush=True)


async def rpc_pattern(conn, method):
    """aio_pika.patterns.RPC: register a method (its call queue is METHOD)
    and call it through the same helper."""
    ch = await within(conn.channel(), "rpc channel.open")
    rpc = await within(RPC.create(ch), "RPC.create")

    async def add(a, b):
        return a + b

    await within(rpc.register(method, add, auto_delete=True), "RPC.register")
    got = await within(rpc.call(method, kwargs={"a": 40, "b": 2}), "RPC.call")
    check(got == 42, "RPC.call(%s, a=40, b=2) returned %r" % (method, got))
    reply_queue = rpc.result_queue.name
    await within(rpc.close(), "RPC.close")
    await within(ch.queue_delete(method), "queue.delete of the call queue")
    await within(ch.close(), "rpc channel.close")
    ok("RPC.call %s(a=40, b=2) = %d through reply queue %s" % (method, got, reply_queue))


async def rpc(url, server_queue):
    """A server consumes SERVER_QUEUE on one channel and answers each request
    by publishing to its reply_to; the client consumes amq.rabbitmq.reply-to
    without acks on another channel and publishes the request from there."""
    conn = await connect(url, "tern aio-pika rpc check")
    server_ch = await within(conn.channel(), "server channel.open")
    sq = await within(server_ch.declare_queue(server_queue, auto_delete=True), "queue.declare")
    requests = Inbox()

    async def serve(req):
        await requests.push(req)
        await server_ch.default_exchange.publish(
            aio_pika.Message(b"reply to " + req.body, correlation_id=req.correlation_id),
            req.reply_to)
        await req.ack()

    await within(sq.consume(serve, no_ack=False), "server basic.consume")

    client_ch = await within(conn.channel(), "client channel.open")
    # ensure=False: the pseudo-queue is consumed, never declared
    rq = await client_ch.get_queue(REPLY_TO, ensure=False)
    replies = Inbox()
    await within(rq.consume(replies.push, no_ack=True), "basic.consume of " + REPLY_TO)
    await within(client_ch.default_exchange.publish(
        aio_pika.Message(b"ping", reply_to=REPLY_TO, correlation_id="c1"), server_queue),
        "publish of the request")
    req = await requests.next("the request at the server")
    to = req.reply_to or ""
    check(to.startswith(REPLY_TO + ".") and len(to) > len(REPLY_TO) + 1,
          "the server saw reply_to %r, want %s.SOMETHING" % (to, REPLY_TO))
    rep = await replies.next("the reply")
    check(rep.body == b"reply to ping" and rep.correlation_id == "c1" and rep.routing_key == to,
          "reply %r correlation %r routing key %r" % (rep.body, rep.correlation_id,
                                                      rep.routing_key))
    await replies.none("one request, one reply")
    await within(server_ch.queue_delete(server_queue), "queue.delete")
    await within(conn.close(), "connection.close")
    ok("request routed with reply_to %s..., reply came back to the client" % to[:32])


def run():
    if len(sys.argv) not in (2, 3):
        print("usage: test_aio.py AMQP-URL [NAME-PREFIX]", file=sys.stderr)
        sys.exit(2)
    base = sys.argv[2] if len(sys.argv) == 3 else "tern-aio-pika-" + os.urandom(6).hex()

    def watchdog():
        print("FAIL %s: the whole run took longer than 60 s" % step, flush=True)
        os._exit(2)
    timer = threading.Timer(60, watchdog)
    timer.daemon = True
    timer.start()
    try:
        asyncio.run(main(sys.argv[1], base))
    except Failure as e:
        print("FAIL %s: %s" % (step, e), flush=True)
        os._exit(1)
    except BaseException as e:  # anything the library raised
        print("FAIL %s: %s: %r" % (step, type(e).__name__, e), flush=True)
        os._exit(1)
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    run()
