/* timer.c — the deadline min-heap; see timer.h. */
#include "broker/queue/timer.h"

#include <event2/event.h>
#include <stdlib.h>

#include "broker/net/server.h"
#include "util/xalloc.h"

struct item {
	uint64_t when;
	timer_fn fn;
	void *obj;
};

static struct item *heap;
static size_t n, cap;
static struct event *ev;
static uint64_t armed_for; /* deadline the libevent timer is set to; 0: none */

static void swap(size_t a, size_t b)
{
	struct item t = heap[a];
	heap[a] = heap[b];
	heap[b] = t;
}

static void up(size_t i)
{
	while (i && heap[(i - 1) / 2].when > heap[i].when) {
		swap(i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void down(size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < n && heap[l].when < heap[m].when)
			m = l;
		if (r < n && heap[r].when < heap[m].when)
			m = r;
		if (m == i)
			return;
		swap(i, m);
		i = m;
	}
}

static void arm(void)
{
	if (!n || (armed_for && armed_for <= heap[0].when))
		return;
	uint64_t now = now_ms(), when = heap[0].when;
	uint64_t wait = when > now ? when - now : 0;
	struct timeval tv = {(time_t)(wait / 1000), (suseconds_t)(wait % 1000) * 1000};
	event_add(ev, &tv);
	armed_for = when;
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	armed_for = 0;
	uint64_t now = now_ms();
	while (n && heap[0].when <= now) {
		struct item it = heap[0];
		heap[0] = heap[--n];
		down(0);
		it.fn(it.obj, it.when); /* may add timers */
	}
	arm();
}

void timer_add(uint64_t when, timer_fn fn, void *obj)
{
	if (n == cap) {
		cap = cap ? cap * 2 : 64;
		heap = xrealloc(heap, cap * sizeof *heap);
	}
	heap[n] = (struct item){when, fn, obj};
	up(n++);
	arm();
}

uint64_t timer_pending(void)
{
	return n;
}

void timer_init(void)
{
	if (!ev)
		ev = evtimer_new(server_base, on_timer, NULL);
}

void timer_free(void)
{
	while (n) {
		struct item it = heap[--n];
		it.fn(it.obj, 0);
	}
	if (ev)
		event_free(ev);
	ev = NULL;
	free(heap);
	heap = NULL;
	n = cap = 0;
	armed_for = 0;
}
