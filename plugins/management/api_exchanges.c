/* api_exchanges.c — /api/exchanges... and /api/bindings...: RabbitMQ's
 * exchange and binding objects (the default exchange is "amq.default" in
 * paths, "" in objects), declare, delete, bind and unbind through ops.h.
 * A binding is named by its properties key, RabbitMQ's way: "~" for an
 * empty key without arguments, else the quoted key, plus "~" and a hash
 * of the arguments when it has some. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/model/jtable.h"
#include "exchanges/exchange.h"
#include "plugins/management/api.h"

/* "amq.default" in a path is the default exchange. */
static const char *xname(const char *path_name)
{
	return strcmp(path_name, "amq.default") ? path_name : "";
}

static bool any_stats(const struct stats *st)
{
	for (int k = 0; k < ST_N; k++)
		if (st->n[k])
			return true;
	return false;
}

json_t *exchange_json(const struct bexchange *x)
{
	json_t *o = json_pack("{s:s, s:s, s:s, s:b, s:b, s:b, s:o}", "name", x->base.name, "vhost",
			      x->vh->name, "type", x->base.type->name, "durable", x->durable,
			      "auto_delete", x->auto_delete, "internal", x->internal, "arguments",
			      jtable_to_json(x->args));
	/* RabbitMQ leaves out what has no value yet: message_stats before
	 * the first publish, policy when none applies. */
	if (any_stats(&x->stats))
		json_object_set_new(o, "message_stats", message_stats_json(&x->stats));
	if (x->policy)
		json_object_set_new(o, "policy", json_string(x->policy));
	json_object_set_new(o, "user_who_performed_action",
			    json_string(x->creator ? x->creator : x->builtin ? "rmq-internal" : ""));
	return o;
}

/* RabbitMQ's quote_plus, then '~' as %7E. */
static void quote(const char *s, size_t n, char *out, size_t cap)
{
	size_t o = 0;
	for (size_t i = 0; i < n && o + 4 < cap; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.')
			out[o++] = (char)c;
		else if (c == ' ')
			out[o++] = '+';
		else
			o += (size_t)snprintf(out + o, cap - o, "%%%02X", c);
	}
	out[o] = '\0';
}

static void props_key(const struct binding *b, char *out, size_t cap)
{
	if (b->key_len == 0 && b->args.len == 0) {
		snprintf(out, cap, "~");
		return;
	}
	quote(b->key, b->key_len, out, cap);
	if (b->args.len) {
		uint32_t h = 2166136261u; /* FNV-1a of the encoded arguments */
		for (uint32_t i = 0; i < b->args.len; i++)
			h = (h ^ b->args.p[i]) * 16777619u;
		static const char abc[] =
			"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
		size_t o = strlen(out);
		snprintf(out + o, cap - o, "~%c%c%c%c%c%c", abc[h >> 26], abc[(h >> 20) & 63],
			 abc[(h >> 14) & 63], abc[(h >> 8) & 63], abc[(h >> 2) & 63],
			 abc[(h << 4) & 63]);
	}
}

json_t *binding_json(const struct vhost *vh, const struct binding *b)
{
	const struct bexchange *src = (const struct bexchange *)b->source;
	bool q = b->kind == DEST_QUEUE;
	char key[1024];
	props_key(b, key, sizeof key);
	return json_pack("{s:s, s:s, s:s, s:s, s:s%, s:o, s:s}", "source", src->base.name, "vhost",
			 vh->name, "destination",
			 q ? ((const struct queue *)b->dest)->name
			   : ((const struct bexchange *)b->dest)->base.name,
			 "destination_type", q ? "queue" : "exchange", "routing_key", b->key,
			 (size_t)b->key_len, "arguments", jtable_to_json(b->args), "properties_key",
			 key);
}

void api_exchanges(struct req *q)
{
	struct vhost *only = NULL;
	if (q->narg && !(only = req_vhost(q, q->arg[0])))
		return;
	json_t *arr = json_array();
	struct vhost *vh;
	for (size_t i = 0; (vh = list_vhost(q, only, &i));) {
		void *v;
		for (size_t j = 0; strmap_next(&vh->exchanges, &j, &v);)
			json_array_append_new(arr, exchange_json(v));
	}
	reply_list(q, arr);
}

static struct bexchange *find(struct req *q, struct vhost **vh)
{
	*vh = req_vhost(q, q->arg[0]);
	if (!*vh)
		return NULL;
	struct bexchange *x = vhost_exchange(*vh, bytes_of(xname(q->arg[1])));
	if (!x)
		reply_not_found(q);
	return x;
}

