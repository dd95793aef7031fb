/* deadletter.h — the pure part of dead-lettering: the dead-lettered copy of
 * a message as RabbitMQ 3.10+ builds it (x-death, x-first-death-*,
 * x-last-death-*, expiration dropped; rabbitmq.com/docs/dlx and
 * rabbit_dead_letter.erl / mc.erl), and the rule that drops a message going
 * round a dead-letter cycle that no client rejection broke. No queues, no
 * routing, no I/O: the queue builds the copy, routes it through its DLX and
 * skips every target queue for which deadletter_is_cycle() holds. */
#ifndef TERN_BROKER_DEADLETTER_H
#define TERN_BROKER_DEADLETTER_H

#include <stdbool.h>
#include <stdint.h>

#include "broker/queue/message.h"

/* The reasons RabbitMQ writes into x-death. */
#define DL_REJECTED "rejected"
#define DL_EXPIRED "expired"
#define DL_MAXLEN "maxlen"
#define DL_DELIVERY_LIMIT "delivery_limit"

/* What the dead-lettering queue knows about one dead-lettering event.
 * Borrowed C strings, read during the call only. */
struct dl_reason {
	const char *queue;  /* name of the queue the message leaves */
	const char *reason; /* one of DL_REJECTED ... DL_DELIVERY_LIMIT */
};

/* Builds the dead-lettered copy of m, which is left untouched:
 *  - headers: x-death gains an entry for (r->queue, r->reason) at the
 *    front, or the existing entry for that pair moves to the front with its
 *    count incremented (its other fields stay those of the first such
 *    death); x-first-death-{reason,queue,exchange} are set when m carried
 *    no x-death array; x-last-death-{reason,queue,exchange} are set every
 *    time; BCC is removed, and CC too when dl_rkey is given; all headers
 *    are then ordered by key, as RabbitMQ writes them;
 *  - the expiration property is removed (it survives as the entry's
 *    original-expiration); every other property is kept byte for byte;
 *  - exchange name = dlx (the exchange it is republished to, which the next
 *    death records as "exchange"), routing key = dl_rkey when non-NULL,
 *    else m's; names longer than 255 octets are cut at 255 (the caller
 *    validates them at queue.declare);
 *  - the same body, MSG_PERSISTENT and priority; never mandatory.
 * now_s is the wall clock in seconds, written as the entry's time.
 * Returns a new complete message (refs 1, body filled in), or NULL
 * only when m's stored properties do not decode, which publish-time
 * validation rules out. */
struct message *deadletter_copy(const struct message *m, const struct dl_reason *r, const char *dlx,
				const char *dl_rkey, uint64_t now_s);

/* True when delivering m, a dead-lettered copy already carrying its new
 * x-death entry, into `queue` would close a cycle RabbitMQ drops silently:
 * `queue` appears in x-death and neither that entry nor any newer one has
 * reason "rejected" (an element that is not a table also breaks the
 * cycle, as something a client made). */
bool deadletter_is_cycle(const struct message *m, const char *queue);

#endif
