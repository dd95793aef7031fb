"""Policies and operator policies from definitions (support/defs.py): what
applies to a queue, how it merges with the queue's own x-arguments, and
live changes (Tern: SIGHUP with definitions.prune = true; RabbitMQ: POST
/api/definitions, DELETE /api/policies/... to remove).

Observed on RabbitMQ 3.10.8 (classic queues):
  * a matching policy's message-ttl, max-length, expires (a passive
    declare counts as a use and restarts the timer) and
    dead-letter-exchange apply to a queue declared without arguments
    (max-length drops the head, dead-lettered with reason "maxlen";
    expiry dead-letters with reason "expired").
  * argument vs policy: message-ttl, max-length and expires take the lower
    of the two (x-message-ttl 60000 + policy 300 -> 300 ms; 300 + 60000 ->
    300); dead-letter-exchange and overflow: the queue's argument wins.
  * operator policy: the lower of it and the policy / argument wins
    (policy max-length 10 + operator 2 -> 2; policy 2 + operator 10 -> 2).
  * of several matching policies only the highest priority one applies;
    they do not merge (a higher one without max-length leaves the queue
    unlimited even though a lower one sets max-length).
  * apply-to "exchanges" does not touch queues; an exchange policy's
    alternate-exchange applies to a matching exchange.
  * a policy added to an existing queue applies at once (a max-length
    policy truncates the queue, dead-lettering the overflow); removing it
    lifts it for the following publishes.
The documents here hold no queues, exchanges or bindings (the tests
declare those), so pruning on Tern only ever removes policies.
"""
import time

import pytest

from support import defs as D
from support.helpers import drain, queue_counts, sync, wait_for


class Pol:
    def __init__(self, d):
        self.d = d
        self.v, self.u = d.name("pol"), d.name("pu")
        self.policies, self.op_policies = [], []
        d.load(self.doc())
        self.conn = d.connect(self.u, "pw", self.v)
        ch = self.ch = self.conn.channel()
        for x, q in (("dlx-a", "dead-a"), ("dlx-b", "dead-b"), ("ae", "ae-q")):
            ch.exchange_declare(x, "fanout")
            ch.queue_declare(q)
            ch.queue_bind(q, x)

    def doc(self):
        return D.document(vhosts=[D.vhost(self.v)], users=[D.user(self.u, "pw")],
                          permissions=[D.permission(self.u, self.v)],
                          policies=self.policies, parameters=self.op_policies)

    def set(self, *policies, operator=()):
        """Replace the policies (and operator policies) and apply them."""
        self.policies = [D.policy(self.v, *p[:3], **p[3] if len(p) > 3 else {})
                         for p in policies]
        self.op_policies = [D.operator_policy(self.v, *p) for p in operator]
        self.d.apply(self.doc())

    def count(self, q):
        return queue_counts(self.ch, q)[0]

    def publish(self, q, n):
        for i in range(n):
            self.ch.basic_publish("", q, b"%d" % i)
        sync(self.ch)

    def settle_count(self, q, n, timeout=3.0):
        return wait_for(lambda: self.count(q) == n, self.conn, timeout)


@pytest.fixture
def pol(defs_broker):
    d = defs_broker(config_lines=["definitions.prune = true"])
    p = Pol(d)
    yield p
    p.conn.close()


def x_death_reasons(ch, q):
    out = []
    while True:
        m, props, _ = ch.basic_get(q, auto_ack=True)
        if m is None:
            return out
        out.append(props.headers["x-death"][0]["reason"])


# ------------------------------------------------------------------ a policy applies

def test_policy_applies_to_matching_queue(pol):
    pol.set(("all", r"^pol\.", {"message-ttl": 300, "max-length": 2,
                                "dead-letter-exchange": "dlx-a"}, {"apply_to": "queues"}))
    pol.ch.queue_declare("pol.q")
    pol.ch.queue_declare("other.q")
    pol.publish("pol.q", 3)
    pol.publish("other.q", 3)
    assert pol.settle_count("dead-a", 1)              # head dropped: dead-lettered
    assert x_death_reasons(pol.ch, "dead-a") == ["maxlen"]
    assert pol.settle_count("pol.q", 0)               # the other two expire
    assert pol.settle_count("dead-a", 2)
    assert x_death_reasons(pol.ch, "dead-a") == ["expired", "expired"]
    assert pol.count("other.q") == 3                  # no match, no policy


