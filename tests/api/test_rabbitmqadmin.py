"""RabbitMQ's own CLI, /usr/bin/rabbitmqadmin (Debian's, 3.10.8), driving the
broker under test end to end through its management API.

What it calls (all under /api, basic auth, JSON):
  declare queue|exchange|vhost|user|permission|policy  PUT  /<kind>s/VH/NAME
  declare binding                  POST /bindings/VH/e/SRC/q|e/DST
  delete ...                       DELETE the same (bindings: .../PROPS_KEY, default "~")
  list X [cols]                    GET /X[/VH]?columns=a,b  (no paging)
  show overview                    GET /overview  (rabbitmq_version, cluster_name,
                                   queue_totals.messages, object_totals.queues)
  publish                          POST /exchanges/VH/X/publish -> reads "routed"
  get                              POST /queues/VH/Q/get -> a list of messages
  purge queue                      DELETE /queues/VH/Q/contents
  close connection                 DELETE /connections/NAME
  export FILE / import FILE        GET / POST /definitions[/VH]
Status handling: 400 -> prints "*** " + body["reason"]; 401 -> "*** Access
refused: PATH"; 404 -> "*** Not found: PATH"; others > 400 raise. Exit 1.
"""
import json
import os
import subprocess

import pytest

from apiclient import Amqp, path, wait_for
from support.broker import unique

ADMIN = "/usr/bin/rabbitmqadmin"

pytestmark = pytest.mark.skipif(not os.access(ADMIN, os.X_OK), reason="no " + ADMIN)


@pytest.fixture
def admin(api):
    def run(*args, vhost=None, user=None, password=None, fmt=None, check=None):
        cmd = ["/usr/bin/python3", ADMIN, "-H", api.host, "-P", str(api.port),
               "-u", user or api.user, "-p", password or api.password]
        if vhost is not None:
            cmd += ["-V", vhost]
        if fmt:
            cmd += ["-f", fmt]
        p = subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=30)
        if check is not None:
            assert p.returncode == check, (args, p.returncode, p.stdout, p.stderr)
        return p
    return run


def table(text):
    """Rows of rabbitmqadmin's default table output (header row first)."""
    rows = []
    for line in text.splitlines():
        if line.startswith("|"):
            rows.append([c.strip() for c in line.strip("|").split("|")])
    return rows


def test_declare_list_delete_queue(admin, api, vhost):
    p = admin("declare", "queue", "name=ra-q", "durable=true", vhost=vhost, check=0)
    assert p.stdout == "queue declared\n"
    assert api.get(path("queues", vhost, "ra-q", query="columns=durable")).body == \
        {"durable": True}
    p = admin("list", "queues", "name", "messages", vhost=vhost, check=0)
    assert table(p.stdout) == [["name", "messages"], ["ra-q", "0"]] or \
        table(p.stdout) == [["name", "messages"], ["ra-q", ""]]   # stats not yet in
    p = admin("delete", "queue", "name=ra-q", vhost=vhost, check=0)
    assert p.stdout == "queue deleted\n"
    p = admin("delete", "queue", "name=ra-q", vhost=vhost, check=1)
    assert p.stderr.strip() == "*** Not found: /api/queues/%s/ra-q" % vhost


def test_declare_inequivalent_prints_reason(admin, vhost):
    admin("declare", "queue", "name=ra-q", "durable=true", vhost=vhost, check=0)
    p = admin("declare", "queue", "name=ra-q", "durable=false", vhost=vhost, check=1)
    assert p.stderr.strip() == ("*** inequivalent arg 'durable' for queue 'ra-q' in vhost "
                                "'%s': received 'false' but current is 'true'" % vhost)


def test_publish_list_messages_get(admin, vhost):
    admin("declare", "queue", "name=ra-q", vhost=vhost, check=0)
    p = admin("publish", "routing_key=ra-q", "payload=hello", vhost=vhost, check=0)
    assert p.stdout == "Message published\n"
    p = admin("publish", "exchange=amq.default", "routing_key=nowhere", "payload=x",
              vhost=vhost, check=0)
    assert p.stdout == "Message published but NOT routed\n"

    def one_message():
        out = admin("-f", "tsv", "list", "queues", "name", "messages", vhost=vhost, check=0)
        return out.stdout if "ra-q\t1" in out.stdout.splitlines() else None
    tsv = wait_for(one_message, what="list queues shows 1 message")
    assert tsv.splitlines()[0] == "name\tmessages"
    p = admin("get", "queue=ra-q", "ackmode=ack_requeue_false", vhost=vhost, check=0)
    rows = table(p.stdout)
    assert rows[0] == ["routing_key", "exchange", "message_count", "payload", "payload_bytes",
                       "payload_encoding", "properties", "redelivered"]
    assert rows[1] == ["ra-q", "", "0", "hello", "5", "string", "", "False"]
    p = admin("get", "queue=ra-q", "ackmode=ack_requeue_false", vhost=vhost, check=0)
    assert p.stdout == "No items\n"


