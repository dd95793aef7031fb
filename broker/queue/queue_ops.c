/* queue_ops.c — an operator's actions on a queue's messages, beyond what
 * AMQP offers (the management API's /api/tern/...): browse the ready
 * messages without consuming them, delete one, move messages to another
 * queue, and redrive a dead-letter queue to the queues its messages died
 * in. Each takes and puts entries through queue.c's own calls, so the
 * store, TTL and length limits follow as for a consume and a publish. */
#include "broker/queue/queue_ops.h"

#include <stdlib.h>

#include "broker/queue/persist.h"
#include "broker/model/vhost.h"
#include "protocol/props.h"
#include "protocol/table.h"
#include "util/xalloc.h"

/* The ready entries in delivery order: highest priority level first,
 * each level from its head. Calls fn for positions [offset, offset +
 * count); returns how many there are in all. */
size_t queue_browse(struct queue *q, size_t offset, size_t count, queue_browse_fn fn, void *ctx)
{
	size_t pos = 0;
	for (int lv = (int)q->nlv - 1; lv >= 0; lv--) {
		const struct qring *r = &q->lv[lv];
		for (size_t i = 0; i < r->len && pos < offset + count; i++, pos++) {
			if (pos < offset)
				continue;
			struct qentry e = qring_get(r, i);
			if (!e.m) { /* paged out: a copy read back for the look */
				if (persist_load(q, &e) < 0)
					continue;
				fn(ctx, pos, &e);
				message_unref(e.m);
			} else {
				fn(ctx, pos, &e);
			}
		}
	}
	return q->len;
}

/* Finds the ready entry with this seq: its level and index. */
static bool find_seq(const struct queue *q, uint64_t seq, unsigned *lv, size_t *i)
{
	for (unsigned l = 0; l < q->nlv; l++) {
		long at = qring_find(&q->lv[l], seq);
		if (at >= 0) {
			*lv = l;
			*i = (size_t)at;
			return true;
		}
	}
	return false;
}

bool queue_delete_message(struct queue *q, uint64_t seq)
{
	unsigned lv;
	size_t i;
	if (!find_seq(q, seq, &lv, &i))
		return false;
	struct qentry e;
	queue_take(q, lv, i, &e);
	queue_ack_entry(q, &e); /* a paged-out one has no message in RAM */
	return true;
}

size_t queue_move(struct queue *from, struct queue *to, size_t count)
{
	size_t n = 0;
	struct qentry e;
	while (n < count && from != to && queue_pop(from, &e)) {
		bool taken = queue_push(to, e.m);
		if (!taken) { /* the destination refused it (reject-publish): put it back */
			queue_requeue(from, e);
			break;
		}
		queue_ack_entry(from, &e);
		n++;
	}
	return n;
}

/* The queue a dead-lettered message came from: x-death[0].queue. */
static struct bytes death_queue(const struct message *m)
{
	struct amqp_props p;
	struct fvalue deaths, first, qn;
	struct bytes raw = message_props(m), name = {0};
	if (props_decode(raw.p, raw.len, &p) != 0 || !table_get(p.headers, "x-death", &deaths) ||
	    deaths.type != 'A')
		return name;
	struct table_iter it = table_iter(deaths.v.s);
	if (array_next(&it, &first) && first.type == 'F' && table_get(first.v.s, "queue", &qn))
		fvalue_str(&qn, &name);
	return name;
}

void queue_redrive(struct queue *q, size_t count, bool (*allowed)(void *ctx, struct queue *to),
		   void *ctx, size_t *moved, size_t *skipped)
{
	*moved = *skipped = 0;
	size_t n = q->len < count ? q->len : count, kept = 0;
	struct qentry *back = xmalloc((n + 1) * sizeof *back);
	struct qentry e;
	for (size_t i = 0; i < n && queue_pop(q, &e); i++) {
		struct queue *to = vhost_queue(q->vh, death_queue(e.m));
		if (to && to != q && allowed(ctx, to) && queue_push(to, e.m)) {
			queue_ack_entry(q, &e);
			(*moved)++;
		} else {
			back[kept++] = e; /* no such queue (any more): it stays */
		}
	}
	/* Back in their places, after the loop so they are not popped again. */
	for (size_t i = 0; i < kept; i++)
		queue_requeue(q, back[i]);
	*skipped = kept;
	free(back);
}
