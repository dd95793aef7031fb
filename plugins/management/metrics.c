/* metrics.c — Prometheus metrics in the text exposition format 0.0.4,
 * under the names of RabbitMQ's rabbitmq_prometheus plugin (its core,
 * global-counter and alarm collectors, without the Erlang VM's), plus
 * Tern's own tern_* families. GET /metrics sums the per-object series into
 * one sample each; GET /metrics/per-object labels them (vhost and queue,
 * vhost and exchange, channel). Served without login, as RabbitMQ serves
 * them, on the management listener and on prometheus.tcp.port.
 *
 * Design notes. The text goes straight into an evbuffer from the live
 * structures: the broker is single-threaded, so one scrape sees one
 * state, and nothing here runs per message (the hot path only bumps the
 * counters of broker/core/stats.h). The format wants a family's samples
 * together, so each per-object family walks its objects once. */
#include <dirent.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "broker/amqp/channel.h"
#include "broker/core/config.h"
#include "broker/core/log.h"
#include "broker/net/alarm.h"
#include "broker/queue/queue.h"
#include "broker/queue/message.h"
#include "broker/queue/persist.h"
#include "broker/net/server.h"
#include "plugins/management/api.h"

#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define AMQP091 "protocol=\"amqp091\""
/* Tern's queues are all RabbitMQ's classic kind. */
#define CLASSIC AMQP091 ",queue_type=\"rabbit_classic_queue\""

static struct evhttp *prom; /* the prometheus.tcp.port listener */

/* ---- the exposition format ---- */

static void family(struct evbuffer *b, const char *name, const char *type, const char *help)
{
	evbuffer_add_printf(b, "# TYPE %s %s\n# HELP %s %s\n", name, type, name, help);
}

/* One sample; labels is preformatted text (key="value",...) or NULL. */
static void sample(struct evbuffer *b, const char *name, const char *labels, uint64_t v)
{
	if (labels)
		evbuffer_add_printf(b, "%s{%s} %llu\n", name, labels, (unsigned long long)v);
	else
		evbuffer_add_printf(b, "%s %llu\n", name, (unsigned long long)v);
}

/* A family of one sample. */
static void one(struct evbuffer *b, const char *name, const char *type, const char *help,
		const char *labels, uint64_t v)
{
	family(b, name, type, help);
	sample(b, name, labels, v);
}

/* The length of the UTF-8 sequence at p (shortest form, no surrogates),
 * or 0 when the bytes there are not one. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
	if (p[0] < 0x80)
		return 1;
	size_t len = p[0] >= 0xC2 && p[0] <= 0xDF   ? 2
		     : p[0] >= 0xE0 && p[0] <= 0xEF ? 3
		     : p[0] >= 0xF0 && p[0] <= 0xF4 ? 4
						    : 0;
	if (!len || len > n)
		return 0;
	unsigned lo = 0x80, hi = 0xBF; /* the second byte's range */
	if (p[0] == 0xE0)
		lo = 0xA0;
	else if (p[0] == 0xED)
		hi = 0x9F;
	else if (p[0] == 0xF0)
		lo = 0x90;
	else if (p[0] == 0xF4)
		hi = 0x8F;
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if ((p[i] & 0xC0) != 0x80)
			return 0;
	return len;
}

/* A label value as the format has it: backslash, double quote and
 * newline escaped. AMQP names are any bytes and the format wants UTF-8,
 * so a byte that starts no UTF-8 sequence becomes U+FFFD. */
static void put_value(struct evbuffer *b, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s, *run = p, *end = p + n;
	while (p < end) {
		size_t k = utf8_seq(p, (size_t)(end - p));
		const char *esc = *p == '\\'   ? "\\\\"
				  : *p == '"'  ? "\\\""
				  : *p == '\n' ? "\\n"
				  : !k         ? "\xEF\xBF\xBD"
					       : NULL;
		if (!esc) {
			p += k;
			continue;
		}
		evbuffer_add(b, run, (size_t)(p - run));
		evbuffer_add(b, esc, strlen(esc));
		p += k ? k : 1;
		run = p;
	}
	evbuffer_add(b, run, (size_t)(p - run));
}

