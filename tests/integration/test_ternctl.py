"""ternctl end to end: every command against the broker under test's
management HTTP API, and its exit statuses (0 done, 1 the broker refused,
2 usage, 3 not routed, 4 unreachable, 5 login refused).

The binary is $TERNCTL or build/ternctl. The API is at broker.mgmt_url; until
the fixtures have it, at $MGMT_URL (default http://guest:guest@127.0.0.1:15672,
RabbitMQ's; skipped when neither is set and nothing answers there). The
checks read the broker's state back with plain HTTP (urllib), never with
ternctl itself. browse/move are Tern's own API: skipped where /api/tern is
missing (RabbitMQ), apart from checking that ternctl says so."""
import base64
import json
import os
import re
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

import pytest

from support.broker import REPO_ROOT, free_port, sanitizer_lines

DEFAULT_MGMT = "http://guest:guest@127.0.0.1:15672"


def ternctl_path():
    path = os.environ.get("TERNCTL") or "build/ternctl"
    return path if os.path.isabs(path) else os.path.join(REPO_ROOT, path)


def uid(prefix):
    return "ternctl-%s-%s" % (prefix, uuid.uuid4().hex[:10])


def q(s):
    return urllib.parse.quote(s, safe="")


class Result:
    def __init__(self, p):
        self.rc = p.returncode
        self.out = p.stdout
        self.err = p.stderr

    def text(self):
        return self.out.decode(errors="replace")

    def __repr__(self):
        return "rc=%d stdout=%r stderr=%r" % (self.rc, self.out[-800:], self.err[-800:])


class Mgmt:
    """The management API under test: ternctl runs and direct HTTP checks."""

    def __init__(self, url):
        u = urllib.parse.urlsplit(url)
        self.user = urllib.parse.unquote(u.username or "guest")
        self.password = urllib.parse.unquote(u.password or "guest")
        host = u.hostname or "127.0.0.1"
        if ":" in host:
            host = "[%s]" % host
        netloc = host + (":%d" % u.port if u.port else "")
        self.base = urllib.parse.urlunsplit((u.scheme or "http", netloc, u.path.rstrip("/"),
                                             "", ""))
        self.cleanups = []

    # ------------------------------------------------------------ HTTP
    def api(self, method, path, body=None):
        """(status, parsed JSON or None)."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method)
        tok = base64.b64encode(("%s:%s" % (self.user, self.password)).encode()).decode()
        req.add_header("Authorization", "Basic " + tok)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                raw = r.read()
                return r.status, (json.loads(raw) if raw.strip() else None)
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                return e.code, json.loads(raw)
            except ValueError:
                return e.code, None

    def reachable(self):
        try:
            return self.api("GET", "/api/overview")[0] == 200
        except OSError:
            return False

    # ------------------------------------------------------------ ternctl
    def run(self, *args, creds=True, url=True, input=None, env=None, timeout=60):
        path = ternctl_path()
        assert os.path.exists(path), "%s missing: make build/ternctl" % path
        cmd = [path]
        if url:
            cmd += ["--url", self.base]
        if creds:
            cmd += ["-u", self.user, "-p", self.password]
        e = {k: v for k, v in os.environ.items() if not k.startswith("TERN_")}
        e.update(env or {})
        p = subprocess.run(cmd + list(args), input=input, capture_output=True, env=e,
                           timeout=timeout)
        r = Result(p)
        bad = sanitizer_lines(r.err.decode(errors="replace"))
        assert not bad, "sanitizer report from %s: %s" % (cmd + list(args), r.err.decode())
        return r

    def ok(self, *args, **kw):
        r = self.run(*args, **kw)
        assert r.rc == 0, r
        return r

    # ------------------------------------------------------------ objects
    def queue(self, vhost="/"):
        """A fresh queue, deleted after the test."""
        name = uid("q")
        self.cleanups.append("/api/queues/%s/%s" % (q(vhost), q(name)))
        return name

    def later(self, path):
        self.cleanups.append(path)

    def cleanup(self):
        for path in reversed(self.cleanups):
            try:
                self.api("DELETE", path)
            except OSError:
                pass


@pytest.fixture(scope="module")
def mgmt_url(broker):
    url = getattr(broker, "mgmt_url", None)
    explicit = url is not None or "MGMT_URL" in os.environ
    url = url or os.environ.get("MGMT_URL") or DEFAULT_MGMT
    m = Mgmt(url)
    if not m.reachable():
        if explicit:
            pytest.fail("the management API at %s does not answer" % m.base)
        pytest.skip("no management API: the broker fixture has no mgmt_url and nothing "
                    "answers at %s (set MGMT_URL)" % m.base)
    return url


@pytest.fixture
def mgmt(mgmt_url):
    m = Mgmt(mgmt_url)
    yield m
    m.cleanup()


def table(r):
    """stdout of a listing as (header words, rows of words)."""
    lines = [l for l in r.text().splitlines() if l.strip()]
    assert lines, r
    return lines[0].split(), [l.split() for l in lines[1:]]


def row_of(r, name):
    hdr, rows = table(r)
    for row in rows:
        if row and row[0] == name:
            return dict(zip(hdr, row))
    return None


def wait_for(pred, what, timeout=20.0):
    """RabbitMQ refreshes queue statistics every few seconds."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        assert time.monotonic() < deadline, "timed out waiting for %s" % what
        time.sleep(0.5)


