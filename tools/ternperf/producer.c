/* producer.c — publishing: each producer owns a connection, copies a
 * pre-encoded publish (method + header + body frames) per message and
 * stamps its body; paces itself with a token bucket (-r) and a window of
 * unconfirmed publishes (-c, publisher confirms per RabbitMQ's extension).
 *
 * Body layout, the first 16 octets, big-endian: send time (CLOCK_MONOTONIC
 * ns, 8), sequence number (4), producer id (2), run tag (2). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/frame.h"
#include "protocol/props.h"
#include "tools/ternperf/perf.h"
#include "util/xalloc.h"

/* Stop filling a connection's buffer past this many unwritten bytes: one
 * write per turn of this size amortises the syscall, and more would only
 * queue in our memory instead of the broker's socket. */
#define TURN_BYTES (64u * 1024)

/* Owned by the prods array (perf.prods). */
struct producer {
	struct conn *c;
	uint16_t id;
	uint32_t queue;       /* index of the queue its routing key names */
	uint64_t seq;         /* messages published = the next sequence number */
	double tokens, burst; /* token bucket for -r */
	uint64_t last_refill;
	uint8_t *tmpl; /* one encoded publish, body zeroed */
	size_t tmpl_len, stamp_off;
	size_t prio_off; /* the priority property's octet in tmpl, or 0 */
	uint64_t *sent_ns; /* confirm ring: send time by delivery tag */
	uint64_t mask;
	uint64_t low; /* lowest unconfirmed delivery tag */
};

void producers_init(void)
{
	const struct perf_cfg *cfg = &perf.cfg;
	perf.prods = xcalloc((size_t)cfg->producers + 1, sizeof *perf.prods);
	size_t ring = 1;
	while (ring < cfg->confirm)
		ring <<= 1;
	for (int i = 0; i < cfg->producers; i++) {
		struct producer *p = &perf.prods[i];
		p->id = (uint16_t)i;
		p->queue = (uint32_t)(i % cfg->queues);
		p->low = 1;
		/* The bucket refills continuously and holds 100 ms worth (at
		 * least two tokens): on 2 cores shared with a busy broker the
		 * scheduler can keep us off the CPU for several ms, and the time
		 * lost must be caught up, or -r would not be the rate we get. */
		p->burst = (cfg->rate > 10 ? cfg->rate / 10 : 1) + 1;
		/* Start the buckets out of phase, so that many slow producers do
		 * not all publish in the same instant each second. */
		p->tokens = fmod(i * 0.6180339887, 1.0);
		if (cfg->confirm) {
			p->sent_ns = xcalloc(ring, sizeof *p->sent_ns);
			p->mask = ring - 1;
		}
	}
}

/* Encodes one whole publish into p->tmpl, now that frame_max is known. */
static void build_template(struct producer *p)
{
	const struct perf_cfg *cfg = &perf.cfg;
	struct wbuf w = {0}, pw = {0};
	struct amqp_method m = {.id = AMQP_BASIC_PUBLISH};
	m.a.basic_publish.exchange = bytes_of(cfg->exchange);
	bool fan = cfg->exchange[0] &&
		   (!strcmp(cfg->xtype, "fanout") || !strcmp(cfg->xtype, "headers"));
	char key[32];
	m.a.basic_publish.routing_key = bytes_of(fan		       ? ""
						 : cfg->topic_patterns ? topic_key(p->queue, key)
								       : perf.qnames[p->queue]);
	method_put(&w, PERF_CHANNEL, &m);
	struct amqp_props props = {.flags = PROP_DELIVERY_MODE,
				   .delivery_mode = cfg->persistent ? 2 : 1};
	if (cfg->max_priority)
		props.flags |= PROP_PRIORITY;
	props_encode(&pw, &props);
	/* After the header frame's 7 octets, class, weight and size (12), the
	 * flags (2) and delivery_mode (1) comes the priority octet. */
	p->prio_off = cfg->max_priority ? w.len + 7 + 12 + 2 + 1 : 0;
	content_header_put(&w, PERF_CHANNEL, AMQP_CLASS_BASIC, cfg->body_size,
			   (struct bytes){pw.p, (uint32_t)pw.len});
	wb_free(&pw);
	uint32_t chunk = p->c->frame_max - FRAME_OVERHEAD;
	for (uint32_t off = 0; off < cfg->body_size; off += chunk) {
		uint32_t n = cfg->body_size - off < chunk ? cfg->body_size - off : chunk;
		frame_put_header(&w, FRAME_BODY, PERF_CHANNEL, n);
		if (off == 0)
			p->stamp_off = w.len;
		memset(wb_reserve(&w, n), 0, n);
		w.len += n;
		wb_u8(&w, FRAME_END);
	}
	free(p->tmpl);
	p->tmpl = xmemdup(w.p, w.len);
	p->tmpl_len = w.len;
	wb_free(&w);
}

