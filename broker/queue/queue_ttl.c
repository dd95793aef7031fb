/* queue_ttl.c — message TTL (RabbitMQ's ttl page): x-message-ttl per queue
 * and the expiration property per message, 0 meaning "deliver now or
 * drop". Unlike RabbitMQ, which expires only at the head, an entry leaves
 * when its time is up wherever it sits.
 *
 * Design notes. A deadline from the queue's TTL grows with the sequence
 * number (requeued entries keep theirs), so within a priority level the
 * head always holds the earliest such deadline: checking heads is enough.
 * An entry whose own expiration comes first goes into a small per-queue
 * heap of (deadline, seq, level). Both are lazy: an item whose entry was
 * delivered is skipped when it comes up. One broker timer (timer.h) per
 * queue is armed at the earliest deadline. */
#include <stdlib.h>

#include "broker/queue/queue.h"
#include "broker/net/server.h"
#include "broker/queue/timer.h"
#include "util/xalloc.h"

struct xitem {
	uint64_t expires;
	uint64_t seq;
	uint8_t level;
};

static void xswap(struct queue *q, size_t a, size_t b)
{
	struct xitem t = q->xheap[a];
	q->xheap[a] = q->xheap[b];
	q->xheap[b] = t;
}

static void xpush(struct queue *q, struct xitem it)
{
	if (q->nx == q->nx_cap) {
		q->nx_cap = q->nx_cap ? q->nx_cap * 2 : 16;
		q->xheap = xrealloc(q->xheap, q->nx_cap * sizeof *q->xheap);
	}
	size_t i = q->nx++;
	q->xheap[i] = it;
	while (i && q->xheap[(i - 1) / 2].expires > q->xheap[i].expires) {
		xswap(q, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void xpop(struct queue *q)
{
	q->xheap[0] = q->xheap[--q->nx];
	for (size_t i = 0;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < q->nx && q->xheap[l].expires < q->xheap[m].expires)
			m = l;
		if (r < q->nx && q->xheap[r].expires < q->xheap[m].expires)
			m = r;
		if (m == i)
			break;
		xswap(q, i, m);
		i = m;
	}
}

static void on_timer(void *obj, uint64_t when)
{
	struct queue *q = obj;
	if (when && !q->deleted) {
		if (when == q->expiry_armed)
			q->expiry_armed = 0;
		queue_expire(q);
	}
	queue_unref(q);
}

/* Makes sure a timer fires by `deadline` (an entry's expires). */
/* Arms the queue's expiry for an entry due once now > deadline. A TTL-0
 * entry too: it waits out the millisecond it arrived in, so the end of
 * the turn that pushed it can hand it to a waiting consumer before a
 * timer that fires in the same loop pass could drop it. */
static void arm(struct queue *q, uint64_t deadline)
{
	uint64_t when = deadline + 1;
	if (q->expiry_armed && q->expiry_armed <= when)
		return;
	q->expiry_armed = when;
	queue_ref(q);
	timer_add(when, on_timer, q);
}

void queue_ttl_entry(struct queue *q, struct qentry *e)
{
	const struct message *m = e->m;
	bool own = m && (m->flags & MSG_EXPIRATION);
	if (q->ttl < 0 && !own)
		return;
	uint64_t now = now_ms();
	uint64_t exp = own ? message_expiration(m) : 0;
	uint64_t ttl = own && (q->ttl < 0 || exp < (uint64_t)q->ttl) ? exp : (uint64_t)q->ttl;
	e->expires = now + ttl;
	if (ttl == 0)
		e->flags |= QE_NOW;
	/* Only a deadline earlier than the queue TTL's can sit behind the
	 * head of its level with an earlier time: it goes in the heap. */
	if (own && ttl != (uint64_t)q->ttl)
		xpush(q, (struct xitem){e->expires, e->seq, e->priority});
	arm(q, e->expires);
}

void queue_ttl_recovered(struct queue *q, const struct qentry *e)
{
	/* Whether the deadline came from the queue or the message is not
	 * stored: the heap finds it either way. queue_requeue already armed
	 * the timer and queued a past-due entry; a future one goes in here. */
	if (e->expires > now_ms())
		xpush(q, (struct xitem){e->expires, e->seq, e->priority});
}

void queue_ttl_requeued(struct queue *q, const struct qentry *e)
{
	if (!e->expires)
		return;
	/* While the entry was out (delivered), a timer may have come up for
	 * it, dropped its heap item and armed nothing for it. One whose time
	 * is up gets a new item, found on the next pass; one still ahead kept
	 * its item (items are dropped only once due) or needs none. */
	if (e->expires <= now_ms())
		xpush(q, (struct xitem){e->expires, e->seq, e->priority});
	arm(q, e->expires);
}

/* As queue_entry_due, for a deadline read off the ring. */
static bool due(uint64_t expires, uint64_t now)
{
	return expires && now > expires;
}

void queue_expire(struct queue *q)
{
	uint64_t now = now_ms();
	struct qentry e;
	for (unsigned lv = 0; lv < q->nlv; lv++) {
		struct qring *r = &q->lv[lv];
		while (r->len && due(qring_expires(r, 0), now)) {
			queue_take(q, lv, 0, &e);
			queue_discard(q, e, "expired");
		}
	}
	while (q->nx && q->xheap[0].expires <= now) {
		struct xitem it = q->xheap[0];
		struct qring *r = &q->lv[it.level];
		long i = qring_find(r, it.seq);
		uint64_t exp = i >= 0 ? qring_expires(r, (size_t)i) : 0;
		if (due(exp, now)) {
			queue_take(q, it.level, (size_t)i, &e);
			queue_discard(q, e, "expired");
		} else if (i >= 0 && exp == it.expires) {
			break; /* due in this millisecond: wait for the next pass */
		}
		xpop(q);
	}
	/* The next deadline: the heads of the levels and the heap's top. */
	uint64_t next = 0;
	for (unsigned lv = 0; lv < q->nlv; lv++) {
		const struct qring *r = &q->lv[lv];
		uint64_t exp = r->len ? qring_expires(r, 0) : 0;
		if (exp && (!next || exp < next))
			next = exp;
	}
	if (q->nx && (!next || q->xheap[0].expires < next))
		next = q->xheap[0].expires;
	if (next)
		arm(q, next);
}
