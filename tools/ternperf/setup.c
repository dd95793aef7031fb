/* setup.c — the setup connection: declares the exchange and queues and
 * binds them before the run, deletes them after it (--cleanup), and times
 * N queue declarations and bindings for --declare-only. Methods go one at a
 * time, each sent when the previous reply arrives, as a plain client would. */
#include <stdio.h>
#include <string.h>

#include "protocol/frame.h"
#include "protocol/table.h"
#include "tools/ternperf/perf.h"
#include "util/xalloc.h"

enum op_kind { OP_XDECL, OP_QDECL, OP_QBIND, OP_QDEL, OP_XDEL };

struct op {
	uint8_t kind;
	uint32_t idx; /* queue index */
};

/* The sequence in progress. Owned here; one at a time. */
static struct op *ops;
static size_t nops, next_op;
static uint64_t t_begin;               /* when the sequence started */
static uint64_t declare_ns, delete_ns; /* --declare-only timings */
static bool declaring_only;

/* A user exchange we may declare and delete: not the default, not amq.*. */
static bool own_exchange(void)
{
	const char *x = perf.cfg.exchange;
	return x[0] && strncmp(x, "amq.", 4) != 0;
}

/* Writes queue i's name into buf (size 256). */
static const char *qname(uint32_t i, char *buf)
{
	if (perf.cfg.declare_only) {
		snprintf(buf, 256, "%s-decl-%u", perf.cfg.queue, i);
		return buf;
	}
	return perf.qnames[i];
}

static void push(enum op_kind kind, uint32_t idx)
{
	ops[nops++] = (struct op){(uint8_t)kind, idx};
}

/* Sends ops[next_op]. */
static void send_op(struct conn *c)
{
	const struct op *o = &ops[next_op];
	const struct perf_cfg *cfg = &perf.cfg;
	char buf[256], pat[32]; /* live until conn_method below */
	struct amqp_method m = {0};
	switch (o->kind) {
	case OP_XDECL:
		m.id = AMQP_EXCHANGE_DECLARE;
		m.a.exchange_declare.exchange = bytes_of(cfg->exchange);
		m.a.exchange_declare.type = bytes_of(cfg->xtype);
		m.a.exchange_declare.durable = cfg->persistent;
		break;
	case OP_QDECL:
		m.id = AMQP_QUEUE_DECLARE;
		m.a.queue_declare.queue = bytes_of(qname(o->idx, buf));
		m.a.queue_declare.durable = cfg->persistent;
		m.a.queue_declare.auto_delete = cfg->auto_delete && !cfg->declare_only;
		if (cfg->max_priority || cfg->queue_type) {
			static struct wbuf args;
			if (!args.len) {
				size_t t = tw_begin(&args);
				if (cfg->max_priority) {
					tw_key(&args, "x-max-priority");
					tv_i32(&args, cfg->max_priority);
				}
				if (cfg->queue_type) {
					tw_key(&args, "x-queue-type");
					tv_str(&args, cfg->queue_type);
				}
				tw_end(&args, t);
			}
			m.a.queue_declare.arguments = (struct bytes){args.p + 4, (uint32_t)(args.len - 4)};
		}
		break;
	case OP_QBIND: {
		m.id = AMQP_QUEUE_BIND;
		const char *q = qname(o->idx, buf);
		m.a.queue_bind.queue = bytes_of(q);
		m.a.queue_bind.exchange = bytes_of(cfg->exchange[0] ? cfg->exchange : "amq.direct");
		m.a.queue_bind.routing_key =
			bytes_of(cfg->topic_patterns ? topic_pattern(o->idx, pat) : q);
		break;
	}
	case OP_QDEL:
		m.id = AMQP_QUEUE_DELETE;
		m.a.queue_delete.queue = bytes_of(qname(o->idx, buf));
		break;
	case OP_XDEL:
		m.id = AMQP_EXCHANGE_DELETE;
		m.a.exchange_delete.exchange = bytes_of(cfg->exchange);
		break;
	}
	conn_method(c, &m);
}

