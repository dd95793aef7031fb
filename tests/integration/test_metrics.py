"""Prometheus metrics (plugins/management/metrics.c): GET /metrics and
/metrics/per-object in the text exposition format 0.0.4, under RabbitMQ's
rabbitmq_prometheus names, served without login on the management listener
and on prometheus.tcp.port.

Tern-only: these tests start a ternd of their own (free ports for both HTTP
listeners, never the default 15672/15692), make traffic with pika and check
exact values for what they caused (per-queue gauges on /metrics/per-object,
the increase of the global counters on /metrics), the content type,
`promtool check metrics` on both outputs (skipped when promtool, Debian's
package prometheus, is missing; a structural check of the format runs
anyway), and scrapes answered while the broker is under AMQP load."""
import http.client
import re
import shutil
import subprocess
import threading
import time

import pika
import pika.exceptions as pe
import pytest

from support.broker import Broker, free_port, unique

pytestmark = [pytest.mark.tern_only, pytest.mark.time_limit(60)]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PATHS = ("/metrics", "/metrics/per-object")
AMQP091 = {"protocol": "amqp091"}
CLASSIC = {"protocol": "amqp091", "queue_type": "rabbit_classic_queue"}


# ------------------------------------------------------------------ the broker

class MetricsBroker:
    """A ternd with both HTTP listeners on ports of its own."""

    def __init__(self, config_lines=None):
        self.b = Broker(None)  # it passes a free --management-port of its own
        self.mgmt_port = self.b.mgmt_port
        self.prom_port = free_port()
        while self.prom_port in (self.b.port, self.mgmt_port):
            self.prom_port = free_port()
        self.b.start(config_lines=config_lines,
                     extra_args=["--prometheus-port", str(self.prom_port)])
        wait_for(lambda: port_answers(self.prom_port) and port_answers(self.mgmt_port))

    @property
    def ports(self):
        return (("management", self.mgmt_port), ("prometheus", self.prom_port))

    def get(self, path, port=None, method="GET", headers=None):
        """(status, headers dict with lower-case names, body text)."""
        c = http.client.HTTPConnection("127.0.0.1", port or self.prom_port, timeout=10)
        try:
            c.request(method, path, headers=headers or {})
            r = c.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, \
                r.read().decode("utf-8")
        finally:
            c.close()

    def scrape(self, path="/metrics", port=None):
        status, headers, body = self.get(path, port)
        assert status == 200, body
        return body

    def metrics(self, path="/metrics", port=None):
        return Metrics(self.scrape(path, port))

    def stop(self):
        rc = self.b.stop()
        self.b.check_log()
        assert rc in (0, -15), "ternd exited with %s:\n%s" % (rc, self.b.log_tail())
        self.b.cleanup()


def port_answers(port):
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        c.request("GET", "/metrics")
        c.getresponse().read()
        c.close()
        return True
    except OSError:
        return False


def wait_for(fn, timeout=10.0, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for %s" % what)
        time.sleep(0.05)


@pytest.fixture(scope="module")
def mb():
    m = MetricsBroker()
    yield m
    m.stop()


@pytest.fixture
def conn(mb):
    c = pika.BlockingConnection(mb.b.params())
    yield c
    if c.is_open:
        c.close()


# ------------------------------------------------------------------ the format

SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$")
LABEL_KEY = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)=\"")
UNESCAPE = {"\\": "\\", '"': '"', "n": "\n"}


def parse_labels(s):
    labels, i = {}, 0
    while i < len(s):
        m = LABEL_KEY.match(s, i)
        assert m, "bad label at %r" % s[i:]
        i, val = m.end(), []
        while s[i] != '"':
            if s[i] == "\\":
                assert s[i + 1] in UNESCAPE, "bad escape in %r" % s
                val.append(UNESCAPE[s[i + 1]])
                i += 2
            else:
                assert s[i] != "\n"
                val.append(s[i])
                i += 1
        labels[m.group(1)] = "".join(val)
        i += 1
        if i < len(s):
            assert s[i] == ",", "expected ',' in %r" % s
            i += 1
    return labels


