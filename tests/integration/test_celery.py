"""Celery end to end: a real worker (subprocess, --pool=solo) takes tasks
from the broker under test and sends results back through the rpc://
result backend (a reply queue per client)."""
import os
import signal
import subprocess
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))


def _celery_url(broker):
    # kombu wants the vhost in the path: "/" is written as "//"
    vh = "/" if broker.vhost == "/" else broker.vhost
    return "amqp://%s:%s@%s:%d/%s" % (broker.user, broker.password, broker.host,
                                      broker.port, vh)


@pytest.fixture
def celery_env(broker, names, monkeypatch):
    queue = names.queue()
    monkeypatch.setenv("TERN_CELERY_BROKER", _celery_url(broker))
    monkeypatch.setenv("TERN_CELERY_QUEUE", queue)
    sys.path.insert(0, HERE)
    try:
        sys.modules.pop("celery_app", None)
        import celery_app
        yield celery_app, queue
    finally:
        sys.path.remove(HERE)
        sys.modules.pop("celery_app", None)


@pytest.fixture
def worker(celery_env, tmp_path):
    app_mod, queue = celery_env
    log = open(tmp_path / "worker.log", "wb")
    proc = subprocess.Popen(
        ["/usr/bin/python3", "-m", "celery", "-A", "celery_app", "worker",
         "--pool=solo", "-c", "1", "-Q", queue, "-n", "tern-test-%s@localhost" % queue,
         "--without-gossip", "--without-mingle", "--without-heartbeat",
         "-l", "INFO"],
        cwd=HERE, env=dict(os.environ), stdout=log, stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL)
    try:
        yield proc, tmp_path / "worker.log"
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)        # warm shutdown
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        log.close()


@pytest.mark.slow
@pytest.mark.time_limit(90)
def test_celery_task_round_trip(celery_env, worker):
    app_mod, queue = celery_env
    proc, log_path = worker
    r1 = app_mod.add.delay(2, 3)
    r2 = app_mod.add.apply_async((40, 2))
    r3 = app_mod.fail.delay("boom")
    try:
        assert r1.get(timeout=60) == 5
        assert r2.get(timeout=30) == 42
        with pytest.raises(ValueError, match="boom"):
            r3.get(timeout=30)
    except Exception:
        print(open(log_path, "rb").read().decode(errors="replace")[-4000:])
        raise
    assert proc.poll() is None, "worker died"
    assert r1.status == "SUCCESS" and r3.status == "FAILURE"
    app_mod.app.close()
