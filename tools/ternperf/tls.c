/* tls.c — ternperf's amqps:// side: one OpenSSL client context built from
 * the URI's query parameters (RabbitMQ's names: cacertfile, certfile,
 * keyfile, password, verify, server_name_indication, depth), and the
 * non-blocking handshake, read and write of one connection. conn.c calls
 * these in place of read()/write(); the epoll loop stays as it is.
 *
 * OpenSSL's wants can cross: a read may need the socket writable and a
 * write may need it readable (TLS 1.3 key updates, renegotiation in 1.2).
 * The want is recorded in the connection (tls_rd_out, tls_wr_in) and
 * conn.c retries that direction on the other one's event. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "tools/ternperf/perf.h"

/* With read-ahead OpenSSL reads up to this much per read(): several
 * records per syscall on a busy consumer instead of one. */
#define TLS_READ_BUF (64u * 1024)

static SSL_CTX *ctx;
static char why[256]; /* the last OpenSSL failure, for tls_strerror */

/* The oldest queued OpenSSL error as text ("certificate verify failed"),
 * or `dflt` when the queue is empty; empties the queue. */
static const char *ssl_reason(const char *dflt)
{
	unsigned long e = ERR_get_error();
	if (!e) {
		snprintf(why, sizeof why, "%s", dflt);
	} else {
		const char *r = ERR_SYSTEM_ERROR(e) ? strerror(ERR_GET_REASON(e))
						    : ERR_reason_error_string(e);
		if (r)
			snprintf(why, sizeof why, "%s", r);
		else
			ERR_error_string_n(e, why, sizeof why);
	}
	ERR_clear_error();
	return why;
}

static void die(const char *what, const char *path)
{
	fprintf(stderr, "ternperf: %s %s: %s\n", what, path, ssl_reason("unreadable"));
	exit(2);
}

/* Set when OpenSSL asks for the password: the key is encrypted. A wrong
 * password then fails as "bad decrypt" only when the decrypted padding
 * is wrong; about 1 time in 130 it passes and fails as an ASN.1 error. */
static bool pass_asked;

static int pass_cb(char *buf, int size, int rwflag, void *u)
{
	(void)rwflag;
	pass_asked = true;
	const char *p = u ? u : "";
	int n = (int)strlen(p);
	if (n >= size)
		return -1;
	memcpy(buf, p, (size_t)n);
	return n;
}

static bool is_ip(const char *host)
{
	unsigned char b[16];
	return inet_pton(AF_INET, host, b) == 1 || inet_pton(AF_INET6, host, b) == 1;
}

/* The name the server's certificate must carry and SNI sends: the
 * server_name_indication parameter, else the URI's host when it is a DNS
 * name (as RabbitMQ's Erlang client does); NULL when disabled or an IP. */
static const char *sni_name(void)
{
	const struct perf_cfg *cfg = &perf.cfg;
	if (cfg->sni_off)
		return NULL;
	if (cfg->sni)
		return cfg->sni;
	return is_ip(cfg->host) ? NULL : cfg->host;
}

