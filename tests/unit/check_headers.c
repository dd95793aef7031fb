/* check_headers.c — unit tests for exchanges/headers.c against RabbitMQ's
 * rules (rabbit_exchange_type_headers): every x-match mode, the default,
 * refused modes (406, index unchanged), x- keys ignored or tested, void
 * values as presence tests, integers equal across widths, strings, floats,
 * booleans, nested tables and arrays, repeated header keys, a message
 * without headers, and unbinding from the middle of many bindings. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exchanges/exchange.h"
#include "protocol/frame.h"
#include "protocol/table.h"
#include "util/xalloc.h"

static int dests[64]; /* fake queues: bindings point at these */

/* ---- building tables: pairs only, the form struct bytes tables take ---- */

static struct bytes view(const struct wbuf *w)
{
	return (struct bytes){w->p, (uint32_t)w->len};
}

static void kstr(struct wbuf *w, const char *k, const char *v)
{
	tw_key(w, k);
	tv_str(w, v);
}

/* An integer of the given wire width: b B s u I i l L. */
static void kint(struct wbuf *w, const char *k, char type, int64_t v)
{
	tw_key(w, k);
	wb_u8(w, (uint8_t)type);
	switch (type) {
	case 'b':
	case 'B': wb_u8(w, (uint8_t)v); break;
	case 's':
	case 'u': wb_u16(w, (uint16_t)v); break;
	case 'I':
	case 'i': wb_u32(w, (uint32_t)v); break;
	default: wb_u64(w, (uint64_t)v); break;
	}
}

static void kvoid(struct wbuf *w, const char *k)
{
	tw_key(w, k);
	tv_void(w);
}

static void kbool(struct wbuf *w, const char *k, bool v)
{
	tw_key(w, k);
	tv_bool(w, v);
}

static void kdouble(struct wbuf *w, const char *k, double d)
{
	uint64_t bits;
	memcpy(&bits, &d, sizeof bits);
	tw_key(w, k);
	wb_u8(w, 'd');
	wb_u64(w, bits);
}

static void kfloat(struct wbuf *w, const char *k, float f)
{
	uint32_t bits;
	memcpy(&bits, &f, sizeof bits);
	tw_key(w, k);
	wb_u8(w, 'f');
	wb_u32(w, bits);
}

/* A byte array ('x') holding s. */
static void kbin(struct wbuf *w, const char *k, const char *s)
{
	tw_key(w, k);
	wb_u8(w, 'x');
	wb_longstr(w, bytes_of(s));
}

/* A nested table {inner: v} with v an 'I'. */
static void ktable(struct wbuf *w, const char *k, const char *inner, int32_t v)
{
	tw_key(w, k);
	tv_table_letter(w);
	size_t t = tw_begin(w);
	tw_key(w, inner);
	tv_i32(w, v);
	tw_end(w, t);
}

/* A nested array [a, b] of 'I'. */
static void karray(struct wbuf *w, const char *k, int32_t a, int32_t b)
{
	tw_key(w, k);
	tv_array_letter(w);
	size_t t = tw_begin(w);
	tv_i32(w, a);
	tv_i32(w, b);
	tw_end(w, t);
}

/* ---- exchange and bindings ---- */

static struct exchange xnew(void)
{
	struct exchange x = {.name = "h", .type = &headers_type};
	const char *why = NULL;
	ck_assert_int_eq(headers_type.create(&x, (struct bytes){0}, &why), 0);
	return x;
}

/* A binding owning a copy of args, as the broker's do. */
static struct binding *bnew(struct bytes args, void *dest)
{
	struct binding *b = xcalloc(1, sizeof *b);
	b->dest = dest;
	b->key = xstrdup("ignored");
	b->key_len = 7;
	if (args.len)
		b->args = (struct bytes){xmemdup(args.p, args.len), args.len};
	return b;
}

static void bfree(struct binding *b)
{
	free((void *)b->args.p);
	free(b->key);
	free(b);
}

static int count(const struct dest_set *s, const struct binding *b)
{
	int n = 0;
	for (size_t i = 0; i < s->n; i++)
		n += s->v[i] == b;
	return n;
}

