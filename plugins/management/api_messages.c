/* api_messages.c — messages through the API, as RabbitMQ's management
 * plugin does them: POST /api/exchanges/{vhost}/{x}/publish ({"routed"})
 * and POST /api/queues/{vhost}/{q}/get (count, ackmode, encoding,
 * truncate), with properties shown and read as RabbitMQ's JSON. Publish
 * goes through basic_publish_api (routing, hooks and counters of
 * basic.publish); get takes entries as basic.get does and acks or
 * returns them through the queue's own calls. */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/core/config.h"
#include "broker/amqp/handlers.h"
#include "broker/model/jtable.h"
#include "broker/queue/message.h"
#include "broker/model/vhost.h"
#include "plugins/management/api.h"
#include "protocol/props.h"
#include "util/xalloc.h"

/* ---- properties ---- */

static const struct {
	const char *name;
	uint16_t flag;
	size_t off; /* of the struct bytes in amqp_props */
} str_props[] = {
	{"content_type", PROP_CONTENT_TYPE, offsetof(struct amqp_props, content_type)},
	{"content_encoding", PROP_CONTENT_ENCODING, offsetof(struct amqp_props, content_encoding)},
	{"correlation_id", PROP_CORRELATION_ID, offsetof(struct amqp_props, correlation_id)},
	{"reply_to", PROP_REPLY_TO, offsetof(struct amqp_props, reply_to)},
	{"expiration", PROP_EXPIRATION, offsetof(struct amqp_props, expiration)},
	{"message_id", PROP_MESSAGE_ID, offsetof(struct amqp_props, message_id)},
	{"type", PROP_TYPE, offsetof(struct amqp_props, type)},
	{"user_id", PROP_USER_ID, offsetof(struct amqp_props, user_id)},
	{"app_id", PROP_APP_ID, offsetof(struct amqp_props, app_id)},
	{"cluster_id", PROP_CLUSTER_ID, offsetof(struct amqp_props, cluster_id)},
};
#define NSTR (sizeof str_props / sizeof str_props[0])

json_t *props_json(struct bytes raw)
{
	json_t *o = json_object();
	struct amqp_props p;
	if (props_decode(raw.p, raw.len, &p) != 0)
		return o;
	for (size_t i = 0; i < NSTR; i++) {
		if (!(p.flags & str_props[i].flag))
			continue;
		const struct bytes *b = (const void *)((const char *)&p + str_props[i].off);
		json_object_set_new(o, str_props[i].name,
				    json_stringn_nocheck((const char *)b->p, b->len));
	}
	if (p.flags & PROP_HEADERS)
		json_object_set_new(o, "headers", jtable_to_json(p.headers));
	if (p.flags & PROP_DELIVERY_MODE)
		json_object_set_new(o, "delivery_mode", json_integer(p.delivery_mode));
	if (p.flags & PROP_PRIORITY)
		json_object_set_new(o, "priority", json_integer(p.priority));
	if (p.flags & PROP_TIMESTAMP)
		json_object_set_new(o, "timestamp", json_integer((json_int_t)p.timestamp));
	return o;
}

/* RabbitMQ's publish properties into raw property bytes (w); -1 with
 * RabbitMQ's reason in *why (["not_int", "delivery_mode"]) otherwise. */
static int props_from_json(const json_t *o, struct wbuf *w, struct bytes *headers, json_t **why)
{
	struct amqp_props p = {0};
	*headers = (struct bytes){0};
	if (o && !json_is_object(o)) {
		*why = json_sprintf("properties: expected an object");
		return -1;
	}
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)o, key, v)
	{
		size_t i;
		for (i = 0; i < NSTR && strcmp(key, str_props[i].name); i++)
			;
		if (i < NSTR) {
			if (!json_is_string(v) || json_string_length(v) > 255) {
				*why = json_sprintf("properties: %s: expected a short string", key);
				return -1;
			}
			struct bytes *b = (void *)((char *)&p + str_props[i].off);
			*b = (struct bytes){(const uint8_t *)json_string_value(v),
					    (uint32_t)json_string_length(v)};
			p.flags |= str_props[i].flag;
		} else if (!strcmp(key, "delivery_mode") || !strcmp(key, "priority")) {
			json_int_t n = json_integer_value(v);
			if (!json_is_integer(v) || n < 0 || n > 255) {
				*why = json_pack("[s, s]", "not_int", key);
				return -1;
			}
			if (key[0] == 'd')
				p.delivery_mode = (uint8_t)n, p.flags |= PROP_DELIVERY_MODE;
			else
				p.priority = (uint8_t)n, p.flags |= PROP_PRIORITY;
		} else if (!strcmp(key, "timestamp")) {
			if (!json_is_integer(v) || json_integer_value(v) < 0) {
				*why = json_sprintf("properties: timestamp: expected an integer");
				return -1;
			}
			p.timestamp = (uint64_t)json_integer_value(v);
			p.flags |= PROP_TIMESTAMP;
		} else if (!strcmp(key, "headers")) {
			char bad[256];
			if (jtable_from_json(v, headers, bad, sizeof bad) < 0) {
				*why = json_sprintf("properties: headers: %s", bad);
				return -1;
			}
			p.headers = *headers;
			p.flags |= PROP_HEADERS;
		} /* RabbitMQ ignores properties it does not know */
	}
	props_encode(w, &p);
	return 0;
}

