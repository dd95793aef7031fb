/* consumer_timeout.c — the delivery acknowledgement timeout; see
 * consumer_timeout.h.
 *
 * Design notes. Deliveries sit in each channel's unacked ring in delivery
 * order, so their delivery times (since_ms, the loop's cached wall clock,
 * as RabbitMQ uses os:system_time) only grow from the base. The channel
 * keeps ct_floor, the smallest timeout among its outstanding deliveries
 * (set as they are delivered, recomputed when a queue's timeout or the
 * broker's changes: queue_timeout_gen). The tick walks a ring from its
 * base only while deliveries are older than that floor: none younger can
 * be due, so a channel with nothing due costs one comparison, and a
 * walk visits only deliveries past the smallest timeout. Each delivery
 * is judged by its queue's current timeout. */
#include "broker/amqp/consumer_timeout.h"

#include <stdbool.h>

#include "broker/amqp/channel.h"
#include "broker/amqp/handlers.h"
#include "broker/core/config.h"
#include "broker/core/log.h"
#include "broker/model/vhost.h"
#include "broker/net/conn.h"
#include "broker/net/server.h"

static struct unacked *at(struct channel *ch, size_t k)
{
	return &ch->ring[(ch->ring_base + k) & (ch->ring_cap - 1)];
}

static void recompute_floor(struct channel *ch)
{
	ch->ct_floor = 0;
	for (size_t k = 0; k < ch->ring_len; k++) {
		struct unacked *u = at(ch, k);
		uint64_t t = u->e.m ? queue_consumer_timeout(u->q) : 0;
		if (t && (!ch->ct_floor || t < ch->ct_floor))
			ch->ct_floor = t;
	}
	ch->ct_gen = queue_timeout_gen;
}

/* Delivery u on ch has been unacked longer than t ms. Returns false when
 * the channel was closed (nothing more to check on it). */
static bool expire(struct channel *ch, struct unacked *u, uint64_t t)
{
	struct conn *c = ch->c;
	struct consumer *cons = u->cons;
	if (cons && c->cap_cancel_notify) {
		log_warn("consumer '%.*s' on channel %u of %s (vhost '%s', user '%s') has timed out "
			 "waiting for a delivery acknowledgement; timeout used: %llu ms; cancelling it",
			 (int)cons->tag_len, cons->tag, ch->id, c->name, c->vh->name, c->user,
			 (unsigned long long)t);
		uint32_t n = channel_reclaim(ch, cons);
		channel_cancel_consumer(ch, cons, true);
		log_info("%u unacked message%s of the timed-out consumer requeued", n,
			 n == 1 ? "" : "s");
		return true;
	}
	if (cons)
		log_warn("consumer '%.*s' on channel %u of %s (vhost '%s', user '%s') has timed out "
			 "waiting for a delivery acknowledgement; timeout used: %llu ms; closing "
			 "the channel (the client has no consumer_cancel_notify)",
			 (int)cons->tag_len, cons->tag, ch->id, c->name, c->vh->name, c->user,
			 (unsigned long long)t);
	else
		log_warn("a delivery on channel %u of %s (vhost '%s', user '%s') has not been "
			 "acknowledged within %llu ms; closing the channel",
			 ch->id, c->name, c->vh->name, c->user, (unsigned long long)t);
	chan_fail(ch, AMQP_PRECONDITION_FAILED,
		  "delivery acknowledgement on channel %u timed out. Timeout value used: %llu ms. "
		  "This timeout value can be configured, see consumers doc guide to learn more",
		  ch->id, (unsigned long long)t);
	channel_close(ch, AMQP_PRECONDITION_FAILED, 0);
	return false;
}

static void check_channel(struct channel *ch, uint64_t now)
{
	if (ch->ct_gen != queue_timeout_gen)
		recompute_floor(ch);
	if (!ch->ct_floor)
		return;
again:
	for (size_t k = 0; k < ch->ring_len; k++) {
		struct unacked *u = at(ch, k);
		if (!u->e.m)
			continue;
		uint64_t age = now > u->since_ms ? now - u->since_ms : 0;
		if (age <= ch->ct_floor)
			return; /* this one and every later one are within every timeout */
		uint64_t t = queue_consumer_timeout(u->q);
		if (!t || age <= t)
			continue;
		if (!expire(ch, u, t))
			return;
		goto again; /* the ring changed; each pass removes at least u */
	}
}

/* A changed consumer_timeout (set at start-up, or by SIGHUP) makes every
 * channel recompute its floor. */
static void note_config(void)
{
	static int64_t seen = -1;
	if (cfg.consumer_timeout != seen) {
		if (seen >= 0)
			queue_timeout_gen++;
		seen = cfg.consumer_timeout;
	}
}

void consumer_timeout_conn(struct conn *c, uint64_t wall)
{
	note_config();
	if (c->state != CONN_OPEN)
		return;
	for (uint32_t i = 0; i < c->nchans; i++) {
		struct channel *ch = c->chans[i];
		if (ch && ch->state == CH_OPEN && ch->unacked_n)
			check_channel(ch, wall);
	}
}
