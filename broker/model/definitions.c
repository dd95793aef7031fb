/* definitions.c — reading definitions files, planning an import,
 * applying it, prune, export, and the control plane's recovery and first
 * boot (see the design notes in definitions.h; the kinds of object are
 * defs_kinds.c's). */
#include "broker/model/definitions.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "broker/model/access.h"
#include "broker/core/config.h"
#include "broker/model/defs_kinds.h"
#include "broker/core/log.h"
#include "broker/model/vhost.h"
#include "store/store.h"
#include "util/strmap.h"
#include "util/xalloc.h"

#define ERR(...) (snprintf(err, errlen, __VA_ARGS__), -1)

/* One file (or document) of an import. */
struct source {
	char *name;
	char *text; /* the file's text, for line numbers; NULL for a document */
	size_t len;
	json_t *doc;
};

/* An object of the import. */
struct item {
	enum defs_kind k;
	enum defs_kind at; /* the array it stands in (an operator policy may
	                    * stand among the parameters, as RabbitMQ writes) */
	const json_t *o;
	json_t *owned; /* o, when made from what the file says */
	const struct source *src;
	size_t index; /* in its array */
	char *id;
	bool superseded; /* a later file declares the same object */
	enum defs_change c;
	char note[256];
};

struct defs_index {
	struct strmap ids[DK_N]; /* id -> struct item */
	bool has_key[DK_N];      /* the files have this kind's key */
};

bool defs_index_has(const struct defs_index *fi, enum defs_kind k, const char *id)
{
	return fi && strmap_get(&fi->ids[k], id, strlen(id)) != NULL;
}

/* ---- report ---- */

static void say(struct defs_report *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct defs_report *r, const char *fmt, ...)
{
	char line[1200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 16;
		r->lines = xrealloc(r->lines, r->cap * sizeof *r->lines);
	}
	r->lines[r->n++] = xstrdup(line);
}

void defs_report_free(struct defs_report *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->lines[i]);
	free(r->lines);
	*r = (struct defs_report){0};
}

/* ---- where an object is in its file ---- */

static const char *skip_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

/* Past one JSON value (the file parsed, so it is well formed). */
static const char *skip_value(const char *p, const char *end)
{
	int depth = 0;
	for (; p < end; p++) {
		if (*p == '"') {
			for (p++; p < end && *p != '"'; p++)
				if (*p == '\\')
					p++;
			if (depth == 0)
				return p + 1;
		} else if (*p == '{' || *p == '[') {
			depth++;
		} else if (*p == '}' || *p == ']') {
			if (--depth <= 0)
				return p + 1;
		} else if (depth == 0 && (*p == ',' || *p == '}' || *p == ']')) {
			return p;
		} else if (depth == 0 && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) {
			return p;
		}
	}
	return p;
}

/* The line of element `index` of the top-level array `key`, or 0. */
static int line_of(const struct source *s, const char *key, size_t index)
{
	if (!s->text)
		return 0;
	const char *p = skip_ws(s->text, s->text + s->len), *end = s->text + s->len, *at = NULL;
	if (p >= end || *p != '{')
		return 0;
	p++;
	while (p < end && !at) {
		p = skip_ws(p, end);
		if (p >= end || *p != '"')
			return 0;
		const char *k = p + 1, *kend = skip_value(p, end) - 1;
		p = skip_ws(kend + 1, end);
		if (p >= end || *p != ':')
			return 0;
		p = skip_ws(p + 1, end);
		if ((size_t)(kend - k) == strlen(key) && !memcmp(k, key, (size_t)(kend - k)) &&
		    *p == '[') {
			p++;
			for (size_t i = 0;; i++) {
				p = skip_ws(p, end);
				if (p >= end || *p == ']')
					return 0;
				if (i == index) {
					at = p;
					break;
				}
				p = skip_ws(skip_value(p, end), end);
				if (p < end && *p == ',')
					p++;
			}
		} else {
			p = skip_ws(skip_value(p, end), end);
			if (p < end && *p == ',')
				p++;
		}
	}
	int line = 1;
	for (const char *q = s->text; at && q < at; q++)
		line += *q == '\n';
	return at ? line : 0;
}

