/* check_topic.c — unit tests for exchanges/topic.c: RabbitMQ's topic rules
 * as {pattern, key, expect} rows ('*', '#', empty words, leading and
 * trailing dots, wildcards in keys as literals), bindings sharing trie
 * nodes and patterns, unbind then re-route, '#'-heavy patterns against long
 * keys (which must not blow up), a randomized comparison with a reference
 * matcher, 10,000 bindings bound and unbound leaving no memory behind, one
 * pattern bound 0..40 times, and 30,000 distinct mixed-wildcard patterns
 * each reached by its own key only. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exchanges/exchange.h"
#include "tests/unit/heap.h"
#include "util/xalloc.h"

static int dests[64]; /* fake queues: bindings point at these */

static struct binding *bnew(const char *key, void *dest)
{
	struct binding *b = xcalloc(1, sizeof *b);
	b->kind = DEST_QUEUE;
	b->dest = dest;
	b->key = xstrdup(key);
	b->key_len = (uint32_t)strlen(key);
	return b;
}

static void bfree(struct binding *b)
{
	free(b->key);
	free(b);
}

static struct exchange xnew(void)
{
	struct exchange x = {.name = "t", .type = &topic_type};
	const char *why = NULL;
	ck_assert_int_eq(topic_type.create(&x, (struct bytes){0}, &why), 0);
	return x;
}

static void bind_ok(struct exchange *x, struct binding *b)
{
	const char *why = NULL;
	ck_assert_int_eq(topic_type.bind(x, b, &why), 0);
}

/* Routes key through x into a fresh set; the caller frees it. */
static struct dest_set route(struct exchange *x, const char *key)
{
	struct dest_set s = {0};
	struct route_msg m = {.routing_key = bytes_of(key)};
	topic_type.route(x, &m, &s);
	return s;
}

/* How many times b appears in s. */
static int count(const struct dest_set *s, const struct binding *b)
{
	int n = 0;
	for (size_t i = 0; i < s->n; i++)
		n += s->v[i] == b;
	return n;
}

/* ---- pattern rows ---- */

