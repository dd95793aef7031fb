"""Definitions (RabbitMQ's definitions JSON) for tests that need vhosts,
users, permissions, limits and policies, on Tern and on RabbitMQ alike.

Builders (user, permission, queue, policy, ...) return objects in the
format `rabbitmqadmin export` / GET /api/definitions writes (RabbitMQ
3.10.8); document(**kinds) puts them together, with a key only for the
kinds given (under definitions.prune that matters: a kind without a key is
left alone).

DefsBroker is the broker a test loads them into:

* Tern (BROKER_URL unset): a dedicated ternd (support/broker.py's Broker),
  started with a config file holding `load_definitions = <tmp>/defs.json`
  and any extra lines. apply() rewrites the file, sends SIGHUP and waits
  for the log line `definitions: applied ...` (or `... nothing applied`).
  dry_run() runs `ternd --config C --data-dir D --dry-run`; boot() starts
  ternd on a file once and reports its exit status and output.

* RabbitMQ (BROKER_URL set; MGMT_URL, default
  http://guest:guest@127.0.0.1:15672, reaches its management API): load()
  and apply() POST /api/definitions; cleanup deletes the vhosts and users
  the documents named and the queues, exchanges and policies they put in
  "/" -- only those the broker did not hold before the first load, and
  never "/" or guest. Names should be unique per test there
  (DefsBroker.name()), since the broker is shared.
"""
import base64
import contextlib
import hashlib
import json
import os
import re
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

from support.broker import Broker, unique

RABBIT_VERSION = "3.10.8"
HASHING = {"sha256": "rabbit_password_hashing_sha256",
           "sha512": "rabbit_password_hashing_sha512",
           "md5": "rabbit_password_hashing_md5"}
_DIGEST = {"sha256": hashlib.sha256, "sha512": hashlib.sha512, "md5": hashlib.md5}

APPLY_TIMEOUT = 10.0


# ------------------------------------------------------------------ builders

def password_hash(password, alg="sha256", salt=None):
    """RabbitMQ's password_hash: base64(salt ‖ H(salt ‖ utf8 password)),
    a 4-byte salt."""
    salt = os.urandom(4) if salt is None else salt
    return base64.b64encode(salt + _DIGEST[alg](salt + password.encode()).digest()).decode()


def user(name, password, tags=(), alg="sha256", limits=None):
    return {"name": name, "password_hash": password_hash(password, alg),
            "hashing_algorithm": HASHING[alg], "tags": list(tags),
            "limits": dict(limits or {})}


def vhost(name):
    return {"name": name}


def permission(user_name, vhost_name, configure=".*", write=".*", read=".*"):
    return {"user": user_name, "vhost": vhost_name, "configure": configure,
            "write": write, "read": read}


def topic_permission(user_name, vhost_name, exchange_name, write=".*", read=".*"):
    return {"user": user_name, "vhost": vhost_name, "exchange": exchange_name,
            "write": write, "read": read}


def vhost_limits(vhost_name, **limits):
    """A vhost-limits parameter; keyword max_connections -> max-connections."""
    return {"value": {k.replace("_", "-"): v for k, v in limits.items()},
            "vhost": vhost_name, "component": "vhost-limits", "name": "limits"}


def operator_policy(vhost_name, name, pattern, definition, priority=0, apply_to="queues"):
    """Operator policies travel in "parameters" (component operator_policy)."""
    return {"value": {"pattern": pattern, "definition": dict(definition),
                      "priority": priority, "apply-to": apply_to},
            "vhost": vhost_name, "component": "operator_policy", "name": name}


def policy(vhost_name, name, pattern, definition, priority=0, apply_to="all"):
    return {"vhost": vhost_name, "name": name, "pattern": pattern,
            "apply-to": apply_to, "definition": dict(definition), "priority": priority}


def queue(vhost_name, name, durable=True, auto_delete=False, arguments=None):
    return {"name": name, "vhost": vhost_name, "durable": durable,
            "auto_delete": auto_delete, "arguments": dict(arguments or {})}


def exchange(vhost_name, name, type="direct", durable=True, auto_delete=False,
             internal=False, arguments=None):
    return {"name": name, "vhost": vhost_name, "type": type, "durable": durable,
            "auto_delete": auto_delete, "internal": internal,
            "arguments": dict(arguments or {})}


def binding(vhost_name, source, destination, routing_key="", destination_type="queue",
            arguments=None):
    return {"source": source, "vhost": vhost_name, "destination": destination,
            "destination_type": destination_type, "routing_key": routing_key,
            "arguments": dict(arguments or {})}


