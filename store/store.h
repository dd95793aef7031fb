/* store.h — persistence behind one narrow interface; writer*.c run it on
 * a writer thread, sqlite*.c are the backend. The store sees names, ids and
 * bytes, never connections, channels or queue structures, so another
 * backend (a replicated one) can sit behind the same calls.
 *
 * Design notes. A write is recorded into the pending batch and returns at
 * once (it fails only when the batch already failed). store_submit(),
 * which the broker calls at the end of each loop turn, hands the pending
 * batch to the writer thread when that is idle; otherwise the batch keeps
 * growing until the writer is done with the one before (group commit
 * whose batches grow with load, and the loop never waits on fsync). Each
 * batch is one SQLite transaction: written whole or, when it fails,
 * rolled back whole. Batches are committed in order; store_done_fd()
 * becomes readable when one is finished, and store_poll() reports it to
 * the store_on_done() callback, on the caller's thread. A dequeue of an
 * entry enqueued in the still-pending batch cancels both: a message acked
 * before its batch was handed over is never written (and one acked while
 * its batch is being written need not wait for it: store_last_uncommitted). Reads (and
 * store_commit, store_close) drain first: they wait until every recorded
 * write is committed, then read on the caller's thread. A message row holds the body once; entry
 * rows (queue id, seq) point at it, so fan-out to N durable queues stores
 * the body once. Each queue row also keeps the highest seq ever delivered
 * (delivered_upto): every stored entry at or below it was delivered at
 * least once, which restores the redelivered flag without a write per
 * delivery. Recovery order: exchanges, queues, bindings, then each queue's
 * entries in seq order. */
#ifndef TERN_STORE_STORE_H
#define TERN_STORE_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "protocol/wire.h"

struct store_entry; /* recovery, at the end */

enum store_durability {
	STORE_FULL,   /* fsync at every commit: a confirm means on disk */
	STORE_NORMAL, /* WAL without fsync at commit: survives a crash of
	               * the broker, not of the machine */
};

/* Opens (creating if needed) dir/tern.db and starts the writer thread.
 * Returns 0 or -1 with err set. */
int store_open(const char *dir, enum store_durability d, char *err, size_t errlen);
/* Commits what is recorded, stops the writer, closes the file. */
void store_close(void);

/* The last error's text (SQLite's message), for logs and reply texts. */
const char *store_error(void);

/* Batches. store_batch() is the number of the pending batch, the one
 * writes join now (numbers grow from 1). */
uint64_t store_batch(void);
/* Hands the pending batch to the writer when it is idle and the batch
 * holds writes; never waits. A batch all of whose writes were cancelled
 * (or that already failed) is reported at once, without the writer. */
void store_submit(void);
/* A finished batch: ok false when it was rolled back (whoever waited on
 * it is nacked); ns the writer's time on it; writes how many it ran. */
struct store_result {
	uint64_t batch;
	bool ok;
	uint64_t ns;
	uint64_t writes;
};
/* Called for each finished batch, in order, on the caller's thread (from
 * store_poll, store_submit, and the drains of reads and store_commit).
 * It must not call the store. */
void store_on_done(void (*fn)(const struct store_result *r));
/* Readable when the writer has finished a batch: then call store_poll(),
 * which reports it; the next store_submit (the end of the caller's turn)
 * hands the pending batch over. */
int store_done_fd(void);
void store_poll(void);
/* Waits until everything recorded so far is committed. Returns 0, or -1
 * when a batch failed meanwhile (rolled back; reported as well). */
int store_commit(void);
/* True while recorded writes are not yet committed. */
bool store_dirty(void);
/* Called now and then (the broker: once a second): when no batch was
 * handed over since the last call and SQLite's page cache holds more than
 * a few MiB, frees that cache, so that a broker gone quiet after a busy
 * spell does not keep up to 64 MiB of it. True when it did (the memory
 * went back to malloc: the caller may give it back to the system). */
bool store_release_idle(void);

/* Topology. Flags are a bitmask of STORE_F_*. Each returns 0 or -1. */
enum { STORE_F_DURABLE = 1, STORE_F_AUTO_DELETE = 2, STORE_F_INTERNAL = 4, STORE_F_EXCLUSIVE = 8 };
int store_put_exchange(const char *vhost, struct bytes name, const char *type, int flags,
		       struct bytes args);
int store_del_exchange(const char *vhost, struct bytes name);
/* Saves a queue and returns its new id (> 0), or 0 on error. A row left
 * under the same name (its deletion was rolled back) is replaced, its
 * entries dropped: the broker puts a queue only when it creates it. */
int64_t store_put_queue(const char *vhost, struct bytes name, int flags, struct bytes args);
/* Deletes a queue with all its entries and the messages left unreferenced. */
int store_del_queue(int64_t qid);
/* Drops all of a queue's entries, and the message rows only they use; the
 * queue stays (a purge with nothing unacked: one write, not one per entry). */
