/* check_queue.c — unit tests for the ready ring of broker/queue/queue.c: FIFO
 * order across growth, requeue back to the original position (shuffled,
 * into the middle of a ring that has wrapped, growth while wrapped, both
 * shift directions), purge counts and ready_bytes, checked step by step
 * against a plain model in a long random run; the ring's compact slots
 * give back every field of an entry, and an emptied ring its memory. */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "broker/core/config.h"
#include "broker/core/log.h"
#include "broker/queue/message.h"
#include "broker/queue/queue.h"
#include "broker/net/server.h"
#include "broker/model/vhost.h"

/* ---- fixture: the server loop (requeue kicks through server_defer) and
 * the "/" vhost, freed by server_free ---- */

static struct vhost *vh;

static void setup(void)
{
	config_defaults();
	log_level = LOG_ERROR;
	exchange_types_init();
	ck_assert_int_eq(server_init_loop(), 0); /* no store, no listeners */
	vhost_create("/");
	vh = vhost_find(bytes_of("/"));
	ck_assert_ptr_nonnull(vh);
}

/* One loop turn: runs the end-of-turn event (which drops kick references). */
static void turn(void)
{
	event_base_loop(server_base, EVLOOP_NONBLOCK);
}

static void teardown(void)
{
	turn();
	server_free();
}

static const uint8_t no_props[2]; /* property flags 0: no properties */

/* A message whose body is `size` octets and whose routing key names n. */
static struct message *msg(int n, uint64_t size)
{
	char key[16];
	snprintf(key, sizeof key, "m%d", n);
	struct message *m = message_new(bytes_of(""), bytes_of(key),
					(struct bytes){no_props, sizeof no_props}, size, 0);
	memset(message_body(m), n & 0xff, (size_t)size);
	return m;
}

static struct queue *new_queue(void)
{
	return queue_new(vh, bytes_of("q"), (struct bytes){0});
}

/* Pushes a new message and drops the caller's reference: the queue holds
 * the only one. */
static struct message *push(struct queue *q, int n, uint64_t size)
{
	struct message *m = msg(n, size);
	queue_push(q, m);
	message_unref(m);
	return m;
}

/* Frees the queue (and its messages) once the pending kick has run. */
static void drop_queue(struct queue *q)
{
	turn();
	ck_assert_uint_eq(q->refs, 1);
	queue_unref(q);
	ck_assert_uint_eq(message_live, 0);
}

/* ---- FIFO ---- */

START_TEST(fifo_order_across_growth)
{
	struct queue *q = new_queue();
	struct qentry e;
	ck_assert(!queue_pop(q, &e));
	struct message *ms[100];
	uint64_t bytes = 0;
	for (int i = 0; i < 100; i++) {
		ms[i] = push(q, i, (uint64_t)i);
		bytes += (uint64_t)i;
		ck_assert_uint_eq(ms[i]->refs, 1);
	}
	ck_assert_uint_eq(q->len, 100);
	ck_assert_uint_ge(q->lv[0].cap, 100);
	ck_assert_uint_eq(q->ready_bytes, bytes);
	ck_assert_uint_eq(message_live, 100);
	uint64_t last = 0;
	for (int i = 0; i < 100; i++) {
		ck_assert(queue_pop(q, &e));
		ck_assert_ptr_eq(e.m, ms[i]);
		ck_assert_uint_gt(e.seq, last);
		ck_assert_uint_eq(e.deliveries, 0);
		last = e.seq;
		bytes -= (uint64_t)i;
		ck_assert_uint_eq(q->ready_bytes, bytes);
		message_unref(e.m);
	}
	ck_assert(!queue_pop(q, &e));
	ck_assert_uint_eq(q->len, 0);
	ck_assert_uint_eq(q->ready_bytes, 0);
	drop_queue(q);
}
END_TEST

/* Interleaved pushes and pops walk the head around the ring many times
 * without growing it. */
