/* store_fixture.h — shared by the store's unit tests (check_store.c,
 * check_store_rollback.c, check_store_schema.c), which drive store/ through
 * store/store.h: a fresh temporary data dir per test, a visitor that
 * records everything recovered as text lines (and expect() to compare
 * them), raw SQL on the file with the store closed, and the data set
 * (put_all) with what recovery must give back for it (expect_all).
 * Functions are static inline, as in queue_fixture.h. */
#ifndef TERN_TESTS_STORE_FIXTURE_H
#define TERN_TESTS_STORE_FIXTURE_H

#include <check.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store/store.h"

/* ---- fixture: a fresh temporary data dir per test ---- */

static char dir[64];

static inline void open_store(void)
{
	char err[512] = "";
	if (store_open(dir, STORE_FULL, err, sizeof err) < 0)
		ck_abort_msg("store_open(%s): %s", dir, err);
}

static inline void remove_db(void)
{
	static const char *const files[] = {"tern.db", "tern.db-wal", "tern.db-shm"};
	char path[128];
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
		snprintf(path, sizeof path, "%s/%s", dir, files[i]);
		unlink(path);
	}
}

static inline void setup(void)
{
	snprintf(dir, sizeof dir, "/tmp/check-store-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	store_fail_after = 0;
	open_store();
}

static inline void teardown(void)
{
	store_fail_after = 0;
	store_close();
	remove_db();
	rmdir(dir);
}

static inline void reopen(void)
{
	store_close();
	open_store();
}

/* ---- a visitor that records everything as text lines ---- */

#define MAXREC 256

static char *rec[MAXREC];
static int nrec;

static inline void record(const char *fmt, ...)
{
	ck_assert_int_lt(nrec, MAXREC);
	va_list ap;
	va_start(ap, fmt);
	char *s = NULL;
	ck_assert_int_ge(vasprintf(&s, fmt, ap), 0);
	va_end(ap);
	rec[nrec++] = s;
}

static inline void clear_records(void)
{
	for (int i = 0; i < nrec; i++)
		free(rec[i]);
	nrec = 0;
}

/* Bytes as hex: short strings stay readable in a failure message. Long
 * values are summarized by length and a checksum. */
static inline const char *hex(struct bytes b)
{
	static char bufs[8][520];
	static int k;
	char *out = bufs[k++ & 7];
	if (b.len > 200) {
		uint32_t h = 2166136261u;
		for (uint32_t i = 0; i < b.len; i++)
			h = (h ^ b.p[i]) * 16777619u;
		snprintf(out, 520, "len%u:%08x", b.len, h);
		return out;
	}
	for (uint32_t i = 0; i < b.len; i++)
		snprintf(out + 2 * i, 3, "%02x", b.p[i]);
	out[2 * b.len] = '\0';
	return out;
}

static inline void v_exchange(void *ctx, const char *vhost, struct bytes name,
			      const char *type, int flags, struct bytes args)
{
	(void)ctx;
	record("X %s %s %s %d %s", vhost, hex(name), type, flags, hex(args));
}

/* The queue handle is "vhost name-hex qid", freed with the records. */
static char *handles[MAXREC];
static int nhandles;

static inline void *v_queue(void *ctx, int64_t qid, const char *vhost, struct bytes name,
			    int flags, struct bytes args)
{
	(void)ctx;
	record("Q %s %s %d %s", vhost, hex(name), flags, hex(args));
	char *h = NULL;
	ck_assert_int_ge(asprintf(&h, "%s %s %lld", vhost, hex(name), (long long)qid), 0);
	handles[nhandles++] = h;
	return h;
}

static inline void v_binding(void *ctx, const char *vhost, struct bytes source,
			     bool to_queue, struct bytes dest, struct bytes key, struct bytes args)
{
	(void)ctx;
	record("B %s %s %c %s %s %s", vhost, hex(source), to_queue ? 'q' : 'x', hex(dest), hex(key),
	       hex(args));
}

static uint64_t last_expires; /* the expires of the last entry visited */
static uint64_t index_after;  /* when > 0: v_entry asks for index only past this seq */

static inline bool v_entry(void *ctx, void *queue, const struct store_entry *e)
{
	(void)ctx;
	last_expires = e->expires;
	if (e->has_message)
		record("E %s seq=%llu d=%u r=%d m=%llu %s %s %s %s", (const char *)queue,
		       (unsigned long long)e->seq, e->deliveries, e->redelivered,
		       (unsigned long long)e->msg_id, hex(e->exchange), hex(e->rkey), hex(e->props),
		       hex(e->body));
	else
		record("E %s seq=%llu d=%u r=%d m=%llu index %s size=%u", (const char *)queue,
		       (unsigned long long)e->seq, e->deliveries, e->redelivered,
		       (unsigned long long)e->msg_id, hex(e->props), e->body_size);
	ck_assert_uint_eq(e->body_size, e->has_message ? e->body.len : e->body_size);
	return !index_after || e->seq < index_after;
}

static bool record_spans; /* v_expect records "S" lines */

static inline void v_expect(void *ctx, void *queue, uint64_t n)
{
	(void)ctx;
	if (record_spans)
		record("S %s %llu", (const char *)queue, (unsigned long long)n);
}

static const struct store_visitor visitor = {.exchange = v_exchange, .queue = v_queue,
					     .binding = v_binding, .expect = v_expect,
					     .entry = v_entry};

static inline void recover(void)
{
	clear_records();
	for (int i = 0; i < nhandles; i++)
		free(handles[i]);
	nhandles = 0;
	ck_assert_int_eq(store_recover(&visitor, NULL), 0);
}

static inline int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static inline void dump(const char *what, char **v, int n)
{
	fprintf(stderr, "%s (%d):\n", what, n);
	for (int i = 0; i < n; i++)
		fprintf(stderr, "  %s\n", v[i]);
}

/* Asserts that the recorded lines of one kind ('X', 'Q', 'B', 'E') are
 * exactly want[0..n): as a set when sorted, else in this order. */
static inline void expect(char kind, const char *const want[], int n, bool sorted)
{
	char *got[MAXREC], *exp[MAXREC];
	int ngot = 0;
	for (int i = 0; i < nrec; i++)
		if (rec[i][0] == kind)
			got[ngot++] = rec[i];
	for (int i = 0; i < n; i++)
		exp[i] = (char *)want[i];
	if (sorted) {
		qsort(got, (size_t)ngot, sizeof *got, cmp_str);
		qsort(exp, (size_t)n, sizeof *exp, cmp_str);
	}
	bool same = ngot == n;
	for (int i = 0; same && i < n; i++)
		same = strcmp(got[i], exp[i]) == 0;
	if (!same) {
		dump("recovered", got, ngot);
		dump("expected", exp, n);
		ck_abort_msg("recovered '%c' records differ from the expected ones (see stderr)",
			     kind);
	}
}

#define EXPECT(kind, sorted, ...)                                                      \
	do {                                                                           \
		static const char *const want_[] = {__VA_ARGS__};                      \
		expect(kind, want_, (int)(sizeof want_ / sizeof want_[0]), sorted);    \
	} while (0)
#define EXPECT_NONE(kind) expect(kind, NULL, 0, false)

/* ---- raw SQL on the file, with the store closed ---- */

static inline int64_t raw_int(const char *q)
{
	char path[128];
	snprintf(path, sizeof path, "%s/tern.db", dir);
	sqlite3 *db;
	ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(db, q, -1, &s, NULL) != SQLITE_OK)
		ck_abort_msg("%s: %s", q, sqlite3_errmsg(db));
	int64_t v = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : -1;
	sqlite3_finalize(s);
	sqlite3_close(db);
	return v;
}

