/* api_access.c — vhosts, users, permissions, topic permissions, policies,
 * operator policies and limits in RabbitMQ's API shapes. Every change is
 * a definitions object put or removed through definitions.h, so the API,
 * definitions files and recovery share one implementation (and one set
 * of checks and error texts). */
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/model/definitions.h"
#include "broker/core/log.h"
#include "broker/model/policy.h"
#include "plugins/management/api.h"
#include "util/regex.h"

/* Puts obj (stolen) as a definitions object of kind; 201 when it is new,
 * 204 when it replaced one, 400 with the reason otherwise. */
static void put(struct req *q, const char *kind, json_t *obj, bool existed)
{
	char err[1024];
	if (definitions_put(kind, obj, err, sizeof err) < 0)
		reply_error(q, 400, "%s", err);
	else
		reply_status(q, existed ? 204 : 201);
	json_decref(obj);
}

static void removed(struct req *q, const char *kind, json_t *id_fields)
{
	char err[512];
	if (definitions_remove(kind, id_fields, err, sizeof err) < 0)
		reply_error(q, 400, "%s", err);
	else
		reply_status(q, 204);
	json_decref(id_fields);
}

/* ---- vhosts ---- */

static json_t *tags_list(const char *csv)
{
	json_t *a = json_array();
	for (const char *t = csv ? csv : ""; *t;) {
		size_t len = strcspn(t, ",");
		if (len)
			json_array_append_new(a, json_stringn(t, len));
		t += len + (t[len] == ',');
	}
	return a;
}

static json_t *vhost_json(const struct vhost *vh)
{
	uint64_t ready = 0, unacked = 0;
	void *v;
	for (size_t i = 0; strmap_next(&vh->queues, &i, &v);) {
		ready += ((struct queue *)v)->len;
		unacked += ((struct queue *)v)->unacked;
	}
	const char *desc = vh->description ? vh->description : "";
	json_t *o = json_pack("{s:s, s:s, s:o, s:b, s:I, s:I, s:I, s:o, s:{s:s}}", "name", vh->name,
			      "description", desc, "tags", tags_list(vh->tags), "tracing", vh->tracing,
			      "messages", (json_int_t)(ready + unacked), "messages_ready",
			      (json_int_t)ready, "messages_unacknowledged", (json_int_t)unacked,
			      "message_stats", message_stats_json(&vh->stats), "cluster_state",
			      node_name(), "running");
	json_object_set_new(o, "metadata", json_pack("{s:s, s:o}", "description", desc, "tags",
						     tags_list(vh->tags)));
	json_object_set_new(o, "messages_details", rate_json(0));
	json_object_set_new(o, "messages_ready_details", rate_json(0));
	json_object_set_new(o, "messages_unacknowledged_details", rate_json(0));
	json_object_set_new(o, "default_queue_type",
			    json_string(vh->default_queue_type ? vh->default_queue_type
							       : "classic"));
	return o;
}

void api_vhosts(struct req *q)
{
	json_t *arr = json_array();
	struct vhost *vh;
	for (size_t i = 0; (vh = vhost_next(&i));)
		if (user_sees_vhost(q->user, vh->name))
			json_array_append_new(arr, vhost_json(vh));
	reply_list(q, arr);
}

void api_vhost(struct req *q)
{
	struct vhost *vh = req_vhost(q, q->arg[0]);
	if (vh)
		reply_object(q, vhost_json(vh));
}

