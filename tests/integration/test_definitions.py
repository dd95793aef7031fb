"""Definitions files: the "shop" topology RabbitMQ 3.10.8 exported
(tests/data/definitions/rabbitmq-3.10-shop.json, made by make-shop.sh
beside it), import semantics, and Tern's boot / SIGHUP / prune / dry-run.

The shop file is loaded unchanged: Tern boots from it; RabbitMQ imports it
(POST /api/definitions; a no-op where make-shop.sh already ran). Its
plaintext passwords: admin admin-secret-1 (sha256, administrator),
orders-svc orders-pw-2 (sha256; limits max-connections 10, max-channels
20), monitor monitor-pw-3 (sha512, monitoring), reader reader-pw-4, guest
guest. It is one line of JSON, as RabbitMQ writes it: "tags" a list,
"hashing_algorithm" per user, "limits" per user ({} when none), vhosts as
{"name"} only, vhost limits and operator policies in "parameters"
(components "vhost-limits" and "operator_policy"), policies with
"apply-to" and "priority", and "global_parameters" (internal_cluster_id).

Observed on RabbitMQ 3.10.8 and expected of both:
  * re-importing updates a user's password (the old one is refused) and
    permissions (a new channel of an open connection gets them); an
    existing queue or exchange whose properties differ is left as it was
    (redeclaring it with the new ones: 406 "PRECONDITION_FAILED -
    inequivalent arg 'x-max-length' for queue 'q' in vhost 'v': received
    '7' but current is '5'"; "... inequivalent arg 'type' for exchange 'x'
    in vhost 'v': received 'fanout' but current is 'direct'").
  * a user with "tags" as a comma-separated string and no
    "hashing_algorithm" (older exports) logs in (sha256).
  * publishing to an internal exchange: 403 "ACCESS_REFUSED - cannot
    publish to internal exchange 'orders.internal' in vhost 'shop'".
Tern only (RabbitMQ has no such thing): exit status 2 and FILE:LINE:COL
(jansson's) for malformed JSON at boot; semantic errors name the object and
the field; SIGHUP re-applies (log `definitions: applied ...`) or changes
nothing (`... nothing applied`); definitions.prune; --dry-run; a directory
of *.json files applied in name order.
"""
import json
import os
import time

import pika
import pytest

from support import defs as D
from support.broker import REPO_ROOT
from support.defs import channel_closed
from support.helpers import drain, queue_counts, sync, wait_for

SHOP_PATH = os.path.join(REPO_ROOT, "tests", "data", "definitions", "rabbitmq-3.10-shop.json")
PASSWORDS = {"admin": "admin-secret-1", "orders-svc": "orders-pw-2",
             "monitor": "monitor-pw-3", "reader": "reader-pw-4", "guest": "guest"}

tern_only = pytest.mark.tern_only


def shop_text():
    with open(SHOP_PATH) as f:
        return f.read()


@pytest.fixture
def shop(defs_broker):
    d = defs_broker()
    d.load(shop_text())
    d.spec = json.loads(shop_text())
    conns = []

    def connect(user, vhost):
        c = d.connect(user, PASSWORDS[user], vhost)
        conns.append(c)
        return c
    d.as_user = connect
    yield d
    for c in conns:
        try:
            c.close()
        except Exception:
            pass


def purge(ch, *queues):
    for q in queues:
        ch.queue_purge(q)


# ------------------------------------------------------------------ the shop file