static uint32_t reply_of(uint8_t kind)
{
	switch (kind) {
	case OP_XDECL: return AMQP_EXCHANGE_DECLARE_OK;
	case OP_QDECL: return AMQP_QUEUE_DECLARE_OK;
	case OP_QBIND: return AMQP_QUEUE_BIND_OK;
	case OP_QDEL: return AMQP_QUEUE_DELETE_OK;
	default: return AMQP_EXCHANGE_DELETE_OK;
	}
}

static void run_ops(struct conn *c)
{
	next_op = 0;
	t_begin = now_ns();
	if (nops)
		send_op(c);
	else
		perf_setup_done();
}

static void plan_deletes(void)
{
	uint32_t n =
		perf.cfg.declare_only ? (uint32_t)perf.cfg.declare_only : (uint32_t)perf.cfg.queues;
	nops = 0;
	for (uint32_t i = 0; i < n; i++) {
		/* An auto-delete queue went away with its last consumer. */
		if (!perf.cfg.declare_only && perf.cfg.auto_delete && (int)i < perf.cfg.consumers)
			continue;
		push(OP_QDEL, i);
	}
	if (own_exchange())
		push(OP_XDEL, 0);
}

void setup_start(struct conn *c)
{
	const struct perf_cfg *cfg = &perf.cfg;
	uint32_t n = cfg->declare_only ? (uint32_t)cfg->declare_only : (uint32_t)cfg->queues;
	ops = xcalloc(2 * (size_t)n + 2, sizeof *ops);
	nops = 0;
	if (own_exchange())
		push(OP_XDECL, 0);
	for (uint32_t i = 0; i < n; i++) {
		push(OP_QDECL, i);
		if (cfg->exchange[0] || cfg->declare_only)
			push(OP_QBIND, i);
	}
	declaring_only = cfg->declare_only > 0;
	run_ops(c);
}

void setup_cleanup(struct conn *c)
{
	plan_deletes();
	run_ops(c);
}

int setup_on_method(struct conn *c, const struct amqp_method *m)
{
	if (next_op >= nops || m->id != reply_of(ops[next_op].kind))
		return -1;
	if (++next_op < nops) {
		send_op(c);
		return 0;
	}
	if (declaring_only) {
		/* Declared and bound: time it, then remove what we made. */
		declaring_only = false;
		declare_ns = now_ns() - t_begin;
		plan_deletes();
		run_ops(c);
		if (nops)
			return 0;
	} else if (perf.cfg.declare_only && !delete_ns) {
		delete_ns = now_ns() - t_begin;
	} else if (!perf.setup_ns) {
		perf.setup_ns = now_ns() - t_begin; /* the declares and binds before the run */
	}
	perf_setup_done();
	return 0;
}

void setup_report_declare_only(void)
{
	const struct perf_cfg *cfg = &perf.cfg;
	double d = (double)declare_ns / 1e9, x = (double)delete_ns / 1e9;
	double rate = d > 0 ? cfg->declare_only / d : 0, xrate = x > 0 ? cfg->declare_only / x : 0;
	if (cfg->json) {
		printf("{\"server\":\"%s\",\"declare_only\":%d,\"declare_bind_s\":%.3f,\"queues_per_s\":%.1f,"
		       "\"delete_s\":%.3f,\"deletes_per_s\":%.1f,\"ok\":%s}\n",
		       perf.server, cfg->declare_only, d, rate, x, xrate,
		       perf.failed ? "false" : "true");
	} else {
		printf("declared and bound %d queues in %.3f s: %.0f queues/s "
		       "(deleted in %.3f s: %.0f/s)\n",
		       cfg->declare_only, d, rate, x, xrate);
	}
	fflush(stdout);
}

const char *topic_pattern(uint32_t i, char *buf)
{
	static const char *const shape[3] = {"a.%u.#", "q.%u.*", "*.%u.z"};
	snprintf(buf, 32, shape[i % 3], i);
	return buf;
}

/* "a.I.x" meets '#' taking one word, "q.I.x" '*', "b.I.z" a '*' first;
 * none matches another I's pattern, nor another shape's. */
const char *topic_key(uint32_t i, char *buf)
{
	static const char *const shape[3] = {"a.%u.x", "q.%u.x", "b.%u.z"};
	snprintf(buf, 32, shape[i % 3], i);
	return buf;
}
