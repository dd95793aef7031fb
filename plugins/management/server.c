/* server.c — the management plugin: an evhttp server on the broker's own
 * event loop (management.tcp.ip:management.tcp.port, and HTTPS on
 * management.ssl.ip:management.ssl.port with OpenSSL bufferevents and
 * the broker's TLS context builder, tls.h), HTTP basic auth
 * against Tern's users, the route table, the page's embedded files, and
 * the replies. RabbitMQ's management API is the reference for paths,
 * status codes and error bodies ({"error": ..., "reason": ...}).
 *
 * Design notes. A request is handled to the end in its callback: the
 * broker is single-threaded, so the API sees the same state as the next
 * AMQP frame. Bodies are limited by evhttp itself (413 before the body is
 * buffered past MAX_BODY). Paths are split on '/' first and each segment
 * percent-decoded after, so %2F stays inside a name; no path reaches the
 * file system (the page's files are compiled in). */
#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/ssl.h>
#include <sys/queue.h>
#include <openssl/evp.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/core/config.h"
#include "protocol/frame.h"
#include "broker/core/log.h"
#include "broker/model/definitions.h"
#include "broker/net/server.h"
#include "broker/net/tls.h"
#include "broker/core/stats.h"
#include "broker/queue/timer.h"
#include "plugins/management/api.h"
#include "plugins/tern_plugin.h"
#include "store/store.h"
#include "util/xalloc.h"

#define MAX_BODY (16 << 20)
#define MAX_URI 10000
#define MAX_HEADER_BYTES (64 << 10)
#define MAX_HEADERS (1 << 20) /* evhttp drops the connection past this */

static struct evhttp *http, *https;
static struct tls_ctx https_tls = {.prefix = "management.ssl", .opt = &cfg.management_ssl};

/* ---- replies ---- */

static void answer(struct req *q, int status, const char *type, struct evbuffer *body)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(q->r);
	if (type)
		evhttp_add_header(h, "Content-Type", type);
	evhttp_add_header(h, "Cache-Control", "no-cache");
	evhttp_send_reply(q->r, status, NULL, body);
	q->answered = true;
}

void reply_json(struct req *q, int status, json_t *v)
{
	struct evbuffer *b = evbuffer_new();
	char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	evbuffer_add(b, text, strlen(text));
	free(text);
	json_decref(v);
	answer(q, status, "application/json", b);
	evbuffer_free(b);
}

void reply_status(struct req *q, int status)
{
	answer(q, status, NULL, NULL);
}

static const char *error_name(int status)
{
	switch (status) {
	case 400: return "bad_request";
	case 401: return "not_authorised";
	case 403: return "not_authorised";
	case 404: return "not_found";
	case 405: return "Method Not Allowed";
	case 409: return "conflict";
	case 413: return "payload_too_large";
	case 503: return "service_unavailable";
	default: return "internal_server_error";
	}
}

void reply_error_json(struct req *q, int status, const char *error, json_t *reason)
{
	reply_json(q, status,
		   json_pack("{s:s, s:o}", "error", error ? error : error_name(status), "reason",
			     reason));
}

void reply_error(struct req *q, int status, const char *fmt, ...)
{
	char reason[600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof reason, fmt, ap);
	va_end(ap);
	reply_error_json(q, status, NULL, json_string(reason));
}

void reply_not_found(struct req *q)
{
	reply_error_json(q, 404, "Object Not Found", json_string("Not Found"));
}

void reply_op_error(struct req *q, const struct op_err *e)
{
	if (e->code == AMQP_NOT_FOUND)
		reply_error_json(q, 404, "not_found", json_string(e->text));
	else if (e->code == AMQP_ACCESS_REFUSED)
		reply_error_json(q, 401, "not_authorised", json_string("Access refused."));
	else
		reply_error(q, 400, "%s", e->text);
}

const char *query(struct req *q, const char *name)
{
	return evhttp_find_header(&q->query, name);
}

