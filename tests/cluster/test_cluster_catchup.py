"""A follower that was down while N persistent messages were confirmed
catches up when it comes back (the leader's /api/nodes shows its lag at 0,
its own applied index reaches what it knows is committed), and then holds
them itself: with the other two killed and one of them restarted with an
empty data dir, the caught-up node is the only one that can lead (the
empty one cannot win its vote) and it serves all N, in order. With
snapshots every 16 entries (2 kept after each), the leader has compacted
its log far past what the follower has, so the follower catches up by
installing a snapshot (a copy of the leader's file) and replaying the
rest."""
import os
import shutil

import pika

from support.cluster import Cluster

N = 2000


def test_restarted_follower_catches_up_and_serves(cluster):
    catch_up_and_serve(cluster, snapshots=False)


def test_catch_up_through_a_snapshot(tmp_path):
    c = Cluster(str(tmp_path), extra=["cluster.snapshot_threshold = 16",
                                      "cluster.snapshot_trailing = 2"])
    c.start()
    try:
        catch_up_and_serve(c, snapshots=True)
    finally:
        bad = c.stop()
    assert not bad, "sanitizer reports:\n" + "\n".join(bad)


def snapshot_files(node):
    return [n for n in os.listdir(os.path.join(node.dir, "raft")) if n.startswith("snapshot-")]


def catch_up_and_serve(cluster, snapshots):
    leader = cluster.wait_leader()
    f, other = [n for n in cluster.nodes if n is not leader]
    cluster.kill9(f)
    c = leader.connect()
    ch = c.channel()
    ch.confirm_delivery()
    ch.queue_declare("catchup", durable=True)
    for i in range(N):
        ch.basic_publish("", "catchup", b"%d" % i, pika.BasicProperties(delivery_mode=2))
    c.close()
    behind = [n for n in leader.api("nodes") if n["id"] == f.id][0]
    assert behind["lag"] > 0, behind  # the leader knows it is missing entries
    if snapshots:
        assert snapshot_files(leader), "the leader took no snapshot"
        assert not snapshot_files(f)
    f.start()
    cluster.wait_caught_up(f, leader)
    if snapshots:
        assert snapshot_files(f), "the follower caught up without installing a snapshot"
    # the other two die; `other` loses its disk and comes back empty
    cluster.kill9(leader)
    cluster.kill9(other)
    shutil.rmtree(other.dir)
    other.start()
    new = cluster.wait_leader(among=[f, other])
    assert new is f, "node %d leads, not the caught-up node %d" % (new.id, f.id)
    c = f.connect()
    ch = c.channel()
    q = ch.queue_declare("catchup", durable=True, passive=True)
    assert q.method.message_count == N
    got = []
    for _ in range(N):
        m, _, body = ch.basic_get("catchup", auto_ack=True)
        assert m is not None
        got.append(int(body))
    assert got == list(range(N))
    c.close()
    # and the empty node got it all from f
    cluster.wait_caught_up(other, f)
