/* jtable.c — field tables <-> JSON (see jtable.h). */
#include "broker/model/jtable.h"

#include <stdio.h>
#include <stdlib.h>

#include "protocol/table.h"
#include "util/xalloc.h"

static int put_value(struct wbuf *w, const json_t *v, int depth, char *err, size_t errlen);

static int put_table(struct wbuf *w, const json_t *obj, int depth, char *err, size_t errlen)
{
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)obj, key, v)
	{
		if (!*key || strlen(key) > 128) {
			snprintf(err, errlen, "argument name '%.40s' must be 1 to 128 octets", key);
			return -1;
		}
		tw_key(w, key);
		if (put_value(w, v, depth, err, errlen) < 0)
			return -1;
	}
	return 0;
}

static int put_value(struct wbuf *w, const json_t *v, int depth, char *err, size_t errlen)
{
	if (depth >= TABLE_MAX_DEPTH) {
		snprintf(err, errlen, "arguments nest deeper than %d levels", TABLE_MAX_DEPTH);
		return -1;
	}
	switch (json_typeof(v)) {
	case JSON_STRING:
		tv_bytes(w, (struct bytes){(const uint8_t *)json_string_value(v),
					   (uint32_t)json_string_length(v)});
		return 0;
	case JSON_INTEGER: tv_i64(w, json_integer_value(v)); return 0;
	case JSON_REAL: {
		double d = json_real_value(v);
		uint64_t bits;
		memcpy(&bits, &d, sizeof bits);
		wb_u8(w, 'd');
		wb_u64(w, bits);
		return 0;
	}
	case JSON_TRUE:
	case JSON_FALSE: tv_bool(w, json_is_true(v)); return 0;
	case JSON_NULL: tv_void(w); return 0;
	case JSON_OBJECT: {
		tv_table_letter(w);
		size_t t = tw_begin(w);
		if (put_table(w, v, depth + 1, err, errlen) < 0)
			return -1;
		tw_end(w, t);
		return 0;
	}
	case JSON_ARRAY: {
		tv_array_letter(w);
		size_t t = tw_begin(w);
		size_t i;
		json_t *e;
		json_array_foreach((json_t *)v, i,
				   e) if (put_value(w, e, depth + 1, err, errlen) < 0) return -1;
		tw_end(w, t);
		return 0;
	}
	}
	snprintf(err, errlen, "unsupported JSON value in arguments");
	return -1;
}

int jtable_from_json(const json_t *obj, struct bytes *out, char *err, size_t errlen)
{
	*out = (struct bytes){0};
	if (!obj || json_is_null(obj))
		return 0;
	if (!json_is_object(obj)) {
		snprintf(err, errlen, "arguments must be a JSON object");
		return -1;
	}
	if (json_object_size(obj) == 0)
		return 0;
	struct wbuf w = {0};
	size_t t = tw_begin(&w);
	if (put_table(&w, obj, 0, err, errlen) < 0) {
		wb_free(&w);
		return -1;
	}
	tw_end(&w, t);
	/* Callers keep the pairs without the 4-octet length, like decoded
	 * method arguments. */
	size_t n = w.len - 4;
	uint8_t *p = xmalloc(n ? n : 1);
	memcpy(p, w.p + 4, n);
	wb_free(&w);
	*out = (struct bytes){p, (uint32_t)n};
	return 0;
}

static json_t *value_json(const struct fvalue *v);

static json_t *array_json(struct bytes a)
{
	json_t *arr = json_array();
	struct table_iter it = table_iter(a);
	struct fvalue e;
	while (array_next(&it, &e))
		json_array_append_new(arr, value_json(&e));
	return arr;
}

static json_t *value_json(const struct fvalue *v)
{
	switch (v->type) {
	case 't': return json_boolean(v->v.b);
	case 'b':
	case 's':
	case 'I':
	case 'l': return json_integer(v->v.i);
	case 'B':
	case 'u':
	case 'i':
	case 'T': return json_integer((json_int_t)v->v.u);
	case 'L': return json_integer((json_int_t)v->v.u);
	case 'f': return json_real(v->v.f);
	case 'd': return json_real(v->v.d);
	case 'D': {
		double d = v->v.dec.value;
		for (int i = 0; i < v->v.dec.scale; i++)
			d /= 10;
		return json_real(d);
	}
	case 'S':
	case 'x': return json_stringn_nocheck((const char *)v->v.s.p, v->v.s.len);
	case 'F': return jtable_to_json(v->v.s);
	case 'A': return array_json(v->v.s);
	default: return json_null();
	}
}

json_t *jtable_to_json(struct bytes table)
{
	json_t *obj = json_object();
	struct table_iter it = table_iter(table);
	struct bytes k;
	struct fvalue v;
	while (table_next(&it, &k, &v)) {
		char key[129];
		snprintf(key, sizeof key, "%.*s", (int)k.len, (const char *)k.p);
		json_object_set_new(obj, key, value_json(&v));
	}
	return obj;
}
