/* check_store.c — unit tests for store/sqlite.c through store/store.h:
 * write → commit → close → reopen → recover with a recording visitor
 * (names, argument bytes, flags, entries in seq order, redelivered flags,
 * delivery counts, one message shared by two queues), the delete paths,
 * rollback of a whole turn after an injected failure, the schema version
 * (1, and a newer file refused) and the probe. */
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

static void open_store(void)
{
	char err[512] = "";
	if (store_open(dir, STORE_FULL, err, sizeof err) < 0)
		ck_abort_msg("store_open(%s): %s", dir, err);
}

static void remove_db(void)
{
	static const char *const files[] = {"tern.db", "tern.db-wal", "tern.db-shm"};
	char path[128];
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
		snprintf(path, sizeof path, "%s/%s", dir, files[i]);
		unlink(path);
	}
}

static void setup(void)
{
	snprintf(dir, sizeof dir, "/tmp/check-store-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	store_fail_after = 0;
	open_store();
}

static void teardown(void)
{
	store_fail_after = 0;
	store_close();
	remove_db();
	rmdir(dir);
}

static void reopen(void)
{
	store_close();
	open_store();
}

/* ---- a visitor that records everything as text lines ---- */

#define MAXREC 256

static char *rec[MAXREC];
static int nrec;

static void record(const char *fmt, ...)
{
	ck_assert_int_lt(nrec, MAXREC);
	va_list ap;
	va_start(ap, fmt);
	char *s = NULL;
	ck_assert_int_ge(vasprintf(&s, fmt, ap), 0);
	va_end(ap);
	rec[nrec++] = s;
}

static void clear_records(void)
{
	for (int i = 0; i < nrec; i++)
		free(rec[i]);
	nrec = 0;
}

/* Bytes as hex: short strings stay readable in a failure message. Long
 * values are summarized by length and a checksum. */
static const char *hex(struct bytes b)
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

static void v_exchange(void *ctx, const char *vhost, struct bytes name, const char *type,
		       int flags, struct bytes args)
{
	(void)ctx;
	record("X %s %s %s %d %s", vhost, hex(name), type, flags, hex(args));
}

/* The queue handle is "vhost name-hex qid", freed with the records. */
static char *handles[MAXREC];
static int nhandles;

static void *v_queue(void *ctx, int64_t qid, const char *vhost, struct bytes name, int flags,
		     struct bytes args)
{
	(void)ctx;
	record("Q %s %s %d %s", vhost, hex(name), flags, hex(args));
	char *h = NULL;
	ck_assert_int_ge(asprintf(&h, "%s %s %lld", vhost, hex(name), (long long)qid), 0);
	handles[nhandles++] = h;
	return h;
}

static void v_binding(void *ctx, const char *vhost, struct bytes source, bool to_queue,
		      struct bytes dest, struct bytes key, struct bytes args)
{
	(void)ctx;
	record("B %s %s %c %s %s %s", vhost, hex(source), to_queue ? 'q' : 'x', hex(dest), hex(key),
	       hex(args));
}

static uint64_t last_expires; /* the expires of the last entry visited */
static uint64_t index_after;  /* when > 0: v_entry asks for index only past this seq */

static bool v_entry(void *ctx, void *queue, const struct store_entry *e)
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

static void v_expect(void *ctx, void *queue, uint64_t n)
{
	(void)ctx;
	if (record_spans)
		record("S %s %llu", (const char *)queue, (unsigned long long)n);
}

static const struct store_visitor visitor = {.exchange = v_exchange, .queue = v_queue,
					     .binding = v_binding, .expect = v_expect,
					     .entry = v_entry};

static void recover(void)
{
	clear_records();
	for (int i = 0; i < nhandles; i++)
		free(handles[i]);
	nhandles = 0;
	ck_assert_int_eq(store_recover(&visitor, NULL), 0);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void dump(const char *what, char **v, int n)
{
	fprintf(stderr, "%s (%d):\n", what, n);
	for (int i = 0; i < n; i++)
		fprintf(stderr, "  %s\n", v[i]);
}

/* Asserts that the recorded lines of one kind ('X', 'Q', 'B', 'E') are
 * exactly want[0..n): as a set when sorted, else in this order. */
static void expect(char kind, const char *const want[], int n, bool sorted)
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

static int64_t raw_int(const char *q)
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

static void raw_exec(const char *q)
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
static void put_all(void)
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
static const char *entry_line(int k, int64_t qid, const char *hq, uint64_t seq, unsigned d,
			      int red, uint64_t m, const char *rest)
{
	snprintf(line[k], sizeof line[k], "E / %s %lld seq=%llu d=%u r=%d m=%llu %s", hq,
		 (long long)qid, (unsigned long long)seq, d, red, (unsigned long long)m, rest);
	return line[k];
}

#define REST_M1 H_EX1 " 7231 " H_PROPS " 6f6e65"
#define REST_M2 H_EX1 " 7232 " H_PROPS_CT " 74006f"
#define REST_M3 "  " H_PROPS " "
static char rest_m4[128];

static void expect_all(void)
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

/* ---- round trip ---- */

START_TEST(round_trip_exact)
{
	put_all();
	ck_assert_int_eq(store_commit(), 0);
	ck_assert(!store_dirty());
	reopen();
	recover();
	expect_all();
	/* Recovery is read-only: a second pass sees the same. */
	recover();
	expect_all();
}
END_TEST

START_TEST(redeclare_replaces_and_dedups)
{
	put_all();
	ck_assert_int_eq(store_commit(), 0);
	/* A queue put again under its name replaces the row (a new id: the
	 * store hands ids out before the write runs); a binding put twice is
	 * one row; an exchange put again takes the new type, flags and args. */
	ck_assert_int_gt(store_put_queue("/", B("q1"), STORE_F_DURABLE, B(ARGS_Q)), q2);
	ck_assert_int_eq(store_put_binding("/", B("ex1"), true, B("q2"), none, none), 0);
	ck_assert_int_eq(store_put_exchange("/", B("ex2"), "fanout", STORE_F_DURABLE, B("\x00")), 0);
	ck_assert_int_eq(store_commit(), 0);
	reopen();
	recover();
	EXPECT('X', true, "X / " H_EX1 " headers 5 " H_ARGS_X, "X / " H_EX2 " fanout 1 00");
	/* in id order: q1 comes back after q2 now */
	EXPECT('Q', false, "Q / " H_Q2 " 1 ", "Q / " H_Q1 " 1 " H_ARGS_Q);
	ck_assert_int_eq(nrec, 2 + 2 + 4 + 2); /* q1's three entries went with its old row */
}
END_TEST

START_TEST(vhosts_keep_names_apart)
{
	int64_t a = store_put_queue("/", B("q"), STORE_F_DURABLE, none);
	int64_t b = store_put_queue("other", B("q"), STORE_F_DURABLE, none);
	ck_assert_int_gt(a, 0);
	ck_assert_int_gt(b, 0);
	ck_assert_int_ne(a, b);
	ck_assert_int_eq(store_put_exchange("/", B("x"), "direct", STORE_F_DURABLE, none), 0);
	ck_assert_int_eq(store_put_exchange("other", B("x"), "fanout", STORE_F_DURABLE, none), 0);
	ck_assert_int_eq(store_commit(), 0);
	reopen();
	recover();
	EXPECT('X', true, "X / 78 direct 1 ", "X other 78 fanout 1 ");
	EXPECT('Q', false, "Q / 71 1 ", "Q other 71 1 ");
}
END_TEST

START_TEST(close_commits_pending_writes)
{
	put_all();
	store_close(); /* no store_commit: close commits the open turn */
	open_store();
	recover();
	expect_all();
}
END_TEST

START_TEST(message_ids_continue_after_reopen)
{
	put_all();
	ck_assert_int_eq(store_commit(), 0);
	reopen();
	ck_assert_uint_gt(store_next_message_id(), m4);
}
END_TEST

/* The redelivered flag of an entry that arrives after a restart must not
 * come from deliveries of older, already deleted entries. */
START_TEST(delivered_upto_does_not_cover_later_entries)
{
	int64_t q = store_put_queue("/", B("q"), STORE_F_DURABLE, none);
	uint64_t ids[4];
	for (uint64_t seq = 1; seq <= 3; seq++) {
		ids[seq] = store_next_message_id();
		ck_assert_int_eq(store_put_message(ids[seq], none, B("q"), B(PROPS),
						   (const uint8_t *)"x", 1), 0);
		ck_assert_int_eq(store_enqueue(q, seq, ids[seq], 0, 0), 0);
	}
	ck_assert_int_eq(store_commit(), 0);
	/* All three delivered and acked. */
	ck_assert_int_eq(store_set_delivered_upto(q, 3), 0);
	for (uint64_t seq = 1; seq <= 3; seq++) {
		ck_assert_int_eq(store_dequeue(q, seq), 0);
		ck_assert_int_eq(store_del_message(ids[seq]), 0);
	}
	ck_assert_int_eq(store_commit(), 0);
	/* Restart: the queue is empty, so the broker numbers from 1 again. */
	reopen();
	recover();
	EXPECT_NONE('E');
	uint64_t m = store_next_message_id();
	ck_assert_int_eq(store_put_message(m, none, B("q"), B(PROPS), (const uint8_t *)"new", 3), 0);
	ck_assert_int_eq(store_enqueue(q, 1, m, 0, 0), 0);
	ck_assert_int_eq(store_commit(), 0);
	/* Restart again before it was delivered: not redelivered. */
	reopen();
	recover();
	const char *want[] = {entry_line(0, q, "71", 1, 0, 0, m, " 71 " H_PROPS " 6e6577")};
	expect('E', want, 1, false);
}
END_TEST

/* ---- deletes ---- */

START_TEST(del_queue_removes_entries_bindings_and_own_messages)
{
	put_all();
	/* Bindings that only look like q1's: to an exchange named q1, and to
	 * a queue q1 of another vhost. */
	ck_assert_int_eq(store_put_exchange("/", B("q1"), "fanout", STORE_F_DURABLE, none), 0);
	ck_assert_int_eq(store_put_binding("/", B("ex1"), false, B("q1"), none, none), 0);
	int64_t oq1 = store_put_queue("other", B("q1"), STORE_F_DURABLE, none);
	ck_assert_int_gt(oq1, 0);
	ck_assert_int_eq(store_put_binding("other", B("ex1"), true, B("q1"), none, none), 0);
	ck_assert_int_eq(store_commit(), 0);

	ck_assert_int_eq(store_del_queue(q1), 0);
	ck_assert_int_eq(store_commit(), 0);
	reopen();
	recover();
	EXPECT('Q', false, "Q / " H_Q2 " 1 ", "Q other " H_Q1 " 1 ");
	EXPECT('B', true, "B / " H_EX1 " q " H_Q2 "  ", "B / " H_EX1 " x " H_EX2 " 612e23 ",
	       "B / " H_EX1 " x " H_Q1 "  ", "B other " H_EX1 " q " H_Q1 "  ");
	/* m1 stays for q2; m2 and m4 were q1's alone. */
	const char *want[] = {
		entry_line(0, q2, H_Q2, 1, 2, 0, m1, REST_M1),
		entry_line(1, q2, H_Q2, 2, 0, 0, m3, REST_M3),
	};
	expect('E', want, 2, false);
	store_close();
	ck_assert_int_eq(raw_int("SELECT count(*) FROM messages"), 2);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM entries"), 2);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM messages WHERE id IN (2, 4)"), 0);
	open_store();
}
END_TEST

