"""Ports for the brokers the tests start, picked where no outgoing
connection's local port can land.

A port bound to 0 and closed again is free at that moment, but it comes
from the kernel's ephemeral range (net.ipv4.ip_local_port_range), the same
range every connect() takes its local port from. Any client connecting
between the pick and ternd's bind can take it, and ternd then exits with
"cannot listen on". Ports below that range are never given to a connect();
the only sockets that could hold one are other listeners, and a bind at
pick time rules those out.

Standard library only: tests/durability/kill9.py, tests/cluster and
tests/fuzz/record_conn.py import it as a top-level module (`ports`), the
pytest suites through support.broker."""
import random
import socket

LOWEST = 20000        # below this, well-known services (RabbitMQ's 5672, 15672)
_handed_out = set()   # never the same port twice from one process


def _ephemeral_low():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def _bindable(host, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((host, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def _kernel_pick(host):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((host, 0))
        return s.getsockname()[1]
    finally:
        s.close()


def free_port(host="127.0.0.1"):
    """A port no listener holds now, below the ephemeral range when the
    range leaves room there (otherwise one the kernel picks)."""
    high = _ephemeral_low()
    if high - LOWEST >= 1000:
        for _ in range(200):
            port = random.randrange(LOWEST, high)
            if port not in _handed_out and _bindable(host, port):
                _handed_out.add(port)
                return port
    port = _kernel_pick(host)
    _handed_out.add(port)
    return port


def free_ports(n, host="127.0.0.1"):
    """n distinct free ports."""
    return [free_port(host) for _ in range(n)]