static inline void raw_exec(const char *q)
{
	char path[128];
	snprintf(path, sizeof path, "%s/tern.db", dir);
	sqlite3 *db;
	ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	char *msg = NULL;
	if (sqlite3_exec(db, q, NULL, NULL, &msg) != SQLITE_OK)
		ck_abort_msg("%s: %s", q, msg);
	sqlite3_close(db);
}

/* ---- the data set ---- */

#define B(s) ((struct bytes){(const uint8_t *)(s), (uint32_t)(sizeof(s) - 1)})
static const struct bytes none = {(const uint8_t *)"", 0};

/* Field tables in wire form, with NUL octets inside. */
#define ARGS_X "\x12" "alternate-exchange" "S\x00\x00\x00\x03" "alt"
#define ARGS_Q "\x0bx-max-length" "l\x00\x00\x00\x00\x00\x00\x00\x0a"
#define ARGS_ALL "\x07x-match" "S\x00\x00\x00\x03" "all" "\x01" "a" "S\x00\x00\x00\x01" "1"
#define ARGS_ANY "\x07x-match" "S\x00\x00\x00\x03" "any" "\x01" "a" "S\x00\x00\x00\x01" "1"
#define PROPS "\x10\x00\x02"     /* delivery_mode 2 */
#define PROPS_CT "\x90\x00\x04text\x02" /* content_type "text", delivery_mode 2 */

static uint8_t big[300000];

static int64_t q1, q2;
static uint64_t m1, m2, m3, m4;

/* Hex of the names and tables above, as the recorder prints them. */
#define H_EX1 "657831"            /* ex1 */
#define H_EX2 "657832"            /* ex2 */
#define H_Q1 "7131"               /* q1 */
#define H_Q2 "7132"               /* q2 */
#define H_ARGS_X "12616c7465726e6174652d65786368616e67655300000003616c74"
#define H_ARGS_Q "0b782d6d61782d6c656e6774686c000000000000000a"
#define H_ARGS_ALL "07782d6d617463685300000003616c6c01615300000001" "31"
#define H_ARGS_ANY "07782d6d617463685300000003616e7901615300000001" "31"
#define H_PROPS "100002"
#define H_PROPS_CT "900004746578740" "2"

/* Two exchanges, two queues, four bindings (two differing only in args),
 * four messages: m1 in both queues, m3 with empty body and key, m4 big. */
