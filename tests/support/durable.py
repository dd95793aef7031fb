"""Helpers for the tests that restart or kill the broker and look at what
came back (test_durability.py, test_durable_replies.py)."""
import signal

import pika

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
