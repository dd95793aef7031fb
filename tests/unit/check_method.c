/* check_method.c — unit tests for protocol/method.c and the generated
 * method table: every method of method_table round-trips (encode, decode,
 * compare field by field, re-encode to the same bytes) under several bit
 * patterns; bit packing is checked against hand-written bytes; the real
 * handshakes and publishes of pika and rabbitmq-c decode to the values
 * they sent and re-encode byte for byte; and every method truncated at
 * every offset, with trailing bytes or unknown ids, is rejected. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>

#include "protocol/frame.h"
#include "protocol/method.h"
#include "protocol/table.h"
#include "tests/unit/golden.h"

/* ---- filling any method from its descriptors ---- */

#define MAXF 16

/* Backing store for the string and table fields of one filled method. */
struct fill {
	uint8_t str[MAXF][300];
	struct wbuf table[MAXF];
};

static void fill_free(struct fill *s)
{
	for (int i = 0; i < MAXF; i++)
		wb_free(&s->table[i]);
}

/* Sets every field of m (method d) to a value that depends on the field's
 * position and `seed`, so no two fields and no two seeds look alike; bit
 * fields take bit k of `bits`, k counting the method's bit fields. Long
 * seeds make the longest shortstr (255) and a longstr past 256. */
static void fill_method(struct amqp_method *m, const struct method_desc *d, uint32_t bits,
			unsigned seed, struct fill *s)
{
	memset(m, 0, sizeof *m);
	m->id = d->id;
	uint8_t *base = (uint8_t *)&m->a;
	unsigned nbit = 0;
	ck_assert_uint_le(d->nfields, MAXF);
	for (unsigned i = 0; i < d->nfields; i++) {
		const struct field_desc *f = &d->fields[i];
		void *dst = base + f->offset;
		unsigned k = i * 37 + seed * 11;
		switch (f->type) {
		case FT_OCTET: *(uint8_t *)dst = (uint8_t)(0xA1 + k); break;
		case FT_SHORT: *(uint16_t *)dst = (uint16_t)(0xBE01 + k); break;
		case FT_LONG: *(uint32_t *)dst = 0xDEAD0001u + k; break;
		case FT_LONGLONG:
		case FT_TIMESTAMP: *(uint64_t *)dst = 0x8123456789AB0001ull + k; break;
		case FT_BIT: *(bool *)dst = (bits >> nbit++) & 1; break;
		case FT_SHORTSTR: {
			uint32_t n = seed % 3 == 2 ? 255 : (uint32_t)(strlen(f->name) + seed % 5);
			for (uint32_t j = 0; j < n; j++)
				s->str[i][j] = (uint8_t)(f->name[j % strlen(f->name)] + seed);
			*(struct bytes *)dst = (struct bytes){s->str[i], n};
			break;
		}
		case FT_LONGSTR: {
			uint32_t n = seed % 3 == 2 ? 300 : 3 + seed % 7;
			for (uint32_t j = 0; j < n; j++)
				s->str[i][j] = (uint8_t)(j * 97 + k); /* NULs and 0xFF included */
			*(struct bytes *)dst = (struct bytes){s->str[i], n};
			break;
		}
		case FT_TABLE: {
			struct wbuf *w = &s->table[i];
			w->len = 0;
			size_t t = tw_begin(w);
			tw_key(w, "field"), tv_str(w, f->name);
			tw_key(w, "k"), tv_i64(w, (int64_t)k - 1000);
			tw_key(w, "inner"), tv_table_letter(w);
			size_t t2 = tw_begin(w);
			tw_key(w, "on"), tv_bool(w, seed & 1);
			tw_end(w, t2);
			tw_end(w, t);
			*(struct bytes *)dst = (struct bytes){w->p + 4, (uint32_t)(w->len - 4)};
			break;
		}
		}
	}
}

static unsigned count_bits(const struct method_desc *d)
{
	unsigned n = 0;
	for (unsigned i = 0; i < d->nfields; i++)
		n += d->fields[i].type == FT_BIT;
	return n;
}

/* The payload size the spec gives for m: 4 octets of ids, each field's own
 * size, and one octet per started group of 8 consecutive bits. */
