/* cmd_list.c — `ternctl list KIND` and `ternctl users`: one table per kind
 * of object, from GET /api/<kind>[/{vhost}]. Queues and exchanges are read
 * page by page (?page=N&page_size=500, RabbitMQ's server-side paging) and
 * --filter is RabbitMQ's name=REGEX&use_regex=true. */
#include <stdlib.h>
#include <string.h>

#include "tools/ternctl/ctl.h"
#include "tools/ternctl/table.h"

#define PAGE_SIZE 500 /* default --page-size */
#define MAX_COLS 8

enum col_kind {
	C_STR,   /* string or anything else, as table_json shows it */
	C_NUM,   /* a count: "-" when absent (RabbitMQ fills stats in later) */
	C_XNAME, /* an exchange name: "" is the default exchange */
};

struct column {
	const char *header, *field; /* field: dotted path in each item */
	enum col_kind kind;
};

/* One kind of object: where it is listed and which columns show. path is a
 * ctl_path() format taking the vhost when per_vhost. */
struct listing {
	const char *kind, *path;
	bool per_vhost, paged;
	struct column cols[MAX_COLS];
};

/* clang-format off */
static const struct listing listings[] = {
	{"queues", "/api/queues/%s", true, true,
	 {{"name", "name", C_STR},
	  {"messages", "messages", C_NUM},
	  {"ready", "messages_ready", C_NUM},
	  {"unacked", "messages_unacknowledged", C_NUM},
	  {"consumers", "consumers", C_NUM},
	  {"policy", "policy", C_STR}}},
	{"exchanges", "/api/exchanges/%s", true, true,
	 {{"name", "name", C_XNAME},
	  {"type", "type", C_STR},
	  {"durable", "durable", C_STR},
	  {"auto_delete", "auto_delete", C_STR},
	  {"internal", "internal", C_STR},
	  {"policy", "policy", C_STR}}},
	{"bindings", "/api/bindings/%s", true, false,
	 {{"source", "source", C_XNAME},
	  {"destination", "destination", C_STR},
	  {"type", "destination_type", C_STR},
	  {"routing_key", "routing_key", C_STR},
	  {"arguments", "arguments", C_STR}}},
	{"connections", "/api/vhosts/%s/connections", true, false,
	 {{"name", "name", C_STR},
	  {"user", "user", C_STR},
	  {"state", "state", C_STR},
	  {"channels", "channels", C_NUM},
	  {"protocol", "protocol", C_STR},
	  {"client", "client_properties.product", C_STR}}},
	{"channels", "/api/vhosts/%s/channels", true, false,
	 {{"name", "name", C_STR},
	  {"user", "user", C_STR},
	  {"state", "state", C_STR},
	  {"consumers", "consumer_count", C_NUM},
	  {"unacked", "messages_unacknowledged", C_NUM},
	  {"prefetch", "prefetch_count", C_NUM},
	  {"confirm", "confirm", C_STR},
	  {"transactional", "transactional", C_STR}}},
	{"consumers", "/api/consumers/%s", true, false,
	 {{"queue", "queue.name", C_STR},
	  {"tag", "consumer_tag", C_STR},
	  {"channel", "channel_details.name", C_STR},
	  {"ack_required", "ack_required", C_STR},
	  {"prefetch", "prefetch_count", C_NUM},
	  {"active", "active", C_STR},
	  {"exclusive", "exclusive", C_STR}}},
	{"users", "/api/users", false, false, {{"name", "name", C_STR}, {"tags", "tags", C_STR}}},
	{"vhosts", "/api/vhosts", false, false,
	 {{"name", "name", C_STR},
	  {"messages", "messages", C_NUM},
	  {"ready", "messages_ready", C_NUM},
	  {"unacked", "messages_unacknowledged", C_NUM},
	  {"description", "description", C_STR}}},
	{"permissions", "/api/vhosts/%s/permissions", true, false,
	 {{"user", "user", C_STR},
	  {"vhost", "vhost", C_STR},
	  {"configure", "configure", C_STR},
	  {"write", "write", C_STR},
	  {"read", "read", C_STR}}},
	{"policies", "/api/policies/%s", true, false,
	 {{"name", "name", C_STR},
	  {"pattern", "pattern", C_STR},
	  {"apply-to", "apply-to", C_STR},
	  {"priority", "priority", C_NUM},
	  {"definition", "definition", C_STR}}},
};
/* clang-format on */
#define NLISTINGS (sizeof listings / sizeof listings[0])

/* Reads every page into one array (*items, new reference). */
static int fetch_paged(struct ctl *c, const struct listing *l, const char *filter, long page_size,
		       json_t **items, const char *notfound)
{
	char *base = ctl_path(l->path, c->vhost);
	json_t *all = json_array();
	int rc = CTL_OK;
	for (long page = 1;; page++) {
		json_t *ans = NULL;
		char *path = filter ? ctl_path("%r?page=%l&page_size=%l&name=%s&use_regex=true",
					       base, page, page_size, filter)
				    : ctl_path("%r?page=%l&page_size=%l", base, page, page_size);
		rc = api(c, "GET", path, NULL, &ans, notfound);
		free(path);
		if (rc != CTL_OK)
			goto fail;
		if (json_is_array(ans)) { /* a broker that does not page */
			json_array_extend(all, ans);
			json_decref(ans);
			break;
		}
		json_t *got = json_object_get(ans, "items");
		json_int_t pages = json_integer_value(json_object_get(ans, "page_count"));
		if (!json_is_array(got)) {
			fprintf(stderr, "ternctl: the answer to GET %s has no \"items\" array\n",
				base);
			json_decref(ans);
			rc = CTL_EBROKER;
			goto fail;
		}
		json_array_extend(all, got);
		size_t n = json_array_size(got);
		json_decref(ans);
		if (page >= pages || n == 0)
			break;
	}
	free(base);
	*items = all;
	return CTL_OK;
fail:
	free(base);
	json_decref(all);
	return rc;
}

