/* check_props.c — unit tests for protocol/props.c: the content headers of
 * real pika and rabbitmq-c publishes decoded and re-encoded byte for byte,
 * every basic property alone and all together, and malformed headers
 * (cut at every offset, trailing bytes, the continuation flag, bad
 * header tables) rejected with 502. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>

#include "protocol/frame.h"
#include "protocol/props.h"
#include "protocol/table.h"
#include "tests/unit/golden.h"

/* Finds the header frame of a golden client stream and the body frame
 * right after it. */
static void golden_content(const uint8_t *buf, size_t len, struct frame *hdr, struct frame *body)
{
	size_t off = PROTOCOL_HEADER_LEN;
	hdr->type = 0;
	while (off < len) {
		struct frame f;
		long n = frame_parse(buf + off, len - off, 131072, &f);
		ck_assert_int_gt(n, 0);
		if (f.type == FRAME_HEADER)
			*hdr = f;
		else if (f.type == FRAME_BODY && hdr->type == FRAME_HEADER)
			*body = f;
		off += (size_t)n;
	}
	ck_assert_uint_eq(hdr->type, FRAME_HEADER);
	ck_assert_uint_eq(body->type, FRAME_BODY);
}

/* The header must re-encode byte for byte, both through props_encode and
 * as a whole frame through content_header_put. */
static void assert_reencodes(const struct frame *f, const struct content_header *h)
{
	struct wbuf w = {0};
	props_encode(&w, &h->props);
	ck_assert_uint_eq(w.len, h->raw_props.len);
	ck_assert_mem_eq(w.p, h->raw_props.p, w.len);
	w.len = 0;
	content_header_put(&w, f->channel, h->class_id, h->body_size, h->raw_props);
	ck_assert_uint_eq(w.len, f->size + FRAME_OVERHEAD);
	ck_assert_mem_eq(w.p, f->payload - 7, w.len);
	wb_free(&w);
}

START_TEST(golden_pika)
{
	size_t len;
	uint8_t *buf = golden_load("pika.client.bin", &len);
	struct frame hf, bf;
	golden_content(buf, len, &hf, &bf);
	struct content_header h;
	ck_assert_int_eq(content_header_decode(hf.payload, hf.size, &h), 0);
	ck_assert_uint_eq(h.class_id, 60);
	ck_assert_uint_eq(h.body_size, 19);
	ck_assert_uint_eq(bf.size, h.body_size);
	ck_assert_mem_eq(bf.payload, "hello, golden world", 19);
	ck_assert_ptr_eq(h.raw_props.p, hf.payload + 12);
	ck_assert_uint_eq(h.raw_props.len, hf.size - 12);

	const struct amqp_props *p = &h.props;
	ck_assert_uint_eq(p->flags, PROP_CONTENT_TYPE | PROP_HEADERS | PROP_DELIVERY_MODE |
					    PROP_PRIORITY | PROP_MESSAGE_ID);
	ck_assert(bytes_eq(p->content_type, "text/plain"));
	ck_assert_uint_eq(p->delivery_mode, 2);
	ck_assert_uint_eq(p->priority, 3);
	ck_assert(bytes_eq(p->message_id, "m-1"));
	ck_assert_uint_eq(p->content_encoding.len + p->correlation_id.len + p->reply_to.len +
				  p->expiration.len + p->type.len + p->user_id.len + p->app_id.len +
				  p->cluster_id.len,
			  0);
	ck_assert_uint_eq(p->timestamp, 0);

	struct fvalue v;
	ck_assert(table_get(p->headers, "x-trace", &v) && bytes_eq(v.v.s, "abc"));
	int64_t n;
	ck_assert(table_get(p->headers, "n", &v) && fvalue_int(&v, &n) && n == 42);
	assert_reencodes(&hf, &h);
	free(buf);
}
END_TEST

START_TEST(golden_rabbitmq_c)
{
	size_t len;
	uint8_t *buf = golden_load("amqp_publish.client.bin", &len);
	struct frame hf, bf;
	golden_content(buf, len, &hf, &bf);
	struct content_header h;
	ck_assert_int_eq(content_header_decode(hf.payload, hf.size, &h), 0);
	ck_assert_uint_eq(h.class_id, 60);
	ck_assert_uint_eq(h.body_size, 7);
	ck_assert_mem_eq(bf.payload, "{\"k\":1}", 7);
	ck_assert_uint_eq(h.props.flags, PROP_CONTENT_TYPE | PROP_DELIVERY_MODE);
	ck_assert(bytes_eq(h.props.content_type, "application/json"));
	ck_assert_uint_eq(h.props.delivery_mode, 2);
	ck_assert_uint_eq(h.props.headers.len, 0);
	assert_reencodes(&hf, &h);
	free(buf);
}
END_TEST

