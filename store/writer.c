/* writer.c — store.h's calls on a writer thread: writes are recorded into
 * the pending batch (a copy of their arguments) and return at once; a
 * batch is committed by the thread through sqlite.c while the caller goes
 * on recording the next one, so the event loop never waits on SQLite or
 * fsync, and a batch holds whatever came while the one before it was
 * being written: batches grow with load.
 *
 * A dequeue of an entry whose enqueue is still in the pending batch
 * cancels both (and the message row of a shared message that no live
 * entry of the batch uses any more): a message consumed and acked before
 * its batch was handed over is never written. A dequeue of an entry in
 * the batch the writer has cannot take it out (the thread is writing it),
 * but reports its tag all the same (store_last_uncommitted), so the
 * publish it belongs to need not wait for that commit.
 *
 * Reads (paged-out messages, scans, counts) drain first: they hand the
 * pending batch over and wait until the writer is idle, then run on the
 * caller's thread. They are rare (paging, start-up, the management API,
 * the delayed-message exchange's refills), so one simple rule beats
 * looking into the batches. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "store/batch.h"
#include "store/replica.h"
#include "store/sqlite.h"

int store_fail_after;

/* A batch's index for cancelling: (tag, a, b) -> op. Slots stamped
 * with another batch's number are empty, so a new batch starts with an
 * empty index without clearing it. op == 0 is a tombstone. Only the loop
 * uses it: the pending batch's to cancel, the flying one's to settle. */
enum { T_ENTRY = 1, T_MSG, T_UPTO };
struct slot {
	uint64_t batch;
	int64_t a;
	uint64_t b;
	uint32_t tag, op; /* op: index + 1 */
};

static struct batch batches[2];
static struct batch *pend;      /* the loop records into it */
static struct batch *spare;     /* the other one, when the writer has none */
/* Handed over and not yet taken back. The writer only reads its ops, so
 * the loop may read them too (a dequeue looks up its enqueue's tag). */
static struct batch *flying;
static char loop_error[256];    /* store_error()'s text, the caller's copy */
static void (*done_fn)(const struct store_result *);
static unsigned failures;       /* failed batches so far (store_commit) */
static uint64_t cur_tag, last_uncommitted;

/* Shared with the writer thread, under mu. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER, idle = PTHREAD_COND_INITIALIZER;
static struct batch *job;  /* handed over, not yet taken */
static struct batch *done; /* written, not yet collected */
static bool busy;          /* a batch is with the writer (job, running or done) */
static bool stopping, running;
static pthread_t thread;
static int efd = -1;

const char *store_error(void)
{
	return loop_error;
}

static void copy_error(const char *s)
{
	snprintf(loop_error, sizeof loop_error, "%s", s);
}

/* ---- the writer thread ---- */

static struct bytes str(const struct batch *b, const struct op *o, int i)
{
	return (struct bytes){b->data + o->off[i], (uint32_t)o->len[i]};
}

static const char *text(const struct batch *b, const struct op *o, int i)
{
	return (const char *)b->data + o->off[i];
}

static int run_op(const struct batch *b, const struct op *o)
{
	switch (o->kind) {
	case OP_PUT_X:
		return sql_put_exchange(text(b, o, 0), str(b, o, 1), text(b, o, 2), o->flags,
					str(b, o, 3));
	case OP_DEL_X: return sql_del_exchange(text(b, o, 0), str(b, o, 1));
	case OP_PUT_Q:
		return sql_put_queue(o->qid, text(b, o, 0), str(b, o, 1), o->flags, str(b, o, 2));
	case OP_DEL_Q: return sql_del_queue(o->qid);
	case OP_PUT_B:
	case OP_DEL_B:
		return (o->kind == OP_PUT_B ? sql_put_binding : sql_del_binding)(
			text(b, o, 0), str(b, o, 1), o->flags, str(b, o, 2), str(b, o, 3),
			str(b, o, 4));
	case OP_PUT_M:
		return sql_put_message(o->id, str(b, o, 0), str(b, o, 1), str(b, o, 2),
				       b->data + o->off[3], o->len[3]);
	case OP_DEL_M: return sql_del_message(o->id);
	case OP_ENQ: return sql_enqueue(o->qid, o->seq, o->id, (uint32_t)o->n, o->expires);
	case OP_ENQ_INLINE: break; /* run_inline */
	case OP_DEQ: return sql_dequeue(o->qid, o->seq);
	case OP_SET_DELIV: return sql_set_deliveries(o->qid, o->seq, (uint32_t)o->n);
	case OP_SET_UPTO: return sql_set_delivered_upto(o->qid, o->seq);
	case OP_RESET_UPTO: return sql_reset_delivered_upto(o->qid, o->seq);
	case OP_PUT_D:
		return sql_put_delayed(o->id, o->n, text(b, o, 0), str(b, o, 1), str(b, o, 2),
				       str(b, o, 3), b->data + o->off[4], o->len[4]);
	case OP_DEL_D: return sql_del_delayed(o->id);
	case OP_PUT_O: return sql_put_object(text(b, o, 0), text(b, o, 1), text(b, o, 2));
	case OP_DEL_O: return sql_del_object(text(b, o, 0), text(b, o, 1));
	case OP_PROBE: return sql_probe();
	}
	return -1;
}

