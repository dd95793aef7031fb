"""churn.py — queues and exchanges that come and go: every exchange type,
durable or not, auto-delete, exclusive queues, queue arguments (TTL, length
limits and overflow modes, x-expires, priorities, single active consumer,
dead-lettering to another churn exchange), bindings and exchange-to-exchange
bindings made and removed, messages published through them and fetched,
purges, deletes with if-empty / if-unused. Durable ones are left behind now
and then, so restarts recover a changing topology.

The broker refusing something here (a 404 after a delete, a 406 for
if-empty) is part of the game; what is checked is that what comes out of a
churn queue is a message published to one, intact."""
import time

import pika
import pika.exceptions as px

import message
import topology as T
from worker import Worker

TYPES = ("direct", "fanout", "topic", "headers")
KEYS = ("a", "b", "a.b", "a.*", "#", "c.d.e", "")


class Churn(Worker):
    kind = "churn"

    def __init__(self, ctx, index):
        super().__init__(ctx, index)
        self.n = 0
        self.exchanges = []          # names possibly alive
        self.queues = []

    def expected_code(self, code):
        return code in (403, 404, 405, 406)

    def session(self):
        conn = pika.BlockingConnection(self.ctx.params())
        try:
            epoch = self.ctx.broker.run
            ch = conn.channel()
            end = time.monotonic() + self.rng.uniform(5, 30)
            while time.monotonic() < end and not self.ctx.stop.is_set():
                try:
                    self.step(ch, epoch)
                    self.ledger.count("churn operations")
                    conn.process_data_events(0)
                    if isinstance(getattr(ch, "_closing_reason", None), px.ChannelClosedByBroker):
                        # The broker's close was read by process_data_events.
                        # The channel must be reopened before the next step:
                        # pika 1.2's basic_get sends even on a closed channel,
                        # and a broker then closes the connection with 504
                        # "expected 'channel.open'" (RabbitMQ 3.10 does too).
                        raise ch._closing_reason
                except px.ChannelClosedByBroker as e:
                    self.closed_by_broker(e)
                    ch = conn.channel()
                self.sleep(self.rng.uniform(0, 0.05))
        finally:
            self.close(conn)

    def closed_by_broker(self, e):
        what = "%s %s" % (e.reply_code, e.reply_text)
        self.ctx.error(self.kind, what[:64])
        if e.reply_code not in (403, 404, 405, 406):
            self.ledger.problem("broker error", "%s: %s" % (self.name, what))

    def fresh(self, kind):
        self.n += 1
        return "soak.churn.%s.%s.%d" % (kind, self.name, self.n)

    def step(self, ch, epoch):
        r = self.rng.random()
        rng = self.rng
        if r < 0.12 or not self.exchanges:
            x = self.fresh("x")
            ch.exchange_declare(x, rng.choice(TYPES), durable=rng.random() < 0.5,
                                auto_delete=rng.random() < 0.2)
            self.exchanges.append(x)
        elif r < 0.26 or not self.queues:
            q = self.fresh("q")
            args = {}
            for k, v in (("x-message-ttl", rng.choice((0, 50, 1000, 60000))),
                         ("x-max-length", rng.choice((0, 5, 100))),
                         ("x-overflow", rng.choice(("drop-head", "reject-publish",
                                                    "reject-publish-dlx"))),
                         ("x-expires", rng.choice((2000, 30000))),
                         ("x-max-priority", rng.choice((1, 5, 255))),
                         ("x-single-active-consumer", True),
                         ("x-dead-letter-exchange", rng.choice(self.exchanges)),
                         ("x-max-length-bytes", rng.choice((1000, 1 << 20)))):
                if rng.random() < 0.2:
                    args[k] = v
            ch.queue_declare(q, durable=rng.random() < 0.5, exclusive=rng.random() < 0.15,
                             auto_delete=rng.random() < 0.15, arguments=args or None)
            self.queues.append(q)
        elif r < 0.40:
            q, x = rng.choice(self.queues), rng.choice(self.exchanges)
            ch.queue_bind(q, x, routing_key=rng.choice(KEYS),
                          arguments={"x-match": rng.choice(("all", "any")), "k": "a"}
                          if rng.random() < 0.3 else None)
        elif r < 0.46:
            ch.exchange_bind(rng.choice(self.exchanges), rng.choice(self.exchanges),
                             routing_key=rng.choice(KEYS))
        elif r < 0.52:
            ch.queue_unbind(rng.choice(self.queues), rng.choice(self.exchanges),
                            routing_key=rng.choice(KEYS))
        elif r < 0.70:
            x = rng.choice(self.exchanges + [""])
            for _ in range(rng.randint(1, 10)):
                persistent = rng.random() < 0.5
                mid = self.ledger.new(T.CHURN, persistent, epoch)
                _, _, body, props = message.publish_args(mid, T.CHURN, persistent)
                key = rng.choice(self.queues) if x == "" else rng.choice(KEYS)
                props.headers = dict(props.headers or {}, k="a")
                ch.basic_publish(x, key, body, props)
        elif r < 0.84:
            q = rng.choice(self.queues)
            for _ in range(rng.randint(1, 10)):
                auto = rng.random() < 0.5
                m, props, body = ch.basic_get(q, auto_ack=auto)
                if not m:
                    break
                self.ledger.delivery(T.CHURN, m.redelivered, props, body, epoch)
                if not auto:
                    ch.basic_ack(m.delivery_tag)
        elif r < 0.88:
            ch.queue_purge(rng.choice(self.queues))
        elif r < 0.95:
            q = self.queues.pop(rng.randrange(len(self.queues)))
            ch.queue_delete(q, if_empty=rng.random() < 0.2)
        else:
            x = self.exchanges.pop(rng.randrange(len(self.exchanges)))
            ch.exchange_delete(x, if_unused=rng.random() < 0.2)
        # keep the churn bounded: forget (and delete) the oldest
        while len(self.queues) > 40:
            ch.queue_delete(self.queues.pop(0))
        while len(self.exchanges) > 25:
            ch.exchange_delete(self.exchanges.pop(0))
