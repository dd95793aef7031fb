/* loadgen-c — a second load generator independent of ternperf: C, on the
 * stock rabbitmq-c client (Debian's librabbitmq, 0.11), used through its
 * public API as an application would. tools/loadgen (Go, amqp091-go) runs
 * the same scenarios, but its client costs about 12 us of CPU a message and
 * caps S3 near 63k msg/s; this one costs about 5 us a message (with -batch,
 * most of it the kernel's send()). It prints one JSON object per scenario on
 * stdout, with tools/loadgen's keys (and each thread's CPU share):
 *
 *   S3   durable queue loadgen-c-S3, persistent 16 B messages, publisher
 *        confirms with at most 100 unconfirmed; one consumer on its own
 *        connection (prefetch 1000, a multiple ack every 100)
 *   S3k  the same with no consumer: every message must be written
 *   S2   S3 with a transient queue and transient messages
 *
 *   loadgen-c [-uri amqp://guest:guest@127.0.0.1:5672/] [-scenarios S3,S3k]
 *             [-seconds 10] [-wait 30] [-batch=false]
 *
 * -batch (the default, as in tools/loadgen): rabbitmq-c sends each message
 * as three send()s, the last without MSG_MORE, so every message leaves as a
 * TCP segment of its own; over loopback on this machine that costs the
 * generator about 14 us of CPU a message, mostly in the kernel. With -batch the publisher corks its socket (TCP_CORK on the fd
 * from amqp_get_sockfd) while it fills the window and uncorks it before it
 * waits for confirms: the window goes out in full segments, as ternperf
 * writes it, which the broker cannot tell from a faster client.
 *
 * One thread per connection, as rabbitmq-c's blocking API wants: the main
 * thread publishes and reads confirms on its connection, a second thread
 * consumes on the other. Every wait for the broker is bounded by -wait
 * seconds: a broker that stops confirming makes this exit 1, not hang. */
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>

/* rabbitmq-c 0.12 moved its headers into rabbitmq-c/; Debian 12's 0.11 has
 * them at the top of /usr/include. */
#if defined(__has_include) && __has_include(<rabbitmq-c/amqp.h>)
#include <rabbitmq-c/amqp.h>
#include <rabbitmq-c/tcp_socket.h>
#else
#include <amqp.h>
#include <amqp_tcp_socket.h>
#endif

enum {
	ADMIN_CH = 1,     /* queue.declare and queue.delete */
	PUB_CH = 2,       /* publishing, in confirm mode */
	CONS_CH = 1,      /* on the consumer's own connection */
	WINDOW = 100,     /* unconfirmed messages at most */
	PREFETCH = 1000,  /* the consumer's basic.qos */
	ACK_EVERY = 100,  /* the consumer acks with multiple every this many */
	BODY_SIZE = 16,
	DRAIN_SECONDS = 5 /* how long the consumer may take for the rest */
};

static const char *opt_uri = "amqp://guest:guest@127.0.0.1:5672/";
static const char *opt_scenarios = "S3,S3k";
static double opt_seconds = 10;
static int opt_wait = 30;
static bool opt_batch = true;
static struct amqp_connection_info target; /* opt_uri, parsed */

