/* check_consumer_timeout.c — unit tests for the delivery acknowledgement
 * timeout (broker/amqp/consumer_timeout.c) and channel_reclaim: a
 * timed-out consumer of a client with consumer_cancel_notify is cancelled
 * alone and its deliveries requeued (late acks ignored, unknown tags still
 * 406), without it (and for basic.get) the channel is closed with 406 and
 * RabbitMQ's text; each delivery is judged by its queue's timeout, a short
 * one behind a long one included, and a lowered timeout applies to what
 * is already out. Delivery times are moved into the past by hand, so the
 * tests do not sleep. */
#include "tests/unit/broker_fixture.h"

#include "broker/amqp/consumer_timeout.h"

static void publish(struct queue *q, int n)
{
	struct message *m = msg(n);
	queue_push(q, m);
	message_unref(m);
}

/* Makes every outstanding delivery of ch look `ms` older. */
static void age(struct channel *ch, uint64_t ms)
{
	for (size_t k = 0; k < ch->ring_len; k++) {
		struct unacked *u = &ch->ring[(ch->ring_base + k) & (ch->ring_cap - 1)];
		if (u->e.m)
			u->since_ms -= ms;
	}
}

/* Ages only the delivery with tag `tag`. */
static void age_tag(struct channel *ch, uint64_t tag, uint64_t ms)
{
	ck_assert(tag >= ch->ring_base && tag < ch->ring_base + ch->ring_len);
	struct unacked *u = &ch->ring[tag & (ch->ring_cap - 1)];
	ck_assert_ptr_nonnull(u->e.m);
	u->since_ms -= ms;
}

static int count_of(int n, uint32_t id)
{
	int k = 0;
	for (int i = 0; i < n; i++)
		k += outs[i].id == id;
	return k;
}

START_TEST(reclaim_requeues_one_consumer)
{
	struct queue *qa = declare("qa"), *qb = declare("qb");
	struct channel *ch = open_chan(1);
	struct consumer *a = consume(ch, qa, "a", false);
	consume(ch, qb, "b", false);
	publish(qa, 0); /* tag 1 */
	publish(qb, 1); /* tag 2 */
	publish(qa, 2); /* tag 3 */
	ck_assert_int_eq(got(), 3);
	ck_assert_uint_eq(channel_reclaim(ch, a), 2);
	ck_assert_uint_eq(qa->unacked, 0);
	ck_assert_uint_eq(qa->len, 2);
	ck_assert_uint_eq(qb->unacked, 1);
	ck_assert_uint_eq(ch->unacked_n, 1);
	/* late acks and rejects of the reclaimed tags are ignored */
	ck_assert_int_eq(channel_ack(ch, 1, false), 0);
	ck_assert_int_eq(channel_nack(ch, 3, false, true), 0);
	ck_assert_uint_eq(qa->len, 2);
	/* b's delivery is untouched, and a tag never issued is still 406 */
	ck_assert_int_eq(channel_ack(ch, 2, false), 0);
	ck_assert_int_eq(channel_ack(ch, 9, false), AMQP_PRECONDITION_FAILED);
}
END_TEST

START_TEST(timed_out_consumer_cancelled_with_notify)
{
	cfg.consumer_timeout = 1000;
	c->cap_cancel_notify = true;
	struct queue *qa = declare("qa"), *qb = declare("qb");
	struct channel *ch = open_chan(1);
	consume(ch, qa, "a", false);
	consume(ch, qb, "b", false);
	publish(qa, 0);
	publish(qa, 1);
	ck_assert_int_eq(got(), 2);
	conn_tick_all(); /* nothing is due yet */
	ck_assert_int_eq(got(), 0);
	age(ch, 1500);
	publish(qb, 2); /* tag 3, fresh */
	ck_assert_int_eq(got(), 1);
	conn_tick_all();
	int n = got();
	ck_assert_int_eq(n, 1);
	ck_assert_uint_eq(outs[0].id, AMQP_BASIC_CANCEL);
	ck_assert_str_eq(outs[0].ctag, "a");
	ck_assert_int_eq(ch->state, CH_OPEN);
	ck_assert_ptr_null(strmap_get(&ch->consumers, "a", 1));
	ck_assert_uint_eq(qa->len, 2); /* back in the queue, for another consumer */
	ck_assert_uint_eq(qa->ncons, 0);
	/* b carries on */
	publish(qb, 3);
	ck_assert_int_eq(got(), 1);
	ck_assert_uint_eq(outs[0].id, AMQP_BASIC_DELIVER);
	ck_assert_str_eq(outs[0].ctag, "b");
	ck_assert_int_eq(channel_ack(ch, 1, false), 0); /* late: ignored */
	ck_assert_int_eq(channel_ack(ch, 0, true), 0);
	ck_assert_uint_eq(ch->unacked_n, 0);
	/* the requeued messages come back as redeliveries */
	struct channel *ch2 = open_chan(2);
	consume(ch2, qa, "c", false);
	ck_assert_int_eq(got(), 2);
	ck_assert(outs[0].redelivered && outs[1].redelivered);
}
END_TEST

