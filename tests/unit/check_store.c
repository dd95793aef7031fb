/* check_store.c — unit tests for store/ through store/store.h: write ->
 * commit -> close -> reopen -> recover with a recording visitor (names,
 * argument bytes, flags, entries in seq order, redelivered flags, delivery
 * counts, one message shared by two queues, index-only entries once the
 * visitor declines), reading back a paged-out message, and the delete
 * paths. Failures: check_store_rollback.c; the file's schema, objects and
 * open errors: check_store_schema.c; the fixture: store_fixture.h. */
#include "tests/unit/store_fixture.h"

/* ---- round trip ---- */

START_TEST(round_trip_exact)
{
	put_all();
	ck_assert_int_eq(store_commit(), 0);
	ck_assert(!store_dirty());
	reopen();
	recover();
	expect_all();
	/* Recovery is read-only: a second pass sees the same. */
	recover();
	expect_all();
}
END_TEST

START_TEST(redeclare_replaces_and_dedups)
{
	put_all();
	ck_assert_int_eq(store_commit(), 0);
	/* A queue put again under its name replaces the row (a new id: the
	 * store hands ids out before the write runs); a binding put twice is
	 * one row; an exchange put again takes the new type, flags and args. */
	ck_assert_int_gt(store_put_queue("/", B("q1"), STORE_F_DURABLE, B(ARGS_Q)), q2);
	ck_assert_int_eq(store_put_binding("/", B("ex1"), true, B("q2"), none, none), 0);
	ck_assert_int_eq(store_put_exchange("/", B("ex2"), "fanout", STORE_F_DURABLE, B("\x00")), 0);
	ck_assert_int_eq(store_commit(), 0);
	reopen();
	recover();
	EXPECT('X', true, "X / " H_EX1 " headers 5 " H_ARGS_X, "X / " H_EX2 " fanout 1 00");
	/* in id order: q1 comes back after q2 now */
	EXPECT('Q', false, "Q / " H_Q2 " 1 ", "Q / " H_Q1 " 1 " H_ARGS_Q);
	ck_assert_int_eq(nrec, 2 + 2 + 4 + 2); /* q1's three entries went with its old row */
}
END_TEST

START_TEST(vhosts_keep_names_apart)
{
	int64_t a = store_put_queue("/", B("q"), STORE_F_DURABLE, none);
	int64_t b = store_put_queue("other", B("q"), STORE_F_DURABLE, none);
	ck_assert_int_gt(a, 0);
	ck_assert_int_gt(b, 0);
	ck_assert_int_ne(a, b);
	ck_assert_int_eq(store_put_exchange("/", B("x"), "direct", STORE_F_DURABLE, none), 0);
	ck_assert_int_eq(store_put_exchange("other", B("x"), "fanout", STORE_F_DURABLE, none), 0);
	ck_assert_int_eq(store_commit(), 0);
	reopen();
	recover();
	EXPECT('X', true, "X / 78 direct 1 ", "X other 78 fanout 1 ");
	EXPECT('Q', false, "Q / 71 1 ", "Q other 71 1 ");
}
END_TEST

START_TEST(close_commits_pending_writes)
{
	put_all();
	store_close(); /* no store_commit: close commits the open turn */
	open_store();
	recover();
	expect_all();
}
END_TEST

START_TEST(message_ids_continue_after_reopen)
{
	put_all();
	ck_assert_int_eq(store_commit(), 0);
	reopen();
	ck_assert_uint_gt(store_next_message_id(), m4);
}
END_TEST

/* The redelivered flag of an entry that arrives after a restart must not
 * come from deliveries of older, already deleted entries. */
