"""topology.py — the soak's fixed queues and exchanges, and how a message
reaches each queue.

Every fixed queue is designed so that each way a message may legitimately
leave it is known to the ledger:

  soak.q0 q1 q2   durable, no TTL, no limit, no dead-lettering: a message
                  leaves only when a consumer acks it or rejects it without
                  requeue (a drop: no DLX)
  soak.prio       the same with x-max-priority 9 (priorities 0-9)
  soak.limit      x-max-length 200 with x-overflow reject-publish: a message
                  the queue refuses is nacked to the publisher, never dropped
                  after its confirm
  soak.ttl        x-message-ttl 400 ms, x-delivery-limit 3, dead-lettered to
                  soak.dlx: expiry, the delivery limit and a reject without
                  requeue move the message to soak.dead (one transaction with
                  its removal, so no loss across kill -9 either)
  soak.maxlen     x-max-length 40 drop-head, dead-lettered to soak.dlx
  soak.retry      x-delivery-limit 2, dead-lettered to soak.dlx (its consumer
                  requeues most deliveries, so many reach the limit)
  soak.dead       bound to the fanout soak.dlx; no DLX of its own (a reject
                  without requeue drops)
  soak.t0         not durable, transient messages only: all lost at a
                  restart, checked only within the broker run they were
                  published in
Churn queues and exchanges (soak.churn.*) come and go; messages in them are
checked for integrity only.
"""

# Queue indexes as the ledger stores them (one byte per message id).
Q0, Q1, Q2, PRIO, LIMIT, TTL, MAXLEN, DEAD, T0, CHURN, RETRY = range(1, 12)

NAMES = {Q0: "soak.q0", Q1: "soak.q1", Q2: "soak.q2", PRIO: "soak.prio",
         LIMIT: "soak.limit", TTL: "soak.ttl", MAXLEN: "soak.maxlen",
         DEAD: "soak.dead", T0: "soak.t0", CHURN: "soak.churn", RETRY: "soak.retry"}
BY_NAME = {v: k for k, v in NAMES.items()}

TTL_MS = 400
DELIVERY_LIMIT = 3
MAXLEN_LEN = 40
RETRY_LIMIT = 2
LIMIT_LEN = 200

# x-arguments of each fixed queue (the same on every declare)
ARGS = {
    Q0: {}, Q1: {}, Q2: {},
    PRIO: {"x-max-priority": 9},
    LIMIT: {"x-max-length": LIMIT_LEN, "x-overflow": "reject-publish"},
    TTL: {"x-message-ttl": TTL_MS, "x-dead-letter-exchange": "soak.dlx",
          "x-delivery-limit": DELIVERY_LIMIT},
    MAXLEN: {"x-max-length": MAXLEN_LEN, "x-dead-letter-exchange": "soak.dlx"},
    RETRY: {"x-delivery-limit": RETRY_LIMIT, "x-dead-letter-exchange": "soak.dlx"},
    DEAD: {},
    T0: {},
}
DURABLE = {Q0, Q1, Q2, PRIO, LIMIT, TTL, MAXLEN, RETRY, DEAD}
FIXED = [Q0, Q1, Q2, PRIO, LIMIT, TTL, MAXLEN, RETRY, DEAD, T0]
# Queues whose reject-without-requeue moves the message (to soak.dead).
HAS_DLX = {TTL, MAXLEN, RETRY}
# Dead-letter reasons each DLX source may give.
DL_REASONS = {TTL: {"expired", "rejected", "delivery_limit"},
              MAXLEN: {"maxlen", "rejected"},
              RETRY: {"delivery_limit", "rejected"}}

# (name, type) of the durable fixed exchanges; bindings: (exchange, queue, key, args)
EXCHANGES = [("soak.direct", "direct"), ("soak.topic", "topic"),
             ("soak.headers", "headers"), ("soak.dlx", "fanout")]
BINDINGS = [("soak.direct", Q0, "q0", None),
            ("soak.headers", Q0, "", {"x-match": "any", "route": "q0"}),
            ("soak.topic", Q2, "soak.q2.#", None),
            ("soak.direct", MAXLEN, "maxlen", None),
            ("soak.dlx", DEAD, "", None)]

# Targets publishers pick, with weights; soak.t0 gets transient messages only.
PUBLISH_WEIGHTS = [(Q0, 18), (Q1, 14), (Q2, 10), (PRIO, 14), (LIMIT, 10),
                   (TTL, 12), (MAXLEN, 10), (RETRY, 6), (T0, 12)]


def route(target, variant):
    """(exchange, routing key, extra headers) a message for `target` is
    published with; `variant` (0-255, from the message id) picks among the
    routes that reach it."""
    if target == Q0:
        if variant & 1:
            return "soak.headers", "", {"route": "q0"}
        return "soak.direct", "q0", None
    if target == Q2:
        return "soak.topic", "soak.q2.%d" % (variant % 7), None
    if target == MAXLEN:
        return "soak.direct", "maxlen", None
    return "", NAMES[target], None


def declare_all(ch):
    """Declares the fixed topology on a pika BlockingChannel (idempotent)."""
    for name, kind in EXCHANGES:
        ch.exchange_declare(name, kind, durable=True)
    for q in FIXED:
        ch.queue_declare(NAMES[q], durable=q in DURABLE, arguments=ARGS[q] or None)
    for x, q, key, args in BINDINGS:
        ch.queue_bind(NAMES[q], x, routing_key=key, arguments=args)


def declare_target(ch, q, callback=None):
    """Declare for a client about to use queue q: passive for the durable
    fixed queues (a queue lost in a restart must show as an error, not be
    quietly re-created), active for soak.t0 (gone after every restart)."""
    if q == T0:
        return ch.queue_declare(NAMES[q], durable=False, callback=callback) if callback \
            else ch.queue_declare(NAMES[q], durable=False)
    if callback:
        return ch.queue_declare(NAMES[q], passive=True, callback=callback)
    return ch.queue_declare(NAMES[q], passive=True)
