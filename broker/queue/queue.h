/* queue.h — queues and their consumers.
 *
 * Design notes. Ready messages sit in a ring of entries kept sorted by a
 * per-queue sequence number, so a requeued message goes back to its
 * original position (as RabbitMQ does) by a binary search and a short
 * shift near the head, where requeues land. An entry is the per-queue view
 * of a shared message: the message is refcounted, the entry holds one
 * reference plus the queue-local delivery count. Delivery is not done
 * inside the handler that caused it: queue_kick() puts the queue on the
 * server's end-of-turn list and queue_deliver() runs there, once per turn,
 * handing messages round-robin to consumers that have credit.
 * Lifetime: the vhost holds one reference and every unacked record one;
 * a deleted queue is unlinked at once and freed when its last reference
 * goes. */
#ifndef TERN_BROKER_QUEUE_H
#define TERN_BROKER_QUEUE_H

#include <stdbool.h>
#include <stdint.h>

#include "broker/queue/message.h"
#include "broker/queue/qring.h"
#include "broker/core/stats.h"
#include "exchanges/exchange.h"

struct channel;
struct conn;
struct vhost;

/* A consumer: owned by its channel (which frees it), listed by its queue. */
struct consumer {
	char *tag;
	uint32_t tag_len;
	struct channel *ch;
	struct queue *q;
	bool no_ack;
	bool exclusive;
	uint32_t prefetch; /* 0: unlimited */
	uint32_t unacked;
	int64_t priority;  /* x-priority: higher ones are served first */
	struct bytes args; /* owned copy */
};

/* Fields are grouped by use; the small ones sit where they fill what
 * alignment would leave empty (100k queues: every 8 bytes is 800 kB). */
struct queue {
	char *name; /* inline, after the struct: freed with it */
	uint32_t name_len;
	uint32_t refs;
	struct vhost *vh;
	bool durable, exclusive, auto_delete;
	bool deleted;
	bool had_consumer; /* auto-delete applies only once one has come and gone */
	bool kick_pending;
	bool idle_armed;    /* an x-expires timer is pending */
	struct conn *owner; /* for exclusive queues */
	struct bytes args;  /* owned copy of the declare arguments (NULL when empty) */

	struct qring *lv;     /* ready entries, one ring per priority level: &lv0
			       * without x-max-priority, else an array */
	struct qring lv0;
	uint16_t nlv;
	bool has_exclusive_consumer;
	bool single_active;     /* x-single-active-consumer: only cons[0] gets messages */
	uint32_t unacked;       /* delivered, not yet acked */
	uint64_t nonempty[4];   /* bit p: lv[p] has entries */
	size_t len;             /* ready entries over all levels */
	uint64_t next_seq;
	uint64_t ready_bytes;
	uint64_t unacked_bytes; /* their bodies (the API's message_bytes_unacknowledged) */

	struct consumer **cons; /* in registration order */
	uint32_t ncons, ncons_cap, rr;
	uint32_t nbinds, nbinds_cap; /* of binds, the bindings with this queue as destination */
	enum { OVERFLOW_DROP_HEAD, OVERFLOW_REJECT, OVERFLOW_REJECT_DLX } overflow; /* limits, below */
	struct binding **binds;
	int64_t idle_ms;        /* x-expires: deleted after this long unused; -1: never */
	uint64_t last_used;

	/* TTL (queue_ttl.c): x-message-ttl, and a heap of the entries whose
	 * own expiration comes before the queue's TTL would. */
	int64_t ttl;             /* ms, -1: none */
	uint64_t expiry_armed;   /* deadline a timer is pending for; 0: none */
	struct xitem *xheap;
	uint32_t nx, nx_cap;

	char *dlx, *dl_rkey;    /* dead-letter exchange / routing key, or NULL */
	char *policy, *op_policy; /* names of the policies in effect, or NULL */
	int64_t delivery_limit; /* x-delivery-limit; -1: none */
	int64_t consumer_timeout; /* x-consumer-timeout / policy, ms; -1: the broker's */
	/* Length limits (x-max-length, x-max-length-bytes; -1: none). */
	int64_t max_len, max_bytes; /* and overflow, above */

	int64_t store_id;        /* > 0 when the queue is on disk */
	uint64_t delivered_upto; /* highest stored seq delivered */
	/* The store's watermark runs ahead of delivered_upto (persist.c):
	 * upto_stored is the value written, upto_safe the value known
	 * committed, upto_batch the batch of a write not known committed. */
	uint64_t upto_stored, upto_safe, upto_batch;

