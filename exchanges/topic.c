/* topic.c — the topic exchange type (AMQP 0-9-1 §3.1.3.3) with RabbitMQ's
 * rules (rabbit_exchange_type_topic, rabbit_db_topic_exchange): keys are
 * words split on '.', empty words included, and the empty key has no words
 * at all; in a binding key '*' matches exactly one word and '#' zero or
 * more. "a..b" has three words; "#" matches ""; "*" does not.
 *
 * Design notes. The index is a trie with one node per pattern word: literal
 * words are edges in one hash per exchange (util/strmap) keyed by the
 * parent node's address and the word, as RabbitMQ's edge table is keyed
 * by node id and word; '*' and '#' hang off dedicated pointers, and a
 * binding sits on the node where its pattern ends. One table rather than
 * one per node: 100k bindings "a.N.#" give a node with 100k children and
 * 100k nodes with one each, and a per-node table would cost its 16 empty
 * slots (512 bytes) on each of those. A node with a single binding keeps
 * it inline, without an array. Routing
 * is a breadth-first walk, one step per key word, over the SET of nodes the
 * key prefix can have reached (an NFA simulation). A node reached through a
 * '#' edge stays in the set while it swallows words, and joining the set
 * brings its own '#' child along (zero words). Each node enters a set at
 * most once per step, marked with a per-step epoch, so a walk costs at most
 * words x nodes however many '#' a pattern has ("#.#.#.#.#.x" is linear in
 * the key), and each matching node (thus binding) is reported once.
 * Unbind prunes nodes left with no binding and no child, back to the root. */
#include "exchanges/exchange.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/strmap.h"
#include "util/xalloc.h"

enum edge { EDGE_ROOT, EDGE_WORD, EDGE_STAR, EDGE_HASH };

/* One trie node: the pattern prefix spelled by the edges from the root.
 * Owned by its parent (the root by struct topic). A literal child is in
 * the exchange's edge table under the key (parent address, word): the 8
 * octets of `parent` followed by `word`, which the struct lays out next
 * to each other, so the table borrows the key from the node itself.
 * Bound bindings are borrowed from the broker; each one's type_data is
 * its slot in v, for O(1) unbind. */
struct tnode {
	struct tnode *star, *hash; /* the '*' and '#' children */
	union {
		struct binding *one; /* n <= 1: the binding, or NULL */
		struct binding **v;  /* n >= 2: the bindings whose pattern ends
				      * here; room for max(4, n rounded up to a
				      * power of two) */
	} b;
	uint32_t seen;        /* epoch of the last walk step that added us */
	uint32_t n;           /* bindings */
	uint32_t nkids;       /* literal children, in the edge table */
	uint32_t len : 30;    /* of word */
	uint32_t edge : 2;    /* enum edge: how the parent reaches us */
	struct tnode *parent; /* the edge key starts here ... */
	char word[];          /* ... and goes on here: the literal word (EDGE_WORD) */
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
	struct strmap edges; /* (parent, word) -> literal child */
	uint32_t epoch;      /* of the last walk step; see next_epoch */
	struct tset cur, next;
	uint8_t *key; /* scratch for an edge key */
	size_t key_cap;
};

/* The edge key of a node: its parent's address, then its word. */
static const void *edge_key(const struct tnode *n)
{
	return &n->parent;
}

static size_t edge_len(const struct tnode *n)
{
	return sizeof n->parent + n->len;
}

/* Binding j (< n->n) of node n. */
static struct binding *node_binding(const struct tnode *n, size_t j)
{
	return n->n >= 2 ? n->b.v[j] : n->b.one;
}

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

_Static_assert(offsetof(struct tnode, word) ==
		       offsetof(struct tnode, parent) + sizeof(struct tnode *),
	       "the edge key is parent then word, with nothing between");

static struct tnode *node_new(struct tnode *parent, enum edge e, struct bytes w)
{
	size_t wl = e == EDGE_WORD ? w.len : 0;
	struct tnode *n = xcalloc(1, sizeof *n + wl + 1);
	n->parent = parent;
	n->edge = (uint32_t)e;
	n->len = (uint32_t)wl;
	if (wl)
		memcpy(n->word, w.p, wl);
	return n;
}

static void node_free(struct tnode *n)
{
	if (n->n >= 2)
		free(n->b.v);
	free(n);
}

/* Frees n and its '*' and '#' descendants reached through '*' and '#'
 * edges only; literal children are in the edge table and freed from
 * there. Recursion depth is bounded by the pattern length in words. */
static void node_free_wild(struct tnode *n)
{
	if (!n)
		return;
	node_free_wild(n->star);
	node_free_wild(n->hash);
	node_free(n);
}

/* Fills t->key with the edge key (n, w) and returns its length. */
static size_t make_key(struct topic *t, const struct tnode *n, struct bytes w)
{
	size_t len = sizeof n + w.len;
	if (len > t->key_cap) {
		t->key_cap = len < 64 ? 64 : len * 2;
		t->key = xrealloc(t->key, t->key_cap);
	}
	memcpy(t->key, &n, sizeof n);
	if (w.len)
		memcpy(t->key + sizeof n, w.p, w.len);
	return len;
}

/* The literal child of n along word w, or NULL. */
static struct tnode *kid(struct topic *t, const struct tnode *n, struct bytes w)
{
	if (!n->nkids)
		return NULL;
	size_t len = make_key(t, n, w);
	return strmap_get(&t->edges, t->key, len);
}

/* The child of n along pattern word w, or NULL. */
static struct tnode *child(struct topic *t, struct tnode *n, struct bytes w)
{
	switch (word_kind(w)) {
	case EDGE_STAR: return n->star;
	case EDGE_HASH: return n->hash;
	default: return kid(t, n, w);
	}
}

