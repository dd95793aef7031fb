/* golden.h — shared by the codec unit tests: loading the byte streams
 * recorded from real clients (tests/data/golden/) and exact-size copies
 * that turn any over-read into an ASan report. */
#ifndef TERN_TESTS_GOLDEN_H
#define TERN_TESTS_GOLDEN_H

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Reads tests/data/golden/<name> whole. The tests run from the repository
 * root (make check-unit); TERN_GOLDEN_DIR overrides the directory. */
static inline uint8_t *golden_load(const char *name, size_t *len)
{
	const char *dir = getenv("TERN_GOLDEN_DIR");
	char path[512];
	snprintf(path, sizeof path, "%s/%s", dir ? dir : "tests/data/golden", name);
	FILE *fp = fopen(path, "rb");
	ck_assert_msg(fp != NULL, "cannot open %s", path);
	fseek(fp, 0, SEEK_END);
	long n = ftell(fp);
	fseek(fp, 0, SEEK_SET);
	ck_assert_int_gt(n, 0);
	uint8_t *p = malloc((size_t)n);
	ck_assert_uint_eq(fread(p, 1, (size_t)n, fp), (size_t)n);
	fclose(fp);
	*len = (size_t)n;
	return p;
}

/* An exact-size heap copy, so that any over-read is an ASan report. */
static inline uint8_t *dup_exact(const uint8_t *p, size_t n)
{
	uint8_t *d = malloc(n ? n : 1);
	if (n)
		memcpy(d, p, n);
	return d;
}

#endif
