/* vhost.c — virtual hosts: exchange and queue maps, bindings, routing.
 * Routing semantics follow RabbitMQ: exchange-to-exchange bindings are
 * followed, each queue receives a message once, a cycle simply ends, and
 * an exchange whose type matched no binding passes the message to its
 * alternate exchange (if any). */
#include "broker/model/vhost.h"

#include <stdio.h>
#include <stdlib.h>

#include "broker/amqp/channel.h"
#include "broker/net/conn.h"
#include "broker/queue/persist.h"
#include "broker/model/policy.h"
#include "protocol/props.h"
#include "protocol/table.h"
#include "util/xalloc.h"

static struct strmap vhosts;

/* The exchanges every vhost has (RabbitMQ's set). */
static const struct {
	const char *name, *type;
	bool internal;
} builtins[] = {
	{"", "direct", false},
	{"amq.direct", "direct", false},
	{"amq.fanout", "fanout", false},
	{"amq.topic", "topic", false},
	{"amq.headers", "headers", false},
	{"amq.match", "headers", false},
	/* RabbitMQ's firehose tracer publishes here; Tern has no tracer, so
	 * nothing does, but clients (and the API) see it as in RabbitMQ. */
	{"amq.rabbitmq.trace", "topic", true},
};

bool vhost_builtin_exchange(struct bytes name)
{
	for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++)
		if (bytes_eq(name, builtins[i].name))
			return true;
	return false;
}

static struct bexchange *add_builtin(struct vhost *vh, const char *name, const char *type,
				     bool internal)
{
	int code;
	const char *why;
	struct bexchange *x = vhost_add_exchange(vh, bytes_of(name), exchange_type_find(bytes_of(type)),
						 (struct bytes){0}, &code, &why);
	x->durable = true;
	x->builtin = true;
	x->internal = internal;
	return x;
}

struct vhost *vhost_create(const char *name)
{
	if (strmap_get(&vhosts, name, strlen(name)))
		return NULL;
	struct vhost *vh = xcalloc(1, sizeof *vh);
	vh->name = xstrdup(name);
	vh->max_connections = vh->max_queues = -1;
	vh->refs = 1;
	strmap_put(&vhosts, vh->name, strlen(vh->name), vh);
	for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++)
		add_builtin(vh, builtins[i].name, builtins[i].type, builtins[i].internal);
	return vh;
}

/* Deletes the vhost's queues and exchanges (through the same calls as
 * AMQP's deletes, so the store follows when it is active). */
static void empty(struct vhost *vh)
{
	void *v;
	/* Collect first: deleting while iterating would move slots. */
	struct queue **qs = xmalloc((vh->queues.n + 1) * sizeof *qs);
	size_t nq = 0;
	for (size_t i = 0; strmap_next(&vh->queues, &i, &v);)
		qs[nq++] = v;
	for (size_t i = 0; i < nq; i++)
		vhost_delete_queue(vh, qs[i]);
	free(qs);
	/* Not collected first: deleting one exchange can delete others (an
	 * auto-delete source loses its last binding), so each is taken from
	 * the map when its turn comes. A deletion may shift a later entry
	 * behind the scan; the next pass finds it. */
	while (vh->exchanges.n)
		for (size_t i = 0; strmap_next(&vh->exchanges, &i, &v);)
			vhost_delete_exchange(vh, v);
}

void vhost_unref(struct vhost *vh)
{
	if (--vh->refs)
		return;
	empty(vh);
	strmap_free(&vh->queues);
	strmap_free(&vh->exchanges);
	free(vh->description);
	free(vh->tags);
	free(vh->default_queue_type);
	free(vh->name);
	free(vh);
}

void vhost_delete(struct vhost *vh)
{
	vh->deleted = true;
	strmap_del(&vhosts, vh->name, strlen(vh->name));
	char why[300];
	snprintf(why, sizeof why, "vhost '%s' is deleted", vh->name);
	for (struct conn *c = conn_list; c; c = c->next)
		if (c->vh == vh)
			conn_close_forced(c, why);
	empty(vh);
	vhost_unref(vh);
}

struct vhost *vhost_next(size_t *i)
{
	void *v;
	return strmap_next(&vhosts, i, &v) ? v : NULL;
}

