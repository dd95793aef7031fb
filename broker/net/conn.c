/* conn.c — client connections: reading and framing, writing once per loop
 * turn, heartbeats, and closing (spec §2.2.4, §4.2.7 heartbeats).
 *
 * State machine (method handling for each state is in handshake.c):
 *
 *   HEADER --"AMQP0091"--> START_OK --start-ok--> TUNE_OK --tune-ok-->
 *   OPEN_WAIT --open--> OPEN --(error or shutdown)--> CLOSING --close-ok--> DEAD
 *   any state --socket error, timeout, client close--> DEAD
 *
 * Invariants: before OPEN only channel 0 is used; in CLOSING every frame but
 * connection.close / close-ok is discarded (spec §2.2.4); DEAD conns have no
 * socket and no events and wait on the server's list to be freed. Reading
 * goes into one growable per-connection buffer and every complete frame in
 * it is handled before returning to the loop; payload views point into that
 * buffer, so handlers copy what they keep. */
#include "broker/net/conn.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <arpa/inet.h>
#include <unistd.h>

#include "broker/model/access.h"
#include "broker/amqp/channel.h"
#include "broker/net/alarm.h"
#include "broker/core/config.h"
#include "broker/net/handshake.h"
#include "broker/core/log.h"
#include "broker/queue/queue.h"
#include "broker/net/server.h"
#include "broker/net/tls.h"
#include "broker/model/vhost.h"
#include "util/xalloc.h"

#define IN_INITIAL (16 * 1024)
#define IN_FAST (256 * 1024)        /* grown to when reads keep filling it */
#define OUT_HIGH (4u * 1024 * 1024) /* pause consumers above this */
#define OUT_LOW (1u * 1024 * 1024)  /* resume below this */
/* Bodies up to this size are copied next to their frame headers: one
 * contiguous write beats an iovec per small body. Larger ones go by
 * reference, so fan-out never copies them. */
#define BODY_COPY_MAX 2048

struct conn *conn_list;
uint32_t conn_count;
uint32_t conn_dead_count;

static struct wbuf scratch; /* frames are encoded here, then copied to out */

static void on_read(evutil_socket_t fd, short what, void *arg);
static void on_write(evutil_socket_t fd, short what, void *arg);

static void describe_peer(struct conn *c, const struct sockaddr *addr)
{
	char host[INET6_ADDRSTRLEN] = "?";
	int port = 0;
	if (addr->sa_family == AF_INET) {
		const struct sockaddr_in *a = (const void *)addr;
		inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
		port = ntohs(a->sin_port);
		c->loopback = (ntohl(a->sin_addr.s_addr) >> 24) == 127;
	} else if (addr->sa_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const void *)addr;
		inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
		port = ntohs(a->sin6_port);
		c->loopback = IN6_IS_ADDR_LOOPBACK(&a->sin6_addr) ||
			      (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr) && a->sin6_addr.s6_addr[12] == 127);
	}
	snprintf(c->peer, sizeof c->peer, "%s:%d", host, port);
	/* The local end, for the connection's name. */
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	char local[INET6_ADDRSTRLEN] = "?";
	int lport = 0;
	if (getsockname(c->fd, (struct sockaddr *)&ss, &len) == 0) {
		if (ss.ss_family == AF_INET) {
			const struct sockaddr_in *a = (const void *)&ss;
			inet_ntop(AF_INET, &a->sin_addr, local, sizeof local);
			lport = ntohs(a->sin_port);
		} else if (ss.ss_family == AF_INET6) {
			const struct sockaddr_in6 *a = (const void *)&ss;
			inet_ntop(AF_INET6, &a->sin6_addr, local, sizeof local);
			lport = ntohs(a->sin6_port);
		}
	}
	snprintf(c->name, sizeof c->name, "%s -> %s:%d", c->peer, local, lport);
}

