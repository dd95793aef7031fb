/* headers.c — the headers exchange type (AMQP 0-9-1 §3.1.3.4) with
 * RabbitMQ's rules (rabbit_exchange_type_headers, "Headers Exchange" in its
 * exchanges guide): bindings match on the message's header table, not on
 * the routing key.
 *
 * Design notes. bind() compiles the binding arguments into a matcher: the
 * mode from x-match ("all" by default, "any", "all-with-x", "any-with-x";
 * anything else, or a non-longstr, is refused with 406 as RabbitMQ does)
 * and the (key, value) pairs to test. Keys starting "x-" are left out
 * unless the mode is *-with-x, which leaves out only x-match itself. A void
 * value asks for the key's presence; any other must equal the header's
 * value by value (fvalue_equal: 'b' 5 equals 'l' 5). "all" with no pairs
 * matches everything, "any" with none nothing. route() decodes the
 * message's headers once into a sorted array (a repeated key: the last one
 * counts, as in RabbitMQ's map) and runs each matcher against it with
 * binary search. There is no index across bindings: every matcher runs. */
#include "exchanges/exchange.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/frame.h"
#include "protocol/table.h"
#include "util/xalloc.h"

/* One (key, value) pair to test. Both are views into the binding's own
 * args bytes, which the broker keeps until unbind. */
struct harg {
	struct bytes key;
	struct fvalue val;
};

/* A compiled binding: b->type_data, owned by the index from bind() to
 * unbind() (or destroy). */
struct hmatch {
	size_t slot; /* b's index in struct headers.v, for O(1) unbind */
	bool any;    /* any / any-with-x; otherwise all / all-with-x */
	uint32_t n;
	struct harg args[];
};

/* One message header during routing; `order` breaks ties so that the last
 * of a repeated key wins. */
struct hentry {
	struct bytes key;
	struct fvalue val;
	uint32_t order;
};

/* x->type_data; owned by the exchange, freed by destroy. */
struct headers {
	struct binding **v;
	size_t n, cap;
	struct hentry *hdr; /* route scratch, kept so routing stays malloc-free */
	size_t hcap;
};

static bool is_x_key(struct bytes k)
{
	return k.len >= 2 && k.p[0] == 'x' && k.p[1] == '-';
}


static int hentry_cmp(const void *pa, const void *pb)
{
	const struct hentry *a = pa, *b = pb;
	int c = bytes_cmp(a->key, b->key);
	if (c)
		return c;
	return (a->order > b->order) - (a->order < b->order);
}

static int headers_create(struct exchange *x, struct bytes args, const char **why)
{
	x->type_data = xcalloc(1, sizeof(struct headers));
	return 0;
}

static void headers_destroy(struct exchange *x)
{
	struct headers *h = x->type_data;
	if (!h)
		return;
	/* Bindings still bound keep living with the broker; only the
	 * matchers, which are ours, go. */
	for (size_t i = 0; i < h->n; i++) {
		free(h->v[i]->type_data);
		h->v[i]->type_data = NULL;
	}
	free(h->v);
	free(h->hdr);
	free(h);
	x->type_data = NULL;
}

/* Reads x-match into *any / *with_x. Returns 0, or 406 with *why. */
static int parse_mode(struct bytes args, bool *any, bool *with_x, const char **why)
{
	struct fvalue v;
	*any = *with_x = false;
	if (!table_get(args, "x-match", &v))
		return 0;
	if (v.type != 'S') {
		*why = "invalid x-match field type; expected longstr";
		return AMQP_PRECONDITION_FAILED;
	}
	if (bytes_eq(v.v.s, "all"))
		return 0;
	if (bytes_eq(v.v.s, "any"))
		*any = true;
	else if (bytes_eq(v.v.s, "all-with-x"))
		*with_x = true;
	else if (bytes_eq(v.v.s, "any-with-x"))
		*any = *with_x = true;
	else {
		*why = "invalid x-match field value; expected all, any, all-with-x, or any-with-x";
		return AMQP_PRECONDITION_FAILED;
	}
	return 0;
}

/* True when argument key k takes part in matching under the mode. */
static bool tested(struct bytes k, bool with_x)
{
	return with_x ? !bytes_eq(k, "x-match") : !is_x_key(k);
}

