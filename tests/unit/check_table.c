/* check_table.c — unit tests for protocol/table.c: every field-value type
 * letter RabbitMQ uses, integer comparison across widths, table_get,
 * nesting up to and past TABLE_MAX_DEPTH, truncation at every offset, the
 * writer's exact bytes, and the client/server property tables of real
 * pika, rabbitmq-c and RabbitMQ handshakes re-encoded byte for byte. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>

#include "protocol/frame.h"
#include "protocol/method.h"
#include "protocol/table.h"
#include "tests/unit/golden.h"

static struct bytes wb_view(const struct wbuf *w, size_t from)
{
	return (struct bytes){w->p + from, (uint32_t)(w->len - from)};
}

/* ---- one table holding every type, written by hand (not by tv_*) ---- */

/* Offsets at which a prefix of the all-types table is itself a table. */
static size_t boundaries[32];
static size_t nboundaries;

static void raw_key(struct wbuf *w, const char *k, char type)
{
	wb_shortstr(w, bytes_of(k));
	wb_u8(w, (uint8_t)type);
}

static void raw_end_pair(struct wbuf *w)
{
	boundaries[nboundaries++] = w->len;
}

/* Appends the pairs (no length prefix) of a table using all 18 letters. */
static void all_types(struct wbuf *w)
{
	nboundaries = 0;
	boundaries[nboundaries++] = 0;
	raw_key(w, "bool", 't'), wb_u8(w, 1), raw_end_pair(w);
	raw_key(w, "i8", 'b'), wb_u8(w, 0xFB), raw_end_pair(w);
	raw_key(w, "u8", 'B'), wb_u8(w, 250), raw_end_pair(w);
	raw_key(w, "i16", 's'), wb_u16(w, 0xFED4), raw_end_pair(w);
	raw_key(w, "u16", 'u'), wb_u16(w, 65000), raw_end_pair(w);
	raw_key(w, "i32", 'I'), wb_u32(w, (uint32_t)-70000), raw_end_pair(w);
	raw_key(w, "u32", 'i'), wb_u32(w, 4000000000u), raw_end_pair(w);
	raw_key(w, "i64", 'l'), wb_u64(w, (uint64_t)-5000000000000ll), raw_end_pair(w);
	raw_key(w, "u64", 'L'), wb_u64(w, 0x8000000000000005ull), raw_end_pair(w);
	raw_key(w, "flt", 'f'), wb_u32(w, 0x3FC00000u), raw_end_pair(w);
	raw_key(w, "dbl", 'd'), wb_u64(w, 0xC002000000000000ull), raw_end_pair(w);
	raw_key(w, "dec", 'D'), wb_u8(w, 2), wb_u32(w, 12345), raw_end_pair(w);
	raw_key(w, "str", 'S'), wb_longstr(w, bytes_of("hello")), raw_end_pair(w);
	raw_key(w, "bin", 'x'), wb_longstr(w, (struct bytes){(const uint8_t *)"\0\xff\x01", 3}),
		raw_end_pair(w);
	raw_key(w, "ts", 'T'), wb_u64(w, 1700000000), raw_end_pair(w);
	/* {k: I 7} */
	raw_key(w, "tbl", 'F'), wb_u32(w, 7), raw_key(w, "k", 'I'), wb_u32(w, 7), raw_end_pair(w);
	/* [I 1, S "two", V] */
	raw_key(w, "arr", 'A'), wb_u32(w, 5 + 8 + 1), wb_u8(w, 'I'), wb_u32(w, 1);
	wb_u8(w, 'S'), wb_longstr(w, bytes_of("two")), wb_u8(w, 'V'), raw_end_pair(w);
	raw_key(w, "nil", 'V'), raw_end_pair(w);
}

static struct fvalue get(struct bytes t, const char *key)
{
	struct fvalue v;
	ck_assert_msg(table_get(t, key, &v) == 1, "no key %s", key);
	return v;
}

