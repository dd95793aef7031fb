/* stats.c — sampling message counters into rates; see stats.h. */
#include "broker/core/stats.h"

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

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

void stats_sample(struct stats *s, uint64_t now)
{
	/* A first sample counts from one period back, as when all blocks
	 * were sampled together. */
	uint32_t dt = s->sampled_ms ? (uint32_t)now - s->sampled_ms : STATS_PERIOD_MS;
	for (int i = 0; i < ST_N; i++) {
		uint32_t d = (uint32_t)s->n[i] - s->prev[i]; /* modular: exact */
		s->rate[i] = dt ? (float)((double)d * 1000.0 / (double)dt) : 0;
		s->prev[i] = (uint32_t)s->n[i];
	}
	s->sampled_ms = (uint32_t)now ? (uint32_t)now : 1;
}

/* Where the lap through the queues and exchanges is: it began at
 * `start` with `total` blocks, `done` are sampled; the next is in the
 * vhost at or after slot vi, in its queues (kind 0) or exchanges (1), at
 * or after slot j. Slots, not pointers: a block deleted meanwhile cannot
 * leave the lap dangling; a map that grew may make it skip or repeat a
 * few, which each block's own sample time keeps exact. */
static struct {
	uint64_t start;
	size_t total, done, vi, j;
	int kind;
} lap;

/* Samples blocks of the lap until `upto` are done or the lap ends;
 * returns false at its end. */
static bool lap_walk(size_t upto, uint64_t now)
{
	while (lap.done < upto) {
		size_t i = lap.vi;
		struct vhost *vh = vhost_next(&i);
		if (!vh)
			return false;
		void *v;
		if (strmap_next(lap.kind ? &vh->exchanges : &vh->queues, &lap.j, &v)) {
			stats_sample(lap.kind ? &((struct bexchange *)v)->stats
					      : &((struct queue *)v)->stats,
				     now);
			lap.done++;
			continue;
		}
		lap.j = 0;
		if (lap.kind++ == 1) { /* both maps of this vhost done */
			lap.kind = 0;
			lap.vi = i;
		}
	}
	return true;
}

void stats_sample_step(uint64_t now)
{
	if (lap.start && now - lap.start < STATS_PERIOD_MS) {
		/* The share of the lap that this much of the period is. */
		lap_walk(lap.total * (now - lap.start) / STATS_PERIOD_MS, now);
		return;
	}
	if (lap.start)
		lap_walk(SIZE_MAX, now); /* the rest of the last lap */
	lap.start = now;
	lap.done = lap.vi = lap.j = 0;
	lap.kind = 0;
	lap.total = 0;
	stats_sample(&stats_global, now);
	struct vhost *vh;
	for (size_t i = 0; (vh = vhost_next(&i));) {
		stats_sample(&vh->stats, now);
		lap.total += vh->queues.n + vh->exchanges.n;
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
