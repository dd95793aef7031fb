/* check_pcache.c — store/sqlite_pcache.c, through the methods SQLite
 * calls: a truncate is left out only when no page can be past its limit
 * (the swap a b-tree balance makes through a far page number included),
 * and one passed on takes the pages past the limit away. */
#include <check.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>

#include "store/sqlite.h"

#define FAR_PAGE 262145u /* PENDING_BYTE's page + 1, where balance_nonroot swaps */

static sqlite3_pcache_methods2 m;
static sqlite3_pcache *c;

static void setup(void)
{
	ck_assert_int_eq(sqlite3_initialize(), SQLITE_OK);
	c = m.xCreate(4096, 64, 1);
	ck_assert_ptr_nonnull(c);
	m.xCachesize(c, 100);
}

static void teardown(void)
{
	m.xDestroy(c);
}

/* Pages 1..n, created and unpinned. */
static void pages(unsigned n)
{
	for (unsigned k = 1; k <= n; k++) {
		sqlite3_pcache_page *p = m.xFetch(c, k, 2);
		ck_assert_ptr_nonnull(p);
		m.xUnpin(c, p, 0);
	}
}

static bool cached(unsigned key)
{
	sqlite3_pcache_page *p = m.xFetch(c, key, 0);
	if (p)
		m.xUnpin(c, p, 0);
	return p != NULL;
}

/* Pages a and b trade keys through FAR_PAGE, as balance_nonroot does. */
static void swap(unsigned a, unsigned b)
{
	sqlite3_pcache_page *pa = m.xFetch(c, a, 0), *pb = m.xFetch(c, b, 0);
	ck_assert_ptr_nonnull(pa);
	ck_assert_ptr_nonnull(pb);
	m.xRekey(c, pa, a, FAR_PAGE);
	m.xRekey(c, pb, b, a);
	m.xRekey(c, pa, FAR_PAGE, b);
	m.xUnpin(c, pa, 0);
	m.xUnpin(c, pb, 0);
}

START_TEST(installed_in_place_of_the_default)
{
	/* main's GETPCACHE2 handed back ours: its truncate counts. */
	pages(3);
	unsigned long before = sql_pcache_passed;
	m.xTruncate(c, 2);
	ck_assert_uint_eq(sql_pcache_passed, before + 1);
}
END_TEST

START_TEST(truncate_past_every_page_left_out)
{
	pages(10);
	swap(3, 7);
	unsigned long before = sql_pcache_passed;
	m.xTruncate(c, 11); /* the commit's truncate to the file's size */
	ck_assert_uint_eq(sql_pcache_passed, before);
	for (unsigned k = 1; k <= 10; k++)
		ck_assert(cached(k));
	ck_assert(!cached(FAR_PAGE));
}
END_TEST

START_TEST(truncate_below_a_page_takes_it)
{
	pages(10);
	swap(2, 9);
	unsigned long before = sql_pcache_passed;
	m.xTruncate(c, 6);
	ck_assert_uint_eq(sql_pcache_passed, before + 1);
	for (unsigned k = 1; k <= 10; k++)
		ck_assert(cached(k) == (k < 6));
	/* Once cut, the same truncate again has nothing to take. */
	m.xTruncate(c, 6);
	ck_assert_uint_eq(sql_pcache_passed, before + 1);
}
END_TEST

START_TEST(page_parked_far_is_truncated)
{
	pages(5);
	sqlite3_pcache_page *p = m.xFetch(c, 2, 0);
	m.xRekey(c, p, 2, FAR_PAGE);
	m.xUnpin(c, p, 0);
	unsigned long before = sql_pcache_passed;
	m.xTruncate(c, 6);
	ck_assert_uint_eq(sql_pcache_passed, before + 1);
	ck_assert(!cached(FAR_PAGE));
	ck_assert(cached(5));
}
END_TEST

START_TEST(more_far_pages_than_it_tracks)
{
	pages(8);
	for (unsigned k = 1; k <= 6; k++) {
		sqlite3_pcache_page *p = m.xFetch(c, k, 0);
		m.xRekey(c, p, k, 1000 + k);
		m.xUnpin(c, p, 0);
	}
	m.xTruncate(c, 9);
	for (unsigned k = 1; k <= 6; k++)
		ck_assert(!cached(1000 + k));
	ck_assert(cached(7));
	ck_assert(cached(8));
}
END_TEST

