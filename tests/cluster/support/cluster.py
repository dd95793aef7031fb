"""cluster.py — three ternd on free loopback ports forming one cluster
(docs/clustering.md 4.5), for tests/cluster.

Each node gets its own data dir, log file and generated config with the
cluster.* lines, an AMQP port, a management port and a replication port.
Every wait is for a condition with a deadline (CI is slow and runs under
ASan); nothing sleeps blind. The leader is the node whose own /api/nodes
entry says state "leader" and whose AMQP port accepts a login.

    c = Cluster(tmpdir); c.start(); leader = c.wait_leader()
    c.kill9(leader); c.stop_node(n) (SIGSTOP) / c.cont(n) / c.restart(n)
"""
import base64
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pika

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "support"))
from ports import free_ports  # noqa: E402,F401 (tests/support/ports.py; F401: for the tests)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
TERND = os.environ.get("TERND", os.path.join(REPO, "build", "ternd"))
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer")
# Under ASan everything is slower: generous deadlines, never tight ones.
DEADLINE = float(os.environ.get("CLUSTER_DEADLINE", "30"))


def wait_for(cond, what, timeout=DEADLINE, every=0.05):
    """Polls cond() until it returns something true; fails after timeout."""
    end = time.monotonic() + timeout
    last = None
    while time.monotonic() < end:
        try:
            v = cond()
            if v:
                return v
        except Exception as e:  # a node still starting, a socket refused
            last = e
        time.sleep(every)
    raise AssertionError("timed out after %.0f s waiting for %s (last error: %r)" % (timeout, what, last))


