/* check_exchanges.c — unit tests for exchanges/registry.c, direct.c and
 * fanout.c: the destination set, registering and finding types (duplicate
 * names, wrong versions, incomplete tables, idempotent init), direct
 * routing over many keys with unbind, and fanout. Topic and headers have
 * their own programs (check_topic.c, check_headers.c). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exchanges/exchange.h"
#include "protocol/table.h"
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

static struct exchange xnew(const struct exchange_type *t)
{
	struct exchange x = {.name = "x", .type = t};
	const char *why = NULL;
	ck_assert_int_eq(t->create(&x, (struct bytes){0}, &why), 0);
	return x;
}

static struct dest_set route(struct exchange *x, const char *key)
{
	struct dest_set s = {0};
	struct route_msg m = {.routing_key = bytes_of(key)};
	x->type->route(x, &m, &s);
	return s;
}

static int count(const struct dest_set *s, const struct binding *b)
{
	int n = 0;
	for (size_t i = 0; i < s->n; i++)
		n += s->v[i] == b;
	return n;
}

/* ---- dest_set ---- */

START_TEST(test_dest_set)
{
	struct dest_set s = {0};
	struct binding b[3];
	for (int i = 0; i < 1000; i++)
		dest_set_add(&s, &b[i % 3]);
	ck_assert_uint_eq(s.n, 1000);
	ck_assert_uint_ge(s.cap, 1000);
	for (int i = 0; i < 1000; i++)
		ck_assert_ptr_eq(s.v[i], &b[i % 3]);
	/* the caller clears and reuses it */
	s.n = 0;
	dest_set_add(&s, &b[2]);
	ck_assert_ptr_eq(s.v[0], &b[2]);
	dest_set_free(&s);
	ck_assert_ptr_null(s.v);
	ck_assert_uint_eq(s.n, 0);
	ck_assert_uint_eq(s.cap, 0);
	dest_set_free(&s); /* freeing an empty set is fine */
}
END_TEST

/* ---- registry ---- */

static int dummy_create(struct exchange *x, struct bytes args, const char **why)
{
	return 0;
}
static void dummy_destroy(struct exchange *x)
{
}
static int dummy_bind(struct exchange *x, struct binding *b, const char **why)
{
	return 0;
}
static void dummy_unbind(struct exchange *x, struct binding *b)
{
}
static void dummy_route(struct exchange *x, const struct route_msg *m, struct dest_set *out)
{
}

#define DUMMY(ver, nm)                                                                            \
	{                                                                                         \
		.version = (ver), .name = (nm), .create = dummy_create, .destroy = dummy_destroy, \
		.bind = dummy_bind, .unbind = dummy_unbind, .route = dummy_route                  \
	}

START_TEST(test_registry_builtins)
{
	ck_assert_ptr_null(exchange_type_find(bytes_of("direct"))); /* before init */
	exchange_types_init();
	exchange_types_init(); /* idempotent */
	ck_assert_ptr_eq(exchange_type_find(bytes_of("direct")), &direct_type);
	ck_assert_ptr_eq(exchange_type_find(bytes_of("fanout")), &fanout_type);
	ck_assert_ptr_eq(exchange_type_find(bytes_of("topic")), &topic_type);
	ck_assert_ptr_eq(exchange_type_find(bytes_of("headers")), &headers_type);
	ck_assert_ptr_null(exchange_type_find(bytes_of("x-delayed-message")));
	ck_assert_ptr_null(exchange_type_find(bytes_of("")));
	ck_assert_ptr_null(exchange_type_find(bytes_of("Direct"))); /* exact bytes */
	ck_assert_ptr_null(exchange_type_find(bytes_of("direc")));
	ck_assert_ptr_null(exchange_type_find(bytes_of("directs")));
	/* names off the wire are views, not C strings */
	struct bytes view = {(const uint8_t *)"topicality", 5};
	ck_assert_ptr_eq(exchange_type_find(view), &topic_type);
	/* built-ins cannot be registered twice */
	ck_assert_int_eq(exchange_type_register(&topic_type), -1);
}
END_TEST

