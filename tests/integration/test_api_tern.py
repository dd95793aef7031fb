"""Tern's own API under /api/tern (Tern-only: RabbitMQ and LavinMQ have no
such paths): browse a queue without consuming it, delete one message by
id, move messages to another queue, redrive a dead-letter queue to the
queues named in x-death, see who holds each unacked message, list and
cancel the messages waiting in an x-delayed-message exchange; and the
permissions each needs (read on a queue taken from, write on a queue put
into)."""
import base64
import json
import os
import time
import urllib.error
import urllib.request

import pika
import pytest

from support.broker import Broker

pytestmark = pytest.mark.skipif(bool(os.environ.get("BROKER_URL")),
                                reason="Tern-only: /api/tern is Tern's")


class Tern:
    """A ternd of this module's own, with its management listener. It is
    started and stopped by support.broker.Broker, which waits for both
    ports, fails with the log's tail when ternd exits during start-up, and
    fails the run on a sanitizer report in the log."""

    def __init__(self):
        self.b = Broker(None)
        self.b.start()

    @property
    def amqp(self):
        return self.b.port

    @property
    def http(self):
        return self.b.mgmt_port

    def api(self, method, path, body=None, user="guest", password="guest"):
        req = urllib.request.Request(
            "http://127.0.0.1:%d/api%s" % (self.http, path), method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"content-type": "application/json", "authorization": "Basic " +
                     base64.b64encode(("%s:%s" % (user, password)).encode()).decode()})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                text = r.read()
                return r.status, json.loads(text) if text else None
        except urllib.error.HTTPError as e:
            text = e.read()
            return e.code, json.loads(text) if text else None

    def connect(self, user="guest", password="guest", vhost="/"):
        return pika.BlockingConnection(pika.ConnectionParameters(
            host="127.0.0.1", port=self.amqp, virtual_host=vhost,
            credentials=pika.PlainCredentials(user, password)))

    def stop(self):
        self.b.stop()
        self.b.check_log()
        self.b.cleanup()


@pytest.fixture(scope="module")
def tern():
    t = Tern()
    yield t
    t.stop()


def fill(ch, queue, n, declare=True, **props):
    if declare:
        ch.queue_declare(queue)
    for i in range(n):
        ch.basic_publish("", queue, b"m%d" % i, pika.BasicProperties(**props))
    ch.queue_declare(queue, passive=True)  # a round trip: all published arrived


def test_browse_shows_without_consuming(tern):
    c = tern.connect()
    ch = c.channel()
    fill(ch, "b-q", 5, headers={"k": "v"}, delivery_mode=2)
    st, page = tern.api("GET", "/tern/queues/%2F/b-q/messages?offset=1&count=2")
    assert st == 200
    assert page["total"] == 5 and page["offset"] == 1
    assert [m["payload"] for m in page["messages"]] == ["m1", "m2"]
    assert [m["position"] for m in page["messages"]] == [1, 2]
    m = page["messages"][0]
    assert m["properties"]["headers"] == {"k": "v"} and m["properties"]["delivery_mode"] == 2
    assert m["payload_encoding"] == "string" and m["payload_bytes"] == 2
    assert m["redelivered"] is False and isinstance(m["id"], int)
    # nothing was consumed
    assert ch.queue_declare("b-q", passive=True).method.message_count == 5
    st, page = tern.api("GET", "/tern/queues/%2F/b-q/messages?truncate=1&count=1")
    assert page["messages"][0]["payload"] == "m" and page["messages"][0]["payload_bytes"] == 2
    assert tern.api("GET", "/tern/queues/%2F/b-q/messages?count=x")[0] == 400
    assert tern.api("GET", "/tern/queues/%2F/nosuch/messages")[0] == 404
    c.close()


def test_delete_one_message_by_id(tern):
    c = tern.connect()
    ch = c.channel()
    fill(ch, "d-q", 3)
    _, page = tern.api("GET", "/tern/queues/%2F/d-q/messages")
    middle = page["messages"][1]["id"]
    assert tern.api("DELETE", "/tern/queues/%%2F/d-q/messages/%d" % middle)[0] == 204
    assert tern.api("DELETE", "/tern/queues/%%2F/d-q/messages/%d" % middle)[0] == 404
    got = [ch.basic_get("d-q", auto_ack=True)[2] for _ in range(2)]
    assert got == [b"m0", b"m2"]
    assert ch.basic_get("d-q", auto_ack=True)[0] is None
    c.close()


def test_move_all_or_the_first_n_in_order(tern):
    c = tern.connect()
    ch = c.channel()
    fill(ch, "mv-src", 5)
    ch.queue_declare("mv-dst")
    assert tern.api("POST", "/tern/queues/%2F/mv-src/move",
                    {"destination": "mv-dst", "count": 2}) == (200, {"moved": 2})
    assert tern.api("POST", "/tern/queues/%2F/mv-src/move", {"destination": "mv-dst"}) == \
        (200, {"moved": 3})
    assert ch.queue_declare("mv-src", passive=True).method.message_count == 0
    assert [ch.basic_get("mv-dst", auto_ack=True)[2] for _ in range(5)] == \
        [b"m%d" % i for i in range(5)]
    assert tern.api("POST", "/tern/queues/%2F/mv-src/move", {"destination": "nosuch"})[0] == 404
    assert tern.api("POST", "/tern/queues/%2F/mv-src/move", {})[0] == 400
    c.close()