/* "FILE:LINE: " (or "FILE: ") for an object. */
static void where(const struct item *it, char *out, size_t n)
{
	int line = line_of(it->src, defs_kinds[it->at]->key, it->index);
	if (line)
		snprintf(out, n, "%s:%d: ", it->src->name, line);
	else
		snprintf(out, n, "%s: ", it->src->name);
}

/* ---- planning ---- */

struct plan {
	struct item *items;
	size_t n, cap;
	struct defs_index fi;
	char **deletes[DK_N]; /* ids prune removes, by kind */
	size_t ndel[DK_N];
	const struct defs_opts *o;
	struct defs_report *r;
};

static void plan_free(struct plan *p)
{
	for (size_t i = 0; i < p->n; i++) {
		free(p->items[i].id);
		json_decref(p->items[i].owned);
	}
	free(p->items);
	for (int k = 0; k < DK_N; k++) {
		strmap_free(&p->fi.ids[k]);
		for (size_t i = 0; i < p->ndel[k]; i++)
			free(p->deletes[k][i]);
		free(p->deletes[k]);
	}
	defs_bindings_forget();
}

/* Lists every object of every source; ids must be whole. */
static int index_sources(struct plan *p, struct source *src, size_t nsrc, char *err, size_t errlen)
{
	for (size_t s = 0; s < nsrc; s++) {
		if (!json_is_object(src[s].doc))
			return ERR("%s: the top level must be a JSON object", src[s].name);
		for (int k = 0; k < DK_N; k++) {
			json_t *arr = json_object_get(src[s].doc, defs_kinds[k]->key);
			if (!arr || json_is_null(arr))
				continue;
			if (!json_is_array(arr))
				return ERR("%s: %s: expected an array", src[s].name,
					   defs_kinds[k]->key);
			p->fi.has_key[k] = true;
			if (k == DK_PARAMETER) /* where RabbitMQ keeps operator policies */
				p->fi.has_key[DK_OPERATOR_POLICY] = true;
			size_t i;
			json_t *o;
			json_array_foreach(arr, i, o)
			{
				struct item it = {.k = k, .at = k, .o = o, .src = &src[s], .index = i};
				char at[600], why[512];
				where(&it, at, sizeof at);
				if (!json_is_object(o))
					return ERR("%s%s[%zu]: expected an object", at,
						   defs_kinds[k]->key, i);
				const char *comp = json_string_value(json_object_get(o, "component"));
				if (k == DK_PARAMETER && comp && !strcmp(comp, "operator_policy")) {
					it.k = DK_OPERATOR_POLICY;
					it.o = it.owned = defs_operator_policy_from_param(o);
					if (!it.o)
						return ERR("%sparameters[%zu]: value: expected an object",
							   at, i);
				}
				if (!(it.id = defs_kinds[it.k]->id(it.o, why, sizeof why))) {
					json_decref(it.owned);
					return ERR("%s%s[%zu]: %s", at, defs_kinds[k]->key, i, why);
				}
				if (p->n == p->cap) {
					p->cap = p->cap ? p->cap * 2 : 64;
					p->items = xrealloc(p->items, p->cap * sizeof *p->items);
				}
				p->items[p->n++] = it;
			}
		}
	}
	/* The last declaration of an object wins (files in name order). */
	for (size_t i = p->n; i-- > 0;) {
		struct item *it = &p->items[i];
		struct strmap *m = &p->fi.ids[it->k];
		if (strmap_get(m, it->id, strlen(it->id)))
			it->superseded = true;
		else
			strmap_put(m, it->id, strlen(it->id), it);
	}
	return 0;
}

