/* defs_topology.c — queues, exchanges and bindings as RabbitMQ's
 * definitions objects (rows of defs_kinds.h's table), declared through
 * ops.h as AMQP declares them. */
#include "broker/model/defs_kinds.h"

#include <stdio.h>
#include <stdlib.h>

#include "broker/model/access.h"
#include "broker/core/config.h"
#include "broker/net/conn.h"
#include "broker/model/jtable.h"
#include "broker/core/log.h"
#include "broker/model/ops.h"
#include "broker/queue/persist.h"
#include "broker/model/policy.h"
#include "broker/queue/queue_args.h"
#include "broker/model/vhost.h"
#include "util/regex.h"
#include "util/strmap.h"
#include "util/xalloc.h"

#define ERR(...) (snprintf(err, errlen, __VA_ARGS__), -1)

/* ---- queues and exchanges ---- */

static void queue_describe(const char *id, char *out, size_t n)
{
	json_t *a = defs_id_parts(id);
	snprintf(out, n, "queue '%s' in vhost '%s'", defs_part(a, 1), defs_part(a, 0));
	json_decref(a);
}

static void exchange_describe(const char *id, char *out, size_t n)
{
	json_t *a = defs_id_parts(id);
	snprintf(out, n, "exchange '%s' in vhost '%s'", defs_part(a, 1), defs_part(a, 0));
	json_decref(a);
}

/* The "arguments" field as a field table (owned by the caller). */
static int args_of(const json_t *o, struct bytes *args, char *err, size_t errlen)
{
	char why[256];
	if (jtable_from_json(json_object_get(o, "arguments"), args, why, sizeof why) < 0)
		return ERR("arguments: %s", why);
	return 0;
}

/* The declaration an object stands for. */
static int queue_decl_of(const json_t *o, struct queue_decl *d, char *err, size_t errlen)
{
	const char *name = defs_str(o, "name", err, errlen);
	int durable = defs_opt_bool(o, "durable", true, err, errlen);
	int auto_delete = durable < 0 ? -1 : defs_opt_bool(o, "auto_delete", false, err, errlen);
	if (!name || auto_delete < 0)
		return -1;
	*d = (struct queue_decl){
		.name = bytes_of(name), .durable = durable, .auto_delete = auto_delete};
	return args_of(o, &d->args, err, errlen);
}

static int queue_plan(const json_t *o, const struct defs_index *fi, enum defs_change *c, char *note,
		      size_t notelen, char *err, size_t errlen)
{
	const char *v = defs_str(o, "vhost", err, errlen);
	struct queue_decl d;
	if (!v || defs_need_vhost(fi, v, err, errlen) || queue_decl_of(o, &d, err, errlen))
		return -1;
	char why[256];
	int rc = 0;
	if (queue_args_validate(d.args, why, sizeof why) < 0)
		rc = ERR("arguments: %s", why);
	struct vhost *vh = vhost_find(bytes_of(v));
	struct queue *q = vh ? vhost_queue(vh, d.name) : NULL;
	*c = q ? DC_NONE : DC_CREATE;
	if (q && !rc) {
		const char *arg = queue_args_equivalent(q->args, d.args);
		const char *diff = q->exclusive                      ? "exclusive"
				   : q->durable != d.durable         ? "durable"
				   : q->auto_delete != d.auto_delete ? "auto_delete"
								     : arg;
		if (diff) {
			*c = DC_KEEP;
			snprintf(note, notelen, ": %s differs from the file; left as it is", diff);
		}
	}
	free((void *)d.args.p);
	return rc;
}

static int queue_apply(const json_t *o, char *err, size_t errlen)
{
	struct queue_decl d;
	const char *v = defs_str(o, "vhost", err, errlen);
	if (queue_decl_of(o, &d, err, errlen) < 0)
		return -1;
	struct queue *q;
	struct op_err e;
	int rc = op_queue_declare(vhost_find(bytes_of(v)), NULL, &d, &q, &e);
	free((void *)d.args.p);
	return rc ? ERR("%s", e.text) : 0;
}

