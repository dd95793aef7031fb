"""SIGSTOP of the leader under confirmed persistent load: the other two
elect a new leader; on SIGCONT the old leader finds its term over, its
unconfirmed batches fail (nothing it held is confirmed), it closes its
clients and re-executes itself to come back as a follower naming the new
leader. Every id confirmed before the stop is on the new leader."""
import time

from support.cluster import DEADLINE, wait_for
from support.load import Publisher, Target, drain


def test_paused_leader_demotes_and_loses_nothing(cluster):
    old = cluster.wait_leader()
    pub = Publisher(Target(old, lambda: cluster.sigstop(old)), 1, delay=0.8, window=200, size=16, consume=False)
    pub.run(timeout=3.0)  # publishes 0.8 s, then waits on the stopped node
    assert pub.killed_at is not None and pub.confirmed
    at_stop = len(pub.confirmed)
    others = [n for n in cluster.nodes if n is not old]
    new = cluster.wait_leader(among=others)
    took = time.monotonic() - pub.killed_at
    cluster.sigcont(old)
    # The publisher listens on: what the old leader says after SIGCONT (a
    # confirm of a batch committed just before the stop, nacks of the
    # rest) counts too, until it closes the connection as it demotes.
    pub.conn.ioloop.call_later(DEADLINE, pub.conn.ioloop.stop)
    pub.conn.ioloop.start()
    assert pub.conn.is_closed, "the old leader kept its client connection"
    # the old leader re-executes (same pid) and comes back as a follower
    wait_for(lambda: old.me()["state"] == "follower" and
             [n["id"] for n in old.api("nodes") if n["leader"]] == [new.id],
             "the old leader back as a follower of node %d" % new.id)
    assert "leadership lost" in old.log()
    got = {i for i, _ in drain(new)}
    lost = [i for i in pub.confirmed if i not in got]
    assert not lost, "%d confirmed ids lost, first %r" % (len(lost), lost[:5])
    print("pause: %d confirmed at the stop, %d after SIGCONT, %d nacked; new leader serving "
          "%.2f s after SIGSTOP" % (at_stop, len(pub.confirmed) - at_stop, len(pub.nacked), took))


def test_leader_without_a_majority_steps_down(cluster):
    """Both followers stopped: the leader hears from no majority, so libraft
    steps it down after an election timeout; it demotes (re-exec) and
    refuses clients with 320 'no leader' while alone; nothing it confirmed
    before is lost once the followers are back."""
    import pika
    leader = cluster.wait_leader()
    c = leader.connect()
    ch = c.channel()
    ch.confirm_delivery()
    ch.queue_declare("minority", durable=True)
    for i in range(100):
        ch.basic_publish("", "minority", b"%d" % i, pika.BasicProperties(delivery_mode=2))
    followers = [n for n in cluster.nodes if n is not leader]
    for f in followers:
        cluster.sigstop(f)
    # a publish now cannot be confirmed: nacked, or the connection closes
    confirmed_alone = True
    try:
        ch.basic_publish("", "minority", b"alone", pika.BasicProperties(delivery_mode=2))
    except (pika.exceptions.NackError, pika.exceptions.AMQPError):
        confirmed_alone = False
    assert not confirmed_alone, "a lone leader confirmed a publish"
    wait_for(lambda: leader.me()["state"] != "leader", "the lone leader to step down")
    wait_for(lambda: "no leader elected yet" in refused_text(leader), "the 320 'no leader'")
    for f in followers:
        cluster.sigcont(f)
    new = cluster.wait_leader()
    c = new.connect()
    ch = c.channel()
    got = set()
    while True:
        m, _, body = ch.basic_get("minority", auto_ack=True)
        if m is None:
            break
        got.add(body)
    c.close()
    assert {b"%d" % i for i in range(100)} <= got


def refused_text(node):
    try:
        node.connect().close()
    except Exception as e:
        return str(e)
    return ""