static inline void put_all(void)
{
	for (size_t i = 0; i < sizeof big; i++)
		big[i] = (uint8_t)(i * 7 + 3);
	ck_assert_int_eq(store_put_exchange("/", B("ex1"), "headers",
					    STORE_F_DURABLE | STORE_F_INTERNAL, B(ARGS_X)), 0);
	ck_assert_int_eq(store_put_exchange("/", B("ex2"), "topic",
					    STORE_F_DURABLE | STORE_F_AUTO_DELETE, none), 0);
	q1 = store_put_queue("/", B("q1"), STORE_F_DURABLE, B(ARGS_Q));
	q2 = store_put_queue("/", B("q2"), STORE_F_DURABLE, none);
	ck_assert_int_gt(q1, 0);
	ck_assert_int_gt(q2, 0);
	ck_assert_int_ne(q1, q2);
	ck_assert_int_eq(store_put_binding("/", B("ex1"), true, B("q1"), B("k"), B(ARGS_ALL)), 0);
	ck_assert_int_eq(store_put_binding("/", B("ex1"), true, B("q1"), B("k"), B(ARGS_ANY)), 0);
	ck_assert_int_eq(store_put_binding("/", B("ex1"), true, B("q2"), none, none), 0);
	ck_assert_int_eq(store_put_binding("/", B("ex1"), false, B("ex2"), B("a.#"), none), 0);

	m1 = store_next_message_id();
	m2 = store_next_message_id();
	m3 = store_next_message_id();
	m4 = store_next_message_id();
	ck_assert_uint_gt(m1, 0);
	ck_assert(m1 < m2 && m2 < m3 && m3 < m4);
	ck_assert_int_eq(store_put_message(m1, B("ex1"), B("r1"), B(PROPS), (const uint8_t *)"one",
					   3), 0);
	ck_assert_int_eq(store_put_message(m2, B("ex1"), B("r2"), B(PROPS_CT),
					   (const uint8_t *)"t\0o", 3), 0);
	ck_assert_int_eq(store_put_message(m3, none, none, B(PROPS), NULL, 0), 0);
	ck_assert_int_eq(store_put_message(m4, B("ex2"), B("a.b"), B(PROPS), big, sizeof big), 0);

	/* Entries out of seq order: recovery sorts them. */
	ck_assert_int_eq(store_enqueue(q1, 7, m2, 0, 0), 0);
	ck_assert_int_eq(store_enqueue(q1, 3, m1, 0, 0), 0);
	ck_assert_int_eq(store_enqueue(q1, 10, m4, 0, 0), 0);
	ck_assert_int_eq(store_enqueue(q2, 2, m3, 0, 0), 0);
	ck_assert_int_eq(store_enqueue(q2, 1, m1, 2, 0), 0);
	ck_assert_int_eq(store_set_deliveries(q1, 7, 4), 0);
	ck_assert_int_eq(store_set_delivered_upto(q1, 7), 0);
	ck_assert_int_eq(store_set_delivered_upto(q1, 5), 0); /* never moves back */
	ck_assert(store_dirty());
}

static char line[8][1024];

/* "E ..." line of an entry of q1 / q2 as the recorder prints it. */
static inline const char *entry_line(int k, int64_t qid, const char *hq, uint64_t seq,
				     unsigned d, int red, uint64_t m, const char *rest)
{
	snprintf(line[k], sizeof line[k], "E / %s %lld seq=%llu d=%u r=%d m=%llu %s", hq,
		 (long long)qid, (unsigned long long)seq, d, red, (unsigned long long)m, rest);
	return line[k];
}

#define REST_M1 H_EX1 " 7231 " H_PROPS " 6f6e65"
#define REST_M2 H_EX1 " 7232 " H_PROPS_CT " 74006f"
#define REST_M3 "  " H_PROPS " "
static char rest_m4[128];

static inline void expect_all(void)
{
	EXPECT('X', true, "X / " H_EX1 " headers 5 " H_ARGS_X, "X / " H_EX2 " topic 3 ");
	/* Queues come in id order: q1 was declared first. */
	EXPECT('Q', false, "Q / " H_Q1 " 1 " H_ARGS_Q, "Q / " H_Q2 " 1 ");
	EXPECT('B', true, "B / " H_EX1 " q " H_Q1 " 6b " H_ARGS_ALL,
	       "B / " H_EX1 " q " H_Q1 " 6b " H_ARGS_ANY, "B / " H_EX1 " q " H_Q2 "  ",
	       "B / " H_EX1 " x " H_EX2 " 612e23 ");
	snprintf(rest_m4, sizeof rest_m4, "%s 612e62 %s %s", H_EX2, H_PROPS,
		 hex((struct bytes){big, sizeof big}));
	const char *want[] = {
		entry_line(0, q1, H_Q1, 3, 0, 1, m1, REST_M1),
		entry_line(1, q1, H_Q1, 7, 4, 1, m2, REST_M2),
		entry_line(2, q1, H_Q1, 10, 0, 0, m4, rest_m4),
		entry_line(3, q2, H_Q2, 1, 2, 0, m1, REST_M1),
		entry_line(4, q2, H_Q2, 2, 0, 0, m3, REST_M3),
	};
	expect('E', want, 5, false);
}

#endif
