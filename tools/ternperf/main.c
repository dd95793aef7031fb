/* main.c — ternperf, Tern's AMQP 0-9-1 load generator: start-up, the one
 * epoll loop, and the run's phases. The model and the flags are in perf.h
 * and opts.c.
 *
 * Design notes. Phases run in order: SETUP (one connection declares and
 * binds), CONNECT (every producer and consumer connection opens, at most
 * CONNECT_BATCH handshakes at a time), RUN (publish; report each second),
 * DRAIN (publishing stopped: wait, bounded by --drain, for confirms and
 * deliveries), CLOSE (channel.close and connection.close on every producer
 * and consumer connection: a close-ok also means the broker has read all
 * our publishes), CLEANUP (--cleanup: the setup connection deletes queues
 * and exchange; only now, so no publish still in a socket buffer can hit a
 * deleted exchange), FINAL (close the setup connection), DONE. A failure
 * skips to FINAL and closes everything at once. Each loop turn: take the
 * time, advance the phase, let producers publish, write every connection's
 * buffer once, then sleep in epoll_pwait2 until the next socket event or
 * the earliest deadline (token bucket, report, phase), give or take the
 * 20 us of timer slack we ask for. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "tools/ternperf/perf.h"
#include "util/xalloc.h"

#define NS 1000000000ull
#define CONNECT_BATCH 64 /* handshakes in flight; more only overflow accept backlogs */
#define CONNECT_STALL 10 /* s without a connection getting ready: give up */

struct perf perf;

static volatile sig_atomic_t signals;
static int signals_seen;
static uint64_t deadline; /* of the current phase; 0 = none */
static uint64_t next_report;
static int nroles, ready, connecting, next_conn;

uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS + (uint64_t)ts.tv_nsec;
}

/* Closes every connection at once: the end of a run that failed. */
static void begin_final(void)
{
	perf.phase = PH_FINAL;
	deadline = now_ns() + 5 * NS;
	for (int i = 0; i < perf.nconns; i++)
		conn_close(&perf.conns[i]);
}

/* Closes the producer and consumer connections, leaving setup's open. */
static void begin_close(void)
{
	perf.phase = PH_CLOSE;
	deadline = now_ns() + 5 * NS;
	for (int i = 1; i < perf.nconns; i++)
		conn_close(&perf.conns[i]);
}

