/* defs_kinds.c — users, vhosts, permissions, topic permissions,
 * parameters, policies, queues, exchanges and bindings as RabbitMQ's
 * definitions objects (see defs_kinds.h). Field names and defaults are
 * those of RabbitMQ's export; a bad field is named in the error. */
#include "broker/defs_kinds.h"

#include <stdio.h>
#include <stdlib.h>

#include "broker/access.h"
#include "broker/config.h"
#include "broker/conn.h"
#include "broker/jtable.h"
#include "broker/log.h"
#include "broker/ops.h"
#include "broker/persist.h"
#include "broker/policy.h"
#include "broker/queue_args.h"
#include "broker/vhost.h"
#include "util/regex.h"
#include "util/strmap.h"
#include "util/xalloc.h"

#define ERR(...) (snprintf(err, errlen, __VA_ARGS__), -1)

/* ---- ids and fields ---- */

static char *make_id(size_t n, const char *const *parts)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(parts[i]));
	char *s = json_dumps(a, JSON_COMPACT);
	json_decref(a);
	return s;
}
#define ID(...) make_id(sizeof((const char *[]){__VA_ARGS__}) / sizeof(char *), \
			(const char *[]){__VA_ARGS__})

/* Part i of an id; valid while the returned array lives. */
static const char *part(json_t *a, size_t i)
{
	return json_string_value(json_array_get(a, i));
}

static json_t *id_parts(const char *id)
{
	return json_loads(id, 0, NULL);
}

/* A required string field. */
static const char *str(const json_t *o, const char *key, char *err, size_t errlen)
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
static const char *opt_str(const json_t *o, const char *key, const char *def, char *err,
			   size_t errlen)
{
	json_t *v = json_object_get(o, key);
	if (!v || json_is_null(v))
		return def;
	return str(o, key, err, errlen);
}

/* An optional boolean: 0/1, def when absent, -1 (with err) otherwise. */
static int opt_bool(const json_t *o, const char *key, bool def, char *err, size_t errlen)
{
	json_t *v = json_object_get(o, key);
	if (!v)
		return def;
	if (!json_is_boolean(v))
		return ERR("%s: expected true or false", key);
	return json_is_true(v);
}

static bool vhost_known(const struct defs_index *fi, const char *name)
{
	char *id = ID(name);
	bool yes = vhost_find(bytes_of(name)) || (fi && defs_index_has(fi, DK_VHOST, id));
	free(id);
	return yes;
}

static int need_vhost(const struct defs_index *fi, const char *name, char *err, size_t errlen)
{
	return vhost_known(fi, name) ? 0 : ERR("vhost: no vhost '%s'", name);
}

static void store_object(enum defs_kind k, const char *id, json_t *o)
{
	char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	persist_object_put(defs_kinds[k].store, id, text);
	free(text);
}

static void unstore_object(enum defs_kind k, const char *id)
{
	persist_object_del(defs_kinds[k].store, id);
}

/* A regular expression field: checked by compiling it. */
static int check_regex(const json_t *o, const char *key, char *err, size_t errlen)
{
	const char *p = str(o, key, err, errlen);
	if (!p)
		return -1;
	struct regex *re = regex_compile(*p ? p : "^$", key, err, errlen);
	regex_free(re);
	return re ? 0 : -1;
}

/* ---- users ---- */

/* Tags as RabbitMQ writes them: a list (3.9 and later) or a
 * comma-separated string (earlier). Returns the count, -1 on a bad type. */
static int tags_of(const json_t *o, const char *key, char tags[][64], int max)
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

static char *user_id(const json_t *o, char *err, size_t errlen)
{
	const char *name = str(o, "name", err, errlen);
	return name ? ID(name) : NULL;
}

static void user_describe(const char *id, char *out, size_t n)
{
	json_t *a = id_parts(id);
	snprintf(out, n, "user '%s'", part(a, 0));
	json_decref(a);
}

static json_t *user_json(const struct user *u)
{
	json_t *tags = json_array();
	for (size_t i = 0; i < u->ntags; i++)
		json_array_append_new(tags, json_string(u->tags[i]));
	char *hash = access_user_hash_b64(u);
	json_t *o = json_pack("{s:s, s:s, s:s, s:o}", "name", u->name, "password_hash", hash,
			      "hashing_algorithm", access_hash_name(u->alg), "tags", tags);
	free(hash);
	json_t *limits = json_object();
	if (u->max_connections >= 0)
		json_object_set_new(limits, "max-connections", json_integer(u->max_connections));
	if (u->max_channels >= 0)
		json_object_set_new(limits, "max-channels", json_integer(u->max_channels));
	json_object_set_new(o, "limits", limits);
	return o;
}

