/* api_common.c — what every list and object of the API shares, in
 * RabbitMQ's shapes: paging (page, page_size -> {items, page, page_size,
 * page_count, filtered_count, item_count, total_count}), the name filter
 * (use_regex), sorting by any field (dotted paths such as
 * message_stats.publish_details.rate), columns, and message_stats; the
 * body readers and RabbitMQ's 400 reasons for bodies (["not_boolean", v],
 * [{key_missing,k}]), and paging's own errors. */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/core/stats.h"
#include "plugins/management/mgmt.h"
#include "protocol/frame.h"
#include "util/regex.h"

void reply_bad_value(struct req *q, const char *what, json_t *value)
{
	reply_error_json(q, 400, NULL, json_pack("[s, o]", what, value));
}

void reply_key_missing(struct req *q, const char *const *keys)
{
	char reason[300] = "[";
	size_t n = 1;
	for (size_t i = 0; keys[i]; i++)
		if (!json_object_get(q->body, keys[i]))
			n += (size_t)snprintf(reason + n, sizeof reason - n, "%s{key_missing,%s}",
					      n > 1 ? "," : "", keys[i]);
	snprintf(reason + n, sizeof reason - n, "]");
	reply_error(q, 400, "%s", reason);
}

bool body_has(struct req *q, const char *const *keys)
{
	for (size_t i = 0; keys[i]; i++)
		if (!json_object_get(q->body, keys[i])) {
			reply_key_missing(q, keys);
			return false;
		}
	return true;
}

void reply_op_error_tern(struct req *q, const struct op_err *e)
{
	int status = e->code == AMQP_NOT_FOUND	     ? 404
		     : e->code == AMQP_ACCESS_REFUSED ? 403
		     : e->code == AMQP_RESOURCE_LOCKED ? 405
						       : 400;
	reply_error(q, status, "%s", e->text);
}

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
		reply_bad_value(q, "not_boolean", json_incref(v));
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

static int by_vhost_and_name(const void *a, const void *b)
{
	json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	const char *vx = json_string_value(json_object_get(x, "vhost"));
	const char *vy = json_string_value(json_object_get(y, "vhost"));
	int r = vx && vy ? strcmp(vx, vy) : 0;
	if (!r) {
		const char *nx = json_string_value(json_object_get(x, "name"));
		const char *ny = json_string_value(json_object_get(y, "name"));
		r = nx && ny ? strcmp(nx, ny) : 0;
	}
	return r;
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
		char *dot = strchr(c, '.');
		if (dot) { /* RabbitMQ keeps the parent object, even when the leaf is missing */
			*dot = '\0';
			bool parent = json_is_object(json_object_get(o, c));
			*dot = '.';
			if (!parent)
				continue;
		} else if (!v) {
			continue;
		}
		json_t *at = out;
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
		if (v)
			json_object_set(at, c, v);
	}
	return out;
}

static bool whole(const char *s, long *out)
{
	char *end;
	long v = s && *s ? strtol(s, &end, 10) : 0;
	if (!s || !*s || *end)
		return false;
	*out = v;
	return true;
}

#define MAX_PAGE_SIZE 500

/* page and page_size (default 100) checked as RabbitMQ does, with its
 * error objects; false with the 400 replied. */
static bool paging(struct req *q, long *page, long *size)
{
	*size = 100;
	if (!whole(query(q, "page"), page) ||
	    (query(q, "page_size") && !whole(query(q, "page_size"), size))) {
		reply_error(q, 400, "Pagination parameters are invalid");
		return false;
	}
	if (*page < 1 || *size < 1 || *size > MAX_PAGE_SIZE) {
		reply_error_json(q, 400, "invalid_pagination_parameters",
				 json_sprintf("Invalid pagination parameters: page number %ld, "
					      "page size %ld",
					      *page, *size));
		return false;
	}
	return true;
}

/* The page count of kept items; false with RabbitMQ's 400 when page is
 * past it. */
static bool page_in_range(struct req *q, long page, long size, size_t kept, size_t *pages)
{
	*pages = kept ? (kept + (size_t)size - 1) / (size_t)size : 1;
	if ((size_t)page <= *pages)
		return true;
	reply_error_json(q, 400, "page_out_of_range",
			 json_sprintf("Page out of range, page: %ld page size: %ld, len: %zu", page,
				      size, kept));
	return false;
}

/* The name filter of a paged list: a substring, or with use_regex=true a
 * regular expression, both ignoring case as RabbitMQ's. NULL *re and
 * true for a substring; false with 400 replied for a bad pattern. */
