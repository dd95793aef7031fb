/* check_writer.c — unit tests for store/writer.c through store/store.h:
 * a dequeue before the hand-over cancels the enqueue (nothing written, the
 * batch done without the writer), one after it is written; a shared
 * message row goes with its last cancelled entry; batches grow while the
 * writer is busy; the done fd and store_poll report batches in order; a
 * failed batch is reported failed (the broker nacks on that) and the next
 * one is fresh; reads and store_close drain pending writes; a batch of
 * delivered entries ripens (an ack in flight takes its entry back) and
 * anything urgent or a drain hurries it; a huge batch gives its arrays
 * back as it comes back, not when next used. What is on disk is checked by
 * reopening and recovering. */
#include <check.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/store.h"
#include "tests/unit/heap.h"

static char dir[64];

static void open_store(void)
{
	char err[512] = "";
	if (store_open(dir, STORE_FULL, err, sizeof err) < 0)
		ck_abort_msg("store_open(%s): %s", dir, err);
}

/* ---- what batches are reported ---- */

#define MAXRES 64
static struct store_result res[MAXRES];
static int nres;

static void on_done(const struct store_result *r)
{
	ck_assert_int_lt(nres, MAXRES);
	res[nres++] = *r;
}

static uint64_t default_ripen_ns;

static void setup(void)
{
	if (!default_ripen_ns)
		default_ripen_ns = store_ripen_ns;
	store_ripen_ns = default_ripen_ns;
	snprintf(dir, sizeof dir, "/tmp/check-writer-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	store_fail_after = 0;
	nres = 0;
	open_store();
	store_on_done(on_done);
}

static void teardown(void)
{
	store_fail_after = 0;
	store_close();
	static const char *const files[] = {"tern.db", "tern.db-wal", "tern.db-shm"};
	char path[128];
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
		snprintf(path, sizeof path, "%s/%s", dir, files[i]);
		unlink(path);
	}
	rmdir(dir);
}

/* ---- recovery: the entries on disk as (qid, seq) pairs ---- */

static int nentries;
static uint64_t seqs[4096];
static uint32_t deliveries[4096];
static char bodies[4096][16];

static void *v_queue(void *ctx, int64_t qid, const char *vhost, struct bytes name, int flags,
		     struct bytes args)
{
	(void)ctx, (void)vhost, (void)name, (void)flags, (void)args;
	return (void *)(intptr_t)qid;
}

static bool v_entry(void *ctx, void *queue, const struct store_entry *e)
{
	(void)ctx, (void)queue;
	ck_assert_int_lt(nentries, 4096);
	seqs[nentries] = e->seq;
	deliveries[nentries] = e->deliveries;
	snprintf(bodies[nentries], sizeof bodies[0], "%.*s", (int)e->body.len,
		 (const char *)e->body.p);
	nentries++;
	return true;
}

static void v_exchange(void *ctx, const char *vhost, struct bytes name, const char *type,
		       int flags, struct bytes args)
{
	(void)ctx, (void)vhost, (void)name, (void)type, (void)flags, (void)args;
}

static void v_binding(void *ctx, const char *vhost, struct bytes source, bool to_queue,
		      struct bytes dest, struct bytes key, struct bytes args)
{
	(void)ctx, (void)vhost, (void)source, (void)to_queue, (void)dest, (void)key, (void)args;
}

/* Reopens the file and counts what recovery finds. */
static int stored_entries(void)
{
	store_close();
	open_store();
	store_on_done(on_done);
	nentries = 0;
	static const struct store_visitor v = {.exchange = v_exchange, .queue = v_queue,
					       .binding = v_binding, .entry = v_entry};
	ck_assert_int_eq(store_recover(&v, NULL), 0);
	return nentries;
}

#define B(s) ((struct bytes){(const uint8_t *)(s), sizeof(s) - 1})
static const struct bytes none = {(const uint8_t *)"", 0};

