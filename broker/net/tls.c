/* tls.c — server SSL_CTXs from RabbitMQ-named options (rabbitmq.conf's
 * ssl_options.* and management.ssl.*: cacertfile, certfile, keyfile,
 * password, verify, fail_if_no_peer_cert, versions.N, ciphers.N,
 * honor_cipher_order), and their reload on SIGHUP.
 *
 * Design notes. Everything is checked when the context is built, so a bad
 * path, a key that does not decrypt or does not match its certificate, or
 * an unknown cipher stops start-up with the option named, and on SIGHUP
 * leaves the old context in use. TLS older than 1.2 is never enabled
 * (config.c refuses to name it). A context is refcounted by OpenSSL:
 * each SSL takes a reference, so replacing the current context never
 * disturbs a connection that was accepted with the old one. */
#include "broker/net/tls.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "broker/core/log.h"

static struct tls_ctx *open_ctxs;

const char *tls_error_reason(void)
{
	unsigned long e = ERR_get_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;
	ERR_clear_error();
	return r ? r : "unknown error";
}

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	ERR_clear_error();
	return -1;
}

/* The file an option names must be readable; errno says why not before
 * OpenSSL's vaguer reasons would. */
static int readable(const char *prefix, const char *opt, const char *path, char *err,
		    size_t errlen)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return fail(err, errlen, "%s.%s: %s: %s", prefix, opt, path, strerror(errno));
	fclose(f);
	return 0;
}

/* The password OpenSSL asks for, and whether it asked: only an encrypted
 * key asks, and a wrong password shows as "bad decrypt" only when the
 * decrypted padding fails; about 1 time in 130 it passes and the garbage
 * fails as an ASN.1 error ("unsupported", "wrong tag"). */
struct key_password {
	const char *password;
	bool asked;
};

/* Hands OpenSSL the configured password (never a terminal prompt, which
 * OpenSSL's default callback would open). */
static int password_cb(char *buf, int size, int rwflag, void *arg)
{
	(void)rwflag;
	struct key_password *kp = arg;
	kp->asked = true;
	const char *pw = kp->password;
	size_t n = strlen(pw);
	if (n > (size_t)size)
		return 0;
	memcpy(buf, pw, n);
	return (int)n;
}

static int set_versions(SSL_CTX *ctx, const struct tls_config *o)
{
	int lo = TLS1_3_VERSION, hi = TLS1_2_VERSION;
	for (size_t i = 0; i < o->versions.n; i++) {
		int v = strcmp(o->versions.vals[i], "tlsv1.3") ? TLS1_2_VERSION : TLS1_3_VERSION;
		lo = v < lo ? v : lo;
		hi = v > hi ? v : hi;
	}
	if (!o->versions.n)
		lo = TLS1_2_VERSION, hi = TLS1_3_VERSION;
	return SSL_CTX_set_min_proto_version(ctx, lo) && SSL_CTX_set_max_proto_version(ctx, hi);
}

/* Whether ctx's cipher list has a suite of that name. */
static bool has_cipher(SSL_CTX *ctx, const char *name)
{
	STACK_OF(SSL_CIPHER) *sk = SSL_CTX_get_ciphers(ctx);
	for (int i = 0; i < sk_SSL_CIPHER_num(sk); i++) {
		const SSL_CIPHER *c = sk_SSL_CIPHER_value(sk, i);
		if (!strcmp(SSL_CIPHER_get_name(c), name) || !strcmp(SSL_CIPHER_standard_name(c), name))
			return true;
	}
	return false;
}

/* ciphers.N: TLS 1.3 suites (TLS_...) and older ones are two lists in
 * OpenSSL; each name is checked alone first, so an unknown one is named. */
static int set_ciphers(SSL_CTX *ctx, const struct tls_config *o, const char *prefix, char *err,
		       size_t errlen)
{
	char v12[2048] = "", v13[1024] = "";
	for (size_t i = 0; i < o->ciphers.n; i++) {
		const char *name = o->ciphers.vals[i];
		bool tls13 = !strncmp(name, "TLS_", 4);
		bool ok = tls13 ? SSL_CTX_set_ciphersuites(ctx, name) && has_cipher(ctx, name)
				: SSL_CTX_set_cipher_list(ctx, name) != 0;
		if (!ok)
			return fail(err, errlen, "%s.ciphers.%s: '%s' is not a cipher suite OpenSSL knows",
				    prefix, o->ciphers.keys[i], name);
		char *list = tls13 ? v13 : v12;
		size_t cap = tls13 ? sizeof v13 : sizeof v12;
		snprintf(list + strlen(list), cap - strlen(list), "%s%s", *list ? ":" : "", name);
	}
	/* Reset what the checks left, then set the lists given (an empty one
	 * keeps OpenSSL's default for that version). */
	SSL_CTX_set_ciphersuites(ctx, *v13 ? v13 : TLS_DEFAULT_CIPHERSUITES);
	SSL_CTX_set_cipher_list(ctx, *v12 ? v12 : SSL_DEFAULT_CIPHER_LIST);
	return 0;
}

