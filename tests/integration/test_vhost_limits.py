"""Vhost limits (max-connections, max-queues: a "vhost-limits" parameter in
the definitions) and user limits (max-connections, max-channels: a user's
"limits" object), loaded through support/defs.py.

Observed on RabbitMQ 3.10.8 (V = vhost, U = user, N = the limit):

  vhost max-connections   connection.open -> connection.close 530
      "NOT_ALLOWED - access to vhost 'V' refused for user 'U': connection
      limit (N) is reached"; 0 refuses every connection, -1 is no limit;
      checked before the user's own limit. A closed connection frees its
      slot at once; lowering the limit live keeps the open connections.
  vhost max-queues        queue.declare -> channel.close 406
      "PRECONDITION_FAILED - cannot declare queue 'Q': queue limit in vhost
      'V' (N) is reached" (a server-named queue is named amq.gen-...);
      redeclaring or passively declaring an existing queue still works;
      queues from the definitions count; deleting one frees a slot;
      "limits" {} clears the limits.
  user max-connections    connection.open -> 530 "NOT_ALLOWED - connection
      refused for user 'U': user connection limit (N) is reached" (counted
      over all vhosts).
  user max-channels       channel.open -> connection.close (not
      channel.close) 530 "NOT_ALLOWED - number of channels opened for user
      'U' has reached the maximum allowed user limit of (N)"; counted over
      all the user's connections; only the connection that asked is
      closed; closing a channel frees a slot.
"""
import time

import pika.exceptions as pe
import pytest

from support import defs as D
from support.defs import channel_closed, connection_closed


class Lim:
    """A vhost V (and V2) with users U (limits as given) and U2 (none)."""

    def __init__(self, d, vhost_limits=None, user_limits=None):
        self.d = d
        self.v, self.v2 = d.name("lim"), d.name("lim2")
        self.u, self.u2 = d.name("ulim"), d.name("ufree")
        self.conns = []
        d.load(self.doc(vhost_limits, user_limits))

    def doc(self, vhost_limits=None, user_limits=None, **more):
        params = [D.vhost_limits(self.v, **vhost_limits)] if vhost_limits is not None else []
        return D.document(
            vhosts=[D.vhost(self.v), D.vhost(self.v2)],
            users=[D.user(self.u, "pw", limits=user_limits), D.user(self.u2, "pw")],
            permissions=[D.permission(u, v) for u in (self.u, self.u2)
                         for v in (self.v, self.v2)],
            parameters=params, **more)

    def connect(self, user=None, vhost=None):
        c = self.d.connect(user or self.u, "pw", vhost or self.v)
        self.conns.append(c)
        return c

    def refusal(self, user=None, vhost=None):
        return self.d.open_refusal(user or self.u, "pw", vhost or self.v)

    def vhost_full(self, n, user=None):
        return (530, "NOT_ALLOWED - access to vhost '%s' refused for user '%s': "
                "connection limit (%d) is reached" % (self.v, user or self.u, n))

    def user_full(self, n):
        return (530, "NOT_ALLOWED - connection refused for user '%s': user connection "
                "limit (%d) is reached" % (self.u, n))

    def channels_full(self, n):
        return ("NOT_ALLOWED - number of channels opened for user '%s' has reached the "
                "maximum allowed user limit of (%d)" % (self.u, n))

    def queues_full(self, q, n):
        return ("PRECONDITION_FAILED - cannot declare queue '%s': queue limit in vhost '%s' "
                "(%d) is reached" % (q, self.v, n))

    def close(self):
        for c in self.conns:
            try:
                c.close()
            except Exception:
                pass


@pytest.fixture
def lim(defs_broker):
    made = []

    def make(vhost_limits=None, user_limits=None):
        lm = Lim(defs_broker(), vhost_limits, user_limits)
        made.append(lm)
        return lm
    yield make
    for lm in made:
        lm.close()


def settle():
    """RabbitMQ counts connections and channels asynchronously (a close may
    free its slot, an open take one, a moment later): let it catch up before
    a check that depends on the count."""
    time.sleep(0.3)


def eventually(fn, timeout=5.0):
    """fn() until true (limits are counted a little asynchronously)."""
    deadline = time.monotonic() + timeout
    while not fn() and time.monotonic() < deadline:
        time.sleep(0.05)
    return fn()


# ------------------------------------------------------------------ vhost max-connections

def test_vhost_max_connections(lim):
    lm = lim(vhost_limits={"max_connections": 2})
    a = lm.connect()
    lm.connect(lm.u2)                      # any user counts
    settle()
    assert lm.refusal() == lm.vhost_full(2)
    assert lm.refusal(lm.u2) == lm.vhost_full(2, lm.u2)
    assert lm.refusal(vhost=lm.v2) is None  # other vhosts are not limited
    with pytest.raises(pe.ProbableAccessDeniedError):
        lm.d.connect(lm.u, "pw", lm.v)
    a.close()
    assert eventually(lambda: lm.refusal() is None)