static const struct row {
	const char *pattern, *key;
	int expect;
} rows[] = {
	/* literals */
	{"a.b.c", "a.b.c", 1},
	{"a.b.c", "a.b", 0},
	{"a.b", "a.b.c", 0},
	{"A.b", "a.b", 0},       /* case matters */
	{"café.*", "café.x", 1}, /* words are bytes */
	/* '*': exactly one word */
	{"a.*.c", "a.b.c", 1},
	{"a.*.c", "a.c", 0},
	{"a.*.c", "a.b.b.c", 0},
	{"*", "a", 1},
	{"*", "", 0}, /* the empty key has no words */
	{"*", "a.b", 0},
	{"*", ".", 0}, /* "." is two empty words */
	{"*.*", "a", 0},
	{"*.*", "a.b", 1},
	{"*.*", ".", 1},
	/* '#': zero or more words */
	{"#", "", 1},
	{"#", "a", 1},
	{"#", "a.b.c", 1},
	{"#", ".", 1},
	{"a.#", "a", 1},
	{"a.#", "a.b", 1},
	{"a.#", "a.b.c", 1},
	{"a.#", "b.a", 0},
	{"a.#", "ab", 0},
	{"#.a", "a", 1},
	{"#.a", "x.y.a", 1},
	{"#.a", "a.x", 0},
	{"a.#.b", "a.b", 1},
	{"a.#.b", "a.x.y.b", 1},
	{"a.#.b", "a.x.y.c", 0},
	{"#.a.#", "a", 1},
	{"#.a.#", "x.a.y", 1},
	{"#.a.#", "x.b.y", 0},
	{"#.#", "", 1},
	{"#.#", "a.b", 1},
	{"#.*", "", 0},
	{"#.*", "a", 1},
	{"#.*", "a.b.c", 1},
	{"*.#", "", 0},
	{"*.#", "a", 1},
	{"*.#", "a.b", 1},
	{"*.#.*", "a", 0},
	{"*.#.*", "a.b", 1},
	{"*.#.*", "a.b.c.d", 1},
	/* empty words, leading and trailing dots */
	{"a..b", "a..b", 1},
	{"a.*.b", "a..b", 1},
	{"a.b", "a..b", 0},
	{"a..b", "a.b", 0},
	{"", "", 1},
	{"", "a", 0},
	{"a", "", 0},
	{".", ".", 1},
	{".", "", 0},
	{"*.", "a.", 1},
	{"*.", "a", 0},
	{".*", ".a", 1},
	{".*", "a", 0},
	{"a.", "a", 0},
	{"a.", "a.", 1},
	{"#.", "a.", 1},
	{"#.", "", 0},
	{"#.", ".", 1},
	{".#", "", 0},
	{".#", ".x.y", 1},
	{"..", "..", 1},
	{"*.*.*", "..", 1},
	/* wildcards inside words, and in keys, are literal */
	{"a*", "ab", 0},
	{"a*", "a*", 1},
	{"a#", "a.b", 0},
	{"a.#", "a*", 0},
	{"*", "*", 1},
	{"#", "#", 1},
	{"a.b", "a.*", 0},
	{"a.*", "a.*", 1},
	/* many '#' */
	{"#.#.#.#.#.x", "a.b.c.d.e.f.g.h.x", 1},
	{"#.#.#.#.#.x", "a.b.c.d.e.f.g.h.y", 0},
	{"#.#.#.#.#.x", "x", 1},
	{"#.*.#.*.#", "a", 0},
	{"#.*.#.*.#", "a.b", 1},
	/* more '#' and empty-word edges (each checked against RabbitMQ
	 * 3.10.8: one queue bound, one message published, message_count) */
	{"a.#.#.b", "a.b", 1},
	{"#.b.#", "b", 1},
	{"a.*.#", "a", 0},
	{"a.*.#", "a.b", 1},
	{"#.#.a", ".a", 1},
	{"*..*", "a..b", 1},
	{"a.#", "a.", 1},
	{"#.a", ".a", 1},
	{"a.#.b", "a.b.b", 1},
	{"a.#.b", "a.b.c", 0},
	{"#.#", "..", 1},
	{"*.#.*", "a.", 1},
};

#define NROWS ((int)(sizeof rows / sizeof rows[0]))

START_TEST(test_row)
{
	const struct row *r = &rows[_i];
	struct exchange x = xnew();
	struct binding *b = bnew(r->pattern, &dests[0]);
	bind_ok(&x, b);
	struct dest_set s = route(&x, r->key);
	ck_assert_msg((int)s.n == r->expect, "pattern '%s' key '%s': %zu matches, want %d",
		      r->pattern, r->key, s.n, r->expect);
	dest_set_free(&s);
	/* Unbinding empties the trie again: nothing may match after. */
	topic_type.unbind(&x, b);
	s = route(&x, r->key);
	ck_assert_uint_eq(s.n, 0);
	dest_set_free(&s);
	topic_type.destroy(&x);
	ck_assert_ptr_null(x.type_data);
	bfree(b);
}
END_TEST

/* Every row at once in one exchange: shared nodes must not leak matches
 * between patterns. */
START_TEST(test_rows_together)
{
	struct exchange x = xnew();
	struct binding *b[NROWS];
	for (int i = 0; i < NROWS; i++) {
		b[i] = bnew(rows[i].pattern, &dests[i % 64]);
		bind_ok(&x, b[i]);
	}
	for (int i = 0; i < NROWS; i++) {
		struct dest_set s = route(&x, rows[i].key);
		ck_assert_msg(count(&s, b[i]) == rows[i].expect, "row %d '%s' / '%s'", i,
			      rows[i].pattern, rows[i].key);
		for (int j = 0; j < NROWS; j++)
			ck_assert_int_le(count(&s, b[j]), 1); /* never twice */
		dest_set_free(&s);
	}
	for (int i = 0; i < NROWS; i++) {
		topic_type.unbind(&x, b[i]);
		bfree(b[i]);
	}
	topic_type.destroy(&x);
}
END_TEST

