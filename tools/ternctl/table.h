/* table.h — ternctl's plain-text tables: cells added row by row, printed
 * with every column as wide as its widest cell (in UTF-8 characters), two
 * spaces between columns, numbers right-aligned, no trailing blanks. */
#ifndef TERNCTL_TABLE_H
#define TERNCTL_TABLE_H

#include <stdbool.h>
#include <stdio.h>

#include <jansson.h>

/* Owned by whoever called table_new(); table_free() releases it. */
struct table;

/* A table of ncols columns; headers (ncols strings, or NULL for none). */
struct table *table_new(int ncols, const char *const *headers);
void table_free(struct table *t);

/* Appends the next cell (a row ends after ncols cells); text is copied,
 * control characters shown as '?'. */
void table_cell(struct table *t, const char *text, bool right);

/* Appends a JSON value as a cell: numbers right-aligned (reals with one
 * decimal), strings as they are, booleans as true/false, arrays of strings
 * joined by ",", other arrays and objects as compact JSON, and absent or
 * null values as missing. */
void table_json(struct table *t, const json_t *v, const char *missing);

int table_rows(const struct table *t);
void table_print(const struct table *t, FILE *f);

#endif
