/* broker_fixture.h — shared by the broker unit tests (check_channel.c,
 * check_refcount.c): a server loop with one open connection on a
 * socketpair, helpers to declare queues, make messages and consumers, and
 * a reader that decodes what the broker wrote to the connection.
 * Functions are static inline: each test program includes it once and
 * uses what it needs. */
#ifndef TERN_TESTS_BROKER_FIXTURE_H
#define TERN_TESTS_BROKER_FIXTURE_H

#include <check.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/event.h>

#include "broker/amqp/channel.h"
#include "broker/core/config.h"
#include "broker/net/conn.h"
#include "broker/amqp/handlers.h"
#include "broker/core/log.h"
#include "broker/net/server.h"
#include "broker/model/vhost.h"
#include "protocol/props.h"
#include "util/xalloc.h"

/* ---- fixture: a server loop and one open connection on a socketpair ----
 * conn_accept takes one end; the test reads what the broker writes from
 * the other and decodes it with the protocol codec. */

static struct vhost *vh;
static struct conn *c;
static int peer = -1;

static inline void setup(void)
{
	config_defaults();
	log_level = LOG_ERROR;
	exchange_types_init();
	ck_assert_int_eq(server_init_loop(), 0); /* no store, no listeners */
	vhost_create("/");
	vh = vhost_find(bytes_of("/"));
	ck_assert_ptr_nonnull(vh);
	int sv[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	conn_accept(sv[0], (struct sockaddr *)&sa, sizeof sa, NULL);
	c = conn_list;
	ck_assert_int_eq(c->fd, sv[0]);
	c->state = CONN_OPEN; /* as after the handshake */
	c->frame_max = 131072;
	c->vh = vh;
	vh->refs++; /* as connection.open takes one */
	c->chans = xcalloc(8, sizeof *c->chans);
	c->nchans = 8;
	peer = sv[1];
	fcntl(peer, F_SETFL, O_NONBLOCK);
}

/* Runs the loop until the end-of-turn work is done. A turn processes one
 * priority level, and the end-of-turn event has the lower one, so a few
 * non-blocking iterations make sure it ran. */
static inline void turn(void)
{
	for (int i = 0; i < 4; i++)
		event_base_loop(server_base, EVLOOP_NONBLOCK);
}

/* Kills the connection (which frees its channels), lets the server free
 * it, then frees the server and its vhosts. Idempotent. */
static inline void down(void)
{
	if (!c)
		return;
	conn_kill(c);
	turn();
	c = NULL;
	close(peer);
	peer = -1;
	server_free();
}

static inline void teardown(void)
{
	down();
}

static inline struct channel *open_chan(uint16_t id)
{
	ck_assert_uint_lt(id, c->nchans);
	return c->chans[id] = channel_new(c, id);
}

static inline void close_chan(struct channel *ch)
{
	c->chans[ch->id] = NULL;
	channel_free(ch);
}

static inline struct queue *declare(const char *name)
{
	struct queue *q = queue_new(vh, bytes_of(name), (struct bytes){0});
	vhost_add_queue(vh, q);
	return q;
}

static const uint8_t no_props[2]; /* property flags 0: no properties */

/* Message "m<n>" (body and routing key), refs = 1 (the caller's). */
static inline struct message *msg(int n)
{
	char body[16];
	int len = snprintf(body, sizeof body, "m%d", n);
	struct message *m = message_new(bytes_of(""), bytes_of(body),
					(struct bytes){no_props, sizeof no_props}, (uint64_t)len, 0);
	memcpy(message_body(m), body, (size_t)len);
	return m;
}

static inline struct consumer *consume(struct channel *ch, struct queue *q, const char *tag, bool no_ack)
{
	struct amqp_method m = {.id = AMQP_BASIC_CONSUME};
	m.a.basic_consume.queue = bytes_of(q->name);
	m.a.basic_consume.consumer_tag = bytes_of(tag);
	m.a.basic_consume.no_ack = no_ack;
	m.a.basic_consume.no_wait = true;
	ck_assert_int_eq(handle_basic(ch, &m), 0);
	struct consumer *cons = strmap_get(&ch->consumers, tag, strlen(tag));
	ck_assert_ptr_nonnull(cons);
	return cons;
}

/* ---- reading what the broker sent ---- */

/* One method frame, with its content's body when it carries one. */
struct out {
	uint32_t id;
	uint16_t ch;
	uint64_t tag;
	bool redelivered;
	uint32_t message_count;
	char ctag[32];
	char body[32];
	char reason[32]; /* connection.blocked */
};

#define MAXOUT 256
static struct out outs[MAXOUT];
static uint8_t rbuf[1 << 20];

static inline void copy_str(char *dst, size_t cap, struct bytes b)
{
	size_t n = b.len < cap - 1 ? b.len : cap - 1;
	memcpy(dst, b.p, n);
	dst[n] = 0;
}

/* Runs a turn, reads everything the broker wrote, and decodes it into
 * outs[]. Returns the number of methods. Fails on anything malformed or
 * cut short: each turn writes whole frames. */
static inline int got(void)
{
	turn();
	size_t len = 0;
	for (;;) {
		ssize_t n = read(peer, rbuf + len, sizeof rbuf - len);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	ck_assert_uint_lt(len, sizeof rbuf);
	int nout = 0;
	size_t off = 0;
	while (off < len) {
		struct frame f;
		long used = frame_parse(rbuf + off, len - off, 0, &f);
		ck_assert_int_gt(used, 0);
		off += (size_t)used;
		ck_assert_uint_eq(f.type, FRAME_METHOD);
		struct amqp_method m;
		ck_assert_int_eq(method_decode(f.payload, f.size, &m), 0);
		ck_assert_int_lt(nout, MAXOUT);
		struct out *o = &outs[nout++];
		memset(o, 0, sizeof *o);
		o->id = m.id;
		o->ch = f.channel;
		switch (m.id) {
		case AMQP_BASIC_DELIVER:
			o->tag = m.a.basic_deliver.delivery_tag;
			o->redelivered = m.a.basic_deliver.redelivered;
			copy_str(o->ctag, sizeof o->ctag, m.a.basic_deliver.consumer_tag);
			break;
		case AMQP_BASIC_GET_OK:
			o->tag = m.a.basic_get_ok.delivery_tag;
			o->redelivered = m.a.basic_get_ok.redelivered;
			o->message_count = m.a.basic_get_ok.message_count;
			break;
		case AMQP_BASIC_CANCEL:
			copy_str(o->ctag, sizeof o->ctag, m.a.basic_cancel.consumer_tag);
			break;
		case AMQP_CONNECTION_BLOCKED:
			copy_str(o->reason, sizeof o->reason, m.a.connection_blocked.reason);
			break;
		default: break;
		}
		if (m.id != AMQP_BASIC_DELIVER && m.id != AMQP_BASIC_GET_OK &&
		    m.id != AMQP_BASIC_RETURN)
			continue;
		/* The content: a header, then bodies on the same channel. */
		long h = frame_parse(rbuf + off, len - off, 0, &f);
		ck_assert_int_gt(h, 0);
		off += (size_t)h;
		ck_assert_uint_eq(f.type, FRAME_HEADER);
		ck_assert_uint_eq(f.channel, o->ch);
		struct content_header hd;
		ck_assert_int_eq(content_header_decode(f.payload, f.size, &hd), 0);
		uint64_t have = 0;
		while (have < hd.body_size) {
			long b = frame_parse(rbuf + off, len - off, 0, &f);
			ck_assert_int_gt(b, 0);
			off += (size_t)b;
			ck_assert_uint_eq(f.type, FRAME_BODY);
			size_t room = have < sizeof o->body - 1 ? sizeof o->body - 1 - have : 0;
			if (room)
				memcpy(o->body + have, f.payload, f.size < room ? f.size : room);
			have += f.size;
		}
		ck_assert_uint_eq(have, hd.body_size);
	}
	return nout;
}

#endif
