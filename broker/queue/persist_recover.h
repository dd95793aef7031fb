/* persist_recover.h — internal to persist.c and persist_recover.c: the
 * recovery at start-up, split from the rest of persistence. */
#ifndef TERN_BROKER_PERSIST_RECOVER_H
#define TERN_BROKER_PERSIST_RECOVER_H

#include <stdint.h>

#include "protocol/wire.h"

struct message;

/* Recovers everything stored into the vhosts: the control plane through
 * recover_objects, then topology and messages within the memory budget,
 * logging progress and a summary timed from t_start (now_ms). The store
 * is open. Returns 0 or -1 (logged). */
int persist_recover(void (*recover_objects)(void), uint64_t t_start);

/* A message read back from the store: persistent, and when it has a
 * shared row (msg_id > 0), marked so that a queue it moves to refers to
 * that row too. */
struct message *persist_stored_message(struct bytes x, struct bytes rkey, struct bytes props,
				       struct bytes body, uint64_t msg_id);

#endif
