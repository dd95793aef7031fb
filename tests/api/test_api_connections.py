"""/api/connections, /api/channels, /api/consumers (and their per-vhost and
per-connection forms); DELETE /api/connections/NAME closes the AMQP
connection with 320 CONNECTION_FORCED (RabbitMQ 3.10.8).

A connection's name is "CLIENT_IP:CLIENT_PORT -> SERVER_IP:SERVER_PORT",
a channel's is that plus " (N)". New connections and channels reach
RabbitMQ's lists with the next stats emission: polled."""
import pika
import pytest

from apiclient import NOT_FOUND, Amqp, path, wait_for

CONN_FIELDS = {
    "name": str, "user": str, "vhost": str, "host": str, "port": int, "peer_host": str,
    "peer_port": int, "state": str, "channels": int, "client_properties": dict,
    "protocol": str, "auth_mechanism": str, "channel_max": int, "frame_max": int,
    "timeout": int, "connected_at": int, "node": str, "type": str, "ssl": bool,
    "user_provided_name": str, "recv_oct": int, "send_oct": int, "recv_cnt": int,
    "send_cnt": int, "send_pend": int, "recv_oct_details": dict, "send_oct_details": dict,
    "user_who_performed_action": str,
}
NULL_WITHOUT_TLS = ("peer_cert_issuer", "peer_cert_subject", "peer_cert_validity",
                    "ssl_cipher", "ssl_hash", "ssl_key_exchange", "ssl_protocol")
CHANNEL_FIELDS = {
    "name": str, "connection_details": dict, "number": int, "user": str, "vhost": str,
    "node": str, "consumer_count": int, "messages_unacknowledged": int,
    "messages_unconfirmed": int, "messages_uncommitted": int, "acks_uncommitted": int,
    "prefetch_count": int, "global_prefetch_count": int, "confirm": bool,
    "transactional": bool, "state": str,
}


def conn_path(name, *more):
    return path("connections", name, *more)


def wait_conn(api, name, pred=lambda c: True, what="connection listed"):
    def probe():
        r = api.get(conn_path(name))
        return r.body if r.status == 200 and pred(r.body) else None
    return wait_for(probe, what=what)


def wait_channels(api, cname, n):
    def probe():
        chans = [c for c in api.get("/api/channels").body
                 if c["connection_details"]["name"] == cname]
        return sorted(chans, key=lambda c: c["number"]) if len(chans) == n else None
    return wait_for(probe, what="%d channels of %s" % (n, cname))


def closed_by_broker(conn):
    with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as e:
        for _ in range(50):
            conn.process_data_events(0.2)
    return e.value


# ------------------------------------------------------------------ connections

def test_connection_fields(api, broker, vhost, amqp):
    c = amqp.connect(vhost, name="tern-api-conn")
    name = Amqp.local_name(c)
    b = wait_conn(api, name)
    for k, t in CONN_FIELDS.items():
        assert isinstance(b.get(k), t), (k, b.get(k))
    for k in NULL_WITHOUT_TLS:          # sic: "" in GET /api/connections/NAME ...
        assert k in b and b[k] == "", k
    assert b["name"] == name
    la, lp = name.split(" -> ")[0].rsplit(":", 1)
    assert (b["peer_host"], b["peer_port"]) == (la, int(lp))
    assert (b["host"], b["port"]) == (broker.host, broker.port)
    assert (b["user"], b["vhost"]) == (broker.user, vhost)
    assert b["state"] == "running"
    assert b["protocol"] == "AMQP 0-9-1"
    assert b["auth_mechanism"] == "PLAIN"
    assert b["type"] == "network"
    assert b["ssl"] is False
    assert b["user_provided_name"] == "tern-api-conn"
    assert b["client_properties"]["connection_name"] == "tern-api-conn"
    assert b["client_properties"]["product"] == "Pika Python Client Library"
    assert b["client_properties"]["capabilities"]["publisher_confirms"] is True
    assert b["timeout"] == 60                     # the negotiated heartbeat
    assert b["frame_max"] == 131072 and b["channel_max"] == 2047
    assert b["connected_at"] > 1_500_000_000_000  # milliseconds since the epoch
    assert b["node"] == api.get("/api/overview").body["node"]
    listed = [x for x in api.get("/api/connections").body if x["name"] == name]
    assert len(listed) == 1 and listed[0]["user_provided_name"] == "tern-api-conn"
    for k in NULL_WITHOUT_TLS:          # ... but null in the list
        assert k in listed[0] and listed[0][k] is None, k
    per_vhost = api.get(path("vhosts", vhost, "connections", query="columns=name")).body
    assert per_vhost == [{"name": name}]