START_TEST(del_both_queues_leaves_no_message)
{
	put_all();
	ck_assert_int_eq(store_commit(), 0);
	ck_assert_int_eq(store_del_queue(q2), 0);
	ck_assert_int_eq(store_del_queue(q1), 0);
	ck_assert_int_eq(store_commit(), 0);
	store_close();
	ck_assert_int_eq(raw_int("SELECT count(*) FROM messages"), 0);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM entries"), 0);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM queues"), 0);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM bindings WHERE to_queue = 1"), 0);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM bindings"), 1);
	open_store();
}
END_TEST

START_TEST(del_exchange_binding_entry_message)
{
	put_all();
	ck_assert_int_eq(store_commit(), 0);
	ck_assert_int_eq(store_del_exchange("/", B("ex2")), 0);
	/* Only the binding with exactly these args goes. */
	ck_assert_int_eq(store_del_binding("/", B("ex1"), true, B("q1"), B("k"), B(ARGS_ANY)), 0);
	ck_assert_int_eq(store_del_binding("/", B("ex1"), false, B("ex2"), B("a.#"), none), 0);
	/* Ack of m2 in q1 (its only entry) and of m1 in q2 (shared). */
	ck_assert_int_eq(store_dequeue(q1, 7), 0);
	ck_assert_int_eq(store_del_message(m2), 0);
	ck_assert_int_eq(store_dequeue(q2, 1), 0);
	ck_assert_int_eq(store_commit(), 0);
	reopen();
	recover();
	EXPECT('X', true, "X / " H_EX1 " headers 5 " H_ARGS_X);
	EXPECT('B', true, "B / " H_EX1 " q " H_Q1 " 6b " H_ARGS_ALL, "B / " H_EX1 " q " H_Q2 "  ");
	snprintf(rest_m4, sizeof rest_m4, "%s 612e62 %s %s", H_EX2, H_PROPS,
		 hex((struct bytes){big, sizeof big}));
	const char *want[] = {
		entry_line(0, q1, H_Q1, 3, 0, 1, m1, REST_M1),
		entry_line(1, q1, H_Q1, 10, 0, 0, m4, rest_m4),
		entry_line(2, q2, H_Q2, 2, 0, 0, m3, REST_M3),
	};
	expect('E', want, 3, false);
}
END_TEST

