/* http.c — ternctl's HTTP client over libevent's evhttp (http.h).
 *
 * Each request asks for Connection: close and gets a fresh connection.
 * evhttp does not say why a connection failed (a refused connect reaches
 * the callback as a request without status, errno long overwritten), so on
 * a failure without an answer we connect once more with a plain socket to
 * learn the errno text, which is what the user needs to see. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/evp.h>

#include "tools/ternctl/http.h"
#include "util/xalloc.h"

struct http {
	struct event_base *base;
	struct evhttp_connection *conn;
	char *host;     /* for getaddrinfo: no brackets around IPv6 */
	char *host_hdr; /* Host: header value */
	int port;
	char *prefix;          /* path before /api, "" or "/prefix" */
	char *user, *password; /* from the URL, or NULL */
	char *display;         /* scheme://host:port/prefix */
	int timeout_s;
};

/* State of the request in flight, filled in by the callbacks. */
struct pending {
	struct http_reply *r;
	struct event_base *base;
	int error; /* enum evhttp_request_error + 1, 0 for none */
	bool done;
};

static char *decoded(const char *s, size_t n)
{
	char *raw = xstrndup(s, n);
	char *d = evhttp_uridecode(raw, 0, NULL);
	free(raw);
	if (!d)
		return xstrdup("");
	char *out = xstrdup(d);
	free(d);
	return out;
}

struct http *http_open(const char *url, int timeout_s, char *err, size_t errlen)
{
	struct evhttp_uri *u = evhttp_uri_parse(url);
	struct http *h = NULL;
	if (!u) {
		snprintf(err, errlen, "cannot parse URL '%s' (expected http://HOST:PORT)", url);
		return NULL;
	}
	const char *scheme = evhttp_uri_get_scheme(u);
	const char *host = evhttp_uri_get_host(u);
	if (scheme && strcmp(scheme, "https") == 0) {
		snprintf(err, errlen,
			 "URL '%s': only http:// is supported (use the plain "
			 "management listener, or a TLS proxy)",
			 url);
		goto fail;
	}
	if (!scheme || strcmp(scheme, "http") != 0) {
		snprintf(err, errlen, "URL '%s' is not http://HOST[:PORT]", url);
		goto fail;
	}
	if (!host || !*host) {
		snprintf(err, errlen, "URL '%s' has no host", url);
		goto fail;
	}
	h = xcalloc(1, sizeof *h);
	h->timeout_s = timeout_s;
	size_t hl = strlen(host);
	if (host[0] == '[' && hl > 2 && host[hl - 1] == ']')
		h->host = xstrndup(host + 1, hl - 2);
	else
		h->host = xstrdup(host);
	h->port = evhttp_uri_get_port(u);
	if (h->port < 0)
		h->port = 80;
	bool v6 = strchr(h->host, ':') != NULL;
	size_t n = strlen(h->host) + 16;
	h->host_hdr = xmalloc(n);
	snprintf(h->host_hdr, n, v6 ? "[%s]:%d" : "%s:%d", h->host, h->port);
	const char *path = evhttp_uri_get_path(u);
	size_t pl = path ? strlen(path) : 0;
	while (pl > 0 && path[pl - 1] == '/')
		pl--;
	h->prefix = xstrndup(path ? path : "", pl);
	const char *ui = evhttp_uri_get_userinfo(u);
	if (ui) {
		const char *colon = strchr(ui, ':');
		h->user = decoded(ui, colon ? (size_t)(colon - ui) : strlen(ui));
		if (colon)
			h->password = decoded(colon + 1, strlen(colon + 1));
	}
	n = strlen(h->host_hdr) + strlen(h->prefix) + 16;
	h->display = xmalloc(n);
	snprintf(h->display, n, "http://%s%s", h->host_hdr, h->prefix);
	evhttp_uri_free(u);
	return h;
fail:
	evhttp_uri_free(u);
	return NULL;
}

void http_close(struct http *h)
{
	if (!h)
		return;
	if (h->conn)
		evhttp_connection_free(h->conn);
	if (h->base)
		event_base_free(h->base);
	free(h->host);
	free(h->host_hdr);
	free(h->prefix);
	free(h->user);
	free(h->password);
	free(h->display);
	free(h);
}

const char *http_url_user(const struct http *h)
{
	return h->user;
}

const char *http_url_password(const struct http *h)
{
	return h->password;
}

const char *http_url_display(const struct http *h)
{
	return h->display;
}

void http_reply_free(struct http_reply *r)
{
	free(r->status_line);
	free(r->body);
	r->status_line = r->body = NULL;
	r->len = 0;
	r->status = 0;
}

/* Connects to host:port with a plain socket to learn why evhttp could not:
 * 0 if a connection succeeds now, else -1 with the reason in err. */
static int probe(const struct http *h, char *err, size_t errlen)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
	char port[16];
	snprintf(port, sizeof port, "%d", h->port);
	int rc = getaddrinfo(h->host, port, &hints, &res);
	if (rc != 0) {
		snprintf(err, errlen, "%s: %s", h->host, gai_strerror(rc));
		return -1;
	}
	int last = ETIMEDOUT;
	for (struct addrinfo *a = res; a; a = a->ai_next) {
		int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK, a->ai_protocol);
		if (fd < 0) {
			last = errno;
			continue;
		}
		int e = 0;
		if (connect(fd, a->ai_addr, a->ai_addrlen) < 0) {
			e = errno;
			if (e == EINPROGRESS) {
				struct pollfd p = {.fd = fd, .events = POLLOUT};
				socklen_t sl = sizeof e;
				if (poll(&p, 1, h->timeout_s * 1000) <= 0)
					e = ETIMEDOUT;
				else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &sl) < 0)
					e = errno;
			}
		}
		close(fd);
		if (e == 0) {
			freeaddrinfo(res);
			return 0;
		}
		last = e;
	}
	freeaddrinfo(res);
	snprintf(err, errlen, "%s", strerror(last));
	return -1;
}

