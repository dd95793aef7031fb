"""Two more real client libraries against the broker, unchanged: Go's
github.com/rabbitmq/amqp091-go (tests/clients/go/main.go) and Node's amqplib
(tests/clients/node/test.js). Each program runs the same steps — declare and
bind, publish with confirms, Qos prefetch, consume with manual acks, nack with
requeue (redelivered), mandatory publish returned 312 NO_ROUTE, passive
declare of a missing queue (404, channel closed), a 1 MiB round trip, clean
close — printing "step NAME: ok ..." per step and exiting 0, or "FAIL NAME:
..." and exiting non-zero.

Toolchains come from Debian (tools/deps.sh installs them for `make check`):
  Go   golang-go + golang-github-rabbitmq-amqp091-go-dev, built in GOPATH mode
       (no module proxy); build cache in build/clients/go.
  Node nodejs + npm; `npm ci` installs the amqplib pinned in
       tests/clients/node/package-lock.json into tests/clients/node/node_modules,
       its cache in build/clients/npm-cache.
A missing toolchain FAILS these tests, naming the package: they never skip.

test_close_ok_leaves_socket_to_client pins down, deterministically, what
the Go client's last step ("close-notify") catches about one run in two: a
broker that closes TCP right after connection.close-ok (Tern did, until
ceb29db) makes amqp091-go's reader hit EOF before Connection.Close finishes,
and NotifyClose reports a graceful close as Exception (501) "EOF". RabbitMQ
leaves the socket for the client to close."""
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

BUILD_TIMEOUT = 180      # go build / npm ci (a cold npm cache downloads)
RUN_TIMEOUT = 90         # each program has its own 60 s watchdog

STEPS = ["connect", "channel", "declare", "confirm-publish", "qos", "consume",
         "nack-requeue", "mandatory-return", "large-message", "passive-404",
         "cleanup", "close", "close-notify"]


def need(path, package):
    if not os.path.exists(path):
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


def closes_socket_after_close_ok(broker):
    """True when the broker closes TCP within 0.5 s of sending
    connection.close-ok to a client's connection.close."""
    with broker.raw() as c:
        c.handshake(broker.user, broker.password, broker.vhost)
        c.send_method(0, (10, 50), close_args(200, "bye"))
        c.read_method(expect=(10, 51))
        return c.wait_closed(timeout=0.5)


def run_client(cmd, broker, names, label):
    prefix = names.base + "-" + label
    # the program deletes them itself; these are for a run that fails midway
    names.queues.append(prefix + "-q")
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
    assert done == STEPS, msg
    assert lines[-1] == "all steps passed", msg
    assert not [l for l in lines if l.startswith("FAIL")], msg
    # the program talked to this broker, not some other one
    product = broker.server_properties.get("product", b"")
    if isinstance(product, bytes):
        product = product.decode(errors="replace")
    assert lines[0].startswith("step connect: ok server %s " % product), msg
    return lines


@pytest.mark.time_limit(240)
def test_go_amqp091(go_client, broker, names):
    lines = run_client(go_client, broker, names, "go")
    assert any("1048576 bytes round trip intact" in l for l in lines)
    assert any("*amqp.Error 404" in l for l in lines)


@pytest.mark.time_limit(240)
def test_node_amqplib(node_client, broker, names):
    lines = run_client(node_client, broker, names, "node")
    assert any("1048576 bytes round trip intact" in l for l in lines)
    assert any("error code 404" in l for l in lines)


def test_close_ok_leaves_socket_to_client(broker):
    """After a client's connection.close and the broker's close-ok, the
    client closes the socket (RabbitMQ waits for it: seconds later the
    socket is still open). A broker that closes it first makes amqp091-go
    report a graceful close as Exception (501) "EOF" to NotifyClose."""
    assert not closes_socket_after_close_ok(broker), \
        "the broker closed TCP within 0.5 s of connection.close-ok"
