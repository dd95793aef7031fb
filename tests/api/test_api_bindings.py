"""/api/bindings: lists, POST .../e/X/q/Q and .../e/X/e/Y (201 + Location),
one binding by its properties key, DELETE (RabbitMQ 3.10.8).

The properties key ("props") names one binding among those between the
same source and destination:
  * no arguments:   quote_plus(routing_key), or "~" for an empty key;
  * with arguments: quote_plus(routing_key) + "~" + a 6-character
    base64url hash of the arguments.
quote_plus keeps [A-Za-z0-9._-], turns " " into "+" and everything else
(including "~" and "+") into %XX (upper case); in a URL path it is
percent-encoded once more (like any segment)."""
import re
import urllib.parse

import pytest

from apiclient import NOT_FOUND, path

HASHED = re.compile(r"^[A-Za-z0-9_-]{6}$")


def declare(api, vhost, *, queue="q", exchanges=("x",)):
    for x in exchanges:
        api.ok("PUT", path("exchanges", vhost, x), {"type": "direct"})
    if queue:
        api.ok("PUT", path("queues", vhost, queue), {})


def bind(api, vhost, src, kind, dst, body):
    return api.post(path("bindings", vhost, "e", src, kind, dst), body)


def quote_plus(s):
    return urllib.parse.quote_plus(s, safe="").replace("~", "%7E")


def binding(vhost, src, dst, rk, args=None, props=None, kind="queue"):
    return {"source": src, "vhost": vhost, "destination": dst, "destination_type": kind,
            "routing_key": rk, "arguments": args or {}, "properties_key": props}


# ------------------------------------------------------------------ create

def test_post_201_location(api, vhost):
    declare(api, vhost)
    r = bind(api, vhost, "x", "q", "q", {"routing_key": "a.b", "arguments": {}})
    assert r.status == 201 and r.raw == b""
    # relative to the request URL .../e/x/q/q: resolves to .../e/x/q/q/a.b
    assert r.headers["location"] == "q/a.b"
    r = bind(api, vhost, "x", "q", "q", {})
    assert r.status == 201 and r.headers["location"] == "q/~"
    r = bind(api, vhost, "x", "q", "q", {"routing_key": "a b/c%"})
    assert r.headers["location"] == "q/a%2Bb%252Fc%2525"


def test_location_resolves_to_the_binding(api, vhost):
    declare(api, vhost)
    req = path("bindings", vhost, "e", "x", "q", "q")
    for body in ({"routing_key": "k"}, {"routing_key": "", "arguments": {"a": "1"}},
                 {"routing_key": "a b/c%"}):
        r = api.post(req, body)
        target = urllib.parse.urljoin(req, r.headers["location"])
        got = api.get(target)
        assert got.status == 200, (target, got)
        assert got.body["routing_key"] == body["routing_key"]
        assert got.body["arguments"] == body.get("arguments", {})


def test_post_is_idempotent(api, vhost):
    declare(api, vhost)
    for _ in range(2):
        r = bind(api, vhost, "x", "q", "q", {"routing_key": "k"})
        assert r.status == 201
    assert len(api.get(path("bindings", vhost, "e", "x", "q", "q")).body) == 1


def test_exchange_to_exchange(api, vhost):
    declare(api, vhost, queue=None, exchanges=("x", "y"))
    r = bind(api, vhost, "x", "e", "y", {"routing_key": "e2e"})
    assert r.status == 201 and r.headers["location"] == "y/e2e"
    want = binding(vhost, "x", "y", "e2e", props="e2e", kind="exchange")
    assert api.get(path("bindings", vhost, "e", "x", "e", "y")).body == [want]
    assert api.get(path("bindings", vhost, "e", "x", "e", "y", "e2e")).body == want
    assert api.delete(path("bindings", vhost, "e", "x", "e", "y", "e2e")).status == 204
    assert api.get(path("bindings", vhost, "e", "x", "e", "y")).body == []