static int user_plan(const json_t *o, const struct defs_index *fi, enum defs_change *c, char *note,
		     size_t notelen, char *err, size_t errlen)
{
	(void)fi;
	const char *name = str(o, "name", err, errlen);
	const char *alg_name = opt_str(o, "hashing_algorithm", "", err, errlen);
	const char *hash = opt_str(o, "password_hash", "", err, errlen);
	const char *pw = opt_str(o, "password", NULL, err, errlen);
	if (!name || !alg_name || !hash || (!pw && json_object_get(o, "password")))
		return -1;
	enum access_hash alg;
	if (access_hash_parse(alg_name, &alg) < 0)
		return ERR("hashing_algorithm: unknown algorithm '%s'", alg_name);
	if (!pw && access_hash_check(hash, alg, err, errlen) < 0)
		return -1;
	char tags[16][64];
	int ntags = tags_of(o, "tags", tags, 16);
	if (ntags < 0)
		return ERR("tags: expected a list of strings or a comma-separated string");
	json_t *limits = json_object_get(o, "limits");
	if (limits && !json_is_object(limits))
		return ERR("limits: expected an object");
	const char *k;
	json_t *v;
	json_object_foreach(limits, k, v)
	{
		if (strcmp(k, "max-connections") && strcmp(k, "max-channels"))
			return ERR("limits: unknown limit '%s'", k);
		if (!json_is_integer(v))
			return ERR("limits: %s: expected an integer", k);
	}
	struct user *u = access_user_find(name);
	if (!u) {
		*c = DC_CREATE;
		return 0;
	}
	/* What would change: the credentials, the tags, the limits. */
	char *have = access_user_hash_b64(u);
	bool same_pw = pw ? access_login(bytes_of(name), bytes_of(pw), true) != NULL
			  : u->alg == alg && !strcmp(have, hash);
	free(have);
	bool same_tags = u->ntags == (size_t)ntags;
	for (int i = 0; same_tags && i < ntags; i++)
		same_tags = !strcmp(u->tags[i], tags[i]);
	bool same_limits = true;
	if (limits) {
		json_t *mc = json_object_get(limits, "max-connections");
		json_t *mh = json_object_get(limits, "max-channels");
		same_limits = (mc ? json_integer_value(mc) : -1) == u->max_connections &&
			      (mh ? json_integer_value(mh) : -1) == u->max_channels;
	}
	*c = same_pw && same_tags && same_limits ? DC_NONE : DC_UPDATE;
	snprintf(note, notelen, "%s%s%s", same_pw ? "" : " password", same_tags ? "" : " tags",
		 same_limits ? "" : " limits");
	return 0;
}

/* RabbitMQ's loopback_users: those may log in from loopback only. */
static bool loopback_user(const char *name)
{
	const char *list = cfg.loopback_users;
	size_t n = strlen(name);
	while (list && *list) {
		size_t len = strcspn(list, ", ");
		if (len == n && !strncmp(list, name, n))
			return true;
		list += len;
		list += strspn(list, ", ");
	}
	return false;
}

static int user_apply(const json_t *o, char *err, size_t errlen)
{
	const char *name = str(o, "name", err, errlen);
	const char *pw = opt_str(o, "password", NULL, err, errlen);
	enum access_hash alg;
	access_hash_parse(opt_str(o, "hashing_algorithm", "", err, errlen), &alg);
	char tags[16][64];
	const char *tagv[16];
	int ntags = tags_of(o, "tags", tags, 16);
	for (int i = 0; i < ntags; i++)
		tagv[i] = tags[i];
	if (access_user_put(name, pw ? "" : opt_str(o, "password_hash", "", err, errlen), alg, tagv,
			    (size_t)ntags, err, errlen) < 0)
		return -1;
	if (pw)
		access_user_set_password(name, bytes_of(pw));
	json_t *limits = json_object_get(o, "limits");
	if (limits) {
		json_t *mc = json_object_get(limits, "max-connections");
		json_t *mh = json_object_get(limits, "max-channels");
		access_user_limit_set(name, "max-connections", mc ? json_integer_value(mc) : -1, err,
				      errlen);
		access_user_limit_set(name, "max-channels", mh ? json_integer_value(mh) : -1, err,
				      errlen);
	}
	struct user *u = access_user_find(name);
	u->loopback_only = loopback_user(name);
	char *id = ID(name);
	json_t *canon = user_json(u);
	store_object(DK_USER, id, canon);
	json_decref(canon);
	free(id);
	return 0;
}