static void put_label(struct evbuffer *b, bool first, const char *key, const char *v, size_t n)
{
	evbuffer_add_printf(b, "%s%s=\"", first ? "{" : ",", key);
	put_value(b, v, n);
	evbuffer_add(b, "\"", 1);
}

/* ---- objects: queues, exchanges, channels, connections ---- */

enum obj { OBJ_QUEUE, OBJ_EXCHANGE, OBJ_CHANNEL, OBJ_CONN };

/* What a per-object family reads; V_STAT + k is the stats counter k. */
enum {
	V_READY,
	V_UNACKED,
	V_MESSAGES,
	V_READY_BYTES,
	V_CONSUMERS,
	V_CH_CONSUMERS,
	V_CH_UNACKED,
	V_CH_UNCONFIRMED,
	V_CH_UNCOMMITTED,
	V_CH_ACKS_UNCOMMITTED,
	V_CH_PREFETCH,
	V_CH_GLOBAL_PREFETCH,
	V_CONN_RECV_OCT,
	V_CONN_SEND_OCT,
	V_CONN_RECV_CNT,
	V_CONN_SEND_CNT,
	V_CONN_CHANNELS,
	V_STAT,
};

struct ofam {
	enum obj obj;
	const char *name, *type, *help;
	int what;
};

/* RabbitMQ's names and help texts. RabbitMQ keeps the delivery counters
 * per channel and queue (labels channel, vhost, queue) and publishes per
 * channel and exchange (channel, vhost, exchange); Tern counts them per
 * queue and per exchange, so those series carry vhost and queue, or vhost
 * and exchange. Connection series are labelled `channel`, as RabbitMQ
 * labels them (with the connection's process id there). */
static const struct ofam ofams[] = {
	{OBJ_QUEUE, "rabbitmq_queue_messages_ready", "gauge",
	 "Messages ready to be delivered to consumers", V_READY},
	{OBJ_QUEUE, "rabbitmq_queue_messages_unacked", "gauge",
	 "Messages delivered to consumers but not yet acknowledged", V_UNACKED},
	{OBJ_QUEUE, "rabbitmq_queue_messages", "gauge",
	 "Sum of ready and unacknowledged messages - total queue depth", V_MESSAGES},
	{OBJ_QUEUE, "rabbitmq_queue_messages_ready_bytes", "gauge",
	 "Size in bytes of ready messages", V_READY_BYTES},
	{OBJ_QUEUE, "rabbitmq_queue_consumers", "gauge", "Consumers on a queue", V_CONSUMERS},
	{OBJ_QUEUE, "rabbitmq_queue_messages_published_total", "counter",
	 "Total number of messages published to queues", V_STAT + ST_PUBLISH},
	{OBJ_QUEUE, "rabbitmq_channel_get_ack_total", "counter",
	 "Total number of messages fetched with basic.get in manual acknowledgement mode",
	 V_STAT + ST_GET},
	{OBJ_QUEUE, "rabbitmq_channel_get_total", "counter",
	 "Total number of messages fetched with basic.get in automatic acknowledgement mode",
	 V_STAT + ST_GET_NOACK},
	{OBJ_QUEUE, "rabbitmq_channel_messages_delivered_ack_total", "counter",
	 "Total number of messages delivered to consumers in manual acknowledgement mode",
	 V_STAT + ST_DELIVER},
	{OBJ_QUEUE, "rabbitmq_channel_messages_delivered_total", "counter",
	 "Total number of messages delivered to consumers in automatic acknowledgement mode",
	 V_STAT + ST_DELIVER_NOACK},
	{OBJ_QUEUE, "rabbitmq_channel_messages_redelivered_total", "counter",
	 "Total number of messages redelivered to consumers", V_STAT + ST_REDELIVER},
	{OBJ_QUEUE, "rabbitmq_channel_messages_acked_total", "counter",
	 "Total number of messages acknowledged by consumers", V_STAT + ST_ACK},
	{OBJ_QUEUE, "rabbitmq_channel_get_empty_total", "counter",
	 "Total number of times basic.get operations fetched no message", V_STAT + ST_GET_EMPTY},
	{OBJ_EXCHANGE, "rabbitmq_channel_messages_published_total", "counter",
	 "Total number of messages published into an exchange on a channel", V_STAT + ST_PUBLISH},
	{OBJ_CHANNEL, "rabbitmq_channel_consumers", "gauge", "Consumers on a channel",
	 V_CH_CONSUMERS},
	{OBJ_CHANNEL, "rabbitmq_channel_messages_unacked", "gauge",
	 "Delivered but not yet acknowledged messages", V_CH_UNACKED},
	{OBJ_CHANNEL, "rabbitmq_channel_messages_unconfirmed", "gauge",
	 "Published but not yet confirmed messages", V_CH_UNCONFIRMED},
	{OBJ_CHANNEL, "rabbitmq_channel_messages_uncommitted", "gauge",
	 "Messages received in a transaction but not yet committed", V_CH_UNCOMMITTED},
	{OBJ_CHANNEL, "rabbitmq_channel_acks_uncommitted", "gauge",
	 "Message acknowledgements in a transaction not yet committed", V_CH_ACKS_UNCOMMITTED},
	{OBJ_CHANNEL, "rabbitmq_consumer_prefetch", "gauge",
	 "Limit of unacknowledged messages for each consumer", V_CH_PREFETCH},
	{OBJ_CHANNEL, "rabbitmq_channel_prefetch", "gauge",
	 "Total limit of unacknowledged messages for all consumers on a channel",
	 V_CH_GLOBAL_PREFETCH},
	{OBJ_CONN, "rabbitmq_connection_incoming_bytes_total", "counter",
	 "Total number of bytes received on a connection", V_CONN_RECV_OCT},
	{OBJ_CONN, "rabbitmq_connection_outgoing_bytes_total", "counter",
	 "Total number of bytes sent on a connection", V_CONN_SEND_OCT},
	{OBJ_CONN, "rabbitmq_connection_incoming_packets_total", "counter",
	 "Total number of packets received on a connection", V_CONN_RECV_CNT},
	{OBJ_CONN, "rabbitmq_connection_outgoing_packets_total", "counter",
	 "Total number of packets sent on a connection", V_CONN_SEND_CNT},
	{OBJ_CONN, "rabbitmq_connection_channels", "gauge", "Channels on a connection",
	 V_CONN_CHANNELS},
};