/* ---- failures roll back the whole turn ---- */

/* A committed baseline, then a turn that touches every kind of row. */
static void baseline_then_turn(void)
{
	put_all();
	ck_assert_int_eq(store_commit(), 0);
	ck_assert_int_eq(store_put_exchange("/", B("ex3"), "direct", STORE_F_DURABLE, none), 0);
	ck_assert_int_eq(store_del_exchange("/", B("ex2")), 0);
	ck_assert_int_gt(store_put_queue("/", B("q3"), STORE_F_DURABLE, none), 0);
	ck_assert_int_eq(store_del_binding("/", B("ex1"), true, B("q2"), none, none), 0);
	ck_assert_int_eq(store_put_binding("/", B("ex1"), true, B("q1"), B("new"), none), 0);
	uint64_t m = store_next_message_id();
	ck_assert_int_eq(store_put_message(m, none, none, B(PROPS), (const uint8_t *)"lost", 4), 0);
	ck_assert_int_eq(store_enqueue(q1, 11, m, 0, 0), 0);
	ck_assert_int_eq(store_dequeue(q1, 7), 0);
	ck_assert_int_eq(store_del_message(m2), 0);
	ck_assert_int_eq(store_set_deliveries(q2, 1, 9), 0);
	ck_assert_int_eq(store_set_delivered_upto(q1, 10), 0);
	ck_assert_int_eq(store_set_delivered_upto(q2, 2), 0);
	ck_assert(store_dirty());
}

