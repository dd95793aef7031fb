"""Fixtures for tests/integration: real clients against the broker under
test (support/broker.py; the session-wide `broker` fixture lives in
tests/conftest.py)."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from support.broker import Broker  # noqa: E402,F401


@pytest.fixture
def conn(broker):
    """A pika BlockingConnection, closed after the test."""
    c = broker.connect()
    yield c
    if c.is_open:
        try:
            c.close()
        except Exception:
            pass


@pytest.fixture
def ch(conn):
    return conn.channel()


@pytest.fixture
def queue(ch, names):
    """A fresh, empty, non-exclusive queue name declared on ch."""
    q = names.queue()
    ch.queue_declare(q)
    return q


@pytest.fixture
def defs_broker(broker):
    """Factory for brokers loaded with definitions (support/defs.py):
    defs_broker(config_lines=()) -> DefsBroker; a dedicated ternd per call
    (BROKER_URL unset) or the BROKER_URL broker with its management API.
    Each is stopped / cleaned up after the test."""
    from support.defs import DefsBroker
    made = []

    def make(config_lines=()):
        d = DefsBroker(broker, config_lines)
        made.append(d)
        return d
    yield make
    for d in made:
        d.cleanup()
