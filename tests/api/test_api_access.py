"""/api/vhosts, /api/users, /api/permissions, /api/topic-permissions,
/api/policies, /api/operator-policies, /api/vhost-limits, /api/user-limits
(RabbitMQ 3.10.8)."""
import pika
import pytest

from apiclient import NOT_FOUND, path, wait_for
from support.broker import unique
from support.defs import password_hash

ALL = {"configure": ".*", "write": ".*", "read": ".*"}


def bad_request(r, reason):
    assert r.status == 400, r
    assert r.body == {"error": "bad_request", "reason": reason}


def not_found(r):
    assert r.status == 404, r
    assert r.body == NOT_FOUND


@pytest.fixture
def new_vhost(api):
    """A vhost name to create in the test; deleted afterwards."""
    name = unique("tern-api-vh")
    yield name
    api.delete(path("vhosts", name))


# ------------------------------------------------------------------ vhosts

def test_vhost_put_get_delete(api, new_vhost):
    p = path("vhosts", new_vhost)
    r = api.put(p, {"description": "desc two", "tags": "a,b", "bogus": 1})
    assert r.status == 201 and r.raw == b""
    b = api.get(p).body
    assert b["name"] == new_vhost
    assert b["description"] == "desc two"
    assert b["tags"] == ["a", "b"]
    assert b["metadata"] == {"description": "desc two", "tags": ["a", "b"]}
    assert b["tracing"] is False
    node = api.get("/api/overview").body["node"]
    assert b["cluster_state"] == {node: "running"}
    assert "default_queue_type" in b
    r = api.put(p, {"description": "changed", "tags": ["c"]})
    assert r.status == 204
    b = api.get(p).body
    assert (b["description"], b["tags"]) == ("changed", ["c"])
    assert api.delete(p).status == 204
    not_found(api.delete(p))
    not_found(api.get(p))


def test_vhost_stats_fields(api, vhost, amqp):
    api.ok("PUT", path("queues", vhost, "q"), {})
    amqp.publish(vhost, "q", [b"x"])

    def probe():
        b = api.get(path("vhosts", vhost)).body
        return b if b.get("messages") == 1 and "message_stats" in b else None
    b = wait_for(probe, what="vhost messages == 1")
    assert b["messages_ready"] == 1 and b["messages_unacknowledged"] == 0
    for k in ("messages_details", "messages_ready_details", "messages_unacknowledged_details"):
        assert isinstance(b[k]["rate"], (int, float))
    assert b["message_stats"]["publish"] == 1
    listed = [v for v in api.get("/api/vhosts").body if v["name"] == vhost][0]
    assert listed["messages"] == 1


def test_vhost_tracing_and_bad_boolean(api, new_vhost):
    assert api.put(path("vhosts", new_vhost), {"tracing": True}).status == 201
    assert api.get(path("vhosts", new_vhost, query="columns=tracing")).body == {"tracing": True}
    bad_request(api.put(path("vhosts", new_vhost), {"tracing": "yes"}), ["not_boolean", "yes"])


def test_vhost_creator_gets_full_permissions(api, new_vhost):
    api.ok("PUT", path("vhosts", new_vhost), {})
    r = api.get(path("permissions", new_vhost, api.user))
    assert r.status == 200
    assert r.body == dict(ALL, user=api.user, vhost=new_vhost)


def test_vhost_delete_closes_its_connections(api, new_vhost, amqp):
    api.ok("PUT", path("vhosts", new_vhost), {})
    c = amqp.connect(new_vhost)
    api.ok("DELETE", path("vhosts", new_vhost))
    with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as e:
        for _ in range(50):
            c.process_data_events(0.2)
    assert e.value.reply_code == 320


def test_vhosts_list(api, vhost):
    names = [v["name"] for v in api.get("/api/vhosts").body]
    assert "/" in names and vhost in names
    assert names == sorted(names)


# ------------------------------------------------------------------ users

USER_FIELDS = {"name", "password_hash", "hashing_algorithm", "tags", "limits"}


