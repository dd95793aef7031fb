"""The broker under test, shared by tests/integration and tests/raw.

Two modes:

* BROKER_URL set (e.g. amqp://guest:guest@127.0.0.1:5672/): every test runs
  against that already running broker (used to check the expectations
  themselves against RabbitMQ). Nothing is started or stopped; tests that
  need to restart the broker are skipped.

* BROKER_URL unset: the Tern broker is started once per session as
      $TERND --bind 127.0.0.1 --port PORT --data-dir TMPDIR --log-level info
  on a free port with a temporary data dir, its stdout+stderr captured to a
  log file (start(config_lines=..., extra_args=...) adds a --config file and
  more arguments, kept for restart(); support/defs.py starts its own
  brokers that way). TERND defaults to build/ternd relative to the
  repository root. The HTTP management API listens on another free port:
  `--management-port N` is always passed (unless extra_args name one
  themselves), and mgmt_url is http://127.0.0.1:N. Everything else in
  tests/ that runs ternd directly passes `--management-port 0` (off), so
  parallel brokers never fight over 15672. The Prometheus listener is off
  (`--prometheus-port 0`) unless extra_args or config_lines name a port;
  the same goes for 15692.
  At the end it is stopped with SIGTERM and the run FAILS if the log holds a
  sanitizer report (AddressSanitizer, UBSan "runtime error:", LeakSanitizer).

The conftest.py files turn this module into pytest fixtures:
  broker            session-scoped Broker
  restartable       the same Broker, skipped when BROKER_URL is set
  names             unique queue/exchange names for one test (+ cleanup)
"""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.parse
import uuid

from .ports import free_port, free_ports  # noqa: F401 (free_port: for the tests)

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer")

START_TIMEOUT = 10.0   # seconds for the port to accept connections
START_ATTEMPTS = 3     # first starts, each on new ports when one was taken
STOP_TIMEOUT = 10.0    # seconds between SIGTERM and SIGKILL


def ternperf_path():
    """$TERNPERF or build/ternperf; a relative path is the repository's."""
    path = os.environ.get("TERNPERF") or "build/ternperf"
    return path if os.path.isabs(path) else os.path.join(REPO_ROOT, path)


def port_open(host, port, timeout=0.2):
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def sanitizer_lines(text):
    return [l for l in text.splitlines() if any(m in l for m in SANITIZER_MARKERS)]


class BrokerError(Exception):
    pass


class PortTaken(BrokerError):
    """ternd exited at start-up: a port free_port() picked was taken."""


