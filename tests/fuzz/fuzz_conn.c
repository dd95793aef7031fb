/* fuzz_conn.c — libFuzzer target over a whole broker connection: the
 * input is what a client sends, from the protocol header through the
 * handshake to channels, content, confirms, tx and close, fed into a real
 * connection (conn_accept on one end of a socketpair) of a broker set up
 * once in-process with its SQLite store in a temporary directory, so
 * durable queues and persistent messages reach the disk.
 *
 * Input: one control octet, then the client's byte stream. The control
 * octet's low two bits say how the stream is written:
 *   0     all at once (the broker reads it in as few calls as it can)
 *   1, 3  one frame at a time (the protocol header first), the loop run
 *         until quiet in between, as a client waiting for replies would:
 *         deliveries come out before the acks recorded after them
 *   2     in chunks of 1 + (octet >> 2) bytes (1..64), loop in between
 * The 4 octets FF 'T' 'O' 'G' in the stream hand what follows to the
 * other of two clients (the second connects at its first segment), so
 * exclusive queues, consumers and publishers on different connections
 * meet. After the stream the clients shut their write sides, the broker
 * sees the EOFs and frees the connections; then everything the input
 * declared is deleted, so no state carries over to the next input.
 *
 * Invariants checked on top of ASan/UBSan/LSan (a broken one aborts):
 * what the broker wrote is well-formed (every complete frame parses
 * within the negotiated frame_max, methods and content headers decode);
 * after the reset no connection, queue, exchange other than the
 * built-ins, or message is left alive.
 *
 * Timers: the one-second broker tick (heartbeats, handshake deadline) is
 * never armed here, and the loop is only ever run non-blocking, so a run
 * never waits; TTLs that fall due while an input runs fire as they would.
 *
 * Seeds: tests/data/fuzz_conn/ (recorded from real clients by
 * tests/fuzz/record_conn.py); dictionary: tests/fuzz/fuzz_conn.dict. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "broker/core/config.h"
#include "broker/core/log.h"
#include "broker/model/definitions.h"
#include "broker/model/ops.h"
#include "broker/model/vhost.h"
#include "broker/net/conn.h"
#include "broker/net/server.h"
#include "broker/queue/message.h"
#include "broker/queue/persist.h"
#include "broker/queue/timer.h"
#include "exchanges/exchange.h"
#include "plugins/tern_plugin.h"
#include "protocol/frame.h"
#include "protocol/method.h"
#include "protocol/props.h"
#include "tests/fuzz/fuzz_check.h"
#include "util/xalloc.h"

extern const struct tern_plugin delayed_plugin;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Loop iterations one settle() may take: enough for a full input to be
 * read and answered, small enough that a connection whose reading is
 * paused (flow control) cannot hold a run for long. */
#define MAX_SPINS 256
#define OUT_KEEP (1u << 20) /* output kept for checking; beyond, only drained */
#define NCLIENTS 2
/* In the stream: what follows goes to the other client (0xff is no
 * frame type, so a real client's stream never has it at a frame start). */
#define SWAP "\xffTOG"

static char dir[64];
static struct vhost *vh;
static size_t builtin_exchanges;

/* A client: its end of the socketpair, and what the broker wrote to it. */
static struct client {
	int fd;             /* the client's end; -1 until it connects */
	int broker_fd;      /* the broker's end, while the broker has it open */
	uint8_t *out;
	size_t out_len;
	bool out_dropped;   /* more than OUT_KEEP came: not checked */
	uint32_t frame_max; /* its connection's, last seen alive */
} clients[NCLIENTS];

static void remove_dir(void)
{
	static const char *const files[] = {"tern.db", "tern.db-wal", "tern.db-shm"};
	char path[128];
	persist_close();
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
		snprintf(path, sizeof path, "%s/%s", dir, files[i]);
		unlink(path);
	}
	rmdir(dir);
}

