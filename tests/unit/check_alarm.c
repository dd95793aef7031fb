/* check_alarm.c — unit tests for broker/net/alarm.c: the limits taken from
 * the config (RabbitMQ's precedence, the paging budget), and the
 * connection side of an alarm, after rabbit_reader's throttle: blocking
 * until a publish, blocked from its content header (the rest of what was
 * read waits), connection.blocked / unblocked only for a client with the
 * capability, methods of a connection that does not publish still
 * handled, heartbeats not checked while blocked. The connection is the
 * fixture's socketpair; frames are written to its other end. */
#include "tests/unit/broker_fixture.h"

#include "broker/net/alarm.h"
#include "broker/queue/queue.h"

static void set(const char *name, const char *value)
{
	char err[256];
	ck_assert_msg(config_set(name, value, err, sizeof err) == 0, "%s", err);
}

/* The client's side: frames written to the broker's socket. */
static void send_frames(struct wbuf *w)
{
	ck_assert_int_eq(write(peer, w->p, w->len), (ssize_t)w->len);
	w->len = 0;
}

/* basic.publish of body to queue qname, header and body, in one write. */
static void send_publish(uint16_t ch, const char *qname, const char *body)
{
	struct wbuf w = {0};
	struct amqp_method m = {.id = AMQP_BASIC_PUBLISH};
	m.a.basic_publish.routing_key = bytes_of(qname);
	method_put(&w, ch, &m);
	content_header_put(&w, ch, AMQP_CLASS_BASIC, strlen(body),
			   (struct bytes){no_props, sizeof no_props});
	frame_put(&w, FRAME_BODY, ch, body, (uint32_t)strlen(body));
	send_frames(&w);
	wb_free(&w);
}

/* Disk alarm on: more free space asked for than any disk has. */
static void disk_alarm(bool on)
{
	set("data_dir", ".");
	set("disk_free_limit.absolute", on ? "1000000GB" : "0");
	alarm_configure();
	ck_assert_int_eq(!!(alarm_on & ALARM_DISK), on);
}

START_TEST(limits_follow_rabbitmq_precedence)
{
	set("total_memory_available_override_value", "8GiB");
	alarm_configure();
	struct alarm_figures f;
	alarm_figures(&f);
	ck_assert_uint_eq(f.total_memory, 8ull << 30);
	ck_assert_uint_eq(f.mem_limit, (uint64_t)(0.4 * (double)(8ull << 30))); /* neither set */
	ck_assert_uint_eq(f.disk_free_limit, 50000000);                        /* 50MB */
	set("vm_memory_high_watermark.absolute", "1GB");
	alarm_configure();
	alarm_figures(&f);
	ck_assert_uint_eq(f.mem_limit, 1000000000);
	/* .relative wins over .absolute, whatever the order */
	set("vm_memory_high_watermark.relative", "0.25");
	set("vm_memory_high_watermark.absolute", "3GB");
	set("disk_free_limit.relative", "1.5");
	alarm_configure();
	alarm_figures(&f);
	ck_assert_uint_eq(f.mem_limit, 2ull << 30);
	ck_assert_uint_eq(f.disk_free_limit, 12ull << 30);
	/* paging: half the watermark (1 GiB) is above memory_budget (256m) */
	ck_assert_uint_eq(queue_memory_budget(), 256u << 20);
	set("vm_memory_high_watermark_paging_ratio", "0.1");
	alarm_configure();
	ck_assert_uint_eq(queue_memory_budget(), (uint64_t)(0.1 * (double)(2ull << 30)));
	/* an absolute watermark above the RAM is capped to it, as RabbitMQ */
	set("vm_memory_high_watermark", "none");
	set("vm_memory_high_watermark.absolute", "100GiB");
	alarm_configure();
	alarm_figures(&f);
	ck_assert_uint_eq(f.mem_limit, 8ull << 30);
	/* the legacy bare key is the relative watermark */
	set("vm_memory_high_watermark", "0.5");
	alarm_configure();
	alarm_figures(&f);
	ck_assert_uint_eq(f.mem_limit, 4ull << 30);
}
END_TEST

START_TEST(memory_alarm_from_rss)
{
	set("vm_memory_high_watermark.absolute", "1"); /* any process is above */
	alarm_configure();
	struct alarm_figures f;
	alarm_figures(&f);
	ck_assert(f.mem_alarm);
	ck_assert_uint_gt(f.mem_used, 1);
	ck_assert_uint_eq(alarm_on, ALARM_MEMORY);
	set("vm_memory_high_watermark.absolute", "1000GB");
	alarm_configure();
	alarm_figures(&f);
	ck_assert(!f.mem_alarm);
	ck_assert_uint_eq(alarm_on, 0);
}
END_TEST

/* The once-a-second check stays cheap below the watermark: it reads RSS
 * and free disk, and asks the allocator to trim only above the limit (a
 * malloc_trim there would stall the loop every second, a latency tail at
 * low rates; docs/performance.md, "S6 at 1k msg/s"). */
START_TEST(no_trim_below_watermark)
{
	set("vm_memory_high_watermark.absolute", "1000GB");
	alarm_configure();
	struct alarm_figures f;
	alarm_figures(&f);
	uint64_t before = f.trims;
	for (int i = 0; i < 5; i++)
		alarm_check();
	alarm_figures(&f);
	ck_assert_uint_eq(f.trims, before);
	set("vm_memory_high_watermark.absolute", "1"); /* any process is above */
	alarm_configure(); /* checks at once */
	alarm_figures(&f);
	ck_assert_uint_eq(f.trims, before + 1);
	set("vm_memory_high_watermark.absolute", "1000GB");
	alarm_configure();
}
END_TEST

