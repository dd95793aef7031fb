/* delayed.c — the x-delayed-message exchange type, compatible with
 * RabbitMQ's community plugin (rabbitmq-delayed-message-exchange): declare
 * it with the argument x-delayed-type (direct, topic, fanout, headers) and
 * publish with an x-delay header in milliseconds; the message is routed,
 * by the x-delayed-type's rules, once the delay has passed. A missing,
 * negative or non-numeric x-delay routes at once, as the plugin does.
 * Beyond the plugin: `mandatory` is honoured at publish time (nothing
 * would route it now: basic.return, and it is not kept).
 *
 * Design notes. Every delayed message is stored (the delayed table) with
 * its due time in wall-clock ms, so it survives restarts, and its publisher
 * confirm waits for that commit. Only the next WINDOW_MS of due messages
 * sit in RAM, each on the broker's timer heap (timer.h); a loader wakes
 * every half window to bring in the next slice. So a million messages due
 * over an hour cost the memory of a few seconds' worth. Firing routes the
 * message from its exchange, if it still exists, and deletes its row. */
#include <stdlib.h>

#include "broker/amqp/channel.h"
#include "broker/net/conn.h"
#include "broker/amqp/handlers.h"
#include "broker/core/log.h"
#include "broker/queue/persist.h"
#include "broker/net/server.h"
#include "broker/queue/timer.h"
#include "broker/model/vhost.h"
#include "plugins/delayed.h"
#include "plugins/tern_plugin.h"
#include "protocol/frame.h"
#include "protocol/props.h"
#include "protocol/table.h"
#include "util/xalloc.h"

#define WINDOW_MS 10000

const struct exchange_type delayed_type;

/* ---- the exchange type: the x-delayed-type's rules around a shadow ---- */

struct wrap {
	struct exchange shadow; /* the inner type's view of this exchange */
};

static const char bad_type[] = "Invalid argument, 'x-delayed-type' must be an existing exchange type";

static int d_create(struct exchange *x, struct bytes args, const char **why)
{
	struct fvalue v;
	struct bytes name;
	const struct exchange_type *t = NULL;
	if (table_get(args, "x-delayed-type", &v) && fvalue_str(&v, &name))
		t = exchange_type_find(name);
	if (!t || t == &delayed_type) {
		*why = bad_type;
		return AMQP_PRECONDITION_FAILED;
	}
	struct wrap *w = xcalloc(1, sizeof *w);
	w->shadow = (struct exchange){x->name, t, NULL};
	int rc = t->create(&w->shadow, args, why);
	if (rc) {
		free(w);
		return rc;
	}
	x->type_data = w;
	return 0;
}

static void d_destroy(struct exchange *x)
{
	struct wrap *w = x->type_data;
	w->shadow.type->destroy(&w->shadow);
	free(w);
}

static int d_bind(struct exchange *x, struct binding *b, const char **why)
{
	struct wrap *w = x->type_data;
	return w->shadow.type->bind(&w->shadow, b, why);
}

static void d_unbind(struct exchange *x, struct binding *b)
{
	struct wrap *w = x->type_data;
	w->shadow.type->unbind(&w->shadow, b);
}

static void d_route(struct exchange *x, const struct route_msg *m, struct dest_set *out)
{
	struct wrap *w = x->type_data;
	w->shadow.type->route(&w->shadow, m, out);
}

const struct exchange_type delayed_type = {
	EXCHANGE_TYPE_VERSION, "x-delayed-message", d_create, d_destroy, d_bind, d_unbind, d_route,
};

/* ---- scheduling ---- */

struct pending {
	uint64_t id;
	uint64_t due; /* wall-clock ms */
	struct vhost *vh;
	struct message *m;
	bool cancelled; /* delayed_cancel: fires as nothing */
};

static uint64_t loaded_until; /* every stored message due before this is in RAM */
static struct strmap loaded;   /* id -> struct pending on the timer heap */

static void fire(void *obj, uint64_t when)
{
	struct pending *p = obj;
	if (when) /* (when 0: the timers are being freed, after stop() freed the map) */
		strmap_del(&loaded, &p->id, sizeof p->id);
	if (when && !p->cancelled) {
		uint64_t late = wall_ms() - p->due;
		if (late > 20 && p->due < wall_ms())
			log_debug("delayed message %llu fired %llu ms late", (unsigned long long)p->id,
				  (unsigned long long)late);
		struct bexchange *x = vhost_exchange(p->vh, message_exchange(p->m));
		bool refused = false;
		if (x) /* gone meanwhile: the message goes with it */
			basic_route(p->vh, x, p->m, NULL, &refused);
		persist_delayed_del(p->id);
	}
	message_unref(p->m);
	free(p);
}

static void schedule(uint64_t id, uint64_t due_wall, struct vhost *vh, struct message *m)
{
	struct pending *p = xmalloc(sizeof *p);
	*p = (struct pending){id, due_wall, vh, message_ref(m), false};
	strmap_put(&loaded, &p->id, sizeof p->id, p);
	/* Both clocks count whole milliseconds, so a timer for the due
	 * millisecond could fire up to one before the delay has passed: one
	 * more keeps it never early (RabbitMQ's plugin's timers never are). */
	uint64_t now_w = wall_ms(), now_m = now_ms();
	timer_add(due_wall > now_w ? now_m + (due_wall - now_w) + 1 : now_m, fire, p);
}

