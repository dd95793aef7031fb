/* defs_access.c — users, vhosts, permissions and topic permissions as
 * RabbitMQ's definitions objects (a row each of defs_kinds.h's table). */
#include "broker/model/defs_kinds.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/model/access.h"
#include "broker/core/config.h"
#include "broker/model/definitions.h"
#include "broker/net/conn.h"
#include "broker/model/jtable.h"
#include "broker/core/log.h"
#include "broker/model/ops.h"
#include "broker/queue/persist.h"
#include "broker/model/policy.h"
#include "broker/queue/queue_args.h"
#include "broker/model/vhost.h"
#include "store/store.h"
#include "util/regex.h"
#include "util/strmap.h"
#include "util/xalloc.h"

#define ERR(...) (snprintf(err, errlen, __VA_ARGS__), -1)

/* ---- users ---- */

static void user_describe(const char *id, char *out, size_t n)
{
	json_t *a = defs_id_parts(id);
	snprintf(out, n, "user '%s'", defs_part(a, 0));
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
	const char *name = defs_str(o, "name", err, errlen);
	const char *alg_name = defs_opt_str(o, "hashing_algorithm", "", err, errlen);
	const char *hash = defs_opt_str(o, "password_hash", "", err, errlen);
	const char *pw = defs_opt_str(o, "password", NULL, err, errlen);
	if (!name || !alg_name || !hash || (!pw && json_object_get(o, "password")))
		return -1;
	enum access_hash alg;
	if (access_hash_parse(alg_name, &alg) < 0)
		return ERR("hashing_algorithm: unknown algorithm '%s'", alg_name);
	if (!pw && access_hash_check(hash, alg, err, errlen) < 0)
		return -1;
	char tags[16][64];
	int ntags = defs_tags(o, "tags", tags, 16);
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
	const char *what[3];
	int n = 0;
	if (!same_pw)
		what[n++] = "password";
	if (!same_tags)
		what[n++] = "tags";
	if (!same_limits)
		what[n++] = "limits";
	snprintf(note, notelen, " (%s%s%s%s%s)", n > 0 ? what[0] : "", n > 1 ? ", " : "",
		 n > 1 ? what[1] : "", n > 2 ? ", " : "", n > 2 ? what[2] : "");
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

/* A user object's hash and tags as access_user_put and access_user_make
 * take them (the object checked already, or refused here). */
struct user_creds {
	enum access_hash alg;
	const char *hash;
	int ntags;
	char tags[16][64];
	const char *tagv[16];
};

static int user_creds(const json_t *o, struct user_creds *c, char *err, size_t errlen)
{
	const char *alg = defs_opt_str(o, "hashing_algorithm", "", err, errlen);
	c->hash = defs_opt_str(o, "password_hash", "", err, errlen);
	c->ntags = defs_tags(o, "tags", c->tags, 16);
	for (int i = 0; i < c->ntags; i++)
		c->tagv[i] = c->tags[i];
	if (!alg || !c->hash)
		return -1;
	if (c->ntags < 0)
		return ERR("tags: not a list");
	if (access_hash_parse(alg, &c->alg) < 0)
		return ERR("hashing_algorithm: unknown algorithm '%s'", alg);
	return 0;
}

static int user_apply(const json_t *o, char *err, size_t errlen)
{
	const char *name = defs_str(o, "name", err, errlen);
	const char *pw = defs_opt_str(o, "password", NULL, err, errlen);
	struct user_creds c;
	if (user_creds(o, &c, err, errlen) < 0 ||
	    access_user_put(name, pw ? "" : c.hash, c.alg, c.tagv, (size_t)c.ntags, err, errlen) < 0)
		return -1;
	if (pw)
		access_user_set_password(name, bytes_of(pw));
	json_t *limits = json_object_get(o, "limits");
	if (limits) {
		json_t *mc = json_object_get(limits, "max-connections");
		json_t *mh = json_object_get(limits, "max-channels");
		access_user_limit_set(name, "max-connections", mc ? json_integer_value(mc) : -1,
				      err, errlen);
		access_user_limit_set(name, "max-channels", mh ? json_integer_value(mh) : -1, err,
				      errlen);
	}
	struct user *u = access_user_find(name);
	u->loopback_only = loopback_user(name);
	char *id = ID(name);
	json_t *canon = user_json(u);
	defs_store(DK_USER, id, canon);
	json_decref(canon);
	free(id);
	return 0;
}

/* ---- a follower's logins: the users its store holds ---- */

struct stored_find {
	const char *id;
	json_t *obj;
	size_t rows;
};

static void stored_row(void *ctx, const char *key, const char *value)
{
	struct stored_find *f = ctx;
	f->rows++;
	if (!f->obj && !strcmp(key, f->id))
		f->obj = json_loads(value, 0, NULL);
}

static void count_row(void *ctx, const char *key, const char *value)
{
	(void)key;
	(void)value;
	++*(size_t *)ctx;
}

/* A member whose store holds no vhost and no user has applied nothing of
 * a leader's yet (a new cluster that has not elected one, a member that
 * never met it): every leader's first boot stores its vhosts and, when
 * definitions_boot_user(), the default user. Until then that node's default
 * user is the one login it has, as it would be on a blank single node,
 * so an operator can read /api/nodes to see why there is no leader. */
static bool first_boot_user(const char *name, size_t user_rows)
{
	if (user_rows || !definitions_boot_user() || strcmp(name, cfg.default_user))
		return false;
	size_t vhosts = 0;
	return store_scan_objects(defs_vhost_ops.store, count_row, &vhosts) == 0 && vhosts == 0;
}

int definitions_stored_user(const char *name, struct user *out, char *err, size_t errlen)
{
	json_t *valid = json_string(name);
	if (!valid)
		return 0; /* not UTF-8: no stored user has that name */
	json_decref(valid);
	char *id = ID(name);
	struct stored_find f = {id, NULL, 0};
	int rc = store_scan_objects(defs_user_ops.store, stored_row, &f);
	free(id);
	if (rc < 0)
		return ERR("reading the stored users: %s", store_error());
	if (!f.obj && first_boot_user(name, f.rows)) {
		static const char *const admin[] = {BOOT_USER_TAG};
		access_user_make_plain(out, name, bytes_of(cfg.default_pass), admin, 1);
		out->loopback_only = loopback_user(name);
		return 1;
	}
	if (!f.obj)
		return 0;
	/* The leader stored it in user_json's form; what its recovery would
	 * refuse (recover_one) is refused here too. */
	char why[300] = "not valid JSON";
	struct user_creds c;
	if (user_creds(f.obj, &c, why, sizeof why) < 0 ||
	    access_user_make(out, name, c.hash, c.alg, c.tagv, (size_t)c.ntags, why, sizeof why) < 0) {
		log_error("stored user '%s': %s", name, why);
		json_decref(f.obj);
		return 0;
	}
	out->loopback_only = loopback_user(name);
	json_decref(f.obj);
	return 1;
}

int definitions_stored_login(struct bytes name, struct bytes password, bool from_loopback,
			     struct user *out, char *err, size_t errlen)
{
	char cname[800];
	if (name.len >= sizeof cname || memchr(name.p, 0, name.len))
		return 0; /* no stored name is that long or holds a NUL */
	snprintf(cname, sizeof cname, "%.*s", (int)name.len, (const char *)name.p);
	int rc = definitions_stored_user(cname, out, err, errlen);
	if (rc <= 0)
		return rc;
	if (access_user_login(out, password, from_loopback))
		return 1;
	access_user_release(out);
	return -2;
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

static void user_remove(const char *id)
{
	json_t *a = defs_id_parts(id);
	const char *name = defs_part(a, 0);
	/* Its permissions leave the store one by one, then the user. */
	const struct perm *p;
	for (size_t i = 0; (p = access_perm_next(&i));) {
		if (!strcmp(p->user, name)) {
			char *pid = ID(p->user, p->vhost);
			defs_perm_remove(pid);
			free(pid);
			i = 0; /* the table moved */
		}
	}
	const struct topic_perm *t;
	for (size_t i = 0; (t = access_topic_next(&i));) {
		if (!strcmp(t->user, name)) {
			char *tid = ID(t->user, t->vhost, t->exchange);
			defs_topic_remove(tid);
			free(tid);
			i = 0;
		}
	}
	if (access_user_delete(name) == 0) {
		conn_close_user(name, "user deleted");
		defs_unstore(DK_USER, id);
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

static void vhost_describe(const char *id, char *out, size_t n)
{
	json_t *a = defs_id_parts(id);
	snprintf(out, n, "vhost '%s'", defs_part(a, 0));
	json_decref(a);
}

/* RabbitMQ 3.10 writes description and tags both at the top and under
 * metadata; either is read. */
static const json_t *meta(const json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	return v ? v : json_object_get(json_object_get(o, "metadata"), key);
}

static void vhost_fields(const json_t *o, char *desc, size_t dn, char *tags, size_t tn, char *dqt,
			 size_t qn)
{
	const json_t *d = meta(o, "description"), *q = meta(o, "default_queue_type");
	snprintf(desc, dn, "%s", json_is_string(d) ? json_string_value(d) : "");
	snprintf(dqt, qn, "%s", json_is_string(q) ? json_string_value(q) : "");
	char t[16][64];
	json_t *holder = json_object();
	json_object_set(holder, "tags", (json_t *)meta(o, "tags"));
	int nt = defs_tags(holder, "tags", t, 16);
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
	/* RabbitMQ 3.10 writes a vhost as its name alone; Tern adds the
	 * metadata when there is some, so an export keeps it. */
	json_t *o = json_array_size(tags) || *desc
			    ? json_pack("{s:s, s:s, s:O, s:{s:s, s:O}}", "name", vh->name,
					"description", desc, "tags", tags, "metadata", "description",
					desc, "tags", tags)
			    : json_pack("{s:s}", "name", vh->name);
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
	const char *name = defs_str(o, "name", err, errlen);
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
	snprintf(note, notelen, " (metadata)");
	return 0;
}

static char *dup_nonempty(const char *s)
{
	return *s ? xstrdup(s) : NULL;
}

static int vhost_apply(const json_t *o, char *err, size_t errlen)
{
	const char *name = defs_str(o, "name", err, errlen);
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
	defs_store(DK_VHOST, id, canon);
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

/* A vhost goes with its permissions, policies and parameters, each
 * leaving the store too. */
static void vhost_remove(const char *id)
{
	json_t *a = defs_id_parts(id);
	const char *name = defs_part(a, 0);
	struct vhost *vh = vhost_find(bytes_of(name));
	if (!vh) {
		json_decref(a);
		return;
	}
	const struct perm *p;
	for (size_t i = 0; (p = access_perm_next(&i));)
		if (!strcmp(p->vhost, name)) {
			char *pid = ID(p->user, p->vhost);
			defs_perm_remove(pid);
			free(pid);
			i = 0;
		}
	const struct topic_perm *t;
	for (size_t i = 0; (t = access_topic_next(&i));)
		if (!strcmp(t->vhost, name)) {
			char *tid = ID(t->user, t->vhost, t->exchange);
			defs_topic_remove(tid);
			free(tid);
			i = 0;
		}
	const struct policy *pol;
	for (size_t i = 0; (pol = policy_next(&i));)
		if (!strcmp(pol->vhost, name)) {
			char *pid = ID(pol->vhost, pol->name);
			defs_policy_remove(pid, pol->op);
			free(pid);
			i = 0;
		}
	defs_params_remove_vhost(name);
	vhost_delete(vh);
	defs_unstore(DK_VHOST, id);
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
	return FIELDS_ID(o, err, errlen, "user", "vhost");
}

static void perm_describe(const char *id, char *out, size_t n)
{
	json_t *a = defs_id_parts(id);
	snprintf(out, n, "permissions of user '%s' in vhost '%s'", defs_part(a, 0),
		 defs_part(a, 1));
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
	const char *u = defs_str(o, "user", err, errlen),
		   *v = u ? defs_str(o, "vhost", err, errlen) : NULL;
	if (!v || need_user(fi, u, err, errlen) || defs_need_vhost(fi, v, err, errlen) ||
	    defs_check_regex(o, "configure", err, errlen) ||
	    defs_check_regex(o, "write", err, errlen) || defs_check_regex(o, "read", err, errlen))
		return -1;
	const struct perm *p = access_perm_find(u, v);
	*c = !p ? DC_CREATE
	     : !strcmp(p->pattern[0], defs_str(o, "configure", err, errlen)) &&
			     !strcmp(p->pattern[1], defs_str(o, "write", err, errlen)) &&
			     !strcmp(p->pattern[2], defs_str(o, "read", err, errlen))
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
	const char *u = defs_str(o, "user", err, errlen), *v = defs_str(o, "vhost", err, errlen);
	if (access_perm_set(u, v, defs_str(o, "configure", err, errlen),
			    defs_str(o, "write", err, errlen), defs_str(o, "read", err, errlen),
			    err, errlen) < 0)
		return -1;
	char *id = ID(u, v);
	json_t *canon = perm_json(access_perm_find(u, v));
	defs_store(DK_PERMISSION, id, canon);
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

void defs_perm_remove(const char *id)
{
	json_t *a = defs_id_parts(id);
	if (access_perm_clear(defs_part(a, 0), defs_part(a, 1)) == 0)
		defs_unstore(DK_PERMISSION, id);
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
	return FIELDS_ID(o, err, errlen, "user", "vhost", "exchange");
}

static void topic_describe(const char *id, char *out, size_t n)
{
	json_t *a = defs_id_parts(id);
	snprintf(out, n, "topic permissions of user '%s' on exchange '%s' in vhost '%s'",
		 defs_part(a, 0), defs_part(a, 2), defs_part(a, 1));
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

static int topic_plan(const json_t *o, const struct defs_index *fi, enum defs_change *c, char *note,
		      size_t notelen, char *err, size_t errlen)
{
	(void)note;
	(void)notelen;
	const char *u = defs_str(o, "user", err, errlen),
		   *v = u ? defs_str(o, "vhost", err, errlen) : NULL;
	const char *x = v ? defs_str(o, "exchange", err, errlen) : NULL;
	if (!x || need_user(fi, u, err, errlen) || defs_need_vhost(fi, v, err, errlen) ||
	    defs_check_regex(o, "write", err, errlen) || defs_check_regex(o, "read", err, errlen))
		return -1;
	const struct topic_perm *t = topic_find(u, v, x);
	*c = !t ? DC_CREATE
	     : !strcmp(t->write, defs_str(o, "write", err, errlen)) &&
			     !strcmp(t->read, defs_str(o, "read", err, errlen))
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
	const char *u = defs_str(o, "user", err, errlen), *v = defs_str(o, "vhost", err, errlen);
	const char *x = defs_str(o, "exchange", err, errlen);
	if (access_topic_set(u, v, x, defs_str(o, "write", err, errlen),
			     defs_str(o, "read", err, errlen), err, errlen) < 0)
		return -1;
	char *id = ID(u, v, x);
	json_t *canon = topic_json(topic_find(u, v, x));
	defs_store(DK_TOPIC_PERMISSION, id, canon);
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

void defs_topic_remove(const char *id)
{
	json_t *a = defs_id_parts(id);
	if (access_topic_clear(defs_part(a, 0), defs_part(a, 1), defs_part(a, 2)) == 0)
		defs_unstore(DK_TOPIC_PERMISSION, id);
	json_decref(a);
}

static void topic_export(json_t *arr)
{
	const struct topic_perm *t;
	for (size_t i = 0; (t = access_topic_next(&i));)
		json_array_append_new(arr, topic_json(t));
}

const struct defs_kind_ops defs_user_ops = {"users",       "user",      defs_name_id,
					    user_describe, user_plan,   user_apply,
					    user_each,     user_remove, user_export};

const struct defs_kind_ops defs_vhost_ops = {"vhosts",       "vhost",      defs_name_id,
					     vhost_describe, vhost_plan,   vhost_apply,
					     vhost_each,     vhost_remove, vhost_export};

const struct defs_kind_ops defs_permission_ops = {"permissions", "permission",     perm_id,
						  perm_describe, perm_plan,        perm_apply,
						  perm_each,     defs_perm_remove, perm_export};

const struct defs_kind_ops defs_topic_permission_ops = {
	"topic_permissions", "topic_permission", topic_id,          topic_describe, topic_plan,
	topic_apply,         topic_each,         defs_topic_remove, topic_export};
