/* deadletter_fixture.h — shared by the dead-letter unit tests
 * (check_deadletter.c, check_deadletter_headers.c): building messages with
 * properties and headers, reading a dead-lettered copy's x-death entries
 * back, and a rich message with every property, CC and a nested table.
 * Functions are static inline: each program uses what it needs. */
#ifndef TERN_TESTS_DEADLETTER_FIXTURE_H
#define TERN_TESTS_DEADLETTER_FIXTURE_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/queue/deadletter.h"
#include "protocol/props.h"
#include "protocol/table.h"

#define T1 1700000000u
#define T2 1700000100u
#define T3 1700000200u

/* ---- building messages ---- */

static inline struct bytes view(const struct wbuf *w)
{
	return (struct bytes){w->p, (uint32_t)w->len};
}

/* A complete message published to exchange/rkey with properties pr. */
static inline struct message *mkmsg(const char *exchange, const char *rkey, const struct amqp_props *pr,
			     const char *body, uint8_t flags, uint8_t prio)
{
	struct wbuf w = {0};
	props_encode(&w, pr);
	size_t n = strlen(body);
	struct message *m = message_new(bytes_of(exchange), bytes_of(rkey), view(&w), n, flags);
	memcpy(message_body(m), body, n);
	m->priority = prio;
	wb_free(&w);
	return m;
}

/* A message whose only property is the given headers table body. */
static inline struct message *with_headers(const struct wbuf *h)
{
	struct amqp_props pr = {.flags = PROP_HEADERS, .headers = view(h)};
	return mkmsg("ex", "rk", &pr, "body", 0, 0);
}

static inline struct message *dl(const struct message *m, const char *queue, const char *reason,
			  const char *dlx, const char *dl_rkey, uint64_t now)
{
	struct dl_reason r = {queue, reason};
	struct message *c = deadletter_copy(m, &r, dlx, dl_rkey, now);
	ck_assert_ptr_nonnull(c);
	return c;
}

/* ---- reading them ---- */

static inline struct amqp_props props_of(const struct message *m)
{
	struct bytes raw = message_props(m);
	struct amqp_props pr;
	ck_assert_int_eq(props_decode(raw.p, raw.len, &pr), 0);
	return pr;
}

static inline struct bytes headers_of(const struct message *m)
{
	struct amqp_props pr = props_of(m);
	ck_assert(pr.flags & PROP_HEADERS);
	return pr.headers;
}

static inline void assert_bytes(struct bytes b, const char *s)
{
	size_t n = strlen(s);
	ck_assert_msg(b.len == n && (n == 0 || memcmp(b.p, s, n) == 0), "got '%.*s', want '%s'",
		      (int)b.len, (const char *)b.p, s);
}

/* The raw bytes of the first pair named key in table t. */
static inline bool raw_pair(struct bytes t, const char *key, struct bytes *raw)
{
	struct table_iter it = table_iter(t);
	struct bytes k;
	struct fvalue v;
	size_t start = 0;
	while (table_next(&it, &k, &v)) {
		if (bytes_eq(k, key)) {
			*raw = (struct bytes){t.p + start, (uint32_t)(it.r.off - start)};
			return true;
		}
		start = it.r.off;
	}
	return false;
}

/* Key `key` of t must hold longstr s. */
static inline void assert_str(struct bytes t, const char *key, const char *s)
{
	struct fvalue v;
	ck_assert_msg(table_get(t, key, &v), "no %s", key);
	ck_assert_msg(v.type == 'S', "%s has type %c", key, v.type);
	assert_bytes(v.v.s, s);
}

static inline void assert_long(struct bytes t, const char *key, int64_t n)
{
	struct fvalue v;
	ck_assert_msg(table_get(t, key, &v), "no %s", key);
	ck_assert_msg(v.type == 'l', "%s has type %c", key, v.type);
	ck_assert_int_eq(v.v.i, n);
}

static inline void assert_absent(struct bytes t, const char *key)
{
	struct fvalue v;
	ck_assert_msg(!table_get(t, key, &v), "%s present", key);
}

