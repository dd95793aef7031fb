"""/api/definitions and /api/definitions/VHOST: export and import
(RabbitMQ 3.10.8)."""
import json

import pytest

from apiclient import path
from support.broker import unique

TOP_KEYS = {"rabbit_version", "rabbitmq_version", "product_name", "product_version", "users",
            "vhosts", "permissions", "topic_permissions", "parameters", "global_parameters",
            "policies", "queues", "exchanges", "bindings"}
VHOST_KEYS = {"rabbit_version", "parameters", "policies", "queues", "exchanges", "bindings"}


def bad_request(r, reason=None):
    assert r.status == 400, r
    assert r.body["error"] == "bad_request"
    if reason is not None:
        assert r.body["reason"] == reason


@pytest.fixture
def populated(api, vhost, users, amqp):
    """A vhost holding one of each thing definitions carry."""
    u, _ = users.make(tags="management", perms_on=vhost)
    api.ok("PUT", path("topic-permissions", vhost, u),
           {"exchange": "amq.topic", "write": "^w", "read": "^r"})
    api.ok("PUT", path("queues", vhost, "q"), {"durable": True, "arguments":
                                               {"x-max-length": 10}})
    api.ok("PUT", path("queues", vhost, "tmp"), {"durable": False, "auto_delete": True})
    api.ok("PUT", path("exchanges", vhost, "x"), {"type": "topic", "durable": True})
    api.ok("POST", path("bindings", vhost, "e", "x", "q", "q"), {"routing_key": "k.*"})
    api.ok("PUT", path("policies", vhost, "p"), {"pattern": "^q$", "definition":
                                                 {"max-length": 5}, "apply-to": "queues"})
    api.ok("PUT", path("vhost-limits", vhost, "max-queues"), {"value": 100})
    ch = amqp.channel(vhost)
    excl = ch.queue_declare("", exclusive=True).method.queue
    return {"vhost": vhost, "user": u, "exclusive": excl}


def test_export_keys_and_shapes(api, populated):
    vh, u = populated["vhost"], populated["user"]
    r = api.get("/api/definitions")
    assert r.status == 200
    assert r.headers["content-type"].startswith("application/json")
    d = r.body
    assert set(d) == TOP_KEYS
    o = api.get("/api/overview").body
    assert d["rabbit_version"] == d["rabbitmq_version"] == o["rabbitmq_version"]
    assert d["product_name"] == o["product_name"]
    assert d["product_version"] == o["product_version"]
    [user] = [x for x in d["users"] if x["name"] == u]
    assert set(user) == {"name", "password_hash", "hashing_algorithm", "tags", "limits"}
    assert user["tags"] == ["management"]
    assert {"name": vh} in d["vhosts"]
    assert {"user": u, "vhost": vh, "configure": ".*", "write": ".*", "read": ".*"} in \
        d["permissions"]
    assert {"user": u, "vhost": vh, "exchange": "amq.topic", "write": "^w", "read": "^r"} in \
        d["topic_permissions"]
    assert {"value": {"max-queues": 100}, "vhost": vh, "component": "vhost-limits",
            "name": "limits"} in d["parameters"]
    assert isinstance(d["global_parameters"], list)
    assert {"vhost": vh, "name": "p", "pattern": "^q$", "apply-to": "queues",
            "definition": {"max-length": 5}, "priority": 0} in d["policies"]
    queues = sorted((x for x in d["queues"] if x["vhost"] == vh), key=lambda x: x["name"])
    assert queues == [
        {"name": "q", "vhost": vh, "durable": True, "auto_delete": False,
         "arguments": {"x-max-length": 10}},
        {"name": "tmp", "vhost": vh, "durable": False, "auto_delete": True, "arguments": {}}]
    # built-in exchanges are not exported, nor default-exchange bindings
    assert [x for x in d["exchanges"] if x["vhost"] == vh] == [
        {"name": "x", "vhost": vh, "type": "topic", "durable": True, "auto_delete": False,
         "internal": False, "arguments": {}}]
    assert [x for x in d["bindings"] if x["vhost"] == vh] == [
        {"source": "x", "vhost": vh, "destination": "q", "destination_type": "queue",
         "routing_key": "k.*", "arguments": {}}]


