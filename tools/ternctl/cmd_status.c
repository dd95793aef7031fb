/* cmd_status.c — `ternctl status`: the broker at a glance, from GET
 * /api/overview (product, node, object and queue totals, message rates)
 * and GET /api/nodes (uptime, memory and disk alarms). */
#include <stdlib.h>
#include <string.h>

#include "tools/ternctl/ctl.h"
#include "tools/ternctl/table.h"

static void row(struct table *t, const char *key, const char *value)
{
	table_cell(t, key, false);
	table_cell(t, value, false);
}

static json_int_t num(const json_t *o, const char *path)
{
	return json_integer_value(jpath(o, path));
}

static const char *str(const json_t *o, const char *path)
{
	const char *s = json_string_value(jpath(o, path));
	return s ? s : "";
}

static void uptime(char *buf, size_t n, json_int_t ms)
{
	long long s = ms / 1000;
	long long d = s / 86400, h = s / 3600 % 24, m = s / 60 % 60;
	if (d)
		snprintf(buf, n, "%lldd %lldh %lldm", d, h, m);
	else if (h)
		snprintf(buf, n, "%lldh %lldm", h, m);
	else
		snprintf(buf, n, "%lldm %llds", m, s % 60);
}

/* "memory alarm on rabbit@a, disk alarm on rabbit@b", or "none". */
static void alarms(char *buf, size_t n, const json_t *nodes)
{
	size_t i, len = 0;
	const json_t *node;
	buf[0] = '\0';
	json_array_foreach(nodes, i, node)
	{
		static const char *const kinds[][2] = {{"mem_alarm", "memory"},
						       {"disk_free_alarm", "disk"}};
		for (int k = 0; k < 2; k++)
			if (json_is_true(json_object_get(node, kinds[k][0])) && len < n)
				len += (size_t)snprintf(buf + len, n - len, "%s%s alarm on %s",
							len ? ", " : "", kinds[k][1],
							str(node, "name"));
	}
	if (!buf[0])
		snprintf(buf, n, "none");
}

static void print_status(const json_t *ov, const json_t *nodes, bool no_nodes)
{
	struct table *t = table_new(2, NULL);
	char v[512], up[64];
	const char *version = str(ov, "product_version");
	if (!*version)
		version = str(ov, "rabbitmq_version");
	snprintf(v, sizeof v, "%s %s",
		 *str(ov, "product_name") ? str(ov, "product_name") : "RabbitMQ", version);
	row(t, "product", v);
	const char *node = *str(ov, "node") ? str(ov, "node") : "?";
	snprintf(up, sizeof up, no_nodes ? "? (needs the monitoring tag)" : "?");
	size_t i, running = 0;
	const json_t *nd;
	json_array_foreach(nodes, i, nd)
	{
		if (strcmp(str(nd, "name"), node) == 0 &&
		    json_is_integer(json_object_get(nd, "uptime")))
			uptime(up, sizeof up, num(nd, "uptime"));
		running += json_is_true(json_object_get(nd, "running"));
	}
	if (json_array_size(nodes) > 1)
		snprintf(v, sizeof v, "%s (%zu of %zu nodes running)", node, running,
			 json_array_size(nodes));
	else
		snprintf(v, sizeof v, "%s", node);
	row(t, "node", v);
	row(t, "uptime", up);
	static const char *const totals[] = {"connections", "channels", "exchanges", "queues",
					     "consumers"};
	for (size_t k = 0; k < sizeof totals / sizeof totals[0]; k++) {
		char path[64];
		snprintf(path, sizeof path, "object_totals.%s", totals[k]);
		snprintf(v, sizeof v, "%lld", (long long)num(ov, path));
		row(t, totals[k], v);
	}
	snprintf(v, sizeof v, "%lld (ready %lld, unacked %lld)",
		 (long long)num(ov, "queue_totals.messages"),
		 (long long)num(ov, "queue_totals.messages_ready"),
		 (long long)num(ov, "queue_totals.messages_unacknowledged"));
	row(t, "messages", v);
	snprintf(v, sizeof v, "publish %.1f/s, deliver %.1f/s, ack %.1f/s",
		 json_number_value(jpath(ov, "message_stats.publish_details.rate")),
		 json_number_value(jpath(ov, "message_stats.deliver_get_details.rate")),
		 json_number_value(jpath(ov, "message_stats.ack_details.rate")));
	row(t, "rates", v);
	if (no_nodes)
		snprintf(v, sizeof v, "? (needs the monitoring tag)");
	else
		alarms(v, sizeof v, nodes);
	row(t, "alarms", v);
	table_print(t, stdout);
	table_free(t);
}

static int run_status(struct ctl *c, int argc, char **argv)
{
	json_t *ov = NULL, *nodes = NULL;
	int o, rc;
	while ((o = ctl_getopt(c, argc, argv, NULL)) != CTL_OPT_END)
		if (o == CTL_OPT_EXIT)
			return c->rc;
	if (optind != argc)
		return ctl_usage(c, "status takes no arguments");
	rc = api(c, "GET", "/api/overview", NULL, &ov, NULL);
	if (rc != CTL_OK)
		goto fail;
	/* /api/nodes wants the monitoring tag: without it, say what is missing. */
	struct http_reply r;
	rc = api_raw(c, "GET", "/api/nodes", NULL, &r);
	if (rc != CTL_OK)
		goto fail;
	bool refused = (r.status == 401 && !r.www_authenticate) || r.status == 403;
	if (r.status >= 200 && r.status <= 299)
		nodes = json_loadb(r.body, r.len, 0, NULL);
	else if (refused)
		nodes = json_array();
	else
		rc = api_fail(c, &r, NULL);
	http_reply_free(&r);
	if (rc != CTL_OK)
		goto fail;
	if (!json_is_object(ov) || !json_is_array(nodes)) {
		fprintf(stderr,
			"ternctl: /api/overview or /api/nodes answered an unexpected shape\n");
		rc = CTL_EBROKER;
		goto fail;
	}
	if (c->json) {
		json_t *both = json_pack("{s:O, s:O}", "overview", ov, "nodes", nodes);
		ctl_print_json(stdout, both);
		json_decref(both);
	} else {
		print_status(ov, nodes, refused);
	}
fail:
	json_decref(ov);
	json_decref(nodes);
	return rc;
}

const struct cmd cmd_status = {
	.name = "status",
	.summary = "the broker: version, node, uptime, totals, rates, alarms",
	.usage = "status",
	.help = "Shows the broker: product and version, node and uptime, how many connections,\n"
		"channels, exchanges, queues, consumers and messages, the message rates, and\n"
		"memory or disk alarms (GET /api/overview and /api/nodes).\n",
	.run = run_status,
};