static void user_each(defs_each_fn fn, void *ctx)
{
	struct user *u;
	for (size_t i = 0; (u = access_user_next(&i));) {
		char *id = ID(u->name), what[300];
		user_describe(id, what, sizeof what);
		fn(ctx, id, what, 0);
		free(id);
	}
}

static void perm_remove(const char *id);
static void topic_remove(const char *id);

static void user_remove(const char *id)
{
	json_t *a = id_parts(id);
	const char *name = part(a, 0);
	/* Its permissions leave the store one by one, then the user. */
	const struct perm *p;
	for (size_t i = 0; (p = access_perm_next(&i));) {
		if (!strcmp(p->user, name)) {
			char *pid = ID(p->user, p->vhost);
			perm_remove(pid);
			free(pid);
			i = 0; /* the table moved */
		}
	}
	const struct topic_perm *t;
	for (size_t i = 0; (t = access_topic_next(&i));) {
		if (!strcmp(t->user, name)) {
			char *tid = ID(t->user, t->vhost, t->exchange);
			topic_remove(tid);
			free(tid);
			i = 0;
		}
	}
	if (access_user_delete(name) == 0) {
		conn_close_user(name, "user deleted");
		unstore_object(DK_USER, id);
	}
	json_decref(a);
}

static void user_export(json_t *arr)
{
	struct user *u;
	for (size_t i = 0; (u = access_user_next(&i));)
		json_array_append_new(arr, user_json(u));
}

/* ---- vhosts ---- */

static char *name_id(const json_t *o, char *err, size_t errlen)
{
	const char *name = str(o, "name", err, errlen);
	return name ? ID(name) : NULL;
}

static void vhost_describe(const char *id, char *out, size_t n)
{
	json_t *a = id_parts(id);
	snprintf(out, n, "vhost '%s'", part(a, 0));
	json_decref(a);
}

/* RabbitMQ 3.10 writes description and tags both at the top and under
 * metadata; either is read. */
static const json_t *meta(const json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	return v ? v : json_object_get(json_object_get(o, "metadata"), key);
}

static void vhost_fields(const json_t *o, char *desc, size_t dn, char *tags, size_t tn,
			 char *dqt, size_t qn)
{
	const json_t *d = meta(o, "description"), *q = meta(o, "default_queue_type");
	snprintf(desc, dn, "%s", json_is_string(d) ? json_string_value(d) : "");
	snprintf(dqt, qn, "%s", json_is_string(q) ? json_string_value(q) : "");
	char t[16][64];
	json_t *holder = json_object();
	json_object_set(holder, "tags", (json_t *)meta(o, "tags"));
	int nt = tags_of(holder, "tags", t, 16);
	json_decref(holder);
	tags[0] = '\0';
	for (int i = 0; i < nt; i++)
		snprintf(tags + strlen(tags), tn - strlen(tags), "%s%s", i ? "," : "", t[i]);
}

static json_t *vhost_json(const struct vhost *vh)
{
	json_t *tags = json_array();
	const char *t = vh->tags ? vh->tags : "";
	while (*t) {
		size_t len = strcspn(t, ",");
		if (len)
			json_array_append_new(tags, json_stringn(t, len));
		t += len + (t[len] == ',');
	}
	const char *desc = vh->description ? vh->description : "";
	json_t *o = json_pack("{s:s, s:s, s:O, s:{s:s, s:O}}", "name", vh->name, "description",
			      desc, "tags", tags, "metadata", "description", desc, "tags", tags);
	if (vh->default_queue_type)
		json_object_set_new(o, "default_queue_type", json_string(vh->default_queue_type));
	json_decref(tags);
	return o;
}

static bool same(const char *a, const char *b)
{
	return !strcmp(a ? a : "", b ? b : "");
}

static int vhost_plan(const json_t *o, const struct defs_index *fi, enum defs_change *c, char *note,
		      size_t notelen, char *err, size_t errlen)
{
	(void)fi;
	const char *name = str(o, "name", err, errlen);
	if (!name)
		return -1;
	if (!*name)
		return ERR("name: must not be empty");
	char desc[512], tags[1024], dqt[64];
	vhost_fields(o, desc, sizeof desc, tags, sizeof tags, dqt, sizeof dqt);
	struct vhost *vh = vhost_find(bytes_of(name));
	if (!vh) {
		*c = DC_CREATE;
		return 0;
	}
	bool unchanged = same(vh->description, desc) && same(vh->tags, tags) &&
			 same(vh->default_queue_type, dqt);
	*c = unchanged ? DC_NONE : DC_UPDATE;
	snprintf(note, notelen, " metadata");
	return 0;
}

static char *dup_nonempty(const char *s)
{
	return *s ? xstrdup(s) : NULL;
}

