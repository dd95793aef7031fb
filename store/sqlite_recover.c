/* sqlite_recover.c — store_recover: the whole file read once at start-up,
 * exchanges, queues, bindings, then each queue's entries in seq order,
 * handed to the caller's visitor (store.h). Its statements are prepared
 * for the run and finalized after it. */
#include "store/sqlite_stmt.h"

bool sql_recover_redelivered;

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
	if (sqlite3_prepare_v2(sql_db, "SELECT vhost, name, type, flags, args FROM exchanges", -1,
			       &x, NULL) != SQLITE_OK)
		return sql_fail("recover exchanges");
	while ((rc = sqlite3_step(x)) == SQLITE_ROW)
		v->exchange(ctx, (const char *)sqlite3_column_text(x, 0), sql_col_bytes(x, 1),
			    (const char *)sqlite3_column_text(x, 2), sqlite3_column_int(x, 3),
			    sql_col_bytes(x, 4));
	sqlite3_finalize(x);
	if (rc != SQLITE_DONE)
		return sql_fail("recover exchanges");
	for (int i = 0; i < NREC; i++)
		if (sqlite3_prepare_v2(sql_db, rec_sql[i], -1, &s[i], NULL) != SQLITE_OK) {
			sql_fail(rec_sql[i]);
			rec_finalize(s);
			return -1;
		}
	/* The file is read once from end to end: mapped, its pages are not
	 * copied into the page cache (given back afterwards). */
	sql_exec("PRAGMA mmap_size = 4294967296");

	/* Queues first, bindings next, then entries queue by queue. */
	size_t nq = 0, capq = 0;
	struct rec_queue *qs = NULL;
	while ((rc = sqlite3_step(s[R_QUEUES])) == SQLITE_ROW) {
		x = s[R_QUEUES];
		void *h = v->queue(ctx, sqlite3_column_int64(x, 0),
				   (const char *)sqlite3_column_text(x, 1), sql_col_bytes(x, 2),
				   sqlite3_column_int(x, 3), sql_col_bytes(x, 4));
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
		if (sqlite3_prepare_v2(sql_db, "SELECT vhost, source, to_queue, dest, rkey, args"
				       " FROM bindings", -1, &x, NULL) != SQLITE_OK)
			rc = SQLITE_ERROR;
		else
			while ((rc = sqlite3_step(x)) == SQLITE_ROW)
				v->binding(ctx, (const char *)sqlite3_column_text(x, 0),
					   sql_col_bytes(x, 1), sqlite3_column_int(x, 2) != 0,
					   sql_col_bytes(x, 3), sql_col_bytes(x, 4),
					   sql_col_bytes(x, 5));
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
	sql_exec("PRAGMA mmap_size = 0");
	sqlite3_db_release_memory(sql_db); /* the page cache the reads filled */
	return rc == SQLITE_DONE ? 0 : sql_fail("recover");
}