void vhosts_free(void)
{
	void *v;
	struct vhost **all = xmalloc((vhosts.n + 1) * sizeof *all);
	size_t n = 0;
	for (size_t i = 0; strmap_next(&vhosts, &i, &v);)
		all[n++] = v;
	strmap_free(&vhosts);
	for (size_t i = 0; i < n; i++)
		vhost_unref(all[i]);
	free(all);
}

struct vhost *vhost_find(struct bytes name)
{
	return strmap_get(&vhosts, name.p, name.len);
}

struct bexchange *vhost_exchange(struct vhost *vh, struct bytes name)
{
	return strmap_get(&vh->exchanges, name.p, name.len);
}

struct queue *vhost_queue(struct vhost *vh, struct bytes name)
{
	return strmap_get(&vh->queues, name.p, name.len);
}

struct bexchange *vhost_add_exchange(struct vhost *vh, struct bytes name,
				     const struct exchange_type *t, struct bytes args, int *code,
				     const char **why)
{
	struct bexchange *x = xcalloc(1, sizeof *x);
	x->base.name = xstrndup(name.p, name.len);
	x->base.type = t;
	x->name_len = name.len;
	x->vh = vh;
	x->args = (struct bytes){xmemdup(args.p, args.len), args.len};
	*code = t->create(&x->base, x->args, why);
	if (*code) {
		free((void *)x->args.p);
		free(x->base.name);
		free(x);
		return NULL;
	}
	vhost_configure_exchange(x);
	strmap_put(&vh->exchanges, x->base.name, x->name_len, x);
	return x;
}

void vhost_configure_exchange(struct bexchange *x)
{
	struct fvalue ae;
	struct bytes aename;
	free(x->alternate);
	free(x->policy);
	x->alternate = x->policy = NULL;
	if (table_get(x->args, "alternate-exchange", &ae) && fvalue_str(&ae, &aename))
		x->alternate = xstrndup(aename.p, aename.len);
	if (x->builtin || x->name_len == 0)
		return; /* RabbitMQ applies no policy to the default exchange */
	struct bytes name = {(const uint8_t *)x->base.name, x->name_len};
	const struct policy *p = policy_match(x->vh->name, name, false, false);
	if (!p)
		return;
	x->policy = xstrdup(p->name);
	if (!x->alternate && p->def.alternate_exchange)
		x->alternate = xstrdup(p->def.alternate_exchange);
}

void vhost_apply_policies(struct vhost *vh)
{
	void *v;
	for (size_t i = 0; strmap_next(&vh->queues, &i, &v);)
		queue_configure(v);
	for (size_t i = 0; strmap_next(&vh->exchanges, &i, &v);)
		vhost_configure_exchange(v);
}

/* The key lives in the binding's own allocation (see vhost_bind). */
static void free_binding(struct binding *b)
{
	free((void *)b->args.p);
	free(b);
}

/* A source's bindings keep their index in src->out (src_slot), so that
 * dropping one of 100k bindings is not a scan of the other 99,999. */
static void out_push(struct bexchange *src, struct binding *b)
{
	if (src->nout == src->nout_cap) {
		src->nout_cap = src->nout_cap ? src->nout_cap * 2 : 4;
		src->out = xrealloc(src->out, src->nout_cap * sizeof *src->out);
	}
	b->src_slot = (uint32_t)src->nout;
	src->out[src->nout++] = b;
}

static void out_remove(struct bexchange *src, struct binding *b)
{
	size_t i = b->src_slot;
	if (i >= src->nout || src->out[i] != b)
		return;
	src->out[i] = src->out[--src->nout];
	src->out[i]->src_slot = (uint32_t)i;
}

static void remove_ptr(struct binding **v, size_t *n, struct binding *b)
{
	for (size_t i = 0; i < *n; i++) {
		if (v[i] == b) {
			v[i] = v[--*n];
			return;
		}
	}
}

static void push_ptr(struct binding ***v, size_t *n, size_t *cap, struct binding *b)
{
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 4;
		*v = xrealloc(*v, *cap * sizeof **v);
	}
	(*v)[(*n)++] = b;
}

/* Unlinks b from both ends and the type index, then frees it. An
 * auto-delete source exchange goes with its last binding. */
