"""Fixtures for tests/api: the HTTP management API of the broker under test
(RabbitMQ 3.10's /api, path for path and field for field).

The broker comes from tests/conftest.py (support/broker.py): a Tern started
with `--management-port <free port>` (mgmt_url http://127.0.0.1:PORT), or,
with BROKER_URL set, that broker and its API at MGMT_URL (default
http://guest:guest@127.0.0.1:15672). Run against RabbitMQ with

  BROKER_URL=amqp://guest:guest@127.0.0.1:5672/ \\
  MGMT_URL=http://guest:guest@127.0.0.1:15672 /usr/bin/python3 -m pytest -q tests/api

Fixtures:
  api        an Api client as the broker's admin user (guest)
  api_as     api_as(user, password) -> Api as someone else
  vhost      a fresh vhost (guest has full permissions), deleted afterwards
  users      users.make(tags="", password=None, perms_on=None) -> (name, password);
             every user made is deleted afterwards
  amqp       Amqp: pika connections to the broker, closed afterwards
  wait_for   wait_for(fn, timeout=12, what=...) -> fn()'s first truthy value

RabbitMQ's statistics lag (collect_statistics_interval, 5 s): anything a
stats collector fills in (message counts, message_stats, new connections and
channels in lists) is polled with wait_for, never slept for.
"""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from apiclient import Amqp, Api, Users, mgmt_credentials, path, wait_for  # noqa: E402
from support.broker import unique  # noqa: E402


@pytest.fixture(scope="session")
def mgmt_url(broker):
    return broker.mgmt_url


@pytest.fixture(scope="session")
def api(broker):
    user, pw = mgmt_credentials(broker)
    return Api(broker.mgmt_url, user, pw)


@pytest.fixture
def api_as(broker):
    def make(user, password):
        return Api(broker.mgmt_url, user, password)
    return make


@pytest.fixture(name="wait_for")
def wait_for_fixture():
    return wait_for


@pytest.fixture
def vhost(api, request):
    """A fresh vhost named after the test; the API user gets full
    permissions on it. Deleted (with everything in it) afterwards."""
    base = "".join(ch if ch.isalnum() else "-" for ch in request.node.name)[:40]
    name = unique("tern-api-%s" % base)
    api.ok("PUT", path("vhosts", name), {})
    api.ok("PUT", path("permissions", name, api.user),
           {"configure": ".*", "write": ".*", "read": ".*"})
    yield name
    api.delete(path("vhosts", name))


@pytest.fixture
def users(api):
    u = Users(api)
    yield u
    u.cleanup()


@pytest.fixture
def amqp(broker):
    a = Amqp(broker)
    yield a
    a.close_all()
