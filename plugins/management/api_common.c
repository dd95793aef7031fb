/* api_common.c — what every list and object of the API shares, in
 * RabbitMQ's shapes: paging (page, page_size -> {items, page, page_size,
 * page_count, filtered_count, item_count, total_count}), the name filter
 * (use_regex), sorting by any field (dotted paths such as
 * message_stats.publish_details.rate), columns, and message_stats. */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/stats.h"
#include "plugins/management/mgmt.h"
#include "util/regex.h"

bool body_bool(struct req *q, const char *key, bool def, bool *out)
{
	json_t *v = json_object_get(q->body, key);
	const char *s = json_string_value(v);
	if (!v)
		*out = def;
	else if (json_is_boolean(v))
		*out = json_is_true(v);
	else if (s && (!strcmp(s, "true") || !strcmp(s, "false")))
		*out = s[0] == 't';
	else {
		reply_error(q, 400, "%s: expected true or false", key);
		return false;
	}
	return true;
}

bool body_int(struct req *q, const char *key, json_int_t def, json_int_t *out)
{
	json_t *v = json_object_get(q->body, key);
	const char *s = json_string_value(v);
	char *end;
	if (!v)
		*out = def;
	else if (json_is_integer(v))
		*out = json_integer_value(v);
	else if (s && *s && (*out = strtoll(s, &end, 10), !*end))
		;
	else {
		reply_error(q, 400, "%s: expected an integer", key);
		return false;
	}
	return true;
}

void body_number_field(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	char *end;
	if (!s || !*s)
		return;
	long long n = strtoll(s, &end, 10);
	if (!*end)
		json_object_set_new(o, key, json_integer(n));
}

json_t *rate_json(double r)
{
	return json_pack("{s:f}", "rate", r);
}

json_t *message_stats_json(const struct stats *s)
{
	json_t *o = json_object();
	uint64_t deliver_get = 0;
	double dg_rate = 0;
	for (int k = 0; k < ST_N; k++) {
		char name[64];
		json_object_set_new(o, stat_names[k], json_integer((json_int_t)s->n[k]));
		snprintf(name, sizeof name, "%s_details", stat_names[k]);
		json_object_set_new(o, name, rate_json(s->rate[k]));
		if (k == ST_DELIVER || k == ST_DELIVER_NOACK || k == ST_GET || k == ST_GET_NOACK) {
			deliver_get += s->n[k];
			dg_rate += s->rate[k];
		}
	}
	/* RabbitMQ's sums: deliver_get and, for publishers, the same names. */
	json_object_set_new(o, "deliver_get", json_integer((json_int_t)deliver_get));
	json_object_set_new(o, "deliver_get_details", rate_json(dg_rate));
	json_object_set_new(o, "publish_in", json_integer((json_int_t)s->n[ST_PUBLISH]));
	json_object_set_new(o, "publish_in_details", rate_json(s->rate[ST_PUBLISH]));
	return o;
}

/* A field by dotted path ("message_stats.publish_details.rate"). */
static json_t *field(json_t *o, const char *path)
{
	char buf[256];
	snprintf(buf, sizeof buf, "%s", path);
	char *save = NULL;
	for (char *k = strtok_r(buf, ".", &save); k && o; k = strtok_r(NULL, ".", &save))
		o = json_object_get(o, k);
	return o;
}

static const char *sort_key;
static bool sort_reverse;

/* Numbers as numbers, strings as strings, missing first (as RabbitMQ). */
static int compare(const void *a, const void *b)
{
	json_t *x = field(*(json_t *const *)a, sort_key), *y = field(*(json_t *const *)b, sort_key);
	int r;
	if (!x || !y)
		r = (x != NULL) - (y != NULL);
	else if (json_is_number(x) && json_is_number(y))
		r = (json_number_value(x) > json_number_value(y)) -
		    (json_number_value(x) < json_number_value(y));
	else if (json_is_string(x) && json_is_string(y))
		r = strcmp(json_string_value(x), json_string_value(y));
	else
		r = json_typeof(x) - json_typeof(y);
	return sort_reverse ? -r : r;
}

