"""Confirmed persistent load on a cluster, with tests/durability/kill9.py's
publisher (asynchronous confirms with a window, a ledger of confirmed ids):
Target is the broker it expects, and drain() reads back what a node holds."""
import os
import sys
import time

from support.cluster import DEADLINE

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "durability"))
from kill9 import QUEUE, Publisher  # noqa: E402,F401


class Target:
    """What kill9.Publisher expects of a broker: params() of the node it
    publishes to, and kill9(), which does to the cluster what the test
    wants (kill the leader, stop it, kill every member)."""

    def __init__(self, node, on_kill):
        self.node, self.on_kill = node, on_kill

    def params(self):
        return self.node.params()

    def kill9(self):
        self.on_kill()


def drain(node):
    """[(id, redelivered)] of everything in the queue, auto-acked."""
    conn = node.connect()
    try:
        ch = conn.channel()
        n = ch.queue_declare(QUEUE, durable=True).method.message_count
        got = []
        if n:
            ch.basic_consume(QUEUE, lambda c, m, p, b: got.append(
                (int(b.split(b" ", 1)[0]), m.redelivered)), auto_ack=True)
            end = time.monotonic() + DEADLINE
            while len(got) < n and time.monotonic() < end:
                conn.process_data_events(time_limit=0.1)
        assert len(got) == n, "drained %d of %d" % (len(got), n)
        return got
    finally:
        conn.close()
