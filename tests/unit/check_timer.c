/* check_timer.c — unit tests for broker/queue/timer.c, the deadline min-heap
 * under one libevent timer: deadlines fire in order (ties included),
 * timers added from callbacks, an earlier deadline re-arming the libevent
 * timer, timer_pending(), timer_free() handing each pending timer
 * when == 0 once, and 100k timers. Time moves by running the loop. */
#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "broker/core/config.h"
#include "broker/core/log.h"
#include "broker/net/server.h"
#include "broker/queue/timer.h"
#include "broker/model/vhost.h"

/* ---- what fired: one record per call with when > 0, in call order, and
 * per-timer counts of both kinds of call; a timer is named by its index,
 * passed as obj ---- */

#define NMAX 100064

struct rec {
	uint64_t when;     /* the deadline the callback was told */
	uint64_t fired_at; /* now_ms() inside the callback */
	uint32_t id;
};

static struct rec recs[NMAX];
static size_t nrecs;
static uint32_t hits[NMAX];  /* calls with when > 0 */
static uint32_t zeros[NMAX]; /* calls with when == 0 (shutdown) */

static void *id_obj(uint32_t id)
{
	return (void *)(uintptr_t)id;
}

static void record(void *obj, uint64_t when)
{
	uint32_t id = (uint32_t)(uintptr_t)obj;
	/* Plain ifs here and in other loops over every record: each
	 * ck_assert records a checkpoint, too slow 100k times. */
	if (id >= NMAX || nrecs >= NMAX)
		ck_abort_msg("timer %u, record %zu: out of range", id, nrecs);
	if (!when) {
		zeros[id]++;
		return;
	}
	hits[id]++;
	recs[nrecs++] = (struct rec){when, now_ms(), id};
}

/* ---- fixture: the server loop (timer_init) and the "/" vhost ---- */

/* The loop also holds the signal events, so a blocking iteration with no
 * timer armed would never return: a guard event bounds each one. */
static struct event *guard;
static uint64_t rng_state;

