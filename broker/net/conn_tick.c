/* conn_tick.c — a connection's deadlines (handshake, close-ok,
 * heartbeats both ways), its channels' consumer timeouts and its
 * statistics, looked at through a timer wheel so that 10k connections
 * are never walked in one go (conn.h: conn_tick, conn_reschedule). */
#include "broker/net/conn.h"

#include "broker/amqp/consumer_timeout.h"
#include "broker/core/config.h"
#include "broker/core/log.h"
#include "broker/core/stats.h"
#include "broker/amqp/channel.h"
#include "broker/net/server.h"
#include "broker/net/tls.h"

/* Deadlines. Each live connection waits in one slot of a wheel of
 * WHEEL_SLOTS periods of CONN_TICK_MS for the first moment something about
 * it may be due: its handshake or close-ok deadline, a heartbeat to send
 * or one missed, and at the latest CHECK_MAX_MS after it was last looked
 * at, since a delivery made meanwhile may start a consumer timeout (those
 * are judged to the second, as before); its statistics are sampled then,
 * once a period (stats.h). A tick takes only the slots whose time has
 * come, so the looks are spread over time: walking all 10,000 connections
 * of S10 in one go every 250 ms took 1.4 ms, and the consumer timeout walk
 * 2.2 ms each second; messages arriving meanwhile waited, and that was
 * S10's p99. Entries move lazily: when a connection's deadline moves later
 * (a frame sent or received), the look finds nothing due and puts it back
 * for the new deadline. */
#define WHEEL_SLOTS 128 /* 1.28 s: beyond CHECK_MAX_MS */
#define CHECK_MAX_MS 1000

static struct conn *wheel[WHEEL_SLOTS];
static uint64_t wheel_done; /* the last period whose slot was taken */

void conn_wheel_unlink(struct conn *c)
{
	if (!c->wheel_at)
		return;
	if (c->wprev)
		c->wprev->wnext = c->wnext;
	else
		wheel[c->wheel_at % WHEEL_SLOTS] = c->wnext;
	if (c->wnext)
		c->wnext->wprev = c->wprev;
	c->wnext = c->wprev = NULL;
	c->wheel_at = 0;
}

/* Looks at c by `due` (ms) and within CHECK_MAX_MS of now, in a period
 * after now's (so a tick taking late slots never meets it twice); a
 * connection already waiting for an earlier period stays there. */
static void schedule(struct conn *c, uint64_t due, uint64_t now)
{
	uint64_t cur = now / CONN_TICK_MS;
	if (!wheel_done)
		wheel_done = cur;
	if (due > now + CHECK_MAX_MS)
		due = now + CHECK_MAX_MS;
	uint64_t p = due / CONN_TICK_MS;
	if (p <= cur)
		p = cur + 1;
	if (p <= wheel_done)
		p = wheel_done + 1;
	if (p >= wheel_done + WHEEL_SLOTS) /* not a slot the wheel goes by first */
		p = wheel_done + WHEEL_SLOTS - 1;
	if (c->wheel_at && c->wheel_at <= p)
		return;
	conn_wheel_unlink(c);
	struct conn **slot = &wheel[p % WHEEL_SLOTS];
	c->wheel_at = p;
	c->wnext = *slot;
	if (*slot)
		(*slot)->wprev = c;
	*slot = c;
}