def tern_api_missing(m, queue):
    """True when the broker has no /api/tern (RabbitMQ: 404, or Cowboy's 400
    or 405 for a path with %2F in it)."""
    st, _ = m.api("GET", "/api/tern/queues/%s/%s/messages?offset=0&count=1" % (q("/"), q(queue)))
    return st in (400, 404, 405)


# ---------------------------------------------------------------- status

def test_status(mgmt):
    r = mgmt.ok("status")
    out = r.text()
    for key in ("product", "node", "uptime", "connections", "channels", "queues", "messages",
                "rates", "alarms"):
        assert re.search(r"^%s\s+\S" % key, out, re.M), out
    st, ov = mgmt.api("GET", "/api/overview")
    assert ov["node"] in out
    j = json.loads(mgmt.ok("status", "--json").out)
    assert j["overview"]["node"] == ov["node"]
    assert isinstance(j["nodes"], list) and j["nodes"]


def test_url_env_and_credentials_in_url(mgmt):
    """TERN_URL/TERN_USER/TERN_PASSWORD, and http://user:pass@host in --url."""
    env = {"TERN_URL": mgmt.base, "TERN_USER": mgmt.user, "TERN_PASSWORD": mgmt.password}
    assert mgmt.run("status", url=False, creds=False, env=env).rc == 0
    u = urllib.parse.urlsplit(mgmt.base)
    with_creds = "%s://%s:%s@%s%s" % (u.scheme, q(mgmt.user), q(mgmt.password), u.netloc,
                                      u.path)
    r = mgmt.run("--url", with_creds, "status", url=False, creds=False)
    assert r.rc == 0, r


# ---------------------------------------------------------------- queues

