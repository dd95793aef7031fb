"""Users, passwords and permissions from definitions: login, vhost access,
and the permission each AMQP operation needs (support/defs.py loads the
users; on Tern a dedicated ternd boots from a definitions file).

Observed on RabbitMQ 3.10.8 (V = vhost, U = user):

  login, wrong password or unknown user or empty password_hash:
      connection.close 403 "ACCESS_REFUSED - Login was refused using
      authentication mechanism PLAIN. For details see the broker logfile."
      (pika: ProbableAuthenticationError). sha256, sha512 and md5 hashes
      (salt ‖ H(salt ‖ password), base64) all log in.
  no permissions on V: connection.open -> 530 "NOT_ALLOWED - access to vhost
      'V' refused for user 'U'"; unknown vhost: 530 "NOT_ALLOWED - vhost V
      not found" (pika: ProbableAccessDeniedError).
  Every refusal below is channel.close 403 "ACCESS_REFUSED - access to
  queue|exchange 'NAME' in vhost 'V' refused for user 'U'" -- the text does
  not say which permission; the connection stays open.
      exchange.declare         configure on the exchange (also when it exists)
        + alternate-exchange   then read on the exchange, write on the AE
      exchange.delete          configure (refused even when it does not exist)
      queue.declare            configure (also when it exists); a server-named
                               queue is checked under its amq.gen-... name
        + x-dead-letter-exchange  then read on the queue, write on the DLX
                               ("" is amq.default; a missing DLX is fine)
      passive declares         no permission at all (missing: 404 as usual)
      queue.bind / unbind      write on the queue, then read on the exchange
      exchange.bind / unbind   write on the destination, then read on the source
      queue.purge              read;  queue.delete: configure (even missing)
      basic.publish            write on the exchange (async channel.close;
                               the default exchange is checked as 'amq.default';
                               checked before the exchange's existence)
      basic.get / consume      read (refused even for a missing queue)
  Topic permissions (topic exchanges only; none for an exchange = no check):
      publish: the write pattern against the routing key; bind, unbind and
      exchange.bind (topic source): the read pattern against the binding key;
      403 "ACCESS_REFUSED - access to topic 'KEY' in exchange 'X' in vhost
      'V' refused for user 'U'". {username} and {vhost} are expanded.
  An empty pattern "" means ^$ (only the empty name or key), so it refuses
  every named resource; amq.default is not empty.
"""
import re

import pika.exceptions as pe
import pytest

from support import defs as D
from support.defs import channel_closed as channel_error
from support.helpers import sync

LOGIN_REFUSED = ("ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. "
                 "For details see the broker logfile.")


