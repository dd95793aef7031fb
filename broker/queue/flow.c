/* flow.c — publisher back-pressure; see flow.h. */
#include "broker/queue/flow.h"

#include "broker/net/conn.h"
#include "broker/queue/queue.h"

#define FLOW_HIGH 20000 /* ready messages with consumers attached */
#define FLOW_LOW 5000

static struct conn *throttled;

void flow_note_publish(struct conn *c, struct queue *q)
{
	if (c->throttle_q || q->len <= FLOW_HIGH || q->ncons == 0 || c->state != CONN_OPEN)
		return;
	queue_ref(q);
	c->throttle_q = q;
	conn_pause_reading(c, PAUSE_FLOW);
	c->next_throttled = throttled;
	throttled = c;
}

void flow_turn(void)
{
	struct conn **link = &throttled;
	while (*link) {
		struct conn *c = *link;
		struct queue *q = c->throttle_q;
		bool dead = c->state == CONN_DEAD;
		if (!dead && !q->deleted && q->ncons && q->len >= FLOW_LOW) {
			link = &c->next_throttled;
			continue;
		}
		*link = c->next_throttled;
		c->throttle_q = NULL;
		queue_unref(q);
		if (!dead)
			conn_resume_reading(c, PAUSE_FLOW);
	}
}
