/* stats.h — message counters for the management API and metrics: a few
 * increments on the hot path, and a timer that samples them every
 * STATS_PERIOD_MS into rates (the difference of two samples). Never a
 * scan per message.
 *
 * Who has one: each queue, exchange, vhost and connection, and the
 * broker as a whole (stats_global); the owner embeds it. */
#ifndef TERN_BROKER_STATS_H
#define TERN_BROKER_STATS_H

#include <stdint.h>

#define STATS_PERIOD_MS 5000

/* RabbitMQ's message_stats names (see stats.c). */
enum stat_kind {
	ST_PUBLISH,       /* messages in (queue: pushed; exchange: publish_in) */
	ST_PUBLISH_OUT,   /* exchange: routed on to queues */
	ST_DELIVER,       /* basic.deliver, manual ack */
	ST_DELIVER_NOACK, /* basic.deliver, no-ack */
	ST_GET,           /* basic.get-ok, manual ack */
	ST_GET_NOACK,     /* basic.get-ok, no-ack */
	ST_GET_EMPTY,     /* basic.get-empty */
	ST_ACK,
	ST_REDELIVER,     /* deliveries with redelivered set */
	ST_CONFIRM,       /* publisher confirms sent */
	ST_RETURN,        /* basic.return (unroutable) */
	ST_DROP_UNROUTABLE, /* published, routed nowhere, not mandatory */
	ST_N
};

struct stats {
	uint64_t n[ST_N];
	uint64_t prev[ST_N]; /* at the last sample */
	float rate[ST_N];    /* per second, over the last period */
};

extern struct stats stats_global;
extern const char *const stat_names[ST_N];

static inline void stat_add(struct stats *s, enum stat_kind k, uint64_t d)
{
	s->n[k] += d;
}

/* Turns the counts since the last sample into rates (dt: ms elapsed). */
void stats_sample(struct stats *s, uint64_t dt_ms);

/* Samples every queue, exchange, vhost and connection and the global
 * block (the management plugin's timer calls it). */
void stats_sample_all(uint64_t dt_ms);

#endif
