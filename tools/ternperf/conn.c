/* conn.c — ternperf's connections: non-blocking sockets in one epoll set,
 * the AMQP connection and channel classes (spec §1.4.2, §1.5.2), and the
 * read/write paths. A read takes everything the socket has into one shared
 * 1 MiB buffer and dispatches every complete frame; writes collect in each
 * connection's buffer and go out once per loop turn (conn_flush_all), as
 * one write() or, over amqps://, one SSL_write (tls.c) per flush. */
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "protocol/frame.h"
#include "protocol/table.h"
#include "tools/ternperf/perf.h"
#include "util/xalloc.h"

/* Our frame_max offer: RabbitMQ's default, and small enough that a partial
 * frame always fits beside a full read in the shared buffer. */
#define OUR_FRAME_MAX 131072
#define RBUF_SIZE (1u << 20)

static int epfd = -1;
static struct conn **dirty;
static int ndirty;
static uint8_t *rbuf;
static struct addrinfo *addr;
static struct wbuf client_props; /* encoded once; starts with its length */

static void build_client_props(void)
{
	struct wbuf *w = &client_props;
	size_t t = tw_begin(w);
	tw_key(w, "product");
	tv_str(w, "ternperf");
	tw_key(w, "platform");
	tv_str(w, "C11");
	tw_key(w, "capabilities");
	tv_table_letter(w);
	size_t caps = tw_begin(w);
	static const char *const cap_names[] = {
		"publisher_confirms",           "basic.nack",
		"connection.blocked",           "consumer_cancel_notify",
		"authentication_failure_close",
	};
	for (size_t i = 0; i < sizeof cap_names / sizeof cap_names[0]; i++) {
		tw_key(w, cap_names[i]);
		tv_bool(w, true);
	}
	tw_end(w, caps);
	tw_end(w, t);
}

void conn_loop_init(void)
{
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0) {
		perror("ternperf: epoll_create1");
		exit(2);
	}
	dirty = xcalloc((size_t)perf.nconns, sizeof *dirty);
	rbuf = xmalloc(RBUF_SIZE);
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
	int rc = getaddrinfo(perf.cfg.host, perf.cfg.port, &hints, &addr);
	if (rc) {
		fprintf(stderr, "ternperf: %s:%s: %s\n", perf.cfg.host, perf.cfg.port,
			gai_strerror(rc));
		exit(2);
	}
	build_client_props();
	if (perf.cfg.tls)
		tls_init();
}

int conn_loop_fd(void)
{
	return epfd;
}

void conn_init(struct conn *c, int id, enum role role)
{
	memset(c, 0, sizeof *c);
	c->fd = -1;
	c->id = id;
	c->role = role;
	c->state = CS_IDLE;
	c->frame_max = OUR_FRAME_MAX;
}

static void set_events(struct conn *c, bool out)
{
	struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0u), .data.ptr = c};
	epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
	c->want_out = out;
}

/* Closes the socket; the connection is finished whatever state it was in. */
static void conn_drop(struct conn *c)
{
	tls_free(c);
	if (c->fd >= 0) {
		epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
		c->fd = -1;
	}
	if (c->state != CS_DONE) {
		c->state = CS_DONE;
		perf_conn_done(c);
	}
}

int conn_connect(struct conn *c)
{
	int fd = socket(addr->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		perf_fatal("socket: %s", strerror(errno));
		return -1;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(fd, addr->ai_addr, addr->ai_addrlen) < 0 && errno != EINPROGRESS) {
		perf_fatal("connect %s:%s: %s", perf.cfg.host, perf.cfg.port, strerror(errno));
		close(fd);
		return -1;
	}
	c->fd = fd;
	c->state = CS_CONNECTING;
	struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
	epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
	c->want_out = true;
	return 0;
}

struct wbuf *conn_out(struct conn *c)
{
	if (!c->dirty) {
		c->dirty = true;
		dirty[ndirty++] = c;
	}
	return &c->out;
}

size_t conn_pending(const struct conn *c)
{
	return c->out.len - c->sent;
}

