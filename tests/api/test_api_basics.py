"""/api/overview, /api/whoami, /api/nodes, /api/health/checks/*, and how
authentication and authorisation failures look (RabbitMQ 3.10.8)."""
import re

import pytest

from apiclient import NOT_FOUND, path, wait_for
from support.broker import free_port

REALM = 'Basic realm="RabbitMQ Management"'
VERSION = re.compile(r"^\d+\.\d+\.\d+")


def _s(v):
    return v.decode() if isinstance(v, bytes) else v


# ------------------------------------------------------------------ overview

def test_overview_fields(api, broker, vhost, amqp):
    amqp.publish(vhost, "nowhere", [b"x"])          # some message_stats
    r = api.get("/api/overview")
    assert r.status == 200
    assert r.headers["content-type"].startswith("application/json")
    o = r.body
    for k in ("management_version", "rates_mode", "exchange_types", "product_version",
              "product_name", "rabbitmq_version", "cluster_name", "node", "listeners",
              "object_totals", "queue_totals", "message_stats"):
        assert k in o, k
    assert o["management_version"].startswith("3.10."), o["management_version"]
    assert VERSION.match(o["rabbitmq_version"])
    props = broker.server_properties
    assert o["product_name"] == _s(props["product"])
    assert o["product_version"] == _s(props["version"])
    assert o["rates_mode"] in ("basic", "detailed", "none")
    assert isinstance(o["node"], str) and o["node"]
    assert isinstance(o["cluster_name"], str) and o["cluster_name"]
    types = {t["name"] for t in o["exchange_types"]}
    assert {"direct", "fanout", "headers", "topic"} <= types
    for t in o["exchange_types"]:
        assert set(t) >= {"name", "description", "enabled"}
    assert set(o["object_totals"]) == {"connections", "channels", "exchanges", "queues",
                                       "consumers"}
    assert all(isinstance(v, int) for v in o["object_totals"].values())
    assert isinstance(o["message_stats"], dict)


def test_overview_queue_totals_and_object_totals(api, vhost, amqp):
    """queue_totals sums ready/unacked over all queues (stats: polled)."""
    api.ok("PUT", path("queues", vhost, "q"), {"durable": False})
    amqp.publish(vhost, "q", [b"1", b"2", b"3"])

    def totals():
        o = api.get("/api/overview").body
        qt = o["queue_totals"]
        return o if qt.get("messages", 0) >= 3 and qt.get("messages_ready", 0) >= 3 else None
    o = wait_for(totals, what="queue_totals.messages >= 3")
    qt = o["queue_totals"]
    for k in ("messages", "messages_ready", "messages_unacknowledged"):
        assert isinstance(qt[k], int)
        assert isinstance(qt[k + "_details"]["rate"], (int, float))
    assert o["object_totals"]["queues"] >= 1
    assert o["object_totals"]["exchanges"] >= 7      # the vhost's built-in exchanges


def test_overview_listeners(api, broker):
    o = api.get("/api/overview").body
    for lst in o["listeners"]:
        assert set(lst) >= {"node", "protocol", "ip_address", "port"}
        assert lst["node"] == o["node"]
    amqp = [lst for lst in o["listeners"] if lst["protocol"] == "amqp"]
    assert [lst["port"] for lst in amqp] == [broker.port]
    http_ports = [lst["port"] for lst in o["listeners"] if lst["protocol"] == "http"]
    assert api.port in http_ports


def test_overview_message_stats_count_publishes(api, vhost, amqp):
    api.ok("PUT", path("queues", vhost, "q"), {})
    before = api.get("/api/overview").body["message_stats"].get("publish", 0)
    amqp.publish(vhost, "q", [b"a", b"b"])
    ms = wait_for(lambda: (lambda m: m if m.get("publish", 0) >= before + 2 else None)(
        api.get("/api/overview").body["message_stats"]), what="overview publish count")
    assert isinstance(ms["publish_details"]["rate"], (int, float))


# ------------------------------------------------------------------ whoami, nodes

def test_whoami(api):
    r = api.get("/api/whoami")
    assert r.status == 200
    assert r.body == {"name": api.user, "tags": ["administrator"]}


