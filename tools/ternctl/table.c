/* table.c — aligned plain-text tables for ternctl's listings (table.h). */
#include <stdlib.h>
#include <string.h>

#include "tools/ternctl/table.h"
#include "util/xalloc.h"

struct cell {
	char *text;
	bool right;
};

struct table {
	int ncols;
	size_t ncells, cap;
	struct cell *cells; /* row-major; the header row first when there is one */
	bool header;
};

struct table *table_new(int ncols, const char *const *headers)
{
	struct table *t = xcalloc(1, sizeof *t);
	t->ncols = ncols;
	if (headers) {
		for (int i = 0; i < ncols; i++)
			table_cell(t, headers[i], false);
		t->header = true;
	}
	return t;
}

void table_free(struct table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->ncells; i++)
		free(t->cells[i].text);
	free(t->cells);
	free(t);
}

void table_cell(struct table *t, const char *text, bool right)
{
	if (t->ncells == t->cap) {
		t->cap = t->cap ? 2 * t->cap : 64;
		t->cells = xrealloc(t->cells, t->cap * sizeof *t->cells);
	}
	char *s = xstrdup(text ? text : "");
	for (unsigned char *p = (unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			*p = '?';
	t->cells[t->ncells++] = (struct cell){s, right};
}

/* Strings of an array joined by ",", or NULL when some element is not one. */
static char *joined(const json_t *a)
{
	size_t n = 1, i;
	const json_t *v;
	json_array_foreach(a, i, v)
	{
		if (!json_is_string(v))
			return NULL;
		n += json_string_length(v) + 1;
	}
	char *s = xmalloc(n);
	s[0] = '\0';
	json_array_foreach(a, i, v)
	{
		if (i)
			strcat(s, ",");
		strcat(s, json_string_value(v));
	}
	return s;
}

void table_json(struct table *t, const json_t *v, const char *missing)
{
	char num[64];
	char *s = NULL;
	switch (v ? json_typeof(v) : JSON_NULL) {
	case JSON_INTEGER:
		snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		table_cell(t, num, true);
		return;
	case JSON_REAL:
		snprintf(num, sizeof num, "%.1f", json_real_value(v));
		table_cell(t, num, true);
		return;
	case JSON_STRING: table_cell(t, json_string_value(v), false); return;
	case JSON_TRUE: table_cell(t, "true", false); return;
	case JSON_FALSE: table_cell(t, "false", false); return;
	case JSON_NULL: table_cell(t, missing, false); return;
	case JSON_ARRAY: s = joined(v); /* fall through */
	case JSON_OBJECT:
		if (!s)
			s = json_dumps(v, JSON_COMPACT);
		table_cell(t, s, false);
		free(s);
		return;
	}
}

int table_rows(const struct table *t)
{
	return (int)(t->ncells / (size_t)t->ncols) - (t->header ? 1 : 0);
}

/* Width in characters: UTF-8 continuation bytes do not count. */
static size_t width(const char *s)
{
	size_t w = 0;
	for (; *s; s++)
		w += ((unsigned char)*s & 0xc0) != 0x80;
	return w;
}

void table_print(const struct table *t, FILE *f)
{
	size_t cols = (size_t)t->ncols;
	size_t *w = xcalloc(cols, sizeof *w);
	size_t linecap = 2;
	for (size_t i = 0; i < t->ncells; i++) {
		size_t cw = width(t->cells[i].text);
		if (cw > w[i % cols])
			w[i % cols] = cw;
		linecap += strlen(t->cells[i].text) + 2;
	}
	for (size_t i = 0; i < cols; i++)
		linecap += w[i];
	char *line = xmalloc(linecap);
	size_t n = 0;
	for (size_t i = 0; i < t->ncells; i++) {
		size_t col = i % cols;
		const struct cell *c = &t->cells[i];
		bool right = c->right;
		/* A header sits over its column as the first row's cell does. */
		if (t->header && i < cols && t->ncells > i + cols)
			right = t->cells[i + cols].right;
		size_t pad = w[col] - width(c->text), len = strlen(c->text);
		if (col)
			n += (size_t)sprintf(line + n, "  ");
		if (right)
			n += (size_t)sprintf(line + n, "%*s", (int)pad, "");
		memcpy(line + n, c->text, len);
		n += len;
		if (!right)
			n += (size_t)sprintf(line + n, "%*s", (int)pad, "");
		if (col + 1 == cols) {
			while (n > 0 && line[n - 1] == ' ')
				n--; /* no trailing blanks, even after an empty last cell */
			line[n++] = '\n';
			fwrite(line, 1, n, f);
			n = 0;
		}
	}
	free(line);
	free(w);
}
