"""/api/queues: declare, read, delete, list (paging, filters, sorting,
columns), purge, get, bindings (RabbitMQ 3.10.8)."""
import re

import pika
import pytest

from apiclient import NOT_FOUND, path, wait_for

ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$")


def qget(api, vhost, name, columns=None):
    return api.get(path("queues", vhost, name, query={"columns": columns} if columns else None))


def wait_stats(api, vhost, name, pred, what, keys=("messages", "consumers")):
    """The queue object once it has `keys` and pred(queue) holds (RabbitMQ
    fills the object in from separate stats batches: polled)."""
    def probe():
        r = qget(api, vhost, name)
        return r.body if r.status == 200 and all(k in r.body for k in keys) and \
            pred(r.body) else None
    return wait_for(probe, what="%s on queue %s" % (what, name))


def bad_request(r, reason):
    assert r.status == 400, r
    assert r.body == {"error": "bad_request", "reason": reason}


# ------------------------------------------------------------------ declare / delete

def test_put_201_then_204_delete_204_then_404(api, vhost):
    p = path("queues", vhost, "q")
    r = api.put(p, {"durable": True, "auto_delete": False, "arguments": {}})
    assert r.status == 201 and r.raw == b""
    r = api.put(p, {"durable": True, "auto_delete": False, "arguments": {}})
    assert r.status == 204 and r.raw == b""
    assert api.get(p).status == 200
    r = api.delete(p)
    assert r.status == 204 and r.raw == b""
    for r in (api.delete(p), api.get(p)):
        assert r.status == 404
        assert r.body == NOT_FOUND


def test_put_empty_body_declares_with_defaults(api, vhost):
    r = api.put(path("queues", vhost, "q"), raw=b"")
    assert r.status == 201
    b = qget(api, vhost, "q", "durable,auto_delete,exclusive,arguments").body
    assert b == {"durable": False, "auto_delete": False, "exclusive": False, "arguments": {}}


def test_put_exclusive_is_ignored(api, vhost):
    """The API has no connection to own an exclusive queue: ignored."""
    assert api.put(path("queues", vhost, "q"), {"exclusive": True}).status == 201
    assert qget(api, vhost, "q", "exclusive").body == {"exclusive": False}


def test_booleans_accept_true_false_strings(api, vhost):
    """rabbitmqadmin sends "true"/"false" strings."""
    assert api.put(path("queues", vhost, "q"),
                   {"durable": "true", "auto_delete": "false"}).status == 201
    assert qget(api, vhost, "q", "durable,auto_delete").body == {"durable": True,
                                                                 "auto_delete": False}


def test_put_missing_vhost_404(api, vhost):
    r = api.put(path("queues", vhost + "-nope", "q"), {})
    assert r.status == 404
    assert r.body == {"error": "not_found", "reason": "vhost_not_found"}
    r = api.get(path("queues", vhost + "-nope", "q"))
    assert r.status == 404 and r.body == NOT_FOUND
    r = api.get(path("queues", vhost + "-nope"))
    assert r.status == 404 and r.body == NOT_FOUND


def bad_argument(r, vhost, arg, value):
    """RabbitMQ's text is an Erlang term after the colon ("\"expected integer,
    got longstr\"", {value_negative,-1}): what a client can rely on is the
    status, the error key, the prefix naming argument, queue and vhost, and
    the offending value (where RabbitMQ names it) in the reason."""
    assert r.status == 400, r
    assert r.body["error"] == "bad_request"
    prefix = "invalid arg '%s' for queue 'q2' in vhost '%s': " % (arg, vhost)
    assert r.body["reason"].startswith(prefix), r.body
    assert value is None or value in r.body["reason"][len(prefix):], r.body


