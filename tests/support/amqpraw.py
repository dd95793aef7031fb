"""Byte-level AMQP 0-9-1 client for tests/raw: encode a few frames and
methods by hand, send arbitrary bytes, and read what the server answers
(in particular its connection.close / channel.close and reply code).

Only what the raw tests need is here; it is deliberately independent of any
AMQP client library so that malformed input can be produced freely.
"""
import socket
import struct
import time

PROTOCOL_HEADER = b"AMQP\x00\x00\x09\x01"
FRAME_END = b"\xce"

FRAME_METHOD = 1
FRAME_HEADER = 2
FRAME_BODY = 3
FRAME_HEARTBEAT = 8

# (class_id, method_id) of the methods the tests use
CONNECTION_START = (10, 10)
CONNECTION_START_OK = (10, 11)
CONNECTION_TUNE = (10, 30)
CONNECTION_TUNE_OK = (10, 31)
CONNECTION_OPEN = (10, 40)
CONNECTION_OPEN_OK = (10, 41)
CONNECTION_CLOSE = (10, 50)
CONNECTION_CLOSE_OK = (10, 51)
CHANNEL_OPEN = (20, 10)
CHANNEL_OPEN_OK = (20, 11)
CHANNEL_CLOSE = (20, 40)
CHANNEL_CLOSE_OK = (20, 41)
EXCHANGE_DECLARE = (40, 10)
QUEUE_DECLARE = (50, 10)
QUEUE_DECLARE_OK = (50, 11)
BASIC_QOS = (60, 10)
BASIC_CONSUME = (60, 20)
BASIC_CONSUME_OK = (60, 21)
BASIC_PUBLISH = (60, 40)
BASIC_GET = (60, 70)
BASIC_GET_OK = (60, 71)
BASIC_GET_EMPTY = (60, 72)


class ServerClosed(Exception):
    """The server closed the TCP connection."""


# ---------------------------------------------------------------- encoding

def shortstr(s):
    if isinstance(s, str):
        s = s.encode()
    assert len(s) < 256
    return struct.pack(">B", len(s)) + s


def longstr(s):
    if isinstance(s, str):
        s = s.encode()
    return struct.pack(">I", len(s)) + s


def _field_value(v):
    if isinstance(v, bool):
        return b"t" + struct.pack(">B", int(v))
    if isinstance(v, int):
        return b"l" + struct.pack(">q", v)
    if isinstance(v, (str, bytes)):
        return b"S" + longstr(v)
    if isinstance(v, dict):
        return b"F" + table(v)
    if v is None:
        return b"V"
    raise TypeError(v)


def table(d):
    body = b"".join(shortstr(k) + _field_value(v) for k, v in (d or {}).items())
    return struct.pack(">I", len(body)) + body


def bits(*flags):
    v = 0
    for i, f in enumerate(flags):
        if f:
            v |= 1 << i
    return struct.pack(">B", v)


def frame(ftype, channel, payload, end=FRAME_END):
    return struct.pack(">BHI", ftype, channel, len(payload)) + payload + end


def method_payload(cm, args=b""):
    return struct.pack(">HH", cm[0], cm[1]) + args


def method_frame(channel, cm, args=b"", end=FRAME_END):
    return frame(FRAME_METHOD, channel, method_payload(cm, args), end)


def header_frame(channel, body_size, class_id=60, flags=0, props=b""):
    payload = struct.pack(">HHQH", class_id, 0, body_size, flags) + props
    return frame(FRAME_HEADER, channel, payload)


def body_frame(channel, data):
    return frame(FRAME_BODY, channel, data)


def heartbeat_frame(channel=0):
    return frame(FRAME_HEARTBEAT, channel, b"")


def queue_declare_args(name="", passive=False, durable=False, exclusive=False,
                       auto_delete=False, nowait=False, arguments=None):
    return (struct.pack(">H", 0) + shortstr(name) +
            bits(passive, durable, exclusive, auto_delete, nowait) +
            table(arguments))


def basic_publish_args(exchange="", routing_key="", mandatory=False,
                       immediate=False):
    return (struct.pack(">H", 0) + shortstr(exchange) + shortstr(routing_key) +
            bits(mandatory, immediate))


def close_args(code=200, text="bye", class_id=0, method_id=0):
    return struct.pack(">H", code) + shortstr(text) + struct.pack(">HH", class_id, method_id)


# ---------------------------------------------------------------- decoding

def read_shortstr(buf, off):
    n = buf[off]
    return buf[off + 1:off + 1 + n], off + 1 + n


def read_longstr(buf, off):
    (n,) = struct.unpack_from(">I", buf, off)
    return buf[off + 4:off + 4 + n], off + 4 + n


def read_table(buf, off):
    (n,) = struct.unpack_from(">I", buf, off)
    end = off + 4 + n
    off += 4
    out = {}
    while off < end:
        k, off = read_shortstr(buf, off)
        v, off = read_field(buf, off)
        out[k.decode()] = v
    return out, end


