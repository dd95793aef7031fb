/* check_channel.c — unit tests for the delivery side of broker/amqp/channel.c:
 * the unacked ring (tags 1..N, ack out of order, multiple, tag 0, unknown
 * and double acks as 406, growth with holes and wrap), prefetch per
 * consumer and per channel (RabbitMQ's basic.qos global semantics), and
 * round-robin in queue_deliver. Deliveries are read back off a socket. */
#include "tests/unit/broker_fixture.h"

/* Publishes message "m<n>" (its body and routing key) straight into q. */
static void publish(struct queue *q, int n)
{
	struct message *m = msg(n);
	queue_push(q, m);
	message_unref(m);
}

static void publish_n(struct queue *q, int from, int n)
{
	for (int i = from; i < from + n; i++)
		publish(q, i);
}

static void qos(struct channel *ch, uint16_t count, bool global)
{
	struct amqp_method m = {.id = AMQP_BASIC_QOS};
	m.a.basic_qos.prefetch_count = count;
	m.a.basic_qos.global = global;
	ck_assert_int_eq(handle_basic(ch, &m), 0);
}

/* Counts outs of one method id. */
static int count_of(int n, uint32_t id)
{
	int k = 0;
	for (int i = 0; i < n; i++)
		k += outs[i].id == id;
	return k;
}

/* Asserts outs[i] is basic.deliver of message m<body> with tag and flag. */
#define ASSERT_DELIVER(i, ctag_, tag_, redelivered_, body_)                           \
	do {                                                                          \
		const struct out *o_ = &outs[i];                                      \
		ck_assert_msg(o_->id == AMQP_BASIC_DELIVER, "out %d is %s", (int)(i), \
			      method_name(o_->id));                                   \
		ck_assert_str_eq(o_->ctag, ctag_);                                    \
		ck_assert_uint_eq(o_->tag, tag_);                                     \
		ck_assert_int_eq(o_->redelivered, redelivered_);                      \
		ck_assert_str_eq(o_->body, body_);                                    \
	} while (0)

static const char *mname(int n)
{
	static char b[8][16];
	static int k;
	char *s = b[k++ % 8];
	snprintf(s, 16, "m%d", n);
	return s;
}

/* The unacked record for tag, read from the ring as the channel lays it
 * out; NULL when the tag is outside the window or acked. */
static struct unacked *record_of(struct channel *ch, uint64_t tag)
{
	if (tag < ch->ring_base || tag >= ch->ring_base + ch->ring_len)
		return NULL;
	struct unacked *u = &ch->ring[tag & (ch->ring_cap - 1)];
	return u->e.m ? u : NULL;
}

/* ---- delivery tags and acks ---- */

START_TEST(tags_one_to_n)
{
	struct queue *q = declare("q");
	struct channel *ch = open_chan(1);
	struct consumer *a = consume(ch, q, "a", false);
	publish_n(q, 0, 5);
	ck_assert_int_eq(got(), 5);
	for (int i = 0; i < 5; i++)
		ASSERT_DELIVER(i, "a", (uint64_t)i + 1, false, mname(i));
	ck_assert_uint_eq(outs[0].ch, 1);
	ck_assert_uint_eq(q->len, 0);
	ck_assert_uint_eq(q->unacked, 5);
	ck_assert_uint_eq(a->unacked, 5);
	ck_assert_uint_eq(ch->unacked_n, 5);
	ck_assert_uint_eq(ch->next_tag, 5);
	ck_assert_uint_eq(q->refs, 1 + 5); /* vhost + one per unacked record */
	for (uint64_t t = 1; t <= 5; t++) {
		struct unacked *u = record_of(ch, t);
		ck_assert_ptr_nonnull(u);
		ck_assert_ptr_eq(u->cons, a);
		ck_assert_ptr_eq(u->q, q);
		ck_assert_uint_eq(u->e.deliveries, 1);
	}
	/* Tags continue across a second batch. */
	publish_n(q, 5, 2);
	ck_assert_int_eq(got(), 2);
	ASSERT_DELIVER(0, "a", 6, false, "m5");
	ASSERT_DELIVER(1, "a", 7, false, "m6");
	ck_assert_int_eq(channel_ack(ch, 7, true), 0);
	ck_assert_uint_eq(q->unacked, 0);
	ck_assert(q->kick_pending); /* credit came back: a kick holds one */
	ck_assert_uint_eq(q->refs, 2);
	turn();
	ck_assert_uint_eq(q->refs, 1);
	ck_assert_uint_eq(message_live, 0);
}
END_TEST

