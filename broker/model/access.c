/* access.c — users, permissions and topic permissions with RabbitMQ's
 * semantics (its access-control and passwords documentation); see
 * access.h for the design notes.
 *
 * Three tables, all util/strmap.h: users by name, permissions by
 * "user\0vhost" and topic permissions by "user\0vhost\0exchange". A
 * permission entry owns its key, and its user / vhost (/ exchange) fields
 * point into that key, so each entry is one allocation plus its patterns.
 * Patterns are compiled when set; a topic pattern is compiled after
 * {username} and {vhost} are expanded, which is possible then because both
 * are fixed for the entry. */
#include "broker/model/access.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "util/regex.h"
#include "util/strmap.h"
#include "util/xalloc.h"

uint64_t access_gen;

static struct strmap users, perms, topics;

/* A permission with its key ("user\0vhost"); perm first, so the public
 * struct is a cast away. */
struct perm_ent {
	struct perm p;
	char *key;
	size_t klen;
};

/* A topic permission with its key ("user\0vhost\0exchange") and its
 * expanded patterns compiled: [0] write, [1] read. */
struct topic_ent {
	struct topic_perm t;
	char *key;
	size_t klen;
	struct regex *re[2];
};

static const char *const perm_names[3] = {"configure", "write", "read"};

static void seterr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
	if (!err || !errlen)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Joins n byte strings with NULs between them into a fresh key. The parts
 * before the last are C strings, so the NULs make the split unambiguous. */
static char *key_join(const struct bytes *part, size_t n, size_t *len)
{
	size_t total = n - 1;
	for (size_t i = 0; i < n; i++)
		total += part[i].len;
	char *k = xmalloc(total + 1), *w = k;
	for (size_t i = 0; i < n; i++) {
		if (part[i].len)
			memcpy(w, part[i].p, part[i].len);
		w += part[i].len;
		*w++ = '\0';
	}
	*len = total;
	return k;
}

/* ---- patterns ---- */

/* Compiles a permission pattern; RabbitMQ reads an empty one as "^$".
 * (For a topic pattern an error's offset is into the expanded text.) */
static struct regex *re_compile(const char *what, const char *pattern, char *err, size_t errlen)
{
	return regex_compile(pattern && *pattern ? pattern : "^$", what, err, errlen);
}

static bool re_match(const struct regex *re, struct bytes s)
{
	return regex_match(re, s.p, s.len);
}

/* ---- users and hashes ---- */

/* Indexed by enum access_hash; anything out of range is sha256. */
static const struct {
	const char *name;
	const EVP_MD *(*md)(void);
} algs[] = {
	{"rabbit_password_hashing_sha256", EVP_sha256},
	{"rabbit_password_hashing_sha512", EVP_sha512},
	{"rabbit_password_hashing_md5", EVP_md5},
};

static const EVP_MD *hash_md(enum access_hash alg)
{
	return ((unsigned)alg <= ACCESS_MD5 ? algs[alg].md : EVP_sha256)();
}

static size_t hash_len(enum access_hash alg)
{
	return ACCESS_SALT_LEN + (size_t)EVP_MD_get_size(hash_md(alg));
}

int access_hash_parse(const char *name, enum access_hash *out)
{
	for (unsigned a = 0; a < sizeof algs / sizeof algs[0]; a++) {
		if (!name || !*name || !strcmp(name, algs[a].name)) {
			*out = (enum access_hash)a;
			return 0;
		}
	}
	return -1;
}

const char *access_hash_name(enum access_hash alg)
{
	return algs[(unsigned)alg <= ACCESS_MD5 ? alg : ACCESS_SHA256].name;
}

size_t access_hash_compute(enum access_hash alg, const uint8_t salt[ACCESS_SALT_LEN],
			   struct bytes password, uint8_t *out)
{
	/* Streamed, so the password is never copied next to the salt. */
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned n = 0;
	if (!ctx || !EVP_DigestInit_ex(ctx, hash_md(alg), NULL) ||
	    !EVP_DigestUpdate(ctx, salt, ACCESS_SALT_LEN) ||
	    !EVP_DigestUpdate(ctx, password.len ? password.p : (const uint8_t *)"", password.len) ||
	    !EVP_DigestFinal_ex(ctx, out + ACCESS_SALT_LEN, &n))
		abort(); /* only out of memory makes a built-in digest fail */
	EVP_MD_CTX_free(ctx);
	memcpy(out, salt, ACCESS_SALT_LEN);
	return ACCESS_SALT_LEN + n;
}

