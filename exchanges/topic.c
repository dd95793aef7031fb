/* topic.c — the topic exchange type (AMQP 0-9-1 §3.1.3.3) with RabbitMQ's
 * rules (rabbit_exchange_type_topic, rabbit_db_topic_exchange): keys are
 * words split on '.', empty words included, and the empty key has no words
 * at all; in a binding key '*' matches exactly one word and '#' zero or
 * more. "a..b" has three words; "#" matches ""; "*" does not.
 *
 * Design notes. The index is a trie with one node per pattern word: literal
 * words hang off a per-node hash (util/strmap), '*' and '#' off dedicated
 * pointers, and a binding sits on the node where its pattern ends. Routing
 * is a breadth-first walk, one step per key word, over the SET of nodes the
 * key prefix can have reached (an NFA simulation). A node reached through a
 * '#' edge stays in the set while it swallows words, and joining the set
 * brings its own '#' child along (zero words). Each node enters a set at
 * most once per step, marked with a per-step epoch, so a walk costs at most
 * words x nodes however many '#' a pattern has ("#.#.#.#.#.x" is linear in
 * the key), and each matching node (thus binding) is reported once.
 * Unbind prunes nodes left with no binding and no child, back to the root. */
#include "exchanges/exchange.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/strmap.h"
#include "util/xalloc.h"

enum edge { EDGE_ROOT, EDGE_WORD, EDGE_STAR, EDGE_HASH };

/* One trie node: the pattern prefix spelled by the edges from the root.
 * Owned by its parent (the root by struct topic); the parent's strmap
 * borrows `word`, which lives inline. Bound bindings are borrowed from the
 * broker; each one's type_data is its slot in v, for O(1) unbind. */
struct tnode {
	struct tnode *parent;
	struct strmap kids;        /* literal word -> child */
	struct tnode *star, *hash; /* the '*' and '#' children */
	struct binding **v;        /* bindings whose pattern ends here */
	size_t n, cap;
	uint64_t seen;  /* epoch of the last walk step that added us */
	enum edge edge; /* how the parent reaches us */
	uint32_t len;
	char word[]; /* the literal word for EDGE_WORD */
};

/* A set of nodes during a walk: scratch kept between routes so routing
 * allocates nothing once warm. */
struct tset {
	struct tnode **v;
	size_t n, cap;
};

/* x->type_data; owned by the exchange, freed by destroy. */
struct topic {
	struct tnode *root;
	uint64_t epoch;
	struct tset cur, next;
};

/* Cursor over the words of a key. RabbitMQ splits with binary:split on '.'
 * except that the empty key is no words (not one empty word). */
struct words {
	const uint8_t *p, *end;
	bool more;
};

static struct words words_of(const void *key, size_t len)
{
	const uint8_t *p = key;
	return (struct words){p, p + len, len > 0};
}

/* Returns 1 and the next word as a view, or 0 after the last. */
static int next_word(struct words *it, struct bytes *w)
{
	if (!it->more)
		return 0;
	const uint8_t *dot = memchr(it->p, '.', (size_t)(it->end - it->p));
	if (dot) {
		*w = (struct bytes){it->p, (uint32_t)(dot - it->p)};
		it->p = dot + 1; /* a trailing dot still leaves one empty word */
	} else {
		*w = (struct bytes){it->p, (uint32_t)(it->end - it->p)};
		it->more = false;
	}
	return 1;
}

static enum edge word_kind(struct bytes w)
{
	if (w.len == 1 && w.p[0] == '*')
		return EDGE_STAR;
	if (w.len == 1 && w.p[0] == '#')
		return EDGE_HASH;
	return EDGE_WORD;
}

static struct tnode *node_new(struct tnode *parent, enum edge e, struct bytes w)
{
	struct tnode *n = xcalloc(1, sizeof *n + w.len + 1);
	n->parent = parent;
	n->edge = e;
	if (e == EDGE_WORD) {
		n->len = w.len;
		if (w.len)
			memcpy(n->word, w.p, w.len);
	}
	return n;
}

/* Frees n and everything below it. Recursion depth is the pattern length
 * in words, bounded by the 255-octet shortstr a binding key arrives in. */
static void node_free_tree(struct tnode *n)
{
	if (!n)
		return;
	void *val;
	for (size_t i = 0; strmap_next(&n->kids, &i, &val);)
		node_free_tree(val);
	node_free_tree(n->star);
	node_free_tree(n->hash);
	strmap_free(&n->kids);
	free(n->v);
	free(n);
}

/* The child of n along pattern word w, or NULL. */
static struct tnode *child(struct tnode *n, struct bytes w)
{
	switch (word_kind(w)) {
	case EDGE_STAR: return n->star;
	case EDGE_HASH: return n->hash;
	default: return n->kids.n ? strmap_get(&n->kids, w.p, w.len) : NULL;
	}
}

/* Same, creating the child when missing. */
static struct tnode *child_make(struct tnode *n, struct bytes w)
{
	struct tnode *c = child(n, w);
	if (c)
		return c;
	enum edge e = word_kind(w);
	c = node_new(n, e, w);
	if (e == EDGE_STAR)
		n->star = c;
	else if (e == EDGE_HASH)
		n->hash = c;
	else
		strmap_put(&n->kids, c->word, c->len, c);
	return c;
}