def test_publish_from_stdin_is_base64(admin, api, vhost):
    admin("declare", "queue", "name=ra-q", vhost=vhost, check=0)
    cmd_out = subprocess.run(["/usr/bin/python3", ADMIN, "-H", api.host, "-P", str(api.port),
                              "-u", api.user, "-p", api.password, "-V", vhost, "publish",
                              "routing_key=ra-q"], input="from stdin", capture_output=True,
                             text=True, timeout=30)
    assert cmd_out.returncode == 0 and cmd_out.stdout == "Message published\n"
    r = api.post(path("queues", vhost, "ra-q", "get"),
                 {"count": 1, "ackmode": "ack_requeue_false", "encoding": "auto"})
    assert r.body[0]["payload"] == "from stdin"


def test_purge(admin, api, vhost):
    admin("declare", "queue", "name=ra-q", vhost=vhost, check=0)
    admin("publish", "routing_key=ra-q", "payload=x", vhost=vhost, check=0)
    p = admin("purge", "queue", "name=ra-q", vhost=vhost, check=0)
    assert p.stdout == "queue purged\n"
    r = api.post(path("queues", vhost, "ra-q", "get"),
                 {"count": 1, "ackmode": "ack_requeue_false", "encoding": "auto"})
    assert r.body == []


def test_exchanges_and_bindings(admin, api, vhost):
    admin("declare", "queue", "name=ra-q", vhost=vhost, check=0)
    p = admin("declare", "exchange", "name=ra-x", "type=topic", vhost=vhost, check=0)
    assert p.stdout == "exchange declared\n"
    p = admin("declare", "binding", "source=ra-x", "destination=ra-q", "routing_key=a.#",
              vhost=vhost, check=0)
    assert p.stdout == "binding declared\n"
    admin("declare", "binding", "source=ra-x", "destination_type=exchange",
          "destination=amq.fanout", "routing_key=z", vhost=vhost, check=0)
    p = admin("list", "exchanges", vhost=vhost, check=0)
    rows = table(p.stdout)
    assert rows[0] == ["name", "type"]
    assert ["ra-x", "topic"] in rows and ["", "direct"] in rows
    p = admin("list", "bindings", vhost=vhost, check=0)
    rows = table(p.stdout)
    assert rows[0] == ["source", "destination", "routing_key"]
    assert sorted(rows[1:]) == [["", "ra-q", "ra-q"], ["ra-x", "amq.fanout", "z"],
                                ["ra-x", "ra-q", "a.#"]]
    p = admin("list", "bindings", "source", "destination", "properties_key", vhost=vhost,
              fmt="raw_json", check=0)
    got = json.loads(p.stdout)
    assert {"source": "ra-x", "destination": "ra-q", "properties_key": "a.%23"} in got
    p = admin("delete", "binding", "source=ra-x", "destination_type=queue", "destination=ra-q",
              "properties_key=a.%23", vhost=vhost, check=0)
    assert p.stdout == "binding deleted\n"
    assert api.get(path("bindings", vhost, "e", "ra-x", "q", "ra-q")).body == []
    p = admin("delete", "exchange", "name=ra-x", vhost=vhost, check=0)
    assert p.stdout == "exchange deleted\n"


