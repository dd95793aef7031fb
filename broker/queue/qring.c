/* qring.c — sorted rings of queue entries; see qring.h. */
#include "broker/queue/qring.h"

#include <stdlib.h>

#include "util/xalloc.h"

static void grow(struct qring *r)
{
	size_t cap = r->cap ? r->cap * 2 : 16;
	struct qentry *v = xmalloc(cap * sizeof *v);
	for (size_t i = 0; i < r->len; i++)
		v[i] = *qring_at(r, i);
	free(r->v);
	r->v = v;
	r->cap = cap;
	r->head = 0;
}

struct qentry *qring_push(struct qring *r, struct qentry e)
{
	if (r->len == r->cap)
		grow(r);
	struct qentry *slot = qring_at(r, r->len++);
	*slot = e;
	return slot;
}

/* Index of the first entry whose seq is not below seq. */
static size_t lower_bound(const struct qring *r, uint64_t seq)
{
	size_t lo = 0, hi = r->len;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (qring_at(r, mid)->seq < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

void qring_insert(struct qring *r, struct qentry e)
{
	if (r->len == r->cap)
		grow(r);
	size_t at = lower_bound(r, e.seq);
	/* Shift whichever side is shorter. */
	if (at < r->len - at) {
		r->head = (r->head - 1) & (r->cap - 1);
		for (size_t i = 0; i < at; i++)
			*qring_at(r, i) = *qring_at(r, i + 1);
	} else {
		for (size_t i = r->len; i > at; i--)
			*qring_at(r, i) = *qring_at(r, i - 1);
	}
	*qring_at(r, at) = e;
	r->len++;
}

bool qring_pop(struct qring *r, struct qentry *e)
{
	if (!r->len)
		return false;
	*e = *qring_at(r, 0);
	r->head = (r->head + 1) & (r->cap - 1);
	r->len--;
	return true;
}

long qring_find(const struct qring *r, uint64_t seq)
{
	size_t at = lower_bound(r, seq);
	return at < r->len && qring_at(r, at)->seq == seq ? (long)at : -1;
}

void qring_remove(struct qring *r, size_t i, struct qentry *e)
{
	*e = *qring_at(r, i);
	if (i < r->len - 1 - i) {
		for (size_t k = i; k > 0; k--)
			*qring_at(r, k) = *qring_at(r, k - 1);
		r->head = (r->head + 1) & (r->cap - 1);
	} else {
		for (size_t k = i; k + 1 < r->len; k++)
			*qring_at(r, k) = *qring_at(r, k + 1);
	}
	r->len--;
}

void qring_free(struct qring *r)
{
	free(r->v);
	*r = (struct qring){0};
}
