/* check_deadletter.c — unit tests for broker/queue/deadletter.c: the x-death
 * entry of a first death (every field, type and value), x-first-death-*
 * and x-last-death-*, the expiration dropped and kept as
 * original-expiration, repeated deaths (count, order), CC/BCC and the
 * dead-letter routing key, and RabbitMQ's cycle rule. Headers are in
 * check_deadletter_headers.c. */
#include "tests/unit/deadletter_fixture.h"

START_TEST(first_death)
{
	struct wbuf h = rich_headers();
	struct amqp_props in = rich_props(&h);
	struct message *m = mkmsg("ex", "rk", &in, "hello", MSG_PERSISTENT | MSG_MANDATORY, 3);
	message_set_store_id(m, 42); /* as if stored in a shared row: the copy is not */
	struct wbuf before = {0};
	wb_add(&before, message_props(m).p, message_props(m).len);

	struct message *c = dl(m, "q1", DL_EXPIRED, "dlx", NULL, T1);
	ck_assert_uint_eq(message_live, 2);
	ck_assert_uint_eq(c->refs, 1);
	assert_bytes(message_exchange(c), "dlx");
	assert_bytes(message_rkey(c), "rk");
	ck_assert_uint_eq(c->body_size, 5);
	ck_assert_mem_eq(message_body(c), "hello", 5);
	ck_assert_uint_eq(c->flags, MSG_PERSISTENT);
	ck_assert_uint_eq(c->priority, 3);
	ck_assert_uint_eq(message_store_id(c), 0);

	/* m itself is untouched. */
	ck_assert_uint_eq(message_props(m).len, before.len);
	ck_assert_mem_eq(message_props(m).p, before.p, before.len);

	/* Properties: expiration gone, the others as they were. */
	struct amqp_props out = props_of(c);
	ck_assert_uint_eq(out.flags, in.flags & (uint16_t)~PROP_EXPIRATION);
	assert_bytes(out.content_type, "text/plain");
	ck_assert_uint_eq(out.delivery_mode, 2);
	ck_assert_uint_eq(out.priority, 3);
	assert_bytes(out.correlation_id, "cid");
	assert_bytes(out.message_id, "mid");
	ck_assert_uint_eq(out.timestamp, 1234);
	assert_bytes(out.app_id, "app");

	/* Headers sorted by key (uppercase first, as bytes). */
	assert_keys(out.headers, "CC,a,nested,x-death,x-first-death-exchange,"
				 "x-first-death-queue,x-first-death-reason,x-last-death-exchange,"
				 "x-last-death-queue,x-last-death-reason,zz");
	static const char *const kept[] = {"zz", "a", "CC", "nested"};
	for (int i = 0; i < 4; i++) {
		struct bytes was, now;
		ck_assert(raw_pair(view(&h), kept[i], &was));
		ck_assert(raw_pair(out.headers, kept[i], &now));
		ck_assert_uint_eq(was.len, now.len);
		ck_assert_mem_eq(was.p, now.p, was.len);
	}

	/* The x-death entry: fields in order, types and values. */
	ck_assert_int_eq(xdeath_len(c), 1);
	struct bytes e = xdeath_at(c, 0);
	assert_keys(e, "count,reason,queue,time,exchange,routing-keys,original-expiration");
	assert_entry(e, "q1", "expired", 1, T1, "ex");
	assert_rkeys(e, "rk,c1,c2");
	assert_str(e, "original-expiration", "60000");

	assert_str(out.headers, "x-first-death-reason", "expired");
	assert_str(out.headers, "x-first-death-queue", "q1");
	assert_str(out.headers, "x-first-death-exchange", "ex");
	assert_str(out.headers, "x-last-death-reason", "expired");
	assert_str(out.headers, "x-last-death-queue", "q1");
	assert_str(out.headers, "x-last-death-exchange", "ex");

	/* The copy lives on its own. */
	message_unref(m);
	ck_assert_mem_eq(message_body(c), "hello", 5);
	message_unref(c);
	ck_assert_uint_eq(message_live, 0);
	wb_free(&before);
	wb_free(&h);
}
END_TEST

/* The same (queue, reason) again: one entry, count 2, its other fields
 * from the first time; x-first-* stay, x-last-* follow. */