/* ---- shared nodes, shared patterns, unbind ---- */

START_TEST(test_shared_nodes)
{
	static const char *pats[] = {"a.b.c", "a.b.*",   "a.#",     "#",   "a.*.c", "*.b.c",
				     "a.b",   "a.b.c.#", "a.b.c.d", "#.c", "b.#"};
	enum { N = sizeof pats / sizeof pats[0] };
	/* expected matches for key "a.b.c", per pattern above */
	static const int want[N] = {1, 1, 1, 1, 1, 1, 0, 1, 0, 1, 0};
	struct exchange x = xnew();
	struct binding *b[N];
	for (int i = 0; i < N; i++) {
		b[i] = bnew(pats[i], &dests[i]);
		bind_ok(&x, b[i]);
	}
	struct dest_set s = route(&x, "a.b.c");
	for (int i = 0; i < N; i++)
		ck_assert_msg(count(&s, b[i]) == want[i], "pattern %s", pats[i]);
	dest_set_free(&s);

	/* Remove patterns that share a prefix with survivors; survivors
	 * keep matching, the removed stop. */
	topic_type.unbind(&x, b[0]); /* a.b.c: node still holds a.b.c.# below */
	topic_type.unbind(&x, b[2]); /* a.#   */
	topic_type.unbind(&x, b[3]); /* #     */
	s = route(&x, "a.b.c");
	for (int i = 0; i < N; i++) {
		int w = (i == 0 || i == 2 || i == 3) ? 0 : want[i];
		ck_assert_msg(count(&s, b[i]) == w, "after unbind: pattern %s", pats[i]);
	}
	dest_set_free(&s);
	s = route(&x, "a.b.c.d");
	ck_assert_int_eq(count(&s, b[7]), 1); /* a.b.c.# */
	ck_assert_int_eq(count(&s, b[8]), 1); /* a.b.c.d */
	ck_assert_uint_eq(s.n, 2);
	dest_set_free(&s);

	/* Re-bind one removed pattern: it routes again. */
	bind_ok(&x, b[2]);
	s = route(&x, "a.zzz");
	ck_assert_uint_eq(s.n, 1);
	ck_assert_ptr_eq(s.v[0], b[2]);
	dest_set_free(&s);

	for (int i = 0; i < N; i++) {
		if (i != 0 && i != 3)
			topic_type.unbind(&x, b[i]);
		bfree(b[i]);
	}
	topic_type.destroy(&x);
}
END_TEST

START_TEST(test_same_pattern)
{
	struct exchange x = xnew();
	struct binding *b[5];
	for (int i = 0; i < 5; i++) {
		b[i] = bnew("logs.#", &dests[i]);
		bind_ok(&x, b[i]);
	}
	struct dest_set s = route(&x, "logs.error.disk");
	ck_assert_uint_eq(s.n, 5);
	dest_set_free(&s);
	/* Unbind from the middle, the end and the start: the slot bookkeeping
	 * must keep the rest findable. */
	topic_type.unbind(&x, b[2]);
	topic_type.unbind(&x, b[4]);
	topic_type.unbind(&x, b[0]);
	topic_type.unbind(&x, b[0]); /* twice: a no-op */
	s = route(&x, "logs");
	ck_assert_uint_eq(s.n, 2);
	ck_assert_int_eq(count(&s, b[1]), 1);
	ck_assert_int_eq(count(&s, b[3]), 1);
	dest_set_free(&s);
	topic_type.unbind(&x, b[3]);
	topic_type.unbind(&x, b[1]);
	s = route(&x, "logs");
	ck_assert_uint_eq(s.n, 0);
	dest_set_free(&s);
	for (int i = 0; i < 5; i++)
		bfree(b[i]);
	topic_type.destroy(&x);
}
END_TEST