def test_shop_every_exchange_and_queue_exists_as_exported(shop):
    for x in shop.spec["exchanges"]:
        ch = shop.as_user("admin", x["vhost"]).channel()
        ch.exchange_declare(x["name"], passive=True)
        # equivalent redeclare: type, flags and arguments are as exported
        ch.exchange_declare(x["name"], x["type"], durable=x["durable"],
                            auto_delete=x["auto_delete"], internal=x["internal"],
                            arguments=x["arguments"] or None)
    for q in shop.spec["queues"]:
        ch = shop.as_user("admin", q["vhost"]).channel()
        ch.queue_declare(q["name"], passive=True)
        ch.queue_declare(q["name"], durable=q["durable"], auto_delete=q["auto_delete"],
                         arguments=q["arguments"] or None)
    ch = shop.as_user("admin", "shop").channel()
    with channel_closed(406, "PRECONDITION_FAILED - inequivalent arg 'x-max-priority' for "
                        "queue 'orders.priority' in vhost 'shop': received '5' but current "
                        "is '10'"):
        ch.queue_declare("orders.priority", durable=True, arguments={"x-max-priority": 5})
    ch = shop.as_user("admin", "shop").channel()
    with channel_closed(406, "PRECONDITION_FAILED - inequivalent arg 'type' for exchange "
                        "'orders.events' in vhost 'shop': received 'fanout' but current "
                        "is 'topic'"):
        ch.exchange_declare("orders.events", "fanout", durable=True)


def test_shop_routing_end_to_end(shop):
    c = shop.as_user("admin", "shop")
    ch = c.channel()
    queues = [q["name"] for q in shop.spec["queues"] if q["vhost"] == "shop"]
    purge(ch, *queues)
    ch.basic_publish("orders.events", "orders.eu.created", b"created")   # + e2e -> fanout
    ch.basic_publish("orders.events", "orders.us.urgent", b"urgent")
    ch.basic_publish("orders.in", "capped", b"capped")
    ch.basic_publish("orders.in", "nowhere", b"to-ae")                    # alternate-exchange

    def hdr(h, body):
        ch.basic_publish("orders.headers", "", body, pika.BasicProperties(headers=h))
    hdr({"region": "eu", "kind": "order"}, b"eu")          # x-match all
    hdr({"region": "eu"}, b"half")                         # all: not enough -> dropped
    hdr({"tier": "vip"}, b"vip-tier")                      # x-match any
    hdr({"priority": 9}, b"vip-prio")
    sync(ch)
    expect = {"orders.created": [b"created"], "orders.audit": [b"created", b"urgent"],
              "orders.priority": [b"urgent"], "orders.capped": [b"capped"],
              "orders.unrouted": [b"to-ae"], "orders.eu": [b"eu"],
              "orders.vip": [b"vip-tier", b"vip-prio"]}
    assert wait_for(lambda: all(queue_counts(ch, q)[0] == len(v) for q, v in expect.items()),
                    c, timeout=5)
    assert {q: drain(ch, q) for q in expect} == expect
    # priority queue (x-max-priority 10): the higher priority comes first
    for p in (1, 9):
        ch.basic_publish("", "orders.priority", b"p%d" % p, pika.BasicProperties(priority=p))
    assert wait_for(lambda: queue_counts(ch, "orders.priority")[0] == 2, c)
    assert drain(ch, "orders.priority") == [b"p9", b"p1"]
    # x-dead-letter-exchange orders.dlx + x-dead-letter-routing-key orders.dead
    ch.basic_publish("orders.events", "orders.eu.created", b"rejected")
    assert wait_for(lambda: queue_counts(ch, "orders.created")[0] == 1, c)
    m, _, _ = ch.basic_get("orders.created", auto_ack=False)
    ch.basic_reject(m.delivery_tag, requeue=False)
    assert wait_for(lambda: queue_counts(ch, "orders.dead")[0] == 1, c)
    # policy orders-limits: dead-letter-exchange orders.dlx for orders.audit
    # too (no argument of its own); the original key orders.dead routes
    purge(ch, "orders.audit", "orders.dead")
    ch.basic_publish("orders.events", "orders.dead", b"audited")
    assert wait_for(lambda: queue_counts(ch, "orders.audit")[0] == 1, c)
    m, _, _ = ch.basic_get("orders.audit", auto_ack=False)
    ch.basic_reject(m.delivery_tag, requeue=False)
    assert wait_for(lambda: queue_counts(ch, "orders.dead")[0] == 1, c)
    purge(ch, *queues)
    with channel_closed(403, "ACCESS_REFUSED - cannot publish to internal exchange "
                        "'orders.internal' in vhost 'shop'"):
        ch.basic_publish("orders.internal", "k", b"x")
        sync(ch)
    bch = shop.as_user("admin", "billing").channel()
    bch.basic_publish("billing", "invoice", b"inv")
    assert wait_for(lambda: queue_counts(bch, "billing.invoices")[0] == 1, c)
    assert drain(bch, "billing.invoices") == [b"inv"]


