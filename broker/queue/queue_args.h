/* queue_args.h — the x-arguments of queue.declare: validation and the
 * equivalence check of a redeclare (RabbitMQ's queue arguments table). */
#ifndef TERN_BROKER_QUEUE_ARGS_H
#define TERN_BROKER_QUEUE_ARGS_H

#include <stddef.h>

#include "protocol/wire.h"

/* Checks the type and range of every argument Tern knows. Unknown keys
 * are accepted, as RabbitMQ does. Returns 0, or -1 with why set to
 * "'x-name': reason". */
int queue_args_validate(struct bytes args, char *why, size_t len);

/* Compares the known arguments of two declarations by value (integers
 * across widths). Returns NULL when equivalent, else the first differing
 * argument's name. */
const char *queue_args_equivalent(struct bytes have, struct bytes got);

/* RabbitMQ's account of a difference in argument `key`: "received X but
 * current is Y", where each side is 'value', none when absent, or "the
 * value 'V' of type 'T'" facing an absent one. */
void queue_args_mismatch(struct bytes have, struct bytes got, const char *key, char *out,
			 size_t n);

#endif