def test_expires_from_policy(pol):
    pol.set(("exp", r"^exp\.", {"expires": 300}))
    pol.ch.queue_declare("exp.q")
    pol.ch.queue_declare("exp.q-arg", arguments={"x-expires": 60000})   # lower wins
    pol.ch.queue_declare("keep.q")

    def gone(q):
        ch = pol.conn.channel()
        try:
            ch.queue_declare(q, passive=True)
            ch.close()
            return False
        except Exception:
            return True
    # no polling: a (passive) declare is a use and restarts the expiry timer
    time.sleep(1.5)
    assert gone("exp.q") and gone("exp.q-arg")
    assert not gone("keep.q")


# ------------------------------------------------------------------ precedence

@pytest.mark.parametrize("arg,policy", [(60000, 300), (300, 60000)])
def test_message_ttl_lower_of_argument_and_policy(pol, arg, policy):
    pol.set(("ttl", r"^ttl\.", {"message-ttl": policy}))
    pol.ch.queue_declare("ttl.q", arguments={"x-message-ttl": arg})
    pol.ch.queue_declare("ctl.q", arguments={"x-message-ttl": 60000})
    pol.publish("ttl.q", 1)
    pol.publish("ctl.q", 1)
    assert pol.settle_count("ttl.q", 0, timeout=3)    # 300 ms either way
    assert pol.count("ctl.q") == 1


@pytest.mark.parametrize("arg,policy", [(5, 2), (2, 5)])
def test_max_length_lower_of_argument_and_policy(pol, arg, policy):
    pol.set(("len", r"^len\.", {"max-length": policy}))
    pol.ch.queue_declare("len.q", arguments={"x-max-length": arg})
    pol.publish("len.q", 6)
    assert pol.settle_count("len.q", 2)
    assert drain(pol.ch, "len.q") == [b"4", b"5"]     # drop-head kept the newest


def test_dead_letter_exchange_argument_wins(pol):
    pol.set(("dlx", r"^dlx\.", {"dead-letter-exchange": "dlx-b"}))
    pol.ch.queue_declare("dlx.arg", arguments={"x-dead-letter-exchange": "dlx-a",
                                               "x-message-ttl": 100})
    pol.ch.queue_declare("dlx.none", arguments={"x-message-ttl": 100})
    pol.publish("dlx.arg", 1)
    pol.publish("dlx.none", 1)
    assert pol.settle_count("dead-a", 1)              # the argument's DLX
    assert pol.settle_count("dead-b", 1)              # the policy's, from dlx.none only
    time.sleep(0.3)
    assert (pol.count("dead-a"), pol.count("dead-b")) == (1, 1)


def test_overflow_argument_wins(pol):
    pol.set(("ovf", r"^ovf\.", {"overflow": "drop-head"}))
    pol.ch.queue_declare("ovf.q", arguments={"x-overflow": "reject-publish",
                                             "x-max-length": 1})
    pol.publish("ovf.q", 3)
    assert drain(pol.ch, "ovf.q") == [b"0"]           # reject-publish kept the first


@pytest.mark.parametrize("policy,operator,arg,expected", [
    (10, 2, None, 2), (2, 10, None, 2), (None, 3, None, 3), (None, 2, 10, 2)],
    ids=["operator-caps-policy", "policy-lower", "operator-alone", "operator-caps-arg"])
def test_operator_policy_caps(pol, policy, operator, arg, expected):
    policies = [("user", r"^op\.", {"max-length": policy})] if policy else []
    pol.set(*policies, operator=[("cap", r"^op\.", {"max-length": operator})])
    pol.ch.queue_declare("op.q", arguments={"x-max-length": arg} if arg else None)
    pol.publish("op.q", 12)
    assert pol.settle_count("op.q", expected)
    time.sleep(0.2)
    assert pol.count("op.q") == expected


