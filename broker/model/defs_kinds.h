/* defs_kinds.h — the kinds of object a definitions document holds, one
 * row each (definitions.c walks the table): how to name an object, check
 * it against the files and the model, apply it, list the model's objects
 * for prune and export, and remove one. Private to definitions.c and
 * defs_kinds.c. */
#ifndef TERN_BROKER_DEFS_KINDS_H
#define TERN_BROKER_DEFS_KINDS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* In RabbitMQ's import order. */
enum defs_kind {
	DK_USER,
	DK_VHOST,
	DK_PERMISSION,
	DK_TOPIC_PERMISSION,
	DK_PARAMETER,
	DK_GLOBAL_PARAMETER,
	DK_POLICY,
	DK_OPERATOR_POLICY,
	DK_QUEUE,
	DK_EXCHANGE,
	DK_BINDING,
	DK_N
};

enum defs_change { DC_NONE, DC_CREATE, DC_UPDATE, DC_KEEP };

/* What the files being imported declare: ids by kind, so that a binding
 * may name a queue the same import creates. */
struct defs_index;
bool defs_index_has(const struct defs_index *fi, enum defs_kind k, const char *id);

/* A model object listed for prune: its id, its description, and for a
 * queue the messages it holds. */
typedef void (*defs_each_fn)(void *ctx, const char *id, const char *what, uint64_t messages);

struct defs_kind_ops {
	const char *key;   /* the document's key: "users" */
	const char *store; /* the store's kind, or NULL (persist.c stores it) */
	/* The object's id, a compact JSON array text (["vhost","name"]),
	 * malloc'd; NULL with err naming a missing or mistyped field. */
	char *(*id)(const json_t *o, char *err, size_t errlen);
	/* "queue 'q' in vhost '/'" for an id. */
	void (*describe)(const char *id, char *out, size_t n);
	/* Checks o; sets *c, and for DC_UPDATE / DC_KEEP a note. Returns 0,
	 * or -1 with err naming the field and the problem. */
	int (*plan)(const json_t *o, const struct defs_index *fi, enum defs_change *c, char *note,
		    size_t notelen, char *err, size_t errlen);
	/* Applies a checked object and stores it. Returns 0 or -1 with err. */
	int (*apply)(const json_t *o, char *err, size_t errlen);
	/* Lists the model's objects that prune may remove. */
	void (*each)(defs_each_fn fn, void *ctx);
	/* Removes the object with this id (and its stored copy). */
	void (*remove)(const char *id);
	/* Appends the model's objects, as RabbitMQ exports them, to arr. */
	void (*export)(json_t *arr);
};

extern const struct defs_kind_ops *const defs_kinds[DK_N];
extern const struct defs_kind_ops defs_user_ops, defs_vhost_ops, defs_permission_ops,
	defs_topic_permission_ops, defs_parameter_ops, defs_global_parameter_ops, defs_policy_ops,
	defs_operator_policy_ops, defs_queue_ops, defs_exchange_ops, defs_binding_ops;

/* ---- shared by the kinds (defs_kinds.c) ---- */

/* An id: the compact JSON array of its parts, malloc'd. */
char *defs_make_id(size_t n, const char *const *parts);
#define ID(...)                                                              \
	defs_make_id(sizeof((const char *[]){__VA_ARGS__}) / sizeof(char *), \
		     (const char *[]){__VA_ARGS__})
/* An id's parts (a new JSON array) and part i of them (borrowed). */
json_t *defs_id_parts(const char *id);
const char *defs_part(json_t *parts, size_t i);
/* The id made of the string fields keys[0..n) of o (at most 6); NULL
 * with err naming the first missing or mistyped one. */
char *defs_fields_id(const json_t *o, size_t n, const char *const *keys, char *err,
		     size_t errlen);
#define FIELDS_ID(o, err, errlen, ...)                                                   \
	defs_fields_id(o, sizeof((const char *[]){__VA_ARGS__}) / sizeof(char *),          \
		       (const char *[]){__VA_ARGS__}, err, errlen)
/* ["name"] and ["vhost", "name"], the ids of most kinds. */
char *defs_name_id(const json_t *o, char *err, size_t errlen);
char *defs_vhost_name_id(const json_t *o, char *err, size_t errlen);

/* Field readers: a required string (NULL with err "KEY: missing" or
 * "KEY: expected a string"); an optional string (def when absent); an
 * optional boolean (0 or 1, def when absent, -1 with err). */
const char *defs_str(const json_t *o, const char *key, char *err, size_t errlen);
const char *defs_opt_str(const json_t *o, const char *key, const char *def, char *err,
			 size_t errlen);
int defs_opt_bool(const json_t *o, const char *key, bool def, char *err, size_t errlen);
/* Tags as a list or a comma-separated string into tags; the count, or -1
 * for a bad type. */
int defs_tags(const json_t *o, const char *key, char tags[][64], int max);
/* A pattern field that must compile: 0 or -1 with err. */
int defs_check_regex(const json_t *o, const char *key, char *err, size_t errlen);

/* The vhost exists now or is in the import: 0, or -1 with err. */
bool defs_vhost_known(const struct defs_index *fi, const char *name);
int defs_need_vhost(const struct defs_index *fi, const char *name, char *err, size_t errlen);

/* Stores o (compact, sorted keys) under kind k's store name and id; or
 * removes it. */
void defs_store(enum defs_kind k, const char *id, json_t *o);
void defs_unstore(enum defs_kind k, const char *id);

/* An operator policy in RabbitMQ's export form (a parameter of component
 * operator_policy, its value holding pattern, definition, priority and
 * apply-to) as a policy object (a new reference), or NULL. */
json_t *defs_operator_policy_from_param(const json_t *param);

/* Removals one kind asks of another (a vhost takes its permissions,
 * policies and parameters with it; a user its permissions). */
void defs_perm_remove(const char *id);
void defs_topic_remove(const char *id);
void defs_policy_remove(const char *id, bool op);
void defs_params_remove_vhost(const char *vhost);

/* The model's binding ids (for DK_BINDING's plan), built on first use
 * and dropped at the end of each import. */
bool defs_binding_exists(const char *id);
void defs_bindings_forget(void);

/* Parameters and global parameters Tern keeps without acting on them
 * (federation upstreams, cluster_name, ...), for export. */
void defs_params_free(void);

#endif
