"""message.py — what the soak publishes for a message id, derived from the
id alone (and the run's seed), so any delivery can be checked byte for byte
without keeping bodies: size, body, properties, route.

Body: b"soak <id> <size>|" followed by a filler made of the id's digest,
`size` bytes in all. Sizes: mostly 32 B-1 KiB, some up to 64 KiB, a few
128 KiB-1 MiB (several frames at frame_max 128 KiB; past the memory budget
they are read back from disk).
"""
import hashlib

import pika

from topology import PRIO, TTL, route

_key = b"soak"


def set_seed(seed):
    global _key
    _key = b"soak-%d" % seed


def digest(mid):
    return hashlib.blake2b(mid.to_bytes(8, "big"), digest_size=16, key=_key).digest()


def size_of(mid, d=None):
    d = d or digest(mid)
    r = d[1] << 8 | d[2]          # 0-65535
    if d[0] < 230:
        return 32 + r % 993       # 32 B-1 KiB
    if d[0] < 253:
        return 1024 + r * 63 // 64    # 1-64 KiB
    return 128 * 1024 + r * 14    # 128 KiB-1 MiB


def body_of(mid, d=None):
    d = d or digest(mid)
    size = size_of(mid, d)
    head = b"soak %d %d|" % (mid, size)
    n = size - len(head)
    return head + (d * (n // 16 + 1))[:n]


def expiration_of(mid, target, d=None):
    """The per-message TTL (ms, as a string) of messages to soak.ttl, or None."""
    d = d or digest(mid)
    if target == TTL and d[5] < 64:
        return str(100 + d[6])
    return None


def priority_of(mid, target, d=None):
    d = d or digest(mid)
    return d[4] % 10 if target == PRIO else None


def headers_of(mid, target, d=None):
    """Our headers (None when the message has none); the broker's own
    (x-death and friends) are checked apart."""
    d = d or digest(mid)
    _, _, extra = route(target, d[3])
    h = dict(extra) if extra else {}
    if d[7] < 96:
        h.update({"sid": mid, "arr": [1, "two", True], "t": {"k": "v"}})
    return h or None


def publish_args(mid, target, persistent):
    """(exchange, routing key, body, pika.BasicProperties) for message mid."""
    d = digest(mid)
    x, rk, _ = route(target, d[3])
    props = pika.BasicProperties(delivery_mode=2 if persistent else 1, message_id=str(mid),
                                 priority=priority_of(mid, target, d),
                                 expiration=expiration_of(mid, target, d),
                                 headers=headers_of(mid, target, d))
    return x, rk, body_of(mid, d), props


def parse_id(body):
    """The id a body claims, or None when it is not one of ours."""
    if not body.startswith(b"soak "):
        return None
    try:
        return int(body[5:body.index(b" ", 5)])
    except ValueError:
        return None


def check(mid, target, persistent, body, props, dead=False):
    """What is wrong with a delivery of message mid (None when nothing).
    dead: the copy dead-lettered to soak.dead (no expiration any more)."""
    d = digest(mid)
    if body != body_of(mid, d):
        return "body differs (%d bytes, %d expected)" % (len(body), size_of(mid, d))
    if props.message_id != str(mid):
        return "message_id %r" % props.message_id
    if (props.delivery_mode or 1) != (2 if persistent else 1):
        return "delivery_mode %r" % props.delivery_mode
    want = priority_of(mid, target, d)
    if want is not None and props.priority != want:
        return "priority %r, %r expected" % (props.priority, want)
    exp = expiration_of(mid, target, d)
    if (None if dead else exp) != props.expiration:
        return "expiration %r, %r expected" % (props.expiration, None if dead else exp)
    h = headers_of(mid, target, d) or {}
    got = props.headers or {}
    for k, v in h.items():
        if got.get(k) != v:
            return "header %s = %r, %r expected" % (k, got.get(k), v)
    return None