def test_shop_users_log_in_with_their_passwords(shop):
    for user, vhost in [("admin", "/"), ("admin", "shop"), ("admin", "billing"),
                        ("orders-svc", "shop"), ("monitor", "/"), ("reader", "shop"),
                        ("guest", "/")]:
        assert shop.open_refusal(user, PASSWORDS[user], vhost) is None, (user, vhost)
    assert shop.open_refusal("admin", "orders-pw-2", "shop")[0] == 403
    assert shop.open_refusal("monitor", "monitor-pw-3", "shop") == (
        530, "NOT_ALLOWED - access to vhost 'shop' refused for user 'monitor'")
    assert shop.open_refusal("orders-svc", "orders-pw-2", "billing") == (
        530, "NOT_ALLOWED - access to vhost 'billing' refused for user 'orders-svc'")


def test_shop_permissions_as_written(shop):
    refused = "ACCESS_REFUSED - access to %s '%s' in vhost 'shop' refused for user '%s'"
    topic = ("ACCESS_REFUSED - access to topic '%s' in exchange 'orders.events' in vhost "
             "'shop' refused for user '%s'")
    svc = shop.as_user("orders-svc", "shop")
    ch = svc.channel()
    ch.queue_declare("orders.svc-tmp", exclusive=True)             # configure ^orders\.
    ch.queue_bind("orders.svc-tmp", "orders.events", "orders.eu.#")   # topic read ^orders\.
    ch.basic_publish("", "orders.svc-tmp", b"m")                     # write amq.default
    ch.basic_publish("orders.events", "orders-svc.note", b"m")       # topic ^{username}\.
    sync(ch)
    assert wait_for(lambda: queue_counts(ch, "orders.svc-tmp")[0] == 1, svc)
    assert ch.basic_get("orders.svc-tmp", auto_ack=True)[2] == b"m"
    for fn, text in [
            (lambda c: c.queue_declare("payments"), refused % ("queue", "payments", "orders-svc")),
            (lambda c: c.queue_bind("orders.svc-tmp", "orders.events", "eu.#"),
             topic % ("eu.#", "orders-svc")),
            (lambda c: (c.basic_publish("orders.events", "orders.eu.created", b"m"), sync(c)),
             topic % ("orders.eu.created", "orders-svc")),
            (lambda c: (c.basic_publish("amq.topic", "k", b"m"), sync(c)),
             refused % ("exchange", "amq.topic", "orders-svc"))]:
        ch = svc.channel()
        with channel_closed(403, text):
            fn(ch)
    rd = shop.as_user("reader", "shop")
    ch = rd.channel()
    ch.basic_get("orders.created")                                   # read .*
    ch.queue_declare("orders.created", passive=True)
    for fn, text in [
            (lambda c: (c.basic_publish("", "orders.created", b"m"), sync(c)),
             refused % ("exchange", "amq.default", "reader")),
            (lambda c: c.queue_declare("orders.mine"), refused % ("queue", "orders.mine", "reader")),
            (lambda c: c.queue_bind("orders.eu", "orders.events", "orders.eu.x"),
             refused % ("queue", "orders.eu", "reader"))]:
        ch = rd.channel()
        with channel_closed(403, text):
            fn(ch)


def test_shop_limits(shop):
    # billing: max-connections 10; orders-svc: max-channels 20
    for _ in range(10):
        shop.as_user("admin", "billing")
    time.sleep(0.3)          # RabbitMQ counts connections and channels asynchronously
    assert shop.open_refusal("admin", "admin-secret-1", "billing") == (
        530, "NOT_ALLOWED - access to vhost 'billing' refused for user 'admin': "
             "connection limit (10) is reached")
    svc = shop.as_user("orders-svc", "shop")
    for _ in range(20):
        svc.channel()
    time.sleep(0.3)
    with D.connection_closed(530, "NOT_ALLOWED - number of channels opened for user "
                             "'orders-svc' has reached the maximum allowed user limit of (20)"):
        svc.channel()