static void on_guard(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

static void setup(void)
{
	config_defaults();
	log_level = LOG_ERROR;
	exchange_types_init();
	ck_assert_int_eq(server_init_loop(), 0);
	vhost_create("/");
	guard = evtimer_new(server_base, on_guard, NULL);
	nrecs = 0;
	memset(hits, 0, sizeof hits);
	memset(zeros, 0, sizeof zeros);
	rng_state = 0x9e3779b97f4a7c15ull;
}

static void teardown(void)
{
	event_free(guard);
	server_free(); /* timer_free(): anything left gets when == 0 */
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

/* Runs the loop until `want` records exist, for at most limit_ms. */
static void run_until(size_t want, uint64_t limit_ms)
{
	uint64_t stop = now_ms() + limit_ms;
	while (nrecs < want && now_ms() < stop)
		loop_once(20);
}

/* Every record's deadline had come when it fired, deadlines never go
 * down, and each of ids [0, n) fired exactly once. */
static void assert_in_order(uint32_t n)
{
	ck_assert_uint_eq(nrecs, n);
	for (size_t i = 0; i < nrecs; i++) {
		if (recs[i].fired_at < recs[i].when)
			ck_abort_msg("record %zu: fired at %llu, before %llu", i,
				     (unsigned long long)recs[i].fired_at,
				     (unsigned long long)recs[i].when);
		if (i && recs[i].when < recs[i - 1].when)
			ck_abort_msg("record %zu: deadline %llu after %llu", i,
				     (unsigned long long)recs[i].when,
				     (unsigned long long)recs[i - 1].when);
	}
	for (uint32_t id = 0; id < n; id++)
		if (hits[id] != 1 || zeros[id] != 0)
			ck_abort_msg("timer %u: %u calls, %u at shutdown", id, hits[id], zeros[id]);
}

/* ---- order ---- */

/* 2000 deadlines over 40 ms: each one is shared by ~50 timers. */
START_TEST(random_deadlines_fire_in_order)
{
	enum { N = 2000 };
	uint64_t base = now_ms();
	for (uint32_t id = 0; id < N; id++)
		timer_add(base + 1 + rng() % 40, record, id_obj(id));
	ck_assert_uint_eq(timer_pending(), N);
	run_until(N, 2000);
	assert_in_order(N);
	ck_assert_uint_eq(timer_pending(), 0);
}
END_TEST

/* Ties: once one of them is due all are, so the pass that fires the
 * first fires them all. */
START_TEST(ties_all_fire_together)
{
	enum { N = 500 };
	uint64_t when = now_ms() + 5;
	for (uint32_t id = 0; id < N; id++)
		timer_add(when, record, id_obj(id));
	timer_add(when + 1, record, id_obj(N)); /* a later one stays */
	uint64_t stop = now_ms() + 2000;
	while (nrecs == 0 && now_ms() < stop)
		loop_once(20);
	ck_assert_uint_ge(nrecs, N);
	for (size_t i = 0; i < N; i++)
		ck_assert_uint_eq(recs[i].when, when);
	run_until(N + 1, 2000);
	assert_in_order(N + 1);
	ck_assert_uint_eq(recs[N].id, N);
}
END_TEST

/* Deadlines already past fire on the next loop iteration, in order. */
START_TEST(past_deadlines_fire_at_once)
{
	uint64_t now = now_ms();
	ck_assert_uint_gt(now, 100);
	timer_add(now - 3, record, id_obj(2));
	timer_add(now - 50, record, id_obj(0));
	timer_add(now - 10, record, id_obj(1));
	loop_once(50);
	assert_in_order(3);
	for (uint32_t i = 0; i < 3; i++)
		ck_assert_uint_eq(recs[i].id, i);
}
END_TEST

/* ---- adding from inside a callback ---- */

enum { CHAIN = 8, DUE_NOW = 100, LATE = 101 };

/* Link k records itself, adds link k+1 two ms after its own deadline,
 * and the first link also adds a timer at its own deadline, already due
 * while the heap is being drained. */
static void chain(void *obj, uint64_t when)
{
	uint32_t id = (uint32_t)(uintptr_t)obj;
	record(obj, when);
	if (!when)
		return;
	if (id + 1 < CHAIN)
		timer_add(when + 2, chain, id_obj(id + 1));
	if (id == 0)
		timer_add(when, record, id_obj(DUE_NOW));
}

START_TEST(add_from_callback)
{
	uint64_t base = now_ms();
	timer_add(base + 60, record, id_obj(LATE));
	timer_add(base + 2, chain, id_obj(0));
	ck_assert_uint_eq(timer_pending(), 2);
	run_until(CHAIN + 2, 2000);
	ck_assert_uint_eq(nrecs, CHAIN + 2);
	/* link 0, the due-now timer with link 0's deadline, links 1..7, late */
	ck_assert_uint_eq(recs[0].id, 0);
	ck_assert_uint_eq(recs[1].id, DUE_NOW);
	ck_assert_uint_eq(recs[1].when, recs[0].when);
	for (uint32_t k = 1; k < CHAIN; k++) {
		ck_assert_uint_eq(recs[k + 1].id, k);
		ck_assert_uint_eq(recs[k + 1].when, recs[0].when + 2 * k);
	}
	ck_assert_uint_eq(recs[CHAIN + 1].id, LATE);
	for (size_t i = 0; i < nrecs; i++) {
		ck_assert_uint_ge(recs[i].fired_at, recs[i].when);
		ck_assert_uint_eq(hits[recs[i].id], 1);
		if (i)
			ck_assert_uint_ge(recs[i].when, recs[i - 1].when);
	}
	ck_assert_uint_eq(timer_pending(), 0);
}
END_TEST

/* ---- re-arming ---- */

/* A timer earlier than the armed one must fire at its own time. The late
 * ones are never waited for: teardown hands them when == 0. */
START_TEST(earlier_deadline_rearms)
{
	uint64_t base = now_ms();
	timer_add(base + 800, record, id_obj(0));
	loop_once(0); /* the libevent timer is armed for +800 */
	timer_add(base + 600, record, id_obj(1));
	timer_add(base + 5, record, id_obj(2));
	timer_add(base + 700, record, id_obj(3)); /* later: must not postpone */
	run_until(1, 400);
	ck_assert_uint_eq(nrecs, 1);
	ck_assert_uint_eq(recs[0].id, 2);
	ck_assert_uint_lt(recs[0].fired_at, base + 400);
	ck_assert_uint_eq(timer_pending(), 3);
	/* Again after a pass: the next earliest (+600) is armed; one at +20
	 * goes in front of it. */
	timer_add(now_ms() + 20, record, id_obj(4));
	run_until(2, 400);
	ck_assert_uint_eq(nrecs, 2);
	ck_assert_uint_eq(recs[1].id, 4);
	ck_assert_uint_lt(recs[1].fired_at, base + 500);
	ck_assert_uint_eq(timer_pending(), 3);
}
END_TEST

/* ---- pending counts and shutdown ---- */

START_TEST(pending_counts)
{
	uint64_t base = now_ms();
	ck_assert_uint_eq(timer_pending(), 0);
	for (uint32_t id = 0; id < 10; id++) {
		timer_add(base + 60000 + id, record, id_obj(id));
		ck_assert_uint_eq(timer_pending(), id + 1);
	}
	for (uint32_t id = 10; id < 15; id++)
		timer_add(base + 2, record, id_obj(id));
	ck_assert_uint_eq(timer_pending(), 15);
	run_until(5, 2000);
	ck_assert_uint_eq(nrecs, 5);
	ck_assert_uint_eq(timer_pending(), 10);
	/* A deadline that is already past still counts until a pass runs. */
	timer_add(base, record, id_obj(15));
	ck_assert_uint_eq(timer_pending(), 11);
	run_until(6, 2000);
	ck_assert_uint_eq(timer_pending(), 10);
}
END_TEST

/* timer_free() calls each pending timer once with when == 0 (due ones
 * too, if no pass ran), none that already fired, and nothing the second
 * time. */
START_TEST(free_calls_pending_once)
{
	enum { N = 300, DUE = 20 };
	uint64_t base = now_ms();
	for (uint32_t id = 0; id < N; id++) {
		uint64_t when = id < 20 ? base + 1 : base + 1000 + rng() % 100000;
		timer_add(when, record, id_obj(id));
	}
	run_until(20, 2000); /* the first 20 fire */
	ck_assert_uint_eq(nrecs, 20);
	for (uint32_t k = 0; k < DUE; k++) /* due, but no pass runs again */
		timer_add(base - 1 - k, record, id_obj(N + k));
	ck_assert_uint_eq(timer_pending(), N - 20 + DUE);
	timer_free();
	ck_assert_uint_eq(timer_pending(), 0);
	ck_assert_uint_eq(nrecs, 20);
	for (uint32_t id = 0; id < N + DUE; id++) {
		ck_assert_uint_eq(hits[id], id < 20);
		ck_assert_uint_eq(zeros[id], id >= 20);
	}
	timer_free(); /* idempotent: nothing left to call */
	for (uint32_t id = 0; id < N + DUE; id++)
		ck_assert_uint_le(zeros[id], 1);
	/* A new start works (server_free will free it again). */
	timer_init();
	timer_add(now_ms() + 1, record, id_obj(N + DUE));
	run_until(21, 2000);
	ck_assert_uint_eq(hits[N + DUE], 1);
	ck_assert_uint_eq(zeros[N + DUE], 0);
}
END_TEST

/* ---- stress ---- */

/* 100k timers: half spread over the whole past (all due: one pass drains
 * them from the heap in order), half a few ms ahead with many ties.
 * Checks only that all fire once, in order. */
START_TEST(stress_100k)
{
	enum { N = 100000 };
	uint64_t base = now_ms();
	for (uint32_t id = 0; id < N; id++) {
		uint64_t when = id % 2 ? 1 + rng() % (base - 1) : base + 1 + rng() % 8;
		timer_add(when, record, id_obj(id));
	}
	ck_assert_uint_eq(timer_pending(), N);
	run_until(N, 5000);
	assert_in_order(N);
	ck_assert_uint_eq(timer_pending(), 0);
}
END_TEST

static Suite *timer_suite(void)
{
	Suite *s = suite_create("timer");
	TCase *o = tcase_create("order");
	tcase_add_checked_fixture(o, setup, teardown);
	tcase_add_test(o, random_deadlines_fire_in_order);
	tcase_add_test(o, ties_all_fire_together);
	tcase_add_test(o, past_deadlines_fire_at_once);
	tcase_add_test(o, add_from_callback);
	tcase_add_test(o, earlier_deadline_rearms);
	suite_add_tcase(s, o);

	TCase *p = tcase_create("pending");
	tcase_add_checked_fixture(p, setup, teardown);
	tcase_add_test(p, pending_counts);
	tcase_add_test(p, free_calls_pending_once);
	suite_add_tcase(s, p);

	TCase *st = tcase_create("stress");
	tcase_add_checked_fixture(st, setup, teardown);
	tcase_set_timeout(st, 20);
	tcase_add_test(st, stress_100k);
	suite_add_tcase(s, st);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(timer_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
