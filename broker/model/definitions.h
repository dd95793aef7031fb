/* definitions.h — RabbitMQ's definitions JSON (what `rabbitmqadmin export`
 * and GET /api/definitions write) <-> the broker's model: import (at
 * boot, on SIGHUP, from the HTTP API), export, and the declarative prune
 * that RabbitMQ's import lacks.
 *
 * Design notes. The control plane (vhosts, users, permissions, topic
 * permissions, policies, operator policies, parameters) is persisted as
 * these same JSON objects in the store's objects table, and read back at
 * start-up through the same apply functions as an import: one shape,
 * one code path. Queues, exchanges and bindings go through ops.h like
 * AMQP's declares, and persist.c stores them as it always did.
 *
 * An import is planned before anything changes: every file is parsed and
 * every object validated against the files and the current state, then
 * the plan is applied in RabbitMQ's import order (users, vhosts,
 * permissions, topic permissions, parameters, global parameters,
 * policies, operator policies, queues, exchanges, bindings), deletions
 * (prune) last, in reverse order. A bad file changes nothing. Import is
 * RabbitMQ's: it creates what is missing and updates users, vhost
 * metadata, permissions, parameters and policies; a queue or exchange
 * whose properties differ is reported and left as it is. */
#ifndef TERN_BROKER_DEFINITIONS_H
#define TERN_BROKER_DEFINITIONS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "protocol/wire.h"

struct defs_opts {
	bool prune;                 /* remove what the files no longer list */
	bool prune_nonempty_queues; /* ... even queues holding messages */
	bool dry_run;               /* plan only */
};

/* What an import did (or would do): one line per change, for the log and
 * --dry-run ("create queue 'q' in vhost '/'"). */
struct defs_report {
	char **lines;
	size_t n, cap;
	unsigned created, updated, deleted, kept;
};
void defs_report_free(struct defs_report *r);

/* Loads a file, or a directory's *.json files in name order, as one
 * import. On a parse or validation error returns -1 with err
 * ("FILE:LINE:COL: reason", or "FILE:LINE: queue 'q' in vhost 'v':
 * arguments: ...") and changes nothing. */
int definitions_load(const char *path, const struct defs_opts *o, struct defs_report *r, char *err,
		     size_t errlen);

/* Imports one parsed document (source names it in errors) by the same
 * rules. Returns 0 or -1 with err, nothing changed then. */
int definitions_import(json_t *doc, const char *source, const struct defs_opts *o,
		       struct defs_report *r, char *err, size_t errlen);

/* Everything as RabbitMQ exports it (a new reference). */
json_t *definitions_export(void);

/* Start-up, before the store's topology is recovered: reads the stored
 * control plane back into the model. */
void definitions_recover(void);
/* A blank node (store_blank()): stores the vhosts recovery had to create
 * and, when definitions_boot_user(), creates the default vhost and user
 * with full permissions. */
void definitions_first_boot(void);
/* Whether a first boot creates the default user (default_user with
 * default_pass, tag BOOT_USER_TAG): not when load_definitions is set,
 * RabbitMQ's rule. */
bool definitions_boot_user(void);
#define BOOT_USER_TAG "administrator"

/* One object as the HTTP API declares it: kind is the document's key
 * ("users", "vhosts", "permissions", "topic_permissions", "parameters",
 * "global_parameters", "policies", "operator_policies", "queues",
 * "exchanges", "bindings"); it is checked and applied exactly as an
 * import of a document holding it alone. Returns 0, or -1 with err. */
int definitions_put(const char *kind, json_t *obj, char *err, size_t errlen);
/* Removes the object of that kind that obj names (the fields of its id:
 * {"user", "vhost"} for permissions, ...). Returns 0, or -1 with err. */
int definitions_remove(const char *kind, const json_t *obj, char *err, size_t errlen);

/* Deletes a vhost with everything in it and its permissions, policies
 * and parameters; deletes a user with its permissions. Both close the
 * connections concerned. Return 0, or -1 when absent. */
int definitions_delete_vhost(const char *name);
int definitions_delete_user(const char *name);

/* On a cluster member that does not lead (its users are not in memory):
 * the user `name` as its store holds it (the leader's, as far as this
 * node has applied), filled into *out as the leader's access.c holds it,
 * loopback_users from this node's config. A store that holds no vhost
 * and no user (nothing of a leader's applied yet) holds, for this, the
 * user a blank node's first boot would make: default_user with
 * default_pass, unless load_definitions is set. Returns 1
 * (access_user_release *out after), 0 when there is none (or the stored
 * object is unreadable, logged), -1 with err when the store cannot be
 * read. */
struct user;
int definitions_stored_user(const char *name, struct user *out, char *err, size_t errlen);
/* A login checked against that stored user: 1 when it is good (*out
 * filled, as above), 0 when the store holds no such user, -2 for a wrong
 * password or a loopback-only user from elsewhere, -1 with err when the
 * store cannot be read. */
int definitions_stored_login(struct bytes name, struct bytes password, bool from_loopback,
			     struct user *out, char *err, size_t errlen);

void definitions_free(void);

#endif