START_TEST(ack_out_of_order)
{
	struct queue *q = declare("q");
	struct channel *ch = open_chan(1);
	struct consumer *a = consume(ch, q, "a", false);
	publish_n(q, 0, 6);
	ck_assert_int_eq(got(), 6);
	ck_assert_int_eq(channel_ack(ch, 3, false), 0);
	ck_assert_int_eq(channel_ack(ch, 1, false), 0);
	ck_assert_int_eq(channel_ack(ch, 5, false), 0);
	ck_assert_uint_eq(ch->unacked_n, 3);
	ck_assert_uint_eq(a->unacked, 3);
	ck_assert_uint_eq(q->unacked, 3);
	ck_assert_uint_eq(ch->ring_base, 2); /* 1 went; 2 still holds the base */
	ck_assert_ptr_null(record_of(ch, 3));
	ck_assert_ptr_nonnull(record_of(ch, 4));
	ck_assert_int_eq(channel_ack(ch, 2, false), 0);
	ck_assert_uint_eq(ch->ring_base, 4); /* past the hole at 3 */
	ck_assert_int_eq(channel_ack(ch, 6, false), 0);
	ck_assert_int_eq(channel_ack(ch, 4, false), 0);
	ck_assert_uint_eq(ch->ring_len, 0);
	ck_assert_uint_eq(ch->ring_base, 7);
	ck_assert_uint_eq(ch->unacked_n, 0);
	ck_assert_uint_eq(a->unacked, 0);
	ck_assert_uint_eq(q->unacked, 0);
	ck_assert_uint_eq(message_live, 0);
	/* The next delivery takes tag 7. */
	publish(q, 6);
	ck_assert_int_eq(got(), 1);
	ASSERT_DELIVER(0, "a", 7, false, "m6");
}
END_TEST

START_TEST(double_ack_is_406)
{
	struct queue *q = declare("q");
	struct channel *ch = open_chan(1);
	consume(ch, q, "a", false);
	publish_n(q, 0, 3);
	ck_assert_int_eq(got(), 3);
	ck_assert_int_eq(channel_ack(ch, 2, false), 0);
	ck_assert_int_eq(channel_ack(ch, 2, false), AMQP_PRECONDITION_FAILED);
	ck_assert_ptr_nonnull(strstr(c->err, "unknown delivery tag 2"));
	ck_assert_ptr_nonnull(strstr(c->err, "PRECONDITION_FAILED"));
	/* Below the base too. */
	ck_assert_int_eq(channel_ack(ch, 1, false), 0);
	ck_assert_int_eq(channel_ack(ch, 1, false), AMQP_PRECONDITION_FAILED);
	ck_assert_int_eq(channel_nack(ch, 1, false, true), AMQP_PRECONDITION_FAILED);
	ck_assert_int_eq(channel_nack(ch, 2, false, false), AMQP_PRECONDITION_FAILED);
	/* The failed calls changed nothing. */
	ck_assert_uint_eq(ch->unacked_n, 1);
	ck_assert_uint_eq(q->unacked, 1);
	ck_assert_uint_eq(q->len, 0);
	ck_assert_int_eq(channel_ack(ch, 3, false), 0);
	ck_assert_uint_eq(message_live, 0);
}
END_TEST

