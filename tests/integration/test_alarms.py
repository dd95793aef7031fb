"""Resource alarms: a memory watermark and a free-disk limit block publishing
connections, as RabbitMQ does (its alarms, memory, disk-alarms and
connection-blocked docs; rabbit_reader's throttle).

Each test starts a broker of its own, so an alarm never leaks into other
tests. The limits are changed at run time: for Tern by rewriting the config
file and sending SIGHUP; the memory watermark is derived from the RSS the
broker reports once started (it differs a lot between a plain and an ASan
build).

Checked against RabbitMQ 3.10.8 (a node of our own with the same
rabbitmq.conf lines, the limits changed with rabbitmqctl): run with
    BROKER_URL=amqp://guest:guest@127.0.0.1:PORT/ MGMT_URL=http://guest:guest@127.0.0.1:MPORT
    ALARMS_RABBITMQCTL="rabbitmqctl -n NODE" ALARMS_METRICS_URL=http://127.0.0.1:PPORT/metrics
(that node also had vm_memory_high_watermark_paging_ratio = 0.99: its classic
queues page even transient messages out from half the watermark on, so its
RSS may never reach a watermark this close to its baseline; Tern never pages
transient messages) and every test below runs there too, except the ones
marked tern_only. What
was checked there: a connection is "blocking" while an alarm is on and it
has not published, "blocked" from its first content frame (that publish is
not confirmed until the alarm clears: nothing more is read); connection.blocked
("low on memory" / "low on disk") goes only to clients with the
connection.blocked capability, connection.unblocked when the alarm clears;
consumers on other connections keep receiving; a blocked connection is not
closed for missed heartbeats, and is once it is read again; /api/nodes
mem_alarm / disk_free_alarm / mem_limit / disk_free_limit; the 503 body of
/api/health/checks/alarms and local-alarms ("disk space" before "memory");
the rabbitmq_alarms_* and *_limit_bytes metrics.
"""
import base64
import json
import os
import shlex
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import pika
import pytest

from support.amqpraw import FRAME_HEARTBEAT, RawConnection, ServerClosed
from support.broker import Broker, unique

RABBITMQCTL = os.environ.get("ALARMS_RABBITMQCTL")
EXTERNAL = bool(os.environ.get("BROKER_URL"))
MiB = 1024 * 1024
BIG = "1000000GB"          # more free disk than any machine has: the alarm goes off


class Reply:
    def __init__(self, status, body):
        self.status, self.body = status, body


class Api:
    """GETs on the management API (guest unless the URL names a user)."""

    def __init__(self, url):
        u = urllib.parse.urlparse(url)
        self.base = "%s://%s:%d" % (u.scheme, u.hostname, u.port)
        cred = "%s:%s" % (u.username or "guest", u.password or "guest")
        self.auth = "Basic " + base64.b64encode(cred.encode()).decode()

    def get(self, path):
        req = urllib.request.Request(self.base + path, headers={"Authorization": self.auth})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return Reply(r.status, json.loads(r.read() or b"null"))
        except urllib.error.HTTPError as e:
            return Reply(e.code, json.loads(e.read() or b"null"))


