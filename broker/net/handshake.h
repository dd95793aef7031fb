/* handshake.h — the connection class on channel 0: start, secure, tune,
 * open, close, update-secret (spec §1.4.2 class connection). */
#ifndef TERN_BROKER_HANDSHAKE_H
#define TERN_BROKER_HANDSHAKE_H

#include <stddef.h>
#include <stdint.h>

struct conn;

/* Sends connection.start after a good protocol header. */
void handshake_start(struct conn *c);

/* Handles a method frame on channel 0. Returns 0 or a (hard) reply code
 * with the text in c->err. */
int handshake_method(struct conn *c, const uint8_t *payload, size_t len);

#endif
