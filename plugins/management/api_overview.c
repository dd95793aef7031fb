/* api_overview.c — /api/overview, /api/whoami, /api/nodes, /api/extensions
 * and the /api/health/checks, in RabbitMQ's shapes. Memory is the broker's
 * RSS; alarms are the store's (publishers blocked after a failed write),
 * until memory and disk watermarks come. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "broker/config.h"
#include "broker/persist.h"
#include "broker/server.h"
#include "broker/stats.h"
#include "plugins/management/api.h"

#define TERN_VERSION "0.1.0"

static uint64_t started_ms;

static uint64_t rss_bytes(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	unsigned long pages = 0, rss = 0;
	if (f) {
		if (fscanf(f, "%lu %lu", &pages, &rss) != 2)
			rss = 0;
		fclose(f);
	}
	return (uint64_t)rss * (uint64_t)sysconf(_SC_PAGESIZE);
}

static uint64_t disk_free(void)
{
	struct statvfs s;
	return statvfs(cfg.data_dir, &s) == 0 ? (uint64_t)s.f_bavail * s.f_frsize : 0;
}

void overview_started(void)
{
	started_ms = now_ms();
}

static uint64_t uptime_ms(void)
{
	return now_ms() - started_ms;
}

/* Totals over the vhosts the user sees. */
static void totals(struct req *q, json_t *o)
{
	uint64_t nq = 0, nx = 0, ncons = 0, ready = 0, unacked = 0, nconn = 0, nch = 0;
	struct vhost *vh;
	for (size_t i = 0; (vh = vhost_next(&i));) {
		if (!user_sees_vhost(q->user, vh->name))
			continue;
		nq += vh->queues.n;
		nx += vh->exchanges.n;
		void *v;
		for (size_t j = 0; strmap_next(&vh->queues, &j, &v);) {
			struct queue *qu = v;
			ready += qu->len;
			unacked += qu->unacked;
			ncons += qu->ncons;
		}
	}
	for (struct conn *c = conn_list; c; c = c->next) {
		if (c->state != CONN_OPEN || !c->vh || !user_sees_vhost(q->user, c->vh->name))
			continue;
		nconn++;
		for (uint32_t i = 0; i < c->nchans; i++)
			nch += c->chans[i] != NULL;
	}
	json_object_set_new(o, "object_totals",
			    json_pack("{s:I, s:I, s:I, s:I, s:I}", "connections", (json_int_t)nconn,
				      "channels", (json_int_t)nch, "exchanges", (json_int_t)nx,
				      "queues", (json_int_t)nq, "consumers", (json_int_t)ncons));
	json_object_set_new(o, "queue_totals",
			    json_pack("{s:I, s:o, s:I, s:o, s:I, s:o}", "messages",
				      (json_int_t)(ready + unacked), "messages_details", rate_json(0),
				      "messages_ready", (json_int_t)ready, "messages_ready_details",
				      rate_json(0), "messages_unacknowledged", (json_int_t)unacked,
				      "messages_unacknowledged_details", rate_json(0)));
}

static json_t *listeners(void)
{
	json_t *arr = json_array();
	char *list = strdup(cfg.bind), *save = NULL;
	for (char *h = strtok_r(list, ", ", &save); h; h = strtok_r(NULL, ", ", &save))
		json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:I}", "node", node_name(),
						     "protocol", "amqp", "ip_address", h, "port",
						     (json_int_t)cfg.port));
	free(list);
	if (cfg.management_port)
		json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:I}", "node", node_name(),
						     "protocol", "http", "ip_address",
						     cfg.management_ip, "port",
						     (json_int_t)cfg.management_port));
	return arr;
}

void api_overview(struct req *q)
{
	json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:I}",
			      "management_version", TERN_VERSION, "rates_mode", "basic",
			      "product_name", "Tern", "product_version", TERN_VERSION,
			      "rabbitmq_version", "3.10.8", "erlang_version", "none", "node",
			      node_name(), "cluster_name", node_name(), "listeners", listeners(),
			      "message_stats", message_stats_json(&stats_global),
			      "statistics_db_event_queue", (json_int_t)0);
	json_object_set_new(o, "contexts",
			    json_pack("[{s:s, s:s, s:s, s:I}]", "node", node_name(), "description",
				      "Tern management", "path", "/", "port",
				      (json_int_t)cfg.management_port));
	json_object_set_new(o, "exchange_types",
			    json_pack("[{s:s},{s:s},{s:s},{s:s}]", "name", "direct", "name",
				      "fanout", "name", "topic", "name", "headers"));
	totals(q, o);
	reply_json(q, 200, o);
}

void api_whoami(struct req *q)
{
	json_t *tags = json_array();
	for (size_t i = 0; i < q->user->ntags; i++)
		json_array_append_new(tags, json_string(q->user->tags[i]));
	reply_json(q, 200, json_pack("{s:s, s:o}", "name", q->user->name, "tags", tags));
}

static json_t *node_json(void)
{
	long fds = sysconf(_SC_OPEN_MAX);
	return json_pack("{s:s, s:s, s:b, s:I, s:I, s:b, s:I, s:I, s:b, s:I, s:I, s:I, s:i, s:s, "
			 "s:s}",
			 "name", node_name(), "type", "disc", "running", true, "mem_used",
			 (json_int_t)rss_bytes(), "mem_limit",
			 (json_int_t)(sysconf(_SC_PHYS_PAGES) * sysconf(_SC_PAGESIZE)),
			 "mem_alarm", false, "disk_free", (json_int_t)disk_free(),
			 "disk_free_limit", (json_int_t)50000000, "disk_free_alarm",
			 persist_blocked, "fd_used", (json_int_t)(conn_count + 8), "fd_total",
			 (json_int_t)fds, "uptime", (json_int_t)uptime_ms(), "processors",
			 (int)sysconf(_SC_NPROCESSORS_ONLN), "os_pid", "", "rates_mode", "basic");
}

void api_nodes(struct req *q)
{
	json_t *arr = json_array();
	json_array_append_new(arr, node_json());
	reply_json(q, 200, arr);
}

void api_node(struct req *q)
{
	if (strcmp(q->arg[0], node_name()))
		reply_not_found(q);
	else
		reply_object(q, node_json());
}

void api_extensions(struct req *q)
{
	reply_json(q, 200, json_array());
}

/* ---- health checks: {"status": "ok"} or 503 {"status": "failed", "reason"} ---- */

static void health(struct req *q, bool ok, const char *reason)
{
	if (ok)
		reply_json(q, 200, json_pack("{s:s}", "status", "ok"));
	else
		reply_json(q, 503, json_pack("{s:s, s:s}", "status", "failed", "reason", reason));
}

void api_health_alarms(struct req *q)
{
	health(q, !persist_blocked, "resource alarm in effect: the store is failing");
}

void api_health_port(struct req *q)
{
	char *end;
	long port = strtol(q->arg[0], &end, 10);
	if (*end || port < 1 || port > 65535) {
		reply_error(q, 400, "'%s' is not a port number", q->arg[0]);
		return;
	}
	char reason[128];
	snprintf(reason, sizeof reason, "No active listener on port %ld", port);
	health(q, port == cfg.port || port == cfg.management_port, reason);
}

void api_health_vhosts(struct req *q)
{
	health(q, true, "");
}

void api_health_ready(struct req *q)
{
	health(q, !persist_blocked, "the node is not accepting publishes: the store is failing");
}
