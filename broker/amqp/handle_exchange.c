/* handle_exchange.c — the exchange class (spec §1.6.2 plus RabbitMQ's
 * exchange.bind/unbind): the wire side of declare, delete and
 * exchange-to-exchange bindings; the operations themselves are ops.c's. */
#include "broker/net/conn.h"
#include "broker/amqp/handlers.h"
#include "broker/model/ops.h"

static int declare(struct channel *ch, const struct amqp_exchange_declare *a)
{
	struct exchange_decl d = {.name = a->exchange, .type = a->type, .args = a->arguments,
				  .passive = a->passive, .durable = a->durable,
				  .auto_delete = a->auto_delete, .internal = a->internal};
	struct op_err e;
	if (op_exchange_declare(ch->c->vh, &CHAN_ACTOR(ch), &d, NULL, &e))
		return chan_fail(ch, e.code, "%s", e.text);
	if (!a->no_wait)
		send_simple(ch, AMQP_EXCHANGE_DECLARE_OK);
	return 0;
}

static int delete_exchange(struct channel *ch, const struct amqp_exchange_delete *a)
{
	struct op_err e;
	if (op_exchange_delete(ch->c->vh, &CHAN_ACTOR(ch), a->exchange, a->if_unused, &e))
		return chan_fail(ch, e.code, "%s", e.text);
	if (!a->no_wait)
		send_simple(ch, AMQP_EXCHANGE_DELETE_OK);
	return 0;
}

/* exchange.bind and exchange.unbind share their argument layout. */
static int bind_exchange(struct channel *ch, const struct amqp_exchange_bind *a, bool unbind)
{
	struct op_err e;
	if (op_bind(ch->c->vh, &CHAN_ACTOR(ch), DEST_EXCHANGE, a->source, a->destination,
		    a->routing_key, a->arguments, unbind, &e))
		return chan_fail(ch, e.code, "%s", e.text);
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