KINDS = ("users", "vhosts", "permissions", "topic_permissions", "parameters",
         "policies", "queues", "exchanges", "bindings")


def document(**kinds):
    """A definitions document with a key for each kind given (lists)."""
    bad = set(kinds) - set(KINDS)
    assert not bad, "unknown kinds %s" % sorted(bad)
    doc = {"rabbit_version": RABBIT_VERSION, "rabbitmq_version": RABBIT_VERSION}
    for k in KINDS:
        if k in kinds:
            doc[k] = list(kinds[k])
    return doc


# ------------------------------------------------------------------ connecting

def connect(host, port, user_name, password, vhost_name, **kw):
    import pika
    base = dict(host=host, port=port, virtual_host=vhost_name,
                credentials=pika.PlainCredentials(user_name, password),
                connection_attempts=1, socket_timeout=5, blocked_connection_timeout=30,
                stack_timeout=15)
    base.update(kw)
    return pika.BlockingConnection(pika.ConnectionParameters(**base))


def open_refusal(host, port, user_name, password, vhost_name, timeout=5.0):
    """A raw handshake up to connection.open: None when the connection
    opened (then closed again), else the server's (reply_code, reply_text)
    of its connection.close. Exact texts, which pika only shows wrapped."""
    import struct
    from support import amqpraw as r
    c = r.RawConnection(host, port, timeout=timeout)
    try:
        c.send(r.PROTOCOL_HEADER)
        c.read_method(r.CONNECTION_START, channel=0)
        caps = {"product": "tern-defs-tests",
                "capabilities": {"authentication_failure_close": True}}
        c.send_method(0, r.CONNECTION_START_OK,
                      r.table(caps) + r.shortstr("PLAIN") +
                      r.longstr(b"\0" + user_name.encode() + b"\0" + password.encode()) +
                      r.shortstr("en_US"))
        f = c.read_method()
        if f.method == r.CONNECTION_CLOSE:
            return f.close_info()[:2]
        assert f.method == r.CONNECTION_TUNE, f
        smax, fmax, _ = struct.unpack_from(">HIH", f.payload, 4)
        c.send_method(0, r.CONNECTION_TUNE_OK, struct.pack(">HIH", smax, fmax, 0))
        c.send_method(0, r.CONNECTION_OPEN, r.shortstr(vhost_name) + r.shortstr("") +
                      r.bits(False))
        f = c.read_method()
        if f.method == r.CONNECTION_CLOSE:
            return f.close_info()[:2]
        assert f.method == r.CONNECTION_OPEN_OK, f
        c.send_method(0, r.CONNECTION_CLOSE, r.close_args())
        return None
    finally:
        c.close()


# ------------------------------------------------------------------ the broker

class DefsError(Exception):
    pass


def _parsed(doc):
    if not isinstance(doc, str):
        return doc
    try:
        return json.loads(doc)
    except ValueError:
        return {}