START_TEST(every_type_decodes)
{
	struct wbuf w = {0};
	all_types(&w);
	struct bytes t = wb_view(&w, 0);
	ck_assert_int_eq(table_validate(t), 0);

	struct fvalue v = get(t, "bool");
	ck_assert_int_eq(v.type, 't');
	ck_assert(v.v.b);
	v = get(t, "i8");
	ck_assert_int_eq(v.type, 'b');
	ck_assert_int_eq(v.v.i, -5);
	v = get(t, "u8");
	ck_assert_uint_eq(v.v.u, 250);
	v = get(t, "i16");
	ck_assert_int_eq(v.v.i, -300);
	v = get(t, "u16");
	ck_assert_uint_eq(v.v.u, 65000);
	v = get(t, "i32");
	ck_assert_int_eq(v.v.i, -70000);
	v = get(t, "u32");
	ck_assert_uint_eq(v.v.u, 4000000000u);
	v = get(t, "i64");
	ck_assert_int_eq(v.v.i, -5000000000000ll);
	v = get(t, "u64");
	ck_assert_uint_eq(v.v.u, 0x8000000000000005ull);
	v = get(t, "flt");
	ck_assert_float_eq(v.v.f, 1.5f);
	v = get(t, "dbl");
	ck_assert_double_eq(v.v.d, -2.25);
	v = get(t, "dec");
	ck_assert_uint_eq(v.v.dec.scale, 2);
	ck_assert_uint_eq(v.v.dec.value, 12345);
	v = get(t, "str");
	ck_assert(bytes_eq(v.v.s, "hello"));
	v = get(t, "bin");
	ck_assert_uint_eq(v.v.s.len, 3);
	ck_assert_mem_eq(v.v.s.p, "\0\xff\x01", 3);
	v = get(t, "ts");
	ck_assert_int_eq(v.type, 'T');
	ck_assert_uint_eq(v.v.u, 1700000000);
	v = get(t, "nil");
	ck_assert_int_eq(v.type, 'V');

	v = get(t, "tbl");
	ck_assert_int_eq(v.type, 'F');
	struct fvalue k = get(v.v.s, "k");
	ck_assert_int_eq(k.type, 'I');
	ck_assert_int_eq(k.v.i, 7);
	wb_free(&w);
}
END_TEST

START_TEST(array_iterates)
{
	struct wbuf w = {0};
	all_types(&w);
	struct fvalue a = get(wb_view(&w, 0), "arr");
	ck_assert_int_eq(a.type, 'A');
	ck_assert_int_eq(array_validate(a.v.s), 0);
	struct table_iter it = table_iter(a.v.s);
	struct fvalue v;
	ck_assert(array_next(&it, &v));
	ck_assert_int_eq(v.type, 'I');
	ck_assert_int_eq(v.v.i, 1);
	ck_assert(array_next(&it, &v));
	ck_assert(bytes_eq(v.v.s, "two"));
	ck_assert(array_next(&it, &v));
	ck_assert_int_eq(v.type, 'V');
	ck_assert(!array_next(&it, &v));
	ck_assert(!array_next(&it, &v));
	wb_free(&w);
}
END_TEST

/* Iteration yields the pairs in wire order; tv_value writes each back in
 * its own type, giving the very same bytes. */
START_TEST(every_type_reencodes)
{
	static const char *keys[] = {"bool", "i8",  "u8",  "i16", "u16", "i32",
				     "u32",  "i64", "u64", "flt", "dbl", "dec",
				     "str",  "bin", "ts",  "tbl", "arr", "nil"};
	struct wbuf w = {0}, out = {0};
	all_types(&w);
	struct table_iter it = table_iter(wb_view(&w, 0));
	struct bytes key;
	struct fvalue v;
	size_t n = 0;
	while (table_next(&it, &key, &v)) {
		ck_assert_uint_lt(n, 18);
		ck_assert(bytes_eq(key, keys[n]));
		ck_assert_int_eq(v.type, w.p[boundaries[n] + 1 + key.len]);
		tw_key(&out, keys[n]);
		tv_value(&out, &v);
		ck_assert_uint_eq(out.len, boundaries[n + 1]);
		n++;
	}
	ck_assert_uint_eq(n, 18);
	ck_assert_uint_eq(out.len, w.len);
	ck_assert_mem_eq(out.p, w.p, w.len);
	wb_free(&w);
	wb_free(&out);
}
END_TEST

