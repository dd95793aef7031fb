/* table.c — AMQP field tables: validation, lookup, comparison, writing.
 *
 * Type letters as RabbitMQ and the common clients use them (RabbitMQ's
 * spec-differences page): t bool, b int8, B uint8, s int16, u uint16,
 * I int32, i uint32, l int64, L uint64, f float, d double, D decimal,
 * S longstr, x byte array, T timestamp, F table, A array, V void. */
#include "protocol/table.h"

/* Reads one value of type `type` from r into v, checking nested structures
 * when depth allows. Returns 0 or -1 (r->bad also set on truncation). */
static int read_value(struct rd *r, char type, struct fvalue *v, int depth, bool check);

static int walk_table(struct bytes t, int depth)
{
	if (depth > TABLE_MAX_DEPTH)
		return -1;
	struct rd r = rd_init(t.p, t.len);
	while (rd_left(&r) > 0) {
		struct bytes key = rd_shortstr(&r);
		if (r.bad || key.len == 0 || key.len > 128)
			return -1;
		char type = (char)rd_u8(&r);
		struct fvalue v;
		if (read_value(&r, type, &v, depth, true) < 0)
			return -1;
	}
	return r.bad ? -1 : 0;
}

static int walk_array(struct bytes a, int depth)
{
	if (depth > TABLE_MAX_DEPTH)
		return -1;
	struct rd r = rd_init(a.p, a.len);
	while (rd_left(&r) > 0) {
		char type = (char)rd_u8(&r);
		struct fvalue v;
		if (read_value(&r, type, &v, depth, true) < 0)
			return -1;
	}
	return r.bad ? -1 : 0;
}

static int read_value(struct rd *r, char type, struct fvalue *v, int depth, bool check)
{
	v->type = type;
	switch (type) {
	case 't': v->v.b = rd_u8(r) != 0; break;
	case 'b': v->v.i = (int8_t)rd_u8(r); break;
	case 'B': v->v.u = rd_u8(r); break;
	case 's': v->v.i = (int16_t)rd_u16(r); break;
	case 'u': v->v.u = rd_u16(r); break;
	case 'I': v->v.i = (int32_t)rd_u32(r); break;
	case 'i': v->v.u = rd_u32(r); break;
	case 'l': v->v.i = (int64_t)rd_u64(r); break;
	case 'L': case 'T': v->v.u = rd_u64(r); break;
	case 'f': {
		uint32_t bits = rd_u32(r);
		memcpy(&v->v.f, &bits, sizeof bits);
		break;
	}
	case 'd': {
		uint64_t bits = rd_u64(r);
		memcpy(&v->v.d, &bits, sizeof bits);
		break;
	}
	case 'D':
		v->v.dec.scale = rd_u8(r);
		v->v.dec.value = rd_u32(r);
		break;
	case 'S': case 'x': v->v.s = rd_longstr(r); break;
	case 'F':
		v->v.s = rd_longstr(r);
		if (check && !r->bad && walk_table(v->v.s, depth + 1) < 0)
			return -1;
		break;
	case 'A':
		v->v.s = rd_longstr(r);
		if (check && !r->bad && walk_array(v->v.s, depth + 1) < 0)
			return -1;
		break;
	case 'V': break;
	default: r->bad = true; return -1;
	}
	return r->bad ? -1 : 0;
}

int table_validate(struct bytes t)
{
	return walk_table(t, 1);
}

int array_validate(struct bytes a)
{
	return walk_array(a, 1);
}

int table_next(struct table_iter *it, struct bytes *key, struct fvalue *v)
{
	if (it->r.bad || rd_left(&it->r) == 0)
		return 0;
	*key = rd_shortstr(&it->r);
	char type = (char)rd_u8(&it->r);
	return read_value(&it->r, type, v, 0, false) == 0;
}

int array_next(struct table_iter *it, struct fvalue *v)
{
	if (it->r.bad || rd_left(&it->r) == 0)
		return 0;
	char type = (char)rd_u8(&it->r);
	return read_value(&it->r, type, v, 0, false) == 0;
}

int table_get(struct bytes t, const char *key, struct fvalue *v)
{
	struct table_iter it = table_iter(t);
	struct bytes k;
	while (table_next(&it, &k, v))
		if (bytes_eq(k, key))
			return 1;
	return 0;
}

bool fvalue_int(const struct fvalue *v, int64_t *out)
{
	switch (v->type) {
	case 'b': case 's': case 'I': case 'l':
		*out = v->v.i;
		return true;
	case 'B': case 'u': case 'i':
		*out = (int64_t)v->v.u;
		return true;
	case 'L':
		if (v->v.u > (uint64_t)INT64_MAX)
			return false;
		*out = (int64_t)v->v.u;
		return true;
	default:
		return false;
	}
}

