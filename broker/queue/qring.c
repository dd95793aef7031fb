/* qring.c — sorted rings of queue entries; see qring.h. */
#include "broker/queue/qring.h"

#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"

static size_t at(const struct qring *r, size_t i)
{
	return (r->head + i) & (r->cap - 1);
}

/* Whether e has anything a bare slot cannot hold. */
static bool needs_extra(const struct qentry *e)
{
	return e->expires || e->deliveries || e->flags;
}

/* The entry in slot k. */
static inline struct qentry get(const struct qring *r, size_t k)
{
	struct qentry e = {.seq = r->v[k].seq, .priority = r->level};
	if (r->x) {
		e.expires = r->x[k].expires;
		e.deliveries = r->x[k].deliveries;
		e.flags = r->x[k].flags;
	}
	if (e.flags & QE_PAGED) {
		e.msg_id = r->v[k].msg_id;
		e.size = r->x[k].size;
	} else {
		e.m = r->v[k].m;
		e.size = e.m->body_size;
		if (e.flags & QE_STORED)
			e.msg_id = message_store_id(e.m);
	}
	return e;
}

struct qentry qring_get(const struct qring *r, size_t i)
{
	return get(r, at(r, i));
}

uint64_t qring_expires(const struct qring *r, size_t i)
{
	return r->x ? r->x[at(r, i)].expires : 0;
}

/* Writes e into slot k (and its extra, once the ring has extras). */
static inline void set(struct qring *r, size_t k, const struct qentry *e)
{
	if (!r->x && needs_extra(e))
		r->x = xcalloc(r->cap, sizeof *r->x);
	if (e->flags & QE_PAGED)
		r->v[k] = (struct qslot){.seq = e->seq, .msg_id = e->msg_id};
	else
		r->v[k] = (struct qslot){.seq = e->seq, .m = e->m};
	if (r->x)
		r->x[k] = (struct qextra){e->expires, e->flags & QE_PAGED ? e->size : 0,
					  e->deliveries, e->flags};
}

/* Copies slot `from` (and its extra) over slot `to`. */
static void copy(struct qring *r, size_t to, size_t from)
{
	r->v[to] = r->v[from];
	if (r->x)
		r->x[to] = r->x[from];
}

static void grow(struct qring *r)
{
	size_t cap = r->cap ? r->cap * 2 : 16;
	struct qslot *v = xmalloc(cap * sizeof *v);
	struct qextra *x = r->x ? xcalloc(cap, sizeof *x) : NULL;
	for (size_t i = 0; i < r->len; i++) {
		v[i] = r->v[at(r, i)];
		if (x)
			x[i] = r->x[at(r, i)];
	}
	free(r->v);
	free(r->x);
	r->v = v;
	r->x = x;
	r->cap = cap;
	r->head = 0;
}

/* Slots an emptied ring keeps (1 MiB of them); past that an empty ring
 * gives its arrays back, so a burst's memory is not held for good. */
#define KEEP_CAP ((size_t)64 * 1024)

/* After an entry left: an empty ring drops its extras, so a queue that
 * once held a redelivery or a deadline does not pay for them forever,
 * and a big one its slots too. */
static void shrank(struct qring *r)
{
	if (r->len)
		return;
	if (r->x) {
		free(r->x);
		r->x = NULL;
	}
	if (r->cap > KEEP_CAP) {
		free(r->v);
		r->v = NULL;
		r->cap = r->head = 0;
	}
}

void qring_push(struct qring *r, struct qentry e)
{
	if (r->len == r->cap)
		grow(r);
	set(r, at(r, r->len++), &e);
}

/* Index of the first entry whose seq is not below seq. */
static size_t lower_bound(const struct qring *r, uint64_t seq)
{
	size_t lo = 0, hi = r->len;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (qring_seq(r, mid) < seq)
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
	/* Above every seq (recovery, which goes in order): an append. */
	size_t i = r->len && qring_seq(r, r->len - 1) < e.seq ? r->len : lower_bound(r, e.seq);
	/* Shift whichever side is shorter. */
	if (i < r->len - i) {
		r->head = (r->head - 1) & (r->cap - 1);
		for (size_t k = 0; k < i; k++)
			copy(r, at(r, k), at(r, k + 1));
	} else {
		for (size_t k = r->len; k > i; k--)
			copy(r, at(r, k), at(r, k - 1));
	}
	r->len++;
	set(r, at(r, i), &e);
}

bool qring_pop(struct qring *r, struct qentry *e)
{
	if (!r->len)
		return false;
	*e = get(r, r->head);
	r->head = (r->head + 1) & (r->cap - 1);
	r->len--;
	shrank(r);
	return true;
}

long qring_find(const struct qring *r, uint64_t seq)
{
	size_t i = lower_bound(r, seq);
	return i < r->len && qring_seq(r, i) == seq ? (long)i : -1;
}

void qring_remove(struct qring *r, size_t i, struct qentry *e)
{
	*e = get(r, at(r, i));
	if (i < r->len - 1 - i) {
		for (size_t k = i; k > 0; k--)
			copy(r, at(r, k), at(r, k - 1));
		r->head = (r->head + 1) & (r->cap - 1);
	} else {
		for (size_t k = i; k + 1 < r->len; k++)
			copy(r, at(r, k), at(r, k + 1));
	}
	r->len--;
	shrank(r);
}

void qring_free(struct qring *r)
{
	free(r->v);
	free(r->x);
	*r = (struct qring){.level = r->level};
}