void api_vhost_put(struct req *q)
{
	bool tracing;
	if (!body_optional(q) || !body_bool(q, "tracing", false, &tracing))
		return;
	json_t *o = q->body ? json_deep_copy(q->body) : json_object();
	json_object_set_new(o, "name", json_string(q->arg[0]));
	json_object_del(o, "tracing");
	bool existed = vhost_find(bytes_of(q->arg[0])) != NULL;
	char err[1024];
	if (definitions_put("vhosts", o, err, sizeof err) < 0) {
		reply_error(q, 400, "%s", err);
	} else {
		struct vhost *vh = vhost_find(bytes_of(q->arg[0]));
		if (vh && json_object_get(q->body, "tracing"))
			vh->tracing = tracing;
		/* RabbitMQ gives the user who creates a vhost full permissions
		 * on it. */
		json_t *perm = json_pack("{s:s, s:s, s:s, s:s, s:s}", "user", q->user->name, "vhost",
					 q->arg[0], "configure", ".*", "write", ".*", "read", ".*");
		if (!existed && definitions_put("permissions", perm, err, sizeof err) < 0)
			log_warn("api: vhost '%s': permissions of its creator: %s", q->arg[0],
				    err);
		json_decref(perm);
		reply_status(q, existed ? 204 : 201);
	}
	json_decref(o);
}

void api_vhost_delete(struct req *q)
{
	if (definitions_delete_vhost(q->arg[0]) < 0)
		reply_not_found(q);
	else
		reply_status(q, 204);
}

/* ---- permissions ---- */

static json_t *perm_json(const struct perm *p)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s}", "user", p->user, "vhost", p->vhost,
			 "configure", p->pattern[0], "write", p->pattern[1], "read", p->pattern[2]);
}

/* Permissions filtered by vhost and/or user (NULL: any). */
static json_t *perms(const char *vhost, const char *user)
{
	json_t *arr = json_array();
	const struct perm *p;
	for (size_t i = 0; (p = access_perm_next(&i));)
		if ((!vhost || !strcmp(p->vhost, vhost)) && (!user || !strcmp(p->user, user)))
			json_array_append_new(arr, perm_json(p));
	return arr;
}

void api_permissions(struct req *q)
{
	reply_list(q, perms(NULL, NULL));
}

void api_vhost_permissions(struct req *q)
{
	if (req_vhost(q, q->arg[0]))
		reply_list(q, perms(q->arg[0], NULL));
}

void api_user_permissions(struct req *q)
{
	if (!access_user_find(q->arg[0]))
		reply_not_found(q);
	else
		reply_list(q, perms(NULL, q->arg[0]));
}

void api_permission(struct req *q)
{
	const struct perm *p = access_perm_find(q->arg[1], q->arg[0]);
	if (!p)
		reply_not_found(q);
	else
		reply_object(q, perm_json(p));
}

/* A pattern that does not compile: 400 ["invalid_regexp", pattern,
 * why], as RabbitMQ's. */
static bool patterns_ok(struct req *q, const char *const *keys)
{
	for (size_t i = 0; keys[i]; i++) {
		const char *p = json_string_value(json_object_get(q->body, keys[i]));
		char err[256];
		struct regex *re = p ? regex_compile(p, keys[i], err, sizeof err) : NULL;
		if (p && !re) {
			reply_error_json(q, 400, NULL,
					 json_pack("[s, s, s]", "invalid_regexp", p, err));
			return false;
		}
		regex_free(re);
	}
	return true;
}

void api_permission_put(struct req *q)
{
	static const char *const keys[] = {"configure", "write", "read", NULL};
	if (!body_object(q) || !body_has(q, keys))
		return;
	if (!vhost_find(bytes_of(q->arg[0])) || !access_user_find(q->arg[1])) {
		reply_error(q, 400, "vhost_or_user_not_found");
		return;
	}
	if (!patterns_ok(q, keys))
		return;
	json_t *o = json_deep_copy(q->body);
	json_object_set_new(o, "vhost", json_string(q->arg[0]));
	json_object_set_new(o, "user", json_string(q->arg[1]));
	put(q, "permissions", o, access_perm_find(q->arg[1], q->arg[0]) != NULL);
}

void api_permission_delete(struct req *q)
{
	if (!access_perm_find(q->arg[1], q->arg[0])) {
		reply_not_found(q);
		return;
	}
	removed(q, "permissions", json_pack("{s:s, s:s}", "user", q->arg[1], "vhost", q->arg[0]));
}

/* ---- topic permissions ---- */