static size_t expected_len(const struct amqp_method *m, const struct method_desc *d)
{
	const uint8_t *base = (const uint8_t *)&m->a;
	size_t n = 4;
	unsigned run = 0;
	for (unsigned i = 0; i < d->nfields; i++) {
		const struct field_desc *f = &d->fields[i];
		const struct bytes *b = (const struct bytes *)(base + f->offset);
		if (f->type == FT_BIT) {
			if (run++ % 8 == 0)
				n++;
			continue;
		}
		run = 0;
		switch (f->type) {
		case FT_OCTET: n += 1; break;
		case FT_SHORT: n += 2; break;
		case FT_LONG: n += 4; break;
		case FT_LONGLONG:
		case FT_TIMESTAMP: n += 8; break;
		case FT_SHORTSTR: n += 1 + b->len; break;
		case FT_LONGSTR:
		case FT_TABLE: n += 4 + b->len; break;
		}
	}
	return n;
}

/* Asserts a and b hold the same arguments of method d, field by field;
 * string views of b must lie inside [lo, hi), the buffer it was decoded
 * from, since decoding borrows rather than copies. */
static void assert_same(const struct amqp_method *a, const struct amqp_method *b,
			const struct method_desc *d, const uint8_t *lo, const uint8_t *hi)
{
	ck_assert_uint_eq(a->id, b->id);
	const uint8_t *pa = (const uint8_t *)&a->a, *pb = (const uint8_t *)&b->a;
	for (unsigned i = 0; i < d->nfields; i++) {
		const struct field_desc *f = &d->fields[i];
		const void *x = pa + f->offset, *y = pb + f->offset;
		switch (f->type) {
		case FT_OCTET: ck_assert_uint_eq(*(const uint8_t *)x, *(const uint8_t *)y); break;
		case FT_SHORT: ck_assert_uint_eq(*(const uint16_t *)x, *(const uint16_t *)y); break;
		case FT_LONG: ck_assert_uint_eq(*(const uint32_t *)x, *(const uint32_t *)y); break;
		case FT_LONGLONG:
		case FT_TIMESTAMP:
			ck_assert_uint_eq(*(const uint64_t *)x, *(const uint64_t *)y);
			break;
		case FT_BIT:
			ck_assert_msg(*(const bool *)x == *(const bool *)y, "%s.%s", d->name,
				      f->name);
			break;
		default: {
			const struct bytes *s = x, *t = y;
			ck_assert_msg(s->len == t->len, "%s.%s: %u vs %u", d->name, f->name, s->len,
				      t->len);
			if (s->len)
				ck_assert_mem_eq(s->p, t->p, s->len);
			if (t->len)
				ck_assert(t->p >= lo && t->p + t->len <= hi);
		}
		}
	}
}

/* One round trip of m: encode, check the size, decode from an exact-size
 * copy, compare, and re-encode to the same bytes. */
static void round_trip(const struct amqp_method *m, const struct method_desc *d)
{
	struct wbuf w = {0}, w2 = {0};
	method_encode(&w, m);
	ck_assert_msg(w.len == expected_len(m, d), "%s: %zu octets", d->name, w.len);
	ck_assert_uint_eq(get32(w.p), d->id);
	uint8_t *p = dup_exact(w.p, w.len);
	struct amqp_method back;
	memset(&back, 0xA5, sizeof back);
	ck_assert_msg(method_decode(p, w.len, &back) == 0, "%s does not decode", d->name);
	assert_same(m, &back, d, p, p + w.len);
	method_encode(&w2, &back);
	ck_assert_uint_eq(w2.len, w.len);
	ck_assert_mem_eq(w2.p, w.p, w.len);
	free(p);
	wb_free(&w);
	wb_free(&w2);
}

