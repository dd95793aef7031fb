/* table.h — AMQP field tables and arrays (spec §4.2.5.5, with RabbitMQ's
 * type letters from its "spec-differences" errata).
 *
 * Tables stay in their wire form: a struct bytes view of the encoded pairs
 * (without the 4-octet length). table_validate() walks one fully once, at
 * decode time; after that, lookups and iteration trust the bytes. This keeps
 * decoding allocation-free and lets the broker store and resend a table
 * verbatim. Writers build tables into a struct wbuf. */
#ifndef TERN_PROTOCOL_TABLE_H
#define TERN_PROTOCOL_TABLE_H

#include "protocol/wire.h"

/* Deepest nesting of tables/arrays accepted; deeper input is malformed. */
#define TABLE_MAX_DEPTH 32

/* One decoded field value. Strings, byte arrays, nested tables and arrays
 * are views into the table's bytes. */
struct fvalue {
	char type; /* the wire letter: t b B s u I i l L f d D S x T F A V */
	union {
		bool b;
		int64_t i;   /* b s I l: signed integers */
		uint64_t u;  /* B u i L T: unsigned integers and timestamps */
		float f;
		double d;
		struct {
			uint8_t scale;
			uint32_t value;
		} dec;
		struct bytes s;  /* S x: strings; F A: nested encoded table/array */
	} v;
};

/* Checks that t is a well-formed table: every key a shortstr of 1-128
 * octets, every value of a known type and within bounds, nesting no deeper
 * than TABLE_MAX_DEPTH. Returns 0 or -1. */
int table_validate(struct bytes t);

/* Same for the body of a field array ('A'). */
int array_validate(struct bytes a);

/* Iteration over a validated table. Usage:
 *   struct table_iter it = table_iter(t); struct bytes k; struct fvalue v;
 *   while (table_next(&it, &k, &v)) ...                                     */
struct table_iter {
	struct rd r;
};

static inline struct table_iter table_iter(struct bytes t)
{
	return (struct table_iter){rd_init(t.p, t.len)};
}

/* Returns 1 and fills key/value, or 0 at the end (or on malformed bytes). */
int table_next(struct table_iter *it, struct bytes *key, struct fvalue *v);

/* Iteration over a validated array: same contract without keys. */
int array_next(struct table_iter *it, struct fvalue *v);

/* Finds key in table t. Returns 1 and fills v, or 0 when absent. */
int table_get(struct bytes t, const char *key, struct fvalue *v);

/* True when v is an integer of any width (b B s u I i l L); *out gets its
 * value. An 'L' above INT64_MAX is not representable and returns false.
 * x-arguments such as x-max-length arrive as any of these. */
bool fvalue_int(const struct fvalue *v, int64_t *out);

/* True when v is a string ('S' or 'x'); *out gets its bytes. */
bool fvalue_str(const struct fvalue *v, struct bytes *out);

/* Compares two values by value: integers across widths, strings by bytes,
 * floats by value, nested tables/arrays by their encoded bytes.
 * Returns true when equal. */
bool fvalue_equal(const struct fvalue *a, const struct fvalue *b);

/* Table/array writer. A table is written as its 4-octet length followed by
 * pairs; tw_begin() writes a placeholder length and tw_end() patches it.
 * Nested tables and arrays use the same begin/end pair on the same wbuf.
 *   size_t t = tw_begin(w); tw_key(w, "a"); tv_str(w, "x"); tw_end(w, t); */
size_t tw_begin(struct wbuf *w);
void tw_end(struct wbuf *w, size_t start);
void tw_key(struct wbuf *w, const char *key);

/* Value writers: each writes the type letter and the value. */
void tv_bool(struct wbuf *w, bool b);
void tv_i32(struct wbuf *w, int32_t v);  /* 'I' */
void tv_i64(struct wbuf *w, int64_t v);  /* 'l' */
void tv_str(struct wbuf *w, const char *s);
void tv_bytes(struct wbuf *w, struct bytes s);     /* 'S' with these bytes */
void tv_timestamp(struct wbuf *w, uint64_t t);
void tv_void(struct wbuf *w);
/* Writes a decoded value back in its own type. */
void tv_value(struct wbuf *w, const struct fvalue *v);
/* 'F' and 'A' open a nested table or array: write the letter, then
 * tw_begin()/tw_end() around its contents (for arrays, values only). */
void tv_table_letter(struct wbuf *w);
void tv_array_letter(struct wbuf *w);

#endif
