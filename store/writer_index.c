/* writer_index.c — a batch's index for cancelling, so that a dequeue finds
 * its enqueue (and an enqueue its shared message, a watermark the queue's
 * earlier one) in the batch without a scan: (tag, a, b) -> op, open
 * addressing in a power-of-two table.
 *
 * Slots stamped with another batch's number are empty, so a new batch
 * starts with an empty index without clearing it. op == 0 is a tombstone.
 * Only the loop uses it: the pending batch's to cancel, the flying one's
 * to settle (writer_record.c). */
#include <stdlib.h>

#include "store/writer.h"

/* The queue (a) and kind are scattered, the seq or id (b) is added as it
 * is: a queue's consecutive entries take consecutive slots, so a busy
 * batch's lookups stay within a few cache lines (a scattering hash made
 * every lookup a cache miss: 15% of the loop in S3). */
static size_t hash(uint32_t tag, int64_t a, uint64_t b)
{
	uint64_t h = ((uint64_t)a * 0x9E3779B97F4A7C15u) ^ ((uint64_t)tag << 56);
	return (size_t)((h ^ (h >> 32)) + b);
}

struct slot *writer_index_find(const struct batch *bt, uint32_t tag, int64_t a, uint64_t b)
{
	if (!bt->index_cap)
		return NULL;
	size_t mask = bt->index_cap - 1;
	for (size_t i = hash(tag, a, b) & mask;; i = (i + 1) & mask) {
		struct slot *s = &bt->slots[i];
		if (s->batch != bt->no)
			return NULL;
		if (s->op && s->tag == tag && s->a == a && s->b == b)
			return s;
	}
}

/* Rehashes at the size the live slots need: tombstones (cancelled
 * entries) are dropped, and a table grown by one big batch shrinks back. */
static void index_grow(struct batch *bt)
{
	struct slot *old = bt->slots;
	size_t n = bt->index_cap, live = 0;
	for (size_t i = 0; i < n; i++)
		live += old[i].batch == bt->no && old[i].op;
	bt->index_cap = 1024;
	while (bt->index_cap < live * 4)
		bt->index_cap *= 2;
	bt->slots = calloc(bt->index_cap, sizeof *bt->slots);
	if (!bt->slots)
		abort();
	bt->index_filled = 0;
	for (size_t i = 0; i < n; i++)
		if (old[i].batch == bt->no && old[i].op)
			writer_index_put(bt, old[i].tag, old[i].a, old[i].b, old[i].op - 1);
	free(old);
}

void writer_index_put(struct batch *bt, uint32_t tag, int64_t a, uint64_t b, size_t op)
{
	if ((bt->index_filled + 1) * 2 > bt->index_cap)
		index_grow(bt);
	struct slot *s = writer_index_find(bt, tag, a, b);
	if (!s) {
		size_t mask = bt->index_cap - 1, i = hash(tag, a, b) & mask;
		while (bt->slots[i].batch == bt->no)
			i = (i + 1) & mask;
		s = &bt->slots[i];
		bt->index_filled++;
	}
	*s = (struct slot){bt->no, a, b, tag, (uint32_t)op + 1};
}