START_TEST(delivered_upto_does_not_cover_later_entries)
{
	int64_t q = store_put_queue("/", B("q"), STORE_F_DURABLE, none);
	uint64_t ids[4];
	for (uint64_t seq = 1; seq <= 3; seq++) {
		ids[seq] = store_next_message_id();
		ck_assert_int_eq(store_put_message(ids[seq], none, B("q"), B(PROPS),
						   (const uint8_t *)"x", 1), 0);
		ck_assert_int_eq(store_enqueue(q, seq, ids[seq], 0, 0), 0);
	}
	ck_assert_int_eq(store_commit(), 0);
	/* All three delivered and acked. */
	ck_assert_int_eq(store_set_delivered_upto(q, 3), 0);
	for (uint64_t seq = 1; seq <= 3; seq++) {
		ck_assert_int_eq(store_dequeue(q, seq), 0);
		ck_assert_int_eq(store_del_message(ids[seq]), 0);
	}
	ck_assert_int_eq(store_commit(), 0);
	/* Restart: the queue is empty, so the broker numbers from 1 again. */
	reopen();
	recover();
	EXPECT_NONE('E');
	uint64_t m = store_next_message_id();
	ck_assert_int_eq(store_put_message(m, none, B("q"), B(PROPS), (const uint8_t *)"new", 3), 0);
	ck_assert_int_eq(store_enqueue(q, 1, m, 0, 0), 0);
	ck_assert_int_eq(store_commit(), 0);
	/* Restart again before it was delivered: not redelivered. */
	reopen();
	recover();
	const char *want[] = {entry_line(0, q, "71", 1, 0, 0, m, " 71 " H_PROPS " 6e6577")};
	expect('E', want, 1, false);
}
END_TEST

/* ---- deletes ---- */

START_TEST(del_queue_removes_entries_bindings_and_own_messages)
{
	put_all();
	/* Bindings that only look like q1's: to an exchange named q1, and to
	 * a queue q1 of another vhost. */
	ck_assert_int_eq(store_put_exchange("/", B("q1"), "fanout", STORE_F_DURABLE, none), 0);
	ck_assert_int_eq(store_put_binding("/", B("ex1"), false, B("q1"), none, none), 0);
	int64_t oq1 = store_put_queue("other", B("q1"), STORE_F_DURABLE, none);
	ck_assert_int_gt(oq1, 0);
	ck_assert_int_eq(store_put_binding("other", B("ex1"), true, B("q1"), none, none), 0);
	ck_assert_int_eq(store_commit(), 0);

	ck_assert_int_eq(store_del_queue(q1), 0);
	ck_assert_int_eq(store_commit(), 0);
	reopen();
	recover();
	EXPECT('Q', false, "Q / " H_Q2 " 1 ", "Q other " H_Q1 " 1 ");
	EXPECT('B', true, "B / " H_EX1 " q " H_Q2 "  ", "B / " H_EX1 " x " H_EX2 " 612e23 ",
	       "B / " H_EX1 " x " H_Q1 "  ", "B other " H_EX1 " q " H_Q1 "  ");
	/* m1 stays for q2; m2 and m4 were q1's alone. */
	const char *want[] = {
		entry_line(0, q2, H_Q2, 1, 2, 0, m1, REST_M1),
		entry_line(1, q2, H_Q2, 2, 0, 0, m3, REST_M3),
	};
	expect('E', want, 2, false);
	store_close();
	ck_assert_int_eq(raw_int("SELECT count(*) FROM messages"), 2);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM entries"), 2);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM messages WHERE id IN (2, 4)"), 0);
	open_store();
}
END_TEST

START_TEST(purge_queue_keeps_the_queue_and_others_entries)
{
	put_all();
	ck_assert_int_eq(store_commit(), 0);
	ck_assert_int_eq(store_purge_queue(q1), 0);
	ck_assert_int_eq(store_commit(), 0);
	reopen();
	recover();
	/* The queue and its bindings stay; its entries go, and m2 and m4
	 * with them (q1's alone); m1 stays for q2. */
	EXPECT('Q', false, "Q / " H_Q1 " 1 " H_ARGS_Q, "Q / " H_Q2 " 1 ");
	EXPECT('B', true, "B / " H_EX1 " q " H_Q1 " 6b " H_ARGS_ALL,
	       "B / " H_EX1 " q " H_Q1 " 6b " H_ARGS_ANY, "B / " H_EX1 " q " H_Q2 "  ",
	       "B / " H_EX1 " x " H_EX2 " 612e23 ");
	const char *want[] = {
		entry_line(0, q2, H_Q2, 1, 2, 0, m1, REST_M1),
		entry_line(1, q2, H_Q2, 2, 0, 0, m3, REST_M3),
	};
	expect('E', want, 2, false);
	store_close();
	ck_assert_int_eq(raw_int("SELECT count(*) FROM messages WHERE id IN (2, 4)"), 0);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM entries"), 2);
	open_store();
	/* An entry enqueued in the same batch before the purge goes too. */
	ck_assert_int_eq(store_enqueue_inline(q1, 90, 0, 0, B("x"), B("k"), B(PROPS),
					      (const uint8_t *)"late", 4), 0);
	ck_assert_int_eq(store_purge_queue(q1), 0);
	ck_assert_int_eq(store_commit(), 0);
	store_close();
	char sql[64];
	snprintf(sql, sizeof sql, "SELECT count(*) FROM entries WHERE queue = %lld", (long long)q1);
	ck_assert_int_eq(raw_int(sql), 0);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM entries"), 2);
	open_store();
}
END_TEST

