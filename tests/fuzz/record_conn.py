#!/usr/bin/python3
"""record_conn.py - records the seed corpus of fuzz_conn,
tests/data/fuzz_conn/, from real clients: each session's connection is
relayed through a small TCP proxy to a real broker (RabbitMQ 3.10 on
127.0.0.1:5672 by default, guest/guest) and what the client sent is saved
as one seed, prefixed with fuzz_conn's control octet 0x01 (replay one frame
at a time, so deliveries come out before the acks recorded after them).

Sessions: pika 1.2 (python3-pika) doing publish with confirms, consume and
ack, nack/reject/recover, tx, qos, exchange/queue declare/bind/unbind/
purge/delete, TTL, dead-lettering, priorities, length limits, mandatory
returns, alternate exchanges, a channel error and reopen, heartbeats and
AMQPLAIN, two connections meeting on queues (one stream with fuzz_conn's
SWAP between the clients' turns); and, when they are built, the integration suite's amqp091-go and
amqplib programs (tests/clients; pass --go BINARY / --node DIR).

A body above 5000 octets is cut to its first 64 bytes in the seed (its content
header says so), so seeds stay small while every delivery tag and confirm
the client recorded still lines up.

The x-delayed-message session needs Tern's plugin: with --ternd it is
recorded against a ternd started on a free port with a temporary data dir.

Names are fz-<session>-*; every session deletes what it declared.
Usage: /usr/bin/python3 tests/fuzz/record_conn.py [--port 5672]
           [--go build/clients/go/amqp091check] [--node tests/clients/node]
           [--ternd build/ternd]
"""
import argparse
import datetime
import decimal
import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

import pika

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "support"))
from ports import free_port  # noqa: E402 (tests/support/ports.py)

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "fuzz_conn")
BODY_MAX = 5000
BODY_CUT = 64
SWAP = b"\xffTOG"  # fuzz_conn: what follows goes to the other client


# ---------------------------------------------------------------- the relay

def pump(src, dst, log, timeline=None, who=None, lock=None):
    while True:
        try:
            data = src.recv(65536)
        except OSError:
            break
        if not data:
            break
        if log is not None:
            log.append(data)
            with lock:
                timeline.append((who, data))
        try:
            dst.sendall(data)
        except OSError:
            break
    for s in (dst,):
        try:
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass


class Relay:
    """Accepts connections on a free loopback port and relays each to the
    broker, keeping what every client sent (in accept order)."""

    def __init__(self, broker):
        self.broker = broker
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(8)
        self.port = self.lsock.getsockname()[1]
        self.sessions = []
        self.timeline = []  # (session index, bytes) in the order they came
        self.lock = threading.Lock()
        self.threads = []
        threading.Thread(target=self.accept_loop, daemon=True).start()

    def accept_loop(self):
        while True:
            try:
                cli, _ = self.lsock.accept()
            except OSError:
                return
            srv = socket.create_connection(self.broker)
            up = []
            self.sessions.append(up)
            who = len(self.sessions) - 1
            for args in ((cli, srv, up, self.timeline, who, self.lock), (srv, cli, None)):
                t = threading.Thread(target=pump, args=args, daemon=True)
                t.start()
                self.threads.append(t)

    def take(self):
        """Waits for the relayed connections to end; returns their bytes."""
        for t in self.threads:
            t.join(30)
        self.threads = []
        got = [b"".join(s) for s in self.sessions]
        self.sessions, self.timeline = [], []
        return got

    def take_two(self):
        """Waits for two relayed connections to end; returns one stream
        for fuzz_conn's two clients: what each sent, in the order it came,
        with SWAP wherever the sender changes (the first one first)."""
        for t in self.threads:
            t.join(30)
        self.threads = []
        assert len(self.sessions) == 2, "expected two connections"
        out, last = [], 0
        for who, data in self.timeline:
            if who != last:
                out.append(SWAP)
                last = who
            out.append(data)
        self.sessions, self.timeline = [], []
        return b"".join(out)


# ---------------------------------------------------------------- shrinking

def frames(b):
    off = 8 if b[:4] == b"AMQP" else 0
    yield b[:off]
    while off + 7 <= len(b):
        size = struct.unpack(">I", b[off + 3:off + 7])[0]
        yield b[off:off + 8 + size]
        off += 8 + size
    if off < len(b):
        yield b[off:]


