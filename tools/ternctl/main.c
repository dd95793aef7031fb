/* main.c — ternctl, the command-line client of Tern's management HTTP API
 * (the same paths as RabbitMQ 3.10's, so it drives RabbitMQ too): defaults
 * and environment, the global options, and the command table. Commands are
 * in cmd_*.c; exit statuses in ctl.h. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "tools/ternctl/ctl.h"

static const struct cmd *const commands[] = {
	&cmd_status,  &cmd_list,  &cmd_declare,  &cmd_delete,      &cmd_purge,
	&cmd_publish, &cmd_get,   &cmd_browse,   &cmd_move,        &cmd_export,
	&cmd_import,  &cmd_users, &cmd_add_user, &cmd_delete_user, &cmd_set_permissions,
	&cmd_cluster,
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void help(FILE *f)
{
	fputs("usage: ternctl [OPTIONS] COMMAND [ARGS]\n"
	      "Manages a Tern (or RabbitMQ) broker over its management HTTP API.\n\n"
	      "Commands:\n",
	      f);
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(f, "  %-16s %s\n", commands[i]->name, commands[i]->summary);
	fputs("\nOptions (before or after the command):\n"
	      "  --url URL          the management API (default " DEFAULT_URL "; env TERN_URL);\n"
	      "                     http://USER:PASSWORD@HOST:PORT also gives credentials\n"
	      "  -u, --user USER    (default guest; env TERN_USER)\n"
	      "  -p, --password PW  (default guest; env TERN_PASSWORD)\n"
	      "  -V, --vhost VHOST  the virtual host (default /)\n"
	      "  --json             print the broker's JSON answer instead of a table\n"
	      "  --timeout SECONDS  for connecting and for each answer (default 30)\n"
	      "  -h, --help         this text; ternctl COMMAND --help for one command\n"
	      "  --version\n\n"
	      "ternctl COMMAND --help (or ternctl help COMMAND) shows a command's arguments.\n"
	      "Exit status: 0 done; 1 the broker refused (its status and reason are printed);\n"
	      "2 usage error; 3 publish: not routed; 4 cannot reach the broker; 5 login refused.\n",
	      f);
}

static const char *env_or(const char *name, const char *dflt)
{
	const char *v = getenv(name);
	return v && *v ? v : dflt;
}

int main(int argc, char **argv)
{
	struct ctl c = {
		.url = env_or("TERN_URL", DEFAULT_URL),
		.user = env_or("TERN_USER", "guest"),
		.password = env_or("TERN_PASSWORD", "guest"),
		.vhost = "/",
		.timeout_s = 30,
	};
	int rc = CTL_EUSAGE, o;
	signal(SIGPIPE, SIG_IGN);

	/* The global options before the command ("+": stop at its name). */
	opterr = 0;
	while ((o = getopt_long(argc, argv, "+:" CTL_GLOBAL_SHORT, ctl_global_opts, NULL)) != -1) {
		if (o == 'h') {
			help(stdout);
			return CTL_OK;
		}
		if (o == '?' || o == ':') {
			const char *bad = argv[optind - 1];
			if (o == '?' && strncmp(bad, "--", 2) == 0)
				return ctl_usage(&c, "unknown option '%s'", bad);
			if (o == '?')
				return ctl_usage(&c, "unknown option '-%c'", optopt);
			return ctl_usage(&c, "option '%s' needs a value", bad);
		}
		int g = ctl_global(&c, o, optarg);
		if (g != 0)
			return g < 0 ? CTL_EUSAGE : CTL_OK;
	}
	if (optind >= argc) {
		help(stderr);
		return CTL_EUSAGE;
	}
	const char *name = argv[optind];
	if (strcmp(name, "help") == 0 && optind + 1 >= argc) {
		help(stdout);
		return CTL_OK;
	}
	bool help_for = strcmp(name, "help") == 0; /* "help CMD": CMD's --help */
	if (help_for)
		name = argv[++optind];
	for (size_t i = 0; i < NCOMMANDS; i++) {
		if (strcmp(commands[i]->name, name) == 0) {
			c.cmd = commands[i];
			if (help_for) {
				char *hv[] = {argv[optind], "--help", NULL};
				rc = c.cmd->run(&c, 2, hv);
			} else {
				rc = c.cmd->run(&c, argc - optind, argv + optind);
			}
			goto done;
		}
	}
	rc = ctl_usage(&c, "unknown command '%s'", name);
done:
	http_close(c.http);
	return rc;
}
