/* server.c — the event loop: listeners, signals, and the end-of-turn event
 * that delivers from kicked queues, sends batched confirms, writes every
 * connection with pending output once, and frees dead connections. */
#include "broker/net/server.h"
#include "broker/queue/timer.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/resource.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <stdio.h>

#include "broker/model/access.h"
#include "broker/amqp/channel.h"
#include "broker/core/config.h"
#include "broker/net/alarm.h"
#include "broker/net/conn.h"
#include "broker/model/definitions.h"
#include "broker/queue/dlx.h"
#include "broker/queue/flow.h"
#include "broker/core/log.h"
#include "broker/queue/persist.h"
#include "broker/model/policy.h"
#include "broker/queue/queue.h"
#include "broker/model/vhost.h"
#include "broker/net/tls.h"
#include "store/store.h"
#include "util/xalloc.h"

struct event_base *server_base;

/* The AMQP listeners: plaintext ones (bind x port) and AMQPS ones
 * (listeners.ssl.*), whose connections get the current `amqps` context. */
static struct listener {
	struct evconnlistener *l;
	struct server_listen_info info;
	char ip[64];
} listeners[16];
static int nlisteners;
static struct tls_ctx amqps = {.prefix = "ssl_options", .opt = &cfg.ssl};
static struct event *turn_event, *sig_int, *sig_term, *sig_hup;
static int (*reload_config)(char *err, size_t errlen);
static struct queue *kicked;
static struct channel *deferred_channels;
static struct channel *parked_channels; /* waiting on a store batch */
static struct conn *to_flush;
static bool turn_armed;

uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void server_defer(void)
{
	if (!turn_armed) {
		turn_armed = true;
		event_active(turn_event, EV_TIMEOUT, 0);
	}
}

void server_defer_queue(struct queue *q)
{
	q->next_kick = kicked;
	kicked = q;
	server_defer();
}

void server_defer_channel(struct channel *ch)
{
	ch->next_defer = deferred_channels;
	deferred_channels = ch;
	server_defer();
}

void server_park_channel(struct channel *ch)
{
	ch->defer_pending = true; /* it is on a list: channel_free leaves it */
	ch->next_defer = parked_channels;
	parked_channels = ch;
}

void server_commit_done(void)
{
	while (parked_channels) {
		struct channel *ch = parked_channels;
		parked_channels = ch->next_defer;
		server_defer_channel(ch);
	}
}

void server_defer_flush(struct conn *c)
{
	if (c->flush_pending)
		return;
	c->flush_pending = true;
	c->next_flush = to_flush;
	to_flush = c;
	server_defer();
}

static void free_dead(void)
{
	struct conn *c = conn_dead_count ? conn_list : NULL;
	while (c) {
		struct conn *next = c->next;
		if (c->state == CONN_DEAD && !c->flush_pending)
			conn_free(c);
		c = next;
	}
}

/* Runs after all I/O callbacks of a loop turn (lower priority). Delivery
 * can kick more queues and queue more output, so loop until quiet. */
static void on_turn(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	turn_armed = false;
	bool more = true;
	while (more) {
		while (kicked) {
			struct queue *q = kicked;
			kicked = q->next_kick;
			q->kick_pending = false;
			queue_deliver(q);
			queue_unref(q); /* the reference queue_kick took */
		}
		if (dlx_turn())
			continue; /* dead-letters reached queues: deliver them too */
		/* The turn's writes go to the store's writer; confirms of
		 * publishes whose batches are finished go out below. */
		persist_turn();
		while (deferred_channels) {
			struct channel *ch = deferred_channels;
			deferred_channels = ch->next_defer;
			ch->defer_pending = false;
			channel_flush_confirms(ch);
		}
		while (to_flush) {
			struct conn *c = to_flush;
			to_flush = c->next_flush;
			c->flush_pending = false;
			conn_flush(c);
		}
		more = kicked || deferred_channels || to_flush;
	}
	flow_turn();
	free_dead();
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *addr,
		      int len, void *arg)
{
	(void)l;
	const struct listener *li = arg;
	conn_accept(fd, addr, (socklen_t)len, li->info.tls ? amqps.ctx : NULL);
}