def shrink(stream):
    """Cuts bodies above BODY_MAX to BODY_CUT octets, fixing the header
    (in each client's segments of a two-client stream)."""
    if SWAP in stream:
        return SWAP.join(shrink1(seg) for seg in stream.split(SWAP))
    return shrink1(stream)


def shrink1(stream):
    out, cut, left = [], {}, {}
    for fr in frames(stream):
        if len(fr) < 8 or fr[:4] == b"AMQP":
            out.append(fr)
            continue
        typ, ch = fr[0], struct.unpack(">H", fr[1:3])[0]
        if typ == 2 and len(fr) >= 7 + 12 + 1:
            body = struct.unpack(">Q", fr[11:19])[0]
            if body > BODY_MAX:
                cut[ch], left[ch] = BODY_CUT, body
                p = fr[7:-1]
                p = p[:4] + struct.pack(">Q", BODY_CUT) + p[12:]
                fr = fr[:3] + struct.pack(">I", len(p)) + p + b"\xce"
        elif typ == 3 and ch in cut:
            n = len(fr) - 8
            left[ch] -= n
            keep = min(cut[ch], n)
            cut[ch] -= keep
            if left[ch] <= 0:
                del left[ch]
                rest = cut.pop(ch)
                assert rest == 0
            if not keep:
                continue
            fr = fr[:3] + struct.pack(">I", keep) + fr[7:7 + keep] + b"\xce"
        out.append(fr)
    return b"".join(out)


# ---------------------------------------------------------------- sessions

def connect(port, **kw):
    kw.setdefault("heartbeat", 0)
    return pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", port, **kw))


def s_confirms(port):
    """Durable queue, confirms, persistent and transient publishes, get."""
    conn = connect(port)
    ch = conn.channel()
    ch.queue_declare("fz-confirms-q", durable=True)
    ch.confirm_delivery()
    # Past fuzz_conn's memory budget: stored only, read back for the get.
    ch.basic_publish("", "fz-confirms-q", b"x" * 3000, pika.BasicProperties(delivery_mode=2))
    for i in range(4):
        ch.basic_publish("", "fz-confirms-q", b"persistent %d" % i,
                         pika.BasicProperties(delivery_mode=2, message_id="m%d" % i,
                                              content_type="text/plain",
                                              headers={"n": i, "s": "x", "d": decimal.Decimal("1.5"),
                                                       "ts": datetime.datetime(2024, 1, 2),
                                                       "l": [1, "a"], "t": {"k": True}}))
    ch.basic_publish("", "fz-confirms-q", b"transient", pika.BasicProperties(delivery_mode=1))
    for _ in range(3):
        ch.basic_get("fz-confirms-q", auto_ack=False)
    ch.basic_ack(0, multiple=True)
    ch.basic_get("fz-confirms-q", auto_ack=True)
    ch.queue_purge("fz-confirms-q")
    ch.queue_delete("fz-confirms-q")
    conn.close()


def s_consume(port):
    """qos, consume with manual acks, multiple ack, cancel."""
    conn = connect(port)
    ch = conn.channel()
    ch.queue_declare("fz-consume-q", auto_delete=False)
    for i in range(6):
        ch.basic_publish("", "fz-consume-q", b"m%d" % i)
    ch.basic_qos(prefetch_count=2)
    got = []

    def on_msg(c, m, p, b):
        got.append(m.delivery_tag)
        if len(got) % 2 == 0:
            c.basic_ack(m.delivery_tag, multiple=True)
        if len(got) == 6:
            c.stop_consuming()
    tag = ch.basic_consume("fz-consume-q", on_msg, consumer_tag="fz-ctag")
    ch.start_consuming()
    ch.basic_cancel(tag)
    ch.queue_delete("fz-consume-q")
    conn.close()


def s_nack(port):
    """nack with and without requeue, reject, recover, no-ack consume."""
    conn = connect(port)
    ch = conn.channel()
    ch.queue_declare("fz-nack-q")
    for i in range(5):
        ch.basic_publish("", "fz-nack-q", b"n%d" % i)
    m1 = ch.basic_get("fz-nack-q")[0]
    ch.basic_nack(m1.delivery_tag, requeue=True)
    m2 = ch.basic_get("fz-nack-q")[0]
    ch.basic_reject(m2.delivery_tag, requeue=False)
    m3 = ch.basic_get("fz-nack-q")[0]
    m4 = ch.basic_get("fz-nack-q")[0]
    ch.basic_nack(m4.delivery_tag, multiple=True, requeue=True)
    ch.basic_recover(requeue=True)
    del m3
    n = [0]

    def on_msg(c, m, p, b):
        n[0] += 1
        if n[0] == 4:
            c.stop_consuming()
    ch.basic_consume("fz-nack-q", on_msg, auto_ack=True, exclusive=True)
    ch.start_consuming()
    ch.queue_delete("fz-nack-q")
    conn.close()