class Broker:
    """Where the broker under test listens, and (when we started it) the
    process, its data dir and its log."""

    def __init__(self, url=None, ternd=None, mgmt_url=None):
        self.external = url is not None
        self.mgmt_port = None      # the management port we pass to ternd
        self.proc = None
        self.log_path = None
        self.data_dir = None
        self._tmp = None
        self._log_checked = 0      # log offset already scanned for sanitizer reports
        if self.external:
            u = urllib.parse.urlparse(url)
            self.host = u.hostname or "127.0.0.1"
            self.port = u.port or 5672
            self.user = urllib.parse.unquote(u.username or "guest")
            self.password = urllib.parse.unquote(u.password or "guest")
            path = u.path[1:] if u.path.startswith("/") else u.path
            self.vhost = urllib.parse.unquote(path) if path else "/"
            self.mgmt_url = (mgmt_url or os.environ.get("MGMT_URL") or
                             "http://guest:guest@127.0.0.1:15672")
        else:
            self.ternd = self._resolve_ternd(ternd)
            self.host = "127.0.0.1"
            self._given_mgmt_url = mgmt_url
            self._pick_ports()
            self.user = "guest"
            self.password = "guest"
            self.vhost = "/"
            self._tmp = tempfile.mkdtemp(prefix="tern-test-")
            self.data_dir = os.path.join(self._tmp, "data")
            os.mkdir(self.data_dir)
            self.log_path = os.path.join(self._tmp, "ternd.log")
        self._server_properties = None
        self.config_lines = None   # start(config_lines=...): the --config file's lines
        self.config_path = None
        self.extra_args = []
        self.ready_port = None     # the port start() waits for (None: port)
        self.preexec_fn = None     # run in the child before ternd (signal dispositions)
        self._started = False      # a start() has succeeded: restarts keep the ports

    # ------------------------------------------------------------ identity
    @staticmethod
    def _resolve_ternd(path):
        path = path or os.environ.get("TERND") or "build/ternd"
        if not os.path.isabs(path):
            cand = [os.path.abspath(path), os.path.join(REPO_ROOT, path)]
            path = next((p for p in cand if os.path.exists(p)), cand[-1])
        return path

    @property
    def url(self):
        vh = urllib.parse.quote(self.vhost, safe="")
        return "amqp://%s:%s@%s:%d/%s" % (
            urllib.parse.quote(self.user, safe=""),
            urllib.parse.quote(self.password, safe=""), self.host, self.port, vh)

    @property
    def server_properties(self):
        """connection.start server-properties, read once with a raw socket."""
        if self._server_properties is None:
            from support.amqpraw import RawConnection
            with RawConnection(self.host, self.port) as c:
                c.handshake(self.user, self.password, self.vhost)
                self._server_properties = c.server_properties
        return self._server_properties

    @property
    def is_rabbitmq(self):
        p = self.server_properties.get("product", b"")
        if isinstance(p, bytes):
            p = p.decode(errors="replace")
        return p == "RabbitMQ"

    # ------------------------------------------------------------ clients
    def params(self, **kw):
        """pika.ConnectionParameters for this broker; kw overrides."""
        import pika
        base = dict(host=self.host, port=self.port, virtual_host=self.vhost,
                    credentials=pika.PlainCredentials(self.user, self.password),
                    connection_attempts=1, socket_timeout=5,
                    blocked_connection_timeout=30, stack_timeout=15)
        base.update(kw)
        return pika.ConnectionParameters(**base)

    def connect(self, **kw):
        import pika
        return pika.BlockingConnection(self.params(**kw))

    def raw(self, timeout=5.0):
        from support.amqpraw import RawConnection
        return RawConnection(self.host, self.port, timeout=timeout)

    # ------------------------------------------------------------ process
    def start(self, config_lines=None, extra_args=None):
        """Start ternd (or check that the BROKER_URL broker answers).
        config_lines: `name = value` lines written to a config file passed
        with --config; extra_args: more command-line arguments. Both are
        remembered, so restart() starts the broker the same way.

        free_port() picks ports below the range outgoing connections take
        theirs from (support/ports.py), but another test's listener could
        still bind one before ternd does. So the first start, when ternd
        exits because one of the ports we picked was in use, picks new ones
        and tries again. A restart keeps its ports: the test's clients
        expect them."""
        for attempt in range(START_ATTEMPTS):
            try:
                return self._start_once(config_lines, extra_args)
            except PortTaken:
                if attempt == START_ATTEMPTS - 1:
                    raise
                self._pick_ports()

    def _pick_ports(self):
        """Two free ports not handed out before, for AMQP and the
        management listener (and mgmt_url, unless one was given)."""
        self.port, self.mgmt_port = free_ports(2)
        self.mgmt_url = self._given_mgmt_url or "http://127.0.0.1:%d" % self.mgmt_port

    def _start_once(self, config_lines, extra_args):
        if config_lines is not None:
            self.config_lines = list(config_lines)
        if extra_args is not None:
            self.extra_args = list(extra_args)
        if self.external:
            if not port_open(self.host, self.port, timeout=2):
                raise BrokerError("BROKER_URL broker at %s:%d does not accept "
                                  "connections" % (self.host, self.port))
            return
        if not os.access(self.ternd, os.X_OK):
            raise BrokerError("broker binary %s not found or not executable: build it "
                              "(make) or set TERND=..., or point BROKER_URL at a "
                              "running broker" % self.ternd)
        cmd = [self.ternd, "--bind", self.host, "--port", str(self.port),
               "--data-dir", self.data_dir, "--log-level", "info"]
        if self.config_lines is not None:
            self.config_path = os.path.join(self._tmp, "tern.conf")
            with open(self.config_path, "w") as f:
                f.write("".join(l + "\n" for l in self.config_lines))
            cmd += ["--config", self.config_path]
        if "--management-port" not in self.extra_args and \
                not any(a.startswith("--management-port=") for a in self.extra_args):
            cmd += ["--management-port", str(self.mgmt_port)]
        if not any(a.split("=")[0] == "--prometheus-port" for a in self.extra_args) and \
                not any(l.strip().startswith("prometheus.tcp.port")
                        for l in self.config_lines or ()):
            cmd += ["--prometheus-port", "0"]
        cmd += self.extra_args
        env = dict(os.environ)
        # make sanitizer reports land in the log and leaks get reported at exit
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
        log_from = len(self.log_text())
        with open(self.log_path, "ab") as log:
            log.write(("=== %s\n" % " ".join(cmd)).encode())
            log.flush()
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=env,
                                         cwd=self._tmp, preexec_fn=self.preexec_fn)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                if not self._started and self._port_taken(self.log_text()[log_from:]):
                    raise PortTaken("ternd could not listen on a port we picked (%d, "
                                    "management %s); log:\n%s"
                                    % (self.port, self.mgmt_port, self.log_tail()))
                raise BrokerError("ternd exited with status %s during start-up; log:\n%s"
                                  % (self.proc.returncode, self.log_tail()))
            if port_open(self.host, self.ready_port or self.port) and self._mgmt_up(cmd):
                self._started = True
                return
            time.sleep(0.05)
        self._kill()
        raise BrokerError("ternd did not accept connections on port %d (management %s) "
                          "within %.0f s; log:\n%s"
                          % (self.port, self.mgmt_port, START_TIMEOUT, self.log_tail()))

    def _port_taken(self, text):
        """ternd's log says it could not listen on a port we picked."""
        return any(("cannot listen on [%s]:%d" % (self.host, p)) in text or
                   ("cannot listen on %s:%d" % (self.host, p)) in text
                   for p in (self.port, self.mgmt_port) if p)

    def _mgmt_up(self, cmd):
        """The management port we passed accepts connections (True when we
        passed none, or 0)."""
        if "--management-port" not in cmd:
            return True
        port = int(cmd[cmd.index("--management-port") + 1])
        return port == 0 or port_open(self.host, port)

    def _kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def stop(self):
        """SIGTERM, bounded wait, SIGKILL as a last resort. Returns the exit
        status (None when external)."""
        if self.external or self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self._kill()
                raise BrokerError("ternd did not exit within %.0f s of SIGTERM"
                                  % STOP_TIMEOUT)
        rc = self.proc.returncode
        self.proc = None
        return rc

    def restart(self):
        """Stop (SIGTERM) and start again on the same port and data dir."""
        if self.external:
            raise BrokerError("cannot restart an external (BROKER_URL) broker")
        self.stop()
        self.check_log()
        self.start()

    def alive(self):
        return self.external or (self.proc is not None and self.proc.poll() is None)

    # ------------------------------------------------------------ log
    def log_text(self):
        if not self.log_path or not os.path.exists(self.log_path):
            return ""
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def log_tail(self, n=60):
        return "\n".join(self.log_text().splitlines()[-n:])

    def check_log(self):
        """Raise BrokerError when the log grew a sanitizer report since the
        last check."""
        text = self.log_text()
        new = text[self._log_checked:]
        self._log_checked = len(text)
        bad = sanitizer_lines(new)
        if bad:
            raise BrokerError("sanitizer report in broker log %s:\n%s\n--- tail:\n%s"
                              % (self.log_path, "\n".join(bad), self.log_tail(120)))

    def cleanup(self, keep=False):
        if self._tmp and not keep:
            shutil.rmtree(self._tmp, ignore_errors=True)


