/* handle_exchange.c — the exchange class (spec §1.6.2 plus RabbitMQ's
 * exchange.bind/unbind): declare, delete, and exchange-to-exchange
 * bindings, with RabbitMQ's reply codes and texts. */
#include <stdio.h>

#include "broker/conn.h"
#include "broker/handlers.h"
#include "broker/persist.h"
#include "broker/vhost.h"
#include "protocol/table.h"

#define NAME(b) (int)(b).len, (const char *)(b).p

static bool reserved(struct bytes name)
{
	return name.len >= 4 && memcmp(name.p, "amq.", 4) == 0;
}

static int not_found(struct channel *ch, struct bytes name)
{
	return chan_fail(ch, AMQP_NOT_FOUND, "no exchange '%.*s' in vhost '%s'", NAME(name),
			 ch->c->vh->name);
}

static int inequivalent(struct channel *ch, struct bytes name, const char *arg, const char *got,
			const char *have)
{
	return chan_fail(ch, AMQP_PRECONDITION_FAILED,
			 "inequivalent arg '%s' for exchange '%.*s' in vhost '%s': "
			 "received '%s' but current is '%s'",
			 arg, NAME(name), ch->c->vh->name, got, have);
}

static const char *tf(bool b)
{
	return b ? "true" : "false";
}

static int declare(struct channel *ch, const struct amqp_exchange_declare *a)
{
	struct vhost *vh = ch->c->vh;
	struct bexchange *x = vhost_exchange(vh, a->exchange);
	if (a->passive) {
		if (!x)
			return not_found(ch, a->exchange);
	} else {
		if (a->exchange.len == 0)
			return chan_fail(ch, AMQP_ACCESS_REFUSED,
					 "operation not permitted on the default exchange");
		const struct exchange_type *t = exchange_type_find(a->type);
		if (!t)
			return conn_fail(ch->c, AMQP_COMMAND_INVALID, "unknown exchange type '%.*s'",
					 NAME(a->type));
		if (x) {
			if (x->base.type != t) {
				char got[256];
				snprintf(got, sizeof got, "%.*s", NAME(a->type));
				return inequivalent(ch, a->exchange, "type", got, x->base.type->name);
			}
			if (x->durable != a->durable)
				return inequivalent(ch, a->exchange, "durable", tf(a->durable),
						    tf(x->durable));
			if (x->auto_delete != a->auto_delete)
				return inequivalent(ch, a->exchange, "auto_delete",
						    tf(a->auto_delete), tf(x->auto_delete));
			if (x->internal != a->internal)
				return inequivalent(ch, a->exchange, "internal", tf(a->internal),
						    tf(x->internal));
		} else {
			if (reserved(a->exchange))
				return chan_fail(ch, AMQP_ACCESS_REFUSED,
						 "exchange name '%.*s' contains reserved prefix 'amq.*'",
						 NAME(a->exchange));
			int code;
			const char *why = "";
			x = vhost_add_exchange(vh, a->exchange, t, a->arguments, &code, &why);
			if (!x)
				return chan_fail(ch, code, "%s", why);
			x->durable = a->durable;
			x->auto_delete = a->auto_delete;
			x->internal = a->internal;
			persist_exchange_declared(x);
		}
	}
	if (!a->no_wait)
		send_simple(ch, AMQP_EXCHANGE_DECLARE_OK);
	return 0;
}

static int delete_exchange(struct channel *ch, const struct amqp_exchange_delete *a)
{
	struct vhost *vh = ch->c->vh;
	if (a->exchange.len == 0 || reserved(a->exchange))
		return chan_fail(ch, AMQP_ACCESS_REFUSED,
				 "operation not permitted on the %s exchange '%.*s'",
				 a->exchange.len ? "reserved" : "default", NAME(a->exchange));
	struct bexchange *x = vhost_exchange(vh, a->exchange);
	if (x) {
		if (a->if_unused && x->nout)
			return chan_fail(ch, AMQP_PRECONDITION_FAILED,
					 "exchange '%.*s' in vhost '%s' in use", NAME(a->exchange),
					 vh->name);
		vhost_delete_exchange(vh, x);
	}
	if (!a->no_wait)
		send_simple(ch, AMQP_EXCHANGE_DELETE_OK);
	return 0;
}

/* exchange.bind and exchange.unbind share their argument layout. */
static int bind_exchange(struct channel *ch, const struct amqp_exchange_bind *a, bool unbind)
{
	struct vhost *vh = ch->c->vh;
	if (a->source.len == 0 || a->destination.len == 0)
		return chan_fail(ch, AMQP_ACCESS_REFUSED,
				 "operation not permitted on the default exchange");
	struct bexchange *dst = vhost_exchange(vh, a->destination);
	if (!dst)
		return not_found(ch, a->destination);
	struct bexchange *src = vhost_exchange(vh, a->source);
	if (!src)
		return not_found(ch, a->source);
	if (unbind) {
		vhost_unbind(vh, src, DEST_EXCHANGE, dst, a->routing_key, a->arguments);
	} else {
		const char *why = "";
		int rc = vhost_bind(vh, src, DEST_EXCHANGE, dst, a->routing_key, a->arguments, &why);
		if (rc)
			return chan_fail(ch, rc, "%s", why);
	}
	if (!a->no_wait)
		send_simple(ch, unbind ? AMQP_EXCHANGE_UNBIND_OK : AMQP_EXCHANGE_BIND_OK);
	return 0;
}

int handle_exchange(struct channel *ch, struct amqp_method *m)
{
	switch (m->id) {
	case AMQP_EXCHANGE_DECLARE: return declare(ch, &m->a.exchange_declare);
	case AMQP_EXCHANGE_DELETE: return delete_exchange(ch, &m->a.exchange_delete);
	case AMQP_EXCHANGE_BIND: return bind_exchange(ch, &m->a.exchange_bind, false);
	case AMQP_EXCHANGE_UNBIND:
		/* Same layout as exchange.bind (generated structs match). */
		return bind_exchange(ch, (struct amqp_exchange_bind *)&m->a.exchange_unbind, true);
	default:
		return conn_fail(ch->c, AMQP_COMMAND_INVALID, "unexpected %s", method_name(m->id));
	}
}
