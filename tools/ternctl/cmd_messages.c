/* cmd_messages.c — `ternctl publish`, `get`, `browse` and `move`: publish
 * and get are RabbitMQ's POST .../publish and POST .../get; browse and move
 * are Tern's /api/tern/queues/{vhost}/{name}/messages and .../move, which
 * RabbitMQ answers with 404 (or Cowboy's bare 400/405 for a path holding
 * %2F), so a refusal there is told apart from a missing queue by asking
 * for the queue itself. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tools/ternctl/ctl.h"
#include "tools/ternctl/table.h"
#include "util/xalloc.h"

#define PREVIEW 60 /* payload characters browse shows */

enum {
	OPT_EXCHANGE = 256,
	OPT_KEY,
	OPT_BODY,
	OPT_FILE,
	OPT_PERSISTENT,
	OPT_HEADER,
	OPT_PROPERTY,
	OPT_COUNT,
	OPT_REQUEUE,
	OPT_OFFSET,
	OPT_VERBOSE,
};

/* The basic properties publish takes; the rest are strings. */
static bool integer_property(const char *k)
{
	return strcmp(k, "delivery_mode") == 0 || strcmp(k, "priority") == 0 ||
	       strcmp(k, "timestamp") == 0;
}

static int add_property(struct ctl *c, json_t *props, const char *arg)
{
	static const char *const known[] = {"content_type", "content_encoding", "delivery_mode",
					    "priority",     "correlation_id",   "reply_to",
					    "expiration",   "message_id",       "timestamp",
					    "type",         "user_id",          "app_id"};
	const char *eq = strchr(arg, '=');
	size_t kl = eq ? (size_t)(eq - arg) : 0;
	for (size_t i = 0; eq && i < sizeof known / sizeof known[0]; i++) {
		if (strlen(known[i]) != kl || strncmp(known[i], arg, kl) != 0)
			continue;
		json_t *v;
		if (integer_property(known[i])) {
			long n;
			if (ctl_number(c, known[i], eq + 1, 0, 0x7fffffffL, &n) < 0)
				return -1;
			v = json_integer(n);
		} else if (!(v = json_string(eq + 1))) {
			ctl_usage(c, "--property %s: not UTF-8", known[i]);
			return -1;
		}
		json_object_set_new(props, known[i], v);
		return 0;
	}
	ctl_usage(c,
		  "--property wants NAME=VALUE with NAME one of content_type, content_encoding, "
		  "delivery_mode, priority, correlation_id, reply_to, expiration, message_id, "
		  "timestamp, type, user_id, app_id (not '%s')",
		  arg);
	return -1;
}

static int run_publish(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{"exchange", required_argument, NULL, OPT_EXCHANGE},
		{"key", required_argument, NULL, OPT_KEY},
		{"body", required_argument, NULL, OPT_BODY},
		{"file", required_argument, NULL, OPT_FILE},
		{"persistent", no_argument, NULL, OPT_PERSISTENT},
		{"header", required_argument, NULL, OPT_HEADER},
		{"property", required_argument, NULL, OPT_PROPERTY},
		{NULL, 0, NULL, 0},
	};
	const char *exchange = "", *key = NULL, *text = NULL, *file = NULL;
	json_t *props = json_object(), *headers = json_object(), *body = NULL, *ans = NULL;
	char *data = NULL, *b64 = NULL;
	size_t len = 0;
	int o, rc = CTL_EUSAGE;
	while ((o = ctl_getopt(c, argc, argv, opts)) != CTL_OPT_END) {
		switch (o) {
		case CTL_OPT_EXIT: rc = c->rc; goto done;
		case OPT_EXCHANGE: exchange = optarg; break;
		case OPT_KEY: key = optarg; break;
		case OPT_BODY: text = optarg; break;
		case OPT_FILE: file = optarg; break;
		case OPT_PERSISTENT:
			json_object_set_new(props, "delivery_mode", json_integer(2));
			break;
		case OPT_HEADER:
			if (ctl_keyvalue(c, "--header", optarg, headers) < 0)
				goto done;
			break;
		case OPT_PROPERTY:
			if (add_property(c, props, optarg) < 0)
				goto done;
			break;
		}
	}
	if (optind != argc) {
		rc = ctl_usage(c, "publish takes no positional arguments ('%s'?)", argv[optind]);
		goto done;
	}
	if (!key) {
		rc = ctl_usage(c, "publish wants --key (the routing key; the queue's name for the "
				  "default exchange)");
		goto done;
	}
	if (!text == !file) {
		rc = ctl_usage(c, "publish wants one of --body TEXT or --file FILE");
		goto done;
	}
	if (file && ctl_read_file(file, &data, &len) < 0) {
		fprintf(stderr, "ternctl: cannot read %s: %s\n", file, strerror(errno));
		goto done;
	}
	if (json_object_size(headers))
		json_object_set(props, "headers", headers);
	/* Text goes as it is; bytes that are not UTF-8 (or hold NUL) as base64. */
	json_t *payload = text ? json_string(text) : NULL;
	if (!payload && file && !memchr(data, 0, len))
		payload = json_stringn(data, len);
	const char *encoding = "string";
	if (!payload) {
		if (text) {
			rc = ctl_usage(c, "--body is not UTF-8; use --file for bytes");
			goto done;
		}
		b64 = ctl_base64((const unsigned char *)data, len);
		payload = json_string(b64);
		encoding = "base64";
	}
	body = json_pack("{s:o, s:s, s:o, s:s}", "properties", json_incref(props), "routing_key",
			 key, "payload", payload, "payload_encoding", encoding);
	const char *x = *exchange ? exchange : "amq.default";
	char *path = ctl_path("/api/exchanges/%s/%s/publish", c->vhost, x);
	char nf[1024];
	snprintf(nf, sizeof nf, "no exchange '%s' in vhost '%s'", x, c->vhost);
	rc = api(c, "POST", path, body, &ans, nf);
	free(path);
	if (rc != CTL_OK)
		goto done;
	json_t *routed = json_object_get(ans, "routed");
	if (!json_is_boolean(routed)) {
		fprintf(stderr, "ternctl: the publish answer has no \"routed\"\n");
		rc = CTL_EBROKER;
		goto done;
	}
	if (c->json)
		ctl_print_json(stdout, ans);
	else
		puts(json_is_true(routed) ? "routed" : "not routed");
	rc = json_is_true(routed) ? CTL_OK : CTL_EUNROUTED;