/* A prefix of the table is valid exactly when it ends between pairs. */
START_TEST(truncated_everywhere)
{
	struct wbuf w = {0};
	all_types(&w);
	size_t b = 0;
	for (size_t n = 0; n <= w.len; n++) {
		uint8_t *p = dup_exact(w.p, n);
		bool at_boundary = b < nboundaries && boundaries[b] == n;
		int rc = table_validate((struct bytes){p, (uint32_t)n});
		ck_assert_msg(rc == (at_boundary ? 0 : -1), "prefix %zu: %d", n, rc);
		/* Iteration over unvalidated bytes stops without over-reading. */
		struct table_iter it = table_iter((struct bytes){p, (uint32_t)n});
		struct bytes k;
		struct fvalue v;
		while (table_next(&it, &k, &v))
			;
		if (at_boundary)
			b++;
		free(p);
	}
	ck_assert_uint_eq(b, nboundaries);
	wb_free(&w);
}
END_TEST

static struct fvalue fv_i(char type, int64_t i)
{
	struct fvalue v = {.type = type};
	v.v.i = i;
	return v;
}

static struct fvalue fv_u(char type, uint64_t u)
{
	struct fvalue v = {.type = type};
	v.v.u = u;
	return v;
}

START_TEST(int_across_widths)
{
	static const struct {
		char type;
		bool is_signed;
		int64_t i;
		uint64_t u;
	} rows[] = {
		{'b', true, INT8_MIN, 0},    {'b', true, INT8_MAX, 0},  {'B', false, 0, UINT8_MAX},
		{'s', true, INT16_MIN, 0},   {'u', false, 0, UINT16_MAX}, {'I', true, INT32_MIN, 0},
		{'i', false, 0, UINT32_MAX}, {'l', true, INT64_MIN, 0}, {'l', true, INT64_MAX, 0},
		{'L', false, 0, INT64_MAX},  {'L', false, 0, 0},
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		struct fvalue v = rows[i].is_signed ? fv_i(rows[i].type, rows[i].i)
						    : fv_u(rows[i].type, rows[i].u);
		int64_t out = 12345;
		ck_assert_msg(fvalue_int(&v, &out), "row %zu", i);
		ck_assert_int_eq(out, rows[i].is_signed ? rows[i].i : (int64_t)rows[i].u);
	}
	/* An L above INT64_MAX does not fit. */
	struct fvalue big = fv_u('L', (uint64_t)INT64_MAX + 1);
	int64_t out = 99;
	ck_assert(!fvalue_int(&big, &out));
	big = fv_u('L', UINT64_MAX);
	ck_assert(!fvalue_int(&big, &out));

	static const char nonint[] = "tfdDSxTFAV";
	for (const char *c = nonint; *c; c++) {
		struct fvalue v = fv_u(*c, 5);
		ck_assert_msg(!fvalue_int(&v, &out), "%c is not an integer", *c);
	}
}
END_TEST

/* Widths decoded from real bytes: a one-octet 'b' 5 and an eight-octet
 * 'l' 5 compare equal, as x-arguments need. */
START_TEST(int_equal_across_widths)
{
	static const char ints[] = "bBsuIilL";
	for (const char *a = ints; *a; a++) {
		for (const char *b = ints; *b; b++) {
			bool sa = strchr("bsIl", *a) != NULL, sb = strchr("bsIl", *b) != NULL;
			struct fvalue x = sa ? fv_i(*a, 5) : fv_u(*a, 5);
			struct fvalue y = sb ? fv_i(*b, 5) : fv_u(*b, 5);
			struct fvalue z = sb ? fv_i(*b, 6) : fv_u(*b, 6);
			ck_assert_msg(fvalue_equal(&x, &y), "%c 5 == %c 5", *a, *b);
			ck_assert_msg(!fvalue_equal(&x, &z), "%c 5 != %c 6", *a, *b);
		}
	}
	/* Signedness matters: int8 -1 is not uint8 255, but equals int64 -1. */
	struct fvalue m1 = fv_i('b', -1), u255 = fv_u('B', 255), l_m1 = fv_i('l', -1);
	ck_assert(!fvalue_equal(&m1, &u255));
	ck_assert(fvalue_equal(&m1, &l_m1));
	/* An L too big for int64 still equals itself, and not a negative l. */
	struct fvalue lmax = fv_u('L', UINT64_MAX), lmax2 = fv_u('L', UINT64_MAX);
	struct fvalue lbig = fv_u('L', UINT64_MAX - 1);
	ck_assert(fvalue_equal(&lmax, &lmax2));
	ck_assert(!fvalue_equal(&lmax, &lbig));
	ck_assert(!fvalue_equal(&lmax, &l_m1));
}
END_TEST

