"""ternperf end to end, on small counts: it connects, publishes, consumes
and accounts for every message (its exit status is 1 if any is lost, and
its JSON summary says so). A check that the load generator and the broker
lose nothing, never a timing test: no rate or latency is asserted.
The binary is $TERNPERF or build/ternperf."""
import json
import os
import subprocess
import uuid

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def ternperf_path():
    path = os.environ.get("TERNPERF") or "build/ternperf"
    return path if os.path.isabs(path) else os.path.join(REPO, path)


def run(broker, *args):
    path = ternperf_path()
    assert os.path.exists(path), "%s missing: run make" % path
    q = "tp-" + uuid.uuid4().hex[:8]
    p = subprocess.run([path, "--uri", broker.url, "--json", "--cleanup", "--drain", "20",
                        "-u", q, *args], capture_output=True, text=True, timeout=120)
    lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
    assert lines, "no JSON from ternperf: %s %s" % (p.stdout[-500:], p.stderr[-500:])
    summary = json.loads(lines[-1])
    assert summary.get("summary"), lines[-1]
    assert p.returncode == 0, "ternperf exit %d: %s" % (p.returncode, p.stderr[-800:])
    assert summary["lost"] == 0 and summary["duplicated"] == 0, summary
    return summary


@pytest.mark.time_limit(150)
@pytest.mark.parametrize("args, per_message", [
    (["-x", "1", "-y", "1", "-C", "20000"], 1),
    (["-x", "2", "-y", "2", "-C", "10000", "-c", "50", "-q", "100"], 1),
    (["-x", "1", "-y", "1", "-C", "5000", "-f", "-c", "100", "--auto-delete", "false"], 1),
    (["-x", "1", "-y", "1", "-C", "10000", "-a", "-s", "2000"], 1),
    (["-x", "1", "-y", "4", "-C", "5000", "-e", "tp-fanout", "-t", "fanout",
      "--queues", "4"], 4),
    (["-x", "1", "-y", "1", "-C", "10000", "--max-priority", "10"], 1),
], ids=["plain", "confirms-prefetch", "persistent", "auto-ack-2k", "fanout-4", "priority"])
def test_every_message_arrives_once(broker, args, per_message):
    s = run(broker, *args)
    producers = int(args[args.index("-x") + 1])
    count = int(args[args.index("-C") + 1])
    assert s["published"] == producers * count, s
    assert s["delivered"] == producers * count * per_message, s
    if "-c" in args:
        assert s["confirmed"] == producers * count and s["nacked"] == 0, s