START_TEST(second_death_same_pair)
{
	struct wbuf h = rich_headers();
	struct amqp_props in = rich_props(&h);
	struct message *m = mkmsg("ex", "rk", &in, "hello", 0, 0);
	struct message *c1 = dl(m, "q1", DL_EXPIRED, "dlx", NULL, T1);
	struct bytes e1 = xdeath_at(c1, 0);
	struct message *c2 = dl(c1, "q1", DL_EXPIRED, "dlx2", NULL, T2);
	assert_bytes(message_exchange(c2), "dlx2");

	ck_assert_int_eq(xdeath_len(c2), 1);
	struct bytes e = xdeath_at(c2, 0);
	assert_keys(e, "count,reason,queue,time,exchange,routing-keys,original-expiration");
	assert_entry(e, "q1", "expired", 2, T1, "ex");
	assert_rkeys(e, "rk,c1,c2");
	assert_str(e, "original-expiration", "60000");
	/* Only the count changed. */
	ck_assert_uint_eq(e.len, e1.len);
	ck_assert_mem_eq(e.p + 15, e1.p + 15, e.len - 15); /* after count: key, 'l', 8 octets */

	struct bytes hd = headers_of(c2);
	assert_str(hd, "x-first-death-exchange", "ex");
	assert_str(hd, "x-first-death-queue", "q1");
	assert_str(hd, "x-last-death-exchange", "dlx");
	assert_str(hd, "x-last-death-queue", "q1");
	assert_str(hd, "x-last-death-reason", "expired");

	struct message *c3 = dl(c2, "q1", DL_EXPIRED, "dlx", NULL, T3);
	ck_assert_int_eq(xdeath_len(c3), 1);
	assert_entry(xdeath_at(c3, 0), "q1", "expired", 3, T1, "ex");

	message_unref(m);
	message_unref(c1);
	message_unref(c2);
	message_unref(c3);
	ck_assert_uint_eq(message_live, 0);
	wb_free(&h);
}
END_TEST

/* A new (queue, reason) goes in front; a repeated one moves to the front
 * and the rest keep their order. */
START_TEST(entry_order)
{
	struct wbuf h = rich_headers();
	struct amqp_props in = rich_props(&h);
	struct message *m = mkmsg("ex", "rk", &in, "x", 0, 0);
	struct message *c1 = dl(m, "q1", DL_EXPIRED, "dlx", NULL, T1);
	struct message *c2 = dl(c1, "q2", DL_REJECTED, "dlx2", NULL, T2);

	ck_assert_int_eq(xdeath_len(c2), 2);
	struct bytes e0 = xdeath_at(c2, 0);
	assert_keys(e0, "count,reason,queue,time,exchange,routing-keys");
	assert_entry(e0, "q2", "rejected", 1, T2, "dlx");
	assert_rkeys(e0, "rk,c1,c2");
	assert_absent(e0, "original-expiration"); /* c1 has no expiration */
	struct bytes old = xdeath_at(c1, 0), e1 = xdeath_at(c2, 1);
	ck_assert_uint_eq(e1.len, old.len);
	ck_assert_mem_eq(e1.p, old.p, old.len);

	struct bytes hd = headers_of(c2);
	assert_str(hd, "x-first-death-reason", "expired");
	assert_str(hd, "x-first-death-queue", "q1");
	assert_str(hd, "x-first-death-exchange", "ex");
	assert_str(hd, "x-last-death-reason", "rejected");
	assert_str(hd, "x-last-death-queue", "q2");
	assert_str(hd, "x-last-death-exchange", "dlx");

	/* q1/expired again: moves to the front with count 2. */
	struct message *c3 = dl(c2, "q1", DL_EXPIRED, "dlx", NULL, T3);
	ck_assert_int_eq(xdeath_len(c3), 2);
	assert_entry(xdeath_at(c3, 0), "q1", "expired", 2, T1, "ex");
	assert_entry(xdeath_at(c3, 1), "q2", "rejected", 1, T2, "dlx");
	assert_str(headers_of(c3), "x-last-death-queue", "q1");
	assert_str(headers_of(c3), "x-last-death-exchange", "dlx2");

	/* A third pair in front, the other two in their order. */
	struct message *c4 = dl(c3, "q3", DL_MAXLEN, "dlx", NULL, T3);
	ck_assert_int_eq(xdeath_len(c4), 3);
	assert_entry(xdeath_at(c4, 0), "q3", "maxlen", 1, T3, "dlx");
	assert_entry(xdeath_at(c4, 1), "q1", "expired", 2, T1, "ex");
	assert_entry(xdeath_at(c4, 2), "q2", "rejected", 1, T2, "dlx");

	/* Same queue, other reason: a separate entry. */
	struct message *c5 = dl(c4, "q3", DL_DELIVERY_LIMIT, "dlx", NULL, T3);
	ck_assert_int_eq(xdeath_len(c5), 4);
	assert_entry(xdeath_at(c5, 0), "q3", "delivery_limit", 1, T3, "dlx");
	assert_entry(xdeath_at(c5, 1), "q3", "maxlen", 1, T3, "dlx");

	struct message *ms[] = {m, c1, c2, c3, c4, c5};
	for (int i = 0; i < 6; i++)
		message_unref(ms[i]);
	ck_assert_uint_eq(message_live, 0);
	wb_free(&h);
}
END_TEST