static uint64_t clock_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The inline enqueues from op *i on, up to SQL_ROWS of them with nothing
 * but cancelled ops between, in one call (the common write: one insert
 * statement for many rows); *i moves past them. */
static int run_inline(const struct batch *b, size_t *i)
{
	struct sql_inline rows[SQL_ROWS];
	size_t n = 0;
	for (; *i < b->nops && n < SQL_ROWS; ++*i) {
		const struct op *o = &b->ops[*i];
		if (o->cancelled)
			continue;
		if (o->kind != OP_ENQ_INLINE)
			break;
		rows[n++] = (struct sql_inline){o->qid, o->seq, (uint32_t)o->n, o->expires,
						str(b, o, 0), str(b, o, 1), str(b, o, 2),
						b->data + o->off[3], o->len[3]};
	}
	return sql_enqueue_inline(rows, n);
}

/* One batch, one transaction: all of it or (rolled back) none. */
void writer_run(struct batch *b)
{
	uint64_t t0 = clock_ns();
	int rc = b->failed ? -1 : 0;
	for (size_t i = 0; i < b->nops && rc == 0;) {
		const struct op *o = &b->ops[i];
		if (o->kind == OP_ENQ_INLINE && !o->cancelled) {
			rc = run_inline(b, &i);
			continue;
		}
		if (!o->cancelled)
			rc = run_op(b, o);
		i++;
	}
	if (sql_commit() < 0 || rc < 0) {
		if (!b->failed)
			snprintf(b->error, sizeof b->error, "%s", sql_error());
		b->failed = true;
	}
	b->ns = clock_ns() - t0;
}

static void *writer_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&mu);
	while (!stopping || job) {
		if (!job) {
			pthread_cond_wait(&wake, &mu);
			continue;
		}
		struct batch *b = job;
		job = NULL;
		pthread_mutex_unlock(&mu);
		writer_run(b);
		writer_finished(b);
		pthread_mutex_lock(&mu);
	}
	pthread_mutex_unlock(&mu);
	return NULL;
}

void writer_finished(struct batch *b)
{
	pthread_mutex_lock(&mu);
	done = b;
	pthread_cond_signal(&idle);
	pthread_mutex_unlock(&mu);
	/* The loop learns of it through the eventfd (store_poll). */
	uint64_t one = 1;
	ssize_t w = write(efd, &one, sizeof one);
	(void)w; /* EAGAIN only when the counter is huge: readable anyway */
}

/* ---- batches on the caller's side ---- */

static void batch_reset(struct batch *b, uint64_t no)
{
	b->no = no;
	b->nops = b->live = b->used = 0;
	b->index_filled = 0; /* the index holds this batch's ops only */
	b->failed = false;
	b->error[0] = '\0';
	b->ns = 0;
}

/* A finished batch's result; the batch becomes the spare. */
static struct store_result take(struct batch *b)
{
	struct store_result r = {b->no, !b->failed, b->ns, b->live};
	if (b->failed) {
		failures++;
		copy_error(b->error);
	}
	spare = b;
	if (flying == b)
		flying = NULL;
	return r;
}

static void report(const struct store_result *r)
{
	if (done_fn)
		done_fn(r);
}