done:
	json_decref(props);
	json_decref(headers);
	json_decref(body);
	json_decref(ans);
	free(data);
	free(b64);
	return rc;
}

/* Writes a message's payload (string, or base64 decoded) and a newline. */
static void print_payload(const json_t *m)
{
	const char *p = json_string_value(json_object_get(m, "payload"));
	const char *enc = json_string_value(json_object_get(m, "payload_encoding"));
	if (!p)
		p = "";
	if (enc && strcmp(enc, "base64") == 0) {
		size_t n;
		unsigned char *raw = ctl_unbase64(p, &n);
		if (raw) {
			fwrite(raw, 1, n, stdout);
			free(raw);
		} else {
			fputs(p, stdout);
		}
	} else {
		fwrite(p, 1, json_string_length(json_object_get(m, "payload")), stdout);
	}
	putchar('\n');
}

static int run_get(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{"count", required_argument, NULL, OPT_COUNT},
		{"requeue", no_argument, NULL, OPT_REQUEUE},
		{"verbose", no_argument, NULL, 'v'},
		{NULL, 0, NULL, 0},
	};
	long count = 1;
	bool requeue = false, verbose = false;
	int o;
	while ((o = ctl_getopt(c, argc, argv, opts)) != CTL_OPT_END) {
		switch (o) {
		case CTL_OPT_EXIT: return c->rc;
		case OPT_COUNT:
			if (ctl_number(c, "--count", optarg, 1, 1000000, &count) < 0)
				return CTL_EUSAGE;
			break;
		case OPT_REQUEUE: requeue = true; break;
		case 'v': verbose = true; break;
		}
	}
	if (argc - optind != 1)
		return ctl_usage(c, "get wants one queue name");
	const char *q = argv[optind];
	json_t *body =
		json_pack("{s:I, s:s, s:s}", "count", (json_int_t)count, "ackmode",
			  requeue ? "ack_requeue_true" : "ack_requeue_false", "encoding", "auto");
	json_t *ans = NULL;
	char *path = ctl_path("/api/queues/%s/%s/get", c->vhost, q);
	char nf[1024];
	snprintf(nf, sizeof nf, "no queue '%s' in vhost '%s'", q, c->vhost);
	int rc = api(c, "POST", path, body, &ans, nf);
	free(path);
	json_decref(body);
	if (rc != CTL_OK)
		return rc;
	if (!json_is_array(ans)) {
		fprintf(stderr, "ternctl: the get answer is not an array of messages\n");
		json_decref(ans);
		return CTL_EBROKER;
	}
	if (c->json) {
		ctl_print_json(stdout, ans);
	} else if (json_array_size(ans) == 0) {
		fprintf(stderr, "ternctl: queue '%s' has no ready messages\n", q);
	} else {
		size_t i;
		json_t *m;
		json_array_foreach(ans, i, m)
		{
			if (verbose)
				printf("# message %zu: exchange '%s', routing key '%s', %s, %lld "
				       "bytes, %lld left\n",
				       i + 1, json_string_value(json_object_get(m, "exchange")),
				       json_string_value(json_object_get(m, "routing_key")),
				       json_is_true(json_object_get(m, "redelivered"))
					       ? "redelivered"
					       : "first delivery",
				       (long long)json_integer_value(
					       json_object_get(m, "payload_bytes")),
				       (long long)json_integer_value(
					       json_object_get(m, "message_count")));
			print_payload(m);
		}
	}
	json_decref(ans);
	return CTL_OK;
}

