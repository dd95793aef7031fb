/* fuzz_method.c — libFuzzer target for method_decode (protocol/method.c).
 * Input: a method frame payload (class, method, arguments). Whatever
 * decodes must re-encode to the same length, differing from the input at
 * most by bits no field uses; decoding that again must give the same
 * method, and encoding it the same bytes. Tables inside must hold up. */
#include <stdint.h>

#include "protocol/frame.h"
#include "protocol/method.h"
#include "tests/fuzz/fuzz_check.h"

/* The encoder may only drop bits the input set in octets of packed bit
 * fields (unused high bits); every other octet must come back unchanged. */
static void check_same_bytes(const uint8_t *in, const struct wbuf *out, size_t n, bool has_bits)
{
	FUZZ_ASSERT(out->len == n);
	for (size_t i = 0; i < n; i++) {
		if (in[i] == out->p[i])
			continue;
		FUZZ_ASSERT(has_bits);
		FUZZ_ASSERT((out->p[i] & ~in[i]) == 0);
	}
}

static void check_tables(const struct amqp_method *m, const struct method_desc *d)
{
	const uint8_t *base = (const uint8_t *)&m->a;
	for (unsigned i = 0; i < d->nfields; i++)
		if (d->fields[i].type == FT_TABLE)
			fz_check_table(*(const struct bytes *)(base + d->fields[i].offset));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct amqp_method m, m2;
	int rc = method_decode(data, size, &m);
	if (rc != 0) {
		FUZZ_ASSERT(rc == AMQP_SYNTAX_ERROR || rc == AMQP_NOT_IMPLEMENTED);
		FUZZ_ASSERT(rc != AMQP_NOT_IMPLEMENTED || size >= 4);
		return 0;
	}
	const struct method_desc *d = method_find(m.id);
	FUZZ_ASSERT(d != NULL && m.id == get32(data));
	bool has_bits = false;
	for (unsigned i = 0; i < d->nfields; i++)
		has_bits |= d->fields[i].type == FT_BIT;
	check_tables(&m, d);

	struct wbuf w = {0}, w2 = {0};
	method_encode(&w, &m);
	check_same_bytes(data, &w, size, has_bits);
	FUZZ_ASSERT(method_decode(w.p, w.len, &m2) == 0);
	FUZZ_ASSERT(fz_methods_same(&m, &m2));
	method_encode(&w2, &m2);
	FUZZ_ASSERT(w2.len == w.len && memcmp(w2.p, w.p, w.len) == 0);
	wb_free(&w);
	wb_free(&w2);
	return 0;
}
