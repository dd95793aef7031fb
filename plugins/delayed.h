/* delayed.h — what the x-delayed-message exchange (delayed.c) offers the
 * management API: its waiting messages, listed in due order, and
 * cancelled one by one. */
#ifndef TERN_PLUGINS_DELAYED_H
#define TERN_PLUGINS_DELAYED_H

#include <stddef.h>
#include <stdint.h>

struct bexchange;
struct message;

/* One waiting message: its id, its due time (wall-clock ms) and the
 * message, valid during the call only. */
typedef void (*delayed_fn)(void *ctx, uint64_t id, uint64_t due, const struct message *m);

/* Calls fn for x's waiting messages [offset, offset + count) in due
 * order. Returns how many wait in all, or -1 when x is not a delayed
 * exchange or the store fails. */
long delayed_list(const struct bexchange *x, size_t offset, size_t count, delayed_fn fn,
		  void *ctx);

/* Cancels x's waiting message id: it will never be routed. Returns 0, or
 * -1 when x has no such message. */
int delayed_cancel(const struct bexchange *x, uint64_t id);

#endif