static uint64_t open_channels(const struct conn *c)
{
	uint64_t n = 0;
	for (uint32_t i = 0; i < c->nchans; i++)
		n += c->chans[i] != NULL;
	return n;
}

static uint64_t tx_ops(const struct channel *ch, int kind)
{
	uint64_t n = 0;
	for (size_t i = 0; i < ch->ntx; i++)
		n += (int)ch->txops[i].kind == kind;
	return n;
}

static uint64_t value(enum obj k, const void *o, int what)
{
	const struct queue *q = o;
	const struct bexchange *x = o;
	const struct channel *ch = o;
	const struct conn *c = o;
	if (what >= V_STAT)
		return k == OBJ_QUEUE ? q->stats.n[what - V_STAT] : x->stats.n[what - V_STAT];
	switch (what) {
	case V_READY: return q->len;
	case V_UNACKED: return q->unacked;
	case V_MESSAGES: return q->len + q->unacked;
	case V_READY_BYTES: return q->ready_bytes;
	case V_CONSUMERS: return q->ncons;
	case V_CH_CONSUMERS: return ch->consumers.n;
	case V_CH_UNACKED: return ch->unacked_n;
	case V_CH_UNCONFIRMED:
		return ch->confirm && ch->pub_seq > ch->confirm_sent
			       ? ch->pub_seq - ch->confirm_sent
			       : 0;
	case V_CH_UNCOMMITTED: return tx_ops(ch, TX_PUBLISH);
	case V_CH_ACKS_UNCOMMITTED: return tx_ops(ch, TX_ACK);
	case V_CH_PREFETCH: return ch->prefetch_consumer;
	case V_CH_GLOBAL_PREFETCH: return ch->prefetch_global;
	case V_CONN_RECV_OCT: return c->recv_oct;
	case V_CONN_SEND_OCT: return c->send_oct;
	case V_CONN_RECV_CNT: return c->recv_cnt;
	case V_CONN_SEND_CNT: return c->send_cnt;
	case V_CONN_CHANNELS: return open_channels(c);
	}
	return 0;
}

