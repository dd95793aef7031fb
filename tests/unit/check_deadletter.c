/* check_deadletter.c — unit tests for broker/queue/deadletter.c: the x-death
 * entry of a first death (every field, type and value), x-first-death-*
 * and x-last-death-*, the expiration dropped and kept as
 * original-expiration, repeated deaths (count, order), CC/BCC and the
 * dead-letter routing key, RabbitMQ's cycle rule, messages without
 * headers, deep and odd headers kept byte for byte, and client-made x-death
 * values (not an array, pre-3.5 duplicates, other count types). */
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

static struct bytes view(const struct wbuf *w)
{
	return (struct bytes){w->p, (uint32_t)w->len};
}

/* A complete message published to exchange/rkey with properties pr. */
static struct message *mkmsg(const char *exchange, const char *rkey, const struct amqp_props *pr,
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
static struct message *with_headers(const struct wbuf *h)
{
	struct amqp_props pr = {.flags = PROP_HEADERS, .headers = view(h)};
	return mkmsg("ex", "rk", &pr, "body", 0, 0);
}

static struct message *dl(const struct message *m, const char *queue, const char *reason,
			  const char *dlx, const char *dl_rkey, uint64_t now)
{
	struct dl_reason r = {queue, reason};
	struct message *c = deadletter_copy(m, &r, dlx, dl_rkey, now);
	ck_assert_ptr_nonnull(c);
	return c;
}

/* ---- reading them ---- */

static struct amqp_props props_of(const struct message *m)
{
	struct bytes raw = message_props(m);
	struct amqp_props pr;
	ck_assert_int_eq(props_decode(raw.p, raw.len, &pr), 0);
	return pr;
}

static struct bytes headers_of(const struct message *m)
{
	struct amqp_props pr = props_of(m);
	ck_assert(pr.flags & PROP_HEADERS);
	return pr.headers;
}

static void assert_bytes(struct bytes b, const char *s)
{
	size_t n = strlen(s);
	ck_assert_msg(b.len == n && (n == 0 || memcmp(b.p, s, n) == 0), "got '%.*s', want '%s'",
		      (int)b.len, (const char *)b.p, s);
}

/* The raw bytes of the first pair named key in table t. */
static bool raw_pair(struct bytes t, const char *key, struct bytes *raw)
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
static void assert_str(struct bytes t, const char *key, const char *s)
{
	struct fvalue v;
	ck_assert_msg(table_get(t, key, &v), "no %s", key);
	ck_assert_msg(v.type == 'S', "%s has type %c", key, v.type);
	assert_bytes(v.v.s, s);
}

static void assert_long(struct bytes t, const char *key, int64_t n)
{
	struct fvalue v;
	ck_assert_msg(table_get(t, key, &v), "no %s", key);
	ck_assert_msg(v.type == 'l', "%s has type %c", key, v.type);
	ck_assert_int_eq(v.v.i, n);
}

static void assert_absent(struct bytes t, const char *key)
{
	struct fvalue v;
	ck_assert_msg(!table_get(t, key, &v), "%s present", key);
}

/* The keys of t, comma-separated, in order. */
static void keys_of(struct bytes t, char *out, size_t len)
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

static void assert_keys(struct bytes t, const char *want)
{
	char got[1024];
	keys_of(t, got, sizeof got);
	ck_assert_str_eq(got, want);
}

/* Number of elements of x-death in m, and element i as a table. */
static int xdeath_len(const struct message *m)
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

static struct bytes xdeath_at(const struct message *m, int i)
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
static void assert_rkeys(struct bytes entry, const char *want)
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

static void assert_entry(struct bytes e, const char *queue, const char *reason, int64_t count,
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

static struct wbuf rich_headers(void)
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

static struct amqp_props rich_props(const struct wbuf *h)
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

START_TEST(first_death)
{
	struct wbuf h = rich_headers();
	struct amqp_props in = rich_props(&h);
	struct message *m = mkmsg("ex", "rk", &in, "hello", MSG_PERSISTENT | MSG_MANDATORY, 3);
	message_set_store_id(m, 42); /* as if stored in a shared row: the copy is not */
	struct wbuf before = {0};
	wb_add(&before, message_props(m).p, message_props(m).len);

	struct message *c = dl(m, "q1", DL_EXPIRED, "dlx", NULL, T1);
	ck_assert_uint_eq(message_live, 2);
	ck_assert_uint_eq(c->refs, 1);
	assert_bytes(message_exchange(c), "dlx");
	assert_bytes(message_rkey(c), "rk");
	ck_assert_uint_eq(c->body_size, 5);
	ck_assert_mem_eq(message_body(c), "hello", 5);
	ck_assert_uint_eq(c->flags, MSG_PERSISTENT);
	ck_assert_uint_eq(c->priority, 3);
	ck_assert_uint_eq(message_store_id(c), 0);

	/* m itself is untouched. */
	ck_assert_uint_eq(message_props(m).len, before.len);
	ck_assert_mem_eq(message_props(m).p, before.p, before.len);

	/* Properties: expiration gone, the others as they were. */
	struct amqp_props out = props_of(c);
	ck_assert_uint_eq(out.flags, in.flags & (uint16_t)~PROP_EXPIRATION);
	assert_bytes(out.content_type, "text/plain");
	ck_assert_uint_eq(out.delivery_mode, 2);
	ck_assert_uint_eq(out.priority, 3);
	assert_bytes(out.correlation_id, "cid");
	assert_bytes(out.message_id, "mid");
	ck_assert_uint_eq(out.timestamp, 1234);
	assert_bytes(out.app_id, "app");

	/* Headers sorted by key (uppercase first, as bytes). */
	assert_keys(out.headers, "CC,a,nested,x-death,x-first-death-exchange,"
				 "x-first-death-queue,x-first-death-reason,x-last-death-exchange,"
				 "x-last-death-queue,x-last-death-reason,zz");
	static const char *const kept[] = {"zz", "a", "CC", "nested"};
	for (int i = 0; i < 4; i++) {
		struct bytes was, now;
		ck_assert(raw_pair(view(&h), kept[i], &was));
		ck_assert(raw_pair(out.headers, kept[i], &now));
		ck_assert_uint_eq(was.len, now.len);
		ck_assert_mem_eq(was.p, now.p, was.len);
	}

	/* The x-death entry: fields in order, types and values. */
	ck_assert_int_eq(xdeath_len(c), 1);
	struct bytes e = xdeath_at(c, 0);
	assert_keys(e, "count,reason,queue,time,exchange,routing-keys,original-expiration");
	assert_entry(e, "q1", "expired", 1, T1, "ex");
	assert_rkeys(e, "rk,c1,c2");
	assert_str(e, "original-expiration", "60000");

	assert_str(out.headers, "x-first-death-reason", "expired");
	assert_str(out.headers, "x-first-death-queue", "q1");
	assert_str(out.headers, "x-first-death-exchange", "ex");
	assert_str(out.headers, "x-last-death-reason", "expired");
	assert_str(out.headers, "x-last-death-queue", "q1");
	assert_str(out.headers, "x-last-death-exchange", "ex");

	/* The copy lives on its own. */
	message_unref(m);
	ck_assert_mem_eq(message_body(c), "hello", 5);
	message_unref(c);
	ck_assert_uint_eq(message_live, 0);
	wb_free(&before);
	wb_free(&h);
}
END_TEST

/* The same (queue, reason) again: one entry, count 2, its other fields
 * from the first time; x-first-* stay, x-last-* follow. */
START_TEST(second_death_same_pair)
{
	struct wbuf h = rich_headers();
	struct amqp_props in = rich_props(&h);
	struct message *m = mkmsg("ex", "rk", &in, "hello", 0, 0);
	struct message *c1 = dl(m, "q1", DL_EXPIRED, "dlx", NULL, T1);
	struct bytes e1 = xdeath_at(c1, 0);
	struct message *c2 = dl(c1, "q1", DL_EXPIRED, "dlx2", NULL, T2);
	assert_bytes(message_exchange(c2), "dlx2");

	ck_assert_int_eq(xdeath_len(c2), 1);
	struct bytes e = xdeath_at(c2, 0);
	assert_keys(e, "count,reason,queue,time,exchange,routing-keys,original-expiration");
	assert_entry(e, "q1", "expired", 2, T1, "ex");
	assert_rkeys(e, "rk,c1,c2");
	assert_str(e, "original-expiration", "60000");
	/* Only the count changed. */
	ck_assert_uint_eq(e.len, e1.len);
	ck_assert_mem_eq(e.p + 15, e1.p + 15, e.len - 15); /* after count: key, 'l', 8 octets */

	struct bytes hd = headers_of(c2);
	assert_str(hd, "x-first-death-exchange", "ex");
	assert_str(hd, "x-first-death-queue", "q1");
	assert_str(hd, "x-last-death-exchange", "dlx");
	assert_str(hd, "x-last-death-queue", "q1");
	assert_str(hd, "x-last-death-reason", "expired");

	struct message *c3 = dl(c2, "q1", DL_EXPIRED, "dlx", NULL, T3);
	ck_assert_int_eq(xdeath_len(c3), 1);
	assert_entry(xdeath_at(c3, 0), "q1", "expired", 3, T1, "ex");

	message_unref(m);
	message_unref(c1);
	message_unref(c2);
	message_unref(c3);
	ck_assert_uint_eq(message_live, 0);
	wb_free(&h);
}
END_TEST

/* A new (queue, reason) goes in front; a repeated one moves to the front
 * and the rest keep their order. */
START_TEST(entry_order)
{
	struct wbuf h = rich_headers();
	struct amqp_props in = rich_props(&h);
	struct message *m = mkmsg("ex", "rk", &in, "x", 0, 0);
	struct message *c1 = dl(m, "q1", DL_EXPIRED, "dlx", NULL, T1);
	struct message *c2 = dl(c1, "q2", DL_REJECTED, "dlx2", NULL, T2);

	ck_assert_int_eq(xdeath_len(c2), 2);
	struct bytes e0 = xdeath_at(c2, 0);
	assert_keys(e0, "count,reason,queue,time,exchange,routing-keys");
	assert_entry(e0, "q2", "rejected", 1, T2, "dlx");
	assert_rkeys(e0, "rk,c1,c2");
	assert_absent(e0, "original-expiration"); /* c1 has no expiration */
	struct bytes old = xdeath_at(c1, 0), e1 = xdeath_at(c2, 1);
	ck_assert_uint_eq(e1.len, old.len);
	ck_assert_mem_eq(e1.p, old.p, old.len);

	struct bytes hd = headers_of(c2);
	assert_str(hd, "x-first-death-reason", "expired");
	assert_str(hd, "x-first-death-queue", "q1");
	assert_str(hd, "x-first-death-exchange", "ex");
	assert_str(hd, "x-last-death-reason", "rejected");
	assert_str(hd, "x-last-death-queue", "q2");
	assert_str(hd, "x-last-death-exchange", "dlx");

	/* q1/expired again: moves to the front with count 2. */
	struct message *c3 = dl(c2, "q1", DL_EXPIRED, "dlx", NULL, T3);
	ck_assert_int_eq(xdeath_len(c3), 2);
	assert_entry(xdeath_at(c3, 0), "q1", "expired", 2, T1, "ex");
	assert_entry(xdeath_at(c3, 1), "q2", "rejected", 1, T2, "dlx");
	assert_str(headers_of(c3), "x-last-death-queue", "q1");
	assert_str(headers_of(c3), "x-last-death-exchange", "dlx2");

	/* A third pair in front, the other two in their order. */
	struct message *c4 = dl(c3, "q3", DL_MAXLEN, "dlx", NULL, T3);
	ck_assert_int_eq(xdeath_len(c4), 3);
	assert_entry(xdeath_at(c4, 0), "q3", "maxlen", 1, T3, "dlx");
	assert_entry(xdeath_at(c4, 1), "q1", "expired", 2, T1, "ex");
	assert_entry(xdeath_at(c4, 2), "q2", "rejected", 1, T2, "dlx");

	/* Same queue, other reason: a separate entry. */
	struct message *c5 = dl(c4, "q3", DL_DELIVERY_LIMIT, "dlx", NULL, T3);
	ck_assert_int_eq(xdeath_len(c5), 4);
	assert_entry(xdeath_at(c5, 0), "q3", "delivery_limit", 1, T3, "dlx");
	assert_entry(xdeath_at(c5, 1), "q3", "maxlen", 1, T3, "dlx");

	struct message *ms[] = {m, c1, c2, c3, c4, c5};
	for (int i = 0; i < 6; i++)
		message_unref(ms[i]);
	ck_assert_uint_eq(message_live, 0);
	wb_free(&h);
}
END_TEST

/* routing-keys: the routing key, then CC's longstrs; BCC neither recorded
 * nor kept. */
START_TEST(routing_keys_cc_bcc)
{
	struct wbuf h = {0};
	tw_key(&h, "BCC");
	tv_array_letter(&h);
	size_t a = tw_begin(&h);
	tv_str(&h, "secret");
	tw_end(&h, a);
	tw_key(&h, "CC");
	tv_array_letter(&h);
	a = tw_begin(&h);
	tv_str(&h, "a");
	tv_i32(&h, 5); /* not a routing key */
	tv_str(&h, "c");
	tw_end(&h, a);
	struct message *m = with_headers(&h);
	struct message *c = dl(m, "q", DL_REJECTED, "", NULL, T1);
	assert_bytes(message_exchange(c), "");
	assert_rkeys(xdeath_at(c, 0), "rk,a,c");
	struct bytes hd = headers_of(c);
	assert_absent(hd, "BCC");
	struct bytes was, now;
	ck_assert(raw_pair(view(&h), "CC", &was));
	ck_assert(raw_pair(hd, "CC", &now));
	ck_assert_uint_eq(was.len, now.len);
	ck_assert_mem_eq(was.p, now.p, was.len);
	message_unref(m);
	message_unref(c);

	/* A CC that is no array adds nothing (RabbitMQ refuses the publish). */
	struct wbuf h2 = {0};
	tw_key(&h2, "CC");
	tv_str(&h2, "x");
	m = with_headers(&h2);
	c = dl(m, "q", DL_REJECTED, "", NULL, T1);
	assert_rkeys(xdeath_at(c, 0), "rk");
	message_unref(m);
	message_unref(c);
	ck_assert_uint_eq(message_live, 0);
	wb_free(&h);
	wb_free(&h2);
}
END_TEST

/* x-dead-letter-routing-key replaces the routing key and drops CC; the
 * entry still records the keys the message had. */
START_TEST(dl_rkey_override)
{
	struct wbuf h = rich_headers();
	struct amqp_props in = rich_props(&h);
	struct message *m = mkmsg("ex", "rk", &in, "x", 0, 0);
	struct message *c = dl(m, "q1", DL_REJECTED, "dlx", "dead", T1);
	assert_bytes(message_rkey(c), "dead");
	struct bytes hd = headers_of(c);
	assert_absent(hd, "CC");
	assert_rkeys(xdeath_at(c, 0), "rk,c1,c2");

	/* The next death records the key the copy was routed with. */
	struct message *c2 = dl(c, "q2", DL_EXPIRED, "dlx", NULL, T2);
	assert_bytes(message_rkey(c2), "dead");
	assert_rkeys(xdeath_at(c2, 0), "dead");

	/* An empty dead-letter routing key is still one. */
	struct message *c3 = dl(m, "q1", DL_REJECTED, "dlx", "", T1);
	assert_bytes(message_rkey(c3), "");
	assert_absent(headers_of(c3), "CC");

	message_unref(m);
	message_unref(c);
	message_unref(c2);
	message_unref(c3);
	ck_assert_uint_eq(message_live, 0);
	wb_free(&h);
}
END_TEST

/* ---- cycles ---- */

static struct message *plain(void)
{
	struct amqp_props pr = {0};
	return mkmsg("ex", "rk", &pr, "x", 0, 0);
}

START_TEST(cycle_expired_twice)
{
	struct message *m = plain();
	ck_assert(!deadletter_is_cycle(m, "q1"));
	struct message *c1 = dl(m, "q1", DL_EXPIRED, "", NULL, T1);
	ck_assert(deadletter_is_cycle(c1, "q1"));
	ck_assert(!deadletter_is_cycle(c1, "q2"));
	ck_assert(!deadletter_is_cycle(c1, "q")); /* no prefix match */
	ck_assert(!deadletter_is_cycle(c1, "q10"));
	/* q1 -> q2 -> back to q1 or q2, all by TTL or length. */
	struct message *c2 = dl(c1, "q2", DL_MAXLEN, "", NULL, T2);
	ck_assert(deadletter_is_cycle(c2, "q1"));
	ck_assert(deadletter_is_cycle(c2, "q2"));
	ck_assert(!deadletter_is_cycle(c2, "q3"));
	struct message *c3 = dl(c2, "q3", DL_DELIVERY_LIMIT, "", NULL, T3);
	ck_assert(deadletter_is_cycle(c3, "q1"));
	message_unref(m);
	message_unref(c1);
	message_unref(c2);
	message_unref(c3);
	ck_assert_uint_eq(message_live, 0);
}
END_TEST

START_TEST(cycle_broken_by_reject)
{
	struct message *m = plain();
	/* Rejected from q1: a client decided, so q1 may see it again. */
	struct message *c1 = dl(m, "q1", DL_REJECTED, "", NULL, T1);
	ck_assert(!deadletter_is_cycle(c1, "q1"));
	/* q1 expired, then q2 rejected: back into q1 is no cycle. */
	struct message *a = dl(m, "q1", DL_EXPIRED, "", NULL, T1);
	struct message *b = dl(a, "q2", DL_REJECTED, "", NULL, T2);
	ck_assert(!deadletter_is_cycle(b, "q1"));
	ck_assert(!deadletter_is_cycle(b, "q2"));
	/* q1 rejected, then q2 expired: q2 again is automatic, q1 is not. */
	struct message *c2 = dl(c1, "q2", DL_EXPIRED, "", NULL, T2);
	ck_assert(deadletter_is_cycle(c2, "q2"));
	ck_assert(!deadletter_is_cycle(c2, "q1"));
	/* ... then q1 expired: its newest entry is automatic now. */
	struct message *c3 = dl(c2, "q1", DL_EXPIRED, "", NULL, T3);
	ck_assert(deadletter_is_cycle(c3, "q1"));
	ck_assert(deadletter_is_cycle(c3, "q2"));
	/* The rejected q1 entry moved to the front breaks everything behind. */
	struct message *c4 = dl(c3, "q1", DL_REJECTED, "", NULL, T3);
	ck_assert_int_eq(xdeath_len(c4), 3);
	ck_assert(!deadletter_is_cycle(c4, "q1"));
	ck_assert(!deadletter_is_cycle(c4, "q2"));
	struct message *ms[] = {m, c1, a, b, c2, c3, c4};
	for (int i = 0; i < 7; i++)
		message_unref(ms[i]);
	ck_assert_uint_eq(message_live, 0);
}
END_TEST

/* Client-made x-death values the rule meets. */
START_TEST(cycle_odd_headers)
{
	/* Not an array. */
	struct wbuf h = {0};
	tw_key(&h, "x-death");
	tv_str(&h, "q1");
	struct message *m = with_headers(&h);
	ck_assert(!deadletter_is_cycle(m, "q1"));
	message_unref(m);

	/* A non-table element ahead of the q1 entry: not fully automatic. */
	struct wbuf h2 = {0};
	tw_key(&h2, "x-death");
	tv_array_letter(&h2);
	size_t a = tw_begin(&h2);
	tv_str(&h2, "junk");
	tv_table_letter(&h2);
	size_t t = tw_begin(&h2);
	tw_key(&h2, "queue");
	tv_str(&h2, "q1");
	tw_key(&h2, "reason");
	tv_str(&h2, "expired");
	tw_end(&h2, t);
	tw_end(&h2, a);
	m = with_headers(&h2);
	ck_assert(!deadletter_is_cycle(m, "q1"));
	message_unref(m);

	/* An entry without a reason counts as automatic; a queue that is no
	 * longstr never matches. */
	struct wbuf h3 = {0};
	tw_key(&h3, "x-death");
	tv_array_letter(&h3);
	a = tw_begin(&h3);
	tv_table_letter(&h3);
	t = tw_begin(&h3);
	tw_key(&h3, "queue");
	tv_i32(&h3, 1);
	tw_end(&h3, t);
	tv_table_letter(&h3);
	t = tw_begin(&h3);
	tw_key(&h3, "queue");
	tv_str(&h3, "q1");
	tw_end(&h3, t);
	tw_end(&h3, a);
	m = with_headers(&h3);
	ck_assert(deadletter_is_cycle(m, "q1"));
	ck_assert(!deadletter_is_cycle(m, "1"));
	message_unref(m);
	ck_assert_uint_eq(message_live, 0);
	wb_free(&h);
	wb_free(&h2);
	wb_free(&h3);
}
END_TEST

/* ---- headers ---- */

START_TEST(no_headers)
{
	struct message *m = plain();
	struct message *c = dl(m, "q", DL_MAXLEN, "dlx", NULL, T1);
	struct amqp_props pr = props_of(c);
	ck_assert_uint_eq(pr.flags, PROP_HEADERS);
	assert_keys(pr.headers, "x-death,x-first-death-exchange,x-first-death-queue,"
				"x-first-death-reason,x-last-death-exchange,x-last-death-queue,"
				"x-last-death-reason");
	struct bytes e = xdeath_at(c, 0);
	assert_keys(e, "count,reason,queue,time,exchange,routing-keys");
	assert_entry(e, "q", "maxlen", 1, T1, "ex");
	assert_rkeys(e, "rk");
	message_unref(m);
	message_unref(c);

	/* Other properties but no headers; an expiration alone. */
	struct amqp_props in = {.flags = PROP_CONTENT_TYPE | PROP_EXPIRATION,
				.content_type = bytes_of("a/b"),
				.expiration = bytes_of("0")};
	m = mkmsg("", "q", &in, "", MSG_MANDATORY, 0);
	c = dl(m, "q", DL_EXPIRED, "", NULL, T1);
	pr = props_of(c);
	ck_assert_uint_eq(pr.flags, PROP_CONTENT_TYPE | PROP_HEADERS);
	assert_bytes(pr.content_type, "a/b");
	assert_str(xdeath_at(c, 0), "original-expiration", "0");
	ck_assert_uint_eq(c->body_size, 0);
	ck_assert_uint_eq(c->flags, 0);
	message_unref(m);
	message_unref(c);
	ck_assert_uint_eq(message_live, 0);
}
END_TEST

/* A table nested `depth` deep, with one value of every type at the bottom. */
static void put_deep(struct wbuf *w, int depth)
{
	tv_table_letter(w);
	size_t t = tw_begin(w);
	if (depth > 1) {
		tw_key(w, "down");
		put_deep(w, depth - 1);
		tw_key(w, "list");
		tv_array_letter(w);
		size_t a = tw_begin(w);
		tv_i64(w, depth);
		tv_void(w);
		tw_end(w, a);
	} else {
		static const struct fvalue all[] = {
			{.type = 't', .v.b = true},
			{.type = 'b', .v.i = -5},
			{.type = 'B', .v.u = 250},
			{.type = 's', .v.i = -300},
			{.type = 'u', .v.u = 60000},
			{.type = 'I', .v.i = -70000},
			{.type = 'i', .v.u = 4000000000u},
			{.type = 'l', .v.i = -5000000000},
			{.type = 'L', .v.u = 18000000000000000000u},
			{.type = 'f', .v.f = 1.5f},
			{.type = 'd', .v.d = -2.25},
			{.type = 'D', .v.dec = {2, 12345}},
			{.type = 'T', .v.u = 99},
			{.type = 'V'},
		};
		for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
			char k[2] = {all[i].type, 0};
			tw_key(w, k);
			tv_value(w, &all[i]);
		}
		tw_key(w, "bin");
		wb_u8(w, 'x');
		wb_longstr(w, (struct bytes){(const uint8_t *)"\0\1\2", 3});
	}
	tw_end(w, t);
}

START_TEST(deep_headers_kept)
{
	struct wbuf h = {0};
	tw_key(&h, "deep");
	put_deep(&h, TABLE_MAX_DEPTH - 1); /* the headers table is level 1 */
	tw_key(&h, "arr");
	tv_array_letter(&h);
	size_t a = tw_begin(&h);
	put_deep(&h, 3);
	tw_end(&h, a);
	ck_assert_int_eq(table_validate(view(&h)), 0);
	struct message *m = with_headers(&h);
	struct message *c1 = dl(m, "q1", DL_EXPIRED, "dlx", NULL, T1);
	struct message *c2 = dl(c1, "q2", DL_REJECTED, "dlx", "k", T2);
	static const char *const keys[] = {"deep", "arr"};
	for (int i = 0; i < 2; i++) {
		struct bytes was, now;
		ck_assert(raw_pair(view(&h), keys[i], &was));
		ck_assert(raw_pair(headers_of(c2), keys[i], &now));
		ck_assert_uint_eq(was.len, now.len);
		ck_assert_mem_eq(was.p, now.p, was.len);
	}
	message_unref(m);
	message_unref(c1);
	message_unref(c2);
	ck_assert_uint_eq(message_live, 0);
	wb_free(&h);
}
END_TEST

/* An x-death that is no array is reset, and this counts as the first
 * death; x-first-death-* a client set on it are replaced. */
START_TEST(invalid_xdeath_reset)
{
	struct wbuf h = {0};
	tw_key(&h, "x-first-death-queue");
	tv_str(&h, "client");
	tw_key(&h, "x-death");
	tv_i32(&h, 3);
	struct message *m = with_headers(&h);
	struct message *c = dl(m, "q", DL_REJECTED, "dlx", NULL, T1);
	ck_assert_int_eq(xdeath_len(c), 1);
	assert_entry(xdeath_at(c, 0), "q", "rejected", 1, T1, "ex");
	struct bytes hd = headers_of(c);
	assert_str(hd, "x-first-death-queue", "q");
	assert_str(hd, "x-first-death-reason", "rejected");
	assert_keys(hd, "x-death,x-first-death-exchange,x-first-death-queue,x-first-death-reason,"
			"x-last-death-exchange,x-last-death-queue,x-last-death-reason");
	message_unref(m);
	message_unref(c);
	ck_assert_uint_eq(message_live, 0);
	wb_free(&h);
}
END_TEST

static void put_legacy_entry(struct wbuf *w, const char *queue, const char *reason, int count)
{
	tv_table_letter(w);
	size_t t = tw_begin(w);
	tw_key(w, "queue");
	tv_str(w, queue);
	tw_key(w, "reason");
	tv_str(w, reason);
	if (count) {
		tw_key(w, "count");
		tv_i32(w, count); /* not RabbitMQ's 'l' */
	}
	tw_end(w, t);
}

/* x-death written by a client or a pre-3.5 RabbitMQ: entries repeating a
 * (queue, reason) fold into the newest, which counts them when it has no
 * count; other count types are read and written back as 'l'; an existing
 * x-first-death-* stays. */
START_TEST(client_xdeath)
{
	struct wbuf h = {0};
	tw_key(&h, "x-first-death-queue");
	tv_str(&h, "orig");
	tw_key(&h, "x-death");
	tv_array_letter(&h);
	size_t a = tw_begin(&h);
	put_legacy_entry(&h, "q1", "expired", 0);
	put_legacy_entry(&h, "q2", "rejected", 0);
	put_legacy_entry(&h, "q1", "expired", 0);
	put_legacy_entry(&h, "q3", "maxlen", 5);
	put_legacy_entry(&h, "q2", "rejected", 9);
	tw_end(&h, a);
	struct message *m = with_headers(&h);

	struct message *c = dl(m, "q1", DL_EXPIRED, "dlx", NULL, T1);
	ck_assert_int_eq(xdeath_len(c), 3);
	struct bytes e0 = xdeath_at(c, 0), e1 = xdeath_at(c, 1), e2 = xdeath_at(c, 2);
	assert_keys(e0, "count,queue,reason");
	assert_long(e0, "count", 3); /* two old ones, plus this death */
	assert_str(e0, "queue", "q1");
	assert_keys(e1, "count,queue,reason");
	assert_long(e1, "count", 2); /* the newer q2 entry, counting both */
	assert_str(e1, "queue", "q2");
	assert_keys(e2, "queue,reason,count");
	struct fvalue v;
	ck_assert(table_get(e2, "count", &v));
	ck_assert_int_eq(v.type, 'I'); /* untouched */
	ck_assert_int_eq(v.v.i, 5);
	struct bytes hd = headers_of(c);
	assert_str(hd, "x-first-death-queue", "orig");
	assert_absent(hd, "x-first-death-reason");
	assert_str(hd, "x-last-death-queue", "q1");

	/* q3/maxlen: its 'I' count 5 moves to the front as 'l' 6, in place. */
	struct message *c2 = dl(m, "q3", DL_MAXLEN, "dlx", NULL, T1);
	struct bytes f0 = xdeath_at(c2, 0);
	assert_keys(f0, "queue,reason,count");
	assert_long(f0, "count", 6);
	ck_assert_int_eq(xdeath_len(c2), 3);
	assert_str(xdeath_at(c2, 1), "queue", "q1");
	assert_long(xdeath_at(c2, 1), "count", 2);
	assert_str(xdeath_at(c2, 2), "queue", "q2");

	/* An empty x-death array: a new entry, but no x-first-death. */
	struct wbuf h2 = {0};
	tw_key(&h2, "x-death");
	tv_array_letter(&h2);
	tw_end(&h2, tw_begin(&h2));
	struct message *m2 = with_headers(&h2);
	struct message *c3 = dl(m2, "q", DL_EXPIRED, "dlx", NULL, T1);
	ck_assert_int_eq(xdeath_len(c3), 1);
	assert_entry(xdeath_at(c3, 0), "q", "expired", 1, T1, "ex");
	assert_absent(headers_of(c3), "x-first-death-queue");
	assert_str(headers_of(c3), "x-last-death-queue", "q");

	struct message *ms[] = {m, c, c2, m2, c3};
	for (int i = 0; i < 5; i++)
		message_unref(ms[i]);
	ck_assert_uint_eq(message_live, 0);
	wb_free(&h);
	wb_free(&h2);
}
END_TEST

/* Names longer than message_new keeps are cut, not overflowed. */
START_TEST(long_names_cut)
{
	char name[301];
	memset(name, 'n', 300);
	name[300] = 0;
	struct message *m = plain();
	struct message *c = dl(m, name, DL_EXPIRED, name, name, T1);
	ck_assert_uint_eq(c->exchange_len, 255);
	ck_assert_uint_eq(c->rkey_len, 255);
	assert_str(xdeath_at(c, 0), "queue", name); /* a longstr keeps it all */
	ck_assert(deadletter_is_cycle(c, name));
	ck_assert_uint_eq(c->body_size, 1);
	ck_assert_int_eq(message_body(c)[0], 'x');
	message_unref(m);
	message_unref(c);
	ck_assert_uint_eq(message_live, 0);
}
END_TEST

static Suite *deadletter_suite(void)
{
	Suite *s = suite_create("deadletter");
	TCase *cp = tcase_create("copy");
	tcase_add_test(cp, first_death);
	tcase_add_test(cp, second_death_same_pair);
	tcase_add_test(cp, entry_order);
	tcase_add_test(cp, routing_keys_cc_bcc);
	tcase_add_test(cp, dl_rkey_override);
	tcase_add_test(cp, no_headers);
	tcase_add_test(cp, deep_headers_kept);
	tcase_add_test(cp, invalid_xdeath_reset);
	tcase_add_test(cp, client_xdeath);
	tcase_add_test(cp, long_names_cut);
	suite_add_tcase(s, cp);
	TCase *cy = tcase_create("cycle");
	tcase_add_test(cy, cycle_expired_twice);
	tcase_add_test(cy, cycle_broken_by_reject);
	tcase_add_test(cy, cycle_odd_headers);
	suite_add_tcase(s, cy);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(deadletter_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
