/* bench_codec.c — micro-benchmark of the protocol codec on the hot path of
 * a broker: basic.publish + content header + body frames, parsed and
 * decoded (frame_parse, method_decode, content_header_decode) and encoded
 * (method_put, content_header_put, frame_put), in frames and messages per
 * second. A figure to watch, not a test: `make bench-codec`, or
 * build/bench_codec SECONDS for longer (steadier) figures. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "protocol/frame.h"
#include "protocol/method.h"
#include "protocol/props.h"
#include "protocol/table.h"

#define BATCH 512 /* messages per pass: a few read() buffers' worth */

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* One message's parts, as a publisher would send them. */
struct msg {
	struct amqp_method publish;
	struct wbuf props; /* encoded flags + properties */
	uint8_t *body;
	uint32_t body_len;
};

static void msg_init(struct msg *m, uint32_t body_len, bool with_headers, struct wbuf *table)
{
	m->publish = (struct amqp_method){.id = AMQP_BASIC_PUBLISH};
	m->publish.a.basic_publish.exchange = bytes_of("amq.direct");
	m->publish.a.basic_publish.routing_key = bytes_of("bench.routing.key");
	struct amqp_props p = {.flags = PROP_CONTENT_TYPE | PROP_DELIVERY_MODE,
			       .content_type = bytes_of("application/octet-stream"),
			       .delivery_mode = 2};
	if (with_headers) {
		/* What a Celery-like client puts in headers: a few strings and ints. */
		size_t t = tw_begin(table);
		tw_key(table, "task"), tv_str(table, "tasks.add");
		tw_key(table, "id"), tv_str(table, "6f1c2e0a-8d7e-4b3a-9a57-1f2d3c4b5a69");
		tw_key(table, "retries"), tv_i32(table, 0);
		tw_key(table, "eta"), tv_void(table);
		tw_key(table, "x-priority"), tv_i64(table, 5);
		tw_end(table, t);
		p.flags |= PROP_HEADERS;
		p.headers = (struct bytes){table->p + 4, (uint32_t)(table->len - 4)};
	}
	m->props = (struct wbuf){0};
	props_encode(&m->props, &p);
	m->body_len = body_len;
	m->body = malloc(body_len ? body_len : 1);
	for (uint32_t i = 0; i < body_len; i++)
		m->body[i] = (uint8_t)(i * 7);
}

/* Appends one message's three frames on channel 1. */
static void encode_msg(struct wbuf *w, const struct msg *m)
{
	method_put(w, 1, &m->publish);
	content_header_put(w, 1, AMQP_CLASS_BASIC, m->body_len,
			   (struct bytes){m->props.p, (uint32_t)m->props.len});
	frame_put(w, FRAME_BODY, 1, m->body, m->body_len);
}

/* Parses and decodes a buffer of frames as a connection would; returns
 * the number of frames, or -1 on any error (which would be a bug here). */
static long decode_all(const uint8_t *p, size_t len, uint64_t *sink)
{
	long frames = 0;
	size_t off = 0;
	while (off < len) {
		struct frame f;
		long n = frame_parse(p + off, len - off, 131072, &f);
		if (n <= 0)
			return -1;
		if (f.type == FRAME_METHOD) {
			struct amqp_method m;
			if (method_decode(f.payload, f.size, &m))
				return -1;
			*sink += m.a.basic_publish.routing_key.len;
		} else if (f.type == FRAME_HEADER) {
			struct content_header h;
			if (content_header_decode(f.payload, f.size, &h))
				return -1;
			*sink += h.body_size;
		} else {
			*sink += f.payload[0];
		}
		off += (size_t)n;
		frames++;
	}
	return frames;
}

static void report(const char *what, const char *label, double secs, long frames, long msgs,
		   double bytes)
{
	printf("  %-7s %-22s %6.2f M frames/s  %6.2f M msgs/s  %8.1f MB/s on the wire\n", what,
	       label, frames / secs / 1e6, msgs / secs / 1e6, bytes / secs / 1e6);
}

/* Measures decode and encode of BATCH messages of this shape, repeating
 * passes for about `secs` seconds each. */
static void bench(const char *label, uint32_t body_len, bool with_headers, double secs)
{
	struct wbuf table = {0}, stream = {0};
	struct msg m;
	msg_init(&m, body_len, with_headers, &table);
	for (int i = 0; i < BATCH; i++)
		encode_msg(&stream, &m);

	uint64_t sink = 0;
	long passes = 0;
	double t0 = now(), t1;
	do {
		for (int i = 0; i < 16; i++)
			if (decode_all(stream.p, stream.len, &sink) != 3 * BATCH) {
				fprintf(stderr, "bench_codec: decode failed\n");
				exit(1);
			}
		passes += 16;
	} while ((t1 = now()) - t0 < secs);
	long msgs = passes * BATCH;
	report("decode", label, t1 - t0, 3 * msgs, msgs, (double)passes * (double)stream.len);

	struct wbuf out = {0};
	passes = 0;
	t0 = now();
	do {
		for (int i = 0; i < 16; i++) {
			out.len = 0; /* reuse the buffer, as a connection's out-buffer would */
			for (int j = 0; j < BATCH; j++)
				encode_msg(&out, &m);
			sink += out.p[out.len - 1];
		}
		passes += 16;
	} while ((t1 = now()) - t0 < secs);
	msgs = passes * BATCH;
	report("encode", label, t1 - t0, 3 * msgs, msgs, (double)passes * (double)out.len);
	if (out.len != stream.len || memcmp(out.p, stream.p, out.len) != 0) {
		fprintf(stderr, "bench_codec: encoder output changed\n");
		exit(1);
	}
	if (sink == 42)
		putchar(' '); /* keeps the decoded values alive */

	wb_free(&out);
	wb_free(&stream);
	wb_free(&table);
	wb_free(&m.props);
	free(m.body);
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 0.5;
	if (secs <= 0)
		secs = 0.5;
	printf("codec: basic.publish + content header + body, %d messages per pass, "
	       "%.1f s per figure\n", BATCH, secs);
	bench("16 B body", 16, false, secs);
	bench("1 KiB body", 1024, false, secs);
	bench("16 B body + 5 headers", 16, true, secs);
	return 0;
}
