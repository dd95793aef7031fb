"""The control plane across restarts and tools (Tern-only): definitions
export (`ternd --export-definitions`, the file `rabbitmqctl
export_definitions` writes) round-trips into a fresh broker; what a
definitions file declared survives a restart without the file; deleting a
vhost (prune) closes its connections with 320 CONNECTION_FORCED, as
RabbitMQ does; rabbitmq.conf's names work in tern.conf, a known-but-
unimplemented RabbitMQ key is a warning naming file and line, an unknown
key stops ternd with status 2.

With TERN_RABBITMQ_MGMT=http://guest:guest@127.0.0.1:15672 the export is
also POSTed to that RabbitMQ's /api/definitions, which must accept it
(checked by hand against RabbitMQ 3.10.8: 204)."""
import base64
import json
import os
import subprocess
import time
import urllib.parse
import urllib.request

import pika
import pytest

from support.broker import START_TIMEOUT, Broker, free_port, port_open
from support.defs import document, permission, queue, user, vhost

SHOP = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                    "data", "definitions", "rabbitmq-3.10-shop.json")

pytestmark = pytest.mark.skipif(bool(os.environ.get("BROKER_URL")),
                                reason="Tern-only: starts its own brokers")


def connect(b, u, pw, vh):
    return pika.BlockingConnection(pika.ConnectionParameters(
        host=b.host, port=b.port, virtual_host=vh, credentials=pika.PlainCredentials(u, pw),
        connection_attempts=1, socket_timeout=5))


def export(b):
    out = subprocess.run([b.ternd, "--data-dir", b.data_dir, "--export-definitions", "-",
                          "--log-level", "warning", "--management-port", "0",
                          "--prometheus-port", "0"],
                         capture_output=True, text=True, timeout=20)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def names(doc, key, fields):
    return sorted(tuple(o[f] for f in fields) for o in doc.get(key, []))


@pytest.fixture
def tern():
    made = []

    def make(lines=()):
        b = Broker(None)
        conf = os.path.join(b._tmp, "tern.conf")
        with open(conf, "w") as f:
            f.write("".join(l + "\n" for l in lines))
        b.conf = conf
        made.append(b)
        return b
    yield make
    for b in made:
        b.stop()
        b.check_log()
        b.cleanup()


def test_export_round_trips_into_a_fresh_broker(tern):
    a = tern()
    a.start(config_lines=["load_definitions = %s" % SHOP])
    a.stop()
    doc = export(a)
    src = json.load(open(SHOP))
    for key, fields in (("users", ("name", "password_hash", "hashing_algorithm")),
                        ("vhosts", ("name",)),
                        ("permissions", ("user", "vhost", "configure", "write", "read")),
                        ("topic_permissions", ("user", "vhost", "exchange", "write", "read")),
                        ("policies", ("vhost", "name", "pattern", "priority")),
                        ("parameters", ("vhost", "component", "name"))):
        assert names(doc, key, fields) == names(src, key, fields), key
    # Durable queues and exchanges come back; transient ones do not
    # outlive a restart (RabbitMQ's rule too).
    durable_q = [q for q in src["queues"] if q["durable"]]
    assert names(doc, "queues", ("vhost", "name")) == names({"q": durable_q}, "q",
                                                             ("vhost", "name"))
    mgmt = os.environ.get("TERN_RABBITMQ_MGMT")
    if mgmt:
        u = urllib.parse.urlparse(mgmt)
        req = urllib.request.Request(
            "%s://%s:%d/api/definitions" % (u.scheme, u.hostname, u.port),
            data=json.dumps(doc).encode(), method="POST",
            headers={"content-type": "application/json", "authorization": "Basic " +
                     base64.b64encode(("%s:%s" % (u.username, u.password)).encode()).decode()})
        assert urllib.request.urlopen(req, timeout=10).status in (200, 201, 204)
    # A fresh Tern booted from the export: same users, same passwords.
    b = tern()
    path = os.path.join(b._tmp, "export.json")
    with open(path, "w") as f:
        json.dump(doc, f)
    b.start(config_lines=["load_definitions = %s" % path])
    c = connect(b, "admin", "admin-secret-1", "shop")
    c.channel().queue_declare("orders.created", passive=True)
    c.close()
    assert names(export_running(b), "users", ("name",)) == names(src, "users", ("name",))


def export_running(b):
    b.stop()
    doc = export(b)
    b.start()
    return doc


