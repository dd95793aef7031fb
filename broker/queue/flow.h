/* flow.h — publisher back-pressure.
 *
 * A publisher that routes into a queue whose consumers are falling behind
 * (more than FLOW_HIGH ready messages while it has consumers) stops being
 * read; it resumes when that queue drains below FLOW_LOW, loses its
 * consumers or goes away. Publishers are slowed, never dropped, and a fast
 * one cannot bury a consumer under an ever longer queue. A queue without
 * consumers takes publishes at full speed, as in RabbitMQ. */
#ifndef TERN_BROKER_FLOW_H
#define TERN_BROKER_FLOW_H

struct conn;
struct queue;

/* Called for each queue a message from c was routed to. */
void flow_note_publish(struct conn *c, struct queue *q);

/* End of turn: resumes connections whose queue has drained, and forgets
 * dead ones (before they are freed). */
void flow_turn(void);

#endif