def test_post_errors(api, vhost):
    declare(api, vhost)
    r = bind(api, vhost, "x", "q", "nope", {"routing_key": "r"})
    assert r.status == 404
    assert r.body == {"error": "not_found", "reason": "no queue 'nope' in vhost '%s'" % vhost}
    r = bind(api, vhost, "nope", "q", "q", {"routing_key": "r"})
    assert r.status == 404
    assert r.body == {"error": "not_found",
                      "reason": "no exchange 'nope' in vhost '%s'" % vhost}
    r = bind(api, vhost, "x", "e", "nope", {"routing_key": "r"})
    assert r.status == 404
    assert r.body == {"error": "not_found",
                      "reason": "no exchange 'nope' in vhost '%s'" % vhost}
    r = bind(api, vhost, "amq.default", "q", "q", {"routing_key": "r"})
    assert r.status == 401
    assert r.body == {"error": "not_authorised", "reason": "Access refused."}
    r = api.post(path("bindings", vhost + "-nope", "e", "x", "q", "q"), {})
    assert r.status == 404
    assert r.body == {"error": "not_found", "reason": "vhost_not_found"}


# ------------------------------------------------------------------ props keys

@pytest.mark.parametrize("rk", ["", "a.b", "a b/c%", "ü~", "-_.", "!\"#$&'()*+,/:;<=>?@[\\]^`{|}"])
def test_props_key_without_arguments(api, vhost, rk):
    declare(api, vhost)
    assert bind(api, vhost, "x", "q", "q", {"routing_key": rk}).status == 201
    [b] = api.get(path("bindings", vhost, "e", "x", "q", "q")).body
    want = "~" if rk == "" else quote_plus(rk)
    assert b == binding(vhost, "x", "q", rk, props=want)
    r = api.get(path("bindings", vhost, "e", "x", "q", "q", want))
    assert r.status == 200 and r.body == b


def test_props_key_examples(api, vhost):
    declare(api, vhost)
    for rk in ("a b/c%", "ü~"):
        bind(api, vhost, "x", "q", "q", {"routing_key": rk})
    keys = {b["routing_key"]: b["properties_key"]
            for b in api.get(path("bindings", vhost, "e", "x", "q", "q")).body}
    assert keys == {"a b/c%": "a+b%2Fc%25", "ü~": "%C3%BC%7E"}


def test_props_key_with_arguments(api, vhost):
    declare(api, vhost)
    variants = [("", {"k": "v"}), ("r", {"k": "v"}), ("r", {"k": "v", "n": 1}),
                ("r", {"b": True}), ("r", {"l": [1, "a"]}), ("r", {"t": {"n": 1}})]
    for rk, args in variants:
        assert bind(api, vhost, "x", "q", "q", {"routing_key": rk, "arguments": args}).status \
            == 201
    got = api.get(path("bindings", vhost, "e", "x", "q", "q")).body
    assert len(got) == len(variants)
    keys = set()
    for b in got:
        prefix, sep, h = b["properties_key"].partition("~")
        assert sep == "~" and prefix == quote_plus(b["routing_key"]), b
        assert HASHED.match(h), b
        keys.add(b["properties_key"])
        r = api.get(path("bindings", vhost, "e", "x", "q", "q", b["properties_key"]))
        assert r.status == 200 and r.body == b
    assert len(keys) == len(variants)                 # different arguments, different keys
    # the same arguments always give the same key (and the same for another pair)
    api.ok("PUT", path("queues", vhost, "q2"), {})
    bind(api, vhost, "x", "q", "q2", {"routing_key": "r", "arguments": {"k": "v"}})
    [b2] = api.get(path("bindings", vhost, "e", "x", "q", "q2")).body
    assert b2["properties_key"] in keys


