/* channel.c — channel state: content assembly, the unacked ring,
 * acknowledgements, confirms, and method dispatch (spec §2.2.5, §4.2.6).
 *
 * Content assembly (spec §4.2.6): after a content-bearing method
 * (basic.publish) the channel must see one header frame, then body frames
 * until body_size octets have come; any other frame on the channel in
 * between is 505 UNEXPECTED_FRAME, as is a header or body out of turn.
 *   NONE --basic.publish--> HEADER --header--> BODY --last body--> NONE
 *   (HEADER --header with body_size 0--> NONE) */
#include "broker/amqp/channel.h"

#include <stdarg.h>
#include <stdio.h>
#include <event2/event.h>
#include <stdlib.h>

#include "broker/amqp/direct_reply.h"
#include "broker/core/config.h"
#include "broker/core/log.h"
#include "broker/net/conn.h"
#include "broker/amqp/handlers.h"
#include "broker/queue/persist.h"
#include "broker/net/server.h"
#include "broker/model/vhost.h"
#include "protocol/props.h"
#include "util/xalloc.h"

struct channel *channel_new(struct conn *c, uint16_t id)
{
	struct channel *ch = xcalloc(1, sizeof *ch);
	ch->c = c;
	ch->id = id;
	ch->flow_active = true;
	ch->ring_base = 1;
	ch->ct_gen = queue_timeout_gen;
	stats_churn.chans_opened++;
	return ch;
}

int chan_fail(struct channel *ch, int code, const char *fmt, ...)
{
	char *buf = ch->c->err;
	size_t cap = sizeof ch->c->err;
	int n = snprintf(buf, cap, "%s - ", amqp_reply_name(code));
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf + n, cap - (size_t)n, fmt, ap);
	va_end(ap);
	return code;
}

void send_simple(struct channel *ch, uint32_t id)
{
	struct amqp_method m = {.id = id};
	conn_send_method(ch->c, ch->id, &m);
}

static void tx_clear(struct channel *ch)
{
	for (size_t i = 0; i < ch->ntx; i++)
		if (ch->txops[i].m)
			message_unref(ch->txops[i].m);
	ch->ntx = 0;
}

void channel_cancel_consumer(struct channel *ch, struct consumer *cons, bool notify)
{
	struct queue *q = cons->q;
	queue_remove_consumer(q, cons);
	if (q->ncons == 0)
		queue_touch(q); /* x-expires counts from here */
	strmap_del(&ch->consumers, cons->tag, cons->tag_len);
	/* Unacked deliveries outlive their consumer; forget the pointer. */
	for (size_t i = 0; i < ch->ring_len; i++) {
		struct unacked *u = &ch->ring[(ch->ring_base + i) & (ch->ring_cap - 1)];
		if (u->cons == cons)
			u->cons = NULL;
	}
	if (notify && ch->c->cap_cancel_notify && ch->state == CH_OPEN) {
		struct amqp_method m = {.id = AMQP_BASIC_CANCEL};
		m.a.basic_cancel.consumer_tag = (struct bytes){(uint8_t *)cons->tag, cons->tag_len};
		m.a.basic_cancel.no_wait = true;
		conn_send_method(ch->c, ch->id, &m);
	}
	free(cons->tag);
	free((void *)cons->args.p);
	free(cons);
	if (q->auto_delete && q->ncons == 0 && q->had_consumer && !q->deleted)
		vhost_delete_queue(q->vh, q);
}