int store_purge_queue(int64_t qid);
int store_put_binding(const char *vhost, struct bytes source, bool to_queue, struct bytes dest,
		      struct bytes key, struct bytes args);
int store_del_binding(const char *vhost, struct bytes source, bool to_queue, struct bytes dest,
		      struct bytes key, struct bytes args);

/* Messages and queue entries. Message ids are chosen by the caller from
 * store_next_message_id(). */
uint64_t store_next_message_id(void);
int store_put_message(uint64_t id, struct bytes exchange, struct bytes rkey, struct bytes props,
		      const uint8_t *body, uint64_t body_size);
/* Deletes message `id` unless a queue entry still points at it. */
int store_del_message(uint64_t id);
/* Reads a stored message back (bounded memory: bodies of paged-out
 * entries): message `id`, or, when id is 0, the one inline in entry
 * (qid, seq). Calls fn with views valid during the call only: the read
 * ends before store_get_message returns, since an open read would keep
 * SQLite from restarting the WAL, which would then grow with every commit.
 * Returns 0, or -1 (fn not called). */
typedef void (*store_message_fn)(void *ctx, struct bytes exchange, struct bytes rkey,
				 struct bytes props, struct bytes body);
int store_get_message(int64_t qid, uint64_t seq, uint64_t id, store_message_fn fn, void *ctx);
/* expires: the entry's TTL deadline in wall-clock milliseconds, 0: none. */
int store_enqueue(int64_t qid, uint64_t seq, uint64_t msg_id, uint32_t deliveries,
		  uint64_t expires);
/* An entry that carries its message itself (msg = 0): the common case of
 * a message stored in one queue only. store_dequeue removes both. */
int store_enqueue_inline(int64_t qid, uint64_t seq, uint32_t deliveries, uint64_t expires,
			 struct bytes exchange, struct bytes rkey, struct bytes props,
			 const uint8_t *body, uint64_t body_size);
int store_dequeue(int64_t qid, uint64_t seq);
/* Tags let the caller learn which uncommitted enqueue a dequeue took
 * back: enqueues recorded while a tag is set (non-zero) carry it, and
 * store_last_uncommitted() is the tag of the enqueue the last
 * store_dequeue found not yet committed: in the pending batch (then both
 * are cancelled: never written) or in the batch the writer has (written
 * all the same, and deleted by the dequeue's batch). Either way nothing
 * needs to wait for that entry's commit any more. 0: the entry was
 * committed before, or its enqueue had no tag. */
void store_tag(uint64_t tag);
uint64_t store_last_uncommitted(void);
/* A hint: the entry was handed to a consumer, whose ack will likely
 * dequeue it soon. Its write may then wait a little (writer.c's
 * ripening) so that the ack takes it back before it is written. Not for
 * entries whose confirm must wait for their commit however they end (a
 * queue with a dead-letter exchange). */
void store_delivered(int64_t qid, uint64_t seq);
/* Records a delivery count (after a requeue, for delivery limits). */
int store_set_deliveries(int64_t qid, uint64_t seq, uint32_t deliveries);
/* Records that every entry of the queue up to seq has been delivered. */
int store_set_delivered_upto(int64_t qid, uint64_t seq);
/* Sets the queue's watermark to exactly seq, also below what was recorded
 * (the broker marks ahead while running and takes it back at a clean
 * stop). */
int store_reset_delivered_upto(int64_t qid, uint64_t seq);
/* Writes and commits a probe row: succeeds again once the disk can take
 * writes (used to lift connection.blocked after a failure). */
int store_probe(void);

/* Delayed messages (a delayed-message exchange): stored whole with their
 * due time (wall-clock ms) until they fire. */
/* Returns the new row's id (> 0), or 0 on error. */
uint64_t store_put_delayed(uint64_t due, const char *vhost, struct bytes exchange,
			   struct bytes rkey, struct bytes props, const uint8_t *body,
			   uint64_t body_size);
int store_del_delayed(uint64_t id);
/* Visits the delayed messages due in [from, to), in due order; views are
 * valid during the call only, which must not write to the store. */
typedef void (*store_delayed_fn)(void *ctx, uint64_t id, uint64_t due, const char *vhost,
				 struct bytes exchange, struct bytes rkey, struct bytes props,
				 struct bytes body);
int store_scan_delayed(uint64_t from, uint64_t to, store_delayed_fn fn, void *ctx);
/* How many delayed messages are stored (the open transaction's included),
 * or -1 on error. */
int64_t store_count_delayed(void);

/* The control plane: objects of a kind ("vhost", "user", "permission",
 * "policy", ...) under a unique key, each a JSON text the broker writes
 * and reads (RabbitMQ's definitions shapes). Writes join the turn's
 * transaction like every other. */
