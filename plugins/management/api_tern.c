/* api_tern.c — what Tern's API offers beyond RabbitMQ's and LavinMQ's,
 * under /api/tern/: browse a queue's ready messages without consuming
 * them, delete one by its id, move messages to another queue, redrive a
 * dead-letter queue, see who holds each unacked message, and list and
 * cancel the messages waiting in an x-delayed-message exchange. The
 * actions are broker/queue/queue_ops.h's and plugins/delayed.h's; permissions
 * are RabbitMQ's kinds: read on a queue taken from, write on a queue
 * put into. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/amqp/channel.h"
#include "broker/queue/queue_ops.h"
#include "broker/net/server.h"
#include "plugins/delayed.h"
#include "plugins/management/api.h"

/* A query parameter as a count: def when absent, false (400) when bad. */
static bool count_param(struct req *q, const char *name, long def, long max, long *out)
{
	const char *s = query(q, name);
	char *end;
	*out = s ? strtol(s, &end, 10) : def;
	if (s && (*end || *out < 0 || *out > max)) {
		reply_error(q, 400, "%s must be a whole number from 0 to %ld", name, max);
		return false;
	}
	return true;
}

/* The queue of the path, with read permission. */
static struct queue *readable(struct req *q, struct vhost **vh)
{
	*vh = req_vhost(q, q->arg[0]);
	if (!*vh)
		return NULL;
	struct actor who = req_actor(q);
	struct queue *qu;
	struct op_err e;
	if (op_queue_for_read(*vh, &who, bytes_of(q->arg[1]), &qu, &e)) {
		reply_op_error_tern(q, &e);
		return NULL;
	}
	return qu;
}

struct browse {
	json_t *arr;
	long truncate;
};

static void on_browse(void *ctx, size_t pos, const struct qentry *e)
{
	struct browse *b = ctx;
	json_t *o = message_json(e->m, "auto", b->truncate);
	json_object_set_new(o, "position", json_integer((json_int_t)pos));
	json_object_set_new(o, "id", json_integer((json_int_t)e->seq));
	json_object_set_new(o, "redelivered", json_boolean(e->deliveries > 0));
	json_object_set_new(o, "delivery_count", json_integer(e->deliveries));
	json_array_append_new(b->arr, o);
}

void api_tern_messages(struct req *q)
{
	struct vhost *vh;
	long offset, count, truncate;
	if (!count_param(q, "offset", 0, 1L << 40, &offset) ||
	    !count_param(q, "count", 50, 1000, &count) ||
	    !count_param(q, "truncate", 2048, 1 << 24, &truncate))
		return;
	struct queue *qu = readable(q, &vh);
	if (!qu)
		return;
	struct browse b = {json_array(), truncate};
	size_t total = queue_browse(qu, (size_t)offset, (size_t)count, on_browse, &b);
	reply_json(q, 200, json_pack("{s:I, s:I, s:o}", "total", (json_int_t)total, "offset",
				     (json_int_t)offset, "messages", b.arr));
}

void api_tern_message_delete(struct req *q)
{
	struct vhost *vh;
	char *end;
	unsigned long long id = strtoull(q->arg[2], &end, 10);
	if (*end || !id) {
		reply_error(q, 400, "'%s' is not a message id", q->arg[2]);
		return;
	}
	struct queue *qu = readable(q, &vh);
	if (!qu)
		return;
	if (!queue_delete_message(qu, id))
		reply_error(q, 404, "no ready message %llu in queue '%s'", id, qu->name);
	else
		reply_status(q, 204);
}

/* Write permission on a queue put into (as for binding to it). */
static bool may_write(struct req *q, struct vhost *vh, struct queue *to, bool answer)
{
	struct actor who = req_actor(q);
	struct op_err e;
	if (!op_check(&who, vh, PERM_WRITE, "queue", bytes_of(to->name), &e))
		return true;
	if (answer)
		reply_op_error_tern(q, &e);
	return false;
}

void api_tern_move(struct req *q)
{
	struct vhost *vh;
	if (!body_object(q))
		return;
	const char *dest = json_string_value(json_object_get(q->body, "destination"));
	json_int_t count;
	if (!body_int(q, "count", -1, &count))
		return;
	if (!dest) {
		reply_error(q, 400, "destination: the name of a queue in the same vhost is needed");
		return;
	}
	struct queue *from = readable(q, &vh);
	if (!from)
		return;
	struct queue *to = vhost_queue(vh, bytes_of(dest));
	if (!to || to == from) {
		reply_error(q, to ? 400 : 404, to ? "destination is the queue itself"
						  : "no queue '%s' in vhost '%s'",
			    dest, vh->name);
		return;
	}
	if (!may_write(q, vh, to, true))
		return;
	size_t n = queue_move(from, to, count < 0 ? SIZE_MAX : (size_t)count);
	reply_json(q, 200, json_pack("{s:I}", "moved", (json_int_t)n));
}