static int route_count(struct exchange *x, struct bytes headers, const struct binding *b)
{
	struct dest_set s = {0};
	struct route_msg m = {.routing_key = bytes_of("rk"), .headers = headers};
	headers_type.route(x, &m, &s);
	int n = count(&s, b);
	dest_set_free(&s);
	return n;
}

/* Binds args alone in a fresh exchange and routes headers: 1 on a match,
 * 0 otherwise. The binding must be accepted. */
static int match(const struct wbuf *args, const struct wbuf *headers)
{
	struct exchange x = xnew();
	struct binding *b = bnew(view(args), &dests[0]);
	const char *why = NULL;
	ck_assert_int_eq(headers_type.bind(&x, b, &why), 0);
	int n = route_count(&x, view(headers), b);
	headers_type.unbind(&x, b);
	ck_assert_ptr_null(b->type_data);
	headers_type.destroy(&x);
	bfree(b);
	return n;
}

/* Per test: binding args A and message headers H, freed by teardown. */
static struct wbuf A, H;

static void setup(void)
{
	A = (struct wbuf){0};
	H = (struct wbuf){0};
}

static void teardown(void)
{
	wb_free(&A);
	wb_free(&H);
}

static void reset_h(void)
{
	H.len = 0;
}

/* ---- modes ---- */

START_TEST(test_all_default)
{
	kstr(&A, "format", "pdf");
	kint(&A, "type", 'I', 2);
	kstr(&H, "format", "pdf");
	kint(&H, "type", 'I', 2);
	ck_assert_int_eq(match(&A, &H), 1);
	kstr(&H, "extra", "ok"); /* more headers than asked for is fine */
	ck_assert_int_eq(match(&A, &H), 1);
	reset_h();
	kstr(&H, "format", "pdf");
	ck_assert_int_eq(match(&A, &H), 0); /* one missing */
	reset_h();
	kstr(&H, "format", "pdf");
	kint(&H, "type", 'I', 3);
	ck_assert_int_eq(match(&A, &H), 0); /* one different */
	reset_h();
	ck_assert_int_eq(match(&A, &H), 0); /* no headers */
}
END_TEST

START_TEST(test_all_explicit)
{
	kstr(&A, "x-match", "all");
	kstr(&A, "a", "1");
	kstr(&A, "b", "2");
	kstr(&H, "b", "2");
	kstr(&H, "a", "1"); /* order does not matter */
	ck_assert_int_eq(match(&A, &H), 1);
	reset_h();
	kstr(&H, "a", "1");
	ck_assert_int_eq(match(&A, &H), 0);
}
END_TEST

START_TEST(test_any)
{
	kstr(&A, "x-match", "any");
	kstr(&A, "a", "1");
	kstr(&A, "b", "2");
	kstr(&H, "b", "2");
	ck_assert_int_eq(match(&A, &H), 1);
	reset_h();
	kstr(&H, "a", "1");
	kstr(&H, "b", "wrong");
	ck_assert_int_eq(match(&A, &H), 1);
	reset_h();
	kstr(&H, "a", "wrong");
	kstr(&H, "c", "1");
	ck_assert_int_eq(match(&A, &H), 0);
	reset_h();
	ck_assert_int_eq(match(&A, &H), 0);
}
END_TEST

/* "all" with nothing to test matches every message, "any" none, as in
 * RabbitMQ (match_all([]) is true, match_any([]) false). */
START_TEST(test_empty_bindings)
{
	kstr(&H, "a", "1");
	ck_assert_int_eq(match(&A, &H), 1); /* no args at all */
	struct wbuf none = {0};
	ck_assert_int_eq(match(&A, &none), 1);
	kstr(&A, "x-match", "all");
	ck_assert_int_eq(match(&A, &H), 1);
	ck_assert_int_eq(match(&A, &none), 1);
	A.len = 0;
	kstr(&A, "x-match", "any");
	ck_assert_int_eq(match(&A, &H), 0);
	ck_assert_int_eq(match(&A, &none), 0);
	A.len = 0;
	kstr(&A, "x-match", "all-with-x");
	ck_assert_int_eq(match(&A, &none), 1);
	A.len = 0;
	kstr(&A, "x-match", "any-with-x");
	ck_assert_int_eq(match(&A, &H), 0);
}
END_TEST