START_TEST(equal_other_types)
{
	struct fvalue f = {.type = 'f', .v.f = 1.5f}, d = {.type = 'd', .v.d = 1.5};
	struct fvalue d2 = {.type = 'd', .v.d = 1.25};
	ck_assert(fvalue_equal(&f, &d));
	ck_assert(!fvalue_equal(&d, &d2));

	struct fvalue s = {.type = 'S', .v.s = bytes_of("ab")};
	struct fvalue x = {.type = 'x', .v.s = bytes_of("ab")};
	struct fvalue s2 = {.type = 'S', .v.s = bytes_of("ac")};
	struct fvalue s3 = {.type = 'S', .v.s = bytes_of("a")};
	struct fvalue e1 = {.type = 'S', .v.s = {NULL, 0}}, e2 = {.type = 'x', .v.s = bytes_of("")};
	ck_assert(fvalue_equal(&s, &x));
	ck_assert(!fvalue_equal(&s, &s2));
	ck_assert(!fvalue_equal(&s, &s3));
	ck_assert(fvalue_equal(&e1, &e2));

	struct fvalue t1 = {.type = 't', .v.b = true}, t2 = {.type = 't', .v.b = true};
	struct fvalue t0 = {.type = 't', .v.b = false};
	struct fvalue one = fv_u('B', 1);
	ck_assert(fvalue_equal(&t1, &t2));
	ck_assert(!fvalue_equal(&t1, &t0));
	ck_assert(!fvalue_equal(&t1, &one)); /* a bool is not an integer */

	struct fvalue ts = fv_u('T', 5), five = fv_i('l', 5), ts2 = fv_u('T', 5);
	ck_assert(fvalue_equal(&ts, &ts2));
	ck_assert(!fvalue_equal(&ts, &five));

	struct fvalue v1 = {.type = 'V'}, v2 = {.type = 'V'};
	ck_assert(fvalue_equal(&v1, &v2));
	ck_assert(!fvalue_equal(&v1, &e1));

	struct fvalue D1 = {.type = 'D', .v.dec = {2, 100}}, D2 = {.type = 'D', .v.dec = {2, 100}};
	struct fvalue D3 = {.type = 'D', .v.dec = {1, 100}};
	ck_assert(fvalue_equal(&D1, &D2));
	ck_assert(!fvalue_equal(&D1, &D3));

	struct fvalue F1 = {.type = 'F', .v.s = bytes_of("\001kV")};
	struct fvalue F2 = {.type = 'F', .v.s = bytes_of("\001kV")};
	struct fvalue A1 = {.type = 'A', .v.s = bytes_of("\001kV")};
	ck_assert(fvalue_equal(&F1, &F2));
	ck_assert(!fvalue_equal(&F1, &A1));
	ck_assert(!fvalue_equal(&F1, &s));

	struct bytes out;
	ck_assert(fvalue_str(&s, &out) && bytes_eq(out, "ab"));
	ck_assert(fvalue_str(&x, &out) && bytes_eq(out, "ab"));
	ck_assert(!fvalue_str(&F1, &out));
	ck_assert(!fvalue_str(&five, &out));
}
END_TEST