START_TEST(test_registry_plugin)
{
	static const struct exchange_type plugin = DUMMY(EXCHANGE_TYPE_VERSION, "x-test");
	static const struct exchange_type again = DUMMY(EXCHANGE_TYPE_VERSION, "x-test");
	static const struct exchange_type direct2 = DUMMY(EXCHANGE_TYPE_VERSION, "direct");
	exchange_types_init();
	ck_assert_int_eq(exchange_type_register(&plugin), 0);
	ck_assert_ptr_eq(exchange_type_find(bytes_of("x-test")), &plugin);
	/* a second type under a taken name is refused; the first stays */
	ck_assert_int_eq(exchange_type_register(&again), -1);
	ck_assert_int_eq(exchange_type_register(&plugin), -1);
	ck_assert_ptr_eq(exchange_type_find(bytes_of("x-test")), &plugin);
	ck_assert_int_eq(exchange_type_register(&direct2), -1);
	ck_assert_ptr_eq(exchange_type_find(bytes_of("direct")), &direct_type);
}
END_TEST

START_TEST(test_registry_refusals)
{
	static const struct exchange_type old = DUMMY(EXCHANGE_TYPE_VERSION - 1, "x-old");
	static const struct exchange_type future = DUMMY(EXCHANGE_TYPE_VERSION + 1, "x-future");
	static const struct exchange_type noname = DUMMY(EXCHANGE_TYPE_VERSION, NULL);
	static const struct exchange_type empty = DUMMY(EXCHANGE_TYPE_VERSION, "");
	static const struct exchange_type noroute = {.version = EXCHANGE_TYPE_VERSION,
						     .name = "x-noroute",
						     .create = dummy_create,
						     .destroy = dummy_destroy,
						     .bind = dummy_bind,
						     .unbind = dummy_unbind};
	ck_assert_int_eq(exchange_type_register(&old), -1);
	ck_assert_int_eq(exchange_type_register(&future), -1);
	ck_assert_int_eq(exchange_type_register(&noname), -1);
	ck_assert_int_eq(exchange_type_register(&empty), -1);
	ck_assert_int_eq(exchange_type_register(&noroute), -1);
	ck_assert_int_eq(exchange_type_register(NULL), -1);
	ck_assert_ptr_null(exchange_type_find(bytes_of("x-old")));
	ck_assert_ptr_null(exchange_type_find(bytes_of("x-future")));
	ck_assert_ptr_null(exchange_type_find(bytes_of("x-noroute")));
	/* a refusal does not take the name: the right version still goes in */
	static const struct exchange_type fixed = DUMMY(EXCHANGE_TYPE_VERSION, "x-old");
	ck_assert_int_eq(exchange_type_register(&fixed), 0);
	ck_assert_ptr_eq(exchange_type_find(bytes_of("x-old")), &fixed);
}
END_TEST

/* Plenty of plugin types: the registry has no small fixed limit. */
START_TEST(test_registry_many)
{
	enum { N = 100 };
	static struct exchange_type t[N];
	static char names[N][16];
	exchange_types_init();
	for (int i = 0; i < N; i++) {
		snprintf(names[i], sizeof names[i], "x-t%d", i);
		t[i] = (struct exchange_type)DUMMY(EXCHANGE_TYPE_VERSION, names[i]);
		ck_assert_int_eq(exchange_type_register(&t[i]), 0);
	}
	for (int i = 0; i < N; i++)
		ck_assert_ptr_eq(exchange_type_find(bytes_of(names[i])), &t[i]);
	ck_assert_ptr_eq(exchange_type_find(bytes_of("headers")), &headers_type);
}
END_TEST

/* ---- direct ---- */

