"""ledger.py — every message id the soak published, what became of it, and
the checks made on each delivery and at the end.

Per id (arrays indexed by id, a few bytes each, so millions fit):
  target   the queue it was published to (topology index)
  flags    PUB (published, or may have been), PERSIST, CONF (confirmed by
           basic.ack or tx.commit-ok), NACK, RET (returned unroutable),
           GONE (legitimately removed: acked, or rejected without requeue
           from a queue without DLX), NEVER (must never be delivered: cut
           mid-frame, rolled back)
  seen     AT_TARGET / AT_DEAD (delivered from its queue / from
           soak.dead), REJ (rejected without requeue from a DLX source:
           x-death reason "rejected" allowed), BROWSED (seen by the live
           browse at the end), DRAINED (seen by the final drain)
  epoch    the broker run (1, 2, ...) it was published in

Checks on each delivery: the body and properties are exactly what was
published for that id; it was published (or may have been) and is not
NEVER; it comes from its own queue (or from soak.dead when its queue
dead-letters, with a correct x-death); a second delivery from the same
queue has redelivered = true; a transient message is never delivered in a
later broker run than it was published in.
"""
import array
import threading
from collections import Counter

import message
import topology as T

PUB, PERSIST, CONF, NACK, RET, GONE, NEVER = 1, 2, 4, 8, 16, 32, 64
AT_TARGET, AT_DEAD, REJ, BROWSED, DRAINED = 1, 2, 4, 8, 16

MAX_EXAMPLES = 20


