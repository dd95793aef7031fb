/* server.h — the event loop, listeners, signals and end-of-turn work.
 *
 * One thread, one libevent event_base. Work that should happen once per
 * loop turn rather than once per frame (delivering from queues, sending
 * batched confirms, writing sockets, freeing dead connections) is put on
 * lists here and run by one low-priority event after all I/O of the turn. */
#ifndef TERN_BROKER_SERVER_H
#define TERN_BROKER_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct queue;
struct channel;
struct conn;

extern struct event_base *server_base;

/* Monotonic milliseconds. */
uint64_t now_ms(void);
/* Wall-clock milliseconds since the epoch (for what outlives a restart). */
uint64_t wall_ms(void);

struct server_opts {
	bool dry_run; /* print the definitions' plan and stop: no listeners */
	/* Write the stored definitions here ("-": stdout) and stop. */
	const char *export_path;
	/* Re-reads the config file on SIGHUP: 0, or -1 with err. NULL when
	 * there is no file. */
	int (*reload_config)(char *err, size_t errlen);
	/* The command line, for a cluster member's re-exec (server_role.c). */
	char *const *argv;
};

/* Sets up the loop, recovers the store, applies load_definitions and
 * opens the listeners. Returns 0, -1 (logged), or -2 when the
 * definitions are refused (the reason printed to stderr). */
int server_init(const struct server_opts *o);
/* Sets up only the event loop and its end-of-turn event (the first step
 * of server_init): no vhosts, store or listeners. Unit tests use it to
 * drive queues and channels; server_free() undoes it. Returns 0 or -1. */
int server_init_loop(void);
/* A cluster member that became the leader: recovers what its store holds
 * and applies load_definitions, as start-up does. 0 or -1. */
int server_promote(void);
/* server_role.c: follows the store's role (store_on_role) from now on:
 * promotes on becoming the leader, re-executes argv to come back as a
 * follower when leadership is lost. */
void server_role_watch(char *const *argv);
/* Runs until SIGINT/SIGTERM, then closes connections with 320. */
int server_run(void);
void server_free(void);

/* An AMQP listener that is open (for /api/overview). */
struct server_listen_info {
	const char *ip;
	int port;
	bool tls; /* listeners.ssl.* */
};
/* The open listeners, in the order they were opened; *out is valid until
 * the next call. */
size_t server_listeners(const struct server_listen_info **out);

void server_defer_queue(struct queue *q);
void server_defer_channel(struct channel *ch);
void server_defer_flush(struct conn *c);
/* A channel whose confirms wait on a store batch: flushed again (through
 * server_defer_channel) once server_commit_done() says a batch ended. */
void server_park_channel(struct channel *ch);
void server_commit_done(void);
/* Wakes the end-of-turn event (for dead connections to be freed). */
void server_defer(void);

#endif
