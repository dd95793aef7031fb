/* handle_queue.c — the queue class (spec §1.7.2): the wire side of
 * declare, bind, unbind, purge and delete, with the spec's '' shortcut
 * for the channel's last declared queue; the operations are ops.c's. */
#include <stdlib.h>

#include "broker/net/conn.h"
#include "broker/amqp/direct_reply.h"
#include "broker/amqp/handlers.h"
#include "broker/model/ops.h"
#include "util/xalloc.h"

/* The queue's name, with the spec's shortcut: '' means the last queue
 * declared on this channel. */
static struct bytes queue_name(struct channel *ch, struct bytes name)
{
	if (name.len == 0 && ch->last_queue)
		return bytes_of(ch->last_queue);
	return name;
}

int queue_lookup(struct channel *ch, struct bytes name, struct queue **out)
{
	struct op_err e;
	if (op_queue_for_read(ch->c->vh, &CHAN_ACTOR(ch), queue_name(ch, name), out, &e))
		return chan_fail(ch, e.code, "%s", e.text);
	return 0;
}

static int declare(struct channel *ch, const struct amqp_queue_declare *a)
{
	/* RabbitMQ answers these before any other check, passive or not. */
	if (direct_reply_named(a->queue))
		return direct_reply_declare(ch, a->queue, a->no_wait);
	struct queue_decl d = {.name = a->queue, .args = a->arguments, .passive = a->passive,
			       .durable = a->durable, .exclusive = a->exclusive,
			       .auto_delete = a->auto_delete};
	/* '' is a server-named queue, except when passive: the last one. */
	if (a->passive)
		d.name = queue_name(ch, d.name);
	struct queue *q;
	struct op_err e;
	if (op_queue_declare(ch->c->vh, &CHAN_ACTOR(ch), &d, &q, &e))
		return chan_fail(ch, e.code, "%s", e.text);
	free(ch->last_queue);
	ch->last_queue = xstrndup(q->name, q->name_len);
	queue_touch(q);
	if (!a->no_wait) {
		struct amqp_method ok = {.id = AMQP_QUEUE_DECLARE_OK};
		ok.a.queue_declare_ok.queue = (struct bytes){(uint8_t *)q->name, q->name_len};
		ok.a.queue_declare_ok.message_count = (uint32_t)q->len;
		ok.a.queue_declare_ok.consumer_count = (uint32_t)q->ncons;
		conn_send_method(ch->c, ch->id, &ok);
	}
	return 0;
}

/* queue.bind and queue.unbind: the same checks, then bind or unbind. */
static int bind_queue(struct channel *ch, struct bytes qname, struct bytes xname, struct bytes key,
		      struct bytes args, bool unbind, bool no_wait)
{
	struct op_err e;
	if (op_bind(ch->c->vh, &CHAN_ACTOR(ch), DEST_QUEUE, xname, queue_name(ch, qname), key, args,
		    unbind, &e))
		return chan_fail(ch, e.code, "%s", e.text);
	if (!no_wait)
		send_simple(ch, unbind ? AMQP_QUEUE_UNBIND_OK : AMQP_QUEUE_BIND_OK);
	return 0;
}

static int purge(struct channel *ch, const struct amqp_queue_purge *a)
{
	uint32_t n;
	struct op_err e;
	if (op_queue_purge(ch->c->vh, &CHAN_ACTOR(ch), queue_name(ch, a->queue), &n, &e))
		return chan_fail(ch, e.code, "%s", e.text);
	if (!a->no_wait) {
		struct amqp_method ok = {.id = AMQP_QUEUE_PURGE_OK};
		ok.a.queue_purge_ok.message_count = n;
		conn_send_method(ch->c, ch->id, &ok);
	}
	return 0;
}

static int delete_queue(struct channel *ch, const struct amqp_queue_delete *a)
{
	uint32_t n;
	struct op_err e;
	if (op_queue_delete(ch->c->vh, &CHAN_ACTOR(ch), queue_name(ch, a->queue), a->if_unused,
			    a->if_empty, &n, &e))
		return chan_fail(ch, e.code, "%s", e.text);
	if (!a->no_wait) {
		struct amqp_method ok = {.id = AMQP_QUEUE_DELETE_OK};
		ok.a.queue_delete_ok.message_count = n;
		conn_send_method(ch->c, ch->id, &ok);
	}
	return 0;
}

int handle_queue(struct channel *ch, struct amqp_method *m)
{
	switch (m->id) {
	case AMQP_QUEUE_DECLARE: return declare(ch, &m->a.queue_declare);
	case AMQP_QUEUE_BIND: {
		const struct amqp_queue_bind *a = &m->a.queue_bind;
		return bind_queue(ch, a->queue, a->exchange, a->routing_key, a->arguments, false,
				  a->no_wait);
	}
	case AMQP_QUEUE_UNBIND: {
		const struct amqp_queue_unbind *a = &m->a.queue_unbind;
		return bind_queue(ch, a->queue, a->exchange, a->routing_key, a->arguments, true,
				  false);
	}
	case AMQP_QUEUE_PURGE: return purge(ch, &m->a.queue_purge);
	case AMQP_QUEUE_DELETE: return delete_queue(ch, &m->a.queue_delete);
	default:
		return conn_fail(ch->c, AMQP_COMMAND_INVALID, "unexpected %s", method_name(m->id));
	}
}
