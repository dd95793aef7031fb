/* queue_fixture.h — shared by the queue-only unit tests (check_priority.c,
 * check_ttl.c): the loop and the "/" vhost without a connection, queues
 * made with queue_new and owned by the test, messages with a priority and
 * an expiration, and checks of the levels' invariants. Functions are
 * static inline, as in broker_fixture.h (which this builds on). */
#ifndef TERN_TESTS_QUEUE_FIXTURE_H
#define TERN_TESTS_QUEUE_FIXTURE_H

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

static inline void on_guard(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

static inline void qsetup(void)
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

static inline void qteardown(void)
{
	if (freed)
		return;
	event_free(guard);
	server_free();
}

/* Ends a test: runs the pending kicks, drops the test's reference, then
 * frees the server, whose timer_free() lets go of the references pending
 * expiry timers hold, and so of the queue. No message may be left. */
static inline void finish(struct queue *q)
{
	turn();
	queue_unref(q);
	event_free(guard);
	server_free();
	freed = true;
	ck_assert_uint_eq(message_live, live0);
}

static inline uint64_t rng(void)
{
	/* xorshift64: the same sequence every run */
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* One blocking loop iteration, returning after at most `ms`. */
static inline void loop_once(int ms)
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

static inline struct queue *queue_args(const struct arg *a, size_t n)
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
static inline struct queue *plain(void)
{
	return queue_new(vh, bytes_of("q"), (struct bytes){0});
}

/* A message whose routing key names n, with a body of `size` octets, a
 * priority, and an expiration in ms (none when exp < 0). refs = 1. */
static inline struct message *mk(int n, uint64_t size, uint8_t prio, int64_t exp)
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
static inline struct message *push(struct queue *q, int n, uint64_t size, uint8_t prio, int64_t exp)
{
	struct message *m = mk(n, size, prio, exp);
	ck_assert(queue_push(q, m));
	message_unref(m);
	return m;
}

/* Pushes a message and keeps the caller's reference too, so that
 * refs > 1 says it is still in the queue; released with message_unref. */
static inline struct message *push_held(struct queue *q, int n, uint64_t size, uint8_t prio, int64_t exp)
{
	struct message *m = mk(n, size, prio, exp);
	ck_assert(queue_push(q, m));
	return m;
}

static inline bool in_queue(const struct message *m)
{
	return m->refs > 1;
}

/* The entry holding m (which must be in the queue). */
static inline struct qentry entry_of(const struct queue *q, const struct message *m)
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
static inline void check_levels(const struct queue *q)
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
static inline void expect_pop(struct queue *q, const struct message *m, unsigned level)
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

static inline void expect_empty(struct queue *q)
{
	struct qentry e;
	ck_assert(!queue_pop(q, &e));
	ck_assert_uint_eq(q->len, 0);
	ck_assert_uint_eq(q->ready_bytes, 0);
	check_levels(q);
}

#endif