def test_user_put_get_delete(api, api_as):
    name = unique("tern-api-u")
    p = path("users", name)
    try:
        r = api.put(p, {"password": "pw1", "tags": "management,policymaker"})
        assert r.status == 201 and r.raw == b""
        b = api.get(p).body
        assert set(b) == USER_FIELDS
        assert b["name"] == name
        assert b["tags"] == ["management", "policymaker"]
        assert b["hashing_algorithm"] == "rabbit_password_hashing_sha256"
        assert len(b["password_hash"]) == 48          # base64 of 4 salt + 32 digest bytes
        assert b["limits"] == {}
        assert api_as(name, "pw1").get("/api/whoami").body == {
            "name": name, "tags": ["management", "policymaker"]}
        # tags only, on an existing user: the password is CLEARED (hash "")
        assert api.put(p, {"tags": "monitoring"}).status == 204
        b = api.get(p).body
        assert (b["tags"], b["password_hash"]) == (["monitoring"], "")
        assert api_as(name, "pw1").get("/api/whoami").status == 401
        # tags as a list, and a comma string with blanks
        api.ok("PUT", p, {"password": "pw2", "tags": ["a", "b"]})
        assert api.get(p).body["tags"] == ["a", "b"]
        api.ok("PUT", p, {"tags": "x, y ,z"})
        assert api.get(p).body["tags"] == ["x", "y", "z"]
        r = api.delete(p)
        assert r.status == 204
        not_found(api.delete(p))
        not_found(api.get(p))
    finally:
        api.delete(p)


def test_user_tags_are_required(api, users):
    name = unique("tern-api-u")
    bad_request(api.put(path("users", name), {"password": "p"}), "tags_not_present")
    not_found(api.get(path("users", name)))
    bad_request(api.put(path("users", name), {}), "tags_not_present")
    # a new user with tags but no password: created, with a hash no password matches
    users.made.append(name)
    assert api.put(path("users", name), {"tags": "management"}).status == 201
    assert api.get(path("users", name)).body["password_hash"] != ""


def test_user_password_hash(api, api_as, users):
    name = unique("tern-api-u")
    users.made.append(name)
    h = password_hash("s3cret", "sha512")
    r = api.put(path("users", name), {"password_hash": h,
                                      "hashing_algorithm": "rabbit_password_hashing_sha512",
                                      "tags": "management"})
    assert r.status == 201
    b = api.get(path("users", name)).body
    assert b["password_hash"] == h
    assert b["hashing_algorithm"] == "rabbit_password_hashing_sha512"
    assert api_as(name, "s3cret").get("/api/whoami").status == 200
    assert api_as(name, "wrong").get("/api/whoami").status == 401
    bad_request(api.put(path("users", name), {"password_hash": "not base64!", "tags": ""}),
                ["not_base64", "not base64!"])


def test_user_empty_password_hash_cannot_log_in(api, api_as, users):
    name = unique("tern-api-u")
    users.made.append(name)
    assert api.put(path("users", name), {"password_hash": "", "tags": "management"}).status \
        == 201
    assert api.get(path("users", name)).body["password_hash"] == ""
    assert api_as(name, "").get("/api/whoami").status == 401


def test_users_list_and_without_permissions(api, users, vhost):
    with_perms, _ = users.make(perms_on=vhost)
    without, _ = users.make(tags="monitoring")
    listed = {u["name"]: u for u in api.get("/api/users").body}
    assert set(listed[with_perms]) == USER_FIELDS
    assert listed[without]["tags"] == ["monitoring"]
    names = [u["name"] for u in api.get("/api/users/without-permissions").body]
    assert without in names and with_perms not in names


def test_users_bulk_delete(api, users):
    a, _ = users.make()
    b, _ = users.make()
    r = api.post("/api/users/bulk-delete", {"users": [a, b]})
    assert r.status == 204
    not_found(api.get(path("users", a)))
    not_found(api.get(path("users", b)))
    bad_request(api.post("/api/users/bulk-delete", {"users": [a]}), ["no_such_user", a])