def test_export_and_import(admin, api, vhost, tmp_path):
    admin("declare", "queue", "name=ra-q", vhost=vhost, check=0)
    admin("declare", "exchange", "name=ra-x", "type=fanout", vhost=vhost, check=0)
    admin("declare", "binding", "source=ra-x", "destination=ra-q", vhost=vhost, check=0)
    everything = tmp_path / "all.json"
    p = admin("export", str(everything), check=0)
    assert p.stdout == 'Exported definitions for %s to "%s"\n' % (api.host, everything)
    doc = json.loads(everything.read_text())
    assert {"rabbit_version", "users", "vhosts", "queues", "exchanges", "bindings"} <= set(doc)
    assert {"name": vhost} in doc["vhosts"]
    one = tmp_path / "vh.json"
    admin("export", str(one), vhost=vhost, check=0)
    vdoc = json.loads(one.read_text())
    assert [q["name"] for q in vdoc["queues"]] == ["ra-q"]
    # into another vhost, per vhost
    other = unique("tern-api-ra")
    try:
        api.ok("PUT", path("vhosts", other), {})
        p = admin("import", str(one), vhost=other, check=0)
        # sic: host and file the wrong way round
        assert p.stdout.startswith('Uploaded definitions from "%s" to %s.' % (api.host, one))
        assert [q["name"] for q in api.get(path("queues", other)).body] == ["ra-q"]
        assert api.get(path("bindings", other, "e", "ra-x", "q", "ra-q")).body != []
    finally:
        api.delete(path("vhosts", other))
    # a whole-broker import (a document naming only a new vhost and a queue in it)
    third = unique("tern-api-ra")
    f = tmp_path / "new.json"
    f.write_text(json.dumps({"vhosts": [{"name": third}], "queues": [
        {"name": "imported", "vhost": third, "durable": True, "auto_delete": False,
         "arguments": {}}]}))
    try:
        admin("import", str(f), check=0)
        assert api.get(path("queues", third, "imported")).status == 200
    finally:
        api.delete(path("vhosts", third))


def test_list_users_vhosts_show_overview(admin, api, vhost):
    rows = table(admin("list", "users", check=0).stdout)
    assert rows[0] == ["name", "hashing_algorithm", "password_hash", "tags"]
    assert [r for r in rows if r[0] == api.user][0][3] == "administrator"
    rows = table(admin("list", "vhosts", check=0).stdout)
    assert rows[0] == ["name", "messages"]
    assert vhost in [r[0] for r in rows] and "/" in [r[0] for r in rows]
    rows = table(admin("show", "overview", check=0).stdout)
    assert rows[0] == ["rabbitmq_version", "cluster_name", "queue_totals.messages",
                       "object_totals.queues"]
    o = api.get("/api/overview").body
    assert rows[1][:2] == [o["rabbitmq_version"], o["cluster_name"]]
    assert int(rows[1][3]) >= 0


def test_declare_vhost_user_permission_policy(admin, api, users):
    vh, u = unique("tern-api-ra"), unique("tern-api-rau")
    users.made.append(u)
    try:
        assert admin("declare", "vhost", "name=" + vh, check=0).stdout == "vhost declared\n"
        admin("declare", "user", "name=" + u, "password=pw", "tags=monitoring", check=0)
        assert api.get(path("users", u)).body["tags"] == ["monitoring"]
        admin("declare", "permission", "vhost=" + vh, "user=" + u, "configure=.*",
              "write=.*", "read=.*", check=0)
        assert api.get(path("permissions", vh, u)).status == 200
        admin("declare", "policy", "name=ra-p", "pattern=^ra", 'definition={"max-length":5}',
              "priority=2", "apply-to=queues", vhost=vh, check=0)
        assert api.get(path("policies", vh, "ra-p")).body["priority"] == 2
        admin("declare", "vhost_limit", "vhost=" + vh, "name=max-queues", "value=10", check=0)
        assert api.get(path("vhost-limits", vh)).body == [{"vhost": vh,
                                                           "value": {"max-queues": 10}}]
        admin("delete", "policy", "name=ra-p", vhost=vh, check=0)
        admin("delete", "permission", "vhost=" + vh, "user=" + u, check=0)
        admin("delete", "user", "name=" + u, check=0)
        assert api.get(path("users", u)).status == 404
    finally:
        admin("delete", "vhost", "name=" + vh)
    assert api.get(path("vhosts", vh)).status == 404


def test_list_and_close_connections(admin, api, vhost, amqp):
    c = amqp.connect(vhost)
    name = Amqp.local_name(c)

    def listed():
        out = admin("-f", "tsv", "list", "connections", "name", "user", check=0).stdout
        return name + "\t" + api.user in out.splitlines()
    wait_for(listed, what="list connections shows ours")
    p = admin("close", "connection", "name=" + name, check=0)
    assert p.stdout == "connection closed\n"


def test_access_refused(admin, api, users):
    p = admin("list", "users", password="wrong-password", check=1)
    assert p.stderr.strip() == "*** Access refused: /api/users"
    u, pw = users.make(tags="monitoring")
    p = admin("list", "users", user=u, password=pw, check=1)
    assert p.stderr.strip() == "*** Access refused: /api/users"
    assert admin("list", "vhosts", user=u, password=pw).returncode == 0