/* Without -with-x, binding keys starting "x-" take no part. */
START_TEST(test_x_keys_ignored)
{
	kstr(&A, "x-match", "all");
	kstr(&A, "x-foo", "bar");
	kstr(&A, "a", "1");
	kstr(&H, "a", "1");
	ck_assert_int_eq(match(&A, &H), 1);
	/* only x- keys: "all" matches anything, "any" nothing */
	A.len = 0;
	kstr(&A, "x-foo", "bar");
	ck_assert_int_eq(match(&A, &H), 1);
	A.len = 0;
	kstr(&A, "x-match", "any");
	kstr(&A, "x-foo", "bar");
	reset_h();
	kstr(&H, "x-foo", "bar");
	ck_assert_int_eq(match(&A, &H), 0);
	/* "X-" is not "x-": tested */
	A.len = 0;
	kstr(&A, "X-foo", "bar");
	ck_assert_int_eq(match(&A, &H), 0);
	kstr(&H, "X-foo", "bar");
	ck_assert_int_eq(match(&A, &H), 1);
}
END_TEST

START_TEST(test_all_with_x)
{
	kstr(&A, "x-match", "all-with-x");
	kstr(&A, "x-foo", "bar");
	kstr(&A, "a", "1");
	kstr(&H, "x-foo", "bar");
	kstr(&H, "a", "1");
	ck_assert_int_eq(match(&A, &H), 1);
	reset_h();
	kstr(&H, "a", "1");
	ck_assert_int_eq(match(&A, &H), 0); /* x-foo now counts */
	reset_h();
	kstr(&H, "x-foo", "baz");
	kstr(&H, "a", "1");
	ck_assert_int_eq(match(&A, &H), 0);
}
END_TEST

START_TEST(test_any_with_x)
{
	kstr(&A, "x-match", "any-with-x");
	kstr(&A, "x-foo", "bar");
	kstr(&A, "a", "1");
	kstr(&H, "x-foo", "bar");
	ck_assert_int_eq(match(&A, &H), 1);
	reset_h();
	kstr(&H, "x-foo", "baz");
	ck_assert_int_eq(match(&A, &H), 0);
	/* x-match itself is never tested: the message need not carry it,
	 * and carrying the same value does not make a match */
	reset_h();
	kstr(&H, "x-match", "any-with-x");
	ck_assert_int_eq(match(&A, &H), 0);
}
END_TEST

/* RabbitMQ refuses these with PRECONDITION_FAILED; the index is left as
 * it was, so earlier bindings still route and later ones still bind. */
START_TEST(test_bad_x_match)
{
	struct exchange x = xnew();
	struct wbuf ok = {0};
	kstr(&ok, "a", "1");
	struct binding *good = bnew(view(&ok), &dests[0]);
	const char *why = NULL;
	ck_assert_int_eq(headers_type.bind(&x, good, &why), 0);

	static const char *bad_values[] = {"", "ALL", "Any", "some", "all ", "any-with-X", "none"};
	for (size_t i = 0; i < sizeof bad_values / sizeof bad_values[0]; i++) {
		A.len = 0;
		kstr(&A, "x-match", bad_values[i]);
		kstr(&A, "a", "1");
		struct binding *b = bnew(view(&A), &dests[1]);
		why = NULL;
		ck_assert_int_eq(headers_type.bind(&x, b, &why), AMQP_PRECONDITION_FAILED);
		ck_assert_ptr_nonnull(why);
		ck_assert_ptr_nonnull(strstr(why, "x-match"));
		ck_assert_ptr_null(b->type_data);
		bfree(b);
	}
	/* not a longstr: an int, a void, a byte array */
	for (int i = 0; i < 3; i++) {
		A.len = 0;
		if (i == 0)
			kint(&A, "x-match", 'I', 1);
		else if (i == 1)
			kvoid(&A, "x-match");
		else
			kbin(&A, "x-match", "all");
		struct binding *b = bnew(view(&A), &dests[1]);
		why = NULL;
		ck_assert_int_eq(headers_type.bind(&x, b, &why), AMQP_PRECONDITION_FAILED);
		ck_assert_ptr_nonnull(why);
		bfree(b);
	}

	kstr(&H, "a", "1");
	struct dest_set s = {0};
	struct route_msg m = {.headers = view(&H)};
	headers_type.route(&x, &m, &s);
	ck_assert_uint_eq(s.n, 1);
	ck_assert_ptr_eq(s.v[0], good);
	dest_set_free(&s);
	headers_type.unbind(&x, good);
	bfree(good);
	wb_free(&ok);
	headers_type.destroy(&x);
}
END_TEST

