/* dlx.h — dead-lettering, the routing part (RabbitMQ's dlx page): a
 * message leaving a queue with x-dead-letter-exchange for a reason
 * (rejected, expired, maxlen, delivery_limit) is copied with its x-death
 * history (deadletter.h) and republished through that exchange.
 *
 * Design notes. Dead-letters are queued and routed at the end of the loop
 * turn, one after another, never from inside another routing: a
 * dead-lettered message can overflow its target and be dead-lettered
 * again, and that must loop, not recurse. A target queue that would close
 * a cycle no client rejection broke is skipped, as RabbitMQ does. The
 * republish is at most once, unconfirmed, as for RabbitMQ's classic
 * queues. */
#ifndef TERN_BROKER_DLX_H
#define TERN_BROKER_DLX_H

#include <stdbool.h>

struct queue;
struct message;
struct qentry;

/* Schedules the dead-lettered copy of m (which stays the caller's) if q
 * has a dead-letter exchange. Returns true when it does; then `stored`,
 * when not NULL, is the stored entry m leaves, dropped from the store
 * when the copy is routed (persist_drop), not before. */
bool dlx_publish(struct queue *q, struct message *m, const char *reason,
		 const struct qentry *stored);

/* Routes what was scheduled (end of turn). Returns true if it did work. */
bool dlx_turn(void);

/* Drops anything still scheduled (shutdown). */
void dlx_free(void);

#endif