class Node:
    """One broker under test and the knobs of its limits."""

    def __init__(self, config_lines):
        if EXTERNAL:
            if not RABBITMQCTL:
                pytest.skip("BROKER_URL is set but ALARMS_RABBITMQCTL is not")
            self.b = Broker(url=os.environ["BROKER_URL"])
            self.metrics_url = os.environ.get("ALARMS_METRICS_URL")
            for line in config_lines:
                key, value = (x.strip() for x in line.split("=", 1))
                self.set(key, value)
        else:
            self.b = Broker()
            self.lines = list(config_lines)
            self.b.start(config_lines=self.lines)
            self.metrics_url = self.b.mgmt_url + "/metrics"
        self.api = Api(self.b.mgmt_url)
        self.queues = []

    def ctl(self, *args):
        subprocess.run(shlex.split(RABBITMQCTL) + list(args), check=True,
                       capture_output=True, timeout=60)

    def set(self, key, value):
        """Sets one rabbitmq.conf key (Tern: file + SIGHUP; RabbitMQ:
        rabbitmqctl) and waits until /api/nodes shows the new limit."""
        if EXTERNAL:
            if key == "vm_memory_high_watermark.absolute":
                self.ctl("set_vm_memory_high_watermark", "absolute", str(value))
            elif key == "disk_free_limit.absolute":
                self.ctl("set_disk_free_limit", str(value))
            else:
                raise AssertionError(key)
        else:
            self.lines = [l for l in self.lines if not l.startswith(key + " ")]
            self.lines.append("%s = %s" % (key, value))
            with open(self.b.config_path, "w") as f:
                f.write("".join(l + "\n" for l in self.lines))
            self.b.proc.send_signal(signal.SIGHUP)

    def node(self):
        return self.api.get("/api/nodes").body[0]

    def wait_node(self, pred, what, timeout=15):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            n = self.node()
            if pred(n):
                return n
            time.sleep(0.2)
        raise AssertionError("node never showed %s: %r" % (what, {
            k: n.get(k) for k in ("mem_used", "mem_limit", "mem_alarm", "disk_free",
                                  "disk_free_limit", "disk_free_alarm")}))

    def conn_states(self):
        """{connection_name, or "port:N" for a client without one: state}"""
        return {c["client_properties"].get("connection_name", "port:%d" % c["peer_port"]):
                c.get("state") for c in self.api.get("/api/connections").body}

    def wait_state(self, name, state, timeout=15):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            s = self.conn_states().get(name)
            if s == state:
                return
            time.sleep(0.2)
        raise AssertionError("connection %s is %s, not %s" % (name, s, state))

    def metrics(self):
        if not self.metrics_url:
            return None
        with urllib.request.urlopen(self.metrics_url, timeout=10) as r:
            text = r.read().decode()
        out = {}
        for line in text.splitlines():
            if line and not line.startswith("#") and "{" not in line:
                k, v = line.split(" ", 1)
                out[k] = float(v)
        return out

    def stop(self):
        if not EXTERNAL:
            rc = self.b.stop()
            self.b.check_log()
            self.b.cleanup()
            assert rc in (0, -signal.SIGTERM), "exit status %s" % rc

    def params(self, name, **kw):
        return self.b.params(client_properties={"connection_name": name},
                             blocked_connection_timeout=None, **kw)


@pytest.fixture
def node():
    made = []

    def make(*lines):
        n = Node(lines)
        made.append(n)
        return n
    yield make
    for n in made:
        if EXTERNAL:   # leave RabbitMQ as it was
            n.ctl("set_vm_memory_high_watermark", "0.4")
            n.ctl("set_disk_free_limit", "50MB")
            for q in n.queues:
                n.ctl("delete_queue", q)
        n.stop()


class Publisher(threading.Thread):
    """Publishes with confirms on a pika SelectConnection of its own (so
    connection.blocked is seen the moment it arrives) until told to stop,
    keeping at most `window` unconfirmed. Bodies are `size` bytes starting
    with their number."""

    def __init__(self, node, queue, size, name="publisher", window=20, limit=None):
        super().__init__(daemon=True)
        self.node, self.queue, self.size, self.name_ = node, queue, size, name
        self.window, self.limit = window, limit
        self.seq = 0
        self.pending = set()
        self.confirmed, self.nacked = [], []
        self.events = []               # ("blocked", reason, n confirmed) / ("unblocked", ...)
        self.error = None
        self.stop_at = None            # publish until this many were sent
        self.ready = threading.Event()
        self.blocked = threading.Event()
        self.unblocked = threading.Event()
        self.done = threading.Event()

    def run(self):
        try:
            self.conn = pika.SelectConnection(
                self.node.params(self.name_, heartbeat=0), on_open_callback=self.on_open,
                on_open_error_callback=self.on_error,
                on_close_callback=lambda c, r: c.ioloop.stop())
            self.conn.ioloop.start()
        except Exception as e:   # noqa: BLE001 - reported by the test
            self.error = e
        finally:
            self.done.set()

    def on_error(self, conn, err):
        self.error = err
        conn.ioloop.stop()

    def on_open(self, conn):
        conn.add_on_connection_blocked_callback(self.on_blocked)
        conn.add_on_connection_unblocked_callback(self.on_unblocked)
        conn.channel(on_open_callback=self.on_channel)

    def on_blocked(self, conn, frame):
        self.events.append(("blocked", frame.method.reason, len(self.confirmed)))
        self.blocked.set()

    def on_unblocked(self, conn, frame):
        self.events.append(("unblocked", None, len(self.confirmed)))
        self.unblocked.set()

    def on_channel(self, ch):
        self.ch = ch
        ch.confirm_delivery(self.on_confirm, callback=lambda _: self.go())

    def go(self):
        self.ready.set()
        self.pump()

    def pump(self):
        if self.conn.is_closing or self.conn.is_closed:
            return
        if self.stop_at is not None and self.seq >= self.stop_at and not self.pending:
            self.conn.close()
            return
        while len(self.pending) < self.window and \
                (self.stop_at is None or self.seq < self.stop_at) and \
                (self.limit is None or self.seq < self.limit):
            self.seq += 1
            self.pending.add(self.seq)
            body = (b"%d:" % self.seq).ljust(self.size, b"x")
            self.ch.basic_publish("", self.queue, body)
        self.conn.ioloop.call_later(0.01, self.pump)

    def on_confirm(self, frame):
        m = frame.method
        out = self.confirmed if isinstance(m, pika.spec.Basic.Ack) else self.nacked
        tags = [t for t in self.pending if t <= m.delivery_tag] if m.multiple \
            else [m.delivery_tag]
        for t in sorted(tags):
            self.pending.discard(t)
            out.append(t)

    def finish(self, more=None, timeout=60):
        """Publishes `more` after what was sent (None: up to its limit),
        waits for every confirm, closes."""
        def stop():
            self.stop_at = self.limit if more is None else self.seq + more
        self.conn.ioloop.add_callback_threadsafe(stop)
        assert self.done.wait(timeout), "publisher did not finish (%d pending)" % len(
            self.pending)
        assert self.error is None, self.error