static void note_delete(void *ctx, const char *id, const char *what, uint64_t messages);

struct prune_ctx {
	struct plan *p;
	enum defs_kind k;
};

static void note_delete(void *ctx, const char *id, const char *what, uint64_t messages)
{
	struct prune_ctx *pc = ctx;
	struct plan *p = pc->p;
	if (defs_index_has(&p->fi, pc->k, id))
		return;
	if (messages && !p->o->prune_nonempty_queues) {
		say(p->r, "keep %s (holds %llu messages)", what, (unsigned long long)messages);
		p->r->kept++;
		return;
	}
	size_t *n = &p->ndel[pc->k];
	p->deletes[pc->k] = xrealloc(p->deletes[pc->k], (*n + 1) * sizeof(char *));
	p->deletes[pc->k][(*n)++] = xstrdup(id);
	say(p->r, "delete %s", what);
	p->r->deleted++;
}

static int make_plan(struct plan *p, char *err, size_t errlen)
{
	static const char *const verbs[] = {"", "create", "update", "keep"};
	for (int k = 0; k < DK_N; k++) {
		for (size_t i = 0; i < p->n; i++) {
			struct item *it = &p->items[i];
			if ((int)it->k != k || it->superseded)
				continue;
			char why[512], what[900];
			defs_kinds[k]->describe(it->id, what, sizeof what);
			if (defs_kinds[k]->plan(it->o, &p->fi, &it->c, it->note, sizeof it->note,
						why, sizeof why) < 0) {
				char at[600];
				where(it, at, sizeof at);
				return ERR("%s%s: %s", at, what, why);
			}
			if (it->c == DC_NONE)
				continue;
			say(p->r, "%s %s%s", verbs[it->c], what,
			    it->c == DC_CREATE ? "" : it->note);
			if (it->c == DC_CREATE)
				p->r->created++;
			else if (it->c == DC_UPDATE)
				p->r->updated++;
			else
				p->r->kept++;
		}
	}
	if (!p->o->prune)
		return 0;
	for (int k = DK_N; k-- > 0;) {
		if (!p->fi.has_key[k])
			continue;
		struct prune_ctx pc = {p, k};
		defs_kinds[k]->each(note_delete, &pc);
	}
	return 0;
}

/* Applies a checked plan: creations and updates in import order, then
 * deletions in reverse. An error here (a type-specific argument the
 * plan could not foresee) is logged and the rest goes on. */
static void apply_plan(struct plan *p)
{
	for (int k = 0; k < DK_N; k++) {
		for (size_t i = 0; i < p->n; i++) {
			struct item *it = &p->items[i];
			if ((int)it->k != k || it->superseded || it->c == DC_NONE ||
			    it->c == DC_KEEP)
				continue;
			char why[512];
			if (defs_kinds[k]->apply(it->o, why, sizeof why) < 0) {
				char what[900];
				defs_kinds[k]->describe(it->id, what, sizeof what);
				log_error("definitions: %s: %s", what, why);
			}
		}
	}
	for (int k = DK_N; k-- > 0;)
		for (size_t i = 0; i < p->ndel[k]; i++)
			defs_kinds[k]->remove(p->deletes[k][i]);
}

static int import_sources(struct source *src, size_t nsrc, const struct defs_opts *o,
			  struct defs_report *r, char *err, size_t errlen)
{
	struct plan p = {.o = o, .r = r};
	int rc = index_sources(&p, src, nsrc, err, errlen);
	if (rc == 0)
		rc = make_plan(&p, err, errlen);
	if (rc == 0 && !o->dry_run)
		apply_plan(&p);
	plan_free(&p);
	return rc;
}

int definitions_import(json_t *doc, const char *source, const struct defs_opts *o,
		       struct defs_report *r, char *err, size_t errlen)
{
	struct source s = {.name = (char *)source, .doc = doc};
	return import_sources(&s, 1, o, r, err, errlen);
}

