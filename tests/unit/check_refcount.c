/* check_refcount.c — message and queue reference counts come back to
 * zero (message_live) after fan-out through a fanout exchange, purge,
 * queue deletion, requeue, and through channels: ack, nack with requeue,
 * reject, channel_free with unacked deliveries, transactions, outgoing
 * body frames, and a deleted queue kept alive by its unacked deliveries. */
#include "tests/unit/broker_fixture.h"

/* Publishes "m<n>" straight into q, which then holds the only reference;
 * returns it for looking at (valid while some holder remains). */
static struct message *publish(struct queue *q, int n)
{
	struct message *m = msg(n);
	queue_push(q, m);
	message_unref(m);
	return m;
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

/* Feeds the frames in w to ch as if the client had sent them; returns the
 * first non-zero reply code, or 0. */
static int feed(struct channel *ch, struct wbuf *w)
{
	size_t off = 0;
	int rc = 0;
	while (off < w->len && !rc) {
		struct frame f;
		long used = frame_parse(w->p + off, w->len - off, 0, &f);
		ck_assert_int_gt(used, 0);
		off += (size_t)used;
		rc = channel_frame(ch, &f);
	}
	w->len = 0;
	return rc;
}

static void put_method(struct wbuf *w, uint16_t chid, uint32_t id)
{
	struct amqp_method m = {.id = id};
	method_put(w, chid, &m);
}

/* basic.publish, header and body frames, as a client writes them. */
static void put_publish(struct wbuf *w, uint16_t chid, const char *exchange, const char *rkey,
			const char *body)
{
	struct amqp_method m = {.id = AMQP_BASIC_PUBLISH};
	m.a.basic_publish.exchange = bytes_of(exchange);
	m.a.basic_publish.routing_key = bytes_of(rkey);
	method_put(w, chid, &m);
	content_header_put(w, chid, AMQP_CLASS_BASIC, strlen(body),
			   (struct bytes){no_props, sizeof no_props});
	if (*body)
		frame_put(w, FRAME_BODY, chid, body, (uint32_t)strlen(body));
}

/* A fanout exchange "fx" bound to n new queues q0..q<n-1>. */
static struct bexchange *fanout_to(struct queue **qs, int n)
{
	int code;
	const char *why;
	struct bexchange *x = vhost_add_exchange(vh, bytes_of("fx"), &fanout_type,
						 (struct bytes){0}, &code, &why);
	ck_assert_ptr_nonnull(x);
	for (int i = 0; i < n; i++) {
		char name[16];
		snprintf(name, sizeof name, "q%d", i);
		qs[i] = declare(name);
		ck_assert_int_eq(
			vhost_bind(vh, x, DEST_QUEUE, qs[i], bytes_of(""), (struct bytes){0}, &why),
			0);
	}
	return x;
}

/* Routes m from x and pushes it to every destination; returns how many. */
static size_t route_push(struct bexchange *x, struct message *m)
{
	struct route_msg rm = {.routing_key = message_rkey(m)};
	struct queue **dest;
	size_t n = vhost_route(vh, x, &rm, &dest);
	for (size_t i = 0; i < n; i++)
		queue_push(dest[i], m);
	return n;
}

/* ---- queues alone ---- */

START_TEST(fanout_then_purge)
{
	struct queue *qs[5];
	struct bexchange *x = fanout_to(qs, 5);
	const char *why;
	/* A second binding to q0: routing still reaches it once. */
	ck_assert_int_eq(
		vhost_bind(vh, x, DEST_QUEUE, qs[0], bytes_of("other"), (struct bytes){0}, &why),
		0);
	struct message *m = msg(1);
	ck_assert_uint_eq(route_push(x, m), 5);
	ck_assert_uint_eq(m->refs, 6);
	message_unref(m);
	ck_assert_uint_eq(m->refs, 5);
	ck_assert_uint_eq(message_live, 1);
	for (int i = 0; i < 5; i++) {
		ck_assert_uint_eq(qs[i]->len, 1);
		ck_assert_uint_eq(qs[i]->ready_bytes, 2);
	}
	for (int i = 0; i < 4; i++) {
		ck_assert_uint_eq(queue_purge(qs[i]), 1);
		ck_assert_uint_eq(m->refs, 4 - (uint32_t)i);
		ck_assert_uint_eq(message_live, 1);
	}
	ck_assert_uint_eq(queue_purge(qs[4]), 1);
	ck_assert_uint_eq(message_live, 0);
}
END_TEST

START_TEST(fanout_then_delete_queues)
{
	struct queue *qs[4];
	struct bexchange *x = fanout_to(qs, 4);
	struct message *ms[3];
	for (int i = 0; i < 3; i++) {
		ms[i] = msg(i);
		ck_assert_uint_eq(route_push(x, ms[i]), 4);
		message_unref(ms[i]);
	}
	ck_assert_uint_eq(message_live, 3);
	ck_assert_uint_eq(vhost_delete_queue(vh, qs[0]), 3);
	ck_assert_uint_eq(ms[2]->refs, 3);
	ck_assert_uint_eq(vhost_delete_queue(vh, qs[1]), 3);
	ck_assert_uint_eq(vhost_delete_queue(vh, qs[2]), 3);
	ck_assert_uint_eq(message_live, 3);
	ck_assert_uint_eq(x->nout, 1); /* bindings go with their queues */
	ck_assert_uint_eq(vhost_delete_queue(vh, qs[3]), 3);
	ck_assert_uint_eq(message_live, 0);
	ck_assert_uint_eq(x->nout, 0);
	ck_assert_ptr_null(vhost_queue(vh, bytes_of("q3")));
	/* Nothing left to route to. */
	struct message *m = msg(9);
	ck_assert_uint_eq(route_push(x, m), 0);
	message_unref(m);
	ck_assert_uint_eq(message_live, 0);
}
END_TEST

/* Exchange-to-exchange bindings in a diamond with a cycle: the queue
 * still gets one entry, so one reference. */
START_TEST(diamond_routes_once)
{
	int code;
	const char *why;
	struct bexchange *a =
		vhost_add_exchange(vh, bytes_of("a"), &fanout_type, (struct bytes){0}, &code, &why);
	struct bexchange *b =
		vhost_add_exchange(vh, bytes_of("b"), &fanout_type, (struct bytes){0}, &code, &why);
	struct bexchange *d =
		vhost_add_exchange(vh, bytes_of("d"), &fanout_type, (struct bytes){0}, &code, &why);
	struct queue *q = declare("q");
	struct bytes none = {0};
	ck_assert_int_eq(vhost_bind(vh, a, DEST_EXCHANGE, b, none, none, &why), 0);
	ck_assert_int_eq(vhost_bind(vh, a, DEST_EXCHANGE, d, none, none, &why), 0);
	ck_assert_int_eq(vhost_bind(vh, b, DEST_QUEUE, q, none, none, &why), 0);
	ck_assert_int_eq(vhost_bind(vh, d, DEST_QUEUE, q, none, none, &why), 0);
	ck_assert_int_eq(vhost_bind(vh, d, DEST_EXCHANGE, a, none, none, &why), 0);
	struct message *m = msg(1);
	ck_assert_uint_eq(route_push(a, m), 1);
	message_unref(m);
	ck_assert_uint_eq(m->refs, 1);
	ck_assert_uint_eq(q->len, 1);
	ck_assert_uint_eq(vhost_delete_queue(vh, q), 1);
	ck_assert_uint_eq(message_live, 0);
}
END_TEST

/* Auto-delete exchanges bound to another one go when it goes (their last
 * binding with it): freeing the vhost must not then reach them a second
 * time. The chaos soak's churn found this as a heap-use-after-free at
 * shutdown (ASan). Twenty sources, so some come after "x" in any order
 * the map keeps. */
START_TEST(auto_delete_sources_go_once_at_teardown)
{
	int code;
	const char *why;
	struct bytes none = {0};
	struct bexchange *x =
		vhost_add_exchange(vh, bytes_of("x"), &fanout_type, none, &code, &why);
	ck_assert_ptr_nonnull(x);
	for (int i = 0; i < 20; i++) {
		char name[16];
		snprintf(name, sizeof name, "s%d", i);
		struct bexchange *src =
			vhost_add_exchange(vh, bytes_of(name), &fanout_type, none, &code, &why);
		ck_assert_ptr_nonnull(src);
		src->auto_delete = true;
		ck_assert_int_eq(vhost_bind(vh, src, DEST_EXCHANGE, x, none, none, &why), 0);
	}
	ck_assert_uint_eq(x->nin, 20);
	down(); /* frees the vhost: under ASan, a second visit is a report */
}
END_TEST

START_TEST(requeue_pop_unref)
{
	struct queue *q = declare("q"), *q2 = declare("q2");
	struct message *m = msg(1);
	queue_push(q, m);
	queue_push(q2, m);
	message_unref(m);
	ck_assert_uint_eq(m->refs, 2);
	struct qentry e;
	ck_assert(queue_pop(q, &e));
	ck_assert_ptr_eq(e.m, m);
	ck_assert_uint_eq(m->refs, 2); /* moved out, not copied */
	queue_requeue(q, e);
	ck_assert_uint_eq(m->refs, 2);
	ck_assert(queue_pop(q, &e));
	message_unref(e.m);
	ck_assert_uint_eq(m->refs, 1);
	ck_assert_uint_eq(message_live, 1);
	ck_assert(queue_pop(q2, &e));
	message_unref(e.m);
	ck_assert_uint_eq(message_live, 0);
	ck_assert_uint_eq(q->len + q2->len, 0);
	turn();
	ck_assert_uint_eq(q->refs, 1); /* the requeue's kick reference is back */
}
END_TEST

/* ---- through channels ---- */

START_TEST(fanout_ack_through_channel)
{
	struct queue *qs[3];
	struct bexchange *x = fanout_to(qs, 3);
	struct channel *ch = open_chan(1);
	consume(ch, qs[0], "a", false);
	consume(ch, qs[1], "b", false);
	consume(ch, qs[2], "c", false);
	struct message *m = msg(7);
	ck_assert_uint_eq(route_push(x, m), 3);
	message_unref(m);
	ck_assert_int_eq(got(), 3);
	for (int i = 0; i < 3; i++)
		ck_assert_str_eq(outs[i].body, "m7");
	/* The bodies went out; the three unacked records hold the message. */
	ck_assert_uint_eq(m->refs, 3);
	for (int i = 0; i < 3; i++) {
		ck_assert_uint_eq(qs[i]->len, 0);
		ck_assert_uint_eq(qs[i]->unacked, 1);
		ck_assert_uint_eq(qs[i]->refs, 2); /* vhost + record */
	}
	ck_assert_int_eq(channel_ack(ch, 2, false), 0);
	ck_assert_uint_eq(m->refs, 2);
	ck_assert_int_eq(channel_ack(ch, 3, true), 0);
	ck_assert_uint_eq(message_live, 0);
	turn();
	for (int i = 0; i < 3; i++)
		ck_assert_uint_eq(qs[i]->refs, 1);
}
END_TEST

START_TEST(nack_requeue_then_reject)
{
	struct queue *q = declare("q");
	struct channel *ch = open_chan(1);
	struct message *m = publish(q, 1);
	struct amqp_method get = {.id = AMQP_BASIC_GET};
	get.a.basic_get.queue = bytes_of("q");
	ck_assert_int_eq(handle_basic(ch, &get), 0);
	ck_assert_int_eq(got(), 1);
	ck_assert_uint_eq(outs[0].id, AMQP_BASIC_GET_OK);
	ck_assert(!outs[0].redelivered);
	ck_assert_uint_eq(m->refs, 1);
	ck_assert_uint_eq(q->refs, 2);
	/* basic.nack requeue=true: the reference moves back to the queue. */
	struct amqp_method nack = {.id = AMQP_BASIC_NACK};
	nack.a.basic_nack.delivery_tag = 1;
	nack.a.basic_nack.requeue = true;
	ck_assert_int_eq(handle_basic(ch, &nack), 0);
	ck_assert_uint_eq(m->refs, 1);
	ck_assert_uint_eq(message_live, 1);
	ck_assert_uint_eq(q->len, 1);
	ck_assert_uint_eq(q->unacked, 0);
	ck_assert_uint_eq(qring_get(&q->lv[0], 0).deliveries, 1);
	ck_assert_int_eq(handle_basic(ch, &get), 0);
	ck_assert_int_eq(got(), 1);
	ck_assert(outs[0].redelivered);
	ck_assert_uint_eq(outs[0].tag, 2);
	/* basic.reject requeue=false: gone. */
	struct amqp_method rej = {.id = AMQP_BASIC_REJECT};
	rej.a.basic_reject.delivery_tag = 2;
	ck_assert_int_eq(handle_basic(ch, &rej), 0);
	ck_assert_uint_eq(message_live, 0);
	ck_assert_uint_eq(q->len, 0);
	ck_assert_uint_eq(q->refs, 1 + q->kick_pending);
}
END_TEST

START_TEST(channel_free_requeues_redelivered)
{
	struct queue *q = declare("q");
	struct channel *ch1 = open_chan(1), *ch2 = open_chan(2);
	consume(ch1, q, "a", false);
	for (int i = 0; i < 3; i++)
		publish(q, i);
	ck_assert_int_eq(got(), 3);
	ck_assert_uint_eq(q->refs, 1 + 3);
	ck_assert_uint_eq(message_live, 3);
	close_chan(ch1);
	ck_assert_uint_eq(message_live, 3);
	ck_assert_uint_eq(q->len, 3);
	ck_assert_uint_eq(q->unacked, 0);
	ck_assert_uint_eq(q->ncons, 0);
	for (size_t i = 0; i < 3; i++) {
		struct qentry ei = qring_get(&q->lv[0], i);
		const struct qentry *e = &ei;
		ck_assert_uint_eq(e->deliveries, 1);
		ck_assert_uint_eq(e->m->refs, 1);
	}
	turn();
	ck_assert_uint_eq(q->refs, 1);
	consume(ch2, q, "b", false);
	ck_assert_int_eq(got(), 3);
	for (int i = 0; i < 3; i++) {
		char want[16];
		snprintf(want, sizeof want, "m%d", i);
		ASSERT_DELIVER(i, "b", (uint64_t)i + 1, true, want);
	}
	ck_assert_int_eq(channel_ack(ch2, 0, true), 0);
	ck_assert_uint_eq(message_live, 0);
}
END_TEST

/* A deleted queue lives on while unacked deliveries point at it, and is
 * freed by the last settle (ASan checks the free, LeakSanitizer that it
 * happens). */
START_TEST(deleted_queue_freed_after_ack)
{
	struct queue *q = declare("q");
	struct channel *ch = open_chan(1);
	struct amqp_method qos = {.id = AMQP_BASIC_QOS};
	qos.a.basic_qos.prefetch_count = 3;
	ck_assert_int_eq(handle_basic(ch, &qos), 0);
	consume(ch, q, "a", false);
	for (int i = 0; i < 5; i++)
		publish(q, i);
	ck_assert_int_eq(got(), 4); /* qos-ok and three deliveries */
	ck_assert_uint_eq(q->len, 2);
	ck_assert_uint_eq(vhost_delete_queue(vh, q), 2);
	ck_assert(q->deleted);
	ck_assert_ptr_null(vhost_queue(vh, bytes_of("q")));
	ck_assert_uint_eq(q->ncons, 0);
	ck_assert_uint_eq(message_live, 3);
	ck_assert_uint_eq(q->refs, 3); /* one per unacked record */
	ck_assert_int_eq(channel_ack(ch, 2, false), 0);
	ck_assert_uint_eq(q->refs, 2);
	ck_assert_uint_eq(message_live, 2);
	/* Requeue into the deleted queue drops the message. */
	ck_assert_int_eq(channel_nack(ch, 1, false, true), 0);
	ck_assert_uint_eq(q->refs, 1);
	ck_assert_uint_eq(message_live, 1);
	ck_assert_int_eq(channel_ack(ch, 3, false), 0); /* frees q */
	ck_assert_uint_eq(message_live, 0);
	ck_assert_uint_eq(ch->unacked_n, 0);
	ck_assert_int_eq(got(), 0);
}
END_TEST

/* An auto-delete queue goes with its last consumer, here when the channel
 * closes: its unacked messages are requeued into a deleted queue, i.e.
 * dropped, and the queue is freed at once. */
START_TEST(auto_delete_queue_on_channel_close)
{
	struct queue *q = declare("q");
	q->auto_delete = true;
	struct channel *ch = open_chan(1);
	consume(ch, q, "a", false);
	publish(q, 1);
	publish(q, 2);
	ck_assert_int_eq(got(), 2);
	ck_assert_uint_eq(q->refs, 3);
	close_chan(ch);
	ck_assert_ptr_null(vhost_queue(vh, bytes_of("q")));
	ck_assert_uint_eq(message_live, 0);
}
END_TEST

/* Body frames in the connection's output hold one reference each until
 * they are written. */
START_TEST(outgoing_body_frames_hold_references)
{
	c->frame_max = 4096; /* bodies go in slices of 4088 */
	struct queue *q = declare("q");
	struct channel *ch = open_chan(1);
	struct message *m = message_new(bytes_of(""), bytes_of("q"),
					(struct bytes){no_props, sizeof no_props}, 10000, 0);
	memset(message_body(m), 'x', 10000);
	queue_push(q, m);
	queue_push(q, m);
	message_unref(m);
	struct qentry e;
	ck_assert(queue_pop(q, &e));
	channel_deliver(ch, NULL, q, e, true, 1); /* no-ack basic.get */
	ck_assert_uint_eq(m->refs, 1 + 3);        /* the queue's, three slices */
	ck_assert(queue_pop(q, &e));
	channel_deliver(ch, NULL, q, e, false, 0);
	ck_assert_uint_eq(m->refs, 1 + 3 + 3); /* the record's, six slices */
	ck_assert_int_eq(got(), 2);
	ck_assert_uint_eq(outs[0].id, AMQP_BASIC_GET_OK);
	ck_assert_uint_eq(outs[0].message_count, 1);
	ck_assert_uint_eq(outs[1].tag, 2);
	ck_assert_uint_eq(m->refs, 1);
	ck_assert_int_eq(channel_ack(ch, 2, false), 0);
	ck_assert_uint_eq(message_live, 0);
}
END_TEST

/* An unroutable mandatory publish comes back as basic.return; a body too
 * big to copy next to its frame header is held by reference until written. */
START_TEST(mandatory_return_releases)
{
	struct channel *ch = open_chan(1);
	struct message *m = message_new(bytes_of(""), bytes_of("nowhere"),
					(struct bytes){no_props, sizeof no_props}, 50000, 0);
	memset(message_body(m), 'r', 50000);
	ck_assert_int_eq(basic_route_publish(ch, m, true, 0), 0);
	ck_assert_uint_eq(message_live, 1);
	ck_assert_uint_eq(m->refs, 1); /* the body frame's */
	ck_assert_int_eq(got(), 1);
	ck_assert_uint_eq(outs[0].id, AMQP_BASIC_RETURN);
	ck_assert_str_eq(outs[0].body, "rrrrrrrrrrrrrrrrrrrrrrrrrrrrrrr");
	ck_assert_uint_eq(message_live, 0);
	/* A small body: however it is sent, nothing is left after the write. */
	m = msg(5);
	ck_assert_int_eq(basic_route_publish(ch, m, true, 0), 0);
	ck_assert_int_eq(got(), 1);
	ck_assert_str_eq(outs[0].body, "m5");
	ck_assert_uint_eq(message_live, 0);
	/* Routed through the default exchange (msg(1) has routing key "m1"):
	 * the queue holds the only reference, and nothing is returned. */
	struct queue *q = declare("m1");
	m = msg(1);
	ck_assert_int_eq(basic_route_publish(ch, m, true, 0), 0);
	ck_assert_uint_eq(m->refs, 1);
	ck_assert_uint_eq(q->len, 1);
	ck_assert_int_eq(got(), 0);
}
END_TEST

/* Publishes buffered in a transaction hold their messages until commit,
 * rollback or channel close. */
START_TEST(tx_buffers_release)
{
	struct queue *q = declare("q");
	struct channel *ch = open_chan(1);
	struct wbuf w = {0};
	put_method(&w, 1, AMQP_TX_SELECT);
	put_publish(&w, 1, "", "q", "one");
	put_publish(&w, 1, "", "q", "two");
	put_publish(&w, 1, "", "q", "");
	ck_assert_int_eq(feed(ch, &w), 0);
	ck_assert_uint_eq(q->len, 0);
	ck_assert_uint_eq(message_live, 3);
	put_method(&w, 1, AMQP_TX_ROLLBACK);
	ck_assert_int_eq(feed(ch, &w), 0);
	ck_assert_uint_eq(message_live, 0);
	put_publish(&w, 1, "", "q", "three");
	put_publish(&w, 1, "", "q", "four");
	put_method(&w, 1, AMQP_TX_COMMIT);
	ck_assert_int_eq(feed(ch, &w), 0);
	ck_assert_uint_eq(q->len, 2);
	ck_assert_uint_eq(message_live, 2);
	ck_assert_uint_eq(q->lv[0].v[q->lv[0].head].m->refs, 1);
	/* Left buffered when the channel goes. */
	put_publish(&w, 1, "", "q", "five");
	ck_assert_int_eq(feed(ch, &w), 0);
	ck_assert_uint_eq(message_live, 3);
	close_chan(ch);
	ck_assert_uint_eq(message_live, 2);
	ck_assert_int_eq(got(), 3); /* select-ok, rollback-ok, commit-ok */
	ck_assert_uint_eq(outs[2].id, AMQP_TX_COMMIT_OK);
	ck_assert_uint_eq(queue_purge(q), 2);
	ck_assert_uint_eq(message_live, 0);
	wb_free(&w);
}
END_TEST

/* A half-assembled message is dropped with its channel. */
START_TEST(partial_content_released)
{
	declare("q");
	struct channel *ch = open_chan(1);
	struct wbuf w = {0};
	struct amqp_method m = {.id = AMQP_BASIC_PUBLISH};
	m.a.basic_publish.routing_key = bytes_of("q");
	method_put(&w, 1, &m);
	content_header_put(&w, 1, AMQP_CLASS_BASIC, 10, (struct bytes){no_props, sizeof no_props});
	frame_put(&w, FRAME_BODY, 1, "abcd", 4);
	ck_assert_int_eq(feed(ch, &w), 0);
	ck_assert_int_eq(ch->content, CONTENT_BODY);
	ck_assert_uint_eq(message_live, 1);
	close_chan(ch);
	ck_assert_uint_eq(message_live, 0);
	wb_free(&w);
}
END_TEST

/* A channel freed while its confirm flush is pending is freed by the
 * flush at the end of the turn, not before (ASan) and not never (LSan). */
START_TEST(confirm_pending_at_close)
{
	struct queue *q = declare("q");
	struct channel *ch = open_chan(1);
	struct wbuf w = {0};
	put_method(&w, 1, AMQP_CONFIRM_SELECT);
	put_publish(&w, 1, "", "q", "x");
	ck_assert_int_eq(feed(ch, &w), 0);
	ck_assert(ch->defer_pending);
	ck_assert_uint_eq(ch->confirm_due, 1);
	close_chan(ch);
	ck_assert_int_eq(got(), 1); /* select-ok; no ack for a closed channel */
	ck_assert_uint_eq(outs[0].id, AMQP_CONFIRM_SELECT_OK);
	ck_assert_uint_eq(q->len, 1);
	wb_free(&w);
}
END_TEST

/* The connection going away frees its channels, requeues their
 * deliveries, and deletes its exclusive queues with what they hold. */
START_TEST(conn_kill_releases_everything)
{
	struct queue *q = declare("shared"), *ex = declare("mine");
	ex->exclusive = true;
	ex->owner = c;
	conn_own_queue(c, ex);
	struct channel *ch = open_chan(1), *ch2 = open_chan(2);
	consume(ch, q, "a", false);
	consume(ch2, ex, "b", false);
	for (int i = 0; i < 4; i++) {
		publish(q, i);
		publish(ex, 10 + i);
	}
	ck_assert_int_eq(got(), 8);
	ck_assert_uint_eq(message_live, 8);
	down();
	/* server_free freed the vhosts too, so every message is gone. */
	ck_assert_uint_eq(message_live, 0);
}
END_TEST

/* Only the exclusive queue goes: the shared one keeps its requeued,
 * redelivered messages (checked before the vhosts are freed). */
START_TEST(conn_kill_requeues_shared)
{
	struct queue *q = declare("shared"), *ex = declare("mine");
	ex->exclusive = true;
	ex->owner = c;
	conn_own_queue(c, ex);
	struct channel *ch = open_chan(1);
	consume(ch, q, "a", false);
	consume(ch, ex, "b", false);
	publish(q, 1);
	publish(ex, 2);
	ck_assert_int_eq(got(), 2);
	conn_kill(c);
	turn(); /* frees the connection */
	ck_assert_ptr_null(conn_list);
	c = NULL;
	ck_assert_ptr_null(vhost_queue(vh, bytes_of("mine")));
	ck_assert_uint_eq(q->len, 1);
	ck_assert_uint_eq(qring_get(&q->lv[0], 0).deliveries, 1);
	ck_assert_uint_eq(q->refs, 1);
	ck_assert_uint_eq(message_live, 1);
	close(peer);
	server_free();
	ck_assert_uint_eq(message_live, 0);
}
END_TEST

static Suite *refcount_suite(void)
{
	Suite *s = suite_create("refcount");
	TCase *q = tcase_create("queues");
	tcase_add_checked_fixture(q, setup, teardown);
	tcase_add_test(q, fanout_then_purge);
	tcase_add_test(q, fanout_then_delete_queues);
	tcase_add_test(q, diamond_routes_once);
	tcase_add_test(q, auto_delete_sources_go_once_at_teardown);
	tcase_add_test(q, requeue_pop_unref);
	suite_add_tcase(s, q);

	TCase *ch = tcase_create("channels");
	tcase_add_checked_fixture(ch, setup, teardown);
	tcase_add_test(ch, fanout_ack_through_channel);
	tcase_add_test(ch, nack_requeue_then_reject);
	tcase_add_test(ch, channel_free_requeues_redelivered);
	tcase_add_test(ch, deleted_queue_freed_after_ack);
	tcase_add_test(ch, auto_delete_queue_on_channel_close);
	tcase_add_test(ch, outgoing_body_frames_hold_references);
	tcase_add_test(ch, mandatory_return_releases);
	tcase_add_test(ch, tx_buffers_release);
	tcase_add_test(ch, partial_content_released);
	tcase_add_test(ch, confirm_pending_at_close);
	suite_add_tcase(s, ch);

	TCase *k = tcase_create("connection");
	tcase_add_checked_fixture(k, setup, teardown);
	tcase_add_test(k, conn_kill_releases_everything);
	tcase_add_test(k, conn_kill_requeues_shared);
	suite_add_tcase(s, k);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(refcount_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
