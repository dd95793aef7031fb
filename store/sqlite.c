/* sqlite.c — the SQLite backend of store.h: one database file in WAL mode,
 * prepared statements for every hot call, one transaction per batch.
 * writer.c calls the sql_* functions (sqlite.h), on its writer thread for
 * a batch's writes and on the caller's thread for reads while the writer
 * is idle: never two threads at once.
 *
 * The schema is versioned (PRAGMA user_version, now 5). A newer file is
 * refused; an older one is migrated in migrate() step by step. All SQL of the
 * project lives in the sqlite*.c files: this one holds the schema, the
 * statements prepared at open and the transaction; sqlite_topology.c,
 * sqlite_message.c and sqlite_recover.c run them. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "store/sqlite_stmt.h"

#define SCHEMA_VERSION 5

sqlite3 *sql_db;
sqlite3_stmt *sql_stmt[NSTMT];
static bool in_txn, txn_failed;
static uint64_t next_msg_id = 1, next_delayed_id = 1;
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

/* Inline entries are inserted SQL_ROWS at a time where a batch has that
 * many in a row: one statement of 16 rows costs about half the CPU of 16
 * statements of one (the step, reset and cursor of each; measured with
 * the entries schema, 100 rows per transaction). Texts made at open. */
#define ENQ_COLS "INSERT OR REPLACE INTO entries(queue, seq, msg, deliveries, expires," \
		 " exchange, rkey, props, body) VALUES"
static char enq_text[2][SQL_ROWS * 24 + sizeof ENQ_COLS];

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
	[S_ENQ_INLINE] = ENQ_COLS "(?, ?, 0, ?, ?, ?, ?, ?, ?)", /* and enq_text */
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

static const char *stmt_text(int i)
{
	return i == S_ENQ_INLINE4 ? enq_text[0] : i == S_ENQ_INLINE16 ? enq_text[1] : sql[i];
}

/* A statement as errors name it: a many-row insert by its one-row text. */
static const char *stmt_name(int i)
{
	return sql[i] ? sql[i] : sql[S_ENQ_INLINE];
}

/* The text of an n-row insert of inline entries. */
static void make_enq_text(char *buf, size_t size, size_t n)
{
	size_t len = (size_t)snprintf(buf, size, "%s", ENQ_COLS);
	for (size_t r = 0; r < n && len < size; r++)
		len += (size_t)snprintf(buf + len, size - len, "%s(?,?,0,?,?,?,?,?,?)", r ? "," : "");
}

const char *sql_error(void)
{
	return last_error;
}

int sql_fail(const char *what)
{
	snprintf(last_error, sizeof last_error, "%s: %s", what,
		 sql_db ? sqlite3_errmsg(sql_db) : "no db");
	return -1;
}

int sql_failf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(last_error, sizeof last_error, fmt, ap);
	va_end(ap);
	return -1;
}

int sql_exec(const char *s)
{
	char *msg = NULL;
	if (sqlite3_exec(sql_db, s, NULL, NULL, &msg) != SQLITE_OK) {
		snprintf(last_error, sizeof last_error, "%s: %s", s,
			 msg ? msg : sqlite3_errmsg(sql_db));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

/* Opens the turn's transaction on first use. A failed transaction takes
 * no more writes until sql_commit() has rolled it back. */
int sql_begin(void)
{
	if (txn_failed)
		return -1;
	if (!in_txn) {
		/* Even a failed BEGIN opens the turn, so that sql_commit()
		 * reports it and no later write of the turn commits alone. */
		in_txn = true;
		if (sql_exec("BEGIN") < 0) {
			txn_failed = true;
			return -1;
		}
	}
	return 0;
}

int sql_fail_stmt(int i)
{
	txn_failed = true;
	return sql_fail(stmt_name(i));
}

/* Runs a prepared statement with its parameters already bound. */
int sql_step(int i)
{
	int rc = sqlite3_step(sql_stmt[i]);
	sqlite3_reset(sql_stmt[i]);
	sqlite3_clear_bindings(sql_stmt[i]);
	if (rc != SQLITE_DONE)
		return sql_fail_stmt(i);
	return 0;
}

void sql_bind_bytes(int i, int col, struct bytes b)
{
	sqlite3_bind_blob(sql_stmt[i], col, b.len ? (const void *)b.p : "", (int)b.len,
			  SQLITE_STATIC);
}

struct bytes sql_col_bytes(sqlite3_stmt *s, int col)
{
	const void *p = sqlite3_column_blob(s, col);
	int n = sqlite3_column_bytes(s, col);
	return (struct bytes){p ? p : (const void *)"", (uint32_t)n};
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
		if (sql_exec("BEGIN") < 0 || sql_exec(steps[v]) < 0 || sql_exec(bump) < 0 ||
		    sql_exec("COMMIT") < 0) {
			sql_exec("ROLLBACK");
			return -1;
		}
	}
	return 0;
}

static int query_int(const char *q, int64_t *out)
{
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(sql_db, q, -1, &s, NULL) != SQLITE_OK)
		return sql_fail(q);
	int rc = sqlite3_step(s);
	*out = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
	sqlite3_finalize(s);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : sql_fail(q);
}

