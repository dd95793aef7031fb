/* api_policies.c — policies, operator policies and definitions in
 * RabbitMQ's API shapes, through definitions.h like a definitions file:
 * PUT /api/policies/{vhost}/{name} is the policy object of an import,
 * GET /api/definitions is definitions_export(), POST imports. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/model/definitions.h"
#include "broker/core/log.h"
#include "broker/model/policy.h"
#include "plugins/management/api.h"

static bool operator_path(struct req *q)
{
	const char *uri = evhttp_request_get_uri(q->r);
	return strstr(uri, "/api/operator-policies") == uri;
}

static json_t *policy_json(const struct policy *p)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:o, s:I}", "vhost", p->vhost, "name", p->name,
			 "pattern", p->pattern, "apply-to", policy_apply_name(p->apply_to),
			 "definition", json_loads(p->definition, 0, NULL), "priority",
			 (json_int_t)p->priority);
}

void api_policies(struct req *q)
{
	if (q->narg && !req_vhost(q, q->arg[0]))
		return;
	bool op = operator_path(q);
	json_t *arr = json_array();
	const struct policy *p;
	for (size_t i = 0; (p = policy_next(&i));)
		if (p->op == op && (!q->narg || !strcmp(p->vhost, q->arg[0])) &&
		    user_sees_vhost(q->user, p->vhost))
			json_array_append_new(arr, policy_json(p));
	reply_list(q, arr);
}

void api_policy(struct req *q)
{
	const struct policy *p = policy_find(q->arg[0], q->arg[1], operator_path(q));
	if (!p || !user_sees_vhost(q->user, p->vhost))
		reply_not_found(q);
	else
		reply_object(q, policy_json(p));
}

void api_policy_put(struct req *q)
{
	static const char *const keys[] = {"pattern", "definition", NULL};
	if (!req_vhost_put(q, q->arg[0]) || !body_object(q) || !body_has(q, keys))
		return;
	bool op = operator_path(q);
	bool existed = policy_find(q->arg[0], q->arg[1], op) != NULL;
	json_t *o = json_deep_copy(q->body);
	json_object_set_new(o, "vhost", json_string(q->arg[0]));
	json_object_set_new(o, "name", json_string(q->arg[1]));
	body_number_field(o, "priority");
	char err[1024];
	if (definitions_put(op ? "operator_policies" : "policies", o, err, sizeof err) < 0)
		reply_error(q, 400, "%s", err);
	else
		reply_status(q, existed ? 204 : 201);
	json_decref(o);
}

void api_policy_delete(struct req *q)
{
	bool op = operator_path(q);
	if (!policy_find(q->arg[0], q->arg[1], op)) {
		reply_not_found(q);
		return;
	}
	json_t *id = json_pack("{s:s, s:s}", "vhost", q->arg[0], "name", q->arg[1]);
	char err[256];
	definitions_remove(op ? "operator_policies" : "policies", id, err, sizeof err);
	json_decref(id);
	reply_status(q, 204);
}

/* One vhost's part of an export: its queues, exchanges and bindings
 * without the "vhost" field, its policies and parameters with it
 * (RabbitMQ's shape); no users, vhosts or permissions. */
static json_t *only_vhost(json_t *all, const char *vhost)
{
	static const char *const keys[] = {"queues", "exchanges", "bindings", "policies",
					   "parameters"};
	json_t *doc = json_pack("{s:O}", "rabbit_version", json_object_get(all, "rabbit_version"));
	for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
		json_t *arr = json_array(), *o;
		size_t i;
		json_array_foreach(json_object_get(all, keys[k]), i, o)
		{
			if (strcmp(json_string_value(json_object_get(o, "vhost")), vhost))
				continue;
			json_t *c = json_deep_copy(o);
			if (k < 3)
				json_object_del(c, "vhost");
			json_array_append_new(arr, c);
		}
		json_object_set_new(doc, keys[k], arr);
	}
	json_decref(all);
	return doc;
}

void api_definitions(struct req *q)
{
	json_t *doc;
	if (q->narg) {
		if (!vhost_find(bytes_of(q->arg[0]))) { /* sic: 400 here, 404 for an import */
			reply_error(q, 400, "vhost_not_found");
			return;
		}
		if (!req_vhost(q, q->arg[0]))
			return;
		doc = only_vhost(definitions_export(), q->arg[0]);
	} else {
		doc = definitions_export();
	}
	/* ?download=NAME: the page's "download" link saves it as a file. */
	const char *name = query(q, "download");
	if (name && *name && !strpbrk(name, "\"\r\n")) {
		char h[300];
		snprintf(h, sizeof h, "attachment; filename=%s", name);
		evhttp_add_header(evhttp_request_get_output_headers(q->r), "Content-Disposition", h);
	}
	reply_json(q, 200, doc);
}

/* What a vhost's document may carry (RabbitMQ's POST
 * /api/definitions/{vhost}); those objects get that vhost. */
static const char *const vhost_keys[] = {"queues", "exchanges", "bindings", "policies",
					 "parameters", NULL};

static json_t *into_vhost(json_t *doc, const char *vhost)
{
	json_t *out = json_object();
	for (size_t k = 0; vhost_keys[k]; k++) {
		json_t *arr = json_object_get(doc, vhost_keys[k]);
		size_t i;
		json_t *o;
		if (!arr)
			continue;
		json_array_foreach(arr, i, o)
			if (json_is_object(o))
				json_object_set_new(o, "vhost", json_string(vhost));
		json_object_set(out, vhost_keys[k], arr);
	}
	return out;
}

/* RabbitMQ refuses objects in vhosts that neither exist nor come in the
 * document: 400 ["no_such_vhost", name] ("undefined" when absent). */
static bool vhosts_known(struct req *q, json_t *doc)
{
	for (size_t k = 0; vhost_keys[k]; k++) {
		size_t i;
		json_t *o;
		json_array_foreach(json_object_get(doc, vhost_keys[k]), i, o)
		{
			const char *vh = json_string_value(json_object_get(o, "vhost"));
			bool listed = false;
			size_t j;
			json_t *v;
			json_array_foreach(json_object_get(doc, "vhosts"), j, v)
			{
				const char *name = json_string_value(json_object_get(v, "name"));
				listed |= vh && name && !strcmp(vh, name);
			}
			if (!listed && (!vh || !vhost_find(bytes_of(vh)))) {
				reply_bad_value(q, "no_such_vhost", json_string(vh ? vh : "undefined"));
				return false;
			}
		}
	}
	return true;
}

void api_definitions_post(struct req *q)
{
	if (q->body_error) {
		reply_error(q, 400, "failed_to_parse_json");
		return;
	}
	json_t *doc;
	if (q->narg) {
		if (!req_vhost_put(q, q->arg[0]))
			return;
		doc = q->body ? into_vhost(q->body, q->arg[0]) : json_object();
	} else {
		doc = q->body ? json_incref(q->body) : json_object();
	}
	struct defs_opts o = {0};
	struct defs_report r = {0};
	char err[1024];
	if (!vhosts_known(q, doc)) {
		/* replied */
	} else if (definitions_import(doc, "definitions", &o, &r, err, sizeof err) < 0) {
		reply_error(q, 400, "%s", err);
	} else {
		for (size_t i = 0; i < r.n; i++)
			log_info("api: definitions: %s", r.lines[i]);
		reply_status(q, 204);
	}
	json_decref(doc);
	defs_report_free(&r);
}
