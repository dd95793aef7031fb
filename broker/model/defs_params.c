/* defs_params.c — parameters (vhost limits; the rest kept for export),
 * global parameters, policies and operator policies as RabbitMQ's
 * definitions objects (rows of defs_kinds.h's table). */
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

/* ---- parameters and global parameters ---- */

/* Kept as given (id -> object): Tern acts on vhost-limits only and keeps
 * the rest (federation upstreams, cluster_name, ...) for export. */
static struct strmap params, globals;

static char *param_id(const json_t *o, char *err, size_t errlen)
{
	return FIELDS_ID(o, err, errlen, "vhost", "component", "name");
}

static void param_describe(const char *id, char *out, size_t n)
{
	json_t *a = defs_id_parts(id);
	snprintf(out, n, "parameter '%s' of component '%s' in vhost '%s'", defs_part(a, 2),
		 defs_part(a, 1), defs_part(a, 0));
	json_decref(a);
}

/* A kept parameter: the map's key is its id. */
struct kept {
	char *id;
	json_t *o;
};

static json_t *kept_get(struct strmap *m, const char *id)
{
	struct kept *k = strmap_get(m, id, strlen(id));
	return k ? k->o : NULL;
}

static bool unchanged(struct strmap *m, const char *id, const json_t *o)
{
	json_t *have = kept_get(m, id);
	return have && json_equal(have, (json_t *)o);
}

static void drop(struct strmap *m, const char *id)
{
	struct kept *k = strmap_del(m, id, strlen(id));
	if (!k)
		return;
	json_decref(k->o);
	free(k->id);
	free(k);
}

static void keep(struct strmap *m, const char *id, const json_t *o)
{
	drop(m, id);
	struct kept *k = xmalloc(sizeof *k);
	k->id = xstrdup(id);
	k->o = json_deep_copy(o);
	strmap_put(m, k->id, strlen(k->id), k);
}

static int param_plan(const json_t *o, const struct defs_index *fi, enum defs_change *c, char *note,
		      size_t notelen, char *err, size_t errlen)
{
	const char *v = defs_str(o, "vhost", err, errlen),
		   *comp = defs_str(o, "component", err, errlen);
	if (defs_need_vhost(fi, v, err, errlen))
		return -1;
	json_t *value = json_object_get(o, "value");
	if (!value)
		return ERR("value: missing");
	if (!strcmp(comp, "vhost-limits")) {
		if (!json_is_object(value))
			return ERR("value: expected an object");
		const char *k;
		json_t *lim;
		json_object_foreach(value, k, lim)
		{
			if (strcmp(k, "max-connections") && strcmp(k, "max-queues"))
				return ERR("value: unknown vhost limit '%s'", k);
			if (!json_is_integer(lim))
				return ERR("value: %s: expected an integer", k);
		}
	} else {
		snprintf(note, notelen, " (component '%s' is kept but not implemented)", comp);
	}
	char *id = param_id(o, err, errlen);
	*c = unchanged(&params, id, o) ? DC_NONE : kept_get(&params, id) ? DC_UPDATE : DC_CREATE;
	free(id);
	return 0;
}

/* vhost-limits: a negative value (or none) lifts the limit. */
static void apply_limits(const char *vhost, const json_t *value)
{
	struct vhost *vh = vhost_find(bytes_of(vhost));
	if (!vh)
		return;
	json_t *mc = json_object_get(value, "max-connections");
	json_t *mq = json_object_get(value, "max-queues");
	vh->max_connections = mc && json_integer_value(mc) >= 0 ? json_integer_value(mc) : -1;
	vh->max_queues = mq && json_integer_value(mq) >= 0 ? json_integer_value(mq) : -1;
}

static int param_apply(const json_t *o, char *err, size_t errlen)
{
	char *id = param_id(o, err, errlen);
	keep(&params, id, o);
	const char *comp = defs_str(o, "component", err, errlen);
	if (!strcmp(comp, "vhost-limits"))
		apply_limits(defs_str(o, "vhost", err, errlen), json_object_get(o, "value"));
	defs_store(DK_PARAMETER, id, (json_t *)o);
	free(id);
	return 0;
}