START_TEST(table_sorted_and_found)
{
	ck_assert_uint_eq(method_table_len, 64);
	for (unsigned i = 0; i < method_table_len; i++) {
		const struct method_desc *d = &method_table[i];
		if (i)
			ck_assert_msg(method_table[i - 1].id < d->id, "%s out of order", d->name);
		ck_assert_ptr_eq(method_find(d->id), d);
		ck_assert_str_eq(method_name(d->id), d->name);
		ck_assert_ptr_nonnull(strchr(d->name, '.'));
		ck_assert((d->nfields == 0) == (d->fields == NULL));
		for (unsigned j = 0; j < d->nfields; j++)
			ck_assert_uint_lt(d->fields[j].offset, sizeof(union amqp_args));
	}
	ck_assert_ptr_null(method_find(0));
	ck_assert_ptr_null(method_find(METHOD_ID(10, 12)));
	ck_assert_ptr_null(method_find(0xFFFFFFFFu));
	ck_assert_str_eq(method_name(METHOD_ID(99, 1)), "unknown");
	ck_assert_str_eq(method_name(AMQP_BASIC_PUBLISH), "basic.publish");
	ck_assert_uint_eq(METHOD_CLASS(AMQP_BASIC_PUBLISH), 60);
	ck_assert_uint_eq(METHOD_INDEX(AMQP_BASIC_PUBLISH), 40);
}
END_TEST

/* Flags that the broker's dispatch depends on. */
START_TEST(table_flags)
{
	ck_assert_uint_eq(method_find(AMQP_BASIC_PUBLISH)->flags, METHOD_CONTENT);
	ck_assert_uint_eq(method_find(AMQP_BASIC_DELIVER)->flags, METHOD_CONTENT);
	ck_assert_uint_eq(method_find(AMQP_BASIC_RETURN)->flags, METHOD_CONTENT);
	ck_assert_uint_eq(method_find(AMQP_BASIC_GET_OK)->flags, METHOD_CONTENT | METHOD_SYNC);
	ck_assert_uint_eq(method_find(AMQP_QUEUE_DECLARE)->flags, METHOD_SYNC);
	ck_assert_uint_eq(method_find(AMQP_BASIC_ACK)->flags, 0);
	ck_assert_uint_eq(method_find(AMQP_EXCHANGE_UNBIND_OK)->id, METHOD_ID(40, 51));
	ck_assert_uint_eq(method_find(AMQP_QUEUE_DECLARE)->nfields, 8);
	ck_assert_uint_eq(count_bits(method_find(AMQP_QUEUE_DECLARE)), 5);
	ck_assert_uint_eq(count_bits(method_find(AMQP_EXCHANGE_DECLARE)), 5);
	ck_assert_uint_eq(count_bits(method_find(AMQP_BASIC_CONSUME)), 4);
}
END_TEST

/* Every method, every bit pattern that matters (none, all, alternating,
 * each bit alone), three seeds for the other fields. */
START_TEST(round_trip_every_method)
{
	unsigned trips = 0;
	for (unsigned i = 0; i < method_table_len; i++) {
		const struct method_desc *d = &method_table[i];
		unsigned nb = count_bits(d);
		uint32_t patterns[40] = {0, 0xFFFFFFFFu, 0x55555555u, 0xAAAAAAAAu};
		unsigned np = 4;
		for (unsigned b = 0; b < nb; b++)
			patterns[np++] = 1u << b;
		for (unsigned p = 0; p < np; p++) {
			for (unsigned seed = 0; seed < 3; seed++) {
				struct fill s = {0};
				struct amqp_method m;
				fill_method(&m, d, patterns[p], seed, &s);
				round_trip(&m, d);
				fill_free(&s);
				trips++;
			}
		}
	}
	ck_assert_uint_ge(trips, method_table_len * 12);
}
END_TEST

/* method_put frames the payload; frame_parse gets it back. */
START_TEST(method_put_frames)
{
	for (unsigned i = 0; i < method_table_len; i++) {
		const struct method_desc *d = &method_table[i];
		struct fill s = {0};
		struct amqp_method m, back;
		fill_method(&m, d, 0x5, i, &s);
		struct wbuf w = {0};
		method_put(&w, (uint16_t)(i * 1000), &m);
		struct frame f;
		ck_assert_int_eq(frame_parse(w.p, w.len, 131072, &f), (long)w.len);
		ck_assert_uint_eq(f.type, FRAME_METHOD);
		ck_assert_uint_eq(f.channel, (uint16_t)(i * 1000));
		ck_assert_int_eq(method_decode(f.payload, f.size, &back), 0);
		assert_same(&m, &back, d, w.p, w.p + w.len);
		wb_free(&w);
		fill_free(&s);
	}
}
END_TEST

