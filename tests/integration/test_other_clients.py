"""More real client libraries against the broker, unchanged, each driven
by a program in tests/clients that runs fixed steps and prints
"step NAME: ok ..." per step, then "all steps passed" (exit 0), or
"FAIL NAME: ..." (exit non-zero) at the first mismatch, with a 60 s
watchdog of its own:

  Go      github.com/rabbitmq/amqp091-go   tests/clients/go/main.go
  Node    amqplib                          tests/clients/node/test.js
  Ruby    Bunny 2.19                       tests/clients/ruby/test.rb
  PHP     php-amqp 1.11 (librabbitmq)      tests/clients/php/test.php
  Python  aio-pika 8.2 (aiormq)            tests/clients/python/test_aio.py

The common steps: declare (queue, direct exchange, bind), publish with
confirms, Qos prefetch, consume with manual acks, nack with requeue
(redelivered), mandatory publish returned 312 NO_ROUTE, a 1 MiB round trip,
passive declare of a missing queue (404, channel closed, the other channel
unharmed), clean close. Each client's STEPS below lists what it does, in
order; the differences:
  close-notify  Go and Node only: the others have no close listener that
                tells a graceful close from a lost one.
  rpc           Ruby, PHP, Python: RPC over direct reply-to. The client
                consumes amq.rabbitmq.reply-to without acks, publishes a
                request with reply_to = amq.rabbitmq.reply-to to a server
                queue; a second consumer in the same program answers by
                publishing to the request's reply_to (which the broker must
                have rewritten to amq.rabbitmq.reply-to.SOMETHING), and the
                reply must come back. None of these versions has an RPC
                helper that uses direct reply-to, so it is done by hand, as
                RabbitMQ's docs describe. Last, on a connection of its own,
                so that a broker without direct reply-to fails that step alone.
  rpc-pattern   Python only: aio_pika.patterns.RPC, aio-pika's own helper.
                In 8.2 it uses a server-named reply queue bound to a headers
                exchange (and a dead-letter exchange on the call queue), not
                direct reply-to; its close unbinds a queue its cancel has
                just auto-deleted, which RabbitMQ answers with unbind-ok.
  connect       PHP prints host, port and vhost: php-amqp does not expose
                the server properties, so its first line cannot name the
                server's product as the others' do.
Every expectation was checked against RabbitMQ 3.10.8 (BROKER_URL=
amqp://guest:guest@127.0.0.1:5672/%2F): all five pass there.

Toolchains come from Debian (tools/deps.sh installs them for `make check`):
  Go     golang-go + golang-github-rabbitmq-amqp091-go-dev, built in GOPATH
         mode (no module proxy); build cache in build/clients/go.
  Node   nodejs + npm; `npm ci` installs the amqplib pinned in
         tests/clients/node/package-lock.json into tests/clients/node/node_modules,
         its cache in build/clients/npm-cache.
  Ruby   ruby + ruby-bunny.
  PHP    php-cli + php-amqp (the extension must be loaded).
  Python python3-aio-pika, run by /usr/bin/python3.
A missing toolchain FAILS these tests, naming the package: they never skip.

test_close_ok_leaves_socket_to_client pins down, deterministically, what
the Go client's last step ("close-notify") catches about one run in two: a
broker that closes TCP right after connection.close-ok (Tern did, until
ceb29db) makes amqp091-go's reader hit EOF before Connection.Close finishes,
and NotifyClose reports a graceful close as Exception (501) "EOF". RabbitMQ
leaves the socket for the client to close."""
import glob
import json
import os
import subprocess

import pytest

from support.amqpraw import close_args
from support.broker import REPO_ROOT

CLIENTS = os.path.join(REPO_ROOT, "tests", "clients")
BUILD = os.path.join(REPO_ROOT, "build", "clients")

GO = "/usr/bin/go"
AMQP091_SRC = "/usr/share/gocode/src/github.com/rabbitmq/amqp091-go/channel.go"
NODE = "/usr/bin/node"
NPM = "/usr/bin/npm"
RUBY = "/usr/bin/ruby"
BUNNY_GLOB = "/usr/share/rubygems-integration/all/gems/bunny-*/lib/bunny.rb"
PHP = "/usr/bin/php"
PYTHON = "/usr/bin/python3"
AIO_PIKA_SRC = "/usr/lib/python3/dist-packages/aio_pika/patterns/rpc.py"

BUILD_TIMEOUT = 180      # go build / npm ci (a cold npm cache downloads)
RUN_TIMEOUT = 90         # each program has its own 60 s watchdog

