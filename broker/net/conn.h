/* conn.h — client connections: socket I/O, framing, the handshake state
 * machine, heartbeats and closing (spec §2.2.4, class connection).
 *
 * Ownership: the server's connection list owns every conn; a conn owns its
 * channels. A conn is never freed inside its own callbacks: conn_kill()
 * marks it dead and the server frees it at the end of the loop turn. */
#ifndef TERN_BROKER_CONN_H
#define TERN_BROKER_CONN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "broker/queue/message.h"
#include "broker/core/stats.h"
#include "protocol/frame.h"
#include "protocol/props.h"
#include "protocol/method.h"

struct channel;
struct vhost;
struct queue;
struct evbuffer;
struct event;
struct tls_conn;
typedef struct ssl_ctx_st SSL_CTX;

enum conn_state {
	CONN_HEADER,   /* waiting for the protocol header */
	CONN_START_OK, /* sent connection.start */
	CONN_TUNE_OK,  /* sent connection.tune */
	CONN_OPEN_WAIT,/* got tune-ok, waiting for connection.open */
	CONN_OPEN,     /* open: channels may be used */
	CONN_CLOSING,  /* sent connection.close: only close-ok counts now */
	CONN_DEAD,     /* socket closed; freed at the end of the turn */
};

struct conn {
	/* First, in one cache line: what the deadline check (conn_tick)
	 * reads of a connection that is due. */
	struct conn *next, *prev; /* all connections */
	int fd;
	enum conn_state state;
	struct tls_conn *tls;   /* NULL for plaintext (tls.h) */
	struct channel **chans; /* indexed by channel id, grown on demand */
	uint32_t frame_max;
	uint16_t channel_max;
	uint16_t heartbeat;
	unsigned read_paused; /* PAUSE_* reasons reading is stopped for */
	uint32_t nchans;
	uint64_t last_recv_ms, last_send_ms, opened_ms;
	/* In the deadline wheel (conn_tick.c): the slot of period wheel_at
	 * (now_ms() / CONN_TICK_MS), 0 when in none. */
	struct conn *wnext, *wprev;
	uint64_t wheel_at;

	struct event *rev, *wev;
	uint8_t *in;
	size_t in_len, in_cap;
	struct evbuffer *out;
	bool out_choked; /* consumers paused until out drains */
	struct queue *throttle_q;     /* reading paused until it drains (flow.c) */
	bool alarm_blocked;    /* published during an alarm: not read (alarm.c) */
	bool alarm_told;       /* and was sent connection.blocked */
	struct conn *next_throttled;

	/* A bit per channel id (ncrossed words, grown on demand): we answered
	 * a crossing channel.close there, so the client's close-ok to our own
	 * channel.close may still follow; it is dropped, not an error. */
	uint64_t *crossed;
	uint32_t ncrossed;

	struct vhost *vh;   /* holds a reference once open */
	char *user;
	const struct perm *perm; /* the user's on vh; valid while perm_gen */
	uint64_t perm_gen;       /* == access_gen */
	bool counted;            /* counted in its user's and vhost's nconns */
	char peer[64];
	char name[140];             /* "PEER -> LOCAL", as RabbitMQ names it */
	uint8_t *client_props;      /* connection.start-ok's client-properties */
	uint32_t client_props_len;
	uint64_t connected_wall;    /* wall-clock ms */
	bool loopback;
	const char *auth_mechanism; /* the SASL mechanism it logged in with */
	bool cap_cancel_notify;
	bool cap_blocked;

	struct queue **excl; /* exclusive queues this connection owns */
	size_t nexcl, nexcl_cap;

	struct stats stats;         /* messages published and delivered */
	uint64_t recv_oct, send_oct; /* bytes read and written */
	uint64_t recv_cnt, send_cnt; /* reads and writes */

	char err[512]; /* reply text for the close being prepared */
	bool flush_pending;
	struct conn *next_flush;
};