static int64_t new_queue(const char *name)
{
	int64_t q = store_put_queue("/", (struct bytes){(const uint8_t *)name, strlen(name)},
				    STORE_F_DURABLE, none);
	ck_assert_int_gt(q, 0);
	ck_assert_int_eq(store_commit(), 0);
	return q;
}

static int put(int64_t q, uint64_t seq, const char *body)
{
	return store_enqueue_inline(q, seq, 0, 0, none, B("k"), none, (const uint8_t *)body,
				    strlen(body));
}

/* ---- cancelling ---- */

START_TEST(dequeue_before_handover_cancels)
{
	int64_t q = new_queue("q");
	nres = 0;
	uint64_t b = store_batch();
	ck_assert_int_eq(put(q, 1, "one"), 0);
	ck_assert_int_eq(put(q, 2, "two"), 0);
	ck_assert_int_eq(store_dequeue(q, 1), 0);
	ck_assert(store_dirty());
	store_submit();
	/* The batch is reported as it is handed over, with one write left. */
	ck_assert_int_eq(store_commit(), 0);
	ck_assert_int_eq(nres, 1);
	ck_assert_uint_eq(res[0].batch, b);
	ck_assert(res[0].ok);
	ck_assert_uint_eq(res[0].writes, 1);
	ck_assert_int_eq(stored_entries(), 1);
	ck_assert_uint_eq(seqs[0], 2);
	ck_assert_str_eq(bodies[0], "two");
}
END_TEST

/* The caller learns whose uncommitted enqueue a dequeue took back (the
 * broker's confirm of a message acked before its batch was committed):
 * cancelled in the pending batch, or in the batch the writer has, which
 * is written all the same and deleted by the next one. */
START_TEST(cancel_returns_the_enqueue_tag)
{
	int64_t q = new_queue("q");
	store_tag(77);
	ck_assert_int_eq(put(q, 1, "tagged"), 0);
	store_tag(0);
	ck_assert_int_eq(put(q, 2, "untagged"), 0);
	ck_assert_int_eq(store_dequeue(q, 1), 0);
	ck_assert_uint_eq(store_last_uncommitted(), 77);
	ck_assert_int_eq(store_dequeue(q, 2), 0);
	ck_assert_uint_eq(store_last_uncommitted(), 0);
	store_tag(78);
	ck_assert_int_eq(put(q, 3, "handed over"), 0);
	ck_assert_int_eq(put(q, 4, "handed over too"), 0);
	store_tag(79);
	ck_assert_int_eq(put(q, 5, "committed"), 0);
	store_tag(0);
	store_submit(); /* the writer has 3, 4 and 5 now, until collected */
	ck_assert_int_eq(store_dequeue(q, 3), 0);
	ck_assert_uint_eq(store_last_uncommitted(), 78);
	ck_assert_int_eq(store_dequeue(q, 3), 0); /* found once only */
	ck_assert_uint_eq(store_last_uncommitted(), 0);
	ck_assert_int_eq(store_commit(), 0);
	ck_assert_int_eq(store_dequeue(q, 5), 0); /* its batch was collected */
	ck_assert_uint_eq(store_last_uncommitted(), 0);
	ck_assert_int_eq(store_commit(), 0);
	ck_assert_int_eq(stored_entries(), 1);
	ck_assert_uint_eq(seqs[0], 4);
	ck_assert_str_eq(bodies[0], "handed over too");
}
END_TEST

/* Inline enqueues go SQL_ROWS to a statement (sqlite.c): runs of every
 * length, broken by cancelled ones (skipped) and by other writes (which
 * keep their place: a delivery count set after a run finds its row), all
 * land with their own bodies. */
