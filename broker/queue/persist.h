/* persist.h — what the broker keeps on disk and when: the glue between
 * broker structures and store/store.h.
 *
 * Design notes. Durable: exchanges with durable=true; queues with
 * durable=true that are neither exclusive nor auto-delete (they must not
 * come back after a restart); bindings whose source and destination are
 * both durable; persistent messages (delivery_mode 2) in durable queues.
 * Every write joins the store's pending batch (store.h); persist_turn() at
 * the end of each loop turn hands it to the store's writer thread, or lets
 * it grow while the writer is busy with the batch before. A publish that
 * wrote waits on the batch it joined (persist_batch()); when the store
 * reports that batch finished, server_commit_done() wakes the channels,
 * which send basic.ack, or basic.nack when the batch failed. A persistent
 * message consumed and acked before its batch was handed over is never
 * written (store.h), and one acked while its batch is being written is
 * written all the same: either way its confirm goes out with the ack
 * (RabbitMQ's rule: persisted, or acked by every queue it reached),
 * except on a queue with a dead-letter exchange. Replies that promise durability with no
 * confirm to stand for them (declare-ok and the like for durable objects,
 * the API's answers, tx.commit-ok) leave only after a commit waited for at
 * the end of their turn. After a failure the disk alarm is on
 * (alarm.h: publishers blocked, consumers served) until a probe write
 * succeeds again. */
#ifndef TERN_BROKER_PERSIST_H
#define TERN_BROKER_PERSIST_H

#include <stdbool.h>
#include <stdint.h>

#include "broker/queue/queue.h"

struct bexchange;
struct channel;
struct vhost;

/* Opens the store under cfg.data_dir and recovers everything into the
 * vhosts: first the control plane, through recover_objects (which reads
 * it with store_scan_objects), then exchanges, queues, bindings and
 * messages. Returns 0 or -1 (logged). */
int persist_open(void (*recover_objects)(void));
/* A cluster member that does not lead opens the store and recovers
 * nothing (store_role() is not STORE_HERE: it holds no broker state and
 * writes nothing); when it becomes the leader, persist_reload recovers
 * what its store holds then, as persist_open does at start-up (t_start:
 * now_ms() at the start, for the summary's timing). */
int persist_reload(void (*recover_objects)(void), uint64_t t_start);
void persist_close(void);

/* Counts store writes; a publish that changed it must wait for commit. */
extern uint64_t persist_writes;
/* The batch writes join now; whether a batch is finished, and whether it
 * failed (rolled back: its publishes are nacked). */
uint64_t persist_batch(void);
bool persist_batch_done(uint64_t batch);
bool persist_batch_failed(uint64_t batch);
/* Around the routing of a publish that wants a confirm: end returns its
 * ticket (0: it enqueued nothing into a durable queue). The ticket is
 * settled once every entry the publish stored was consumed and acked
 * before its batch went to the writer (so nothing of it is written): the
 * confirm need not wait for the batch then. Released by its holder. */
void persist_publish_begin(void);
uint64_t persist_publish_end(void);
bool persist_ticket_settled(uint64_t ticket);
void persist_ticket_release(uint64_t ticket);
/* Time the writer spent on each batch, one observation per batch (metrics). */
extern struct hist persist_commit_time;
/* Delayed messages stored and not yet fired or cancelled: counted where
 * rows are put and deleted, and recounted from the store at open and
 * after a failed commit (whose puts and deletes were rolled back). */
extern uint64_t persist_delayed_waiting;

void persist_exchange_declared(struct bexchange *x);
void persist_exchange_deleted(struct bexchange *x);
void persist_queue_declared(struct queue *q);
void persist_queue_deleted(struct queue *q);
/* Before a purge: when nothing of q is unacked, every stored entry is in
 * q and one store write drops them all; true if it did (then the purge
 * drops none of them one by one). */
bool persist_queue_purged(struct queue *q);
void persist_binding_added(struct binding *b);
void persist_binding_removed(struct binding *b);

/* The control plane's objects (definitions.c): stored under (kind, key)
 * as JSON text, in the turn's transaction. */
void persist_object_put(const char *kind, const char *key, const char *value);
void persist_object_del(const char *kind, const char *key);

/* A new entry of a persistent message in a durable queue: stores it. */
void persist_enqueue(struct queue *q, struct qentry *e);
/* An entry leaves for good (ack, reject without requeue, purge). */
void persist_drop(struct queue *q, const struct qentry *e);
/* A stored entry went back to its queue with a new delivery count. */
void persist_requeue(struct queue *q, const struct qentry *e);
/* Reads a paged-out entry's message back (sets e->m). Returns 0 or -1. */
int persist_load(struct queue *q, struct qentry *e);
/* A stored entry was delivered. */
void persist_delivered(struct queue *q, const struct qentry *e);

/* Delayed messages (plugins/delayed.c): stored until they fire. put
 * returns the row id, 0 on failure. */
uint64_t persist_delayed_put(uint64_t due_wall, struct vhost *vh, const struct message *m);
void persist_delayed_del(uint64_t id);
/* Visits the stored delayed messages due in [from, to) (wall-clock ms). */
int persist_delayed_scan(uint64_t from, uint64_t to,
			 void (*fn)(void *ctx, uint64_t id, uint64_t due, const char *vhost,
				    struct bytes exchange, struct bytes rkey, struct bytes props,
				    struct bytes body),
			 void *ctx);

/* The reply being made promises that what this turn wrote is on disk
 * (tx.commit-ok): the turn ends with a commit waited for, before its
 * output leaves. Topology and object writes ask for it themselves. */
void persist_commit_before_replies(void);

/* End of turn: writes delivery watermarks, hands the batch to the writer
 * (never waits, unless a reply asked for the commit above). */
void persist_turn(void);
/* persist_turn, then waits until everything is committed (start-up,
 * shutdown). */
void persist_sync(void);
/* store_release_idle: true when it freed memory worth giving back. */
bool persist_release_idle(void);

#endif
