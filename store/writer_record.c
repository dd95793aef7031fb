/* writer_record.c — store.h's writes: each is copied into the pending
 * batch (writer.c hands it to the writer thread at the end of the loop's
 * turn) and returns at once; ids are handed out here, before the row is
 * written.
 *
 * A dequeue of an entry whose enqueue is still in the pending batch
 * cancels both (and the message row of a shared message that no live
 * entry of the batch uses any more): a message consumed and acked before
 * its batch was handed over is never written. A dequeue of an entry in
 * the batch the writer has cannot take it out (the thread is writing it),
 * but reports its tag all the same (store_last_uncommitted), so the
 * publish it belongs to need not wait for that commit; when the writer
 * has not reached an inline entry yet (a ripening batch, writer.c), the
 * dequeue claims it and neither is written. Both look their entry up in
 * the batch's index (writer_index.c). */
#include <stdlib.h>
#include <string.h>

#include "store/sqlite.h"
#include "store/writer.h"

static uint64_t cur_tag, last_uncommitted;

/* In the pending batch. */
static struct slot *find_slot(uint32_t tag, int64_t a, uint64_t b)
{
	return writer_index_find(writer_pend, tag, a, b);
}

static struct op *find(uint32_t tag, int64_t a, uint64_t b)
{
	struct slot *s = find_slot(tag, a, b);
	return s ? &writer_pend->ops[s->op - 1] : NULL;
}

static void index_put(uint32_t tag, int64_t a, uint64_t b, size_t op)
{
	writer_index_put(writer_pend, tag, a, b, op);
}

static void *grow(void *p, size_t *cap, size_t need, size_t size)
{
	if (need <= *cap)
		return p;
	size_t c = *cap ? *cap : 64;
	while (c < need)
		c *= 2;
	p = realloc(p, c * size);
	if (!p)
		abort(); /* as xalloc does: out of memory is not recoverable here */
	*cap = c;
	return p;
}

/* Whether a live op's batch must run at once (writer.c's ripening):
 * anything a confirm or a reply may wait on. An ack's delete, a watermark
 * (a delivery that needs it committed waits through store_commit, which
 * hurries) and a ripe entry may wait. */
static bool urgent(const struct op *o)
{
	switch (o->kind) {
	case OP_DEQ:
	case OP_DEL_M:
	case OP_SET_UPTO:
	case OP_DEL_D: return false;
	case OP_ENQ_INLINE: return !o->ripe;
	default: return true;
	}
}

static struct op *append(enum op_kind kind)
{
	struct batch *b = writer_pend;
	b->ops = grow(b->ops, &b->cap, b->nops + 1, sizeof *b->ops);
	struct op *o = &b->ops[b->nops++];
	memset(o, 0, sizeof *o);
	o->kind = (uint8_t)kind;
	b->live++;
	b->urgent += urgent(o);
	return o;
}

/* A new op in the pending batch, or NULL when the batch refuses writes. */
static struct op *record(enum op_kind kind)
{
	return writer_refused() ? NULL : append(kind);
}

static void put_bytes(struct op *o, int i, const void *p, uint64_t n)
{
	struct batch *b = writer_pend;
	b->data = grow(b->data, &b->data_cap, b->used + n + 1, 1);
	if (n)
		memcpy(b->data + b->used, p, n);
	b->data[b->used + n] = '\0';
	o->off[i] = b->used;
	o->len[i] = n;
	b->used += n + 1;
}

static void put_b(struct op *o, int i, struct bytes b)
{
	put_bytes(o, i, b.p, b.len);
}

static void put_text(struct op *o, int i, const char *s)
{
	put_bytes(o, i, s, strlen(s));
}

static void cancel(struct op *o)
{
	writer_pend->urgent -= urgent(o);
	writer_pend->ripe -= o->ripe;
	o->cancelled = true;
	writer_pend->live--;
}

int store_put_exchange(const char *vhost, struct bytes name, const char *type, int flags,
		       struct bytes args)
{
	struct op *o = record(OP_PUT_X);
	if (!o)
		return -1;
	o->flags = flags;
	put_text(o, 0, vhost);
	put_b(o, 1, name);
	put_text(o, 2, type);
	put_b(o, 3, args);
	return 0;
}