static void assert_payload(const struct amqp_method *m, const uint8_t *want, size_t n)
{
	struct wbuf w = {0};
	method_encode(&w, m);
	ck_assert_uint_eq(w.len, n);
	ck_assert_mem_eq(w.p, want, n);
	struct amqp_method back;
	uint8_t *p = dup_exact(want, n);
	ck_assert_int_eq(method_decode(p, n, &back), 0);
	assert_same(m, &back, method_find(m->id), p, p + n);
	free(p);
	wb_free(&w);
}

/* queue.declare: passive, durable, exclusive, auto-delete, no-wait are
 * bits 0..4 of one octet (spec §4.2.5.2). */
START_TEST(bits_queue_declare)
{
	struct amqp_method m = {.id = AMQP_QUEUE_DECLARE};
	struct amqp_queue_declare *q = &m.a.queue_declare;
	q->queue = bytes_of("q1");
	q->passive = true, q->exclusive = true, q->no_wait = true;
	static const uint8_t want[] = {0, 50, 0, 10, 0, 0, 2, 'q', '1', 0x15, 0, 0, 0, 0};
	assert_payload(&m, want, sizeof want);
	q->passive = false, q->exclusive = false, q->no_wait = false;
	q->durable = true, q->auto_delete = true;
	static const uint8_t want2[] = {0, 50, 0, 10, 0, 0, 2, 'q', '1', 0x0A, 0, 0, 0, 0};
	assert_payload(&m, want2, sizeof want2);
}
END_TEST

START_TEST(bits_exchange_declare)
{
	struct amqp_method m = {.id = AMQP_EXCHANGE_DECLARE};
	struct amqp_exchange_declare *x = &m.a.exchange_declare;
	x->reserved_1 = 0x0102;
	x->exchange = bytes_of("x");
	x->type = bytes_of("topic");
	x->durable = true, x->auto_delete = true, x->no_wait = true;
	static const uint8_t want[] = {0, 40, 0, 10, 1, 2, 1, 'x', 5, 't', 'o', 'p', 'i', 'c',
				       0x16, 0, 0, 0, 0};
	assert_payload(&m, want, sizeof want);
	x->durable = x->auto_delete = x->no_wait = false;
	x->passive = x->internal = true;
	static const uint8_t want2[] = {0, 40, 0, 10, 1, 2, 1, 'x', 5, 't', 'o', 'p', 'i', 'c',
					0x09, 0, 0, 0, 0};
	assert_payload(&m, want2, sizeof want2);
}
END_TEST

/* A lone bit between other fields takes an octet of its own; two bits at
 * the end share one. */
START_TEST(bits_between_fields)
{
	struct amqp_method m = {.id = AMQP_BASIC_DELIVER};
	struct amqp_basic_deliver *d = &m.a.basic_deliver;
	d->consumer_tag = bytes_of("c");
	d->delivery_tag = 0x0102030405060708ull;
	d->redelivered = true;
	d->exchange = bytes_of("");
	d->routing_key = bytes_of("rk");
	static const uint8_t want[] = {0, 60, 0, 60, 1, 'c', 1, 2, 3, 4, 5, 6, 7, 8,
				       1, 0, 2, 'r', 'k'};
	assert_payload(&m, want, sizeof want);

	struct amqp_method n = {.id = AMQP_BASIC_NACK};
	n.a.basic_nack.delivery_tag = 9;
	n.a.basic_nack.requeue = true;
	static const uint8_t want2[] = {0, 60, 0, 120, 0, 0, 0, 0, 0, 0, 0, 9, 0x02};
	assert_payload(&n, want2, sizeof want2);

	struct amqp_method c = {.id = AMQP_BASIC_CONSUME};
	c.a.basic_consume.queue = bytes_of("q");
	c.a.basic_consume.consumer_tag = bytes_of("");
	c.a.basic_consume.no_ack = true, c.a.basic_consume.no_wait = true;
	static const uint8_t want3[] = {0, 60, 0, 20, 0, 0, 1, 'q', 0, 0x0A, 0, 0, 0, 0};
	assert_payload(&c, want3, sizeof want3);
}
END_TEST

