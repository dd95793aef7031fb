"""tools/loadgen_c (build/loadgen_c/loadgen-c, `make loadgen-c`; skipped
when it is not built) end to end, on 1 s scenarios: every message it
publishes is confirmed and, in S2 and S3, delivered, and its queue is gone
afterwards. Never a timing test: no rate or latency is asserted.

The generator's own counting is checked through a small proxy between it
and the broker that tampers with the broker's basic.ack frames: dropped
(it must give up after -wait seconds and exit 1, not hang or report
success), each sent again for its tag alone (a tag confirmed twice counts
once), and turned
into basic.nack (counted as nacked, multiple taken into account).

Checked against RabbitMQ 3.10.8 on this machine too
(BROKER_URL=amqp://guest:guest@127.0.0.1:5672/): the same tests pass, and
its login failure is "login: the server closed the connection: 403
ACCESS_REFUSED - ...". The binary is $LOADGEN_C or build/loadgen_c/loadgen-c."""
import json
import os
import socket
import struct
import subprocess
import threading
import time
import urllib.parse

import pika
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LOADGEN_C = os.environ.get("LOADGEN_C") or os.path.join(REPO, "build/loadgen_c/loadgen-c")

pytestmark = pytest.mark.skipif(
    not os.path.exists(LOADGEN_C),
    reason="%s not built: `make loadgen-c` builds it (with librabbitmq-dev)" % LOADGEN_C)

WAIT = 3  # -wait: the generator's bound on any one wait for the broker


def loadgen(uri, scenarios, *args, timeout=90):
    """Runs loadgen-c for 1 s a scenario; (CompletedProcess, JSON lines)."""
    p = subprocess.run([LOADGEN_C, "-uri", uri, "-scenarios", scenarios, "-seconds", "1",
                        "-wait", str(WAIT), *args],
                       capture_output=True, text=True, timeout=timeout)
    return p, [json.loads(l) for l in p.stdout.splitlines() if l.startswith("{")]


def assert_queue_gone(broker, queue):
    c = broker.connect()
    try:
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as ei:
            c.channel().queue_declare(queue, passive=True)
        assert ei.value.reply_code == 404, ei.value
    finally:
        if c.is_open:
            c.close()


def delete_queue(broker, queue):
    c = broker.connect()
    try:
        c.channel().queue_delete(queue)
    finally:
        c.close()


@pytest.mark.time_limit(120)
def test_scenarios_confirm_and_deliver_everything(broker):
    p, rows = loadgen(broker.url, "S2,S3,S3k")
    assert p.returncode == 0, "exit %d: %s" % (p.returncode, p.stderr[-800:])
    assert [r["scenario"] for r in rows] == ["S2", "S3", "S3k"], p.stdout
    for r in rows:
        assert r["published"] > 0, r
        assert r["confirmed"] == r["published"] and r["nacked"] == 0, r
        assert r["server"], r
        lat = r["confirm_latency_ms"]
        assert 0 < lat["p50"] <= lat["p99"] <= lat["p999"] <= lat["max"], r
        assert r["confirmed_per_s"] > 0 and r["loadgen_cpu_pct"] > 0, r
        assert r["publisher_cpu_pct"] > 0, r
        if r["scenario"] == "S3k":
            assert "delivered" not in r and "consumer_cpu_pct" not in r, r
        else:
            assert r["delivered"] == r["published"] and r["consumer_cpu_pct"] > 0, r
        assert_queue_gone(broker, "loadgen-c-" + r["scenario"])


@pytest.mark.time_limit(60)
def test_without_batch(broker):
    p, rows = loadgen(broker.url, "S2", "-batch=false")
    assert p.returncode == 0, p.stderr[-800:]
    assert len(rows) == 1 and rows[0]["batch"] is False, p.stdout
    r = rows[0]
    assert r["published"] > 0 and r["confirmed"] == r["published"] == r["delivered"], r


def test_bad_login_names_the_step_and_the_reply(broker):
    u = urllib.parse.urlsplit(broker.url)
    uri = "amqp://nosuchuser:wrong@%s:%d%s" % (u.hostname, u.port, u.path)
    p, rows = loadgen(uri, "S3k", timeout=30)
    assert p.returncode == 1 and not rows, (p.returncode, p.stdout)
    assert "loadgen-c: login:" in p.stderr and "ACCESS_REFUSED" in p.stderr, p.stderr


def test_bad_arguments_fail_before_connecting():
    # Port 1 on loopback: nothing listens; a scenario typo must fail first.
    p, _ = loadgen("amqp://guest:guest@127.0.0.1:1/", "S3,S9", timeout=30)
    assert p.returncode == 1 and 'unknown scenario "S9"' in p.stderr, p.stderr
    p, _ = loadgen("amqp://guest:guest@127.0.0.1:1/", "S3", timeout=30)
    assert p.returncode == 1 and "loadgen-c: connect 127.0.0.1:1:" in p.stderr, p.stderr
    p, _ = loadgen("http://x/", "S3", timeout=30)
    assert p.returncode == 1 and "-uri http://x/" in p.stderr, p.stderr


