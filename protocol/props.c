/* props.c — content header frames and basic properties (spec §4.2.6.1). */
#include "protocol/props.h"

#include "protocol/frame.h"
#include "protocol/table.h"

/* The properties in flag order, as (flag, kind, offset) rows, so decoding
 * and encoding are one loop each. */
enum { K_SHORTSTR, K_TABLE, K_OCTET, K_TIMESTAMP };

static const struct {
	uint16_t flag;
	uint8_t kind;
	uint16_t offset;
} prop_rows[] = {
	{PROP_CONTENT_TYPE, K_SHORTSTR, offsetof(struct amqp_props, content_type)},
	{PROP_CONTENT_ENCODING, K_SHORTSTR, offsetof(struct amqp_props, content_encoding)},
	{PROP_HEADERS, K_TABLE, offsetof(struct amqp_props, headers)},
	{PROP_DELIVERY_MODE, K_OCTET, offsetof(struct amqp_props, delivery_mode)},
	{PROP_PRIORITY, K_OCTET, offsetof(struct amqp_props, priority)},
	{PROP_CORRELATION_ID, K_SHORTSTR, offsetof(struct amqp_props, correlation_id)},
	{PROP_REPLY_TO, K_SHORTSTR, offsetof(struct amqp_props, reply_to)},
	{PROP_EXPIRATION, K_SHORTSTR, offsetof(struct amqp_props, expiration)},
	{PROP_MESSAGE_ID, K_SHORTSTR, offsetof(struct amqp_props, message_id)},
	{PROP_TIMESTAMP, K_TIMESTAMP, offsetof(struct amqp_props, timestamp)},
	{PROP_TYPE, K_SHORTSTR, offsetof(struct amqp_props, type)},
	{PROP_USER_ID, K_SHORTSTR, offsetof(struct amqp_props, user_id)},
	{PROP_APP_ID, K_SHORTSTR, offsetof(struct amqp_props, app_id)},
	{PROP_CLUSTER_ID, K_SHORTSTR, offsetof(struct amqp_props, cluster_id)},
};
#define NPROPS (sizeof prop_rows / sizeof prop_rows[0])

int props_decode(const uint8_t *p, size_t n, struct amqp_props *props)
{
	struct rd r = rd_init(p, n);
	memset(props, 0, sizeof *props);
	props->flags = rd_u16(&r);
	if (r.bad || (props->flags & 1))
		return AMQP_SYNTAX_ERROR; /* no property-flags continuation in 0-9-1 */
	uint8_t *base = (uint8_t *)props;
	/* Only the properties present, highest flag first (the wire's order):
	 * most messages carry one or two of the fourteen. Row i is flag bit
	 * 15 - i; bit 1 is unused in 0-9-1 and ignored, as before. */
	for (unsigned f = props->flags & ~3u; f;) {
		unsigned bit = 31u - (unsigned)__builtin_clz(f);
		f &= ~(1u << bit);
		size_t i = 15 - bit;
		void *dst = base + prop_rows[i].offset;
		switch (prop_rows[i].kind) {
		case K_SHORTSTR: *(struct bytes *)dst = rd_shortstr(&r); break;
		case K_OCTET: *(uint8_t *)dst = rd_u8(&r); break;
		case K_TIMESTAMP: *(uint64_t *)dst = rd_u64(&r); break;
		case K_TABLE:
			*(struct bytes *)dst = rd_longstr(&r);
			if (!r.bad && table_validate(*(struct bytes *)dst) < 0)
				return AMQP_SYNTAX_ERROR;
			break;
		}
	}
	return r.bad || rd_left(&r) ? AMQP_SYNTAX_ERROR : 0;
}

int content_header_decode(const uint8_t *p, size_t n, struct content_header *h)
{
	if (n < 14)
		return AMQP_SYNTAX_ERROR;
	h->class_id = get16(p);
	/* p[2..3] is the weight, unused in 0-9-1. */
	h->body_size = get64(p + 4);
	h->raw_props = (struct bytes){p + 12, (uint32_t)(n - 12)};
	return props_decode(p + 12, n - 12, &h->props);
}

void props_encode(struct wbuf *w, const struct amqp_props *props)
{
	uint16_t flags = props->flags & (uint16_t)~3u;
	wb_u16(w, flags);
	const uint8_t *base = (const uint8_t *)props;
	for (size_t i = 0; i < NPROPS; i++) {
		if (!(flags & prop_rows[i].flag))
			continue;
		const void *src = base + prop_rows[i].offset;
		switch (prop_rows[i].kind) {
		case K_SHORTSTR: wb_shortstr(w, *(const struct bytes *)src); break;
		case K_OCTET: wb_u8(w, *(const uint8_t *)src); break;
		case K_TIMESTAMP: wb_u64(w, *(const uint64_t *)src); break;
		case K_TABLE: wb_longstr(w, *(const struct bytes *)src); break;
		}
	}
}

void content_header_put(struct wbuf *w, uint16_t channel, uint16_t class_id,
			uint64_t body_size, struct bytes raw_props)
{
	frame_put_header(w, FRAME_HEADER, channel, 12 + raw_props.len);
	wb_u16(w, class_id);
	wb_u16(w, 0);
	wb_u64(w, body_size);
	wb_add(w, raw_props.p, raw_props.len);
	wb_u8(w, FRAME_END);
}