# ------------------------------------------------------------------ permissions

def test_permissions_put_get_delete(api, users, vhost):
    u, _ = users.make()
    p = path("permissions", vhost, u)
    perms = {"configure": "^c", "write": "^w", "read": "^r"}
    r = api.put(p, perms)
    assert r.status == 201 and r.raw == b""
    assert api.put(p, perms).status == 204
    assert api.get(p).body == {"user": u, "vhost": vhost, "configure": "^c", "write": "^w",
                               "read": "^r"}
    mine = [x for x in api.get("/api/permissions").body if x["user"] == u]
    assert mine == [dict(perms, user=u, vhost=vhost)]
    assert dict(perms, user=u, vhost=vhost) in api.get(path("vhosts", vhost, "permissions")).body
    assert api.get(path("users", u, "permissions")).body == [dict(perms, user=u, vhost=vhost)]
    assert api.delete(p).status == 204
    not_found(api.delete(p))
    not_found(api.get(p))
    assert api.get(path("users", u, "permissions")).body == []


def test_permissions_errors(api, users, vhost):
    u, _ = users.make()
    bad_request(api.put(path("permissions", vhost, u), {"configure": "^c"}),
                "[{key_missing,write},{key_missing,read}]")
    for p in (path("permissions", vhost, u + "-nope"), path("permissions", vhost + "-x", u)):
        bad_request(api.put(p, {"configure": "", "write": "", "read": ""}),
                    "vhost_or_user_not_found")
    r = api.put(path("permissions", vhost, u), {"configure": "[", "write": "", "read": ""})
    assert r.status == 400 and r.body["error"] == "bad_request"
    assert r.body["reason"][0] == "invalid_regexp"
    not_found(api.get(path("users", u + "-nope", "permissions")))
    not_found(api.get(path("vhosts", vhost + "-nope", "permissions")))


def test_topic_permissions(api, users, vhost):
    u, _ = users.make()
    p = path("topic-permissions", vhost, u)
    tp = {"exchange": "amq.topic", "write": "^w", "read": "^r"}
    assert api.put(p, tp).status == 201
    assert api.put(p, tp).status == 204
    want = dict(tp, user=u, vhost=vhost)
    assert api.get(p).body == [want]                   # a list: one entry per exchange
    assert want in api.get("/api/topic-permissions").body
    assert api.get(path("vhosts", vhost, "topic-permissions")).body == [want]
    assert api.get(path("users", u, "topic-permissions")).body == [want]
    bad_request(api.put(p, {"write": "^w", "read": "^r"}), "[{key_missing,exchange}]")
    assert api.delete(p).status == 204
    not_found(api.delete(p))
    not_found(api.get(p))


# ------------------------------------------------------------------ policies

def test_policy_put_get_delete(api, vhost):
    p = path("policies", vhost, "p1")
    body = {"pattern": "^q", "definition": {"max-length": 10}, "priority": 1,
            "apply-to": "queues"}
    r = api.put(p, body)
    assert r.status == 201 and r.raw == b""
    assert api.put(p, body).status == 204
    want = dict(body, vhost=vhost, name="p1")
    assert api.get(p).body == want
    assert api.get(path("policies", vhost)).body == [want]
    assert want in api.get("/api/policies").body
    api.ok("PUT", path("policies", vhost, "p2"), {"pattern": "^x", "definition": {"max-length": 1}})
    assert api.get(path("policies", vhost, "p2")).body == {
        "vhost": vhost, "name": "p2", "pattern": "^x", "apply-to": "all",
        "definition": {"max-length": 1}, "priority": 0}
    assert api.delete(p).status == 204
    not_found(api.delete(p))
    not_found(api.get(p))