static void on_row(void *ctx, uint64_t id, uint64_t due, const char *vhost, struct bytes exchange,
		   struct bytes rkey, struct bytes props, struct bytes body)
{
	(void)ctx;
	struct vhost *vh = vhost_find(bytes_of(vhost));
	if (!vh)
		return;
	struct message *m = message_decoded(exchange, rkey, props, body);
	schedule(id, due, vh, m);
	message_unref(m);
}

static void load_window(void *obj, uint64_t when)
{
	(void)obj;
	if (!when)
		return;
	uint64_t to = wall_ms() + WINDOW_MS;
	persist_delayed_scan(loaded_until, to, on_row, NULL);
	loaded_until = to;
	timer_add(now_ms() + WINDOW_MS / 2, load_window, NULL);
}

/* ---- publishing ---- */

/* The x-delay header as a positive number of ms; false when absent,
 * not an integer, or not positive (then the message routes at once). */
static bool delay_of(const struct message *m, int64_t *delay)
{
	struct amqp_props p;
	struct fvalue v;
	struct bytes raw = message_props(m);
	return props_decode(raw.p, raw.len, &p) == 0 && table_get(p.headers, "x-delay", &v) &&
	       fvalue_int(&v, delay) && *delay > 0;
}

static bool would_route(struct vhost *vh, struct bexchange *x, const struct message *m)
{
	struct queue **qs;
	return vhost_route_message(vh, x, m, &qs, NULL) > 0;
}

static bool on_publish(struct channel *ch, struct bexchange *x, struct message *m, bool mandatory,
		       uint64_t seq)
{
	int64_t delay;
	if (x->base.type != &delayed_type || !delay_of(m, &delay))
		return false;
	struct vhost *vh = x->vh;
	/* ch is NULL for the HTTP API's publish: no return, no confirm. */
	if (!ch)
		mandatory = false, seq = 0;
	if (mandatory && !would_route(vh, x, m)) {
		basic_send_return(ch, m);
		if (seq)
			channel_confirm(ch, seq);
		return true;
	}
	uint64_t due = wall_ms() + (uint64_t)delay;
	uint64_t writes = persist_writes;
	uint64_t id = persist_delayed_put(due, vh, m);
	if (id && due < loaded_until)
		schedule(id, due, vh, m);
	if (seq && persist_writes != writes)
		channel_confirm_after_commit(ch, seq, 0); /* a failed put is nacked there */
	else if (seq)
		channel_confirm(ch, seq);
	return true;
}

/* ---- the plugin ---- */

static int init(void)
{
	hook_publish_add(on_publish);
	return exchange_type_register(&delayed_type);
}

static int start(void)
{
	loaded_until = 0; /* overdue messages (due while stopped) fire at once */
	load_window(NULL, 1);
	return 0;
}

static void stop(void)
{
	strmap_free(&loaded);
}

/* ---- the management API's view ---- */

struct listing {
	const struct bexchange *x;
	size_t offset, count, seen;
	delayed_fn fn;
	void *ctx;
	uint64_t cancel; /* delayed_cancel: the id looked for */
	bool found;
};

static void on_listed(void *ctx, uint64_t id, uint64_t due, const char *vhost,
		      struct bytes exchange, struct bytes rkey, struct bytes props, struct bytes body)
{
	struct listing *l = ctx;
	if (strcmp(vhost, l->x->vh->name) || !bytes_eq(exchange, l->x->base.name))
		return;
	if (l->cancel) {
		l->found |= id == l->cancel;
		return;
	}
	if (l->seen >= l->offset && l->seen < l->offset + l->count) {
		struct message *m = message_decoded(exchange, rkey, props, body);
		l->fn(l->ctx, id, due, m);
		message_unref(m);
	}
	l->seen++;
}

long delayed_list(const struct bexchange *x, size_t offset, size_t count, delayed_fn fn,
		  void *ctx)
{
	if (x->base.type != &delayed_type)
		return -1;
	struct listing l = {x, offset, count, 0, fn, ctx, 0, false};
	return persist_delayed_scan(0, (uint64_t)INT64_MAX, on_listed, &l) < 0 ? -1 : (long)l.seen;
}

int delayed_cancel(const struct bexchange *x, uint64_t id)
{
	if (x->base.type != &delayed_type || !id)
		return -1;
	struct listing l = {.x = x, .cancel = id};
	if (persist_delayed_scan(0, (uint64_t)INT64_MAX, on_listed, &l) < 0 || !l.found)
		return -1;
	struct pending *p = strmap_get(&loaded, &id, sizeof id);
	if (p)
		p->cancelled = true; /* its timer still fires, to free it */
	persist_delayed_del(id);
	return 0;
}

const struct tern_plugin delayed_plugin = {TERN_PLUGIN_ABI, "delayed_message_exchange", init, start,
					    stop};