static void expect_baseline_after_reopen(void)
{
	ck_assert(!store_dirty());
	reopen();
	recover();
	expect_all();
}

START_TEST(write_failure_rolls_back_turn)
{
	baseline_then_turn();
	store_fail_after = 1;
	ck_assert_int_eq(store_put_exchange("/", B("ex4"), "direct", STORE_F_DURABLE, none), -1);
	ck_assert_str_eq(store_error(), "injected failure");
	/* A failed turn takes no more writes. */
	ck_assert_int_eq(store_put_queue("/", B("q4"), STORE_F_DURABLE, none), 0);
	ck_assert_int_eq(store_enqueue(q2, 3, m1, 0, 0), -1);
	ck_assert_int_eq(store_commit(), -1);
	expect_baseline_after_reopen();
}
END_TEST

START_TEST(commit_failure_rolls_back_turn)
{
	baseline_then_turn();
	store_fail_after = 1;
	ck_assert_int_eq(store_commit(), -1);
	expect_baseline_after_reopen();
}
END_TEST

START_TEST(failure_counted_down_across_calls)
{
	put_all();
	ck_assert_int_eq(store_commit(), 0);
	store_fail_after = 3; /* two writes pass, the third fails */
	ck_assert_int_eq(store_put_exchange("/", B("ex3"), "direct", STORE_F_DURABLE, none), 0);
	ck_assert_int_eq(store_dequeue(q1, 3), 0);
	ck_assert_int_eq(store_dequeue(q1, 7), -1);
	ck_assert_int_eq(store_commit(), -1);
	expect_baseline_after_reopen();
}
END_TEST