static void put_labels(struct evbuffer *b, enum obj k, const void *o)
{
	char name[200];
	switch (k) {
	case OBJ_QUEUE: {
		const struct queue *q = o;
		put_label(b, true, "vhost", q->vh->name, strlen(q->vh->name));
		put_label(b, false, "queue", q->name, q->name_len);
		break;
	}
	case OBJ_EXCHANGE: {
		const struct bexchange *x = o;
		put_label(b, true, "vhost", x->vh->name, strlen(x->vh->name));
		put_label(b, false, "exchange", x->base.name, x->name_len);
		break;
	}
	case OBJ_CHANNEL: {
		const struct channel *ch = o;
		snprintf(name, sizeof name, "%s (%u)", ch->c->name, ch->id); /* as /api/channels */
		put_label(b, true, "channel", name, strlen(name));
		break;
	}
	case OBJ_CONN: {
		const struct conn *c = o;
		put_label(b, true, "channel", c->name, strlen(c->name));
		break;
	}
	}
	evbuffer_add(b, "}", 1);
}

/* A connection is an object from connection.open-ok until it is freed
 * (RabbitMQ's connection_created); its channels with it. */
static bool conn_listed(const struct conn *c)
{
	return c->counted;
}

/* Calls fn for every object of kind k. */
static void each(enum obj k, void (*fn)(void *ctx, enum obj k, const void *o), void *ctx)
{
	if (k == OBJ_QUEUE || k == OBJ_EXCHANGE) {
		struct vhost *vh;
		for (size_t i = 0; (vh = vhost_next(&i));) {
			const struct strmap *m = k == OBJ_QUEUE ? &vh->queues : &vh->exchanges;
			void *v;
			for (size_t j = 0; strmap_next(m, &j, &v);)
				fn(ctx, k, v);
		}
		return;
	}
	for (const struct conn *c = conn_list; c; c = c->next) {
		if (!conn_listed(c))
			continue;
		if (k == OBJ_CONN)
			fn(ctx, k, c);
		else
			for (uint32_t i = 0; i < c->nchans; i++)
				if (c->chans[i])
					fn(ctx, k, c->chans[i]);
	}
}

struct walk {
	struct evbuffer *b;
	const struct ofam *f;
	uint64_t sum;
};

static void add_up(void *ctx, enum obj k, const void *o)
{
	struct walk *w = ctx;
	w->sum += value(k, o, w->f->what);
}

static void write_one(void *ctx, enum obj k, const void *o)
{
	struct walk *w = ctx;
	evbuffer_add(w->b, w->f->name, strlen(w->f->name));
	put_labels(w->b, k, o);
	evbuffer_add_printf(w->b, " %llu\n", (unsigned long long)value(k, o, w->f->what));
}

static void object_families(struct evbuffer *b, bool per_object)
{
	for (size_t i = 0; i < sizeof ofams / sizeof ofams[0]; i++) {
		struct walk w = {b, &ofams[i], 0};
		family(b, w.f->name, w.f->type, w.f->help);
		each(w.f->obj, per_object ? write_one : add_up, &w);
		if (!per_object)
			sample(b, w.f->name, NULL, w.sum);
	}
}

/* ---- totals, churn and the global counters ---- */

struct totals {
	uint64_t conns, chans, publishers, queues, consumers;
};

static struct totals count_totals(void)
{
	struct totals t = {0};
	for (const struct conn *c = conn_list; c; c = c->next) {
		if (!conn_listed(c))
			continue;
		t.conns++;
		for (uint32_t i = 0; i < c->nchans; i++) {
			t.chans += c->chans[i] != NULL;
			/* A channel publishes once it passed a publish's write
			 * check (RabbitMQ counts channels that published). */
			t.publishers += c->chans[i] && c->chans[i]->wperm_ok;
		}
	}
	struct vhost *vh;
	for (size_t i = 0; (vh = vhost_next(&i));) {
		t.queues += vh->queues.n;
		void *v;
		for (size_t j = 0; strmap_next(&vh->queues, &j, &v);)
			t.consumers += ((const struct queue *)v)->ncons;
	}
	return t;
}