class DefsBroker:
    """Definitions loaded into a broker; see the module docstring."""

    def __init__(self, broker, config_lines=()):
        self.external = broker.external
        self.shared = broker
        self.config_lines = list(config_lines)
        self.docs = []                  # every document loaded or applied
        self._tern = None
        self.mgmt = os.environ.get("MGMT_URL", "http://guest:guest@127.0.0.1:15672")
        if self.external:
            self.host, self.port = broker.host, broker.port
        else:
            self._tern = Broker(None)
            self.host, self.port = self._tern.host, self._tern.port
            self.defs_path = os.path.join(self._tern._tmp, "defs.json")

    # -- names
    def name(self, base):
        """A name unique to this test on a shared broker (RabbitMQ); the same
        on Tern, where the broker is the test's own anyway."""
        return unique(base)

    # -- loading
    def load(self, doc, config_lines=None):
        """The broker's initial definitions (a dict, or JSON text used as
        is): Tern boots with them."""
        self.docs.append(_parsed(doc))
        if self.external:
            self._remember_existing()
            self._post(self.docs[-1])
            return
        if config_lines is not None:
            self.config_lines = list(config_lines)
        self.write(doc)
        self._tern.start(config_lines=self.tern_config())

    def load_files(self, files):
        """Tern only: boot from a directory of definitions files
        ({file name: doc or text}); defs_path becomes the directory."""
        assert not self.external
        self.defs_path = os.path.join(self._tern._tmp, "defs.d")
        os.makedirs(self.defs_path, exist_ok=True)
        for name, doc in files.items():
            self.write(doc, os.path.join(self.defs_path, name))
        self._tern.start(config_lines=self.tern_config())

    def tern_config(self, defs_path=None, extra=None):
        return (["load_definitions = %s" % (defs_path or self.defs_path)] +
                self.config_lines + list(extra or ()))

    def apply(self, doc):
        """New definitions on the running broker: Tern re-reads them on
        SIGHUP (and must log `definitions: applied`), RabbitMQ imports them."""
        self.docs.append(_parsed(doc))
        if self.external:
            self._post(self.docs[-1])
            return None
        self.write(doc)
        lines = self.reload()
        if not any(l.startswith("definitions: applied") for l in lines):
            raise DefsError("SIGHUP did not apply the definitions: %r\n%s"
                            % (lines, self.log_tail()))
        return lines

    def remove_policy(self, vhost_name, name, operator=False):
        """Lift a policy: DELETE on RabbitMQ; on Tern the current document
        without it, applied under definitions.prune = true (the config must
        say so)."""
        if self.external:
            self._http("DELETE", "/api/%s/%s/%s" % (
                "operator-policies" if operator else "policies",
                urllib.parse.quote(vhost_name, safe=""), urllib.parse.quote(name, safe="")))
            return
        doc = json.loads(json.dumps(self.docs[-1]))
        if operator:
            doc["parameters"] = [p for p in doc.get("parameters", []) if not (
                p["component"] == "operator_policy" and p["vhost"] == vhost_name and
                p["name"] == name)]
        else:
            doc["policies"] = [p for p in doc.get("policies", []) if not (
                p["vhost"] == vhost_name and p["name"] == name)]
        self.apply(doc)

    # -- Tern only
    def write(self, doc, path=None):
        """Writes doc (a dict, or text as is) to the definitions file."""
        text = doc if isinstance(doc, str) else json.dumps(doc, indent=2)
        with open(path or self.defs_path, "w") as f:
            f.write(text)

    def reload(self):
        """SIGHUP; returns the new `definitions: ...` log messages once one
        of them starts `definitions: applied` or says `nothing applied`
        (with a short grace for lines logged just after it)."""
        assert not self.external
        start = len(self.log_text())
        self._tern.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + APPLY_TIMEOUT
        while time.monotonic() < deadline:
            msgs = self.definitions_lines(self.log_text()[start:])
            if any(m.startswith("definitions: applied") or "nothing applied" in m
                   for m in msgs):
                time.sleep(0.05)
                return self.definitions_lines(self.log_text()[start:])
            time.sleep(0.05)
        raise DefsError("no `definitions:` result in the log within %.0f s of SIGHUP:\n%s"
                        % (APPLY_TIMEOUT, self.log_tail()))

    @staticmethod
    def definitions_lines(text):
        """The `definitions: ...` messages in a piece of log, with the
        timestamp/level prefix cut off."""
        out = []
        for line in text.splitlines():
            i = line.find("definitions: ")
            if i >= 0:
                out.append(line[i:])
        return out

    def log_text(self):
        return self._tern.log_text() if self._tern else ""

    def log_tail(self, n=40):
        return self._tern.log_tail(n) if self._tern else ""

    def ternd_cmd(self, config_path, *extra):
        return [self._tern.ternd, "--config", config_path, "--data-dir",
                self._tern.data_dir, "--management-port", "0",
                "--prometheus-port", "0"] + list(extra)

    def write_config(self, lines, name="other.conf"):
        path = os.path.join(self._tern._tmp, name)
        with open(path, "w") as f:
            f.write("".join(l + "\n" for l in lines))
        return path

    def dry_run(self, doc=None, extra_config=()):
        """`ternd --config C --data-dir D --dry-run` on doc (default: the
        current file) with a config of its own: CompletedProcess."""
        path = self.defs_path
        if doc is not None:
            path = os.path.join(self._tern._tmp, "dry-run.json")
            self.write(doc, path)
        conf = self.write_config(self.tern_config(path, extra_config), "dry-run.conf")
        return subprocess.run(self.ternd_cmd(conf, "--dry-run"), capture_output=True,
                              text=True, timeout=20, stdin=subprocess.DEVNULL)

    def boot(self, doc, timeout=5.0):
        """Start ternd once on doc (dict, or text as is): (status, output) when it
        exits within timeout, (None, output) when it keeps running (it is
        then stopped)."""
        self.write(doc)
        conf = self.write_config(self.tern_config(), "boot.conf")
        cmd = self.ternd_cmd(conf, "--bind", self.host, "--port", str(self.port))
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, text=True)
        try:
            out, _ = p.communicate(timeout=timeout)
            return p.returncode, out
        except subprocess.TimeoutExpired:
            p.send_signal(signal.SIGTERM)
            out, _ = p.communicate(timeout=10)
            return None, out

    def restart(self):
        self._tern.restart()

    def stop_tern(self):
        return self._tern.stop()

    def start_tern(self):
        self._tern.start()

    def alive(self):
        return self.external or self._tern.alive()

    # -- clients
    def connect(self, user_name, password, vhost_name, **kw):
        return connect(self.host, self.port, user_name, password, vhost_name, **kw)

    def open_refusal(self, user_name, password, vhost_name):
        return open_refusal(self.host, self.port, user_name, password, vhost_name)

    # -- RabbitMQ's management API
    def _http(self, method, path, body=None):
        u = urllib.parse.urlparse(self.mgmt)
        url = "%s://%s:%d%s" % (u.scheme, u.hostname, u.port or 15672, path)
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(url, data=data, method=method)
        auth = base64.b64encode(("%s:%s" % (urllib.parse.unquote(u.username or "guest"),
                                            urllib.parse.unquote(u.password or "guest"))
                                 ).encode()).decode()
        req.add_header("Authorization", "Basic " + auth)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                text = r.read().decode()
                return json.loads(text) if text else None
        except urllib.error.HTTPError as e:
            if method == "DELETE" and e.code == 404:
                return None
            raise DefsError("%s %s: %d %s" % (method, path, e.code, e.read().decode()))

    def _post(self, doc):
        self._http("POST", "/api/definitions", doc)

    def _remember_existing(self):
        """What the shared broker held before the first load: cleanup
        leaves it alone."""
        if hasattr(self, "_existing"):
            return
        ex = {"vhosts": {v["name"] for v in self._http("GET", "/api/vhosts")},
              "users": {u["name"] for u in self._http("GET", "/api/users")}}
        for kind in ("queues", "exchanges", "policies", "operator-policies"):
            ex[kind] = {o["name"] for o in self._http("GET", "/api/%s/%%2F" % kind)}
        self._existing = ex

    # -- the end
    def cleanup(self):
        if not self.external:
            rc = self._tern.stop()
            self._tern.check_log()
            self._tern.cleanup()
            return rc
        if not hasattr(self, "_existing"):
            return None
        ex = self._existing
        q = lambda s: urllib.parse.quote(s, safe="")  # noqa: E731
        vhosts, users, in_root = set(), set(), []
        for doc in self.docs:
            vhosts.update(v["name"] for v in doc.get("vhosts", []))
            users.update(u["name"] for u in doc.get("users", []))
            for kind in ("queues", "exchanges", "policies"):
                in_root += [(kind, o["name"]) for o in doc.get(kind, []) if o["vhost"] == "/"]
            in_root += [("operator-policies", p["name"]) for p in doc.get("parameters", [])
                        if p["vhost"] == "/" and p["component"] == "operator_policy"]
        for kind, n in in_root:
            if n not in ex[kind]:
                self._http("DELETE", "/api/%s/%%2F/%s" % (kind, q(n)))
        for v in sorted(vhosts - ex["vhosts"] - {"/"}):
            self._http("DELETE", "/api/vhosts/%s" % q(v))
        for u in sorted(users - ex["users"] - {"guest", self.shared.user}):
            self._http("DELETE", "/api/users/%s" % q(u))
        return None


