"""/api/exchanges: declare, read, delete, the built-in exchanges and the
default exchange (amq.default), publish, bindings/source|destination
(RabbitMQ 3.10.8)."""
from apiclient import NOT_FOUND, path, wait_for

BUILT_IN = [("", "direct"), ("amq.direct", "direct"), ("amq.fanout", "fanout"),
            ("amq.headers", "headers"), ("amq.match", "headers"),
            ("amq.rabbitmq.trace", "topic"), ("amq.topic", "topic")]
FIELDS = ("name", "vhost", "type", "durable", "auto_delete", "internal", "arguments",
          "user_who_performed_action")


def bad_request(r, reason):
    assert r.status == 400, r
    assert r.body == {"error": "bad_request", "reason": reason}


def xget(api, vhost, name, columns=None):
    return api.get(path("exchanges", vhost, name, query={"columns": columns} if columns else None))


# ------------------------------------------------------------------ declare / delete

def test_put_201_then_204_get_delete(api, vhost):
    p = path("exchanges", vhost, "x")
    body = {"type": "topic", "durable": True, "auto_delete": False, "internal": False,
            "arguments": {"alternate-exchange": "amq.fanout"}}
    r = api.put(p, body)
    assert r.status == 201 and r.raw == b""
    r = api.put(p, body)
    assert r.status == 204 and r.raw == b""
    r = api.get(p)
    assert r.status == 200
    assert r.body == {"name": "x", "vhost": vhost, "type": "topic", "durable": True,
                      "auto_delete": False, "internal": False,
                      "arguments": {"alternate-exchange": "amq.fanout"},
                      "user_who_performed_action": api.user, "incoming": [], "outgoing": []}
    r = api.delete(p)
    assert r.status == 204 and r.raw == b""
    for r in (api.delete(p), api.get(p)):
        assert r.status == 404 and r.body == NOT_FOUND


def test_defaults_type_direct_durable_false(api, vhost):
    """No type given: a direct exchange; durable defaults to false."""
    assert api.put(path("exchanges", vhost, "x"), {}).status == 201
    assert xget(api, vhost, "x", "type,durable,auto_delete,internal").body == \
        {"type": "direct", "durable": False, "auto_delete": False, "internal": False}


def test_boolean_strings(api, vhost):
    assert api.put(path("exchanges", vhost, "x"),
                   {"type": "direct", "durable": "false", "internal": "true"}).status == 201
    assert xget(api, vhost, "x", "durable,internal").body == {"durable": False,
                                                             "internal": True}


def test_unknown_type_400(api, vhost):
    bad_request(api.put(path("exchanges", vhost, "x"), {"type": "bogus"}),
                "invalid exchange type 'bogus'")
    assert api.get(path("exchanges", vhost, "x")).status == 404


def test_non_boolean_400(api, vhost):
    bad_request(api.put(path("exchanges", vhost, "x"), {"type": "direct", "durable": "yes"}),
                ["not_boolean", "yes"])


def test_inequivalent_400(api, vhost):
    api.ok("PUT", path("exchanges", vhost, "x"),
           {"type": "topic", "arguments": {"alternate-exchange": "amq.fanout"}})
    bad_request(api.put(path("exchanges", vhost, "x"), {"type": "direct",
                "arguments": {"alternate-exchange": "amq.fanout"}}),
                "inequivalent arg 'type' for exchange 'x' in vhost '%s': received 'direct' "
                "but current is 'topic'" % vhost)
    bad_request(api.put(path("exchanges", vhost, "x"), {"type": "topic"}),
                "inequivalent arg 'alternate-exchange' for exchange 'x' in vhost '%s': "
                "received none but current is the value 'amq.fanout' of type 'longstr'"
                % vhost)


def test_missing_vhost(api, vhost):
    r = api.put(path("exchanges", vhost + "-nope", "x"), {"type": "direct"})
    assert r.status == 404
    assert r.body == {"error": "not_found", "reason": "vhost_not_found"}
    for p in (path("exchanges", vhost + "-nope"), path("exchanges", vhost + "-nope", "x")):
        r = api.get(p)
        assert r.status == 404 and r.body == NOT_FOUND