static json_t *topics(const char *vhost, const char *user)
{
	json_t *arr = json_array();
	const struct topic_perm *t;
	for (size_t i = 0; (t = access_topic_next(&i));)
		if ((!vhost || !strcmp(t->vhost, vhost)) && (!user || !strcmp(t->user, user)))
			json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s, s:s}", "user",
							     t->user, "vhost", t->vhost,
							     "exchange", t->exchange, "write",
							     t->write, "read", t->read));
	return arr;
}

void api_topic_permissions(struct req *q)
{
	reply_list(q, topics(NULL, NULL));
}

void api_vhost_topic_permissions(struct req *q)
{
	if (req_vhost(q, q->arg[0]))
		reply_list(q, topics(q->arg[0], NULL));
}

void api_user_topic_permissions(struct req *q)
{
	if (!access_user_find(q->arg[0]))
		reply_not_found(q);
	else
		reply_list(q, topics(NULL, q->arg[0]));
}

void api_topic_permission(struct req *q)
{
	json_t *arr = topics(q->arg[0], q->arg[1]);
	if (!json_array_size(arr)) {
		json_decref(arr);
		reply_not_found(q);
	} else {
		reply_json(q, 200, arr);
	}
}

void api_topic_permission_put(struct req *q)
{
	static const char *const keys[] = {"exchange", "write", "read", NULL};
	if (!body_object(q) || !body_has(q, keys))
		return;
	if (!vhost_find(bytes_of(q->arg[0])) || !access_user_find(q->arg[1])) {
		reply_error(q, 400, "vhost_or_user_not_found");
		return;
	}
	if (!patterns_ok(q, keys + 1))
		return;
	/* 204 when the user already has topic permissions on that exchange. */
	bool existed = false;
	const char *x = json_string_value(json_object_get(q->body, "exchange"));
	const struct topic_perm *t;
	for (size_t i = 0; x && (t = access_topic_next(&i));)
		existed |= !strcmp(t->vhost, q->arg[0]) && !strcmp(t->user, q->arg[1]) &&
			   !strcmp(t->exchange, x);
	json_t *o = json_deep_copy(q->body);
	json_object_set_new(o, "vhost", json_string(q->arg[0]));
	json_object_set_new(o, "user", json_string(q->arg[1]));
	put(q, "topic_permissions", o, existed);
}

void api_topic_permission_delete(struct req *q)
{
	const char *x = query(q, "exchange");
	json_t *arr = topics(q->arg[0], q->arg[1]);
	size_t n = json_array_size(arr), i;
	json_t *t;
	if (!n) {
		json_decref(arr);
		reply_not_found(q);
		return;
	}
	char err[256];
	json_array_foreach(arr, i, t)
		if (!x || !strcmp(json_string_value(json_object_get(t, "exchange")), x))
			definitions_remove("topic_permissions", t, err, sizeof err);
	json_decref(arr);
	reply_status(q, 204);
}

/* ---- users ---- */

static json_t *user_json(const struct user *u)
{
	json_t *tags = json_array();
	for (size_t i = 0; i < u->ntags; i++)
		json_array_append_new(tags, json_string(u->tags[i]));
	char *hash = access_user_hash_b64(u);
	json_t *limits = json_object();
	if (u->max_connections >= 0)
		json_object_set_new(limits, "max-connections", json_integer(u->max_connections));
	if (u->max_channels >= 0)
		json_object_set_new(limits, "max-channels", json_integer(u->max_channels));
	json_t *o = json_pack("{s:s, s:s, s:s, s:o, s:o}", "name", u->name, "password_hash", hash,
			      "hashing_algorithm", access_hash_name(u->alg), "tags", tags, "limits",
			      limits);
	free(hash);
	return o;
}

void api_users(struct req *q)
{
	json_t *arr = json_array();
	struct user *u;
	for (size_t i = 0; (u = access_user_next(&i));)
		json_array_append_new(arr, user_json(u));
	reply_list(q, arr);
}

