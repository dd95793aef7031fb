/* mgmt.h — the management plugin's inside: one request as the handlers
 * see it, the reply helpers, and the route table (routes.c) that maps
 * RabbitMQ's management API paths to handlers (api_*.c). Handlers call
 * the same broker functions as the AMQP handlers (broker/model/ops.h,
 * broker/model/definitions.h, ...): the plugin decodes and encodes, nothing
 * more. */
#ifndef TERN_PLUGINS_MANAGEMENT_MGMT_H
#define TERN_PLUGINS_MANAGEMENT_MGMT_H

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <stdbool.h>

#include "broker/model/access.h"
#include "broker/model/ops.h"

/* What a route needs of the user: RabbitMQ's management tags. */
enum need {
	NEED_MANAGEMENT, /* any of management, policymaker, monitoring, administrator */
	NEED_MONITORING, /* monitoring or administrator */
	NEED_POLICYMAKER, /* policymaker or administrator */
	NEED_ADMIN,
	NEED_NONE, /* no login: the page's files */
};

#define MAX_ARGS 8

/* One request, alive for the handler's call. */
struct req {
	struct evhttp_request *r;
	enum evhttp_cmd_type method;
	const char *arg[MAX_ARGS]; /* the route's captures, percent-decoded */
	int narg;
	struct user *user;
	json_t *body; /* the parsed JSON body (an object), or NULL */
	const char *body_error; /* RabbitMQ's reason when the body is not an object */
	struct evkeyvalq query;
	bool answered;
};

typedef void (*handler_fn)(struct req *q);

/* Replies: a JSON value (stolen), an empty body with a status, or
 * RabbitMQ's error object {"error": ..., "reason": ...}: reply_error's
 * error is RabbitMQ's name for the status ("bad_request", "not_found",
 * "not_authorised"); reply_error_json names it (NULL: the same default)
 * and takes any JSON reason (stolen), as RabbitMQ's are Erlang terms
 * turned JSON: ["not_boolean", "yes"]. */
void reply_json(struct req *q, int status, json_t *v);
void reply_status(struct req *q, int status);
void reply_error(struct req *q, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void reply_error_json(struct req *q, int status, const char *error, json_t *reason);
/* 404 {"error": "Object Not Found", "reason": "Not Found"}: no such path
 * or object. */
void reply_not_found(struct req *q);
/* 400 [what, value] (value stolen): ["not_boolean", 2]. */
void reply_bad_value(struct req *q, const char *what, json_t *value);
/* 400 "[{key_missing,a},{key_missing,b}]" for those of keys (NULL-ended)
 * the body lacks; body_has replies it and returns false when any is. */
void reply_key_missing(struct req *q, const char *const *keys);
bool body_has(struct req *q, const char *const *keys);
/* An error from ops.h as RabbitMQ's API gives it: 404 not_found with the
 * text, 401 "Access refused." for ACCESS_REFUSED, 400 otherwise. */
void reply_op_error(struct req *q, const struct op_err *e);
/* The same for Tern's own endpoints (/api/tern/): the AMQP code as the
 * status (404, 403 refused, 405 locked, else 400) with ops.h's text. */
void reply_op_error_tern(struct req *q, const struct op_err *e);
/* A single object (stolen) with 200, cut to ?columns= as lists are. */
void reply_object(struct req *q, json_t *o);

/* A query parameter, or NULL. */
const char *query(struct req *q, const char *name);

/* The vhost an argument names (404 Object Not Found replied when it is
 * missing, 401 when the user may not see it). */
struct vhost *req_vhost(struct req *q, const char *name);
/* The same for a PUT or POST into the vhost: RabbitMQ answers 404
 * {"error": "not_found", "reason": "vhost_not_found"} there. */
struct vhost *req_vhost_put(struct req *q, const char *name);
/* True when the user may see the vhost (tags or permissions). */
bool user_sees_vhost(const struct user *u, const char *vhost);
/* The vhosts a list covers: `only` (the path's) if given, else each one
 * the user sees. Start with *i = 0; NULL at the end. */
struct vhost *list_vhost(struct req *q, struct vhost *only, size_t *i);
bool user_is(const struct user *u, enum need need);

/* The actor for ops.h: the API user (administrators are checked like
 * anyone else: RabbitMQ checks permissions for API operations too). */
struct actor req_actor(struct req *q);

/* A list of objects answered as RabbitMQ does: a plain array, or with
 * page / page_size the paged object; name / use_regex filter, sort /
 * sort_reverse order, columns picks fields. Takes the array. */
void reply_list(struct req *q, json_t *items);
/* The same for n broker objects, built lazily: names filter (name(o)),
 * a page is cut, and only then are the page's objects built (build(o)),
 * so a page of 100 out of 10,000 queues costs 100 objects; sorting by a
 * field other than the name builds them all first. Takes objs. */
void reply_objects(struct req *q, void **objs, size_t n, json_t *(*build)(const void *o),
		   const char *(*name)(const void *o),
		   bool (*number)(const void *o, const char *field, double *out));
/* number (may be NULL): a field's value read from the object itself, so
 * sorting by it needs no objects built; false for fields it does not
 * know (those are sorted on built objects). */

/* The body must be a JSON object or empty (then {}): false with 400
 * replied otherwise ("not_json", or the doubly-encoded reason). */
bool body_object(struct req *q);
/* The same, leaving q->body NULL for an empty body. */
bool body_optional(struct req *q);
/* Fields as RabbitMQ reads them: rabbitmqadmin sends booleans and
 * numbers as strings ("true", "1"), so both forms are taken. Each
 * returns false with 400 replied for a wrong type (["not_boolean", v]);
 * an absent field gives def. */
bool body_bool(struct req *q, const char *key, bool def, bool *out);
bool body_int(struct req *q, const char *key, json_int_t def, json_int_t *out);
/* Rewrites a string field holding a number as that number (for bodies
 * passed on to definitions). */
void body_number_field(json_t *o, const char *key);

/* The route table. */
struct route {
	int methods; /* EVHTTP_REQ_* mask */
	const char *pattern; /* "queues/:vhost/:name" below /api/ */
	handler_fn fn;
	enum need need;
};
extern const struct route mgmt_routes[];
extern const size_t mgmt_nroutes;

/* RabbitMQ's message_stats object of a stats block: each counter and
 * its "<name>_details": {"rate": r} (api_common.c). */
struct stats;
json_t *message_stats_json(const struct stats *s);
/* {"rate": r} */
json_t *rate_json(double r);

/* Prometheus metrics (metrics.c). metrics_serve answers GET and HEAD of
 * /metrics and /metrics/per-object, without login, and returns true;
 * for any other path it answers nothing and returns false.
 * metrics_listen opens the prometheus.tcp.port listener (none when 0):
 * 0, or -1 when it cannot bind (logged); metrics_close frees it. */
bool metrics_serve(struct evhttp_request *r, const char *path);
int metrics_listen(void);
void metrics_close(void);

/* Embedded page files (www.c, generated from www/). */
struct www_file {
	const char *path, *type;
	const unsigned char *data;
	size_t len;
};
extern const struct www_file www_files[];
extern const size_t www_nfiles;

#endif