static void drop_binding(struct vhost *vh, struct binding *b, bool cascade)
{
	struct bexchange *src = (struct bexchange *)b->source;
	persist_binding_removed(b);
	src->base.type->unbind(&src->base, b);
	out_remove(src, b);
	if (b->kind == DEST_QUEUE) {
		queue_remove_binding(b->dest, b);
	} else {
		struct bexchange *dx = b->dest;
		remove_ptr(dx->in, &dx->nin, b);
	}
	free_binding(b);
	if (cascade && src->auto_delete && src->nout == 0 && !src->builtin)
		vhost_delete_exchange(vh, src);
}

void vhost_delete_exchange(struct vhost *vh, struct bexchange *x)
{
	while (x->nout)
		drop_binding(vh, x->out[x->nout - 1], false);
	while (x->nin)
		drop_binding(vh, x->in[x->nin - 1], true);
	persist_exchange_deleted(x);
	strmap_del(&vh->exchanges, x->base.name, x->name_len);
	x->base.type->destroy(&x->base);
	free(x->out);
	free(x->in);
	free(x->alternate);
	free(x->policy);
	free(x->creator);
	free((void *)x->args.p);
	free(x->base.name);
	free(x);
}

void vhost_add_queue(struct vhost *vh, struct queue *q)
{
	strmap_put(&vh->queues, q->name, q->name_len, q);
}

uint32_t vhost_delete_queue(struct vhost *vh, struct queue *q)
{
	if (q->deleted)
		return 0;
	q->deleted = true;
	stats_churn.queues_deleted++;
	while (q->nbinds)
		drop_binding(vh, q->binds[q->nbinds - 1], true);
	while (q->ncons) {
		struct consumer *cons = q->cons[q->ncons - 1];
		channel_cancel_consumer(cons->ch, cons, true);
	}
	/* The store drops the queue's entries with its row, in one write; so
	 * it forgets the queue first, and the purge writes nothing per entry
	 * (a million entries made a batch of a million deletes). */
	persist_queue_deleted(q);
	uint32_t n = queue_purge(q);
	if (q->exclusive && q->owner)
		conn_disown_queue(q->owner, q);
	strmap_del(&vh->queues, q->name, q->name_len);
	queue_unref(q);
	return n;
}

static bool same_binding(const struct binding *b, enum binding_dest kind, const void *dest,
			 struct bytes key, struct bytes args)
{
	return b->kind == kind && b->dest == dest && b->key_len == key.len &&
	       memcmp(b->key, key.p, key.len) == 0 && b->args.len == args.len &&
	       (args.len == 0 || memcmp(b->args.p, args.p, args.len) == 0);
}

/* The binding src -> dest with this key and arguments, or NULL. Looks
 * through the shorter of the source's list and the destination's: one
 * topic exchange with 100k queues bound has a long list, each of its
 * queues a short one. */
static struct binding *find_binding(const struct bexchange *src, enum binding_dest kind,
				    const void *dest, struct bytes key, struct bytes args)
{
	struct binding *const *v = src->out;
	size_t n = src->nout;
	if (kind == DEST_QUEUE && ((const struct queue *)dest)->nbinds < n) {
		v = ((const struct queue *)dest)->binds;
		n = ((const struct queue *)dest)->nbinds;
	} else if (kind != DEST_QUEUE && ((const struct bexchange *)dest)->nin < n) {
		v = ((const struct bexchange *)dest)->in;
		n = ((const struct bexchange *)dest)->nin;
	}
	for (size_t i = 0; i < n; i++)
		if (v[i]->source == &src->base && same_binding(v[i], kind, dest, key, args))
			return v[i];
	return NULL;
}

bool vhost_bound(const struct bexchange *src, enum binding_dest kind, const void *dest,
		 struct bytes key, struct bytes args)
{
	return find_binding(src, kind, dest, key, args) != NULL;
}

int vhost_bind(struct vhost *vh, struct bexchange *src, enum binding_dest kind, void *dest,
	       struct bytes key, struct bytes args, const char **why)
{
	(void)vh;
	if (find_binding(src, kind, dest, key, args))
		return 0;
	struct binding *b = xcalloc(1, sizeof *b + key.len + 1);
	b->source = &src->base;
	b->kind = kind;
	b->dest = dest;
	b->key = (char *)(b + 1);
	if (key.len) /* an empty key may come as a NULL view */
		memcpy(b->key, key.p, key.len);
	b->key_len = key.len;
	b->args = (struct bytes){args.len ? xmemdup(args.p, args.len) : NULL, args.len};
	int rc = src->base.type->bind(&src->base, b, why);
	if (rc) {
		free_binding(b);
		return rc;
	}
	out_push(src, b);
	if (kind == DEST_QUEUE) {
		queue_add_binding(dest, b);
	} else {
		struct bexchange *dx = dest;
		push_ptr(&dx->in, &dx->nin, &dx->nin_cap, b);
	}
	persist_binding_added(b);
	return 0;
}