static void global_families(struct evbuffer *b)
{
	struct totals t = count_totals();
	const uint64_t *n = stats_global.n;
	one(b, "rabbitmq_connections", "gauge", "Connections currently open", NULL, t.conns);
	one(b, "rabbitmq_connections_opened_total", "counter", "Total number of connections opened",
	    NULL, stats_churn.conns_opened);
	one(b, "rabbitmq_connections_closed_total", "counter",
	    "Total number of connections closed or terminated", NULL, stats_churn.conns_closed);
	one(b, "rabbitmq_channels", "gauge", "Channels currently open", NULL, t.chans);
	one(b, "rabbitmq_channels_opened_total", "counter", "Total number of channels opened", NULL,
	    stats_churn.chans_opened);
	one(b, "rabbitmq_channels_closed_total", "counter", "Total number of channels closed", NULL,
	    stats_churn.chans_closed);
	one(b, "rabbitmq_queues", "gauge", "Queues available", NULL, t.queues);
	one(b, "rabbitmq_queues_declared_total", "counter", "Total number of queues declared", NULL,
	    stats_churn.queues_declared);
	one(b, "rabbitmq_queues_created_total", "counter", "Total number of queues created", NULL,
	    stats_churn.queues_created);
	one(b, "rabbitmq_queues_deleted_total", "counter", "Total number of queues deleted", NULL,
	    stats_churn.queues_deleted);
	one(b, "rabbitmq_consumers", "gauge", "Consumers currently connected", NULL, t.consumers);

	/* rabbit_global_counters: per protocol, and per protocol and queue type. */
	one(b, "rabbitmq_global_messages_received_total", "counter",
	    "Total number of messages received from publishers", AMQP091, n[ST_PUBLISH]);
	uint64_t unroutable = n[ST_RETURN] + n[ST_DROP_UNROUTABLE];
	one(b, "rabbitmq_global_messages_routed_total", "counter",
	    "Total number of messages routed to queues or streams", AMQP091,
	    n[ST_PUBLISH] > unroutable ? n[ST_PUBLISH] - unroutable : 0);
	one(b, "rabbitmq_global_messages_unroutable_dropped_total", "counter",
	    "Total number of messages published as non-mandatory into an exchange and dropped as "
	    "unroutable",
	    AMQP091, n[ST_DROP_UNROUTABLE]);
	one(b, "rabbitmq_global_messages_unroutable_returned_total", "counter",
	    "Total number of messages published as mandatory into an exchange and returned to the "
	    "publisher as unroutable",
	    AMQP091, n[ST_RETURN]);
	one(b, "rabbitmq_global_messages_confirmed_total", "counter",
	    "Total number of messages confirmed to publishers", AMQP091, n[ST_CONFIRM]);
	one(b, "rabbitmq_global_publishers", "gauge", "Current number of publishers", AMQP091,
	    t.publishers);
	one(b, "rabbitmq_global_consumers", "gauge", "Current number of consumers", AMQP091,
	    t.consumers);
	one(b, "rabbitmq_global_messages_delivered_total", "counter",
	    "Total number of messages delivered to consumers", CLASSIC,
	    n[ST_DELIVER] + n[ST_DELIVER_NOACK] + n[ST_GET] + n[ST_GET_NOACK]);
	one(b, "rabbitmq_global_messages_delivered_consume_manual_ack_total", "counter",
	    "Total number of messages delivered to consumers using basic.consume with manual "
	    "acknowledgment",
	    CLASSIC, n[ST_DELIVER]);
	one(b, "rabbitmq_global_messages_delivered_consume_auto_ack_total", "counter",
	    "Total number of messages delivered to consumers using basic.consume with automatic "
	    "acknowledgment",
	    CLASSIC, n[ST_DELIVER_NOACK]);
	one(b, "rabbitmq_global_messages_delivered_get_manual_ack_total", "counter",
	    "Total number of messages delivered to consumers using basic.get with manual "
	    "acknowledgment",
	    CLASSIC, n[ST_GET]);
	one(b, "rabbitmq_global_messages_delivered_get_auto_ack_total", "counter",
	    "Total number of messages delivered to consumers using basic.get with automatic "
	    "acknowledgment",
	    CLASSIC, n[ST_GET_NOACK]);
	one(b, "rabbitmq_global_messages_get_empty_total", "counter",
	    "Total number of times basic.get operations fetched no message", CLASSIC,
	    n[ST_GET_EMPTY]);
	one(b, "rabbitmq_global_messages_redelivered_total", "counter",
	    "Total number of messages redelivered to consumers", CLASSIC, n[ST_REDELIVER]);
	one(b, "rabbitmq_global_messages_acknowledged_total", "counter",
	    "Total number of messages acknowledged by consumers", CLASSIC, n[ST_ACK]);
}