_SIMPLE = {b"b": ">b", b"B": ">B", b"s": ">h", b"u": ">H", b"I": ">i",
           b"i": ">I", b"l": ">q", b"L": ">Q", b"f": ">f", b"d": ">d",
           b"T": ">Q"}


def read_field(buf, off):
    t = buf[off:off + 1]
    off += 1
    if t == b"t":
        return bool(buf[off]), off + 1
    if t in _SIMPLE:
        fmt = _SIMPLE[t]
        return struct.unpack_from(fmt, buf, off)[0], off + struct.calcsize(fmt)
    if t == b"S" or t == b"x":
        return read_longstr(buf, off)
    if t == b"F":
        return read_table(buf, off)
    if t == b"A":
        (n,) = struct.unpack_from(">I", buf, off)
        end = off + 4 + n
        off += 4
        arr = []
        while off < end:
            v, off = read_field(buf, off)
            arr.append(v)
        return arr, end
    if t == b"V":
        return None, off
    if t == b"D":
        return (buf[off], struct.unpack_from(">I", buf, off + 1)[0]), off + 5
    raise ValueError("unknown field type %r" % t)


class Frame:
    def __init__(self, ftype, channel, payload):
        self.type = ftype
        self.channel = channel
        self.payload = payload

    @property
    def method(self):
        if self.type != FRAME_METHOD:
            return None
        return struct.unpack_from(">HH", self.payload, 0)

    def close_info(self):
        """(reply_code, reply_text, class_id, method_id) of a *.close method."""
        (code,) = struct.unpack_from(">H", self.payload, 4)
        text, off = read_shortstr(self.payload, 6)
        cls, meth = struct.unpack_from(">HH", self.payload, off)
        return code, text.decode(), cls, meth

    def __repr__(self):
        return "Frame(type=%d, channel=%d, method=%r, %d bytes)" % (
            self.type, self.channel, self.method, len(self.payload))


# ---------------------------------------------------------------- session

