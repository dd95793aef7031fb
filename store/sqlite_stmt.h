/* sqlite_stmt.h — what the sqlite*.c files share (internal to store/):
 * the connection, the statements sqlite.c prepares at open (by number),
 * and the helpers around them. One thread at a time (sqlite.h). */
#ifndef TERN_STORE_SQLITE_STMT_H
#define TERN_STORE_SQLITE_STMT_H

#include <sqlite3.h>

#include "store/sqlite.h"

enum {
	S_PUT_X, S_DEL_X, S_PUT_Q, S_DEL_Q, S_DEL_Q_BINDINGS, S_PUT_B, S_DEL_B,
	S_PUT_M, S_DEL_M, S_ENQ, S_DEQ, S_SET_DELIV, S_SET_UPTO, S_RESET_UPTO,
	S_DEL_ORPHANS, S_DEL_ENTRIES, S_GET_M, S_PUT_D, S_DEL_D, S_SCAN_D, S_ENQ_INLINE, S_GET_E,
	S_PUT_O, S_DEL_O, S_SCAN_O, S_STALE_Q, S_ENQ_INLINE4, S_ENQ_INLINE16, NSTMT
};

extern sqlite3 *sql_db;                 /* NULL while closed */
extern sqlite3_stmt *sql_stmt[NSTMT];   /* prepared at open (sql_open) */

/* Errors: each sets sql_error()'s text and returns -1. sql_fail adds
 * SQLite's message to what; sql_fail_stmt also fails the open
 * transaction (it takes no more writes until sql_commit rolls it back). */
int sql_fail(const char *what);
int sql_failf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int sql_fail_stmt(int i);
/* Runs SQL text outside the prepared statements; -1 with the text and
 * SQLite's message as the error. */
int sql_exec(const char *s);
/* Opens the turn's transaction on first use: every write calls it. */
int sql_begin(void);
/* Runs statement i with its parameters already bound, and resets it. */
int sql_step(int i);
/* Binds bytes (never NULL: an empty blob) as statement i's parameter col. */
void sql_bind_bytes(int i, int col, struct bytes b);
/* A blob column of the current row, valid until the statement moves. */
struct bytes sql_col_bytes(sqlite3_stmt *s, int col);

#endif