def test_export_one_vhost(api, populated):
    vh = populated["vhost"]
    r = api.get(path("definitions", vh))
    assert r.status == 200
    d = r.body
    assert set(d) == VHOST_KEYS
    # objects carry no "vhost" ... except policies and parameters
    assert sorted(d["queues"], key=lambda x: x["name"]) == [
        {"name": "q", "durable": True, "auto_delete": False, "arguments": {"x-max-length": 10}},
        {"name": "tmp", "durable": False, "auto_delete": True, "arguments": {}}]
    assert d["exchanges"] == [{"name": "x", "type": "topic", "durable": True,
                               "auto_delete": False, "internal": False, "arguments": {}}]
    assert d["bindings"] == [{"source": "x", "destination": "q", "destination_type": "queue",
                              "routing_key": "k.*", "arguments": {}}]
    assert d["policies"] == [{"vhost": vh, "name": "p", "pattern": "^q$",
                              "apply-to": "queues", "definition": {"max-length": 5},
                              "priority": 0}]
    assert d["parameters"] == [{"value": {"max-queues": 100}, "vhost": vh,
                                "component": "vhost-limits", "name": "limits"}]
    # sic: a 400 (the import says 404)
    r = api.get(path("definitions", vh + "-nope"))
    assert r.status == 400
    assert r.body == {"error": "bad_request", "reason": "vhost_not_found"}


def test_export_excludes_exclusive_queues(api, populated):
    names = [x["name"] for x in api.get(path("definitions", populated["vhost"])).body["queues"]]
    assert populated["exclusive"] not in names


def test_export_download_header(api):
    r = api.get("/api/definitions?download=defs.json")
    assert r.status == 200
    assert r.headers.get("content-disposition") == "attachment; filename=defs.json"


def test_import_everything(api, api_as):
    vh, u = unique("tern-api-imp"), unique("tern-api-impu")
    doc = {
        "vhosts": [{"name": vh, "description": "imported", "tags": ["t"]}],
        "users": [{"name": u, "password_hash": "", "tags": "management",
                   "hashing_algorithm": "rabbit_password_hashing_sha256"}],
        "permissions": [{"user": u, "vhost": vh, "configure": ".*", "write": ".*",
                         "read": ".*"}],
        "queues": [{"name": "q", "vhost": vh, "durable": True, "auto_delete": False,
                    "arguments": {}}],
        "exchanges": [{"name": "x", "vhost": vh, "type": "fanout", "durable": True,
                       "auto_delete": False, "internal": False, "arguments": {}}],
        "bindings": [{"source": "x", "vhost": vh, "destination": "q",
                      "destination_type": "queue", "routing_key": "k", "arguments": {}}],
        "policies": [{"vhost": vh, "name": "p", "pattern": "^q$", "apply-to": "queues",
                      "definition": {"max-length": 3}, "priority": 0}],
        "ignored_key": [1],
    }
    try:
        r = api.post("/api/definitions", doc)
        assert r.status == 204 and r.raw == b""
        assert api.get(path("vhosts", vh, query="columns=name,description,tags")).body == \
            {"name": vh, "description": "imported", "tags": ["t"]}
        assert api.get(path("users", u)).body["tags"] == ["management"]
        assert api.get(path("permissions", vh, u)).status == 200
        assert api.get(path("queues", vh, "q", query="columns=durable")).body == \
            {"durable": True}
        assert api.get(path("exchanges", vh, "x", query="columns=type")).body == \
            {"type": "fanout"}
        assert api.get(path("bindings", vh, "e", "x", "q", "q", "k")).status == 200
        assert api.get(path("policies", vh, "p")).body["definition"] == {"max-length": 3}
        # importing the same again changes nothing and still answers 204
        assert api.post("/api/definitions", doc).status == 204
    finally:
        api.delete(path("vhosts", vh))
        api.delete(path("users", u))