/* RabbitMQ's reasons for a body that is not a JSON object. */
static const char DOUBLY[] = "invalid payload: the request body JSON-decoded to a string. Is the "
			     "input doubly-JSON-encoded?";

bool body_optional(struct req *q)
{
	if (!q->body_error)
		return true;
	reply_error(q, 400, "%s", q->body_error);
	return false;
}

bool body_object(struct req *q)
{
	if (!body_optional(q))
		return false;
	if (!q->body)
		q->body = json_object(); /* an empty body is {} to RabbitMQ */
	return true;
}

/* ---- authentication ---- */

/* What the Authorization header gave (LOGIN_ERROR: the users could not
 * be read, a follower's store failing). */
enum login { LOGIN_NONE, LOGIN_MALFORMED, LOGIN_FAILED, LOGIN_ERROR, LOGIN_OK };

/* A cluster member that does not lead holds no users in memory (no
 * broker state at all): it checks a login against the user its store
 * holds, as replicated from the leader, into *stored. Read again for each
 * request, not cached: a follower's API is asked rarely (monitoring,
 * ternctl cluster status), a read is one scan of the user rows under the
 * apply thread's lock, and nothing can then be stale: a user deleted or
 * changed on the leader stops working here as soon as this node has
 * applied the entry. A cache would have to be checked against the
 * applied index read consistently with the rows, and dropped at
 * promotion. */
static enum login stored_login(struct bytes name, struct bytes pass, bool loopback,
			       struct user *stored, struct user **out)
{
	char err[300];
	int rc = definitions_stored_login(name, pass, loopback, stored, err, sizeof err);
	if (rc == -1) {
		log_error("management: %s", err);
		return LOGIN_ERROR;
	}
	if (rc != 1)
		return LOGIN_FAILED;
	*out = stored;
	return LOGIN_OK;
}

/* The user of "Authorization: Basic base64(user:password)". A header
 * that is not base64 of "user:password" is malformed (400, as RabbitMQ);
 * another scheme (Bearer) is a failed login. On a follower the user is
 * read from the store into *stored (stored_login), which the caller
 * releases. */
static enum login basic_auth(struct evhttp_request *r, struct user *stored, struct user **out)
{
	*out = NULL;
	const char *h = evhttp_find_header(evhttp_request_get_input_headers(r), "Authorization");
	if (!h)
		return LOGIN_NONE;
	if (strncasecmp(h, "Basic ", 6))
		return LOGIN_FAILED;
	h += 6;
	size_t n = strlen(h);
	if (n == 0 || n % 4 || n > 1024 || strspn(h, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
					       "0123456789+/=") != n)
		return LOGIN_MALFORMED;
	unsigned char raw[800];
	int len = EVP_DecodeBlock(raw, (const unsigned char *)h, (int)n);
	if (len < 0)
		return LOGIN_MALFORMED;
	len -= (h[n - 1] == '=') + (h[n - 2] == '=');
	unsigned char *colon = memchr(raw, ':', (size_t)len);
	if (!colon)
		return LOGIN_MALFORMED;
	struct bytes name = {raw, (uint32_t)(colon - raw)};
	struct bytes pass = {colon + 1, (uint32_t)(len - (colon + 1 - raw))};
	char *host;
	ev_uint16_t port;
	evhttp_connection_get_peer(evhttp_request_get_connection(r), &host, &port);
	bool loopback = !strncmp(host, "127.", 4) || !strcmp(host, "::1") ||
			!strncmp(host, "::ffff:127.", 11);
	if (store_role(NULL) != STORE_HERE)
		return stored_login(name, pass, loopback, stored, out);
	*out = access_login(name, pass, loopback);
	return *out ? LOGIN_OK : LOGIN_FAILED;
}

