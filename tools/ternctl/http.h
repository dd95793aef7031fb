/* http.h — ternctl's HTTP/1.1 client over libevent's evhttp: requests
 * made one at a time (each runs the event loop until its answer is in),
 * each on a connection of its own, with Basic authentication.
 * Only plain http:// URLs; the management API's JSON is api.c's business. */
#ifndef TERNCTL_HTTP_H
#define TERNCTL_HTTP_H

#include <stdbool.h>
#include <stddef.h>

/* Where the management API is, parsed from a URL like
 * http://user:pass@host:15672/prefix. Owned by the caller of http_open(). */
struct http;

/* One answer. status is 0 when none came: err then says why (with the
 * probe's errno text when the connection could not be made). body is
 * NUL-terminated. Owned by the caller; http_reply_free() releases it. */
struct http_reply {
	int status;
	char *status_line; /* "Not Found" */
	char *body;
	size_t len;
	bool www_authenticate; /* the server asked for credentials (bad login) */
	char err[256];
};

/* Parses url and prepares (does not yet open) the connection, with
 * timeout_s seconds for connecting and for each answer. Returns NULL with
 * a message in err for a URL it cannot use. */
struct http *http_open(const char *url, int timeout_s, char *err, size_t errlen);
void http_close(struct http *h);

/* The credentials written in the URL (percent-decoded), or NULL. */
const char *http_url_user(const struct http *h);
const char *http_url_password(const struct http *h);

/* The URL without credentials, for messages: "http://127.0.0.1:15672". */
const char *http_url_display(const struct http *h);

/* Sends method ("GET", "PUT", "POST", "DELETE") to the URL's path prefix
 * followed by target (already percent-encoded, with its query), with body
 * (len bytes, JSON; NULL for none) and Basic credentials. Returns 0 when
 * the server answered (any status; r filled), -1 when it did not (r->status
 * is 0 and r->err says why). */
int http_request(struct http *h, const char *method, const char *target, const char *body,
		 size_t len, const char *user, const char *password, struct http_reply *r);

void http_reply_free(struct http_reply *r);

#endif