void vhost_unbind(struct vhost *vh, struct bexchange *src, enum binding_dest kind, void *dest,
		  struct bytes key, struct bytes args)
{
	struct binding *b = find_binding(src, kind, dest, key, args);
	if (b)
		drop_binding(vh, b, true);
}

/* Routing scratch, reused across calls (one thread). */
static struct dest_set matched;
static struct queue **found;
static size_t nfound, found_cap;
static struct bexchange **todo;
static size_t ntodo, todo_cap;
static uint64_t epoch;  /* per vhost_route call: queues taken */
static uint64_t xepoch; /* per routing key: exchanges walked */

static void visit(struct bexchange *x)
{
	if (x->visit_epoch == xepoch)
		return; /* already routed through: a cycle or a diamond */
	x->visit_epoch = xepoch;
	if (ntodo == todo_cap) {
		todo_cap = todo_cap ? todo_cap * 2 : 8;
		todo = xrealloc(todo, todo_cap * sizeof *todo);
	}
	todo[ntodo++] = x;
}

static void add_found(struct queue *q)
{
	if (q->route_epoch == epoch)
		return; /* each queue once, whatever the keys and paths */
	q->route_epoch = epoch;
	if (nfound == found_cap) {
		found_cap = found_cap ? found_cap * 2 : 8;
		found = xrealloc(found, found_cap * sizeof *found);
	}
	found[nfound++] = q;
}

/* Routes one routing key from x, following exchange-to-exchange
 * bindings and alternate exchanges; xepoch marks the exchanges seen. */
static void route_key(struct vhost *vh, struct bexchange *x, const struct route_msg *m)
{
	if (x->name_len == 0) {
		/* The default exchange: every queue is bound by its own name. */
		struct queue *q = vhost_queue(vh, m->routing_key);
		if (q)
			add_found(q);
		return;
	}
	xepoch++;
	ntodo = 0;
	visit(x);
	for (size_t i = 0; i < ntodo; i++) {
		struct bexchange *cur = todo[i];
		matched.n = 0;
		cur->base.type->route(&cur->base, m, &matched);
		if (matched.n == 0 && cur->alternate) {
			struct bexchange *ae = vhost_exchange(vh, bytes_of(cur->alternate));
			if (ae)
				visit(ae);
		}
		for (size_t j = 0; j < matched.n; j++) {
			struct binding *b = matched.v[j];
			if (b->kind == DEST_EXCHANGE)
				visit(b->dest);
			else
				add_found(b->dest);
		}
	}
}

size_t vhost_route(struct vhost *vh, struct bexchange *x, const struct route_msg *m,
		   struct queue ***out)
{
	epoch++;
	nfound = 0;
	route_key(vh, x, m);
	/* Sender-selected distribution (RabbitMQ's extension): string arrays
	 * in the CC and BCC headers are more routing keys. */
	static const char *const extra[] = {"CC", "BCC"};
	for (int k = 0; k < 2; k++) {
		struct fvalue list, v;
		if (!table_get(m->headers, extra[k], &list) || list.type != 'A')
			continue;
		struct table_iter it = table_iter(list.v.s);
		while (array_next(&it, &v)) {
			struct route_msg one = *m;
			if (fvalue_str(&v, &one.routing_key))
				route_key(vh, x, &one);
		}
	}
	*out = found;
	return nfound;
}

size_t vhost_route_message(struct vhost *vh, struct bexchange *x, const struct message *m,
			   struct queue ***out, struct bytes *headers)
{
	struct amqp_props props;
	struct bytes raw = message_props(m);
	struct route_msg rm = {.routing_key = message_rkey(m)};
	if (props_decode(raw.p, raw.len, &props) == 0)
		rm.headers = props.headers;
	if (headers)
		*headers = rm.headers;
	return vhost_route(vh, x, &rm, out);
}
