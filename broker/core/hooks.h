/* hooks.h — the broker's extension points, called by the broker and filled
 * by plugins (plugins/tern_plugin.h), so the broker never includes a
 * plugin header. */
#ifndef TERN_BROKER_HOOKS_H
#define TERN_BROKER_HOOKS_H

#include <stdbool.h>
#include <stdint.h>

struct channel;
struct bexchange;
struct message;

/* Called for every publish, before routing (ch is NULL when the HTTP
 * API publishes: no confirm, no return then). Returns true when the hook
 * has taken the message over (keeping its own reference): the broker then
 * neither routes nor confirms it, and the hook answers for both (mandatory
 * returns, publisher confirm of `seq`, 0 when not in confirm mode). */
typedef bool (*publish_hook_fn)(struct channel *ch, struct bexchange *x, struct message *m,
				bool mandatory, uint64_t seq);

void hook_publish_add(publish_hook_fn fn);
bool hook_publish_run(struct channel *ch, struct bexchange *x, struct message *m,
		      bool mandatory, uint64_t seq);

#endif