START_TEST(test_direct_basic)
{
	struct exchange x = xnew(&direct_type);
	struct binding *a = bnew("a", &dests[0]), *a2 = bnew("a", &dests[1]);
	struct binding *ab = bnew("a.b", &dests[2]), *empty = bnew("", &dests[3]);
	const char *why = NULL;
	ck_assert_int_eq(direct_type.bind(&x, a, &why), 0);
	ck_assert_int_eq(direct_type.bind(&x, a2, &why), 0);
	ck_assert_int_eq(direct_type.bind(&x, ab, &why), 0);
	ck_assert_int_eq(direct_type.bind(&x, empty, &why), 0);

	struct dest_set s = route(&x, "a");
	ck_assert_uint_eq(s.n, 2);
	ck_assert_int_eq(count(&s, a), 1);
	ck_assert_int_eq(count(&s, a2), 1);
	dest_set_free(&s);
	/* no wildcards, no prefixes, no case folding */
	static const char *misses[] = {"A", "a.", "a.b.c", "b", "*", "#", "ab"};
	for (size_t i = 0; i < sizeof misses / sizeof misses[0]; i++) {
		s = route(&x, misses[i]);
		ck_assert_msg(s.n == 0, "key '%s'", misses[i]);
		dest_set_free(&s);
	}
	s = route(&x, "a.b");
	ck_assert_uint_eq(s.n, 1);
	ck_assert_ptr_eq(s.v[0], ab);
	dest_set_free(&s);
	/* the empty key is a key like any other, also as a NULL view */
	struct route_msg m = {.routing_key = {NULL, 0}};
	s = (struct dest_set){0};
	direct_type.route(&x, &m, &s);
	ck_assert_uint_eq(s.n, 1);
	ck_assert_ptr_eq(s.v[0], empty);
	dest_set_free(&s);

	direct_type.unbind(&x, a);
	direct_type.unbind(&x, a); /* twice: a no-op */
	s = route(&x, "a");
	ck_assert_uint_eq(s.n, 1);
	ck_assert_ptr_eq(s.v[0], a2);
	dest_set_free(&s);
	direct_type.unbind(&x, a2);
	s = route(&x, "a");
	ck_assert_uint_eq(s.n, 0);
	dest_set_free(&s);
	/* re-bind after the key's entry went away */
	ck_assert_int_eq(direct_type.bind(&x, a, &why), 0);
	s = route(&x, "a");
	ck_assert_uint_eq(s.n, 1);
	dest_set_free(&s);

	direct_type.unbind(&x, a);
	direct_type.unbind(&x, ab);
	direct_type.unbind(&x, empty);
	direct_type.destroy(&x);
	ck_assert_ptr_null(x.type_data);
	bfree(a);
	bfree(a2);
	bfree(ab);
	bfree(empty);
}
END_TEST

/* A routing key view need not be NUL-terminated. */
START_TEST(test_direct_key_view)
{
	struct exchange x = xnew(&direct_type);
	struct binding *b = bnew("order", &dests[0]);
	const char *why = NULL;
	ck_assert_int_eq(direct_type.bind(&x, b, &why), 0);
	struct dest_set s = {0};
	struct route_msg m = {.routing_key = {(const uint8_t *)"orders", 5}};
	direct_type.route(&x, &m, &s);
	ck_assert_uint_eq(s.n, 1);
	dest_set_free(&s);
	direct_type.unbind(&x, b);
	bfree(b);
	direct_type.destroy(&x);
}
END_TEST

START_TEST(test_direct_many_keys)
{
	enum { NK = 2000, PER = 3, N = NK * PER };
	static struct binding *b[N];
	char key[32];
	struct exchange x = xnew(&direct_type);
	const char *why = NULL;
	for (int i = 0; i < N; i++) {
		snprintf(key, sizeof key, "key.%d", i % NK);
		b[i] = bnew(key, &dests[i % 64]);
		ck_assert_int_eq(direct_type.bind(&x, b[i], &why), 0);
	}
	/* every key reaches exactly its own PER bindings; counted, then
	 * asserted once per key (an assertion per binding is a pipe write) */
	for (int k = 0; k < NK; k++) {
		snprintf(key, sizeof key, "key.%d", k);
		struct dest_set s = route(&x, key);
		int ok = s.n == PER;
		for (int j = 0; j < PER; j++)
			ok &= count(&s, b[k + j * NK]) == 1;
		ck_assert_msg(ok, "key %s: %zu bindings", key, s.n);
		dest_set_free(&s);
	}
	/* unbind the middle binding of each even key, all of every third */
	for (int k = 0; k < NK; k++) {
		if (k % 3 == 0)
			for (int j = 0; j < PER; j++)
				direct_type.unbind(&x, b[k + j * NK]);
		else if (k % 2 == 0)
			direct_type.unbind(&x, b[k + NK]);
	}
	for (int k = 0; k < NK; k++) {
		snprintf(key, sizeof key, "key.%d", k);
		struct dest_set s = route(&x, key);
		size_t want = k % 3 == 0 ? 0 : k % 2 == 0 ? PER - 1 : PER;
		int ok = s.n == want;
		if (k % 3 && k % 2 == 0)
			ok &= count(&s, b[k + NK]) == 0 && count(&s, b[k]) == 1 &&
			      count(&s, b[k + 2 * NK]) == 1;
		ck_assert_msg(ok, "after unbind, key %s: %zu bindings, want %zu", key, s.n, want);
		dest_set_free(&s);
	}
	/* destroy with bindings left: the index goes, ASan checks for leaks */
	direct_type.destroy(&x);
	for (int i = 0; i < N; i++)
		bfree(b[i]);
}
END_TEST