START_TEST(get_lookup)
{
	struct wbuf w = {0};
	size_t t = tw_begin(&w);
	tw_key(&w, "abc"), tv_i32(&w, 1);
	tw_key(&w, "ab"), tv_i32(&w, 2);
	tw_key(&w, "x-max-length"), tv_i64(&w, 10);
	tw_key(&w, "ab"), tv_i32(&w, 3); /* duplicate: the first one wins */
	tw_end(&w, t);
	struct bytes tb = wb_view(&w, 4);
	ck_assert_int_eq(table_validate(tb), 0);
	struct fvalue v;
	ck_assert_int_eq(table_get(tb, "ab", &v), 1);
	ck_assert_int_eq(v.v.i, 2);
	ck_assert_int_eq(table_get(tb, "abc", &v), 1);
	ck_assert_int_eq(v.v.i, 1);
	int64_t n;
	ck_assert_int_eq(table_get(tb, "x-max-length", &v), 1);
	ck_assert(fvalue_int(&v, &n) && n == 10);
	ck_assert_int_eq(table_get(tb, "a", &v), 0);
	ck_assert_int_eq(table_get(tb, "abcd", &v), 0);
	ck_assert_int_eq(table_get(tb, "x-max-length-bytes", &v), 0);
	ck_assert_int_eq(table_get((struct bytes){NULL, 0}, "ab", &v), 0);
	ck_assert_int_eq(table_validate((struct bytes){NULL, 0}), 0);
	wb_free(&w);
}
END_TEST

/* The writer's output, byte for byte, including a patched nested length
 * and a table that does not start at offset 0 of its buffer. */
START_TEST(writer_bytes)
{
	struct wbuf w = {0};
	wb_add(&w, "zzz", 3);
	size_t t = tw_begin(&w);
	ck_assert_uint_eq(t, 3);
	tw_key(&w, "a"), tv_bool(&w, true);
	tw_key(&w, "b"), tv_i32(&w, -2);
	tw_key(&w, "c"), tv_i64(&w, 1ll << 40);
	tw_key(&w, "d"), tv_str(&w, "xy");
	tw_key(&w, "e"), tv_bytes(&w, (struct bytes){(const uint8_t *)"\0z", 2});
	tw_key(&w, "f"), tv_timestamp(&w, 0x0102030405060708ull);
	tw_key(&w, "g"), tv_void(&w);
	tw_key(&w, "h"), tv_table_letter(&w);
	size_t t2 = tw_begin(&w);
	tw_key(&w, "i"), tv_bool(&w, false);
	tw_end(&w, t2);
	tw_key(&w, "j"), tv_array_letter(&w);
	size_t t3 = tw_begin(&w);
	tv_i32(&w, 1);
	tv_str(&w, "");
	tw_end(&w, t3);
	tw_end(&w, t);

	static const uint8_t want[] = {
		'z', 'z', 'z', 0, 0, 0, 82,
		1, 'a', 't', 1,
		1, 'b', 'I', 0xFF, 0xFF, 0xFF, 0xFE,
		1, 'c', 'l', 0, 0, 1, 0, 0, 0, 0, 0,
		1, 'd', 'S', 0, 0, 0, 2, 'x', 'y',
		1, 'e', 'S', 0, 0, 0, 2, 0, 'z',
		1, 'f', 'T', 1, 2, 3, 4, 5, 6, 7, 8,
		1, 'g', 'V',
		1, 'h', 'F', 0, 0, 0, 4, 1, 'i', 't', 0,
		1, 'j', 'A', 0, 0, 0, 10, 'I', 0, 0, 0, 1, 'S', 0, 0, 0, 0,
	};
	ck_assert_uint_eq(w.len, sizeof want);
	ck_assert_mem_eq(w.p, want, sizeof want);
	struct bytes tb = wb_view(&w, 7);
	ck_assert_int_eq(table_validate(tb), 0);
	struct fvalue v;
	ck_assert(table_get(tb, "c", &v) && v.v.i == 1ll << 40);
	ck_assert(table_get(tb, "h", &v) && v.type == 'F');
	struct fvalue inner;
	ck_assert(table_get(v.v.s, "i", &inner) && inner.type == 't' && !inner.v.b);
	ck_assert(table_get(tb, "j", &v) && v.type == 'A');
	ck_assert_int_eq(array_validate(v.v.s), 0);
	wb_free(&w);
}
END_TEST