def s_tx(port):
    """tx.select, publish + ack inside a transaction, commit, rollback."""
    conn = connect(port)
    ch = conn.channel()
    ch.queue_declare("fz-tx-q", durable=True)
    ch.basic_publish("", "fz-tx-q", b"before", pika.BasicProperties(delivery_mode=2))
    ch.tx_select()
    ch.basic_publish("", "fz-tx-q", b"in tx 1", pika.BasicProperties(delivery_mode=2))
    ch.basic_publish("", "fz-tx-q", b"in tx 2")
    ch.tx_commit()
    m = ch.basic_get("fz-tx-q")[0]
    ch.basic_ack(m.delivery_tag)
    ch.basic_publish("", "fz-tx-q", b"rolled back")
    ch.tx_rollback()
    m = ch.basic_get("fz-tx-q")[0]
    ch.basic_ack(m.delivery_tag)
    ch.tx_commit()
    ch.queue_delete("fz-tx-q")
    conn.close()


def s_topology(port):
    """Every exchange type, exchange-to-exchange bindings, headers
    bindings, unbind, passive declares, delete if-unused."""
    conn = connect(port)
    ch = conn.channel()
    for t in ("direct", "fanout", "topic", "headers"):
        ch.exchange_declare("fz-topo-" + t, t, durable=(t == "topic"))
    ch.exchange_declare("fz-topo-topic", "topic", passive=True, durable=True)
    ch.queue_declare("fz-topo-q1", durable=True)
    ch.queue_declare("fz-topo-q2", exclusive=True)
    ch.queue_bind("fz-topo-q1", "fz-topo-direct", "k1")
    ch.queue_bind("fz-topo-q1", "fz-topo-topic", "a.*.c")
    ch.queue_bind("fz-topo-q2", "fz-topo-topic", "a.#")
    ch.queue_bind("fz-topo-q2", "fz-topo-headers", "",
                  arguments={"x-match": "any", "h1": "v1", "h2": 2})
    ch.queue_bind("fz-topo-q1", "fz-topo-fanout")
    ch.exchange_bind("fz-topo-fanout", "fz-topo-topic", "a.b.c")
    ch.basic_publish("fz-topo-topic", "a.b.c", b"topic")
    ch.basic_publish("fz-topo-direct", "k1", b"direct")
    ch.basic_publish("fz-topo-headers", "", b"headers",
                     pika.BasicProperties(headers={"h2": 2}))
    ch.basic_publish("amq.fanout", "", b"nobody")
    ch.queue_declare("fz-topo-q1", passive=True)
    ch.queue_unbind("fz-topo-q1", "fz-topo-direct", "k1")
    ch.exchange_unbind("fz-topo-fanout", "fz-topo-topic", "a.b.c")
    ch.queue_purge("fz-topo-q2")
    ch.queue_delete("fz-topo-q1", if_empty=False, if_unused=True)
    ch.queue_delete("fz-topo-q2")
    for t in ("direct", "fanout", "topic", "headers"):
        ch.exchange_delete("fz-topo-" + t, if_unused=False)
    conn.close()