static int count_rows(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *s;
	ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(s), SQLITE_ROW);
	int n = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	return n;
}

/* A real file in WAL mode, as the store keeps it: commits and rollbacks
 * that grow it, new index pages from the freelist (out of order, so
 * balances swap pages through FAR_PAGE); it stays whole and reads back
 * the same once reopened. */
START_TEST(database_through_it_stays_whole)
{
	char dir[] = "/tmp/check_pcache.XXXXXX", path[64];
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/t.db", dir);
	sqlite3 *db;
	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	char *err = NULL;
	const char *setup_sql =
		"PRAGMA journal_mode = WAL; PRAGMA cache_size = 200;"
		"CREATE TABLE t(q INTEGER, s INTEGER, v BLOB, PRIMARY KEY(q, s)) WITHOUT ROWID;"
		"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)"
		" INSERT INTO t SELECT i % 7, i, randomblob(40) FROM n;"
		"DELETE FROM t WHERE q IN (1, 3, 5);";
	ck_assert_msg(sqlite3_exec(db, setup_sql, NULL, NULL, &err) == SQLITE_OK, "%s", err);
	int kept = count_rows(db, "SELECT count(*) FROM t");
	/* One prepared insert: a CTE's temporary table would be a cache of
	 * its own, and its truncates would count too. */
	sqlite3_stmt *ins;
	ck_assert_int_eq(sqlite3_prepare_v2(db, "INSERT INTO t VALUES (9, ?, randomblob(60))", -1,
					    &ins, NULL),
			 SQLITE_OK);
	unsigned long before = sql_pcache_passed;
	for (int round = 0; round < 50; round++) {
		ck_assert_int_eq(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
		for (int i = 0; i < 300; i++) {
			sqlite3_bind_int(ins, 1, round * 1000 + i);
			ck_assert_int_eq(sqlite3_step(ins), SQLITE_DONE);
			sqlite3_reset(ins);
		}
		const char *end = round % 3 == 2 ? "ROLLBACK" : "COMMIT";
		ck_assert_int_eq(sqlite3_exec(db, end, NULL, NULL, NULL), SQLITE_OK);
	}
	sqlite3_finalize(ins);
	/* A rollback that grew the file cuts the cache back: passed on; the
	 * 34 commits' truncates are left out. */
	unsigned long passed = sql_pcache_passed - before;
	ck_assert_uint_ge(passed, 1);
	ck_assert_uint_lt(passed, 34);
	for (int open = 0; open < 2; open++) {
		ck_assert_int_eq(count_rows(db, "SELECT count(*) FROM t WHERE q = 9"), 34 * 300);
		ck_assert_int_eq(count_rows(db, "SELECT count(*) FROM t"), kept + 34 * 300);
		sqlite3_stmt *s;
		ck_assert_int_eq(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &s, NULL),
				 SQLITE_OK);
		ck_assert_int_eq(sqlite3_step(s), SQLITE_ROW);
		ck_assert_str_eq((const char *)sqlite3_column_text(s, 0), "ok");
		sqlite3_finalize(s);
		sqlite3_close(db);
		if (open == 0)
			ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	}
	char cmd[96];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

static Suite *pcache_suite(void)
{
	Suite *s = suite_create("pcache");
	TCase *t = tcase_create("truncate");
	tcase_add_checked_fixture(t, setup, teardown);
	tcase_add_test(t, installed_in_place_of_the_default);
	tcase_add_test(t, truncate_past_every_page_left_out);
	tcase_add_test(t, truncate_below_a_page_takes_it);
	tcase_add_test(t, page_parked_far_is_truncated);
	tcase_add_test(t, more_far_pages_than_it_tracks);
	tcase_add_test(t, database_through_it_stays_whole);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	sql_pcache_install(); /* before SQLite initializes */
	/* What SQLite calls: ours, if the install took (the first test sees). */
	if (sqlite3_config(SQLITE_CONFIG_GETPCACHE2, &m) != SQLITE_OK)
		return EXIT_FAILURE;
	SRunner *sr = srunner_create(pcache_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
