/* api_conns.c — /api/connections, /api/channels, /api/consumers in
 * RabbitMQ's shapes; DELETE /api/connections/{name} closes one with 320
 * CONNECTION_FORCED and the X-Reason header's text (conn_close_forced,
 * as when a vhost or user is deleted). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/amqp/channel.h"
#include "broker/model/jtable.h"
#include "broker/net/alarm.h"
#include "broker/net/tls.h"
#include "plugins/management/api.h"

void connection_name(const struct conn *c, char *out, size_t n)
{
	snprintf(out, n, "%s", c->name);
}

json_t *connection_peer_host(const struct conn *c)
{
	const char *colon = strrchr(c->peer, ':');
	return json_stringn(c->peer, colon ? (size_t)(colon - c->peer) : strlen(c->peer));
}

json_t *connection_peer_port(const struct conn *c)
{
	const char *colon = strrchr(c->peer, ':');
	return json_integer(colon ? atoi(colon + 1) : 0);
}

/* "host:port" split at the last colon. */
static json_t *host_of(const char *hostport)
{
	const char *colon = strrchr(hostport, ':');
	return json_stringn(hostport, colon ? (size_t)(colon - hostport) : strlen(hostport));
}

static json_t *port_of(const char *hostport)
{
	const char *colon = strrchr(hostport, ':');
	return json_integer(colon ? atoi(colon + 1) : 0);
}

static int open_channels(const struct conn *c)
{
	int n = 0;
	for (uint32_t i = 0; i < c->nchans; i++)
		n += c->chans[i] != NULL;
	return n;
}

static const char *const tls_fields[] = {"peer_cert_issuer", "peer_cert_subject",
					 "peer_cert_validity", "ssl_cipher", "ssl_hash",
					 "ssl_key_exchange", "ssl_protocol"};

/* RabbitMQ's connection states: blocked / blocking during a resource
 * alarm (alarm.h), flow while flow control holds it, else running. */
static const char *state_name(const struct conn *c)
{
	if (c->state != CONN_OPEN)
		return "closing";
	const char *s = alarm_conn_state(c);
	return s ? s : c->throttle_q ? "flow" : "running";
}

json_t *connection_json(const struct conn *c)
{
	const char *local = strstr(c->name, " -> ");
	local = local ? local + 4 : "";
	json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:i, s:I, s:I, s:i, s:I, s:I, "
			      "s:I, s:I, s:I, s:o}",
			      "name", c->name, "node", node_name(), "type", "network", "protocol",
			      "AMQP 0-9-1", "state", state_name(c),
			      "user", c->user ? c->user : "", "ssl", c->tls != NULL, "channels",
			      open_channels(c), "frame_max", (json_int_t)c->frame_max,
			      "channel_max", (json_int_t)c->channel_max, "timeout",
			      (int)c->heartbeat, "connected_at", (json_int_t)c->connected_wall,
			      "recv_oct", (json_int_t)c->recv_oct, "send_oct",
			      (json_int_t)c->send_oct, "recv_cnt", (json_int_t)c->recv_cnt,
			      "send_cnt", (json_int_t)c->send_cnt, "message_stats",
			      message_stats_json(&c->stats));
	json_object_set_new(o, "vhost", c->vh ? json_string(c->vh->name) : json_null());
	json_object_set_new(o, "peer_host", host_of(c->peer));
	json_object_set_new(o, "peer_port", port_of(c->peer));
	json_object_set_new(o, "host", host_of(local));
	json_object_set_new(o, "port", port_of(local));
	json_object_set_new(o, "auth_mechanism",
			    json_string(c->auth_mechanism ? c->auth_mechanism : "PLAIN"));
	json_object_set_new(o, "client_properties",
			    jtable_to_json((struct bytes){c->client_props, c->client_props_len}));
	json_object_set_new(o, "send_pend", json_integer(0));
	json_object_set_new(o, "recv_oct_details", rate_json(0));
	json_object_set_new(o, "send_oct_details", rate_json(0));
	json_object_set_new(o, "user_who_performed_action", json_string(c->user ? c->user : ""));
	json_t *props = json_object_get(o, "client_properties");
	json_t *given = json_object_get(props, "connection_name");
	json_object_set_new(o, "user_provided_name",
			    json_is_string(given) ? json_incref(given) : json_null());
	/* RabbitMQ's TLS fields: what is not there (plaintext, no client
	 * certificate) is null in lists and "" for one connection
	 * (one_connection_json). */
	struct tls_info ti = {0};
	if (c->tls)
		tls_conn_info(c, &ti);
	const char *vals[] = {ti.issuer, ti.subject, ti.validity, ti.cipher, ti.hash,
			      ti.key_exchange, ti.protocol};
	for (size_t i = 0; i < sizeof tls_fields / sizeof tls_fields[0]; i++)
		json_object_set_new(o, tls_fields[i], *vals[i] ? json_string(vals[i]) : json_null());
	return o;
}

static json_t *one_connection_json(const struct conn *c)
{
	json_t *o = connection_json(c);
	for (size_t i = 0; i < sizeof tls_fields / sizeof tls_fields[0]; i++)
		if (json_is_null(json_object_get(o, tls_fields[i])))
			json_object_set_new(o, tls_fields[i], json_string(""));
	return o;
}

/* Connections the user may see: its own, or all for monitoring users. */
static bool visible(struct req *q, const struct conn *c)
{
	return c->state == CONN_OPEN &&
	       (user_is(q->user, NEED_MONITORING) || (c->user && !strcmp(c->user, q->user->name)));
}

