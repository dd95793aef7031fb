/* alarm.h — resource alarms: a memory watermark on the process's
 * resident size and a free-disk limit on data_dir's file system, with
 * RabbitMQ's semantics (its alarms, memory, disk-alarms and
 * connection-blocked docs; rabbit_reader's throttle).
 *
 * Design notes. A one-second check (the server's tick, never per
 * message) measures RSS (/proc/self/statm) and free disk (statvfs).
 * Above the watermark, the allocator is first asked to give freed memory
 * back (malloc_trim; ASan's purge in a sanitizer build), so a drained
 * broker can drop below it; the alarm is set only if the RSS stays above. The disk alarm is also on while store
 * writes fail (persist.c), until its probe succeeds.
 *
 * While any alarm is on, every open connection is `blocking`: nothing
 * happens to it until it publishes. The first content frame it sends
 * (header or body) makes it `blocked`, as RabbitMQ's publish_received:
 * that frame is handled, reading stops (PAUSE_ALARM), and a client that
 * announced the connection.blocked capability gets connection.blocked
 * ("low on memory", "low on disk"). Frames already read are handled;
 * nothing more is read. Consume-only connections are never stopped, so
 * consumers drain the queues. When the last alarm clears, blocked
 * connections are read again, and those that were told get
 * connection.unblocked. A blocked connection is never dropped: its
 * missed-heartbeat check is suspended while it is not read (conn.c), as
 * RabbitMQ pauses its heartbeat monitor.
 *
 * Durable queues page persistent bodies out (queue_memory_budget) at the
 * lower of memory_budget and paging_ratio x the watermark (RabbitMQ's
 * vm_memory_high_watermark_paging_ratio, 0.5), well before the alarm. */
#ifndef TERN_BROKER_ALARM_H
#define TERN_BROKER_ALARM_H

#include <stdbool.h>
#include <stdint.h>

struct conn;

enum alarm_resource {
	ALARM_MEMORY = 1u << 0,
	ALARM_DISK = 1u << 1,
};

/* The resources in alarm (ALARM_* bits), 0 almost always: the one thing
 * the publish path tests. */
extern unsigned alarm_on;

/* What the last check measured, and the limits in force, in bytes. */
struct alarm_figures {
	uint64_t mem_used, mem_limit, total_memory;
	uint64_t disk_free, disk_free_limit;
	bool mem_alarm, disk_alarm;
	bool store_failing; /* part of the disk alarm */
	/* Times the check asked the allocator to give memory back: only
	 * above the watermark, never on a broker far below it (a trim walks
	 * the whole heap; once a second it would stall the loop). */
	uint64_t trims;
};
void alarm_figures(struct alarm_figures *f);

/* Takes the limits from cfg (at start-up, and after SIGHUP re-read the
 * config), logs them when they change, and checks at once. */
void alarm_configure(void);

/* Measures and sets or clears each alarm, logging both with the figures
 * (the server calls it once a second). */
void alarm_check(void);

/* persist.c: store writes fail (on) or work again (off). */
void alarm_store_failing(bool on);

/* A content frame arrived on c while alarm_on: blocks c (see above). */
void alarm_publish_received(struct conn *c);

/* RabbitMQ's connection state for c while alarms are involved:
 * "blocked", "blocking", or NULL when they are not. */
const char *alarm_conn_state(const struct conn *c);

#endif
