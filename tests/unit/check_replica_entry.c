/* check_replica_entry.c — unit tests for store/replica_entry.c: a batch
 * of recorded writes becomes a log entry and back with every field and
 * string (texts NUL-terminated again, empty strings kept), cancelled ops
 * are left out, the entry is padded to 8 bytes with zeros, and an entry of
 * another version, a truncated one or one with junk in its padding is
 * refused with a reason instead of being misapplied. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "store/batch.h"
#include "store/replica.h"

static struct batch b;

static void add(uint8_t kind, int64_t qid, uint64_t seq, const char *s0, const char *s1,
		bool cancelled)
{
	b.ops = realloc(b.ops, (b.nops + 1) * sizeof *b.ops);
	struct op *o = &b.ops[b.nops++];
	memset(o, 0, sizeof *o);
	o->kind = kind;
	o->qid = qid;
	o->seq = seq;
	o->id = seq * 7;
	o->n = 3;
	o->expires = 1700000000000ull;
	o->flags = 5;
	o->cancelled = cancelled;
	const char *s[2] = {s0, s1};
	for (int i = 0; i < 2; i++) {
		size_t n = strlen(s[i]);
		b.data = realloc(b.data, b.used + n + 1);
		memcpy(b.data + b.used, s[i], n + 1);
		o->off[i] = b.used;
		o->len[i] = n;
		b.used += n + 1;
	}
	if (!cancelled)
		b.live++;
}

static void setup(void)
{
	memset(&b, 0, sizeof b);
	b.no = 42;
	add(OP_PUT_X, 0, 0, "/", "ex", false);
	add(OP_ENQ_INLINE, 9, 100, "", "a body!", false);
	add(OP_DEQ, 9, 99, "", "", true); /* cancelled: not in the entry */
	add(OP_PUT_O, 0, 0, "user", "guest", false);
}

static void teardown(void)
{
	free(b.ops);
	free(b.data);
}

static uint8_t *encode(size_t *n)
{
	*n = entry_size(&b);
	uint8_t *buf = malloc(*n);
	entry_write(&b, 3, 0x1122334455667788ull, buf);
	return buf;
}

START_TEST(round_trip)
{
	size_t n;
	uint8_t *buf = encode(&n);
	ck_assert_uint_eq(n % 8, 0);
	struct entry_header h;
	struct batch out;
	char err[128];
	ck_assert_int_eq(entry_read(buf, n, &h, &out, err, sizeof err), 0);
	ck_assert_uint_eq(h.version, ENTRY_VERSION);
	ck_assert_uint_eq(h.node, 3);
	ck_assert_uint_eq(h.nonce, 0x1122334455667788ull);
	ck_assert_uint_eq(h.batch, 42);
	ck_assert_uint_eq(out.nops, 3);
	ck_assert_uint_eq(out.live, 3);
	const uint8_t kinds[] = {OP_PUT_X, OP_ENQ_INLINE, OP_PUT_O};
	const char *strs[][2] = {{"/", "ex"}, {"", "a body!"}, {"user", "guest"}};
	for (int i = 0; i < 3; i++) {
		const struct op *o = &out.ops[i];
		ck_assert_uint_eq(o->kind, kinds[i]);
		ck_assert_int_eq(o->flags, 5);
		ck_assert_uint_eq(o->expires, 1700000000000ull);
		ck_assert_uint_eq(o->n, 3);
		ck_assert(!o->cancelled);
		for (int k = 0; k < 2; k++) {
			ck_assert_uint_eq(o->len[k], strlen(strs[i][k]));
			ck_assert_str_eq((const char *)out.data + o->off[k], strs[i][k]);
		}
	}
	ck_assert_int_eq(out.ops[1].qid, 9);
	ck_assert_uint_eq(out.ops[1].seq, 100);
	ck_assert_uint_eq(out.ops[1].id, 700);
	entry_free(&out);
	free(buf);
}
END_TEST

START_TEST(bad_entries_refused)
{
	size_t n;
	uint8_t *buf = encode(&n);
	struct entry_header h;
	struct batch out;
	char err[128];
	buf[0] = ENTRY_VERSION + 1;
	ck_assert_int_eq(entry_read(buf, n, &h, &out, err, sizeof err), -1);
	ck_assert_ptr_nonnull(strstr(err, "version"));
	buf[0] = ENTRY_VERSION;
	for (size_t cut = 1; cut < n - 8; cut += 7)
		ck_assert_int_eq(entry_read(buf, n - 8 - cut, &h, &out, err, sizeof err), -1);
	/* 23 bytes of header, 69 per op, 19 of strings: 249, padded to 256 */
	ck_assert_uint_eq(n, 256);
	ck_assert_int_eq(entry_read(buf, n, &h, &out, err, sizeof err), 0);
	entry_free(&out);
	buf[n - 1] = 1; /* padding must be zeros, or the length is not the entry's */
	ck_assert_int_eq(entry_read(buf, n, &h, &out, err, sizeof err), -1);
	free(buf);
}
END_TEST

static Suite *entry_suite(void)
{
	Suite *s = suite_create("replica_entry");
	TCase *t = tcase_create("entry");
	tcase_add_checked_fixture(t, setup, teardown);
	tcase_add_test(t, round_trip);
	tcase_add_test(t, bad_entries_refused);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(entry_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
