/* persist.c — durable topology and persistent messages through the store,
 * batches handed to the store's writer at the end of each loop turn and
 * their results, and recovery at start-up (see the design notes in
 * persist.h and store/store.h). */
#include "broker/queue/persist.h"
#include "broker/queue/persist_recover.h"

#include <errno.h>
#include <event2/event.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "broker/core/config.h"
#include "broker/net/alarm.h"
#include "broker/core/log.h"
#include "broker/net/server.h"
#include "broker/model/vhost.h"
#include "protocol/props.h"
#include "store/store.h"
#include "util/xalloc.h"

uint64_t persist_writes;
static bool store_failing; /* told to alarm.c, which blocks publishers */
struct hist persist_commit_time;
uint64_t persist_delayed_waiting;

/* False before the store opens and after it closes: the broker's own
 * teardown of its in-memory vhosts at shutdown must not delete durable
 * state, and recovery must not write back what it reads. */
static bool active;
static struct event *probe_timer, *done_event;
static uint64_t batches_done;   /* every batch up to this one is finished */
/* The latest failed batches (a channel asks about one within a turn of
 * its end, so a few suffice); 0: none. */
static uint64_t failed[16];
static unsigned nfailed;
static bool recount_due;        /* a failed batch rolled delayed rows back */

/* Tickets: a publish's entries not yet committed. When a dequeue takes
 * the last of them back before its commit (consumed and acked before the
 * hand-over, or while the writer has its batch), the publish is settled
 * without waiting for the disk (RabbitMQ's rule). A
 * ticket is (generation << 32 | index): a cancel that comes after its
 * ticket was released (a closed channel) finds another generation. */
struct ticket {
	uint32_t pending, gen;
};
static struct ticket *tickets;
static uint32_t nticket, ticket_cap;
static uint32_t *free_tickets;
static uint32_t nfree, free_cap;
static uint64_t publishing;     /* the ticket of the publish being routed */
static bool in_publish, settled_some;

/* Every store call goes through here. A write fails at once only when its
 * batch already failed (the batch's result says so for all of them). */
static void wrote(int rc)
{
	persist_writes++;
	server_defer(); /* the end of this loop turn hands the batch over */
	if (rc < 0)
		log_error("store: %s", store_error());
}

uint64_t persist_batch(void)
{
	return store_batch();
}

void persist_publish_begin(void)
{
	in_publish = active;
}

/* The ticket of the publish being routed, made at its first enqueue. */
static uint64_t ticket_for_publish(void)
{
	if (!in_publish)
		return 0;
	if (!publishing) {
		uint32_t i;
		if (nfree) {
			i = free_tickets[--nfree];
		} else {
			if (nticket == ticket_cap) {
				ticket_cap = ticket_cap ? ticket_cap * 2 : 256;
				tickets = xrealloc(tickets, ticket_cap * sizeof *tickets);
			}
			i = nticket++;
			tickets[i].gen = 1;
		}
		tickets[i].pending = 0;
		publishing = (uint64_t)tickets[i].gen << 32 | i;
		store_tag(publishing);
	}
	return publishing;
}

uint64_t persist_publish_end(void)
{
	uint64_t t = publishing;
	publishing = 0;
	in_publish = false;
	store_tag(0);
	return t;
}

static struct ticket *ticket_of(uint64_t t)
{
	uint32_t i = (uint32_t)t;
	return t && i < nticket && tickets[i].gen == (uint32_t)(t >> 32) ? &tickets[i] : NULL;
}

bool persist_ticket_settled(uint64_t t)
{
	struct ticket *k = ticket_of(t);
	return k && k->pending == 0;
}

void persist_ticket_release(uint64_t t)
{
	struct ticket *k = ticket_of(t);
	if (!k)
		return;
	k->gen++;
	if (nfree == free_cap) {
		free_cap = free_cap ? free_cap * 2 : 256;
		free_tickets = xrealloc(free_tickets, free_cap * sizeof *free_tickets);
	}
	free_tickets[nfree++] = (uint32_t)t;
}