static void set(const char *name, const char *value)
{
	char err[256];
	if (config_set(name, value, err, sizeof err) < 0) {
		fprintf(stderr, "fuzz_conn: %s\n", err);
		abort();
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	config_defaults();
	log_level = getenv("FUZZ_CONN_LOG") ? LOG_DEBUG : -1;
	/* tmpfs when there is one: commits cost no disk I/O. */
	const char *tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	snprintf(dir, sizeof dir, "%s/tern-fuzz-XXXXXX", tmp);
	if (!mkdtemp(dir)) {
		perror("fuzz_conn: mkdtemp");
		abort();
	}
	set("data_dir", dir);
	set("durability", "normal");
	/* Small, so a few persistent messages in a durable queue already
	 * page out to the store and are read back for delivery. */
	set("memory_budget", "1024");
	/* A content header may claim this much before its body comes. */
	set("max_message_size", "1048576");
	if (delayed_plugin.init() < 0 || server_init_loop() < 0)
		abort();
	exchange_types_init();
	if (persist_open(definitions_recover) < 0)
		abort();
	atexit(remove_dir);
	definitions_first_boot(); /* vhost "/", user guest/guest */
	persist_turn();
	vh = vhost_find(bytes_of("/"));
	FUZZ_ASSERT(vh != NULL);
	builtin_exchanges = vh->exchanges.n;
	return 0;
}

/* ---- the clients' ends ---- */

static struct conn *conn_of(const struct client *cl)
{
	for (struct conn *c = conn_list; c && cl->broker_fd >= 0; c = c->next)
		if (c->fd == cl->broker_fd)
			return c;
	return NULL;
}

static void drain(struct client *cl)
{
	uint8_t buf[65536];
	ssize_t n;
	while ((n = read(cl->fd, buf, sizeof buf)) > 0) {
		if (cl->out_len + (size_t)n > OUT_KEEP) {
			cl->out_dropped = true;
			continue;
		}
		memcpy(cl->out + cl->out_len, buf, (size_t)n);
		cl->out_len += (size_t)n;
	}
	if (n == 0)
		cl->broker_fd = -1; /* closed: its number may be reused */
}

/* True when the broker has nothing left to do with what it was sent. */
static bool quiet(void)
{
	if (event_base_get_num_events(server_base, EVENT_BASE_COUNT_ACTIVE) > 0)
		return false;
	for (struct conn *c = conn_list; c; c = c->next) {
		if (c->state == CONN_DEAD || c->read_paused)
			continue;
		int unread = 0;
		if (ioctl(c->fd, FIONREAD, &unread) < 0 || unread || evbuffer_get_length(c->out))
			return false;
	}
	return true;
}

/* Runs the loop until quiet (bounded), collecting what the broker writes. */
static void settle(void)
{
	for (int i = 0; i < MAX_SPINS; i++) {
		event_base_loop(server_base, EVLOOP_NONBLOCK);
		for (struct client *cl = clients; cl < clients + NCLIENTS; cl++) {
			if (cl->fd < 0)
				continue;
			drain(cl);
			struct conn *c = conn_of(cl);
			if (c && c->state != CONN_DEAD)
				cl->frame_max = c->frame_max;
		}
		if (quiet())
			break;
	}
}

/* Connects client i: the broker's end of a socketpair goes to conn_accept. */
static void connect_client(int i)
{
	struct client *cl = &clients[i];
	int sv[2];
	FUZZ_ASSERT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	cl->fd = sv[1];
	cl->broker_fd = sv[0];
	fcntl(cl->fd, F_SETFL, O_NONBLOCK);
	if (!cl->out)
		cl->out = xmalloc(OUT_KEEP);
	cl->out_len = 0;
	cl->out_dropped = false;
	cl->frame_max = (uint32_t)cfg.frame_max;
	/* A loopback peer, so guest may log in. */
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)(40000 + i)),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	conn_accept(sv[0], (struct sockaddr *)&sa, sizeof sa, NULL); /* plaintext */
}