/* Out of file descriptors (or kernel memory), accept() fails while the
 * connection stays in the backlog, so a listener left on would wake at
 * once and fail again: a busy loop writing a log line per turn. Instead
 * the listener pauses ACCEPT_PAUSE_MS and tries again; clients wait in
 * the backlog meanwhile (or time out), as they would at RabbitMQ's
 * socket limit. The warning goes out once per ACCEPT_WARN_MS. */
#define ACCEPT_PAUSE_MS 100
#define ACCEPT_WARN_MS 10000

static void accept_resume(void *obj, uint64_t when)
{
	struct listener *li = obj;
	if (when && li->l)
		evconnlistener_enable(li->l);
}

static void on_accept_error(struct evconnlistener *l, void *arg)
{
	static uint64_t warned_at;
	static unsigned refused;
	int err = EVUTIL_SOCKET_ERROR();
	refused++;
	uint64_t now = now_ms();
	if (!warned_at || now - warned_at >= ACCEPT_WARN_MS) {
		struct rlimit rl = {0};
		getrlimit(RLIMIT_NOFILE, &rl);
		log_warn("accept: %s (%u connections open, file descriptor limit %llu): new "
			 "connections wait, retried every %d ms (%u refusals so far)",
			 strerror(err), conn_count, (unsigned long long)rl.rlim_cur, ACCEPT_PAUSE_MS,
			 refused);
		warned_at = now;
	}
	evconnlistener_disable(l);
	timer_add(now + ACCEPT_PAUSE_MS, accept_resume, arg);
}

/* The soft limit on file descriptors up to the hard one, as RabbitMQ's
 * start-up script asks for: each connection takes one. */
