/* check_definitions.c — unit tests for broker/model/definitions.c and the kinds
 * of defs_*.c (no store: the model only): import -> export -> import gives
 * the same set; a second import changes nothing; updates are seen;
 * malformed files are named with line and column; semantic errors name
 * the object, the field and the line, and nothing is applied; prune
 * removes what a file no longer lists but keeps non-empty queues; vhost
 * limits and policies reach the model; jtable round trips. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "broker/model/access.h"
#include "broker/core/config.h"
#include "broker/model/definitions.h"
#include "broker/model/jtable.h"
#include "broker/core/log.h"
#include "broker/queue/message.h"
#include "broker/model/policy.h"
#include "broker/queue/queue.h"
#include "broker/net/server.h"
#include "broker/model/vhost.h"

static void setup(void)
{
	config_defaults();
	log_level = LOG_ERROR;
	exchange_types_init();
	ck_assert_int_eq(server_init_loop(), 0); /* no store, no listeners */
}

static void teardown(void)
{
	event_base_loop(server_base, EVLOOP_NONBLOCK);
	server_free(); /* vhosts, definitions, policies, users */
}

/* A realistic document: every kind, e2e and headers bindings. */
static const char shop[] =
	"{\"rabbit_version\": \"3.10.8\","
	" \"users\": [{\"name\": \"admin\", \"password_hash\":"
	" \"kI3GCqW5JLMJa4iX1lo7X4D6XbYqlLgxIs30+P6tENUV2POR\","
	" \"hashing_algorithm\": \"rabbit_password_hashing_sha256\", \"tags\": [\"administrator\"],"
	" \"limits\": {}},"
	" {\"name\": \"svc\", \"password_hash\": \"\", \"tags\": \"monitoring,management\","
	" \"limits\": {\"max-connections\": 3}}],"
	" \"vhosts\": [{\"name\": \"shop\", \"description\": \"the shop\", \"tags\": [\"prod\"]},"
	" {\"name\": \"billing\"}],"
	" \"permissions\": [{\"user\": \"admin\", \"vhost\": \"shop\", \"configure\": \".*\","
	" \"write\": \".*\", \"read\": \".*\"}, {\"user\": \"svc\", \"vhost\": \"shop\","
	" \"configure\": \"^svc\\\\.\", \"write\": \"\", \"read\": \"^svc\\\\.\"}],"
	" \"topic_permissions\": [{\"user\": \"svc\", \"vhost\": \"shop\", \"exchange\": \"events\","
	" \"write\": \"^{username}\\\\.\", \"read\": \".*\"}],"
	" \"parameters\": [{\"vhost\": \"shop\", \"component\": \"vhost-limits\", \"name\":"
	" \"limits\", \"value\": {\"max-queues\": 50}}, {\"vhost\": \"shop\", \"component\":"
	" \"federation-upstream\", \"name\": \"up\", \"value\": {\"uri\": \"amqp://x\"}}],"
	" \"global_parameters\": [{\"name\": \"cluster_name\", \"value\": \"rabbit@shop\"}],"
	" \"policies\": [{\"vhost\": \"shop\", \"name\": \"orders\", \"pattern\": \"^orders\\\\.\","
	" \"apply-to\": \"queues\", \"definition\": {\"max-length\": 100,"
	" \"dead-letter-exchange\": \"dlx\"}, \"priority\": 1}],"
	" \"operator_policies\": [{\"vhost\": \"shop\", \"name\": \"cap\", \"pattern\": \".*\","
	" \"apply-to\": \"queues\", \"definition\": {\"max-length\": 10}, \"priority\": 0}],"
	" \"queues\": [{\"name\": \"orders.new\", \"vhost\": \"shop\", \"durable\": true,"
	" \"auto_delete\": false, \"arguments\": {\"x-message-ttl\": 60000, \"x-max-priority\": 5}},"
	" {\"name\": \"audit\", \"vhost\": \"shop\", \"durable\": true, \"auto_delete\": false,"
	" \"arguments\": {}}],"
	" \"exchanges\": [{\"name\": \"events\", \"vhost\": \"shop\", \"type\": \"topic\","
	" \"durable\": true, \"auto_delete\": false, \"internal\": false, \"arguments\":"
	" {\"alternate-exchange\": \"dlx\"}}, {\"name\": \"dlx\", \"vhost\": \"shop\", \"type\":"
	" \"fanout\", \"durable\": true, \"auto_delete\": false, \"internal\": false,"
	" \"arguments\": {}}, {\"name\": \"match\", \"vhost\": \"shop\", \"type\": \"headers\","
	" \"durable\": true, \"auto_delete\": false, \"internal\": false, \"arguments\": {}}],"
	" \"bindings\": [{\"source\": \"events\", \"vhost\": \"shop\", \"destination\":"
	" \"orders.new\", \"destination_type\": \"queue\", \"routing_key\": \"order.*\","
	" \"arguments\": {}}, {\"source\": \"events\", \"vhost\": \"shop\", \"destination\":"
	" \"match\", \"destination_type\": \"exchange\", \"routing_key\": \"#\", \"arguments\": {}},"
	" {\"source\": \"match\", \"vhost\": \"shop\", \"destination\": \"audit\","
	" \"destination_type\": \"queue\", \"routing_key\": \"\", \"arguments\": {\"x-match\":"
	" \"any\", \"kind\": \"order\"}}, {\"source\": \"dlx\", \"vhost\": \"shop\","
	" \"destination\": \"audit\", \"destination_type\": \"queue\", \"routing_key\": \"\","
	" \"arguments\": {}}]}";