START_TEST(fifo_interleaved_wraps)
{
	struct queue *q = new_queue();
	struct message *ms[400];
	int next_push = 0, next_pop = 0;
	for (int round = 0; round < 100; round++) {
		for (int k = 0; k < 4; k++, next_push++)
			ms[next_push] = push(q, next_push, 3);
		for (int k = 0; k < (round % 2 ? 5 : 3) && next_pop < next_push; k++, next_pop++) {
			struct qentry e;
			ck_assert(queue_pop(q, &e));
			ck_assert_ptr_eq(e.m, ms[next_pop]);
			message_unref(e.m);
		}
		ck_assert_uint_eq(q->len, (size_t)(next_push - next_pop));
		ck_assert_uint_eq(q->ready_bytes, 3 * (uint64_t)(next_push - next_pop));
	}
	ck_assert_uint_eq(q->lv[0].cap, 16); /* never more than 7 ready at once */
	drop_queue(q);
}
END_TEST

/* ---- requeue ---- */

START_TEST(requeue_shuffled_restores_order)
{
	struct queue *q = new_queue();
	struct message *ms[10];
	for (int i = 0; i < 10; i++)
		ms[i] = push(q, i, 10);
	struct qentry held[5];
	for (int i = 0; i < 5; i++) {
		ck_assert(queue_pop(q, &held[i]));
		ck_assert_ptr_eq(held[i].m, ms[i]);
	}
	ck_assert_uint_eq(q->ready_bytes, 50);
	static const int order[5] = {3, 0, 4, 1, 2};
	for (int i = 0; i < 5; i++) {
		struct qentry e = held[order[i]];
		e.deliveries = 1; /* as settle() hands it back */
		queue_requeue(q, e);
		ck_assert_uint_eq(q->len, 6 + (size_t)i);
	}
	ck_assert_uint_eq(q->ready_bytes, 100);
	for (int i = 0; i < 10; i++) {
		struct qentry e;
		ck_assert(queue_pop(q, &e));
		ck_assert_msg(e.m == ms[i], "pop %d returned message %.*s", i, e.m->rkey_len,
			      (const char *)message_rkey(e.m).p);
		ck_assert_uint_eq(e.deliveries, i < 5 ? 1 : 0);
		message_unref(e.m);
	}
	ck_assert_uint_eq(q->ready_bytes, 0);
	drop_queue(q);
}
END_TEST

/* Requeue into an empty queue, and behind nothing. */
START_TEST(requeue_into_empty)
{
	struct queue *q = new_queue();
	struct message *a = push(q, 1, 4), *b = push(q, 2, 5);
	struct qentry ea, eb;
	ck_assert(queue_pop(q, &ea));
	ck_assert(queue_pop(q, &eb));
	ck_assert_uint_eq(q->len, 0);
	queue_requeue(q, eb);
	queue_requeue(q, ea);
	ck_assert_uint_eq(q->ready_bytes, 9);
	struct qentry e;
	ck_assert(queue_pop(q, &e));
	ck_assert_ptr_eq(e.m, a);
	message_unref(e.m);
	/* A later push still goes behind the requeued one. */
	struct message *c = push(q, 3, 1);
	ck_assert(queue_pop(q, &e));
	ck_assert_ptr_eq(e.m, b);
	message_unref(e.m);
	ck_assert(queue_pop(q, &e));
	ck_assert_ptr_eq(e.m, c);
	message_unref(e.m);
	drop_queue(q);
}
END_TEST

/* The ring (capacity 16) has wrapped: ready entries sit at slots 14, 15,
 * 0 and 1. Held entries are then requeued so that they land at the
 * front, in the middle, and past the midpoint (where the back half is
 * shifted instead of the front), across the wrap point, without growth. */
