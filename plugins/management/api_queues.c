/* api_queues.c — /api/queues[/{vhost}[/{name}[/contents|/bindings]]]:
 * RabbitMQ's queue objects with live counts, and declare, delete and
 * purge through ops.h as AMQP does them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>

#include "broker/amqp/channel.h"
#include "broker/model/jtable.h"
#include "broker/model/policy.h"
#include "broker/net/server.h"
#include "plugins/management/api.h"
#include "util/xalloc.h"

const char *node_name(void)
{
	static char name[300];
	if (!name[0]) {
		struct utsname u;
		snprintf(name, sizeof name, "tern@%s", uname(&u) == 0 ? u.nodename : "localhost");
	}
	return name;
}

json_t *time_json(uint64_t wall)
{
	time_t t = (time_t)(wall / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	char buf[48];
	size_t n = strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, sizeof buf - n, ".%03u+00:00", (unsigned)(wall % 1000));
	return json_string(buf);
}

/* The merged settings a queue works by, as RabbitMQ's
 * effective_policy_definition shows those of its policies. */
static json_t *effective(const struct queue *q)
{
	json_t *o = json_object();
	if (q->policy || q->op_policy) {
		if (q->ttl >= 0)
			json_object_set_new(o, "message-ttl", json_integer(q->ttl));
		if (q->max_len >= 0)
			json_object_set_new(o, "max-length", json_integer(q->max_len));
		if (q->max_bytes >= 0)
			json_object_set_new(o, "max-length-bytes", json_integer(q->max_bytes));
		if (q->idle_ms >= 0)
			json_object_set_new(o, "expires", json_integer(q->idle_ms));
		if (q->dlx)
			json_object_set_new(o, "dead-letter-exchange", json_string(q->dlx));
	}
	return o;
}

json_t *consumers_json(const struct queue *q)
{
	json_t *arr = json_array();
	for (size_t i = 0; i < q->ncons; i++) {
		const struct consumer *c = q->cons[i];
		const struct conn *conn = c->ch->c;
		char cname[200], chname[220];
		connection_name(conn, cname, sizeof cname);
		snprintf(chname, sizeof chname, "%s (%u)", cname, c->ch->id);
		json_t *details = json_pack("{s:s, s:i, s:s, s:s, s:s}", "name", chname, "number",
					    (int)c->ch->id, "connection_name", cname, "user",
					    conn->user ? conn->user : "", "node", node_name());
		json_object_set_new(details, "peer_host", connection_peer_host(conn));
		json_object_set_new(details, "peer_port", connection_peer_port(conn));
		json_array_append_new(
			arr, json_pack("{s:s%, s:b, s:b, s:I, s:o, s:{s:s, s:s}, s:o, s:s, s:b}",
				       "consumer_tag", c->tag, (size_t)c->tag_len, "ack_required",
				       !c->no_ack, "exclusive", c->exclusive, "prefetch_count",
				       (json_int_t)c->prefetch, "arguments", jtable_to_json(c->args),
				       "queue", "name", q->name, "vhost", q->vh->name,
				       "channel_details", details, "activity_status", "up", "active",
				       !q->single_active || i == 0));
	}
	return arr;
}

/* The tag of the queue's exclusive consumer, or of the single active
 * one, or null. */
static json_t *consumer_tag(const struct queue *q, bool exclusive)
{
	for (size_t i = 0; i < q->ncons; i++)
		if (exclusive ? q->cons[i]->exclusive : q->single_active)
			return json_stringn(q->cons[i]->tag, q->cons[i]->tag_len);
	return json_null();
}

/* The queue object: in lists, and with single (GET of one queue) also
 * consumer_details, deliveries and incoming, as RabbitMQ. */