static void print_table(const struct listing *l, const json_t *items)
{
	const char *headers[MAX_COLS];
	int ncols = 0;
	while (ncols < MAX_COLS && l->cols[ncols].header) {
		headers[ncols] = l->cols[ncols].header;
		ncols++;
	}
	struct table *t = table_new(ncols, headers);
	size_t i;
	const json_t *item;
	json_array_foreach(items, i, item)
	{
		for (int k = 0; k < ncols; k++) {
			const struct column *col = &l->cols[k];
			const json_t *v = jpath(item, col->field);
			if (col->kind == C_XNAME && json_is_string(v) && !*json_string_value(v))
				table_cell(t, "(AMQP default)", false);
			else if (col->kind == C_NUM && !json_is_number(v))
				table_cell(t, "-", true);
			else
				table_json(t, v, "");
		}
	}
	table_print(t, stdout);
	table_free(t);
}

/* Lists one kind (name as typed on the command line). */
static int list_kind(struct ctl *c, const char *kind, const char *filter, long page_size)
{
	const struct listing *l = NULL;
	for (size_t i = 0; i < NLISTINGS; i++)
		if (strcmp(listings[i].kind, kind) == 0)
			l = &listings[i];
	if (!l)
		return ctl_usage(c, "cannot list '%s'", kind);
	if (filter && !l->paged)
		return ctl_usage(c, "--filter works with list queues and list exchanges");
	if (page_size && !l->paged)
		return ctl_usage(c, "--page-size works with list queues and list exchanges");
	char notfound[512];
	snprintf(notfound, sizeof notfound, "no vhost '%s'", c->vhost);
	json_t *items = NULL;
	int rc;
	if (l->paged) {
		rc = fetch_paged(c, l, filter, page_size ? page_size : PAGE_SIZE, &items, notfound);
	} else {
		char *path = l->per_vhost ? ctl_path(l->path, c->vhost) : ctl_path(l->path);
		rc = api(c, "GET", path, NULL, &items, l->per_vhost ? notfound : NULL);
		free(path);
	}
	if (rc != CTL_OK)
		return rc;
	if (!json_is_array(items)) {
		fprintf(stderr, "ternctl: the broker's list of %s is not a JSON array\n", kind);
		json_decref(items);
		return CTL_EBROKER;
	}
	if (c->json)
		ctl_print_json(stdout, items);
	else
		print_table(l, items);
	json_decref(items);
	return CTL_OK;
}

enum { OPT_FILTER = 256, OPT_PAGE_SIZE };

static int run_list(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{"filter", required_argument, NULL, OPT_FILTER},
		{"page-size", required_argument, NULL, OPT_PAGE_SIZE},
		{NULL, 0, NULL, 0},
	};
	const char *filter = NULL;
	long page_size = 0;
	int o;
	while ((o = ctl_getopt(c, argc, argv, opts)) != CTL_OPT_END) {
		if (o == CTL_OPT_EXIT)
			return c->rc;
		if (o == OPT_FILTER)
			filter = optarg;
		if (o == OPT_PAGE_SIZE &&
		    ctl_number(c, "--page-size", optarg, 1, 500, &page_size) < 0)
			return CTL_EUSAGE;
	}
	if (argc - optind != 1)
		return ctl_usage(c, argc - optind ? "list takes one kind of object" : "list what?");
	return list_kind(c, argv[optind], filter, page_size);
}

static int run_users(struct ctl *c, int argc, char **argv)
{
	int o;
	while ((o = ctl_getopt(c, argc, argv, NULL)) != CTL_OPT_END)
		if (o == CTL_OPT_EXIT)
			return c->rc;
	if (optind != argc)
		return ctl_usage(c, "users takes no arguments");
	return list_kind(c, "users", NULL, 0);
}

const struct cmd cmd_list = {
	.name = "list",
	.summary = "list queues, exchanges, bindings, connections, channels, ...",
	.usage = "list KIND [--filter REGEX] [--page-size N]\n"
		 "        KIND: queues exchanges bindings connections channels consumers\n"
		 "              users vhosts permissions policies",
	.help = "Lists one kind of object as a table (--json: the broker's JSON). Queues,\n"
		"exchanges, bindings, connections, channels, consumers, permissions and\n"
		"policies are those of the vhost (-V, default /).\n\n"
		"  --filter REGEX  queues and exchanges only: names matching REGEX (the\n"
		"                  broker's regex, unanchored)\n"
		"  --page-size N   queues and exchanges are read N at a time (default 500,\n"
		"                  the broker's limit), every page in turn\n",
	.run = run_list,
};

const struct cmd cmd_users = {
	.name = "users",
	.summary = "list the users (list users)",
	.usage = "users",
	.help = "Lists the users and their tags (the same as list users).\n",
	.run = run_users,
};