START_TEST(del_both_queues_leaves_no_message)
{
	put_all();
	ck_assert_int_eq(store_commit(), 0);
	ck_assert_int_eq(store_del_queue(q2), 0);
	ck_assert_int_eq(store_del_queue(q1), 0);
	ck_assert_int_eq(store_commit(), 0);
	store_close();
	ck_assert_int_eq(raw_int("SELECT count(*) FROM messages"), 0);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM entries"), 0);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM queues"), 0);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM bindings WHERE to_queue = 1"), 0);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM bindings"), 1);
	open_store();
}
END_TEST

START_TEST(del_exchange_binding_entry_message)
{
	put_all();
	ck_assert_int_eq(store_commit(), 0);
	ck_assert_int_eq(store_del_exchange("/", B("ex2")), 0);
	/* Only the binding with exactly these args goes. */
	ck_assert_int_eq(store_del_binding("/", B("ex1"), true, B("q1"), B("k"), B(ARGS_ANY)), 0);
	ck_assert_int_eq(store_del_binding("/", B("ex1"), false, B("ex2"), B("a.#"), none), 0);
	/* Ack of m2 in q1 (its only entry) and of m1 in q2 (shared). */
	ck_assert_int_eq(store_dequeue(q1, 7), 0);
	ck_assert_int_eq(store_del_message(m2), 0);
	ck_assert_int_eq(store_dequeue(q2, 1), 0);
	ck_assert_int_eq(store_commit(), 0);
	reopen();
	recover();
	EXPECT('X', true, "X / " H_EX1 " headers 5 " H_ARGS_X);
	EXPECT('B', true, "B / " H_EX1 " q " H_Q1 " 6b " H_ARGS_ALL, "B / " H_EX1 " q " H_Q2 "  ");
	snprintf(rest_m4, sizeof rest_m4, "%s 612e62 %s %s", H_EX2, H_PROPS,
		 hex((struct bytes){big, sizeof big}));
	const char *want[] = {
		entry_line(0, q1, H_Q1, 3, 0, 1, m1, REST_M1),
		entry_line(1, q1, H_Q1, 10, 0, 0, m4, rest_m4),
		entry_line(2, q2, H_Q2, 2, 0, 0, m3, REST_M3),
	};
	expect('E', want, 3, false);
}
END_TEST
/* A paged-out message read back must not leave a read transaction open:
 * while one is, SQLite cannot restart the WAL and every later commit makes
 * tern.db-wal longer (the chaos soak saw 1 GB in 30 s). */
static long wal_bytes(void)
{
	char path[128];
	snprintf(path, sizeof path, "%s/tern.db-wal", dir);
	FILE *f = fopen(path, "rb");
	if (!f)
		return 0;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fclose(f);
	return n;
}

static void read_len(void *ctx, struct bytes x, struct bytes rkey, struct bytes props,
		     struct bytes body)
{
	*(uint32_t *)ctx = body.len;
}