def test_bad_arguments_400(api, vhost):
    p = path("queues", vhost, "q2")
    # RabbitMQ's text is an Erlang term: "\"expected integer, got longstr\""
    bad_argument(api.put(p, {"arguments": {"x-max-length": "abc"}}), vhost, "x-max-length",
                 None)
    # RabbitMQ's text is an Erlang term: "\"unsupported queue type 'bogus'\""
    bad_argument(api.put(p, {"arguments": {"x-queue-type": "bogus"}}), vhost, "x-queue-type",
                 "bogus")
    # RabbitMQ's text is an Erlang term: {value_negative,-1}
    bad_argument(api.put(p, {"arguments": {"x-message-ttl": -1}}), vhost, "x-message-ttl",
                 "-1")
    assert api.get(p).status == 404


def test_inequivalent_redeclare_400(api, vhost):
    api.ok("PUT", path("queues", vhost, "q"), {"durable": True})
    bad_request(api.put(path("queues", vhost, "q"), {"durable": False}),
                "inequivalent arg 'durable' for queue 'q' in vhost '%s': "
                "received 'false' but current is 'true'" % vhost)


def test_non_boolean_400(api, vhost):
    bad_request(api.put(path("queues", vhost, "q"), {"durable": "yes"}), ["not_boolean", "yes"])
    bad_request(api.put(path("queues", vhost, "q"), {"auto_delete": 1}), ["not_boolean", 1])
    bad_request(api.put(path("queues", vhost, "q"), {"durable": None}), ["not_boolean", None])


def test_amq_prefix_refused(api, vhost):
    r = api.put(path("queues", vhost, "amq.mine"), {})
    assert r.status == 401
    assert r.body == {"error": "not_authorised", "reason": "Access refused."}


def test_delete_exclusive_queue_of_a_connection_400(api, vhost, amqp):
    ch = amqp.channel(vhost)
    name = ch.queue_declare("", exclusive=True).method.queue
    r = api.delete(path("queues", vhost, name))
    bad_request(r, "cannot obtain exclusive access to locked queue '%s' in vhost '%s'. It "
                "could be originally declared on another connection or the exclusive "
                "property value does not match that of the original declaration."
                % (name, vhost))
    assert qget(api, vhost, name, "exclusive").body == {"exclusive": True}


def test_delete_if_empty_and_if_unused(api, vhost, amqp):
    api.ok("PUT", path("queues", vhost, "q"), {})
    amqp.publish(vhost, "q", [b"x"])
    bad_request(api.delete(path("queues", vhost, "q", query="if-empty=true")),
                "queue 'q' in vhost '%s' not empty" % vhost)
    ch = amqp.channel(vhost)
    ch.basic_consume("q", lambda *a: None)
    bad_request(api.delete(path("queues", vhost, "q", query="if-unused=true")),
                "queue 'q' in vhost '%s' in use" % vhost)
    ch.connection.close()
    assert api.delete(path("queues", vhost, "q", query="if-unused=true")).status == 204


# ------------------------------------------------------------------ the queue object

QUEUE_FIELDS = ("name", "vhost", "durable", "auto_delete", "exclusive", "arguments", "node",
                "state", "type", "policy", "operator_policy", "effective_policy_definition",
                "consumers", "consumer_utilisation", "consumer_capacity",
                "exclusive_consumer_tag", "single_active_consumer_tag",
                "head_message_timestamp", "messages", "messages_details", "messages_ready",
                "messages_ready_details", "messages_unacknowledged",
                "messages_unacknowledged_details", "messages_persistent", "messages_ram",
                "messages_ready_ram", "messages_unacknowledged_ram", "messages_paged_out",
                "message_bytes", "message_bytes_ready", "message_bytes_unacknowledged",
                "message_bytes_persistent", "message_bytes_ram", "message_bytes_paged_out",
                "memory")
ONLY_IN_ONE = ("consumer_details", "deliveries", "incoming")   # not in list items


