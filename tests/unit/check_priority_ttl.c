/* check_priority_ttl.c — unit tests for priority levels (broker/queue/queue.c)
 * and message TTL (broker/queue/queue_ttl.c): pop order by level then FIFO,
 * clamping to x-max-priority, 256 levels and the non-empty bitmap across
 * its words, requeue into level and place; expiry in the middle of a
 * level, x-message-ttl from the head, TTL 0, x-max-length drop-head. */
#include "tests/unit/broker_fixture.h"

#include "broker/queue/timer.h"
#include "protocol/table.h"

/* ---- fixture for the queue-only tests: the loop and the "/" vhost, no
 * connection. Queues are made with queue_new and owned by the test. ---- */

static uint64_t live0; /* message_live at the start */
static bool freed;     /* finish() already freed the server */

/* The loop also holds the signal events, so a blocking iteration with
 * nothing else due would not return: a guard event bounds each one. */
static struct event *guard;
static uint64_t rng_state;

static void on_guard(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

static void qsetup(void)
{
	config_defaults();
	log_level = LOG_ERROR;
	exchange_types_init();
	ck_assert_int_eq(server_init_loop(), 0); /* no store, no listeners */
	vhost_create("/");
	vh = vhost_find(bytes_of("/"));
	ck_assert_ptr_nonnull(vh);
	guard = evtimer_new(server_base, on_guard, NULL);
	live0 = message_live;
	freed = false;
	rng_state = 0x2545f4914f6cdd1dull;
}

static void qteardown(void)
{
	if (freed)
		return;
	event_free(guard);
	server_free();
}

/* Ends a test: runs the pending kicks, drops the test's reference, then
 * frees the server, whose timer_free() lets go of the references pending
 * expiry timers hold, and so of the queue. No message may be left. */
static void finish(struct queue *q)
{
	turn();
	queue_unref(q);
	event_free(guard);
	server_free();
	freed = true;
	ck_assert_uint_eq(message_live, live0);
}

static uint64_t rng(void)
{
	/* xorshift64: the same sequence every run */
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* One blocking loop iteration, returning after at most `ms`. */
static void loop_once(int ms)
{
	struct timeval tv = {0, ms * 1000};
	event_add(guard, &tv);
	event_base_loop(server_base, EVLOOP_ONCE);
	event_del(guard);
}

/* Integer declare arguments, written as the table's pairs without their
 * 4-octet length (what queue_new takes). */
struct arg {
	const char *key;
	int32_t v;
};

static struct queue *queue_args(const struct arg *a, size_t n)
{
	struct wbuf w = {0};
	size_t t = tw_begin(&w);
	for (size_t i = 0; i < n; i++) {
		tw_key(&w, a[i].key);
		tv_i32(&w, a[i].v);
	}
	tw_end(&w, t);
	struct queue *q = queue_new(vh, bytes_of("q"),
				    (struct bytes){w.p + t + 4, (uint32_t)(w.len - t - 4)});
	wb_free(&w);
	return q;
}

#define QUEUE(...)                                    \
	queue_args((const struct arg[]){__VA_ARGS__}, \
		   sizeof((const struct arg[]){__VA_ARGS__}) / sizeof(struct arg))

/* A queue without arguments: one level, no TTL, no limits. */
static struct queue *plain(void)
{
	return queue_new(vh, bytes_of("q"), (struct bytes){0});
}

/* A message whose routing key names n, with a body of `size` octets, a
 * priority, and an expiration in ms (none when exp < 0). refs = 1. */
static struct message *mk(int n, uint64_t size, uint8_t prio, int64_t exp)
{
	char key[16], ms[16];
	snprintf(key, sizeof key, "m%d", n);
	/* The expiration travels in the properties, as a client sends it. */
	struct amqp_props props = {0};
	if (exp >= 0) {
		snprintf(ms, sizeof ms, "%lld", (long long)exp);
		props.flags = PROP_EXPIRATION;
		props.expiration = bytes_of(ms);
	}
	struct wbuf w = {0};
	props_encode(&w, &props);
	struct message *m = message_new(bytes_of(""), bytes_of(key),
					(struct bytes){w.p, (uint32_t)w.len}, size, 0);
	wb_free(&w);
	memset(message_body(m), n & 0xff, (size_t)size);
	m->priority = prio;
	if (exp >= 0)
		m->flags |= MSG_EXPIRATION;
	return m;
}

/* Pushes a message; the queue holds the only reference. */
static struct message *push(struct queue *q, int n, uint64_t size, uint8_t prio, int64_t exp)
{
	struct message *m = mk(n, size, prio, exp);
	ck_assert(queue_push(q, m));
	message_unref(m);
	return m;
}

/* Pushes a message and keeps the caller's reference too, so that
 * refs > 1 says it is still in the queue; released with message_unref. */
static struct message *push_held(struct queue *q, int n, uint64_t size, uint8_t prio, int64_t exp)
{
	struct message *m = mk(n, size, prio, exp);
	ck_assert(queue_push(q, m));
	return m;
}

static bool in_queue(const struct message *m)
{
	return m->refs > 1;
}

/* The entry holding m (which must be in the queue). */
static struct qentry entry_of(const struct queue *q, const struct message *m)
{
	for (unsigned p = 0; p < q->nlv; p++)
		for (size_t i = 0; i < q->lv[p].len; i++)
			if (qring_get(&q->lv[p], i).m == m)
				return qring_get(&q->lv[p], i);
	ck_abort_msg("message not in the queue");
	return (struct qentry){0};
}

/* The invariants of the levels: the bitmap says which are non-empty,
 * each ring is in seq order and holds entries of its own level, and len
 * and ready_bytes add up. */
static void check_levels(const struct queue *q)
{
	size_t len = 0;
	uint64_t bytes = 0;
	for (unsigned p = 0; p < 256; p++) {
		bool bit = (q->nonempty[p / 64] >> (p % 64)) & 1;
		bool has = p < q->nlv && q->lv[p].len;
		if (bit != has)
			ck_abort_msg("level %u: bit %d, %zu entries", p, bit,
				     p < q->nlv ? q->lv[p].len : 0);
		if (p >= q->nlv)
			continue;
		const struct qring *r = &q->lv[p];
		/* Plain ifs: every ck_assert records a checkpoint, too slow in
		 * loops this size. */
		for (size_t i = 0; i < r->len; i++) {
			struct qentry e = qring_get(r, i);
			unsigned want = e.m->priority < q->nlv ? e.m->priority : q->nlv - 1u;
			if (e.priority != p || want != p)
				ck_abort_msg("level %u holds an entry of level %u", p, want);
			if (i && e.seq <= qring_seq(r, i - 1))
				ck_abort_msg("level %u: seq %llu after %llu", p,
					     (unsigned long long)e.seq,
					     (unsigned long long)qring_seq(r, i - 1));
			bytes += e.size;
		}
		len += r->len;
	}
	ck_assert_uint_eq(q->len, len);
	ck_assert_uint_eq(q->ready_bytes, bytes);
}

/* Pops the next entry, asserts it holds m and sits at `level`, and drops
 * the popped reference. */
static void expect_pop(struct queue *q, const struct message *m, unsigned level)
{
	struct qentry e;
	ck_assert(queue_pop(q, &e));
	ck_assert_msg(e.m == m, "popped %.*s, expected %.*s", e.m->rkey_len,
		      (const char *)message_rkey(e.m).p, m->rkey_len,
		      (const char *)message_rkey(m).p);
	ck_assert_uint_eq(e.priority, level);
	message_unref(e.m);
	check_levels(q);
}

static void expect_empty(struct queue *q)
{
	struct qentry e;
	ck_assert(!queue_pop(q, &e));
	ck_assert_uint_eq(q->len, 0);
	ck_assert_uint_eq(q->ready_bytes, 0);
	check_levels(q);
}

/* ---- priority levels ---- */

START_TEST(levels_from_max_priority)
{
	struct queue *q = QUEUE({"x-max-priority", 10});
	ck_assert_uint_eq(q->nlv, 11);
	queue_unref(q);
	q = QUEUE({"x-max-priority", 255});
	ck_assert_uint_eq(q->nlv, 256);
	queue_unref(q);
	q = QUEUE({"x-max-priority", 1000}); /* recovery trusts the store: clamped */
	ck_assert_uint_eq(q->nlv, 256);
	queue_unref(q);
	q = QUEUE({"x-max-priority", 0});
	ck_assert_uint_eq(q->nlv, 1);
	queue_unref(q);
	/* Without x-max-priority the queue is plain FIFO, whatever the
	 * messages' priorities. */
	q = plain();
	ck_assert_uint_eq(q->nlv, 1);
	struct message *m9 = push(q, 0, 1, 9, -1), *m0 = push(q, 1, 1, 0, -1),
		       *m5 = push(q, 2, 1, 5, -1);
	expect_pop(q, m9, 0);
	expect_pop(q, m0, 0);
	expect_pop(q, m5, 0);
	expect_empty(q);
	finish(q);
}
END_TEST

/* Highest level first, FIFO within a level. */
START_TEST(pop_order_level_then_fifo)
{
	enum { N = 300 };
	struct queue *q = QUEUE({"x-max-priority", 10});
	struct message *ms[N];
	uint8_t pr[N];
	uint64_t bytes = 0;
	for (int i = 0; i < N; i++) {
		pr[i] = (uint8_t)(rng() % 11);
		ms[i] = push(q, i, 1 + (uint64_t)i % 7, pr[i], -1);
		bytes += 1 + (uint64_t)i % 7;
	}
	ck_assert_uint_eq(q->len, N);
	ck_assert_uint_eq(q->ready_bytes, bytes);
	check_levels(q);
	for (int p = 10; p >= 0; p--)
		for (int i = 0; i < N; i++)
			if (pr[i] == p)
				expect_pop(q, ms[i], (unsigned)p);
	expect_empty(q);
	finish(q);
}
END_TEST

/* A priority above x-max-priority counts as the maximum: those messages
 * share the top level, in arrival order. */
START_TEST(above_max_counts_as_max)
{
	struct queue *q = QUEUE({"x-max-priority", 5});
	static const uint8_t prio[7] = {9, 5, 255, 3, 6, 0, 5};
	struct message *ms[7];
	for (int i = 0; i < 7; i++)
		ms[i] = push(q, i, 1, prio[i], -1);
	ck_assert_uint_eq(q->lv[5].len, 5);
	check_levels(q);
	static const int order[7] = {0, 1, 2, 4, 6, 3, 5};
	static const unsigned level[7] = {5, 5, 5, 5, 5, 3, 0};
	for (int k = 0; k < 7; k++)
		expect_pop(q, ms[order[k]], level[k]);
	expect_empty(q);
	finish(q);
}
END_TEST

/* 256 levels, two messages each, pushed level by level in a shuffled
 * order: they come out 255..0, first before second. */
START_TEST(all_255_levels)
{
	struct queue *q = QUEUE({"x-max-priority", 255});
	ck_assert_uint_eq(q->nlv, 256);
	int perm[256];
	for (int i = 0; i < 256; i++)
		perm[i] = i;
	struct message *first[256], *second[256];
	for (int round = 0; round < 2; round++) {
		for (int i = 255; i > 0; i--) { /* Fisher-Yates */
			int j = (int)(rng() % (uint64_t)(i + 1)), t = perm[i];
			perm[i] = perm[j];
			perm[j] = t;
		}
		for (int i = 0; i < 256; i++) {
			int p = perm[i];
			struct message *m = push(q, round * 256 + p, 2, (uint8_t)p, -1);
			(round ? second : first)[p] = m;
		}
	}
	check_levels(q);
	for (int w = 0; w < 4; w++)
		ck_assert_uint_eq(q->nonempty[w], UINT64_MAX);
	for (int p = 255; p >= 0; p--) {
		expect_pop(q, first[p], (unsigned)p);
		expect_pop(q, second[p], (unsigned)p);
	}
	expect_empty(q);
	for (int w = 0; w < 4; w++)
		ck_assert_uint_eq(q->nonempty[w], 0);
	finish(q);
}
END_TEST

/* The bitmap's edge bits: levels 0, 63, 64, 127, 128 and 255 sit at
 * the ends of its four words. */
START_TEST(bitmap_word_boundaries)
{
	struct queue *q = QUEUE({"x-max-priority", 255});
	static const uint8_t lv[6] = {64, 0, 255, 127, 63, 128};
	struct message *ms[256] = {0}, *extra64, *extra128;
	for (int i = 0; i < 6; i++)
		ms[lv[i]] = push(q, lv[i], 1, lv[i], -1);
	extra64 = push(q, 1064, 1, 64, -1);
	extra128 = push(q, 1128, 1, 128, -1);
	ck_assert_uint_eq(q->nonempty[0], 1ull | 1ull << 63);
	ck_assert_uint_eq(q->nonempty[1], 1ull | 1ull << 63);
	ck_assert_uint_eq(q->nonempty[2], 1ull);
	ck_assert_uint_eq(q->nonempty[3], 1ull << 63);
	check_levels(q);
	expect_pop(q, ms[255], 255);
	ck_assert_uint_eq(q->nonempty[3], 0);
	expect_pop(q, ms[128], 128);
	ck_assert_uint_eq(q->nonempty[2], 1ull); /* extra128 still there */
	expect_pop(q, extra128, 128);
	ck_assert_uint_eq(q->nonempty[2], 0);
	expect_pop(q, ms[127], 127);
	ck_assert_uint_eq(q->nonempty[1], 1ull);
	/* A push into a word already emptied comes first again. */
	struct message *again = push(q, 2255, 1, 255, -1);
	expect_pop(q, again, 255);
	expect_pop(q, ms[64], 64);
	expect_pop(q, extra64, 64);
	ck_assert_uint_eq(q->nonempty[1], 0);
	expect_pop(q, ms[63], 63);
	ck_assert_uint_eq(q->nonempty[0], 1ull);
	expect_pop(q, ms[0], 0);
	expect_empty(q);
	for (int w = 0; w < 4; w++)
		ck_assert_uint_eq(q->nonempty[w], 0);
	finish(q);
}
END_TEST

/* Requeued entries go back to their own level, at their original place
 * (setting the level's bit again once it had emptied). */
START_TEST(requeue_level_and_position)
{
	struct queue *q = QUEUE({"x-max-priority", 9});
	struct message *a1 = push(q, 1, 10, 2, -1), *b = push(q, 2, 20, 7, -1),
		       *a2 = push(q, 3, 30, 2, -1), *c7 = push(q, 4, 40, 7, -1),
		       *a3 = push(q, 5, 50, 2, -1), *d = push(q, 6, 60, 0, -1);
	struct qentry eb, ec, ea1, ea2;
	ck_assert(queue_pop(q, &eb) && eb.m == b);
	ck_assert(queue_pop(q, &ec) && ec.m == c7);
	ck_assert(queue_pop(q, &ea1) && ea1.m == a1);
	ck_assert(queue_pop(q, &ea2) && ea2.m == a2);
	ck_assert_uint_eq(q->nonempty[0] >> 7 & 1, 0); /* level 7 emptied */
	ck_assert_uint_eq(q->ready_bytes, 110);
	check_levels(q);
	queue_requeue(q, ea2);
	queue_requeue(q, ec);
	queue_requeue(q, ea1);
	check_levels(q);
	ck_assert_uint_eq(q->ready_bytes, 110 + 30 + 40 + 10);
	queue_requeue(q, eb);
	ck_assert_uint_eq(q->lv[7].len, 2);
	ck_assert_uint_eq(q->lv[2].len, 3);
	ck_assert_uint_eq(q->ready_bytes, 210);
	expect_pop(q, b, 7);
	expect_pop(q, c7, 7);
	expect_pop(q, a1, 2);
	expect_pop(q, a2, 2);
	expect_pop(q, a3, 2);
	expect_pop(q, d, 0);
	expect_empty(q);
	finish(q);
}
END_TEST

/* Pushes (with priorities above the maximum too), pops and requeues at
 * random, checked against a model: the next pop is the lowest seq of
 * the highest non-empty level. */
START_TEST(random_against_model)
{
	enum { NMSG = 3000, STEPS = 12000, MAXP = 7 };
	struct queue *q = QUEUE({"x-max-priority", MAXP});
	static uint8_t level_of[NMSG + 1];
	static bool ready[NMSG + 1];
	struct qentry held[32];
	size_t nheld = 0, nready = 0;
	uint64_t pushed = 0;
	for (int step = 0; step < STEPS; step++) {
		uint32_t r = (uint32_t)(rng() % 100);
		if (r < 40 && pushed < NMSG) {
			uint8_t p = (uint8_t)(rng() % 12);
			push(q, (int)pushed, p, p, -1);
			pushed++;
			level_of[pushed] = p > MAXP ? MAXP : p;
			ready[pushed] = true;
			nready++;
		} else if (r < 80) {
			struct qentry e;
			bool got_one = queue_pop(q, &e);
			ck_assert_int_eq(got_one, nready > 0);
			if (!got_one)
				continue;
			uint64_t want = 0;
			for (uint64_t s = 1; s <= pushed; s++)
				if (ready[s] && (!want || level_of[s] > level_of[want]))
					want = s;
			if (e.seq != want)
				ck_abort_msg("step %d: popped seq %llu, expected %llu", step,
					     (unsigned long long)e.seq, (unsigned long long)want);
			ck_assert_uint_eq(e.priority, level_of[want]);
			ready[want] = false;
			nready--;
			if (nheld < 32)
				held[nheld++] = e;
			else
				message_unref(e.m);
		} else if (nheld) {
			size_t k = rng() % nheld;
			struct qentry e = held[k];
			held[k] = held[--nheld];
			queue_requeue(q, e);
			ready[e.seq] = true;
			nready++;
		}
		ck_assert_uint_eq(q->len, nready);
		if (step % 97 == 0)
			check_levels(q);
	}
	ck_assert_uint_gt(pushed, 1000);
	while (nheld)
		queue_requeue(q, held[--nheld]);
	check_levels(q);
	finish(q);
}
END_TEST

/* ---- TTL ---- */

/* Runs the loop until every message in `gone` has left the queue, for at
 * most limit_ms. At each look: a message that left had its time up, and
 * none of `stay` has left. */
static void run_until_gone(struct queue *q, struct message **gone, const uint64_t *expires,
			   int ngone, struct message **stay, int nstay, uint64_t limit_ms)
{
	uint64_t stop = now_ms() + limit_ms;
	for (;;) {
		int left = 0;
		uint64_t now = now_ms();
		for (int i = 0; i < ngone; i++) {
			if (in_queue(gone[i]))
				left++;
			else if (now <= expires[i])
				ck_abort_msg("message %d left at %llu, due after %llu", i,
					     (unsigned long long)now,
					     (unsigned long long)expires[i]);
		}
		for (int i = 0; i < nstay; i++)
			ck_assert_msg(in_queue(stay[i]), "message %d to stay has left", i);
		check_levels(q);
		if (!left || now >= stop)
			break;
		loop_once(5);
	}
	for (int i = 0; i < ngone; i++)
		ck_assert_msg(!in_queue(gone[i]), "message %d still queued", i);
}

static void unref_all(struct message **ms, int n)
{
	for (int i = 0; i < n; i++)
		message_unref(ms[i]);
}

/* A short per-message expiration in the middle of the queue, behind
 * long-lived messages (and one without expiration): it alone leaves, when
 * its time is up; the others keep their order. */
START_TEST(expiration_in_the_middle)
{
	struct queue *q = plain();
	uint64_t before = now_ms();
	struct message *l1 = push_held(q, 1, 100, 0, 60000), *l2 = push_held(q, 2, 200, 0, 60000),
		       *s = push_held(q, 3, 7, 0, 20), *l3 = push_held(q, 4, 300, 0, 60000),
		       *n = push_held(q, 5, 400, 0, -1);
	uint64_t after = now_ms();
	uint64_t exp_s = entry_of(q, s).expires;
	ck_assert_uint_ge(exp_s, before + 20);
	ck_assert_uint_le(exp_s, after + 20);
	ck_assert_uint_eq(entry_of(q, n).expires, 0);
	ck_assert_uint_eq(q->ready_bytes, 1007);
	/* A pass before its time leaves it alone. */
	loop_once(0);
	if (now_ms() <= exp_s)
		ck_assert(in_queue(s));
	struct message *stay[4] = {l1, l2, l3, n};
	run_until_gone(q, &s, &exp_s, 1, stay, 4, 1000);
	ck_assert_uint_eq(q->len, 4);
	ck_assert_uint_eq(q->ready_bytes, 1000);
	ck_assert_uint_eq(s->refs, 1); /* only the test's */
	ck_assert_uint_eq(message_live, live0 + 5);
	for (int i = 0; i < 4; i++)
		expect_pop(q, stay[i], 0);
	expect_empty(q);
	unref_all(stay, 4);
	message_unref(s);
	finish(q);
}
END_TEST

/* The same with x-message-ttl, which is longer, and priorities: two short
 * expirations inside level 200 leave each at its own time, and one alone
 * in level 7 takes its bit with it. */
START_TEST(expiration_in_the_middle_of_levels)
{
	struct queue *q = QUEUE({"x-message-ttl", 60000}, {"x-max-priority", 255});
	struct message *l1 = push_held(q, 1, 1, 200, -1), *s1 = push_held(q, 2, 10, 200, 20),
		       *l2 = push_held(q, 3, 1, 200, -1), *s2 = push_held(q, 4, 20, 200, 60),
		       *l3 = push_held(q, 5, 1, 200, 90000), *s3 = push_held(q, 6, 30, 7, 20),
		       *l4 = push_held(q, 7, 1, 0, -1);
	/* Its own 90 s is longer than the queue's 60 s: the queue's counts. */
	ck_assert_uint_lt(entry_of(q, l3).expires, now_ms() + 60000 + 1);
	ck_assert_uint_eq(q->ready_bytes, 64);
	struct message *gone[3] = {s1, s3, s2};
	uint64_t exp[3] = {entry_of(q, s1).expires, entry_of(q, s3).expires,
			   entry_of(q, s2).expires};
	struct message *stay[4] = {l1, l2, l3, l4};
	/* s1 and s3 first: s2 is due 40 ms later. */
	run_until_gone(q, gone, exp, 2, stay, 4, 1000);
	if (now_ms() <= exp[2])
		ck_assert(in_queue(s2));
	ck_assert_uint_eq(q->nonempty[0] >> 7 & 1, 0);
	run_until_gone(q, gone, exp, 3, stay, 4, 1000);
	ck_assert_uint_eq(q->len, 4);
	ck_assert_uint_eq(q->ready_bytes, 4);
	expect_pop(q, l1, 200);
	expect_pop(q, l2, 200);
	expect_pop(q, l3, 200);
	expect_pop(q, l4, 0);
	expect_empty(q);
	unref_all(stay, 4);
	unref_all(gone, 3);
	finish(q);
}
END_TEST

/* x-message-ttl: messages leave from the head, oldest first; one pushed
 * later stays until its own time. */
START_TEST(queue_ttl_from_head)
{
	struct queue *q = QUEUE({"x-message-ttl", 40});
	struct message *a = push_held(q, 1, 5, 0, -1), *b = push_held(q, 2, 6, 0, -1);
	uint64_t exp_a = entry_of(q, a).expires, exp_b = entry_of(q, b).expires;
	while (now_ms() < exp_b - 20) {
		loop_once(2);
		if (now_ms() <= exp_a)
			ck_assert(in_queue(a) && in_queue(b));
	}
	struct message *c3 = push_held(q, 3, 7, 0, -1);
	uint64_t exp_c = entry_of(q, c3).expires;
	ck_assert_uint_ge(exp_c, exp_b + 20);
	ck_assert_uint_eq(q->ready_bytes, 18);
	uint64_t stop = exp_c + 1000;
	while (in_queue(c3) && now_ms() < stop) {
		loop_once(5);
		uint64_t now = now_ms();
		/* Never out of order, never early. */
		if (!in_queue(b))
			ck_assert(!in_queue(a));
		if (!in_queue(c3))
			ck_assert(!in_queue(b));
		if (!in_queue(a))
			ck_assert_uint_gt(now, exp_a);
		if (!in_queue(b))
			ck_assert_uint_gt(now, exp_b);
		if (!in_queue(c3))
			ck_assert_uint_gt(now, exp_c);
		check_levels(q);
		if (!in_queue(a) && !in_queue(b) && in_queue(c3))
			ck_assert_uint_eq(q->ready_bytes, 7);
	}
	ck_assert(!in_queue(c3));
	expect_empty(q);
	struct message *all[3] = {a, b, c3};
	unref_all(all, 3);
	finish(q);
}
END_TEST

/* TTL 0 (QE_NOW) from the message: with no consumer, the next pass drops
 * it, even in the middle of the queue. */
START_TEST(ttl_zero_expires_without_consumer)
{
	struct queue *q = plain();
	struct message *n1 = push_held(q, 1, 1, 0, -1), *x = push_held(q, 2, 9, 0, 0),
		       *n2 = push_held(q, 3, 1, 0, -1);
	ck_assert(entry_of(q, x).flags & QE_NOW);
	uint64_t exp_x = entry_of(q, x).expires - 1; /* may leave at its own ms */
	struct message *stay[2] = {n1, n2};
	run_until_gone(q, &x, &exp_x, 1, stay, 2, 500);
	ck_assert_uint_eq(q->ready_bytes, 2);
	expect_pop(q, n1, 0);
	expect_pop(q, n2, 0);
	expect_empty(q);
	struct message *all[3] = {n1, x, n2};
	unref_all(all, 3);
	finish(q);
}
END_TEST

/* x-message-ttl 0 makes every message TTL 0. */
START_TEST(queue_ttl_zero_expires_without_consumer)
{
	struct queue *q = QUEUE({"x-message-ttl", 0});
	struct message *a = push_held(q, 4, 3, 0, -1), *b = push_held(q, 5, 4, 0, 60000);
	ck_assert(entry_of(q, a).flags & QE_NOW);
	ck_assert(entry_of(q, b).flags & QE_NOW); /* the shorter TTL wins */
	struct message *gone[2] = {a, b};
	uint64_t exp[2] = {entry_of(q, a).expires - 1, entry_of(q, b).expires - 1};
	run_until_gone(q, gone, exp, 2, NULL, 0, 500);
	expect_empty(q);
	unref_all(gone, 2);
	finish(q);
}
END_TEST

/* queue_pop is what hands an entry to a ready consumer: it delivers a
 * TTL-0 entry even after its millisecond has passed, where an entry with
 * a TTL of 1 ms is dropped as expired. */
START_TEST(ttl_zero_delivered_by_pop)
{
	struct queue *q = plain();
	struct message *x = push(q, 1, 5, 0, 0);
	struct message *y = push_held(q, 2, 6, 0, 1);
	struct message *z = push(q, 3, 7, 0, 0);
	uint64_t exp_y = entry_of(q, y).expires;
	while (now_ms() <= exp_y + 1)
		usleep(500); /* time passes, but no loop pass runs */
	ck_assert_uint_eq(q->len, 3);
	struct qentry e;
	ck_assert(queue_pop(q, &e));
	ck_assert_ptr_eq(e.m, x);
	ck_assert(e.flags & QE_NOW);
	message_unref(e.m);
	ck_assert(queue_pop(q, &e)); /* y is skipped, dropped as expired */
	ck_assert_ptr_eq(e.m, z);
	ck_assert(!in_queue(y));
	message_unref(e.m);
	expect_empty(q);
	message_unref(y);
	/* The timers armed for them find nothing to do. */
	for (int i = 0; i < 3; i++)
		loop_once(2);
	expect_empty(q);
	finish(q);
}
END_TEST

/* ---- length limits ---- */

/* x-max-length, drop-head: the oldest make room, ready_bytes follows. */
START_TEST(max_length_drops_head)
{
	struct queue *q = QUEUE({"x-max-length", 3});
	struct message *ms[6];
	for (int i = 0; i < 6; i++) {
		ms[i] = push_held(q, i, 10 * ((uint64_t)i + 1), 0, -1);
		ck_assert_uint_eq(q->len, i < 3 ? (size_t)i + 1 : 3);
		for (int k = 0; k <= i; k++)
			ck_assert_int_eq(in_queue(ms[k]), k > i - 3);
		check_levels(q);
	}
	ck_assert_uint_eq(q->ready_bytes, 40 + 50 + 60);
	ck_assert_uint_eq(message_live, live0 + 6);
	unref_all(ms, 3);
	ck_assert_uint_eq(message_live, live0 + 3); /* the dropped ones are gone */
	for (int i = 3; i < 6; i++)
		expect_pop(q, ms[i], 0);
	expect_empty(q);
	unref_all(ms + 3, 3);
	finish(q);
}
END_TEST

START_TEST(max_length_bytes_drops_head)
{
	struct queue *q = QUEUE({"x-max-length-bytes", 100});
	struct message *a = push_held(q, 1, 40, 0, -1), *b = push_held(q, 2, 40, 0, -1),
		       *c3 = push_held(q, 3, 40, 0, -1);
	ck_assert(!in_queue(a) && in_queue(b) && in_queue(c3));
	ck_assert_uint_eq(q->ready_bytes, 80);
	struct message *d = push_held(q, 4, 100, 0, -1);
	ck_assert(!in_queue(b) && !in_queue(c3) && in_queue(d));
	ck_assert_uint_eq(q->ready_bytes, 100);
	struct message *e = push_held(q, 5, 1, 0, -1);
	ck_assert(!in_queue(d) && in_queue(e));
	ck_assert_uint_eq(q->ready_bytes, 1);
	check_levels(q);
	struct message *all[5] = {a, b, c3, d, e};
	unref_all(all, 5);
	finish(q);
}
END_TEST

/* A message dropped for length while its expiry is pending: the timer
 * comes up later and must leave the others alone (lazy deletion). */
START_TEST(dropped_head_then_its_expiry)
{
	struct queue *q = QUEUE({"x-max-length", 2});
	struct message *e = push_held(q, 1, 5, 0, 20);
	uint64_t exp_e = entry_of(q, e).expires;
	struct message *k1 = push_held(q, 2, 6, 0, -1), *k2 = push_held(q, 3, 7, 0, 60000);
	ck_assert(!in_queue(e));
	ck_assert_uint_eq(q->ready_bytes, 13);
	while (now_ms() <= exp_e + 5)
		loop_once(5);
	ck_assert(in_queue(k1) && in_queue(k2));
	ck_assert_uint_eq(q->ready_bytes, 13);
	expect_pop(q, k1, 0);
	expect_pop(q, k2, 0);
	expect_empty(q);
	struct message *all[3] = {e, k1, k2};
	unref_all(all, 3);
	finish(q);
}
END_TEST

/* ---- TTL and requeue ---- */

/* Requeued before its time, an entry in the middle still leaves at it. */
START_TEST(requeued_before_deadline_expires_in_place)
{
	struct queue *q = plain();
	struct message *l1 = push_held(q, 1, 1, 0, -1), *s = push_held(q, 2, 2, 0, 30),
		       *l2 = push_held(q, 3, 3, 0, -1);
	uint64_t exp_s = entry_of(q, s).expires;
	struct qentry e1, es;
	ck_assert(queue_pop(q, &e1) && e1.m == l1);
	ck_assert(queue_pop(q, &es) && es.m == s);
	queue_requeue(q, e1);
	queue_requeue(q, es);
	ck_assert(now_ms() < exp_s); /* 30 ms have not passed */
	struct message *stay[2] = {l1, l2};
	run_until_gone(q, &s, &exp_s, 1, stay, 2, 1000);
	expect_pop(q, l1, 0);
	expect_pop(q, l2, 0);
	expect_empty(q);
	struct message *all[3] = {l1, s, l2};
	unref_all(all, 3);
	finish(q);
}
END_TEST

/* Requeued after its time came while it was out (delivered, unacked):
 * in the middle of the queue, it must still leave. */
START_TEST(requeued_after_deadline_expires)
{
	struct queue *q = plain();
	struct message *l1 = push_held(q, 1, 1, 0, -1), *s = push_held(q, 2, 2, 0, 20),
		       *l2 = push_held(q, 3, 3, 0, -1);
	uint64_t exp_s = entry_of(q, s).expires;
	struct qentry e1, es;
	ck_assert(queue_pop(q, &e1) && e1.m == l1);
	ck_assert(queue_pop(q, &es) && es.m == s);
	while (now_ms() <= exp_s + 5) /* its timer comes up: nothing to find */
		loop_once(5);
	queue_requeue(q, e1);
	queue_requeue(q, es);
	struct message *stay[2] = {l1, l2};
	run_until_gone(q, &s, &exp_s, 1, stay, 2, 500);
	ck_assert_uint_eq(q->len, 2);
	ck_assert_uint_eq(q->ready_bytes, 4);
	expect_pop(q, l1, 0);
	expect_pop(q, l2, 0);
	expect_empty(q);
	struct message *all[3] = {l1, s, l2};
	unref_all(all, 3);
	finish(q);
}
END_TEST

/* The same with x-message-ttl: the queue is otherwise empty, so no timer
 * is pending when the entry comes back past its time. */
START_TEST(requeued_after_queue_ttl_expires)
{
	struct queue *q = QUEUE({"x-message-ttl", 20});
	struct message *a = push_held(q, 1, 5, 0, -1);
	uint64_t exp_a = entry_of(q, a).expires;
	struct qentry ea;
	ck_assert(queue_pop(q, &ea) && ea.m == a);
	while (now_ms() <= exp_a + 5)
		loop_once(5);
	queue_requeue(q, ea);
	ck_assert_uint_eq(q->len, 1);
	run_until_gone(q, &a, &exp_a, 1, NULL, 0, 500);
	expect_empty(q);
	message_unref(a);
	finish(q);
}
END_TEST

/* ---- TTL 0 and a consumer on a channel ---- */

/* With a consumer ready, the end-of-turn delivery hands a TTL-0 message
 * over before its timer drops it; with none, the timer drops it. */
START_TEST(ttl_zero_reaches_ready_consumer)
{
	struct queue *q = declare("q");
	struct queue *idle = declare("idle");
	struct channel *ch = open_chan(1);
	consume(ch, q, "a", true);
	/* "m1" with the expiration property "0" */
	struct amqp_props props = {.flags = PROP_EXPIRATION, .expiration = bytes_of("0")};
	struct wbuf w = {0};
	props_encode(&w, &props);
	struct message *m = message_new(bytes_of(""), bytes_of("m1"),
					(struct bytes){w.p, (uint32_t)w.len}, 2, 0);
	wb_free(&w);
	memcpy(message_body(m), "m1", 2);
	m->flags |= MSG_EXPIRATION;
	queue_push(q, m);
	queue_push(idle, m);
	message_unref(m);
	ck_assert_int_eq(got(), 1);
	ck_assert_uint_eq(outs[0].id, AMQP_BASIC_DELIVER);
	ck_assert_str_eq(outs[0].body, "m1");
	ck_assert_uint_eq(q->len, 0);
	uint64_t stop = now_ms() + 500;
	while (idle->len && now_ms() < stop)
		turn();
	ck_assert_uint_eq(idle->len, 0);
	ck_assert_uint_eq(idle->ready_bytes, 0);
	down();
	ck_assert_uint_eq(message_live, 0);
}
END_TEST

static Suite *priority_ttl_suite(void)
{
	Suite *s = suite_create("priority_ttl");
	TCase *p = tcase_create("priority");
	tcase_add_checked_fixture(p, qsetup, qteardown);
	tcase_add_test(p, levels_from_max_priority);
	tcase_add_test(p, pop_order_level_then_fifo);
	tcase_add_test(p, above_max_counts_as_max);
	tcase_add_test(p, all_255_levels);
	tcase_add_test(p, bitmap_word_boundaries);
	tcase_add_test(p, requeue_level_and_position);
	tcase_add_test(p, random_against_model);
	suite_add_tcase(s, p);

	TCase *t = tcase_create("ttl");
	tcase_add_checked_fixture(t, qsetup, qteardown);
	tcase_add_test(t, expiration_in_the_middle);
	tcase_add_test(t, expiration_in_the_middle_of_levels);
	tcase_add_test(t, queue_ttl_from_head);
	tcase_add_test(t, ttl_zero_expires_without_consumer);
	tcase_add_test(t, queue_ttl_zero_expires_without_consumer);
	tcase_add_test(t, ttl_zero_delivered_by_pop);
	tcase_add_test(t, requeued_before_deadline_expires_in_place);
	tcase_add_test(t, requeued_after_deadline_expires);
	tcase_add_test(t, requeued_after_queue_ttl_expires);
	suite_add_tcase(s, t);

	TCase *l = tcase_create("length");
	tcase_add_checked_fixture(l, qsetup, qteardown);
	tcase_add_test(l, max_length_drops_head);
	tcase_add_test(l, max_length_bytes_drops_head);
	tcase_add_test(l, dropped_head_then_its_expiry);
	suite_add_tcase(s, l);

	TCase *tc = tcase_create("consumer");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, ttl_zero_reaches_ready_consumer);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(priority_ttl_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