/* Storage for a full set of properties. */
static struct wbuf headers_tab;

static struct amqp_props all_props(void)
{
	headers_tab.len = 0;
	size_t t = tw_begin(&headers_tab);
	tw_key(&headers_tab, "x-match"), tv_str(&headers_tab, "any");
	tw_key(&headers_tab, "n"), tv_i64(&headers_tab, -1);
	tw_end(&headers_tab, t);
	struct amqp_props p = {
		.flags = 0xFFFC,
		.content_type = bytes_of("application/octet-stream"),
		.content_encoding = bytes_of("gzip"),
		.headers = {headers_tab.p + 4, (uint32_t)(headers_tab.len - 4)},
		.delivery_mode = 2,
		.priority = 9,
		.correlation_id = bytes_of("corr-\xff"),
		.reply_to = bytes_of("amq.rabbitmq.reply-to"),
		.expiration = bytes_of("60000"),
		.message_id = bytes_of("id-1"),
		.timestamp = 0x0102030405060708ull,
		.type = bytes_of("t"),
		.user_id = bytes_of("guest"),
		.app_id = bytes_of("tern-tests"),
		.cluster_id = bytes_of(""),
	};
	return p;
}

static void assert_bytes_same(struct bytes a, struct bytes b)
{
	ck_assert_uint_eq(a.len, b.len);
	if (a.len)
		ck_assert_mem_eq(a.p, b.p, a.len);
}

/* Present properties are equal; absent ones decode as zero/empty. */
static void assert_props_same(const struct amqp_props *a, const struct amqp_props *b)
{
	uint16_t fl = a->flags;
	ck_assert_uint_eq(fl, b->flags);
	struct amqp_props z = {0};
#define SAME(bit, field) assert_bytes_same((fl & (bit)) ? a->field : z.field, b->field)
	SAME(PROP_CONTENT_TYPE, content_type);
	SAME(PROP_CONTENT_ENCODING, content_encoding);
	SAME(PROP_HEADERS, headers);
	SAME(PROP_CORRELATION_ID, correlation_id);
	SAME(PROP_REPLY_TO, reply_to);
	SAME(PROP_EXPIRATION, expiration);
	SAME(PROP_MESSAGE_ID, message_id);
	SAME(PROP_TYPE, type);
	SAME(PROP_USER_ID, user_id);
	SAME(PROP_APP_ID, app_id);
	SAME(PROP_CLUSTER_ID, cluster_id);
#undef SAME
	ck_assert_uint_eq(fl & PROP_DELIVERY_MODE ? a->delivery_mode : 0, b->delivery_mode);
	ck_assert_uint_eq(fl & PROP_PRIORITY ? a->priority : 0, b->priority);
	ck_assert_uint_eq(fl & PROP_TIMESTAMP ? a->timestamp : 0, b->timestamp);
}

/* Encodes p, decodes it back from an exact-size copy and re-encodes. */
static size_t round_trip(const struct amqp_props *p)
{
	struct wbuf w = {0}, w2 = {0};
	props_encode(&w, p);
	ck_assert_uint_eq(get16(w.p), p->flags);
	uint8_t *c = dup_exact(w.p, w.len);
	struct amqp_props back;
	ck_assert_int_eq(props_decode(c, w.len, &back), 0);
	assert_props_same(p, &back);
	props_encode(&w2, &back);
	ck_assert_uint_eq(w2.len, w.len);
	ck_assert_mem_eq(w2.p, w.p, w.len);
	size_t n = w.len;
	free(c);
	wb_free(&w);
	wb_free(&w2);
	return n;
}

START_TEST(all_properties)
{
	struct amqp_props p = all_props();
	size_t n = round_trip(&p);
	/* 2 flags + 8 shortstrs' length octets + their bytes + table + 2 + 8. */
	size_t strs = p.content_type.len + p.content_encoding.len + p.correlation_id.len +
		      p.reply_to.len + p.expiration.len + p.message_id.len + p.type.len +
		      p.user_id.len + p.app_id.len + p.cluster_id.len;
	ck_assert_uint_eq(n, 2 + 10 + strs + 4 + p.headers.len + 2 + 8);
	wb_free(&headers_tab);
}
END_TEST

/* Each property alone, at its own flag bit, with only its own bytes. */
START_TEST(each_property_alone)
{
	struct amqp_props all = all_props();
	for (int bit = 2; bit < 16; bit++) {
		struct amqp_props p = all;
		p.flags = (uint16_t)(1u << bit);
		size_t n = round_trip(&p);
		ck_assert_uint_gt(n, 2);
		if (p.flags == PROP_DELIVERY_MODE || p.flags == PROP_PRIORITY)
			ck_assert_uint_eq(n, 3);
		if (p.flags == PROP_TIMESTAMP)
			ck_assert_uint_eq(n, 10);
	}
	struct amqp_props none = all;
	none.flags = 0;
	ck_assert_uint_eq(round_trip(&none), 2);
	wb_free(&headers_tab);
}
END_TEST