START_TEST(inline_runs_written_in_order)
{
	int64_t q = new_queue("q");
	char body[16];
	uint64_t seq = 0;
	for (int run = 1; run <= 40; run++) {
		for (int k = 0; k < run; k++) {
			seq++;
			snprintf(body, sizeof body, "m%llu", (unsigned long long)seq);
			ck_assert_int_eq(put(q, seq, body), 0);
		}
		if (run % 4 == 0) /* must run after the insert of the run's first */
			ck_assert_int_eq(store_set_deliveries(q, seq - (uint64_t)run + 1, 100 + run), 0);
		if (run % 3 == 0)
			ck_assert_int_eq(store_dequeue(q, seq - 1), 0); /* cancelled */
		if (run % 5 == 0) {
			store_submit(); /* the rest of the runs in another batch */
			ck_assert_int_eq(store_commit(), 0);
			ck_assert_int_eq(store_dequeue(q, seq), 0); /* written, now deleted */
		}
	}
	ck_assert_int_eq(store_commit(), 0);
	int n = stored_entries();
	int expect = 0;
	uint64_t s2 = 0;
	for (int run = 1; run <= 40; run++) {
		s2 += (uint64_t)run;
		expect += run - (run % 3 == 0) - (run % 5 == 0);
	}
	ck_assert_uint_eq(s2, seq);
	ck_assert_int_eq(n, expect);
	for (int i = 0; i < n; i++) {
		snprintf(body, sizeof body, "m%llu", (unsigned long long)seqs[i]);
		ck_assert_str_eq(bodies[i], body);
		/* the first of run r is seq r(r-1)/2 + 1 */
		uint32_t want = 0;
		for (int run = 4; run <= 40; run += 4)
			if (seqs[i] == (uint64_t)(run * (run - 1) / 2 + 1))
				want = 100 + (uint32_t)run;
		ck_assert_uint_eq(deliveries[i], want);
		if (i)
			ck_assert_uint_gt(seqs[i], seqs[i - 1]);
	}
}
END_TEST

START_TEST(all_cancelled_batch_done_without_writer)
{
	int64_t q = new_queue("q");
	nres = 0;
	uint64_t b = store_batch();
	for (uint64_t s = 1; s <= 1000; s++)
		ck_assert_int_eq(put(q, s, "x"), 0);
	for (uint64_t s = 1; s <= 1000; s++)
		ck_assert_int_eq(store_dequeue(q, s), 0);
	store_submit();
	/* Reported at once, from store_submit: no writer, no wait. */
	ck_assert_int_eq(nres, 1);
	ck_assert_uint_eq(res[0].batch, b);
	ck_assert(res[0].ok);
	ck_assert_uint_eq(res[0].writes, 0);
	ck_assert(!store_dirty());
	ck_assert_uint_eq(store_batch(), b + 1);
	ck_assert_int_eq(stored_entries(), 0);
}
END_TEST

/* A burst's last batch is the spare while the broker is quiet: it must
 * not keep the burst's arrays (160 bytes an op and the index) until the
 * next batch. Here it comes back at once, every write cancelled. */
START_TEST(huge_batch_gives_its_arrays_back)
{
	int64_t q = new_queue("q");
	nres = 0;
	size_t before = heap_in_use();
	enum { N = 100000 };
	for (uint64_t s = 1; s <= N; s++)
		ck_assert_int_eq(put(q, s, "x"), 0);
	size_t full = heap_in_use();
	ck_assert_uint_gt(full, before + (size_t)N * 100);
	for (uint64_t s = 1; s <= N; s++)
		ck_assert_int_eq(store_dequeue(q, s), 0);
	store_submit();
	ck_assert_int_eq(nres, 1);
	ck_assert_uint_eq(res[0].writes, 0);
	/* What a batch may keep (writer.c's KEEP_*) is under 3 MiB. */
	size_t after = heap_in_use();
	ck_assert_msg(after <= before + ((size_t)3 << 20), "heap %zu -> %zu -> %zu bytes", before,
		      full, after);
}
END_TEST