/* The failing write is the turn's first: what follows in the same turn
 * must not be committed either. */
START_TEST(failure_of_first_write_fails_turn)
{
	put_all();
	ck_assert_int_eq(store_commit(), 0);
	store_fail_after = 1;
	uint64_t m = store_next_message_id();
	ck_assert_int_eq(store_put_message(m, none, none, B(PROPS), (const uint8_t *)"x", 1), -1);
	store_enqueue(q1, 11, m, 0, 0);
	store_put_exchange("/", B("ex3"), "direct", STORE_F_DURABLE, none);
	store_dequeue(q2, 2);
	ck_assert_int_eq(store_commit(), -1);
	expect_baseline_after_reopen();
}
END_TEST

START_TEST(next_turn_commits_after_failure)
{
	put_all();
	ck_assert_int_eq(store_commit(), 0);
	ck_assert_int_eq(store_dequeue(q1, 3), 0);
	store_fail_after = 1;
	ck_assert_int_eq(store_del_exchange("/", B("ex2")), -1);
	ck_assert_int_eq(store_commit(), -1);
	/* The next turn is a fresh transaction. */
	ck_assert_int_eq(store_put_exchange("/", B("ex3"), "direct", STORE_F_DURABLE, none), 0);
	ck_assert_int_eq(store_commit(), 0);
	reopen();
	recover();
	EXPECT('X', true, "X / " H_EX1 " headers 5 " H_ARGS_X, "X / " H_EX2 " topic 3 ",
	       "X / 657833 direct 1 ");
	ck_assert_int_eq(nrec, 3 + 2 + 4 + 5); /* the dequeue was rolled back */
}
END_TEST

START_TEST(probe_fails_then_recovers)
{
	ck_assert_int_eq(store_probe(), 0);
	ck_assert(!store_dirty());
	store_fail_after = 1;
	ck_assert_int_eq(store_probe(), -1);
	ck_assert(!store_dirty());
	store_fail_after = 2; /* the write passes, the commit fails */
	ck_assert_int_eq(store_probe(), -1);
	ck_assert(!store_dirty());
	ck_assert_int_eq(store_probe(), 0);
	/* And ordinary writes work again. */
	ck_assert_int_eq(store_put_exchange("/", B("ex3"), "direct", STORE_F_DURABLE, none), 0);
	ck_assert_int_eq(store_commit(), 0);
	reopen();
	recover();
	EXPECT('X', false, "X / 657833 direct 1 ");
}
END_TEST