START_TEST(unknown_tag_is_406)
{
	struct queue *q = declare("q");
	struct channel *ch = open_chan(1);
	ck_assert_int_eq(channel_ack(ch, 1, false), AMQP_PRECONDITION_FAILED);
	ck_assert_int_eq(channel_ack(ch, 1, true), AMQP_PRECONDITION_FAILED);
	ck_assert_int_eq(channel_ack(ch, 0, false), AMQP_PRECONDITION_FAILED);
	consume(ch, q, "a", false);
	publish_n(q, 0, 2);
	ck_assert_int_eq(got(), 2);
	ck_assert_int_eq(channel_ack(ch, 3, false), AMQP_PRECONDITION_FAILED);
	ck_assert_ptr_nonnull(strstr(c->err, "unknown delivery tag 3"));
	ck_assert_int_eq(channel_ack(ch, 3, true), AMQP_PRECONDITION_FAILED);
	ck_assert_int_eq(channel_nack(ch, 3, true, true), AMQP_PRECONDITION_FAILED);
	ck_assert_int_eq(channel_ack(ch, UINT64_MAX, false), AMQP_PRECONDITION_FAILED);
	ck_assert_int_eq(channel_ack(ch, UINT64_MAX, true), AMQP_PRECONDITION_FAILED);
	/* Tag 0 without multiple names no delivery. */
	ck_assert_int_eq(channel_ack(ch, 0, false), AMQP_PRECONDITION_FAILED);
	ck_assert_uint_eq(ch->unacked_n, 2);
	ck_assert_uint_eq(q->unacked, 2);
	/* A 406 from the ack handler closes only the channel. */
	ck_assert(!amqp_reply_is_hard(AMQP_PRECONDITION_FAILED));
	struct amqp_method m = {.id = AMQP_BASIC_ACK};
	m.a.basic_ack.delivery_tag = 9;
	ck_assert_int_eq(handle_basic(ch, &m), AMQP_PRECONDITION_FAILED);
}
END_TEST

START_TEST(ack_multiple)
{
	struct queue *q = declare("q");
	struct channel *ch = open_chan(1);
	struct consumer *a = consume(ch, q, "a", false);
	publish_n(q, 0, 10);
	ck_assert_int_eq(got(), 10);
	ck_assert_int_eq(channel_ack(ch, 4, false), 0);
	ck_assert_int_eq(channel_ack(ch, 6, true), 0); /* 1, 2, 3, 5, 6 */
	ck_assert_uint_eq(ch->unacked_n, 4);
	ck_assert_uint_eq(a->unacked, 4);
	ck_assert_uint_eq(ch->ring_base, 7);
	for (uint64_t t = 1; t <= 6; t++)
		ck_assert_int_eq(channel_ack(ch, t, false), AMQP_PRECONDITION_FAILED);
	for (uint64_t t = 7; t <= 10; t++)
		ck_assert_ptr_nonnull(record_of(ch, t));
	ck_assert_uint_eq(message_live, 4);
	/* Beyond the last tag issued. */
	ck_assert_int_eq(channel_ack(ch, 11, true), AMQP_PRECONDITION_FAILED);
	ck_assert_uint_eq(ch->unacked_n, 4);
	/* Multiple across a hole. */
	ck_assert_int_eq(channel_ack(ch, 8, false), 0);
	ck_assert_int_eq(channel_ack(ch, 9, true), 0);
	ck_assert_uint_eq(ch->unacked_n, 1);
	ck_assert_ptr_nonnull(record_of(ch, 10));
	ck_assert_int_eq(channel_ack(ch, 10, true), 0);
	ck_assert_uint_eq(ch->unacked_n, 0);
	ck_assert_uint_eq(q->unacked, 0);
	ck_assert(q->kick_pending); /* credit came back: a kick holds one */
	ck_assert_uint_eq(q->refs, 2);
	turn();
	ck_assert_uint_eq(q->refs, 1);
	ck_assert_uint_eq(message_live, 0);
}
END_TEST

START_TEST(ack_zero_multiple_is_all)
{
	struct queue *qa = declare("qa"), *qb = declare("qb");
	struct channel *ch = open_chan(1);
	struct consumer *a = consume(ch, qa, "a", false);
	struct consumer *b = consume(ch, qb, "b", false);
	publish_n(qa, 0, 4);
	publish_n(qb, 4, 3);
	ck_assert_int_eq(got(), 7);
	ck_assert_int_eq(count_of(7, AMQP_BASIC_DELIVER), 7);
	ck_assert_int_eq(channel_ack(ch, 3, false), 0);
	ck_assert_uint_eq(ch->unacked_n, 6);
	ck_assert_int_eq(channel_ack(ch, 0, true), 0);
	ck_assert_uint_eq(ch->unacked_n, 0);
	ck_assert_uint_eq(ch->ring_len, 0);
	ck_assert_uint_eq(a->unacked, 0);
	ck_assert_uint_eq(b->unacked, 0);
	ck_assert_uint_eq(qa->unacked, 0);
	ck_assert_uint_eq(qb->unacked, 0);
	ck_assert_uint_eq(message_live, 0);
	/* Nothing outstanding: still fine, as in RabbitMQ. */
	ck_assert_int_eq(channel_ack(ch, 0, true), 0);
	/* nack 0 multiple requeues everything, in order. */
	publish_n(qa, 10, 3);
	ck_assert_int_eq(got(), 3);
	ck_assert_int_eq(channel_nack(ch, 0, true, true), 0);
	ck_assert_int_eq(got(), 3);
	ASSERT_DELIVER(0, "a", 11, true, "m10");
	ASSERT_DELIVER(1, "a", 12, true, "m11");
	ASSERT_DELIVER(2, "a", 13, true, "m12");
}
END_TEST

