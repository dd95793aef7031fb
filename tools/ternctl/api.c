/* api.c — ternctl's side of the management API: request paths with every
 * segment percent-encoded, JSON in and out, and the broker's errors turned
 * into messages and exit statuses (ctl.h). RabbitMQ answers an error with
 * {"error": ..., "reason": ...}; a 401 that asks for credentials again
 * (WWW-Authenticate) is a refused login, one without is a refused action. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "tools/ternctl/ctl.h"
#include "util/xalloc.h"

struct sbuf {
	char *p;
	size_t len, cap;
};

static void sb_add(struct sbuf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->p = xrealloc(b->p, b->cap);
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

/* RFC 3986 unreserved characters stay; everything else is %XX. */
static void sb_encoded(struct sbuf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' || *p == '~') {
			sb_add(b, (const char *)p, 1);
		} else {
			char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
			sb_add(b, e, 3);
		}
	}
}

char *ctl_path(const char *fmt, ...)
{
	struct sbuf b = {0};
	va_list ap;
	va_start(ap, fmt);
	sb_add(&b, "", 0);
	for (const char *f = fmt; *f; f++) {
		if (*f != '%' || !f[1]) {
			sb_add(&b, f, 1);
			continue;
		}
		char num[32];
		switch (*++f) {
		case 's': sb_encoded(&b, va_arg(ap, const char *)); break;
		case 'r': {
			const char *s = va_arg(ap, const char *);
			sb_add(&b, s, strlen(s));
			break;
		}
		case 'l':
			snprintf(num, sizeof num, "%ld", va_arg(ap, long));
			sb_add(&b, num, strlen(num));
			break;
		default: sb_add(&b, f - 1, 2);
		}
	}
	va_end(ap);
	return b.p;
}

static const char *effective_user(const struct ctl *c)
{
	if (!c->user_set && c->http && http_url_user(c->http))
		return http_url_user(c->http);
	return c->user;
}

static const char *effective_password(const struct ctl *c)
{
	if (!c->password_set && c->http && http_url_password(c->http))
		return http_url_password(c->http);
	return c->password;
}

int api_raw(struct ctl *c, const char *method, const char *path, json_t *body, struct http_reply *r)
{
	memset(r, 0, sizeof *r);
	if (!c->http) {
		char err[256];
		c->http = http_open(c->url, c->timeout_s, err, sizeof err);
		if (!c->http) {
			fprintf(stderr, "ternctl: %s\n", err);
			return CTL_EUSAGE;
		}
	}
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	int rc = http_request(c->http, method, path, text, text ? strlen(text) : 0,
			      effective_user(c), effective_password(c), r);
	free(text);
	if (rc < 0) {
		fprintf(stderr, "ternctl: cannot reach %s: %s; %s\n", http_url_display(c->http),
			r->err, MGMT_HINT);
		return CTL_EUNREACHABLE;
	}
	return CTL_OK;
}

/* The reason in an error body: "reason" (a string, or its JSON), else
 * "error", else the body's first line. */
static void reason_of(const struct http_reply *r, char *out, size_t n)
{
	out[0] = '\0';
	json_t *j = r->len ? json_loadb(r->body, r->len, 0, NULL) : NULL;
	if (json_is_object(j)) {
		json_t *v = json_object_get(j, "reason");
		if (!v || (json_is_string(v) && !*json_string_value(v)))
			v = json_object_get(j, "error");
		if (json_is_string(v)) {
			snprintf(out, n, "%s", json_string_value(v));
		} else if (v) {
			char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
			snprintf(out, n, "%s", s ? s : "");
			free(s);
		}
	} else if (r->len) {
		size_t l = strcspn(r->body, "\r\n");
		snprintf(out, n, "%.*s", (int)(l > 200 ? 200 : l), r->body);
	}
	json_decref(j);
}

int api_fail(struct ctl *c, const struct http_reply *r, const char *notfound)
{
	char reason[600];
	reason_of(r, reason, sizeof reason);
	const char *url = c->http ? http_url_display(c->http) : c->url;
	if (r->status == 401 &&
	    (r->www_authenticate || !*reason || strcasecmp(reason, "Login failed") == 0)) {
		fprintf(stderr,
			"ternctl: 401 %s: %s; check --user/--password (user '%s' at %s; "
			"the management API also wants the user tagged administrator, "
			"monitoring or management)\n",
			r->status_line, *reason ? reason : "login refused", effective_user(c), url);
		return CTL_EAUTH;
	}
	bool bare404 = r->status == 404 && (!*reason || strcasecmp(reason, "Not Found") == 0);
	if (bare404 && notfound)
		snprintf(reason, sizeof reason, "%s", notfound);
	fprintf(stderr, "ternctl: %d %s%s%s", r->status, r->status_line, *reason ? ": " : "",
		reason);
	if (bare404 && !notfound)
		fprintf(stderr, " (is %s the management API? check --url)", url);
	if (r->status == 401 || r->status == 403)
		fprintf(stderr, " (user '%s' lacks a permission or tag this needs)",
			effective_user(c));
	fputc('\n', stderr);
	return CTL_EBROKER;
}

int api(struct ctl *c, const char *method, const char *path, json_t *body, json_t **out,
	const char *notfound)
{
	struct http_reply r;
	if (out)
		*out = NULL;
	int rc = api_raw(c, method, path, body, &r);
	if (rc != CTL_OK)
		return rc;
	c->status = r.status;
	if (r.status < 200 || r.status > 299) {
		rc = api_fail(c, &r, notfound);
		goto done;
	}
	size_t skip = strspn(r.body, " \t\r\n");
	if (out && skip < r.len) {
		json_error_t e;
		*out = json_loadb(r.body, r.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
		if (!*out) {
			fprintf(stderr, "ternctl: the answer to %s %s is not JSON (%d:%d: %s)\n",
				method, path, e.line, e.column, e.text);
			rc = CTL_EBROKER;
		}
	}
done:
	http_reply_free(&r);
	return rc;
}

void ctl_print_json(FILE *f, const json_t *j)
{
	json_dumpf(j, f, JSON_INDENT(2) | JSON_ENCODE_ANY);
	fputc('\n', f);
}

json_t *jpath(const json_t *obj, const char *path)
{
	const json_t *cur = obj;
	char key[128];
	while (cur && *path) {
		size_t n = strcspn(path, ".");
		if (n >= sizeof key || !json_is_object(cur))
			return NULL;
		memcpy(key, path, n);
		key[n] = '\0';
		cur = json_object_get(cur, key);
		path += n + (path[n] == '.');
	}
	return (json_t *)cur;
}

char *ctl_base64(const unsigned char *p, size_t n)
{
	char *out = xmalloc(4 * ((n + 2) / 3) + 1);
	EVP_EncodeBlock((unsigned char *)out, p, (int)n);
	return out;
}

unsigned char *ctl_unbase64(const char *s, size_t *n)
{
	size_t len = strlen(s);
	if (len % 4 != 0)
		return NULL;
	unsigned char *out = xmalloc(len / 4 * 3 + 1);
	int got = len ? EVP_DecodeBlock(out, (const unsigned char *)s, (int)len) : 0;
	if (got < 0) {
		free(out);
		return NULL;
	}
	size_t pad = 0;
	while (pad < 2 && len > pad && s[len - 1 - pad] == '=')
		pad++;
	*n = (size_t)got - pad;
	return out;
}