@contextlib.contextmanager
def channel_closed(code, text=None):
    """helpers.channel_error, but the reply text must be exactly `text`
    (when given)."""
    from support.helpers import channel_error
    with channel_error(code, text) as err:
        yield err
    assert text is None or err.text == text, "reply text %r, expected %r" % (err.text, text)


@contextlib.contextmanager
def connection_closed(code, text):
    """The broker closes the connection with exactly (code, text)."""
    from support.helpers import connection_error
    with connection_error(code, text) as err:
        yield err
    assert err.text == text, "reply text %r, expected %r" % (err.text, text)


def expect_refused(fn, code, text=None):
    """Runs fn (which opens a pika connection and uses it) expecting the
    broker to close the connection: returns (code, text). Covers pika's
    Probable*Error wrappers by parsing their message."""
    import pika.exceptions as pe
    try:
        fn()
    except pe.ConnectionClosedByBroker as e:
        got = (e.reply_code, e.reply_text)
    except (pe.ProbableAuthenticationError, pe.ProbableAccessDeniedError) as e:
        m = re.search(r"\((\d+)\) ['\"](.*)['\"]", str(e))
        got = (int(m.group(1)), m.group(2)) if m else (None, str(e))
    else:
        raise AssertionError("expected connection.close %d, but it succeeded" % code)
    assert got[0] == code, got
    if text is not None:
        assert got[1] == text, got
    return got