void api_connections(struct req *q)
{
	if (q->narg && !req_vhost(q, q->arg[0]))
		return;
	json_t *arr = json_array();
	for (struct conn *c = conn_list; c; c = c->next)
		if (visible(q, c) && (!q->narg || !strcmp(c->vh->name, q->arg[0])))
			json_array_append_new(arr, connection_json(c));
	reply_list(q, arr);
}

static struct conn *find(struct req *q)
{
	for (struct conn *c = conn_list; c; c = c->next)
		if (visible(q, c) && !strcmp(c->name, q->arg[0]))
			return c;
	reply_not_found(q);
	return NULL;
}

void api_connection(struct req *q)
{
	struct conn *c = find(q);
	if (c)
		reply_object(q, one_connection_json(c));
}

void api_connection_delete(struct req *q)
{
	struct conn *c = find(q);
	if (!c)
		return;
	const char *why = evhttp_find_header(evhttp_request_get_input_headers(q->r), "X-Reason");
	conn_close_forced(c, why && *why ? why : "Closed via management plugin");
	reply_status(q, 204);
}

static json_t *channel_json(const struct channel *ch)
{
	const struct conn *c = ch->c;
	char name[200];
	snprintf(name, sizeof name, "%s (%u)", c->name, ch->id);
	json_t *o = json_pack("{s:s, s:s, s:i, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:b, s:b, "
			      "s:{s:s, s:o, s:o}}",
			      "name", name, "node", node_name(), "number", (int)ch->id, "user",
			      c->user ? c->user : "", "vhost", c->vh ? c->vh->name : "", "state",
			      ch->state == CH_OPEN ? "running" : "closing", "consumer_count",
			      (json_int_t)ch->consumers.n, "messages_unacknowledged",
			      (json_int_t)ch->unacked_n, "messages_unconfirmed",
			      (json_int_t)(ch->pub_seq - ch->confirm_sent), "prefetch_count",
			      (json_int_t)ch->prefetch_consumer, "global_prefetch_count",
			      (json_int_t)ch->prefetch_global, "confirm", ch->confirm,
			      "transactional", ch->tx, "connection_details", "name", c->name,
			      "peer_host", host_of(c->peer), "peer_port", port_of(c->peer));
	size_t uncommitted = 0, acks = 0;
	for (size_t i = 0; i < ch->ntx; i++) {
		if (ch->txops[i].kind == TX_PUBLISH)
			uncommitted++;
		else
			acks++;
	}
	json_object_set_new(o, "messages_uncommitted", json_integer((json_int_t)uncommitted));
	json_object_set_new(o, "acks_uncommitted", json_integer((json_int_t)acks));
	json_object_set_new(o, "message_stats", message_stats_json(&ch->stats));
	return o;
}

/* The channel's consumers, as the queue object gives them. */
static json_t *channel_consumers(const struct channel *ch)
{
	json_t *arr = json_array();
	void *v;
	for (size_t i = 0; strmap_next(&ch->consumers, &i, &v);) {
		const struct consumer *cons = v;
		json_t *all = consumers_json(cons->q), *o;
		size_t j;
		json_array_foreach(all, j, o)
		{
			const char *tag = json_string_value(json_object_get(o, "consumer_tag"));
			if (strlen(tag) == cons->tag_len && !memcmp(tag, cons->tag, cons->tag_len))
				json_array_append(arr, o);
		}
		json_decref(all);
	}
	return arr;
}

void api_channel(struct req *q)
{
	for (struct conn *c = conn_list; c; c = c->next) {
		if (!visible(q, c))
			continue;
		for (uint32_t i = 0; i < c->nchans; i++) {
			char name[200];
			if (!c->chans[i])
				continue;
			snprintf(name, sizeof name, "%s (%u)", c->name, c->chans[i]->id);
			if (strcmp(name, q->arg[0]))
				continue;
			json_t *o = channel_json(c->chans[i]);
			json_object_set_new(o, "consumer_details", channel_consumers(c->chans[i]));
			json_object_set_new(o, "deliveries", json_array());
			json_object_set_new(o, "publishes", json_array());
			reply_object(q, o);
			return;
		}
	}
	reply_not_found(q);
}

void api_channels(struct req *q)
{
	if (q->narg && !req_vhost(q, q->arg[0]))
		return;
	json_t *arr = json_array();
	for (struct conn *c = conn_list; c; c = c->next) {
		if (!visible(q, c) || (q->narg && strcmp(c->vh->name, q->arg[0])))
			continue;
		for (uint32_t i = 0; i < c->nchans; i++)
			if (c->chans[i])
				json_array_append_new(arr, channel_json(c->chans[i]));
	}
	reply_list(q, arr);
}

void api_connection_channels(struct req *q)
{
	struct conn *c = find(q);
	if (!c)
		return;
	json_t *arr = json_array();
	for (uint32_t i = 0; i < c->nchans; i++)
		if (c->chans[i])
			json_array_append_new(arr, channel_json(c->chans[i]));
	reply_list(q, arr);
}

void api_consumers(struct req *q)
{
	struct vhost *only = NULL;
	if (q->narg && !(only = req_vhost(q, q->arg[0])))
		return;
	json_t *arr = json_array();
	struct vhost *vh;
	for (size_t i = 0; (vh = list_vhost(q, only, &i));) {
		void *v;
		for (size_t j = 0; strmap_next(&vh->queues, &j, &v);) {
			json_t *c = consumers_json(v);
			json_array_extend(arr, c);
			json_decref(c);
		}
	}
	reply_list(q, arr);
}