/* The keys of t, comma-separated, in order. */
static inline void keys_of(struct bytes t, char *out, size_t len)
{
	struct table_iter it = table_iter(t);
	struct bytes k;
	struct fvalue v;
	out[0] = 0;
	while (table_next(&it, &k, &v)) {
		size_t n = strlen(out);
		snprintf(out + n, len - n, "%s%.*s", n ? "," : "", (int)k.len, (const char *)k.p);
	}
}

static inline void assert_keys(struct bytes t, const char *want)
{
	char got[1024];
	keys_of(t, got, sizeof got);
	ck_assert_str_eq(got, want);
}

/* Number of elements of x-death in m, and element i as a table. */
static inline int xdeath_len(const struct message *m)
{
	struct fvalue a, e;
	ck_assert(table_get(headers_of(m), "x-death", &a));
	ck_assert_int_eq(a.type, 'A');
	struct table_iter it = table_iter(a.v.s);
	int n = 0;
	while (array_next(&it, &e))
		n++;
	return n;
}

static inline struct bytes xdeath_at(const struct message *m, int i)
{
	struct fvalue a, e;
	ck_assert(table_get(headers_of(m), "x-death", &a));
	ck_assert_int_eq(a.type, 'A');
	struct table_iter it = table_iter(a.v.s);
	for (int j = 0; j <= i; j++)
		ck_assert(array_next(&it, &e));
	ck_assert_int_eq(e.type, 'F');
	return e.v.s;
}

/* The routing-keys of an x-death entry, comma-separated. */
static inline void assert_rkeys(struct bytes entry, const char *want)
{
	struct fvalue a, e;
	ck_assert(table_get(entry, "routing-keys", &a));
	ck_assert_int_eq(a.type, 'A');
	char got[256] = "";
	struct table_iter it = table_iter(a.v.s);
	while (array_next(&it, &e)) {
		ck_assert_int_eq(e.type, 'S');
		size_t n = strlen(got);
		snprintf(got + n, sizeof got - n, "%s%.*s", n ? "," : "", (int)e.v.s.len,
			 (const char *)e.v.s.p);
	}
	ck_assert_str_eq(got, want);
}

static inline void assert_entry(struct bytes e, const char *queue, const char *reason, int64_t count,
			 uint64_t time, const char *exchange)
{
	assert_str(e, "queue", queue);
	assert_str(e, "reason", reason);
	assert_long(e, "count", count);
	struct fvalue v;
	ck_assert(table_get(e, "time", &v));
	ck_assert_int_eq(v.type, 'T');
	ck_assert_uint_eq(v.v.u, time);
	assert_str(e, "exchange", exchange);
}

/* ---- a rich message: every property, CC, a nested table ---- */

static inline struct wbuf rich_headers(void)
{
	struct wbuf h = {0};
	tw_key(&h, "zz");
	tv_i32(&h, 7);
	tw_key(&h, "a");
	tv_str(&h, "b");
	tw_key(&h, "CC");
	tv_array_letter(&h);
	size_t a = tw_begin(&h);
	tv_str(&h, "c1");
	tv_str(&h, "c2");
	tw_end(&h, a);
	tw_key(&h, "nested");
	tv_table_letter(&h);
	size_t t = tw_begin(&h);
	tw_key(&h, "k");
	tv_bool(&h, true);
	tw_end(&h, t);
	return h;
}

static inline struct amqp_props rich_props(const struct wbuf *h)
{
	return (struct amqp_props){
		.flags = PROP_CONTENT_TYPE | PROP_HEADERS | PROP_DELIVERY_MODE | PROP_PRIORITY |
			 PROP_CORRELATION_ID | PROP_EXPIRATION | PROP_MESSAGE_ID | PROP_TIMESTAMP |
			 PROP_APP_ID,
		.content_type = bytes_of("text/plain"),
		.headers = view(h),
		.delivery_mode = 2,
		.priority = 3,
		.correlation_id = bytes_of("cid"),
		.expiration = bytes_of("60000"),
		.message_id = bytes_of("mid"),
		.timestamp = 1234,
		.app_id = bytes_of("app"),
	};
}

/* A message with no properties and a one-octet body. */
static inline struct message *plain(void)
{
	struct amqp_props pr = {0};
	return mkmsg("ex", "rk", &pr, "x", 0, 0);
}

#endif