def test_vhost_max_connections_zero_and_unlimited(lim):
    lm = lim(vhost_limits={"max_connections": 0})
    assert lm.refusal() == lm.vhost_full(0)
    lm.d.apply(lm.doc({"max_connections": -1}))
    for _ in range(5):
        lm.connect()


def test_vhost_checked_before_user_limit(lim):
    lm = lim(vhost_limits={"max_connections": 1}, user_limits={"max-connections": 1})
    lm.connect()
    settle()
    assert lm.refusal() == lm.vhost_full(1)


def test_lowering_connection_limit_keeps_open_connections(lim):
    lm = lim(vhost_limits={"max_connections": 3})
    a, b = lm.connect(), lm.connect()
    lm.d.apply(lm.doc({"max_connections": 1}))
    settle()
    assert lm.refusal() == lm.vhost_full(1)
    assert a.is_open and b.is_open
    a.channel().queue_declare("", exclusive=True)
    b.channel().queue_declare("", exclusive=True)
    lm.d.apply(lm.doc({"max_connections": 5}))
    assert eventually(lambda: lm.refusal() is None)


# ------------------------------------------------------------------ vhost max-queues

def test_vhost_max_queues(lim):
    lm = lim(vhost_limits={"max_queues": 2})
    ch = lm.connect().channel()
    ch.queue_declare("q1")
    ch.queue_declare("q2")
    with channel_closed(406, lm.queues_full("q3", 2)):
        ch.queue_declare("q3")
    ch = lm.connect().channel()
    ch.queue_declare("q1")                          # existing: fine
    ch.queue_declare("q2", passive=True)
    with channel_closed(406) as err:
        ch.queue_declare("", exclusive=True)        # server-named counts too
    assert err.text.startswith("PRECONDITION_FAILED - cannot declare queue 'amq.gen-")
    assert err.text.endswith("': queue limit in vhost '%s' (2) is reached" % lm.v)
    ch = lm.connect().channel()
    ch.queue_delete("q1")
    ch.queue_declare("q3")
    ch.queue_delete("q2")
    ch.queue_delete("q3")


def test_queues_from_definitions_count(lim):
    lm = lim(vhost_limits={"max_queues": 5})
    lm.d.apply(lm.doc({"max_queues": 2}, queues=[D.queue(lm.v, "def-a"), D.queue(lm.v, "def-b")]))
    ch = lm.connect().channel()
    with channel_closed(406, lm.queues_full("mine", 2)):
        ch.queue_declare("mine")


def test_lowering_queue_limit_and_clearing_it(lim):
    lm = lim(vhost_limits={"max_queues": 10})
    c = lm.connect()
    ch = c.channel()
    for i in range(4):
        ch.queue_declare("q%d" % i)
    lm.d.apply(lm.doc({"max_queues": 2}))
    for i in range(4):                              # existing queues stay
        ch.queue_declare("q%d" % i, passive=True)
    with channel_closed(406, lm.queues_full("q9", 2)):
        ch.queue_declare("q9")
    lm.d.apply(lm.doc({}))                          # "value": {}: no limits
    ch = c.channel()
    ch.queue_declare("q9")


# ------------------------------------------------------------------ user limits

def test_user_max_connections(lim):
    lm = lim(user_limits={"max-connections": 2})
    a = lm.connect()
    lm.connect(vhost=lm.v2)                        # counted over all vhosts
    settle()
    assert lm.refusal() == lm.user_full(2)
    assert lm.refusal(vhost=lm.v2) == lm.user_full(2)
    assert lm.refusal(lm.u2) is None               # other users are not limited
    a.close()
    assert eventually(lambda: lm.refusal() is None)


def test_user_max_channels(lim):
    lm = lim(user_limits={"max-channels": 3})
    a, b = lm.connect(), lm.connect(vhost=lm.v2)
    a.channel()
    a.channel()
    kept = b.channel()                             # 3 channels over 2 connections
    settle()
    with connection_closed(530, lm.channels_full(3)):
        a.channel()
    assert not a.is_open
    assert b.is_open                               # only the asking connection goes
    kept.queue_declare("", exclusive=True)
    other = lm.connect(lm.u2)                      # other users are not limited
    for _ in range(5):
        other.channel()


def test_user_max_channels_freed_by_channel_close(lim):
    lm = lim(user_limits={"max-channels": 2})
    c = lm.connect()
    first = c.channel()
    c.channel()
    first.close()
    settle()
    third = c.channel()
    third.queue_declare("", exclusive=True)
    settle()
    with connection_closed(530, lm.channels_full(2)):
        c.channel()