def test_import_into_one_vhost(api, vhost):
    doc = {"queues": [{"name": "dq", "durable": True, "auto_delete": False, "arguments": {}}],
           "exchanges": [{"name": "dx", "type": "direct", "durable": True,
                          "auto_delete": False, "internal": False, "arguments": {}}],
           "bindings": [{"source": "dx", "destination": "dq", "destination_type": "queue",
                         "routing_key": "r", "arguments": {}}],
           "users": [{"name": unique("tern-api-never"), "password": "x", "tags": ""}]}
    r = api.post(path("definitions", vhost), doc)
    assert r.status == 204
    assert [q["name"] for q in api.get(path("queues", vhost)).body] == ["dq"]
    assert api.get(path("bindings", vhost, "e", "dx", "q", "dq", "r")).status == 200
    # users are not imported through a vhost's definitions
    assert api.get(path("users", doc["users"][0]["name"])).status == 404
    r = api.post(path("definitions", vhost + "-nope"), doc)
    assert r.status == 404
    assert r.body == {"error": "not_found", "reason": "vhost_not_found"}


def test_import_round_trip(api, populated, vhost):
    """What GET /api/definitions/VHOST gives, POST to another vhost takes."""
    doc = api.get(path("definitions", populated["vhost"])).body
    other = unique("tern-api-copy")
    api.ok("PUT", path("vhosts", other), {})
    try:
        assert api.post(path("definitions", other), doc).status == 204
        copy = api.get(path("definitions", other)).body
        for k in ("queues", "exchanges", "bindings"):
            key = lambda x: json.dumps(x, sort_keys=True)  # noqa: E731
            assert sorted(copy[k], key=key) == sorted(doc[k], key=key), k
        assert [p["name"] for p in copy["policies"]] == ["p"]
    finally:
        api.delete(path("vhosts", other))


def test_import_malformed(api):
    for raw in (b"{not json", b"[]", b"[1, 2]"):
        bad_request(api.post("/api/definitions", raw=raw), "failed_to_parse_json")
    # an empty body and an empty object are fine
    assert api.post("/api/definitions", raw=b"").status == 204
    assert api.post("/api/definitions", {}).status == 204


def test_import_bad_objects(api, vhost):
    bad_request(api.post("/api/definitions", {"queues": [{"name": "q-no-vhost"}]}),
                ["no_such_vhost", "undefined"])
    bad_request(api.post("/api/definitions", {"queues": [
        {"name": "q", "vhost": vhost + "-nope", "durable": True, "auto_delete": False,
         "arguments": {}}]}), ["no_such_vhost", vhost + "-nope"])
    bad_request(api.post("/api/definitions", {"queues": [
        {"name": "q", "vhost": vhost, "durable": True, "auto_delete": False,
         "arguments": {"x-max-length": "x"}}]}))
    bad_request(api.post("/api/definitions", {"exchanges": [
        {"name": "e", "vhost": vhost, "type": "bogus", "durable": True, "auto_delete": False,
         "internal": False, "arguments": {}}]}))
    # RabbitMQ's text is an Erlang term: "Validation failed\n\n&lt;&lt;\"x\"&gt;&gt; is not
    # a valid maximum length\n (VHOST/p)"; the reason names the setting and the policy
    r = api.post("/api/definitions", {"policies": [
        {"name": "p", "vhost": vhost, "pattern": "^", "definition": {"max-length": "x"}}]})
    bad_request(r)
    assert "max-length" in r.body["reason"] or "maximum length" in r.body["reason"], r.body
    assert vhost in r.body["reason"], r.body
    assert api.get(path("policies", vhost, "p")).status == 404
    assert api.get(path("queues", vhost)).body == []
