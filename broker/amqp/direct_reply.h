/* direct_reply.h — RabbitMQ's direct reply-to: RPC replies that go straight
 * to the requesting channel, without a queue (RabbitMQ's "Direct Reply-to"
 * page; semantics of rabbit_channel 3.10).
 *
 * A channel consumes the pseudo-queue amq.rabbitmq.reply-to in no-ack mode;
 * a request it publishes with reply_to = amq.rabbitmq.reply-to has that
 * property rewritten to amq.rabbitmq.reply-to.KEY, and a reply published to
 * the default exchange with that routing key is delivered to the channel's
 * reply consumer. KEY is 128 random bits: one hash lookup resolves it, and
 * it is forgotten when the consumer is cancelled or the channel ends, so a
 * reply to a requester that has gone is dropped. */
#ifndef TERN_BROKER_DIRECT_REPLY_H
#define TERN_BROKER_DIRECT_REPLY_H

#include <stdbool.h>

#include "protocol/method.h"
#include "protocol/props.h"

struct channel;
struct message;
struct vhost;

#define DIRECT_REPLY_QUEUE "amq.rabbitmq.reply-to"

/* True when name starts with amq.rabbitmq.reply-to (the pseudo-queue or a
 * reply name, or something RabbitMQ also refuses as not found). */
bool direct_reply_named(struct bytes name);

/* basic.consume on the pseudo-queue: 406 for acks or a second reply
 * consumer on the channel, 530 for a reused tag (RabbitMQ's texts);
 * otherwise sends consume-ok (unless no_wait). Returns 0 or a code. */
int direct_reply_consume(struct channel *ch, const struct amqp_basic_consume *a);

/* basic.cancel of the reply consumer: true (cancel-ok sent unless
 * no_wait) when tag is the channel's reply consumer. */
bool direct_reply_cancel(struct channel *ch, const struct amqp_basic_cancel *a);

/* Forgets the channel's reply consumer (the channel is being freed). */
void direct_reply_forget(struct channel *ch);

/* A publish whose reply_to is amq.rabbitmq.reply-to: writes the
 * properties with reply_to set to the channel's reply name into w.
 * Returns 0, or 406 "fast reply consumer does not exist" when the channel
 * has no reply consumer. Other properties are left alone (returns 0 and
 * writes nothing: w->len stays 0). */
int direct_reply_rewrite(struct channel *ch, const struct amqp_props *props, struct wbuf *w);

/* A message published to the default exchange of vh with a reply name as
 * routing key: delivers it to the reply consumer the name belongs to, if
 * it is still there (m's reference stays the caller's). It never counts as
 * routed: a mandatory reply is returned, as in RabbitMQ. */
void direct_reply_deliver(struct vhost *vh, struct bytes rkey, struct message *m);

/* queue.declare (any flags) of a name starting with amq.rabbitmq.reply-to:
 * declare-ok with 0 messages and 1 consumer for the pseudo-queue and for a
 * live reply name, 404 otherwise (no permission is checked, as in
 * RabbitMQ). Returns 0 or a code. */
int direct_reply_declare(struct channel *ch, struct bytes name, bool no_wait);

#endif
