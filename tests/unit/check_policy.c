/* check_policy.c — unit tests for broker/model/policy.c: definition parsing as
 * rows (each key with good and bad values, the error naming the key,
 * warnings for accepted-but-ignored keys, operator-policy restrictions),
 * x-arguments as a definition, which policy applies (priority, name
 * ties, apply-to, unanchored patterns, vhosts, the two namespaces), the
 * merge of arguments, policy and operator policy, and the table's life
 * cycle (a failed set changes nothing, replace, delete, vhost deletion). */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/model/policy.h"
#include "protocol/table.h"

static json_t *js(const char *text)
{
	json_error_t e;
	json_t *j = json_loads(text, JSON_DECODE_ANY, &e);
	ck_assert_msg(j != NULL, "bad test JSON %s: %s", text, e.text);
	return j;
}

/* Collects the keys warn() is called with, comma-separated. */
struct warned {
	char keys[256];
	int n;
};

static void on_warn(void *ctx, const char *key)
{
	struct warned *w = ctx;
	size_t len = strlen(w->keys);
	snprintf(w->keys + len, sizeof w->keys - len, "%s%s", w->n ? "," : "", key);
	w->n++;
}

/* Parses text; returns the result code and leaves the error in err. */
static int parse(const char *text, bool op, struct policy_def *d, struct warned *w, char *err,
		 size_t errlen)
{
	json_t *j = js(text);
	err[0] = '\0';
	int rc = policy_def_parse(j, op, d, on_warn, w, err, errlen);
	json_decref(j);
	return rc;
}

/* ---- parsing: one row per accepted value ---- */

#define F(field) offsetof(struct policy_def, field)
static const struct good_row {
	const char *json;
	size_t off; /* an int64_t field */
	int64_t want;
} good_rows[] = {
	{"{\"message-ttl\":0}", F(message_ttl), 0},
	{"{\"message-ttl\":60000}", F(message_ttl), 60000},
	{"{\"expires\":1}", F(expires), 1},
	{"{\"max-length\":0}", F(max_length), 0},
	{"{\"max-length\":1000000}", F(max_length), 1000000},
	{"{\"max-length-bytes\":1048576}", F(max_length_bytes), 1048576},
	{"{\"delivery-limit\":3}", F(delivery_limit), 3},
	{"{\"consumer-timeout\":900000}", F(consumer_timeout), 900000},
	{"{\"max-length\":9007199254740993}", F(max_length), 9007199254740993ll},
};
#define NGOOD (sizeof good_rows / sizeof good_rows[0])

START_TEST(test_parse_good)
{
	const struct good_row *r = &good_rows[_i];
	struct policy_def d;
	struct warned w = {0};
	char err[256];
	ck_assert_msg(parse(r->json, false, &d, &w, err, sizeof err) == 0, "%s: %s", r->json, err);
	ck_assert_int_eq(*(int64_t *)((char *)&d + r->off), r->want);
	/* Every other numeric field stays unset. */
	static const size_t nums[] = {F(message_ttl),      F(expires),        F(max_length),
				      F(max_length_bytes), F(delivery_limit), F(consumer_timeout)};
	for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++)
		if (nums[i] != r->off)
			ck_assert_int_eq(*(int64_t *)((char *)&d + nums[i]), -1);
	ck_assert_int_eq(d.overflow, POLICY_OVERFLOW_UNSET);
	ck_assert_ptr_null(d.dlx);
	ck_assert_int_eq(w.n, 0);
	policy_def_free(&d);
}
END_TEST

/* ---- parsing: one row per refused definition, with the exact error ---- */

