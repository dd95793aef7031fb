"""kombu (Celery's messaging library) over its py-amqp transport.

Login mechanisms: py-amqp on its own answers with AMQPLAIN (it tries
AMQPLAIN before PLAIN), but kombu 5.2.4's pyamqp transport (Debian
bookworm) passes login_method='PLAIN' by default, so Celery/kombu log in
with PLAIN unless told otherwise. Both are exercised here explicitly."""
import amqp
import amqp.sasl
import kombu
import kombu.utils.url
import pytest


def _url(broker):
    return "amqp://%s:%s@%s:%d/%s" % (broker.user, broker.password, broker.host,
                                      broker.port, kombu.utils.url.quote(broker.vhost, safe=""))


@pytest.fixture
def mechanisms_used(monkeypatch):
    """Records the SASL mechanism py-amqp answers connection.start with."""
    used = []
    for cls in (amqp.sasl.AMQPLAIN, amqp.sasl.PLAIN):
        orig = cls.start

        def start(self, connection, _orig=orig):
            used.append(self.mechanism.decode())
            return _orig(self, connection)
        monkeypatch.setattr(cls, "start", start)
    return used


@pytest.mark.parametrize("login_method", [None, "AMQPLAIN", "PLAIN"],
                         ids=["kombu-default", "AMQPLAIN", "PLAIN"])
def test_kombu_round_trip(broker, names, mechanisms_used, login_method):
    xname, qname = names.exchange(), names.queue()
    exchange = kombu.Exchange(xname, type="direct", durable=False, auto_delete=True)
    queue = kombu.Queue(qname, exchange, routing_key="rk", durable=False, auto_delete=False)
    kw = {"login_method": login_method} if login_method else {}
    with kombu.Connection(_url(broker), transport="pyamqp", connect_timeout=5, **kw) as conn:
        conn.connect()
        if login_method:
            assert mechanisms_used == [login_method]
        else:   # kombu's default (PLAIN in 5.2.4; AMQPLAIN in other versions)
            assert len(mechanisms_used) == 1 and mechanisms_used[0] in ("AMQPLAIN", "PLAIN")
        producer = conn.Producer(serializer="json")
        producer.publish({"hello": "world", "n": 3}, exchange=exchange, routing_key="rk",
                         declare=[queue], headers={"h": "v"}, retry=False)
        got = []

        def on_message(body, message):
            got.append((body, message.headers, message.delivery_info["routing_key"]))
            message.ack()

        with conn.Consumer(queue, callbacks=[on_message], accept=["json"]):
            conn.drain_events(timeout=5)
        assert got == [({"hello": "world", "n": 3}, {"h": "v"}, "rk")]
        queue(conn.default_channel).delete()


def test_kombu_simple_queue(broker, names):
    qname = names.queue()
    with kombu.Connection(_url(broker), transport="pyamqp", connect_timeout=5) as conn:
        sq = conn.SimpleQueue(qname)
        for i in range(3):
            sq.put({"i": i})
        out = []
        for _ in range(3):
            m = sq.get(block=True, timeout=5)
            out.append(m.payload["i"])
            m.ack()
        assert out == [0, 1, 2]
        assert sq.qsize() == 0
        sq.close()
        kombu.Queue(qname)(conn.default_channel).delete()


def test_py_amqp_default_login_is_amqplain(broker, mechanisms_used, names):
    c = amqp.Connection("%s:%d" % (broker.host, broker.port), userid=broker.user,
                        password=broker.password, virtual_host=broker.vhost,
                        connect_timeout=5)
    c.connect()
    try:
        assert mechanisms_used == ["AMQPLAIN"]
        ch = c.channel()
        q = ch.queue_declare("", exclusive=True).queue
        ch.basic_publish(amqp.Message(b"amqplain"), exchange="", routing_key=q)
        m = None
        for _ in range(50):
            m = ch.basic_get(q, no_ack=True)
            if m is not None:
                break
        assert m is not None and m.body == b"amqplain"
    finally:
        c.collect()