void api_users_without_permissions(struct req *q)
{
	json_t *arr = json_array();
	struct user *u;
	for (size_t i = 0; (u = access_user_next(&i));) {
		bool any = false;
		const struct perm *p;
		for (size_t j = 0; !any && (p = access_perm_next(&j));)
			any = !strcmp(p->user, u->name);
		if (!any)
			json_array_append_new(arr, user_json(u));
	}
	reply_list(q, arr);
}

void api_users_bulk_delete(struct req *q)
{
	static const char *const keys[] = {"users", NULL};
	if (!body_object(q) || !body_has(q, keys))
		return;
	json_t *names = json_object_get(q->body, "users"), *n;
	size_t i;
	if (!json_is_array(names)) {
		reply_bad_value(q, "not_list", json_incref(names));
		return;
	}
	json_array_foreach(names, i, n)
		if (!json_is_string(n) || !access_user_find(json_string_value(n))) {
			reply_bad_value(q, "no_such_user", json_incref(n));
			return;
		}
	json_array_foreach(names, i, n)
		definitions_delete_user(json_string_value(n));
	reply_status(q, 204);
}

static bool base64_ok(const char *s)
{
	size_t n = strlen(s);
	return n % 4 == 0 &&
	       strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/") +
			       (n && s[n - 1] == '=') + (n > 1 && s[n - 2] == '=') ==
		       n;
}

void api_user(struct req *q)
{
	struct user *u = access_user_find(q->arg[0]);
	if (!u)
		reply_not_found(q);
	else
		reply_object(q, user_json(u));
}

void api_user_put(struct req *q)
{
	if (!body_object(q))
		return;
	struct user *u = access_user_find(q->arg[0]);
	if (!json_object_get(q->body, "tags")) {
		reply_error(q, 400, "tags_not_present");
		return;
	}
	json_t *hash = json_object_get(q->body, "password_hash");
	if (json_is_string(hash) && !base64_ok(json_string_value(hash))) {
		reply_bad_value(q, "not_base64", json_incref(hash));
		return;
	}
	json_t *o = json_deep_copy(q->body);
	json_object_set_new(o, "name", json_string(q->arg[0]));
	/* Neither a password nor a hash: RabbitMQ clears an existing user's
	 * password and gives a new user one nobody knows. */
	if (!json_object_get(o, "password") && !hash) {
		unsigned char rnd[24];
		char hex[49];
		if (!u && RAND_bytes(rnd, sizeof rnd) == 1) {
			for (size_t i = 0; i < sizeof rnd; i++)
				snprintf(hex + 2 * i, 3, "%02x", rnd[i]);
			json_object_set_new(o, "password", json_string(hex));
		} else {
			json_object_set_new(o, "password_hash", json_string(""));
		}
	}
	if (u && !json_object_get(o, "limits")) { /* the API's PUT leaves limits alone */
		json_t *have = user_json(u);
		json_object_set(o, "limits", json_object_get(have, "limits"));
		json_decref(have);
	}
	put(q, "users", o, u != NULL);
}

void api_user_delete(struct req *q)
{
	if (definitions_delete_user(q->arg[0]) < 0)
		reply_not_found(q);
	else
		reply_status(q, 204);
}

/* ---- limits ---- */

static json_t *user_limits_json(const struct user *u)
{
	json_t *o = user_json(u), *v = json_incref(json_object_get(o, "limits"));
	json_decref(o);
	return json_pack("{s:s, s:o}", "user", u->name, "value", v);
}

void api_user_limits(struct req *q)
{
	if (q->narg && !access_user_find(q->arg[0])) {
		reply_not_found(q);
		return;
	}
	json_t *arr = json_array();
	struct user *u;
	for (size_t i = 0; (u = access_user_next(&i));)
		if ((!q->narg || !strcmp(u->name, q->arg[0])) &&
		    (u->max_connections >= 0 || u->max_channels >= 0))
			json_array_append_new(arr, user_limits_json(u));
	reply_list(q, arr);
}