/* Unbinding a key never bound (or bound elsewhere) leaves x untouched. */
START_TEST(test_unbind_unknown)
{
	struct exchange x = xnew();
	struct binding *b = bnew("a.b", &dests[0]);
	struct binding *other = bnew("a.c", &dests[1]);
	bind_ok(&x, b);
	topic_type.unbind(&x, other);
	struct dest_set s = route(&x, "a.b");
	ck_assert_uint_eq(s.n, 1);
	dest_set_free(&s);
	topic_type.unbind(&x, b);
	bfree(b);
	bfree(other);
	topic_type.destroy(&x);
}
END_TEST

/* Destroy with bindings still bound frees the whole index (ASan's leak
 * check sees it), and leaves the bindings to their owner. */
START_TEST(test_destroy_with_bindings)
{
	struct exchange x = xnew();
	struct binding *b[4] = {bnew("a.#", &dests[0]), bnew("a.*.c", &dests[1]),
				bnew("#", &dests[2]), bnew("", &dests[3])};
	for (int i = 0; i < 4; i++)
		bind_ok(&x, b[i]);
	topic_type.destroy(&x);
	ck_assert_ptr_null(x.type_data);
	for (int i = 0; i < 4; i++)
		bfree(b[i]);
}
END_TEST

/* ---- long keys and '#'-heavy patterns ---- */

/* Writes "w.w.w..." with n words into buf (n * 2 bytes, NUL included). */
static char *repeat_key(char *buf, const char *w, int n)
{
	buf[0] = 0;
	for (int i = 0; i < n; i++) {
		if (i)
			strcat(buf, ".");
		strcat(buf, w);
	}
	return buf;
}

START_TEST(test_long_keys)
{
	static char key[1024], pat[1024];
	struct exchange x = xnew();
	/* 127 words: the longest key a 255-octet shortstr can hold. */
	repeat_key(key, "a", 127);
	struct binding *same = bnew(key, &dests[0]);
	struct binding *stars = bnew(repeat_key(pat, "*", 127), &dests[1]);
	struct binding *fewer = bnew(repeat_key(pat, "*", 126), &dests[2]);
	struct binding *hash_a = bnew("#.a", &dests[3]);
	struct binding *a_hash_b = bnew("a.#.b", &dests[4]);
	bind_ok(&x, same);
	bind_ok(&x, stars);
	bind_ok(&x, fewer);
	bind_ok(&x, hash_a);
	bind_ok(&x, a_hash_b);
	struct dest_set s = route(&x, key);
	ck_assert_int_eq(count(&s, same), 1);
	ck_assert_int_eq(count(&s, stars), 1);
	ck_assert_int_eq(count(&s, fewer), 0);
	ck_assert_int_eq(count(&s, hash_a), 1);
	ck_assert_int_eq(count(&s, a_hash_b), 0);
	ck_assert_uint_eq(s.n, 3);
	dest_set_free(&s);
	key[strlen(key) - 1] = 'b'; /* a.a....a.b */
	s = route(&x, key);
	ck_assert_uint_eq(s.n, 2); /* the 127 stars and a.#.b */
	ck_assert_int_eq(count(&s, a_hash_b), 1);
	dest_set_free(&s);
	struct binding *all[] = {same, stars, fewer, hash_a, a_hash_b};
	for (int i = 0; i < 5; i++) {
		topic_type.unbind(&x, all[i]);
		bfree(all[i]);
	}
	topic_type.destroy(&x);
}
END_TEST

/* A backtracking matcher takes C(words, hashes) paths here; the walk over
 * node sets takes words x nodes steps. Thousands of routes must finish
 * well inside Check's timeout. */