/* ---- files ---- */

static int read_source(const char *path, struct source *s, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return ERR("%s: %s", path, strerror(errno));
	struct wbuf w = {0};
	char buf[65536];
	size_t n;
	while ((n = fread(buf, 1, sizeof buf, f)) > 0)
		wb_add(&w, buf, n);
	bool bad = ferror(f);
	fclose(f);
	if (bad) {
		wb_free(&w);
		return ERR("%s: read error", path);
	}
	s->name = xstrdup(path);
	s->len = w.len;
	s->text = xmalloc(w.len + 1);
	memcpy(s->text, w.p, w.len);
	s->text[w.len] = '\0';
	wb_free(&w);
	json_error_t je;
	s->doc = json_loadb(s->text, s->len, 0, &je);
	if (!s->doc)
		return ERR("%s:%d:%d: %s", path, je.line, je.column, je.text);
	return 0;
}

static int json_file(const struct dirent *d)
{
	size_t n = strlen(d->d_name);
	return d->d_name[0] != '.' && n > 5 && !strcmp(d->d_name + n - 5, ".json");
}

int definitions_load(const char *path, const struct defs_opts *o, struct defs_report *r, char *err,
		     size_t errlen)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return ERR("%s: %s", path, strerror(errno));
	struct source *src = NULL;
	size_t nsrc = 0;
	int rc = 0;
	if (S_ISDIR(st.st_mode)) {
		struct dirent **names;
		int n = scandir(path, &names, json_file, alphasort);
		if (n < 0)
			return ERR("%s: %s", path, strerror(errno));
		if (n == 0)
			rc = ERR("%s: no *.json files in this directory", path);
		src = xcalloc((size_t)n + 1, sizeof *src);
		for (int i = 0; i < n; i++) {
			char file[4096];
			snprintf(file, sizeof file, "%s/%s", path, names[i]->d_name);
			if (rc == 0 && (rc = read_source(file, &src[nsrc], err, errlen)) == 0)
				nsrc++;
			free(names[i]);
		}
		free(names);
	} else {
		src = xcalloc(2, sizeof *src); /* one past the last, as for a directory */
		if ((rc = read_source(path, src, err, errlen)) == 0)
			nsrc = 1;
	}
	if (rc == 0)
		rc = import_sources(src, nsrc, o, r, err, errlen);
	/* src[nsrc] may hold a file that failed to parse. */
	for (size_t i = 0; i <= nsrc; i++) {
		free(src[i].name);
		free(src[i].text);
		json_decref(src[i].doc);
	}
	free(src);
	return rc;
}

/* ---- export ---- */

json_t *definitions_export(void)
{
	/* rabbit_version: the RabbitMQ whose format this is (tools check it). */
	json_t *doc = json_pack("{s:s, s:s, s:s, s:s}", "rabbit_version", "3.10.8",
				"rabbitmq_version", "3.10.8", "product_name", "Tern",
				"product_version", "0.1.0");
	for (int k = 0; k < DK_N; k++) {
		if (k == DK_OPERATOR_POLICY)
			continue; /* among the parameters, as RabbitMQ writes them */
		json_t *arr = json_array();
		defs_kinds[k]->export(arr);
		if (k == DK_PARAMETER)
			defs_kinds[DK_OPERATOR_POLICY]->export(arr);
		json_object_set_new(doc, defs_kinds[k]->key, arr);
	}
	return doc;
}

/* ---- start-up ---- */

static void recover_one(void *ctx, const char *key, const char *value)
{
	const struct defs_kind_ops *kind = ctx;
	char why[512];
	json_t *o = json_loads(value, 0, NULL);
	if (!o || kind->apply(o, why, sizeof why) < 0)
		log_error("recovery: stored %s %s: %s", kind->store, key,
			  o ? why : "not valid JSON");
	json_decref(o);
}

