/* qring.h — a ring of queue entries kept sorted by sequence number: the
 * storage of one priority level of a queue (queue.h).
 *
 * Appending and taking the head are O(1). A requeued entry goes back to
 * its place by binary search, shifting whichever side is shorter; requeues
 * land near the head, so that side is short. Entries expired or removed in
 * the middle are taken out the same way.
 *
 * Design notes. struct qentry is what the queue hands around (to the
 * unacked map, to dead-lettering); the ring stores less. A ring slot is 16
 * bytes, the sequence number and the message: that is all a fresh entry
 * of a transient message has. What only some entries have (a deadline,
 * a delivery count, store flags, the store id and size of a paged-out
 * entry) goes in a second array of 16-byte extras, allocated the first
 * time an entry of the ring needs one and freed when the ring empties.
 * The rest is derived: the priority is the ring's level, the size of an
 * entry in memory is its message's body size, and its store id is the
 * message's (message_store_id). */
#ifndef TERN_BROKER_QRING_H
#define TERN_BROKER_QRING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "broker/queue/message.h"

/* A queue entry as handed around. A paged-out entry (QE_PAGED) has no
 * message in memory, only its store id; queue_pop reads it back. */
struct qentry {
	struct message *m;   /* NULL when paged out */
	uint64_t seq;
	uint64_t msg_id;     /* store id, when QE_STORED: the message's own when in memory */
	uint64_t expires;    /* ms on the monotonic clock; 0: never */
	uint32_t size;       /* body size: the message's when in memory */
	uint16_t deliveries; /* times delivered before; > 0 means redelivered */
	uint8_t flags;       /* QE_* */
	uint8_t priority;    /* the level it sits in */
};

enum {
	QE_STORED = 1, /* the entry has a row in the store */
	QE_PAGED = 2,  /* ... and its message is not in memory */
	QE_NOW = 4,    /* TTL 0: deliver at once or expire */
};

/* The ring's own forms of an entry (see the design notes). */
struct qslot {
	uint64_t seq;
	union {
		struct message *m; /* in memory */
		uint64_t msg_id;   /* paged out (its extra says QE_PAGED) */
	};
};

struct qextra {
	uint64_t expires;
	uint32_t size; /* when paged out */
	uint16_t deliveries;
	uint8_t flags;
};

struct qring {
	struct qslot *v;
	struct qextra *x; /* NULL while no entry has needed one */
	size_t head, len, cap; /* cap is 0 or a power of two */
	uint8_t level;         /* the priority of every entry in it */
};

/* The entry at index i (0 is the head), and its deadline alone. */
struct qentry qring_get(const struct qring *r, size_t i);
uint64_t qring_expires(const struct qring *r, size_t i);

static inline uint64_t qring_seq(const struct qring *r, size_t i)
{
	return r->v[(r->head + i) & (r->cap - 1)].seq;
}

/* Appends e (its seq must be the highest). */
void qring_push(struct qring *r, struct qentry e);

/* Inserts e in seq order. */
void qring_insert(struct qring *r, struct qentry e);

/* Takes the head into *e; false when empty. */
bool qring_pop(struct qring *r, struct qentry *e);

/* Finds the entry with sequence number seq; its index or -1. */
long qring_find(const struct qring *r, uint64_t seq);

/* Removes the entry at index i into *e. */
void qring_remove(struct qring *r, size_t i, struct qentry *e);

/* Frees the arrays; the ring stays usable (empty, same level). */
void qring_free(struct qring *r);

#endif