START_TEST(dequeue_after_handover_is_written)
{
	int64_t q = new_queue("q");
	ck_assert_int_eq(put(q, 1, "one"), 0);
	ck_assert_int_eq(put(q, 2, "two"), 0);
	store_submit(); /* the writer has them now: too late to cancel */
	ck_assert_int_eq(store_dequeue(q, 1), 0);
	ck_assert_int_eq(store_commit(), 0);
	ck_assert_int_eq(stored_entries(), 1);
	ck_assert_uint_eq(seqs[0], 2);
	/* and a dequeue of an entry committed long ago */
	ck_assert_int_eq(store_dequeue(q, 2), 0);
	ck_assert_int_eq(store_commit(), 0);
	ck_assert_int_eq(stored_entries(), 0);
}
END_TEST

/* A message shared by two queues: the row goes when its last entry of the
 * batch is cancelled, not before. */
START_TEST(shared_message_row_cancelled_with_last_entry)
{
	int64_t q1 = new_queue("q1"), q2 = new_queue("q2");
	nres = 0;
	uint64_t m = store_next_message_id();
	ck_assert_int_eq(store_put_message(m, none, B("k"), none, (const uint8_t *)"shared", 6), 0);
	ck_assert_int_eq(store_enqueue(q1, 1, m, 0, 0), 0);
	ck_assert_int_eq(store_enqueue(q2, 1, m, 0, 0), 0);
	ck_assert_int_eq(store_dequeue(q1, 1), 0);
	ck_assert_int_eq(store_del_message(m), 0); /* q2 still uses it */
	ck_assert_int_eq(store_commit(), 0);
	ck_assert_int_eq(nres, 1);
	/* the message and q2's entry */
	ck_assert_uint_eq(res[0].writes, 2);
	ck_assert_int_eq(stored_entries(), 1);
	ck_assert_str_eq(bodies[0], "shared");

	nres = 0;
	uint64_t m2 = store_next_message_id();
	ck_assert_int_eq(store_put_message(m2, none, B("k"), none, (const uint8_t *)"gone", 4), 0);
	ck_assert_int_eq(store_enqueue(q1, 2, m2, 0, 0), 0);
	ck_assert_int_eq(store_enqueue(q2, 2, m2, 0, 0), 0);
	ck_assert_int_eq(store_dequeue(q1, 2), 0);
	ck_assert_int_eq(store_del_message(m2), 0);
	ck_assert_int_eq(store_dequeue(q2, 2), 0);
	ck_assert_int_eq(store_del_message(m2), 0);
	ck_assert_int_eq(store_commit(), 0);
	ck_assert_int_eq(nres, 1);
	ck_assert_uint_eq(res[0].writes, 0);
	ck_assert_int_eq(stored_entries(), 1); /* the first message only */
}
END_TEST

/* ---- batches ---- */

START_TEST(batches_grow_while_writer_busy)
{
	int64_t q = new_queue("q");
	nres = 0;
	uint64_t b = store_batch();
	ck_assert_int_eq(put(q, 1, "a"), 0);
	store_submit();
	ck_assert_uint_eq(store_batch(), b + 1);
	/* Until the caller has collected batch b, nothing else is handed
	 * over, however often it asks: the next batch keeps growing. */
	for (uint64_t s = 2; s <= 100; s++) {
		ck_assert_int_eq(put(q, s, "b"), 0);
		store_submit();
		ck_assert_uint_eq(store_batch(), b + 1);
	}
	/* The done fd tells when b is written; store_poll reports it, and
	 * the next submit (the end of the caller's turn, never store_poll
	 * itself) hands the grown batch over. (The fd may also be readable
	 * from the commit new_queue drained: store_poll then finds nothing.) */
	for (int i = 0; i < 100 && nres == 0; i++) {
		struct pollfd p = {store_done_fd(), POLLIN, 0};
		ck_assert_int_eq(poll(&p, 1, 20000), 1);
		store_poll();
	}
	ck_assert_int_eq(nres, 1);
	ck_assert_uint_eq(res[0].batch, b);
	ck_assert_uint_eq(res[0].writes, 1);
	ck_assert_uint_eq(store_batch(), b + 1); /* still growing */
	store_submit();
	ck_assert_uint_eq(store_batch(), b + 2);
	ck_assert_int_eq(store_commit(), 0);
	ck_assert_int_eq(nres, 2);
	ck_assert_uint_eq(res[1].batch, b + 1);
	ck_assert_uint_eq(res[1].writes, 99);
	ck_assert_int_eq(stored_entries(), 100);
}
END_TEST