class Metrics:
    """One scrape, parsed and checked for the format's structure: every
    family has TYPE and HELP before its samples, its samples come
    together, and no series appears twice."""

    def __init__(self, text):
        self.text = text
        self.types, self.samples = {}, {}
        helps, done, current = set(), set(), None
        assert text.endswith("\n")
        for line in text.split("\n")[:-1]:
            if line.startswith("# TYPE "):
                _, _, name, kind = line.split(" ", 3)
                assert kind in ("counter", "gauge", "histogram", "untyped", "summary")
                assert name not in self.types, "family %s twice" % name
                self.types[name] = kind
                if current:
                    done.add(current)
                current = name
                continue
            if line.startswith("# HELP "):
                helps.add(line.split(" ", 3)[2])
                continue
            assert not line.startswith("#"), line
            m = SAMPLE.match(line)
            assert m, "not a sample: %r" % line
            name, labels = m.group(1), parse_labels((m.group(2) or "{}")[1:-1])
            fam = name
            if fam not in self.types:
                fam = re.sub(r"_(bucket|sum|count)$", "", name)
                assert self.types.get(fam) == "histogram", "sample %s has no TYPE" % name
            assert fam == current and fam not in done, "%s is not with its family" % name
            assert fam in helps, "%s has no HELP" % fam
            key = (name, frozenset(labels.items()))
            assert key not in self.samples, "series twice: %r" % line
            self.samples[key] = float(m.group(3))

    def get(self, name, **labels):
        return self.samples[(name, frozenset(labels.items()))]

    def series(self, name):
        """{frozenset(labels): value} of one name."""
        return {k[1]: v for k, v in self.samples.items() if k[0] == name}

    def by_queue(self, name, queue, vhost="/"):
        return self.get(name, vhost=vhost, queue=queue)


def promtool_problems(text):
    """promtool's complaints about one scrape (None: no promtool here)."""
    tool = shutil.which("promtool")
    if not tool:
        return None
    p = subprocess.run([tool, "check", "metrics"], input=text.encode(),
                       capture_output=True, timeout=30)
    out = (p.stdout + p.stderr).decode(errors="replace").strip()
    assert p.returncode == 0, "promtool check metrics failed:\n%s" % out
    return out.splitlines()


# ------------------------------------------------------------------ tests

def test_served_without_login_in_the_text_format(mb):
    for listener, port in mb.ports:
        for path in PATHS:
            status, headers, body = mb.get(path, port)  # no Authorization header
            assert status == 200, (listener, path, body)
            assert headers["content-type"] == CONTENT_TYPE, (listener, path)
            assert re.search(r"^# TYPE rabbitmq_connections gauge$", body, re.M)
            assert re.search(r"^# HELP rabbitmq_connections ", body, re.M)
            Metrics(body)
            status, headers, body = mb.get(path, port, method="HEAD")
            assert status == 200 and body == "" and headers["content-type"] == CONTENT_TYPE
    # Only the metrics go without login; the rest stays as it was.
    assert mb.get("/metricsooops")[0] == 404
    assert mb.get("/api/overview")[0] == 404      # the Prometheus listener has no API
    assert mb.get("/api/overview", mb.mgmt_port)[0] == 401
    assert mb.get("/metrics", mb.mgmt_port, method="POST")[0] == 405


def test_aggregated_metrics_have_no_object_labels(mb, conn):
    ch = conn.channel()
    q = unique("metrics-agg")
    ch.queue_declare(q, auto_delete=True)
    m = mb.metrics("/metrics")
    assert q not in m.text
    for name in ("rabbitmq_queue_messages_ready", "rabbitmq_queue_consumers",
                 "rabbitmq_channel_consumers", "rabbitmq_connection_incoming_bytes_total",
                 "rabbitmq_channel_messages_published_total", "rabbitmq_connections",
                 "rabbitmq_queues"):
        assert list(m.series(name)) == [frozenset()], name
    assert m.get("rabbitmq_connections") == 1
    assert m.get("rabbitmq_channels") == 1
    po = mb.metrics("/metrics/per-object")
    assert po.by_queue("rabbitmq_queue_messages_ready", q) == 0
    assert po.get("rabbitmq_connections") == 1  # totals stay unlabelled