/* Writes p[0..n) to the broker, running the loop when the socket is full.
 * Returns false when the broker stopped taking bytes. */
static bool feed(struct client *cl, const uint8_t *p, size_t n)
{
	int stuck = 0;
	while (n) {
		ssize_t w = write(cl->fd, p, n);
		if (w > 0) {
			p += w;
			n -= (size_t)w;
			stuck = 0;
			continue;
		}
		if (w < 0 && errno != EAGAIN && errno != EINTR)
			return false; /* the broker closed its end */
		if (++stuck > 4)
			return false; /* not reading (paused): the rest is dropped */
		settle();
	}
	settle();
	return true;
}

/* The next piece in frame-at-a-time mode: the protocol header, then each
 * frame by its declared size (what is left, when that is longer). */
static size_t next_frame(const uint8_t *p, size_t n, bool first)
{
	if (first && n >= PROTOCOL_HEADER_LEN && p[0] == 'A')
		return PROTOCOL_HEADER_LEN;
	if (n < 7)
		return n;
	uint64_t len = (uint64_t)get32(p + 3) + FRAME_OVERHEAD;
	return len < n ? (size_t)len : n;
}

/* Feeds one segment of the stream to cl as the mode says. */
static void feed_segment(struct client *cl, uint8_t mode, const uint8_t *p, size_t n, bool first)
{
	switch (mode & 3) {
	case 0:
		feed(cl, p, n);
		break;
	case 2: {
		size_t chunk = 1 + (mode >> 2);
		for (size_t off = 0; off < n; off += chunk)
			if (!feed(cl, p + off, chunk < n - off ? chunk : n - off))
				break;
		break;
	}
	default:
		for (size_t off = 0; off < n;) {
			size_t k = next_frame(p + off, n - off, first && off == 0);
			if (!feed(cl, p + off, k))
				break;
			off += k;
		}
	}
}

/* Splits the stream at each SWAP: the segments go to the clients in
 * turn, each connecting with its first segment. */
static void feed_all(uint8_t mode, const uint8_t *p, size_t n)
{
	int who = 0;
	bool started[NCLIENTS] = {false};
	while (n) {
		const uint8_t *swap = memmem(p, n, SWAP, sizeof SWAP - 1);
		size_t k = swap ? (size_t)(swap - p) : n;
		if (k) {
			if (clients[who].fd < 0)
				connect_client(who);
			feed_segment(&clients[who], mode, p, k, !started[who]);
			started[who] = true;
		}
		if (!swap)
			break;
		p += k + sizeof SWAP - 1;
		n -= k + sizeof SWAP - 1;
		who = (who + 1) % NCLIENTS;
	}
}

/* ---- checks ---- */

/* Everything the broker wrote to cl: its protocol header alone (the
 * client's was wrong), or frames that decode. The stream may end inside
 * a frame only when the broker dropped the connection with output
 * pending. */
static void check_output(const struct client *cl)
{
	const uint8_t *out = cl->out;
	size_t len = cl->out_len;
	if (cl->out_dropped || !len)
		return;
	if (len >= 4 && !memcmp(out, "AMQP", 4)) {
		FUZZ_ASSERT(len == PROTOCOL_HEADER_LEN &&
			    !memcmp(out, protocol_header, PROTOCOL_HEADER_LEN));
		return;
	}
	size_t off = 0;
	while (off < len) {
		struct frame f;
		long used = frame_parse(out + off, len - off, cl->frame_max, &f);
		if (used < 0)
			fprintf(stderr, "broker wrote a bad frame at %zu of %zu: %s\n", off, len, f.why);
		FUZZ_ASSERT(used >= 0);
		if (used == 0)
			break;
		off += (size_t)used;
		if (f.type == FRAME_METHOD) {
			struct amqp_method m;
			FUZZ_ASSERT(method_decode(f.payload, f.size, &m) == 0);
		} else if (f.type == FRAME_HEADER) {
			struct content_header h;
			FUZZ_ASSERT(content_header_decode(f.payload, f.size, &h) == 0);
		} else if (f.type == FRAME_HEARTBEAT) {
			FUZZ_ASSERT(f.channel == 0);
		}
	}
}