/* Holes from out-of-order acks survive the ring's growth, also when the
 * window has wrapped around the end of the array. Every tag then still
 * finds its own message: nacked back in a scrambled order, the queue
 * redelivers them in publish order. */
START_TEST(ring_growth_with_holes)
{
	struct queue *q = declare("q");
	struct channel *ch = open_chan(1);
	struct consumer *a = consume(ch, q, "a", false);
	publish_n(q, 0, 16);
	ck_assert_int_eq(got(), 16);
	ck_assert_uint_eq(ch->ring_cap, 16);
	for (uint64_t t = 1; t <= 10; t++)
		ck_assert_int_eq(channel_ack(ch, t, false), 0);
	ck_assert_uint_eq(ch->ring_base, 11);
	ck_assert_int_eq(channel_ack(ch, 13, false), 0); /* a hole */
	ck_assert_int_eq(channel_ack(ch, 15, false), 0);
	/* 20 more: tags 17..36; the window 11..36 wraps, then grows twice. */
	publish_n(q, 16, 20);
	ck_assert_int_eq(got(), 20);
	ck_assert_uint_ge(ch->ring_cap, 32);
	ck_assert_uint_eq(ch->ring_base, 11);
	ck_assert_int_eq(channel_ack(ch, 20, false), 0);
	/* 40 more, growing with holes inside. */
	publish_n(q, 36, 40);
	ck_assert_int_eq(got(), 40);
	ck_assert_uint_eq(ch->ring_cap, 128);
	ck_assert_uint_eq(ch->next_tag, 76);
	int live = 0;
	for (uint64_t t = 1; t <= 76; t++) {
		bool acked = t <= 10 || t == 13 || t == 15 || t == 20;
		struct unacked *u = record_of(ch, t);
		if (acked) {
			ck_assert_ptr_null(u);
			continue;
		}
		live++;
		ck_assert_ptr_nonnull(u);
		/* The record holds the message delivered with this tag. */
		char want[16];
		snprintf(want, sizeof want, "m%llu", (unsigned long long)t - 1);
		ck_assert_uint_eq(u->e.m->body_size, strlen(want));
		ck_assert_int_eq(memcmp(message_body(u->e.m), want, strlen(want)), 0);
	}
	ck_assert_uint_eq(ch->unacked_n, (uint32_t)live);
	ck_assert_uint_eq(a->unacked, (uint32_t)live);
	/* Nack them back, odd tags descending, then even ones ascending. */
	for (uint64_t t = 75; t >= 11; t -= 2)
		if (record_of(ch, t))
			ck_assert_int_eq(channel_nack(ch, t, false, true), 0);
	for (uint64_t t = 12; t <= 76; t += 2)
		if (record_of(ch, t))
			ck_assert_int_eq(channel_nack(ch, t, false, true), 0);
	ck_assert_uint_eq(ch->unacked_n, 0);
	ck_assert_uint_eq(ch->ring_len, 0);
	ck_assert_uint_eq(q->len, (size_t)live);
	int n = got();
	ck_assert_int_eq(n, live);
	int i = 0;
	for (uint64_t t = 1; t <= 76; t++) {
		if (t <= 10 || t == 13 || t == 15 || t == 20)
			continue;
		ASSERT_DELIVER(i, "a", 76 + (uint64_t)i + 1, true, mname((int)t - 1));
		i++;
	}
	ck_assert_int_eq(channel_ack(ch, 0, true), 0);
	ck_assert_uint_eq(message_live, 0);
}
END_TEST