def test_connection_channel_count(api, vhost, amqp):
    c = amqp.connect(vhost)
    c.channel()
    c.channel()
    b = wait_conn(api, Amqp.local_name(c), lambda b: b["channels"] == 2, "channels == 2")
    assert b["channels"] == 2


def test_missing_connection_and_vhost(api, vhost):
    for p in (conn_path("127.0.0.1:1 -> 127.0.0.1:2"), conn_path("nope"),
              path("vhosts", vhost + "-nope", "connections"),
              path("vhosts", vhost + "-nope", "channels"),
              path("channels", "nope"), path("consumers", vhost + "-nope")):
        r = api.get(p)
        assert r.status == 404, p
        assert r.body == NOT_FOUND
    r = api.delete(conn_path("nope"))
    assert r.status == 404 and r.body == NOT_FOUND


def test_delete_connection_with_reason(api, vhost, amqp):
    c = amqp.connect(vhost)
    name = Amqp.local_name(c)
    wait_conn(api, name)
    r = api.delete(conn_path(name), headers={"X-Reason": "bye from test"})
    assert r.status == 204 and r.raw == b""
    e = closed_by_broker(c)
    assert (e.reply_code, e.reply_text) == (320, "CONNECTION_FORCED - bye from test")
    r = api.delete(conn_path(name))
    assert r.status == 404 and r.body == NOT_FOUND


def test_delete_connection_default_reason(api, vhost, amqp):
    c = amqp.connect(vhost)
    name = Amqp.local_name(c)
    wait_conn(api, name)
    assert api.delete(conn_path(name)).status == 204
    e = closed_by_broker(c)
    assert (e.reply_code, e.reply_text) == (320, "CONNECTION_FORCED - Closed via management "
                                                 "plugin")


def test_management_user_sees_own_connections_monitoring_sees_all(api_as, users, vhost, amqp):
    mgr, mpw = users.make(tags="management", perms_on=vhost)
    mon, opw = users.make(tags="monitoring")
    mine = amqp.connect(vhost, user=mgr, password=mpw)
    theirs = amqp.connect(vhost)
    names = {Amqp.local_name(mine), Amqp.local_name(theirs)}

    def listed(a):
        return {c["name"] for c in a.get("/api/connections").body} & names
    wait_for(lambda: listed(api_as(mon, opw)) == names, what="monitoring sees both")
    assert listed(api_as(mgr, mpw)) == {Amqp.local_name(mine)}


# ------------------------------------------------------------------ channels