def test_traffic_counts_exactly(mb):
    before = mb.metrics("/metrics")
    conn = pika.BlockingConnection(mb.b.params())
    ch = conn.channel()
    ch.confirm_delivery()
    x, q, empty = unique("metrics-x"), unique("metrics-q"), unique("metrics-empty")
    ch.exchange_declare(x, "direct", auto_delete=True)
    ch.queue_declare(q)
    ch.queue_declare(empty)
    ch.queue_declare(q)  # a redeclare: declared, not created
    ch.queue_bind(q, x, "k")
    n, body = 10, b"m" * 100
    for _ in range(n):
        ch.basic_publish(x, "k", body)
    with pytest.raises(pe.UnroutableError):
        ch.basic_publish(x, "nowhere", b"returned", mandatory=True)
    ch.basic_publish(x, "nowhere", b"dropped")

    # One basic.get with manual ack, acked; one on an empty queue.
    method, _, got = ch.basic_get(q, auto_ack=False)
    assert got == body
    ch.basic_ack(method.delivery_tag)
    assert ch.basic_get(empty, auto_ack=False) == (None, None, None)

    # Three deliveries to a consumer, held unacked (prefetch 3 stops more).
    ch.basic_qos(prefetch_count=3)
    tags = []
    ctag = ch.basic_consume(q, lambda c, m, p, b: tags.append(m.delivery_tag))
    wait_for(lambda: conn.process_data_events(time_limit=0.05) or len(tags) == 3,
             what="three deliveries")
    mid = mb.metrics("/metrics/per-object")
    assert mid.by_queue("rabbitmq_queue_messages_ready", q) == n - 4
    assert mid.by_queue("rabbitmq_queue_messages_unacked", q) == 3
    assert mid.by_queue("rabbitmq_queue_messages", q) == n - 1
    assert mid.by_queue("rabbitmq_queue_consumers", q) == 1
    assert mid.by_queue("rabbitmq_queue_messages_ready_bytes", q) == (n - 4) * len(body)
    assert list(mid.series("rabbitmq_channel_messages_unacked").values()) == [3]
    assert list(mid.series("rabbitmq_channel_consumers").values()) == [1]
    assert list(mid.series("rabbitmq_consumer_prefetch").values()) == [3]
    assert list(mid.series("rabbitmq_connection_channels").values()) == [1]
    assert mid.get("rabbitmq_consumers") == 1
    assert mid.get("rabbitmq_global_consumers", **AMQP091) == 1
    assert mid.get("rabbitmq_global_publishers", **AMQP091) == 1
    [conn_label] = mid.series("rabbitmq_connection_incoming_bytes_total")
    assert dict(conn_label)["channel"].count(" -> ") == 1  # RabbitMQ's label for connections
    assert mid.get("rabbitmq_connection_incoming_bytes_total", **dict(conn_label)) > 0

    ch.basic_cancel(ctag)
    for t in tags:
        ch.basic_ack(t)
    ch.queue_declare(q, passive=True)  # a round trip: the acks are in
    ch.queue_delete(empty)

    po = mb.metrics("/metrics/per-object")
    assert po.by_queue("rabbitmq_queue_messages_ready", q) == n - 4
    assert po.by_queue("rabbitmq_queue_messages_unacked", q) == 0
    assert po.by_queue("rabbitmq_queue_messages", q) == n - 4
    assert po.by_queue("rabbitmq_queue_consumers", q) == 0
    assert po.by_queue("rabbitmq_queue_messages_published_total", q) == n
    assert po.by_queue("rabbitmq_channel_get_ack_total", q) == 1
    assert po.by_queue("rabbitmq_channel_get_total", q) == 0
    assert po.by_queue("rabbitmq_channel_messages_delivered_ack_total", q) == 3
    assert po.by_queue("rabbitmq_channel_messages_delivered_total", q) == 0
    assert po.by_queue("rabbitmq_channel_messages_acked_total", q) == 4
    assert po.by_queue("rabbitmq_channel_messages_redelivered_total", q) == 0
    assert po.get("rabbitmq_channel_messages_published_total", vhost="/", exchange=x) == n + 2
    assert (frozenset({("vhost", "/"), ("queue", empty)})
            not in po.series("rabbitmq_queue_messages_ready"))

    after = mb.metrics("/metrics")

    def delta(name, **labels):
        return after.get(name, **labels) - before.get(name, **labels)

    assert delta("rabbitmq_global_messages_received_total", **AMQP091) == n + 2
    assert delta("rabbitmq_global_messages_routed_total", **AMQP091) == n
    assert delta("rabbitmq_global_messages_unroutable_returned_total", **AMQP091) == 1
    assert delta("rabbitmq_global_messages_unroutable_dropped_total", **AMQP091) == 1
    assert delta("rabbitmq_global_messages_confirmed_total", **AMQP091) == n + 2
    assert delta("rabbitmq_global_messages_delivered_total", **CLASSIC) == 4
    assert delta("rabbitmq_global_messages_delivered_get_manual_ack_total", **CLASSIC) == 1
    assert delta("rabbitmq_global_messages_delivered_get_auto_ack_total", **CLASSIC) == 0
    assert delta("rabbitmq_global_messages_delivered_consume_manual_ack_total", **CLASSIC) == 3
    assert delta("rabbitmq_global_messages_delivered_consume_auto_ack_total", **CLASSIC) == 0
    assert delta("rabbitmq_global_messages_get_empty_total", **CLASSIC) == 1
    assert delta("rabbitmq_global_messages_acknowledged_total", **CLASSIC) == 4
    assert delta("rabbitmq_global_messages_redelivered_total", **CLASSIC) == 0
    assert delta("rabbitmq_queues_declared_total") == 3
    assert delta("rabbitmq_queues_created_total") == 2
    assert delta("rabbitmq_queues_deleted_total") == 1
    assert delta("rabbitmq_queues") == 1
    assert delta("rabbitmq_channels_opened_total") == 1
    assert after.get("rabbitmq_queue_messages_ready") >= n - 4

    # Churn: this connection and its channel, once closed and freed.
    ch.queue_delete(q)
    conn.close()
    end = wait_for(lambda: (lambda m: m if m.get("rabbitmq_connections") == 0 else None)(
        mb.metrics()), what="the connection to be freed")
    assert end.get("rabbitmq_connections_opened_total") - \
        before.get("rabbitmq_connections_opened_total") == 1
    assert end.get("rabbitmq_connections_closed_total") - \
        before.get("rabbitmq_connections_closed_total") == 1
    assert end.get("rabbitmq_channels_closed_total") - \
        before.get("rabbitmq_channels_closed_total") == 1
    assert end.get("rabbitmq_channels") == 0


