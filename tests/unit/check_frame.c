/* check_frame.c — unit tests for protocol/frame.c: frame_parse on golden
 * streams recorded from pika and rabbitmq-c against RabbitMQ, re-encoding
 * byte for byte, need-more at every prefix, hostile sizes near 2^32, bad
 * frame ends and types, the protocol header and the reply-code tables.
 * Every malformed buffer is an exact-size heap copy, so ASan (make
 * SANITIZE=1 check-unit) catches any read past its end. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>

#include "protocol/frame.h"
#include "protocol/method.h"
#include "tests/unit/golden.h"

#define FMAX 131072u

/* What a stream should hold, frame by frame: type, channel and (for method
 * frames) the method id. */
struct expect {
	uint8_t type;
	uint16_t channel;
	uint32_t method;
};

static const struct expect client_frames[] = {
	{FRAME_METHOD, 0, AMQP_CONNECTION_START_OK},
	{FRAME_METHOD, 0, AMQP_CONNECTION_TUNE_OK},
	{FRAME_METHOD, 0, AMQP_CONNECTION_OPEN},
	{FRAME_METHOD, 1, AMQP_CHANNEL_OPEN},
	{FRAME_METHOD, 1, AMQP_BASIC_PUBLISH},
	{FRAME_HEADER, 1, 0},
	{FRAME_BODY, 1, 0},
	{FRAME_METHOD, 1, AMQP_CHANNEL_CLOSE},
	{FRAME_METHOD, 0, AMQP_CONNECTION_CLOSE},
};

static const struct expect server_frames[] = {
	{FRAME_METHOD, 0, AMQP_CONNECTION_START},
	{FRAME_METHOD, 0, AMQP_CONNECTION_TUNE},
	{FRAME_METHOD, 0, AMQP_CONNECTION_OPEN_OK},
	{FRAME_METHOD, 1, AMQP_CHANNEL_OPEN_OK},
	{FRAME_METHOD, 1, AMQP_CHANNEL_CLOSE_OK},
	{FRAME_METHOD, 0, AMQP_CONNECTION_CLOSE_OK},
};

/* Walks a whole golden stream: the client's protocol header first (if
 * `client`), then frames that must match `ex` and consume every byte. Each
 * frame is re-encoded with frame_put and must come out identical, and
 * every proper prefix of it must parse as "need more". */
static void walk_stream(const char *name, bool client, const struct expect *ex, size_t nex)
{
	size_t len;
	uint8_t *buf = golden_load(name, &len);
	size_t off = 0, i = 0;
	if (client) {
		ck_assert_int_eq(protocol_header_check(buf, len), 1);
		off = PROTOCOL_HEADER_LEN;
	}
	while (off < len) {
		struct frame f;
		long n = frame_parse(buf + off, len - off, FMAX, &f);
		ck_assert_msg(n > 0, "%s: frame %zu at %zu: %ld (%s)", name, i, off, n,
			      f.why ? f.why : "");
		ck_assert_uint_lt(i, nex);
		ck_assert_uint_eq(f.type, ex[i].type);
		ck_assert_uint_eq(f.channel, ex[i].channel);
		ck_assert_uint_eq((size_t)n, f.size + FRAME_OVERHEAD);
		ck_assert_ptr_eq(f.payload, buf + off + 7);
		if (f.type == FRAME_METHOD)
			ck_assert_uint_eq(get32(f.payload), ex[i].method);

		struct wbuf w = {0};
		frame_put(&w, f.type, f.channel, f.payload, f.size);
		ck_assert_uint_eq(w.len, (size_t)n);
		ck_assert_mem_eq(w.p, buf + off, (size_t)n);
		wb_free(&w);

		for (size_t k = 0; k < (size_t)n; k++) {
			uint8_t *pre = dup_exact(buf + off, k);
			struct frame g;
			ck_assert_int_eq(frame_parse(pre, k, FMAX, &g), 0);
			free(pre);
		}
		off += (size_t)n;
		i++;
	}
	ck_assert_uint_eq(i, nex);
	ck_assert_uint_eq(off, len);
	free(buf);
}

START_TEST(golden_pika_client)
{
	walk_stream("pika.client.bin", true, client_frames, 9);
}
END_TEST

START_TEST(golden_pika_server)
{
	walk_stream("pika.server.bin", false, server_frames, 6);
}
END_TEST

