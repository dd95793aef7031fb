/* auth.h — users and SASL (PLAIN and AMQPLAIN, as RabbitMQ offers them). */
#ifndef TERN_BROKER_AUTH_H
#define TERN_BROKER_AUTH_H

#include <stdbool.h>

#include "protocol/wire.h"

/* Creates the default user from the config. */
void auth_init(void);
void auth_free(void);

/* Adds or replaces a user. */
void auth_add_user(const char *name, const char *password, bool loopback_only);

/* Checks a SASL response for `mechanism`. On success returns 0 and sets
 * *user (malloc'd). Returns -1 for a bad mechanism or response and -2 for
 * refused credentials (including a loopback-only user from elsewhere). */
int auth_check(struct bytes mechanism, struct bytes response, bool from_loopback, char **user);

#endif