bool fvalue_str(const struct fvalue *v, struct bytes *out)
{
	if (v->type != 'S' && v->type != 'x')
		return false;
	*out = v->v.s;
	return true;
}

static bool is_float(const struct fvalue *v, double *out)
{
	if (v->type == 'f')
		*out = v->v.f;
	else if (v->type == 'd')
		*out = v->v.d;
	else
		return false;
	return true;
}

bool fvalue_equal(const struct fvalue *a, const struct fvalue *b)
{
	int64_t ia, ib;
	double da, db;
	if (fvalue_int(a, &ia) && fvalue_int(b, &ib))
		return ia == ib;
	if (is_float(a, &da) && is_float(b, &db))
		return da == db;
	bool sa = a->type == 'S' || a->type == 'x', sb = b->type == 'S' || b->type == 'x';
	if (sa && sb)
		return a->v.s.len == b->v.s.len &&
		       (a->v.s.len == 0 || memcmp(a->v.s.p, b->v.s.p, a->v.s.len) == 0);
	if (a->type != b->type)
		return false;
	switch (a->type) {
	case 't': return a->v.b == b->v.b;
	/* An 'L' above INT64_MAX is no int64, but still equals itself. */
	case 'L': case 'T': return a->v.u == b->v.u;
	case 'D': return a->v.dec.scale == b->v.dec.scale && a->v.dec.value == b->v.dec.value;
	case 'V': return true;
	case 'F': case 'A':
		return a->v.s.len == b->v.s.len &&
		       (a->v.s.len == 0 || memcmp(a->v.s.p, b->v.s.p, a->v.s.len) == 0);
	default: return false;
	}
}

size_t tw_begin(struct wbuf *w)
{
	size_t start = w->len;
	wb_u32(w, 0);
	return start;
}

void tw_end(struct wbuf *w, size_t start)
{
	put32(w->p + start, (uint32_t)(w->len - start - 4));
}

void tw_key(struct wbuf *w, const char *key)
{
	wb_shortstr(w, bytes_of(key));
}

void tv_bool(struct wbuf *w, bool b)
{
	wb_u8(w, 't');
	wb_u8(w, b ? 1 : 0);
}

void tv_i32(struct wbuf *w, int32_t v)
{
	wb_u8(w, 'I');
	wb_u32(w, (uint32_t)v);
}

void tv_i64(struct wbuf *w, int64_t v)
{
	wb_u8(w, 'l');
	wb_u64(w, (uint64_t)v);
}

void tv_str(struct wbuf *w, const char *s)
{
	tv_bytes(w, bytes_of(s));
}

void tv_bytes(struct wbuf *w, struct bytes s)
{
	wb_u8(w, 'S');
	wb_longstr(w, s);
}

void tv_timestamp(struct wbuf *w, uint64_t t)
{
	wb_u8(w, 'T');
	wb_u64(w, t);
}

void tv_void(struct wbuf *w)
{
	wb_u8(w, 'V');
}

void tv_table_letter(struct wbuf *w)
{
	wb_u8(w, 'F');
}

void tv_array_letter(struct wbuf *w)
{
	wb_u8(w, 'A');
}

void tv_value(struct wbuf *w, const struct fvalue *v)
{
	wb_u8(w, (uint8_t)v->type);
	switch (v->type) {
	case 't': wb_u8(w, v->v.b); break;
	case 'b': wb_u8(w, (uint8_t)v->v.i); break;
	case 'B': wb_u8(w, (uint8_t)v->v.u); break;
	case 's': wb_u16(w, (uint16_t)v->v.i); break;
	case 'u': wb_u16(w, (uint16_t)v->v.u); break;
	case 'I': wb_u32(w, (uint32_t)v->v.i); break;
	case 'i': wb_u32(w, (uint32_t)v->v.u); break;
	case 'l': wb_u64(w, (uint64_t)v->v.i); break;
	case 'L': case 'T': wb_u64(w, v->v.u); break;
	case 'f': {
		uint32_t bits;
		memcpy(&bits, &v->v.f, sizeof bits);
		wb_u32(w, bits);
		break;
	}
	case 'd': {
		uint64_t bits;
		memcpy(&bits, &v->v.d, sizeof bits);
		wb_u64(w, bits);
		break;
	}
	case 'D':
		wb_u8(w, v->v.dec.scale);
		wb_u32(w, v->v.dec.value);
		break;
	case 'S': case 'x': case 'F': case 'A': wb_longstr(w, v->v.s); break;
	default: break;
	}
}
