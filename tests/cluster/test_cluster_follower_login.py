"""A follower's management API checks logins as the leader's does, against
the users its store holds (replicated from the leader; docs/clustering.md
8): no credentials, a wrong password or an unknown user is 401; a user
without a management tag is 401 "Not management user"; the route's tag is
checked (a management user may not read /api/nodes, a monitoring user may);
a user created on the leader logs in on the follower, and one deleted there
or given a new password stops working with the old one within the time the
follower takes to apply the entry (polled, never timed).

Checked on RabbitMQ 3.10.8 (127.0.0.1:15672): GET /api/overview without
credentials is 401 with an empty body and `WWW-Authenticate: Basic
realm="RabbitMQ Management"`; a wrong password or an unknown user is 401
{"error":"not_authorized","reason":"Login failed"} with the same header; the
tag refusals ("Not management user", "Not monitor user" for /api/nodes)
are test_api_basics.py's, which pass against that node. RabbitMQ's nodes
all hold the users, so there is nothing cluster-specific to compare: the
expectation is simply that every node answers as one node does.

AMQP logins are checked on a follower too, before the 320 that names the
leader: a wrong password is 403 ACCESS_REFUSED with the text a single node
(and RabbitMQ 3.10.8) sends, "Login was refused using authentication
mechanism PLAIN. For details see the broker logfile."; a right one, and a
user the follower's copy does not hold yet, go on to the 320 (a client
told 403 gives up; one told 320 goes to the leader)."""
import base64
import hashlib
import json
import urllib.error
import urllib.request

import pytest

from support.cluster import Cluster, wait_for

REALM = 'Basic realm="RabbitMQ Management"'
LOGIN_FAILED = {"error": "not_authorized", "reason": "Login failed"}


def http(node, method, path, body=None, auth=("guest", "guest")):
    """(status, headers, JSON body or None); auth None sends no credentials."""
    req = urllib.request.Request("http://127.0.0.1:%d/api/%s" % (node.mgmt, path), method=method,
                                 data=json.dumps(body).encode() if body is not None else None)
    req.add_header("Content-Type", "application/json")
    if auth is not None:
        req.add_header("Authorization",
                       "Basic " + base64.b64encode(("%s:%s" % auth).encode()).decode())
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            data = r.read()
            return r.status, r.headers, json.loads(data) if data else None
    except urllib.error.HTTPError as e:
        data = e.read()
        return e.code, e.headers, json.loads(data) if data else None


def a_follower(cluster):
    leader = cluster.wait_leader()
    f = [n for n in cluster.nodes if n is not leader][0]
    # me() logs in as guest: true once the leader's first boot (guest) is applied here
    wait_for(lambda: f.me()["state"] == "follower", "node %d a follower" % f.id)
    return leader, f


def make_user(leader, name, password, tags):
    status, _, body = http(leader, "PUT", "users/" + name, {"password": password, "tags": tags})
    assert status in (201, 204), (status, body)


def whoami(node, auth):
    """The follower's /api/whoami as auth, once it answers 200 (the user's
    entry may not be applied here yet)."""
    def get():
        status, _, body = http(node, "GET", "whoami", auth=auth)
        return body if status == 200 else None
    return wait_for(get, "%s logging in on node %d" % (auth[0], node.id))


def test_follower_refuses_without_a_valid_login(cluster):
    leader, f = a_follower(cluster)
    status, headers, body = http(f, "GET", "overview", auth=None)
    assert status == 401 and body is None, (status, body)
    assert headers["WWW-Authenticate"] == REALM
    for auth in (("guest", "wrong"), ("nobody", "guest")):
        status, headers, body = http(f, "GET", "overview", auth=auth)
        assert (status, body) == (401, LOGIN_FAILED), auth
        assert headers["WWW-Authenticate"] == REALM
    # a write is refused for the login first, as the leader would, not with the 405
    status, _, body = http(f, "PUT", "queues/%2F/q", {"durable": True}, auth=None)
    assert status == 401, (status, body)
    status, _, body = http(f, "GET", "nodes", auth=("guest", "wrong"))
    assert (status, body) == (401, LOGIN_FAILED)
    # a name that is not UTF-8 (no stored user can have it) is a failed login too
    req = urllib.request.Request("http://127.0.0.1:%d/api/overview" % f.mgmt)
    req.add_header("Authorization", "Basic " + base64.b64encode(b"\xff\xfe:guest").decode())
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=5)
    assert (e.value.code, json.loads(e.value.read())) == (401, LOGIN_FAILED)
    # guest, as the leader's first boot stored it, is who it says
    assert whoami(f, ("guest", "guest")) == {"name": "guest", "tags": ["administrator"]}