static bool name_filter(struct req *q, const char *filter, struct regex **re)
{
	*re = NULL;
	const char *ur = query(q, "use_regex");
	if (!ur || strcmp(ur, "true"))
		return true;
	char pattern[1100], err[256];
	snprintf(pattern, sizeof pattern, "(?i)%s", filter);
	if ((*re = regex_compile(pattern, "name", err, sizeof err)))
		return true;
	reply_error(q, 400, "Pagination parameters are invalid");
	return false;
}

static bool name_matches(const struct regex *re, const char *name, const char *filter)
{
	return re ? regex_match(re, (const uint8_t *)name, strlen(name))
		  : strcasestr(name, filter) != NULL;
}

void reply_object(struct req *q, json_t *o)
{
	const char *cols = query(q, "columns");
	if (cols && *cols && json_is_object(o)) {
		json_t *c = columns(o, cols);
		json_decref(o);
		o = c;
	}
	reply_json(q, 200, o);
}

/* RabbitMQ's paged list object around one page's items (taken). */
static void reply_page(struct req *q, json_t *slice, size_t filtered, size_t total, long page,
		       size_t pages, long size)
{
	reply_json(q, 200,
		   json_pack("{s:I, s:I, s:o, s:I, s:I, s:I, s:I}", "filtered_count",
			     (json_int_t)filtered, "item_count", (json_int_t)json_array_size(slice),
			     "items", slice, "page", (json_int_t)page, "page_count",
			     (json_int_t)pages, "page_size", (json_int_t)size, "total_count",
			     (json_int_t)total));
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
	long page, size;
	if (!paging(q, &page, &size)) {
		free(objs);
		return;
	}
	size_t kept = n;
	if (filter && *filter) {
		struct regex *re;
		if (!name_filter(q, filter, &re)) {
			free(objs);
			return;
		}
		kept = 0;
		for (size_t i = 0; i < n; i++)
			if (name_matches(re, name(objs[i]), filter))
				objs[kept++] = objs[i];
		regex_free(re);
	}
	name_fn = name;
	number_fn = number;
	sort_key = sort && *sort ? sort : "name";
	sort_reverse = query(q, "sort_reverse") && !strcmp(query(q, "sort_reverse"), "true");
	qsort(objs, kept, sizeof *objs, by_key);
	size_t pages;
	if (!page_in_range(q, page, size, kept, &pages)) {
		free(objs);
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
	reply_page(q, slice, kept, n, page, pages, size);
}

void reply_list(struct req *q, json_t *items)
{
	size_t total = json_array_size(items);
	long page = 0, size = 100;
	bool paged = query(q, "page") != NULL;
	if (paged && !paging(q, &page, &size)) {
		json_decref(items);
		return;
	}
	/* RabbitMQ filters by name only in paged lists. */
	const char *name = query(q, "name");
	if (paged && name && *name) {
		struct regex *re;
		if (!name_filter(q, name, &re)) {
			json_decref(items);
			return;
		}
		json_t *kept = json_array();
		size_t i;
		json_t *o;
		json_array_foreach(items, i, o)
		{
			const char *n = json_string_value(json_object_get(o, "name"));
			if (n && name_matches(re, n, name))
				json_array_append(kept, o);
		}
		regex_free(re);
		json_decref(items);
		items = kept;
	}
	const char *sort = query(q, "sort");
	if ((!sort || !*sort) && json_object_get(json_array_get(items, 0), "name")) {
		/* RabbitMQ's default order: by vhost, then name. */
		size_t n = json_array_size(items);
		json_t **v = malloc((n + 1) * sizeof *v);
		for (size_t i = 0; i < n; i++)
			v[i] = json_incref(json_array_get(items, i));
		qsort(v, n, sizeof *v, by_vhost_and_name);
		json_array_clear(items);
		for (size_t i = 0; i < n; i++)
			json_array_append_new(items, v[i]);
		free(v);
	} else if (sort && *sort) {
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
	if (!paged) {
		bool big = json_array_size(items) > 1000;
		reply_json(q, 200, items);
		/* Thousands of objects were built and freed: give the memory back
		 * instead of keeping the peak. */
		if (big)
			malloc_trim(0);
		return;
	}
	size_t filtered = json_array_size(items), pages;
	if (!page_in_range(q, page, size, filtered, &pages)) {
		json_decref(items);
		return;
	}
	json_t *slice = json_array();
	for (size_t i = (size_t)(page - 1) * (size_t)size;
	     i < filtered && i < (size_t)page * (size_t)size; i++)
		json_array_append(slice, json_array_get(items, i));
	json_decref(items);
	reply_page(q, slice, filtered, total, page, pages, size);
}
