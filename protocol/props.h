/* props.h — content header frames and basic properties (spec §4.2.6.1 and
 * the basic class's property list).
 *
 * A content header payload is: class-id (2), weight (2, always 0),
 * body-size (8), property-flags (2, bit 15 = content-type ... bit 2 =
 * cluster-id, bit 0 = "more flags follow", which 0-9-1 never uses), then
 * the present properties in flag order. The decoded struct keeps a view of
 * the raw flags+properties so a broker can resend them byte for byte. */
#ifndef TERN_PROTOCOL_PROPS_H
#define TERN_PROTOCOL_PROPS_H

#include "protocol/wire.h"

enum {
	PROP_CONTENT_TYPE = 1 << 15,
	PROP_CONTENT_ENCODING = 1 << 14,
	PROP_HEADERS = 1 << 13,
	PROP_DELIVERY_MODE = 1 << 12,
	PROP_PRIORITY = 1 << 11,
	PROP_CORRELATION_ID = 1 << 10,
	PROP_REPLY_TO = 1 << 9,
	PROP_EXPIRATION = 1 << 8,
	PROP_MESSAGE_ID = 1 << 7,
	PROP_TIMESTAMP = 1 << 6,
	PROP_TYPE = 1 << 5,
	PROP_USER_ID = 1 << 4,
	PROP_APP_ID = 1 << 3,
	PROP_CLUSTER_ID = 1 << 2,
};

/* Basic properties. Strings and headers are views; a property is present
 * when its PROP_ bit is set in flags. */
struct amqp_props {
	uint16_t flags;
	struct bytes content_type;
	struct bytes content_encoding;
	struct bytes headers; /* encoded field table, without its length */
	uint8_t delivery_mode;
	uint8_t priority;
	struct bytes correlation_id;
	struct bytes reply_to;
	struct bytes expiration;
	struct bytes message_id;
	uint64_t timestamp;
	struct bytes type;
	struct bytes user_id;
	struct bytes app_id;
	struct bytes cluster_id;
};

struct content_header {
	uint16_t class_id;
	uint64_t body_size;
	struct bytes raw_props; /* flags + property bytes, verbatim */
	struct amqp_props props;
};

/* Decodes a header frame payload. Returns 0, or 502 SYNTAX_ERROR when it is
 * truncated, has trailing bytes, sets the continuation bit, or holds a
 * malformed headers table. Views borrow from p. */
int content_header_decode(const uint8_t *p, size_t n, struct content_header *h);

/* Decodes only flags+properties (a raw_props view, as stored). Returns 0 or
 * 502 like content_header_decode. */
int props_decode(const uint8_t *p, size_t n, struct amqp_props *props);

/* Appends the encoding of props (flags + present properties) to w. */
void props_encode(struct wbuf *w, const struct amqp_props *props);

/* Appends a whole header frame with the given raw flags+properties. */
void content_header_put(struct wbuf *w, uint16_t channel, uint16_t class_id,
			uint64_t body_size, struct bytes raw_props);

#endif
