/* api_overview.c — /api/overview, /api/whoami, /api/nodes, /api/extensions
 * and the /api/health/checks, in RabbitMQ's shapes. Memory, disk and
 * their alarms are what the last alarm check measured (alarm.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker/core/config.h"
#include "broker/net/alarm.h"
#include "broker/net/server.h"
#include "broker/core/stats.h"
#include "exchanges/exchange.h"
#include "plugins/management/api.h"
#include "store/store.h"

static uint64_t started_ms;

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

/* RabbitMQ's descriptions of its exchange types; a plugin's type shows
 * its name. */
static json_t *exchange_types_json(void)
{
	static const char *const desc[][2] = {
		{"direct", "AMQP direct exchange, as per the AMQP specification"},
		{"fanout", "AMQP fanout exchange, as per the AMQP specification"},
		{"topic", "AMQP topic exchange, as per the AMQP specification"},
		{"headers", "AMQP headers exchange, as per the AMQP specification"},
		{"x-delayed-message", "Delayed Message Exchange."},
	};
	json_t *arr = json_array();
	const struct exchange_type *t;
	for (size_t i = 0; (t = exchange_type_at(i)); i++) {
		const char *d = t->name;
		for (size_t k = 0; k < sizeof desc / sizeof desc[0]; k++)
			if (!strcmp(desc[k][0], t->name))
				d = desc[k][1];
		json_array_append_new(arr, json_pack("{s:s, s:s, s:b}", "name", t->name,
						     "description", d, "enabled", true));
	}
	return arr;
}

static json_t *listener(const char *protocol, const char *ip, int64_t port)
{
	return json_pack("{s:s, s:s, s:s, s:I}", "node", node_name(), "protocol", protocol,
			 "ip_address", ip, "port", (json_int_t)port);
}

/* As RabbitMQ lists them: "amqp", "amqp/ssl", "http", "https". */
static json_t *listeners(void)
{
	json_t *arr = json_array();
	const struct server_listen_info *l;
	size_t n = server_listeners(&l);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, listener(l[i].tls ? "amqp/ssl" : "amqp", l[i].ip, l[i].port));
	if (cfg.management_port)
		json_array_append_new(arr, listener("http", cfg.management_ip, cfg.management_port));
	if (*cfg.management_ssl.certfile)
		json_array_append_new(arr, listener("https", cfg.management_ssl_ip,
						    cfg.management_ssl_port));
	if (cfg.prometheus_port)
		json_array_append_new(arr, listener("http/prometheus", cfg.prometheus_ip,
						    cfg.prometheus_port));
	return arr;
}

/* The management listeners, as RabbitMQ's "contexts" (ssl "true" for
 * the HTTPS one). */
static json_t *contexts(void)
{
	json_t *arr = json_array();
	if (cfg.management_port)
		json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:I}", "node", node_name(),
						     "description", "Tern management", "path", "/",
						     "port", (json_int_t)cfg.management_port));
	if (*cfg.management_ssl.certfile)
		json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:I, s:s}", "node", node_name(),
						     "description", "Tern management", "path", "/",
						     "port", (json_int_t)cfg.management_ssl_port,
						     "ssl", "true"));
	return arr;
}

void api_overview(struct req *q)
{
	json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:I}",
			      "management_version", RABBITMQ_VERSION, "rates_mode", "basic",
			      "product_name", "Tern", "product_version", TERN_VERSION,
			      "rabbitmq_version", RABBITMQ_VERSION, "erlang_version", "none", "node",
			      node_name(), "cluster_name", node_name(), "listeners", listeners(),
			      "message_stats", message_stats_json(&stats_global),
			      "statistics_db_event_queue", (json_int_t)0);
	json_object_set_new(o, "contexts", contexts());
	json_object_set_new(o, "exchange_types", exchange_types_json());
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

/* RabbitMQ's descriptions; enabled as auth_mechanisms.N configures. */
static json_t *auth_mechanisms_json(void)
{
	static const char *const mech[][2] = {
		{"PLAIN", "SASL PLAIN authentication mechanism"},
		{"AMQPLAIN", "QPid AMQPLAIN mechanism"},
		{"EXTERNAL", "TLS peer verification-based authentication plugin. Used in combination "
			     "with the EXTERNAL SASL mechanism."},
	};
	json_t *arr = json_array();
	for (size_t i = 0; i < sizeof mech / sizeof mech[0]; i++) {
		bool on = !cfg.auth_mechanisms.n && i < 2;
		for (size_t j = 0; j < cfg.auth_mechanisms.n; j++)
			on |= !strcmp(cfg.auth_mechanisms.vals[j], mech[i][0]);
		json_array_append_new(arr, json_pack("{s:s, s:s, s:b}", "name", mech[i][0],
						     "description", mech[i][1], "enabled", on));
	}
	return arr;
}

