/* queue.c — ready-message rings, requeue in original order, and delivery
 * to consumers round-robin (see the design notes in queue.h). */
#include "broker/queue/queue.h"

#include <stdlib.h>
#include <string.h>

#include "broker/amqp/channel.h"
#include "broker/core/config.h"
#include "broker/net/conn.h"
#include "broker/queue/dlx.h"
#include "broker/queue/persist.h"
#include "broker/model/policy.h"
#include "broker/net/server.h"
#include "broker/queue/timer.h"
#include "broker/model/vhost.h"
#include "protocol/table.h"
#include "util/xalloc.h"

uint64_t queue_watermark_budget = UINT64_MAX;

uint64_t queue_memory_budget(void)
{
	uint64_t own = (uint64_t)cfg.memory_budget;
	return own < queue_watermark_budget ? own : queue_watermark_budget;
}

static bool over_limit(const struct queue *q, size_t extra_len, uint64_t extra_bytes)
{
	return (q->max_len >= 0 && q->len + extra_len > (uint64_t)q->max_len) ||
	       (q->max_bytes >= 0 && q->ready_bytes + extra_bytes > (uint64_t)q->max_bytes);
}

struct queue *queue_new(struct vhost *vh, struct bytes name, struct bytes args)
{
	struct queue *q = xcalloc(1, sizeof *q + name.len + 1);
	q->name = (char *)(q + 1);
	if (name.len)
		memcpy(q->name, name.p, name.len);
	q->name_len = name.len;
	q->vh = vh;
	q->args = (struct bytes){args.len ? xmemdup(args.p, args.len) : NULL, args.len};
	q->refs = 1;
	struct fvalue v;
	int64_t maxp = 0;
	if (table_get(q->args, "x-max-priority", &v) && fvalue_int(&v, &maxp) && maxp > 255)
		maxp = 255; /* validated earlier; recovery trusts the store */
	q->nlv = (uint16_t)(maxp > 0 ? maxp + 1 : 1);
	q->lv = q->nlv == 1 ? &q->lv0 : xcalloc(q->nlv, sizeof *q->lv);
	for (uint16_t i = 0; i < q->nlv; i++)
		q->lv[i].level = (uint8_t)i;
	q->single_active = table_get(q->args, "x-single-active-consumer", &v) && v.type == 't' &&
			   v.v.b;
	q->consumer_timeout = -1;
	queue_configure(q);
	return q;
}

static bool pop_raw(struct queue *q, struct qentry *e);

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

uint64_t queue_timeout_gen;

uint64_t queue_consumer_timeout(const struct queue *q)
{
	return (uint64_t)(q->consumer_timeout >= 0 ? q->consumer_timeout : cfg.consumer_timeout);
}

void queue_configure(struct queue *q)
{
	struct bytes name = {(const uint8_t *)q->name, q->name_len};
	const struct policy *p = policy_match(q->vh->name, name, true, false);
	const struct policy *op = policy_match(q->vh->name, name, true, true);
	struct policy_def args, eff;
	policy_def_from_args(q->args, &args);
	policy_effective(&args, p, op, &eff);
	q->ttl = eff.message_ttl;
	q->max_len = eff.max_length;
	q->max_bytes = eff.max_length_bytes;
	q->idle_ms = eff.expires;
	q->delivery_limit = eff.delivery_limit;
	if (q->consumer_timeout != eff.consumer_timeout && q->unacked)
		queue_timeout_gen++; /* deliveries out now are judged by the new value */
	q->consumer_timeout = eff.consumer_timeout;
	q->overflow = eff.overflow == POLICY_REJECT       ? OVERFLOW_REJECT
		      : eff.overflow == POLICY_REJECT_DLX ? OVERFLOW_REJECT_DLX
							  : OVERFLOW_DROP_HEAD;
	free(q->dlx);
	free(q->dl_rkey);
	free(q->policy);
	free(q->op_policy);
	q->dlx = dup_or_null(eff.dlx);
	q->dl_rkey = dup_or_null(eff.dl_rkey);
	q->policy = p ? xstrdup(p->name) : NULL;
	q->op_policy = op ? xstrdup(op->name) : NULL;
	policy_def_free(&args);
	/* A lower limit applies at once to what is queued (drop-head). */
	struct qentry old;
	if (q->overflow == OVERFLOW_DROP_HEAD)
		while (over_limit(q, 0, 0) && pop_raw(q, &old))
			queue_discard(q, old, "maxlen");
	if (q->idle_ms >= 0)
		queue_touch(q);
}

void queue_ack_entry(struct queue *q, struct qentry *e)
{
	if (e->flags & QE_STORED)
		persist_drop(q, e);
	if (e->m)
		message_unref(e->m);
	e->m = NULL;
}

void queue_return_entry(struct queue *q, struct qentry e)
{
	if (q->delivery_limit >= 0 && e.deliveries > q->delivery_limit) {
		/* x-delivery-limit: returned too often, dead-letter or drop. */
		queue_discard(q, e, "delivery_limit");
		return;
	}
	if (e.flags & QE_STORED)
		persist_requeue(q, &e);
	queue_requeue(q, e);
}