/* Why a connection is not being read; reading resumes when no reason
 * is left. Each holder (flow control, resource alarms) sets and clears
 * only its own bit, so one cannot resume what another paused. While any
 * is set the client's heartbeats cannot be seen, so missing them does
 * not close the connection (RabbitMQ pauses its heartbeat monitor). */
enum conn_pause {
	PAUSE_FLOW = 1u << 0,  /* a queue it feeds is behind (flow.c) */
	PAUSE_ALARM = 1u << 1, /* a resource alarm blocks publishers */
};
void conn_pause_reading(struct conn *c, enum conn_pause why);
void conn_resume_reading(struct conn *c, enum conn_pause why);

/* Takes over an accepted socket; with tls (an AMQPS listener's context)
 * the TLS handshake comes first. */
void conn_accept(int fd, const struct sockaddr *addr, socklen_t len, SSL_CTX *tls);

/* Queues a method frame for sending. */
void conn_send_method(struct conn *c, uint16_t ch, const struct amqp_method *m);

/* Queues a content method (deliver, get-ok, return) with msg's header and
 * body; the body goes out by reference, split at frame_max. */
void conn_send_content(struct conn *c, uint16_t ch, const struct amqp_method *m,
		       const struct message *msg);

/* Formats a reply text "NAME - detail" into c->err; returns code. */
int conn_fail(struct conn *c, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Sends connection.close with c->err and enters CONN_CLOSING. */
void conn_close(struct conn *c, int code, uint32_t method_id);

/* Answers a client's connection.close: close-ok, channels released,
 * then the socket is left for the client to close (bounded wait). */
void conn_closed_by_peer(struct conn *c);

/* Closes the socket now; the conn is freed at the end of the turn. */
void conn_kill(struct conn *c);

/* Writes what is queued (end of turn). */
void conn_flush(struct conn *c);

/* Frees a dead connection (end of turn only). */
void conn_free(struct conn *c);

/* Looks at the connections whose next deadline has come (handshake and
 * close-ok deadlines, heartbeats both ways, consumer timeouts): each live
 * connection is looked at when something about it may be due, and at
 * least once a second. The server calls it every CONN_TICK_MS from the
 * broker timer (timer.h). */
#define CONN_TICK_MS 10
void conn_tick(void);

/* The same look at every live connection at once (the unit tests). */
void conn_tick_all(void);

/* A deadline of c may have come nearer (connection.tune-ok set a
 * heartbeat): looks at c again by then. */
void conn_reschedule(struct conn *c);

/* Takes c out of the wheel (conn_tick.c; its kill and free call it). */
void conn_wheel_unlink(struct conn *c);

/* Queues a heartbeat frame (conn_tick.c sends them when due). */
void conn_send_heartbeat(struct conn *c);

/* Closes every connection with 320 CONNECTION_FORCED (shutdown). */
void conn_close_all(const char *why);

/* Records q as exclusive to c, or forgets it. */
void conn_own_queue(struct conn *c, struct queue *q);
void conn_disown_queue(struct conn *c, struct queue *q);

/* The connection's permissions on its vhost (NULL: none), looked up
 * again whenever users or permissions changed. */
const struct perm *conn_perm(struct conn *c);

/* Closes an open connection with 320 CONNECTION_FORCED and the text why
 * (an operator's: vhost or user deleted, the HTTP API). */
void conn_close_forced(struct conn *c, const char *why);

/* Closes every open connection of a user with 320 (user deleted). */
void conn_close_user(const char *user, const char *why);

/* Channel lookup; NULL when not open. */
struct channel *conn_channel(struct conn *c, uint16_t id);

extern struct conn *conn_list;
extern uint32_t conn_count;
/* Connections killed and not yet freed: the end of the turn walks the
 * list for them only when there are some (with 10k connections open, a
 * walk every turn cost more than the messages). */
extern uint32_t conn_dead_count;

#endif
