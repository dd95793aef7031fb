"""chaos.py — clients that die mid-frame.

RawCutter: a byte-level client (tests/support/amqpraw.py for the
handshake, pika's own codec for the frames) that sends a stream of
basic.publish + content header + body frames and stops at a random byte:
inside the handshake, a method, a header or a body frame. Then it closes
with FIN, with RST (SO_LINGER 0), or half-closes and waits. The messages
sent whole may be delivered; the one it was cut in must never be, nor any
after it.

KilledChild: a child process (this soak, `--child-publish`) publishing
confirmed persistent messages, some of them up to 1 MiB, SIGKILLed at a
random moment, usually in the middle of writing a frame. It prints each id
once confirmed; those the parent read are in the loss check like any other.
"""
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

import pika
import pika.frame
import pika.spec

import message
import topology as T
from worker import Worker

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests"))
from support import amqpraw  # noqa: E402

CHILD_IDS = 3000


class Refused(Exception):
    """The broker's connection.close to the raw client."""

    def __init__(self, code, text):
        super().__init__("%d %s" % (code, text))
        self.reply_code, self.reply_text = code, text


class RawCutter(Worker):
    kind = "raw-cutter"
    expected_exceptions = (amqpraw.ServerClosed,)

    def session(self):
        if not self.sleep(self.rng.uniform(0.3, 3)):
            return
        rng = self.rng
        c = amqpraw.RawConnection("127.0.0.1", self.ctx.broker.port, timeout=10)
        try:
            epoch = self.ctx.broker.run
            if rng.random() < 0.2:
                self.cut_handshake(c)
            else:
                try:
                    _, frame_max, _ = c.handshake()
                except AssertionError:   # connection.close: the broker stopping
                    raise amqpraw.ServerClosed("closed in the handshake")
                c.send_method(1, amqpraw.CHANNEL_OPEN, amqpraw.shortstr(""))
                f = c.read_method()
                if f.method == amqpraw.CONNECTION_CLOSE:
                    raise Refused(*f.close_info()[:2])
                self.cut_publishes(c, epoch, frame_max)
            self.ledger.count("raw clients cut")
            self.finish(c)
        finally:
            c.close()

    def cut_handshake(self, c):
        """A start-ok, tune-ok or open cut short."""
        c.send(amqpraw.PROTOCOL_HEADER)
        c.read_method(amqpraw.CONNECTION_START, channel=0)
        ok = amqpraw.method_frame(0, amqpraw.CONNECTION_START_OK,
                                  amqpraw.table({"product": "soak-cutter"}) +
                                  amqpraw.shortstr("PLAIN") +
                                  amqpraw.longstr(b"\0guest\0guest") + amqpraw.shortstr("en_US"))
        if self.rng.random() < 0.5:
            c.send(ok[:self.rng.randrange(len(ok))])
            return
        c.send(ok)
        c.read_method(amqpraw.CONNECTION_TUNE, channel=0)
        rest = amqpraw.method_frame(0, amqpraw.CONNECTION_TUNE_OK,
                                    struct.pack(">HIH", 2047, 131072, 0)) + \
            amqpraw.method_frame(0, amqpraw.CONNECTION_OPEN,
                                 amqpraw.shortstr("/") + amqpraw.shortstr("") + amqpraw.bits(False))
        c.send(rest[:self.rng.randrange(len(rest))])

    def cut_publishes(self, c, epoch, frame_max):
        n = self.rng.randint(1, 8)
        target = self.rng.choice((T.Q1, T.T0))
        persistent = target != T.T0
        first = self.ledger.reserve(n, target, persistent, epoch)
        parts = []                   # (id, bytes of its three-plus frames)
        if target == T.T0:
            parts.append((None, amqpraw.method_frame(
                1, amqpraw.QUEUE_DECLARE, amqpraw.queue_declare_args("soak.t0"))))
        for mid in range(first, first + n):
            x, rk, body, props = message.publish_args(mid, target, persistent)
            out = [pika.frame.Method(1, pika.spec.Basic.Publish(exchange=x, routing_key=rk))
                   .marshal(), pika.frame.Header(1, len(body), props).marshal()]
            step = frame_max - 8
            out += [pika.frame.Body(1, body[i:i + step]).marshal()
                    for i in range(0, len(body), step)]
            parts.append((mid, b"".join(out)))
        stream = b"".join(p for _, p in parts)
        cut = self.rng.randrange(len(stream))
        off = 0
        for mid, p in parts:
            if mid is not None:
                if off + len(p) <= cut:
                    self.ledger.mark_published(mid)
                elif off < cut:
                    self.ledger.never(mid)
            off += len(p)
        # the ids past the cut were never sent: any delivery of them is a phantom
        c.send(stream[:cut])

    def finish(self, c):
        how = self.rng.random()
        if how < 0.4:
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        elif how < 0.6:
            c.sock.shutdown(socket.SHUT_WR)
            c.wait_closed(timeout=2)


class KilledChild(Worker):
    kind = "killed-child"

    def __init__(self, ctx, index, soak_path):
        super().__init__(ctx, index)
        self.soak_path = soak_path

    def session(self):
        if not self.sleep(self.rng.uniform(0.5, 4)):
            return
        target = self.rng.choice((T.Q0, T.Q1, T.Q2, T.PRIO, T.TTL))
        epoch = self.ctx.broker.run
        first = self.ledger.reserve(CHILD_IDS, target, True, epoch, published=True)
        p = subprocess.Popen([sys.executable, self.soak_path, "--child-publish",
                              "--port", str(self.ctx.broker.port), "--seed", str(self.ctx.seed),
                              "--first", str(first), "--count", str(CHILD_IDS),
                              "--target", str(target)],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             stdin=subprocess.DEVNULL)
        confirmed = []
        # whole lines only: one the kill cut short would name another id
        reader = threading.Thread(target=lambda: confirmed.extend(
            int(l) for l in p.stdout if l.endswith(b"\n") and l.strip().isdigit()),
            daemon=True)
        reader.start()
        self.ctx.stop.wait(self.rng.uniform(0.3, 5))
        p.send_signal(signal.SIGKILL)
        p.wait()
        reader.join(10)
        for mid in confirmed:
            if first <= mid < first + CHILD_IDS:
                self.ledger.confirmed(mid)
        self.ledger.count("children killed")
        self.ledger.count("child messages confirmed", len(confirmed))


def child_publish(port, first, count, target):
    """The child's side: publish ids first.. with confirms (mandatory), one
    line per confirmed id on stdout, until killed."""
    conn = pika.BlockingConnection(pika.ConnectionParameters(
        host="127.0.0.1", port=port, connection_attempts=1, socket_timeout=5, heartbeat=0))
    ch = conn.channel()
    ch.confirm_delivery()
    out = sys.stdout
    for mid in range(first, first + count):
        # mostly the larger ones (the parent counts every id as possibly
        # published), so the kill often lands inside a body
        if message.size_of(mid) < 1024 and mid % 4:
            continue
        x, rk, body, props = message.publish_args(mid, target, True)
        try:
            ch.basic_publish(x, rk, body, props, mandatory=True)
        except (pika.exceptions.UnroutableError, pika.exceptions.NackError):
            continue
        out.write("%d\n" % mid)
        out.flush()
    time.sleep(60)
