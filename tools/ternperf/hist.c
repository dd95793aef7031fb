/* hist.c — log-bucket histogram; see hist.h for the bucket layout. */
#include "tools/ternperf/hist.h"

#include <string.h>

#define HALF (1u << (HIST_BITS - 1))

static unsigned bucket_of(uint64_t v)
{
	if (v < (1u << HIST_BITS))
		return (unsigned)v;
	unsigned msb = 63u - (unsigned)__builtin_clzll(v);
	unsigned shift = msb - (HIST_BITS - 1); /* >= 1: keeps HIST_BITS bits */
	unsigned mant = (unsigned)(v >> shift); /* in [HALF, 2*HALF) */
	return (1u << HIST_BITS) + (shift - 1) * HALF + (mant - HALF);
}

/* The midpoint of bucket i's value range. */
static uint64_t value_of(unsigned i)
{
	if (i < (1u << HIST_BITS))
		return i;
	unsigned j = i - (1u << HIST_BITS);
	unsigned shift = j / HALF + 1;
	uint64_t lo = (uint64_t)(j % HALF + HALF) << shift;
	return lo + ((uint64_t)1 << (shift - 1));
}

void hist_record(struct hist *h, uint64_t v)
{
	h->counts[bucket_of(v)]++;
	h->n++;
	h->sum += v;
	if (v > h->max)
		h->max = v;
}

void hist_reset(struct hist *h)
{
	memset(h, 0, sizeof *h);
}

void hist_merge(struct hist *dst, const struct hist *src)
{
	if (!src->n)
		return;
	for (unsigned i = 0; i < HIST_BUCKETS; i++)
		dst->counts[i] += src->counts[i];
	dst->n += src->n;
	dst->sum += src->sum;
	if (src->max > dst->max)
		dst->max = src->max;
}

uint64_t hist_quantile(const struct hist *h, double q)
{
	if (!h->n)
		return 0;
	/* The rank of the value wanted, 1-based: ceil(q * n), at least 1. */
	uint64_t rank = (uint64_t)(q * (double)h->n);
	if ((double)rank < q * (double)h->n)
		rank++;
	if (rank < 1)
		rank = 1;
	if (rank >= h->n)
		return h->max;
	uint64_t seen = 0;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		seen += h->counts[i];
		if (seen >= rank) {
			uint64_t v = value_of(i);
			return v < h->max ? v : h->max;
		}
	}
	return h->max;
}