/* ---- the process and the node ---- */

static uint64_t open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return 0;
	uint64_t n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n ? n - 1 : 0; /* less the directory's own descriptor */
}

static uint64_t max_fds(void)
{
	struct rlimit rl;
	return getrlimit(RLIMIT_NOFILE, &rl) == 0 ? (uint64_t)rl.rlim_cur : 0;
}

/* RabbitMQ's cluster id is random and stored with the cluster; Tern's is
 * derived from what makes this node itself, its name and its data
 * directory, so it stays the same across restarts (FNV-1a). */
static void cluster_id(char *out, size_t n)
{
	char *dir = realpath(cfg.data_dir, NULL);
	const char *parts[] = {node_name(), dir ? dir : cfg.data_dir};
	uint64_t h = 14695981039346656037ULL;
	for (int i = 0; i < 2; i++)
		for (const unsigned char *p = (const unsigned char *)parts[i]; *p; p++)
			h = (h ^ *p) * 1099511628211ULL;
	free(dir);
	snprintf(out, n, "tern-cluster-id-%016llx", (unsigned long long)h);
}

static void node_families(struct evbuffer *b)
{
	one(b, "rabbitmq_process_open_fds", "gauge", "Open file descriptors", NULL, open_fds());
	one(b, "rabbitmq_process_max_fds", "gauge", "Open file descriptors limit", NULL, max_fds());
	struct alarm_figures a;
	alarm_figures(&a);
	one(b, "rabbitmq_process_resident_memory_bytes", "gauge", "Memory used in bytes", NULL,
	    a.mem_used);
	one(b, "rabbitmq_resident_memory_limit_bytes", "gauge", "Memory high watermark in bytes",
	    NULL, a.mem_limit);
	one(b, "rabbitmq_disk_space_available_bytes", "gauge", "Disk space available in bytes",
	    NULL, a.disk_free);
	one(b, "rabbitmq_disk_space_available_limit_bytes", "gauge",
	    "Free disk space low watermark in bytes", NULL, a.disk_free_limit);
	/* Tern has no descriptor alarm; the disk one includes a failing
	 * store, as /api/nodes says. */
	one(b, "rabbitmq_alarms_file_descriptor_limit", "untyped",
	    "is 1 if file descriptor limit alarm is in effect", NULL, 0);
	one(b, "rabbitmq_alarms_free_disk_space_watermark", "untyped",
	    "is 1 if free disk space watermark alarm is in effect", NULL, a.disk_alarm);
	one(b, "rabbitmq_alarms_memory_used_watermark", "untyped",
	    "is 1 if VM memory watermark alarm is in effect", NULL, a.mem_alarm);

	char id[64];
	cluster_id(id, sizeof id);
	family(b, "rabbitmq_identity_info", "untyped", "RabbitMQ node & cluster identity info");
	evbuffer_add(b, "rabbitmq_identity_info", 22);
	put_label(b, true, "rabbitmq_node", node_name(), strlen(node_name()));
	put_label(b, false, "rabbitmq_cluster", node_name(), strlen(node_name()));
	put_label(b, false, "rabbitmq_cluster_permanent_id", id, strlen(id));
	evbuffer_add(b, "} 1\n", 4);
	one(b, "rabbitmq_build_info", "untyped", "RabbitMQ & Erlang/OTP version info",
	    "rabbitmq_version=\"" RABBITMQ_VERSION "\",prometheus_plugin_version=\"" TERN_VERSION
	    "\",prometheus_client_version=\"" TERN_VERSION "\",product_name=\"Tern\","
	    "product_version=\"" TERN_VERSION "\"",
	    1);
}

/* ---- Tern's own ---- */

