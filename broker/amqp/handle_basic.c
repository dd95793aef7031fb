/* handle_basic.c — the basic class (spec §1.8.2 plus RabbitMQ's
 * basic.nack): qos, consume, cancel, publish, get, ack, reject, nack,
 * recover. Publishing ends in basic_route_publish once the content is
 * assembled (channel.c). */
#include <stdio.h>
#include <stdlib.h>

#include "broker/net/conn.h"
#include "broker/queue/flow.h"
#include "broker/amqp/direct_reply.h"
#include "broker/amqp/handlers.h"
#include "broker/core/hooks.h"
#include "broker/model/ops.h"
#include "broker/queue/persist.h"
#include "broker/model/vhost.h"
#include "protocol/props.h"
#include "protocol/table.h"
#include "util/xalloc.h"

#define NAME(b) (int)(b).len, (const char *)(b).p

static void kick_consumers(struct channel *ch)
{
	void *v;
	for (size_t i = 0; strmap_next(&ch->consumers, &i, &v);)
		queue_kick(((struct consumer *)v)->q);
}

static int qos(struct channel *ch, const struct amqp_basic_qos *a)
{
	if (a->prefetch_size)
		return conn_fail(ch->c, AMQP_NOT_IMPLEMENTED, "prefetch_size!=0 (%u)",
				 a->prefetch_size);
	/* RabbitMQ's meaning: global=false limits each consumer created
	 * after this on the channel; global=true limits the channel. */
	if (a->global)
		ch->prefetch_global = a->prefetch_count;
	else
		ch->prefetch_consumer = a->prefetch_count;
	send_simple(ch, AMQP_BASIC_QOS_OK);
	kick_consumers(ch);
	return 0;
}

static int consume(struct channel *ch, const struct amqp_basic_consume *a)
{
	if (bytes_eq(a->queue, DIRECT_REPLY_QUEUE))
		return direct_reply_consume(ch, a);
	struct queue *q;
	int rc = queue_lookup(ch, a->queue, &q);
	if (rc)
		return rc;
	char gen[48];
	struct bytes tag = a->consumer_tag;
	if (tag.len == 0) {
		static uint64_t counter;
		snprintf(gen, sizeof gen, "amq.ctag-tern-%llu", (unsigned long long)++counter);
		tag = bytes_of(gen);
	}
	if (strmap_get(&ch->consumers, tag.p, tag.len))
		return conn_fail(ch->c, AMQP_NOT_ALLOWED, "attempt to reuse consumer tag '%.*s'",
				 NAME(tag));
	if (q->has_exclusive_consumer || (a->exclusive && q->ncons))
		return chan_fail(ch, AMQP_ACCESS_REFUSED, "queue '%s' in vhost '%s' in exclusive use",
				 q->name, ch->c->vh->name);
	struct consumer *cons = xcalloc(1, sizeof *cons);
	cons->tag = xstrndup(tag.p, tag.len);
	cons->tag_len = tag.len;
	cons->ch = ch;
	cons->q = q;
	cons->no_ack = a->no_ack;
	cons->exclusive = a->exclusive;
	cons->prefetch = ch->prefetch_consumer;
	struct fvalue prio;
	if (table_get(a->arguments, "x-priority", &prio) && !fvalue_int(&prio, &cons->priority)) {
		free(cons->tag);
		free(cons);
		return chan_fail(ch, AMQP_PRECONDITION_FAILED, "invalid arg 'x-priority' for consumer");
	}
	cons->args = (struct bytes){xmemdup(a->arguments.p, a->arguments.len), a->arguments.len};
	strmap_put(&ch->consumers, cons->tag, cons->tag_len, cons);
	if (!a->no_wait) {
		struct amqp_method ok = {.id = AMQP_BASIC_CONSUME_OK};
		ok.a.basic_consume_ok.consumer_tag = (struct bytes){(uint8_t *)cons->tag, cons->tag_len};
		conn_send_method(ch->c, ch->id, &ok);
	}
	/* Deliveries start at the end of the turn, after consume-ok. */
	queue_add_consumer(q, cons);
	queue_touch(q);
	return 0;
}

static int cancel(struct channel *ch, const struct amqp_basic_cancel *a)
{
	if (direct_reply_cancel(ch, a))
		return 0;
	struct consumer *cons = strmap_get(&ch->consumers, a->consumer_tag.p, a->consumer_tag.len);
	if (!a->no_wait) {
		struct amqp_method ok = {.id = AMQP_BASIC_CANCEL_OK};
		ok.a.basic_cancel_ok.consumer_tag = a->consumer_tag;
		conn_send_method(ch->c, ch->id, &ok);
	}
	if (cons)
		channel_cancel_consumer(ch, cons, false);
	return 0;
}