int store_del_exchange(const char *vhost, struct bytes name)
{
	struct op *o = record(OP_DEL_X);
	if (!o)
		return -1;
	put_text(o, 0, vhost);
	put_b(o, 1, name);
	return 0;
}

int64_t store_put_queue(const char *vhost, struct bytes name, int flags, struct bytes args)
{
	struct op *o = record(OP_PUT_Q);
	if (!o)
		return 0;
	o->qid = sql_next_queue_id();
	o->flags = flags;
	put_text(o, 0, vhost);
	put_b(o, 1, name);
	put_b(o, 2, args);
	return o->qid;
}

static int queue_op(enum op_kind k, int64_t qid)
{
	struct op *o = record(k);
	if (!o)
		return -1;
	o->qid = qid;
	return 0;
}

int store_del_queue(int64_t qid)
{
	return queue_op(OP_DEL_Q, qid);
}

int store_purge_queue(int64_t qid)
{
	return queue_op(OP_PURGE_Q, qid);
}

static int binding_op(enum op_kind k, const char *vhost, struct bytes source, bool to_queue,
		      struct bytes dest, struct bytes key, struct bytes args)
{
	struct op *o = record(k);
	if (!o)
		return -1;
	o->flags = to_queue;
	put_text(o, 0, vhost);
	put_b(o, 1, source);
	put_b(o, 2, dest);
	put_b(o, 3, key);
	put_b(o, 4, args);
	return 0;
}

int store_put_binding(const char *vhost, struct bytes source, bool to_queue, struct bytes dest,
		      struct bytes key, struct bytes args)
{
	return binding_op(OP_PUT_B, vhost, source, to_queue, dest, key, args);
}

int store_del_binding(const char *vhost, struct bytes source, bool to_queue, struct bytes dest,
		      struct bytes key, struct bytes args)
{
	return binding_op(OP_DEL_B, vhost, source, to_queue, dest, key, args);
}

uint64_t store_next_message_id(void)
{
	return sql_next_message_id();
}

int store_put_message(uint64_t id, struct bytes exchange, struct bytes rkey, struct bytes props,
		      const uint8_t *body, uint64_t body_size)
{
	struct op *o = record(OP_PUT_M);
	if (!o)
		return -1;
	o->id = id;
	put_b(o, 0, exchange);
	put_b(o, 1, rkey);
	put_b(o, 2, props);
	put_bytes(o, 3, body, body_size);
	index_put(T_MSG, 0, id, writer_pend->nops - 1);
	return 0;
}

int store_del_message(uint64_t id)
{
	if (writer_refused())
		return -1;
	struct slot *s = find_slot(T_MSG, 0, id);
	if (s && writer_pend->ops[s->op - 1].refs == 0) {
		/* Put in this batch, and no live entry of it uses the row;
		 * none of an earlier batch can (the id is new). */
		cancel(&writer_pend->ops[s->op - 1]);
		s->op = 0;
		return 0;
	}
	if (s)
		return 0; /* an entry of this batch still uses it: a no-op */
	append(OP_DEL_M)->id = id;
	return 0;
}

static struct op *entry_op(enum op_kind k, int64_t qid, uint64_t seq, uint64_t n)
{
	struct op *o = record(k);
	if (o) {
		o->qid = qid;
		o->seq = seq;
		o->n = n;
	}
	return o;
}

int store_enqueue(int64_t qid, uint64_t seq, uint64_t msg_id, uint32_t deliveries,
		  uint64_t expires)
{
	struct op *o = entry_op(OP_ENQ, qid, seq, deliveries);
	if (!o)
		return -1;
	o->id = msg_id;
	o->expires = expires;
	o->tag = cur_tag;
	index_put(T_ENTRY, qid, seq, writer_pend->nops - 1);
	struct op *m = find(T_MSG, 0, msg_id);
	if (m)
		m->refs++;
	return 0;
}

int store_enqueue_inline(int64_t qid, uint64_t seq, uint32_t deliveries, uint64_t expires,
			 struct bytes exchange, struct bytes rkey, struct bytes props,
			 const uint8_t *body, uint64_t body_size)
{
	struct op *o = entry_op(OP_ENQ_INLINE, qid, seq, deliveries);
	if (!o)
		return -1;
	o->expires = expires;
	o->tag = cur_tag;
	put_b(o, 0, exchange);
	put_b(o, 1, rkey);
	put_b(o, 2, props);
	put_bytes(o, 3, body, body_size);
	index_put(T_ENTRY, qid, seq, writer_pend->nops - 1);
	return 0;
}