def test_channel_fields(api, vhost, amqp):
    api.ok("PUT", path("queues", vhost, "q"), {})
    c = amqp.connect(vhost)
    cname = Amqp.local_name(c)
    ch1 = c.channel()
    ch1.basic_qos(prefetch_count=7)
    ch1.confirm_delivery()
    ch1.basic_publish("", "q", b"m1")
    ch1.basic_consume("q", lambda *a: None, consumer_tag="ctag-1")
    ch2 = c.channel()
    ch2.tx_select()
    c.process_data_events(0.2)

    def settled():
        chans = wait_channels(api, cname, 2)
        return chans if chans[0]["messages_unacknowledged"] == 1 and \
            chans[0]["consumer_count"] == 1 else None
    a, b = wait_for(settled, what="channel 1: a consumer, one unacked")
    for x in (a, b):
        for k, t in CHANNEL_FIELDS.items():
            assert isinstance(x.get(k), t), (k, x.get(k))
        assert x["connection_details"] == {"name": cname,
                                           "peer_host": cname.split(":")[0],
                                           "peer_port": int(cname.split(" ")[0].rsplit(":", 1)[1])}
        assert x["vhost"] == vhost and x["state"] == "running"
    assert (a["name"], a["number"]) == (cname + " (1)", 1)
    assert (b["name"], b["number"]) == (cname + " (2)", 2)
    assert (a["confirm"], a["transactional"], a["prefetch_count"]) == (True, False, 7)
    assert (b["confirm"], b["transactional"], b["prefetch_count"]) == (False, True, 0)
    assert a["global_prefetch_count"] == 0
    assert b["consumer_count"] == 0 and b["messages_unacknowledged"] == 0
    one = api.get(path("channels", a["name"]))
    assert one.status == 200
    assert one.body["name"] == a["name"]
    assert [d["consumer_tag"] for d in one.body["consumer_details"]] == ["ctag-1"]
    for k in ("deliveries", "publishes"):
        assert isinstance(one.body[k], list), k
    ms = wait_for(lambda: api.get(path("channels", a["name"])).body.get("message_stats"),
                  what="channel message_stats")
    assert ms["publish"] == 1 and ms["confirm"] == 1 and ms["deliver"] == 1
    assert isinstance(ms["publish_details"]["rate"], (int, float))
    per_conn = api.get(conn_path(cname, "channels")).body
    assert sorted(x["name"] for x in per_conn) == [a["name"], b["name"]]
    per_vhost = api.get(path("vhosts", vhost, "channels")).body
    assert sorted(x["name"] for x in per_vhost) == [a["name"], b["name"]]


# ------------------------------------------------------------------ consumers

def test_consumers(api, vhost, amqp):
    api.ok("PUT", path("queues", vhost, "q"), {})
    c = amqp.connect(vhost)
    cname = Amqp.local_name(c)
    ch = c.channel()
    ch.basic_qos(prefetch_count=5)
    ch.basic_consume("q", lambda *a: None, consumer_tag="ctag-a", arguments={"x-priority": 3})
    ch.basic_consume("q", lambda *a: None, consumer_tag="ctag-b", auto_ack=True,
                     exclusive=False)

    def probe():
        got = api.get(path("consumers", vhost)).body
        return sorted(got, key=lambda x: x["consumer_tag"]) if len(got) == 2 else None
    a, b = wait_for(probe, what="two consumers")
    assert a["consumer_tag"] == "ctag-a" and b["consumer_tag"] == "ctag-b"
    assert a["queue"] == {"name": "q", "vhost": vhost}
    assert a["ack_required"] is True and b["ack_required"] is False
    assert a["exclusive"] is False
    assert a["prefetch_count"] == 5
    assert a["arguments"] == {"x-priority": 3} and b["arguments"] == {}
    assert a["active"] is True and a["activity_status"] == "up"
    node = api.get("/api/overview").body["node"]
    peer_host, peer_port = cname.split(" -> ")[0].rsplit(":", 1)
    assert a["channel_details"] == {"connection_name": cname, "name": cname + " (1)",
                                    "node": node, "number": 1, "peer_host": peer_host,
                                    "peer_port": int(peer_port), "user": api.user}
    everywhere = [x for x in api.get("/api/consumers").body if x["queue"]["vhost"] == vhost]
    assert sorted(x["consumer_tag"] for x in everywhere) == ["ctag-a", "ctag-b"]


def test_exclusive_consumer(api, vhost, amqp):
    api.ok("PUT", path("queues", vhost, "q"), {})
    ch = amqp.channel(vhost)
    ch.basic_consume("q", lambda *a: None, consumer_tag="only", exclusive=True)
    got = wait_for(lambda: api.get(path("consumers", vhost)).body, what="the consumer")
    assert [(x["consumer_tag"], x["exclusive"]) for x in got] == [("only", True)]
    q = wait_for(lambda: (lambda b: b if b.get("exclusive_consumer_tag") else None)(
        api.get(path("queues", vhost, "q")).body), what="exclusive_consumer_tag")
    assert q["exclusive_consumer_tag"] == "only"
