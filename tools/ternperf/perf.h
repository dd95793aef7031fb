/* perf.h — ternperf's shared types: the run configuration, connections,
 * producers, consumers and the global run state.
 *
 * ternperf is one thread around one epoll loop (main.c). Every connection
 * carries exactly one channel (number 1) and one role; the role decides
 * what happens once the channel is open (setup.c, producer.c, consumer.c).
 * A duplex connection (--duplex) is a producer and a consumer at once, on
 * the same channel: it consumes its own queue and publishes to it. */
#ifndef TERN_TOOLS_TERNPERF_PERF_H
#define TERN_TOOLS_TERNPERF_PERF_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "protocol/method.h"
#include "protocol/wire.h"
#include "tools/ternperf/hist.h"

#define PERF_CHANNEL 1

/* Parsed command line. Owned by main(); strings point into argv or are
 * static defaults, except the URI parts, which uri_parse allocates. */
struct perf_cfg {
	int producers, consumers;
	uint32_t body_size;
	uint32_t confirm;   /* window of unconfirmed publishes; 0 = off */
	uint16_t prefetch;  /* basic.qos prefetch_count; 0 = unlimited */
	uint32_t multi_ack; /* ack with multiple=true every N; <= 1 = each */
	bool auto_ack, persistent, json, cleanup, auto_delete;
	double rate;       /* msgs/s per producer; 0 = unlimited */
	double seconds;    /* run time; 0 = until -C or a signal */
	uint64_t count;    /* messages per producer; 0 = unlimited */
	double drain;      /* bound on waiting for confirms/deliveries */
	const char *queue; /* base queue name */
	int queues;
	const char *exchange, *xtype;
	int connections_only, declare_only;
	int duplex;          /* --duplex N: N connections, each producer and consumer */
	bool topic_patterns; /* bind queue i with topic_pattern(i), publish with topic_key */
	int broker_pid; /* read its VmRSS in reports; 0 = don't */
	int max_priority; /* > 0: x-max-priority queues, priorities 0..N-1 in turn */
	const char *queue_type; /* x-queue-type of the queues declared (quorum), or NULL */
	char *host, *port, *user, *pass, *vhost;
	/* amqps:// and the URI's query parameters (RabbitMQ's names). */
	bool tls;
	bool verify_peer; /* verify=verify_peer, the default */
	bool sni_off;     /* server_name_indication=disable */
	bool external;    /* auth_mechanism=external: the client certificate logs in */
	int depth;        /* certificate chain depth; -1 = OpenSSL's default */
	char *cacertfile, *certfile, *keyfile, *keypass, *sni;
};

enum role { ROLE_SETUP, ROLE_PRODUCER, ROLE_CONSUMER, ROLE_DUPLEX };

/* Connection states, in order; each waits for the named server method.
 *   CONNECTING ─connect()─▶ [TLS ─handshake─▶] START ─start─▶ TUNE ─tune─▶ OPEN ─open-ok─▶
 *   CHANNEL ─channel.open-ok─▶ READY ─(close asked)─▶ CLOSE_CH
 *   ─channel.close-ok─▶ CLOSE ─connection.close-ok─▶ DONE
 * READY covers the role's own setup methods too; the role tracks those. */
enum conn_state {
	CS_IDLE,
	CS_CONNECTING,
	CS_TLS, /* amqps://: the TLS handshake (tls.c) */
	CS_START,
	CS_TUNE,
	CS_OPEN,
	CS_CHANNEL,
	CS_READY,
	CS_CLOSE_CH,
	CS_CLOSE,
	CS_DONE,
};

struct producer;
struct consumer;
struct ssl_st; /* OpenSSL's SSL */

/* One AMQP connection with one channel. Owned by the global conns array;
 * never freed before exit, so pointers to it stay valid all run long. */
struct conn {
	int fd;
	int id;
	enum role role;
	enum conn_state state;
	uint32_t frame_max;
	struct wbuf out; /* frames not yet written */
	size_t sent;     /* bytes of out already written */
	uint8_t *carry;  /* a partial frame left from the last read */
	size_t carry_len, carry_cap;
	bool dirty;      /* on the flush list this turn */
	bool want_out;   /* EPOLLOUT armed: the socket was full */
	bool blocked;    /* connection.blocked received */
	bool flow_off;   /* channel.flow active=false received */
	bool role_ready; /* the role finished its setup methods */
	int step;        /* progress through the role's setup methods */
	struct ssl_st *ssl;                  /* amqps://: the TLS session, else NULL */
	bool tls_rd_out;                     /* a TLS read (or the handshake) waits for EPOLLOUT */
	bool tls_wr_in;                      /* a TLS write waits for EPOLLIN */
	uint8_t tls_first[8], tls_first_len; /* the server's first octets */
	struct {
		struct producer *p; /* ROLE_PRODUCER and ROLE_DUPLEX */
		struct consumer *k; /* ROLE_CONSUMER and ROLE_DUPLEX */
	} u;
};

/* Global run phases, in order (main.c describes them). */
enum phase {
	PH_SETUP,
	PH_CONNECT,
	PH_RUN,
	PH_DRAIN,
	PH_CLOSE,
	PH_CLEANUP,
	PH_FINAL,
	PH_DONE,
};

/* Counters, cumulative since the run started; reports take differences. */
struct perf_stats {
	uint64_t published, confirmed, nacked, delivered, acked;
	uint64_t redelivered, duplicated, foreign, returned, cancelled;
	uint64_t blocked_events;
};