void perf_fatal(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("ternperf: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	perf.failed = true;
	if (perf.phase < PH_FINAL)
		begin_final();
}

static void start_run(void)
{
	uint64_t now = now_ns();
	perf.phase = PH_RUN;
	perf.t0 = now;
	next_report = now + NS;
	deadline = perf.cfg.seconds > 0 ? now + (uint64_t)(perf.cfg.seconds * 1e9) : 0;
	producers_start_clock(now);
	report_start(now);
}

static void stop_run(uint64_t now)
{
	perf.phase = PH_DRAIN;
	perf.t_stop = now;
	deadline = now + (uint64_t)(perf.cfg.drain * 1e9);
}

static bool drained(void)
{
	if (producers_unconfirmed())
		return false;
	return !perf.cfg.consumers || consumers_received() >= consumers_expected();
}

static void finish_drain(uint64_t now, bool timed_out)
{
	perf.drain_timed_out = timed_out;
	report_end(now);
	consumers_flush_acks();
	begin_close();
}

void perf_setup_done(void)
{
	if (perf.phase == PH_CLEANUP) {
		begin_final();
		return;
	}
	if (perf.phase != PH_SETUP)
		return;
	if (perf.cfg.declare_only) {
		setup_report_declare_only();
		begin_final();
		return;
	}
	if (perf.cfg.broker_pid)
		perf.broker_rss_start_kb = broker_rss(perf.cfg.broker_pid);
	perf.phase = PH_CONNECT;
	deadline = now_ns() + CONNECT_STALL * NS;
	if (!nroles)
		start_run();
}

void perf_role_ready(struct conn *c)
{
	c->role_ready = true;
	connecting--;
	deadline = now_ns() + CONNECT_STALL * NS; /* progress: give the rest time */
	if (++ready == nroles && perf.phase == PH_CONNECT)
		start_run();
}

void perf_conn_done(struct conn *c)
{
	(void)c; /* CLOSE counts finished connections itself */
}

/* True when connections [from, nconns) are all closed. */
static bool all_closed(int from)
{
	for (int i = from; i < perf.nconns; i++)
		if (perf.conns[i].state != CS_DONE)
			return false;
	return true;
}

/* The producers and consumers are closed (or given up on): clean up, or
 * close the setup connection. */
static void after_close(uint64_t now)
{
	if (perf.cfg.cleanup && perf.conns[0].state == CS_READY) {
		perf.phase = PH_CLEANUP;
		/* One delete at a time: give each 10 ms beyond the first minute. */
		deadline = now + 60 * NS + (uint64_t)perf.cfg.queues * 10000000ull;
		setup_cleanup(&perf.conns[0]);
	} else {
		begin_final();
	}
}

/* Advances the phase on signals and deadlines; prints the report lines. */
static void tick(uint64_t now)
{
	if (signals != signals_seen) {
		signals_seen = signals;
		if (signals_seen > 1)
			exit(130);
		if (perf.phase == PH_RUN)
			stop_run(now);
		else if (perf.phase == PH_DRAIN)
			finish_drain(now, true);
		else if (perf.phase < PH_RUN)
			begin_final();
	}
	switch (perf.phase) {
	case PH_SETUP:
	case PH_CONNECT:
	case PH_CLEANUP:
		if (!deadline || now < deadline)
			break;
		if (perf.phase == PH_CONNECT)
			perf_fatal("timed out connecting: %d of %d connections ready (the "
				   "broker's connection or file descriptor limit?)",
				   ready, nroles);
		else if (perf.phase == PH_SETUP && perf.conns[0].state < CS_READY)
			perf_fatal(
				"timed out connecting to %s:%s (%s)", perf.cfg.host, perf.cfg.port,
				perf.conns[0].state == CS_TLS ? "the TLS handshake did not finish"
							      : "no AMQP handshake");
		else
			perf_fatal("timed out %s",
				   perf.phase == PH_SETUP ? "declaring" : "deleting queues");
		break;
	case PH_RUN:
		if ((deadline && now >= deadline) || producers_done())
			stop_run(now);
		break;
	case PH_DRAIN:
		if (drained())
			finish_drain(now, false);
		else if (now >= deadline)
			finish_drain(now, true);
		break;
	case PH_CLOSE:
		if (all_closed(1) || now >= deadline)
			after_close(now);
		break;
	case PH_FINAL:
		if (all_closed(0) || now >= deadline)
			perf.phase = PH_DONE;
		break;
	case PH_DONE: break;
	}
	if ((perf.phase == PH_RUN || perf.phase == PH_DRAIN) && now >= next_report) {
		report_tick(now);
		next_report += NS;
		if (next_report <= now)
			next_report = now + NS;
	}
}

/* Sleeps until a socket is ready or `wake` (ns), then handles the events. */
static void wait_events(uint64_t wake)
{
	static struct epoll_event evs[256];
	static bool no_pwait2;
	uint64_t now = now_ns(); /* building and writing took time since */
	uint64_t d = wake <= now ? 0 : wake - now;
	if (d > NS / 10)
		d = NS / 10; /* wake now and then regardless: signals, phases */
	int n = -1;
	if (!no_pwait2) {
		struct timespec ts = {(time_t)(d / NS), (long)(d % NS)};
		n = epoll_pwait2(conn_loop_fd(), evs, 256, &ts, NULL);
		if (n < 0 && errno == ENOSYS)
			no_pwait2 = true;
	}
	if (no_pwait2)
		n = epoll_wait(conn_loop_fd(), evs, 256, (int)((d + 999999) / 1000000));
	for (int i = 0; i < n; i++)
		conn_on_event(evs[i].data.ptr, evs[i].events);
}

static void run_loop(void)
{
	for (;;) {
		uint64_t now = now_ns();
		tick(now);
		if (perf.phase == PH_DONE)
			return;
		uint64_t wake = deadline ? deadline : UINT64_MAX;
		while (perf.phase == PH_CONNECT && connecting < CONNECT_BATCH &&
		       next_conn < perf.nconns) {
			connecting++;
			conn_connect(&perf.conns[next_conn++]);
		}
		if (perf.phase == PH_RUN || perf.phase == PH_DRAIN) {
			if (next_report < wake)
				wake = next_report;
			uint64_t w = producers_pump(now);
			if (w < wake)
				wake = w;
		}
		conn_flush_all();
		wait_events(wake);
	}
}

static void on_signal(int sig)
{
	(void)sig;
	signals++;
}

static void setup_process(void)
{
	struct sigaction sa = {.sa_handler = on_signal};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* Token buckets at 50k msg/s want wake-ups 20 us apart; the default
	 * 50 us of timer slack would batch them more than that. */
	prctl(PR_SET_TIMERSLACK, 20000UL, 0, 0, 0);
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* Creates the connections: [0] setup, then consumers, then producers
 * (--duplex: connections that are both). */
static void build_conns(void)
{
	const struct perf_cfg *cfg = &perf.cfg;
	perf.qnames = xcalloc((size_t)cfg->queues, sizeof *perf.qnames);
	for (int i = 0; i < cfg->queues; i++) {
		char name[256];
		if (cfg->queues == 1)
			snprintf(name, sizeof name, "%s", cfg->queue);
		else
			snprintf(name, sizeof name, "%s-%d", cfg->queue, i);
		perf.qnames[i] = xstrdup(name);
	}
	nroles = cfg->declare_only ? 0
		 : cfg->duplex     ? cfg->duplex
				   : cfg->producers + cfg->consumers;
	perf.nconns = 1 + nroles;
	perf.conns = xcalloc((size_t)perf.nconns, sizeof *perf.conns);
	conn_init(&perf.conns[0], 0, ROLE_SETUP);
	producers_init();
	consumers_init();
	int id = 1;
	if (cfg->duplex) { /* producer i and consumer i share connection i + 1 */
		for (int i = 0; i < nroles; i++, id++) {
			conn_init(&perf.conns[id], id, ROLE_DUPLEX);
			consumer_attach(&perf.conns[id], i);
			producer_attach(&perf.conns[id], i);
		}
		next_conn = 1;
		return;
	}
	for (int i = 0; i < nroles && i < cfg->consumers; i++, id++) {
		conn_init(&perf.conns[id], id, ROLE_CONSUMER);
		consumer_attach(&perf.conns[id], i);
	}
	for (int i = 0; i < nroles && i < cfg->producers; i++, id++) {
		conn_init(&perf.conns[id], id, ROLE_PRODUCER);
		producer_attach(&perf.conns[id], i);
	}
	next_conn = 1;
}

int main(int argc, char **argv)
{
	opts_parse(&perf.cfg, argc, argv);
	setup_process();
	perf.broker_rss_kb = perf.broker_rss_start_kb = perf.broker_rss_setup_kb = -1;
	perf.broker_cpu_pct = -1;
	perf.steal_pct = -1;
	if (perf.cfg.broker_pid)
		perf.broker_rss_setup_kb = broker_rss(perf.cfg.broker_pid);
	perf.run_tag = (uint16_t)(getpid() ^ now_ns() ^ (now_ns() >> 16));
	build_conns();
	conn_loop_init();
	perf.phase = PH_SETUP;
	deadline = now_ns() + 30 * NS +
		   ((uint64_t)perf.cfg.declare_only + (uint64_t)perf.cfg.queues) * 10000000ull;
	if (conn_connect(&perf.conns[0]) == 0)
		run_loop();
	int status = perf.failed ? 2 : 0;
	if (perf.t0) {
		report_final();
		if (!status && perf.cfg.consumers && perf.cfg.count && consumers_lost(true))
			status = 1;
		if (!status && perf.st.duplicated)
			status = 1;
	}
	consumers_free();
	return status;
}