/* Sets (value >= 0) or clears one of a user's limits by putting the user
 * back with it. */
static void set_user_limit(struct req *q, const char *name, json_int_t value)
{
	struct user *u = access_user_find(q->arg[0]);
	if (!u) {
		reply_not_found(q);
		return;
	}
	if (strcmp(name, "max-connections") && strcmp(name, "max-channels")) {
		reply_error(q, 400, "unknown user limit '%s' (max-connections, max-channels)", name);
		return;
	}
	json_t *o = user_json(u), *limits = json_object_get(o, "limits");
	if (value < 0)
		json_object_del(limits, name);
	else
		json_object_set_new(limits, name, json_integer(value));
	put(q, "users", o, true);
}

/* The body's {"value": N} of a limit named name: 400 with the
 * key_missing reason, or "NAME should be a number". */
static bool limit_value(struct req *q, const char *name, json_int_t *v)
{
	static const char *const keys[] = {"value", NULL};
	if (!body_object(q) || !body_has(q, keys))
		return false;
	json_t *j = json_object_get(q->body, "value");
	if (!json_is_integer(j)) {
		char *text = json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT);
		reply_error(q, 400, "%s should be a number, actually was %s", name, text);
		free(text);
		return false;
	}
	*v = json_integer_value(j);
	return true;
}

void api_user_limit_put(struct req *q)
{
	json_int_t v;
	if (!access_user_find(q->arg[0]))
		reply_bad_value(q, "no_such_user", json_string(q->arg[0]));
	else if (limit_value(q, q->arg[1], &v))
		set_user_limit(q, q->arg[1], v);
}

void api_user_limit_delete(struct req *q)
{
	set_user_limit(q, q->arg[1], -1);
}

static json_t *vhost_limits_value(const struct vhost *vh)
{
	json_t *v = json_object();
	if (vh->max_connections >= 0)
		json_object_set_new(v, "max-connections", json_integer(vh->max_connections));
	if (vh->max_queues >= 0)
		json_object_set_new(v, "max-queues", json_integer(vh->max_queues));
	return v;
}

void api_vhost_limits(struct req *q)
{
	if (q->narg && !req_vhost(q, q->arg[0]))
		return;
	json_t *arr = json_array();
	struct vhost *vh;
	for (size_t i = 0; (vh = vhost_next(&i));) {
		if ((q->narg && strcmp(vh->name, q->arg[0])) || !user_sees_vhost(q->user, vh->name) ||
		    (vh->max_connections < 0 && vh->max_queues < 0))
			continue;
		json_array_append_new(arr, json_pack("{s:s, s:o}", "vhost", vh->name, "value",
						     vhost_limits_value(vh)));
	}
	reply_list(q, arr);
}

/* The vhost-limits parameter with one limit set or cleared. */
static void set_vhost_limit(struct req *q, json_int_t value)
{
	struct vhost *vh = req_vhost(q, q->arg[0]);
	if (!vh)
		return;
	const char *name = q->arg[1];
	if (strcmp(name, "max-connections") && strcmp(name, "max-queues")) {
		reply_error(q, 400, "unknown vhost limit '%s' (max-connections, max-queues)", name);
		return;
	}
	json_t *v = vhost_limits_value(vh);
	if (value < 0)
		json_object_del(v, name);
	else
		json_object_set_new(v, name, json_integer(value));
	put(q, "parameters",
	    json_pack("{s:s, s:s, s:s, s:o}", "vhost", vh->name, "component", "vhost-limits",
		      "name", "limits", "value", v),
	    true); /* RabbitMQ answers 204 whether the limit is new or not */
}

void api_vhost_limit_put(struct req *q)
{
	json_int_t v;
	if (req_vhost_put(q, q->arg[0]) && limit_value(q, q->arg[1], &v))
		set_vhost_limit(q, v);
}

void api_vhost_limit_delete(struct req *q)
{
	set_vhost_limit(q, -1);
}
