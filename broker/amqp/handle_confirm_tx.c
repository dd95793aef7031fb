/* handle_confirm_tx.c — the confirm class (RabbitMQ's extension) and the
 * tx class (spec §1.9.2) with RabbitMQ's semantics: a channel is in one
 * mode or the other; in a transaction, publishes are routed and acks
 * applied only at tx.commit, and tx.rollback discards them. */
#include "broker/net/conn.h"
#include "broker/amqp/handlers.h"
#include "broker/queue/persist.h"

static int commit(struct channel *ch)
{
	int rc = 0;
	for (size_t i = 0; i < ch->ntx && !rc; i++) {
		struct txop *op = &ch->txops[i];
		switch (op->kind) {
		case TX_PUBLISH:
			rc = basic_route_publish(ch, op->m, op->mandatory, 0);
			op->m = NULL; /* the reference moved */
			break;
		case TX_ACK: rc = channel_ack(ch, op->tag, op->multiple); break;
		case TX_NACK: rc = channel_nack(ch, op->tag, op->multiple, op->requeue); break;
		}
	}
	for (size_t i = 0; i < ch->ntx; i++)
		if (ch->txops[i].m)
			message_unref(ch->txops[i].m);
	ch->ntx = 0;
	return rc;
}

int handle_confirm_tx(struct channel *ch, struct amqp_method *m)
{
	switch (m->id) {
	case AMQP_CONFIRM_SELECT:
		if (ch->tx)
			return chan_fail(ch, AMQP_PRECONDITION_FAILED,
					 "cannot switch from tx to confirm mode");
		ch->confirm = true;
		if (!m->a.confirm_select.nowait)
			send_simple(ch, AMQP_CONFIRM_SELECT_OK);
		return 0;
	case AMQP_TX_SELECT:
		if (ch->confirm)
			return chan_fail(ch, AMQP_PRECONDITION_FAILED,
					 "cannot switch from confirm to tx mode");
		ch->tx = true;
		send_simple(ch, AMQP_TX_SELECT_OK);
		return 0;
	case AMQP_TX_COMMIT: {
		if (!ch->tx)
			return chan_fail(ch, AMQP_PRECONDITION_FAILED, "channel is not transactional");
		uint64_t writes = persist_writes;
		int rc = commit(ch);
		if (rc)
			return rc;
		if (persist_writes != writes) /* commit-ok means on disk (RabbitMQ's) */
			persist_commit_before_replies();
		send_simple(ch, AMQP_TX_COMMIT_OK);
		return 0;
	}
	case AMQP_TX_ROLLBACK:
		if (!ch->tx)
			return chan_fail(ch, AMQP_PRECONDITION_FAILED, "channel is not transactional");
		for (size_t i = 0; i < ch->ntx; i++)
			if (ch->txops[i].m)
				message_unref(ch->txops[i].m);
		ch->ntx = 0;
		send_simple(ch, AMQP_TX_ROLLBACK_OK);
		return 0;
	default:
		return conn_fail(ch->c, AMQP_COMMAND_INVALID, "unexpected %s", method_name(m->id));
	}
}
