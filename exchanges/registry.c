/* registry.c — the exchange-type registry and the destination set.
 *
 * Types register by name at start-up (built-ins here, plugins through the
 * plugin ABI) and are looked up when an exchange is declared. The list is
 * short and read far more often than written, so it is a plain array. */
#include "exchanges/exchange.h"

#include <stdlib.h>

#include "util/xalloc.h"

/* Registered types, in registration order. Each points at static storage
 * owned by its module; the array itself lives until exit. */
static const struct exchange_type **types;
static size_t ntypes, captypes;

void dest_set_add(struct dest_set *s, struct binding *b)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 16;
		s->v = xrealloc(s->v, s->cap * sizeof *s->v);
	}
	s->v[s->n++] = b;
}

void dest_set_free(struct dest_set *s)
{
	free(s->v);
	*s = (struct dest_set){0};
}

/* Finds a registered type by its name as a byte view; NULL when absent. */
static const struct exchange_type *find(struct bytes name)
{
	for (size_t i = 0; i < ntypes; i++)
		if (bytes_eq(name, types[i]->name))
			return types[i];
	return NULL;
}

/* Besides a taken name or another version, a type missing any of its
 * functions is refused too: the core calls them without checking, and a
 * plugin is better told now than crashing on the first publish. */
int exchange_type_register(const struct exchange_type *t)
{
	if (!t || t->version != EXCHANGE_TYPE_VERSION || !t->name || !t->name[0])
		return -1;
	if (!t->create || !t->destroy || !t->bind || !t->unbind || !t->route)
		return -1;
	if (find(bytes_of(t->name)))
		return -1;
	if (ntypes == captypes) {
		captypes = captypes ? captypes * 2 : 8;
		types = xrealloc(types, captypes * sizeof *types);
	}
	types[ntypes++] = t;
	return 0;
}

const struct exchange_type *exchange_type_find(struct bytes name)
{
	return find(name);
}

const struct exchange_type *exchange_type_at(size_t i)
{
	return i < ntypes ? types[i] : NULL;
}

void exchange_types_init(void)
{
	/* A second call, or a plugin that took one of these names first,
	 * just makes the matching register() fail harmlessly. */
	exchange_type_register(&direct_type);
	exchange_type_register(&fanout_type);
	exchange_type_register(&topic_type);
	exchange_type_register(&headers_type);
}
