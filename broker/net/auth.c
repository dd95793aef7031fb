/* auth.c — SASL PLAIN / AMQPLAIN over access.h's users.
 * PLAIN (RFC 4616): "authzid\0user\0password". AMQPLAIN: a field table
 * without its length prefix, holding LOGIN and PASSWORD strings. */
#include "broker/net/auth.h"

#include <stdlib.h>
#include <string.h>

#include "broker/core/log.h"
#include "broker/model/access.h"
#include "protocol/table.h"
#include "util/xalloc.h"

static int verify(struct bytes name, struct bytes pass, bool from_loopback, char **user)
{
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
