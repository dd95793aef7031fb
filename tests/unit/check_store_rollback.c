/* check_store_rollback.c — a failed turn rolls back whole (store/ through
 * store/store.h, with the store_fail_after hook): a failed write or
 * commit leaves the committed baseline exactly as it was, the countdown
 * spans calls, a failed turn takes no more writes, the next turn is a
 * fresh transaction, and the probe fails and recovers. Fixture:
 * store_fixture.h. */
#include "tests/unit/store_fixture.h"

/* ---- failures roll back the whole turn ---- */

/* A committed baseline, then a turn that touches every kind of row. */
static void baseline_then_turn(void)
{
	put_all();
	ck_assert_int_eq(store_commit(), 0);
	ck_assert_int_eq(store_put_exchange("/", B("ex3"), "direct", STORE_F_DURABLE, none), 0);
	ck_assert_int_eq(store_del_exchange("/", B("ex2")), 0);
	ck_assert_int_gt(store_put_queue("/", B("q3"), STORE_F_DURABLE, none), 0);
	ck_assert_int_eq(store_del_binding("/", B("ex1"), true, B("q2"), none, none), 0);
	ck_assert_int_eq(store_put_binding("/", B("ex1"), true, B("q1"), B("new"), none), 0);
	uint64_t m = store_next_message_id();
	ck_assert_int_eq(store_put_message(m, none, none, B(PROPS), (const uint8_t *)"lost", 4), 0);
	ck_assert_int_eq(store_enqueue(q1, 11, m, 0, 0), 0);
	ck_assert_int_eq(store_dequeue(q1, 7), 0);
	ck_assert_int_eq(store_del_message(m2), 0);
	ck_assert_int_eq(store_set_deliveries(q2, 1, 9), 0);
	ck_assert_int_eq(store_set_delivered_upto(q1, 10), 0);
	ck_assert_int_eq(store_set_delivered_upto(q2, 2), 0);
	ck_assert(store_dirty());
}

static void expect_baseline_after_reopen(void)
{
	ck_assert(!store_dirty());
	reopen();
	recover();
	expect_all();
}

START_TEST(write_failure_rolls_back_turn)
{
	baseline_then_turn();
	store_fail_after = 1;
	ck_assert_int_eq(store_put_exchange("/", B("ex4"), "direct", STORE_F_DURABLE, none), -1);
	ck_assert_str_eq(store_error(), "injected failure");
	/* A failed turn takes no more writes. */
	ck_assert_int_eq(store_put_queue("/", B("q4"), STORE_F_DURABLE, none), 0);
	ck_assert_int_eq(store_enqueue(q2, 3, m1, 0, 0), -1);
	ck_assert_int_eq(store_commit(), -1);
	expect_baseline_after_reopen();
}
END_TEST

START_TEST(commit_failure_rolls_back_turn)
{
	baseline_then_turn();
	store_fail_after = 1;
	ck_assert_int_eq(store_commit(), -1);
	expect_baseline_after_reopen();
}
END_TEST

START_TEST(failure_counted_down_across_calls)
{
	put_all();
	ck_assert_int_eq(store_commit(), 0);
	store_fail_after = 3; /* two writes pass, the third fails */
	ck_assert_int_eq(store_put_exchange("/", B("ex3"), "direct", STORE_F_DURABLE, none), 0);
	ck_assert_int_eq(store_dequeue(q1, 3), 0);
	ck_assert_int_eq(store_dequeue(q1, 7), -1);
	ck_assert_int_eq(store_commit(), -1);
	expect_baseline_after_reopen();
}
END_TEST

/* The failing write is the turn's first: what follows in the same turn
 * must not be committed either. */
START_TEST(failure_of_first_write_fails_turn)
{
	put_all();
	ck_assert_int_eq(store_commit(), 0);
	store_fail_after = 1;
	uint64_t m = store_next_message_id();
	ck_assert_int_eq(store_put_message(m, none, none, B(PROPS), (const uint8_t *)"x", 1), -1);
	store_enqueue(q1, 11, m, 0, 0);
	store_put_exchange("/", B("ex3"), "direct", STORE_F_DURABLE, none);
	store_dequeue(q2, 2);
	ck_assert_int_eq(store_commit(), -1);
	expect_baseline_after_reopen();
}
END_TEST

START_TEST(next_turn_commits_after_failure)
{
	put_all();
	ck_assert_int_eq(store_commit(), 0);
	ck_assert_int_eq(store_dequeue(q1, 3), 0);
	store_fail_after = 1;
	ck_assert_int_eq(store_del_exchange("/", B("ex2")), -1);
	ck_assert_int_eq(store_commit(), -1);
	/* The next turn is a fresh transaction. */
	ck_assert_int_eq(store_put_exchange("/", B("ex3"), "direct", STORE_F_DURABLE, none), 0);
	ck_assert_int_eq(store_commit(), 0);
	reopen();
	recover();
	EXPECT('X', true, "X / " H_EX1 " headers 5 " H_ARGS_X, "X / " H_EX2 " topic 3 ",
	       "X / 657833 direct 1 ");
	ck_assert_int_eq(nrec, 3 + 2 + 4 + 5); /* the dequeue was rolled back */
}
END_TEST

START_TEST(probe_fails_then_recovers)
{
	ck_assert_int_eq(store_probe(), 0);
	ck_assert(!store_dirty());
	store_fail_after = 1;
	ck_assert_int_eq(store_probe(), -1);
	ck_assert(!store_dirty());
	store_fail_after = 2; /* the write passes, the commit fails */
	ck_assert_int_eq(store_probe(), -1);
	ck_assert(!store_dirty());
	ck_assert_int_eq(store_probe(), 0);
	/* And ordinary writes work again. */
	ck_assert_int_eq(store_put_exchange("/", B("ex3"), "direct", STORE_F_DURABLE, none), 0);
	ck_assert_int_eq(store_commit(), 0);
	reopen();
	recover();
	EXPECT('X', false, "X / 657833 direct 1 ");
}
END_TEST

static Suite *store_rollback_suite(void)
{
	Suite *s = suite_create("store-rollback");
	TCase *f = tcase_create("rollback");
	tcase_add_checked_fixture(f, setup, teardown);
	tcase_set_timeout(f, 30);
	tcase_add_test(f, write_failure_rolls_back_turn);
	tcase_add_test(f, commit_failure_rolls_back_turn);
	tcase_add_test(f, failure_counted_down_across_calls);
	tcase_add_test(f, failure_of_first_write_fails_turn);
	tcase_add_test(f, next_turn_commits_after_failure);
	tcase_add_test(f, probe_fails_then_recovers);
	suite_add_tcase(s, f);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(store_rollback_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
