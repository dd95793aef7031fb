/* batch.h — a batch of recorded store writes, as writer_record.c records
 * them and writer.c runs them; shared with the replicated backend
 * (replica*.c), which turns a batch into a log entry and back. Internal to
 * store/. */
#ifndef TERN_STORE_BATCH_H
#define TERN_STORE_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum op_kind {
	OP_PUT_X, OP_DEL_X, OP_PUT_Q, OP_DEL_Q, OP_PUT_B, OP_DEL_B, OP_PUT_M, OP_DEL_M,
	OP_ENQ, OP_ENQ_INLINE, OP_DEQ, OP_SET_DELIV, OP_SET_UPTO, OP_RESET_UPTO, OP_PUT_D, OP_DEL_D,
	OP_PUT_O, OP_DEL_O, OP_PROBE, OP_PURGE_Q,
	OP_KINDS /* how many; a log entry with another kind is refused */
};

#define NSTR 6 /* a binding has the most byte strings: vhost and five */

/* One recorded write. Strings live in the batch's data buffer (offsets:
 * it grows), each followed by a NUL so that texts can be passed as is. */
struct op {
	uint8_t kind;
	bool cancelled;
	bool ripe;        /* OP_ENQ_INLINE: delivered, so likely acked soon */
	uint8_t claim;    /* in flight, an inline entry's race (writer.c) */
	int flags;        /* exchange/queue flags; a binding's to_queue */
	int64_t qid;
	uint64_t seq, id; /* entry seq; message, queue or delayed row id */
	uint64_t n;       /* deliveries; a delayed message's due time */
	uint64_t expires;
	uint32_t refs;    /* OP_PUT_M: live enqueues of this batch using it */
	uint64_t tag;     /* OP_ENQ*: the caller's tag (store_tag) */
	size_t off[NSTR];
	uint64_t len[NSTR];
};

struct slot; /* writer_index.c: the cancel index */

struct batch {
	uint64_t no;
	struct op *ops;
	size_t nops, cap, live; /* live: not cancelled */
	uint8_t *data;
	size_t used, data_cap;
	struct slot *slots;     /* the loop's index of this batch (writer_index.c) */
	size_t index_cap, index_filled;
	bool failed; /* refused before the hand-over (the test hook) */
	char error[256];
	uint64_t ns; /* time the writer spent on it */
	/* Of the live ops: how many must not wait (urgent) and how many are
	 * ripe entries. A batch with ripe entries and nothing urgent ripens:
	 * the writer waits a little before running it, while acks cancel its
	 * entries in flight (writer.c). */
	size_t urgent, ripe;
	bool ripen;       /* the writer waits until handed_ns + RIPEN_NS; still
			   * set after the run if nothing hurried it */
	bool cancellable; /* a dequeue may claim its inline entries in flight */
	uint64_t handed_ns;
	size_t skipped;   /* entries the writer found claimed by a dequeue */
};

/* writer.c, for replica.c: runs a batch's live ops through sqlite.c as one
 * transaction (b->failed and b->error say how it went), and reports a
 * handed-over batch finished to the caller (the eventfd, store_poll). */
void writer_run(struct batch *b);
void writer_finished(struct batch *b);

#endif