int store_put_object(const char *kind, const char *key, const char *value);
int store_del_object(const char *kind, const char *key);
/* Visits the objects of one kind in key order; the texts are valid
 * during the call only, which must not write to the store. Works on a
 * cluster member that does not lead too: its copy, as applied so far. */
typedef void (*store_object_fn)(void *ctx, const char *key, const char *value);
int store_scan_objects(const char *kind, store_object_fn fn, void *ctx);
/* True when this store_open created the objects table: a blank node
 * (a new file, or one from before the control plane was stored). */
bool store_blank(void);

/* Recovery: the callbacks get views valid only during the call. Runs on
 * the caller's thread before anything is written (the writer is idle). */
struct store_visitor {
	void (*exchange)(void *ctx, const char *vhost, struct bytes name, const char *type, int flags,
			 struct bytes args);
	/* Returns the caller's handle for the queue (passed to entry()). */
	void *(*queue)(void *ctx, int64_t qid, const char *vhost, struct bytes name, int flags,
		       struct bytes args);
	void (*binding)(void *ctx, const char *vhost, struct bytes source, bool to_queue,
			struct bytes dest, struct bytes key, struct bytes args);
	/* One entry; entries of one queue come in seq order. Returns true to
	 * get the next entries of this queue with their messages, false for
	 * index only (see struct store_entry). */
	bool (*entry)(void *ctx, void *queue, const struct store_entry *e);
	/* Optional (may be NULL). Called before the entries: for each queue that has
	 * any, in the order their entries will come, at most how many it holds
	 * (the span of its seqs; cheap to know, unlike a count), for progress
	 * reports and to share a memory budget among queues. */
	void (*expect)(void *ctx, void *queue, uint64_t entries);
};

/* One stored queue entry as recovery reads it. When the visitor asked for
 * no more messages (entry() returned false), the rest of that queue's
 * entries come without exchange, rkey and body (empty views): an entry
 * left paged out needs only its size and properties, and its body is not
 * read at all. */
struct store_entry {
	uint64_t seq;
	uint64_t msg_id;   /* 0 for a message stored inline in its entry */
	uint64_t expires;  /* wall-clock ms, 0: none */
	uint32_t deliveries;
	uint32_t body_size;
	bool redelivered;  /* delivered before the stop */
	bool has_message;  /* exchange, rkey and body are read */
	struct bytes exchange, rkey, props, body;
};

/* Visits everything stored. Returns 0 or -1. */
int store_recover(const struct store_visitor *v, void *ctx);

/* ---- Clustering (store/replica*.c, docs/clustering.md) ----
 * With store_cluster() called before store_open(), the store is one
 * member of a replicated group: a batch is done when its log entry is
 * committed on a majority (and applied here); every member applies the
 * committed entries to its own file. Without it, none of this runs. */
#define STORE_MAX_MEMBERS 16
struct store_member {
	unsigned id;
	const char *raft; /* host:port of its replication */
	const char *amqp; /* host:port clients are sent to */
};
struct store_cluster {
	unsigned self;
	const char *listen; /* host:port this member's replication binds */
	const char *name;
	unsigned election_timeout, heartbeat_interval; /* ms */
	unsigned snapshot_threshold, snapshot_trailing; /* log entries */
	const struct store_member *members;
	unsigned n;
};
/* Copies c; before store_open. */
void store_cluster(const struct store_cluster *c);

/* Where this node's store can be written: here (the node serves
 * clients), elsewhere (another node does: where is its client address),
 * or nowhere yet (no leader known; where is NULL). A single-node store is
 * always here. A store that becomes writable here has everything that was
 * committed before applied to its file, ready to be recovered. */
enum store_role { STORE_HERE, STORE_ELSEWHERE, STORE_NOWHERE };
enum store_role store_role(const char **where);
/* Called on the caller's thread (from store_poll) when the role changes. */
void store_on_role(void (*fn)(enum store_role role, const char *where));

/* What /api/nodes shows: the members, who leads, how far each is. */
struct store_member_status {
	unsigned id;
	char raft[64], amqp[64];
	bool leader, self;
	bool known;     /* match/lag are known (on the leader, or self) */
	uint64_t match; /* highest log index known to be in its log */
	uint64_t lag;   /* entries it is behind the leader's log */
};
struct store_status {
	bool cluster;
	char name[64];
	unsigned self, leader; /* leader 0: none known */
	const char *state;     /* leader, follower, candidate, unavailable */
	uint64_t term, last_index, commit_index, applied_index;
	unsigned n;
	struct store_member_status m[STORE_MAX_MEMBERS];
};
void store_status(struct store_status *out);

/* Test hook: when > 0, the Nth following store call fails as if SQLite
 * had (counted down by every write and by every hand-over of a batch
 * with writes): the pending batch fails whole. */
extern int store_fail_after;
/* How long a ripening batch waits (writer.c); tests set it. */
extern uint64_t store_ripen_ns;

#endif