/* Octet bits no field uses are ignored on input (and not sent back). */
START_TEST(bits_unused_ignored)
{
	static const uint8_t in[] = {0, 50, 0, 10, 0, 0, 1, 'q', 0xE0 | 0x11, 0, 0, 0, 0};
	struct amqp_method m;
	ck_assert_int_eq(method_decode(in, sizeof in, &m), 0);
	ck_assert(m.a.queue_declare.passive);
	ck_assert(!m.a.queue_declare.durable);
	ck_assert(!m.a.queue_declare.exclusive);
	ck_assert(!m.a.queue_declare.auto_delete);
	ck_assert(m.a.queue_declare.no_wait);
	struct wbuf w = {0};
	method_encode(&w, &m);
	ck_assert_uint_eq(w.p[8], 0x11);
	wb_free(&w);
}
END_TEST

/* The frames of a golden client stream, in order, as method structs. */
struct golden {
	uint8_t *buf;
	size_t len;
	struct frame f[12];
	struct amqp_method m[12];
	int n;
};

static void golden_open(struct golden *g, const char *name)
{
	g->buf = golden_load(name, &g->len);
	size_t off = memcmp(g->buf, "AMQP", 4) == 0 ? PROTOCOL_HEADER_LEN : 0;
	g->n = 0;
	while (off < g->len) {
		ck_assert_int_lt(g->n, 12);
		struct frame *f = &g->f[g->n];
		long r = frame_parse(g->buf + off, g->len - off, 131072, f);
		ck_assert_int_gt(r, 0);
		if (f->type == FRAME_METHOD)
			ck_assert_int_eq(method_decode(f->payload, f->size, &g->m[g->n]), 0);
		off += (size_t)r;
		g->n++;
	}
}

/* Every method frame of the stream re-encodes to its own bytes, payload
 * and whole frame. */
static void golden_reencode(const struct golden *g)
{
	for (int i = 0; i < g->n; i++) {
		const struct frame *f = &g->f[i];
		if (f->type != FRAME_METHOD)
			continue;
		struct wbuf w = {0};
		method_encode(&w, &g->m[i]);
		ck_assert_uint_eq(w.len, f->size);
		ck_assert_mem_eq(w.p, f->payload, f->size);
		w.len = 0;
		method_put(&w, f->channel, &g->m[i]);
		ck_assert_uint_eq(w.len, f->size + FRAME_OVERHEAD);
		ck_assert_mem_eq(w.p, f->payload - 7, w.len);
		wb_free(&w);
	}
}

static void assert_bytes(struct bytes b, const char *want, size_t n)
{
	ck_assert_uint_eq(b.len, n);
	if (n)
		ck_assert_mem_eq(b.p, want, n);
}

/* The handshake both clients share (start-ok aside). */
static void assert_handshake(const struct golden *g)
{
	const struct amqp_method *m = g->m;
	ck_assert_uint_eq(m[0].id, AMQP_CONNECTION_START_OK);
	const struct amqp_connection_start_ok *so = &m[0].a.connection_start_ok;
	ck_assert(bytes_eq(so->mechanism, "PLAIN"));
	assert_bytes(so->response, "\0guest\0guest", 12);
	ck_assert(bytes_eq(so->locale, "en_US"));
	ck_assert_int_eq(table_validate(so->client_properties), 0);

	ck_assert_uint_eq(m[1].id, AMQP_CONNECTION_TUNE_OK);
	ck_assert_uint_eq(m[1].a.connection_tune_ok.channel_max, 2047);
	ck_assert_uint_eq(m[1].a.connection_tune_ok.frame_max, 131072);
	ck_assert_uint_eq(m[1].a.connection_tune_ok.heartbeat, 0);

	ck_assert_uint_eq(m[2].id, AMQP_CONNECTION_OPEN);
	ck_assert(bytes_eq(m[2].a.connection_open.virtual_host, "/"));
	ck_assert(bytes_eq(m[2].a.connection_open.reserved_1, ""));

	ck_assert_uint_eq(m[3].id, AMQP_CHANNEL_OPEN);
	ck_assert_uint_eq(g->f[3].channel, 1);
	ck_assert(bytes_eq(m[3].a.channel_open.reserved_1, ""));

	ck_assert_uint_eq(m[4].id, AMQP_BASIC_PUBLISH);
	ck_assert_uint_eq(m[4].a.basic_publish.reserved_1, 0);
	ck_assert(!m[4].a.basic_publish.mandatory);
	ck_assert(!m[4].a.basic_publish.immediate);

	ck_assert_uint_eq(m[7].id, AMQP_CHANNEL_CLOSE);
	ck_assert_uint_eq(m[7].a.channel_close.reply_code, 200);
	ck_assert_uint_eq(m[8].id, AMQP_CONNECTION_CLOSE);
	ck_assert_uint_eq(m[8].a.connection_close.reply_code, 200);
	ck_assert_uint_eq(m[8].a.connection_close.class_id, 0);
	ck_assert_uint_eq(m[8].a.connection_close.method_id, 0);
}