def test_policy_applies_to_queue(api, vhost):
    api.ok("PUT", path("queues", vhost, "qa"), {})
    api.ok("PUT", path("policies", vhost, "p"), {"pattern": "^q", "definition":
                                                 {"max-length": 10}, "apply-to": "queues"})
    cols = "name,policy,effective_policy_definition,operator_policy"
    b = wait_for(lambda: (lambda b: b if b.get("policy") == "p" else None)(
        api.get(path("queues", vhost, "qa", query={"columns": cols})).body),
        timeout=5, what="policy applied")
    assert b == {"name": "qa", "policy": "p", "operator_policy": None,
                 "effective_policy_definition": {"max-length": 10}}


VALIDATION = "Validation failed\n\n"


def bad_validation(r, *names):
    """RabbitMQ's text is Erlang terms ("Validation failed\\n\\n<<\"x\">> is
    not ...", HTML-escaped for policies): a client can rely on the status,
    the error key and that the reason names the offending field or value.
    Each of names is a word, or a tuple of words of which one must appear."""
    assert r.status == 400, r
    assert r.body["error"] == "bad_request", r.body
    for n in names:
        alts = n if isinstance(n, tuple) else (n,)
        assert any(a in r.body["reason"] for a in alts), (n, r.body)


def test_policy_errors(api, vhost):
    p = path("policies", vhost, "bad")
    # RabbitMQ's text is an Erlang term (HTML-escaped for policies):
    # "Validation failed\n\n&lt;&lt;\"x\"&gt;&gt; is not a valid maximum length\n"
    bad_validation(api.put(p, {"pattern": "^q", "definition": {"max-length": "x"}}),
                   ("max-length", "maximum length"))
    # RabbitMQ's text is an Erlang term: [{&lt;&lt;"bogus-key"&gt;&gt;,1}] are not recognised
    bad_validation(api.put(p, {"pattern": "^q", "definition": {"bogus-key": 1}}), "bogus-key")
    bad_validation(api.put(p, {"pattern": "^q", "definition": {}}), "no policy provided")
    bad_request(api.put(p, {"pattern": "^q"}), "[{key_missing,definition}]")
    bad_request(api.put(p, {"definition": {"max-length": 1}}), "[{key_missing,pattern}]")
    # RabbitMQ's text: "Validation failed\n\napply-to 'bogus' unrecognised; ..."
    bad_validation(api.put(p, {"pattern": "^q", "definition": {"max-length": 1},
                               "apply-to": "bogus"}), "apply-to", "bogus")
    # RabbitMQ's text is an Erlang term: priority should be a number, actually was &lt;&lt;...
    bad_validation(api.put(p, {"pattern": "^q", "definition": {"max-length": 1},
                               "priority": "x"}), "priority")
    # RabbitMQ's text: "Validation failed\n\npattern should be regular expression but is
    # invalid: ..." (an Erlang term follows)
    bad_validation(api.put(p, {"pattern": "[", "definition": {"max-length": 1}}), "pattern")
    r = api.put(path("policies", vhost + "-nope", "p"),
                {"pattern": "^q", "definition": {"max-length": 1}})
    assert r.status == 404
    assert r.body == {"error": "not_found", "reason": "vhost_not_found"}
    not_found(api.get(path("policies", vhost, "bad")))


def test_operator_policies(api, vhost):
    p = path("operator-policies", vhost, "op1")
    body = {"pattern": "^q", "definition": {"max-length": 5}, "priority": 0,
            "apply-to": "queues"}
    assert api.put(p, body).status == 201
    assert api.put(p, body).status == 204
    want = dict(body, vhost=vhost, name="op1")
    assert api.get(p).body == want
    assert api.get(path("operator-policies", vhost)).body == [want]
    assert want in api.get("/api/operator-policies").body
    # RabbitMQ's text is an Erlang term: [{<<"alternate-exchange">>,<<"x">>}] are not
    # recognised policy settings
    bad_validation(api.put(path("operator-policies", vhost, "op2"),
                           {"pattern": "^q", "definition": {"alternate-exchange": "x"}}),
                   "alternate-exchange")
    # RabbitMQ's text is an Erlang term: <<"x">> is not a valid maximum length
    bad_validation(api.put(path("operator-policies", vhost, "op2"),
                           {"pattern": "^q", "definition": {"max-length": "x"}}),
                   ("max-length", "maximum length"))
    assert api.get(path("operator-policies", vhost, "op2")).status == 404
    assert api.delete(p).status == 204
    not_found(api.delete(p))
    not_found(api.get(p))