START_TEST(timed_out_consumer_without_notify_closes_channel)
{
	cfg.consumer_timeout = 1000;
	c->cap_cancel_notify = false;
	struct queue *q = declare("q");
	struct channel *ch = open_chan(1);
	consume(ch, q, "a", false);
	publish(q, 0);
	ck_assert_int_eq(got(), 1);
	age(ch, 1500);
	conn_tick_all();
	ck_assert_int_eq(got(), 1);
	ck_assert_uint_eq(outs[0].id, AMQP_CHANNEL_CLOSE);
	ck_assert_int_eq(ch->state, CH_CLOSING);
	ck_assert_str_eq(c->err, "PRECONDITION_FAILED - delivery acknowledgement on channel 1 "
				 "timed out. Timeout value used: 1000 ms. This timeout value can "
				 "be configured, see consumers doc guide to learn more");
	ck_assert_uint_eq(q->len, 1);
	ck_assert_uint_eq(q->unacked, 0);
}
END_TEST

START_TEST(basic_get_held_closes_channel)
{
	cfg.consumer_timeout = 1000;
	c->cap_cancel_notify = true; /* no consumer to cancel */
	struct queue *q = declare("q");
	struct channel *ch = open_chan(1);
	publish(q, 0);
	struct amqp_method m = {.id = AMQP_BASIC_GET};
	m.a.basic_get.queue = bytes_of("q");
	ck_assert_int_eq(handle_basic(ch, &m), 0);
	ck_assert_int_eq(got(), 1);
	ck_assert_uint_eq(outs[0].id, AMQP_BASIC_GET_OK);
	age(ch, 1500);
	conn_tick_all();
	ck_assert_int_eq(got(), 1);
	ck_assert_uint_eq(outs[0].id, AMQP_CHANNEL_CLOSE);
	ck_assert_uint_eq(q->len, 1);
}
END_TEST

START_TEST(each_queue_its_own_timeout)
{
	cfg.consumer_timeout = 0; /* the broker's: off */
	c->cap_cancel_notify = true;
	struct queue *slow = declare("slow"), *fast = declare("fast");
	slow->consumer_timeout = 600000;
	fast->consumer_timeout = 1000;
	struct channel *ch = open_chan(1);
	consume(ch, slow, "s", false);
	consume(ch, fast, "f", false);
	publish(slow, 0); /* tag 1, the oldest */
	ck_assert_int_eq(got(), 1);
	publish(fast, 1); /* tag 2 */
	ck_assert_int_eq(got(), 1);
	ck_assert_uint_eq(ch->ct_floor, 1000);
	age_tag(ch, 1, 5000);
	age_tag(ch, 2, 1500);
	conn_tick_all();
	ck_assert_int_eq(got(), 1);
	ck_assert_uint_eq(outs[0].id, AMQP_BASIC_CANCEL);
	ck_assert_str_eq(outs[0].ctag, "f");
	ck_assert_ptr_nonnull(strmap_get(&ch->consumers, "s", 1));
	/* a queue with 0 has no limit even when the broker has one */
	cfg.consumer_timeout = 1000;
	struct queue *none = declare("none");
	none->consumer_timeout = 0;
	consume(ch, none, "n", false);
	publish(none, 2);
	ck_assert_int_eq(got(), 1);
	age(ch, 100000);
	conn_tick_all();
	ck_assert_int_eq(count_of(got(), AMQP_BASIC_CANCEL), 0);
	ck_assert_int_eq(ch->state, CH_OPEN);
}
END_TEST

START_TEST(lowered_timeout_applies_to_deliveries_out)
{
	cfg.consumer_timeout = 600000;
	c->cap_cancel_notify = true;
	struct queue *q = declare("q");
	struct channel *ch = open_chan(1);
	consume(ch, q, "a", false);
	publish(q, 0);
	ck_assert_int_eq(got(), 1);
	age(ch, 5000);
	conn_tick_all();
	ck_assert_int_eq(got(), 0);
	/* as a policy change does through queue_configure */
	q->consumer_timeout = 1000;
	queue_timeout_gen++;
	conn_tick_all();
	ck_assert_int_eq(got(), 1);
	ck_assert_uint_eq(outs[0].id, AMQP_BASIC_CANCEL);
}
END_TEST

START_TEST(no_timeout_while_acked_in_time)
{
	cfg.consumer_timeout = 1000;
	c->cap_cancel_notify = false;
	struct queue *q = declare("q");
	struct channel *ch = open_chan(1);
	consume(ch, q, "a", false);
	for (int i = 0; i < 50; i++) {
		publish(q, i);
		ck_assert_int_eq(got(), 1);
		age(ch, 900);
		conn_tick_all();
		ck_assert_int_eq(channel_ack(ch, (uint64_t)i + 1, false), 0);
	}
	ck_assert_int_eq(got(), 0);
	ck_assert_int_eq(ch->state, CH_OPEN);
	ck_assert_uint_eq(ch->ct_floor, 0); /* nothing outstanding */
}
END_TEST

static Suite *ct_suite(void)
{
	Suite *s = suite_create("consumer_timeout");
	TCase *t = tcase_create("timeout");
	tcase_add_checked_fixture(t, setup, teardown);
	tcase_add_test(t, reclaim_requeues_one_consumer);
	tcase_add_test(t, timed_out_consumer_cancelled_with_notify);
	tcase_add_test(t, timed_out_consumer_without_notify_closes_channel);
	tcase_add_test(t, basic_get_held_closes_channel);
	tcase_add_test(t, each_queue_its_own_timeout);
	tcase_add_test(t, lowered_timeout_applies_to_deliveries_out);
	tcase_add_test(t, no_timeout_while_acked_in_time);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(ct_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
