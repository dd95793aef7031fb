/* fanout.c — the fanout exchange type (AMQP 0-9-1 §3.1.3.2): every binding
 * matches, whatever the routing key and headers.
 *
 * The index is an array of the bindings; each binding's type_data holds its
 * slot number so unbind is O(1) (swap with the last, fix that one's slot). */
#include "exchanges/exchange.h"

#include <stdint.h>
#include <stdlib.h>

#include "util/xalloc.h"

/* x->type_data; owned by the exchange, freed by destroy. */
struct fanout {
	struct binding **v;
	size_t n, cap;
};

static int fanout_create(struct exchange *x, struct bytes args, const char **why)
{
	x->type_data = xcalloc(1, sizeof(struct fanout));
	return 0;
}

static void fanout_destroy(struct exchange *x)
{
	struct fanout *f = x->type_data;
	if (!f)
		return;
	free(f->v);
	free(f);
	x->type_data = NULL;
}

static int fanout_bind(struct exchange *x, struct binding *b, const char **why)
{
	struct fanout *f = x->type_data;
	if (f->n == f->cap) {
		f->cap = f->cap ? f->cap * 2 : 8;
		f->v = xrealloc(f->v, f->cap * sizeof *f->v);
	}
	b->type_data = (void *)(uintptr_t)f->n;
	f->v[f->n++] = b;
	return 0;
}

static void fanout_unbind(struct exchange *x, struct binding *b)
{
	struct fanout *f = x->type_data;
	size_t i = (uintptr_t)b->type_data;
	if (i >= f->n || f->v[i] != b)
		return; /* not ours: unbind of an unbound binding is a no-op */
	f->v[i] = f->v[--f->n];
	f->v[i]->type_data = (void *)(uintptr_t)i;
	b->type_data = NULL;
	if (f->n == 0) {
		/* An exchange whose bindings all went keeps no memory around. */
		free(f->v);
		f->v = NULL;
		f->cap = 0;
	}
}

static void fanout_route(struct exchange *x, const struct route_msg *m, struct dest_set *out)
{
	struct fanout *f = x->type_data;
	for (size_t i = 0; i < f->n; i++)
		dest_set_add(out, f->v[i]);
}

/* The type table, registered as "fanout" by exchange_types_init(). */
const struct exchange_type fanout_type = {
	.version = EXCHANGE_TYPE_VERSION,
	.name = "fanout",
	.create = fanout_create,
	.destroy = fanout_destroy,
	.bind = fanout_bind,
	.unbind = fanout_unbind,
	.route = fanout_route,
};
