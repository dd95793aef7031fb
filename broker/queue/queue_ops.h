/* queue_ops.h — an operator's actions on a queue's messages (the HTTP
 * API's browse, delete one, move and redrive); see queue_ops.c. */
#ifndef TERN_BROKER_QUEUE_OPS_H
#define TERN_BROKER_QUEUE_OPS_H

#include <stdbool.h>
#include <stddef.h>

#include "broker/queue/queue.h"

/* A ready entry shown by queue_browse: pos counts from the head in
 * delivery order; e->m is valid during the call only. */
typedef void (*queue_browse_fn)(void *ctx, size_t pos, const struct qentry *e);

/* Shows the ready entries at positions [offset, offset + count) without
 * taking them (a paged-out message is read back for the look). Returns
 * the number of ready entries. */
size_t queue_browse(struct queue *q, size_t offset, size_t count, queue_browse_fn fn, void *ctx);

/* Deletes the ready entry with sequence number seq (an entry's id in
 * the API), as an ack would. Returns false when there is none (taken,
 * expired, or never). */
bool queue_delete_message(struct queue *q, uint64_t seq);

/* Moves up to count ready messages from the head of `from` to `to`, in
 * order, as a consume and a publish would. Stops early when `to` refuses
 * one (x-overflow reject-publish). Returns how many moved. */
size_t queue_move(struct queue *from, struct queue *to, size_t count);

/* Sends up to count ready messages back to the queue named in each
 * message's x-death (the most recent death), in the same vhost; those
 * whose queue is gone, or that allowed(ctx, target) refuses (the
 * caller's permissions), stay where they are. */
void queue_redrive(struct queue *q, size_t count, bool (*allowed)(void *ctx, struct queue *to),
		   void *ctx, size_t *moved, size_t *skipped);

#endif
