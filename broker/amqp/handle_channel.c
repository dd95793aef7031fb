/* handle_channel.c — the channel class (spec §1.5.2): flow and close.
 * channel.open itself is handled by conn.c, which creates the channel. */
#include "broker/net/conn.h"
#include "broker/amqp/handlers.h"

int handle_channel(struct channel *ch, struct amqp_method *m)
{
	switch (m->id) {
	case AMQP_CHANNEL_OPEN:
		return conn_fail(ch->c, AMQP_CHANNEL_ERROR, "second 'channel.open' seen");
	case AMQP_CHANNEL_CLOSE:
		send_simple(ch, AMQP_CHANNEL_CLOSE_OK);
		ch->free_me = true;
		return 0;
	case AMQP_CHANNEL_CLOSE_OK:
		return 0; /* nothing was pending; ignore as RabbitMQ does */
	case AMQP_CHANNEL_FLOW: {
		bool active = m->a.channel_flow.active;
		bool resumed = active && !ch->flow_active;
		ch->flow_active = active;
		struct amqp_method ok = {.id = AMQP_CHANNEL_FLOW_OK};
		ok.a.channel_flow_ok.active = active;
		conn_send_method(ch->c, ch->id, &ok);
		if (resumed) {
			void *v;
			for (size_t i = 0; strmap_next(&ch->consumers, &i, &v);)
				queue_kick(((struct consumer *)v)->q);
		}
		return 0;
	}
	case AMQP_CHANNEL_FLOW_OK:
		return 0;
	default:
		return conn_fail(ch->c, AMQP_COMMAND_INVALID, "unexpected %s", method_name(m->id));
	}
}