void tls_init(void)
{
	const struct perf_cfg *cfg = &perf.cfg;
	ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx) {
		fprintf(stderr, "ternperf: TLS: %s\n", ssl_reason("cannot create a context"));
		exit(2);
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	/* Partial writes: SSL_write returns after each record, so `sent`
	 * counts what is really out; moving buffer: c->out may be realloc'd
	 * (producers append) between a WANT_WRITE and its retry. */
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/* A peer closing without close_notify reads as a plain EOF: AMQP's
	 * own framing already tells a truncated stream. */
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_set_read_ahead(ctx, 1);
	SSL_CTX_set_default_read_buffer_len(ctx, TLS_READ_BUF);
	/* Always ours: OpenSSL's default would prompt on the terminal. */
	SSL_CTX_set_default_passwd_cb(ctx, pass_cb);
	SSL_CTX_set_default_passwd_cb_userdata(ctx, cfg->keypass);
	if (cfg->cacertfile) {
		if (SSL_CTX_load_verify_locations(ctx, cfg->cacertfile, NULL) != 1)
			die("cacertfile", cfg->cacertfile);
	} else if (cfg->verify_peer && SSL_CTX_set_default_verify_paths(ctx) != 1) {
		die("the system's trusted certificates", "");
	}
	if (cfg->certfile) {
		const char *key = cfg->keyfile ? cfg->keyfile : cfg->certfile;
		if (SSL_CTX_use_certificate_chain_file(ctx, cfg->certfile) != 1)
			die("certfile", cfg->certfile);
		/* A key that does not match the certificate fails here too. */
		bool key_read = SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) == 1;
		if (!key_read && pass_asked) {
			ERR_clear_error();
			fprintf(stderr, "ternperf: keyfile (for the certfile) %s: %s\n", key,
				cfg->keypass ? "bad decrypt (check password=)"
					     : "encrypted? give password=...");
			exit(2);
		}
		if (!key_read || SSL_CTX_check_private_key(ctx) != 1)
			die("keyfile (for the certfile)", key);
	} else if (cfg->keyfile) {
		fprintf(stderr, "ternperf: keyfile %s without a certfile\n", cfg->keyfile);
		exit(2);
	}
	SSL_CTX_set_verify(ctx, cfg->verify_peer ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
	if (cfg->depth >= 0)
		SSL_CTX_set_verify_depth(ctx, cfg->depth);
	/* The identity to check: the SNI name, else the host's IP address;
	 * with server_name_indication=disable, the chain only (as the
	 * Erlang client). Set once on the context, inherited by each SSL. */
	X509_VERIFY_PARAM *vp = SSL_CTX_get0_param(ctx);
	const char *name = sni_name();
	if (cfg->verify_peer && name)
		X509_VERIFY_PARAM_set1_host(vp, name, 0);
	else if (cfg->verify_peer && !cfg->sni_off && is_ip(cfg->host))
		X509_VERIFY_PARAM_set1_ip_asc(vp, cfg->host);
}

/* Keeps the first octets the server sent during the handshake: when they
 * are an AMQP protocol header, the port speaks plaintext, and the error
 * can say so instead of OpenSSL's "wrong version number". */
static long first_bytes_cb(BIO *b, int oper, const char *argp, size_t len, int argi, long argl,
			   int ret, size_t *processed)
{
	(void)len;
	(void)argi;
	(void)argl;
	if (oper != (BIO_CB_READ | BIO_CB_RETURN) || ret <= 0 || !processed || !argp)
		return ret;
	struct conn *c = (struct conn *)BIO_get_callback_arg(b);
	size_t room = sizeof c->tls_first - c->tls_first_len;
	size_t n = *processed < room ? *processed : room;
	memcpy(c->tls_first + c->tls_first_len, argp, n);
	c->tls_first_len += (uint8_t)n;
	return ret;
}

int tls_start(struct conn *c)
{
	SSL *s = SSL_new(ctx);
	if (!s || SSL_set_fd(s, c->fd) != 1) {
		perf_fatal("connection %d: TLS: %s", c->id, ssl_reason("cannot create a session"));
		SSL_free(s);
		return -1;
	}
	const char *name = sni_name();
	if (name)
		SSL_set_tlsext_host_name(s, name);
	BIO *rb = SSL_get_rbio(s);
	BIO_set_callback_arg(rb, (char *)c);
	BIO_set_callback_ex(rb, first_bytes_cb);
	c->ssl = s;
	c->tls_first_len = 0;
	return 0;
}