/* Queues prune may remove: not exclusive, auto-delete or server-named. */
static bool prunable(const struct queue *q)
{
	return !q->exclusive && !q->auto_delete &&
	       !(q->name_len >= 8 && !memcmp(q->name, "amq.gen-", 8));
}

static void queue_each(defs_each_fn fn, void *ctx)
{
	struct vhost *vh;
	for (size_t i = 0; (vh = vhost_next(&i));) {
		void *v;
		for (size_t j = 0; strmap_next(&vh->queues, &j, &v);) {
			struct queue *q = v;
			if (!prunable(q))
				continue;
			char *id = ID(vh->name, q->name), what[600];
			queue_describe(id, what, sizeof what);
			fn(ctx, id, what, q->len + q->unacked);
			free(id);
		}
	}
}

static void queue_remove(const char *id)
{
	json_t *a = defs_id_parts(id);
	struct vhost *vh = vhost_find(bytes_of(defs_part(a, 0)));
	struct queue *q = vh ? vhost_queue(vh, bytes_of(defs_part(a, 1))) : NULL;
	if (q)
		vhost_delete_queue(vh, q);
	json_decref(a);
}

static void queue_export(json_t *arr)
{
	struct vhost *vh;
	for (size_t i = 0; (vh = vhost_next(&i));) {
		void *v;
		for (size_t j = 0; strmap_next(&vh->queues, &j, &v);) {
			struct queue *q = v;
			if (q->exclusive)
				continue;
			/* RabbitMQ 3.10 writes no "type" for classic queues. */
			json_array_append_new(arr,
					      json_pack("{s:s%, s:s, s:b, s:b, s:o}", "name", q->name,
							(size_t)q->name_len, "vhost", vh->name,
							"durable", q->durable, "auto_delete",
							q->auto_delete, "arguments",
							jtable_to_json(q->args)));
		}
	}
}

static int exchange_decl_of(const json_t *o, struct exchange_decl *d, char *err, size_t errlen)
{
	const char *name = defs_str(o, "name", err, errlen);
	const char *type = name ? defs_str(o, "type", err, errlen) : NULL;
	int durable = defs_opt_bool(o, "durable", true, err, errlen);
	int auto_delete = durable < 0 ? -1 : defs_opt_bool(o, "auto_delete", false, err, errlen);
	int internal = auto_delete < 0 ? -1 : defs_opt_bool(o, "internal", false, err, errlen);
	if (!type || internal < 0)
		return -1;
	*d = (struct exchange_decl){.name = bytes_of(name),
				    .type = bytes_of(type),
				    .durable = durable,
				    .auto_delete = auto_delete,
				    .internal = internal};
	return args_of(o, &d->args, err, errlen);
}

static bool builtin_name(struct bytes name)
{
	return name.len == 0 || (name.len >= 4 && !memcmp(name.p, "amq.", 4));
}

static int exchange_plan(const json_t *o, const struct defs_index *fi, enum defs_change *c,
			 char *note, size_t notelen, char *err, size_t errlen)
{
	const char *v = defs_str(o, "vhost", err, errlen);
	struct exchange_decl d;
	if (!v || defs_need_vhost(fi, v, err, errlen) || exchange_decl_of(o, &d, err, errlen))
		return -1;
	free((void *)d.args.p);
	const struct exchange_type *t = exchange_type_find(d.type);
	if (!t)
		return ERR("type: unknown exchange type '%.*s'", (int)d.type.len,
			   (const char *)d.type.p);
	struct vhost *vh = vhost_find(bytes_of(v));
	struct bexchange *x = vh ? vhost_exchange(vh, d.name) : NULL;
	if (!x && builtin_name(d.name))
		return ERR("name: '%.*s' is reserved (amq.* names belong to the broker)",
			   (int)d.name.len, (const char *)d.name.p);
	*c = x ? DC_NONE : DC_CREATE;
	if (x && !x->builtin) {
		const char *diff = x->base.type != t                 ? "type"
				   : x->durable != d.durable         ? "durable"
				   : x->auto_delete != d.auto_delete ? "auto_delete"
				   : x->internal != d.internal       ? "internal"
								     : NULL;
		if (diff) {
			*c = DC_KEEP;
			snprintf(note, notelen, ": %s differs from the file; left as it is", diff);
		}
	}
	return 0;
}

