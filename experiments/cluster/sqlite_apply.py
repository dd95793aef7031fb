#!/usr/bin/python3
"""sqlite_apply.py — how fast can a follower apply replicated batches to its
SQLite (issue 14, docs/clustering.md "catch-up")? Inserts N 16-byte messages
as inline queue entries (qid, seq, body: the shape of Tern's common case) in
transactions of B rows, WAL mode, synchronous=OFF (a follower need not fsync
its SQLite: the Raft log it applies from is already on disk), then deletes
them the same way (acks). Also times a snapshot of the file (VACUUM INTO)
and its size. Python's sqlite3 adds per-row overhead that Tern's prepared
statements in C do not have, so the rates are a floor.
Usage: sqlite_apply.py [N] [B]"""
import os, sqlite3, sys, tempfile, time

n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
b = int(sys.argv[2]) if len(sys.argv) > 2 else 1024
d = tempfile.mkdtemp(prefix="tern-apply-", dir=os.environ.get("EXP_OUT", "/tmp"))
db = sqlite3.connect(os.path.join(d, "tern.db"), isolation_level=None)
db.execute("PRAGMA journal_mode=WAL")
db.execute("PRAGMA synchronous=OFF")
db.execute("CREATE TABLE entries (qid INTEGER, seq INTEGER, body BLOB, PRIMARY KEY (qid, seq))"
           " WITHOUT ROWID")
db.execute("CREATE TABLE raft_meta (k TEXT PRIMARY KEY, v INTEGER)")
body = b"m" * 16
t0 = time.time()
for start in range(0, n, b):
    db.execute("BEGIN")
    db.executemany("INSERT INTO entries VALUES (1, ?, ?)",
                   ((s, body) for s in range(start, min(n, start + b))))
    # the applied Raft index rides in the same transaction
    db.execute("INSERT OR REPLACE INTO raft_meta VALUES ('applied', ?)", (start // b,))
    db.execute("COMMIT")
t_ins = time.time() - t0
size = os.path.getsize(os.path.join(d, "tern.db")) + os.path.getsize(
    os.path.join(d, "tern.db-wal"))
t0 = time.time()
db.execute("VACUUM INTO ?", (os.path.join(d, "snap.db"),))
t_snap = time.time() - t0
snap = os.path.getsize(os.path.join(d, "snap.db"))
t0 = time.time()
for start in range(0, n, b):
    db.execute("BEGIN")
    db.executemany("DELETE FROM entries WHERE qid = 1 AND seq = ?",
                   ((s,) for s in range(start, min(n, start + b))))
    db.execute("COMMIT")
t_del = time.time() - t0
print("apply n=%d batch=%d: insert %.0f rows/s (%.2f s), delete %.0f rows/s (%.2f s); "
      "db+wal %.1f MB; VACUUM INTO snapshot %.1f MB in %.2f s"
      % (n, b, n / t_ins, t_ins, n / t_del, t_del, size / 1e6, snap / 1e6, t_snap))
for f in os.listdir(d):
    os.unlink(os.path.join(d, f))
os.rmdir(d)