static void map_each(struct strmap *m, void (*describe)(const char *, char *, size_t),
		     defs_each_fn fn, void *ctx)
{
	void *v;
	for (size_t i = 0; strmap_next(m, &i, &v);) {
		char what[600];
		const struct kept *k = v;
		describe(k->id, what, sizeof what);
		fn(ctx, k->id, what, 0);
	}
}

static void param_each(defs_each_fn fn, void *ctx)
{
	map_each(&params, param_describe, fn, ctx);
}

static void param_remove(const char *id)
{
	if (!kept_get(&params, id))
		return;
	json_t *a = defs_id_parts(id);
	if (!strcmp(defs_part(a, 1), "vhost-limits"))
		apply_limits(defs_part(a, 0), NULL);
	json_decref(a);
	drop(&params, id);
	defs_unstore(DK_PARAMETER, id);
}

void defs_params_remove_vhost(const char *vhost)
{
	void *v;
	for (size_t i = 0; strmap_next(&params, &i, &v);) {
		struct kept *k = v;
		if (!strcmp(json_string_value(json_object_get(k->o, "vhost")), vhost)) {
			char *id = xstrdup(k->id);
			param_remove(id);
			free(id);
			i = 0;
		}
	}
}

static void map_export(struct strmap *m, json_t *arr)
{
	void *v;
	for (size_t i = 0; strmap_next(m, &i, &v);)
		json_array_append_new(arr, json_deep_copy(((struct kept *)v)->o));
}

static void param_export(json_t *arr)
{
	map_export(&params, arr);
}

static void global_describe(const char *id, char *out, size_t n)
{
	json_t *a = defs_id_parts(id);
	snprintf(out, n, "global parameter '%s'", defs_part(a, 0));
	json_decref(a);
}

static int global_plan(const json_t *o, const struct defs_index *fi, enum defs_change *c,
		       char *note, size_t notelen, char *err, size_t errlen)
{
	(void)fi;
	(void)note;
	(void)notelen;
	if (!json_object_get(o, "value"))
		return ERR("value: missing");
	char *id = defs_name_id(o, err, errlen);
	*c = unchanged(&globals, id, o) ? DC_NONE : kept_get(&globals, id) ? DC_UPDATE : DC_CREATE;
	free(id);
	return 0;
}

static int global_apply(const json_t *o, char *err, size_t errlen)
{
	char *id = defs_name_id(o, err, errlen);
	keep(&globals, id, o);
	defs_store(DK_GLOBAL_PARAMETER, id, (json_t *)o);
	free(id);
	return 0;
}

static void global_each(defs_each_fn fn, void *ctx)
{
	map_each(&globals, global_describe, fn, ctx);
}

static void global_remove(const char *id)
{
	if (!kept_get(&globals, id))
		return;
	drop(&globals, id);
	defs_unstore(DK_GLOBAL_PARAMETER, id);
}

static void global_export(json_t *arr)
{
	map_export(&globals, arr);
}

void defs_params_free(void)
{
	struct strmap *maps[] = {&params, &globals};
	for (int k = 0; k < 2; k++) {
		void *v;
		for (size_t i = 0; strmap_next(maps[k], &i, &v);) {
			struct kept *e = v;
			json_decref(e->o);
			free(e->id);
			free(e);
		}
		strmap_free(maps[k]);
	}
}
/* ---- policies and operator policies ---- */

static void describe_policy(const char *id, char *out, size_t n, bool op)
{
	json_t *a = defs_id_parts(id);
	snprintf(out, n, "%spolicy '%s' in vhost '%s'", op ? "operator " : "", defs_part(a, 1),
		 defs_part(a, 0));
	json_decref(a);
}

static void policy_describe(const char *id, char *out, size_t n)
{
	describe_policy(id, out, n, false);
}

static void op_policy_describe(const char *id, char *out, size_t n)
{
	describe_policy(id, out, n, true);
}

static void warn_key(void *ctx, const char *key)
{
	log_warn("definitions: %s: policy key '%s' is accepted but not implemented",
		 (const char *)ctx, key);
}