static int exchange_apply(const json_t *o, char *err, size_t errlen)
{
	struct exchange_decl d;
	const char *v = defs_str(o, "vhost", err, errlen);
	if (exchange_decl_of(o, &d, err, errlen) < 0)
		return -1;
	struct op_err e;
	int rc = op_exchange_declare(vhost_find(bytes_of(v)), NULL, &d, NULL, &e);
	free((void *)d.args.p);
	return rc ? ERR("%s", e.text) : 0;
}

static void exchange_each(defs_each_fn fn, void *ctx)
{
	struct vhost *vh;
	for (size_t i = 0; (vh = vhost_next(&i));) {
		void *v;
		for (size_t j = 0; strmap_next(&vh->exchanges, &j, &v);) {
			struct bexchange *x = v;
			if (x->builtin)
				continue;
			char *id = ID(vh->name, x->base.name), what[600];
			exchange_describe(id, what, sizeof what);
			fn(ctx, id, what, 0);
			free(id);
		}
	}
}

static void exchange_remove(const char *id)
{
	json_t *a = defs_id_parts(id);
	struct vhost *vh = vhost_find(bytes_of(defs_part(a, 0)));
	struct bexchange *x = vh ? vhost_exchange(vh, bytes_of(defs_part(a, 1))) : NULL;
	if (x && !x->builtin)
		vhost_delete_exchange(vh, x);
	json_decref(a);
}

static void exchange_export(json_t *arr)
{
	struct vhost *vh;
	for (size_t i = 0; (vh = vhost_next(&i));) {
		void *v;
		for (size_t j = 0; strmap_next(&vh->exchanges, &j, &v);) {
			struct bexchange *x = v;
			if (x->builtin)
				continue;
			json_array_append_new(
				arr, json_pack("{s:s, s:s, s:s, s:b, s:b, s:b, s:o}", "name",
					       x->base.name, "vhost", vh->name, "type",
					       x->base.type->name, "durable", x->durable,
					       "auto_delete", x->auto_delete, "internal",
					       x->internal, "arguments", jtable_to_json(x->args)));
		}
	}
}
/* ---- bindings ---- */

