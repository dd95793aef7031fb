/* check_stats.c — unit tests for the statistics sampler (broker/core/
 * stats.c): a lap through the queues and exchanges is spread over the
 * period by the steps (half the period: about half the blocks), every
 * block is sampled once a lap, and each block's rate is over its own
 * elapsed time. Times are made up: nothing sleeps. */
#include "tests/unit/broker_fixture.h"

#include "broker/core/stats.h"

#define NQ 200

static struct queue *qs[NQ];

static int sampled_since(uint32_t t)
{
	int n = 0;
	for (int i = 0; i < NQ; i++)
		n += qs[i]->stats.sampled_ms >= t;
	return n;
}

START_TEST(lap_spread_over_the_period)
{
	for (int i = 0; i < NQ; i++) {
		char name[16];
		snprintf(name, sizeof name, "q%d", i);
		qs[i] = declare(name);
	}
	uint64_t t0 = 1000000;
	stats_sample_step(t0); /* a lap begins: nothing of it done yet */
	ck_assert_int_eq(sampled_since((uint32_t)t0), 0);
	stats_sample_step(t0 + STATS_PERIOD_MS / 2);
	int half = sampled_since((uint32_t)t0);
	/* half the lap's blocks; the default exchanges are in it too */
	ck_assert_int_gt(half, NQ / 2 - 20);
	ck_assert_int_lt(half, NQ / 2 + 5);
	stats_sample_step(t0 + STATS_PERIOD_MS * 9 / 10);
	int most = sampled_since((uint32_t)t0);
	ck_assert_int_gt(most, NQ * 9 / 10 - 20);
	ck_assert_int_lt(most, NQ);
	struct queue *late = NULL; /* one the lap has not reached */
	for (int i = 0; i < NQ && !late; i++)
		if (qs[i]->stats.sampled_ms < t0)
			late = qs[i];
	stat_add(&late->stats, ST_PUBLISH, 30);
	/* the next lap finishes this one first */
	stats_sample_step(t0 + STATS_PERIOD_MS + 100);
	ck_assert_int_eq(sampled_since((uint32_t)t0), NQ);
	ck_assert_uint_eq(late->stats.sampled_ms, t0 + STATS_PERIOD_MS + 100);
	/* its first sample: 30 over one period */
	float r = late->stats.rate[ST_PUBLISH];
	ck_assert(r > 30.0f * 1000 / STATS_PERIOD_MS - 0.01f &&
		  r < 30.0f * 1000 / STATS_PERIOD_MS + 0.01f);
	/* Laps stepped as the timer does: each block again a period (give
	 * or take a step) after its sample in the lap before, its rate over
	 * that time. */
	uint64_t t1 = t0 + STATS_PERIOD_MS + 100;
	uint64_t t = t1;
	for (; t < t1 + STATS_PERIOD_MS; t += STATS_STEP_MS)
		stats_sample_step(t);
	uint32_t s2[NQ];
	for (int i = 0; i < NQ; i++) {
		s2[i] = qs[i]->stats.sampled_ms;
		stat_add(&qs[i]->stats, ST_PUBLISH, 50);
	}
	for (; t < t1 + 2 * STATS_PERIOD_MS; t += STATS_STEP_MS)
		stats_sample_step(t);
	int checked = 0;
	for (int i = 0; i < NQ; i++) {
		if (s2[i] < t1 + STATS_STEP_MS) /* finished late, at a lap's start */
			continue;
		uint32_t dt = qs[i]->stats.sampled_ms - s2[i];
		ck_assert_uint_ge(dt, STATS_PERIOD_MS - STATS_STEP_MS);
		ck_assert_uint_le(dt, STATS_PERIOD_MS + STATS_STEP_MS);
		float want = 50.0f * 1000 / (float)dt;
		ck_assert(qs[i]->stats.rate[ST_PUBLISH] > want - 0.01f &&
			  qs[i]->stats.rate[ST_PUBLISH] < want + 0.01f);
		checked++;
	}
	ck_assert_int_gt(checked, NQ * 9 / 10);
}
END_TEST

START_TEST(first_sample_counts_one_period)
{
	struct stats s = {0};
	stat_add(&s, ST_DELIVER, 100);
	stats_sample(&s, 123456);
	ck_assert(s.rate[ST_DELIVER] > 100.0f * 1000 / STATS_PERIOD_MS - 0.01f &&
		  s.rate[ST_DELIVER] < 100.0f * 1000 / STATS_PERIOD_MS + 0.01f);
	ck_assert(stats_due(&s, 123456 + STATS_PERIOD_MS));
	ck_assert(!stats_due(&s, 123456 + STATS_PERIOD_MS - 1));
}
END_TEST

static Suite *stats_suite(void)
{
	Suite *s = suite_create("stats");
	TCase *t = tcase_create("sampler");
	tcase_add_checked_fixture(t, setup, teardown);
	tcase_add_test(t, lap_spread_over_the_period);
	tcase_add_test(t, first_sample_counts_one_period);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(stats_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