@pytest.mark.time_limit(90)
def test_queue_lifecycle(mgmt):
    name = mgmt.queue()
    r = mgmt.ok("declare", "queue", name, "--durable", "--arg", "x-max-length=100",
                "--arg", "x-overflow=reject-publish")
    assert name in r.text()
    st, info = mgmt.api("GET", "/api/queues/%s/%s" % (q("/"), q(name)))
    assert st == 200
    assert info["durable"] is True and info["auto_delete"] is False
    assert info["arguments"] == {"x-max-length": 100, "x-overflow": "reject-publish"}

    # the same again is fine; another durability is refused with the reason
    mgmt.ok("declare", "queue", name, "--durable", "--arg", "x-max-length=100",
            "--arg", "x-overflow=reject-publish")
    r = mgmt.run("declare", "queue", name)
    assert r.rc == 1, r
    assert b"400" in r.err and b"inequivalent" in r.err.lower(), r

    for i in range(3):
        r = mgmt.ok("publish", "--key", name, "--body", "m%d" % i)
        assert r.text().strip() == "routed"

    # the queue appears in the listing with its message count
    def counted():
        row = row_of(mgmt.ok("list", "queues", "--filter", "^%s$" % re.escape(name)), name)
        return row if row and row.get("messages") == row.get("ready") == "3" else None
    row = wait_for(counted, "3 messages (3 ready) in list queues")
    assert row["unacked"] == "0" and row["consumers"] == "0", row
    hdr, rows = table(mgmt.ok("list", "queues", "--filter", "^%s$" % re.escape(name)))
    assert hdr[:5] == ["name", "messages", "ready", "unacked", "consumers"], hdr
    assert len(rows) == 1
    listed = json.loads(mgmt.ok("list", "queues", "--json").out)
    assert name in [x["name"] for x in listed]

    # get --requeue leaves it there; get takes them in order
    r = mgmt.ok("get", name, "--requeue")
    assert r.out == b"m0\n", r
    r = mgmt.ok("get", name, "--count", "2")
    assert r.out == b"m0\nm1\n", r
    r = mgmt.ok("get", name, "--json")
    got = json.loads(r.out)
    assert [m["payload"] for m in got] == ["m2"] and got[0]["routing_key"] == name

    mgmt.ok("publish", "--key", name, "--body", "x")
    r = mgmt.ok("purge", name)
    assert name in r.text()
    r = mgmt.ok("get", name)
    assert r.out == b"" and b"no ready messages" in r.err, r

    r = mgmt.ok("delete", "queue", name)
    assert mgmt.api("GET", "/api/queues/%s/%s" % (q("/"), q(name)))[0] == 404
    r = mgmt.run("delete", "queue", name)
    assert r.rc == 1 and b"404" in r.err and name.encode() in r.err, r


def test_queue_flags_and_names_needing_encoding(mgmt):
    name = "ternctl q/with %s and #?" % uuid.uuid4().hex[:6]
    mgmt.later("/api/queues/%s/%s" % (q("/"), q(name)))
    mgmt.ok("declare", "queue", name, "--auto-delete", "--arg", "x-message-ttl=60000",
            "--arg", "x-single-active-consumer=true")
    st, info = mgmt.api("GET", "/api/queues/%s/%s" % (q("/"), q(name)))
    assert st == 200, info
    assert info["durable"] is False and info["auto_delete"] is True
    assert info["arguments"] == {"x-message-ttl": 60000, "x-single-active-consumer": True}
    assert mgmt.ok("publish", "--key", name, "--body", "hi").text().strip() == "routed"
    assert mgmt.ok("get", name).out == b"hi\n"
    mgmt.ok("delete", "queue", name)


@pytest.mark.time_limit(60)
def test_list_queues_pages(mgmt):
    prefix = uid("page")
    names = ["%s-%d" % (prefix, i) for i in range(5)]
    for n in names:
        mgmt.later("/api/queues/%s/%s" % (q("/"), q(n)))
        mgmt.ok("declare", "queue", n)
    r = mgmt.ok("list", "queues", "--filter", "^" + re.escape(prefix), "--page-size", "2")
    hdr, rows = table(r)
    assert sorted(row[0] for row in rows) == names, r
    j = json.loads(mgmt.ok("list", "queues", "--filter", "^" + re.escape(prefix),
                           "--page-size", "2", "--json").out)
    assert sorted(x["name"] for x in j) == names


# ---------------------------------------------------------------- publish