START_TEST(test_many_hashes_fast)
{
	static char key[1024];
	struct exchange x = xnew();
	static const char *pats[] = {"#.#.#.#.#.x", "#.#.#.#.#.#.#.#.#.#.#.#.x",
				     "#.a.#.a.#.a.#.a.#.y", "#.*.#.*.#.*.#.*.#.*.#"};
	enum { N = sizeof pats / sizeof pats[0] };
	struct binding *b[N];
	for (int i = 0; i < N; i++) {
		b[i] = bnew(pats[i], &dests[i]);
		bind_ok(&x, b[i]);
	}
	repeat_key(key, "a", 127);
	for (int round = 0; round < 2000; round++) {
		struct dest_set s = route(&x, key);
		/* no x or y at the end: only the five '*' one matches */
		ck_assert_uint_eq(s.n, 1);
		ck_assert_ptr_eq(s.v[0], b[3]);
		dest_set_free(&s);
	}
	key[strlen(key) - 1] = 'x';
	struct dest_set s = route(&x, key);
	ck_assert_int_eq(count(&s, b[0]), 1);
	ck_assert_int_eq(count(&s, b[1]), 1);
	ck_assert_int_eq(count(&s, b[2]), 0);
	ck_assert_int_eq(count(&s, b[3]), 1);
	dest_set_free(&s);
	for (int i = 0; i < N; i++) {
		topic_type.unbind(&x, b[i]);
		bfree(b[i]);
	}
	topic_type.destroy(&x);
}
END_TEST

/* ---- randomized comparison with a reference matcher ---- */

#define MAXW 16

/* Splits s RabbitMQ's way (the empty string has no words) into w[];
 * returns the count. Words are copied into store. */
static int split(const char *s, char w[MAXW][8])
{
	int n = 0;
	if (!*s)
		return 0;
	for (;;) {
		const char *dot = strchr(s, '.');
		size_t len = dot ? (size_t)(dot - s) : strlen(s);
		memcpy(w[n], s, len);
		w[n++][len] = 0;
		if (!dot)
			return n;
		s = dot + 1;
	}
}

/* The definition, by plain recursion: fine for the short keys used here. */
static int ref_match(char p[][8], int np, char k[][8], int nk)
{
	if (np == 0)
		return nk == 0;
	if (strcmp(p[0], "#") == 0)
		return ref_match(p + 1, np - 1, k, nk) ||
		       (nk > 0 && ref_match(p, np, k + 1, nk - 1));
	if (nk == 0)
		return 0;
	if (strcmp(p[0], "*") == 0 || strcmp(p[0], k[0]) == 0)
		return ref_match(p + 1, np - 1, k + 1, nk - 1);
	return 0;
}

/* A random key or pattern of 0-6 words from a small alphabet, so that
 * patterns share nodes and collide often. */
static void random_words(char *out, unsigned *seed, int wild)
{
	static const char *lit[] = {"a", "b", "c", ""};
	int n = rand_r(seed) % 7;
	out[0] = 0;
	for (int i = 0; i < n; i++) {
		if (i)
			strcat(out, ".");
		int r = rand_r(seed) % (wild ? 6 : 4);
		strcat(out, r < 4 ? lit[r] : r == 4 ? "*" : "#");
	}
}

START_TEST(test_random_vs_reference)
{
	enum { NB = 2000, NK = 300 };
	unsigned seed = 12345;
	struct exchange x = xnew();
	/* One array, so a matched binding's index is its offset. */
	static struct binding pool[NB];
	static char pw[NB][MAXW][8], pat[NB][64];
	static int np[NB], hits[NB];
	char key[64];
	for (int i = 0; i < NB; i++) {
		random_words(pat[i], &seed, 1);
		pool[i] = (struct binding){
			.dest = &dests[i % 64], .key = pat[i], .key_len = (uint32_t)strlen(pat[i])};
		np[i] = split(pat[i], pw[i]);
		bind_ok(&x, &pool[i]);
	}
	/* Failures are counted, not asserted one by one: an assertion per
	 * comparison would cost a pipe write each under CK_FORK. */
	int bad = 0, first = -1;
	for (int round = 0; round < 2; round++) {
		for (int k = 0; k < NK; k++) {
			char kw[MAXW][8];
			random_words(key, &seed, 0);
			int nk = split(key, kw);
			struct dest_set s = route(&x, key);
			memset(hits, 0, sizeof hits);
			for (size_t j = 0; j < s.n; j++)
				hits[s.v[j] - pool]++;
			for (int i = 0; i < NB; i++) {
				/* in round 1 the even ones are unbound */
				int want =
					(round && i % 2 == 0) ? 0 : ref_match(pw[i], np[i], kw, nk);
				if (hits[i] != want && bad++ == 0)
					first = i;
			}
			ck_assert_msg(bad == 0, "round %d pattern '%s' key '%s': got %d", round,
				      pat[first], key, hits[first]);
			dest_set_free(&s);
		}
		for (int i = 0; i < NB; i += 2) /* then again with half unbound */
			topic_type.unbind(&x, &pool[i]);
	}
	for (int i = 1; i < NB; i += 2)
		topic_type.unbind(&x, &pool[i]);
	topic_type.destroy(&x);
}
END_TEST