/* Why the handshake failed, in words a user can act on. */
static const char *handshake_reason(struct conn *c, int err)
{
	long v = SSL_get_verify_result(c->ssl);
	if (c->tls_first_len >= 4 && !memcmp(c->tls_first, "AMQP", 4))
		return "the server answered in plaintext AMQP: that port is not a TLS "
		       "port (amqps:// wants the broker's TLS listener, 5671 by default)";
	if (v != X509_V_OK) {
		snprintf(why, sizeof why,
			 "server certificate not accepted: %s (verify=verify_peer%s)",
			 X509_verify_cert_error_string(v),
			 perf.cfg.cacertfile ? "" : ", no cacertfile: the system's CAs");
		ERR_clear_error();
		return why;
	}
	if (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)
		return errno ? strerror(errno) : "connection closed by the server";
	return ssl_reason("failed");
}

int tls_handshake(struct conn *c)
{
	ERR_clear_error();
	int rc = SSL_connect(c->ssl);
	if (rc == 1) {
		BIO_set_callback_ex(SSL_get_rbio(c->ssl), NULL); /* off the data path */
		if (c->id == 0)
			snprintf(perf.tls, sizeof perf.tls, "%s %s", SSL_get_version(c->ssl),
				 SSL_get_cipher_name(c->ssl));
		c->tls_rd_out = false;
		return 1;
	}
	int err = SSL_get_error(c->ssl, rc);
	if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
		c->tls_rd_out = err == SSL_ERROR_WANT_WRITE;
		return 0;
	}
	perf_fatal("connection %d: TLS handshake with %s:%s failed: %s", c->id, perf.cfg.host,
		   perf.cfg.port, handshake_reason(c, err));
	return -1;
}

/* Maps a failed SSL call to errno: EAGAIN for a want (recorded in *want
 * when it is the other direction), EPROTO with the reason in `why`, or
 * the socket's own errno. Returns -1. */
static ssize_t failed(struct conn *c, int rc, int other_want, bool *want)
{
	int err = SSL_get_error(c->ssl, rc);
	*want = err == other_want;
	if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
		errno = EAGAIN;
		return -1;
	}
	if (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
		if (!errno)
			errno = EPIPE;
		return -1;
	}
	ssl_reason("TLS error");
	errno = EPROTO;
	return -1;
}

ssize_t tls_read(struct conn *c, uint8_t *buf, size_t n, bool *more)
{
	size_t got = 0, r;
	*more = false;
	ERR_clear_error();
	/* OpenSSL hands out one record per call and may hold more already
	 * read from the socket, which epoll would never report: take all. */
	while (got < n) {
		int rc = SSL_read_ex(c->ssl, buf + got, n - got, &r);
		if (rc == 1) {
			got += r;
			c->tls_rd_out = false;
			continue;
		}
		int err = SSL_get_error(c->ssl, rc);
		if (err == SSL_ERROR_ZERO_RETURN)
			return (ssize_t)got; /* 0 = EOF when nothing came before it */
		if (got && (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)) {
			c->tls_rd_out = err == SSL_ERROR_WANT_WRITE;
			return (ssize_t)got;
		}
		if (got)
			return (ssize_t)got; /* report the error on the next call */
		return failed(c, rc, SSL_ERROR_WANT_WRITE, &c->tls_rd_out);
	}
	*more = SSL_has_pending(c->ssl) == 1; /* the buffer filled first */
	return (ssize_t)got;
}

ssize_t tls_write(struct conn *c, const uint8_t *buf, size_t n)
{
	size_t w;
	ERR_clear_error();
	int rc = SSL_write_ex(c->ssl, buf, n, &w);
	if (rc == 1) {
		c->tls_wr_in = false;
		return (ssize_t)w;
	}
	return failed(c, rc, SSL_ERROR_WANT_READ, &c->tls_wr_in);
}

const char *tls_strerror(int err)
{
	return err == EPROTO && why[0] ? why : strerror(err);
}

void tls_free(struct conn *c)
{
	if (!c->ssl)
		return;
	/* One close_notify, best effort: the socket closes right after. */
	if (SSL_is_init_finished(c->ssl))
		SSL_shutdown(c->ssl);
	SSL_free(c->ssl);
	c->ssl = NULL;
	ERR_clear_error();
}
