/* main.c — ternd's entry point: command line, config file, then the loop. */
#include <getopt.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "broker/core/config.h"
#include "broker/core/log.h"
#include "broker/net/server.h"
#include "plugins/plugins.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ternd [options]\n"
		"  --bind ADDRS       addresses to listen on, comma-separated "
		"(default 127.0.0.1,::1)\n"
		"  --port N           AMQP port (default 5672)\n"
		"  --data-dir DIR     where the database lives (default ./var)\n"
		"  --config FILE      read settings from FILE (see etc/tern.conf)\n"
		"  --log-level LEVEL  error, warning, info or debug (default info)\n"
		"  --management-port N  the management page and HTTP API (default 15672, 0: off)\n"
		"  --prometheus-port N  Prometheus metrics, no login (default 15692, 0: off)\n"
		"  --dry-run          print what load_definitions would change, then exit\n"
		"  --export-definitions FILE\n"
		"                     write the stored definitions (RabbitMQ's JSON) to FILE\n"
		"                     (- for stdout), then exit\n"
		"  --help             this text\n"
		"\nSettings of the config file (name = value; the command line wins):\n");
	config_print_help();
}

/* The config file and the command line's overrides, for SIGHUP: the file
 * is read again and the command line still wins. */
static const char *config_path;
static struct config_override overrides[16];
static int noverrides;

static int reload_config(char *err, size_t errlen)
{
	if (config_reload(config_path, overrides, noverrides, err, errlen) < 0)
		return -1;
	log_level = (int)cfg.log_level;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"bind", required_argument, NULL, 'b'},
		{"port", required_argument, NULL, 'p'},
		{"data-dir", required_argument, NULL, 'd'},
		{"config", required_argument, NULL, 'c'},
		{"log-level", required_argument, NULL, 'l'},
		{"dry-run", no_argument, NULL, 'n'},
		{"export-definitions", required_argument, NULL, 'e'},
		{"management-port", required_argument, NULL, 'm'},
		{"prometheus-port", required_argument, NULL, 'P'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	static const char *const names[] = {
		['b'] = "bind", ['p'] = "port", ['d'] = "data_dir", ['l'] = "log_level",
		['m'] = "management.tcp.port", ['P'] = "prometheus.tcp.port",
	};
	/* glibc raises its mmap threshold each time a big block is freed, up
	 * to 32 MiB: after one busy spell the queues' arrays grow inside the
	 * heap, whose holes are not given back (S7 after S3k: 16 MB more RSS).
	 * A fixed threshold keeps big arrays in mappings of their own. */
	mallopt(M_MMAP_THRESHOLD, 256 * 1024);
	config_defaults();
	/* The config file is read first so the command line overrides it. */
	bool dry_run = false;
	const char *export_path = NULL;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--config") && i + 1 < argc)
			config_path = argv[i + 1];
		else if (!strncmp(argv[i], "--config=", 9))
			config_path = argv[i] + 9;
	}
	char err[512];
	if (config_path && config_load(config_path, err, sizeof err) < 0) {
		fprintf(stderr, "ternd: %s\n", err);
		return 2;
	}
	int opt;
	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'h':
			usage(stdout);
			return 0;
		case 'c':
			break;
		case 'n':
			dry_run = true;
			break;
		case 'e':
			export_path = optarg;
			break;
		case 'b': case 'p': case 'd': case 'l': case 'm': case 'P':
			if (config_set(names[opt], optarg, err, sizeof err) < 0) {
				fprintf(stderr, "ternd: --%s\n", err);
				return 2;
			}
			overrides[noverrides].name = names[opt];
			overrides[noverrides++].value = optarg;
			break;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "ternd: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	log_level = (int)cfg.log_level;
	unsigned seed;
	if (getrandom(&seed, sizeof seed, 0) != sizeof seed)
		seed = (unsigned)getpid();
	srandom(seed); /* server-named queues must differ across restarts */
	/* Plugins register their exchange types before recovery needs them. */
	struct server_opts so = {.dry_run = dry_run, .export_path = export_path,
				 .reload_config = config_path ? reload_config : NULL,
				 .argv = argv};
	if (plugins_init() < 0)
		return 1;
	int rc = server_init(&so);
	if (rc < 0)
		return rc == -2 ? 2 : 1;
	if (dry_run || export_path) {
		server_free();
		return 0;
	}
	if (plugins_start() < 0)
		return 1;
	log_info("Tern ready");
	server_run();
	plugins_stop();
	server_free();
	log_info("stopped");
	return 0;
}