class Site:
    """One vhost with users whose patterns are letters: configure "C",
    write "W", read "R" (unanchored), so a resource named q-CR may be
    configured and read but not written."""

    def __init__(self, d):
        self.d = d
        self._conns = []
        self.v = d.name("acc")
        self.other_v = d.name("acc-other")
        n = d.name
        self.root, self.pat, self.empty, self.gen, self.stranger = (
            n("root"), n("pat"), n("empty"), n("gen"), n("stranger"))
        self.sha256, self.sha512, self.md5 = n("alice"), n("sam"), n("mo")
        self.topic = n("tom")
        V = self.v
        users = [D.user(self.root, "root-pw", ["administrator"]),
                 D.user(self.pat, "pat-pw"), D.user(self.empty, "empty-pw"),
                 D.user(self.gen, "gen-pw"), D.user(self.stranger, "stranger-pw"),
                 D.user(self.sha256, "alice-pw"), D.user(self.sha512, "sam-pw", alg="sha512"),
                 D.user(self.md5, "mo-pw", alg="md5"), D.user(self.topic, "tom-pw")]
        perms = [D.permission(self.root, V), D.permission(self.pat, V, "C", "W", "R"),
                 D.permission(self.empty, V, "", "", ""),
                 D.permission(self.gen, V, r"^amq\.gen-", "", ""),
                 D.permission(self.stranger, self.other_v),
                 D.permission(self.sha256, V), D.permission(self.sha512, V),
                 D.permission(self.md5, V), D.permission(self.topic, V)]
        topics = [D.topic_permission(self.topic, V, "t-user", r"^{username}\.{vhost}\.",
                                     r"^r\."),
                  D.topic_permission(self.topic, V, "t-empty", "", ""),
                  D.topic_permission(self.topic, V, "d-direct", "^never$", "^never$")]
        exchanges = [D.exchange(V, "t-user", "topic"), D.exchange(V, "t-empty", "topic"),
                     D.exchange(V, "t-free", "topic"), D.exchange(V, "d-direct", "direct")]
        queues = [D.queue(V, "q-topic")]
        d.load(D.document(vhosts=[D.vhost(V), D.vhost(self.other_v)], users=users,
                          permissions=perms, topic_permissions=topics, exchanges=exchanges,
                          queues=queues))
        self.admin = d.connect(self.root, "root-pw", V)

    def refused(self, kind, name, user=None):
        return "ACCESS_REFUSED - access to %s '%s' in vhost '%s' refused for user '%s'" % (
            kind, name, self.v, user or self.pat)

    def topic_refused(self, key, exchange):
        return ("ACCESS_REFUSED - access to topic '%s' in exchange '%s' in vhost '%s' "
                "refused for user '%s'" % (key, exchange, self.v, self.topic))

    def queue(self, name, **kw):
        """A fresh queue made by root (deleted first if a test left it)."""
        ch = self.admin.channel()
        ch.queue_delete(name)
        ch.queue_declare(name, **kw)
        ch.close()
        return name

    def exchange(self, name, type="direct"):
        ch = self.admin.channel()
        ch.exchange_delete(name)
        ch.exchange_declare(name, type)
        ch.close()
        return name

    def channel(self, user=None, password=None):
        """A channel of a connection of `user` (default pat)."""
        user = user or self.pat
        if password is None:
            password = {self.pat: "pat-pw", self.empty: "empty-pw", self.gen: "gen-pw",
                        self.topic: "tom-pw"}[user]
        c = self.d.connect(user, password, self.v)
        self._conns.append(c)
        return c.channel()

    def close_all(self):
        for c in self._conns + [self.admin]:
            try:
                c.close()
            except Exception:
                pass


@pytest.fixture(scope="module")
def site(broker):
    d = D.DefsBroker(broker)
    s = Site(d)
    yield s
    s.close_all()
    d.cleanup()


@pytest.fixture(autouse=True)
def _close_conns(site):
    yield
    for c in site._conns:
        try:
            c.close()
        except Exception:
            pass
    site._conns.clear()


# ------------------------------------------------------------------ login

@pytest.mark.parametrize("which", ["sha256", "sha512", "md5"])
def test_login_with_hash_from_definitions(site, which):
    user, pw = {"sha256": (site.sha256, "alice-pw"), "sha512": (site.sha512, "sam-pw"),
                "md5": (site.md5, "mo-pw")}[which]
    assert site.d.open_refusal(user, pw, site.v) is None
    c = site.d.connect(user, pw, site.v)
    ch = c.channel()
    ch.queue_declare("", exclusive=True)
    c.close()


@pytest.mark.parametrize("user,password", [("alice", "wrong"), ("sam", "alice-pw"),
                                           ("nobody", "x"), ("alice", "")])
def test_wrong_password_refused(site, user, password):
    user = {"alice": site.sha256, "sam": site.sha512, "nobody": "no-such-user"}[user]
    assert site.d.open_refusal(user, password, site.v) == (403, LOGIN_REFUSED)
    with pytest.raises(pe.ProbableAuthenticationError):
        site.d.connect(user, password, site.v)


def test_user_without_permissions_on_vhost(site):
    text = "NOT_ALLOWED - access to vhost '%s' refused for user '%s'" % (site.v, site.stranger)
    assert site.d.open_refusal(site.stranger, "stranger-pw", site.v) == (530, text)
    with pytest.raises(pe.ProbableAccessDeniedError):
        site.d.connect(site.stranger, "stranger-pw", site.v)
    # where it has permissions it gets in
    assert site.d.open_refusal(site.stranger, "stranger-pw", site.other_v) is None


def test_unknown_vhost(site):
    v = site.v + "-missing"
    assert site.d.open_refusal(site.root, "root-pw", v) == (
        530, "NOT_ALLOWED - vhost %s not found" % v)


