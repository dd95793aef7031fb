/* sqlite_message.c — the rows of messages: a shared message (several
 * queues) and the entries that point at it, an inline entry that carries
 * its own message, the entries' delivery marks, and the delayed-message
 * exchange's scheduled messages. Statements are sqlite.c's, prepared at
 * open. */
#include "store/sqlite_stmt.h"

/* The many-row inserts of inline entries, largest first (sqlite.c makes
 * their texts): n entries take as few statements as these sizes allow. */
static const struct {
	int stmt;
	size_t rows;
} enq_sizes[] = {{S_ENQ_INLINE16, SQL_ROWS}, {S_ENQ_INLINE4, 4}, {S_ENQ_INLINE, 1}};

int sql_put_message(uint64_t id, struct bytes exchange, struct bytes rkey, struct bytes props,
		      const uint8_t *body, uint64_t body_size)
{
	if (sql_begin() < 0)
		return -1;
	sqlite3_bind_int64(sql_stmt[S_PUT_M], 1, (int64_t)id);
	sql_bind_bytes(S_PUT_M, 2, exchange);
	sql_bind_bytes(S_PUT_M, 3, rkey);
	sql_bind_bytes(S_PUT_M, 4, props);
	sqlite3_bind_blob64(sql_stmt[S_PUT_M], 5, body_size ? (const void *)body : "", body_size,
			    SQLITE_STATIC);
	return sql_step(S_PUT_M);
}

int sql_del_message(uint64_t id)
{
	if (sql_begin() < 0)
		return -1;
	sqlite3_bind_int64(sql_stmt[S_DEL_M], 1, (int64_t)id);
	return sql_step(S_DEL_M);
}

int sql_get_message(int64_t qid, uint64_t seq, uint64_t id, store_message_fn fn, void *ctx)
{
	/* An inline message (id 0) is read from its entry row. */
	sqlite3_stmt *s = sql_stmt[id ? S_GET_M : S_GET_E];
	if (id) {
		sqlite3_bind_int64(s, 1, (int64_t)id);
	} else {
		sqlite3_bind_int64(s, 1, qid);
		sqlite3_bind_int64(s, 2, (int64_t)seq);
	}
	if (sqlite3_step(s) != SQLITE_ROW) {
		sql_failf("message %llu not found", (unsigned long long)id);
		sqlite3_reset(s);
		return -1;
	}
	fn(ctx, sql_col_bytes(s, 0), sql_col_bytes(s, 1), sql_col_bytes(s, 2), sql_col_bytes(s, 3));
	sqlite3_reset(s); /* ends the read: the views end here */
	return 0;
}

static int entry_op(int i, int64_t qid, uint64_t seq, int64_t a, int64_t b, int nextra)
{
	if (sql_begin() < 0)
		return -1;
	sqlite3_bind_int64(sql_stmt[i], 1, qid);
	sqlite3_bind_int64(sql_stmt[i], 2, (int64_t)seq);
	if (nextra > 0)
		sqlite3_bind_int64(sql_stmt[i], 3, a);
	if (nextra > 1)
		sqlite3_bind_int64(sql_stmt[i], 4, b);
	return sql_step(i);
}

int sql_enqueue(int64_t qid, uint64_t seq, uint64_t msg_id, uint32_t deliveries,
		  uint64_t expires)
{
	sqlite3_bind_int64(sql_stmt[S_ENQ], 5, (int64_t)expires);
	return entry_op(S_ENQ, qid, seq, (int64_t)msg_id, deliveries, 2);
}

int sql_enqueue_inline(const struct sql_inline *e, size_t n)
{
	if (sql_begin() < 0)
		return -1;
	while (n > 0) {
		size_t k = 0;
		while (enq_sizes[k].rows > n)
			k++;
		int i = enq_sizes[k].stmt, col = 1;
		sqlite3_stmt *s = sql_stmt[i];
		for (size_t r = 0; r < enq_sizes[k].rows; r++, e++) {
			sqlite3_bind_int64(s, col++, e->qid);
			sqlite3_bind_int64(s, col++, (int64_t)e->seq);
			sqlite3_bind_int64(s, col++, e->deliveries);
			sqlite3_bind_int64(s, col++, (int64_t)e->expires);
			sql_bind_bytes(i, col++, e->exchange);
			sql_bind_bytes(i, col++, e->rkey);
			sql_bind_bytes(i, col++, e->props);
			sqlite3_bind_blob64(s, col++, e->body_size ? (const void *)e->body : "",
					    e->body_size, SQLITE_STATIC);
		}
		if (sql_step(i) < 0)
			return -1;
		n -= enq_sizes[k].rows;
	}
	return 0;
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

int sql_put_delayed(uint64_t id, uint64_t due, const char *vhost, struct bytes exchange,
		    struct bytes rkey, struct bytes props, const uint8_t *body, uint64_t body_size)
{
	if (sql_begin() < 0)
		return -1;
	sqlite3_bind_int64(sql_stmt[S_PUT_D], 1, (int64_t)due);
	sqlite3_bind_text(sql_stmt[S_PUT_D], 2, vhost, -1, SQLITE_STATIC);
	sql_bind_bytes(S_PUT_D, 3, exchange);
	sql_bind_bytes(S_PUT_D, 4, rkey);
	sql_bind_bytes(S_PUT_D, 5, props);
	sqlite3_bind_blob64(sql_stmt[S_PUT_D], 6, body_size ? (const void *)body : "", body_size,
			    SQLITE_STATIC);
	sqlite3_bind_int64(sql_stmt[S_PUT_D], 7, (int64_t)id);
	return sql_step(S_PUT_D);
}

int sql_del_delayed(uint64_t id)
{
	if (sql_begin() < 0)
		return -1;
	sqlite3_bind_int64(sql_stmt[S_DEL_D], 1, (int64_t)id);
	return sql_step(S_DEL_D);
}

int sql_scan_delayed(uint64_t from, uint64_t to, store_delayed_fn fn, void *ctx)
{
	sqlite3_stmt *s = sql_stmt[S_SCAN_D];
	sqlite3_bind_int64(s, 1, (int64_t)from);
	sqlite3_bind_int64(s, 2, (int64_t)to);
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		fn(ctx, (uint64_t)sqlite3_column_int64(s, 0), (uint64_t)sqlite3_column_int64(s, 1),
		   (const char *)sqlite3_column_text(s, 2), sql_col_bytes(s, 3),
		   sql_col_bytes(s, 4), sql_col_bytes(s, 5), sql_col_bytes(s, 6));
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? 0 : sql_fail("scan delayed");
}

int64_t sql_count_delayed(void)
{
	/* Rare (start-up, a failed commit): prepared on the spot. */
	sqlite3_stmt *s;
	if (!sql_db ||
	    sqlite3_prepare_v2(sql_db, "SELECT count(*) FROM delayed", -1, &s, NULL) != SQLITE_OK)
		return sql_fail("count delayed");
	int64_t n = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : -1;
	sqlite3_finalize(s);
	return n < 0 ? sql_fail("count delayed") : n;
}