def test_amq_names_refused(api, vhost):
    refused = {"error": "not_authorised", "reason": "Access refused."}
    for r in (api.put(path("exchanges", vhost, "amq.mine"), {"type": "direct"}),
              api.put(path("exchanges", vhost, "amq.default"), {"type": "direct"}),
              api.delete(path("exchanges", vhost, "amq.direct")),
              api.delete(path("exchanges", vhost, "amq.default"))):
        assert r.status == 401 and r.body == refused
    # an equivalent redeclaration of a built-in one is fine, an inequivalent one is a 400
    assert api.put(path("exchanges", vhost, "amq.direct"),
                   {"type": "direct", "durable": True}).status == 204
    bad_request(api.put(path("exchanges", vhost, "amq.direct"), {"type": "direct"}),
                "inequivalent arg 'durable' for exchange 'amq.direct' in vhost '%s': "
                "received 'false' but current is 'true'" % vhost)
    r = api.delete(path("exchanges", vhost, "amq.mine"))
    assert r.status == 404 and r.body == NOT_FOUND


def test_delete_if_unused(api, vhost):
    api.ok("PUT", path("exchanges", vhost, "x"), {"type": "direct"})
    api.ok("PUT", path("queues", vhost, "q"), {})
    api.ok("POST", path("bindings", vhost, "e", "x", "q", "q"), {"routing_key": "k"})
    bad_request(api.delete(path("exchanges", vhost, "x", query="if-unused=true")),
                "exchange 'x' in vhost '%s' in use" % vhost)
    api.ok("PUT", path("exchanges", vhost, "y"), {"type": "direct"})
    assert api.delete(path("exchanges", vhost, "y", query="if-unused=true")).status == 204


# ------------------------------------------------------------------ built-in exchanges

def test_built_in_exchanges_listed(api, vhost):
    r = api.get(path("exchanges", vhost))
    assert r.status == 200
    assert [(x["name"], x["type"]) for x in r.body] == BUILT_IN
    for x in r.body:
        for k in FIELDS:
            assert k in x, k
        assert "incoming" not in x and "outgoing" not in x
        assert x["durable"] is True and x["auto_delete"] is False
        assert x["internal"] is (x["name"] == "amq.rabbitmq.trace")
        assert x["vhost"] == vhost
    everywhere = api.get("/api/exchanges?columns=name,vhost").body
    assert [x["name"] for x in everywhere if x["vhost"] == vhost] == [n for n, _ in BUILT_IN]


def test_default_exchange_is_amq_default_by_path(api, vhost):
    """Listed with name "", reached at /api/exchanges/VHOST/amq.default."""
    r = api.get(path("exchanges", vhost, "amq.default"))
    assert r.status == 200
    b = r.body
    assert (b["name"], b["type"], b["durable"], b["internal"]) == ("", "direct", True, False)
    assert b["incoming"] == [] and b["outgoing"] == []


def test_exchange_message_stats(api, vhost, amqp):
    api.ok("PUT", path("exchanges", vhost, "x"), {"type": "fanout"})
    api.ok("PUT", path("queues", vhost, "q"), {})
    api.ok("POST", path("bindings", vhost, "e", "x", "q", "q"), {})
    amqp.publish(vhost, "", [b"1", b"2"], exchange="x")

    def stats():
        ms = xget(api, vhost, "x").body.get("message_stats", {})
        return ms if ms.get("publish_in") == 2 and ms.get("publish_out") == 2 else None
    ms = wait_for(stats, what="publish_in/out == 2")
    assert isinstance(ms["publish_in_details"]["rate"], (int, float))
    assert isinstance(ms["publish_out_details"]["rate"], (int, float))


# ------------------------------------------------------------------ publish

def publish(api, vhost, x, body):
    return api.post(path("exchanges", vhost, x, "publish"), body)


def msg(rk, payload="x", **kw):
    b = {"properties": {}, "routing_key": rk, "payload": payload, "payload_encoding": "string"}
    b.update(kw)
    return b


def test_publish_routed_true_false(api, vhost, amqp):
    api.ok("PUT", path("queues", vhost, "q"), {})
    r = publish(api, vhost, "amq.default", msg("q", "hello",
                properties={"content_type": "text/plain", "delivery_mode": 2,
                            "headers": {"h": "v"}, "priority": 1}))
    assert r.status == 200
    assert r.headers["content-type"].startswith("application/json")
    assert r.body == {"routed": True}
    r = publish(api, vhost, "amq.default", msg("nowhere"))
    assert r.status == 200 and r.body == {"routed": False}
    r = publish(api, vhost, "amq.default", msg("q", "aGk=", payload_encoding="base64"))
    assert r.body == {"routed": True}
    ch = amqp.channel(vhost)
    m, props, body = ch.basic_get("q", auto_ack=True)
    assert body == b"hello"
    assert props.content_type == "text/plain" and props.delivery_mode == 2
    assert props.headers == {"h": "v"} and props.priority == 1
    assert m.exchange == "" and m.routing_key == "q"
    assert ch.basic_get("q", auto_ack=True)[2] == b"hi"


