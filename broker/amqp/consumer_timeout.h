/* consumer_timeout.h — the delivery acknowledgement timeout (RabbitMQ's
 * consumer_timeout, x-consumer-timeout and the consumer-timeout policy key;
 * its "Delivery Acknowledgement Timeout" in the consumers guide).
 *
 * A delivery left unacknowledged longer than its queue's timeout ends its
 * consumer: when the client advertised consumer_cancel_notify, the
 * consumer alone is cancelled (basic.cancel) and its unacked messages go
 * back to their queues as redelivered, the other consumers of the channel
 * carrying on (RabbitMQ 4.3's behaviour); otherwise, and for a basic.get
 * delivery, the channel is closed with 406 PRECONDITION_FAILED and
 * RabbitMQ's text (RabbitMQ 3.10 always does that). */
#ifndef TERN_BROKER_CONSUMER_TIMEOUT_H
#define TERN_BROKER_CONSUMER_TIMEOUT_H

#include <stdint.h>

struct conn;

/* Checks the outstanding deliveries of c's open channels against their
 * timeouts (wall: wall_ms()); conn.c's deadline wheel calls it for each
 * connection at least once a second. A channel whose oldest delivery is
 * younger than the smallest timeout among its deliveries costs one
 * comparison. */
void consumer_timeout_conn(struct conn *c, uint64_t wall);

#endif
