/* opts.c — ternctl's command lines: the global options (accepted before
 * the command and among its arguments), each command's own options through
 * one getopt_long loop, usage messages, and typed key=value arguments. */
#include <errno.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "tools/ternctl/ctl.h"
#include "util/xalloc.h"

#define MAX_FILE (256u << 20) /* what ctl_read_file() reads at most */

enum { OPT_URL = 1000, OPT_JSON, OPT_TIMEOUT, OPT_VERSION };

const struct option ctl_global_opts[] = {
	{"url", required_argument, NULL, OPT_URL},
	{"user", required_argument, NULL, 'u'},
	{"password", required_argument, NULL, 'p'},
	{"vhost", required_argument, NULL, 'V'},
	{"json", no_argument, NULL, OPT_JSON},
	{"timeout", required_argument, NULL, OPT_TIMEOUT},
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, OPT_VERSION},
	{NULL, 0, NULL, 0},
};

#define MAX_OPTS 48

static void print_usage(FILE *f, const struct cmd *cmd)
{
	const char *u = cmd->usage;
	bool first = true;
	while (*u) {
		const char *nl = strchr(u, '\n');
		int n = nl ? (int)(nl - u) : (int)strlen(u);
		if (*u == ' ')
			fprintf(f, "       %.*s\n", n, u);
		else
			fprintf(f, "%s ternctl %.*s\n", first ? "usage:" : "      ", n, u);
		first = false;
		u += n + (nl ? 1 : 0);
	}
}

int ctl_usage(struct ctl *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("ternctl: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	if (c->cmd) {
		print_usage(stderr, c->cmd);
		fprintf(stderr, "(ternctl %s --help says more)\n", c->cmd->name);
	} else {
		fputs("(ternctl --help lists the commands)\n", stderr);
	}
	return CTL_EUSAGE;
}

int ctl_number(struct ctl *c, const char *opt, const char *s, long min, long max, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max) {
		ctl_usage(c, "%s wants a whole number from %ld to %ld, not '%s'", opt, min, max, s);
		return -1;
	}
	*out = v;
	return 0;
}

int ctl_global(struct ctl *c, int opt, const char *arg)
{
	long t;
	switch (opt) {
	case OPT_URL: c->url = arg; break;
	case 'u':
		c->user = arg;
		c->user_set = true;
		break;
	case 'p':
		c->password = arg;
		c->password_set = true;
		break;
	case 'V':
		if (!*arg) {
			ctl_usage(c, "--vhost wants a name (the default vhost is /)");
			return -1;
		}
		c->vhost = arg;
		break;
	case OPT_JSON: c->json = true; break;
	case OPT_TIMEOUT:
		if (ctl_number(c, "--timeout", arg, 1, 3600, &t) < 0)
			return -1;
		c->timeout_s = (int)t;
		break;
	case OPT_VERSION: printf("ternctl %s\n", TERNCTL_VERSION); return 1;
	}
	return 0;
}

/* The merged option table and short-option string for one command. */
static struct option merged[MAX_OPTS];
static char shorts[2 * MAX_OPTS + 2];
static bool merged_active; /* a ctl_getopt() loop is running */

static void merge(const struct option *own)
{
	int n = 0;
	char *s = shorts;
	*s++ = ':'; /* a missing value comes back as ':' */
	for (const struct option *o = ctl_global_opts; o->name && n < MAX_OPTS - 1; o++)
		merged[n++] = *o;
	strcpy(s, CTL_GLOBAL_SHORT);
	s += strlen(CTL_GLOBAL_SHORT);
	for (const struct option *o = own; o && o->name && n < MAX_OPTS - 1; o++) {
		merged[n++] = *o;
		if (o->val > 0 && o->val < 128) {
			*s++ = (char)o->val;
			if (o->has_arg == required_argument)
				*s++ = ':';
		}
	}
	memset(&merged[n], 0, sizeof merged[n]);
	*s = '\0';
	merged_active = true;
	optind = 0; /* glibc: start over, permuting again */
	opterr = 0;
}

int ctl_getopt(struct ctl *c, int argc, char **argv, const struct option *own)
{
	if (!merged_active)
		merge(own);
	for (;;) {
		int o = getopt_long(argc, argv, shorts, merged, NULL);
		if (o == -1) {
			merged_active = false;
			return CTL_OPT_END;
		}
		if (o == '?' || o == ':') {
			const char *bad = optind > 0 && optind <= argc ? argv[optind - 1] : "";
			bool lng = strncmp(bad, "--", 2) == 0;
			int bl = (int)strcspn(bad, "=");
			if (lng && o == '?')
				ctl_usage(c, "unknown option '%.*s'", bl, bad);
			else if (lng)
				ctl_usage(c, "option '%.*s' needs a value", bl, bad);
			else if (o == '?')
				ctl_usage(c, "unknown option '-%c'", optopt);
			else
				ctl_usage(c, "option '-%c' needs a value", optopt);
			c->rc = CTL_EUSAGE;
			merged_active = false;
			return CTL_OPT_EXIT;
		}
		if (o == 'h') {
			print_usage(stdout, c->cmd);
			printf("\n%s", c->cmd->help);
			c->rc = CTL_OK;
			merged_active = false;
			return CTL_OPT_EXIT;
		}
		bool global = false;
		for (const struct option *g = ctl_global_opts; g->name; g++)
			global |= g->val == o;
		if (!global)
			return o;
		int r = ctl_global(c, o, optarg);
		if (r != 0) {
			c->rc = r < 0 ? CTL_EUSAGE : CTL_OK;
			merged_active = false;
			return CTL_OPT_EXIT;
		}
	}
}

json_t *ctl_typed(const char *s)
{
	if (strcmp(s, "true") == 0)
		return json_true();
	if (strcmp(s, "false") == 0)
		return json_false();
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	bool digits = isdigit((unsigned char)s[0]) || (s[0] == '-' && isdigit((unsigned char)s[1]));
	if (digits && !errno && !*end)
		return json_integer(v);
	return json_string(s); /* NULL when not UTF-8 */
}

int ctl_keyvalue(struct ctl *c, const char *opt, const char *arg, json_t *obj)
{
	const char *eq = strchr(arg, '=');
	if (!eq || eq == arg) {
		ctl_usage(c, "%s wants KEY=VALUE, not '%s'", opt, arg);
		return -1;
	}
	char key[256];
	size_t n = (size_t)(eq - arg);
	if (n >= sizeof key) {
		ctl_usage(c, "%s: key longer than %zu bytes", opt, sizeof key - 1);
		return -1;
	}
	memcpy(key, arg, n);
	key[n] = '\0';
	json_t *v = ctl_typed(eq + 1);
	if (!v) {
		ctl_usage(c, "%s: the value of '%s' is not UTF-8", opt, key);
		return -1;
	}
	json_object_set_new(obj, key, v);
	return 0;
}

int ctl_read_file(const char *path, char **buf, size_t *len)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	if (!f)
		return -1;
	size_t cap = 1 << 16, n = 0;
	char *p = xmalloc(cap);
	for (;;) {
		if (n == cap) {
			if (cap >= MAX_FILE) {
				errno = EFBIG;
				goto fail;
			}
			cap *= 2;
			p = xrealloc(p, cap);
		}
		size_t got = fread(p + n, 1, cap - n, f);
		n += got;
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		errno = EIO;
		goto fail;
	}
	if (f != stdin)
		fclose(f);
	*buf = p;
	*len = n;
	return 0;
fail:;
	int e = errno ? errno : EIO;
	free(p);
	if (f != stdin)
		fclose(f);
	errno = e;
	return -1;
}
