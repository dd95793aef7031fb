"""Root conftest for tests/integration and tests/raw: markers, the per-test
time limit, and the session-wide broker (support/broker.py)."""
import os
import signal
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from support.broker import Broker, BrokerError, Names  # noqa: E402

DEFAULT_TIME_LIMIT = 30.0


# ------------------------------------------------------------------ markers

def pytest_configure(config):
    # also declared in pytest.ini; repeated so a run with another ini works
    for line in ("tern_only: Tern-specific; skipped when BROKER_URL is set",
                 "rabbitmq_only: RabbitMQ-specific; runs only when BROKER_URL is set",
                 "time_limit(seconds): per-test wall-clock limit",
                 "slow: deliberately takes a few seconds"):
        config.addinivalue_line("markers", line)


def pytest_collection_modifyitems(config, items):
    external = bool(os.environ.get("BROKER_URL"))
    for item in items:
        if external and item.get_closest_marker("tern_only"):
            item.add_marker(pytest.mark.skip(reason="Tern-only (BROKER_URL is set)"))
        if not external and item.get_closest_marker("rabbitmq_only"):
            item.add_marker(pytest.mark.skip(reason="RabbitMQ-only (BROKER_URL not set)"))


# ------------------------------------------------------------------ time limit

class TimeLimitExceeded(Exception):
    pass


def _limit(item):
    m = item.get_closest_marker("time_limit")
    return float(m.args[0]) if m else DEFAULT_TIME_LIMIT


def _on_alarm(signum, frame):
    raise TimeLimitExceeded("test exceeded its time limit (a broker that does not "
                            "answer?)")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item):
    # the limit covers setup + call + teardown; the first test's setup also
    # starts the broker (itself bounded to ~10 s)
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, _limit(item) + 15.0)
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item, nextitem):
    yield
    signal.setitimer(signal.ITIMER_REAL, 0)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    signal.setitimer(signal.ITIMER_REAL, _limit(item))
    yield
    signal.setitimer(signal.ITIMER_REAL, 15.0)   # for teardown


# ------------------------------------------------------------------ broker

@pytest.fixture(scope="session")
def broker():
    """The broker under test (session-wide). Started here unless BROKER_URL
    is set; stopped with SIGTERM at the end, failing the run on a sanitizer
    report or an unclean exit."""
    b = Broker(os.environ.get("BROKER_URL") or None)
    try:
        b.start()
    except BrokerError as e:
        pytest.exit("cannot start the broker under test: %s" % e, returncode=3)
    yield b
    if b.external:
        return
    rc = b.stop()
    b.check_log()
    if rc not in (0, -signal.SIGTERM, None):
        raise BrokerError("ternd exited with status %s after SIGTERM; log tail:\n%s"
                          % (rc, b.log_tail()))
    b.cleanup()


@pytest.fixture(autouse=True)
def _broker_health(broker, request):
    """After each test: no new sanitizer report, and the broker still runs
    (when it died, restart it for the following tests and fail this one)."""
    yield
    if broker.external:
        return
    if not broker.alive():
        tail = broker.log_tail()
        rc = broker.proc.returncode if broker.proc else None
        broker.proc = None
        try:
            broker.check_log()
        finally:
            broker.start()
        pytest.fail("the broker died during %s (status %s); log tail:\n%s"
                    % (request.node.nodeid, rc, tail))
    broker.check_log()


@pytest.fixture
def restartable(broker):
    """The broker, for tests that restart it (durability): skipped against
    an external broker."""
    if broker.external:
        pytest.skip("needs a broker the suite started (BROKER_URL is set)")
    return broker


@pytest.fixture
def names(broker, request):
    """Unique queue/exchange names for this test; leftovers deleted after."""
    n = Names(broker, request.node.name)
    yield n
    n.cleanup()