START_TEST(requeue_middle_of_wrapped_ring)
{
	struct queue *q = new_queue();
	struct message *ms[19];
	for (int i = 1; i <= 16; i++)
		ms[i] = push(q, i, (uint64_t)i);
	ck_assert_uint_eq(q->lv[0].cap, 16);
	struct qentry held[15];
	for (int i = 1; i <= 14; i++) {
		ck_assert(queue_pop(q, &held[i]));
		ck_assert_ptr_eq(held[i].m, ms[i]);
	}
	for (int i = 17; i <= 18; i++)
		ms[i] = push(q, i, (uint64_t)i);
	ck_assert_uint_eq(q->lv[0].head, 14);
	ck_assert_uint_eq(q->len, 4);

	/* Odd ones ascending, then even ones descending; 2 and 14 stay out. */
	static const int order[12] = {1, 3, 5, 7, 9, 11, 13, 12, 10, 8, 6, 4};
	int front_shifts = 0, back_shifts = 0;
	uint64_t bytes = 15 + 16 + 17 + 18;
	for (int k = 0; k < 12; k++) {
		size_t head = q->lv[0].head;
		ck_assert_msg(q->lv[0].head + q->len > q->lv[0].cap, "ring not wrapped at requeue %d", k);
		queue_requeue(q, held[order[k]]);
		bytes += (uint64_t)order[k];
		ck_assert_uint_eq(q->ready_bytes, bytes);
		if (q->lv[0].head == head)
			back_shifts++;
		else
			front_shifts++;
	}
	/* The test covers both directions of the shift. */
	ck_assert_int_ge(front_shifts, 4);
	ck_assert_int_ge(back_shifts, 3);
	ck_assert_uint_eq(q->lv[0].cap, 16);
	ck_assert_uint_eq(q->len, 16);
	for (int i = 1; i <= 18; i++) {
		if (i == 2 || i == 14)
			continue;
		struct qentry e;
		ck_assert(queue_pop(q, &e));
		ck_assert_msg(e.m == ms[i], "pop %d returned message %.*s", i, e.m->rkey_len,
			      (const char *)message_rkey(e.m).p);
		message_unref(e.m);
	}
	ck_assert_uint_eq(q->len, 0);
	ck_assert_uint_eq(q->ready_bytes, 0);
	message_unref(held[2].m);
	message_unref(held[14].m);
	drop_queue(q);
}
END_TEST

/* A full ring whose head is not at slot 0 grows on push and on requeue;
 * growth must unwrap the entries in order. */
START_TEST(growth_while_wrapped)
{
	struct queue *q = new_queue();
	struct message *ms[40];
	for (int i = 0; i < 16; i++)
		ms[i] = push(q, i, 1);
	struct qentry held[6];
	for (int i = 0; i < 6; i++)
		ck_assert(queue_pop(q, &held[i]));
	for (int i = 16; i < 22; i++)
		ms[i] = push(q, i, 1);
	ck_assert_uint_eq(q->lv[0].cap, 16);
	ck_assert_uint_eq(q->len, 16);
	ck_assert_uint_eq(q->lv[0].head, 6);
	/* Full and wrapped: the requeue must grow first. */
	queue_requeue(q, held[3]);
	ck_assert_uint_eq(q->lv[0].cap, 32);
	ck_assert_uint_eq(q->len, 17);
	queue_requeue(q, held[5]);
	queue_requeue(q, held[0]);
	/* Fill to 32 and wrap again, then grow on a push. */
	for (int i = 22; i < 40; i++)
		ms[i] = push(q, i, 1);
	ck_assert_uint_eq(q->lv[0].cap, 64);
	/* The rest go back between the others. */
	queue_requeue(q, held[4]);
	queue_requeue(q, held[1]);
	queue_requeue(q, held[2]);
	ck_assert_uint_eq(q->len, 40);
	ck_assert_uint_eq(q->ready_bytes, 40);
	for (int i = 0; i < 40; i++) {
		struct qentry e;
		ck_assert(queue_pop(q, &e));
		ck_assert_msg(e.m == ms[i], "pop %d returned message %.*s", i, e.m->rkey_len,
			      (const char *)message_rkey(e.m).p);
		message_unref(e.m);
	}
	drop_queue(q);
}
END_TEST

/* A requeue into a deleted queue drops the message instead. */
START_TEST(requeue_into_deleted_queue_drops)
{
	struct queue *q = new_queue();
	push(q, 1, 8);
	struct qentry e;
	ck_assert(queue_pop(q, &e));
	q->deleted = true;
	ck_assert_uint_eq(message_live, 1);
	queue_requeue(q, e);
	ck_assert_uint_eq(q->len, 0);
	ck_assert_uint_eq(q->ready_bytes, 0);
	ck_assert_uint_eq(message_live, 0);
	ck_assert(!q->kick_pending); /* a deleted queue is never scheduled */
	queue_unref(q);
}
END_TEST

