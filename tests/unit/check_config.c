/* check_config.c — unit tests for broker/core/config.c: sizes in
 * RabbitMQ's information units (rabbit_resource_monitor_misc's list: the
 * k/M/G and *iB spellings are powers of 2, kB/MB/GB powers of 10, nothing
 * else), decimal ratios, "none" for limits that may be unset, and the
 * SIGHUP reload: from the defaults up, whole or nothing. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker/core/config.h"
#include "broker/core/log.h"

static const struct {
	const char *text;
	int64_t bytes;
} good[] = {
	{"0", 0},
	{"50000000", 50000000},
	{"1k", 1024},
	{"1K", 1024},
	{"1kiB", 1024},
	{"1KiB", 1024},
	{"1kib", 1024},
	{"1KIB", 1024},
	{"2m", 2 << 20},
	{"2M", 2 << 20},
	{"1024MiB", 1024ll << 20},
	{"2mib", 2 << 20},
	{"2MIB", 2 << 20},
	{"3g", 3ll << 30},
	{"3G", 3ll << 30},
	{"3GiB", 3ll << 30},
	{"3gib", 3ll << 30},
	{"3GIB", 3ll << 30},
	{"1kB", 1000},
	{"1KB", 1000},
	{"1kb", 1000},
	{"1Kb", 1000},
	{"96MB", 96000000},
	{"96mb", 96000000},
	{"96Mb", 96000000},
	{"2GB", 2000000000},
	{"2gb", 2000000000},
	{"2Gb", 2000000000},
	{"256m", 256ll << 20}, /* memory_budget's default */
};

/* Spellings RabbitMQ's pattern refuses, and what is not a size at all. */
static const char *const bad[] = {
	"",      "MB",    "-1",   "+5",   "1.5GB", "1 GB", " 1", "1MB ", "1mB", "1gB", "1Kib",
	"1KIb",  "1TB",   "1T",   "1B",   "1b",    "1kk",  "0x10", "1e3", "none",
	"99999999999999999999", "9999999999G",
};

START_TEST(size_units)
{
	int64_t n = -7;
	ck_assert_msg(config_parse_size(good[_i].text, &n) == 0, "'%s' refused", good[_i].text);
	ck_assert_msg(n == good[_i].bytes, "'%s' is %lld, not %lld", good[_i].text, (long long)n,
		      (long long)good[_i].bytes);
}
END_TEST

START_TEST(size_refused)
{
	int64_t n = -7;
	ck_assert_msg(config_parse_size(bad[_i], &n) == -1, "'%s' taken as %lld", bad[_i],
		      (long long)n);
	ck_assert_int_eq(n, -7);
}
END_TEST

static void setup(void)
{
	log_level = LOG_ERROR;
	config_defaults();
}

static int set(const char *name, const char *value, char *err)
{
	return config_set(name, value, err, 256);
}

START_TEST(options_take_rabbitmq_units)
{
	char err[256];
	ck_assert_int_eq(set("vm_memory_high_watermark.absolute", "96MB", err), 0);
	ck_assert_int_eq(cfg.mem_absolute, 96000000);
	ck_assert_int_eq(set("disk_free_limit.absolute", "1GiB", err), 0);
	ck_assert_int_eq(cfg.disk_absolute, 1ll << 30);
	ck_assert_int_eq(set("memory_budget", "64MB", err), 0);
	ck_assert_int_eq(cfg.memory_budget, 64000000);
	ck_assert_int_eq(set("max_message_size", "1MiB", err), 0);
	ck_assert_int_eq(cfg.max_message_size, 1 << 20);
	ck_assert_int_eq(set("total_memory_available_override_value", "4GB", err), 0);
	ck_assert_int_eq(cfg.total_memory, 4000000000);
	ck_assert_int_eq(set("vm_memory_high_watermark.absolute", "12XB", err), -1);
	ck_assert_str_eq(err, "vm_memory_high_watermark.absolute: '12XB' is not a size (like "
			      "16777216, 16MiB, 96MB or 2GB)");
	ck_assert_int_eq(cfg.mem_absolute, 96000000); /* unchanged */
	/* a limit that may be unset takes none; one that may not refuses it */
	ck_assert_int_eq(set("vm_memory_high_watermark.absolute", "none", err), 0);
	ck_assert_int_eq(cfg.mem_absolute, -1);
	ck_assert_int_eq(set("disk_free_limit.absolute", "none", err), -1);
	ck_assert_int_eq(set("frame_max", "none", err), -1);
}
END_TEST

