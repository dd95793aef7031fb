"""Failover under confirmed persistent load: the leader is killed with -9
while a publisher (tests/durability/kill9.py's, asynchronous confirms with a
window) keeps a ledger of confirmed ids, and on odd rounds a consumer acks
as it goes; a new leader must serve within a few seconds, and every
confirmed id must be on it (or have been consumed before the kill), with a
duplicate only as redelivered. The killed node restarts and rejoins as a
follower before the next round. CLUSTER_ROUNDS (default 3) sets the rounds;
20 is the long form.

A confirm in a cluster means the batch is committed on a majority (in the
Raft log of two of three nodes), as RabbitMQ documents for quorum queues
("publisher confirms will only be issued once a published message has been
successfully replicated to a quorum of nodes"); the redelivered rule is the
spec's "may have been delivered before"."""
import os
import random
import time

from support.cluster import DEADLINE, wait_for
from support.load import Publisher, Target, drain

ROUNDS = int(os.environ.get("CLUSTER_ROUNDS", "3"))
FAILOVER_LIMIT = float(os.environ.get("CLUSTER_FAILOVER_LIMIT", "10"))


def test_failover_loses_no_confirmed_message(cluster):
    rng = random.Random(int(os.environ.get("CLUSTER_SEED", "14")))
    leader = cluster.wait_leader()
    next_id, times = 1, []
    for rnd in range(ROUNDS):
        consume = rnd % 2 == 1
        pub = Publisher(Target(leader, lambda: cluster.kill9(leader)), next_id, delay=rng.uniform(0.3, 1.2),
                        window=200, size=16, consume=consume)
        pub.run(timeout=DEADLINE)
        assert pub.error is None, pub.error
        assert pub.killed_at is not None, "the leader was not killed"
        assert pub.confirmed, "nothing was confirmed before the kill"
        killed = leader
        leader = cluster.wait_leader(among=[n for n in cluster.nodes if n is not killed])
        took = time.monotonic() - pub.killed_at
        times.append(took)
        got = drain(leader)
        ids = [i for i, _ in got]
        have = set(ids) | pub.consumed
        lost = [i for i in pub.confirmed if i not in have]
        assert not lost, "round %d: %d confirmed ids lost, first %r" % (rnd, len(lost), lost[:5])
        seen = set(pub.consumed)
        for i, redelivered in got:
            if i in seen:
                assert redelivered, "round %d: id %d again without redelivered" % (rnd, i)
            seen.add(i)
        print("round %d: %d confirmed, %d nacked, %d consumed, %d drained, failover %.2f s"
              % (rnd, len(pub.confirmed), len(pub.nacked), len(pub.consumed), len(got), took))
        assert took < FAILOVER_LIMIT, "round %d: no leader serving %.1f s after the kill" % (rnd, took)
        next_id = pub.next_id
        cluster.restart(killed)
        wait_for(lambda: killed.me()["state"] == "follower", "node %d back as follower" % killed.id)
    times.sort()
    print("failover: median %.2f s, max %.2f s over %d rounds"
          % (times[len(times) // 2], times[-1], len(times)))