/* A paged-out message read back must not leave a read transaction open:
 * while one is, SQLite cannot restart the WAL and every later commit makes
 * tern.db-wal longer (the chaos soak saw 1 GB in 30 s). */
static long wal_bytes(void)
{
	char path[128];
	snprintf(path, sizeof path, "%s/tern.db-wal", dir);
	FILE *f = fopen(path, "rb");
	if (!f)
		return 0;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fclose(f);
	return n;
}

static void read_len(void *ctx, struct bytes x, struct bytes rkey, struct bytes props,
		     struct bytes body)
{
	*(uint32_t *)ctx = body.len;
}

START_TEST(read_back_lets_the_wal_restart)
{
	char err[512] = "";
	store_close(); /* no fsync per commit: the WAL's length is the point */
	ck_assert_int_eq(store_open(dir, STORE_NORMAL, err, sizeof err), 0);
	int64_t q = store_put_queue("/", B("q"), STORE_F_DURABLE, none);
	static uint8_t body[8192];
	memset(body, 'b', sizeof body);
	ck_assert_int_eq(store_enqueue_inline(q, 1, 0, 0, none, B("q"), B(PROPS), body, sizeof body),
			 0);
	ck_assert_int_eq(store_commit(), 0);
	for (uint64_t seq = 2; seq < 3000; seq++) {
		uint32_t got = 0;
		ck_assert_int_eq(store_get_message(q, 1, 0, read_len, &got), 0);
		ck_assert_uint_eq(got, sizeof body);
		ck_assert_int_eq(store_enqueue_inline(q, seq, 0, 0, none, B("q"), B(PROPS), body,
						      sizeof body),
				 0);
		ck_assert_int_eq(store_commit(), 0);
		ck_assert_int_eq(store_dequeue(q, seq), 0);
		ck_assert_int_eq(store_commit(), 0);
	}
	/* 3000 turns of 8 KiB: about 70 MiB written through the WAL; it is
	 * checkpointed every 1000 pages and restarted, so a few MiB at most. */
	ck_assert_int_lt(wal_bytes(), 16L << 20);
}
END_TEST

/* ---- schema version ---- */

START_TEST(user_version_is_current_and_wal)
{
	put_all();
	ck_assert_int_eq(store_commit(), 0);
	store_close();
	ck_assert_int_eq(raw_int("PRAGMA user_version"), 5);
	char path[128];
	snprintf(path, sizeof path, "%s/tern.db", dir);
	sqlite3 *db;
	ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	sqlite3_stmt *s;
	ck_assert_int_eq(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &s, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(s), SQLITE_ROW);
	ck_assert_str_eq((const char *)sqlite3_column_text(s, 0), "wal");
	sqlite3_finalize(s);
	sqlite3_close(db);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM messages"), 4);
	open_store();
}
END_TEST

START_TEST(newer_user_version_refused)
{
	put_all();
	ck_assert_int_eq(store_commit(), 0);
	store_close();
	raw_exec("PRAGMA user_version = 6");
	char err[512] = "";
	ck_assert_int_eq(store_open(dir, STORE_FULL, err, sizeof err), -1);
	ck_assert_msg(strstr(err, "tern.db") != NULL, "error names the file: %s", err);
	ck_assert_msg(strstr(err, "schema version 6") != NULL, "error names version 6: %s", err);
	ck_assert_msg(strstr(err, "newer") != NULL, "error says newer: %s", err);
	/* Refused, not touched: still version 6 with its data. */
	ck_assert_int_eq(raw_int("PRAGMA user_version"), 6);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM messages"), 4);
	/* Put back, the file opens again (teardown closes it). */
	raw_exec("PRAGMA user_version = 5");
	open_store();
	recover();
	expect_all();
}
END_TEST

/* ---- control-plane objects ---- */