static const struct bad_row {
	const char *json;
	bool op;
	const char *err;
} bad_rows[] = {
	{"{\"message-ttl\":-1}", false, "message-ttl: expected a non-negative integer"},
	{"{\"message-ttl\":1.5}", false, "message-ttl: expected a non-negative integer"},
	{"{\"message-ttl\":1000.0}", false, "message-ttl: expected a non-negative integer"},
	{"{\"message-ttl\":\"1000\"}", false, "message-ttl: expected a non-negative integer"},
	{"{\"expires\":0}", false, "expires: expected a positive integer"},
	{"{\"expires\":true}", false, "expires: expected a positive integer"},
	{"{\"max-length\":-5}", false, "max-length: expected a non-negative integer"},
	{"{\"max-length\":null}", false, "max-length: expected a non-negative integer"},
	{"{\"max-length-bytes\":\"1k\"}", false,
	 "max-length-bytes: expected a non-negative integer"},
	{"{\"delivery-limit\":-1}", false, "delivery-limit: expected a non-negative integer"},
	{"{\"consumer-timeout\":0}", false, "consumer-timeout: expected a positive integer"},
	{"{\"overflow\":\"drop-tail\"}", false,
	 "overflow: expected drop-head, reject-publish or reject-publish-dlx"},
	{"{\"overflow\":1}", false,
	 "overflow: expected drop-head, reject-publish or reject-publish-dlx"},
	{"{\"dead-letter-exchange\":5}", false, "dead-letter-exchange: expected a string"},
	{"{\"dead-letter-routing-key\":[\"k\"]}", false,
	 "dead-letter-routing-key: expected a string"},
	{"{\"alternate-exchange\":{}}", false, "alternate-exchange: expected a string"},
	{"{\"foo\":1}", false, "foo: not a recognised policy key"},
	{"{\"x-message-ttl\":1}", false, "x-message-ttl: not a recognised policy key"},
	{"{\"max-length\":1,\"bogus\":2}", false, "bogus: not a recognised policy key"},
	{"{}", false, "definition: no policy provided"},
	{"[1]", false, "definition: expected a JSON object"},
	{"\"max-length\"", false, "definition: expected a JSON object"},
	{"{\"dead-letter-exchange\":\"dlx\"}", true,
	 "dead-letter-exchange: not allowed in an operator policy"},
	{"{\"overflow\":\"drop-head\"}", true, "overflow: not allowed in an operator policy"},
	{"{\"consumer-timeout\":5}", true, "consumer-timeout: not allowed in an operator policy"},
	{"{\"ha-mode\":\"all\"}", true, "ha-mode: not allowed in an operator policy"},
	{"{\"queue-mode\":\"lazy\"}", true, "queue-mode: not allowed in an operator policy"},
	{"{\"foo\":1}", true, "foo: not a recognised policy key"},
	{"{\"max-length\":-1}", true, "max-length: expected a non-negative integer"},
};
#define NBAD (sizeof bad_rows / sizeof bad_rows[0])

START_TEST(test_parse_bad)
{
	const struct bad_row *r = &bad_rows[_i];
	struct policy_def d;
	struct warned w = {0};
	char err[256];
	ck_assert_int_eq(parse(r->json, r->op, &d, &w, err, sizeof err), -1);
	ck_assert_str_eq(err, r->err);
	/* A refused definition leaves out empty and warns about nothing. */
	ck_assert_int_eq(d.max_length, -1);
	ck_assert_ptr_null(d.dlx);
	ck_assert_int_eq(w.n, 0);
}
END_TEST

START_TEST(test_parse_strings)
{
	struct policy_def d;
	struct warned w = {0};
	char err[256];
	ck_assert_int_eq(
		parse("{\"dead-letter-exchange\":\"dlx\",\"dead-letter-routing-key\":\"rk\","
		      "\"alternate-exchange\":\"ae\",\"overflow\":\"reject-publish-dlx\"}",
		      false, &d, &w, err, sizeof err),
		0);
	ck_assert_str_eq(d.dlx, "dlx");
	ck_assert_str_eq(d.dl_rkey, "rk");
	ck_assert_str_eq(d.alternate_exchange, "ae");
	ck_assert_int_eq(d.overflow, POLICY_REJECT_DLX);
	policy_def_free(&d);
	ck_assert_ptr_null(d.dlx); /* free leaves an empty def */

	static const char *const ovf[] = {"drop-head", "reject-publish", "reject-publish-dlx"};
	static const int want[] = {POLICY_DROP_HEAD, POLICY_REJECT, POLICY_REJECT_DLX};
	for (int i = 0; i < 3; i++) {
		char text[64];
		snprintf(text, sizeof text, "{\"overflow\":\"%s\"}", ovf[i]);
		ck_assert_int_eq(parse(text, false, &d, &w, err, sizeof err), 0);
		ck_assert_int_eq(d.overflow, want[i]);
		policy_def_free(&d);
	}
	/* The empty string is a valid (default) exchange name, as in RabbitMQ. */
	ck_assert_int_eq(parse("{\"dead-letter-exchange\":\"\"}", false, &d, &w, err, sizeof err),
			 0);
	ck_assert_str_eq(d.dlx, "");
	policy_def_free(&d);
}
END_TEST