void conn_accept(int fd, const struct sockaddr *addr, socklen_t len, SSL_CTX *tls)
{
	(void)len;
	evutil_make_socket_nonblocking(fd);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	struct conn *c = xcalloc(1, sizeof *c);
	c->fd = fd;
	c->state = CONN_HEADER;
	c->in_cap = IN_INITIAL;
	c->in = xmalloc(c->in_cap);
	c->out = evbuffer_new();
	c->frame_max = (uint32_t)cfg.frame_max;
	c->channel_max = (uint16_t)cfg.channel_max;
	c->opened_ms = c->last_recv_ms = c->last_send_ms = now_ms();
	c->connected_wall = wall_ms();
	describe_peer(c, addr);
	if (tls)
		tls_conn_start(c, tls);
	c->rev = event_new(server_base, fd, EV_READ | EV_PERSIST, on_read, c);
	c->wev = event_new(server_base, fd, EV_WRITE, on_write, c);
	event_add(c->rev, NULL);
	c->next = conn_list;
	if (conn_list)
		conn_list->prev = c;
	conn_list = c;
	conn_count++;
	conn_reschedule(c); /* the handshake deadline */
	log_debug("accepted %s", c->peer);
}

int conn_fail(struct conn *c, int code, const char *fmt, ...)
{
	int n = snprintf(c->err, sizeof c->err, "%s - ", amqp_reply_name(code));
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->err + n, sizeof c->err - (size_t)n, fmt, ap);
	va_end(ap);
	return code;
}

static void queue_frame_bytes(struct conn *c)
{
	evbuffer_add(c->out, scratch.p, scratch.len);
	scratch.len = 0;
	/* Stop feeding consumers once this much waits for the socket. */
	if (evbuffer_get_length(c->out) > OUT_HIGH)
		c->out_choked = true;
	server_defer_flush(c);
}

void conn_send_method(struct conn *c, uint16_t ch, const struct amqp_method *m)
{
	if (c->state == CONN_DEAD)
		return;
	method_put(&scratch, ch, m);
	queue_frame_bytes(c);
}

static void body_done(const void *data, size_t len, void *arg)
{
	(void)data;
	(void)len;
	message_unref(arg);
}

void conn_send_content(struct conn *c, uint16_t ch, const struct amqp_method *m,
		       const struct message *msg)
{
	if (c->state == CONN_DEAD)
		return;
	method_put(&scratch, ch, m);
	content_header_put(&scratch, ch, METHOD_CLASS(m->id), msg->body_size, message_props(msg));
	uint64_t max = c->frame_max - FRAME_OVERHEAD;
	uint64_t off = 0;
	if (msg->body_size <= BODY_COPY_MAX && msg->body_size <= max) {
		if (msg->body_size)
			frame_put(&scratch, FRAME_BODY, ch, message_body(msg), (uint32_t)msg->body_size);
		queue_frame_bytes(c);
		return;
	}
	/* Frame headers and ends are copied; body slices go by reference,
	 * each holding one message reference released when written. */
	while (off < msg->body_size) {
		uint64_t n = msg->body_size - off < max ? msg->body_size - off : max;
		frame_put_header(&scratch, FRAME_BODY, ch, (uint32_t)n);
		evbuffer_add(c->out, scratch.p, scratch.len);
		scratch.len = 0;
		struct message *ref = message_ref((struct message *)msg);
		evbuffer_add_reference(c->out, message_body(msg) + off, (size_t)n, body_done, ref);
		wb_u8(&scratch, FRAME_END);
		off += n;
	}
	queue_frame_bytes(c);
}

static void release_channels(struct conn *c)
{
	for (uint32_t i = 0; i < c->nchans; i++) {
		if (c->chans[i]) {
			channel_free(c->chans[i]);
			c->chans[i] = NULL;
		}
	}
}

void conn_close(struct conn *c, int code, uint32_t method_id)
{
	if (c->state == CONN_CLOSING || c->state == CONN_DEAD)
		return;
	log_info("closing %s: %s", c->peer, c->err);
	struct amqp_method m = {.id = AMQP_CONNECTION_CLOSE};
	m.a.connection_close.reply_code = (uint16_t)code;
	m.a.connection_close.reply_text = bytes_of(c->err);
	m.a.connection_close.class_id = METHOD_CLASS(method_id);
	m.a.connection_close.method_id = METHOD_INDEX(method_id);
	conn_send_method(c, 0, &m);
	c->state = CONN_CLOSING;
	c->opened_ms = now_ms(); /* close-ok is awaited for a bounded time */
	/* The channels end with the close: consumers get nothing more and
	 * unacked messages go back to their queues now, as in RabbitMQ. */
	release_channels(c);
}