void conn_method(struct conn *c, const struct amqp_method *m)
{
	uint16_t ch = METHOD_CLASS(m->id) == AMQP_CLASS_CONNECTION ? 0 : PERF_CHANNEL;
	method_put(conn_out(c), ch, m);
}

static ssize_t io_write(struct conn *c, const uint8_t *p, size_t n)
{
	return c->ssl ? tls_write(c, p, n) : write(c->fd, p, n);
}

static const char *io_strerror(const struct conn *c, int err)
{
	return c->ssl ? tls_strerror(err) : strerror(err);
}

/* Writes what c has pending; arms EPOLLOUT when the socket is full. */
static void conn_flush(struct conn *c)
{
	while (c->fd >= 0 && c->sent < c->out.len) {
		ssize_t n = io_write(c, c->out.p + c->sent, c->out.len - c->sent);
		if (n > 0) {
			c->sent += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (!c->want_out)
				set_events(c, true);
			return;
		}
		if (c->state < CS_CLOSE_CH)
			perf_fatal("connection %d: write: %s", c->id, io_strerror(c, errno));
		conn_drop(c);
		return;
	}
	c->out.len = c->sent = 0;
	if (c->fd >= 0 && c->want_out && c->state > CS_TLS && !c->tls_rd_out)
		set_events(c, false);
}

void conn_flush_all(void)
{
	for (int i = 0; i < ndirty; i++) {
		dirty[i]->dirty = false;
		conn_flush(dirty[i]);
	}
	ndirty = 0;
}

void conn_close(struct conn *c)
{
	if (c->state == CS_DONE || c->state == CS_IDLE) {
		c->state = CS_DONE;
		return;
	}
	if (c->state < CS_READY) {
		conn_drop(c); /* nothing open worth a polite goodbye */
		return;
	}
	if (c->state != CS_READY)
		return; /* already closing */
	struct amqp_method m = {.id = AMQP_CHANNEL_CLOSE};
	m.a.channel_close.reply_code = AMQP_REPLY_SUCCESS;
	m.a.channel_close.reply_text = bytes_of("bye");
	conn_method(c, &m);
	c->state = CS_CLOSE_CH;
}

static void send_connection_close(struct conn *c)
{
	struct amqp_method m = {.id = AMQP_CONNECTION_CLOSE};
	m.a.connection_close.reply_code = AMQP_REPLY_SUCCESS;
	m.a.connection_close.reply_text = bytes_of("bye");
	conn_method(c, &m);
	c->state = CS_CLOSE;
}

/* Appends the string property `key` of the server's properties to
 * perf.server, keeping only characters safe to print inside JSON. */
static void note_server(struct bytes props, const char *key)
{
	struct fvalue v;
	struct bytes b;
	if (!table_get(props, key, &v) || !fvalue_str(&v, &b))
		return;
	size_t n = strlen(perf.server);
	if (n && n + 1 < sizeof perf.server)
		perf.server[n++] = ' ';
	for (uint32_t i = 0; i < b.len && n + 1 < sizeof perf.server; i++) {
		char ch = (char)b.p[i];
		if (isalnum((unsigned char)ch) || strchr(" .-_+", ch))
			perf.server[n++] = ch;
	}
	perf.server[n] = 0;
}

/* Is `name` one of the space-separated words of `list`? */
static bool offers(struct bytes list, const char *name)
{
	size_t n = strlen(name);
	const char *p = (const char *)list.p, *end = p + list.len;
	while (p < end) {
		const char *sp = memchr(p, ' ', (size_t)(end - p));
		const char *we = sp ? sp : end;
		if ((size_t)(we - p) == n && !memcmp(p, name, n))
			return true;
		p = we + 1;
	}
	return false;
}

