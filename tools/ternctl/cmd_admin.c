/* cmd_admin.c — `ternctl export`, `import`, `add-user`, `delete-user` and
 * `set-permissions`: RabbitMQ's definitions (GET/POST /api/definitions, or
 * one vhost's at /api/definitions/{vhost}), users (/api/users/{name}) and
 * permissions (/api/permissions/{vhost}/{user}). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tools/ternctl/ctl.h"
#include "util/xalloc.h"

enum { OPT_VHOST_ONLY = 256, OPT_TAGS };

static const struct option defs_opts[] = {
	{"vhost-only", no_argument, NULL, OPT_VHOST_ONLY},
	{NULL, 0, NULL, 0},
};

/* Parses export/import's options and its one FILE argument: 0 to go on, or
 * -1 to exit with c->rc (--help, or a usage error already printed). */
static int defs_args(struct ctl *c, int argc, char **argv, bool *vhost_only, const char **file)
{
	int o;
	while ((o = ctl_getopt(c, argc, argv, defs_opts)) != CTL_OPT_END) {
		if (o == CTL_OPT_EXIT)
			return -1;
		if (o == OPT_VHOST_ONLY)
			*vhost_only = true;
	}
	if (argc - optind != 1) {
		c->rc = ctl_usage(c, "%s wants one FILE ('-' for %s)", argv[0],
				  strcmp(argv[0], "export") == 0 ? "stdout" : "stdin");
		return -1;
	}
	*file = argv[optind];
	return 0;
}

static char *defs_path(const struct ctl *c, bool vhost_only)
{
	return vhost_only ? ctl_path("/api/definitions/%s", c->vhost)
			  : ctl_path("/api/definitions");
}

/* Writes j to path through path.tmp and rename, so a failure leaves an
 * older file whole. 0, or -1 after the message. */
static int write_json(const char *path, const json_t *j)
{
	size_t n = strlen(path) + 8;
	char *tmp = xmalloc(n);
	snprintf(tmp, n, "%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	if (!f)
		goto fail;
	if (json_dumpf(j, f, JSON_INDENT(2)) < 0 || fputc('\n', f) == EOF) {
		fclose(f);
		goto fail;
	}
	if (fclose(f) != 0 || rename(tmp, path) != 0)
		goto fail;
	free(tmp);
	return 0;
fail:
	fprintf(stderr, "ternctl: cannot write %s: %s\n", path, strerror(errno));
	unlink(tmp);
	free(tmp);
	return -1;
}

static int run_export(struct ctl *c, int argc, char **argv)
{
	bool vhost_only = false;
	const char *file;
	if (defs_args(c, argc, argv, &vhost_only, &file) < 0)
		return c->rc;
	int rc;
	char *path = defs_path(c, vhost_only);
	char nf[512];
	snprintf(nf, sizeof nf, "no vhost '%s'", c->vhost);
	json_t *defs = NULL;
	rc = api(c, "GET", path, NULL, &defs, vhost_only ? nf : NULL);
	free(path);
	if (rc != CTL_OK)
		return rc;
	if (!json_is_object(defs)) {
		fprintf(stderr, "ternctl: the definitions are not a JSON object\n");
		rc = CTL_EBROKER;
	} else if (strcmp(file, "-") == 0) {
		ctl_print_json(stdout, defs);
	} else if (write_json(file, defs) < 0) {
		rc = CTL_EUSAGE;
	} else {
		printf("exported to %s:", file);
		static const char *const kinds[] = {"users",    "vhosts", "permissions",
						    "policies", "queues", "exchanges",
						    "bindings"};
		for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
			json_t *a = json_object_get(defs, kinds[i]);
			if (json_is_array(a))
				printf(" %zu %s", json_array_size(a), kinds[i]);
		}
		putchar('\n');
	}
	json_decref(defs);
	return rc;
}

static int run_import(struct ctl *c, int argc, char **argv)
{
	bool vhost_only = false;
	const char *file;
	char *text = NULL;
	size_t len;
	json_error_t e;
	if (defs_args(c, argc, argv, &vhost_only, &file) < 0)
		return c->rc;
	int rc;
	if (ctl_read_file(file, &text, &len) < 0) {
		fprintf(stderr, "ternctl: cannot read %s: %s\n", file, strerror(errno));
		return CTL_EUSAGE;
	}
	json_t *defs = json_loadb(text, len, 0, &e);
	free(text);
	if (!defs) {
		fprintf(stderr, "ternctl: %s:%d:%d: %s\n", file, e.line, e.column, e.text);
		return CTL_EUSAGE;
	}
	if (!json_is_object(defs)) {
		fprintf(stderr, "ternctl: %s: definitions are a JSON object\n", file);
		json_decref(defs);
		return CTL_EUSAGE;
	}
	char *path = defs_path(c, vhost_only);
	char nf[512];
	snprintf(nf, sizeof nf, "no vhost '%s'", c->vhost);
	rc = api(c, "POST", path, defs, NULL, vhost_only ? nf : NULL);
	free(path);
	json_decref(defs);
	if (rc == CTL_OK)
		printf("imported %s\n", file);
	return rc;
}

/* A password given as "-" is the first line of stdin. */
static char *password_arg(const char *arg)
{
	if (strcmp(arg, "-") != 0)
		return xstrdup(arg);
	char *line = NULL;
	size_t cap = 0;
	ssize_t n = getline(&line, &cap, stdin);
	if (n < 0) {
		free(line);
		return NULL;
	}
	line[strcspn(line, "\r\n")] = '\0';
	return line;
}