static json_t *node_json(void)
{
	long fds = sysconf(_SC_OPEN_MAX);
	char pid[24];
	snprintf(pid, sizeof pid, "%ld", (long)getpid());
	struct alarm_figures a;
	alarm_figures(&a);
	json_t *o = json_pack(
		"{s:s, s:s, s:b, s:I, s:I, s:b, s:I, s:I, s:b, s:I, s:I, s:I, s:i, s:s, s:s}", "name",
		node_name(), "type", "disc", "running", true, "mem_used", (json_int_t)a.mem_used,
		"mem_limit", (json_int_t)a.mem_limit, "mem_alarm", a.mem_alarm, "disk_free",
		(json_int_t)a.disk_free, "disk_free_limit", (json_int_t)a.disk_free_limit,
		"disk_free_alarm", a.disk_alarm, "fd_used",
		(json_int_t)(conn_count + 8), "fd_total", (json_int_t)fds, "uptime",
		(json_int_t)uptime_ms(), "processors", (int)sysconf(_SC_NPROCESSORS_ONLN), "os_pid",
		pid, "rates_mode", "basic");
	/* RabbitMQ's Erlang-VM figures, in Tern's terms: sockets are the
	 * connections, one "process" each plus the broker's own. */
	json_object_set_new(o, "sockets_used", json_integer((json_int_t)conn_count));
	json_object_set_new(o, "sockets_total", json_integer(fds));
	json_object_set_new(o, "proc_used", json_integer((json_int_t)conn_count + 1));
	json_object_set_new(o, "proc_total", json_integer(1048576));
	json_object_set_new(o, "run_queue", json_integer(0));
	json_object_set_new(o, "mem_calculation_strategy", json_string("rss"));
	json_object_set_new(o, "net_ticktime", json_integer(60));
	json_object_set_new(o, "partitions", json_array());
	json_object_set_new(o, "exchange_types", exchange_types_json());
	json_object_set_new(o, "auth_mechanisms", auth_mechanisms_json());
	json_object_set_new(o, "applications",
			    json_pack("[{s:s, s:s, s:s}]", "name", "tern", "description", "Tern",
				      "version", TERN_VERSION));
	json_object_set_new(o, "contexts",
			    json_pack("[{s:s, s:s, s:I}]", "description", "Tern management",
				      "path", "/", "port", (json_int_t)cfg.management_port));
	json_object_set_new(o, "enabled_plugins", json_pack("[s]", "rabbitmq_management"));
	json_object_set_new(o, "mem_used_details", rate_json(0));
	json_object_set_new(o, "fd_used_details", rate_json(0));
	json_object_set_new(o, "sockets_used_details", rate_json(0));
	json_object_set_new(o, "proc_used_details", rate_json(0));
	json_object_set_new(o, "disk_free_details", rate_json(0));
	return o;
}

void api_nodes(struct req *q)
{
	struct store_status st;
	store_status(&st);
	json_t *self = node_json();
	json_t *arr = st.cluster ? cluster_nodes_json(self) : json_array();
	if (!st.cluster)
		json_array_append(arr, self);
	json_decref(self);
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

/* RabbitMQ's body on alarm: 503 {"status": "failed", "reason": ...,
 * "alarms": [{"node", "resource"}]}, disk ("disk space") before memory. */
static void alarms_reply(struct req *q, const char *reason)
{
	if (!alarm_on) {
		health(q, true, "");
		return;
	}
	json_t *list = json_array();
	if (alarm_on & ALARM_DISK)
		json_array_append_new(list, json_pack("{s:s, s:s}", "node", node_name(), "resource",
						      "disk space"));
	if (alarm_on & ALARM_MEMORY)
		json_array_append_new(list, json_pack("{s:s, s:s}", "node", node_name(), "resource",
						      "memory"));
	reply_json(q, 503, json_pack("{s:s, s:s, s:o}", "status", "failed", "reason", reason,
				     "alarms", list));
}

void api_health_alarms(struct req *q)
{
	alarms_reply(q, "There are alarms in effect in the cluster");
}

void api_health_local_alarms(struct req *q)
{
	alarms_reply(q, "There are alarms in effect on the node");
}

/* The ports and protocols Tern listens with: AMQP and this API. */
static json_t *ports_json(void)
{
	json_t *a = json_pack("[I]", (json_int_t)cfg.port);
	if (cfg.management_port)
		json_array_append_new(a, json_integer((json_int_t)cfg.management_port));
	if (cfg.prometheus_port)
		json_array_append_new(a, json_integer((json_int_t)cfg.prometheus_port));
	return a;
}

void api_health_port(struct req *q)
{
	char *end;
	long port = strtol(q->arg[0], &end, 10);
	if (!*q->arg[0] || *end || port < 0 || port > 65535) {
		reply_error(q, 400, "Invalid port");
		return;
	}
	if (port == cfg.port || (cfg.management_port && port == cfg.management_port) ||
	    (cfg.prometheus_port && port == cfg.prometheus_port))
		reply_json(q, 200, json_pack("{s:s, s:i}", "status", "ok", "port", (int)port));
	else
		reply_json(q, 503, json_pack("{s:s, s:s, s:i, s:o}", "status", "failed", "reason",
					     "No active listener", "missing", (int)port, "ports",
					     ports_json()));
}

void api_health_protocol(struct req *q)
{
	const char *p = q->arg[0];
	if (!strcmp(p, "amqp") || !strcmp(p, "amqp091") ||
	    (cfg.management_port && !strcmp(p, "http")))
		reply_json(q, 200, json_pack("{s:s, s:s}", "status", "ok", "protocol", p));
	else
		reply_json(q, 503,
			   json_pack("{s:s, s:s, s:s, s:o}", "status", "failed", "reason",
				     "No active listener", "missing", p, "protocols",
				     cfg.management_port ? json_pack("[s, s]", "amqp", "http")
							 : json_pack("[s]", "amqp")));
}

/* RabbitMQ declares, publishes to and gets from a queue there; Tern's
 * one thread answers this request only when it serves AMQP too, so a
 * vhost that exists is alive. */
void api_aliveness(struct req *q)
{
	struct alarm_figures a;
	alarm_figures(&a);
	if (req_vhost(q, q->arg[0]))
		health(q, !a.store_failing, "the store is failing");
}

void api_health_vhosts(struct req *q)
{
	health(q, true, "");
}

