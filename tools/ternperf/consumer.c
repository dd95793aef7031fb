/* consumer.c — consuming: basic.qos and basic.consume on each consumer's
 * connection, reassembly of basic.deliver + header + body frames (spec
 * §4.2.6), latency from the body's timestamp, acks every -A messages, and
 * exactly-once accounting: a bitmap of sequence numbers per (queue,
 * producer) stream shows every message lost or delivered twice. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/frame.h"
#include "tools/ternperf/perf.h"
#include "util/xalloc.h"

/* Owned by the cons array (perf.cons). */
struct consumer {
	struct conn *c;
	uint32_t queue;
	int stage;    /* 0 idle, 1 header due, 2 body frames due */
	uint64_t tag; /* the delivery being assembled */
	bool redelivered;
	uint64_t body_left;
	uint8_t head[16]; /* the body's first octets */
	uint32_t head_len;
	uint64_t last_tag; /* newest delivery not yet acked */
	uint32_t unacked;
};

/* One producer's messages as seen on one queue: bit s set = sequence s
 * arrived. Grown by doubling, so no allocation per message. */
struct stream {
	uint64_t *bits;
	uint64_t cap;      /* bits allocated */
	uint64_t distinct; /* bits set */
	uint64_t top;      /* highest sequence seen + 1 */
};

/* Fanout and headers exchanges take every producer to every queue:
 * queues x producers streams, a row per queue. Otherwise producer p
 * reaches queue p % queues only, and streams[p] is its one stream, so
 * 10k producers on 10k queues keep 10k streams, not 100M. */
static struct stream *streams;
static uint32_t ack_every;
static uint64_t received; /* distinct messages, all streams */

/* Does every producer reach every queue (fanout, headers)? */
static bool fan(void)
{
	const struct perf_cfg *cfg = &perf.cfg;
	return cfg->exchange[0] &&
	       (!strcmp(cfg->xtype, "fanout") || !strcmp(cfg->xtype, "headers"));
}

/* Does producer p's routing key reach queue q? */
static bool routed(int p, uint32_t q)
{
	return fan() || (uint32_t)(p % perf.cfg.queues) == q;
}

/* The stream of producer p's messages on queue q (routed(p, q)). */
static struct stream *stream_of(uint32_t q, int p)
{
	return &streams[fan() ? (size_t)q * (size_t)perf.cfg.producers + (size_t)p : (size_t)p];
}

void consumers_init(void)
{
	const struct perf_cfg *cfg = &perf.cfg;
	perf.cons = xcalloc((size_t)cfg->consumers + 1, sizeof *perf.cons);
	for (int i = 0; i < cfg->consumers; i++)
		perf.cons[i].queue = (uint32_t)(i % cfg->queues);
	size_t n = fan() ? (size_t)cfg->queues * (size_t)cfg->producers : (size_t)cfg->producers;
	streams = xcalloc(n + 1, sizeof *streams);
	ack_every = cfg->multi_ack > 1 ? cfg->multi_ack : 1;
	/* Acking later than the prefetch allows would wait forever. */
	if (cfg->prefetch && ack_every > cfg->prefetch)
		ack_every = cfg->prefetch;
}

void consumer_attach(struct conn *c, int id)
{
	c->u.k = &perf.cons[id];
	perf.cons[id].c = c;
}

static void send_consume(struct conn *c)
{
	char tag[32];
	snprintf(tag, sizeof tag, "ternperf-%d", c->id);
	struct amqp_method m = {.id = AMQP_BASIC_CONSUME};
	m.a.basic_consume.queue = bytes_of(perf.qnames[c->u.k->queue]);
	m.a.basic_consume.consumer_tag = bytes_of(tag);
	m.a.basic_consume.no_ack = perf.cfg.auto_ack;
	conn_method(c, &m);
}

void consumer_start(struct conn *c)
{
	if (!perf.cfg.prefetch) {
		send_consume(c);
		return;
	}
	struct amqp_method m = {.id = AMQP_BASIC_QOS};
	m.a.basic_qos.prefetch_count = perf.cfg.prefetch;
	conn_method(c, &m);
}

/* Is queue q consumed, i.e. does some consumer read it? Consumer j reads
 * queue j % queues, so the first min(consumers, queues) are. */
static bool consumed(uint32_t q)
{
	return (int)q < perf.cfg.consumers;
}

static void track(struct consumer *k, uint32_t seq, int pid, bool redelivered)
{
	if (!routed(pid, k->queue)) {
		perf.st.foreign++; /* not ours to count: some other route brought it */
		return;
	}
	struct stream *s = stream_of(k->queue, pid);
	if (seq >= s->cap) {
		uint64_t cap = s->cap ? s->cap : 4096;
		while (cap <= seq)
			cap *= 2;
		s->bits = xrealloc(s->bits, cap / 8);
		memset((uint8_t *)s->bits + s->cap / 8, 0, (cap - s->cap) / 8);
		s->cap = cap;
	}
	uint64_t bit = (uint64_t)1 << (seq & 63);
	uint64_t *word = &s->bits[seq >> 6];
	if (*word & bit) {
		if (!redelivered)
			perf.st.duplicated++;
		return;
	}
	*word |= bit;
	s->distinct++;
	received++;
	if (seq + 1 > s->top)
		s->top = seq + 1;
}

