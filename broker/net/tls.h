/* tls.h — TLS (OpenSSL 3) for Tern's listeners.
 *
 * Two halves. tls.c builds a server SSL_CTX from RabbitMQ-named options
 * (a struct tls_config: ssl_options.* for AMQPS, management.ssl.* for the
 * management plugin's HTTPS) and rebuilds every context in use on SIGHUP.
 * tls_conn.c is the OpenSSL state of one AMQP connection, behind conn.c's
 * read and write: decrypted bytes land in the connection's own input
 * buffer, and the output buffer is encrypted into large records and
 * written once per loop turn. conn.c tests c->tls and calls these; the
 * rest of the broker never sees OpenSSL. */
#ifndef TERN_BROKER_TLS_H
#define TERN_BROKER_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "broker/core/config.h"

typedef struct ssl_ctx_st SSL_CTX;
struct conn;

/* ---- contexts (tls.c) ---- */

/* A context built from options and kept current: tls_ctx_open builds it,
 * tls_reload_all rebuilds it after the config is read again. Owned by
 * whoever opens it (the server for AMQPS, the management plugin for
 * HTTPS); connections hold their own reference to the context they were
 * accepted with, so a reload never touches them. */
struct tls_ctx {
	const char *prefix;          /* the options' names in errors: "ssl_options" */
	const struct tls_config *opt; /* read again on each reload */
	SSL_CTX *ctx;                /* the current one; new connections get it */
	struct tls_ctx *next;        /* the open ones, for reload */
};

/* Builds an SSL_CTX from o; errors name the option (prefix.keyfile) and
 * the file. Returns the context or NULL with err. */
SSL_CTX *tls_ctx_build(const struct tls_config *o, const char *prefix, char *err, size_t errlen);

/* Builds t->ctx from t->opt and keeps it for tls_reload_all. Returns 0 or
 * -1 with err (a start-up error). */
int tls_ctx_open(struct tls_ctx *t, char *err, size_t errlen);
/* Releases t->ctx (connections that hold it keep it alive). */
void tls_ctx_close(struct tls_ctx *t);
/* OpenSSL's reason for the failure just seen (the first error queued,
 * which names the cause rather than the caller); clears the queue. */
const char *tls_error_reason(void);
/* SIGHUP: rebuilds every open context from its options; one that fails
 * is logged and the old context kept. */
void tls_reload_all(void);

/* ---- one AMQP connection (tls_conn.c) ---- */

/* Starts a server-side TLS session on c's socket with ctx; the handshake
 * runs inside tls_conn_read. */
void tls_conn_start(struct conn *c, SSL_CTX *ctx);
/* Reads and decrypts into buf, as much as is there (up to len). Returns
 * the byte count, 0 when the peer closed, or -1 with errno: EAGAIN for
 * nothing yet (handshake under way), another value for a failure, which
 * it has logged with the peer and OpenSSL's reason. */
ssize_t tls_conn_read(struct conn *c, unsigned char *buf, size_t len);
/* Encrypts what c->out holds and writes the records. Returns 1 when there
 * was nothing to write, 0, or -1 on a socket or TLS failure (logged).
 * *left: bytes still waiting (plaintext and records). */
int tls_conn_flush(struct conn *c, size_t *left);
/* Whether decrypted or undecrypted input waits inside OpenSSL (the socket
 * will not signal it). */
bool tls_conn_pending(const struct conn *c);
/* Whether the handshake has finished. */
bool tls_conn_ready(const struct conn *c);
/* Sends close_notify when the session is healthy (best effort). */
void tls_conn_shutdown(struct conn *c);
void tls_conn_free(struct conn *c);

/* What the management API shows of a TLS connection, in RabbitMQ's terms
 * (rabbit_ssl): protocol "tlsv1.3", cipher "aes_256_gcm", key exchange
 * "ecdhe_rsa" ("any" in TLS 1.3), hash "sha384" or "aead"; the peer
 * certificate's subject and issuer as RFC 4514 strings, its validity as
 * "START - END". The cert strings are "" when no certificate came. */
struct tls_info {
	char protocol[16], cipher[32], key_exchange[24], hash[16];
	char subject[512], issuer[512], validity[64];
};
void tls_conn_info(const struct conn *c, struct tls_info *out);

/* The user name SASL EXTERNAL takes from c's verified client certificate
 * (ssl_cert_login_from: the subject's DN, or its common names). Returns
 * 0 with name, or -1 with why (RabbitMQ's texts, for the log). */
int tls_conn_login_name(const struct conn *c, char *name, size_t n, const char **why);

#endif
