/* auth.c — users and SASL PLAIN / AMQPLAIN.
 * PLAIN (RFC 4616): "authzid\0user\0password". AMQPLAIN: a field table
 * without its length prefix, holding LOGIN and PASSWORD strings. */
#include "broker/auth.h"

#include <stdlib.h>
#include <string.h>

#include "broker/config.h"
#include "protocol/table.h"
#include "util/xalloc.h"

struct user {
	char *name;
	char *password;
	bool loopback_only;
	struct user *next;
};

static struct user *users;

void auth_add_user(const char *name, const char *password, bool loopback_only)
{
	for (struct user *u = users; u; u = u->next) {
		if (!strcmp(u->name, name)) {
			free(u->password);
			u->password = xstrdup(password);
			u->loopback_only = loopback_only;
			return;
		}
	}
	struct user *u = xcalloc(1, sizeof *u);
	u->name = xstrdup(name);
	u->password = xstrdup(password);
	u->loopback_only = loopback_only;
	u->next = users;
	users = u;
}

void auth_init(void)
{
	auth_add_user(cfg.default_user, cfg.default_pass, cfg.loopback_only_default_user != 0);
}

void auth_free(void)
{
	while (users) {
		struct user *u = users;
		users = u->next;
		free(u->name);
		free(u->password);
		free(u);
	}
}

/* Constant-time comparison, so response timing does not leak a prefix. */
static bool same_secret(struct bytes given, const char *want)
{
	size_t n = strlen(want);
	unsigned diff = given.len != n;
	for (size_t i = 0; i < given.len && i < n; i++)
		diff |= given.p[i] ^ (uint8_t)want[i];
	return diff == 0;
}

static int verify(struct bytes name, struct bytes pass, bool from_loopback, char **user)
{
	for (struct user *u = users; u; u = u->next) {
		if (!bytes_eq(name, u->name))
			continue;
		if (!same_secret(pass, u->password) || (u->loopback_only && !from_loopback))
			return -2;
		*user = xstrdup(u->name);
		return 0;
	}
	return -2;
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
