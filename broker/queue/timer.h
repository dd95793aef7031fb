/* timer.h — the broker's one timer structure: a binary min-heap of
 * deadlines with a single libevent timer armed at the earliest. Message
 * TTL, queue x-expires, delayed delivery and the one-second connection
 * tick (heartbeats, handshake deadlines) all schedule through it; a
 * million deadlines cost 32 bytes each and O(log n) per operation, and
 * nothing is ever scanned.
 *
 * Entries are not removed when their object changes: the callback is
 * told its deadline and checks whether it still matters (lazy deletion).
 * An object that may be freed before its deadline must hold a reference
 * for the timer and drop it in the callback. */
#ifndef TERN_BROKER_TIMER_H
#define TERN_BROKER_TIMER_H

#include <stdint.h>

/* Called with the deadline it was added for; when == 0 means the broker is
 * shutting down: release what the timer held and do nothing else. */
typedef void (*timer_fn)(void *obj, uint64_t when);

/* Calls fn(obj, when) once now_ms() >= when (when > 0). */
void timer_add(uint64_t when, timer_fn fn, void *obj);

/* Pending deadlines (for tests and metrics). */
uint64_t timer_pending(void);

void timer_init(void);
/* Calls every pending timer with when == 0, then frees the heap. */
void timer_free(void);

#endif