START_TEST(defaults)
{
	ck_assert(cfg.mem_relative == -1);     /* neither set: alarm.c takes 0.4 */
	ck_assert_int_eq(cfg.mem_absolute, -1);
	ck_assert(cfg.paging_ratio == 0.5);
	ck_assert_int_eq(cfg.total_memory, -1);
	ck_assert(cfg.disk_relative == -1);
	ck_assert_int_eq(cfg.disk_absolute, 50000000);
}
END_TEST

START_TEST(ratios)
{
	char err[256];
	ck_assert_int_eq(set("vm_memory_high_watermark.relative", "0.4", err), 0);
	ck_assert(cfg.mem_relative == 0.4);
	ck_assert_int_eq(set("vm_memory_high_watermark.relative", "1", err), 0);
	ck_assert(cfg.mem_relative == 1.0);
	ck_assert_int_eq(set("vm_memory_high_watermark.relative", "0", err), 0);
	ck_assert(cfg.mem_relative == 0.0);
	ck_assert_int_eq(set("disk_free_limit.relative", "2.5", err), 0);
	ck_assert(cfg.disk_relative == 2.5);
	ck_assert_int_eq(set("vm_memory_high_watermark", "0.6", err), 0); /* legacy key */
	ck_assert(cfg.mem_relative == 0.6);
	static const char *const no[] = {"", ".", "-0.4", "0.4x", "1e-1", "0x1", "inf", "nan",
					 " 0.4", "0,4", "1..2"};
	for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
		ck_assert_msg(set("vm_memory_high_watermark.relative", no[i], err) == -1,
			      "'%s' taken", no[i]);
		ck_assert_msg(strstr(err, "is not a decimal number"), "%s", err);
	}
	ck_assert(cfg.mem_relative == 0.6);
	/* RabbitMQ's paging ratio must be below 1 */
	ck_assert_int_eq(set("vm_memory_high_watermark_paging_ratio", "0.9", err), 0);
	ck_assert_int_eq(set("vm_memory_high_watermark_paging_ratio", "1", err), -1);
	ck_assert_str_eq(err, "vm_memory_high_watermark_paging_ratio: 1 is out of range (0 to "
			      "below 1)");
	ck_assert_int_eq(set("vm_memory_high_watermark_paging_ratio", "none", err), -1);
}
END_TEST

static char path[64];

static void write_file(const char *text)
{
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

START_TEST(reload_from_defaults_whole_or_nothing)
{
	snprintf(path, sizeof path, "/tmp/check_config_%d.conf", (int)getpid());
	char err[512];
	write_file("vm_memory_high_watermark.relative = 0.2\nport = 5999\nbind = 127.0.0.9\n");
	ck_assert_int_eq(config_load(path, err, sizeof err), 0);
	ck_assert(cfg.mem_relative == 0.2);
	/* a key no longer in the file is back at its default */
	write_file("vm_memory_high_watermark.absolute = 1GB\n");
	struct config_override ov[] = {{"port", "6000"}};
	ck_assert_int_eq(config_reload(path, ov, 1, err, sizeof err), 0);
	ck_assert(cfg.mem_relative == -1);
	ck_assert_int_eq(cfg.mem_absolute, 1000000000);
	ck_assert_int_eq(cfg.port, 6000); /* the command line still wins */
	ck_assert_str_eq(cfg.bind, "127.0.0.1,::1");
	/* an error on line 3: nothing of lines 1 and 2 is applied */
	write_file("disk_free_limit.absolute = 2GB\nbind = 127.0.0.7\n"
		   "disk_free_limit.relative = lots\n");
	ck_assert_int_eq(config_reload(path, ov, 1, err, sizeof err), -1);
	char want[256];
	snprintf(want, sizeof want,
		 "%s:3: disk_free_limit.relative: 'lots' is not a decimal number (like 0.4)", path);
	ck_assert_str_eq(err, want);
	ck_assert_int_eq(cfg.disk_absolute, 50000000);
	ck_assert_int_eq(cfg.mem_absolute, 1000000000);
	ck_assert_str_eq(cfg.bind, "127.0.0.1,::1");
	unlink(path);
}
END_TEST

static Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *t = tcase_create("sizes");
	tcase_add_loop_test(t, size_units, 0, sizeof good / sizeof good[0]);
	tcase_add_loop_test(t, size_refused, 0, sizeof bad / sizeof bad[0]);
	suite_add_tcase(s, t);
	t = tcase_create("options");
	tcase_add_checked_fixture(t, setup, NULL);
	tcase_add_test(t, options_take_rabbitmq_units);
	tcase_add_test(t, defaults);
	tcase_add_test(t, ratios);
	tcase_add_test(t, reload_from_defaults_whole_or_nothing);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(config_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