# ------------------------------------------------------------------ import semantics

def small(d, v, u, password, perm, qargs, xtype, tags=None):
    usr = D.user(u, password)
    if tags is not None:
        usr = {"name": u, "password_hash": D.password_hash(password), "tags": tags}
    return D.document(vhosts=[D.vhost(v)], users=[usr], permissions=[perm],
                      queues=[D.queue(v, "q", arguments=qargs)],
                      exchanges=[D.exchange(v, "x", xtype)])


def test_reimport_updates_users_and_permissions(defs_broker):
    d = defs_broker()
    v, u = d.name("imp"), d.name("iu")
    d.load(small(d, v, u, "old-pw", D.permission(u, v, "^$", "^$", ".*"), None, "direct"))
    old = d.connect(u, "old-pw", v)
    with channel_closed(403, "ACCESS_REFUSED - access to queue 'mine' in vhost '%s' refused "
                        "for user '%s'" % (v, u)):
        old.channel().queue_declare("mine")
    d.apply(small(d, v, u, "new-pw", D.permission(u, v), None, "direct"))
    assert d.open_refusal(u, "old-pw", v)[0] == 403
    assert d.open_refusal(u, "new-pw", v) is None
    old.channel().queue_declare("mine", auto_delete=True)   # granted: a new channel has it
    old.close()


def test_reimport_leaves_differing_queue_and_exchange_as_they_were(defs_broker):
    d = defs_broker()
    v, u = d.name("imp"), d.name("iu")
    d.load(small(d, v, u, "pw", D.permission(u, v), {"x-max-length": 5}, "direct"))
    d.apply(small(d, v, u, "pw", D.permission(u, v), {"x-max-length": 7}, "fanout"))
    c = d.connect(u, "pw", v)
    ch = c.channel()
    ch.queue_declare("q", durable=True, arguments={"x-max-length": 5})
    ch.exchange_declare("x", "direct", durable=True)
    with channel_closed(406, "PRECONDITION_FAILED - inequivalent arg 'x-max-length' for queue "
                        "'q' in vhost '%s': received '7' but current is '5'" % v):
        ch.queue_declare("q", durable=True, arguments={"x-max-length": 7})
    ch = c.channel()
    with channel_closed(406, "PRECONDITION_FAILED - inequivalent arg 'type' for exchange 'x' "
                        "in vhost '%s': received 'fanout' but current is 'direct'" % v):
        ch.exchange_declare("x", "fanout", durable=True)
    c.close()


def test_older_user_format_logs_in(defs_broker):
    d = defs_broker()
    v, u = d.name("old"), d.name("ou")
    d.load(small(d, v, u, "pw", D.permission(u, v), None, "direct",
                 tags="administrator,monitoring"))
    assert d.open_refusal(u, "pw", v) is None


# ------------------------------------------------------------------ Tern: boot errors

MALFORMED = '{\n  "vhosts": [\n    {"name": "a"}\n    {"name": "b"}\n  ]\n}\n'
# jansson 2.14: line 4, column 5: "']' expected near '{'"


@tern_only
def test_boot_malformed_json_exits_2_with_position(defs_broker):
    d = defs_broker()
    rc, out = d.boot(MALFORMED)
    assert rc == 2, (rc, out)
    assert "%s:4:5:" % d.defs_path in out, out


def base_doc(extra_queues=(), **kinds):
    kinds.setdefault("vhosts", [D.vhost("v")])
    kinds.setdefault("users", [D.user("bob", "bob-pw")])
    kinds.setdefault("permissions", [D.permission("bob", "v")])
    kinds.setdefault("queues", [D.queue("v", "q")] + list(extra_queues))
    return D.document(**kinds)


SEMANTIC = {
    "binding-to-missing-queue": (dict(bindings=[D.binding("v", "amq.direct", "no-such-queue")]),
                                 "no-such-queue", "destination"),
    "unknown-exchange-type": (dict(exchanges=[D.exchange("v", "fancy-x", "fanciful")]),
                              "fancy-x", "type"),
    "bad-permission-regex": (dict(permissions=[D.permission("bob", "v", "^(orders", ".*", ".*")]),
                             "bob", "configure"),
    "bad-policy-value": (dict(policies=[D.policy("v", "bad-pol", ".*", {"max-length": "lots"})]),
                         "bad-pol", "max-length"),
}