static json_t *queue_object(const struct queue *q, bool single)
{
	uint64_t bytes = q->ready_bytes + q->unacked_bytes, n = q->len + q->unacked;
	json_t *o = json_pack(
		"{s:s%, s:s, s:b, s:b, s:b, s:o, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
		"name", q->name, (size_t)q->name_len, "vhost", q->vh->name, "durable", q->durable,
		"auto_delete", q->auto_delete, "exclusive", q->exclusive, "arguments",
		jtable_to_json(q->args), "node", node_name(), "state", "running", "type", "classic",
		"consumers", (json_int_t)q->ncons, "messages", (json_int_t)n, "messages_ready",
		(json_int_t)q->len, "messages_unacknowledged", (json_int_t)q->unacked,
		"message_bytes", (json_int_t)bytes, "message_bytes_ready", (json_int_t)q->ready_bytes,
		"memory", (json_int_t)(sizeof *q + q->ready_bytes + q->len * sizeof(struct qentry)));
	/* What RabbitMQ's classic queues report of where messages sit: Tern
	 * keeps them in memory (paging aside), so RAM counts are the counts. */
	json_object_set_new(o, "message_bytes_unacknowledged",
			    json_integer((json_int_t)q->unacked_bytes));
	json_object_set_new(o, "message_bytes_ram", json_integer((json_int_t)bytes));
	json_object_set_new(o, "message_bytes_persistent", json_integer(0));
	json_object_set_new(o, "message_bytes_paged_out", json_integer(0));
	json_object_set_new(o, "messages_ram", json_integer((json_int_t)n));
	json_object_set_new(o, "messages_ready_ram", json_integer((json_int_t)q->len));
	json_object_set_new(o, "messages_unacknowledged_ram", json_integer((json_int_t)q->unacked));
	json_object_set_new(o, "messages_persistent", json_integer(0));
	json_object_set_new(o, "messages_paged_out", json_integer(0));
	json_object_set_new(o, "policy", q->policy ? json_string(q->policy) : json_null());
	json_object_set_new(o, "operator_policy",
			    q->op_policy ? json_string(q->op_policy) : json_null());
	json_object_set_new(o, "effective_policy_definition", effective(q));
	json_object_set_new(o, "exclusive_consumer_tag", consumer_tag(q, true));
	json_object_set_new(o, "single_active_consumer_tag", consumer_tag(q, false));
	json_object_set_new(o, "head_message_timestamp", json_null());
	json_object_set_new(o, "consumer_utilisation", q->ncons ? json_real(1.0) : json_null());
	json_object_set_new(o, "consumer_capacity", json_real(q->ncons ? 1.0 : 0.0));
	json_object_set_new(o, "messages_details", rate_json(0));
	json_object_set_new(o, "messages_ready_details", rate_json(0));
	json_object_set_new(o, "messages_unacknowledged_details", rate_json(0));
	json_object_set_new(o, "message_stats", message_stats_json(&q->stats));
	uint64_t idle = wall_ms() - (now_ms() - q->last_used);
	if (!q->ncons)
		json_object_set_new(o, "idle_since", time_json(idle));
	if (q->exclusive && q->owner) {
		char conn[200];
		connection_name(q->owner, conn, sizeof conn);
		json_object_set_new(o, "owner_pid_details", json_pack("{s:s}", "name", conn));
	}
	if (single) {
		json_object_set_new(o, "consumer_details", consumers_json(q));
		json_object_set_new(o, "deliveries", json_array());
		json_object_set_new(o, "incoming", json_array());
	}
	return o;
}

json_t *queue_json(const struct queue *q)
{
	return queue_object(q, false);
}

static json_t *build_queue(const void *o)
{
	return queue_json(o);
}

static const char *queue_name_of(const void *o)
{
	return ((const struct queue *)o)->name;
}

/* The fields the queues view sorts by, read off the queue. */
static bool queue_number(const void *o, const char *field, double *out)
{
	const struct queue *q = o;
	static const char *const rates[] = {"message_stats.publish_details.rate",
					    "message_stats.deliver_details.rate",
					    "message_stats.ack_details.rate"};
	static const enum stat_kind kinds[] = {ST_PUBLISH, ST_DELIVER, ST_ACK};
	if (!strcmp(field, "messages"))
		*out = (double)(q->len + q->unacked);
	else if (!strcmp(field, "messages_ready"))
		*out = (double)q->len;
	else if (!strcmp(field, "messages_unacknowledged"))
		*out = (double)q->unacked;
	else if (!strcmp(field, "consumers"))
		*out = (double)q->ncons;
	else if (!strcmp(field, "message_bytes"))
		*out = (double)q->ready_bytes;
	else {
		for (int i = 0; i < 3; i++)
			if (!strcmp(field, rates[i])) {
				*out = q->stats.rate[kinds[i]];
				return true;
			}
		return false;
	}
	return true;
}