def test_redelivered_and_auto_ack_counts(mb, conn):
    ch = conn.channel()
    q = unique("metrics-redeliver")
    ch.queue_declare(q, auto_delete=True)
    for i in range(3):
        ch.basic_publish("", q, b"%d" % i)
    before = mb.metrics("/metrics")
    method, _, _ = ch.basic_get(q, auto_ack=False)
    ch.basic_nack(method.delivery_tag, requeue=True)
    method, _, _ = ch.basic_get(q, auto_ack=True)   # the requeued one, redelivered
    assert method.redelivered
    got = []
    ch.basic_consume(q, lambda c, m, p, b: got.append(b), auto_ack=True)
    wait_for(lambda: conn.process_data_events(time_limit=0.05) or len(got) == 2)
    after = mb.metrics("/metrics")

    def delta(name):
        return after.get(name, **CLASSIC) - before.get(name, **CLASSIC)

    assert delta("rabbitmq_global_messages_delivered_total") == 4
    assert delta("rabbitmq_global_messages_delivered_get_manual_ack_total") == 1
    assert delta("rabbitmq_global_messages_delivered_get_auto_ack_total") == 1
    assert delta("rabbitmq_global_messages_delivered_consume_auto_ack_total") == 2
    assert delta("rabbitmq_global_messages_redelivered_total") == 1
    assert delta("rabbitmq_global_messages_acknowledged_total") == 0
    po = mb.metrics("/metrics/per-object")
    assert po.by_queue("rabbitmq_channel_get_total", q) == 1
    assert po.by_queue("rabbitmq_channel_messages_delivered_total", q) == 2
    assert po.by_queue("rabbitmq_channel_messages_redelivered_total", q) == 1


