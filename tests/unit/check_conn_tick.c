/* check_conn_tick.c — unit tests for conn.c's deadline wheel: a tick looks
 * only at the connections whose deadline has come (a connection whose
 * deadline passed without the wheel being told is left alone), a
 * rescheduled one is looked at within a tick or two, a missed heartbeat
 * kills it and a heartbeat to send goes out. The sleeps are three ticks
 * long: the only timing they need is that a tick's period has passed. */
#include "tests/unit/broker_fixture.h"

#include <time.h>

static void sleep_ticks(int n)
{
	struct timespec ts = {0, (long)n * CONN_TICK_MS * 1000000L};
	nanosleep(&ts, NULL);
}

START_TEST(tick_looks_only_at_due_connections)
{
	c->heartbeat = 1;
	conn_reschedule(c); /* as tune-ok does: next look by the heartbeat to send */
	c->last_recv_ms = now_ms() - 60000; /* silent a minute, the wheel untold */
	c->last_send_ms = now_ms();
	conn_tick();
	ck_assert_int_eq(c->state, CONN_OPEN); /* its look is not due yet */
	conn_reschedule(c);
	sleep_ticks(3);
	conn_tick();
	ck_assert_int_eq(c->state, CONN_DEAD);
}
END_TEST

START_TEST(heartbeat_sent_when_due)
{
	c->heartbeat = 2;
	c->last_recv_ms = now_ms();
	c->last_send_ms = now_ms() - 1500; /* past half the interval */
	conn_reschedule(c);
	sleep_ticks(3);
	conn_tick();
	turn();
	uint8_t b[64];
	ssize_t n = read(peer, b, sizeof b);
	ck_assert_int_eq(n, 8);
	static const uint8_t hb[8] = {FRAME_HEARTBEAT, 0, 0, 0, 0, 0, 0, 0xCE};
	ck_assert_mem_eq(b, hb, 8);
	ck_assert_int_eq(c->state, CONN_OPEN);
	/* sent: nothing more is due for about a second */
	conn_tick();
	turn();
	ck_assert_int_lt(read(peer, b, sizeof b), 1);
}
END_TEST

START_TEST(tick_all_looks_at_everyone)
{
	c->heartbeat = 1;
	c->last_recv_ms = now_ms() - 60000;
	conn_tick_all();
	ck_assert_int_eq(c->state, CONN_DEAD);
}
END_TEST

static Suite *conn_tick_suite(void)
{
	Suite *s = suite_create("conn_tick");
	TCase *t = tcase_create("wheel");
	tcase_add_checked_fixture(t, setup, teardown);
	tcase_add_test(t, tick_looks_only_at_due_connections);
	tcase_add_test(t, heartbeat_sent_when_due);
	tcase_add_test(t, tick_all_looks_at_everyone);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(conn_tick_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
