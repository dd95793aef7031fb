/* handle_queue.c — the queue class (spec §1.7.2): declare, bind, unbind,
 * purge, delete, with RabbitMQ's reply codes and texts, its server-named
 * queues (amq.gen-…), exclusivity (405) and argument equivalence (406). */
#include <stdio.h>
#include <stdlib.h>

#include "broker/conn.h"
#include "broker/handlers.h"
#include "broker/persist.h"
#include "broker/queue_args.h"
#include "broker/vhost.h"
#include "protocol/table.h"
#include "util/xalloc.h"

#define NAME(b) (int)(b).len, (const char *)(b).p

static int not_found(struct channel *ch, struct bytes name)
{
	return chan_fail(ch, AMQP_NOT_FOUND, "no queue '%.*s' in vhost '%s'", NAME(name),
			 ch->c->vh->name);
}

static int locked(struct channel *ch, struct bytes name)
{
	return chan_fail(ch, AMQP_RESOURCE_LOCKED,
			 "cannot obtain exclusive access to locked queue '%.*s' in vhost '%s'. "
			 "It could be originally declared on another connection or the exclusive "
			 "property value does not match that of the original declaration.",
			 NAME(name), ch->c->vh->name);
}

/* The queue's name, with the spec's shortcut: '' means the last queue
 * declared on this channel. */
static struct bytes queue_name(struct channel *ch, struct bytes name)
{
	if (name.len == 0 && ch->last_queue)
		return bytes_of(ch->last_queue);
	return name;
}

/* Looks a queue up for an operation: 404 when missing, 405 when another
 * connection holds it exclusively. */
int queue_lookup(struct channel *ch, struct bytes name, struct queue **out)
{
	name = queue_name(ch, name);
	struct queue *q = vhost_queue(ch->c->vh, name);
	if (!q)
		return not_found(ch, name);
	if (q->exclusive && q->owner != ch->c)
		return locked(ch, name);
	*out = q;
	return 0;
}

static void remember(struct channel *ch, struct queue *q)
{
	free(ch->last_queue);
	ch->last_queue = xstrndup(q->name, q->name_len);
}

static void declare_ok(struct channel *ch, struct queue *q)
{
	struct amqp_method ok = {.id = AMQP_QUEUE_DECLARE_OK};
	ok.a.queue_declare_ok.queue = (struct bytes){(uint8_t *)q->name, q->name_len};
	ok.a.queue_declare_ok.message_count = (uint32_t)q->len;
	ok.a.queue_declare_ok.consumer_count = (uint32_t)q->ncons;
	conn_send_method(ch->c, ch->id, &ok);
}

static int inequivalent(struct channel *ch, struct queue *q, const char *arg, bool got)
{
	return chan_fail(ch, AMQP_PRECONDITION_FAILED,
			 "inequivalent arg '%s' for queue '%s' in vhost '%s': "
			 "received '%s' but current is '%s'",
			 arg, q->name, ch->c->vh->name, got ? "true" : "false",
			 got ? "false" : "true");
}