/* Tags of no-ack deliveries are used up too: an ack-mode delivery after
 * them must still be found by its own tag. */
START_TEST(no_ack_tags_then_ack_mode)
{
	struct queue *q = declare("q"), *q2 = declare("q2");
	struct channel *ch = open_chan(1);
	publish_n(q, 0, 2);
	struct amqp_method get = {.id = AMQP_BASIC_GET};
	get.a.basic_get.queue = bytes_of("q");
	get.a.basic_get.no_ack = true;
	ck_assert_int_eq(handle_basic(ch, &get), 0); /* tag 1, no ack */
	get.a.basic_get.no_ack = false;
	ck_assert_int_eq(handle_basic(ch, &get), 0); /* tag 2 */
	ck_assert_int_eq(got(), 2);
	ck_assert_uint_eq(outs[0].id, AMQP_BASIC_GET_OK);
	ck_assert_uint_eq(outs[0].tag, 1);
	ck_assert_uint_eq(outs[0].message_count, 1);
	ck_assert_uint_eq(outs[1].tag, 2);
	ck_assert_str_eq(outs[1].body, "m1");
	ck_assert_int_eq(channel_ack(ch, 1, false), AMQP_PRECONDITION_FAILED);
	ck_assert_int_eq(channel_ack(ch, 2, false), 0);
	ck_assert_uint_eq(ch->unacked_n, 0);
	/* Interleaved: a no-ack consumer and an ack-mode one on one channel. */
	consume(ch, q, "auto", true);
	consume(ch, q2, "manual", false);
	for (int i = 0; i < 6; i++) {
		publish(q, 10 + i);
		publish(q2, 20 + i);
		ck_assert_int_eq(got(), 2);
	}
	ck_assert_uint_eq(ch->next_tag, 14);
	ck_assert_uint_eq(ch->unacked_n, 6);
	/* Keep one outstanding while later no-ack tags are issued. */
	uint64_t manual[6];
	int k = 0;
	for (uint64_t t = 3; t <= 14; t++) {
		struct unacked *u = record_of(ch, t);
		if (u) {
			ck_assert_ptr_eq(u->q, q2);
			manual[k++] = t;
		}
	}
	ck_assert_int_eq(k, 6);
	for (int i = 5; i >= 0; i--)
		ck_assert_int_eq(channel_ack(ch, manual[i], false), 0);
	ck_assert_uint_eq(ch->unacked_n, 0);
	ck_assert_uint_eq(q2->unacked, 0);
	ck_assert_uint_eq(message_live, 0);
}
END_TEST

/* A cancelled consumer's unacked deliveries stay ackable and forget the
 * consumer, wherever they sit in the ring. */
START_TEST(cancel_with_unacked_in_advanced_ring)
{
	struct queue *q = declare("q");
	struct channel *ch = open_chan(1);
	consume(ch, q, "a", false);
	publish_n(q, 0, 10);
	ck_assert_int_eq(got(), 10);
	ck_assert_int_eq(channel_ack(ch, 8, true), 0);
	ck_assert_uint_eq(ch->ring_base, 9);
	struct amqp_method m = {.id = AMQP_BASIC_CANCEL};
	m.a.basic_cancel.consumer_tag = bytes_of("a");
	ck_assert_int_eq(handle_basic(ch, &m), 0);
	ck_assert_uint_eq(q->ncons, 0);
	for (uint64_t t = 9; t <= 10; t++) {
		struct unacked *u = record_of(ch, t);
		ck_assert_ptr_nonnull(u);
		ck_assert_ptr_null(u->cons);
	}
	ck_assert_int_eq(channel_ack(ch, 9, false), 0);
	ck_assert_int_eq(channel_nack(ch, 10, false, true), 0);
	ck_assert_uint_eq(q->len, 1);
	ck_assert_int_eq(got(), 1);
	ck_assert_uint_eq(outs[0].id, AMQP_BASIC_CANCEL_OK);
}
END_TEST

/* ---- prefetch ---- */

