/* hist.h — a log-bucket latency histogram in the manner of HdrHistogram:
 * fixed memory, O(1) recording with no allocation, every value kept to
 * within 1/128 (0.8%) of itself. Values are nanoseconds (any uint64). */
#ifndef TERN_TOOLS_TERNPERF_HIST_H
#define TERN_TOOLS_TERNPERF_HIST_H

#include <stdint.h>

/* Values below 2^HIST_BITS get a bucket each; above, each power of two is
 * split into 2^(HIST_BITS-1) equal buckets. */
#define HIST_BITS 8
#define HIST_BUCKETS ((1 << HIST_BITS) + (64 - HIST_BITS) * (1 << (HIST_BITS - 1)))

/* Owned by whoever embeds it; all-zero is an empty histogram. */
struct hist {
	uint64_t n, max, sum;
	uint64_t counts[HIST_BUCKETS];
};

void hist_record(struct hist *h, uint64_t v);
void hist_reset(struct hist *h);
/* Adds src's counts into dst. */
void hist_merge(struct hist *dst, const struct hist *src);
/* The value at quantile q (0..1): the middle of the bucket holding it, but
 * never above the recorded max. 0 when h is empty. */
uint64_t hist_quantile(const struct hist *h, double q);

#endif