def test_queue_object_fields(api, vhost):
    api.ok("PUT", path("queues", vhost, "q"), {"durable": True,
                                               "arguments": {"x-max-length": 100}})
    node = api.get("/api/overview").body["node"]
    b = wait_stats(api, vhost, "q", lambda b: True, "all fields", keys=QUEUE_FIELDS)
    for k in QUEUE_FIELDS + ONLY_IN_ONE:
        assert k in b, k
    assert (b["name"], b["vhost"], b["durable"], b["auto_delete"], b["exclusive"]) == \
        ("q", vhost, True, False, False)
    assert b["arguments"] == {"x-max-length": 100}
    assert b["node"] == node
    assert b["state"] == "running"
    assert b["type"] == "classic"
    assert b["policy"] is None and b["operator_policy"] is None
    assert b["effective_policy_definition"] == {}
    assert b["consumers"] == 0 and b["consumer_details"] == []
    assert b["exclusive_consumer_tag"] is None
    assert b["single_active_consumer_tag"] is None
    assert b["head_message_timestamp"] is None
    assert b["deliveries"] == [] and b["incoming"] == []
    for k in ("messages", "messages_ready", "messages_unacknowledged", "message_bytes"):
        assert b[k] == 0, k
    for k in ("messages_details", "messages_ready_details", "messages_unacknowledged_details"):
        assert isinstance(b[k]["rate"], (int, float))
    assert isinstance(b["memory"], int) and b["memory"] > 0
    items = api.get(path("queues", vhost)).body
    item = [i for i in items if i["name"] == "q"][0]
    for k in QUEUE_FIELDS:
        assert k in item, k
    for k in ONLY_IN_ONE:
        assert k not in item, k


def test_idle_since_format(api, vhost):
    api.ok("PUT", path("queues", vhost, "q"), {})
    b = wait_for(lambda: qget(api, vhost, "q", "idle_since").body or None,
                 what="idle_since")
    assert ISO_MS.match(b["idle_since"]), b


def test_counts_bytes_and_message_stats(api, vhost, amqp):
    api.ok("PUT", path("queues", vhost, "q"), {})
    amqp.publish(vhost, "q", [b"aaaaa", b"bbbbb", b"ccccc"])
    ch = amqp.channel(vhost)
    m, _, _ = ch.basic_get("q", auto_ack=False)
    ch.basic_ack(m.delivery_tag)
    m2, _, _ = ch.basic_get("q", auto_ack=False)          # left unacknowledged
    assert m2 is not None
    b = wait_stats(api, vhost, "q", lambda b: b.get("messages_unacknowledged") == 1 and
                   b.get("message_stats", {}).get("ack") == 1, "1 unacked, 1 ack")
    assert (b["messages"], b["messages_ready"], b["messages_unacknowledged"]) == (2, 1, 1)
    assert (b["message_bytes"], b["message_bytes_ready"],
            b["message_bytes_unacknowledged"]) == (10, 5, 5)
    ms = b["message_stats"]
    assert ms["publish"] == 3
    assert ms["get"] == 2 and ms["deliver_get"] == 2 and ms["ack"] == 1
    for k in ("publish", "deliver_get", "ack", "get", "deliver", "deliver_no_ack",
              "get_no_ack", "redeliver"):
        assert isinstance(ms[k], int), k
        assert isinstance(ms[k + "_details"]["rate"], (int, float)), k


def test_consumers_and_consumer_details(api, vhost, amqp):
    api.ok("PUT", path("queues", vhost, "q"), {})
    ch = amqp.channel(vhost)
    ch.basic_qos(prefetch_count=4)
    ch.basic_consume("q", lambda *a: None, consumer_tag="ctag-1")
    b = wait_stats(api, vhost, "q", lambda b: b["consumers"] == 1 and b["consumer_details"],
                   "one consumer")
    d = b["consumer_details"][0]
    assert d["consumer_tag"] == "ctag-1"
    assert d["queue"] == {"name": "q", "vhost": vhost}
    assert d["ack_required"] is True and d["exclusive"] is False
    assert d["prefetch_count"] == 4
    assert d["arguments"] == {}
    assert set(d["channel_details"]) >= {"name", "number", "connection_name", "peer_host",
                                         "peer_port", "user", "node"}


