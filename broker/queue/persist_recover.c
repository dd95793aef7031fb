/* persist_recover.c — recovery at start-up: what the store holds comes
 * back into the vhosts (persist_recover.h; called by persist_open). */
#include "broker/queue/persist_recover.h"

#include <stdlib.h>

#include "broker/core/log.h"
#include "broker/model/vhost.h"
#include "broker/net/server.h"
#include "broker/queue/persist.h"
#include "protocol/props.h"
#include "store/store.h"
#include "util/xalloc.h"

/* Recovery of a store written before vhosts were stored (schema < 5):
 * the vhost its topology names comes back. */
static struct vhost *recovered_vhost(const char *name)
{
	struct vhost *vh = vhost_find(bytes_of(name));
	if (!vh) {
		log_warn("recovery: vhost '%s' was not stored; re-created for its topology", name);
		vh = vhost_create(name);
	}
	return vh;
}

/* ---- recovery ---- */

/* Design notes. Entries come queue by queue in seq order. Messages are
 * loaded while the memory budget lasts (queue_memory_budget, counted as
 * what a message really takes: its header, exchange, routing key,
 * properties and body), shared among the queues in proportion to their
 * expected sizes, so that every queue has its head in memory; the rest of
 * a queue stays paged out (an index entry in its ring, the message read
 * back when a consumer reaches it) and the store stops reading its bodies.
 * A recovery that takes longer than a second logs its progress once a
 * second; every one ends with a summary line. */
struct recovery {
	/* store id -> message, so fan-out shares one message again. The key
	 * is the message's own store id (message_store_slot); the map holds a
	 * reference. */
	struct strmap messages;
	uint64_t nentries, npaged;
	/* What the store expects (store_visitor.expect), in its order. */
	struct { struct queue *q; uint64_t n; } *plan;
	size_t nplan, capplan, next_plan;
	uint64_t expected, expected_left;
	/* The budget: bytes not yet given to a queue, and the current queue's
	 * allowance. */
	struct queue *cur;
	uint64_t budget, allow;
	/* Times (now_ms) for the summary and the progress lines. */
	uint64_t t0, t_objects, t_topology, next_log;
};

/* Bytes a recovered message takes (what message_mem counts). */
static uint64_t footprint(const struct store_entry *se)
{
	return message_size_of(se->exchange.len, se->rkey.len, se->props.len, se->body_size,
			       MSG_PERSISTENT);
}

static void rec_expect(void *ctx, void *handle, uint64_t n)
{
	struct recovery *r = ctx;
	if (!r->t_topology)
		r->t_topology = now_ms();
	if (r->nplan == r->capplan) {
		r->capplan = r->capplan ? 2 * r->capplan : 16;
		r->plan = xrealloc(r->plan, r->capplan * sizeof *r->plan);
	}
	r->plan[r->nplan].q = handle;
	r->plan[r->nplan++].n = n;
	r->expected += n;
	r->expected_left += n;
}

/* Logs where recovery is, at most once a second. */
static void rec_progress(struct recovery *r)
{
	uint64_t now = now_ms();
	if (now < r->next_log)
		return;
	r->next_log = now + 1000;
	uint64_t done = r->next_plan ? r->next_plan - 1 : 0; /* the current one is not */
	double secs = r->t_topology ? (double)(now - r->t_topology) / 1000.0 : 0;
	if (!r->nentries || secs <= 0) {
		log_info("recovery: %llu of %zu queues, 0 of at most %llu messages, starting",
			 (unsigned long long)done, r->nplan, (unsigned long long)r->expected);
		return;
	}
	double rate = (double)r->nentries / secs;
	uint64_t left = r->expected > r->nentries ? r->expected - r->nentries : 0;
	log_info("recovery: %llu of %zu queues, %llu of at most %llu messages, %.0f msg/s,"
		 " at most %.0f s left", (unsigned long long)done, r->nplan,
		 (unsigned long long)r->nentries, (unsigned long long)r->expected, rate,
		 (double)left / rate);
}

/* The entries of another queue begin: its share of what is left of the
 * budget, by its expected size among those still to come. */
static void rec_next_queue(struct recovery *r, struct queue *q)
{
	r->cur = q;
	r->budget += r->allow;
	r->allow = 0;
	while (r->next_plan < r->nplan && r->plan[r->next_plan].q != q)
		r->next_plan++; /* a queue whose entries were all skipped */
	uint64_t n = r->next_plan < r->nplan ? r->plan[r->next_plan++].n : 0;
	if (r->expected_left <= n || !r->expected_left)
		r->allow = r->budget;
	else
		r->allow = (uint64_t)((double)r->budget * (double)n / (double)r->expected_left);
	r->budget -= r->allow;
	r->expected_left -= n < r->expected_left ? n : r->expected_left;
	rec_progress(r);
}

static void rec_exchange(void *ctx, const char *vhost, struct bytes name, const char *type,
			 int flags, struct bytes args)
{
	(void)ctx;
	struct vhost *vh = recovered_vhost(vhost);
	const struct exchange_type *t = exchange_type_find(bytes_of(type));
	if (!t || vhost_exchange(vh, name)) {
		log_warn("recovery: skipping exchange '%.*s' of type '%s'", (int)name.len,
			 (const char *)name.p, type);
		return;
	}
	int code;
	const char *why;
	struct bexchange *x = vhost_add_exchange(vh, name, t, args, &code, &why);
	if (!x)
		return;
	x->durable = flags & STORE_F_DURABLE;
	x->auto_delete = flags & STORE_F_AUTO_DELETE;
	x->internal = flags & STORE_F_INTERNAL;
}