void channel_free(struct channel *ch)
{
	void *v;
	size_t it = 0;
	while (strmap_next(&ch->consumers, &it, &v)) {
		channel_cancel_consumer(ch, v, false);
		it = 0; /* the map changed: start over */
	}
	direct_reply_forget(ch);
	channel_requeue_all(ch);
	free(ch->ring);
	strmap_free(&ch->consumers);
	if (ch->pub)
		message_unref(ch->pub);
	tx_clear(ch);
	free(ch->txops);
	free(ch->reclaimed);
	free(ch->last_queue);
	stats_churn.chans_closed++;
	/* A deferred confirm flush may still point here: unlink by flag. */
	ch->c = NULL;
	for (size_t i = ch->wait_head; i < ch->nwaits; i++)
		persist_ticket_release(ch->waits[i].ticket);
	ch->wait_head = ch->nwaits = 0;
	if (!ch->defer_pending) {
		free(ch->nacks);
		free(ch->waits);
		free(ch);
	}
}

/* ---- the unacked ring ---- */

static struct unacked *slot(struct channel *ch, uint64_t tag)
{
	if (tag < ch->ring_base || tag >= ch->ring_base + ch->ring_len)
		return NULL;
	struct unacked *u = &ch->ring[tag & (ch->ring_cap - 1)];
	return u->e.m ? u : NULL;
}

/* Records u at delivery tag `tag` (the newest issued). Tags of no-ack
 * deliveries since the last record become holes, or, when nothing is
 * outstanding, the base simply moves up to tag. */
static void record(struct channel *ch, uint64_t tag, struct unacked u)
{
	if (ch->ring_len == 0)
		ch->ring_base = tag;
	size_t need = (size_t)(tag - ch->ring_base) + 1;
	if (need > ch->ring_cap) {
		size_t cap = ch->ring_cap ? ch->ring_cap * 2 : 16;
		while (cap < need)
			cap *= 2;
		struct unacked *r = xcalloc(cap, sizeof *r);
		for (size_t i = 0; i < ch->ring_len; i++)
			r[(ch->ring_base + i) & (cap - 1)] =
				ch->ring[(ch->ring_base + i) & (ch->ring_cap - 1)];
		free(ch->ring);
		ch->ring = r;
		ch->ring_cap = cap;
	}
	for (uint64_t t = ch->ring_base + ch->ring_len; t < tag; t++)
		ch->ring[t & (ch->ring_cap - 1)].e.m = NULL;
	ch->ring[tag & (ch->ring_cap - 1)] = u;
	ch->ring_len = need;
	ch->unacked_n++;
}

/* Clears one record: requeue it or drop the message, and return credit. */
/* How a delivery is settled. */
enum settle_how { SETTLE_ACK, SETTLE_REQUEUE, SETTLE_REJECT };

static void settle(struct channel *ch, struct unacked *u, enum settle_how how)
{
	struct queue *q = u->q;
	q->unacked--;
	q->unacked_bytes -= u->e.size;
	if (u->cons)
		u->cons->unacked--;
	if (how == SETTLE_ACK) {
		stat_add_all((struct stats *[]){&q->stats, &q->vh->stats, &ch->c->stats, &ch->stats,
						&stats_global, NULL},
			     ST_ACK, 1);
		queue_ack_entry(q, &u->e);
	} else if (how == SETTLE_REJECT) {
		queue_discard(q, u->e, "rejected");
	} else {
		queue_return_entry(q, u->e);
	}
	u->e.m = NULL;
	ch->unacked_n--;
	if (q->ncons)
		queue_kick(q); /* credit came back */
	queue_unref(q);
	/* Advance the base past settled slots. */
	while (ch->ring_len && !ch->ring[ch->ring_base & (ch->ring_cap - 1)].e.m) {
		ch->ring_base++;
		ch->ring_len--;
	}
	if (!ch->ring_len) { /* nothing outstanding: no timeout bound either */
		ch->ct_floor = 0;
		ch->ct_gen = queue_timeout_gen;
	}
}

/* True when tag was taken back from a timed-out consumer. */
static bool reclaimed_has(const struct channel *ch, uint64_t tag)
{
	for (size_t i = 0; i < ch->nreclaimed; i++)
		if (tag >= ch->reclaimed[i].from && tag <= ch->reclaimed[i].to)
			return true;
	return false;
}

