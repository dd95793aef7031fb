/* alarm.c — memory and disk alarms blocking publishers; see alarm.h for
 * the design notes. The log lines use RabbitMQ's wording (checked against
 * a RabbitMQ 3.10 node), so what watches RabbitMQ's logs finds them. */
#include "broker/net/alarm.h"

#include <malloc.h>
#include <stdio.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "broker/core/config.h"
#include "broker/core/log.h"
#include "broker/net/conn.h"
#include "broker/queue/persist.h"
#include "broker/queue/queue.h"

#define DEFAULT_RELATIVE 0.4 /* RabbitMQ's watermark with neither key set */

/* Freed memory the allocator keeps back is given to the system. Under
 * AddressSanitizer malloc is ASan's, which also holds freed blocks in a
 * quarantine: its purge drains that and releases what is free. */
#ifdef __SANITIZE_ADDRESS__
void __sanitizer_purge_allocator(void);
static void give_back(void)
{
	__sanitizer_purge_allocator();
}
#else
static void give_back(void)
{
	malloc_trim(0);
}
#endif

unsigned alarm_on;

static struct alarm_figures fig;
static bool disk_low;           /* free space under the limit */
static bool configured;

static uint64_t rss_bytes(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	unsigned long size = 0, resident = 0;
	if (!f)
		return 0;
	if (fscanf(f, "%lu %lu", &size, &resident) != 2)
		resident = 0;
	fclose(f);
	return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

/* Free space for unprivileged writers under data_dir; false if unknown. */
static bool disk_free(uint64_t *out)
{
	struct statvfs s;
	if (statvfs(cfg.data_dir, &s) < 0)
		return false;
	*out = (uint64_t)s.f_bavail * s.f_frsize;
	return true;
}

static const char *reason(void)
{
	switch (alarm_on) {
	case ALARM_MEMORY: return "low on memory";
	case ALARM_DISK: return "low on disk";
	default: return "low on memory & disk";
	}
}

static void send_blocked(struct conn *c, bool on)
{
	struct amqp_method m = {.id = on ? AMQP_CONNECTION_BLOCKED : AMQP_CONNECTION_UNBLOCKED};
	if (on)
		m.a.connection_blocked.reason = bytes_of(reason());
	conn_send_method(c, 0, &m);
}

void alarm_publish_received(struct conn *c)
{
	if (c->alarm_blocked || c->state != CONN_OPEN)
		return;
	c->alarm_blocked = true;
	conn_pause_reading(c, PAUSE_ALARM);
	/* Only a client that said it understands connection.blocked is
	 * told; the others just stop being read. */
	if (c->cap_blocked) {
		send_blocked(c, true);
		c->alarm_told = true;
	}
}

/* The last alarm cleared: every blocked connection is read again. */
static void unblock_all(void)
{
	for (struct conn *c = conn_list; c; c = c->next) {
		if (!c->alarm_blocked)
			continue;
		c->alarm_blocked = false;
		if (c->alarm_told && c->state == CONN_OPEN)
			send_blocked(c, false);
		c->alarm_told = false;
		conn_resume_reading(c, PAUSE_ALARM);
	}
}

static void set_alarm(unsigned r, bool on)
{
	unsigned was = alarm_on;
	if (on == !!(was & r))
		return;
	alarm_on = on ? was | r : was & ~r;
	const char *what = r == ALARM_MEMORY ? "memory" : "disk";
	if (on)
		log_warn("%s resource limit alarm set. *** Publishers will be blocked until this "
			 "alarm clears ***",
			 what);
	else
		log_warn("%s resource limit alarm cleared", what);
	if (was && !alarm_on)
		unblock_all();
}

static void check_memory(void)
{
	/* A store gone quiet after a busy spell frees its page cache: the
	 * system gets it back too. */
	if (persist_release_idle())
		give_back();
	uint64_t rss = rss_bytes();
	if (!rss)
		return;
	/* Freed memory glibc keeps counts in the RSS: give it back before
	 * deciding, so a broker whose queues drained can drop below. */
	if (rss > fig.mem_limit) {
		give_back();
		fig.trims++;
		rss = rss_bytes();
	}
	fig.mem_used = rss;
	bool over = rss > fig.mem_limit;
	if (over == fig.mem_alarm)
		return;
	fig.mem_alarm = over;
	log_info("vm_memory_high_watermark %s. Memory used:%llu allowed:%llu", over ? "set" : "clear",
		 (unsigned long long)rss, (unsigned long long)fig.mem_limit);
	set_alarm(ALARM_MEMORY, over);
}

static void check_disk(void)
{
	uint64_t free_bytes;
	if (disk_free(&free_bytes)) {
		fig.disk_free = free_bytes;
		bool low = free_bytes < fig.disk_free_limit;
		if (low != disk_low)
			log_info("Free disk space is %s. Free bytes: %llu. Limit: %llu",
				 low ? "insufficient" : "sufficient", (unsigned long long)free_bytes,
				 (unsigned long long)fig.disk_free_limit);
		disk_low = low;
	}
	fig.disk_alarm = disk_low || fig.store_failing;
	set_alarm(ALARM_DISK, fig.disk_alarm);
}

void alarm_check(void)
{
	if (!configured)
		return;
	check_memory();
	check_disk();
}

void alarm_store_failing(bool on)
{
	fig.store_failing = on;
	log_warn(on ? "store writes failing: counted as a disk alarm"
		    : "store writable again");
	check_disk();
}

void alarm_configure(void)
{
	uint64_t total = cfg.total_memory >= 0
				 ? (uint64_t)cfg.total_memory
				 : (uint64_t)sysconf(_SC_PHYS_PAGES) * (uint64_t)sysconf(_SC_PAGESIZE);
	uint64_t mem = cfg.mem_relative >= 0	 ? (uint64_t)(cfg.mem_relative * (double)total)
		       : cfg.mem_absolute >= 0 ? (uint64_t)cfg.mem_absolute
					       : (uint64_t)(DEFAULT_RELATIVE * (double)total);
	if (mem > total)
		mem = total; /* RabbitMQ's cap: never above the RAM there is */
	uint64_t disk = cfg.disk_relative >= 0 ? (uint64_t)(cfg.disk_relative * (double)total)
					       : (uint64_t)cfg.disk_absolute;
	if (!configured || mem != fig.mem_limit || total != fig.total_memory)
		log_info("Memory high watermark set to %llu MiB (%llu bytes) of %llu MiB (%llu bytes) "
			 "total",
			 (unsigned long long)(mem >> 20), (unsigned long long)mem,
			 (unsigned long long)(total >> 20), (unsigned long long)total);
	if (!configured || disk != fig.disk_free_limit)
		log_info("Disk free limit set to %lluMB", (unsigned long long)(disk / 1000000));
	fig.total_memory = total;
	fig.mem_limit = mem;
	fig.disk_free_limit = disk;
	queue_watermark_budget = (uint64_t)(cfg.paging_ratio * (double)mem);
	configured = true;
	alarm_check();
}

void alarm_figures(struct alarm_figures *f)
{
	*f = fig;
}

const char *alarm_conn_state(const struct conn *c)
{
	if (c->alarm_blocked)
		return "blocked";
	return alarm_on && c->state == CONN_OPEN ? "blocking" : NULL;
}
