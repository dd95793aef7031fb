/* fuzz_check.h — invariants shared by the libFuzzer targets: walking a
 * validated field table, re-encoding it through the writer, and comparing
 * decoded tables and methods value by value. Header-only, because the
 * Makefile builds each tests/fuzz/fuzz_*.c on its own; a broken invariant
 * aborts with its line, which libFuzzer reports as a crash. */
#ifndef TERN_TESTS_FUZZ_CHECK_H
#define TERN_TESTS_FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#include "protocol/method.h"
#include "protocol/table.h"
#include "protocol/wire.h"

#define FUZZ_ASSERT(cond)                                                              \
	do {                                                                           \
		if (!(cond)) {                                                         \
			fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__,     \
				__LINE__, #cond);                                      \
			abort();                                                       \
		}                                                                      \
	} while (0)

static inline bool fz_bytes_same(struct bytes a, struct bytes b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

/* Next pair (or element) of a table or array being walked. */
static inline int fz_next(struct table_iter *it, bool is_array, struct bytes *k, struct fvalue *v)
{
	if (is_array)
		return array_next(it, v);
	return table_next(it, k, v);
}

/* Walks a table (or array) that table_validate (array_validate) accepted
 * and checks what that promise means to later readers: iteration reaches
 * the exact end without a bad read, keys are 1-128 octets, integers are
 * in their type's range, and nesting stays within TABLE_MAX_DEPTH.
 * Returns the deepest level seen (the table itself is level `depth`). */
static inline int fz_walk(struct bytes t, bool is_array, int depth)
{
	FUZZ_ASSERT(depth <= TABLE_MAX_DEPTH);
	struct table_iter it = table_iter(t);
	struct bytes k = {0};
	struct fvalue v;
	int deepest = depth;
	while (fz_next(&it, is_array, &k, &v)) {
		FUZZ_ASSERT(is_array || (k.len >= 1 && k.len <= 128));
		int64_t n;
		if (v.type == 'B')
			FUZZ_ASSERT(v.v.u <= UINT8_MAX);
		if (v.type == 'b')
			FUZZ_ASSERT(fvalue_int(&v, &n) && n >= INT8_MIN && n <= INT8_MAX);
		if (v.type == 'F' || v.type == 'A') {
			int d = fz_walk(v.v.s, v.type == 'A', depth + 1);
			deepest = d > deepest ? d : deepest;
		}
	}
	FUZZ_ASSERT(!it.r.bad && rd_left(&it.r) == 0);
	return deepest;
}

/* Writes validated table/array t back through tw_* and tv_*. */
static inline void fz_reencode(struct wbuf *w, struct bytes t, bool is_array)
{
	struct table_iter it = table_iter(t);
	struct bytes k = {0};
	struct fvalue v;
	while (fz_next(&it, is_array, &k, &v)) {
		if (!is_array)
			wb_shortstr(w, k);
		if (v.type != 'F' && v.type != 'A') {
			tv_value(w, &v);
			continue;
		}
		if (v.type == 'F')
			tv_table_letter(w);
		else
			tv_array_letter(w);
		size_t start = tw_begin(w);
		fz_reencode(w, v.v.s, v.type == 'A');
		tw_end(w, start);
	}
}

/* Same value, compared strictly: same type letter, floats by their bits
 * (NaN equals itself), nested tables and arrays recursively. */
static inline bool fz_tables_same(struct bytes a, struct bytes b, bool is_array);

static inline bool fz_values_same(const struct fvalue *x, const struct fvalue *y)
{
	if (x->type != y->type)
		return false;
	switch (x->type) {
	case 'f': return memcmp(&x->v.f, &y->v.f, sizeof x->v.f) == 0;
	case 'd': return memcmp(&x->v.d, &y->v.d, sizeof x->v.d) == 0;
	case 'F': case 'A': return fz_tables_same(x->v.s, y->v.s, x->type == 'A');
	default: break;
	}
	/* fvalue_equal must agree on everything else, and be reflexive. */
	FUZZ_ASSERT(fvalue_equal(x, x));
	return fvalue_equal(x, y);
}

static inline bool fz_tables_same(struct bytes a, struct bytes b, bool is_array)
{
	struct table_iter ia = table_iter(a), ib = table_iter(b);
	struct bytes ka = {0}, kb = {0};
	struct fvalue va, vb;
	for (;;) {
		int ra = fz_next(&ia, is_array, &ka, &va);
		int rb = fz_next(&ib, is_array, &kb, &vb);
		if (ra != rb)
			return false;
		if (!ra)
			return true;
		if (!fz_bytes_same(ka, kb) || !fz_values_same(&va, &vb))
			return false;
	}
}

/* Checks everything about a table that a decoder accepted: the walk
 * invariants, and that writing it back gives a table that validates, has
 * the same length and the same values. */
static inline void fz_check_table(struct bytes t)
{
	fz_walk(t, false, 1);
	struct wbuf w = {0};
	fz_reencode(&w, t, false);
	struct bytes back = {w.p, (uint32_t)w.len};
	FUZZ_ASSERT(w.len == t.len);
	FUZZ_ASSERT(table_validate(back) == 0);
	FUZZ_ASSERT(fz_tables_same(t, back, false));
	wb_free(&w);
}

/* True when a and b hold the same method and arguments, field by field. */
static inline bool fz_methods_same(const struct amqp_method *a, const struct amqp_method *b)
{
	if (a->id != b->id)
		return false;
	const struct method_desc *d = method_find(a->id);
	FUZZ_ASSERT(d != NULL);
	const uint8_t *pa = (const uint8_t *)&a->a, *pb = (const uint8_t *)&b->a;
	for (unsigned i = 0; i < d->nfields; i++) {
		const void *x = pa + d->fields[i].offset, *y = pb + d->fields[i].offset;
		bool same = true;
		switch (d->fields[i].type) {
		case FT_OCTET: same = *(const uint8_t *)x == *(const uint8_t *)y; break;
		case FT_SHORT: same = *(const uint16_t *)x == *(const uint16_t *)y; break;
		case FT_LONG: same = *(const uint32_t *)x == *(const uint32_t *)y; break;
		case FT_LONGLONG:
		case FT_TIMESTAMP: same = *(const uint64_t *)x == *(const uint64_t *)y; break;
		case FT_BIT: same = *(const bool *)x == *(const bool *)y; break;
		default: same = fz_bytes_same(*(const struct bytes *)x, *(const struct bytes *)y);
		}
		if (!same)
			return false;
	}
	return true;
}

#endif