static void raise_fd_limit(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

size_t server_listeners(const struct server_listen_info **out)
{
	static struct server_listen_info info[sizeof listeners / sizeof listeners[0]];
	for (int i = 0; i < nlisteners; i++)
		info[i] = listeners[i].info;
	*out = info;
	return (size_t)nlisteners;
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	(void)arg;
	log_info("signal %d: shutting down", (int)sig);
	event_base_loopbreak(server_base);
}

/* Applies load_definitions (at boot, and on SIGHUP after re-reading the
 * config), logging each change; a dry run prints the plan instead.
 * Returns 0 (also when none is configured) or -1 with err. */
static int apply_definitions(bool dry_run, char *err, size_t errlen)
{
	if (!cfg.load_definitions || !*cfg.load_definitions)
		return 0;
	struct defs_opts o = {.prune = cfg.definitions_prune,
			      .prune_nonempty_queues = cfg.definitions_prune_nonempty_queues,
			      .dry_run = dry_run};
	struct defs_report r = {0};
	int rc = definitions_load(cfg.load_definitions, &o, &r, err, errlen);
	for (size_t i = 0; rc == 0 && i < r.n; i++) {
		if (dry_run)
			printf("%s\n", r.lines[i]);
		else
			log_info("definitions: %s", r.lines[i]);
	}
	if (rc == 0 && dry_run)
		printf("%u to create, %u to update, %u to delete, %u kept as they are\n", r.created,
		       r.updated, r.deleted, r.kept);
	else if (rc == 0)
		log_info("definitions: applied %s (%u created, %u updated, %u deleted, %u kept)",
			 cfg.load_definitions, r.created, r.updated, r.deleted, r.kept);
	defs_report_free(&r);
	return rc;
}

/* --export-definitions: what the store holds, as RabbitMQ writes it (the
 * file `rabbitmqctl export_definitions` would give). */
static int export_definitions(const char *path)
{
	json_t *doc = definitions_export();
	int rc = !strcmp(path, "-") ? json_dumpf(doc, stdout, JSON_INDENT(2))
				    : json_dump_file(doc, path, JSON_INDENT(2));
	json_decref(doc);
	persist_close();
	if (rc < 0)
		log_error("cannot write definitions to %s", path);
	return rc < 0 ? -1 : 0;
}

/* SIGHUP: the config file again, then its definitions, whole or not at
 * all. */
static void on_hup(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	(void)arg;
	char err[1024];
	log_info("SIGHUP: reloading");
	if (reload_config && reload_config(err, sizeof err) < 0) {
		log_error("config: %s", err);
		log_error("config refused, nothing applied");
		return;
	}
	tls_reload_all(); /* new connections get the new certificates */
	alarm_configure(); /* the watermarks may have changed */
	if (apply_definitions(false, err, sizeof err) < 0) {
		log_error("definitions: %s", err);
		log_error("definitions: %s refused, nothing applied", cfg.load_definitions);
	}
	server_defer(); /* commit what changed */
}

/* What follows the recovery: load_definitions, a blank node's defaults,
 * and all of it on disk before clients come. At start-up, and when a
 * cluster member becomes the leader. Returns 0, -1 or -2 (a bad
 * definitions file, on stderr). */
static int after_recovery(bool dry_run)
{
	char err[1024];
	if (apply_definitions(dry_run, err, sizeof err) < 0) {
		fprintf(stderr, "ternd: %s\n", err);
		return -2;
	}
	if (dry_run) {
		persist_close(); /* nothing was written */
		return 0;
	}
	definitions_first_boot();
	persist_sync(); /* what the definitions changed is on disk before clients come */
	return 0;
}

int server_promote(void)
{
	if (persist_reload(definitions_recover, now_ms()) < 0)
		return -1;
	return after_recovery(false) < 0 ? -1 : 0;
}

static int listen_on(const char *host, int64_t port, bool tls)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof ss);
	socklen_t len;
	struct sockaddr_in *a4 = (void *)&ss;
	struct sockaddr_in6 *a6 = (void *)&ss;
	if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)port);
		len = sizeof *a4;
	} else if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		len = sizeof *a6;
	} else {
		log_error("bind: '%s' is not an IPv4 or IPv6 address", host);
		return -1;
	}
	if (nlisteners == (int)(sizeof listeners / sizeof listeners[0])) {
		log_error("bind: too many addresses");
		return -1;
	}
	unsigned flags = LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC;
	if (ss.ss_family == AF_INET6)
		flags |= LEV_OPT_BIND_IPV6ONLY;
	struct listener *li = &listeners[nlisteners];
	li->l = evconnlistener_new_bind(server_base, on_accept, li, flags, 511,
					(struct sockaddr *)&ss, (int)len);
	if (li->l)
		evconnlistener_set_error_cb(li->l, on_accept_error);
	if (!li->l) {
		log_warn("cannot listen on [%s]:%lld%s: %s", host, (long long)port, tls ? " (TLS)" : "",
			 strerror(errno));
		return -1;
	}
	snprintf(li->ip, sizeof li->ip, "%s", host);
	li->info = (struct server_listen_info){li->ip, (int)port, tls};
	nlisteners++;
	log_info("listening on [%s]:%lld%s", host, (long long)port, tls ? " (TLS)" : "");
	return 0;
}

/* Every address of `bind` on port. */
static void listen_on_bind(int64_t port, bool tls)
{
	char *list = xstrdup(cfg.bind), *save = NULL;
	for (char *h = strtok_r(list, ", ", &save); h; h = strtok_r(NULL, ", ", &save))
		listen_on(h, port, tls);
	free(list);
}

/* listeners.ssl.NAME = [HOST:]PORT, after their certificate is read (a
 * bad one stops start-up: -1 with the reason on stderr). */
static int listen_tls(void)
{
	if (!cfg.ssl_listeners.n)
		return 0;
	char err[512];
	if (tls_ctx_open(&amqps, err, sizeof err) < 0) {
		log_error("%s", err);
		fprintf(stderr, "ternd: %s\n", err);
		return -1;
	}
	for (size_t i = 0; i < cfg.ssl_listeners.n; i++) {
		char host[256];
		int64_t port;
		if (config_listener_parse(cfg.ssl_listeners.vals[i], host, sizeof host, &port) < 0)
			continue; /* config.c checked it */
		if (*host)
			listen_on(host, port, true);
		else
			listen_on_bind(port, true);
	}
	return 0;
}