WEIRD = 'q "quoted" back\\slash\nnew line é ✓'


def test_label_values_are_escaped(mb, conn):
    ch = conn.channel()
    q = WEIRD + unique("")
    ch.queue_declare(q, auto_delete=True)
    ch.basic_publish("", q, b"x")
    ch.queue_declare(q, passive=True)
    body = mb.scrape("/metrics/per-object")
    escaped = q.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    assert 'rabbitmq_queue_messages_ready{vhost="/",queue="%s"} 1\n' % escaped in body
    m = Metrics(body)
    assert m.by_queue("rabbitmq_queue_messages_ready", q) == 1
    ch.queue_delete(q)


def test_names_that_are_not_utf8(mb):
    # AMQP names are any bytes; the format wants UTF-8: U+FFFD stands in.
    from support.amqpraw import RawConnection
    name = b"raw-\xff\xfe-\xc3-\xed\xa0\x80-" + unique("").encode()
    with RawConnection("127.0.0.1", mb.b.port) as c:
        c.handshake()
        c.open_channel()
        c.declare_queue(name)
        text = mb.scrape("/metrics/per-object")
        m = Metrics(text)
        # Python's decoder replaces the same maximal bad subsequences.
        shown = name.decode("utf-8", errors="replace")
        assert shown.startswith("raw-\ufffd\ufffd-\ufffd-\ufffd\ufffd\ufffd-")
        assert m.by_queue("rabbitmq_queue_messages_ready", shown) == 0
        if shutil.which("promtool"):
            assert promtool_problems(text) == []


def test_promtool_accepts_both_outputs(mb, conn):
    ch = conn.channel()
    q = WEIRD + unique("")
    ch.queue_declare(q, auto_delete=True)
    ch.basic_publish("", q, b"x")
    ch.basic_consume(q, lambda *a: None)
    conn.process_data_events(time_limit=0.1)
    checked = {}
    for listener, port in mb.ports:
        for path in PATHS:
            text = mb.scrape(path, port)
            Metrics(text)
            checked[(listener, path)] = promtool_problems(text)
    if any(v is None for v in checked.values()):
        pytest.skip("promtool not installed (Debian package prometheus); "
                    "the format's structure was checked without it")
    # No lint findings at all: RabbitMQ's names cause none either.
    assert all(v == [] for v in checked.values()), checked


def test_tern_families(mb, conn):
    ch = conn.channel()
    m0 = mb.metrics()
    assert m0.get("tern_memory_budget_bytes") == 256 * 1024 * 1024
    assert m0.types["tern_store_commit_duration_seconds"] == "histogram"
    assert m0.types["tern_store_commits_total"] == "counter"

    # A durable queue and persistent messages: store commits.
    q = unique("metrics-durable")
    ch.queue_declare(q, durable=True)
    ch.confirm_delivery()
    for _ in range(5):
        ch.basic_publish("", q, b"p" * 1000, pika.BasicProperties(delivery_mode=2))
    m1 = mb.metrics()
    assert m1.get("tern_store_commits_total") > m0.get("tern_store_commits_total")
    assert m1.get("tern_store_commit_seconds_total") > m0.get("tern_store_commit_seconds_total")
    assert m1.get("tern_message_bytes") >= 5000
    buckets = sorted((float(dict(k)["le"]), v)
                     for k, v in m1.series("tern_store_commit_duration_seconds_bucket").items())
    assert buckets[-1][0] == float("inf")
    assert [v for _, v in buckets] == sorted(v for _, v in buckets)  # cumulative
    count = m1.get("tern_store_commit_duration_seconds_count")
    assert buckets[-1][1] == count == m1.get("tern_store_commits_total")
    assert m1.get("tern_store_commit_duration_seconds_sum") == \
        pytest.approx(m1.get("tern_store_commit_seconds_total"), abs=1e-6)
    ch.queue_delete(q)

    # Delayed messages: counted while they wait, gone once they fire.
    x, target = unique("metrics-delayed"), unique("metrics-delayed-q")
    ch.exchange_declare(x, "x-delayed-message", durable=True,
                        arguments={"x-delayed-type": "direct"})
    ch.queue_declare(target, durable=True)
    ch.queue_bind(target, x, "k")
    waiting = mb.metrics().get("tern_delayed_messages")
    ch.basic_publish(x, "k", b"later", pika.BasicProperties(headers={"x-delay": 600000}))
    ch.basic_publish(x, "k", b"soon", pika.BasicProperties(headers={"x-delay": 300}))
    assert mb.metrics().get("tern_delayed_messages") == waiting + 2
    wait_for(lambda: ch.queue_declare(target, passive=True).method.message_count == 1,
             what="the short delay to fire")
    assert mb.metrics().get("tern_delayed_messages") == waiting + 1