/* ---- failure ---- */

START_TEST(failed_batch_reported_and_rolled_back)
{
	int64_t q = new_queue("q");
	ck_assert_int_eq(put(q, 1, "kept"), 0);
	ck_assert_int_eq(store_commit(), 0);
	nres = 0;
	uint64_t b = store_batch();
	ck_assert_int_eq(put(q, 2, "lost"), 0);
	ck_assert_int_eq(store_dequeue(q, 1), 0);
	store_fail_after = 1; /* the hand-over fails the batch */
	store_submit();
	ck_assert_int_eq(nres, 1);
	ck_assert_uint_eq(res[0].batch, b);
	ck_assert(!res[0].ok);
	ck_assert_str_eq(store_error(), "injected failure");
	/* The next batch is a fresh one and commits. */
	ck_assert_int_eq(put(q, 3, "new"), 0);
	ck_assert_int_eq(store_commit(), 0);
	ck_assert_int_eq(nres, 2);
	ck_assert_uint_eq(res[1].batch, b + 1);
	ck_assert(res[1].ok);
	ck_assert_int_eq(stored_entries(), 2);
	ck_assert_str_eq(bodies[0], "kept");
	ck_assert_str_eq(bodies[1], "new");
}
END_TEST

/* A write refused within a batch fails the whole batch, also the writes
 * recorded before it, and those after it are refused. */
START_TEST(refused_write_fails_whole_batch)
{
	int64_t q = new_queue("q");
	nres = 0;
	ck_assert_int_eq(put(q, 1, "a"), 0);
	store_fail_after = 1;
	ck_assert_int_eq(put(q, 2, "b"), -1);
	ck_assert_int_eq(put(q, 3, "c"), -1);
	ck_assert_int_eq(store_dequeue(q, 1), -1);
	ck_assert_int_eq(store_commit(), -1);
	ck_assert_int_eq(nres, 1);
	ck_assert(!res[0].ok);
	ck_assert_int_eq(stored_entries(), 0);
}
END_TEST

/* ---- reads and close ---- */

static char got[64];

static void got_message(void *ctx, struct bytes exchange, struct bytes rkey, struct bytes props,
			struct bytes body)
{
	(void)ctx, (void)exchange, (void)rkey, (void)props;
	snprintf(got, sizeof got, "%.*s", (int)body.len, (const char *)body.p);
}

START_TEST(read_sees_pending_and_inflight_writes)
{
	int64_t q = new_queue("q");
	ck_assert_int_eq(put(q, 1, "in flight"), 0);
	store_submit();
	ck_assert_int_eq(put(q, 2, "pending"), 0);
	got[0] = '\0';
	ck_assert_int_eq(store_get_message(q, 1, 0, got_message, NULL), 0);
	ck_assert_str_eq(got, "in flight");
	ck_assert_int_eq(put(q, 3, "pending too"), 0);
	ck_assert_int_eq(store_get_message(q, 3, 0, got_message, NULL), 0);
	ck_assert_str_eq(got, "pending too");
	ck_assert(!store_dirty()); /* the read drained everything */
	ck_assert_int_eq(store_get_message(q, 9, 0, got_message, NULL), -1);
}
END_TEST