	struct stats stats; /* message counters (stats.h) */

	uint64_t route_epoch; /* dedup mark for routing */
	struct queue *next_kick;
};

/* Creates a queue (refs = 1, held by the vhost). Copies name and args;
 * x-max-priority in args sets the number of levels. */
struct queue *queue_new(struct vhost *vh, struct bytes name, struct bytes args);

static inline void queue_ref(struct queue *q)
{
	q->refs++;
}
void queue_unref(struct queue *q);

/* Recomputes the settings (TTL, limits, overflow, dead-lettering,
 * x-expires) from the queue's own arguments and the policy and operator
 * policy matching it; called by queue_new and whenever policies change.
 * A lowered max-length applies at once. */
void queue_configure(struct queue *q);

/* Bytes of messages in memory (message_mem) past which durable queues
 * keep new persistent messages on disk only: the lower of cfg.memory_budget and
 * queue_watermark_budget, which alarm.c sets to paging_ratio x the
 * memory watermark (UINT64_MAX until it does). */
extern uint64_t queue_watermark_budget;
uint64_t queue_memory_budget(void);

/* The time a delivery from q may stay unacked, in ms (0: no limit): the
 * queue's own (argument or policy) or else the broker's consumer_timeout. */
uint64_t queue_consumer_timeout(const struct queue *q);

/* Moves on whenever a queue's consumer timeout changes while it has
 * unacked deliveries, so channels recompute their bound (consumer_timeout.c). */
extern uint64_t queue_timeout_gen;

/* Appends a message (taking a new reference) and schedules delivery.
 * Past a length limit, drop-head discards from the head; reject-publish
 * refuses m instead: returns false then (the publisher gets a nack). */
bool queue_push(struct queue *q, struct message *m);

/* Puts an entry back in sequence order (the entry's reference moves in). */
void queue_requeue(struct queue *q, struct qentry e);

/* After a delivery: an acked entry leaves for good (the store forgets
 * it, its reference goes); a returned one goes back to its place with its
 * delivery count, or is dead-lettered past x-delivery-limit. */
void queue_ack_entry(struct queue *q, struct qentry *e);
void queue_return_entry(struct queue *q, struct qentry e);

/* Takes the head entry into *e (its reference moves out), reading a
 * paged-out message back from the store. Returns false when empty. */
bool queue_pop(struct queue *q, struct qentry *e);


/* Drops every ready message; returns how many. */
uint32_t queue_purge(struct queue *q);

/* Schedules queue_deliver() for the end of this loop turn. */
void queue_kick(struct queue *q);

/* Sets e->expires from the queue's TTL and the message's expiration and
 * schedules its expiry (queue_ttl.c). */
void queue_ttl_entry(struct queue *q, struct qentry *e);

/* Schedules the expiry of a recovered entry (e->expires already set). */
void queue_ttl_recovered(struct queue *q, const struct qentry *e);

/* Schedules the expiry of an entry put back by queue_requeue (its
 * e->expires kept), whose time may have come while it was out. */
void queue_ttl_requeued(struct queue *q, const struct qentry *e);

/* Removes every entry whose time is up, wherever it sits, and schedules
 * the next expiry. */
void queue_expire(struct queue *q);

/* True when e's time is up at `now`. */
static inline bool queue_entry_due(const struct qentry *e, uint64_t now)
{
	return e->expires && now > e->expires;
}

/* Takes entry i of level `level` out of the queue (expiry, overflow). */
void queue_take(struct queue *q, unsigned level, size_t i, struct qentry *e);

/* An entry leaves the queue for good without delivery (expired,
 * dropped for length): dead-letters or drops it. */
void queue_discard(struct queue *q, struct qentry e, const char *reason);

/* Marks the queue used now (declare, get, consume, cancel): x-expires
 * counts from the last use; arms its timer. */
void queue_touch(struct queue *q);

/* Hands ready messages to consumers with credit, round-robin. */
void queue_deliver(struct queue *q);

void queue_add_consumer(struct queue *q, struct consumer *cons);
/* Unlists cons; the caller frees it. */
void queue_remove_consumer(struct queue *q, struct consumer *cons);

void queue_add_binding(struct queue *q, struct binding *b);
void queue_remove_binding(struct queue *q, struct binding *b);

#endif
