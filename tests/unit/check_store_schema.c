/* check_store_schema.c — the store's file (store/ through store/store.h):
 * the schema version (current, a version-1 file migrated in place, a newer
 * one refused untouched), WAL mode, TTL deadlines kept, the control
 * plane's objects and the blank-node flag, and an open that fails names
 * the file. Fixture: store_fixture.h. */
#include "tests/unit/store_fixture.h"

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

START_TEST(open_missing_dir_fails_with_error)
{
	store_close();
	char err[512] = "";
	ck_assert_int_eq(store_open("/nonexistent/tern-check", STORE_NORMAL, err, sizeof err), -1);
	ck_assert_msg(strstr(err, "/nonexistent/tern-check/tern.db") != NULL, "error: %s", err);
	open_store();
}
END_TEST

static Suite *store_schema_suite(void)
{
	Suite *s = suite_create("store-schema");
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
	SRunner *sr = srunner_create(store_schema_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