static void on_start(struct conn *c, const struct amqp_connection_start *s)
{
	if (c->id == 0) {
		note_server(s->server_properties, "product");
		note_server(s->server_properties, "version");
	}
	const char *mech = perf.cfg.external ? "EXTERNAL" : "PLAIN";
	if (!offers(s->mechanisms, mech)) {
		perf_fatal("server does not offer %s authentication (it offers %.*s)", mech,
			   (int)s->mechanisms.len, (const char *)s->mechanisms.p);
		return;
	}
	struct amqp_method m = {.id = AMQP_CONNECTION_START_OK};
	m.a.connection_start_ok.client_properties =
		(struct bytes){client_props.p + 4, (uint32_t)client_props.len - 4};
	m.a.connection_start_ok.mechanism = bytes_of(mech);
	m.a.connection_start_ok.locale = bytes_of("en_US");
	if (perf.cfg.external) {
		/* An empty response: the server takes the name from the client
		 * certificate (RabbitMQ's ssl_cert_login_from). */
		m.a.connection_start_ok.response = bytes_of("");
		conn_method(c, &m);
		c->state = CS_TUNE;
		return;
	}
	/* PLAIN: the response is "\0user\0password". */
	size_t ul = strlen(perf.cfg.user), pl = strlen(perf.cfg.pass);
	uint8_t *resp = xmalloc(ul + pl + 2);
	resp[0] = 0;
	memcpy(resp + 1, perf.cfg.user, ul);
	resp[ul + 1] = 0;
	memcpy(resp + ul + 2, perf.cfg.pass, pl);
	m.a.connection_start_ok.response = (struct bytes){resp, (uint32_t)(ul + pl + 2)};
	conn_method(c, &m);
	free(resp);
	c->state = CS_TUNE;
}

static void on_tune(struct conn *c, const struct amqp_connection_tune *t)
{
	uint32_t fm = t->frame_max && t->frame_max < OUR_FRAME_MAX ? t->frame_max : OUR_FRAME_MAX;
	c->frame_max = fm;
	/* Heartbeats off: every connection here is either busy or short-lived,
	 * and a missed beat would only add noise to the measurement. */
	struct amqp_method m = {.id = AMQP_CONNECTION_TUNE_OK};
	m.a.connection_tune_ok.channel_max = t->channel_max;
	m.a.connection_tune_ok.frame_max = fm;
	m.a.connection_tune_ok.heartbeat = 0;
	conn_method(c, &m);
	m = (struct amqp_method){.id = AMQP_CONNECTION_OPEN};
	m.a.connection_open.virtual_host = bytes_of(perf.cfg.vhost);
	conn_method(c, &m);
	c->state = CS_OPEN;
}

/* Methods on channel 0. Returns 0, or -1 after reporting a failure. */
static int on_connection_method(struct conn *c, const struct amqp_method *m)
{
	switch (m->id) {
	case AMQP_CONNECTION_START:
		if (c->state != CS_START)
			break;
		on_start(c, &m->a.connection_start);
		return 0;
	case AMQP_CONNECTION_TUNE:
		if (c->state != CS_TUNE)
			break;
		on_tune(c, &m->a.connection_tune);
		return 0;
	case AMQP_CONNECTION_OPEN_OK: {
		if (c->state != CS_OPEN)
			break;
		struct amqp_method o = {.id = AMQP_CHANNEL_OPEN};
		conn_method(c, &o);
		c->state = CS_CHANNEL;
		return 0;
	}
	case AMQP_CONNECTION_CLOSE: {
		const struct amqp_connection_close *cl = &m->a.connection_close;
		struct amqp_method ok = {.id = AMQP_CONNECTION_CLOSE_OK};
		conn_method(c, &ok);
		conn_flush(c);
		if (perf.phase < PH_CLOSE || cl->reply_code != AMQP_REPLY_SUCCESS)
			perf_fatal("connection %d closed by server: %u %.*s", c->id, cl->reply_code,
				   (int)cl->reply_text.len, (const char *)cl->reply_text.p);
		conn_drop(c);
		return 0;
	}
	case AMQP_CONNECTION_CLOSE_OK: conn_drop(c); return 0;
	case AMQP_CONNECTION_BLOCKED:
		if (!c->blocked)
			perf.st.blocked_events++;
		c->blocked = true;
		return 0;
	case AMQP_CONNECTION_UNBLOCKED: c->blocked = false; return 0;
	default: break;
	}
	perf_fatal("connection %d: unexpected %s in state %d", c->id, method_name(m->id), c->state);
	return -1;
}