static void on_error(enum evhttp_request_error e, void *arg)
{
	struct pending *p = arg;
	p->error = (int)e + 1;
}

static void on_done(struct evhttp_request *req, void *arg)
{
	struct pending *p = arg;
	p->done = true;
	event_base_loopexit(p->base, NULL);
	if (!req || evhttp_request_get_response_code(req) == 0)
		return;
	struct http_reply *r = p->r;
	r->status = evhttp_request_get_response_code(req);
	const char *line = evhttp_request_get_response_code_line(req);
	r->status_line = xstrdup(line ? line : "");
	struct evkeyvalq *hdr = evhttp_request_get_input_headers(req);
	r->www_authenticate = evhttp_find_header(hdr, "WWW-Authenticate") != NULL;
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	r->len = evbuffer_get_length(in);
	r->body = xmalloc(r->len + 1);
	evbuffer_remove(in, r->body, r->len);
	r->body[r->len] = '\0';
}

static enum evhttp_cmd_type method_type(const char *m)
{
	if (strcmp(m, "PUT") == 0)
		return EVHTTP_REQ_PUT;
	if (strcmp(m, "POST") == 0)
		return EVHTTP_REQ_POST;
	if (strcmp(m, "DELETE") == 0)
		return EVHTTP_REQ_DELETE;
	return EVHTTP_REQ_GET;
}

/* "Basic base64(user:password)": malloc'd. */
static char *basic_auth(const char *user, const char *password)
{
	size_t n = strlen(user) + strlen(password) + 1;
	char *plain = xmalloc(n + 1);
	snprintf(plain, n + 1, "%s:%s", user, password);
	char *out = xmalloc(6 + 4 * ((n + 2) / 3) + 1);
	memcpy(out, "Basic ", 6);
	EVP_EncodeBlock((unsigned char *)out + 6, (const unsigned char *)plain, (int)n);
	free(plain);
	return out;
}

static void explain_failure(struct http *h, int error, struct http_reply *r)
{
	char why[200];
	if (probe(h, why, sizeof why) < 0) {
		snprintf(r->err, sizeof r->err, "%s", why);
		return;
	}
	switch (error - 1) {
	case EVREQ_HTTP_TIMEOUT:
		snprintf(r->err, sizeof r->err, "no answer within %d s", h->timeout_s);
		break;
	case EVREQ_HTTP_INVALID_HEADER:
		snprintf(r->err, sizeof r->err, "the answer is not HTTP (is that the AMQP port?)");
		break;
	default:
		snprintf(r->err, sizeof r->err,
			 "the connection closed before an HTTP answer (is that the AMQP port?)");
	}
}

int http_request(struct http *h, const char *method, const char *target, const char *body,
		 size_t len, const char *user, const char *password, struct http_reply *r)
{
	memset(r, 0, sizeof *r);
	if (!h->base) {
		h->base = event_base_new();
		if (!h->base) {
			snprintf(r->err, sizeof r->err, "event_base_new failed");
			return -1;
		}
	}
	if (!h->conn) {
		h->conn =
			evhttp_connection_base_new(h->base, NULL, h->host, (unsigned short)h->port);
		if (!h->conn) {
			snprintf(r->err, sizeof r->err, "cannot make a connection to %s", h->host);
			return -1;
		}
		evhttp_connection_set_timeout(h->conn, h->timeout_s);
	}
	struct pending p = {.r = r, .base = h->base};
	struct evhttp_request *req = evhttp_request_new(on_done, &p);
	evhttp_request_set_error_cb(req, on_error);
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);
	char *auth = basic_auth(user, password);
	evhttp_add_header(out, "Host", h->host_hdr);
	evhttp_add_header(out, "Authorization", auth);
	/* No Accept: RabbitMQ's DELETE .../contents answers 406 to application/json. */
	evhttp_add_header(out, "User-Agent", "ternctl");
	/* One connection per request: evhttp would reuse one the server has
	 * closed meanwhile (HTTP/1.0, idle timeouts) and fail the request. */
	evhttp_add_header(out, "Connection", "close");
	free(auth);
	if (body) {
		evhttp_add_header(out, "Content-Type", "application/json");
		evbuffer_add(evhttp_request_get_output_buffer(req), body, len);
	} else if (strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0) {
		evhttp_add_header(out, "Content-Length", "0");
	}
	size_t tl = strlen(h->prefix) + strlen(target) + 1;
	char *uri = xmalloc(tl);
	snprintf(uri, tl, "%s%s", h->prefix, target);
	/* On failure evhttp_make_request frees req itself. */
	int rc = evhttp_make_request(h->conn, req, method_type(method), uri);
	free(uri);
	if (rc != 0) {
		explain_failure(h, 0, r);
		return -1;
	}
	while (!p.done && event_base_dispatch(h->base) == 0)
		;
	if (r->status == 0) {
		if (!p.done) {
			/* The loop gave up with the request still queued: drop the
			 * connection, which cancels it (and calls on_done). */
			evhttp_connection_free(h->conn);
			h->conn = NULL;
		}
		explain_failure(h, p.error, r);
		return -1;
	}
	return 0;
}
