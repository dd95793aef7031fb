"""publishers.py — confirmed publishing (asynchronous, a window of
unconfirmed messages on one SelectConnection, as kill9.py does) and
transactional publishing (tx.commit or tx.rollback of small batches).

Every message goes with mandatory = true: a fixed route that stops routing
(a binding lost in a restart) comes back as basic.return instead of passing
for a loss. Persistent messages go to every fixed queue, transient ones to
soak.t0 and now and then to the others."""
import time

import pika
import pika.exceptions as px

import message
import topology as T
from worker import Worker, abort_socket

WINDOW = 500                 # unconfirmed messages at most
WINDOW_BYTES = 8 << 20       # ... and bytes


def pick_target(rng, tx=False):
    """A weighted random target. In a transaction, not soak.limit: a
    publish x-overflow reject-publish refuses is dropped without a word
    there (no confirm to nack, as RabbitMQ)."""
    weights = [(q, w) for q, w in T.PUBLISH_WEIGHTS if not (tx and q == T.LIMIT)]
    r = rng.uniform(0, sum(w for _, w in weights))
    for q, w in weights:
        r -= w
        if r <= 0:
            return q
    return weights[-1][0]


def pick_persistent(rng, target):
    return target != T.T0 and rng.random() < 0.9


class AsyncPublisher(Worker):
    kind = "publisher"

    def session(self):
        self.pending = {}            # publish seq -> (id, bytes)
        self.pending_bytes = 0
        self.seq = 0
        self.low = 1
        self.ch = None
        self.ending = False
        self.end_at = None
        self.epoch = None
        self.closed_reason = None
        self.conn = pika.SelectConnection(self.ctx.params(), on_open_callback=self.on_open,
                                          on_open_error_callback=self.on_open_error,
                                          on_close_callback=self.on_closed)
        self.conn.ioloop.call_later(0.5, self.tick)
        try:
            self.conn.ioloop.start()
        finally:
            # what was not confirmed when the connection went may or may not be in
            self.pending.clear()
        r = self.closed_reason
        # the broker closing something counts even in a session that was ending
        if isinstance(r, Exception) and (not self.ending or isinstance(
                r, (px.ChannelClosedByBroker, px.ConnectionClosedByBroker))):
            raise r

    # -- connection and channel
    def on_open_error(self, conn, err):
        self.closed_reason = err if isinstance(err, Exception) else None
        conn.ioloop.stop()

    def on_closed(self, conn, reason):
        self.closed_reason = self.closed_reason or reason
        conn.ioloop.stop()

    def on_open(self, conn):
        self.epoch = self.ctx.broker.run
        conn.channel(on_open_callback=self.on_channel)

    def on_channel(self, ch):
        self.ch = ch
        ch.add_on_close_callback(self.on_channel_closed)
        ch.add_on_return_callback(self.on_return)
        todo = [q for q, _ in T.PUBLISH_WEIGHTS]

        def next_declare(_=None):
            if todo:
                T.declare_target(ch, todo.pop(), callback=next_declare)
            else:
                ch.confirm_delivery(self.on_confirm, callback=self.on_select_ok)
        next_declare()

    def on_channel_closed(self, ch, reason):
        if isinstance(reason, px.ChannelClosedByBroker):
            self.closed_reason = reason
        if self.conn.is_open:
            self.conn.close()

    def on_select_ok(self, _):
        self.end_at = time.monotonic() + self.rng.uniform(5, 60)
        self.publish_more()

    # -- publishing
    def publish_more(self):
        ch = self.ch
        if self.ending or not ch or not ch.is_open:
            return
        if self.ctx.throttle.is_set():
            self.conn.ioloop.call_later(0.2, self.publish_more)
            return
        n = 0
        while len(self.pending) < WINDOW and self.pending_bytes < WINDOW_BYTES and n < 50:
            target = pick_target(self.rng)
            persistent = pick_persistent(self.rng, target)
            mid = self.ledger.new(target, persistent, self.epoch)
            x, rk, body, props = message.publish_args(mid, target, persistent)
            self.seq += 1
            self.pending[self.seq] = (mid, len(body))
            self.pending_bytes += len(body)
            ch.basic_publish(x, rk, body, props, mandatory=True)
            n += 1
        if len(self.pending) < WINDOW and self.pending_bytes < WINDOW_BYTES:
            self.conn.ioloop.call_later(0.002, self.publish_more)

    def on_return(self, ch, method, props, body):
        try:
            self.ledger.returned(int(props.message_id))
        except (TypeError, ValueError):
            self.ledger.problem("phantom", "basic.return of a message we never sent: %r"
                                % (body[:60],))

    def on_confirm(self, frame):
        m = frame.method
        ack = isinstance(m, pika.spec.Basic.Ack)
        tags = range(self.low, m.delivery_tag + 1) if m.multiple else (m.delivery_tag,)
        for s in tags:
            v = self.pending.pop(s, None)
            if v is None:
                continue
            self.pending_bytes -= v[1]
            if ack:
                self.ledger.confirmed(v[0])
            else:
                self.ledger.nacked(v[0])
        while self.low <= self.seq and self.low not in self.pending:
            self.low += 1
        self.publish_more()

    # -- the end of a session
    def tick(self):
        if self.conn.is_closed:
            return
        if self.ctx.stop.is_set() or self.end_at and time.monotonic() > self.end_at:
            self.ending = True
            if not self.ctx.stop.is_set() and self.rng.random() < 0.3:
                self.ctx.ledger.count("client aborts")
                if abort_socket(self.conn):
                    return
            if self.conn.is_open:
                self.conn.close()
            return
        self.conn.ioloop.call_later(0.5, self.tick)


class TxPublisher(Worker):
    """Batches of 1-20 publishes in a transaction: tx.commit-ok confirms
    them; tx.rollback (and a connection lost before commit was sent) means
    they must never be delivered."""
    kind = "tx-publisher"

    def session(self):
        conn = pika.BlockingConnection(self.ctx.params())
        try:
            epoch = self.ctx.broker.run
            ch = conn.channel()
            for q, _ in T.PUBLISH_WEIGHTS:
                T.declare_target(ch, q)
            ch.tx_select()
            end = time.monotonic() + self.rng.uniform(5, 40)
            while time.monotonic() < end and not self.ctx.stop.is_set():
                if self.ctx.throttle.is_set():
                    self.sleep(0.2)
                    continue
                self.batch(ch, epoch)
                conn.process_data_events(0)
        finally:
            self.close(conn)

    def batch(self, ch, epoch):
        ids, sent = [], False
        try:
            for _ in range(self.rng.randint(1, 20)):
                target = pick_target(self.rng, tx=True)
                persistent = pick_persistent(self.rng, target)
                mid = self.ledger.new(target, persistent, epoch)
                ids.append(mid)
                x, rk, body, props = message.publish_args(mid, target, persistent)
                ch.basic_publish(x, rk, body, props)
            if self.rng.random() < 0.85:
                sent = True
                ch.tx_commit()
                for mid in ids:
                    self.ledger.confirmed(mid)
                self.ledger.count("tx commits")
            else:                    # rolled back or lost, never delivered
                for mid in ids:
                    self.ledger.never(mid)
                sent = True
                ch.tx_rollback()
                self.ledger.count("tx rollbacks")
        except Exception:
            if not sent:             # commit never sent: none of them may appear
                for mid in ids:
                    self.ledger.never(mid)
            raise
