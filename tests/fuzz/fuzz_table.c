/* fuzz_table.c — libFuzzer target for field tables and arrays
 * (protocol/table.c). Input: the body of a table (pairs, no length) that
 * is also tried as the body of an array. What validates must iterate to
 * its exact end, nest no deeper than TABLE_MAX_DEPTH, re-encode through
 * the writer to a table with the same values, and answer table_get with
 * the first pair of each key. */
#include <stdint.h>

#include "protocol/table.h"
#include "tests/fuzz/fuzz_check.h"

/* table_get must find every key, and return its first occurrence. */
static void check_lookups(struct bytes t)
{
	struct table_iter it = table_iter(t);
	struct bytes k;
	struct fvalue v;
	for (int i = 0; i < 64 && table_next(&it, &k, &v); i++) {
		char key[129];
		if (memchr(k.p, 0, k.len))
			continue; /* table_get takes a C string */
		memcpy(key, k.p, k.len);
		key[k.len] = '\0';
		struct fvalue got, first;
		FUZZ_ASSERT(table_get(t, key, &got) == 1);
		struct table_iter scan = table_iter(t);
		struct bytes k2;
		while (table_next(&scan, &k2, &first) && !fz_bytes_same(k2, k))
			;
		FUZZ_ASSERT(fz_values_same(&got, &first));
	}
}

static void check_array(struct bytes a)
{
	fz_walk(a, true, 1);
	struct wbuf w = {0};
	fz_reencode(&w, a, true);
	struct bytes back = {w.p, (uint32_t)w.len};
	FUZZ_ASSERT(w.len == a.len);
	FUZZ_ASSERT(array_validate(back) == 0);
	FUZZ_ASSERT(fz_tables_same(a, back, true));
	wb_free(&w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > UINT32_MAX)
		return 0;
	struct bytes t = {data, (uint32_t)size};
	if (table_validate(t) == 0) {
		fz_check_table(t);
		check_lookups(t);
	} else {
		/* Iterating unvalidated bytes must still stop without over-reading. */
		struct table_iter it = table_iter(t);
		struct bytes k;
		struct fvalue v;
		while (table_next(&it, &k, &v))
			;
	}
	if (array_validate(t) == 0)
		check_array(t);
	return 0;
}