bool user_is(const struct user *u, enum need need)
{
	bool admin = access_user_has_tag(u, "administrator");
	switch (need) {
	case NEED_NONE: return true;
	case NEED_ADMIN: return admin;
	case NEED_POLICYMAKER: return admin || access_user_has_tag(u, "policymaker");
	case NEED_MONITORING: return admin || access_user_has_tag(u, "monitoring");
	case NEED_MANAGEMENT:
		return admin || access_user_has_tag(u, "monitoring") ||
		       access_user_has_tag(u, "policymaker") || access_user_has_tag(u, "management");
	}
	return false;
}

bool user_sees_vhost(const struct user *u, const char *vhost)
{
	return user_is(u, NEED_MONITORING) || access_perm_find(u->name, vhost) != NULL;
}

struct vhost *list_vhost(struct req *q, struct vhost *only, size_t *i)
{
	if (only)
		return (*i)++ ? NULL : only;
	struct vhost *vh;
	while ((vh = vhost_next(i)) && !user_sees_vhost(q->user, vh->name))
		;
	return vh;
}

struct vhost *req_vhost(struct req *q, const char *name)
{
	struct vhost *vh = vhost_find(bytes_of(name));
	if (!vh)
		reply_not_found(q);
	else if (!user_sees_vhost(q->user, name))
		reply_error_json(q, 401, "not_authorised",
				 json_string("User not authorised to access virtual host"));
	else
		return vh;
	return NULL;
}

struct vhost *req_vhost_put(struct req *q, const char *name)
{
	if (!vhost_find(bytes_of(name))) {
		reply_error_json(q, 404, "not_found", json_string("vhost_not_found"));
		return NULL;
	}
	return req_vhost(q, name);
}

struct actor req_actor(struct req *q)
{
	return (struct actor){q->user->name, NULL};
}

/* ---- routing ---- */

/* Splits path (after "/api/") into percent-decoded segments. Returns
 * their number, -1 when a segment does not decode to a name, -2 for a
 * '%' not followed by two hex digits. */
static int split(const char *path, char **seg, int max)
{
	int n = 0;
	const char *p = path;
	while (*p) {
		const char *end = strchr(p, '/');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (n == max)
			return -1;
		for (size_t i = 0; i < len; i++)
			if (p[i] == '%' && !(i + 2 < len && isxdigit((unsigned char)p[i + 1]) &&
					     isxdigit((unsigned char)p[i + 2])))
				goto bad_escape;
		char *raw = xstrndup(p, len);
		size_t out;
		seg[n] = evhttp_uridecode(raw, 0, &out);
		free(raw);
		if (!seg[n] || strlen(seg[n]) != out) { /* an encoded NUL */
			free(seg[n]);
			return -1;
		}
		n++;
		p += len + (end != NULL);
		if (end && !*p) /* a trailing slash: "/api/queues/" */
			break;
	}
	return n;
bad_escape: /* "%ZZ": 400, as RabbitMQ's HTTP server */
	for (int i = 0; i < n; i++)
		free(seg[i]);
	return -2;
}

/* Matches segments against a pattern ("queues/:vhost/:name"); fills the
 * captures. */
static bool match(const char *pattern, char **seg, int nseg, struct req *q)
{
	int i = 0;
	q->narg = 0;
	for (const char *p = pattern; *p; i++) {
		const char *end = strchr(p, '/');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (i >= nseg)
			return false;
		if (*p == ':') {
			if (q->narg == MAX_ARGS)
				return false;
			q->arg[q->narg++] = seg[i];
		} else if (strlen(seg[i]) != len || memcmp(seg[i], p, len)) {
			return false;
		}
		p += len + (end != NULL);
	}
	return i == nseg;
}

/* HEAD is answered as GET (evhttp sends no body for it). */
static int method_of(struct evhttp_request *r)
{
	int m = (int)evhttp_request_get_command(r);
	return m == EVHTTP_REQ_HEAD ? EVHTTP_REQ_GET : m;
}