void api_exchange(struct req *q)
{
	struct vhost *vh;
	struct bexchange *x = find(q, &vh);
	if (x) {
		json_t *o = exchange_json(x);
		json_object_set_new(o, "incoming", json_array());
		json_object_set_new(o, "outgoing", json_array());
		reply_object(q, o);
	}
}

void api_exchange_put(struct req *q)
{
	struct vhost *vh = req_vhost_put(q, q->arg[0]);
	if (!vh || !body_object(q))
		return;
	/* RabbitMQ's API defaults: a direct exchange, not durable. */
	json_t *type = json_object_get(q->body, "type");
	const char *bools[] = {"durable", "auto_delete", "internal"};
	bool val[3] = {false, false, false};
	for (int i = 0; i < 3; i++)
		if (!body_bool(q, bools[i], val[i], &val[i]))
			return;
	if (type && !json_is_string(type)) {
		reply_bad_value(q, "not_string", json_incref(type));
		return;
	}
	const char *tname = type ? json_string_value(type) : "direct";
	if (!exchange_type_find(bytes_of(tname))) {
		reply_error(q, 400, "invalid exchange type '%s'", tname);
		return;
	}
	struct exchange_decl d = {.name = bytes_of(q->arg[1]), .type = bytes_of(tname),
				  .durable = val[0], .auto_delete = val[1], .internal = val[2]};
	char why[256];
	if (jtable_from_json(json_object_get(q->body, "arguments"), &d.args, why, sizeof why) < 0) {
		reply_error(q, 400, "arguments: %s", why);
		return;
	}
	bool existed = vhost_exchange(vh, d.name) != NULL;
	struct actor who = req_actor(q);
	struct op_err e;
	if (op_exchange_declare(vh, &who, &d, NULL, &e))
		reply_op_error(q, &e);
	else
		reply_status(q, existed ? 204 : 201);
	free((void *)d.args.p);
}

void api_exchange_delete(struct req *q)
{
	struct vhost *vh;
	if (!find(q, &vh))
		return;
	const char *if_unused = query(q, "if-unused");
	struct actor who = req_actor(q);
	struct op_err e;
	if (op_exchange_delete(vh, &who, bytes_of(xname(q->arg[1])),
			       if_unused && !strcmp(if_unused, "true"), &e))
		reply_op_error(q, &e);
	else
		reply_status(q, 204);
}

/* An exchange's bindings as source (out) or destination (in). A missing
 * exchange has none: 200 [], as RabbitMQ. */
static void exchange_bindings(struct req *q, bool as_source)
{
	struct vhost *vh = req_vhost(q, q->arg[0]);
	if (!vh)
		return;
	struct bexchange *x = vhost_exchange(vh, bytes_of(xname(q->arg[1])));
	size_t n = !x ? 0 : as_source ? x->nout : x->nin;
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, binding_json(vh, as_source ? x->out[i] : x->in[i]));
	reply_list(q, arr);
}

void api_exchange_bindings_source(struct req *q)
{
	exchange_bindings(q, true);
}

void api_exchange_bindings_destination(struct req *q)
{
	exchange_bindings(q, false);
}

/* The default exchange's implicit binding to a queue: RabbitMQ lists it
 * first, keyed by the queue's name. */
json_t *default_binding_json(const struct vhost *vh, const struct queue *qu)
{
	char key[1024];
	struct binding b = {.key = qu->name, .key_len = qu->name_len};
	props_key(&b, key, sizeof key);
	return json_pack("{s:s, s:s, s:s%, s:s, s:s%, s:{}, s:s}", "source", "", "vhost", vh->name,
			 "destination", qu->name, (size_t)qu->name_len, "destination_type",
			 "queue", "routing_key", qu->name, (size_t)qu->name_len, "arguments",
			 "properties_key", key);
}

void api_bindings(struct req *q)
{
	struct vhost *only = NULL;
	if (q->narg && !(only = req_vhost(q, q->arg[0])))
		return;
	json_t *arr = json_array();
	struct vhost *vh;
	for (size_t i = 0; (vh = list_vhost(q, only, &i));) {
		void *v;
		for (size_t j = 0; strmap_next(&vh->queues, &j, &v);)
			json_array_append_new(arr, default_binding_json(vh, v));
		for (size_t j = 0; strmap_next(&vh->exchanges, &j, &v);) {
			struct bexchange *x = v;
			for (size_t k = 0; k < x->nout; k++)
				json_array_append_new(arr, binding_json(vh, x->out[k]));
		}
	}
	reply_list(q, arr);
}

/* /api/bindings/{vhost}/e/{source}/{q|e}/{dest}[/{props}]: the ends. */
struct ends {
	struct vhost *vh;
	struct bexchange *src;
	void *dest;
	enum binding_dest kind;
};