static uint64_t sooner(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/* The earliest moment one of check_deadlines' tests may pass (they are
 * `now - t > limit`, the heartbeat to send `>=`). */
static uint64_t next_deadline(const struct conn *c)
{
	uint64_t due = UINT64_MAX;
	if (c->tls && !tls_conn_ready(c))
		due = sooner(due, c->opened_ms + (uint64_t)cfg.ssl_handshake_timeout + 1);
	if (c->state < CONN_OPEN)
		due = sooner(due, c->opened_ms + (uint64_t)cfg.handshake_timeout + 1);
	if (c->state == CONN_CLOSING)
		due = sooner(due, c->opened_ms + 5000 + 1);
	if (c->heartbeat && c->state >= CONN_OPEN_WAIT) {
		uint64_t hb = (uint64_t)c->heartbeat * 1000;
		if (!c->read_paused)
			due = sooner(due, c->last_recv_ms + 2 * hb + 1);
		due = sooner(due, c->last_send_ms + hb / 2);
	}
	return due;
}

void conn_reschedule(struct conn *c)
{
	if (c->state != CONN_DEAD)
		schedule(c, next_deadline(c), now_ms());
}

/* Handshake and close-ok deadlines, heartbeats both ways (the tests in
 * next_deadline follow these). */
static void check_deadlines(struct conn *c, uint64_t now)
{
	if (c->tls && !tls_conn_ready(c) &&
	    now - c->opened_ms > (uint64_t)cfg.ssl_handshake_timeout) {
		log_warn("%s: TLS handshake timed out after %lld ms (ssl_handshake_timeout)", c->peer,
			 (long long)cfg.ssl_handshake_timeout);
		conn_kill(c);
		return;
	}
	if (c->state < CONN_OPEN && now - c->opened_ms > (uint64_t)cfg.handshake_timeout) {
		log_info("%s: handshake timed out", c->peer);
		conn_kill(c);
		return;
	}
	if (c->state == CONN_CLOSING && now - c->opened_ms > 5000) {
		conn_kill(c); /* close-ok never came */
		return;
	}
	if (!c->heartbeat || c->state < CONN_OPEN_WAIT)
		return;
	uint64_t hb = (uint64_t)c->heartbeat * 1000;
	if (!c->read_paused && now - c->last_recv_ms > 2 * hb) {
		log_info("%s: missed heartbeats from client, timeout: %us", c->peer, c->heartbeat);
		conn_kill(c);
		return;
	}
	if (now - c->last_send_ms >= hb / 2) {
		conn_send_heartbeat(c);
	}
}

/* A connection's and its channels' statistics, once a period. */
static void sample_stats(struct conn *c, uint64_t now)
{
	if (!stats_due(&c->stats, now))
		return;
	stats_sample(&c->stats, now);
	for (uint32_t i = 0; i < c->nchans; i++)
		if (c->chans[i])
			stats_sample(&c->chans[i]->stats, now);
}

/* A connection's look: its deadlines, its channels' consumer timeouts,
 * its statistics. */
static void look_at(struct conn *c, uint64_t now, uint64_t wall)
{
	check_deadlines(c, now);
	if (c->state == CONN_OPEN)
		consumer_timeout_conn(c, wall);
	if (c->state == CONN_DEAD)
		return;
	sample_stats(c, now);
	schedule(c, next_deadline(c), now);
}

void conn_tick(void)
{
	uint64_t now = now_ms(), wall = wall_ms(), cur = now / CONN_TICK_MS;
	if (!wheel_done)
		wheel_done = cur;
	/* After a stall longer than the wheel, every slot but those of the
	 * next two periods (taken by the next ticks): what this tick puts
	 * back goes to the first of them. */
	if (cur - wheel_done > WHEEL_SLOTS - 2)
		wheel_done = cur - (WHEEL_SLOTS - 2);
	while (wheel_done < cur) {
		struct conn **slot = &wheel[++wheel_done % WHEEL_SLOTS];
		/* One at a time: a look may kill its connection, and puts it
		 * back in a period after cur, never one taken here. */
		while (*slot) {
			struct conn *c = *slot;
			conn_wheel_unlink(c);
			look_at(c, now, wall);
		}
	}
}

void conn_tick_all(void)
{
	uint64_t now = now_ms(), wall = wall_ms();
	for (struct conn *c = conn_list; c; c = c->next)
		if (c->state != CONN_DEAD)
			look_at(c, now, wall);
}