def test_exclusive_queue_from_amqp(api, vhost, amqp):
    ch = amqp.channel(vhost)
    name = ch.queue_declare("", exclusive=True).method.queue
    assert name.startswith("amq.gen-")
    b = qget(api, vhost, name, "name,exclusive,durable,auto_delete").body
    assert b == {"name": name, "exclusive": True, "durable": False, "auto_delete": False}


# ------------------------------------------------------------------ lists

def make(api, vhost, *names):
    for n in names:
        api.ok("PUT", path("queues", vhost, n), {})


def test_lists_are_plain_lists_sorted_by_name(api, vhost):
    make(api, vhost, "b", "c", "a")
    r = api.get(path("queues", vhost))
    assert r.status == 200 and isinstance(r.body, list)
    assert [i["name"] for i in r.body] == ["a", "b", "c"]
    assert all(i["vhost"] == vhost for i in r.body)
    everywhere = api.get("/api/queues?columns=name,vhost").body
    assert [i for i in everywhere if i["vhost"] == vhost] == \
        [{"name": n, "vhost": vhost} for n in "abc"]
    # a trailing slash lists too
    assert [i["name"] for i in api.get("/api/queues/%s/" % vhost).body] == ["a", "b", "c"]


def test_paging_object(api, vhost):
    make(api, vhost, "q0", "q1", "q2", "q3", "q4")
    r = api.get(path("queues", vhost, query="page=1&page_size=2&columns=name"))
    assert r.status == 200
    assert r.body == {"filtered_count": 5, "item_count": 2,
                      "items": [{"name": "q0"}, {"name": "q1"}], "page": 1,
                      "page_count": 3, "page_size": 2, "total_count": 5}
    r = api.get(path("queues", vhost, query="page=3&page_size=2&columns=name"))
    assert r.body == {"filtered_count": 5, "item_count": 1, "items": [{"name": "q4"}],
                      "page": 3, "page_count": 3, "page_size": 2, "total_count": 5}
    r = api.get(path("queues", vhost, query="page=1&columns=name"))
    assert r.body["page_size"] == 100 and r.body["item_count"] == 5


def test_paging_errors(api, vhost):
    make(api, vhost, "q0", "q1", "q2", "q3", "q4")
    r = api.get(path("queues", vhost, query="page=9&page_size=2"))
    assert r.status == 400
    assert r.body == {"error": "page_out_of_range",
                      "reason": "Page out of range, page: 9 page size: 2, len: 5"}
    for page, size in ((0, 2), (1, 0), (1, 501)):
        r = api.get(path("queues", vhost, query="page=%d&page_size=%d" % (page, size)))
        assert r.status == 400
        assert r.body == {"error": "invalid_pagination_parameters",
                          "reason": "Invalid pagination parameters: page number %d, page "
                                    "size %d" % (page, size)}
    r = api.get(path("queues", vhost, query="page=x"))
    assert r.status == 400
    assert r.body == {"error": "bad_request", "reason": "Pagination parameters are invalid"}


def test_name_filter_substring_regex_and_case(api, vhost):
    make(api, vhost, "Alpha-1", "alpha-2", "beta-1")
    r = api.get(path("queues", vhost, query="page=1&name=alpha&columns=name"))
    assert r.body["items"] == [{"name": "Alpha-1"}, {"name": "alpha-2"}]  # case-insensitive
    assert (r.body["filtered_count"], r.body["total_count"]) == (2, 3)
    r = api.get(path("queues", vhost,
                     query={"page": 1, "name": "^[ab].*-1$", "use_regex": "true",
                            "columns": "name"}))
    assert r.body["items"] == [{"name": "Alpha-1"}, {"name": "beta-1"}]
    r = api.get(path("queues", vhost, query={"page": 1, "name": "[", "use_regex": "true"}))
    assert r.status == 400
    assert r.body == {"error": "bad_request", "reason": "Pagination parameters are invalid"}