/* A Tern-only endpoint refused: RabbitMQ's answers to paths it does not
 * have. Then the queue is asked for: if it exists, the broker lacks the
 * feature; if not, that is the error. Returns the exit status. */
static int tern_only(struct ctl *c, const struct http_reply *r, const char *q, const char *feature)
{
	char nf[1024];
	snprintf(nf, sizeof nf, "no queue '%s' in vhost '%s'", q, c->vhost);
	bool missing = r->status == 404 || r->status == 405 || (r->status == 400 && !r->len);
	if (!missing)
		return api_fail(c, r, nf);
	char *path = ctl_path("/api/queues/%s/%s", c->vhost, q);
	json_t *ans = NULL;
	int rc = api(c, "GET", path, NULL, &ans, nf);
	free(path);
	json_decref(ans);
	if (rc != CTL_OK)
		return rc;
	fprintf(stderr, "ternctl: this broker has no %s (Tern only)\n", feature);
	return CTL_EBROKER;
}

/* The answer of a Tern-only call: CTL_OK with *out, or the exit status. */
static int tern_call(struct ctl *c, const char *method, const char *path, json_t *body,
		     const char *q, const char *feature, json_t **out)
{
	struct http_reply r;
	json_error_t e;
	*out = NULL;
	int rc = api_raw(c, method, path, body, &r);
	if (rc != CTL_OK)
		return rc;
	if (r.status < 200 || r.status > 299) {
		rc = tern_only(c, &r, q, feature);
	} else if (!(*out = json_loadb(r.body, r.len, JSON_ALLOW_NUL, &e))) {
		fprintf(stderr, "ternctl: the answer to %s %s is not a JSON object (%s)\n", method,
			path, e.text);
		rc = CTL_EBROKER;
	}
	http_reply_free(&r);
	return rc;
}

static void print_browse(const json_t *ans)
{
	static const char *const hdr[] = {"position", "id", "routing_key", "bytes", "payload"};
	struct table *t = table_new(5, hdr);
	json_t *msgs = json_object_get(ans, "messages");
	size_t i;
	json_t *m;
	json_array_foreach(msgs, i, m)
	{
		table_json(t, json_object_get(m, "position"), "-");
		table_json(t, json_object_get(m, "id"), "-");
		table_json(t, json_object_get(m, "routing_key"), "");
		table_json(t, json_object_get(m, "payload_bytes"), "-");
		const char *p = json_string_value(json_object_get(m, "payload"));
		const char *enc = json_string_value(json_object_get(m, "payload_encoding"));
		char preview[PREVIEW * 4 + 16];
		bool b64 = enc && strcmp(enc, "base64") == 0;
		size_t n = 0, chars = 0;
		for (const char *s = p ? p : ""; *s && chars < PREVIEW && n < PREVIEW * 4; s++) {
			preview[n++] = *s;
			chars += ((unsigned char)s[1] & 0xc0) != 0x80;
		}
		preview[n] = '\0';
		if (p && strlen(p) > n)
			strcat(preview, "...");
		char shown[sizeof preview + 16];
		snprintf(shown, sizeof shown, "%s%s", b64 ? "base64:" : "", preview);
		table_cell(t, shown, false);
	}
	table_print(t, stdout);
	table_free(t);
	long long total = json_integer_value(json_object_get(ans, "total"));
	long long off = json_integer_value(json_object_get(ans, "offset"));
	size_t got = json_array_size(msgs);
	if (got)
		printf("(messages %lld-%lld of %lld)\n", off + 1, off + (long long)got, total);
	else
		printf("(no messages from offset %lld; the queue holds %lld)\n", off, total);
}