def s_features(port):
    """TTL, dead-lettering, priorities, max-length, x-expires, an
    alternate exchange, mandatory returns."""
    conn = connect(port)
    ch = conn.channel()
    ch.exchange_declare("fz-feat-dlx", "fanout")
    ch.queue_declare("fz-feat-dead")
    ch.queue_bind("fz-feat-dead", "fz-feat-dlx")
    ch.queue_declare("fz-feat-q", arguments={
        "x-message-ttl": 60000, "x-dead-letter-exchange": "fz-feat-dlx",
        "x-max-length": 3, "x-overflow": "drop-head", "x-max-priority": 5,
        "x-expires": 600000})
    for i in range(5):
        ch.basic_publish("", "fz-feat-q", b"p%d" % i,
                         pika.BasicProperties(priority=i, expiration="30000"))
    m = ch.basic_get("fz-feat-q")[0]
    ch.basic_reject(m.delivery_tag, requeue=False)
    ch.exchange_declare("fz-feat-ae-target", "fanout")
    ch.exchange_declare("fz-feat-ae", "direct",
                        arguments={"alternate-exchange": "fz-feat-ae-target"})
    ch.queue_bind("fz-feat-dead", "fz-feat-ae-target")
    ch.basic_publish("fz-feat-ae", "unrouted", b"to the alternate")
    ch.confirm_delivery()
    try:
        ch.basic_publish("amq.direct", "nowhere", b"returned", mandatory=True)
    except pika.exceptions.UnroutableError:
        pass
    ch.basic_get("fz-feat-dead", auto_ack=True)
    # A full queue that refuses publishes: the second one is nacked.
    ch.queue_declare("fz-feat-full", arguments={"x-max-length": 1, "x-overflow": "reject-publish"})
    ch.basic_publish("", "fz-feat-full", b"fits")
    try:
        ch.basic_publish("", "fz-feat-full", b"refused")
    except pika.exceptions.NackError:
        pass
    for q in ("fz-feat-q", "fz-feat-dead", "fz-feat-full"):
        ch.queue_delete(q)
    for x in ("fz-feat-dlx", "fz-feat-ae", "fz-feat-ae-target"):
        ch.exchange_delete(x)
    conn.close()


def s_errors(port):
    """A channel error (404 publishing to a missing exchange, 406 on a
    redeclare), a new channel, several channels, then close."""
    conn = connect(port, heartbeat=10, frame_max=4096, channel_max=16)
    ch = conn.channel()
    ch.basic_publish("fz-err-missing", "k", b"lost")
    try:
        ch.queue_declare("fz-err-missing-q", passive=True)
    except pika.exceptions.ChannelClosedByBroker:
        pass
    ch2 = conn.channel()
    ch2.queue_declare("fz-err-q", durable=False)
    try:
        ch2.queue_declare("fz-err-q", durable=True)
    except pika.exceptions.ChannelClosedByBroker:
        pass
    ch3 = conn.channel()
    ch3.basic_publish("", "fz-err-q", b"y" * 5000)  # several body frames at frame_max 4096
    ch3.basic_get("fz-err-q", auto_ack=True)
    ch3.basic_qos(prefetch_count=10, global_qos=True)
    ch3.flow(True)
    ch3.queue_delete("fz-err-q")
    ch3.close()
    conn.close()


def s_amqplain(port):
    """Login with AMQPLAIN; exclusive queues, one server-named."""
    class AmqPlain:
        # pika speaks PLAIN and EXTERNAL only; AMQPLAIN is a table.
        name = "AMQPLAIN"

        def __init__(self, params):
            pass

        def response_for(self, start):
            def kv(k, v):
                return bytes([len(k)]) + k + b"S" + struct.pack(">I", len(v)) + v
            return "AMQPLAIN", kv(b"LOGIN", b"guest") + kv(b"PASSWORD", b"guest")

        def erase_credentials(self):
            pass
    import pika.credentials
    pika.credentials.VALID_TYPES.append(AmqPlain)
    params = pika.ConnectionParameters("127.0.0.1", port, heartbeat=0,
                                       credentials=AmqPlain(None))
    conn = pika.BlockingConnection(params)
    ch = conn.channel()
    ch.queue_declare("", exclusive=True)  # its amq.gen-* name differs on replay
    ch.queue_declare("fz-amqplain-q", exclusive=True)
    ch.basic_publish("", "fz-amqplain-q", b"to myself")
    ch.basic_get("fz-amqplain-q", auto_ack=True)
    conn.close()