START_TEST(golden_pika)
{
	struct golden g;
	golden_open(&g, "pika.client.bin");
	ck_assert_int_eq(g.n, 9);
	assert_handshake(&g);
	struct fvalue v;
	ck_assert(table_get(g.m[0].a.connection_start_ok.client_properties, "product", &v));
	ck_assert(bytes_eq(v.v.s, "Pika Python Client Library"));
	ck_assert(g.m[2].a.connection_open.reserved_2); /* pika sends insist=1 */
	ck_assert(bytes_eq(g.m[4].a.basic_publish.exchange, "amq.direct"));
	ck_assert(bytes_eq(g.m[4].a.basic_publish.routing_key, "golden.key"));
	ck_assert(bytes_eq(g.m[7].a.channel_close.reply_text, "Normal shutdown"));
	golden_reencode(&g);
	free(g.buf);
}
END_TEST

START_TEST(golden_rabbitmq_c)
{
	struct golden g;
	golden_open(&g, "amqp_publish.client.bin");
	ck_assert_int_eq(g.n, 9);
	assert_handshake(&g);
	struct fvalue v;
	ck_assert(table_get(g.m[0].a.connection_start_ok.client_properties, "product", &v));
	ck_assert(bytes_eq(v.v.s, "rabbitmq-c"));
	ck_assert(g.m[2].a.connection_open.reserved_2);
	ck_assert(bytes_eq(g.m[4].a.basic_publish.exchange, "amq.topic"));
	ck_assert(bytes_eq(g.m[4].a.basic_publish.routing_key, "golden.topic"));
	ck_assert(bytes_eq(g.m[7].a.channel_close.reply_text, "200"));
	golden_reencode(&g);
	free(g.buf);
}
END_TEST

START_TEST(golden_rabbitmq_server)
{
	struct golden g;
	golden_open(&g, "pika.server.bin");
	ck_assert_int_eq(g.n, 6);
	const struct amqp_connection_start *st = &g.m[0].a.connection_start;
	ck_assert_uint_eq(g.m[0].id, AMQP_CONNECTION_START);
	ck_assert_uint_eq(st->version_major, 0);
	ck_assert_uint_eq(st->version_minor, 9);
	ck_assert(bytes_eq(st->mechanisms, "AMQPLAIN PLAIN"));
	ck_assert(bytes_eq(st->locales, "en_US"));
	ck_assert_uint_eq(g.m[1].id, AMQP_CONNECTION_TUNE);
	ck_assert_uint_eq(g.m[1].a.connection_tune.channel_max, 2047);
	ck_assert_uint_eq(g.m[1].a.connection_tune.frame_max, 131072);
	ck_assert_uint_eq(g.m[1].a.connection_tune.heartbeat, 60);
	ck_assert_uint_eq(g.m[2].id, AMQP_CONNECTION_OPEN_OK);
	ck_assert_uint_eq(g.m[3].id, AMQP_CHANNEL_OPEN_OK);
	ck_assert_uint_eq(g.m[3].a.channel_open_ok.reserved_1.len, 0);
	ck_assert_uint_eq(g.m[4].id, AMQP_CHANNEL_CLOSE_OK);
	ck_assert_uint_eq(g.m[5].id, AMQP_CONNECTION_CLOSE_OK);
	golden_reencode(&g);
	free(g.buf);
}
END_TEST