static void remember_reclaimed(struct channel *ch, uint64_t tag)
{
	struct seqrange *last = ch->nreclaimed ? &ch->reclaimed[ch->nreclaimed - 1] : NULL;
	if (last && last->to + 1 == tag) {
		last->to = tag;
		return;
	}
	if (!ch->reclaimed)
		ch->reclaimed = xmalloc(CHANNEL_RECLAIMED_MAX * sizeof *ch->reclaimed);
	if (ch->nreclaimed == CHANNEL_RECLAIMED_MAX) { /* forget the oldest */
		memmove(ch->reclaimed, ch->reclaimed + 1,
			(CHANNEL_RECLAIMED_MAX - 1) * sizeof *ch->reclaimed);
		ch->nreclaimed--;
	}
	ch->reclaimed[ch->nreclaimed++] = (struct seqrange){tag, tag};
}

static int settle_tags(struct channel *ch, uint64_t tag, bool multiple, enum settle_how how)
{
	if (multiple) {
		if (tag != 0 && tag > ch->next_tag)
			return chan_fail(ch, AMQP_PRECONDITION_FAILED, "unknown delivery tag %llu",
					 (unsigned long long)tag);
		uint64_t last = tag ? tag : ch->next_tag;
		for (uint64_t t = ch->ring_base; t <= last && ch->ring_len; t++) {
			struct unacked *u = slot(ch, t);
			if (u)
				settle(ch, u, how);
		}
		return 0;
	}
	struct unacked *u = slot(ch, tag);
	if (!u && reclaimed_has(ch, tag))
		return 0; /* the consumer timed out and the message went back */
	if (!u)
		return chan_fail(ch, AMQP_PRECONDITION_FAILED, "unknown delivery tag %llu",
				 (unsigned long long)tag);
	settle(ch, u, how);
	return 0;
}

int channel_ack(struct channel *ch, uint64_t tag, bool multiple)
{
	return settle_tags(ch, tag, multiple, SETTLE_ACK);
}

int channel_nack(struct channel *ch, uint64_t tag, bool multiple, bool requeue)
{
	return settle_tags(ch, tag, multiple, requeue ? SETTLE_REQUEUE : SETTLE_REJECT);
}

void channel_requeue_all(struct channel *ch)
{
	while (ch->ring_len) {
		struct unacked *u = &ch->ring[ch->ring_base & (ch->ring_cap - 1)];
		if (u->e.m)
			settle(ch, u, SETTLE_REQUEUE);
		else {
			ch->ring_base++;
			ch->ring_len--;
		}
	}
}

uint32_t channel_reclaim(struct channel *ch, struct consumer *cons)
{
	/* settle() only moves the base past cleared slots, so walking the
	 * tags as they stood at the start sees every record once. */
	uint32_t n = 0;
	uint64_t end = ch->ring_base + ch->ring_len;
	for (uint64_t t = ch->ring_base; t < end; t++) {
		struct unacked *u = slot(ch, t);
		if (!u || u->cons != cons)
			continue;
		remember_reclaimed(ch, t);
		settle(ch, u, SETTLE_REQUEUE);
		n++;
	}
	return n;
}

bool channel_consumer_ready(const struct channel *ch, const struct consumer *cons)
{
	if (ch->state != CH_OPEN || !ch->flow_active || ch->c->out_choked)
		return false;
	if (cons->no_ack)
		return true;
	if (cons->prefetch && cons->unacked >= cons->prefetch)
		return false;
	return !ch->prefetch_global || ch->unacked_n < ch->prefetch_global;
}

/* One delivery in the counters of its queue, vhost, connection and the
 * broker. */
static void count_delivery(struct channel *ch, struct queue *q, bool consumer, bool no_ack,
			   bool redelivered)
{
	enum stat_kind k = consumer ? (no_ack ? ST_DELIVER_NOACK : ST_DELIVER)
			       : (no_ack ? ST_GET_NOACK : ST_GET);
	struct stats *all[] = {&q->stats, &q->vh->stats, &ch->c->stats, &ch->stats, &stats_global,
			       NULL};
	stat_add_all(all, k, 1);
	if (redelivered)
		stat_add_all(all, ST_REDELIVER, 1);
}