# ------------------------------------------------------------------ declare / delete

def test_exchange_declare_needs_configure(site):
    ch = site.channel()
    ch.exchange_declare("x-C-new", "direct", auto_delete=True)
    with channel_error(403, site.refused("exchange", "x-WR-new")):
        ch.exchange_declare("x-WR-new", "direct")
    site.exchange("x-WR")            # existing: still configure
    ch = site.channel()
    with channel_error(403, site.refused("exchange", "x-WR")):
        ch.exchange_declare("x-WR", "direct")
    assert ch.connection.is_open


def test_exchange_declare_alternate_exchange(site):
    # configure on the exchange, then read on it, then write on the AE
    site.exchange("x-W")
    site.exchange("x-R")
    ch = site.channel()
    ch.exchange_declare("x-CR-ae", "direct", arguments={"alternate-exchange": "x-W"})
    ch.exchange_delete("x-CR-ae")
    for name, ae, refused in [("x-C-ae", "x-W", ("exchange", "x-C-ae")),
                              ("x-CR-ae2", "x-R", ("exchange", "x-R")),
                              ("x-R-ae", "x-R", ("exchange", "x-R-ae"))]:
        ch = site.channel()
        with channel_error(403, site.refused(*refused)):
            ch.exchange_declare(name, "direct", arguments={"alternate-exchange": ae})


def test_exchange_delete_needs_configure(site):
    site.exchange("x-C-del")
    site.exchange("x-WR-del")
    ch = site.channel()
    ch.exchange_delete("x-C-del")
    with channel_error(403, site.refused("exchange", "x-WR-del")):
        ch.exchange_delete("x-WR-del")
    ch = site.channel()
    with channel_error(403, site.refused("exchange", "x-WR-missing")):
        ch.exchange_delete("x-WR-missing")


def test_queue_declare_needs_configure(site):
    ch = site.channel()
    ch.queue_declare("q-C-new", auto_delete=True)
    ch.queue_delete("q-C-new")
    with channel_error(403, site.refused("queue", "q-WR-new")):
        ch.queue_declare("q-WR-new")
    site.queue("q-WR")
    ch = site.channel()
    with channel_error(403, site.refused("queue", "q-WR")):
        ch.queue_declare("q-WR")


def test_server_named_queue_checked_under_its_name(site):
    ch = site.channel(site.empty)
    with channel_error(403) as err:
        ch.queue_declare("", exclusive=True)
    pattern = (r"ACCESS_REFUSED - access to queue 'amq\.gen-[A-Za-z0-9_-]+' in vhost '%s' "
               r"refused for user '%s'" % (re.escape(site.v), re.escape(site.empty)))
    assert re.fullmatch(pattern, err.text), err.text
    ch = site.channel(site.gen)          # configure ^amq\.gen- : allowed
    assert ch.queue_declare("", exclusive=True).method.queue.startswith("amq.gen-")


def test_passive_declares_need_no_permission(site):
    site.queue("q-plain")
    site.exchange("x-plain")
    ch = site.channel(site.empty)
    assert ch.queue_declare("q-plain", passive=True).method.queue == "q-plain"
    ch.exchange_declare("x-plain", passive=True)
    ch.exchange_declare("amq.direct", passive=True)
    with channel_error(404, "NOT_FOUND - no queue 'q-nothing' in vhost '%s'" % site.v):
        ch.queue_declare("q-nothing", passive=True)
    ch = site.channel(site.empty)
    with channel_error(404, "NOT_FOUND - no exchange 'x-nothing' in vhost '%s'" % site.v):
        ch.exchange_declare("x-nothing", passive=True)


def test_queue_declare_dead_letter_exchange(site):
    # configure on the queue, then read on it, then write on the DLX
    site.exchange("x-W")
    site.exchange("x-R")
    ch = site.channel()
    ch.queue_declare("q-CR-dl", auto_delete=True, arguments={"x-dead-letter-exchange": "x-W"})
    ch.queue_declare("q-CR-dl-missing", auto_delete=True,
                     arguments={"x-dead-letter-exchange": "x-W-not-there"})
    for q, dlx, refused in [("q-C-dl", "x-W", ("queue", "q-C-dl")),
                            ("q-CR-dl2", "x-R", ("exchange", "x-R")),
                            ("q-CR-dl3", "", ("exchange", "amq.default")),
                            ("q-R-dl", "x-W", ("queue", "q-R-dl"))]:
        ch = site.channel()
        with channel_error(403, site.refused(*refused)):
            ch.queue_declare(q, arguments={"x-dead-letter-exchange": dlx})


