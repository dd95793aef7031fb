/* writer.h — what the writer's files share, internal to store/: writer.c
 * (the writer thread, the hand-over of batches, the reads, open and
 * close), writer_record.c (the store_* writes that fill the pending batch)
 * and writer_index.c (a batch's index for cancelling). Only the loop's
 * thread uses any of it, but for writer_claim; the writer thread sees a
 * batch through writer_run alone (batch.h). */
#ifndef TERN_STORE_WRITER_H
#define TERN_STORE_WRITER_H

#include "store/batch.h"

/* ---- writer.c ---- */

/* The batch the loop records into. */
extern struct batch *writer_pend;
/* Handed over and not yet taken back, or NULL. The writer only reads its
 * ops, so the loop may read them too (a dequeue looks up its enqueue's
 * tag). */
extern struct batch *writer_flying;
/* True when the pending batch takes no more writes: the test hook
 * (store_fail_after) failed this call or an earlier one of the batch.
 * Every write asks once, and so does the hand-over. */
bool writer_refused(void);

/* An inline entry in the batch the writer has goes to whoever claims it
 * first: a dequeue (then neither it nor its delete is written) or the
 * writer thread as it runs it. The one thing both threads change in a
 * handed-over batch, hence atomic. */
enum { CLAIM_NONE, CLAIM_DEQUEUE, CLAIM_WRITER };
static inline bool writer_claim(struct op *o, uint8_t who)
{
	uint8_t none = CLAIM_NONE;
	return __atomic_compare_exchange_n(&o->claim, &none, who, false, __ATOMIC_ACQ_REL,
					   __ATOMIC_ACQUIRE);
}

/* ---- writer_index.c: (tag, a, b) -> op in one batch ---- */

enum { T_ENTRY = 1, T_MSG, T_UPTO }; /* (qid, seq), (0, message id), (qid, 0) */
struct slot {
	uint64_t batch; /* the batch it belongs to: any other means empty */
	int64_t a;
	uint64_t b;
	uint32_t tag, op; /* op: index + 1; 0: a tombstone */
};
/* The live slot of (tag, a, b) in bt's index, or NULL. */
struct slot *writer_index_find(const struct batch *bt, uint32_t tag, int64_t a, uint64_t b);
/* Points (tag, a, b) at bt's op number op, replacing what it pointed at. */
void writer_index_put(struct batch *bt, uint32_t tag, int64_t a, uint64_t b, size_t op);

#endif
