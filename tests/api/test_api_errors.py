"""Bad requests: malformed or mistyped JSON, unknown fields, unknown paths
and methods, oversized bodies and headers, percent-decoding, path
traversal; and the AMQP side keeps serving while the API is hammered
(RabbitMQ 3.10.8 unless marked tern_only)."""
import socket
import time

import pytest

from apiclient import NOT_FOUND, path, q, raw_http


def bad_request(r, reason):
    assert r.status == 400, r
    assert r.headers["content-type"].startswith("application/json")
    assert r.body == {"error": "bad_request", "reason": reason}


# ------------------------------------------------------------------ JSON

@pytest.mark.parametrize("raw", [b"{bad json", b"{\"durable\": tru}", b"[]", b"[1]", b"\x00\xff"])
def test_malformed_json_400(api, vhost, raw):
    bad_request(api.put(path("queues", vhost, "q"), raw=raw), "not_json")
    assert api.get(path("queues", vhost, "q")).status == 404


def test_doubly_encoded_json_400(api, vhost):
    bad_request(api.put(path("queues", vhost, "q"), raw=b'"{\\"durable\\": true}"'),
                "invalid payload: the request body JSON-decoded to a string. Is the input "
                "doubly-JSON-encoded?")


def test_wrong_json_types_400(api, vhost):
    bad_request(api.put(path("queues", vhost, "q"), {"durable": "yes"}), ["not_boolean", "yes"])
    bad_request(api.put(path("exchanges", vhost, "x"), {"type": "direct", "auto_delete": 2}),
                ["not_boolean", 2])
    bad_request(api.put(path("vhosts", vhost), {"tracing": []}), ["not_boolean", []])
    # RabbitMQ's text is an Erlang term: "Validation failed\n\nmax-queues should be a
    # number, actually was <<\"ten\">>\n"
    r = api.put(path("vhost-limits", vhost, "max-queues"), {"value": "ten"})
    assert r.status == 400 and r.body["error"] == "bad_request", r
    assert "max-queues should be a number" in r.body["reason"], r.body


def test_unknown_fields_are_ignored(api, vhost, users):
    """RabbitMQ ignores fields it does not know: no 400 for them."""
    assert api.put(path("queues", vhost, "q"), {"durable": True, "bogus": 1}).status == 201
    assert api.put(path("exchanges", vhost, "x"), {"type": "direct", "bogus": [1]}).status \
        == 201
    assert api.put(path("vhosts", vhost), {"bogus": {"a": 1}}).status == 204
    assert api.put(path("policies", vhost, "p"), {"pattern": "^", "definition":
                                                  {"max-length": 1}, "bogus": 1}).status == 201
    assert api.post(path("bindings", vhost, "e", "x", "q", "q"), {"bogus": 1}).status == 201
    name, _ = users.make()
    assert api.put(path("users", name), {"password": "p", "tags": "", "bogus": 1}).status == 204
    assert api.put(path("permissions", vhost, name), {"configure": "", "write": "",
                                                      "read": "", "bogus": 1}).status == 201


def test_content_type_is_not_checked(api, vhost):
    r = api.put(path("queues", vhost, "q"), raw=b"{}", headers={"Content-Type": "text/plain"})
    assert r.status == 201


# ------------------------------------------------------------------ paths and methods

@pytest.mark.parametrize("p", ["/api/nosuch", "/api/overview/x", "/nosuch", "/api/queues",
                               "/api/vhosts/VH/nope", "/api/queues/VH/q/nope",
                               "/api/exchanges/VH/amq.direct/nope"])
def test_unknown_path_404(api, vhost, p):
    api.ok("PUT", path("queues", vhost, "q"), {})
    p = p.replace("/VH", "/" + q(vhost))
    if p == "/api/queues":
        p = "/api/queues/%s/q/bindings/nope" % q(vhost)
    r = api.get(p)
    assert r.status == 404, (p, r)
    assert r.body == NOT_FOUND


def test_unknown_path_is_404_even_without_credentials(api):
    r = api.get("/api/nosuch", auth=False)
    assert r.status == 404 and r.body == NOT_FOUND
    r = api.get("/api/overview", auth=False)
    assert r.status == 401


@pytest.mark.parametrize("method,p", [("POST", "/api/overview"), ("DELETE", "/api/overview"),
                                      ("PUT", "/api/nodes"), ("GET", "/api/queues/%2F/q/get"),
                                      ("PATCH", "/api/vhosts/%2F")])
def test_method_not_allowed_405(api, method, p):
    r = api.request(method, p, body={} if method != "GET" else None)
    assert r.status == 405
    assert "GET" in r.headers.get("allow", "") or method == "GET"


def test_bad_percent_escape_400(api, vhost):
    r = api.get("/api/queues/%s/%%ZZ" % q(vhost))
    assert r.status == 400


@pytest.mark.parametrize("p", ["/api/../etc/passwd", "/api/%2E%2E/%2E%2E/etc/passwd",
                               "/../../etc/passwd", "/api/queues/..%2F..%2Fetc%2Fpasswd",
                               "/api/queues/%2F/..%2F..%2Fetc%2Fpasswd",
                               "/api/..%2F..%2F..%2Fetc%2Fpasswd", "/api/%2e%2e/%2e%2e/etc/shadow"])