def test_publish_not_routed(mgmt):
    r = mgmt.run("publish", "--key", uid("nobody"), "--body", "lost")
    assert r.rc == 3 and r.text().strip() == "not routed", r
    r = mgmt.run("publish", "--exchange", "amq.direct", "--key", uid("nobody"), "--body", "x")
    assert r.rc == 3, r
    r = mgmt.run("publish", "--key", "k", "--body", "x", "--json")
    assert r.rc == 3 and json.loads(r.out) == {"routed": False}, r
    x = uid("nox")
    r = mgmt.run("publish", "--exchange", x, "--key", "k", "--body", "x")
    assert r.rc == 1 and b"404" in r.err and x.encode() in r.err, r


def test_publish_file_properties_and_headers(mgmt, tmp_path):
    name = mgmt.queue()
    mgmt.ok("declare", "queue", name)
    blob = bytes([0, 1, 2, 255, 254, 10, 13]) + b"tail"
    f = tmp_path / "blob.bin"
    f.write_bytes(blob)
    mgmt.ok("publish", "--key", name, "--file", str(f))
    assert mgmt.ok("get", name).out == blob + b"\n"

    mgmt.ok("publish", "--key", name, "--file", "-", input="from stdin ☃".encode())
    assert mgmt.ok("get", name).out == "from stdin ☃\n".encode()

    mgmt.ok("publish", "--key", name, "--body", "{}", "--persistent", "--header", "n=7",
            "--header", "flag=true", "--header", "s=text", "--property",
            "content_type=application/json", "--property", "message_id=m-1",
            "--property", "priority=3")
    got = json.loads(mgmt.ok("get", name, "--json").out)
    p = got[0]["properties"]
    assert p["delivery_mode"] == 2 and p["content_type"] == "application/json"
    assert p["message_id"] == "m-1" and p["priority"] == 3
    assert p["headers"] == {"n": 7, "flag": True, "s": "text"}

    r = mgmt.run("publish", "--key", name, "--body", "x", "--property", "colour=red")
    assert r.rc == 2 and b"--property" in r.err, r


# ---------------------------------------------------------------- exchanges

def test_exchange_and_bindings(mgmt):
    x, x2 = uid("x"), uid("x2")
    name = mgmt.queue()
    mgmt.later("/api/exchanges/%s/%s" % (q("/"), q(x)))
    mgmt.later("/api/exchanges/%s/%s" % (q("/"), q(x2)))
    mgmt.ok("declare", "queue", name)
    mgmt.ok("declare", "exchange", x, "--type", "topic", "--durable")
    st, info = mgmt.api("GET", "/api/exchanges/%s/%s" % (q("/"), q(x)))
    assert st == 200 and info["type"] == "topic" and info["durable"] is True
    mgmt.ok("declare", "exchange", x2, "--type", "fanout", "--internal")
    assert mgmt.api("GET", "/api/exchanges/%s/%s" % (q("/"), q(x2)))[1]["internal"] is True

    mgmt.ok("declare", "binding", x, name, "--key", "a.*")
    mgmt.ok("declare", "binding", x, x2, "--key", "b.#", "--dest-type", "exchange")
    st, bs = mgmt.api("GET", "/api/bindings/%s/e/%s/q/%s" % (q("/"), q(x), q(name)))
    assert [b["routing_key"] for b in bs] == ["a.*"]
    st, bs = mgmt.api("GET", "/api/bindings/%s/e/%s/e/%s" % (q("/"), q(x), q(x2)))
    assert [b["routing_key"] for b in bs] == ["b.#"]
    hdr, rows = table(mgmt.ok("list", "bindings"))
    assert [x, name, "queue", "a.*"] in [row[:4] for row in rows]

    hdr, rows = table(mgmt.ok("list", "exchanges", "--filter", "^" + re.escape(x) + "$"))
    assert rows and rows[0][:3] == [x, "topic", "true"]

    assert mgmt.ok("publish", "--exchange", x, "--key", "a.b", "--body", "1").text() == "routed\n"
    r = mgmt.run("publish", "--exchange", x, "--key", "c.d", "--body", "2")
    assert r.rc == 3, r
    assert mgmt.ok("get", name).out == b"1\n"

    mgmt.ok("delete", "binding", x, name, "--key", "a.*")
    r = mgmt.run("publish", "--exchange", x, "--key", "a.b", "--body", "3")
    assert r.rc == 3, r
    r = mgmt.run("delete", "binding", x, name, "--key", "a.*")
    assert r.rc == 1, r

    r = mgmt.run("declare", "binding", x, uid("noq"))
    assert r.rc == 1 and b"404" in r.err, r

    mgmt.ok("delete", "exchange", x)
    assert mgmt.api("GET", "/api/exchanges/%s/%s" % (q("/"), q(x)))[0] == 404
    r = mgmt.run("delete", "exchange", x)
    assert r.rc == 1 and b"404" in r.err and x.encode() in r.err, r


