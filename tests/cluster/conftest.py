import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from support.cluster import Cluster  # noqa: E402


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(str(tmp_path))
    c.start()
    yield c
    bad = c.stop()
    assert not bad, "sanitizer reports:\n" + "\n".join(bad)
