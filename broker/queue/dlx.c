/* dlx.c — dead-letter routing; see dlx.h. */
#include "broker/queue/dlx.h"

#include <stdlib.h>
#include <time.h>

#include "broker/queue/deadletter.h"
#include "broker/queue/persist.h"
#include "broker/queue/queue.h"
#include "broker/net/server.h"
#include "broker/model/vhost.h"
#include "util/xalloc.h"

struct pending {
	struct message *copy;
	struct vhost *vh;
	struct queue *from;  /* with a stored entry to drop once the copy is
			      * routed, or NULL */
	struct qentry entry;
};

static struct pending *list;
static size_t n, cap;

bool dlx_publish(struct queue *q, struct message *m, const char *reason,
		 const struct qentry *stored)
{
	if (!q->dlx)
		return false;
	struct dl_reason r = {q->name, reason};
	struct message *copy = deadletter_copy(m, &r, q->dlx, q->dl_rkey, (uint64_t)time(NULL));
	if (!copy)
		return false;
	if (n == cap) {
		cap = cap ? cap * 2 : 16;
		list = xrealloc(list, cap * sizeof *list);
	}
	list[n] = (struct pending){copy, q->vh, NULL, {0}};
	if (stored) {
		list[n].from = q;
		list[n].entry = *stored;
		list[n].entry.m = NULL; /* the caller's; drop needs seq and ids */
		queue_ref(q);
	}
	n++;
	server_defer();
	return true;
}

static void route_one(struct pending p)
{
	struct message *m = p.copy;
	struct bexchange *x = vhost_exchange(p.vh, message_exchange(m));
	if (x) { /* a missing dead-letter exchange drops the message, as RabbitMQ */
		struct queue **qs;
		size_t nq = vhost_route_message(p.vh, x, m, &qs, NULL);
		/* Pushing can schedule more dead-letters, never route: qs stays. */
		for (size_t i = 0; i < nq; i++)
			if (!deadletter_is_cycle(m, qs[i]->name))
				queue_push(qs[i], m);
	}
	message_unref(m);
	/* The original leaves the store in the same batch as its copy
	 * enters it (a store read before the end of the turn would hand
	 * over the writes recorded so far): a crash then keeps one of them,
	 * never neither. */
	if (p.from) {
		persist_drop(p.from, &p.entry);
		queue_unref(p.from);
	}
}

bool dlx_turn(void)
{
	if (!n)
		return false;
	/* Items added while routing are handled in this same loop. */
	for (size_t i = 0; i < n; i++)
		route_one(list[i]);
	n = 0;
	return true;
}

void dlx_free(void)
{
	for (size_t i = 0; i < n; i++) {
		message_unref(list[i].copy);
		if (list[i].from)
			queue_unref(list[i].from);
	}
	free(list);
	list = NULL;
	n = cap = 0;
}