/* The encoder never sends the continuation bit, whatever flags say. */
START_TEST(encode_clears_continuation)
{
	struct amqp_props p = {.flags = PROP_PRIORITY | 1, .priority = 4};
	struct wbuf w = {0};
	props_encode(&w, &p);
	static const uint8_t want[] = {0x08, 0x00, 4};
	ck_assert_uint_eq(w.len, sizeof want);
	ck_assert_mem_eq(w.p, want, sizeof want);
	wb_free(&w);
}
END_TEST

/* A whole header payload: class, weight, body size, then props. */
static void header_bytes(struct wbuf *w, const struct amqp_props *p, uint64_t body_size)
{
	wb_u16(w, 60);
	wb_u16(w, 0);
	wb_u64(w, body_size);
	props_encode(w, p);
}

START_TEST(header_fields)
{
	struct amqp_props p = {.flags = PROP_DELIVERY_MODE, .delivery_mode = 1};
	struct wbuf w = {0};
	header_bytes(&w, &p, UINT64_MAX);
	struct content_header h;
	uint8_t *c = dup_exact(w.p, w.len); /* raw_props must not alias w */
	ck_assert_int_eq(content_header_decode(c, w.len, &h), 0);
	ck_assert_uint_eq(h.body_size, UINT64_MAX);
	ck_assert_uint_eq(h.props.delivery_mode, 1);
	w.len = 0;
	content_header_put(&w, 9, 60, 5, h.raw_props);
	free(c);
	static const uint8_t want[] = {2, 0, 9, 0, 0, 0, 15, 0, 60, 0, 0, 0, 0, 0, 0,
				       0, 0, 0, 5, 0x10, 0, 1, 0xCE};
	ck_assert_uint_eq(w.len, sizeof want);
	ck_assert_mem_eq(w.p, want, sizeof want);
	wb_free(&w);
}
END_TEST

/* The weight octets must be 0 in 0-9-1 but are ignored on input, as
 * RabbitMQ does; a header the broker re-sends always carries 0. */
START_TEST(weight_ignored)
{
	static const uint8_t in[] = {0, 60, 0xFF, 0x00, 0, 0, 0, 0, 0, 0, 0, 3, 0x08, 0x00, 7};
	struct content_header h;
	ck_assert_int_eq(content_header_decode(in, sizeof in, &h), 0);
	ck_assert_uint_eq(h.class_id, 60);
	ck_assert_uint_eq(h.body_size, 3);
	ck_assert_uint_eq(h.props.priority, 7);
	struct wbuf w = {0};
	content_header_put(&w, 1, h.class_id, h.body_size, h.raw_props);
	ck_assert_uint_eq(w.len, 8 + sizeof in);
	ck_assert_uint_eq(get16(w.p + 9), 0);
	ck_assert_mem_eq(w.p + 11, in + 4, sizeof in - 4);
	wb_free(&w);
}
END_TEST

/* Every cut of a full header is 502 and reads nothing past the cut; so is
 * one trailing octet. */
START_TEST(truncated_everywhere)
{
	struct amqp_props p = all_props();
	struct wbuf w = {0};
	header_bytes(&w, &p, 1234);
	struct content_header h;
	for (size_t n = 0; n < w.len; n++) {
		uint8_t *c = dup_exact(w.p, n);
		ck_assert_msg(content_header_decode(c, n, &h) == AMQP_SYNTAX_ERROR, "cut %zu", n);
		if (n >= 12)
			ck_assert_int_eq(props_decode(c + 12, n - 12, &h.props), AMQP_SYNTAX_ERROR);
		free(c);
	}
	uint8_t *c = malloc(w.len + 1);
	memcpy(c, w.p, w.len);
	c[w.len] = 0;
	ck_assert_int_eq(content_header_decode(c, w.len, &h), 0);
	ck_assert_int_eq(content_header_decode(c, w.len + 1, &h), AMQP_SYNTAX_ERROR);
	free(c);
	wb_free(&w);
	wb_free(&headers_tab);
}
END_TEST

/* The first 12 octets of a header payload: class 60, weight 0, body size 0. */
#define HDR0 0, 60, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0

/* Property flags with bit 0 ("more flags follow") set: 502, with or
 * without properties after them. */