def test_follower_checks_tags_as_the_leader(cluster):
    leader, f = a_follower(cluster)
    make_user(leader, "mon", "pw-mon", "monitoring")
    make_user(leader, "mgmt", "pw-mgmt", "management")
    make_user(leader, "plain", "pw-plain", "")
    assert whoami(f, ("mon", "pw-mon")) == {"name": "mon", "tags": ["monitoring"]}
    # the right password reads the route its tag allows; a wrong one does not
    status, _, body = http(f, "GET", "nodes", auth=("mon", "pw-mon"))
    assert sorted(n["id"] for n in body) == [1, 2, 3], body
    assert [status, http(f, "GET", "nodes", auth=("mon", "pw-mgmt"))[0]] == [200, 401]
    assert whoami(f, ("mgmt", "pw-mgmt")) == {"name": "mgmt", "tags": ["management"]}
    assert [http(f, "GET", "overview", auth=("mgmt", pw))[0] for pw in ("pw-mgmt", "pw-mon")] \
        == [200, 401]
    status, _, body = http(f, "GET", "nodes", auth=("mgmt", "pw-mgmt"))
    assert (status, body) == (401, {"error": "not_authorised", "reason": "Not monitor user"})
    status, _, body = http(f, "GET", "users", auth=("mgmt", "pw-mgmt"))
    assert (status, body) == (401, {"error": "not_authorised",
                                    "reason": "Not administrator user"})
    # no tags: the password is right, but no management: the leader's answer
    # (until the follower has applied plain's entry, a failed login)
    plain = lambda: http(f, "GET", "overview", auth=("plain", "pw-plain"))  # noqa: E731
    status, headers, body = wait_for(lambda: (lambda r: r[2] != LOGIN_FAILED and r)(plain()),
                                     "plain's entry applied on the follower")
    assert (status, body, "WWW-Authenticate" in headers) == \
        (401, {"error": "not_authorised", "reason": "Not management user"}, False)


def test_user_deleted_or_changed_on_the_leader_stops_working_on_the_follower(cluster):
    leader, f = a_follower(cluster)
    make_user(leader, "carol", "pw1", "administrator")
    make_user(leader, "dave", "pw1", "monitoring")
    assert whoami(f, ("carol", "pw1"))["name"] == "carol"
    assert whoami(f, ("dave", "pw1"))["name"] == "dave"
    status, _, body = http(leader, "DELETE", "users/carol")
    assert status == 204, (status, body)
    make_user(leader, "dave", "pw2", "monitoring")
    wait_for(lambda: http(f, "GET", "overview", auth=("carol", "pw1"))[2] == LOGIN_FAILED,
             "carol refused on the follower after her deletion")
    wait_for(lambda: http(f, "GET", "overview", auth=("dave", "pw1"))[2] == LOGIN_FAILED,
             "dave's old password refused on the follower")
    assert whoami(f, ("dave", "pw2"))["name"] == "dave"
    # the other follower too
    other = [n for n in cluster.nodes if n is not leader and n is not f][0]
    wait_for(lambda: http(other, "GET", "overview", auth=("carol", "pw1"))[2] == LOGIN_FAILED,
             "carol refused on the other follower")


def amqp_refusal(node, user, password):
    return node.refusal((user, password))


REFUSED = "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. " \
    "For details see the broker logfile."


def test_follower_checks_amqp_logins_before_naming_the_leader(cluster):
    leader, f = a_follower(cluster)
    make_user(leader, "erin", "pw1", "management")
    assert whoami(f, ("erin", "pw1"))["name"] == "erin"  # her entry is applied on f
    code, text = amqp_refusal(f, "erin", "pw1")
    assert code == 320 and "NOT_LEADER" in text and leader.amqp_address in text, (code, text)
    assert amqp_refusal(f, "erin", "wrong") == (403, REFUSED)
    assert amqp_refusal(f, "guest", "wrong") == (403, REFUSED)
    # the leader answers the same wrong password with the same 403
    assert amqp_refusal(leader, "erin", "wrong") == (403, REFUSED)
    # a user this copy does not hold (it may be behind the leader) is sent on
    code, text = amqp_refusal(f, "nobody-here", "x")
    assert code == 320 and leader.amqp_address in text, (code, text)
    # a new password on the leader: the old one is refused here once applied
    make_user(leader, "erin", "pw2", "management")
    wait_for(lambda: amqp_refusal(f, "erin", "pw1")[0] == 403,
             "erin's old password refused on the follower")
    assert amqp_refusal(f, "erin", "pw2")[0] == 320
    assert "invalid credentials" in f.log()