/* RabbitMQ's checks of basic.publish: write permission on the exchange
 * (remembered per channel), existence, internal, then the topic
 * permission on the routing key. */
static int may_publish(struct channel *ch, const struct amqp_basic_publish *a)
{
	struct vhost *vh = ch->c->vh;
	struct op_err e;
	struct bytes xn = a->exchange;
	if (!(ch->wperm_ok && ch->wperm_gen == access_gen && ch->wperm_len == xn.len &&
	      memcmp(ch->wperm_x, xn.p, xn.len) == 0)) {
		if (op_check(&CHAN_ACTOR(ch), vh, PERM_WRITE, "exchange", xn, &e))
			return chan_fail(ch, e.code, "%s", e.text);
		ch->wperm_ok = true;
		ch->wperm_gen = access_gen;
		ch->wperm_len = (uint8_t)xn.len;
		memcpy(ch->wperm_x, xn.p, xn.len);
	}
	struct bexchange *x;
	if (op_publish_target(vh, &CHAN_ACTOR(ch), xn, a->routing_key, &x, &e))
		return chan_fail(ch, e.code, "%s", e.text);
	return 0;
}

static int publish(struct channel *ch, const struct amqp_basic_publish *a)
{
	if (a->immediate)
		return conn_fail(ch->c, AMQP_NOT_IMPLEMENTED, "immediate=true");
	int rc = may_publish(ch, a);
	if (rc)
		return rc;
	/* Names are shortstrs: at most 255 octets, which the buffers hold. */
	ch->pub_exchange_len = (uint8_t)a->exchange.len;
	memcpy(ch->pub_exchange, a->exchange.p, a->exchange.len);
	ch->pub_rkey_len = (uint8_t)a->routing_key.len;
	memcpy(ch->pub_rkey, a->routing_key.p, a->routing_key.len);
	ch->pub_mandatory = a->mandatory;
	ch->content = CONTENT_HEADER;
	return 0;
}

void basic_send_return(struct channel *ch, struct message *m)
{
	struct amqp_method r = {.id = AMQP_BASIC_RETURN};
	r.a.basic_return.reply_code = AMQP_NO_ROUTE;
	r.a.basic_return.reply_text = bytes_of("NO_ROUTE");
	r.a.basic_return.exchange = message_exchange(m);
	r.a.basic_return.routing_key = message_rkey(m);
	conn_send_content(ch->c, ch->id, &r, m);
}

size_t basic_route(struct vhost *vh, struct bexchange *x, struct message *m, struct conn *from,
		   bool *refused)
{
	struct queue **qs = NULL;
	struct bytes headers;
	/* A reply to a direct reply-to request (no queue has such a name). */
	if (x->name_len == 0 && direct_reply_named(message_rkey(m)))
		direct_reply_deliver(vh, message_rkey(m), m);
	size_t n = vhost_route_message(vh, x, m, &qs, &headers);
	/* A persistent message for two or more durable queues is stored once
	 * and shared; for one, it is stored inline with its entry. */
	size_t durable = 0;
	for (size_t i = 0; i < n && durable < 2; i++)
		durable += qs[i]->store_id > 0;
	if (durable >= 2)
		m->flags |= MSG_STORE_SHARED;
	/* BCC keys route but are never seen by consumers (RabbitMQ strips
	 * the header); the copy is made only when the header is there. */
	struct fvalue bcc;
	struct message *bcc_free = n && table_get(headers, "BCC", &bcc)
					   ? message_without_header(m, "BCC")
					   : NULL;
	if (bcc_free)
		m = bcc_free;
	for (size_t i = 0; i < n; i++) {
		if (!queue_push(qs[i], m))
			*refused = true; /* x-overflow reject-publish */
		if (from)
			flow_note_publish(from, qs[i]);
	}
	if (bcc_free)
		message_unref(bcc_free);
	return n;
}

/* A publish in the counters: the exchange's in and out, the vhost's, the
 * connection's, the channel's and the broker's; unroutable ones returned or dropped. */
static void count_publish(struct vhost *vh, struct channel *ch, struct bexchange *x,
			  size_t routed, bool mandatory)
{
	/* Without a channel (the HTTP API) the list ends after the broker. */
	struct stats *all[] = {&vh->stats, &stats_global, ch ? &ch->c->stats : NULL,
			       ch ? &ch->stats : NULL, NULL};
	stat_add_all(all, ST_PUBLISH, 1);
	if (!routed)
		stat_add_all(all, mandatory ? ST_RETURN : ST_DROP_UNROUTABLE, 1);
	if (x) {
		stat_add(&x->stats, ST_PUBLISH, 1);
		stat_add(&x->stats, ST_PUBLISH_OUT, routed);
	}
}

