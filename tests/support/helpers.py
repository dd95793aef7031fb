"""Small helpers shared by the integration tests (pika BlockingConnection)."""
import contextlib
import time

import pika
import pika.exceptions as pe


def sync(ch):
    """A cheap synchronous round trip on ch: surfaces an asynchronous
    channel.close the broker sent after a basic.publish (which has no reply)."""
    ch.exchange_declare("amq.direct", passive=True)


@contextlib.contextmanager
def channel_error(code, prefix=None):
    """Expect the broker to close the channel with `code` (and a reply text
    starting with `prefix`, RabbitMQ style "NOT_FOUND - ...")."""
    with _expect(pe.ChannelClosedByBroker, code, prefix) as info:
        yield info


@contextlib.contextmanager
def connection_error(code, prefix=None):
    with _expect(pe.ConnectionClosedByBroker, code, prefix) as info:
        yield info


class _Info:
    code = None
    text = None


@contextlib.contextmanager
def _expect(exc_type, code, prefix):
    info = _Info()
    try:
        yield info
    except exc_type as e:
        info.code, info.text = e.reply_code, e.reply_text
        assert e.reply_code == code, "expected %d, got %d %r" % (code, e.reply_code, e.reply_text)
        if prefix is not None:
            assert e.reply_text.startswith(prefix), \
                "reply text %r does not start with %r" % (e.reply_text, prefix)
        return
    raise AssertionError("expected %s %d, but the operation succeeded"
                         % (exc_type.__name__, code))


def get(ch, queue, auto_ack=True):
    """basic.get returning (method, properties, body); method None when empty."""
    return ch.basic_get(queue, auto_ack=auto_ack)


def get_body(ch, queue, auto_ack=True):
    m, _, body = ch.basic_get(queue, auto_ack=auto_ack)
    return None if m is None else body


def drain(ch, queue):
    """All bodies currently in queue, via basic.get (auto-ack)."""
    out = []
    while True:
        m, _, body = ch.basic_get(queue, auto_ack=True)
        if m is None:
            return out
        out.append(body)


def wait_for(predicate, conn=None, timeout=5.0, step=0.02):
    """Poll predicate (pumping conn's I/O) until true or timeout; returns its
    last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = predicate()
        if v or time.monotonic() >= deadline:
            return v
        if conn is not None:
            conn.process_data_events(time_limit=step)
        else:
            time.sleep(step)


def collect(conn, ch, queue, n, timeout=5.0, auto_ack=True, **kw):
    """Consume until n deliveries arrived (or timeout); returns the list of
    (method, properties, body) and leaves the consumer cancelled."""
    got = []

    def on_msg(c, m, p, b):
        got.append((m, p, b))

    tag = ch.basic_consume(queue, on_msg, auto_ack=auto_ack, **kw)
    wait_for(lambda: len(got) >= n, conn, timeout)
    ch.basic_cancel(tag)
    return got


def publish(ch, queue_or_key, body, exchange="", **props):
    ch.basic_publish(exchange, queue_or_key, body,
                     pika.BasicProperties(**props) if props else None)


def queue_counts(ch, queue):
    ok = ch.queue_declare(queue, passive=True).method
    return ok.message_count, ok.consumer_count


def wait_message_count(ch, conn, queue, n, timeout=5.0):
    """Wait until the queue holds n messages (publishes are asynchronous)."""
    return wait_for(lambda: queue_counts(ch, queue)[0] == n, conn, timeout)


class Collector:
    """Records deliveries of one or more consumers: (tag, method, props, body)."""

    def __init__(self):
        self.items = []

    def cb(self, name=None):
        def on_msg(ch, m, p, b):
            self.items.append((name if name is not None else m.consumer_tag, m, p, b))
        return on_msg

    def bodies(self, name=None):
        return [b for n, _, _, b in self.items if name is None or n == name]

    def methods(self, name=None):
        return [m for n, m, _, _ in self.items if name is None or n == name]

    def __len__(self):
        return len(self.items)


def pump(conns, until, timeout=5.0, step=0.02):
    """Run I/O of all conns until until() is true or timeout; returns until()."""
    if not isinstance(conns, (list, tuple)):
        conns = [conns]
    deadline = time.monotonic() + timeout
    while not until():
        if time.monotonic() >= deadline:
            break
        for c in conns:
            c.process_data_events(time_limit=step / len(conns))
    return until()


def settle(conns, seconds=0.3):
    """Let I/O run for a short, fixed time (to check that NOTHING more
    arrives, e.g. beyond a prefetch limit)."""
    if not isinstance(conns, (list, tuple)):
        conns = [conns]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for c in conns:
            c.process_data_events(time_limit=0.02)


def proc_status_kb(pid, field):
    """A kB figure of /proc/PID/status (VmRSS, VmSize, ...)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError("no %s for pid %d" % (field, pid))
