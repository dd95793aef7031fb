/* ctl.h — ternctl, the command-line client of the management HTTP API
 * (RabbitMQ 3.10's paths, plus Tern's /api/tern/ extensions): the options
 * every command shares, the commands, and the helpers they use (option
 * parsing in opts.c, API calls in api.c, tables in table.c). */
#ifndef TERNCTL_CTL_H
#define TERNCTL_CTL_H

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

#include <jansson.h>

#include "tools/ternctl/http.h"

#define TERNCTL_VERSION "0.1.0"
#define DEFAULT_URL "http://127.0.0.1:15672"
#define MGMT_HINT "is ternd running with the management listener on? see management.tcp.port"

/* Exit statuses; the values are part of the interface (scripts test them). */
enum {
	CTL_OK = 0,
	CTL_EBROKER = 1,      /* the broker answered with an error */
	CTL_EUSAGE = 2,       /* bad command line or input file */
	CTL_EUNROUTED = 3,    /* publish: no queue got the message */
	CTL_EUNREACHABLE = 4, /* no HTTP answer from the URL */
	CTL_EAUTH = 5,        /* 401: the credentials were refused */
};

struct ctl;

/* One command: a line for ternctl --help, its synopsis (lines without
 * "ternctl "; one starting with a blank continues the line before), a
 * paragraph of help with its options, and what runs it. run() gets argv
 * from the command's name on and returns an exit status. */
struct cmd {
	const char *name;
	const char *summary;
	const char *usage;
	const char *help;
	int (*run)(struct ctl *c, int argc, char **argv);
};

/* The run's settings (from defaults, environment and the global options)
 * and its connection. One per process, owned by main(). */
struct ctl {
	const char *url, *user, *password, *vhost;
	bool user_set, password_set; /* given with -u/-p (beat the URL's) */
	bool json;
	int timeout_s;
	int rc;                /* exit status when ctl_getopt() says CTL_OPT_EXIT */
	int status;            /* HTTP status of the last answer api() got */
	const struct cmd *cmd; /* whose usage errors print */
	struct http *http;     /* opened on the first API call */
};

extern const struct cmd cmd_status, cmd_list, cmd_users, cmd_declare, cmd_delete, cmd_purge,
	cmd_publish, cmd_get, cmd_browse, cmd_move, cmd_export, cmd_import, cmd_add_user,
	cmd_delete_user, cmd_set_permissions, cmd_cluster;

/* ---- opts.c: command lines ---- */

#define CTL_OPT_END (-1)
#define CTL_OPT_EXIT (-2)

/* Parses argv (argv[0] is the command) with getopt_long: the global options
 * and --help are handled here, the command's own (own: zero-terminated,
 * val a letter for a short option or >= 256 for a long-only one) come back
 * one at a time as their val with optarg set. Returns CTL_OPT_END when
 * options are done (positional arguments are argv[optind..argc-1]), or
 * CTL_OPT_EXIT after --help (c->rc 0) or a usage error (printed, c->rc 2). */
int ctl_getopt(struct ctl *c, int argc, char **argv, const struct option *own);

/* Prints "ternctl: <message>" and the current command's usage to stderr;
 * returns CTL_EUSAGE. */
int ctl_usage(struct ctl *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Applies one global option (a getopt val of the table in opts.c); 0, or
 * -1 after a usage message. */
int ctl_global(struct ctl *c, int opt, const char *arg);
extern const struct option ctl_global_opts[];
#define CTL_GLOBAL_SHORT "u:p:V:h"

/* Parses a count or offset: a decimal integer in [min, max]. 0, or a usage
 * message (naming opt) and -1. */
int ctl_number(struct ctl *c, const char *opt, const char *s, long min, long max, long *out);

/* A command-line value as JSON: integers become numbers, true and false
 * booleans, anything else a string. New reference; NULL when s is not UTF-8. */
json_t *ctl_typed(const char *s);

/* Adds "key=value" (value typed as above) to obj; 0, or -1 after a usage
 * message naming opt. */
int ctl_keyvalue(struct ctl *c, const char *opt, const char *arg, json_t *obj);

/* Reads all of path ("-": stdin) into *buf (malloc'd; *len bytes, not
 * NUL-terminated): 0, or -1 with errno (EFBIG past 256 MiB). */
int ctl_read_file(const char *path, char **buf, size_t *len);

/* ---- api.c: the management API ---- */

/* A request path: fmt's "%s" takes a string that is percent-encoded as one
 * path segment or query value (so "/" is %2F), "%r" a string copied as is,
 * "%l" a long. malloc'd. */
char *ctl_path(const char *fmt, ...);

/* Makes one request (body: NULL, or JSON sent compact) and checks the
 * answer. On 2xx returns CTL_OK with *out the parsed answer (NULL when the
 * body is empty; out may be NULL). Otherwise prints why and returns the
 * exit status: CTL_EBROKER with the status and the broker's reason (notfound
 * replaces RabbitMQ's bare "Not Found" on a 404, e.g. "no queue 'q' in vhost
 * '/'"), CTL_EAUTH, or CTL_EUNREACHABLE. */
int api(struct ctl *c, const char *method, const char *path, json_t *body, json_t **out,
	const char *notfound);

/* The same request, without judging the status: CTL_OK with r filled (the
 * caller frees it), or after the message CTL_EUNREACHABLE (or CTL_EUSAGE
 * for a URL that cannot be used). */
int api_raw(struct ctl *c, const char *method, const char *path, json_t *body,
	    struct http_reply *r);

/* Judges a non-2xx answer as api() does: prints it and returns the status. */
int api_fail(struct ctl *c, const struct http_reply *r, const char *notfound);

/* Prints j (pretty, keys in the broker's order) and a newline to f. */
void ctl_print_json(FILE *f, const json_t *j);

/* The value at a dotted path ("channel_details.name") in obj, or NULL. */
json_t *jpath(const json_t *obj, const char *path);

/* ---- base64 (OpenSSL's block codec) ---- */

/* Decodes s (padded base64): malloc'd bytes and *n, or NULL if malformed. */
unsigned char *ctl_unbase64(const char *s, size_t *n);
char *ctl_base64(const unsigned char *p, size_t n);

#endif
