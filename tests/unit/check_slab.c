/* check_slab.c — unit tests for broker/queue/slab.c, the size classes of
 * small messages: every size gets distinct, 8-aligned, non-overlapping
 * room; an emptied page is reused or handed back (the process's RSS goes
 * down), except the last one of its size; random runs of allocations and
 * frees keep every object's contents. The pages themselves are tested
 * here even under ASan (slab_bypass off), where a freed object is
 * poisoned. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker/queue/slab.h"

static uint64_t rng_state;

static uint32_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 16);
}

/* The process's resident set, in bytes. */
static size_t rss(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	unsigned long pages = 0, res = 0;
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fscanf(f, "%lu %lu", &pages, &res), 2);
	fclose(f);
	return res * (size_t)sysconf(_SC_PAGESIZE);
}

#if defined(__SANITIZE_ADDRESS__)
#define SHADOW(n) ((size_t)(n) / 8)
#else
#define SHADOW(n) 0
#endif

static void fill(uint8_t *p, size_t n, uint8_t v)
{
	memset(p, v, n);
}

/* True when all n bytes at p are v. */
static bool intact(const uint8_t *p, size_t n, uint8_t v)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != v)
			return false;
	return true;
}

START_TEST(every_size)
{
	/* 300 objects of each size 1..SLAB_MAX, each filled with its own
	 * byte: any overlap shows as a changed byte. */
	enum { PER = 300 };
	static uint8_t *objs[SLAB_MAX + 1][PER];
	for (size_t n = 1; n <= SLAB_MAX; n++)
		for (size_t k = 0; k < PER; k++) {
			objs[n][k] = slab_alloc(n);
			if ((uintptr_t)objs[n][k] % 8)
				ck_abort_msg("size %zu: %p not 8-aligned", n, (void *)objs[n][k]);
			fill(objs[n][k], n, (uint8_t)(n * 31 + k));
		}
	for (size_t n = 1; n <= SLAB_MAX; n++)
		for (size_t k = 0; k < PER; k++)
			if (!intact(objs[n][k], n, (uint8_t)(n * 31 + k)))
				ck_abort_msg("size %zu object %zu was overwritten", n, k);
	for (size_t n = 1; n <= SLAB_MAX; n++)
		for (size_t k = 0; k < PER; k++)
			slab_free(objs[n][k], n);
	/* One page kept per size class (64 classes of 8 bytes). */
	ck_assert_uint_le(slab_pages, SLAB_MAX / 8);
}
END_TEST

START_TEST(pages_come_back)
{
	/* 64 MB of 48-byte objects (a queued 16-byte message). */
	enum { N = 64 * 1024 * 1024 / 48 };
	void **v = malloc(N * sizeof *v);
	memset(v, 1, N * sizeof *v); /* resident before the first reading (not 0: calloc) */
	size_t before = rss();
	for (size_t i = 0; i < N; i++) {
		v[i] = slab_alloc(48);
		memset(v[i], 0xab, 48);
	}
	size_t pages = slab_pages, full = rss();
	ck_assert_uint_ge(pages, 64 * 1024 * 1024 / (64 * 1024));
	/* 48-byte objects cost 48 bytes, and a page header: within 1%
	 * (ASan adds its shadow, an eighth, and keeps it). */
	ck_assert_uint_le(full - before, (size_t)N * 48 / 100 * 101 + SHADOW(N * 48));
	for (size_t i = 0; i < N; i++)
		slab_free(v[i], 48);
	ck_assert_uint_eq(slab_pages, 1); /* the last one stays */
	ck_assert_uint_lt(rss(), before + 4 * 1024 * 1024 + SHADOW(N * 48));
	/* Handed-back pages are used again before new memory is mapped. */
	for (size_t i = 0; i < N; i++)
		v[i] = slab_alloc(40);
	ck_assert_uint_le(slab_pages, pages);
	for (size_t i = 0; i < N; i++)
		slab_free(v[i], 40);
	free(v);
}
END_TEST

START_TEST(reuse_without_growth)
{
	/* A steady state (a queue that is consumed as fast as it is fed)
	 * takes no new pages. */
	void *keep[1000];
	for (int i = 0; i < 1000; i++)
		keep[i] = slab_alloc(56);
	size_t pages = slab_pages;
	for (int round = 0; round < 100000; round++) {
		int i = round % 1000;
		slab_free(keep[i], 56);
		keep[i] = slab_alloc(56);
	}
	ck_assert_uint_eq(slab_pages, pages);
	for (int i = 0; i < 1000; i++)
		slab_free(keep[i], 56);
}
END_TEST

START_TEST(large_goes_to_malloc)
{
	size_t pages = slab_pages;
	uint8_t *p = slab_alloc(SLAB_MAX + 1), *q = slab_alloc(100000);
	ck_assert_uint_eq(slab_pages, pages);
	fill(p, SLAB_MAX + 1, 1);
	fill(q, 100000, 2);
	slab_free(p, SLAB_MAX + 1);
	slab_free(q, 100000);
}
END_TEST

START_TEST(random_runs)
{
	enum { SLOTS = 20000, STEPS = 400000 };
	static uint8_t *obj[SLOTS];
	static uint16_t len[SLOTS];
	static uint8_t tag[SLOTS];
	rng_state = 0x9e3779b97f4a7c15ull;
	for (int s = 0; s < STEPS; s++) {
		uint32_t i = rng() % SLOTS;
		if (obj[i]) {
			if (!intact(obj[i], len[i], tag[i]))
				ck_abort_msg("step %d: object %u (%u bytes) changed", s, i, len[i]);
			slab_free(obj[i], len[i]);
			obj[i] = NULL;
		} else {
			len[i] = (uint16_t)(1 + rng() % (SLAB_MAX + 64)); /* some go to malloc */
			tag[i] = (uint8_t)rng();
			obj[i] = slab_alloc(len[i]);
			fill(obj[i], len[i], tag[i]);
		}
	}
	for (uint32_t i = 0; i < SLOTS; i++)
		if (obj[i]) {
			if (!intact(obj[i], len[i], tag[i]))
				ck_abort_msg("object %u changed", i);
			slab_free(obj[i], len[i]);
		}
	ck_assert_uint_le(slab_pages, SLAB_MAX / 8);
}
END_TEST

#if defined(__SANITIZE_ADDRESS__)
/* Under ASan a freed object is poisoned: touching it stops the process. */
START_TEST(use_after_free_is_caught)
{
	volatile uint8_t *p = slab_alloc(48);
	p[0] = 1;
	slab_free((void *)p, 48);
	ck_assert_ptr_nonnull(freopen("/dev/null", "w", stderr)); /* the expected report */
	p[8] = 2; /* ASan: use-after-poison, exit status 1 */
}
END_TEST
#endif

static void pages_only(void)
{
	slab_bypass = false; /* the pages themselves, under ASan too */
}

static Suite *slab_suite(void)
{
	Suite *s = suite_create("slab");
	TCase *t = tcase_create("slab");
	tcase_add_checked_fixture(t, pages_only, NULL);
	tcase_set_timeout(t, 120);
	tcase_add_test(t, every_size);
	tcase_add_test(t, pages_come_back);
	tcase_add_test(t, reuse_without_growth);
	tcase_add_test(t, large_goes_to_malloc);
	tcase_add_test(t, random_runs);
#if defined(__SANITIZE_ADDRESS__)
	tcase_add_exit_test(t, use_after_free_is_caught, 1);
#endif
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(slab_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
