/* method.c — generic, descriptor-driven decoding and encoding of AMQP
 * method arguments (spec §4.2.4; bit packing per §4.2.5.2: consecutive bit
 * fields share octets, least significant bit first). */
#include "protocol/method.h"

#include "protocol/frame.h"
#include "protocol/table.h"

const struct method_desc *method_find(uint32_t id)
{
	unsigned lo = 0, hi = method_table_len;
	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;
		if (method_table[mid].id == id)
			return &method_table[mid];
		if (method_table[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

const char *method_name(uint32_t id)
{
	const struct method_desc *d = method_find(id);
	return d ? d->name : "unknown";
}

int method_decode(const uint8_t *p, size_t n, struct amqp_method *m)
{
	struct rd r = rd_init(p, n);
	uint16_t cls = rd_u16(&r), idx = rd_u16(&r);
	if (r.bad)
		return AMQP_SYNTAX_ERROR;
	m->id = METHOD_ID(cls, idx);
	const struct method_desc *d = method_find(m->id);
	if (!d)
		return AMQP_NOT_IMPLEMENTED;
	memset(&m->a, 0, sizeof m->a);
	uint8_t *base = (uint8_t *)&m->a;
	uint8_t bits = 0;
	int nbit = 8; /* bits left in `bits`; 8 means "read a new octet" */
	for (unsigned i = 0; i < d->nfields; i++) {
		const struct field_desc *f = &d->fields[i];
		void *dst = base + f->offset;
		if (f->type != FT_BIT)
			nbit = 8;
		switch (f->type) {
		case FT_OCTET: *(uint8_t *)dst = rd_u8(&r); break;
		case FT_SHORT: *(uint16_t *)dst = rd_u16(&r); break;
		case FT_LONG: *(uint32_t *)dst = rd_u32(&r); break;
		case FT_LONGLONG:
		case FT_TIMESTAMP: *(uint64_t *)dst = rd_u64(&r); break;
		case FT_BIT:
			if (nbit == 8) {
				bits = rd_u8(&r);
				nbit = 0;
			}
			*(bool *)dst = (bits >> nbit++) & 1;
			break;
		case FT_SHORTSTR: *(struct bytes *)dst = rd_shortstr(&r); break;
		case FT_LONGSTR: *(struct bytes *)dst = rd_longstr(&r); break;
		case FT_TABLE:
			*(struct bytes *)dst = rd_longstr(&r);
			if (!r.bad && table_validate(*(struct bytes *)dst) < 0)
				return AMQP_SYNTAX_ERROR;
			break;
		}
		if (r.bad)
			return AMQP_SYNTAX_ERROR;
	}
	return rd_left(&r) == 0 ? 0 : AMQP_SYNTAX_ERROR;
}

void method_encode(struct wbuf *w, const struct amqp_method *m)
{
	const struct method_desc *d = method_find(m->id);
	wb_u32(w, m->id);
	if (!d)
		return;
	const uint8_t *base = (const uint8_t *)&m->a;
	size_t bitpos = 0; /* offset in w of the octet collecting bits */
	int nbit = 8;
	for (unsigned i = 0; i < d->nfields; i++) {
		const struct field_desc *f = &d->fields[i];
		const void *src = base + f->offset;
		if (f->type != FT_BIT)
			nbit = 8;
		switch (f->type) {
		case FT_OCTET: wb_u8(w, *(const uint8_t *)src); break;
		case FT_SHORT: wb_u16(w, *(const uint16_t *)src); break;
		case FT_LONG: wb_u32(w, *(const uint32_t *)src); break;
		case FT_LONGLONG:
		case FT_TIMESTAMP: wb_u64(w, *(const uint64_t *)src); break;
		case FT_BIT:
			if (nbit == 8) {
				bitpos = w->len;
				wb_u8(w, 0);
				nbit = 0;
			}
			if (*(const bool *)src)
				w->p[bitpos] |= (uint8_t)(1u << nbit);
			nbit++;
			break;
		case FT_SHORTSTR: wb_shortstr(w, *(const struct bytes *)src); break;
		case FT_LONGSTR:
		case FT_TABLE: wb_longstr(w, *(const struct bytes *)src); break;
		}
	}
}

void method_put(struct wbuf *w, uint16_t channel, const struct amqp_method *m)
{
	size_t start = frame_begin(w, FRAME_METHOD, channel);
	method_encode(w, m);
	frame_end(w, start);
}
