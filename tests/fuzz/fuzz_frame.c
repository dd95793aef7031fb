/* fuzz_frame.c — libFuzzer target for frame_parse (protocol/frame.c) and
 * the decoders behind it. Input: one selector octet choosing frame_max
 * (none, 4096, 131072, 2^32-1), then a byte stream parsed frame after
 * frame as a connection would. Each frame must lie inside the input, end
 * in 0xCE, respect frame_max, be "need more" at every shorter length and
 * re-encode to its own bytes; its payload goes to the matching decoder. */
#include <stdint.h>

#include "protocol/frame.h"
#include "protocol/method.h"
#include "protocol/props.h"
#include "tests/fuzz/fuzz_check.h"

static void check_frame(const uint8_t *p, size_t left, long n, uint32_t frame_max,
			const struct frame *f)
{
	FUZZ_ASSERT((size_t)n <= left && (uint64_t)n == (uint64_t)f->size + FRAME_OVERHEAD);
	FUZZ_ASSERT(frame_max == 0 || (uint64_t)n <= frame_max);
	FUZZ_ASSERT(p[n - 1] == FRAME_END && f->payload == p + 7);
	FUZZ_ASSERT(f->type == FRAME_METHOD || f->type == FRAME_HEADER ||
		    f->type == FRAME_BODY || f->type == FRAME_HEARTBEAT);
	struct frame g;
	/* Shorter views, at the edges where parsing changes: need more. */
	FUZZ_ASSERT(frame_parse(p, (size_t)n - 1, frame_max, &g) == 0);
	FUZZ_ASSERT(frame_parse(p, 7, frame_max, &g) == 0 || n == 8);
	FUZZ_ASSERT(frame_parse(p, 6, frame_max, &g) == 0);

	struct wbuf w = {0};
	frame_put(&w, f->type, f->channel, f->payload, f->size);
	FUZZ_ASSERT(w.len == (size_t)n && memcmp(w.p, p, w.len) == 0);
	wb_free(&w);
}

/* Hands the payload to its decoder; a method that decodes round-trips. */
static void decode_payload(const struct frame *f)
{
	if (f->type == FRAME_METHOD) {
		struct amqp_method m, m2;
		int rc = method_decode(f->payload, f->size, &m);
		FUZZ_ASSERT(rc == 0 || rc == AMQP_SYNTAX_ERROR || rc == AMQP_NOT_IMPLEMENTED);
		if (rc)
			return;
		struct wbuf w = {0};
		method_put(&w, f->channel, &m);
		struct frame g;
		FUZZ_ASSERT(frame_parse(w.p, w.len, 0, &g) == (long)w.len);
		FUZZ_ASSERT(method_decode(g.payload, g.size, &m2) == 0);
		FUZZ_ASSERT(fz_methods_same(&m, &m2));
		wb_free(&w);
	} else if (f->type == FRAME_HEADER) {
		struct content_header h;
		int rc = content_header_decode(f->payload, f->size, &h);
		FUZZ_ASSERT(rc == 0 || rc == AMQP_SYNTAX_ERROR);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint32_t maxes[] = {0, FRAME_MIN_SIZE, 131072, 0xFFFFFFFFu};
	if (size < 1)
		return 0;
	uint32_t frame_max = maxes[data[0] & 3];
	data++, size--;
	size_t off = 0;
	while (off < size) {
		struct frame f;
		long n = frame_parse(data + off, size - off, frame_max, &f);
		if (n < 0) {
			FUZZ_ASSERT(f.err == AMQP_FRAME_ERROR && f.why != NULL);
			break;
		}
		if (n == 0) {
			FUZZ_ASSERT(size - off < 7 ||
				    size - off < (uint64_t)f.size + FRAME_OVERHEAD);
			break;
		}
		check_frame(data + off, size - off, n, frame_max, &f);
		decode_payload(&f);
		off += (size_t)n;
	}
	return 0;
}