/* ---- 10,000 bindings in and out: the trie ends empty ---- */

START_TEST(test_bind_unbind_10000_leaves_empty)
{
	enum { N = 10000 };
	static struct binding *b[N];
	char buf[64];
	unsigned seed = 777;
	for (int i = 0; i < N; i++) {
		/* distinct deep-ish patterns plus shared wildcard ones */
		if (i % 4 == 0)
			random_words(buf, &seed, 1);
		else
			snprintf(buf, sizeof buf, "k%d.%s.%d.#", i % 97, i % 3 ? "*" : "x", i);
		b[i] = bnew(buf, &dests[i % 64]);
	}
	struct exchange x = xnew();
	/* Route once first so the walk's scratch arrays exist before the
	 * baseline: they are kept on purpose and are not trie nodes. */
	struct dest_set s = route(&x, "");
	dest_set_free(&s);
	int bad = 0;
	size_t before = heap_in_use();
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < N; i++) {
			const char *why = NULL;
			bad += topic_type.bind(&x, b[i], &why) != 0;
		}
		/* out in a different order than in */
		for (int i = N - 1; i >= 0; i -= 2)
			topic_type.unbind(&x, b[i]);
		for (int i = 0; i < N; i += 2)
			topic_type.unbind(&x, b[i]);
	}
	size_t after = heap_in_use();
	ck_assert_int_eq(bad, 0);
	/* 10,000 leaked nodes would be megabytes; the slack is tcache. */
	ck_assert_msg(after <= before + HEAP_SLACK, "heap grew by %zd bytes",
		      (ssize_t)(after - before));
	static const char *keys[] = {"", "a", "k1.x.1", "k5.y.5.z", "a.b.c", "."};
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		s = route(&x, keys[i]);
		ck_assert_uint_eq(s.n, 0);
		dest_set_free(&s);
	}
	topic_type.destroy(&x);
	for (int i = 0; i < N; i++)
		bfree(b[i]);
}
END_TEST

/* One pattern bound many times: a node keeps one binding inline and
 * moves to an array at the second, which grows at powers of two and
 * goes back inline at one. Every count up and down, with removals from
 * the middle, must route to exactly the bindings bound. */
START_TEST(test_same_node_counts)
{
	enum { N = 40 };
	struct binding *b[N];
	struct exchange x = xnew();
	for (int i = 0; i < N; i++)
		b[i] = bnew("s.*.#", &dests[i % 64]);
	bool bound[N] = {0};
	unsigned seed = 4242;
	for (int step = 0; step < 2000; step++) {
		int i = (int)(rand_r(&seed) % N);
		if (bound[i])
			topic_type.unbind(&x, b[i]);
		else
			bind_ok(&x, b[i]);
		bound[i] = !bound[i];
		struct dest_set s = route(&x, "s.x.y.z");
		size_t want = 0;
		for (int j = 0; j < N; j++) {
			want += bound[j];
			ck_assert_int_eq(count(&s, b[j]), bound[j]);
		}
		ck_assert_uint_eq(s.n, want);
		dest_set_free(&s);
	}
	for (int i = 0; i < N; i++) {
		if (bound[i])
			topic_type.unbind(&x, b[i]);
		bfree(b[i]);
	}
	topic_type.destroy(&x);
}
END_TEST