def s_two(port):
    """Two connections: an exclusive queue the other may not use (405), a
    consumer on one fed by the other's confirmed publishes, the consumer's
    connection closing with deliveries unacked (requeued), the other
    getting them."""
    a = connect(port)
    b = connect(port)
    cha = a.channel()
    cha.queue_declare("fz-two-excl", exclusive=True)
    cha.queue_declare("fz-two-q", durable=True)
    cha.basic_qos(prefetch_count=2)
    got = []
    cha.basic_consume("fz-two-q", lambda c, m, p, body: got.append(m.delivery_tag),
                      consumer_tag="fz-two-ctag")
    chb = b.channel()
    try:
        chb.basic_consume("fz-two-excl", lambda *x: None)
    except pika.exceptions.ChannelClosedByBroker:
        pass
    chb = b.channel()
    chb.confirm_delivery()
    for i in range(4):
        chb.basic_publish("", "fz-two-q", b"two %d" % i, pika.BasicProperties(delivery_mode=2))
    while len(got) < 2:
        a.process_data_events(time_limit=0.1)
    cha.basic_ack(got[0])
    while len(got) < 3:
        a.process_data_events(time_limit=0.1)
    a.close()  # two unacked: back to the queue
    for _ in range(3):
        m = chb.basic_get("fz-two-q")[0]
        chb.basic_ack(m.delivery_tag)
    chb.queue_delete("fz-two-q")
    b.close()


def s_delayed(port):
    """The x-delayed-message exchange (Tern's built-in plugin, which the
    RabbitMQ here does not have): recorded against ternd."""
    conn = connect(port)
    ch = conn.channel()
    ch.exchange_declare("fz-delayed-x", "x-delayed-message", durable=True,
                        arguments={"x-delayed-type": "direct"})
    ch.queue_declare("fz-delayed-q", durable=True)
    ch.queue_bind("fz-delayed-q", "fz-delayed-x", "k")
    ch.confirm_delivery()
    for delay in (3600000, 0, -5):
        ch.basic_publish("fz-delayed-x", "k", b"delay %d" % delay,
                         pika.BasicProperties(delivery_mode=2, headers={"x-delay": delay}))
    ch.basic_get("fz-delayed-q", auto_ack=True)
    ch.queue_delete("fz-delayed-q")
    ch.exchange_delete("fz-delayed-x")
    conn.close()


# Recorded against ternd (--ternd), not the reference broker.
TERN_SESSIONS = [("tern_delayed", s_delayed)]

SESSIONS = [("pika_confirms", s_confirms), ("pika_consume", s_consume), ("pika_nack", s_nack),
            ("pika_tx", s_tx), ("pika_topology", s_topology), ("pika_features", s_features),
            ("pika_errors", s_errors), ("pika_amqplain", s_amqplain),
            ("pika_two", s_two)]


def wait_port(port):
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("ternd did not start on port %d" % port)


def save(name, stream):
    path = os.path.join(OUT, name)
    with open(path, "wb") as f:
        f.write(b"\x01" + shrink(stream))
    print("%-16s %6d bytes (recorded %d)" % (name, os.path.getsize(path), len(stream)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=5672, help="the broker's AMQP port")
    ap.add_argument("--go", help="amqp091check binary (tests/clients/go)")
    ap.add_argument("--node", help="tests/clients/node, after npm ci")
    ap.add_argument("--ternd", help="ternd binary, for the sessions only Tern can serve")
    a = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    relay = Relay(("127.0.0.1", a.port))
    url = "amqp://guest:guest@127.0.0.1:%d/" % relay.port
    for name, fn in SESSIONS:
        fn(relay.port)
        if fn is s_two:
            save(name, relay.take_two())
            continue
        for i, s in enumerate(relay.take()):
            save(name if i == 0 else "%s_%d" % (name, i), s)
    if a.ternd:
        with tempfile.TemporaryDirectory() as d:
            port = free_port()
            p = subprocess.Popen([a.ternd, "--bind", "127.0.0.1", "--port", str(port),
                                  "--data-dir", d, "--management-port", "0",
                                  "--prometheus-port", "0", "--log-level", "error"])
            try:
                wait_port(port)
                trelay = Relay(("127.0.0.1", port))
                for name, fn in TERN_SESSIONS:
                    fn(trelay.port)
                    for i, s in enumerate(trelay.take()):
                        save(name if i == 0 else "%s_%d" % (name, i), s)
            finally:
                p.terminate()
                p.wait(10)
    clients = []
    if a.go:
        clients.append(("go_amqp091", [a.go, url, "fz-go"]))
    if a.node:
        clients.append(("node_amqplib", ["node", os.path.join(a.node, "test.js"), url, "fz-node"]))
    for name, cmd in clients:
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        for i, s in enumerate(relay.take()):
            save(name if i == 0 else "%s_%d" % (name, i), s)


if __name__ == "__main__":
    sys.exit(main())
