/* stats.c — sampling message counters into rates; see stats.h. */
#include "broker/core/stats.h"

#include <time.h>

#include "broker/amqp/channel.h"
#include "broker/net/conn.h"
#include "broker/model/vhost.h"

struct stats stats_global;
struct churn stats_churn;

/* 100 us to 2.5 s: a commit without fsync takes tens of microseconds, one
 * with fsync milliseconds, a stalled disk far more. */
const uint64_t hist_bounds_ns[HIST_BUCKETS] = {
	100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000, 50000000, 250000000,
	2500000000u,
};

const char *const stat_names[ST_N] = {
	[ST_PUBLISH] = "publish",
	[ST_PUBLISH_OUT] = "publish_out",
	[ST_DELIVER] = "deliver",
	[ST_DELIVER_NOACK] = "deliver_no_ack",
	[ST_GET] = "get",
	[ST_GET_NOACK] = "get_no_ack",
	[ST_GET_EMPTY] = "get_empty",
	[ST_ACK] = "ack",
	[ST_REDELIVER] = "redeliver",
	[ST_CONFIRM] = "confirm",
	[ST_RETURN] = "return_unroutable",
	[ST_DROP_UNROUTABLE] = "drop_unroutable",
};

void stats_sample(struct stats *s, uint64_t dt_ms)
{
	for (int i = 0; i < ST_N; i++) {
		uint32_t d = (uint32_t)s->n[i] - s->prev[i]; /* modular: exact */
		s->rate[i] = dt_ms ? (float)((double)d * 1000.0 / (double)dt_ms) : 0;
		s->prev[i] = (uint32_t)s->n[i];
	}
}

void stats_sample_all(uint64_t dt_ms)
{
	stats_sample(&stats_global, dt_ms);
	struct vhost *vh;
	for (size_t i = 0; (vh = vhost_next(&i));) {
		stats_sample(&vh->stats, dt_ms);
		void *v;
		for (size_t j = 0; strmap_next(&vh->queues, &j, &v);)
			stats_sample(&((struct queue *)v)->stats, dt_ms);
		for (size_t j = 0; strmap_next(&vh->exchanges, &j, &v);)
			stats_sample(&((struct bexchange *)v)->stats, dt_ms);
	}
	for (struct conn *c = conn_list; c; c = c->next) {
		stats_sample(&c->stats, dt_ms);
		for (uint32_t i = 0; i < c->nchans; i++)
			if (c->chans[i])
				stats_sample(&c->chans[i]->stats, dt_ms);
	}
}

uint64_t stats_clock_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void hist_observe(struct hist *h, uint64_t ns)
{
	int i = 0;
	while (i < HIST_BUCKETS && ns > hist_bounds_ns[i])
		i++;
	h->n[i]++;
	h->count++;
	h->sum_ns += ns;
}
