/* check_access.c — unit tests for broker/model/access.c: RabbitMQ's salted
 * password hashes against vectors computed independently (Python's
 * hashlib, and the sha256 example of RabbitMQ's passwords guide), logins,
 * malformed hashes, tags and limits, permission patterns as {pattern,
 * name, expect} rows (unanchored, "" as "^$", the default exchange as
 * "amq.default"), rejected regular expressions, topic permissions with
 * {username} / {vhost} expansion, cascades on user and vhost deletion,
 * and access_gen. Every test ends with access_free (the fixture), so
 * ASan's leak check covers all of it. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "broker/model/access.h"

static char err[256];

static void setup(void)
{
	err[0] = '\0';
}

static void teardown(void)
{
	access_free();
}

static struct bytes B(const char *s) {
	return bytes_of(s);
}

/* ---- hashes ---- */

/* Salt 0x908DC60A and password "test12", from RabbitMQ's passwords guide;
 * each value is base64(salt ‖ H(salt ‖ "test12")) by Python's hashlib. */
static const uint8_t salt[ACCESS_SALT_LEN] = {0x90, 0x8d, 0xc6, 0x0a};
static const struct vec {
	enum access_hash alg;
	const char *b64;
} vecs[] = {
	/* The guide's own result, too. */
	{ACCESS_SHA256, "kI3GCqW5JLMJa4iX1lo7X4D6XbYqlLgxIs30+P6tENUV2POR"},
	{ACCESS_SHA512, "kI3GChuNuIYf8lRbCCxZjgjKwsY19ns6+uFO0zcXRBGA/XGJPYD8OWMy"
			"7EB8TaOmAzjP2azv84GbINYwX2cDWb4DHnc="},
	{ACCESS_MD5, "kI3GChNpte2FApYFXScl+0dIluk="},
};
#define NVECS (sizeof vecs / sizeof vecs[0])

START_TEST(test_hash_compute)
{
	const struct vec *v = &vecs[_i];
	uint8_t out[ACCESS_HASH_MAX];
	size_t n = access_hash_compute(v->alg, salt, B("test12"), out);
	/* Encoded by OpenSSL here, so access.c's own encoder is not what
	 * checks itself. */
	char b64[128];
	EVP_EncodeBlock((unsigned char *)b64, out, (int)n);
	ck_assert_str_eq(b64, v->b64);
	/* Another password, another digest, same salt. */
	uint8_t other[ACCESS_HASH_MAX];
	ck_assert_uint_eq(access_hash_compute(v->alg, salt, B("test13"), other), n);
	ck_assert_mem_eq(other, salt, ACCESS_SALT_LEN);
	ck_assert(memcmp(other, out, n) != 0);
}
END_TEST

START_TEST(test_hash_login)
{
	const struct vec *v = &vecs[_i];
	ck_assert_int_eq(access_user_put("u", v->b64, v->alg, NULL, 0, err, sizeof err), 0);
	struct user *u = access_user_find("u");
	ck_assert_ptr_nonnull(u);
	ck_assert_ptr_eq(access_login(B("u"), B("test12"), false), u);
	ck_assert_ptr_null(access_login(B("u"), B("test13"), false));
	ck_assert_ptr_null(access_login(B("u"), B("test1"), false));
	ck_assert_ptr_null(access_login(B("u"), B(""), false));
	ck_assert_ptr_null(access_login(B("v"), B("test12"), false));
	ck_assert_ptr_null(access_login(B("U"), B("test12"), false));
	/* The name is a view: "ux" cut to "u" is u. */
	ck_assert_ptr_eq(access_login((struct bytes){(const uint8_t *)"ux", 1}, B("test12"), true),
			 u);
	char *back = access_user_hash_b64(u);
	ck_assert_str_eq(back, v->b64);
	free(back);
	/* The same hash under another algorithm has the wrong length. */
	enum access_hash wrong = v->alg == ACCESS_SHA256 ? ACCESS_MD5 : ACCESS_SHA256;
	ck_assert_int_eq(access_user_put("w", v->b64, wrong, NULL, 0, err, sizeof err), -1);
	ck_assert_ptr_nonnull(strstr(err, "length does not fit"));
	ck_assert_ptr_null(access_user_find("w"));
}
END_TEST

/* guest/guest as RabbitMQ 3.0 exported it (md5, its default then). */
START_TEST(test_guest_md5_export)
{
	ck_assert_int_eq(access_user_put("guest", "AsYO2ESs62RcsxNVyxKaR5DGxVI=", ACCESS_MD5, NULL,
					 0, err, sizeof err),
			 0);
	ck_assert_ptr_nonnull(access_login(B("guest"), B("guest"), true));
	ck_assert_ptr_null(access_login(B("guest"), B("Guest"), true));
}
END_TEST

