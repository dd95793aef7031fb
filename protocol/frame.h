/* frame.h — AMQP 0-9-1 framing (spec §2.3.5 and §4.2.3).
 *
 * A frame is: type (1 octet), channel (2), size (4), payload (size octets),
 * frame-end 0xCE. frame_parse() never trusts size before checking it against
 * frame_max, so a hostile length cannot make the caller wait for or allocate
 * gigabytes. Encoders append whole frames to a struct wbuf. */
#ifndef TERN_PROTOCOL_FRAME_H
#define TERN_PROTOCOL_FRAME_H

#include "protocol/wire.h"

enum {
	FRAME_METHOD = 1,
	FRAME_HEADER = 2,
	FRAME_BODY = 3,
	FRAME_HEARTBEAT = 8,
};

#define FRAME_END 0xCE
#define FRAME_OVERHEAD 8     /* 7-octet header + frame-end */
#define FRAME_MIN_SIZE 4096  /* the smallest frame_max a peer may ask for */
#define PROTOCOL_HEADER_LEN 8

/* AMQP reply codes (spec §1.2, "constants"). */
enum {
	AMQP_REPLY_SUCCESS = 200,
	AMQP_CONTENT_TOO_LARGE = 311,
	AMQP_NO_ROUTE = 312,
	AMQP_NO_CONSUMERS = 313,
	AMQP_CONNECTION_FORCED = 320,
	AMQP_INVALID_PATH = 402,
	AMQP_ACCESS_REFUSED = 403,
	AMQP_NOT_FOUND = 404,
	AMQP_RESOURCE_LOCKED = 405,
	AMQP_PRECONDITION_FAILED = 406,
	AMQP_FRAME_ERROR = 501,
	AMQP_SYNTAX_ERROR = 502,
	AMQP_COMMAND_INVALID = 503,
	AMQP_CHANNEL_ERROR = 504,
	AMQP_UNEXPECTED_FRAME = 505,
	AMQP_RESOURCE_ERROR = 506,
	AMQP_NOT_ALLOWED = 530,
	AMQP_NOT_IMPLEMENTED = 540,
	AMQP_INTERNAL_ERROR = 541,
};

/* The symbolic name RabbitMQ puts in front of reply texts, e.g.
 * "NOT_FOUND" for 404; "UNKNOWN" for codes outside the table. */
const char *amqp_reply_name(int code);

/* True for the codes the spec classes as hard (connection) errors. */
int amqp_reply_is_hard(int code);

/* A parsed frame. payload borrows from the buffer given to frame_parse. */
struct frame {
	uint8_t type;
	uint16_t channel;
	uint32_t size;
	const uint8_t *payload;
	int err;           /* reply code when frame_parse returns -1 */
	const char *why;   /* static text naming the problem */
};

/* Parses one frame from buf[0..len).
 * Returns the bytes consumed (> 0), 0 when more bytes are needed, or -1 on a
 * malformed frame with f->err = 501 and f->why set. A size that would exceed
 * frame_max (which counts the 8 octets of overhead) is rejected as soon as
 * the 7-octet header is in, before the payload arrives. frame_max 0 means
 * "no limit beyond 2^32". Unknown frame types are rejected with 501. */
long frame_parse(const uint8_t *buf, size_t len, uint32_t frame_max, struct frame *f);

/* Checks a client's protocol header "AMQP\0\0\9\1".
 * Returns 1 when it is ours, 0 when fewer than 8 bytes are in and they match
 * so far, -1 when it is not ours (the server answers with its own header). */
int protocol_header_check(const uint8_t *buf, size_t len);

/* The 8 octets a server sends back to a client with a wrong header. */
extern const uint8_t protocol_header[PROTOCOL_HEADER_LEN];

/* Appends the 7-octet frame header for a payload of `size` octets. */
void frame_put_header(struct wbuf *w, uint8_t type, uint16_t channel, uint32_t size);

/* Appends a whole frame around payload p[0..n). */
void frame_put(struct wbuf *w, uint8_t type, uint16_t channel, const void *p, uint32_t n);

/* Appends a heartbeat frame. */
void frame_put_heartbeat(struct wbuf *w);

/* Starts a frame whose size is not known yet; returns the offset to pass to
 * frame_end once the payload has been written after it. */
size_t frame_begin(struct wbuf *w, uint8_t type, uint16_t channel);
void frame_end(struct wbuf *w, size_t start);

#endif