@tern_only
@pytest.mark.parametrize("case", sorted(SEMANTIC))
def test_boot_semantic_error_names_object_and_field(defs_broker, case):
    kinds, name, field = SEMANTIC[case]
    d = defs_broker()
    rc, out = d.boot(base_doc(**kinds))
    assert rc == 2, (rc, out)
    assert name in out and field in out, out


@tern_only
def test_blank_node_with_definitions_has_no_guest(defs_broker):
    d = defs_broker()
    d.load(base_doc())
    assert d.open_refusal("guest", "guest", "/")[0] == 403
    assert d.open_refusal("bob", "bob-pw", "v") is None


# ------------------------------------------------------------------ Tern: SIGHUP

@tern_only
@pytest.mark.parametrize("bad", ["malformed", "semantic"])
def test_sighup_bad_file_applies_nothing(defs_broker, bad):
    d = defs_broker()
    d.load(base_doc())
    if bad == "malformed":
        d.write(MALFORMED)
    else:   # a good new queue next to a bad binding: all or nothing
        d.write(base_doc(extra_queues=[D.queue("v", "half")],
                         bindings=[D.binding("v", "amq.direct", "no-such-queue")]))
    msgs = "\n".join(d.reload())
    assert "nothing applied" in msgs, msgs
    if bad == "malformed":
        assert "%s:4:5:" % d.defs_path in msgs, msgs
    assert d.alive()
    c = d.connect("bob", "bob-pw", "v")
    ch = c.channel()
    ch.queue_declare("q", passive=True)
    with channel_closed(404, "NOT_FOUND - no queue 'half' in vhost 'v'"):
        ch.queue_declare("half", passive=True)
    c.close()
    d.apply(base_doc(extra_queues=[D.queue("v", "later")]))     # a good one afterwards
    d.connect("bob", "bob-pw", "v").channel().queue_declare("later", passive=True)


@tern_only
def test_sighup_reports_differing_queue(defs_broker):
    d = defs_broker()
    d.load(base_doc(queues=[D.queue("v", "odd-queue", arguments={"x-max-length": 5})]))
    before = len(d.log_text())
    d.apply(base_doc(queues=[D.queue("v", "odd-queue", arguments={"x-max-length": 7})]))
    assert "odd-queue" in d.log_text()[before:], d.log_tail()


# ------------------------------------------------------------------ Tern: prune

def prune_doc(queues, users=("bob", "carol"), exchanges=("x-old",)):
    return D.document(vhosts=[D.vhost("v")], users=[D.user(u, u + "-pw") for u in users],
                      permissions=[D.permission(u, "v") for u in users],
                      queues=[D.queue("v", q) for q in queues],
                      exchanges=[D.exchange("v", x, "fanout") for x in exchanges],
                      policies=[])


def exists(c, kind, name):
    ch = c.channel()
    try:
        (ch.queue_declare if kind == "queue" else ch.exchange_declare)(name, passive=True)
        ch.close()
        return True
    except pika.exceptions.ChannelClosedByBroker as e:
        assert e.reply_code == 404, e
        return False