START_TEST(golden_amqp_publish_client)
{
	walk_stream("amqp_publish.client.bin", true, client_frames, 9);
}
END_TEST

START_TEST(golden_amqp_publish_server)
{
	walk_stream("amqp_publish.server.bin", false, server_frames, 6);
}
END_TEST

/* A whole golden stream in one buffer parses frame after frame with
 * frame_max 0 ("no limit") exactly as with 131072. */
START_TEST(golden_no_limit)
{
	size_t len;
	uint8_t *buf = golden_load("pika.client.bin", &len);
	size_t off = PROTOCOL_HEADER_LEN;
	int frames = 0;
	while (off < len) {
		struct frame f, g;
		long a = frame_parse(buf + off, len - off, 0, &f);
		long b = frame_parse(buf + off, len - off, FMAX, &g);
		ck_assert_int_gt(a, 0);
		ck_assert_int_eq(a, b);
		off += (size_t)a;
		frames++;
	}
	ck_assert_int_eq(frames, 9);
	free(buf);
}
END_TEST

/* Builds the 7-octet header of a frame claiming `size`, plus `extra`
 * octets of payload (zeros), in an exact-size heap buffer. */
static uint8_t *hdr(uint8_t type, uint32_t size, size_t extra, size_t *len)
{
	*len = 7 + extra;
	uint8_t *p = calloc(1, *len);
	p[0] = type;
	put16(p + 1, 3);
	put32(p + 3, size);
	return p;
}

START_TEST(bad_frame_end)
{
	static const uint8_t ends[] = {0x00, 0xCD, 0xCF, 0xFF, 0xEC};
	for (size_t i = 0; i < sizeof ends; i++) {
		size_t len;
		uint8_t *p = hdr(FRAME_BODY, 4, 5, &len);
		p[11] = ends[i];
		struct frame f;
		ck_assert_int_eq(frame_parse(p, len, FMAX, &f), -1);
		ck_assert_int_eq(f.err, AMQP_FRAME_ERROR);
		ck_assert_ptr_nonnull(f.why);
		free(p);
	}
}
END_TEST

/* The end octet is checked where the size puts it, not at the buffer's
 * end: a good frame followed by garbage parses, a short frame whose octet
 * after the payload is not 0xCE fails. */
START_TEST(frame_end_position)
{
	size_t len;
	uint8_t *p = hdr(FRAME_HEARTBEAT, 0, 4, &len);
	p[7] = FRAME_END;
	p[8] = 0x42;
	struct frame f;
	ck_assert_int_eq(frame_parse(p, len, FMAX, &f), 8);
	p[7] = 0x00;
	p[10] = FRAME_END;
	ck_assert_int_eq(frame_parse(p, len, FMAX, &f), -1);
	ck_assert_int_eq(f.err, 501);
	free(p);
}
END_TEST

START_TEST(unknown_frame_types)
{
	for (int t = 0; t < 256; t++) {
		size_t len;
		uint8_t *p = hdr((uint8_t)t, 0, 1, &len);
		p[7] = FRAME_END;
		struct frame f;
		long n = frame_parse(p, len, FMAX, &f);
		if (t == 1 || t == 2 || t == 3 || t == 8) {
			ck_assert_int_eq(n, 8);
		} else {
			ck_assert_msg(n == -1, "type %d accepted", t);
			ck_assert_int_eq(f.err, AMQP_FRAME_ERROR);
		}
		free(p);
	}
}
END_TEST

/* Sizes near 2^32 against a finite frame_max fail as soon as the 7-octet
 * header is in, without waiting for (or computing with) the payload. */
START_TEST(huge_size_rejected)
{
	static const uint32_t sizes[] = {0xFFFFFFFFu, 0xFFFFFFF8u, 0xFFFFFFF7u, 0x80000000u,
					 FMAX - 7, FMAX};
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		size_t len;
		uint8_t *p = hdr(FRAME_BODY, sizes[i], 0, &len);
		struct frame f;
		ck_assert_int_eq(frame_parse(p, len, FMAX, &f), -1);
		ck_assert_int_eq(f.err, AMQP_FRAME_ERROR);
		ck_assert_uint_eq(f.size, sizes[i]);
		free(p);
	}
}
END_TEST

/* With frame_max 0 the same sizes are legal but incomplete: need-more,
 * whether 7 or a few hundred bytes are in. No wrap makes them "complete". */
