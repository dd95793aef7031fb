/* tls_conn.c — the OpenSSL state of one AMQP connection, behind conn.c's
 * read and write, and what the management API and SASL EXTERNAL read of
 * it (RabbitMQ's rabbit_ssl and rabbit_cert_info formats).
 *
 * Design notes. OpenSSL reads the socket itself (a socket BIO, read-ahead
 * into a 64 KiB buffer, so one read() brings many records), and writes
 * into an evbuffer of ready records (a BIO of our own), so SSL_write never
 * blocks and never returns WANT_WRITE: the socket sees only writev() of
 * that evbuffer, once per loop turn, as for plaintext. With renegotiation
 * off, a write never needs a read either. conn_flush hands the output
 * buffer over in pieces of at least 16 KiB (a full record), copied
 * together when the chains are smaller, and encrypts ahead at most
 * ENC_AHEAD, so a slow reader holds plaintext (counted by conn.c's
 * back-pressure) rather than records. Should OpenSSL still ask for a
 * retry (WANT_READ/WANT_WRITE) either way, the read stops until the socket
 * speaks and the write is retried from the same bytes at the next flush,
 * which the next read asks for. Input that OpenSSL already holds
 * does not wake the socket's event: a read that fills the caller's buffer
 * re-arms the event itself, and conn_resume_reading asks
 * tls_conn_pending. */
#include "broker/net/tls.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "broker/core/log.h"
#include "broker/net/conn.h"
#include "broker/net/server.h"
#include "util/xalloc.h"

#define READ_AHEAD (64 * 1024)  /* OpenSSL's socket reads */
#define RECORD (16 * 1024)      /* a full TLS record of plaintext */
#define ENC_AHEAD (256 * 1024)  /* records made ahead of the socket */

struct tls_conn {
	SSL *ssl;
	struct evbuffer *enc; /* records waiting for the socket */
	bool ready;           /* handshake done */
	bool broken;          /* a fatal TLS error: no more SSL calls but free */
	int write_waits;      /* SSL_write asked to be retried: WANT_READ or
			       * WANT_WRITE (neither is expected), or 0 */
	/* An end (close or failure) seen behind data the last read returned,
	 * given to the next read: 0 closed, or the errno of a failure. */
	bool end_pending;
	int end_errno;
};

static BIO_METHOD *records_method;

/* The write side of the BIO pair: records are appended to the evbuffer. */
static int records_write(BIO *b, const char *data, size_t len, size_t *written)
{
	evbuffer_add(BIO_get_data(b), data, len);
	*written = len;
	return 1;
}

static long records_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	(void)b;
	(void)num;
	(void)ptr;
	return cmd == BIO_CTRL_FLUSH; /* nothing else to do or tell */
}

static int records_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

static BIO *records_bio(struct evbuffer *enc)
{
	if (!records_method) {
		records_method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "records");
		if (!records_method)
			abort(); /* out of memory, as xmalloc */
		BIO_meth_set_write_ex(records_method, records_write);
		BIO_meth_set_ctrl(records_method, records_ctrl);
		BIO_meth_set_create(records_method, records_create);
	}
	BIO *b = BIO_new(records_method);
	if (!b)
		abort();
	BIO_set_data(b, enc);
	return b;
}