def test_name_filter_without_page_is_ignored(api, vhost):
    make(api, vhost, "alpha", "beta")
    r = api.get(path("queues", vhost, query="name=alpha&columns=name"))
    assert r.body == [{"name": "alpha"}, {"name": "beta"}]


def test_sort_and_columns(api, vhost, amqp):
    make(api, vhost, "none", "one", "three")
    amqp.publish(vhost, "one", [b"x"])
    amqp.publish(vhost, "three", [b"x", b"y", b"z"])

    def sorted_by_messages():
        r = api.get(path("queues", vhost,
                         query="sort=messages&sort_reverse=true&columns=name,messages"))
        return r.body if [i.get("messages") for i in r.body] == [3, 1, 0] else None
    body = wait_for(sorted_by_messages, what="messages 3, 1, 0")
    assert body == [{"name": "three", "messages": 3}, {"name": "one", "messages": 1},
                    {"name": "none", "messages": 0}]
    r = api.get(path("queues", vhost, query="sort=name&sort_reverse=true&columns=name"))
    assert r.body == [{"name": "three"}, {"name": "one"}, {"name": "none"}]


def test_nested_columns(api, vhost):
    api.ok("PUT", path("queues", vhost, "a"), {"arguments": {"x-max-length": 5}})
    api.ok("PUT", path("queues", vhost, "b"), {})
    r = api.get(path("queues", vhost, query="columns=name,arguments.x-max-length"))
    assert r.body == [{"name": "a", "arguments": {"x-max-length": 5}},
                      {"name": "b", "arguments": {}}]
    r = qget(api, vhost, "a", "name,arguments.x-max-length")
    assert r.body == {"name": "a", "arguments": {"x-max-length": 5}}


# ------------------------------------------------------------------ purge, get

def test_purge(api, vhost, amqp):
    api.ok("PUT", path("queues", vhost, "q"), {})
    amqp.publish(vhost, "q", [b"1", b"2"])
    r = api.delete(path("queues", vhost, "q", "contents"))
    assert r.status == 204 and r.raw == b""
    ch = amqp.channel(vhost)
    assert ch.queue_declare("q", passive=True).method.message_count == 0
    r = api.delete(path("queues", vhost, "nope", "contents"))
    assert r.status == 404 and r.body == NOT_FOUND


def publish_api(api, vhost, rk, payload, properties=None, encoding="string"):
    r = api.post(path("exchanges", vhost, "amq.default", "publish"),
                 {"properties": properties or {}, "routing_key": rk, "payload": payload,
                  "payload_encoding": encoding})
    assert r.status == 200, r
    return r.body


def get_api(api, vhost, q, **kw):
    body = {"count": 1, "ackmode": "ack_requeue_true", "encoding": "auto"}
    body.update(kw)
    return api.post(path("queues", vhost, q, "get"), body)


def test_get_fields_truncate_and_requeue(api, vhost):
    api.ok("PUT", path("queues", vhost, "q"), {})
    props = {"content_type": "text/plain", "delivery_mode": 2, "headers": {"h": 1}}
    for i in range(3):
        publish_api(api, vhost, "q", "hello %d" % i, props)
    r = get_api(api, vhost, "q", count=2, truncate=3)
    assert r.status == 200
    assert r.body == [
        {"payload_bytes": 7, "redelivered": False, "exchange": "", "routing_key": "q",
         "message_count": 2, "properties": props, "payload": "hel",
         "payload_encoding": "string"},
        {"payload_bytes": 7, "redelivered": False, "exchange": "", "routing_key": "q",
         "message_count": 1, "properties": props, "payload": "hel",
         "payload_encoding": "string"}]
    r = get_api(api, vhost, "q", encoding="base64")            # requeued: redelivered
    assert r.body[0]["redelivered"] is True
    assert r.body[0]["payload"] == "aGVsbG8gMA=="              # "hello 0"
    assert r.body[0]["payload_encoding"] == "base64"
    assert r.body[0]["message_count"] == 2