/* ---- payloads ---- */

static bool utf8_ok(const uint8_t *s, size_t n)
{
	json_t *t = json_stringn(n ? (const char *)s : "", n);
	json_decref(t);
	return t != NULL;
}

json_t *message_json(const struct message *m, const char *encoding, long truncate)
{
	const uint8_t *body = message_body(m);
	size_t n = m->body_size, shown = truncate >= 0 && (size_t)truncate < n ? (size_t)truncate : n;
	json_t *o = json_object();
	json_object_set_new(o, "payload_bytes", json_integer((json_int_t)n));
	json_object_set_new(o, "exchange", json_stringn_nocheck((const char *)message_exchange(m).p,
							       message_exchange(m).len));
	json_object_set_new(o, "routing_key", json_stringn_nocheck((const char *)message_rkey(m).p,
								  message_rkey(m).len));
	json_t *props = props_json(message_props(m));
	if (!json_object_size(props)) { /* sic: RabbitMQ writes no properties as [] */
		json_decref(props);
		props = json_array();
	}
	json_object_set_new(o, "properties", props);
	if (strcmp(encoding, "base64") && utf8_ok(body, shown)) {
		json_object_set_new(o, "payload", json_stringn(shown ? (const char *)body : "", shown));
		json_object_set_new(o, "payload_encoding", json_string("string"));
	} else {
		char *b64 = xmalloc(4 * ((shown + 2) / 3) + 1);
		EVP_EncodeBlock((unsigned char *)b64, body, (int)shown);
		json_object_set_new(o, "payload", json_string(b64));
		json_object_set_new(o, "payload_encoding", json_string("base64"));
		free(b64);
	}
	return o;
}

/* ---- publish ---- */

/* A publish's AMQP error as RabbitMQ's API shows it: 400 with "CODE
 * NAME - text". */
static void publish_error(struct req *q, const struct op_err *e)
{
	reply_error(q, 400, "%d %s - %s", e->code, amqp_reply_name(e->code), e->text);
}

void api_publish(struct req *q)
{
	struct vhost *vh = req_vhost_put(q, q->arg[0]);
	static const char *const needed[] = {"routing_key", "properties", "payload",
					     "payload_encoding", NULL};
	if (!vh || !body_object(q) || !body_has(q, needed))
		return;
	json_t *rk = json_object_get(q->body, "routing_key");
	json_t *pl = json_object_get(q->body, "payload");
	json_t *encv = json_object_get(q->body, "payload_encoding");
	const char *enc = json_string_value(encv);
	if (!enc || (strcmp(enc, "string") && strcmp(enc, "base64"))) {
		reply_bad_value(q, "unsupported_encoding", json_incref(encv));
		return;
	}
	if (!json_is_string(rk) || json_string_length(rk) > 255 || !json_is_string(pl)) {
		reply_error(q, 400, "routing_key and payload must be strings (routing_key of at "
				    "most 255 bytes)");
		return;
	}
	/* amq.default is how the API names the default exchange. */
	const char *xname = strcmp(q->arg[1], "amq.default") ? q->arg[1] : "";
	struct actor who = req_actor(q);
	struct op_err e;
	struct bexchange *x;
	if (op_check(&who, vh, PERM_WRITE, "exchange", bytes_of(xname), &e) ||
	    op_publish_target(vh, &who, bytes_of(xname), bytes_of(json_string_value(rk)), &x, &e)) {
		publish_error(q, &e);
		return;
	}
	struct wbuf props = {0};
	struct bytes headers;
	json_t *why = NULL;
	if (props_from_json(json_object_get(q->body, "properties"), &props, &headers, &why) < 0) {
		reply_error_json(q, 400, NULL, why);
		wb_free(&props);
		return;
	}
	const char *payload = json_string_value(pl);
	size_t n = json_string_length(pl);
	uint8_t *raw = NULL;
	if (enc && !strcmp(enc, "base64")) {
		raw = xmalloc(n / 4 * 3 + 3);
		int len = n % 4 ? -1 : EVP_DecodeBlock(raw, (const unsigned char *)payload, (int)n);
		if (len < 0) {
			free(raw);
			free((void *)headers.p);
			wb_free(&props);
			reply_bad_value(q, "not_base64", json_incref(pl));
			return;
		}
		n = (size_t)len - (n && payload[n - 1] == '=') - (n > 1 && payload[n - 2] == '=');
		payload = (const char *)raw;
	}
	if (n > (size_t)cfg.max_message_size) {
		reply_error(q, 413, "message size %zu is larger than max_message_size %lld", n,
			    (long long)cfg.max_message_size);
	} else {
		struct message *m = message_decoded(bytes_of(xname), bytes_of(json_string_value(rk)),
						    (struct bytes){props.p, (uint32_t)props.len},
						    (struct bytes){(const uint8_t *)payload, (uint32_t)n});
		size_t routed = basic_publish_api(vh, x, m);
		message_unref(m);
		reply_json(q, 200, json_pack("{s:b}", "routed", routed > 0));
	}
	free(raw);
	free((void *)headers.p);
	wb_free(&props);
}

