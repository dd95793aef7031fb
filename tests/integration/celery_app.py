"""Celery app used by test_celery.py: the worker subprocess imports it with
`-A celery_app` (cwd = this directory). Broker and queue come from the
environment so that concurrent runs do not share a queue."""
import os

from celery import Celery

app = Celery("tern_tests",
             broker=os.environ.get("TERN_CELERY_BROKER", "amqp://guest:guest@127.0.0.1:5672//"),
             backend="rpc://")
app.conf.update(
    task_default_queue=os.environ.get("TERN_CELERY_QUEUE", "tern-celery-tests"),
    broker_connection_retry=False,
    broker_connection_max_retries=0,
    broker_connection_timeout=5,
    worker_hijack_root_logger=False,
    worker_prefetch_multiplier=1,
    task_acks_late=True,
    result_expires=60,
)


@app.task(name="tern_tests.add")
def add(x, y):
    return x + y


@app.task(name="tern_tests.fail")
def fail(msg):
    raise ValueError(msg)