/* routing-keys: the routing key, then CC's longstrs; BCC neither recorded
 * nor kept. */
START_TEST(routing_keys_cc_bcc)
{
	struct wbuf h = {0};
	tw_key(&h, "BCC");
	tv_array_letter(&h);
	size_t a = tw_begin(&h);
	tv_str(&h, "secret");
	tw_end(&h, a);
	tw_key(&h, "CC");
	tv_array_letter(&h);
	a = tw_begin(&h);
	tv_str(&h, "a");
	tv_i32(&h, 5); /* not a routing key */
	tv_str(&h, "c");
	tw_end(&h, a);
	struct message *m = with_headers(&h);
	struct message *c = dl(m, "q", DL_REJECTED, "", NULL, T1);
	assert_bytes(message_exchange(c), "");
	assert_rkeys(xdeath_at(c, 0), "rk,a,c");
	struct bytes hd = headers_of(c);
	assert_absent(hd, "BCC");
	struct bytes was, now;
	ck_assert(raw_pair(view(&h), "CC", &was));
	ck_assert(raw_pair(hd, "CC", &now));
	ck_assert_uint_eq(was.len, now.len);
	ck_assert_mem_eq(was.p, now.p, was.len);
	message_unref(m);
	message_unref(c);

	/* A CC that is no array adds nothing (RabbitMQ refuses the publish). */
	struct wbuf h2 = {0};
	tw_key(&h2, "CC");
	tv_str(&h2, "x");
	m = with_headers(&h2);
	c = dl(m, "q", DL_REJECTED, "", NULL, T1);
	assert_rkeys(xdeath_at(c, 0), "rk");
	message_unref(m);
	message_unref(c);
	ck_assert_uint_eq(message_live, 0);
	wb_free(&h);
	wb_free(&h2);
}
END_TEST

/* x-dead-letter-routing-key replaces the routing key and drops CC; the
 * entry still records the keys the message had. */
START_TEST(dl_rkey_override)
{
	struct wbuf h = rich_headers();
	struct amqp_props in = rich_props(&h);
	struct message *m = mkmsg("ex", "rk", &in, "x", 0, 0);
	struct message *c = dl(m, "q1", DL_REJECTED, "dlx", "dead", T1);
	assert_bytes(message_rkey(c), "dead");
	struct bytes hd = headers_of(c);
	assert_absent(hd, "CC");
	assert_rkeys(xdeath_at(c, 0), "rk,c1,c2");

	/* The next death records the key the copy was routed with. */
	struct message *c2 = dl(c, "q2", DL_EXPIRED, "dlx", NULL, T2);
	assert_bytes(message_rkey(c2), "dead");
	assert_rkeys(xdeath_at(c2, 0), "dead");

	/* An empty dead-letter routing key is still one. */
	struct message *c3 = dl(m, "q1", DL_REJECTED, "dlx", "", T1);
	assert_bytes(message_rkey(c3), "");
	assert_absent(headers_of(c3), "CC");

	message_unref(m);
	message_unref(c);
	message_unref(c2);
	message_unref(c3);
	ck_assert_uint_eq(message_live, 0);
	wb_free(&h);
}
END_TEST

/* ---- cycles ---- */

START_TEST(cycle_expired_twice)
{
	struct message *m = plain();
	ck_assert(!deadletter_is_cycle(m, "q1"));
	struct message *c1 = dl(m, "q1", DL_EXPIRED, "", NULL, T1);
	ck_assert(deadletter_is_cycle(c1, "q1"));
	ck_assert(!deadletter_is_cycle(c1, "q2"));
	ck_assert(!deadletter_is_cycle(c1, "q")); /* no prefix match */
	ck_assert(!deadletter_is_cycle(c1, "q10"));
	/* q1 -> q2 -> back to q1 or q2, all by TTL or length. */
	struct message *c2 = dl(c1, "q2", DL_MAXLEN, "", NULL, T2);
	ck_assert(deadletter_is_cycle(c2, "q1"));
	ck_assert(deadletter_is_cycle(c2, "q2"));
	ck_assert(!deadletter_is_cycle(c2, "q3"));
	struct message *c3 = dl(c2, "q3", DL_DELIVERY_LIMIT, "", NULL, T3);
	ck_assert(deadletter_is_cycle(c3, "q1"));
	message_unref(m);
	message_unref(c1);
	message_unref(c2);
	message_unref(c3);
	ck_assert_uint_eq(message_live, 0);
}
END_TEST