static void histogram(struct evbuffer *b, const char *name, const char *help, const struct hist *h)
{
	family(b, name, "histogram", help);
	uint64_t cum = 0;
	for (int i = 0; i < HIST_BUCKETS; i++) {
		cum += h->n[i];
		evbuffer_add_printf(b, "%s_bucket{le=\"%g\"} %llu\n", name,
				    (double)hist_bounds_ns[i] / 1e9, (unsigned long long)cum);
	}
	evbuffer_add_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.9f\n%s_count %llu\n", name,
			    (unsigned long long)h->count, name, (double)h->sum_ns / 1e9, name,
			    (unsigned long long)h->count);
}

static void tern_families(struct evbuffer *b)
{
	one(b, "tern_delayed_messages", "gauge",
	    "Messages waiting in x-delayed-message exchanges for their delay to pass", NULL,
	    persist_delayed_waiting);
	const struct hist *h = &persist_commit_time;
	one(b, "tern_store_commits_total", "counter",
	    "Store transactions committed (group commits)", NULL, h->count);
	family(b, "tern_store_commit_seconds_total", "counter", "Time spent in store commits");
	evbuffer_add_printf(b, "tern_store_commit_seconds_total %.9f\n", (double)h->sum_ns / 1e9);
	histogram(b, "tern_store_commit_duration_seconds", "Duration of one store commit", h);
	one(b, "tern_memory_budget_bytes", "gauge",
	    "Message bodies kept in RAM before durable queues page persistent ones out (the lower "
	    "of memory_budget and the paging ratio of the memory watermark)",
	    NULL, queue_memory_budget());
	one(b, "tern_message_bytes", "gauge", "Bytes of message bodies in RAM", NULL,
	    message_bytes);
}

/* ---- serving ---- */

bool metrics_serve(struct evhttp_request *r, const char *path)
{
	bool per_object = !strcmp(path, "/metrics/per-object");
	if (!per_object && strcmp(path, "/metrics"))
		return false;
	struct evkeyvalq *h = evhttp_request_get_output_headers(r);
	if (!(evhttp_request_get_command(r) & (EVHTTP_REQ_GET | EVHTTP_REQ_HEAD))) {
		evhttp_add_header(h, "Allow", "GET, HEAD");
		evhttp_send_reply(r, 405, "Method Not Allowed", NULL);
		return true;
	}
	struct evbuffer *b = evbuffer_new();
	object_families(b, per_object);
	global_families(b);
	node_families(b);
	tern_families(b);
	evhttp_add_header(h, "Content-Type", CONTENT_TYPE);
	evhttp_add_header(h, "Cache-Control", "no-cache");
	evhttp_send_reply(r, 200, "OK", b);
	evbuffer_free(b);
	return true;
}

static void on_scrape(struct evhttp_request *r, void *arg)
{
	(void)arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(r);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	if (path && metrics_serve(r, path))
		return;
	struct evbuffer *b = evbuffer_new();
	evbuffer_add_printf(b, "Not Found: the metrics are at /metrics and /metrics/per-object\n");
	evhttp_add_header(evhttp_request_get_output_headers(r), "Content-Type",
			  "text/plain; charset=utf-8");
	evhttp_send_reply(r, 404, "Not Found", b);
	evbuffer_free(b);
}

int metrics_listen(void)
{
	if (!cfg.prometheus_port)
		return 0;
	prom = evhttp_new(server_base);
	evhttp_set_max_body_size(prom, 4096); /* scrapes send no body */
	evhttp_set_allowed_methods(prom, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_gencb(prom, on_scrape, NULL);
	if (!evhttp_bind_socket_with_handle(prom, cfg.prometheus_ip,
					    (ev_uint16_t)cfg.prometheus_port)) {
		log_error("prometheus: cannot listen on %s:%lld (prometheus.tcp.port, "
			  "--prometheus-port; 0 turns it off)",
			  cfg.prometheus_ip, (long long)cfg.prometheus_port);
		metrics_close();
		return -1;
	}
	log_info("prometheus: http://%s:%lld/metrics", cfg.prometheus_ip,
		 (long long)cfg.prometheus_port);
	return 0;
}

void metrics_close(void)
{
	if (prom)
		evhttp_free(prom);
	prom = NULL;
}