# --- a proxy that tampers with the broker's confirms ----------------------

BASIC_ACK = struct.pack(">HH", 60, 80)
BASIC_NACK = struct.pack(">HH", 60, 120)


class ConfirmProxy:
    """Listens on a free loopback port and relays each connection to the
    broker; frames from the broker that are basic.ack go through
    mode: "drop" (never), "twice" (then again for its tag alone, without
    multiple), "nack" (as basic.nack: the
    same fields, delivery tag and multiple, plus requeue=0 in the same
    octet)."""

    def __init__(self, host, port, mode):
        self.upstream, self.mode = (host, port), mode
        self.acks = 0
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            s = socket.create_connection(self.upstream)
            threading.Thread(target=self._pipe, args=(c, s), daemon=True).start()
            threading.Thread(target=self._frames, args=(s, c), daemon=True).start()

    @staticmethod
    def _pipe(src, dst):
        try:
            while True:
                b = src.recv(65536)
                if not b:
                    break
                dst.sendall(b)
        except OSError:
            pass
        ConfirmProxy._hang_up(src, dst)

    def _frames(self, src, dst):
        """Broker to client, a frame at a time (the broker speaks first
        with connection.start, no protocol header)."""
        buf = b""
        try:
            while True:
                b = src.recv(65536)
                if not b:
                    break
                buf += b
                out = []
                while len(buf) >= 8:
                    size = struct.unpack(">I", buf[3:7])[0]
                    if len(buf) < 8 + size:
                        break
                    frame, buf = buf[:8 + size], buf[8 + size:]
                    if frame[0] == 1 and frame[7:11] == BASIC_ACK:
                        self.acks += 1
                        if self.mode == "drop":
                            continue
                        if self.mode == "twice":
                            # The copy for the one tag alone (multiple
                            # cleared): the frame's bits octet is byte 19.
                            out.append(frame)
                            frame = frame[:19] + bytes([frame[19] & ~1]) + frame[20:]
                        if self.mode == "nack":
                            frame = frame[:7] + BASIC_NACK + frame[11:]
                    out.append(frame)
                dst.sendall(b"".join(out))
        except OSError:
            pass
        ConfirmProxy._hang_up(src, dst)

    @staticmethod
    def _hang_up(*socks):
        for x in socks:
            try:
                x.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def uri(self, broker):
        u = urllib.parse.urlsplit(broker.url)
        return "amqp://%s@127.0.0.1:%d%s" % (u.netloc.rsplit("@", 1)[0], self.port, u.path)

    def close(self):
        self.sock.close()


@pytest.fixture
def proxy(broker):
    made = []

    def make(mode):
        p = ConfirmProxy(broker.host, broker.port, mode)
        made.append(p)
        return p
    yield make
    for p in made:
        p.close()


@pytest.mark.time_limit(60)
def test_dropped_confirms_fail_within_the_wait(broker, proxy):
    px = proxy("drop")
    t0 = time.monotonic()
    p, rows = loadgen(px.uri(broker), "S3k", timeout=45)
    took = time.monotonic() - t0
    assert p.returncode == 1 and not rows, (p.returncode, p.stdout, p.stderr)
    assert "no confirm for %d s (100 published, 0 confirmed)" % WAIT in p.stderr, p.stderr
    assert px.acks > 0, "the broker confirmed nothing: the proxy tested nothing"
    assert took < 1 + WAIT + 20, took
    delete_queue(broker, "loadgen-c-S3k")  # it gave up before deleting it


@pytest.mark.time_limit(60)
def test_confirms_seen_twice_count_once(broker, proxy):
    px = proxy("twice")
    p, rows = loadgen(px.uri(broker), "S2")
    assert p.returncode == 0, p.stderr[-800:]
    r = rows[0]
    assert px.acks > 0
    assert r["published"] > 0 and r["confirmed"] == r["published"] == r["delivered"], r
    assert r["nacked"] == 0, r
    assert_queue_gone(broker, "loadgen-c-S2")


@pytest.mark.time_limit(60)
def test_nacks_are_counted_as_nacked(broker, proxy):
    px = proxy("nack")
    p, rows = loadgen(px.uri(broker), "S3k")
    assert p.returncode == 0, p.stderr[-800:]
    r = rows[0]
    assert px.acks > 0
    # Every confirm arrived as a nack: none acked, all (multiple or not) nacked.
    assert r["published"] > 0 and r["nacked"] == r["published"] and r["confirmed"] == 0, r
    assert r["confirmed_per_s"] == 0, r
    assert_queue_gone(broker, "loadgen-c-S3k")
