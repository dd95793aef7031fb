/* message.h — the refcounted message: one allocation holding the routing
 * info, the raw content-header properties (resent verbatim) and the body.
 *
 * Ownership: every holder (queue entry, unacked record, outgoing body
 * frame, tx buffer) owns one reference; the last unref frees it. Fan-out to
 * N queues adds references, never copies.
 *
 * Memory: a 16-byte header, then the bytes themselves; small messages
 * come from size-class pages (slab.h), so a queued 16-byte message with a
 * short routing key is a 48-byte object. Only a persistent message has
 * room for a store id (the row shared by the durable queues it reached),
 * so MSG_PERSISTENT is fixed when the message is made: message_new takes
 * it, and nothing sets or clears it later. */
#ifndef TERN_BROKER_MESSAGE_H
#define TERN_BROKER_MESSAGE_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "protocol/wire.h"

enum {
	MSG_PERSISTENT = 1, /* delivery_mode 2 */
	MSG_MANDATORY = 2,
	MSG_EXPIRATION = 4, /* a valid expiration property is set */
	MSG_STORE_SHARED = 8, /* stored in one row for 2+ durable queues */
};

struct message {
	uint32_t refs;
	uint32_t body_size; /* at most max_message_size (512 MiB at most) */
	uint32_t props_len;
	uint8_t flags;
	uint8_t priority;
	uint8_t exchange_len;
	uint8_t rkey_len;
	/* exchange, routing key, properties, body, [store id: 8 octets,
	 * persistent messages only] */
	uint8_t data[];
};

/* Allocates a message with room for a body of body_size octets (which the
 * caller has checked against max_message_size), written at message_body.
 * Copies exchange, routing key and raw properties; refs = 1. flags are
 * MSG_* (MSG_PERSISTENT only here, see above). */
struct message *message_new(struct bytes exchange, struct bytes rkey, struct bytes raw_props,
			    uint64_t body_size, unsigned flags);

/* The same for a body that arrives in frames from a client: a body over
 * 128 KiB gets its room as its octets come, so write it with
 * message_fill only. */
struct message *message_receiving(struct bytes exchange, struct bytes rkey,
				  struct bytes raw_props, uint64_t body_size, unsigned flags);

/* Copies n body octets after the `have` already written, growing the
 * block when they need more room; returns the message, which may have
 * moved (nothing else may hold it until its body is complete). */
struct message *message_fill(struct message *m, uint64_t have, const uint8_t *p, size_t n);

/* A message rebuilt from stored or API bytes: body copied, persistence,
 * priority and expiration read from its properties (an invalid expiration
 * is ignored). */
struct message *message_decoded(struct bytes exchange, struct bytes rkey, struct bytes raw_props,
				struct bytes body);

static inline struct message *message_ref(struct message *m)
{
	m->refs++;
	return m;
}

void message_unref(struct message *m);

/* Parses an expiration property: milliseconds as a decimal string
 * (RabbitMQ's ttl page). Returns 0, or -1 when it is not one. */
int message_parse_expiration(struct bytes s, uint32_t *ms);

/* The expiration of a message flagged MSG_EXPIRATION, read from its
 * properties (kept out of the struct: few messages have one). */
uint32_t message_expiration(const struct message *m);

/* A copy of m whose headers property has `key` set to the integer v
 * ('l'), replacing any value it had; everything else is kept. Returns a
 * new message (refs 1), or NULL when m's properties do not decode. */
struct message *message_with_header(const struct message *m, const char *key, int64_t v);

/* A copy of m without the header `key`, or NULL when m has no such header
 * (or its properties do not decode). */
struct message *message_without_header(const struct message *m, const char *key);

static inline struct bytes message_exchange(const struct message *m)
{
	return (struct bytes){m->data, m->exchange_len};
}

static inline struct bytes message_rkey(const struct message *m)
{
	return (struct bytes){m->data + m->exchange_len, m->rkey_len};
}

static inline struct bytes message_props(const struct message *m)
{
	return (struct bytes){m->data + m->exchange_len + m->rkey_len, m->props_len};
}

static inline uint8_t *message_body(const struct message *m)
{
	return (uint8_t *)m->data + m->exchange_len + m->rkey_len + m->props_len;
}

/* Where a persistent message keeps its store id: past the body, so the
 * accessors above need no test of the flags. */
static inline const uint8_t *message_store_slot(const struct message *m)
{
	return message_body(m) + m->body_size;
}

/* The shared store row of a persistent message; 0 when it has none. */
static inline uint64_t message_store_id(const struct message *m)
{
	uint64_t id = 0;
	if (m->flags & MSG_PERSISTENT)
		memcpy(&id, message_store_slot(m), sizeof id);
	return id;
}

/* Only for a persistent message. */
void message_set_store_id(struct message *m, uint64_t id);

/* Live messages and the bytes of their bodies, for tests and metrics;
 * message_mem: the bytes their allocations take (header, exchange,
 * routing key, properties and body), what the memory budget counts. */
extern uint64_t message_live;
extern uint64_t message_bytes;
extern uint64_t message_mem;

/* The bytes a message of these parts takes (message_new's allocation). */
size_t message_size_of(size_t exchange_len, size_t rkey_len, size_t props_len, uint64_t body_size,
		       unsigned flags);

#endif