START_TEST(publisher_blocked_then_unblocked)
{
	c->cap_blocked = true;
	open_chan(1);
	struct queue *q = declare("q");
	ck_assert_ptr_null(alarm_conn_state(c));
	disk_alarm(true);
	ck_assert_str_eq(alarm_conn_state(c), "blocking");
	ck_assert_int_eq(got(), 0); /* nothing until it publishes */
	send_publish(1, "q", "held");
	int n = got();
	ck_assert_int_eq(n, 1);
	ck_assert_uint_eq(outs[0].id, AMQP_CONNECTION_BLOCKED);
	ck_assert_uint_eq(outs[0].ch, 0);
	ck_assert_str_eq(outs[0].reason, "low on disk");
	ck_assert_str_eq(alarm_conn_state(c), "blocked");
	ck_assert(c->read_paused & PAUSE_ALARM);
	/* blocked at the header: the body, read with it, waits */
	ck_assert_uint_eq(q->len, 0);
	alarm_check();
	ck_assert_int_eq(got(), 0); /* told once */
	disk_alarm(false);
	n = got();
	ck_assert_int_eq(n, 1);
	ck_assert_uint_eq(outs[0].id, AMQP_CONNECTION_UNBLOCKED);
	ck_assert_ptr_null(alarm_conn_state(c));
	ck_assert_uint_eq(c->read_paused, 0);
	ck_assert_uint_eq(q->len, 1); /* the held body was handled on resume */
	/* a later alarm: blocking again until the next publish */
	disk_alarm(true);
	ck_assert_str_eq(alarm_conn_state(c), "blocking");
	ck_assert_int_eq(got(), 0);
}
END_TEST

START_TEST(client_without_capability_not_told)
{
	open_chan(1);
	struct queue *q = declare("q");
	set("vm_memory_high_watermark.absolute", "1");
	disk_alarm(true);
	send_publish(1, "q", "held");
	ck_assert_int_eq(got(), 0);
	ck_assert_str_eq(alarm_conn_state(c), "blocked");
	ck_assert_uint_eq(q->len, 0);
	disk_alarm(false); /* memory still on: still blocked */
	ck_assert_int_eq(got(), 0);
	ck_assert_str_eq(alarm_conn_state(c), "blocked");
	set("vm_memory_high_watermark.absolute", "1000GB");
	alarm_configure();
	ck_assert_int_eq(got(), 0);
	ck_assert_uint_eq(q->len, 1);
}
END_TEST

START_TEST(both_alarms_reason)
{
	c->cap_blocked = true;
	open_chan(1);
	declare("q");
	set("vm_memory_high_watermark.absolute", "1");
	disk_alarm(true);
	send_publish(1, "q", "x");
	ck_assert_int_eq(got(), 1);
	ck_assert_str_eq(outs[0].reason, "low on memory & disk");
}
END_TEST

START_TEST(consume_only_connection_keeps_being_read)
{
	struct channel *ch = open_chan(1);
	struct queue *q = declare("q");
	consume(ch, q, "c1", false);
	disk_alarm(true);
	struct message *m = msg(1);
	queue_push(q, m);
	message_unref(m);
	ck_assert_int_eq(got(), 1);
	ck_assert_uint_eq(outs[0].id, AMQP_BASIC_DELIVER);
	ck_assert_str_eq(outs[0].body, "m1");
	ck_assert_uint_eq(q->unacked, 1);
	/* its ack and a basic.get are read and handled during the alarm */
	struct wbuf w = {0};
	struct amqp_method ack = {.id = AMQP_BASIC_ACK};
	ack.a.basic_ack.delivery_tag = outs[0].tag;
	method_put(&w, 1, &ack);
	struct amqp_method get = {.id = AMQP_BASIC_GET};
	get.a.basic_get.queue = bytes_of("q");
	method_put(&w, 1, &get);
	send_frames(&w);
	wb_free(&w);
	ck_assert_int_eq(got(), 1);
	ck_assert_uint_eq(outs[0].id, AMQP_BASIC_GET_EMPTY);
	ck_assert_uint_eq(q->unacked, 0);
	ck_assert_str_eq(alarm_conn_state(c), "blocking");
	ck_assert_uint_eq(c->read_paused, 0);
}
END_TEST

START_TEST(blocked_connection_heartbeats_not_checked)
{
	open_chan(1);
	declare("q");
	c->heartbeat = 1;
	disk_alarm(true);
	send_publish(1, "q", "x");
	got();
	ck_assert_str_eq(alarm_conn_state(c), "blocked");
	c->last_recv_ms = now_ms() - 60000; /* a minute of silence */
	conn_tick_all();
	ck_assert_int_eq(c->state, CONN_OPEN);
	disk_alarm(false); /* read again: heartbeats are due from now */
	conn_tick_all();
	ck_assert_int_eq(c->state, CONN_OPEN);
	c->last_recv_ms = now_ms() - 60000;
	conn_tick_all();
	ck_assert_int_eq(c->state, CONN_DEAD);
}
END_TEST

static Suite *alarm_suite(void)
{
	Suite *s = suite_create("alarm");
	TCase *t = tcase_create("alarm");
	tcase_add_checked_fixture(t, setup, teardown);
	tcase_add_test(t, limits_follow_rabbitmq_precedence);
	tcase_add_test(t, memory_alarm_from_rss);
	tcase_add_test(t, no_trim_below_watermark);
	tcase_add_test(t, publisher_blocked_then_unblocked);
	tcase_add_test(t, client_without_capability_not_told);
	tcase_add_test(t, both_alarms_reason);
	tcase_add_test(t, consume_only_connection_keeps_being_read);
	tcase_add_test(t, blocked_connection_heartbeats_not_checked);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(alarm_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