static int vhost_apply(const json_t *o, char *err, size_t errlen)
{
	const char *name = str(o, "name", err, errlen);
	struct vhost *vh = vhost_find(bytes_of(name));
	if (!vh)
		vh = vhost_create(name);
	char desc[512], tags[1024], dqt[64];
	vhost_fields(o, desc, sizeof desc, tags, sizeof tags, dqt, sizeof dqt);
	free(vh->description);
	free(vh->tags);
	free(vh->default_queue_type);
	vh->description = dup_nonempty(desc);
	vh->tags = dup_nonempty(tags);
	vh->default_queue_type = dup_nonempty(dqt);
	char *id = ID(name);
	json_t *canon = vhost_json(vh);
	store_object(DK_VHOST, id, canon);
	json_decref(canon);
	free(id);
	return 0;
}

static void vhost_each(defs_each_fn fn, void *ctx)
{
	struct vhost *vh;
	for (size_t i = 0; (vh = vhost_next(&i));) {
		char *id = ID(vh->name), what[300];
		vhost_describe(id, what, sizeof what);
		fn(ctx, id, what, 0);
		free(id);
	}
}

static void params_remove_vhost(const char *vhost);
static void policy_remove_any(const char *id, bool op);

/* A vhost goes with its permissions, policies and parameters, each
 * leaving the store too. */
static void vhost_remove(const char *id)
{
	json_t *a = id_parts(id);
	const char *name = part(a, 0);
	struct vhost *vh = vhost_find(bytes_of(name));
	if (!vh) {
		json_decref(a);
		return;
	}
	const struct perm *p;
	for (size_t i = 0; (p = access_perm_next(&i));)
		if (!strcmp(p->vhost, name)) {
			char *pid = ID(p->user, p->vhost);
			perm_remove(pid);
			free(pid);
			i = 0;
		}
	const struct topic_perm *t;
	for (size_t i = 0; (t = access_topic_next(&i));)
		if (!strcmp(t->vhost, name)) {
			char *tid = ID(t->user, t->vhost, t->exchange);
			topic_remove(tid);
			free(tid);
			i = 0;
		}
	const struct policy *pol;
	for (size_t i = 0; (pol = policy_next(&i));)
		if (!strcmp(pol->vhost, name)) {
			char *pid = ID(pol->vhost, pol->name);
			policy_remove_any(pid, pol->op);
			free(pid);
			i = 0;
		}
	params_remove_vhost(name);
	vhost_delete(vh);
	unstore_object(DK_VHOST, id);
	json_decref(a);
}

static void vhost_export(json_t *arr)
{
	struct vhost *vh;
	for (size_t i = 0; (vh = vhost_next(&i));)
		json_array_append_new(arr, vhost_json(vh));
}

/* ---- permissions and topic permissions ---- */

static char *perm_id(const json_t *o, char *err, size_t errlen)
{
	const char *u = str(o, "user", err, errlen);
	const char *v = u ? str(o, "vhost", err, errlen) : NULL;
	return v ? ID(u, v) : NULL;
}

static void perm_describe(const char *id, char *out, size_t n)
{
	json_t *a = id_parts(id);
	snprintf(out, n, "permissions of user '%s' in vhost '%s'", part(a, 0), part(a, 1));
	json_decref(a);
}

static int need_user(const struct defs_index *fi, const char *name, char *err, size_t errlen)
{
	char *id = ID(name);
	bool yes = access_user_find(name) || defs_index_has(fi, DK_USER, id);
	free(id);
	return yes ? 0 : ERR("user: no user '%s'", name);
}

static int perm_plan(const json_t *o, const struct defs_index *fi, enum defs_change *c, char *note,
		     size_t notelen, char *err, size_t errlen)
{
	(void)note;
	(void)notelen;
	const char *u = str(o, "user", err, errlen), *v = u ? str(o, "vhost", err, errlen) : NULL;
	if (!v || need_user(fi, u, err, errlen) || need_vhost(fi, v, err, errlen) ||
	    check_regex(o, "configure", err, errlen) || check_regex(o, "write", err, errlen) ||
	    check_regex(o, "read", err, errlen))
		return -1;
	const struct perm *p = access_perm_find(u, v);
	*c = !p ? DC_CREATE
	     : !strcmp(p->pattern[0], str(o, "configure", err, errlen)) &&
		       !strcmp(p->pattern[1], str(o, "write", err, errlen)) &&
		       !strcmp(p->pattern[2], str(o, "read", err, errlen))
		     ? DC_NONE
		     : DC_UPDATE;
	return 0;
}

static json_t *perm_json(const struct perm *p)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s}", "user", p->user, "vhost", p->vhost,
			 "configure", p->pattern[0], "write", p->pattern[1], "read", p->pattern[2]);
}