NODE_FIELDS = {
    "name": str, "type": str, "running": bool, "mem_used": int, "mem_limit": int,
    "mem_alarm": bool, "disk_free": int, "disk_free_limit": int, "disk_free_alarm": bool,
    "fd_used": int, "fd_total": int, "sockets_used": int, "sockets_total": int,
    "proc_used": int, "proc_total": int, "uptime": int, "processors": int,
    "run_queue": int, "rates_mode": str, "os_pid": str, "partitions": list,
    "exchange_types": list, "auth_mechanisms": list, "applications": list,
    "contexts": list, "enabled_plugins": list, "net_ticktime": int,
}


def test_nodes(api):
    node = api.get("/api/overview").body["node"]
    r = api.get("/api/nodes")
    assert r.status == 200
    assert isinstance(r.body, list) and len(r.body) == 1
    n = r.body[0]
    for k, t in NODE_FIELDS.items():
        assert isinstance(n.get(k), t), (k, n.get(k))
    assert n["name"] == node
    assert n["type"] == "disc"
    assert n["running"] is True
    assert n["mem_alarm"] is False and n["disk_free_alarm"] is False
    assert 0 < n["mem_used"] and 0 < n["mem_limit"]
    assert n["partitions"] == []
    assert n["uptime"] > 0
    assert isinstance(n["mem_used_details"]["rate"], (int, float))
    assert int(n["os_pid"]) > 0           # a string holding a number


def test_node_by_name(api):
    node = api.get("/api/overview").body["node"]
    r = api.get(path("nodes", node, query="columns=name,running"))
    assert r.status == 200
    assert r.body == {"name": node, "running": True}


# ------------------------------------------------------------------ health checks

@pytest.mark.parametrize("check", ["alarms", "local-alarms", "virtual-hosts"])
def test_health_checks_ok(api, check):
    r = api.get("/api/health/checks/" + check)
    assert r.status == 200
    assert r.body == {"status": "ok"}


def test_health_port_listener(api, broker):
    r = api.get("/api/health/checks/port-listener/%d" % broker.port)
    assert r.status == 200
    assert r.body == {"status": "ok", "port": broker.port}


def test_health_port_listener_nobody_listens(api, broker):
    port = free_port()
    r = api.get("/api/health/checks/port-listener/%d" % port)
    assert r.status == 503
    b = r.body
    assert b["status"] == "failed"
    assert b["reason"] == "No active listener"
    assert b["missing"] == port
    assert broker.port in b["ports"] and api.port in b["ports"]


def test_health_port_listener_not_a_number(api):
    r = api.get("/api/health/checks/port-listener/abc")
    assert r.status == 400
    assert r.body == {"error": "bad_request", "reason": "Invalid port"}


def test_health_protocol_listener(api):
    r = api.get("/api/health/checks/protocol-listener/amqp")
    assert r.status == 200
    assert r.body == {"status": "ok", "protocol": "amqp"}
    r = api.get("/api/health/checks/protocol-listener/stomp")
    assert r.status == 503
    assert r.body["status"] == "failed"
    assert r.body["reason"] == "No active listener"
    assert r.body["missing"] == "stomp"
    assert "amqp" in r.body["protocols"] and "http" in r.body["protocols"]


def test_health_ready_to_serve_clients_is_not_in_3_10(api):
    """Added in a later RabbitMQ: 3.10.8 has no such check."""
    r = api.get("/api/health/checks/ready-to-serve-clients")
    assert r.status == 404
    assert r.body == NOT_FOUND


def test_aliveness_test(api, vhost):
    r = api.get(path("aliveness-test", vhost))
    assert r.status == 200
    assert r.body == {"status": "ok"}
    r = api.get(path("aliveness-test", vhost + "-nope"))
    assert r.status == 404
    assert r.body == NOT_FOUND


def test_health_checks_need_only_management(api_as, users):
    u, pw = users.make(tags="management")
    r = api_as(u, pw).get("/api/health/checks/alarms")
    assert r.status == 200


# ------------------------------------------------------------------ authentication

def test_no_credentials_401_with_challenge(api):
    r = api.get("/api/overview", auth=False)
    assert r.status == 401
    assert r.headers.get("www-authenticate") == REALM
    assert r.raw == b""


def test_wrong_password_401(api):
    for auth in ((api.user, "wrong-password"), ("tern-api-nobody", "x")):
        r = api.get("/api/overview", auth=auth)
        assert r.status == 401
        assert r.headers.get("www-authenticate") == REALM
        assert r.headers["content-type"].startswith("application/json")
        # sic: "authorized" here, "authorised" for the tag refusals below
        assert r.body == {"error": "not_authorized", "reason": "Login failed"}