struct redrive_ctx {
	struct req *q;
	struct vhost *vh;
};

static bool redrive_allowed(void *ctx, struct queue *to)
{
	struct redrive_ctx *r = ctx;
	return may_write(r->q, r->vh, to, false);
}

void api_tern_redrive(struct req *q)
{
	struct vhost *vh;
	json_int_t count = -1;
	if (!body_optional(q) || !body_int(q, "count", -1, &count))
		return;
	struct queue *qu = readable(q, &vh);
	if (!qu)
		return;
	size_t moved, skipped;
	struct redrive_ctx r = {q, vh};
	queue_redrive(qu, count < 0 ? SIZE_MAX : (size_t)count, redrive_allowed, &r, &moved,
		      &skipped);
	reply_json(q, 200, json_pack("{s:I, s:I}", "moved", (json_int_t)moved, "skipped",
				     (json_int_t)skipped));
}

void api_tern_unacked(struct req *q)
{
	struct vhost *vh;
	struct queue *qu = readable(q, &vh);
	if (!qu)
		return;
	json_t *arr = json_array();
	uint64_t now = wall_ms();
	for (struct conn *c = conn_list; c; c = c->next) {
		for (uint32_t i = 0; i < c->nchans; i++) {
			struct channel *ch = c->chans[i];
			for (size_t k = 0; ch && k < ch->ring_len; k++) {
				const struct unacked *u = &ch->ring[(ch->ring_base + k) & (ch->ring_cap - 1)];
				if (!u->e.m || u->q != qu)
					continue;
				json_t *o = json_pack(
					"{s:I, s:s, s:i, s:I, s:I}", "id", (json_int_t)u->e.seq,
					"connection", c->name, "channel", (int)ch->id, "delivery_tag",
					(json_int_t)(ch->ring_base + k), "held_ms",
					(json_int_t)(now > u->since_ms ? now - u->since_ms : 0));
				json_object_set_new(o, "consumer_tag",
						    u->cons ? json_stringn(u->cons->tag, u->cons->tag_len)
							    : json_null());
				json_object_set_new(o, "user", json_string(c->user ? c->user : ""));
				json_array_append_new(arr, o);
			}
		}
	}
	reply_json(q, 200, arr);
}

/* The x-delayed-message exchange of the path (read permission on it). */
static const struct bexchange *delayed_exchange(struct req *q)
{
	struct vhost *vh = req_vhost(q, q->arg[0]);
	if (!vh)
		return NULL;
	struct actor who = req_actor(q);
	struct op_err e;
	if (op_check(&who, vh, PERM_READ, "exchange", bytes_of(q->arg[1]), &e)) {
		reply_op_error_tern(q, &e);
		return NULL;
	}
	struct bexchange *x = vhost_exchange(vh, bytes_of(q->arg[1]));
	if (!x || strcmp(x->base.type->name, "x-delayed-message")) {
		reply_error(q, 404, "no x-delayed-message exchange '%s' in vhost '%s'", q->arg[1],
			    vh->name);
		return NULL;
	}
	return x;
}

static void on_delayed(void *ctx, uint64_t id, uint64_t due, const struct message *m)
{
	json_t *o = message_json(m, "auto", 2048);
	uint64_t now = wall_ms();
	json_object_set_new(o, "id", json_integer((json_int_t)id));
	json_object_set_new(o, "due", time_json(due));
	json_object_set_new(o, "due_in_ms", json_integer(due > now ? (json_int_t)(due - now) : 0));
	json_array_append_new(ctx, o);
}

void api_tern_delayed(struct req *q)
{
	long offset, count;
	if (!count_param(q, "offset", 0, 1L << 40, &offset) ||
	    !count_param(q, "count", 50, 1000, &count))
		return;
	const struct bexchange *x = delayed_exchange(q);
	if (!x)
		return;
	json_t *arr = json_array();
	long total = delayed_list(x, (size_t)offset, (size_t)count, on_delayed, arr);
	if (total < 0) {
		json_decref(arr);
		reply_error(q, 500, "the store could not be read");
		return;
	}
	reply_json(q, 200, json_pack("{s:I, s:I, s:o}", "total", (json_int_t)total, "offset",
				     (json_int_t)offset, "messages", arr));
}

void api_tern_delayed_cancel(struct req *q)
{
	char *end;
	unsigned long long id = strtoull(q->arg[2], &end, 10);
	if (*end || !id) {
		reply_error(q, 400, "'%s' is not a message id", q->arg[2]);
		return;
	}
	const struct bexchange *x = delayed_exchange(q);
	if (!x)
		return;
	if (delayed_cancel(x, id) < 0)
		reply_error(q, 404, "no delayed message %llu in exchange '%s'", id, q->arg[1]);
	else
		reply_status(q, 204);
}
