/* sqlite.h — the SQLite backend's calls, for the writer (writer*.c) and
 * replica.c. Each has the meaning of its store_* namesake in store.h, run
 * at once: writes join the open transaction (opened at the first write),
 * sql_commit() ends it. The backend is single-threaded: writer.c makes
 * sure that only one thread uses it at a time (the writer thread during a
 * batch, the caller while the writer is idle). */
#ifndef TERN_STORE_SQLITE_H
#define TERN_STORE_SQLITE_H

#include "store/store.h"

/* Recovery reports every entry redelivered (a promoted cluster member:
 * the old leader may have delivered any of them without its mark reaching
 * the log, and the flag means "may have been delivered before"). */
extern bool sql_recover_redelivered;
/* Puts sqlite_pcache.c's cache in place of SQLite's default one; before
 * the first open (a no-op after it). */
void sql_pcache_install(void);
/* Truncates it passed on to the default cache (the others were left out). */
extern unsigned long sql_pcache_passed;
int sql_open(const char *dir, enum store_durability d, char *err, size_t errlen);
void sql_close(void);
/* Frees the page cache when it holds more than keep bytes; true if it did. */
bool sql_release_cache(size_t keep);
/* A consistent copy of the file at path (VACUUM INTO), outside a
 * transaction: a cluster member's snapshot. */
int sql_copy_into(const char *path);
const char *sql_error(void);
/* Commits the open transaction; -1 after rolling it back. */
int sql_commit(void);
/* The probe row, written into the open transaction. */
int sql_probe(void);

int sql_put_exchange(const char *vhost, struct bytes name, const char *type, int flags,
		     struct bytes args);
int sql_del_exchange(const char *vhost, struct bytes name);
/* Ids are handed out before the row is written (the write runs later, on
 * the writer thread): one past the highest stored at open. */
int64_t sql_next_queue_id(void);
int sql_put_queue(int64_t id, const char *vhost, struct bytes name, int flags, struct bytes args);
int sql_del_queue(int64_t qid);
int sql_purge_queue(int64_t qid);
int sql_put_binding(const char *vhost, struct bytes source, bool to_queue, struct bytes dest,
		    struct bytes key, struct bytes args);
int sql_del_binding(const char *vhost, struct bytes source, bool to_queue, struct bytes dest,
		    struct bytes key, struct bytes args);
uint64_t sql_next_message_id(void);
int sql_put_message(uint64_t id, struct bytes exchange, struct bytes rkey, struct bytes props,
		    const uint8_t *body, uint64_t body_size);
int sql_del_message(uint64_t id);
int sql_get_message(int64_t qid, uint64_t seq, uint64_t id, store_message_fn fn, void *ctx);
int sql_enqueue(int64_t qid, uint64_t seq, uint64_t msg_id, uint32_t deliveries,
		uint64_t expires);
/* n inline entries (store_enqueue_inline), in order: one statement per
 * SQL_ROWS of them (a later row with the same queue and seq replaces an
 * earlier one, as it would one by one). */
struct sql_inline {
	int64_t qid;
	uint64_t seq;
	uint32_t deliveries;
	uint64_t expires;
	struct bytes exchange, rkey, props;
	const uint8_t *body;
	uint64_t body_size;
};
#define SQL_ROWS 16
int sql_enqueue_inline(const struct sql_inline *e, size_t n);
int sql_dequeue(int64_t qid, uint64_t seq);
int sql_set_deliveries(int64_t qid, uint64_t seq, uint32_t deliveries);
int sql_set_delivered_upto(int64_t qid, uint64_t seq);
int sql_reset_delivered_upto(int64_t qid, uint64_t seq);
uint64_t sql_next_delayed_id(void);
int sql_put_delayed(uint64_t id, uint64_t due, const char *vhost, struct bytes exchange,
		    struct bytes rkey, struct bytes props, const uint8_t *body, uint64_t body_size);
int sql_del_delayed(uint64_t id);
int sql_scan_delayed(uint64_t from, uint64_t to, store_delayed_fn fn, void *ctx);
int64_t sql_count_delayed(void);
int sql_put_object(const char *kind, const char *key, const char *value);
int sql_del_object(const char *kind, const char *key);
int sql_scan_objects(const char *kind, store_object_fn fn, void *ctx);

#endif