/* The page: "/", "/index.html" and the files beside it. */
static bool serve_file(struct evhttp_request *r, const char *path)
{
	if (!strcmp(path, "/"))
		path = "/index.html";
	for (size_t i = 0; i < www_nfiles; i++) {
		if (strcmp(path + 1, www_files[i].path))
			continue;
		struct evbuffer *b = evbuffer_new();
		evbuffer_add_reference(b, www_files[i].data, www_files[i].len, NULL, NULL);
		struct evkeyvalq *h = evhttp_request_get_output_headers(r);
		evhttp_add_header(h, "Content-Type", www_files[i].type);
		evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
		evhttp_send_reply(r, 200, "OK", b);
		evbuffer_free(b);
		return true;
	}
	return false;
}

/* A 401 as RabbitMQ gives it: the challenge only for a failed login,
 * an empty body when no credentials came. */
static void unauthorised(struct req *q, enum login how)
{
	/* No challenge for the page's own requests (X-Requested-With), or
	 * browsers open their password prompt over its login form. */
	if (how != LOGIN_OK &&
	    !evhttp_find_header(evhttp_request_get_input_headers(q->r), "X-Requested-With"))
		evhttp_add_header(evhttp_request_get_output_headers(q->r), "WWW-Authenticate",
				  "Basic realm=\"RabbitMQ Management\"");
	if (how == LOGIN_NONE)
		reply_status(q, 401);
	else if (how == LOGIN_FAILED)
		reply_error_json(q, 401, "not_authorized", json_string("Login failed"));
	else
		reply_error_json(q, 401, "not_authorised", json_string("Not management user"));
}

/* RabbitMQ's reason when a user lacks the tag a route needs. */
static const char *refusal(enum need need)
{
	switch (need) {
	case NEED_MONITORING: return "Not monitor user";
	case NEED_POLICYMAKER: return "User not authorised to access object";
	default: return "Not administrator user";
	}
}

/* The Allow header of a 405: the methods the path's routes take. */
static void allow_header(struct req *q, int methods)
{
	static const struct {
		int m;
		const char *name;
	} names[] = {{EVHTTP_REQ_GET, "GET, HEAD"}, {EVHTTP_REQ_PUT, "PUT"},
		     {EVHTTP_REQ_POST, "POST"}, {EVHTTP_REQ_DELETE, "DELETE"}};
	char allow[64] = "";
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (methods & names[i].m)
			snprintf(allow + strlen(allow), sizeof allow - strlen(allow), "%s%s",
				 *allow ? ", " : "", names[i].name);
	snprintf(allow + strlen(allow), sizeof allow - strlen(allow), ", OPTIONS");
	evhttp_add_header(evhttp_request_get_output_headers(q->r), "Allow", allow);
}

/* A cluster member that does not lead holds no broker state: once the
 * login and the route's tags are checked as the leader checks them, its
 * GET routes answer (the empty state, and /api/nodes), every other
 * method is 405 naming the leader. */
static void follower_request(struct req *q, const struct route *found, const char *leader)
{
	int m = method_of(q->r);
	if (m == EVHTTP_REQ_GET || m == EVHTTP_REQ_HEAD) {
		found->fn(q);
		return;
	}
	char why[160];
	if (leader)
		snprintf(why, sizeof why, "NOT_LEADER - this node is a follower (read-only); the "
			 "leader is %s (AMQP)", leader);
	else
		snprintf(why, sizeof why, "NOT_LEADER - this node is read-only; no leader elected yet");
	allow_header(q, EVHTTP_REQ_GET);
	reply_error_json(q, 405, "not_leader", json_string(why));
}

