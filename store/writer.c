/* writer.c — store.h's calls on a writer thread: writes are recorded into
 * the pending batch (a copy of their arguments, writer_record.c) and
 * return at once; a batch is committed by the thread through sqlite.c
 * while the caller goes on recording the next one, so the event loop
 * never waits on SQLite or fsync, and a batch holds whatever came while
 * the one before it was being written: batches grow with load. This file
 * is the thread, the hand-over of batches and their results, the reads,
 * and open and close.
 *
 * Ripening: most persistent messages of a consumer that keeps up are
 * acked within a fraction of a millisecond of their delivery, often just
 * after their batch was handed over. So a batch with nothing urgent in
 * it (its entries delivered; acks' deletes, watermarks) is not run at
 * once: the writer waits store_ripen_ns first, and a dequeue meanwhile
 * claims its inline entry before the writer does (writer_claim), so
 * neither the entry nor its delete is written. A batch with anything a
 * publisher or a reply waits on (an entry not delivered, topology) runs
 * at once, and a drain, an urgent pending batch or a full one hurries a
 * ripening one. When acks come later than the ripening time, a ripened
 * batch finds few entries claimed, and ripening stops for a while
 * (RIPEN_BACKOFF_NS). In a cluster the batch is a log entry at the hand-over:
 * no ripening, no claims.
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

#include "store/replica.h"
#include "store/sqlite.h"
#include "store/writer.h"

int store_fail_after;
/* 1 ms: a consumer's ack comes 0.1-0.5 ms after its delivery here; a
 * confirm that does wait for the commit (its ack came later) waits at
 * most this much more. */
uint64_t store_ripen_ns = 1000000;
/* A batch that ripened its whole time and had fewer than half of its
 * entries claimed shows acks coming later than that (consumers that work
 * before they ack, or do not ack): waiting only delays its confirms, a
 * publisher that waits for each one runs at a third of its speed. So no
 * batch ripens for this long after one, then one tries again. */
#define RIPEN_BACKOFF_NS 100000000u
static uint64_t ripen_from_ns; /* no batch ripens before this */

static struct batch batches[2];
struct batch *writer_pend;      /* the loop records into it (writer.h) */
static struct batch *spare;     /* the other one, when the writer has none */
struct batch *writer_flying;    /* handed over, not yet taken back */
static char loop_error[256];    /* store_error()'s text, the caller's copy */
static void (*done_fn)(const struct store_result *);
static unsigned failures;       /* failed batches so far (store_commit) */

