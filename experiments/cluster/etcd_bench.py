#!/usr/bin/python3
"""etcd_bench.py — three etcd 3.4 members on 127.0.0.1 (issue 14).

  puts      sequential and concurrent puts of 16 B and 1 KiB values through
            etcd's JSON gateway (/v3/kv/put): what a message store on etcd
            would get at best
  lease     three "broker" candidate processes campaign for one key held
            under a lease (TTL --ttl s, kept alive every TTL/3); kill -9
            the holder and time until another holds the key
  member    kill -9 etcd's own Raft leader and time until a put succeeds

Clients use the v3 JSON gateway with the standard library only. Every
process listens on loopback and is killed (by its own handle) at the end.
Usage: etcd_bench.py [--quick] [--ttl S]
       etcd_bench.py candidate NAME CLIENT_URL TTL   (internal)
"""
import base64, http.client, json, os, shutil, signal, subprocess, sys, threading, time

OUT = os.environ.get("EXP_OUT", "/tmp/tern-cluster-exp")
WORK = os.path.join(OUT, "etcddata")
CLIENT = {i: 22379 + 10 * i for i in (1, 2, 3)}
PEER = {i: 22380 + 10 * i for i in (1, 2, 3)}
KEY = "/tern/leader"


def b64(s):
    return base64.b64encode(s if isinstance(s, bytes) else s.encode()).decode()


class Gw:
    """One keep-alive HTTP connection to a member's JSON gateway."""

    def __init__(self, port, timeout=5):
        self.c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)

    def call(self, path, body):
        self.c.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
        r = self.c.getresponse()
        data = r.read()
        if r.status != 200:
            raise RuntimeError("%s %d %s" % (path, r.status, data[:200]))
        return json.loads(data)


def candidate(name, port, ttl):
    """Campaign: grant a lease, try to create KEY under it (a txn that
    succeeds only if KEY does not exist); keep the lease alive every TTL/3,
    winner or not. A loser retries every 50 ms (a watch would notice
    sooner; polling keeps this small). The key vanishes when the holder's
    lease expires: TTL after the holder stops renewing it."""
    gw = Gw(int(port))
    lease = gw.call("/v3/lease/grant", {"TTL": int(ttl)})["ID"]
    leader = False
    last_ka = time.time()
    while True:
        now = time.time()
        if now - last_ka > ttl / 3:
            r = gw.call("/v3/lease/keepalive", {"ID": lease})
            if "TTL" not in r.get("result", {}):
                if leader:
                    print("LOST name=%s t=%.1f" % (name, time.time() * 1000), flush=True)
                    return
                lease = gw.call("/v3/lease/grant", {"TTL": int(ttl)})["ID"]
            last_ka = now
        if not leader:
            r = gw.call("/v3/kv/txn", {
                "compare": [{"key": b64(KEY), "target": "CREATE", "create_revision": "0"}],
                "success": [{"requestPut": {"key": b64(KEY), "value": b64(name),
                                            "lease": lease}}]})
            if r.get("succeeded"):
                leader = True
                print("LEADER name=%s t=%.1f" % (name, time.time() * 1000), flush=True)
            else:
                time.sleep(0.05)
                continue
        time.sleep(0.01)


procs = {}


def start_member(i):
    d = os.path.join(WORK, "m%d" % i)
    cluster = ",".join("n%d=http://127.0.0.1:%d" % (j, PEER[j]) for j in (1, 2, 3))
    log = open(os.path.join(WORK, "etcd%d.log" % i), "a")
    procs["m%d" % i] = subprocess.Popen([
        "etcd", "--name", "n%d" % i, "--data-dir", d,
        "--listen-client-urls", "http://127.0.0.1:%d" % CLIENT[i],
        "--advertise-client-urls", "http://127.0.0.1:%d" % CLIENT[i],
        "--listen-peer-urls", "http://127.0.0.1:%d" % PEER[i],
        "--initial-advertise-peer-urls", "http://127.0.0.1:%d" % PEER[i],
        "--initial-cluster", cluster, "--initial-cluster-state", "new",
        "--initial-cluster-token", "tern-exp", "--listen-metrics-urls", "",
    ], stdout=log, stderr=subprocess.STDOUT)


def kill(name):
    p = procs.get(name)
    if p and p.poll() is None:
        p.send_signal(signal.SIGKILL)
        p.wait()


