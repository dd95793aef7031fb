/* qring.h — a ring of queue entries kept sorted by sequence number: the
 * storage of one priority level of a queue (queue.h).
 *
 * Appending and taking the head are O(1). A requeued entry goes back to
 * its place by binary search, shifting whichever side is shorter; requeues
 * land near the head, so that side is short. Entries expired or removed in
 * the middle are taken out the same way. */
#ifndef TERN_BROKER_QRING_H
#define TERN_BROKER_QRING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "broker/queue/message.h"

/* A queue entry: 40 bytes. A paged-out entry (QE_PAGED) has no message in
 * memory, only its store id; queue_pop reads it back. */
struct qentry {
	struct message *m;   /* NULL when paged out */
	uint64_t seq;
	uint64_t msg_id;     /* store id, when QE_STORED */
	uint64_t expires;    /* ms on the monotonic clock; 0: never */
	uint32_t size;       /* body size, for byte accounting while paged */
	uint16_t deliveries; /* times delivered before; > 0 means redelivered */
	uint8_t flags;       /* QE_* */
	uint8_t priority;    /* the level it sits in */
};

enum {
	QE_STORED = 1, /* the entry has a row in the store */
	QE_PAGED = 2,  /* ... and its message is not in memory */
	QE_NOW = 4,    /* TTL 0: deliver at once or expire */
};

struct qring {
	struct qentry *v;
	size_t head, len, cap; /* cap is 0 or a power of two */
};

static inline struct qentry *qring_at(const struct qring *r, size_t i)
{
	return &r->v[(r->head + i) & (r->cap - 1)];
}

/* Appends e (its seq must be the highest); returns where it went. */
struct qentry *qring_push(struct qring *r, struct qentry e);

/* Inserts e in seq order. */
void qring_insert(struct qring *r, struct qentry e);

/* Takes the head into *e; false when empty. */
bool qring_pop(struct qring *r, struct qentry *e);

/* Finds the entry with sequence number seq; its index or -1. */
long qring_find(const struct qring *r, uint64_t seq);

/* Removes the entry at index i into *e. */
void qring_remove(struct qring *r, size_t i, struct qentry *e);

void qring_free(struct qring *r);

#endif
