"""The HTTP client and AMQP helpers tests/api uses (fixtures in conftest.py)."""
import base64
import http.client
import json
import os
import socket
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from support.broker import unique  # noqa: E402,F401

STATS_WAIT = 12.0   # RabbitMQ emits stats every 5 s; two rounds and a margin


def q(segment):
    """One path segment the way encodeURIComponent does it ('/' -> %2F)."""
    return urllib.parse.quote(segment, safe="")


def path(*segments, query=None):
    """/api/<seg>/<seg>... with every segment percent-encoded."""
    p = "/api/" + "/".join(q(s) for s in segments)
    if query:
        p += "?" + (query if isinstance(query, str) else urllib.parse.urlencode(query))
    return p


class Resp:
    def __init__(self, status, headers, raw):
        self.status = status
        self.headers = headers          # lower-case name -> value
        self.raw = raw
        self.text = raw.decode("utf-8", errors="replace")
        try:
            self.body = json.loads(self.text) if raw else None
        except ValueError:
            self.body = None

    def __repr__(self):
        return "<%d %s>" % (self.status, self.text[:400])


class Api:
    """A small management API client: basic auth, JSON in and out."""

    def __init__(self, base_url, user, password, timeout=15.0):
        u = urllib.parse.urlparse(base_url)
        self.host = u.hostname or "127.0.0.1"
        self.port = u.port or 15672
        self.prefix = u.path.rstrip("/")
        self.user = user
        self.password = password
        self.timeout = timeout

    def auth_header(self, user=None, password=None):
        tok = "%s:%s" % (self.user if user is None else user,
                         self.password if password is None else password)
        return "Basic " + base64.b64encode(tok.encode()).decode()

    def request(self, method, p, body=None, raw=None, headers=None, auth=True):
        """body: JSON-encoded; raw: bytes sent as is (both with
        Content-Type: application/json unless headers say otherwise);
        auth: True (this client's user), False (no Authorization header) or
        (user, password)."""
        h = {}
        if auth is True:
            h["Authorization"] = self.auth_header()
        elif isinstance(auth, tuple):
            h["Authorization"] = self.auth_header(*auth)
        data = raw if raw is not None else (None if body is None else
                                           json.dumps(body).encode())
        if data is not None:
            h["Content-Type"] = "application/json"
        h.update(headers or {})
        c = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            c.request(method, self.prefix + p, body=data, headers=h)
            r = c.getresponse()
            out = r.read()
            return Resp(r.status, {k.lower(): v for k, v in r.getheaders()}, out)
        finally:
            c.close()

    def get(self, p, **kw):
        return self.request("GET", p, **kw)

    def put(self, p, body=None, **kw):
        return self.request("PUT", p, body=body, **kw)

    def post(self, p, body=None, **kw):
        return self.request("POST", p, body=body, **kw)

    def delete(self, p, **kw):
        return self.request("DELETE", p, **kw)

    def ok(self, method, p, body=None, expect=(200, 201, 204), **kw):
        """A request that must succeed; returns the parsed body."""
        r = self.request(method, p, body=body, **kw)
        assert r.status in expect, "%s %s -> %r" % (method, p, r)
        return r.body


def mgmt_credentials(broker):
    u = urllib.parse.urlparse(broker.mgmt_url)
    if u.username:
        return urllib.parse.unquote(u.username), urllib.parse.unquote(u.password or "")
    return broker.user, broker.password


def wait_for(fn, timeout=STATS_WAIT, interval=0.2, what="condition"):
    """Polls fn() until it returns something truthy (returned) or timeout
    seconds pass (AssertionError naming `what` and the last value)."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = fn()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.0f s waiting for %s (last: %r)"
                                 % (timeout, what, last))
        time.sleep(interval)


NOT_FOUND = {"error": "Object Not Found", "reason": "Not Found"}


class Users:
    def __init__(self, api):
        self.api = api
        self.made = []

    def make(self, tags="", password=None, perms_on=None, prefix="tern-api-u"):
        name = unique(prefix)
        password = password or unique("pw")
        self.api.ok("PUT", path("users", name), {"password": password, "tags": tags})
        self.made.append(name)
        for vh in ([perms_on] if isinstance(perms_on, str) else perms_on or ()):
            self.api.ok("PUT", path("permissions", vh, name),
                        {"configure": ".*", "write": ".*", "read": ".*"})
        return name, password

    def cleanup(self):
        for n in self.made:
            self.api.delete(path("users", n))


class Amqp:
    """pika helpers to make traffic the API then reports."""

    def __init__(self, broker):
        self.broker = broker
        self.conns = []

    def connect(self, vhost="/", user=None, password=None, name=None, **kw):
        import pika
        props = {"connection_name": name} if name else None
        c = pika.BlockingConnection(pika.ConnectionParameters(
            host=self.broker.host, port=self.broker.port, virtual_host=vhost,
            credentials=pika.PlainCredentials(user or self.broker.user,
                                              password or self.broker.password),
            client_properties=props, connection_attempts=1, socket_timeout=5,
            blocked_connection_timeout=30, stack_timeout=15, **kw))
        self.conns.append(c)
        return c

    @staticmethod
    def local_name(conn):
        """RabbitMQ's connection name for a pika connection:
        'CLIENT_IP:CLIENT_PORT -> SERVER_IP:SERVER_PORT'."""
        sock = conn._impl._transport._sock
        la, lp = sock.getsockname()[:2]
        ra, rp = sock.getpeername()[:2]
        return "%s:%d -> %s:%d" % (la, lp, ra, rp)

    def channel(self, vhost="/", **kw):
        return self.connect(vhost, **kw).channel()

    def publish(self, vhost, routing_key, bodies, exchange="", properties=None):
        import pika
        ch = self.channel(vhost)
        ch.confirm_delivery()
        for b in bodies:
            ch.basic_publish(exchange, routing_key, b if isinstance(b, bytes) else b.encode(),
                             properties=properties or pika.BasicProperties())
        ch.connection.close()

    def close_all(self):
        for c in self.conns:
            try:
                if c.is_open:
                    c.close()
            except Exception:
                pass


def is_external():
    return bool(os.environ.get("BROKER_URL"))


def raw_http(host, port, data, timeout=10.0):
    """Send bytes on a fresh socket and return what comes back until the
    server closes or timeout (for requests http.client would not make)."""
    s = socket.create_connection((host, port), timeout=timeout)
    try:
        s.sendall(data)
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            out += chunk
        return out
    finally:
        s.close()