/* Requeue schedules delivery and takes a queue reference for it, which
 * the end of the turn gives back. */
START_TEST(requeue_kicks_once)
{
	struct queue *q = new_queue();
	push(q, 1, 1);
	push(q, 2, 1);
	ck_assert(!q->kick_pending); /* no consumer: push does not kick */
	struct qentry a, b;
	queue_pop(q, &a);
	queue_pop(q, &b);
	queue_requeue(q, b);
	queue_requeue(q, a);
	ck_assert(q->kick_pending);
	ck_assert_uint_eq(q->refs, 2);
	turn();
	ck_assert(!q->kick_pending);
	ck_assert_uint_eq(q->refs, 1);
	ck_assert_uint_eq(q->len, 2);
	drop_queue(q);
}
END_TEST

/* ---- purge and ready_bytes ---- */

START_TEST(purge_counts)
{
	struct queue *q = new_queue();
	ck_assert_uint_eq(queue_purge(q), 0);
	for (int i = 0; i < 37; i++)
		push(q, i, (uint64_t)(i % 5) * 100);
	ck_assert_uint_eq(message_live, 37);
	struct qentry e;
	queue_pop(q, &e);
	message_unref(e.m);
	queue_pop(q, &e); /* size 100, held across the purge */
	ck_assert_uint_eq(q->len, 35);
	ck_assert_uint_eq(queue_purge(q), 35);
	ck_assert_uint_eq(q->len, 0);
	ck_assert_uint_eq(q->ready_bytes, 0);
	ck_assert_uint_eq(message_live, 1); /* the one still held */
	/* A requeued entry counts like any other. */
	queue_requeue(q, e);
	push(q, 99, 7);
	ck_assert_uint_eq(q->ready_bytes, 100 + 7);
	ck_assert_uint_eq(queue_purge(q), 2);
	ck_assert_uint_eq(queue_purge(q), 0);
	ck_assert_uint_eq(message_live, 0);
	/* The queue is usable after a purge. */
	struct message *m = push(q, 5, 5);
	ck_assert(queue_pop(q, &e));
	ck_assert_ptr_eq(e.m, m);
	message_unref(e.m);
	drop_queue(q);
}
END_TEST

/* The same message in one queue twice: two entries, two references. */
START_TEST(same_message_twice)
{
	struct queue *q = new_queue();
	struct message *m = msg(1, 1000);
	queue_push(q, m);
	queue_push(q, m);
	ck_assert_uint_eq(m->refs, 3);
	ck_assert_uint_eq(q->ready_bytes, 2000);
	message_unref(m);
	struct qentry a, b;
	ck_assert(queue_pop(q, &a));
	ck_assert(queue_pop(q, &b));
	ck_assert_ptr_eq(a.m, b.m);
	ck_assert_uint_lt(a.seq, b.seq);
	queue_requeue(q, b);
	queue_requeue(q, a);
	ck_assert_uint_eq(q->ready_bytes, 2000);
	ck_assert_uint_eq(queue_purge(q), 2);
	ck_assert_uint_eq(message_live, 0);
	drop_queue(q);
}
END_TEST

/* ---- a long random run against a model ---- */

static uint64_t rng_state;

static uint32_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 16);
}

#define NMSG 3000

/* The model: which sequence numbers are ready. Popping must return the
 * smallest; requeue puts one back. Messages are found by seq. */
static bool ready[NMSG + 1];
static struct message *by_seq[NMSG + 1];
static uint64_t size_of[NMSG + 1];