bool persist_batch_done(uint64_t batch)
{
	return batch <= batches_done;
}

bool persist_batch_failed(uint64_t batch)
{
	if (!nfailed) /* the common case: asked for every confirm */
		return false;
	for (unsigned i = 0; i < sizeof failed / sizeof failed[0]; i++)
		if (failed[i] == batch)
			return true;
	return false;
}

static bool durable_queue(const struct queue *q)
{
	return q->durable && !q->exclusive && !q->auto_delete;
}

static int xflags(const struct bexchange *x)
{
	return (x->durable ? STORE_F_DURABLE : 0) | (x->auto_delete ? STORE_F_AUTO_DELETE : 0) |
	       (x->internal ? STORE_F_INTERNAL : 0);
}

static struct bytes xname(const struct bexchange *x)
{
	return (struct bytes){(const uint8_t *)x->base.name, x->name_len};
}

static struct bytes qname(const struct queue *q)
{
	return (struct bytes){(const uint8_t *)q->name, q->name_len};
}

/* The replies to topology and control-plane changes (declare-ok,
 * bind-ok, delete-ok, the API's answers) and tx.commit-ok promise what
 * they changed is on disk, as RabbitMQ's do; no confirm stands for them.
 * A turn with such a write ends with a commit waited for, so its replies
 * leave after it (the old rule of every turn, now for these only: they
 * are rare, and messages and acks ride the writer thread). */
static bool reply_waits;

static void wrote_before_reply(int rc)
{
	wrote(rc);
	reply_waits = true;
}

void persist_commit_before_replies(void)
{
	if (active)
		reply_waits = true;
}

void persist_exchange_declared(struct bexchange *x)
{
	if (!active)
		return;
	if (x->durable && !x->builtin)
		wrote_before_reply(store_put_exchange(x->vh->name, xname(x), x->base.type->name, xflags(x),
					 x->args));
}

void persist_exchange_deleted(struct bexchange *x)
{
	if (!active)
		return;
	if (x->durable && !x->builtin)
		wrote_before_reply(store_del_exchange(x->vh->name, xname(x)));
}

void persist_queue_declared(struct queue *q)
{
	if (!active)
		return;
	if (!durable_queue(q))
		return;
	q->store_id = store_put_queue(q->vh->name, qname(q), STORE_F_DURABLE, q->args);
	wrote_before_reply(q->store_id > 0 ? 0 : -1);
}

void persist_queue_deleted(struct queue *q)
{
	if (!active)
		return;
	if (q->store_id > 0)
		wrote_before_reply(store_del_queue(q->store_id));
	q->store_id = 0;
}

bool persist_queue_purged(struct queue *q)
{
	if (!active || q->store_id <= 0 || q->unacked)
		return false;
	wrote(store_purge_queue(q->store_id));
	return true;
}

/* A binding is durable when both of its ends are. */
static bool durable_binding(const struct binding *b)
{
	const struct bexchange *src = (const struct bexchange *)b->source;
	if (!src->durable || src->name_len == 0)
		return false;
	if (b->kind == DEST_QUEUE)
		return ((const struct queue *)b->dest)->store_id > 0;
	return ((const struct bexchange *)b->dest)->durable;
}

static struct bytes dest_name(const struct binding *b)
{
	return b->kind == DEST_QUEUE ? qname(b->dest) : xname(b->dest);
}

void persist_binding_added(struct binding *b)
{
	if (!active)
		return;
	const struct bexchange *src = (const struct bexchange *)b->source;
	if (durable_binding(b))
		wrote_before_reply(store_put_binding(src->vh->name, xname(src), b->kind == DEST_QUEUE,
					dest_name(b), (struct bytes){(uint8_t *)b->key, b->key_len},
					b->args));
}