def test_queue_delete_needs_configure(site):
    for q in ("q-C-d", "q-WR-d"):
        site.queue(q)
    ch = site.channel()
    ch.queue_delete("q-C-d")
    with channel_error(403, site.refused("queue", "q-WR-d")):
        ch.queue_delete("q-WR-d")
    ch = site.channel()
    with channel_error(403, site.refused("queue", "q-WR-missing")):
        ch.queue_delete("q-WR-missing")


# ------------------------------------------------------------------ bindings

@pytest.mark.parametrize("op", ["bind", "unbind"])
def test_queue_bind_write_on_queue_read_on_exchange(site, op):
    for q in ("q-W", "q-R", "q-C"):
        site.queue(q)
    for x in ("x-R", "x-W", "x-C"):
        site.exchange(x)
    adm = site.admin.channel()
    for q, x in (("q-W", "x-R"), ("q-R", "x-R"), ("q-W", "x-W"), ("q-C", "x-C")):
        adm.queue_bind(q, x, "k")
    fn = "queue_bind" if op == "bind" else "queue_unbind"
    ch = site.channel()
    getattr(ch, fn)("q-W", "x-R", "k")
    for q, x, refused in [("q-R", "x-R", ("queue", "q-R")),
                          ("q-W", "x-W", ("exchange", "x-W")),
                          ("q-C", "x-C", ("queue", "q-C"))]:     # both refused: queue first
        ch = site.channel()
        with channel_error(403, site.refused(*refused)):
            getattr(ch, fn)(q, x, "k")


@pytest.mark.parametrize("op", ["bind", "unbind"])
def test_exchange_bind_write_on_destination_read_on_source(site, op):
    for x in ("x-R", "x-W", "x-C"):
        site.exchange(x)
    adm = site.admin.channel()
    for dest, src in (("x-W", "x-R"), ("x-R", "x-R"), ("x-W", "x-W"), ("x-C", "x-C")):
        adm.exchange_bind(dest, src, "k")
    fn = "exchange_bind" if op == "bind" else "exchange_unbind"
    ch = site.channel()
    getattr(ch, fn)("x-W", "x-R", "k")             # (destination, source)
    for dest, src, refused in [("x-R", "x-R", "x-R"), ("x-W", "x-W", "x-W"),
                               ("x-C", "x-C", "x-C")]:
        ch = site.channel()
        with channel_error(403, site.refused("exchange", refused)):
            getattr(ch, fn)(dest, src, "k")


# ------------------------------------------------------------------ messages

def test_queue_purge_needs_read(site):
    for q in ("q-R", "q-C", "q-W"):
        site.queue(q)
    ch = site.channel()
    assert ch.queue_purge("q-R").method.message_count == 0
    for q in ("q-C", "q-W"):
        ch = site.channel()
        with channel_error(403, site.refused("queue", q)):
            ch.queue_purge(q)


@pytest.mark.parametrize("op", ["get", "consume"])
def test_get_and_consume_need_read(site, op):
    for q in ("q-R", "q-C", "q-W"):
        site.queue(q)

    def do(ch, q):
        if op == "get":
            return ch.basic_get(q)
        return ch.basic_consume(q, lambda *a: None)
    ch = site.channel()
    do(ch, "q-R")
    for q in ("q-C", "q-W", "q-W-missing"):
        ch = site.channel()
        with channel_error(403, site.refused("queue", q)):
            do(ch, q)


def test_publish_needs_write(site):
    site.queue("q-CR-pub")
    for x in ("x-W", "x-R", "x-C"):
        site.exchange(x)
    site.admin.channel().queue_bind("q-CR-pub", "x-W", "k")
    ch = site.channel()
    ch.basic_publish("x-W", "k", b"ok")
    sync(ch)
    for x in ("x-R", "x-C", "x-R-missing"):        # permission before existence
        ch = site.channel()
        with channel_error(403, site.refused("exchange", x)):
            ch.basic_publish(x, "k", b"no")
            sync(ch)
    assert site.admin.channel().basic_get("q-CR-pub", auto_ack=True)[2] == b"ok"