static void role_start(struct conn *c)
{
	switch (c->role) {
	case ROLE_SETUP: setup_start(c); break;
	case ROLE_PRODUCER: producer_start(c); break;
	case ROLE_CONSUMER:
	case ROLE_DUPLEX: consumer_start(c); break; /* then producer_start */
	}
}

static int on_channel_method(struct conn *c, const struct amqp_method *m)
{
	switch (m->id) {
	case AMQP_CHANNEL_OPEN_OK:
		if (c->state != CS_CHANNEL)
			break;
		c->state = CS_READY;
		role_start(c);
		return 0;
	case AMQP_CHANNEL_FLOW: {
		c->flow_off = !m->a.channel_flow.active;
		struct amqp_method ok = {.id = AMQP_CHANNEL_FLOW_OK};
		ok.a.channel_flow_ok.active = m->a.channel_flow.active;
		conn_method(c, &ok);
		return 0;
	}
	case AMQP_CHANNEL_CLOSE: {
		const struct amqp_channel_close *cl = &m->a.channel_close;
		struct amqp_method ok = {.id = AMQP_CHANNEL_CLOSE_OK};
		conn_method(c, &ok);
		bool ours = c->state == CS_CLOSE_CH && cl->reply_code == AMQP_REPLY_SUCCESS;
		send_connection_close(c); /* first: perf_fatal closes what is open */
		if (!ours)
			perf_fatal("connection %d: channel closed by server: %u %.*s (on %s)",
				   c->id, cl->reply_code, (int)cl->reply_text.len,
				   (const char *)cl->reply_text.p,
				   method_name(METHOD_ID(cl->class_id, cl->method_id)));
		return 0;
	}
	case AMQP_CHANNEL_CLOSE_OK:
		if (c->state == CS_CLOSE)
			return 0; /* our close crossed the server's */
		if (c->state != CS_CLOSE_CH)
			break;
		send_connection_close(c);
		return 0;
	default:
		if (c->state == CS_CLOSE_CH || c->state == CS_CLOSE)
			return 0; /* in flight before our close: drop (spec §1.5.2.5) */
		if (c->state != CS_READY)
			break;
		switch (c->role) {
		case ROLE_SETUP: return setup_on_method(c, m);
		case ROLE_PRODUCER: return producer_on_method(c, m);
		case ROLE_CONSUMER: return consumer_on_method(c, m);
		case ROLE_DUPLEX:
			return consumer_method(m->id) ? consumer_on_method(c, m)
						      : producer_on_method(c, m);
		}
	}
	perf_fatal("connection %d: unexpected %s in state %d", c->id, method_name(m->id), c->state);
	return -1;
}

static int dispatch(struct conn *c, const struct frame *f, uint64_t now)
{
	if (f->type == FRAME_HEARTBEAT)
		return 0;
	if (f->type != FRAME_METHOD) {
		if (c->state != CS_READY)
			return 0; /* deliveries racing our channel.close */
		if ((c->role == ROLE_CONSUMER || c->role == ROLE_DUPLEX) &&
		    f->channel == PERF_CHANNEL)
			return consumer_on_content(c, f->type, f->payload, f->size, now);
		if (c->role == ROLE_PRODUCER)
			return 0; /* a returned message's content: counted already */
		perf_fatal("connection %d: unexpected content frame", c->id);
		return -1;
	}
	struct amqp_method m;
	int rc = method_decode(f->payload, f->size, &m);
	if (rc) {
		perf_fatal("connection %d: undecodable method (%d %s)", c->id, rc,
			   amqp_reply_name(rc));
		return -1;
	}
	if (f->channel == 0)
		return on_connection_method(c, &m);
	if (f->channel != PERF_CHANNEL) {
		perf_fatal("connection %d: %s on channel %u", c->id, method_name(m.id), f->channel);
		return -1;
	}
	return on_channel_method(c, &m);
}

