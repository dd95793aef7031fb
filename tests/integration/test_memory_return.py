"""Memory comes back when a big durable queue goes. 300,000 persistent
messages are published (ternperf, with confirms or as a flood without) to
a durable queue nobody consumes, the queue is deleted, and within a few
seconds ternd's RSS must be back near what it was before the publish.

Before this was fixed it stayed 64 MB higher with confirms (73 MB against
9 MB fresh) and 45 MB higher after the flood: the delete wrote one store
delete per entry (a batch of 300,000 ops of 160 bytes), a batch's arrays
kept the size of the biggest batch for good, and SQLite's page cache kept
what the publish had filled. Now the queue's row takes its entries in one
write, a batch's arrays shrink back after a big batch, and a store idle
for a second frees its page cache (store_release_idle).

Tern only (it reads ternd's /proc); skipped under AddressSanitizer,
whose allocator keeps freed memory in a quarantine."""
import os
import subprocess
import time

import pytest

from support.broker import Broker, ternperf_path
from support.helpers import proc_status_kb

MESSAGES = 300000
SLACK_KB = 16 * 1024  # RSS may end this much above the fresh broker's


def rss_kb(pid):
    return proc_status_kb(pid, "VmRSS")


def under_asan(pid):
    with open("/proc/%d/maps" % pid) as f:
        return "libasan" in f.read()


@pytest.fixture
def own_broker():
    if os.environ.get("BROKER_URL"):
        pytest.skip("reads ternd's own RSS")
    b = Broker()
    b.start()
    try:
        if under_asan(b.proc.pid):
            pytest.skip("ASan keeps freed memory in its quarantine")
        yield b
    finally:
        b.stop()
        b.cleanup()


@pytest.mark.parametrize("window", [1000, 0], ids=["confirms", "flood"])
def test_deleting_a_big_durable_queue_gives_its_memory_back(own_broker, window):
    b = own_broker
    pid = b.proc.pid
    fresh = rss_kb(pid)
    run = subprocess.run(
        [ternperf_path(), "--uri", b.url, "--json", "-x", "1", "-y", "0", "-s", "16",
         "-C", str(MESSAGES), "-c", str(window), "-f", "--auto-delete", "false", "-u", "memq"],
        capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    full = rss_kb(pid)
    assert full > fresh + 20 * 1024, "the publish should have cost memory: %d -> %d kB" % (
        fresh, full)

    conn = b.connect()
    try:
        deleted = conn.channel().queue_delete("memq").method.message_count
    finally:
        conn.close()
    assert deleted == MESSAGES

    # The store's idle release runs on the broker's once-a-second tick.
    deadline = time.monotonic() + 6
    now = rss_kb(pid)
    while now > fresh + SLACK_KB and time.monotonic() < deadline:
        time.sleep(0.25)
        now = rss_kb(pid)
    assert now <= fresh + SLACK_KB, (
        "RSS %d kB after deleting the queue: fresh %d kB, full %d kB" % (now, fresh, full))
    # The messages went for good: a queue of the same name starts empty.
    conn = b.connect()
    try:
        assert conn.channel().queue_declare("memq", durable=True).method.message_count == 0
    finally:
        conn.close()