void persist_binding_removed(struct binding *b)
{
	if (!active)
		return;
	const struct bexchange *src = (const struct bexchange *)b->source;
	if (durable_binding(b))
		wrote_before_reply(store_del_binding(src->vh->name, xname(src), b->kind == DEST_QUEUE,
					dest_name(b), (struct bytes){(uint8_t *)b->key, b->key_len},
					b->args));
}

void persist_object_put(const char *kind, const char *key, const char *value)
{
	if (active)
		wrote_before_reply(store_put_object(kind, key, value));
}

void persist_object_del(const char *kind, const char *key)
{
	if (active)
		wrote_before_reply(store_del_object(kind, key));
}

void persist_enqueue(struct queue *q, struct qentry *e)
{
	if (!active)
		return;
	struct message *m = e->m;
	/* A TTL deadline is kept in wall-clock time: it must mean the same
	 * after a restart, when the monotonic clock starts over. */
	uint64_t expires = e->expires ? wall_ms() + (e->expires - now_ms()) : 0;
	e->flags |= QE_STORED;
	struct ticket *k = ticket_of(ticket_for_publish());
	if (k)
		k->pending++;
	if (!(m->flags & MSG_STORE_SHARED)) {
		/* One durable queue: the message rides in its entry row. */
		e->msg_id = 0;
		wrote(store_enqueue_inline(q->store_id, e->seq, e->deliveries, expires,
					   message_exchange(m), message_rkey(m), message_props(m),
					   message_body(m), m->body_size));
		return;
	}
	uint64_t id = message_store_id(m);
	if (!id) {
		/* Stored once, however many durable queues it reaches. */
		id = store_next_message_id();
		message_set_store_id(m, id);
		wrote(store_put_message(id, message_exchange(m), message_rkey(m), message_props(m),
					message_body(m), m->body_size));
	}
	wrote(store_enqueue(q->store_id, e->seq, id, e->deliveries, expires));
	e->msg_id = id;
}

void persist_drop(struct queue *q, const struct qentry *e)
{
	if (!active)
		return;
	if (q->store_id > 0) {
		wrote(store_dequeue(q->store_id, e->seq));
		/* Not committed yet (cancelled before the hand-over, or in the
		 * batch being written): one entry less to wait for, since a
		 * message acked by every queue it reached is confirmed
		 * (RabbitMQ's rule), written or not.
		 * Not on a queue with a dead-letter exchange: a drop there
		 * (expiry, overflow, reject) comes with a copy whose own write
		 * is still pending, and a confirm must not go out before it is
		 * on disk; the publish waits for its batch then. */
		struct ticket *k = ticket_of(store_last_uncommitted());
		if (k && !q->dlx && k->pending && --k->pending == 0)
			settled_some = true;
		/* A shared row stays while another queue's entry uses it. */
		if (e->msg_id)
			wrote(store_del_message(e->msg_id));
	}
	/* A deleted queue's entries and the shared rows only they used went
	 * with its row (store_del_queue). */
}

void persist_requeue(struct queue *q, const struct qentry *e)
{
	if (!active)
		return;
	if (q->store_id > 0)
		wrote(store_set_deliveries(q->store_id, e->seq, e->deliveries));
}

uint64_t persist_delayed_put(uint64_t due_wall, struct vhost *vh, const struct message *m)
{
	uint64_t id = store_put_delayed(due_wall, vh->name, message_exchange(m), message_rkey(m),
					message_props(m), message_body(m), m->body_size);
	wrote(id ? 0 : -1);
	persist_delayed_waiting += id != 0;
	return id;
}

/* The store's count, when the running one may have drifted from it. */
static void recount_delayed(void)
{
	int64_t n = store_count_delayed();
	if (n >= 0)
		persist_delayed_waiting = (uint64_t)n;
}

int persist_delayed_scan(uint64_t from, uint64_t to,
			 void (*fn)(void *ctx, uint64_t id, uint64_t due, const char *vhost,
				    struct bytes exchange, struct bytes rkey, struct bytes props,
				    struct bytes body),
			 void *ctx)
{
	return active ? store_scan_delayed(from, to, fn, ctx) : -1;
}

