/* sqlite.c — the SQLite backend of store.h: one database file in WAL mode,
 * prepared statements for every hot call, one transaction per batch.
 * writer.c calls the sql_* functions (sqlite.h), on its writer thread for
 * a batch's writes and on the caller's thread for reads while the writer
 * is idle: never two threads at once.
 *
 * The schema is versioned (PRAGMA user_version, now 5). A newer file is
 * refused; an older one is migrated in migrate() step by step. All SQL of the
 * project lives in this file. */
#include "store/sqlite.h"

#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#define SCHEMA_VERSION 5

static sqlite3 *db;
static bool in_txn, txn_failed;
static uint64_t next_msg_id = 1, next_delayed_id = 1;
bool sql_recover_redelivered;
static int64_t next_queue_id = 1;
static char last_error[256];
static bool blank; /* this open created the objects table */

static const char schema_v1[] =
	"CREATE TABLE exchanges(vhost TEXT NOT NULL, name BLOB NOT NULL, type TEXT NOT NULL,"
	" flags INTEGER NOT NULL, args BLOB NOT NULL, PRIMARY KEY(vhost, name));"
	"CREATE TABLE queues(id INTEGER PRIMARY KEY, vhost TEXT NOT NULL, name BLOB NOT NULL,"
	" flags INTEGER NOT NULL, args BLOB NOT NULL, delivered_upto INTEGER NOT NULL DEFAULT 0,"
	" UNIQUE(vhost, name));"
	"CREATE TABLE bindings(vhost TEXT NOT NULL, source BLOB NOT NULL, to_queue INTEGER NOT NULL,"
	" dest BLOB NOT NULL, rkey BLOB NOT NULL, args BLOB NOT NULL,"
	" PRIMARY KEY(vhost, source, to_queue, dest, rkey, args)) WITHOUT ROWID;"
	"CREATE TABLE messages(id INTEGER PRIMARY KEY, exchange BLOB NOT NULL, rkey BLOB NOT NULL,"
	" props BLOB NOT NULL, body BLOB NOT NULL);"
	"CREATE TABLE entries(queue INTEGER NOT NULL, seq INTEGER NOT NULL, msg INTEGER NOT NULL,"
	" deliveries INTEGER NOT NULL, PRIMARY KEY(queue, seq)) WITHOUT ROWID;"
	"CREATE INDEX entries_msg ON entries(msg);"
	"CREATE TABLE meta(key TEXT PRIMARY KEY, value);";

enum {
	S_PUT_X, S_DEL_X, S_PUT_Q, S_DEL_Q, S_DEL_Q_BINDINGS, S_PUT_B, S_DEL_B,
	S_PUT_M, S_DEL_M, S_ENQ, S_DEQ, S_SET_DELIV, S_SET_UPTO, S_RESET_UPTO,
	S_DEL_ORPHANS, S_DEL_ENTRIES, S_GET_M, S_PUT_D, S_DEL_D, S_SCAN_D, S_ENQ_INLINE, S_GET_E,
	S_PUT_O, S_DEL_O, S_SCAN_O, S_STALE_Q, NSTMT
};