class Node:
    def __init__(self, cluster, nid, amqp, mgmt, raft):
        self.cluster, self.id = cluster, nid
        self.amqp, self.mgmt, self.raft = amqp, mgmt, raft
        self.dir = os.path.join(cluster.workdir, "n%d" % nid)
        self.conf = os.path.join(cluster.workdir, "n%d.conf" % nid)
        self.log_path = os.path.join(cluster.workdir, "n%d.log" % nid)
        self.proc = None
        self.stopped = False  # SIGSTOPped
        self.killed = False   # by kill9: its exit is ours
        os.makedirs(self.dir, exist_ok=True)

    @property
    def amqp_address(self):
        return "127.0.0.1:%d" % self.amqp

    def start(self):
        assert self.proc is None or self.proc.poll() is not None
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen(
            [TERND, "--config", self.conf, "--bind", "127.0.0.1", "--port", str(self.amqp),
             "--data-dir", self.dir, "--management-port", str(self.mgmt),
             "--prometheus-port", "0", "--log-level", "info"],
            stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.stopped = self.killed = False

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def api(self, path, timeout=2.0):
        req = urllib.request.Request("http://127.0.0.1:%d/api/%s" % (self.mgmt, path))
        cred = ("%s:%s" % self.cluster.auth).encode()
        req.add_header("Authorization", "Basic " + base64.b64encode(cred).decode())
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return json.loads(r.read())

    def me(self):
        """This node's own /api/nodes entry."""
        return [n for n in self.api("nodes") if n.get("self")][0]

    def params(self, **kw):
        return pika.ConnectionParameters("127.0.0.1", self.amqp, connection_attempts=1,
                                         socket_timeout=5, blocked_connection_timeout=30, **kw)

    def connect(self, auth=None):
        cred = pika.PlainCredentials(*(auth or self.cluster.auth))
        return pika.BlockingConnection(self.params(credentials=cred))

    def refusal(self, auth=None):
        """The (code, text) this node closes a fresh AMQP connection with,
        logging in as auth (default: the cluster's). pika raises
        ProbableAuthenticationError for a 403 and ProbableAccessDeniedError
        for another close during the handshake; both keep the broker's
        ConnectionClosedByBroker(code, text) only in their text."""
        try:
            self.connect(auth).close()
        except pika.exceptions.AMQPConnectionError as e:
            m = re.search(r"ConnectionClosedByBroker: \((\d+)\) '([^']*)'", str(e))
            assert m, str(e)
            return int(m.group(1)), m.group(2)
        raise AssertionError("node %d accepted the connection" % self.id)

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()


class Cluster:
    def __init__(self, workdir, n=3, election_timeout=None, heartbeat=None, extra=(),
                 auth=("guest", "guest")):
        # Short timeouts keep the tests quick; CLUSTER_ELECTION_TIMEOUT
        # and CLUSTER_HEARTBEAT measure with other ones (the default is 1000/100).
        election_timeout = election_timeout or int(os.environ.get("CLUSTER_ELECTION_TIMEOUT", "300"))
        heartbeat = heartbeat or int(os.environ.get("CLUSTER_HEARTBEAT", "50"))
        self.workdir = workdir
        self.auth = auth  # the management login Node.api uses (an administrator)
        ports = free_ports(3 * n)
        self.nodes = [Node(self, i + 1, ports[3 * i], ports[3 * i + 1], ports[3 * i + 2])
                      for i in range(n)]
        lines = ["cluster_name = test",
                 "cluster.election_timeout = %d" % election_timeout,
                 "cluster.heartbeat_interval = %d" % heartbeat] + list(extra)
        for nd in self.nodes:
            lines.append("cluster_formation.classic_config.nodes.%d = 127.0.0.1:%d" % (nd.id, nd.raft))
            lines.append("cluster.amqp_address.%d = %s" % (nd.id, nd.amqp_address))
        for nd in self.nodes:
            with open(nd.conf, "w") as f:
                f.write("cluster.node_id = %d\n" % nd.id + "\n".join(lines) + "\n")

    def start(self):
        for nd in self.nodes:
            nd.start()

    def node(self, nid):
        return self.nodes[nid - 1]

    def leader_now(self, among=None):
        """The node that says it leads and accepts an AMQP login, or None."""
        for nd in among or self.nodes:
            if not nd.alive() or nd.stopped:
                continue
            try:
                if nd.me().get("state") != "leader":
                    continue
                c = nd.connect()
                c.close()
                return nd
            except Exception:
                continue
        return None

    def wait_leader(self, among=None, timeout=DEADLINE):
        return wait_for(lambda: self.leader_now(among), "a leader that serves", timeout)

    def kill9(self, nd):
        nd.killed = True
        nd.proc.send_signal(signal.SIGKILL)
        nd.proc.wait(timeout=10)

    def sigstop(self, nd):
        nd.proc.send_signal(signal.SIGSTOP)
        nd.stopped = True

    def sigcont(self, nd):
        nd.proc.send_signal(signal.SIGCONT)
        nd.stopped = False

    def restart(self, nd):
        if nd.alive():
            self.kill9(nd)
        nd.start()

    def wait_caught_up(self, nd, leader, timeout=DEADLINE):
        """Until the leader sees nd with lag 0 and nd has applied all it knows."""
        def done():
            entry = [n for n in leader.api("nodes") if n["id"] == nd.id][0]
            mine = nd.me()
            return (entry["lag"] == 0 and mine["lag"] == 0 and
                    mine["applied_index"] >= leader.me()["commit_index"] - 1)
        return wait_for(done, "node %d caught up" % nd.id, timeout)

    def stop(self):
        """SIGTERM (SIGCONT first for a stopped node), SIGKILL after a deadline;
        returns the sanitizer lines found in the logs, and a line for each
        node that had died by itself (a crash, an abort) or would not stop."""
        bad = []
        for nd in self.nodes:
            if nd.proc is not None and not nd.alive() and not nd.killed:
                bad.append("n%d exited by itself with status %d" % (nd.id, nd.proc.returncode))
        for nd in self.nodes:
            if nd.alive():
                if nd.stopped:
                    self.sigcont(nd)
                nd.proc.send_signal(signal.SIGTERM)
        for nd in self.nodes:
            if nd.proc is None:
                continue
            try:
                nd.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                bad.append("n%d did not stop within 15 s of SIGTERM" % nd.id)
                nd.proc.kill()
                nd.proc.wait()
        for nd in self.nodes:
            if os.path.exists(nd.log_path):
                bad += ["n%d: %s" % (nd.id, l) for l in nd.log().splitlines()
                        if any(m in l for m in SANITIZER_MARKERS)]
        return bad