START_TEST(close_drains_writer)
{
	int64_t q = new_queue("q");
	char body[16];
	for (uint64_t s = 1; s <= 3000; s++) {
		snprintf(body, sizeof body, "%llu", (unsigned long long)s);
		ck_assert_int_eq(put(q, s, body), 0);
		if (s % 500 == 0)
			store_submit(); /* one batch with the writer, more pending */
	}
	/* No store_commit: store_close writes all of it first. */
	ck_assert_int_eq(stored_entries(), 3000);
	ck_assert_uint_eq(seqs[2999], 3000);
	ck_assert_str_eq(bodies[2999], "3000");
}
END_TEST

/* ---- ripening ---- */

#define RIPEN_FOREVER (60ull * 1000000000u) /* longer than any wait below */

/* Polls the done fd (20 s each) until n batches are reported. */
static void wait_reported(int n)
{
	for (int i = 0; i < 100 && nres < n; i++) {
		struct pollfd p = {store_done_fd(), POLLIN, 0};
		ck_assert_int_eq(poll(&p, 1, 20000), 1);
		store_poll();
	}
	ck_assert_int_ge(nres, n);
}

/* Delivered entries are acked while their batch ripens with the writer:
 * the acked one is taken back (neither it nor its delete is written) and
 * its publish learns it; the other is written when a drain hurries. */
START_TEST(delivered_entry_acked_in_flight_is_not_written)
{
	int64_t q = new_queue("q");
	store_ripen_ns = RIPEN_FOREVER;
	nres = 0;
	store_tag(5);
	ck_assert_int_eq(put(q, 1, "acked"), 0);
	store_tag(6);
	ck_assert_int_eq(put(q, 2, "kept"), 0);
	store_tag(0);
	store_delivered(q, 1);
	store_delivered(q, 2);
	store_submit();
	ck_assert_int_eq(nres, 0);
	ck_assert_int_eq(store_dequeue(q, 1), 0);
	ck_assert_uint_eq(store_last_uncommitted(), 5);
	ck_assert_int_eq(store_commit(), 0);
	ck_assert_int_eq(nres, 1); /* no second batch: no delete was recorded */
	ck_assert(res[0].ok);
	ck_assert_uint_eq(res[0].writes, 1);
	ck_assert_int_eq(stored_entries(), 1);
	ck_assert_uint_eq(seqs[0], 2);
	ck_assert_str_eq(bodies[0], "kept");
}
END_TEST

/* An entry nobody was given is waited on by its publisher: its batch
 * runs at once, delivered entries with it or not. */
START_TEST(undelivered_entry_runs_at_once)
{
	int64_t q = new_queue("q");
	store_ripen_ns = RIPEN_FOREVER;
	nres = 0;
	ck_assert_int_eq(put(q, 1, "delivered"), 0);
	ck_assert_int_eq(put(q, 2, "waiting"), 0);
	store_delivered(q, 1);
	store_submit();
	wait_reported(1);
	ck_assert_uint_eq(res[0].writes, 2);
	ck_assert_int_eq(stored_entries(), 2);
}
END_TEST

/* A ripening batch is hurried by an urgent write after it, and without
 * one it runs by itself when ripe. */
START_TEST(ripening_batch_hurried_or_ripe)
{
	int64_t q = new_queue("q");
	store_ripen_ns = RIPEN_FOREVER;
	nres = 0;
	ck_assert_int_eq(put(q, 1, "ripening"), 0);
	store_delivered(q, 1);
	store_submit();
	ck_assert_int_eq(put(q, 2, "urgent"), 0);
	store_submit(); /* cannot hand it over yet, but hurries batch 1 */
	wait_reported(1);
	ck_assert_uint_eq(res[0].writes, 1);
	store_ripen_ns = 10 * 1000000u;
	store_submit(); /* batch 2: urgent, at once */
	wait_reported(2);
	ck_assert_int_eq(put(q, 3, "ripe"), 0);
	store_delivered(q, 3);
	store_submit(); /* nothing hurries it: done when ripe */
	wait_reported(3);
	ck_assert_uint_eq(res[2].writes, 1);
	ck_assert_int_eq(stored_entries(), 3);
}
END_TEST