/* ternperf --topic-patterns' shapes at 30,000 queues: "a.I.#", "q.I.*",
 * "*.I.z" share the first level (one node with 10,000 literal children)
 * and each key reaches exactly its own queue; after half are unbound the
 * other half still route and the unbound ones reach nothing. */
START_TEST(test_many_distinct_patterns)
{
	enum { N = 30000 };
	static struct binding *b[N];
	static const char *const pat[3] = {"a.%d.#", "q.%d.*", "*.%d.z"};
	static const char *const key[3] = {"a.%d.x", "q.%d.x", "b.%d.z"};
	char buf[64];
	struct exchange x = xnew();
	for (int i = 0; i < N; i++) {
		snprintf(buf, sizeof buf, pat[i % 3], i);
		b[i] = bnew(buf, &dests[i % 64]);
		bind_ok(&x, b[i]);
	}
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < N; i++) {
			snprintf(buf, sizeof buf, key[i % 3], i);
			struct dest_set s = route(&x, buf);
			bool live = round == 0 || i % 2;
			ck_assert_msg(s.n == (live ? 1u : 0u) && (!live || s.v[0] == b[i]),
				      "key %s: %zu matches", buf, s.n);
			dest_set_free(&s);
		}
		for (int i = 0; round == 0 && i < N; i += 2)
			topic_type.unbind(&x, b[i]);
	}
	/* "a.3.x.y" is still a.3.#'s (a '#' takes any number of words);
	 * a.6.# is unbound now; "q.7.x.y" has a word too many for q.7.*. */
	struct dest_set s = route(&x, "a.3.x.y");
	ck_assert_uint_eq(s.n, 1);
	dest_set_free(&s);
	s = route(&x, "a.6.x.y");
	ck_assert_uint_eq(s.n, 0);
	dest_set_free(&s);
	s = route(&x, "q.7.x.y");
	ck_assert_uint_eq(s.n, 0);
	dest_set_free(&s);
	for (int i = 1; i < N; i += 2)
		topic_type.unbind(&x, b[i]);
	for (int i = 0; i < N; i++)
		bfree(b[i]);
	topic_type.destroy(&x);
}
END_TEST

/* An empty key arriving as a NULL view is the empty key. */
START_TEST(test_null_view_key)
{
	struct exchange x = xnew();
	struct binding *h = bnew("#", &dests[0]), *e = bnew("", &dests[1]);
	bind_ok(&x, h);
	bind_ok(&x, e);
	struct dest_set s = {0};
	struct route_msg m = {.routing_key = {NULL, 0}};
	topic_type.route(&x, &m, &s);
	ck_assert_uint_eq(s.n, 2);
	dest_set_free(&s);
	topic_type.unbind(&x, h);
	topic_type.unbind(&x, e);
	bfree(h);
	bfree(e);
	topic_type.destroy(&x);
}
END_TEST

static Suite *topic_suite(void)
{
	Suite *s = suite_create("topic");
	TCase *tc = tcase_create("rows");
	tcase_add_loop_test(tc, test_row, 0, NROWS);
	tcase_add_test(tc, test_rows_together);
	suite_add_tcase(s, tc);

	tc = tcase_create("index");
	tcase_add_test(tc, test_shared_nodes);
	tcase_add_test(tc, test_same_pattern);
	tcase_add_test(tc, test_unbind_unknown);
	tcase_add_test(tc, test_destroy_with_bindings);
	tcase_add_test(tc, test_null_view_key);
	tcase_add_test(tc, test_same_node_counts);
	suite_add_tcase(s, tc);

	tc = tcase_create("scale");
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, test_long_keys);
	tcase_add_test(tc, test_many_hashes_fast);
	tcase_add_test(tc, test_random_vs_reference);
	tcase_add_test(tc, test_bind_unbind_10000_leaves_empty);
	tcase_add_test(tc, test_many_distinct_patterns);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(topic_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