def test_publish_through_a_named_exchange(api, vhost):
    api.ok("PUT", path("exchanges", vhost, "x"), {"type": "topic"})
    api.ok("PUT", path("queues", vhost, "q"), {})
    api.ok("POST", path("bindings", vhost, "e", "x", "q", "q"), {"routing_key": "a.*"})
    assert publish(api, vhost, "x", msg("a.b")).body == {"routed": True}
    assert publish(api, vhost, "x", msg("b.a")).body == {"routed": False}
    assert publish(api, vhost, "amq.fanout", msg("")).body == {"routed": False}


def test_publish_errors(api, vhost):
    api.ok("PUT", path("exchanges", vhost, "xi"), {"type": "fanout", "internal": True})
    bad_request(publish(api, vhost, "amq.default", msg("q", "!!!", payload_encoding="base64")),
                ["not_base64", "!!!"])
    bad_request(publish(api, vhost, "amq.default", msg("q", payload_encoding="bogus")),
                ["unsupported_encoding", "bogus"])
    bad_request(publish(api, vhost, "amq.default", {"routing_key": "q", "payload": "x"}),
                "[{key_missing,properties},{key_missing,payload_encoding}]")
    bad_request(publish(api, vhost, "amq.default",
                        {"properties": {}, "payload": "x", "payload_encoding": "string"}),
                "[{key_missing,routing_key}]")
    bad_request(publish(api, vhost, "amq.default", msg("q", properties={"delivery_mode": "x"})),
                ["not_int", "delivery_mode"])
    # a missing exchange is a 400 carrying the AMQP error, not a 404
    bad_request(publish(api, vhost, "nox", msg("q")),
                "404 NOT_FOUND - no exchange 'nox' in vhost '%s'" % vhost)
    bad_request(publish(api, vhost, "xi", msg("q")),
                "403 ACCESS_REFUSED - cannot publish to internal exchange 'xi' in vhost '%s'"
                % vhost)


def test_publish_unknown_property_ignored(api, vhost):
    api.ok("PUT", path("queues", vhost, "q"), {})
    r = publish(api, vhost, "amq.default", msg("q", properties={"bogus": 1}))
    assert r.status == 200 and r.body == {"routed": True}


# ------------------------------------------------------------------ bindings source / destination

def test_bindings_source_and_destination(api, vhost):
    api.ok("PUT", path("exchanges", vhost, "src"), {"type": "direct"})
    api.ok("PUT", path("exchanges", vhost, "dst"), {"type": "fanout"})
    api.ok("PUT", path("queues", vhost, "q"), {})
    api.ok("POST", path("bindings", vhost, "e", "src", "q", "q"), {"routing_key": "k1"})
    api.ok("POST", path("bindings", vhost, "e", "src", "e", "dst"), {"routing_key": "k2"})
    e2q = {"source": "src", "vhost": vhost, "destination": "q", "destination_type": "queue",
           "routing_key": "k1", "arguments": {}, "properties_key": "k1"}
    e2e = {"source": "src", "vhost": vhost, "destination": "dst",
           "destination_type": "exchange", "routing_key": "k2", "arguments": {},
           "properties_key": "k2"}
    r = api.get(path("exchanges", vhost, "src", "bindings", "source"))
    assert r.status == 200
    # RabbitMQ's order here is its table's, not documented: compare as sets
    assert sorted(r.body, key=lambda b: b["destination"]) == [e2e, e2q]
    assert api.get(path("exchanges", vhost, "src", "bindings", "destination")).body == []
    assert api.get(path("exchanges", vhost, "dst", "bindings", "destination")).body == [e2e]
    assert api.get(path("exchanges", vhost, "dst", "bindings", "source")).body == []
    # a missing exchange has no bindings (200 [], not 404)
    r = api.get(path("exchanges", vhost, "nope", "bindings", "source"))
    assert r.status == 200 and r.body == []
