/* sqlite_topology.c — the rows of the broker's topology and control
 * plane: exchanges, queues (a queue's deletion takes its entries, its
 * bindings and the messages only it held), bindings, and the definitions
 * objects (vhosts, users, permissions, policies, parameters as JSON).
 * Statements are sqlite.c's, prepared at open. */
#include "store/sqlite_stmt.h"

int sql_put_exchange(const char *vhost, struct bytes name, const char *type, int flags,
		       struct bytes args)
{
	if (sql_begin() < 0)
		return -1;
	sqlite3_bind_text(sql_stmt[S_PUT_X], 1, vhost, -1, SQLITE_STATIC);
	sql_bind_bytes(S_PUT_X, 2, name);
	sqlite3_bind_text(sql_stmt[S_PUT_X], 3, type, -1, SQLITE_STATIC);
	sqlite3_bind_int(sql_stmt[S_PUT_X], 4, flags);
	sql_bind_bytes(S_PUT_X, 5, args);
	return sql_step(S_PUT_X);
}

int sql_del_exchange(const char *vhost, struct bytes name)
{
	if (sql_begin() < 0)
		return -1;
	sqlite3_bind_text(sql_stmt[S_DEL_X], 1, vhost, -1, SQLITE_STATIC);
	sql_bind_bytes(S_DEL_X, 2, name);
	return sql_step(S_DEL_X);
}

/* A queue's entries, and the messages no other queue's entry holds. */
int sql_purge_queue(int64_t qid)
{
	if (sql_begin() < 0)
		return -1;
	sqlite3_bind_int64(sql_stmt[S_DEL_ORPHANS], 1, qid);
	if (sql_step(S_DEL_ORPHANS) < 0)
		return -1;
	sqlite3_bind_int64(sql_stmt[S_DEL_ENTRIES], 1, qid);
	return sql_step(S_DEL_ENTRIES);
}

int sql_put_queue(int64_t id, const char *vhost, struct bytes name, int flags, struct bytes args)
{
	if (sql_begin() < 0)
		return -1;
	/* A row of the same name under another id: its entries go first. */
	sqlite3_stmt *s = sql_stmt[S_STALE_Q];
	sqlite3_bind_text(s, 1, vhost, -1, SQLITE_STATIC);
	sql_bind_bytes(S_STALE_Q, 2, name);
	sqlite3_bind_int64(s, 3, id);
	int rc = sqlite3_step(s);
	int64_t stale = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
	sqlite3_reset(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return sql_fail_stmt(S_STALE_Q);
	if (stale && sql_purge_queue(stale) < 0)
		return -1;
	sqlite3_bind_text(sql_stmt[S_PUT_Q], 1, vhost, -1, SQLITE_STATIC);
	sql_bind_bytes(S_PUT_Q, 2, name);
	sqlite3_bind_int(sql_stmt[S_PUT_Q], 3, flags);
	sql_bind_bytes(S_PUT_Q, 4, args);
	sqlite3_bind_int64(sql_stmt[S_PUT_Q], 5, id);
	return sql_step(S_PUT_Q);
}

int sql_del_queue(int64_t qid)
{
	if (sql_purge_queue(qid) < 0)
		return -1;
	sqlite3_bind_int64(sql_stmt[S_DEL_Q_BINDINGS], 1, qid);
	if (sql_step(S_DEL_Q_BINDINGS) < 0)
		return -1;
	sqlite3_bind_int64(sql_stmt[S_DEL_Q], 1, qid);
	return sql_step(S_DEL_Q);
}

static int binding_op(int i, const char *vhost, struct bytes source, bool to_queue,
		      struct bytes dest, struct bytes key, struct bytes args)
{
	if (sql_begin() < 0)
		return -1;
	sqlite3_bind_text(sql_stmt[i], 1, vhost, -1, SQLITE_STATIC);
	sql_bind_bytes(i, 2, source);
	sqlite3_bind_int(sql_stmt[i], 3, to_queue);
	sql_bind_bytes(i, 4, dest);
	sql_bind_bytes(i, 5, key);
	sql_bind_bytes(i, 6, args);
	return sql_step(i);
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

int sql_put_object(const char *kind, const char *key, const char *value)
{
	if (sql_begin() < 0)
		return -1;
	sqlite3_bind_text(sql_stmt[S_PUT_O], 1, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(sql_stmt[S_PUT_O], 2, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(sql_stmt[S_PUT_O], 3, value, -1, SQLITE_STATIC);
	return sql_step(S_PUT_O);
}

int sql_del_object(const char *kind, const char *key)
{
	if (sql_begin() < 0)
		return -1;
	sqlite3_bind_text(sql_stmt[S_DEL_O], 1, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(sql_stmt[S_DEL_O], 2, key, -1, SQLITE_STATIC);
	return sql_step(S_DEL_O);
}

int sql_scan_objects(const char *kind, store_object_fn fn, void *ctx)
{
	sqlite3_stmt *s = sql_stmt[S_SCAN_O];
	sqlite3_bind_text(s, 1, kind, -1, SQLITE_STATIC);
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		fn(ctx, (const char *)sqlite3_column_text(s, 0), (const char *)sqlite3_column_text(s, 1));
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return rc == SQLITE_DONE ? 0 : sql_fail("scan objects");
}
