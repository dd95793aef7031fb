/* queue.c — ready-message rings, requeue in original order, and delivery
 * to consumers round-robin (see the design notes in queue.h). */
#include "broker/queue.h"

#include <stdlib.h>
#include <string.h>

#include "broker/channel.h"
#include "broker/config.h"
#include "broker/conn.h"
#include "broker/persist.h"
#include "broker/server.h"
#include "util/xalloc.h"

struct queue *queue_new(struct vhost *vh, struct bytes name, struct bytes args)
{
	struct queue *q = xcalloc(1, sizeof *q);
	q->name = xstrndup(name.p, name.len);
	q->name_len = name.len;
	q->vh = vh;
	q->args = (struct bytes){xmemdup(args.p, args.len), args.len};
	q->refs = 1;
	return q;
}

void queue_unref(struct queue *q)
{
	if (--q->refs)
		return;
	queue_purge(q);
	free(q->ring);
	free(q->cons);
	free(q->binds);
	free((void *)q->args.p);
	free(q->name);
	free(q);
}

static inline struct qentry *at(struct queue *q, size_t i)
{
	return &q->ring[(q->head + i) & (q->cap - 1)];
}

static void grow(struct queue *q)
{
	size_t cap = q->cap ? q->cap * 2 : 16;
	struct qentry *r = xmalloc(cap * sizeof *r);
	for (size_t i = 0; i < q->len; i++)
		r[i] = *at(q, i);
	free(q->ring);
	q->ring = r;
	q->cap = cap;
	q->head = 0;
}

void queue_push(struct queue *q, struct message *m)
{
	if (q->len == q->cap)
		grow(q);
	struct qentry *e = at(q, q->len++);
	*e = (struct qentry){message_ref(m), ++q->next_seq, 0, (uint32_t)m->body_size, 0, 0};
	if (q->store_id > 0 && (m->flags & MSG_PERSISTENT))
		persist_enqueue(q, e);
	q->ready_bytes += m->body_size;
	if (q->ncons)
		queue_kick(q);
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
	if (q->len == q->cap)
		grow(q);
	/* Binary search for the first entry with a larger seq. */
	size_t lo = 0, hi = q->len;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (at(q, mid)->seq < e.seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* Shift whichever side is shorter; requeues land near the head. */
	if (lo < q->len - lo) {
		q->head = (q->head - 1) & (q->cap - 1);
		for (size_t i = 0; i < lo; i++)
			*at(q, i) = *at(q, i + 1);
	} else {
		for (size_t i = q->len; i > lo; i--)
			*at(q, i) = *at(q, i - 1);
	}
	*at(q, lo) = e;
	q->len++;
	q->ready_bytes += e.size;
	queue_kick(q);
}

/* Takes the head entry as it is, paged out or not. */
static bool pop_raw(struct queue *q, struct qentry *e)
{
	if (!q->len)
		return false;
	*e = *at(q, 0);
	q->head = (q->head + 1) & (q->cap - 1);
	q->len--;
	q->ready_bytes -= e->size;
	return true;
}

bool queue_pop(struct queue *q, struct qentry *e)
{
	while (pop_raw(q, e)) {
		if (e->m || persist_load(q, e) == 0)
			return true;
		/* Its row is gone (a failed commit): nothing to deliver. */
		persist_drop(q, e);
	}
	return false;
}

void queue_page_out_tail(struct queue *q)
{
	if (!q->len || message_bytes <= (uint64_t)cfg.memory_budget)
		return;
	struct qentry *e = at(q, q->len - 1);
	if (!(e->flags & QE_STORED) || !e->m)
		return;
	message_unref(e->m);
	e->m = NULL;
	e->flags |= QE_PAGED;
}

uint32_t queue_purge(struct queue *q)
{
	uint32_t n = (uint32_t)q->len;
	struct qentry e;
	while (pop_raw(q, &e)) {
		if (e.flags & QE_STORED)
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

void queue_deliver(struct queue *q)
{
	while (q->len && q->ncons && !q->deleted) {
		struct consumer *pick = NULL;
		for (size_t i = 0; i < q->ncons; i++) {
			size_t k = (q->rr + i) % q->ncons;
			if (channel_consumer_ready(q->cons[k]->ch, q->cons[k])) {
				pick = q->cons[k];
				q->rr = (k + 1) % q->ncons;
				break;
			}
		}
		if (!pick)
			return; /* no credit anywhere: an ack or drain kicks us again */
		struct qentry e;
		queue_pop(q, &e);
		channel_deliver(pick->ch, pick, q, e, pick->no_ack, 0);
	}
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
		q->nbinds_cap = q->nbinds_cap ? q->nbinds_cap * 2 : 4;
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