void conn_closed_by_peer(struct conn *c)
{
	struct amqp_method ok = {.id = AMQP_CONNECTION_CLOSE_OK};
	conn_send_method(c, 0, &ok);
	conn_flush(c);
	release_channels(c);
	/* As RabbitMQ: the client closes the socket after close-ok (closing
	 * it first makes some clients, amqp091-go among them, see an EOF
	 * before their close completes). The tick drops it after 5 s. */
	c->state = CONN_CLOSING;
	c->opened_ms = now_ms();
}

void conn_pause_reading(struct conn *c, enum conn_pause why)
{
	if (!c->read_paused && c->state != CONN_DEAD)
		event_del(c->rev);
	c->read_paused |= why;
}

void conn_resume_reading(struct conn *c, enum conn_pause why)
{
	if (!(c->read_paused & why))
		return;
	c->read_paused &= ~why;
	if (c->read_paused || c->state == CONN_DEAD)
		return;
	event_add(c->rev, NULL);
	c->last_recv_ms = now_ms(); /* heartbeats are due from now */
	/* Frames read before the pause wait in c->in, and records OpenSSL
	 * already read do not wake the socket's event. */
	if (c->in_len || (c->tls && tls_conn_pending(c)))
		event_active(c->rev, EV_READ, 0);
}

void conn_kill(struct conn *c)
{
	if (c->state == CONN_DEAD)
		return;
	c->state = CONN_DEAD;
	conn_dead_count++;
	conn_wheel_unlink(c);
	event_del(c->rev);
	event_del(c->wev);
	if (c->tls)
		tls_conn_shutdown(c);
	close(c->fd);
	c->fd = -1;
	release_channels(c);
	/* Exclusive queues go with their connection. */
	while (c->nexcl)
		vhost_delete_queue(c->excl[c->nexcl - 1]->vh, c->excl[c->nexcl - 1]);
	server_defer();
	log_debug("connection %s gone", c->peer);
}

void conn_free(struct conn *c)
{
	if (c->state == CONN_DEAD)
		conn_dead_count--;
	conn_wheel_unlink(c);
	if (c->prev)
		c->prev->next = c->next;
	else
		conn_list = c->next;
	if (c->next)
		c->next->prev = c->prev;
	conn_count--;
	event_free(c->rev);
	event_free(c->wev);
	evbuffer_free(c->out);
	if (c->tls)
		tls_conn_free(c);
	if (c->counted) {
		struct user *u = access_user_find(c->user);
		if (u && u->nconns)
			u->nconns--;
		c->vh->nconns--;
		stats_churn.conns_closed++;
	}
	if (c->vh)
		vhost_unref(c->vh);
	free(c->chans);
	free(c->crossed);
	free(c->excl);
	free(c->client_props);
	free(c->user);
	free(c->in);
	free(c);
}

/* Resumes delivery to this connection's consumers once out has drained. */
static void unchoke(struct conn *c)
{
	c->out_choked = false;
	for (uint32_t i = 0; i < c->nchans; i++) {
		struct channel *ch = c->chans[i];
		if (!ch)
			continue;
		void *v;
		for (size_t it = 0; strmap_next(&ch->consumers, &it, &v);)
			queue_kick(((struct consumer *)v)->q);
	}
}

/* Writes c->out to a plaintext socket. Returns 1 when there was nothing
 * to write, 0, or -1 on a socket error (logged); *left: what is left. */
static int write_plain(struct conn *c, size_t *left)
{
	if (evbuffer_get_length(c->out) == 0)
		return 1;
	/* evbuffer_write sends a bounded number of chains per call: keep
	 * going until the socket is full or the buffer empty. */
	int n;
	do {
		n = evbuffer_write(c->out, c->fd);
		if (n > 0) {
			c->send_oct += (uint64_t)n;
			c->send_cnt++;
		}
	} while (n > 0 && evbuffer_get_length(c->out) > 0);
	if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
		log_debug("write to %s failed: %s", c->peer, strerror(errno));
		return -1;
	}
	*left = evbuffer_get_length(c->out);
	return 0;
}