void persist_delayed_del(uint64_t id)
{
	if (!active)
		return;
	wrote(store_del_delayed(id));
	persist_delayed_waiting -= persist_delayed_waiting > 0;
}

/* A message read back from the store: persistent, and when it has a
 * shared row (msg_id > 0), marked so that a queue it moves to refers to
 * that row too. */
struct message *persist_stored_message(struct bytes x, struct bytes rkey, struct bytes props,
				       struct bytes body, uint64_t msg_id)
{
	struct message *m = message_new(x, rkey, props, body.len,
					MSG_PERSISTENT | (msg_id ? MSG_STORE_SHARED : 0));
	if (body.len)
		memcpy(message_body(m), body.p, body.len);
	message_set_store_id(m, msg_id);
	return m;
}

struct load {
	uint64_t msg_id;
	struct message *m;
};

/* The message read back, copied while the store's views last. */
static void loaded(void *ctx, struct bytes x, struct bytes rkey, struct bytes props,
		   struct bytes body)
{
	struct load *l = ctx;
	l->m = persist_stored_message(x, rkey, props, body, l->msg_id);
}

int persist_load(struct queue *q, struct qentry *e)
{
	struct load l = {e->msg_id, NULL};
	if (store_get_message(q->store_id, e->seq, e->msg_id, loaded, &l) < 0) {
		log_error("queue '%s': %s", q->name, store_error());
		return -1;
	}
	struct message *m = l.m;
	e->m = m;
	e->flags &= (uint16_t)~QE_PAGED;
	return 0;
}

/* The delivered watermark runs ahead. A delivery leaves the broker at the
 * end of its turn, while the watermark that says it happened is committed
 * later by the writer: a kill -9 between them would bring the message
 * back with redelivered = false, though it was seen. So the store's
 * watermark is written UPTO_LEAP entries ahead of the deliveries, and the
 * next leap is written when half of one is used, long before deliveries
 * reach it; only a delivery past what is known committed makes its turn
 * wait for the commit (as a declare-ok does). After a crash up to a leap
 * of entries that were never delivered come back redelivered, which the
 * flag allows ("may have been delivered"); a clean stop writes the exact
 * value back (persist_close). */
#define UPTO_LEAP 8192

static void upto_write(struct queue *q, uint64_t upto)
{
	q->upto_stored = upto;
	q->upto_batch = persist_batch();
	wrote(store_set_delivered_upto(q->store_id, upto));
}

void persist_delivered(struct queue *q, const struct qentry *e)
{
	if (!active || q->store_id <= 0)
		return;
	/* A drop on a queue with a dead-letter exchange does not settle its
	 * publish (persist_drop), so its write must not wait for the ack. */
	if (!q->dlx)
		store_delivered(q->store_id, e->seq);
	/* Priority levels deliver out of seq order, so no watermark holds:
	 * a first delivery marks the entry itself, committed before it
	 * leaves. */
	if (q->nlv > 1) {
		if (e->deliveries == 0) {
			wrote(store_set_deliveries(q->store_id, e->seq, 1));
			reply_waits = true;
		}
		return;
	}
	if (e->seq <= q->delivered_upto)
		return;
	q->delivered_upto = e->seq;
	if (q->upto_batch && persist_batch_done(q->upto_batch)) {
		if (persist_batch_failed(q->upto_batch))
			q->upto_stored = q->upto_safe; /* rolled back: not written */
		else
			q->upto_safe = q->upto_stored;
		q->upto_batch = 0;
	}
	if (e->seq > q->upto_safe) {
		if (e->seq > q->upto_stored)
			upto_write(q, e->seq + UPTO_LEAP);
		reply_waits = true;
	} else if (!q->upto_batch && e->seq + UPTO_LEAP / 2 > q->upto_safe) {
		upto_write(q, q->upto_safe + UPTO_LEAP);
	}
}