/* ---- get ---- */

void api_get(struct req *q)
{
	struct vhost *vh = req_vhost(q, q->arg[0]);
	if (!vh || !body_object(q))
		return;
	static const char *const needed[] = {"count", "ackmode", "encoding", NULL};
	if (!body_has(q, needed))
		return;
	json_int_t count, trunc;
	if (!body_int(q, "count", 0, &count) || !body_int(q, "truncate", -1, &trunc))
		return;
	const char *mode = json_string_value(json_object_get(q->body, "ackmode"));
	const char *enc = json_string_value(json_object_get(q->body, "encoding"));
	bool requeue = mode && (!strcmp(mode, "ack_requeue_true") ||
				!strcmp(mode, "reject_requeue_true"));
	bool reject = mode && !strncmp(mode, "reject_", 7);
	if (!enc || (strcmp(enc, "auto") && strcmp(enc, "base64"))) {
		reply_error(q, 400, "Unsupported encoding. Please use auto or base64.");
		return;
	}
	if (count < 1 || !mode ||
	    (!requeue && strcmp(mode, "ack_requeue_false") && strcmp(mode, "reject_requeue_false"))) {
		reply_error(q, 400, "count (a positive integer) and ackmode (ack_requeue_true, "
				    "ack_requeue_false, reject_requeue_true, reject_requeue_false) are "
				    "needed");
		return;
	}
	struct actor who = req_actor(q);
	struct queue *qu;
	struct op_err e;
	if (op_queue_for_read(vh, &who, bytes_of(q->arg[1]), &qu, &e)) {
		if (e.code == AMQP_NOT_FOUND) /* RabbitMQ shows the AMQP error here */
			reply_error_json(q, 404, "not_found", json_sprintf("NOT_FOUND - %s", e.text));
		else
			reply_op_error(q, &e);
		return;
	}
	json_t *out = json_array();
	if (count > (json_int_t)qu->len)
		count = (json_int_t)qu->len;
	struct qentry *taken = xmalloc(((size_t)count + 1) * sizeof *taken);
	size_t n = 0;
	queue_touch(qu);
	while (n < (size_t)count && queue_pop(qu, &taken[n])) {
		json_t *o = message_json(taken[n].m, enc ? enc : "auto", (long)trunc);
		json_object_set_new(o, "redelivered", json_boolean(taken[n].deliveries > 0));
		json_object_set_new(o, "message_count", json_integer((json_int_t)qu->len));
		json_array_append_new(out, o);
		stat_add_all((struct stats *[]){&qu->stats, &vh->stats, &stats_global, NULL}, ST_GET,
			     1);
		n++;
	}
	/* Requeued ones go back after all were taken, as RabbitMQ's get
	 * takes n messages first (they would otherwise come back at once). */
	for (size_t i = 0; i < n; i++) {
		if (requeue) {
			taken[i].deliveries++;
			queue_return_entry(qu, taken[i]);
		} else if (reject) {
			queue_discard(qu, taken[i], "rejected");
		} else {
			queue_ack_entry(qu, &taken[i]);
		}
	}
	free(taken);
	reply_json(q, 200, out);
}