/* The first x-match decides, as rabbit_misc:table_lookup finds the first. */
START_TEST(test_first_x_match_wins)
{
	kstr(&A, "x-match", "any");
	kstr(&A, "x-match", "bogus");
	kstr(&A, "a", "1");
	kstr(&A, "b", "2");
	kstr(&H, "a", "1");
	ck_assert_int_eq(match(&A, &H), 1);
}
END_TEST

/* ---- values ---- */

START_TEST(test_void_presence)
{
	kvoid(&A, "a");
	kstr(&H, "a", "anything");
	ck_assert_int_eq(match(&A, &H), 1);
	reset_h();
	kint(&H, "a", 'l', 42);
	ck_assert_int_eq(match(&A, &H), 1);
	reset_h();
	kvoid(&H, "a");
	ck_assert_int_eq(match(&A, &H), 1);
	reset_h();
	ktable(&H, "a", "z", 1); /* complex values too: presence only */
	ck_assert_int_eq(match(&A, &H), 1);
	reset_h();
	kstr(&H, "b", "x");
	ck_assert_int_eq(match(&A, &H), 0);
	reset_h();
	ck_assert_int_eq(match(&A, &H), 0);
	/* a non-void binding value against a void header: no */
	A.len = 0;
	kstr(&A, "a", "1");
	kvoid(&H, "a");
	ck_assert_int_eq(match(&A, &H), 0);
}
END_TEST

START_TEST(test_void_any)
{
	kstr(&A, "x-match", "any");
	kvoid(&A, "a");
	kvoid(&A, "b");
	kstr(&H, "b", "");
	ck_assert_int_eq(match(&A, &H), 1);
	reset_h();
	kstr(&H, "c", "");
	ck_assert_int_eq(match(&A, &H), 0);
}
END_TEST

/* Integers compare by value whatever their wire width or signedness. */
START_TEST(test_integer_widths)
{
	static const char widths[] = "bBsuIilL";
	for (int i = 0; widths[i]; i++) {
		for (int j = 0; widths[j]; j++) {
			A.len = 0;
			reset_h();
			kint(&A, "n", widths[i], 5);
			kint(&H, "n", widths[j], 5);
			ck_assert_msg(match(&A, &H) == 1, "'%c' 5 vs '%c' 5", widths[i], widths[j]);
			reset_h();
			kint(&H, "n", widths[j], 6);
			ck_assert_msg(match(&A, &H) == 0, "'%c' 5 vs '%c' 6", widths[i], widths[j]);
		}
	}
	/* negative values keep their sign across widths */
	A.len = 0;
	reset_h();
	kint(&A, "n", 'b', -1);
	kint(&H, "n", 'l', -1);
	ck_assert_int_eq(match(&A, &H), 1);
	reset_h();
	kint(&H, "n", 'B', 255); /* same bits, other value */
	ck_assert_int_eq(match(&A, &H), 0);
	/* a uint64 above INT64_MAX equals itself */
	A.len = 0;
	reset_h();
	kint(&A, "n", 'L', (int64_t)UINT64_MAX);
	kint(&H, "n", 'L', (int64_t)UINT64_MAX);
	ck_assert_int_eq(match(&A, &H), 1);
	reset_h();
	kint(&H, "n", 'l', -1);
	ck_assert_int_eq(match(&A, &H), 0);
}
END_TEST