def drain(node, queue, expect_ids, timeout=60):
    """Consumes from queue on a connection of its own until every id in
    expect_ids came; returns the ids received."""
    conn = pika.BlockingConnection(node.params("drainer"))
    ch = conn.channel()
    ch.basic_qos(prefetch_count=50)
    got = set()
    deadline = time.monotonic() + timeout
    for m, p, body in ch.consume(queue, inactivity_timeout=1):
        if m is not None:
            got.add(int(body.split(b":", 1)[0]))
            ch.basic_ack(m.delivery_tag)
        if expect_ids <= got or time.monotonic() > deadline:
            break
    ch.cancel()
    conn.close()
    return got


class Drainer(threading.Thread):
    """Consumes and acks from queue on a connection of its own until
    until() has seen every id it waits for."""

    def __init__(self, node, queue):
        super().__init__(daemon=True)
        self.node, self.queue = node, queue
        self.got = set()
        self.want = None
        self.done = threading.Event()
        self.error = None

    def run(self):
        try:
            conn = pika.BlockingConnection(self.node.params("drainer"))
            ch = conn.channel()
            ch.basic_qos(prefetch_count=50)
            for m, p, body in ch.consume(self.queue, inactivity_timeout=0.5):
                if m is not None:
                    self.got.add(int(body.split(b":", 1)[0]))
                    ch.basic_ack(m.delivery_tag)
                if self.want is not None and self.want <= self.got:
                    break
            ch.cancel()
            conn.close()
        except Exception as e:   # noqa: BLE001 - reported by until()
            self.error = e
        finally:
            self.done.set()

    def until(self, want, timeout=60):
        self.want = set(want)
        self.done.wait(timeout)
        assert self.error is None, self.error
        lost = self.want - self.got
        assert not lost, "%d confirmed messages never delivered" % len(lost)
        return self.got


def declare(node, queue):
    conn = pika.BlockingConnection(node.params("declarer"))
    conn.channel().queue_declare(queue)
    conn.close()
    node.queues.append(queue)


# ------------------------------------------------------------------ memory