START_TEST(test_parse_warns_ignored)
{
	struct policy_def d;
	struct warned w = {0};
	char err[256];
	ck_assert_int_eq(parse("{\"ha-mode\":\"all\",\"max-length\":5,\"queue-mode\":\"lazy\"}",
			       false, &d, &w, err, sizeof err),
			 0);
	ck_assert_int_eq(w.n, 2);
	ck_assert_str_eq(w.keys, "ha-mode,queue-mode");
	ck_assert_int_eq(d.max_length, 5);
	policy_def_free(&d);

	/* Prefixes: any ha-* and federation-* key. */
	w = (struct warned){0};
	ck_assert_int_eq(parse("{\"ha-sync-batch-size\":10,\"federation-upstream-set\":\"all\"}",
			       false, &d, &w, err, sizeof err),
			 0);
	ck_assert_str_eq(w.keys, "ha-sync-batch-size,federation-upstream-set");
	policy_def_free(&d);

	/* Operator policies accept the quorum in-memory limits (ignored). */
	w = (struct warned){0};
	ck_assert_int_eq(parse("{\"max-in-memory-length\":10,\"expires\":60000}", true, &d, &w, err,
			       sizeof err),
			 0);
	ck_assert_str_eq(w.keys, "max-in-memory-length");
	ck_assert_int_eq(d.expires, 60000);
	policy_def_free(&d);

	/* A NULL callback is allowed. */
	json_t *j = js("{\"queue-version\":2}");
	ck_assert_int_eq(policy_def_parse(j, false, &d, NULL, NULL, err, sizeof err), 0);
	json_decref(j);
	policy_def_free(&d);

	/* "ha" alone is no ha-* key. */
	ck_assert_int_eq(parse("{\"ha\":1}", false, &d, &w, err, sizeof err), -1);
	ck_assert_str_eq(err, "ha: not a recognised policy key");
}
END_TEST

START_TEST(test_parse_operator_limits)
{
	struct policy_def d;
	struct warned w = {0};
	char err[256];
	ck_assert_int_eq(parse("{\"expires\":1,\"message-ttl\":2,\"max-length\":3,"
			       "\"max-length-bytes\":4,\"delivery-limit\":5}",
			       true, &d, &w, err, sizeof err),
			 0);
	ck_assert_int_eq(d.expires, 1);
	ck_assert_int_eq(d.message_ttl, 2);
	ck_assert_int_eq(d.max_length, 3);
	ck_assert_int_eq(d.max_length_bytes, 4);
	ck_assert_int_eq(d.delivery_limit, 5);
	policy_def_free(&d);
}
END_TEST

/* ---- x-arguments ---- */

START_TEST(test_from_args)
{
	struct wbuf t = {0};
	tw_key(&t, "x-message-ttl");
	tv_i32(&t, 5000);
	tw_key(&t, "x-expires");
	tv_i64(&t, 60000);
	tw_key(&t, "x-max-length");
	tv_i32(&t, 10);
	tw_key(&t, "x-max-length-bytes");
	tv_i64(&t, 4096);
	tw_key(&t, "x-delivery-limit");
	tv_i32(&t, 2);
	tw_key(&t, "x-overflow");
	tv_str(&t, "reject-publish");
	tw_key(&t, "x-dead-letter-exchange");
	tv_str(&t, "dlx");
	tw_key(&t, "x-dead-letter-routing-key");
	tv_str(&t, "rk");
	tw_key(&t, "alternate-exchange");
	tv_str(&t, "ae");
	tw_key(&t, "x-other");
	tv_i32(&t, 99);
	struct policy_def d;
	policy_def_from_args((struct bytes){t.p, (uint32_t)t.len}, &d);
	ck_assert_int_eq(d.message_ttl, 5000);
	ck_assert_int_eq(d.expires, 60000);
	ck_assert_int_eq(d.max_length, 10);
	ck_assert_int_eq(d.max_length_bytes, 4096);
	ck_assert_int_eq(d.delivery_limit, 2);
	ck_assert_int_eq(d.consumer_timeout, -1);
	ck_assert_int_eq(d.overflow, POLICY_REJECT);
	ck_assert_str_eq(d.dlx, "dlx");
	ck_assert_str_eq(d.dl_rkey, "rk");
	ck_assert_str_eq(d.alternate_exchange, "ae");
	policy_def_free(&d);
	wb_free(&t);

	/* No arguments: everything unset. */
	policy_def_from_args((struct bytes){0}, &d);
	ck_assert_int_eq(d.message_ttl, -1);
	ck_assert_int_eq(d.max_length, -1);
	ck_assert_int_eq(d.overflow, POLICY_OVERFLOW_UNSET);
	ck_assert_ptr_null(d.dlx);
	ck_assert_ptr_null(d.alternate_exchange);

	/* Values of the wrong type are not taken. */
	t = (struct wbuf){0};
	tw_key(&t, "x-message-ttl");
	tv_str(&t, "5000");
	tw_key(&t, "x-dead-letter-exchange");
	tv_i32(&t, 1);
	policy_def_from_args((struct bytes){t.p, (uint32_t)t.len}, &d);
	ck_assert_int_eq(d.message_ttl, -1);
	ck_assert_ptr_null(d.dlx);
	wb_free(&t);
}
END_TEST

/* ---- apply-to ---- */