@tern_only
@pytest.mark.parametrize("nonempty", ["kept", "pruned"])
def test_prune_removes_what_the_file_no_longer_lists(defs_broker, nonempty):
    lines = ["definitions.prune = true"]
    if nonempty == "pruned":
        lines.append("definitions.prune_nonempty_queues = true")
    d = defs_broker(config_lines=lines)
    d.load(prune_doc(["stay", "empty-gone", "full-queue"]))
    c = d.connect("bob", "bob-pw", "v")
    ch = c.channel()
    ch.basic_publish("", "full-queue", b"held")
    gen = ch.queue_declare("").method.queue              # server-named amq.gen-...
    ch.queue_declare("excl", exclusive=True)
    ch.queue_declare("auto", auto_delete=True)
    ch.basic_consume("auto", lambda *a: None)
    assert wait_for(lambda: queue_counts(ch, "full-queue")[0] == 1, c)
    before = len(d.log_text())
    d.apply(prune_doc(["stay"], users=("bob",), exchanges=()))
    assert exists(c, "queue", "stay")
    assert not exists(c, "queue", "empty-gone")
    assert not exists(c, "exchange", "x-old")
    for q in ("excl", "auto", gen):
        assert exists(c, "queue", q)
    for x in ("amq.direct", "amq.fanout", "amq.topic", "amq.headers", "amq.match"):
        assert exists(c, "exchange", x)
    if nonempty == "kept":
        assert exists(c, "queue", "full-queue")
        assert "full-queue" in d.log_text()[before:], d.log_tail()
        assert queue_counts(c.channel(), "full-queue")[0] == 1
    else:
        assert not exists(c, "queue", "full-queue")
    assert d.open_refusal("carol", "carol-pw", "v")[0] == 403     # "users" listed: pruned
    c.close()


@tern_only
def test_prune_leaves_kinds_without_a_key(defs_broker):
    d = defs_broker(config_lines=["definitions.prune = true"])
    d.load(prune_doc(["q1"]))
    d.apply(D.document(vhosts=[D.vhost("v")], queues=[D.queue("v", "q1"), D.queue("v", "q2")]))
    for u in ("bob", "carol"):                    # no "users" / "permissions" key
        assert d.open_refusal(u, u + "-pw", "v") is None
    c = d.connect("bob", "bob-pw", "v")
    assert exists(c, "exchange", "x-old")         # no "exchanges" key
    assert exists(c, "queue", "q2")
    c.close()


# ------------------------------------------------------------------ Tern: dry run, directory

@tern_only
def test_dry_run_prints_the_plan_and_changes_nothing(defs_broker):
    d = defs_broker()
    d.load(prune_doc(["keep-me", "drop-me"], users=("bob",)))
    c = d.connect("bob", "bob-pw", "v")
    ch = c.channel()
    for _ in range(2):
        ch.basic_publish("", "keep-me", b"m", pika.BasicProperties(delivery_mode=2))
    assert wait_for(lambda: queue_counts(ch, "keep-me")[0] == 2, c)
    c.close()
    d.stop_tern()
    new = prune_doc(["new-q"], users=("bob", "carol"), exchanges=())
    p = d.dry_run(new, extra_config=["definitions.prune = true"])
    assert p.returncode == 0, (p.returncode, p.stdout, p.stderr)
    for line in ("create queue 'new-q' in vhost 'v'",
                 "delete queue 'drop-me' in vhost 'v'",
                 "keep queue 'keep-me' in vhost 'v' (holds 2 messages)",
                 "delete exchange 'x-old' in vhost 'v'",
                 "update user 'bob' (password)",
                 "create user 'carol'"):
        assert line in p.stdout.splitlines(), (line, p.stdout)
    d.start_tern()                               # its own config: the old file
    c = d.connect("bob", "bob-pw", "v")
    assert not exists(c, "queue", "new-q")
    assert queue_counts(c.channel(), "keep-me")[0] == 2
    assert d.open_refusal("carol", "carol-pw", "v")[0] == 403
    c.close()


@tern_only
def test_directory_of_json_files_in_name_order(defs_broker):
    d = defs_broker()
    d.load_files({
        "10-vhosts.json": D.document(vhosts=[D.vhost("v")]),
        "20-users.json": D.document(users=[D.user("bob", "first-pw")],
                                    permissions=[D.permission("bob", "v")]),
        "30-queues.json": D.document(queues=[D.queue("v", "from-30")],
                                     bindings=[D.binding("v", "amq.direct", "from-30", "k")]),
        "40-override.json": D.document(users=[D.user("bob", "second-pw")]),
        "README.txt": "not json, not read",
    })
    assert d.open_refusal("bob", "first-pw", "v")[0] == 403       # 40 came after 20
    c = d.connect("bob", "second-pw", "v")
    ch = c.channel()
    ch.basic_publish("amq.direct", "k", b"routed")
    assert wait_for(lambda: queue_counts(ch, "from-30")[0] == 1, c)
    c.close()