void producer_start(struct conn *c)
{
	build_template(c->u.p);
	if (!perf.cfg.confirm) {
		perf_role_ready(c);
		return;
	}
	struct amqp_method m = {.id = AMQP_CONFIRM_SELECT};
	conn_method(c, &m);
}

static void publish(struct producer *p, uint64_t now)
{
	struct wbuf *w = conn_out(p->c);
	uint8_t *d = wb_reserve(w, p->tmpl_len);
	memcpy(d, p->tmpl, p->tmpl_len);
	w->len += p->tmpl_len;
	if (p->prio_off)
		d[p->prio_off] = (uint8_t)(p->seq % (uint64_t)perf.cfg.max_priority);
	d += p->stamp_off;
	put64(d, now);
	put32(d + 8, (uint32_t)p->seq);
	put16(d + 12, p->id);
	put16(d + 14, perf.run_tag);
	p->seq++;
	if (p->sent_ns)
		p->sent_ns[p->seq & p->mask] = now; /* delivery tag = seq after ++ */
	perf.st.published++;
}

static uint64_t producer_pump(struct producer *p, uint64_t now)
{
	const struct perf_cfg *cfg = &perf.cfg;
	struct conn *c = p->c;
	unsigned n = 0;
	if (perf.phase != PH_RUN || c->state != CS_READY || !c->role_ready || c->blocked ||
	    c->flow_off)
		return UINT64_MAX;
	if (cfg->rate > 0) {
		p->tokens += (double)(now - p->last_refill) * cfg->rate / 1e9;
		if (p->tokens > p->burst)
			p->tokens = p->burst;
		p->last_refill = now;
	}
	for (;;) {
		if (cfg->count && p->seq >= cfg->count)
			return UINT64_MAX;
		/* Publishing tag seq+1 must keep [low, seq+1] inside the window. */
		if (cfg->confirm && p->seq + 1 - p->low >= cfg->confirm)
			return UINT64_MAX;
		if (conn_pending(c) >= TURN_BYTES)
			return conn_pending(c) > TURN_BYTES * 2 || c->want_out ? UINT64_MAX : 0;
		if (cfg->rate > 0) {
			if (p->tokens < 1)
				return now + (uint64_t)((1 - p->tokens) * 1e9 / cfg->rate) + 1;
			p->tokens -= 1;
		}
		/* A turn's worth of publishes takes tens of microseconds to
		 * build: re-read the clock now and then so stamps stay honest. */
		if (++n % 32 == 0)
			now = now_ns();
		publish(p, now);
	}
}

/* With -r, producers wait in a min-heap by the time each may publish
 * next, so a turn looks at the due ones only: 10k producers at 1 msg/s
 * wake the loop 10k times a second, and a scan of all of them each time
 * cost more than the messages. */
struct due {
	uint64_t at;
	struct producer *p;
};
static struct due *heap;
static size_t nheap;

static void heap_push(uint64_t at, struct producer *p)
{
	size_t i = nheap++;
	while (i && heap[(i - 1) / 2].at > at) {
		heap[i] = heap[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	heap[i] = (struct due){at, p};
}

static struct due heap_pop(void)
{
	struct due top = heap[0], last = heap[--nheap];
	size_t i = 0;
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= nheap)
			break;
		if (c + 1 < nheap && heap[c + 1].at < heap[c].at)
			c++;
		if (heap[c].at >= last.at)
			break;
		heap[i] = heap[c];
		i = c;
	}
	heap[i] = last;
	return top;
}