# ---------------------------------------------------------------- listings

@pytest.mark.parametrize("kind, header", [
    ("queues", "name"), ("exchanges", "name"), ("bindings", "source"),
    ("connections", "name"), ("channels", "name"), ("consumers", "queue"),
    ("users", "name"), ("vhosts", "name"), ("permissions", "user"), ("policies", "name")])
def test_list_every_kind(mgmt, kind, header):
    r = mgmt.ok("list", kind)
    hdr, rows = table(r)
    assert hdr[0] == header, r
    j = json.loads(mgmt.ok("list", kind, "--json").out)
    assert isinstance(j, list)
    if kind == "exchanges":
        assert "amq.direct" in [row[0] for row in rows]
    if kind == "users":
        assert mgmt.user in [row[0] for row in rows]
    if kind == "vhosts":
        assert "/" in [row[0] for row in rows]
    if kind == "permissions":
        assert mgmt.user in [row[0] for row in rows]


# ---------------------------------------------------------------- definitions

def _vhost_objects(defs, vhost):
    keep = {}
    keep["vhosts"] = [v for v in defs.get("vhosts", []) if v["name"] == vhost]
    for kind in ("permissions", "queues", "exchanges", "bindings", "policies"):
        keep[kind] = [o for o in defs.get(kind, []) if o.get("vhost") == vhost]
    return keep