void api_queues(struct req *q)
{
	struct vhost *only = NULL;
	if (q->narg && !(only = req_vhost(q, q->arg[0])))
		return;
	size_t n = 0, cap = 64;
	void **objs = xmalloc(cap * sizeof *objs);
	struct vhost *vh;
	for (size_t i = 0; (vh = list_vhost(q, only, &i));) {
		void *v;
		for (size_t j = 0; strmap_next(&vh->queues, &j, &v);) {
			if (n == cap)
				objs = xrealloc(objs, (cap *= 2) * sizeof *objs);
			objs[n++] = v;
		}
	}
	reply_objects(q, objs, n, build_queue, queue_name_of, queue_number);
}

static struct queue *find(struct req *q, struct vhost **vh)
{
	*vh = req_vhost(q, q->arg[0]);
	if (!*vh)
		return NULL;
	struct queue *qu = vhost_queue(*vh, bytes_of(q->arg[1]));
	if (!qu)
		reply_not_found(q);
	return qu;
}

void api_queue(struct req *q)
{
	struct vhost *vh;
	struct queue *qu = find(q, &vh);
	if (qu)
		reply_object(q, queue_object(qu, true));
}

void api_queue_put(struct req *q)
{
	struct vhost *vh = req_vhost_put(q, q->arg[0]);
	if (!vh || !body_optional(q))
		return;
	/* RabbitMQ's API declares non-durable queues unless told; exclusive
	 * is ignored (no connection would own the queue). */
	bool durable, ad;
	if (!body_bool(q, "durable", false, &durable) || !body_bool(q, "auto_delete", false, &ad))
		return;
	json_t *args = json_object_get(q->body, "arguments");
	struct queue_decl d = {.name = bytes_of(q->arg[1]), .durable = durable, .auto_delete = ad};
	char why[256];
	if (jtable_from_json(args, &d.args, why, sizeof why) < 0) {
		reply_error(q, 400, "arguments: %s", why);
		return;
	}
	bool existed = vhost_queue(vh, d.name) != NULL;
	struct actor who = req_actor(q);
	struct queue *qu;
	struct op_err e;
	if (op_queue_declare(vh, &who, &d, &qu, &e))
		reply_op_error(q, &e);
	else
		reply_status(q, existed ? 204 : 201);
	free((void *)d.args.p);
}

void api_queue_delete(struct req *q)
{
	struct vhost *vh;
	if (!find(q, &vh))
		return;
	const char *if_empty = query(q, "if-empty"), *if_unused = query(q, "if-unused");
	struct actor who = req_actor(q);
	uint32_t n;
	struct op_err e;
	if (op_queue_delete(vh, &who, bytes_of(q->arg[1]), if_unused && !strcmp(if_unused, "true"),
			    if_empty && !strcmp(if_empty, "true"), &n, &e))
		reply_op_error(q, &e);
	else
		reply_status(q, 204);
}

void api_queue_purge(struct req *q)
{
	struct vhost *vh;
	if (!find(q, &vh))
		return;
	struct actor who = req_actor(q);
	uint32_t n;
	struct op_err e;
	if (op_queue_purge(vh, &who, bytes_of(q->arg[1]), &n, &e))
		reply_op_error(q, &e);
	else
		reply_status(q, 204);
}

void api_queue_bindings(struct req *q)
{
	struct vhost *vh;
	struct queue *qu = find(q, &vh);
	if (!qu)
		return;
	json_t *arr = json_array();
	/* RabbitMQ lists the default exchange's implicit binding first. */
	json_array_append_new(arr, default_binding_json(vh, qu));
	for (size_t i = 0; i < qu->nbinds; i++)
		json_array_append_new(arr, binding_json(vh, qu->binds[i]));
	reply_list(q, arr);
}