/* Reads what the socket holds and dispatches every complete frame; a
 * trailing partial frame is kept in c->carry until the next read. Returns
 * true when TLS may hold more already taken off the socket: epoll will
 * not report that, so the caller reads again. */
static bool conn_read(struct conn *c)
{
	size_t have = c->carry_len;
	if (have)
		memcpy(rbuf, c->carry, have);
	bool more = false;
	ssize_t n = c->ssl ? tls_read(c, rbuf + have, RBUF_SIZE - have, &more)
			   : read(c->fd, rbuf + have, RBUF_SIZE - have);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
		if (c->tls_rd_out && !c->want_out)
			set_events(c, true);
		return false;
	}
	if (n <= 0) {
		if (c->state < CS_CLOSE_CH || perf.phase < PH_CLOSE)
			perf_fatal("connection %d: %s", c->id,
				   n == 0 ? "closed by server" : io_strerror(c, errno));
		conn_drop(c);
		return false;
	}
	uint64_t now = now_ns(); /* one arrival time for the whole chunk */
	size_t len = have + (size_t)n, off = 0;
	while (c->fd >= 0 && off < len) {
		struct frame f;
		long used = frame_parse(rbuf + off, len - off, c->frame_max, &f);
		if (used == 0)
			break;
		if (used < 0) {
			perf_fatal("connection %d: bad frame from server: %s", c->id, f.why);
			conn_drop(c);
			return false;
		}
		off += (size_t)used;
		if (dispatch(c, &f, now) < 0) {
			conn_close(c);
			break;
		}
	}
	c->carry_len = 0;
	if (c->fd < 0)
		return false;
	if (off >= len)
		return more;
	size_t left = len - off;
	if (left > c->carry_cap) {
		c->carry_cap = left < 4096 ? 4096 : left;
		c->carry = xrealloc(c->carry, c->carry_cap);
	}
	memcpy(c->carry, rbuf + off, left);
	c->carry_len = left;
	return more;
}

/* The transport is up (TCP, or TLS over it): AMQP begins. */
static void start_amqp(struct conn *c)
{
	c->state = CS_START;
	wb_add(conn_out(c), protocol_header, PROTOCOL_HEADER_LEN);
	set_events(c, false);
}

/* One step of the TLS handshake; EPOLLOUT armed only while it wants it. */
static void conn_handshake(struct conn *c)
{
	int rc = tls_handshake(c);
	if (rc < 0)
		conn_drop(c);
	else if (rc == 0 && c->tls_rd_out != c->want_out)
		set_events(c, c->tls_rd_out);
	else if (rc == 1)
		start_amqp(c);
}

void conn_on_event(struct conn *c, uint32_t events)
{
	if (c->fd < 0)
		return;
	if (c->state == CS_CONNECTING) {
		int err = 0;
		socklen_t l = sizeof err;
		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
		if (err || (events & (EPOLLERR | EPOLLHUP))) {
			perf_fatal("connect %s:%s: %s", perf.cfg.host, perf.cfg.port,
				   strerror(err ? err : ECONNREFUSED));
			conn_drop(c);
			return;
		}
		if (!(events & EPOLLOUT))
			return;
		if (!perf.cfg.tls) {
			start_amqp(c);
			return;
		}
		if (tls_start(c) < 0) {
			conn_drop(c);
			return;
		}
		c->state = CS_TLS;
	}
	if (c->state == CS_TLS) {
		conn_handshake(c);
		return;
	}
	/* Over TLS a read may wait for EPOLLOUT and a write for EPOLLIN. */
	if ((events & (EPOLLIN | EPOLLERR | EPOLLHUP)) || (c->tls_rd_out && (events & EPOLLOUT)))
		while (conn_read(c))
			;
	if (c->fd >= 0 && ((events & EPOLLOUT) || (c->tls_wr_in && (events & EPOLLIN))))
		conn_flush(c);
}