int sql_open(const char *dir, enum store_durability d, char *err, size_t errlen)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/tern.db", dir);
	/* One thread at a time uses the store (writer.c hands the connection
	 * over under its mutex): no SQLite mutexes, no memory statistics (both
	 * showed up at several percent in profiles of persistent publishing). */
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	sql_pcache_install();
	if (sqlite3_open_v2(path, &sql_db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path,
			 sql_db ? sqlite3_errmsg(sql_db) : "cannot open");
		sql_close();
		return -1;
	}
	int64_t version = 0;
	if (sql_exec("PRAGMA journal_mode = WAL") < 0 ||
	    sql_exec(d == STORE_FULL ? "PRAGMA synchronous = FULL"
				     : "PRAGMA synchronous = NORMAL") < 0 ||
	    sql_exec("PRAGMA cache_size = -65536") < 0 || /* 64 MiB page cache */
	    /* One big transaction (a queue of a million deleted) grows the
	     * WAL to the size of what it changed; once checkpointed, the file
	     * is cut back to this. A busy store's WAL (1000 pages between
	     * checkpoints) stays under it, so it keeps overwriting in place. */
	    sql_exec("PRAGMA journal_size_limit = 16777216") < 0 ||
	    query_int("PRAGMA user_version", &version) < 0 || migrate((int)version) < 0)
		goto fail;
	/* The broker numbers a queue's new entries from its last recovered
	 * seq + 1; a delivered_upto above that (the newest entries were acked)
	 * would mark those new entries redelivered after the next restart. */
	if (sql_exec("UPDATE queues SET delivered_upto = (SELECT coalesce(max(e.seq), 0)"
		     " FROM entries e LEFT JOIN messages m ON m.id = e.msg WHERE e.queue = queues.id"
		     " AND (e.msg = 0 OR m.id IS NOT NULL)) WHERE delivered_upto > (SELECT"
		     " coalesce(max(e.seq), 0) FROM entries e LEFT JOIN messages m ON m.id = e.msg"
		     " WHERE e.queue = queues.id AND (e.msg = 0 OR m.id IS NOT NULL))") < 0)
		goto fail;
	make_enq_text(enq_text[0], sizeof enq_text[0], 4);
	make_enq_text(enq_text[1], sizeof enq_text[1], SQL_ROWS);
	for (int i = 0; i < NSTMT; i++) {
		if (sqlite3_prepare_v3(sql_db, stmt_text(i), -1, SQLITE_PREPARE_PERSISTENT,
				       &sql_stmt[i], NULL) != SQLITE_OK) {
			sql_fail(stmt_name(i));
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
	int rc = q ? sql_exec(q) : -1;
	sqlite3_free(q);
	return rc;
}

void sql_close(void)
{
	if (!sql_db)
		return;
	if (in_txn)
		sql_commit();
	next_msg_id = next_delayed_id = 1;
	next_queue_id = 1;
	for (int i = 0; i < NSTMT; i++) {
		sqlite3_finalize(sql_stmt[i]);
		sql_stmt[i] = NULL;
	}
	sqlite3_close(sql_db);
	sql_db = NULL;
}

int sql_commit(void)
{
	if (!in_txn)
		return 0;
	in_txn = false;
	if (txn_failed || sql_exec("COMMIT") < 0) {
		/* SQLite may have rolled back already (I/O error, disk full):
		 * then a ROLLBACK would only replace the error worth logging. */
		if (!sqlite3_get_autocommit(sql_db))
			sql_exec("ROLLBACK");
		txn_failed = false;
		return -1;
	}
	return 0;
}

bool sql_release_cache(size_t keep)
{
	int used = 0, high = 0;
	if (sqlite3_db_status(sql_db, SQLITE_DBSTATUS_CACHE_USED, &used, &high, 0) != SQLITE_OK ||
	    (size_t)used <= keep)
		return false;
	return sqlite3_db_release_memory(sql_db) == SQLITE_OK;
}

int sql_probe(void)
{
	if (sql_begin() < 0)
		return -1;
	if (sql_exec("INSERT OR REPLACE INTO meta VALUES('probe', random())") < 0) {
		txn_failed = true;
		return -1;
	}
	return 0;
}

/* Ids: one past the highest stored at open (sqlite.h). */
int64_t sql_next_queue_id(void)
{
	return next_queue_id++;
}

uint64_t sql_next_message_id(void)
{
	return next_msg_id++;
}

uint64_t sql_next_delayed_id(void)
{
	return next_delayed_id++;
}

bool store_blank(void)
{
	return blank;
}
