/* direct.c — the direct exchange type (AMQP 0-9-1 §3.1.3.1): a binding
 * matches when its key equals the message's routing key, byte for byte.
 *
 * The index is a hash (util/strmap) from key to the list of bindings with
 * that key, so routing costs one lookup however many bindings there are. */
#include "exchanges/exchange.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/strmap.h"
#include "util/xalloc.h"

/* The bindings sharing one routing key. Owned by the index; the strmap
 * borrows `key`, which lives inline here so it outlasts any one binding.
 * Each binding's type_data is its slot in v, for O(1) unbind. */
struct dkey {
	struct binding **v;
	size_t n, cap;
	uint32_t len;
	char key[];
};

/* x->type_data; owned by the exchange, freed by destroy. */
struct direct {
	struct strmap keys; /* routing key -> struct dkey */
};

static int direct_create(struct exchange *x, struct bytes args, const char **why)
{
	x->type_data = xcalloc(1, sizeof(struct direct));
	return 0;
}

static void direct_destroy(struct exchange *x)
{
	struct direct *d = x->type_data;
	if (!d)
		return;
	void *val;
	for (size_t i = 0; strmap_next(&d->keys, &i, &val);) {
		struct dkey *k = val;
		free(k->v);
		free(k);
	}
	strmap_free(&d->keys);
	free(d);
	x->type_data = NULL;
}

static int direct_bind(struct exchange *x, struct binding *b, const char **why)
{
	struct direct *d = x->type_data;
	struct dkey *k = strmap_get(&d->keys, b->key, b->key_len);
	if (!k) {
		k = xcalloc(1, sizeof *k + b->key_len + 1);
		k->len = b->key_len;
		memcpy(k->key, b->key, b->key_len);
		strmap_put(&d->keys, k->key, k->len, k);
	}
	if (k->n == k->cap) {
		k->cap = k->cap ? k->cap * 2 : 4;
		k->v = xrealloc(k->v, k->cap * sizeof *k->v);
	}
	b->type_data = (void *)(uintptr_t)k->n;
	k->v[k->n++] = b;
	return 0;
}

static void direct_unbind(struct exchange *x, struct binding *b)
{
	struct direct *d = x->type_data;
	struct dkey *k = strmap_get(&d->keys, b->key, b->key_len);
	size_t i = (uintptr_t)b->type_data;
	if (!k || i >= k->n || k->v[i] != b)
		return; /* not ours: unbind of an unbound binding is a no-op */
	k->v[i] = k->v[--k->n];
	k->v[i]->type_data = (void *)(uintptr_t)i;
	b->type_data = NULL;
	if (k->n == 0) {
		/* Keys come and go with queues (RPC reply queues, per-client
		 * keys); an empty entry would leak for the exchange's life. */
		strmap_del(&d->keys, k->key, k->len);
		free(k->v);
		free(k);
	}
}

static void direct_route(struct exchange *x, const struct route_msg *m, struct dest_set *out)
{
	struct direct *d = x->type_data;
	/* An empty view may carry a NULL pointer, which memcmp must not see. */
	const void *key = m->routing_key.len ? (const void *)m->routing_key.p : "";
	struct dkey *k = strmap_get(&d->keys, key, m->routing_key.len);
	if (!k)
		return;
	for (size_t i = 0; i < k->n; i++)
		dest_set_add(out, k->v[i]);
}

/* The type table, registered as "direct" by exchange_types_init(). */
const struct exchange_type direct_type = {
	.version = EXCHANGE_TYPE_VERSION,
	.name = "direct",
	.create = direct_create,
	.destroy = direct_destroy,
	.bind = direct_bind,
	.unbind = direct_unbind,
	.route = direct_route,
};