def wait_healthy(members, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        try:
            for i in members:
                Gw(CLIENT[i], 2).call("/v3/kv/put", {"key": b64("/health"), "value": b64("1")})
            return True
        except Exception:
            time.sleep(0.1)
    return False


def etcd_leader():
    for i in (1, 2, 3):
        try:
            s = Gw(CLIENT[i], 2).call("/v3/maintenance/status", {})
            if s["leader"] == s["header"]["member_id"]:
                return i
        except Exception:
            pass
    return None


def puts(quick):
    n = 500 if quick else 3000
    for size in (16, 1024):
        val = b64(b"m" * size)
        gw = Gw(CLIENT[etcd_leader()])
        lat = []
        t0 = time.time()
        for k in range(n):
            s = time.time()
            gw.call("/v3/kv/put", {"key": b64("/q/m%08d" % k), "value": val})
            lat.append((time.time() - s) * 1000)
        secs = time.time() - t0
        lat.sort()
        print("puts size=%d clients=1 n=%d puts_per_s=%.0f p50_ms=%.2f p99_ms=%.2f"
              % (size, n, n / secs, lat[n // 2], lat[n * 99 // 100]), flush=True)
        for clients in (8, 32):
            per = n // clients
            lead = etcd_leader()

            def worker(c):
                g = Gw(CLIENT[lead])
                for k in range(per):
                    g.call("/v3/kv/put", {"key": b64("/q/c%d-%06d" % (c, k)), "value": val})
            ts = [threading.Thread(target=worker, args=(c,)) for c in range(clients)]
            t0 = time.time()
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            secs = time.time() - t0
            print("puts size=%d clients=%d n=%d puts_per_s=%.0f"
                  % (size, clients, per * clients, per * clients / secs), flush=True)
    du = subprocess.run(["du", "-sh", os.path.join(WORK, "m1")], capture_output=True,
                        text=True).stdout.split()[0]
    print("puts: member 1 data dir after the puts:", du, flush=True)


def lease(quick, ttl):
    rounds = 2 if quick else 8
    cands, logs = {}, {}

    def start_cand(name, member):
        logs[name] = os.path.join(WORK, "cand-%s.log" % name)
        cands[name] = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "candidate", name, str(CLIENT[member]),
             str(ttl)], stdout=open(logs[name], "a"), stderr=subprocess.STDOUT)
        procs["cand-" + name] = cands[name]

    def leader_lines():
        out = []
        for name, path in logs.items():
            for l in open(path):
                if l.startswith("LEADER"):
                    kv = dict(p.split("=", 1) for p in l.split()[1:])
                    out.append((float(kv["t"]), kv["name"]))
        return sorted(out)

    for k, m in (("a", 1), ("b", 2), ("c", 3)):
        start_cand(k, m)
    times = []
    for r in range(rounds):
        time.sleep(ttl + 1.0)
        cur = leader_lines()[-1][1]
        t_kill = time.time() * 1000
        kill("cand-" + cur)
        end = time.time() + 3 * ttl + 10
        new = None
        while time.time() < end and not new:
            for t, name in leader_lines():
                if t > t_kill:
                    new = (t, name)
            time.sleep(0.02)
        if not new:
            print("lease round %d: no new holder" % r, flush=True)
            break
        times.append(new[0] - t_kill)
        print("lease round %d: killed %s, %s holds the key after %.0f ms (TTL %d s)"
              % (r, cur, new[1], new[0] - t_kill, ttl), flush=True)
        start_cand(cur, 1 + r % 3)
    for name in list(cands):
        kill("cand-" + name)
    if times:
        times.sort()
        print("lease ttl=%d rounds=%d min=%.0f median=%.0f max=%.0f ms"
              % (ttl, len(times), times[0], times[len(times) // 2], times[-1]), flush=True)


def member(quick):
    for r in range(2 if quick else 5):
        time.sleep(2)
        lead = etcd_leader()
        others = [i for i in (1, 2, 3) if i != lead]
        t0 = time.time()
        kill("m%d" % lead)
        ok = False
        while time.time() - t0 < 30 and not ok:
            try:
                Gw(CLIENT[others[0]], 1).call("/v3/kv/put", {"key": b64("/x"), "value": b64("1")})
                ok = True
            except Exception:
                time.sleep(0.01)
        print("member round %d: killed etcd leader n%d, put accepted again after %.0f ms"
              % (r, lead, (time.time() - t0) * 1000), flush=True)
        start_member(lead)
        wait_healthy([1, 2, 3])


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "candidate":
        candidate(sys.argv[2], sys.argv[3], float(sys.argv[4]))
        return
    quick = "--quick" in sys.argv
    ttl = int(sys.argv[sys.argv.index("--ttl") + 1]) if "--ttl" in sys.argv else 2
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    try:
        for i in (1, 2, 3):
            start_member(i)
        if not wait_healthy([1, 2, 3]):
            print("etcd cluster did not become healthy; see", WORK)
            return
        print("etcd healthy, leader n%s" % etcd_leader(), flush=True)
        puts(quick)
        lease(quick, ttl)
        member(quick)
    finally:
        for name in list(procs):
            kill(name)


if __name__ == "__main__":
    # SIGTERM (timeout(1), a CI limit) must still run main's finally, which
    # kills the nodes this script started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    main()