/* Writes `levels` nested tables (or arrays, or both alternating) as the
 * contents of the outermost one, which itself counts as level 1. */
enum nest_kind { NEST_TABLES, NEST_ARRAYS, NEST_MIXED };

static void nest(struct wbuf *w, int levels, enum nest_kind kind, bool in_array)
{
	if (!in_array)
		tw_key(w, "n");
	if (levels == 1) {
		tv_i32(w, 42);
		return;
	}
	bool arr = kind == NEST_ARRAYS || (kind == NEST_MIXED && !in_array);
	if (arr)
		tv_array_letter(w);
	else
		tv_table_letter(w);
	size_t t = tw_begin(w);
	nest(w, levels - 1, kind, arr);
	tw_end(w, t);
}

static int validate_nested(int levels, enum nest_kind kind)
{
	struct wbuf w = {0};
	bool outer_array = kind == NEST_ARRAYS;
	nest(&w, levels, kind, outer_array);
	struct bytes b = wb_view(&w, 0);
	int rc = outer_array ? array_validate(b) : table_validate(b);
	wb_free(&w);
	return rc;
}

START_TEST(nesting_depth)
{
	for (int kind = NEST_TABLES; kind <= NEST_MIXED; kind++) {
		for (int d = 1; d <= TABLE_MAX_DEPTH; d++)
			ck_assert_msg(validate_nested(d, kind) == 0, "kind %d depth %d", kind, d);
		ck_assert_int_eq(validate_nested(TABLE_MAX_DEPTH + 1, kind), -1);
		ck_assert_int_eq(validate_nested(TABLE_MAX_DEPTH + 2, kind), -1);
	}
}
END_TEST

/* A million levels of {"k": F {"k": F ...}} built in place (7 octets per
 * level): rejected at TABLE_MAX_DEPTH, so recursion stays shallow. The
 * array form too (5 octets per level). */
START_TEST(nesting_bomb)
{
	size_t levels = 1000000;
	uint8_t *p = malloc(levels * 7);
	for (size_t i = 0; i < levels; i++) {
		uint8_t *q = p + i * 7;
		q[0] = 1, q[1] = 'k', q[2] = 'F';
		put32(q + 3, (uint32_t)((levels - 1 - i) * 7));
	}
	ck_assert_int_eq(table_validate((struct bytes){p, (uint32_t)(levels * 7)}), -1);
	for (size_t i = 0; i < levels; i++) {
		p[i * 5] = 'A';
		put32(p + i * 5 + 1, (uint32_t)((levels - 1 - i) * 5));
	}
	ck_assert_int_eq(array_validate((struct bytes){p, (uint32_t)(levels * 5)}), -1);
	free(p);
}
END_TEST

START_TEST(key_rules)
{
	char key[130];
	memset(key, 'k', sizeof key);
	for (size_t n = 0; n <= 129; n++) {
		struct wbuf w = {0};
		wb_shortstr(&w, (struct bytes){(const uint8_t *)key, (uint32_t)n});
		tv_void(&w);
		uint8_t *p = dup_exact(w.p, w.len);
		int want = n >= 1 && n <= 128 ? 0 : -1;
		int rc = table_validate((struct bytes){p, (uint32_t)w.len});
		ck_assert_msg(rc == want, "key of %zu octets: %d", n, rc);
		free(p);
		wb_free(&w);
	}
}
END_TEST

/* Every octet that is not one of the 18 letters is an unknown type. */
START_TEST(unknown_letters)
{
	static const char known[] = "tbBsuIilLfdDSxTFAV";
	for (int c = 0; c < 256; c++) {
		if (c && strchr(known, c))
			continue;
		uint8_t buf[3 + 16] = {1, 'k', (uint8_t)c};
		uint8_t arr[1 + 16] = {(uint8_t)c};
		struct bytes t = {buf, sizeof buf}, a = {arr, sizeof arr};
		ck_assert_msg(table_validate(t) == -1, "letter %d", c);
		ck_assert_msg(array_validate(a) == -1, "letter %d", c);
	}
}
END_TEST