START_TEST(huge_size_no_limit)
{
	static const uint32_t sizes[] = {0xFFFFFFFFu, 0xFFFFFFF8u, 0xFFFFFFF9u, 0xFFFFFFF7u};
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		for (size_t extra = 0; extra <= 300; extra += 100) {
			size_t len;
			uint8_t *p = hdr(FRAME_BODY, sizes[i], extra, &len);
			memset(p + 7, FRAME_END, extra);
			struct frame f;
			ck_assert_int_eq(frame_parse(p, len, 0, &f), 0);
			free(p);
		}
	}
}
END_TEST

/* frame_max counts the 8 octets of overhead: size frame_max-8 fits, one
 * more does not; also at the top of the range. */
START_TEST(frame_max_boundary)
{
	size_t len;
	uint8_t *p = hdr(FRAME_BODY, 4096 - 8, 4096 - 7, &len);
	p[len - 1] = FRAME_END;
	struct frame f;
	ck_assert_int_eq(frame_parse(p, len, 4096, &f), 4096);
	put32(p + 3, 4096 - 7);
	ck_assert_int_eq(frame_parse(p, len, 4096, &f), -1);
	free(p);

	p = hdr(FRAME_BODY, 0xFFFFFFF7u, 0, &len);
	ck_assert_int_eq(frame_parse(p, len, 0xFFFFFFFFu, &f), 0);
	put32(p + 3, 0xFFFFFFF8u);
	ck_assert_int_eq(frame_parse(p, len, 0xFFFFFFFFu, &f), -1);
	free(p);
}
END_TEST

/* Fewer than 7 octets is always need-more, and reads nothing past them. */
START_TEST(short_header)
{
	for (size_t n = 0; n < 7; n++) {
		uint8_t *p = malloc(n ? n : 1);
		memset(p, FRAME_METHOD, n);
		struct frame f;
		ck_assert_int_eq(frame_parse(p, n, FMAX, &f), 0);
		free(p);
	}
}
END_TEST

START_TEST(heartbeat_bytes)
{
	static const uint8_t want[] = {8, 0, 0, 0, 0, 0, 0, 0xCE};
	struct wbuf w = {0};
	frame_put_heartbeat(&w);
	ck_assert_uint_eq(w.len, sizeof want);
	ck_assert_mem_eq(w.p, want, sizeof want);
	struct frame f;
	ck_assert_int_eq(frame_parse(w.p, w.len, FMAX, &f), 8);
	ck_assert_uint_eq(f.type, FRAME_HEARTBEAT);
	ck_assert_uint_eq(f.size, 0);
	wb_free(&w);
}
END_TEST

/* frame_begin/frame_end patch the size after the payload is written; a
 * second frame after the first keeps both intact. */
START_TEST(begin_end)
{
	struct wbuf w = {0};
	size_t s = frame_begin(&w, FRAME_BODY, 0xFFFF);
	wb_add(&w, "abcde", 5);
	frame_end(&w, s);
	s = frame_begin(&w, FRAME_HEADER, 7);
	frame_end(&w, s);
	static const uint8_t want[] = {3, 0xFF, 0xFF, 0, 0, 0, 5, 'a', 'b', 'c', 'd', 'e', 0xCE,
				       2, 0, 7, 0, 0, 0, 0, 0xCE};
	ck_assert_uint_eq(w.len, sizeof want);
	ck_assert_mem_eq(w.p, want, sizeof want);
	struct frame f;
	long n = frame_parse(w.p, w.len, FMAX, &f);
	ck_assert_int_eq(n, 13);
	ck_assert_uint_eq(f.channel, 0xFFFF);
	ck_assert_mem_eq(f.payload, "abcde", 5);
	ck_assert_int_eq(frame_parse(w.p + n, w.len - (size_t)n, FMAX, &f), 8);
	ck_assert_uint_eq(f.channel, 7);
	wb_free(&w);
}
END_TEST

/* A payload far larger than the wbuf's first allocation: the buffer grows,
 * and only frame_max 0 (or a big enough one) accepts the result. */