/* columns=a,b.c: keeps only those fields (nested ones as nested objects). */
static json_t *columns(json_t *o, const char *cols)
{
	json_t *out = json_object();
	char buf[1024];
	snprintf(buf, sizeof buf, "%s", cols);
	char *save = NULL;
	for (char *c = strtok_r(buf, ",", &save); c; c = strtok_r(NULL, ",", &save)) {
		json_t *v = field(o, c);
		if (!v)
			continue;
		json_t *at = out;
		char *dot;
		while ((dot = strchr(c, '.'))) {
			*dot = '\0';
			json_t *next = json_object_get(at, c);
			if (!next) {
				next = json_object();
				json_object_set_new(at, c, next);
			}
			at = next;
			c = dot + 1;
		}
		json_object_set(at, c, v);
	}
	return out;
}

static bool positive(const char *s, long *out)
{
	char *end;
	long v = s ? strtol(s, &end, 10) : 0;
	if (!s || *end || v < 1)
		return false;
	*out = v;
	return true;
}

static const char *(*name_fn)(const void *o);
static bool (*number_fn)(const void *o, const char *field, double *out);

/* By a number the object gives (number_fn), the name breaking ties, or
 * by name alone. */
static int by_key(const void *a, const void *b)
{
	const void *x = *(void *const *)a, *y = *(void *const *)b;
	double u, v;
	int r = 0;
	if (number_fn && strcmp(sort_key, "name") && number_fn(x, sort_key, &u) &&
	    number_fn(y, sort_key, &v))
		r = (u > v) - (u < v);
	if (!r)
		r = strcmp(name_fn(x), name_fn(y));
	return sort_reverse ? -r : r;
}

void reply_objects(struct req *q, void **objs, size_t n, json_t *(*build)(const void *o),
		   const char *(*name)(const void *o),
		   bool (*number)(const void *o, const char *field, double *out))
{
	const char *sort = query(q, "sort");
	const char *filter = query(q, "name");
	double probe;
	bool cheap_sort = !sort || !*sort || !strcmp(sort, "name") ||
			  (number && n && number(objs[0], sort, &probe));
	/* Sorting by a field the objects do not give needs them built; the
	 * rest is done on the objects themselves. */
	if (!cheap_sort || !query(q, "page")) {
		json_t *arr = json_array();
		for (size_t i = 0; i < n; i++)
			json_array_append_new(arr, build(objs[i]));
		free(objs);
		reply_list(q, arr);
		return;
	}
	size_t kept = n;
	if (filter && *filter) {
		bool regex = query(q, "use_regex") && !strcmp(query(q, "use_regex"), "true");
		char err[256];
		struct regex *re = regex ? regex_compile(filter, "name", err, sizeof err) : NULL;
		if (regex && !re) {
			free(objs);
			reply_error(q, 400, "%s", err);
			return;
		}
		kept = 0;
		for (size_t i = 0; i < n; i++) {
			const char *s = name(objs[i]);
			if (re ? regex_match(re, (const uint8_t *)s, strlen(s)) : strstr(s, filter) != NULL)
				objs[kept++] = objs[i];
		}
		regex_free(re);
	}
	name_fn = name;
	number_fn = number;
	sort_key = sort && *sort ? sort : "name";
	sort_reverse = query(q, "sort_reverse") && !strcmp(query(q, "sort_reverse"), "true");
	if (sort && *sort)
		qsort(objs, kept, sizeof *objs, by_key);
	long page, size = 100;
	if (!positive(query(q, "page"), &page) ||
	    (query(q, "page_size") && !positive(query(q, "page_size"), &size)) || size > 500) {
		free(objs);
		reply_error(q, 400, "page and page_size must be positive integers (page_size at "
				    "most 500)");
		return;
	}
	size_t pages = kept ? (kept + (size_t)size - 1) / (size_t)size : 1;
	if ((size_t)page > pages) {
		free(objs);
		reply_error(q, 400, "page out of range");
		return;
	}
	json_t *slice = json_array();
	const char *cols = query(q, "columns");
	for (size_t i = (size_t)(page - 1) * (size_t)size; i < kept && i < (size_t)page * (size_t)size;
	     i++) {
		json_t *o = build(objs[i]);
		if (cols && *cols) {
			json_t *c = columns(o, cols);
			json_decref(o);
			o = c;
		}
		json_array_append_new(slice, o);
	}
	free(objs);
	reply_json(q, 200,
		   json_pack("{s:I, s:I, s:o, s:I, s:I, s:I, s:I}", "filtered_count",
			     (json_int_t)kept, "item_count", (json_int_t)json_array_size(slice),
			     "items", slice, "page", (json_int_t)page, "page_count",
			     (json_int_t)pages, "page_size", (json_int_t)size, "total_count",
			     (json_int_t)n));
}