/* At a clean stop, each queue's watermark goes back from its leap to the
 * exact last delivery. */
static void upto_exact(void)
{
	struct vhost *vh;
	for (size_t i = 0; (vh = vhost_next(&i));) {
		void *v;
		for (size_t j = 0; strmap_next(&vh->queues, &j, &v);) {
			struct queue *q = v;
			if (q->store_id > 0 && q->upto_stored > q->delivered_upto)
				wrote(store_reset_delivered_upto(q->store_id, q->delivered_upto));
		}
	}
}

/* A failing store is part of the disk alarm (alarm.h): publishers are
 * blocked until a probe write succeeds again. */
static void set_blocked(bool on)
{
	if (store_failing == on)
		return;
	store_failing = on;
	alarm_store_failing(on);
	if (on) {
		struct timeval second = {1, 0};
		event_add(probe_timer, &second);
	} else {
		event_del(probe_timer);
	}
}

static void on_probe(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	/* The probe joins what was recorded before it and waits for all of
	 * it; a batch that fails is nacked through batch_done as any other. */
	if (store_probe() == 0)
		set_blocked(false);
	else {
		struct timeval second = {1, 0};
		event_add(probe_timer, &second);
	}
}

/* A batch is finished (store_on_done): publishes that waited on it get
 * their confirms, or nacks when it was rolled back. Must not call the
 * store (it runs inside the store's drains). */
static void batch_done(const struct store_result *r)
{
	if (r->writes)
		hist_observe(&persist_commit_time, r->ns);
	batches_done = r->batch;
	if (!r->ok) {
		log_error("store commit failed: %s", store_error());
		failed[nfailed++ % (sizeof failed / sizeof failed[0])] = r->batch;
		set_blocked(true);
		recount_due = true;
	}
	server_commit_done();
}

static void on_store_done(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	store_poll();
	server_defer(); /* the end of this turn hands the next batch over */
}

void persist_turn(void)
{
	if (recount_due) {
		recount_due = false;
		recount_delayed();
	}
	if (settled_some) {
		settled_some = false;
		server_commit_done(); /* channels look at their tickets */
	}
	if (reply_waits) {
		reply_waits = false;
		store_commit(); /* a failure is reported to batch_done as well */
	} else {
		store_submit();
	}
}

void persist_sync(void)
{
	persist_turn();
	store_commit();
}

bool persist_release_idle(void)
{
	return store_release_idle();
}

int persist_open(void (*recover_objects)(void))
{
	probe_timer = evtimer_new(server_base, on_probe, NULL);
	if (mkdir(cfg.data_dir, 0750) < 0 && errno != EEXIST) {
		log_error("data dir %s: %s", cfg.data_dir, strerror(errno));
		return -1;
	}
	uint64_t t_start = now_ms();
	char err[512];
	if (store_open(cfg.data_dir, cfg.durability ? STORE_NORMAL : STORE_FULL, err, sizeof err) < 0) {
		log_error("store: %s", err);
		return -1;
	}
	store_on_done(batch_done);
	batches_done = store_batch() - 1;
	done_event = event_new(server_base, store_done_fd(), EV_READ | EV_PERSIST, on_store_done,
			       NULL);
	event_add(done_event, NULL);
	active = false;
	if (store_role(NULL) != STORE_HERE)
		return 0; /* a cluster member that does not lead: persist_reload when it does */
	return persist_reload(recover_objects, t_start);
}

int persist_reload(void (*recover_objects)(void), uint64_t t_start)
{
	active = false;
	if (persist_recover(recover_objects, t_start) < 0)
		return -1;
	active = true;
	recount_delayed();
	return 0;
}

void persist_close(void)
{
	if (active)
		upto_exact();
	persist_turn();
	active = false;
	store_close(); /* drains the writer */
	if (probe_timer)
		event_free(probe_timer);
	probe_timer = NULL;
	if (done_event)
		event_free(done_event);
	done_event = NULL;
}