START_TEST(cycle_broken_by_reject)
{
	struct message *m = plain();
	/* Rejected from q1: a client decided, so q1 may see it again. */
	struct message *c1 = dl(m, "q1", DL_REJECTED, "", NULL, T1);
	ck_assert(!deadletter_is_cycle(c1, "q1"));
	/* q1 expired, then q2 rejected: back into q1 is no cycle. */
	struct message *a = dl(m, "q1", DL_EXPIRED, "", NULL, T1);
	struct message *b = dl(a, "q2", DL_REJECTED, "", NULL, T2);
	ck_assert(!deadletter_is_cycle(b, "q1"));
	ck_assert(!deadletter_is_cycle(b, "q2"));
	/* q1 rejected, then q2 expired: q2 again is automatic, q1 is not. */
	struct message *c2 = dl(c1, "q2", DL_EXPIRED, "", NULL, T2);
	ck_assert(deadletter_is_cycle(c2, "q2"));
	ck_assert(!deadletter_is_cycle(c2, "q1"));
	/* ... then q1 expired: its newest entry is automatic now. */
	struct message *c3 = dl(c2, "q1", DL_EXPIRED, "", NULL, T3);
	ck_assert(deadletter_is_cycle(c3, "q1"));
	ck_assert(deadletter_is_cycle(c3, "q2"));
	/* The rejected q1 entry moved to the front breaks everything behind. */
	struct message *c4 = dl(c3, "q1", DL_REJECTED, "", NULL, T3);
	ck_assert_int_eq(xdeath_len(c4), 3);
	ck_assert(!deadletter_is_cycle(c4, "q1"));
	ck_assert(!deadletter_is_cycle(c4, "q2"));
	struct message *ms[] = {m, c1, a, b, c2, c3, c4};
	for (int i = 0; i < 7; i++)
		message_unref(ms[i]);
	ck_assert_uint_eq(message_live, 0);
}
END_TEST

/* Client-made x-death values the rule meets. */
START_TEST(cycle_odd_headers)
{
	/* Not an array. */
	struct wbuf h = {0};
	tw_key(&h, "x-death");
	tv_str(&h, "q1");
	struct message *m = with_headers(&h);
	ck_assert(!deadletter_is_cycle(m, "q1"));
	message_unref(m);

	/* A non-table element ahead of the q1 entry: not fully automatic. */
	struct wbuf h2 = {0};
	tw_key(&h2, "x-death");
	tv_array_letter(&h2);
	size_t a = tw_begin(&h2);
	tv_str(&h2, "junk");
	tv_table_letter(&h2);
	size_t t = tw_begin(&h2);
	tw_key(&h2, "queue");
	tv_str(&h2, "q1");
	tw_key(&h2, "reason");
	tv_str(&h2, "expired");
	tw_end(&h2, t);
	tw_end(&h2, a);
	m = with_headers(&h2);
	ck_assert(!deadletter_is_cycle(m, "q1"));
	message_unref(m);

	/* An entry without a reason counts as automatic; a queue that is no
	 * longstr never matches. */
	struct wbuf h3 = {0};
	tw_key(&h3, "x-death");
	tv_array_letter(&h3);
	a = tw_begin(&h3);
	tv_table_letter(&h3);
	t = tw_begin(&h3);
	tw_key(&h3, "queue");
	tv_i32(&h3, 1);
	tw_end(&h3, t);
	tv_table_letter(&h3);
	t = tw_begin(&h3);
	tw_key(&h3, "queue");
	tv_str(&h3, "q1");
	tw_end(&h3, t);
	tw_end(&h3, a);
	m = with_headers(&h3);
	ck_assert(deadletter_is_cycle(m, "q1"));
	ck_assert(!deadletter_is_cycle(m, "1"));
	message_unref(m);
	ck_assert_uint_eq(message_live, 0);
	wb_free(&h);
	wb_free(&h2);
	wb_free(&h3);
}
END_TEST

static Suite *deadletter_suite(void)
{
	Suite *s = suite_create("deadletter");
	TCase *cp = tcase_create("copy");
	tcase_add_test(cp, first_death);
	tcase_add_test(cp, second_death_same_pair);
	tcase_add_test(cp, entry_order);
	tcase_add_test(cp, routing_keys_cc_bcc);
	tcase_add_test(cp, dl_rkey_override);
	suite_add_tcase(s, cp);
	TCase *cy = tcase_create("cycle");
	tcase_add_test(cy, cycle_expired_twice);
	tcase_add_test(cy, cycle_broken_by_reject);
	tcase_add_test(cy, cycle_odd_headers);
	suite_add_tcase(s, cy);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(deadletter_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