START_TEST(random_against_model)
{
	rng_state = 0x9e3779b97f4a7c15ull ^ (uint64_t)_i;
	memset(ready, 0, sizeof ready);
	struct queue *q = new_queue();
	struct qentry held[64];
	size_t nheld = 0, nready = 0;
	uint64_t bytes = 0, pushed = 0;
	int failures = 0;
	for (int step = 0; step < 20000; step++) {
		uint32_t r = rng() % 100;
		/* The mix drifts, so the queue both grows and drains. */
		int push_bias = (step / 2000) % 2 ? 30 : 45;
		if (r < (uint32_t)push_bias && pushed < NMSG) {
			uint64_t size = rng() % 50;
			struct message *m = push(q, (int)pushed, size);
			pushed++;
			if (q->lv[0].v[(q->lv[0].head + q->len - 1) & (q->lv[0].cap - 1)].seq != pushed)
				failures++;
			by_seq[pushed] = m;
			size_of[pushed] = size;
			ready[pushed] = true;
			nready++;
			bytes += size;
		} else if (r < 75) {
			struct qentry e;
			bool got = queue_pop(q, &e);
			if (got != (nready > 0)) {
				ck_abort_msg("step %d: pop returned %d with %zu ready", step, got,
					     nready);
			}
			if (!got)
				continue;
			uint64_t want = 1;
			while (!ready[want])
				want++;
			if (e.seq != want || e.m != by_seq[want])
				ck_abort_msg("step %d: popped seq %llu, expected %llu", step,
					     (unsigned long long)e.seq, (unsigned long long)want);
			ready[want] = false;
			nready--;
			bytes -= size_of[want];
			if (nheld < 64) {
				held[nheld++] = e;
			} else {
				message_unref(e.m);
			}
		} else if (nheld) {
			size_t k = rng() % nheld;
			struct qentry e = held[k];
			held[k] = held[--nheld];
			queue_requeue(q, e);
			ready[e.seq] = true;
			nready++;
			bytes += size_of[e.seq];
		}
		if (q->len != nready || q->ready_bytes != bytes)
			ck_abort_msg("step %d: len %zu ready_bytes %llu, model %zu and %llu", step,
				     q->len, (unsigned long long)q->ready_bytes, nready,
				     (unsigned long long)bytes);
	}
	ck_assert_int_eq(failures, 0);
	ck_assert_uint_gt(pushed, 1000); /* the run did real work */
	/* Everything held goes back; the queue then drains in seq order. */
	while (nheld) {
		struct qentry e = held[--nheld];
		queue_requeue(q, e);
		ready[e.seq] = true;
		nready++;
	}
	uint64_t last = 0;
	size_t n = 0;
	struct qentry e;
	while (queue_pop(q, &e)) {
		if (e.seq <= last || !ready[e.seq])
			ck_abort_msg("drain: seq %llu after %llu", (unsigned long long)e.seq,
				     (unsigned long long)last);
		last = e.seq;
		n++;
		message_unref(e.m);
	}
	ck_assert_uint_eq(n, nready);
	ck_assert_uint_eq(q->ready_bytes, 0);
	drop_queue(q);
}
END_TEST

/* ---- the ring's compact slots (qring.h) ---- */

static void same_entry(struct qentry got, struct qentry want)
{
	ck_assert_ptr_eq(got.m, want.m);
	ck_assert_uint_eq(got.seq, want.seq);
	ck_assert_uint_eq(got.msg_id, want.msg_id);
	ck_assert_uint_eq(got.expires, want.expires);
	ck_assert_uint_eq(got.size, want.size);
	ck_assert_uint_eq(got.deliveries, want.deliveries);
	ck_assert_uint_eq(got.flags, want.flags);
	ck_assert_uint_eq(got.priority, want.priority);
}

