"""Helpers for the tests that restart or kill the broker and look at what
came back (test_durability.py, test_durable_replies.py): a durable queue
to publish to, what a queue holds afterwards with its redelivered flags,
and a flood that keeps the store's writer thread busy meanwhile."""
import contextlib
import signal
import threading

import pika
import pika.exceptions as pe

PERSISTENT = pika.BasicProperties(delivery_mode=2)


def close_quietly(conn):
    """Closes a connection that may have died with the broker."""
    try:
        if conn.is_open:
            conn.close()
    except Exception:
        pass


def restart(broker, *conns):
    """SIGTERM restart; connections open across it are dropped first."""
    broker.restart()
    for c in conns:
        close_quietly(c)


def kill9_restart(broker, *conns):
    """SIGKILL and start again on the same data dir."""
    broker.proc.send_signal(signal.SIGKILL)
    broker.proc.wait(10)
    broker.proc = None
    for c in conns:
        close_quietly(c)
    broker.check_log()
    broker.start()


def get_all(ch, queue, auto_ack=True):
    """Every message now in queue as (method, properties, body), via basic.get."""
    out = []
    while True:
        m, p, b = ch.basic_get(queue, auto_ack=auto_ack)
        if m is None:
            return out
        out.append((m, p, b))


def bodies(msgs):
    return [b for _, _, b in msgs]


def numbered(n, prefix=b""):
    """[prefix + b"0", prefix + b"1", ...]: n bodies that say their order."""
    return [prefix + b"%d" % i for i in range(n)]


def open_queue(broker, queue, confirm=False, arguments=None):
    """A new connection and channel on which durable `queue` is declared
    (with these x-arguments), in confirm mode when asked: (conn, ch)."""
    conn = broker.connect()
    ch = conn.channel()
    ch.queue_declare(queue, durable=True, arguments=arguments)
    if confirm:
        ch.confirm_delivery()
    return conn, ch


def publish(ch, queue, bodies, properties=PERSISTENT, **kw):
    """Publishes each body to `queue` through the default exchange
    (persistent unless told otherwise); on a confirm channel each call
    returns on its basic.ack."""
    for body in bodies:
        ch.basic_publish("", queue, body, properties, **kw)


def back_in(broker, queue):
    """What `queue` holds now (after a restart, say), taken by basic.get on
    a connection of its own: (bodies, their redelivered flags)."""
    conn = broker.connect()
    got = get_all(conn.channel(), queue)
    conn.close()
    return [b for _, _, b in got], [m.redelivered for m, _, _ in got]


@contextlib.contextmanager
def busy_writer(b, queue, started=100):
    """A second connection publishing 32 KiB persistent messages to a
    durable queue without confirms until the block ends (or the broker
    dies under it), so the store's writer thread is busy; the block starts
    once `started` were sent and gets a function telling whether the
    flood is still going."""
    stop = threading.Event()
    sent = [0]

    def flood():
        fc = b.connect()
        fch = fc.channel()
        fch.queue_declare(queue, durable=True)
        body = b"f" * 32768
        try:
            while not stop.is_set() and sent[0] < 3000:
                fch.basic_publish("", queue, body, PERSISTENT)
                sent[0] += 1
                if sent[0] % 50 == 0:
                    fc.process_data_events(0)
        except (pe.AMQPError, OSError):
            pass  # killed under it
        finally:
            close_quietly(fc)

    t = threading.Thread(target=flood, daemon=True)
    t.start()
    while sent[0] < started and t.is_alive():
        t.join(0.01)
    try:
        yield lambda: t.is_alive() or sent[0] >= 3000  # still flooding (or done)
    finally:
        stop.set()
        t.join(10)


def drop_flood(b, queue):
    """Leaves an idle store to the next test (the flood's deletion is a long
    batch; the confirm after it says it is committed)."""
    conn = b.connect()
    ch = conn.channel()
    ch.queue_delete(queue)
    ch.confirm_delivery()
    ch.queue_declare("sync", durable=True)
    ch.basic_publish("", "sync", b"sync", PERSISTENT)
    ch.queue_delete("sync")
    conn.close()