@pytest.mark.time_limit(60)
def test_export_import_round_trip(mgmt, tmp_path):
    vh = uid("vh")
    mgmt.later("/api/vhosts/%s" % q(vh))
    mgmt.ok("declare", "vhost", vh)
    mgmt.ok("-V", vh, "set-permissions", mgmt.user, ".*", ".*", ".*")
    mgmt.ok("-V", vh, "declare", "queue", "orders", "--durable", "--arg", "x-max-length=10")
    mgmt.ok("-V", vh, "declare", "exchange", "shop", "--type", "direct", "--durable")
    mgmt.ok("-V", vh, "declare", "binding", "shop", "orders", "--key", "new")

    f = tmp_path / "all.json"
    r = mgmt.ok("export", str(f))
    assert str(f) in r.text()
    defs = json.loads(f.read_text())
    mine = _vhost_objects(defs, vh)
    assert [v["name"] for v in mine["vhosts"]] == [vh]
    assert [(x["name"], x["arguments"]) for x in mine["queues"]] == [("orders",
                                                                     {"x-max-length": 10})]
    assert [x["name"] for x in mine["exchanges"]] == ["shop"]
    assert [(b["source"], b["destination"], b["routing_key"]) for b in mine["bindings"]] == \
        [("shop", "orders", "new")]
    assert json.loads(mgmt.ok("export", "-").out).keys() >= {"queues", "exchanges", "users"}

    # remove the vhost, import what the export said of it, and it is all back
    mgmt.ok("delete", "vhost", vh)
    assert mgmt.api("GET", "/api/vhosts/%s" % q(vh))[0] == 404
    part = tmp_path / "vh.json"
    part.write_text(json.dumps(mine))
    mgmt.ok("import", str(part))
    st, info = mgmt.api("GET", "/api/queues/%s/orders" % q(vh))
    assert st == 200 and info["durable"] and info["arguments"] == {"x-max-length": 10}
    assert mgmt.api("GET", "/api/exchanges/%s/shop" % q(vh))[1]["type"] == "direct"
    st, bs = mgmt.api("GET", "/api/bindings/%s/e/shop/q/orders" % q(vh))
    assert [b["routing_key"] for b in bs] == ["new"]
    assert mgmt.ok("-V", vh, "publish", "--exchange", "shop", "--key", "new",
                   "--body", "o1").text() == "routed\n"

    # one vhost's definitions (no vhost names in them) into a fresh vhost
    one = tmp_path / "one.json"
    mgmt.ok("-V", vh, "export", str(one), "--vhost-only")
    assert [x["name"] for x in json.loads(one.read_text())["queues"]] == ["orders"]
    vh2 = uid("vh2")
    mgmt.later("/api/vhosts/%s" % q(vh2))
    mgmt.ok("declare", "vhost", vh2)
    mgmt.ok("-V", vh2, "set-permissions", mgmt.user, ".*", ".*", ".*")
    mgmt.ok("-V", vh2, "import", str(one), "--vhost-only")
    assert mgmt.api("GET", "/api/queues/%s/orders" % q(vh2))[0] == 200
    st, bs = mgmt.api("GET", "/api/bindings/%s/e/shop/q/orders" % q(vh2))
    assert [b["routing_key"] for b in bs] == ["new"]
    mgmt.ok("delete", "vhost", vh2)
    mgmt.ok("delete", "vhost", vh)


def test_import_refusals(mgmt, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"queues": [\n  {"name": "x",}\n]}')
    r = mgmt.run("import", str(bad))
    assert r.rc == 2 and ("%s:2:" % bad).encode() in r.err, r
    r = mgmt.run("import", str(tmp_path / "missing.json"))
    assert r.rc == 2 and b"No such file" in r.err, r
    novh = tmp_path / "novh.json"
    novh.write_text(json.dumps({"queues": [{"name": "q", "vhost": uid("novh"), "durable": True,
                                            "auto_delete": False, "arguments": {}}]}))
    r = mgmt.run("import", str(novh))
    assert r.rc == 1 and b"400" in r.err, r


# ---------------------------------------------------------------- users

def test_users_and_permissions(mgmt):
    user = uid("user")
    mgmt.later("/api/users/%s" % q(user))
    r = mgmt.ok("add-user", user, "s3cret", "--tags", "management,policymaker")
    assert user in r.text()
    st, info = mgmt.api("GET", "/api/users/%s" % q(user))
    assert st == 200
    tags = info["tags"] if isinstance(info["tags"], list) else info["tags"].split(",")
    assert sorted(tags) == ["management", "policymaker"]

    mgmt.ok("set-permissions", user, "^ternctl-", ".*", "")
    st, p = mgmt.api("GET", "/api/permissions/%s/%s" % (q("/"), q(user)))
    assert st == 200
    assert (p["configure"], p["write"], p["read"]) == ("^ternctl-", ".*", "")

    row = row_of(mgmt.ok("users"), user)
    assert row and sorted(row["tags"].split(",")) == ["management", "policymaker"], row
    assert row_of(mgmt.ok("list", "permissions"), user)["configure"] == "^ternctl-"

    # the new user logs in; a wrong password is refused with status 5
    r = mgmt.run("-u", user, "-p", "s3cret", "list", "queues", creds=False)
    assert r.rc == 0, r
    r = mgmt.run("-u", user, "-p", "wrong", "list", "queues", creds=False)
    assert r.rc == 5 and b"--user/--password" in r.err, r

    # password from stdin; a changed password takes effect
    mgmt.ok("add-user", user, "-", "--tags", "management", input=b"n3w\n")
    assert mgmt.run("-u", user, "-p", "n3w", "status", creds=False).rc == 0
    assert mgmt.run("-u", user, "-p", "s3cret", "status", creds=False).rc == 5

    mgmt.ok("delete-user", user)
    assert mgmt.api("GET", "/api/users/%s" % q(user))[0] == 404
    r = mgmt.run("delete-user", user)
    assert r.rc == 1 and b"404" in r.err and user.encode() in r.err, r
    r = mgmt.run("set-permissions", user, ".*", ".*", ".*")
    assert r.rc == 1, r