def test_declared_state_survives_a_restart_without_the_file(tern):
    b = tern()
    defs = os.path.join(b._tmp, "defs.json")
    with open(defs, "w") as f:
        json.dump(document(users=[user("bob", "bob-pw")], vhosts=[vhost("v")],
                           permissions=[permission("bob", "v")],
                           queues=[queue("v", "work")]), f)
    b.start(config_lines=["load_definitions = %s" % defs])
    b.stop()
    b.start(config_lines=[])  # no definitions now: the store has them
    c = connect(b, "bob", "bob-pw", "v")
    assert c.channel().queue_declare("work", passive=True).method.queue == "work"
    c.close()
    # definitions were loaded at the first boot: no guest, ever
    with pytest.raises(pika.exceptions.ProbableAuthenticationError):
        connect(b, "guest", "guest", "/")


def test_pruned_vhost_closes_its_connections_with_320(tern):
    b = tern()
    defs = os.path.join(b._tmp, "defs.json")
    doc = document(users=[user("bob", "bob-pw")], vhosts=[vhost("v"), vhost("keep")],
                   permissions=[permission("bob", "v"), permission("bob", "keep")])
    with open(defs, "w") as f:
        json.dump(doc, f)
    b.start(config_lines=["load_definitions = %s" % defs, "definitions.prune = true"])
    c = connect(b, "bob", "bob-pw", "v")
    ch = c.channel()
    ch.queue_declare("in-v")
    other = connect(b, "bob", "bob-pw", "keep")
    doc["vhosts"] = [vhost("keep")]
    doc["permissions"] = [permission("bob", "keep")]
    with open(defs, "w") as f:
        json.dump(doc, f)
    b.proc.send_signal(1)  # SIGHUP
    with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as e:
        for _ in range(50):
            c.process_data_events(time_limit=0.1)
    assert e.value.reply_code == 320
    assert "vhost 'v' is deleted" in e.value.reply_text
    assert other.is_open  # another vhost's connection is left alone
    other.channel().queue_declare("still-here")
    other.close()
    with pytest.raises(pika.exceptions.ProbableAccessDeniedError):
        connect(b, "bob", "bob-pw", "v")


def test_rabbitmq_conf_names(tmp_path):
    """ternd started with only --config and --data-dir: the port, the log
    level and loopback_users come from RabbitMQ's names in the file."""
    port = free_port()
    conf = tmp_path / "rabbit.conf"
    conf.write_text("listeners.tcp.default = 127.0.0.1:%d\n"
                    "log.console.level = debug\n"
                    "loopback_users.guest = false\n"
                    "cluster_formation.peer_discovery_backend = classic_config\n"
                    "vm_memory_calculation_strategy = rss\n"
                    "vm_memory_high_watermark.relative = 0.4\n" % port)
    log = tmp_path / "log"
    ternd = Broker(None).ternd
    with open(log, "wb") as out:
        p = subprocess.Popen([ternd, "--config", str(conf), "--data-dir", str(tmp_path / "d"),
                              "--management-port", "0", "--prometheus-port", "0"],
                             stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        b = Broker(None)
        b.port = port
        deadline = time.monotonic() + START_TIMEOUT
        while not port_open("127.0.0.1", port) and p.poll() is None and \
                time.monotonic() < deadline:
            time.sleep(0.05)
        assert port_open("127.0.0.1", port), "ternd not listening; log:\n" + log.read_text()
        c = connect(b, "guest", "guest", "/")
        c.close()
        text = log.read_text()
        assert "%s:4: 'cluster_formation.peer_discovery_backend' is a RabbitMQ setting Tern " \
               "does not implement; ignored" % conf in text
        assert "%s:5: 'vm_memory_calculation_strategy'" % conf in text
        assert "vm_memory_high_watermark.relative'" not in text  # implemented (alarm.c)
        assert "[debug]" in text  # log.console.level
        assert "listening on [127.0.0.1]:%d" % port in text
    finally:
        p.terminate()
        p.wait(10)


def test_unknown_key_stops_ternd_naming_file_and_line(tmp_path):
    conf = tmp_path / "bad.conf"
    conf.write_text("port = 5999\n# fine\nno_such_option = 1\n")
    ternd = Broker(None).ternd
    p = subprocess.run([ternd, "--config", str(conf), "--data-dir", str(tmp_path / "d"),
                        "--management-port", "0", "--prometheus-port", "0"],
                       capture_output=True, text=True, timeout=10)
    assert p.returncode == 2
    assert "%s:3: unknown option 'no_such_option'" % conf in p.stderr
