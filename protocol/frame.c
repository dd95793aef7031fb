/* frame.c — AMQP 0-9-1 frame parsing and framing helpers (spec §2.3.5, §4.2.3). */
#include "protocol/frame.h"

#include <stdlib.h>

const uint8_t protocol_header[PROTOCOL_HEADER_LEN] = {'A', 'M', 'Q', 'P', 0, 0, 9, 1};

uint8_t *wb_grow(struct wbuf *w, size_t n)
{
	size_t cap = w->cap ? w->cap : 256;
	while (cap - w->len < n)
		cap *= 2;
	uint8_t *p = realloc(w->p, cap);
	if (!p)
		abort(); /* sizes are bounded by the caller; OOM is fatal */
	w->p = p;
	w->cap = cap;
	return w->p + w->len;
}

void wb_free(struct wbuf *w)
{
	free(w->p);
	*w = (struct wbuf){0};
}

static const struct {
	int code;
	const char *name;
} reply_names[] = {
	{200, "REPLY_SUCCESS"},       {311, "CONTENT_TOO_LARGE"},  {312, "NO_ROUTE"},
	{313, "NO_CONSUMERS"},        {320, "CONNECTION_FORCED"},  {402, "INVALID_PATH"},
	{403, "ACCESS_REFUSED"},      {404, "NOT_FOUND"},          {405, "RESOURCE_LOCKED"},
	{406, "PRECONDITION_FAILED"}, {501, "FRAME_ERROR"},        {502, "SYNTAX_ERROR"},
	{503, "COMMAND_INVALID"},     {504, "CHANNEL_ERROR"},      {505, "UNEXPECTED_FRAME"},
	{506, "RESOURCE_ERROR"},      {530, "NOT_ALLOWED"},        {540, "NOT_IMPLEMENTED"},
	{541, "INTERNAL_ERROR"},
};

const char *amqp_reply_name(int code)
{
	for (size_t i = 0; i < sizeof reply_names / sizeof reply_names[0]; i++)
		if (reply_names[i].code == code)
			return reply_names[i].name;
	return "UNKNOWN";
}

int amqp_reply_is_hard(int code)
{
	switch (code) {
	case 320: case 402: case 501: case 502: case 503: case 504:
	case 505: case 506: case 530: case 540: case 541:
		return 1;
	default:
		return 0;
	}
}

static long frame_fail(struct frame *f, const char *why)
{
	f->err = AMQP_FRAME_ERROR;
	f->why = why;
	return -1;
}

long frame_parse(const uint8_t *buf, size_t len, uint32_t frame_max, struct frame *f)
{
	if (len < 7)
		return 0;
	f->type = buf[0];
	f->channel = get16(buf + 1);
	f->size = get32(buf + 3);
	f->err = 0;
	f->why = NULL;
	if (f->type != FRAME_METHOD && f->type != FRAME_HEADER && f->type != FRAME_BODY &&
	    f->type != FRAME_HEARTBEAT)
		return frame_fail(f, "unknown frame type");
	/* Compare in 64 bits: size + 8 must not wrap. */
	uint64_t total = (uint64_t)f->size + FRAME_OVERHEAD;
	if (frame_max && total > frame_max)
		return frame_fail(f, "frame size exceeds frame_max");
	if (len < total)
		return 0;
	if (buf[total - 1] != FRAME_END)
		return frame_fail(f, "bad frame end");
	f->payload = buf + 7;
	return (long)total;
}

int protocol_header_check(const uint8_t *buf, size_t len)
{
	size_t n = len < PROTOCOL_HEADER_LEN ? len : PROTOCOL_HEADER_LEN;
	if (memcmp(buf, protocol_header, n) != 0)
		return -1;
	return n == PROTOCOL_HEADER_LEN ? 1 : 0;
}

void frame_put_header(struct wbuf *w, uint8_t type, uint16_t channel, uint32_t size)
{
	uint8_t *p = wb_reserve(w, 7);
	p[0] = type;
	put16(p + 1, channel);
	put32(p + 3, size);
	w->len += 7;
}

void frame_put(struct wbuf *w, uint8_t type, uint16_t channel, const void *p, uint32_t n)
{
	frame_put_header(w, type, channel, n);
	wb_add(w, p, n);
	wb_u8(w, FRAME_END);
}

void frame_put_heartbeat(struct wbuf *w)
{
	frame_put(w, FRAME_HEARTBEAT, 0, NULL, 0);
}

size_t frame_begin(struct wbuf *w, uint8_t type, uint16_t channel)
{
	size_t start = w->len;
	frame_put_header(w, type, channel, 0);
	return start;
}

void frame_end(struct wbuf *w, size_t start)
{
	put32(w->p + start + 3, (uint32_t)(w->len - start - 7));
	wb_u8(w, FRAME_END);
}