# ---------------------------------------------------------------- errors

def test_unknown_queue_prints_the_reason(mgmt):
    name = uid("missing")
    for args in (["get", name], ["purge", name], ["delete", "queue", name]):
        r = mgmt.run(*args)
        assert r.rc == 1, (args, r)
        err = r.err.decode()
        assert err.startswith("ternctl: 404 Not Found: "), err
        assert "'%s'" % name in err and "vhost '/'" in err, err


def test_wrong_password_exit_5(mgmt):
    r = mgmt.run("-u", mgmt.user, "-p", "not-" + mgmt.password, "status", creds=False)
    assert r.rc == 5, r
    assert b"401" in r.err and b"check --user/--password" in r.err, r
    r = mgmt.run("-u", uid("nobody"), "-p", "x", "list", "queues", creds=False)
    assert r.rc == 5, r


def test_nobody_listening_exit_4(mgmt):
    url = "http://127.0.0.1:%d" % free_port()
    r = mgmt.run("--url", url, "status", url=False)
    assert r.rc == 4, r
    err = r.err.decode()
    assert url in err and "Connection refused" in err, err
    assert "management.tcp.port" in err, err
    r = mgmt.run("--url", "http://nonexistent.invalid:15672", "status", url=False)
    assert r.rc == 4, r


@pytest.mark.parametrize("args, says", [
    ([], "usage: ternctl"),
    (["frobnicate"], "unknown command 'frobnicate'"),
    (["list"], "list what?"),
    (["list", "widgets"], "cannot list 'widgets'"),
    (["list", "users", "--filter", "x"], "--filter works with"),
    (["declare", "queue"], "declare queue wants one NAME"),
    (["declare", "queue", "q", "--key", "k"], "--key does not apply"),
    (["declare", "queue", "q", "--arg", "novalue"], "--arg wants KEY=VALUE"),
    (["declare", "exchange", "x"], "declare exchange wants --type"),
    (["declare", "binding", "x"], "declare binding wants SOURCE"),
    (["declare", "binding", "x", "q", "--dest-type", "topic"], "--dest-type is queue or exchange"),
    (["declare", "thing", "x"], "cannot declare 'thing'"),
    (["delete", "queue"], "delete queue wants one NAME"),
    (["publish", "--body", "x"], "publish wants --key"),
    (["publish", "--key", "k"], "one of --body TEXT or --file FILE"),
    (["publish", "--key", "k", "--body", "x", "--file", "f"], "one of --body"),
    (["get", "q", "--count", "zero"], "--count wants a whole number"),
    (["get", "q", "--count"], "option '--count' needs a value"),
    (["get"], "get wants one queue name"),
    (["browse", "q", "--offset", "-1"], "--offset wants a whole number"),
    (["move", "q"], "move wants a queue and a destination"),
    (["export"], "export wants one FILE"),
    (["add-user", "u"], "add-user wants a NAME and a PASSWORD"),
    (["set-permissions", "u", ".*"], "set-permissions wants USER and three patterns"),
    (["status", "--bogus"], "unknown option '--bogus'"),
    (["--timeout", "0", "status"], "--timeout wants a whole number"),
    (["--url", "https://127.0.0.1:15671", "status"], "only http:// is supported"),
])
def test_bad_usage_exit_2(mgmt, args, says):
    r = mgmt.run(*args)
    assert r.rc == 2, (args, r)
    err = r.err.decode()
    assert says in err, err
    if args and args[0] in ("declare", "publish", "get", "list", "move") and "--url" not in args:
        assert "usage: ternctl " + args[0] in err, err