/* The node where binding key `key` ends, or NULL when it is not in the trie. */
static struct tnode *node_find(struct topic *t, const char *key, uint32_t len)
{
	struct tnode *n = t->root;
	struct words it = words_of(key, len);
	struct bytes w;
	while (n && next_word(&it, &w))
		n = child(n, w);
	return n;
}

/* Frees n and its ancestors while they hold nothing, detaching each from
 * its parent, so the trie never keeps nodes for patterns no longer bound. */
static void prune(struct topic *t, struct tnode *n)
{
	while (n != t->root && n->n == 0 && n->kids.n == 0 && !n->star && !n->hash) {
		struct tnode *p = n->parent;
		if (n->edge == EDGE_STAR)
			p->star = NULL;
		else if (n->edge == EDGE_HASH)
			p->hash = NULL;
		else if (strmap_del(&p->kids, n->word, n->len) && p->kids.n == 0)
			strmap_free(&p->kids); /* keep no empty slot array around */
		strmap_free(&n->kids);
		free(n->v);
		free(n);
		n = p;
	}
}

static int topic_create(struct exchange *x, struct bytes args, const char **why)
{
	struct topic *t = xcalloc(1, sizeof *t);
	t->root = node_new(NULL, EDGE_ROOT, (struct bytes){0});
	x->type_data = t;
	return 0;
}

static void topic_destroy(struct exchange *x)
{
	struct topic *t = x->type_data;
	if (!t)
		return;
	node_free_tree(t->root);
	free(t->cur.v);
	free(t->next.v);
	free(t);
	x->type_data = NULL;
}

/* Every pattern is accepted: RabbitMQ releases up to 4.x take any key (the
 * newest cap '#' at two per key; the walk below has no need to). */
static int topic_bind(struct exchange *x, struct binding *b, const char **why)
{
	struct topic *t = x->type_data;
	struct tnode *n = t->root;
	struct words it = words_of(b->key, b->key_len);
	struct bytes w;
	while (next_word(&it, &w))
		n = child_make(n, w);
	if (n->n == n->cap) {
		n->cap = n->cap ? n->cap * 2 : 2;
		n->v = xrealloc(n->v, n->cap * sizeof *n->v);
	}
	b->type_data = (void *)(uintptr_t)n->n;
	n->v[n->n++] = b;
	return 0;
}

static void topic_unbind(struct exchange *x, struct binding *b)
{
	struct topic *t = x->type_data;
	struct tnode *n = node_find(t, b->key, b->key_len);
	size_t i = (uintptr_t)b->type_data;
	if (!n || i >= n->n || n->v[i] != b)
		return; /* not ours: unbind of an unbound binding is a no-op */
	n->v[i] = n->v[--n->n];
	n->v[i]->type_data = (void *)(uintptr_t)i;
	b->type_data = NULL;
	if (n->n == 0) {
		free(n->v);
		n->v = NULL;
		n->cap = 0;
		prune(t, n);
	}
}

/* Adds n to s unless this step already did, together with the chain of
 * '#' children below it: each of those matches zero words right here. */
static void tset_add(struct tset *s, struct tnode *n, uint64_t epoch)
{
	for (; n && n->seen != epoch; n = n->hash) {
		n->seen = epoch;
		if (s->n == s->cap) {
			s->cap = s->cap ? s->cap * 2 : 16;
			s->v = xrealloc(s->v, s->cap * sizeof *s->v);
		}
		s->v[s->n++] = n;
	}
}

static void topic_route(struct exchange *x, const struct route_msg *m, struct dest_set *out)
{
	struct topic *t = x->type_data;
	struct words it = words_of(m->routing_key.p, m->routing_key.len);
	struct bytes w;

	t->cur.n = 0;
	tset_add(&t->cur, t->root, ++t->epoch);
	while (t->cur.n && next_word(&it, &w)) {
		uint64_t e = ++t->epoch;
		t->next.n = 0;
		for (size_t i = 0; i < t->cur.n; i++) {
			struct tnode *n = t->cur.v[i];
			if (n->kids.n)
				tset_add(&t->next, strmap_get(&n->kids, w.p, w.len), e);
			tset_add(&t->next, n->star, e);
			if (n->edge == EDGE_HASH)
				tset_add(&t->next, n, e); /* '#' takes one more word */
		}
		struct tset tmp = t->cur;
		t->cur = t->next;
		t->next = tmp;
	}
	/* If words were left over, the set ran dry and this adds nothing. */
	for (size_t i = 0; i < t->cur.n; i++) {
		struct tnode *n = t->cur.v[i];
		for (size_t j = 0; j < n->n; j++)
			dest_set_add(out, n->v[j]);
	}
}

/* The type table, registered as "topic" by exchange_types_init(). */
const struct exchange_type topic_type = {
	.version = EXCHANGE_TYPE_VERSION,
	.name = "topic",
	.create = topic_create,
	.destroy = topic_destroy,
	.bind = topic_bind,
	.unbind = topic_unbind,
	.route = topic_route,
};
