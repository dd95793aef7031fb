/* auth.h — SASL (PLAIN and AMQPLAIN, as RabbitMQ offers them) over the
 * users of access.h. */
#ifndef TERN_BROKER_AUTH_H
#define TERN_BROKER_AUTH_H

#include <stdbool.h>

#include "protocol/wire.h"

/* Checks a SASL response for `mechanism`. On success returns 0 and sets
 * *user (malloc'd). Returns -1 for a bad mechanism or response and -2 for
 * refused credentials (including a loopback-only user from elsewhere). */
int auth_check(struct bytes mechanism, struct bytes response, bool from_loopback, char **user);

#endif
