/* check_deadletter_headers.c — unit tests for broker/queue/deadletter.c's
 * handling of headers: messages without any, deep and odd headers kept
 * byte for byte, invalid and client-made x-death values (not an array,
 * pre-3.5 duplicates, other count types) and long names cut. */
#include "tests/unit/deadletter_fixture.h"

/* ---- headers ---- */

START_TEST(no_headers)
{
	struct message *m = plain();
	struct message *c = dl(m, "q", DL_MAXLEN, "dlx", NULL, T1);
	struct amqp_props pr = props_of(c);
	ck_assert_uint_eq(pr.flags, PROP_HEADERS);
	assert_keys(pr.headers, "x-death,x-first-death-exchange,x-first-death-queue,"
				"x-first-death-reason,x-last-death-exchange,x-last-death-queue,"
				"x-last-death-reason");
	struct bytes e = xdeath_at(c, 0);
	assert_keys(e, "count,reason,queue,time,exchange,routing-keys");
	assert_entry(e, "q", "maxlen", 1, T1, "ex");
	assert_rkeys(e, "rk");
	message_unref(m);
	message_unref(c);

	/* Other properties but no headers; an expiration alone. */
	struct amqp_props in = {.flags = PROP_CONTENT_TYPE | PROP_EXPIRATION,
				.content_type = bytes_of("a/b"),
				.expiration = bytes_of("0")};
	m = mkmsg("", "q", &in, "", MSG_MANDATORY, 0);
	c = dl(m, "q", DL_EXPIRED, "", NULL, T1);
	pr = props_of(c);
	ck_assert_uint_eq(pr.flags, PROP_CONTENT_TYPE | PROP_HEADERS);
	assert_bytes(pr.content_type, "a/b");
	assert_str(xdeath_at(c, 0), "original-expiration", "0");
	ck_assert_uint_eq(c->body_size, 0);
	ck_assert_uint_eq(c->flags, 0);
	message_unref(m);
	message_unref(c);
	ck_assert_uint_eq(message_live, 0);
}
END_TEST

/* A table nested `depth` deep, with one value of every type at the bottom. */
static void put_deep(struct wbuf *w, int depth)
{
	tv_table_letter(w);
	size_t t = tw_begin(w);
	if (depth > 1) {
		tw_key(w, "down");
		put_deep(w, depth - 1);
		tw_key(w, "list");
		tv_array_letter(w);
		size_t a = tw_begin(w);
		tv_i64(w, depth);
		tv_void(w);
		tw_end(w, a);
	} else {
		static const struct fvalue all[] = {
			{.type = 't', .v.b = true},
			{.type = 'b', .v.i = -5},
			{.type = 'B', .v.u = 250},
			{.type = 's', .v.i = -300},
			{.type = 'u', .v.u = 60000},
			{.type = 'I', .v.i = -70000},
			{.type = 'i', .v.u = 4000000000u},
			{.type = 'l', .v.i = -5000000000},
			{.type = 'L', .v.u = 18000000000000000000u},
			{.type = 'f', .v.f = 1.5f},
			{.type = 'd', .v.d = -2.25},
			{.type = 'D', .v.dec = {2, 12345}},
			{.type = 'T', .v.u = 99},
			{.type = 'V'},
		};
		for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
			char k[2] = {all[i].type, 0};
			tw_key(w, k);
			tv_value(w, &all[i]);
		}
		tw_key(w, "bin");
		wb_u8(w, 'x');
		wb_longstr(w, (struct bytes){(const uint8_t *)"\0\1\2", 3});
	}
	tw_end(w, t);
}

START_TEST(deep_headers_kept)
{
	struct wbuf h = {0};
	tw_key(&h, "deep");
	put_deep(&h, TABLE_MAX_DEPTH - 1); /* the headers table is level 1 */
	tw_key(&h, "arr");
	tv_array_letter(&h);
	size_t a = tw_begin(&h);
	put_deep(&h, 3);
	tw_end(&h, a);
	ck_assert_int_eq(table_validate(view(&h)), 0);
	struct message *m = with_headers(&h);
	struct message *c1 = dl(m, "q1", DL_EXPIRED, "dlx", NULL, T1);
	struct message *c2 = dl(c1, "q2", DL_REJECTED, "dlx", "k", T2);
	static const char *const keys[] = {"deep", "arr"};
	for (int i = 0; i < 2; i++) {
		struct bytes was, now;
		ck_assert(raw_pair(view(&h), keys[i], &was));
		ck_assert(raw_pair(headers_of(c2), keys[i], &now));
		ck_assert_uint_eq(was.len, now.len);
		ck_assert_mem_eq(was.p, now.p, was.len);
	}
	message_unref(m);
	message_unref(c1);
	message_unref(c2);
	ck_assert_uint_eq(message_live, 0);
	wb_free(&h);
}
END_TEST

/* An x-death that is no array is reset, and this counts as the first
 * death; x-first-death-* a client set on it are replaced. */
START_TEST(invalid_xdeath_reset)
{
	struct wbuf h = {0};
	tw_key(&h, "x-first-death-queue");
	tv_str(&h, "client");
	tw_key(&h, "x-death");
	tv_i32(&h, 3);
	struct message *m = with_headers(&h);
	struct message *c = dl(m, "q", DL_REJECTED, "dlx", NULL, T1);
	ck_assert_int_eq(xdeath_len(c), 1);
	assert_entry(xdeath_at(c, 0), "q", "rejected", 1, T1, "ex");
	struct bytes hd = headers_of(c);
	assert_str(hd, "x-first-death-queue", "q");
	assert_str(hd, "x-first-death-reason", "rejected");
	assert_keys(hd, "x-death,x-first-death-exchange,x-first-death-queue,x-first-death-reason,"
			"x-last-death-exchange,x-last-death-queue,x-last-death-reason");
	message_unref(m);
	message_unref(c);
	ck_assert_uint_eq(message_live, 0);
	wb_free(&h);
}
END_TEST