# ------------------------------------------------------------------ limits

def test_vhost_limits(api, vhost):
    assert api.get(path("vhost-limits", vhost)).body == []
    for name, v in (("max-connections", 10), ("max-connections", 11), ("max-queues", 100)):
        r = api.put(path("vhost-limits", vhost, name), {"value": v})
        assert r.status == 204 and r.raw == b""
    assert api.get(path("vhost-limits", vhost)).body == [
        {"vhost": vhost, "value": {"max-connections": 11, "max-queues": 100}}]
    assert {"vhost": vhost, "value": {"max-connections": 11, "max-queues": 100}} in \
        api.get("/api/vhost-limits").body
    # RabbitMQ's text is an Erlang term: max-queues should be a number, actually was <<"x">>
    bad_validation(api.put(path("vhost-limits", vhost, "max-queues"), {"value": "x"}),
                   "max-queues should be a number")
    bad_request(api.put(path("vhost-limits", vhost, "max-queues"), {}), "[{key_missing,value}]")
    # RabbitMQ's text is an Erlang term: Unrecognised terms [{<<"max-bogus">>,1}] in limits
    bad_validation(api.put(path("vhost-limits", vhost, "max-bogus"), {"value": 1}),
                   "max-bogus")
    r = api.put(path("vhost-limits", vhost + "-nope", "max-queues"), {"value": 1})
    assert r.status == 404 and r.body == {"error": "not_found", "reason": "vhost_not_found"}
    not_found(api.get(path("vhost-limits", vhost + "-nope")))
    for name in ("max-queues", "max-queues", "max-connections"):    # deleting twice is fine
        assert api.delete(path("vhost-limits", vhost, name)).status == 204
    assert api.get(path("vhost-limits", vhost)).body == []


def test_vhost_max_queues_enforced(api, vhost):
    api.ok("PUT", path("vhost-limits", vhost, "max-queues"), {"value": 1})
    assert api.put(path("queues", vhost, "q1"), {}).status == 201
    bad_request(api.put(path("queues", vhost, "q2"), {}),
                "cannot declare queue 'q2': queue limit in vhost '%s' (1) is reached" % vhost)


def test_user_limits(api, users):
    u, _ = users.make()
    assert api.get(path("user-limits", u)).body == []
    assert api.put(path("user-limits", u, "max-connections"), {"value": 3}).status == 204
    assert api.put(path("user-limits", u, "max-channels"), {"value": 7}).status == 204
    want = {"user": u, "value": {"max-channels": 7, "max-connections": 3}}
    assert api.get(path("user-limits", u)).body == [want]
    assert want in api.get("/api/user-limits").body
    assert api.get(path("users", u)).body["limits"] == {"max-channels": 7, "max-connections": 3}
    # RabbitMQ's text is an Erlang term: max-channels should be a number, actually was <<"x">>
    bad_validation(api.put(path("user-limits", u, "max-channels"), {"value": "x"}),
                   "max-channels should be a number")
    # RabbitMQ's text is an Erlang term: Unrecognised terms [{<<"max-bogus">>,1}] in user-limits
    bad_validation(api.put(path("user-limits", u, "max-bogus"), {"value": 1}), "max-bogus")
    bad_request(api.put(path("user-limits", u + "-nope", "max-channels"), {"value": 1}),
                ["no_such_user", u + "-nope"])
    not_found(api.get(path("user-limits", u + "-nope")))
    for name in ("max-channels", "max-channels", "max-connections"):
        assert api.delete(path("user-limits", u, name)).status == 204
    assert api.get(path("user-limits", u)).body == []
    assert api.get(path("users", u)).body["limits"] == {}