/* Every method, encoded with full fields, cut at every offset: 502, and
 * nothing read past the cut. The same bytes plus one trailing octet: 502. */
START_TEST(truncated_every_method)
{
	for (unsigned i = 0; i < method_table_len; i++) {
		const struct method_desc *d = &method_table[i];
		struct fill s = {0};
		struct amqp_method m, out;
		fill_method(&m, d, 0xFF, 1, &s);
		struct wbuf w = {0};
		method_encode(&w, &m);
		for (size_t n = 0; n < w.len; n++) {
			uint8_t *p = dup_exact(w.p, n);
			int rc = method_decode(p, n, &out);
			ck_assert_msg(rc == AMQP_SYNTAX_ERROR, "%s cut at %zu: %d", d->name, n, rc);
			free(p);
		}
		static const uint8_t extra[] = {0x00, 0xCE, 0xFF};
		for (size_t e = 0; e < sizeof extra; e++) {
			uint8_t *p = malloc(w.len + 1);
			memcpy(p, w.p, w.len);
			p[w.len] = extra[e];
			ck_assert_int_eq(method_decode(p, w.len + 1, &out), AMQP_SYNTAX_ERROR);
			free(p);
		}
		wb_free(&w);
		fill_free(&s);
	}
}
END_TEST

/* Unknown class or method id: 540, whatever follows. */
START_TEST(unknown_ids)
{
	unsigned unknown = 0;
	for (unsigned cls = 0; cls < 256; cls++) {
		for (unsigned idx = 0; idx < 256; idx++) {
			if (method_find(METHOD_ID(cls, idx)))
				continue;
			uint8_t p[8] = {0, (uint8_t)cls, 0, (uint8_t)idx, 1, 2, 3, 4};
			ck_assert_int_eq(method_decode(p, 4, &(struct amqp_method){0}), 540);
			ck_assert_int_eq(method_decode(p, 8, &(struct amqp_method){0}), 540);
			unknown++;
		}
	}
	ck_assert_uint_eq(unknown, 65536 - method_table_len);
	static const uint8_t high[] = {0xFF, 0xFF, 0xFF, 0xFF};
	static const uint8_t access[] = {0, 30, 0, 10, 0}; /* access.request, gone in 0-9-1 */
	struct amqp_method m;
	ck_assert_int_eq(method_decode(high, 4, &m), AMQP_NOT_IMPLEMENTED);
	ck_assert_int_eq(method_decode(access, 5, &m), AMQP_NOT_IMPLEMENTED);
	ck_assert_uint_eq(m.id, METHOD_ID(30, 10));

	struct wbuf w = {0};
	method_encode(&w, &(struct amqp_method){.id = METHOD_ID(30, 10)});
	ck_assert_uint_eq(w.len, 4);
	wb_free(&w);
}
END_TEST

static int decode_copy(const void *bytes, size_t n)
{
	uint8_t *p = dup_exact(bytes, n);
	struct amqp_method m;
	int rc = method_decode(p, n, &m);
	free(p);
	return rc;
}