START_TEST(test_apply_names)
{
	static const char *const names[] = {"all",           "queues",  "classic_queues",
					    "quorum_queues", "streams", "exchanges"};
	static const enum policy_apply want[] = {
		APPLY_ALL,           APPLY_QUEUES,  APPLY_CLASSIC_QUEUES,
		APPLY_QUORUM_QUEUES, APPLY_STREAMS, APPLY_EXCHANGES};
	enum policy_apply a;
	for (int i = 0; i < 6; i++) {
		a = (enum policy_apply)99;
		ck_assert_int_eq(policy_apply_parse(names[i], &a), 0);
		ck_assert_int_eq(a, want[i]);
		ck_assert_str_eq(policy_apply_name(want[i]), names[i]);
	}
	a = APPLY_EXCHANGES;
	ck_assert_int_eq(policy_apply_parse(NULL, &a), 0);
	ck_assert_int_eq(a, APPLY_ALL);
	a = APPLY_EXCHANGES;
	ck_assert_int_eq(policy_apply_parse("", &a), 0);
	ck_assert_int_eq(a, APPLY_ALL);
	ck_assert_int_eq(policy_apply_parse("queue", &a), -1);
	ck_assert_int_eq(policy_apply_parse("Queues", &a), -1);
}
END_TEST

/* ---- the table ---- */

static void set_ok(const char *vhost, const char *name, const char *pattern, enum policy_apply a,
		   int64_t prio, const char *def, bool op)
{
	char err[256] = "";
	json_t *j = js(def);
	int rc = policy_set(vhost, name, pattern, a, prio, j, op, NULL, NULL, err, sizeof err);
	json_decref(j);
	ck_assert_msg(rc == 0, "policy_set %s: %s", name, err);
}

static int set_fail(const char *vhost, const char *name, const char *pattern, const char *def,
		    bool op, char *err, size_t errlen)
{
	json_t *j = js(def);
	err[0] = '\0';
	int rc = policy_set(vhost, name, pattern, APPLY_ALL, 0, j, op, NULL, NULL, err, errlen);
	json_decref(j);
	return rc;
}

/* The name of the policy matching, or "-" for none. */
static const char *match(const char *vhost, const char *name, bool is_queue, bool op)
{
	const struct policy *p = policy_match(vhost, bytes_of(name), is_queue, op);
	return p ? p->name : "-";
}

static void teardown(void)
{
	policy_free_all();
}

START_TEST(test_match_priority)
{
	set_ok("/", "low", ".*", APPLY_ALL, 1, "{\"max-length\":1}", false);
	set_ok("/", "high", ".*", APPLY_ALL, 5, "{\"max-length\":2}", false);
	set_ok("/", "neg", ".*", APPLY_ALL, -3, "{\"max-length\":3}", false);
	ck_assert_str_eq(match("/", "q", true, false), "high");
	/* A higher-priority policy that does not match does not count. */
	set_ok("/", "top", "^other$", APPLY_ALL, 100, "{\"max-length\":4}", false);
	ck_assert_str_eq(match("/", "q", true, false), "high");
	ck_assert_str_eq(match("/", "other", true, false), "top");
}
END_TEST

START_TEST(test_match_tie_by_name)
{
	/* Set in reverse order so insertion order cannot be what decides. */
	set_ok("/", "zeta", "q", APPLY_ALL, 3, "{\"max-length\":1}", false);
	set_ok("/", "beta", "q", APPLY_ALL, 3, "{\"max-length\":2}", false);
	set_ok("/", "alpha", "q", APPLY_ALL, 2, "{\"max-length\":3}", false);
	ck_assert_str_eq(match("/", "q", true, false), "beta");
	set_ok("/", "Beta", "q", APPLY_ALL, 3, "{\"max-length\":4}", false);
	ck_assert_str_eq(match("/", "q", true, false), "Beta"); /* 'B' < 'b' byte-wise */
}
END_TEST

START_TEST(test_match_apply_to)
{
	set_ok("/", "pq", "^foo", APPLY_QUEUES, 1, "{\"max-length\":1}", false);
	set_ok("/", "px", "^foo", APPLY_EXCHANGES, 1, "{\"alternate-exchange\":\"ae\"}", false);
	ck_assert_str_eq(match("/", "foo", true, false), "pq");
	ck_assert_str_eq(match("/", "foo", false, false), "px");

	/* Quorum and stream policies never apply to Tern's (classic) queues. */
	set_ok("/", "qq", "^bar", APPLY_QUORUM_QUEUES, 9, "{\"max-length\":1}", false);
	set_ok("/", "st", "^bar", APPLY_STREAMS, 9, "{\"max-length\":1}", false);
	ck_assert_str_eq(match("/", "bar", true, false), "-");
	ck_assert_str_eq(match("/", "bar", false, false), "-");
	set_ok("/", "cq", "^bar", APPLY_CLASSIC_QUEUES, 1, "{\"max-length\":1}", false);
	ck_assert_str_eq(match("/", "bar", true, false), "cq");
	ck_assert_str_eq(match("/", "bar", false, false), "-");
	set_ok("/", "all", "^bar", APPLY_ALL, 0, "{\"max-length\":1}", false);
	ck_assert_str_eq(match("/", "bar", false, false), "all");
}
END_TEST