static void fail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("loadgen-c: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static struct timeval tv_of_ns(int64_t ns)
{
	if (ns < 0)
		ns = 0;
	return (struct timeval){.tv_sec = ns / 1000000000, .tv_usec = ns % 1000000000 / 1000};
}

/* cpu_seconds: of every thread of the process (RUSAGE_SELF) or of the
 * calling one (RUSAGE_THREAD). */
static double cpu_seconds(int who)
{
	struct rusage ru;
	getrusage(who, &ru);
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
	       ru.ru_stime.tv_usec / 1e6;
}

/* close_text: "CODE TEXT" of a connection.close or channel.close. */
static const char *close_text(amqp_method_t m, char *buf, size_t n)
{
	if (m.id == AMQP_CONNECTION_CLOSE_METHOD) {
		amqp_connection_close_t *c = m.decoded;
		snprintf(buf, n, "the server closed the connection: %u %.*s", c->reply_code,
			 (int)c->reply_text.len, (const char *)c->reply_text.bytes);
	} else if (m.id == AMQP_CHANNEL_CLOSE_METHOD) {
		amqp_channel_close_t *c = m.decoded;
		snprintf(buf, n, "the server closed the channel: %u %.*s", c->reply_code,
			 (int)c->reply_text.len, (const char *)c->reply_text.bytes);
	} else {
		snprintf(buf, n, "unexpected method 0x%08x from the server", (unsigned)m.id);
	}
	return buf;
}

/* check fails naming the step and what the server or the library said. */
static void check(amqp_rpc_reply_t r, const char *step)
{
	char buf[512];
	switch (r.reply_type) {
	case AMQP_RESPONSE_NORMAL:
		return;
	case AMQP_RESPONSE_SERVER_EXCEPTION:
		fail("%s: %s", step, close_text(r.reply, buf, sizeof buf));
	case AMQP_RESPONSE_LIBRARY_EXCEPTION:
		fail("%s: %s", step, amqp_error_string2(r.library_error));
	default:
		fail("%s: no reply", step);
	}
}

static amqp_connection_state_t dial(void)
{
	amqp_connection_state_t c = amqp_new_connection();
	amqp_socket_t *s = c ? amqp_tcp_socket_new(c) : NULL;
	if (!s)
		fail("connect: out of memory");
	struct timeval tv = {.tv_sec = opt_wait};
	int rc = amqp_socket_open_noblock(s, target.host, target.port, &tv);
	if (rc != AMQP_STATUS_OK)
		fail("connect %s:%d: %s", target.host, target.port, amqp_error_string2(rc));
	amqp_set_handshake_timeout(c, &tv);
	amqp_set_rpc_timeout(c, &tv); /* no RPC below may hang on a silent broker */
	/* Heartbeats off: runs are short, and the library would only send them
	 * from inside its own calls anyway. */
	check(amqp_login(c, target.vhost, 0, AMQP_DEFAULT_FRAME_SIZE, 0, AMQP_SASL_METHOD_PLAIN,
			 target.user, target.password),
	      "login");
	return c;
}

static void open_channel(amqp_connection_state_t c, amqp_channel_t ch)
{
	amqp_channel_open(c, ch);
	check(amqp_get_rpc_reply(c), "channel.open");
}

static void hangup(amqp_connection_state_t c)
{
	amqp_connection_close(c, AMQP_REPLY_SUCCESS);
	amqp_destroy_connection(c);
}

/* server names the broker as its connection.start does ("RabbitMQ 3.10.8"). */
static void server(amqp_connection_state_t c, char *buf, size_t n)
{
	const amqp_table_t *t = amqp_get_server_properties(c);
	amqp_bytes_t product = amqp_empty_bytes, version = amqp_empty_bytes;
	for (int i = 0; t && i < t->num_entries; i++) {
		const amqp_table_entry_t *e = &t->entries[i];
		if (e->value.kind != AMQP_FIELD_KIND_UTF8 && e->value.kind != AMQP_FIELD_KIND_BYTES)
			continue;
		if (e->key.len == 7 && !memcmp(e->key.bytes, "product", 7))
			product = e->value.value.bytes;
		else if (e->key.len == 7 && !memcmp(e->key.bytes, "version", 7))
			version = e->value.value.bytes;
	}
	snprintf(buf, n, "%.*s%s%.*s", (int)product.len, (const char *)product.bytes,
		 product.len && version.len ? " " : "", (int)version.len, (const char *)version.bytes);
}

/* declare makes a fresh queue, deleting one an earlier run left. */
static void declare(amqp_connection_state_t c, const char *queue, bool durable)
{
	amqp_queue_delete(c, ADMIN_CH, amqp_cstring_bytes(queue), 0, 0);
	check(amqp_get_rpc_reply(c), "queue.delete (of an earlier run's queue)");
	amqp_queue_declare(c, ADMIN_CH, amqp_cstring_bytes(queue), 0, durable, 0, 0,
			   amqp_empty_table);
	check(amqp_get_rpc_reply(c), "queue.declare");
}

/* --- the publisher: confirms by delivery tag ---------------------------- */

struct publisher {
	amqp_connection_state_t c;
	int64_t *t;       /* by delivery tag - 1: send time; once confirmed, its latency */
	uint8_t *state;   /* by delivery tag - 1: 0 unconfirmed, 1 acked, 2 nacked */
	size_t cap, published;
	size_t low;       /* every index below it is confirmed */
	size_t acked, nacked;
};

static size_t pending(const struct publisher *p)
{
	return p->published - p->acked - p->nacked;
}

/* settle takes a basic.ack or basic.nack: with multiple, every unconfirmed
 * tag up to tag; a tag confirmed twice counts once. Returns how many it
 * newly confirmed. */
static size_t settle(struct publisher *p, uint64_t tag, bool multiple, bool nack)
{
	if (tag == 0 || tag > p->published)
		fail("basic.%s for delivery tag %" PRIu64 ", but %zu were published",
		     nack ? "nack" : "ack", tag, p->published);
	int64_t now = now_ns();
	size_t n = 0;
	for (size_t i = multiple ? p->low : tag - 1; i < tag; i++) {
		if (p->state[i])
			continue;
		p->state[i] = nack ? 2 : 1;
		p->t[i] = now - p->t[i];
		n++;
	}
	if (nack)
		p->nacked += n;
	else
		p->acked += n;
	while (p->low < p->published && p->state[p->low])
		p->low++;
	return n;
}

/* read_frame reads one frame within tv: how many messages it confirmed, or
 * -1 when none came in time. */
static long read_frame(struct publisher *p, struct timeval tv)
{
	amqp_frame_t f;
	char buf[512];
	int rc = amqp_simple_wait_frame_noblock(p->c, &f, &tv);
	if (rc == AMQP_STATUS_TIMEOUT)
		return -1;
	if (rc != AMQP_STATUS_OK)
		fail("waiting for confirms: %s", amqp_error_string2(rc));
	if (f.frame_type != AMQP_FRAME_METHOD)
		return 0;
	switch (f.payload.method.id) {
	case AMQP_BASIC_ACK_METHOD: {
		amqp_basic_ack_t *a = f.payload.method.decoded;
		return (long)settle(p, a->delivery_tag, a->multiple, false);
	}
	case AMQP_BASIC_NACK_METHOD: {
		amqp_basic_nack_t *a = f.payload.method.decoded;
		return (long)settle(p, a->delivery_tag, a->multiple, true);
	}
	case AMQP_CHANNEL_CLOSE_METHOD:
	case AMQP_CONNECTION_CLOSE_METHOD:
		fail("publishing: %s", close_text(f.payload.method, buf, sizeof buf));
	default:
		return 0; /* nothing else is expected: no mandatory flag, no returns */
	}
}

/* await_confirm waits up to -wait seconds for at least one new confirm. */
static bool await_confirm(struct publisher *p)
{
	int64_t until = now_ns() + (int64_t)opt_wait * 1000000000;
	for (;;) {
		int64_t left = until - now_ns();
		if (left <= 0)
			return false;
		long n = read_frame(p, tv_of_ns(left));
		if (n > 0)
			return true;
		if (n < 0)
			return false;
	}
}

/* cork holds the publisher's writes in the kernel (on) or sends them (off). */
static void cork(struct publisher *p, int on)
{
	if (opt_batch &&
	    setsockopt(amqp_get_sockfd(p->c), IPPROTO_TCP, TCP_CORK, &on, sizeof on) != 0)
		fail("setsockopt TCP_CORK: %s", strerror(errno));
}

static void publish(struct publisher *p, const char *queue, bool persistent)
{
	static const char body[BODY_SIZE];
	if (p->published == p->cap) {
		p->cap = p->cap ? 2 * p->cap : 1 << 16;
		p->t = realloc(p->t, p->cap * sizeof *p->t);
		p->state = realloc(p->state, p->cap);
		if (!p->t || !p->state)
			fail("out of memory for %zu delivery tags", p->cap);
	}
	amqp_basic_properties_t props = {._flags = AMQP_BASIC_DELIVERY_MODE_FLAG,
					 .delivery_mode = persistent ? 2 : 1};
	size_t i = p->published;
	p->t[i] = now_ns();
	p->state[i] = 0;
	int rc = amqp_basic_publish(p->c, PUB_CH, amqp_empty_bytes, amqp_cstring_bytes(queue), 0, 0,
				    &props, (amqp_bytes_t){.len = BODY_SIZE, .bytes = (void *)body});
	if (rc != AMQP_STATUS_OK)
		fail("basic.publish: %s", amqp_error_string2(rc));
	p->published++;
}

/* run publishes for `seconds`, keeping the window full, then waits for the
 * confirms still out (tools/loadgen's publisher.run). */
static void run(struct publisher *p, const char *queue, bool persistent, int64_t ns)
{
	int64_t t0 = now_ns();
	cork(p, 1);
	while (now_ns() - t0 < ns) {
		if (pending(p) >= WINDOW) {
			cork(p, 0);
			if (!await_confirm(p))
				fail("no confirm for %d s (%zu published, %zu confirmed)", opt_wait,
				     p->published, p->acked + p->nacked);
			/* Take the rest that came with it, so the window refills by many. */
			while (pending(p) > 0 &&
			       (amqp_frames_enqueued(p->c) || amqp_data_in_buffer(p->c)))
				if (read_frame(p, tv_of_ns((int64_t)opt_wait * 1000000000)) < 0)
					break;
			amqp_maybe_release_buffers(p->c); /* the decoded frames' memory */
			cork(p, 1);
		}
		publish(p, queue, persistent);
	}
	cork(p, 0);
	while (pending(p) > 0 && await_confirm(p))
		;
}

/* --- the consumer: its own connection and thread ------------------------- */

struct consumer {
	amqp_connection_state_t c;
	pthread_t thread;
	atomic_long delivered;
	atomic_bool stop;
	double cpu_pct; /* the consumer thread's, over its run */
};

static void *consume(void *arg)
{
	struct consumer *k = arg;
	struct timeval tv = {.tv_usec = 100000}; /* to look at stop */
	char buf[512];
	int n = 0;
	double cpu0 = cpu_seconds(RUSAGE_THREAD);
	int64_t t0 = now_ns();
	while (!atomic_load(&k->stop)) {
		amqp_envelope_t e;
		amqp_maybe_release_buffers(k->c);
		amqp_rpc_reply_t r = amqp_consume_message(k->c, &e, &tv, 0);
		if (r.reply_type == AMQP_RESPONSE_NORMAL) {
			atomic_fetch_add(&k->delivered, 1);
			if (++n == ACK_EVERY) {
				int rc = amqp_basic_ack(k->c, CONS_CH, e.delivery_tag, 1);
				if (rc != AMQP_STATUS_OK)
					fail("basic.ack: %s", amqp_error_string2(rc));
				n = 0;
			}
			amqp_destroy_envelope(&e);
			continue;
		}
		if (r.reply_type != AMQP_RESPONSE_LIBRARY_EXCEPTION)
			check(r, "consuming");
		if (r.library_error == AMQP_STATUS_TIMEOUT)
			continue;
		if (r.library_error != AMQP_STATUS_UNEXPECTED_STATE)
			check(r, "consuming");
		/* Some other frame came first: a close is fatal, the rest is noise. */
		amqp_frame_t f;
		int rc = amqp_simple_wait_frame_noblock(k->c, &f, &tv);
		if (rc == AMQP_STATUS_OK && f.frame_type == AMQP_FRAME_METHOD &&
		    (f.payload.method.id == AMQP_CHANNEL_CLOSE_METHOD ||
		     f.payload.method.id == AMQP_CONNECTION_CLOSE_METHOD))
			fail("consuming: %s", close_text(f.payload.method, buf, sizeof buf));
		if (rc != AMQP_STATUS_OK && rc != AMQP_STATUS_TIMEOUT)
			fail("consuming: %s", amqp_error_string2(rc));
	}
	k->cpu_pct = 100 * (cpu_seconds(RUSAGE_THREAD) - cpu0) / ((now_ns() - t0) / 1e9);
	return NULL;
}

static void consumer_start(struct consumer *k, const char *queue)
{
	k->c = dial();
	atomic_init(&k->delivered, 0);
	atomic_init(&k->stop, false);
	open_channel(k->c, CONS_CH);
	amqp_basic_qos(k->c, CONS_CH, 0, PREFETCH, 0);
	check(amqp_get_rpc_reply(k->c), "basic.qos");
	amqp_basic_consume(k->c, CONS_CH, amqp_cstring_bytes(queue), amqp_empty_bytes, 0, 0, 0,
			   amqp_empty_table);
	check(amqp_get_rpc_reply(k->c), "basic.consume");
	int rc = pthread_create(&k->thread, NULL, consume, k);
	if (rc != 0)
		fail("pthread_create: %s", strerror(rc));
}

/* consumer_wait gives the consumer DRAIN_SECONDS to reach want messages,
 * then stops it and closes its connection; how many it got. */
static long consumer_wait(struct consumer *k, long want)
{
	int64_t until = now_ns() + (int64_t)DRAIN_SECONDS * 1000000000;
	while (atomic_load(&k->delivered) < want && now_ns() < until)
		nanosleep(&(struct timespec){.tv_nsec = 10000000}, NULL);
	atomic_store(&k->stop, true);
	pthread_join(k->thread, NULL);
	hangup(k->c);
	return atomic_load(&k->delivered);
}

/* --- a scenario and its JSON -------------------------------------------- */

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/* print_latency: p50/p99/p99.9/max in ms of the confirmed tags' latencies
 * (tools/loadgen's quantiles: index f * n, clamped), or null. */
static void print_latency(struct publisher *p)
{
	size_t n = 0;
	for (size_t i = 0; i < p->published; i++)
		if (p->state[i])
			p->t[n++] = p->t[i]; /* compact: p->t is not needed after this */
	if (n == 0) {
		printf("null");
		return;
	}
	qsort(p->t, n, sizeof *p->t, cmp_i64);
	const double f[] = {0.5, 0.99, 0.999};
	const char *name[] = {"p50", "p99", "p999"};
	printf("{\"max\":%.6g", p->t[n - 1] / 1e6);
	for (int j = 0; j < 3; j++) {
		size_t i = (size_t)(f[j] * n);
		printf(",\"%s\":%.6g", name[j], p->t[i < n ? i : n - 1] / 1e6);
	}
	printf("}");
}

/* print_string writes s as a JSON string. */
static void print_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

/* confirmed is S2, S3 and S3k (tools/loadgen's confirmed()). */
static void confirmed(const char *name, bool with_consumer, bool durable)
{
	double cpu0 = cpu_seconds(RUSAGE_SELF);
	int64_t w0 = now_ns();
	char queue[64], srv[256], client[64];
	snprintf(queue, sizeof queue, "loadgen-c-%s", name);
	snprintf(client, sizeof client, "rabbitmq-c %s", amqp_version());

	struct publisher p = {.c = dial()};
	server(p.c, srv, sizeof srv);
	open_channel(p.c, ADMIN_CH);
	declare(p.c, queue, durable);
	struct consumer k;
	if (with_consumer)
		consumer_start(&k, queue);
	open_channel(p.c, PUB_CH);
	amqp_confirm_select(p.c, PUB_CH);
	check(amqp_get_rpc_reply(p.c), "confirm.select");

	int64_t t0 = now_ns();
	double pub_cpu0 = cpu_seconds(RUSAGE_THREAD);
	run(&p, queue, durable, (int64_t)(opt_seconds * 1e9));
	double el = (now_ns() - t0) / 1e9;
	/* Near 100: the publisher thread, so this client, is the limit. */
	double pub_cpu_pct = 100 * (cpu_seconds(RUSAGE_THREAD) - pub_cpu0) / el;
	long delivered = with_consumer ? consumer_wait(&k, (long)p.published) : 0;
	amqp_queue_delete(p.c, ADMIN_CH, amqp_cstring_bytes(queue), 0, 0);
	check(amqp_get_rpc_reply(p.c), "queue.delete");
	hangup(p.c);
	/* Over the whole scenario, as tools/loadgen measures it, but before the
	 * sort of the latencies below. */
	double cpu_pct = 100 * (cpu_seconds(RUSAGE_SELF) - cpu0) / ((now_ns() - w0) / 1e9);

	printf("{\"batch\":%s,\"client\":", opt_batch ? "true" : "false");
	print_string(client);
	printf(",\"confirm_latency_ms\":");
	print_latency(&p);
	printf(",\"confirmed\":%zu,\"confirmed_per_s\":%.1f", p.acked, p.acked / el);
	if (with_consumer)
		printf(",\"consumer_cpu_pct\":%.1f,\"delivered\":%ld,\"delivered_per_s\":%.1f",
		       k.cpu_pct, delivered, delivered / el);
	printf(",\"loadgen_cpu_pct\":%.1f,\"nacked\":%zu,\"published\":%zu"
	       ",\"publisher_cpu_pct\":%.1f,\"scenario\":",
	       cpu_pct, p.nacked, p.published, pub_cpu_pct);
	print_string(name);
	printf(",\"seconds\":%.3f,\"server\":", el);
	print_string(srv);
	printf("}\n");
	fflush(stdout);
	free(p.t);
	free(p.state);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: loadgen-c [-uri amqp://user:pass@host:port/vhost] [-scenarios S3,S3k]\n"
		   "                 [-seconds 10] [-wait 30] [-batch=false]\n"
		   "  scenarios: S2, S3, S3k (tools/loadgen's); -wait: the longest any one wait\n"
		   "  for the broker may take, in seconds; -batch (default true): cork the\n"
		   "  publisher's socket while it fills the confirm window\n");
}

/* flags: -name value, -name=value, or with two dashes, as Go's flag does. */
static void parse_flags(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (a[0] != '-')
			goto bad;
		a += a[1] == '-' ? 2 : 1;
		if (!strcmp(a, "h") || !strcmp(a, "help")) {
			usage(stdout);
			exit(0);
		}
		const char *eq = strchr(a, '='), *val;
		size_t len = eq ? (size_t)(eq - a) : strlen(a);
		if (len == 5 && !strncmp(a, "batch", 5)) { /* a boolean: -batch or -batch=B */
			if (!eq || !strcmp(eq, "=true") || !strcmp(eq, "=1"))
				opt_batch = true;
			else if (!strcmp(eq, "=false") || !strcmp(eq, "=0"))
				opt_batch = false;
			else
				fail("-batch: want true or false, got \"%s\"", eq + 1);
			continue;
		}
		if (eq)
			val = eq + 1;
		else if (i + 1 < argc)
			val = argv[++i];
		else
			goto bad;
		char *end;
		errno = 0;
		if (len == 3 && !strncmp(a, "uri", 3)) {
			opt_uri = val;
		} else if (len == 9 && !strncmp(a, "scenarios", 9)) {
			opt_scenarios = val;
		} else if (len == 7 && !strncmp(a, "seconds", 7)) {
			opt_seconds = strtod(val, &end);
			if (errno || *end || !(opt_seconds > 0))
				fail("-seconds: want a positive number, got \"%s\"", val);
		} else if (len == 4 && !strncmp(a, "wait", 4)) {
			long w = strtol(val, &end, 10);
			if (errno || *end || w < 1 || w > 3600)
				fail("-wait: want whole seconds from 1 to 3600, got \"%s\"", val);
			opt_wait = (int)w;
		} else {
			goto bad;
		}
	}
	return;
bad:
	usage(stderr);
	exit(2);
}