/* A poll interval for a rate-limited producer held back by something
 * other than its bucket (socket full, confirm window, blocked). */
#define RECHECK_NS 1000000ull

uint64_t producers_pump(uint64_t now)
{
	uint64_t wake = UINT64_MAX;
	if (perf.cfg.rate <= 0) {
		for (int i = 0; i < perf.cfg.producers && perf.phase == PH_RUN; i++) {
			uint64_t w = producer_pump(&perf.prods[i], now);
			if (w < wake)
				wake = w;
		}
		return wake;
	}
	/* Those due now publish; each goes back with its next time. One that
	 * used up its turn (0) goes back due at once, for the next turn. */
	size_t budget = nheap;
	while (nheap && heap[0].at <= now && budget-- && perf.phase == PH_RUN) {
		struct producer *p = heap_pop().p;
		uint64_t w = producer_pump(p, now);
		if (w == UINT64_MAX && perf.cfg.count && p->seq >= perf.cfg.count)
			continue; /* done for good */
		heap_push(w == UINT64_MAX ? now + RECHECK_NS : w ? w : now, p);
	}
	return nheap ? (heap[0].at <= now ? 0 : heap[0].at) : UINT64_MAX;
}

/* Records the confirm of one outstanding tag (once; repeats are ignored). */
static void settle(struct producer *p, uint64_t tag, bool ack, uint64_t now)
{
	uint64_t *slot = &p->sent_ns[tag & p->mask];
	if (!*slot)
		return;
	if (ack) {
		perf.st.confirmed++;
		hist_record(&perf.clat, now > *slot ? now - *slot : 0);
	} else {
		perf.st.nacked++;
	}
	*slot = 0;
}

static int on_confirm(struct producer *p, uint64_t tag, bool multiple, bool ack)
{
	if (!p->sent_ns || tag > p->seq)
		return -1; /* a confirm for a tag never published */
	uint64_t now = now_ns();
	if (multiple) {
		for (uint64_t t = p->low; t <= tag; t++)
			settle(p, t, ack, now);
	} else if (tag >= p->low) {
		settle(p, tag, ack, now);
	}
	while (p->low <= p->seq && !p->sent_ns[p->low & p->mask])
		p->low++;
	perf.t_last_confirm = now;
	return 0;
}

int producer_on_method(struct conn *c, const struct amqp_method *m)
{
	struct producer *p = c->u.p;
	switch (m->id) {
	case AMQP_CONFIRM_SELECT_OK: perf_role_ready(c); return 0;
	case AMQP_BASIC_ACK:
		return on_confirm(p, m->a.basic_ack.delivery_tag, m->a.basic_ack.multiple, true);
	case AMQP_BASIC_NACK:
		return on_confirm(p, m->a.basic_nack.delivery_tag, m->a.basic_nack.multiple, false);
	case AMQP_BASIC_RETURN: perf.st.returned++; return 0;
	default: return -1;
	}
}

/* The run starts now: token buckets fill from this instant. */
void producers_start_clock(uint64_t now)
{
	if (perf.cfg.rate > 0)
		heap = xcalloc((size_t)perf.cfg.producers + 1, sizeof *heap);
	for (int i = 0; i < perf.cfg.producers; i++) {
		perf.prods[i].last_refill = now;
		if (perf.cfg.rate > 0)
			heap_push(now, &perf.prods[i]);
	}
}

bool producers_done(void)
{
	if (!perf.cfg.count)
		return false;
	for (int i = 0; i < perf.cfg.producers; i++)
		if (perf.prods[i].seq < perf.cfg.count)
			return false;
	return true;
}

uint64_t producers_unconfirmed(void)
{
	uint64_t n = 0;
	if (!perf.cfg.confirm)
		return 0;
	for (int i = 0; i < perf.cfg.producers; i++)
		n += perf.prods[i].seq + 1 - perf.prods[i].low;
	return n;
}

uint64_t producer_published(int id)
{
	return perf.prods[id].seq;
}

void producer_attach(struct conn *c, int id)
{
	c->u.p = &perf.prods[id];
	perf.prods[id].c = c;
}