/* Same, creating the child when missing. */
static struct tnode *child_make(struct topic *t, struct tnode *n, struct bytes w)
{
	struct tnode *c = child(t, n, w);
	if (c)
		return c;
	enum edge e = word_kind(w);
	c = node_new(n, e, w);
	if (e == EDGE_STAR) {
		n->star = c;
	} else if (e == EDGE_HASH) {
		n->hash = c;
	} else {
		strmap_put(&t->edges, edge_key(c), edge_len(c), c);
		n->nkids++;
	}
	return c;
}

/* The node where binding key `key` ends, or NULL when it is not in the trie. */
static struct tnode *node_find(struct topic *t, const char *key, uint32_t len)
{
	struct tnode *n = t->root;
	struct words it = words_of(key, len);
	struct bytes w;
	while (n && next_word(&it, &w))
		n = child(t, n, w);
	return n;
}

/* Frees n and its ancestors while they hold nothing, detaching each from
 * its parent, so the trie never keeps nodes for patterns no longer bound. */
static void prune(struct topic *t, struct tnode *n)
{
	while (n != t->root && n->n == 0 && n->nkids == 0 && !n->star && !n->hash) {
		struct tnode *p = n->parent;
		if (n->edge == EDGE_STAR) {
			p->star = NULL;
		} else if (n->edge == EDGE_HASH) {
			p->hash = NULL;
		} else {
			strmap_del(&t->edges, edge_key(n), edge_len(n));
			if (t->edges.n == 0)
				strmap_free(&t->edges); /* keep no empty slot array around */
			p->nkids--;
		}
		node_free(n);
		n = p;
	}
}

static int topic_create(struct exchange *x, struct bytes args, const char **why)
{
	struct topic *t = xcalloc(1, sizeof *t);
	t->root = node_new(NULL, EDGE_ROOT, (struct bytes){0});
	t->key_cap = 64; /* room for any key of words up to 56 octets */
	t->key = xmalloc(t->key_cap);
	x->type_data = t;
	return 0;
}

static void topic_destroy(struct exchange *x)
{
	struct topic *t = x->type_data;
	if (!t)
		return;
	/* Every node is the root, a literal child (in the table) or reached
	 * from one of those through '*' and '#' edges. */
	void *val;
	for (size_t i = 0; strmap_next(&t->edges, &i, &val);) {
		struct tnode *n = val;
		node_free_wild(n->star);
		node_free_wild(n->hash);
		node_free(n);
	}
	node_free_wild(t->root);
	strmap_free(&t->edges);
	free(t->cur.v);
	free(t->next.v);
	free(t->key);
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
		n = child_make(t, n, w);
	b->type_data = (void *)(uintptr_t)n->n;
	if (n->n == 0) {
		n->b.one = b;   /* the common case: one binding per pattern */
	} else if (n->n == 1) { /* the second: from inline to an array */
		struct binding *first = n->b.one;
		n->b.v = xmalloc(4 * sizeof *n->b.v);
		n->b.v[0] = first;
		n->b.v[1] = b;
	} else {
		if (n->n >= 4 && !(n->n & (n->n - 1))) /* full: n is its room */
			n->b.v = xrealloc(n->b.v, 2 * (size_t)n->n * sizeof *n->b.v);
		n->b.v[n->n] = b;
	}
	n->n++;
	return 0;
}

static void topic_unbind(struct exchange *x, struct binding *b)
{
	struct topic *t = x->type_data;
	struct tnode *n = node_find(t, b->key, b->key_len);
	size_t i = (uintptr_t)b->type_data;
	if (!n || i >= n->n || node_binding(n, i) != b)
		return; /* not ours: unbind of an unbound binding is a no-op */
	b->type_data = NULL;
	if (n->n == 1) {
		n->b.one = NULL;
	} else if (n->n == 2) { /* back to inline */
		struct binding *keep = n->b.v[1 - i];
		free(n->b.v);
		n->b.one = keep;
		keep->type_data = (void *)(uintptr_t)0;
	} else {
		n->b.v[i] = n->b.v[n->n - 1];
		n->b.v[i]->type_data = (void *)(uintptr_t)i;
	}
	/* The room stays as it is: it is at least n rounded up, which is all
	 * topic_bind assumes. */
	if (--n->n == 0)
		prune(t, n);
}

/* The epoch of a new walk step. Marks are 32 bits (a node fits 48
 * bytes); when they wrap, every mark goes back to 0 first, so no node
 * carries a mark from 2^32 steps ago that looks like this step's. */
static void clear_seen(struct tnode *n)
{
	for (; n; n = n->hash) {
		n->seen = 0;
		clear_seen(n->star);
	}
}

static uint32_t next_epoch(struct topic *t)
{
	if (++t->epoch == 0) {
		void *val;
		for (size_t i = 0; strmap_next(&t->edges, &i, &val);)
			clear_seen(val);
		clear_seen(t->root);
		t->epoch = 1;
	}
	return t->epoch;
}

/* Adds n to s unless this step already did, together with the chain of
 * '#' children below it: each of those matches zero words right here. */
static void tset_add(struct tset *s, struct tnode *n, uint32_t epoch)
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
	tset_add(&t->cur, t->root, next_epoch(t));
	while (t->cur.n && next_word(&it, &w)) {
		uint32_t e = next_epoch(t);
		t->next.n = 0;
		for (size_t i = 0; i < t->cur.n; i++) {
			struct tnode *n = t->cur.v[i];
			tset_add(&t->next, kid(t, n, w), e);
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
			dest_set_add(out, node_binding(n, j));
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