/* Everything global to the run. One instance, `perf`, owned by main.c. */
struct perf {
	struct perf_cfg cfg;
	enum phase phase;
	int nconns;
	struct conn *conns;
	struct producer *prods;
	struct consumer *cons;
	char **qnames;    /* cfg.queues queue names */
	uint16_t run_tag; /* marks this run's bodies among leftovers */
	struct perf_stats st;
	struct hist lat, lat_all;   /* delivery latency: interval, whole run */
	struct hist clat, clat_all; /* confirm latency: interval, whole run */
	uint64_t t0, t_stop;        /* start and end of publishing (ns) */
	uint64_t t_last_deliver, t_last_confirm;
	bool failed; /* a protocol or socket error happened */
	bool drain_timed_out;
	long broker_rss_kb;       /* last reading, -1 when unknown */
	long broker_rss_start_kb; /* reading before the connections opened */
	long broker_rss_setup_kb; /* reading before the setup connection declared */
	uint64_t setup_ns;        /* declaring and binding the queues took this long */
	double broker_cpu_pct;    /* broker's CPU over the run, % of one core; -1: unknown */
	double steal_pct;         /* hypervisor steal over the run, % of all CPU time; -1: unknown */
	char server[64];          /* "RabbitMQ 3.10.8", from connection.start */
	char tls[64];             /* "TLSv1.3 TLS_AES_256_GCM_SHA384"; "" = plaintext */
};

extern struct perf perf;

/* Monotonic clock in nanoseconds. */
uint64_t now_ns(void);

/* Prints "ternperf: " and the message to stderr, marks the run failed and
 * moves it to closing. */
void perf_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* main.c: phase transitions the roles report back. */
void perf_setup_done(void); /* the setup connection's methods all succeeded */
void perf_role_ready(struct conn *c);
void perf_conn_done(struct conn *c);

/* opts.c: parses argv into cfg; exits on --help or a bad flag. */
void opts_parse(struct perf_cfg *cfg, int argc, char **argv);

/* conn.c: connection I/O and the connection/channel classes. */
void conn_init(struct conn *c, int id, enum role role);
int conn_connect(struct conn *c); /* 0 or -1 (fatal reported) */
void conn_on_event(struct conn *c, uint32_t events);
void conn_flush_all(void);                 /* write every dirty connection */
struct wbuf *conn_out(struct conn *c);     /* marks c dirty */
size_t conn_pending(const struct conn *c); /* unwritten bytes */
void conn_method(struct conn *c, const struct amqp_method *m);
void conn_close(struct conn *c); /* start the polite close */
void conn_loop_init(void);
int conn_loop_fd(void);

/* tls.c: amqps://. tls_init exits on a bad certificate or key file;
 * tls_start/tls_handshake return -1 after reporting (perf_fatal);
 * tls_handshake returns 1 when done, 0 while in progress. tls_read and
 * tls_write behave as read()/write() (errno EAGAIN: try again on the next
 * event; tls_strerror names an OpenSSL failure); tls_read sets *more when
 * it filled buf and OpenSSL may hold more. */
void tls_init(void);
int tls_start(struct conn *c);
int tls_handshake(struct conn *c);
ssize_t tls_read(struct conn *c, uint8_t *buf, size_t n, bool *more);
ssize_t tls_write(struct conn *c, const uint8_t *buf, size_t n);
const char *tls_strerror(int err);
void tls_free(struct conn *c);

/* setup.c: the setup connection's declare/bind/delete sequences. */
void setup_start(struct conn *c);
int setup_on_method(struct conn *c, const struct amqp_method *m);
void setup_cleanup(struct conn *c); /* delete queues, then done */
void setup_report_declare_only(void);
/* --topic-patterns: queue i's binding key and a routing key that matches
 * it and no other queue's. Three shapes in turn, so that '#', '*' and
 * literal words are all walked: "a.I.#", "q.I.*", "*.I.z". buf: 32 bytes. */
const char *topic_pattern(uint32_t i, char *buf);
const char *topic_key(uint32_t i, char *buf);

/* producer.c */
void producers_init(void);
void producer_attach(struct conn *c, int id);
void producers_start_clock(uint64_t now);
void producer_start(struct conn *c); /* channel open: confirm.select */
int producer_on_method(struct conn *c, const struct amqp_method *m);
/* Lets every producer publish what it may now; returns when one next could
 * (ns): 0 for "right away" (a turn's budget used up), UINT64_MAX for "on a
 * socket event" (confirm window full, socket full, blocked, done). */
uint64_t producers_pump(uint64_t now);
bool producers_done(void); /* every -C reached */
uint64_t producers_unconfirmed(void);
uint64_t producer_published(int id);

/* consumer.c */
void consumers_init(void);
void consumer_attach(struct conn *c, int id);
void consumer_start(struct conn *c); /* channel open: qos, consume */
int consumer_on_method(struct conn *c, const struct amqp_method *m);
bool consumer_method(uint32_t id); /* is it one consumer_on_method takes? */
int consumer_on_content(struct conn *c, uint8_t type, const uint8_t *p, uint32_t n, uint64_t now);
void consumers_flush_acks(void);   /* ack all delivered so far */
uint64_t consumers_expected(void); /* messages routed to consumed queues */
uint64_t consumers_received(void); /* distinct ones received */
uint64_t consumers_lost(bool final);
void consumers_free(void);

/* report.c */
void report_start(uint64_t now); /* the run begins */
void report_tick(uint64_t now);  /* the one-second line */
void report_end(uint64_t now);   /* drained: snapshot CPU, RSS */
void report_final(void);
long broker_rss(int pid); /* VmRSS in kB, -1 when unknown */

#endif