void conn_flush(struct conn *c)
{
	if (c->state == CONN_DEAD)
		return;
	size_t left;
	int rc = c->tls ? tls_conn_flush(c, &left) : write_plain(c, &left);
	if (rc > 0)
		return;
	if (rc < 0) {
		conn_kill(c);
		return;
	}
	c->last_send_ms = now_ms();
	if (left)
		event_add(c->wev, NULL);
	if (left > OUT_HIGH)
		c->out_choked = true;
	else if (c->out_choked && left < OUT_LOW)
		unchoke(c);
}

static void on_write(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	conn_flush(arg);
}

void conn_send_heartbeat(struct conn *c)
{
	frame_put_heartbeat(&scratch);
	queue_frame_bytes(c);
}

const struct perm *conn_perm(struct conn *c)
{
	if (c->perm_gen != access_gen) {
		c->perm = access_perm_find(c->user, c->vh->name);
		c->perm_gen = access_gen;
	}
	return c->perm;
}

void conn_close_forced(struct conn *c, const char *why)
{
	if (c->state != CONN_OPEN)
		return;
	conn_fail(c, AMQP_CONNECTION_FORCED, "%s", why);
	conn_close(c, AMQP_CONNECTION_FORCED, 0);
}

void conn_close_user(const char *user, const char *why)
{
	for (struct conn *c = conn_list; c; c = c->next)
		if (c->user && !strcmp(c->user, user))
			conn_close_forced(c, why);
}

/* RabbitMQ's user limit max-channels counts the channels a user has open
 * over all connections; only looked at when such a limit is set. */
static int user_channel_limit(struct conn *c)
{
	struct user *u = access_user_find(c->user);
	if (!u || u->max_channels < 0)
		return 0;
	int64_t n = 0;
	for (struct conn *o = conn_list; o; o = o->next) {
		if (o->state != CONN_OPEN || !o->user || strcmp(o->user, c->user))
			continue;
		for (uint32_t i = 0; i < o->nchans; i++)
			n += o->chans[i] != NULL;
	}
	if (n < u->max_channels)
		return 0;
	return conn_fail(c, AMQP_NOT_ALLOWED,
			 "number of channels opened for user '%s' has reached the maximum allowed "
			 "user limit of (%lld)",
			 c->user, (long long)u->max_channels);
}

struct channel *conn_channel(struct conn *c, uint16_t id)
{
	return id < c->nchans ? c->chans[id] : NULL;
}

/* The crossing-close marks (see conn.h's crossed). */
static void crossed_set(struct conn *c, uint16_t id)
{
	uint32_t w = id / 64;
	if (w >= c->ncrossed) {
		c->crossed = xrealloc(c->crossed, (w + 1) * sizeof *c->crossed);
		memset(c->crossed + c->ncrossed, 0, (w + 1 - c->ncrossed) * sizeof *c->crossed);
		c->ncrossed = w + 1;
	}
	c->crossed[w] |= 1ull << (id % 64);
}

/* Clears id's mark; returns whether it was set. */
static bool crossed_take(struct conn *c, uint16_t id)
{
	uint32_t w = id / 64;
	if (w >= c->ncrossed || !(c->crossed[w] >> (id % 64) & 1))
		return false;
	c->crossed[w] &= ~(1ull << (id % 64));
	return true;
}

/* Opens channel id; the caller checked it is free and within channel_max. */
static struct channel *open_channel(struct conn *c, uint16_t id)
{
	if (id >= c->nchans) {
		uint32_t n = c->nchans ? c->nchans : 8;
		while (n <= id)
			n *= 2;
		c->chans = xrealloc(c->chans, n * sizeof *c->chans);
		memset(c->chans + c->nchans, 0, (n - c->nchans) * sizeof *c->chans);
		c->nchans = n;
	}
	return c->chans[id] = channel_new(c, id);
}