/* Strings and nested values whose length runs past the table's end, and a
 * nested table that is itself malformed. */
START_TEST(bad_lengths)
{
#define ROW(lit) {lit, sizeof(lit) - 1}
	static const struct {
		const char *bytes;
		size_t len;
	} bad[] = {
		ROW("\001kS\x00\x00\x00\x05" "abcd"), /* S one short */
		ROW("\001kS\xff\xff\xff\xff" "abcd"), /* S 2^32-1 */
		ROW("\001kx\x80\x00\x00\x00"), /* x 2^31 */
		ROW("\001kF\x00\x00\x00\x04\001jV"), /* F one over */
		ROW("\001kF\x00\x00\x00\x03\000jV"), /* F with an empty key */
		ROW("\001kF\x00\x00\x00\x02\001j"), /* F pair without type */
		ROW("\001kA\x00\x00\x00\x01Z"), /* A holding a bad letter */
		ROW("\001kA\x00\x00\x00\x02I\x00"), /* A holding a short I */
		ROW("\x05" "ab"), /* key past the end */
		ROW("\001k"), /* key without type */
		ROW("\001kD\x02"), /* short decimal */
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		uint8_t *p = dup_exact((const uint8_t *)bad[i].bytes, bad[i].len);
		struct bytes t = {p, (uint32_t)bad[i].len};
		ck_assert_msg(table_validate(t) == -1, "row %zu", i);
		free(p);
	}
#undef ROW
}
END_TEST

/* Re-encodes table t pair by pair through the writer, descending into
 * nested tables and arrays, so the golden bytes test tw_* and tv_*. */
static void reencode_value(struct wbuf *w, const struct fvalue *v);

static void reencode_table(struct wbuf *w, struct bytes t)
{
	struct table_iter it = table_iter(t);
	struct bytes k;
	struct fvalue v;
	while (table_next(&it, &k, &v)) {
		wb_shortstr(w, k);
		reencode_value(w, &v);
	}
	ck_assert(!it.r.bad);
}

static void reencode_value(struct wbuf *w, const struct fvalue *v)
{
	if (v->type != 'F' && v->type != 'A') {
		tv_value(w, v);
		return;
	}
	if (v->type == 'F')
		tv_table_letter(w);
	else
		tv_array_letter(w);
	size_t t = tw_begin(w);
	if (v->type == 'F') {
		reencode_table(w, v->v.s);
	} else {
		struct table_iter it = table_iter(v->v.s);
		struct fvalue e;
		while (array_next(&it, &e))
			reencode_value(w, &e);
	}
	tw_end(w, t);
}

/* Decodes the first frame of a golden stream as connection.start(-ok) and
 * returns its property table (which borrows from *buf). */
static struct bytes golden_props(const char *name, uint8_t **buf)
{
	size_t len;
	*buf = golden_load(name, &len);
	size_t off = memcmp(*buf, "AMQP", 4) == 0 ? PROTOCOL_HEADER_LEN : 0;
	struct frame f;
	ck_assert_int_gt(frame_parse(*buf + off, len - off, 131072, &f), 0);
	struct amqp_method m;
	ck_assert_int_eq(method_decode(f.payload, f.size, &m), 0);
	if (m.id == AMQP_CONNECTION_START)
		return m.a.connection_start.server_properties;
	ck_assert_uint_eq(m.id, AMQP_CONNECTION_START_OK);
	return m.a.connection_start_ok.client_properties;
}

static void assert_str(struct bytes t, const char *key, const char *want)
{
	struct fvalue v = get(t, key);
	struct bytes s;
	ck_assert_msg(fvalue_str(&v, &s), "%s is not a string", key);
	ck_assert_msg(bytes_eq(s, want), "%s is '%.*s', not '%s'", key, (int)s.len, s.p, want);
}

static void assert_true(struct bytes t, const char *key)
{
	struct fvalue v = get(t, key);
	ck_assert_msg(v.type == 't' && v.v.b, "%s is not true", key);
}