def test_help_and_version(mgmt):
    r = mgmt.ok("--help", url=False, creds=False)
    out = r.text()
    for c in ("status", "list", "declare", "delete", "purge", "publish", "get", "browse",
              "move", "export", "import", "users", "add-user", "delete-user",
              "set-permissions"):
        assert re.search(r"^  %s\s" % re.escape(c), out, re.M), (c, out)
    for c in ("declare", "publish", "get", "list", "browse", "move", "export"):
        r = mgmt.ok(c, "--help", url=False, creds=False)
        assert r.text().startswith("usage: ternctl " + c), r
    assert mgmt.ok("help", "purge", url=False, creds=False).text().startswith(
        "usage: ternctl purge")
    assert re.match(r"ternctl \d+\.\d+", mgmt.ok("--version", url=False, creds=False).text())


# ---------------------------------------------------------------- Tern only

def test_browse_move_missing_is_explained(mgmt):
    """On a broker without /api/tern (RabbitMQ) both say so and exit 1."""
    name = mgmt.queue()
    mgmt.ok("declare", "queue", name)
    if not tern_api_missing(mgmt, name):
        pytest.skip("this broker has /api/tern")
    r = mgmt.run("browse", name)
    assert r.rc == 1 and b"this broker has no message browsing (Tern only)" in r.err, r
    r = mgmt.run("move", name, uid("dest"))
    assert r.rc == 1 and b"(Tern only)" in r.err, r
    # a queue that does not exist is still that
    r = mgmt.run("browse", uid("nosuch"))
    assert r.rc == 1 and b"404" in r.err, r


def test_browse_and_move(mgmt):
    name, dest = mgmt.queue(), mgmt.queue()
    mgmt.ok("declare", "queue", name)
    mgmt.ok("declare", "queue", dest)
    if tern_api_missing(mgmt, name):
        pytest.skip("the broker has no /api/tern (RabbitMQ): browse and move are Tern only")
    for i in range(5):
        mgmt.ok("publish", "--key", name, "--body", "m%d" % i)

    j = json.loads(mgmt.ok("browse", name, "--offset", "1", "--count", "2", "--json").out)
    assert j["total"] == 5 and j["offset"] == 1, j
    msgs = j["messages"]
    assert [m["payload"] for m in msgs] == ["m1", "m2"], j
    for m in msgs:
        assert {"position", "id", "routing_key", "payload", "payload_encoding",
                "payload_bytes", "properties"} <= set(m), m
        assert m["routing_key"] == name and m["payload_bytes"] == 2
        assert m["payload_encoding"] == "string"
    assert msgs[0]["position"] < msgs[1]["position"]
    r = mgmt.ok("browse", name)
    out = r.text()
    for i in range(5):
        assert "m%d" % i in out, out
    assert "of 5" in out, out

    # browsing took nothing: move 2, then 3 stay in order
    r = mgmt.ok("move", name, dest, "--count", "2")
    assert "moved 2" in r.text(), r
    assert mgmt.ok("get", dest, "--count", "10").out == b"m0\nm1\n"
    j = json.loads(mgmt.ok("move", name, dest, "--count", "3", "--json").out)
    assert j == {"moved": 3}, j
    assert mgmt.ok("get", dest, "--count", "10").out == b"m2\nm3\nm4\n"
    assert json.loads(mgmt.ok("browse", name, "--json").out)["total"] == 0

    r = mgmt.run("browse", uid("nosuch"))
    assert r.rc == 1 and b"404" in r.err, r
    mgmt.ok("publish", "--key", name, "--body", "x")
    r = mgmt.run("move", name, uid("nosuch"))
    assert r.rc == 1, r