/* Takes a written batch back, if there is one. */
static struct batch *collect(bool wait)
{
	pthread_mutex_lock(&mu);
	while (wait && busy && !done)
		pthread_cond_wait(&idle, &mu);
	struct batch *b = done;
	if (b) {
		done = NULL;
		busy = false;
	}
	pthread_mutex_unlock(&mu);
	return b;
}

static bool pending_empty(void)
{
	return pend->nops == 0 && !pend->failed;
}

/* The test hook: pretend the Nth call from now failed. */
static bool injected_failure(void)
{
	if (store_fail_after > 0 && --store_fail_after == 0) {
		snprintf(pend->error, sizeof pend->error, "injected failure");
		copy_error(pend->error);
		return true;
	}
	return false;
}

/* A pending batch this big waits for the writer instead of growing: the
 * back-pressure a synchronous commit used to give publishers that do not
 * wait for confirms (they are not read while the loop waits). */
#define BATCH_MAX_BYTES (64u << 20)
#define BATCH_MAX_OPS (1u << 20)

void store_submit(void)
{
	if (!running || pending_empty())
		return;
	if (busy && (pend->used > BATCH_MAX_BYTES || pend->nops > BATCH_MAX_OPS)) {
		struct store_result r = take(collect(true));
		report(&r);
	}
	if (busy)
		return;
	if (!pend->failed && injected_failure())
		pend->failed = true;
	struct batch *b = pend;
	pend = spare;
	spare = NULL;
	batch_reset(pend, b->no + 1);
	if (b->live == 0 || b->failed) {
		/* Everything in it was cancelled, or the hook refused it:
		 * done without the writer. */
		struct store_result r = take(b);
		report(&r);
		return;
	}
	flying = b;
	pthread_mutex_lock(&mu);
	busy = true;
	if (!replica_on()) {
		job = b;
		pthread_cond_signal(&wake);
	}
	pthread_mutex_unlock(&mu);
	if (replica_on())
		replica_propose(b); /* done when committed and applied here */
}

void store_poll(void)
{
	uint64_t n;
	ssize_t got = read(efd, &n, sizeof n);
	(void)got; /* EAGAIN: a drain collected it already */
	struct batch *b = collect(false);
	if (replica_on())
		replica_poll(); /* a role change comes through the same eventfd */
	if (!b)
		return;
	/* The next batch is not handed over here but by the caller's
	 * store_submit at the end of its turn: the writes of one turn that
	 * belong together (an entry dropped and its dead-letter copy routed
	 * later in the turn) must not straddle two batches, or a crash
	 * between their commits would lose the message. */
	struct store_result r = take(b);
	report(&r);
}

/* Until everything recorded is written. Reports as it goes. */
static void drain(void)
{
	while (running) {
		if (busy) {
			struct store_result r = take(collect(true));
			report(&r);
		}
		if (pending_empty())
			return;
		store_submit();
	}
}

int store_commit(void)
{
	unsigned before = failures;
	drain();
	return failures == before ? 0 : -1;
}

bool store_dirty(void)
{
	return running && (busy || !pending_empty());
}

uint64_t store_batch(void)
{
	return running ? pend->no : 0;
}

int store_done_fd(void)
{
	return efd;
}

void store_on_done(void (*fn)(const struct store_result *r))
{
	done_fn = fn;
}

/* ---- recording ---- */

/* The queue (a) and kind are scattered, the seq or id (b) is added as it
 * is: a queue's consecutive entries take consecutive slots, so a busy
 * batch's lookups stay within a few cache lines (a scattering hash made
 * every lookup a cache miss: 15% of the loop in S3). */
static size_t hash(uint32_t tag, int64_t a, uint64_t b)
{
	uint64_t h = ((uint64_t)a * 0x9E3779B97F4A7C15u) ^ ((uint64_t)tag << 56);
	return (size_t)((h ^ (h >> 32)) + b);
}

static struct slot *find_in(const struct batch *bt, uint32_t tag, int64_t a, uint64_t b)
{
	if (!bt->index_cap)
		return NULL;
	size_t mask = bt->index_cap - 1;
	for (size_t i = hash(tag, a, b) & mask;; i = (i + 1) & mask) {
		struct slot *s = &bt->slots[i];
		if (s->batch != bt->no)
			return NULL;
		if (s->op && s->tag == tag && s->a == a && s->b == b)
			return s;
	}
}