def unique(prefix="t"):
    """A name no other test (or earlier run) uses."""
    return "%s-%s" % (prefix, uuid.uuid4().hex[:12])


class Names:
    """Unique names for one test, remembered so they can be deleted after it
    (exchanges and queues a test forgot to delete)."""

    def __init__(self, broker, test_name):
        self.broker = broker
        base = "".join(ch if ch.isalnum() else "-" for ch in test_name)[:60]
        self.base = "tern-%s-%s" % (base, uuid.uuid4().hex[:8])
        self.queues = []
        self.exchanges = []
        self._n = 0

    def _next(self, kind):
        self._n += 1
        return "%s-%s%d" % (self.base, kind, self._n)

    def queue(self):
        n = self._next("q")
        self.queues.append(n)
        return n

    def exchange(self):
        n = self._next("x")
        self.exchanges.append(n)
        return n

    def cleanup(self):
        if not (self.queues or self.exchanges) or not self.broker.alive():
            return
        import pika
        try:
            conn = self.broker.connect()
        except Exception:
            return
        try:
            for kind, names in (("queue", self.queues), ("exchange", self.exchanges)):
                for n in names:
                    try:
                        ch = conn.channel()
                        if kind == "queue":
                            ch.queue_delete(n)
                        else:
                            ch.exchange_delete(n)
                        ch.close()
                    except pika.exceptions.ChannelClosedByBroker:
                        pass
        finally:
            try:
                conn.close()
            except Exception:
                pass
