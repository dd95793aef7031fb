/* stats.h — message counters for the management API and metrics: a few
 * increments on the hot path, and sampling every STATS_PERIOD_MS into
 * rates (the difference of two samples). Never a scan per message, and
 * never all blocks at once: each block is sampled on its own schedule
 * (queues and exchanges a share per step of the management plugin's
 * timer, connections and channels when conn.c looks at them), with its
 * own elapsed time, so 10,000 connections' worth of blocks do not stop
 * the loop for milliseconds every five seconds.
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
	uint32_t prev[ST_N]; /* n at the last sample, mod 2^32: a period's
			      * difference is exact below 4G events */
	float rate[ST_N];    /* per second, over the last period */
	uint32_t sampled_ms; /* now_ms() mod 2^32 at the last sample; 0: never */
};

extern struct stats stats_global;
extern const char *const stat_names[ST_N];

static inline void stat_add(struct stats *s, enum stat_kind k, uint64_t d)
{
	s->n[k] += d;
}

/* Adds d to counter k of every block of a NULL-terminated list: one event
 * counts for its queue, vhost, connection, channel and the broker alike. */
static inline void stat_add_all(struct stats *const *blocks, enum stat_kind k, uint64_t d)
{
	for (; *blocks; blocks++)
		(*blocks)->n[k] += d;
}

/* Turns the counts since s's last sample into rates (now: now_ms()). */
void stats_sample(struct stats *s, uint64_t now);

/* Whether s's last sample is a period old. */
static inline int stats_due(const struct stats *s, uint64_t now)
{
	return (uint32_t)now - s->sampled_ms >= STATS_PERIOD_MS;
}

/* The management plugin's timer, every STATS_STEP_MS: samples the global
 * and vhost blocks once a period, and the queues' and exchanges' in one
 * lap a period, a share per step. */
#define STATS_STEP_MS 100
void stats_sample_step(uint64_t now);

/* Object churn since start-up, RabbitMQ's connection_churn_metrics: each
 * counter is bumped once, where its event happens. A connection counts
 * from connection.open-ok (RabbitMQ's connection_created) and is closed
 * when such a connection is freed; a declare is any successful
 * non-passive queue.declare, a creation one that made the queue. */
struct churn {
	uint64_t conns_opened, conns_closed;
	uint64_t chans_opened, chans_closed;
	uint64_t queues_declared, queues_created, queues_deleted;
};
extern struct churn stats_churn;

/* A latency histogram for the metrics endpoint (Prometheus's cumulative
 * buckets are summed when read): n[i] counts observations in
 * (bound[i-1], bound[i]], n[HIST_BUCKETS] those above the last bound. */
#define HIST_BUCKETS 10
extern const uint64_t hist_bounds_ns[HIST_BUCKETS];
struct hist {
	uint64_t n[HIST_BUCKETS + 1];
	uint64_t count, sum_ns;
};

/* CLOCK_MONOTONIC in nanoseconds, for timing an operation. */
uint64_t stats_clock_ns(void);
/* Records one observation of ns nanoseconds. */
void hist_observe(struct hist *h, uint64_t ns);

#endif