static void ignore_key(void *ctx, const char *key)
{
	(void)ctx;
	(void)key;
}

/* The fields of a policy object, checked. */
struct policy_fields {
	const char *vhost, *name, *pattern;
	enum policy_apply apply_to;
	int64_t priority;
	const json_t *definition;
};

static int policy_fields(const json_t *o, bool op, struct policy_fields *f, char *err,
			 size_t errlen)
{
	f->vhost = defs_str(o, "vhost", err, errlen);
	f->name = f->vhost ? defs_str(o, "name", err, errlen) : NULL;
	f->pattern = f->name ? defs_str(o, "pattern", err, errlen) : NULL;
	if (!f->pattern)
		return -1;
	const char *to = defs_opt_str(o, "apply-to", "all", err, errlen);
	if (!to)
		return -1;
	if (policy_apply_parse(to, &f->apply_to) < 0)
		return ERR("apply-to: '%s' is not one of all, queues, exchanges, classic_queues, "
			   "quorum_queues, streams",
			   to);
	json_t *prio = json_object_get(o, "priority");
	if (prio && !json_is_integer(prio))
		return ERR("priority: expected an integer");
	f->priority = prio ? json_integer_value(prio) : 0;
	f->definition = json_object_get(o, "definition");
	struct policy_def d;
	char why[256];
	if (policy_def_parse(f->definition, op, &d, ignore_key, NULL, why, sizeof why) < 0)
		return ERR("%s%s", strncmp(why, "definition:", 11) ? "definition: " : "",
			   why); /* policy.c names the definition itself in some */
	policy_def_free(&d);
	struct regex *re = regex_compile(f->pattern, "pattern", err, errlen);
	regex_free(re);
	return re ? 0 : -1;
}

static int plan_policy(const json_t *o, bool op, const struct defs_index *fi, enum defs_change *c,
		       char *err, size_t errlen)
{
	struct policy_fields f;
	if (policy_fields(o, op, &f, err, errlen) < 0 || defs_need_vhost(fi, f.vhost, err, errlen))
		return -1;
	const struct policy *p = policy_find(f.vhost, f.name, op);
	if (!p) {
		*c = DC_CREATE;
		return 0;
	}
	char *def = json_dumps(f.definition, JSON_COMPACT | JSON_SORT_KEYS);
	*c = !strcmp(p->pattern, f.pattern) && p->apply_to == f.apply_to &&
			     p->priority == f.priority && !strcmp(p->definition, def)
		     ? DC_NONE
		     : DC_UPDATE;
	free(def);
	return 0;
}

static json_t *policy_json(const struct policy *p)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:o, s:I}", "vhost", p->vhost, "name", p->name,
			 "pattern", p->pattern, "apply-to", policy_apply_name(p->apply_to),
			 "definition", json_loads(p->definition, 0, NULL), "priority",
			 (json_int_t)p->priority);
}

static int apply_policy(const json_t *o, bool op, char *err, size_t errlen)
{
	struct policy_fields f;
	if (policy_fields(o, op, &f, err, errlen) < 0)
		return -1;
	char what[600];
	snprintf(what, sizeof what, "%spolicy '%s' in vhost '%s'", op ? "operator " : "", f.name,
		 f.vhost);
	if (policy_set(f.vhost, f.name, f.pattern, f.apply_to, f.priority, f.definition, op,
		       warn_key, what, err, errlen) < 0)
		return -1;
	struct vhost *vh = vhost_find(bytes_of(f.vhost));
	if (vh)
		vhost_apply_policies(vh);
	char *id = ID(f.vhost, f.name);
	json_t *canon = policy_json(policy_find(f.vhost, f.name, op));
	defs_store(op ? DK_OPERATOR_POLICY : DK_POLICY, id, canon);
	json_decref(canon);
	free(id);
	return 0;
}

static int policy_plan(const json_t *o, const struct defs_index *fi, enum defs_change *c,
		       char *note, size_t notelen, char *err, size_t errlen)
{
	(void)note;
	(void)notelen;
	return plan_policy(o, false, fi, c, err, errlen);
}