def test_delayed_count_survives_a_restart(mb):
    before = mb.metrics().get("tern_delayed_messages")
    assert before >= 1  # the 10-minute one of test_tern_families
    mb.b.restart()
    wait_for(lambda: port_answers(mb.prom_port), what="the listener after the restart")
    assert mb.metrics().get("tern_delayed_messages") == before


@pytest.mark.time_limit(60)
def test_metrics_answer_under_amqp_load(mb):
    q = unique("metrics-load")
    setup = pika.BlockingConnection(mb.b.params())
    setup.channel().queue_declare(q, auto_delete=False)
    stop = threading.Event()
    errors = []

    def publisher():
        try:
            c = pika.BlockingConnection(mb.b.params())
            ch = c.channel()
            while not stop.is_set():
                for _ in range(200):
                    ch.basic_publish("", q, b"L" * 256)
                c.process_data_events(time_limit=0)
            c.close()
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    def consumer():
        try:
            c = pika.BlockingConnection(mb.b.params())
            ch = c.channel()
            ch.basic_qos(prefetch_count=500)
            ch.basic_consume(q, lambda chan, m, p, b: chan.basic_ack(m.delivery_tag))
            while not stop.is_set():
                c.process_data_events(time_limit=0.1)
            c.close()
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=f) for f in (publisher, publisher, consumer)]
    for t in threads:
        t.start()
    try:
        wait_for(lambda: mb.metrics("/metrics/per-object").by_queue(
            "rabbitmq_queue_messages_published_total", q) > 1000,
            timeout=20, what="the load to start")
        received, slowest = [], 0.0
        for i in range(20):
            port = mb.prom_port if i % 2 else mb.mgmt_port
            path = PATHS[i % 4 // 2]
            t0 = time.monotonic()
            m = mb.metrics(path, port)
            slowest = max(slowest, time.monotonic() - t0)
            received.append(m.get("rabbitmq_global_messages_received_total", **AMQP091))
            time.sleep(0.05)
        assert received == sorted(received) and received[-1] > received[0], received
        assert slowest < 5.0, "a scrape took %.1f s under load" % slowest
    finally:
        stop.set()
        for t in threads:
            t.join(15)
    assert not errors, errors
    setup.channel().queue_delete(q)
    setup.close()


def test_prometheus_options_in_the_config_file():
    port = free_port()
    m = MetricsBroker.__new__(MetricsBroker)
    m.b = Broker(None)
    m.prom_port, m.mgmt_port = port, None
    m.b.start(config_lines=["prometheus.tcp.port = %d" % port,
                            "prometheus.tcp.ip = 127.0.0.1",
                            "prometheus.return_per_object_metrics = true"])
    try:
        wait_for(lambda: port_answers(port), what="prometheus.tcp.port")
        assert m.get("/metrics")[1]["content-type"] == CONTENT_TYPE
        assert "'prometheus.return_per_object_metrics' is a RabbitMQ setting Tern does not " \
            "implement; ignored" in m.b.log_text()
    finally:
        m.stop()