/* amq.gen- followed by 22 URL-safe base64 characters, as RabbitMQ. */
static void server_name(char out[32])
{
	static const char abc[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	memcpy(out, "amq.gen-", 8);
	for (int i = 0; i < 22; i++)
		out[8 + i] = abc[random() & 63];
	out[30] = '\0';
}

static int declare(struct channel *ch, const struct amqp_queue_declare *a)
{
	struct vhost *vh = ch->c->vh;
	char gen[32];
	struct bytes name = a->queue;
	if (name.len == 0 && !a->passive) {
		do
			server_name(gen);
		while (vhost_queue(vh, bytes_of(gen)));
		name = bytes_of(gen);
	}
	name = queue_name(ch, name);
	struct queue *q = vhost_queue(vh, name);
	if (a->passive || q) {
		if (!q)
			return not_found(ch, name);
		if (q->exclusive && q->owner != ch->c)
			return locked(ch, name);
		if (!a->passive) {
			if (q->durable != a->durable)
				return inequivalent(ch, q, "durable", a->durable);
			if (q->exclusive != a->exclusive)
				return locked(ch, name);
			if (q->auto_delete != a->auto_delete)
				return inequivalent(ch, q, "auto_delete", a->auto_delete);
			const char *why = queue_args_equivalent(q->args, a->arguments);
			if (why)
				return chan_fail(ch, AMQP_PRECONDITION_FAILED,
						 "inequivalent arg '%s' for queue '%s' in vhost '%s'",
						 why, q->name, vh->name);
		}
	} else {
		if (name.len >= 4 && memcmp(name.p, "amq.", 4) == 0 && name.p != (uint8_t *)gen)
			return chan_fail(ch, AMQP_ACCESS_REFUSED,
					 "queue name '%.*s' contains reserved prefix 'amq.*'",
					 NAME(name));
		char why[256];
		if (queue_args_validate(a->arguments, why, sizeof why) < 0)
			return chan_fail(ch, AMQP_PRECONDITION_FAILED,
					 "invalid arg %s for queue '%.*s' in vhost '%s'", why, NAME(name),
					 vh->name);
		q = queue_new(vh, name, a->arguments);
		q->durable = a->durable;
		q->exclusive = a->exclusive;
		q->auto_delete = a->auto_delete;
		if (q->exclusive) {
			q->owner = ch->c;
			conn_own_queue(ch->c, q);
		}
		vhost_add_queue(vh, q);
		persist_queue_declared(q);
	}
	remember(ch, q);
	queue_touch(q);
	if (!a->no_wait)
		declare_ok(ch, q);
	return 0;
}

/* queue.bind and queue.unbind: the same checks, then bind or unbind. */
static int bind_queue(struct channel *ch, struct bytes qname, struct bytes xname, struct bytes key,
		struct bytes args, bool unbind, bool no_wait)
{
	struct vhost *vh = ch->c->vh;
	qname = queue_name(ch, qname);
	if (xname.len == 0)
		return chan_fail(ch, AMQP_ACCESS_REFUSED,
				 "operation not permitted on the default exchange");
	struct queue *q;
	int rc = queue_lookup(ch, qname, &q);
	if (rc)
		return rc;
	struct bexchange *x = vhost_exchange(vh, xname);
	if (!x)
		return chan_fail(ch, AMQP_NOT_FOUND, "no exchange '%.*s' in vhost '%s'", NAME(xname),
				 vh->name);
	if (unbind) {
		vhost_unbind(vh, x, DEST_QUEUE, q, key, args);
	} else {
		const char *why = "";
		rc = vhost_bind(vh, x, DEST_QUEUE, q, key, args, &why);
		if (rc)
			return chan_fail(ch, rc, "%s", why);
	}
	if (!no_wait)
		send_simple(ch, unbind ? AMQP_QUEUE_UNBIND_OK : AMQP_QUEUE_BIND_OK);
	return 0;
}

static int purge(struct channel *ch, const struct amqp_queue_purge *a)
{
	struct queue *q;
	int rc = queue_lookup(ch, a->queue, &q);
	if (rc)
		return rc;
	uint32_t n = queue_purge(q);
	if (!a->no_wait) {
		struct amqp_method ok = {.id = AMQP_QUEUE_PURGE_OK};
		ok.a.queue_purge_ok.message_count = n;
		conn_send_method(ch->c, ch->id, &ok);
	}
	return 0;
}

static int delete_queue(struct channel *ch, const struct amqp_queue_delete *a)
{
	struct vhost *vh = ch->c->vh;
	struct bytes name = queue_name(ch, a->queue);
	uint32_t n = 0;
	struct queue *q = vhost_queue(vh, name);
	if (q) {
		if (q->exclusive && q->owner != ch->c)
			return locked(ch, name);
		if (a->if_unused && q->ncons)
			return chan_fail(ch, AMQP_PRECONDITION_FAILED, "queue '%s' in vhost '%s' in use",
					 q->name, vh->name);
		if (a->if_empty && q->len)
			return chan_fail(ch, AMQP_PRECONDITION_FAILED,
					 "queue '%s' in vhost '%s' is not empty", q->name, vh->name);
		n = vhost_delete_queue(vh, q);
	}
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
		return bind_queue(ch, a->queue, a->exchange, a->routing_key, a->arguments, false, a->no_wait);
	}
	case AMQP_QUEUE_UNBIND: {
		const struct amqp_queue_unbind *a = &m->a.queue_unbind;
		return bind_queue(ch, a->queue, a->exchange, a->routing_key, a->arguments, true, false);
	}
	case AMQP_QUEUE_PURGE: return purge(ch, &m->a.queue_purge);
	case AMQP_QUEUE_DELETE: return delete_queue(ch, &m->a.queue_delete);
	default:
		return conn_fail(ch->c, AMQP_COMMAND_INVALID, "unexpected %s", method_name(m->id));
	}
}