static void assert_reencodes(struct bytes t)
{
	struct wbuf w = {0};
	reencode_table(&w, t);
	ck_assert_uint_eq(w.len, t.len);
	ck_assert_mem_eq(w.p, t.p, t.len);
	wb_free(&w);
}

START_TEST(golden_pika_client_properties)
{
	uint8_t *buf;
	struct bytes t = golden_props("pika.client.bin", &buf);
	ck_assert_int_eq(table_validate(t), 0);
	assert_str(t, "product", "Pika Python Client Library");
	assert_str(t, "version", "1.2.0");
	assert_str(t, "information", "See http://pika.rtfd.org");
	struct fvalue caps = get(t, "capabilities");
	ck_assert_int_eq(caps.type, 'F');
	assert_true(caps.v.s, "authentication_failure_close");
	assert_true(caps.v.s, "basic.nack");
	assert_true(caps.v.s, "connection.blocked");
	assert_true(caps.v.s, "consumer_cancel_notify");
	assert_true(caps.v.s, "publisher_confirms");
	assert_reencodes(t);
	free(buf);
}
END_TEST

START_TEST(golden_rabbitmq_c_client_properties)
{
	uint8_t *buf;
	struct bytes t = golden_props("amqp_publish.client.bin", &buf);
	ck_assert_int_eq(table_validate(t), 0);
	assert_str(t, "product", "rabbitmq-c");
	assert_str(t, "version", "0.11.0");
	assert_str(t, "platform", "Linux");
	struct fvalue caps = get(t, "capabilities");
	assert_true(caps.v.s, "exchange_exchange_bindings");
	assert_reencodes(t);
	free(buf);
}
END_TEST

START_TEST(golden_rabbitmq_server_properties)
{
	uint8_t *buf;
	struct bytes t = golden_props("pika.server.bin", &buf);
	ck_assert_int_eq(table_validate(t), 0);
	assert_str(t, "product", "RabbitMQ");
	assert_str(t, "version", "3.10.8");
	assert_str(t, "platform", "Erlang/OTP 25.2.3");
	struct fvalue caps = get(t, "capabilities");
	static const char *names[] = {"publisher_confirms", "exchange_exchange_bindings",
				      "basic.nack", "consumer_cancel_notify", "connection.blocked",
				      "consumer_priorities", "authentication_failure_close",
				      "per_consumer_qos", "direct_reply_to"};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		assert_true(caps.v.s, names[i]);
	assert_reencodes(t);

	/* Every proper prefix of the real table is malformed or ends between
	 * pairs; none is read past its end. */
	for (uint32_t n = 0; n < t.len; n++) {
		uint8_t *p = dup_exact(t.p, n);
		(void)table_validate((struct bytes){p, n});
		free(p);
	}
	free(buf);
}
END_TEST

static Suite *table_suite(void)
{
	Suite *s = suite_create("table");
	TCase *d = tcase_create("decode");
	tcase_add_test(d, every_type_decodes);
	tcase_add_test(d, array_iterates);
	tcase_add_test(d, every_type_reencodes);
	tcase_add_test(d, get_lookup);
	tcase_add_test(d, writer_bytes);
	suite_add_tcase(s, d);

	TCase *v = tcase_create("values");
	tcase_add_test(v, int_across_widths);
	tcase_add_test(v, int_equal_across_widths);
	tcase_add_test(v, equal_other_types);
	suite_add_tcase(s, v);

	TCase *m = tcase_create("malformed");
	tcase_add_test(m, truncated_everywhere);
	tcase_add_test(m, nesting_depth);
	tcase_add_test(m, nesting_bomb);
	tcase_add_test(m, key_rules);
	tcase_add_test(m, unknown_letters);
	tcase_add_test(m, bad_lengths);
	suite_add_tcase(s, m);

	TCase *g = tcase_create("golden");
	tcase_add_test(g, golden_pika_client_properties);
	tcase_add_test(g, golden_rabbitmq_c_client_properties);
	tcase_add_test(g, golden_rabbitmq_server_properties);
	suite_add_tcase(s, g);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(table_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
