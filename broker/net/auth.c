/* auth.c — SASL PLAIN / AMQPLAIN over access.h's users.
 * PLAIN (RFC 4616): "authzid\0user\0password". AMQPLAIN: a field table
 * without its length prefix, holding LOGIN and PASSWORD strings.
 *
 * A cluster member that does not lead holds no users in memory; it
 * checks a login against the user its store holds (verify_stored), as
 * its management API does, and refuses the client at connection.open
 * with 320 naming the leader (handshake.c) only once the login passed. */
#include "broker/net/auth.h"

#include <stdlib.h>
#include <string.h>

#include "broker/core/log.h"
#include "broker/model/access.h"
#include "broker/model/definitions.h"
#include "protocol/table.h"
#include "store/store.h"
#include "util/xalloc.h"

/* On a follower: a wrong password (or a loopback-only user from
 * elsewhere) is refused as the leader would refuse it. A user the copy
 * does not hold passes to the 320: the copy may be behind the leader (a
 * user created a moment ago, a node catching up or never led), and a
 * client told 403 gives up where one told 320 goes to the leader. */
static int verify_stored(struct bytes name, struct bytes pass, bool from_loopback, char **user)
{
	char err[300];
	struct user stored;
	int rc = definitions_stored_login(name, pass, from_loopback, &stored, err, sizeof err);
	if (rc == -2) {
		log_info("login refused: user '%.*s' - invalid credentials (this follower's copy of "
			 "the users)",
			 (int)name.len, (const char *)name.p);
		return -2;
	}
	if (rc == -1)
		log_error("login of '%.*s' not checked: %s", (int)name.len, (const char *)name.p,
			  err);
	if (rc == 1)
		access_user_release(&stored);
	*user = xstrndup((const char *)name.p, name.len);
	return 0;
}

static int verify(struct bytes name, struct bytes pass, bool from_loopback, char **user)
{
	if (store_role(NULL) != STORE_HERE)
		return verify_stored(name, pass, from_loopback, user);
	struct user *u = access_login(name, pass, from_loopback);
	if (!u)
		return -2;
	*user = xstrdup(u->name);
	return 0;
}

int auth_check(struct bytes mechanism, struct bytes response, bool from_loopback, char **user)
{
	if (bytes_eq(mechanism, "PLAIN")) {
		const uint8_t *p = response.p, *end = p + response.len;
		const uint8_t *z1 = memchr(p, 0, response.len);
		if (!z1)
			return -1;
		const uint8_t *z2 = memchr(z1 + 1, 0, (size_t)(end - z1 - 1));
		if (!z2)
			return -1;
		struct bytes name = {z1 + 1, (uint32_t)(z2 - z1 - 1)};
		struct bytes pass = {z2 + 1, (uint32_t)(end - z2 - 1)};
		return verify(name, pass, from_loopback, user);
	}
	if (bytes_eq(mechanism, "AMQPLAIN")) {
		if (table_validate(response) < 0)
			return -1;
		struct fvalue login, pass;
		struct bytes l, pw;
		if (!table_get(response, "LOGIN", &login) || !table_get(response, "PASSWORD", &pass) ||
		    !fvalue_str(&login, &l) || !fvalue_str(&pass, &pw))
			return -1;
		return verify(l, pw, from_loopback, user);
	}
	return -1;
}

int auth_external(const char *name, bool from_loopback, char **user)
{
	struct user *u = access_user_find(name);
	if (!u) {
		log_info("EXTERNAL login refused: user '%s' - invalid credentials", name);
		return -2;
	}
	if (u->loopback_only && !from_loopback) {
		log_info("EXTERNAL login refused: user '%s' can only connect via localhost", name);
		return -2;
	}
	*user = xstrdup(u->name);
	return 0;
}