static char *binding_id_of(const char *vhost, const char *source, const char *dtype,
			   const char *dest, const char *key, const json_t *args)
{
	json_t *empty = json_object();
	char *a = json_dumps(args && json_is_object(args) ? args : empty,
			     JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(empty);
	char *id = ID(vhost, source, dtype, dest, key, a);
	free(a);
	return id;
}

static char *binding_id(const json_t *o, char *err, size_t errlen)
{
	const char *v = defs_str(o, "vhost", err, errlen);
	const char *s = v ? defs_str(o, "source", err, errlen) : NULL;
	const char *d = s ? defs_str(o, "destination", err, errlen) : NULL;
	const char *t = d ? defs_str(o, "destination_type", err, errlen) : NULL;
	const char *k = t ? defs_opt_str(o, "routing_key", "", err, errlen) : NULL;
	if (!k)
		return NULL;
	if (strcmp(t, "queue") && strcmp(t, "exchange")) {
		snprintf(err, errlen, "destination_type: expected \"queue\" or \"exchange\"");
		return NULL;
	}
	return binding_id_of(v, s, t, d, k, json_object_get(o, "arguments"));
}

static void binding_describe(const char *id, char *out, size_t n)
{
	json_t *a = defs_id_parts(id);
	snprintf(out, n, "binding of %s '%s' to exchange '%s' with key '%s' in vhost '%s'",
		 defs_part(a, 2), defs_part(a, 3), defs_part(a, 1), defs_part(a, 4),
		 defs_part(a, 0));
	json_decref(a);
}

static char *model_binding_id(const struct vhost *vh, const struct binding *b)
{
	const struct bexchange *src = (const struct bexchange *)b->source;
	bool q = b->kind == DEST_QUEUE;
	const char *dest = q ? ((const struct queue *)b->dest)->name
			     : ((const struct bexchange *)b->dest)->base.name;
	json_t *args = jtable_to_json(b->args);
	char key[256];
	snprintf(key, sizeof key, "%.*s", (int)b->key_len, b->key);
	char *id =
		binding_id_of(vh->name, src->base.name, q ? "queue" : "exchange", dest, key, args);
	json_decref(args);
	return id;
}

static struct strmap model_bindings;
static bool model_bindings_built;

/* Calls fn for each binding of the model with a non-default source. */
static void each_model_binding(void (*fn)(void *ctx, struct vhost *vh, struct binding *b),
			       void *ctx)
{
	struct vhost *vh;
	for (size_t i = 0; (vh = vhost_next(&i));) {
		void *v;
		for (size_t j = 0; strmap_next(&vh->exchanges, &j, &v);) {
			struct bexchange *x = v;
			for (size_t k = 0; k < x->nout; k++)
				fn(ctx, vh, x->out[k]);
		}
	}
}

static void index_binding(void *ctx, struct vhost *vh, struct binding *b)
{
	(void)ctx;
	char *id = model_binding_id(vh, b);
	if (strmap_get(&model_bindings, id, strlen(id)))
		free(id);
	else
		strmap_put(&model_bindings, id, strlen(id), id);
}

bool defs_binding_exists(const char *id)
{
	if (!model_bindings_built) {
		each_model_binding(index_binding, NULL);
		model_bindings_built = true;
	}
	return strmap_get(&model_bindings, id, strlen(id)) != NULL;
}

void defs_bindings_forget(void)
{
	void *v;
	for (size_t i = 0; strmap_next(&model_bindings, &i, &v);)
		free(v);
	strmap_free(&model_bindings);
	model_bindings_built = false;
}

/* An exchange exists now, is in the import, or is one of the built-in
 * ones every vhost (also one the import creates) has. */
static bool exchange_known(const struct defs_index *fi, struct vhost *vh, const char *name,
			   const char *id)
{
	return (vh && vhost_exchange(vh, bytes_of(name))) || defs_index_has(fi, DK_EXCHANGE, id) ||
	       (!vh && vhost_builtin_exchange(bytes_of(name)));
}

static int binding_plan(const json_t *o, const struct defs_index *fi, enum defs_change *c,
			char *note, size_t notelen, char *err, size_t errlen)
{
	(void)note;
	(void)notelen;
	char *id = binding_id(o, err, errlen);
	if (!id)
		return -1;
	const char *v = defs_str(o, "vhost", err, errlen), *s = defs_str(o, "source", err, errlen);
	const char *d = defs_str(o, "destination", err, errlen);
	bool to_queue = !strcmp(defs_str(o, "destination_type", err, errlen), "queue");
	struct vhost *vh = vhost_find(bytes_of(v));
	char *sid = ID(v, s), *did = ID(v, d);
	int rc = 0;
	struct bytes args;
	if (defs_need_vhost(fi, v, err, errlen))
		rc = -1;
	else if (!*s)
		rc = ERR("source: bindings of the default exchange are implicit");
	else if (!exchange_known(fi, vh, s, sid))
		rc = ERR("source: no exchange '%s' in vhost '%s'", s, v);
	else if (to_queue && !(vh && vhost_queue(vh, bytes_of(d))) &&
		 !defs_index_has(fi, DK_QUEUE, did))
		rc = ERR("destination: no queue '%s' in vhost '%s'", d, v);
	else if (!to_queue && !exchange_known(fi, vh, d, did))
		rc = ERR("destination: no exchange '%s' in vhost '%s'", d, v);
	else if ((rc = args_of(o, &args, err, errlen)) == 0)
		free((void *)args.p);
	if (rc == 0)
		*c = defs_binding_exists(id) ? DC_NONE : DC_CREATE;
	free(sid);
	free(did);
	free(id);
	return rc;
}

static int binding_apply(const json_t *o, char *err, size_t errlen)
{
	const char *v = defs_str(o, "vhost", err, errlen), *s = defs_str(o, "source", err, errlen);
	const char *d = defs_str(o, "destination", err, errlen);
	bool to_queue = !strcmp(defs_str(o, "destination_type", err, errlen), "queue");
	struct bytes args;
	if (args_of(o, &args, err, errlen) < 0)
		return -1;
	struct op_err e;
	int rc =
		op_bind(vhost_find(bytes_of(v)), NULL, to_queue ? DEST_QUEUE : DEST_EXCHANGE,
			bytes_of(s), bytes_of(d),
			bytes_of(defs_opt_str(o, "routing_key", "", err, errlen)), args, false, &e);
	free((void *)args.p);
	return rc ? ERR("%s", e.text) : 0;
}

struct each_ctx {
	defs_each_fn fn;
	void *ctx;
};

static void list_binding(void *ctx, struct vhost *vh, struct binding *b)
{
	struct each_ctx *ec = ctx;
	if (b->kind == DEST_QUEUE && !prunable(b->dest))
		return;
	char *id = model_binding_id(vh, b), what[900];
	binding_describe(id, what, sizeof what);
	ec->fn(ec->ctx, id, what, 0);
	free(id);
}

static void binding_each(defs_each_fn fn, void *ctx)
{
	struct each_ctx ec = {fn, ctx};
	each_model_binding(list_binding, &ec);
}

static void binding_remove(const char *id)
{
	json_t *a = defs_id_parts(id);
	struct vhost *vh = vhost_find(bytes_of(defs_part(a, 0)));
	struct bexchange *src = vh ? vhost_exchange(vh, bytes_of(defs_part(a, 1))) : NULL;
	/* The model's binding whose id this is (its own argument bytes). */
	for (size_t i = 0; src && i < src->nout; i++) {
		char *bid = model_binding_id(vh, src->out[i]);
		bool hit = !strcmp(bid, id);
		free(bid);
		if (hit) {
			struct binding *b = src->out[i];
			vhost_unbind(vh, src, b->kind, b->dest,
				     (struct bytes){(uint8_t *)b->key, b->key_len}, b->args);
			break;
		}
	}
	json_decref(a);
}

static void export_binding(void *ctx, struct vhost *vh, struct binding *b)
{
	json_t *arr = ctx;
	if (b->kind == DEST_QUEUE && ((struct queue *)b->dest)->exclusive)
		return;
	const struct bexchange *src = (const struct bexchange *)b->source;
	bool q = b->kind == DEST_QUEUE;
	const char *dest = q ? ((const struct queue *)b->dest)->name
			     : ((const struct bexchange *)b->dest)->base.name;
	json_array_append_new(arr,
			      json_pack("{s:s, s:s, s:s, s:s, s:s%, s:o}", "source", src->base.name,
					"vhost", vh->name, "destination", dest, "destination_type",
					q ? "queue" : "exchange", "routing_key", b->key,
					(size_t)b->key_len, "arguments", jtable_to_json(b->args)));
}

static void binding_export(json_t *arr)
{
	each_model_binding(export_binding, arr);
}

const struct defs_kind_ops defs_queue_ops = {"queues",       NULL,         defs_vhost_name_id,
					     queue_describe, queue_plan,   queue_apply,
					     queue_each,     queue_remove, queue_export};

const struct defs_kind_ops defs_exchange_ops = {
	"exchanges",    NULL,          defs_vhost_name_id,   exchange_describe, exchange_plan,
	exchange_apply, exchange_each, exchange_remove, exchange_export};

const struct defs_kind_ops defs_binding_ops = {"bindings",       NULL,           binding_id,
					       binding_describe, binding_plan,   binding_apply,
					       binding_each,     binding_remove, binding_export};