static int perm_apply(const json_t *o, char *err, size_t errlen)
{
	const char *u = str(o, "user", err, errlen), *v = str(o, "vhost", err, errlen);
	if (access_perm_set(u, v, str(o, "configure", err, errlen), str(o, "write", err, errlen),
			    str(o, "read", err, errlen), err, errlen) < 0)
		return -1;
	char *id = ID(u, v);
	json_t *canon = perm_json(access_perm_find(u, v));
	store_object(DK_PERMISSION, id, canon);
	json_decref(canon);
	free(id);
	return 0;
}

static void perm_each(defs_each_fn fn, void *ctx)
{
	const struct perm *p;
	for (size_t i = 0; (p = access_perm_next(&i));) {
		char *id = ID(p->user, p->vhost), what[600];
		perm_describe(id, what, sizeof what);
		fn(ctx, id, what, 0);
		free(id);
	}
}

static void perm_remove(const char *id)
{
	json_t *a = id_parts(id);
	if (access_perm_clear(part(a, 0), part(a, 1)) == 0)
		unstore_object(DK_PERMISSION, id);
	json_decref(a);
}

static void perm_export(json_t *arr)
{
	const struct perm *p;
	for (size_t i = 0; (p = access_perm_next(&i));)
		json_array_append_new(arr, perm_json(p));
}

static char *topic_id(const json_t *o, char *err, size_t errlen)
{
	const char *u = str(o, "user", err, errlen);
	const char *v = u ? str(o, "vhost", err, errlen) : NULL;
	const char *x = v ? str(o, "exchange", err, errlen) : NULL;
	return x ? ID(u, v, x) : NULL;
}

static void topic_describe(const char *id, char *out, size_t n)
{
	json_t *a = id_parts(id);
	snprintf(out, n, "topic permissions of user '%s' on exchange '%s' in vhost '%s'", part(a, 0),
		 part(a, 2), part(a, 1));
	json_decref(a);
}

static const struct topic_perm *topic_find(const char *u, const char *v, const char *x)
{
	const struct topic_perm *t;
	for (size_t i = 0; (t = access_topic_next(&i));)
		if (!strcmp(t->user, u) && !strcmp(t->vhost, v) && !strcmp(t->exchange, x))
			return t;
	return NULL;
}

static int topic_plan(const json_t *o, const struct defs_index *fi, enum defs_change *c,
		      char *note, size_t notelen, char *err, size_t errlen)
{
	(void)note;
	(void)notelen;
	const char *u = str(o, "user", err, errlen), *v = u ? str(o, "vhost", err, errlen) : NULL;
	const char *x = v ? str(o, "exchange", err, errlen) : NULL;
	if (!x || need_user(fi, u, err, errlen) || need_vhost(fi, v, err, errlen) ||
	    check_regex(o, "write", err, errlen) || check_regex(o, "read", err, errlen))
		return -1;
	const struct topic_perm *t = topic_find(u, v, x);
	*c = !t ? DC_CREATE
	     : !strcmp(t->write, str(o, "write", err, errlen)) &&
		       !strcmp(t->read, str(o, "read", err, errlen))
		     ? DC_NONE
		     : DC_UPDATE;
	return 0;
}

static json_t *topic_json(const struct topic_perm *t)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s}", "user", t->user, "vhost", t->vhost,
			 "exchange", t->exchange, "write", t->write, "read", t->read);
}

static int topic_apply(const json_t *o, char *err, size_t errlen)
{
	const char *u = str(o, "user", err, errlen), *v = str(o, "vhost", err, errlen);
	const char *x = str(o, "exchange", err, errlen);
	if (access_topic_set(u, v, x, str(o, "write", err, errlen), str(o, "read", err, errlen), err,
			     errlen) < 0)
		return -1;
	char *id = ID(u, v, x);
	json_t *canon = topic_json(topic_find(u, v, x));
	store_object(DK_TOPIC_PERMISSION, id, canon);
	json_decref(canon);
	free(id);
	return 0;
}

static void topic_each(defs_each_fn fn, void *ctx)
{
	const struct topic_perm *t;
	for (size_t i = 0; (t = access_topic_next(&i));) {
		char *id = ID(t->user, t->vhost, t->exchange), what[800];
		topic_describe(id, what, sizeof what);
		fn(ctx, id, what, 0);
		free(id);
	}
}

static void topic_remove(const char *id)
{
	json_t *a = id_parts(id);
	if (access_topic_clear(part(a, 0), part(a, 1), part(a, 2)) == 0)
		unstore_object(DK_TOPIC_PERMISSION, id);
	json_decref(a);
}