void tls_conn_start(struct conn *c, SSL_CTX *ctx)
{
	struct tls_conn *t = xcalloc(1, sizeof *t);
	t->ssl = SSL_new(ctx);
	if (!t->ssl)
		abort(); /* only out of memory */
	t->enc = evbuffer_new();
	BIO *rd = BIO_new_socket(c->fd, BIO_NOCLOSE);
	if (!rd)
		abort();
	SSL_set_bio(t->ssl, rd, records_bio(t->enc));
	SSL_set_accept_state(t->ssl);
	/* A retried write may come from the staging copy or the chain itself. */
	SSL_set_mode(t->ssl, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_set_read_ahead(t->ssl, 1);
	SSL_set_default_read_buffer_len(t->ssl, READ_AHEAD);
	c->tls = t;
}

/* Writes ready records until the socket is full; -1 on a socket error. */
static int write_records(struct conn *c)
{
	struct tls_conn *t = c->tls;
	while (evbuffer_get_length(t->enc)) {
		int n = evbuffer_write(t->enc, c->fd);
		if (n > 0) {
			c->send_oct += (uint64_t)n;
			c->send_cnt++;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			return -1;
		break;
	}
	return 0;
}

/* Logs a failure of SSL_read or SSL_write (err: SSL_get_error's) and
 * marks the session broken; the alert OpenSSL made is sent if it can be. */
static void failed(struct conn *c, int err)
{
	struct tls_conn *t = c->tls;
	const char *what = t->ready ? "TLS error" : "TLS handshake failed";
	if (err == SSL_ERROR_SYSCALL) {
		int e = errno;
		ERR_clear_error();
		if (t->ready)
			log_debug("%s: %s: %s", c->peer, what, e ? strerror(e) : "connection closed");
		else
			log_info("%s: %s: %s", c->peer, what, e ? strerror(e) : "connection closed");
		errno = e ? e : ECONNRESET;
	} else {
		long v = SSL_get_verify_result(t->ssl);
		const char *reason = tls_error_reason();
		if (v != X509_V_OK)
			log_warn("%s: %s: %s (%s)", c->peer, what, reason,
				 X509_verify_cert_error_string(v));
		else
			log_warn("%s: %s: %s", c->peer, what, reason);
		errno = EPROTO;
	}
	t->broken = true;
	int e = errno;
	write_records(c); /* the alert, if any */
	errno = e;
}

ssize_t tls_conn_read(struct conn *c, unsigned char *buf, size_t len)
{
	struct tls_conn *t = c->tls;
	if (t->end_pending) {
		errno = t->end_errno;
		return t->end_errno ? -1 : 0;
	}
	size_t got = 0;
	int end = -1; /* -1: more may come; 0: closed; else an errno */
	ERR_clear_error();
	while (got < len) {
		size_t n;
		if (SSL_read_ex(t->ssl, buf + got, len - got, &n)) {
			got += n;
			continue;
		}
		int err = SSL_get_error(t->ssl, 0);
		if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
			break; /* WANT_WRITE: what it wrote is in enc, flushed below */
		if (err == SSL_ERROR_ZERO_RETURN) {
			if (!t->ready)
				log_info("%s: TLS handshake failed: the client closed the connection",
					 c->peer);
			end = 0;
		} else {
			failed(c, err);
			end = errno;
		}
		break;
	}
	if (!t->ready && SSL_is_init_finished(t->ssl)) {
		t->ready = true;
		log_debug("%s: TLS handshake done (%s, %s)", c->peer, SSL_get_version(t->ssl),
			  SSL_get_cipher_name(t->ssl));
	}
	/* The socket's octets, records and handshake included, as RabbitMQ
	 * counts them (the TCP socket's statistics under TLS). */
	c->recv_oct = BIO_number_read(SSL_get_rbio(t->ssl));
	if (evbuffer_get_length(t->enc) || t->write_waits)
		server_defer_flush(c); /* handshake messages, tickets, alerts */
	if (got && end >= 0) {
		/* Hand over what came before the end first. */
		t->end_pending = true;
		t->end_errno = end;
		event_active(c->rev, EV_READ, 0);
	} else if (got == len && SSL_has_pending(t->ssl)) {
		event_active(c->rev, EV_READ, 0); /* the socket will not say so */
	}
	if (got)
		return (ssize_t)got;
	if (end < 0) {
		errno = EAGAIN;
		return -1;
	}
	errno = end;
	return end ? -1 : 0;
}

/* Encrypts c->out into records, until ENC_AHEAD are waiting. */
static int encrypt(struct conn *c)
{
	static unsigned char stage[RECORD];
	struct tls_conn *t = c->tls;
	while (evbuffer_get_length(c->out) && evbuffer_get_length(t->enc) < ENC_AHEAD) {
		struct evbuffer_iovec v;
		evbuffer_peek(c->out, -1, NULL, &v, 1);
		const void *p = v.iov_base;
		size_t n = v.iov_len;
		if (n < RECORD) { /* small chains: one record for several */
			n = (size_t)evbuffer_copyout(c->out, stage, sizeof stage);
			p = stage;
		}
		size_t w;
		ERR_clear_error();
		if (!SSL_write_ex(t->ssl, p, n, &w)) {
			int err = SSL_get_error(t->ssl, 0);
			if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
				/* Retried with the same bytes at the front of c->out
				 * by the next flush (after a read, for WANT_READ). */
				t->write_waits = err;
				return 0;
			}
			failed(c, err);
			return -1;
		}
		evbuffer_drain(c->out, w); /* w == n: the records BIO never blocks */
	}
	return 0;
}

int tls_conn_flush(struct conn *c, size_t *left)
{
	struct tls_conn *t = c->tls;
	if (!evbuffer_get_length(c->out) && !evbuffer_get_length(t->enc))
		return 1;
	/* Output before the handshake ends (none is made) or after a failure
	 * waits or is dropped with the connection. */
	bool can_encrypt = t->ready && !t->broken;
	t->write_waits = 0;
	for (;;) {
		if (can_encrypt && encrypt(c) < 0)
			return -1;
		if (write_records(c) < 0) {
			log_debug("write to %s failed: %s", c->peer, strerror(errno));
			return -1;
		}
		/* Go on while the socket takes everything and plaintext is left. */
		if (evbuffer_get_length(t->enc) || !can_encrypt || !evbuffer_get_length(c->out) ||
		    t->write_waits)
			break;
	}
	/* Plaintext that waits for a read is not the socket's to take. */
	*left = evbuffer_get_length(t->enc) +
		(t->write_waits == SSL_ERROR_WANT_READ ? 0 : evbuffer_get_length(c->out));
	return 0;
}

bool tls_conn_pending(const struct conn *c)
{
	return c->tls->end_pending || SSL_has_pending(c->tls->ssl);
}

bool tls_conn_ready(const struct conn *c)
{
	return c->tls->ready;
}

void tls_conn_shutdown(struct conn *c)
{
	struct tls_conn *t = c->tls;
	if (!t->ready || t->broken)
		return;
	ERR_clear_error();
	SSL_shutdown(t->ssl); /* queues close_notify; the peer's is not awaited */
	ERR_clear_error();
	write_records(c);
}

void tls_conn_free(struct conn *c)
{
	SSL_free(c->tls->ssl);
	evbuffer_free(c->tls->enc);
	free(c->tls);
	c->tls = NULL;
}

/* ---- what the API and EXTERNAL see ---- */

/* A bounded string being built. */
struct sb {
	char *p;
	size_t cap, len;
};

static void sb_putc(struct sb *b, char ch)
{
	if (b->len + 1 < b->cap)
		b->p[b->len++] = ch;
	b->p[b->len < b->cap ? b->len : b->cap - 1] = '\0';
}

static void sb_puts(struct sb *b, const char *s)
{
	while (*s)
		sb_putc(b, *s++);
}

/* RabbitMQ's names of attribute types (rabbit_cert_info); others are
 * written as their dotted OID (RFC 4514 §2.3). */
static const struct {
	int nid;
	const char *name;
} attr_names[] = {
	{NID_surname, "SN"},
	{NID_givenName, "GIVENNAME"},
	{NID_initials, "INITIALS"},
	{NID_generationQualifier, "GENERATIONQUALIFIER"},
	{NID_commonName, "CN"},
	{NID_localityName, "L"},
	{NID_stateOrProvinceName, "ST"},
	{NID_organizationName, "O"},
	{NID_organizationalUnitName, "OU"},
	{NID_title, "TITLE"},
	{NID_countryName, "C"},
	{NID_serialNumber, "SERIALNUMBER"},
	{NID_pseudonym, "PSEUDONYM"},
	{NID_domainComponent, "DC"},
	{NID_pkcs9_emailAddress, "EMAILADDRESS"},
	{NID_streetAddress, "STREET"},
	{NID_userId, "UID"},
};

/* An attribute value as UTF-8, escaped (RFC 4514 §2.4) when `escape`:
 * a leading ' ' or '#', a trailing ' ', and "+,;<>\ with a backslash;
 * bytes below 32 or from 126 up as \XX, as RabbitMQ writes them. */
static void put_value(struct sb *b, const X509_NAME_ENTRY *e, bool escape)
{
	unsigned char *utf8 = NULL;
	const ASN1_STRING *d = X509_NAME_ENTRY_get_data(e);
	int n = ASN1_STRING_to_UTF8(&utf8, d);
	const unsigned char *s = utf8;
	if (n < 0) { /* not a string type: its bytes */
		s = ASN1_STRING_get0_data(d);
		n = ASN1_STRING_length(d);
	}
	for (int i = 0; i < n; i++) {
		unsigned char ch = s[i];
		char hex[4];
		if (!escape) {
			sb_putc(b, (char)ch);
		} else if ((i == 0 && (ch == ' ' || ch == '#')) || (i == n - 1 && ch == ' ') ||
			   (ch && strchr("\"+,;<>\\", ch))) {
			sb_putc(b, '\\');
			sb_putc(b, (char)ch);
		} else if (ch < 32 || ch >= 126) {
			snprintf(hex, sizeof hex, "\\%02X", ch);
			sb_puts(b, hex);
		} else {
			sb_putc(b, (char)ch);
		}
	}
	OPENSSL_free(utf8);
}

static void put_attr(struct sb *b, const X509_NAME_ENTRY *e)
{
	const ASN1_OBJECT *obj = X509_NAME_ENTRY_get_object(e);
	int nid = OBJ_obj2nid(obj);
	const char *name = NULL;
	for (size_t i = 0; i < sizeof attr_names / sizeof attr_names[0] && !name; i++)
		if (attr_names[i].nid == nid)
			name = attr_names[i].name;
	char oid[80];
	if (!name) {
		OBJ_obj2txt(oid, sizeof oid, obj, 1);
		name = oid;
	}
	sb_puts(b, name);
	sb_putc(b, '=');
	put_value(b, e, true);
}

/* A name as RabbitMQ formats it (RFC 4514): the RDNs last first, joined
 * with ',', the values of a multi-valued RDN joined with '+'. */
static void format_name(const X509_NAME *nm, char *out, size_t cap)
{
	struct sb b = {out, cap, 0};
	out[0] = '\0';
	int n = X509_NAME_entry_count(nm);
	for (int end = n; end > 0;) {
		int set = X509_NAME_ENTRY_set(X509_NAME_get_entry(nm, end - 1));
		int start = end - 1;
		while (start > 0 && X509_NAME_ENTRY_set(X509_NAME_get_entry(nm, start - 1)) == set)
			start--;
		if (end != n)
			sb_putc(&b, ',');
		for (int i = start; i < end; i++) {
			if (i != start)
				sb_putc(&b, '+');
			put_attr(&b, X509_NAME_get_entry(nm, i));
		}
		end = start;
	}
}

static void format_time(const ASN1_TIME *t, char *out, size_t cap)
{
	struct tm tm;
	if (!ASN1_TIME_to_tm(t, &tm) || !strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(out, cap, "?");
}

/* OpenSSL's cipher as Erlang's ssl names it: "aes_256_gcm". */
static void cipher_name(const SSL_CIPHER *sc, char *out, size_t cap)
{
	int nid = SSL_CIPHER_get_cipher_nid(sc);
	const char *ln = nid == NID_des_ede3_cbc ? "3des-ede-cbc" : nid ? OBJ_nid2ln(nid) : "null";
	snprintf(out, cap, "%s", ln ? ln : "unknown");
	for (char *p = out; *p; p++)
		*p = *p == '-' ? '_' : (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
}

/* The key exchange as Erlang's ssl names it: "ecdhe_rsa", "rsa"; "any"
 * in TLS 1.3, where the suite does not fix it. */
static const char *kx_name(const SSL_CIPHER *sc)
{
	int kx = SSL_CIPHER_get_kx_nid(sc), au = SSL_CIPHER_get_auth_nid(sc);
	switch (kx) {
	case NID_kx_any: return "any";
	case NID_kx_rsa: return "rsa";
	case NID_kx_psk: return "psk";
	case NID_kx_rsa_psk: return "rsa_psk";
	case NID_kx_dhe_psk: return "dhe_psk";
	case NID_kx_ecdhe_psk: return "ecdhe_psk";
	case NID_kx_ecdhe:
		return au == NID_auth_ecdsa ? "ecdhe_ecdsa" : au == NID_auth_null ? "ecdh_anon"
								  : "ecdhe_rsa";
	case NID_kx_dhe:
		return au == NID_auth_dss ? "dhe_dss" : au == NID_auth_null ? "dh_anon" : "dhe_rsa";
	default: return "unknown";
	}
}

static const char *hash_name(const SSL_CIPHER *sc)
{
	if (SSL_CIPHER_is_aead(sc))
		return "aead";
	switch (SSL_CIPHER_get_digest_nid(sc)) {
	case NID_sha1: return "sha";
	case NID_sha256: return "sha256";
	case NID_sha384: return "sha384";
	case NID_md5: return "md5";
	default: return "unknown";
	}
}

void tls_conn_info(const struct conn *c, struct tls_info *out)
{
	memset(out, 0, sizeof *out);
	SSL *ssl = c->tls->ssl;
	const SSL_CIPHER *sc = SSL_get_current_cipher(ssl);
	if (!c->tls->ready || !sc)
		return;
	snprintf(out->protocol, sizeof out->protocol, "%s", SSL_get_version(ssl));
	for (char *p = out->protocol; *p; p++)
		*p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p); /* "tlsv1.3" */
	cipher_name(sc, out->cipher, sizeof out->cipher);
	snprintf(out->key_exchange, sizeof out->key_exchange, "%s", kx_name(sc));
	snprintf(out->hash, sizeof out->hash, "%s", hash_name(sc));
	X509 *cert = SSL_get0_peer_certificate(ssl);
	if (!cert)
		return;
	format_name(X509_get_subject_name(cert), out->subject, sizeof out->subject);
	format_name(X509_get_issuer_name(cert), out->issuer, sizeof out->issuer);
	char from[24], to[24];
	format_time(X509_get0_notBefore(cert), from, sizeof from);
	format_time(X509_get0_notAfter(cert), to, sizeof to);
	snprintf(out->validity, sizeof out->validity, "%s - %s", from, to);
}

int tls_conn_login_name(const struct conn *c, char *name, size_t n, const char **why)
{
	SSL *ssl = c->tls->ssl;
	X509 *cert = SSL_get0_peer_certificate(ssl);
	if (!cert) {
		*why = "connection peer presented no TLS (x.509) certificate";
		return -1;
	}
	/* As RabbitMQ: a name from a certificate nobody checked is no login. */
	if (!(SSL_get_verify_mode(ssl) & SSL_VERIFY_PEER) ||
	    SSL_get_verify_result(ssl) != X509_V_OK) {
		*why = "TLS configuration is unsafe";
		return -1;
	}
	const X509_NAME *subject = X509_get_subject_name(cert);
	if (cfg.ssl_cert_login_from == 0) {
		format_name(subject, name, n);
		return 0;
	}
	/* common_name: every CN, joined with ',' as RabbitMQ does. */
	struct sb b = {name, n, 0};
	name[0] = '\0';
	for (int i = -1; (i = X509_NAME_get_index_by_NID(subject, NID_commonName, i)) >= 0;) {
		if (b.len)
			sb_putc(&b, ',');
		put_value(&b, X509_NAME_get_entry(subject, i), false);
	}
	if (!b.len) {
		*why = "no name found";
		return -1;
	}
	return 0;
}
