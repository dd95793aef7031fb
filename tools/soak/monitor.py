"""monitor.py — a thread that watches the broker's queues and files: the
fixed queues' total depth (publishers wait while it is above max_depth:
the broker, slowed by the sanitizers, must not fall ever further behind)
and the length of tern.db-wal (which must stay bounded)."""
import pika

import topology as T
from worker import Worker

MIB = 1 << 20


class Monitor(Worker):
    kind = "monitor"

    def __init__(self, ctx, max_depth, wal_limit_mib):
        super().__init__(ctx, 0)
        self.max_depth = max_depth
        self.wal_limit = wal_limit_mib * MIB
        self.depth = self.peak_depth = self.peak_wal = 0
        self.wal_reported = False

    def session(self):
        conn = pika.BlockingConnection(self.ctx.params())
        try:
            ch = conn.channel()
            while not self.ctx.stop.is_set():
                n = sum(ch.queue_declare(T.NAMES[q], passive=True).method.message_count
                        for q in T.FIXED if q != T.T0)
                self.depth = n
                self.peak_depth = max(self.peak_depth, n)
                if n > self.max_depth:
                    self.ctx.throttle.set()
                elif n < self.max_depth * 0.6:
                    self.ctx.throttle.clear()
                self.check_wal()
                self.sleep(1)
        finally:
            self.close(conn)

    def check_wal(self):
        wal = self.ctx.broker.db_bytes()[1]
        if wal <= self.peak_wal:
            return
        self.peak_wal = wal
        if wal > self.wal_limit and not self.wal_reported:
            self.wal_reported = True
            self.ledger.problem("WAL growth", "tern.db-wal reached %.0f MiB (limit %d MiB)"
                                % (wal / MIB, self.wal_limit // MIB))