START_TEST(test_other_values)
{
	/* strings: longstr and byte array with the same bytes are equal
	 * (both binaries in RabbitMQ); "1" is not 1 */
	kstr(&A, "s", "abc");
	kbin(&H, "s", "abc");
	ck_assert_int_eq(match(&A, &H), 1);
	reset_h();
	kstr(&H, "s", "abcd");
	ck_assert_int_eq(match(&A, &H), 0);
	A.len = 0;
	reset_h();
	kstr(&A, "n", "1");
	kint(&H, "n", 'I', 1);
	ck_assert_int_eq(match(&A, &H), 0);
	/* booleans are not integers */
	A.len = 0;
	reset_h();
	kbool(&A, "f", true);
	kbool(&H, "f", true);
	ck_assert_int_eq(match(&A, &H), 1);
	reset_h();
	kbool(&H, "f", false);
	ck_assert_int_eq(match(&A, &H), 0);
	reset_h();
	kint(&H, "f", 'b', 1);
	ck_assert_int_eq(match(&A, &H), 0);
	/* floats by value across widths; a float is no integer */
	A.len = 0;
	reset_h();
	kdouble(&A, "d", 1.5);
	kfloat(&H, "d", 1.5f);
	ck_assert_int_eq(match(&A, &H), 1);
	A.len = 0;
	reset_h();
	kdouble(&A, "d", 1.0);
	kint(&H, "d", 'I', 1);
	ck_assert_int_eq(match(&A, &H), 0);
	/* the empty string is a value like any other */
	A.len = 0;
	reset_h();
	kstr(&A, "e", "");
	kstr(&H, "e", "");
	ck_assert_int_eq(match(&A, &H), 1);
}
END_TEST

START_TEST(test_nested_values)
{
	ktable(&A, "t", "k", 1);
	ktable(&H, "t", "k", 1);
	ck_assert_int_eq(match(&A, &H), 1);
	reset_h();
	ktable(&H, "t", "k", 2);
	ck_assert_int_eq(match(&A, &H), 0);
	reset_h();
	ktable(&H, "t", "j", 1);
	ck_assert_int_eq(match(&A, &H), 0);
	A.len = 0;
	reset_h();
	karray(&A, "a", 1, 2);
	karray(&H, "a", 1, 2);
	ck_assert_int_eq(match(&A, &H), 1);
	reset_h();
	karray(&H, "a", 2, 1);
	ck_assert_int_eq(match(&A, &H), 0);
	reset_h();
	ktable(&H, "a", "k", 1); /* a table is not an array */
	ck_assert_int_eq(match(&A, &H), 0);
}
END_TEST

/* A key repeated in the message: the last occurrence counts, as when
 * RabbitMQ folds the headers into a map. */
START_TEST(test_repeated_header_key)
{
	kstr(&H, "a", "1");
	kstr(&H, "b", "x");
	kstr(&H, "a", "2");
	kstr(&A, "a", "2");
	ck_assert_int_eq(match(&A, &H), 1);
	A.len = 0;
	kstr(&A, "a", "1");
	ck_assert_int_eq(match(&A, &H), 0);
	/* three in a row: only the third counts, whichever one a binary
	 * search would land on first */
	reset_h();
	kstr(&H, "a", "1");
	kstr(&H, "a", "2");
	kstr(&H, "a", "3");
	for (int i = 1; i <= 3; i++) {
		A.len = 0;
		kstr(&A, "a", i == 1 ? "1" : i == 2 ? "2" : "3");
		ck_assert_int_eq(match(&A, &H), (i == 3));
	}
}
END_TEST

/* Many headers (past the scratch array's first size) and keys that are
 * prefixes of each other, to exercise the sorted lookup. */
START_TEST(test_many_headers)
{
	char k[16];
	for (int i = 0; i < 200; i++) {
		snprintf(k, sizeof k, "h%d", i);
		kint(&H, k, 'I', i);
	}
	kstr(&H, "h", "short");
	kstr(&A, "h", "short");
	kint(&A, "h1", 'l', 1);
	kint(&A, "h19", 's', 19);
	kint(&A, "h199", 'L', 199);
	ck_assert_int_eq(match(&A, &H), 1);
	kint(&A, "h200", 'I', 200);
	ck_assert_int_eq(match(&A, &H), 0);
}
END_TEST

/* ---- the index ---- */