START_TEST(test_match_unanchored)
{
	set_ok("/", "foo", "foo", APPLY_ALL, 0, "{\"max-length\":1}", false);
	set_ok("/", "amq", "^amq\\.", APPLY_ALL, 1, "{\"max-length\":1}", false);
	ck_assert_str_eq(match("/", "xfoox", true, false), "foo");
	ck_assert_str_eq(match("/", "fo", true, false), "-");
	ck_assert_str_eq(match("/", "amq.direct", false, false), "amq");
	ck_assert_str_eq(match("/", "xamq.direct", false, false), "-");
	ck_assert_str_eq(match("/", "amqXdirect", false, false), "-"); /* the dot is literal */

	/* An empty name (a NULL view) can still match. */
	set_ok("/", "empty", "^$", APPLY_ALL, 5, "{\"max-length\":1}", false);
	const struct policy *p = policy_match("/", (struct bytes){0}, true, false);
	ck_assert_ptr_nonnull(p);
	ck_assert_str_eq(p->name, "empty");
	/* Names are matched as bytes, with their length (a NUL inside is a byte). */
	p = policy_match("/", (struct bytes){(const uint8_t *)"a\0foo", 5}, true, false);
	ck_assert_ptr_nonnull(p);
	ck_assert_str_eq(p->name, "foo");
}
END_TEST

START_TEST(test_match_vhosts_and_kinds)
{
	set_ok("/", "p", ".*", APPLY_ALL, 0, "{\"max-length\":1}", false);
	set_ok("other", "o", ".*", APPLY_ALL, 0, "{\"max-length\":2}", false);
	ck_assert_str_eq(match("/", "q", true, false), "p");
	ck_assert_str_eq(match("other", "q", true, false), "o");
	ck_assert_str_eq(match("third", "q", true, false), "-");
	ck_assert_str_eq(match("/", "q", true, true), "-"); /* no operator policy yet */

	/* Same name in both namespaces: two policies. */
	set_ok("/", "p", ".*", APPLY_ALL, 0, "{\"max-length\":10}", true);
	const struct policy *pol = policy_find("/", "p", false), *op = policy_find("/", "p", true);
	ck_assert_ptr_nonnull(pol);
	ck_assert_ptr_nonnull(op);
	ck_assert_ptr_ne(pol, op);
	ck_assert(!pol->op);
	ck_assert(op->op);
	ck_assert_int_eq(pol->def.max_length, 1);
	ck_assert_int_eq(op->def.max_length, 10);
	ck_assert_ptr_eq(policy_match("/", bytes_of("q"), true, false), pol);
	ck_assert_ptr_eq(policy_match("/", bytes_of("q"), true, true), op);
	ck_assert_ptr_null(policy_find("other", "p", false));

	/* policy_next lists both kinds of every vhost. */
	size_t i = 0, n = 0, nop = 0;
	for (const struct policy *it; (it = policy_next(&i));) {
		n++;
		nop += it->op;
	}
	ck_assert_int_eq(n, 3);
	ck_assert_int_eq(nop, 1);
}
END_TEST

START_TEST(test_set_stores_fields)
{
	struct warned w = {0};
	char err[256];
	json_t *j = js("{\"queue-mode\":\"lazy\",\"message-ttl\":1000,\"max-length\":5}");
	ck_assert_int_eq(policy_set("v", "n", "^q\\.", APPLY_QUEUES, 7, j, false, on_warn, &w, err,
				    sizeof err),
			 0);
	json_decref(j);
	ck_assert_str_eq(w.keys, "queue-mode");
	const struct policy *p = policy_find("v", "n", false);
	ck_assert_ptr_nonnull(p);
	ck_assert_str_eq(p->vhost, "v");
	ck_assert_str_eq(p->name, "n");
	ck_assert_str_eq(p->pattern, "^q\\.");
	ck_assert_int_eq(p->apply_to, APPLY_QUEUES);
	ck_assert_int_eq(p->priority, 7);
	ck_assert(!p->op);
	ck_assert_int_eq(p->def.message_ttl, 1000);
	ck_assert_int_eq(p->def.max_length, 5);
	/* Compact, keys sorted, ignored keys kept (the definition as given). */
	ck_assert_str_eq(p->definition,
			 "{\"max-length\":5,\"message-ttl\":1000,\"queue-mode\":\"lazy\"}");
}
END_TEST