COMMON = ["connect", "channel", "declare", "confirm-publish", "qos", "consume",
          "nack-requeue", "mandatory-return", "large-message", "passive-404"]
GO_STEPS = COMMON + ["cleanup", "close", "close-notify"]
NODE_STEPS = COMMON + ["cleanup", "close", "close-notify"]
RUBY_STEPS = COMMON + ["cleanup", "close", "rpc"]
PHP_STEPS = COMMON + ["cleanup", "close", "rpc"]
AIO_STEPS = COMMON + ["rpc-pattern", "cleanup", "close", "rpc"]


def need(path, package):
    if not glob.glob(path):
        pytest.fail("%s not found: install the Debian package %s (tools/deps.sh "
                    "install, or make check as root, does)" % (path, package),
                    pytrace=False)


def show(p):
    return "exit status %s\n--- stdout:\n%s\n--- stderr:\n%s" % (
        p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace"))


def run_tool(cmd, what, env=None, cwd=None, timeout=BUILD_TIMEOUT):
    try:
        p = subprocess.run(cmd, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        pytest.fail("%s did not finish within %d s: %s\n%s" % (
            what, timeout, " ".join(cmd), (e.stdout or b"").decode(errors="replace")
            + (e.stderr or b"").decode(errors="replace")), pytrace=False)
    if p.returncode != 0:
        pytest.fail("%s failed: %s\n%s" % (what, " ".join(cmd), show(p)), pytrace=False)
    return p


@pytest.fixture(scope="module")
def go_client():
    """tests/clients/go built against Debian's amqp091-go, GOPATH mode."""
    need(GO, "golang-go")
    need(AMQP091_SRC, "golang-github-rabbitmq-amqp091-go-dev")
    out = os.path.join(BUILD, "go")
    os.makedirs(os.path.join(out, "gopath"), exist_ok=True)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("GO") and k != "CGO_ENABLED"}
    env.update(GO111MODULE="off", GOPATH="/usr/share/gocode:" + os.path.join(out, "gopath"),
               GOCACHE=os.path.join(out, "cache"), GOPROXY="off", GOFLAGS="",
               GOENV="off", GOTOOLCHAIN="local", CGO_ENABLED="0")
    binary = os.path.join(out, "amqp091check")
    run_tool([GO, "build", "-o", binary, "."], "go build of tests/clients/go",
             env=env, cwd=os.path.join(CLIENTS, "go"))
    return [binary]


@pytest.fixture(scope="module")
def node_client():
    """tests/clients/node with `npm ci` done (amqplib as locked)."""
    need(NODE, "nodejs")
    need(NPM, "npm")
    src = os.path.join(CLIENTS, "node")
    env = dict(os.environ)
    env.update(npm_config_cache=os.path.join(BUILD, "npm-cache"),
               npm_config_update_notifier="false", npm_config_fund="false",
               npm_config_audit="false", npm_config_progress="false")
    run_tool([NPM, "ci", "--prefer-offline", "--no-audit", "--no-fund",
              "--loglevel=error"], "npm ci in tests/clients/node", env=env, cwd=src)
    with open(os.path.join(src, "package-lock.json")) as f:
        want = json.load(f)["packages"]["node_modules/amqplib"]["version"]
    with open(os.path.join(src, "node_modules", "amqplib", "package.json")) as f:
        got = json.load(f)["version"]
    assert got == want, "npm ci installed amqplib %s, the lock says %s" % (got, want)
    return [NODE, os.path.join(src, "test.js")]


@pytest.fixture(scope="module")
def ruby_client():
    """tests/clients/ruby with Debian's Bunny."""
    need(RUBY, "ruby")
    need(BUNNY_GLOB, "ruby-bunny")
    return [RUBY, os.path.join(CLIENTS, "ruby", "test.rb")]


@pytest.fixture(scope="module")
def php_client():
    """tests/clients/php with Debian's php-amqp extension; notices and
    deprecations go to stderr, so they cannot hide among the step lines."""
    need(PHP, "php-cli")
    cmd = [PHP, "-d", "display_errors=stderr", "-d", "error_reporting=-1"]
    p = subprocess.run(cmd + ["-r", "exit(extension_loaded('amqp') ? 0 : 1);"],
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
    if p.returncode != 0:
        pytest.fail("php has no amqp extension: install the Debian package php-amqp "
                    "(tools/deps.sh install does)\n" + show(p), pytrace=False)
    return cmd + [os.path.join(CLIENTS, "php", "test.php")]


@pytest.fixture(scope="module")
def aio_client():
    """tests/clients/python with Debian's aio-pika, on /usr/bin/python3."""
    need(PYTHON, "python3")
    need(AIO_PIKA_SRC, "python3-aio-pika")
    return [PYTHON, os.path.join(CLIENTS, "python", "test_aio.py")]


def closes_socket_after_close_ok(broker):
    """True when the broker closes TCP within 0.5 s of sending
    connection.close-ok to a client's connection.close."""
    with broker.raw() as c:
        c.handshake(broker.user, broker.password, broker.vhost)
        c.send_method(0, (10, 50), close_args(200, "bye"))
        c.read_method(expect=(10, 51))
        return c.wait_closed(timeout=0.5)


def run_client(cmd, broker, names, label, steps, first_line=None):
    """Runs a client program against broker and checks that it did exactly
    `steps`; its first line must start with first_line (default: the
    broker's product, which shows it talked to this broker)."""
    prefix = names.base + "-" + label
    # the program deletes them itself; these are for a run that fails midway
    names.queues.extend(prefix + s for s in ("-q", "-rpc", "-add"))
    names.exchanges.append(prefix + "-x")
    try:
        p = subprocess.run(cmd + [broker.url, prefix], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired as e:
        pytest.fail("%s did not finish within %d s; output so far:\n%s" % (
            label, RUN_TIMEOUT, (e.stdout or b"").decode(errors="replace")), pytrace=False)
    out = p.stdout.decode(errors="replace")
    msg = "%s against %s\n%s" % (label, broker.url, show(p))
    if not broker.external:
        msg += "\n--- broker log tail:\n" + broker.log_tail(30)
    lines = out.splitlines()
    assert p.returncode == 0, msg
    done = [l.split(":", 1)[0][len("step "):] for l in lines
            if l.startswith("step ") and ": ok" in l]
    assert done == steps, msg
    assert lines[-1] == "all steps passed", msg
    assert not [l for l in lines if l.startswith("FAIL")], msg
    # the program talked to this broker, not some other one
    if first_line is None:
        product = broker.server_properties.get("product", b"")
        if isinstance(product, bytes):
            product = product.decode(errors="replace")
        first_line = "step connect: ok server %s " % product
    assert lines[0].startswith(first_line), msg
    return lines


@pytest.mark.time_limit(240)
def test_go_amqp091(go_client, broker, names):
    lines = run_client(go_client, broker, names, "go", GO_STEPS)
    assert any("1048576 bytes round trip intact" in l for l in lines)
    assert any("*amqp.Error 404" in l for l in lines)


@pytest.mark.time_limit(240)
def test_node_amqplib(node_client, broker, names):
    lines = run_client(node_client, broker, names, "node", NODE_STEPS)
    assert any("1048576 bytes round trip intact" in l for l in lines)
    assert any("error code 404" in l for l in lines)


def rpc_line(lines):
    """The rpc step's line; it names the rewritten reply_to."""
    [line] = [l for l in lines if l.startswith("step rpc: ok ")]
    assert "reply_to amq.rabbitmq.reply-to." in line, line
    return line


@pytest.mark.time_limit(240)
def test_ruby_bunny(ruby_client, broker, names):
    lines = run_client(ruby_client, broker, names, "ruby", RUBY_STEPS)
    assert any("1048576 bytes round trip intact" in l for l in lines)
    assert any("Bunny::NotFound 404" in l for l in lines)
    rpc_line(lines)


@pytest.mark.time_limit(240)
def test_php_amqp(php_client, broker, names):
    first = "step connect: ok %s:%d vhost %s, " % (broker.host, broker.port, broker.vhost)
    lines = run_client(php_client, broker, names, "php", PHP_STEPS, first_line=first)
    assert any("1048576 bytes round trip intact" in l for l in lines)
    assert any("AMQPQueueException 404" in l for l in lines)
    rpc_line(lines)


@pytest.mark.time_limit(240)
def test_python_aio_pika(aio_client, broker, names):
    lines = run_client(aio_client, broker, names, "aio", AIO_STEPS)
    assert any("1048576 bytes round trip intact" in l for l in lines)
    assert any("ChannelNotFoundEntity (404 NOT_FOUND" in l for l in lines)
    assert any(l.startswith("step rpc-pattern: ok RPC.call ") and "= 42 " in l for l in lines)
    rpc_line(lines)


def test_close_ok_leaves_socket_to_client(broker):
    """After a client's connection.close and the broker's close-ok, the
    client closes the socket (RabbitMQ waits for it: seconds later the
    socket is still open). A broker that closes it first makes amqp091-go
    report a graceful close as Exception (501) "EOF" to NotifyClose."""
    assert not closes_socket_after_close_ok(broker), \
        "the broker closed TCP within 0.5 s of connection.close-ok"