static void *rec_queue(void *ctx, int64_t qid, const char *vhost, struct bytes name, int flags,
		       struct bytes args)
{
	(void)ctx;
	(void)flags;
	struct vhost *vh = recovered_vhost(vhost);
	struct queue *q = queue_new(vh, name, args);
	q->durable = true;
	q->store_id = qid;
	vhost_add_queue(vh, q);
	return q;
}

static void rec_binding(void *ctx, const char *vhost, struct bytes source, bool to_queue,
			struct bytes dest, struct bytes key, struct bytes args)
{
	(void)ctx;
	struct vhost *vh = vhost_find(bytes_of(vhost));
	struct bexchange *src = vh ? vhost_exchange(vh, source) : NULL;
	void *d = !vh ? NULL : to_queue ? (void *)vhost_queue(vh, dest) : (void *)vhost_exchange(vh, dest);
	if (!src || !d)
		return;
	const char *why;
	vhost_bind(vh, src, to_queue ? DEST_QUEUE : DEST_EXCHANGE, d, key, args, &why);
}

/* A stored wall-clock deadline on today's monotonic clock; one that
 * passed while the broker was down is due at once. */
static uint64_t mono(uint64_t wall)
{
	if (!wall)
		return 0;
	uint64_t now = now_ms(), w = wall_ms();
	return wall > w ? now + (wall - w) : now - 1;
}

/* The priority level a recovered message goes back to. */
static uint8_t level_of(const struct queue *q, struct bytes raw_props)
{
	struct amqp_props p;
	if (q->nlv == 1 || props_decode(raw_props.p, raw_props.len, &p) != 0 ||
	    !(p.flags & PROP_PRIORITY))
		return 0;
	return p.priority < q->nlv ? p.priority : (uint8_t)(q->nlv - 1);
}

static bool rec_entry(void *ctx, void *handle, const struct store_entry *se)
{
	struct recovery *r = ctx;
	struct queue *q = handle;
	if (!q)
		return false;
	if (q != r->cur)
		rec_next_queue(r, q);
	if ((++r->nentries & 1023) == 0)
		rec_progress(r);
	uint32_t deliveries = se->deliveries;
	if (se->redelivered && deliveries == 0)
		deliveries = 1;
	if (se->seq > q->next_seq)
		q->next_seq = se->seq;
	if (se->redelivered && se->seq > q->delivered_upto) /* the watermark, as stored */
		q->delivered_upto = q->upto_stored = q->upto_safe = se->seq;
	/* Shared messages (msg_id > 0) are rebuilt once for all their queues;
	 * an inline one (0) belongs to this entry alone. */
	uint64_t msg_id = se->msg_id;
	struct message *m = msg_id ? strmap_get(&r->messages, &msg_id, sizeof msg_id) : NULL;
	if (m) {
		message_ref(m); /* the queue entry's */
	} else if (se->has_message && footprint(se) <= r->allow) {
		r->allow -= footprint(se);
		m = persist_stored_message(se->exchange, se->rkey, se->props, se->body, msg_id);
		/* The map keeps the first reference of a shared message (it is
		 * dropped after recovery); an inline one gives it to its entry. */
		if (msg_id) {
			strmap_put(&r->messages, message_store_slot(m), sizeof msg_id, m);
			message_ref(m);
		}
	}
	/* In seq order: the store returns them sorted, so this appends. Past
	 * the budget only the index entry stays (QE_PAGED). */
	struct qentry e = {.m = m, .seq = se->seq, .msg_id = msg_id, .expires = mono(se->expires),
			   .size = se->body_size, .deliveries = (uint16_t)deliveries,
			   .flags = QE_STORED | (m ? 0 : QE_PAGED), .priority = level_of(q, se->props)};
	r->npaged += !m;
	queue_requeue(q, e);
	if (e.expires)
		queue_ttl_recovered(q, &e);
	return m != NULL;
}

int persist_recover(void (*recover_objects)(void), uint64_t t_start)
{
	struct recovery r = {0};
	/* Timed from before the store opened; progress from a second on. */
	uint64_t t_open = now_ms();
	r.t0 = t_start;
	r.next_log = t_start + 1000;
	uint64_t budget = queue_memory_budget();
	r.budget = budget > message_mem ? budget - message_mem : 0;
	static const struct store_visitor v = {.exchange = rec_exchange, .queue = rec_queue,
					       .binding = rec_binding, .expect = rec_expect,
					       .entry = rec_entry};
	if (recover_objects)
		recover_objects();
	r.t_objects = now_ms();
	int rc = store_recover(&v, &r);
	/* Drop the recovery's reference on each message: queues hold theirs. */
	void *val;
	for (size_t i = 0; strmap_next(&r.messages, &i, &val);)
		message_unref(val);
	strmap_free(&r.messages);
	free(r.plan);
	if (rc < 0) {
		log_error("recovery failed: %s", store_error());
		return -1;
	}
	uint64_t t1 = now_ms();
	if (!r.t_topology)
		r.t_topology = t1;
	log_info("recovered %llu stored messages (%llu paged out) in %zu queues in %llu ms:"
		 " store open %llu ms, definitions %llu ms, topology %llu ms, messages %llu ms",
		 (unsigned long long)r.nentries, (unsigned long long)r.npaged, r.nplan,
		 (unsigned long long)(t1 - r.t0), (unsigned long long)(t_open - r.t0),
		 (unsigned long long)(r.t_objects - t_open),
		 (unsigned long long)(r.t_topology - r.t_objects),
		 (unsigned long long)(t1 - r.t_topology));
	return 0;
}