@pytest.mark.rabbitmq_only
def test_props_key_hash_values(api, vhost):
    """RabbitMQ's hash is base64url(<<erlang:phash2(Args, 1 bsl 32):32>>)
    without padding, over its internal argument table. Clients read keys
    back from the listings; Tern may hash differently (its own 6 chars)."""
    declare(api, vhost)
    cases = {("", (("k", "v"),)): "~8IXMRA", ("r", (("k", "v"), ("n", 1))): "r~c8kv6Q",
             ("k", (("n", 1),)): "k~hadFaw", ("k", (("b", True),)): "k~_sQtSA",
             ("", (("a", "1"), ("x-match", "all"))): "~CHJYCA"}
    for (rk, args) in cases:
        bind(api, vhost, "x", "q", "q", {"routing_key": rk, "arguments": dict(args)})
    got = {(b["routing_key"], tuple(sorted(b["arguments"].items()))): b["properties_key"]
           for b in api.get(path("bindings", vhost, "e", "x", "q", "q")).body}
    assert got == cases


# ------------------------------------------------------------------ read / delete

def test_get_and_delete_one(api, vhost):
    declare(api, vhost)
    bind(api, vhost, "x", "q", "q", {"routing_key": "a.b"})
    bind(api, vhost, "x", "q", "q", {})
    one = path("bindings", vhost, "e", "x", "q", "q", "a.b")
    assert api.get(one).body == binding(vhost, "x", "q", "a.b", props="a.b")
    assert api.get(path("bindings", vhost, "e", "x", "q", "q", "~")).body == \
        binding(vhost, "x", "q", "", props="~")
    r = api.delete(one)
    assert r.status == 204 and r.raw == b""
    for r in (api.delete(one), api.get(one),
              api.get(path("bindings", vhost, "e", "x", "q", "q", "nope")),
              api.get(path("bindings", vhost, "e", "x", "q", "q", "r~AAAAAA")),
              api.get(path("bindings", vhost, "e", "x", "q", "q", "~", "extra"))):
        assert r.status == 404 and r.body == NOT_FOUND
    assert [b["routing_key"] for b in api.get(path("bindings", vhost, "e", "x", "q", "q")).body] \
        == [""]


def test_pair_list_of_missing_objects_is_empty(api, vhost):
    declare(api, vhost)
    for p in (path("bindings", vhost, "e", "nope", "q", "q"),
              path("bindings", vhost, "e", "x", "q", "nope")):
        r = api.get(p)
        assert r.status == 200 and r.body == []


def test_delete_binding_args_by_props(api, vhost):
    declare(api, vhost)
    bind(api, vhost, "x", "q", "q", {"routing_key": "r", "arguments": {"k": "v"}})
    bind(api, vhost, "x", "q", "q", {"routing_key": "r"})
    got = api.get(path("bindings", vhost, "e", "x", "q", "q")).body
    key = [b["properties_key"] for b in got if b["arguments"]][0]
    assert api.delete(path("bindings", vhost, "e", "x", "q", "q", key)).status == 204
    assert api.get(path("bindings", vhost, "e", "x", "q", "q")).body == \
        [binding(vhost, "x", "q", "r", props="r")]


# ------------------------------------------------------------------ lists

def test_vhost_and_global_lists(api, vhost):
    declare(api, vhost, exchanges=("x", "y"))
    bind(api, vhost, "x", "q", "q", {"routing_key": "k"})
    bind(api, vhost, "x", "e", "y", {"routing_key": "k2"})
    r = api.get(path("bindings", vhost))
    assert r.status == 200
    want = [binding(vhost, "", "q", "q", props="q"), binding(vhost, "x", "q", "k", props="k"),
            binding(vhost, "x", "y", "k2", props="k2", kind="exchange")]
    key = lambda b: (b["source"], b["destination"], b["routing_key"])  # noqa: E731
    assert sorted(r.body, key=key) == sorted(want, key=key)
    assert r.body[0] == want[0]          # the default exchange's binding first
    everywhere = [b for b in api.get("/api/bindings").body if b["vhost"] == vhost]
    assert sorted(everywhere, key=key) == sorted(want, key=key)
    r = api.get(path("bindings", vhost + "-nope"))
    assert r.status == 404 and r.body == NOT_FOUND


def test_delete_queue_drops_its_bindings(api, vhost):
    declare(api, vhost)
    bind(api, vhost, "x", "q", "q", {"routing_key": "k"})
    api.ok("DELETE", path("queues", vhost, "q"))
    assert api.get(path("bindings", vhost)).body == []