def test_traversal_never_reaches_files(api, p):
    """404 (Object Not Found) or, for some encoded forms, an empty 400 from
    RabbitMQ's HTTP server; never a file."""
    r = api.get(p)
    assert r.status in (400, 404), (p, r)
    assert r.status == 400 or r.body == NOT_FOUND
    assert b"root:" not in r.raw


# ------------------------------------------------------------------ percent-decoding

@pytest.mark.parametrize("name", ["a/b %2F ü", "sp ace", "plus+sign", "100%", "~tilde",
                                  "semi;colon?q=1#frag", "x" * 255])
def test_queue_name_round_trips(api, vhost, name):
    p = "/api/queues/%s/%s" % (q(vhost), q(name))
    assert api.put(p, {"durable": False}).status == 201
    r = api.get(p + "?columns=name,vhost")
    assert r.status == 200
    assert r.body == {"name": name, "vhost": vhost}
    assert [x["name"] for x in api.get(path("queues", vhost)).body] == [name]
    assert api.delete(p).status == 204


def test_plus_in_a_path_is_a_plus(api, vhost):
    api.ok("PUT", path("queues", vhost, "a+b"), {})
    assert api.get("/api/queues/%s/a+b" % q(vhost)).status == 200
    assert api.get("/api/queues/%s/a%%20b" % q(vhost)).status == 404


def test_default_vhost_is_percent_2f(api):
    assert api.get("/api/vhosts/%2F").body["name"] == "/"
    assert api.get("/api/vhosts/%2f").body["name"] == "/"        # case-insensitive hex


def test_vhost_name_with_slash_round_trips(api):
    from support.broker import unique
    vh = unique("tern/api/slash ü")
    try:
        assert api.put(path("vhosts", vh), {}).status == 201
        assert api.get(path("vhosts", vh)).body["name"] == vh
        assert api.put(path("queues", vh, "q/1"), {}).status == 201
        assert api.get(path("queues", vh, "q/1", query="columns=name,vhost")).body == \
            {"name": "q/1", "vhost": vh}
    finally:
        api.delete(path("vhosts", vh))


# ------------------------------------------------------------------ limits

def test_garbage_request_line_400(api):
    out = raw_http(api.host, api.port, b"GARBAGE\r\n\r\n", timeout=5)
    assert out.startswith(b"HTTP/1.1 400")


def test_huge_url_414(api):
    out = raw_http(api.host, api.port, b"GET /api/" + b"a" * 20000 + b" HTTP/1.1\r\nHost: x"
                   b"\r\n\r\n", timeout=5)
    assert out.startswith(b"HTTP/1.1 414")


def test_huge_header_431(api):
    out = raw_http(api.host, api.port,
                   b"GET /api/overview HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * 100000 +
                   b"\r\n\r\n", timeout=5)
    assert out.startswith(b"HTTP/1.1 431")


@pytest.mark.tern_only
def test_body_over_limit_413_before_it_is_buffered(api, vhost):
    """Tern: a declared Content-Length over the limit (20 MiB) is refused
    with 413 as soon as the headers are in -- without waiting for (or
    buffering) the body. RabbitMQ 3.10.8 answers 500 for bodies of ~8 MB
    and more."""
    size = 21 * 1024 * 1024
    head = ("PUT /api/queues/%s/big HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\n"
            "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
            % (q(vhost), api.auth_header(), size)).encode()
    s = socket.create_connection((api.host, api.port), timeout=5)
    try:
        s.sendall(head + b"{" + b" " * 65536)           # far less than announced
        t0 = time.monotonic()
        out = b""
        while b"\r\n\r\n" not in out:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
        assert out.startswith(b"HTTP/1.1 413"), out[:200]
        assert time.monotonic() - t0 < 5
    finally:
        s.close()
    assert api.get(path("queues", vhost, "big")).status == 404


def test_big_but_allowed_body(api, vhost):
    body = {"durable": False, "arguments": {"x-pad": "a" * (1024 * 1024)}}
    assert api.put(path("queues", vhost, "big"), body).status == 201


# ------------------------------------------------------------------ robustness

@pytest.mark.time_limit(60)
def test_amqp_keeps_serving_while_api_is_hammered(api, vhost, amqp):
    api.ok("PUT", path("queues", vhost, "q"), {})
    bad = [b"GARBAGE\r\n\r\n", b"GET /api/overview HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n",
           b"PUT /api/queues/%2F/x HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n{",
           b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", b"GET /" + b"a" * 20000 + b"\r\n\r\n"]
    for i in range(40):
        for data in bad:               # sent, then the socket is dropped
            try:
                s = socket.create_connection((api.host, api.port), timeout=2)
                s.sendall(data)
                s.close()
            except OSError:
                pass
        assert raw_http(api.host, api.port, b"GARBAGE\r\n\r\n", timeout=5) \
            .startswith(b"HTTP/1.1 400")
        api.put(path("queues", vhost, "q"), raw=b"{nope")
        api.get("/api/nosuch")
        api.get("/api/overview", auth=("guest", "wrong"))
    ch = amqp.channel(vhost)
    ch.confirm_delivery()
    ch.basic_publish("", "q", b"still here")
    m, _, body = ch.basic_get("q", auto_ack=True)
    assert body == b"still here"
    assert api.get("/api/overview").status == 200
