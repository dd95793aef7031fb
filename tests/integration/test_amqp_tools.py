"""rabbitmq-c's command-line tools (Debian amqp-tools) against the broker:
amqp-declare-queue, amqp-publish, amqp-get, amqp-consume, amqp-delete-queue.
Connection options are passed one by one (--server --port --vhost ...)
rather than as a URL, to keep rabbitmq-c's URL vhost rules out of it."""
import shutil
import subprocess
import time

import pytest

from support.helpers import get_body, sync, wait_message_count

pytestmark = pytest.mark.skipif(shutil.which("amqp-publish") is None,
                                reason="amqp-tools not installed")


def conn_args(broker):
    return ["--server", broker.host, "--port", str(broker.port), "--vhost", broker.vhost,
            "--username", broker.user, "--password", broker.password]


def run(tool, broker, *args, input=None, timeout=10):
    p = subprocess.run([tool] + conn_args(broker) + list(args), input=input,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    return p


def test_declare_publish_get(broker, ch, names):
    q = names.queue()
    p = run("amqp-declare-queue", broker, "-q", q)
    assert p.returncode == 0, p.stderr
    assert p.stdout.decode().strip() == q
    ch.queue_declare(q, passive=True)

    p = run("amqp-publish", broker, "-r", q, "-b", "from-amqp-publish",
            "-C", "text/plain", "-H", "k: v")
    assert p.returncode == 0, p.stderr
    assert wait_message_count(ch, ch.connection, q, 1)
    p = run("amqp-get", broker, "-q", q)
    assert p.returncode == 0, p.stderr
    assert p.stdout == b"from-amqp-publish"
    # amqp-get on an empty queue fails (exit status 2, "no messages")
    p = run("amqp-get", broker, "-q", q)
    assert p.returncode != 0


def test_publish_properties_seen_by_pika(broker, ch, names):
    q = names.queue()
    ch.queue_declare(q)
    p = run("amqp-publish", broker, "-r", q, "-b", "props", "-C", "text/plain",
            "-E", "utf-8", "-t", "reply-here", "-p", "-H", "k: v")
    assert p.returncode == 0, p.stderr
    assert wait_message_count(ch, ch.connection, q, 1)
    m, props, body = ch.basic_get(q, auto_ack=True)
    assert body == b"props"
    assert props.content_type == "text/plain"
    assert props.content_encoding == "utf-8"
    assert props.reply_to == "reply-here"
    assert props.delivery_mode == 2
    assert props.headers in ({"k": "v"}, {"k": b"v"})


def test_publish_line_buffered_then_consume_count(broker, ch, names):
    q = names.queue()
    ch.queue_declare(q)
    p = run("amqp-publish", broker, "-r", q, "-l", input=b"one\ntwo\nthree\n")
    assert p.returncode == 0, p.stderr
    assert wait_message_count(ch, ch.connection, q, 3)
    # amqp-consume -c 1 runs the command once per message and stops after one
    p = run("amqp-consume", broker, "-q", q, "-c", "1", "cat")
    assert p.returncode == 0, p.stderr
    assert p.stdout == b"one\n"          # -l keeps the newline in the body
    p = run("amqp-consume", broker, "-q", q, "-c", "2", "-p", "1", "cat")
    assert p.returncode == 0, p.stderr
    assert p.stdout == b"two\nthree\n"
    assert ch.queue_declare(q, passive=True).method.message_count == 0


def test_consume_from_exchange_with_exclusive_queue(broker, ch, names):
    # amqp-consume -x -e X -r K declares an exclusive server-named queue,
    # binds it and consumes. (-e without -r segfaults in amqp-tools 0.11:
    # a client bug, not the broker's.)
    x = names.exchange()
    ch.exchange_declare(x, "direct")
    proc = subprocess.Popen(["amqp-consume"] + conn_args(broker) +
                            ["-x", "-e", x, "-r", "rk", "-c", "1", "cat"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        # wait for its queue to be bound: publish until something is taken
        deadline = time.monotonic() + 10
        while proc.poll() is None and time.monotonic() < deadline:
            ch.basic_publish(x, "rk", b"fanned")
            sync(ch)
            try:
                proc.wait(0.2)
            except subprocess.TimeoutExpired:
                pass
        out, err = proc.communicate(timeout=5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert out == b"fanned"


def test_delete_queue(broker, ch, names):
    q = names.queue()
    ch.queue_declare(q)
    p = run("amqp-delete-queue", broker, "-q", q)
    assert p.returncode == 0, p.stderr
    with pytest.raises(Exception):
        ch.queue_declare(q, passive=True)


def test_bad_credentials_fail(broker):
    p = subprocess.run(["amqp-declare-queue", "--server", broker.host, "--port", str(broker.port),
                        "--vhost", broker.vhost, "--username", broker.user,
                        "--password", "wrong-password", "-q", "x"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=15)
    assert p.returncode != 0