void reply_list(struct req *q, json_t *items)
{
	size_t total = json_array_size(items);
	const char *name = query(q, "name");
	if (name && *name) {
		bool regex = query(q, "use_regex") && !strcmp(query(q, "use_regex"), "true");
		char err[256];
		struct regex *re = regex ? regex_compile(name, "name", err, sizeof err) : NULL;
		if (regex && !re) {
			json_decref(items);
			reply_error(q, 400, "%s", err);
			return;
		}
		json_t *kept = json_array();
		size_t i;
		json_t *o;
		json_array_foreach(items, i, o)
		{
			const char *n = json_string_value(json_object_get(o, "name"));
			if (n && (re ? regex_match(re, (const uint8_t *)n, strlen(n))
				     : strstr(n, name) != NULL))
				json_array_append(kept, o);
		}
		regex_free(re);
		json_decref(items);
		items = kept;
	}
	const char *sort = query(q, "sort");
	if (sort && *sort) {
		size_t n = json_array_size(items);
		json_t **v = malloc((n + 1) * sizeof *v);
		for (size_t i = 0; i < n; i++)
			v[i] = json_incref(json_array_get(items, i));
		sort_key = sort;
		sort_reverse = query(q, "sort_reverse") && !strcmp(query(q, "sort_reverse"), "true");
		qsort(v, n, sizeof *v, compare);
		json_array_clear(items);
		for (size_t i = 0; i < n; i++)
			json_array_append_new(items, v[i]);
		free(v);
	}
	const char *cols = query(q, "columns");
	if (cols && *cols) {
		json_t *picked = json_array();
		size_t i;
		json_t *o;
		json_array_foreach(items, i, o)
			json_array_append_new(picked, columns(o, cols));
		json_decref(items);
		items = picked;
	}
	long page, size = 100;
	if (!query(q, "page")) {
		bool big = json_array_size(items) > 1000;
		reply_json(q, 200, items);
		/* Thousands of objects were built and freed: give the memory back
		 * instead of keeping the peak. */
		if (big)
			malloc_trim(0);
		return;
	}
	if (!positive(query(q, "page"), &page) ||
	    (query(q, "page_size") && !positive(query(q, "page_size"), &size)) || size > 500) {
		json_decref(items);
		reply_error(q, 400, "page and page_size must be positive integers (page_size at "
				    "most 500)");
		return;
	}
	size_t filtered = json_array_size(items);
	size_t pages = filtered ? (filtered + (size_t)size - 1) / (size_t)size : 1;
	json_t *slice = json_array();
	for (size_t i = (size_t)(page - 1) * (size_t)size;
	     i < filtered && i < (size_t)page * (size_t)size; i++)
		json_array_append(slice, json_array_get(items, i));
	json_decref(items);
	if ((size_t)page > pages) {
		json_decref(slice);
		reply_error(q, 400, "page out of range");
		return;
	}
	reply_json(q, 200,
		   json_pack("{s:I, s:I, s:o, s:I, s:I, s:I, s:I}", "filtered_count",
			     (json_int_t)filtered, "item_count", (json_int_t)json_array_size(slice),
			     "items", slice, "page", (json_int_t)page, "page_count",
			     (json_int_t)pages, "page_size", (json_int_t)size, "total_count",
			     (json_int_t)total));
}
