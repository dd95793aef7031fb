"""ternd at its file descriptor limit: accept() fails with EMFILE while
the connection waits in the backlog. The broker must not spin on it (a
listener left enabled wakes at once and fails again, a log line each
time), must stay usable for the connections it has, and must take new
ones once descriptors are free again. ternd is started with soft and hard
RLIMIT_NOFILE both at LIMIT (it raises soft to hard itself), through a
small wrapper that sets the limit and execs it.

RabbitMQ's behaviour here is its own (its socket limit, sockets_total, is
below the descriptor limit and it refuses past it); what is shared is that
the node stays up and serves the connections it has."""
import os
import socket
import stat
import sys
import time

import pika
import pytest

from support.broker import Broker

LIMIT = 120


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.fixture
def limited(tmp_path):
    if os.environ.get("BROKER_URL"):
        pytest.skip("starts its own ternd with a low file descriptor limit")
    real = Broker._resolve_ternd(None)
    wrapper = tmp_path / "ternd-limited"
    wrapper.write_text(
        "#!%s\nimport os, resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (%d, %d))\n"
        "os.execv(%r, [%r] + sys.argv[1:])\n" % (sys.executable, LIMIT, LIMIT, real, real))
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    b = Broker(ternd=str(wrapper))
    b.start()
    yield b
    b.stop()
    b.cleanup()


@pytest.mark.time_limit(60)
def test_accept_at_the_limit_waits_instead_of_spinning(limited):
    socks = []
    try:
        for _ in range(LIMIT + 40):  # more than the broker has descriptors for
            s = socket.create_connection((limited.host, limited.port), timeout=5)
            s.sendall(b"AMQP\x00\x00\x09\x01")
            socks.append(s)
        time.sleep(1)  # the broker meets EMFILE by now
        pid = limited.proc.pid
        t0 = cpu_seconds(pid)
        time.sleep(2)
        spent = cpu_seconds(pid) - t0
        # Spinning on accept() would be ~2 s of CPU; paused, a few ms (more
        # under ASan, far below the bound).
        assert spent < 0.5, "ternd used %.2f s of CPU in 2 s at its fd limit" % spent
        log = limited.log_text()
        warnings = log.count("accept: Too many open files")
        assert 1 <= warnings <= 2, "%d accept warnings:\n%s" % (warnings, limited.log_tail())
        # Free descriptors: the waiting connections and then a new client
        # get in.
        for s in socks[:80]:
            s.close()
        del socks[:80]
        deadline = time.monotonic() + 10
        while True:
            try:
                c = pika.BlockingConnection(limited.params(socket_timeout=2))
                break
            except pika.exceptions.AMQPConnectionError:
                assert time.monotonic() < deadline, "no new connection accepted"
                time.sleep(0.2)
        ch = c.channel()
        q = ch.queue_declare("", exclusive=True).method.queue
        ch.basic_publish("", q, b"after the limit")
        assert ch.basic_get(q, auto_ack=True)[2] == b"after the limit"
        c.close()
    finally:
        for s in socks:
            s.close()
    limited.check_log()