/* The certificate chain and its key (the key may sit in the certfile). */
static int set_identity(SSL_CTX *ctx, const struct tls_config *o, const char *prefix, char *err,
			size_t errlen)
{
	if (!*o->certfile)
		return fail(err, errlen, "%s.certfile is not set (the server's certificate)", prefix);
	const char *keyopt = *o->keyfile ? "keyfile" : "certfile";
	const char *key = *o->keyfile ? o->keyfile : o->certfile;
	if (readable(prefix, "certfile", o->certfile, err, errlen) < 0 ||
	    readable(prefix, keyopt, key, err, errlen) < 0)
		return -1;
	if (SSL_CTX_use_certificate_chain_file(ctx, o->certfile) != 1)
		return fail(err, errlen, "%s.certfile: %s: no certificate could be read (%s)", prefix,
			    o->certfile, tls_error_reason());
	SSL_CTX_set_default_passwd_cb(ctx, password_cb);
	struct key_password kp = {o->password, false};
	SSL_CTX_set_default_passwd_cb_userdata(ctx, &kp);
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		SSL_CTX_set_default_passwd_cb_userdata(ctx, NULL);
		const char *why = tls_error_reason();
		if (strstr(why, "mismatch"))
			return fail(err, errlen, "%s.%s: %s: the key does not match %s.certfile %s",
				    prefix, keyopt, key, prefix, o->certfile);
		if (kp.asked || strstr(why, "decrypt") || strstr(why, "password"))
			return fail(err, errlen, "%s.%s: %s: the key does not decrypt (%s; %s %s.password)",
				    prefix, keyopt, key, why,
				    *o->password ? "check" : "an encrypted key needs", prefix);
		return fail(err, errlen, "%s.%s: %s: no private key could be read (%s)", prefix, keyopt,
			    key, why);
	}
	SSL_CTX_set_default_passwd_cb_userdata(ctx, NULL); /* kp is on this stack */
	if (SSL_CTX_check_private_key(ctx) != 1)
		return fail(err, errlen, "%s.%s: %s: the key does not match %s.certfile %s", prefix,
			    keyopt, key, prefix, o->certfile);
	return 0;
}

/* verify, fail_if_no_peer_cert and the CAs client certificates need. */
static int set_verify(SSL_CTX *ctx, const struct tls_config *o, const char *prefix, char *err,
		      size_t errlen)
{
	if (o->fail_if_no_peer_cert && !o->verify)
		return fail(err, errlen, "%s.fail_if_no_peer_cert = true needs %s.verify = verify_peer",
			    prefix, prefix);
	if (o->verify && !*o->cacertfile)
		return fail(err, errlen, "%s.verify = verify_peer needs %s.cacertfile", prefix, prefix);
	if (*o->cacertfile) {
		if (readable(prefix, "cacertfile", o->cacertfile, err, errlen) < 0)
			return -1;
		if (SSL_CTX_load_verify_file(ctx, o->cacertfile) != 1)
			return fail(err, errlen, "%s.cacertfile: %s: no CA certificate could be read (%s)",
				    prefix, o->cacertfile, tls_error_reason());
		/* The CertificateRequest names the CAs, so clients pick a fitting cert. */
		STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(o->cacertfile);
		if (names)
			SSL_CTX_set_client_CA_list(ctx, names);
	}
	int mode = SSL_VERIFY_NONE;
	if (o->verify)
		mode = SSL_VERIFY_PEER | (o->fail_if_no_peer_cert ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0);
	SSL_CTX_set_verify(ctx, mode, NULL);
	return 0;
}

SSL_CTX *tls_ctx_build(const struct tls_config *o, const char *prefix, char *err, size_t errlen)
{
	ERR_clear_error();
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx) {
		fail(err, errlen, "%s: cannot create a TLS context (%s)", prefix, tls_error_reason());
		return NULL;
	}
	/* No renegotiation (so a write never needs a read), EOF without
	 * close_notify is a plain close (most AMQP clients do it). */
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF |
					 SSL_OP_NO_COMPRESSION |
					 (o->honor_cipher_order ? SSL_OP_CIPHER_SERVER_PREFERENCE : 0));
	SSL_CTX_set_dh_auto(ctx, 1);
	/* Sessions resumed with a client certificate need an id context. */
	SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"tern", 4);
	if (!set_versions(ctx, o)) {
		fail(err, errlen, "%s.versions: %s", prefix, tls_error_reason());
		goto fail;
	}
	if (set_ciphers(ctx, o, prefix, err, errlen) < 0 ||
	    set_identity(ctx, o, prefix, err, errlen) < 0 ||
	    set_verify(ctx, o, prefix, err, errlen) < 0)
		goto fail;
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

int tls_ctx_open(struct tls_ctx *t, char *err, size_t errlen)
{
	t->ctx = tls_ctx_build(t->opt, t->prefix, err, errlen);
	if (!t->ctx)
		return -1;
	t->next = open_ctxs;
	open_ctxs = t;
	return 0;
}

void tls_ctx_close(struct tls_ctx *t)
{
	for (struct tls_ctx **p = &open_ctxs; *p; p = &(*p)->next) {
		if (*p == t) {
			*p = t->next;
			break;
		}
	}
	SSL_CTX_free(t->ctx);
	t->ctx = NULL;
}

void tls_reload_all(void)
{
	for (struct tls_ctx *t = open_ctxs; t; t = t->next) {
		char err[512];
		SSL_CTX *ctx = tls_ctx_build(t->opt, t->prefix, err, sizeof err);
		if (!ctx) {
			log_error("%s; the certificate in use stays", err);
			continue;
		}
		SSL_CTX_free(t->ctx);
		t->ctx = ctx;
		log_info("%s: certificate and key re-read (%s)", t->prefix, t->opt->certfile);
	}
}