def test_get_ackmodes(api, vhost):
    api.ok("PUT", path("queues", vhost, "q"), {})
    publish_api(api, vhost, "q", "one")
    publish_api(api, vhost, "q", "two")
    r = get_api(api, vhost, "q", count=5, ackmode="reject_requeue_true")
    assert [m["payload"] for m in r.body] == ["one", "two"]
    r = get_api(api, vhost, "q", ackmode="ack_requeue_false")
    assert [m["payload"] for m in r.body] == ["one"]
    r = get_api(api, vhost, "q", ackmode="reject_requeue_false")
    assert [m["payload"] for m in r.body] == ["two"]
    r = get_api(api, vhost, "q")
    assert r.status == 200 and r.body == []


def test_get_empty_properties_are_a_list_and_binary_is_base64(api, vhost, amqp):
    """Odd but as RabbitMQ writes it: no properties -> [] (not {})."""
    api.ok("PUT", path("queues", vhost, "q"), {})
    publish_api(api, vhost, "q", "x")
    amqp.publish(vhost, "q", [b"\xff\xfe\x00bin"],
                 properties=pika.BasicProperties(
                     priority=3, timestamp=1700000000, message_id="mid",
                     correlation_id="cid", reply_to="r", expiration="60000", type="t",
                     app_id="app", content_encoding="gzip",
                     headers={"s": "str", "i": 7, "b": True, "l": [1, "a"], "t": {"n": 1}}))
    r = get_api(api, vhost, "q", count=2, ackmode="ack_requeue_false")
    a, b = r.body
    assert a["properties"] == [] and a["payload"] == "x"
    assert b["payload_encoding"] == "base64" and b["payload"] == "//4AYmlu"
    assert b["payload_bytes"] == 6
    assert b["properties"] == {
        "app_id": "app", "type": "t", "timestamp": 1700000000, "message_id": "mid",
        "expiration": "60000", "reply_to": "r", "correlation_id": "cid", "priority": 3,
        "content_encoding": "gzip",
        "headers": {"b": True, "i": 7, "l": [1, "a"], "s": "str", "t": {"n": 1}}}


def test_get_errors(api, vhost):
    api.ok("PUT", path("queues", vhost, "q"), {})
    p = path("queues", vhost, "q", "get")
    bad_request(api.post(p, {"count": 1, "ackmode": "ack_requeue_true"}),
                "[{key_missing,encoding}]")
    bad_request(api.post(p, {"count": 1, "encoding": "auto"}), "[{key_missing,ackmode}]")
    bad_request(api.post(p, {"count": 1, "ackmode": "ack_requeue_true", "encoding": "bogus"}),
                "Unsupported encoding. Please use auto or base64.")
    r = get_api(api, vhost, "nope")
    assert r.status == 404
    assert r.body == {"error": "not_found",
                      "reason": "NOT_FOUND - no queue 'nope' in vhost '%s'" % vhost}
    r = api.get(p)
    assert r.status == 405


# ------------------------------------------------------------------ bindings

def test_queue_bindings(api, vhost):
    api.ok("PUT", path("queues", vhost, "q"), {})
    api.ok("PUT", path("exchanges", vhost, "x"), {"type": "direct"})
    api.ok("POST", path("bindings", vhost, "e", "x", "q", "q"), {"routing_key": "rk"})
    r = api.get(path("queues", vhost, "q", "bindings"))
    assert r.status == 200
    assert r.body == [
        {"source": "", "vhost": vhost, "destination": "q", "destination_type": "queue",
         "routing_key": "q", "arguments": {}, "properties_key": "q"},
        {"source": "x", "vhost": vhost, "destination": "q", "destination_type": "queue",
         "routing_key": "rk", "arguments": {}, "properties_key": "rk"}]


@pytest.mark.parametrize("verb", ["PATCH"])
def test_unsupported_method_405(api, vhost, verb):
    api.ok("PUT", path("queues", vhost, "q"), {})
    r = api.request(verb, path("queues", vhost, "q"), {})
    assert r.status == 405