/* ---- fanout ---- */

START_TEST(test_fanout)
{
	enum { N = 100 };
	struct binding *b[N];
	struct exchange x = xnew(&fanout_type);
	const char *why = NULL;
	for (int i = 0; i < N; i++) {
		b[i] = bnew(i % 2 ? "some.key" : "", &dests[i % 64]);
		ck_assert_int_eq(fanout_type.bind(&x, b[i], &why), 0);
	}
	/* keys and headers play no part */
	static const char *keys[] = {"", "some.key", "other", "#"};
	for (size_t k = 0; k < 4; k++) {
		struct dest_set s = route(&x, keys[k]);
		ck_assert_uint_eq(s.n, N);
		int ok = 1;
		for (int i = 0; i < N; i++)
			ok &= count(&s, b[i]) == 1;
		ck_assert(ok);
		dest_set_free(&s);
	}
	for (int i = 0; i < N; i += 2)
		fanout_type.unbind(&x, b[i]);
	fanout_type.unbind(&x, b[0]); /* twice: a no-op */
	struct dest_set s = route(&x, "");
	ck_assert_uint_eq(s.n, N / 2);
	int ok = 1;
	for (int i = 0; i < N; i++)
		ok &= count(&s, b[i]) == i % 2;
	ck_assert(ok);
	dest_set_free(&s);
	for (int i = 1; i < N; i += 2)
		fanout_type.unbind(&x, b[i]);
	s = route(&x, "");
	ck_assert_uint_eq(s.n, 0);
	dest_set_free(&s);
	/* and it still takes bindings after emptying */
	ck_assert_int_eq(fanout_type.bind(&x, b[7], &why), 0);
	s = route(&x, "");
	ck_assert_uint_eq(s.n, 1);
	dest_set_free(&s);
	fanout_type.destroy(&x);
	ck_assert_ptr_null(x.type_data);
	for (int i = 0; i < N; i++)
		bfree(b[i]);
}
END_TEST

/* create() takes any arguments: the broker validates alternate-exchange
 * and the like before a type sees them. */
START_TEST(test_create_any_args)
{
	struct wbuf w = {0};
	tw_key(&w, "alternate-exchange");
	wb_u8(&w, 'S');
	wb_longstr(&w, bytes_of("ae"));
	tw_key(&w, "x-whatever");
	wb_u8(&w, 'V');
	struct bytes args = {w.p, (uint32_t)w.len};
	const struct exchange_type *types[] = {&direct_type, &fanout_type, &topic_type,
					       &headers_type};
	for (int i = 0; i < 4; i++) {
		struct exchange x = {.name = "x", .type = types[i]};
		const char *why = NULL;
		ck_assert_int_eq(types[i]->create(&x, args, &why), 0);
		ck_assert_ptr_nonnull(x.type_data);
		types[i]->destroy(&x);
		ck_assert_ptr_null(x.type_data);
	}
	wb_free(&w);
}
END_TEST

static Suite *exchanges_suite(void)
{
	Suite *s = suite_create("exchanges");
	TCase *tc = tcase_create("registry");
	tcase_add_test(tc, test_dest_set);
	tcase_add_test(tc, test_registry_builtins);
	tcase_add_test(tc, test_registry_plugin);
	tcase_add_test(tc, test_registry_refusals);
	tcase_add_test(tc, test_registry_many);
	suite_add_tcase(s, tc);

	tc = tcase_create("direct");
	tcase_add_test(tc, test_direct_basic);
	tcase_add_test(tc, test_direct_key_view);
	tcase_add_test(tc, test_direct_many_keys);
	suite_add_tcase(s, tc);

	tc = tcase_create("fanout");
	tcase_add_test(tc, test_fanout);
	tcase_add_test(tc, test_create_any_args);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(exchanges_suite());
	/* The registry is process-wide and never emptied. Under CK_FORK
	 * each test gets a fresh one; without it the tests still pass,
	 * since each registers names of its own and the builtins test,
	 * which looks before init, runs first. */
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