void store_tag(uint64_t tag)
{
	cur_tag = tag;
}

uint64_t store_last_uncommitted(void)
{
	return last_uncommitted;
}

int store_dequeue(int64_t qid, uint64_t seq)
{
	last_uncommitted = 0;
	if (writer_refused())
		return -1;
	struct slot *s = find_slot(T_ENTRY, qid, seq);
	if (!s) {
		/* Enqueued in the batch the writer has: whoever waits on that
		 * entry's commit need not wait any more. An inline entry the
		 * writer has not reached is taken back (nothing written);
		 * otherwise it is written all the same and deleted by this
		 * dequeue in the next batch. */
		struct batch *fl = writer_flying;
		struct slot *f = fl ? writer_index_find(fl, T_ENTRY, qid, seq) : NULL;
		if (f) {
			struct op *e = &fl->ops[f->op - 1];
			last_uncommitted = e->tag;
			f->op = 0;
			if (fl->cancellable && e->kind == OP_ENQ_INLINE &&
			    writer_claim(e, CLAIM_DEQUEUE))
				return 0;
		}
		struct op *o = append(OP_DEQ);
		o->qid = qid;
		o->seq = seq;
		return 0;
	}
	/* Enqueued in this batch: neither is written. */
	struct op *e = &writer_pend->ops[s->op - 1];
	s->op = 0;
	cancel(e);
	last_uncommitted = e->tag;
	struct op *m = e->kind == OP_ENQ ? find(T_MSG, 0, e->id) : NULL;
	if (m)
		m->refs--;
	return 0;
}

void store_delivered(int64_t qid, uint64_t seq)
{
	struct op *e = find(T_ENTRY, qid, seq);
	if (!e || e->kind != OP_ENQ_INLINE || e->ripe)
		return;
	writer_pend->urgent--;
	e->ripe = true;
	writer_pend->ripe++;
}

int store_set_deliveries(int64_t qid, uint64_t seq, uint32_t deliveries)
{
	return entry_op(OP_SET_DELIV, qid, seq, deliveries) ? 0 : -1;
}

int store_set_delivered_upto(int64_t qid, uint64_t seq)
{
	if (writer_refused())
		return -1;
	/* One watermark write per queue and batch: the highest. */
	struct op *u = find(T_UPTO, qid, 0);
	if (u) {
		if (seq > u->seq)
			u->seq = seq;
		return 0;
	}
	u = append(OP_SET_UPTO);
	u->qid = qid;
	u->seq = seq;
	index_put(T_UPTO, qid, 0, writer_pend->nops - 1);
	return 0;
}

int store_reset_delivered_upto(int64_t qid, uint64_t seq)
{
	if (writer_refused())
		return -1;
	/* After any watermark of this batch, so it is the last word. */
	struct op *u = append(OP_RESET_UPTO);
	u->qid = qid;
	u->seq = seq;
	return 0;
}

uint64_t store_put_delayed(uint64_t due, const char *vhost, struct bytes exchange,
			   struct bytes rkey, struct bytes props, const uint8_t *body,
			   uint64_t body_size)
{
	struct op *o = record(OP_PUT_D);
	if (!o)
		return 0;
	o->id = sql_next_delayed_id();
	o->n = due;
	put_text(o, 0, vhost);
	put_b(o, 1, exchange);
	put_b(o, 2, rkey);
	put_b(o, 3, props);
	put_bytes(o, 4, body, body_size);
	return o->id;
}

int store_del_delayed(uint64_t id)
{
	struct op *o = record(OP_DEL_D);
	if (!o)
		return -1;
	o->id = id;
	return 0;
}

int store_put_object(const char *kind, const char *key, const char *value)
{
	struct op *o = record(OP_PUT_O);
	if (!o)
		return -1;
	put_text(o, 0, kind);
	put_text(o, 1, key);
	put_text(o, 2, value);
	return 0;
}

int store_del_object(const char *kind, const char *key)
{
	struct op *o = record(OP_DEL_O);
	if (!o)
		return -1;
	put_text(o, 0, kind);
	put_text(o, 1, key);
	return 0;
}

int store_probe(void)
{
	if (!record(OP_PROBE)) {
		store_commit(); /* reports the refused batch */
		return -1;
	}
	return store_commit();
}