START_TEST(slots_round_trip)
{
	struct qring r = {.level = 3};
	struct message *plain = msg(1, 10);
	struct message *stored = message_new(bytes_of("x"), bytes_of("k"),
					     (struct bytes){no_props, sizeof no_props}, 20,
					     MSG_PERSISTENT | MSG_STORE_SHARED);
	message_set_store_id(stored, 77);
	struct qentry e[6] = {
		{.m = plain, .seq = 10, .size = 10, .priority = 3},
		{.m = plain, .seq = 20, .size = 10, .priority = 3},
		{.m = stored, .seq = 30, .msg_id = 77, .size = 20, .flags = QE_STORED,
		 .priority = 3},
		{.m = plain, .seq = 40, .expires = 123456789, .size = 10, .flags = QE_NOW,
		 .priority = 3},
		{.seq = 50, .msg_id = 99, .size = 4000, .flags = QE_STORED | QE_PAGED,
		 .deliveries = 2, .priority = 3},
		{.m = plain, .seq = 60, .size = 10, .deliveries = 65535, .priority = 3},
	};
	/* Plain entries need no extras. */
	qring_push(&r, e[0]);
	qring_push(&r, e[1]);
	ck_assert_ptr_null(r.x);
	/* The rest in a shuffled order, by insertion. */
	int order[] = {5, 2, 4, 3};
	for (int i = 0; i < 4; i++)
		qring_insert(&r, e[order[i]]);
	ck_assert_ptr_nonnull(r.x);
	ck_assert_uint_eq(r.len, 6);
	for (size_t i = 0; i < 6; i++)
		same_entry(qring_get(&r, i), e[i]);
	ck_assert_uint_eq(qring_expires(&r, 3), 123456789);
	ck_assert_uint_eq(qring_expires(&r, 0), 0);
	/* Out of the middle, then from the head. */
	struct qentry got;
	qring_remove(&r, (size_t)qring_find(&r, 40), &got);
	same_entry(got, e[3]);
	int rest[] = {0, 1, 2, 4, 5};
	for (int i = 0; i < 5; i++) {
		ck_assert(qring_pop(&r, &got));
		same_entry(got, e[rest[i]]);
	}
	ck_assert(!qring_pop(&r, &got));
	ck_assert_ptr_null(r.x); /* an empty ring drops its extras */
	ck_assert_uint_eq(r.cap, 16); /* ... and keeps a small array */
	qring_free(&r);
	ck_assert_uint_eq(r.level, 3);
	message_unref(plain);
	message_unref(stored);
}
END_TEST

START_TEST(big_ring_gives_back)
{
	struct queue *q = new_queue();
	for (int i = 0; i < 100000; i++)
		push(q, i, 1);
	ck_assert_uint_eq(q->lv[0].cap, 131072);
	struct qentry e;
	for (int i = 0; i < 100000; i++) {
		ck_assert(queue_pop(q, &e));
		message_unref(e.m);
	}
	ck_assert_uint_eq(q->len, 0);
	ck_assert_uint_eq(q->lv[0].cap, 0);
	ck_assert_ptr_null(q->lv[0].v);
	/* It works again from nothing. */
	struct message *m = push(q, 1, 5);
	ck_assert(queue_pop(q, &e));
	ck_assert_ptr_eq(e.m, m);
	message_unref(e.m);
	drop_queue(q);
}
END_TEST

static Suite *queue_suite(void)
{
	Suite *s = suite_create("queue");
	TCase *f = tcase_create("fifo");
	tcase_add_checked_fixture(f, setup, teardown);
	tcase_add_test(f, fifo_order_across_growth);
	tcase_add_test(f, fifo_interleaved_wraps);
	suite_add_tcase(s, f);

	TCase *r = tcase_create("requeue");
	tcase_add_checked_fixture(r, setup, teardown);
	tcase_add_test(r, requeue_shuffled_restores_order);
	tcase_add_test(r, requeue_into_empty);
	tcase_add_test(r, requeue_middle_of_wrapped_ring);
	tcase_add_test(r, growth_while_wrapped);
	tcase_add_test(r, requeue_into_deleted_queue_drops);
	tcase_add_test(r, requeue_kicks_once);
	suite_add_tcase(s, r);

	TCase *p = tcase_create("purge");
	tcase_add_checked_fixture(p, setup, teardown);
	tcase_add_test(p, purge_counts);
	tcase_add_test(p, same_message_twice);
	suite_add_tcase(s, p);

	TCase *g = tcase_create("ring");
	tcase_add_checked_fixture(g, setup, teardown);
	tcase_add_test(g, slots_round_trip);
	tcase_add_test(g, big_ring_gives_back);
	suite_add_tcase(s, g);

	TCase *m = tcase_create("model");
	tcase_add_checked_fixture(m, setup, teardown);
	tcase_set_timeout(m, 60);
	tcase_add_loop_test(m, random_against_model, 0, 4);
	suite_add_tcase(s, m);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(queue_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