def test_member_that_never_had_a_leader_takes_its_default_user(tmp_path):
    c = Cluster(str(tmp_path / "c"), extra=["default_user = boss", "default_pass = hunter2"],
                auth=("boss", "hunter2"))
    alone = c.node(1)
    alone.start()  # one of three: no majority, no leader
    try:
        def nodes():
            status, _, body = http(alone, "GET", "nodes", auth=("boss", "hunter2"))
            return body if status == 200 else None
        me = [n for n in wait_for(nodes, "node 1's /api/nodes") if n["self"]][0]
        assert me["state"] != "leader" and not any(n["leader"] for n in nodes()), me
        for auth in (("boss", "wrong"), ("guest", "guest"), ("nobody", "hunter2")):
            assert http(alone, "GET", "nodes", auth=auth)[:3:2] == (401, LOGIN_FAILED), auth
        assert amqp_refusal(alone, "boss", "wrong") == (403, REFUSED)
        code, text = amqp_refusal(alone, "boss", "hunter2")
        assert (code, "no leader elected yet" in text) == (320, True), (code, text)
        # once a leader's first boot is applied here, the stored users decide
        for nd in c.nodes[1:]:
            nd.start()
        leader = c.wait_leader()
        boss = ("boss", "hunter2")
        assert http(leader, "PUT", "users/frank", {"password": "pw", "tags": "monitoring"},
                    auth=boss)[0] == 201
        assert whoami(alone, ("frank", "pw"))["name"] == "frank"
        assert http(leader, "PUT", "users/boss", {"password": "changed", "tags": "administrator"},
                    auth=boss)[0] == 204
        assert whoami(alone, ("boss", "changed"))["name"] == "boss"
        assert http(alone, "GET", "nodes", auth=("boss", "hunter2"))[:3:2] == (401, LOGIN_FAILED)
    finally:
        bad = c.stop()
    assert not bad, bad


def rabbit_hash(password, salt=b"\x01\x02\x03\x04"):
    """RabbitMQ's rabbit_password_hashing_sha256: base64(salt ++ sha256(salt ++ pw))."""
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode()).digest()).decode()


def test_follower_accepts_the_users_of_config_and_definitions(tmp_path):
    """default_user / default_pass and a load_definitions file: what the
    leader created from them (and stored) logs in on a follower; the
    defaults that were not used (guest) do not."""
    defs = tmp_path / "defs.json"
    defs.write_text(json.dumps({
        "users": [{"name": "admin", "password_hash": rabbit_hash("s3cret"),
                   "hashing_algorithm": "rabbit_password_hashing_sha256",
                   "tags": ["administrator"]},
                  {"name": "watcher", "password_hash": rabbit_hash("w"),
                   "hashing_algorithm": "rabbit_password_hashing_sha256",
                   "tags": "monitoring"}],
        "vhosts": [{"name": "/"}],
        "permissions": [{"user": "admin", "vhost": "/", "configure": ".*", "write": ".*",
                         "read": ".*"}]}))
    c = Cluster(str(tmp_path / "c"), extra=["load_definitions = %s" % defs],
                auth=("admin", "s3cret"))
    c.start()
    try:
        leader, f = a_follower(c)
        assert whoami(f, ("watcher", "w")) == {"name": "watcher", "tags": ["monitoring"]}
        # with load_definitions the leader creates no default user (RabbitMQ's rule)
        assert http(leader, "GET", "overview")[2] == LOGIN_FAILED
        assert http(f, "GET", "overview")[2] == LOGIN_FAILED
    finally:
        bad = c.stop()
    assert not bad, bad
    c = Cluster(str(tmp_path / "d"), extra=["default_user = boss", "default_pass = hunter2"],
                auth=("boss", "hunter2"))
    c.start()
    try:
        leader, f = a_follower(c)
        assert whoami(f, ("boss", "hunter2")) == {"name": "boss", "tags": ["administrator"]}
        assert http(f, "GET", "overview", auth=("guest", "guest"))[2] == LOGIN_FAILED
        assert http(f, "GET", "overview", auth=("boss", "guest"))[2] == LOGIN_FAILED
    finally:
        bad = c.stop()
    assert not bad, bad