void queue_unref(struct queue *q)
{
	if (--q->refs)
		return;
	queue_purge(q);
	for (uint16_t i = 0; i < q->nlv; i++)
		qring_free(&q->lv[i]);
	if (q->lv != &q->lv0)
		free(q->lv);
	free(q->xheap);
	free(q->dlx);
	free(q->dl_rkey);
	free(q->policy);
	free(q->op_policy);
	free(q->cons);
	free(q->binds);
	free((void *)q->args.p);
	free(q);
}

static void mark(struct queue *q, unsigned level)
{
	q->nonempty[level / 64] |= 1ull << (level % 64);
}

/* The highest non-empty level; the queue must not be empty. */
static unsigned top_level(const struct queue *q)
{
	for (int w = 3; w >= 0; w--)
		if (q->nonempty[w])
			return (unsigned)w * 64 + 63 - (unsigned)__builtin_clzll(q->nonempty[w]);
	return 0;
}

/* Adds e to its level: appended when fresh, in seq order when requeued. */
static void put(struct queue *q, struct qentry e, bool in_order)
{
	struct qring *r = &q->lv[e.priority];
	if (in_order)
		qring_insert(r, e);
	else
		qring_push(r, e);
	mark(q, e.priority);
	q->len++;
	q->ready_bytes += e.size;
}

/* Takes the head entry of the highest level as it is, paged out or not. */
static bool pop_raw(struct queue *q, struct qentry *e)
{
	if (!q->len)
		return false;
	unsigned level = top_level(q);
	struct qring *r = &q->lv[level];
	qring_pop(r, e);
	if (!r->len)
		q->nonempty[level / 64] &= ~(1ull << (level % 64));
	q->len--;
	q->ready_bytes -= e->size;
	return true;
}

bool queue_push(struct queue *q, struct message *m)
{
	if (q->overflow != OVERFLOW_DROP_HEAD && over_limit(q, 1, m->body_size)) {
		if (q->overflow == OVERFLOW_REJECT_DLX)
			queue_discard(q, (struct qentry){.m = message_ref(m), .size = (uint32_t)m->body_size},
				      "maxlen");
		return false;
	}
	uint8_t level = m->priority < q->nlv ? m->priority : (uint8_t)(q->nlv - 1);
	struct qentry e = {message_ref(m), ++q->next_seq, 0, 0, (uint32_t)m->body_size, 0, 0, level};
	queue_ttl_entry(q, &e);
	if (q->store_id > 0 && (m->flags & MSG_PERSISTENT)) {
		persist_enqueue(q, &e);
		/* Past the budget, the stored copy is enough: the entry keeps
		 * only the index and the body leaves RAM (once every queue the
		 * message reached has let go of it). */
		if (message_mem > queue_memory_budget()) {
			message_unref(e.m);
			e.m = NULL;
			e.flags |= QE_PAGED;
		}
	}
	put(q, e, false);
	stat_add(&q->stats, ST_PUBLISH, 1);
	/* drop-head: the oldest ready messages make room (RabbitMQ's
	 * maxlength page), dead-lettered with reason maxlen. */
	struct qentry old;
	while (over_limit(q, 0, 0) && pop_raw(q, &old))
		queue_discard(q, old, "maxlen");
	if (q->ncons)
		queue_kick(q);
	return true;
}

void queue_requeue(struct queue *q, struct qentry e)
{
	if (q->deleted) {
		if (e.flags & QE_STORED)
			persist_drop(q, &e);
		if (e.m)
			message_unref(e.m);
		return;
	}
	put(q, e, true);
	queue_ttl_requeued(q, &e);
	queue_kick(q);
}

void queue_take(struct queue *q, unsigned level, size_t i, struct qentry *e)
{
	struct qring *r = &q->lv[level];
	qring_remove(r, i, e);
	if (!r->len)
		q->nonempty[level / 64] &= ~(1ull << (level % 64));
	q->len--;
	q->ready_bytes -= e->size;
}

void queue_discard(struct queue *q, struct qentry e, const char *reason)
{
	/* A paged-out message is read back to be dead-lettered; a stored
	 * one leaves the store with its copy's arrival (dlx.h). */
	bool stored = e.flags & QE_STORED;
	if (q->dlx && (e.m || persist_load(q, &e) == 0) &&
	    dlx_publish(q, e.m, reason, stored ? &e : NULL))
		stored = false;
	if (stored)
		persist_drop(q, &e);
	if (e.m)
		message_unref(e.m);
}