static json_t *parse(const char *text)
{
	json_error_t je;
	json_t *doc = json_loads(text, 0, &je);
	ck_assert_msg(doc != NULL, "test JSON: %s at %d:%d", je.text, je.line, je.column);
	return doc;
}

/* Imports text; returns the rc and keeps the report in *r. */
static int import(const char *text, const struct defs_opts *o, struct defs_report *r, char *err,
		  size_t errlen)
{
	json_t *doc = parse(text);
	*r = (struct defs_report){0};
	int rc = definitions_import(doc, "test.json", o, r, err, errlen);
	json_decref(doc);
	return rc;
}

static void import_ok(const char *text, const struct defs_opts *o, struct defs_report *r)
{
	char err[1024] = "";
	ck_assert_msg(import(text, o, r, err, sizeof err) == 0, "import failed: %s", err);
}

/* qsort's comparator gets pointers to the elements. */
static int cmp_texts(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* An export with every array sorted, so two exports compare as sets. */
static json_t *export_set(void)
{
	json_t *doc = definitions_export();
	const char *key;
	json_t *arr;
	json_object_foreach(doc, key, arr)
	{
		if (!json_is_array(arr))
			continue;
		size_t n = json_array_size(arr);
		char **texts = calloc(n + 1, sizeof *texts);
		for (size_t i = 0; i < n; i++)
			texts[i] = json_dumps(json_array_get(arr, i), JSON_COMPACT | JSON_SORT_KEYS);
		qsort(texts, n, sizeof *texts, cmp_texts);
		json_array_clear(arr);
		for (size_t i = 0; i < n; i++) {
			json_array_append_new(arr, json_loads(texts[i], 0, NULL));
			free(texts[i]);
		}
		free(texts);
	}
	return doc;
}

START_TEST(import_builds_the_model)
{
	struct defs_opts o = {0};
	struct defs_report r;
	import_ok(shop, &o, &r);
	/* 2 users, 2 vhosts, 2 perms, 1 topic, 2 params, 1 global, 1 policy,
	 * 1 operator policy, 2 queues, 3 exchanges, 4 bindings */
	ck_assert_uint_eq(r.created, 21);
	defs_report_free(&r);
	struct vhost *vh = vhost_find(bytes_of("shop"));
	ck_assert_ptr_nonnull(vh);
	ck_assert_str_eq(vh->description, "the shop");
	ck_assert_int_eq(vh->max_queues, 50);
	struct user *svc = access_user_find("svc");
	ck_assert_ptr_nonnull(svc);
	ck_assert_int_eq(svc->max_connections, 3);
	ck_assert(access_user_has_tag(svc, "management"));
	ck_assert_ptr_null(access_login(bytes_of("svc"), bytes_of(""), true)); /* no password */
	ck_assert_ptr_nonnull(access_login(bytes_of("admin"), bytes_of("test12"), true));
	/* "" write: RabbitMQ's "^$", not even the default exchange. */
	const struct perm *p = access_perm_find("svc", "shop");
	ck_assert(!access_allows(p, PERM_WRITE, bytes_of("")));
	ck_assert(access_allows(p, PERM_READ, bytes_of("svc.q")));
	ck_assert(access_topic_allows("svc", "shop", bytes_of("events"), PERM_WRITE,
				      bytes_of("svc.x")));
	ck_assert(!access_topic_allows("svc", "shop", bytes_of("events"), PERM_WRITE,
				       bytes_of("other.x")));
	/* The policy and the operator policy meet on orders.new. */
	struct queue *q = vhost_queue(vh, bytes_of("orders.new"));
	ck_assert_ptr_nonnull(q);
	ck_assert_int_eq(q->ttl, 60000);
	ck_assert_int_eq(q->max_len, 10); /* the operator policy caps 100 */
	ck_assert_str_eq(q->dlx, "dlx");
	ck_assert_str_eq(q->policy, "orders");
	ck_assert_str_eq(q->op_policy, "cap");
	ck_assert_int_eq(q->nlv, 6);
	struct bexchange *x = vhost_exchange(vh, bytes_of("events"));
	ck_assert_str_eq(x->alternate, "dlx");
	ck_assert_uint_eq(x->nout, 2);
	ck_assert_uint_eq(vhost_exchange(vh, bytes_of("match"))->nout, 1);
	ck_assert_uint_eq(vhost_queue(vh, bytes_of("audit"))->nbinds, 2);
}
END_TEST

START_TEST(second_import_changes_nothing)
{
	struct defs_opts o = {0};
	struct defs_report r;
	import_ok(shop, &o, &r);
	defs_report_free(&r);
	import_ok(shop, &o, &r);
	ck_assert_uint_eq(r.created + r.updated + r.deleted + r.kept, 0);
	ck_assert_uint_eq(r.n, 0);
	defs_report_free(&r);
}
END_TEST

START_TEST(export_then_import_round_trips)
{
	struct defs_opts o = {0};
	struct defs_report r;
	import_ok(shop, &o, &r);
	defs_report_free(&r);
	json_t *first = export_set();
	char *text = json_dumps(first, JSON_COMPACT);
	/* A fresh broker, then the export imported into it. */
	teardown();
	setup();
	import_ok(text, &o, &r);
	ck_assert_uint_eq(r.created, 21);
	defs_report_free(&r);
	json_t *second = export_set();
	char *a = json_dumps(first, JSON_COMPACT | JSON_SORT_KEYS);
	char *b = json_dumps(second, JSON_COMPACT | JSON_SORT_KEYS);
	ck_assert_str_eq(a, b);
	/* and the password still works after the trip */
	ck_assert_ptr_nonnull(access_login(bytes_of("admin"), bytes_of("test12"), true));
	free(a);
	free(b);
	free(text);
	json_decref(first);
	json_decref(second);
}
END_TEST

START_TEST(updates_are_seen)
{
	struct defs_opts o = {0};
	struct defs_report r;
	import_ok(shop, &o, &r);
	defs_report_free(&r);
	import_ok("{\"users\": [{\"name\": \"svc\", \"password\": \"pw\", \"tags\": \"monitoring\"}],"
		  " \"policies\": [{\"vhost\": \"shop\", \"name\": \"orders\", \"pattern\":"
		  " \"^orders\\\\.\", \"apply-to\": \"queues\", \"definition\": {\"max-length\": 5}}],"
		  " \"queues\": [{\"name\": \"audit\", \"vhost\": \"shop\", \"durable\": false}]}",
		  &o, &r);
	ck_assert_uint_eq(r.updated, 2);
	ck_assert_uint_eq(r.kept, 1); /* the queue differs: reported, left */
	bool saw = false;
	for (size_t i = 0; i < r.n; i++)
		saw |= strstr(r.lines[i], "keep queue 'audit' in vhost 'shop': durable differs") != NULL;
	ck_assert_msg(saw, "the differing queue is reported");
	defs_report_free(&r);
	ck_assert_ptr_nonnull(access_login(bytes_of("svc"), bytes_of("pw"), true));
	ck_assert(!access_user_has_tag(access_user_find("svc"), "management"));
	struct vhost *vh = vhost_find(bytes_of("shop"));
	ck_assert(vhost_queue(vh, bytes_of("audit"))->durable);
	/* the policy changed live: the operator policy's 10 no longer the
	 * lowest */
	ck_assert_int_eq(vhost_queue(vh, bytes_of("orders.new"))->max_len, 5);
}
END_TEST

/* Writes text to a temporary file; returns its path (static buffer). */
static const char *tmpfile_with(const char *text)
{
	static char path[64];
	snprintf(path, sizeof path, "/tmp/check_defs_XXXXXX");
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

static void load_fails(const char *text, const char *want1, const char *want2)
{
	const char *path = tmpfile_with(text);
	struct defs_opts o = {0};
	struct defs_report r = {0};
	char err[1024] = "";
	ck_assert_int_eq(definitions_load(path, &o, &r, err, sizeof err), -1);
	ck_assert_msg(strstr(err, path) == err, "error starts with the file: %s", err);
	ck_assert_msg(strstr(err, want1) != NULL, "error has '%s': %s", want1, err);
	ck_assert_msg(!want2 || strstr(err, want2) != NULL, "error has '%s': %s", want2, err);
	defs_report_free(&r);
	unlink(path);
	/* Nothing of the file was applied, even what came before the error. */
	ck_assert_ptr_null(vhost_find(bytes_of("early")));
	ck_assert_ptr_null(access_user_find("early"));
}

START_TEST(malformed_json_names_line_and_column)
{
	load_fails("{\n  \"users\": [\n    {\"name\": }\n  ]\n}\n", ":3:", "unexpected");
	load_fails("{\"vhosts\": [{\"name\": \"early\"}], \"users\": 7}", "users: expected an array",
		   NULL);
	load_fails("[1, 2]", "top level must be a JSON object", NULL);
}
END_TEST

START_TEST(semantic_errors_name_object_field_and_line)
{
	load_fails("{\"vhosts\": [{\"name\": \"early\"}],\n \"bindings\": [\n"
		   "  {\"source\": \"amq.direct\", \"vhost\": \"early\", \"destination\": \"nq\","
		   " \"destination_type\": \"queue\", \"routing_key\": \"k\", \"arguments\": {}}]}",
		   ":3: binding of queue 'nq'", "destination: no queue 'nq' in vhost 'early'");
	load_fails("{\"vhosts\": [{\"name\": \"early\"}],\n \"exchanges\": [{\"name\": \"x\", \"vhost\":"
		   " \"early\", \"type\": \"x-nonesuch\"}]}",
		   ":2: exchange 'x' in vhost 'early'", "type: unknown exchange type 'x-nonesuch'");
	load_fails("{\"users\": [{\"name\": \"early\", \"password\": \"p\"}],\n"
		   " \"vhosts\": [{\"name\": \"v\"}],\n"
		   " \"permissions\": [{\"user\": \"early\", \"vhost\": \"v\", \"configure\": \"(\","
		   " \"write\": \".*\", \"read\": \".*\"}]}",
		   ":3: permissions of user 'early' in vhost 'v'", "configure: missing closing");
	load_fails("{\"vhosts\": [{\"name\": \"early\"}],\n \"policies\": [{\"vhost\": \"early\","
		   " \"name\": \"p\", \"pattern\": \".*\", \"definition\": {\"max-length\": -1}}]}",
		   "policy 'p' in vhost 'early'", "definition: max-length");
	load_fails("{\"vhosts\": [{\"name\": \"early\"}],\n \"queues\": [{\"name\": \"q\","
		   " \"vhost\": \"early\", \"arguments\": {\"x-max-priority\": 300}}]}",
		   "queue 'q' in vhost 'early'", "x-max-priority");
	load_fails("{\"users\": [{\"name\": \"early\", \"password_hash\": \"@@@@\"}]}",
		   "user 'early'", "password_hash: not base64");
	load_fails("{\"permissions\": [{\"user\": \"nobody\", \"vhost\": \"/\", \"configure\": \"\","
		   " \"write\": \"\", \"read\": \"\"}]}",
		   "user: no user 'nobody'", NULL);
}
END_TEST

static const char two_queues[] =
	"{\"vhosts\": [{\"name\": \"v\"}], \"users\": [{\"name\": \"u\", \"password\": \"p\"}],"
	" \"queues\": [{\"name\": \"q1\", \"vhost\": \"v\"}, {\"name\": \"q2\", \"vhost\": \"v\"}],"
	" \"exchanges\": [{\"name\": \"x\", \"vhost\": \"v\", \"type\": \"direct\"}],"
	" \"bindings\": [{\"source\": \"x\", \"vhost\": \"v\", \"destination\": \"q2\","
	" \"destination_type\": \"queue\", \"routing_key\": \"k\"}]}";
static const char one_queue[] = "{\"vhosts\": [{\"name\": \"v\"}],"
				" \"queues\": [{\"name\": \"q1\", \"vhost\": \"v\"}],"
				" \"exchanges\": [], \"bindings\": []}";

static const uint8_t no_props[2];

START_TEST(prune_removes_unlisted_but_keeps_messages)
{
	struct defs_opts o = {.prune = true};
	struct defs_report r;
	import_ok(two_queues, &o, &r);
	defs_report_free(&r);
	struct vhost *vh = vhost_find(bytes_of("v"));
	/* A server-named and an exclusive queue are never pruned. */
	struct queue *gen = queue_new(vh, bytes_of("amq.gen-abc"), (struct bytes){0});
	vhost_add_queue(vh, gen);
	struct queue *q2 = vhost_queue(vh, bytes_of("q2"));
	struct message *m = message_new(bytes_of(""), bytes_of("q2"),
					(struct bytes){no_props, sizeof no_props}, 1, 0);
	queue_push(q2, m);
	message_unref(m);
	/* A dry run says what would happen and changes nothing. */
	struct defs_opts dry = {.prune = true, .dry_run = true};
	import_ok(one_queue, &dry, &r);
	ck_assert_uint_eq(r.deleted, 2); /* the exchange and its binding */
	ck_assert_uint_eq(r.kept, 1);    /* q2 holds a message */
	defs_report_free(&r);
	ck_assert_ptr_nonnull(vhost_exchange(vh, bytes_of("x")));
	/* For real: q2 stays (logged as kept), x goes, users stay (no key). */
	import_ok(one_queue, &o, &r);
	bool saw = false;
	for (size_t i = 0; i < r.n; i++)
		saw |= !strcmp(r.lines[i], "keep queue 'q2' in vhost 'v' (holds 1 messages)");
	ck_assert_msg(saw, "the kept queue is reported");
	defs_report_free(&r);
	ck_assert_ptr_nonnull(vhost_queue(vh, bytes_of("q2")));
	ck_assert_ptr_null(vhost_exchange(vh, bytes_of("x")));
	ck_assert_ptr_nonnull(vhost_queue(vh, bytes_of("amq.gen-abc")));
	ck_assert_ptr_nonnull(access_user_find("u"));
	ck_assert_ptr_nonnull(vhost_exchange(vh, bytes_of("amq.topic"))); /* built-in */
	/* prune_nonempty_queues: now it goes too. */
	o.prune_nonempty_queues = true;
	import_ok(one_queue, &o, &r);
	ck_assert_uint_eq(r.deleted, 1);
	defs_report_free(&r);
	ck_assert_ptr_null(vhost_queue(vh, bytes_of("q2")));
	ck_assert_ptr_nonnull(vhost_queue(vh, bytes_of("q1")));
	/* A file listing users prunes them; deleting a vhost takes its
	 * permissions. */
	import_ok("{\"users\": [], \"vhosts\": []}", &o, &r);
	defs_report_free(&r);
	ck_assert_ptr_null(access_user_find("u"));
	ck_assert_ptr_null(vhost_find(bytes_of("v")));
}
END_TEST

START_TEST(later_file_object_wins_and_directory_order)
{
	char dir[] = "/tmp/check_defs_dir_XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(dir));
	char a[128], b[128];
	snprintf(a, sizeof a, "%s/10-base.json", dir);
	snprintf(b, sizeof b, "%s/20-override.json", dir);
	FILE *f = fopen(a, "w");
	fputs("{\"vhosts\": [{\"name\": \"d\", \"description\": \"first\"}]}", f);
	fclose(f);
	f = fopen(b, "w");
	fputs("{\"vhosts\": [{\"name\": \"d\", \"description\": \"second\"}],"
	      " \"queues\": [{\"name\": \"dq\", \"vhost\": \"d\"}]}",
	      f);
	fclose(f);
	struct defs_opts o = {0};
	struct defs_report r = {0};
	char err[512] = "";
	ck_assert_msg(definitions_load(dir, &o, &r, err, sizeof err) == 0, "%s", err);
	defs_report_free(&r);
	struct vhost *vh = vhost_find(bytes_of("d"));
	ck_assert_str_eq(vh->description, "second");
	ck_assert_ptr_nonnull(vhost_queue(vh, bytes_of("dq")));
	unlink(a);
	unlink(b);
	rmdir(dir);
}
END_TEST

START_TEST(jtable_round_trip)
{
	json_t *in = parse("{\"a\": 1, \"b\": \"s\", \"c\": true, \"d\": [1, \"x\", [false]],"
			   " \"e\": {\"f\": null, \"g\": -5}, \"h\": 1.5}");
	struct bytes t;
	char err[128];
	ck_assert_int_eq(jtable_from_json(in, &t, err, sizeof err), 0);
	json_t *out = jtable_to_json(t);
	ck_assert(json_equal(in, out));
	free((void *)t.p);
	json_decref(out);
	json_decref(in);
	in = parse("{\"x\": 1}");
	json_t *arr = json_array();
	ck_assert_int_eq(jtable_from_json(arr, &t, err, sizeof err), -1);
	ck_assert_ptr_nonnull(strstr(err, "object"));
	json_decref(arr);
	json_decref(in);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("definitions");
	TCase *t = tcase_create("import");
	tcase_add_checked_fixture(t, setup, teardown);
	tcase_add_test(t, import_builds_the_model);
	tcase_add_test(t, second_import_changes_nothing);
	tcase_add_test(t, export_then_import_round_trips);
	tcase_add_test(t, updates_are_seen);
	tcase_add_test(t, malformed_json_names_line_and_column);
	tcase_add_test(t, semantic_errors_name_object_field_and_line);
	tcase_add_test(t, prune_removes_unlisted_but_keeps_messages);
	tcase_add_test(t, later_file_object_wins_and_directory_order);
	tcase_add_test(t, jtable_round_trip);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