int basic_route_publish(struct channel *ch, struct message *m, bool mandatory, uint64_t seq)
{
	struct vhost *vh = ch->c->vh;
	struct bexchange *x = vhost_exchange(vh, message_exchange(m));
	if (x && hook_publish_run(ch, x, m, mandatory, seq)) {
		message_unref(m); /* the hook took its own reference */
		return 0;
	}
	size_t n = 0;
	uint64_t writes = persist_writes;
	bool refused = false;
	if (seq)
		persist_publish_begin();
	if (x)
		n = basic_route(vh, x, m, ch->c, &refused);
	uint64_t ticket = seq ? persist_publish_end() : 0;
	count_publish(vh, ch, x, n, mandatory);
	if (n == 0 && mandatory)
		basic_send_return(ch, m);
	if (seq && persist_writes != writes && !refused) {
		channel_confirm_after_commit(ch, seq, ticket);
	} else {
		persist_ticket_release(ticket);
		if (seq && refused)
			channel_nack_publish(ch, seq);
		else if (seq)
			channel_confirm(ch, seq);
	}
	message_unref(m);
	return 0;
}

size_t basic_publish_api(struct vhost *vh, struct bexchange *x, struct message *m)
{
	if (hook_publish_run(NULL, x, m, false, 0))
		return 0;
	bool refused = false;
	size_t n = basic_route(vh, x, m, NULL, &refused);
	count_publish(vh, NULL, x, n, false);
	return refused ? 0 : n;
}

static int get(struct channel *ch, const struct amqp_basic_get *a)
{
	struct queue *q;
	int rc = queue_lookup(ch, a->queue, &q);
	if (rc)
		return rc;
	queue_touch(q);
	struct qentry e;
	if (!queue_pop(q, &e)) {
		struct amqp_method empty = {.id = AMQP_BASIC_GET_EMPTY};
		conn_send_method(ch->c, ch->id, &empty);
		stat_add_all((struct stats *[]){&q->stats, &q->vh->stats, &ch->c->stats, &stats_global,
						NULL},
			     ST_GET_EMPTY, 1);
		return 0;
	}
	channel_deliver(ch, NULL, q, e, a->no_ack, (uint32_t)q->len);
	return 0;
}

/* In a transaction, acks and rejects wait for tx.commit. */
static bool tx_buffer(struct channel *ch, int kind, uint64_t tag, bool multiple, bool requeue)
{
	if (!ch->tx)
		return false;
	if (ch->ntx == ch->ntx_cap) {
		ch->ntx_cap = ch->ntx_cap ? ch->ntx_cap * 2 : 8;
		ch->txops = xrealloc(ch->txops, ch->ntx_cap * sizeof *ch->txops);
	}
	ch->txops[ch->ntx++] = (struct txop){.kind = kind, .tag = tag, .multiple = multiple,
					     .requeue = requeue};
	return true;
}

static int recover(struct channel *ch)
{
	/* RabbitMQ requeues whatever requeue says; redelivery to the same
	 * consumer (requeue=false) is not offered, as in RabbitMQ 3.x. */
	channel_requeue_all(ch);
	return 0;
}

int handle_basic(struct channel *ch, struct amqp_method *m)
{
	switch (m->id) {
	case AMQP_BASIC_QOS: return qos(ch, &m->a.basic_qos);
	case AMQP_BASIC_CONSUME: return consume(ch, &m->a.basic_consume);
	case AMQP_BASIC_CANCEL: return cancel(ch, &m->a.basic_cancel);
	case AMQP_BASIC_PUBLISH: return publish(ch, &m->a.basic_publish);
	case AMQP_BASIC_GET: return get(ch, &m->a.basic_get);
	case AMQP_BASIC_ACK: {
		const struct amqp_basic_ack *a = &m->a.basic_ack;
		if (tx_buffer(ch, TX_ACK, a->delivery_tag, a->multiple, false))
			return 0;
		return channel_ack(ch, a->delivery_tag, a->multiple);
	}
	case AMQP_BASIC_REJECT: {
		const struct amqp_basic_reject *a = &m->a.basic_reject;
		if (tx_buffer(ch, TX_NACK, a->delivery_tag, false, a->requeue))
			return 0;
		return channel_nack(ch, a->delivery_tag, false, a->requeue);
	}
	case AMQP_BASIC_NACK: {
		const struct amqp_basic_nack *a = &m->a.basic_nack;
		if (tx_buffer(ch, TX_NACK, a->delivery_tag, a->multiple, a->requeue))
			return 0;
		return channel_nack(ch, a->delivery_tag, a->multiple, a->requeue);
	}
	case AMQP_BASIC_RECOVER_ASYNC:
		return recover(ch);
	case AMQP_BASIC_RECOVER:
		recover(ch);
		send_simple(ch, AMQP_BASIC_RECOVER_OK);
		return 0;
	default:
		return conn_fail(ch->c, AMQP_COMMAND_INVALID, "unexpected %s", method_name(m->id));
	}
}
