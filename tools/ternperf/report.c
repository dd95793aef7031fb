/* report.c — ternperf's output: a line every second (rates over that
 * second, latency quantiles of the messages that arrived in it) and a
 * summary at the end, as text or as one JSON object per line (--json).
 * Also measures ternperf's own CPU (getrusage), the broker's RSS, and the
 * CPU time the hypervisor took from this machine meanwhile (steal). */
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "tools/ternperf/perf.h"

static struct perf_stats last; /* counters at the previous line */
static uint64_t last_t, end_t;
static double last_cpu, start_cpu, end_cpu;

static double cpu_seconds(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

long broker_rss(int pid)
{
	char path[64], line[256];
	snprintf(path, sizeof path, "/proc/%d/status", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	long kb = -1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "VmRSS: %ld", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/* The broker's user + system CPU in seconds (utime and stime, fields 14
 * and 15 of /proc/PID/stat, after the parenthesised name); -1 unknown. */
static double broker_cpu_seconds(int pid)
{
	char path[64], line[1024];
	snprintf(path, sizeof path, "/proc/%d/stat", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	size_t n = fread(line, 1, sizeof line - 1, f);
	fclose(f);
	line[n] = 0;
	const char *p = strrchr(line, ')');
	unsigned long long ut, st;
	/* After ")": state (3), then fields 4..13, then utime and stime. */
	if (!p ||
	    sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static double broker_cpu_start;

/* All CPUs' time and the part of it stolen by the hypervisor (the first
 * line of /proc/stat, in ticks); false when unknown. On a shared virtual
 * machine steal is what makes one run's latency tail unlike the next
 * one's: the vCPU is not running, whatever the broker does. */
struct cpu_ticks {
	unsigned long long total, steal;
};

static bool machine_ticks(struct cpu_ticks *t)
{
	FILE *f = fopen("/proc/stat", "r");
	if (!f)
		return false;
	unsigned long long v[8] = {0};
	int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
		       &v[3], &v[4], &v[5], &v[6], &v[7]);
	fclose(f);
	if (n != 8)
		return false;
	t->total = v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
	t->steal = v[7];
	return true;
}

static struct cpu_ticks ticks_start;
static bool ticks_known;

void report_start(uint64_t now)
{
	last_t = now;
	last_cpu = start_cpu = cpu_seconds();
	memset(&last, 0, sizeof last);
	broker_cpu_start = perf.cfg.broker_pid ? broker_cpu_seconds(perf.cfg.broker_pid) : -1;
	ticks_known = machine_ticks(&ticks_start);
}

void report_end(uint64_t now)
{
	end_t = now;
	end_cpu = cpu_seconds();
	struct cpu_ticks t;
	if (ticks_known && machine_ticks(&t) && t.total > ticks_start.total)
		perf.steal_pct = (double)(t.steal - ticks_start.steal) /
				 (double)(t.total - ticks_start.total) * 100;
	if (perf.cfg.broker_pid) {
		perf.broker_rss_kb = broker_rss(perf.cfg.broker_pid);
		double b = broker_cpu_seconds(perf.cfg.broker_pid);
		double secs = (double)(now - perf.t0) / 1e9;
		if (b >= 0 && broker_cpu_start >= 0 && secs > 0)
			perf.broker_cpu_pct = (b - broker_cpu_start) / secs * 100;
	}
}

/* Declare+bind rate of the setup phase, queues/s (0: none timed). */
static double setup_rate(void)
{
	return perf.setup_ns ? perf.cfg.queues / ((double)perf.setup_ns / 1e9) : 0;
}

/* Broker RSS growth per declared (and bound) queue, bytes; -1 unknown. */
static double rss_per_queue(void)
{
	if (perf.broker_rss_setup_kb < 0 || perf.broker_rss_start_kb < 0)
		return -1;
	return (double)(perf.broker_rss_start_kb - perf.broker_rss_setup_kb) * 1024 /
	       perf.cfg.queues;
}

static double us(uint64_t ns)
{
	return (double)ns / 1e3;
}

/* A duration for people, 3 significant digits: "812us", "6.44ms", "1.25s".
 * buf holds 16 bytes; returns buf. */
static const char *dur(char *buf, uint64_t ns)
{
	double v = (double)ns;
	const char *unit = "us";
	v /= 1e3;
	if (v >= 1000) {
		v /= 1e3;
		unit = "ms";
	}
	if (v >= 1000) {
		v /= 1e3;
		unit = "s";
	}
	snprintf(buf, 16, v >= 100 ? "%.0f%s" : v >= 10 ? "%.1f%s" : "%.2f%s", v, unit);
	return buf;
}

static double per_s(uint64_t n, double secs)
{
	return secs > 0 ? (double)n / secs : 0;
}

void report_tick(uint64_t now)
{
	double dt = (double)(now - last_t) / 1e9;
	if (dt <= 0)
		return;
	double cpu = cpu_seconds();
	double cpu_pct = (cpu - last_cpu) / dt * 100;
	const struct perf_stats *s = &perf.st;
	double pub = per_s(s->published - last.published, dt);
	double conf = per_s(s->confirmed - last.confirmed, dt);
	double recv = per_s(s->delivered - last.delivered, dt);
	struct hist *l = &perf.lat, *cl = &perf.clat;
	uint64_t p50 = hist_quantile(l, 0.5), p99 = hist_quantile(l, 0.99);
	uint64_t p999 = hist_quantile(l, 0.999), max = l->max;
	uint64_t c50 = hist_quantile(cl, 0.5), c99 = hist_quantile(cl, 0.99);
	hist_merge(&perf.lat_all, l);
	hist_merge(&perf.clat_all, cl);
	hist_reset(l);
	hist_reset(cl);
	if (perf.cfg.broker_pid)
		perf.broker_rss_kb = broker_rss(perf.cfg.broker_pid);
	uint64_t lost = consumers_lost(false);
	double t = (double)(now - perf.t0) / 1e9;
	if (perf.cfg.json) {
		printf("{\"t\":%.3f,\"published_per_s\":%.1f,\"confirmed_per_s\":%.1f,"
		       "\"delivered_per_s\":%.1f,\"latency_us\":{\"p50\":%.1f,\"p99\":%.1f,"
		       "\"p999\":%.1f,\"max\":%.1f},\"confirm_latency_us\":{\"p50\":%.1f,"
		       "\"p99\":%.1f},\"cpu_pct\":%.1f,\"lost\":%llu,\"duplicated\":%llu,"
		       "\"redelivered\":%llu,\"blocked\":%s,\"broker_rss_kb\":%ld}\n",
		       t, pub, conf, recv, us(p50), us(p99), us(p999), us(max), us(c50), us(c99),
		       cpu_pct, (unsigned long long)lost, (unsigned long long)s->duplicated,
		       (unsigned long long)s->redelivered,
		       s->blocked_events > last.blocked_events ? "true" : "false",
		       perf.broker_rss_kb);
	} else {
		char b[6][16];
		printf("%6.1fs  pub %7.0f/s  conf %7.0f/s  recv %7.0f/s | lat p50 %s p99 %s "
		       "p99.9 %s max %s | conf p50 %s p99 %s | cpu %3.0f%% | lost %llu dup %llu "
		       "redeliv %llu",
		       t, pub, conf, recv, dur(b[0], p50), dur(b[1], p99), dur(b[2], p999),
		       dur(b[3], max), dur(b[4], c50), dur(b[5], c99), cpu_pct,
		       (unsigned long long)lost, (unsigned long long)s->duplicated,
		       (unsigned long long)s->redelivered);
		if (perf.broker_rss_kb >= 0 && perf.cfg.broker_pid)
			printf(" | broker rss %ld kB", perf.broker_rss_kb);
		printf("\n");
	}
	fflush(stdout);
	last = *s;
	last_t = now;
	last_cpu = cpu;
}

void report_final(void)
{
	const struct perf_cfg *cfg = &perf.cfg;
	const struct perf_stats *s = &perf.st;
	if (!end_t)
		report_end(now_ns());
	hist_merge(&perf.lat_all, &perf.lat);
	hist_merge(&perf.clat_all, &perf.clat);
	hist_reset(&perf.lat);
	hist_reset(&perf.clat);
	const struct hist *l = &perf.lat_all, *cl = &perf.clat_all;
	uint64_t t0 = perf.t0;
	double run = perf.t_stop > t0 ? (double)(perf.t_stop - t0) / 1e9 : 0;
	double dsecs = perf.t_last_deliver > t0 ? (double)(perf.t_last_deliver - t0) / 1e9 : 0;
	double csecs = perf.t_last_confirm > t0 ? (double)(perf.t_last_confirm - t0) / 1e9 : 0;
	double active = end_t > t0 ? (double)(end_t - t0) / 1e9 : 0;
	double cpu = end_cpu - start_cpu, cpu_pct = active > 0 ? cpu / active * 100 : 0;
	uint64_t lost = consumers_lost(true);
	double mean = l->n ? (double)l->sum / (double)l->n : 0;
	if (cfg->json) {
		printf("{\"summary\":true,\"server\":\"%s\",\"tls\":\"%s\",\"duration_s\":%.3f,\"producers\":%d,\"consumers\":%d,"
		       "\"size\":%u,\"published\":%llu,\"published_per_s\":%.1f,"
		       "\"confirmed\":%llu,\"confirmed_per_s\":%.1f,\"nacked\":%llu,"
		       "\"delivered\":%llu,\"delivered_per_s\":%.1f,",
		       perf.server, perf.tls, run, cfg->producers, cfg->consumers, cfg->body_size,
		       (unsigned long long)s->published, per_s(s->published, run),
		       (unsigned long long)s->confirmed, per_s(s->confirmed, csecs),
		       (unsigned long long)s->nacked, (unsigned long long)s->delivered,
		       per_s(s->delivered, dsecs));
		printf("\"latency_us\":{\"p50\":%.1f,\"p99\":%.1f,\"p999\":%.1f,\"max\":%.1f,"
		       "\"mean\":%.1f},\"confirm_latency_us\":{\"p50\":%.1f,\"p99\":%.1f,"
		       "\"max\":%.1f},\"cpu_pct\":%.1f,\"cpu_s\":%.3f,\"lost\":%llu,"
		       "\"duplicated\":%llu,\"redelivered\":%llu,\"foreign\":%llu,"
		       "\"blocked\":%llu,\"drain_timed_out\":%s,\"broker_rss_kb\":%ld,"
		       "\"broker_rss_start_kb\":%ld,\"broker_rss_setup_kb\":%ld,"
		       "\"broker_cpu_pct\":%.1f,\"queues\":%d,\"setup_s\":%.3f,"
		       "\"queues_per_s\":%.1f,\"rss_per_queue_b\":%.0f,\"steal_pct\":%.1f,"
		       "\"ok\":%s}\n",
		       us(hist_quantile(l, 0.5)), us(hist_quantile(l, 0.99)),
		       us(hist_quantile(l, 0.999)), us(l->max), mean / 1e3,
		       us(hist_quantile(cl, 0.5)), us(hist_quantile(cl, 0.99)), us(cl->max),
		       cpu_pct, cpu, (unsigned long long)lost, (unsigned long long)s->duplicated,
		       (unsigned long long)s->redelivered, (unsigned long long)s->foreign,
		       (unsigned long long)s->blocked_events,
		       perf.drain_timed_out ? "true" : "false", perf.broker_rss_kb,
		       perf.broker_rss_start_kb, perf.broker_rss_setup_kb, perf.broker_cpu_pct,
		       cfg->queues, (double)perf.setup_ns / 1e9, setup_rate(), rss_per_queue(),
		       perf.steal_pct, perf.failed ? "false" : "true");
		fflush(stdout);
		return;
	}
	printf("summary: %.1f s, %d producer(s), %d consumer(s), %u-byte bodies, %s\n", run,
	       cfg->producers, cfg->consumers, cfg->body_size,
	       perf.server[0] ? perf.server : "unknown server");
	if (perf.tls[0])
		printf("  over %s\n", perf.tls);
	printf("  published  %llu (%.0f msg/s)\n", (unsigned long long)s->published,
	       per_s(s->published, run));
	char b[5][16];
	if (cfg->confirm)
		printf("  confirmed  %llu (%.0f msg/s), nacked %llu; latency p50 %s p99 %s "
		       "max %s\n",
		       (unsigned long long)s->confirmed, per_s(s->confirmed, csecs),
		       (unsigned long long)s->nacked, dur(b[0], hist_quantile(cl, 0.5)),
		       dur(b[1], hist_quantile(cl, 0.99)), dur(b[2], cl->max));
	printf("  delivered  %llu (%.0f msg/s); latency p50 %s p99 %s p99.9 %s max %s "
	       "mean %s\n",
	       (unsigned long long)s->delivered, per_s(s->delivered, dsecs),
	       dur(b[0], hist_quantile(l, 0.5)), dur(b[1], hist_quantile(l, 0.99)),
	       dur(b[2], hist_quantile(l, 0.999)), dur(b[3], l->max), dur(b[4], (uint64_t)mean));
	printf("  lost %llu  duplicated %llu  redelivered %llu  foreign %llu  blocked %llu%s\n",
	       (unsigned long long)lost, (unsigned long long)s->duplicated,
	       (unsigned long long)s->redelivered, (unsigned long long)s->foreign,
	       (unsigned long long)s->blocked_events,
	       perf.drain_timed_out ? "  (drain timed out)" : "");
	printf("  ternperf cpu %.1f%% of one core (%.2f s)\n", cpu_pct, cpu);
	if (perf.steal_pct >= 0)
		printf("  machine: %.1f%% of all CPU time stolen by the hypervisor\n",
		       perf.steal_pct);
	if (perf.setup_ns)
		printf("  declared%s %d queue(s) in %.3f s (%.0f/s)\n",
		       cfg->exchange[0] ? " and bound" : "", cfg->queues,
		       (double)perf.setup_ns / 1e9, setup_rate());
	if (cfg->broker_pid) {
		printf("  broker rss %ld kB (%ld kB before the connections opened, %ld kB "
		       "before the queues were declared",
		       perf.broker_rss_kb, perf.broker_rss_start_kb, perf.broker_rss_setup_kb);
		if (rss_per_queue() >= 0)
			printf(": %.0f B per queue", rss_per_queue());
		printf(")\n");
		if (perf.broker_cpu_pct >= 0)
			printf("  broker cpu %.1f%% of one core over the run\n",
			       perf.broker_cpu_pct);
	}
	fflush(stdout);
}