START_TEST(continuation_flag)
{
	struct amqp_props p = all_props();
	struct wbuf w = {0};
	header_bytes(&w, &p, 1);
	w.p[13] |= 1;
	struct content_header h;
	uint8_t *c = dup_exact(w.p, w.len);
	ck_assert_int_eq(content_header_decode(c, w.len, &h), AMQP_SYNTAX_ERROR);
	free(c);
	static const uint8_t only[] = {HDR0, 0x00, 0x01};
	static const uint8_t more[] = {HDR0, 0x00, 0x01, 0, 0};
	ck_assert_int_eq(content_header_decode(only, sizeof only, &h), AMQP_SYNTAX_ERROR);
	ck_assert_int_eq(content_header_decode(more, sizeof more, &h), AMQP_SYNTAX_ERROR);
	ck_assert_int_eq(props_decode(only + 12, 2, &h.props), AMQP_SYNTAX_ERROR);
	wb_free(&w);
	wb_free(&headers_tab);
}
END_TEST

static int decode_copy(const void *bytes, size_t n)
{
	uint8_t *c = dup_exact(bytes, n);
	struct content_header h;
	int rc = content_header_decode(c, n, &h);
	free(c);
	return rc;
}

START_TEST(bad_properties)
{
	/* content-type claiming 10 octets of 3. */
	static const uint8_t ct[] = {HDR0, 0x80, 0, 10, 'a', 'b', 'c'};
	ck_assert_int_eq(decode_copy(ct, sizeof ct), 502);
	/* headers claiming 2^32-1 octets. */
	static const uint8_t hl[] = {HDR0, 0x20, 0, 0xFF, 0xFF, 0xFF, 0xFF};
	ck_assert_int_eq(decode_copy(hl, sizeof hl), 502);
	/* headers {"k": Z}: no such type. */
	static const uint8_t hz[] = {HDR0, 0x20, 0, 0, 0, 0, 3, 1, 'k', 'Z'};
	ck_assert_int_eq(decode_copy(hz, sizeof hz), 502);
	/* headers {"k": V}: fine. */
	static const uint8_t hv[] = {HDR0, 0x20, 0, 0, 0, 0, 3, 1, 'k', 'V'};
	ck_assert_int_eq(decode_copy(hv, sizeof hv), 0);
	/* timestamp cut short. */
	static const uint8_t ts[] = {HDR0, 0x00, 0x40, 1, 2, 3};
	ck_assert_int_eq(decode_copy(ts, sizeof ts), 502);
}
END_TEST

/* Flag bit 1 is unused in 0-9-1: it carries no field and is ignored, and
 * the fields around it are read in their order. */
START_TEST(unused_flag_bit_ignored)
{
	/* delivery-mode 2, then timestamp 7, with bit 1 set as well. */
	static const uint8_t b[] = {HDR0, 0x10, 0x42, 2, 0, 0, 0, 0, 0, 0, 0, 7};
	uint8_t *c = dup_exact(b, sizeof b);
	struct content_header h;
	ck_assert_int_eq(content_header_decode(c, sizeof b, &h), 0);
	ck_assert_uint_eq(h.props.delivery_mode, 2);
	ck_assert_uint_eq(h.props.timestamp, 7);
	free(c);
	/* Only bit 1: no field, nothing left over. */
	static const uint8_t only[] = {HDR0, 0x00, 0x02};
	ck_assert_int_eq(decode_copy(only, sizeof only), 0);
}
END_TEST

/* A headers table nested past TABLE_MAX_DEPTH: 502. */
START_TEST(headers_nesting_bomb)
{
	struct wbuf w = {0};
	wb_u16(&w, 60), wb_u16(&w, 0), wb_u64(&w, 0), wb_u16(&w, PROP_HEADERS);
	size_t t[TABLE_MAX_DEPTH + 1];
	for (int i = 0; i <= TABLE_MAX_DEPTH; i++) {
		if (i)
			tw_key(&w, "h"), tv_table_letter(&w);
		t[i] = tw_begin(&w);
	}
	for (int i = TABLE_MAX_DEPTH; i >= 0; i--)
		tw_end(&w, t[i]);
	ck_assert_int_eq(decode_copy(w.p, w.len), 502);
	wb_free(&w);
}
END_TEST

static Suite *props_suite(void)
{
	Suite *s = suite_create("props");
	TCase *g = tcase_create("golden");
	tcase_add_test(g, golden_pika);
	tcase_add_test(g, golden_rabbitmq_c);
	suite_add_tcase(s, g);

	TCase *r = tcase_create("roundtrip");
	tcase_add_test(r, all_properties);
	tcase_add_test(r, each_property_alone);
	tcase_add_test(r, encode_clears_continuation);
	tcase_add_test(r, header_fields);
	tcase_add_test(r, weight_ignored);
	suite_add_tcase(s, r);

	TCase *m = tcase_create("malformed");
	tcase_add_test(m, truncated_everywhere);
	tcase_add_test(m, continuation_flag);
	tcase_add_test(m, bad_properties);
	tcase_add_test(m, unused_flag_bit_ignored);
	tcase_add_test(m, headers_nesting_bomb);
	suite_add_tcase(s, m);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(props_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