int server_init_loop(void)
{
	signal(SIGPIPE, SIG_IGN);
	raise_fd_limit();
	server_base = event_base_new();
	if (!server_base)
		return -1;
	event_base_priority_init(server_base, 2);
	turn_event = event_new(server_base, -1, 0, on_turn, NULL);
	event_priority_set(turn_event, 1);
	sig_int = evsignal_new(server_base, SIGINT, on_signal, NULL);
	sig_term = evsignal_new(server_base, SIGTERM, on_signal, NULL);
	sig_hup = evsignal_new(server_base, SIGHUP, on_hup, NULL);
	event_add(sig_int, NULL);
	event_add(sig_term, NULL);
	event_add(sig_hup, NULL);
	timer_init();
	return 0;
}

/* The broker's tick, every CONN_TICK_MS: the connections whose deadline
 * has come (conn_tick), so a heartbeat goes out within half an
 * interval plus a tick of the last frame sent: a client that negotiates
 * heartbeat = 1 and gives up after one silent second stays connected, as
 * with RabbitMQ. The resource alarms are looked at once a second. */
static void on_tick(void *obj, uint64_t when)
{
	static uint64_t alarm_at;
	(void)obj;
	if (!when)
		return;
	conn_tick();
	uint64_t now = now_ms();
	if (now >= alarm_at) {
		alarm_check();
		alarm_at = now + 1000;
	}
	timer_add(now + CONN_TICK_MS, on_tick, NULL);
}

int server_init(const struct server_opts *o)
{
	if (server_init_loop() < 0)
		return -1;
	reload_config = o->reload_config;
	exchange_types_init();
	alarm_configure(); /* recovery pages by the watermark's budget too */
	if (!o->dry_run && !o->export_path)
		config_cluster_apply(); /* a cluster member: the store replicates */
	if (persist_open(definitions_recover) < 0)
		return -1;
	alarm_check(); /* data_dir exists now: its free space is known */
	if (o->export_path)
		return export_definitions(o->export_path);
	if (store_role(NULL) != STORE_HERE) {
		/* A cluster member: it serves once it leads (server_role.c). */
		server_role_watch(o->argv);
	} else {
		int rc = after_recovery(o->dry_run);
		if (rc < 0 || o->dry_run)
			return rc;
	}
	timer_add(now_ms() + CONN_TICK_MS, on_tick, NULL);
	/* Listen on every address given; one that fails (say ::1 on a host
	 * without IPv6) is only fatal when none succeeds. */
	if (!cfg.tcp_off)
		listen_on_bind(cfg.port, false);
	if (listen_tls() < 0)
		return -2;
	if (nlisteners == 0) {
		if (cfg.tcp_off && !cfg.ssl_listeners.n)
			log_error("no AMQP listener: listeners.tcp = none and no listeners.ssl.*");
		else
			log_error("could not listen on any address (bind '%s', port %lld, "
				  "listeners.ssl.*)", cfg.bind, (long long)cfg.port);
		return -1;
	}
	return 0;
}

int server_run(void)
{
	event_base_dispatch(server_base);
	for (int i = 0; i < nlisteners; i++)
		evconnlistener_disable(listeners[i].l);
	conn_close_all("broker shutdown");
	on_turn(-1, 0, NULL);
	/* The writer drains: the channels parked on its batches are freed
	 * by the turn after. */
	persist_sync();
	on_turn(-1, 0, NULL);
	persist_close();
	return 0;
}

void server_free(void)
{
	for (int i = 0; i < nlisteners; i++) {
		evconnlistener_free(listeners[i].l);
		listeners[i].l = NULL; /* a pending accept_resume finds none */
	}
	nlisteners = 0;
	if (amqps.ctx)
		tls_ctx_close(&amqps);
	timer_free(); /* releases what pending timers hold, before vhosts go */
	dlx_free();
	vhosts_free();
	definitions_free();
	policy_free_all();
	access_free();
	event_free(turn_event);
	event_free(sig_int);
	event_free(sig_term);
	event_free(sig_hup);
	event_base_free(server_base);
	server_base = NULL;
}