static const char *const sql[NSTMT] = {
	[S_PUT_X] = "INSERT OR REPLACE INTO exchanges VALUES(?1, ?2, ?3, ?4, ?5)",
	[S_DEL_X] = "DELETE FROM exchanges WHERE vhost = ?1 AND name = ?2",
	/* The id is chosen by writer.c (ids are handed out before the write
	 * runs); a row left under the same name (its deletion was rolled back)
	 * takes the new id: its entries were purged first (S_DEL_STALE_*). */
	[S_PUT_Q] = "INSERT INTO queues(id, vhost, name, flags, args) VALUES(?5, ?1, ?2, ?3, ?4)"
		    " ON CONFLICT(vhost, name) DO UPDATE SET id = ?5, flags = ?3, args = ?4,"
		    " delivered_upto = 0",
	[S_STALE_Q] = "SELECT id FROM queues WHERE vhost = ?1 AND name = ?2 AND id != ?3",
	[S_DEL_Q] = "DELETE FROM queues WHERE id = ?1",
	[S_DEL_Q_BINDINGS] = "DELETE FROM bindings WHERE to_queue = 1 AND (vhost, dest) IN"
			     " (SELECT vhost, name FROM queues WHERE id = ?1)",
	[S_PUT_B] = "INSERT OR IGNORE INTO bindings VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
	[S_DEL_B] = "DELETE FROM bindings WHERE vhost = ?1 AND source = ?2 AND to_queue = ?3"
		    " AND dest = ?4 AND rkey = ?5 AND args = ?6",
	[S_PUT_M] = "INSERT INTO messages VALUES(?1, ?2, ?3, ?4, ?5)",
	/* "msg != 0" lets SQLite use the partial index entries_msg. */
	[S_DEL_M] = "DELETE FROM messages WHERE id = ?1"
		    " AND NOT EXISTS (SELECT 1 FROM entries WHERE msg = ?1 AND msg != 0)",
	[S_GET_M] = "SELECT exchange, rkey, props, body FROM messages WHERE id = ?1",
	[S_ENQ_INLINE] = "INSERT OR REPLACE INTO entries(queue, seq, msg, deliveries, expires,"
			 " exchange, rkey, props, body) VALUES(?1, ?2, 0, ?3, ?4, ?5, ?6, ?7, ?8)",
	[S_GET_E] = "SELECT exchange, rkey, props, body FROM entries WHERE queue = ?1 AND seq = ?2",
	[S_PUT_D] = "INSERT INTO delayed(due, vhost, exchange, rkey, props, body, id)"
		    " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	[S_DEL_D] = "DELETE FROM delayed WHERE id = ?1",
	[S_SCAN_D] = "SELECT id, due, vhost, exchange, rkey, props, body FROM delayed"
		     " WHERE due >= ?1 AND due < ?2 ORDER BY due, id",
	[S_ENQ] = "INSERT OR REPLACE INTO entries(queue, seq, msg, deliveries, expires)"
		  " VALUES(?1, ?2, ?3, ?4, ?5)",
	[S_DEQ] = "DELETE FROM entries WHERE queue = ?1 AND seq = ?2",
	[S_SET_DELIV] = "UPDATE entries SET deliveries = ?3 WHERE queue = ?1 AND seq = ?2",
	[S_SET_UPTO] = "UPDATE queues SET delivered_upto = max(delivered_upto, ?2) WHERE id = ?1",
	[S_RESET_UPTO] = "UPDATE queues SET delivered_upto = ?2 WHERE id = ?1",
	[S_DEL_ORPHANS] = "DELETE FROM messages WHERE id IN (SELECT msg FROM entries WHERE queue = ?1)"
			  " AND NOT EXISTS (SELECT 1 FROM entries e WHERE e.msg = messages.id"
			  " AND e.msg != 0 AND e.queue != ?1)",
	[S_DEL_ENTRIES] = "DELETE FROM entries WHERE queue = ?1",
	[S_PUT_O] = "INSERT OR REPLACE INTO objects VALUES(?1, ?2, ?3)",
	[S_DEL_O] = "DELETE FROM objects WHERE kind = ?1 AND key = ?2",
	[S_SCAN_O] = "SELECT key, value FROM objects WHERE kind = ?1 ORDER BY key",
};

static sqlite3_stmt *stmt[NSTMT];

const char *sql_error(void)
{
	return last_error;
}

static int fail(const char *what)
{
	snprintf(last_error, sizeof last_error, "%s: %s", what, db ? sqlite3_errmsg(db) : "no db");
	return -1;
}