START_TEST(prefetch_per_consumer)
{
	struct queue *q = declare("q");
	struct channel *ch = open_chan(1);
	qos(ch, 2, false);
	ck_assert_int_eq(got(), 1);
	ck_assert_uint_eq(outs[0].id, AMQP_BASIC_QOS_OK);
	struct consumer *a = consume(ch, q, "a", false);
	ck_assert_uint_eq(a->prefetch, 2);
	publish_n(q, 0, 6);
	ck_assert_int_eq(got(), 2);
	ASSERT_DELIVER(1, "a", 2, false, "m1");
	ck_assert(!channel_consumer_ready(ch, a));
	ck_assert_uint_eq(q->len, 4);
	ck_assert_int_eq(channel_ack(ch, 1, false), 0);
	ck_assert(channel_consumer_ready(ch, a));
	ck_assert_int_eq(got(), 1);
	ASSERT_DELIVER(0, "a", 3, false, "m2");
	/* A later qos(global=false) only applies to later consumers. */
	qos(ch, 1, false);
	ck_assert_int_eq(channel_ack(ch, 3, true), 0);
	ck_assert_int_eq(got(), 3); /* qos-ok and two deliveries */
	ck_assert_int_eq(count_of(3, AMQP_BASIC_DELIVER), 2);
	ck_assert_uint_eq(a->unacked, 2);
	struct queue *q2 = declare("q2");
	struct consumer *b = consume(ch, q2, "b", false);
	ck_assert_uint_eq(b->prefetch, 1);
	publish_n(q2, 10, 3);
	ck_assert_int_eq(got(), 1);
	ASSERT_DELIVER(0, "b", 6, false, "m10");
	/* No-ack consumers ignore prefetch. */
	struct queue *q3 = declare("q3");
	struct consumer *n = consume(ch, q3, "n", true);
	publish_n(q3, 20, 5);
	ck_assert_int_eq(got(), 5);
	ck_assert(channel_consumer_ready(ch, n));
	ck_assert_uint_eq(ch->unacked_n, 3);
}
END_TEST

/* RabbitMQ: global=true limits the channel's unacked deliveries across
 * all its consumers; a per-consumer limit still applies beside it. */
START_TEST(prefetch_global)
{
	struct queue *qa = declare("qa"), *qb = declare("qb");
	struct channel *ch = open_chan(1);
	qos(ch, 3, true);
	struct consumer *a = consume(ch, qa, "a", false);
	struct consumer *b = consume(ch, qb, "b", false);
	ck_assert_uint_eq(a->prefetch, 0);
	publish_n(qa, 0, 5);
	publish_n(qb, 10, 5);
	int n = got();
	ck_assert_int_eq(count_of(n, AMQP_BASIC_DELIVER), 3);
	ck_assert_uint_eq(ch->unacked_n, 3);
	ck_assert_uint_eq(a->unacked + b->unacked, 3);
	ck_assert(!channel_consumer_ready(ch, a));
	ck_assert(!channel_consumer_ready(ch, b));
	ck_assert_uint_eq(qa->len + qb->len, 7);
	/* One ack, one more delivery. */
	ck_assert_int_eq(channel_ack(ch, 2, false), 0);
	ck_assert_int_eq(got(), 1);
	ck_assert_uint_eq(ch->unacked_n, 3);
	/* Raising the limit lets more through at once. */
	qos(ch, 5, true);
	n = got();
	ck_assert_int_eq(count_of(n, AMQP_BASIC_DELIVER), 2);
	ck_assert_uint_eq(ch->unacked_n, 5);
	/* Acking everything lets the rest of qa and qb through. */
	ck_assert_int_eq(channel_ack(ch, 0, true), 0);
	n = got();
	ck_assert_int_eq(count_of(n, AMQP_BASIC_DELIVER), 4);
	ck_assert_uint_eq(qa->len + qb->len, 0);
	ck_assert_int_eq(channel_ack(ch, 0, true), 0);
	/* global=false beside it: per-consumer 1 under the channel's 5. */
	qos(ch, 1, false);
	struct queue *qc = declare("qc"), *qd = declare("qd");
	struct consumer *cc = consume(ch, qc, "c", false);
	struct consumer *d = consume(ch, qd, "d", false);
	publish_n(qc, 20, 4);
	publish_n(qd, 30, 4);
	n = got();
	ck_assert_int_eq(count_of(n, AMQP_BASIC_DELIVER), 2);
	ck_assert_uint_eq(cc->unacked, 1);
	ck_assert_uint_eq(d->unacked, 1);
	ck_assert_uint_eq(ch->unacked_n, 2);
	ck_assert(!channel_consumer_ready(ch, cc));
	/* Lowering the channel limit below what is out stops everyone. */
	qos(ch, 1, true);
	ck_assert_int_eq(channel_ack(ch, outs[n - 1].tag, false), 0);
	n = got();
	ck_assert_int_eq(count_of(n, AMQP_BASIC_DELIVER), 0);
	ck_assert_uint_eq(ch->unacked_n, 1);
	ck_assert_uint_eq(qc->len + qd->len, 6);
}
END_TEST

