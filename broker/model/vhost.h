/* vhost.h — virtual hosts: the exchanges, queues and bindings of one
 * namespace, and routing through them.
 *
 * Design notes. A broker exchange (struct bexchange) embeds the routing
 * part (struct exchange, exchanges/exchange.h) and adds what the broker
 * needs: flags, arguments, the alternate exchange, and its bindings in
 * both directions. Bindings are owned here: created by vhost_bind, freed by
 * vhost_unbind or when either end is deleted. Routing (vhost_route) walks
 * exchange-to-exchange bindings breadth-first with a per-call epoch mark
 * on exchanges (cycles end there) and on queues (each queue once). */
#ifndef TERN_BROKER_VHOST_H
#define TERN_BROKER_VHOST_H

#include <stdbool.h>

#include "broker/queue/queue.h"
#include "exchanges/exchange.h"
#include "util/strmap.h"

struct bexchange {
	struct exchange base; /* name, type, type_data */
	uint32_t name_len;
	struct vhost *vh;
	bool durable, auto_delete, internal, builtin;
	struct bytes args;
	char *alternate;      /* alternate exchange (argument or policy), or NULL */
	char *policy;         /* name of the policy in effect, or NULL */
	char *creator;        /* the user who declared it (the API shows it), or NULL */
	struct binding **out; /* bindings with this exchange as source */
	size_t nout, nout_cap;
	struct binding **in;  /* exchange-to-exchange bindings into this one */
	size_t nin, nin_cap;
	uint64_t visit_epoch;
	struct stats stats; /* publish (in), publish_out */
};

/* A vhost: held by the vhost table while it exists and by each
 * connection opened on it (refs), so a deleted vhost's memory outlives
 * the connections it closes. */
struct vhost {
	char *name;
	char *description;     /* RabbitMQ's vhost metadata, kept for export */
	bool tracing;          /* the API's flag (RabbitMQ's firehose; Tern traces nothing) */
	char *tags;            /* comma-separated */
	char *default_queue_type;
	int64_t max_connections, max_queues; /* vhost limits; -1: none */
	uint32_t nconns;       /* open connections */
	uint32_t refs;
	bool deleted;
	struct stats stats;      /* the vhost's message counters */
	struct strmap exchanges; /* name -> struct bexchange */
	struct strmap queues;    /* name -> struct queue */
};

/* Creates a vhost with the default exchange and the amq.* ones and adds
 * it to the table. Returns it, or NULL when the name is taken. */
struct vhost *vhost_create(const char *name);
/* Deletes a vhost at run time: closes its connections (320), deletes
 * its queues (with their messages), exchanges and bindings, and drops
 * the table's reference. Permissions and policies are the caller's. */
void vhost_delete(struct vhost *vh);
void vhost_unref(struct vhost *vh);

struct vhost *vhost_find(struct bytes name);
/* Iterates the vhosts: start with *i = 0; NULL at the end. */
struct vhost *vhost_next(size_t *i);
/* Frees every vhost without touching the store (shutdown). */
void vhosts_free(void);

struct bexchange *vhost_exchange(struct vhost *vh, struct bytes name);
/* True for the names of the exchanges every vhost has ("", amq.direct,
 * amq.fanout, amq.topic, amq.headers, amq.match). */
bool vhost_builtin_exchange(struct bytes name);
struct queue *vhost_queue(struct vhost *vh, struct bytes name);

/* Creates an exchange of type t. Returns it, or NULL with *code and *why set
 * when the type rejects the arguments. */
struct bexchange *vhost_add_exchange(struct vhost *vh, struct bytes name,
				     const struct exchange_type *t, struct bytes args,
				     int *code, const char **why);
void vhost_delete_exchange(struct vhost *vh, struct bexchange *x);
/* Recomputes the alternate exchange from the arguments and the policy
 * matching x (an argument wins). */
void vhost_configure_exchange(struct bexchange *x);
/* Re-applies the policies to every queue and exchange of vh (after a
 * policy was added, changed or removed). */
void vhost_apply_policies(struct vhost *vh);

void vhost_add_queue(struct vhost *vh, struct queue *q);
/* Unlinks q: removes its bindings, cancels its consumers (notifying the
 * clients that asked for it), drops its ready messages; returns how many
 * messages it held. */
uint32_t vhost_delete_queue(struct vhost *vh, struct queue *q);

/* Binds src to a queue or exchange. An identical binding is a no-op.
 * Returns 0 or a reply code with *why. */
int vhost_bind(struct vhost *vh, struct bexchange *src, enum binding_dest kind, void *dest,
	       struct bytes key, struct bytes args, const char **why);
/* True when src has exactly this binding. */
bool vhost_bound(const struct bexchange *src, enum binding_dest kind, const void *dest,
		 struct bytes key, struct bytes args);
/* Removes a binding if present (absent is not an error, as RabbitMQ). */
void vhost_unbind(struct vhost *vh, struct bexchange *src, enum binding_dest kind, void *dest,
		  struct bytes key, struct bytes args);

/* Routes m from x; fills out with the deduplicated destination queues
 * (valid until the next call). Returns their number. */
size_t vhost_route(struct vhost *vh, struct bexchange *x, const struct route_msg *m,
		   struct queue ***out);

/* vhost_route for a message: its routing key and its headers property,
 * which *headers receives too when not NULL (a view into m). */
size_t vhost_route_message(struct vhost *vh, struct bexchange *x, const struct message *m,
			   struct queue ***out, struct bytes *headers);

#endif
