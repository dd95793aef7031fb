"""consumers.py — consumers that ack, ack several at once, nack and reject
(with and without requeue), sit on deliveries for a while, poll with
basic.get, and end their sessions every way a client can: connection.close,
basic.cancel first, a channel closed and another opened, or the TCP
connection dropped with no AMQP close at all.

The ledger hears of a disposal before the broker does: an ack or a drop is
recorded, then sent. A message whose ack never arrived is still in its
queue and shows up again, which the checks allow."""
import time

import pika
import pika.exceptions as px

import topology as T
from worker import Worker, abort_socket

# Per profile: queues, action weights (ack, ack-multiple, nack-requeue,
# reject-requeue, nack-drop, reject-drop, hold), session and pause lengths.
PROFILES = {
    "main": ([T.Q0, T.Q1, T.Q2, T.PRIO, T.LIMIT, T.T0],
             (70, 8, 6, 4, 2, 2, 8), (3, 30), (0, 1)),
    "dlx": ([T.TTL, T.MAXLEN, T.RETRY], (50, 0, 25, 0, 8, 7, 10), (1, 8), (0, 4)),
    "dead": ([T.DEAD], (85, 4, 4, 0, 2, 1, 4), (3, 30), (0, 1)),
}
# soak.retry's deliveries mostly go back, so many reach its delivery limit.
QUEUE_WEIGHTS = {T.RETRY: (30, 0, 40, 20, 0, 5, 5)}
ACTIONS = ("ack", "ack-multiple", "nack-requeue", "reject-requeue", "nack-drop",
           "reject-drop", "hold")


class Consumer(Worker):
    kind = "consumer"

    def __init__(self, ctx, index, profile):
        self.kind = "consumer-" + profile
        super().__init__(ctx, index)
        self.pool, self.weights, self.length, self.pause = PROFILES[profile]

    def session(self):
        conn = pika.BlockingConnection(self.ctx.params())
        self.conn = conn
        try:
            self.epoch = self.ctx.broker.run
            end = time.monotonic() + self.rng.uniform(*self.length)
            while not self.ctx.stop.is_set() and time.monotonic() < end:
                how = self.channel_session(conn, end)
                if how != "channel":
                    break
            else:
                how = "close"
            if how == "abort" and abort_socket(conn._impl):
                self.ledger.count("client aborts")
                time.sleep(0.05)
        finally:
            self.close(conn)
        self.sleep(self.rng.uniform(*self.pause))

    def channel_session(self, conn, end):
        """One channel until `end`; returns how the session should end."""
        ch = conn.channel()
        self.ch = ch
        # A channel the broker closes is a problem even when the session
        # then ends in a way that hides it (a close crossing it).
        ch._impl.add_on_close_callback(self.on_channel_closed)
        self.out = {}                 # delivery tag -> (id, queue)
        self.held = []                # (release time, tag)
        self.tags = {}                # consumer tag -> queue
        queues = self.rng.sample(self.pool, self.rng.randint(1, len(self.pool)))
        ch.basic_qos(prefetch_count=self.rng.choice((1, 5, 20, 100, 300)))
        for q in queues:
            T.declare_target(ch, q)
        use_get = self.rng.random() < 0.15
        if not use_get:
            for q in queues:
                tag = ch.basic_consume(T.NAMES[q], self.on_message)
                self.tags[tag] = q
        stop_at = min(end, time.monotonic() + self.rng.uniform(1, 30))
        while not self.ctx.stop.is_set() and time.monotonic() < stop_at:
            if use_get:
                q = self.rng.choice(queues)
                m, props, body = ch.basic_get(T.NAMES[q])
                if m:
                    self.handle(q, m.delivery_tag, m.redelivered, props, body)
                else:
                    conn.process_data_events(0.05)
            else:
                conn.process_data_events(0.1)
            self.release_held()
        if self.ctx.stop.is_set():
            return "close"
        how = self.rng.choices(("close", "abort", "cancel", "channel"), (50, 25, 15, 10))[0]
        if how == "cancel":
            for tag in list(self.tags):
                ch.basic_cancel(tag)
            conn.process_data_events(0.1)
            self.release_held(force=True)
        if how == "channel":
            ch.close()
        return how

    def on_channel_closed(self, ch, reason):
        if isinstance(reason, px.ChannelClosedByBroker):
            self.classify(reason)

    def on_message(self, ch, method, props, body):
        self.handle(self.tags[method.consumer_tag], method.delivery_tag, method.redelivered,
                    props, body)

    def handle(self, q, tag, redelivered, props, body):
        mid = self.ledger.delivery(q, redelivered, props, body, self.epoch)
        if mid is None:
            self.ch.basic_ack(tag)   # not ours: reported, out of the way
            return
        self.out[tag] = (mid, q)
        self.act(self.rng.choices(ACTIONS, QUEUE_WEIGHTS.get(q, self.weights))[0], tag)

    def act(self, action, tag):
        ch = self.ch
        mid, q = self.out[tag]
        if action == "ack":
            self.ledger.gone(mid)
            del self.out[tag]
            ch.basic_ack(tag)
        elif action == "ack-multiple":
            # up to this tag, everything outstanding goes (held ones too)
            for t in [t for t in self.out if t <= tag]:
                self.ledger.gone(self.out.pop(t)[0])
            self.held = [h for h in self.held if h[1] > tag]
            ch.basic_ack(tag, multiple=True)
            self.ledger.count("multiple acks")
        elif action in ("nack-requeue", "reject-requeue"):
            del self.out[tag]
            if action == "nack-requeue":
                ch.basic_nack(tag, requeue=True)
            else:
                ch.basic_reject(tag, requeue=True)
            self.ledger.count("requeues")
        elif action in ("nack-drop", "reject-drop"):
            self.ledger.rejected(mid, q)
            del self.out[tag]
            if action == "nack-drop":
                ch.basic_nack(tag, requeue=False)
            else:
                ch.basic_reject(tag, requeue=False)
            self.ledger.count("rejects without requeue")
        else:
            self.held.append((time.monotonic() + self.rng.uniform(0.2, 3), tag))

    def release_held(self, force=False):
        now = time.monotonic()
        keep = []
        for t, tag in self.held:
            if tag not in self.out:
                continue
            if force or t <= now:
                self.act("ack" if self.rng.random() < 0.7 else "nack-requeue", tag)
            else:
                keep.append((t, tag))
        self.held = keep