/* Strings claiming more than the frame holds; tables malformed inside. */
START_TEST(bad_lengths)
{
	/* basic.publish whose routing key claims 200 octets of 3. */
	static const uint8_t pub[] = {0, 60, 0, 40, 0, 0, 1, 'x', 200, 'a', 'b', 'c'};
	ck_assert_int_eq(decode_copy(pub, sizeof pub), 502);
	/* connection.secure-ok whose response claims 2^32-1 octets. */
	static const uint8_t sec[] = {0, 10, 0, 21, 0xFF, 0xFF, 0xFF, 0xFF, 'x'};
	ck_assert_int_eq(decode_copy(sec, sizeof sec), 502);
	/* queue.declare with arguments claiming 0xFFFFFFF0 octets. */
	static const uint8_t qd[] = {0, 50, 0, 10, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xF0};
	ck_assert_int_eq(decode_copy(qd, sizeof qd), 502);
	/* queue.declare with arguments {"k": Z} (no such type). */
	static const uint8_t qz[] = {0, 50, 0, 10, 0, 0, 0, 0, 0, 0, 0, 3, 1, 'k', 'Z'};
	ck_assert_int_eq(decode_copy(qz, sizeof qz), 502);
	/* The same with a valid {"k": V}: accepted. */
	static const uint8_t qv[] = {0, 50, 0, 10, 0, 0, 0, 0, 0, 0, 0, 3, 1, 'k', 'V'};
	ck_assert_int_eq(decode_copy(qv, sizeof qv), 0);
	/* Ids alone, cut inside the class or method id. */
	ck_assert_int_eq(decode_copy(pub, 0), 502);
	ck_assert_int_eq(decode_copy(pub, 3), 502);
}
END_TEST

/* queue.declare arguments nested one level past TABLE_MAX_DEPTH: 502;
 * exactly at the limit: accepted. */
START_TEST(nesting_in_arguments)
{
	for (int depth = TABLE_MAX_DEPTH; depth <= TABLE_MAX_DEPTH + 1; depth++) {
		struct wbuf w = {0};
		wb_u32(&w, AMQP_QUEUE_DECLARE);
		wb_u16(&w, 0);
		wb_shortstr(&w, bytes_of("q"));
		wb_u8(&w, 0);
		size_t t[TABLE_MAX_DEPTH + 2];
		for (int i = 0; i < depth; i++) {
			if (i)
				tw_key(&w, "n"), tv_table_letter(&w);
			t[i] = tw_begin(&w);
		}
		for (int i = depth - 1; i >= 0; i--)
			tw_end(&w, t[i]);
		int want = depth > TABLE_MAX_DEPTH ? 502 : 0;
		ck_assert_int_eq(decode_copy(w.p, w.len), want);
		wb_free(&w);
	}
}
END_TEST

/* A shortstr longer than 255 cannot be sent; the encoder cuts it to 255
 * so the frame stays well-formed. */
START_TEST(long_shortstr_cut)
{
	char key[300];
	memset(key, 'r', sizeof key);
	struct amqp_method m = {.id = AMQP_BASIC_PUBLISH};
	m.a.basic_publish.exchange = bytes_of("e");
	m.a.basic_publish.routing_key = (struct bytes){(const uint8_t *)key, sizeof key};
	struct wbuf w = {0};
	method_encode(&w, &m);
	struct amqp_method back;
	ck_assert_int_eq(method_decode(w.p, w.len, &back), 0);
	ck_assert_uint_eq(back.a.basic_publish.routing_key.len, 255);
	wb_free(&w);
}
END_TEST

static Suite *method_suite(void)
{
	Suite *s = suite_create("method");
	TCase *t = tcase_create("table");
	tcase_add_test(t, table_sorted_and_found);
	tcase_add_test(t, table_flags);
	suite_add_tcase(s, t);

	TCase *r = tcase_create("roundtrip");
	tcase_set_timeout(r, 30);
	tcase_add_test(r, round_trip_every_method);
	tcase_add_test(r, method_put_frames);
	tcase_add_test(r, bits_queue_declare);
	tcase_add_test(r, bits_exchange_declare);
	tcase_add_test(r, bits_between_fields);
	tcase_add_test(r, bits_unused_ignored);
	tcase_add_test(r, long_shortstr_cut);
	suite_add_tcase(s, r);

	TCase *g = tcase_create("golden");
	tcase_add_test(g, golden_pika);
	tcase_add_test(g, golden_rabbitmq_c);
	tcase_add_test(g, golden_rabbitmq_server);
	suite_add_tcase(s, g);

	TCase *m = tcase_create("malformed");
	tcase_set_timeout(m, 30);
	tcase_add_test(m, truncated_every_method);
	tcase_add_test(m, unknown_ids);
	tcase_add_test(m, bad_lengths);
	tcase_add_test(m, nesting_in_arguments);
	suite_add_tcase(s, m);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(method_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