def test_publish_default_exchange_checked_as_amq_default(site):
    site.queue("q-W-dflt")
    ch = site.channel()                 # write "W": 'amq.default' has no W
    with channel_error(403, site.refused("exchange", "amq.default")):
        ch.basic_publish("", "q-W-dflt", b"no")
        sync(ch)
    ch = site.channel(site.empty)
    with channel_error(403, site.refused("exchange", "amq.default", site.empty)):
        ch.basic_publish("", "q-W-dflt", b"no")
        sync(ch)
    ch = site.channel(site.topic)       # write .*
    ch.basic_publish("", "q-W-dflt", b"yes")
    sync(ch)


def test_empty_patterns_refuse_everything(site):
    site.queue("q-any")
    site.exchange("x-any")
    for fn, refused in [(lambda ch: ch.queue_declare("q-any"), ("queue", "q-any")),
                        (lambda ch: ch.exchange_declare("x-any2", "fanout"),
                         ("exchange", "x-any2")),
                        (lambda ch: ch.queue_bind("q-any", "x-any", "k"), ("queue", "q-any")),
                        (lambda ch: ch.basic_get("q-any"), ("queue", "q-any")),
                        (lambda ch: ch.queue_purge("q-any"), ("queue", "q-any")),
                        (lambda ch: ch.queue_delete("q-any"), ("queue", "q-any"))]:
        ch = site.channel(site.empty)
        with channel_error(403, site.refused(*refused, user=site.empty)):
            fn(ch)


# ------------------------------------------------------------------ topic permissions

def test_topic_publish_write_pattern_with_username_and_vhost(site):
    ok_key = "%s.%s.order" % (site.topic, site.v)
    ch = site.channel(site.topic)
    ch.basic_publish("t-user", ok_key, b"m")
    sync(ch)
    for key in ("other.%s.order" % site.v, "%s.elsewhere.order" % site.topic,
                "{username}.{vhost}.order"):
        ch = site.channel(site.topic)
        with channel_error(403, site.topic_refused(key, "t-user")):
            ch.basic_publish("t-user", key, b"m")
            sync(ch)


@pytest.mark.parametrize("op", ["queue.bind", "queue.unbind", "exchange.bind"])
def test_topic_bind_read_pattern(site, op):
    site.queue("q-topic")
    site.exchange("x-dest")
    adm = site.admin.channel()
    adm.queue_bind("q-topic", "t-user", "s.key")

    def do(ch, key):
        if op == "queue.bind":
            ch.queue_bind("q-topic", "t-user", key)
        elif op == "queue.unbind":
            ch.queue_unbind("q-topic", "t-user", key)
        else:
            ch.exchange_bind("x-dest", "t-user", key)
    ch = site.channel(site.topic)
    do(ch, "r.key")
    ch = site.channel(site.topic)
    with channel_error(403, site.topic_refused("s.key", "t-user")):
        do(ch, "s.key")


def test_topic_empty_pattern_allows_only_empty_key(site):
    site.queue("q-topic")
    ch = site.channel(site.topic)
    ch.basic_publish("t-empty", "", b"m")
    ch.queue_bind("q-topic", "t-empty", "")
    sync(ch)
    with channel_error(403, site.topic_refused("a", "t-empty")):
        ch.basic_publish("t-empty", "a", b"m")
        sync(ch)
    ch = site.channel(site.topic)
    with channel_error(403, site.topic_refused("a", "t-empty")):
        ch.queue_bind("q-topic", "t-empty", "a")


def test_topic_permissions_only_for_topic_exchanges(site):
    # a topic permission naming a direct exchange is not checked; a topic
    # exchange without one is open
    site.queue("q-topic")
    ch = site.channel(site.topic)
    ch.basic_publish("d-direct", "anything", b"m")
    ch.queue_bind("q-topic", "d-direct", "anything")
    ch.basic_publish("t-free", "any.key.at.all", b"m")
    ch.queue_bind("q-topic", "t-free", "any.#")
    sync(ch)
