/* check_ttl.c — unit tests for message TTL (broker/queue/queue_ttl.c) and
 * length limits: expiry in the middle of a level, x-message-ttl from the
 * head, TTL 0 with and without a consumer, requeue before and after a
 * deadline, x-max-length and x-max-length-bytes dropping the head. */
#include "tests/unit/queue_fixture.h"

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

static Suite *ttl_suite(void)
{
	Suite *s = suite_create("ttl");
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
	SRunner *sr = srunner_create(ttl_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
