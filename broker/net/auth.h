/* auth.h — SASL (PLAIN and AMQPLAIN, as RabbitMQ offers them, and
 * EXTERNAL's user check) over the users of access.h. */
#ifndef TERN_BROKER_AUTH_H
#define TERN_BROKER_AUTH_H

#include <stdbool.h>

#include "protocol/wire.h"

/* Checks a SASL response for `mechanism`. On success returns 0 and sets
 * *user (malloc'd). Returns -1 for a bad mechanism or response and -2 for
 * refused credentials (including a loopback-only user from elsewhere). */
int auth_check(struct bytes mechanism, struct bytes response, bool from_loopback, char **user);

/* SASL EXTERNAL: name comes from a verified client certificate, and the
 * user needs no password (RabbitMQ's check_user_login with no
 * credentials): it must exist and, if loopback-only, come from loopback.
 * Returns 0 with *user (malloc'd) or -2 (logged). */
int auth_external(const char *name, bool from_loopback, char **user);

#endif