static char scanned[512];
static void scan_cb(void *ctx, const char *key, const char *value)
{
	(void)ctx;
	size_t n = strlen(scanned);
	snprintf(scanned + n, sizeof scanned - n, "%s=%s;", key, value);
}

START_TEST(objects_round_trip)
{
	ck_assert(store_blank()); /* a new file */
	ck_assert_int_eq(store_put_object("user", "bob", "{\"name\":\"bob\"}"), 0);
	ck_assert_int_eq(store_put_object("user", "alice", "{}"), 0);
	ck_assert_int_eq(store_put_object("vhost", "shop", "{\"name\":\"shop\"}"), 0);
	ck_assert_int_eq(store_put_object("user", "bob", "{\"v\":2}"), 0); /* replaces */
	ck_assert_int_eq(store_commit(), 0);
	store_close();
	open_store();
	ck_assert(!store_blank()); /* reopened: the node is no longer blank */
	scanned[0] = '\0';
	ck_assert_int_eq(store_scan_objects("user", scan_cb, NULL), 0);
	ck_assert_str_eq(scanned, "alice={};bob={\"v\":2};");
	ck_assert_int_eq(store_del_object("user", "alice"), 0);
	ck_assert_int_eq(store_commit(), 0);
	scanned[0] = '\0';
	ck_assert_int_eq(store_scan_objects("user", scan_cb, NULL), 0);
	ck_assert_str_eq(scanned, "bob={\"v\":2};");
	scanned[0] = '\0';
	ck_assert_int_eq(store_scan_objects("vhost", scan_cb, NULL), 0);
	ck_assert_str_eq(scanned, "shop={\"name\":\"shop\"};");
}
END_TEST

/* A version-1 file (no expires column) is migrated in place, data kept. */
START_TEST(v1_file_migrates_to_v3)
{
	put_all();
	ck_assert_int_eq(store_commit(), 0);
	store_close();
	raw_exec("DROP TABLE delayed");
	raw_exec("ALTER TABLE entries DROP COLUMN body");
	raw_exec("ALTER TABLE entries DROP COLUMN props");
	raw_exec("ALTER TABLE entries DROP COLUMN rkey");
	raw_exec("ALTER TABLE entries DROP COLUMN exchange");
	raw_exec("ALTER TABLE entries DROP COLUMN expires");
	raw_exec("DROP TABLE objects");
	raw_exec("PRAGMA user_version = 1");
	open_store();
	ck_assert(store_blank()); /* no control plane stored before v5 */
	ck_assert_int_eq(raw_int("PRAGMA user_version"), 5);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM delayed"), 0);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM entries WHERE expires = 0"),
			 raw_int("SELECT count(*) FROM entries"));
	recover();
	expect_all();
}
END_TEST

/* An entry's TTL deadline comes back from recovery as it was stored. */
START_TEST(expires_round_trip)
{
	int64_t q = store_put_queue("/", bytes_of("ttlq"), STORE_F_DURABLE, (struct bytes){0});
	ck_assert_int_gt(q, 0);
	uint64_t m = store_next_message_id();
	ck_assert_int_eq(store_put_message(m, bytes_of(""), bytes_of("ttlq"), bytes_of(""),
					   (const uint8_t *)"x", 1), 0);
	ck_assert_int_eq(store_enqueue(q, 1, m, 0, 1790000000123ull), 0);
	ck_assert_int_eq(store_commit(), 0);
	store_close();
	open_store();
	last_expires = 0;
	recover();
	ck_assert_uint_eq(last_expires, 1790000000123ull);
}
END_TEST

/* A visitor that declines messages gets the rest of that queue index
 * only (props and size, no body read), and the next queue with messages
 * again; expect() names each queue's seq span first. */