static int run_browse(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{"count", required_argument, NULL, OPT_COUNT},
		{"offset", required_argument, NULL, OPT_OFFSET},
		{NULL, 0, NULL, 0},
	};
	long count = 20, offset = 0;
	int o;
	while ((o = ctl_getopt(c, argc, argv, opts)) != CTL_OPT_END) {
		switch (o) {
		case CTL_OPT_EXIT: return c->rc;
		case OPT_COUNT:
			if (ctl_number(c, "--count", optarg, 1, 1000000, &count) < 0)
				return CTL_EUSAGE;
			break;
		case OPT_OFFSET:
			if (ctl_number(c, "--offset", optarg, 0, 0x7fffffffL, &offset) < 0)
				return CTL_EUSAGE;
			break;
		}
	}
	if (argc - optind != 1)
		return ctl_usage(c, "browse wants one queue name");
	const char *q = argv[optind];
	char *path = ctl_path("/api/tern/queues/%s/%s/messages?offset=%l&count=%l", c->vhost, q,
			      offset, count);
	json_t *ans = NULL;
	int rc = tern_call(c, "GET", path, NULL, q, "message browsing", &ans);
	free(path);
	if (rc == CTL_OK && !json_is_array(json_object_get(ans, "messages"))) {
		fprintf(stderr, "ternctl: the browse answer has no \"messages\" array\n");
		rc = CTL_EBROKER;
	}
	if (rc == CTL_OK) {
		if (c->json)
			ctl_print_json(stdout, ans);
		else
			print_browse(ans);
	}
	json_decref(ans);
	return rc;
}

static int run_move(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{"count", required_argument, NULL, OPT_COUNT},
		{NULL, 0, NULL, 0},
	};
	long count = -1;
	int o;
	while ((o = ctl_getopt(c, argc, argv, opts)) != CTL_OPT_END) {
		switch (o) {
		case CTL_OPT_EXIT: return c->rc;
		case OPT_COUNT:
			if (ctl_number(c, "--count", optarg, 1, 0x7fffffffL, &count) < 0)
				return CTL_EUSAGE;
			break;
		}
	}
	if (argc - optind != 2)
		return ctl_usage(c, "move wants a queue and a destination queue");
	const char *q = argv[optind], *dest = argv[optind + 1];
	json_t *body = json_pack("{s:s}", "destination", dest);
	if (count > 0)
		json_object_set_new(body, "count", json_integer(count));
	char *path = ctl_path("/api/tern/queues/%s/%s/move", c->vhost, q);
	json_t *ans = NULL;
	int rc = tern_call(c, "POST", path, body, q, "message moving", &ans);
	free(path);
	json_decref(body);
	json_t *moved = json_object_get(ans, "moved");
	if (rc == CTL_OK && !json_is_integer(moved)) {
		fprintf(stderr, "ternctl: the move answer has no \"moved\" count\n");
		rc = CTL_EBROKER;
	}
	if (rc == CTL_OK) {
		if (c->json)
			ctl_print_json(stdout, ans);
		else
			printf("moved %lld message%s from '%s' to '%s'\n",
			       (long long)json_integer_value(moved),
			       json_integer_value(moved) == 1 ? "" : "s", q, dest);
	}
	json_decref(ans);
	return rc;
}

const struct cmd cmd_publish = {
	.name = "publish",
	.summary = "publish a message (exit 3 when not routed)",
	.usage = "publish [--exchange X] --key K (--body TEXT | --file FILE) [--persistent]\n"
		 "        [--header KEY=VALUE ...] [--property NAME=VALUE ...]",
	.help = "Publishes one message through exchange X (default: the default exchange,\n"
		"where K is the queue's name) and prints 'routed' or 'not routed' (exit\n"
		"status 3). FILE '-' is stdin; bytes that are not UTF-8 go as base64.\n\n"
		"  --persistent          delivery_mode 2\n"
		"  --header KEY=VALUE    a header (typed as declare's --arg), repeatable\n"
		"  --property NAME=VALUE a basic property: content_type, correlation_id,\n"
		"                        message_id, expiration, priority, ...\n",
	.run = run_publish,
};

const struct cmd cmd_get = {
	.name = "get",
	.summary = "take messages from a queue and print them",
	.usage = "get QUEUE [--count N] [--requeue] [-v|--verbose]",
	.help = "Takes up to N (default 1) messages from QUEUE and prints each payload on a\n"
		"line. The messages are removed unless --requeue puts them back (they are\n"
		"then redelivered). -v adds a line on each: exchange, routing key, size.\n",
	.run = run_get,
};

const struct cmd cmd_browse = {
	.name = "browse",
	.summary = "show messages without taking them (Tern only)",
	.usage = "browse QUEUE [--count N] [--offset N]",
	.help = "Shows up to N (default 20) messages of QUEUE from position OFFSET (default\n"
		"0) without taking them. Tern only: RabbitMQ has no message browsing.\n",
	.run = run_browse,
};

const struct cmd cmd_move = {
	.name = "move",
	.summary = "move messages to another queue (Tern only)",
	.usage = "move QUEUE DEST [--count N]",
	.help = "Moves the first N ready messages (default: all) of QUEUE to queue DEST in\n"
		"the same vhost, in order. Tern only.\n",
	.run = run_move,
};