/* ---- reset ---- */

static uint64_t delayed_ids[64];
static size_t ndelayed;

static void on_delayed(void *ctx, uint64_t id, uint64_t due, const char *vhost,
		       struct bytes exchange, struct bytes rkey, struct bytes props, struct bytes body)
{
	if (ndelayed < sizeof delayed_ids / sizeof delayed_ids[0])
		delayed_ids[ndelayed++] = id;
}

/* Deletes every queue and every exchange the input declared, the
 * bindings it made between built-in exchanges (as the broker itself, an
 * actor without a user, through the same operations clients use), and
 * the delayed messages it stored (they never fire here: the plugin's
 * loading window is not started). */
static void reset(void)
{
	do {
		ndelayed = 0;
		FUZZ_ASSERT(persist_delayed_scan(0, (uint64_t)INT64_MAX, on_delayed, NULL) == 0);
		for (size_t i = 0; i < ndelayed; i++)
			persist_delayed_del(delayed_ids[i]);
	} while (ndelayed);
	struct actor self = {0};
	struct op_err e;
	void *v;
	while (vh->queues.n) {
		size_t i = 0;
		strmap_next(&vh->queues, &i, &v);
		struct queue *q = v;
		uint32_t count;
		FUZZ_ASSERT(op_queue_delete(vh, &self, (struct bytes){(uint8_t *)q->name, q->name_len},
					    false, false, &count, &e) == 0);
	}
	for (bool again = true; again;) {
		again = false;
		for (size_t i = 0; strmap_next(&vh->exchanges, &i, &v);) {
			struct bexchange *x = v;
			if (x->builtin) {
				if (!x->nout)
					continue;
				/* Copies: unbinding frees the binding. */
				struct binding *b = x->out[x->nout - 1];
				char key[256];
				uint8_t args[65536];
				FUZZ_ASSERT(b->key_len < sizeof key && b->args.len <= sizeof args);
				memcpy(key, b->key, b->key_len);
				memcpy(args, b->args.p, b->args.len);
				vhost_unbind(vh, x, b->kind, b->dest, (struct bytes){(uint8_t *)key, b->key_len},
					     (struct bytes){args, b->args.len});
			} else {
				FUZZ_ASSERT(op_exchange_delete(vh, &self,
							       (struct bytes){(uint8_t *)x->base.name,
									      x->name_len},
							       false, &e) == 0);
			}
			again = true;
			break;
		}
	}
	settle(); /* commits the deletions */
	/* Deadlines of what was deleted would hold their queues until they
	 * fall due; drop them (nothing else is scheduled here). */
	timer_free();
	timer_init();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	srandom(1); /* server-named queues: the same names every run */
	for (int i = 0; i < NCLIENTS; i++)
		clients[i].fd = clients[i].broker_fd = -1;
	feed_all(data[0], data + 1, size - 1);
	/* The clients go: the broker reads the EOFs and frees the conns. One
	 * whose reading is paused never sees it and is dropped as a write
	 * failure would. */
	for (int i = 0; i < NCLIENTS; i++)
		if (clients[i].fd >= 0)
			shutdown(clients[i].fd, SHUT_WR);
	settle();
	if (conn_list) {
		for (struct conn *c = conn_list; c; c = c->next)
			conn_kill(c);
		settle();
	}
	FUZZ_ASSERT(conn_list == NULL && conn_count == 0);
	for (int i = 0; i < NCLIENTS; i++) {
		if (clients[i].fd < 0)
			continue;
		close(clients[i].fd);
		check_output(&clients[i]);
	}
	reset();
	FUZZ_ASSERT(vh->queues.n == 0 && vh->exchanges.n == builtin_exchanges);
	FUZZ_ASSERT(message_live == 0 && message_bytes == 0);
	return 0;
}
