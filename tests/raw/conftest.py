"""Fixtures for tests/raw: byte-level sessions against the broker under test
(support/amqpraw.py, support/broker.py; the session-wide `broker` fixture
lives in tests/conftest.py)."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from support.amqpraw import RawConnection  # noqa: E402


@pytest.fixture
def raw(broker):
    """A connected, not yet handshaken RawConnection (5 s read timeout)."""
    c = RawConnection(broker.host, broker.port, timeout=5.0)
    yield c
    c.close()


@pytest.fixture
def session(raw, broker):
    """A RawConnection after the full handshake with channel 1 open."""
    raw.handshake(broker.user, broker.password, broker.vhost)
    raw.open_channel(1)
    return raw