START_TEST(read_back_lets_the_wal_restart)
{
	char err[512] = "";
	store_close(); /* no fsync per commit: the WAL's length is the point */
	ck_assert_int_eq(store_open(dir, STORE_NORMAL, err, sizeof err), 0);
	int64_t q = store_put_queue("/", B("q"), STORE_F_DURABLE, none);
	static uint8_t body[8192];
	memset(body, 'b', sizeof body);
	ck_assert_int_eq(store_enqueue_inline(q, 1, 0, 0, none, B("q"), B(PROPS), body, sizeof body),
			 0);
	ck_assert_int_eq(store_commit(), 0);
	for (uint64_t seq = 2; seq < 3000; seq++) {
		uint32_t got = 0;
		ck_assert_int_eq(store_get_message(q, 1, 0, read_len, &got), 0);
		ck_assert_uint_eq(got, sizeof body);
		ck_assert_int_eq(store_enqueue_inline(q, seq, 0, 0, none, B("q"), B(PROPS), body,
						      sizeof body),
				 0);
		ck_assert_int_eq(store_commit(), 0);
		ck_assert_int_eq(store_dequeue(q, seq), 0);
		ck_assert_int_eq(store_commit(), 0);
	}
	/* 3000 turns of 8 KiB: about 70 MiB written through the WAL; it is
	 * checkpointed every 1000 pages and restarted, so a few MiB at most. */
	ck_assert_int_lt(wal_bytes(), 16L << 20);
}
END_TEST

/* A visitor that declines messages gets the rest of that queue index
 * only (props and size, no body read), and the next queue with messages
 * again; expect() names each queue's seq span first. */
START_TEST(index_only_after_visitor_declines)
{
	put_all();
	ck_assert_int_eq(store_commit(), 0);
	reopen();
	index_after = 3;
	record_spans = true;
	recover();
	index_after = 0;
	record_spans = false;
	char s1[64], s2[64];
	snprintf(s1, sizeof s1, "S / " H_Q1 " %lld 8", (long long)q1);
	snprintf(s2, sizeof s2, "S / " H_Q2 " %lld 2", (long long)q2);
	const char *spans[] = {s1, s2};
	expect('S', spans, 2, false);
	/* Every S comes before the first E. */
	int last_s = -1, first_e = nrec;
	for (int i = 0; i < nrec; i++) {
		if (rec[i][0] == 'S')
			last_s = i;
		if (rec[i][0] == 'E' && i < first_e)
			first_e = i;
	}
	ck_assert_int_lt(last_s, first_e);
	const char *want[] = {
		entry_line(0, q1, H_Q1, 3, 0, 1, m1, REST_M1),
		entry_line(1, q1, H_Q1, 7, 4, 1, m2, "index " H_PROPS_CT " size=3"),
		entry_line(2, q1, H_Q1, 10, 0, 0, m4, "index " H_PROPS " size=300000"),
		entry_line(3, q2, H_Q2, 1, 2, 0, m1, REST_M1),
		entry_line(4, q2, H_Q2, 2, 0, 0, m3, REST_M3),
	};
	expect('E', want, 5, false);
}
END_TEST

static Suite *store_suite(void)
{
	Suite *s = suite_create("store");
	TCase *r = tcase_create("recover");
	tcase_add_checked_fixture(r, setup, teardown);
	tcase_set_timeout(r, 30);
	tcase_add_test(r, round_trip_exact);
	tcase_add_test(r, index_only_after_visitor_declines);
	tcase_add_test(r, redeclare_replaces_and_dedups);
	tcase_add_test(r, vhosts_keep_names_apart);
	tcase_add_test(r, close_commits_pending_writes);
	tcase_add_test(r, message_ids_continue_after_reopen);
	tcase_add_test(r, delivered_upto_does_not_cover_later_entries);
	tcase_add_test(r, read_back_lets_the_wal_restart);
	suite_add_tcase(s, r);
	TCase *d = tcase_create("delete");
	tcase_add_checked_fixture(d, setup, teardown);
	tcase_set_timeout(d, 30);
	tcase_add_test(d, del_queue_removes_entries_bindings_and_own_messages);
	tcase_add_test(d, purge_queue_keeps_the_queue_and_others_entries);
	tcase_add_test(d, del_both_queues_leaves_no_message);
	tcase_add_test(d, del_exchange_binding_entry_message);
	suite_add_tcase(s, d);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(store_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