class RawConnection:
    """A plain TCP session; every read is bounded by `timeout` seconds."""

    def __init__(self, host, port, timeout=5.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.timeout = timeout
        self.buf = b""
        self.tune = None          # (channel_max, frame_max, heartbeat) proposed
        self.server_properties = None

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- raw I/O
    def send(self, data):
        self.sock.sendall(data)

    def send_method(self, channel, cm, args=b""):
        self.send(method_frame(channel, cm, args))

    def _fill(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout("no data from server within timeout")
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            data = b""
        if not data:
            raise ServerClosed("server closed the connection")
        self.buf += data

    def read_exact(self, n, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        while len(self.buf) < n:
            self._fill(deadline)
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_frame(self, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        while len(self.buf) < 7:
            self._fill(deadline)
        ftype, ch, size = struct.unpack_from(">BHI", self.buf, 0)
        while len(self.buf) < 7 + size + 1:
            self._fill(deadline)
        payload = self.buf[7:7 + size]
        end = self.buf[7 + size:8 + size]
        assert end == FRAME_END, "server sent a bad frame end %r" % end
        self.buf = self.buf[8 + size:]
        return Frame(ftype, ch, payload)

    def read_method(self, expect=None, channel=None, timeout=None,
                    skip_heartbeats=True):
        while True:
            f = self.read_frame(timeout)
            if skip_heartbeats and f.type == FRAME_HEARTBEAT:
                continue
            break
        if expect is not None:
            assert f.method == expect, "expected %r, got %r" % (expect, f)
        if channel is not None:
            assert f.channel == channel, f
        return f

    def wait_closed(self, timeout=None):
        """True when the server closes the TCP connection within timeout
        (anything it still sends is discarded)."""
        deadline = time.monotonic() + (timeout or self.timeout)
        try:
            while True:
                self.buf = b""
                self._fill(deadline)
        except ServerClosed:
            return True
        except socket.timeout:
            return False

    # -- handshake
    def handshake(self, user="guest", password="guest", vhost="/",
                  channel_max=None, frame_max=None, heartbeat=0,
                  mechanism="PLAIN"):
        """Protocol header .. open-ok. None for channel_max / frame_max
        accepts the server's proposal. Returns the negotiated
        (channel_max, frame_max, heartbeat)."""
        self.send(PROTOCOL_HEADER)
        start = self.read_method(CONNECTION_START, channel=0)
        off = 6
        self.server_properties, off = read_table(start.payload, off)
        mechs, off = read_longstr(start.payload, off)
        self.mechanisms = mechs.decode().split()
        client_props = {"product": "tern-raw-tests",
                        "capabilities": {"authentication_failure_close": True}}
        response = b"\0" + user.encode() + b"\0" + password.encode()
        self.send_method(0, CONNECTION_START_OK,
                         table(client_props) + shortstr(mechanism) +
                         longstr(response) + shortstr("en_US"))
        tune = self.read_method(CONNECTION_TUNE, channel=0)
        smax, fmax, hb = struct.unpack_from(">HIH", tune.payload, 4)
        self.tune = (smax, fmax, hb)
        cmax = smax if channel_max is None else channel_max
        fm = fmax if frame_max is None else frame_max
        self.send_method(0, CONNECTION_TUNE_OK, struct.pack(">HIH", cmax, fm, heartbeat))
        self.send_method(0, CONNECTION_OPEN, shortstr(vhost) + shortstr("") + bits(False))
        self.read_method(CONNECTION_OPEN_OK, channel=0)
        self.negotiated = (cmax, fm, heartbeat)
        return self.negotiated

    def open_channel(self, n=1):
        self.send_method(n, CHANNEL_OPEN, shortstr(""))
        self.read_method(CHANNEL_OPEN_OK, channel=n)

    def expect_connection_close(self, timeout=None, send_close_ok=True):
        """Read frames until connection.close; return its
        (code, text, class_id, method_id). Frames before it are skipped
        (but recorded in self.skipped)."""
        self.skipped = []
        while True:
            f = self.read_frame(timeout)
            if f.method == CONNECTION_CLOSE:
                assert f.channel == 0, f
                info = f.close_info()
                if send_close_ok:
                    try:
                        self.send_method(0, CONNECTION_CLOSE_OK)
                    except OSError:
                        pass
                return info
            self.skipped.append(f)

    def expect_channel_close(self, channel, timeout=None, send_close_ok=True):
        while True:
            f = self.read_method(timeout=timeout)
            if f.method == CHANNEL_CLOSE and f.channel == channel:
                info = f.close_info()
                if send_close_ok:
                    self.send_method(channel, CHANNEL_CLOSE_OK)
                return info
            if f.method == CONNECTION_CLOSE:
                raise AssertionError("expected channel.close on %d, got "
                                     "connection.close %r" % (channel, f.close_info()))

    # -- small conveniences for tests (channel 1 unless told)
    def declare_queue(self, name, channel=1, exclusive=True):
        self.send_method(channel, QUEUE_DECLARE, queue_declare_args(name, exclusive=exclusive))
        self.read_method(QUEUE_DECLARE_OK, channel=channel)

    def publish(self, queue, body, channel=1, exchange=""):
        self.send(method_frame(channel, BASIC_PUBLISH, basic_publish_args(exchange, queue)) +
                  header_frame(channel, len(body)) + body_frame(channel, body))

    def get(self, queue, channel=1):
        """basic.get with no-ack: the body, or None for get-empty."""
        self.send_method(channel, BASIC_GET, struct.pack(">H", 0) + shortstr(queue) + bits(True))
        f = self.read_method(channel=channel)
        if f.method != BASIC_GET_OK:
            assert f.method == BASIC_GET_EMPTY, "expected get-ok/get-empty, got %r" % f
            return None
        h = self.read_frame()
        assert h.type == FRAME_HEADER, h
        (size,) = struct.unpack_from(">Q", h.payload, 4)
        body = b""
        while len(body) < size:
            b = self.read_frame()
            assert b.type == FRAME_BODY, b
            body += b.payload
        return body

    def expect_close(self, code, timeout=None, wait_closed=True):
        """connection.close with `code`, then -- after our close-ok -- the
        socket closed by the server (unless wait_closed is false: after a
        framing error the byte stream is out of step, and RabbitMQ then only
        closes the socket after a 3 s delay). Returns (code, text, class,
        method)."""
        info = self.expect_connection_close(timeout)
        assert info[0] == code, "expected connection.close %d, got %r" % (code, info)
        if wait_closed:
            assert self.wait_closed(timeout=5), "server did not close the socket after close-ok"
        return info


# ---------------------------------------------------------------- typed tables

_TYPED = {"b": ">b", "B": ">B", "s": ">h", "u": ">H", "I": ">i", "i": ">I",
          "l": ">q", "f": ">f", "d": ">d", "T": ">Q"}


def typed_table(items):
    """A field table from [(key, type_char, value)], each value encoded with
    exactly the given AMQP type letter (RabbitMQ's letters: b B s u I i l f d
    T t S V)."""
    body = b""
    for key, t, v in items:
        body += shortstr(key) + t.encode()
        if t in _TYPED:
            body += struct.pack(_TYPED[t], v)
        elif t == "t":
            body += struct.pack(">B", int(v))
        elif t == "S":
            body += longstr(v)
        elif t == "V":
            pass
        else:
            raise ValueError(t)
    return struct.pack(">I", len(body)) + body


HEADERS_FLAG = 0x2000   # basic properties: headers present


def headers_header_frame(channel, body_size, headers_table):
    """A content header carrying only the headers property."""
    return header_frame(channel, body_size, flags=HEADERS_FLAG, props=headers_table)


def queue_bind_args(queue, exchange, routing_key="", nowait=False, arguments=b""):
    """queue.bind arguments; `arguments` is an encoded table (bytes) or dict."""
    if isinstance(arguments, dict):
        arguments = table(arguments)
    return (struct.pack(">H", 0) + shortstr(queue) + shortstr(exchange) +
            shortstr(routing_key) + bits(nowait) + (arguments or table({})))


QUEUE_BIND = (50, 20)
QUEUE_BIND_OK = (50, 21)
