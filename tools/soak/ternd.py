"""ternd.py — the one ternd the soak owns: started on free loopback ports
with a data dir and config of its own, killed with SIGKILL (or stopped with
SIGTERM, when LeakSanitizer runs) and started again on the same data dir.
Samples its resident size from /proc/PID/status and scans its log (stdout
and stderr) for sanitizer reports."""
import os
import signal
import socket
import sqlite3
import subprocess
import threading
import time

SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer",
                     "ERROR: UndefinedBehaviorSanitizer")


def free_port():
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def rss_kib(pid):
    """(VmRSS, VmHWM) of pid in KiB, or None when it is gone."""
    try:
        with open("/proc/%d/status" % pid) as f:
            v = {}
            for line in f:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    k, n = line.split(":", 1)
                    v[k] = int(n.split()[0])
            return v.get("VmRSS", 0), v.get("VmHWM", 0)
    except (OSError, ValueError):
        return None


class Ternd:
    def __init__(self, path, workdir, config_lines):
        self.path = path
        self.port = free_port()
        self.data_dir = os.path.join(workdir, "data")
        self.log_path = os.path.join(workdir, "ternd.log")
        self.config_path = os.path.join(workdir, "tern.conf")
        os.makedirs(self.data_dir, exist_ok=True)
        with open(self.config_path, "w") as f:
            f.write("".join(l + "\n" for l in config_lines))
        self.proc = None
        self.run = 0                 # broker runs started so far (the epoch)
        self.lock = threading.Lock()
        self.rss = []                # (run, seconds into the run, VmRSS KiB)
        self.hwm = {}                # run -> VmHWM KiB, last seen
        self.started_at = None
        self.start_times = []        # seconds from exec to accepting connections
        self.exits = []              # (run, how, status)
        self.peak_sockets = 0
        self._log_scanned = 0

    # ------------------------------------------------------------ process
    def start(self, timeout=60.0, kill_after=None):
        """Starts ternd and waits until it accepts connections. kill_after:
        SIGKILL it after that many seconds if it is not accepting by then
        (still recovering): returns True when it was killed so."""
        cmd = [self.path, "--bind", "127.0.0.1", "--port", str(self.port),
               "--data-dir", self.data_dir, "--config", self.config_path,
               "--log-level", "info", "--management-port", "0", "--prometheus-port", "0"]
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "halt_on_error=1:abort_on_error=0:detect_leaks=1")
        env.setdefault("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1")
        with self.lock:
            self.run += 1
        t0 = time.monotonic()
        with open(self.log_path, "ab") as log:
            log.write(("=== run %d: %s\n" % (self.run, " ".join(cmd))).encode())
            log.flush()
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, env=env)
        deadline = t0 + timeout
        while time.monotonic() < deadline:
            if kill_after is not None and time.monotonic() - t0 > kill_after:
                proc.kill()
                proc.wait()
                self.exits.append((self.run, "kill -9 in recovery", proc.returncode))
                return True
            if proc.poll() is not None:
                raise RuntimeError("ternd exited with status %s at start-up (run %d)"
                                   % (proc.returncode, self.run))
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.05)
        else:
            proc.kill()
            proc.wait()
            raise RuntimeError("ternd did not accept connections within %.0f s" % timeout)
        self.start_times.append(time.monotonic() - t0)
        self.started_at = time.monotonic()
        with self.lock:
            self.proc = proc
        return False

    def alive(self):
        p = self.proc
        return p is not None and p.poll() is None

    def kill9(self):
        """SIGKILL and reap. Returns the exit status."""
        return self._end(signal.SIGKILL, "kill -9")

    def stop(self, timeout=60.0):
        """SIGTERM (LeakSanitizer runs at exit) and reap. Returns the exit
        status, or None when it had to be killed."""
        return self._end(signal.SIGTERM, "SIGTERM", timeout)

    def _end(self, sig, how, timeout=30.0):
        with self.lock:
            p, self.proc = self.proc, None
        if p is None:
            return None
        self._sample(p)
        if p.poll() is None:
            p.send_signal(sig)
        try:
            rc = p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            rc = None
            how += " (timed out, killed)"
        self.exits.append((self.run, how, rc))
        return rc

    def reap_if_dead(self):
        """The exit status when the broker died on its own, else None."""
        with self.lock:
            p = self.proc
            if p is None or p.poll() is None:
                return None
            self.proc = None
        self.exits.append((self.run, "died", p.returncode))
        return p.returncode

    # ------------------------------------------------------------ memory
    def _sample(self, p=None):
        p = p or self.proc
        if p is None or self.started_at is None:
            return
        v = rss_kib(p.pid)
        if v:
            with self.lock:
                self.rss.append((self.run, time.monotonic() - self.started_at, v[0]))
                self.hwm[self.run] = v[1]

    def sample(self):
        self._sample()
        n = self.sockets()
        if n is not None:
            self.peak_sockets = max(self.peak_sockets, n)

    def sockets(self):
        """Sockets the broker holds open (listener included), or None."""
        p = self.proc
        if p is None:
            return None
        d = "/proc/%d/fd" % p.pid
        try:
            return sum(1 for f in os.listdir(d)
                       if os.readlink(os.path.join(d, f)).startswith("socket:"))
        except OSError:
            return None

    def peak_kib(self):
        return max(self.hwm.values(), default=0)

    # ------------------------------------------------------------ files
    def integrity(self):
        """PRAGMA integrity_check of the stopped broker's database, opened
        read-only (ternd's own recovery is what is tested). None when ok."""
        path = os.path.join(self.data_dir, "tern.db")
        if not os.path.exists(path):
            return None
        db = sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=10)
        try:
            res = db.execute("PRAGMA integrity_check").fetchall()
        finally:
            db.close()
        return None if res == [("ok",)] else "integrity_check: %r" % (res[:5],)

    def db_bytes(self):
        """(tern.db, tern.db-wal) sizes in bytes."""
        out = []
        for name in ("tern.db", "tern.db-wal"):
            try:
                out.append(os.path.getsize(os.path.join(self.data_dir, name)))
            except OSError:
                out.append(0)
        return tuple(out)

    def new_sanitizer_lines(self):
        """Sanitizer report lines written to the log since the last call."""
        try:
            with open(self.log_path, "rb") as f:
                f.seek(self._log_scanned)
                data = f.read()
        except OSError:
            return []
        cut = data.rfind(b"\n") + 1     # whole lines only
        self._log_scanned += cut
        text = data[:cut].decode(errors="replace")
        return [l for l in text.splitlines() if any(m in l for m in SANITIZER_MARKERS)]

    def log_tail(self, n=60):
        try:
            with open(self.log_path, "rb") as f:
                f.seek(max(0, os.path.getsize(self.log_path) - 200000))
                return "\n".join(f.read().decode(errors="replace").splitlines()[-n:])
        except OSError:
            return ""