class Ledger:
    def __init__(self):
        self.lock = threading.Lock()
        self.next_id = 1
        self.target = bytearray(1)
        self.flags = bytearray(1)
        self.seen = bytearray(1)
        self.epoch = array.array("H", [0])
        self.counts = Counter()          # published, confirmed, delivered, ...
        self.problems = Counter()        # kind -> number
        self.examples = []               # (kind, text), the first MAX_EXAMPLES
        self.on_problem = None           # called with (kind, text) for those

    # ------------------------------------------------------------ ids
    def _grow(self, n):
        need = self.next_id + n - len(self.flags)
        if need > 0:
            more = max(need, 1 << 16)
            self.target.extend(bytes(more))
            self.flags.extend(bytes(more))
            self.seen.extend(bytes(more))
            self.epoch.extend([0] * more)

    def reserve(self, n, target, persistent, epoch, published=False):
        """n consecutive ids for target; returns the first. published: mark
        them all as possibly published (a child process publishes them)."""
        with self.lock:
            self._grow(n)
            first = self.next_id
            self.next_id += n
            f = (PUB if published else 0) | (PERSIST if persistent else 0)
            for i in range(first, first + n):
                self.target[i] = target
                self.flags[i] = f
                self.epoch[i] = epoch
            return first

    def new(self, target, persistent, epoch):
        """One id, published now."""
        mid = self.reserve(1, target, persistent, epoch)
        self.mark_published(mid)
        return mid

    def mark_published(self, mid):
        with self.lock:
            self.flags[mid] |= PUB
            self.counts["published"] += 1

    def _set(self, mid, bit, count=None):
        with self.lock:
            self.flags[mid] |= bit
            if count:
                self.counts[count] += 1

    def confirmed(self, mid):
        with self.lock:
            if not self.flags[mid] & RET:
                self.flags[mid] |= CONF
                self.counts["confirmed"] += 1
                self.counts["confirmed persistent" if self.flags[mid] & PERSIST
                            else "confirmed transient"] += 1

    def nacked(self, mid):
        self._set(mid, NACK, "nacked")

    def returned(self, mid):
        with self.lock:
            self.flags[mid] |= RET
            self.counts["returned"] += 1
        if self.target[mid] != T.CHURN:
            self.problem("unroutable", "message %d to %s came back unroutable (a binding or "
                         "queue lost?)" % (mid, T.NAMES[self.target[mid]]))

    def never(self, mid):
        """mid was not published whole (cut mid-frame, rolled back): no
        delivery of it may ever appear."""
        with self.lock:
            self.flags[mid] |= NEVER

    def gone(self, mid):
        self._set(mid, GONE)

    def rejected(self, mid, queue):
        """Rejected (or nacked) without requeue from queue."""
        if queue in T.HAS_DLX and self.target[mid] == queue:
            with self.lock:
                self.seen[mid] |= REJ
        else:
            self.gone(mid)

    # ------------------------------------------------------------ problems
    def problem(self, kind, text):
        """Records a failure; the first MAX_EXAMPLES are kept for the
        report and printed as they happen (a long run shows them early)."""
        with self.lock:
            self.problems[kind] += 1
            keep = len(self.examples) < MAX_EXAMPLES
            if keep:
                self.examples.append((kind, text))
        if keep and self.on_problem:
            self.on_problem(kind, text)

    def count(self, name, n=1):
        with self.lock:
            self.counts[name] += n

    # ------------------------------------------------------------ deliveries
    def delivery(self, queue, redelivered, props, body, epoch, phase=None):
        """Checks one delivery from queue (a topology index) to a client
        connected in broker run `epoch`. phase: None, "browse" or "drain".
        Returns the message id, or None when the delivery is not one of ours
        (a problem is recorded)."""
        mid = message.parse_id(body)
        where = "%s (%s)" % (T.NAMES.get(queue, queue), phase or "consume")
        if mid is None or not 0 < mid < self.next_id:
            self.problem("phantom", "%s delivered a body we never published: %r"
                         % (where, body[:60]))
            return None
        with self.lock:
            f, target, s, ep = self.flags[mid], self.target[mid], self.seen[mid], self.epoch[mid]
            self.counts["delivered"] += 1
            if phase:
                self.counts[{"browse": "browsed", "drain": "drained"}[phase]] += 1
            if redelivered:
                self.counts["delivered redelivered"] += 1
        hist = "(flags %s, seen %s, published in run %d, delivered in run %d)" % (
            flag_names(f), seen_names(s), ep, epoch)
        if not f & PUB:
            self.problem("phantom", "%s delivered message %d, never published %s"
                         % (where, mid, hist))
            return None
        if f & NEVER:
            self.problem("phantom", "%s delivered message %d, which was cut mid-frame or "
                         "rolled back %s" % (where, mid, hist))
            return None
        dead = queue == T.DEAD and target in T.HAS_DLX
        if queue != target and not dead:
            self.problem("misrouted", "%s delivered message %d published to %s %s"
                         % (where, mid, T.NAMES.get(target), hist))
            return None
        bad = message.check(mid, target, bool(f & PERSIST), body, props, dead=dead)
        if bad:
            self.problem("corrupt", "%s: message %d: %s %s" % (where, mid, bad, hist))
            return None
        if dead:
            bad = self._check_death(mid, target, f, s, props)
            if bad:
                self.problem("x-death", "%s: message %d: %s %s" % (where, mid, bad, hist))
            else:
                self.count("dead-lettered (%s) delivered" % props.headers["x-death"][0]["reason"])
        if not f & PERSIST and epoch > ep:
            self.problem("resurrected", "%s delivered transient message %d after a restart %s"
                         % (where, mid, hist))
        bit = AT_DEAD if dead else AT_TARGET
        # (churn messages reach several churn queues: copies, not repeats)
        if s & bit and not redelivered and target != T.CHURN:
            self.problem("redelivered-flag", "%s delivered message %d again with "
                         "redelivered = false %s" % (where, mid, hist))
        with self.lock:
            self.seen[mid] |= bit | (BROWSED if phase == "browse" else 0) | \
                (DRAINED if phase == "drain" else 0)
        return mid

    def _check_death(self, mid, target, f, s, props):
        h = props.headers or {}
        xd = h.get("x-death")
        if not isinstance(xd, list) or len(xd) != 1 or not isinstance(xd[0], dict):
            return "x-death %r, one entry expected" % (xd,)
        e = xd[0]
        x, rk, _ = T.route(target, message.digest(mid)[3])
        reason = e.get("reason")
        if e.get("queue") != T.NAMES[target]:
            return "x-death queue %r" % e.get("queue")
        if reason not in T.DL_REASONS[target]:
            return "x-death reason %r from %s" % (reason, T.NAMES[target])
        if reason == "rejected" and not s & REJ:
            return "x-death reason 'rejected', but no client rejected it without requeue"
        if e.get("count") != 1:
            return "x-death count %r" % e.get("count")
        if e.get("exchange") != x or e.get("routing-keys") != [rk]:
            return "x-death exchange %r routing-keys %r, %r [%r] expected" % (
                e.get("exchange"), e.get("routing-keys"), x, rk)
        exp = message.expiration_of(mid, target)
        if e.get("original-expiration") != exp:
            return "x-death original-expiration %r, %r expected" % (
                e.get("original-expiration"), exp)
        if h.get("x-first-death-queue") != T.NAMES[target] or \
                h.get("x-first-death-reason") != reason:
            return "x-first-death-queue/reason %r/%r" % (
                h.get("x-first-death-queue"), h.get("x-first-death-reason"))
        return None

    # ------------------------------------------------------------ the end
    def missing(self, need_bit, final_epoch=None):
        """Confirmed ids, not legitimately gone, that the final browse
        (need_bit BROWSED: every queue, transient messages of the last run
        included) or drain (DRAINED: persistent messages in durable
        queues) did not see. Returns (checked, [ids])."""
        checked, lost = 0, []
        with self.lock:
            for mid in range(1, self.next_id):
                f = self.flags[mid]
                if f & (CONF | RET | GONE) != CONF:
                    continue
                t = self.target[mid]
                if t == T.CHURN:
                    continue
                if need_bit == DRAINED:
                    if not f & PERSIST or t not in T.DURABLE:
                        continue
                elif not f & PERSIST and self.epoch[mid] != final_epoch:
                    continue
                checked += 1
                if not self.seen[mid] & need_bit:
                    lost.append(mid)
        return checked, lost

    def describe(self, mid):
        return "%d -> %s (flags %s, seen %s, run %d)" % (
            mid, T.NAMES.get(self.target[mid]), flag_names(self.flags[mid]),
            seen_names(self.seen[mid]), self.epoch[mid])


def flag_names(f):
    return "|".join(n for b, n in ((PUB, "pub"), (PERSIST, "persistent"), (CONF, "confirmed"),
                                   (NACK, "nacked"), (RET, "returned"), (GONE, "gone"),
                                   (NEVER, "never")) if f & b) or "-"


def seen_names(s):
    return "|".join(n for b, n in ((AT_TARGET, "delivered"), (AT_DEAD, "dead-lettered"),
                                   (REJ, "rejected"), (BROWSED, "browsed"),
                                   (DRAINED, "drained")) if s & b) or "-"
