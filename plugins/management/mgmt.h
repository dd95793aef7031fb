/* mgmt.h — the management plugin's inside: one request as the handlers
 * see it, the reply helpers, and the route table (routes.c) that maps
 * RabbitMQ's management API paths to handlers (api_*.c). Handlers call
 * the same broker functions as the AMQP handlers (broker/ops.h,
 * broker/definitions.h, ...): the plugin decodes and encodes, nothing
 * more. */
#ifndef TERN_PLUGINS_MANAGEMENT_MGMT_H
#define TERN_PLUGINS_MANAGEMENT_MGMT_H

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <stdbool.h>

#include "broker/access.h"
#include "broker/ops.h"

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
	json_t *body; /* the parsed JSON body, or NULL */
	struct evkeyvalq query;
	bool answered;
};

typedef void (*handler_fn)(struct req *q);

/* Replies: a JSON value (stolen), an empty body with a status, or
 * RabbitMQ's error object {"error": ..., "reason": ...}. */
void reply_json(struct req *q, int status, json_t *v);
void reply_status(struct req *q, int status);
void reply_error(struct req *q, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* An AMQP-style error from ops.h as HTTP: 404 for NOT_FOUND, 403 for
 * ACCESS_REFUSED, 405 for RESOURCE_LOCKED, 400 otherwise. */
void reply_op_error(struct req *q, const struct op_err *e);

/* A query parameter, or NULL. */
const char *query(struct req *q, const char *name);

/* The vhost an argument names (404 "Not Found" replied when missing, or
 * when the user may not see it). */
struct vhost *req_vhost(struct req *q, const char *name);
/* True when the user may see the vhost (tags or permissions). */
bool user_sees_vhost(const struct user *u, const char *vhost);
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

/* The body must be a JSON object: false with 400 replied otherwise. */
bool body_object(struct req *q);
/* Fields as RabbitMQ reads them: rabbitmqadmin sends booleans and
 * numbers as strings ("true", "1"), so both forms are taken. Each
 * returns false with 400 replied for a wrong type; an absent field gives
 * def. */
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
