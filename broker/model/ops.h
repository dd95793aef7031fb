/* ops.h — the topology operations of a vhost, one implementation for
 * every front end: the AMQP handlers, definitions files and the HTTP API.
 * Each checks what RabbitMQ checks, in RabbitMQ's order (permissions
 * before existence, as rabbit_channel does), and returns 0 or a reply
 * code with the text in *e; only the way the error reaches the user
 * differs (channel.close, an HTTP 4xx, a file:line message). */
#ifndef TERN_BROKER_OPS_H
#define TERN_BROKER_OPS_H

#include <stdbool.h>
#include <stdint.h>

#include "broker/model/access.h"
#include "broker/model/vhost.h"

struct conn;

/* An error: AMQP reply code and text (without the "NAME - " prefix). */
struct op_err {
	int code;
	char text[480];
};

/* Sets *e and returns code. */
int op_fail(struct op_err *e, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Who asks. user NULL: the broker itself (definitions), nothing is
 * checked. conn: the connection exclusive queues belong to, if any. */
struct actor {
	const char *user;
	struct conn *conn;
};

/* The permission check of RabbitMQ: 0, or 403 "access to <what> '<name>'
 * in vhost '<vh>' refused for user '<user>'". what is "queue" or
 * "exchange"; the default exchange is named amq.default. */
int op_check(const struct actor *who, struct vhost *vh, enum access_perm kind, const char *what,
	     struct bytes name, struct op_err *e);
/* The topic-permission check for a topic exchange (other types pass). */
int op_check_topic(const struct actor *who, struct vhost *vh, const struct bexchange *x,
		   enum access_perm kind, struct bytes routing_key, struct op_err *e);

/* What basic.publish checks after the write permission on the exchange
 * (which callers may cache): that it exists, is not internal, and the
 * topic permission on the routing key. *out gets the exchange. */
int op_publish_target(struct vhost *vh, const struct actor *who, struct bytes xname,
		      struct bytes routing_key, struct bexchange **out, struct op_err *e);

struct exchange_decl {
	struct bytes name, type, args;
	bool passive, durable, auto_delete, internal;
};
/* exchange.declare; *out (may be NULL) gets the exchange. */
int op_exchange_declare(struct vhost *vh, const struct actor *who, const struct exchange_decl *d,
			struct bexchange **out, struct op_err *e);
int op_exchange_delete(struct vhost *vh, const struct actor *who, struct bytes name, bool if_unused,
		       struct op_err *e);

struct queue_decl {
	struct bytes name, args; /* name "": a server-named amq.gen-* queue */
	bool passive, durable, exclusive, auto_delete;
};
/* queue.declare; an exclusive queue belongs to who->conn. */
int op_queue_declare(struct vhost *vh, const struct actor *who, const struct queue_decl *d,
		     struct queue **out, struct op_err *e);
/* queue.delete; *count gets the number of messages it held. */
int op_queue_delete(struct vhost *vh, const struct actor *who, struct bytes name, bool if_unused,
		    bool if_empty, uint32_t *count, struct op_err *e);
int op_queue_purge(struct vhost *vh, const struct actor *who, struct bytes name, uint32_t *count,
		   struct op_err *e);
/* Finds a queue to read from (basic.get, basic.consume): read permission,
 * then 404 when missing, 405 when another connection holds it. */
int op_queue_for_read(struct vhost *vh, const struct actor *who, struct bytes name,
		      struct queue **out, struct op_err *e);

/* queue.bind / exchange.bind (kind says which), and their unbinds: a bind
 * needs both ends (404), an unbind of what is not bound succeeds. */
int op_bind(struct vhost *vh, const struct actor *who, enum binding_dest kind, struct bytes source,
	    struct bytes dest, struct bytes key, struct bytes args, bool unbind, struct op_err *e);

#endif