static void send_ack(struct consumer *k)
{
	struct amqp_method m = {.id = AMQP_BASIC_ACK};
	m.a.basic_ack.delivery_tag = k->last_tag;
	m.a.basic_ack.multiple = k->unacked > 1;
	conn_method(k->c, &m);
	perf.st.acked += k->unacked;
	k->unacked = 0;
}

void consumers_flush_acks(void)
{
	for (int i = 0; i < perf.cfg.consumers; i++) {
		struct consumer *k = &perf.cons[i];
		if (k->unacked && k->c && k->c->state == CS_READY)
			send_ack(k);
	}
}

/* A whole message has arrived. */
static void complete(struct consumer *k, uint64_t now)
{
	k->stage = 0;
	perf.st.delivered++;
	perf.t_last_deliver = now;
	if (k->redelivered)
		perf.st.redelivered++;
	const uint8_t *h = k->head;
	int pid = k->head_len >= 16 ? get16(h + 12) : -1;
	if (pid >= 0 && get16(h + 14) == perf.run_tag && pid < perf.cfg.producers) {
		uint64_t sent = get64(h);
		hist_record(&perf.lat, now > sent ? now - sent : 0);
		track(k, get32(h + 8), pid, k->redelivered);
	} else {
		perf.st.foreign++; /* left in the queue by another run */
	}
	if (perf.cfg.auto_ack)
		return;
	k->last_tag = k->tag;
	if (++k->unacked >= ack_every)
		send_ack(k);
}

int consumer_on_content(struct conn *c, uint8_t type, const uint8_t *p, uint32_t n, uint64_t now)
{
	struct consumer *k = c->u.k;
	if (type == FRAME_HEADER) {
		if (k->stage != 1 || n < 14)
			return -1;
		k->body_left = get64(p + 4);
		k->head_len = 0;
		k->stage = 2;
		if (!k->body_left)
			complete(k, now);
		return 0;
	}
	if (k->stage != 2 || n > k->body_left)
		return -1;
	if (k->head_len < sizeof k->head) {
		uint32_t take = (uint32_t)sizeof k->head - k->head_len;
		if (take > n)
			take = n;
		memcpy(k->head + k->head_len, p, take);
		k->head_len += take;
	}
	k->body_left -= n;
	if (!k->body_left)
		complete(k, now);
	return 0;
}

int consumer_on_method(struct conn *c, const struct amqp_method *m)
{
	struct consumer *k = c->u.k;
	switch (m->id) {
	case AMQP_BASIC_DELIVER:
		if (k->stage != 0)
			return -1;
		k->tag = m->a.basic_deliver.delivery_tag;
		k->redelivered = m->a.basic_deliver.redelivered;
		k->stage = 1;
		return 0;
	case AMQP_BASIC_QOS_OK: send_consume(c); return 0;
	case AMQP_BASIC_CONSUME_OK:
		if (c->role == ROLE_DUPLEX)
			producer_start(c); /* it reports the connection ready */
		else
			perf_role_ready(c);
		return 0;
	case AMQP_BASIC_CANCEL:
		/* The queue went away under us (--cleanup deletes it). */
		perf.st.cancelled++;
		return 0;
	case AMQP_BASIC_CANCEL_OK: return 0;
	default: return -1;
	}
}

bool consumer_method(uint32_t id)
{
	switch (id) {
	case AMQP_BASIC_DELIVER:
	case AMQP_BASIC_QOS_OK:
	case AMQP_BASIC_CONSUME_OK:
	case AMQP_BASIC_CANCEL:
	case AMQP_BASIC_CANCEL_OK: return true;
	default: return false;
	}
}

uint64_t consumers_expected(void)
{
	uint64_t n = 0;
	if (!fan()) {
		for (int p = 0; p < perf.cfg.producers; p++)
			if (consumed((uint32_t)(p % perf.cfg.queues)))
				n += producer_published(p);
		return n;
	}
	for (uint32_t q = 0; q < (uint32_t)perf.cfg.queues; q++) {
		if (!consumed(q))
			continue;
		for (int p = 0; p < perf.cfg.producers; p++)
			n += producer_published(p);
	}
	return n;
}

/* What stream (q, p) misses: final, of what p published; provisional, of
 * what it saw so far. */
static uint64_t stream_lost(uint32_t q, int p, bool final)
{
	const struct stream *s = stream_of(q, p);
	uint64_t want = final ? producer_published(p) : s->top;
	return want > s->distinct ? want - s->distinct : 0;
}

uint64_t consumers_received(void)
{
	return received;
}

/* Final: messages published to a consumed queue and never seen there.
 * Provisional (during the run): holes below the highest sequence seen on
 * each stream; with one consumer per queue, FIFO order makes any hole a
 * loss or a reordering. */
uint64_t consumers_lost(bool final)
{
	uint64_t lost = 0;
	if (!fan()) {
		for (int p = 0; p < perf.cfg.producers; p++) {
			uint32_t q = (uint32_t)(p % perf.cfg.queues);
			if (consumed(q))
				lost += stream_lost(q, p, final);
		}
		return lost;
	}
	for (uint32_t q = 0; q < (uint32_t)perf.cfg.queues; q++)
		for (int p = 0; consumed(q) && p < perf.cfg.producers; p++)
			lost += stream_lost(q, p, final);
	return lost;
}

void consumers_free(void)
{
	size_t n = fan() ? (size_t)perf.cfg.queues * (size_t)perf.cfg.producers
			 : (size_t)perf.cfg.producers;
	for (size_t i = 0; i < n; i++)
		free(streams[i].bits);
	free(streams);
}