START_TEST(test_many_bindings_unbind)
{
	enum { N = 50 };
	struct exchange x = xnew();
	struct binding *b[N];
	for (int i = 0; i < N; i++) {
		A.len = 0;
		kstr(&A, "x-match", i % 2 ? "any" : "all");
		kint(&A, "n", 'I', i % 5);
		kvoid(&A, "p");
		b[i] = bnew(view(&A), &dests[i]);
		const char *why = NULL;
		ck_assert_int_eq(headers_type.bind(&x, b[i], &why), 0);
	}
	kint(&H, "n", 'l', 3);
	/* all: n == 3 and p present -> none (no p); any: n == 3 or p */
	for (int i = 0; i < N; i++)
		ck_assert_int_eq(route_count(&x, view(&H), b[i]), (i % 2 && i % 5 == 3) ? 1 : 0);
	kvoid(&H, "p");
	for (int i = 0; i < N; i++)
		ck_assert_int_eq(route_count(&x, view(&H), b[i]), (i % 2 || i % 5 == 3) ? 1 : 0);
	/* unbind every third, from the middle out; the rest keep matching */
	for (int i = 0; i < N; i += 3)
		headers_type.unbind(&x, b[i]);
	headers_type.unbind(&x, b[0]); /* twice: a no-op */
	for (int i = 0; i < N; i++) {
		int want = i % 3 == 0 ? 0 : (i % 2 || i % 5 == 3) ? 1 : 0;
		ck_assert_int_eq(route_count(&x, view(&H), b[i]), want);
	}
	for (int i = 0; i < N; i++) {
		if (i % 3)
			headers_type.unbind(&x, b[i]);
		bfree(b[i]);
	}
	struct dest_set s = {0};
	struct route_msg m = {.headers = view(&H)};
	headers_type.route(&x, &m, &s);
	ck_assert_uint_eq(s.n, 0);
	dest_set_free(&s);
	headers_type.destroy(&x);
}
END_TEST

/* destroy() with bindings still bound frees their matchers (ASan's leak
 * check would see them) and clears type_data. */
START_TEST(test_destroy_with_bindings)
{
	struct exchange x = xnew();
	kstr(&A, "a", "1");
	struct binding *b1 = bnew(view(&A), &dests[0]), *b2 = bnew(view(&A), &dests[1]);
	const char *why = NULL;
	ck_assert_int_eq(headers_type.bind(&x, b1, &why), 0);
	ck_assert_int_eq(headers_type.bind(&x, b2, &why), 0);
	headers_type.destroy(&x);
	ck_assert_ptr_null(x.type_data);
	ck_assert_ptr_null(b1->type_data);
	ck_assert_ptr_null(b2->type_data);
	bfree(b1);
	bfree(b2);
}
END_TEST

/* The routing key plays no part; a NULL headers view is no headers. */
START_TEST(test_routing_key_ignored)
{
	struct exchange x = xnew();
	struct binding *b = bnew((struct bytes){0}, &dests[0]);
	const char *why = NULL;
	ck_assert_int_eq(headers_type.bind(&x, b, &why), 0);
	struct dest_set s = {0};
	struct route_msg m = {.routing_key = {NULL, 0}, .headers = {NULL, 0}};
	headers_type.route(&x, &m, &s);
	ck_assert_uint_eq(s.n, 1);
	dest_set_free(&s);
	headers_type.unbind(&x, b);
	bfree(b);
	headers_type.destroy(&x);
}
END_TEST

static Suite *headers_suite(void)
{
	Suite *s = suite_create("headers");
	TCase *tc = tcase_create("modes");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_all_default);
	tcase_add_test(tc, test_all_explicit);
	tcase_add_test(tc, test_any);
	tcase_add_test(tc, test_empty_bindings);
	tcase_add_test(tc, test_x_keys_ignored);
	tcase_add_test(tc, test_all_with_x);
	tcase_add_test(tc, test_any_with_x);
	tcase_add_test(tc, test_bad_x_match);
	tcase_add_test(tc, test_first_x_match_wins);
	suite_add_tcase(s, tc);

	tc = tcase_create("values");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_void_presence);
	tcase_add_test(tc, test_void_any);
	tcase_add_test(tc, test_integer_widths);
	tcase_add_test(tc, test_other_values);
	tcase_add_test(tc, test_nested_values);
	tcase_add_test(tc, test_repeated_header_key);
	tcase_add_test(tc, test_many_headers);
	suite_add_tcase(s, tc);

	tc = tcase_create("index");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_many_bindings_unbind);
	tcase_add_test(tc, test_destroy_with_bindings);
	tcase_add_test(tc, test_routing_key_ignored);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(headers_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