/* ---- round-robin ---- */

START_TEST(round_robin_two_consumers)
{
	struct queue *q = declare("q");
	struct channel *ch1 = open_chan(1), *ch2 = open_chan(2);
	consume(ch1, q, "a", false);
	consume(ch2, q, "b", false);
	publish_n(q, 0, 6);
	ck_assert_int_eq(got(), 6);
	for (int i = 0; i < 6; i++) {
		bool even = i % 2 == 0;
		ASSERT_DELIVER(i, even ? "a" : "b", (uint64_t)i / 2 + 1, false, mname(i));
		ck_assert_uint_eq(outs[i].ch, even ? 1 : 2);
	}
	/* Fairness goes on across turns: b is not served first again. */
	publish_n(q, 6, 3);
	ck_assert_int_eq(got(), 3);
	ASSERT_DELIVER(0, "a", 4, false, "m6");
	ASSERT_DELIVER(1, "b", 4, false, "m7");
	ASSERT_DELIVER(2, "a", 5, false, "m8");
	/* A consumer out of credit is skipped, not waited for. */
	ck_assert_int_eq(channel_ack(ch1, 0, true), 0);
	ck_assert_int_eq(channel_ack(ch2, 0, true), 0);
	qos(ch1, 1, true);
	ck_assert_int_eq(got(), 1);
	publish_n(q, 10, 5);
	ck_assert_int_eq(got(), 5);
	ASSERT_DELIVER(0, "b", 5, false, "m10");
	ASSERT_DELIVER(1, "a", 6, false, "m11");
	for (int i = 2; i < 5; i++)
		ASSERT_DELIVER(i, "b", (uint64_t)i + 4, false, mname(10 + i));
	/* Same channel, two consumers on one queue. */
	struct channel *ch3 = open_chan(3);
	struct queue *r = declare("r");
	consume(ch3, r, "x", false);
	consume(ch3, r, "y", false);
	publish_n(r, 20, 4);
	ck_assert_int_eq(got(), 4);
	ASSERT_DELIVER(0, "x", 1, false, "m20");
	ASSERT_DELIVER(1, "y", 2, false, "m21");
	ASSERT_DELIVER(2, "x", 3, false, "m22");
	ASSERT_DELIVER(3, "y", 4, false, "m23");
}
END_TEST

/* Removing a consumer keeps the turn order of the others. */
START_TEST(round_robin_after_cancel)
{
	struct queue *q = declare("q");
	struct channel *ch = open_chan(1);
	consume(ch, q, "a", true);
	consume(ch, q, "b", true);
	consume(ch, q, "c", true);
	publish_n(q, 0, 4); /* a b c a */
	ck_assert_int_eq(got(), 4);
	ck_assert_str_eq(outs[3].ctag, "a");
	channel_cancel_consumer(ch, strmap_get(&ch->consumers, "a", 1), false);
	publish_n(q, 4, 4);
	ck_assert_int_eq(got(), 4);
	ck_assert_str_eq(outs[0].ctag, "b");
	ck_assert_str_eq(outs[1].ctag, "c");
	ck_assert_str_eq(outs[2].ctag, "b");
	ck_assert_str_eq(outs[3].ctag, "c");
	ck_assert_uint_eq(ch->unacked_n, 0);
	ck_assert_uint_eq(message_live, 0);
}
END_TEST

/* ---- requeue through the channel ---- */