START_TEST(large_frame)
{
	size_t n = 3u << 20;
	uint8_t *body = malloc(n);
	for (size_t i = 0; i < n; i++)
		body[i] = (uint8_t)(i * 31 + 7);
	struct wbuf w = {0};
	frame_put(&w, FRAME_BODY, 1, body, (uint32_t)n);
	ck_assert_uint_eq(w.len, n + 8);
	struct frame f;
	ck_assert_int_eq(frame_parse(w.p, w.len, 0, &f), (long)(n + 8));
	ck_assert_mem_eq(f.payload, body, n);
	ck_assert_int_eq(frame_parse(w.p, w.len, FMAX, &f), -1);
	ck_assert_int_eq(frame_parse(w.p, w.len, (uint32_t)(n + 8), &f), (long)(n + 8));
	wb_free(&w);
	free(body);
}
END_TEST

START_TEST(protocol_header_bytes)
{
	static const uint8_t ours[] = {'A', 'M', 'Q', 'P', 0, 0, 9, 1};
	for (size_t n = 0; n < 8; n++) {
		uint8_t *p = dup_exact(ours, n);
		ck_assert_int_eq(protocol_header_check(p, n), 0);
		free(p);
	}
	ck_assert_int_eq(protocol_header_check(ours, 8), 1);
	ck_assert_mem_eq(protocol_header, ours, 8);

	/* AMQP 0-8 and 0-10 headers, 1-0, HTTP and a bad first byte. */
	static const uint8_t *bad[] = {
		(const uint8_t *)"AMQP\x01\x01\x08\x00", (const uint8_t *)"AMQP\x01\x01\x00\x0a",
		(const uint8_t *)"AMQP\x00\x01\x00\x00", (const uint8_t *)"AMQP\x00\x00\x09\x00",
		(const uint8_t *)"GET / HT", (const uint8_t *)"XMQP\x00\x00\x09\x01",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		ck_assert_int_eq(protocol_header_check(bad[i], 8), -1);
	/* A wrong byte decides as soon as it is in. */
	ck_assert_int_eq(protocol_header_check((const uint8_t *)"AMQX", 4), -1);
}
END_TEST

START_TEST(reply_codes)
{
	ck_assert_str_eq(amqp_reply_name(404), "NOT_FOUND");
	ck_assert_str_eq(amqp_reply_name(501), "FRAME_ERROR");
	ck_assert_str_eq(amqp_reply_name(540), "NOT_IMPLEMENTED");
	ck_assert_str_eq(amqp_reply_name(200), "REPLY_SUCCESS");
	ck_assert_str_eq(amqp_reply_name(999), "UNKNOWN");
	ck_assert_str_eq(amqp_reply_name(0), "UNKNOWN");
	static const int hard[] = {320, 402, 501, 502, 503, 504, 505, 506, 530, 540, 541};
	static const int soft[] = {200, 311, 312, 313, 403, 404, 405, 406, 0, 999};
	for (size_t i = 0; i < sizeof hard / sizeof hard[0]; i++) {
		ck_assert_int_eq(amqp_reply_is_hard(hard[i]), 1);
		ck_assert_str_ne(amqp_reply_name(hard[i]), "UNKNOWN");
	}
	for (size_t i = 0; i < sizeof soft / sizeof soft[0]; i++)
		ck_assert_int_eq(amqp_reply_is_hard(soft[i]), 0);
}
END_TEST

static Suite *frame_suite(void)
{
	Suite *s = suite_create("frame");
	TCase *g = tcase_create("golden");
	tcase_add_test(g, golden_pika_client);
	tcase_add_test(g, golden_pika_server);
	tcase_add_test(g, golden_amqp_publish_client);
	tcase_add_test(g, golden_amqp_publish_server);
	tcase_add_test(g, golden_no_limit);
	suite_add_tcase(s, g);

	TCase *m = tcase_create("malformed");
	tcase_add_test(m, bad_frame_end);
	tcase_add_test(m, frame_end_position);
	tcase_add_test(m, unknown_frame_types);
	tcase_add_test(m, huge_size_rejected);
	tcase_add_test(m, huge_size_no_limit);
	tcase_add_test(m, frame_max_boundary);
	tcase_add_test(m, short_header);
	suite_add_tcase(s, m);

	TCase *e = tcase_create("encode");
	tcase_add_test(e, heartbeat_bytes);
	tcase_add_test(e, begin_end);
	tcase_add_test(e, large_frame);
	tcase_add_test(e, protocol_header_bytes);
	tcase_add_test(e, reply_codes);
	suite_add_tcase(s, e);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(frame_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