START_TEST(test_bad_pattern_keeps_old)
{
	char err[256];
	set_ok("/", "p", "^a", APPLY_ALL, 1, "{\"max-length\":1}", false);
	const struct policy *before = policy_find("/", "p", false);
	ck_assert_int_eq(
		set_fail("/", "p", "(unclosed", "{\"max-length\":2}", false, err, sizeof err), -1);
	ck_assert_msg(strncmp(err, "pattern: ", 9) == 0 && strstr(err, " at offset 9"), "%s", err);
	const struct policy *p = policy_find("/", "p", false);
	ck_assert_ptr_eq(p, before);
	ck_assert_str_eq(p->pattern, "^a");
	ck_assert_int_eq(p->def.max_length, 1);
	ck_assert_str_eq(match("/", "abc", true, false), "p");

	/* A bad definition changes nothing either, and creates nothing. */
	ck_assert_int_eq(set_fail("/", "p", "^b", "{\"max-length\":-1}", false, err, sizeof err),
			 -1);
	ck_assert_str_eq(err, "max-length: expected a non-negative integer");
	ck_assert_str_eq(policy_find("/", "p", false)->pattern, "^a");
	ck_assert_int_eq(set_fail("/", "new", "[", "{\"max-length\":1}", false, err, sizeof err),
			 -1);
	ck_assert_int_eq(set_fail("/", "new", ".*", "{\"nope\":1}", false, err, sizeof err), -1);
	ck_assert_int_eq(set_fail("/", "new", ".*", "{\"dead-letter-exchange\":\"d\"}", true, err,
				  sizeof err),
			 -1);
	ck_assert_ptr_null(policy_find("/", "new", false));
	ck_assert_ptr_null(policy_find("/", "new", true));
	size_t i = 0, n = 0;
	while (policy_next(&i))
		n++;
	ck_assert_int_eq(n, 1);
}
END_TEST

START_TEST(test_replace)
{
	set_ok("/", "p", "^a", APPLY_ALL, 1, "{\"max-length\":1,\"dead-letter-exchange\":\"d1\"}",
	       false);
	const struct policy *before = policy_find("/", "p", false);
	set_ok("/", "p", "^b", APPLY_EXCHANGES, 2, "{\"alternate-exchange\":\"ae\"}", false);
	const struct policy *p = policy_find("/", "p", false);
	ck_assert_ptr_eq(p, before); /* replaced in place */
	ck_assert_str_eq(p->pattern, "^b");
	ck_assert_int_eq(p->apply_to, APPLY_EXCHANGES);
	ck_assert_int_eq(p->priority, 2);
	ck_assert_int_eq(p->def.max_length, -1); /* nothing left from the old definition */
	ck_assert_ptr_null(p->def.dlx);
	ck_assert_str_eq(p->def.alternate_exchange, "ae");
	ck_assert_str_eq(p->definition, "{\"alternate-exchange\":\"ae\"}");
	ck_assert_str_eq(match("/", "abc", true, false), "-");
	ck_assert_str_eq(match("/", "bcd", false, false), "p");
	size_t i = 0, n = 0;
	while (policy_next(&i))
		n++;
	ck_assert_int_eq(n, 1);
}
END_TEST

START_TEST(test_delete)
{
	set_ok("/", "a", ".*", APPLY_ALL, 1, "{\"max-length\":1}", false);
	set_ok("/", "b", ".*", APPLY_ALL, 0, "{\"max-length\":2}", false);
	set_ok("/", "a", ".*", APPLY_ALL, 0, "{\"max-length\":3}", true);
	ck_assert_str_eq(match("/", "q", true, false), "a");
	ck_assert_int_eq(policy_delete("/", "a", false), 0);
	ck_assert_ptr_null(policy_find("/", "a", false));
	ck_assert_ptr_nonnull(policy_find("/", "a", true)); /* the operator policy stays */
	ck_assert_str_eq(match("/", "q", true, false), "b");
	ck_assert_int_eq(policy_delete("/", "a", false), -1);
	ck_assert_int_eq(policy_delete("other", "b", false), -1);
	ck_assert_int_eq(policy_delete("/", "b", true), -1);
	ck_assert_int_eq(policy_delete("/", "a", true), 0);
	ck_assert_str_eq(match("/", "q", true, true), "-");
}
END_TEST