START_TEST(index_only_after_visitor_declines)
{
	put_all();
	ck_assert_int_eq(store_commit(), 0);
	reopen();
	index_after = 3;
	record_spans = true;
	recover();
	index_after = 0;
	record_spans = false;
	char s1[64], s2[64];
	snprintf(s1, sizeof s1, "S / " H_Q1 " %lld 8", (long long)q1);
	snprintf(s2, sizeof s2, "S / " H_Q2 " %lld 2", (long long)q2);
	const char *spans[] = {s1, s2};
	expect('S', spans, 2, false);
	/* Every S comes before the first E. */
	int last_s = -1, first_e = nrec;
	for (int i = 0; i < nrec; i++) {
		if (rec[i][0] == 'S')
			last_s = i;
		if (rec[i][0] == 'E' && i < first_e)
			first_e = i;
	}
	ck_assert_int_lt(last_s, first_e);
	const char *want[] = {
		entry_line(0, q1, H_Q1, 3, 0, 1, m1, REST_M1),
		entry_line(1, q1, H_Q1, 7, 4, 1, m2, "index " H_PROPS_CT " size=3"),
		entry_line(2, q1, H_Q1, 10, 0, 0, m4, "index " H_PROPS " size=300000"),
		entry_line(3, q2, H_Q2, 1, 2, 0, m1, REST_M1),
		entry_line(4, q2, H_Q2, 2, 0, 0, m3, REST_M3),
	};
	expect('E', want, 5, false);
}
END_TEST

START_TEST(open_missing_dir_fails_with_error)
{
	store_close();
	char err[512] = "";
	ck_assert_int_eq(store_open("/nonexistent/tern-check", STORE_NORMAL, err, sizeof err), -1);
	ck_assert_msg(strstr(err, "/nonexistent/tern-check/tern.db") != NULL, "error: %s", err);
	open_store();
}
END_TEST

static Suite *store_suite(void)
{
	Suite *s = suite_create("store");
	TCase *r = tcase_create("recover");
	tcase_add_checked_fixture(r, setup, teardown);
	tcase_set_timeout(r, 30);
	tcase_add_test(r, round_trip_exact);
	tcase_add_test(r, index_only_after_visitor_declines);
	tcase_add_test(r, redeclare_replaces_and_dedups);
	tcase_add_test(r, vhosts_keep_names_apart);
	tcase_add_test(r, close_commits_pending_writes);
	tcase_add_test(r, message_ids_continue_after_reopen);
	tcase_add_test(r, delivered_upto_does_not_cover_later_entries);
	tcase_add_test(r, read_back_lets_the_wal_restart);
	suite_add_tcase(s, r);

	TCase *d = tcase_create("delete");
	tcase_add_checked_fixture(d, setup, teardown);
	tcase_set_timeout(d, 30);
	tcase_add_test(d, del_queue_removes_entries_bindings_and_own_messages);
	tcase_add_test(d, del_both_queues_leaves_no_message);
	tcase_add_test(d, del_exchange_binding_entry_message);
	suite_add_tcase(s, d);

	TCase *f = tcase_create("rollback");
	tcase_add_checked_fixture(f, setup, teardown);
	tcase_set_timeout(f, 30);
	tcase_add_test(f, write_failure_rolls_back_turn);
	tcase_add_test(f, commit_failure_rolls_back_turn);
	tcase_add_test(f, failure_counted_down_across_calls);
	tcase_add_test(f, failure_of_first_write_fails_turn);
	tcase_add_test(f, next_turn_commits_after_failure);
	tcase_add_test(f, probe_fails_then_recovers);
	suite_add_tcase(s, f);

	TCase *v = tcase_create("schema");
	tcase_add_checked_fixture(v, setup, teardown);
	tcase_set_timeout(v, 30);
	tcase_add_test(v, user_version_is_current_and_wal);
	tcase_add_test(v, v1_file_migrates_to_v3);
	tcase_add_test(v, expires_round_trip);
	tcase_add_test(v, newer_user_version_refused);
	tcase_add_test(v, objects_round_trip);
	tcase_add_test(v, open_missing_dir_fails_with_error);
	suite_add_tcase(s, v);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(store_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