/* Strict base64: padded to a multiple of 4, alphabet only, '=' only at the
 * end. EVP_DecodeBlock checks the alphabet but counts padding as zero
 * bytes and skips blanks, hence the checks first. Returns the length or -1. */
static int b64_decode(const char *s, uint8_t *out, size_t cap)
{
	static const char alpha[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t n = strlen(s), pad = 0;
	if (n % 4 || n / 4 * 3 > cap)
		return -1;
	while (pad < 2 && pad < n && s[n - 1 - pad] == '=')
		pad++;
	for (size_t i = 0; i < n - pad; i++)
		if (!strchr(alpha, s[i]))
			return -1;
	if (n && EVP_DecodeBlock(out, (const unsigned char *)s, (int)n) < 0)
		return -1;
	return (int)(n / 4 * 3 - pad);
}

static void user_free_tags(struct user *u)
{
	for (size_t i = 0; i < u->ntags; i++)
		free(u->tags[i]);
	free(u->tags);
	u->tags = NULL;
	u->ntags = 0;
}

/* Decodes and checks a password hash for alg into h (ACCESS_HASH_MAX + 3
 * bytes: a full decoded quantum past the end, so an overlong hash gets
 * the length message, not "not base64"). */
static int decode_hash(const char *hash_b64, enum access_hash alg, uint8_t *h, size_t *hlen,
		       char *err, size_t errlen)
{
	*hlen = 0;
	if (!hash_b64 || !*hash_b64)
		return 0;
	if (strlen(hash_b64) > ((ACCESS_HASH_MAX + 3) / 3) * 4) {
		seterr(err, errlen, "password_hash: length does not fit the algorithm");
		return -1;
	}
	int n = b64_decode(hash_b64, h, ACCESS_HASH_MAX + 3);
	if (n < 0) {
		seterr(err, errlen, "password_hash: not base64");
		return -1;
	}
	if ((size_t)n != hash_len(alg)) {
		seterr(err, errlen,
		       "password_hash: length does not fit the algorithm (%d bytes, %s needs %zu)", n,
		       access_hash_name(alg), hash_len(alg));
		return -1;
	}
	*hlen = (size_t)n;
	return 0;
}

int access_hash_check(const char *hash_b64, enum access_hash alg, char *err, size_t errlen)
{
	uint8_t h[ACCESS_HASH_MAX + 3];
	size_t hlen;
	return decode_hash(hash_b64, alg, h, &hlen, err, errlen);
}

/* The credentials and tags of a user, its hash decoded already. */
static void user_set(struct user *u, enum access_hash alg, const uint8_t *h, size_t hlen,
		     const char *const *tags, size_t ntags)
{
	u->alg = alg;
	memcpy(u->hash, h, hlen);
	u->hash_len = hlen;
	user_free_tags(u);
	if (ntags) {
		u->tags = xmalloc(ntags * sizeof *u->tags);
		for (size_t i = 0; i < ntags; i++)
			u->tags[i] = xstrdup(tags[i]);
		u->ntags = ntags;
	}
}

int access_user_put(const char *name, const char *hash_b64, enum access_hash alg,
		    const char *const *tags, size_t ntags, char *err, size_t errlen)
{
	/* Everything is checked before the user changes. */
	uint8_t h[ACCESS_HASH_MAX + 3];
	size_t hlen;
	if (decode_hash(hash_b64, alg, h, &hlen, err, errlen) < 0)
		return -1;
	/* An existing user is updated in place: connections may hold it. */
	struct user *u = strmap_get(&users, name, strlen(name));
	if (!u) {
		u = xcalloc(1, sizeof *u);
		u->name = xstrdup(name);
		u->max_connections = u->max_channels = -1;
		strmap_put(&users, u->name, strlen(u->name), u);
	}
	user_set(u, alg, h, hlen, tags, ntags);
	access_gen++;
	return 0;
}

/* A user outside the table, as access_user_put makes one. */
static void user_make(struct user *u, const char *name, enum access_hash alg, const uint8_t *h,
		      size_t hlen, const char *const *tags, size_t ntags)
{
	memset(u, 0, sizeof *u);
	u->name = xstrdup(name);
	u->max_connections = u->max_channels = -1;
	user_set(u, alg, h, hlen, tags, ntags);
}

/* salt ‖ sha256(salt ‖ password) with a new random salt, into out. */
static size_t new_hash(struct bytes password, uint8_t *out)
{
	uint8_t salt[ACCESS_SALT_LEN];
	if (RAND_bytes(salt, sizeof salt) != 1)
		abort(); /* no randomness: a predictable salt is worse than stopping */
	return access_hash_compute(ACCESS_SHA256, salt, password, out);
}

int access_user_make(struct user *u, const char *name, const char *hash_b64, enum access_hash alg,
		     const char *const *tags, size_t ntags, char *err, size_t errlen)
{
	uint8_t h[ACCESS_HASH_MAX + 3];
	size_t hlen;
	memset(u, 0, sizeof *u);
	if (decode_hash(hash_b64, alg, h, &hlen, err, errlen) < 0)
		return -1;
	user_make(u, name, alg, h, hlen, tags, ntags);
	return 0;
}

void access_user_make_plain(struct user *u, const char *name, struct bytes password,
			    const char *const *tags, size_t ntags)
{
	uint8_t h[ACCESS_HASH_MAX];
	user_make(u, name, ACCESS_SHA256, h, new_hash(password, h), tags, ntags);
}

void access_user_release(struct user *u)
{
	user_free_tags(u);
	free(u->name);
	memset(u, 0, sizeof *u);
}

int access_user_set_password(const char *name, struct bytes password)
{
	struct user *u = access_user_find(name);
	if (!u)
		return -1;
	u->alg = ACCESS_SHA256;
	u->hash_len = new_hash(password, u->hash);
	access_gen++;
	return 0;
}

char *access_user_hash_b64(const struct user *u)
{
	char *out = xmalloc((u->hash_len + 2) / 3 * 4 + 1);
	EVP_EncodeBlock((unsigned char *)out, u->hash, (int)u->hash_len);
	return out;
}

static void perm_ent_free(struct perm_ent *e)
{
	for (int k = 0; k < 3; k++) {
		free(e->p.pattern[k]);
		regex_free(e->p.re[k]);
	}
	free(e->key);
	free(e);
}

static void topic_ent_free(struct topic_ent *e)
{
	free(e->t.write);
	free(e->t.read);
	regex_free(e->re[0]);
	regex_free(e->re[1]);
	free(e->key);
	free(e);
}

static bool owned_by(const char *eu, const char *ev, const char *user, const char *vhost)
{
	return (!user || !strcmp(eu, user)) && (!vhost || !strcmp(ev, vhost));
}

/* Removes the topic permissions, and with perms_too the permissions, of
 * user and/or vhost (NULL: any). strmap forbids deleting while iterating,
 * so the entries are collected first. Returns how many went. */
static size_t drop(const char *user, const char *vhost, bool perms_too)
{
	void **gone = xmalloc((perms.n + topics.n + 1) * sizeof *gone), *v;
	size_t n = 0;
	for (size_t i = 0; perms_too && strmap_next(&perms, &i, &v);) {
		struct perm_ent *e = v;
		if (owned_by(e->p.user, e->p.vhost, user, vhost))
			gone[n++] = e;
	}
	size_t np = n;
	for (size_t i = 0; strmap_next(&topics, &i, &v);) {
		struct topic_ent *e = v;
		if (owned_by(e->t.user, e->t.vhost, user, vhost))
			gone[n++] = e;
	}
	for (size_t i = 0; i < n; i++) {
		if (i < np) {
			struct perm_ent *e = gone[i];
			strmap_del(&perms, e->key, e->klen);
			perm_ent_free(e);
		} else {
			struct topic_ent *e = gone[i];
			strmap_del(&topics, e->key, e->klen);
			topic_ent_free(e);
		}
	}
	free(gone);
	return n;
}

static void user_free(struct user *u)
{
	user_free_tags(u);
	free(u->name);
	free(u);
}

int access_user_delete(const char *name)
{
	struct user *u = strmap_del(&users, name, strlen(name));
	if (!u)
		return -1;
	drop(name, NULL, true);
	user_free(u);
	access_gen++;
	return 0;
}

struct user *access_user_find(const char *name)
{
	return strmap_get(&users, name, strlen(name));
}

bool access_user_has_tag(const struct user *u, const char *tag)
{
	for (size_t i = 0; i < u->ntags; i++)
		if (!strcmp(u->tags[i], tag))
			return true;
	return false;
}

struct user *access_user_next(size_t *i)
{
	void *v;
	return strmap_next(&users, i, &v) ? v : NULL;
}

int access_user_limit_set(const char *user, const char *limit, int64_t value, char *err,
			  size_t errlen)
{
	struct user *u = access_user_find(user);
	if (!u) {
		seterr(err, errlen, "no user '%s'", user);
		return -1;
	}
	int64_t *field;
	if (!strcmp(limit, "max-connections"))
		field = &u->max_connections;
	else if (!strcmp(limit, "max-channels"))
		field = &u->max_channels;
	else {
		seterr(err, errlen, "unknown user limit '%s'", limit);
		return -1;
	}
	*field = value < 0 ? -1 : value;
	access_gen++;
	return 0;
}

bool access_user_login(const struct user *u, struct bytes password, bool from_loopback)
{
	if (!u->hash_len || (u->loopback_only && !from_loopback))
		return false;
	uint8_t got[ACCESS_HASH_MAX];
	size_t n = access_hash_compute(u->alg, u->hash, password, got);
	/* Constant time, so response timing does not leak how much matched. */
	return n == u->hash_len && CRYPTO_memcmp(got, u->hash, n) == 0;
}

struct user *access_login(struct bytes name, struct bytes password, bool from_loopback)
{
	struct user *u = strmap_get(&users, name.len ? (const void *)name.p : "", name.len);
	return u && access_user_login(u, password, from_loopback) ? u : NULL;
}

/* ---- permissions ---- */

int access_perm_set(const char *user, const char *vhost, const char *configure, const char *write,
		    const char *read, char *err, size_t errlen)
{
	if (!access_user_find(user)) {
		seterr(err, errlen, "no user '%s'", user);
		return -1;
	}
	const char *given[3] = {configure, write, read};
	struct regex *re[3] = {NULL, NULL, NULL};
	for (int k = 0; k < 3; k++) {
		if (!(re[k] = re_compile(perm_names[k], given[k], err, errlen))) {
			while (k-- > 0)
				regex_free(re[k]);
			return -1;
		}
	}
	struct perm_ent *e = xcalloc(1, sizeof *e);
	struct bytes part[2] = {bytes_of(user), bytes_of(vhost)};
	e->key = key_join(part, 2, &e->klen);
	e->p.user = e->key;
	e->p.vhost = e->key + part[0].len + 1;
	for (int k = 0; k < 3; k++) {
		e->p.pattern[k] = xstrdup(given[k] ? given[k] : "");
		e->p.re[k] = re[k];
	}
	struct perm_ent *old = strmap_put(&perms, e->key, e->klen, e);
	if (old)
		perm_ent_free(old);
	access_gen++;
	return 0;
}

/* The entry of m under the key joined from part[0..n). */
static void *lookup(const struct strmap *m, const struct bytes *part, size_t n)
{
	size_t len;
	char *key = key_join(part, n, &len);
	void *e = strmap_get(m, key, len);
	free(key);
	return e;
}

static struct perm_ent *perm_lookup(const char *user, const char *vhost)
{
	return lookup(&perms, (struct bytes[]){bytes_of(user), bytes_of(vhost)}, 2);
}

int access_perm_clear(const char *user, const char *vhost)
{
	struct perm_ent *e = perm_lookup(user, vhost);
	if (!e)
		return -1;
	strmap_del(&perms, e->key, e->klen);
	perm_ent_free(e);
	access_gen++;
	return 0;
}

void access_vhost_deleted(const char *vhost)
{
	drop(NULL, vhost, true);
	access_gen++;
}

const struct perm *access_perm_find(const char *user, const char *vhost)
{
	struct perm_ent *e = perm_lookup(user, vhost);
	return e ? &e->p : NULL;
}

const struct perm *access_perm_next(size_t *i)
{
	void *v;
	return strmap_next(&perms, i, &v) ? &((struct perm_ent *)v)->p : NULL;
}

bool access_allows(const struct perm *p, enum access_perm kind, struct bytes name)
{
	if (!p || (unsigned)kind > PERM_READ)
		return false;
	return re_match(p->re[kind], name.len ? name : bytes_of("amq.default"));
}

/* ---- topic permissions ---- */

/* Replaces every {username} and {vhost} with the names, as plain text (no
 * regex escaping, as RabbitMQ does). */
static char *expand(const char *pattern, const char *user, const char *vhost)
{
	static const char uvar[] = "{username}", vvar[] = "{vhost}";
	size_t ulen = strlen(user), vlen = strlen(vhost), cap = strlen(pattern) + 1;
	/* Each variable is at least 7 bytes, so at most len/7 of them. */
	cap += (cap / (sizeof vvar - 1) + 1) * (ulen > vlen ? ulen : vlen);
	char *out = xmalloc(cap), *w = out;
	for (const char *s = pattern; *s;) {
		if (!strncmp(s, uvar, sizeof uvar - 1)) {
			memcpy(w, user, ulen);
			w += ulen;
			s += sizeof uvar - 1;
		} else if (!strncmp(s, vvar, sizeof vvar - 1)) {
			memcpy(w, vhost, vlen);
			w += vlen;
			s += sizeof vvar - 1;
		} else {
			*w++ = *s++;
		}
	}
	*w = '\0';
	return out;
}

int access_topic_set(const char *user, const char *vhost, const char *exchange, const char *write,
		     const char *read, char *err, size_t errlen)
{
	if (!access_user_find(user)) {
		seterr(err, errlen, "no user '%s'", user);
		return -1;
	}
	const char *given[2] = {write ? write : "", read ? read : ""};
	struct regex *re[2] = {NULL, NULL};
	for (int k = 0; k < 2; k++) {
		char *x = expand(given[k], user, vhost);
		re[k] = re_compile(perm_names[k + 1], x, err, errlen);
		free(x);
		if (!re[k]) {
			regex_free(re[0]);
			return -1;
		}
	}
	struct topic_ent *e = xcalloc(1, sizeof *e);
	struct bytes part[3] = {bytes_of(user), bytes_of(vhost), bytes_of(exchange)};
	e->key = key_join(part, 3, &e->klen);
	e->t.user = e->key;
	e->t.vhost = e->t.user + part[0].len + 1;
	e->t.exchange = e->t.vhost + part[1].len + 1;
	e->t.write = xstrdup(given[0]);
	e->t.read = xstrdup(given[1]);
	e->re[0] = re[0];
	e->re[1] = re[1];
	struct topic_ent *old = strmap_put(&topics, e->key, e->klen, e);
	if (old)
		topic_ent_free(old);
	access_gen++;
	return 0;
}

static struct topic_ent *topic_lookup(const char *user, const char *vhost, struct bytes exchange)
{
	return lookup(&topics, (struct bytes[]){bytes_of(user), bytes_of(vhost), exchange}, 3);
}

int access_topic_clear(const char *user, const char *vhost, const char *exchange)
{
	if (!exchange) {
		if (!drop(user, vhost, false))
			return -1;
	} else {
		struct topic_ent *e = topic_lookup(user, vhost, bytes_of(exchange));
		if (!e)
			return -1;
		strmap_del(&topics, e->key, e->klen);
		topic_ent_free(e);
	}
	access_gen++;
	return 0;
}

const struct topic_perm *access_topic_next(size_t *i)
{
	void *v;
	return strmap_next(&topics, i, &v) ? &((struct topic_ent *)v)->t : NULL;
}

bool access_topic_allows(const char *user, const char *vhost, struct bytes exchange,
			 enum access_perm kind, struct bytes routing_key)
{
	struct topic_ent *e = topic_lookup(user, vhost, exchange);
	if (!e)
		return true;
	if (kind == PERM_WRITE)
		return re_match(e->re[0], routing_key);
	if (kind == PERM_READ)
		return re_match(e->re[1], routing_key);
	return false; /* topic permissions have no configure pattern */
}

void access_free(void)
{
	drop(NULL, NULL, true);
	void *v;
	for (size_t i = 0; strmap_next(&users, &i, &v);)
		user_free(v);
	strmap_free(&users);
	strmap_free(&perms);
	strmap_free(&topics);
	regex_cleanup();
	access_gen++; /* a decision cached before stays invalid after */
}