void channel_deliver(struct channel *ch, struct consumer *cons, struct queue *q, struct qentry e,
		     bool no_ack, uint32_t message_count)
{
	uint64_t tag = ++ch->next_tag;
	if (e.deliveries && q->delivery_limit >= 0) {
		/* As quorum queues: a redelivery says how often it came before. */
		struct message *c = message_with_header(e.m, "x-delivery-count", e.deliveries);
		if (c) {
			message_unref(e.m);
			e.m = c;
		}
	}
	struct message *m = e.m;
	struct amqp_method meth;
	if (cons) {
		meth.id = AMQP_BASIC_DELIVER;
		meth.a.basic_deliver = (struct amqp_basic_deliver){
			.consumer_tag = {(uint8_t *)cons->tag, cons->tag_len},
			.delivery_tag = tag,
			.redelivered = e.deliveries > 0,
			.exchange = message_exchange(m),
			.routing_key = message_rkey(m),
		};
	} else {
		meth.id = AMQP_BASIC_GET_OK;
		meth.a.basic_get_ok = (struct amqp_basic_get_ok){
			.delivery_tag = tag,
			.redelivered = e.deliveries > 0,
			.exchange = message_exchange(m),
			.routing_key = message_rkey(m),
			.message_count = message_count,
		};
	}
	conn_send_content(ch->c, ch->id, &meth, m);
	count_delivery(ch, q, cons != NULL, no_ack, e.deliveries > 0);
	if (e.flags & QE_STORED)
		persist_delivered(q, &e);
	if (no_ack) {
		if (e.flags & QE_STORED)
			persist_drop(q, &e);
		message_unref(m);
		return;
	}
	queue_ref(q);
	q->unacked++;
	q->unacked_bytes += e.size;
	if (cons)
		cons->unacked++;
	e.deliveries++;
	/* The loop's cached time: no clock call per delivery. */
	struct timeval tv;
	event_base_gettimeofday_cached(server_base, &tv);
	record(ch, tag,
	       (struct unacked){e, q, cons, (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000});
	/* The consumer timeout's bound: a compare per delivery, the check
	 * itself runs once a second (consumer_timeout.c). */
	uint64_t t = queue_consumer_timeout(q);
	if (t && (!ch->ct_floor || t < ch->ct_floor))
		ch->ct_floor = t;
}

/* ---- confirms ---- */

void channel_confirm(struct channel *ch, uint64_t seq)
{
	if (seq > ch->confirm_due)
		ch->confirm_due = seq;
	if (!ch->defer_pending) {
		ch->defer_pending = true;
		server_defer_channel(ch);
	}
}

void channel_confirm_after_commit(struct channel *ch, uint64_t seq, uint64_t ticket)
{
	if (ch->nwaits == ch->waits_cap) {
		if (ch->wait_head) { /* the settled ones before the head go */
			ch->nwaits -= ch->wait_head;
			memmove(ch->waits, ch->waits + ch->wait_head, ch->nwaits * sizeof *ch->waits);
			ch->wait_head = 0;
		}
		if (ch->nwaits == ch->waits_cap) {
			ch->waits_cap = ch->waits_cap ? ch->waits_cap * 2 : 16;
			ch->waits = xrealloc(ch->waits, ch->waits_cap * sizeof *ch->waits);
		}
	}
	ch->waits[ch->nwaits++] = (struct confirm_wait){persist_batch(), seq, ticket};
	channel_confirm(ch, seq);
}

/* Sends basic.ack or basic.nack for every publish up to `upto`. */
static void send_confirm(struct channel *ch, uint32_t id, uint64_t upto)
{
	if (upto <= ch->confirm_sent)
		return;
	if (id == AMQP_BASIC_ACK) {
		stat_add_all((struct stats *[]){&ch->c->stats, &ch->stats, &ch->c->vh->stats,
						&stats_global, NULL},
			     ST_CONFIRM, upto - ch->confirm_sent);
	}
	struct amqp_method m = {.id = id};
	/* ack and nack share delivery_tag and multiple at the same place. */
	m.a.basic_ack.delivery_tag = upto;
	m.a.basic_ack.multiple = upto > ch->confirm_sent + 1;
	if (id == AMQP_BASIC_NACK)
		m.a.basic_nack = (struct amqp_basic_nack){upto, upto > ch->confirm_sent + 1, false};
	conn_send_method(ch->c, ch->id, &m);
	ch->confirm_sent = upto;
}

static void add_nack(struct channel *ch, uint64_t from, uint64_t to)
{
	if (ch->nnacks && ch->nacks[ch->nnacks - 1].to + 1 == from) {
		ch->nacks[ch->nnacks - 1].to = to; /* a failed batch's run */
		return;
	}
	if (ch->nnacks == ch->nnacks_cap) {
		ch->nnacks_cap = ch->nnacks_cap ? ch->nnacks_cap * 2 : 4;
		ch->nacks = xrealloc(ch->nacks, ch->nnacks_cap * sizeof *ch->nacks);
	}
	ch->nacks[ch->nnacks++] = (struct seqrange){from, to};
}

void channel_nack_publish(struct channel *ch, uint64_t seq)
{
	add_nack(ch, seq, seq);
	channel_confirm(ch, seq);
}

static int by_from(const void *a, const void *b)
{
	const struct seqrange *x = a, *y = b;
	return x->from < y->from ? -1 : x->from > y->from;
}

/* Settles waiting publishes from the oldest: acked when their ticket is
 * settled (consumed and acked by every queue, never written) or their
 * batch committed, nacked when the batch failed. Returns the highest seq
 * that may be confirmed now: below the oldest publish still waiting. */
static uint64_t settle_waits(struct channel *ch)
{
	for (; ch->wait_head < ch->nwaits; ch->wait_head++) {
		const struct confirm_wait *w = &ch->waits[ch->wait_head];
		bool acked = persist_ticket_settled(w->ticket);
		if (!acked && !persist_batch_done(w->batch))
			break;
		if (!acked && persist_batch_failed(w->batch))
			add_nack(ch, w->seq, w->seq);
		persist_ticket_release(w->ticket);
	}
	if (ch->wait_head == ch->nwaits)
		ch->wait_head = ch->nwaits = 0;
	if (ch->nwaits && ch->waits[ch->wait_head].seq - 1 < ch->confirm_due)
		return ch->waits[ch->wait_head].seq - 1;
	return ch->confirm_due;
}

/* Everything up to confirm_due that no store batch holds back is settled:
 * the nack ranges with basic.nack, the rest with basic.ack, in order, as
 * few frames as multiple=true allows. A channel still waiting on a batch
 * is parked until the store reports one finished. */
void channel_flush_confirms(struct channel *ch)
{
	if (!ch->c) { /* freed while the flush was pending */
		free(ch->nacks);
		free(ch->waits);
		free(ch);
		return;
	}
	uint64_t upto = settle_waits(ch);
	if (ch->state != CH_OPEN) {
		for (size_t i = ch->wait_head; i < ch->nwaits; i++)
			persist_ticket_release(ch->waits[i].ticket);
		ch->nnacks = ch->wait_head = ch->nwaits = 0;
		return;
	}
	if (ch->nnacks > 1) /* nacks is NULL while none was ever added */
		qsort(ch->nacks, ch->nnacks, sizeof *ch->nacks, by_from);
	size_t i = 0;
	for (; i < ch->nnacks && ch->nacks[i].to <= upto; i++) {
		send_confirm(ch, AMQP_BASIC_ACK, ch->nacks[i].from - 1);
		send_confirm(ch, AMQP_BASIC_NACK, ch->nacks[i].to);
	}
	send_confirm(ch, AMQP_BASIC_ACK, i < ch->nnacks && ch->nacks[i].from - 1 < upto
						 ? ch->nacks[i].from - 1
						 : upto);
	/* Nacks behind a waiting publish wait with it. */
	ch->nnacks -= i;
	if (ch->nnacks) /* nacks may be NULL */
		memmove(ch->nacks, ch->nacks + i, ch->nnacks * sizeof *ch->nacks);
	if (ch->nwaits)
		server_park_channel(ch);
}

void channel_close(struct channel *ch, int code, uint32_t method_id)
{
	struct conn *c = ch->c;
	struct amqp_method m = {.id = AMQP_CHANNEL_CLOSE};
	m.a.channel_close.reply_code = (uint16_t)code;
	m.a.channel_close.reply_text = bytes_of(c->err);
	m.a.channel_close.class_id = METHOD_CLASS(method_id);
	m.a.channel_close.method_id = METHOD_INDEX(method_id);
	conn_send_method(c, ch->id, &m);
	log_debug("%s: closing channel %u: %s", c->peer, ch->id, c->err);
	ch->state = CH_CLOSING;
	channel_requeue_all(ch);
}

/* ---- frames ---- */

static int on_header(struct channel *ch, const struct frame *f)
{
	struct content_header h;
	int rc = content_header_decode(f->payload, f->size, &h);
	if (rc)
		return conn_fail(ch->c, rc, "malformed content header on channel %u", ch->id);
	if (h.class_id != AMQP_CLASS_BASIC)
		return conn_fail(ch->c, AMQP_UNEXPECTED_FRAME,
				 "expected content header for class %u, got one for class %u instead",
				 AMQP_CLASS_BASIC, h.class_id);
	/* Refuse an oversized message before anything is allocated for it. */
	if (h.body_size > (uint64_t)cfg.max_message_size)
		return chan_fail(ch, AMQP_PRECONDITION_FAILED,
				 "message size %llu is larger than configured max size %lld",
				 (unsigned long long)h.body_size, (long long)cfg.max_message_size);
	/* Direct reply-to: the request carries the channel's reply name
	 * (checked here, in RabbitMQ's order; rewritten owns the new props). */
	struct wbuf rewritten = {0};
	if ((rc = direct_reply_rewrite(ch, &h.props, &rewritten)))
		goto fail;
	if (rewritten.len)
		h.raw_props = (struct bytes){rewritten.p, (uint32_t)rewritten.len};
	/* As RabbitMQ: a user_id property must name the authenticated user. */
	if ((h.props.flags & PROP_USER_ID) && !bytes_eq(h.props.user_id, ch->c->user)) {
		rc = chan_fail(ch, AMQP_PRECONDITION_FAILED,
			       "user_id property set to '%.*s' but authenticated user was '%s'",
			       (int)h.props.user_id.len, (const char *)h.props.user_id.p, ch->c->user);
		goto fail;
	}
	/* expiration: milliseconds as a decimal string (RabbitMQ's ttl page). */
	uint32_t ttl = 0;
	if ((h.props.flags & PROP_EXPIRATION) &&
	    message_parse_expiration(h.props.expiration, &ttl) < 0) {
		rc = chan_fail(ch, AMQP_PRECONDITION_FAILED, "invalid expiration '%.*s'",
			       (int)h.props.expiration.len, (const char *)h.props.expiration.p);
		goto fail;
	}
	unsigned flags = (h.props.flags & PROP_DELIVERY_MODE && h.props.delivery_mode == 2
				  ? MSG_PERSISTENT
				  : 0) |
			 (h.props.flags & PROP_EXPIRATION ? MSG_EXPIRATION : 0);
	struct message *m = message_receiving((struct bytes){ch->pub_exchange, ch->pub_exchange_len},
					      (struct bytes){ch->pub_rkey, ch->pub_rkey_len},
					      h.raw_props, h.body_size, flags);
	ch->pub = m;
	ch->pub_have = 0;
	if (h.props.flags & PROP_PRIORITY)
		m->priority = h.props.priority;
	ch->content = CONTENT_BODY;
fail:
	wb_free(&rewritten); /* message_new copied the properties */
	return rc;
}

static int publish_assembled(struct channel *ch)
{
	struct message *m = ch->pub;
	ch->pub = NULL;
	ch->content = CONTENT_NONE;
	uint64_t seq = ch->confirm ? ++ch->pub_seq : 0;
	if (ch->tx) {
		if (ch->ntx == ch->ntx_cap) {
			ch->ntx_cap = ch->ntx_cap ? ch->ntx_cap * 2 : 8;
			ch->txops = xrealloc(ch->txops, ch->ntx_cap * sizeof *ch->txops);
		}
		ch->txops[ch->ntx++] = (struct txop){.kind = TX_PUBLISH, .m = m,
						     .mandatory = ch->pub_mandatory};
		return 0;
	}
	return basic_route_publish(ch, m, ch->pub_mandatory, seq);
}

static int on_body(struct channel *ch, const struct frame *f)
{
	struct message *m = ch->pub;
	if (f->size > m->body_size - ch->pub_have)
		return conn_fail(ch->c, AMQP_FRAME_ERROR,
				 "body frames on channel %u exceed the declared body size %llu",
				 ch->id, (unsigned long long)m->body_size);
	ch->pub = m = message_fill(m, ch->pub_have, f->payload, f->size);
	ch->pub_have += f->size;
	return ch->pub_have == m->body_size ? publish_assembled(ch) : 0;
}

static int dispatch(struct channel *ch, struct amqp_method *m)
{
	switch (METHOD_CLASS(m->id)) {
	case AMQP_CLASS_CHANNEL: return handle_channel(ch, m);
	case AMQP_CLASS_EXCHANGE: return handle_exchange(ch, m);
	case AMQP_CLASS_QUEUE: return handle_queue(ch, m);
	case AMQP_CLASS_BASIC: return handle_basic(ch, m);
	case AMQP_CLASS_CONFIRM:
	case AMQP_CLASS_TX: return handle_confirm_tx(ch, m);
	default:
		return conn_fail(ch->c, AMQP_COMMAND_INVALID, "%s is not allowed on channel %u",
				 method_name(m->id), ch->id);
	}
}

int channel_frame(struct channel *ch, const struct frame *f)
{
	switch (ch->content) {
	case CONTENT_HEADER:
		if (f->type != FRAME_HEADER)
			return conn_fail(ch->c, AMQP_UNEXPECTED_FRAME,
					 "expected content header for class 60, got frame type %u",
					 f->type);
		{
			int rc = on_header(ch, f);
			if (rc)
				return rc;
		}
		return ch->pub->body_size == 0 ? publish_assembled(ch) : 0;
	case CONTENT_BODY:
		if (f->type != FRAME_BODY)
			return conn_fail(ch->c, AMQP_UNEXPECTED_FRAME,
					 "expected content body, got frame type %u", f->type);
		return on_body(ch, f);
	case CONTENT_NONE:
		break;
	}
	if (f->type != FRAME_METHOD)
		return conn_fail(ch->c, AMQP_UNEXPECTED_FRAME,
				 "unexpected content %s frame on channel %u",
				 f->type == FRAME_HEADER ? "header" : "body", ch->id);
	struct amqp_method m;
	int rc = method_decode(f->payload, f->size, &m);
	if (rc)
		return conn_fail(ch->c, rc, "cannot decode arguments of %s",
				 f->size >= 4 ? method_name(get32(f->payload)) : "a method");
	return dispatch(ch, &m);
}
