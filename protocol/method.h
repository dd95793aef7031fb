/* method.h — AMQP 0-9-1 method frames (spec §4.2.4): decode and encode every
 * method of connection, channel, exchange, queue, basic, confirm and tx.
 *
 * The per-method structs and descriptor rows are generated (methods_gen.h);
 * one generic loop here walks a method's row of field descriptors, so every
 * method is decoded and encoded by the same, fuzzed code. Decoded strings
 * and tables are views into the frame payload (see struct bytes). */
#ifndef TERN_PROTOCOL_METHOD_H
#define TERN_PROTOCOL_METHOD_H

#include "protocol/methods_gen.h"
#include "protocol/wire.h"

#define METHOD_ID(class_id, method_id) ((uint32_t)(class_id) << 16 | (uint32_t)(method_id))
#define METHOD_CLASS(id) ((uint16_t)((id) >> 16))
#define METHOD_INDEX(id) ((uint16_t)((id) & 0xFFFF))

enum ftype {
	FT_OCTET, FT_SHORT, FT_LONG, FT_LONGLONG, FT_TIMESTAMP,
	FT_BIT, FT_SHORTSTR, FT_LONGSTR, FT_TABLE,
};

struct field_desc {
	uint8_t type;     /* enum ftype */
	uint16_t offset;  /* within the method's struct */
	const char *name;
};

enum {
	METHOD_CONTENT = 1, /* followed by a content header and body frames */
	METHOD_SYNC = 2,    /* expects a reply method */
};

struct method_desc {
	uint32_t id;
	const char *name; /* "basic.publish" */
	uint8_t flags;
	uint8_t nfields;
	const struct field_desc *fields;
};

extern const struct method_desc method_table[];
extern const unsigned method_table_len;

/* A decoded method: its id and its arguments. */
struct amqp_method {
	uint32_t id;
	union amqp_args a;
};

/* Looks a method up by id; NULL when unknown. */
const struct method_desc *method_find(uint32_t id);

/* Decodes a method frame's payload into m. Returns 0, or a reply code:
 * 540 NOT_IMPLEMENTED for an unknown class or method (as RabbitMQ), 502
 * SYNTAX_ERROR for arguments that are truncated, have trailing bytes, or
 * hold a malformed field table. m's views borrow from p. */
int method_decode(const uint8_t *p, size_t n, struct amqp_method *m);

/* Appends the payload of m (class, method, arguments) to w. */
void method_encode(struct wbuf *w, const struct amqp_method *m);

/* Appends m as a whole method frame on `channel`. */
void method_put(struct wbuf *w, uint16_t channel, const struct amqp_method *m);

/* "basic.publish" for a known id, "unknown" otherwise. */
const char *method_name(uint32_t id);

#endif