int main(int argc, char **argv)
{
	parse_flags(argc, argv);
	char *uri = strdup(opt_uri); /* amqp_parse_url cuts it up in place */
	amqp_default_connection_info(&target);
	if (!uri || amqp_parse_url(uri, &target) != AMQP_STATUS_OK)
		fail("-uri %s: not an amqp://user:pass@host:port/vhost URI", opt_uri);
	if (target.ssl)
		fail("-uri %s: amqps:// is not supported", opt_uri);
	/* rabbitmq-c reads "amqp://host/" as vhost ""; amqp091-go (and so
	 * tools/loadgen) as "/", which is what such a URI means in practice. */
	if (!target.vhost[0])
		target.vhost = "/";

	/* Every name first, so a typo does not come after a 10 s run. */
	char *list = strdup(opt_scenarios), *save = NULL;
	int n = 0;
	for (char *s = strtok_r(list, ",", &save); s; s = strtok_r(NULL, ",", &save), n++)
		if (strcmp(s, "S2") && strcmp(s, "S3") && strcmp(s, "S3k"))
			fail("unknown scenario \"%s\" (S2, S3, S3k)", s);
	if (n == 0)
		fail("-scenarios: none given (S2, S3, S3k)");
	strcpy(list, opt_scenarios);
	for (char *s = strtok_r(list, ",", &save); s; s = strtok_r(NULL, ",", &save)) {
		if (!strcmp(s, "S2"))
			confirmed("S2", true, false);
		else if (!strcmp(s, "S3"))
			confirmed("S3", true, true);
		else
			confirmed("S3k", false, true);
	}
	free(list);
	free(uri);
	return 0;
}
