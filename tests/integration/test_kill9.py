"""A few rounds of the kill -9 crash test (tests/durability/kill9.py) for CI:
confirmed persistent messages must survive SIGKILL of the broker at random
moments. Tern-only: the script starts and kills its own ternd ($TERND)."""
import os
import subprocess
import sys

import pytest

from support.broker import REPO_ROOT, Broker

SCRIPT = os.path.join(REPO_ROOT, "tests", "durability", "kill9.py")

pytestmark = pytest.mark.tern_only


@pytest.mark.slow
@pytest.mark.time_limit(120)
@pytest.mark.parametrize("extra", [[], ["--consume"]], ids=["publish", "publish+consume"])
def test_kill9_rounds(extra):
    ternd = Broker._resolve_ternd(None)
    if not os.access(ternd, os.X_OK):
        pytest.skip("no ternd at %s" % ternd)
    p = subprocess.run(["/usr/bin/python3", SCRIPT, "--rounds", "3", ternd] + extra,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=110)
    out = p.stdout.decode(errors="replace")
    sys.stdout.write(out)
    lines = out.splitlines()
    assert "3 passed, 0 failed" in lines, out
    assert p.returncode == 0, out