bool queue_pop(struct queue *q, struct qentry *e)
{
	uint64_t now = 0;
	while (pop_raw(q, e)) {
		/* A TTL-0 entry is popped only for a consumer ready to take it:
		 * that is "deliver now"; the timer drops it otherwise. */
		if (e->expires && !(e->flags & QE_NOW) &&
		    queue_entry_due(e, now ? now : (now = now_ms()))) {
			queue_discard(q, *e, "expired");
			continue;
		}
		if (e->m || persist_load(q, e) == 0)
			return true;
		/* Its row is gone (a failed commit): nothing to deliver. */
		persist_drop(q, e);
	}
	return false;
}

uint32_t queue_purge(struct queue *q)
{
	uint32_t n = (uint32_t)q->len;
	bool all_dropped = n && persist_queue_purged(q);
	struct qentry e;
	while (pop_raw(q, &e)) {
		if ((e.flags & QE_STORED) && !all_dropped)
			persist_drop(q, &e);
		if (e.m)
			message_unref(e.m);
	}
	return n;
}

void queue_kick(struct queue *q)
{
	if (q->kick_pending || q->deleted)
		return;
	q->kick_pending = true;
	queue_ref(q);
	server_defer_queue(q);
}

/* The consumer for the next message: with a single active consumer, the
 * first registered; otherwise the highest x-priority among those with
 * credit, round-robin within that priority (RabbitMQ's consumers page). */
static struct consumer *pick_consumer(struct queue *q)
{
	if (q->single_active)
		return channel_consumer_ready(q->cons[0]->ch, q->cons[0]) ? q->cons[0] : NULL;
	struct consumer *best = NULL;
	size_t best_k = 0;
	for (size_t i = 0; i < q->ncons; i++) {
		size_t k = (q->rr + i) % q->ncons;
		struct consumer *c = q->cons[k];
		if ((!best || c->priority > best->priority) && channel_consumer_ready(c->ch, c)) {
			best = c;
			best_k = k;
		}
	}
	if (best)
		q->rr = (best_k + 1) % q->ncons;
	return best;
}

void queue_deliver(struct queue *q)
{
	while (q->len && q->ncons && !q->deleted) {
		struct consumer *pick = pick_consumer(q);
		if (!pick)
			return; /* no credit anywhere: an ack or drain kicks us again */
		struct qentry e;
		if (!queue_pop(q, &e))
			return; /* what was left had expired */
		channel_deliver(pick->ch, pick, q, e, pick->no_ack, 0);
	}
}

static void queue_touch_timer(struct queue *q, uint64_t due);

static void on_idle_timer(void *obj, uint64_t when)
{
	struct queue *q = obj;
	q->idle_armed = false;
	/* With consumers the queue is in use: the last cancel re-arms. */
	if (when && !q->deleted && q->ncons == 0) {
		uint64_t due = q->last_used + (uint64_t)q->idle_ms;
		if (now_ms() >= due)
			vhost_delete_queue(q->vh, q); /* x-expires: unused too long */
		else
			queue_touch_timer(q, due);
	}
	queue_unref(q);
}

static void queue_touch_timer(struct queue *q, uint64_t due)
{
	q->idle_armed = true;
	queue_ref(q);
	timer_add(due, on_idle_timer, q);
}

void queue_touch(struct queue *q)
{
	q->last_used = now_ms();
	/* One timer at a time: when it fires early it re-arms itself. */
	if (q->idle_ms >= 0 && !q->idle_armed)
		queue_touch_timer(q, q->last_used + (uint64_t)q->idle_ms);
}

void queue_add_consumer(struct queue *q, struct consumer *cons)
{
	if (q->ncons == q->ncons_cap) {
		q->ncons_cap = q->ncons_cap ? q->ncons_cap * 2 : 4;
		q->cons = xrealloc(q->cons, q->ncons_cap * sizeof *q->cons);
	}
	q->cons[q->ncons++] = cons;
	q->had_consumer = true;
	if (cons->exclusive)
		q->has_exclusive_consumer = true;
	queue_kick(q);
}

void queue_remove_consumer(struct queue *q, struct consumer *cons)
{
	for (size_t i = 0; i < q->ncons; i++) {
		if (q->cons[i] == cons) {
			/* Keep order, so round-robin stays fair. */
			memmove(&q->cons[i], &q->cons[i + 1], (q->ncons - i - 1) * sizeof *q->cons);
			q->ncons--;
			if (q->rr > i)
				q->rr--;
			break;
		}
	}
	if (q->rr >= q->ncons)
		q->rr = 0;
	if (cons->exclusive)
		q->has_exclusive_consumer = false;
}

void queue_add_binding(struct queue *q, struct binding *b)
{
	if (q->nbinds == q->nbinds_cap) {
		q->nbinds_cap = q->nbinds_cap ? q->nbinds_cap * 2 : 1; /* most have one */
		q->binds = xrealloc(q->binds, q->nbinds_cap * sizeof *q->binds);
	}
	q->binds[q->nbinds++] = b;
}

void queue_remove_binding(struct queue *q, struct binding *b)
{
	for (size_t i = 0; i < q->nbinds; i++) {
		if (q->binds[i] == b) {
			q->binds[i] = q->binds[--q->nbinds];
			return;
		}
	}
}
