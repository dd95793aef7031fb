/* access.h — users (tags, RabbitMQ's salted password hashes, limits),
 * permissions per user and vhost (configure / write / read regular
 * expressions), and topic permissions, with RabbitMQ's semantics (its
 * access-control and passwords documentation). Asked by the handlers and
 * the HTTP API, never by the codec.
 *
 * Design notes. Everything here lives in memory; definitions.c persists
 * it (as RabbitMQ's definitions objects) and loads it back at start-up.
 * Patterns are PCRE2, compiled once when set and matched unanchored, as
 * RabbitMQ's re:run does; an empty pattern means "^$" (nothing but the
 * empty name). The default exchange is named "amq.default" for checks.
 * access_gen moves on every change of users or permissions, so a cache
 * of decisions (per channel and exchange) stays valid while it holds. */
#ifndef TERN_BROKER_ACCESS_H
#define TERN_BROKER_ACCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "protocol/wire.h"

struct regex;

enum access_hash { ACCESS_SHA256, ACCESS_SHA512, ACCESS_MD5 };
enum access_perm { PERM_CONFIGURE, PERM_WRITE, PERM_READ };

#define ACCESS_SALT_LEN 4
#define ACCESS_HASH_MAX (ACCESS_SALT_LEN + 64)

/* A user; owned by the user table (access.c). */
struct user {
	char *name;
	enum access_hash alg;
	uint8_t hash[ACCESS_HASH_MAX]; /* salt then digest */
	size_t hash_len;               /* 0: no password login */
	char **tags;                   /* "administrator", "monitoring", ... */
	size_t ntags;
	int64_t max_connections, max_channels; /* -1: no limit */
	bool loopback_only;            /* may connect from loopback only */
	uint32_t nconns;               /* open connections (conn.c counts) */
};

/* One user's permissions on one vhost; owned by the permission table. */
struct perm {
	char *user, *vhost;
	char *pattern[3]; /* indexed by enum access_perm, as given */
	struct regex *re[3]; /* compiled */
};

/* A topic permission: routing-key patterns for one exchange. */
struct topic_perm {
	char *user, *vhost, *exchange;
	char *write, *read; /* as given, with {username} / {vhost} unexpanded */
};

/* Moves on every change below. */
extern uint64_t access_gen;

void access_free(void);

/* ---- users ---- */

/* The hash algorithm named as RabbitMQ names it
 * ("rabbit_password_hashing_sha256", "..._sha512", "..._md5"); an empty
 * or NULL name is sha256, RabbitMQ's default. Returns 0 or -1. */
int access_hash_parse(const char *name, enum access_hash *out);
const char *access_hash_name(enum access_hash alg);

/* salt ‖ H(salt ‖ password) into out (ACCESS_HASH_MAX bytes); returns
 * its length. */
size_t access_hash_compute(enum access_hash alg, const uint8_t salt[ACCESS_SALT_LEN],
			   struct bytes password, uint8_t *out);

/* Creates or updates a user. hash_b64 is the base64 of salt ‖ digest, as
 * RabbitMQ exports password_hash ("" or NULL: no password login); tags as
 * given. Returns 0, or -1 with err ("password_hash: not base64", "length
 * does not fit the algorithm"). */
int access_user_put(const char *name, const char *hash_b64, enum access_hash alg,
		    const char *const *tags, size_t ntags, char *err, size_t errlen);
/* Checks a password hash as access_user_put would, changing nothing.
 * Returns 0 or -1 with err. */
int access_hash_check(const char *hash_b64, enum access_hash alg, char *err, size_t errlen);
/* Sets a user's password from plain text (a new random salt, sha256).
 * Returns 0 or -1 when there is no such user. */
int access_user_set_password(const char *name, struct bytes password);
/* The base64 of the user's salt ‖ digest ("" when none): malloc'd. */
char *access_user_hash_b64(const struct user *u);
/* Deletes a user with its permissions and topic permissions. Returns 0,
 * or -1 when absent. */
int access_user_delete(const char *name);
struct user *access_user_find(const char *name);
bool access_user_has_tag(const struct user *u, const char *tag);
/* Iterates users: start with *i = 0; returns NULL at the end. */
struct user *access_user_next(size_t *i);
/* Sets a user limit by RabbitMQ's name ("max-connections",
 * "max-channels"); value < 0 clears it. Returns 0, or -1 for an unknown
 * name or user (err says which). */
int access_user_limit_set(const char *user, const char *limit, int64_t value, char *err,
			  size_t errlen);

/* Checks a password login. Returns the user, or NULL when the user is
 * unknown, has no password, the password is wrong (compared in constant
 * time) or a loopback-only user comes from elsewhere. */
struct user *access_login(struct bytes name, struct bytes password, bool from_loopback);
/* The same check on a given user (one of the table or made below). */
bool access_user_login(const struct user *u, struct bytes password, bool from_loopback);

/* Fills *u as access_user_put would make the user, outside the table (a
 * cluster member that does not lead checks logins against the users its
 * store holds: definitions_stored_user). 0, or -1 with err and nothing to
 * release. access_user_release frees what *u holds. */
int access_user_make(struct user *u, const char *name, const char *hash_b64, enum access_hash alg,
		     const char *const *tags, size_t ntags, char *err, size_t errlen);
/* The same from a plain-text password (a new random salt, sha256). */
void access_user_make_plain(struct user *u, const char *name, struct bytes password,
			    const char *const *tags, size_t ntags);
void access_user_release(struct user *u);

/* ---- permissions ---- */

/* Sets (user, vhost)'s permissions. A pattern PCRE2 rejects fails with
 * err naming which one, the offset and PCRE2's message; nothing changes
 * then. The user must exist; the vhost is the caller's to check. */
int access_perm_set(const char *user, const char *vhost, const char *configure,
		    const char *write, const char *read, char *err, size_t errlen);
/* Removes (user, vhost)'s permissions; 0, or -1 when there were none. */
int access_perm_clear(const char *user, const char *vhost);
/* Removes every permission and topic permission on a vhost (it is being
 * deleted). */
void access_vhost_deleted(const char *vhost);
const struct perm *access_perm_find(const char *user, const char *vhost);
/* Iterates permissions: start with *i = 0; returns NULL at the end. */
const struct perm *access_perm_next(size_t *i);

/* True when p (NULL: none, refused) allows `kind` on a resource named
 * `name` ("" as the default exchange means "amq.default"). */
bool access_allows(const struct perm *p, enum access_perm kind, struct bytes name);

/* ---- topic permissions ---- */

int access_topic_set(const char *user, const char *vhost, const char *exchange,
		     const char *write, const char *read, char *err, size_t errlen);
/* Removes one (exchange given) or all of (user, vhost)'s topic
 * permissions; 0, or -1 when there were none. */
int access_topic_clear(const char *user, const char *vhost, const char *exchange);
const struct topic_perm *access_topic_next(size_t *i);
/* True when no topic permission of (user, vhost) names `exchange`, or
 * its write / read pattern, with {username} and {vhost} expanded,
 * matches the routing key. */
bool access_topic_allows(const char *user, const char *vhost, struct bytes exchange,
			 enum access_perm kind, struct bytes routing_key);

#endif
