/* handlers.h — the method handlers of the channel-level classes, one file
 * per class (handle_channel.c, handle_exchange.c, handle_queue.c,
 * handle_basic.c, handle_confirm_tx.c). Each returns 0 or a reply code
 * with the text already formatted by chan_fail/conn_fail; channel.c turns
 * soft codes into channel.close and hard ones into connection.close. */
#ifndef TERN_BROKER_HANDLERS_H
#define TERN_BROKER_HANDLERS_H

#include "broker/amqp/channel.h"
#include "protocol/method.h"

/* Formats "NAME - text" into the connection's error buffer; returns code. */
int chan_fail(struct channel *ch, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Finds the queue an operation names ('' is the channel's last declared
 * queue): 404 when missing, 405 when another connection holds it
 * exclusively (handle_queue.c). */
int queue_lookup(struct channel *ch, struct bytes name, struct queue **out);

/* The actor of an operation asked on ch: its connection's user. */
#define CHAN_ACTOR(ch) ((struct actor){(ch)->c->user, (ch)->c})

/* Sends a method without arguments (the *-ok replies) on ch. */
void send_simple(struct channel *ch, uint32_t id);

int handle_channel(struct channel *ch, struct amqp_method *m);
int handle_exchange(struct channel *ch, struct amqp_method *m);
int handle_queue(struct channel *ch, struct amqp_method *m);
int handle_basic(struct channel *ch, struct amqp_method *m);
int handle_confirm_tx(struct channel *ch, struct amqp_method *m);

/* Routes a fully assembled message published on ch (used directly and at
 * tx.commit). Returns 0 or a reply code. Takes the message's reference. */
int basic_route_publish(struct channel *ch, struct message *m, bool mandatory, uint64_t seq);

struct vhost;
struct bexchange;
/* Routes m from x and pushes it into every queue it reaches (m's
 * reference stays the caller's). `from` is the publishing connection for
 * back-pressure, or NULL. *refused is set when a queue refused it
 * (x-overflow reject-publish). Returns the number of queues. */
size_t basic_route(struct vhost *vh, struct bexchange *x, struct message *m, struct conn *from,
		   bool *refused);

/* Publishes m from x as the HTTP API does: hooks (the delayed exchange),
 * routing and counting as for basic.publish, without a channel (so no
 * confirm and no return). Returns the number of queues reached now; m's
 * reference stays the caller's. */
size_t basic_publish_api(struct vhost *vh, struct bexchange *x, struct message *m);

/* Sends m back to the publisher as unroutable (basic.return 312). */
void basic_send_return(struct channel *ch, struct message *m);

#endif