/* Frames on channels other than 0. Returns 0 or a hard reply code. */
static int channel_level(struct conn *c, const struct frame *f, uint32_t *method_id)
{
	struct channel *ch = conn_channel(c, f->channel);
	uint32_t id = 0;
	if (f->type == FRAME_METHOD && f->size >= 4)
		id = get32(f->payload);
	*method_id = id;
	if (!ch) {
		if (crossed_take(c, f->channel) && id == AMQP_CHANNEL_CLOSE_OK)
			return 0; /* the late close-ok after a crossing close */
		if (id != AMQP_CHANNEL_OPEN)
			return conn_fail(c, AMQP_CHANNEL_ERROR, "expected 'channel.open' on channel %u",
					 f->channel);
		if (f->channel > c->channel_max)
			return conn_fail(c, AMQP_NOT_ALLOWED, "channel %u is above channel_max %u",
					 f->channel, c->channel_max);
		struct amqp_method m;
		int rc = method_decode(f->payload, f->size, &m);
		if (rc)
			return conn_fail(c, rc, "malformed channel.open");
		if ((rc = user_channel_limit(c)))
			return rc;
		open_channel(c, f->channel);
		struct amqp_method ok = {.id = AMQP_CHANNEL_OPEN_OK};
		conn_send_method(c, f->channel, &ok);
		return 0;
	}
	if (ch->state == CH_CLOSING) {
		/* Only close-ok, or the client's own close crossing ours, ends
		 * a closing channel; everything else was sent before the client
		 * saw our close and is dropped (spec §1.5.2.5). A crossing close
		 * is answered and ends the channel here, and the close-ok the
		 * client may still send for our close is expected. */
		if (id == AMQP_CHANNEL_CLOSE_OK || id == AMQP_CHANNEL_CLOSE) {
			if (id == AMQP_CHANNEL_CLOSE) {
				struct amqp_method ok = {.id = AMQP_CHANNEL_CLOSE_OK};
				conn_send_method(c, ch->id, &ok);
				crossed_set(c, ch->id);
			}
			channel_free(ch);
			c->chans[f->channel] = NULL;
		}
		return 0;
	}
	/* Errors inside content are reported against basic.publish. */
	if (ch->content != CONTENT_NONE)
		*method_id = AMQP_BASIC_PUBLISH;
	int rc = channel_frame(ch, f);
	/* A publish during a resource alarm blocks the connection. */
	if (alarm_on && f->type != FRAME_METHOD)
		alarm_publish_received(c);
	if (ch->free_me) {
		channel_free(ch);
		c->chans[f->channel] = NULL;
		return rc;
	}
	if (rc == 0 || amqp_reply_is_hard(rc))
		return rc;
	/* A soft error closes the channel only. */
	channel_close(ch, rc, *method_id);
	return 0;
}

static void handle_frame(struct conn *c, const struct frame *f)
{
	uint32_t method_id = 0;
	int rc = 0;
	if (c->state == CONN_CLOSING) {
		if (f->channel == 0 && f->type == FRAME_METHOD && f->size >= 4) {
			uint32_t id = get32(f->payload);
			if (id == AMQP_CONNECTION_CLOSE_OK)
				conn_kill(c);
			else if (id == AMQP_CONNECTION_CLOSE) {
				struct amqp_method ok = {.id = AMQP_CONNECTION_CLOSE_OK};
				conn_send_method(c, 0, &ok);
			}
		}
		return;
	}
	if (f->type == FRAME_HEARTBEAT) {
		if (f->channel != 0)
			rc = conn_fail(c, AMQP_UNEXPECTED_FRAME, "heartbeat frame on channel %u",
				       f->channel);
	} else if (f->channel == 0) {
		if (f->type == FRAME_METHOD) {
			if (f->size >= 4)
				method_id = get32(f->payload);
			rc = handshake_method(c, f->payload, f->size);
			conn_reschedule(c); /* tune-ok may have set a heartbeat */
		} else {
			rc = conn_fail(c, AMQP_UNEXPECTED_FRAME, "content frame of type %u on channel 0",
				       f->type);
		}
	} else if (c->state != CONN_OPEN) {
		rc = conn_fail(c, AMQP_CHANNEL_ERROR, "channel %u used before connection.open-ok",
			       f->channel);
	} else {
		rc = channel_level(c, f, &method_id);
	}
	if (rc)
		conn_close(c, rc, method_id);
}

/* Makes room to read at least one more chunk into c->in. */
static void grow_in(struct conn *c, size_t need)
{
	if (c->in_cap - c->in_len >= need)
		return;
	size_t cap = c->in_cap;
	while (cap - c->in_len < need)
		cap *= 2;
	c->in = xrealloc(c->in, cap);
	c->in_cap = cap;
}