/* Shared with the writer thread, under mu. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake, idle; /* on CLOCK_MONOTONIC (store_open) */
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
	case OP_PURGE_Q: return sql_purge_queue(o->qid);
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
static int run_inline(struct batch *b, size_t *i)
{
	struct sql_inline rows[SQL_ROWS];
	size_t n = 0;
	for (; *i < b->nops && n < SQL_ROWS; ++*i) {
		struct op *o = &b->ops[*i];
		if (o->cancelled)
			continue;
		if (o->kind != OP_ENQ_INLINE)
			break;
		if (b->cancellable && !writer_claim(o, CLAIM_WRITER)) {
			b->skipped++; /* acked in flight: its delete was not recorded */
			continue;
		}
		rows[n++] = (struct sql_inline){o->qid, o->seq, (uint32_t)o->n, o->expires,
						str(b, o, 0), str(b, o, 1), str(b, o, 2),
						b->data + o->off[3], o->len[3]};
	}
	return n ? sql_enqueue_inline(rows, n) : 0;
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

/* Under mu: waits until the batch is ripe or hurried (b->ripen cleared). */
static void ripen(struct batch *b)
{
	uint64_t until = b->handed_ns + store_ripen_ns;
	struct timespec ts = {(time_t)(until / 1000000000u), (long)(until % 1000000000u)};
	while (b->ripen && !stopping)
		if (pthread_cond_timedwait(&wake, &mu, &ts) == ETIMEDOUT)
			break;
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
		ripen(b);
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

/* A batch's arrays keep their size from one batch to the next, up to
 * these: past them one huge batch (a burst of a million publishes without
 * confirms) would hold its peak for good, 160 bytes an op. They are freed
 * as the batch comes back (take), not when it is next used: the last big
 * batch of a burst stays the spare while the broker is quiet. Freed, they
 * grow again as the next batch needs. */
#define KEEP_OPS 8192u             /* 1.3 MiB */
#define KEEP_DATA ((size_t)1 << 20)
#define KEEP_SLOTS 16384u          /* 512 KiB */

/* p, or NULL (freed, *cap 0) when its capacity is over keep. */
static void *shrunk(void *p, size_t *cap, size_t keep)
{
	if (*cap <= keep)
		return p;
	free(p);
	*cap = 0;
	return NULL;
}

static void batch_reset(struct batch *b, uint64_t no)
{
	b->no = no;
	b->nops = b->live = b->used = 0;
	b->index_filled = 0; /* the index holds this batch's ops only */
	b->failed = false;
	b->error[0] = '\0';
	b->ns = 0;
	b->urgent = b->ripe = b->skipped = 0;
	b->ripen = b->cancellable = false;
}

/* A finished batch's result; the batch becomes the spare. */
static struct store_result take(struct batch *b)
{
	struct store_result r = {b->no, !b->failed, b->ns, b->live - b->skipped};
	/* b->ripen is still set when nothing hurried it: it waited its time. */
	if (b->ripen && b->skipped * 2 < b->ripe)
		ripen_from_ns = clock_ns() + RIPEN_BACKOFF_NS;
	if (b->failed) {
		failures++;
		copy_error(b->error);
	}
	b->ops = shrunk(b->ops, &b->cap, KEEP_OPS);
	b->data = shrunk(b->data, &b->data_cap, KEEP_DATA);
	b->slots = shrunk(b->slots, &b->index_cap, KEEP_SLOTS);
	spare = b;
	if (writer_flying == b)
		writer_flying = NULL;
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
	return writer_pend->nops == 0 && !writer_pend->failed;
}

/* The test hook: pretend the Nth call from now failed. */
bool writer_refused(void)
{
	struct batch *b = writer_pend;
	if (!b->failed && store_fail_after > 0 && --store_fail_after == 0) {
		snprintf(b->error, sizeof b->error, "injected failure");
		copy_error(b->error);
		b->failed = true;
	}
	return b->failed;
}

/* A pending batch this big waits for the writer instead of growing: the
 * back-pressure a synchronous commit used to give publishers that do not
 * wait for confirms (they are not read while the loop waits). */
#define BATCH_MAX_BYTES (64u << 20)
#define BATCH_MAX_OPS (1u << 20)

/* A ripening batch runs now: something waits on the writer. */
static void hurry(void)
{
	struct batch *b = writer_flying;
	if (!b || !b->ripen)
		return;
	pthread_mutex_lock(&mu);
	b->ripen = false;
	pthread_cond_signal(&wake);
	pthread_mutex_unlock(&mu);
}

void store_submit(void)
{
	if (!running || pending_empty())
		return;
	bool full = writer_pend->used > BATCH_MAX_BYTES || writer_pend->nops > BATCH_MAX_OPS;
	if (busy && (writer_pend->urgent || full))
		hurry();
	if (busy && full) {
		struct store_result r = take(collect(true));
		report(&r);
	}
	if (busy)
		return;
	(void)writer_refused(); /* the test hook counts the hand-over as a call */
	struct batch *b = writer_pend;
	writer_pend = spare;
	spare = NULL;
	batch_reset(writer_pend, b->no + 1);
	if (b->live == 0 || b->failed) {
		/* Everything in it was cancelled, or the hook refused it:
		 * done without the writer. */
		struct store_result r = take(b);
		report(&r);
		return;
	}
	writer_flying = b;
	b->cancellable = !replica_on();
	b->handed_ns = clock_ns();
	pthread_mutex_lock(&mu);
	b->ripen = b->cancellable && b->urgent == 0 && b->ripe > 0 && b->handed_ns >= ripen_from_ns;
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
			hurry();
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

/* What a quiet writer's cache may keep: a commit after the release reads
 * the few pages it needs again, from the system's file cache. */
#define KEEP_CACHE ((size_t)4 << 20)

bool store_release_idle(void)
{
	static uint64_t seen; /* the pending batch's number at the last call */
	/* In a cluster the apply thread shares the connection. */
	if (!running || replica_on())
		return false;
	bool quiet = !busy && pending_empty() && writer_pend->no == seen;
	seen = writer_pend->no;
	return quiet && sql_release_cache(KEEP_CACHE);
}

uint64_t store_batch(void)
{
	return running ? writer_pend->no : 0;
}

int store_done_fd(void)
{
	return efd;
}

void store_on_done(void (*fn)(const struct store_result *r))
{
	done_fn = fn;
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
	static bool conds;
	if (!conds) { /* ripening waits on the monotonic clock, as clock_ns */
		pthread_condattr_t a;
		pthread_condattr_init(&a);
		pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
		pthread_cond_init(&wake, &a);
		pthread_cond_init(&idle, &a);
		pthread_condattr_destroy(&a);
		conds = true;
	}
	efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (efd < 0) {
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		sql_close();
		return -1;
	}
	writer_pend = &batches[0];
	spare = &batches[1];
	batch_reset(writer_pend, 1);
	batch_reset(spare, 0);
	busy = stopping = false;
	job = done = NULL;
	ripen_from_ns = 0;
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
	writer_flying = NULL;
	done_fn = NULL;
}