static void topic_export(json_t *arr)
{
	const struct topic_perm *t;
	for (size_t i = 0; (t = access_topic_next(&i));)
		json_array_append_new(arr, topic_json(t));
}

/* ---- parameters and global parameters ---- */

/* Kept as given (id -> object): Tern acts on vhost-limits only and keeps
 * the rest (federation upstreams, cluster_name, ...) for export. */
static struct strmap params, globals;

static char *param_id(const json_t *o, char *err, size_t errlen)
{
	const char *v = str(o, "vhost", err, errlen);
	const char *c = v ? str(o, "component", err, errlen) : NULL;
	const char *n = c ? str(o, "name", err, errlen) : NULL;
	return n ? ID(v, c, n) : NULL;
}

static void param_describe(const char *id, char *out, size_t n)
{
	json_t *a = id_parts(id);
	snprintf(out, n, "parameter '%s' of component '%s' in vhost '%s'", part(a, 2), part(a, 1),
		 part(a, 0));
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

static int param_plan(const json_t *o, const struct defs_index *fi, enum defs_change *c,
		      char *note, size_t notelen, char *err, size_t errlen)
{
	const char *v = str(o, "vhost", err, errlen), *comp = str(o, "component", err, errlen);
	if (need_vhost(fi, v, err, errlen))
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
	const char *comp = str(o, "component", err, errlen);
	if (!strcmp(comp, "vhost-limits"))
		apply_limits(str(o, "vhost", err, errlen), json_object_get(o, "value"));
	store_object(DK_PARAMETER, id, (json_t *)o);
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
	json_t *a = id_parts(id);
	if (!strcmp(part(a, 1), "vhost-limits"))
		apply_limits(part(a, 0), NULL);
	json_decref(a);
	drop(&params, id);
	unstore_object(DK_PARAMETER, id);
}

static void params_remove_vhost(const char *vhost)
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
	json_t *a = id_parts(id);
	snprintf(out, n, "global parameter '%s'", part(a, 0));
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
	char *id = name_id(o, err, errlen);
	*c = unchanged(&globals, id, o) ? DC_NONE : kept_get(&globals, id) ? DC_UPDATE : DC_CREATE;
	free(id);
	return 0;
}