def test_redrive_returns_dead_letters_to_their_queues(tern):
    c = tern.connect()
    ch = c.channel()
    ch.queue_declare("rd-dlq")
    ch.queue_declare("rd-work", arguments={"x-dead-letter-exchange": "",
                                           "x-dead-letter-routing-key": "rd-dlq"})
    fill(ch, "rd-work", 3, declare=False)
    for _ in range(3):
        m, _, _ = ch.basic_get("rd-work")
        ch.basic_reject(m.delivery_tag, requeue=False)
    ch.queue_declare("rd-dlq", passive=True)
    assert ch.queue_declare("rd-dlq", passive=True).method.message_count == 3
    st, body = tern.api("POST", "/tern/queues/%2F/rd-dlq/redrive", {})
    assert (st, body) == (200, {"moved": 3, "skipped": 0})
    assert ch.queue_declare("rd-work", passive=True).method.message_count == 3
    assert ch.basic_get("rd-work", auto_ack=True)[2] == b"m0"
    c.close()


def test_unacked_shows_who_holds_what(tern):
    c = tern.connect()
    ch = c.channel()
    fill(ch, "ua-q", 2)
    got = []
    ch.basic_qos(prefetch_count=2)
    ch.basic_consume("ua-q", lambda *a: got.append(a), consumer_tag="holder")
    t0 = time.time()
    while len(got) < 2 and time.time() - t0 < 5:
        c.process_data_events(time_limit=0.1)
    time.sleep(0.3)
    st, held = tern.api("GET", "/tern/queues/%2F/ua-q/unacked")
    assert st == 200 and len(held) == 2
    assert {h["consumer_tag"] for h in held} == {"holder"}
    assert all(h["held_ms"] >= 200 and h["channel"] == ch.channel_number for h in held)
    assert all(h["connection"].startswith("127.0.0.1:") and h["user"] == "guest" for h in held)
    c.close()


def test_delayed_list_and_cancel(tern):
    c = tern.connect()
    ch = c.channel()
    ch.exchange_declare("dl-x", "x-delayed-message", arguments={"x-delayed-type": "direct"})
    ch.queue_declare("dl-q")
    ch.queue_bind("dl-q", "dl-x", "k")
    ch.basic_publish("dl-x", "k", b"late", pika.BasicProperties(headers={"x-delay": 60000}))
    ch.basic_publish("dl-x", "k", b"soon", pika.BasicProperties(headers={"x-delay": 700}))
    ch.queue_declare("dl-q", passive=True)
    st, page = tern.api("GET", "/tern/exchanges/%2F/dl-x/delayed")
    assert st == 200 and page["total"] == 2
    assert [m["payload"] for m in page["messages"]] == ["soon", "late"]  # due order
    soon = page["messages"][0]
    assert 0 <= soon["due_in_ms"] <= 700 and soon["routing_key"] == "k"
    assert tern.api("DELETE", "/tern/exchanges/%%2F/dl-x/delayed/%d" % soon["id"])[0] == 204
    assert tern.api("DELETE", "/tern/exchanges/%%2F/dl-x/delayed/%d" % soon["id"])[0] == 404
    assert tern.api("GET", "/tern/exchanges/%2F/dl-x/delayed")[1]["total"] == 1
    time.sleep(1.2)
    assert ch.queue_declare("dl-q", passive=True).method.message_count == 0  # never came
    assert tern.api("GET", "/tern/exchanges/%2F/amq.direct/delayed")[0] == 404
    c.close()


def test_permissions(tern):
    # a management user with read on "ro-*" only: may browse ro-q, not move into it
    assert tern.api("PUT", "/users/viewer", {"password": "pw", "tags": "management"})[0] == 201
    assert tern.api("PUT", "/permissions/%2F/viewer",
                    {"configure": "", "write": "", "read": "^ro-"})[0] == 201
    c = tern.connect()
    ch = c.channel()
    fill(ch, "ro-q", 1)
    fill(ch, "rw-q", 1)
    as_viewer = dict(user="viewer", password="pw")
    assert tern.api("GET", "/tern/queues/%2F/ro-q/messages", **as_viewer)[0] == 200
    st, err = tern.api("GET", "/tern/queues/%2F/rw-q/messages", **as_viewer)
    assert st == 403 and "access to queue 'rw-q' in vhost '/' refused for user 'viewer'" in \
        err["reason"]
    st, err = tern.api("POST", "/tern/queues/%2F/ro-q/move", {"destination": "rw-q"},
                       **as_viewer)
    assert st == 403
    assert ch.queue_declare("ro-q", passive=True).method.message_count == 1
    c.close()
