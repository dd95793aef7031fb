/* check_priority.c — unit tests for priority levels (broker/queue/queue.c):
 * pop order by level then FIFO, clamping to x-max-priority, 256 levels and
 * the non-empty bitmap across its words, requeue into level and place, and
 * random runs against a model. */
#include "tests/unit/queue_fixture.h"

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


static Suite *priority_suite(void)
{
	Suite *s = suite_create("priority");
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
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(priority_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
