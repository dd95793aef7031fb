/* fuzz_props.c — libFuzzer target for content headers and basic
 * properties (protocol/props.c). Input: a header frame payload. What
 * decodes must re-encode to its raw property bytes (bit 1 of the flags,
 * unused in 0-9-1, is the only thing the encoder may drop), decode again
 * to the same properties, and hold a sound headers table. */
#include <stdint.h>

#include "protocol/frame.h"
#include "protocol/props.h"
#include "tests/fuzz/fuzz_check.h"

static bool props_same(const struct amqp_props *a, const struct amqp_props *b)
{
	return a->flags == b->flags && fz_bytes_same(a->content_type, b->content_type) &&
	       fz_bytes_same(a->content_encoding, b->content_encoding) &&
	       fz_bytes_same(a->headers, b->headers) && a->delivery_mode == b->delivery_mode &&
	       a->priority == b->priority && fz_bytes_same(a->correlation_id, b->correlation_id) &&
	       fz_bytes_same(a->reply_to, b->reply_to) &&
	       fz_bytes_same(a->expiration, b->expiration) &&
	       fz_bytes_same(a->message_id, b->message_id) && a->timestamp == b->timestamp &&
	       fz_bytes_same(a->type, b->type) && fz_bytes_same(a->user_id, b->user_id) &&
	       fz_bytes_same(a->app_id, b->app_id) && fz_bytes_same(a->cluster_id, b->cluster_id);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct content_header h;
	int rc = content_header_decode(data, size, &h);
	if (rc != 0) {
		FUZZ_ASSERT(rc == AMQP_SYNTAX_ERROR);
		return 0;
	}
	FUZZ_ASSERT(size >= 14 && (h.props.flags & 1) == 0);
	FUZZ_ASSERT(h.raw_props.p == data + 12 && h.raw_props.len == size - 12);
	FUZZ_ASSERT(h.class_id == get16(data) && h.body_size == get64(data + 4));
	if (h.props.flags & PROP_HEADERS)
		fz_check_table(h.props.headers);

	struct wbuf w = {0};
	props_encode(&w, &h.props);
	FUZZ_ASSERT(w.len == h.raw_props.len);
	FUZZ_ASSERT(w.p[0] == h.raw_props.p[0] && w.p[1] == (h.raw_props.p[1] & ~2));
	FUZZ_ASSERT(memcmp(w.p + 2, h.raw_props.p + 2, w.len - 2) == 0);

	struct amqp_props back;
	FUZZ_ASSERT(props_decode(w.p, w.len, &back) == 0);
	struct amqp_props want = h.props;
	want.flags &= (uint16_t)~2u;
	FUZZ_ASSERT(props_same(&want, &back));

	/* The whole frame as the broker would resend it: the input, except
	 * that the weight (which 0-9-1 says must be 0, and which the decoder,
	 * like RabbitMQ, ignores) goes out as 0. */
	struct wbuf f = {0};
	content_header_put(&f, 1, h.class_id, h.body_size, h.raw_props);
	FUZZ_ASSERT(f.len == size + 8 && get16(f.p + 7 + 2) == 0);
	FUZZ_ASSERT(memcmp(f.p + 7, data, 2) == 0 && memcmp(f.p + 11, data + 4, size - 4) == 0);
	wb_free(&f);
	wb_free(&w);
	return 0;
}
