/* defs_kinds.c — what the kinds of definitions object share: ids, field
 * readers that name a bad field, storing, and the table of kinds (each
 * kind's row lives in defs_access.c, defs_params.c or defs_topology.c).
 * Field names and defaults are those of RabbitMQ's export. */
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

/* ---- ids and fields ---- */

char *defs_make_id(size_t n, const char *const *parts)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(parts[i]));
	char *s = json_dumps(a, JSON_COMPACT);
	json_decref(a);
	return s;
}

/* Part i of an id; valid while the returned array lives. */
const char *defs_part(json_t *a, size_t i)
{
	return json_string_value(json_array_get(a, i));
}

json_t *defs_id_parts(const char *id)
{
	return json_loads(id, 0, NULL);
}

/* A required string field. */
const char *defs_str(const json_t *o, const char *key, char *err, size_t errlen)
{
	json_t *v = json_object_get(o, key);
	if (!json_is_string(v)) {
		snprintf(err, errlen, v ? "%s: expected a string" : "%s: missing", key);
		return NULL;
	}
	return json_string_value(v);
}

/* An optional string field: def when absent; NULL (with err) when not a
 * string. */
const char *defs_opt_str(const json_t *o, const char *key, const char *def, char *err,
			 size_t errlen)
{
	json_t *v = json_object_get(o, key);
	if (!v || json_is_null(v))
		return def;
	return defs_str(o, key, err, errlen);
}

/* An optional boolean: 0/1, def when absent, -1 (with err) otherwise. */
int defs_opt_bool(const json_t *o, const char *key, bool def, char *err, size_t errlen)
{
	json_t *v = json_object_get(o, key);
	if (!v)
		return def;
	if (!json_is_boolean(v))
		return ERR("%s: expected true or false", key);
	return json_is_true(v);
}

bool defs_vhost_known(const struct defs_index *fi, const char *name)
{
	char *id = ID(name);
	bool yes = vhost_find(bytes_of(name)) || (fi && defs_index_has(fi, DK_VHOST, id));
	free(id);
	return yes;
}

int defs_need_vhost(const struct defs_index *fi, const char *name, char *err, size_t errlen)
{
	return defs_vhost_known(fi, name) ? 0 : ERR("vhost: no vhost '%s'", name);
}

void defs_store(enum defs_kind k, const char *id, json_t *o)
{
	char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	persist_object_put(defs_kinds[k]->store, id, text);
	free(text);
}

void defs_unstore(enum defs_kind k, const char *id)
{
	persist_object_del(defs_kinds[k]->store, id);
}

/* A regular expression field: checked by compiling it. */
int defs_check_regex(const json_t *o, const char *key, char *err, size_t errlen)
{
	const char *p = defs_str(o, key, err, errlen);
	if (!p)
		return -1;
	struct regex *re = regex_compile(*p ? p : "^$", key, err, errlen);
	regex_free(re);
	return re ? 0 : -1;
}

/* Tags as RabbitMQ writes them: a list (3.9 and later) or a
 * comma-separated string (earlier). Returns the count, -1 on a bad type. */
int defs_tags(const json_t *o, const char *key, char tags[][64], int max)
{
	json_t *v = json_object_get(o, key);
	int n = 0;
	if (!v || json_is_null(v))
		return 0;
	if (json_is_array(v)) {
		size_t i;
		json_t *t;
		json_array_foreach(v, i, t)
		{
			if (!json_is_string(t))
				return -1;
			if (*json_string_value(t) && n < max)
				snprintf(tags[n++], 64, "%s", json_string_value(t));
		}
		return n;
	}
	if (!json_is_string(v))
		return -1;
	const char *s = json_string_value(v);
	while (*s && n < max) {
		while (*s == ',' || *s == ' ')
			s++;
		size_t len = strcspn(s, ",");
		while (len && s[len - 1] == ' ')
			len--;
		if (len)
			snprintf(tags[n++], 64, "%.*s", (int)len, s);
		s += strcspn(s, ",");
	}
	return n;
}

char *defs_fields_id(const json_t *o, size_t n, const char *const *keys, char *err,
		     size_t errlen)
{
	const char *v[6];
	for (size_t i = 0; i < n && i < 6; i++)
		if (!(v[i] = defs_str(o, keys[i], err, errlen)))
			return NULL;
	return defs_make_id(n < 6 ? n : 6, v);
}

char *defs_name_id(const json_t *o, char *err, size_t errlen)
{
	return FIELDS_ID(o, err, errlen, "name");
}

char *defs_vhost_name_id(const json_t *o, char *err, size_t errlen)
{
	return FIELDS_ID(o, err, errlen, "vhost", "name");
}

/* ---- the table ---- */

const struct defs_kind_ops *const defs_kinds[DK_N] = {
	[DK_USER] = &defs_user_ops,
	[DK_VHOST] = &defs_vhost_ops,
	[DK_PERMISSION] = &defs_permission_ops,
	[DK_TOPIC_PERMISSION] = &defs_topic_permission_ops,
	[DK_PARAMETER] = &defs_parameter_ops,
	[DK_GLOBAL_PARAMETER] = &defs_global_parameter_ops,
	[DK_POLICY] = &defs_policy_ops,
	[DK_OPERATOR_POLICY] = &defs_operator_policy_ops,
	[DK_QUEUE] = &defs_queue_ops,
	[DK_EXCHANGE] = &defs_exchange_ops,
	[DK_BINDING] = &defs_binding_ops,
};