START_TEST(test_vhost_deleted)
{
	set_ok("a", "p1", ".*", APPLY_ALL, 0, "{\"max-length\":1}", false);
	set_ok("a", "p2", ".*", APPLY_ALL, 0, "{\"max-length\":1}", false);
	set_ok("a", "o1", ".*", APPLY_ALL, 0, "{\"max-length\":1}", true);
	set_ok("ab", "p1", ".*", APPLY_ALL, 0, "{\"max-length\":1}", false); /* "a" is a prefix */
	set_ok("", "p1", ".*", APPLY_ALL, 0, "{\"max-length\":1}", false);
	set_ok("b", "o1", ".*", APPLY_ALL, 0, "{\"max-length\":1}", true);
	policy_vhost_deleted("a");
	ck_assert_ptr_null(policy_find("a", "p1", false));
	ck_assert_ptr_null(policy_find("a", "p2", false));
	ck_assert_ptr_null(policy_find("a", "o1", true));
	ck_assert_str_eq(match("a", "q", true, false), "-");
	ck_assert_str_eq(match("a", "q", true, true), "-");
	ck_assert_ptr_nonnull(policy_find("ab", "p1", false));
	ck_assert_ptr_nonnull(policy_find("", "p1", false));
	ck_assert_ptr_nonnull(policy_find("b", "o1", true));
	size_t i = 0, n = 0;
	for (const struct policy *p; (p = policy_next(&i)); n++)
		ck_assert_str_ne(p->vhost, "a");
	ck_assert_int_eq(n, 3);
	policy_vhost_deleted("nothing-here"); /* a vhost without policies */
	policy_vhost_deleted("b");
	ck_assert_ptr_null(policy_find("b", "o1", true));
	ck_assert_ptr_nonnull(policy_find("ab", "p1", false));
}
END_TEST

/* Many policies over several vhosts, set, matched and deleted in mixed
 * order: the sorted table must stay consistent. */
START_TEST(test_many)
{
	char vhost[16], name[16];
	for (int i = 0; i < 300; i++) {
		snprintf(vhost, sizeof vhost, "v%d", (i * 7) % 5);
		snprintf(name, sizeof name, "p%03d", (i * 37) % 300);
		set_ok(vhost, name, name, APPLY_ALL, (i * 37) % 300, "{\"max-length\":1}", i % 2);
	}
	size_t it = 0, n = 0;
	while (policy_next(&it))
		n++;
	ck_assert_int_eq(n, 300);
	for (int i = 0; i < 300; i++) {
		int k = (i * 37) % 300;
		snprintf(vhost, sizeof vhost, "v%d", (i * 7) % 5);
		snprintf(name, sizeof name, "p%03d", k);
		const struct policy *p = policy_find(vhost, name, i % 2);
		ck_assert_ptr_nonnull(p);
		ck_assert_int_eq(p->priority, k);
		ck_assert_str_eq(match(vhost, name, true, i % 2), name);
	}
	for (int i = 0; i < 300; i += 2) {
		snprintf(vhost, sizeof vhost, "v%d", (i * 7) % 5);
		snprintf(name, sizeof name, "p%03d", (i * 37) % 300);
		ck_assert_int_eq(policy_delete(vhost, name, false), 0);
	}
	it = n = 0;
	for (const struct policy *p; (p = policy_next(&it)); n++)
		ck_assert(p->op);
	ck_assert_int_eq(n, 150);
}
END_TEST

/* ---- merging ---- */

static struct policy pol(const char *def, bool op)
{
	struct policy p = {.name = "p", .op = op};
	struct warned w = {0};
	char err[256];
	ck_assert_msg(parse(def, op, &p.def, &w, err, sizeof err) == 0, "%s", err);
	return p;
}