static int headers_bind(struct exchange *x, struct binding *b, const char **why)
{
	struct headers *h = x->type_data;
	bool any, with_x;
	int rc = parse_mode(b->args, &any, &with_x, why);
	if (rc)
		return rc;

	uint32_t n = 0;
	struct table_iter it = table_iter(b->args);
	struct bytes k;
	struct fvalue v;
	while (table_next(&it, &k, &v))
		n += tested(k, with_x);

	struct hmatch *hm = xmalloc(sizeof *hm + n * sizeof hm->args[0]);
	hm->any = any;
	hm->n = 0;
	it = table_iter(b->args);
	while (table_next(&it, &k, &v))
		if (tested(k, with_x))
			hm->args[hm->n++] = (struct harg){k, v};

	if (h->n == h->cap) {
		h->cap = h->cap ? h->cap * 2 : 8;
		h->v = xrealloc(h->v, h->cap * sizeof *h->v);
	}
	hm->slot = h->n;
	h->v[h->n++] = b;
	b->type_data = hm;
	return 0;
}

static void headers_unbind(struct exchange *x, struct binding *b)
{
	struct headers *h = x->type_data;
	struct hmatch *hm = b->type_data;
	if (!hm || hm->slot >= h->n || h->v[hm->slot] != b)
		return; /* not ours: unbind of an unbound binding is a no-op */
	size_t i = hm->slot;
	h->v[i] = h->v[--h->n];
	((struct hmatch *)h->v[i]->type_data)->slot = i;
	free(hm);
	b->type_data = NULL;
	if (h->n == 0) {
		free(h->v);
		h->v = NULL;
		h->cap = 0;
	}
}

/* Decodes table t into h->hdr, sorted by key with repeats resolved to the
 * last occurrence. Returns the number of entries. */
static size_t load_headers(struct headers *h, struct bytes t)
{
	size_t n = 0;
	struct table_iter it = table_iter(t);
	struct bytes k;
	struct fvalue v;
	while (table_next(&it, &k, &v)) {
		if (n == h->hcap) {
			h->hcap = h->hcap ? h->hcap * 2 : 16;
			h->hdr = xrealloc(h->hdr, h->hcap * sizeof *h->hdr);
		}
		h->hdr[n] = (struct hentry){k, v, (uint32_t)n};
		n++;
	}
	if (n < 2)
		return n;
	qsort(h->hdr, n, sizeof *h->hdr, hentry_cmp);
	size_t out = 0;
	for (size_t i = 0; i < n; i++)
		if (i + 1 == n || bytes_cmp(h->hdr[i].key, h->hdr[i + 1].key) != 0)
			h->hdr[out++] = h->hdr[i];
	return out;
}

static const struct hentry *lookup(const struct hentry *hdr, size_t n, struct bytes key)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = bytes_cmp(key, hdr[mid].key);
		if (c == 0)
			return &hdr[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

static bool matches(const struct hmatch *hm, const struct hentry *hdr, size_t nh)
{
	for (uint32_t i = 0; i < hm->n; i++) {
		const struct harg *a = &hm->args[i];
		const struct hentry *e = lookup(hdr, nh, a->key);
		bool ok = e && (a->val.type == 'V' || fvalue_equal(&a->val, &e->val));
		if (ok == hm->any)
			return ok; /* the first hit decides "any", the first miss "all" */
	}
	return !hm->any;
}

static void headers_route(struct exchange *x, const struct route_msg *m, struct dest_set *out)
{
	struct headers *h = x->type_data;
	if (h->n == 0)
		return;
	size_t nh = load_headers(h, m->headers);
	for (size_t i = 0; i < h->n; i++)
		if (matches(h->v[i]->type_data, h->hdr, nh))
			dest_set_add(out, h->v[i]);
}

/* The type table, registered as "headers" by exchange_types_init(). */
const struct exchange_type headers_type = {
	.version = EXCHANGE_TYPE_VERSION,
	.name = "headers",
	.create = headers_create,
	.destroy = headers_destroy,
	.bind = headers_bind,
	.unbind = headers_unbind,
	.route = headers_route,
};