static int global_apply(const json_t *o, char *err, size_t errlen)
{
	char *id = name_id(o, err, errlen);
	keep(&globals, id, o);
	store_object(DK_GLOBAL_PARAMETER, id, (json_t *)o);
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
	unstore_object(DK_GLOBAL_PARAMETER, id);
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

static char *policy_id(const json_t *o, char *err, size_t errlen)
{
	const char *v = str(o, "vhost", err, errlen);
	const char *n = v ? str(o, "name", err, errlen) : NULL;
	return n ? ID(v, n) : NULL;
}

static void describe_policy(const char *id, char *out, size_t n, bool op)
{
	json_t *a = id_parts(id);
	snprintf(out, n, "%spolicy '%s' in vhost '%s'", op ? "operator " : "", part(a, 1),
		 part(a, 0));
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
	f->vhost = str(o, "vhost", err, errlen);
	f->name = f->vhost ? str(o, "name", err, errlen) : NULL;
	f->pattern = f->name ? str(o, "pattern", err, errlen) : NULL;
	if (!f->pattern)
		return -1;
	const char *to = opt_str(o, "apply-to", "all", err, errlen);
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
		return ERR("definition: %s", why);
	policy_def_free(&d);
	struct regex *re = regex_compile(f->pattern, "pattern", err, errlen);
	regex_free(re);
	return re ? 0 : -1;
}

static int plan_policy(const json_t *o, bool op, const struct defs_index *fi, enum defs_change *c,
		       char *err, size_t errlen)
{
	struct policy_fields f;
	if (policy_fields(o, op, &f, err, errlen) < 0 || need_vhost(fi, f.vhost, err, errlen))
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
	store_object(op ? DK_OPERATOR_POLICY : DK_POLICY, id, canon);
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

static void policy_remove_any(const char *id, bool op)
{
	json_t *a = id_parts(id);
	if (policy_delete(part(a, 0), part(a, 1), op) == 0) {
		struct vhost *vh = vhost_find(bytes_of(part(a, 0)));
		if (vh)
			vhost_apply_policies(vh);
		unstore_object(op ? DK_OPERATOR_POLICY : DK_POLICY, id);
	}
	json_decref(a);
}

static void policy_remove(const char *id)
{
	policy_remove_any(id, false);
}

static void op_policy_remove(const char *id)
{
	policy_remove_any(id, true);
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

static void op_policy_export(json_t *arr)
{
	export_policies(true, arr);
}

/* ---- queues and exchanges ---- */

static char *vhost_name_id(const json_t *o, char *err, size_t errlen)
{
	const char *v = str(o, "vhost", err, errlen);
	const char *n = v ? str(o, "name", err, errlen) : NULL;
	return n ? ID(v, n) : NULL;
}

static void queue_describe(const char *id, char *out, size_t n)
{
	json_t *a = id_parts(id);
	snprintf(out, n, "queue '%s' in vhost '%s'", part(a, 1), part(a, 0));
	json_decref(a);
}

static void exchange_describe(const char *id, char *out, size_t n)
{
	json_t *a = id_parts(id);
	snprintf(out, n, "exchange '%s' in vhost '%s'", part(a, 1), part(a, 0));
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
	const char *name = str(o, "name", err, errlen);
	int durable = opt_bool(o, "durable", true, err, errlen);
	int auto_delete = durable < 0 ? -1 : opt_bool(o, "auto_delete", false, err, errlen);
	if (!name || auto_delete < 0)
		return -1;
	*d = (struct queue_decl){.name = bytes_of(name), .durable = durable,
				 .auto_delete = auto_delete};
	return args_of(o, &d->args, err, errlen);
}

static int queue_plan(const json_t *o, const struct defs_index *fi, enum defs_change *c,
		      char *note, size_t notelen, char *err, size_t errlen)
{
	const char *v = str(o, "vhost", err, errlen);
	struct queue_decl d;
	if (!v || need_vhost(fi, v, err, errlen) || queue_decl_of(o, &d, err, errlen))
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
		const char *diff = q->exclusive                ? "exclusive"
				   : q->durable != d.durable   ? "durable"
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
	const char *v = str(o, "vhost", err, errlen);
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
	json_t *a = id_parts(id);
	struct vhost *vh = vhost_find(bytes_of(part(a, 0)));
	struct queue *q = vh ? vhost_queue(vh, bytes_of(part(a, 1))) : NULL;
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
			json_array_append_new(
				arr, json_pack("{s:s%, s:s, s:s, s:b, s:b, s:o}", "name", q->name,
					       (size_t)q->name_len, "vhost", vh->name, "type",
					       "classic", "durable", q->durable, "auto_delete",
					       q->auto_delete, "arguments", jtable_to_json(q->args)));
		}
	}
}

static int exchange_decl_of(const json_t *o, struct exchange_decl *d, char *err, size_t errlen)
{
	const char *name = str(o, "name", err, errlen);
	const char *type = name ? str(o, "type", err, errlen) : NULL;
	int durable = opt_bool(o, "durable", true, err, errlen);
	int auto_delete = durable < 0 ? -1 : opt_bool(o, "auto_delete", false, err, errlen);
	int internal = auto_delete < 0 ? -1 : opt_bool(o, "internal", false, err, errlen);
	if (!type || internal < 0)
		return -1;
	*d = (struct exchange_decl){.name = bytes_of(name), .type = bytes_of(type),
				    .durable = durable, .auto_delete = auto_delete,
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
	const char *v = str(o, "vhost", err, errlen);
	struct exchange_decl d;
	if (!v || need_vhost(fi, v, err, errlen) || exchange_decl_of(o, &d, err, errlen))
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
		const char *diff = x->base.type != t                ? "type"
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
	const char *v = str(o, "vhost", err, errlen);
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
	json_t *a = id_parts(id);
	struct vhost *vh = vhost_find(bytes_of(part(a, 0)));
	struct bexchange *x = vh ? vhost_exchange(vh, bytes_of(part(a, 1))) : NULL;
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
					       x->base.type->name, "durable", x->durable, "auto_delete",
					       x->auto_delete, "internal", x->internal, "arguments",
					       jtable_to_json(x->args)));
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
	const char *v = str(o, "vhost", err, errlen);
	const char *s = v ? str(o, "source", err, errlen) : NULL;
	const char *d = s ? str(o, "destination", err, errlen) : NULL;
	const char *t = d ? str(o, "destination_type", err, errlen) : NULL;
	const char *k = t ? opt_str(o, "routing_key", "", err, errlen) : NULL;
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
	json_t *a = id_parts(id);
	snprintf(out, n, "binding of %s '%s' to exchange '%s' with key '%s' in vhost '%s'",
		 part(a, 2), part(a, 3), part(a, 1), part(a, 4), part(a, 0));
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
	char *id = binding_id_of(vh->name, src->base.name, q ? "queue" : "exchange", dest, key, args);
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

static int binding_plan(const json_t *o, const struct defs_index *fi, enum defs_change *c,
			char *note, size_t notelen, char *err, size_t errlen)
{
	(void)note;
	(void)notelen;
	char *id = binding_id(o, err, errlen);
	if (!id)
		return -1;
	const char *v = str(o, "vhost", err, errlen), *s = str(o, "source", err, errlen);
	const char *d = str(o, "destination", err, errlen);
	bool to_queue = !strcmp(str(o, "destination_type", err, errlen), "queue");
	struct vhost *vh = vhost_find(bytes_of(v));
	char *sid = ID(v, s), *did = ID(v, d);
	int rc = 0;
	struct bytes args;
	if (need_vhost(fi, v, err, errlen))
		rc = -1;
	else if (!*s)
		rc = ERR("source: bindings of the default exchange are implicit");
	else if (!(vh && vhost_exchange(vh, bytes_of(s))) && !defs_index_has(fi, DK_EXCHANGE, sid))
		rc = ERR("source: no exchange '%s' in vhost '%s'", s, v);
	else if (to_queue && !(vh && vhost_queue(vh, bytes_of(d))) &&
		 !defs_index_has(fi, DK_QUEUE, did))
		rc = ERR("destination: no queue '%s' in vhost '%s'", d, v);
	else if (!to_queue && !(vh && vhost_exchange(vh, bytes_of(d))) &&
		 !defs_index_has(fi, DK_EXCHANGE, did))
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
	const char *v = str(o, "vhost", err, errlen), *s = str(o, "source", err, errlen);
	const char *d = str(o, "destination", err, errlen);
	bool to_queue = !strcmp(str(o, "destination_type", err, errlen), "queue");
	struct bytes args;
	if (args_of(o, &args, err, errlen) < 0)
		return -1;
	struct op_err e;
	int rc = op_bind(vhost_find(bytes_of(v)), NULL, to_queue ? DEST_QUEUE : DEST_EXCHANGE,
			 bytes_of(s), bytes_of(d),
			 bytes_of(opt_str(o, "routing_key", "", err, errlen)), args, false, &e);
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
	json_t *a = id_parts(id);
	struct vhost *vh = vhost_find(bytes_of(part(a, 0)));
	struct bexchange *src = vh ? vhost_exchange(vh, bytes_of(part(a, 1))) : NULL;
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
	json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s, s:s%, s:o}", "source",
					     src->base.name, "vhost", vh->name, "destination", dest,
					     "destination_type", q ? "queue" : "exchange",
					     "routing_key", b->key, (size_t)b->key_len, "arguments",
					     jtable_to_json(b->args)));
}