@pytest.mark.time_limit(150)
def test_memory_watermark_blocks_publisher_consumer_drains_unblocks(node):
    """Above the watermark the publishing connection gets connection.blocked
    and is not read; an idle one is "blocking"; a consumer on another
    connection drains the queue, memory drops below the watermark,
    connection.unblocked comes and every confirmed message was delivered."""
    n = node("vm_memory_high_watermark.absolute = 64GB")
    q = unique("alarm-mem")
    declare(n, q)
    idle = pika.BlockingConnection(n.params("idle"))
    base = n.node()["mem_used"]
    limit = base + 48 * MiB
    n.set("vm_memory_high_watermark.absolute", limit)
    n.wait_node(lambda x: x["mem_limit"] == limit and not x["mem_alarm"], "the new watermark")

    pub = Publisher(n, q, size=64 * 1024, limit=20000)   # 1.25 GB at most
    pub.start()
    assert pub.blocked.wait(90), "never blocked: %d confirmed, node %r" % (
        len(pub.confirmed), n.node())
    assert pub.events[0][:2] == ("blocked", "low on memory"), pub.events
    node_info = n.wait_node(lambda x: x["mem_alarm"], "mem_alarm")
    assert node_info["mem_limit"] == limit
    if not EXTERNAL:   # RabbitMQ samples mem_used apart from the alarm
        assert node_info["mem_used"] > limit
    n.wait_state("publisher", "blocked")
    n.wait_state("idle", "blocking")
    r = n.api.get("/api/health/checks/alarms")
    assert r.status == 503
    assert r.body["status"] == "failed"
    assert [a["resource"] for a in r.body["alarms"]] == ["memory"]
    m = n.metrics()
    if m is not None:
        assert m["rabbitmq_alarms_memory_used_watermark"] == 1
        assert m["rabbitmq_alarms_free_disk_space_watermark"] == 0
        assert m["rabbitmq_resident_memory_limit_bytes"] == limit
    # blocked: nothing more gets confirmed (RabbitMQ's VM may free memory
    # and clear the alarm by itself meanwhile; Tern's RSS stays up)
    stuck = len(pub.confirmed)
    time.sleep(2)
    if not EXTERNAL:
        assert not pub.unblocked.is_set()
    if not pub.unblocked.is_set():
        assert len(pub.confirmed) == stuck

    # a consumer drains on a connection of its own for the rest of the test
    # (the memory freed may leave the broker just under the watermark, and
    # the publishes after the unblock may then raise it again)
    sent = pub.seq
    drainer = Drainer(n, q)
    drainer.start()
    assert pub.unblocked.wait(60), "never unblocked after the drain: node %r" % n.node()
    pub.finish(more=10)
    got = drainer.until(set(pub.confirmed))
    kinds = [e[0] for e in pub.events]
    assert kinds[:2] == ["blocked", "unblocked"], pub.events
    assert kinds == ["blocked", "unblocked"] * (len(kinds) // 2), pub.events
    assert pub.nacked == []
    assert pub.seq > sent                      # it published again once unblocked
    assert set(pub.confirmed) == set(range(1, pub.seq + 1))
    lost = set(pub.confirmed) - got
    assert not lost, "%d confirmed messages never delivered" % len(lost)
    if not EXTERNAL:   # RabbitMQ's VM may keep what it grew to, for a while
        n.wait_node(lambda x: not x["mem_alarm"], "the alarm cleared")
        assert n.api.get("/api/health/checks/alarms").status == 200
    assert idle.is_open
    idle.close()
    if not EXTERNAL:   # RabbitMQ's wording, with the figures
        log = n.b.log_text()
        assert "vm_memory_high_watermark set. Memory used:" in log
        assert "allowed:%d" % limit in log
        assert "memory resource limit alarm set." in log
        assert "vm_memory_high_watermark clear. Memory used:" in log
        assert "memory resource limit alarm cleared" in log


# ------------------------------------------------------------------ disk

@pytest.mark.time_limit(90)
def test_disk_limit_blocks_publishers_at_once_consumer_keeps_receiving(node):
    """A disk_free_limit above the free space: the first publish blocks its
    connection (and stays unconfirmed), a consumer on another connection
    keeps receiving what was queued before; lowering the limit (SIGHUP)
    unblocks it and the publish goes through."""
    n = node()
    q = unique("alarm-disk")
    declare(n, q)
    before = Publisher(n, q, size=100, name="before", limit=50)
    before.start()
    before.ready.wait(10)
    before.finish()
    assert len(before.confirmed) == 50

    consumer = pika.BlockingConnection(n.params("consumer"))
    cch = consumer.channel()
    cch.basic_qos(prefetch_count=1)
    n.set("disk_free_limit.absolute", BIG)
    info = n.wait_node(lambda x: x["disk_free_alarm"], "disk_free_alarm")
    assert info["disk_free"] < info["disk_free_limit"] and not info["mem_alarm"]
    n.wait_state("consumer", "blocking")

    pub = Publisher(n, q, size=100, window=1)
    pub.start()
    assert pub.blocked.wait(20)
    assert pub.events == [("blocked", "low on disk", 0)], pub.events
    n.wait_state("publisher", "blocked")
    # the consumer drains what was there; the blocked publish is not among it
    got = []
    for m, p, body in cch.consume(q, inactivity_timeout=3):
        if m is None:
            break
        got.append(int(body.split(b":")[0]))
        cch.basic_ack(m.delivery_tag)
    cch.cancel()
    assert sorted(got) == list(range(1, 51))
    assert pub.confirmed == []
    r = n.api.get("/api/health/checks/local-alarms")
    assert r.status == 503
    assert r.body == {"status": "failed", "reason": "There are alarms in effect on the node",
                      "alarms": [{"node": n.node()["name"], "resource": "disk space"}]}
    m = n.metrics()
    if m is not None:
        assert m["rabbitmq_alarms_free_disk_space_watermark"] == 1
        assert m["rabbitmq_alarms_memory_used_watermark"] == 0
        assert m["rabbitmq_disk_space_available_limit_bytes"] == info["disk_free_limit"]

    n.set("disk_free_limit.absolute", "50MB")
    assert pub.unblocked.wait(20)
    n.wait_node(lambda x: not x["disk_free_alarm"] and x["disk_free_limit"] == 50000000,
                "the alarm cleared")
    pub.finish(more=5)
    assert [e[0] for e in pub.events] == ["blocked", "unblocked"]
    assert sorted(pub.confirmed) == list(range(1, pub.seq + 1))
    got2 = drain(n, q, set(pub.confirmed))
    assert got2 == set(pub.confirmed)
    n.wait_state("consumer", "running")
    consumer.close()


def raw_publisher(node, heartbeat=0):
    """A raw client without the connection.blocked capability."""
    r = RawConnection(node.b.host, node.b.port, timeout=5)
    r.handshake(node.b.user, node.b.password, node.b.vhost, heartbeat=heartbeat)
    r.open_channel(1)
    return r


def frames_for(r, seconds):
    """Frames the broker sends in the next seconds (heartbeats left out)."""
    out = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            f = r.read_frame(timeout=max(0.05, deadline - time.monotonic()))
        except socket.timeout:
            continue
        if f.type != FRAME_HEARTBEAT:
            out.append(f)
    return out


@pytest.mark.time_limit(90)
def test_client_without_capability_is_paused_silently(node):
    """No connection.blocked / unblocked for a client that did not ask for
    them: it is simply not read while blocked, and its publish goes through
    once the alarm clears."""
    n = node("disk_free_limit.absolute = %s" % BIG)
    q = unique("alarm-raw")
    declare(n, q)
    n.wait_node(lambda x: x["disk_free_alarm"], "disk_free_alarm")
    r = raw_publisher(n)
    raw_name = "port:%d" % r.sock.getsockname()[1]
    n.wait_state(raw_name, "blocking")
    r.publish(q, b"held")
    assert frames_for(r, 3) == []
    n.wait_state(raw_name, "blocked")
    look = pika.BlockingConnection(n.params("look"))
    assert look.channel().queue_declare(q, passive=True).method.message_count == 0
    n.set("disk_free_limit.absolute", "50MB")
    n.wait_node(lambda x: not x["disk_free_alarm"], "the alarm cleared")
    deadline = time.monotonic() + 10
    while look.channel().queue_declare(q, passive=True).method.message_count != 1:
        assert time.monotonic() < deadline, "the held publish never arrived"
        time.sleep(0.2)
    assert [f.method for f in frames_for(r, 1)] == []   # no connection.unblocked either
    look.close()
    r.close()


@pytest.mark.time_limit(90)
def test_blocked_connection_not_dropped_for_missed_heartbeats(node):
    """A blocked connection cannot be read, so its heartbeats are not
    checked (RabbitMQ pauses its heartbeat monitor); the broker keeps
    sending its own. Once read again, a silent client is dropped."""
    n = node("disk_free_limit.absolute = %s" % BIG)
    n.wait_node(lambda x: x["disk_free_alarm"], "disk_free_alarm")
    r = raw_publisher(n, heartbeat=1)
    raw_name = "port:%d" % r.sock.getsockname()[1]
    r.publish(unique("nowhere"), b"x")
    beats = 0
    deadline = time.monotonic() + 6          # six heartbeat intervals of silence
    while time.monotonic() < deadline:
        try:
            f = r.read_frame(timeout=0.5)
            beats += f.type == FRAME_HEARTBEAT
        except socket.timeout:
            pass
    assert beats >= 3
    n.wait_state(raw_name, "blocked")
    n.set("disk_free_limit.absolute", "50MB")
    with pytest.raises(ServerClosed):
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                r.read_frame(timeout=0.5)
            except socket.timeout:
                pass
    r.close()


# ------------------------------------------------------------------ configuration

@pytest.mark.tern_only
def test_limits_from_config_with_units(node):
    """RabbitMQ's keys and units: .absolute sizes (MB powers of 10, MiB of
    2), .relative multiples of total_memory_available_override_value; the
    relative key wins when both are set, as in RabbitMQ's schema."""
    n = node("total_memory_available_override_value = 4GiB",
             "vm_memory_high_watermark.absolute = 1024MiB",
             "disk_free_limit.relative = 0.5")
    info = n.node()
    assert info["mem_limit"] == 1024 * MiB
    assert info["disk_free_limit"] == 2 * 1024 * MiB
    m = n.metrics()
    assert m["rabbitmq_resident_memory_limit_bytes"] == 1024 * MiB
    assert m["rabbitmq_disk_space_available_limit_bytes"] == 2 * 1024 * MiB
    # paging of durable queues: the lower of memory_budget (256 MiB) and
    # half the watermark
    assert m["tern_memory_budget_bytes"] == 256 * MiB
    n.set("vm_memory_high_watermark.relative", "0.375")    # wins over .absolute
    n.wait_node(lambda x: x["mem_limit"] == 1536 * MiB, "1.5 GiB")
    n.set("vm_memory_high_watermark.absolute", "3GB")
    n.set("disk_free_limit.absolute", "96MB")               # .relative still wins
    time.sleep(1.5)
    assert n.node()["mem_limit"] == 1536 * MiB
    assert n.node()["disk_free_limit"] == 2 * 1024 * MiB
    n.set("vm_memory_high_watermark.relative", "0.0625")   # 256 MiB
    n.wait_node(lambda x: x["mem_limit"] == 256 * MiB, "256 MiB")
    assert n.metrics()["tern_memory_budget_bytes"] == 128 * MiB
    assert "Memory high watermark set to 256 MiB (268435456 bytes) of 4096 MiB" in \
        n.b.log_text()
    # a key left out of the file on reload is back at its default
    n.lines = ["vm_memory_high_watermark.absolute = 96MB"]
    n.set("disk_free_limit.absolute", "50MB")
    n.wait_node(lambda x: x["mem_limit"] == 96000000, "96MB")
    assert n.node()["disk_free_limit"] == 50000000


@pytest.mark.tern_only
def test_bad_limit_refused_on_reload_and_kept(node):
    """A bad size on SIGHUP is refused whole, naming file and line; the old
    limits stay."""
    n = node("disk_free_limit.absolute = 2GB")
    assert n.node()["disk_free_limit"] == 2000000000
    n.lines.append("vm_memory_high_watermark.absolute = 12XB")
    n.set("disk_free_limit.absolute", "3GB")
    deadline = time.monotonic() + 10
    while "12XB" not in n.b.log_text():
        assert time.monotonic() < deadline
        time.sleep(0.1)
    log = n.b.log_text()
    assert "tern.conf:1: vm_memory_high_watermark.absolute: '12XB' is not a size" in log
    assert "config refused, nothing applied" in log
    time.sleep(1.2)
    assert n.node()["disk_free_limit"] == 2000000000


@pytest.mark.tern_only
def test_bad_limit_stops_start(tmp_path):
    b = Broker()
    try:
        with pytest.raises(Exception) as e:
            b.start(config_lines=["vm_memory_high_watermark.relative = 0.4x"])
        assert "vm_memory_high_watermark.relative: '0.4x' is not a decimal number" in str(e.value)
    finally:
        b._kill()
        b.cleanup()
