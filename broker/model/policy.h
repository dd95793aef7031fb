/* policy.h — policies and operator policies (RabbitMQ's "parameters and
 * policies" semantics): which policy applies to a queue or an exchange,
 * and the effective settings that result from a queue's own x-arguments,
 * its policy and its operator policy.
 *
 * Design notes. A policy belongs to a vhost and has a name, a pattern
 * (PCRE2, unanchored, matched against the object's name), apply-to, a
 * priority and a definition. Of the policies matching an object the one
 * with the highest priority applies (ties: the first name in byte
 * order); the same for operator policies, separately. Merging, as
 * RabbitMQ 3.10's classic queues do: for expires, message-ttl,
 * max-length, max-length-bytes and delivery-limit the lowest of argument,
 * policy and operator policy wins; for dead-letter-exchange,
 * dead-letter-routing-key and overflow the queue's own argument wins over
 * the policy. Operator policies may only set the numeric limits. Keys
 * Tern knows but does not implement (ha-*, queue-mode, federation-*, ...)
 * are accepted with a warning; any other key is an error. policy.c is
 * pure: it neither finds queues nor persists; the caller re-applies the
 * result to existing queues (vhost_apply_policies). */
#ifndef TERN_BROKER_POLICY_H
#define TERN_BROKER_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "protocol/wire.h"

struct json_t;
struct regex;

enum policy_apply {
	APPLY_ALL,
	APPLY_QUEUES,
	APPLY_CLASSIC_QUEUES,
	APPLY_QUORUM_QUEUES,
	APPLY_STREAMS,
	APPLY_EXCHANGES,
};

enum { POLICY_OVERFLOW_UNSET = -1, POLICY_DROP_HEAD, POLICY_REJECT, POLICY_REJECT_DLX };

/* The settings Tern implements; -1 or NULL when not set. Strings owned. */
struct policy_def {
	int64_t message_ttl, expires, max_length, max_length_bytes, delivery_limit,
		consumer_timeout;
	int overflow; /* POLICY_* or POLICY_OVERFLOW_UNSET */
	char *dlx, *dl_rkey, *alternate_exchange;
};

/* Owned by the policy table (policy.c). */
struct policy {
	char *vhost, *name, *pattern;
	struct regex *re; /* compiled */
	enum policy_apply apply_to;
	int64_t priority;
	bool op; /* an operator policy */
	struct policy_def def;
	char *definition; /* the definition as given, compact JSON text */
};

/* An empty def (every field unset). */
void policy_def_init(struct policy_def *d);
void policy_def_free(struct policy_def *d);

/* Parses a definition object (jansson json_t *). warn(ctx, key) is called
 * for each key accepted but not implemented. Returns 0, or -1 with err
 * naming the key and the problem ("max-length: expected a non-negative
 * integer", "foo: not a recognised policy key"). */
int policy_def_parse(const struct json_t *definition, bool op, struct policy_def *out,
		     void (*warn)(void *ctx, const char *key), void *ctx, char *err,
		     size_t errlen);

/* A queue's x-arguments (a field table) as a policy_def. */
void policy_def_from_args(struct bytes args, struct policy_def *out);

/* "all", "queues", "classic_queues", "quorum_queues", "streams",
 * "exchanges"; NULL or "" is all. Returns 0 or -1. */
int policy_apply_parse(const char *s, enum policy_apply *out);
const char *policy_apply_name(enum policy_apply a);

/* Creates or replaces a policy. The definition is parsed as above; a bad
 * pattern or definition fails with err and changes nothing. */
int policy_set(const char *vhost, const char *name, const char *pattern, enum policy_apply apply_to,
	       int64_t priority, const struct json_t *definition, bool op,
	       void (*warn)(void *ctx, const char *key), void *ctx, char *err, size_t errlen);
/* Deletes one; 0, or -1 when absent. */
int policy_delete(const char *vhost, const char *name, bool op);
/* Deletes every policy of a vhost (it is being deleted). */
void policy_vhost_deleted(const char *vhost);
const struct policy *policy_find(const char *vhost, const char *name, bool op);
/* Iterates policies and operator policies alike: start with *i = 0;
 * NULL at the end. */
const struct policy *policy_next(size_t *i);

/* The policy (op = false) or operator policy (op = true) that applies to
 * the queue or exchange `name` of `vhost`, or NULL. */
const struct policy *policy_match(const char *vhost, struct bytes name, bool is_queue, bool op);

/* The effective settings of a queue: its own arguments, its policy and
 * operator policy (either NULL) merged by RabbitMQ's rules above. Strings
 * in out borrow from the inputs. */
void policy_effective(const struct policy_def *args, const struct policy *p,
		      const struct policy *op, struct policy_def *out);

void policy_free_all(void);

#endif