static void dispatch(struct req *q, const char *path)
{
	char *seg[16];
	int nseg = split(path, seg, 16);
	if (nseg == -2) {
		reply_error(q, 400, "bad percent-encoding in the path");
		return;
	}
	if (nseg < 0) {
		reply_not_found(q);
		return;
	}
	const struct route *found = NULL;
	int other_methods = 0;
	for (size_t i = 0; i < mgmt_nroutes && !found; i++) {
		if (!match(mgmt_routes[i].pattern, seg, nseg, q))
			continue;
		if (mgmt_routes[i].methods & method_of(q->r))
			found = &mgmt_routes[i];
		else
			other_methods |= mgmt_routes[i].methods;
	}
	enum login how;
	const char *leader;
	enum store_role role = store_role(&leader);
	struct user stored = {0}; /* a follower's user, read from its store */
	if (!found) {
		if (other_methods) { /* OPTIONS: 200 with the methods, as RabbitMQ */
			allow_header(q, other_methods);
			reply_status(q, method_of(q->r) == EVHTTP_REQ_OPTIONS ? 200 : 405);
		} else {
			reply_not_found(q);
		}
	} else if ((how = basic_auth(q->r, &stored, &q->user)) == LOGIN_MALFORMED) {
		reply_status(q, 400);
	} else if (how == LOGIN_ERROR) {
		reply_error(q, 503, "cannot read the users from this node's store");
	} else if (how != LOGIN_OK || !user_is(q->user, NEED_MANAGEMENT)) {
		unauthorised(q, how);
	} else if (!user_is(q->user, found->need)) {
		reply_error_json(q, 401, "not_authorised", json_string(refusal(found->need)));
	} else if (role != STORE_HERE) {
		follower_request(q, found, leader);
	} else {
		found->fn(q);
		server_defer(); /* what the call changed commits at the end of the turn */
	}
	access_user_release(&stored);
	for (int i = 0; i < nseg; i++)
		free(seg[i]);
}

/* RabbitMQ's HTTP server refuses a request line over 10,000 bytes (414)
 * and headers over 64 KiB (431); evhttp's own cap (MAX_HEADERS) is
 * higher, so these are answered here. */
static bool too_big(struct evhttp_request *r)
{
	size_t total = 0;
	struct evkeyval *h;
	TAILQ_FOREACH(h, evhttp_request_get_input_headers(r), next)
		total += strlen(h->key) + strlen(h->value) + 4;
	int status = strlen(evhttp_request_get_uri(r)) > MAX_URI ? 414
		     : total > MAX_HEADER_BYTES			  ? 431
									  : 0;
	if (status) {
		evhttp_add_header(evhttp_request_get_output_headers(r), "Connection", "close");
		evhttp_send_reply(r, status, status == 414 ? "URI Too Long"
							  : "Request Header Fields Too Large",
				  NULL);
	}
	return status != 0;
}

static void on_request(struct evhttp_request *r, void *arg)
{
	(void)arg;
	struct req q = {.r = r};
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(r);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	TAILQ_INIT(&q.query);
	if (too_big(r))
		return;
	if (!path) {
		reply_error(&q, 400, "bad request line");
		return;
	}
	if (metrics_serve(r, path))
		return; /* Prometheus scrapes need no login, as on RabbitMQ's 15692 */
	const char *qs = evhttp_uri_get_query(uri);
	if (qs && evhttp_parse_query_str(qs, &q.query) < 0) {
		reply_error(&q, 400, "bad query string");
		return;
	}
	if (strncmp(path, "/api/", 5) != 0) {
		if (!(method_of(r) & (EVHTTP_REQ_GET | EVHTTP_REQ_HEAD)) || !serve_file(r, path))
			reply_not_found(&q);
		evhttp_clear_headers(&q.query);
		return;
	}
	struct evbuffer *in = evhttp_request_get_input_buffer(r);
	size_t len = evbuffer_get_length(in);
	if (len) {
		json_error_t je;
		q.body = json_loadb((const char *)evbuffer_pullup(in, -1), len, JSON_DECODE_ANY, &je);
		if (json_is_string(q.body))
			q.body_error = DOUBLY;
		else if (!json_is_object(q.body))
			q.body_error = "not_json";
		if (q.body_error) {
			json_decref(q.body);
			q.body = NULL;
		}
	}
	dispatch(&q, path + 5);
	if (!q.answered)
		reply_error(&q, 500, "no reply");
	json_decref(q.body);
	evhttp_clear_headers(&q.query);
}