static int exec(const char *s)
{
	char *msg = NULL;
	if (sqlite3_exec(db, s, NULL, NULL, &msg) != SQLITE_OK) {
		snprintf(last_error, sizeof last_error, "%s: %s", s, msg ? msg : sqlite3_errmsg(db));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

/* Opens the turn's transaction on first use. A failed transaction takes
 * no more writes until sql_commit() has rolled it back. */
static int begin(void)
{
	if (txn_failed)
		return -1;
	if (!in_txn) {
		/* Even a failed BEGIN opens the turn, so that sql_commit()
		 * reports it and no later write of the turn commits alone. */
		in_txn = true;
		if (exec("BEGIN") < 0) {
			txn_failed = true;
			return -1;
		}
	}
	return 0;
}

/* Runs a prepared statement with its parameters already bound. */
static int step(int i)
{
	int rc = sqlite3_step(stmt[i]);
	sqlite3_reset(stmt[i]);
	sqlite3_clear_bindings(stmt[i]);
	if (rc != SQLITE_DONE) {
		txn_failed = true;
		return fail(sql[i]);
	}
	return 0;
}

static void bind_bytes(int i, int col, struct bytes b)
{
	sqlite3_bind_blob(stmt[i], col, b.len ? (const void *)b.p : "", (int)b.len, SQLITE_STATIC);
}

static int migrate(int version)
{
	blank = version < 5;
	if (version == SCHEMA_VERSION)
		return 0;
	if (version > SCHEMA_VERSION) {
		snprintf(last_error, sizeof last_error,
			 "database schema version %d is newer than this ternd (%d)", version,
			 SCHEMA_VERSION);
		return -1;
	}
	/* One step per version, each in the same transaction as its
	 * user_version bump, so a crash leaves a file at a whole version. */
	static const char *const steps[] = {
		[0] = schema_v1,
		/* v2: TTL deadlines (wall-clock ms, 0: none) survive restarts. */
		[1] = "ALTER TABLE entries ADD COLUMN expires INTEGER NOT NULL DEFAULT 0",
		/* v3: messages scheduled by a delayed-message exchange. */
		[2] = "CREATE TABLE delayed(id INTEGER PRIMARY KEY, due INTEGER NOT NULL,"
		      " vhost TEXT NOT NULL, exchange BLOB NOT NULL, rkey BLOB NOT NULL,"
		      " props BLOB NOT NULL, body BLOB NOT NULL);"
		      "CREATE INDEX delayed_due ON delayed(due, id);",
		/* v4: a message in one durable queue lives in its entry row
		 * (msg = 0): one insert and one delete instead of four. */
		[3] = "ALTER TABLE entries ADD COLUMN exchange BLOB;"
		      "ALTER TABLE entries ADD COLUMN rkey BLOB;"
		      "ALTER TABLE entries ADD COLUMN props BLOB;"
		      "ALTER TABLE entries ADD COLUMN body BLOB;"
		      /* inline entries need no message index */
		      "DROP INDEX entries_msg;"
		      "CREATE INDEX entries_msg ON entries(msg) WHERE msg != 0;",
		/* v5: the control plane (vhosts, users, permissions, policies,
		 * parameters) as RabbitMQ definitions objects, JSON text. */
		[4] = "CREATE TABLE objects(kind TEXT NOT NULL, key TEXT NOT NULL,"
		      " value TEXT NOT NULL, PRIMARY KEY(kind, key)) WITHOUT ROWID;",
	};
	for (int v = version; v < SCHEMA_VERSION; v++) {
		char bump[64];
		snprintf(bump, sizeof bump, "PRAGMA user_version = %d", v + 1);
		if (exec("BEGIN") < 0 || exec(steps[v]) < 0 || exec(bump) < 0 || exec("COMMIT") < 0) {
			exec("ROLLBACK");
			return -1;
		}
	}
	return 0;
}

static int query_int(const char *q, int64_t *out)
{
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(db, q, -1, &s, NULL) != SQLITE_OK)
		return fail(q);
	int rc = sqlite3_step(s);
	*out = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
	sqlite3_finalize(s);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : fail(q);
}

int sql_open(const char *dir, enum store_durability d, char *err, size_t errlen)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/tern.db", dir);
	/* One thread at a time uses the store (writer.c hands the connection
	 * over under its mutex): no SQLite mutexes, no memory statistics (both
	 * showed up at several percent in profiles of persistent publishing). */
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	if (sqlite3_open_v2(path, &db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path, db ? sqlite3_errmsg(db) : "cannot open");
		sql_close();
		return -1;
	}
	int64_t version = 0;
	if (exec("PRAGMA journal_mode = WAL") < 0 ||
	    exec(d == STORE_FULL ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL") < 0 ||
	    exec("PRAGMA cache_size = -65536") < 0 || /* 64 MiB page cache */
	    query_int("PRAGMA user_version", &version) < 0 || migrate((int)version) < 0)
		goto fail;
	/* The broker numbers a queue's new entries from its last recovered
	 * seq + 1; a delivered_upto above that (the newest entries were acked)
	 * would mark those new entries redelivered after the next restart. */
	if (exec("UPDATE queues SET delivered_upto = (SELECT coalesce(max(e.seq), 0) FROM entries e"
		 " LEFT JOIN messages m ON m.id = e.msg WHERE e.queue = queues.id AND"
		 " (e.msg = 0 OR m.id IS NOT NULL)) WHERE delivered_upto > (SELECT"
		 " coalesce(max(e.seq), 0) FROM entries e LEFT JOIN messages m ON m.id = e.msg"
		 " WHERE e.queue = queues.id AND (e.msg = 0 OR m.id IS NOT NULL))") < 0)
		goto fail;
	for (int i = 0; i < NSTMT; i++) {
		if (sqlite3_prepare_v3(db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, &stmt[i], NULL) !=
		    SQLITE_OK) {
			fail(sql[i]);
			goto fail;
		}
	}
	int64_t max_id, max_q, max_d;
	if (query_int("SELECT max(id) FROM messages", &max_id) < 0 ||
	    query_int("SELECT max(id) FROM queues", &max_q) < 0 ||
	    query_int("SELECT max(id) FROM delayed", &max_d) < 0)
		goto fail;
	next_msg_id = (uint64_t)max_id + 1;
	next_queue_id = max_q + 1;
	next_delayed_id = (uint64_t)max_d + 1;
	return 0;
fail:
	snprintf(err, errlen, "%s: %s", path, last_error);
	sql_close();
	return -1;
}

int sql_copy_into(const char *path)
{
	char *q = sqlite3_mprintf("VACUUM INTO %Q", path);
	int rc = q ? exec(q) : -1;
	sqlite3_free(q);
	return rc;
}

void sql_close(void)
{
	if (!db)
		return;
	if (in_txn)
		sql_commit();
	next_msg_id = next_delayed_id = 1;
	next_queue_id = 1;
	for (int i = 0; i < NSTMT; i++) {
		sqlite3_finalize(stmt[i]);
		stmt[i] = NULL;
	}
	sqlite3_close(db);
	db = NULL;
}

int sql_commit(void)
{
	if (!in_txn)
		return 0;
	in_txn = false;
	if (txn_failed || exec("COMMIT") < 0) {
		/* SQLite may have rolled back already (I/O error, disk full):
		 * then a ROLLBACK would only replace the error worth logging. */
		if (!sqlite3_get_autocommit(db))
			exec("ROLLBACK");
		txn_failed = false;
		return -1;
	}
	return 0;
}

int sql_probe(void)
{
	if (begin() < 0)
		return -1;
	if (exec("INSERT OR REPLACE INTO meta VALUES('probe', random())") < 0) {
		txn_failed = true;
		return -1;
	}
	return 0;
}

int sql_put_exchange(const char *vhost, struct bytes name, const char *type, int flags,
		       struct bytes args)
{
	if (begin() < 0)
		return -1;
	sqlite3_bind_text(stmt[S_PUT_X], 1, vhost, -1, SQLITE_STATIC);
	bind_bytes(S_PUT_X, 2, name);
	sqlite3_bind_text(stmt[S_PUT_X], 3, type, -1, SQLITE_STATIC);
	sqlite3_bind_int(stmt[S_PUT_X], 4, flags);
	bind_bytes(S_PUT_X, 5, args);
	return step(S_PUT_X);
}

int sql_del_exchange(const char *vhost, struct bytes name)
{
	if (begin() < 0)
		return -1;
	sqlite3_bind_text(stmt[S_DEL_X], 1, vhost, -1, SQLITE_STATIC);
	bind_bytes(S_DEL_X, 2, name);
	return step(S_DEL_X);
}

int64_t sql_next_queue_id(void)
{
	return next_queue_id++;
}

static int purge_queue(int64_t qid);

int sql_put_queue(int64_t id, const char *vhost, struct bytes name, int flags, struct bytes args)
{
	if (begin() < 0)
		return -1;
	/* A row of the same name under another id: its entries go first. */
	sqlite3_stmt *s = stmt[S_STALE_Q];
	sqlite3_bind_text(s, 1, vhost, -1, SQLITE_STATIC);
	bind_bytes(S_STALE_Q, 2, name);
	sqlite3_bind_int64(s, 3, id);
	int rc = sqlite3_step(s);
	int64_t stale = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
	sqlite3_reset(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		txn_failed = true;
		return fail(sql[S_STALE_Q]);
	}
	if (stale && purge_queue(stale) < 0)
		return -1;
	sqlite3_bind_text(stmt[S_PUT_Q], 1, vhost, -1, SQLITE_STATIC);
	bind_bytes(S_PUT_Q, 2, name);
	sqlite3_bind_int(stmt[S_PUT_Q], 3, flags);
	bind_bytes(S_PUT_Q, 4, args);
	sqlite3_bind_int64(stmt[S_PUT_Q], 5, id);
	return step(S_PUT_Q);
}

static int purge_queue(int64_t qid)
{
	if (begin() < 0)
		return -1;
	sqlite3_bind_int64(stmt[S_DEL_ORPHANS], 1, qid);
	if (step(S_DEL_ORPHANS) < 0)
		return -1;
	sqlite3_bind_int64(stmt[S_DEL_ENTRIES], 1, qid);
	return step(S_DEL_ENTRIES);
}

int sql_del_queue(int64_t qid)
{
	if (purge_queue(qid) < 0)
		return -1;
	sqlite3_bind_int64(stmt[S_DEL_Q_BINDINGS], 1, qid);
	if (step(S_DEL_Q_BINDINGS) < 0)
		return -1;
	sqlite3_bind_int64(stmt[S_DEL_Q], 1, qid);
	return step(S_DEL_Q);
}

static int binding_op(int i, const char *vhost, struct bytes source, bool to_queue,
		      struct bytes dest, struct bytes key, struct bytes args)
{
	if (begin() < 0)
		return -1;
	sqlite3_bind_text(stmt[i], 1, vhost, -1, SQLITE_STATIC);
	bind_bytes(i, 2, source);
	sqlite3_bind_int(stmt[i], 3, to_queue);
	bind_bytes(i, 4, dest);
	bind_bytes(i, 5, key);
	bind_bytes(i, 6, args);
	return step(i);
}

int sql_put_binding(const char *vhost, struct bytes source, bool to_queue, struct bytes dest,
		      struct bytes key, struct bytes args)
{
	return binding_op(S_PUT_B, vhost, source, to_queue, dest, key, args);
}

int sql_del_binding(const char *vhost, struct bytes source, bool to_queue, struct bytes dest,
		      struct bytes key, struct bytes args)
{
	return binding_op(S_DEL_B, vhost, source, to_queue, dest, key, args);
}

uint64_t sql_next_message_id(void)
{
	return next_msg_id++;
}

uint64_t sql_next_delayed_id(void)
{
	return next_delayed_id++;
}

int sql_put_message(uint64_t id, struct bytes exchange, struct bytes rkey, struct bytes props,
		      const uint8_t *body, uint64_t body_size)
{
	if (begin() < 0)
		return -1;
	sqlite3_bind_int64(stmt[S_PUT_M], 1, (int64_t)id);
	bind_bytes(S_PUT_M, 2, exchange);
	bind_bytes(S_PUT_M, 3, rkey);
	bind_bytes(S_PUT_M, 4, props);
	sqlite3_bind_blob64(stmt[S_PUT_M], 5, body_size ? (const void *)body : "", body_size,
			    SQLITE_STATIC);
	return step(S_PUT_M);
}

int sql_del_message(uint64_t id)
{
	if (begin() < 0)
		return -1;
	sqlite3_bind_int64(stmt[S_DEL_M], 1, (int64_t)id);
	return step(S_DEL_M);
}

static struct bytes col_bytes(sqlite3_stmt *s, int col);

int sql_get_message(int64_t qid, uint64_t seq, uint64_t id, store_message_fn fn, void *ctx)
{
	/* An inline message (id 0) is read from its entry row. */
	sqlite3_stmt *s = stmt[id ? S_GET_M : S_GET_E];
	if (id) {
		sqlite3_bind_int64(s, 1, (int64_t)id);
	} else {
		sqlite3_bind_int64(s, 1, qid);
		sqlite3_bind_int64(s, 2, (int64_t)seq);
	}
	if (sqlite3_step(s) != SQLITE_ROW) {
		snprintf(last_error, sizeof last_error, "message %llu not found",
			 (unsigned long long)id);
		sqlite3_reset(s);
		return -1;
	}
	fn(ctx, col_bytes(s, 0), col_bytes(s, 1), col_bytes(s, 2), col_bytes(s, 3));
	sqlite3_reset(s); /* ends the read: the views end here */
	return 0;
}

static int entry_op(int i, int64_t qid, uint64_t seq, int64_t a, int64_t b, int nextra)
{
	if (begin() < 0)
		return -1;
	sqlite3_bind_int64(stmt[i], 1, qid);
	sqlite3_bind_int64(stmt[i], 2, (int64_t)seq);
	if (nextra > 0)
		sqlite3_bind_int64(stmt[i], 3, a);
	if (nextra > 1)
		sqlite3_bind_int64(stmt[i], 4, b);
	return step(i);
}

int sql_enqueue(int64_t qid, uint64_t seq, uint64_t msg_id, uint32_t deliveries,
		  uint64_t expires)
{
	sqlite3_bind_int64(stmt[S_ENQ], 5, (int64_t)expires);
	return entry_op(S_ENQ, qid, seq, (int64_t)msg_id, deliveries, 2);
}

int sql_enqueue_inline(int64_t qid, uint64_t seq, uint32_t deliveries, uint64_t expires,
			 struct bytes exchange, struct bytes rkey, struct bytes props,
			 const uint8_t *body, uint64_t body_size)
{
	if (begin() < 0)
		return -1;
	sqlite3_stmt *s = stmt[S_ENQ_INLINE];
	sqlite3_bind_int64(s, 1, qid);
	sqlite3_bind_int64(s, 2, (int64_t)seq);
	sqlite3_bind_int64(s, 3, deliveries);
	sqlite3_bind_int64(s, 4, (int64_t)expires);
	bind_bytes(S_ENQ_INLINE, 5, exchange);
	bind_bytes(S_ENQ_INLINE, 6, rkey);
	bind_bytes(S_ENQ_INLINE, 7, props);
	sqlite3_bind_blob64(s, 8, body_size ? (const void *)body : "", body_size, SQLITE_STATIC);
	return step(S_ENQ_INLINE);
}

int sql_dequeue(int64_t qid, uint64_t seq)
{
	return entry_op(S_DEQ, qid, seq, 0, 0, 0);
}

int sql_set_deliveries(int64_t qid, uint64_t seq, uint32_t deliveries)
{
	return entry_op(S_SET_DELIV, qid, seq, deliveries, 0, 1);
}

int sql_set_delivered_upto(int64_t qid, uint64_t seq)
{
	return entry_op(S_SET_UPTO, qid, seq, 0, 0, 0);
}

int sql_reset_delivered_upto(int64_t qid, uint64_t seq)
{
	return entry_op(S_RESET_UPTO, qid, seq, 0, 0, 0);
}

static struct bytes col_bytes(sqlite3_stmt *s, int col)
{
	const void *p = sqlite3_column_blob(s, col);
	int n = sqlite3_column_bytes(s, col);
	return (struct bytes){p ? p : (const void *)"", (uint32_t)n};
}

/* ---- recovery ---- */

/* The statements recovery alone uses, prepared for its run. A queue's
 * entries are read in seq order from seq ?2 on: with their messages
 * (R_FULL) until the visitor wants no more, then index only (R_INDEX),
 * which never reads a body. An entry of a shared message (msg != 0) finds
 * it with R_MSG / R_MSG_INDEX: most entries carry theirs inline, and a
 * join would cost every row a look-up. */
enum { R_QUEUES, R_FULL, R_INDEX, R_MSG, R_MSG_INDEX, NREC };
static const char *const rec_sql[NREC] = {
	/* min and max of a queue's seqs are two seeks of the primary key. */
	[R_QUEUES] = "SELECT id, vhost, name, flags, args, delivered_upto,"
		     " (SELECT min(seq) FROM entries WHERE queue = queues.id),"
		     " (SELECT max(seq) FROM entries WHERE queue = queues.id)"
		     " FROM queues ORDER BY id",
	[R_FULL] = "SELECT seq, deliveries, msg, expires, props, exchange, rkey, body"
		   " FROM entries WHERE queue = ?1 AND seq >= ?2 ORDER BY seq",
	[R_INDEX] = "SELECT seq, deliveries, msg, expires, props, length(body)"
		    " FROM entries WHERE queue = ?1 AND seq >= ?2 ORDER BY seq",
	[R_MSG] = "SELECT props, exchange, rkey, body FROM messages WHERE id = ?1",
	[R_MSG_INDEX] = "SELECT props, length(body) FROM messages WHERE id = ?1",
};

struct rec_queue {
	int64_t id, upto;
	uint64_t first, last; /* seqs; last 0: no entries */
	void *handle;
};

static void rec_finalize(sqlite3_stmt **s)
{
	for (int i = 0; i < NREC; i++)
		sqlite3_finalize(s[i]);
}

/* Fills e's message fields from the current row of s, whose columns
 * from col on are props and then exchange, rkey, body (full) or
 * length(body). */
/* A blob column as col_bytes reads it, through one sqlite3_column_value:
 * the value calls after it skip the statement's mutex and error checks,
 * which two column calls a column cost every recovered row. */
static struct bytes rec_blob(sqlite3_stmt *s, int col)
{
	sqlite3_value *v = sqlite3_column_value(s, col);
	const void *p = sqlite3_value_blob(v);
	return (struct bytes){p ? p : (const void *)"", (uint32_t)sqlite3_value_bytes(v)};
}

static void rec_columns(sqlite3_stmt *s, int col, bool full, struct store_entry *e)
{
	e->props = rec_blob(s, col);
	e->has_message = full;
	if (full) {
		e->exchange = rec_blob(s, col + 1);
		e->rkey = rec_blob(s, col + 2);
		e->body = rec_blob(s, col + 3);
		e->body_size = e->body.len;
	} else {
		e->exchange = e->rkey = e->body = (struct bytes){(const uint8_t *)"", 0};
		e->body_size = (uint32_t)sqlite3_column_int64(s, col + 1);
	}
}

/* Visits queue qs's entries; returns SQLITE_DONE or an error code. */
static int rec_entries(sqlite3_stmt **s, const struct store_visitor *v, void *ctx,
		       const struct rec_queue *qs)
{
	bool full = true;
	uint64_t from = qs->first;
	int rc;
	for (;;) {
		sqlite3_stmt *st = s[full ? R_FULL : R_INDEX];
		sqlite3_bind_int64(st, 1, qs->id);
		sqlite3_bind_int64(st, 2, (int64_t)from);
		bool switched = false;
		while (!switched && (rc = sqlite3_step(st)) == SQLITE_ROW) {
			struct store_entry e = {
				.seq = (uint64_t)sqlite3_column_int64(st, 0),
				.deliveries = (uint32_t)sqlite3_column_int64(st, 1),
				.msg_id = (uint64_t)sqlite3_column_int64(st, 2),
				.expires = (uint64_t)sqlite3_column_int64(st, 3),
			};
			e.redelivered = sql_recover_redelivered || (int64_t)e.seq <= qs->upto;
			sqlite3_stmt *m = NULL;
			if (e.msg_id) {
				/* Its row is gone (a crash between the two deletes
				 * of a shared message): nothing to recover. */
				m = s[full ? R_MSG : R_MSG_INDEX];
				sqlite3_bind_int64(m, 1, (int64_t)e.msg_id);
				if (sqlite3_step(m) != SQLITE_ROW) {
					sqlite3_reset(m);
					continue;
				}
				rec_columns(m, 0, full, &e);
			} else {
				rec_columns(st, 4, full, &e);
			}
			bool more = v->entry(ctx, qs->handle, &e);
			if (m)
				sqlite3_reset(m);
			if (full && !more) {
				full = false;
				switched = true;
				from = e.seq + 1;
			}
		}
		sqlite3_reset(st);
		if (!switched)
			return rc;
	}
}

int store_recover(const struct store_visitor *v, void *ctx)
{
	sqlite3_stmt *s[NREC] = {0}, *x;
	int rc;
	if (sqlite3_prepare_v2(db, "SELECT vhost, name, type, flags, args FROM exchanges", -1, &x,
			       NULL) != SQLITE_OK)
		return fail("recover exchanges");
	while ((rc = sqlite3_step(x)) == SQLITE_ROW)
		v->exchange(ctx, (const char *)sqlite3_column_text(x, 0), col_bytes(x, 1),
			    (const char *)sqlite3_column_text(x, 2), sqlite3_column_int(x, 3),
			    col_bytes(x, 4));
	sqlite3_finalize(x);
	if (rc != SQLITE_DONE)
		return fail("recover exchanges");
	for (int i = 0; i < NREC; i++)
		if (sqlite3_prepare_v2(db, rec_sql[i], -1, &s[i], NULL) != SQLITE_OK) {
			fail(rec_sql[i]);
			rec_finalize(s);
			return -1;
		}
	/* The file is read once from end to end: mapped, its pages are not
	 * copied into the page cache (given back afterwards). */
	exec("PRAGMA mmap_size = 4294967296");

	/* Queues first, bindings next, then entries queue by queue. */
	size_t nq = 0, capq = 0;
	struct rec_queue *qs = NULL;
	while ((rc = sqlite3_step(s[R_QUEUES])) == SQLITE_ROW) {
		x = s[R_QUEUES];
		void *h = v->queue(ctx, sqlite3_column_int64(x, 0),
				   (const char *)sqlite3_column_text(x, 1), col_bytes(x, 2),
				   sqlite3_column_int(x, 3), col_bytes(x, 4));
		if (nq == capq) {
			capq = capq ? capq * 2 : 16;
			void *grown = sqlite3_realloc64(qs, capq * sizeof *qs);
			if (!grown) {
				rc = SQLITE_NOMEM;
				break;
			}
			qs = grown;
		}
		qs[nq++] = (struct rec_queue){
			.id = sqlite3_column_int64(x, 0), .upto = sqlite3_column_int64(x, 5),
			.first = (uint64_t)sqlite3_column_int64(x, 6),
			.last = (uint64_t)sqlite3_column_int64(x, 7), .handle = h};
	}
	if (rc == SQLITE_DONE) {
		if (sqlite3_prepare_v2(db, "SELECT vhost, source, to_queue, dest, rkey, args"
				       " FROM bindings", -1, &x, NULL) != SQLITE_OK)
			rc = SQLITE_ERROR;
		else
			while ((rc = sqlite3_step(x)) == SQLITE_ROW)
				v->binding(ctx, (const char *)sqlite3_column_text(x, 0),
					   col_bytes(x, 1), sqlite3_column_int(x, 2) != 0,
					   col_bytes(x, 3), col_bytes(x, 4), col_bytes(x, 5));
		sqlite3_finalize(x);
	}
	if (rc == SQLITE_DONE && v->expect)
		for (size_t i = 0; i < nq; i++)
			if (qs[i].last)
				v->expect(ctx, qs[i].handle, qs[i].last - qs[i].first + 1);
	for (size_t i = 0; i < nq && rc == SQLITE_DONE; i++)
		if (qs[i].last)
			rc = rec_entries(s, v, ctx, &qs[i]);
	sqlite3_free(qs);
	rec_finalize(s);
	exec("PRAGMA mmap_size = 0");
	sqlite3_db_release_memory(db); /* the page cache the reads filled */
	return rc == SQLITE_DONE ? 0 : fail("recover");
}

int sql_put_delayed(uint64_t id, uint64_t due, const char *vhost, struct bytes exchange,
		    struct bytes rkey, struct bytes props, const uint8_t *body, uint64_t body_size)
{
	if (begin() < 0)
		return -1;
	sqlite3_bind_int64(stmt[S_PUT_D], 1, (int64_t)due);
	sqlite3_bind_text(stmt[S_PUT_D], 2, vhost, -1, SQLITE_STATIC);
	bind_bytes(S_PUT_D, 3, exchange);
	bind_bytes(S_PUT_D, 4, rkey);
	bind_bytes(S_PUT_D, 5, props);
	sqlite3_bind_blob64(stmt[S_PUT_D], 6, body_size ? (const void *)body : "", body_size,
			    SQLITE_STATIC);
	sqlite3_bind_int64(stmt[S_PUT_D], 7, (int64_t)id);
	return step(S_PUT_D);
}

int sql_del_delayed(uint64_t id)
{
	if (begin() < 0)
		return -1;
	sqlite3_bind_int64(stmt[S_DEL_D], 1, (int64_t)id);
	return step(S_DEL_D);
}

int sql_scan_delayed(uint64_t from, uint64_t to, store_delayed_fn fn, void *ctx)
{
	sqlite3_stmt *s = stmt[S_SCAN_D];
	sqlite3_bind_int64(s, 1, (int64_t)from);
	sqlite3_bind_int64(s, 2, (int64_t)to);
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		fn(ctx, (uint64_t)sqlite3_column_int64(s, 0), (uint64_t)sqlite3_column_int64(s, 1),
		   (const char *)sqlite3_column_text(s, 2), col_bytes(s, 3), col_bytes(s, 4),
		   col_bytes(s, 5), col_bytes(s, 6));
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? 0 : fail("scan delayed");
}

int64_t sql_count_delayed(void)
{
	/* Rare (start-up, a failed commit): prepared on the spot. */
	sqlite3_stmt *s;
	if (!db || sqlite3_prepare_v2(db, "SELECT count(*) FROM delayed", -1, &s, NULL) != SQLITE_OK)
		return fail("count delayed");
	int64_t n = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : -1;
	sqlite3_finalize(s);
	return n < 0 ? fail("count delayed") : n;
}

bool store_blank(void)
{
	return blank;
}

int sql_put_object(const char *kind, const char *key, const char *value)
{
	if (begin() < 0)
		return -1;
	sqlite3_bind_text(stmt[S_PUT_O], 1, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt[S_PUT_O], 2, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt[S_PUT_O], 3, value, -1, SQLITE_STATIC);
	return step(S_PUT_O);
}

int sql_del_object(const char *kind, const char *key)
{
	if (begin() < 0)
		return -1;
	sqlite3_bind_text(stmt[S_DEL_O], 1, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt[S_DEL_O], 2, key, -1, SQLITE_STATIC);
	return step(S_DEL_O);
}

int sql_scan_objects(const char *kind, store_object_fn fn, void *ctx)
{
	sqlite3_stmt *s = stmt[S_SCAN_O];
	sqlite3_bind_text(s, 1, kind, -1, SQLITE_STATIC);
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		fn(ctx, (const char *)sqlite3_column_text(s, 0), (const char *)sqlite3_column_text(s, 1));
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return rc == SQLITE_DONE ? 0 : fail("scan objects");
}
