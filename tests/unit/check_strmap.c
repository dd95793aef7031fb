/* check_strmap.c — unit tests for util/strmap.c and util/xalloc.c: basic
 * put/get/del, binary keys, long random runs of puts and deletes checked
 * against a plain array, growth, and backward-shift deletion across the
 * end of the slot array with keys chosen to collide. */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/strmap.h"
#include "util/xalloc.h"

/* A small deterministic generator, so a failure replays exactly. */
static uint64_t rng_state;

static uint32_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 16);
}

/* In fork mode every passing ck_assert reports its line through a pipe;
 * the stress loops make millions of checks, so they test first and call
 * Check only on a failure. */
#define SAME_PTR(got, want)                                                            \
	do {                                                                           \
		void *got_ = (got), *want_ = (want);                                   \
		if (got_ != want_)                                                     \
			ck_abort_msg("%s is %p, not %p", #got, got_, want_);          \
	} while (0)

static void *ptr(uintptr_t v)
{
	return (void *)v;
}

START_TEST(hash_vectors)
{
	/* FNV-1a 64-bit reference values. */
	ck_assert_uint_eq(strmap_hash("", 0), 0xcbf29ce484222325ull);
	ck_assert_uint_eq(strmap_hash("a", 1), 0xaf63dc4c8601ec8cull);
	ck_assert_uint_eq(strmap_hash("foobar", 6), 0x85944171f73967e8ull);
	ck_assert_uint_ne(strmap_hash("ab", 2), strmap_hash("ab\0", 3));
}
END_TEST

START_TEST(empty_map)
{
	struct strmap m = {0};
	ck_assert_ptr_null(strmap_get(&m, "x", 1));
	ck_assert_ptr_null(strmap_del(&m, "x", 1));
	size_t i = 0;
	void *v;
	ck_assert_int_eq(strmap_next(&m, &i, &v), 0);
	strmap_free(&m);
	ck_assert_ptr_null(m.slots);
	ck_assert_uint_eq(m.n, 0);
}
END_TEST

START_TEST(put_get_del)
{
	struct strmap m = {0};
	ck_assert_ptr_null(strmap_put(&m, "alpha", 5, ptr(1)));
	ck_assert_ptr_null(strmap_put(&m, "beta", 4, ptr(2)));
	ck_assert_ptr_null(strmap_put(&m, "gamma", 5, ptr(3)));
	ck_assert_uint_eq(m.n, 3);
	ck_assert_ptr_eq(strmap_get(&m, "alpha", 5), ptr(1));
	ck_assert_ptr_eq(strmap_get(&m, "beta", 4), ptr(2));
	ck_assert_ptr_eq(strmap_get(&m, "gamma", 5), ptr(3));
	ck_assert_ptr_null(strmap_get(&m, "alph", 4));
	ck_assert_ptr_null(strmap_get(&m, "alphab", 6));
	ck_assert_ptr_null(strmap_get(&m, "delta", 5));

	/* Replacing returns the old value and does not count twice. */
	ck_assert_ptr_eq(strmap_put(&m, "beta", 4, ptr(20)), ptr(2));
	ck_assert_uint_eq(m.n, 3);
	ck_assert_ptr_eq(strmap_get(&m, "beta", 4), ptr(20));

	ck_assert_ptr_eq(strmap_del(&m, "alpha", 5), ptr(1));
	ck_assert_ptr_null(strmap_del(&m, "alpha", 5));
	ck_assert_ptr_null(strmap_get(&m, "alpha", 5));
	ck_assert_uint_eq(m.n, 2);
	ck_assert_ptr_eq(strmap_get(&m, "gamma", 5), ptr(3));
	strmap_free(&m);
}
END_TEST

/* Keys are bytes, not C strings: embedded NULs, a trailing NUL and the
 * empty key are all distinct keys. */
START_TEST(binary_keys)
{
	struct strmap m = {0};
	strmap_put(&m, "a\0b", 3, ptr(1));
	strmap_put(&m, "a\0c", 3, ptr(2));
	strmap_put(&m, "ab", 2, ptr(3));
	strmap_put(&m, "ab\0", 3, ptr(4));
	strmap_put(&m, "", 0, ptr(5));
	ck_assert_uint_eq(m.n, 5);
	ck_assert_ptr_eq(strmap_get(&m, "a\0b", 3), ptr(1));
	ck_assert_ptr_eq(strmap_get(&m, "a\0c", 3), ptr(2));
	ck_assert_ptr_eq(strmap_get(&m, "ab", 2), ptr(3));
	ck_assert_ptr_eq(strmap_get(&m, "ab\0", 3), ptr(4));
	ck_assert_ptr_eq(strmap_get(&m, "", 0), ptr(5));
	ck_assert_ptr_null(strmap_get(&m, "a", 1));
	ck_assert_ptr_eq(strmap_del(&m, "", 0), ptr(5));
	ck_assert_ptr_null(strmap_get(&m, "", 0));
	strmap_free(&m);
}
END_TEST

/* Keys are borrowed: after a replace the map must point at the new key,
 * so the old one can be freed (ASan would flag a read of it). */
START_TEST(replace_takes_new_key)
{
	struct strmap m = {0};
	char *k1 = xstrdup("queue-1"), *k2 = xstrdup("queue-1");
	strmap_put(&m, k1, 7, ptr(1));
	ck_assert_ptr_eq(strmap_put(&m, k2, 7, ptr(2)), ptr(1));
	free(k1);
	ck_assert_ptr_eq(strmap_get(&m, "queue-1", 7), ptr(2));
	ck_assert_ptr_eq(strmap_del(&m, "queue-1", 7), ptr(2));
	free(k2);
	strmap_free(&m);
}
END_TEST

#define NKEYS 3000

static char keys[NKEYS][16];
static size_t keylen[NKEYS];

static void make_keys(void)
{
	for (int i = 0; i < NKEYS; i++)
		keylen[i] = (size_t)snprintf(keys[i], sizeof keys[i], "k.%d", i);
}

/* Checks every key against the reference and counts what iteration sees. */
static void check_all(const struct strmap *m, void *const *ref)
{
	size_t live = 0;
	uintptr_t sum = 0, seen_sum = 0;
	for (int i = 0; i < NKEYS; i++) {
		SAME_PTR(strmap_get(m, keys[i], keylen[i]), ref[i]);
		if (ref[i]) {
			live++;
			sum += (uintptr_t)ref[i];
		}
	}
	ck_assert_uint_eq(m->n, live);
	size_t it = 0, seen = 0;
	void *v;
	while (strmap_next(m, &it, &v)) {
		seen++;
		seen_sum += (uintptr_t)v;
	}
	ck_assert_uint_eq(seen, live);
	ck_assert_uint_eq(seen_sum, sum);
}

/* Half a million random operations over 3000 keys, each result compared
 * with a plain array; a full comparison every 5000 operations. */
START_TEST(random_against_reference)
{
	static void *ref[NKEYS];
	make_keys();
	memset(ref, 0, sizeof ref);
	rng_state = 0x9E3779B97F4A7C15ull;
	struct strmap m = {0};
	uintptr_t next = 1;
	for (int op = 0; op < 500000; op++) {
		/* A working set that drifts keeps the map growing and shrinking. */
		int span = 200 + (op / 1000) % (NKEYS - 200);
		int k = (int)(rng() % (uint32_t)span);
		uint32_t what = rng() % 8;
		if (what < 3) {
			void *v = ptr(next++);
			SAME_PTR(strmap_put(&m, keys[k], keylen[k], v), ref[k]);
			ref[k] = v;
		} else if (what < 6) {
			SAME_PTR(strmap_del(&m, keys[k], keylen[k]), ref[k]);
			ref[k] = NULL;
		} else {
			SAME_PTR(strmap_get(&m, keys[k], keylen[k]), ref[k]);
		}
		if (op % 5000 == 0)
			check_all(&m, ref);
	}
	check_all(&m, ref);
	strmap_free(&m);
}
END_TEST

START_TEST(growth)
{
	enum { N = 100000 };
	char (*k)[12] = xmalloc(N * sizeof *k);
	struct strmap m = {0};
	for (int i = 0; i < N; i++) {
		snprintf(k[i], sizeof k[i], "%d", i);
		SAME_PTR(strmap_put(&m, k[i], strlen(k[i]), ptr((uintptr_t)i + 1)), NULL);
		if ((m.cap & (m.cap - 1)) || m.n * 4 > m.cap * 3)
			ck_abort_msg("%zu entries in %zu slots", m.n, m.cap);
	}
	ck_assert_uint_eq(m.n, N);
	for (int i = 0; i < N; i++)
		SAME_PTR(strmap_get(&m, k[i], strlen(k[i])), ptr((uintptr_t)i + 1));
	for (int i = 0; i < N; i += 2)
		SAME_PTR(strmap_del(&m, k[i], strlen(k[i])), ptr((uintptr_t)i + 1));
	for (int i = 0; i < N; i++) {
		void *want = i % 2 ? ptr((uintptr_t)i + 1) : NULL;
		SAME_PTR(strmap_get(&m, k[i], strlen(k[i])), want);
	}
	for (int i = 1; i < N; i += 2)
		SAME_PTR(strmap_del(&m, k[i], strlen(k[i])), ptr((uintptr_t)i + 1));
	ck_assert_uint_eq(m.n, 0);
	size_t it = 0;
	void *v;
	ck_assert_int_eq(strmap_next(&m, &it, &v), 0);
	strmap_free(&m);
	/* A freed map is empty and usable again. */
	strmap_put(&m, "again", 5, ptr(7));
	SAME_PTR(strmap_get(&m, "again", 5), ptr(7));
	strmap_free(&m);
	free(k);
}
END_TEST

/* Keys whose home slot in a 16-slot map is 15, 0 or 1: their probe runs
 * wrap past the end of the array, the case backward-shift deletion gets
 * wrong most easily. Every order of insertion and deletion is checked
 * against the reference, with the map kept at 16 slots. */
#define NCOL 8

static char col[NCOL][16];
static size_t collen[NCOL];

static void find_colliding(void)
{
	static const unsigned homes[NCOL] = {15, 15, 15, 0, 0, 1, 14, 15};
	for (int i = 0; i < NCOL; i++) {
		for (unsigned j = 0;; j++) {
			collen[i] = (size_t)snprintf(col[i], sizeof col[i], "c%u", j);
			bool used = false;
			for (int k = 0; k < i; k++)
				used |= strcmp(col[k], col[i]) == 0;
			if (!used && (strmap_hash(col[i], collen[i]) & 15) == homes[i])
				break;
		}
	}
}

START_TEST(wraparound_deletes)
{
	find_colliding();
	rng_state = 12345;
	for (int round = 0; round < 2000; round++) {
		struct strmap m = {0};
		void *ref[NCOL] = {0};
		for (int op = 0; op < 40; op++) {
			int k = (int)(rng() % NCOL);
			if (rng() % 2) {
				strmap_put(&m, col[k], collen[k], ptr((uintptr_t)k + 1));
				ref[k] = ptr((uintptr_t)k + 1);
			} else {
				SAME_PTR(strmap_del(&m, col[k], collen[k]), ref[k]);
				ref[k] = NULL;
			}
			if (m.cap != 0 && m.cap != 16)
				ck_abort_msg("map grew to %zu slots", m.cap);
			for (int j = 0; j < NCOL; j++)
				SAME_PTR(strmap_get(&m, col[j], collen[j]), ref[j]);
		}
		strmap_free(&m);
	}
}
END_TEST

START_TEST(xalloc_basics)
{
	void *z = xmalloc(0);
	ck_assert_ptr_nonnull(z);
	free(z);
	unsigned char *c = xcalloc(100, 3);
	for (int i = 0; i < 300; i++)
		ck_assert_uint_eq(c[i], 0);
	c[299] = 7;
	c = xrealloc(c, 5000);
	ck_assert_uint_eq(c[299], 7);
	free(c);
	z = xcalloc(0, 0);
	ck_assert_ptr_nonnull(z);
	free(z);

	char *s = xstrdup("tern");
	ck_assert_str_eq(s, "tern");
	free(s);
	s = xstrndup("a\0bc", 4);
	ck_assert_mem_eq(s, "a\0bc", 5); /* the NUL added after the 4 octets */
	free(s);
	s = xstrndup("abcdef", 3);
	ck_assert_str_eq(s, "abc");
	free(s);
	s = xstrndup(NULL, 0);
	ck_assert_str_eq(s, "");
	free(s);
	void *d = xmemdup("\xff\x00\x01", 3);
	ck_assert_mem_eq(d, "\xff\x00\x01", 3);
	free(d);
	d = xmemdup(NULL, 0);
	ck_assert_ptr_nonnull(d);
	free(d);
}
END_TEST

static Suite *strmap_suite(void)
{
	Suite *s = suite_create("strmap");
	TCase *b = tcase_create("basic");
	tcase_add_test(b, hash_vectors);
	tcase_add_test(b, empty_map);
	tcase_add_test(b, put_get_del);
	tcase_add_test(b, binary_keys);
	tcase_add_test(b, replace_takes_new_key);
	suite_add_tcase(s, b);

	TCase *r = tcase_create("stress");
	tcase_set_timeout(r, 60);
	tcase_add_test(r, random_against_reference);
	tcase_add_test(r, growth);
	tcase_add_test(r, wraparound_deletes);
	suite_add_tcase(s, r);

	TCase *x = tcase_create("xalloc");
	tcase_add_test(x, xalloc_basics);
	suite_add_tcase(s, x);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(strmap_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