static void on_read(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	struct conn *c = arg;
	if (c->read_paused) /* activated by a resume, then paused again */
		return;
	if (c->in_len == c->in_cap)
		grow_in(c, c->in_cap);
	size_t room = c->in_cap - c->in_len;
	ssize_t n = c->tls ? tls_conn_read(c, c->in + c->in_len, room) : read(fd, c->in + c->in_len, room);
	if (n > 0) {
		if (!c->tls) /* tls_conn_read counts the socket's octets */
			c->recv_oct += (uint64_t)n;
		c->recv_cnt++;
		/* Once a read, not once a frame: the clock was 2-4% of S3. */
		c->last_recv_ms = now_ms();
	}
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		log_debug("%s closed the socket", c->peer);
		conn_kill(c);
		return;
	}
	if (n < 0 && !c->in_len)
		return;
	/* n < 0 (EAGAIN) with input buffered: resumed after a pause. */
	bool filled = n > 0 && c->in_len + (size_t)n == c->in_cap;
	if (n > 0)
		c->in_len += (size_t)n;
	size_t off = 0;
	while (c->state != CONN_DEAD) {
		const uint8_t *p = c->in + off;
		size_t left = c->in_len - off;
		if (c->state == CONN_HEADER) {
			int h = protocol_header_check(p, left);
			if (h == 0)
				break;
			if (h < 0) {
				/* Not ours: answer with our header and close (§4.2.2). */
				evbuffer_add(c->out, protocol_header, sizeof protocol_header);
				conn_flush(c);
				conn_kill(c);
				break;
			}
			off += PROTOCOL_HEADER_LEN;
			handshake_start(c);
			continue;
		}
		struct frame f;
		long used = frame_parse(p, left, c->frame_max, &f);
		if (used < 0 && c->state == CONN_CLOSING && f.err == AMQP_FRAME_ERROR &&
		    f.size <= c->frame_max) {
			/* While closing, a malformed but length-delimited frame is
			 * skipped like any other, so close-ok can still be found. */
			size_t total = (size_t)f.size + FRAME_OVERHEAD;
			if (total > left)
				break;
			off += total;
			continue;
		}
		if (used == 0) {
			/* A frame bigger than the buffer needs room to arrive. */
			if (left >= 7)
				grow_in(c, (size_t)get32(p + 3) + FRAME_OVERHEAD);
			break;
		}
		if (used < 0) {
			/* Framing is lost: nothing more can be read, so send
			 * the close and drop the socket without awaiting close-ok. */
			conn_fail(c, f.err, "%s", f.why);
			conn_close(c, f.err, 0);
			conn_flush(c);
			conn_kill(c);
			break;
		}
		off += (size_t)used;
		handle_frame(c, &f);
		/* Paused (flow, alarm): what is buffered waits, as unread. */
		if (c->read_paused)
			break;
	}
	if (c->state == CONN_DEAD)
		return;
	memmove(c->in, c->in + off, c->in_len - off);
	c->in_len -= off;
	if (filled && c->in_cap < IN_FAST)
		grow_in(c, c->in_cap); /* a busy publisher: read more per call */
}

void conn_close_all(const char *why)
{
	for (struct conn *c = conn_list; c; c = c->next) {
		if (c->state == CONN_DEAD)
			continue;
		conn_fail(c, AMQP_CONNECTION_FORCED, "%s", why);
		if (c->state == CONN_OPEN)
			conn_close(c, AMQP_CONNECTION_FORCED, 0);
		conn_flush(c);
		conn_kill(c);
	}
}

void conn_own_queue(struct conn *c, struct queue *q)
{
	if (c->nexcl == c->nexcl_cap) {
		c->nexcl_cap = c->nexcl_cap ? c->nexcl_cap * 2 : 4;
		c->excl = xrealloc(c->excl, c->nexcl_cap * sizeof *c->excl);
	}
	c->excl[c->nexcl++] = q;
}

void conn_disown_queue(struct conn *c, struct queue *q)
{
	for (size_t i = 0; i < c->nexcl; i++) {
		if (c->excl[i] == q) {
			c->excl[i] = c->excl[--c->nexcl];
			return;
		}
	}
}

