"""A three-node cluster: one leader serves, followers refuse AMQP with 320
naming the leader's address and answer management GETs only; what is
declared on the leader (exchange, queue, binding, user, policy, persistent
messages) is on the leader elected after it is killed.

The 320 reply code is RabbitMQ's CONNECTION_FORCED (what RabbitMQ 3.10 sends
when a node closes client connections as it stops; checked there with
`rabbitmqctl close_all_connections`, which also uses 320); the NOT_LEADER
text is Tern's (docs/clustering.md 4.2): RabbitMQ's nodes all serve
clients, so there is no RabbitMQ behaviour to compare the refusal with."""
import json
import urllib.error
import urllib.request

import pika

from support.cluster import wait_for


def http(node, method, path, body=None, auth=("guest", "guest")):
    import base64
    req = urllib.request.Request("http://127.0.0.1:%d/api/%s" % (node.mgmt, path), method=method,
                                 data=json.dumps(body).encode() if body is not None else None)
    req.add_header("Content-Type", "application/json")
    req.add_header("Authorization", "Basic " + base64.b64encode(("%s:%s" % auth).encode()).decode())
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            data = r.read()
            return r.status, json.loads(data) if data else None
    except urllib.error.HTTPError as e:
        data = e.read()
        return e.code, json.loads(data) if data else None


def test_followers_refuse_and_name_the_leader(cluster):
    leader = cluster.wait_leader()
    followers = [n for n in cluster.nodes if n is not leader]
    for f in followers:
        # a follower learns who leads from the leader's first heartbeat
        wait_for(lambda: f.me()["state"] == "follower", "node %d a follower" % f.id)
        code, text = f.refusal()
        assert code == 320, (code, text)
        assert "NOT_LEADER" in text and leader.amqp_address in text, text
    # /api/nodes on every node: three members, the same leader
    for n in cluster.nodes:
        nodes = n.api("nodes")
        assert sorted(m["id"] for m in nodes) == [1, 2, 3]
        assert [m["id"] for m in nodes if m["leader"]] == [leader.id]
        assert {m["amqp_address"] for m in nodes} == {x.amqp_address for x in cluster.nodes}
    # the leader knows every member's progress
    assert all(m["lag"] is not None for m in leader.api("nodes"))


def test_follower_management_is_read_only(cluster):
    leader = cluster.wait_leader()
    f = [n for n in cluster.nodes if n is not leader][0]
    wait_for(lambda: f.me()["state"] == "follower", "a follower")
    status, body = http(f, "GET", "overview")
    assert status == 200
    status, body = http(f, "GET", "queues")
    assert status == 200 and body == []  # a follower holds no broker state
    status, body = http(f, "PUT", "queues/%2F/refused", {"durable": True})
    assert status == 405, (status, body)
    assert leader.amqp_address in body["reason"], body
    status, body = http(f, "DELETE", "users/guest")
    assert status == 405, (status, body)
    # the leader still has the queue-less state and took nothing from it
    status, body = http(leader, "GET", "queues")
    assert status == 200 and body == []


def test_topology_survives_failover(cluster):
    leader = cluster.wait_leader()
    c = leader.connect()
    ch = c.channel()
    ch.confirm_delivery()
    ch.exchange_declare("cx", "topic", durable=True)
    ch.queue_declare("cq", durable=True, arguments={"x-max-length": 1000})
    ch.queue_bind("cq", "cx", "a.#")
    for i in range(50):
        ch.basic_publish("cx", "a.b", b"m%d" % i, pika.BasicProperties(delivery_mode=2))
    c.close()
    assert http(leader, "PUT", "users/alice", {"password": "pw", "tags": ""})[0] in (201, 204)
    assert http(leader, "PUT", "permissions/%2F/alice",
                {"configure": ".*", "write": ".*", "read": ".*"})[0] in (201, 204)
    assert http(leader, "PUT", "policies/%2F/p1",
                {"pattern": "^cq$", "definition": {"message-ttl": 600000}})[0] in (201, 204)
    cluster.kill9(leader)
    new = cluster.wait_leader()
    assert new is not leader
    c = new.connect()
    ch = c.channel()
    ch.exchange_declare("cx", "topic", durable=True, passive=True)
    q = ch.queue_declare("cq", durable=True, passive=True)
    assert q.method.message_count == 50
    bodies = []
    for _ in range(50):
        m, props, body = ch.basic_get("cq", auto_ack=True)
        assert m is not None
        bodies.append(body)
    assert bodies == [b"m%d" % i for i in range(50)]  # in order, none lost
    c.close()
    status, binds = http(new, "GET", "queues/%2F/cq/bindings")
    assert any(b["source"] == "cx" and b["routing_key"] == "a.#" for b in binds), binds
    status, user = http(new, "GET", "users/alice")
    assert status == 200 and user["name"] == "alice"
    status, pol = http(new, "GET", "policies/%2F/p1")
    assert status == 200 and pol["definition"] == {"message-ttl": 600000}
    # alice logs in on the new leader with the password given to the old one
    c = pika.BlockingConnection(pika.ConnectionParameters(
        "127.0.0.1", new.amqp, credentials=pika.PlainCredentials("alice", "pw")))
    c.close()


def test_ternctl_cluster_status(cluster):
    import os
    import subprocess
    from support.cluster import TERND
    ternctl = os.environ.get("TERNCTL", os.path.join(os.path.dirname(TERND), "ternctl"))
    leader = cluster.wait_leader()
    f = [n for n in cluster.nodes if n is not leader][0]
    wait_for(lambda: f.me()["state"] == "follower", "a follower")
    for n in (leader, f):
        out = subprocess.run([ternctl, "--url", "http://127.0.0.1:%d" % n.mgmt, "cluster", "status"],
                             capture_output=True, text=True, timeout=10)
        assert out.returncode == 0, out.stderr
        lines = out.stdout.splitlines()
        assert ("node %d is %s" % (n.id, "leader" if n is leader else "follower")) in lines[0], lines
        rows = [l for l in lines if l.split() and l.split()[0] in ("1", "2", "3")]
        assert len(rows) == 3, out.stdout
        lead = [r for r in rows if " leader" in r]
        assert len(lead) == 1 and lead[0].split()[0] == str(leader.id), out.stdout
        assert all(m.amqp_address in out.stdout for m in cluster.nodes)
    # on the leader every lag is known and, at rest, 0
    wait_for(lambda: all(m["lag"] == 0 for m in leader.api("nodes")), "lag 0 everywhere")