/* ---- the statistics timer ---- */

static void on_sample(void *obj, uint64_t when)
{
	(void)obj;
	if (!when)
		return; /* the timer heap is being freed */
	uint64_t now = now_ms();
	stats_sample_step(now);
	timer_add(now + STATS_STEP_MS, on_sample, NULL);
}

/* ---- the plugin ---- */

/* The HTTPS context is built here, before the store opens and any
 * listener is up, so a bad management.ssl.* file stops start-up first. */
static int mgmt_init(void)
{
	if (!*cfg.management_ssl.certfile)
		return 0;
	char err[512];
	if (tls_ctx_open(&https_tls, err, sizeof err) < 0) {
		log_error("management: %s", err);
		fprintf(stderr, "ternd: %s\n", err);
		return -1;
	}
	return 0;
}

/* An evhttp with the API's limits, methods and handler. */
static struct evhttp *http_new(void)
{
	struct evhttp *h = evhttp_new(server_base);
	evhttp_set_max_body_size(h, MAX_BODY);
	evhttp_set_max_headers_size(h, MAX_HEADERS);
	evhttp_set_allowed_methods(h, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT |
					      EVHTTP_REQ_POST | EVHTTP_REQ_DELETE | EVHTTP_REQ_PATCH |
					      EVHTTP_REQ_OPTIONS);
	evhttp_set_gencb(h, on_request, NULL);
	return h;
}

/* Each HTTPS connection: a TLS session with the current context (a
 * SIGHUP may have replaced it; sessions keep the one they began with). */
static struct bufferevent *https_bev(struct event_base *base, void *arg)
{
	(void)arg;
	SSL *ssl = SSL_new(https_tls.ctx);
	if (!ssl)
		abort(); /* only out of memory; NULL here would serve plaintext */
	struct bufferevent *bev = bufferevent_openssl_socket_new(base, -1, ssl,
								 BUFFEREVENT_SSL_ACCEPTING,
								 BEV_OPT_CLOSE_ON_FREE);
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}

static int listen_http(struct evhttp *h, const char *ip, int64_t port, const char *opts)
{
	if (!evhttp_bind_socket_with_handle(h, ip, (ev_uint16_t)port)) {
		log_error("management: cannot listen on %s:%lld (%s)", ip, (long long)port, opts);
		return -1;
	}
	return 0;
}

/* HTTPS, when management.ssl.certfile is set (mgmt_init built its
 * context). */
static int https_start(void)
{
	if (!https_tls.ctx)
		return 0;
	https = http_new();
	evhttp_set_bevcb(https, https_bev, NULL);
	if (listen_http(https, cfg.management_ssl_ip, cfg.management_ssl_port,
			"management.ssl.port, management.ssl.ip") < 0)
		return -1;
	log_info("management: https://%s:%lld/", cfg.management_ssl_ip,
		 (long long)cfg.management_ssl_port);
	return 0;
}

static int mgmt_start(void)
{
	overview_started();
	timer_add(now_ms() + STATS_STEP_MS, on_sample, NULL);
	if (metrics_listen() < 0)
		return -1;
	if (cfg.management_port) {
		http = http_new();
		if (listen_http(http, cfg.management_ip, cfg.management_port,
				"management.tcp.port, --management-port; 0 turns it off") < 0)
			return -1;
		log_info("management: http://%s:%lld/", cfg.management_ip,
			 (long long)cfg.management_port);
	}
	return https_start();
}

static void mgmt_stop(void)
{
	metrics_close();
	if (http)
		evhttp_free(http);
	if (https)
		evhttp_free(https);
	http = https = NULL;
	if (https_tls.ctx)
		tls_ctx_close(&https_tls);
}

const struct tern_plugin management_plugin = {TERN_PLUGIN_ABI, "management", mgmt_init,
					      mgmt_start, mgmt_stop};