def test_bearer_token_is_a_failed_login(api):
    r = api.get("/api/overview", auth=False, headers={"Authorization": "Bearer abc"})
    assert r.status == 401
    assert r.body == {"error": "not_authorized", "reason": "Login failed"}


def test_malformed_basic_header_400(api):
    r = api.get("/api/overview", auth=False, headers={"Authorization": "Basic !!!"})
    assert r.status == 400


def test_user_without_tags_401_not_management(api_as, users, vhost):
    u, pw = users.make(tags="", perms_on=vhost)
    for p in ("/api/overview", "/api/whoami", path("queues", vhost)):
        r = api_as(u, pw).get(p)
        assert r.status == 401, p
        assert "www-authenticate" not in r.headers
        assert r.body == {"error": "not_authorised", "reason": "Not management user"}


def test_monitoring_user_reads_but_cannot_administer(api_as, users):
    u, pw = users.make(tags="monitoring")
    mon = api_as(u, pw)
    assert mon.get("/api/overview").status == 200
    assert mon.get("/api/nodes").status == 200
    assert mon.get("/api/whoami").body == {"name": u, "tags": ["monitoring"]}
    r = mon.put(path("users", u + "-x"), {"password": "p", "tags": ""})
    assert r.status == 401
    assert r.body == {"error": "not_authorised", "reason": "Not administrator user"}
    r = mon.get("/api/users")
    assert r.status == 401
    assert r.body == {"error": "not_authorised", "reason": "Not administrator user"}


def test_monitoring_user_sees_all_vhosts(api, api_as, users, vhost):
    u, pw = users.make(tags="monitoring")
    names = {v["name"] for v in api_as(u, pw).get("/api/vhosts").body}
    assert vhost in names and "/" in names


def test_management_user_sees_only_its_vhosts(api, api_as, users, vhost):
    api.ok("PUT", path("queues", vhost, "mine"), {})
    api.ok("PUT", path("queues", "/", vhost + "-not-mine"), {"auto_delete": True,
                                                             "durable": False})
    try:
        u, pw = users.make(tags="management", perms_on=vhost)
        m = api_as(u, pw)
        vhs = m.get("/api/vhosts")
        assert vhs.status == 200
        assert [v["name"] for v in vhs.body] == [vhost]
        qs = m.get("/api/queues?columns=name,vhost").body
        assert qs == [{"name": "mine", "vhost": vhost}]
        r = m.get(path("queues", "/"))
        assert r.status == 401
        assert r.body == {"error": "not_authorised",
                          "reason": "User not authorised to access virtual host"}
        r = m.get("/api/nodes")
        assert r.status == 401
        assert r.body == {"error": "not_authorised", "reason": "Not monitor user"}
        r = m.get("/api/users")
        assert r.status == 401
        assert r.body == {"error": "not_authorised", "reason": "Not administrator user"}
        assert m.get("/api/overview").status == 200
        assert m.get("/api/whoami").body == {"name": u, "tags": ["management"]}
    finally:
        api.delete(path("queues", "/", vhost + "-not-mine"))


def test_management_user_cannot_write_policies(api_as, users, vhost):
    u, pw = users.make(tags="management", perms_on=vhost)
    r = api_as(u, pw).put(path("policies", vhost, "p"),
                          {"pattern": "^x", "definition": {"max-length": 1}})
    assert r.status == 401
    assert r.body == {"error": "not_authorised", "reason": "User not authorised to access object"}


def test_policymaker_can_write_policies(api, api_as, users, vhost):
    u, pw = users.make(tags="policymaker", perms_on=vhost)
    r = api_as(u, pw).put(path("policies", vhost, "p"),
                          {"pattern": "^x", "definition": {"max-length": 1}})
    assert r.status == 201
    assert api.get(path("policies", vhost, "p")).status == 200


def test_guest_from_loopback(api, broker):
    """guest may log in from 127.0.0.1 (loopback_users), over the API too."""
    if api.user != "guest":
        pytest.skip("the API user is not guest")
    assert api.host in ("127.0.0.1", "localhost", "::1")
    assert api.get("/api/whoami").body["name"] == "guest"