# ------------------------------------------------------------------ priority

def test_highest_priority_wins(pol):
    pol.set(("lo", r"^prio\.", {"max-length": 5}, {"priority": 1}),
            ("hi", r"^prio\.", {"max-length": 1}, {"priority": 2}))
    pol.ch.queue_declare("prio.q")
    pol.publish("prio.q", 6)
    assert pol.settle_count("prio.q", 1)


def test_policies_do_not_merge(pol):
    pol.set(("lo", r"^merge\.", {"max-length": 1}, {"priority": 1}),
            ("hi", r"^merge\.", {"message-ttl": 600000}, {"priority": 2}))
    pol.ch.queue_declare("merge.q")
    pol.publish("merge.q", 6)
    time.sleep(0.3)
    assert pol.count("merge.q") == 6


def test_apply_to_exchanges_leaves_queues_alone(pol):
    pol.set(("ex", r"^both\.", {"alternate-exchange": "ae"}, {"apply_to": "exchanges"}),
            ("qs", r"^both\.", {"max-length": 1}, {"apply_to": "queues"}))
    pol.ch.exchange_declare("both.x", "direct")
    pol.ch.queue_declare("both.q")
    pol.ch.queue_bind("both.q", "both.x", "k")
    pol.ch.basic_publish("both.x", "k", b"routed")
    pol.ch.basic_publish("both.x", "other", b"unroutable")
    sync(pol.ch)
    assert pol.settle_count("ae-q", 1)
    assert drain(pol.ch, "ae-q") == [b"unroutable"]
    pol.publish("both.q", 3)
    assert pol.settle_count("both.q", 1)


# ------------------------------------------------------------------ live changes

def test_policy_added_live_applies_to_existing_queue(pol):
    pol.set()
    pol.ch.queue_declare("live.q")
    pol.publish("live.q", 3)
    assert pol.settle_count("live.q", 3)
    pol.set(("cap", r"^live\.", {"max-length": 1, "dead-letter-exchange": "dlx-a"}))
    assert pol.settle_count("live.q", 1)              # truncated at once
    assert drain(pol.ch, "live.q") == [b"2"]
    assert pol.settle_count("dead-a", 2)
    assert x_death_reasons(pol.ch, "dead-a") == ["maxlen", "maxlen"]


def test_policy_changed_live(pol):
    pol.set(("cap", r"^chg\.", {"max-length": 3}))
    pol.ch.queue_declare("chg.q")
    pol.publish("chg.q", 5)
    assert pol.settle_count("chg.q", 3)
    pol.set(("cap", r"^chg\.", {"max-length": 1}))
    assert pol.settle_count("chg.q", 1)


def test_policy_removed_live_is_lifted(pol):
    pol.set(("cap", r"^rm\.", {"max-length": 1}), ("keep", r"^keep\.", {"max-length": 1}))
    pol.ch.queue_declare("rm.q")
    pol.ch.queue_declare("keep.q")
    pol.publish("rm.q", 3)
    assert pol.settle_count("rm.q", 1)
    pol.d.remove_policy(pol.v, "cap")
    pol.policies = [p for p in pol.policies if p["name"] != "cap"]
    pol.publish("rm.q", 3)
    assert pol.settle_count("rm.q", 4)
    pol.publish("keep.q", 3)                          # the other one still holds
    assert pol.settle_count("keep.q", 1)


def test_operator_policy_removed_live_is_lifted(pol):
    pol.set(operator=[("cap", r"^oprm\.", {"max-length": 1})])
    pol.ch.queue_declare("oprm.q")
    pol.publish("oprm.q", 3)
    assert pol.settle_count("oprm.q", 1)
    pol.d.remove_policy(pol.v, "cap", operator=True)
    pol.op_policies = []
    pol.publish("oprm.q", 3)
    assert pol.settle_count("oprm.q", 4)