static int op_policy_plan(const json_t *o, const struct defs_index *fi, enum defs_change *c,
			  char *note, size_t notelen, char *err, size_t errlen)
{
	(void)note;
	(void)notelen;
	return plan_policy(o, true, fi, c, err, errlen);
}

static int policy_apply(const json_t *o, char *err, size_t errlen)
{
	return apply_policy(o, false, err, errlen);
}

static int op_policy_apply(const json_t *o, char *err, size_t errlen)
{
	return apply_policy(o, true, err, errlen);
}

static void each_policy(bool op, defs_each_fn fn, void *ctx)
{
	const struct policy *p;
	for (size_t i = 0; (p = policy_next(&i));) {
		if (p->op != op)
			continue;
		char *id = ID(p->vhost, p->name), what[600];
		describe_policy(id, what, sizeof what, op);
		fn(ctx, id, what, 0);
		free(id);
	}
}

static void policy_each(defs_each_fn fn, void *ctx)
{
	each_policy(false, fn, ctx);
}

static void op_policy_each(defs_each_fn fn, void *ctx)
{
	each_policy(true, fn, ctx);
}

void defs_policy_remove(const char *id, bool op)
{
	json_t *a = defs_id_parts(id);
	if (policy_delete(defs_part(a, 0), defs_part(a, 1), op) == 0) {
		struct vhost *vh = vhost_find(bytes_of(defs_part(a, 0)));
		if (vh)
			vhost_apply_policies(vh);
		defs_unstore(op ? DK_OPERATOR_POLICY : DK_POLICY, id);
	}
	json_decref(a);
}

static void policy_remove(const char *id)
{
	defs_policy_remove(id, false);
}

static void op_policy_remove(const char *id)
{
	defs_policy_remove(id, true);
}

static void export_policies(bool op, json_t *arr)
{
	const struct policy *p;
	for (size_t i = 0; (p = policy_next(&i));)
		if (p->op == op)
			json_array_append_new(arr, policy_json(p));
}

static void policy_export(json_t *arr)
{
	export_policies(false, arr);
}

/* RabbitMQ exports operator policies as parameters of component
 * operator_policy; definitions_export puts these among the parameters. */
static void op_policy_export(json_t *arr)
{
	const struct policy *p;
	for (size_t i = 0; (p = policy_next(&i));) {
		if (!p->op)
			continue;
		json_t *o = policy_json(p);
		json_t *value = json_pack("{s:O, s:O, s:O, s:O}", "pattern",
					  json_object_get(o, "pattern"), "definition",
					  json_object_get(o, "definition"), "priority",
					  json_object_get(o, "priority"), "apply-to",
					  json_object_get(o, "apply-to"));
		json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:o}", "vhost", p->vhost,
						     "component", "operator_policy", "name",
						     p->name, "value", value));
		json_decref(o);
	}
}

json_t *defs_operator_policy_from_param(const json_t *param)
{
	json_t *value = json_object_get(param, "value");
	if (!json_is_object(value))
		return NULL;
	json_t *o = json_deep_copy(value);
	json_object_set(o, "vhost", json_object_get(param, "vhost"));
	json_object_set(o, "name", json_object_get(param, "name"));
	return o;
}

const struct defs_kind_ops defs_parameter_ops = {"parameters",   "parameter",  param_id,
						 param_describe, param_plan,   param_apply,
						 param_each,     param_remove, param_export};

const struct defs_kind_ops defs_global_parameter_ops = {
	"global_parameters", "global_parameter", defs_name_id,  global_describe, global_plan,
	global_apply,        global_each,        global_remove, global_export};

const struct defs_kind_ops defs_policy_ops = {"policies",      "policy",      defs_vhost_name_id,
					      policy_describe, policy_plan,   policy_apply,
					      policy_each,     policy_remove, policy_export};

const struct defs_kind_ops defs_operator_policy_ops = {
	"operator_policies", "operator_policy", defs_vhost_name_id,
	op_policy_describe,  op_policy_plan,    op_policy_apply,
	op_policy_each,      op_policy_remove,  op_policy_export};