/* Whether a batch of one delivered entry ripens now: it does if it is
 * not reported within 100 ms (then a drain hurries it). The done fd may
 * still count an earlier batch, whose writer wrote it after the drain
 * that collected that batch: what store_poll reports decides. */
static bool next_batch_ripens(int64_t q, uint64_t seq)
{
	int before = nres;
	store_ripen_ns = RIPEN_FOREVER;
	ck_assert_int_eq(put(q, seq, "probe"), 0);
	store_delivered(q, seq);
	store_submit();
	for (int i = 0; i < 10 && nres == before; i++) {
		struct pollfd p = {store_done_fd(), POLLIN, 0};
		if (poll(&p, 1, 10) == 1)
			store_poll();
	}
	bool ripens = nres == before;
	ck_assert_int_eq(store_commit(), 0);
	ck_assert_int_eq(nres, before + 1);
	return ripens;
}

/* A batch that ripened its whole time with its entries claimed keeps
 * ripening on; one whose entries nobody acked in that time turns it off
 * (acks come later than the wait: it would only delay confirms), but not
 * a ripening batch that was hurried. */
START_TEST(ripening_stops_when_acks_come_later)
{
	int64_t q = new_queue("q");
	nres = 0;
	store_ripen_ns = 200 * 1000000u;
	ck_assert_int_eq(put(q, 1, "acked in time"), 0);
	store_delivered(q, 1);
	store_submit();
	ck_assert_int_eq(store_dequeue(q, 1), 0); /* claimed while it ripens */
	wait_reported(1);
	ck_assert_uint_eq(res[0].writes, 0);
	ck_assert(next_batch_ripens(q, 2)); /* hurried by the drain: not judged */
	ck_assert(next_batch_ripens(q, 3));
	store_ripen_ns = 10 * 1000000u;
	ck_assert_int_eq(put(q, 4, "never acked"), 0);
	store_delivered(q, 4);
	store_submit();
	wait_reported(nres + 1); /* ripe after 10 ms, nothing claimed */
	ck_assert(!next_batch_ripens(q, 5));
	ck_assert_int_eq(stored_entries(), 4);
}
END_TEST

static Suite *writer_suite(void)
{
	Suite *s = suite_create("writer");
	TCase *c = tcase_create("cancel");
	tcase_add_checked_fixture(c, setup, teardown);
	tcase_set_timeout(c, 60);
	tcase_add_test(c, dequeue_before_handover_cancels);
	tcase_add_test(c, cancel_returns_the_enqueue_tag);
	tcase_add_test(c, inline_runs_written_in_order);
	tcase_add_test(c, all_cancelled_batch_done_without_writer);
	tcase_add_test(c, huge_batch_gives_its_arrays_back);
	tcase_add_test(c, dequeue_after_handover_is_written);
	tcase_add_test(c, shared_message_row_cancelled_with_last_entry);
	suite_add_tcase(s, c);
	TCase *b = tcase_create("batches");
	tcase_add_checked_fixture(b, setup, teardown);
	tcase_set_timeout(b, 60);
	tcase_add_test(b, batches_grow_while_writer_busy);
	tcase_add_test(b, failed_batch_reported_and_rolled_back);
	tcase_add_test(b, refused_write_fails_whole_batch);
	tcase_add_test(b, read_sees_pending_and_inflight_writes);
	tcase_add_test(b, close_drains_writer);
	suite_add_tcase(s, b);
	TCase *r = tcase_create("ripening");
	tcase_add_checked_fixture(r, setup, teardown);
	tcase_set_timeout(r, 60);
	tcase_add_test(r, delivered_entry_acked_in_flight_is_not_written);
	tcase_add_test(r, undelivered_entry_runs_at_once);
	tcase_add_test(r, ripening_batch_hurried_or_ripe);
	tcase_add_test(r, ripening_stops_when_acks_come_later);
	suite_add_tcase(s, r);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(writer_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