START_TEST(test_bad_hashes)
{
	const char *sha256 = vecs[0].b64;
	ck_assert_int_eq(access_user_put("u", sha256, ACCESS_SHA256, NULL, 0, err, sizeof err), 0);
	uint64_t gen = access_gen;
	static const struct {
		const char *b64, *why;
	} bad[] = {
		{"kI3GCqW5JLMJa4iX1lo7X4D6XbYqlLgxIs30+P6tENUV2PO!", "not base64"},
		{"kI3GCqW5JLMJa4iX1lo7X4D6XbYqlLgxIs30+P6tENUV2PO", "not base64"}, /* unpadded */
		{"kI3GCqW5 LMJa4iX1lo7X4D6XbYqlLgxIs30+P6tENUV2POR", "not base64"},
		{" kI3GCqW5JLMJa4iX1lo7X4D6XbYqlLgxIs30+P6tENUV2POR", "not base64"},
		{"kI3GCqW5JLMJa4iX1lo7X4D6XbYqlLgxIs30+P6tENUV2P=R", "not base64"}, /* '=' inside */
		{"kI3GCqW5JLMJa4iX1lo7X4D6XbYqlLgxIs30+P6tENUV====", "not base64"},
		{"kI3GCqW5JLMJa4iX1lo7X4D6XbYqlLgxIs30+P6tENUV2POR"
		 "AAAA",
		 "length does not fit"},
		{"kI3GCqW5JLMJa4iX1lo7X4D6XbYqlLgxIs30+P6tENUV", "length does not fit"},
		{"QUJD", "length does not fit"},
		/* Far too long for any algorithm (and for the buffer). */
		{"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
		 "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		 "length does not fit"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		err[0] = '\0';
		ck_assert_msg(access_user_put("u", bad[i].b64, ACCESS_SHA256, NULL, 0, err,
					      sizeof err) == -1,
			      "accepted %s", bad[i].b64);
		ck_assert_msg(strstr(err, bad[i].why) && strstr(err, "password_hash"),
			      "%s: err '%s', want '%s'", bad[i].b64, err, bad[i].why);
	}
	/* The user is as it was. */
	ck_assert_uint_eq(access_gen, gen);
	ck_assert_ptr_nonnull(access_login(B("u"), B("test12"), false));
	/* A NULL err is fine. */
	ck_assert_int_eq(access_user_put("u", "!!!!", ACCESS_SHA256, NULL, 0, NULL, 0), -1);
}
END_TEST

START_TEST(test_no_password)
{
	ck_assert_int_eq(access_user_put("a", "", ACCESS_SHA256, NULL, 0, err, sizeof err), 0);
	ck_assert_int_eq(access_user_put("b", NULL, ACCESS_SHA256, NULL, 0, err, sizeof err), 0);
	ck_assert_ptr_null(access_login(B("a"), B(""), true));
	ck_assert_ptr_null(access_login(B("b"), B(""), true));
	char *h = access_user_hash_b64(access_user_find("a"));
	ck_assert_str_eq(h, "");
	free(h);
	/* Putting a hash-less definition over a user takes the password away. */
	ck_assert_int_eq(access_user_put("c", vecs[0].b64, ACCESS_SHA256, NULL, 0, err, sizeof err),
			 0);
	ck_assert_ptr_nonnull(access_login(B("c"), B("test12"), true));
	ck_assert_int_eq(access_user_put("c", "", ACCESS_SHA256, NULL, 0, err, sizeof err), 0);
	ck_assert_ptr_null(access_login(B("c"), B("test12"), true));
}
END_TEST

START_TEST(test_loopback_only)
{
	ck_assert_int_eq(access_user_put("g", vecs[2].b64, ACCESS_MD5, NULL, 0, err, sizeof err),
			 0);
	struct user *u = access_user_find("g");
	ck_assert(!u->loopback_only);
	ck_assert_ptr_eq(access_login(B("g"), B("test12"), false), u);
	u->loopback_only = true;
	ck_assert_ptr_null(access_login(B("g"), B("test12"), false));
	ck_assert_ptr_eq(access_login(B("g"), B("test12"), true), u);
}
END_TEST

/* A user made outside the table (a follower's login, from its store):
 * the same checks, and the table does not see it. */
START_TEST(test_user_made_outside_the_table)
{
	const char *tags[] = {"monitoring"};
	struct user u;
	ck_assert_int_eq(
		access_user_make(&u, "m", vecs[_i].b64, vecs[_i].alg, tags, 1, err, sizeof err), 0);
	ck_assert_str_eq(u.name, "m");
	ck_assert(access_user_has_tag(&u, "monitoring") && !access_user_has_tag(&u, "management"));
	ck_assert(access_user_login(&u, B("test12"), false));
	ck_assert(!access_user_login(&u, B("test13"), false));
	ck_assert(!access_user_login(&u, B(""), false));
	u.loopback_only = true;
	ck_assert(!access_user_login(&u, B("test12"), false));
	ck_assert(access_user_login(&u, B("test12"), true));
	ck_assert_ptr_null(access_user_find("m"));
	ck_assert_ptr_null(access_login(B("m"), B("test12"), true));
	access_user_release(&u);
	ck_assert_ptr_null(u.name);
	/* A bad hash: -1 with the reason, nothing to release (a second
	 * release is harmless). */
	ck_assert_int_eq(access_user_make(&u, "m", "QUJD", ACCESS_SHA256, NULL, 0, err, sizeof err),
			 -1);
	ck_assert_ptr_nonnull(strstr(err, "length does not fit"));
	ck_assert_ptr_null(u.name);
	access_user_release(&u);
	/* No password: no login. */
	ck_assert_int_eq(access_user_make(&u, "n", "", ACCESS_SHA256, NULL, 0, err, sizeof err), 0);
	ck_assert(!access_user_login(&u, B(""), true));
	access_user_release(&u);
}
END_TEST

START_TEST(test_set_password)
{
	ck_assert_int_eq(access_user_set_password("nobody", B("x")), -1);
	ck_assert_int_eq(access_user_put("u", vecs[1].b64, ACCESS_SHA512, NULL, 0, err, sizeof err),
			 0);
	uint64_t gen = access_gen;
	ck_assert_int_eq(access_user_set_password("u", B("s3cret")), 0);
	ck_assert_uint_gt(access_gen, gen);
	struct user *u = access_user_find("u");
	ck_assert_int_eq(u->alg, ACCESS_SHA256);
	ck_assert_uint_eq(u->hash_len, 36);
	ck_assert_ptr_eq(access_login(B("u"), B("s3cret"), false), u);
	ck_assert_ptr_null(access_login(B("u"), B("test12"), false));
	char *h1 = access_user_hash_b64(u);
	ck_assert_uint_eq(strlen(h1), 48);
	/* A fresh salt each time (a 2^-32 chance of a false failure). */
	ck_assert_int_eq(access_user_set_password("u", B("s3cret")), 0);
	char *h2 = access_user_hash_b64(u);
	ck_assert_str_ne(h1, h2);
	/* The exported text loads back. */
	ck_assert_int_eq(access_user_put("v", h2, ACCESS_SHA256, NULL, 0, err, sizeof err), 0);
	ck_assert_ptr_nonnull(access_login(B("v"), B("s3cret"), false));
	free(h1);
	free(h2);
}
END_TEST

START_TEST(test_hash_names)
{
	enum access_hash a = ACCESS_MD5;
	ck_assert_int_eq(access_hash_parse(NULL, &a), 0);
	ck_assert_int_eq(a, ACCESS_SHA256);
	a = ACCESS_MD5;
	ck_assert_int_eq(access_hash_parse("", &a), 0);
	ck_assert_int_eq(a, ACCESS_SHA256);
	ck_assert_int_eq(access_hash_parse("rabbit_password_hashing_sha512", &a), 0);
	ck_assert_int_eq(a, ACCESS_SHA512);
	ck_assert_int_eq(access_hash_parse("rabbit_password_hashing_md5", &a), 0);
	ck_assert_int_eq(a, ACCESS_MD5);
	ck_assert_int_eq(access_hash_parse("rabbit_password_hashing_sha256", &a), 0);
	ck_assert_int_eq(a, ACCESS_SHA256);
	ck_assert_int_eq(access_hash_parse("sha256", &a), -1);
	ck_assert_int_eq(access_hash_parse("rabbit_password_hashing_sha1", &a), -1);
	ck_assert_str_eq(access_hash_name(ACCESS_SHA256), "rabbit_password_hashing_sha256");
	ck_assert_str_eq(access_hash_name(ACCESS_SHA512), "rabbit_password_hashing_sha512");
	ck_assert_str_eq(access_hash_name(ACCESS_MD5), "rabbit_password_hashing_md5");
}
END_TEST

/* ---- users: tags, limits, updates, iteration ---- */

START_TEST(test_tags_and_update)
{
	const char *tags[] = {"administrator", "monitoring"};
	ck_assert_int_eq(access_user_put("u", vecs[0].b64, ACCESS_SHA256, tags, 2, err, sizeof err),
			 0);
	struct user *u = access_user_find("u");
	ck_assert_uint_eq(u->ntags, 2);
	ck_assert(access_user_has_tag(u, "administrator"));
	ck_assert(access_user_has_tag(u, "monitoring"));
	ck_assert(!access_user_has_tag(u, "admin"));
	ck_assert(!access_user_has_tag(u, "Administrator"));
	ck_assert(!access_user_has_tag(u, "administrators"));
	ck_assert_int_eq(u->max_connections, -1);
	ck_assert_int_eq(u->max_channels, -1);
	ck_assert_int_eq(access_user_limit_set("u", "max-channels", 7, err, sizeof err), 0);

	/* Updating keeps the struct (connections hold it) and its limits,
	 * and replaces hash and tags. */
	const char *tags2[] = {"management"};
	ck_assert_int_eq(access_user_put("u", vecs[2].b64, ACCESS_MD5, tags2, 1, err, sizeof err),
			 0);
	ck_assert_ptr_eq(access_user_find("u"), u);
	ck_assert_uint_eq(u->ntags, 1);
	ck_assert(access_user_has_tag(u, "management"));
	ck_assert(!access_user_has_tag(u, "administrator"));
	ck_assert_int_eq(u->max_channels, 7);
	ck_assert_int_eq(u->alg, ACCESS_MD5);
	ck_assert_ptr_eq(access_login(B("u"), B("test12"), false), u);
	ck_assert_int_eq(access_user_put("u", vecs[2].b64, ACCESS_MD5, NULL, 0, err, sizeof err),
			 0);
	ck_assert_uint_eq(u->ntags, 0);
	ck_assert(!access_user_has_tag(u, "management"));
}
END_TEST

START_TEST(test_user_iteration)
{
	const char *names[] = {"a", "b", "c", "d", "e"};
	for (int k = 0; k < 5; k++)
		ck_assert_int_eq(
			access_user_put(names[k], "", ACCESS_SHA256, NULL, 0, err, sizeof err), 0);
	ck_assert_int_eq(access_user_put("c", "", ACCESS_SHA256, NULL, 0, err, sizeof err), 0);
	int seen[5] = {0}, n = 0;
	size_t i = 0;
	for (struct user *u; (u = access_user_next(&i));) {
		n++;
		ck_assert_uint_eq(strlen(u->name), 1);
		seen[u->name[0] - 'a']++;
	}
	ck_assert_int_eq(n, 5);
	for (int k = 0; k < 5; k++)
		ck_assert_int_eq(seen[k], 1);
	ck_assert_int_eq(access_user_delete("c"), 0);
	ck_assert_int_eq(access_user_delete("c"), -1);
	ck_assert_ptr_null(access_user_find("c"));
	n = 0;
	for (i = 0; access_user_next(&i);)
		n++;
	ck_assert_int_eq(n, 4);
}
END_TEST

START_TEST(test_limits)
{
	ck_assert_int_eq(access_user_put("u", "", ACCESS_SHA256, NULL, 0, err, sizeof err), 0);
	struct user *u = access_user_find("u");
	uint64_t gen = access_gen;
	ck_assert_int_eq(access_user_limit_set("u", "max-connections", 10, err, sizeof err), 0);
	ck_assert_int_eq(u->max_connections, 10);
	ck_assert_int_eq(u->max_channels, -1);
	ck_assert_uint_gt(access_gen, gen);
	ck_assert_int_eq(access_user_limit_set("u", "max-channels", 0, err, sizeof err), 0);
	ck_assert_int_eq(u->max_channels, 0); /* 0 is a limit, not "none" */
	ck_assert_int_eq(access_user_limit_set("u", "max-connections", -5, err, sizeof err), 0);
	ck_assert_int_eq(u->max_connections, -1);
	ck_assert_int_eq(u->max_channels, 0);

	gen = access_gen;
	ck_assert_int_eq(access_user_limit_set("u", "max-queues", 3, err, sizeof err), -1);
	ck_assert_ptr_nonnull(strstr(err, "max-queues"));
	ck_assert_int_eq(access_user_limit_set("u", "max_connections", 3, err, sizeof err), -1);
	ck_assert_int_eq(u->max_connections, -1);
	ck_assert_int_eq(access_user_limit_set("nobody", "max-channels", 3, err, sizeof err), -1);
	ck_assert_str_eq(err, "no user 'nobody'");
	ck_assert_uint_eq(access_gen, gen);
}
END_TEST

/* ---- permission patterns ---- */

static const struct prow {
	const char *pattern, *name;
	bool expect;
} prows[] = {
	{".*", "anything", true},
	{".*", "", true}, /* the default exchange */
	{".*", "amq.gen-Xx", true},
	{"^$", "x", false},
	{"^$", "", false}, /* "" is "amq.default", which "^$" refuses */
	{"", "x", false},  /* "" is RabbitMQ's "^$" */
	{"", "", false},
	{"", "amq.default", false},
	{"^amq\\.gen", "amq.gen-abc", true},
	{"^amq\\.gen", "amqxgen-abc", false}, /* the dot is escaped */
	{"^amq\\.gen", "my.amq.gen-abc", false},
	{"amq\\.gen", "my.amq.gen-abc", true},
	{"foo", "xfoox", true}, /* unanchored, as re:run */
	{"foo", "fo", false},
	{"foo", "FOO", false},
	{"^foo$", "foo", true},
	{"^foo$", "foox", false},
	{"^amq\\.default$", "", true},
	{"^amq\\.default$", "amq.default", true},
	{"^amq\\.default$", "amq.defaults", false},
	{"^(orders|billing)\\.", "billing.eu", true},
	{"^(orders|billing)\\.", "shipping.eu", false},
	{"^[a-z]+$", "abc", true},
	{"^[a-z]+$", "ab1", false},
};
#define NPROWS (sizeof prows / sizeof prows[0])

START_TEST(test_perm_row)
{
	const struct prow *r = &prows[_i];
	ck_assert_int_eq(access_user_put("u", "", ACCESS_SHA256, NULL, 0, err, sizeof err), 0);
	ck_assert_msg(
		access_perm_set("u", "/", r->pattern, r->pattern, r->pattern, err, sizeof err) == 0,
		"%s: %s", r->pattern, err);
	const struct perm *p = access_perm_find("u", "/");
	ck_assert_ptr_nonnull(p);
	for (int k = PERM_CONFIGURE; k <= PERM_READ; k++)
		ck_assert_msg(access_allows(p, (enum access_perm)k, B(r->name)) == r->expect,
			      "pattern '%s', name '%s', kind %d: want %d", r->pattern, r->name, k,
			      r->expect);
}
END_TEST

START_TEST(test_perm_kinds)
{
	ck_assert_int_eq(access_user_put("u", "", ACCESS_SHA256, NULL, 0, err, sizeof err), 0);
	ck_assert_int_eq(access_perm_set("u", "/", "^c", "^w", "^r", err, sizeof err), 0);
	const struct perm *p = access_perm_find("u", "/");
	ck_assert_str_eq(p->user, "u");
	ck_assert_str_eq(p->vhost, "/");
	ck_assert_str_eq(p->pattern[PERM_CONFIGURE], "^c");
	ck_assert_str_eq(p->pattern[PERM_WRITE], "^w");
	ck_assert_str_eq(p->pattern[PERM_READ], "^r");
	ck_assert(access_allows(p, PERM_CONFIGURE, B("cq")));
	ck_assert(!access_allows(p, PERM_CONFIGURE, B("wq")));
	ck_assert(access_allows(p, PERM_WRITE, B("wq")));
	ck_assert(!access_allows(p, PERM_WRITE, B("rq")));
	ck_assert(access_allows(p, PERM_READ, B("rq")));
	ck_assert(!access_allows(p, PERM_READ, B("cq")));
	/* No permission, no access. */
	ck_assert(!access_allows(NULL, PERM_READ, B("rq")));
	ck_assert_ptr_null(access_perm_find("u", "other"));
	ck_assert_ptr_null(access_perm_find("v", "/"));
	/* The name is a view: its length counts, not a NUL. */
	ck_assert_int_eq(access_perm_set("u", "/", "^foo$", "^foo$", "^foo$", err, sizeof err), 0);
	p = access_perm_find("u", "/");
	ck_assert(access_allows(p, PERM_READ, (struct bytes){(const uint8_t *)"foobar", 3}));
	ck_assert(!access_allows(p, PERM_READ, (struct bytes){(const uint8_t *)"foobar", 4}));
	/* An empty pattern is kept as given. */
	ck_assert_int_eq(access_perm_set("u", "/", "", ".*", "", err, sizeof err), 0);
	ck_assert_str_eq(access_perm_find("u", "/")->pattern[PERM_CONFIGURE], "");
}
END_TEST

START_TEST(test_perm_bad_regex)
{
	ck_assert_int_eq(access_user_put("u", "", ACCESS_SHA256, NULL, 0, err, sizeof err), 0);
	ck_assert_int_eq(access_perm_set("u", "/", "^a", "^b", "^c", err, sizeof err), 0);
	const struct perm *p = access_perm_find("u", "/");
	uint64_t gen = access_gen;

	ck_assert_int_eq(access_perm_set("u", "/", "(ab", ".*", ".*", err, sizeof err), -1);
	ck_assert_str_eq(err, "configure: missing closing parenthesis at offset 3");
	ck_assert_int_eq(access_perm_set("u", "/", ".*", "[a", ".*", err, sizeof err), -1);
	ck_assert_str_eq(err, "write: missing terminating ] for character class at offset 2");
	ck_assert_int_eq(access_perm_set("u", "/", ".*", ".*", "*", err, sizeof err), -1);
	ck_assert_str_eq(err, "read: quantifier does not follow a repeatable item at offset 0");
	ck_assert_int_eq(access_perm_set("u", "new", ".*", ".*", "a)", err, sizeof err), -1);
	ck_assert_ptr_nonnull(strstr(err, "read: "));

	/* Nothing changed: same entry, same patterns, nothing added. */
	ck_assert_uint_eq(access_gen, gen);
	ck_assert_ptr_eq(access_perm_find("u", "/"), p);
	ck_assert_str_eq(p->pattern[PERM_CONFIGURE], "^a");
	ck_assert(access_allows(p, PERM_CONFIGURE, B("ax")));
	ck_assert(!access_allows(p, PERM_CONFIGURE, B("bx")));
	ck_assert_ptr_null(access_perm_find("u", "new"));
}
END_TEST

START_TEST(test_perm_set_clear)
{
	ck_assert_int_eq(access_perm_set("x", "/", ".*", ".*", ".*", err, sizeof err), -1);
	ck_assert_str_eq(err, "no user 'x'");
	ck_assert_ptr_null(access_perm_find("x", "/"));

	ck_assert_int_eq(access_user_put("u", "", ACCESS_SHA256, NULL, 0, err, sizeof err), 0);
	uint64_t gen = access_gen;
	ck_assert_int_eq(access_perm_set("u", "/", "^a", "^a", "^a", err, sizeof err), 0);
	ck_assert_uint_gt(access_gen, gen);
	/* Replacing: the new patterns apply, one entry remains. */
	ck_assert_int_eq(access_perm_set("u", "/", "^b", "^b", "^b", err, sizeof err), 0);
	const struct perm *p = access_perm_find("u", "/");
	ck_assert_str_eq(p->pattern[PERM_WRITE], "^b");
	ck_assert(access_allows(p, PERM_WRITE, B("bx")));
	ck_assert(!access_allows(p, PERM_WRITE, B("ax")));
	ck_assert_int_eq(access_perm_set("u", "v2", ".*", ".*", ".*", err, sizeof err), 0);
	/* (user, vhost) is the key: "u"+"v2" is not "uv"+"2" or "u"+"v". */
	ck_assert_int_eq(access_user_put("uv", "", ACCESS_SHA256, NULL, 0, err, sizeof err), 0);
	ck_assert_int_eq(access_perm_set("uv", "2", "^z", "^z", "^z", err, sizeof err), 0);
	ck_assert_str_eq(access_perm_find("u", "v2")->pattern[PERM_READ], ".*");
	ck_assert_str_eq(access_perm_find("uv", "2")->pattern[PERM_READ], "^z");
	ck_assert_ptr_null(access_perm_find("u", "v"));

	int n = 0;
	size_t i = 0;
	for (const struct perm *q; (q = access_perm_next(&i));)
		n++;
	ck_assert_int_eq(n, 3);

	gen = access_gen;
	ck_assert_int_eq(access_perm_clear("u", "/"), 0);
	ck_assert_uint_gt(access_gen, gen);
	gen = access_gen;
	ck_assert_int_eq(access_perm_clear("u", "/"), -1);
	ck_assert_int_eq(access_perm_clear("nobody", "/"), -1);
	ck_assert_uint_eq(access_gen, gen);
	ck_assert_ptr_null(access_perm_find("u", "/"));
	ck_assert_ptr_nonnull(access_perm_find("u", "v2"));
}
END_TEST

/* ---- topic permissions ---- */

static bool topic(const char *user, const char *vhost, const char *x, enum access_perm kind,
		  const char *key)
{
	return access_topic_allows(user, vhost, B(x), kind, B(key));
}

START_TEST(test_topic_expansion)
{
	ck_assert_int_eq(access_user_put("bob", "", ACCESS_SHA256, NULL, 0, err, sizeof err), 0);
	ck_assert_int_eq(access_user_put("alice", "", ACCESS_SHA256, NULL, 0, err, sizeof err), 0);
	ck_assert_int_eq(access_topic_set("bob", "prod", "amq.topic", "^{username}\\.",
					  "^{vhost}\\.{username}$", err, sizeof err),
			 0);
	ck_assert(topic("bob", "prod", "amq.topic", PERM_WRITE, "bob.x"));
	ck_assert(!topic("bob", "prod", "amq.topic", PERM_WRITE, "alice.x"));
	ck_assert(!topic("bob", "prod", "amq.topic", PERM_WRITE, "bobx"));
	ck_assert(!topic("bob", "prod", "amq.topic", PERM_WRITE, "{username}.x"));
	ck_assert(topic("bob", "prod", "amq.topic", PERM_READ, "prod.bob"));
	ck_assert(!topic("bob", "prod", "amq.topic", PERM_READ, "dev.bob"));
	ck_assert(!topic("bob", "prod", "amq.topic", PERM_READ, "bob.x")); /* read's, not write's */
	/* No topic permission for the exchange, the vhost or the user: allowed. */
	ck_assert(topic("bob", "prod", "other", PERM_WRITE, "alice.x"));
	ck_assert(topic("bob", "dev", "amq.topic", PERM_WRITE, "alice.x"));
	ck_assert(topic("alice", "prod", "amq.topic", PERM_WRITE, "alice.x"));
	/* The exchange is a view. */
	ck_assert(!access_topic_allows("bob", "prod",
				       (struct bytes){(const uint8_t *)"amq.topicZ", 9}, PERM_WRITE,
				       B("alice.x")));
	/* Stored as given, unexpanded. */
	size_t i = 0;
	const struct topic_perm *t = access_topic_next(&i);
	ck_assert_ptr_nonnull(t);
	ck_assert_str_eq(t->user, "bob");
	ck_assert_str_eq(t->vhost, "prod");
	ck_assert_str_eq(t->exchange, "amq.topic");
	ck_assert_str_eq(t->write, "^{username}\\.");
	ck_assert_str_eq(t->read, "^{vhost}\\.{username}$");
	ck_assert_ptr_null(access_topic_next(&i));

	/* Plain text substitution: a '.' in the name stays a wildcard, and
	 * every occurrence is replaced. */
	ck_assert_int_eq(access_user_put("a.b", "", ACCESS_SHA256, NULL, 0, err, sizeof err), 0);
	ck_assert_int_eq(access_topic_set("a.b", "/", "x", "^{username}$",
					  "^{username}-{username}-{vhost}$", err, sizeof err),
			 0);
	ck_assert(topic("a.b", "/", "x", PERM_WRITE, "a.b"));
	ck_assert(topic("a.b", "/", "x", PERM_WRITE, "axb"));
	ck_assert(!topic("a.b", "/", "x", PERM_WRITE, "ab"));
	ck_assert(topic("a.b", "/", "x", PERM_READ, "a.b-a.b-/"));
	ck_assert(!topic("a.b", "/", "x", PERM_READ, "a.b-a.b-"));
}
END_TEST

START_TEST(test_topic_empty_and_bad)
{
	ck_assert_int_eq(access_user_put("u", "", ACCESS_SHA256, NULL, 0, err, sizeof err), 0);
	/* Empty is "^$": only the empty routing key. */
	ck_assert_int_eq(access_topic_set("u", "/", "t", "", ".*", err, sizeof err), 0);
	ck_assert(topic("u", "/", "t", PERM_WRITE, ""));
	ck_assert(!topic("u", "/", "t", PERM_WRITE, "a"));
	ck_assert(topic("u", "/", "t", PERM_READ, "a"));
	ck_assert_int_eq(access_topic_set("u", "/", "t", "^$", "^$", err, sizeof err), 0);
	ck_assert(topic("u", "/", "t", PERM_READ, ""));
	ck_assert(!topic("u", "/", "t", PERM_READ, "a"));

	uint64_t gen = access_gen;
	ck_assert_int_eq(access_topic_set("u", "/", "t", ".*", "^({username}", err, sizeof err),
			 -1);
	ck_assert_str_eq(err, "read: missing closing parenthesis at offset 3");
	ck_assert_int_eq(access_topic_set("u", "/", "t", "[", ".*", err, sizeof err), -1);
	ck_assert_ptr_nonnull(strstr(err, "write: "));
	ck_assert_int_eq(access_topic_set("x", "/", "t", ".*", ".*", err, sizeof err), -1);
	ck_assert_str_eq(err, "no user 'x'");
	ck_assert_uint_eq(access_gen, gen);
	ck_assert(!topic("u", "/", "t", PERM_READ, "a")); /* still "^$" */
}
END_TEST

START_TEST(test_topic_clear)
{
	ck_assert_int_eq(access_user_put("u", "", ACCESS_SHA256, NULL, 0, err, sizeof err), 0);
	ck_assert_int_eq(access_perm_set("u", "/", ".*", ".*", ".*", err, sizeof err), 0);
	const char *xs[] = {"t1", "t2", "t3"};
	for (int k = 0; k < 3; k++)
		ck_assert_int_eq(access_topic_set("u", "/", xs[k], "^$", "^$", err, sizeof err), 0);
	ck_assert_int_eq(access_topic_set("u", "v2", "t1", "^$", "^$", err, sizeof err), 0);

	uint64_t gen = access_gen;
	ck_assert_int_eq(access_topic_clear("u", "/", "t1"), 0);
	ck_assert_uint_gt(access_gen, gen);
	ck_assert(topic("u", "/", "t1", PERM_WRITE, "a"));
	ck_assert(!topic("u", "/", "t2", PERM_WRITE, "a"));
	ck_assert_int_eq(access_topic_clear("u", "/", "t1"), -1);

	/* All of (u, /): the others and u's permissions stay. */
	ck_assert_int_eq(access_topic_clear("u", "/", NULL), 0);
	ck_assert(topic("u", "/", "t2", PERM_WRITE, "a"));
	ck_assert(topic("u", "/", "t3", PERM_WRITE, "a"));
	ck_assert(!topic("u", "v2", "t1", PERM_WRITE, "a"));
	ck_assert_ptr_nonnull(access_perm_find("u", "/"));
	gen = access_gen;
	ck_assert_int_eq(access_topic_clear("u", "/", NULL), -1);
	ck_assert_uint_eq(access_gen, gen);
}
END_TEST

/* ---- cascades ---- */

static int count_perms(void)
{
	int n = 0;
	for (size_t i = 0; access_perm_next(&i);)
		n++;
	return n;
}

static int count_topics(void)
{
	int n = 0;
	for (size_t i = 0; access_topic_next(&i);)
		n++;
	return n;
}

static void two_users_two_vhosts(void)
{
	const char *us[] = {"bob", "alice"}, *vs[] = {"v1", "v2"};
	for (int a = 0; a < 2; a++) {
		ck_assert_int_eq(
			access_user_put(us[a], "", ACCESS_SHA256, NULL, 0, err, sizeof err), 0);
		for (int b = 0; b < 2; b++) {
			ck_assert_int_eq(
				access_perm_set(us[a], vs[b], ".*", ".*", ".*", err, sizeof err),
				0);
			ck_assert_int_eq(access_topic_set(us[a], vs[b], "amq.topic", "^$", "^$",
							  err, sizeof err),
					 0);
		}
	}
	ck_assert_int_eq(count_perms(), 4);
	ck_assert_int_eq(count_topics(), 4);
}

START_TEST(test_user_delete_cascades)
{
	two_users_two_vhosts();
	uint64_t gen = access_gen;
	ck_assert_int_eq(access_user_delete("bob"), 0);
	ck_assert_uint_gt(access_gen, gen);
	ck_assert_ptr_null(access_user_find("bob"));
	ck_assert_ptr_null(access_perm_find("bob", "v1"));
	ck_assert_ptr_null(access_perm_find("bob", "v2"));
	ck_assert(topic("bob", "v1", "amq.topic", PERM_WRITE, "a"));
	ck_assert_ptr_nonnull(access_perm_find("alice", "v1"));
	ck_assert_ptr_nonnull(access_perm_find("alice", "v2"));
	ck_assert(!topic("alice", "v1", "amq.topic", PERM_WRITE, "a"));
	ck_assert_int_eq(count_perms(), 2);
	ck_assert_int_eq(count_topics(), 2);
	gen = access_gen;
	ck_assert_int_eq(access_user_delete("bob"), -1);
	ck_assert_uint_eq(access_gen, gen);
	/* A new bob starts with nothing. */
	ck_assert_int_eq(access_user_put("bob", "", ACCESS_SHA256, NULL, 0, err, sizeof err), 0);
	ck_assert_ptr_null(access_perm_find("bob", "v1"));
}
END_TEST

START_TEST(test_vhost_deleted_cascades)
{
	two_users_two_vhosts();
	uint64_t gen = access_gen;
	access_vhost_deleted("v1");
	ck_assert_uint_gt(access_gen, gen);
	ck_assert_ptr_null(access_perm_find("bob", "v1"));
	ck_assert_ptr_null(access_perm_find("alice", "v1"));
	ck_assert_ptr_nonnull(access_perm_find("bob", "v2"));
	ck_assert_ptr_nonnull(access_perm_find("alice", "v2"));
	ck_assert(topic("bob", "v1", "amq.topic", PERM_WRITE, "a"));
	ck_assert(!topic("bob", "v2", "amq.topic", PERM_WRITE, "a"));
	ck_assert_int_eq(count_perms(), 2);
	ck_assert_int_eq(count_topics(), 2);
	/* Users stay. */
	ck_assert_ptr_nonnull(access_user_find("bob"));
	ck_assert_ptr_nonnull(access_user_find("alice"));
}
END_TEST

/* Many entries through growth and deletion, then access_free with
 * everything still in place (the leak check is ASan's). */
START_TEST(test_many_then_free)
{
	char name[32], vh[32];
	for (int u = 0; u < 50; u++) {
		snprintf(name, sizeof name, "user%d", u);
		const char *tags[] = {"monitoring"};
		ck_assert_int_eq(access_user_put(name, vecs[u % 3].b64, vecs[u % 3].alg, tags, 1,
						 err, sizeof err),
				 0);
		for (int v = 0; v < 10; v++) {
			snprintf(vh, sizeof vh, "vh%d", v);
			ck_assert_int_eq(
				access_perm_set(name, vh, "^{username}", "", ".*", err, sizeof err),
				0);
			ck_assert_int_eq(access_topic_set(name, vh, "amq.topic", "^{username}\\.",
							  "{vhost}", err, sizeof err),
					 0);
		}
	}
	ck_assert_int_eq(count_perms(), 500);
	ck_assert_int_eq(count_topics(), 500);
	for (int u = 0; u < 50; u += 2) {
		snprintf(name, sizeof name, "user%d", u);
		ck_assert_int_eq(access_user_delete(name), 0);
	}
	access_vhost_deleted("vh3");
	ck_assert_int_eq(count_perms(), 25 * 9);
	ck_assert_int_eq(count_topics(), 25 * 9);
	ck_assert(topic("user1", "vh4", "amq.topic", PERM_WRITE, "user1.x"));
	ck_assert(!topic("user1", "vh4", "amq.topic", PERM_WRITE, "user3.x"));
	ck_assert(topic("user1", "vh4", "amq.topic", PERM_READ, "in-vh4-here"));
	ck_assert_ptr_nonnull(access_login(B("user7"), B("test12"), false));

	uint64_t gen = access_gen;
	access_free();
	ck_assert_uint_ne(access_gen, gen);
	ck_assert_ptr_null(access_user_find("user1"));
	ck_assert_int_eq(count_perms(), 0);
	ck_assert_int_eq(count_topics(), 0);
	/* Usable again after. */
	ck_assert_int_eq(access_user_put("u", "", ACCESS_SHA256, NULL, 0, err, sizeof err), 0);
	ck_assert_int_eq(access_perm_set("u", "/", ".*", ".*", ".*", err, sizeof err), 0);
	ck_assert(access_allows(access_perm_find("u", "/"), PERM_READ, B("q")));
}
END_TEST

static Suite *access_suite(void)
{
	Suite *s = suite_create("access");
	TCase *tc = tcase_create("users");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_hash_compute, 0, NVECS);
	tcase_add_loop_test(tc, test_hash_login, 0, NVECS);
	tcase_add_test(tc, test_guest_md5_export);
	tcase_add_test(tc, test_bad_hashes);
	tcase_add_test(tc, test_no_password);
	tcase_add_test(tc, test_loopback_only);
	tcase_add_loop_test(tc, test_user_made_outside_the_table, 0, NVECS);
	tcase_add_test(tc, test_set_password);
	tcase_add_test(tc, test_hash_names);
	tcase_add_test(tc, test_tags_and_update);
	tcase_add_test(tc, test_user_iteration);
	tcase_add_test(tc, test_limits);
	suite_add_tcase(s, tc);

	tc = tcase_create("permissions");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_perm_row, 0, NPROWS);
	tcase_add_test(tc, test_perm_kinds);
	tcase_add_test(tc, test_perm_bad_regex);
	tcase_add_test(tc, test_perm_set_clear);
	suite_add_tcase(s, tc);

	tc = tcase_create("topic");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_topic_expansion);
	tcase_add_test(tc, test_topic_empty_and_bad);
	tcase_add_test(tc, test_topic_clear);
	suite_add_tcase(s, tc);

	tc = tcase_create("cascades");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_user_delete_cascades);
	tcase_add_test(tc, test_vhost_deleted_cascades);
	tcase_add_test(tc, test_many_then_free);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(access_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
