/* exchange.h — exchanges and the exchange-type interface (routing only).
 *
 * An exchange type is a table of functions, in the shape of SQLite's
 * sqlite3_io_methods, registered by name. Each type keeps its own index of
 * the bindings whose source is the exchange (a hash for direct, a trie for
 * topic, compiled matchers for headers) and, given a message, adds the
 * matching bindings to a destination set. It knows nothing of queues: a
 * binding's destination is opaque here. The broker owns exchanges and
 * bindings, deduplicates destinations, follows exchange-to-exchange
 * bindings and alternate exchanges, and handles `mandatory`. */
#ifndef TERN_EXCHANGES_EXCHANGE_H
#define TERN_EXCHANGES_EXCHANGE_H

#include "protocol/wire.h"

struct exchange;

enum binding_dest { DEST_QUEUE, DEST_EXCHANGE };

/* A binding from a source exchange to a queue or exchange.
 * Owned by the broker; the type's index only points at it between bind()
 * and unbind(). */
struct binding {
	struct exchange *source;
	enum binding_dest kind;
	void *dest;           /* struct queue * or struct exchange *, opaque here */
	char *key;            /* routing key, NUL-terminated, owned */
	uint32_t key_len;
	uint32_t src_slot;    /* the broker's: its index in the source's list */
	struct bytes args;    /* binding arguments, encoded table, owned copy */
	void *type_data;      /* the type's per-binding state (e.g. a matcher) */
};

/* What routing looks at in a message. */
struct route_msg {
	struct bytes routing_key;
	struct bytes headers; /* encoded table, empty when absent */
};

/* A growing set of matched bindings; the caller clears and reuses it. */
struct dest_set {
	struct binding **v;
	size_t n, cap;
};
void dest_set_add(struct dest_set *s, struct binding *b);
void dest_set_free(struct dest_set *s);

#define EXCHANGE_TYPE_VERSION 1

struct exchange_type {
	int version;      /* EXCHANGE_TYPE_VERSION */
	const char *name; /* "direct", "topic", ... */
	/* Checks the declare arguments this type understands and sets up
	 * x->type_data. Returns 0 or a reply code (406 for bad arguments);
	 * *why then points at a static explanation. */
	int (*create)(struct exchange *x, struct bytes args, const char **why);
	void (*destroy)(struct exchange *x);
	/* Validates b's arguments and adds b to the index. Returns 0 or a
	 * reply code with *why, leaving the index unchanged. */
	int (*bind)(struct exchange *x, struct binding *b, const char **why);
	/* Removes b from the index (b was bound). */
	void (*unbind)(struct exchange *x, struct binding *b);
	/* Adds every binding that m matches to out (duplicates allowed). */
	void (*route)(struct exchange *x, const struct route_msg *m, struct dest_set *out);
};

/* Fields every exchange has. The broker embeds this as the first member
 * of its own exchange record, or uses it as is. */
struct exchange {
	char *name;
	const struct exchange_type *type;
	void *type_data;
};

/* Registers a type (static storage, lives forever). Returns 0, or -1 when
 * the name is taken or the version is not understood. */
int exchange_type_register(const struct exchange_type *t);

/* Looks up a registered type by name; NULL when unknown. */
const struct exchange_type *exchange_type_find(struct bytes name);

/* The i-th registered type in registration order, NULL past the last
 * (lists of the types, as the management API's exchange_types). */
const struct exchange_type *exchange_type_at(size_t i);

/* Registers the built-in types: direct, fanout, topic, headers. Idempotent. */
void exchange_types_init(void);

extern const struct exchange_type direct_type, fanout_type, topic_type, headers_type;

#endif