static void binding_export(json_t *arr)
{
	each_model_binding(export_binding, arr);
}

/* ---- the table ---- */

const struct defs_kind_ops defs_kinds[DK_N] = {
	[DK_USER] = {"users", "user", user_id, user_describe, user_plan, user_apply, user_each,
		     user_remove, user_export},
	[DK_VHOST] = {"vhosts", "vhost", name_id, vhost_describe, vhost_plan, vhost_apply,
		      vhost_each, vhost_remove, vhost_export},
	[DK_PERMISSION] = {"permissions", "permission", perm_id, perm_describe, perm_plan,
			   perm_apply, perm_each, perm_remove, perm_export},
	[DK_TOPIC_PERMISSION] = {"topic_permissions", "topic_permission", topic_id,
				 topic_describe, topic_plan, topic_apply, topic_each, topic_remove,
				 topic_export},
	[DK_PARAMETER] = {"parameters", "parameter", param_id, param_describe, param_plan,
			  param_apply, param_each, param_remove, param_export},
	[DK_GLOBAL_PARAMETER] = {"global_parameters", "global_parameter", name_id,
				 global_describe, global_plan, global_apply, global_each,
				 global_remove, global_export},
	[DK_POLICY] = {"policies", "policy", policy_id, policy_describe, policy_plan, policy_apply,
		       policy_each, policy_remove, policy_export},
	[DK_OPERATOR_POLICY] = {"operator_policies", "operator_policy", policy_id,
				op_policy_describe, op_policy_plan, op_policy_apply, op_policy_each,
				op_policy_remove, op_policy_export},
	[DK_QUEUE] = {"queues", NULL, vhost_name_id, queue_describe, queue_plan, queue_apply,
		      queue_each, queue_remove, queue_export},
	[DK_EXCHANGE] = {"exchanges", NULL, vhost_name_id, exchange_describe, exchange_plan,
			 exchange_apply, exchange_each, exchange_remove, exchange_export},
	[DK_BINDING] = {"bindings", NULL, binding_id, binding_describe, binding_plan,
			binding_apply, binding_each, binding_remove, binding_export},
};
