"""Every member killed with -9 at once, under confirmed persistent load:
when all three come back, a leader must serve every id confirmed before the
kill. A confirm means the batch is in the synced Raft log of a majority, so
losing all three processes (not their disks) must lose nothing confirmed;
a node that dropped its own open log segment at restart would be caught
here when another member did too."""

from support.cluster import wait_for
from support.load import Publisher, Target, drain


def test_all_members_killed_at_once_lose_nothing_confirmed(cluster):
    for rnd in range(2):
        leader = cluster.wait_leader()
        pub = Publisher(Target(leader, lambda: [cluster.kill9(n) for n in cluster.nodes]), 1 + rnd * 10_000_000, delay=1.0,
                        window=200, size=16, consume=False)
        pub.run(timeout=3.0)
        assert pub.killed_at is not None and pub.confirmed, "round %d confirmed nothing" % rnd
        for nd in cluster.nodes:
            nd.start()
        leader = cluster.wait_leader()
        got = {i for i, _ in drain(leader)}
        lost = [i for i in pub.confirmed if i not in got]
        assert not lost, "round %d: %d of %d confirmed ids lost, first %r" % (
            rnd, len(lost), len(pub.confirmed), lost[:5])
        wait_for(lambda: all(n.alive() for n in cluster.nodes), "all members up")
        print("round %d: %d confirmed, all there after a whole-cluster kill -9" %
              (rnd, len(pub.confirmed)))