START_TEST(test_effective)
{
	struct policy_def args, out;
	policy_def_init(&args);

	/* Argument 5000 against policy 1000: the lower wins, either way round. */
	struct policy p = pol("{\"message-ttl\":1000,\"dead-letter-exchange\":\"b\","
			      "\"dead-letter-routing-key\":\"rk-b\",\"overflow\":\"drop-head\","
			      "\"alternate-exchange\":\"ae-b\",\"max-length\":100,"
			      "\"consumer-timeout\":30000}",
			      false);
	args.message_ttl = 5000;
	policy_effective(&args, &p, NULL, &out);
	ck_assert_int_eq(out.message_ttl, 1000);
	args.message_ttl = 500;
	policy_effective(&args, &p, NULL, &out);
	ck_assert_int_eq(out.message_ttl, 500);

	/* Strings and overflow: the queue's own argument wins, else the policy. */
	policy_effective(&args, &p, NULL, &out);
	ck_assert_str_eq(out.dlx, "b");
	ck_assert_str_eq(out.dl_rkey, "rk-b");
	ck_assert_int_eq(out.overflow, POLICY_DROP_HEAD);
	ck_assert_str_eq(out.alternate_exchange, "ae-b");
	args.dlx = "a";
	args.dl_rkey = "rk-a";
	args.overflow = POLICY_REJECT;
	args.alternate_exchange = "ae-a";
	policy_effective(&args, &p, NULL, &out);
	ck_assert_str_eq(out.dlx, "a");
	ck_assert_ptr_eq(out.dlx, args.dlx); /* borrowed, not copied */
	ck_assert_str_eq(out.dl_rkey, "rk-a");
	ck_assert_int_eq(out.overflow, POLICY_REJECT);
	ck_assert_str_eq(out.alternate_exchange, "ae-a");
	policy_def_init(&args);

	/* Operator max-length 10 against policy 100: 10; and 1000 against 100: 100. */
	struct policy op = pol("{\"max-length\":10}", true);
	policy_effective(&args, &p, &op, &out);
	ck_assert_int_eq(out.max_length, 10);
	op.def.max_length = 1000;
	policy_effective(&args, &p, &op, &out);
	ck_assert_int_eq(out.max_length, 100);
	args.max_length = 7; /* and an argument lower still */
	policy_effective(&args, &p, &op, &out);
	ck_assert_int_eq(out.max_length, 7);
	ck_assert_int_eq(out.consumer_timeout, 30000);
	policy_def_init(&args);
	policy_def_free(&op.def);

	/* Operator policy only. */
	op = pol("{\"message-ttl\":60000,\"expires\":3600000,\"max-length-bytes\":1024,"
		 "\"delivery-limit\":4}",
		 true);
	policy_effective(&args, NULL, &op, &out);
	ck_assert_int_eq(out.message_ttl, 60000);
	ck_assert_int_eq(out.expires, 3600000);
	ck_assert_int_eq(out.max_length_bytes, 1024);
	ck_assert_int_eq(out.delivery_limit, 4);
	ck_assert_int_eq(out.max_length, -1);
	ck_assert_ptr_null(out.dlx);
	ck_assert_int_eq(out.overflow, POLICY_OVERFLOW_UNSET);
	/* ... with arguments: each the minimum of the two. */
	args.expires = 1000;
	args.delivery_limit = 10;
	policy_effective(&args, NULL, &op, &out);
	ck_assert_int_eq(out.expires, 1000);
	ck_assert_int_eq(out.delivery_limit, 4);
	/* 0 is a set value (expire at once, a zero-length queue), not "unset". */
	args.message_ttl = 0;
	policy_effective(&args, &p, &op, &out);
	ck_assert_int_eq(out.message_ttl, 0);
	policy_def_init(&args);
	policy_def_free(&op.def);

	/* Arguments only, and nothing at all. */
	args.max_length_bytes = 2048;
	args.dlx = "x";
	policy_effective(&args, NULL, NULL, &out);
	ck_assert_int_eq(out.max_length_bytes, 2048);
	ck_assert_str_eq(out.dlx, "x");
	policy_def_init(&args);
	policy_effective(&args, NULL, NULL, &out);
	ck_assert_int_eq(out.message_ttl, -1);
	ck_assert_int_eq(out.expires, -1);
	ck_assert_int_eq(out.max_length, -1);
	ck_assert_int_eq(out.max_length_bytes, -1);
	ck_assert_int_eq(out.delivery_limit, -1);
	ck_assert_int_eq(out.consumer_timeout, -1);
	ck_assert_int_eq(out.overflow, POLICY_OVERFLOW_UNSET);
	ck_assert_ptr_null(out.dlx);
	ck_assert_ptr_null(out.dl_rkey);
	ck_assert_ptr_null(out.alternate_exchange);
	/* NULL arguments are the same as none. */
	policy_effective(NULL, &p, NULL, &out);
	ck_assert_int_eq(out.message_ttl, 1000);
	ck_assert_str_eq(out.dlx, "b");
	policy_def_free(&p.def);
}
END_TEST

static Suite *policy_suite(void)
{
	Suite *s = suite_create("policy");
	TCase *tc = tcase_create("parse");
	tcase_add_loop_test(tc, test_parse_good, 0, NGOOD);
	tcase_add_loop_test(tc, test_parse_bad, 0, NBAD);
	tcase_add_test(tc, test_parse_strings);
	tcase_add_test(tc, test_parse_warns_ignored);
	tcase_add_test(tc, test_parse_operator_limits);
	tcase_add_test(tc, test_from_args);
	tcase_add_test(tc, test_apply_names);
	suite_add_tcase(s, tc);

	tc = tcase_create("table");
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_add_test(tc, test_match_priority);
	tcase_add_test(tc, test_match_tie_by_name);
	tcase_add_test(tc, test_match_apply_to);
	tcase_add_test(tc, test_match_unanchored);
	tcase_add_test(tc, test_match_vhosts_and_kinds);
	tcase_add_test(tc, test_set_stores_fields);
	tcase_add_test(tc, test_bad_pattern_keeps_old);
	tcase_add_test(tc, test_replace);
	tcase_add_test(tc, test_delete);
	tcase_add_test(tc, test_vhost_deleted);
	tcase_add_test(tc, test_many);
	suite_add_tcase(s, tc);

	tc = tcase_create("merge");
	tcase_add_test(tc, test_effective);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(policy_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
