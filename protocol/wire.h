/* wire.h — the byte level of the AMQP 0-9-1 codec (spec §4.2.5, "data types").
 *
 * Everything AMQP puts on the wire is big-endian. Reading goes through a
 * bounded cursor (struct rd) that never reads past its end and remembers the
 * first failure, so decoders can read a whole method and check once.
 * Writing goes into a growable byte buffer (struct wbuf). */
#ifndef TERN_PROTOCOL_WIRE_H
#define TERN_PROTOCOL_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* A borrowed view of bytes: a string, a table or a body inside a frame.
 * Valid only as long as the buffer it points into. */
struct bytes {
	const uint8_t *p;
	uint32_t len;
};

/* True when view b holds exactly the NUL-free C string s. */
static inline bool bytes_eq(struct bytes b, const char *s)
{
	size_t n = strlen(s);
	return b.len == n && (n == 0 || memcmp(b.p, s, n) == 0);
}

/* Orders views byte by byte, a prefix before what extends it (Erlang's
 * order of binaries, which RabbitMQ sorts header keys by). */
static inline int bytes_cmp(struct bytes a, struct bytes b)
{
	uint32_t n = a.len < b.len ? a.len : b.len;
	int c = n ? memcmp(a.p, b.p, n) : 0;
	if (c)
		return c;
	return (a.len > b.len) - (a.len < b.len);
}

static inline struct bytes bytes_of(const char *s)
{
	return (struct bytes){(const uint8_t *)s, (uint32_t)strlen(s)};
}

static inline uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) << 32 | get32(p + 4);
}

static inline void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)(v >> 32));
	put32(p + 4, (uint32_t)v);
}

/* Bounded reader. After any read past the end, bad is set, reads return
 * zero/empty, and the cursor stops moving. */
struct rd {
	const uint8_t *p;
	size_t len;
	size_t off;
	bool bad;
};

static inline struct rd rd_init(const uint8_t *p, size_t len)
{
	return (struct rd){p, len, 0, false};
}

static inline size_t rd_left(const struct rd *r)
{
	return r->len - r->off;
}

/* Returns a pointer to the next n bytes and advances, or NULL (and sets bad). */
static inline const uint8_t *rd_take(struct rd *r, size_t n)
{
	if (r->bad || n > r->len - r->off) {
		r->bad = true;
		return NULL;
	}
	const uint8_t *p = r->p + r->off;
	r->off += n;
	return p;
}

static inline uint8_t rd_u8(struct rd *r)
{
	const uint8_t *p = rd_take(r, 1);
	return p ? p[0] : 0;
}

static inline uint16_t rd_u16(struct rd *r)
{
	const uint8_t *p = rd_take(r, 2);
	return p ? get16(p) : 0;
}

static inline uint32_t rd_u32(struct rd *r)
{
	const uint8_t *p = rd_take(r, 4);
	return p ? get32(p) : 0;
}

static inline uint64_t rd_u64(struct rd *r)
{
	const uint8_t *p = rd_take(r, 8);
	return p ? get64(p) : 0;
}

/* shortstr: one length octet, then the bytes. */
static inline struct bytes rd_shortstr(struct rd *r)
{
	uint8_t n = rd_u8(r);
	const uint8_t *p = rd_take(r, n);
	return p ? (struct bytes){p, n} : (struct bytes){(const uint8_t *)"", 0};
}

/* longstr: a 32-bit length, then the bytes. The length is checked against
 * what is left before it is used, so 2^32-1 cannot overflow anything. */
static inline struct bytes rd_longstr(struct rd *r)
{
	uint32_t n = rd_u32(r);
	const uint8_t *p = rd_take(r, n);
	return p ? (struct bytes){p, n} : (struct bytes){(const uint8_t *)"", 0};
}

/* Growable output buffer. Owned by whoever embeds it; wb_free releases it.
 * Allocation failure aborts (the sizes written are bounded by the caller). */
struct wbuf {
	uint8_t *p;
	size_t len;
	size_t cap;
};

/* Makes room for n more bytes and returns where they go (len not moved).
 * Inline for the common case, room already there: every field of every
 * frame written comes through here, some 40 calls a delivered message. */
uint8_t *wb_grow(struct wbuf *w, size_t n);

static inline uint8_t *wb_reserve(struct wbuf *w, size_t n)
{
	return w->cap - w->len >= n ? w->p + w->len : wb_grow(w, n);
}
void wb_free(struct wbuf *w);

static inline void wb_add(struct wbuf *w, const void *src, size_t n)
{
	if (n == 0)
		return;
	memcpy(wb_reserve(w, n), src, n);
	w->len += n;
}

static inline void wb_u8(struct wbuf *w, uint8_t v)
{
	*wb_reserve(w, 1) = v;
	w->len += 1;
}

static inline void wb_u16(struct wbuf *w, uint16_t v)
{
	put16(wb_reserve(w, 2), v);
	w->len += 2;
}

static inline void wb_u32(struct wbuf *w, uint32_t v)
{
	put32(wb_reserve(w, 4), v);
	w->len += 4;
}

static inline void wb_u64(struct wbuf *w, uint64_t v)
{
	put64(wb_reserve(w, 8), v);
	w->len += 8;
}

/* Writes a shortstr; a view longer than 255 bytes is cut at 255 (callers
 * validate names earlier; this keeps the frame well-formed regardless). */
static inline void wb_shortstr(struct wbuf *w, struct bytes s)
{
	uint8_t n = s.len > 255 ? 255 : (uint8_t)s.len;
	wb_u8(w, n);
	wb_add(w, s.p, n);
}

static inline void wb_longstr(struct wbuf *w, struct bytes s)
{
	wb_u32(w, s.len);
	wb_add(w, s.p, s.len);
}

#endif