/* In the pending batch. */
static struct slot *find_slot(uint32_t tag, int64_t a, uint64_t b)
{
	return find_in(pend, tag, a, b);
}

static struct op *find(uint32_t tag, int64_t a, uint64_t b)
{
	struct slot *s = find_slot(tag, a, b);
	return s ? &pend->ops[s->op - 1] : NULL;
}

static void index_put(uint32_t tag, int64_t a, uint64_t b, size_t op);

/* Rehashes at the size the live slots need: tombstones (cancelled
 * entries) are dropped, and a table grown by one big batch shrinks back. */
static void index_grow(void)
{
	struct slot *old = pend->slots;
	size_t n = pend->index_cap, live = 0;
	for (size_t i = 0; i < n; i++)
		live += old[i].batch == pend->no && old[i].op;
	pend->index_cap = 1024;
	while (pend->index_cap < live * 4)
		pend->index_cap *= 2;
	pend->slots = calloc(pend->index_cap, sizeof *pend->slots);
	if (!pend->slots)
		abort();
	pend->index_filled = 0;
	for (size_t i = 0; i < n; i++)
		if (old[i].batch == pend->no && old[i].op)
			index_put(old[i].tag, old[i].a, old[i].b, old[i].op - 1);
	free(old);
}

static void index_put(uint32_t tag, int64_t a, uint64_t b, size_t op)
{
	if ((pend->index_filled + 1) * 2 > pend->index_cap)
		index_grow();
	struct slot *s = find_slot(tag, a, b);
	if (!s) {
		size_t mask = pend->index_cap - 1, i = hash(tag, a, b) & mask;
		while (pend->slots[i].batch == pend->no)
			i = (i + 1) & mask;
		s = &pend->slots[i];
		pend->index_filled++;
	}
	*s = (struct slot){pend->no, a, b, tag, (uint32_t)op + 1};
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

/* True when the pending batch takes no more writes: the test hook failed
 * this call or an earlier one of the batch. Every write asks once. */
static bool refused(void)
{
	if (!pend->failed && injected_failure())
		pend->failed = true;
	return pend->failed;
}

static struct op *append(enum op_kind kind)
{
	pend->ops = grow(pend->ops, &pend->cap, pend->nops + 1, sizeof *pend->ops);
	struct op *o = &pend->ops[pend->nops++];
	memset(o, 0, sizeof *o);
	o->kind = (uint8_t)kind;
	pend->live++;
	return o;
}

/* A new op in the pending batch, or NULL when the batch refuses writes. */
static struct op *record(enum op_kind kind)
{
	return refused() ? NULL : append(kind);
}

static void put_bytes(struct op *o, int i, const void *p, uint64_t n)
{
	pend->data = grow(pend->data, &pend->data_cap, pend->used + n + 1, 1);
	if (n)
		memcpy(pend->data + pend->used, p, n);
	pend->data[pend->used + n] = '\0';
	o->off[i] = pend->used;
	o->len[i] = n;
	pend->used += n + 1;
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
	o->cancelled = true;
	pend->live--;
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

int store_del_queue(int64_t qid)
{
	struct op *o = record(OP_DEL_Q);
	if (!o)
		return -1;
	o->qid = qid;
	return 0;
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
	index_put(T_MSG, 0, id, pend->nops - 1);
	return 0;
}

int store_del_message(uint64_t id)
{
	if (refused())
		return -1;
	struct slot *s = find_slot(T_MSG, 0, id);
	if (s && pend->ops[s->op - 1].refs == 0) {
		/* Put in this batch, and no live entry of it uses the row;
		 * none of an earlier batch can (the id is new). */
		cancel(&pend->ops[s->op - 1]);
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
	index_put(T_ENTRY, qid, seq, pend->nops - 1);
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
	index_put(T_ENTRY, qid, seq, pend->nops - 1);
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
	if (refused())
		return -1;
	struct slot *s = find_slot(T_ENTRY, qid, seq);
	if (!s) {
		struct op *o = append(OP_DEQ);
		o->qid = qid;
		o->seq = seq;
		/* Enqueued in the batch the writer has: written all the same
		 * (and deleted by this dequeue in the next batch), but whoever
		 * waits on that entry's commit need not wait any more. */
		struct slot *f = flying ? find_in(flying, T_ENTRY, qid, seq) : NULL;
		if (f) {
			last_uncommitted = flying->ops[f->op - 1].tag;
			f->op = 0;
		}
		return 0;
	}
	/* Enqueued in this batch: neither is written. */
	struct op *e = &pend->ops[s->op - 1];
	s->op = 0;
	cancel(e);
	last_uncommitted = e->tag;
	struct op *m = e->kind == OP_ENQ ? find(T_MSG, 0, e->id) : NULL;
	if (m)
		m->refs--;
	return 0;
}

int store_set_deliveries(int64_t qid, uint64_t seq, uint32_t deliveries)
{
	return entry_op(OP_SET_DELIV, qid, seq, deliveries) ? 0 : -1;
}

int store_set_delivered_upto(int64_t qid, uint64_t seq)
{
	if (refused())
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
	index_put(T_UPTO, qid, 0, pend->nops - 1);
	return 0;
}

int store_reset_delivered_upto(int64_t qid, uint64_t seq)
{
	if (refused())
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

/* ---- reads: after a drain, on the caller's thread ---- */

/* A read runs on the caller's thread once the writer is idle; in a
 * cluster only where the store leads, and under the apply thread's lock. */
static bool read_begin(void)
{
	drain();
	if (replica_read_begin())
		return true;
	copy_error("the store is not served here (a cluster member that does not lead)");
	return false;
}

/* The error is taken before the lock goes: the apply thread shares the
 * connection, and with it sqlite3_errmsg. */
static int read_end(int rc)
{
	if (rc < 0)
		copy_error(sql_error());
	replica_read_end();
	return rc;
}

int store_get_message(int64_t qid, uint64_t seq, uint64_t id, store_message_fn fn, void *ctx)
{
	return read_begin() ? read_end(sql_get_message(qid, seq, id, fn, ctx)) : -1;
}

int store_scan_delayed(uint64_t from, uint64_t to, store_delayed_fn fn, void *ctx)
{
	return read_begin() ? read_end(sql_scan_delayed(from, to, fn, ctx)) : -1;
}

int64_t store_count_delayed(void)
{
	if (!read_begin())
		return -1;
	int64_t n = sql_count_delayed();
	read_end(n < 0 ? -1 : 0);
	return n;
}

/* Objects are read on a follower too (its copy, as of its applied index:
 * the management API checks logins against its users), under the lock. */
int store_scan_objects(const char *kind, store_object_fn fn, void *ctx)
{
	drain();
	replica_read_anywhere();
	return read_end(sql_scan_objects(kind, fn, ctx));
}

/* ---- open and close ---- */

int store_open(const char *dir, enum store_durability d, char *err, size_t errlen)
{
	if (replica_on())
		d = STORE_NORMAL; /* the Raft log is what is synced; the file is rebuilt from it */
	if (sql_open(dir, d, err, errlen) < 0)
		return -1;
	efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (efd < 0) {
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		sql_close();
		return -1;
	}
	pend = &batches[0];
	spare = &batches[1];
	batch_reset(pend, 1);
	batch_reset(spare, 0);
	busy = stopping = false;
	job = done = NULL;
	failures = 0;
	/* Replicated: replica.c's threads take the writer's place. */
	int rc = replica_on() ? replica_start(dir, efd, err, errlen)
			      : pthread_create(&thread, NULL, writer_main, NULL);
	if (rc && replica_on()) {
		close(efd);
		efd = -1;
		sql_close();
		return -1;
	}
	if (rc) {
		snprintf(err, errlen, "writer thread: %s", strerror(rc));
		close(efd);
		efd = -1;
		sql_close();
		return -1;
	}
	running = true;
	return 0;
}

/* Everything recorded is written before the file closes. */
void store_close(void)
{
	if (!running)
		return;
	drain();
	if (replica_on()) {
		replica_stop();
	} else {
		pthread_mutex_lock(&mu);
		stopping = true;
		pthread_cond_signal(&wake);
		pthread_mutex_unlock(&mu);
		pthread_join(thread, NULL);
	}
	running = false;
	close(efd);
	efd = -1;
	sql_close();
	for (int i = 0; i < 2; i++) {
		free(batches[i].ops);
		free(batches[i].data);
		free(batches[i].slots);
		batches[i] = (struct batch){0};
	}
	flying = NULL;
	done_fn = NULL;
}
