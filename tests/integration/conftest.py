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