START_TEST(nack_requeue_and_reject)
{
	struct queue *q = declare("q");
	struct channel *ch = open_chan(1);
	consume(ch, q, "a", false);
	publish_n(q, 0, 4);
	ck_assert_int_eq(got(), 4);
	ck_assert_int_eq(channel_nack(ch, 3, false, true), 0);
	ck_assert_int_eq(channel_nack(ch, 1, false, true), 0);
	ck_assert_int_eq(got(), 2);
	ASSERT_DELIVER(0, "a", 5, true, "m0");
	ASSERT_DELIVER(1, "a", 6, true, "m2");
	ck_assert_uint_eq(record_of(ch, 5)->e.deliveries, 2);
	/* Reject without requeue drops it. */
	ck_assert_int_eq(channel_nack(ch, 5, false, false), 0);
	ck_assert_int_eq(got(), 0);
	ck_assert_uint_eq(message_live, 3);
	/* nack multiple with requeue: 2, 4, 6 back in publish order. */
	ck_assert_int_eq(channel_nack(ch, 6, true, true), 0);
	ck_assert_int_eq(got(), 3);
	ASSERT_DELIVER(0, "a", 7, true, "m1");
	ASSERT_DELIVER(1, "a", 8, true, "m2");
	ASSERT_DELIVER(2, "a", 9, true, "m3");
	ck_assert_int_eq(channel_ack(ch, 9, true), 0);
	ck_assert_uint_eq(message_live, 0);
}
END_TEST

/* basic.recover and channel_free put every unacked delivery back. */
START_TEST(free_requeues_to_other_channel)
{
	struct queue *q = declare("q");
	struct channel *ch1 = open_chan(1), *ch2 = open_chan(2);
	consume(ch1, q, "a", false);
	publish_n(q, 0, 5);
	ck_assert_int_eq(got(), 5);
	ck_assert_int_eq(channel_ack(ch1, 2, false), 0);
	close_chan(ch1);
	ck_assert_uint_eq(q->ncons, 0);
	ck_assert_uint_eq(q->unacked, 0);
	ck_assert_uint_eq(q->len, 4);
	ck_assert_uint_eq(q->refs, 1 + 1); /* vhost, and the kick from requeue */
	consume(ch2, q, "b", false);
	ck_assert_int_eq(got(), 4);
	ASSERT_DELIVER(0, "b", 1, true, "m0");
	ASSERT_DELIVER(1, "b", 2, true, "m2");
	ASSERT_DELIVER(2, "b", 3, true, "m3");
	ASSERT_DELIVER(3, "b", 4, true, "m4");
	/* basic.recover: the same, within the channel. */
	struct amqp_method m = {.id = AMQP_BASIC_RECOVER};
	m.a.basic_recover.requeue = true;
	ck_assert_int_eq(handle_basic(ch2, &m), 0);
	ck_assert_int_eq(got(), 5);
	ck_assert_uint_eq(outs[0].id, AMQP_BASIC_RECOVER_OK);
	ASSERT_DELIVER(1, "b", 5, true, "m0");
	ASSERT_DELIVER(4, "b", 8, true, "m4");
}
END_TEST

static Suite *channel_suite(void)
{
	Suite *s = suite_create("channel");
	TCase *t = tcase_create("acks");
	tcase_add_checked_fixture(t, setup, teardown);
	tcase_add_test(t, tags_one_to_n);
	tcase_add_test(t, ack_out_of_order);
	tcase_add_test(t, double_ack_is_406);
	tcase_add_test(t, unknown_tag_is_406);
	tcase_add_test(t, ack_multiple);
	tcase_add_test(t, ack_zero_multiple_is_all);
	tcase_add_test(t, ring_growth_with_holes);
	tcase_add_test(t, no_ack_tags_then_ack_mode);
	tcase_add_test(t, cancel_with_unacked_in_advanced_ring);
	suite_add_tcase(s, t);

	TCase *p = tcase_create("prefetch");
	tcase_add_checked_fixture(p, setup, teardown);
	tcase_add_test(p, prefetch_per_consumer);
	tcase_add_test(p, prefetch_global);
	suite_add_tcase(s, p);

	TCase *r = tcase_create("delivery");
	tcase_add_checked_fixture(r, setup, teardown);
	tcase_add_test(r, round_robin_two_consumers);
	tcase_add_test(r, round_robin_after_cancel);
	tcase_add_test(r, nack_requeue_and_reject);
	tcase_add_test(r, free_requeues_to_other_channel);
	suite_add_tcase(s, r);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(channel_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