static void put_legacy_entry(struct wbuf *w, const char *queue, const char *reason, int count)
{
	tv_table_letter(w);
	size_t t = tw_begin(w);
	tw_key(w, "queue");
	tv_str(w, queue);
	tw_key(w, "reason");
	tv_str(w, reason);
	if (count) {
		tw_key(w, "count");
		tv_i32(w, count); /* not RabbitMQ's 'l' */
	}
	tw_end(w, t);
}

/* x-death written by a client or a pre-3.5 RabbitMQ: entries repeating a
 * (queue, reason) fold into the newest, which counts them when it has no
 * count; other count types are read and written back as 'l'; an existing
 * x-first-death-* stays. */
START_TEST(client_xdeath)
{
	struct wbuf h = {0};
	tw_key(&h, "x-first-death-queue");
	tv_str(&h, "orig");
	tw_key(&h, "x-death");
	tv_array_letter(&h);
	size_t a = tw_begin(&h);
	put_legacy_entry(&h, "q1", "expired", 0);
	put_legacy_entry(&h, "q2", "rejected", 0);
	put_legacy_entry(&h, "q1", "expired", 0);
	put_legacy_entry(&h, "q3", "maxlen", 5);
	put_legacy_entry(&h, "q2", "rejected", 9);
	tw_end(&h, a);
	struct message *m = with_headers(&h);

	struct message *c = dl(m, "q1", DL_EXPIRED, "dlx", NULL, T1);
	ck_assert_int_eq(xdeath_len(c), 3);
	struct bytes e0 = xdeath_at(c, 0), e1 = xdeath_at(c, 1), e2 = xdeath_at(c, 2);
	assert_keys(e0, "count,queue,reason");
	assert_long(e0, "count", 3); /* two old ones, plus this death */
	assert_str(e0, "queue", "q1");
	assert_keys(e1, "count,queue,reason");
	assert_long(e1, "count", 2); /* the newer q2 entry, counting both */
	assert_str(e1, "queue", "q2");
	assert_keys(e2, "queue,reason,count");
	struct fvalue v;
	ck_assert(table_get(e2, "count", &v));
	ck_assert_int_eq(v.type, 'I'); /* untouched */
	ck_assert_int_eq(v.v.i, 5);
	struct bytes hd = headers_of(c);
	assert_str(hd, "x-first-death-queue", "orig");
	assert_absent(hd, "x-first-death-reason");
	assert_str(hd, "x-last-death-queue", "q1");

	/* q3/maxlen: its 'I' count 5 moves to the front as 'l' 6, in place. */
	struct message *c2 = dl(m, "q3", DL_MAXLEN, "dlx", NULL, T1);
	struct bytes f0 = xdeath_at(c2, 0);
	assert_keys(f0, "queue,reason,count");
	assert_long(f0, "count", 6);
	ck_assert_int_eq(xdeath_len(c2), 3);
	assert_str(xdeath_at(c2, 1), "queue", "q1");
	assert_long(xdeath_at(c2, 1), "count", 2);
	assert_str(xdeath_at(c2, 2), "queue", "q2");

	/* An empty x-death array: a new entry, but no x-first-death. */
	struct wbuf h2 = {0};
	tw_key(&h2, "x-death");
	tv_array_letter(&h2);
	tw_end(&h2, tw_begin(&h2));
	struct message *m2 = with_headers(&h2);
	struct message *c3 = dl(m2, "q", DL_EXPIRED, "dlx", NULL, T1);
	ck_assert_int_eq(xdeath_len(c3), 1);
	assert_entry(xdeath_at(c3, 0), "q", "expired", 1, T1, "ex");
	assert_absent(headers_of(c3), "x-first-death-queue");
	assert_str(headers_of(c3), "x-last-death-queue", "q");

	struct message *ms[] = {m, c, c2, m2, c3};
	for (int i = 0; i < 5; i++)
		message_unref(ms[i]);
	ck_assert_uint_eq(message_live, 0);
	wb_free(&h);
	wb_free(&h2);
}
END_TEST

/* Names longer than message_new keeps are cut, not overflowed. */
START_TEST(long_names_cut)
{
	char name[301];
	memset(name, 'n', 300);
	name[300] = 0;
	struct message *m = plain();
	struct message *c = dl(m, name, DL_EXPIRED, name, name, T1);
	ck_assert_uint_eq(c->exchange_len, 255);
	ck_assert_uint_eq(c->rkey_len, 255);
	assert_str(xdeath_at(c, 0), "queue", name); /* a longstr keeps it all */
	ck_assert(deadletter_is_cycle(c, name));
	ck_assert_uint_eq(c->body_size, 1);
	ck_assert_int_eq(message_body(c)[0], 'x');
	message_unref(m);
	message_unref(c);
	ck_assert_uint_eq(message_live, 0);
}
END_TEST

static Suite *deadletter_headers_suite(void)
{
	Suite *s = suite_create("deadletter_headers");
	TCase *cp = tcase_create("headers");
	tcase_add_test(cp, no_headers);
	tcase_add_test(cp, deep_headers_kept);
	tcase_add_test(cp, invalid_xdeath_reset);
	tcase_add_test(cp, client_xdeath);
	tcase_add_test(cp, long_names_cut);
	suite_add_tcase(s, cp);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(deadletter_headers_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