void definitions_recover(void)
{
	for (int k = 0; k < DK_N; k++)
		if (defs_kinds[k]->store && store_scan_objects(defs_kinds[k]->store, recover_one,
							       (void *)defs_kinds[k]) < 0)
			log_error("recovery: %s", store_error());
}

static void apply_json(enum defs_kind k, json_t *o)
{
	char why[512];
	if (defs_kinds[k]->apply(o, why, sizeof why) < 0)
		log_error("first boot: %s: %s", defs_kinds[k]->key, why);
	json_decref(o);
}

bool definitions_boot_user(void)
{
	return !(cfg.load_definitions && *cfg.load_definitions);
}

void definitions_first_boot(void)
{
	if (!store_blank())
		return;
	/* Vhosts recovery re-created (a store from before schema 5). */
	struct vhost *vh;
	for (size_t i = 0; (vh = vhost_next(&i));)
		apply_json(DK_VHOST, json_pack("{s:s}", "name", vh->name));
	if (!definitions_boot_user())
		return;
	apply_json(DK_VHOST, json_pack("{s:s}", "name", cfg.default_vhost));
	apply_json(DK_USER, json_pack("{s:s, s:s, s:[s]}", "name", cfg.default_user, "password",
				      cfg.default_pass, "tags", BOOT_USER_TAG));
	apply_json(DK_PERMISSION,
		   json_pack("{s:s, s:s, s:s, s:s, s:s}", "user", cfg.default_user, "vhost",
			     cfg.default_vhost, "configure", cfg.default_permissions_configure,
			     "write", cfg.default_permissions_write, "read",
			     cfg.default_permissions_read));
	log_info("blank node: created vhost '%s' and user '%s'", cfg.default_vhost,
		 cfg.default_user);
}

/* ---- one object at a time (the HTTP API's) ---- */

static int kind_of(const char *kind)
{
	for (int k = 0; k < DK_N; k++)
		if (!strcmp(defs_kinds[k]->key, kind))
			return k;
	return -1;
}

int definitions_put(const char *kind, json_t *obj, char *err, size_t errlen)
{
	if (kind_of(kind) < 0)
		return ERR("unknown kind '%s'", kind);
	json_t *doc = json_pack("{s:[O]}", kind, obj);
	struct defs_opts o = {0};
	struct defs_report r = {0};
	char why[1024];
	int rc = definitions_import(doc, "", &o, &r, why, sizeof why);
	json_decref(doc);
	for (size_t i = 0; rc == 0 && i < r.n; i++)
		log_info("api: %s", r.lines[i]);
	defs_report_free(&r);
	/* The import names its source first ("FILE: "): an API caller has none. */
	if (rc < 0)
		snprintf(err, errlen, "%s", why + (strncmp(why, ": ", 2) ? 0 : 2));
	return rc;
}

int definitions_remove(const char *kind, const json_t *obj, char *err, size_t errlen)
{
	int k = kind_of(kind);
	if (k < 0)
		return ERR("unknown kind '%s'", kind);
	char *id = defs_kinds[k]->id(obj, err, errlen);
	if (!id)
		return -1;
	defs_kinds[k]->remove(id);
	free(id);
	return 0;
}

/* ---- deletes by name ---- */

static int remove_named(enum defs_kind k, const char *name)
{
	json_t *a = json_pack("[s]", name);
	char *id = json_dumps(a, JSON_COMPACT);
	json_decref(a);
	bool exists =
		k == DK_VHOST ? vhost_find(bytes_of(name)) != NULL : access_user_find(name) != NULL;
	if (exists)
		defs_kinds[k]->remove(id);
	free(id);
	return exists ? 0 : -1;
}

int definitions_delete_vhost(const char *name)
{
	return remove_named(DK_VHOST, name);
}

int definitions_delete_user(const char *name)
{
	return remove_named(DK_USER, name);
}

void definitions_free(void)
{
	defs_params_free();
}