/* The ends a path names; false (with 404 replied unless missing_ok)
 * when the vhost, the source or the destination is missing. */
static bool ends(struct req *q, struct ends *e, bool missing_ok)
{
	e->vh = req_vhost(q, q->arg[0]);
	if (!e->vh)
		return false;
	e->kind = !strcmp(q->arg[2], "q") ? DEST_QUEUE : DEST_EXCHANGE;
	e->src = vhost_exchange(e->vh, bytes_of(xname(q->arg[1])));
	e->dest = e->kind == DEST_QUEUE ? (void *)vhost_queue(e->vh, bytes_of(q->arg[3]))
					: (void *)vhost_exchange(e->vh, bytes_of(q->arg[3]));
	if (strcmp(q->arg[2], "q") && strcmp(q->arg[2], "e")) {
		reply_not_found(q);
		return false;
	}
	if ((!e->src || !e->dest) && !missing_ok) {
		reply_not_found(q);
		return false;
	}
	return true;
}

void api_bindings_between(struct req *q)
{
	/* Between objects that are not there: no bindings (200 []). */
	struct ends e;
	if (!ends(q, &e, true))
		return;
	json_t *arr = json_array();
	for (size_t i = 0; e.src && e.dest && i < e.src->nout; i++)
		if (e.src->out[i]->dest == e.dest)
			json_array_append_new(arr, binding_json(e.vh, e.src->out[i]));
	reply_list(q, arr);
}

void api_binding_create(struct req *q)
{
	struct vhost *vh = req_vhost_put(q, q->arg[0]);
	if (!vh || !body_optional(q))
		return;
	if (strcmp(q->arg[2], "q") && strcmp(q->arg[2], "e")) {
		reply_not_found(q);
		return;
	}
	enum binding_dest kind = !strcmp(q->arg[2], "q") ? DEST_QUEUE : DEST_EXCHANGE;
	json_t *rk = json_object_get(q->body, "routing_key");
	if (rk && (!json_is_string(rk) || json_string_length(rk) > 255)) {
		reply_error(q, 400, "routing_key must be a string of at most 255 octets");
		return;
	}
	struct bytes args;
	char why[256];
	if (jtable_from_json(json_object_get(q->body, "arguments"), &args, why, sizeof why) < 0) {
		reply_error(q, 400, "arguments: %s", why);
		return;
	}
	struct bytes key = bytes_of(rk ? json_string_value(rk) : "");
	struct actor who = req_actor(q);
	struct op_err err;
	/* ops.h checks permissions, then that both ends exist (404 with
	 * RabbitMQ's "no queue 'q' in vhost 'v'"). */
	if (op_bind(vh, &who, kind, bytes_of(xname(q->arg[1])), bytes_of(q->arg[3]), key, args,
		    false, &err)) {
		reply_op_error(q, &err);
	} else {
		/* Relative to the request's URL, as RabbitMQ: "DEST/PROPS". */
		struct binding b = {.key = (char *)key.p, .key_len = key.len, .args = args};
		char pk[1024], loc[2048];
		props_key(&b, pk, sizeof pk);
		char *d = evhttp_uriencode(q->arg[3], -1, 0), *p = evhttp_uriencode(pk, -1, 0);
		snprintf(loc, sizeof loc, "%s/%s", d, p);
		free(d), free(p);
		evhttp_add_header(evhttp_request_get_output_headers(q->r), "Location", loc);
		reply_status(q, 201);
	}
	free((void *)args.p);
}

static struct binding *named(struct req *q, struct ends *e)
{
	if (!ends(q, e, false))
		return NULL;
	for (size_t i = 0; i < e->src->nout; i++) {
		struct binding *b = e->src->out[i];
		char pk[1024];
		props_key(b, pk, sizeof pk);
		if (b->dest == e->dest && !strcmp(pk, q->arg[4]))
			return b;
	}
	reply_not_found(q);
	return NULL;
}

void api_binding(struct req *q)
{
	struct ends e;
	struct binding *b = named(q, &e);
	if (b)
		reply_object(q, binding_json(e.vh, b));
}

void api_binding_delete(struct req *q)
{
	struct ends e;
	struct binding *b = named(q, &e);
	if (!b)
		return;
	struct actor who = req_actor(q);
	struct op_err err;
	struct bytes key = {(const uint8_t *)b->key, b->key_len}, args = b->args;
	if (op_bind(e.vh, &who, e.kind, bytes_of(xname(q->arg[1])), bytes_of(q->arg[3]), key, args,
		    true, &err))
		reply_op_error(q, &err);
	else
		reply_status(q, 204);
}