static int run_add_user(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{"tags", required_argument, NULL, OPT_TAGS},
		{NULL, 0, NULL, 0},
	};
	const char *tags = "";
	int o;
	while ((o = ctl_getopt(c, argc, argv, opts)) != CTL_OPT_END) {
		if (o == CTL_OPT_EXIT)
			return c->rc;
		if (o == OPT_TAGS)
			tags = optarg;
	}
	if (argc - optind != 2)
		return ctl_usage(c, "add-user wants a NAME and a PASSWORD ('-': read from stdin)");
	const char *name = argv[optind];
	char *pw = password_arg(argv[optind + 1]);
	if (!pw)
		return ctl_usage(c, "no password on stdin");
	json_t *body = json_pack("{s:s, s:s}", "password", pw, "tags", tags);
	free(pw);
	if (!body)
		return ctl_usage(c, "the password and tags must be UTF-8");
	char *path = ctl_path("/api/users/%s", name);
	int rc = api(c, "PUT", path, body, NULL, NULL);
	if (rc == CTL_OK)
		printf("%s user '%s'\n", c->status == 201 ? "added" : "updated", name);
	free(path);
	json_decref(body);
	return rc;
}

static int run_delete_user(struct ctl *c, int argc, char **argv)
{
	int o;
	while ((o = ctl_getopt(c, argc, argv, NULL)) != CTL_OPT_END)
		if (o == CTL_OPT_EXIT)
			return c->rc;
	if (argc - optind != 1)
		return ctl_usage(c, "delete-user wants one NAME");
	const char *name = argv[optind];
	char *path = ctl_path("/api/users/%s", name);
	char nf[512];
	snprintf(nf, sizeof nf, "no user '%s'", name);
	int rc = api(c, "DELETE", path, NULL, NULL, nf);
	if (rc == CTL_OK)
		printf("deleted user '%s'\n", name);
	free(path);
	return rc;
}

static int run_set_permissions(struct ctl *c, int argc, char **argv)
{
	int o;
	while ((o = ctl_getopt(c, argc, argv, NULL)) != CTL_OPT_END)
		if (o == CTL_OPT_EXIT)
			return c->rc;
	if (argc - optind != 4)
		return ctl_usage(c, "set-permissions wants USER and three patterns: CONFIGURE "
				    "WRITE READ (\"\" for none, \".*\" for all)");
	const char *user = argv[optind];
	json_t *body = json_pack("{s:s, s:s, s:s}", "configure", argv[optind + 1], "write",
				 argv[optind + 2], "read", argv[optind + 3]);
	if (!body)
		return ctl_usage(c, "the patterns must be UTF-8");
	char *path = ctl_path("/api/permissions/%s/%s", c->vhost, user);
	char nf[1024];
	snprintf(nf, sizeof nf, "no user '%s' or vhost '%s'", user, c->vhost);
	int rc = api(c, "PUT", path, body, NULL, nf);
	if (rc == CTL_OK)
		printf("set permissions of user '%s' in vhost '%s'\n", user, c->vhost);
	free(path);
	json_decref(body);
	return rc;
}

const struct cmd cmd_export = {
	.name = "export",
	.summary = "write the definitions (RabbitMQ JSON) to a file",
	.usage = "export FILE|- [--vhost-only]",
	.help = "Writes the broker's definitions (users, vhosts, permissions, policies,\n"
		"queues, exchanges, bindings, ...) as RabbitMQ's JSON to FILE, or stdout.\n\n"
		"  --vhost-only   only the definitions of the vhost of -V (without vhost\n"
		"                 names; import them with import --vhost-only)\n",
	.run = run_export,
};

const struct cmd cmd_import = {
	.name = "import",
	.summary = "load definitions from a file",
	.usage = "import FILE|- [--vhost-only]",
	.help = "Loads definitions (RabbitMQ's JSON, as export writes it) into the broker:\n"
		"what the file names is created or updated, nothing else is removed.\n\n"
		"  --vhost-only   the file holds one vhost's definitions: load them into\n"
		"                 the vhost of -V\n",
	.run = run_import,
};

const struct cmd cmd_add_user = {
	.name = "add-user",
	.summary = "create a user or set its password and tags",
	.usage = "add-user NAME PASSWORD [--tags TAG,TAG]",
	.help = "Creates user NAME (or sets its password and tags). PASSWORD '-' reads it\n"
		"from the first line of stdin, out of sight of ps. Tags: administrator,\n"
		"monitoring, policymaker, management, or your own.\n",
	.run = run_add_user,
};

const struct cmd cmd_delete_user = {
	.name = "delete-user",
	.summary = "delete a user",
	.usage = "delete-user NAME",
	.help = "Deletes user NAME and its permissions (its connections are closed).\n",
	.run = run_delete_user,
};

const struct cmd cmd_set_permissions = {
	.name = "set-permissions",
	.summary = "set a user's permissions in the vhost",
	.usage = "set-permissions USER CONFIGURE WRITE READ",
	.help = "Sets USER's permissions in the vhost of -V: three regular expressions over\n"
		"the names of queues and exchanges it may configure, write to and read\n"
		"from (\".*\" all, \"\" none).\n",
	.run = run_set_permissions,
};
